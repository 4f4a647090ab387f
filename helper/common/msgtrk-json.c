/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-json.c: defensive accessors for msgtrkd's JSON (see msgtrk-json.h). */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "msgtrk-json.h"
#include "msgtrk-private.h"
#include "msgtrk-states.h"

/**
 * msgtrk_json_get_string:
 * @obj: (nullable): an object
 * @name: a member name
 *
 * Returns: (transfer none) (nullable): the string member @name of @obj, or %NULL when
 *   @obj is %NULL or the member is absent, null or not a string
 */
const char *
msgtrk_json_get_string (JsonObject *obj,
                        const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/**
 * msgtrk_json_get_array:
 * @obj: (nullable): an object
 * @name: a member name
 *
 * Returns: (transfer none) (nullable): the array member @name of @obj, or %NULL
 */
JsonArray *
msgtrk_json_get_array (JsonObject *obj,
                       const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

/**
 * msgtrk_json_get_int:
 * @obj: (nullable): an object
 * @name: a member name
 * @value: (out): where to store the integer
 *
 * Returns: whether @obj has an integer member @name (a string "5" is not one)
 */
gboolean
msgtrk_json_get_int (JsonObject *obj,
                     const char *name,
                     gint64     *value)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

/**
 * msgtrk_json_array_get_object:
 * @array: (nullable): an array
 * @index: an index
 *
 * Returns: (transfer none) (nullable): element @index of @array if it is an object, else
 *   %NULL (also past the end)
 */
JsonObject *
msgtrk_json_array_get_object (JsonArray *array,
                              guint      index)
{
  JsonNode *node;

  if (array == NULL || index >= json_array_get_length (array))
    return NULL;
  node = json_array_get_element (array, index);
  return JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/**
 * msgtrk_json_get_boolean:
 * @obj: (nullable): an object
 * @name: a member name
 *
 * Returns: whether @obj has a boolean member @name that is true
 */
gboolean
msgtrk_json_get_boolean (JsonObject *obj,
                         const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_VALUE (node)
         && json_node_get_value_type (node) == G_TYPE_BOOLEAN && json_node_get_boolean (node);
}

/**
 * msgtrk_json_clean_text:
 * @text: (nullable): text from msgtrkd or from a remote server
 *
 * @text for a terminal or a label: each character that must not show as such
 * (msgtrk_unichar_is_unsafe: controls, direction overrides and marks) as "?", and each
 * octet that is not UTF-8 as "?", so that remote text can neither drive a terminal nor
 * show as other text ("\u202Eelpmaxe.knab" reads "bank.example"). The one cleaner of
 * the CLI and the viewer.
 *
 * Returns: (transfer full) (nullable): the cleaned copy; NULL for NULL
 */
char *
msgtrk_json_clean_text (const char *text)
{
  GString *out;
  const char *p = text;

  if (text == NULL)
    return NULL;
  out = g_string_sized_new (strlen (text));
  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_c (out, '?');
          p++;
          continue;
        }
      if (msgtrk_unichar_is_unsafe (c))
        g_string_append_c (out, '?');
      else
        g_string_append_unichar (out, c);
      p = g_utf8_next_char (p);
    }
  return g_string_free (out, FALSE);
}

/**
 * msgtrk_json_hop_sources_text:
 * @hop: (nullable): a hop of the route JSON
 *
 * Where a hop's evidence came from, in words: each of its "sources" (a merged hop,
 * docs/route-merge.md) joined by " + " ("tracking server + delivery report"), else its
 * "source"; an unknown or missing source reads as "other".
 *
 * Returns: (transfer full): the text
 */
char *
msgtrk_json_hop_sources_text (JsonObject *hop)
{
  JsonArray *sources = msgtrk_json_get_array (hop, "sources");
  GString *text = g_string_new (NULL);

  for (guint i = 0; sources != NULL && i < json_array_get_length (sources); i++)
    {
      JsonNode *node = json_array_get_element (sources, i);

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        continue;
      if (text->len > 0)
        g_string_append (text, " + ");
      g_string_append (text, msgtrk_states_source_label (json_node_get_string (node)));
    }
  if (text->len == 0)
    g_string_append (text, msgtrk_states_source_label (msgtrk_json_get_string (hop, "source")));
  return g_string_free (text, FALSE);
}

/**
 * msgtrk_json_hop_conflict:
 * @hop: (nullable): a hop of the route JSON
 *
 * The pieces of evidence to show when a merged hop's sources disagree ("conflict" true):
 * those of its "evidence" that say an action, in their (time) order.
 *
 * Returns: (transfer container) (element-type JsonObject): the pieces; empty when the
 *   hop has no conflict
 */
GPtrArray *
msgtrk_json_hop_conflict (JsonObject *hop)
{
  GPtrArray *out = g_ptr_array_new ();
  JsonArray *evidence = msgtrk_json_get_array (hop, "evidence");

  if (!msgtrk_json_get_boolean (hop, "conflict"))
    return out;
  for (guint i = 0; evidence != NULL && i < json_array_get_length (evidence); i++)
    {
      JsonObject *piece = msgtrk_json_array_get_object (evidence, i);

      if (msgtrk_json_get_string (piece, "action") != NULL)
        g_ptr_array_add (out, piece);
    }
  return out;
}

/**
 * msgtrk_json_hop_conflict_lines:
 * @hop: (nullable): a hop of the route JSON
 * @format_time: (nullable) (scope call): turns a piece's ISO 8601 time into what the
 *   caller shows (local time), or %NULL to show the daemon's text as is
 * @clean_remote: (nullable) (scope call): makes a piece's "remote_mta" (remote text) safe
 *   for the caller's output (the CLI escapes control characters for a terminal), or %NULL
 *   for plain text (a GTK label, never markup)
 *
 * What a merged hop's disagreeing evidence says (msgtrk_json_hop_conflict()), one line per
 * piece in time order: where it came from, when (its "last_attempt", else its "arrival")
 * and its action in words: "delivery report, TIME: Delivered to the recipient’s mailbox".
 * The caller shows each line under its own row label ("reported:" in the CLI, "Reported"
 * in the viewer).
 *
 * Returns: (transfer full) (element-type utf8): the lines; empty when the hop has no
 *   conflict
 */
GPtrArray *
msgtrk_json_hop_conflict_lines (JsonObject        *hop,
                                MsgtrkJsonTextFunc format_time,
                                MsgtrkJsonTextFunc clean_remote)
{
  g_autoptr (GPtrArray) pieces = msgtrk_json_hop_conflict (hop);
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < pieces->len; i++)
    {
      JsonObject *piece = g_ptr_array_index (pieces, i);
      const char *at = msgtrk_json_get_string (piece, "last_attempt");
      const char *label = msgtrk_states_source_label (msgtrk_json_get_string (piece, "source"));
      const char *remote_text = msgtrk_json_get_string (piece, "remote_mta");
      g_autofree char *when = NULL;
      g_autofree char *remote = NULL;
      g_autofree char *words = NULL;

      if (at == NULL)
        at = msgtrk_json_get_string (piece, "arrival");
      when = format_time != NULL ? format_time (at) : g_strdup (at);
      remote = clean_remote != NULL ? clean_remote (remote_text) : g_strdup (remote_text);
      words = msgtrk_states_describe_action (msgtrk_json_get_string (piece, "action"), remote);
      g_ptr_array_add (lines,
                       when != NULL
                         /* TRANSLATORS: one of several reports about the same server that
                          * disagree: where it came from ("delivery report"), when, and what
                          * it said. */
                         ? g_strdup_printf (_("%s, %s: %s"), label, when, words)
                         /* TRANSLATORS: the same without a time. */
                         : g_strdup_printf (_("%s: %s"), label, words));
    }
  return lines;
}

/**
 * msgtrk_json_local_time:
 * @iso: (nullable): a time from msgtrkd's JSON (ISO 8601)
 * @format: how to write it (g_date_time_format())
 * @clean_remote: (nullable) (scope call): makes a text that is no ISO 8601 time safe for
 *   the caller's output (as for msgtrk_json_hop_conflict_lines()), or %NULL to copy it
 *
 * The one reading of msgtrkd's times for the CLI and the viewer: in local time.
 *
 * Returns: (transfer full) (nullable): @iso in local time by @format, or @iso itself when
 *   it does not parse; %NULL for %NULL
 */
char *
msgtrk_json_local_time (const char        *iso,
                        const char        *format,
                        MsgtrkJsonTextFunc clean_remote)
{
  g_autoptr (GDateTime) utc = NULL;
  g_autoptr (GDateTime) local = NULL;

  if (iso == NULL)
    return NULL;
  utc = g_date_time_new_from_iso8601 (iso, NULL);
  if (utc == NULL)
    return clean_remote != NULL ? clean_remote (iso) : g_strdup (iso);
  local = g_date_time_to_local (utc);
  return g_date_time_format (local, format);
}
