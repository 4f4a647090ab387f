/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-secret.c: tests of the tracking secret A and its authenticator B.
 *
 * Test vectors are not written down: they are computed while the test runs by the
 * `openssl` command (`openssl base64 -A` for the mtrk-secret, `openssl dgst -sha1 -binary`
 * then `openssl base64 -A` for B), an implementation independent of ours, over the RAW
 * octets of A (PROTOCOL-NOTES). The secrets are test values; they go to openssl on stdin,
 * never in argv or a file.
 */
#include "config.h"

#include <string.h>

#include "test-util.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* Run `openssl @args…` with @input on stdin; its output (binary-safe). */
static GBytes *
openssl_run (const char * const *argv,
             const guint8       *input,
             gsize               len)
{
  g_autoptr (GBytes) in = g_bytes_new (input, len);
  g_autoptr (GError) error = NULL;
  GBytes *out;

  out = mt_run_tool (argv, in, &error);
  g_assert_no_error (error);
  return out;
}

/* `openssl base64 -A` of @len octets, as a string. */
static char *
openssl_base64 (const guint8 *octets,
                gsize         len)
{
  const char *argv[] = { "openssl", "base64", "-A", NULL };
  g_autoptr (GBytes) out = openssl_run (argv, octets, len);
  gsize out_len = 0;
  const char *data = g_bytes_get_data (out, &out_len);
  char *text = g_strndup (data, out_len);

  return g_strstrip (text);
}

/* `openssl dgst -sha1 -binary | openssl base64 -A` of @len octets. */
static char *
openssl_sha1_base64 (const guint8 *octets,
                     gsize         len)
{
  const char *dgst[] = { "openssl", "dgst", "-sha1", "-binary", NULL };
  g_autoptr (GBytes) digest = openssl_run (dgst, octets, len);
  gsize digest_len = 0;
  const guint8 *data = g_bytes_get_data (digest, &digest_len);

  g_assert_cmpuint (digest_len, ==, 20);
  return openssl_base64 (data, digest_len);
}

static gboolean
openssl_available (void)
{
  g_autofree char *path = g_find_program_in_path ("openssl");

  if (path == NULL)
    {
      g_test_skip ("the openssl command is not installed");
      return FALSE;
    }
  return TRUE;
}

/* Flip bit @bit of the octets that base64 @text encodes and encode again. */
static char *
flip_bit (const char *text,
          guint       bit)
{
  gsize len = 0;
  g_autofree guchar *octets = g_base64_decode (text, &len);

  g_assert_cmpuint (bit / 8, <, len);
  octets[bit / 8] ^= (guchar) (1u << (bit % 8));
  return g_base64_encode (octets, len);
}

/* ---- derivation from a master secret ----------------------------------------------------- */

/* A = HMAC-SHA-256 (master, "msgtrk A v1" || 0x00 || ENVID). The expected values were
 * computed outside msgtrk, by two independent implementations that agreed:
 *   python3 -c 'import hmac,hashlib; print(hmac.new(KEY, b"msgtrk A v1\0" + ENVID,
 *               hashlib.sha256).hexdigest())'
 *   printf 'msgtrk A v1\0%s' ENVID | openssl dgst -sha256 -mac HMAC -macopt hexkey:KEY
 * and B = base64 (SHA-1 (A)) with python's hashlib.sha1. The keys are test values. */
typedef struct
{
  const char *master_hex;
  const char *envid;
  const char *a_hex;
  const char *a_base64;
  const char *b;
} DeriveCase;

static const DeriveCase derive_cases[] = {
  { "0000000000000000000000000000000000000000000000000000000000000000",
    "mtrk.aaaaaaaaaaaaaaaaaaaaaaaaaa@example.org",
    "bc94a3c9e588c4d17c17bbe375555e039a4a51769fac94315eb67c84035dd1f8",
    "vJSjyeWIxNF8F7vjdVVeA5pKUXafrJQxXrZ8hANd0fg=", "yq+k/Mq6K77l5io5iqp3U8YJe6U=" },
  { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "mtrk.abcdefghijklmnopqrstuvwxyz@example.com",
    "297dfc258876f28c1e35d08c771a03488c87fd52c2a9ea915c6c73944120091c",
    "KX38JYh28oweNdCMdxoDSIyH/VLCqeqRXGxzlEEgCRw=", "LOF/T4yImadji/nij54bcO0xNX0=" },
  { "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "exim+2Bid+3D@x",
    "e0cb0314d56bac87e476b4668df0e5dde5e2e5a69e674501cea148f311e43742",
    "4MsDFNVrrIfkdrRmjfDl3eXi5aaeZ0UBzqFI8xHkN0I=", "pIGUEfUfzoYZogkF7ALZXbkxmq4=" },
  { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "a",
    "8c331457abb71e472c397ec8709f3856481790729070fd0199fd2cb2af0aa508",
    "jDMUV6u3HkcsOX7IcJ84VkgXkHKQcP0Bmf0ssq8KpQg=", "ZPwvDH7djnGt043KptT1Zoasuac=" },
};

static void
hex_to_octets (const char *hex,
               guint8     *out,
               gsize       len)
{
  g_assert_cmpuint (strlen (hex), ==, 2 * len);
  for (gsize i = 0; i < len; i++)
    out[i] = (guint8) (g_ascii_xdigit_value (hex[2 * i]) * 16
                       + g_ascii_xdigit_value (hex[2 * i + 1]));
}

static void
test_derive_vectors (void)
{
  g_test_summary ("A derived from a master secret and the ENVID matches HMAC-SHA-256 vectors "
                  "computed independently (python hmac and openssl dgst -mac HMAC)");
  for (gsize i = 0; i < G_N_ELEMENTS (derive_cases); i++)
    {
      const DeriveCase *dc = &derive_cases[i];
      guint8 master[MSGTRK_SECRET_MASTER_SIZE];
      guint8 expected[MSGTRK_SECRET_SIZE];
      guint8 got[MSGTRK_SECRET_MAX_SIZE];
      g_autoptr (MsgtrkSecret) a = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *b = NULL;
      char *text;

      hex_to_octets (dc->master_hex, master, sizeof master);
      hex_to_octets (dc->a_hex, expected, sizeof expected);
      a = msgtrk_secret_derive (master, sizeof master, dc->envid, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (msgtrk_secret_copy_octets (a, got, sizeof got), ==, MSGTRK_SECRET_SIZE);
      g_assert_cmpmem (got, MSGTRK_SECRET_SIZE, expected, sizeof expected);
      text = msgtrk_secret_to_base64 (a);
      g_assert_cmpstr (text, ==, dc->a_base64);
      msgtrk_secure_free_string (text);
      b = msgtrk_secret_compute_authenticator (a);
      g_assert_cmpstr (b, ==, dc->b);
      g_assert_true (msgtrk_verify_secret (dc->a_base64, dc->b));
      msgtrk_secure_wipe (got, sizeof got);
    }
}

static void
test_derive_properties (void)
{
  guint8 master[MSGTRK_SECRET_MASTER_SIZE] = { 0 };
  guint8 other[MSGTRK_SECRET_MASTER_SIZE] = { 0 };
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (MsgtrkSecret) again = NULL;
  g_autoptr (MsgtrkSecret) first = NULL;
  g_autoptr (MsgtrkSecret) with_other = NULL;
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  g_autofree char *a3 = NULL;

  g_test_summary ("Derivation is deterministic, depends on every octet of master and ENVID, "
                  "and gives distinct secrets for 1000 ENVIDs");
  other[31] = 1;
  first = msgtrk_secret_derive (master, sizeof master, "mtrk.x@example.org", NULL);
  again = msgtrk_secret_derive (master, sizeof master, "mtrk.x@example.org", NULL);
  with_other = msgtrk_secret_derive (other, sizeof other, "mtrk.x@example.org", NULL);
  a1 = msgtrk_secret_to_base64 (first);
  a2 = msgtrk_secret_to_base64 (again);
  a3 = msgtrk_secret_to_base64 (with_other);
  g_assert_cmpstr (a1, ==, a2);
  g_assert_cmpstr (a1, !=, a3);
  for (guint i = 0; i < 1000; i++)
    {
      g_autofree char *envid = g_strdup_printf ("mtrk.%u@example.org", i);
      g_autoptr (MsgtrkSecret) a = msgtrk_secret_derive (master, sizeof master, envid, NULL);
      char *text = msgtrk_secret_to_base64 (a);

      g_assert_true (g_hash_table_add (seen, g_strdup (text)));
      msgtrk_secure_free_string (text);
    }
  msgtrk_secure_wipe (a1, strlen (a1));
  msgtrk_secure_wipe (a2, strlen (a2));
  msgtrk_secure_wipe (a3, strlen (a3));
}

static void
test_derive_limits (void)
{
  guint8 master[MSGTRK_SECRET_MASTER_SIZE + 1] = { 0 };
  g_autofree char *at_limit = g_strnfill (MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH, 'e');
  g_autofree char *past_limit = g_strnfill (MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH + 1, 'e');
  const char *const bad_envids[] = { "", "a b", "a\r\nb", "caf\xc3\xa9", "tab\there" };
  g_autoptr (MsgtrkSecret) ok = NULL;
  GError *error = NULL;

  g_test_summary ("Derivation refuses a master of another size than 32 octets, an ENVID "
                  "longer than the limit (and accepts one at it), and empty or "
                  "non-printable ENVIDs; errors never quote the master");
  ok = msgtrk_secret_derive (master, MSGTRK_SECRET_MASTER_SIZE, at_limit, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ok);
  g_assert_null (msgtrk_secret_derive (master, MSGTRK_SECRET_MASTER_SIZE, past_limit, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_null (msgtrk_secret_derive (master, MSGTRK_SECRET_MASTER_SIZE + 1, "a", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_null (msgtrk_secret_derive (master, MSGTRK_SECRET_MASTER_SIZE - 1, "a", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_envids); i++)
    {
      g_assert_null (msgtrk_secret_derive (master, MSGTRK_SECRET_MASTER_SIZE, bad_envids[i],
                                           &error));
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
      g_clear_error (&error);
    }
}

/* ---- vectors against openssl --------------------------------------------------------------- */

typedef struct
{
  const char *name;
  gsize len;
  guint8 fill;   /* every octet, unless @random */
  gboolean random;
} VectorCase;

static const VectorCase vector_cases[] = {
  { "32 zero octets", 32, 0x00, FALSE },
  { "32 octets 0xFF", 32, 0xff, FALSE },
  { "32 random octets", 32, 0, TRUE },
  { "32 random octets (2)", 32, 0, TRUE },
  { "16 octets (minimum)", MSGTRK_SECRET_MIN_SIZE, 0, TRUE },
  { "17 octets (one = of padding)", 17, 0, TRUE },
  { "18 octets (no padding)", 18, 0, TRUE },
  { "64 octets (maximum)", MSGTRK_SECRET_MAX_SIZE, 0, TRUE },
  { "64 octets 0xFB (+ and / in base64)", MSGTRK_SECRET_MAX_SIZE, 0xfb, FALSE },
};

static void
test_vectors_openssl (void)
{
  g_test_summary ("A round-trips and B = base64 (SHA-1 (raw A)) agree with the openssl "
                  "command for secrets of 16 to 64 octets");
  if (!openssl_available ())
    return;

  for (gsize i = 0; i < G_N_ELEMENTS (vector_cases); i++)
    {
      const VectorCase *vc = &vector_cases[i];
      guint8 octets[MSGTRK_SECRET_MAX_SIZE];
      g_autofree char *b64 = NULL;
      g_autofree char *expected_b = NULL;
      g_autofree char *wrong_b = NULL;
      g_autoptr (MsgtrkSecret) secret = NULL;
      g_autoptr (GError) error = NULL;
      char *text;
      char *b;

      g_test_message ("vector: %s", vc->name);
      for (gsize j = 0; j < vc->len; j++)
        octets[j] = vc->random ? (guint8) g_test_rand_int_range (0, 256) : vc->fill;

      b64 = openssl_base64 (octets, vc->len);
      expected_b = openssl_sha1_base64 (octets, vc->len);
      /* The wrong construction: SHA-1 over the base64 text. */
      wrong_b = openssl_sha1_base64 ((const guint8 *) b64, strlen (b64));
      g_assert_cmpuint (strlen (expected_b), ==, MSGTRK_AUTHENTICATOR_LENGTH);

      secret = msgtrk_secret_new_from_base64 (b64, &error);
      g_assert_no_error (error);
      g_assert_nonnull (secret);

      text = msgtrk_secret_to_base64 (secret);
      g_assert_cmpstr (text, ==, b64);
      msgtrk_secure_free_string (text);

      b = msgtrk_secret_compute_authenticator (secret);
      g_assert_cmpstr (b, ==, expected_b);
      g_assert_true (msgtrk_authenticator_is_valid (b, NULL));
      g_free (b);

      g_assert_true (msgtrk_secret_matches_authenticator (secret, expected_b));
      g_assert_true (msgtrk_verify_secret (b64, expected_b));
      g_assert_cmpstr (wrong_b, !=, expected_b);
      g_assert_false (msgtrk_secret_matches_authenticator (secret, wrong_b));
      g_assert_false (msgtrk_verify_secret (b64, wrong_b));

      msgtrk_secure_wipe (octets, sizeof octets);
    }
}

/* ---- strict base64 ------------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *text;
} Base64Case;

/* 44 characters = 32 octets; 24 = 16; 88 = 64 (with "=="). */
#define B64_32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define B64_16 "AAECAwQFBgcICQoLDA0ODw=="

static const Base64Case accept_cases[] = {
  { "32 octets", B64_32 },
  { "16 octets (minimum)", B64_16 },
  { "17 octets", "AAECAwQFBgcICQoLDA0ODxA=" },
  { "18 octets", "AAECAwQFBgcICQoLDA0ODxAR" },
  { "64 octets (maximum)",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==" },
  { "all alphabet characters",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" },
};

static const Base64Case reject_cases[] = {
  { "empty", "" },
  { "only padding", "====" },
  { "15 octets (one under the minimum)", "AAECAwQFBgcICQoLDA0O" },
  { "65 octets (one over the maximum)",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
  { "66 octets",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
  { "1000 characters", NULL /* built at run time */ },
  { "padding missing", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" },
  { "padding missing (16 octets)", "AAECAwQFBgcICQoLDA0ODw" },
  { "one = where two are needed", "AAECAwQFBgcICQoLDA0ODw=" },
  { "three = of padding", "AAECAwQFBgcICQoLDA0OD===" },
  { "extra padding group", B64_32 "====" },
  { "padding in the middle", "AAECAwQFBgcICQoL=A0ODxAREhMUFRYXGBkaGxwdHh8=" },
  { "padding after padding group", "AAECAwQFBgcICQoLDA0ODw==AAAA" },
  { "nonzero bits before == (not canonical)", "AAECAwQFBgcICQoLDA0ODx==" },
  { "nonzero bits before = (not canonical)", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=" },
  { "leading space", " " B64_32 },
  { "trailing newline", B64_32 "\n" },
  { "CRLF inside", "AAECAwQFBgcICQoLDA0ODxAR\r\nEhMUFRYXGBkaGxwdHh8=" },
  { "space inside", "AAECAwQFBgcICQoL DA0ODxAREhMUFRYXGBkaGxwdHh8=" },
  { "tab inside", "AAECAwQFBgcICQoL\tA0ODxAREhMUFRYXGBkaGxwdHh8=" },
  { "base64url '-'", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=" },
  { "base64url '_'", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd_h8=" },
  { "'*' not in the alphabet", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd*h8=" },
  { "'.' not in the alphabet", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd.h8=" },
  { "non-ASCII (UTF-8 é)", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGx\xc3\xa9Hh8=" },
  { "Latin-1 byte", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw\xe9Hh8=" },
  { "control character", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw\x01Hh8=" },
  { "DEL", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw\x7fHh8=" },
  /* A C string ends at NUL: what is after it is not seen, what is before is too short. */
  { "NUL inside", "AAECAwQFBgcICQoLDA0O\0DxAREhMUFRYXGBkaGxwdHh8=" },
  { "percent-encoded", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8%3D" },
};

static void
test_base64_accept (void)
{
  g_test_summary ("Strict base64 secrets of 16 to 64 octets are accepted and written back "
                  "unchanged");

  for (gsize i = 0; i < G_N_ELEMENTS (accept_cases); i++)
    {
      g_autoptr (MsgtrkSecret) secret = NULL;
      g_autoptr (GError) error = NULL;
      char *text;

      g_test_message ("accept: %s", accept_cases[i].name);
      secret = msgtrk_secret_new_from_base64 (accept_cases[i].text, &error);
      g_assert_no_error (error);
      g_assert_true (MSGTRK_IS_SECRET (secret));
      text = msgtrk_secret_to_base64 (secret);
      g_assert_cmpstr (text, ==, accept_cases[i].text);
      msgtrk_secure_free_string (text);
    }
}

static void
test_base64_reject (void)
{
  g_autofree char *huge = g_strnfill (1000, 'A');

  g_test_summary ("Malformed secrets are refused with MSGTRK_ERROR_INVALID_SECRET and a "
                  "message that does not quote the secret");

  for (gsize i = 0; i < G_N_ELEMENTS (reject_cases); i++)
    {
      const char *text = reject_cases[i].text != NULL ? reject_cases[i].text : huge;
      g_autoptr (MsgtrkSecret) secret = NULL;
      g_autoptr (GError) error = NULL;

      g_test_message ("reject: %s", reject_cases[i].name);
      secret = msgtrk_secret_new_from_base64 (text, &error);
      g_assert_null (secret);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
      g_test_message ("  -> %s", error->message);
      g_assert_cmpuint (strlen (error->message), >, 10);
      /* No run of 8 characters of the secret shows up in the message. */
      for (gsize j = 0; j + 8 <= strlen (text); j++)
        {
          g_autofree char *piece = g_strndup (text + j, 8);
          g_assert_null (strstr (error->message, piece));
        }
      g_assert_null (strstr (error->message, "AAECAwQF"));

      /* The server-side check refuses it too. */
      g_assert_false (msgtrk_verify_secret (text, "2jmj7l5rSw0yVb/vlWAYkK/YBwk="));
    }
}

static void
test_base64_one_at_a_time (void)
{
  g_test_summary ("Every prefix of a valid secret is either refused or a valid shorter "
                  "secret that writes back unchanged (no partial reads)");

  for (gsize len = 0; len <= strlen (B64_32); len++)
    {
      g_autofree char *prefix = g_strndup (B64_32, len);
      g_autoptr (MsgtrkSecret) secret = NULL;
      g_autoptr (GError) error = NULL;

      secret = msgtrk_secret_new_from_base64 (prefix, &error);
      if (secret != NULL)
        {
          char *text = msgtrk_secret_to_base64 (secret);

          g_assert_no_error (error);
          g_assert_cmpstr (text, ==, prefix);
          g_assert_cmpuint (len % 4, ==, 0);
          g_assert_cmpuint (len, >=, 24);
          msgtrk_secure_free_string (text);
        }
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
    }
}

/* ---- generate ------------------------------------------------------------------------------ */

static void
test_generate (void)
{
  g_autoptr (MsgtrkSecret) a = NULL;
  g_autoptr (MsgtrkSecret) b = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree guchar *raw = NULL;
  g_autoptr (MsgtrkSecret) again = NULL;
  char *ta;
  char *tb;
  gsize len = 0;
  g_autofree char *auth = NULL;

  g_test_summary ("generate() makes 32 random octets; two secrets differ; to_base64 "
                  "round-trips; B has 28 characters and matches");

  a = msgtrk_secret_generate (&error);
  g_assert_no_error (error);
  b = msgtrk_secret_generate (&error);
  g_assert_no_error (error);

  ta = msgtrk_secret_to_base64 (a);
  tb = msgtrk_secret_to_base64 (b);
  g_assert_cmpuint (strlen (ta), ==, 44);
  g_assert_cmpstr (ta, !=, tb);

  raw = g_base64_decode (ta, &len);
  g_assert_cmpuint (len, ==, MSGTRK_SECRET_SIZE);
  msgtrk_secure_wipe (raw, len);

  again = msgtrk_secret_new_from_base64 (ta, &error);
  g_assert_no_error (error);

  auth = msgtrk_secret_compute_authenticator (a);
  g_assert_cmpuint (strlen (auth), ==, MSGTRK_AUTHENTICATOR_LENGTH);
  g_assert_true (msgtrk_secret_matches_authenticator (a, auth));
  g_assert_true (msgtrk_secret_matches_authenticator (again, auth));
  g_assert_false (msgtrk_secret_matches_authenticator (b, auth));
  g_assert_true (msgtrk_verify_secret (ta, auth));
  g_assert_false (msgtrk_verify_secret (tb, auth));

  msgtrk_secure_free_string (ta);
  msgtrk_secure_free_string (tb);
}

static void
test_generate_many_distinct (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                       (GDestroyNotify) msgtrk_secure_free_string,
                                                       NULL);

  g_test_summary ("1000 generated secrets are all different");

  for (guint i = 0; i < 1000; i++)
    {
      g_autoptr (MsgtrkSecret) s = msgtrk_secret_generate (NULL);
      char *text = msgtrk_secret_to_base64 (s);

      g_assert_false (g_hash_table_contains (seen, text));
      g_hash_table_add (seen, text);
    }
}

/* ---- authenticators ------------------------------------------------------------------------ */

static void
test_matches (void)
{
  g_autoptr (MsgtrkSecret) secret = msgtrk_secret_new_from_base64 (B64_32, NULL);
  g_autoptr (MsgtrkSecret) other = msgtrk_secret_new_from_base64 (B64_16, NULL);
  g_autofree char *good = msgtrk_secret_compute_authenticator (secret);
  g_autofree char *other_b = msgtrk_secret_compute_authenticator (other);
  g_autofree char *last_char_bumped = g_strdup (good);
  g_autofree char *truncated = g_strndup (good, MSGTRK_AUTHENTICATOR_LENGTH - 1);
  g_autofree char *longer = g_strconcat (good, "A", NULL);
  g_autofree char *spaced = g_strconcat (" ", truncated, NULL);
  g_autofree char *lower = g_ascii_strdown (good, -1);

  g_test_summary ("matches_authenticator: only the exact canonical B matches; every bit "
                  "flip, wrong length or malformed B does not");

  g_assert_nonnull (secret);
  g_assert_true (msgtrk_secret_matches_authenticator (secret, good));
  g_assert_false (msgtrk_secret_matches_authenticator (secret, other_b));
  g_assert_false (msgtrk_secret_matches_authenticator (secret, NULL));
  g_assert_false (msgtrk_secret_matches_authenticator (secret, ""));
  g_assert_false (msgtrk_secret_matches_authenticator (secret, truncated));
  g_assert_false (msgtrk_secret_matches_authenticator (secret, longer));
  g_assert_false (msgtrk_secret_matches_authenticator (secret, spaced));
  if (g_strcmp0 (lower, good) != 0)
    g_assert_false (msgtrk_secret_matches_authenticator (secret, lower));

  /* Every single-bit change of the 160-bit digest. */
  for (guint bit = 0; bit < 160; bit++)
    {
      g_autofree char *flipped = flip_bit (good, bit);

      g_assert_cmpuint (strlen (flipped), ==, MSGTRK_AUTHENTICATOR_LENGTH);
      g_assert_false (msgtrk_secret_matches_authenticator (secret, flipped));
      g_assert_false (msgtrk_verify_secret (B64_32, flipped));
    }

  /* A non-canonical spelling of the same digest (an unused low bit set before "=") is
   * refused, although a lenient decoder reads the same 20 octets from it. */
  g_assert_cmpint (good[MSGTRK_AUTHENTICATOR_LENGTH - 1], ==, '=');
  {
    static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *pos = &last_char_bumped[MSGTRK_AUTHENTICATOR_LENGTH - 2];
    gsize idx = (gsize) (strchr (alphabet, *pos) - alphabet);
    g_autofree guchar *lenient_good = NULL;
    g_autofree guchar *lenient_bumped = NULL;
    gsize len_good = 0;
    gsize len_bumped = 0;

    *pos = alphabet[idx ^ 1];
    lenient_good = g_base64_decode (good, &len_good);
    lenient_bumped = g_base64_decode (last_char_bumped, &len_bumped);
    g_assert_cmpmem (lenient_good, len_good, lenient_bumped, len_bumped);
    g_assert_false (msgtrk_authenticator_is_valid (last_char_bumped, NULL));
    g_assert_false (msgtrk_secret_matches_authenticator (secret, last_char_bumped));
    g_assert_false (msgtrk_verify_secret (B64_32, last_char_bumped));
  }
}

static void
test_verify (void)
{
  g_autoptr (MsgtrkSecret) secret = msgtrk_secret_new_from_base64 (B64_32, NULL);
  g_autofree char *good = msgtrk_secret_compute_authenticator (secret);
  g_autofree char *flipped_secret = flip_bit (B64_32, 0);
  g_autofree char *flipped_b = flip_bit (good, 159);

  g_test_summary ("verify_secret for servers: TRUE only for the right secret and B; FALSE "
                  "for NULL, malformed or mismatched input");

  g_assert_true (msgtrk_verify_secret (B64_32, good));
  g_assert_false (msgtrk_verify_secret (flipped_secret, good));
  g_assert_false (msgtrk_verify_secret (B64_32, flipped_b));
  g_assert_false (msgtrk_verify_secret (NULL, good));
  g_assert_false (msgtrk_verify_secret (B64_32, NULL));
  g_assert_false (msgtrk_verify_secret (NULL, NULL));
  g_assert_false (msgtrk_verify_secret ("", good));
  g_assert_false (msgtrk_verify_secret (B64_32, ""));
  g_assert_false (msgtrk_verify_secret (B64_32 " ", good));
  g_assert_false (msgtrk_verify_secret (" " B64_32, good));
  g_assert_false (msgtrk_verify_secret (B64_32, B64_32));
  /* B passed where A is expected and the other way round. */
  g_assert_false (msgtrk_verify_secret (good, B64_32));
}

typedef struct
{
  const char *name;
  const char *text;
  gboolean valid;
} AuthCase;

static const AuthCase auth_cases[] = {
  { "SHA-1 of empty", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=", TRUE },
  { "SHA-1 of abc", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", TRUE },
  { "all A", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", TRUE },
  { "empty", "", FALSE },
  { "27 characters", "2jmj7l5rSw0yVb/vlWAYkK/YBwk", FALSE },
  { "29 characters", "2jmj7l5rSw0yVb/vlWAYkK/YBwk==", FALSE },
  { "32 characters (24 octets)", "2jmj7l5rSw0yVb/vlWAYkK/YBwkAAAAA", FALSE },
  { "28 characters, 21 octets (no padding)", "2jmj7l5rSw0yVb/vlWAYkK/YBwkA", FALSE },
  { "28 characters, 19 octets (==)", "2jmj7l5rSw0yVb/vlWAYkK/YBw==", FALSE },
  { "nonzero unused bits", "2jmj7l5rSw0yVb/vlWAYkK/YBwl=", FALSE },
  { "base64url", "2jmj7l5rSw0yVb_vlWAYkK_YBwk=", FALSE },
  { "space", "2jmj7l5rSw0yVb/vlWAYkK/YBw k", FALSE },
  { "trailing newline", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=\n", FALSE },
  { "non-ASCII", "2jmj7l5rSw0yVb/vlWAYkK/YB\xc3\xa9=", FALSE },
  { "a 32-octet secret", B64_32, FALSE },
};

static void
test_authenticator_is_valid (void)
{
  g_test_summary ("authenticator_is_valid: exactly 28 characters of canonical base64 for "
                  "20 octets");

  for (gsize i = 0; i < G_N_ELEMENTS (auth_cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok;

      g_test_message ("authenticator: %s", auth_cases[i].name);
      ok = msgtrk_authenticator_is_valid (auth_cases[i].text, &error);
      g_assert_cmpint (ok, ==, auth_cases[i].valid);
      if (ok)
        g_assert_no_error (error);
      else
        {
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
          g_test_message ("  -> %s", error->message);
        }
      /* NULL error is allowed. */
      g_assert_cmpint (msgtrk_authenticator_is_valid (auth_cases[i].text, NULL), ==,
                       auth_cases[i].valid);
    }
}

/* ---- wiping -------------------------------------------------------------------------------- */

static void
test_wipe (void)
{
  guint8 buf[64];
  char *str = g_strdup ("secret text");

  g_test_summary ("secure_wipe zeroes memory; secure_free_string accepts NULL");

  memset (buf, 0xa5, sizeof buf);
  msgtrk_secure_wipe (buf, sizeof buf);
  for (gsize i = 0; i < sizeof buf; i++)
    g_assert_cmpuint (buf[i], ==, 0);
  msgtrk_secure_wipe (NULL, 0);
  msgtrk_secure_wipe (buf, 0);
  msgtrk_secure_free_string (NULL);
  msgtrk_secure_free_string (str);
}

int
main (int argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/secret/vectors/openssl", test_vectors_openssl);
  g_test_add_func ("/secret/base64/accept", test_base64_accept);
  g_test_add_func ("/secret/base64/reject", test_base64_reject);
  g_test_add_func ("/secret/base64/prefixes", test_base64_one_at_a_time);
  g_test_add_func ("/secret/generate/basic", test_generate);
  g_test_add_func ("/secret/generate/distinct", test_generate_many_distinct);
  g_test_add_func ("/secret/authenticator/matches", test_matches);
  g_test_add_func ("/secret/authenticator/verify", test_verify);
  g_test_add_func ("/secret/authenticator/is-valid", test_authenticator_is_valid);
  g_test_add_func ("/secret/wipe", test_wipe);
  g_test_add_func ("/secret/derive/vectors", test_derive_vectors);
  g_test_add_func ("/secret/derive/properties", test_derive_properties);
  g_test_add_func ("/secret/derive/limits", test_derive_limits);

  return g_test_run ();
}
