/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-status.c: the Tracking column's values (see msgtrk-evo-status.h).
 *
 * What: a process-wide index Message-ID hash → (envid, state) of the messages msgtrkd
 * tracks, the folders shown by message lists, and the D-Bus plumbing that keeps both current.
 * How: Camel's summaries keep only a 64-bit hash of each Message-ID
 * (camel_message_info_get_message_id), never the text, so msgtrkd's ListStatus (Message-ID,
 * ENVID, state, summary of every message it tracks, MSGTRK_EVO_STATUS_PAGE_SIZE a page) is
 * read and each Message-ID hashed as Camel hashes it
 * (camel_folder_search_util_hash_message_id). A folder open walks the folder's infos
 * once (memory only, no file and no D-Bus per row, msgtrk-evo-scan.c), sets the states
 * known at once and reads ListStatus again (one batched call, paged), after which the rows
 * known to be tracked get the fresh states (no second walk; a folder with new rows is
 * walked again). StatusChanged updates the rows that
 * carry that message; a signal for a message the index does not know (just sent) adds it
 * from the Message-ID the signal names, and a new row in a shown folder is looked up in
 * the index: neither reads ListStatus again (only a signal that names no Message-ID, from
 * an older msgtrkd, does, once per burst). Every change goes
 * to the folder as one camel_folder_changed per MSGTRK_EVO_STATUS_FLUSH_MS. A summary
 * rebuild (the values are lost: they are in no file) rebuilds the message list, and its
 * "message-list-built" makes the known states be set again.
 * Limits: Sent and Outbox folders only (em_utils_folder_is_sent/_outbox); the walk over a
 * shown folder is on the main thread (hash lookups in memory); plain GDBus (no generated
 * proxy type: docs/evolution.md, one process with the provider).
 * Never: block on D-Bus; keep a message file open; write the user-header key (consent is
 * msgtrk-evo-window.c's business).
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <libemail-engine/libemail-engine.h>
#include <mail/message-list.h>

#include "msgtrk-camel-tracker.h"
#include "msgtrk-evo-column.h"
#include "msgtrk-evo-scan.h"
#include "msgtrk-evo-status.h"

typedef struct
{
  char *message_id; /* without <> */
  char *envid;
  char *state;
  guint64 hash;
} Entry;

typedef struct
{
  gpointer owner;
  CamelFolder *folder;               /* (owned) */
  GHashTable *uids_by_hash;          /* guint64* → GPtrArray of uids */
  CamelFolderChangeInfo *pending;    /* (owned) changes not told yet */
  guint flush_id;
  gulong changed_handler;
  GCancellable *cancellable;         /* (owned) */
  gboolean ask_pending;              /* walk the folder again once the index is read */
  gboolean built;                    /* the message list has been built since the open */
} View;

typedef struct
{
  GDBusConnection *bus;
  guint signal_id;
  GCancellable *cancellable;
  GHashTable *by_hash;  /* guint64* → Entry* (owned) */
  GHashTable *by_envid; /* envid → Entry* */
  gboolean index_loaded;
  gboolean listing;
  GPtrArray *pages;  /* Entry* (owned) read so far by the ListStatus under way */
  guint page_count;
  guint relist_id;
  GPtrArray *views; /* View* (owned) */
} Status;

static Status *status_singleton;

/* What each message list shows, column on or off: switching the column on looks at them. */
typedef struct
{
  CamelFolder *folder;        /* (owned) */
  ESourceRegistry *registry;  /* (owned) (nullable) */
} Shown;
static GHashTable *shown; /* owner → Shown* */

static void
shown_free (Shown *s)
{
  g_clear_object (&s->folder);
  g_clear_object (&s->registry);
  g_free (s);
}

static void
shown_set (gpointer owner, CamelFolder *folder, ESourceRegistry *registry)
{
  Shown *s;

  if (shown == NULL)
    shown = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                   (GDestroyNotify) shown_free);
  if (folder == NULL)
    {
      g_hash_table_remove (shown, owner);
      return;
    }
  s = g_new0 (Shown, 1);
  s->folder = g_object_ref (folder);
  s->registry = registry ? g_object_ref (registry) : NULL;
  g_hash_table_replace (shown, owner, s);
}

static void
entry_free (Entry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->message_id);
  g_free (entry->envid);
  g_free (entry->state);
  g_free (entry);
}

static guint64
hash_message_id (const char *message_id)
{
  return msgtrk_evo_scan_hash_message_id (message_id);
}

static gboolean
column_on (void)
{
  g_autoptr (GSettings) settings = g_settings_new (MSGTRK_EVO_EDS_SCHEMA);
  g_auto (GStrv) entries = g_settings_get_strv (settings, MSGTRK_EVO_USER_HEADERS_KEY);

  return msgtrk_evo_column_index ((const char * const *) entries) >= 0;
}

/* ---- views ---- */

static gboolean
view_flush_cb (gpointer data)
{
  View *view = data;

  view->flush_id = 0;
  if (camel_folder_change_info_changed (view->pending))
    camel_folder_changed (view->folder, view->pending);
  camel_folder_change_info_free (view->pending);
  view->pending = camel_folder_change_info_new ();
  return G_SOURCE_REMOVE;
}

/* The CamelMessageInfo the message list's row holds: after a message is opened it is not
 * always the one camel_folder_get_message_info() returns (Evolution refills a row's user
 * headers from the loaded message), and the row draws its own. */
static CamelMessageInfo *
row_info (View *view, const char *uid)
{
  GObject *list;
  GNode *node;

  if (!E_IS_EXTENSION (view->owner))
    return NULL;
  list = G_OBJECT (e_extension_get_extensible (E_EXTENSION (view->owner)));
  if (!IS_MESSAGE_LIST (list) || MESSAGE_LIST (list)->uid_nodemap == NULL)
    return NULL;
  node = g_hash_table_lookup (MESSAGE_LIST (list)->uid_nodemap, uid);
  return node && CAMEL_IS_MESSAGE_INFO (node->data) ? node->data : NULL;
}

static void
view_set (View *view, const char *uid, const char *state)
{
  g_autoptr (CamelMessageInfo) info = camel_folder_get_message_info (view->folder, uid);
  CamelMessageInfo *row = row_info (view, uid);
  const char *label = state ? msgtrk_evo_column_label (state) : NULL;
  gboolean changed = FALSE;

  if (info)
    changed = camel_message_info_set_user_header (info, MSGTRK_EVO_STATUS_HEADER, label);
  if (row && row != info)
    changed = camel_message_info_set_user_header (row, MSGTRK_EVO_STATUS_HEADER, label)
              || changed;
  if (!changed)
    return;
  /* The end-to-end test reads this line (G_MESSAGES_DEBUG=msgtrk-evolution). */
  g_debug ("Tracking column: %s %s ← %s%s", camel_folder_get_full_name (view->folder), uid,
           label ? label : "(none)", row && row != info ? " (row)" : "");
  camel_folder_change_info_change_uid (view->pending, uid);
  if (view->flush_id == 0)
    view->flush_id = g_timeout_add (MSGTRK_EVO_STATUS_FLUSH_MS, view_flush_cb, view);
}

static void
view_apply (View *view, const Entry *entry)
{
  GPtrArray *uids = g_hash_table_lookup (view->uids_by_hash, &entry->hash);

  for (guint i = 0; uids && i < uids->len; i++)
    view_set (view, g_ptr_array_index (uids, i), entry->state);
}

static void
view_free (View *view)
{
  g_cancellable_cancel (view->cancellable);
  g_clear_object (&view->cancellable);
  if (view->flush_id)
    {
      g_source_remove (view->flush_id);
      view_flush_cb (view);
    }
  g_clear_signal_handler (&view->changed_handler, view->folder);
  camel_folder_change_info_free (view->pending);
  g_hash_table_unref (view->uids_by_hash);
  g_object_unref (view->folder);
  g_free (view);
}

static void status_relist_later (Status *status);

/* A row of the view's folder noted under its Message-ID hash, for StatusChanged. */
static void
view_note_row (View *view, const char *uid, guint64 hash)
{
  GPtrArray *rows = g_hash_table_lookup (view->uids_by_hash, &hash);

  if (rows == NULL)
    {
      rows = g_ptr_array_new_with_free_func ((GDestroyNotify) camel_pstring_free);
      g_hash_table_insert (view->uids_by_hash, g_memdup2 (&hash, sizeof hash), rows);
    }
  g_ptr_array_add (rows, (gpointer) camel_pstring_strdup (uid));
}

/* A tracked row of the view's folder: noted (for StatusChanged) and given its state. */
static void
view_scan_found (const char *uid, guint64 hash, gpointer value, gpointer user_data)
{
  View *view = user_data;
  Entry *entry = value;

  view_note_row (view, uid, hash);
  view_set (view, uid, entry->state);
}

/* The fresh states of the rows known to be tracked (no walk over the folder). */
static void
view_refresh (Status *status, View *view)
{
  GHashTableIter iter;
  gpointer key, rows;

  g_hash_table_iter_init (&iter, view->uids_by_hash);
  while (g_hash_table_iter_next (&iter, &key, &rows))
    {
      Entry *entry = g_hash_table_lookup (status->by_hash, key);

      for (guint i = 0; i < ((GPtrArray *) rows)->len; i++)
        view_set (view, g_ptr_array_index ((GPtrArray *) rows, i), entry ? entry->state : NULL);
    }
}

/* Walks the folder's infos: which rows are tracked messages; sets the known states. */
static void
view_scan (Status *status, View *view)
{
  g_hash_table_remove_all (view->uids_by_hash);
  msgtrk_evo_scan_folder (view->folder, status->by_hash, view_scan_found, view);
}

static View *
view_of (Status *status, gpointer owner)
{
  for (guint i = 0; i < status->views->len; i++)
    {
      View *view = g_ptr_array_index (status->views, i);
      if (view->owner == owner)
        return view;
    }
  return NULL;
}

/* ---- the index: ListStatus, page by page ---- */

/* The pages are read; the index is replaced and every shown folder looked at again. */
static void
index_replace (Status *status, GPtrArray *entries)
{
  g_hash_table_remove_all (status->by_envid);
  g_hash_table_remove_all (status->by_hash);
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (entries, i);

      /* one entry per Message-ID from msgtrkd; two IDs with one 64-bit hash: the first */
      if (g_hash_table_contains (status->by_hash, &entry->hash))
        continue;
      g_ptr_array_index (entries, i) = NULL;
      g_hash_table_insert (status->by_hash, &entry->hash, entry);
      g_hash_table_insert (status->by_envid, entry->envid, entry);
    }
  status->index_loaded = TRUE;
  for (guint i = 0; i < status->views->len; i++)
    {
      View *view = g_ptr_array_index (status->views, i);

      if (!view->built)
        continue; /* the list's "message-list-built" walks it */
      if (view->ask_pending)
        view_scan (status, view); /* never walked, or rows were added */
      else
        view_refresh (status, view); /* its tracked rows only */
      view->ask_pending = FALSE;
    }
}

static void list_status_page (Status *status, const char *after);

static void
list_status_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Status *status = status_singleton;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
    = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_autoptr (GVariantIter) iter = NULL;
  const char *mid, *envid, *state, *summary, *next;

  if (status == NULL)
    return;
  if (reply == NULL)
    {
      status->listing = FALSE;
      g_clear_pointer (&status->pages, g_ptr_array_unref);
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("msgtrk: ListStatus failed: %s", error->message);
      return;
    }
  g_variant_get (reply, "(a(ssss)&s)", &iter, &next);
  while (g_variant_iter_next (iter, "(&s&s&s&s)", &mid, &envid, &state, &summary))
    {
      Entry *entry;

      if (*mid == '\0' || *envid == '\0')
        continue;
      entry = g_new0 (Entry, 1);
      entry->message_id = g_strdup (mid);
      entry->envid = g_strdup (envid);
      entry->state = g_strdup (state);
      entry->hash = hash_message_id (mid);
      g_ptr_array_add (status->pages, entry);
    }
  status->page_count++;
  if (*next != '\0' && status->page_count < MSGTRK_EVO_STATUS_PAGES_MAX)
    {
      list_status_page (status, next);
      return;
    }
  if (*next != '\0')
    g_message ("msgtrk: msgtrkd tracks more than %u × %u messages with a Message-ID; the "
               "Tracking column shows the first ones",
               MSGTRK_EVO_STATUS_PAGES_MAX, MSGTRK_EVO_STATUS_PAGE_SIZE);
  status->listing = FALSE;
  {
    g_autoptr (GPtrArray) entries = g_steal_pointer (&status->pages);

    index_replace (status, entries);
  }
}

static void
list_status_page (Status *status, const char *after)
{
  g_dbus_connection_call (status->bus, MSGTRK_CAMEL_TRACKER_BUS_NAME, MSGTRK_CAMEL_TRACKER_PATH,
                          MSGTRK_CAMEL_TRACKER_INTERFACE, "ListStatus",
                          g_variant_new ("(su)", after, MSGTRK_EVO_STATUS_PAGE_SIZE),
                          G_VARIANT_TYPE ("(a(ssss)s)"), G_DBUS_CALL_FLAGS_NONE,
                          MSGTRK_CAMEL_DBUS_TIMEOUT_MS, status->cancellable, list_status_cb,
                          NULL);
}

static void
status_relist (Status *status)
{
  if (status->listing)
    return;
  status->listing = TRUE;
  status->page_count = 0;
  status->pages = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  list_status_page (status, "");
}

static gboolean
status_relist_cb (gpointer data)
{
  Status *status = data;

  status->relist_id = 0;
  status_relist (status);
  return G_SOURCE_REMOVE;
}

static void
status_relist_later (Status *status)
{
  if (status->relist_id == 0)
    status->relist_id = g_timeout_add (MSGTRK_EVO_STATUS_RELIST_MS, status_relist_cb, status);
}

/* ---- StatusChanged ---- */

/* A message msgtrkd signalled and the index does not hold (sent since the list was read):
 * added from the signal's Message-ID, replacing an earlier attempt under the same
 * Message-ID. NULL when another Message-ID has the same 64-bit hash (the list decides). */
static Entry *
index_add (Status *status, const char *envid, const char *message_id, const char *state)
{
  guint64 hash = hash_message_id (message_id);
  Entry *entry = g_hash_table_lookup (status->by_hash, &hash);

  if (entry && g_strcmp0 (entry->message_id, message_id) != 0)
    return NULL;
  if (entry)
    {
      g_hash_table_remove (status->by_envid, entry->envid);
      g_free (entry->envid);
      entry->envid = g_strdup (envid);
    }
  else
    {
      entry = g_new0 (Entry, 1);
      entry->message_id = g_strdup (message_id);
      entry->envid = g_strdup (envid);
      entry->state = g_strdup (state);
      entry->hash = hash;
      g_hash_table_insert (status->by_hash, &entry->hash, entry);
    }
  g_hash_table_insert (status->by_envid, entry->envid, entry);
  return entry;
}

static void
status_changed_cb (GDBusConnection *bus,
                   const char      *sender,
                   const char      *path,
                   const char      *interface,
                   const char      *signal,
                   GVariant        *parameters,
                   gpointer         user_data)
{
  Status *status = user_data;
  const char *envid, *state, *summary, *message_id = "";
  Entry *entry;

  if (g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(ssss)")))
    g_variant_get (parameters, "(&s&s&s&s)", &envid, &state, &summary, &message_id);
  else if (g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sss)")))
    g_variant_get (parameters, "(&s&s&s)", &envid, &state, &summary); /* before 0.2 */
  else
    return;
  entry = g_hash_table_lookup (status->by_envid, envid);
  if (entry == NULL && *message_id != '\0' && status->index_loaded)
    entry = index_add (status, envid, message_id, state); /* sent since the list was read */
  if (entry == NULL)
    {
      /* No Message-ID named (an older msgtrkd), or the index is not read yet. */
      status_relist_later (status);
      return;
    }
  g_debug ("StatusChanged %s %s", message_id, state);
  g_free (entry->state);
  entry->state = g_strdup (state);
  for (guint i = 0; i < status->views->len; i++)
    view_apply (g_ptr_array_index (status->views, i), entry);
}

static Status *
status_get (void)
{
  g_autoptr (GError) error = NULL;
  Status *status;

  if (status_singleton)
    return status_singleton;
  status = g_new0 (Status, 1);
  status->bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (status->bus == NULL)
    {
      g_message ("msgtrk: no session bus, no Tracking column: %s", error->message);
      g_free (status);
      return NULL;
    }
  status->cancellable = g_cancellable_new ();
  status->by_hash = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                           (GDestroyNotify) entry_free);
  status->by_envid = g_hash_table_new (g_str_hash, g_str_equal);
  status->views = g_ptr_array_new_with_free_func ((GDestroyNotify) view_free);
  status->signal_id = g_dbus_connection_signal_subscribe (
    status->bus, NULL, MSGTRK_CAMEL_TRACKER_INTERFACE, "StatusChanged",
    MSGTRK_CAMEL_TRACKER_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, status_changed_cb, status, NULL);
  status_singleton = status;
  return status;
}

/* New rows in a shown folder (a message just filed in Sent, a rebuilt summary) make the
 * index be read again; a changed row of a tracked message gets its value back if it lost
 * it (an info reloaded from the summary database): set_user_header says whether it
 * changed, so this never loops. */
static void
folder_changed_cb (CamelFolder *folder, CamelFolderChangeInfo *changes, gpointer user_data)
{
  Status *status = status_singleton;
  View *view = user_data;

  if (status == NULL || changes == NULL)
    return;
  if (changes->uid_added && changes->uid_added->len > 0 && !status->index_loaded)
    {
      view->ask_pending = TRUE; /* new rows: walked again with the next index */
      status_relist_later (status);
    }
  /* The index is kept current by StatusChanged, which names the Message-ID: a new row is
   * tracked when the index holds it, with no new ListStatus. Every new row is noted, so
   * that a signal coming after it (a message filed before msgtrkd spoke) finds it. */
  for (guint i = 0; status->index_loaded && changes->uid_added && i < changes->uid_added->len;
       i++)
    {
      const char *uid = g_ptr_array_index (changes->uid_added, i);
      g_autoptr (CamelMessageInfo) info = camel_folder_get_message_info (folder, uid);
      guint64 hash = info ? camel_message_info_get_message_id (info) : 0;
      Entry *entry = hash ? g_hash_table_lookup (status->by_hash, &hash) : NULL;

      if (hash != 0)
        view_note_row (view, uid, hash);
      if (entry)
        view_set (view, uid, entry->state);
    }
  for (guint i = 0; changes->uid_changed && i < changes->uid_changed->len; i++)
    {
      const char *uid = g_ptr_array_index (changes->uid_changed, i);
      g_autoptr (CamelMessageInfo) info = camel_folder_get_message_info (folder, uid);
      guint64 hash = info ? camel_message_info_get_message_id (info) : 0;
      Entry *entry = hash ? g_hash_table_lookup (status->by_hash, &hash) : NULL;

      if (entry && g_hash_table_contains (view->uids_by_hash, &hash))
        view_set (view, uid, entry->state);
    }
}

/* OWNER's view of FOLDER (made when needed), or NULL: no column, not a Sent or Outbox
 * folder, no bus. */
static View *
view_for (gpointer owner, CamelFolder *folder, ESourceRegistry *registry)
{
  Status *status = status_singleton;
  View *view = status ? view_of (status, owner) : NULL;

  shown_set (owner, folder, registry);
  if (view && (folder == NULL || view->folder != folder))
    {
      g_ptr_array_remove (status->views, view);
      view = NULL;
    }
  if (folder == NULL || !column_on ())
    return NULL;
  if (view == NULL)
    {
      if (registry == NULL
          || !(em_utils_folder_is_sent (registry, folder)
               || em_utils_folder_is_outbox (registry, folder)))
        return NULL;
      if ((status = status_get ()) == NULL)
        return NULL;
      view = g_new0 (View, 1);
      view->owner = owner;
      view->folder = g_object_ref (folder);
      view->uids_by_hash = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                                  (GDestroyNotify) g_ptr_array_unref);
      view->pending = camel_folder_change_info_new ();
      view->cancellable = g_cancellable_new ();
      view->changed_handler = g_signal_connect (folder, "changed",
                                                G_CALLBACK (folder_changed_cb), view);
      g_ptr_array_add (status->views, view);
    }
  return view;
}

void
msgtrk_evo_status_open (gpointer owner, CamelFolder *folder, ESourceRegistry *registry)
{
  View *view = view_for (owner, folder, registry);

  if (view == NULL)
    return;
  /* the list is being built: its "message-list-built" walks the folder, once */
  view->built = FALSE;
  view->ask_pending = TRUE;
  status_relist (status_singleton);
}

void
msgtrk_evo_status_show (gpointer owner, CamelFolder *folder, ESourceRegistry *registry,
                        gboolean ask)
{
  View *view = view_for (owner, folder, registry);
  Status *status = status_singleton;

  if (view == NULL)
    return;
  view->built = TRUE;
  /* What is known now; ASK also reads msgtrkd's states again (one ListStatus, paged),
   * whose answer refreshes the tracked rows (walked now: not again then). */
  if (status->index_loaded)
    {
      view_scan (status, view);
      view->ask_pending = FALSE;
    }
  else
    view->ask_pending = TRUE; /* walked once the index is there */
  if (ask || !status->index_loaded)
    status_relist (status);
}

void
msgtrk_evo_status_forget_owner (gpointer owner)
{
  Status *status = status_singleton;
  View *view = status ? view_of (status, owner) : NULL;

  if (shown)
    g_hash_table_remove (shown, owner);
  if (view)
    g_ptr_array_remove (status->views, view);
}

void
msgtrk_evo_status_column_changed (void)
{
  Status *status = status_singleton;
  GHashTableIter iter;
  gpointer owner, value;

  if (!column_on ())
    {
      /* Off: the values go too, so that nothing stale shows if it comes back. */
      for (guint i = 0; status && i < status->views->len; i++)
        {
          View *view = g_ptr_array_index (status->views, i);
          GHashTableIter rows_iter;
          gpointer rows;

          g_hash_table_iter_init (&rows_iter, view->uids_by_hash);
          while (g_hash_table_iter_next (&rows_iter, NULL, &rows))
            for (guint j = 0; j < ((GPtrArray *) rows)->len; j++)
              view_set (view, g_ptr_array_index ((GPtrArray *) rows, j), NULL);
        }
      if (status)
        g_ptr_array_set_size (status->views, 0);
      return;
    }
  if (shown == NULL)
    return;
  /* On: every folder shown is looked at as if just opened. */
  {
    g_autoptr (GPtrArray) owners = g_ptr_array_new ();

    g_hash_table_iter_init (&iter, shown);
    while (g_hash_table_iter_next (&iter, &owner, &value))
      g_ptr_array_add (owners, owner);
    for (guint i = 0; i < owners->len; i++)
      {
        Shown *s = g_hash_table_lookup (shown, owners->pdata[i]);
        g_autoptr (CamelFolder) folder = g_object_ref (s->folder);
        g_autoptr (ESourceRegistry) registry = s->registry ? g_object_ref (s->registry) : NULL;

        msgtrk_evo_status_show (owners->pdata[i], folder, registry, TRUE);
      }
  }
}

void
msgtrk_evo_status_start (void)
{
  Status *status = status_get ();

  if (status && !status->index_loaded)
    status_relist (status);
}

const char *
msgtrk_evo_status_message_id (guint64 hash)
{
  Status *status = status_singleton;
  Entry *entry = status && hash ? g_hash_table_lookup (status->by_hash, &hash) : NULL;

  return entry ? entry->message_id : NULL;
}

static void
call_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;
  GVariant *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  if (reply)
    g_task_return_pointer (task, reply, (GDestroyNotify) g_variant_unref);
  else
    g_task_return_error (task, error);
}

void
msgtrk_evo_status_call (const char          *method,
                        GVariant            *parameters,
                        const GVariantType  *reply_type,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  Status *status = status_get ();
  GTask *task = g_task_new (NULL, NULL, callback, user_data);

  if (status == NULL)
    {
      if (parameters)
        g_variant_unref (g_variant_ref_sink (parameters));
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                               "%s", _("There is no D-Bus session bus: the tracking helper "
                                       "(msgtrkd) cannot be reached."));
      g_object_unref (task);
      return;
    }
  g_dbus_connection_call (status->bus, MSGTRK_CAMEL_TRACKER_BUS_NAME, MSGTRK_CAMEL_TRACKER_PATH,
                          MSGTRK_CAMEL_TRACKER_INTERFACE, method, parameters, reply_type,
                          G_DBUS_CALL_FLAGS_NONE, MSGTRK_CAMEL_DBUS_TIMEOUT_MS,
                          status->cancellable, call_cb, task);
}

GVariant *
msgtrk_evo_status_call_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct
{
  CamelFolder *folder; /* (owned) */
  char *uid;           /* (owned) */
} Reapply;

static gboolean
reapply_cb (gpointer data)
{
  Reapply *r = data;
  Status *status = status_singleton;

  for (guint i = 0; status && i < status->views->len; i++)
    {
      View *view = g_ptr_array_index (status->views, i);
      g_autoptr (CamelMessageInfo) info = NULL;
      guint64 hash;
      Entry *entry;

      if (view->folder != r->folder)
        continue;
      info = camel_folder_get_message_info (view->folder, r->uid);
      hash = info ? camel_message_info_get_message_id (info) : 0;
      entry = hash ? g_hash_table_lookup (status->by_hash, &hash) : NULL;
      if (entry && g_hash_table_contains (view->uids_by_hash, &hash))
        {
          CamelMessageInfo *row = row_info (view, r->uid);

          /* Whether or not the value looks unchanged, the row is told again. */
          g_debug ("Tracking column: %s %s reloaded", camel_folder_get_full_name (view->folder),
                   r->uid);

          camel_message_info_set_user_header (info, MSGTRK_EVO_STATUS_HEADER, NULL);
          if (row && row != info)
            camel_message_info_set_user_header (row, MSGTRK_EVO_STATUS_HEADER, NULL);
          view_set (view, r->uid, entry->state);
        }
    }
  return G_SOURCE_REMOVE;
}

static void
reapply_free (gpointer data)
{
  Reapply *r = data;

  g_object_unref (r->folder);
  g_free (r->uid);
  g_free (r);
}

void
msgtrk_evo_status_reapply (CamelFolder *folder, const char *uid)
{
  Reapply *r;

  if (folder == NULL || uid == NULL || status_singleton == NULL)
    return;
  r = g_new0 (Reapply, 1);
  r->folder = g_object_ref (folder);
  r->uid = g_strdup (uid);
  g_timeout_add_full (G_PRIORITY_DEFAULT, MSGTRK_EVO_STATUS_FLUSH_MS, reapply_cb, r,
                      reapply_free);
}
