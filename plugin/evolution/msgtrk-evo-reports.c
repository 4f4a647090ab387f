/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-reports.c: EExtension on EMailSession, handing reports to msgtrkd.
 *
 * What: see msgtrk-evo-reports.h.
 * How: for every store of the session (now and "store-added" later) its Inbox is opened
 * (camel_store_get_inbox_folder, asynchronous) and its "changed" signal watched; each uid
 * added is queued to a one-thread pool, which reads the message file when Camel has one
 * (camel_folder_get_filename: local and cached folders, the exact octets) or the message
 * itself otherwise, extracts the report parts (msgtrk_report_extract_file/_bytes: a large
 * bounce sends only its report parts) and calls IngestReport synchronously — in that
 * thread, never on the main one. Why here and not a Camel filter rule: a rule is the
 * user's to make and to break; the session sees every account's Inbox without asking.
 * Limits/Never: see msgtrk-evo-reports.h.
 */
#include "config.h"

#include <libemail-engine/libemail-engine.h>
#include <msgtrk.h>

#include "msgtrk-camel-tracker.h"
#include "msgtrk-evo-reports.h"

typedef struct
{
  EExtension parent_instance;
  GCancellable *cancellable; /* (owned) */
  GHashTable *inboxes;       /* CamelStore* → CamelFolder* (both owned) */
  GThreadPool *pool;         /* of Job* */
} MsgtrkEvoReports;

typedef struct
{
  EExtensionClass parent_class;
} MsgtrkEvoReportsClass;

typedef struct
{
  CamelFolder *folder;       /* (owned) */
  char *uid;                 /* (owned) */
  GCancellable *cancellable; /* (owned) */
  gboolean track_mail;       /* a TRACK: mail (Harrison, docs/harrison.md): sent whole */
} Job;

GType msgtrk_evo_reports_get_type (void);

G_DEFINE_DYNAMIC_TYPE (MsgtrkEvoReports, msgtrk_evo_reports, E_TYPE_EXTENSION)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsgtrkEvoReports, g_object_unref)

static void
job_free (Job *job)
{
  g_object_unref (job->folder);
  g_object_unref (job->cancellable);
  g_free (job->uid);
  g_free (job);
}

/* The message's octets as Camel has them, or serialized. */
static GBytes *
message_report (Job *job, GError **error)
{
  g_autofree char *path = camel_folder_get_filename (job->folder, job->uid, NULL);
  g_autoptr (CamelMimeMessage) message = NULL;
  g_autoptr (GOutputStream) out = NULL;
  g_autoptr (GBytes) bytes = NULL;

  if (path && g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      char *data = NULL;
      gsize len = 0;

      if (!job->track_mail)
        return msgtrk_report_extract_file (path, job->cancellable, error);
      if (!g_file_get_contents (path, &data, &len, error))
        return NULL;
      return g_bytes_new_take (data, len);
    }
  message = camel_folder_get_message_sync (job->folder, job->uid, job->cancellable, error);
  if (message == NULL)
    return NULL;
  out = g_memory_output_stream_new_resizable ();
  if (camel_data_wrapper_write_to_output_stream_sync (CAMEL_DATA_WRAPPER (message), out,
                                                      job->cancellable, error) < 0
      || !g_output_stream_close (out, job->cancellable, error))
    return NULL;
  bytes = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
  if (job->track_mail)
    return g_steal_pointer (&bytes);
  return msgtrk_report_extract_bytes (bytes, job->cancellable, error);
}

/* In the pool's thread. */
static void
job_run (gpointer data, gpointer user_data)
{
  Job *job = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) report = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GVariant) reply = NULL;
  const char *envid = "";

  if (g_cancellable_is_cancelled (job->cancellable))
    goto out;
  report = message_report (job, &error);
  if (report == NULL)
    {
      /* Most mail is no report (MSGTRK_ERROR_PARSE): nothing to say. */
      if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT))
        g_message ("msgtrk: a delivery report was not read: %s", error->message);
      goto out;
    }
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, job->cancellable, &error);
  if (bus)
    reply = g_dbus_connection_call_sync (
      bus, MSGTRK_CAMEL_TRACKER_BUS_NAME, MSGTRK_CAMEL_TRACKER_PATH,
      MSGTRK_CAMEL_TRACKER_INTERFACE, "IngestReport",
      g_variant_new ("(@ay)", g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, report, TRUE)),
      G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, MSGTRK_CAMEL_DBUS_TIMEOUT_MS,
      job->cancellable, &error);
  if (reply == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_message ("msgtrk: a delivery report could not be handed to msgtrkd: %s",
                   error->message);
      goto out;
    }
  g_variant_get (reply, "(&s)", &envid);
  /* A TRACK: mail msgtrkd matched leaves the inbox view (seen, deleted): the route shows
   * it. One that matched nothing stays for the user to judge. */
  if (job->track_mail && *envid != '\0')
    camel_folder_set_message_flags (job->folder, job->uid,
                                    CAMEL_MESSAGE_SEEN | CAMEL_MESSAGE_DELETED,
                                    CAMEL_MESSAGE_SEEN | CAMEL_MESSAGE_DELETED);
  /* The end-to-end test reads this line (G_MESSAGES_DEBUG=msgtrk-evolution). */
  g_debug ("report %s in %s: %s", job->uid, camel_folder_get_full_name (job->folder),
           *envid ? envid : "(no tracked message)");
out:
  job_free (job);
}

static void
inbox_changed_cb (CamelFolder *folder, CamelFolderChangeInfo *changes, gpointer user_data)
{
  MsgtrkEvoReports *self = user_data;

  for (guint i = 0; changes && changes->uid_added && i < changes->uid_added->len; i++)
    {
      const char *uid = g_ptr_array_index (changes->uid_added, i);
      g_autoptr (CamelMessageInfo) info = camel_folder_get_message_info (folder, uid);
      Job *job;

      if (info == NULL || camel_message_info_get_size (info) > MSGTRK_REPORT_MAX_MESSAGE_SIZE)
        continue;
      if (g_thread_pool_unprocessed (self->pool) >= MSGTRK_EVO_REPORTS_QUEUE_MAX)
        {
          g_message ("msgtrk: too many new messages at once; reports among them are not "
                     "read (msgtrk can still be given them by hand: msgtrk ingest)");
          return;
        }
      job = g_new0 (Job, 1);
      job->folder = g_object_ref (folder);
      job->uid = g_strdup (uid);
      job->cancellable = g_object_ref (self->cancellable);
      job->track_mail = camel_message_info_get_subject (info) != NULL
                        && g_ascii_strncasecmp (camel_message_info_get_subject (info), "TRACK:",
                                                6) == 0
                        && camel_message_info_get_size (info) <= MSGTRK_EVO_TRACK_MAIL_MAX;
      g_thread_pool_push (self->pool, job, NULL);
    }
}

typedef struct
{
  GWeakRef self;
  CamelStore *store; /* (owned) */
} InboxOpen;

static void
inbox_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  InboxOpen *open = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (CamelFolder) inbox
    = camel_store_get_inbox_folder_finish (CAMEL_STORE (source), result, &error);
  g_autoptr (MsgtrkEvoReports) self = g_weak_ref_get (&open->self);

  if (inbox && self && !g_hash_table_contains (self->inboxes, open->store))
    {
      g_signal_connect_object (inbox, "changed", G_CALLBACK (inbox_changed_cb), self, 0);
      g_hash_table_insert (self->inboxes, g_object_ref (open->store), g_object_ref (inbox));
    }
  else if (inbox == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("no Inbox in %s: %s", camel_service_get_display_name (CAMEL_SERVICE (source)),
             error ? error->message : "?");
  g_weak_ref_clear (&open->self);
  g_object_unref (open->store);
  g_free (open);
}

static void
watch_store (MsgtrkEvoReports *self, CamelStore *store)
{
  InboxOpen *open;

  if (!CAMEL_IS_STORE (store) || CAMEL_IS_VEE_STORE (store)
      || g_hash_table_contains (self->inboxes, store))
    return;
  open = g_new0 (InboxOpen, 1);
  g_weak_ref_init (&open->self, self);
  open->store = g_object_ref (store);
  camel_store_get_inbox_folder (store, G_PRIORITY_LOW, self->cancellable, inbox_cb, open);
}

static void
store_added_cb (EMailSession *session, CamelStore *store, gpointer user_data)
{
  watch_store (user_data, store);
}

static void
store_removed_cb (EMailSession *session, CamelStore *store, gpointer user_data)
{
  MsgtrkEvoReports *self = user_data;

  g_hash_table_remove (self->inboxes, store);
}

static gboolean
watch_existing_cb (gpointer user_data)
{
  MsgtrkEvoReports *self = user_data;
  CamelSession *session = CAMEL_SESSION (e_extension_get_extensible (E_EXTENSION (self)));
  GList *services = camel_session_list_services (session);

  for (GList *l = services; l; l = l->next)
    watch_store (self, l->data);
  g_list_free_full (services, g_object_unref);
  return G_SOURCE_REMOVE;
}

static void
inbox_unwatch (gpointer data)
{
  CamelFolder *inbox = data;

  g_object_unref (inbox);
}

static void
msgtrk_evo_reports_constructed (GObject *object)
{
  MsgtrkEvoReports *self = (MsgtrkEvoReports *) object;
  GObject *session;

  G_OBJECT_CLASS (msgtrk_evo_reports_parent_class)->constructed (object);
  session = G_OBJECT (e_extension_get_extensible (E_EXTENSION (self)));
  g_signal_connect_object (session, "store-added", G_CALLBACK (store_added_cb), self, 0);
  g_signal_connect_object (session, "store-removed", G_CALLBACK (store_removed_cb), self, 0);
  /* The stores are added after the session is made. */
  g_idle_add_full (G_PRIORITY_LOW, watch_existing_cb, g_object_ref (self), g_object_unref);
}

static void
msgtrk_evo_reports_dispose (GObject *object)
{
  MsgtrkEvoReports *self = (MsgtrkEvoReports *) object;

  g_cancellable_cancel (self->cancellable);
  if (self->pool)
    {
      g_thread_pool_free (self->pool, TRUE, TRUE);
      self->pool = NULL;
    }
  if (self->inboxes)
    {
      GHashTableIter iter;
      gpointer inbox;

      g_hash_table_iter_init (&iter, self->inboxes);
      while (g_hash_table_iter_next (&iter, NULL, &inbox))
        g_signal_handlers_disconnect_by_data (inbox, self);
      g_clear_pointer (&self->inboxes, g_hash_table_unref);
    }
  G_OBJECT_CLASS (msgtrk_evo_reports_parent_class)->dispose (object);
}

static void
msgtrk_evo_reports_finalize (GObject *object)
{
  MsgtrkEvoReports *self = (MsgtrkEvoReports *) object;

  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (msgtrk_evo_reports_parent_class)->finalize (object);
}

static void
msgtrk_evo_reports_class_init (MsgtrkEvoReportsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = msgtrk_evo_reports_constructed;
  object_class->dispose = msgtrk_evo_reports_dispose;
  object_class->finalize = msgtrk_evo_reports_finalize;
  E_EXTENSION_CLASS (klass)->extensible_type = E_TYPE_MAIL_SESSION;
}

static void
msgtrk_evo_reports_class_finalize (MsgtrkEvoReportsClass *klass)
{
}

static void
msgtrk_evo_reports_init (MsgtrkEvoReports *self)
{
  self->cancellable = g_cancellable_new ();
  self->inboxes = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref,
                                         inbox_unwatch);
  /* One thread: reports are read one after the other, the order they came in. */
  self->pool = g_thread_pool_new_full (job_run, NULL, (GDestroyNotify) job_free, 1, FALSE,
                                       NULL);
}

void
msgtrk_evo_reports_type_register (GTypeModule *type_module)
{
  msgtrk_evo_reports_register_type (type_module);
}
