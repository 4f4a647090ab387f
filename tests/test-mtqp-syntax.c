/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-mtqp-syntax.c: unit tests of the MTQP status line, greeting and option list
 * (lib/msgtrk-mtqp-syntax.c, RFC 3887 sections 2.3, 3 and 10).
 *
 * The parsers are table-driven: each case is fed as octets whole, one octet at a time and
 * in every split into two pieces, and must give the same result, the same error code and
 * the same count of octets used. Each limit (line length, response codes and their length,
 * option lines) is tested at the limit and one past it. The writers are checked against a
 * table, refuse what they must (appending nothing), and round-trip through the parsers.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-mtqp-syntax-private.h"
#include "test-util.h"

/* ---- feeding ---------------------------------------------------------------------- */

/* Each case is fed in every way of test-util.h's mt_feed_all(). */

/* ---- the status line -------------------------------------------------------------- */

typedef struct
{
  const char *wire;   /* one line with its end; may be followed by more */
  int error;          /* -1: parses */
  MsgtrkMtqpStatusKind kind;
  const char *codes;  /* joined with "/" */
  const char *text;
} StatusCase;

static const StatusCase status_cases[] = {
  { "+OK\r\n", -1, MSGTRK_MTQP_STATUS_OK, "", "" },
  { "+OK+\r\n", -1, MSGTRK_MTQP_STATUS_OK_MULTI, "", "" },
  { "-TEMP/unavailable try later\r\n", -1, MSGTRK_MTQP_STATUS_TEMP, "unavailable", "try later" },
  { "-ERR/NotFound No such ENVID\r\n", -1, MSGTRK_MTQP_STATUS_ERR, "notfound", "No such ENVID" },
  { "-BAD/syntax/x-y_z \t two  spaces \r\n", -1, MSGTRK_MTQP_STATUS_BAD, "syntax/x-y_z",
    "two  spaces " },
  { "+OK/MTQP host ready\n", -1, MSGTRK_MTQP_STATUS_OK, "mtqp", "host ready" },
  { "+OK Bye\r\nQUIT\r\n", -1, MSGTRK_MTQP_STATUS_OK, "", "Bye" },
  { "+OK \xc3\xa9t\xc3\xa9\r\n", -1, MSGTRK_MTQP_STATUS_OK, "", "\xc3\xa9t\xc3\xa9" },
  { "+OK a\rb\r\n", -1, MSGTRK_MTQP_STATUS_OK, "", "a\rb" },
  { "+OKAY\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
  { "+ok\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
  { "OK\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
  { "\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
  { "-ERR/\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
  { "-ERR//x\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
  { "-ERR/a.b\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
  { "-ERR/a\x01\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
  { "-TEMPORARY\r\n", MSGTRK_ERROR_PROTOCOL, 0, NULL, NULL },
};

/* Cut the first line out of @wire with the splitter fed as @feed; parse it. */
static gboolean
status_from_wire (const char           *wire,
                  gsize                 len,
                  const MtFeed           *feed,
                  MsgtrkMtqpLineSplitter *sp,
                  MsgtrkMtqpStatusLine *status,
                  gsize                *consumed,
                  GError              **error)
{
  gsize pos = 0;

  msgtrk_mtqp_line_splitter_init (sp);
  while (pos < len)
    {
      gsize end = mt_feed_piece_end (feed, pos, len);
      gsize used = 0;
      MsgtrkMtqpParseResult r;

      r = msgtrk_mtqp_line_splitter_feed (sp, wire + pos, end - pos, &used, error);
      if (r == MSGTRK_MTQP_PARSE_ERROR)
        return FALSE;
      if (r == MSGTRK_MTQP_PARSE_MORE)
        g_assert_cmpuint (used, ==, end - pos);
      pos += used;
      if (r == MSGTRK_MTQP_PARSE_DONE)
        {
          *consumed = pos;
          return msgtrk_mtqp_status_parse (sp->line, sp->len, status, error);
        }
    }
  g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "no complete line");
  return FALSE;
}

static void
test_status_table (void)
{
  guint i, j;

  for (i = 0; i < G_N_ELEMENTS (status_cases); i++)
    {
      const StatusCase *c = &status_cases[i];
      gsize len = strlen (c->wire);
      g_autoptr (GArray) feeds = mt_feed_all (len);
      gsize line_end = (gsize) (strchr (c->wire, '\n') - c->wire) + 1;

      for (j = 0; j < feeds->len; j++)
        {
          MsgtrkMtqpLineSplitter sp;
          MsgtrkMtqpStatusLine st;
          g_autoptr (GError) error = NULL;
          gsize consumed = 0;
          gboolean ok;

          ok = status_from_wire (c->wire, len, &g_array_index (feeds, MtFeed, j), &sp, &st,
                                 &consumed, &error);
          if (c->error >= 0)
            {
              g_assert_false (ok);
              g_assert_error (error, MSGTRK_ERROR, c->error);
              continue;
            }
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpuint (consumed, ==, line_end);
          g_assert_cmpint (st.kind, ==, c->kind);
          {
            g_autofree char *codes = g_strjoinv ("/", st.codes);
            g_autofree char *text = g_strndup (st.text, st.text_len);

            g_assert_cmpstr (codes, ==, c->codes);
            g_assert_cmpstr (text, ==, c->text);
          }
          msgtrk_mtqp_status_line_clear (&st);
        }
    }
}

static void
test_status_nul (void)
{
  MsgtrkMtqpStatusLine st;
  g_autoptr (GError) error = NULL;

  g_assert_false (msgtrk_mtqp_status_parse ("+OK a\0b", 7, &st, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL);
}

/* A line of exactly MSGTRK_MTQP_SYNTAX_MAX_LINE octets passes (with CRLF, bare LF, or
 * CR LF cut anywhere); one more octet is a LIMIT error, however it is fed. */
static void
test_line_limit (void)
{
  guint extra, ending;

  for (extra = 0; extra <= 1; extra++)
    for (ending = 0; ending <= 1; ending++)
      {
        g_autoptr (GString) wire = g_string_new ("+OK ");
        g_autoptr (GArray) feeds = NULL;
        guint j;

        while (wire->len < MSGTRK_MTQP_SYNTAX_MAX_LINE + extra)
          g_string_append_c (wire, 'x');
        g_string_append (wire, ending ? "\n" : "\r\n");
        feeds = mt_feed_all (wire->len);
        for (j = 0; j < feeds->len; j++)
          {
            MsgtrkMtqpLineSplitter sp;
            MsgtrkMtqpStatusLine st;
            g_autoptr (GError) error = NULL;
            gsize consumed = 0;

            if (status_from_wire (wire->str, wire->len, &g_array_index (feeds, MtFeed, j), &sp,
                                  &st, &consumed, &error))
              {
                g_assert_cmpuint (extra, ==, 0);
                g_assert_cmpuint (st.text_len, ==, MSGTRK_MTQP_SYNTAX_MAX_LINE - 4);
                g_assert_cmpuint (consumed, ==, wire->len);
                msgtrk_mtqp_status_line_clear (&st);
              }
            else
              {
                g_assert_cmpuint (extra, ==, 1);
                g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
              }
          }
      }
  /* The line-level parser has the same limit. */
  {
    g_autofree char *line = g_strnfill (MSGTRK_MTQP_SYNTAX_MAX_LINE + 1, 'x');
    MsgtrkMtqpStatusLine st;
    g_autoptr (GError) error = NULL;

    memcpy (line, "+OK ", 4);
    g_assert_false (msgtrk_mtqp_status_parse (line, MSGTRK_MTQP_SYNTAX_MAX_LINE + 1, &st,
                                              &error));
    g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
    g_clear_error (&error);
    g_assert_true (msgtrk_mtqp_status_parse (line, MSGTRK_MTQP_SYNTAX_MAX_LINE, &st, &error));
    msgtrk_mtqp_status_line_clear (&st);
  }
}

/* "-ERR" and @n response codes "/c". */
static char *
status_with_codes (guint n)
{
  GString *s = g_string_new ("-ERR");
  guint i;

  for (i = 0; i < n; i++)
    g_string_append (s, "/c");
  return g_string_free (s, FALSE);
}

/* Codes: MSGTRK_MTQP_SYNTAX_MAX_CODES pass, one more is a LIMIT error; a code of
 * MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH passes, one more character is a LIMIT error. */
static void
test_code_limits (void)
{
  guint extra;

  for (extra = 0; extra <= 1; extra++)
    {
      g_autofree char *many = status_with_codes (MSGTRK_MTQP_SYNTAX_MAX_CODES + extra);
      g_autoptr (GString) longcode = g_string_new ("-ERR/");
      MsgtrkMtqpStatusLine st;
      g_autoptr (GError) error = NULL;
      gboolean ok;

      ok = msgtrk_mtqp_status_parse (many, strlen (many), &st, &error);
      g_assert_cmpint (ok, ==, extra == 0);
      if (ok)
        {
          g_assert_cmpuint (g_strv_length (st.codes), ==, MSGTRK_MTQP_SYNTAX_MAX_CODES);
          msgtrk_mtqp_status_line_clear (&st);
        }
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
      g_clear_error (&error);

      while (longcode->len < 5 + MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH + extra)
        g_string_append_c (longcode, 'L');
      ok = msgtrk_mtqp_status_parse (longcode->str, longcode->len, &st, &error);
      g_assert_cmpint (ok, ==, extra == 0);
      if (ok)
        {
          g_assert_cmpuint (strlen (st.codes[0]), ==, MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH);
          msgtrk_mtqp_status_line_clear (&st);
        }
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
    }
}

/* ---- the greeting ----------------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *wire;
  int error;           /* -1: complete; -2: incomplete (MORE) */
  gssize consumed;     /* octets of the greeting (what follows is the next reply) */
  const char *options; /* identifiers joined with "," */
} GreetingCase;

static const GreetingCase greeting_cases[] = {
  { "single", "+OK/MTQP ready\r\n", -1, 16, "" },
  { "single-then-more", "+OK/MTQP ready\r\n+OK\r\n", -1, 16, "" },
  { "mtqp-not-first", "+OK/x/mtqp\r\n", -1, 12, "" },
  { "options", "+OK+/MTQP ready\r\nSTARTTLS\r\nvnd.x some text\r\n  more\r\n.\r\n", -1, 55,
    "STARTTLS,vnd.x" },
  { "options-then-more", "+OK+/MTQP\r\nSTARTTLS\r\n.\r\n+OK\r\n", -1, 24, "STARTTLS" },
  { "options-bare-lf", "+OK+/MTQP\nSTARTTLS\n.\n", -1, 21, "STARTTLS" },
  { "stuffed-option", "+OK+/MTQP\r\n..odd\r\n.\r\n", -1, 21, ".odd" },
  { "no-options", "+OK+/MTQP\r\n.\r\n", -1, 14, "" },
  { "incomplete-status", "+OK/MTQP", -2, 8, "" },
  { "incomplete-options", "+OK+/MTQP\r\nSTARTTLS\r\n", -2, 21, "STARTTLS" },
  { "not-mtqp", "+OK/SMTP ready\r\n", MSGTRK_ERROR_PROTOCOL, -1, NULL },
  { "no-codes", "+OK ready\r\n", MSGTRK_ERROR_PROTOCOL, -1, NULL },
  { "temp", "-TEMP/MTQP busy\r\n", MSGTRK_ERROR_SERVER_TEMP, -1, NULL },
  { "err", "-ERR/MTQP no\r\n", MSGTRK_ERROR_SERVER_ERR, -1, NULL },
  { "bad", "-BAD/MTQP no\r\n", MSGTRK_ERROR_SERVER_BAD, -1, NULL },
  { "garbage", "220 smtp.example ESMTP\r\n", MSGTRK_ERROR_PROTOCOL, -1, NULL },
  { "orphan-continuation", "+OK+/MTQP\r\n  more\r\n.\r\n", MSGTRK_ERROR_PROTOCOL, -1, NULL },
};

typedef struct
{
  MsgtrkMtqpParseResult result;
  int error;
  gsize consumed;
  char *options;
} GreetingOutcome;

static void
greeting_run (const char      *wire,
              gsize            len,
              const MtFeed      *feed,
              GreetingOutcome *out)
{
  MsgtrkMtqpGreeting g;
  g_autoptr (GError) error = NULL;
  gsize pos = 0;

  memset (out, 0, sizeof *out);
  out->result = MSGTRK_MTQP_PARSE_MORE;
  out->error = -1;
  msgtrk_mtqp_greeting_init (&g);
  while (pos < len && out->result == MSGTRK_MTQP_PARSE_MORE)
    {
      gsize end = mt_feed_piece_end (feed, pos, len);
      gsize used = 0;

      out->result = msgtrk_mtqp_greeting_feed (&g, wire + pos, end - pos, &used, &error);
      g_assert_cmpuint (used, <=, end - pos);
      if (out->result == MSGTRK_MTQP_PARSE_MORE)
        g_assert_cmpuint (used, ==, end - pos);
      pos += used;
    }
  out->consumed = pos;
  if (out->result == MSGTRK_MTQP_PARSE_ERROR)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == MSGTRK_ERROR);
      out->error = error->code;
    }
  else
    {
      g_autoptr (GString) names = g_string_new (NULL);
      guint i;

      g_assert_no_error (error);
      for (i = 0; i < g.options.names->len; i++)
        g_string_append_printf (names, "%s%s", i > 0 ? "," : "",
                                (char *) g_ptr_array_index (g.options.names, i));
      out->options = g_string_free (g_steal_pointer (&names), FALSE);
    }
  msgtrk_mtqp_greeting_clear (&g);
}

static void
test_greeting_table (void)
{
  guint i, j;

  for (i = 0; i < G_N_ELEMENTS (greeting_cases); i++)
    {
      const GreetingCase *c = &greeting_cases[i];
      gsize len = strlen (c->wire);
      g_autoptr (GArray) feeds = mt_feed_all (len);

      g_test_message ("greeting case %s", c->name);
      for (j = 0; j < feeds->len; j++)
        {
          GreetingOutcome o;

          greeting_run (c->wire, len, &g_array_index (feeds, MtFeed, j), &o);
          if (c->error >= 0)
            {
              g_assert_cmpint (o.result, ==, MSGTRK_MTQP_PARSE_ERROR);
              g_assert_cmpint (o.error, ==, c->error);
              continue;
            }
          g_assert_cmpint (o.result, ==,
                           c->error == -2 ? MSGTRK_MTQP_PARSE_MORE : MSGTRK_MTQP_PARSE_DONE);
          g_assert_cmpuint (o.consumed, ==, (gsize) c->consumed);
          g_assert_cmpstr (o.options, ==, c->options);
          g_free (o.options);
        }
    }
}

/* MSGTRK_MTQP_SYNTAX_MAX_OPTIONS option lines (continuations count) pass; one more is a
 * LIMIT error. */
static void
test_option_limit (void)
{
  guint extra;

  for (extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GString) wire = g_string_new ("+OK+/MTQP\r\nFIRST\r\n");
      g_autoptr (GArray) feeds = NULL;
      guint i, j;

      for (i = 1; i < MSGTRK_MTQP_SYNTAX_MAX_OPTIONS + extra; i++)
        g_string_append (wire, i % 2 ? " continued\r\n" : "OPT\r\n");
      g_string_append (wire, ".\r\n");
      feeds = mt_feed_all (wire->len);
      for (j = 0; j < feeds->len; j += (j < 2 ? 1 : 37))
        {
          GreetingOutcome o;

          greeting_run (wire->str, wire->len, &g_array_index (feeds, MtFeed, j), &o);
          if (extra == 0)
            {
              g_assert_cmpint (o.result, ==, MSGTRK_MTQP_PARSE_DONE);
              g_assert_cmpuint (o.consumed, ==, wire->len);
              g_free (o.options);
            }
          else
            {
              g_assert_cmpint (o.result, ==, MSGTRK_MTQP_PARSE_ERROR);
              g_assert_cmpint (o.error, ==, MSGTRK_ERROR_LIMIT);
            }
        }
    }
}

/* ---- the writers ------------------------------------------------------------------ */

typedef struct
{
  MsgtrkMtqpStatusKind kind;
  const char *codes[4];
  const char *text;
  const char *wire; /* NULL: refused */
} WriteCase;

static const WriteCase write_cases[] = {
  { MSGTRK_MTQP_STATUS_OK, { NULL }, NULL, "+OK\r\n" },
  { MSGTRK_MTQP_STATUS_OK, { NULL }, "", "+OK\r\n" },
  { MSGTRK_MTQP_STATUS_OK, { NULL }, "Bye", "+OK Bye\r\n" },
  { MSGTRK_MTQP_STATUS_OK_MULTI, { NULL }, "Tracking information follows",
    "+OK+ Tracking information follows\r\n" },
  { MSGTRK_MTQP_STATUS_TEMP, { "unavailable", NULL }, "later", "-TEMP/unavailable later\r\n" },
  { MSGTRK_MTQP_STATUS_ERR, { "notfound", NULL }, "No\ttab", "-ERR/notfound No\ttab\r\n" },
  { MSGTRK_MTQP_STATUS_BAD, { "a", "B-c_d", NULL }, NULL, "-BAD/a/B-c_d\r\n" },
  { MSGTRK_MTQP_STATUS_BAD, { "a/b", NULL }, NULL, NULL },
  { MSGTRK_MTQP_STATUS_BAD, { "", NULL }, NULL, NULL },
  { MSGTRK_MTQP_STATUS_BAD, { "a b", NULL }, NULL, NULL },
  { MSGTRK_MTQP_STATUS_OK, { NULL }, "two\r\nlines", NULL },
  { MSGTRK_MTQP_STATUS_OK, { NULL }, "bare\nLF", NULL },
  { MSGTRK_MTQP_STATUS_OK, { NULL }, "\xc3\xa9", NULL },
  { MSGTRK_MTQP_STATUS_OK, { NULL }, " leading", NULL },
};

static void
test_status_write (void)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (write_cases); i++)
    {
      const WriteCase *c = &write_cases[i];
      g_autoptr (GString) out = g_string_new ("before|");
      g_autoptr (GError) error = NULL;
      MsgtrkMtqpStatusLine st;
      gboolean ok;

      ok = msgtrk_mtqp_status_write (out, c->kind, c->codes, c->text, &error);
      if (c->wire == NULL)
        {
          g_assert_false (ok);
          g_assert_nonnull (error);
          g_assert_cmpstr (out->str, ==, "before|");
          continue;
        }
      g_assert_no_error (error);
      g_assert_cmpstr (out->str + 7, ==, c->wire);
      /* Round trip. */
      g_assert_true (msgtrk_mtqp_status_parse (out->str + 7, out->len - 9, &st, &error));
      g_assert_cmpint (st.kind, ==, c->kind);
      g_assert_cmpuint (g_strv_length (st.codes), ==,
                        g_strv_length ((char **) c->codes));
      g_assert_cmpuint (st.text_len, ==, c->text != NULL ? strlen (c->text) : 0);
      msgtrk_mtqp_status_line_clear (&st);
    }
}

/* The writer's limits: a line of MSGTRK_MTQP_SYNTAX_MAX_LINE octets, MAX_CODES codes of
 * MAX_CODE_LENGTH characters pass; one more of each is refused. */
static void
test_status_write_limits (void)
{
  guint extra;

  for (extra = 0; extra <= 1; extra++)
    {
      g_autofree char *text = g_strnfill (MSGTRK_MTQP_SYNTAX_MAX_LINE - 4 + extra, 't');
      g_autofree char *code = g_strnfill (MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH + extra, 'c');
      const char *one[] = { code, NULL };
      g_autoptr (GPtrArray) many = g_ptr_array_new ();
      g_autoptr (GString) out = g_string_new (NULL);
      g_autoptr (GError) error = NULL;
      guint i;

      g_assert_cmpint (msgtrk_mtqp_status_write (out, MSGTRK_MTQP_STATUS_OK, NULL, text,
                                                 &error), ==, extra == 0);
      if (extra == 0)
        g_assert_cmpuint (out->len, ==, MSGTRK_MTQP_SYNTAX_MAX_LINE + 2);
      g_clear_error (&error);
      g_string_truncate (out, 0);

      g_assert_cmpint (msgtrk_mtqp_status_write (out, MSGTRK_MTQP_STATUS_ERR, one, NULL, &error),
                       ==, extra == 0);
      g_clear_error (&error);

      for (i = 0; i < MSGTRK_MTQP_SYNTAX_MAX_CODES + extra; i++)
        g_ptr_array_add (many, (gpointer) "c");
      g_ptr_array_add (many, NULL);
      g_assert_cmpint (msgtrk_mtqp_status_write (out, MSGTRK_MTQP_STATUS_ERR,
                                                 (const char * const *) many->pdata, NULL,
                                                 &error), ==, extra == 0);
    }
}

static void
test_greeting_write (void)
{
  static const char * const tls[] = { "STARTTLS", "vnd.msgtrk.chaining", NULL };
  static const char * const dot[] = { ".hidden", NULL };
  static const char * const ws[] = { " x", NULL };
  static const char * const empty[] = { "", NULL };
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  GreetingOutcome o;
  MtFeed whole = { 0, 0 };

  g_assert_true (msgtrk_mtqp_greeting_write (out, "h.example msgtrk mtqpd ready", NULL, &error));
  g_assert_cmpstr (out->str, ==, "+OK/MTQP h.example msgtrk mtqpd ready\r\n");
  g_string_truncate (out, 0);

  g_assert_true (msgtrk_mtqp_greeting_write (out, "ready", tls, &error));
  g_assert_cmpstr (out->str, ==, "+OK+/MTQP ready\r\nSTARTTLS\r\nvnd.msgtrk.chaining\r\n.\r\n");
  greeting_run (out->str, out->len, &whole, &o);
  g_assert_cmpint (o.result, ==, MSGTRK_MTQP_PARSE_DONE);
  g_assert_cmpstr (o.options, ==, "STARTTLS,vnd.msgtrk.chaining");
  g_free (o.options);
  g_string_truncate (out, 0);

  g_assert_false (msgtrk_mtqp_greeting_write (out, "ready", dot, &error));
  g_clear_error (&error);
  g_assert_false (msgtrk_mtqp_greeting_write (out, "ready", ws, &error));
  g_clear_error (&error);
  g_assert_false (msgtrk_mtqp_greeting_write (out, "ready", empty, &error));
  g_clear_error (&error);
  g_assert_false (msgtrk_mtqp_greeting_write (out, "caf\xc3\xa9", NULL, &error));
  g_clear_error (&error);
  g_assert_cmpuint (out->len, ==, 0);
}

/* The writer's option limit: MAX_OPTIONS lines pass, one more is refused. */
static void
test_greeting_write_limit (void)
{
  guint extra;

  for (extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GPtrArray) options = g_ptr_array_new ();
      g_autoptr (GString) out = g_string_new (NULL);
      g_autoptr (GError) error = NULL;
      guint i;

      for (i = 0; i < MSGTRK_MTQP_SYNTAX_MAX_OPTIONS + extra; i++)
        g_ptr_array_add (options, (gpointer) "OPT");
      g_ptr_array_add (options, NULL);
      g_assert_cmpint (msgtrk_mtqp_greeting_write (out, NULL,
                                                   (const char * const *) options->pdata,
                                                   &error), ==, extra == 0);
      if (extra == 0)
        {
          GreetingOutcome o;
          MtFeed whole = { 0, 0 };

          greeting_run (out->str, out->len, &whole, &o);
          g_assert_cmpint (o.result, ==, MSGTRK_MTQP_PARSE_DONE);
          g_free (o.options);
        }
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
    }
}

static void
test_words (void)
{
  g_assert_cmpstr (msgtrk_mtqp_status_word (MSGTRK_MTQP_STATUS_OK), ==, "+OK");
  g_assert_cmpstr (msgtrk_mtqp_status_word (MSGTRK_MTQP_STATUS_OK_MULTI), ==, "+OK+");
  g_assert_cmpstr (msgtrk_mtqp_status_word (MSGTRK_MTQP_STATUS_TEMP), ==, "-TEMP");
  g_assert_cmpstr (msgtrk_mtqp_status_word (MSGTRK_MTQP_STATUS_ERR), ==, "-ERR");
  g_assert_cmpstr (msgtrk_mtqp_status_word (MSGTRK_MTQP_STATUS_BAD), ==, "-BAD");
  g_assert_true (msgtrk_mtqp_status_is_positive (MSGTRK_MTQP_STATUS_OK_MULTI));
  g_assert_false (msgtrk_mtqp_status_is_positive (MSGTRK_MTQP_STATUS_TEMP));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mtqp-syntax/status/table", test_status_table);
  g_test_add_func ("/mtqp-syntax/status/nul", test_status_nul);
  g_test_add_func ("/mtqp-syntax/status/line-limit", test_line_limit);
  g_test_add_func ("/mtqp-syntax/status/code-limits", test_code_limits);
  g_test_add_func ("/mtqp-syntax/status/words", test_words);
  g_test_add_func ("/mtqp-syntax/greeting/table", test_greeting_table);
  g_test_add_func ("/mtqp-syntax/greeting/option-limit", test_option_limit);
  g_test_add_func ("/mtqp-syntax/write/status", test_status_write);
  g_test_add_func ("/mtqp-syntax/write/status-limits", test_status_write_limits);
  g_test_add_func ("/mtqp-syntax/write/greeting", test_greeting_write);
  g_test_add_func ("/mtqp-syntax/write/greeting-limit", test_greeting_write_limit);
  return g_test_run ();
}
