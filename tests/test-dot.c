/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-dot.c: unit tests of dot-stuffing and unstuffing (lib/msgtrk-dot.c, RFC 5321 section
 * 4.5.2, RFC 3887 section 2.2).
 *
 * The parser is table-driven: each case is fed whole, one octet at a time and in every
 * split into two pieces, and must give the same data, the same end and the same count of
 * octets used (what follows the end belongs to the next command). The writer is checked
 * against a table, at its line limit and one past it, and in a random round trip through
 * the parser. The streaming writer must write what msgtrk_dot_stuff() writes for every
 * table case and random data, fed whole, one octet at a time and in every two-piece split.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-dot-private.h"
#include "test-util.h"

typedef struct
{
  const char *name;
  const char *wire;     /* as received */
  const char *data;     /* unstuffed */
  gssize consumed;      /* octets up to the end marker; -1: no end in @wire */
} ParseCase;

static const ParseCase parse_cases[] = {
  { "empty-message", ".\r\n", "", 3 },
  { "one-line", "Hello\r\n.\r\n", "Hello\r\n", 10 },
  { "stuffed", "..dot\r\n.\r\n", ".dot\r\n", 10 },
  { "stuffed-dot-only", "..\r\n.\r\n", ".\r\n", 7 },
  { "pipelined-after-end", "a\r\n.\r\nQUIT\r\n", "a\r\n", 6 },
  { "no-end-yet", "a\r\nb\r\n", "a\r\nb\r\n", -1 },
  { "dot-not-first", "a.\r\n.\r\n", "a.\r\n", 7 },
  /* SMTP smuggling: only CRLF "." CRLF ends the data. */
  /* ... and such a "." line keeps its dot (no other character on it: RFC 5321 deletes
   * none), so that it is written stuffed again, not as an empty line. */
  { "bare-lf-before-dot", "a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", 11 },
  { "dot-bare-lf", "a\r\n.\nb\r\n.\r\n", "a\r\n.\nb\r\n", 11 },
  { "dot-bare-lf-first", ".\nx\r\n.\r\n", ".\nx\r\n", 8 },
  { "bare-lf-dot-bare-lf", "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", 10 },
  { "bare-lf-dots", "a\n.\r\n.\r\n", "a\n.\r\n", 8 },
  { "bare-cr-dot", "a\r.\r\n.\r\n", "a\r.\r\n", 8 },
  { "dot-cr-text", ".\rx\r\n.\r\n", "\rx\r\n", 8 },
  { "dot-cr-cr-lf", ".\r\r\n.\r\n", "\r\r\n", 7 },
  { "dot-text", ".x\r\n.\r\n", "x\r\n", 7 },
  { "nul-octets", "a\0b\r\n.\r\n", "a\0b\r\n", 8 },
  { "empty-lines", "\r\n\r\n.\r\n", "\r\n\r\n", 7 },
  { "unterminated", "abc", "abc", -1 },
  { "dot-at-end-of-input", "a\r\n.", "a\r\n", -1 },
  { "dot-cr-at-end-of-input", "a\r\n.\r", "a\r\n", -1 },
};

/* Lengths: the cases hold NULs, so wire and data lengths are counted with a helper. */
static gsize
case_wire_len (const ParseCase *c)
{
  if (strcmp (c->name, "nul-octets") == 0)
    return 8;
  return strlen (c->wire);
}

static gsize
case_data_len (const ParseCase *c)
{
  if (strcmp (c->name, "nul-octets") == 0)
    return 5;
  return strlen (c->data);
}

/* Feed @wire in pieces of at most @step octets (0: whole), stop at the end marker. */
static gssize
parse_in_steps (const char *wire,
                gsize       len,
                gsize       first,
                gsize       step,
                GString    *out)
{
  MsgtrkDotParser parser;
  gsize pos = 0;

  msgtrk_dot_parser_init (&parser);
  while (pos < len)
    {
      gsize piece = pos == 0 && first > 0 ? first : (step == 0 ? len - pos : step);
      gsize used = 0;

      piece = MIN (piece, len - pos);
      if (msgtrk_dot_parser_feed (&parser, wire + pos, piece, out, &used))
        {
          g_assert_cmpuint (used, <=, piece);
          return (gssize) (pos + used);
        }
      g_assert_cmpuint (used, ==, piece);
      pos += piece;
    }
  return -1;
}

static void
check_case (const ParseCase *c,
            gsize            first,
            gsize            step)
{
  g_autoptr (GString) out = g_string_new (NULL);
  gsize wlen = case_wire_len (c);
  gssize consumed = parse_in_steps (c->wire, wlen, first, step, out);

  g_test_message ("%s: first %" G_GSIZE_FORMAT " step %" G_GSIZE_FORMAT, c->name, first,
                  step);
  g_assert_cmpint (consumed, ==, c->consumed);
  g_assert_cmpmem (out->str, out->len, c->data, case_data_len (c));
}

static void
test_parse_whole (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    check_case (&parse_cases[i], 0, 0);
}

static void
test_parse_bytewise (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    check_case (&parse_cases[i], 0, 1);
}

static void
test_parse_splits (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    for (gsize first = 1; first < case_wire_len (&parse_cases[i]); first++)
      check_case (&parse_cases[i], first, 0);
}

/* After the end marker the parser is ready for the next message. */
static void
test_parse_reuse (void)
{
  const char wire[] = "a\r\n.\r\n..b\r\n.\r\n";
  g_autoptr (GString) out = g_string_new (NULL);
  MsgtrkDotParser parser;
  gsize used = 0;

  msgtrk_dot_parser_init (&parser);
  g_assert_true (msgtrk_dot_parser_feed (&parser, wire, sizeof wire - 1, out, &used));
  g_assert_cmpuint (used, ==, 6);
  g_assert_cmpstr (out->str, ==, "a\r\n");
  g_string_truncate (out, 0);
  g_assert_true (msgtrk_dot_parser_feed (&parser, wire + used, sizeof wire - 1 - used, out,
                                         &used));
  g_assert_cmpuint (used, ==, 8);
  g_assert_cmpstr (out->str, ==, ".b\r\n");
}

/* A line the caller's reader dropped counts as ended by CRLF. */
static void
test_parse_line_dropped (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  MsgtrkDotParser parser;
  gsize used = 0;

  msgtrk_dot_parser_init (&parser);
  g_assert_false (msgtrk_dot_parser_feed (&parser, "a\n", 2, out, &used));
  msgtrk_dot_parser_line_dropped (&parser);
  g_assert_true (msgtrk_dot_parser_feed (&parser, ".\r\n", 3, out, &used));
  g_assert_cmpstr (out->str, ==, "a\n");
}

typedef struct
{
  const char *data;
  const char *wire;
} StuffCase;

static const StuffCase stuff_cases[] = {
  { "", "" },
  { "a", "a\r\n" },
  { "a\n", "a\r\n" },
  { "a\r\n", "a\r\n" },
  { ".", "..\r\n" },
  { ".\n..\nx.\n", "..\r\n...\r\nx.\r\n" },
  { "a\rb\n", "a\rb\r\n" },
  { "\n\n", "\r\n\r\n" },
  { "a\r\n\r\n.end", "a\r\n\r\n..end\r\n" },
};

static void
test_stuff_table (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (stuff_cases); i++)
    {
      g_autoptr (GString) out = g_string_new ("prefix:");

      g_assert_true (msgtrk_dot_stuff (out, stuff_cases[i].data, strlen (stuff_cases[i].data),
                                       0, NULL));
      g_assert_cmpstr (out->str + 7, ==, stuff_cases[i].wire);
    }
}

/* The streaming writer, fed in pieces (@first octets, then @step at a time; 0: whole). */
static void
writer_in_steps (const char *data,
                 gsize       len,
                 gsize       first,
                 gsize       step,
                 GString    *out)
{
  MsgtrkDotWriter writer;
  gsize pos = 0;

  msgtrk_dot_writer_init (&writer);
  while (pos < len)
    {
      gsize piece = pos == 0 && first > 0 ? first : (step == 0 ? len - pos : step);

      piece = MIN (piece, len - pos);
      msgtrk_dot_writer_feed (&writer, data + pos, piece, out);
      pos += piece;
    }
  msgtrk_dot_writer_end (&writer, out);
}

/* Whole, bytewise and in every split: msgtrk_dot_stuff()'s output and the end marker. */
static void
check_writer (const char *data,
              gsize       len)
{
  g_autoptr (GString) want = g_string_new (NULL);

  g_assert_true (msgtrk_dot_stuff (want, data, len, 0, NULL));
  msgtrk_dot_end (want);
  for (gsize first = 0; first <= len; first++)
    for (gsize step = 0; step <= 1; step++)
      {
        g_autoptr (GString) out = g_string_new (NULL);

        writer_in_steps (data, len, first, step, out);
        g_assert_cmpmem (out->str, out->len, want->str, want->len);
      }
}

static void
test_writer_table (void)
{
  static const char *more[] = { ".\r\r\n", "x\r\r\n", "\r\n.\r\n", "\r.\n", "..\n.",
                                "a\n\r\n.\r\n" };

  for (gsize i = 0; i < G_N_ELEMENTS (stuff_cases); i++)
    check_writer (stuff_cases[i].data, strlen (stuff_cases[i].data));
  for (gsize i = 0; i < G_N_ELEMENTS (more); i++)
    check_writer (more[i], strlen (more[i]));
}

/* Random data of '.', CR, LF, 'a' and NUL. */
static void
test_writer_random (void)
{
  static const char alphabet[] = { '.', '.', 'a', '\r', '\n', '\0' };

  for (guint round = 0; round < 500; round++)
    {
      char data[12];
      gsize len = (gsize) g_test_rand_int_range (0, sizeof data + 1);

      for (gsize k = 0; k < len; k++)
        data[k] = alphabet[g_test_rand_int_range (0, sizeof alphabet)];
      check_writer (data, len);
    }
}

/* The line limit counts the added dot; at the limit the line is written, one past it the
 * call fails and leaves the output as it was. */
static void
test_stuff_limit (void)
{
  g_autoptr (GString) out = g_string_new ("kept");
  g_autofree char *at = g_strnfill (10, 'x');
  g_autofree char *dotted = g_strconcat (".", at, NULL);
  gsize bad = 0;

  g_assert_true (msgtrk_dot_stuff (out, at, 10, 10, &bad));
  g_string_assign (out, "kept");
  g_assert_false (msgtrk_dot_stuff (out, dotted, 11, 11, &bad));
  g_assert_cmpuint (bad, ==, 12);
  g_assert_cmpstr (out->str, ==, "kept");
  g_assert_true (msgtrk_dot_stuff (out, dotted, 11, 12, &bad));
  g_assert_cmpstr (out->str, ==, "kept..xxxxxxxxxx\r\n");
  g_assert_false (msgtrk_dot_stuff (out, "ok\nlong-line\n", 13, 5, &bad));
  g_assert_cmpuint (bad, ==, 9);
  g_assert_cmpstr (out->str, ==, "kept..xxxxxxxxxx\r\n");
}

/* Random text of CRLF lines made of '.', CR, 'a' and NUL: stuff, end, parse back. */
static void
test_roundtrip_random (void)
{
  static const char alphabet[] = { '.', '.', 'a', '\r', '\0', 'b' };

  for (guint round = 0; round < 2000; round++)
    {
      g_autoptr (GString) data = g_string_new (NULL);
      g_autoptr (GString) wire = g_string_new (NULL);
      g_autoptr (GString) back = g_string_new (NULL);
      guint lines = g_test_rand_int_range (0, 6);
      gsize step = (gsize) g_test_rand_int_range (0, 4);

      for (guint l = 0; l < lines; l++)
        {
          guint n = g_test_rand_int_range (0, 6);

          for (guint k = 0; k < n; k++)
            g_string_append_c (data, alphabet[g_test_rand_int_range (0, sizeof alphabet)]);
          /* A CR just before the line end would merge into the CRLF. */
          if (data->len > 0 && data->str[data->len - 1] == '\r')
            data->str[data->len - 1] = 'c';
          g_string_append (data, "\r\n");
        }
      g_assert_true (msgtrk_dot_stuff (wire, data->str, data->len, 0, NULL));
      msgtrk_dot_end (wire);
      g_string_append (wire, "NEXT\r\n");
      g_assert_cmpint (parse_in_steps (wire->str, wire->len, 0, step, back), ==,
                       (gssize) wire->len - 6);
      g_assert_cmpmem (back->str, back->len, data->str, data->len);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("Dot-stuffing writer and parser, whole and one octet at a time");
  g_test_add_func ("/dot/parse/whole", test_parse_whole);
  g_test_add_func ("/dot/writer/table", test_writer_table);
  g_test_add_func ("/dot/writer/random", test_writer_random);
  g_test_add_func ("/dot/parse/bytewise", test_parse_bytewise);
  g_test_add_func ("/dot/parse/splits", test_parse_splits);
  g_test_add_func ("/dot/parse/reuse", test_parse_reuse);
  g_test_add_func ("/dot/parse/line-dropped", test_parse_line_dropped);
  g_test_add_func ("/dot/stuff/table", test_stuff_table);
  g_test_add_func ("/dot/stuff/limit", test_stuff_limit);
  g_test_add_func ("/dot/roundtrip/random", test_roundtrip_random);
  return g_test_run ();
}
