/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-io.c: a bounded line reader for SMTP, server and client side.
 *
 * A line ends at LF; the returned text keeps its terminator ("\r\n" or a bare "\n") so that
 * the caller decides what a bare LF means. A line longer than the caller's limit is read
 * to its end and thrown away (RELAY_LINE_TOO_LONG) so that the session keeps its sync; it is
 * never truncated into a shorter command. The reader owns its buffer, so the number of
 * octets the client already sent (pipelining) is known exactly: relay_line_reader_available.
 *
 * Limits: the caller's max must be smaller than RELAY_LINE_BUFFER_SIZE.
 */
#include "relay.h"

#include <string.h>

void
relay_line_reader_init (RelayLineReader *reader,
                        GInputStream    *in)
{
  reader->in = in;
  reader->start = 0;
  reader->end = 0;
}

/* Octets received and not yet returned as lines. */
gsize
relay_line_reader_available (RelayLineReader *reader)
{
  return reader->end - reader->start;
}

static gssize
fill (RelayLineReader *reader,
      GCancellable    *cancellable,
      GError         **error)
{
  gssize n;

  if (reader->start > 0)
    {
      memmove (reader->buf, reader->buf + reader->start, reader->end - reader->start);
      reader->end -= reader->start;
      reader->start = 0;
    }
  n = g_input_stream_read (reader->in, reader->buf + reader->end,
                           sizeof reader->buf - reader->end, cancellable, error);
  if (n > 0)
    reader->end += n;
  return n;
}

/* Read one line of at most @max octets (terminator included) into @line. */
RelayLineStatus
relay_line_reader_read (RelayLineReader *reader,
                        gsize            max,
                        GString         *line,
                        GCancellable    *cancellable,
                        GError         **error)
{
  gboolean discarding = FALSE;

  g_return_val_if_fail (max < RELAY_LINE_BUFFER_SIZE, RELAY_LINE_ERROR);

  g_string_truncate (line, 0);
  for (;;)
    {
      char *base = reader->buf + reader->start;
      gsize avail = reader->end - reader->start;
      char *lf = memchr (base, '\n', avail);
      gssize n;

      if (lf != NULL)
        {
          gsize len = lf - base + 1;

          reader->start += len;
          if (discarding || len > max)
            return RELAY_LINE_TOO_LONG;
          g_string_append_len (line, base, len);
          return RELAY_LINE_OK;
        }
      if (avail > max)
        {
          /* Too long already: drop what we have and skip to the next LF. */
          discarding = TRUE;
          reader->start = reader->end = 0;
        }
      n = fill (reader, cancellable, error);
      if (n < 0)
        return RELAY_LINE_ERROR;
      if (n == 0)
        return RELAY_LINE_EOF;
    }
}
