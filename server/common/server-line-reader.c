/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-line-reader.c: a bounded line reader for the servers (contract:
 * server-line-reader.h), SMTP server and client side and MTQP.
 *
 * How: one fixed buffer; a line is found with memchr and copied out; the unread rest is
 * moved to the front before the next read(2), so a pipelined batch is read with as few
 * reads as the client's writes allow.
 * Limits: the caller's max must be smaller than SERVER_LINE_BUFFER_SIZE.
 * Never: return part of an overlong line as a line; keep a copy of consumed octets when
 * wiping is on.
 */
#include "config.h"

#include <string.h>

#include "msgtrk.h"
#include "server-line-reader.h"

/* server_line_reader_init: a reader of @in (not owned) with an empty buffer. */
void
server_line_reader_init (ServerLineReader *reader,
                         GInputStream     *in,
                         gboolean          wipe)
{
  reader->in = in;
  reader->wipe = wipe;
  reader->hook = NULL;
  reader->hook_data = NULL;
  reader->start = 0;
  reader->end = 0;
  reader->discarding = FALSE;
  reader->nonblocking = FALSE;
}

/* server_line_reader_set_nonblocking: read without blocking (@in must be a
 * GPollableInputStream): a read that would block ends the call with
 * G_IO_ERROR_WOULD_BLOCK, nothing lost. */
void
server_line_reader_set_nonblocking (ServerLineReader *reader,
                                    gboolean          nonblocking)
{
  g_return_if_fail (!nonblocking || G_IS_POLLABLE_INPUT_STREAM (reader->in));
  reader->nonblocking = nonblocking;
}

/* server_line_reader_set_hook: @hook runs before each blocking read (NULL: none). */
void
server_line_reader_set_hook (ServerLineReader  *reader,
                             ServerLineFillHook hook,
                             gpointer           user_data)
{
  reader->hook = hook;
  reader->hook_data = user_data;
}

/* Octets received and not yet returned as lines. */
gsize
server_line_reader_available (ServerLineReader *reader)
{
  return reader->end - reader->start;
}

/* Drop the buffered octets (wiped when wiping is on), e.g. at STARTTLS. */
void
server_line_reader_clear (ServerLineReader *reader)
{
  if (reader->wipe)
    msgtrk_secure_wipe (reader->buf, sizeof reader->buf);
  reader->start = reader->end = 0;
}

/* server_line_strip_end: removes the line end a read line carries (its LF and a CR
 * before it); FALSE when the rest holds a NUL (a command must not: the SMTP servers
 * answer 500 5.5.2). */
gboolean
server_line_strip_end (GString *line)
{
  if (line->len > 0 && line->str[line->len - 1] == '\n')
    g_string_truncate (line, line->len - 1);
  if (line->len > 0 && line->str[line->len - 1] == '\r')
    g_string_truncate (line, line->len - 1);
  return memchr (line->str, '\0', line->len) == NULL;
}

static gssize
fill (ServerLineReader *reader,
      GCancellable     *cancellable,
      GError          **error)
{
  gssize n;

  if (reader->start > 0)
    {
      gsize rest = reader->end - reader->start;

      memmove (reader->buf, reader->buf + reader->start, rest);
      if (reader->wipe)
        msgtrk_secure_wipe (reader->buf + rest, reader->start);
      reader->end = rest;
      reader->start = 0;
    }
  if (reader->hook != NULL && !reader->hook (reader->hook_data, error))
    return -1;
  if (reader->nonblocking)
    n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (reader->in),
                                                  reader->buf + reader->end,
                                                  sizeof reader->buf - reader->end,
                                                  cancellable, error);
  else
    n = g_input_stream_read (reader->in, reader->buf + reader->end,
                             sizeof reader->buf - reader->end, cancellable, error);
  if (n > 0)
    reader->end += (gsize) n;
  return n;
}

/* Read one line of at most @max octets (terminator included) into @line. */
ServerLineStatus
server_line_reader_read (ServerLineReader *reader,
                         gsize             max,
                         GString          *line,
                         GCancellable     *cancellable,
                         GError          **error)
{
  g_return_val_if_fail (max < SERVER_LINE_BUFFER_SIZE, SERVER_LINE_ERROR);

  g_string_truncate (line, 0);
  for (;;)
    {
      char *base = reader->buf + reader->start;
      gsize avail = reader->end - reader->start;
      char *lf = memchr (base, '\n', avail);
      gssize n;

      if (lf != NULL)
        {
          gsize len = (gsize) (lf - base) + 1;

          gboolean discarded = reader->discarding;

          reader->start += len;
          reader->discarding = FALSE;
          if (!discarded && len <= max)
            g_string_append_len (line, base, (gssize) len);
          if (reader->wipe)
            msgtrk_secure_wipe (base, len);
          return discarded || len > max ? SERVER_LINE_TOO_LONG : SERVER_LINE_OK;
        }
      if (avail > max)
        {
          /* Too long already: drop what we have and skip to the next LF (remembered
           * across calls: a non-blocking stream may end a call with WOULD_BLOCK here). */
          reader->discarding = TRUE;
          server_line_reader_clear (reader);
        }
      n = fill (reader, cancellable, error);
      if (n < 0)
        return SERVER_LINE_ERROR;
      if (n == 0)
        return SERVER_LINE_EOF;
    }
}
