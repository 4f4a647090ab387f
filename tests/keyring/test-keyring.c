/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-keyring.c: tests of msgtrkd's keyring (helper/msgtrkd/msgtrkd-keyring.c).
 *
 * One program, three settings, chosen by MSGTRK_KEYRING_TEST (run-keyring-test.sh sets it):
 *   (unset)  the FILE backend, and the Secret Service backend with no D-Bus at all;
 *   "live"   a real gnome-keyring-daemon on a private session bus (unlocked login
 *            collection); checked from outside with secret-tool;
 *   "dead"   a private session bus with no Secret Service and no way to activate one;
 *   "locked" gnome-keyring-daemon whose login collection holds locked@example.org and was
 *            then locked (no display: it cannot be unlocked);
 *   "nologin" gnome-keyring-daemon started without --unlock: there is no login collection
 *            (gnome-keyring's "Object does not exist at path …/collection/login").
 * The master secret (docs/secret-derivation.md) is tested on every backend: made once, kept
 * across restarts, the same A for the same ENVID, no item per message, a clear error when
 * it is gone.
 * The secrets here are test values; real ones are never printed.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "msgtrk.h"
#include "msgtrkd-error.h"
#include "msgtrkd-keyring.h"
#include "test-util.h"

/* No keyring call may take this long; SIGALRM ends a hung test (the test then fails). */
#define KEYRING_TEST_WATCHDOG_SECONDS 60

static const char *const test_secret = "c2VjcmV0LXRlc3QtdmFsdWUtMDEyMzQ1Njc4OWFiY2Q=";
static const char *const other_secret = "b3RoZXItc2VjcmV0LXZhbHVlLTAxMjM0NTY3ODlhYmM=";

/* ---- async helpers ------------------------------------------------------------------ */

static void
got_result (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
  g_main_context_wakeup (NULL);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static gboolean
store_async (MsgtrkdKeyring *keyring,
             const char     *envid,
             const char     *secret,
             const char     *label,
             GError        **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  msgtrkd_keyring_store_async (keyring, envid, secret, label, NULL, got_result, &result);
  return msgtrkd_keyring_store_finish (keyring, wait_result (&result), error);
}

static char *
lookup_async (MsgtrkdKeyring *keyring,
              const char     *envid,
              GError        **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  msgtrkd_keyring_lookup_async (keyring, envid, NULL, got_result, &result);
  return msgtrkd_keyring_lookup_finish (keyring, wait_result (&result), error);
}

static gboolean
delete_async (MsgtrkdKeyring *keyring,
              const char     *envid,
              GError        **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  msgtrkd_keyring_delete_async (keyring, envid, NULL, got_result, &result);
  return msgtrkd_keyring_delete_finish (keyring, wait_result (&result), error);
}

static char *
derive_async (MsgtrkdKeyring *keyring,
              const char     *envid,
              gboolean        create,
              GError        **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  msgtrkd_keyring_derive_async (keyring, envid, create, NULL, got_result, &result);
  return msgtrkd_keyring_derive_finish (keyring, wait_result (&result), error);
}

static char *
secret_async (MsgtrkdKeyring *keyring,
              const char     *envid,
              gboolean        derived,
              GError        **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  msgtrkd_keyring_secret_async (keyring, envid, derived, NULL, got_result, &result);
  return msgtrkd_keyring_lookup_finish (keyring, wait_result (&result), error);
}

/* What every backend must do with the master secret. @fresh makes a new keyring object on
 * the same storage (a restarted daemon). */
static void
master_checks (MsgtrkdKeyring *keyring,
               MsgtrkdKeyring *(*fresh) (gpointer),
               gpointer        fresh_data)
{
  g_autoptr (MsgtrkdKeyring) restarted = NULL;
  g_autoptr (GPtrArray) results = g_ptr_array_new ();
  GError *error = NULL;
  char *a1, *a2, *b1, *old;

  /* No master yet: polling and export never make one. */
  g_assert_null (msgtrkd_keyring_derive_sync (keyring, "m1@example.org", FALSE, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
  g_assert_nonnull (strstr (error->message, "master tracking secret"));
  g_test_message ("missing master: %s", error->message);
  g_clear_error (&error);
  g_assert_null (secret_async (keyring, "m1@example.org", TRUE, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
  g_clear_error (&error);

  /* Eight first requests at once, all allowed to make it: one master for all. */
  for (guint i = 0; i < 8; i++)
    {
      GAsyncResult **slot = g_new0 (GAsyncResult *, 1);

      msgtrkd_keyring_derive_async (keyring, "m1@example.org", TRUE, NULL, got_result, slot);
      g_ptr_array_add (results, slot);
    }
  a1 = NULL;
  for (guint i = 0; i < results->len; i++)
    {
      GAsyncResult **slot = g_ptr_array_index (results, i);
      char *a = msgtrkd_keyring_derive_finish (keyring, wait_result (slot), &error);

      g_assert_no_error (error);
      if (a1 == NULL)
        a1 = a;
      else
        {
          g_assert_cmpstr (a, ==, a1);
          msgtrk_secure_free_string (a);
        }
      g_object_unref (*slot);
      g_free (slot);
    }
  g_assert_cmpuint (strlen (a1), ==, 44);

  /* Cached: the same A again, sync and async; another ENVID another A. */
  a2 = msgtrkd_keyring_derive_sync (keyring, "m1@example.org", FALSE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a2, ==, a1);
  msgtrk_secure_free_string (a2);
  b1 = derive_async (keyring, "m2@example.org", FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b1, !=, a1);

  /* A restarted daemon reads the same master back. */
  restarted = fresh (fresh_data);
  a2 = secret_async (restarted, "m1@example.org", TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a2, ==, a1);
  msgtrk_secure_free_string (a2);
  msgtrkd_keyring_forget_master (restarted);
  a2 = msgtrkd_keyring_derive_sync (restarted, "m2@example.org", TRUE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a2, ==, b1);
  msgtrk_secure_free_string (a2);

  /* A message of the old scheme keeps its own item, looked up as before. */
  g_assert_true (msgtrkd_keyring_store_sync (keyring, "old@example.org", test_secret, NULL,
                                             NULL, &error));
  g_assert_no_error (error);
  old = secret_async (restarted, "old@example.org", FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (old, ==, test_secret);
  msgtrk_secure_free_string (old);
  g_assert_true (msgtrkd_keyring_delete_sync (keyring, "old@example.org", NULL, &error));

  msgtrk_secure_free_string (a1);
  msgtrk_secure_free_string (b1);
}

/* The round trip every backend must pass, with the sync or the async forms. */
static void
round_trip (MsgtrkdKeyring *keyring,
            const char     *envid,
            gboolean        use_async)
{
  GError *error = NULL;
  char *secret;
  gboolean ok;

  ok = use_async ? store_async (keyring, envid, test_secret, "Tracking secret for “test”", &error)
                 : msgtrkd_keyring_store_sync (keyring, envid, test_secret,
                                               "Tracking secret for “test”", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ok);

  secret = use_async ? lookup_async (keyring, envid, &error)
                     : msgtrkd_keyring_lookup_sync (keyring, envid, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, test_secret);
  msgtrk_secure_free_string (secret);

  /* Storing again replaces. */
  ok = use_async ? store_async (keyring, envid, other_secret, NULL, &error)
                 : msgtrkd_keyring_store_sync (keyring, envid, other_secret, NULL, NULL, &error);
  g_assert_no_error (error);
  secret = use_async ? lookup_async (keyring, envid, &error)
                     : msgtrkd_keyring_lookup_sync (keyring, envid, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, other_secret);
  msgtrk_secure_free_string (secret);

  ok = use_async ? delete_async (keyring, envid, &error)
                 : msgtrkd_keyring_delete_sync (keyring, envid, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ok);

  secret = use_async ? lookup_async (keyring, envid, &error)
                     : msgtrkd_keyring_lookup_sync (keyring, envid, NULL, &error);
  g_assert_null (secret);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
  g_assert_null (strstr (error->message, test_secret));
  g_clear_error (&error);

  /* Deleting what is not there succeeds. */
  ok = use_async ? delete_async (keyring, envid, &error)
                 : msgtrkd_keyring_delete_sync (keyring, envid, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
}

static void
many_secrets (MsgtrkdKeyring *keyring,
              guint           count)
{
  GError *error = NULL;
  guint i;

  for (i = 0; i < count; i++)
    {
      g_autofree char *envid = g_strdup_printf ("many-%u@example.org", i);
      g_autofree char *secret = g_strdup_printf ("%s%u", test_secret, i);

      g_assert_true (msgtrkd_keyring_store_sync (keyring, envid, secret, NULL, NULL, &error));
      g_assert_no_error (error);
    }
  for (i = 0; i < count; i++)
    {
      g_autofree char *envid = g_strdup_printf ("many-%u@example.org", i);
      g_autofree char *want = g_strdup_printf ("%s%u", test_secret, i);
      char *got = msgtrkd_keyring_lookup_sync (keyring, envid, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (got, ==, want);
      msgtrk_secure_free_string (got);
    }
  for (i = 0; i < count; i += 2)
    {
      g_autofree char *envid = g_strdup_printf ("many-%u@example.org", i);

      g_assert_true (msgtrkd_keyring_delete_sync (keyring, envid, NULL, &error));
    }
  for (i = 0; i < count; i++)
    {
      g_autofree char *envid = g_strdup_printf ("many-%u@example.org", i);
      char *got = msgtrkd_keyring_lookup_sync (keyring, envid, NULL, &error);

      if (i % 2 == 0)
        {
          g_assert_null (got);
          g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
          g_clear_error (&error);
        }
      else
        {
          g_assert_no_error (error);
          g_assert_nonnull (got);
        }
      msgtrk_secure_free_string (got);
    }
}

static void
bad_arguments (MsgtrkdKeyring *keyring)
{
  const char *const bad_secrets[] = { "", "line\nbreak", "cr\rhere" };
  GError *error = NULL;
  gsize i;

  g_assert_false (msgtrkd_keyring_store_sync (keyring, "", test_secret, NULL, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (msgtrkd_keyring_lookup_sync (keyring, "bad\xff", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  for (i = 0; i < G_N_ELEMENTS (bad_secrets); i++)
    {
      g_assert_false (msgtrkd_keyring_store_sync (keyring, "env", bad_secrets[i], NULL, NULL,
                                                  &error));
      g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
      if (*bad_secrets[i] != '\0')
        g_assert_null (strstr (error->message, bad_secrets[i]));
      g_clear_error (&error);
    }
  g_assert_false (store_async (keyring, "", test_secret, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
}

/* ---- FILE backend -------------------------------------------------------------------- */

typedef struct
{
  char *home;
  char *dir;
  char *file;
  MsgtrkdKeyring *keyring;
} FileFixture;

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  g_chmod (path, 0700);
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_remove (child);
    }
  g_remove (path);
}

static void
file_setup (FileFixture  *f,
            gconstpointer data)
{
  GError *error = NULL;

  f->home = g_dir_make_tmp ("msgtrk-keyring-XXXXXX", &error);
  g_assert_no_error (error);
  f->dir = g_build_filename (f->home, "data", "msgtrk", NULL);
  f->file = g_build_filename (f->dir, "secrets", NULL);
  f->keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_FILE, f->dir);
  g_assert_cmpint (msgtrkd_keyring_get_backend (f->keyring), ==, MSGTRKD_KEYRING_FILE);
}

static void
file_teardown (FileFixture  *f,
               gconstpointer data)
{
  g_clear_object (&f->keyring);
  remove_tree (f->home);
  g_free (f->home);
  g_free (f->dir);
  g_free (f->file);
}

static MsgtrkdKeyring *
file_fresh (gpointer dir)
{
  return msgtrkd_keyring_new (MSGTRKD_KEYRING_FILE, dir);
}

static void
test_file_master (FileFixture  *f,
                  gconstpointer data)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autoptr (MsgtrkdKeyring) again = NULL;
  g_autoptr (MsgtrkSecret) master = NULL;
  g_autoptr (MsgtrkSecret) expected = NULL;
  guint8 octets[MSGTRK_SECRET_MASTER_SIZE];
  g_autofree char *text = NULL;
  g_autofree char *expected_a = NULL;
  GError *error = NULL;
  struct stat st;
  off_t size;
  char *a;

  g_test_summary ("FILE backend: one master secret made once, A derived from it (checked "
                  "against msgtrk_secret_derive over the file's master), 500 derivations "
                  "leave the file unchanged, a deleted master is a clear SECRET_MISSING");
  master_checks (f->keyring, file_fresh, f->dir);

  g_assert_true (g_key_file_load_from_file (keyfile, f->file, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  text = g_key_file_get_string (keyfile, "msgtrk master secret v1", "secret", &error);
  g_assert_no_error (error);
  master = msgtrk_secret_new_from_base64 (text, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (msgtrk_secret_copy_octets (master, octets, sizeof octets), ==, 32);
  expected = msgtrk_secret_derive (octets, sizeof octets, "m1@example.org", &error);
  g_assert_no_error (error);
  expected_a = msgtrk_secret_to_base64 (expected);
  a = msgtrkd_keyring_derive_sync (f->keyring, "m1@example.org", FALSE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a, ==, expected_a);
  msgtrk_secure_free_string (a);
  msgtrk_secure_wipe (octets, sizeof octets);
  {
    g_auto (GStrv) groups = g_key_file_get_groups (keyfile, NULL);

    g_assert_cmpuint (g_strv_length (groups), ==, 1);
  }

  g_assert_cmpint (g_stat (f->file, &st), ==, 0);
  size = st.st_size;
  for (guint i = 0; i < 500; i++)
    {
      g_autofree char *envid = g_strdup_printf ("n%u@example.org", i);

      a = msgtrkd_keyring_derive_sync (f->keyring, envid, TRUE, NULL, &error);
      g_assert_no_error (error);
      msgtrk_secure_free_string (a);
    }
  g_assert_cmpint (g_stat (f->file, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, size);

  /* The master deleted behind msgtrkd's back: a restarted daemon says so, makes none. */
  g_key_file_remove_group (keyfile, "msgtrk master secret v1", NULL);
  g_assert_true (g_key_file_save_to_file (keyfile, f->file, &error));
  g_assert_cmpint (g_chmod (f->file, 0600), ==, 0);
  again = msgtrkd_keyring_new (MSGTRKD_KEYRING_FILE, f->dir);
  g_assert_null (msgtrkd_keyring_derive_sync (again, "m1@example.org", FALSE, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
  g_clear_error (&error);
  g_assert_null (derive_async (again, "m1@example.org", FALSE, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
  g_clear_error (&error);
}

static void
test_file_round_trip (FileFixture  *f,
                      gconstpointer data)
{
  g_test_summary ("FILE backend: store, look up, replace, delete, missing, in sync and async "
                  "forms");
  round_trip (f->keyring, "file-1@example.org", FALSE);
  round_trip (f->keyring, "file-2@example.org", TRUE);
}

static void
test_file_many (FileFixture  *f,
                gconstpointer data)
{
  g_test_summary ("FILE backend: 200 secrets kept apart; deleting some keeps the others");
  many_secrets (f->keyring, 200);
}

static void
test_file_modes (FileFixture  *f,
                 gconstpointer data)
{
  g_autofree char *contents = NULL;
  GError *error = NULL;
  struct stat st;

  g_test_summary ("FILE backend: directory made 0700, file 0600, no temporary file left");
  g_assert_true (msgtrkd_keyring_store_sync (f->keyring, "modes@example.org", test_secret, NULL,
                                             NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (f->dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_assert_cmpint (g_stat (f->file, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  g_assert_true (g_file_get_contents (f->file, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, "envid=modes@example.org"));
  {
    g_autoptr (GDir) dir = g_dir_open (f->dir, 0, NULL);
    guint n = 0;

    while (g_dir_read_name (dir) != NULL)
      n++;
    g_assert_cmpuint (n, ==, 1);
  }
}

static void
test_file_hostile_envid (FileFixture  *f,
                         gconstpointer data)
{
  const char *const envids[] = { "[group]", "key=value", " spaced ", "#comment", "a/b\\c",
                                 "ünïcödé@例え.jp", "semi;colon,comma", "%41" };
  GError *error = NULL;
  gsize i;

  g_test_summary ("FILE backend: ENVIDs with key-file syntax or non-ASCII stay separate");
  for (i = 0; i < G_N_ELEMENTS (envids); i++)
    {
      g_autofree char *secret = g_strdup_printf ("%s%zu", test_secret, i);

      g_assert_true (msgtrkd_keyring_store_sync (f->keyring, envids[i], secret, NULL, NULL,
                                                 &error));
      g_assert_no_error (error);
    }
  for (i = 0; i < G_N_ELEMENTS (envids); i++)
    {
      g_autofree char *want = g_strdup_printf ("%s%zu", test_secret, i);
      char *got = msgtrkd_keyring_lookup_sync (f->keyring, envids[i], NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (got, ==, want);
      msgtrk_secure_free_string (got);
    }
  /* "A" is not "%41", although %41 escapes to A. */
  g_assert_null (msgtrkd_keyring_lookup_sync (f->keyring, "A", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
  g_clear_error (&error);
  bad_arguments (f->keyring);
}

/* A keyring refuses the current files; the file is left exactly as it was. */
static void
assert_refused (FileFixture *f,
                const char  *needle)
{
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  GError *error = NULL;

  g_file_get_contents (f->file, &before, NULL, NULL);
  g_assert_null (msgtrkd_keyring_lookup_sync (f->keyring, "perm@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_null (strstr (error->message, test_secret));
  g_clear_error (&error);
  g_assert_false (msgtrkd_keyring_store_sync (f->keyring, "perm2@example.org", other_secret,
                                              NULL, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (store_async (f->keyring, "perm2@example.org", other_secret, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (msgtrkd_keyring_delete_sync (f->keyring, "perm@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_file_get_contents (f->file, &after, NULL, NULL);
  g_assert_cmpstr (before, ==, after);
}

static void
store_perm_secret (FileFixture *f)
{
  GError *error = NULL;

  g_assert_true (msgtrkd_keyring_store_sync (f->keyring, "perm@example.org", test_secret, NULL,
                                             NULL, &error));
  g_assert_no_error (error);
}

static void
test_file_refuse_file_mode (FileFixture  *f,
                            gconstpointer data)
{
  const guint modes[] = { 0640, 0604, 0644, 0660, 0606 };
  gsize i;

  g_test_summary ("FILE backend: a secrets file others can read or write is refused");
  store_perm_secret (f);
  for (i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_assert_cmpint (g_chmod (f->file, modes[i]), ==, 0);
      assert_refused (f, "chmod 600");
    }
  g_assert_cmpint (g_chmod (f->file, 0600), ==, 0);
  round_trip (f->keyring, "after@example.org", FALSE);
}

static void
test_file_refuse_dir_mode (FileFixture  *f,
                           gconstpointer data)
{
  const guint modes[] = { 0750, 0705, 0755, 0777, 0710 };
  gsize i;

  g_test_summary ("FILE backend: a secrets directory others can enter is refused");
  store_perm_secret (f);
  for (i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_assert_cmpint (g_chmod (f->dir, modes[i]), ==, 0);
      assert_refused (f, "chmod 700");
    }
  g_assert_cmpint (g_chmod (f->dir, 0700), ==, 0);
  round_trip (f->keyring, "after@example.org", TRUE);
}

static void
test_file_refuse_owner (FileFixture  *f,
                        gconstpointer data)
{
  g_test_summary ("FILE backend: a secrets file or directory owned by someone else is refused");
  if (getuid () != 0)
    {
      g_test_skip ("changing a file's owner needs root");
      return;
    }
  store_perm_secret (f);
  g_assert_cmpint (chown (f->file, 65534, 65534), ==, 0);
  assert_refused (f, "belongs to user 65534");
  g_assert_cmpint (chown (f->file, 0, 0), ==, 0);
  g_assert_cmpint (chown (f->dir, 65534, 65534), ==, 0);
  assert_refused (f, "belongs to user 65534");
  g_assert_cmpint (chown (f->dir, 0, 0), ==, 0);
  round_trip (f->keyring, "after@example.org", FALSE);
}

static void
test_file_refuse_symlink (FileFixture  *f,
                          gconstpointer data)
{
  g_autofree char *target = g_build_filename (f->home, "elsewhere", NULL);
  GError *error = NULL;

  g_test_summary ("FILE backend: a secrets file that is a symbolic link is not followed");
  store_perm_secret (f);
  g_assert_cmpint (g_rename (f->file, target), ==, 0);
  g_assert_cmpint (symlink (target, f->file), ==, 0);
  g_assert_null (msgtrkd_keyring_lookup_sync (f->keyring, "perm@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
}

static void
test_file_limits (FileFixture  *f,
                  gconstpointer data)
{
  g_autofree char *envid_at = g_strnfill (MSGTRKD_KEYRING_MAX_ENVID_LENGTH, 'e');
  g_autofree char *envid_past = g_strnfill (MSGTRKD_KEYRING_MAX_ENVID_LENGTH + 1, 'e');
  g_autofree char *secret_at = g_strnfill (MSGTRKD_KEYRING_MAX_SECRET_LENGTH, 'A');
  g_autofree char *secret_past = g_strnfill (MSGTRKD_KEYRING_MAX_SECRET_LENGTH + 1, 'A');
  GString *file = g_string_new ("[x]\nsecret=");
  GError *error = NULL;
  char *got;

  g_test_summary ("FILE backend: ENVID, secret and file size at their limits work, one past "
                  "is refused");
  g_assert_true (msgtrkd_keyring_store_sync (f->keyring, envid_at, secret_at, NULL, NULL,
                                             &error));
  g_assert_no_error (error);
  got = msgtrkd_keyring_lookup_sync (f->keyring, envid_at, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, secret_at);
  msgtrk_secure_free_string (got);
  g_assert_false (msgtrkd_keyring_store_sync (f->keyring, envid_past, test_secret, NULL, NULL,
                                              &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (strlen (error->message), <, 200);
  g_clear_error (&error);
  g_assert_null (msgtrkd_keyring_lookup_sync (f->keyring, envid_past, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (msgtrkd_keyring_store_sync (f->keyring, "past@example.org", secret_past, NULL,
                                              NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* A file of exactly the limit is read; one byte more is refused. */
  while (file->len < MSGTRKD_KEYRING_FILE_MAX_SIZE - 1)
    g_string_append_c (file, 'B');
  g_string_append_c (file, '\n');
  g_assert_cmpuint (file->len, ==, MSGTRKD_KEYRING_FILE_MAX_SIZE);
  g_assert_true (g_file_set_contents_full (f->file, file->str, (gssize) file->len,
                                           G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  g_assert_null (msgtrkd_keyring_lookup_sync (f->keyring, "nothing@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
  g_clear_error (&error);
  g_string_append_c (file, '\n');
  g_assert_true (g_file_set_contents_full (f->file, file->str, (gssize) file->len,
                                           G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  g_assert_null (msgtrkd_keyring_lookup_sync (f->keyring, "nothing@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "too large"));
  g_clear_error (&error);
  g_string_free (file, TRUE);
}

static void
test_file_damaged (FileFixture  *f,
                   gconstpointer data)
{
  GError *error = NULL;

  g_test_summary ("FILE backend: a damaged secrets file is an error, not an empty keyring");
  store_perm_secret (f);
  g_assert_true (g_file_set_contents_full (f->file, "not [a key file\n\xff\n", -1,
                                           G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  g_assert_null (msgtrkd_keyring_lookup_sync (f->keyring, "perm@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "damaged"));
  g_clear_error (&error);
}

/* ---- Secret Service ------------------------------------------------------------------ */

static void
test_no_bus (void)
{
  g_autoptr (MsgtrkdKeyring) keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE,
                                                            NULL);
  GError *error = NULL;
  char *secret;

  g_test_summary ("With no D-Bus session bus at all every call fails with KEYRING_UNAVAILABLE");
  g_assert_false (msgtrkd_keyring_store_sync (keyring, "nobus@example.org", test_secret, NULL,
                                              NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_assert_true (g_str_has_prefix (error->message, "No keyring (Secret Service) is available: "));
  g_clear_error (&error);
  secret = lookup_async (keyring, "nobus@example.org", &error);
  g_assert_null (secret);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (delete_async (keyring, "nobus@example.org", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
}

static void
test_dead (void)
{
  g_autoptr (MsgtrkdKeyring) keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE,
                                                            NULL);
  GError *error = NULL;

  g_test_summary ("A session bus without a Secret Service: KEYRING_UNAVAILABLE, no hang");
  g_assert_false (msgtrkd_keyring_store_sync (keyring, "dead@example.org", test_secret, NULL,
                                              NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_assert_true (g_str_has_prefix (error->message, "No keyring (Secret Service) is available: "));
  g_assert_null (strstr (error->message, test_secret));
  g_test_message ("dead: %s", error->message);
  g_clear_error (&error);
  g_assert_false (store_async (keyring, "dead@example.org", test_secret, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_null (msgtrkd_keyring_lookup_sync (keyring, "dead@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_null (lookup_async (keyring, "dead@example.org", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (msgtrkd_keyring_delete_sync (keyring, "dead@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (delete_async (keyring, "dead@example.org", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
}

/* A message a person can act on: what is wrong and what to do, no D-Bus object path. */
static void
assert_actionable (const GError *error)
{
  g_assert_nonnull (strstr (error->message, "Your keyring is locked or has no default "
                                            "collection; unlock it"));
  g_assert_null (strstr (error->message, "/org/freedesktop/secrets"));
  g_assert_null (strstr (error->message, "Object does not exist"));
}

static void
test_locked (void)
{
  g_autoptr (MsgtrkdKeyring) keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE,
                                                            NULL);
  GError *error = NULL;
  char *secret;

  g_test_summary ("A locked default collection that cannot be unlocked (no prompt possible): "
                  "KEYRING_UNAVAILABLE, not SECRET_MISSING, for an item that is in it");
  secret = msgtrkd_keyring_lookup_sync (keyring, "locked@example.org", NULL, &error);
  g_assert_null (secret);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_test_message ("lookup: %s", error->message);
  g_clear_error (&error);
  g_assert_null (lookup_async (keyring, "locked@example.org", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (msgtrkd_keyring_delete_sync (keyring, "locked@example.org", NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_test_message ("delete: %s", error->message);
  g_clear_error (&error);
  g_assert_false (delete_async (keyring, "locked@example.org", &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (msgtrkd_keyring_store_sync (keyring, "locked@example.org", other_secret, NULL,
                                              NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_test_message ("store: %s", error->message);
  assert_actionable (error);
  g_clear_error (&error);
  /* The first Prepare cannot make the master in a locked keyring either. */
  g_assert_null (derive_async (keyring, "locked@example.org", TRUE, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_test_message ("derive: %s", error->message);
  assert_actionable (error);
  g_clear_error (&error);
}

static void
test_nologin (void)
{
  g_autoptr (MsgtrkdKeyring) keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE,
                                                            NULL);
  GError *error = NULL;
  char *secret;

  g_test_summary ("gnome-keyring started without unlocking (no login collection): storing, "
                  "deriving and looking up say what to do (unlock the keyring), not "
                  "“Object does not exist at path …/collection/login”");
  g_assert_false (msgtrkd_keyring_store_sync (keyring, "nologin@example.org", test_secret, NULL,
                                              NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_test_message ("store: %s", error->message);
  assert_actionable (error);
  g_clear_error (&error);
  g_assert_false (store_async (keyring, "nologin@example.org", test_secret, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  assert_actionable (error);
  g_clear_error (&error);
  g_assert_null (derive_async (keyring, "nologin@example.org", TRUE, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_test_message ("derive: %s", error->message);
  assert_actionable (error);
  g_clear_error (&error);
  secret = lookup_async (keyring, "nologin@example.org", &error);
  g_assert_null (secret);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
  g_test_message ("lookup: %s", error->message);
  assert_actionable (error);
  g_clear_error (&error);
}

static void
test_live_round_trip (void)
{
  g_autoptr (MsgtrkdKeyring) keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE,
                                                            NULL);

  g_test_summary ("Secret Service: store, look up, replace, delete, missing (sync and async)");
  g_assert_cmpint (msgtrkd_keyring_get_backend (keyring), ==, MSGTRKD_KEYRING_SECRET_SERVICE);
  round_trip (keyring, "live-1@example.org", FALSE);
  round_trip (keyring, "live-2@example.org", TRUE);
  bad_arguments (keyring);
}

static void
test_live_many (void)
{
  g_autoptr (MsgtrkdKeyring) keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE,
                                                            NULL);

  g_test_summary ("Secret Service: 50 secrets kept apart; deleting some keeps the others");
  many_secrets (keyring, 50);
}

static MsgtrkdKeyring *
ss_fresh (gpointer unused)
{
  return msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE, NULL);
}

static char *secret_tool (const char *const *argv);

static void
test_live_master (void)
{
  g_autoptr (MsgtrkdKeyring) keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE,
                                                            NULL);
  const char *const masters[] = { "secret-tool", "search", "--all", "xdg:schema",
                                  "org.msgtrk.MasterSecret", NULL };
  const char *const items[] = { "secret-tool", "search", "--all", "xdg:schema",
                                "org.msgtrk.TrackingSecret", NULL };
  const char *const clear[] = { "secret-tool", "clear", "version", "1", NULL };
  g_autofree char *tool = g_find_program_in_path ("secret-tool");
  g_autoptr (MsgtrkdKeyring) again = NULL;
  g_autofree char *found = NULL;
  g_autofree char *per_message = NULL;
  GError *error = NULL;

  g_test_summary ("Secret Service: one master item made once (gnome-keyring), A derived from "
                  "it with no item per message, old-scheme items still looked up, a deleted "
                  "master is a clear SECRET_MISSING");
  master_checks (keyring, ss_fresh, NULL);
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *envid = g_strdup_printf ("n%u@example.org", i);
      char *a = msgtrkd_keyring_derive_sync (keyring, envid, TRUE, NULL, &error);

      g_assert_no_error (error);
      msgtrk_secure_free_string (a);
    }
  if (tool == NULL)
    {
      g_test_skip ("secret-tool (libsecret-tools) is not installed");
      return;
    }
  found = secret_tool (masters);
  g_assert_cmpuint (mt_count_occurrences (found, "attribute.version = 1"), ==, 1);
  per_message = secret_tool (items);
  g_assert_cmpuint (mt_count_occurrences (per_message, "attribute.envid = n1"), ==, 0);
  g_assert_cmpuint (mt_count_occurrences (per_message, "attribute.envid = m1@"), ==, 0);

  g_free (secret_tool (clear));
  again = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE, NULL);
  g_assert_null (msgtrkd_keyring_derive_sync (again, "m1@example.org", FALSE, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING);
  g_test_message ("after secret-tool clear: %s", error->message);
  g_clear_error (&error);
}

/* Run secret-tool (no secret in its argv) and return its stdout. */
static char *
secret_tool (const char *const *argv)
{
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  GError *error = NULL;

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error));
  g_assert_no_error (error);
  /* secret-tool prints the label and secret on stdout, the attributes on stderr. */
  return g_strconcat (out != NULL ? out : "", err != NULL ? err : "", NULL);
}

static void
test_live_secret_tool (void)
{
  g_autoptr (MsgtrkdKeyring) keyring = msgtrkd_keyring_new (MSGTRKD_KEYRING_SECRET_SERVICE,
                                                            NULL);
  const char *const search[] = { "secret-tool", "search", "--all", "envid",
                                 "seen@example.org", NULL };
  const char *const lookup[] = { "secret-tool", "lookup", "envid", "seen@example.org", NULL };
  const char *const by_schema[] = { "secret-tool", "search", "--all", "xdg:schema",
                                    "org.msgtrk.TrackingSecret", NULL };
  g_autofree char *found = NULL;
  g_autofree char *schema_found = NULL;
  g_autofree char *looked = NULL;
  g_autofree char *after = NULL;
  g_autofree char *tool = g_find_program_in_path ("secret-tool");
  GError *error = NULL;

  g_test_summary ("Secret Service: secret-tool sees the item with our label, schema, envid "
                  "attribute and the stored password");
  if (tool == NULL)
    {
      g_test_skip ("secret-tool (libsecret-tools) is not installed");
      return;
    }
  g_assert_true (msgtrkd_keyring_store_sync (keyring, "seen@example.org", test_secret,
                                             "Tracking secret for “Quarterly numbers”", NULL,
                                             &error));
  g_assert_no_error (error);
  found = secret_tool (search);
  g_test_message ("secret-tool search found the item (%zu bytes of output)", strlen (found));
  g_assert_nonnull (strstr (found, "label = Tracking secret for “Quarterly numbers”"));
  g_assert_nonnull (strstr (found, "attribute.envid = seen@example.org"));
  g_assert_nonnull (strstr (found, "secret = "));
  g_assert_nonnull (strstr (found, test_secret));
  /* secret-tool hides xdg:schema in its listing, but searches by it. */
  schema_found = secret_tool (by_schema);
  g_assert_nonnull (strstr (schema_found, "attribute.envid = seen@example.org"));
  looked = secret_tool (lookup);
  g_assert_cmpstr (g_strchomp (looked), ==, test_secret);

  g_assert_true (msgtrkd_keyring_delete_sync (keyring, "seen@example.org", NULL, &error));
  after = secret_tool (search);
  g_assert_null (strstr (after, "seen@example.org"));
}

/* SIGALRM's default action ends the process: a hung keyring call fails the test. */
static void
arm_watchdog (void)
{
  alarm (KEYRING_TEST_WATCHDOG_SECONDS);
}

int
main (int   argc,
      char *argv[])
{
  const char *mode = g_getenv ("MSGTRK_KEYRING_TEST");

  if (mode == NULL)
    {
      /* No session bus: set before anything in this process touches D-Bus. */
      g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/msgtrk-test-bus", TRUE);
    }
  g_test_init (&argc, &argv, NULL);
  arm_watchdog ();

  if (mode == NULL)
    {
#define ADD(path, fn) g_test_add (path, FileFixture, NULL, file_setup, fn, file_teardown)
      ADD ("/keyring/file/round-trip", test_file_round_trip);
      ADD ("/keyring/file/many", test_file_many);
      ADD ("/keyring/file/modes", test_file_modes);
      ADD ("/keyring/file/hostile-envid", test_file_hostile_envid);
      ADD ("/keyring/file/refuse-file-mode", test_file_refuse_file_mode);
      ADD ("/keyring/file/refuse-dir-mode", test_file_refuse_dir_mode);
      ADD ("/keyring/file/refuse-owner", test_file_refuse_owner);
      ADD ("/keyring/file/refuse-symlink", test_file_refuse_symlink);
      ADD ("/keyring/file/damaged", test_file_damaged);
      ADD ("/keyring/file/limits", test_file_limits);
      ADD ("/keyring/file/master", test_file_master);
#undef ADD
      g_test_add_func ("/keyring/secret-service/no-bus", test_no_bus);
    }
  else if (g_str_equal (mode, "live"))
    {
      g_test_add_func ("/keyring/secret-service/round-trip", test_live_round_trip);
      g_test_add_func ("/keyring/secret-service/many", test_live_many);
      g_test_add_func ("/keyring/secret-service/secret-tool", test_live_secret_tool);
      g_test_add_func ("/keyring/secret-service/master", test_live_master);
    }
  else if (g_str_equal (mode, "dead"))
    g_test_add_func ("/keyring/secret-service/dead", test_dead);
  else if (g_str_equal (mode, "locked"))
    g_test_add_func ("/keyring/secret-service/locked", test_locked);
  else if (g_str_equal (mode, "nologin"))
    g_test_add_func ("/keyring/secret-service/nologin", test_nologin);
  else
    {
      g_printerr ("MSGTRK_KEYRING_TEST must be unset, “live”, “dead”, “locked” or “nologin”\n");
      return 2;
    }
  return g_test_run ();
}
