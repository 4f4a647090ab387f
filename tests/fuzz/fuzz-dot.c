/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-dot.c: libFuzzer target for dot-stuffing and unstuffing (lib/msgtrk-dot.c: SMTP
 * DATA in the relay and the Postfix front, MTQP answers in the client and mtqpd).
 *
 * The first octet of the input chooses the piece size (1..16, or whole); the rest is the
 * data. Properties, each fed whole and in those pieces:
 * - the streaming writer gives exactly msgtrk_dot_stuff() + msgtrk_dot_end();
 * - the parser over that transmission ends exactly at its last octet, and the data it
 *   gives back, stuffed again, is the same transmission (nothing smuggled, nothing lost);
 * - the parser over the raw input (as a hostile peer sends it) gives the same output and
 *   stops at the same octet whatever the pieces; an end it finds is CRLF "." CRLF (or "."
 *   CRLF at the very start), never after a bare LF.
 * Must never leak, crash or read past its input.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk-dot-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The writer fed in @piece-sized calls (0: whole). */
static GString *
write_pieces (const char *data,
              gsize       len,
              gsize       piece)
{
  GString *out = g_string_new (NULL);
  MsgtrkDotWriter w;

  msgtrk_dot_writer_init (&w);
  for (gsize at = 0; at < len;)
    {
      gsize n = piece == 0 ? len - at : MIN (piece, len - at);

      msgtrk_dot_writer_feed (&w, data + at, n, out);
      at += n;
    }
  msgtrk_dot_writer_end (&w, out);
  return out;
}

/* The parser fed in @piece-sized calls (0: whole); *@end: octets up to and including the
 * end marker's LF, or G_MAXSIZE when it found none. */
static GString *
parse_pieces (const char *data,
              gsize       len,
              gsize       piece,
              gsize      *end)
{
  GString *out = g_string_new (NULL);
  MsgtrkDotParser p;

  *end = G_MAXSIZE;
  msgtrk_dot_parser_init (&p);
  for (gsize at = 0; at < len;)
    {
      gsize n = piece == 0 ? len - at : MIN (piece, len - at);
      gsize used = 0;

      if (msgtrk_dot_parser_feed (&p, data + at, n, out, &used))
        {
          g_assert (used >= 1 && used <= n);
          *end = at + used;
          return out;
        }
      g_assert (used == n);
      at += n;
    }
  return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *raw,
                        size_t         size)
{
  const char *data = (const char *) raw + (size > 0 ? 1 : 0);
  gsize len = size > 0 ? size - 1 : 0;
  gsize piece = size > 0 ? raw[0] % 17 : 0; /* 0: whole */
  g_autoptr (GString) stuffed = g_string_new (NULL);
  g_autoptr (GString) whole = NULL;
  g_autoptr (GString) pieces = NULL;
  g_autoptr (GString) back = NULL;
  g_autoptr (GString) back_pieces = NULL;
  g_autoptr (GString) again = g_string_new (NULL);
  gsize end = 0;
  gsize end_pieces = 0;

  /* The writer, whole and in pieces, is msgtrk_dot_stuff() + the end marker. */
  g_assert (msgtrk_dot_stuff (stuffed, data, len, 0, NULL));
  msgtrk_dot_end (stuffed);
  whole = write_pieces (data, len, 0);
  pieces = write_pieces (data, len, piece);
  g_assert (g_string_equal (whole, stuffed));
  g_assert (g_string_equal (pieces, stuffed));

  /* Read back: the end is the transmission's last octet; the data stuffs to the same. */
  back = parse_pieces (stuffed->str, stuffed->len, 0, &end);
  back_pieces = parse_pieces (stuffed->str, stuffed->len, piece, &end_pieces);
  g_assert (end == stuffed->len && end_pieces == stuffed->len);
  g_assert (g_string_equal (back, back_pieces));
  g_assert (msgtrk_dot_stuff (again, back->str, back->len, 0, NULL));
  msgtrk_dot_end (again);
  g_assert (g_string_equal (again, stuffed));

  /* The raw input as a peer's transmission: the same whatever the pieces. */
  {
    g_autoptr (GString) a = parse_pieces (data, len, 0, &end);
    g_autoptr (GString) b = parse_pieces (data, len, piece, &end_pieces);

    g_assert (end == end_pieces);
    g_assert (g_string_equal (a, b));
    if (end != G_MAXSIZE)
      {
        /* "." CRLF, at the start or right after a CRLF. */
        g_assert (end >= 3 && memcmp (data + end - 3, ".\r\n", 3) == 0);
        g_assert (end == 3 || (end >= 5 && memcmp (data + end - 5, "\r\n", 2) == 0));
      }
  }
  return 0;
}
