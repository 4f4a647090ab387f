/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-worker.c: libmsgtrk's own bounded thread pool for blocking network work.
 *
 * What it is for: MTQP sessions (msgtrk-mtqp-client.c) and TLS handshakes (msgtrk-tls.c)
 * block on a remote peer for as long as it keeps them (up to their deadline). They must
 * not sit in GLib's shared GTask pool, which GIO's own async file and DNS work and every
 * other library of the process (Evolution's, for one) rely on. Decision and reasons:
 * docs/mtqp-client-threads.md.
 *
 * How: one GThreadPool, created on first use, of at most MSGTRK_WORKER_MAX_THREADS threads;
 * more jobs wait in its queue in submission order. A job is a GTask and a GTaskThreadFunc,
 * called exactly as g_task_run_in_thread() would call it; the function returns the task,
 * and GTask delivers the result to the task's (the caller's) main context.
 *
 * Limits: MSGTRK_WORKER_MAX_THREADS threads at once; a job waits for a free thread (its
 * deadline keeps running: a session's deadline is counted from its call).
 *
 * Never: run a job on the caller's thread; drop a job (the pool lives as long as the process).
 */
#include "config.h"

#include "msgtrk-private.h"

typedef struct
{
  GTask          *task;  /* (owned) */
  GTaskThreadFunc func;
} WorkerJob;

static void
worker_job_run (gpointer data,
                gpointer user_data)
{
  WorkerJob *job = data;
  GTask *task = job->task;

  (void) user_data;
  job->func (task, g_task_get_source_object (task), g_task_get_task_data (task),
             g_task_get_cancellable (task));
  g_object_unref (task);
  g_free (job);
}

static GThreadPool *
worker_pool (void)
{
  static GThreadPool *pool = NULL;

  if (g_once_init_enter (&pool))
    {
      /* Not exclusive: idle threads may be shared with other non-exclusive pools, but the
       * running threads count only against this pool's maximum, never against GTask's. */
      GThreadPool *created = g_thread_pool_new (worker_job_run, NULL,
                                                MSGTRK_WORKER_MAX_THREADS, FALSE, NULL);
      g_once_init_leave (&pool, created);
    }
  return pool;
}

/* Runs @func for @task in libmsgtrk's own pool, as g_task_run_in_thread() would in
 * GLib's; @func must return @task. */
void
msgtrk_worker_run_in_thread (GTask          *task,
                             GTaskThreadFunc func)
{
  WorkerJob *job;

  g_return_if_fail (G_IS_TASK (task));
  g_return_if_fail (func != NULL);

  job = g_new0 (WorkerJob, 1);
  job->task = g_object_ref (task);
  job->func = func;
  /* With a NULL GError a non-exclusive pool cannot fail to queue. */
  g_thread_pool_push (worker_pool (), job, NULL);
}

/* For tests: threads the pool holds now (running a job or about to leave it). */
guint
msgtrk_worker_get_num_threads (void)
{
  GThreadPool *pool = worker_pool ();

  return g_thread_pool_get_num_threads (pool);
}
