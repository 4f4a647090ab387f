/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-envelope.c: unit tests for msgtrk-envelope (ENVID, xtext, EHLO capabilities,
 * MAIL/RCPT arguments, server-side ESMTP parameters).
 *
 * Limits are tested at the limit and one past it; parsers get hostile input (truncated,
 * oversized, NUL, non-ASCII, duplicates) and the EHLO parser a reply cut at every byte.
 * No network, no timing.
 */
#include "config.h"

#include <string.h>

#include "test-util.h"

#define OK (-1) /* expected "no error" in the tables below */

/* A valid authenticator: base64 (SHA-1 ("test")). */
#define B_VALID "qUqP5cyxm6YcTAhz05Hph5gvu9M="

static void
check_result (gboolean    ok,
              GError     *error,
              int         expected_code,
              const char *input)
{
  if (expected_code == OK)
    {
      if (!ok)
        g_test_message ("input “%s” failed: %s", input, error ? error->message : "?");
      g_assert_no_error (error);
      g_assert_true (ok);
    }
  else
    {
      if (ok)
        g_test_message ("input “%s” unexpectedly passed", input);
      g_assert_false (ok);
      g_assert_error (error, MSGTRK_ERROR, expected_code);
      g_assert_nonnull (error->message);
      g_assert_cmpuint (strlen (error->message), >, 0);
    }
}

static char *
repeat (char  c,
        gsize n)
{
  char *s = g_malloc (n + 1);

  memset (s, c, n);
  s[n] = '\0';
  return s;
}

/* ------------------------------------------------------------------------------------ */
/* ENVID                                                                                */

static void
test_envid_generate_format (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = msgtrk_envid_generate ("example.org", &error);
  g_autofree char *xtext = NULL;
  g_autofree char *url = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (envid);
  g_assert_true (g_str_has_prefix (envid, "mtrk."));
  g_assert_true (g_str_has_suffix (envid, "@example.org"));
  g_assert_cmpuint (strlen (envid), ==, 5 + 26 + 1 + strlen ("example.org"));
  for (guint i = 5; i < 5 + 26; i++)
    g_assert_nonnull (strchr ("abcdefghijklmnopqrstuvwxyz234567", envid[i]));
  g_assert_cmpint (envid[31], ==, '@');

  g_assert_true (msgtrk_envid_is_valid (envid, &error));
  g_assert_no_error (error);

  /* Needs no escaping: neither xtext nor a URL path segment changes it. */
  xtext = msgtrk_xtext_encode (envid);
  g_assert_cmpstr (xtext, ==, envid);
  url = g_uri_escape_string (envid, G_URI_RESERVED_CHARS_ALLOWED_IN_PATH_ELEMENT, FALSE);
  g_assert_cmpstr (url, ==, envid);
  g_clear_pointer (&url, g_free);
  url = g_uri_escape_string (envid, "@", FALSE);
  g_assert_cmpstr (url, ==, envid);
}

static void
test_envid_generate_unique (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint counts[32] = { 0 };

  for (guint i = 0; i < 1000; i++)
    {
      g_autoptr (GError) error = NULL;
      char *envid = msgtrk_envid_generate ("mx.example.org", &error);

      g_assert_no_error (error);
      for (guint j = 5; j < 5 + 26; j++)
        counts[strchr ("abcdefghijklmnopqrstuvwxyz234567", envid[j])
               - "abcdefghijklmnopqrstuvwxyz234567"]++;
      g_assert_false (g_hash_table_contains (seen, envid));
      g_hash_table_add (seen, envid);
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, 1000);

  /* 26000 characters over 32 symbols: every symbol shows up (except with p ≈ 1e-300);
   * the last character holds the 130th bit and must vary too. */
  for (guint k = 0; k < 32; k++)
    g_assert_cmpuint (counts[k], >, 0);
}

static void
test_envid_generate_domains (void)
{
  g_autofree char *label63 = repeat ('a', 63);
  g_autofree char *label64 = repeat ('a', 64);
  g_autofree char *d63 = g_strconcat (label63, ".org", NULL);
  g_autofree char *d64 = g_strconcat (label64, ".org", NULL);
  g_autofree char *long_b = repeat ('b', 63);
  /* 5 + 26 + 1 = 32 characters before the domain: 68 is the longest domain. */
  g_autofree char *d68 = g_strconcat (long_b, ".test", NULL);
  g_autofree char *d69 = g_strconcat (long_b, ".tests", NULL);
  const struct
  {
    const char *domain;
    int code;
  } cases[] = {
    { "example.org", OK },
    { "localhost", OK },
    { "EXAMPLE.ORG", OK },
    { "a-b.example", OK },
    { "1.example", OK },
    { "xn--bcher-kva.example", OK },
    { d63, OK },
    { d64, MSGTRK_ERROR_PARSE },
    { d68, OK },
    { d69, MSGTRK_ERROR_LIMIT },
    { "", MSGTRK_ERROR_PARSE },
    { "[192.0.2.1]", MSGTRK_ERROR_PARSE },
    { "[IPv6:2001:db8::1]", MSGTRK_ERROR_PARSE },
    { "192.0.2.1", MSGTRK_ERROR_PARSE },
    { "example.org.", MSGTRK_ERROR_PARSE },
    { ".example.org", MSGTRK_ERROR_PARSE },
    { "example..org", MSGTRK_ERROR_PARSE },
    { "-a.example", MSGTRK_ERROR_PARSE },
    { "a-.example", MSGTRK_ERROR_PARSE },
    { "a_b.example", MSGTRK_ERROR_PARSE },
    { "exa mple.org", MSGTRK_ERROR_PARSE },
    { "example.org\r\nRSET", MSGTRK_ERROR_PARSE },
    { "bücher.example", MSGTRK_ERROR_PARSE },
    { "a+b.example", MSGTRK_ERROR_PARSE },
    { "a@b.example", MSGTRK_ERROR_PARSE },
    { "a/b.example", MSGTRK_ERROR_PARSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *envid = msgtrk_envid_generate (cases[i].domain, &error);

      check_result (envid != NULL, error, cases[i].code, cases[i].domain);
      if (envid != NULL)
        {
          g_assert_cmpuint (strlen (envid), <=, MSGTRK_ENVID_MAX_LENGTH);
          g_assert_true (msgtrk_envid_is_valid (envid, NULL));
        }
    }

  {
    g_autofree char *envid = msgtrk_envid_generate (d68, NULL);

    g_assert_cmpuint (strlen (envid), ==, MSGTRK_ENVID_MAX_LENGTH);
  }
}

static void
test_envid_is_valid (void)
{
  g_autofree char *at_limit = repeat ('x', MSGTRK_ENVID_MAX_LENGTH);
  g_autofree char *past_limit = repeat ('x', MSGTRK_ENVID_MAX_LENGTH + 1);
  const struct
  {
    const char *envid;
    int code;
  } cases[] = {
    { "mtrk.abcdefghijklmnopqrstuvwxyz@example.org", OK },
    { "x", OK },
    { "!\"#$%&'()*,-./:;<>?@[\\]^_`{|}~", OK },
    { at_limit, OK },
    { past_limit, MSGTRK_ERROR_LIMIT },
    { "", MSGTRK_ERROR_PARSE },
    { "a+b", MSGTRK_ERROR_PARSE },
    { "a=b", MSGTRK_ERROR_PARSE },
    { "a b", MSGTRK_ERROR_PARSE },
    { "a\tb", MSGTRK_ERROR_PARSE },
    { "a\r\nb", MSGTRK_ERROR_PARSE },
    { "a\x7f", MSGTRK_ERROR_PARSE },
    { "caf\xc3\xa9", MSGTRK_ERROR_PARSE },
    { "\xff", MSGTRK_ERROR_PARSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok = msgtrk_envid_is_valid (cases[i].envid, &error);

      check_result (ok, error, cases[i].code, cases[i].envid);
    }
}

/* ------------------------------------------------------------------------------------ */
/* xtext                                                                                */

static void
test_xtext_encode (void)
{
  const struct
  {
    const char *text;
    const char *xtext;
  } cases[] = {
    { "", "" },
    { "abc", "abc" },
    { "a+b", "a+2Bb" },
    { "a=b", "a+3Db" },
    { "a b", "a+20b" },
    { "+=", "+2B+3D" },
    { "\x01\x1f\x7f", "+01+1F+7F" },
    { "caf\xc3\xa9", "caf+C3+A9" },
    { "\xff", "+FF" },
    { "!~", "!~" },
    { "<user@example.org>", "<user@example.org>" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *xtext = msgtrk_xtext_encode (cases[i].text);
      g_autofree char *back = NULL;
      g_autoptr (GError) error = NULL;

      g_assert_cmpstr (xtext, ==, cases[i].xtext);
      back = msgtrk_xtext_decode (xtext, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (back, ==, cases[i].text);
    }
}

static void
test_xtext_decode (void)
{
  g_autofree char *at_limit = repeat ('a', MSGTRK_XTEXT_MAX_LENGTH);
  g_autofree char *past_limit = repeat ('a', MSGTRK_XTEXT_MAX_LENGTH + 1);
  const struct
  {
    const char *xtext;
    const char *text;
    int code;
  } cases[] = {
    { "", "", OK },
    { "abc", "abc", OK },
    { "+41", "A", OK },
    { "a+2Bb+3D", "a+b=", OK },
    { "+C3+A9", "\xc3\xa9", OK },
    { "+FF", "\xff", OK },
    { "+0A", "\n", OK },
    { at_limit, at_limit, OK },
    { past_limit, NULL, MSGTRK_ERROR_LIMIT },
    { "+2b", NULL, MSGTRK_ERROR_PARSE },
    { "+c3", NULL, MSGTRK_ERROR_PARSE },
    { "+", NULL, MSGTRK_ERROR_PARSE },
    { "a+", NULL, MSGTRK_ERROR_PARSE },
    { "a+4", NULL, MSGTRK_ERROR_PARSE },
    { "+G0", NULL, MSGTRK_ERROR_PARSE },
    { "+ 1", NULL, MSGTRK_ERROR_PARSE },
    { "++41", NULL, MSGTRK_ERROR_PARSE },
    { "+00", NULL, MSGTRK_ERROR_PARSE },
    { "a+00b", NULL, MSGTRK_ERROR_PARSE },
    { "a=b", NULL, MSGTRK_ERROR_PARSE },
    { "a b", NULL, MSGTRK_ERROR_PARSE },
    { "a\tb", NULL, MSGTRK_ERROR_PARSE },
    { "a\r\n", NULL, MSGTRK_ERROR_PARSE },
    { "\x7f", NULL, MSGTRK_ERROR_PARSE },
    { "caf\xc3\xa9", NULL, MSGTRK_ERROR_PARSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *text = msgtrk_xtext_decode (cases[i].xtext, &error);

      check_result (text != NULL, error, cases[i].code, cases[i].xtext);
      if (cases[i].code == OK)
        g_assert_cmpstr (text, ==, cases[i].text);
    }
}

static void
test_xtext_decode_truncated_escape (void)
{
  static const char *const cases[] = { "+", "a+", "+4", "ab+4", "+4\xff" };

  g_test_summary ("A '+' escape cut short at the end of the text is an error whose quote "
                  "reads nothing past the text (exactly sized copies, for ASan)");
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize len = strlen (cases[i]);
      g_autofree char *copy = g_malloc (len + 1);
      g_autoptr (GError) error = NULL;
      g_autofree char *text = NULL;

      memcpy (copy, cases[i], len + 1);
      text = msgtrk_xtext_decode (copy, &error);
      g_assert_null (text);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
      g_test_message ("%s", error->message);
    }
}

static void
test_xtext_round_trip_all_bytes (void)
{
  char all[256];
  char single[2] = { 0, 0 };

  /* Every octet alone ... */
  for (guint c = 1; c <= 255; c++)
    {
      g_autofree char *xtext = NULL;
      g_autofree char *back = NULL;
      g_autoptr (GError) error = NULL;

      single[0] = (char) c;
      xtext = msgtrk_xtext_encode (single);
      if (c >= 33 && c <= 126 && c != '+' && c != '=')
        g_assert_cmpuint (strlen (xtext), ==, 1);
      else
        g_assert_cmpuint (strlen (xtext), ==, 3);
      for (const char *p = xtext; *p; p++)
        {
          g_assert_cmpint ((guchar) *p, >=, 33);
          g_assert_cmpint ((guchar) *p, <=, 126);
          g_assert_cmpint (*p, !=, '=');
        }
      back = msgtrk_xtext_decode (xtext, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (back, ==, single);
    }

  /* ... and all of them together, in chunks that fit MSGTRK_XTEXT_MAX_LENGTH. */
  for (guint c = 1; c <= 255; c++)
    all[c - 1] = (char) c;
  all[255] = '\0';
  for (guint start = 0; start < 255; start += 100)
    {
      g_autofree char *chunk = g_strndup (all + start, 100);
      g_autofree char *xtext = msgtrk_xtext_encode (chunk);
      g_autofree char *back = NULL;
      g_autoptr (GError) error = NULL;

      g_assert_cmpuint (strlen (xtext), <=, MSGTRK_XTEXT_MAX_LENGTH);
      back = msgtrk_xtext_decode (xtext, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (back, ==, chunk);
    }
}

/* ------------------------------------------------------------------------------------ */
/* EHLO                                                                                 */

static const char postfix_reply[] = "250-mail.example.org\r\n"
                                    "250-PIPELINING\r\n"
                                    "250-SIZE 10240000\r\n"
                                    "250-VRFY\r\n"
                                    "250-ETRN\r\n"
                                    "250-STARTTLS\r\n"
                                    "250-AUTH PLAIN LOGIN\r\n"
                                    "250-AUTH=PLAIN LOGIN\r\n"
                                    "250-ENHANCEDSTATUSCODES\r\n"
                                    "250-8BITMIME\r\n"
                                    "250-DSN\r\n"
                                    "250-SMTPUTF8\r\n"
                                    "250 CHUNKING\r\n";

static const char exim_reply[] = "250-mx.example.net Hello client.example.com [192.0.2.1]\r\n"
                                 "250-SIZE 52428800\r\n"
                                 "250-8BITMIME\r\n"
                                 "250-PIPELINING\r\n"
                                 "250-PIPE_CONNECT\r\n"
                                 "250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
                                 "250-CHUNKING\r\n"
                                 "250-STARTTLS\r\n"
                                 "250-PRDR\r\n"
                                 "250 HELP\r\n";

static void
test_ehlo_postfix (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = msgtrk_smtp_capabilities_parse (postfix_reply,
                                                                            &error);
  g_autofree char *text = NULL;
  g_auto (GStrv) keywords = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_smtp_capabilities_get_domain (caps), ==, "mail.example.org");
  g_assert_true (msgtrk_smtp_capabilities_has (caps, "DSN"));
  g_assert_true (msgtrk_smtp_capabilities_has (caps, "dsn"));
  g_assert_true (msgtrk_smtp_capabilities_has (caps, "SmtpUtf8"));
  g_assert_false (msgtrk_smtp_capabilities_has (caps, "MTRK"));
  g_assert_cmpstr (msgtrk_smtp_capabilities_get_params (caps, "size"), ==, "10240000");
  g_assert_cmpstr (msgtrk_smtp_capabilities_get_params (caps, "AUTH"), ==, "PLAIN LOGIN");
  g_assert_null (msgtrk_smtp_capabilities_get_params (caps, "DSN"));
  g_assert_null (msgtrk_smtp_capabilities_get_params (caps, "MTRK"));

  text = msgtrk_smtp_capabilities_to_string (caps);
  g_assert_cmpstr (text, ==,
                   "PIPELINING SIZE VRFY ETRN STARTTLS AUTH ENHANCEDSTATUSCODES 8BITMIME DSN "
                   "SMTPUTF8 CHUNKING");
  keywords = msgtrk_smtp_capabilities_list_keywords (caps);
  g_assert_cmpuint (g_strv_length (keywords), ==, 11);
  g_assert_cmpstr (keywords[0], ==, "PIPELINING");
  g_assert_cmpstr (keywords[10], ==, "CHUNKING");
}

static void
test_ehlo_exim (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = msgtrk_smtp_capabilities_parse (exim_reply,
                                                                            &error);
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_smtp_capabilities_get_domain (caps), ==, "mx.example.net");
  g_assert_false (msgtrk_smtp_capabilities_has (caps, "DSN"));
  g_assert_cmpstr (msgtrk_smtp_capabilities_get_params (caps, "AUTH"), ==,
                   "PLAIN LOGIN CRAM-MD5");
  /* PIPE_CONNECT is not ehlo-keyword syntax: skipped, not fatal. */
  g_assert_false (msgtrk_smtp_capabilities_has (caps, "PIPE_CONNECT"));
  text = msgtrk_smtp_capabilities_to_string (caps);
  g_assert_cmpstr (text, ==, "SIZE 8BITMIME PIPELINING AUTH CHUNKING STARTTLS PRDR HELP");
}

static void
test_ehlo_variants (void)
{
  const struct
  {
    const char *reply;
    const char *domain;
    const char *keywords;
  } cases[] = {
    { "250-mx.test\n250-DSN\n250 MTRK\n", "mx.test", "DSN MTRK" },
    { "250-mx.test\n250-DSN\r\n250 MTRK", "mx.test", "DSN MTRK" },
    { "250 host", "host", "" },
    { "250 host\r\n", "host", "" },
    { "250 host greets you\r\n", "host", "" },
    { "250-[192.0.2.1]\r\n250 DSN\r\n", "[192.0.2.1]", "DSN" },
    { "250-host\r\n250 dsn\r\n", "host", "DSN" },
    { "250-host\r\n250-mtrk\r\n250 Dsn\r\n", "host", "MTRK DSN" },
    { "250-host\r\n250-SIZE 100\r\n250 size 200\r\n", "host", "SIZE" },
    { "250-host\r\n250-AUTH   PLAIN    LOGIN  \r\n250 DSN\r\n", "host", "AUTH DSN" },
    { "250-host Gr\xc3\xbc\xc3\x9f Gott\r\n250 DSN\r\n", "host", "DSN" },
    { "250-host\r\n250-AUTH=LOGIN\r\n250 DSN\r\n", "host", "DSN" },
    { "250-host\r\n250 X-VENDOR-1 a b\r\n", "host", "X-VENDOR-1" },
    /* Lines the parser does not understand are skipped (issue 8, item 12). */
    { "250-host\r\n250\r\n", "host", "" },
    { "250-host\r\n250 \r\n", "host", "" },
    { "250-mx.test\r\n250-\r\n250 DSN\r\n", "mx.test", "DSN" },
    { "250-mx.test\r\n250- \r\n250 DSN\r\n", "mx.test", "DSN" },
    { "250-mx.test\r\n250-DS\xc3\x89N\r\n250 X\r\n", "mx.test", "X" },
    { "250-mx.test\r\n250-SIZE \xff\r\n250 X\r\n", "mx.test", "X" },
    { "250-mx.test\r\n250-DSN\r\n250 \xff\r\n", "mx.test", "DSN" },
    { "250-host\r\n250\r\n250 DSN", NULL, NULL }, /* error below: goes on after "250" */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkSmtpCapabilities) caps = msgtrk_smtp_capabilities_parse (cases[i].reply,
                                                                                &error);
      g_autofree char *text = NULL;

      if (cases[i].domain == NULL)
        {
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
          continue;
        }
      g_assert_no_error (error);
      g_assert_cmpstr (msgtrk_smtp_capabilities_get_domain (caps), ==, cases[i].domain);
      text = msgtrk_smtp_capabilities_to_string (caps);
      g_assert_cmpstr (text, ==, cases[i].keywords);
    }

  {
    g_autoptr (MsgtrkSmtpCapabilities) caps =
      msgtrk_smtp_capabilities_parse ("250-host\r\n250-SIZE 100\r\n250 size 200\r\n", NULL);
    g_autoptr (MsgtrkSmtpCapabilities) caps2 = msgtrk_smtp_capabilities_parse (
      "250-host\r\n250-AUTH   PLAIN    LOGIN  \r\n250 DSN\r\n", NULL);

    g_assert_cmpstr (msgtrk_smtp_capabilities_get_params (caps, "SIZE"), ==, "100");
    g_assert_cmpstr (msgtrk_smtp_capabilities_get_params (caps2, "auth"), ==, "PLAIN LOGIN");
  }
}

/* Postfix's smtp-sink ends its EHLO reply with an empty "250 " line (issue 8, item 12):
 * the reply is accepted, the empty line skipped. */
static void
test_ehlo_smtp_sink (void)
{
  static const char reply[] = "250-sink.test\r\n"
                              "250-PIPELINING\r\n"
                              "250-8BITMIME\r\n"
                              "250-AUTH PLAIN LOGIN\r\n"
                              "250-AUTH=PLAIN LOGIN\r\n"
                              "250-XCLIENT NAME HELO\r\n"
                              "250-XFORWARD NAME ADDR PROTO HELO\r\n"
                              "250-ENHANCEDSTATUSCODES\r\n"
                              "250 \r\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("An EHLO reply whose last line is an empty \"250 \" (smtp-sink) is accepted");
  caps = msgtrk_smtp_capabilities_parse_data (reply, sizeof reply - 1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_smtp_capabilities_get_domain (caps), ==, "sink.test");
  text = msgtrk_smtp_capabilities_to_string (caps);
  g_assert_cmpstr (text, ==, "PIPELINING 8BITMIME AUTH XCLIENT XFORWARD ENHANCEDSTATUSCODES");
}

static void
test_ehlo_errors (void)
{
  const struct
  {
    const char *reply;
    int code;
  } cases[] = {
    { "", MSGTRK_ERROR_PARSE },
    { "\r\n", MSGTRK_ERROR_PARSE },
    { "hello", MSGTRK_ERROR_PARSE },
    { "554 5.7.1 go away\r\n", MSGTRK_ERROR_PARSE },
    { "502 5.5.2 Error: command not recognized\r\n", MSGTRK_ERROR_PARSE },
    { "421-mx.test closing\r\n421 bye\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n251 DSN\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n550-DSN\r\n250 X\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n250-DSN\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n250-DSN", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n", MSGTRK_ERROR_PARSE },
    { "250 mx.test\r\n250 DSN\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n250 DSN\r\n250 X\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n250 DSN\r\n\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n\r\n250 DSN\r\n", MSGTRK_ERROR_PARSE },
    { "250-\r\n250 DSN\r\n", MSGTRK_ERROR_PARSE },
    { "250- mx.test\r\n250 DSN\r\n", MSGTRK_ERROR_PARSE },
    { "250", MSGTRK_ERROR_PARSE },
    { "25", MSGTRK_ERROR_PARSE },
    { "2500 mx.test", MSGTRK_ERROR_PARSE },
    { "250_mx.test", MSGTRK_ERROR_PARSE },
    { "25O mx.test", MSGTRK_ERROR_PARSE },
    { " 250 mx.test", MSGTRK_ERROR_PARSE },
    { "250 mx.test\rDSN", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\r\n250 DSN\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n250-DSN\t1\r\n250 X\r\n", MSGTRK_ERROR_PARSE },
    { "250-m\xc3\xa9x.test\r\n250 X\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\x1b[2J\r\n250 X\r\n", MSGTRK_ERROR_PARSE },
    { "250-mx.test\r\n250-X\x7f\r\n250 X\r\n", MSGTRK_ERROR_PARSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkSmtpCapabilities) caps = msgtrk_smtp_capabilities_parse (cases[i].reply,
                                                                                &error);

      check_result (caps != NULL, error, cases[i].code, cases[i].reply);
    }
}

static void
test_ehlo_nul (void)
{
  static const char with_nul[] = "250-mx.test\r\n250-D\0SN\r\n250 X\r\n";
  static const char nul_at_end[] = "250 mx.test\r\n\0";
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;

  caps = msgtrk_smtp_capabilities_parse_data (with_nul, sizeof with_nul - 1, &error);
  g_assert_null (caps);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, "NUL"));
  g_clear_error (&error);

  caps = msgtrk_smtp_capabilities_parse_data (nul_at_end, sizeof nul_at_end - 1, &error);
  g_assert_null (caps);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);

  /* Without the NUL the same data is fine. */
  caps = msgtrk_smtp_capabilities_parse_data (nul_at_end, sizeof nul_at_end - 2, &error);
  g_assert_no_error (error);
  g_assert_nonnull (caps);
}

/* A reply of @n_lines lines, each "250-KWn" and the last "250 KWn". */
static char *
make_reply_lines (guint       n_lines,
                  const char *eol)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "250%cmx.test%s", n_lines == 1 ? ' ' : '-', eol);
  for (guint i = 2; i <= n_lines; i++)
    g_string_append_printf (s, "250%cKW%u%s", i == n_lines ? ' ' : '-', i, eol);
  return g_string_free (s, FALSE);
}

static void
test_ehlo_limit_lines (void)
{
  g_autofree char *at_limit = make_reply_lines (MSGTRK_EHLO_MAX_LINES, "\r\n");
  g_autofree char *past_limit = make_reply_lines (MSGTRK_EHLO_MAX_LINES + 1, "\r\n");
  g_autofree char *at_limit_lf = make_reply_lines (MSGTRK_EHLO_MAX_LINES, "\n");
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;
  g_auto (GStrv) keywords = NULL;

  caps = msgtrk_smtp_capabilities_parse (at_limit, &error);
  g_assert_no_error (error);
  keywords = msgtrk_smtp_capabilities_list_keywords (caps);
  g_assert_cmpuint (g_strv_length (keywords), ==, MSGTRK_EHLO_MAX_LINES - 1);
  g_clear_object (&caps);

  caps = msgtrk_smtp_capabilities_parse (at_limit_lf, &error);
  g_assert_no_error (error);
  g_clear_object (&caps);

  caps = msgtrk_smtp_capabilities_parse (past_limit, &error);
  g_assert_null (caps);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
}

/* A reply whose second line is exactly @octets long with its CRLF (or LF, counted as 2). */
static char *
make_reply_long_line (gsize       octets,
                      const char *eol)
{
  gsize fill = octets - 2 - strlen ("250-X-LONG ");
  g_autofree char *params = repeat ('p', fill);

  return g_strdup_printf ("250-mx.test%s250-X-LONG %s%s250 DSN%s", eol, params, eol, eol);
}

static void
test_ehlo_limit_line_length (void)
{
  const char *eols[] = { "\r\n", "\n" };

  for (gsize e = 0; e < G_N_ELEMENTS (eols); e++)
    {
      g_autofree char *at_limit = make_reply_long_line (MSGTRK_SMTP_REPLY_LINE_MAX, eols[e]);
      g_autofree char *past_limit = make_reply_long_line (MSGTRK_SMTP_REPLY_LINE_MAX + 1,
                                                          eols[e]);
      g_autofree char *first_long = NULL;
      g_autofree char *domain = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;

      caps = msgtrk_smtp_capabilities_parse (at_limit, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (strlen (msgtrk_smtp_capabilities_get_params (caps, "X-LONG")), ==,
                        MSGTRK_SMTP_REPLY_LINE_MAX - 2 - strlen ("250-X-LONG "));
      g_clear_object (&caps);

      caps = msgtrk_smtp_capabilities_parse (past_limit, &error);
      g_assert_null (caps);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
      g_clear_error (&error);

      /* The last line, without a line end, is held to the same limit. */
      domain = repeat ('d', MSGTRK_SMTP_REPLY_LINE_MAX - 2 - 4);
      first_long = g_strconcat ("250 ", domain, NULL);
      caps = msgtrk_smtp_capabilities_parse (first_long, &error);
      g_assert_no_error (error);
      g_clear_object (&caps);
      g_clear_pointer (&first_long, g_free);
      first_long = g_strconcat ("250 ", domain, "d", NULL);
      caps = msgtrk_smtp_capabilities_parse (first_long, &error);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
    }
}

static void
test_ehlo_truncated (void)
{
  const char *replies[] = { postfix_reply, exim_reply, "250-a\n250 B\n" };

  for (gsize r = 0; r < G_N_ELEMENTS (replies); r++)
    {
      gsize len = strlen (replies[r]);

      for (gsize cut = 0; cut <= len; cut++)
        {
          g_autofree char *copy = g_strndup (replies[r], cut);
          g_autoptr (GError) error = NULL;
          g_autoptr (MsgtrkSmtpCapabilities) caps = msgtrk_smtp_capabilities_parse_data (
            copy, cut, &error);

          if (caps == NULL)
            {
              g_assert_nonnull (error);
              g_assert_true (error->domain == MSGTRK_ERROR);
            }
          else
            {
              g_autofree char *text = msgtrk_smtp_capabilities_to_string (caps);
              const char *tail = strrchr (copy, '\n');

              g_assert_no_error (error);
              g_assert_nonnull (text);
              /* Only a cut inside or after the last line can succeed, or one that leaves
               * an empty final line "250" (skipped like smtp-sink's "250 "). */
              tail = tail != NULL ? tail + 1 : copy;
              if (!(g_str_has_prefix (tail, "250") && strspn (tail + 3, " ") == strlen (tail + 3)))
                g_assert_cmpuint (cut, >, (gsize) (strrchr (replies[r], '-') - replies[r]));
            }
        }
    }
}

static void
test_ehlo_from_keywords (void)
{
  const char *keywords[] = { "dsn", "MTRK", "SIZE 1000", "AUTH=PLAIN", "bad_kw", "", "Dsn x",
                             NULL };
  g_autoptr (MsgtrkSmtpCapabilities) caps = msgtrk_smtp_capabilities_new_from_keywords (
    keywords);
  g_autofree char *text = msgtrk_smtp_capabilities_to_string (caps);
  const char *none[] = { NULL };
  g_autoptr (MsgtrkSmtpCapabilities) empty = msgtrk_smtp_capabilities_new_from_keywords (none);
  g_autofree char *empty_text = msgtrk_smtp_capabilities_to_string (empty);

  g_assert_null (msgtrk_smtp_capabilities_get_domain (caps));
  g_assert_cmpstr (text, ==, "DSN MTRK SIZE");
  g_assert_cmpstr (msgtrk_smtp_capabilities_get_params (caps, "size"), ==, "1000");
  g_assert_null (msgtrk_smtp_capabilities_get_params (caps, "dsn"));
  g_assert_cmpstr (empty_text, ==, "");
}

/* ------------------------------------------------------------------------------------ */
/* MAIL FROM / RCPT TO                                                                  */

static MsgtrkSmtpCapabilities *
caps_with (gboolean dsn,
           gboolean mtrk,
           gboolean smtputf8)
{
  const char *keywords[5] = { "PIPELINING" };
  guint n = 1;

  if (dsn)
    keywords[n++] = "DSN";
  if (mtrk)
    keywords[n++] = "MTRK";
  if (smtputf8)
    keywords[n++] = "SMTPUTF8";
  keywords[n] = NULL;
  return msgtrk_smtp_capabilities_new_from_keywords (keywords);
}

static MsgtrkEnvelope *
tracking_envelope (void)
{
  MsgtrkEnvelope *envelope = msgtrk_envelope_new ("mtrk.abcdefghijklmnopqrstuvwxyz@example.org");

  msgtrk_envelope_set_authenticator (envelope, B_VALID);
  msgtrk_envelope_set_mtrk_timeout (envelope, 86400);
  msgtrk_envelope_set_ret (envelope, MSGTRK_DSN_RET_HDRS);
  msgtrk_envelope_set_notify (envelope, MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE
                                          | MSGTRK_DSN_NOTIFY_DELAY);
  return envelope;
}

static void
test_build_combinations (void)
{
  const struct
  {
    gboolean dsn, mtrk;
    const char *mail;
    const char *rcpt;
  } cases[] = {
    { FALSE, FALSE, "<me@example.org>", "<you@example.net>" },
    { TRUE, FALSE,
      "<me@example.org> RET=HDRS ENVID=mtrk.abcdefghijklmnopqrstuvwxyz@example.org",
      "<you@example.net> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;you@example.net" },
    /* MTRK offered without DSN: no ENVID possible, so no MTRK either (decision). */
    { FALSE, TRUE, "<me@example.org>", "<you@example.net>" },
    { TRUE, TRUE,
      "<me@example.org> RET=HDRS ENVID=mtrk.abcdefghijklmnopqrstuvwxyz@example.org MTRK=" B_VALID
      ":86400",
      "<you@example.net> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;you@example.net" },
  };
  g_autoptr (MsgtrkEnvelope) envelope = tracking_envelope ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (cases[i].dsn, cases[i].mtrk, FALSE);
      g_autoptr (GError) error = NULL;
      g_autofree char *mail = msgtrk_envelope_build_mail_from_arg (envelope, caps,
                                                                   "me@example.org", &error);
      g_autofree char *rcpt = NULL;

      g_assert_no_error (error);
      g_assert_cmpstr (mail, ==, cases[i].mail);
      rcpt = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, "you@example.net", &error);
      g_assert_no_error (error);
      g_assert_cmpstr (rcpt, ==, cases[i].rcpt);
    }

  /* No EHLO at all (HELO): nothing but the path. */
  {
    g_autofree char *mail = msgtrk_envelope_build_mail_from_arg (envelope, NULL, "me@example.org",
                                                                 NULL);
    g_autofree char *rcpt = msgtrk_envelope_build_rcpt_to_arg (envelope, NULL,
                                                               "you@example.net", NULL);

    g_assert_cmpstr (mail, ==, "<me@example.org>");
    g_assert_cmpstr (rcpt, ==, "<you@example.net>");
  }
}

static void
test_build_options (void)
{
  g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (TRUE, TRUE, FALSE);
  g_autoptr (MsgtrkEnvelope) envelope = msgtrk_envelope_new ("e1@example.org");
  g_autofree char *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL, *s5 = NULL, *s6 = NULL;
  g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL;

  /* Nothing set: ENVID only. */
  s1 = msgtrk_envelope_build_mail_from_arg (envelope, caps, "me@example.org", NULL);
  g_assert_cmpstr (s1, ==, "<me@example.org> ENVID=e1@example.org");
  r1 = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, "a+tag=x@example.net", NULL);
  g_assert_cmpstr (r1, ==, "<a+tag=x@example.net> ORCPT=rfc822;a+2Btag+3Dx@example.net");

  /* MTRK without timeout. */
  msgtrk_envelope_set_authenticator (envelope, B_VALID);
  s2 = msgtrk_envelope_build_mail_from_arg (envelope, caps, "me@example.org", NULL);
  g_assert_cmpstr (s2, ==, "<me@example.org> ENVID=e1@example.org MTRK=" B_VALID);

  /* Timeout at 1 and at its maximum. */
  msgtrk_envelope_set_mtrk_timeout (envelope, 1);
  s3 = msgtrk_envelope_build_mail_from_arg (envelope, caps, "me@example.org", NULL);
  g_assert_cmpstr (s3, ==, "<me@example.org> ENVID=e1@example.org MTRK=" B_VALID ":1");
  msgtrk_envelope_set_mtrk_timeout (envelope, MSGTRK_MTRK_TIMEOUT_MAX);
  msgtrk_envelope_set_ret (envelope, MSGTRK_DSN_RET_FULL);
  s4 = msgtrk_envelope_build_mail_from_arg (envelope, caps, "", NULL);
  g_assert_cmpstr (s4, ==, "<> RET=FULL ENVID=e1@example.org MTRK=" B_VALID ":999999999");

  /* Authenticator removed: no MTRK. */
  msgtrk_envelope_set_authenticator (envelope, NULL);
  s5 = msgtrk_envelope_build_mail_from_arg (envelope, caps, "me@example.org", NULL);
  g_assert_cmpstr (s5, ==, "<me@example.org> RET=FULL ENVID=e1@example.org");

  /* Quoted local part with a space is a legal address. */
  s6 = msgtrk_envelope_build_mail_from_arg (envelope, caps, "\"john doe\"@example.org", NULL);
  g_assert_cmpstr (s6, ==, "<\"john doe\"@example.org> RET=FULL ENVID=e1@example.org");

  msgtrk_envelope_set_notify (envelope, MSGTRK_DSN_NOTIFY_NEVER);
  r2 = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, "b@example.net", NULL);
  g_assert_cmpstr (r2, ==, "<b@example.net> NOTIFY=NEVER ORCPT=rfc822;b@example.net");
  msgtrk_envelope_set_notify (envelope, MSGTRK_DSN_NOTIFY_DELAY | MSGTRK_DSN_NOTIFY_FAILURE);
  r3 = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, "postmaster", NULL);
  g_assert_cmpstr (r3, ==, "<postmaster> NOTIFY=FAILURE,DELAY ORCPT=rfc822;postmaster");
}

static void
test_build_hostile (void)
{
  const struct
  {
    const char *address;
    int mail_code;
    int rcpt_code;
  } cases[] = {
    { "", OK, MSGTRK_ERROR_PARSE },
    { "a@b>\r\nRSET", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "a@b\r\nDATA", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "a@b\n", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "a@b\r", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "<a@b>", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "a@b> SIZE=1", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "a@b SIZE=1", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { " a@b", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "a\t@b", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "a\x7f@b", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "\"a@b", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "\"a\\\"@b", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "\"a\\\r\"@b", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "\"a\\>\"@b", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
    { "\"a\\\"b\"@c", OK, OK },
    { "j\xc3\xb6rg@example.org", MSGTRK_ERROR_UNSUPPORTED, MSGTRK_ERROR_UNSUPPORTED },
    { "\xff@example.org", MSGTRK_ERROR_PARSE, MSGTRK_ERROR_PARSE },
  };
  g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (TRUE, TRUE, FALSE);
  g_autoptr (MsgtrkEnvelope) envelope = tracking_envelope ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *mail = msgtrk_envelope_build_mail_from_arg (envelope, caps,
                                                                   cases[i].address, &error);
      g_autofree char *rcpt = NULL;

      check_result (mail != NULL, error, cases[i].mail_code, cases[i].address);
      g_clear_error (&error);
      rcpt = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, cases[i].address, &error);
      check_result (rcpt != NULL, error, cases[i].rcpt_code, cases[i].address);
      if (mail != NULL)
        {
          g_assert_null (strpbrk (mail, "\r\n"));
        }
      if (rcpt != NULL)
        {
          g_assert_null (strpbrk (rcpt, "\r\n"));
        }
    }
}

static void
test_build_smtputf8 (void)
{
  g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (TRUE, TRUE, TRUE);
  g_autoptr (MsgtrkSmtpCapabilities) caps_no_dsn = caps_with (FALSE, FALSE, TRUE);
  g_autoptr (MsgtrkEnvelope) envelope = tracking_envelope ();
  g_autoptr (GError) error = NULL;
  g_autofree char *mail = NULL, *rcpt = NULL, *ascii = NULL, *mail2 = NULL;

  mail = msgtrk_envelope_build_mail_from_arg (envelope, caps, "j\xc3\xb6rg@example.org",
                                              &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mail, ==,
                   "<j\xc3\xb6rg@example.org> RET=HDRS "
                   "ENVID=mtrk.abcdefghijklmnopqrstuvwxyz@example.org MTRK=" B_VALID
                   ":86400 SMTPUTF8");
  /* Non-ASCII recipient: NOTIFY yes, ORCPT no (decision). */
  rcpt = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, "\xe7\x94\xb0\xe4\xb8\xad@example.jp",
                                            &error);
  g_assert_no_error (error);
  g_assert_cmpstr (rcpt, ==,
                   "<\xe7\x94\xb0\xe4\xb8\xad@example.jp> NOTIFY=SUCCESS,FAILURE,DELAY");
  /* ASCII sender on an SMTPUTF8 server: no SMTPUTF8 parameter. */
  ascii = msgtrk_envelope_build_mail_from_arg (envelope, caps_no_dsn, "me@example.org", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ascii, ==, "<me@example.org>");
  mail2 = msgtrk_envelope_build_mail_from_arg (envelope, caps_no_dsn, "j\xc3\xb6rg@example.org",
                                               &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mail2, ==, "<j\xc3\xb6rg@example.org> SMTPUTF8");
}

static void
test_build_limits (void)
{
  g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (TRUE, TRUE, TRUE);
  g_autoptr (MsgtrkEnvelope) envelope = tracking_envelope ();
  g_autofree char *local_at = repeat ('l', MSGTRK_SMTP_ADDRESS_MAX_LENGTH - strlen ("@example.org"));
  g_autofree char *addr_at = g_strconcat (local_at, "@example.org", NULL);
  g_autofree char *addr_past = g_strconcat (local_at, "l@example.org", NULL);
  g_autofree char *eq163 = repeat ('=', 163);
  /* xtext of "aa" + 163 "=" + "@b" is 2 + 489 + 2 = 493; "rfc822;" makes 500. */
  g_autofree char *orcpt_at = g_strconcat ("aa", eq163, "@b", NULL);
  g_autofree char *orcpt_past = g_strconcat ("aaa", eq163, "@b", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *s = NULL;
  g_autofree char *orcpt = NULL;

  g_assert_cmpuint (strlen (addr_at), ==, MSGTRK_SMTP_ADDRESS_MAX_LENGTH);
  s = msgtrk_envelope_build_mail_from_arg (envelope, caps, addr_at, &error);
  g_assert_no_error (error);
  g_clear_pointer (&s, g_free);
  s = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, addr_at, &error);
  g_assert_no_error (error);
  g_clear_pointer (&s, g_free);

  s = msgtrk_envelope_build_mail_from_arg (envelope, caps, addr_past, &error);
  g_assert_null (s);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  s = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, addr_past, &error);
  g_assert_null (s);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);

  /* ORCPT value at MSGTRK_ORCPT_MAX_LENGTH and one past. */
  s = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, orcpt_at, &error);
  g_assert_no_error (error);
  orcpt = g_strdup (strstr (s, " ORCPT=") + strlen (" ORCPT="));
  g_assert_cmpuint (strlen (orcpt), ==, MSGTRK_ORCPT_MAX_LENGTH);
  g_clear_pointer (&s, g_free);
  s = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, orcpt_past, &error);
  g_assert_null (s);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
}

/* With the address, ENVID and ORCPT limits in force, the worst-case command lines fit the
 * RFC 3461/3885 line limits: the line checks in the builders are guards that cannot fire
 * today. This test keeps that arithmetic true if a limit changes. */
static void
test_build_worst_case_lines (void)
{
  g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (TRUE, TRUE, TRUE);
  g_autoptr (MsgtrkEnvelope) envelope = NULL;
  g_autoptr (GHashTable) params = NULL;
  g_autofree char *envid_xtext = NULL;
  g_autofree char *params_text = NULL;
  g_autoptr (GString) sender = g_string_new (NULL);
  g_autoptr (GString) rcpt = g_string_new (NULL);
  g_autofree char *mail = NULL, *rcpt_arg = NULL;
  g_autoptr (GError) error = NULL;

  /* The longest ENVID on the wire: 100 characters of xtext, all escapes but one. */
  envid_xtext = g_strconcat ("x", "+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B",
                             "+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B", NULL);
  g_assert_cmpuint (strlen (envid_xtext), ==, MSGTRK_ENVID_MAX_LENGTH);
  params_text = g_strdup_printf ("ENVID=%s RET=FULL MTRK=%s:999999999", envid_xtext, B_VALID);
  params = msgtrk_smtp_params_parse (params_text, &error);
  g_assert_no_error (error);
  envelope = msgtrk_envelope_new_from_mail_params (params, &error);
  g_assert_no_error (error);
  msgtrk_envelope_set_notify (envelope, MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE
                                          | MSGTRK_DSN_NOTIFY_DELAY);

  /* A 254-octet non-ASCII sender (SMTPUTF8 added). */
  while (sender->len < MSGTRK_SMTP_ADDRESS_MAX_LENGTH - 2 - 3)
    g_string_append (sender, "\xc3\xa9");
  g_string_append (sender, "@b");
  while (sender->len < MSGTRK_SMTP_ADDRESS_MAX_LENGTH)
    g_string_append_c (sender, 'b');
  g_assert_cmpuint (sender->len, ==, MSGTRK_SMTP_ADDRESS_MAX_LENGTH);
  mail = msgtrk_envelope_build_mail_from_arg (envelope, caps, sender->str, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_suffix (mail, " SMTPUTF8"));
  g_assert_nonnull (strstr (mail, envid_xtext));
  g_assert_cmpuint (strlen ("MAIL FROM:") + strlen (mail) + 2, <=, MSGTRK_SMTP_MAIL_LINE_MAX);

  /* A 254-octet recipient whose ORCPT is as long as allowed. */
  for (guint i = 0; i < 119; i++)
    g_string_append_c (rcpt, '=');
  while (rcpt->len < MSGTRK_SMTP_ADDRESS_MAX_LENGTH - 2)
    g_string_append_c (rcpt, 'r');
  g_string_append (rcpt, "@x");
  rcpt_arg = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, rcpt->str, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen ("RCPT TO:") + strlen (rcpt_arg) + 2, <=, MSGTRK_SMTP_RCPT_LINE_MAX);
}

static void
test_envelope_properties (void)
{
  g_autoptr (MsgtrkEnvelope) envelope = tracking_envelope ();
  g_autofree char *envid = NULL, *authenticator = NULL;
  guint timeout = 0;
  MsgtrkDsnRet ret = MSGTRK_DSN_RET_UNSET;
  MsgtrkDsnNotify notify = MSGTRK_DSN_NOTIFY_UNSET;

  g_object_get (envelope, "envid", &envid, "authenticator", &authenticator, "mtrk-timeout",
                &timeout, "ret", &ret, "notify", &notify, NULL);
  g_assert_cmpstr (envid, ==, "mtrk.abcdefghijklmnopqrstuvwxyz@example.org");
  g_assert_cmpstr (authenticator, ==, B_VALID);
  g_assert_cmpuint (timeout, ==, 86400);
  g_assert_cmpint (ret, ==, MSGTRK_DSN_RET_HDRS);
  g_assert_cmpint (notify, ==,
                   MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE | MSGTRK_DSN_NOTIFY_DELAY);

  g_object_set (envelope, "mtrk-timeout", 0u, "ret", MSGTRK_DSN_RET_UNSET, NULL);
  g_assert_cmpuint (msgtrk_envelope_get_mtrk_timeout (envelope), ==, 0);
  g_assert_cmpint (msgtrk_envelope_get_ret (envelope), ==, MSGTRK_DSN_RET_UNSET);
}

static void
test_envelope_programmer_errors (void)
{
  MsgtrkEnvelope *bad;
  g_autoptr (MsgtrkEnvelope) envelope = msgtrk_envelope_new ("ok@example.org");

  g_test_expect_message ("Msgtrk", G_LOG_LEVEL_CRITICAL, "*msgtrk_envid_is_valid*");
  bad = msgtrk_envelope_new ("a+b");
  g_test_assert_expected_messages ();
  g_assert_null (bad);

  g_test_expect_message ("Msgtrk", G_LOG_LEVEL_CRITICAL, "*authenticator_form_ok*");
  msgtrk_envelope_set_authenticator (envelope, "not-an-authenticator");
  g_test_assert_expected_messages ();
  g_assert_null (msgtrk_envelope_get_authenticator (envelope));

  g_test_expect_message ("Msgtrk", G_LOG_LEVEL_CRITICAL, "*MSGTRK_MTRK_TIMEOUT_MAX*");
  msgtrk_envelope_set_mtrk_timeout (envelope, MSGTRK_MTRK_TIMEOUT_MAX + 1);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (msgtrk_envelope_get_mtrk_timeout (envelope), ==, 0);

  g_test_expect_message ("Msgtrk", G_LOG_LEVEL_CRITICAL, "*notify_is_consistent*");
  msgtrk_envelope_set_notify (envelope, MSGTRK_DSN_NOTIFY_NEVER | MSGTRK_DSN_NOTIFY_DELAY);
  g_test_assert_expected_messages ();
  g_assert_cmpint (msgtrk_envelope_get_notify (envelope), ==, MSGTRK_DSN_NOTIFY_UNSET);
}

/* ------------------------------------------------------------------------------------ */
/* Server side                                                                          */

static void
test_params_parse (void)
{
  const struct
  {
    const char *text;
    int code;
    guint n;
    const char *key;
    const char *value; /* expected value of key; "(null)" for a bare keyword */
  } cases[] = {
    { "", OK, 0, NULL, NULL },
    { "   ", OK, 0, NULL, NULL },
    { "ENVID=abc", OK, 1, "ENVID", "abc" },
    { "envid=abc RET=HDRS", OK, 2, "ENVID", "abc" },
    { "  ENVID=a+2Bb   RET=FULL  ", OK, 2, "ENVID", "a+2Bb" },
    { "SMTPUTF8", OK, 1, "SMTPUTF8", "(null)" },
    { "BODY=8BITMIME SMTPUTF8", OK, 2, "BODY", "8BITMIME" },
    { "MTRK=" B_VALID ":3600", OK, 1, "MTRK", B_VALID ":3600" },
    { "X-VND-1=a<b>c", OK, 1, "X-VND-1", "a<b>c" },
    { "ENVID=", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "=abc", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "-X=1", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "X_Y=1", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    /* "=" in a value is allowed (MTRK's base64); ENVID's xtext decoder refuses it later. */
    { "ENVID=a=b", OK, 1, "ENVID", "a=b" },
    { "X==", OK, 1, "X", "=" },
    { "ENVID=a ENVID=b", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "envid=a ENVID=b", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "SMTPUTF8 smtputf8", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "X=a\x01", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "X=\x7f", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "X=caf\xc3\xa9", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "\tENVID=a", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "ENVID=a\r\nRSET", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
    { "\xc3\xa9=1", MSGTRK_ERROR_PARSE, 0, NULL, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GHashTable) params = msgtrk_smtp_params_parse (cases[i].text, &error);

      check_result (params != NULL, error, cases[i].code, cases[i].text);
      if (params == NULL)
        continue;
      g_assert_cmpuint (g_hash_table_size (params), ==, cases[i].n);
      if (cases[i].key != NULL)
        {
          const char *value = NULL;

          g_assert_true (g_hash_table_lookup_extended (params, cases[i].key, NULL,
                                                       (gpointer *) &value));
          if (g_strcmp0 (cases[i].value, "(null)") == 0)
            g_assert_null (value);
          else
            g_assert_cmpstr (value, ==, cases[i].value);
        }
    }
}

static void
test_params_limits (void)
{
  g_autoptr (GString) at_count = g_string_new (NULL);
  g_autofree char *past_count = NULL;
  g_autofree char *long_value = repeat ('v', MSGTRK_SMTP_RCPT_LINE_MAX - 2);
  g_autofree char *at_length = g_strconcat ("X=", long_value, NULL);
  g_autofree char *past_length = g_strconcat ("X=", long_value, "v", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) params = NULL;

  for (guint i = 0; i < MSGTRK_SMTP_PARAMS_MAX; i++)
    g_string_append_printf (at_count, "%sP%u=%u", i ? " " : "", i, i);
  past_count = g_strdup_printf ("%s P%u", at_count->str, MSGTRK_SMTP_PARAMS_MAX);

  params = msgtrk_smtp_params_parse (at_count->str, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (params), ==, MSGTRK_SMTP_PARAMS_MAX);
  g_clear_pointer (&params, g_hash_table_unref);
  params = msgtrk_smtp_params_parse (past_count, &error);
  g_assert_null (params);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);

  g_assert_cmpuint (strlen (at_length), ==, MSGTRK_SMTP_RCPT_LINE_MAX);
  params = msgtrk_smtp_params_parse (at_length, &error);
  g_assert_no_error (error);
  g_clear_pointer (&params, g_hash_table_unref);
  params = msgtrk_smtp_params_parse (past_length, &error);
  g_assert_null (params);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
}

static void
test_mtrk_param (void)
{
  const struct
  {
    const char *value;
    int code;
    guint timeout;
  } cases[] = {
    { B_VALID, OK, 0 },
    { B_VALID ":1", OK, 1 },
    { B_VALID ":86400", OK, 86400 },
    { B_VALID ":007", OK, 7 },
    { B_VALID ":999999999", OK, 999999999 },
    { B_VALID ":1000000000", MSGTRK_ERROR_LIMIT, 0 },
    { B_VALID ":0000000001", MSGTRK_ERROR_LIMIT, 0 },
    { B_VALID ":0", MSGTRK_ERROR_PARSE, 0 },
    { B_VALID ":000", MSGTRK_ERROR_PARSE, 0 },
    { B_VALID ":", MSGTRK_ERROR_PARSE, 0 },
    { B_VALID ":12a", MSGTRK_ERROR_PARSE, 0 },
    { B_VALID ":-1", MSGTRK_ERROR_PARSE, 0 },
    { B_VALID ":+1", MSGTRK_ERROR_PARSE, 0 },
    { B_VALID ": 1", MSGTRK_ERROR_PARSE, 0 },
    { B_VALID ":1:2", MSGTRK_ERROR_PARSE, 0 },
    { "", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { ":60", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "qUqP5cyxm6YcTAhz05Hph5gvu9M", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "qUqP5cyxm6YcTAhz05Hph5gvu9M==", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "qUqP5cyxm6YcTAhz05Hph5gvu9MA", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "qUqP5cyxm6YcTAhz05Hph5gvu9N=", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "qUqP5cyxm6YcTAhz05Hph5g!u9M=", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "qUqP5cyxm6YcTAhz05Hph5g-u9M=", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "qUqP5cyxm6YcTAhz05Hph5gvu9=M", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "+/+/+/+/+/+/+/+/+/+/+/+/+/+=", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "+/+/+/+/+/+/+/+/+/+/+/+/+/+w=", MSGTRK_ERROR_INVALID_SECRET, 0 },
    { "+/+/+/+/+/+/+/+/+/+/+/+/+/w=", OK, 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *authenticator = NULL;
      guint timeout = 4242;
      gboolean ok = msgtrk_mtrk_param_parse (cases[i].value, &authenticator, &timeout, &error);

      check_result (ok, error, cases[i].code, cases[i].value);
      if (ok)
        {
          g_assert_cmpuint (strlen (authenticator), ==, MSGTRK_AUTHENTICATOR_LENGTH);
          g_assert_true (g_str_has_prefix (cases[i].value, authenticator));
          g_assert_cmpuint (timeout, ==, cases[i].timeout);
        }
      else
        {
          g_assert_null (authenticator);
          g_assert_cmpuint (timeout, ==, 4242);
        }
    }

  /* Out arguments are optional. */
  g_assert_true (msgtrk_mtrk_param_parse (B_VALID ":5", NULL, NULL, NULL));
}

static void
test_notify_param (void)
{
  const struct
  {
    const char *value;
    int code;
    MsgtrkDsnNotify notify;
  } cases[] = {
    { "NEVER", OK, MSGTRK_DSN_NOTIFY_NEVER },
    { "never", OK, MSGTRK_DSN_NOTIFY_NEVER },
    { "SUCCESS", OK, MSGTRK_DSN_NOTIFY_SUCCESS },
    { "success,failure,delay", OK,
      MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE | MSGTRK_DSN_NOTIFY_DELAY },
    { "DELAY,Success", OK, MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_DELAY },
    { "", MSGTRK_ERROR_PARSE, 0 },
    { ",", MSGTRK_ERROR_PARSE, 0 },
    { "NEVER,SUCCESS", MSGTRK_ERROR_PARSE, 0 },
    { "SUCCESS,NEVER", MSGTRK_ERROR_PARSE, 0 },
    { "NEVER,NEVER", MSGTRK_ERROR_PARSE, 0 },
    { "SUCCESS,SUCCESS", MSGTRK_ERROR_PARSE, 0 },
    { "SUCCESS,success", MSGTRK_ERROR_PARSE, 0 },
    { "SUCCESS,", MSGTRK_ERROR_PARSE, 0 },
    { ",SUCCESS", MSGTRK_ERROR_PARSE, 0 },
    { "SUCCESS,,DELAY", MSGTRK_ERROR_PARSE, 0 },
    { "SUCCESS, FAILURE", MSGTRK_ERROR_PARSE, 0 },
    { "BOGUS", MSGTRK_ERROR_PARSE, 0 },
    { "SUCCES", MSGTRK_ERROR_PARSE, 0 },
    { "SUCCESS\r\n", MSGTRK_ERROR_PARSE, 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      MsgtrkDsnNotify notify = MSGTRK_DSN_NOTIFY_UNSET;
      gboolean ok = msgtrk_notify_param_parse (cases[i].value, &notify, &error);

      check_result (ok, error, cases[i].code, cases[i].value);
      if (ok)
        g_assert_cmpint (notify, ==, cases[i].notify);
    }
}

static void
test_notify_format (void)
{
  g_autofree char *never = msgtrk_notify_param_format (MSGTRK_DSN_NOTIFY_NEVER);

  g_assert_null (msgtrk_notify_param_format (MSGTRK_DSN_NOTIFY_UNSET));
  g_assert_cmpstr (never, ==, "NEVER");

  /* Every combination of SUCCESS/FAILURE/DELAY survives format → parse. */
  for (guint bits = 1; bits < 8; bits++)
    {
      MsgtrkDsnNotify flags = (MsgtrkDsnNotify) (bits << 1);
      MsgtrkDsnNotify back = MSGTRK_DSN_NOTIFY_UNSET;
      g_autofree char *text = msgtrk_notify_param_format (flags);
      g_autoptr (GError) error = NULL;

      g_assert_nonnull (text);
      g_assert_true (msgtrk_notify_param_parse (text, &back, &error));
      g_assert_no_error (error);
      g_assert_cmpint (back, ==, flags);
    }
  {
    g_autofree char *all = msgtrk_notify_param_format (
      MSGTRK_DSN_NOTIFY_DELAY | MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE);

    g_assert_cmpstr (all, ==, "SUCCESS,FAILURE,DELAY");
  }
}

static void
test_orcpt_param (void)
{
  g_autofree char *x = repeat ('x', MSGTRK_ORCPT_MAX_LENGTH - strlen ("rfc822;"));
  g_autofree char *at_limit = g_strconcat ("rfc822;", x, NULL);
  g_autofree char *past_limit = g_strconcat ("rfc822;", x, "x", NULL);
  const struct
  {
    const char *value;
    int code;
    const char *type;
    const char *address;
  } cases[] = {
    { "rfc822;a@b", OK, "rfc822", "a@b" },
    { "RFC822;a+2Btag@b", OK, "RFC822", "a+tag@b" },
    { "rfc822;a+20b@c", OK, "rfc822", "a b@c" },
    { "utf-8;x@y", OK, "utf-8", "x@y" },
    { "x-local;user;with;semicolons", OK, "x-local", "user;with;semicolons" },
    { at_limit, OK, "rfc822", x },
    { past_limit, MSGTRK_ERROR_LIMIT, NULL, NULL },
    { "a@b", MSGTRK_ERROR_PARSE, NULL, NULL },
    { ";a@b", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc 822;a@b", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc(822);a@b", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc822;", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc822;a+2", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc822;a+2b", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc822;a=b", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc822;a+00", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc822;a+0Ab", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc822;+C3+A9@b", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "rfc822;\xc3\xa9@b", MSGTRK_ERROR_PARSE, NULL, NULL },
    { "", MSGTRK_ERROR_PARSE, NULL, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *type = NULL, *address = NULL;
      gboolean ok = msgtrk_orcpt_param_parse (cases[i].value, &type, &address, &error);

      check_result (ok, error, cases[i].code, cases[i].value);
      if (ok)
        {
          g_assert_cmpstr (type, ==, cases[i].type);
          g_assert_cmpstr (address, ==, cases[i].address);
        }
      else
        {
          g_assert_null (type);
          g_assert_null (address);
        }
    }
}

static void
test_envelope_from_params (void)
{
  g_autofree char *x100 = repeat ('x', MSGTRK_ENVID_MAX_LENGTH);
  g_autofree char *at_limit = g_strconcat ("ENVID=", x100, NULL);
  g_autofree char *past_limit = g_strconcat ("ENVID=", x100, "x", NULL);
  const struct
  {
    const char *params;
    int code;
    const char *envid;
    MsgtrkDsnRet ret;
    const char *authenticator;
    guint timeout;
  } cases[] = {
    { "ENVID=mtrk.abc@example.org RET=hdrs MTRK=" B_VALID ":3600", OK, "mtrk.abc@example.org",
      MSGTRK_DSN_RET_HDRS, B_VALID, 3600 },
    { "ENVID=e1 RET=FULL", OK, "e1", MSGTRK_DSN_RET_FULL, NULL, 0 },
    { "ENVID=e1 MTRK=" B_VALID, OK, "e1", MSGTRK_DSN_RET_UNSET, B_VALID, 0 },
    { "ENVID=a+2Bb+20c SIZE=100 BODY=8BITMIME", OK, "a+b c", MSGTRK_DSN_RET_UNSET, NULL, 0 },
    { at_limit, OK, x100, MSGTRK_DSN_RET_UNSET, NULL, 0 },
    { past_limit, MSGTRK_ERROR_LIMIT },
    { "", MSGTRK_ERROR_PARSE },
    { "RET=HDRS", MSGTRK_ERROR_PARSE },
    { "MTRK=" B_VALID, MSGTRK_ERROR_PARSE },
    { "ENVID", MSGTRK_ERROR_PARSE },
    { "ENVID=a+2b", MSGTRK_ERROR_PARSE },
    { "ENVID=a=b", MSGTRK_ERROR_PARSE },
    { "ENVID=e1 RET=HDRS=", MSGTRK_ERROR_PARSE },
    { "ENVID=+0A", MSGTRK_ERROR_PARSE },
    { "ENVID=+C3+A9", MSGTRK_ERROR_PARSE },
    { "ENVID=e1 RET=BOGUS", MSGTRK_ERROR_PARSE },
    { "ENVID=e1 RET", MSGTRK_ERROR_PARSE },
    { "ENVID=e1 MTRK", MSGTRK_ERROR_PARSE },
    { "ENVID=e1 MTRK=short", MSGTRK_ERROR_INVALID_SECRET },
    { "ENVID=e1 MTRK=" B_VALID ":0", MSGTRK_ERROR_PARSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GHashTable) params = msgtrk_smtp_params_parse (cases[i].params, &error);
      g_autoptr (MsgtrkEnvelope) envelope = NULL;

      g_assert_no_error (error);
      envelope = msgtrk_envelope_new_from_mail_params (params, &error);
      check_result (envelope != NULL, error, cases[i].code, cases[i].params);
      if (envelope == NULL)
        continue;
      g_assert_cmpstr (msgtrk_envelope_get_envid (envelope), ==, cases[i].envid);
      g_assert_cmpint (msgtrk_envelope_get_ret (envelope), ==, cases[i].ret);
      g_assert_cmpstr (msgtrk_envelope_get_authenticator (envelope), ==, cases[i].authenticator);
      g_assert_cmpuint (msgtrk_envelope_get_mtrk_timeout (envelope), ==, cases[i].timeout);
    }
}

/* A relay receives MAIL parameters and passes them on: the ENVID comes back as xtext. */
static void
test_envelope_relay_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) params = msgtrk_smtp_params_parse (
    "ENVID=a+2Bb+3Dc RET=HDRS MTRK=" B_VALID ":60", &error);
  g_autoptr (MsgtrkEnvelope) envelope = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (TRUE, TRUE, FALSE);
  g_autofree char *mail = NULL;

  g_assert_no_error (error);
  envelope = msgtrk_envelope_new_from_mail_params (params, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_envelope_get_envid (envelope), ==, "a+b=c");
  g_assert_false (msgtrk_envid_is_valid ("a+b=c", NULL));
  mail = msgtrk_envelope_build_mail_from_arg (envelope, caps, "me@example.org", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mail, ==, "<me@example.org> RET=HDRS ENVID=a+2Bb+3Dc MTRK=" B_VALID ":60");
}

/* ENVID values as received: RFC 3461 4.4 wants the decoded ENVID printable US-ASCII
 * (issue 8 item 11: "a+0D+0Ab" was accepted by the relay's own copy of this check). */
static void
test_envid_param (void)
{
  g_autofree char *x100 = NULL;
  g_autofree char *x101 = NULL;
  const struct
  {
    const char *value;
    int code;
    const char *envid;
  } cases[] = {
    { "mtrk.abc@example.org", OK, "mtrk.abc@example.org" },
    { "a+2Bb+3Dc+20d", OK, "a+b=c d" },
    { "+7E", OK, "~" },
    { "a+0D+0Ab", MSGTRK_ERROR_PARSE },
    { "a+0Ab", MSGTRK_ERROR_PARSE },
    { "a+0Db", MSGTRK_ERROR_PARSE },
    { "a+00b", MSGTRK_ERROR_PARSE },
    { "a+09b", MSGTRK_ERROR_PARSE },
    { "a+1Fb", MSGTRK_ERROR_PARSE },
    { "a+7Fb", MSGTRK_ERROR_PARSE },
    { "a+C3+A9", MSGTRK_ERROR_PARSE },
    { "a+FF", MSGTRK_ERROR_PARSE },
    { "", MSGTRK_ERROR_PARSE },
    { NULL, MSGTRK_ERROR_PARSE },
    { "a+2b", MSGTRK_ERROR_PARSE },
    { "a=b", MSGTRK_ERROR_PARSE },
    { "a+", MSGTRK_ERROR_PARSE },
  };

  g_test_summary ("msgtrk_envid_param_parse(): xtext decoded to non-empty printable "
                  "US-ASCII, at most MSGTRK_ENVID_MAX_LENGTH characters");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *envid = NULL;
      gboolean ok = msgtrk_envid_param_parse (cases[i].value, &envid, &error);

      check_result (ok, error, cases[i].code, cases[i].value ? cases[i].value : "(null)");
      g_assert_cmpstr (envid, ==, ok ? cases[i].envid : NULL);
    }

  /* At the limit and one past. */
  x100 = g_strnfill (MSGTRK_ENVID_MAX_LENGTH, 'x');
  x101 = g_strnfill (MSGTRK_ENVID_MAX_LENGTH + 1, 'x');
  {
    g_autoptr (GError) error = NULL;
    g_autofree char *envid = NULL;

    g_assert_true (msgtrk_envid_param_parse (x100, &envid, &error));
    g_assert_no_error (error);
    g_assert_cmpstr (envid, ==, x100);
    g_assert_false (msgtrk_envid_param_parse (x101, NULL, &error));
    g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  }
}

static void
test_ret_param (void)
{
  const struct
  {
    const char *value;
    int code;
    MsgtrkDsnRet ret;
  } cases[] = {
    { "HDRS", OK, MSGTRK_DSN_RET_HDRS },  { "hdrs", OK, MSGTRK_DSN_RET_HDRS },
    { "FULL", OK, MSGTRK_DSN_RET_FULL },  { "Full", OK, MSGTRK_DSN_RET_FULL },
    { "NONE", MSGTRK_ERROR_PARSE },       { "", MSGTRK_ERROR_PARSE },
    { NULL, MSGTRK_ERROR_PARSE },         { "HDRS=", MSGTRK_ERROR_PARSE },
    { "FULL,HDRS", MSGTRK_ERROR_PARSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      MsgtrkDsnRet ret = MSGTRK_DSN_RET_UNSET;
      gboolean ok = msgtrk_ret_param_parse (cases[i].value, &ret, &error);

      check_result (ok, error, cases[i].code, cases[i].value ? cases[i].value : "(null)");
      g_assert_cmpint (ret, ==, ok ? cases[i].ret : MSGTRK_DSN_RET_UNSET);
    }
}

/* A relay's envelope of a received message: any valid received ENVID, or none. */
static void
test_envelope_new_received (void)
{
  g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (TRUE, TRUE, FALSE);
  g_autoptr (MsgtrkEnvelope) with = NULL;
  g_autoptr (MsgtrkEnvelope) without = NULL;
  g_autoptr (MsgtrkEnvelope) bad = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *mail = NULL;
  g_autofree char *long_envid = NULL;

  with = msgtrk_envelope_new_received ("a+b=c", &error);
  g_assert_no_error (error);
  msgtrk_envelope_set_authenticator (with, B_VALID);
  msgtrk_envelope_set_ret (with, MSGTRK_DSN_RET_HDRS);
  mail = msgtrk_envelope_build_mail_from_arg (with, caps, "me@example.org", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mail, ==, "<me@example.org> RET=HDRS ENVID=a+2Bb+3Dc MTRK=" B_VALID);
  g_clear_pointer (&mail, g_free);

  /* No ENVID: RET only; never MTRK without ENVID (RFC 3885). */
  without = msgtrk_envelope_new_received (NULL, &error);
  g_assert_no_error (error);
  g_assert_null (msgtrk_envelope_get_envid (without));
  msgtrk_envelope_set_authenticator (without, B_VALID);
  msgtrk_envelope_set_ret (without, MSGTRK_DSN_RET_FULL);
  mail = msgtrk_envelope_build_mail_from_arg (without, caps, "me@example.org", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mail, ==, "<me@example.org> RET=FULL");

  /* What the receiving side refuses, the sending side refuses too. */
  bad = msgtrk_envelope_new_received ("a\r\nb", &error);
  g_assert_null (bad);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  bad = msgtrk_envelope_new_received ("", &error);
  g_assert_null (bad);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  /* 34 "+" are 102 characters of xtext: one past the limit once encoded. */
  long_envid = g_strnfill (34, '+');
  bad = msgtrk_envelope_new_received (long_envid, &error);
  g_assert_null (bad);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  long_envid[33] = '\0'; /* 99 characters of xtext */
  bad = msgtrk_envelope_new_received (long_envid, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bad);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/envelope/envid/generate/format", test_envid_generate_format);
  g_test_add_func ("/envelope/envid/generate/unique", test_envid_generate_unique);
  g_test_add_func ("/envelope/envid/generate/domains", test_envid_generate_domains);
  g_test_add_func ("/envelope/envid/is-valid", test_envid_is_valid);
  g_test_add_func ("/envelope/xtext/encode", test_xtext_encode);
  g_test_add_func ("/envelope/xtext/decode", test_xtext_decode);
  g_test_add_func ("/envelope/xtext/decode-truncated-escape",
                   test_xtext_decode_truncated_escape);
  g_test_add_func ("/envelope/xtext/round-trip-all-bytes", test_xtext_round_trip_all_bytes);
  g_test_add_func ("/envelope/ehlo/postfix", test_ehlo_postfix);
  g_test_add_func ("/envelope/ehlo/exim", test_ehlo_exim);
  g_test_add_func ("/envelope/ehlo/variants", test_ehlo_variants);
  g_test_add_func ("/envelope/ehlo/smtp-sink", test_ehlo_smtp_sink);
  g_test_add_func ("/envelope/ehlo/errors", test_ehlo_errors);
  g_test_add_func ("/envelope/ehlo/nul", test_ehlo_nul);
  g_test_add_func ("/envelope/ehlo/limit-lines", test_ehlo_limit_lines);
  g_test_add_func ("/envelope/ehlo/limit-line-length", test_ehlo_limit_line_length);
  g_test_add_func ("/envelope/ehlo/truncated", test_ehlo_truncated);
  g_test_add_func ("/envelope/ehlo/from-keywords", test_ehlo_from_keywords);
  g_test_add_func ("/envelope/build/combinations", test_build_combinations);
  g_test_add_func ("/envelope/build/options", test_build_options);
  g_test_add_func ("/envelope/build/hostile", test_build_hostile);
  g_test_add_func ("/envelope/build/smtputf8", test_build_smtputf8);
  g_test_add_func ("/envelope/build/limits", test_build_limits);
  g_test_add_func ("/envelope/build/worst-case-lines", test_build_worst_case_lines);
  g_test_add_func ("/envelope/object/properties", test_envelope_properties);
  g_test_add_func ("/envelope/object/programmer-errors", test_envelope_programmer_errors);
  g_test_add_func ("/envelope/server/params", test_params_parse);
  g_test_add_func ("/envelope/server/params-limits", test_params_limits);
  g_test_add_func ("/envelope/server/mtrk", test_mtrk_param);
  g_test_add_func ("/envelope/server/notify", test_notify_param);
  g_test_add_func ("/envelope/server/notify-format", test_notify_format);
  g_test_add_func ("/envelope/server/orcpt", test_orcpt_param);
  g_test_add_func ("/envelope/server/mail-params", test_envelope_from_params);
  g_test_add_func ("/envelope/server/envid", test_envid_param);
  g_test_add_func ("/envelope/server/ret", test_ret_param);
  g_test_add_func ("/envelope/server/new-received", test_envelope_new_received);
  g_test_add_func ("/envelope/server/relay-round-trip", test_envelope_relay_round_trip);

  g_test_summary ("ENVID, xtext, EHLO capabilities, MAIL/RCPT arguments and ESMTP "
                  "parameters (RFC 3461, RFC 3885, RFC 5321).");
  return g_test_run ();
}
