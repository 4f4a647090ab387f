/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-smtp-syntax.c: unit tests of the SMTP syntax layer (lib/msgtrk-smtp-syntax.c): the
 * one path and mailbox parser (RFC 5321 section 4.1.2, RFC 6531), the parameter writers
 * beside their parsers, and xtext.
 *
 * The path parser is table-driven: each case is fed whole, one octet at a time and in
 * every split into two pieces, and must give the same mailbox, the same error code and the
 * same count of octets used. The value parsers take whole strings: each case is also given
 * as every prefix in a buffer of exactly its size (one octet more at a time), which they
 * must never read past (ASan). Each
 * limit (mailbox length, source route) is tested at the limit and one past it. The writers
 * are checked against a table, append nothing on failure, and round-trip through the
 * parsers.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-smtp-syntax-private.h"
#include "test-util.h"

#define OK (-1)

/* ---- feeding ---------------------------------------------------------------------- */

/* Each case is fed in every way of test-util.h's mt_feed_all(). */

/* Parse a path out of @wire fed as @feed; the mailbox, or NULL with @error set. */
static char *
path_from_wire (const char         *wire,
                gsize               len,
                const MtFeed         *feed,
                MsgtrkSmtpPathFlags flags,
                gsize               max,
                gsize              *consumed,
                GError            **error)
{
  g_auto (MsgtrkSmtpPathParser) parser = { 0 };
  gsize pos = 0;

  msgtrk_smtp_path_parser_init (&parser, flags, max);
  while (pos < len)
    {
      gsize end = mt_feed_piece_end (feed, pos, len);
      gsize used = 0;
      MsgtrkSmtpParseResult r;

      r = msgtrk_smtp_path_parser_feed (&parser, wire + pos, end - pos, &used, error);
      if (r == MSGTRK_SMTP_PARSE_ERROR)
        return NULL;
      if (r == MSGTRK_SMTP_PARSE_MORE)
        g_assert_cmpuint (used, ==, end - pos);
      pos += used;
      if (r == MSGTRK_SMTP_PARSE_DONE)
        {
          *consumed = pos;
          return msgtrk_smtp_path_parser_steal (&parser, NULL);
        }
    }
  g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "incomplete");
  return NULL;
}

/* ---- paths ------------------------------------------------------------------------ */

#define NUL_F MSGTRK_SMTP_PATH_NULL
#define PM_F  MSGTRK_SMTP_PATH_POSTMASTER
#define U8_F  MSGTRK_SMTP_PATH_UTF8
#define FR_F  MSGTRK_SMTP_PATH_FRAMING
#define INCOMPLETE MSGTRK_ERROR_FAILED

typedef struct
{
  const char *wire;
  guint flags;
  int error;           /* OK: parses */
  const char *mailbox; /* as returned */
  gsize consumed;      /* 0: the whole wire */
} PathCase;

static const PathCase path_cases[] = {
  { "<a@example.org>", 0, OK, "a@example.org", 0 },
  { "  <a@example.org> SIZE=1", 0, OK, "a@example.org", 17 },
  { "<A.B+tag=x@Sub.Example.ORG>", 0, OK, "A.B+tag=x@Sub.Example.ORG", 0 },
  { "<!#$%&'*+-/=?^_`{|}~@x>", 0, OK, "!#$%&'*+-/=?^_`{|}~@x", 0 },
  { "<a..b@example.jp>", 0, OK, "a..b@example.jp", 0 },
  { "<\"john doe\"@example.org>", 0, OK, "\"john doe\"@example.org", 0 },
  { "<\"a\\\"b\"@c>", 0, OK, "\"a\\\"b\"@c", 0 },
  { "<\"a>b\"@c>", 0, OK, "\"a>b\"@c", 0 },
  { "<@hop1.example,@hop2.example:a@b>", 0, OK, "a@b", 0 },
  { "<a@[192.0.2.1]>", 0, OK, "a@[192.0.2.1]", 0 },
  { "<a@[IPv6:2001:db8::1]>", 0, OK, "a@[IPv6:2001:db8::1]", 0 },
  { "<a@b-c.d1>", 0, OK, "a@b-c.d1", 0 },
  { "<>", NUL_F, OK, "", 0 },
  { "<Postmaster>", PM_F, OK, "Postmaster", 0 },
  { "<j\xc3\xb6rg@b\xc3\xbc" "cher.example>", U8_F, OK, "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 0 },
  { "<\"\xc3\xa9\"@x>", U8_F, OK, "\"\xc3\xa9\"@x", 0 },
  /* framing only: the mailbox is not judged */
  { "<a(b)>", FR_F, OK, "a(b)", 0 },
  { "<\"a>b\">x", FR_F, OK, "\"a>b\"", 7 },
  { "<@r:what ever>", FR_F, OK, "what ever", 0 },
  { "<>", NUL_F | FR_F, OK, "", 0 },
  { "<a\"b>", FR_F, INCOMPLETE, NULL, 0 },
  { "<a\rb>", FR_F, MSGTRK_ERROR_PARSE, NULL, 0 },
  /* refused */
  { "<>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<Postmaster>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<webmaster>", PM_F, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "a@b", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b", 0, INCOMPLETE, NULL, 0 },
  { "<a(b)@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a b@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a<b@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a\"b\"@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<\"a\"b@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<\"a@c>", 0, INCOMPLETE, NULL, 0 },
  { "<\"a\\\x01\"@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<\"a\x01\"@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a\x7f@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b\r\n>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<@a>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<@a b:c@d>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<@b>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<\"a\">", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@.b>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b.>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b..c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@-b>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b->", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b-.c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b_c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b@c>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@[1.2.3.4>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@[1<2]>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@[1.2.3.4]x>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b[1]>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<j\xc3\xb6rg@example.org>", 0, MSGTRK_ERROR_UNSUPPORTED, NULL, 0 },
  { "<\xff@example.org>", U8_F, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<\xc3@example.org>", 0, MSGTRK_ERROR_PARSE, NULL, 0 },
  { "<a@b>", 0, OK, "a@b", 0 },
};

static void
test_path_table (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (path_cases); i++)
    {
      const PathCase *c = &path_cases[i];
      gsize len = strlen (c->wire);
      g_autoptr (GArray) feeds = mt_feed_all (len);

      for (guint j = 0; j < feeds->len; j++)
        {
          const MtFeed *feed = &g_array_index (feeds, MtFeed, j);
          g_autoptr (GError) error = NULL;
          g_autofree char *mailbox = NULL;
          gsize consumed = 0;

          mailbox = path_from_wire (c->wire, len, feed, c->flags, MSGTRK_SMTP_ADDRESS_MAX_LENGTH,
                                    &consumed, &error);
          if (c->error == OK)
            {
              if (error != NULL)
                g_error ("case %" G_GSIZE_FORMAT " (%s), feed %u/%" G_GSIZE_FORMAT ": %s", i,
                         c->wire, feed->mode, feed->cut, error->message);
              g_assert_cmpstr (mailbox, ==, c->mailbox);
              g_assert_cmpuint (consumed, ==, c->consumed ? c->consumed : len);
            }
          else
            {
              if (mailbox != NULL)
                g_error ("case %" G_GSIZE_FORMAT " (%s) parsed as “%s”", i, c->wire, mailbox);
              g_assert_error (error, MSGTRK_ERROR, c->error);
            }
        }
    }
}

/* The whole-string entry point agrees with the parser, and says "no closing '>'". */
static void
test_path_parse (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *box = NULL;
  gsize used = 0;

  box = msgtrk_smtp_path_parse ("<a@b> X", 7, 0, 254, &used, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (box, ==, "a@b");
  g_assert_cmpuint (used, ==, 5);
  g_clear_pointer (&box, g_free);
  box = msgtrk_smtp_path_parse ("<a@b", 4, 0, 254, &used, &error);
  g_assert_null (box);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
}

/* The mailbox limit at N and N+1, the source route's too; the parser stops at the limit. */
static void
test_path_limits (void)
{
  const gsize max = MSGTRK_SMTP_ADDRESS_MAX_LENGTH;
  g_autofree char *local_at = g_strnfill (max - strlen ("@example.org"), 'l');
  g_autofree char *at = g_strdup_printf ("<%s@example.org>", local_at);
  g_autofree char *past = g_strdup_printf ("<%sl@example.org>", local_at);
  g_autofree char *route_body = g_strnfill (max - 1, 'r');
  g_autofree char *route_at = g_strdup_printf ("<@%s:a@b>", route_body);
  g_autofree char *route_past = g_strdup_printf ("<@%sr:a@b>", route_body);
  g_autofree char *huge = g_strnfill (200000, 'x');
  g_autoptr (GError) error = NULL;
  g_autofree char *box = NULL;
  g_auto (MsgtrkSmtpPathParser) parser = { 0 };
  gsize used = 0;

  box = msgtrk_smtp_path_parse (at, strlen (at), 0, max, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (box), ==, max);
  g_clear_pointer (&box, g_free);
  box = msgtrk_smtp_path_parse (past, strlen (past), 0, max, NULL, &error);
  g_assert_null (box);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);

  box = msgtrk_smtp_path_parse (route_at, strlen (route_at), 0, max, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (box, ==, "a@b");
  g_clear_pointer (&box, g_free);
  box = msgtrk_smtp_path_parse (route_past, strlen (route_past), 0, max, NULL, &error);
  g_assert_null (box);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);

  /* 200,000 octets: refused at octet max + 2 (after "<"), never buffered. */
  huge[0] = '<';
  msgtrk_smtp_path_parser_init (&parser, 0, max);
  g_assert_cmpint (msgtrk_smtp_path_parser_feed (&parser, huge, strlen (huge), &used, &error), ==,
                   MSGTRK_SMTP_PARSE_ERROR);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_cmpuint (used, ==, max + 2);
  g_assert_cmpuint (parser.mailbox->len, ==, max);
}

/* ---- path lists (public: msgtrk_smtp_path_list_split) ------------------------------- */

typedef struct
{
  const char *text;
  const char *joined; /* the mailboxes joined by "|", or NULL */
  int error;
} PathListCase;

static const PathListCase path_list_cases[] = {
  { "<a@example.org>", "a@example.org", OK },
  { "<a@example.org>,<b@example.org>", "a@example.org|b@example.org", OK },
  { " <a@b> , <c@d> ", "a@b|c@d", OK },
  { "", "", OK },
  { "   ", "", OK },
  /* a quoted local part with a comma and angle brackets is one path */
  { "<\"x,y\"@example.org>,<\"<z>\"@example.org>", "\"x,y\"@example.org|\"<z>\"@example.org", OK },
  { "<\"a\\\"b,\"@c>", "\"a\\\"b,\"@c", OK },
  { "<@relay.example:a@b>", "a@b", OK },
  { "<Postmaster>", "Postmaster", OK },
  { "<j\xc3\xb6rg@example.org>", "j\xc3\xb6rg@example.org", OK },
  /* what the naive split got wrong or let through */
  { "a@example.org", NULL, MSGTRK_ERROR_PARSE },
  { "<a@b>,,<c@d>", NULL, MSGTRK_ERROR_PARSE },
  { "<a@b>,", NULL, MSGTRK_ERROR_PARSE },
  { ",<a@b>", NULL, MSGTRK_ERROR_PARSE },
  { "<a@b> <c@d>", NULL, MSGTRK_ERROR_PARSE },
  { "<a@b>x", NULL, MSGTRK_ERROR_PARSE },
  { "<>", NULL, MSGTRK_ERROR_PARSE },
  { "<a@b", NULL, MSGTRK_ERROR_PARSE },
  { "<\"a@b>", NULL, MSGTRK_ERROR_PARSE },
  { "<a@b>,<c\r@d>", NULL, MSGTRK_ERROR_PARSE },
  { "<j\xc3@example.org>", NULL, MSGTRK_ERROR_PARSE },
};

static void
test_path_list (void)
{
  g_test_summary ("msgtrk_smtp_path_list_split(): a list of paths cut by the one path "
                  "parser (quoted commas and brackets stay inside), strict separators");
  for (gsize i = 0; i < G_N_ELEMENTS (path_list_cases); i++)
    {
      const PathListCase *c = &path_list_cases[i];
      g_auto (GStrv) boxes = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *shown = g_strescape (c->text, NULL);
      gboolean ok = msgtrk_smtp_path_list_split (c->text, &boxes, &error);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, shown);
      if (c->error == OK)
        {
          g_autofree char *joined = NULL;

          g_assert_no_error (error);
          g_assert_true (ok);
          joined = g_strjoinv ("|", boxes);
          g_assert_cmpstr (joined, ==, c->joined);
        }
      else
        {
          g_assert_false (ok);
          g_assert_null (boxes);
          g_assert_error (error, MSGTRK_ERROR, c->error);
        }
    }
}

/* Each mailbox at MSGTRK_SMTP_ADDRESS_MAX_LENGTH and past; MSGTRK_SMTP_PATH_LIST_MAX paths
 * and one more. */
static void
test_path_list_limits (void)
{
  const gsize max = MSGTRK_SMTP_ADDRESS_MAX_LENGTH;
  g_autofree char *local_at = g_strnfill (max - strlen ("@example.org"), 'l');
  g_autofree char *at = g_strdup_printf ("<a@b>,<%s@example.org>", local_at);
  g_autofree char *past = g_strdup_printf ("<a@b>,<%sl@example.org>", local_at);
  g_autoptr (GString) list = g_string_new (NULL);
  g_auto (GStrv) boxes = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (msgtrk_smtp_path_list_split (at, &boxes, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (boxes), ==, 2);
  g_assert_cmpuint (strlen (boxes[1]), ==, max);
  g_clear_pointer (&boxes, g_strfreev);
  g_assert_false (msgtrk_smtp_path_list_split (past, &boxes, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (boxes);
  g_clear_error (&error);

  for (guint i = 0; i < MSGTRK_SMTP_PATH_LIST_MAX; i++)
    g_string_append_printf (list, "%s<r%u@example.org>", i > 0 ? "," : "", i);
  g_assert_true (msgtrk_smtp_path_list_split (list->str, &boxes, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (boxes), ==, MSGTRK_SMTP_PATH_LIST_MAX);
  g_assert_cmpstr (boxes[MSGTRK_SMTP_PATH_LIST_MAX - 1], ==, "r999@example.org");
  g_clear_pointer (&boxes, g_strfreev);
  g_string_append (list, ",<one@more.example>");
  g_assert_false (msgtrk_smtp_path_list_split (list->str, &boxes, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (boxes);
}

/* ---- mailboxes and the path writer ------------------------------------------------ */

typedef struct
{
  const char *mailbox;
  guint flags;
  int error;
} MailboxCase;

static const MailboxCase mailbox_cases[] = {
  { "a@example.org", 0, OK },
  { "\"john doe\"@example.org", 0, OK },
  { "\"a\\\"b\"@c", 0, OK },
  { "", NUL_F, OK },
  { "postmaster", PM_F, OK },
  { "j\xc3\xb6rg@example.org", U8_F, OK },
  { "a@[192.0.2.1]", 0, OK },
  { "", 0, MSGTRK_ERROR_PARSE },
  { "postmaster", 0, MSGTRK_ERROR_PARSE },
  { "<a@b>", 0, MSGTRK_ERROR_PARSE },
  { "a@b>", 0, MSGTRK_ERROR_PARSE },
  { "a@b> SIZE=1", 0, MSGTRK_ERROR_PARSE },
  { "a@b SIZE=1", 0, MSGTRK_ERROR_PARSE },
  { " a@b", 0, MSGTRK_ERROR_PARSE },
  { "a@b\r\nRSET", 0, MSGTRK_ERROR_PARSE },
  { "\"a\\>\"@b", 0, MSGTRK_ERROR_PARSE },
  { "\"a>\"@b", 0, MSGTRK_ERROR_PARSE },
  { "\"a@b", 0, MSGTRK_ERROR_PARSE },
  { "a@", 0, MSGTRK_ERROR_PARSE },
  { "j\xc3\xb6rg@example.org", 0, MSGTRK_ERROR_UNSUPPORTED },
  { "\xff@example.org", U8_F, MSGTRK_ERROR_PARSE },
};

static void
test_mailbox_write (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (mailbox_cases); i++)
    {
      const MailboxCase *c = &mailbox_cases[i];
      g_autoptr (GString) out = g_string_new ("MAIL FROM:");
      g_autoptr (GError) error = NULL;
      gboolean ok = msgtrk_smtp_path_write (out, c->mailbox, c->flags,
                                            MSGTRK_SMTP_ADDRESS_MAX_LENGTH, NULL, &error);

      if (c->error != OK)
        {
          g_assert_false (ok);
          g_assert_error (error, MSGTRK_ERROR, c->error);
          g_assert_cmpstr (out->str, ==, "MAIL FROM:"); /* nothing appended */
          continue;
        }
      g_assert_no_error (error);
      g_assert_true (ok);
      /* What the writer writes, the parser gives back unchanged. */
      {
        const char *path = out->str + strlen ("MAIL FROM:");
        g_autofree char *back = msgtrk_smtp_path_parse (path, strlen (path), c->flags,
                                                        MSGTRK_SMTP_ADDRESS_MAX_LENGTH, NULL,
                                                        &error);

        g_assert_no_error (error);
        g_assert_cmpstr (back, ==, c->mailbox);
      }
    }
}

/* ---- parameters ------------------------------------------------------------------- */

/* A value parser; each case is also given as every prefix, in a buffer of exactly its
 * size plus the NUL the C API needs: the parser never reads past it. */
typedef gboolean (*ValueParse) (const char *value);

static gboolean
parse_envid (const char *v)
{
  g_autofree char *envid = NULL;
  return msgtrk_envid_param_parse (v, &envid, NULL);
}

static gboolean
parse_mtrk (const char *v)
{
  g_autofree char *b = NULL;
  return msgtrk_mtrk_param_parse (v, &b, NULL, NULL);
}

static gboolean
parse_notify (const char *v)
{
  MsgtrkDsnNotify n;
  return msgtrk_notify_param_parse (v, &n, NULL);
}

static gboolean
parse_orcpt (const char *v)
{
  g_autofree char *t = NULL, *a = NULL;
  return msgtrk_orcpt_param_parse (v, &t, &a, NULL);
}

static gboolean
parse_ret (const char *v)
{
  MsgtrkDsnRet r;
  return msgtrk_ret_param_parse (v, &r, NULL);
}

static gboolean
parse_params (const char *v)
{
  g_autoptr (GHashTable) t = msgtrk_smtp_params_parse (v, NULL);
  return t != NULL;
}

static gboolean
parse_xtext (const char *v)
{
  g_autofree char *d = msgtrk_xtext_decode (v, NULL);
  return d != NULL;
}

#define B_VALID "AAAAAAAAAAAAAAAAAAAAAAAAAAA="

static void
test_value_prefixes (void)
{
  const struct
  {
    ValueParse parse;
    const char *text;
    gboolean ok;
  } cases[] = {
    { parse_envid, "mtrk.abc+2B@example.org", TRUE },
    { parse_envid, "a+0D+0Ab", FALSE },
    { parse_mtrk, B_VALID ":86400", TRUE },
    { parse_mtrk, B_VALID ":0", FALSE },
    { parse_notify, "SUCCESS,FAILURE,DELAY", TRUE },
    { parse_notify, "NEVER,SUCCESS", FALSE },
    { parse_orcpt, "rfc822;a+2Bb@example.org", TRUE },
    { parse_orcpt, "rfc822;a+0D@example.org", FALSE },
    { parse_ret, "HDRS", TRUE },
    { parse_params, "ENVID=a RET=HDRS MTRK=" B_VALID ":1 SMTPUTF8", TRUE },
    { parse_params, "ENVID=a ENVID=b", FALSE },
    { parse_xtext, "a+2Bb+3D", TRUE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize len = strlen (cases[i].text);

      g_assert_cmpint (cases[i].parse (cases[i].text), ==, cases[i].ok);
      for (gsize n = 0; n <= len; n++)
        {
          g_autofree char *prefix = g_malloc (n + 1);

          memcpy (prefix, cases[i].text, n);
          prefix[n] = '\0';
          (void) cases[i].parse (prefix);
        }
    }
}

/* The writers: a table of outputs, nothing appended on failure, and parse(write(x)) == x. */
static void
test_param_writers (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) params = NULL;
  g_autofree char *envid = NULL, *b = NULL, *type = NULL, *addr = NULL;
  guint timeout = 0;
  MsgtrkDsnRet ret = MSGTRK_DSN_RET_UNSET;
  g_autofree char *too_long = g_strnfill (MSGTRK_ENVID_MAX_LENGTH / 3 + 1, '+');

  g_assert_true (msgtrk_smtp_param_write (out, "SMTPUTF8", NULL, &error));
  g_assert_true (msgtrk_smtp_param_write (out, "RET",
                                          msgtrk_smtp_ret_param_word (MSGTRK_DSN_RET_HDRS),
                                          &error));
  g_assert_true (msgtrk_smtp_envid_param_write (out, "a b+c=d", &error));
  g_assert_true (msgtrk_smtp_mtrk_param_write (out, B_VALID, 3600, &error));
  g_assert_true (msgtrk_smtp_orcpt_param_write (out, "rfc822", "x+y@example.org", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (out->str, ==,
                   " SMTPUTF8 RET=HDRS ENVID=a+20b+2Bc+3Dd MTRK=" B_VALID ":3600"
                   " ORCPT=rfc822;x+2By@example.org");
  g_assert_null (msgtrk_smtp_ret_param_word (MSGTRK_DSN_RET_UNSET));

  params = msgtrk_smtp_params_parse (out->str, &error);
  g_assert_no_error (error);
  g_assert_true (g_hash_table_contains (params, "SMTPUTF8"));
  g_assert_true (msgtrk_ret_param_parse (g_hash_table_lookup (params, "RET"), &ret, NULL));
  g_assert_cmpint (ret, ==, MSGTRK_DSN_RET_HDRS);
  g_assert_true (msgtrk_envid_param_parse (g_hash_table_lookup (params, "ENVID"), &envid, NULL));
  g_assert_cmpstr (envid, ==, "a b+c=d");
  g_assert_true (msgtrk_mtrk_param_parse (g_hash_table_lookup (params, "MTRK"), &b, &timeout,
                                          NULL));
  g_assert_cmpstr (b, ==, B_VALID);
  g_assert_cmpuint (timeout, ==, 3600);
  g_assert_true (msgtrk_orcpt_param_parse (g_hash_table_lookup (params, "ORCPT"), &type, &addr,
                                           NULL));
  g_assert_cmpstr (type, ==, "rfc822");
  g_assert_cmpstr (addr, ==, "x+y@example.org");

  /* Refusals append nothing. */
  g_string_truncate (out, 0);
  g_assert_false (msgtrk_smtp_param_write (out, "-BAD", NULL, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_param_write (out, "X", "a b", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_param_write (out, "X", "", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_envid_param_write (out, "a\r\nb", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_envid_param_write (out, too_long, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_mtrk_param_write (out, "short=", 0, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_mtrk_param_write (out, B_VALID, MSGTRK_MTRK_TIMEOUT_MAX + 1,
                                                &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_true (msgtrk_smtp_mtrk_param_write (out, B_VALID, MSGTRK_MTRK_TIMEOUT_MAX, &error));
  g_assert_no_error (error);
  g_string_truncate (out, 0);
  g_assert_false (msgtrk_smtp_orcpt_param_write (out, "rfc 822", "a@b", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_orcpt_param_write (out, "rfc822", "", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_cmpstr (out->str, ==, "");
}

/* ENVID at MSGTRK_ENVID_MAX_LENGTH characters of xtext and one past, through the writer. */
static void
test_envid_write_limit (void)
{
  g_autofree char *at = g_strnfill (MSGTRK_ENVID_MAX_LENGTH, 'e');
  g_autofree char *past = g_strnfill (MSGTRK_ENVID_MAX_LENGTH + 1, 'e');
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (msgtrk_smtp_envid_param_write (out, at, &error));
  g_assert_no_error (error);
  g_assert_false (msgtrk_smtp_envid_param_write (out, past, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
}

/* SIZE (RFC 1870, 1*20DIGIT) and BODY (RFC 6152): parsers and writers. */
static void
test_size_body (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  guint64 size = 7;
  gboolean eight = FALSE;

  g_assert_true (msgtrk_smtp_size_param_parse ("0", &size, NULL));
  g_assert_cmpuint (size, ==, 0);
  g_assert_true (msgtrk_smtp_size_param_parse ("18446744073709551615", &size, NULL));
  g_assert_cmpuint (size, ==, G_MAXUINT64);
  g_assert_false (msgtrk_smtp_size_param_parse ("18446744073709551616", &size, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_size_param_parse ("000000000000000000001", &size, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_true (msgtrk_smtp_size_param_parse ("00000000000000000001", &size, NULL));
  g_assert_cmpuint (size, ==, 1);
  g_assert_false (msgtrk_smtp_size_param_parse ("+1", &size, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (msgtrk_smtp_size_param_parse (NULL, &size, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_cmpuint (size, ==, 1);

  msgtrk_smtp_size_param_write (out, 20000);
  g_string_append (out, " BODY=");
  g_string_append (out, msgtrk_smtp_body_param_word (TRUE));
  g_assert_cmpstr (out->str, ==, " SIZE=20000 BODY=8BITMIME");
  {
    g_autoptr (GHashTable) params = msgtrk_smtp_params_parse (out->str, NULL);

    g_assert_true (msgtrk_smtp_size_param_parse (g_hash_table_lookup (params, "SIZE"), &size,
                                                 NULL));
    g_assert_cmpuint (size, ==, 20000);
    g_assert_true (msgtrk_smtp_body_param_parse (g_hash_table_lookup (params, "BODY"), &eight,
                                                 NULL));
    g_assert_true (eight);
  }
  g_assert_true (msgtrk_smtp_body_param_parse ("7bit", &eight, NULL));
  g_assert_false (eight);
  g_assert_false (msgtrk_smtp_body_param_parse ("BINARYMIME", &eight, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The SMTP syntax layer: paths fed whole, byte by byte and in two pieces; "
                  "parameter writers beside their parsers");

  g_test_add_func ("/smtp-syntax/path/table", test_path_table);
  g_test_add_func ("/smtp-syntax/path/parse", test_path_parse);
  g_test_add_func ("/smtp-syntax/path/limits", test_path_limits);
  g_test_add_func ("/smtp-syntax/path-list/split", test_path_list);
  g_test_add_func ("/smtp-syntax/path-list/limits", test_path_list_limits);
  g_test_add_func ("/smtp-syntax/mailbox/write", test_mailbox_write);
  g_test_add_func ("/smtp-syntax/params/prefixes", test_value_prefixes);
  g_test_add_func ("/smtp-syntax/params/writers", test_param_writers);
  g_test_add_func ("/smtp-syntax/params/envid-limit", test_envid_write_limit);
  g_test_add_func ("/smtp-syntax/params/size-body", test_size_body);
  return g_test_run ();
}
