/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-store.c: unit tests of msgtrkd's SQLite store (helper/msgtrkd/msgtrkd-store.c).
 *
 * Every test works on a fresh database in its own temporary directory. The database is
 * also inspected directly with SQLite where the API cannot show a property (schema
 * version, cascades, file modes). Crash safety is tested by test-store-crash.py.
 */
#include "config.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "msgtrkd-error.h"
#include "msgtrkd-store.h"

typedef struct
{
  char *dir;
  char *path;
  MsgtrkdStore *store;
} Fixture;

static char *
make_tmpdir (void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("msgtrk-store-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (const char *path)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileEnumerator) children = NULL;
  struct stat st;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      GFileInfo *info;

      g_chmod (path, 0700);
      children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                            G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
      while (children != NULL
             && (info = g_file_enumerator_next_file (children, NULL, NULL)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, g_file_info_get_name (info), NULL);

          remove_tree (child);
          g_object_unref (info);
        }
    }
  g_remove (path);
}

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  GError *error = NULL;

  f->dir = make_tmpdir ();
  f->path = g_build_filename (f->dir, "msgtrk", "msgtrk.db", NULL);
  f->store = msgtrkd_store_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->store);
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  g_clear_object (&f->store);
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

/* One integer from the database, read with a separate connection. */
static gint64
sql_int (const char *path,
         const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 value = -1;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return value;
}

static char *
sql_text (const char *path,
          const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *value = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    value = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return value;
}

static MsgtrkdMessage *
make_message (const char *envid,
              const char *tracking,
              gint64      prepared_at)
{
  MsgtrkdMessage *m = msgtrkd_message_new ();
  const char *recipients[] = { "alice@example.net", "bob@example.org", NULL };

  m->envid = g_strdup (envid);
  m->message_id = g_strdup_printf ("<%s@example.org>", envid);
  m->subject = g_strdup ("Quarterly numbers");
  m->sender = g_strdup ("me@example.org");
  m->recipients = g_strdupv ((char **) recipients);
  m->submission_host = g_strdup ("smtp.example.org");
  m->tracking = g_strdup (tracking);
  m->offered = g_strdup ("PIPELINING DSN MTRK");
  m->server_reply = g_strdup ("250 2.0.0 queued as 1234");
  m->mtrk_timeout = 86400;
  m->prepared_at = prepared_at;
  m->committed_at = prepared_at + 1;
  m->expires_at = prepared_at + 86400;
  m->state = g_strdup ("in-transit");
  m->summary = g_strdup ("In transit");
  m->next_poll_at = prepared_at + 60;
  return m;
}

static void
assert_message_equal (const MsgtrkdMessage *a,
                      const MsgtrkdMessage *b)
{
  g_assert_cmpstr (a->envid, ==, b->envid);
  g_assert_cmpstr (a->subject, ==, b->subject);
  g_assert_cmpstr (a->sender, ==, b->sender);
  g_assert_true (g_strv_equal ((const char *const *) a->recipients,
                               (const char *const *) b->recipients));
  g_assert_cmpstr (a->submission_host, ==, b->submission_host);
  g_assert_cmpstr (a->mtqp_port, ==, b->mtqp_port);
  g_assert_cmpstr (a->tracking, ==, b->tracking);
  g_assert_cmpstr (a->offered, ==, b->offered);
  g_assert_cmpstr (a->server_reply, ==, b->server_reply);
  g_assert_cmpuint (a->mtrk_timeout, ==, b->mtrk_timeout);
  g_assert_cmpint (a->prepared_at, ==, b->prepared_at);
  g_assert_cmpint (a->committed_at, ==, b->committed_at);
  g_assert_cmpint (a->expires_at, ==, b->expires_at);
  g_assert_cmpstr (a->state, ==, b->state);
  g_assert_cmpstr (a->summary, ==, b->summary);
  g_assert_cmpint (a->final, ==, b->final);
  g_assert_cmpint (a->next_poll_at, ==, b->next_poll_at);
  g_assert_cmpint (a->last_poll_at, ==, b->last_poll_at);
  g_assert_cmpuint (a->poll_count, ==, b->poll_count);
}

static void
add_or_die (Fixture        *f,
            MsgtrkdMessage *m)
{
  GError *error = NULL;

  g_assert_true (msgtrkd_store_add_message (f->store, m, &error));
  g_assert_no_error (error);
}

/* ---- open and migrations ------------------------------------------------------------ */

/* The schema version the code writes. */
#define STORE_VERSION 4

/* Schema version 1 as msgtrkd up to issue 8 wrote it (reports without replace keys). */
static const char schema_v1[] =
  "CREATE TABLE messages ("
  "  envid TEXT PRIMARY KEY NOT NULL,"
  "  message_id TEXT,"
  "  subject TEXT,"
  "  sender TEXT,"
  "  submission_host TEXT,"
  "  mtqp_port TEXT,"
  "  tracking TEXT NOT NULL,"
  "  offered TEXT,"
  "  server_reply TEXT,"
  "  mtrk_timeout INTEGER NOT NULL DEFAULT 0,"
  "  prepared_at INTEGER NOT NULL DEFAULT 0,"
  "  committed_at INTEGER NOT NULL DEFAULT 0,"
  "  expires_at INTEGER NOT NULL DEFAULT 0,"
  "  state TEXT NOT NULL,"
  "  summary TEXT NOT NULL,"
  "  final INTEGER NOT NULL DEFAULT 0,"
  "  next_poll_at INTEGER NOT NULL DEFAULT 0,"
  "  last_poll_at INTEGER NOT NULL DEFAULT 0,"
  "  poll_count INTEGER NOT NULL DEFAULT 0"
  ");"
  "CREATE INDEX messages_by_message_id ON messages (message_id);"
  "CREATE INDEX messages_by_next_poll ON messages (next_poll_at);"
  "CREATE TABLE recipients ("
  "  envid TEXT NOT NULL REFERENCES messages (envid) ON DELETE CASCADE,"
  "  position INTEGER NOT NULL,"
  "  address TEXT NOT NULL,"
  "  PRIMARY KEY (envid, position)"
  ");"
  "CREATE TABLE reports ("
  "  id INTEGER PRIMARY KEY,"
  "  envid TEXT NOT NULL REFERENCES messages (envid) ON DELETE CASCADE,"
  "  source TEXT NOT NULL,"
  "  origin TEXT,"
  "  received_at INTEGER NOT NULL,"
  "  sha256 TEXT NOT NULL,"
  "  raw BLOB NOT NULL"
  ");"
  "CREATE UNIQUE INDEX reports_once ON reports (envid, source, ifnull (origin, ''), sha256);"
  "CREATE TABLE snapshots ("
  "  id INTEGER PRIMARY KEY,"
  "  envid TEXT NOT NULL REFERENCES messages (envid) ON DELETE CASCADE,"
  "  at INTEGER NOT NULL,"
  "  route_json TEXT NOT NULL"
  ");"
  "CREATE INDEX snapshots_by_envid ON snapshots (envid, at);"
  "CREATE TABLE events ("
  "  id INTEGER PRIMARY KEY,"
  "  envid TEXT NOT NULL REFERENCES messages (envid) ON DELETE CASCADE,"
  "  at INTEGER NOT NULL,"
  "  source TEXT NOT NULL,"
  "  text TEXT NOT NULL"
  ");"
  "CREATE INDEX events_by_envid ON events (envid, at);"
  "CREATE TABLE settings ("
  "  key TEXT PRIMARY KEY NOT NULL,"
  "  value TEXT NOT NULL"
  ");"
  "PRAGMA user_version = 1;";

static void
test_open_new (Fixture      *f,
               gconstpointer data)
{
  g_autofree char *parent = g_path_get_dirname (f->path);
  g_autofree char *journal = NULL;
  struct stat st;

  g_test_summary ("A new store makes its directory 0700 and file 0600, at schema version 2, "
                  "in WAL mode");
  g_assert_cmpint (g_stat (parent, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_stat (f->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (sql_int (f->path, "PRAGMA user_version"), ==, STORE_VERSION);
  journal = sql_text (f->path, "PRAGMA journal_mode");
  g_assert_cmpstr (journal, ==, "wal");
  g_assert_cmpint (sql_int (f->path, "SELECT count (*) FROM sqlite_schema WHERE type = 'table'"),
                   ==, 6);
}

static void
test_secret_scheme (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "msgtrk.db", NULL);
  g_autoptr (MsgtrkdStore) store = NULL;
  g_autoptr (MsgtrkdMessage) old = make_message ("old@example.org", "mtqp", 100);
  g_autoptr (MsgtrkdMessage) derived = make_message ("new@example.org", "mtqp", 200);
  g_autoptr (MsgtrkdMessage) got = NULL;
  sqlite3 *db = NULL;
  GError *error = NULL;

  g_test_summary ("Schema 1 → 2 adds secret_derived and mtqp_server: a message stored before "
                  "reads back as keeping its own keyring item, with no server found; both "
                  "round-trip");
  store = msgtrkd_store_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (msgtrkd_store_add_message (store, old, &error));
  g_assert_no_error (error);
  g_clear_object (&store);
  /* Make it a schema-1 database again, as msgtrkd before the master secret left it. */
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "ALTER TABLE messages DROP COLUMN secret_derived; "
                                     "ALTER TABLE messages DROP COLUMN mtqp_server; "
                                     "DROP INDEX reports_by_key; "
                                     "DROP INDEX reports_by_envid; "
                                     "ALTER TABLE reports DROP COLUMN replace_key; "
                                     "ALTER TABLE reports DROP COLUMN reported_at; "
                                     "ALTER TABLE reports DROP COLUMN matched; "
                                     "PRAGMA user_version = 1;", NULL, NULL, NULL),
                   ==, SQLITE_OK);
  sqlite3_close (db);

  store = msgtrkd_store_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sql_int (path, "PRAGMA user_version"), ==, STORE_VERSION);
  got = msgtrkd_store_get_message (store, "old@example.org", &error);
  g_assert_no_error (error);
  g_assert_false (got->secret_derived);
  g_assert_null (got->mtqp_server);
  g_clear_pointer (&got, msgtrkd_message_free);

  derived->secret_derived = TRUE;
  derived->mtqp_server = g_strdup ("mtqp.example.org:4000");
  g_assert_true (msgtrkd_store_add_message (store, derived, &error));
  g_assert_no_error (error);
  got = msgtrkd_store_get_message (store, "new@example.org", &error);
  g_assert_true (got->secret_derived);
  g_assert_cmpstr (got->mtqp_server, ==, "mtqp.example.org:4000");
  got->secret_derived = FALSE;
  g_assert_true (msgtrkd_store_update_message (store, got, &error));
  g_clear_pointer (&got, msgtrkd_message_free);
  got = msgtrkd_store_get_message (store, "new@example.org", &error);
  g_assert_false (got->secret_derived);
  g_clear_object (&store);
  remove_tree (dir);
}

static void
test_open_empty_file (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "msgtrk.db", NULL);
  g_autoptr (MsgtrkdStore) store = NULL;
  GError *error = NULL;

  g_test_summary ("An existing empty file is migrated from version 0");
  g_assert_true (g_file_set_contents (path, "", 0, &error));
  store = msgtrkd_store_open (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (store);
  g_assert_cmpint (sql_int (path, "PRAGMA user_version"), ==, STORE_VERSION);
  g_clear_object (&store);
  /* Reopening an up-to-date file migrates nothing. */
  store = msgtrkd_store_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sql_int (path, "PRAGMA user_version"), ==, STORE_VERSION);
  g_clear_object (&store);
  remove_tree (dir);
}

static void
test_open_newer_refused (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "msgtrk.db", NULL);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  gsize before_len, after_len;
  g_autoptr (MsgtrkdStore) store = NULL;
  GError *error = NULL;
  sqlite3 *db = NULL;

  g_test_summary ("A database from a newer schema is refused with a clear error, untouched");
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE future (x); PRAGMA user_version = 42;",
                                 NULL, NULL, NULL),
                   ==, SQLITE_OK);
  sqlite3_close (db);
  g_assert_true (g_file_get_contents (path, &before, &before_len, NULL));

  store = msgtrkd_store_open (path, &error);
  g_assert_null (store);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, "newer"));
  g_assert_nonnull (strstr (error->message, "42"));
  g_assert_nonnull (strstr (error->message, "untouched"));
  g_clear_error (&error);

  g_assert_true (g_file_get_contents (path, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
  remove_tree (dir);
}

static void
test_open_not_a_database (void)
{
  static const char garbage[] = "This is not an SQLite database, just some text\n"
                                "repeated to fill more than a header's worth of bytes....\n"
                                "................................................\n";
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "msgtrk.db", NULL);
  g_autofree char *after = NULL;
  gsize after_len;
  g_autoptr (MsgtrkdStore) store = NULL;
  GError *error = NULL;

  g_test_summary ("A file that is not a database is an error (STORE), left as it was");
  g_assert_true (g_file_set_contents (path, garbage, sizeof garbage - 1, NULL));
  store = msgtrkd_store_open (path, &error);
  g_assert_null (store);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (path, &after, &after_len, NULL));
  g_assert_cmpmem (garbage, sizeof garbage - 1, after, after_len);
  remove_tree (dir);
}

static void
test_open_reopen (Fixture      *f,
                  gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-reopen", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) got = NULL;
  GError *error = NULL;

  g_test_summary ("Committed data survives closing and reopening the store");
  add_or_die (f, m);
  g_clear_object (&f->store);
  f->store = msgtrkd_store_open (f->path, &error);
  g_assert_no_error (error);
  got = msgtrkd_store_get_message (f->store, "env-reopen", &error);
  g_assert_no_error (error);
  assert_message_equal (got, m);
}

/* ---- messages ----------------------------------------------------------------------- */

static void
test_message_round_trip (Fixture      *f,
                         gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-1", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) got = NULL;
  g_autoptr (MsgtrkdMessage) copy = NULL;
  GError *error = NULL;

  g_test_summary ("Every member of a message survives add and get; copy is deep");
  m->mtqp_port = g_strdup ("1038");
  m->final = TRUE;
  m->last_poll_at = 1234;
  m->poll_count = 7;
  add_or_die (f, m);

  got = msgtrkd_store_get_message (f->store, "env-1", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->message_id, ==, "env-1@example.org");
  assert_message_equal (got, m);

  copy = msgtrkd_message_copy (got);
  g_assert_true (copy->subject != got->subject);
  assert_message_equal (copy, got);
  g_assert_cmpstr (copy->message_id, ==, got->message_id);
}

static void
test_message_defaults (Fixture      *f,
                       gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = msgtrkd_message_new ();
  g_autoptr (MsgtrkdMessage) got = NULL;
  GError *error = NULL;

  g_test_summary ("A message with only an ENVID reads back with tracking, state, summary and "
                  "recipients filled in");
  m->envid = g_strdup ("env-bare");
  add_or_die (f, m);
  got = msgtrkd_store_get_message (f->store, "env-bare", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->tracking, ==, MSGTRKD_TRACKING_PENDING);
  g_assert_cmpstr (got->state, ==, "unknown");
  g_assert_cmpstr (got->summary, ==, "");
  g_assert_nonnull (got->recipients);
  g_assert_null (got->recipients[0]);
  g_assert_null (got->message_id);
  g_assert_null (got->subject);
  g_assert_cmpint (got->committed_at, ==, 0);
}

static void
test_message_by_message_id (Fixture      *f,
                            gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-mid", MSGTRKD_TRACKING_DSN, 1000);
  g_autoptr (MsgtrkdMessage) older = make_message ("env-mid-old", MSGTRKD_TRACKING_DSN, 10);
  const char *const ids[] = { "env-mid", "env-mid@example.org", "<env-mid@example.org>" };
  const char *const unknown[] = { "<env-mid@example.org", "env-mid@example.org>", "<>", "",
                                  "ENV-MID", "<<env-mid@example.org>>" };
  gsize i;

  g_test_summary ("Lookup by ENVID or by Message-ID with or without <>; newest wins");
  g_free (older->message_id);
  older->message_id = g_strdup ("env-mid@example.org");
  add_or_die (f, older);
  add_or_die (f, m);
  for (i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      GError *error = NULL;
      g_autoptr (MsgtrkdMessage) got = msgtrkd_store_get_message (f->store, ids[i], &error);

      g_assert_no_error (error);
      g_assert_cmpstr (got->envid, ==, "env-mid");
    }
  for (i = 0; i < G_N_ELEMENTS (unknown); i++)
    {
      GError *error = NULL;
      g_autoptr (MsgtrkdMessage) got = msgtrkd_store_get_message (f->store, unknown[i], &error);

      g_assert_null (got);
      g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
      g_clear_error (&error);
    }
}

static void
test_message_duplicate (Fixture      *f,
                        gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-dup", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) other = make_message ("env-dup", MSGTRKD_TRACKING_DSN, 2000);
  g_autoptr (MsgtrkdMessage) got = NULL;
  GError *error = NULL;

  g_test_summary ("Adding an ENVID twice is refused and keeps the first");
  add_or_die (f, m);
  g_assert_false (msgtrkd_store_add_message (f->store, other, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "env-dup"));
  g_clear_error (&error);
  got = msgtrkd_store_get_message (f->store, "env-dup", &error);
  g_assert_no_error (error);
  assert_message_equal (got, m);
}

static void
test_message_unknown (Fixture      *f,
                      gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-ghost", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GBytes) raw = g_bytes_new_static ("x", 1);
  GError *error = NULL;
  gboolean is_new = TRUE;

  g_test_summary ("Every function given an unknown ENVID fails with NOT_FOUND");
  g_assert_null (msgtrkd_store_get_message (f->store, "env-ghost", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (msgtrkd_store_update_message (f->store, m, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (msgtrkd_store_forget (f->store, "env-ghost", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (msgtrkd_store_add_report (f->store, "env-ghost", "dsn", NULL, 1, raw, &is_new,
                                            &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_assert_false (is_new);
  g_clear_error (&error);
  g_assert_null (msgtrkd_store_list_reports (f->store, "env-ghost", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (msgtrkd_store_add_snapshot (f->store, "env-ghost", 1, "{}", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (msgtrkd_store_get_latest_snapshot (f->store, "env-ghost", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (msgtrkd_store_count_snapshots (f->store, "env-ghost", &error), ==, 0);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (msgtrkd_store_add_event (f->store, "env-ghost", 1, "local", "x", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (msgtrkd_store_list_events (f->store, "env-ghost", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
}

static void
test_message_update (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-up", MSGTRKD_TRACKING_PENDING, 1000);
  g_autoptr (MsgtrkdMessage) got = NULL;
  const char *recipients[] = { "carol@example.com", NULL };
  GError *error = NULL;

  g_test_summary ("Update replaces every column and the recipient list");
  add_or_die (f, m);
  g_free (m->tracking);
  m->tracking = g_strdup (MSGTRKD_TRACKING_MTQP);
  g_free (m->state);
  m->state = g_strdup ("delivered");
  g_clear_pointer (&m->subject, g_free);
  g_strfreev (m->recipients);
  m->recipients = g_strdupv ((char **) recipients);
  m->final = TRUE;
  m->poll_count = 3;
  m->last_poll_at = 5000;
  g_assert_true (msgtrkd_store_update_message (f->store, m, &error));
  g_assert_no_error (error);
  got = msgtrkd_store_get_message (f->store, "env-up", &error);
  g_assert_no_error (error);
  assert_message_equal (got, m);
  g_assert_cmpint (sql_int (f->path, "SELECT count (*) FROM recipients"), ==, 1);
}

static void
test_message_list (Fixture      *f,
                   gconstpointer data)
{
  const struct
  {
    const char *envid;
    gint64 prepared_at;
  } rows[] = { { "b", 200 }, { "a", 100 }, { "c", 300 }, { "d", 200 } };
  const char *const expected[] = { "c", "d", "b", "a" };
  g_autoptr (GPtrArray) list = NULL;
  GError *error = NULL;
  gsize i;

  g_test_summary ("List returns every message, newest first (ties: last added first)");
  list = msgtrkd_store_list_messages (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);

  for (i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_autoptr (MsgtrkdMessage) m = make_message (rows[i].envid, MSGTRKD_TRACKING_MTQP,
                                                   rows[i].prepared_at);
      add_or_die (f, m);
    }
  list = msgtrkd_store_list_messages (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, G_N_ELEMENTS (expected));
  for (i = 0; i < list->len; i++)
    {
      MsgtrkdMessage *m = g_ptr_array_index (list, i);

      g_assert_cmpstr (m->envid, ==, expected[i]);
      g_assert_cmpuint (g_strv_length (m->recipients), ==, 2);
    }
}

static void
test_message_invalid (Fixture      *f,
                      gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-bad", "carrier-pigeon", 1000);
  GError *error = NULL;

  g_test_summary ("An unknown tracking mode, an empty ENVID or recipient are refused");
  g_assert_false (msgtrkd_store_add_message (f->store, m, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "carrier-pigeon"));
  g_clear_error (&error);

  g_free (m->tracking);
  m->tracking = g_strdup (MSGTRKD_TRACKING_MTQP);
  g_free (m->envid);
  m->envid = g_strdup ("");
  g_assert_false (msgtrkd_store_add_message (f->store, m, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_free (m->envid);
  m->envid = g_strdup ("env-bad");
  g_free (m->recipients[1]);
  m->recipients[1] = g_strdup ("");
  g_assert_false (msgtrkd_store_add_message (f->store, m, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (sql_int (f->path, "SELECT count (*) FROM messages"), ==, 0);
}

static void
test_message_hostile (Fixture      *f,
                      gconstpointer data)
{
  const char *const texts[] = {
    "Quartalszahlen für Ärger “quoted” — 数字 🚀",
    "'; DROP TABLE messages; --",
    "\"quoted\" ?1 ?2 %s %n \\ \x01\x7f",
    "\xff\xfe not UTF-8 \xc3",
  };
  GError *error = NULL;
  gsize i;

  g_test_summary ("Non-ASCII, SQL-looking, control and invalid UTF-8 text round-trips byte "
                  "for byte");
  for (i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autofree char *envid = g_strdup_printf ("%s-%zu", texts[i], i);
      g_autoptr (MsgtrkdMessage) m = make_message (envid, MSGTRKD_TRACKING_MTQP, 1000);
      g_autoptr (MsgtrkdMessage) got = NULL;

      g_free (m->subject);
      m->subject = g_strdup (texts[i]);
      g_free (m->summary);
      m->summary = g_strdup (texts[i]);
      g_free (m->recipients[0]);
      m->recipients[0] = g_strdup (texts[i]);
      add_or_die (f, m);
      got = msgtrkd_store_get_message (f->store, envid, &error);
      g_assert_no_error (error);
      assert_message_equal (got, m);
      g_assert_true (msgtrkd_store_add_event (f->store, envid, 1, "local", texts[i], &error));
      g_assert_no_error (error);
    }
  g_assert_cmpint (sql_int (f->path, "SELECT count (*) FROM messages"), ==,
                   G_N_ELEMENTS (texts));
}

static void
test_message_limits (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-limit", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) got = NULL;
  GPtrArray *recipients = g_ptr_array_new ();
  GError *error = NULL;
  guint i;

  g_test_summary ("A subject of MSGTRKD_STORE_MAX_TEXT_SIZE bytes and "
                  "MSGTRKD_STORE_MAX_RECIPIENTS recipients are kept; one more is refused");
  g_free (m->subject);
  m->subject = g_strnfill (MSGTRKD_STORE_MAX_TEXT_SIZE, 's');
  for (i = 0; i < MSGTRKD_STORE_MAX_RECIPIENTS; i++)
    g_ptr_array_add (recipients, g_strdup_printf ("user%u@example.net", i));
  g_ptr_array_add (recipients, NULL);
  g_strfreev (m->recipients);
  m->recipients = (char **) g_ptr_array_free (recipients, FALSE);
  add_or_die (f, m);
  got = msgtrkd_store_get_message (f->store, "env-limit", &error);
  g_assert_no_error (error);
  assert_message_equal (got, m);

  /* One byte past. */
  g_free (m->subject);
  m->subject = g_strnfill (MSGTRKD_STORE_MAX_TEXT_SIZE + 1, 's');
  g_assert_false (msgtrkd_store_update_message (f->store, m, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* One recipient past. */
  g_free (m->subject);
  m->subject = g_strdup ("ok");
  m->recipients = g_renew (char *, m->recipients, MSGTRKD_STORE_MAX_RECIPIENTS + 2);
  m->recipients[MSGTRKD_STORE_MAX_RECIPIENTS] = g_strdup ("one-more@example.net");
  m->recipients[MSGTRKD_STORE_MAX_RECIPIENTS + 1] = NULL;
  g_assert_false (msgtrkd_store_update_message (f->store, m, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* The refused updates changed nothing. */
  g_clear_pointer (&got, msgtrkd_message_free);
  got = msgtrkd_store_get_message (f->store, "env-limit", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (got->subject), ==, MSGTRKD_STORE_MAX_TEXT_SIZE);
  g_assert_cmpuint (g_strv_length (got->recipients), ==, MSGTRKD_STORE_MAX_RECIPIENTS);
}

/* ---- due ---------------------------------------------------------------------------- */

static void
test_due (Fixture      *f,
          gconstpointer data)
{
  const struct
  {
    const char *envid;
    const char *tracking;
    gboolean final;
    gint64 next_poll_at;
    gboolean due; /* at now = 1000 */
  } rows[] = {
    { "mtqp-past", MSGTRKD_TRACKING_MTQP, FALSE, 500, TRUE },
    { "mtqp-now", MSGTRKD_TRACKING_MTQP, FALSE, 1000, TRUE },
    { "mtqp-future", MSGTRKD_TRACKING_MTQP, FALSE, 1001, FALSE },
    { "mtqp-unscheduled", MSGTRKD_TRACKING_MTQP, FALSE, 0, FALSE },
    { "mtqp-negative", MSGTRKD_TRACKING_MTQP, FALSE, -5, FALSE },
    { "mtqp-final", MSGTRKD_TRACKING_MTQP, TRUE, 10, FALSE },
    { "delegated-past", MSGTRKD_TRACKING_DELEGATED, FALSE, 999, TRUE },
    { "delegated-final", MSGTRKD_TRACKING_DELEGATED, TRUE, 999, FALSE },
    { "dsn", MSGTRKD_TRACKING_DSN, FALSE, 20, FALSE },
    { "none", MSGTRKD_TRACKING_NONE, FALSE, 20, FALSE },
    { "pending", MSGTRKD_TRACKING_PENDING, FALSE, 20, FALSE },
    { "aborted", MSGTRKD_TRACKING_ABORTED, FALSE, 20, FALSE },
  };
  const char *const expected_order[] = { "mtqp-past", "delegated-past", "mtqp-now" };
  g_autoptr (GPtrArray) due = NULL;
  GError *error = NULL;
  gint64 when = -1;
  gsize i;

  g_test_summary ("list_due: non-final mtqp/delegated messages with 0 < next_poll_at <= now, "
                  "earliest first; next_due: their earliest next_poll_at");
  g_assert_false (msgtrkd_store_get_next_due (f->store, &when, &error));
  g_assert_no_error (error);
  g_assert_cmpint (when, ==, 0);

  for (i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_autoptr (MsgtrkdMessage) m = make_message (rows[i].envid, rows[i].tracking, 100);

      m->final = rows[i].final;
      m->next_poll_at = rows[i].next_poll_at;
      add_or_die (f, m);
    }
  due = msgtrkd_store_list_due (f->store, 1000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (due->len, ==, G_N_ELEMENTS (expected_order));
  for (i = 0; i < due->len; i++)
    g_assert_cmpstr (((MsgtrkdMessage *) g_ptr_array_index (due, i))->envid, ==,
                     expected_order[i]);
  g_clear_pointer (&due, g_ptr_array_unref);

  due = msgtrkd_store_list_due (f->store, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (due->len, ==, 0);
  g_clear_pointer (&due, g_ptr_array_unref);

  g_assert_true (msgtrkd_store_get_next_due (f->store, &when, &error));
  g_assert_no_error (error);
  g_assert_cmpint (when, ==, 500);

  /* Forget the earliest: the next one moves up. */
  g_assert_true (msgtrkd_store_forget (f->store, "mtqp-past", &error));
  g_assert_true (msgtrkd_store_get_next_due (f->store, &when, &error));
  g_assert_cmpint (when, ==, 999);
}

/* ---- reports ------------------------------------------------------------------------ */

static void
test_report_round_trip (Fixture      *f,
                        gconstpointer data)
{
  static const guint8 binary[] = { 'D', 'S', 'N', 0, 0xff, 0x80, '\r', '\n', 0 };
  g_autoptr (MsgtrkdMessage) m = make_message ("env-r", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) m2 = make_message ("env-r2", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GBytes) raw = g_bytes_new_static (binary, sizeof binary);
  g_autoptr (GBytes) other = g_bytes_new_static ("other", 5);
  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr (GPtrArray) list = NULL;
  const struct
  {
    const char *envid;
    const char *source;
    const char *origin;
    GBytes *raw;
    gboolean is_new;
  } adds[] = {
    { "env-r", "dsn", "mx.example.net", raw, TRUE },
    { "env-r", "dsn", "mx.example.net", raw, FALSE },   /* identical */
    { "env-r", "mtqp", "mx.example.net", raw, TRUE },   /* other source */
    { "env-r", "dsn", "mx2.example.net", raw, TRUE },   /* other origin */
    { "env-r", "dsn", NULL, raw, TRUE },                /* no origin */
    { "env-r", "dsn", NULL, raw, FALSE },               /* no origin, identical */
    { "env-r", "dsn", "", raw, FALSE },                 /* "" counts as no origin */
    { "env-r", "dsn", "mx.example.net", other, TRUE },  /* other bytes */
    { "env-r", "mdn", NULL, empty, TRUE },              /* empty entity */
    { "env-r2", "dsn", "mx.example.net", raw, TRUE },   /* other message */
  };
  GError *error = NULL;
  gsize i;

  g_test_summary ("Reports keep raw bytes (NULs included), source, origin and time; an "
                  "identical one for the same message is stored once");
  add_or_die (f, m);
  add_or_die (f, m2);
  for (i = 0; i < G_N_ELEMENTS (adds); i++)
    {
      gboolean is_new = !adds[i].is_new;

      g_assert_true (msgtrkd_store_add_report (f->store, adds[i].envid, adds[i].source,
                                               adds[i].origin, (gint64) (100 + i), adds[i].raw,
                                               &is_new, &error));
      g_assert_no_error (error);
      g_assert_cmpint (is_new, ==, adds[i].is_new);
    }
  /* is_new is optional. */
  g_assert_true (msgtrkd_store_add_report (f->store, "env-r", "dsn", NULL, 1, raw, NULL,
                                           &error));
  g_assert_no_error (error);

  list = msgtrkd_store_list_reports (f->store, "env-r", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 6);
  {
    MsgtrkdStoredReport *r = g_ptr_array_index (list, 0);

    g_assert_cmpint (r->id, >, 0);
    g_assert_cmpstr (r->envid, ==, "env-r");
    g_assert_cmpstr (r->source, ==, "dsn");
    g_assert_cmpstr (r->origin, ==, "mx.example.net");
    g_assert_cmpint (r->received_at, ==, 100);
    g_assert_true (g_bytes_equal (r->raw, raw));
    r = g_ptr_array_index (list, 3);
    g_assert_null (r->origin);
    r = g_ptr_array_index (list, 5);
    g_assert_cmpuint (g_bytes_get_size (r->raw), ==, 0);
  }
  for (i = 1; i < list->len; i++)
    g_assert_cmpint (((MsgtrkdStoredReport *) g_ptr_array_index (list, i - 1))->received_at, <=,
                     ((MsgtrkdStoredReport *) g_ptr_array_index (list, i))->received_at);
}

static void
test_report_limits (Fixture      *f,
                    gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-big", MSGTRKD_TRACKING_MTQP, 1000);
  guint8 *big = g_malloc0 (MSGTRKD_STORE_MAX_DOCUMENT_SIZE + 1);
  g_autoptr (GBytes) at_limit = g_bytes_new_static (big, MSGTRKD_STORE_MAX_DOCUMENT_SIZE);
  g_autoptr (GBytes) past = g_bytes_new_static (big, MSGTRKD_STORE_MAX_DOCUMENT_SIZE + 1);
  g_autoptr (GPtrArray) list = NULL;
  GError *error = NULL;
  gboolean is_new = FALSE;

  g_test_summary ("A report of MSGTRKD_STORE_MAX_DOCUMENT_SIZE bytes is kept; one byte more "
                  "is refused");
  add_or_die (f, m);
  big[0] = 'x';
  g_assert_true (msgtrkd_store_add_report (f->store, "env-big", "dsn", NULL, 1, at_limit,
                                           &is_new, &error));
  g_assert_no_error (error);
  g_assert_true (is_new);
  g_assert_false (msgtrkd_store_add_report (f->store, "env-big", "dsn", NULL, 1, past, &is_new,
                                            &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (is_new);
  list = msgtrkd_store_list_reports (f->store, "env-big", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_true (g_bytes_equal (((MsgtrkdStoredReport *) list->pdata[0])->raw, at_limit));
  g_clear_pointer (&list, g_ptr_array_unref);
  g_clear_pointer (&at_limit, g_bytes_unref);
  g_clear_pointer (&past, g_bytes_unref);
  g_free (big);
}

/* ---- one row per answer, caps ------------------------------------------------------- */

static guint
count_rows (Fixture    *f,
            const char *table,
            const char *envid)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count (*) FROM %s WHERE envid = '%s'", table,
                                          envid);

  return (guint) sql_int (f->path, sql);
}

static void
test_report_replace_key (Fixture      *f,
                         gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-k", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GBytes) poll1 = g_bytes_new_static ("delayed, last attempt 10:00", 27);
  g_autoptr (GBytes) poll2 = g_bytes_new_static ("delayed, last attempt 10:05", 27);
  g_autoptr (GBytes) stale = g_bytes_new_static ("delayed, last attempt 10:02", 27);
  g_autoptr (GBytes) other = g_bytes_new_static ("delivered", 9);
  g_autoptr (GPtrArray) list = NULL;
  const struct
  {
    const char *key;
    gint64 reported_at;
    GBytes *raw;
    gboolean is_new;
    guint rows;
  } puts[] = {
    { "hop1|alice", 600, poll1, TRUE, 1 },
    { "hop1|alice", 900, poll2, TRUE, 1 },   /* a newer answer replaces the older one */
    { "hop1|alice", 900, poll2, FALSE, 1 },  /* the same answer again */
    { "hop1|alice", 720, stale, FALSE, 1 },  /* an older answer arriving late: dropped */
    { "hop2|alice", 700, other, TRUE, 2 },   /* another reporter */
    { NULL, 0, stale, TRUE, 3 },             /* no key: kept beside the others */
  };
  GError *error = NULL;

  g_test_summary ("A report with a replace key replaces the older rows of its key, an older "
                  "one is dropped: one row per distinct answer, not one per poll");
  add_or_die (f, m);
  for (gsize i = 0; i < G_N_ELEMENTS (puts); i++)
    {
      gboolean is_new = !puts[i].is_new;

      g_test_message ("put %zu", i);
      g_assert_true (msgtrkd_store_put_report (f->store, "env-k", "mtqp", "hop.example",
                                               MSGTRKD_REPORT_MATCH_ENVID, puts[i].key,
                                               puts[i].reported_at,
                                               (gint64) (100 + i), puts[i].raw, &is_new,
                                               &error));
      g_assert_no_error (error);
      g_assert_cmpint (is_new, ==, puts[i].is_new);
      g_assert_cmpuint (count_rows (f, "reports", "env-k"), ==, puts[i].rows);
    }
  list = msgtrkd_store_list_reports (f->store, "env-k", &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (((MsgtrkdStoredReport *) list->pdata[0])->raw, poll2));
  g_assert_true (g_bytes_equal (((MsgtrkdStoredReport *) list->pdata[1])->raw, other));

  /* Heads list the same rows without their entities; one entity is read by id. */
  {
    g_autoptr (GPtrArray) heads = msgtrkd_store_list_report_heads (f->store, "env-k", &error);
    g_autoptr (GBytes) raw = NULL;

    g_assert_no_error (error);
    g_assert_cmpuint (heads->len, ==, list->len);
    for (guint i = 0; i < heads->len; i++)
      {
        MsgtrkdStoredReport *h = heads->pdata[i];
        MsgtrkdStoredReport *r = list->pdata[i];

        g_assert_cmpint (h->id, ==, r->id);
        g_assert_null (h->raw);
        g_assert_cmpint (h->received_at, ==, r->received_at);
      }
    raw = msgtrkd_store_get_report_raw (f->store, ((MsgtrkdStoredReport *) heads->pdata[0])->id,
                                        &error);
    g_assert_no_error (error);
    g_assert_true (g_bytes_equal (raw, poll2));
    g_assert_null (msgtrkd_store_get_report_raw (f->store, 999999, &error));
    g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
    g_clear_error (&error);
  }
}

static void
test_report_cap (Fixture      *f,
                 gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-cap", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GPtrArray) list = NULL;
  GError *error = NULL;

  g_test_summary ("MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE distinct reports are kept; one more "
                  "deletes the oldest");
  add_or_die (f, m);
  for (guint i = 0; i <= MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE; i++)
    {
      g_autofree char *text = g_strdup_printf ("report %u", i);
      g_autoptr (GBytes) raw = g_bytes_new (text, strlen (text));

      g_assert_true (msgtrkd_store_add_report (f->store, "env-cap", "dsn", "mx.example", 100 + i,
                                               raw, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (count_rows (f, "reports", "env-cap"), ==,
                        MIN (i + 1, MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE));
    }
  list = msgtrkd_store_list_reports (f->store, "env-cap", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE);
  g_assert_cmpint (((MsgtrkdStoredReport *) list->pdata[0])->received_at, ==, 101);
  g_assert_cmpint (((MsgtrkdStoredReport *) list->pdata[list->len - 1])->received_at, ==,
                   100 + MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE);
}

/* The reports of @envid tied to it as @matched says. */
static guint
count_matched (Fixture           *f,
               const char        *envid,
               MsgtrkdReportMatch matched)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count (*) FROM reports "
                                          "WHERE envid = '%s' AND matched = %d",
                                          envid, (int) matched);

  return (guint) sql_int (f->path, sql);
}

static void
test_report_match_rank (Fixture      *f,
                        gconstpointer data)
{
#define ENVID MSGTRKD_REPORT_MATCH_ENVID
#define MSGID MSGTRKD_REPORT_MATCH_MESSAGE_ID
  g_autoptr (MsgtrkdMessage) m = make_message ("env-m", MSGTRKD_TRACKING_DSN, 1000);
  const struct
  {
    MsgtrkdReportMatch matched;
    gint64 reported_at;
    const char *raw;
    gboolean is_new;
    guint envid_rows;
    guint msgid_rows;
  } puts[] = {
    { ENVID, 600, "failed (genuine)", TRUE, 1, 0 },
    /* a forgery dated later: kept beside, neither replaces nor hides the genuine word */
    { MSGID, 900, "delivered (forged)", TRUE, 1, 1 },
    { ENVID, 700, "failed again (genuine)", TRUE, 1, 1 },
    /* a later forgery replaces the earlier one of the same key */
    { MSGID, 950, "delivered (forged again)", TRUE, 1, 1 },
    /* older than the newest word of either rank: dropped */
    { MSGID, 650, "delayed (forged, old)", FALSE, 1, 1 },
    /* a newer genuine word replaces the older rows of both ranks */
    { ENVID, 1000, "failed, last (genuine)", TRUE, 1, 0 },
    { MSGID, 800, "delivered (forged, old)", FALSE, 1, 0 },
    { MSGID, 1100, "delivered (forged, newest)", TRUE, 1, 1 },
    { ENVID, 990, "failed (genuine, late)", FALSE, 1, 1 },
  };
#undef ENVID
#undef MSGID
  GError *error = NULL;

  g_test_summary ("A report matched by Message-ID never replaces or hides one bound by the "
                  "ENVID; within a rank, and from a higher rank to a lower, the newer word "
                  "replaces the older");
  add_or_die (f, m);
  for (gsize i = 0; i < G_N_ELEMENTS (puts); i++)
    {
      g_autoptr (GBytes) raw = g_bytes_new_static (puts[i].raw, strlen (puts[i].raw));
      gboolean is_new = !puts[i].is_new;

      g_test_message ("put %zu", i);
      g_assert_true (msgtrkd_store_put_report (f->store, "env-m", "dsn", "mx.example",
                                               puts[i].matched, "mx|bob", puts[i].reported_at,
                                               (gint64) (100 + i), raw, &is_new, &error));
      g_assert_no_error (error);
      g_assert_cmpint (is_new, ==, puts[i].is_new);
      g_assert_cmpuint (count_matched (f, "env-m", MSGTRKD_REPORT_MATCH_ENVID), ==,
                        puts[i].envid_rows);
      g_assert_cmpuint (count_matched (f, "env-m", MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==,
                        puts[i].msgid_rows);
    }
}

/* Puts the report "@prefix @i" of @envid, without a key, matched as @matched, received at
 * 100 + @i. */
static void
put_numbered (Fixture           *f,
              const char        *envid,
              MsgtrkdReportMatch matched,
              const char        *prefix,
              guint              i)
{
  g_autofree char *text = g_strdup_printf ("%s %u", prefix, i);
  g_autoptr (GBytes) raw = g_bytes_new (text, strlen (text));
  GError *error = NULL;

  g_assert_true (msgtrkd_store_put_report (f->store, envid, "dsn", "mx.example", matched, NULL,
                                           0, 100 + i, raw, NULL, &error));
  g_assert_no_error (error);
}

static void
test_report_cap_message_id (Fixture      *f,
                            gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-mc", MSGTRKD_TRACKING_DSN, 1000);
  g_autoptr (GPtrArray) list = NULL;
  guint i = 1;
  GError *error = NULL;

  g_test_summary ("MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE reports matched by "
                  "Message-ID are kept, one more deletes the oldest of them; past "
                  "MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE they go before any bound by the "
                  "ENVID, however old");
  add_or_die (f, m);
  put_numbered (f, "env-mc", MSGTRKD_REPORT_MATCH_ENVID, "genuine", 0);
  for (; i <= MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE + 1; i++)
    {
      put_numbered (f, "env-mc", MSGTRKD_REPORT_MATCH_MESSAGE_ID, "forged", i);
      g_assert_cmpuint (count_matched (f, "env-mc", MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==,
                        MIN (i, MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE));
      g_assert_cmpuint (count_matched (f, "env-mc", MSGTRKD_REPORT_MATCH_ENVID), ==, 1);
    }
  g_assert_cmpint (sql_int (f->path, "SELECT min (received_at) FROM reports "
                                     "WHERE envid = 'env-mc' AND matched = 0"), ==, 100 + 2);

  /* Fill up with reports bound by the ENVID: at the cap every row stays; one past it
   * deletes the oldest forged row, not the older genuine one. */
  while (count_matched (f, "env-mc", MSGTRKD_REPORT_MATCH_ENVID)
         + MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE
         < MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE)
    put_numbered (f, "env-mc", MSGTRKD_REPORT_MATCH_ENVID, "genuine", i++);
  g_assert_cmpuint (count_rows (f, "reports", "env-mc"), ==,
                    MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE);
  put_numbered (f, "env-mc", MSGTRKD_REPORT_MATCH_ENVID, "genuine", i++);
  g_assert_cmpuint (count_rows (f, "reports", "env-mc"), ==,
                    MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE);
  g_assert_cmpuint (count_matched (f, "env-mc", MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==,
                    MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE - 1);
  list = msgtrkd_store_list_reports (f->store, "env-mc", &error);
  g_assert_no_error (error);
  g_assert_cmpint (((MsgtrkdStoredReport *) list->pdata[0])->received_at, ==, 100);

  /* Only reports bound by the ENVID left past the cap: then the oldest of them go. */
  for (guint n = 1; n < MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE; n++)
    put_numbered (f, "env-mc", MSGTRKD_REPORT_MATCH_ENVID, "genuine", i++);
  g_assert_cmpuint (count_matched (f, "env-mc", MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==, 0);
  g_assert_cmpuint (count_rows (f, "reports", "env-mc"), ==,
                    MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE);
  g_assert_cmpint (sql_int (f->path, "SELECT min (received_at) FROM reports "
                                     "WHERE envid = 'env-mc'"), ==, 100);
  put_numbered (f, "env-mc", MSGTRKD_REPORT_MATCH_ENVID, "genuine", i++);
  g_assert_cmpuint (count_rows (f, "reports", "env-mc"), ==,
                    MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE);
  g_assert_cmpint (sql_int (f->path, "SELECT min (received_at) FROM reports "
                                     "WHERE envid = 'env-mc'"), >, 100);
}

static void
test_event_cap (Fixture      *f,
                gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-ev", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GPtrArray) events = NULL;
  GError *error = NULL;

  g_test_summary ("MSGTRKD_STORE_MAX_EVENTS_PER_MESSAGE events are kept; one more deletes the "
                  "oldest; likewise MSGTRKD_STORE_MAX_SNAPSHOTS_PER_MESSAGE snapshots");
  add_or_die (f, m);
  for (guint i = 0; i <= MSGTRKD_STORE_MAX_EVENTS_PER_MESSAGE; i++)
    {
      g_autofree char *text = g_strdup_printf ("event %u", i);

      g_assert_true (msgtrkd_store_add_event (f->store, "env-ev", 100 + i, "local", text,
                                              &error));
      g_assert_no_error (error);
      if (i + 1 >= MSGTRKD_STORE_MAX_EVENTS_PER_MESSAGE)
        g_assert_cmpuint (count_rows (f, "events", "env-ev"), ==,
                          MSGTRKD_STORE_MAX_EVENTS_PER_MESSAGE);
    }
  events = msgtrkd_store_list_events (f->store, "env-ev", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (((MsgtrkdEvent *) events->pdata[0])->text, ==, "event 1");

  for (guint i = 0; i <= MSGTRKD_STORE_MAX_SNAPSHOTS_PER_MESSAGE; i++)
    {
      g_autofree char *json = g_strdup_printf ("{\"n\":%u}", i);

      g_assert_true (msgtrkd_store_add_snapshot (f->store, "env-ev", 100 + i, json, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (msgtrkd_store_count_snapshots (f->store, "env-ev", &error), ==,
                        MIN (i + 1, MSGTRKD_STORE_MAX_SNAPSHOTS_PER_MESSAGE));
    }
  {
    g_autofree char *latest = msgtrkd_store_get_latest_snapshot (f->store, "env-ev", &error);
    g_autofree char *want = g_strdup_printf ("{\"n\":%u}", MSGTRKD_STORE_MAX_SNAPSHOTS_PER_MESSAGE);

    g_assert_cmpstr (latest, ==, want);
  }
}

/* A store written by the version-1 code opens, upgrades and keeps its reports. */
static void
test_open_upgrade_v1 (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "msgtrk.db", NULL);
  g_autoptr (MsgtrkdStore) store = NULL;
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (GBytes) raw = g_bytes_new_static ("new", 3);
  GError *error = NULL;
  sqlite3 *db = NULL;
  char *errmsg = NULL;

  g_test_summary ("A version-1 store is upgraded to the current version and keeps its "
                  "reports: an MDN as matched by its Message-ID, any other report as bound "
                  "by the ENVID");
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, schema_v1, NULL, NULL, &errmsg), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db,
                                 "INSERT INTO messages (envid, tracking, state, summary) "
                                 "VALUES ('env-old', 'mtqp', 'delayed', 'Delayed 1/1');"
                                 "INSERT INTO reports (envid, source, origin, received_at, "
                                 "sha256, raw) VALUES ('env-old', 'mtqp', 'hop', 5, 'x', 'old');"
                                 "INSERT INTO reports (envid, source, origin, received_at, "
                                 "sha256, raw) VALUES ('env-old', 'mdn', 'ua', 5, 'y', 'mdn');",
                                 NULL, NULL, &errmsg), ==, SQLITE_OK);
  sqlite3_close (db);

  store = msgtrkd_store_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sql_int (path, "PRAGMA user_version"), ==, STORE_VERSION);
  g_assert_cmpint (sql_int (path, "SELECT matched FROM reports WHERE source = 'mtqp'"), ==,
                   MSGTRKD_REPORT_MATCH_ENVID);
  g_assert_cmpint (sql_int (path, "SELECT matched FROM reports WHERE source = 'mdn'"), ==,
                   MSGTRKD_REPORT_MATCH_MESSAGE_ID);
  g_assert_true (msgtrkd_store_put_report (store, "env-old", "mtqp", "hop",
                                           MSGTRKD_REPORT_MATCH_ENVID, "hop|a", 10, 6, raw, NULL,
                                           &error));
  g_assert_no_error (error);
  list = msgtrkd_store_list_reports (store, "env-old", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 3);
  g_clear_object (&store);
  remove_tree (dir);
}

/* ---- snapshots, events, settings ---------------------------------------------------- */

static void
test_snapshots (Fixture      *f,
                gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-s", MSGTRKD_TRACKING_MTQP, 1000);
  char *json;
  GError *error = NULL;

  g_test_summary ("Snapshots count up; the latest is the newest by time, then by insertion");
  add_or_die (f, m);
  json = msgtrkd_store_get_latest_snapshot (f->store, "env-s", &error);
  g_assert_no_error (error);
  g_assert_null (json);
  g_assert_cmpuint (msgtrkd_store_count_snapshots (f->store, "env-s", &error), ==, 0);
  g_assert_no_error (error);

  g_assert_true (msgtrkd_store_add_snapshot (f->store, "env-s", 200, "{\"n\":2}", &error));
  g_assert_true (msgtrkd_store_add_snapshot (f->store, "env-s", 100, "{\"n\":1}", &error));
  g_assert_no_error (error);
  json = msgtrkd_store_get_latest_snapshot (f->store, "env-s", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json, ==, "{\"n\":2}");
  g_free (json);
  g_assert_true (msgtrkd_store_add_snapshot (f->store, "env-s", 200, "{\"n\":3,\"ü\":\"✓\"}",
                                             &error));
  json = msgtrkd_store_get_latest_snapshot (f->store, "env-s", &error);
  g_assert_cmpstr (json, ==, "{\"n\":3,\"ü\":\"✓\"}");
  g_free (json);
  g_assert_cmpuint (msgtrkd_store_count_snapshots (f->store, "env-s", &error), ==, 3);
  g_assert_no_error (error);

  /* MSGTRKD_STORE_MAX_DOCUMENT_SIZE bytes are kept, one more is refused. */
  {
    g_autofree char *at = g_strnfill (MSGTRKD_STORE_MAX_DOCUMENT_SIZE, 'j');
    g_autofree char *past = g_strnfill (MSGTRKD_STORE_MAX_DOCUMENT_SIZE + 1, 'j');

    g_assert_true (msgtrkd_store_add_snapshot (f->store, "env-s", 300, at, &error));
    g_assert_no_error (error);
    g_assert_false (msgtrkd_store_add_snapshot (f->store, "env-s", 400, past, &error));
    g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    json = msgtrkd_store_get_latest_snapshot (f->store, "env-s", &error);
    g_assert_no_error (error);
    g_assert_cmpuint (strlen (json), ==, MSGTRKD_STORE_MAX_DOCUMENT_SIZE);
    g_free (json);
  }
}

static void
test_events (Fixture      *f,
             gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-e", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GPtrArray) list = NULL;
  GError *error = NULL;
  const struct
  {
    gint64 at;
    const char *source;
    const char *text;
  } adds[] = {
    { 30, "dsn", "DSN from mx.example.net: bob failed 5.1.1" },
    { 10, "local", "Sent to smtp.example.org" },
    { 30, "mtqp", "relay: transferred" },
  };
  const char *const order[] = { "Sent to smtp.example.org",
                                "DSN from mx.example.net: bob failed 5.1.1",
                                "relay: transferred" };
  gsize i;

  g_test_summary ("Events list oldest first, ties in insertion order; empty text refused");
  add_or_die (f, m);
  list = msgtrkd_store_list_events (f->store, "env-e", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);
  for (i = 0; i < G_N_ELEMENTS (adds); i++)
    {
      g_assert_true (msgtrkd_store_add_event (f->store, "env-e", adds[i].at, adds[i].source,
                                              adds[i].text, &error));
      g_assert_no_error (error);
    }
  g_assert_false (msgtrkd_store_add_event (f->store, "env-e", 1, "local", "", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  list = msgtrkd_store_list_events (f->store, "env-e", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, G_N_ELEMENTS (order));
  for (i = 0; i < list->len; i++)
    g_assert_cmpstr (((MsgtrkdEvent *) list->pdata[i])->text, ==, order[i]);
  g_assert_cmpstr (((MsgtrkdEvent *) list->pdata[0])->source, ==, "local");
  g_assert_cmpint (((MsgtrkdEvent *) list->pdata[0])->at, ==, 10);
}

static void
test_settings (Fixture      *f,
               gconstpointer data)
{
  GError *error = NULL;
  char *value;

  g_test_summary ("Settings: unset reads NULL, set, replace, remove with NULL");
  value = msgtrkd_store_get_setting (f->store, "starttls-hosts", &error);
  g_assert_no_error (error);
  g_assert_null (value);
  g_assert_true (msgtrkd_store_set_setting (f->store, "starttls-hosts", "a.example\n", &error));
  g_assert_true (msgtrkd_store_set_setting (f->store, "starttls-hosts", "a.example\nb.example\n",
                                            &error));
  g_assert_no_error (error);
  value = msgtrkd_store_get_setting (f->store, "starttls-hosts", &error);
  g_assert_cmpstr (value, ==, "a.example\nb.example\n");
  g_free (value);
  g_assert_true (msgtrkd_store_set_setting (f->store, "starttls-hosts", NULL, &error));
  g_assert_no_error (error);
  value = msgtrkd_store_get_setting (f->store, "starttls-hosts", &error);
  g_assert_no_error (error);
  g_assert_null (value);
  g_assert_true (msgtrkd_store_set_setting (f->store, "never-set", NULL, &error));
  g_assert_no_error (error);
  g_assert_false (msgtrkd_store_set_setting (f->store, "", "x", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Limits: a key of MSGTRKD_STORE_MAX_TEXT_SIZE, a value of MSGTRKD_STORE_MAX_DOCUMENT_SIZE;
   * one byte more of either is refused. */
  {
    g_autofree char *key_at = g_strnfill (MSGTRKD_STORE_MAX_TEXT_SIZE, 'k');
    g_autofree char *key_past = g_strnfill (MSGTRKD_STORE_MAX_TEXT_SIZE + 1, 'k');
    g_autofree char *value_at = g_strnfill (MSGTRKD_STORE_MAX_DOCUMENT_SIZE, 'v');
    g_autofree char *value_past = g_strnfill (MSGTRKD_STORE_MAX_DOCUMENT_SIZE + 1, 'v');

    g_assert_true (msgtrkd_store_set_setting (f->store, key_at, value_at, &error));
    g_assert_no_error (error);
    value = msgtrkd_store_get_setting (f->store, key_at, &error);
    g_assert_cmpstr (value, ==, value_at);
    g_free (value);
    g_assert_false (msgtrkd_store_set_setting (f->store, key_past, "x", &error));
    g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    g_assert_false (msgtrkd_store_set_setting (f->store, "k", value_past, &error));
    g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
  }
}

/* ---- forget ------------------------------------------------------------------------- */

static void
test_forget_cascade (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) m = make_message ("env-f", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) keep = make_message ("env-keep", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GBytes) raw = g_bytes_new_static ("report", 6);
  const char *const tables[] = { "recipients", "reports", "snapshots", "events" };
  GError *error = NULL;
  gsize i;

  g_test_summary ("Forget removes the message's recipients, reports, snapshots and events, "
                  "and only those");
  add_or_die (f, m);
  add_or_die (f, keep);
  for (i = 0; i < 2; i++)
    {
      const char *envid = i == 0 ? "env-f" : "env-keep";

      g_assert_true (msgtrkd_store_add_report (f->store, envid, "dsn", NULL, 1, raw, NULL,
                                               &error));
      g_assert_true (msgtrkd_store_add_snapshot (f->store, envid, 1, "{}", &error));
      g_assert_true (msgtrkd_store_add_event (f->store, envid, 1, "local", "sent", &error));
      g_assert_no_error (error);
    }
  g_assert_true (msgtrkd_store_forget (f->store, "env-f", &error));
  g_assert_no_error (error);
  for (i = 0; i < G_N_ELEMENTS (tables); i++)
    {
      g_autofree char *sql = g_strdup_printf ("SELECT count (*) FROM %s WHERE envid = 'env-f'",
                                              tables[i]);
      g_autofree char *sql_keep =
          g_strdup_printf ("SELECT count (*) FROM %s WHERE envid = 'env-keep'", tables[i]);

      g_assert_cmpint (sql_int (f->path, sql), ==, 0);
      g_assert_cmpint (sql_int (f->path, sql_keep), >, 0);
    }
  g_assert_false (msgtrkd_store_forget (f->store, "env-f", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* The ENVID can be used again. */
  add_or_die (f, m);
}

/* ---- failures ----------------------------------------------------------------------- */

static void
test_full_disk (Fixture      *f,
                gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) first = make_message ("env-first", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GBytes) chunk = NULL;
  g_autoptr (GPtrArray) reports = NULL;
  g_autoptr (MsgtrkdMessage) got = NULL;
  guint8 *data_bytes = g_malloc (16 * 1024);
  g_autofree char *integrity = NULL;
  GError *error = NULL;
  guint i, stored = 0;
  gboolean ok = TRUE;

  g_test_summary ("A full disk (max_page_count) makes writes fail with STORE and SQLite's "
                  "message; what was committed stays readable and writable later");
  add_or_die (f, first);
  g_assert_true (msgtrkd_store_set_size_limit (f->store, 256 * 1024, &error));
  g_assert_no_error (error);

  for (i = 0; ok && i < 100; i++)
    {
      memset (data_bytes, (int) i, 16 * 1024);
      g_clear_pointer (&chunk, g_bytes_unref);
      chunk = g_bytes_new (data_bytes, 16 * 1024);
      ok = msgtrkd_store_add_report (f->store, "env-first", "dsn", NULL, i, chunk, NULL, &error);
      if (ok)
        stored++;
    }
  g_assert_false (ok);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, "full"));
  g_assert_nonnull (strstr (error->message, "env-first"));
  g_clear_error (&error);
  g_assert_cmpuint (stored, >, 0);

  /* Everything committed before is still there, and the store still answers. */
  got = msgtrkd_store_get_message (f->store, "env-first", &error);
  g_assert_no_error (error);
  assert_message_equal (got, first);
  reports = msgtrkd_store_list_reports (f->store, "env-first", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reports->len, ==, stored);
  g_clear_pointer (&reports, g_ptr_array_unref);

  /* With room again, writing works. */
  g_assert_true (msgtrkd_store_set_size_limit (f->store, 0, &error));
  g_assert_true (msgtrkd_store_add_report (f->store, "env-first", "dsn", NULL, 999, chunk, NULL,
                                           &error));
  g_assert_no_error (error);
  g_clear_object (&f->store);
  integrity = sql_text (f->path, "PRAGMA integrity_check");
  g_assert_cmpstr (integrity, ==, "ok");
  g_free (data_bytes);
}


/* ---- batches ------------------------------------------------------------------------- */

static gint64
count_messages (Fixture *f)
{
  return sql_int (f->path, "SELECT count(*) FROM messages");
}

static void
test_batch_commit (Fixture      *f,
                   gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) a = make_message ("env-ba", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) b = make_message ("env-bb", MSGTRKD_TRACKING_MTQP, 2000);
  g_autoptr (MsgtrkdMessage) got = NULL;
  g_autoptr (GPtrArray) events = NULL;
  GError *error = NULL;

  g_test_summary ("Writes in a batch are one transaction: seen by the store's own reads at "
                  "once, by another connection only after end_batch");
  g_assert_false (msgtrkd_store_in_batch (f->store));
  g_assert_true (msgtrkd_store_begin_batch (f->store, &error));
  g_assert_no_error (error);
  g_assert_true (msgtrkd_store_in_batch (f->store));
  add_or_die (f, a);
  add_or_die (f, b);
  g_assert_true (msgtrkd_store_add_event (f->store, "env-ba", 5, "local", "Sent", &error));
  g_assert_no_error (error);
  b->poll_count = 7;
  g_assert_true (msgtrkd_store_update_message (f->store, b, &error));
  g_assert_no_error (error);
  got = msgtrkd_store_get_message (f->store, "env-bb", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (got->poll_count, ==, 7);
  events = msgtrkd_store_list_events (f->store, "env-ba", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpint (count_messages (f), ==, 0);  /* not committed yet */

  g_assert_true (msgtrkd_store_end_batch (f->store, &error));
  g_assert_no_error (error);
  g_assert_false (msgtrkd_store_in_batch (f->store));
  g_assert_cmpint (count_messages (f), ==, 2);
  g_assert_cmpint (sql_int (f->path, "SELECT poll_count FROM messages WHERE envid = 'env-bb'"),
                   ==, 7);
  /* Outside a batch, a write commits at once again. */
  g_clear_pointer (&got, msgtrkd_message_free);
  got = make_message ("env-bc", MSGTRKD_TRACKING_MTQP, 3000);
  add_or_die (f, got);
  g_assert_cmpint (count_messages (f), ==, 3);
}

/* msgtrkd_store_after_commit() work: counts its calls and, at each, the messages another
 * connection sees. */
typedef struct
{
  Fixture *f;
  guint called;
  guint destroyed;
  gint64 committed_seen;
} AfterCommitCount;

static void
after_commit_count (gpointer data)
{
  AfterCommitCount *count = data;

  g_assert_cmpuint (count->destroyed, ==, count->called);  /* destroy follows the call */
  count->called++;
  count->committed_seen = count_messages (count->f);
}

static void
after_commit_destroyed (gpointer data)
{
  AfterCommitCount *count = data;

  count->destroyed++;
}

static void
test_batch_after_commit (Fixture      *f,
                         gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) a = make_message ("env-aa", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) b = make_message ("env-ab", MSGTRKD_TRACKING_MTQP, 2000);
  AfterCommitCount count = { f, 0, 0, -1 };
  GError *error = NULL;

  g_test_summary ("Work after a write runs at once outside a batch, at the outermost "
                  "commit inside one (the write is then visible to others), in order");
  add_or_die (f, a);
  msgtrkd_store_after_commit (f->store, after_commit_count, &count, after_commit_destroyed);
  g_assert_cmpuint (count.called, ==, 1);
  g_assert_cmpuint (count.destroyed, ==, 1);
  g_assert_cmpint (count.committed_seen, ==, 1);

  g_assert_true (msgtrkd_store_begin_batch (f->store, &error));
  g_assert_true (msgtrkd_store_begin_batch (f->store, &error));
  g_assert_no_error (error);
  add_or_die (f, b);
  msgtrkd_store_after_commit (f->store, after_commit_count, &count, after_commit_destroyed);
  msgtrkd_store_after_commit (f->store, after_commit_count, &count, after_commit_destroyed);
  g_assert_true (msgtrkd_store_end_batch (f->store, &error));  /* inner: nothing yet */
  g_assert_no_error (error);
  g_assert_cmpuint (count.called, ==, 1);
  g_assert_true (msgtrkd_store_end_batch (f->store, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count.called, ==, 3);
  g_assert_cmpuint (count.destroyed, ==, 3);
  g_assert_cmpint (count.committed_seen, ==, 2);
}

static void
test_batch_nested (Fixture      *f,
                   gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) a = make_message ("env-na", MSGTRKD_TRACKING_MTQP, 1000);
  GError *error = NULL;

  g_test_summary ("Batches nest: only the outermost end commits");
  g_assert_true (msgtrkd_store_begin_batch (f->store, &error));
  g_assert_true (msgtrkd_store_begin_batch (f->store, &error));
  g_assert_no_error (error);
  add_or_die (f, a);
  g_assert_true (msgtrkd_store_end_batch (f->store, &error));
  g_assert_no_error (error);
  g_assert_true (msgtrkd_store_in_batch (f->store));
  g_assert_cmpint (count_messages (f), ==, 0);
  g_assert_true (msgtrkd_store_end_batch (f->store, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_messages (f), ==, 1);
}

static void
test_batch_failed_write (Fixture      *f,
                         gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) a = make_message ("env-fa", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) again = make_message ("env-fa", MSGTRKD_TRACKING_DSN, 2000);
  g_autoptr (MsgtrkdMessage) b = make_message ("env-fb", MSGTRKD_TRACKING_MTQP, 3000);
  g_autoptr (MsgtrkdMessage) got = NULL;
  g_autoptr (GBytes) raw = g_bytes_new_static ("report", 6);
  GError *error = NULL;

  g_test_summary ("A write that fails in a batch undoes only itself (its savepoint); the "
                  "batch's other writes commit at its end");
  g_assert_true (msgtrkd_store_begin_batch (f->store, &error));
  add_or_die (f, a);
  g_assert_false (msgtrkd_store_add_message (f->store, again, &error));  /* in the transaction */
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (msgtrkd_store_add_report (f->store, "env-ghost", "dsn", NULL, 1, raw, NULL,
                                            &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
  g_clear_error (&error);
  add_or_die (f, b);
  g_assert_true (msgtrkd_store_add_report (f->store, "env-fb", "dsn", NULL, 1, raw, NULL,
                                           &error));
  g_assert_no_error (error);
  g_assert_true (msgtrkd_store_end_batch (f->store, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_messages (f), ==, 2);
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM reports"), ==, 1);
  got = msgtrkd_store_get_message (f->store, "env-fa", &error);
  g_assert_no_error (error);
  assert_message_equal (got, a);
}

static void
test_batch_full_disk (Fixture      *f,
                      gconstpointer data)
{
  g_autoptr (MsgtrkdMessage) first = make_message ("env-full", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (GPtrArray) reports = NULL;
  g_autofree guint8 *bytes = g_malloc (16 * 1024);
  g_autofree char *integrity = NULL;
  AfterCommitCount count = { f, 0, 0, -1 };
  AfterCommitCount late = { f, 0, 0, -1 };
  GError *error = NULL;
  guint i, stored = 0, expected = 0;
  gboolean ok = TRUE;

  g_test_summary ("A full disk in a batch: the failing write fails with STORE; the batch is "
                  "committed whole or, if SQLite rolled it back, reported lost and absent "
                  "whole, with none of its after-commit work run; the store goes on");
  add_or_die (f, first);
  g_assert_true (msgtrkd_store_set_size_limit (f->store, 256 * 1024, &error));
  g_assert_true (msgtrkd_store_begin_batch (f->store, &error));
  g_assert_no_error (error);
  for (i = 0; ok && i < 100; i++)
    {
      g_autoptr (GBytes) chunk = NULL;

      memset (bytes, (int) i, 16 * 1024);
      chunk = g_bytes_new (bytes, 16 * 1024);
      ok = msgtrkd_store_add_report (f->store, "env-full", "dsn", NULL, i, chunk, NULL, &error);
      if (ok)
        {
          stored++;
          msgtrkd_store_after_commit (f->store, after_commit_count, &count,
                                      after_commit_destroyed);
        }
    }
  g_assert_false (ok);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE);
  g_clear_error (&error);
  g_assert_cmpuint (stored, >, 0);
  /* Work queued right after the failure announces the batch's earlier writes: it runs only
   * if they are committed (not if SQLite has just rolled them back). */
  msgtrkd_store_after_commit (f->store, after_commit_count, &late, after_commit_destroyed);
  /* SQLite may roll the whole transaction back on SQLITE_FULL: then end_batch says the
   * batch was lost and none of it is there; never a part of it. */
  if (msgtrkd_store_end_batch (f->store, &error))
    expected = stored;
  else
    {
      g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE);
      g_assert_nonnull (strstr (error->message, "lost"));
      g_clear_error (&error);
    }
  g_assert_false (msgtrkd_store_in_batch (f->store));
  /* The work announcing the writes ran for the committed ones only; all was freed. */
  g_assert_cmpuint (count.called, ==, expected);
  g_assert_cmpuint (count.destroyed, ==, stored);
  g_assert_cmpuint (late.called, ==, expected > 0 ? 1 : 0);
  g_assert_cmpuint (late.destroyed, ==, 1);
  reports = msgtrkd_store_list_reports (f->store, "env-full", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reports->len, ==, expected);
  g_assert_true (msgtrkd_store_set_size_limit (f->store, 0, &error));
  g_assert_true (msgtrkd_store_add_event (f->store, "env-full", 1, "local", "Sent", &error));
  g_assert_no_error (error);
  g_clear_object (&f->store);
  integrity = sql_text (f->path, "PRAGMA integrity_check");
  g_assert_cmpstr (integrity, ==, "ok");
}

static void
test_read_only (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "msgtrk.db", NULL);
  g_autoptr (MsgtrkdStore) store = NULL;
  g_autoptr (MsgtrkdMessage) m = make_message ("env-ro", MSGTRKD_TRACKING_MTQP, 1000);
  g_autoptr (MsgtrkdMessage) m2 = make_message ("env-ro2", MSGTRKD_TRACKING_MTQP, 1000);
  GError *error = NULL;

  g_test_summary ("A store on a read-only file and directory fails with STORE, no abort");
  if (getuid () == 0)
    {
      g_test_skip ("root ignores file permissions; test_full_disk covers failing writes");
      remove_tree (dir);
      return;
    }
  store = msgtrkd_store_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (msgtrkd_store_add_message (store, m, &error));
  g_clear_object (&store);
  g_assert_cmpint (g_chmod (path, 0400), ==, 0);
  g_assert_cmpint (g_chmod (dir, 0500), ==, 0);

  store = msgtrkd_store_open (path, &error);
  if (store != NULL)
    {
      g_assert_false (msgtrkd_store_add_message (store, m2, &error));
      g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE);
    }
  else
    g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE);
  g_test_message ("read-only: %s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  g_clear_object (&store);
  remove_tree (dir);
}

static void
test_bad_directory (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *file = g_build_filename (dir, "plain-file", NULL);
  g_autofree char *path = g_build_filename (file, "msgtrk", "msgtrk.db", NULL);
  g_autoptr (MsgtrkdStore) store = NULL;
  GError *error = NULL;

  g_test_summary ("A database path under a plain file fails with STORE naming the directory");
  g_assert_true (g_file_set_contents (file, "x", 1, NULL));
  store = msgtrkd_store_open (path, &error);
  g_assert_null (store);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, "plain-file"));
  g_clear_error (&error);
  remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/store/open/new", test_open_new);
  g_test_add_func ("/store/open/empty-file", test_open_empty_file);
  g_test_add_func ("/store/migrate/secret-scheme", test_secret_scheme);
  g_test_add_func ("/store/open/newer-refused", test_open_newer_refused);
  g_test_add_func ("/store/open/not-a-database", test_open_not_a_database);
  g_test_add_func ("/store/open/bad-directory", test_bad_directory);
  ADD ("/store/open/reopen", test_open_reopen);
  ADD ("/store/message/round-trip", test_message_round_trip);
  ADD ("/store/message/defaults", test_message_defaults);
  ADD ("/store/message/by-message-id", test_message_by_message_id);
  ADD ("/store/message/duplicate", test_message_duplicate);
  ADD ("/store/message/unknown", test_message_unknown);
  ADD ("/store/message/update", test_message_update);
  ADD ("/store/message/list", test_message_list);
  ADD ("/store/message/invalid", test_message_invalid);
  ADD ("/store/message/hostile", test_message_hostile);
  ADD ("/store/message/limits", test_message_limits);
  ADD ("/store/due", test_due);
  ADD ("/store/report/round-trip", test_report_round_trip);
  ADD ("/store/report/limits", test_report_limits);
  ADD ("/store/report/replace-key", test_report_replace_key);
  ADD ("/store/report/cap", test_report_cap);
  ADD ("/store/report/match-rank", test_report_match_rank);
  ADD ("/store/report/cap-message-id", test_report_cap_message_id);
  ADD ("/store/event/cap", test_event_cap);
  g_test_add_func ("/store/open/upgrade-v1", test_open_upgrade_v1);
  ADD ("/store/snapshots", test_snapshots);
  ADD ("/store/events", test_events);
  ADD ("/store/settings", test_settings);
  ADD ("/store/forget/cascade", test_forget_cascade);
  ADD ("/store/failure/full-disk", test_full_disk);
  ADD ("/store/batch/commit", test_batch_commit);
  ADD ("/store/batch/nested", test_batch_nested);
  ADD ("/store/batch/after-commit", test_batch_after_commit);
  ADD ("/store/batch/failed-write", test_batch_failed_write);
  ADD ("/store/batch/full-disk", test_batch_full_disk);
  g_test_add_func ("/store/failure/read-only", test_read_only);
#undef ADD

  return g_test_run ();
}
