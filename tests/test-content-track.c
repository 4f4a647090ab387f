/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-content-track.c: the Content-Track key of Harrison's trace reciprocation
 * (lib/msgtrk-content-track.c, docs/harrison.md).
 *
 * What: the derivation against an independent implementation (Python's hmac and base64
 * modules, run while the test runs: no vector is written down), its separation from A
 * (another label gives another value), the syntax checks at and past
 * MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH, and the comparison.
 * Never: put a real secret anywhere; the masters here are test values sent on stdin.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-content-track-private.h"
#include "test-util.h"

static const char python_key[] =
  "import sys, hmac, hashlib, base64\n"
  "master = bytes.fromhex(sys.stdin.read().strip())\n"
  "mac = hmac.new(master, b'msgtrk Content-Track v1\\0' + sys.argv[1].encode(), "
  "hashlib.sha256).digest()[:16]\n"
  "sys.stdout.write('ct1.' + base64.b32encode(mac).decode().lower().rstrip('='))\n";

static char *
python_derive (const guint8 *master,
               const char   *envid)
{
  const char *argv[] = { "python3", "-c", python_key, envid, NULL };
  g_autofree char *hex = NULL;
  g_autoptr (GBytes) in = NULL;
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  const char *data;

  hex = g_malloc0 (2 * MSGTRK_SECRET_MASTER_SIZE + 1);
  for (guint i = 0; i < MSGTRK_SECRET_MASTER_SIZE; i++)
    g_snprintf (hex + 2 * i, 3, "%02x", master[i]);
  in = g_bytes_new (hex, strlen (hex));
  out = mt_run_tool (argv, in, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (out, &len);
  return g_strndup (data, len);
}

static void
test_derive_vectors (void)
{
  guint8 master[MSGTRK_SECRET_MASTER_SIZE];
  const char *envids[] = { "mtrk.abcdefghijklmnopqrstuvwxyz@example.org",
                           "x", "mtrk.2222222222222222222222222@b.example" };

  for (guint round = 0; round < 3; round++)
    {
      for (guint i = 0; i < sizeof master; i++)
        master[i] = (guint8) (round * 77 + i * 13 + 1);
      for (guint j = 0; j < G_N_ELEMENTS (envids); j++)
        {
          g_autoptr (GError) error = NULL;
          g_autofree char *ours = msgtrk_content_track_derive_key (master, sizeof master,
                                                                   envids[j], &error);
          g_autofree char *theirs = python_derive (master, envids[j]);

          g_assert_no_error (error);
          g_assert_cmpstr (ours, ==, theirs);
          g_assert_cmpuint (strlen (ours), ==, MSGTRK_CONTENT_TRACK_KEY_LENGTH);
          g_assert_true (msgtrk_content_track_key_is_ours (ours));
          g_assert_true (msgtrk_content_track_key_is_valid (ours, -1));
        }
    }
}

/* The key is neither the ENVID nor A, nor anything of A's: another label, another value. */
static void
test_derive_separate (void)
{
  guint8 master[MSGTRK_SECRET_MASTER_SIZE];
  const char *envid = "mtrk.abcdefghijklmnopqrstuvwxyz@example.org";
  g_autoptr (GError) error = NULL;
  g_autofree char *key = NULL;
  g_autofree char *key2 = NULL;
  g_autofree char *a64 = NULL;
  g_autoptr (MsgtrkSecret) a = NULL;

  memset (master, 0x5a, sizeof master);
  key = msgtrk_content_track_derive_key (master, sizeof master, envid, &error);
  g_assert_no_error (error);
  a = msgtrk_secret_derive (master, sizeof master, envid, &error);
  g_assert_no_error (error);
  a64 = msgtrk_secret_to_base64 (a);
  g_assert_null (strstr (key, "abcdefghijklmnopqrstuvwxyz"));
  g_assert_null (strstr (a64, key + 4));
  /* another master, another key; another ENVID, another key */
  master[0] ^= 1;
  key2 = msgtrk_content_track_derive_key (master, sizeof master, envid, &error);
  g_assert_no_error (error);
  g_assert_false (msgtrk_content_track_key_equal (key, key2));
  g_clear_pointer (&key2, g_free);
  master[0] ^= 1;
  key2 = msgtrk_content_track_derive_key (master, sizeof master, "mtrk.other@example.org",
                                          &error);
  g_assert_no_error (error);
  g_assert_false (msgtrk_content_track_key_equal (key, key2));
  g_clear_pointer (&key2, g_free);
  key2 = msgtrk_content_track_derive_key (master, sizeof master, envid, &error);
  g_assert_true (msgtrk_content_track_key_equal (key, key2));
}

static void
test_derive_refused (void)
{
  guint8 master[MSGTRK_SECRET_MASTER_SIZE] = { 1 };
  g_autofree char *at_limit = g_strnfill (MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH, 'e');
  g_autofree char *past = g_strnfill (MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH + 1, 'e');
  g_autoptr (GError) error = NULL;
  g_autofree char *key = NULL;

  g_assert_null (msgtrk_content_track_derive_key (master, sizeof master - 1, "x", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_null (msgtrk_content_track_derive_key (master, sizeof master, "", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_null (msgtrk_content_track_derive_key (master, sizeof master, "a b", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_null (msgtrk_content_track_derive_key (master, sizeof master, past, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  key = msgtrk_content_track_derive_key (master, sizeof master, at_limit, &error);
  g_assert_no_error (error);
  g_assert_nonnull (key);
}

static void
test_syntax (void)
{
  g_autofree char *at_limit = g_strnfill (MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH, 'k');
  g_autofree char *past = g_strnfill (MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH + 1, 'k');

  g_assert_true (msgtrk_content_track_key_is_valid (at_limit, -1));
  g_assert_false (msgtrk_content_track_key_is_valid (past, -1));
  g_assert_true (msgtrk_content_track_key_is_valid ("abc+/=._-XYZ09", -1));
  g_assert_false (msgtrk_content_track_key_is_valid ("", -1));
  g_assert_false (msgtrk_content_track_key_is_valid (NULL, -1));
  g_assert_false (msgtrk_content_track_key_is_valid ("a b", -1));
  g_assert_false (msgtrk_content_track_key_is_valid ("a\r\nBcc: x", -1));
  g_assert_false (msgtrk_content_track_key_is_valid ("a;b", -1));
  g_assert_true (msgtrk_content_track_key_is_valid ("ab\ncd", 2));

  g_assert_true (msgtrk_content_track_key_is_ours ("ct1.abcdefghijklmnopqrstuvwxyz"));
  g_assert_false (msgtrk_content_track_key_is_ours ("ct1.abcdefghijklmnopqrstuvwxy"));
  g_assert_false (msgtrk_content_track_key_is_ours ("ct1.abcdefghijklmnopqrstuvwxyz2"));
  g_assert_false (msgtrk_content_track_key_is_ours ("ct1.ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  g_assert_false (msgtrk_content_track_key_is_ours ("ct2.abcdefghijklmnopqrstuvwxyz"));
  g_assert_false (msgtrk_content_track_key_is_ours ("ct1.abcdefghijklmnopqrstuvwx1z"));
  g_assert_false (msgtrk_content_track_key_equal ("ct1.a", "ct1.ab"));
  g_assert_false (msgtrk_content_track_key_equal (NULL, "x"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/content-track/derive/vectors", test_derive_vectors);
  g_test_add_func ("/content-track/derive/separate", test_derive_separate);
  g_test_add_func ("/content-track/derive/refused", test_derive_refused);
  g_test_add_func ("/content-track/syntax", test_syntax);
  return g_test_run ();
}
