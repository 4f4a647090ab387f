/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-service.c: org.msgtrk.Tracker1 (see msgtrkd-service.h and docs/dbus-api.md).
 *
 * D-Bus glue only: each handler unpacks its arguments, calls the tracking model
 * (msgtrkd-tracking.c) and replies; the keyring steps are async (_async calls), the
 * model's store work is local and quick. StatusChanged and notifications
 * (msgtrkd-notify.c) go out when the model says a state or summary changed. Viewer
 * activation (ShowMessage, a notification's "app.show") is here too: it is a D-Bus call.
 *
 * Limits: MSGTRKD_MAX_STATUS_IDS, MSGTRKD_STATUS_PAGE_MAX (msgtrkd-service.h) and the model's MSGTRKD_MAX_*
 * (msgtrkd-tracking.h), checked before any work; IngestReport: MSGTRK_REPORT_MAX_MESSAGE_SIZE.
 *
 * Never: log A, put it in an error, keep it after the call (buffers are wiped).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-dbus-generated.h"
#include "msgtrk-private.h"
#include "msgtrkd-error.h"
#include "msgtrkd-notify.h"
#include "msgtrkd-route.h"
#include "msgtrkd-scheduler.h"
#include "msgtrkd-service.h"
#include "msgtrkd-store.h"
#include "msgtrkd-tracking.h"

/** MSGTRKD_VIEWER_TIMEOUT_MS: how long to wait for the viewer to start and answer. */
#define MSGTRKD_VIEWER_TIMEOUT_MS 25000

#define SETTING_STARTTLS_HOSTS "starttls-hosts"

struct _MsgtrkdService
{
  GObject parent_instance;

  GApplication *app;              /* (unowned) owns us */
  MsgtrkdStore *store;            /* (owned) */
  MsgtrkdKeyring *keyring;        /* (owned) */
  GSettings *settings;            /* (owned) */
  MsgtrkMtqpClient *client;       /* (owned) */
  MsgtrkdScheduler *scheduler;    /* (owned) */
  MsgtrkdTracking *tracking;      /* (owned) the model */
  MsgtrkDBusTracker1 *skeleton;   /* (owned) */
  GDBusConnection *connection;    /* (owned) (nullable) while exported */
  gboolean held;                  /* the scheduler's hold on the application */
  gboolean shut_down;
  /* ENVID → GPtrArray of GDBusMethodInvocation (owned): ImportUrl calls waiting for the
   * import of that ENVID in flight (its secret being stored) to answer as it does. */
  GHashTable *importing;          /* (owned) */
};

G_DEFINE_FINAL_TYPE (MsgtrkdService, msgtrkd_service, G_TYPE_OBJECT)

void
msgtrkd_options_clear (MsgtrkdOptions *options)
{
  g_clear_pointer (&options->store_dir, g_free);
  g_clear_pointer (&options->mtqp_overrides, g_strfreev);
  g_clear_pointer (&options->ca_file, g_free);
  g_clear_pointer (&options->poll_schedule, g_array_unref);
}

/* ---- plumbing for method calls ---- */

/* Every method call, the synchronous ones (GetStatus, List, GetRoute…) included, counts
 * as activity: a hold and a release restart the inactivity timeout (--idle-exit). Without
 * it a service that only answered such calls would leave after GLib's first 10 seconds.
 * "g-authorize-method" runs in GDBus's worker thread, and GApplication is not
 * thread-safe: the hold and release happen on the main context. */
static gboolean
touch_application (gpointer user_data)
{
  GApplication *app = user_data;

  g_application_hold (app);
  g_application_release (app);
  return G_SOURCE_REMOVE;
}

static gboolean
on_any_call (GDBusInterfaceSkeleton *skeleton,
             GDBusMethodInvocation  *invocation,
             gpointer                user_data)
{
  MsgtrkdService *self = user_data;

  g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, touch_application,
                              g_object_ref (self->app), g_object_unref);
  return TRUE;
}

/* One method call in progress: holds the application (inactivity timeout restarts after
 * each call) and the service until the reply is sent. */
typedef struct
{
  MsgtrkdService *service;          /* (owned) */
  GDBusMethodInvocation *invocation; /* (owned) */
  char *envid;
  char *secret;                      /* (nullable) A or a URL holding it: wiped */
  char *authenticator;
  char *host;                        /* ExportUrl: the link's server */
  char *label;                       /* keyring label, alive until the callback */
  MsgtrkdMessage *message;           /* (nullable) a message to add after the keyring */
} Call;

static Call *
call_new (MsgtrkdService        *self,
          GDBusMethodInvocation *invocation)
{
  Call *call = g_new0 (Call, 1);

  call->service = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  g_application_hold (self->app);
  return call;
}

static void
call_free (Call *call)
{
  g_application_release (call->service->app);
  g_object_unref (call->service);
  g_object_unref (call->invocation);
  g_free (call->envid);
  msgtrk_secure_free_string (call->secret);
  g_free (call->authenticator);
  g_free (call->host);
  g_free (call->label);
  g_clear_pointer (&call->message, msgtrkd_message_free);
  g_free (call);
}

static void
return_error (GDBusMethodInvocation *invocation,
              GError                *error)
{
  if (error->domain != MSGTRKD_ERROR)
    {
      /* Library and GIO errors reach clients as Failed, with their message. */
      g_dbus_method_invocation_return_error_literal (invocation, MSGTRKD_ERROR,
                                                     MSGTRKD_ERROR_FAILED, error->message);
      return;
    }
  g_dbus_method_invocation_return_gerror (invocation, error);
}

static void
return_new_error (GDBusMethodInvocation *invocation,
                  MsgtrkdError           code,
                  const char            *format,
                  ...) G_GNUC_PRINTF (3, 4);

static void
return_new_error (GDBusMethodInvocation *invocation,
                  MsgtrkdError           code,
                  const char            *format,
                  ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_dbus_method_invocation_return_error_literal (invocation, MSGTRKD_ERROR, code, message);
}

/* The generated answers of the methods: without out-arguments, and with one string. */
typedef void (*ReplyFunc) (MsgtrkDBusTracker1    *skeleton,
                           GDBusMethodInvocation *invocation);
typedef void (*ReplyTextFunc) (MsgtrkDBusTracker1    *skeleton,
                               GDBusMethodInvocation *invocation,
                               const char            *text);

/* Answer @invocation with @reply, or with @error when it is set. */
static void
reply_or_error (MsgtrkDBusTracker1    *skeleton,
                GDBusMethodInvocation *invocation,
                GError                *error,
                ReplyFunc              reply)
{
  if (error != NULL)
    return_error (invocation, error);
  else
    reply (skeleton, invocation);
}

/* Answer @invocation with @reply of @text, or with @error when @text is NULL. */
static void
reply_text_or_error (MsgtrkDBusTracker1    *skeleton,
                     GDBusMethodInvocation *invocation,
                     const char            *text,
                     GError                *error,
                     ReplyTextFunc          reply)
{
  if (text == NULL)
    return_error (invocation, error);
  else
    reply (skeleton, invocation, text);
}

/* Answer the call in progress as reply_or_error() does, and end it. */
static void
call_reply (Call     *call,
            GError   *error,
            ReplyFunc reply)
{
  reply_or_error (call->service->skeleton, call->invocation, error, reply);
  call_free (call);
}

/* Answer the call in progress as reply_text_or_error() does, and end it. */
static void
call_reply_text (Call         *call,
                 const char   *text,
                 GError       *error,
                 ReplyTextFunc reply)
{
  reply_text_or_error (call->service->skeleton, call->invocation, text, error, reply);
  call_free (call);
}

/* The message @id names, or NULL once @invocation is answered with the error. */
static MsgtrkdMessage *
message_or_reply (MsgtrkdService        *self,
                  GDBusMethodInvocation *invocation,
                  const char            *id)
{
  g_autoptr (GError) error = NULL;
  MsgtrkdMessage *m = msgtrkd_tracking_get_message (self->tracking, id, &error);

  if (m == NULL)
    return_error (invocation, error);
  return m;
}

/* A call in progress about the message @envid (kept until the reply). */
static Call *
call_new_for (MsgtrkdService        *self,
              GDBusMethodInvocation *invocation,
              const char            *envid)
{
  Call *call = call_new (self, invocation);

  call->envid = g_strdup (envid);
  return call;
}

/* The model changed a message's state or summary: StatusChanged, and a notification for a
 * transition the user asked to hear of. */
static void
status_changed (const MsgtrkdMessage *m,
                MsgtrkMessageState    old_state,
                gpointer              user_data)
{
  MsgtrkdService *self = user_data;

  msgtrk_dbus_tracker1_emit_status_changed (self->skeleton, m->envid, m->state, m->summary,
                                            m->message_id ? m->message_id : "");
  msgtrkd_notify_transition (self->app, self->settings, m, old_state);
}

/* The scheduler's result of one poll: the model's (the scheduler has one user_data for
 * both callbacks). */
static void
poll_done (const char   *envid,
           MsgtrkRoute  *route,
           const GError *error,
           gpointer      user_data)
{
  MsgtrkdService *self = user_data;

  msgtrkd_tracking_poll_done (envid, route, error, self->tracking);
}

static void
scheduler_busy (gboolean busy,
                gpointer user_data)
{
  MsgtrkdService *self = user_data;

  /* Held while a poll is scheduled or running: tracking goes on with no client. */
  if (busy && !self->held)
    {
      g_application_hold (self->app);
      self->held = TRUE;
    }
  else if (!busy && self->held)
    {
      self->held = FALSE;
      g_application_release (self->app);
    }
}

/* ---- Prepare, Committed, Aborted ---- */

/* A is derived from the master secret (docs/secret-derivation.md): nothing is stored in the
 * keyring per message; the first Prepare makes the master. */
static void
prepare_derived (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSecret) secret = NULL;
  char *a;

  a = msgtrkd_keyring_derive_finish (MSGTRKD_KEYRING (source), result, &error);
  if (a != NULL)
    secret = msgtrk_secret_new_from_base64 (a, &error);
  msgtrk_secure_free_string (a);
  if (secret == NULL)
    g_message ("Prepare: no tracking secret could be made: %s", error->message);
  if (secret != NULL)
    call->authenticator = msgtrk_secret_compute_authenticator (secret);
  if (secret == NULL
      || !msgtrkd_tracking_add_prepared (call->service->tracking, call->message, &error))
    return_error (call->invocation, error);
  else
    msgtrk_dbus_tracker1_complete_prepare (call->service->skeleton, call->invocation,
                                           call->envid, call->authenticator,
                                           call->message->mtrk_timeout);
  call_free (call);
}

static gboolean
handle_prepare (MsgtrkDBusTracker1    *skeleton,
                GDBusMethodInvocation *invocation,
                const char            *sender,
                const char * const    *recipients,
                const char            *message_id,
                const char            *subject,
                const char            *submission_host,
                MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;
  guint timeout = g_settings_get_uint (self->settings, "mtrk-timeout");
  MsgtrkdMessage *m;
  Call *call;

  m = msgtrkd_tracking_prepare (self->tracking, sender, recipients, message_id, subject,
                                submission_host, timeout, &error);
  if (m == NULL)
    {
      return_error (invocation, error);
      return TRUE;
    }
  call = call_new_for (self, invocation, m->envid);
  call->message = m;
  msgtrkd_keyring_derive_async (self->keyring, call->envid, TRUE, NULL, prepare_derived, call);
  return TRUE;
}

static gboolean
handle_committed (MsgtrkDBusTracker1    *skeleton,
                  GDBusMethodInvocation *invocation,
                  const char            *envid,
                  const char * const    *offered,
                  const char            *server_reply,
                  MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;

  reply_or_error (skeleton, invocation,
                  msgtrkd_tracking_commit (self->tracking, envid, offered, server_reply, &error)
                      ? NULL
                      : error,
                  msgtrk_dbus_tracker1_complete_committed);
  return TRUE;
}

static void
aborted_deleted (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;

  if (!msgtrkd_keyring_delete_finish (MSGTRKD_KEYRING (source), result, &error))
    g_debug ("Aborted %s: the secret was not deleted: %s", call->envid, error->message);
  call_reply (call, NULL, msgtrk_dbus_tracker1_complete_aborted);
}

static gboolean
handle_aborted (MsgtrkDBusTracker1    *skeleton,
                GDBusMethodInvocation *invocation,
                const char            *envid,
                const char            *reason,
                MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) m = msgtrkd_tracking_abort (self->tracking, envid, reason, &error);
  Call *call;

  if (m == NULL)
    {
      return_error (invocation, error);
      return TRUE;
    }
  if (m->secret_derived)
    {
      /* A derived A has no item of its own to delete. */
      msgtrk_dbus_tracker1_complete_aborted (skeleton, invocation);
      return TRUE;
    }
  call = call_new_for (self, invocation, m->envid);
  /* call->envid, not m->envid: it must live until the callback. */
  msgtrkd_keyring_delete_async (self->keyring, call->envid, NULL, aborted_deleted, call);
  return TRUE;
}

/* ---- RequestContentTrack (docs/harrison.md) ---- */

static void
content_track_derived (GObject      *source,
                       GAsyncResult *result,
                       gpointer      data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *key = msgtrkd_keyring_derive_finish (MSGTRKD_KEYRING (source), result,
                                                        &error);

  if (key != NULL
      && !msgtrkd_tracking_set_content_track (call->service->tracking, call->envid, key,
                                              &error))
    g_clear_pointer (&key, g_free);
  call_reply_text (call, key, error, msgtrk_dbus_tracker1_complete_request_content_track);
}

static gboolean
handle_request_content_track (MsgtrkDBusTracker1    *skeleton,
                              GDBusMethodInvocation *invocation,
                              const char            *id,
                              MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = message_or_reply (self, invocation, id);
  Call *call;

  if (m == NULL)
    return TRUE;
  if (!m->secret_derived
      || msgtrkd_message_get_tracking_mode (m) == MSGTRK_TRACKING_MODE_DELEGATED)
    {
      return_new_error (invocation, MSGTRKD_ERROR_NOT_TRACKABLE,
                        _("Only a message sent from here can ask relays to report its route"));
      return TRUE;
    }
  call = call_new_for (self, invocation, m->envid);
  msgtrkd_keyring_content_track_async (self->keyring, call->envid, FALSE, NULL,
                                       content_track_derived, call);
  return TRUE;
}

/* ---- Track, GetStatus, GetRoute, List ---- */

static gboolean
handle_track (MsgtrkDBusTracker1    *skeleton,
              GDBusMethodInvocation *invocation,
              const char            *id,
              MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;

  reply_or_error (skeleton, invocation,
                  msgtrkd_tracking_track (self->tracking, id, &error) ? NULL : error,
                  msgtrk_dbus_tracker1_complete_track);
  return TRUE;
}

static gboolean
handle_get_status (MsgtrkDBusTracker1    *skeleton,
                   GDBusMethodInvocation *invocation,
                   const char * const    *ids,
                   MsgtrkdService        *self)
{
  GVariantBuilder builder;

  if (ids != NULL && g_strv_length ((char **) ids) > MSGTRKD_MAX_STATUS_IDS)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("At most %d ids per call"), MSGTRKD_MAX_STATUS_IDS);
      return TRUE;
    }
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssss)"));
  for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkdMessage) m = NULL;

      if (*ids[i] != '\0')
        m = msgtrkd_store_get_message (self->store, ids[i], &error);
      if (m == NULL && error != NULL
          && !g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND))
        {
          g_variant_builder_clear (&builder);
          return_error (invocation, error);
          return TRUE;
        }
      g_variant_builder_add (&builder, "(ssss)", ids[i], m != NULL ? m->envid : "",
                             m != NULL && m->state != NULL ? m->state : "",
                             m != NULL && m->summary != NULL ? m->summary : "");
    }
  msgtrk_dbus_tracker1_complete_get_status (skeleton, invocation,
                                            g_variant_builder_end (&builder));
  return TRUE;
}

/* ListStatus: one page of the store's statuses by Message-ID. */
static gboolean
handle_list_status (MsgtrkDBusTracker1    *skeleton,
                    GDBusMethodInvocation *invocation,
                    const char            *after,
                    guint                  max_count,
                    MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) rows = NULL;
  g_autofree char *next = NULL;
  GVariantBuilder builder;

  if (strlen (after) > MSGTRKD_MAX_FIELD_LENGTH)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("A Message-ID is at most %d bytes"), MSGTRKD_MAX_FIELD_LENGTH);
      return TRUE;
    }
  if (max_count == 0 || max_count > MSGTRKD_STATUS_PAGE_MAX)
    max_count = MSGTRKD_STATUS_PAGE_MAX;
  rows = msgtrkd_store_list_statuses (self->store, after, max_count, &next, &error);
  if (rows == NULL)
    {
      return_error (invocation, error);
      return TRUE;
    }
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssss)"));
  for (guint i = 0; i < rows->len; i++)
    {
      const MsgtrkdStatusRow *row = rows->pdata[i];

      g_variant_builder_add (&builder, "(ssss)", row->message_id, row->envid, row->state,
                             row->summary);
    }
  msgtrk_dbus_tracker1_complete_list_status (skeleton, invocation,
                                             g_variant_builder_end (&builder), next);
  return TRUE;
}

static gboolean
handle_get_route (MsgtrkDBusTracker1    *skeleton,
                  GDBusMethodInvocation *invocation,
                  const char            *id,
                  MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = msgtrkd_tracking_get_route_json (self->tracking, id, TRUE, &error);

  reply_text_or_error (skeleton, invocation, json, error,
                       msgtrk_dbus_tracker1_complete_get_route);
  return TRUE;
}

static gboolean
handle_list (MsgtrkDBusTracker1    *skeleton,
             GDBusMethodInvocation *invocation,
             MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) messages = msgtrkd_store_list_messages (self->store, &error);
  g_autofree char *json = NULL;

  if (messages == NULL)
    {
      return_error (invocation, error);
      return TRUE;
    }
  json = msgtrkd_route_list_json (messages);
  msgtrk_dbus_tracker1_complete_list (skeleton, invocation, json);
  return TRUE;
}

/* ---- ExportUrl, ImportUrl ---- */

static void
export_looked_up (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkUrl) url = NULL;
  g_autoptr (GNetworkAddress) server = NULL;
  char *secret;

  secret = msgtrkd_keyring_lookup_finish (MSGTRKD_KEYRING (source), result, &error);
  /* call->host is an authority, "host", "host:port" or "[v6]:port". */
  if (secret != NULL)
    server = G_NETWORK_ADDRESS (g_network_address_parse (call->host, MSGTRK_MTQP_PORT, &error));
  if (server != NULL)
    url = msgtrk_url_new (g_network_address_get_hostname (server),
                          g_network_address_get_port (server), call->envid, secret, &error);
  msgtrk_secure_free_string (secret);
  if (url != NULL)
    call->secret = msgtrk_url_to_string (url);
  call_reply_text (call, call->secret, error, msgtrk_dbus_tracker1_complete_export_url);
}

/* The URL names the server msgtrkd_tracking_link_server() gives. */
static gboolean
handle_export_url (MsgtrkDBusTracker1    *skeleton,
                   GDBusMethodInvocation *invocation,
                   const char            *id,
                   MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) m = message_or_reply (self, invocation, id);
  g_autofree char *server = m != NULL ? msgtrkd_tracking_link_server (m, &error) : NULL;
  Call *call;

  if (m == NULL)
    return TRUE;
  if (server == NULL)
    {
      return_error (invocation, error);
      return TRUE;
    }
  call = call_new_for (self, invocation, m->envid);
  call->host = g_steal_pointer (&server);
  msgtrkd_keyring_secret_async (self->keyring, call->envid, m->secret_derived, NULL,
                                export_looked_up, call);
  return TRUE;
}

static void
deleted_in_background (GObject      *source,
                       GAsyncResult *result,
                       gpointer      data)
{
  g_autofree char *envid = data;
  g_autoptr (GError) error = NULL;

  if (!msgtrkd_keyring_delete_finish (MSGTRKD_KEYRING (source), result, &error))
    g_debug ("The secret of %s was not deleted: %s", envid, error->message);
}

static void
import_stored (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  Call *call = data;
  MsgtrkdService *self = call->service;
  g_autoptr (GError) error = NULL;

  g_autoptr (GPtrArray) waiting = NULL;
  g_autofree char *importing_key = NULL;

  msgtrk_secure_free_string (g_steal_pointer (&call->secret));
  g_hash_table_steal_extended (self->importing, call->envid, (gpointer *) &importing_key,
                               (gpointer *) &waiting);
  if (!msgtrkd_keyring_store_finish (MSGTRKD_KEYRING (source), result, &error))
    ;
  else if (!msgtrkd_tracking_add_imported (self->tracking, call->message, &error))
    {
      /* Nobody waits for the delete (the copy of the ENVID lives until the callback).
       * Only this import could have added the record in the meantime (the others of its
       * ENVID waited for it, above), so the item stored is no other record's secret. */
      msgtrkd_keyring_delete_async (self->keyring, call->envid, NULL, deleted_in_background,
                                    g_strdup (call->envid));
    }
  for (guint i = 0; waiting != NULL && i < waiting->len; i++)
    {
      GDBusMethodInvocation *other = g_ptr_array_index (waiting, i);

      /* The answer takes the reference the call came with; the array drops its own. */
      if (error != NULL)
        return_error (other, error);
      else
        msgtrk_dbus_tracker1_complete_import_url (self->skeleton, other, call->envid);
    }
  if (error != NULL)
    return_error (call->invocation, error);
  else
    msgtrk_dbus_tracker1_complete_import_url (self->skeleton, call->invocation, call->envid);
  call_free (call);
}

static gboolean
handle_import_url (MsgtrkDBusTracker1    *skeleton,
                   GDBusMethodInvocation *invocation,
                   const char            *text,
                   MsgtrkdService        *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkUrl) url = msgtrk_url_parse (text, &error);
  g_autoptr (MsgtrkdMessage) known = NULL;
  Call *call;

  if (url == NULL)
    {
      /* The URL parser never quotes the secret in its messages. */
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT, "%s", error->message);
      return TRUE;
    }
  known = msgtrkd_store_get_message (self->store, msgtrk_url_get_envid (url), &error);
  if (known != NULL)
    {
      msgtrk_dbus_tracker1_complete_import_url (skeleton, invocation, known->envid);
      return TRUE;
    }
  if (!g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND))
    {
      return_error (invocation, error);
      return TRUE;
    }
  /* The same ENVID being imported (a double click, two clients): this call waits for that
   * import and answers as it does. Both storing the secret, the second's failed add
   * deleted the keyring item, i.e. the first one's secret. */
  {
    GPtrArray *waiting = g_hash_table_lookup (self->importing, msgtrk_url_get_envid (url));

    /* As many as the bus lets one caller have waiting for replies (the bus daemon's
     * max_replies_per_connection), each a reference. */
    if (waiting != NULL)
      {
        g_ptr_array_add (waiting, g_object_ref (invocation));
        return TRUE;
      }
  }
  call = call_new (self, invocation);
  call->message = msgtrkd_tracking_import (self->tracking, url,
                                           g_settings_get_uint (self->settings, "mtrk-timeout"));
  call->envid = g_strdup (call->message->envid);
  call->secret = g_strdup (msgtrk_url_get_secret (url));
  call->label = g_strdup_printf (_("Tracking secret for a delegated message (%s)"),
                                 call->envid);
  g_hash_table_insert (self->importing, g_strdup (call->envid),
                       g_ptr_array_new_with_free_func (g_object_unref));
  msgtrkd_keyring_store_async (self->keyring, call->envid, call->secret, call->label, NULL,
                               import_stored, call);
  return TRUE;
}

/* ---- IngestReport ---- */

static void
ingest_done (GObject      *source,
             GAsyncResult *result,
             gpointer      data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = msgtrkd_tracking_ingest_finish (MSGTRKD_TRACKING (source), result,
                                                           &error);

  call_reply_text (call, envid, error, msgtrk_dbus_tracker1_complete_ingest_report);
}

/* IngestReport takes a whole message, up to MSGTRK_REPORT_MAX_MESSAGE_SIZE octets (a
 * bounce returning a big message); its report parts, at most MSGTRK_REPORT_MAX_SIZE, are
 * what is parsed and stored. */
static gboolean
handle_ingest_report (MsgtrkDBusTracker1    *skeleton,
                      GDBusMethodInvocation *invocation,
                      GVariant              *unused_message,
                      MsgtrkdService        *self)
{
  /* "ay" arrives as a bytestring cut at the first NUL: take the whole array instead. */
  g_autoptr (GVariant) child = g_variant_get_child_value (
    g_dbus_method_invocation_get_parameters (invocation), 0);
  g_autoptr (GBytes) raw = g_variant_get_data_as_bytes (child);

  if (g_bytes_get_size (raw) > MSGTRK_REPORT_MAX_MESSAGE_SIZE)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("The message is larger than %d bytes"), MSGTRK_REPORT_MAX_MESSAGE_SIZE);
      return TRUE;
    }
  msgtrkd_tracking_ingest_async (self->tracking, raw, NULL, ingest_done,
                                 call_new (self, invocation));
  return TRUE;
}

/* ---- Forget ---- */

/* The keyring holds nothing more of the message: drop its record and answer. */
static void
forget_record (Call *call)
{
  MsgtrkdService *self = call->service;
  g_autoptr (GError) error = NULL;

  if (msgtrkd_tracking_forget (self->tracking, call->envid, &error))
    msgtrkd_notify_withdraw (self->app, call->envid);
  call_reply (call, error, msgtrk_dbus_tracker1_complete_forget);
}

static void
forget_deleted (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;

  if (!msgtrkd_keyring_delete_finish (MSGTRKD_KEYRING (source), result, &error)
      && !g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING))
    {
      /* Keep the record: the secret would otherwise stay behind in the keyring. */
      call_reply (call, error, msgtrk_dbus_tracker1_complete_forget);
      return;
    }
  forget_record (call);
}

static gboolean
handle_forget (MsgtrkDBusTracker1    *skeleton,
               GDBusMethodInvocation *invocation,
               const char            *id,
               MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = message_or_reply (self, invocation, id);
  Call *call;

  if (m == NULL)
    return TRUE;
  call = call_new_for (self, invocation, m->envid);
  /* A derived A has no item: the master stays, it serves every other message. */
  if (m->secret_derived)
    forget_record (call);
  else
    msgtrkd_keyring_delete_async (self->keyring, call->envid, NULL, forget_deleted, call);
  return TRUE;
}

/* ---- ShowMessage ---- */

static void
viewer_answered (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                              result, &error);

  if (call->invocation == NULL)
    {
      if (reply == NULL)
        g_message ("Cannot open the delivery map viewer: %s", error->message);
      g_object_unref (call->service);
      g_free (call->envid);
      g_free (call);
      return;
    }
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      return_new_error (call->invocation, MSGTRKD_ERROR_VIEWER,
                        _("Cannot open the delivery map viewer: %s"), error->message);
      call_free (call);
      return;
    }
  call_reply (call, NULL, msgtrk_dbus_tracker1_complete_show_message);
}

static void
call_viewer (MsgtrkdService *self,
             const char     *envid,
             Call           *call)
{
  GVariantBuilder params;
  GVariant *args;

  g_variant_builder_init (&params, G_VARIANT_TYPE ("av"));
  g_variant_builder_add (&params, "v", g_variant_new_string (envid));
  args = g_variant_new ("(sava{sv})", "show", &params, NULL);
  g_dbus_connection_call (self->connection, "org.msgtrk.Viewer", "/org/msgtrk/Viewer",
                          "org.freedesktop.Application", "ActivateAction", args, NULL,
                          G_DBUS_CALL_FLAGS_NONE, MSGTRKD_VIEWER_TIMEOUT_MS, NULL,
                          viewer_answered, call);
}

static gboolean
handle_show_message (MsgtrkDBusTracker1    *skeleton,
                     GDBusMethodInvocation *invocation,
                     const char            *id,
                     MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = message_or_reply (self, invocation, id);

  if (m != NULL)
    call_viewer (self, m->envid, call_new_for (self, invocation, m->envid));
  return TRUE;
}

/* ---- MarkViewed ---- */

/* The viewer showed the message: its notification has served (docs/dbus-api.md). */
static gboolean
handle_mark_viewed (MsgtrkDBusTracker1    *skeleton,
                    GDBusMethodInvocation *invocation,
                    const char            *id,
                    MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = message_or_reply (self, invocation, id);

  if (m == NULL)
    return TRUE;
  msgtrkd_notify_withdraw (self->app, m->envid);
  msgtrk_dbus_tracker1_complete_mark_viewed (skeleton, invocation);
  return TRUE;
}

/* The "app.show" action of notifications: open the viewer, no one waits for the answer. */
void
msgtrkd_service_show (MsgtrkdService *self,
                      const char     *envid)
{
  Call *call;

  if (self->connection == NULL)
    return;
  call = g_new0 (Call, 1);
  call->service = g_object_ref (self);
  call->envid = g_strdup (envid);
  call_viewer (self, envid, call);
}

static void
save_starttls_hosts (MsgtrkMtqpClient *client,
                     GParamSpec       *pspec,
                     MsgtrkdService   *self)
{
  g_auto (GStrv) hosts = msgtrk_mtqp_client_get_starttls_hosts (client);
  g_autofree char *text = g_strjoinv ("\n", hosts != NULL ? hosts : (char *[]){ NULL });
  g_autoptr (GError) error = NULL;

  if (!msgtrkd_store_set_setting (self->store, SETTING_STARTTLS_HOSTS, text, &error))
    g_warning ("Cannot save the STARTTLS memory: %s", error->message);
}

static void
msgtrkd_service_finalize (GObject *object)
{
  MsgtrkdService *self = MSGTRKD_SERVICE (object);

  if (self->client != NULL)
    g_signal_handlers_disconnect_by_data (self->client, self);
  g_clear_object (&self->scheduler);
  g_clear_object (&self->tracking);
  g_clear_object (&self->skeleton);
  g_clear_object (&self->connection);
  g_clear_object (&self->client);
  g_clear_object (&self->settings);
  g_clear_object (&self->keyring);
  g_clear_object (&self->store);
  g_clear_pointer (&self->importing, g_hash_table_unref);
  G_OBJECT_CLASS (msgtrkd_service_parent_class)->finalize (object);
}

static void
msgtrkd_service_class_init (MsgtrkdServiceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrkd_service_finalize;
}

static void
msgtrkd_service_init (MsgtrkdService *self)
{
  self->importing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) g_ptr_array_unref);
}

static MsgtrkTlsPolicy
tls_policy_from_settings (GSettings *settings)
{
  g_autofree char *text = g_settings_get_string (settings, "tls-policy");

  if (g_str_equal (text, "required"))
    return MSGTRK_TLS_POLICY_REQUIRED;
  if (g_str_equal (text, "none"))
    return MSGTRK_TLS_POLICY_NONE;
  return MSGTRK_TLS_POLICY_OPPORTUNISTIC;
}

/* The MTQP client's host overrides (--mtqp-override NAME=ADDRESS:PORT) and its STARTTLS
 * memory, kept in the store. */
static gboolean
configure_client (MsgtrkdService       *self,
                  const MsgtrkdOptions *options,
                  GError              **error)
{
  g_autofree char *starttls = NULL;

  for (guint i = 0; options->mtqp_overrides != NULL && options->mtqp_overrides[i] != NULL; i++)
    {
      const char *spec = options->mtqp_overrides[i];
      const char *eq = strchr (spec, '=');
      g_autofree char *name = NULL;

      if (eq == NULL || eq == spec)
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (spec, 100);

          g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                       _("--mtqp-override “%s” is not NAME=ADDRESS:PORT"), quoted);
          return FALSE;
        }
      name = g_strndup (spec, (gsize) (eq - spec));
      if (!msgtrk_mtqp_client_add_host_override (self->client, name, eq + 1, error))
        return FALSE;
      msgtrkd_scheduler_add_fixed_override (self->scheduler, name);
    }

  starttls = msgtrkd_store_get_setting (self->store, SETTING_STARTTLS_HOSTS, NULL);
  if (starttls != NULL)
    {
      g_auto (GStrv) hosts = g_strsplit (starttls, "\n", -1);
      g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
      g_auto (GStrv) clean = NULL;

      for (guint i = 0; hosts[i] != NULL; i++)
        if (*g_strstrip (hosts[i]) != '\0')
          g_strv_builder_add (b, hosts[i]);
      clean = g_strv_builder_end (b);
      msgtrk_mtqp_client_set_starttls_hosts (self->client, (const char * const *) clean);
    }
  g_signal_connect (self->client, "notify::starttls-hosts", G_CALLBACK (save_starttls_hosts),
                    self);
  return TRUE;
}

static void
connect_handlers (MsgtrkdService *self)
{
  self->skeleton = msgtrk_dbus_tracker1_skeleton_new ();
  g_signal_connect (self->skeleton, "g-authorize-method", G_CALLBACK (on_any_call), self);
  g_signal_connect (self->skeleton, "handle-prepare", G_CALLBACK (handle_prepare), self);
  g_signal_connect (self->skeleton, "handle-committed", G_CALLBACK (handle_committed), self);
  g_signal_connect (self->skeleton, "handle-request-content-track",
                    G_CALLBACK (handle_request_content_track), self);
  g_signal_connect (self->skeleton, "handle-aborted", G_CALLBACK (handle_aborted), self);
  g_signal_connect (self->skeleton, "handle-track", G_CALLBACK (handle_track), self);
  g_signal_connect (self->skeleton, "handle-get-status", G_CALLBACK (handle_get_status), self);
  g_signal_connect (self->skeleton, "handle-list-status", G_CALLBACK (handle_list_status),
                    self);
  g_signal_connect (self->skeleton, "handle-get-route", G_CALLBACK (handle_get_route), self);
  g_signal_connect (self->skeleton, "handle-list", G_CALLBACK (handle_list), self);
  g_signal_connect (self->skeleton, "handle-export-url", G_CALLBACK (handle_export_url), self);
  g_signal_connect (self->skeleton, "handle-import-url", G_CALLBACK (handle_import_url), self);
  g_signal_connect (self->skeleton, "handle-ingest-report", G_CALLBACK (handle_ingest_report),
                    self);
  g_signal_connect (self->skeleton, "handle-forget", G_CALLBACK (handle_forget), self);
  g_signal_connect (self->skeleton, "handle-show-message", G_CALLBACK (handle_show_message),
                    self);
  g_signal_connect (self->skeleton, "handle-mark-viewed", G_CALLBACK (handle_mark_viewed), self);
}

/**
 * msgtrkd_service_new:
 * @app: the application (not owned; it owns the service)
 * @options: the command-line configuration
 * @error: return location for a #GError
 *
 * Opens the store (creating the store directory, mode 0700), sets up the keyring and the
 * MTQP client (overrides, CA file, TLS policy, the STARTTLS memory from the store).
 *
 * Returns: (transfer full) (nullable): the service, or %NULL with @error
 */
MsgtrkdService *
msgtrkd_service_new (GApplication         *app,
                     const MsgtrkdOptions *options,
                     GError              **error)
{
  g_autoptr (MsgtrkdService) self = g_object_new (MSGTRKD_TYPE_SERVICE, NULL);
  g_autofree char *db_path = NULL;

  self->app = app;
  if (g_mkdir_with_parents (options->store_dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
                   _("Cannot create the store directory %s: %s"), options->store_dir,
                   g_strerror (saved));
      return NULL;
    }
  db_path = g_build_filename (options->store_dir, "msgtrk.db", NULL);
  self->store = msgtrkd_store_open (db_path, error);
  if (self->store == NULL)
    return NULL;
  self->keyring = msgtrkd_keyring_new (options->backend, options->store_dir);
  self->settings = g_settings_new ("org.msgtrk");

  self->tracking = msgtrkd_tracking_new (self->store, options->first_poll, status_changed, self);
  self->client = msgtrk_mtqp_client_new ();
  msgtrk_mtqp_client_set_tls_policy (self->client, tls_policy_from_settings (self->settings));
  if (options->ca_file != NULL)
    msgtrk_mtqp_client_set_ca_file (self->client, options->ca_file);
  self->scheduler = msgtrkd_scheduler_new (self->store, self->keyring, self->client,
                                           options->poll_schedule,
                                           poll_done, scheduler_busy, self);
  msgtrkd_tracking_set_scheduler (self->tracking, self->scheduler);
  if (!configure_client (self, options, error))
    return NULL;
  connect_handlers (self);
  return g_steal_pointer (&self);
}

gboolean
msgtrkd_service_export (MsgtrkdService  *self,
                        GDBusConnection *connection,
                        GError         **error)
{
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton), connection,
                                         MSGTRKD_OBJECT_PATH, error))
    return FALSE;
  g_set_object (&self->connection, connection);
  return TRUE;
}

void
msgtrkd_service_unexport (MsgtrkdService *self)
{
  if (self->connection == NULL)
    return;
  g_dbus_interface_skeleton_unexport_from_connection (
    G_DBUS_INTERFACE_SKELETON (self->skeleton), self->connection);
  g_clear_object (&self->connection);
}

/* Polling resumes from the store: the timer for the earliest due message. */
void
msgtrkd_service_start (MsgtrkdService *self)
{
  msgtrkd_scheduler_reschedule (self->scheduler);
}

static gboolean
keep_ticking (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Stops polling and waits (a bounded time) for cancelled runs to wind down. */
void
msgtrkd_service_shutdown (MsgtrkdService *self)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  guint tick;

  self->shut_down = TRUE;
  msgtrkd_tracking_shutdown (self->tracking);
  msgtrkd_scheduler_shutdown (self->scheduler);
  /* The tick bounds each wait, so the deadline is seen even when nothing else happens. */
  tick = g_timeout_add (100, keep_ticking,
                        NULL);
  while (msgtrkd_scheduler_has_runs (self->scheduler) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  scheduler_busy (FALSE, self);
}
