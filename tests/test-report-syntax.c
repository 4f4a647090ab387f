/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-report-syntax.c: unit tests of the report field syntax (lib/msgtrk-report-syntax.c;
 * RFC 3464, RFC 3886, RFC 8098, RFC 5322 section 2.2).
 *
 * The block parser is table-driven: each case is fed whole, one octet at a time and in
 * every split into two pieces, and must give the same blocks or the same error code. Each
 * limit (fields per block, recipient blocks, unfolded field length) is tested at the limit
 * and one past it. The writers (the folding field writer, typed values, status codes,
 * dispositions, Action words) are checked against tables and round-trip through their
 * parsers.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-report-syntax-private.h"
#include "test-util.h"

#define OK (-1)

/* The blocks as one string: fields "name=value" joined by "|", blocks by " / ". */
static char *
blocks_to_string (GPtrArray *blocks)
{
  GString *out = g_string_new (NULL);

  for (guint b = 0; b < blocks->len; b++)
    {
      GPtrArray *block = g_ptr_array_index (blocks, b);

      if (b > 0)
        g_string_append (out, " / ");
      for (guint i = 0; i < block->len; i++)
        {
          MsgtrkReportField *field = g_ptr_array_index (block, i);

          g_string_append_printf (out, "%s%s=%s", i > 0 ? "|" : "", field->name, field->value);
        }
    }
  return g_string_free (out, FALSE);
}

/* Parse @len octets of @data fed as mode 0 (whole), 1 (byte by byte) or 2 (cut at @cut). */
static GPtrArray *
parse_fed (const char *data,
           gsize       len,
           guint       mode,
           gsize       cut,
           GError    **error)
{
  g_auto (MsgtrkReportBlockParser) parser = { 0 };
  gsize pos = 0;

  msgtrk_report_block_parser_init (&parser, "test");
  while (pos < len)
    {
      gsize end = mode == 1 ? pos + 1 : mode == 2 && pos < cut ? cut : len;

      if (!msgtrk_report_block_parser_feed (&parser, data + pos, end - pos, error))
        return NULL;
      pos = end;
    }
  return msgtrk_report_block_parser_finish (&parser, error);
}

/* Every way of feeding gives @expected (or the error @code). */
static void
check_all_feeds (const char *data,
                 gsize       len,
                 int         code,
                 const char *expected)
{
  for (guint mode = 0; mode < 3; mode++)
    for (gsize cut = mode == 2 ? 1 : 0; cut < (mode == 2 ? len : 1); cut++)
      {
        g_autoptr (GError) error = NULL;
        g_autoptr (GPtrArray) blocks = parse_fed (data, len, mode, cut, &error);

        if (code == OK)
          {
            g_autofree char *got = NULL;

            if (error != NULL)
              g_error ("“%s” mode %u cut %" G_GSIZE_FORMAT ": %s", data, mode, cut,
                       error->message);
            got = blocks_to_string (blocks);
            if (expected != NULL)
              g_assert_cmpstr (got, ==, expected);
          }
        else
          {
            g_assert_null (blocks);
            g_assert_error (error, MSGTRK_ERROR, code);
          }
      }
}

static void
test_blocks_table (void)
{
  const struct
  {
    const char *data;
    int code;
    const char *blocks;
  } cases[] = {
    { "Reporting-MTA: dns; a.example\r\n\r\nFinal-Recipient: rfc822; b@c\r\nAction: failed\r\n",
      OK, "Reporting-MTA=dns; a.example / Final-Recipient=rfc822; b@c|Action=failed" },
    { "A: 1\nB: 2\n\n\n\nC: 3", OK, "A=1|B=2 / C=3" },
    { "\r\n\r\nA: x\r\n", OK, "A=x" },
    { "A: folded\r\n  value\r\n\tmore\r\n", OK, "A=folded  value\tmore" },
    { "A : spaced name\r\n", OK, "A=spaced name" },
    { "A:\r\n", OK, "A=" },
    { "A: x\r\n \t \r\nB: y\r\n", OK, "A=x / B=y" },
    { "A: caf\xc3\xa9\r\n", OK, "A=caf\xc3\xa9" },
    { "A: bad \xff utf-8\r\n", OK, "A=bad \xef\xbf\xbd utf-8" },
    { " folded first\r\n", MSGTRK_ERROR_PARSE, NULL },
    { "no colon\r\n", MSGTRK_ERROR_PARSE, NULL },
    { ": empty name\r\n", MSGTRK_ERROR_PARSE, NULL },
    { "Sp ace: x\r\n", MSGTRK_ERROR_PARSE, NULL },
    { "N\xc3\xa4me: x\r\n", MSGTRK_ERROR_PARSE, NULL },
    { "A: x\x01y\r\n", MSGTRK_ERROR_PARSE, NULL },
    { "A: x\ry\r\n", MSGTRK_ERROR_PARSE, NULL },
    { "A: x\x7f\r\n", MSGTRK_ERROR_PARSE, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    check_all_feeds (cases[i].data, strlen (cases[i].data), cases[i].code, cases[i].blocks);
  /* A NUL octet anywhere. */
  check_all_feeds ("A: x\0y\r\n", 8, MSGTRK_ERROR_PARSE, NULL);
}

/* Fields per block, recipient blocks, unfolded field length: at the limit and one past. */
static void
test_blocks_limits (void)
{
  g_autoptr (GString) fields_at = g_string_new (NULL);
  g_autoptr (GString) blocks_at = g_string_new ("M: m\r\n");
  g_autofree char *long_value = g_strnfill (MSGTRK_REPORT_MAX_FIELD_LENGTH - strlen ("A: "), 'v');
  g_autofree char *field_at = g_strdup_printf ("A: %s\r\n", long_value);
  g_autofree char *field_past = g_strdup_printf ("A: %sv\r\n", long_value);
  g_autofree char *folded_at = g_strdup_printf ("A: %.*s\r\n %s\r\n", 10, long_value,
                                                long_value + 11);
  g_autofree char *fields_past = NULL;
  g_autofree char *blocks_past = NULL;

  for (guint i = 0; i < MSGTRK_REPORT_MAX_FIELDS; i++)
    g_string_append_printf (fields_at, "F%u: x\r\n", i);
  fields_past = g_strdup_printf ("%sX: y\r\n", fields_at->str);
  for (guint i = 0; i < MSGTRK_REPORT_MAX_RECIPIENTS; i++)
    g_string_append_printf (blocks_at, "\r\nR: %u\r\n", i);
  blocks_past = g_strdup_printf ("%s\r\nR: x\r\n", blocks_at->str);

  check_all_feeds (fields_at->str, fields_at->len, OK, NULL);
  check_all_feeds (fields_past, strlen (fields_past), MSGTRK_ERROR_LIMIT, NULL);
  check_all_feeds (field_at, strlen (field_at), OK, NULL);
  check_all_feeds (field_past, strlen (field_past), MSGTRK_ERROR_LIMIT, NULL);
  /* Unfolding keeps the folding white space: 10 + " " + the rest is exactly the limit. */
  check_all_feeds (folded_at, strlen (folded_at), OK, NULL);
  {
    g_autoptr (GPtrArray) blocks = msgtrk_report_blocks_parse (blocks_at->str, blocks_at->len,
                                                               "test", NULL);

    g_assert_nonnull (blocks);
    g_assert_cmpuint (blocks->len, ==, MSGTRK_REPORT_MAX_RECIPIENTS + 1);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) blocks = msgtrk_report_blocks_parse (blocks_past, strlen (blocks_past),
                                                               "test", &error);

    g_assert_null (blocks);
    g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  }
}

/* The folding writer: lines within the width where the value allows, and the value back. */
static void
test_field_write (void)
{
  const char *values[] = {
    "",
    "short",
    "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual "
    "mailbox table, and a little more text so that it folds twice at least somewhere",
    "noSpacesAtAllInThisVeryLongValueWhichCannotBeFoldedAnywhereSoItStaysOnOneLongLineOk",
    "tabs\there  and  double  spaces  survive folding when the line is long enough to fold",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autoptr (GString) out = g_string_new (NULL);
      g_autoptr (GPtrArray) blocks = NULL;
      g_autoptr (GError) error = NULL;
      MsgtrkReportField *field;
      g_auto (GStrv) lines = NULL;

      msgtrk_report_field_write (out, "Diagnostic-Code", values[i]);
      lines = g_strsplit (out->str, "\r\n", -1);
      for (guint l = 0; lines[l] != NULL; l++)
        if (strchr (lines[l], ' ') != NULL && strlen (lines[l]) > MSGTRK_REPORT_FOLD_WIDTH)
          {
            /* Only a line without a fold point may be longer. */
            const char *space = strchr (lines[l] + 1, ' ');
            g_assert_true (space == NULL || l == 0);
          }
      blocks = msgtrk_report_blocks_parse (out->str, out->len, "test", &error);
      g_assert_no_error (error);
      g_assert_cmpuint (blocks->len, ==, 1);
      field = g_ptr_array_index ((GPtrArray *) g_ptr_array_index (blocks, 0), 0);
      g_assert_cmpstr (field->name, ==, "Diagnostic-Code");
      g_assert_cmpstr (field->value, ==, values[i]);
    }
}

/* address-type ";" address and mta-name-type ";" mta-name: parser table, writer round trip. */
static void
test_typed (void)
{
  const struct
  {
    const char *value;
    const char *type;
    const char *rest;
  } cases[] = {
    { "rfc822; bob@example.org", "rfc822", "bob@example.org" },
    { "rfc822;bob@example.org", "rfc822", "bob@example.org" },
    { "  dns ;  mx.example  ", "dns", "mx.example" },
    { "utf-8; j\xc3\xb6rg@example.org", "utf-8", "j\xc3\xb6rg@example.org" },
    { "x-local; a;b", "x-local", "a;b" },
    { "rfc822", NULL, NULL },
    { "; bob@example.org", NULL, NULL },
    { "rfc822; ", NULL, NULL },
    { "rfc 822; bob", NULL, NULL },
    { "rfc<822>; bob", NULL, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *type = NULL, *rest = NULL;
      gboolean ok = msgtrk_report_typed_parse (cases[i].value, &type, &rest);

      g_assert_cmpint (ok, ==, cases[i].type != NULL);
      g_assert_cmpstr (type, ==, cases[i].type);
      g_assert_cmpstr (rest, ==, cases[i].rest);
      if (ok)
        {
          g_autofree char *written = msgtrk_report_typed_write (type, rest);
          g_autofree char *type2 = NULL, *rest2 = NULL;

          g_assert_true (msgtrk_report_typed_parse (written, &type2, &rest2));
          g_assert_cmpstr (type2, ==, type);
          g_assert_cmpstr (rest2, ==, rest);
        }
    }
}

/* status-code [comment] (RFC 3464 2.3.4, RFC 3463): parser table, writer round trip. */
static void
test_status_code (void)
{
  const struct
  {
    const char *value;
    gboolean ok;
    guint cls, subject, detail;
    const char *comment;
  } cases[] = {
    { "2.0.0", TRUE, 2, 0, 0, NULL },
    { "5.1.1 (user unknown)", TRUE, 5, 1, 1, "user unknown" },
    { "4.4.7 (a \\(nested\\) one)", TRUE, 4, 4, 7, "a (nested) one" },
    { "5.999.999", TRUE, 5, 999, 999, NULL },
    { "5.1.1 plain words", TRUE, 5, 1, 1, "plain words" },
    { "3.0.0", FALSE, 0, 0, 0, NULL },
    { "5.1", FALSE, 0, 0, 0, NULL },
    { "5.1000.0", FALSE, 0, 0, 0, NULL },
    { "55.1.1", FALSE, 0, 0, 0, NULL },
    { "5.1.1x", FALSE, 0, 0, 0, NULL },
    { "", FALSE, 0, 0, 0, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint cls = 0, subject = 0, detail = 0;
      gsize code_len = 0;
      g_autofree char *comment = NULL;
      gboolean ok = msgtrk_report_status_code_parse (cases[i].value, &cls, &subject, &detail,
                                                     &code_len, &comment);

      g_assert_cmpint (ok, ==, cases[i].ok);
      if (!ok)
        continue;
      g_assert_cmpuint (cls, ==, cases[i].cls);
      g_assert_cmpuint (subject, ==, cases[i].subject);
      g_assert_cmpuint (detail, ==, cases[i].detail);
      g_assert_cmpstr (comment, ==, cases[i].comment);
      {
        g_autofree char *code = g_strndup (cases[i].value, code_len);
        g_autofree char *written = msgtrk_report_status_code_write (code, comment, NULL);
        g_autofree char *comment2 = NULL;

        g_assert_true (msgtrk_report_status_code_parse (written, NULL, NULL, NULL, NULL,
                                                        &comment2));
        g_assert_cmpstr (comment2, ==, comment);
      }
    }
  {
    g_autoptr (GError) error = NULL;
    g_autofree char *bad = msgtrk_report_status_code_write ("5.1.1 (x)", NULL, &error);

    g_assert_null (bad);
    g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  }
  {
    g_autofree char *written = msgtrk_report_status_code_write ("5.1.1", "a\\b (c) d", NULL);
    g_autofree char *comment = NULL;

    g_assert_cmpstr (written, ==, "5.1.1 (a\\\\b \\(c\\) d)");
    g_assert_true (msgtrk_report_status_code_parse (written, NULL, NULL, NULL, NULL, &comment));
    g_assert_cmpstr (comment, ==, "a\\b (c) d");
  }
}

/* Disposition (RFC 8098 3.2.6) and the Action words (RFC 3464 2.3.3, RFC 3886 3.3.3). */
static void
test_disposition_action (void)
{
  const struct
  {
    const char *value;
    MsgtrkDisposition type;
    const char *text;
  } cases[] = {
    { "automatic-action/MDN-sent-automatically; displayed", MSGTRK_DISPOSITION_DISPLAYED,
      "displayed" },
    { " manual-action / MDN-sent-manually ; Deleted / error", MSGTRK_DISPOSITION_DELETED,
      "Deleted" },
    { "a/b; frobbed", MSGTRK_DISPOSITION_UNKNOWN, "frobbed" },
    { "a/b", MSGTRK_DISPOSITION_UNKNOWN, NULL },
    { "ab; displayed", MSGTRK_DISPOSITION_UNKNOWN, NULL },
    { "/b; displayed", MSGTRK_DISPOSITION_UNKNOWN, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      MsgtrkDisposition type = MSGTRK_DISPOSITION_UNKNOWN;
      g_autofree char *text = NULL;
      gboolean ok = msgtrk_report_disposition_parse (cases[i].value, &type, &text);

      g_assert_cmpint (ok, ==, cases[i].text != NULL);
      g_assert_cmpstr (text, ==, cases[i].text);
      if (ok)
        {
          g_autofree char *written = msgtrk_report_disposition_write ("automatic-action",
                                                                      "MDN-sent-automatically",
                                                                      text);
          MsgtrkDisposition type2 = MSGTRK_DISPOSITION_UNKNOWN;

          g_assert_cmpint (type, ==, cases[i].type);
          g_assert_true (msgtrk_report_disposition_parse (written, &type2, NULL));
          g_assert_cmpint (type2, ==, type);
        }
    }

  for (int a = MSGTRK_ACTION_NONE; a <= MSGTRK_ACTION_OPAQUE; a++)
    {
      const char *word = msgtrk_action_to_string ((MsgtrkAction) a);

      if (word != NULL)
        g_assert_cmpint (msgtrk_action_from_string (word), ==, a);
    }
  g_assert_cmpint (msgtrk_action_from_string ("  Delivered "), ==, MSGTRK_ACTION_DELIVERED);
  g_assert_cmpint (msgtrk_action_from_string ("bounced"), ==, MSGTRK_ACTION_UNKNOWN);
  g_assert_cmpint (msgtrk_action_from_string (NULL), ==, MSGTRK_ACTION_NONE);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The report field syntax: blocks fed whole, byte by byte and in two "
                  "pieces; limits; a writer beside each parser");

  g_test_add_func ("/report-syntax/blocks/table", test_blocks_table);
  g_test_add_func ("/report-syntax/blocks/limits", test_blocks_limits);
  g_test_add_func ("/report-syntax/field/write", test_field_write);
  g_test_add_func ("/report-syntax/typed", test_typed);
  g_test_add_func ("/report-syntax/status-code", test_status_code);
  g_test_add_func ("/report-syntax/disposition-action", test_disposition_action);
  return g_test_run ();
}
