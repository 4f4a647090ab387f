/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-store-backends.c: the tracking store's PostgreSQL backend.
 *
 * What: the contract of track-store.h, the table of cases every backend runs
 * (tests/mtqpd/track-store-cases.c: round trip, one answer for unknown / expired / wrong
 * secret, first owner kept, takeover after expiry, older versions dropped, duplicates
 * idempotent, limits at and past them, expiry) as /store/postgresql/... (the files backend
 * runs it in tests/mtqpd/test-track-store.c, PostgreSQL or not); then PostgreSQL-only cases: an unreachable database answers
 * MSGTRK_ERROR_CONNECT (never NOT_FOUND), a password in conninfo and a password file with
 * group/other access are refused, the schema is at version 1 and a newer one is refused.
 * How: the PostgreSQL cases need MSGTRK_TEST_PG_CONNINFO (tests/pg/run-with-pg.py starts
 * a real server); without it they are skipped. Each test starts from an empty table.
 * Never: needs a network; uses the system's own cluster.
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#ifdef HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "msgtrk-private.h"
#include "test-util.h"
#include "track-store-cases.h"

static GKeyFile *
store_config (const char *backend)
{
  GKeyFile *kf = g_key_file_new ();

  g_key_file_set_string (kf, "store", "backend", backend);
  if (strcmp (backend, "postgresql") == 0)
    g_key_file_set_string (kf, "store", "conninfo", g_getenv ("MSGTRK_TEST_PG_CONNINFO"));
  return kf;
}

#ifdef HAVE_LIBPQ
static void
pg_sql (const char *sql)
{
  PGconn *conn = PQconnectdb (g_getenv ("MSGTRK_TEST_PG_CONNINFO"));
  PGresult *res;

  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  res = PQexec (conn, sql);
  if (PQresultStatus (res) != PGRES_COMMAND_OK && PQresultStatus (res) != PGRES_TUPLES_OK)
    g_error ("%s: %s", sql, PQerrorMessage (conn));
  PQclear (res);
  PQfinish (conn);
}
#endif

/* PostgreSQL only. */

#ifdef HAVE_LIBPQ
/* Skip the case without a server; TRUE to go on. */
static gboolean
have_pg (void)
{
  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") != NULL)
    return TRUE;
  g_test_skip ("no PostgreSQL");
  return FALSE;
}

/* A store on the test database, its state directory @dir. */
static TrackStore *
pg_store_new (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = store_config ("postgresql");
  TrackStore *store = track_store_new_from_config (kf, dir, &error);

  g_assert_no_error (error);
  return store;
}
#endif

/* The store of the shared cases (track-store-cases.c): the test database, its tables
 * emptied; none without a server (the cases are skipped). */
static void
open_pg (StoreFixture *f)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = NULL;

  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
    return;
  f->store = pg_store_new (f->dir);
  /* The first call creates the schema; then start from an empty table. */
  r = track_store_lookup (f->store, "mtrk.setup@example.com", SECRET_A, NOW, &error);
  g_assert_null (r);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
  pg_sql ("TRUNCATE msgtrk_record, msgtrk_owner");
#endif
}

static void
test_pg_unreachable (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *conninfo = g_strdup_printf ("host=%s/nothing user=msgtrk dbname=x", dir);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");

  g_test_summary ("A database that is down: lookups and puts fail with CONNECT, not "
                  "NOT_FOUND, at once while backing off");
  g_key_file_set_string (kf, "store", "backend", "postgresql");
  g_key_file_set_string (kf, "store", "conninfo", conninfo);
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 3; i++)
    {
      g_autoptr (GError) e = NULL;
      g_autoptr (MsgtrkReport) r = track_store_lookup (store, ENVID, SECRET_A, NOW, &e);

      g_assert_null (r);
      g_assert_error (e, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT);
    }
  g_assert_false (track_store_put (store, ENVID, AUTH_B, NOW, report, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT);
  g_clear_object (&store);
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

static void
test_pg_config (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *pw = g_build_filename (dir, "pw", NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  TrackStore *store;

  g_test_summary ("conninfo with a password, an open password file, no conninfo, an "
                  "unknown key or backend: refused, and the password never quoted");
  g_key_file_set_string (kf, "store", "backend", "postgresql");
  g_key_file_set_string (kf, "store", "conninfo", "host=/tmp password=s3cr3t-pw");
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_null (store);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_null (strstr (error->message, "s3cr3t-pw"));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (pw, "s3cr3t-pw\n", -1, NULL));
  g_assert_cmpint (g_chmod (pw, 0640), ==, 0);
  g_key_file_set_string (kf, "store", "conninfo", "host=/tmp");
  g_key_file_set_string (kf, "store", "password_file", pw);
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_null (store);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED);
  g_assert_null (strstr (error->message, "s3cr3t-pw"));
  g_clear_error (&error);
  g_assert_cmpint (g_chmod (pw, 0600), ==, 0);
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_no_error (error);
  g_clear_object (&store);

  g_key_file_remove_key (kf, "store", "conninfo", NULL);
  g_assert_false (track_store_check_config (kf, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_key_file_set_string (kf, "store", "backend", "mysql");
  g_assert_false (track_store_check_config (kf, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_key_file_set_string (kf, "store", "backend", "postgresql");
  g_key_file_set_string (kf, "store", "conninfo", "host=/tmp");
  g_key_file_set_string (kf, "store", "pool_size", "64"); /* TRACK_STORE_MAX_POOL_SIZE */
  g_assert_true (track_store_check_config (kf, &error));
  g_assert_no_error (error);
  g_key_file_set_string (kf, "store", "pool_size", "65");
  g_assert_false (track_store_check_config (kf, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "pool_size"));
  g_clear_error (&error);
  g_key_file_set_string (kf, "store", "pool_size", "0");
  g_assert_false (track_store_check_config (kf, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_key_file_remove_key (kf, "store", "pool_size", NULL);
  g_key_file_set_string (kf, "store", "backend", "files");
  g_key_file_set_string (kf, "store", "pool", "3");
  g_assert_false (track_store_check_config (kf, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

static void
test_pg_schema (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  g_autofree char *dir = NULL;

  g_test_summary ("A database with a newer schema than the program knows is refused "
                  "(answered as a fault, not as not-found)");
  if (!have_pg ())
    return;
  dir = mt_tmpdir_new ();
  pg_sql ("CREATE TABLE IF NOT EXISTS msgtrk_schema_version (version integer NOT NULL);"
          "INSERT INTO msgtrk_schema_version VALUES (999)");
  store = pg_store_new (dir);
  r = track_store_lookup (store, ENVID, SECRET_A, NOW, &error);
  g_assert_null (r);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_UNSUPPORTED);
  pg_sql ("DELETE FROM msgtrk_schema_version WHERE version = 999");
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

static void
test_pg_expire_batches (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  g_autofree char *dir = NULL;

  g_test_summary ("Expiry past one batch (PG_EXPIRE_BATCH, 10,000): 25,000 expired rows "
                  "go in three statements, the live row stays");
  if (!have_pg ())
    return;
  dir = mt_tmpdir_new ();
  store = pg_store_new (dir);
  r = track_store_lookup (store, ENVID, SECRET_A, NOW, &error); /* creates the schema */
  g_clear_error (&error);
  pg_sql ("TRUNCATE msgtrk_record, msgtrk_owner;"
          "INSERT INTO msgtrk_record (envid, authenticator, expires_at, version, fields) "
          "SELECT convert_to ('mtrk.' || i || '@example.com', 'UTF8'), '" AUTH_B "', "
          "  1000, 1, '' FROM generate_series (1, 25000) AS i;"
          "INSERT INTO msgtrk_record (envid, authenticator, expires_at, version, fields) "
          "VALUES ('live', '" AUTH_B "', 4000000000, 1, '')");
  g_assert_cmpuint (track_store_expire (store, NOW), ==, 25000);
  g_assert_cmpuint (track_store_expire (store, NOW), ==, 0);
  pg_sql ("DO $$ BEGIN IF (SELECT count (*) FROM msgtrk_record) <> 1 THEN "
          "RAISE EXCEPTION 'the live row is gone'; END IF; END $$");
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

#ifdef HAVE_LIBPQ
static TrackStore *
open_node (const char *dir,
           const char *node)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = store_config ("postgresql");
  TrackStore *store;

  g_key_file_set_string (kf, "store", "node", node);
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_no_error (error);
  return store;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The actions of every part answered for ENVID with SECRET_A, sorted, joined by ",". */
static char *
served_actions (TrackStore *store,
                gint64      now)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = track_store_lookup_all (store, ENVID, SECRET_A, now, &error);
  g_autoptr (GPtrArray) actions = g_ptr_array_new ();

  if (reports == NULL)
    return g_strdup (error->message);
  for (guint i = 0; i < reports->len; i++)
    {
      GPtrArray *rcpts = msgtrk_report_get_recipients (reports->pdata[i]);

      g_ptr_array_add (actions, (gpointer) msgtrk_action_to_string (
                         msgtrk_recipient_report_get_action (rcpts->pdata[0])));
    }
  g_ptr_array_sort (actions, compare_strings);
  g_ptr_array_add (actions, NULL);
  return g_strjoinv (",", (char **) actions->pdata);
}
#endif

#ifdef HAVE_LIBPQ
/* Lookups from many threads over one connection (coalesced into batches). */
#define LOOKUP_ENVIDS 24
#define LOOKUP_THREADS 56
#define LOOKUP_ROUNDS 40

typedef struct
{
  TrackStore *store;
  char *envid;
  guint expect;  /* parts answered; 0: NOT_FOUND */
  gint64 now;
  guint rounds;
  gint *bad;     /* (atomic) wrong answers */
} LookupJob;

static gpointer
lookup_thread (gpointer data)
{
  LookupJob *job = data;

  for (guint r = 0; r < job->rounds; r++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) fields = track_store_lookup_fields (job->store, job->envid,
                                                                SECRET_A, job->now, &error);
      gboolean ok;

      if (job->expect == 0)
        ok = fields == NULL && g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
      else
        {
          ok = fields != NULL && fields->len == job->expect;
          for (guint i = 0; ok && i < fields->len; i++)
            ok = strstr (fields->pdata[i], job->envid) != NULL;
        }
      if (!ok)
        g_atomic_int_inc (job->bad);
    }
  return NULL;
}

static TrackStore *
open_pool_of_one (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = store_config ("postgresql");
  TrackStore *store;

  g_key_file_set_string (kf, "store", "pool_size", "1");
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_no_error (error);
  return store;
}

/* Empty the tables of @store (after a first lookup has made its schema), then put
 * LOOKUP_ENVIDS records "mtrk.<prefix>NN@example.com", the first also from node @second. */
static void
seed_lookup_envids (TrackStore *store,
                    TrackStore *second,
                    const char *prefix,
                    gint64      now)
{
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (MsgtrkReport) r = track_store_lookup (store, ENVID, SECRET_A, NOW, &error);

    pg_sql ("TRUNCATE msgtrk_record, msgtrk_owner");
  }
  for (guint i = 0; i < LOOKUP_ENVIDS; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *envid = g_strdup_printf ("mtrk.%s%02u@example.com", prefix, i);
      g_autoptr (MsgtrkReport) report = store_make_report (envid, "delivered");

      g_assert_true (track_store_put (store, envid, AUTH_B, now + 1000, report, &error));
      g_assert_no_error (error);
      if (i == 0)
        {
          g_assert_true (track_store_put (second, envid, AUTH_B, now + 1000, report, &error));
          g_assert_no_error (error);
        }
    }
}
#endif

static void
test_pg_lookup_batch (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (TrackStore) second = NULL;
  g_autofree char *dir = NULL;
  LookupJob jobs[LOOKUP_THREADS];
  GThread *threads[LOOKUP_THREADS];
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  guint64 lookups = 0, batches = 0;
  guint waiting = 0;
  gint bad = 0;

  g_test_summary ("Concurrent lookups over one connection are answered in batches (one "
                  "statement each), every caller its own records: two callers of one ENVID "
                  "in a batch, an ENVID with two nodes' records, unknown ENVIDs");
  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
    {
      g_test_skip ("no PostgreSQL");
      return;
    }
  dir = mt_tmpdir_new ();
  store = open_pool_of_one (dir);
  second = open_node (dir, "second");
  seed_lookup_envids (store, second, "batch", now);
  track_store_lookup_stats (store, &lookups, &batches, &waiting);
  for (guint t = 0; t < LOOKUP_THREADS; t++)
    {
      /* Threads t and t + LOOKUP_ENVIDS ask the same ENVID; past 2 × LOOKUP_ENVIDS,
       * unknown ones. */
      guint k = t % LOOKUP_ENVIDS;

      jobs[t].store = store;
      jobs[t].now = now;
      jobs[t].rounds = LOOKUP_ROUNDS;
      jobs[t].bad = &bad;
      if (t < 2 * LOOKUP_ENVIDS)
        {
          jobs[t].envid = g_strdup_printf ("mtrk.batch%02u@example.com", k);
          jobs[t].expect = k == 0 ? 2 : 1;
        }
      else
        {
          jobs[t].envid = g_strdup_printf ("mtrk.unknown%02u@example.com", t);
          jobs[t].expect = 0;
        }
      threads[t] = g_thread_new ("lookup", lookup_thread, &jobs[t]);
    }
  for (guint t = 0; t < LOOKUP_THREADS; t++)
    {
      g_thread_join (threads[t]);
      g_free (jobs[t].envid);
    }
  g_assert_cmpint (bad, ==, 0);
  {
    guint64 l0 = lookups, b0 = batches;

    track_store_lookup_stats (store, &lookups, &batches, &waiting);
    g_assert_cmpuint (lookups - l0, ==, LOOKUP_THREADS * LOOKUP_ROUNDS);
    g_assert_cmpuint (waiting, ==, 0);
    g_test_message ("%" G_GUINT64_FORMAT " lookups in %" G_GUINT64_FORMAT " statements",
                    lookups - l0, batches - b0);
    /* Coalesced: far fewer statements than lookups. */
    g_assert_cmpuint ((batches - b0) * 2, <, lookups - l0);
  }
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

#ifdef HAVE_LIBPQ
/* @n lookups queued behind one held by a table lock, then released: the batches. */
static guint64
batches_for_queued (TrackStore *store,
                    guint       n)
{
  PGconn *conn = PQconnectdb (g_getenv ("MSGTRK_TEST_PG_CONNINFO"));
  g_autofree LookupJob *jobs = g_new0 (LookupJob, n + 1);
  g_autofree GThread **threads = g_new0 (GThread *, n + 1);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  guint64 l0, b0, lookups, batches;
  guint waiting = 0;
  gint bad = 0;
  PGresult *res;

  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  res = PQexec (conn, "BEGIN; LOCK TABLE msgtrk_record IN ACCESS EXCLUSIVE MODE");
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_COMMAND_OK);
  PQclear (res);
  track_store_lookup_stats (store, &l0, &b0, &waiting);
  for (guint t = 0; t <= n; t++)
    {
      jobs[t].store = store;
      jobs[t].now = now;
      jobs[t].rounds = 1;
      jobs[t].bad = &bad;
      jobs[t].envid = g_strdup_printf ("mtrk.queued%04u@example.com", t);
      threads[t] = g_thread_new ("lookup", lookup_thread, &jobs[t]);
      if (t == 0)
        /* The first takes the only connection and waits for the lock. */
        do
          {
            g_usleep (10 * 1000);
            track_store_lookup_stats (store, &lookups, &batches, &waiting);
            g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          }
        while (batches == b0);
    }
  do
    {
      g_usleep (10 * 1000);
      track_store_lookup_stats (store, &lookups, &batches, &waiting);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    }
  while (waiting < n);
  res = PQexec (conn, "COMMIT");
  PQclear (res);
  PQfinish (conn);
  for (guint t = 0; t <= n; t++)
    {
      g_thread_join (threads[t]);
      g_free (jobs[t].envid);
    }
  g_assert_cmpint (bad, ==, 0);
  track_store_lookup_stats (store, &lookups, &batches, &waiting);
  g_assert_cmpuint (lookups - l0, ==, n + 1);
  return batches - b0;
}
#endif

static void
test_pg_lookup_batch_limit (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (TrackStore) store = NULL;
  g_autofree char *dir = NULL;

  g_test_summary ("TRACK_STORE_LOOKUP_BATCH lookups queued behind a busy connection are "
                  "one statement; one more is two");
  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
    {
      g_test_skip ("no PostgreSQL");
      return;
    }
  dir = mt_tmpdir_new ();
  store = open_pool_of_one (dir);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (MsgtrkReport) r = track_store_lookup (store, ENVID, SECRET_A, NOW, &error);

    g_clear_error (&error);
  }
  /* The held lookup, then the queued ones. */
  g_assert_cmpuint (batches_for_queued (store, TRACK_STORE_LOOKUP_BATCH), ==, 2);
  g_assert_cmpuint (batches_for_queued (store, TRACK_STORE_LOOKUP_BATCH + 1), ==, 3);
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

#ifdef HAVE_LIBPQ
/* Puts while lookups keep every connection busy (test_pg_put_fair). */
#define FAIR_LOOKUP_THREADS 32
#define FAIR_PUTS 10
/* The longest a put may wait with FAIR_LOOKUP_THREADS lookups always queued over one
 * connection: a few statements' time if served in turn; generous for ASan and a loaded
 * machine, far below PG_POOL_WAIT_SECONDS (10 s). */
#define FAIR_PUT_MAX_MS 2000

typedef struct
{
  TrackStore *store;
  gint64 now;
  gint *stop;    /* (atomic) */
  gint *bad;     /* (atomic) */
  guint64 done;
} HammerJob;

static gpointer
hammer_thread (gpointer data)
{
  HammerJob *job = data;

  while (!g_atomic_int_get (job->stop))
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) fields = track_store_lookup_fields (job->store,
                                                                "mtrk.hammer@example.com",
                                                                SECRET_A, job->now, &error);

      if (fields != NULL || !g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
        g_atomic_int_inc (job->bad);
      job->done++;
    }
  return NULL;
}
#endif

static void
test_pg_put_fair (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (TrackStore) store = NULL;
  g_autofree char *dir = NULL;
  HammerJob jobs[FAIR_LOOKUP_THREADS];
  GThread *threads[FAIR_LOOKUP_THREADS];
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 longest = 0;
  guint64 lookups = 0;
  gint stop = 0, bad = 0;

  g_test_summary ("A put is served in its turn while lookups keep the only connection "
                  "busy (a lookup does not take a connection ahead of a waiting put)");
  if (!have_pg ())
    return;
  dir = mt_tmpdir_new ();
  store = open_pool_of_one (dir);
  g_assert_null (track_store_lookup (store, "mtrk.setup@example.com", SECRET_A, now, NULL));
  pg_sql ("TRUNCATE msgtrk_record, msgtrk_owner");
  for (guint t = 0; t < FAIR_LOOKUP_THREADS; t++)
    {
      jobs[t] = (HammerJob) { .store = store, .now = now, .stop = &stop, .bad = &bad };
      threads[t] = g_thread_new ("hammer", hammer_thread, &jobs[t]);
    }
  g_usleep (100 * 1000);
  for (guint i = 0; i < FAIR_PUTS; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *envid = g_strdup_printf ("mtrk.fair%02u@example.com", i);
      g_autoptr (MsgtrkReport) report = store_make_report (envid, "delivered");
      gint64 t0 = g_get_monotonic_time ();
      gboolean ok = track_store_put (store, envid, AUTH_B, now + 1000, report, &error);
      gint64 took = g_get_monotonic_time () - t0;

      g_test_message ("put %u: %" G_GINT64_FORMAT " µs", i, took);
      g_assert_no_error (error);
      g_assert_true (ok);
      longest = MAX (longest, took);
    }
  g_atomic_int_set (&stop, 1);
  for (guint t = 0; t < FAIR_LOOKUP_THREADS; t++)
    {
      g_thread_join (threads[t]);
      lookups += jobs[t].done;
    }
  g_test_message ("longest put %" G_GINT64_FORMAT " µs beside %" G_GUINT64_FORMAT " lookups",
                  longest, lookups);
  g_assert_cmpint (bad, ==, 0);
  g_assert_cmpint (longest, <, (gint64) FAIR_PUT_MAX_MS * 1000);
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

#ifdef HAVE_LIBPQ
/* Asynchronous lookups (test_pg_lookup_async). */
#define ASYNC_LOOKUPS 300

typedef struct
{
  GMutex lock;
  GCond cond;
  guint answered;
  guint bad;
} AsyncCount;

typedef struct
{
  AsyncCount *count;
  TrackStore *store;
  guint expect; /* parts; 0: NOT_FOUND */
  gint64 now;
  const char *secret; /* (nullable) NULL: SECRET_A */
} AsyncJob;

static void
async_done (GPtrArray *rows,
            GError    *error,
            gpointer   data)
{
  AsyncJob *job = data;
  g_autoptr (GError) local = NULL;
  g_autoptr (GPtrArray) fields = track_store_lookup_fields_finish (
    job->store, rows, error, job->secret != NULL ? job->secret : SECRET_A, job->now, &local);
  gboolean ok = job->expect == 0
                  ? fields == NULL && g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND)
                  : fields != NULL && fields->len == job->expect;

  g_mutex_lock (&job->count->lock);
  if (!ok)
    job->count->bad++;
  job->count->answered++;
  g_cond_signal (&job->count->cond);
  g_mutex_unlock (&job->count->lock);
}
#endif

static void
test_pg_lookup_async (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (TrackStore) second = NULL;
  g_autofree char *dir = NULL;
  g_autofree AsyncJob *jobs = g_new0 (AsyncJob, ASYNC_LOOKUPS);
  AsyncCount count = { 0 };
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 deadline;
  guint64 lookups = 0, batches = 0;
  guint waiting = 0;
  gint bad = 0;

  g_test_summary ("Lookups without blocking (track_store_lookup_rows_async) over one "
                  "connection: each callback gets its own ENVID's rows (two nodes' records, "
                  "unknown ENVIDs), coalesced with blocking lookups running meanwhile; an "
                  "ENVID no record can have is not started");
  if (!have_pg ())
    return;
  dir = mt_tmpdir_new ();
  store = open_pool_of_one (dir);
  second = open_node (dir, "second");
  seed_lookup_envids (store, second, "async", now);
  g_mutex_init (&count.lock);
  g_cond_init (&count.cond);
  track_store_lookup_stats (store, &lookups, &batches, &waiting);
  {
    /* Blocking lookups at the same time, from other threads. */
    LookupJob sync_job = { .store = store, .expect = 1, .now = now, .rounds = 20, .bad = &bad };
    GThread *sync_thread;

    sync_job.envid = g_strdup ("mtrk.async01@example.com");
    sync_thread = g_thread_new ("lookup", lookup_thread, &sync_job);
    for (guint i = 0; i < ASYNC_LOOKUPS; i++)
      {
        guint k = i % (LOOKUP_ENVIDS + 4); /* the last 4: unknown */
        g_autofree char *envid = k < LOOKUP_ENVIDS
                                   ? g_strdup_printf ("mtrk.async%02u@example.com", k)
                                   : g_strdup_printf ("mtrk.unknown%02u@example.com", k);

        jobs[i] = (AsyncJob) { .count = &count, .store = store, .now = now,
                               .expect = k >= LOOKUP_ENVIDS ? 0 : k == 0 ? 2 : 1 };
        g_assert_true (track_store_lookup_rows_async (store, envid, async_done, &jobs[i]));
      }
    g_thread_join (sync_thread);
    g_free (sync_job.envid);
  }
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  g_mutex_lock (&count.lock);
  while (count.answered < ASYNC_LOOKUPS)
    g_assert_true (g_cond_wait_until (&count.cond, &count.lock, deadline));
  g_mutex_unlock (&count.lock);
  g_assert_cmpuint (count.bad, ==, 0);
  g_assert_cmpint (bad, ==, 0);
  {
    guint64 l0 = lookups, b0 = batches;

    track_store_lookup_stats (store, &lookups, &batches, &waiting);
    g_assert_cmpuint (lookups - l0, ==, ASYNC_LOOKUPS + 20);
    g_test_message ("%" G_GUINT64_FORMAT " lookups in %" G_GUINT64_FORMAT " statements",
                    lookups - l0, batches - b0);
    g_assert_cmpuint ((batches - b0) * 2, <, lookups - l0);
  }
  /* Not started: an ENVID over the limit (answered by track_store_lookup_fields). */
  {
    g_autofree char *long_envid = g_strnfill (TRACK_STORE_MAX_ENVID_LENGTH + 1, 'x');

    g_assert_false (track_store_lookup_rows_async (store, long_envid, async_done, NULL));
  }
  /* Nor on the files backend (its lookups do not wait on a server). */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GKeyFile) kf = store_config ("files");
    g_autoptr (TrackStore) files = track_store_new_from_config (kf, dir, &error);

    g_assert_no_error (error);
    g_assert_false (track_store_lookup_rows_async (files, "mtrk.async01@example.com",
                                                   async_done, NULL));
  }
  g_mutex_clear (&count.lock);
  g_cond_clear (&count.cond);
  g_clear_object (&store); /* joins the lookup threads */
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

/* A secret that does not open AUTH_B (well-formed base64 of 32 octets). */
#define SECRET_WRONG "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void
test_pg_lookup_async_many (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (TrackStore) second = NULL;
  g_autofree char *dir = NULL;
  g_autofree AsyncJob *jobs = g_new0 (AsyncJob, TRACK_STORE_LOOKUP_BATCH);
  g_autofree gpointer *data = g_new0 (gpointer, TRACK_STORE_LOOKUP_BATCH);
  g_autoptr (GPtrArray) envids = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *long_envid = g_strnfill (TRACK_STORE_MAX_ENVID_LENGTH + 1, 'x');
  AsyncCount count = { 0 };
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 deadline;
  guint64 lookups = 0, batches = 0, l0, b0;
  guint waiting = 0, started = 0;

  g_test_summary ("track_store_lookup_rows_async_many (a session's pipelined TRACKs): "
                  "TRACK_STORE_LOOKUP_BATCH lookups queued together are answered by one "
                  "statement, each callback its own answer (two nodes' records, unknown "
                  "ENVIDs, a wrong secret, repeated ENVIDs); an ENVID no record can have is "
                  "answered at once, NOT_FOUND");
  if (!have_pg ())
    return;
  dir = mt_tmpdir_new ();
  store = open_pool_of_one (dir);
  second = open_node (dir, "second");
  g_assert_true (track_store_can_lookup_async (store));
  seed_lookup_envids (store, second, "many", now);
  g_mutex_init (&count.lock);
  g_cond_init (&count.cond);
  for (guint i = 0; i < TRACK_STORE_LOOKUP_BATCH; i++)
    {
      guint k = i % (LOOKUP_ENVIDS + 6); /* then 3 unknown, 1 wrong secret, 1 overlong, 1 bad */

      jobs[i] = (AsyncJob) { .count = &count, .store = store, .now = now,
                             .expect = k < LOOKUP_ENVIDS ? (k == 0 ? 2 : 1) : 0 };
      if (k < LOOKUP_ENVIDS)
        g_ptr_array_add (envids, g_strdup_printf ("mtrk.many%02u@example.com", k));
      else if (k < LOOKUP_ENVIDS + 3)
        g_ptr_array_add (envids, g_strdup_printf ("mtrk.unknown%02u@example.com", k));
      else if (k == LOOKUP_ENVIDS + 3)
        {
          g_ptr_array_add (envids, g_strdup ("mtrk.many01@example.com"));
          jobs[i].secret = SECRET_WRONG;
        }
      else if (k == LOOKUP_ENVIDS + 4)
        g_ptr_array_add (envids, g_strdup (long_envid));
      else
        g_ptr_array_add (envids, g_strdup ("")); /* empty: no record either */
      if (k < LOOKUP_ENVIDS + 4)
        started++;
      data[i] = &jobs[i];
    }
  track_store_lookup_stats (store, &lookups, &batches, &waiting);
  l0 = lookups;
  b0 = batches;
  track_store_lookup_rows_async_many (store, (const char *const *) envids->pdata, data,
                                      TRACK_STORE_LOOKUP_BATCH, async_done);
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  g_mutex_lock (&count.lock);
  while (count.answered < TRACK_STORE_LOOKUP_BATCH)
    g_assert_true (g_cond_wait_until (&count.cond, &count.lock, deadline));
  g_mutex_unlock (&count.lock);
  g_assert_cmpuint (count.bad, ==, 0);
  track_store_lookup_stats (store, &lookups, &batches, &waiting);
  g_assert_cmpuint (lookups - l0, ==, started);
  g_assert_cmpuint (batches - b0, ==, 1);
  g_mutex_clear (&count.lock);
  g_cond_clear (&count.cond);
  g_clear_object (&store); /* joins the lookup threads */
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

static void
test_pg_lookup_share (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (GKeyFile) kf = store_config ("postgresql");
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;

  g_test_summary ("Lookups run on half the pool at most (PG_LOOKUP_SHARE): with two "
                  "connections, lookups behind one held lookup queue (one statement) "
                  "instead of taking the second connection, kept for writes");
  if (!have_pg ())
    return;
  dir = mt_tmpdir_new ();
  g_key_file_set_string (kf, "store", "pool_size", "2");
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_no_error (error);
  g_assert_null (track_store_lookup (store, ENVID, SECRET_A, NOW, NULL));
  /* Every one of the 5 queues behind the held one (else the wait for 5 queued fails). */
  g_assert_cmpuint (batches_for_queued (store, 5), ==, 2);
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

static void
test_pg_nodes (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (TrackStore) a = NULL;
  g_autoptr (TrackStore) b = NULL;
  g_autoptr (MsgtrkReport) relayed = store_make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) theirs = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) loaded = NULL;
  g_autoptr (MsgtrkReport) one = NULL;
  g_autofree char *served = NULL;
  g_autofree char *auth = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  g_test_summary ("One record per (ENVID, node): two nodes' records of one message are both "
                  "answered, each node's versions ordered on their own, and the first "
                  "owner's B guards the ENVID across nodes (a takeover through another "
                  "node is refused; allowed once every record of the owner expired)");
  if (!have_pg ())
    return;
  dir = mt_tmpdir_new ();
  a = open_node (dir, "node-a");
  b = open_node (dir, "node-b");
  g_assert_null (track_store_lookup (a, "mtrk.setup@example.com", SECRET_A, now, NULL));
  pg_sql ("TRUNCATE msgtrk_record, msgtrk_owner");

  /* b writes last, with a lower version than a's: a's record is not replaced by it. */
  g_assert_true (track_store_put_versioned (a, ENVID, AUTH_B, now + 100, 20, relayed, &error));
  g_assert_no_error (error);
  g_assert_true (track_store_put_versioned (b, ENVID, AUTH_B, now + 100, 10, delivered,
                                            &error));
  g_assert_no_error (error);
  served = served_actions (a, now);
  g_assert_cmpstr (served, ==, "delivered,relayed");
  g_clear_pointer (&served, g_free);
  served = served_actions (b, now);
  g_assert_cmpstr (served, ==, "delivered,relayed");
  g_clear_pointer (&served, g_free);

  /* Each node loads its own record (the relay's load-merge-put). */
  loaded = track_store_load (b, ENVID, &auth, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     msgtrk_report_get_recipients (loaded)->pdata[0]),
                   ==, MSGTRK_ACTION_DELIVERED);
  g_assert_cmpstr (auth, ==, AUTH_B);

  /* Per node: an older version of a's record is dropped. */
  g_assert_true (track_store_put_versioned (a, ENVID, AUTH_B, now + 100, 19, delivered,
                                            &error));
  served = served_actions (a, now);
  g_assert_cmpstr (served, ==, "delivered,relayed");
  g_clear_pointer (&served, g_free);

  /* The takeover through a third node, which has no record of its own yet. */
  {
    g_autoptr (TrackStore) c = open_node (dir, "node-c");

    g_assert_false (track_store_put_versioned (c, ENVID, HIJACK_B, now + 7200, 99, theirs,
                                               &error));
    g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
    g_clear_error (&error);
    /* And through a node that has one. */
    g_assert_false (track_store_put_versioned (b, ENVID, HIJACK_B, now + 7200, 99, theirs,
                                               &error));
    g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
    g_clear_error (&error);
  }
  served = served_actions (b, now);
  g_assert_cmpstr (served, ==, "delivered,relayed");
  g_clear_pointer (&served, g_free);

  /* track_store_lookup(): one of the parts; a wrong secret: the same as unknown. */
  one = track_store_lookup (a, ENVID, SECRET_A, now, &error);
  g_assert_no_error (error);
  g_assert_nonnull (one);
  g_assert_null (track_store_lookup_all (a, ENVID, WRONG_A, now, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Once every record of the owner has expired, another B may take the ENVID, and the
   * previous owner's records are no longer served to anyone. */
  pg_sql ("UPDATE msgtrk_record SET expires_at = 1000; UPDATE msgtrk_owner SET expires_at = 1000");
  g_assert_true (track_store_put_versioned (b, ENVID, HIJACK_B, now + 7200, 1, theirs, &error));
  g_assert_no_error (error);
  g_assert_null (track_store_lookup_all (a, ENVID, SECRET_A, now, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (track_store_expire (a, now), ==, 1); /* a's old record */
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

static void
test_pg_put_many_nodes (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (TrackStore) a = NULL;
  g_autoptr (MsgtrkReport) relayed = store_make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) delayed = store_make_report (ENVID, "delayed");
  g_autofree char *served = NULL;
  g_autofree char *check = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  TrackStorePut puts[] = {
    { "node-a", ENVID, AUTH_B, now + 100, 2, relayed, NULL },
    { "node-b", ENVID, AUTH_B, now + 7200, 1, delivered, NULL },
    /* node-a again, older: dropped */
    { "node-a", ENVID, AUTH_B, now + 100, 1, delayed, NULL },
    /* another B through a third node: refused */
    { "node-c", ENVID, HIJACK_B, now + 9000, 9, delayed, NULL },
  };

  g_test_summary ("track_store_put_many() with one ENVID from several nodes in one batch: "
                  "each node's record stored (its highest version), the owner's expiry the "
                  "latest of its writes, a takeover through another node refused");
  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
    {
      g_test_skip ("no PostgreSQL");
      return;
    }
  dir = mt_tmpdir_new ();
  a = open_node (dir, "node-a");
  g_assert_null (track_store_lookup (a, "mtrk.setup@example.com", SECRET_A, now, NULL));
  pg_sql ("TRUNCATE msgtrk_record, msgtrk_owner");
  track_store_put_many (a, puts, G_N_ELEMENTS (puts));
  g_assert_no_error (puts[0].error);
  g_assert_no_error (puts[1].error);
  g_assert_no_error (puts[2].error);
  g_assert_error (puts[3].error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  served = served_actions (a, now);
  g_assert_cmpstr (served, ==, "delivered,relayed");
  check = g_strdup_printf ("DO $$ BEGIN IF (SELECT expires_at FROM msgtrk_owner) <> %"
                           G_GINT64_FORMAT " OR (SELECT count (*) FROM msgtrk_record) <> 2 "
                           "THEN RAISE EXCEPTION 'owner expiry or records'; END IF; END $$",
                           now + 7200);
  pg_sql (check);
  for (gsize i = 0; i < G_N_ELEMENTS (puts); i++)
    g_clear_error (&puts[i].error);
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

/* The schema as migration 1 left it (frozen: the upgrade starts from it). */
#define SCHEMA_1                                                                        \
  "CREATE TABLE msgtrk_schema_version (version integer NOT NULL);"                      \
  "INSERT INTO msgtrk_schema_version VALUES (1);"                                       \
  "CREATE TABLE msgtrk_record ("                                                        \
  "  envid bytea PRIMARY KEY CHECK (octet_length (envid) BETWEEN 1 AND 100),"           \
  "  authenticator text NOT NULL, expires_at bigint NOT NULL, version bigint NOT NULL," \
  "  fields bytea NOT NULL, stored_at timestamptz NOT NULL DEFAULT now ());"            \
  "CREATE INDEX msgtrk_record_expires_at ON msgtrk_record (expires_at);"                \
  "CREATE FUNCTION msgtrk_expire (now_unix bigint, batch integer) RETURNS bigint"       \
  "  LANGUAGE plpgsql AS $$ DECLARE d bigint; BEGIN"                                    \
  "    DELETE FROM msgtrk_record WHERE envid IN"                                        \
  "      (SELECT envid FROM msgtrk_record WHERE expires_at <= now_unix LIMIT batch);"   \
  "    GET DIAGNOSTICS d = ROW_COUNT; RETURN d; END $$;"

static void
test_pg_migration_2 (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *served = NULL;
  g_autofree char *insert = NULL;
  g_autofree char *fields = NULL;
  g_autoptr (TrackStore) b = NULL;
  g_autoptr (MsgtrkReport) relayed = store_make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = store_make_report (ENVID, "delivered");
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  g_test_summary ("A database at schema 1 (one record per ENVID) is migrated to 2: the "
                  "record is kept (node ''), its B owns the ENVID across nodes, a node's "
                  "own record joins it in the answer");
  if (!have_pg ())
    return;
  fields = msgtrk_report_to_fields (relayed);
  /* A fields text holds no quote: it can be written as a SQL literal here. */
  g_assert_null (strchr (fields, '\''));
  insert = g_strdup_printf ("INSERT INTO msgtrk_record (envid, authenticator, expires_at, "
                            "version, fields) VALUES (convert_to ('%s', 'UTF8'), '%s', "
                            "%" G_GINT64_FORMAT ", 5, convert_to ('%s', 'UTF8'))",
                            ENVID, AUTH_B, now + 3600, fields);
  pg_sql ("DROP TABLE IF EXISTS msgtrk_record, msgtrk_owner, msgtrk_schema_version;"
          "DROP FUNCTION IF EXISTS msgtrk_expire (bigint, integer);" SCHEMA_1);
  pg_sql (insert);

  dir = mt_tmpdir_new ();
  b = open_node (dir, "node-b");
  served = served_actions (b, now);
  g_assert_cmpstr (served, ==, "relayed");
  g_clear_pointer (&served, g_free);
  g_assert_false (track_store_put_versioned (b, ENVID, HIJACK_B, now + 7200, 99, delivered,
                                             &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_true (track_store_put_versioned (b, ENVID, AUTH_B, now + 3600, 6, delivered,
                                            &error));
  g_assert_no_error (error);
  served = served_actions (b, now);
  g_assert_cmpstr (served, ==, "delivered,relayed");
  pg_sql ("DO $$ BEGIN IF (SELECT max (version) FROM msgtrk_schema_version) <> 2 THEN "
          "RAISE EXCEPTION 'not migrated'; END IF; END $$");
  mt_tmpdir_remove (dir);
#else
  g_test_skip ("built without libpq");
#endif
}

static void
test_pg_node_config (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *longest = g_strnfill (64, 'n'); /* TRACK_STORE_MAX_NODE_LENGTH */
  g_autofree char *too_long = g_strnfill (65, 'n');

  g_test_summary ("[store] node: 1..64 octets of letters, digits, '.', '-', '_', ':' "
                  "(empty: the default, the host name)");
  g_key_file_set_string (kf, "store", "node", longest);
  g_assert_true (track_store_check_config (kf, &error));
  g_assert_no_error (error);
  g_key_file_set_string (kf, "store", "node", too_long);
  g_assert_false (track_store_check_config (kf, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_key_file_set_string (kf, "store", "node", "a b");
  g_assert_false (track_store_check_config (kf, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_key_file_set_string (kf, "store", "node", "a/b");
  g_assert_false (track_store_check_config (kf, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  store_cases_add ("postgresql", open_pg);
  g_test_add_func ("/store/postgresql-only/unreachable", test_pg_unreachable);
  g_test_add_func ("/store/postgresql-only/config", test_pg_config);
  g_test_add_func ("/store/postgresql-only/schema-newer", test_pg_schema);
  g_test_add_func ("/store/postgresql-only/nodes", test_pg_nodes);
  g_test_add_func ("/store/postgresql-only/put-many-nodes", test_pg_put_many_nodes);
  g_test_add_func ("/store/postgresql-only/migration-2", test_pg_migration_2);
  g_test_add_func ("/store/node-config", test_pg_node_config);
  g_test_add_func ("/store/postgresql-only/expire-batches", test_pg_expire_batches);
  g_test_add_func ("/store/postgresql-only/lookup-batch", test_pg_lookup_batch);
  g_test_add_func ("/store/postgresql-only/lookup-batch-limit", test_pg_lookup_batch_limit);
  g_test_add_func ("/store/postgresql-only/put-fair", test_pg_put_fair);
  g_test_add_func ("/store/postgresql-only/lookup-async", test_pg_lookup_async);
  g_test_add_func ("/store/postgresql-only/lookup-share", test_pg_lookup_share);
  g_test_add_func ("/store/postgresql-only/lookup-async-many", test_pg_lookup_async_many);
  return g_test_run ();
}
