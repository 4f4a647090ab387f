/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-url.c: tests of mtqp:// URLs (RFC 3887 section 8).
 *
 * Table-driven: valid URLs with the fields they must give, invalid ones with the error
 * code they must give; every error message is checked for the absence of the secret.
 * Also: limits at and one past MSGTRK_URL_MAX_LENGTH and MSGTRK_ENVID_MAX_LENGTH, round
 * trips new → to_string → parse, and every prefix of a valid URL.
 */
#include "config.h"

#include <string.h>

#include "test-util.h"

/* Secrets used below (test values). */
#define S32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define S32_ENC "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8%3D"
#define S16 "AAECAwQFBgcICQoLDA0ODw=="
#define S64 \
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
/* 32 octets whose base64 is all "+", "/" and "=". */
#define PS3 "+/+/+/"
#define SL PS3 PS3 PS3 PS3 PS3 PS3 PS3 "8="
#define PE3 "%2B%2F%2B%2F%2B%2F"
#define SL_ENC PE3 PE3 PE3 PE3 PE3 PE3 PE3 "8%3D"
#define SL_ENC_LOWER "%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f" \
  "%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f%2b%2f8%3d"

#define VALID (-1)

typedef struct
{
  const char *name;
  const char *url;
  int code; /* VALID or the expected MsgtrkError */
  const char *host;
  guint16 port;
  const char *envid;
  const char *secret;
} UrlCase;

static const UrlCase url_cases[] = {
  /* valid */
  { "plain", "mtqp://mx.example.com/track/mtrk.ABC%40example.com/" S32_ENC, VALID,
    "mx.example.com", MSGTRK_MTQP_PORT, "mtrk.ABC@example.com", S32 },
  { "raw @ and = (pchar)", "mtqp://mx.example.com/track/mtrk.ABC@example.com/" S32, VALID,
    "mx.example.com", MSGTRK_MTQP_PORT, "mtrk.ABC@example.com", S32 },
  { "scheme in upper case", "MTQP://h/track/e/" S32_ENC, VALID, "h", MSGTRK_MTQP_PORT, "e",
    S32 },
  { "scheme in mixed case", "mTqP://h/track/e/" S32_ENC, VALID, "h", MSGTRK_MTQP_PORT, "e",
    S32 },
  { "port", "mtqp://h:1039/track/e/" S32_ENC, VALID, "h", 1039, "e", S32 },
  { "port 1", "mtqp://h:1/track/e/" S32_ENC, VALID, "h", 1, "e", S32 },
  { "port 65535", "mtqp://h:65535/track/e/" S32_ENC, VALID, "h", 65535, "e", S32 },
  { "empty port", "mtqp://h:/track/e/" S32_ENC, VALID, "h", MSGTRK_MTQP_PORT, "e", S32 },
  { "leading zeros in port", "mtqp://h:01038/track/e/" S32_ENC, VALID, "h", 1038, "e", S32 },
  { "IPv4", "mtqp://192.0.2.7:2000/track/e/" S32_ENC, VALID, "192.0.2.7", 2000, "e", S32 },
  { "IPv6 loopback", "mtqp://[::1]/track/e/" S32_ENC, VALID, "::1", MSGTRK_MTQP_PORT, "e",
    S32 },
  { "IPv6 with port", "mtqp://[2001:db8::25]:4000/track/e/" S32_ENC, VALID, "2001:db8::25",
    4000, "e", S32 },
  { "IPv4-mapped IPv6", "mtqp://[::ffff:192.0.2.1]/track/e/" S32_ENC, VALID,
    "::ffff:192.0.2.1", MSGTRK_MTQP_PORT, "e", S32 },
  { "host with _ and -", "mtqp://mtqp_1.mx-2.example/track/e/" S32_ENC, VALID,
    "mtqp_1.mx-2.example", MSGTRK_MTQP_PORT, "e", S32 },
  { "percent-encoded host", "mtqp://ex%61mple.com/track/e/" S32_ENC, VALID, "example.com",
    MSGTRK_MTQP_PORT, "e", S32 },
  { "percent-encoded IDN host", "mtqp://%C3%A9x.example/track/e/" S32_ENC, VALID,
    "xn--x-9fa.example", MSGTRK_MTQP_PORT, "e", S32 },
  { "secret with / + = encoded", "mtqp://h/track/e/" SL_ENC, VALID, "h", MSGTRK_MTQP_PORT, "e",
    SL },
  { "lower-case hex", "mtqp://h/track/e/" SL_ENC_LOWER, VALID, "h", MSGTRK_MTQP_PORT, "e", SL },
  { "16-octet secret", "mtqp://h/track/e/" S16, VALID, "h", MSGTRK_MTQP_PORT, "e", S16 },
  { "64-octet secret", "mtqp://h/track/e/" S64, VALID, "h", MSGTRK_MTQP_PORT, "e", S64 },
  { "encoded unreserved in envid", "mtqp://h/track/%41%62c/" S32_ENC, VALID, "h",
    MSGTRK_MTQP_PORT, "Abc", S32 },
  { "encoded / in envid", "mtqp://h/track/a%2Fb/" S32_ENC, VALID, "h", MSGTRK_MTQP_PORT, "a/b",
    S32 },
  { "double-encoded envid decodes once", "mtqp://h/track/a%252Fb/" S32_ENC, VALID, "h",
    MSGTRK_MTQP_PORT, "a%2Fb", S32 },
  { "envid with sub-delims", "mtqp://h/track/!$&'()*+,;=:@/" S32_ENC, VALID, "h",
    MSGTRK_MTQP_PORT, "!$&'()*+,;=:@", S32 },
  { "envid ... (not a dot segment)", "mtqp://h/track/.../" S32_ENC, VALID, "h",
    MSGTRK_MTQP_PORT, "...", S32 },
  /* The segment is the xtext form (RFC 3461), percent-encoded (PROTOCOL-NOTES). */
  { "xtext envid, + and = escaped", "mtqp://h/track/exim%2B2Bid%2B3D%40x/" S32_ENC, VALID,
    "h", MSGTRK_MTQP_PORT, "exim+id=@x", S32 },
  { "xtext envid, + written raw", "mtqp://h/track/exim+2Bid+3D@x/" S32_ENC, VALID, "h",
    MSGTRK_MTQP_PORT, "exim+id=@x", S32 },
  { "not xtext: taken as the decoded envid", "mtqp://h/track/exim%2Bid%3D%40x/" S32_ENC,
    VALID, "h", MSGTRK_MTQP_PORT, "exim+id=@x", S32 },
  { "xtext of CR LF", "mtqp://h/track/a+0D+0Ab/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "xtext of a space", "mtqp://h/track/a+20b/" S32_ENC, MSGTRK_ERROR_PARSE },

  /* not a URL, wrong scheme, missing parts */
  { "empty", "", MSGTRK_ERROR_PARSE },
  { "garbage", "garbage", MSGTRK_ERROR_PARSE },
  { "only a scheme", "mtqp:", MSGTRK_ERROR_PARSE },
  { "only scheme and //", "mtqp://", MSGTRK_ERROR_PARSE },
  { "colon first", ":mtqp://h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "http", "http://h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "mtqps", "mtqps://h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "mtq", "mtq://h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "no //", "mtqp:h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "one /", "mtqp:/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "empty host", "mtqp:///track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "port without host", "mtqp://:1038/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "no path", "mtqp://h", MSGTRK_ERROR_PARSE },
  { "path /", "mtqp://h/", MSGTRK_ERROR_PARSE },
  { "path /track", "mtqp://h/track", MSGTRK_ERROR_PARSE },
  { "path /track/", "mtqp://h/track/", MSGTRK_ERROR_PARSE },
  { "no secret", "mtqp://h/track/e", MSGTRK_ERROR_PARSE },
  { "empty secret", "mtqp://h/track/e/", MSGTRK_ERROR_PARSE },
  { "empty envid", "mtqp://h/track//" S32_ENC, MSGTRK_ERROR_PARSE },
  { "TRACK in upper case", "mtqp://h/TRACK/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "other first segment", "mtqp://h/query/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "double slash", "mtqp://h//track/e/" S32_ENC, MSGTRK_ERROR_PARSE },

  /* extra segments, dot segments */
  { "trailing slash", "mtqp://h/track/e/" S32_ENC "/", MSGTRK_ERROR_PARSE },
  { "extra segment", "mtqp://h/track/e/" S32_ENC "/more", MSGTRK_ERROR_PARSE },
  { "prefix segment", "mtqp://h/x/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "dot-dot before track", "mtqp://h/x/../track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "dot-dot as envid", "mtqp://h/track/../" S32_ENC, MSGTRK_ERROR_PARSE },
  { "dot as envid", "mtqp://h/track/./" S32_ENC, MSGTRK_ERROR_PARSE },
  { "encoded dot-dot as envid", "mtqp://h/track/%2E%2E/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "raw / in secret", "mtqp://h/track/e/" SL, MSGTRK_ERROR_PARSE },

  /* query, fragment, userinfo */
  { "query", "mtqp://h/track/e/" S32_ENC "?x=1", MSGTRK_ERROR_PARSE },
  { "empty query", "mtqp://h/track/e/" S32_ENC "?", MSGTRK_ERROR_PARSE },
  { "fragment", "mtqp://h/track/e/" S32_ENC "#top", MSGTRK_ERROR_PARSE },
  { "empty fragment", "mtqp://h/track/e/" S32_ENC "#", MSGTRK_ERROR_PARSE },
  { "query after host", "mtqp://h?/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "userinfo", "mtqp://user@h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "user and password", "mtqp://user:pw@h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "empty userinfo", "mtqp://@h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "secret as userinfo", "mtqp://" S32_ENC "@h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },

  /* ports */
  { "port 0", "mtqp://h:0/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "port 65536", "mtqp://h:65536/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "port huge", "mtqp://h:99999999999999999999999/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "port negative", "mtqp://h:-1/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "port +1", "mtqp://h:+1/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "port letters", "mtqp://h:abc/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "port trailing garbage", "mtqp://h:1038x/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "two ports", "mtqp://h:1:2/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },

  /* hosts */
  { "IPv6 without brackets", "mtqp://::1/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "IPv6 unclosed", "mtqp://[::1/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "IPv6 junk after ]", "mtqp://[::1]x/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "IPv6 zone id", "mtqp://[fe80::1%25eth0]/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "IPvFuture", "mtqp://[v1.x]/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "not an IPv6 address", "mtqp://[1:2:3]/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "encoded / in host", "mtqp://h%2Fx/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "encoded NUL in host", "mtqp://h%00x/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "sub-delim in host", "mtqp://h!x/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "bracket in host", "mtqp://h]x/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },

  /* characters and percent-encoding */
  { "space", "mtqp://h/track/e e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "tab", "mtqp://h/track/e\te/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "newline at end", "mtqp://h/track/e/" S32_ENC "\n", MSGTRK_ERROR_PARSE },
  { "leading space", " mtqp://h/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "non-ASCII in envid", "mtqp://h/track/\xc3\xa9/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "non-ASCII in host", "mtqp://\xc3\xa9x.example/track/e/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "encoded non-ASCII in envid", "mtqp://h/track/%C3%A9/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "encoded space in envid", "mtqp://h/track/a%20b/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "encoded control in envid", "mtqp://h/track/a%0Ab/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "%00 in envid", "mtqp://h/track/a%00b/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "%00 in secret", "mtqp://h/track/e/" S32_ENC "%00", MSGTRK_ERROR_PARSE },
  { "bad escape %zz", "mtqp://h/track/a%zzb/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "truncated escape at end", "mtqp://h/track/e/" S32 "%3", MSGTRK_ERROR_PARSE },
  { "lone % at end", "mtqp://h/track/e/" S32 "%", MSGTRK_ERROR_PARSE },
  { "double quote", "mtqp://h/track/\"e\"/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "braces", "mtqp://h/track/{e}/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "backslash", "mtqp://h/track/e\\/" S32_ENC, MSGTRK_ERROR_PARSE },
  { "brackets in path", "mtqp://h/track/[e]/" S32_ENC, MSGTRK_ERROR_PARSE },

  /* the secret */
  { "secret not base64", "mtqp://h/track/e/not-base64-at-all", MSGTRK_ERROR_INVALID_SECRET },
  { "secret too short", "mtqp://h/track/e/AAECAwQFBgcICQoLDA0O", MSGTRK_ERROR_INVALID_SECRET },
  { "secret one octet too long",
    "mtqp://h/track/e/"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    MSGTRK_ERROR_INVALID_SECRET },
  { "secret without padding", "mtqp://h/track/e/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    MSGTRK_ERROR_INVALID_SECRET },
  { "secret double-encoded", "mtqp://h/track/e/" PE3 PE3 PE3 PE3 PE3 PE3 "%252B%252F8%253D",
    MSGTRK_ERROR_INVALID_SECRET },
  { "secret base64url", "mtqp://h/track/e/-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8=",
    MSGTRK_ERROR_INVALID_SECRET },
  { "secret with encoded space", "mtqp://h/track/e/AAECAwQFBgcICQoL%20DA0ODxAREhMUFRYXGBkaGxwdHh8=",
    MSGTRK_ERROR_INVALID_SECRET },
  { "secret with encoded non-ASCII", "mtqp://h/track/e/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw%C3%A9",
    MSGTRK_ERROR_INVALID_SECRET },

  /* envid length (MSGTRK_ENVID_MAX_LENGTH = 100) */
  { "envid of 100 characters",
    "mtqp://h/track/"
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789/" S32_ENC,
    VALID, "h", MSGTRK_MTQP_PORT,
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
    S32 },
  { "envid of 101 characters",
    "mtqp://h/track/"
    "01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890/" S32_ENC,
    MSGTRK_ERROR_LIMIT },
};

/* The secrets used in the table: no error message may contain any 8 characters of them. */
static const char * const known_secrets[] = { S32, S32_ENC, S16, S64, SL, SL_ENC };

static void
assert_no_secret_in (const char *message)
{
  for (gsize i = 0; i < G_N_ELEMENTS (known_secrets); i++)
    {
      const char *s = known_secrets[i];

      for (gsize j = 0; j + 8 <= strlen (s); j++)
        {
          g_autofree char *piece = g_strndup (s + j, 8);

          if (strstr (message, piece) != NULL)
            g_error ("error message quotes a secret (%s): %s", piece, message);
        }
    }
}

static void
test_parse_table (void)
{
  g_test_summary ("A table of valid and invalid mtqp URLs: fields of the valid ones, error "
                  "codes of the others, and no secret in any error message");

  for (gsize i = 0; i < G_N_ELEMENTS (url_cases); i++)
    {
      const UrlCase *uc = &url_cases[i];
      g_autoptr (MsgtrkUrl) url = NULL;
      g_autoptr (GError) error = NULL;

      g_test_message ("case: %s", uc->name);
      url = msgtrk_url_parse (uc->url, &error);
      if (uc->code == VALID)
        {
          g_assert_no_error (error);
          g_assert_true (MSGTRK_IS_URL (url));
          g_assert_cmpstr (msgtrk_url_get_host (url), ==, uc->host);
          g_assert_cmpuint (msgtrk_url_get_port (url), ==, uc->port);
          g_assert_cmpstr (msgtrk_url_get_envid (url), ==, uc->envid);
          g_assert_cmpstr (msgtrk_url_get_secret (url), ==, uc->secret);
        }
      else
        {
          g_assert_null (url);
          g_assert_error (error, MSGTRK_ERROR, uc->code);
          g_test_message ("  -> %s", error->message);
          assert_no_secret_in (error->message);
          if (strlen (uc->url) > 8)
            g_assert_null (strstr (error->message, uc->url));
        }
    }
}

static void
test_parse_prefixes (void)
{
  static const char * const urls[] = {
    "mtqp://[2001:db8::25]:4000/track/mtrk.ABC%40example.com/" SL_ENC,
    "mtqp://mx.example.com/track/e/" S32,
  };

  g_test_summary ("Every prefix of a valid URL is refused cleanly, without quoting the "
                  "secret, or is itself a valid URL that round-trips");

  for (gsize u = 0; u < G_N_ELEMENTS (urls); u++)
    for (gsize len = 0; len <= strlen (urls[u]); len++)
      {
        g_autofree char *prefix = g_strndup (urls[u], len);
        g_autoptr (MsgtrkUrl) url = NULL;
        g_autoptr (GError) error = NULL;

        url = msgtrk_url_parse (prefix, &error);
        if (url == NULL)
          {
            g_assert_nonnull (error);
            g_assert_true (error->domain == MSGTRK_ERROR);
            assert_no_secret_in (error->message);
          }
        else
          {
            /* Some prefixes are valid URLs with a shorter secret: they must round-trip. */
            char *text = msgtrk_url_to_string (url);
            g_autoptr (MsgtrkUrl) again = msgtrk_url_parse (text, &error);

            g_assert_no_error (error);
            g_assert_cmpstr (msgtrk_url_get_secret (again), ==, msgtrk_url_get_secret (url));
            msgtrk_secure_free_string (text);
          }
      }
}

/* A URL of exactly @total characters: a long host, then "/track/e/" and @secret_seg. */
static char *
url_of_length (gsize       total,
               const char *secret_seg)
{
  g_autofree char *suffix = g_strconcat ("/track/e/", secret_seg, NULL);
  gsize fixed = strlen ("mtqp://") + strlen (suffix);
  g_autofree char *host = NULL;

  g_assert_cmpuint (total, >, fixed);
  host = g_strnfill (total - fixed, 'a');
  return g_strconcat ("mtqp://", host, suffix, NULL);
}

static void
test_parse_length_limit (void)
{
  g_autofree char *at = url_of_length (MSGTRK_URL_MAX_LENGTH, S32_ENC);
  g_autofree char *past = url_of_length (MSGTRK_URL_MAX_LENGTH + 1, S32_ENC);
  g_autofree char *huge = url_of_length (1000000, S32_ENC);
  /* Raw "=" is 2 characters shorter than the written %3D. */
  g_autofree char *short_in = url_of_length (MSGTRK_URL_MAX_LENGTH - 2, S32);
  g_autofree char *long_out = url_of_length (MSGTRK_URL_MAX_LENGTH - 1, S32);
  g_autoptr (MsgtrkUrl) url = NULL;
  g_autoptr (GError) error = NULL;
  char *text;

  g_test_summary ("MSGTRK_URL_MAX_LENGTH: a URL of exactly the limit parses and writes "
                  "back the same; one character more, or a written form past it, is "
                  "MSGTRK_ERROR_LIMIT");

  g_assert_cmpuint (strlen (at), ==, MSGTRK_URL_MAX_LENGTH);
  url = msgtrk_url_parse (at, &error);
  g_assert_no_error (error);
  text = msgtrk_url_to_string (url);
  g_assert_cmpstr (text, ==, at);
  msgtrk_secure_free_string (text);
  g_clear_object (&url);

  url = msgtrk_url_parse (past, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (url);
  assert_no_secret_in (error->message);
  g_clear_error (&error);

  url = msgtrk_url_parse (huge, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);

  url = msgtrk_url_parse (short_in, &error);
  g_assert_no_error (error);
  text = msgtrk_url_to_string (url);
  g_assert_cmpuint (strlen (text), ==, MSGTRK_URL_MAX_LENGTH);
  msgtrk_secure_free_string (text);
  g_clear_object (&url);

  url = msgtrk_url_parse (long_out, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (url);
  assert_no_secret_in (error->message);
}

/* ---- new and to_string ---------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *host;
  guint16 port;
  const char *envid;
  const char *secret;
  const char *expected; /* the written URL */
} RoundTripCase;

static const RoundTripCase round_trip_cases[] = {
  { "typical", "mx.example.com", 0, "mtrk.ABCDEFGHIJKLMNOPQRSTUVWXYZ@example.com", S32,
    "mtqp://mx.example.com/track/mtrk.ABCDEFGHIJKLMNOPQRSTUVWXYZ%40example.com/" S32_ENC },
  { "default port written out by caller", "mx.example.com", MSGTRK_MTQP_PORT, "e", S32,
    "mtqp://mx.example.com/track/e/" S32_ENC },
  { "other port", "mx.example.com", 1, "e", S32, "mtqp://mx.example.com:1/track/e/" S32_ENC },
  { "port 65535", "mx.example.com", 65535, "e", S32,
    "mtqp://mx.example.com:65535/track/e/" S32_ENC },
  { "IPv6", "2001:db8::25", 4000, "e", S32, "mtqp://[2001:db8::25]:4000/track/e/" S32_ENC },
  { "IPv6 in brackets", "[::1]", 0, "e", S32, "mtqp://[::1]/track/e/" S32_ENC },
  { "IPv4", "192.0.2.7", 0, "e", SL, "mtqp://192.0.2.7/track/e/" SL_ENC },
  { "unreserved left alone", "h", 0, "aZ09-._~", S32, "mtqp://h/track/aZ09-._~/" S32_ENC },
  { "every printable ASCII character in the envid", "h", 0,
    "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
    S16,
    "mtqp://h/track/"
    "%21%22%23%24%25%26%27%28%29%2A%2B2B%2C-.%2F0123456789%3A%3B%3C%2B3D%3E%3F%40"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~/"
    "AAECAwQFBgcICQoLDA0ODw%3D%3D" },
  { "Exim-style envid with + and =", "h", 0, "exim+id=@x", S32,
    "mtqp://h/track/exim%2B2Bid%2B3D%40x/" S32_ENC },
  { "envid with + followed by hex", "h", 0, "a+2B", S32, "mtqp://h/track/a%2B2B2B/" S32_ENC },
  { "64-octet secret", "h", 0, "e", S64,
    "mtqp://h/track/e/"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D%3D" },
};

static void
test_round_trip (void)
{
  g_test_summary ("new → to_string gives the expected text (all but unreserved characters "
                  "percent-encoded), and parse gives the same fields back");

  for (gsize i = 0; i < G_N_ELEMENTS (round_trip_cases); i++)
    {
      const RoundTripCase *rc = &round_trip_cases[i];
      g_autoptr (MsgtrkUrl) url = NULL;
      g_autoptr (MsgtrkUrl) parsed = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *host = NULL;
      char *text;
      char *text2;

      g_test_message ("round trip: %s", rc->name);
      url = msgtrk_url_new (rc->host, rc->port, rc->envid, rc->secret, &error);
      g_assert_no_error (error);
      text = msgtrk_url_to_string (url);
      g_assert_cmpstr (text, ==, rc->expected);
      g_assert_null (strchr (text + strlen ("mtqp://"), '+'));
      g_assert_null (strchr (text, '='));

      parsed = msgtrk_url_parse (text, &error);
      g_assert_no_error (error);
      if (rc->host[0] == '[')
        host = g_strndup (rc->host + 1, strlen (rc->host) - 2);
      else
        host = g_strdup (rc->host);
      g_assert_cmpstr (msgtrk_url_get_host (parsed), ==, host);
      g_assert_cmpstr (msgtrk_url_get_host (url), ==, host);
      g_assert_cmpuint (msgtrk_url_get_port (parsed), ==,
                        rc->port == 0 ? MSGTRK_MTQP_PORT : rc->port);
      g_assert_cmpstr (msgtrk_url_get_envid (parsed), ==, rc->envid);
      {
        g_autofree char *xtext = msgtrk_xtext_encode (rc->envid);

        g_assert_cmpstr (msgtrk_url_get_envid_xtext (parsed), ==, xtext);
        g_assert_cmpstr (msgtrk_url_get_envid_xtext (url), ==, xtext);
      }
      g_assert_cmpstr (msgtrk_url_get_secret (parsed), ==, rc->secret);

      text2 = msgtrk_url_to_string (parsed);
      g_assert_cmpstr (text2, ==, text);
      msgtrk_secure_free_string (text);
      msgtrk_secure_free_string (text2);
    }
}

static void
test_round_trip_generated (void)
{
  g_test_summary ("A generated secret survives new → to_string → parse");

  for (guint i = 0; i < 50; i++)
    {
      g_autoptr (MsgtrkSecret) secret = msgtrk_secret_generate (NULL);
      char *b64 = msgtrk_secret_to_base64 (secret);
      g_autoptr (MsgtrkUrl) url = NULL;
      g_autoptr (MsgtrkUrl) parsed = NULL;
      g_autoptr (GError) error = NULL;
      char *text;

      url = msgtrk_url_new ("mtqp.example.org", 0, "mtrk.x@example.org", b64, &error);
      g_assert_no_error (error);
      text = msgtrk_url_to_string (url);
      parsed = msgtrk_url_parse (text, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (msgtrk_url_get_secret (parsed), ==, b64);
      msgtrk_secure_free_string (text);
      msgtrk_secure_free_string (b64);
    }
}

typedef struct
{
  const char *name;
  const char *host;
  const char *envid;
  const char *secret;
  int code;
} NewErrorCase;

static const NewErrorCase new_error_cases[] = {
  { "empty host", "", "e", S32, MSGTRK_ERROR_PARSE },
  { "host with space", "a b", "e", S32, MSGTRK_ERROR_PARSE },
  { "host with /", "a/b", "e", S32, MSGTRK_ERROR_PARSE },
  { "host with @", "u@h", "e", S32, MSGTRK_ERROR_PARSE },
  { "host with port", "h:1038", "e", S32, MSGTRK_ERROR_PARSE },
  { "IPv6 zone id", "fe80::1%eth0", "e", S32, MSGTRK_ERROR_PARSE },
  { "empty brackets", "[]", "e", S32, MSGTRK_ERROR_PARSE },
  { "non-ASCII host", "\xc3\xa9x.example", "e", S32, MSGTRK_ERROR_PARSE },
  { "empty envid", "h", "", S32, MSGTRK_ERROR_PARSE },
  { "envid with space", "h", "a b", S32, MSGTRK_ERROR_PARSE },
  { "envid non-ASCII", "h", "\xc3\xa9", S32, MSGTRK_ERROR_PARSE },
  { "envid control", "h", "a\nb", S32, MSGTRK_ERROR_PARSE },
  { "envid .", "h", ".", S32, MSGTRK_ERROR_PARSE },
  { "envid ..", "h", "..", S32, MSGTRK_ERROR_PARSE },
  { "envid of 101 characters", "h",
    "01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890",
    S32, MSGTRK_ERROR_LIMIT },
  { "empty secret", "h", "e", "", MSGTRK_ERROR_INVALID_SECRET },
  { "percent-encoded secret", "h", "e", S32_ENC, MSGTRK_ERROR_INVALID_SECRET },
  { "secret with newline", "h", "e", S32 "\n", MSGTRK_ERROR_INVALID_SECRET },
  { "short secret", "h", "e", "AAECAwQFBgcICQoLDA0O", MSGTRK_ERROR_INVALID_SECRET },
};

static void
test_new_errors (void)
{
  g_test_summary ("msgtrk_url_new refuses bad hosts, ENVIDs and secrets, without quoting "
                  "the secret");

  for (gsize i = 0; i < G_N_ELEMENTS (new_error_cases); i++)
    {
      const NewErrorCase *nc = &new_error_cases[i];
      g_autoptr (MsgtrkUrl) url = NULL;
      g_autoptr (GError) error = NULL;

      g_test_message ("new error: %s", nc->name);
      url = msgtrk_url_new (nc->host, 0, nc->envid, nc->secret, &error);
      g_assert_null (url);
      g_assert_error (error, MSGTRK_ERROR, nc->code);
      g_test_message ("  -> %s", error->message);
      assert_no_secret_in (error->message);
    }
}

static void
test_new_length_limit (void)
{
  /* mtqp:// + host + /track/e/ + S32_ENC */
  gsize fixed = strlen ("mtqp://") + strlen ("/track/e/") + strlen (S32_ENC);
  g_autofree char *host_at = g_strnfill (MSGTRK_URL_MAX_LENGTH - fixed, 'h');
  g_autofree char *host_past = g_strnfill (MSGTRK_URL_MAX_LENGTH - fixed + 1, 'h');
  g_autofree char *envid_at = g_strnfill (MSGTRK_ENVID_MAX_LENGTH, 'x');
  g_autoptr (MsgtrkUrl) url = NULL;
  g_autoptr (GError) error = NULL;
  char *text;

  g_test_summary ("msgtrk_url_new: a URL written at exactly MSGTRK_URL_MAX_LENGTH is made, "
                  "one character more is MSGTRK_ERROR_LIMIT; an ENVID of exactly "
                  "MSGTRK_ENVID_MAX_LENGTH is accepted");

  url = msgtrk_url_new (host_at, 0, "e", S32, &error);
  g_assert_no_error (error);
  text = msgtrk_url_to_string (url);
  g_assert_cmpuint (strlen (text), ==, MSGTRK_URL_MAX_LENGTH);
  msgtrk_secure_free_string (text);
  g_clear_object (&url);

  url = msgtrk_url_new (host_past, 0, "e", S32, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (url);
  assert_no_secret_in (error->message);
  g_clear_error (&error);

  url = msgtrk_url_new ("h", 0, envid_at, S32, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_url_get_envid (url), ==, envid_at);
}

int
main (int argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/url/parse/table", test_parse_table);
  g_test_add_func ("/url/parse/prefixes", test_parse_prefixes);
  g_test_add_func ("/url/parse/length-limit", test_parse_length_limit);
  g_test_add_func ("/url/new/round-trip", test_round_trip);
  g_test_add_func ("/url/new/round-trip-generated", test_round_trip_generated);
  g_test_add_func ("/url/new/errors", test_new_errors);
  g_test_add_func ("/url/new/length-limit", test_new_length_limit);

  return g_test_run ();
}
