/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-dot.c: dot-stuffing (writer) and unstuffing (parser) of multi-line data, the one
 * implementation for SMTP DATA (RFC 5321 section 4.5.2) and MTQP multi-line answers
 * (RFC 3887 section 2.2). Contract: msgtrk-dot-private.h.
 *
 * The rule (RFC 5321 section 4.5.2, "Transparency"):
 *   - Before sending a line of mail text, the SMTP client checks the first character of
 *     the line. If it is a period, one additional period is inserted at the beginning of
 *     the line.
 *   - When a line of mail text is received by the SMTP server, it checks the line. If the
 *     line is composed of a single period, it is treated as the end of mail indicator. If
 *     the first character is a period and there are other characters on the line, the
 *     first character is deleted.
 * As grammar (what this parser accepts; the end is CRLF "." CRLF only, RFC 5321 4.1.1.4):
 *   data       = *line end
 *   line       = [ "." ] *( octet - LF ) LF          ; the leading "." is removed
 *   end        = "." CRLF                           ; only right after a CRLF or at the start
 * A "." line ended by a bare LF, or following a line ended by a bare LF, is data: this
 * closes the SMTP smuggling hole (<LF>.<CR><LF> and <CR><LF>.<LF>). Its dot is kept (the
 * line holds no other character, so RFC 5321's rule deletes none): a writer stuffs it
 * again, and the next server reads the same "." line, not an empty one.
 *
 * The streaming writer (MsgtrkDotWriter) writes the same as msgtrk_dot_stuff() for data
 * fed in pieces of any size, a line spanning pieces (no line limit: the caller's reader
 * bounds its pieces); the end marker goes at a line start.
 * How: the parser is a three-state machine over octets; inside a line it copies whole
 * runs up to the next LF (memchr), so its cost is one copy of the data. Fed in any
 * pieces, down to one octet at a time, it gives the same result.
 * Limits: none inside (no buffer); the writer checks the caller's line limit.
 * Never: end on anything but CRLF "." CRLF; read past @len; do I/O.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-dot-private.h"

/*
 * msgtrk_dot_stuff:
 * @out: where the transmitted form is appended
 * @data: lines, each ended by LF or CRLF (a last line without one counts as a line)
 * @len: octets in @data
 * @max_line: longest transmitted line accepted, CRLF excluded and stuffing included
 *   (0: no limit)
 * @bad_line_len: (out) (optional): on failure, the stuffed length of the first line over
 *   @max_line
 *
 * Appends @data as transmitted: every line ended by CRLF (a CR before the LF is taken as
 * part of the line ending, a bare CR elsewhere is kept), a '.' added in front of each line
 * that starts with '.'. The end marker is msgtrk_dot_end()'s job.
 *
 * Returns: %TRUE; %FALSE if a line is over @max_line, with @out unchanged
 */
gboolean
msgtrk_dot_stuff (GString    *out,
                  const char *data,
                  gsize       len,
                  gsize       max_line,
                  gsize      *bad_line_len)
{
  const char *p = data;
  const char *end = data + len;
  gsize start_len = out->len;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      gsize line_len = nl != NULL ? (gsize) (nl - p) : (gsize) (end - p);
      gboolean stuff;

      if (nl != NULL && line_len > 0 && p[line_len - 1] == '\r')
        line_len--;
      stuff = line_len > 0 && p[0] == '.';
      if (max_line > 0 && line_len + (stuff ? 1 : 0) > max_line)
        {
          if (bad_line_len != NULL)
            *bad_line_len = line_len + (stuff ? 1 : 0);
          g_string_truncate (out, start_len);
          return FALSE;
        }
      if (stuff)
        g_string_append_c (out, '.');
      g_string_append_len (out, p, (gssize) line_len);
      g_string_append_len (out, "\r\n", 2);
      p = nl != NULL ? nl + 1 : end;
    }
  return TRUE;
}

/* msgtrk_dot_end: appends the end marker "." CRLF. */
void
msgtrk_dot_end (GString *out)
{
  g_string_append_len (out, ".\r\n", 3);
}

/* msgtrk_dot_writer_init: a writer at the start of the data. */
void
msgtrk_dot_writer_init (MsgtrkDotWriter *writer)
{
  writer->line_start = TRUE;
  writer->last_cr = FALSE;
}

/*
 * msgtrk_dot_writer_feed:
 * @writer: the state
 * @data: the next octets of the data (unstuffed; lines ended by LF or CRLF)
 * @len: octets in @data
 * @out: where the transmitted form is appended
 *
 * Appends @data as msgtrk_dot_stuff() would (a '.' added in front of each line that starts
 * with '.', every LF written as CRLF unless a CR came just before it), a line that goes on
 * in the next call left open: fed in any pieces, the same output as fed whole.
 */
void
msgtrk_dot_writer_feed (MsgtrkDotWriter *writer,
                        const char      *data,
                        gsize            len,
                        GString         *out)
{
  const char *p = data;
  const char *end = data + len;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      gsize n = nl != NULL ? (gsize) (nl - p) : (gsize) (end - p);

      if (writer->line_start && n > 0 && p[0] == '.')
        g_string_append_c (out, '.');
      if (n > 0)
        {
          g_string_append_len (out, p, (gssize) n);
          writer->last_cr = p[n - 1] == '\r';
          writer->line_start = FALSE;
        }
      if (nl == NULL)
        break;
      /* A '.' line start is decided by the line's first octet: an empty line is none. */
      if (writer->last_cr)
        g_string_append_c (out, '\n');
      else
        g_string_append_len (out, "\r\n", 2);
      writer->line_start = TRUE;
      writer->last_cr = FALSE;
      p = nl + 1;
    }
}

/* msgtrk_dot_writer_end: ends an open line with CRLF (as msgtrk_dot_stuff() ends a last
 * line without LF), then appends the end marker; the writer is ready for new data. */
void
msgtrk_dot_writer_end (MsgtrkDotWriter *writer,
                       GString         *out)
{
  if (!writer->line_start)
    g_string_append_len (out, "\r\n", 2);
  msgtrk_dot_end (out);
  msgtrk_dot_writer_init (writer);
}

/* msgtrk_dot_parser_init: a parser at the start of the data (right after a CRLF). */
void
msgtrk_dot_parser_init (MsgtrkDotParser *parser)
{
  parser->state = MSGTRK_DOT_STATE_LINE_START;
  parser->after_crlf = TRUE;
  parser->last_cr = FALSE;
}

/*
 * msgtrk_dot_parser_line_dropped:
 *
 * Tells the parser that the caller's reader threw a whole line away, up to and including
 * its LF (e.g. a line over the caller's limit): the next octet starts a line, and the
 * dropped line counts as ended by CRLF.
 */
void
msgtrk_dot_parser_line_dropped (MsgtrkDotParser *parser)
{
  parser->state = MSGTRK_DOT_STATE_LINE_START;
  parser->after_crlf = TRUE;
  parser->last_cr = FALSE;
}

/*
 * msgtrk_dot_parser_feed:
 * @parser: the state
 * @data: the next octets as received
 * @len: octets in @data
 * @out: where the unstuffed data is appended (line endings as received)
 * @consumed: (out): octets of @data used: all of them, or up to and including the LF of
 *   the end marker
 *
 * Returns: %TRUE when the end marker has been read (the parser is ready for new data
 *   again; octets after *@consumed belong to whatever follows), %FALSE when more is needed
 */
gboolean
msgtrk_dot_parser_feed (MsgtrkDotParser *parser,
                        const char      *data,
                        gsize            len,
                        GString         *out,
                        gsize           *consumed)
{
  gsize i = 0;

  while (i < len)
    {
      switch (parser->state)
        {
        case MSGTRK_DOT_STATE_LINE_START:
          parser->last_cr = FALSE;
          if (data[i] == '.')
            {
              parser->state = MSGTRK_DOT_STATE_DOT;
              i++;
              break;
            }
          parser->state = MSGTRK_DOT_STATE_TEXT;
          break;

        case MSGTRK_DOT_STATE_DOT:
          if (data[i] == '\r')
            {
              parser->state = MSGTRK_DOT_STATE_DOT_CR;
              i++;
              break;
            }
          /* "." and a bare LF: a line of a single ".", not the end: the dot is data. */
          if (data[i] == '\n')
            g_string_append_c (out, '.');
          parser->state = MSGTRK_DOT_STATE_TEXT;
          break;

        case MSGTRK_DOT_STATE_DOT_CR:
          if (data[i] == '\n' && parser->after_crlf)
            {
              *consumed = i + 1;
              msgtrk_dot_parser_init (parser);
              return TRUE;
            }
          /* "." CRLF after a bare LF: a line of a single ".", not the end: the dot is
           * data. ".\r" then anything else: the dot goes, the held CR is data. */
          if (data[i] == '\n')
            g_string_append_c (out, '.');
          g_string_append_c (out, '\r');
          parser->last_cr = TRUE;
          parser->state = MSGTRK_DOT_STATE_TEXT;
          break;

        case MSGTRK_DOT_STATE_TEXT:
        default:
          {
            const char *nl = memchr (data + i, '\n', len - i);
            gsize n = nl != NULL ? (gsize) (nl - (data + i)) + 1 : len - i;

            g_string_append_len (out, data + i, (gssize) n);
            if (nl != NULL)
              {
                parser->after_crlf = n >= 2 ? data[i + n - 2] == '\r' : parser->last_cr;
                parser->state = MSGTRK_DOT_STATE_LINE_START;
              }
            else
              parser->last_cr = data[i + n - 1] == '\r';
            i += n;
          }
          break;
        }
    }
  *consumed = len;
  return FALSE;
}
