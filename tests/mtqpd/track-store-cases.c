/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store-cases.c: the contract of track-store.h, one table of cases for every backend
 * (see track-store-cases.h). */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "test-util.h"
#include "track-store-cases.h"

#define NOT_FOUND_MESSAGE "No tracking information for this ENVID and secret"
#define STORE_MAX_BACKENDS 4 /* store_cases_add() calls in one program */

typedef struct
{
  const char *backend;
  StoreOpenFunc open;
} Backend;

static void
fixture_setup (StoreFixture *f,
               gconstpointer data)
{
  const Backend *b = data;

  f->dir = mt_tmpdir_new ();
  f->now = g_get_real_time () / G_USEC_PER_SEC;
  f->files = strcmp (b->backend, "files") == 0;
  b->open (f);
  if (f->store != NULL)
    g_assert_cmpstr (track_store_get_backend_name (f->store), ==, b->backend);
}

static void
fixture_teardown (StoreFixture *f,
                  gconstpointer data)
{
  g_clear_object (&f->store);
  mt_tmpdir_remove (f->dir);
  g_free (f->dir);
}

/* Skip a case without a store; TRUE to go on. */
static gboolean
have_store (StoreFixture *f)
{
  if (f->store == NULL)
    {
      g_test_skip ("backend not available (PostgreSQL: run through tests/pg/run-with-pg.py)");
      return FALSE;
    }
  return TRUE;
}

MsgtrkReport *
store_make_report (const char *envid,
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

/* The files backend's record file of @envid in the state directory @dir. */
char *
store_record_file (const char *dir,
                   const char *envid)
{
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, envid, -1);
  g_autofree char *name = g_strconcat (hash, ".trk", NULL);

  return g_build_filename (dir, "tracking", name, NULL);
}

/* The files in the files backend's tracking directory, its journal not counted. */
guint
store_count_files (const char *dir)
{
  g_autofree char *dir_path = g_build_filename (dir, "tracking", NULL);
  g_autoptr (GDir) d = g_dir_open (dir_path, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (d);
  /* The writer's journal (.journal-XXXXXX) is the store's machinery, not a record. */
  while ((name = g_dir_read_name (d)) != NULL)
    if (!g_str_has_prefix (name, ".journal-"))
      n++;
  return n;
}

/* The action of the only recipient of what TRACK answers for @envid with SECRET_A. */
static char *
served_action (StoreFixture *f,
               const char   *envid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = track_store_lookup (f->store, envid, SECRET_A, f->now, &error);
  GPtrArray *rcpts;

  g_assert_no_error (error);
  g_assert_nonnull (r);
  rcpts = msgtrk_report_get_recipients (r);
  g_assert_cmpuint (rcpts->len, ==, 1);
  return g_strdup (msgtrk_action_to_string (
    msgtrk_recipient_report_get_action (g_ptr_array_index (rcpts, 0))));
}

static void
test_round_trip (StoreFixture *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) found = NULL;
  g_autoptr (MsgtrkReport) loaded = NULL;
  g_autofree char *auth = NULL;
  gint64 expires = 0;
  GPtrArray *rcpts;

  g_test_summary ("A stored record is served with the right secret and loads as stored");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 100, report, &error));
  g_assert_no_error (error);

  found = track_store_lookup (f->store, ENVID, SECRET_A, f->now, &error);
  g_assert_no_error (error);
  g_assert_nonnull (found);
  g_assert_cmpstr (msgtrk_report_get_envid (found), ==, ENVID);
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (found), ==, "mx.example.com");
  rcpts = msgtrk_report_get_recipients (found);
  g_assert_cmpuint (rcpts->len, ==, 1);
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpts->pdata[0]), ==,
                   MSGTRK_ACTION_DELIVERED);

  loaded = track_store_load (f->store, ENVID, &auth, &expires, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (loaded);
  g_assert_cmpstr (auth, ==, AUTH_B);
  g_assert_cmpint (expires, ==, f->now + 100);
  g_assert_cmpstr (msgtrk_report_get_envid (loaded), ==, ENVID);

  if (f->files)
    {
      /* Only B is stored, never A. */
      g_autofree char *path = store_record_file (f->dir, ENVID);
      g_autofree char *text = NULL;

      g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
      g_assert_null (strstr (text, SECRET_A));
      g_assert_true (g_str_has_prefix (text, "MSGTRK-TRACK 1\n"));
    }
}

static void
test_same_error (StoreFixture *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
  const struct
  {
    const char *envid;
    const char *secret;
    gint64 now;
  } cases[] = {
    { ENVID, WRONG_A, NOW },                       /* wrong secret */
    { "mtrk.unknown@example.com", SECRET_A, NOW }, /* unknown ENVID */
    { ENVID, SECRET_A, NOW + 100 },                /* expired: at the expiry time */
    { ENVID, SECRET_A, NOW + 1000 },               /* expired long ago */
    { ENVID, "not base64!", NOW },                 /* malformed secret */
    { ENVID, "", NOW },                            /* empty secret */
    { ENVID, AUTH_B, NOW },                        /* B itself is not the secret */
    { "", SECRET_A, NOW },                         /* empty ENVID */
  };

  g_test_summary ("Unknown ENVID, wrong secret, expired record: one error, one message");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, NOW + 100, report, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) e = NULL;
      g_autoptr (MsgtrkReport) r = track_store_lookup (f->store, cases[i].envid,
                                                       cases[i].secret, cases[i].now, &e);

      g_assert_null (r);
      g_assert_error (e, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
      g_assert_cmpstr (e->message, ==, NOT_FOUND_MESSAGE);
    }
  /* One second before expiry it is still served. */
  {
    g_autoptr (MsgtrkReport) r = track_store_lookup (f->store, ENVID, SECRET_A, NOW + 99,
                                                     &error);
    g_assert_no_error (error);
    g_assert_nonnull (r);
  }
}

static void
test_replace (StoreFixture *f,
              gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) first = store_make_report (ENVID, "delayed");
  g_autoptr (MsgtrkReport) second = store_make_report (ENVID, "delivered");
  g_autofree char *action = NULL;

  g_test_summary ("The owner's next put replaces the record (files: no temporary file left)");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 100, first, &error));
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 100, second, &error));
  g_assert_no_error (error);
  if (f->files)
    g_assert_cmpuint (store_count_files (f->dir), ==, 1);
  action = served_action (f, ENVID);
  g_assert_cmpstr (action, ==, "delivered");
}

static void
test_owner_kept (StoreFixture *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) mine = store_make_report (ENVID, "delayed");
  g_autoptr (MsgtrkReport) theirs = store_make_report (ENVID, "delivered");
  g_autofree char *path = store_record_file (f->dir, ENVID);
  g_autofree char *before = NULL;
  g_autofree char *action = NULL;

  g_test_summary ("ENVID takeover: another B never replaces an unexpired record, not even "
                  "with a newer version (issue 8 item 10)");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 3600, mine, &error));
  g_assert_no_error (error);
  if (f->files)
    g_assert_true (g_file_get_contents (path, &before, NULL, NULL));

  g_assert_false (track_store_put (f->store, ENVID, HIJACK_B, f->now + 7200, theirs, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_assert_null (strstr (error->message, HIJACK_B));
  g_assert_null (strstr (error->message, AUTH_B));
  g_clear_error (&error);
  g_assert_false (track_store_put_versioned (f->store, ENVID, HIJACK_B, f->now + 7200,
                                             G_MAXINT64, theirs, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);

  if (f->files)
    {
      /* The record is byte for byte the owner's, and no temporary file is left. */
      g_autofree char *after = NULL;

      g_assert_true (g_file_get_contents (path, &after, NULL, NULL));
      g_assert_cmpstr (after, ==, before);
      g_assert_cmpuint (store_count_files (f->dir), ==, 1);
    }
  action = served_action (f, ENVID);
  g_assert_cmpstr (action, ==, "delayed");

  /* The owner still updates its own record. */
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 3600, theirs, &error));
  g_assert_no_error (error);
}

static void
test_owner_expired (StoreFixture *f,
                    gconstpointer data)
{
  const char *second = "mtrk.second@example.com";
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) old = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) next = store_make_report (ENVID, "delayed");
  g_autoptr (MsgtrkReport) loaded = NULL;
  g_autoptr (MsgtrkReport) loaded_second = NULL;
  g_autofree char *auth = NULL;
  g_autofree char *auth_second = NULL;

  g_test_summary ("An expired record is taken by the next writer, even with a lower version");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now - 1, 1000, old,
                                            &error));
  g_assert_true (track_store_put_versioned (f->store, ENVID, HIJACK_B, f->now + 3600, 1, next,
                                            &error));
  g_assert_no_error (error);
  loaded = track_store_load (f->store, ENVID, &auth, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (auth, ==, HIJACK_B);

  /* The same with unversioned puts. */
  g_assert_true (track_store_put (f->store, second, AUTH_B, f->now - 1, old, &error));
  g_assert_true (track_store_put (f->store, second, HIJACK_B, f->now + 3600, next, &error));
  g_assert_no_error (error);
  loaded_second = track_store_load (f->store, second, &auth_second, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (auth_second, ==, HIJACK_B);
}

static void
test_version_order (StoreFixture *f,
                    gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) v10 = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) v5 = store_make_report (ENVID, "delayed");
  g_autoptr (MsgtrkReport) v11 = store_make_report (ENVID, "relayed");
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

/* A record written before the clock was set back: its version is ahead of the clock. The
 * loaded version lets the next write be newer (track_store_next_version_after). */
static void
test_version_loaded (StoreFixture *f,
                     gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) ahead = store_make_report (ENVID, "delayed");
  g_autoptr (MsgtrkReport) later = store_make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) loaded = NULL;
  g_autofree char *stale = NULL;
  g_autofree char *served = NULL;
  gint64 stored = g_get_real_time () + (gint64) 3600 * G_USEC_PER_SEC;
  gint64 version = 0;
  gint64 next;

  g_test_summary ("track_store_load gives the stored version, and a write above it is "
                  "newer even when the clock is behind it");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now + 100, stored,
                                            ahead, &error));
  g_assert_no_error (error);
  loaded = track_store_load (f->store, ENVID, NULL, NULL, &version, &error);
  g_assert_no_error (error);
  g_assert_nonnull (loaded);
  g_assert_cmpint (version, ==, stored);
  /* The clock's version is behind the stored one: dropped as stale. */
  g_assert_true (track_store_put (f->store, ENVID, AUTH_B, f->now + 100, later, &error));
  stale = served_action (f, ENVID);
  g_assert_cmpstr (stale, ==, "delayed");
  next = track_store_next_version_after (version);
  g_assert_cmpint (next, >, stored);
  /* Another write above the same stored version (the last one pushed, then not stored
   * here): another version, above the first. */
  g_assert_cmpint (track_store_next_version_after (version), >, next);
  /* The top of the range: no overflow, and no other record's version moved. */
  g_assert_cmpint (track_store_next_version_after (G_MAXINT64), ==, G_MAXINT64);
  g_assert_cmpint (track_store_next_version (), <, stored);
  g_assert_true (track_store_put_versioned (f->store, ENVID, AUTH_B, f->now + 100, next, later,
                                            &error));
  g_assert_no_error (error);
  served = served_action (f, ENVID);
  g_assert_cmpstr (served, ==, "relayed");
}

/* While the clock is behind a stored version, next_version_after() gives stored + a
 * per-process count (a pushed update whose local write failed); once the clock passes
 * the stored version, the next call still gives more than those (it gave the clock's
 * version, at or below them: the receiver dropped the next push; session 20 review). */
static void
test_version_catch_up (StoreFixture *f,
                       gconstpointer data)
{
  gint64 stored;
  gint64 pushed;
  gint64 next;

  /* Other records' writes while the clock is behind them (the count is per process). */
  for (guint i = 0; i < 200000; i++)
    track_store_next_version_after (G_MAXINT64 / 2);
  stored = track_store_next_version () + 20000; /* 20 ms ahead of the clock */
  pushed = track_store_next_version_after (stored);
  g_assert_cmpint (pushed, >, stored);
  /* The clock passes @stored (not the version given above it). */
  while (g_get_real_time () <= stored + 1000)
    g_usleep (5000);
  next = track_store_next_version_after (stored);
  g_test_message ("stored %" G_GINT64_FORMAT " pushed %" G_GINT64_FORMAT " next %" G_GINT64_FORMAT,
                  stored, pushed, next);
  g_assert_cmpint (next, >, pushed);
}

static void
test_invalid_arguments (StoreFixture *f,
                        gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
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
test_size_limit (StoreFixture *f,
                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) big = store_make_report (ENVID, "delivered");
  g_autofree char *value = g_strnfill (TRACK_STORE_MAX_RECORD_SIZE, 'x');

  g_test_summary ("A record past TRACK_STORE_MAX_RECORD_SIZE is refused, nothing stored");
  if (!have_store (f))
    return;
  msgtrk_report_set_field (big, "X-Big", value);
  g_assert_false (track_store_put (f->store, ENVID, AUTH_B, f->now + 10, big, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_null (track_store_load (f->store, ENVID, NULL, NULL, NULL, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
}

static void
test_expire (StoreFixture *f,
             gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
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
  kept = track_store_load (f->store, "mtrk.new@example.com", NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (kept);
}

static void
test_binary_envid (StoreFixture *f,
                   gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *envid = "mtrk.\x01\xff+=\\'\"%_@example.com";
  g_autoptr (MsgtrkReport) report = store_make_report (envid, "delivered");
  g_autoptr (MsgtrkReport) other = NULL;

  g_test_summary ("A decoded ENVID with any octet is its own key (no escaping, no LIKE)");
  if (!have_store (f))
    return;
  g_assert_true (track_store_put (f->store, envid, AUTH_B, f->now + 100, report, &error));
  g_assert_no_error (error);
  g_free (served_action (f, envid));
  other = track_store_load (f->store, "mtrk.\x01\xff+=\\'\"%%_@example.com", NULL, NULL, NULL,
                            &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
}

static void
test_put_many (StoreFixture *f,
               gconstpointer data)
{
  g_autoptr (MsgtrkReport) relayed = store_make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) other = store_make_report ("mtrk.other@example.com", "delivered");
  g_autoptr (MsgtrkReport) third = store_make_report ("mtrk.third@example.com", "delivered");
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
test_put_many_fields (StoreFixture *f,
                      gconstpointer data)
{
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
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

static char *
stored_owner (StoreFixture *f,
              const char *envid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) loaded = NULL;
  char *auth = NULL;

  loaded = track_store_load (f->store, envid, &auth, NULL, NULL, &error);
  g_assert_no_error (error);
  return auth;
}

static void
test_put_many_owner (StoreFixture *f,
                     gconstpointer data)
{
  g_autoptr (MsgtrkReport) relayed = store_make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = store_make_report (ENVID, "delivered");
  g_autoptr (MsgtrkReport) delayed = store_make_report (ENVID, "delayed");
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
test_put_many_duplicates (StoreFixture *f,
                          gconstpointer data)
{
  g_autoptr (MsgtrkReport) relayed = store_make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = store_make_report (ENVID, "delivered");
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
test_put_many_stale (StoreFixture *f,
                     gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) relayed = store_make_report (ENVID, "relayed");
  g_autoptr (MsgtrkReport) delivered = store_make_report (ENVID, "delivered");
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
test_put_many_limit (StoreFixture *f,
                     gconstpointer data)
{
  g_autoptr (MsgtrkReport) report = store_make_report (ENVID, "delivered");
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

/* The fixture data of (@backend, @open): one per pair, as long as the program runs. */
static const Backend *
backend_of (const char   *backend,
            StoreOpenFunc open)
{
  static Backend backends[STORE_MAX_BACKENDS];
  static guint n_backends;

  for (guint i = 0; i < n_backends; i++)
    if (backends[i].open == open && strcmp (backends[i].backend, backend) == 0)
      return &backends[i];
  g_assert_cmpuint (n_backends, <, STORE_MAX_BACKENDS);
  backends[n_backends].backend = backend;
  backends[n_backends].open = open;
  return &backends[n_backends++];
}

/* Register @fn as the test @path on a StoreFixture whose store @open makes. */
void
store_case_add (const char   *path,
                const char   *backend,
                StoreOpenFunc open,
                void        (*fn) (StoreFixture *f,
                                   gconstpointer data))
{
  g_test_add (path, StoreFixture, backend_of (backend, open), fixture_setup, fn,
              fixture_teardown);
}

/* Register every case as /store/@backend/CASE, its store made by @open. */
void
store_cases_add (const char   *backend,
                 StoreOpenFunc open)
{
  static const struct
  {
    const char *name;
    void (*fn) (StoreFixture *f, gconstpointer data);
  } cases[] = {
    { "round-trip", test_round_trip },
    { "same-error", test_same_error },
    { "replace", test_replace },
    { "owner-kept", test_owner_kept },
    { "owner-expired", test_owner_expired },
    { "version-order", test_version_order },
    { "version-loaded", test_version_loaded },
    { "version-catch-up", test_version_catch_up },
    { "invalid-arguments", test_invalid_arguments },
    { "size-limit", test_size_limit },
    { "expire", test_expire },
    { "binary-envid", test_binary_envid },
    { "put-many", test_put_many },
    { "put-many-fields", test_put_many_fields },
    { "put-many-owner", test_put_many_owner },
    { "put-many-duplicates", test_put_many_duplicates },
    { "put-many-stale", test_put_many_stale },
    { "put-many-limit", test_put_many_limit },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/store/%s/%s", backend, cases[i].name);

      store_case_add (path, backend, open, cases[i].fn);
    }
}
