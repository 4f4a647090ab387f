/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-scan.h: which rows of a folder are tracked messages (Camel only).
 *
 * What: the walk the Tracking column makes when a folder is shown: every info of the
 * folder, its Message-ID hash (all Camel keeps of the Message-ID in a summary) looked up
 * in the index of tracked messages; FOUND is called for each row that is one. Also the
 * hash, computed as Camel computes it.
 * How: camel_folder_get_uids() and camel_folder_get_message_info() (memory, or the
 * summary database when the infos are not loaded yet), one hash-table lookup per row.
 * Limits: on the caller's thread (the module's: the main thread; one pass per folder
 * open, measured by bench/bench-evolution-column).
 * Never: read a message file; call D-Bus.
 */
#pragma once

#include <camel/camel.h>

G_BEGIN_DECLS

/* UID (a Camel pooled string, valid during the call) of FOLDER is the tracked message
 * VALUE (the index's value for its hash). */
typedef void (*MsgtrkEvoScanFound) (const char *uid,
                                    guint64     hash,
                                    gpointer    value,
                                    gpointer    user_data);

/* BY_HASH: guint64* → value (g_int64_hash). */
void    msgtrk_evo_scan_folder          (CamelFolder        *folder,
                                         GHashTable         *by_hash,
                                         MsgtrkEvoScanFound  found,
                                         gpointer            user_data);
/* Camel's summary hash of MESSAGE_ID (without <>). */
guint64 msgtrk_evo_scan_hash_message_id (const char         *message_id);

G_END_DECLS
