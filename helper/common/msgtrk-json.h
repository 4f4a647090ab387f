/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-json.h: reading msgtrkd's JSON (docs/dbus-api.md) defensively, for its clients.
 *
 * What: member accessors that treat every member as optional and of possibly the wrong
 * type (a newer or broken msgtrkd): absent, null and wrong-typed all read as "not there".
 * Used by the CLI and the viewer (one copy instead of four). Also what both say about a
 * merged hop (docs/route-merge.md): its sources in words, the pieces that disagree and
 * what each of them says (one translated line per piece, the one copy of those strings),
 * and its times in local time (msgtrk_json_local_time()).
 * Limits: none of their own; the JSON is already parsed.
 * Never: aborts or warns on unexpected JSON (json-glib's own getters do).
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Turns one text into the caller's form (a time into local time, remote text cleaned for
 * a terminal); NULL in, NULL or a string out; the result is freed with g_free(). */
typedef char *(*MsgtrkJsonTextFunc) (const char *text);

const char *msgtrk_json_get_string       (JsonObject *obj,
                                          const char *name);
JsonArray  *msgtrk_json_get_array        (JsonObject *obj,
                                          const char *name);
gboolean    msgtrk_json_get_int          (JsonObject *obj,
                                          const char *name,
                                          gint64     *value);
JsonObject *msgtrk_json_array_get_object (JsonArray  *array,
                                          guint       index);
gboolean    msgtrk_json_get_boolean      (JsonObject *obj,
                                          const char *name);

char       *msgtrk_json_clean_text       (const char *text);
char       *msgtrk_json_hop_sources_text (JsonObject *hop);
GPtrArray  *msgtrk_json_hop_conflict     (JsonObject *hop);
GPtrArray  *msgtrk_json_hop_conflict_lines (JsonObject        *hop,
                                            MsgtrkJsonTextFunc format_time,
                                            MsgtrkJsonTextFunc clean_remote);
char       *msgtrk_json_local_time       (const char        *iso,
                                          const char        *format,
                                          MsgtrkJsonTextFunc clean_remote);

G_END_DECLS
