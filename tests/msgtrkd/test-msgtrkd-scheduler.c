/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-msgtrkd-scheduler.c: batches in flight over all servers (msgtrkd-scheduler.c).
 *
 * What: MSGTRKD_SCHEDULER_MAX_IN_FLIGHT at and past the cap. Each server is a name
 * overridden to one local listener that accepts and never greets, so every batch stays in
 * flight until the test closes its connection; the number of connections accepted is the
 * number of batches in flight. At the cap, every server's batch starts; past it, exactly
 * the cap starts and each closed connection lets exactly one more in. A batch's results go
 * to the done callback inside one store batch (one transaction).
 *
 * How: a real store (temporary directory), the FILE keyring (derived secrets, master made
 * here), a real MsgtrkMtqpClient, the scheduler's own timer (every message due at once).
 *
 * Limits: each wait is bounded by WAIT_MS.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <glib/gstdio.h>

#include "msgtrk-private.h"
#include "msgtrkd-scheduler.h"

#define WAIT_MS 10000   /* longest wait for something that must happen */
#define QUIET_MS 500    /* how long nothing more may happen */

typedef struct
{
  char *dir;
  MsgtrkdStore *store;
  MsgtrkdKeyring *keyring;
  MsgtrkMtqpClient *client;
  GSocketService *service;
  guint16 port;
  GPtrArray *connections;  /* (owned) accepted, never answered */
  guint accepted;
  guint done;
  guint done_in_batch;
  GHashTable *done_envids;
} Fixture;

static gboolean
incoming (GSocketService    *service,
          GSocketConnection *connection,
          GObject           *source,
          gpointer           data)
{
  Fixture *f = data;

  g_ptr_array_add (f->connections, g_object_ref (connection));
  f->accepted++;
  return TRUE;
}

static void
poll_done (const char   *envid,
           MsgtrkRoute  *route,
           const GError *error,
           gpointer      data)
{
  Fixture *f = data;

  f->done++;
  if (msgtrkd_store_in_batch (f->store))
    f->done_in_batch++;
  g_hash_table_add (f->done_envids, g_strdup (envid));
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_remove (child);
    }
  g_rmdir (path);
}

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *db = NULL;
  char *master = NULL;

  f->dir = g_dir_make_tmp ("msgtrk-sched-XXXXXX", &error);
  g_assert_no_error (error);
  db = g_build_filename (f->dir, "msgtrk.db", NULL);
  f->store = msgtrkd_store_open (db, &error);
  g_assert_no_error (error);
  f->keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_FILE, f->dir);
  master = msgtrkd_keyring_derive_sync (f->keyring, "env-make-master", TRUE, NULL, &error);
  g_assert_no_error (error);
  msgtrk_secure_free_string (master);
  f->client = msgtrk_mtqp_client_new ();
  f->connections = g_ptr_array_new_with_free_func (g_object_unref);
  f->done_envids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  f->service = g_socket_service_new ();
  {
    g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
    g_autoptr (GSocketAddress) bound = NULL;

    g_assert_true (g_socket_listener_add_address (G_SOCKET_LISTENER (f->service), any,
                                                  G_SOCKET_TYPE_STREAM,
                                                  G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                                  &error));
    g_assert_no_error (error);
    f->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  }
  g_signal_connect (f->service, "incoming", G_CALLBACK (incoming), f);
  g_socket_service_start (f->service);
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  g_socket_service_stop (f->service);
  g_socket_listener_close (G_SOCKET_LISTENER (f->service));
  g_clear_object (&f->service);
  g_clear_pointer (&f->connections, g_ptr_array_unref);
  g_clear_pointer (&f->done_envids, g_hash_table_unref);
  g_clear_object (&f->client);
  g_clear_object (&f->keyring);
  g_clear_object (&f->store);
  remove_tree (f->dir);
  g_free (f->dir);
}

/* One due message polled from server @host (overridden to the listener). */
static void
add_due (Fixture    *f,
         const char *envid,
         const char *host)
{
  g_autoptr (MsgtrkdMessage) m = msgtrkd_message_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", f->port);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  m->envid = g_strdup (envid);
  m->tracking = g_strdup (MSGTRKD_TRACKING_MTQP);
  m->state = g_strdup ("in-transit");
  m->summary = g_strdup ("In transit");
  m->submission_host = g_strdup (host);
  m->prepared_at = now - 60;
  m->committed_at = now - 59;
  m->next_poll_at = now - 1;
  m->secret_derived = TRUE;
  g_assert_true (msgtrkd_store_add_message (f->store, m, &error));
  g_assert_no_error (error);
  g_assert_true (msgtrk_mtqp_client_add_host_override (f->client, host, address, &error));
  g_assert_no_error (error);
}

static gboolean
wait_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates until *@counter reaches @want (or WAIT_MS); then QUIET_MS more, during which it
 * must not grow past @want. */
static void
wait_exactly (guint *counter,
              guint  want)
{
  gboolean late = FALSE;
  guint id = g_timeout_add (WAIT_MS, wait_cb, &late);

  while (*counter < want && !late)
    g_main_context_iteration (NULL, TRUE);
  if (!late)
    g_source_remove (id);
  g_assert_cmpuint (*counter, ==, want);
  late = FALSE;
  g_timeout_add (QUIET_MS, wait_cb, &late);
  while (!late)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (*counter, ==, want);
}

static void
run_servers (Fixture *f,
             guint    servers)
{
  g_autoptr (GArray) schedule = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (MsgtrkdScheduler) scheduler = NULL;
  guint cap = MSGTRKD_SCHEDULER_MAX_IN_FLIGHT;
  guint messages = 0;
  guint interval = 3600;
  gboolean late = FALSE;
  guint id;

  g_array_append_val (schedule, interval);
  for (guint i = 0; i < servers; i++)
    {
      g_autofree char *host = g_strdup_printf ("mtqp%02u.sched.test", i);

      /* Two messages per server: one batch of two (one connection). */
      for (guint j = 0; j < 2; j++)
        {
          g_autofree char *envid = g_strdup_printf ("env-%02u-%u", i, j);

          add_due (f, envid, host);
          messages++;
        }
    }
  scheduler = msgtrkd_scheduler_new (f->store, f->keyring, f->client, schedule, poll_done,
                                     NULL, f);
  msgtrkd_scheduler_reschedule (scheduler);

  /* MIN (servers, cap) batches start; no more while none ends. */
  wait_exactly (&f->accepted, MIN (servers, cap));
  g_assert_cmpuint (f->done, ==, 0);

  /* Each batch that ends lets exactly one waiting batch in. */
  for (guint closed = 0; closed < servers; closed++)
    {
      GIOStream *stream = g_ptr_array_index (f->connections, closed);
      guint done_before = f->done;
      gboolean ended = FALSE;

      g_io_stream_close (stream, NULL, NULL);
      id = g_timeout_add (WAIT_MS, wait_cb, &ended);
      while (f->done < done_before + 2 && !ended)
        g_main_context_iteration (NULL, TRUE);
      if (!ended)
        g_source_remove (id);
      g_assert_cmpuint (f->done, ==, done_before + 2);
      wait_exactly (&f->accepted, MIN (servers, cap + closed + 1));
    }
  g_assert_cmpuint (f->done, ==, messages);
  g_assert_cmpuint (g_hash_table_size (f->done_envids), ==, messages);
  /* Each batch's results were handed over inside one store batch. */
  g_assert_cmpuint (f->done_in_batch, ==, messages);
  g_assert_false (msgtrkd_store_in_batch (f->store));

  msgtrkd_scheduler_shutdown (scheduler);
  id = g_timeout_add (WAIT_MS, wait_cb, &late);
  while (msgtrkd_scheduler_has_runs (scheduler) && !late)
    g_main_context_iteration (NULL, TRUE);
  if (!late)
    g_source_remove (id);
  g_assert_false (msgtrkd_scheduler_has_runs (scheduler));
}

static void
test_at_cap (Fixture      *f,
             gconstpointer data)
{
  g_test_summary ("MSGTRKD_SCHEDULER_MAX_IN_FLIGHT servers: every batch is in flight at once");
  run_servers (f, MSGTRKD_SCHEDULER_MAX_IN_FLIGHT);
}

static void
test_past_cap (Fixture      *f,
               gconstpointer data)
{
  g_test_summary ("Twice MSGTRKD_SCHEDULER_MAX_IN_FLIGHT + 1 servers: never more than the cap "
                  "in flight; each batch that ends lets one more in; every message is done");
  run_servers (f, 2 * MSGTRKD_SCHEDULER_MAX_IN_FLIGHT + 1);
}

/* Counts the warnings that a poll round's batch could not be committed. */
static guint round_lost_warnings;

static GLogWriterOutput
count_writer (GLogLevelFlags   level,
              const GLogField *fields,
              gsize            n_fields,
              gpointer         data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0
        && strstr (fields[i].value, "Cannot store the results of a poll round") != NULL)
      {
        round_lost_warnings++;
        return G_LOG_WRITER_HANDLED;
      }
  return g_log_writer_default (level, fields, n_fields, data);
}

/* Two due messages; their schedules move in one store batch whose COMMIT fails (every
 * write refused: a full disk, here RLIMIT_FSIZE 0). Each update in the batch "succeeded",
 * the messages stay due: the timer must wait MSGTRKD_SCHEDULER_STUCK_RETRY, not fire again
 * at once, and again (a busy loop writing a warning each round; session 21 review). The
 * window is time on purpose: what is checked is that nothing happens in it. */
static void
test_commit_fails (Fixture      *f,
                   gconstpointer data)
{
  g_autoptr (GArray) schedule = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (MsgtrkdScheduler) scheduler = NULL;
  guint interval = 3600;
  struct rlimit old, none = { 0, 0 };
  gboolean late = FALSE;
  guint id;

  g_array_append_val (schedule, interval);
  add_due (f, "env-commit-0", "mtqp.sched.test");
  add_due (f, "env-commit-1", "mtqp.sched.test");
  scheduler = msgtrkd_scheduler_new (f->store, f->keyring, f->client, schedule, poll_done,
                                     NULL, f);
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &old), ==, 0);
  none.rlim_max = old.rlim_max;
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &none), ==, 0);
  /* The round's warning is expected here (count_writer counts it): not fatal. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  round_lost_warnings = 0;
  msgtrkd_scheduler_reschedule (scheduler);
  id = g_timeout_add (2000, wait_cb, &late);
  while (!late)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &old), ==, 0);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
  g_test_message ("rounds lost in 2 s: %u", round_lost_warnings);
  /* Once; the next round MSGTRKD_SCHEDULER_STUCK_RETRY s later. */
  g_assert_cmpuint (round_lost_warnings, >=, 1);
  g_assert_cmpuint (round_lost_warnings, <=, 1);

  msgtrkd_scheduler_shutdown (scheduler);
  late = FALSE;
  id = g_timeout_add (WAIT_MS, wait_cb, &late);
  while (msgtrkd_scheduler_has_runs (scheduler) && !late)
    g_main_context_iteration (NULL, TRUE);
  if (!late)
    g_source_remove (id);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/msgtrkd/scheduler/in-flight/at-cap", Fixture, NULL, fixture_setup,
              test_at_cap, fixture_teardown);
  g_test_add ("/msgtrkd/scheduler/in-flight/past-cap", Fixture, NULL, fixture_setup,
              test_past_cap, fixture_teardown);
  g_test_add ("/msgtrkd/scheduler/stuck/commit-fails", Fixture, NULL, fixture_setup,
              test_commit_fails, fixture_teardown);
  g_log_set_writer_func (count_writer, NULL, NULL);
  return g_test_run ();
}
