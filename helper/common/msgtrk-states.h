/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-states.h: what the helper's clients (CLI, viewer) say about states, actions and
 * sources, in words: one table for all of them.
 *
 * What: the message and recipient state identifiers of docs/dbus-api.md ("delivered",
 * "in-transit", … "sending", "untracked", "aborted") with their translated label, symbol
 * and colours; the state a hop's action stands for; a hop's action said in the user's
 * language ("Handed to relay.example.net", not "transferred"); where evidence came from
 * ("delivery report", not "dsn").
 * How: static tables; labels are N_() and translated when asked for (domain "msgtrk").
 * Limits: an identifier or action this table does not know is "unknown" (a newer daemon).
 * Never: returns remote text as part of a label without the caller seeing it (the only
 * remote text is the host name passed in by the caller, for it to clean).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const char *id;     /* stable identifier (JSON, D-Bus) */
  const char *label;  /* N_(): "Delivered"; use msgtrk_states_label() for the translation */
  const char *symbol; /* one character that says the state without colour, or "" */
  const char *color;  /* "#rrggbb", a mid-tone readable on light and dark backgrounds */
  const char *ansi;   /* terminal SGR sequence of the state's colour */
} MsgtrkStateInfo;

const MsgtrkStateInfo *msgtrk_states_lookup          (const char *id);
gboolean               msgtrk_states_is_known        (const char *id);
const char            *msgtrk_states_label           (const char *id);
const char            *msgtrk_states_from_action     (const char *action);
char                  *msgtrk_states_describe_action (const char *action,
                                                      const char *remote_mta);
const char            *msgtrk_states_source_label    (const char *source);
char                  *msgtrk_states_describe_tracking (const char *tracking,
                                                        const char *host);
const char            *msgtrk_states_describe_sent_unknown (const char *tracking);

G_END_DECLS
