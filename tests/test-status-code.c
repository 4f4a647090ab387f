/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-status-code.c: RFC 3463 status codes in words (lib/msgtrk-status-code.c).
 *
 * The grammar (class, subject and detail of 1 to 3 digits, no leading zero, the end or a
 * blank after the code) as a table of good and bad values, at the digit limit and one
 * past it; meanings of known codes, the subject's meaning for an unknown detail, the
 * class alone for X.0.0 and for an unknown subject; every table entry reached.
 */
#include "config.h"

#include <msgtrk.h>

typedef struct
{
  const char *text;
  gboolean ok;
  guint c, s, d;
} ParseCase;

static const ParseCase parse_cases[] = {
  { "5.1.1", TRUE, 5, 1, 1 },
  { "2.0.0", TRUE, 2, 0, 0 },
  { "4.4.7", TRUE, 4, 4, 7 },
  { "  4.4.1 (connection timed out)", TRUE, 4, 4, 1 },
  { "\t5.7.1\r\n", TRUE, 5, 7, 1 },
  { "5.999.999", TRUE, 5, 999, 999 },  /* at the digit limit */
  { "5.1000.1", FALSE, 0, 0, 0 },      /* one past it */
  { "5.1.1000", FALSE, 0, 0, 0 },
  { "5.01.1", FALSE, 0, 0, 0 },        /* leading zero */
  { "5.1.01", FALSE, 0, 0, 0 },
  { "3.1.1", FALSE, 0, 0, 0 },         /* no such class */
  { "1.0.0", FALSE, 0, 0, 0 },
  { "55.1.1", FALSE, 0, 0, 0 },
  { "5.1", FALSE, 0, 0, 0 },
  { "5..1", FALSE, 0, 0, 0 },
  { "5.1.", FALSE, 0, 0, 0 },
  { "5.1.1x", FALSE, 0, 0, 0 },        /* not followed by a blank */
  { "5.1.1.", FALSE, 0, 0, 0 },
  { "smtp; 550 5.1.1", FALSE, 0, 0, 0 },
  { "", FALSE, 0, 0, 0 },
  { NULL, FALSE, 0, 0, 0 },
};

static void
test_parse (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    {
      const ParseCase *tc = &parse_cases[i];
      guint c = 77, s = 77, d = 77;
      gboolean ok = msgtrk_status_code_parse (tc->text, &c, &s, &d);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, tc->text ? tc->text : "(null)");
      g_assert_cmpint (ok, ==, tc->ok);
      if (ok)
        {
          g_assert_cmpuint (c, ==, tc->c);
          g_assert_cmpuint (s, ==, tc->s);
          g_assert_cmpuint (d, ==, tc->d);
        }
      else
        {
          /* Outputs untouched on failure. */
          g_assert_cmpuint (c, ==, 77);
          g_assert_cmpuint (s, ==, 77);
          g_assert_cmpuint (d, ==, 77);
        }
      g_assert_cmpint (msgtrk_status_code_describe (tc->text) != NULL, ==, tc->ok);
      g_assert_cmpint (msgtrk_status_code_describe_class (tc->text) != NULL, ==, tc->ok);
    }
  /* Optional outputs. */
  g_assert_true (msgtrk_status_code_parse ("4.2.2", NULL, NULL, NULL));
}

static void
test_describe (void)
{
  static const struct
  {
    const char *code;
    const char *meaning;
  } cases[] = {
    { "5.1.1", "The recipient’s mailbox does not exist" },
    { "5.1.2", "The recipient’s mail domain does not exist or does not take mail" },
    { "4.2.2", "The recipient’s mailbox is full" },
    { "5.2.2 (over quota)", "The recipient’s mailbox is full" },
    { "4.4.1", "The next mail server does not answer" },
    { "4.4.7", "The message could not be delivered in the time allowed" },
    { "5.7.1", "The recipient’s system refused the message (not authorized)" },
    { "2.1.9", "Passed to a server that gives no tracking information" },
    { "5.1.10", "The recipient’s domain does not take mail at all" },
    { "5.7.26", "Several checks of the sender’s authenticity failed" },
    /* unknown detail: the subject's meaning */
    { "5.1.99", "There is a problem with an address" },
    { "4.4.999", "There is a network or routing problem" },
    /* X.0.0 and unknown subjects: the class */
    { "2.0.0", "Success" },
    { "4.0.0", "A temporary problem; the server keeps trying" },
    { "5.0.0", "A permanent failure; the server gives up" },
    { "5.9.1", "A permanent failure; the server gives up" },
    { "4.0.5", "A temporary problem; the server keeps trying" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpstr (msgtrk_status_code_describe (cases[i].code), ==, cases[i].meaning);
  g_assert_cmpstr (msgtrk_status_code_describe_class ("2.1.5"), ==, "success");
  g_assert_cmpstr (msgtrk_status_code_describe_class ("4.4.1"), ==,
                   "temporary failure, still trying");
  g_assert_cmpstr (msgtrk_status_code_describe_class ("5.1.1"), ==, "permanent failure");
  g_assert_null (msgtrk_status_code_describe ("not a code"));
}

/* Every subject.detail from 1.0 to 9.30 gives a meaning that is not the class alone
 * exactly for subjects 1 to 7, and no two listed details share a text. */
static void
test_table (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  const char *class_text = msgtrk_status_code_describe ("5.0.0");

  for (guint s = 1; s <= 9; s++)
    for (guint d = 0; d <= 30; d++)
      {
        g_autofree char *code = g_strdup_printf ("5.%u.%u", s, d);
        g_autofree char *subject_code = g_strdup_printf ("5.%u.0", s);
        const char *meaning = msgtrk_status_code_describe (code);

        g_assert_nonnull (meaning);
        g_assert_cmpint (g_strcmp0 (meaning, class_text) != 0, ==, s <= 7);
        if (s <= 7 && (d == 0 || g_strcmp0 (meaning, msgtrk_status_code_describe (subject_code)) != 0))
          g_assert_true (g_hash_table_add (seen, (gpointer) meaning));
      }
  /* RFC 3463 alone lists 45 subject.detail codes beyond X.0.0; the table has more. */
  g_assert_cmpuint (g_hash_table_size (seen), >=, 45);
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("RFC 3463 enhanced status codes: parsing and meanings in words");
  g_test_add_func ("/status-code/parse", test_parse);
  g_test_add_func ("/status-code/describe", test_describe);
  g_test_add_func ("/status-code/table", test_table);
  return g_test_run ();
}
