/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-service.c: org.msgtrk.Tracker1 (see msgtrkd-service.h and docs/dbus-api.md).
 *
 * Method handlers read and write the store synchronously (local, small statements) and
 * do everything else asynchronously: the keyring through its _async calls, MTQP through
 * the scheduler. Handlers never keep a copy of a message across an async step and write
 * it back: they read it again, so concurrent calls never undo each other's updates.
 *
 * State and summary are recomputed from every stored report after anything that may
 * change them; StatusChanged goes out (and a notification) only when one of them changed.
 * The store keeps one report per reporter and set of recipients, the newest (a delayed
 * hop's answer at every poll replaces the one before), and each stored row is parsed once
 * (ParsedCache), so a poll costs the reports of one message, not all the polls before.
 * A route snapshot is stored when the delivery map changed.
 *
 * Limits: the MSGTRKD_MAX_* constants of msgtrkd-service.h, checked before any work;
 * IngestReport: MSGTRK_REPORT_MAX_MESSAGE_SIZE / MSGTRK_REPORT_MAX_SIZE (<msgtrk.h>);
 * parsed reports of MSGTRKD_PARSED_CACHE_MESSAGES messages in memory.
 *
 * Never: log A, put it in an error, keep it after the call (buffers are wiped).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-dbus-generated.h"
#include "msgtrk-private.h"
#include "msgtrkd-error.h"
#include "msgtrk-states.h"
#include "msgtrkd-route.h"
#include "msgtrkd-scheduler.h"
#include "msgtrkd-service.h"
#include "msgtrkd-store.h"

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
  MsgtrkDBusTracker1 *skeleton;   /* (owned) */
  GDBusConnection *connection;    /* (owned) (nullable) while exported */
  GHashTable *routes;             /* (owned) envid → RouteCache: latest MTQP hops */
  GHashTable *parsed;             /* (owned) envid → ParsedCache: stored reports, parsed */
  GQueue parsed_lru;              /* ParsedCache, most recently used first */
  guint first_poll;
  gboolean held;                  /* the scheduler's hold on the application */
  gboolean shut_down;
};

G_DEFINE_FINAL_TYPE (MsgtrkdService, msgtrkd_service, G_TYPE_OBJECT)

/* The MTQP part of a message's route from its latest run (or latest snapshot). */
typedef struct
{
  JsonObject *mtqp_hops;  /* (owned) recipient → array of hops */
  GStrv warnings;         /* (owned) */
} RouteCache;

static void
route_cache_free (RouteCache *cache)
{
  g_clear_pointer (&cache->mtqp_hops, json_object_unref);
  g_strfreev (cache->warnings);
  g_free (cache);
}

void
msgtrkd_options_clear (MsgtrkdOptions *options)
{
  g_clear_pointer (&options->store_dir, g_free);
  g_clear_pointer (&options->mtqp_overrides, g_strfreev);
  g_clear_pointer (&options->ca_file, g_free);
  g_clear_pointer (&options->poll_schedule, g_array_unref);
}

static gint64
now_seconds (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
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
  char *host;
  char *port;
  char *label;                       /* keyring label, alive until the callback */
  guint timeout;
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
  g_free (call->port);
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

static MsgtrkdMessage *
get_message (MsgtrkdService        *self,
             const char            *id,
             GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;
  MsgtrkdMessage *m;

  if (id == NULL || *id == '\0')
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("No message id given: pass an ENVID or a Message-ID"));
      return NULL;
    }
  m = msgtrkd_store_get_message (self->store, id, &error);
  if (m == NULL)
    return_error (invocation, error);
  return m;
}

static gboolean
is_polled (const MsgtrkdMessage *m)
{
  return g_strcmp0 (m->tracking, MSGTRKD_TRACKING_MTQP) == 0
         || g_strcmp0 (m->tracking, MSGTRKD_TRACKING_DELEGATED) == 0;
}

/* ---- stored reports, parsed once ---- */

/** MSGTRKD_PARSED_CACHE_MESSAGES: messages whose parsed reports are kept in memory. */
#define MSGTRKD_PARSED_CACHE_MESSAGES 256

/* The parsed stored reports of one message, by row id. Rows never change (a newer word
 * is a new row, msgtrkd_store_put_report()), so a row is parsed once per daemon run, not
 * at every poll: recompute() reads the rows' ids and parses only the new ones. */
typedef struct
{
  char *envid;           /* (owned) */
  GHashTable *by_id;     /* (owned) gint64 * id → MsgtrkdParsedReport (owned) */
  GList link;            /* in MsgtrkdService.parsed_lru */
} ParsedCache;

static void
parsed_cache_free (ParsedCache *cache)
{
  g_free (cache->envid);
  g_hash_table_unref (cache->by_id);
  g_free (cache);
}

/* A copy sharing the parsed reports (ref-counted) with @p. */
static MsgtrkdParsedReport *
parsed_report_share (const MsgtrkdParsedReport *p)
{
  MsgtrkdParsedReport *copy = g_new0 (MsgtrkdParsedReport, 1);

  copy->source = g_strdup (p->source);
  copy->origin = g_strdup (p->origin);
  copy->received_at = p->received_at;
  copy->reports = g_ptr_array_ref (p->reports);
  return copy;
}

/* Every stored report of @envid, parsed (oldest first); one that no longer parses is
 * skipped (msgtrkd_route_parse_stored()). Rows already parsed are taken from the cache. */
static GPtrArray *
parsed_reports (MsgtrkdService *self,
                const char     *envid,
                GError        **error)
{
  g_autoptr (GPtrArray) heads = msgtrkd_store_list_report_heads (self->store, envid, error);
  GPtrArray *out;
  GHashTable *by_id;
  ParsedCache *cache;

  if (heads == NULL)
    return NULL;
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);
  by_id = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                 (GDestroyNotify) msgtrkd_parsed_report_free);
  cache = g_hash_table_lookup (self->parsed, envid);
  for (guint i = 0; i < heads->len; i++)
    {
      MsgtrkdStoredReport *head = g_ptr_array_index (heads, i);
      MsgtrkdParsedReport *p = NULL;
      gint64 *key = g_memdup2 (&head->id, sizeof head->id);

      if (cache != NULL)
        {
          gpointer old_key = NULL;

          /* Stealing frees neither key nor value: the key is freed here. */
          if (g_hash_table_steal_extended (cache->by_id, &head->id, &old_key, (gpointer *) &p))
            g_free (old_key);
        }
      if (p == NULL)
        {
          g_autoptr (GError) local_error = NULL;
          g_autoptr (GPtrArray) one = g_ptr_array_new_with_free_func (
            (GDestroyNotify) msgtrkd_stored_report_free);
          g_autoptr (GPtrArray) parsed = NULL;

          head->raw = msgtrkd_store_get_report_raw (self->store, head->id, &local_error);
          if (head->raw == NULL)
            {
              g_debug ("stored report %" G_GINT64_FORMAT " of %s: %s", head->id, envid,
                       local_error->message);
              g_free (key);
              continue;
            }
          g_ptr_array_add (one, g_steal_pointer (&heads->pdata[i]));
          parsed = msgtrkd_route_parse_stored (one);
          heads->pdata[i] = g_ptr_array_steal_index (one, 0);
          if (parsed->len == 0)
            {
              g_free (key);
              continue; /* no longer parses: skipped (debug line written) */
            }
          p = g_ptr_array_steal_index (parsed, 0);
        }
      g_ptr_array_add (out, parsed_report_share (p));
      g_hash_table_insert (by_id, key, p);
    }

  /* The new table replaces the old one; rows gone from the store are dropped with it. */
  if (cache == NULL)
    {
      cache = g_new0 (ParsedCache, 1);
      cache->envid = g_strdup (envid);
      cache->link.data = cache;
      g_hash_table_insert (self->parsed, cache->envid, cache);
    }
  else
    {
      g_hash_table_unref (cache->by_id);
      g_queue_unlink (&self->parsed_lru, &cache->link);
    }
  cache->by_id = by_id;
  g_queue_push_head_link (&self->parsed_lru, &cache->link);
  while (self->parsed_lru.length > MSGTRKD_PARSED_CACHE_MESSAGES)
    {
      GList *last = g_queue_pop_tail_link (&self->parsed_lru);

      g_hash_table_remove (self->parsed, ((ParsedCache *) last->data)->envid);
    }
  return out;
}

static gint
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* What a report is a word about: its kind, its reporter and its recipients (with the
 * disposition for an MDN), as docs/status.md "Reporter" defines one word; as SHA-256 hex.
 * The store keeps the newest report per key (msgtrkd_store_put_report()). */
static char *
report_key (GPtrArray *reports)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint i = 0; reports != NULL && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      GPtrArray *entries = msgtrk_report_get_recipients (report);
      const char *reporter = msgtrk_report_get_reporting_mta (report);
      g_autofree char *lower = NULL;
      g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);

      if (reporter == NULL)
        reporter = msgtrk_report_get_reporting_ua (report);
      lower = reporter != NULL ? g_utf8_casefold (reporter, -1) : g_strdup ("");
      g_string_append_printf (text, "%d\n%s\n", (int) msgtrk_report_get_kind (report), lower);
      for (guint j = 0; entries != NULL && j < entries->len; j++)
        {
          MsgtrkRecipientReport *entry = g_ptr_array_index (entries, j);
          g_autofree char *orcpt =
            msgtrk_address_normalize (msgtrk_recipient_report_get_original_recipient (entry));
          g_autofree char *final =
            msgtrk_address_normalize (msgtrk_recipient_report_get_final_recipient (entry));
          const char *disposition = msgtrk_recipient_report_get_disposition_text (entry);
          g_autofree char *word = g_strdup_printf ("%s\t%s\t%s", orcpt != NULL ? orcpt : "",
                                                   final != NULL ? final : "",
                                                   disposition != NULL ? disposition : "");

          g_ptr_array_add (words, g_utf8_casefold (word, -1));
        }
      g_ptr_array_sort (words, compare_strings);
      for (guint j = 0; j < words->len; j++)
        g_string_append_printf (text, "%s\n", (const char *) g_ptr_array_index (words, j));
      g_string_append_c (text, '\n');
    }
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, text->str, (gssize) text->len);
}

/* The newest date @reports speak for (Last-Attempt-Date, Arrival-Date), or @fallback. */
static gint64
report_date (GPtrArray *reports,
             gint64     fallback)
{
  gint64 newest = 0;

  for (guint i = 0; reports != NULL && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      GPtrArray *entries = msgtrk_report_get_recipients (report);
      GDateTime *arrival = msgtrk_report_get_arrival_date (report);

      if (arrival != NULL)
        newest = MAX (newest, g_date_time_to_unix (arrival));
      for (guint j = 0; entries != NULL && j < entries->len; j++)
        {
          GDateTime *attempt =
            msgtrk_recipient_report_get_last_attempt_date (g_ptr_array_index (entries, j));

          if (attempt != NULL)
            newest = MAX (newest, g_date_time_to_unix (attempt));
        }
    }
  return newest > 0 ? newest : fallback;
}

/* Stores @entity, the report(s) @reports, as the newest word of its key. */
static gboolean
store_report (MsgtrkdService *self,
              const char     *envid,
              const char     *source,
              const char     *origin,
              gint64          received_at,
              GPtrArray      *reports,
              GBytes         *entity,
              gboolean       *is_new,
              GError        **error)
{
  g_autofree char *key = report_key (reports);

  return msgtrkd_store_put_report (self->store, envid, source, origin, key,
                                   report_date (reports, received_at), received_at, entity,
                                   is_new, error);
}

/* ---- status, route, events ---- */

static RouteCache *
get_route_cache (MsgtrkdService *self,
                 const char     *envid)
{
  RouteCache *cache = g_hash_table_lookup (self->routes, envid);

  if (cache == NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *json = msgtrkd_store_get_latest_snapshot (self->store, envid, &error);

      if (error != NULL)
        g_debug ("no snapshot of %s: %s", envid, error->message);
      cache = g_new0 (RouteCache, 1);
      cache->mtqp_hops = msgtrkd_route_hops_from_json (json);
      if (json != NULL)
        {
          g_autoptr (JsonParser) parser = json_parser_new ();

          if (json_parser_load_from_data (parser, json, -1, NULL)
              && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
            {
              JsonObject *root = json_node_get_object (json_parser_get_root (parser));
              JsonArray *w = json_object_has_member (root, "warnings")
                               ? json_object_get_array_member (root, "warnings") : NULL;
              g_autoptr (GStrvBuilder) b = g_strv_builder_new ();

              for (guint i = 0; w != NULL && i < json_array_get_length (w); i++)
                if (json_array_get_string_element (w, i) != NULL)
                  g_strv_builder_add (b, json_array_get_string_element (w, i));
              cache->warnings = g_strv_builder_end (b);
            }
        }
      g_hash_table_insert (self->routes, g_strdup (envid), cache);
    }
  return cache;
}

/* The whole route JSON of a message, from the store and the MTQP cache. */
static char *
build_route_json (MsgtrkdService       *self,
                  const MsgtrkdMessage *m,
                  gboolean              with_poll_times,
                  GError              **error)
{
  g_autoptr (GPtrArray) parsed = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (MsgtrkStatus) status = NULL;
  RouteCache *cache;

  parsed = parsed_reports (self, m->envid, error);
  if (parsed == NULL)
    return NULL;
  events = msgtrkd_store_list_events (self->store, m->envid, error);
  if (events == NULL)
    return NULL;
  status = msgtrkd_route_compute_status (m, parsed);
  cache = get_route_cache (self, m->envid);
  return msgtrkd_route_build_json (m, status, cache->mtqp_hops, parsed, events,
                                   (const char * const *) cache->warnings, with_poll_times);
}

static void
add_event (MsgtrkdService *self,
           const char     *envid,
           const char     *source,
           const char     *text)
{
  g_autoptr (GError) error = NULL;

  if (!msgtrkd_store_add_event (self->store, envid, now_seconds (), source, text, &error))
    g_warning ("Cannot record an event of %s: %s", envid, error->message);
}

/* An event, unless the newest event of the message already says the same. */
static void
add_event_once (MsgtrkdService *self,
                const char     *envid,
                const char     *source,
                const char     *text)
{
  g_autoptr (GPtrArray) events = msgtrkd_store_list_events (self->store, envid, NULL);

  for (guint i = 0; events != NULL && i < events->len; i++)
    {
      MsgtrkdEvent *ev = g_ptr_array_index (events, i);

      if (g_strcmp0 (ev->text, text) == 0)
        return;
    }
  add_event (self, envid, source, text);
}

static void
notify_transition (MsgtrkdService       *self,
                   const MsgtrkdMessage *m,
                   const char           *old_state)
{
  const char *key = NULL;
  const char *title = NULL;
  g_autoptr (GNotification) n = NULL;
  g_autofree char *full_title = NULL;

  if (g_strcmp0 (old_state, m->state) == 0)
    return;
  if (g_strcmp0 (m->state, "delivered") == 0)
    key = "notify-delivered", title = _("Delivered");
  else if (g_strcmp0 (m->state, "delayed") == 0)
    key = "notify-delayed", title = _("Delayed");
  else if (g_strcmp0 (m->state, "failed") == 0)
    key = "notify-failed", title = _("Delivery failed");
  if (key == NULL || !g_settings_get_boolean (self->settings, key))
    return;
  full_title = g_strdup_printf ("%s: %s", title,
                                m->subject != NULL && *m->subject != '\0' ? m->subject
                                                                         : _("(no subject)"));
  n = g_notification_new (full_title);
  g_notification_set_body (n, m->summary);
  g_notification_set_default_action_and_target (n, "app.show", "s", m->envid);
  g_application_send_notification (self->app, m->envid, n);
}

/* Whether @m's recipients are learnt from its reports rather than given by Prepare: a
 * message tracked through an imported link, or one whose list is still empty. */
static gboolean
learns_recipients (const MsgtrkdMessage *m)
{
  return g_strcmp0 (m->tracking, MSGTRKD_TRACKING_DELEGATED) == 0 || m->recipients == NULL
         || m->recipients[0] == NULL;
}

/* Adds to @m's recipients, in the order first learnt, every recipient any of @parsed names
 * (docs/status.md, "Without a list"), when @m learns its recipients. Every report counts,
 * not only the first one: the DSNs of a delegated message come one recipient at a time.
 * Returns whether the list grew. */
static gboolean
learn_recipients (MsgtrkdMessage *m,
                  GPtrArray      *parsed)
{
  g_autoptr (MsgtrkdMessage) blank = NULL;
  g_autoptr (MsgtrkStatus) learning = NULL;
  g_auto (GStrv) learnt = NULL;
  g_autoptr (GStrvBuilder) merged = NULL;
  g_autoptr (GHashTable) seen = NULL;
  gboolean grew = FALSE;

  if (!learns_recipients (m) || parsed->len == 0)
    return FALSE;
  blank = msgtrkd_message_copy (m);
  g_clear_pointer (&blank->recipients, g_strfreev);
  learning = msgtrkd_route_compute_status (blank, parsed);
  learnt = msgtrk_status_list_recipients (learning);
  if (learnt == NULL || learnt[0] == NULL)
    return FALSE;

  merged = g_strv_builder_new ();
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; m->recipients != NULL && m->recipients[i] != NULL; i++)
    if (g_hash_table_add (seen, g_utf8_casefold (m->recipients[i], -1)))
      g_strv_builder_add (merged, m->recipients[i]);
  for (guint i = 0; learnt[i] != NULL; i++)
    {
      if (g_hash_table_size (seen) >= MSGTRKD_STORE_MAX_RECIPIENTS)
        break;
      if (g_hash_table_add (seen, g_utf8_casefold (learnt[i], -1)))
        {
          g_strv_builder_add (merged, learnt[i]);
          grew = TRUE;
        }
    }
  if (grew)
    {
      g_strfreev (m->recipients);
      m->recipients = g_strv_builder_end (merged);
    }
  return grew;
}

/* Recompute state and summary of @envid from every stored report; store them, store a
 * snapshot if the map changed (@snapshot), emit StatusChanged if state or summary
 * changed. @route: a fresh tracker run, or NULL. @polled_at: sets last_poll_at if > 0. */
static void
recompute (MsgtrkdService *self,
           const char     *envid,
           MsgtrkRoute    *route,
           gint64          polled_at,
           gboolean        snapshot)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (GPtrArray) parsed = NULL;
  g_autoptr (MsgtrkStatus) status = NULL;
  g_autofree char *old_state = NULL;
  g_autofree char *old_summary = NULL;
  char *state = NULL;
  char *summary = NULL;
  gboolean final = FALSE;
  gboolean learnt_more;
  gboolean changed;

  m = msgtrkd_store_get_message (self->store, envid, &error);
  if (m == NULL)
    {
      g_debug ("recompute %s: %s", envid, error->message);
      return;
    }
  parsed = parsed_reports (self, envid, &error);
  if (parsed == NULL)
    {
      g_warning ("Cannot read the reports of %s: %s", envid, error->message);
      return;
    }
  learnt_more = learn_recipients (m, parsed);
  status = msgtrkd_route_compute_status (m, parsed);
  msgtrkd_route_overall (m, status, parsed->len > 0, &state, &summary, &final);

  old_state = g_steal_pointer (&m->state);
  old_summary = g_steal_pointer (&m->summary);
  m->state = state;
  m->summary = summary;
  changed = g_strcmp0 (old_state, state) != 0 || g_strcmp0 (old_summary, summary) != 0;
  if (final)
    {
      m->final = TRUE;
      m->next_poll_at = 0;
    }
  else if (learnt_more && m->final && is_polled (m))
    {
      /* A new recipient of a delegated message is not final yet: track it again. */
      m->final = FALSE;
      if (m->next_poll_at == 0)
        m->next_poll_at = now_seconds () + self->first_poll;
    }
  if (polled_at > 0)
    m->last_poll_at = polled_at;
  if (!msgtrkd_store_update_message (self->store, m, &error))
    {
      g_warning ("Cannot record the status of %s: %s", envid, error->message);
      return;
    }

  if (snapshot)
    {
      g_autofree char *json = build_route_json (self, m, FALSE, &error);
      g_autofree char *latest = NULL;

      if (json != NULL)
        latest = msgtrkd_store_get_latest_snapshot (self->store, envid, NULL);
      if (json != NULL && g_strcmp0 (json, latest) != 0
          && !msgtrkd_store_add_snapshot (self->store, envid, now_seconds (), json, &error))
        g_warning ("Cannot record the route of %s: %s", envid, error->message);
      else if (json == NULL)
        g_warning ("Cannot build the route of %s: %s", envid, error->message);
    }

  if (changed)
    {
      g_debug ("%s: %s (%s)", envid, m->state, m->summary);
      msgtrk_dbus_tracker1_emit_status_changed (self->skeleton, envid, m->state, m->summary);
      notify_transition (self, m, old_state);
    }
}

/* ---- the scheduler's results ---- */

static char *
entry_event_text (MsgtrkReport          *report,
                  MsgtrkRecipientReport *entry,
                  const char            *prefix)
{
  GString *text = g_string_new (NULL);
  const char *action = msgtrk_recipient_report_get_action_text (entry);
  const char *rcpt = msgtrk_recipient_report_get_final_recipient (entry);
  const char *status = msgtrk_recipient_report_get_status (entry);
  const char *remote = msgtrk_recipient_report_get_remote_mta (entry);
  const char *mta = msgtrk_report_get_reporting_mta (report);

  if (mta == NULL)
    mta = msgtrk_report_get_reporting_ua (report);
  g_string_append_printf (text, "%s%s: %s — ", prefix, mta != NULL ? mta : "?",
                          rcpt != NULL ? rcpt : "?");
  if (action == NULL && msgtrk_recipient_report_get_disposition_text (entry) != NULL)
    /* an MDN: its disposition as written */
    g_string_append (text, msgtrk_recipient_report_get_disposition_text (entry));
  else
    {
      /* what the hop did in the user's words ("Handed to relay.example.net"), as the CLI
       * and the viewer say it (helper/common/msgtrk-states.c) */
      g_autofree char *words = msgtrk_states_describe_action (action, remote);

      g_string_append (text, words);
    }
  if (status != NULL)
    g_string_append_printf (text, " (%s)", status);
  return g_string_free (text, FALSE);
}

static void
poll_done (const char   *envid,
           MsgtrkRoute  *route,
           const GError *error,
           gpointer      user_data)
{
  MsgtrkdService *self = user_data;
  gint64 now = now_seconds ();

  if (self->shut_down)
    return;
  if (route == NULL)
    {
      g_autofree char *text = NULL;

      if (g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING))
        {
          g_autoptr (MsgtrkdMessage) m = msgtrkd_store_get_message (self->store, envid, NULL);

          text = g_strdup (_("The tracking secret is missing from the keyring: tracking stopped"));
          if (m != NULL)
            {
              m->next_poll_at = 0;
              if (!msgtrkd_store_update_message (self->store, m, NULL))
                g_warning ("Cannot stop polling %s", envid);
            }
        }
      else if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE))
        text = g_strdup_printf (_("Warning: %s"), error->message);
      else
        text = g_strdup_printf (_("Tracking failed: %s"), error->message);
      g_message ("%s: %s", envid, text);
      add_event_once (self, envid,
                      g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE)
                        ? "warning" : "error",
                      text);
      recompute (self, envid, NULL, now, FALSE);
      msgtrkd_scheduler_reschedule (self->scheduler);
      return;
    }

  {
    GPtrArray *reports = msgtrk_route_get_reports (route);
    g_autoptr (GStrvBuilder) warnings = g_strv_builder_new ();
    g_auto (GStrv) recipients = msgtrk_route_list_recipients (route);
    RouteCache *cache;

    for (guint i = 0; reports != NULL && i < reports->len; i++)
      {
        MsgtrkReport *report = g_ptr_array_index (reports, i);
        g_autoptr (GPtrArray) one = g_ptr_array_new ();
        g_autoptr (GBytes) entity = NULL;
        g_autoptr (GError) local_error = NULL;
        gboolean is_new = FALSE;
        GPtrArray *entries;

        g_ptr_array_add (one, report);
        entity = msgtrk_report_build_tracking_entity (one, &local_error);
        if (entity == NULL)
          {
            g_warning ("Cannot keep a report of %s: %s", envid, local_error->message);
            continue;
          }
        /* A delayed hop answers anew at each poll: its newest answer replaces the older. */
        if (!store_report (self, envid, "mtqp", msgtrk_report_get_reporting_mta (report), now,
                           one, entity, &is_new, &local_error))
          {
            g_warning ("Cannot store a report of %s: %s", envid, local_error->message);
            continue;
          }
        if (!is_new)
          continue;
        entries = msgtrk_report_get_recipients (report);
        for (guint j = 0; entries != NULL && j < entries->len; j++)
          {
            g_autofree char *text = entry_event_text (report, g_ptr_array_index (entries, j),
                                                      "");

            /* A delayed hop answers anew at each poll: one event per distinct word. */
            add_event_once (self, envid, "mtqp", text);
          }
      }

    /* A TLS downgrade (or another broken link) is a warning on the map and an event. */
    for (guint i = 0; recipients != NULL && recipients[i] != NULL; i++)
      {
        GPtrArray *hops = msgtrk_route_get_hops (route, recipients[i]);

        for (guint j = 0; hops != NULL && j < hops->len; j++)
          {
            MsgtrkRouteHop *hop = g_ptr_array_index (hops, j);
            const GError *e = msgtrk_route_hop_get_error (hop);
            g_autofree char *text = NULL;

            if (!msgtrk_route_hop_is_broken (hop) || e == NULL
                || !g_error_matches (e, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE))
              continue;
            text = g_strdup_printf (_("Warning: %s: %s"), msgtrk_route_hop_get_server (hop),
                                    e->message);
            g_strv_builder_add (warnings, text);
            add_event_once (self, envid, "warning", text);
          }
      }

    cache = g_new0 (RouteCache, 1);
    cache->mtqp_hops = msgtrkd_route_hops_from_route (route);
    cache->warnings = g_strv_builder_end (warnings);
    g_hash_table_replace (self->routes, g_strdup (envid), cache);
  }
  recompute (self, envid, route, now, TRUE);
  msgtrkd_scheduler_reschedule (self->scheduler);
}

/* Remember the MTQP server discovery found for the message (the first that answered with
 * tracking data): ExportUrl names it, never the submission host, which may be "localhost"
 * or an address only the sender can reach. Then the poll's own handling. A message that
 * is final afterwards leaves the in-memory route cache (get_route_cache() reads its
 * snapshot back when asked), so the cache holds the messages still polled, not every
 * message ever tracked (10,000 cached routes were most of msgtrkd's memory). */
static void
poll_done_found_server (const char   *envid,
                        MsgtrkRoute  *route,
                        const GError *error,
                        gpointer      user_data)
{
  MsgtrkdService *self = user_data;
  guint16 port = 0;
  const char *host = route != NULL ? msgtrk_route_get_found_server (route, &port) : NULL;

  if (host != NULL && !self->shut_down)
    {
      g_autoptr (MsgtrkdMessage) m = msgtrkd_store_get_message (self->store, envid, NULL);
      g_autofree char *authority = NULL;

      if (port == 0 || port == MSGTRK_MTQP_PORT)
        authority = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]", host)
                                               : g_strdup (host);
      else
        authority = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]:%u", host, port)
                                               : g_strdup_printf ("%s:%u", host, port);
      if (m != NULL && g_strcmp0 (m->mtqp_server, authority) != 0)
        {
          g_autoptr (GError) local_error = NULL;

          g_free (m->mtqp_server);
          m->mtqp_server = g_steal_pointer (&authority);
          if (!msgtrkd_store_update_message (self->store, m, &local_error))
            g_warning ("Cannot record the tracking server of %s: %s", envid,
                       local_error->message);
        }
    }
  poll_done (envid, route, error, user_data);
  if (!self->shut_down)
    {
      g_autoptr (MsgtrkdMessage) after = msgtrkd_store_get_message (self->store, envid, NULL);

      if (after != NULL && after->final)
        g_hash_table_remove (self->routes, envid);
    }
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

/* ---- Prepare ---- */

/* A normalised address with a non-empty local part and domain, or NULL. */
static char *
normalize_mailbox (const char *address)
{
  g_autofree char *norm = NULL;
  const char *at;

  if (address == NULL || strlen (address) > MSGTRKD_MAX_FIELD_LENGTH)
    return NULL;
  norm = msgtrk_address_normalize (address);
  if (norm == NULL)
    return NULL;
  at = strrchr (norm, '@');
  if (at == NULL || at == norm || at[1] == '\0' || strpbrk (norm, " \t<>") != NULL)
    return NULL;
  return g_steal_pointer (&norm);
}

static gboolean
valid_host (const char *host)
{
  if (host == NULL || *host == '\0' || strlen (host) > 255)
    return FALSE;
  for (const char *p = host; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-._:[]", *p) == NULL)
      return FALSE;
  return TRUE;
}

static char *
strip_message_id (const char *message_id)
{
  g_autofree char *text = g_strstrip (g_strdup (message_id != NULL ? message_id : ""));
  gsize len = strlen (text);

  if (len >= 2 && text[0] == '<' && text[len - 1] == '>')
    {
      text[len - 1] = '\0';
      memmove (text, text + 1, len - 1);
    }
  if (*text == '\0')
    return NULL;
  return g_steal_pointer (&text);
}

/* MSGTRKD_MAX_ABORTED_ATTEMPTS: most earlier, never-sent attempts of one message that a
 * Prepare clears away (each Prepare clears the one before, so one is the usual count). */
#define MSGTRKD_MAX_ABORTED_ATTEMPTS 16

/* A send that is retried is one message: before a new attempt of @message_id is
 * prepared, forget the newest earlier attempts that were aborted (never sent; their secret
 * is already deleted), so that List shows one entry, not a "Not sent" one beside it. A
 * Message-ID names one message whatever account sends it; a copy that was sent stays (and
 * ends the search). Errors are only logged: the new attempt goes on. */
static void
forget_aborted_attempts (MsgtrkdService *self,
                         const char     *message_id)
{
  g_autofree char *stripped = strip_message_id (message_id);

  for (guint i = 0; stripped != NULL && i < MSGTRKD_MAX_ABORTED_ATTEMPTS; i++)
    {
      g_autoptr (MsgtrkdMessage) old = msgtrkd_store_get_message (self->store, stripped, NULL);
      g_autoptr (GError) error = NULL;

      if (old == NULL || g_strcmp0 (old->message_id, stripped) != 0
          || g_strcmp0 (old->tracking, MSGTRKD_TRACKING_ABORTED) != 0)
        return;
      g_hash_table_remove (self->routes, old->envid);
      if (!msgtrkd_store_forget (self->store, old->envid, &error))
        {
          g_warning ("Cannot forget the aborted attempt %s: %s", old->envid, error->message);
          return;
        }
      g_debug ("Forgot the aborted attempt %s of <%s>", old->envid, stripped);
    }
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

/* Delete A of @envid; nobody waits (the copy of @envid lives until the callback). */
static void
delete_in_background (MsgtrkdService *self,
                      const char     *envid)
{
  char *copy = g_strdup (envid);

  msgtrkd_keyring_delete_async (self->keyring, copy, NULL, deleted_in_background, copy);
}

/* A is derived from the master secret (docs/secret-derivation.md): nothing is stored in the
 * keyring per message; the first Prepare makes the master. */
static void
prepare_derived (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  Call *call = data;
  MsgtrkdService *self = call->service;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSecret) secret = NULL;
  g_autofree char *text = NULL;
  char *a;

  a = msgtrkd_keyring_derive_finish (MSGTRKD_KEYRING (source), result, &error);
  if (a != NULL)
    secret = msgtrk_secret_new_from_base64 (a, &error);
  msgtrk_secure_free_string (a);
  if (secret == NULL)
    {
      g_message ("Prepare: no tracking secret could be made: %s", error->message);
      return_error (call->invocation, error);
      call_free (call);
      return;
    }
  call->authenticator = msgtrk_secret_compute_authenticator (secret);
  call->message->secret_derived = TRUE;
  if (!msgtrkd_store_add_message (self->store, call->message, &error))
    {
      return_error (call->invocation, error);
      call_free (call);
      return;
    }
  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Prepared for %u recipient",
                                       "Prepared for %u recipients",
                                       g_strv_length (call->message->recipients)),
                          g_strv_length (call->message->recipients));
  add_event (self, call->envid, "local", text);
  msgtrk_dbus_tracker1_emit_status_changed (self->skeleton, call->envid, call->message->state,
                                            call->message->summary);
  msgtrk_dbus_tracker1_complete_prepare (self->skeleton, call->invocation, call->envid,
                                         call->authenticator, call->timeout);
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
  g_autofree char *norm_sender = normalize_mailbox (sender);
  g_autoptr (GStrvBuilder) rcpts = g_strv_builder_new ();
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *domain = NULL;
  MsgtrkdMessage *m;
  Call *call;
  guint n = 0;

  if (norm_sender == NULL)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (sender, 100);

      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("The sender “%s” is not a mail address with a domain"), quoted);
      return TRUE;
    }
  if (recipients == NULL || recipients[0] == NULL)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("A tracked message needs at least one recipient"));
      return TRUE;
    }
  if (g_strv_length ((char **) recipients) > MSGTRKD_MAX_RECIPIENTS)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("A tracked message can have at most %d recipients"),
                        MSGTRKD_MAX_RECIPIENTS);
      return TRUE;
    }
  for (guint i = 0; recipients[i] != NULL; i++)
    {
      g_autofree char *norm = normalize_mailbox (recipients[i]);

      if (norm == NULL)
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (recipients[i], 100);

          return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                            _("The recipient “%s” is not a mail address with a domain"),
                            quoted);
          return TRUE;
        }
      if (g_hash_table_add (seen, g_utf8_casefold (norm, -1)))
        {
          g_strv_builder_add (rcpts, norm);
          n++;
        }
    }
  if (!valid_host (submission_host))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (submission_host, 100);

      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("The submission server “%s” is not a host name"), quoted);
      return TRUE;
    }
  if ((message_id != NULL && strlen (message_id) > MSGTRKD_MAX_FIELD_LENGTH)
      || (subject != NULL && strlen (subject) > MSGTRKD_MAX_FIELD_LENGTH)
      || (subject != NULL && !g_utf8_validate (subject, -1, NULL))
      || (message_id != NULL && !g_utf8_validate (message_id, -1, NULL)))
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("The subject or Message-ID is not UTF-8 or longer than %d bytes"),
                        MSGTRKD_MAX_FIELD_LENGTH);
      return TRUE;
    }

  forget_aborted_attempts (self, message_id);
  domain = g_strdup (strrchr (norm_sender, '@') + 1);
  call = call_new (self, invocation);
  call->envid = msgtrk_envid_generate (domain, &error);
  if (call->envid == NULL)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT, "%s", error->message);
      call_free (call);
      return TRUE;
    }
  call->timeout = g_settings_get_uint (self->settings, "mtrk-timeout");

  m = msgtrkd_message_new ();
  m->envid = g_strdup (call->envid);
  m->message_id = strip_message_id (message_id);
  m->subject = subject != NULL && *subject != '\0' ? g_strdup (subject) : NULL;
  m->sender = g_strdup (norm_sender);
  m->recipients = g_strv_builder_end (rcpts);
  m->submission_host = g_ascii_strdown (submission_host, -1);
  m->tracking = g_strdup (MSGTRKD_TRACKING_PENDING);
  m->mtrk_timeout = call->timeout;
  m->prepared_at = now_seconds ();
  m->state = g_strdup ("sending");
  m->summary = g_strdup (_("Sending…"));
  m->secret_derived = TRUE;
  call->message = m;

  msgtrkd_keyring_derive_async (self->keyring, call->envid, TRUE, NULL, prepare_derived, call);
  return TRUE;
}

/* ---- Committed, Aborted ---- */

static gboolean
handle_committed (MsgtrkDBusTracker1    *skeleton,
                  GDBusMethodInvocation *invocation,
                  const char            *envid,
                  const char * const    *offered,
                  const char            *server_reply,
                  MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;
  g_auto (GStrv) keywords = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *text = NULL;
  gint64 now = now_seconds ();

  if (offered != NULL && g_strv_length ((char **) offered) > MSGTRKD_MAX_CAPABILITIES)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("At most %d EHLO keywords are accepted"), MSGTRKD_MAX_CAPABILITIES);
      return TRUE;
    }
  if (server_reply != NULL && strlen (server_reply) > MSGTRKD_MAX_REPLY_LENGTH)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("The server reply is longer than %d bytes"), MSGTRKD_MAX_REPLY_LENGTH);
      return TRUE;
    }
  m = get_message (self, envid, invocation);
  if (m == NULL)
    return TRUE;
  if (g_strcmp0 (m->tracking, MSGTRKD_TRACKING_PENDING) != 0)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (m->envid, 120);

      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("The message “%s” is not waiting to be sent (tracking: %s)"), quoted,
                        m->tracking);
      return TRUE;
    }

  {
    static const char *const none[] = { NULL };

    caps = msgtrk_smtp_capabilities_new_from_keywords (offered != NULL ? offered : none);
  }
  keywords = msgtrk_smtp_capabilities_list_keywords (caps);
  reply = g_strstrip (g_strdup (server_reply != NULL ? server_reply : ""));
  if (!g_utf8_validate (reply, -1, NULL))
    {
      g_free (reply);
      reply = g_utf8_make_valid (server_reply, -1);
    }
  for (char *p = reply; *p != '\0'; p++)
    if ((guchar) *p < 0x20)
      *p = ' ';

  g_free (m->offered);
  m->offered = g_strjoinv (" ", keywords);
  g_free (m->server_reply);
  m->server_reply = *reply != '\0' ? g_strdup (reply) : NULL;
  m->committed_at = now;
  m->expires_at = now + m->mtrk_timeout;
  g_free (m->tracking);
  if (msgtrk_smtp_capabilities_has (caps, "MTRK"))
    {
      m->tracking = g_strdup (MSGTRKD_TRACKING_MTQP);
      m->next_poll_at = now + self->first_poll;
      m->poll_count = 0;
    }
  else if (msgtrk_smtp_capabilities_has (caps, "DSN"))
    m->tracking = g_strdup (MSGTRKD_TRACKING_DSN);
  else
    m->tracking = g_strdup (MSGTRKD_TRACKING_NONE);
  if (!msgtrkd_store_update_message (self->store, m, &error))
    {
      return_error (invocation, error);
      return TRUE;
    }
  if (*reply != '\0')
    text = g_strdup_printf (_("Sent to %s (%s)"), m->submission_host, reply);
  else
    text = g_strdup_printf (_("Sent to %s"), m->submission_host);
  add_event (self, m->envid, "local", text);
  if (g_str_equal (m->tracking, MSGTRKD_TRACKING_NONE))
    {
      g_autofree char *none_text = g_strdup_printf (_("%s offered neither MTRK nor DSN"),
                                                    m->submission_host);

      add_event (self, m->envid, "local", none_text);
    }
  recompute (self, m->envid, NULL, 0, FALSE);
  msgtrkd_scheduler_reschedule (self->scheduler);
  msgtrk_dbus_tracker1_complete_committed (skeleton, invocation);
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
  msgtrk_dbus_tracker1_complete_aborted (call->service->skeleton, call->invocation);
  call_free (call);
}

static gboolean
handle_aborted (MsgtrkDBusTracker1    *skeleton,
                GDBusMethodInvocation *invocation,
                const char            *envid,
                const char            *reason,
                MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *clean = NULL;
  Call *call;

  if (reason != NULL && strlen (reason) > MSGTRKD_MAX_REPLY_LENGTH)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("The reason is longer than %d bytes"), MSGTRKD_MAX_REPLY_LENGTH);
      return TRUE;
    }
  m = get_message (self, envid, invocation);
  if (m == NULL)
    return TRUE;
  g_free (m->tracking);
  m->tracking = g_strdup (MSGTRKD_TRACKING_ABORTED);
  m->final = TRUE;
  m->next_poll_at = 0;
  if (!msgtrkd_store_update_message (self->store, m, &error))
    {
      return_error (invocation, error);
      return TRUE;
    }
  clean = g_utf8_make_valid (reason != NULL ? reason : "", -1);
  for (char *p = clean; *p != '\0'; p++)
    if ((guchar) *p < 0x20)
      *p = ' ';
  g_strstrip (clean);
  text = *clean != '\0' ? g_strdup_printf (_("Not sent: %s"), clean) : g_strdup (_("Not sent"));
  add_event (self, m->envid, "local", text);
  msgtrkd_scheduler_cancel (self->scheduler, m->envid);
  recompute (self, m->envid, NULL, 0, FALSE);
  msgtrkd_scheduler_reschedule (self->scheduler);

  if (m->secret_derived)
    {
      /* A derived A has no item of its own to delete. */
      msgtrk_dbus_tracker1_complete_aborted (skeleton, invocation);
      return TRUE;
    }
  call = call_new (self, invocation);
  call->envid = g_strdup (m->envid);
  /* call->envid, not m->envid: it must live until the callback. */
  msgtrkd_keyring_delete_async (self->keyring, call->envid, NULL, aborted_deleted, call);
  return TRUE;
}

/* ---- Track, GetStatus, GetRoute, List ---- */

static gboolean
handle_track (MsgtrkDBusTracker1    *skeleton,
              GDBusMethodInvocation *invocation,
              const char            *id,
              MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = get_message (self, id, invocation);

  if (m == NULL)
    return TRUE;
  if (!is_polled (m))
    {
      return_new_error (invocation, MSGTRKD_ERROR_NOT_TRACKABLE,
                        _("This message cannot be tracked over MTQP (tracking: %s)"),
                        m->tracking);
      return TRUE;
    }
  if (m->expires_at > 0 && now_seconds () >= m->expires_at)
    {
      return_new_error (invocation, MSGTRKD_ERROR_NOT_TRACKABLE,
                        _("The servers no longer keep tracking information for this message "
                          "(its tracking time has passed)"));
      return TRUE;
    }
  msgtrkd_scheduler_poll_now (self->scheduler, m->envid);
  msgtrk_dbus_tracker1_complete_track (skeleton, invocation);
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

static gboolean
handle_get_route (MsgtrkDBusTracker1    *skeleton,
                  GDBusMethodInvocation *invocation,
                  const char            *id,
                  MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = get_message (self, id, invocation);
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;

  if (m == NULL)
    return TRUE;
  json = build_route_json (self, m, TRUE, &error);
  if (json == NULL)
    {
      return_error (invocation, error);
      return TRUE;
    }
  msgtrk_dbus_tracker1_complete_get_route (skeleton, invocation, json);
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
  if (secret == NULL)
    {
      return_error (call->invocation, error);
      call_free (call);
      return;
    }
  /* call->host is an authority, "host", "host:port" or "[v6]:port". */
  server = G_NETWORK_ADDRESS (g_network_address_parse (call->host, MSGTRK_MTQP_PORT, &error));
  if (server != NULL)
    url = msgtrk_url_new (g_network_address_get_hostname (server),
                          g_network_address_get_port (server), call->envid, secret, &error);
  msgtrk_secure_free_string (secret);
  if (url == NULL)
    {
      return_error (call->invocation, error);
      call_free (call);
      return;
    }
  call->secret = msgtrk_url_to_string (url);
  msgtrk_dbus_tracker1_complete_export_url (call->service->skeleton, call->invocation,
                                            call->secret);
  call_free (call);
}

/* The URL names the MTQP server found for the message: the first server that answered it
 * (discovery from the submission host), or for a delegated message the server its own
 * link named. Never the submission host itself: "localhost" or an address is useless to
 * anyone else. */
static gboolean
handle_export_url (MsgtrkDBusTracker1    *skeleton,
                   GDBusMethodInvocation *invocation,
                   const char            *id,
                   MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = get_message (self, id, invocation);
  Call *call;

  if (m == NULL)
    return TRUE;
  if (!is_polled (m) || m->submission_host == NULL)
    {
      return_new_error (invocation, MSGTRKD_ERROR_NOT_TRACKABLE,
                        _("This message cannot be tracked over MTQP (tracking: %s), so there "
                          "is no tracking link to share"), m->tracking);
      return TRUE;
    }
  call = call_new (self, invocation);
  call->envid = g_strdup (m->envid);
  /* A delegated message: the server (and port) of the link it came from, which reached it;
   * the port a host override reached it on is not the discovered one. */
  if (g_str_equal (m->tracking, MSGTRKD_TRACKING_DELEGATED))
    call->host = m->mtqp_port != NULL
                     ? g_strdup_printf (strchr (m->submission_host, ':') != NULL ? "[%s]:%s"
                                                                                 : "%s:%s",
                                        m->submission_host, m->mtqp_port)
                     : g_strdup_printf (strchr (m->submission_host, ':') != NULL ? "[%s]" : "%s",
                                        m->submission_host);
  else if (m->mtqp_server != NULL)
    call->host = g_strdup (m->mtqp_server);
  else
    {
      return_new_error (invocation, MSGTRKD_ERROR_NO_SERVER_YET,
                        _("No tracking server has been found for this message yet, so there "
                          "is no link to share; try again once its status has been updated"));
      call_free (call);
      return TRUE;
    }
  msgtrkd_keyring_secret_async (self->keyring, call->envid, m->secret_derived, NULL,
                                export_looked_up, call);
  return TRUE;
}

static void
import_stored (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  Call *call = data;
  MsgtrkdService *self = call->service;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;

  msgtrk_secure_free_string (g_steal_pointer (&call->secret));
  if (!msgtrkd_keyring_store_finish (MSGTRKD_KEYRING (source), result, &error))
    {
      return_error (call->invocation, error);
      call_free (call);
      return;
    }
  if (!msgtrkd_store_add_message (self->store, call->message, &error))
    {
      delete_in_background (self, call->envid);
      return_error (call->invocation, error);
      call_free (call);
      return;
    }
  text = g_strdup_printf (_("Imported from a tracking link for %s"), call->host);
  add_event (self, call->envid, "local", text);
  msgtrk_dbus_tracker1_emit_status_changed (self->skeleton, call->envid, call->message->state,
                                            call->message->summary);
  msgtrkd_scheduler_poll_now (self->scheduler, call->envid);
  msgtrkd_scheduler_reschedule (self->scheduler);
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
  MsgtrkdMessage *m;
  Call *call;
  gint64 now = now_seconds ();

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

  call = call_new (self, invocation);
  call->envid = g_strdup (msgtrk_url_get_envid (url));
  call->host = g_ascii_strdown (msgtrk_url_get_host (url), -1);
  call->secret = g_strdup (msgtrk_url_get_secret (url));
  if (msgtrk_url_get_port (url) != MSGTRK_MTQP_PORT)
    call->port = g_strdup_printf ("%u", (guint) msgtrk_url_get_port (url));

  m = msgtrkd_message_new ();
  m->envid = g_strdup (call->envid);
  m->recipients = g_new0 (char *, 1);
  m->submission_host = g_strdup (call->host);
  m->mtqp_port = g_strdup (call->port);
  m->tracking = g_strdup (MSGTRKD_TRACKING_DELEGATED);
  m->mtrk_timeout = g_settings_get_uint (self->settings, "mtrk-timeout");
  m->prepared_at = now;
  m->expires_at = now + m->mtrk_timeout;
  m->next_poll_at = now;
  m->state = g_strdup (msgtrk_recipient_state_to_string (MSGTRK_RECIPIENT_STATE_IN_TRANSIT));
  m->summary = g_strdup (_("In transit"));
  call->message = m;

  call->label = g_strdup_printf (_("Tracking secret for a delegated message (%s)"),
                                 call->envid);
  msgtrkd_keyring_store_async (self->keyring, call->envid, call->secret, call->label, NULL,
                               import_stored, call);
  return TRUE;
}

/* ---- IngestReport ---- */

/* The tracked message a report is about (docs/dsn-ingestion.md, "Matching"): its
 * Original-Envelope-Id as written, then xtext-decoded (RFC 3464 wants it encoded, Postfix
 * writes it decoded), looked up as an ENVID only; then the Message-ID of the reported
 * message (an MDN's Original-Message-ID, else that of the returned headers). */
static MsgtrkdMessage *
match_report (MsgtrkdService *self,
              MsgtrkReport   *report)
{
  const char *envid = msgtrk_report_get_envid (report);
  const char *message_id = msgtrk_report_get_original_message_id (report);
  g_autofree char *decoded = NULL;
  const char *envids[2] = { envid, NULL };

  if (envid != NULL)
    {
      decoded = msgtrk_xtext_decode (envid, NULL);
      if (decoded != NULL && g_strcmp0 (decoded, envid) != 0)
        envids[1] = decoded;
    }
  for (guint i = 0; i < G_N_ELEMENTS (envids); i++)
    {
      MsgtrkdMessage *m;

      if (envids[i] == NULL || *envids[i] == '\0')
        continue;
      /* The store also takes a Message-ID for an id: accept an ENVID match only. */
      m = msgtrkd_store_get_message (self->store, envids[i], NULL);
      if (m != NULL && g_strcmp0 (m->envid, envids[i]) == 0)
        return m;
      g_clear_pointer (&m, msgtrkd_message_free);
    }
  if (message_id != NULL && *message_id != '\0')
    return msgtrkd_store_get_message (self->store, message_id, NULL);
  return NULL;
}

/* What a report says, as text: its fields written out (msgtrk_report_to_fields(), so line
 * ends, folding and MIME wrapping do not count), without Original-Envelope-Id (an MTA or
 * a forwarder may drop it; matching has tied the report to its message already). Two
 * deliveries of one DSN or MDN give the same text. The reports are not changed (their
 * getters' strings stay valid). */
static char *
reports_fingerprint (GPtrArray *reports)
{
  static const char envid_field[] = "Original-Envelope-Id:";
  GString *out = g_string_new (NULL);

  for (guint i = 0; reports != NULL && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      g_autofree char *fields = msgtrk_report_to_fields (report);
      g_auto (GStrv) lines = g_strsplit (fields, "\r\n", -1);
      gboolean skipping = FALSE;

      g_string_append_printf (out, "%d\n", (int) msgtrk_report_get_kind (report));
      for (guint j = 0; lines[j] != NULL; j++)
        {
          /* A folded line goes with the field before it. */
          if (!(lines[j][0] == ' ' || lines[j][0] == '\t'))
            skipping = g_ascii_strncasecmp (lines[j], envid_field, sizeof envid_field - 1) == 0;
          if (!skipping)
            g_string_append_printf (out, "%s\n", lines[j]);
        }
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

/* Whether a stored report of @envid says exactly what @reports say. */
static gboolean
report_already_known (MsgtrkdService *self,
                      const char     *envid,
                      GPtrArray      *reports)
{
  g_autoptr (GPtrArray) parsed = parsed_reports (self, envid, NULL);
  g_autofree char *mine = NULL;

  if (parsed == NULL || parsed->len == 0)
    return FALSE;
  mine = reports_fingerprint (reports);
  for (guint i = 0; i < parsed->len; i++)
    {
      MsgtrkdParsedReport *p = g_ptr_array_index (parsed, i);
      g_autofree char *theirs = reports_fingerprint (p->reports);

      if (g_str_equal (mine, theirs))
        return TRUE;
    }
  return FALSE;
}

/* A report IngestReport was given, after the worker thread: the extracted entity (what
 * is stored) and its reports. */
typedef struct
{
  GBytes *entity;     /* (owned) */
  GPtrArray *reports; /* (owned) (element-type MsgtrkReport) at least one */
} IngestParsed;

static void
ingest_parsed_free (IngestParsed *parsed)
{
  g_clear_pointer (&parsed->entity, g_bytes_unref);
  g_clear_pointer (&parsed->reports, g_ptr_array_unref);
  g_free (parsed);
}

/* Worker thread: the report parts of the whole message (a bounce may return a 25 MB
 * message; only its report parts are kept, msgtrk_report_extract_bytes()), parsed. Pure
 * CPU work on data of its own: the store and the service are not touched here. */
static void
ingest_extract_thread (GTask        *task,
                       gpointer      source,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  GBytes *raw = task_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) entity = msgtrk_report_extract_bytes (raw, cancellable, &error);
  g_autoptr (GPtrArray) reports = NULL;
  IngestParsed *parsed;

  if (entity != NULL)
    reports = msgtrk_report_parse_entity (entity, &error);
  if (reports == NULL || reports->len == 0)
    {
      if (error == NULL)
        g_set_error (&error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                     _("The message holds no report"));
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  parsed = g_new0 (IngestParsed, 1);
  parsed->entity = g_steal_pointer (&entity);
  parsed->reports = g_steal_pointer (&reports);
  g_task_return_pointer (task, parsed, (GDestroyNotify) ingest_parsed_free);
}

/* Main loop: match the parsed report to its message, store it, recompute. */
static void
ingest_reports (MsgtrkdService        *self,
                GDBusMethodInvocation *invocation,
                GBytes                *entity,
                GPtrArray             *reports)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) m = NULL;
  MsgtrkReport *first;
  const char *source;
  const char *origin;
  gboolean is_new = FALSE;

  for (guint i = 0; i < reports->len && m == NULL; i++)
    m = match_report (self, g_ptr_array_index (reports, i));
  if (m == NULL)
    {
      msgtrk_dbus_tracker1_complete_ingest_report (self->skeleton, invocation, "");
      return;
    }

  first = g_ptr_array_index (reports, 0);
  switch (msgtrk_report_get_kind (first))
    {
    case MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION:
      source = "mdn";
      origin = msgtrk_report_get_reporting_ua (first);
      break;
    case MSGTRK_REPORT_KIND_TRACKING_STATUS:
      source = "mtqp";
      origin = msgtrk_report_get_reporting_mta (first);
      break;
    case MSGTRK_REPORT_KIND_DELIVERY_STATUS:
    default:
      source = "dsn";
      origin = msgtrk_report_get_reporting_mta (first);
      break;
    }
  /* The same report again, maybe with other bytes (CRLF from IMAP, LF from a Maildir,
   * re-encoded, without its ENVID): nothing new; not stored, no event. */
  if (report_already_known (self, m->envid, reports))
    {
      msgtrk_dbus_tracker1_complete_ingest_report (self->skeleton, invocation, m->envid);
      return;
    }
  if (!store_report (self, m->envid, source, origin, now_seconds (), reports, entity, &is_new,
                     &error))
    {
      return_error (invocation, error);
      return;
    }
  if (is_new)
    {
      const char *prefix = g_str_equal (source, "mdn") ? _("MDN from ") : _("DSN from ");

      if (g_str_equal (source, "mtqp"))
        prefix = "";
      for (guint i = 0; i < reports->len; i++)
        {
          MsgtrkReport *report = g_ptr_array_index (reports, i);
          GPtrArray *entries = msgtrk_report_get_recipients (report);

          for (guint j = 0; entries != NULL && j < entries->len; j++)
            {
              g_autofree char *text = entry_event_text (report, g_ptr_array_index (entries, j),
                                                        prefix);

              add_event (self, m->envid, source, text);
            }
        }
      recompute (self, m->envid, NULL, 0, TRUE);
      msgtrkd_scheduler_reschedule (self->scheduler);
    }
  msgtrk_dbus_tracker1_complete_ingest_report (self->skeleton, invocation, m->envid);
}

static void
ingest_extracted (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  IngestParsed *parsed = g_task_propagate_pointer (G_TASK (result), &error);

  if (parsed == NULL)
    return_new_error (call->invocation, MSGTRKD_ERROR_INVALID_ARGUMENT, "%s", error->message);
  else if (call->service->shut_down)
    return_new_error (call->invocation, MSGTRKD_ERROR_FAILED, _("msgtrkd is shutting down"));
  else
    ingest_reports (call->service, call->invocation, parsed->entity, parsed->reports);
  g_clear_pointer (&parsed, ingest_parsed_free);
  call_free (call);
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
  g_autoptr (GTask) task = NULL;

  if (g_bytes_get_size (raw) > MSGTRK_REPORT_MAX_MESSAGE_SIZE)
    {
      return_new_error (invocation, MSGTRKD_ERROR_INVALID_ARGUMENT,
                        _("The message is larger than %d bytes"), MSGTRK_REPORT_MAX_MESSAGE_SIZE);
      return TRUE;
    }
  task = g_task_new (self, NULL, ingest_extracted, call_new (self, invocation));
  g_task_set_source_tag (task, handle_ingest_report);
  g_task_set_task_data (task, g_steal_pointer (&raw), (GDestroyNotify) g_bytes_unref);
  g_task_run_in_thread (task, ingest_extract_thread);
  return TRUE;
}

/* ---- Forget ---- */

static void forget_record (Call *call);

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
      return_error (call->invocation, error);
      call_free (call);
      return;
    }
  forget_record (call);
}

/* The keyring holds nothing more of the message: drop its record and answer. */
static void
forget_record (Call *call)
{
  MsgtrkdService *self = call->service;
  g_autoptr (GError) error = NULL;

  msgtrkd_scheduler_cancel (self->scheduler, call->envid);
  g_hash_table_remove (self->routes, call->envid);
  if (!msgtrkd_store_forget (self->store, call->envid, &error))
    {
      return_error (call->invocation, error);
      call_free (call);
      return;
    }
  g_application_withdraw_notification (self->app, call->envid);
  msgtrkd_scheduler_reschedule (self->scheduler);
  msgtrk_dbus_tracker1_complete_forget (self->skeleton, call->invocation);
  call_free (call);
}

static gboolean
handle_forget (MsgtrkDBusTracker1    *skeleton,
               GDBusMethodInvocation *invocation,
               const char            *id,
               MsgtrkdService        *self)
{
  g_autoptr (MsgtrkdMessage) m = get_message (self, id, invocation);
  Call *call;

  if (m == NULL)
    return TRUE;
  call = call_new (self, invocation);
  call->envid = g_strdup (m->envid);
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
    }
  else
    msgtrk_dbus_tracker1_complete_show_message (call->service->skeleton, call->invocation);
  call_free (call);
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
  g_autoptr (MsgtrkdMessage) m = get_message (self, id, invocation);
  Call *call;

  if (m == NULL)
    return TRUE;
  call = call_new (self, invocation);
  call->envid = g_strdup (m->envid);
  call_viewer (self, m->envid, call);
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

/* ---- life cycle ---- */

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
  g_clear_object (&self->skeleton);
  g_clear_object (&self->connection);
  g_clear_object (&self->client);
  g_clear_object (&self->settings);
  g_clear_object (&self->keyring);
  g_clear_object (&self->store);
  g_clear_pointer (&self->routes, g_hash_table_unref);
  g_queue_init (&self->parsed_lru); /* its links live in the ParsedCache entries */
  g_clear_pointer (&self->parsed, g_hash_table_unref);
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
  self->routes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) route_cache_free);
  self->parsed = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) parsed_cache_free);
  g_queue_init (&self->parsed_lru);
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
  g_autofree char *starttls = NULL;

  self->app = app;
  self->first_poll = options->first_poll;
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

  self->client = msgtrk_mtqp_client_new ();
  msgtrk_mtqp_client_set_tls_policy (self->client, tls_policy_from_settings (self->settings));
  if (options->ca_file != NULL)
    msgtrk_mtqp_client_set_ca_file (self->client, options->ca_file);
  self->scheduler = msgtrkd_scheduler_new (self->store, self->keyring, self->client,
                                           options->poll_schedule, poll_done_found_server,
                                           scheduler_busy,
                                           self);
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
          return NULL;
        }
      name = g_strndup (spec, (gsize) (eq - spec));
      if (!msgtrk_mtqp_client_add_host_override (self->client, name, eq + 1, error))
        return NULL;
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

  self->skeleton = msgtrk_dbus_tracker1_skeleton_new ();
  g_signal_connect (self->skeleton, "g-authorize-method", G_CALLBACK (on_any_call), self);
  g_signal_connect (self->skeleton, "handle-prepare", G_CALLBACK (handle_prepare), self);
  g_signal_connect (self->skeleton, "handle-committed", G_CALLBACK (handle_committed), self);
  g_signal_connect (self->skeleton, "handle-aborted", G_CALLBACK (handle_aborted), self);
  g_signal_connect (self->skeleton, "handle-track", G_CALLBACK (handle_track), self);
  g_signal_connect (self->skeleton, "handle-get-status", G_CALLBACK (handle_get_status), self);
  g_signal_connect (self->skeleton, "handle-get-route", G_CALLBACK (handle_get_route), self);
  g_signal_connect (self->skeleton, "handle-list", G_CALLBACK (handle_list), self);
  g_signal_connect (self->skeleton, "handle-export-url", G_CALLBACK (handle_export_url), self);
  g_signal_connect (self->skeleton, "handle-import-url", G_CALLBACK (handle_import_url), self);
  g_signal_connect (self->skeleton, "handle-ingest-report", G_CALLBACK (handle_ingest_report),
                    self);
  g_signal_connect (self->skeleton, "handle-forget", G_CALLBACK (handle_forget), self);
  g_signal_connect (self->skeleton, "handle-show-message", G_CALLBACK (handle_show_message),
                    self);
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
  msgtrkd_scheduler_shutdown (self->scheduler);
  /* The tick bounds each wait, so the deadline is seen even when nothing else happens. */
  tick = g_timeout_add (100, keep_ticking,
                        NULL);
  while (msgtrkd_scheduler_has_runs (self->scheduler) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  scheduler_busy (FALSE, self);
}
