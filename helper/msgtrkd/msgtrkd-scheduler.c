/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-scheduler.c: the polling scheduler of msgtrkd (see msgtrkd-scheduler.h).
 *
 * State in memory: the armed timer, the runs in flight (envid → run) and, per submission
 * server, a queue of runs waiting for a free slot. Everything else lives in the store.
 * Runs are cancelled on shutdown and on Forget.
 *
 * Limits: MSGTRKD_SCHEDULER_MAX_PER_HOST runs per server, MSGTRKD_SCHEDULER_MAX_STEPS
 * schedule steps of at most MSGTRKD_SCHEDULER_MAX_INTERVAL seconds.
 *
 * Never: log A, keep it after a run, put it in an error.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msgtrk-private.h"
#include "msgtrkd-error.h"
#include "msgtrkd-scheduler.h"

struct _MsgtrkdScheduler
{
  GObject parent_instance;

  MsgtrkdStore *store;          /* (owned) */
  MsgtrkdKeyring *keyring;      /* (owned) */
  MsgtrkMtqpClient *client;     /* (owned) */
  GArray *schedule;             /* (owned) guint seconds */
  MsgtrkdPollDoneFunc done;
  MsgtrkdBusyFunc busy_func;
  gpointer user_data;

  guint timer_id;               /* 0 = no timer */
  GHashTable *in_flight;        /* (owned) envid → PollRun (owned by the table) */
  GHashTable *hosts;            /* (owned) host key → HostQueue */
  GHashTable *fixed_overrides;  /* (owned) names overridden on the command line */
  gboolean busy;
  gboolean shut_down;
};

G_DEFINE_FINAL_TYPE (MsgtrkdScheduler, msgtrkd_scheduler, G_TYPE_OBJECT)

typedef struct
{
  GQueue waiting;  /* (owned) PollRun* not started yet */
  guint running;
} HostQueue;

typedef struct
{
  MsgtrkdScheduler *scheduler;  /* (unowned) the scheduler outlives its runs' callbacks */
  char *envid;
  char *host;                   /* submission host: where tracking starts */
  char *port;                   /* (nullable) port override text (delegated URLs) */
  char *host_key;
  char **recipients;            /* (nullable) */
  char *secret;                 /* (nullable) A while the run needs it; wiped */
  GCancellable *cancellable;
  gboolean started;
} PollRun;

static void start_run (PollRun *run);
static void update_busy (MsgtrkdScheduler *self);

static void
poll_run_free (PollRun *run)
{
  if (run == NULL)
    return;
  g_free (run->envid);
  g_free (run->host);
  g_free (run->port);
  g_free (run->host_key);
  g_strfreev (run->recipients);
  msgtrk_secure_free_string (run->secret);
  g_clear_object (&run->cancellable);
  g_free (run);
}

static void
host_queue_free (HostQueue *q)
{
  g_queue_clear (&q->waiting);
  g_free (q);
}

static void
msgtrkd_scheduler_finalize (GObject *object)
{
  MsgtrkdScheduler *self = MSGTRKD_SCHEDULER (object);

  g_clear_handle_id (&self->timer_id, g_source_remove);
  g_clear_pointer (&self->hosts, g_hash_table_unref);
  g_clear_pointer (&self->in_flight, g_hash_table_unref);
  g_clear_pointer (&self->fixed_overrides, g_hash_table_unref);
  g_clear_pointer (&self->schedule, g_array_unref);
  g_clear_object (&self->store);
  g_clear_object (&self->keyring);
  g_clear_object (&self->client);
  G_OBJECT_CLASS (msgtrkd_scheduler_parent_class)->finalize (object);
}

static void
msgtrkd_scheduler_class_init (MsgtrkdSchedulerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrkd_scheduler_finalize;
}

static void
msgtrkd_scheduler_init (MsgtrkdScheduler *self)
{
  self->in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) poll_run_free);
  self->hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) host_queue_free);
  self->fixed_overrides = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * msgtrkd_scheduler_new:
 * @store: the store
 * @keyring: where A lives
 * @client: the MTQP client (its overrides and STARTTLS memory are shared)
 * @schedule: (element-type guint): backoff intervals in seconds, at least one
 * @done: (scope notified): called on the main loop with each run's result
 * @busy: (scope notified): called when the scheduler becomes busy or idle
 * @user_data: data for @done and @busy
 *
 * Returns: (transfer full): a scheduler; call msgtrkd_scheduler_reschedule() to start
 */
MsgtrkdScheduler *
msgtrkd_scheduler_new (MsgtrkdStore       *store,
                       MsgtrkdKeyring     *keyring,
                       MsgtrkMtqpClient   *client,
                       GArray             *schedule,
                       MsgtrkdPollDoneFunc done,
                       MsgtrkdBusyFunc     busy,
                       gpointer            user_data)
{
  MsgtrkdScheduler *self;

  g_return_val_if_fail (schedule != NULL && schedule->len > 0, NULL);

  self = g_object_new (MSGTRKD_TYPE_SCHEDULER, NULL);
  self->store = g_object_ref (store);
  self->keyring = g_object_ref (keyring);
  self->client = g_object_ref (client);
  self->schedule = g_array_ref (schedule);
  self->done = done;
  self->busy_func = busy;
  self->user_data = user_data;
  return self;
}

/* A name given with --mtqp-override: a delegated URL's port never replaces it. */
void
msgtrkd_scheduler_add_fixed_override (MsgtrkdScheduler *self,
                                      const char       *name)
{
  g_hash_table_add (self->fixed_overrides, g_ascii_strdown (name, -1));
}

/**
 * msgtrkd_scheduler_parse_schedule:
 * @text: "S1,S2,…" seconds, each 1 to MSGTRKD_SCHEDULER_MAX_INTERVAL
 * @out: (out) (transfer full) (element-type guint): the intervals
 * @error: return location for a #GError
 *
 * Grammar: schedule = interval *( "," interval ); interval = 1*DIGIT (spaces allowed
 * around each interval), at most MSGTRKD_SCHEDULER_MAX_STEPS intervals.
 *
 * Returns: %TRUE, or %FALSE with MSGTRKD_ERROR_INVALID_ARGUMENT
 */
gboolean
msgtrkd_scheduler_parse_schedule (const char *text,
                                  GArray    **out,
                                  GError    **error)
{
  g_auto (GStrv) parts = g_strsplit (text != NULL ? text : "", ",", -1);
  g_autoptr (GArray) array = g_array_new (FALSE, FALSE, sizeof (guint));
  guint n = g_strv_length (parts);

  if (n == 0 || n > MSGTRKD_SCHEDULER_MAX_STEPS)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   _("A poll schedule has 1 to %d intervals in seconds, separated by commas"),
                   MSGTRKD_SCHEDULER_MAX_STEPS);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      guint64 value = 0;
      char *part = g_strstrip (parts[i]);

      if (!g_ascii_string_to_unsigned (part, 10, 1, MSGTRKD_SCHEDULER_MAX_INTERVAL, &value,
                                       NULL))
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (part, 40);

          g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                       _("Poll interval “%s” is not a number of seconds from 1 to %d"),
                       quoted, MSGTRKD_SCHEDULER_MAX_INTERVAL);
          return FALSE;
        }
      {
        guint v = (guint) value;

        g_array_append_val (array, v);
      }
    }
  *out = g_steal_pointer (&array);
  return TRUE;
}

/* When to poll @message next after a poll at @now: the schedule step for its poll count
 * (capped at the last step), never at or past expires_at; 0 = no more polls. */
gint64
msgtrkd_scheduler_next_poll (MsgtrkdScheduler     *self,
                             const MsgtrkdMessage *message,
                             gint64                now)
{
  guint step = MIN (message->poll_count, self->schedule->len - 1);
  gint64 next = now + g_array_index (self->schedule, guint, step);

  if (message->expires_at > 0 && next >= message->expires_at)
    next = message->expires_at - 1 > now ? message->expires_at - 1 : 0;
  return next;
}

static gboolean
timer_fired (gpointer data)
{
  MsgtrkdScheduler *self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) due = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  self->timer_id = 0;
  due = msgtrkd_store_list_due (self->store, now, &error);
  if (due == NULL)
    g_warning ("Cannot read the messages due for polling: %s", error->message);
  for (guint i = 0; due != NULL && i < due->len; i++)
    {
      MsgtrkdMessage *m = g_ptr_array_index (due, i);

      msgtrkd_scheduler_poll_now (self, m->envid);
    }
  msgtrkd_scheduler_reschedule (self);
  return G_SOURCE_REMOVE;
}

/* Arms the one timer for the earliest next poll in the store (none if nothing is due). */
void
msgtrkd_scheduler_reschedule (MsgtrkdScheduler *self)
{
  g_autoptr (GError) error = NULL;
  gint64 when = 0;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 delay;

  g_clear_handle_id (&self->timer_id, g_source_remove);
  if (self->shut_down)
    {
      update_busy (self);
      return;
    }
  if (!msgtrkd_store_get_next_due (self->store, &when, &error))
    {
      if (error != NULL)
        g_warning ("Cannot read the next poll time: %s", error->message);
      update_busy (self);
      return;
    }
  delay = CLAMP (when - now, 0, MSGTRKD_SCHEDULER_MAX_INTERVAL);
  g_debug ("next poll in %" G_GINT64_FORMAT " s", delay);
  self->timer_id = g_timeout_add_seconds ((guint) delay, timer_fired, self);
  update_busy (self);
}

static void
update_busy (MsgtrkdScheduler *self)
{
  gboolean busy = self->timer_id != 0 || g_hash_table_size (self->in_flight) > 0;

  if (busy != self->busy)
    {
      self->busy = busy;
      if (self->busy_func != NULL)
        self->busy_func (busy, self->user_data);
    }
}

gboolean
msgtrkd_scheduler_is_busy (MsgtrkdScheduler *self)
{
  return self->busy;
}

/* Start waiting runs of one server while it has free slots. With a batch tracker call,
 * this is the one place to change: take all waiting runs of the host into one call. */
static void
start_host_runs (MsgtrkdScheduler *self,
                 const char       *host_key)
{
  HostQueue *q = g_hash_table_lookup (self->hosts, host_key);

  if (q == NULL)
    return;
  while (q->running < MSGTRKD_SCHEDULER_MAX_PER_HOST && !g_queue_is_empty (&q->waiting))
    {
      PollRun *run = g_queue_pop_head (&q->waiting);

      q->running++;
      run->started = TRUE;
      start_run (run);
    }
}

/* A run is over (done, failed or cancelled): report, free its slot, start the next. */
static void
finish_run (PollRun      *run,
            MsgtrkRoute  *route,
            const GError *error)
{
  MsgtrkdScheduler *self = run->scheduler;
  g_autofree char *envid = g_strdup (run->envid);
  g_autofree char *host_key = g_strdup (run->host_key);
  HostQueue *q = g_hash_table_lookup (self->hosts, host_key);
  gboolean cancelled = error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  msgtrk_secure_free_string (g_steal_pointer (&run->secret));
  if (q != NULL && q->running > 0)
    q->running--;
  g_hash_table_remove (self->in_flight, envid);  /* frees run */
  if (!cancelled && !self->shut_down && self->done != NULL)
    self->done (envid, route, error, self->user_data);
  if (q != NULL && !self->shut_down)
    {
      start_host_runs (self, host_key);
      if (q->running == 0 && g_queue_is_empty (&q->waiting))
        g_hash_table_remove (self->hosts, host_key);
    }
  update_busy (self);
  g_object_unref (self);
}

static void
track_done (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  PollRun *run = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkRoute) route = NULL;

  route = msgtrk_tracker_track_finish (MSGTRK_TRACKER (source), result, &error);
  finish_run (run, route, error);
}

static void
run_tracker (PollRun *run)
{
  MsgtrkdScheduler *self = run->scheduler;
  g_autoptr (MsgtrkTracker) tracker = msgtrk_tracker_new (self->client);
  const char * const *recipients = NULL;

  if (run->recipients != NULL && run->recipients[0] != NULL)
    recipients = (const char * const *) run->recipients;
  g_debug ("tracking %s from %s", run->envid, run->host);
  msgtrk_tracker_track_async (tracker, run->host, run->envid, run->secret, recipients,
                              run->cancellable, track_done, run);
  /* The tracker copies the secret: ours is not needed any more. */
  msgtrk_secure_free_string (g_steal_pointer (&run->secret));
}

static void
port_resolved (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  PollRun *run = data;
  g_autoptr (GError) error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);

  if (addresses == NULL)
    {
      finish_run (run, NULL, error);
      return;
    }
  {
    g_autofree char *ip = g_inet_address_to_string (addresses->data);
    g_autofree char *address = NULL;

    if (g_inet_address_get_family (addresses->data) == G_SOCKET_FAMILY_IPV6)
      address = g_strdup_printf ("[%s]:%s", ip, run->port);
    else
      address = g_strdup_printf ("%s:%s", ip, run->port);
    g_resolver_free_addresses (addresses);
    if (!msgtrk_mtqp_client_add_host_override (run->scheduler->client, run->host, address,
                                               &error))
      {
        finish_run (run, NULL, error);
        return;
      }
  }
  run_tracker (run);
}

/* A delegated URL with an explicit port: the submission host is reached on that port
 * (unless the command line already overrides the name). */
static void
apply_port_then_track (PollRun *run)
{
  MsgtrkdScheduler *self = run->scheduler;
  g_autofree char *lower = g_ascii_strdown (run->host, -1);
  g_autoptr (GInetAddress) literal = NULL;

  if (run->port == NULL || g_hash_table_contains (self->fixed_overrides, lower))
    {
      run_tracker (run);
      return;
    }
  literal = g_inet_address_new_from_string (run->host);
  if (literal != NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *address = NULL;

      if (g_inet_address_get_family (literal) == G_SOCKET_FAMILY_IPV6)
        address = g_strdup_printf ("[%s]:%s", run->host, run->port);
      else
        address = g_strdup_printf ("%s:%s", run->host, run->port);
      if (!msgtrk_mtqp_client_add_host_override (self->client, run->host, address, &error))
        {
          finish_run (run, NULL, error);
          return;
        }
      run_tracker (run);
      return;
    }
  {
    g_autoptr (GResolver) resolver = g_resolver_get_default ();

    g_resolver_lookup_by_name_async (resolver, run->host, run->cancellable, port_resolved,
                                     run);
  }
}

static void
secret_looked_up (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  PollRun *run = data;
  g_autoptr (GError) error = NULL;
  char *secret = msgtrkd_keyring_lookup_finish (MSGTRKD_KEYRING (source), result, &error);

  if (secret == NULL)
    {
      finish_run (run, NULL, error);
      return;
    }
  run->secret = secret;
  if (g_cancellable_is_cancelled (run->cancellable))
    {
      g_autoptr (GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                          "Cancelled");

      finish_run (run, NULL, cancelled);
      return;
    }
  apply_port_then_track (run);
}

static void
start_run (PollRun *run)
{
  g_object_ref (run->scheduler);  /* released in finish_run */
  msgtrkd_keyring_lookup_async (run->scheduler->keyring, run->envid, run->cancellable,
                                secret_looked_up, run);
}

/**
 * msgtrkd_scheduler_poll_now:
 * @self: the scheduler
 * @envid: a message (tracking mtqp or delegated)
 *
 * Queues a run for @envid unless one is in flight. If the message is due, its next poll
 * moves along the schedule first (a poll asked for by the user leaves the schedule alone).
 */
void
msgtrkd_scheduler_poll_now (MsgtrkdScheduler *self,
                            const char       *envid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) m = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  PollRun *run;
  HostQueue *q;

  if (self->shut_down || g_hash_table_contains (self->in_flight, envid))
    return;
  m = msgtrkd_store_get_message (self->store, envid, &error);
  if (m == NULL)
    {
      g_debug ("not polling %s: %s", envid, error->message);
      return;
    }
  if (m->submission_host == NULL || *m->submission_host == '\0')
    return;
  if (m->next_poll_at > 0 && m->next_poll_at <= now)
    {
      m->next_poll_at = msgtrkd_scheduler_next_poll (self, m, now);
      m->poll_count++;
      if (!msgtrkd_store_update_message (self->store, m, &error))
        {
          /* Without a moved schedule the timer would fire again at once: stop here. */
          g_warning ("Cannot record the next poll of %s: %s", m->envid, error->message);
          return;
        }
    }

  run = g_new0 (PollRun, 1);
  run->scheduler = self;
  run->envid = g_strdup (m->envid);
  run->host = g_strdup (m->submission_host);
  run->port = g_strdup (m->mtqp_port);
  run->host_key = g_strdup_printf ("%s:%s", m->submission_host,
                                   m->mtqp_port != NULL ? m->mtqp_port : "");
  for (char *p = run->host_key; *p != '\0'; p++)
    *p = g_ascii_tolower (*p);
  run->recipients = g_strdupv (m->recipients);
  run->cancellable = g_cancellable_new ();
  g_hash_table_insert (self->in_flight, run->envid, run);

  q = g_hash_table_lookup (self->hosts, run->host_key);
  if (q == NULL)
    {
      q = g_new0 (HostQueue, 1);
      g_queue_init (&q->waiting);
      g_hash_table_insert (self->hosts, g_strdup (run->host_key), q);
    }
  g_queue_push_tail (&q->waiting, run);
  update_busy (self);
  start_host_runs (self, run->host_key);
}

/* Stops a message's run (Forget): a waiting run is dropped, a started one cancelled. */
void
msgtrkd_scheduler_cancel (MsgtrkdScheduler *self,
                          const char       *envid)
{
  PollRun *run = g_hash_table_lookup (self->in_flight, envid);
  HostQueue *q;

  if (run == NULL)
    return;
  if (run->started)
    {
      g_cancellable_cancel (run->cancellable);
      return;
    }
  q = g_hash_table_lookup (self->hosts, run->host_key);
  if (q != NULL)
    g_queue_remove (&q->waiting, run);
  g_hash_table_remove (self->in_flight, envid);
  update_busy (self);
}

static void
cancel_one (gpointer key,
            gpointer value,
            gpointer data)
{
  PollRun *run = value;

  g_cancellable_cancel (run->cancellable);
}

/* No more runs: the timer goes, waiting runs are dropped, running ones cancelled. */
void
msgtrkd_scheduler_shutdown (MsgtrkdScheduler *self)
{
  GHashTableIter iter;
  gpointer value;

  self->shut_down = TRUE;
  g_clear_handle_id (&self->timer_id, g_source_remove);
  g_hash_table_iter_init (&iter, self->hosts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_queue_clear (&((HostQueue *) value)->waiting);
  g_hash_table_iter_init (&iter, self->in_flight);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      PollRun *run = value;

      if (!run->started)
        g_hash_table_iter_remove (&iter);
    }
  g_hash_table_foreach (self->in_flight, cancel_one, NULL);
  update_busy (self);
}

/* Whether runs are still to finish (after a shutdown: cancelled ones, to be reaped). */
gboolean
msgtrkd_scheduler_has_runs (MsgtrkdScheduler *self)
{
  return g_hash_table_size (self->in_flight) > 0;
}
