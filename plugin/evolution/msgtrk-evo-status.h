/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-status.h: the Tracking column's values, kept from msgtrkd.
 *
 * What: for every message list that shows a Sent or Outbox folder, the tracked messages'
 * state words (msgtrk-evo-column.h) are set as the user header MSGTRK_EVO_STATUS_HEADER of
 * their CamelMessageInfo, and the folder is told (camel_folder_changed) so that the column
 * is redrawn. Only while the user's Tracking column entry is in EDS's user-header list.
 * How: see msgtrk-evo-status.c.
 * Limits: MSGTRK_EVO_STATUS_PAGES_MAX pages of MSGTRK_EVO_STATUS_PAGE_SIZE tracked messages.
 * Never: one D-Bus call per row; a synchronous D-Bus call; a change to the message files.
 */
#pragma once

#include <camel/camel.h>
#include <libedataserver/libedataserver.h>

G_BEGIN_DECLS

/* Entries asked per ListStatus page: msgtrkd's own page size (MSGTRKD_STATUS_PAGE_MAX). */
#define MSGTRK_EVO_STATUS_PAGE_SIZE 10000u
/* Most pages read for one index (a million tracked messages); past it, the first ones. */
#define MSGTRK_EVO_STATUS_PAGES_MAX 100u
/* Changes made within this delay reach the message list as one camel_folder_changed (ms). */
#define MSGTRK_EVO_STATUS_FLUSH_MS 100
/* StatusChanged that name no Message-ID (an older msgtrkd) are gathered this long before
 * msgtrkd's list is read again (ms). */
#define MSGTRK_EVO_STATUS_RELIST_MS 500

/* OWNER (a message list) opens FOLDER (NULL: none): msgtrkd's states are read again
 * (ListStatus); the folder is walked once the list is built (msgtrk_evo_status_show). */
void msgtrk_evo_status_open (gpointer         owner,
                             CamelFolder     *folder,
                             ESourceRegistry *registry);
/* OWNER's list of FOLDER is built (or rebuilt: the values are lost with a rebuilt summary):
 * the folder is walked and the states known set. ASK: msgtrkd's states are read again too
 * (the column was just switched on). */
void msgtrk_evo_status_show (gpointer         owner,
                             CamelFolder     *folder,
                             ESourceRegistry *registry,
                             gboolean         ask);
void msgtrk_evo_status_forget_owner (gpointer owner);

/* The column was switched on or off: every shown folder is looked at again. */
void msgtrk_evo_status_column_changed (void);

/* Evolution rewrites a message's user headers from the message itself when the reader
 * loads it (camel_util_fill_message_info_user_headers): ours, in no message, goes. Called
 * after "message-loaded", this sets it again for FOLDER's UID a moment later. */
void        msgtrk_evo_status_reapply     (CamelFolder *folder,
                                           const char  *uid);

/* The index of tracked messages is read (once; kept current by StatusChanged), also when
 * the column is off: the reader's actions need it. */
void        msgtrk_evo_status_start       (void);
/* The Message-ID (without <>) of the tracked message whose summary hash is HASH
 * (camel_message_info_get_message_id), or NULL: not tracked, or not known yet. */
const char *msgtrk_evo_status_message_id  (guint64 hash);

/* An asynchronous call of org.msgtrk.Tracker1.METHOD (PARAMETERS floating or NULL). */
void        msgtrk_evo_status_call        (const char          *method,
                                           GVariant            *parameters,
                                           const GVariantType  *reply_type,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
GVariant   *msgtrk_evo_status_call_finish (GAsyncResult        *result,
                                           GError             **error);

G_END_DECLS
