/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-store-backends.c: one table of tracking-store tests run against every backend.
 *
 * What: the contract of track-store.h (round trip, one answer for unknown / expired /
 * wrong secret, first owner kept, takeover after expiry, older versions dropped,
 * duplicates idempotent, limits at and past them, expiry) as /store/files/... and again
 * as /store/postgresql/...; then PostgreSQL-only cases: an unreachable database answers
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
#include "track-store.h"

/* A = 32 octets 0x00..0x1f; B = base64 (SHA-1 (A)) (as in tests/mtqpd/test-track-store.c). */
#define SECRET_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define WRONG_A "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define AUTH_B "rlvY7+pTIsTZmG0GaAp4E5L5pkI="
#define HIJACK_B "BBBBBBBBBBBBBBBBBBBBBBBBBBA="
#define ENVID "mtrk.abcdefghijklmnopqrstuvwxyz@example.com"
#define NOW ((gint64) 1700000000)

typedef struct
{
  const char *backend; /* "files" or "postgresql" */
} Backend;

static const Backend files_backend = { "files" };
static const Backend pg_backend = { "postgresql" };

typedef struct
{
  char *dir;
  TrackStore *store;
  gint64 now; /* real time: owner checks use the clock */
} Fixture;

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

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  const Backend *b = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = NULL;

  f->dir = mt_tmpdir_new ();
  f->now = g_get_real_time () / G_USEC_PER_SEC;
  if (strcmp (b->backend, "postgresql") == 0)
    {
#ifdef HAVE_LIBPQ
      if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
        return;
#else
      return;
#endif
    }
  kf = store_config (b->backend);
  f->store = track_store_new_from_config (kf, f->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (track_store_get_backend_name (f->store), ==, b->backend);
#ifdef HAVE_LIBPQ
  if (strcmp (b->backend, "postgresql") == 0)
    {
      /* The first call creates the schema; then start from an empty table. */
      g_autoptr (MsgtrkReport) r = track_store_lookup (f->store, "mtrk.setup@example.com",
                                                       SECRET_A, NOW, &error);

      g_assert_null (r);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
      pg_sql ("TRUNCATE msgtrk_record, msgtrk_owner");
    }
#endif
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  g_clear_object (&f->store);
  mt_tmpdir_remove (f->dir);
  g_free (f->dir);
}

/* Skip a PostgreSQL case without a server; TRUE to go on. */
static gboolean
have_store (Fixture *f)
{
  if (f->store == NULL)
    {
      g_test_skip ("no PostgreSQL (run through tests/pg/run-with-pg.py)");
      return FALSE;
    }
  return TRUE;
}

static MsgtrkReport *
make_report (const char *envid,
             const char *action)
{
  MsgtrkReport *report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (MsgtrkRecipientReport) r = msgtrk_recipient_report_new ("user@example.net");
  g_autoptr (GError) error = NULL;

  msgtrk_report_set_envid (report, envid);
  msgtrk_report_set_reporting_mta (report, "mx.example.com");
  msgtrk_recipient_report_set_action (r, msgtrk_action_from_string (action));
  msgtrk_recipient_report_set_status (r, "2.0.0", NULL, &error);
  g_assert_no_error (error);
  msgtrk_report_add_recipient (report, r);
  return report;
}

/* The action of the first recipient of what TRACK answers for @envid with SECRET_A. */
static char *
served_action (Fixture    *f,
               const char *envid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = track_store_lookup (f->store, envid, SECRET_A, f->now, &error);
  GPtrArray *rcpts;

  g_assert_no_error (error);
  rcpts = msgtrk_report_get_recipients (r);
  g_assert_cmpuint (rcpts->len, ==, 1);
  return g_strdup (msgtrk_action_to_string (
    msgtrk_recipient_report_get_action (g_ptr_array_index (rcpts, 0))));
}

static void
test_round_trip (Fixture      *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) loaded = NULL;
  g_autofree char *auth = NULL;
  g_autofree char *action = NULL;
  gint64 expires = 0;

  g_test_summary ("A stored record is served with the right secret and loads as stored");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 100, report, &error));
  g_assert_no_error (error);
  action = served_action (f, ENVID);
  g_assert_cmpstr (action, ==, "delivered");
  loaded = track_store_load (f->store, ENVID, &auth, &expires, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (auth, ==, AUTH_B);
  g_assert_cmpint (expires, ==, f->now + 100);
  g_assert_cmpstr (msgtrk_report_get_envid (loaded), ==, ENVID);
}

static void
test_same_error (Fixture      *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = make_report (ENVID, "delivered");
  struct
  {
    const char *envid;
    const char *secret;
    gint64 now;
  } cases[] = {
    { "mtrk.unknown@example.com", SECRET_A, NOW },
    { ENVID, WRONG_A, NOW },
    { ENVID, SECRET_A, NOW + 100 },   /* expired at the boundary */
    { ENVID, SECRET_A, NOW + 1000 },
    { ENVID, "not base64!", NOW },
    { "", SECRET_A, NOW },
  };

  g_test_summary ("Unknown ENVID, wrong secret, expired record: one error, one message");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, NOW + 100, report, &error));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) e = NULL;
      g_autoptr (MsgtrkReport) r = track_store_lookup (f->store, cases[i].envid,
                                                       cases[i].secret, cases[i].now, &e);

      g_assert_null (r);
      g_assert_error (e, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
      g_assert_cmpstr (e->message, ==, "No tracking information for this ENVID and secret");
    }
  {
    g_autoptr (MsgtrkReport) r = track_store_lookup (f->store, ENVID, SECRET_A, NOW + 99,
                                                     &error);
    g_assert_no_error (error);
    g_assert_nonnull (r);
  }
}

static void
test_replace (Fixture      *f,
              gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) first = make_report (ENVID, "delayed");
  g_autoptr (MsgtrkReport) second = make_report (ENVID, "delivered");
  g_autofree char *action = NULL;

  g_test_summary ("The owner's next put replaces the record");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 100, first, &error));
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 100, second, &error));
  g_assert_no_error (error);
  action = served_action (f, ENVID);
  g_assert_cmpstr (action, ==, "delivered");
}

static void
test_owner_kept (Fixture      *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) mine = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) theirs = make_report (ENVID, "failed");
  g_autofree char *action = NULL;

  g_test_summary ("ENVID takeover: another B never replaces an unexpired record");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 3600, mine, &error));
  g_assert_false (track_store_put (f->store, ENVID, HIJACK_B, f->now + 7200, theirs, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_assert_null (strstr (error->message, HIJACK_B));
  g_assert_null (strstr (error->message, AUTH_B));
  g_clear_error (&error);
  /* Not even with a newer version. */
  g_assert_false (track_store_put_versioned (f->store, ENVID, HIJACK_B, f->now + 7200,
                                             G_MAXINT64, theirs, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  action = served_action (f, ENVID);
  g_assert_cmpstr (action, ==, "delivered");
}

static void
test_owner_expired (Fixture      *f,
                    gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) old = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) next = make_report (ENVID, "delayed");
  g_autoptr (MsgtrkReport) loaded = NULL;
  g_autofree char *auth = NULL;

  g_test_summary ("An expired record is taken by the next writer, even with a lower version");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now - 1, 1000, old,
                                            &error));
  g_assert_true (track_store_put_versioned (f->store, ENVID, HIJACK_B, f->now + 3600, 1, next,
                                            &error));
  g_assert_no_error (error);
  loaded = track_store_load (f->store, ENVID, &auth, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (auth, ==, HIJACK_B);
}

static void
test_version_order (Fixture      *f,
                    gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) v10 = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) v5 = make_report (ENVID, "delayed");
  g_autoptr (MsgtrkReport) v11 = make_report (ENVID, "relayed");
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  g_autofree char *a3 = NULL;

  g_test_summary ("An older update never overwrites a newer one; a duplicate is one record");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now + 100, 10, v10,
                                            &error));
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now + 100, 5, v5,
                                            &error));
  g_assert_no_error (error);
  a1 = served_action (f, ENVID);
  g_assert_cmpstr (a1, ==, "delivered");
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now + 100, 10, v5,
                                            &error));
  a2 = served_action (f, ENVID);
  g_assert_cmpstr (a2, ==, "delivered");
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now + 100, 11, v11,
                                            &error));
  g_assert_no_error (error);
  a3 = served_action (f, ENVID);
  g_assert_cmpstr (a3, ==, "relayed");
}

static void
test_invalid_arguments (Fixture      *f,
                        gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = make_report (ENVID, "delivered");
  char envid_100[101];
  char envid_101[102];

  g_test_summary ("ENVID length at and past the limit, bad B, negative expiry, version 0");
  if (!have_store (f))
    return;
  memset (envid_100, 'e', 100);
  envid_100[100] = '\0';
  memset (envid_101, 'e', 101);
  envid_101[101] = '\0';
  g_assert_true (track_store_put (f->store, envid_100, AUTH_B, NOW, report, &error));
  g_assert_no_error (error);
  g_assert_false (track_store_put (f->store, envid_101, AUTH_B, NOW, report, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_false (track_store_put (f->store, "", AUTH_B, NOW, report, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_false (track_store_put (f->store, ENVID, "short", NOW, report, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_false (track_store_put (f->store, ENVID, AUTH_B, -1, report, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (track_store_put_versioned (f->store, ENVID, AUTH_B, NOW, 0, report, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
}

static void
test_size_limit (Fixture      *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) big = make_report (ENVID, "delivered");
  g_autofree char *value = g_strnfill (TRACK_STORE_MAX_RECORD_SIZE, 'x');

  g_test_summary ("A record past TRACK_STORE_MAX_RECORD_SIZE is refused, nothing stored");
  if (!have_store (f))
    return;
  msgtrk_report_set_field (big, "X-Big", value);
  g_assert_false (track_store_put (f->store, ENVID, AUTH_B, f->now + 10, big, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_null (track_store_load (f->store, ENVID, NULL, NULL, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
}

static void
test_expire (Fixture      *f,
             gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) kept = NULL;

  g_test_summary ("expire() removes records expired at or before now, keeps the others");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, "mtrk.old@example.com", AUTH_B, NOW - 1, report,
                                  &error));
  g_assert_true (track_store_put (f->store, "mtrk.edge@example.com", AUTH_B, NOW, report,
                                  &error));
  g_assert_true (track_store_put (f->store, "mtrk.new@example.com", AUTH_B, NOW + 1, report,
                                  &error));
  g_assert_cmpuint (track_store_expire (f->store, NOW), ==, 2);
  g_assert_cmpuint (track_store_expire (f->store, NOW), ==, 0);
  kept = track_store_load (f->store, "mtrk.new@example.com", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (kept);
}

static void
test_binary_envid (Fixture      *f,
                   gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *envid = "mtrk.\x01\xff+=\\'\"%_@example.com";
  g_autoptr (MsgtrkReport) report = make_report (envid, "delivered");
  g_autoptr (MsgtrkReport) other = NULL;

  g_test_summary ("A decoded ENVID with any octet is its own key (no escaping, no LIKE)");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, envid, AUTH_B, f->now + 100, report, &error));
  g_assert_no_error (error);
  g_free (served_action (f, envid));
  other = track_store_load (f->store, "mtrk.\x01\xff+=\\'\"%%_@example.com", NULL, NULL, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
}

/* PostgreSQL only. */

static void
test_pg_unreachable (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *conninfo = g_strdup_printf ("host=%s/nothing user=msgtrk dbname=x", dir);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (MsgtrkReport) report = make_report (ENVID, "delivered");

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
  g_autoptr (GKeyFile) kf = NULL;
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  g_autofree char *dir = NULL;

  g_test_summary ("A database with a newer schema than the program knows is refused "
                  "(answered as a fault, not as not-found)");
  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
    {
      g_test_skip ("no PostgreSQL");
      return;
    }
  dir = mt_tmpdir_new ();
  kf = store_config ("postgresql");
  pg_sql ("CREATE TABLE IF NOT EXISTS msgtrk_schema_version (version integer NOT NULL);"
          "INSERT INTO msgtrk_schema_version VALUES (999)");
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_no_error (error);
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
  g_autoptr (GKeyFile) kf = NULL;
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  g_autofree char *dir = NULL;

  g_test_summary ("Expiry past one batch (PG_EXPIRE_BATCH, 10,000): 25,000 expired rows "
                  "go in three statements, the live row stays");
  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
    {
      g_test_skip ("no PostgreSQL");
      return;
    }
  dir = mt_tmpdir_new ();
  kf = store_config ("postgresql");
  store = track_store_new_from_config (kf, dir, &error);
  g_assert_no_error (error);
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

static void
test_put_many (Fixture      *f,
               gconstpointer data)
{
  g_autoptr (MsgtrkReport) relayed = make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) other = make_report ("mtrk.other@example.com", "delivered");
  g_autoptr (MsgtrkReport) third = make_report ("mtrk.third@example.com", "delivered");
  g_autofree char *served = NULL;
  TrackStorePut puts[] = {
    { NULL, ENVID, AUTH_B, f->now + 100, 10, relayed, NULL },
    { NULL, "mtrk.other@example.com", AUTH_B, f->now + 100, 10, other, NULL },
    /* a takeover in the same batch: refused */
    { NULL, ENVID, HIJACK_B, f->now + 100, 99, delivered, NULL },
    /* an invalid B: refused before the backend */
    { NULL, "mtrk.third@example.com", "short", f->now + 100, 10, third, NULL },
    /* a newer version of the first: stored; then an older one: dropped */
    { NULL, ENVID, AUTH_B, f->now + 100, 12, delivered, NULL },
    { NULL, ENVID, AUTH_B, f->now + 100, 11, relayed, NULL },
  };

  g_test_summary ("track_store_put_many(): each write with the rules and the result of a "
                  "put of its own (first owner, versions, argument checks), in one batch");
  if (!have_store (f))
    return;
  track_store_put_many (f->store, puts, G_N_ELEMENTS (puts));
  g_assert_no_error (puts[0].error);
  g_assert_no_error (puts[1].error);
  g_assert_error (puts[2].error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_assert_nonnull (puts[3].error);
  g_assert_no_error (puts[4].error);
  g_assert_no_error (puts[5].error);
  served = served_action (f, ENVID);
  g_assert_cmpstr (served, ==, "delivered");
  g_clear_pointer (&served, g_free);
  served = served_action (f, "mtrk.other@example.com");
  g_assert_cmpstr (served, ==, "delivered");
  for (gsize i = 0; i < G_N_ELEMENTS (puts); i++)
    g_clear_error (&puts[i].error);
}

static void
test_put_many_fields (Fixture      *f,
                      gconstpointer data)
{
  g_autoptr (MsgtrkReport) report = make_report (ENVID, "delivered");
  g_autofree char *written = msgtrk_report_to_fields (report);
  g_autofree char *given = NULL;
  g_autofree char *huge = NULL;
  g_autoptr (MsgtrkReport) parsed = NULL;
  g_autoptr (GPtrArray) served = NULL;
  g_autoptr (GError) error = NULL;
  GString *big;
  TrackStorePut puts[2] = {
    { NULL, ENVID, AUTH_B, f->now + 100, 10, NULL, NULL, NULL },
    { NULL, "mtrk.big@example.com", AUTH_B, f->now + 100, 10, NULL, NULL, NULL },
  };
  char *name;

  g_test_summary ("track_store_put_many() with the fields text given: stored as given "
                  "(not written out again from a report), TRACK_STORE_MAX_RECORD_SIZE "
                  "still applies");
  if (!have_store (f))
    return;
  /* A text that parses but is not what msgtrk_report_to_fields() writes. */
  given = g_strdup (written);
  name = strstr (given, "Reporting-MTA:");
  g_assert_nonnull (name);
  memcpy (name, "reporting-mta:", strlen ("reporting-mta:"));
  parsed = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, given, -1, &error);
  g_assert_no_error (error);
  puts[0].fields = given;
  /* One octet past the limit. */
  big = g_string_new (given);
  while (big->len <= TRACK_STORE_MAX_RECORD_SIZE)
    g_string_append_c (big, ' ');
  g_string_truncate (big, TRACK_STORE_MAX_RECORD_SIZE + 1);
  huge = g_string_free (big, FALSE);
  puts[1].fields = huge;
  track_store_put_many (f->store, puts, G_N_ELEMENTS (puts));
  g_assert_no_error (puts[0].error);
  g_assert_error (puts[1].error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  served = track_store_lookup_fields (f->store, ENVID, SECRET_A, f->now, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (served->len, ==, 1);
  g_assert_cmpstr (served->pdata[0], ==, given);
  for (gsize i = 0; i < G_N_ELEMENTS (puts); i++)
    g_clear_error (&puts[i].error);
}

/* The ENVID's owner B as stored (track_store_load() of this store's node). */
static char *
stored_owner (Fixture    *f,
              const char *envid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) loaded = NULL;
  char *auth = NULL;

  loaded = track_store_load (f->store, envid, &auth, NULL, &error);
  g_assert_no_error (error);
  return auth;
}

static void
test_put_many_owner (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr (MsgtrkReport) relayed = make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) delayed = make_report (ENVID, "delayed");
  g_autofree char *served = NULL;
  g_autofree char *owner = NULL;
  TrackStorePut puts[] = {
    { NULL, ENVID, AUTH_B, f->now + 100, 1, relayed, NULL },
    /* another B for the same ENVID in the same batch: the first owner keeps it */
    { NULL, ENVID, HIJACK_B, f->now + 7200, 9, delivered, NULL },
    /* the owner's next version after that attempt: stored */
    { NULL, ENVID, AUTH_B, f->now + 100, 2, delayed, NULL },
    /* the other way round: HIJACK_B first owns this one, AUTH_B is refused */
    { NULL, "mtrk.second@example.com", HIJACK_B, f->now + 100, 1, delivered, NULL },
    { NULL, "mtrk.second@example.com", AUTH_B, f->now + 100, 5, relayed, NULL },
    /* a first write that is already expired, then another B takes the ENVID (as one by
     * one), then the first B is refused */
    { NULL, "mtrk.third@example.com", AUTH_B, f->now - 10, 1, relayed, NULL },
    { NULL, "mtrk.third@example.com", HIJACK_B, f->now + 100, 1, delivered, NULL },
    { NULL, "mtrk.third@example.com", AUTH_B, f->now + 100, 2, delayed, NULL },
  };

  g_test_summary ("track_store_put_many() with one ENVID of two Bs in one batch: the "
                  "batch's first owner keeps it, the other B's write gets the takeover "
                  "error, the owner's later writes in the batch are stored; an expired "
                  "first write is taken over as one by one");
  if (!have_store (f))
    return;
  track_store_put_many (f->store, puts, G_N_ELEMENTS (puts));
  g_assert_no_error (puts[0].error);
  g_assert_error (puts[1].error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_assert_no_error (puts[2].error);
  g_assert_no_error (puts[3].error);
  g_assert_error (puts[4].error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_assert_no_error (puts[5].error);
  g_assert_no_error (puts[6].error);
  g_assert_error (puts[7].error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  served = served_action (f, ENVID);
  g_assert_cmpstr (served, ==, "delayed");
  owner = stored_owner (f, ENVID);
  g_assert_cmpstr (owner, ==, AUTH_B);
  g_clear_pointer (&owner, g_free);
  owner = stored_owner (f, "mtrk.second@example.com");
  g_assert_cmpstr (owner, ==, HIJACK_B);
  g_clear_pointer (&owner, g_free);
  owner = stored_owner (f, "mtrk.third@example.com");
  g_assert_cmpstr (owner, ==, HIJACK_B);
  for (gsize i = 0; i < G_N_ELEMENTS (puts); i++)
    g_clear_error (&puts[i].error);
}

static void
test_put_many_duplicates (Fixture      *f,
                          gconstpointer data)
{
  g_autoptr (MsgtrkReport) relayed = make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = make_report (ENVID, "delivered");
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  g_autofree char *a3 = NULL;
  g_autofree char *a4 = NULL;
  TrackStorePut puts[] = {
    /* versions 3 then 2: 3 stays */
    { NULL, ENVID, AUTH_B, f->now + 100, 3, delivered, NULL },
    { NULL, ENVID, AUTH_B, f->now + 100, 2, relayed, NULL },
    /* versions 2 then 3: 3 */
    { NULL, "mtrk.up@example.com", AUTH_B, f->now + 100, 2, relayed, NULL },
    { NULL, "mtrk.up@example.com", AUTH_B, f->now + 100, 3, delivered, NULL },
    /* the same version twice: the first one */
    { NULL, "mtrk.same@example.com", AUTH_B, f->now + 100, 5, delivered, NULL },
    { NULL, "mtrk.same@example.com", AUTH_B, f->now + 100, 5, relayed, NULL },
    /* an already expired version 3, then version 2: the expired record is replaced, as
     * one by one (PostgreSQL: not collapsed, PG_PUT_MANY_EXPIRY_SLACK) */
    { NULL, "mtrk.expired@example.com", AUTH_B, f->now - 10, 3, delivered, NULL },
    { NULL, "mtrk.expired@example.com", AUTH_B, f->now + 100, 2, relayed, NULL },
  };

  g_test_summary ("track_store_put_many() with one ENVID twice (same B) in one batch: the "
                  "highest version is stored whatever the order, the same version twice "
                  "is one record, every write reported stored; an expired one is replaced by a "
                  "lower version as one by one");
  if (!have_store (f))
    return;
  track_store_put_many (f->store, puts, G_N_ELEMENTS (puts));
  for (gsize i = 0; i < G_N_ELEMENTS (puts); i++)
    g_assert_no_error (puts[i].error);
  a1 = served_action (f, ENVID);
  g_assert_cmpstr (a1, ==, "delivered");
  a2 = served_action (f, "mtrk.up@example.com");
  g_assert_cmpstr (a2, ==, "delivered");
  a3 = served_action (f, "mtrk.same@example.com");
  g_assert_cmpstr (a3, ==, "delivered");
  a4 = served_action (f, "mtrk.expired@example.com");
  g_assert_cmpstr (a4, ==, "relayed");
}

static void
test_put_many_stale (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) relayed = make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = make_report (ENVID, "delivered");
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  TrackStorePut puts[] = {
    { NULL, ENVID, AUTH_B, f->now + 100, 5, relayed, NULL },
    /* the stored version again: a duplicate */
    { NULL, ENVID, AUTH_B, f->now + 100, 10, relayed, NULL },
    { NULL, "mtrk.other@example.com", AUTH_B, f->now + 100, 1, relayed, NULL },
  };

  g_test_summary ("track_store_put_many() with writes older than (or as old as) the "
                  "stored version: the stored record stays, no error; the batch's other "
                  "writes are stored");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now + 100, 10,
                                            delivered, &error));
  g_assert_no_error (error);
  track_store_put_many (f->store, puts, G_N_ELEMENTS (puts));
  for (gsize i = 0; i < G_N_ELEMENTS (puts); i++)
    g_assert_no_error (puts[i].error);
  a1 = served_action (f, ENVID);
  g_assert_cmpstr (a1, ==, "delivered");
  a2 = served_action (f, "mtrk.other@example.com");
  g_assert_cmpstr (a2, ==, "relayed");
}

static void
test_put_many_limit (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr (MsgtrkReport) report = make_report (ENVID, "delivered");
  g_autofree TrackStorePut *puts = g_new0 (TrackStorePut, TRACK_STORE_MAX_BATCH + 1);
  g_autoptr (GPtrArray) envids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;

  g_test_summary ("track_store_put_many() with TRACK_STORE_MAX_BATCH records: all stored "
                  "(some ENVIDs twice, one with another B); one past the limit: refused "
                  "as a programming error, nothing stored");
  if (!have_store (f))
    return;
  for (guint i = 0; i <= TRACK_STORE_MAX_BATCH; i++)
    {
      /* Every eighth write repeats the previous ENVID with a higher version. */
      guint e = (i % 8 == 7) ? i - 1 : i;

      g_ptr_array_add (envids, g_strdup_printf ("mtrk.batch%u@example.com", e));
      puts[i].envid = envids->pdata[i];
      puts[i].authenticator = AUTH_B;
      puts[i].expires = f->now + 100;
      puts[i].version = (gint64) i + 1;
      puts[i].report = report;
    }
  puts[100].authenticator = HIJACK_B; /* the ENVID of write 99: a takeover attempt */
  puts[100].envid = envids->pdata[99];
  track_store_put_many (f->store, puts, TRACK_STORE_MAX_BATCH);
  for (guint i = 0; i < TRACK_STORE_MAX_BATCH; i++)
    if (i == 100)
      g_assert_error (puts[i].error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
    else
      g_assert_no_error (puts[i].error);
  for (guint i = 0; i < TRACK_STORE_MAX_BATCH; i++)
    {
      g_autoptr (MsgtrkReport) r = track_store_lookup (f->store, puts[i].envid, SECRET_A,
                                                       f->now, &error);

      g_assert_no_error (error);
      g_assert_nonnull (r);
    }
  for (guint i = 0; i <= TRACK_STORE_MAX_BATCH; i++)
    g_clear_error (&puts[i].error);

  /* One past: nothing written (the last ENVID is new). */
  g_assert_cmpuint (TRACK_STORE_MAX_BATCH % 8, !=, 7);
  g_test_expect_message ("msgtrk-server", G_LOG_LEVEL_CRITICAL, "*TRACK_STORE_MAX_BATCH*");
  track_store_put_many (f->store, puts, TRACK_STORE_MAX_BATCH + 1);
  g_test_assert_expected_messages ();
  g_assert_null (track_store_lookup (f->store, envids->pdata[TRACK_STORE_MAX_BATCH], SECRET_A,
                                     f->now, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
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
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (MsgtrkReport) r = track_store_lookup (store, ENVID, SECRET_A, NOW, &error);

    g_clear_error (&error);
    pg_sql ("TRUNCATE msgtrk_record, msgtrk_owner");
  }
  for (guint i = 0; i < LOOKUP_ENVIDS; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *envid = g_strdup_printf ("mtrk.batch%02u@example.com", i);
      g_autoptr (MsgtrkReport) report = make_report (envid, "delivered");

      g_assert_true (track_store_put (store, envid, AUTH_B, now + 1000, report, &error));
      g_assert_no_error (error);
      if (i == 0)
        {
          g_assert_true (track_store_put (second, envid, AUTH_B, now + 1000, report, &error));
          g_assert_no_error (error);
        }
    }
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

static void
test_pg_nodes (void)
{
#ifdef HAVE_LIBPQ
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (TrackStore) a = NULL;
  g_autoptr (TrackStore) b = NULL;
  g_autoptr (MsgtrkReport) relayed = make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) theirs = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) loaded = NULL;
  g_autoptr (MsgtrkReport) one = NULL;
  g_autofree char *served = NULL;
  g_autofree char *auth = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  g_test_summary ("One record per (ENVID, node): two nodes' records of one message are both "
                  "answered, each node's versions ordered on their own, and the first "
                  "owner's B guards the ENVID across nodes (a takeover through another "
                  "node is refused; allowed once every record of the owner expired)");
  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
    {
      g_test_skip ("no PostgreSQL");
      return;
    }
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
  loaded = track_store_load (b, ENVID, &auth, NULL, &error);
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
  g_autoptr (MsgtrkReport) relayed = make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) delayed = make_report (ENVID, "delayed");
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
  g_autoptr (MsgtrkReport) relayed = make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = make_report (ENVID, "delivered");
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  g_test_summary ("A database at schema 1 (one record per ENVID) is migrated to 2: the "
                  "record is kept (node ''), its B owns the ENVID across nodes, a node's "
                  "own record joins it in the answer");
  if (g_getenv ("MSGTRK_TEST_PG_CONNINFO") == NULL)
    {
      g_test_skip ("no PostgreSQL");
      return;
    }
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
  const Backend *backends[] = { &files_backend, &pg_backend };

  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (backends); i++)
    {
#define ADD(name, fn)                                                                   \
  do                                                                                    \
    {                                                                                   \
      g_autofree char *path = g_strdup_printf ("/store/%s/%s", backends[i]->backend, name); \
      g_test_add (path, Fixture, backends[i], fixture_setup, fn, fixture_teardown);     \
    }                                                                                   \
  while (0)
      ADD ("round-trip", test_round_trip);
      ADD ("same-error", test_same_error);
      ADD ("replace", test_replace);
      ADD ("owner-kept", test_owner_kept);
      ADD ("owner-expired", test_owner_expired);
      ADD ("version-order", test_version_order);
      ADD ("invalid-arguments", test_invalid_arguments);
      ADD ("size-limit", test_size_limit);
      ADD ("expire", test_expire);
      ADD ("binary-envid", test_binary_envid);
      ADD ("put-many", test_put_many);
      ADD ("put-many-fields", test_put_many_fields);
      ADD ("put-many-owner", test_put_many_owner);
      ADD ("put-many-duplicates", test_put_many_duplicates);
      ADD ("put-many-stale", test_put_many_stale);
      ADD ("put-many-limit", test_put_many_limit);
#undef ADD
    }
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
  return g_test_run ();
}
