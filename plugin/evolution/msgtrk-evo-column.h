/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-column.h: the Tracking column's entry in EDS's user-header list, and its words.
 *
 * What: EDS's GSettings key camel-message-info-user-headers (schema
 * org.gnome.evolution-data-server) names up to MSGTRK_EVO_USER_HEADERS_MAX headers, as
 * "Title|Header" or "Header", that Camel keeps in folder summaries and Evolution shows as
 * the columns COL_USER_HEADER_1..3. Ours is MSGTRK_EVO_STATUS_HEADER. These functions add
 * and remove our entry in a copy of the list; the caller writes it only when the user asked
 * for the column (consent: the key is global to every EDS client).
 * How: plain string vectors, no GSettings here (unit-tested without EDS).
 * Limits: an entry is ours when its header part is MSGTRK_EVO_STATUS_HEADER
 * (case-insensitive), whatever its title; the key's first MSGTRK_EVO_USER_HEADERS_MAX
 * non-empty entries are the ones Camel uses.
 * Never: drop, reorder or rewrite another program's entry; add ours when there is no room.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MSGTRK_EVO_EDS_SCHEMA "org.gnome.evolution-data-server"
#define MSGTRK_EVO_USER_HEADERS_KEY "camel-message-info-user-headers"
/* Camel's own limit (CAMEL_UTILS_MAX_USER_HEADERS in 3.46, not installed). */
#define MSGTRK_EVO_USER_HEADERS_MAX 3
/* The header whose value the column shows; set only in folder summaries, never sent. */
#define MSGTRK_EVO_STATUS_HEADER "X-Msgtrk-Status"

#define MSGTRK_EVO_COLUMN_ERROR (msgtrk_evo_column_error_quark ())

typedef enum
{
  MSGTRK_EVO_COLUMN_ERROR_NO_ROOM, /* MSGTRK_EVO_USER_HEADERS_MAX entries of others */
} MsgtrkEvoColumnError;

GQuark msgtrk_evo_column_error_quark (void);

/* Index of our entry among the used entries (0 … MAX-1), or -1 when it is absent or beyond
 * what Camel uses. */
int msgtrk_evo_column_index (const char * const *entries);

/* A copy of ENTRIES with ours ("TITLE|X-Msgtrk-Status") appended; ENTRIES unchanged (copied)
 * when ours is already used; NULL and MSGTRK_EVO_COLUMN_ERROR_NO_ROOM when the used
 * entries are all others'. Empty entries are left as they are. */
char **msgtrk_evo_column_add (const char * const *entries, const char *title, GError **error);

/* A copy of ENTRIES without any entry of ours; the others in their order. */
char **msgtrk_evo_column_remove (const char * const *entries);

/* What the column shows for a message's overall STATE (docs/dbus-api.md identifiers): the
 * words of helper/common/msgtrk-states.c, translated. */
const char *msgtrk_evo_column_label (const char *state);

G_END_DECLS
