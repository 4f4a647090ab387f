/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-scheduler.c: the polling scheduler of msgtrkd (see msgtrkd-scheduler.h).
 *
 * State in memory: the armed timer, the runs in flight (envid → run, one per message) and,
 * per submission server (host and port), a queue of runs waiting for a free slot.
 * Everything else lives in the store.
 *
 * Batches: messages queued in the same main-loop iteration (all those due when the timer
 * fires) are started together from an idle callback: the waiting runs of one server are
 * cut into batches of at most MSGTRKD_SCHEDULER_MAX_BATCH, and each batch is one
 * msgtrk_tracker_track_batch_async() call (one MTQP session per server it reaches, TRACKs
 * pipelined). A batch takes one of the server's MSGTRKD_SCHEDULER_MAX_PER_HOST slots and
 * one of MSGTRKD_SCHEDULER_MAX_IN_FLIGHT slots shared by all servers (a batch holds every
 * parsed answer of its messages until its tracker call ends: the global cap bounds
 * msgtrkd's memory during a round over many servers). When a slot frees, the server that
 * has waited longest for one goes next (round robin by turn number). A
 * batch's secrets are looked up first (each failure ends only that message's run); a
 * message whose route comes back with an error and no recipients ends with that error,
 * the same way a single run's error did.
 *
 * Cancelling: Forget marks a started run cancelled (its result is dropped; the batch is
 * cancelled when all its runs are); shutdown cancels every batch.
 *
 * Store writes: the moves of the schedule when the timer fires, and the results of one
 * batch (the done callback of each of its messages), are each one store batch
 * (msgtrkd_store_begin_batch): one commit and one fsync, not several per message
 * (docs/store.md, "Batches"). Each answer is released once its message is done.
 *
 * Limits: MSGTRKD_SCHEDULER_MAX_PER_HOST batches per server, MSGTRKD_SCHEDULER_MAX_IN_FLIGHT
 * batches in all, MSGTRKD_SCHEDULER_MAX_BATCH
 * messages per batch, MSGTRKD_SCHEDULER_MAX_STEPS schedule steps of at most
 * MSGTRKD_SCHEDULER_MAX_INTERVAL seconds.
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
  gboolean schedule_stuck;      /* due messages' next polls could not be read or written */
  guint start_id;               /* 0 = no idle start of waiting runs pending */
  GHashTable *in_flight;        /* (owned) envid → PollRun (owned by the table) */
  GHashTable *hosts;            /* (owned) host key → HostQueue */
  GHashTable *fixed_overrides;  /* (owned) names overridden on the command line */
  guint batches_running;        /* batches in flight, all servers */
  guint64 next_turn;            /* turn numbers for HostQueue.turn */
  gboolean busy;
  gboolean shut_down;
};

G_DEFINE_FINAL_TYPE (MsgtrkdScheduler, msgtrkd_scheduler, G_TYPE_OBJECT)

typedef struct
{
  GQueue waiting;  /* (owned) PollRun* not started yet */
  guint running;   /* batches in flight */
  guint64 turn;    /* smaller = waited longer for a slot */
} HostQueue;

typedef struct _PollBatch PollBatch;

/* One message's poll: queued, then part of a batch. */
typedef struct
{
  MsgtrkdScheduler *scheduler;  /* (unowned) the scheduler outlives its runs' callbacks */
  char *envid;
  char *host;                   /* submission host: where tracking starts */
  char *port;                   /* (nullable) port override text (delegated URLs) */
  char *host_key;
  char *secret;                 /* (nullable) A while the run needs it; wiped */
  gboolean secret_derived;      /* A derived from the master, else a keyring item */
  PollBatch *batch;             /* (unowned) (nullable) set when started */
  gboolean started;
  gboolean cancelled;           /* Forget while started: the result is dropped */
} PollRun;

/* Runs of one server tracked together in one tracker call. */
struct _PollBatch
{
  MsgtrkdScheduler *scheduler;  /* (owned) a reference, released when the batch ends */
  char *host;
  char *port;                   /* (nullable) */
  char *host_key;
  GPtrArray *runs;              /* (owned) PollRun* (the runs are owned by in_flight) */
  guint pending_lookups;
  GCancellable *cancellable;    /* (owned) */
};

static void start_batch (PollBatch *batch);
static void update_busy (MsgtrkdScheduler *self);

/* The store writes that follow share one transaction (one fsync). FALSE if the store
 * could not start one: then each write is its own transaction, as without a batch. */
static gboolean
store_batch_begin (MsgtrkdScheduler *self)
{
  g_autoptr (GError) error = NULL;

  if (msgtrkd_store_begin_batch (self->store, &error))
    return TRUE;
  g_warning ("Cannot batch the writes of a poll round: %s", error->message);
  return FALSE;
}

/* FALSE when the batch's writes were lost (its commit failed). */
static gboolean
store_batch_end (MsgtrkdScheduler *self,
                 gboolean          begun)
{
  g_autoptr (GError) error = NULL;

  if (!begun || msgtrkd_store_end_batch (self->store, &error))
    return TRUE;
  g_warning ("Cannot store the results of a poll round (they are polled again): %s",
             error->message);
  return FALSE;
}

static void
poll_run_free (PollRun *run)
{
  if (run == NULL)
    return;
  g_free (run->envid);
  g_free (run->host);
  g_free (run->port);
  g_free (run->host_key);
  msgtrk_secure_free_string (run->secret);
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
  g_clear_handle_id (&self->start_id, g_source_remove);
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
  gboolean batched;

  self->timer_id = 0;
  due = msgtrkd_store_list_due (self->store, now, &error);
  if (due == NULL)
    {
      g_warning ("Cannot read the messages due for polling: %s", error->message);
      self->schedule_stuck = TRUE; /* they stay due: the next timer waits */
    }
  /* Every due message's schedule moves in one transaction. */
  batched = due != NULL && due->len > 1 && store_batch_begin (self);
  for (guint i = 0; due != NULL && i < due->len; i++)
    {
      MsgtrkdMessage *m = g_ptr_array_index (due, i);

      msgtrkd_scheduler_poll_now (self, m->envid);
    }
  /* The batch's commit failed: the schedules did not move, the messages stay due. */
  if (!store_batch_end (self, batched))
    self->schedule_stuck = TRUE;
  g_clear_pointer (&due, g_ptr_array_unref);
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
  /* A due message's schedule could not move (the store refused the write): it is still
   * due, and firing again at once would only spin. Try again a little later. */
  if (self->schedule_stuck)
    {
      delay = MAX (delay, MSGTRKD_SCHEDULER_STUCK_RETRY);
      self->schedule_stuck = FALSE;
    }
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

/* Starts one batch of @q's waiting runs (it has a free slot and runs waiting). */
static void
start_host_batch (MsgtrkdScheduler *self,
                  const char       *host_key,
                  HostQueue        *q)
{
  PollBatch *batch = g_new0 (PollBatch, 1);
  PollRun *first = g_queue_peek_head (&q->waiting);

  batch->scheduler = g_object_ref (self);  /* released in end_batch */
  batch->host = g_strdup (first->host);
  batch->port = g_strdup (first->port);
  batch->host_key = g_strdup (host_key);
  batch->runs = g_ptr_array_new ();
  batch->cancellable = g_cancellable_new ();
  while (batch->runs->len < MSGTRKD_SCHEDULER_MAX_BATCH && !g_queue_is_empty (&q->waiting))
    {
      PollRun *run = g_queue_pop_head (&q->waiting);

      run->started = TRUE;
      run->batch = batch;
      g_ptr_array_add (batch->runs, run);
    }
  q->running++;
  q->turn = ++self->next_turn;  /* back of the line for the next free slot */
  self->batches_running++;
  start_batch (batch);
}

/* Starts batches while slots are free: each time the server with runs waiting, a free slot
 * of its own, and the smallest turn (the one that waited longest). */
static void
start_batches (MsgtrkdScheduler *self)
{
  while (!self->shut_down && self->batches_running < MSGTRKD_SCHEDULER_MAX_IN_FLIGHT)
    {
      GHashTableIter iter;
      gpointer key, value;
      const char *best_key = NULL;
      HostQueue *best = NULL;

      g_hash_table_iter_init (&iter, self->hosts);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          HostQueue *q = value;

          if (q->running >= MSGTRKD_SCHEDULER_MAX_PER_HOST || g_queue_is_empty (&q->waiting))
            continue;
          if (best == NULL || q->turn < best->turn)
            {
              best = q;
              best_key = key;
            }
        }
      if (best == NULL)
        return;
      start_host_batch (self, best_key, best);
    }
}

/* The idle callback: start what is waiting, for every server. */
static gboolean
start_waiting (gpointer data)
{
  MsgtrkdScheduler *self = data;

  self->start_id = 0;
  if (self->shut_down)
    return G_SOURCE_REMOVE;
  start_batches (self);
  return G_SOURCE_REMOVE;
}

/* Runs queued in this main-loop iteration start together (one batch per server). */
static void
schedule_start (MsgtrkdScheduler *self)
{
  if (self->start_id == 0 && !self->shut_down)
    self->start_id = g_idle_add (start_waiting, self);
}

/* A run is over (done, failed or cancelled): report it and forget it. Its batch (if any)
 * must no longer list it. */
static void
finish_run (PollRun      *run,
            MsgtrkRoute  *route,
            const GError *error)
{
  MsgtrkdScheduler *self = run->scheduler;
  g_autofree char *envid = g_strdup (run->envid);
  gboolean cancelled = run->cancelled ||
                       (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));

  msgtrk_secure_free_string (g_steal_pointer (&run->secret));
  g_hash_table_remove (self->in_flight, envid);  /* frees run */
  if (!cancelled && !self->shut_down && self->done != NULL)
    self->done (envid, route, error, self->user_data);
}

/* A batch is over (every run finished): free its slot, start the next, drop it. */
static void
end_batch (PollBatch *batch)
{
  MsgtrkdScheduler *self = batch->scheduler;
  HostQueue *q = g_hash_table_lookup (self->hosts, batch->host_key);

  g_assert (batch->runs->len == 0);
  g_assert (self->batches_running > 0);
  self->batches_running--;
  if (q != NULL && q->running > 0)
    q->running--;
  if (q != NULL && !self->shut_down && q->running == 0 && g_queue_is_empty (&q->waiting))
    g_hash_table_remove (self->hosts, batch->host_key);
  if (!self->shut_down)
    start_batches (self);
  g_free (batch->host);
  g_free (batch->port);
  g_free (batch->host_key);
  g_ptr_array_unref (batch->runs);
  g_object_unref (batch->cancellable);
  g_free (batch);
  update_busy (self);
  g_object_unref (self);
}

/* Ends every run of @batch with @error (NULL: cancelled), then the batch. */
static void
fail_batch (PollBatch    *batch,
            const GError *error)
{
  g_autoptr (GError) cancelled = NULL;
  gboolean batched;

  if (error == NULL)
    error = cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Cancelled");
  batched = batch->runs->len > 1 && store_batch_begin (batch->scheduler);
  while (batch->runs->len > 0)
    finish_run (g_ptr_array_steal_index (batch->runs, batch->runs->len - 1), NULL, error);
  store_batch_end (batch->scheduler, batched);
  end_batch (batch);
}

static void
track_done (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  PollBatch *batch = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) routes = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  gboolean batched;

  routes = msgtrk_tracker_track_batch_finish (MSGTRK_TRACKER (source), result, &error);
  if (routes == NULL || routes->len != batch->runs->len)
    {
      if (routes != NULL)  /* not expected from the tracker; never mix up two messages */
        g_set_error (&error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                     "The tracker returned %u routes for %u messages", routes->len,
                     batch->runs->len);
      fail_batch (batch, error);
      return;
    }
  runs = g_steal_pointer (&batch->runs);
  batch->runs = g_ptr_array_new ();
  /* Each answer is released once its message is stored, not when the batch ends. */
  g_ptr_array_set_free_func (routes, NULL);
  batched = runs->len > 1 && store_batch_begin (batch->scheduler);
  for (guint i = 0; i < runs->len; i++)
    {
      PollRun *run = g_ptr_array_index (runs, i);
      g_autoptr (MsgtrkRoute) route = g_steal_pointer (&routes->pdata[i]);
      const GError *route_error = msgtrk_route_get_error (route);
      g_auto (GStrv) recipients = msgtrk_route_list_recipients (route);

      /* The first server could not answer for this message: an error for it alone. */
      if (route_error != NULL && (recipients == NULL || recipients[0] == NULL))
        finish_run (run, NULL, route_error);
      else
        finish_run (run, route, NULL);
    }
  store_batch_end (batch->scheduler, batched);
  end_batch (batch);
}

static void
run_tracker (PollBatch *batch)
{
  MsgtrkdScheduler *self = batch->scheduler;
  g_autoptr (MsgtrkTracker) tracker = msgtrk_tracker_new (self->client);
  g_autoptr (GPtrArray) envids = g_ptr_array_new ();
  g_autoptr (GPtrArray) secrets = g_ptr_array_new ();

  for (guint i = 0; i < batch->runs->len; i++)
    {
      PollRun *run = g_ptr_array_index (batch->runs, i);

      g_ptr_array_add (envids, run->envid);
      g_ptr_array_add (secrets, run->secret);
    }
  g_ptr_array_add (envids, NULL);
  g_ptr_array_add (secrets, NULL);
  g_debug ("tracking %u message(s) from %s", batch->runs->len, batch->host);
  msgtrk_tracker_track_batch_async (tracker, batch->host,
                                    (const char * const *) envids->pdata,
                                    (const char * const *) secrets->pdata,
                                    batch->cancellable, track_done, batch);
  /* The tracker copies the secrets: ours are not needed any more. */
  for (guint i = 0; i < batch->runs->len; i++)
    {
      PollRun *run = g_ptr_array_index (batch->runs, i);

      msgtrk_secure_free_string (g_steal_pointer (&run->secret));
    }
}

/* host:port (or [v6]:port) for a host override. */
static char *
override_address (GInetAddress *address,
                  const char   *port)
{
  g_autofree char *ip = g_inet_address_to_string (address);

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%s", ip, port);
  return g_strdup_printf ("%s:%s", ip, port);
}

static void
port_resolved (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  PollBatch *batch = data;
  g_autoptr (GError) error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  g_autofree char *address = NULL;

  if (addresses == NULL)
    {
      fail_batch (batch, error);
      return;
    }
  address = override_address (addresses->data, batch->port);
  g_resolver_free_addresses (addresses);
  if (!msgtrk_mtqp_client_add_host_override (batch->scheduler->client, batch->host, address,
                                             &error))
    {
      fail_batch (batch, error);
      return;
    }
  run_tracker (batch);
}

/* A delegated URL with an explicit port: the submission host is reached on that port
 * (unless the command line already overrides the name). All runs of a batch share it. */
static void
apply_port_then_track (PollBatch *batch)
{
  MsgtrkdScheduler *self = batch->scheduler;
  g_autofree char *lower = g_ascii_strdown (batch->host, -1);
  g_autoptr (GInetAddress) literal = NULL;

  if (batch->port == NULL || g_hash_table_contains (self->fixed_overrides, lower))
    {
      run_tracker (batch);
      return;
    }
  literal = g_inet_address_new_from_string (batch->host);
  if (literal != NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *address = override_address (literal, batch->port);

      if (!msgtrk_mtqp_client_add_host_override (self->client, batch->host, address, &error))
        {
          fail_batch (batch, error);
          return;
        }
      run_tracker (batch);
      return;
    }
  {
    g_autoptr (GResolver) resolver = g_resolver_get_default ();

    g_resolver_lookup_by_name_async (resolver, batch->host, batch->cancellable,
                                     port_resolved, batch);
  }
}

/* Every secret of the batch is there (or its run has ended): track what is left. */
static void
lookups_done (PollBatch *batch)
{
  for (guint i = batch->runs->len; i > 0; i--)
    {
      PollRun *run = g_ptr_array_index (batch->runs, i - 1);

      if (run->cancelled)
        finish_run (g_ptr_array_steal_index (batch->runs, i - 1), NULL, NULL);
    }
  if (batch->runs->len == 0)
    {
      end_batch (batch);
      return;
    }
  if (g_cancellable_is_cancelled (batch->cancellable))
    {
      fail_batch (batch, NULL);
      return;
    }
  apply_port_then_track (batch);
}

static void
secret_looked_up (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  PollRun *run = data;
  PollBatch *batch = run->batch;
  g_autoptr (GError) error = NULL;
  char *secret = msgtrkd_keyring_lookup_finish (MSGTRKD_KEYRING (source), result, &error);

  if (secret == NULL)
    {
      /* No secret (missing, keyring down, cancelled): this message alone ends. */
      g_ptr_array_remove (batch->runs, run);
      finish_run (run, NULL, error);
    }
  else
    run->secret = secret;
  if (--batch->pending_lookups == 0)
    lookups_done (batch);
}

static void
start_batch (PollBatch *batch)
{
  g_autoptr (GPtrArray) runs = g_ptr_array_copy (batch->runs, NULL, NULL);

  batch->pending_lookups = runs->len;
  for (guint i = 0; i < runs->len; i++)
    {
      PollRun *run = g_ptr_array_index (runs, i);

      msgtrkd_keyring_secret_async (batch->scheduler->keyring, run->envid, run->secret_derived,
                                    batch->cancellable, secret_looked_up, run);
    }
}

/**
 * msgtrkd_scheduler_poll_now:
 * @self: the scheduler
 * @envid: a message (tracking mtqp or delegated)
 *
 * Queues a run for @envid unless one is in flight; queued runs start from an idle
 * callback, batched per server. If the message is due, its next poll moves along the
 * schedule first, also when its run is in flight (a poll asked for by the user leaves
 * the schedule alone).
 */
void
msgtrkd_scheduler_poll_now (MsgtrkdScheduler *self,
                            const char       *envid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) m = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gboolean in_flight;
  PollRun *run;
  HostQueue *q;

  if (self->shut_down)
    return;
  in_flight = g_hash_table_contains (self->in_flight, envid);
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
          /* Without a moved schedule the timer would fire again at once: stop here, and
           * let the next timer wait (msgtrkd_scheduler_reschedule()). */
          g_warning ("Cannot record the next poll of %s: %s", m->envid, error->message);
          self->schedule_stuck = TRUE;
          return;
        }
    }
  /* Its run in flight is this poll. Its schedule moved all the same (above): left due, the
   * timer fired again at once, and again, for as long as the run lasted (a silent server:
   * up to the read timeout per hop). */
  if (in_flight)
    return;

  run = g_new0 (PollRun, 1);
  run->scheduler = self;
  run->envid = g_strdup (m->envid);
  run->secret_derived = m->secret_derived;
  run->host = g_strdup (m->submission_host);
  run->port = g_strdup (m->mtqp_port);
  run->host_key = g_strdup_printf ("%s:%s", m->submission_host,
                                   m->mtqp_port != NULL ? m->mtqp_port : "");
  for (char *p = run->host_key; *p != '\0'; p++)
    *p = g_ascii_tolower (*p);
  g_hash_table_insert (self->in_flight, run->envid, run);

  q = g_hash_table_lookup (self->hosts, run->host_key);
  if (q == NULL)
    {
      q = g_new0 (HostQueue, 1);
      g_queue_init (&q->waiting);
      q->turn = ++self->next_turn;
      g_hash_table_insert (self->hosts, g_strdup (run->host_key), q);
    }
  g_queue_push_tail (&q->waiting, run);
  update_busy (self);
  schedule_start (self);
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
      gboolean all = TRUE;

      run->cancelled = TRUE;
      for (guint i = 0; i < run->batch->runs->len; i++)
        all = all && ((PollRun *) g_ptr_array_index (run->batch->runs, i))->cancelled;
      if (all)
        g_cancellable_cancel (run->batch->cancellable);
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

  if (run->batch != NULL)
    g_cancellable_cancel (run->batch->cancellable);
}

/* No more runs: the timer goes, waiting runs are dropped, running ones cancelled. */
void
msgtrkd_scheduler_shutdown (MsgtrkdScheduler *self)
{
  GHashTableIter iter;
  gpointer value;

  self->shut_down = TRUE;
  g_clear_handle_id (&self->timer_id, g_source_remove);
  g_clear_handle_id (&self->start_id, g_source_remove);
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
