/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store-crash-writer.c: the two halves of the store's crash test (test-store-crash.py).
 *
 *   store-crash-writer write DB PREFIX   adds messages PREFIX-0, PREFIX-1, … forever; for
 *                                        each: message, report, snapshot, event, update,
 *                                        then prints "PREFIX-N\n" and flushes. A printed
 *                                        ENVID is therefore fully committed.
 *   store-crash-writer write-batch DB PREFIX
 *                                        the same, CRASH_BATCH messages per store batch
 *                                        (msgtrkd_store_begin_batch … end_batch, as msgtrkd
 *                                        stores a poll batch); prints the batch's ENVIDs
 *                                        after end_batch returned TRUE.
 *   store-crash-writer check DB          reads ENVIDs (one a line) from stdin and checks
 *                                        each is there and intact, that every report's raw
 *                                        bytes match its SHA-256, and integrity_check.
 *                                        Also every message in the store whose ENVID starts
 *                                        with "batch" must be whole (a batch is all or
 *                                        nothing, printed or not).
 *
 * Everything a message holds is derived from its ENVID, so the checker can recompute it.
 * Report sizes vary up to REPORT_MAX_SIZE so that WAL checkpoints happen during the run.
 */
#include "config.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "msgtrkd-error.h"
#include "msgtrkd-store.h"

#define REPORT_MAX_SIZE 60000
/* Messages per store batch in write-batch mode. */
#define CRASH_BATCH 8

static guint32
envid_hash (const char *envid)
{
  return g_str_hash (envid);
}

/* The report's bytes for @envid: pseudo-random, with NULs, of a varying size. */
static GBytes *
expected_report (const char *envid)
{
  guint32 h = envid_hash (envid);
  gsize size = 1 + h % REPORT_MAX_SIZE;
  guint8 *data = g_malloc (size);
  gsize i;

  for (i = 0; i < size; i++)
    {
      h = h * 1103515245u + 12345u;
      data[i] = (guint8) (h >> 16);
    }
  return g_bytes_new_take (data, size);
}

static char *
expected_snapshot (const char *envid)
{
  return g_strdup_printf ("{\"envid\":\"%s\",\"state\":\"delivered\",\"n\":%u}", envid,
                          envid_hash (envid));
}

static MsgtrkdMessage *
expected_message (const char *envid)
{
  MsgtrkdMessage *m = msgtrkd_message_new ();

  m->envid = g_strdup (envid);
  m->message_id = g_strdup_printf ("%s@crash.example", envid);
  m->subject = g_strdup_printf ("Crash test “%s” — ünïcödé", envid);
  m->sender = g_strdup ("me@crash.example");
  m->recipients = g_new0 (char *, 3);
  m->recipients[0] = g_strdup ("a@crash.example");
  m->recipients[1] = g_strdup_printf ("%s@crash.example", envid);
  m->tracking = g_strdup (MSGTRKD_TRACKING_MTQP);
  m->state = g_strdup ("in-transit");
  m->summary = g_strdup ("In transit");
  m->prepared_at = envid_hash (envid);
  m->next_poll_at = 100;
  return m;
}

/* Every write of one message (five transactions, or savepoints of a batch). */
static gboolean
write_one (MsgtrkdStore *store,
           const char   *envid,
           GError      **error)
{
  g_autoptr (MsgtrkdMessage) m = expected_message (envid);
  g_autoptr (GBytes) raw = expected_report (envid);
  g_autofree char *json = expected_snapshot (envid);
  gboolean is_new = FALSE;

  if (!msgtrkd_store_add_message (store, m, error)
      || !msgtrkd_store_add_report (store, envid, "dsn", "mx.crash.example", 1, raw, &is_new,
                                    error)
      || !msgtrkd_store_add_snapshot (store, envid, 2, json, error)
      || !msgtrkd_store_add_event (store, envid, 3, "local", "Sent", error))
    return FALSE;
  m->poll_count = 1;
  m->state[0] = 'I';
  return msgtrkd_store_update_message (store, m, error);
}

static int
do_write (const char *path,
          const char *prefix,
          guint       per_batch)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdStore) store = msgtrkd_store_open (path, &error);
  guint64 n;

  if (store == NULL)
    {
      g_printerr ("writer: %s\n", error->message);
      return 1;
    }
  for (n = 0;; n += MAX (per_batch, 1))
    {
      g_autoptr (GString) done = g_string_new (NULL);

      if (per_batch > 0 && !msgtrkd_store_begin_batch (store, &error))
        {
          g_printerr ("writer: %s\n", error->message);
          return 1;
        }
      for (guint i = 0; i < MAX (per_batch, 1); i++)
        {
          g_autofree char *envid = g_strdup_printf ("%s-%" G_GUINT64_FORMAT, prefix, n + i);

          if (!write_one (store, envid, &error))
            {
              g_printerr ("writer: %s\n", error->message);
              return 1;
            }
          g_string_append_printf (done, "%s\n", envid);
        }
      if (per_batch > 0 && !msgtrkd_store_end_batch (store, &error))
        {
          g_printerr ("writer: %s\n", error->message);
          return 1;
        }
      /* One write: the test reads only whole lines. */
      fputs (done->str, stdout);
      fflush (stdout);
    }
  return 0;
}

static gboolean
check_one (MsgtrkdStore *store,
           const char   *envid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) want = expected_message (envid);
  g_autoptr (MsgtrkdMessage) got = msgtrkd_store_get_message (store, envid, &error);
  g_autoptr (GBytes) raw = expected_report (envid);
  g_autofree char *json = expected_snapshot (envid);
  g_autofree char *got_json = NULL;
  g_autoptr (GPtrArray) reports = NULL;
  g_autoptr (GPtrArray) events = NULL;

  if (got == NULL)
    {
      g_printerr ("check: %s: %s\n", envid, error->message);
      return FALSE;
    }
  if (g_strcmp0 (got->subject, want->subject) != 0
      || !g_strv_equal ((const char *const *) got->recipients,
                        (const char *const *) want->recipients)
      || got->prepared_at != want->prepared_at || got->poll_count != 1
      || g_strcmp0 (got->state, "In-transit") != 0)
    {
      g_printerr ("check: %s: message differs\n", envid);
      return FALSE;
    }
  reports = msgtrkd_store_list_reports (store, envid, &error);
  if (reports == NULL || reports->len != 1
      || !g_bytes_equal (((MsgtrkdStoredReport *) reports->pdata[0])->raw, raw))
    {
      g_printerr ("check: %s: report missing or differs\n", envid);
      return FALSE;
    }
  got_json = msgtrkd_store_get_latest_snapshot (store, envid, &error);
  if (g_strcmp0 (got_json, json) != 0)
    {
      g_printerr ("check: %s: snapshot missing or differs\n", envid);
      return FALSE;
    }
  events = msgtrkd_store_list_events (store, envid, &error);
  if (events == NULL || events->len != 1)
    {
      g_printerr ("check: %s: event missing\n", envid);
      return FALSE;
    }
  return TRUE;
}

/* Every report's raw bytes against its sha256 column, and SQLite's own integrity check. */
static gboolean
check_database (const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gboolean ok = TRUE;
  guint rows = 0;

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      g_printerr ("check: cannot open %s\n", path);
      return FALSE;
    }
  sqlite3_prepare_v2 (db, "SELECT sha256, raw FROM reports", -1, &stmt, NULL);
  while (stmt != NULL && sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_autofree char *digest = g_compute_checksum_for_data (
          G_CHECKSUM_SHA256, sqlite3_column_blob (stmt, 1), (gsize) sqlite3_column_bytes (stmt, 1));

      rows++;
      if (g_strcmp0 (digest, (const char *) sqlite3_column_text (stmt, 0)) != 0)
        {
          g_printerr ("check: a report's bytes do not match its SHA-256\n");
          ok = FALSE;
        }
    }
  sqlite3_finalize (stmt);
  stmt = NULL;
  sqlite3_prepare_v2 (db, "PRAGMA integrity_check", -1, &stmt, NULL);
  if (stmt == NULL || sqlite3_step (stmt) != SQLITE_ROW
      || g_strcmp0 ((const char *) sqlite3_column_text (stmt, 0), "ok") != 0)
    {
      g_printerr ("check: integrity_check failed: %s\n",
                  stmt != NULL ? (const char *) sqlite3_column_text (stmt, 0) : "?");
      ok = FALSE;
    }
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  printf ("reports checked: %u\n", rows);
  return ok;
}

static int
do_check (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdStore) store = msgtrkd_store_open (path, &error);
  char line[512];
  guint checked = 0;
  gboolean ok = TRUE;

  if (store == NULL)
    {
      g_printerr ("check: %s\n", error->message);
      return 1;
    }
  while (fgets (line, sizeof line, stdin) != NULL)
    {
      g_strchomp (line);
      if (*line == '\0')
        continue;
      if (!check_one (store, line))
        ok = FALSE;
      checked++;
    }
  /* A batch is all or nothing: every message of a batch round that is there is whole,
   * whether or not the writer lived to print it. */
  {
    g_autoptr (GPtrArray) all = msgtrkd_store_list_messages (store, &error);

    if (all == NULL)
      {
        g_printerr ("check: %s\n", error->message);
        ok = FALSE;
      }
    for (guint i = 0; all != NULL && i < all->len; i++)
      {
        MsgtrkdMessage *m = g_ptr_array_index (all, i);

        if (g_str_has_prefix (m->envid, "batch") && !check_one (store, m->envid))
          {
            g_printerr ("check: %s: part of a batch\n", m->envid);
            ok = FALSE;
          }
      }
  }
  g_clear_object (&store);
  if (!check_database (path))
    ok = FALSE;
  printf ("messages checked: %u\n", checked);
  return ok ? 0 : 1;
}

int
main (int   argc,
      char *argv[])
{
  if (argc == 4 && strcmp (argv[1], "write") == 0)
    return do_write (argv[2], argv[3], 0);
  if (argc == 4 && strcmp (argv[1], "write-batch") == 0)
    return do_write (argv[2], argv[3], CRASH_BATCH);
  if (argc == 3 && strcmp (argv[1], "check") == 0)
    return do_check (argv[2]);
  g_printerr ("usage: %s write|write-batch DB PREFIX | check DB < envids\n", argv[0]);
  return 2;
}
