/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-envelope-rcpt.c: unit tests for msgtrk_envelope_build_rcpt_to_arg_full() (the RCPT
 * TO argument with a per-recipient NOTIFY and a given ORCPT, what a relay passes on).
 *
 * Table-driven: expected arguments with and without DSN, hostile ORCPT types and
 * addresses (empty, spaces, ';', control characters, non-ASCII), the ORCPT length limit
 * at the limit and one past it (with and without escaping), a round trip through the
 * server-side ORCPT parser for every printable character, and agreement with
 * msgtrk_envelope_build_rcpt_to_arg(). No network, no timing.
 *
 * Not reachable, so not tested: MSGTRK_SMTP_RCPT_LINE_MAX (the longest recipient, NOTIFY
 * and ORCPT together stay under it).
 */
#include "config.h"

#include <string.h>

#include "test-util.h"

#define OK (-1) /* expected "no error" in the tables below */

static MsgtrkSmtpCapabilities *
caps_with (const char *keywords)
{
  g_auto (GStrv) words = g_strsplit (keywords, " ", -1);

  return msgtrk_smtp_capabilities_new_from_keywords ((const char * const *) words);
}

static MsgtrkEnvelope *
make_envelope (void)
{
  MsgtrkEnvelope *envelope = msgtrk_envelope_new ("mtrk.rcpttest@example.org");

  /* The envelope's own NOTIFY must not leak into _full(). */
  msgtrk_envelope_set_notify (envelope, MSGTRK_DSN_NOTIFY_FAILURE);
  return envelope;
}

static void
test_arguments (void)
{
  static const struct
  {
    const char *caps;
    const char *recipient;
    MsgtrkDsnNotify notify;
    const char *type;
    const char *address;
    const char *expected;
  } cases[] = {
    /* default ORCPT, NOTIFY from the argument */
    { "DSN", "you@example.net", MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_DELAY, NULL, NULL,
      "<you@example.net> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;you@example.net" },
    { "DSN", "you@example.net", MSGTRK_DSN_NOTIFY_UNSET, NULL, NULL,
      "<you@example.net> ORCPT=rfc822;you@example.net" },
    { "DSN", "you@example.net", MSGTRK_DSN_NOTIFY_NEVER, NULL, NULL,
      "<you@example.net> NOTIFY=NEVER ORCPT=rfc822;you@example.net" },
    /* a received ORCPT passes on, re-encoded as xtext */
    { "DSN", "you@example.net", MSGTRK_DSN_NOTIFY_FAILURE, "rfc822", "orig+tag=x@example.com",
      "<you@example.net> NOTIFY=FAILURE ORCPT=rfc822;orig+2Btag+3Dx@example.com" },
    { "DSN", "you@example.net", MSGTRK_DSN_NOTIFY_UNSET, "RFC822", "Orig@Example.COM",
      "<you@example.net> ORCPT=RFC822;Orig@Example.COM" },
    { "DSN", "you@example.net", MSGTRK_DSN_NOTIFY_UNSET, "x-local", "LOCAL/user 1",
      "<you@example.net> ORCPT=x-local;LOCAL/user+201" },
    { "DSN", "you@example.net", MSGTRK_DSN_NOTIFY_UNSET, "rfc822", "\"a b\"@example.com",
      "<you@example.net> ORCPT=rfc822;\"a+20b\"@example.com" },
    /* no DSN offered: neither NOTIFY nor ORCPT */
    { "8BITMIME", "you@example.net", MSGTRK_DSN_NOTIFY_SUCCESS, "rfc822", "orig@example.com",
      "<you@example.net>" },
    { NULL, "you@example.net", MSGTRK_DSN_NOTIFY_SUCCESS, NULL, NULL, "<you@example.net>" },
    /* non-ASCII recipient: no default ORCPT, but a given ASCII one passes on */
    { "DSN SMTPUTF8", "\xe7\x94\xb0@example.jp", MSGTRK_DSN_NOTIFY_UNSET, NULL, NULL,
      "<\xe7\x94\xb0@example.jp>" },
    { "DSN SMTPUTF8", "\xe7\x94\xb0@example.jp", MSGTRK_DSN_NOTIFY_DELAY, "rfc822",
      "tanaka@example.jp",
      "<\xe7\x94\xb0@example.jp> NOTIFY=DELAY ORCPT=rfc822;tanaka@example.jp" },
  };

  g_test_summary ("RCPT TO arguments with a per-recipient NOTIFY and a given ORCPT");

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (MsgtrkEnvelope) envelope = make_envelope ();
      g_autoptr (MsgtrkSmtpCapabilities) caps = cases[i].caps ? caps_with (cases[i].caps)
                                                              : NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *arg = NULL;

      arg = msgtrk_envelope_build_rcpt_to_arg_full (envelope, caps, cases[i].recipient,
                                                    cases[i].notify, cases[i].type,
                                                    cases[i].address, &error);
      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].expected);
      g_assert_no_error (error);
      g_assert_cmpstr (arg, ==, cases[i].expected);
    }
}

static void
test_hostile (void)
{
  static const struct
  {
    const char *recipient;
    const char *type;
    const char *address;
    int code;
  } cases[] = {
    { "you@example.net", "", "orig@example.com", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc 822", "orig@example.com", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc822;", "orig@example.com", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc.822", "orig@example.com", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc822\r\n", "orig@example.com", MSGTRK_ERROR_PARSE },
    { "you@example.net", "utf\xc3\xa9", "orig@example.com", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc822", "", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc822", "orig@example.com\r\nDATA", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc822", "orig\x01@example.com", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc822", "\xe7\x94\xb0@example.jp", MSGTRK_ERROR_PARSE },
    { "you@example.net", "rfc822", "orig\x7f@example.com", MSGTRK_ERROR_PARSE },
    /* the recipient is checked as before */
    { "", "rfc822", "orig@example.com", MSGTRK_ERROR_PARSE },
    { "you@example.net> NOTIFY=NEVER", NULL, NULL, MSGTRK_ERROR_PARSE },
    { "you\r\n@example.net", NULL, NULL, MSGTRK_ERROR_PARSE },
    { "\xe7\x94\xb0@example.jp", "rfc822", "tanaka@example.jp", MSGTRK_ERROR_UNSUPPORTED },
    /* fine: spaces, ';' and '+' in the address are escaped */
    { "you@example.net", "rfc822", "a;b +c@example.com", OK },
  };

  g_test_summary ("Hostile ORCPT types and addresses are refused, never sent");

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (MsgtrkEnvelope) envelope = make_envelope ();
      g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with ("DSN");
      g_autoptr (GError) error = NULL;
      g_autofree char *arg = NULL;

      arg = msgtrk_envelope_build_rcpt_to_arg_full (envelope, caps, cases[i].recipient,
                                                    MSGTRK_DSN_NOTIFY_UNSET, cases[i].type,
                                                    cases[i].address, &error);
      g_test_message ("case %" G_GSIZE_FORMAT, i);
      if (cases[i].code == OK)
        {
          g_assert_no_error (error);
          g_assert_nonnull (arg);
          g_assert_null (strpbrk (arg, "\r\n"));
        }
      else
        {
          g_assert_null (arg);
          g_assert_error (error, MSGTRK_ERROR, cases[i].code);
          g_assert_cmpuint (strlen (error->message), >, 0);
          /* hostile input is quoted, never echoed raw */
          g_assert_null (strpbrk (error->message, "\r\n\x01\x7f"));
        }
    }
}

/* An ORCPT value "rfc822;" + xtext of @len characters. */
static void
check_orcpt_length (gsize    xtext_len,
                    gboolean escaped,
                    int      code)
{
  g_autoptr (MsgtrkEnvelope) envelope = make_envelope ();
  g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with ("DSN");
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) address = g_string_new (NULL);
  g_autofree char *arg = NULL;

  /* escaped: one '=' (3 xtext characters) and plain 'a's for the rest */
  if (escaped)
    g_string_append_c (address, '=');
  while (address->len + (escaped ? 2 : 0) < xtext_len)
    g_string_append_c (address, 'a');
  arg = msgtrk_envelope_build_rcpt_to_arg_full (envelope, caps, "you@example.net",
                                                MSGTRK_DSN_NOTIFY_UNSET, "rfc822", address->str,
                                                &error);
  if (code == OK)
    {
      const char *orcpt;

      g_assert_no_error (error);
      orcpt = strstr (arg, " ORCPT=");
      g_assert_nonnull (orcpt);
      g_assert_cmpuint (strlen (orcpt + 7), ==, MSGTRK_ORCPT_MAX_LENGTH);
    }
  else
    {
      g_assert_null (arg);
      g_assert_error (error, MSGTRK_ERROR, code);
    }
}

static void
test_orcpt_limit (void)
{
  const gsize at_limit = MSGTRK_ORCPT_MAX_LENGTH - strlen ("rfc822;");

  g_test_summary ("The ORCPT value is at most MSGTRK_ORCPT_MAX_LENGTH characters as xtext");

  check_orcpt_length (at_limit, FALSE, OK);
  check_orcpt_length (at_limit + 1, FALSE, MSGTRK_ERROR_LIMIT);
  check_orcpt_length (at_limit, TRUE, OK);
  check_orcpt_length (at_limit + 1, TRUE, MSGTRK_ERROR_LIMIT);
}

static void
test_round_trip (void)
{
  g_autoptr (GString) address = g_string_new (NULL);

  g_test_summary ("What _full() sends, msgtrk_orcpt_param_parse() reads back unchanged");

  /* every printable US-ASCII character, space included */
  for (int c = 0x20; c <= 0x7e; c++)
    {
      g_autoptr (MsgtrkEnvelope) envelope = make_envelope ();
      g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with ("DSN");
      g_autoptr (GError) error = NULL;
      g_autofree char *arg = NULL;
      g_autofree char *type = NULL;
      g_autofree char *decoded = NULL;
      const char *orcpt;

      g_string_printf (address, "x%cy@example.com", c);
      arg = msgtrk_envelope_build_rcpt_to_arg_full (envelope, caps, "you@example.net",
                                                    MSGTRK_DSN_NOTIFY_UNSET, "x-Type_1",
                                                    address->str, &error);
      g_assert_no_error (error);
      orcpt = strstr (arg, " ORCPT=");
      g_assert_nonnull (orcpt);
      g_assert_null (strchr (orcpt + 1, ' '));
      g_assert_true (msgtrk_orcpt_param_parse (orcpt + 7, &type, &decoded, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (type, ==, "x-Type_1");
      g_assert_cmpstr (decoded, ==, address->str);
    }
}

static void
test_same_as_plain (void)
{
  static const char *const recipients[] = {
    "you@example.net", "a+tag=x@example.net", "postmaster", "\"quoted local\"@example.net",
    "\xe7\x94\xb0@example.jp",
  };
  static const char *const keyword_sets[] = { "DSN", "DSN SMTPUTF8", "8BITMIME", "" };
  static const MsgtrkDsnNotify notifies[] = {
    MSGTRK_DSN_NOTIFY_UNSET, MSGTRK_DSN_NOTIFY_NEVER,
    MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE | MSGTRK_DSN_NOTIFY_DELAY,
  };

  g_test_summary ("Without a given ORCPT, _full() with the envelope's NOTIFY builds what "
                  "msgtrk_envelope_build_rcpt_to_arg() builds, errors included");

  for (gsize r = 0; r < G_N_ELEMENTS (recipients); r++)
    for (gsize k = 0; k < G_N_ELEMENTS (keyword_sets); k++)
      for (gsize n = 0; n < G_N_ELEMENTS (notifies); n++)
        {
          g_autoptr (MsgtrkEnvelope) envelope = msgtrk_envelope_new ("mtrk.same@example.org");
          g_autoptr (MsgtrkSmtpCapabilities) caps = caps_with (keyword_sets[k]);
          g_autoptr (GError) e1 = NULL;
          g_autoptr (GError) e2 = NULL;
          g_autofree char *plain = NULL;
          g_autofree char *full = NULL;

          msgtrk_envelope_set_notify (envelope, notifies[n]);
          plain = msgtrk_envelope_build_rcpt_to_arg (envelope, caps, recipients[r], &e1);
          full = msgtrk_envelope_build_rcpt_to_arg_full (envelope, caps, recipients[r],
                                                         notifies[n], NULL, NULL, &e2);
          g_assert_cmpstr (plain, ==, full);
          g_assert_true ((e1 == NULL) == (e2 == NULL));
          if (e1 != NULL)
            {
              g_assert_cmpint (e1->code, ==, e2->code);
              g_assert_cmpstr (e1->message, ==, e2->message);
            }
        }
}

static void
test_programmer_errors (void)
{
  g_test_summary ("An ORCPT type without an address is a programmer error");

  if (g_test_subprocess ())
    {
      g_autoptr (MsgtrkEnvelope) envelope = make_envelope ();
      g_autofree char *arg = NULL;

      arg = msgtrk_envelope_build_rcpt_to_arg_full (envelope, NULL, "you@example.net",
                                                    MSGTRK_DSN_NOTIFY_UNSET, "rfc822", NULL,
                                                    NULL);
      g_assert_null (arg);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*orcpt_type*");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/envelope/rcpt-full/arguments", test_arguments);
  g_test_add_func ("/envelope/rcpt-full/hostile", test_hostile);
  g_test_add_func ("/envelope/rcpt-full/orcpt-limit", test_orcpt_limit);
  g_test_add_func ("/envelope/rcpt-full/round-trip", test_round_trip);
  g_test_add_func ("/envelope/rcpt-full/same-as-plain", test_same_as_plain);
  g_test_add_func ("/envelope/rcpt-full/programmer-errors", test_programmer_errors);

  return g_test_run ();
}
