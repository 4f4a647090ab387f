/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-column.c: the Tracking column's user-header entry (see msgtrk-evo-column.h).
 *
 * What/Limits/Never: see msgtrk-evo-column.h.
 * How: an entry "Title|Header" is ours when Header (trimmed) is MSGTRK_EVO_STATUS_HEADER;
 * "used" entries are the first MSGTRK_EVO_USER_HEADERS_MAX non-empty ones, as Camel reads
 * them. The labels come from msgtrk-states.c, compiled into the module (no GType in it, and
 * the module exports nothing but its entry points, so no symbol meets the helper's).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-evo-column.h"
#include "msgtrk-states.h"

G_DEFINE_QUARK (msgtrk-evo-column-error-quark, msgtrk_evo_column_error)

static gboolean
entry_is_ours (const char *entry)
{
  const char *bar = strchr (entry, '|');
  g_autofree char *header = g_strstrip (g_strdup (bar ? bar + 1 : entry));

  return g_ascii_strcasecmp (header, MSGTRK_EVO_STATUS_HEADER) == 0;
}

static gboolean
entry_is_empty (const char *entry)
{
  g_autofree char *copy = g_strstrip (g_strdup (entry));

  return *copy == '\0';
}

int
msgtrk_evo_column_index (const char * const *entries)
{
  int used = 0;

  for (gsize i = 0; entries && entries[i] && used < MSGTRK_EVO_USER_HEADERS_MAX; i++)
    {
      if (entry_is_empty (entries[i]))
        continue;
      if (entry_is_ours (entries[i]))
        return used;
      used++;
    }
  return -1;
}

char **
msgtrk_evo_column_add (const char * const *entries, const char *title, GError **error)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *ours = NULL;
  int used = 0;

  if (msgtrk_evo_column_index (entries) >= 0)
    return g_strdupv ((char **) entries);
  for (gsize i = 0; entries && entries[i]; i++)
    {
      /* An unused entry of ours (beyond the limit) goes; ours is appended below. */
      if (entry_is_ours (entries[i]))
        continue;
      if (!entry_is_empty (entries[i]))
        used++;
      g_strv_builder_add (builder, entries[i]);
    }
  if (used >= MSGTRK_EVO_USER_HEADERS_MAX)
    {
      g_set_error (error, MSGTRK_EVO_COLUMN_ERROR, MSGTRK_EVO_COLUMN_ERROR_NO_ROOM,
                   "Evolution shows at most %d extra header columns and %d are used by "
                   "other settings",
                   MSGTRK_EVO_USER_HEADERS_MAX, used);
      return NULL;
    }
  ours = g_strconcat (title, "|", MSGTRK_EVO_STATUS_HEADER, NULL);
  g_strv_builder_add (builder, ours);
  return g_strv_builder_end (builder);
}

char **
msgtrk_evo_column_remove (const char * const *entries)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (gsize i = 0; entries && entries[i]; i++)
    if (!entry_is_ours (entries[i]))
      g_strv_builder_add (builder, entries[i]);
  return g_strv_builder_end (builder);
}

const char *
msgtrk_evo_column_label (const char *state)
{
  return msgtrk_states_label (state);
}
