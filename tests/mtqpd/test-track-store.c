/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-track-store.c: the reference server's tracking record store (track-store.h) on
 * its files backend.
 *
 * What: the contract every backend keeps (track-store-cases.c, as /store/files/...: round
 * trip, same answer for unknown/expired/wrong secret, atomic replacement, first owner,
 * versions, limits, expiry, put_many) and the files backend's own cases (/track-store/...):
 * file names checked against the openssl command, size limit of a record file read at and
 * past the limit, hostile record files (never a crash), an owner's unparsable record kept,
 * symlinks, expiry of stale temporary files, the read cache, journal replay, concurrency.
 * Limits: needs no PostgreSQL (tests/pg/test-store-backends.c runs the same table there).
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <glib/gstdio.h>

#include "msgtrk-private.h"
#include "test-util.h"
#include "track-store-cases.h"

static guint captured_warnings;

/* Count the store's warnings (malformed records) instead of printing them. */
static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  gsize i;

  for (i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && (level & G_LOG_LEVEL_WARNING)
        && strstr (fields[i].value, "malformed") != NULL)
      {
        captured_warnings++;
        return G_LOG_WRITER_HANDLED;
      }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* The store of the shared cases: backend=files from a configuration, as mtqpd opens it. */
static void
open_files (StoreFixture *f)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;

  g_key_file_set_string (kf, "store", "backend", "files");
  f->store = track_store_new_from_config (kf, f->dir, &error);
  g_assert_no_error (error);
}

/* The store of the files backend's own cases: track_store_new(). */
static void
open_files_new (StoreFixture *f)
{
  g_autoptr (GError) error = NULL;

  f->store = track_store_new (f->dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->store);
}

static guint
count_journals (StoreFixture *f)
{
  g_autofree char *dir_path = g_build_filename (f->dir, "tracking", NULL);
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;
  guint n = 0;

  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, ".journal-"))
      n++;
  return n;
}

static void
test_owner_malformed (StoreFixture *f,
                      gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
  g_autofree char *path = store_record_file (f->dir, ENVID);
  g_autofree char *after = NULL;

  g_test_summary ("A record that cannot be parsed is kept for the administrator, not "
                  "replaced");

  g_assert_true (g_file_set_contents (path, "garbage\n", -1, NULL));
  g_assert_false (track_store_put (f->store, ENVID, AUTH_B, NOW + 10, report, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_true (g_file_get_contents (path, &after, NULL, NULL));
  g_assert_cmpstr (after, ==, "garbage\n");
}

static void
test_file_name (StoreFixture *f,
                gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
  const char *argv[] = { "openssl", "dgst", "-sha256", "-r", NULL };
  g_autoptr (GBytes) input = g_bytes_new_static (ENVID, strlen (ENVID));
  g_autoptr (GBytes) out = NULL;
  g_autofree char *hex = NULL;
  g_autofree char *expected = NULL;

  g_test_summary ("The record file is <sha256-hex of ENVID>.trk (checked with openssl)");

  out = mt_run_tool (argv, input, &error);
  g_assert_no_error (error);
  hex = g_strndup (g_bytes_get_data (out, NULL), 64);
  expected = g_strdup_printf ("%s/tracking/%s.trk", f->dir, hex);

  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, NOW + 10, report, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (expected, G_FILE_TEST_IS_REGULAR));
}

static void
test_size_limit (StoreFixture *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) big = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) r = NULL;
  g_autofree char *pad = g_strnfill (1000, 'p');
  g_autofree char *path = store_record_file (f->dir, ENVID);
  g_autofree char *garbage = NULL;
  guint i;

  g_test_summary ("Records over TRACK_STORE_MAX_RECORD_SIZE are refused when written and read");

  /* Writing: 1100 recipients with a 1000-octet field each is over 1 MiB. */
  for (i = 0; i < 1100; i++)
    {
      g_autofree char *addr = g_strdup_printf ("user%u@example.net", i);
      g_autoptr (MsgtrkRecipientReport) rcpt = msgtrk_recipient_report_new (addr);

      msgtrk_recipient_report_set_action (rcpt, MSGTRK_ACTION_DELIVERED);
      msgtrk_recipient_report_set_status (rcpt, "2.0.0", NULL, NULL);
      msgtrk_recipient_report_set_field (rcpt, "X-Pad", pad);
      msgtrk_report_add_recipient (big, rcpt);
    }
  g_assert_false (track_store_put (f->store, ENVID, AUTH_B, NOW + 10, big, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_cmpuint (store_count_files (f->dir), ==, 0);

  /* Reading: a file of exactly the limit gets past the size check (and is malformed);
   * one octet more is refused for its size. */
  garbage = g_strnfill (TRACK_STORE_MAX_RECORD_SIZE + 1, 'x');
  g_assert_true (g_file_set_contents (path, garbage, TRACK_STORE_MAX_RECORD_SIZE, NULL));
  r = track_store_load (f->store, ENVID, NULL, NULL, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (path, garbage, TRACK_STORE_MAX_RECORD_SIZE + 1, NULL));
  r = track_store_load (f->store, ENVID, NULL, NULL, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  r = track_store_lookup (f->store, ENVID, SECRET_A, NOW, &error);
  g_assert_null (r);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
}

static void
test_malformed (StoreFixture *f,
                gconstpointer data)
{
  g_autofree char *path = store_record_file (f->dir, ENVID);
  g_autofree char *good_header = g_strdup_printf ("MSGTRK-TRACK 1\nEnvid: %s\n"
                                                  "Authenticator: %s\nExpires: 1800000000\n\n",
                                                  ENVID, AUTH_B);
  const char *fields = "Original-Envelope-Id: " ENVID "\nReporting-MTA: dns; mx.example.com\n"
                       "\nFinal-Recipient: rfc822; user@example.net\nAction: delivered\n"
                       "Status: 2.0.0\n";
  g_autofree char *auth_line = g_strdup_printf ("Authenticator: %s\n", AUTH_B);
  struct
  {
    const char *name;
    char *text;
    gssize len; /* -1: up to the NUL; -2: up to the NUL, then '~' becomes a NUL octet */
  } cases[] = {
    { "empty", g_strdup (""), -1 },
    { "magic only", g_strdup ("MSGTRK-TRACK 1\n"), -1 },
    { "wrong magic", g_strconcat ("MSGTRK-TRACK 2\n", good_header + 15, fields, NULL), -1 },
    { "no blank line", g_strdup_printf ("MSGTRK-TRACK 1\nEnvid: %s\n", ENVID), -1 },
    { "envid twice", g_strconcat ("MSGTRK-TRACK 1\nEnvid: " ENVID "\n", good_header + 15,
                                  fields, NULL), -1 },
    { "no authenticator", g_strconcat ("MSGTRK-TRACK 1\nEnvid: " ENVID "\nExpires: 1\n\n",
                                       fields, NULL), -1 },
    { "negative expiry", g_strconcat ("MSGTRK-TRACK 1\nEnvid: " ENVID "\n", auth_line,
                                      "Expires: -1\n\n", fields, NULL), -1 },
    { "absurd expiry", g_strconcat ("MSGTRK-TRACK 1\nEnvid: " ENVID "\n", auth_line,
                                    "Expires: 99999999999999999999999\n\n", fields, NULL), -1 },
    { "text expiry", g_strconcat ("MSGTRK-TRACK 1\nEnvid: " ENVID "\n", auth_line,
                                  "Expires: soon\n\n", fields, NULL), -1 },
    { "bad authenticator", g_strconcat ("MSGTRK-TRACK 1\nEnvid: " ENVID "\n",
                                        "Authenticator: !!!\nExpires: 1800000000\n\n", fields,
                                        NULL), -1 },
    { "other envid", g_strconcat ("MSGTRK-TRACK 1\nEnvid: mtrk.other@example.com\n", auth_line,
                                  "Expires: 1800000000\n\n", fields, NULL), -1 },
    { "bad xtext", g_strconcat ("MSGTRK-TRACK 1\nEnvid: a+ZZ\n", auth_line,
                                "Expires: 1800000000\n\n", fields, NULL), -1 },
    { "unknown header", g_strconcat ("MSGTRK-TRACK 1\nColour: blue\n", good_header + 15,
                                     fields, NULL), -1 },
    { "nul octet", g_strconcat (good_header, "Original-Envelope-Id: a~b\n", fields, NULL), -2 },
    { "non-ascii header", g_strconcat ("MSGTRK-TRACK 1\nEnvid: caf\xc3\xa9\n", auth_line,
                                       "Expires: 1800000000\n\n", fields, NULL), -1 },
    { "garbage fields", g_strconcat (good_header, "\x01\x02\x03 not a field\n\n\n:::\n", NULL),
      -1 },
    { "truncated", g_strndup (good_header, 40), -1 },
  };
  gsize i;

  g_test_summary ("Hostile record files give an error, never a crash or a false match");

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkReport) r = NULL;
      gsize len = strlen (cases[i].text);

      if (cases[i].len == -2)
        *strchr (cases[i].text, '~') = '\0';

      g_test_message ("case: %s", cases[i].name);
      g_assert_true (g_file_set_contents (path, cases[i].text, (gssize) len, NULL));
      r = track_store_load (f->store, ENVID, NULL, NULL, NULL, &error);
      g_assert_null (r);
      g_assert_nonnull (error);
      g_assert_false (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND));
      g_clear_error (&error);
      r = track_store_lookup (f->store, ENVID, SECRET_A, NOW, &error);
      g_assert_null (r);
      g_assert_nonnull (error);
      g_free (cases[i].text);
    }

  /* The good header with good fields does load (the table above is not vacuous). */
  {
    g_autofree char *text = g_strconcat (good_header, fields, NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (MsgtrkReport) r = NULL;

    g_assert_true (g_file_set_contents (path, text, -1, NULL));
    r = track_store_lookup (f->store, ENVID, SECRET_A, NOW, &error);
    g_assert_no_error (error);
    g_assert_nonnull (r);
  }
}

static void
test_symlink (StoreFixture *f,
              gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) r = NULL;
  g_autofree char *path = store_record_file (f->dir, "mtrk.link@example.com");
  g_autofree char *target = store_record_file (f->dir, ENVID);

  g_test_summary ("A record file that is a symbolic link is not followed");

  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, NOW + 10, report, &error));
  g_assert_cmpint (symlink (target, path), ==, 0);
  r = track_store_load (f->store, "mtrk.link@example.com", NULL, NULL, NULL, &error);
  g_assert_null (r);
  g_assert_nonnull (error);
  g_assert_false (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND));
}

static void
test_expire (StoreFixture *f,
             gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
  g_autofree char *stale = g_build_filename (f->dir, "tracking", ".tmp-abc-123456", NULL);
  g_autofree char *fresh = g_build_filename (f->dir, "tracking", ".tmp-def-123456", NULL);
  g_autofree char *broken = store_record_file (f->dir, "mtrk.broken@example.com");
  struct utimbuf times = { 1000, 1000 };

  g_test_summary ("expire() removes expired records and stale temporary files only");

  g_assert_true (track_store_put (f->store, "mtrk.old@example.com", AUTH_B, NOW - 1,
                                  report, &error));
  g_assert_true (track_store_put (f->store, "mtrk.edge@example.com", AUTH_B, NOW,
                                  report, &error));
  g_assert_true (track_store_put (f->store, "mtrk.new@example.com", AUTH_B, NOW + 1,
                                  report, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (stale, "x", -1, NULL));
  g_assert_cmpint (utime (stale, &times), ==, 0);
  g_assert_true (g_file_set_contents (fresh, "x", -1, NULL));
  g_assert_true (g_file_set_contents (broken, "not a record", -1, NULL));

  captured_warnings = 0;
  g_assert_cmpuint (track_store_expire (f->store, NOW), ==, 3);
  g_assert_cmpuint (captured_warnings, ==, 1);
  /* Left: mtrk.new, the fresh temporary file, the malformed record. */
  g_assert_cmpuint (store_count_files (f->dir), ==, 3);
  g_assert_true (g_file_test (fresh, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (broken, G_FILE_TEST_EXISTS));
}

/* Files read from disk by the files backend so far (track_store_lookup_stats()). */
static guint64
files_read (TrackStore *store)
{
  guint64 lookups = 0, reads = 0;
  guint waiting = 0;

  track_store_lookup_stats (store, &lookups, &reads, &waiting);
  return reads;
}

/* Look @envid up; TRUE when it was served from the read cache (no file read). */
static gboolean
lookup_cached (TrackStore *store,
               const char *envid)
{
  g_autoptr (GError) error = NULL;
  guint64 before = files_read (store);
  g_autoptr (MsgtrkReport) found = track_store_lookup (store, envid, SECRET_A, NOW, &error);

  g_assert_no_error (error);
  return files_read (store) == before;
}

static void
test_read_cache_lru (StoreFixture *f,
                     gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delayed");

  g_test_summary ("The read cache drops the least recently used record when full: a record "
                  "asked for again and again stays while TRACK_STORE_FILES_CACHE_ENTRIES "
                  "others pass through");
  g_assert_true (track_store_put (f->store, "hot@example.com", AUTH_B, NOW + 10,
                                  report, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < TRACK_STORE_FILES_CACHE_ENTRIES; i++)
    {
      g_autofree char *envid = g_strdup_printf ("cold%u@example.com", i);

      g_assert_true (track_store_put (f->store, envid, AUTH_B, NOW + 10, report,
                                      &error));
      g_assert_no_error (error);
    }
  /* Old enough to be cached (TRACK_STORE_FILES_CACHE_SETTLE_SECONDS). */
  g_usleep (2500 * G_TIME_SPAN_MILLISECOND);
  g_assert_false (lookup_cached (f->store, "hot@example.com"));
  g_assert_true (lookup_cached (f->store, "hot@example.com"));
  for (guint i = 0; i < TRACK_STORE_FILES_CACHE_ENTRIES; i++)
    {
      g_autofree char *envid = g_strdup_printf ("cold%u@example.com", i);

      g_assert_false (lookup_cached (f->store, envid));
      if (i % 512 == 0)
        g_assert_true (lookup_cached (f->store, "hot@example.com"));
    }
  /* Full since the last ones: the hot one stayed, the first cold one went. */
  g_assert_true (lookup_cached (f->store, "hot@example.com"));
  g_assert_false (lookup_cached (f->store, "cold0@example.com"));
  g_assert_true (lookup_cached (f->store, "cold0@example.com"));
}

/* The files backend's read cache (track-store-files.c, "Read cache") never serves a record
 * whose file changed or went away, even one rewritten in place at the same size. */
static void
test_read_cache (StoreFixture *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delayed");
  g_autofree char *path = store_record_file (f->dir, ENVID);
  g_autofree char *text = NULL;
  char *at;
  gsize len = 0;
  guint round;

  g_test_summary ("A cached record is re-read when its file changes and gone when removed");

  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, NOW + 10, report, &error));
  g_assert_no_error (error);
  /* Old enough to be cached (TRACK_STORE_FILES_CACHE_SETTLE_SECONDS). */
  g_usleep (2500 * G_TIME_SPAN_MILLISECOND);
  for (round = 0; round < 2; round++)
    {
      g_autoptr (MsgtrkReport) found = track_store_lookup (f->store, ENVID, SECRET_A, NOW, &error);

      g_assert_no_error (error);
      g_assert_cmpint (msgtrk_recipient_report_get_action (
                         msgtrk_report_get_recipients (found)->pdata[0]), ==,
                       MSGTRK_ACTION_DELAYED);
    }

  /* Rewritten in place, same size, same inode: "delayed" becomes "relayed". */
  g_assert_true (g_file_get_contents (path, &text, &len, NULL));
  at = strstr (text, "Action: delayed");
  g_assert_nonnull (at);
  memcpy (at + strlen ("Action: "), "relayed", 7);
  {
    int fd = open (path, O_WRONLY);

    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (pwrite (fd, text, len, 0), ==, (gssize) len);
    close (fd);
  }
  {
    g_autoptr (MsgtrkReport) found = track_store_lookup (f->store, ENVID, SECRET_A, NOW, &error);

    g_assert_no_error (error);
    g_assert_cmpint (msgtrk_recipient_report_get_action (
                       msgtrk_report_get_recipients (found)->pdata[0]), ==,
                     MSGTRK_ACTION_RELAYED);
  }

  /* Removed: unknown, not the cached record. */
  g_assert_cmpint (g_unlink (path), ==, 0);
  {
    g_autoptr (MsgtrkReport) found = track_store_lookup (f->store, ENVID, SECRET_A, NOW, &error);

    g_assert_null (found);
    g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
  }
}

static void
test_journal_replay (StoreFixture *f,
                     gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TrackStore) again = NULL;
  g_autoptr (MsgtrkReport) found = NULL;
  g_autofree char *lost = store_record_file (f->dir, ENVID);
  g_autofree char *torn = store_record_file (f->dir, "mtrk.torn@example.com");
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  int status = 0;
  pid_t pid;

  g_test_summary ("A writer killed after its puts returned: records its crash lost (missing "
                  "or torn unsynced files) come back from its journal at the next open");
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      TrackStore *store = track_store_new (f->dir, NULL);
      g_autoptr (MsgtrkReport) r = store_make_report (ENVID, "delivered");
      g_autoptr (MsgtrkReport) t = store_make_report ("mtrk.torn@example.com", "relayed");

      if (store == NULL
          || !track_store_put (store, ENVID, AUTH_B, now + 3600, r, NULL)
          || !track_store_put (store, "mtrk.torn@example.com", AUTH_B, now + 3600, t,
                               NULL))
        _exit (2);
      _exit (0); /* killed: the journal stays */
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_assert_cmpuint (count_journals (f), ==, 1);

  /* What a power cut can do to files renamed but never synced. */
  g_assert_cmpint (g_unlink (lost), ==, 0);
  g_assert_true (g_file_set_contents (torn, "", 0, NULL));

  again = track_store_new (f->dir, &error);
  g_assert_no_error (error);
  found = track_store_lookup (again, ENVID, SECRET_A, now, &error);
  g_assert_no_error (error);
  g_assert_nonnull (found);
  g_clear_object (&found);
  found = track_store_lookup (again, "mtrk.torn@example.com", SECRET_A, now, &error);
  g_assert_no_error (error);
  g_assert_nonnull (found);
  g_assert_cmpuint (count_journals (f), ==, 0);
}

#define N_RACERS 8

typedef struct
{
  TrackStore *store;
  char *b;
  gboolean won;
  int index;
} Racer;

static gpointer
racer (gpointer data)
{
  Racer *r = data;
  g_autoptr (MsgtrkReport) report = store_make_report ("mtrk.race@example.com", "delivered");
  g_autoptr (GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  r->won = track_store_put (r->store, "mtrk.race@example.com", r->b, now + 3600, report,
                            &error);
  if (!r->won)
    g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  for (int i = 0; i < 10; i++)
    {
      g_autofree char *envid = g_strdup_printf ("mtrk.t%d-%d@example.com", r->index, i);
      g_autoptr (MsgtrkReport) mine = store_make_report (envid, "relayed");

      g_assert_true (track_store_put (r->store, envid, r->b, now + 3600, mine, NULL));
    }
  return NULL;
}

static void
test_concurrent (StoreFixture *f,
                 gconstpointer data)
{
  GThread *threads[N_RACERS];
  Racer racers[N_RACERS];
  guint won = 0;

  g_test_summary ("Concurrent puts: one first owner among racers for one ENVID; every "
                  "thread's own records stored (group commit)");
  for (int i = 0; i < N_RACERS; i++)
    {
      guchar raw[20];

      memset (raw, 0x40 + i, sizeof raw);
      racers[i].b = g_base64_encode (raw, sizeof raw);
      racers[i].store = f->store;
      racers[i].index = i;
      threads[i] = g_thread_new ("racer", racer, &racers[i]);
    }
  for (int i = 0; i < N_RACERS; i++)
    {
      g_thread_join (threads[i]);
      won += racers[i].won;
    }
  g_assert_cmpuint (won, ==, 1);
  for (int i = 0; i < N_RACERS; i++)
    for (int k = 0; k < 10; k++)
      {
        g_autofree char *envid = g_strdup_printf ("mtrk.t%d-%d@example.com", i, k);
        g_autofree char *auth = NULL;
        g_autoptr (MsgtrkReport) r = track_store_load (f->store, envid, &auth, NULL, NULL, NULL);

        g_assert_nonnull (r);
        g_assert_cmpstr (auth, ==, racers[i].b);
      }
  for (int i = 0; i < N_RACERS; i++)
    g_free (racers[i].b);
  g_assert_cmpuint (store_count_files (f->dir), ==, 1 + N_RACERS * 10);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  store_cases_add ("files", open_files);
  g_log_set_writer_func (capture_writer, NULL, NULL);

#define ADD(path, fn) store_case_add (path, "files", open_files_new, fn)
  ADD ("/track-store/owner-malformed", test_owner_malformed);
  ADD ("/track-store/file-name", test_file_name);
  ADD ("/track-store/size-limit", test_size_limit);
  ADD ("/track-store/malformed", test_malformed);
  ADD ("/track-store/symlink", test_symlink);
  ADD ("/track-store/expire", test_expire);
  ADD ("/track-store/read-cache", test_read_cache);
  ADD ("/track-store/read-cache-lru", test_read_cache_lru);
  ADD ("/track-store/journal-replay", test_journal_replay);
  ADD ("/track-store/concurrent", test_concurrent);
#undef ADD

  ret = g_test_run ();
  return ret;
}
