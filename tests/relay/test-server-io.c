/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-server-io.c: unit tests of the servers' shared I/O helpers: the bounded line reader
 * (server/common/server-line-reader.c) and durable writes (server/common/durable-file.c).
 *
 * The reader is fed from memory whole and through a stream that returns one octet per
 * read; each case checks the same lines and statuses both ways. Limits: a line at the
 * caller's max and one past it, and a line far longer than the reader's buffer (the next
 * line must still be read: the session keeps its sync); read_append gathers lines after
 * what the string held. Wiping: nothing handed out stays
 * in the reader's buffer. The configuration reader (server/common/server-config.c): one
 * table of cases for the unknown group/key check and the typed getters, at and past each
 * range limit. The listener (server/common/server-listener.c): session threads accept
 * themselves and are reused (one per session at once plus one accepting, never more than
 * max_connections), the cap refuses or keeps a client waiting, and all threads are joined
 * by stop; a handler gets the accepted descriptor (blocking, TCP_NODELAY) and the
 * client's address, and stop ends a recv(2) blocked on it. The direct socket reader
 * (server_line_reader_init_fd) and server_socket_send_all on a socket pair: lines, the
 * read timeout with nothing lost, end of file, a full socket's write timeout, a write
 * that need not wait made even when cancelled.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "msgtrk-dot-private.h"
#include "msgtrk-private.h"
#include "server-config.h"
#include "server-coro.h"
#include "server-line-reader.h"
#include "server-listener.h"
#include "test-util.h"

/* A filter stream that returns at most one octet per read. */
#define TYPE_ONE_BYTE_STREAM (one_byte_stream_get_type ())
G_DECLARE_FINAL_TYPE (OneByteStream, one_byte_stream, ONE, BYTE_STREAM, GFilterInputStream)

struct _OneByteStream
{
  GFilterInputStream parent;
};

G_DEFINE_TYPE (OneByteStream, one_byte_stream, G_TYPE_FILTER_INPUT_STREAM)

static gssize
one_byte_read (GInputStream *stream,
               void         *buffer,
               gsize         count,
               GCancellable *cancellable,
               GError      **error)
{
  GInputStream *base = g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (stream));

  return g_input_stream_read (base, buffer, MIN (count, 1), cancellable, error);
}

static void
one_byte_stream_class_init (OneByteStreamClass *klass)
{
  G_INPUT_STREAM_CLASS (klass)->read_fn = one_byte_read;
}

static void
one_byte_stream_init (OneByteStream *self)
{
}

static GInputStream *
stream_new (const char *data,
            gsize       len,
            gboolean    bytewise)
{
  GInputStream *mem = g_memory_input_stream_new_from_data (g_memdup2 (data, len), (gssize) len,
                                                           g_free);
  GInputStream *s;

  if (!bytewise)
    return mem;
  s = g_object_new (TYPE_ONE_BYTE_STREAM, "base-stream", mem, NULL);
  g_object_unref (mem);
  return s;
}

typedef struct
{
  ServerLineStatus status;
  const char *line;
} Expect;

static void
check_lines (const char   *data,
             gsize         len,
             gsize         max,
             const Expect *expect)
{
  for (int bytewise = 0; bytewise <= 1; bytewise++)
    {
      g_autoptr (GInputStream) in = stream_new (data, len, bytewise);
      g_autoptr (GString) line = g_string_new (NULL);
      ServerLineReader *reader = g_new0 (ServerLineReader, 1);

      server_line_reader_init (reader, in, bytewise);
      for (const Expect *e = expect;; e++)
        {
          g_autoptr (GError) error = NULL;
          ServerLineStatus st = server_line_reader_read (reader, max, line, NULL, &error);

          g_assert_no_error (error);
          g_assert_cmpint (st, ==, e->status);
          if (st == SERVER_LINE_OK)
            g_assert_cmpstr (line->str, ==, e->line);
          if (st == SERVER_LINE_EOF)
            break;
        }
      g_free (reader);
    }
}

static void
test_reader_lines (void)
{
  static const Expect expect[] = {
    { SERVER_LINE_OK, "a\r\n" },
    { SERVER_LINE_OK, "b\n" },
    { SERVER_LINE_OK, "\r\n" },
    { SERVER_LINE_EOF, NULL }, /* "c" without LF is not a line */
  };
  const char data[] = "a\r\nb\n\r\nc";

  check_lines (data, sizeof data - 1, 100, expect);
}

/* max counts the terminator: 10 octets pass, 11 are too long, the next line is read. */
static void
test_reader_limit (void)
{
  static const Expect expect[] = {
    { SERVER_LINE_OK, "12345678\r\n" },
    { SERVER_LINE_TOO_LONG, NULL },
    { SERVER_LINE_OK, "ok\r\n" },
    { SERVER_LINE_EOF, NULL },
  };
  const char data[] = "12345678\r\n123456789\r\nok\r\n";

  check_lines (data, sizeof data - 1, 10, expect);
}

/* A line many times the buffer size is dropped as it arrives; sync is kept. */
static void
test_reader_huge_line (void)
{
  static const Expect expect[] = {
    { SERVER_LINE_TOO_LONG, NULL },
    { SERVER_LINE_OK, "next\r\n" },
    { SERVER_LINE_EOF, NULL },
  };
  g_autoptr (GString) data = g_string_new (NULL);

  for (gsize i = 0; i < 5 * SERVER_LINE_BUFFER_SIZE; i++)
    g_string_append_c (data, 'x');
  g_string_append (data, "\r\nnext\r\n");
  check_lines (data->str, data->len, 998 + 2, expect);
}

/* What the client already sent (pipelining) is known after a line is returned. */
static void
test_reader_available (void)
{
  const char data[] = "a\r\nbc\r\n";
  g_autoptr (GInputStream) in = stream_new (data, sizeof data - 1, FALSE);
  g_autoptr (GString) line = g_string_new (NULL);
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);

  server_line_reader_init (reader, in, FALSE);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, NULL), ==, SERVER_LINE_OK);
  g_assert_cmpuint (server_line_reader_available (reader), ==, 4);
  server_line_reader_clear (reader);
  g_assert_cmpuint (server_line_reader_available (reader), ==, 0);
}

/* server_line_reader_read_append: each line after what the string held; a line past the
 * max appends nothing (TOO_LONG), and the next line still comes; whole and an octet at a
 * time. */
static void
test_reader_append (void)
{
  const char data[] = "250-a\r\n250-bbbbbbbbbb\r\n250 c\n";

  for (int one = 0; one < 2; one++)
    {
      g_autoptr (GInputStream) in = stream_new (data, sizeof data - 1, one);
      g_autoptr (GString) reply = g_string_new ("x");
      g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);

      server_line_reader_init (reader, in, FALSE);
      g_assert_cmpint (server_line_reader_read_append (reader, 10, reply, NULL, NULL), ==,
                       SERVER_LINE_OK);
      g_assert_cmpstr (reply->str, ==, "x250-a\r\n");
      g_assert_cmpint (server_line_reader_read_append (reader, 10, reply, NULL, NULL), ==,
                       SERVER_LINE_TOO_LONG);
      g_assert_cmpstr (reply->str, ==, "x250-a\r\n");
      g_assert_cmpint (server_line_reader_read_append (reader, 10, reply, NULL, NULL), ==,
                       SERVER_LINE_OK);
      g_assert_cmpstr (reply->str, ==, "x250-a\r\n250 c\n");
      g_assert_cmpint (server_line_reader_read_append (reader, 10, reply, NULL, NULL), ==,
                       SERVER_LINE_EOF);
      g_assert_cmpstr (reply->str, ==, "x250-a\r\n250 c\n");
    }
}

/* Does the reader's buffer hold @needle anywhere? */
static gboolean
buffer_holds (const ServerLineReader *reader,
              const char             *needle)
{
  gsize n = strlen (needle);

  for (gsize i = 0; i + n <= sizeof reader->buf; i++)
    if (memcmp (reader->buf + i, needle, n) == 0)
      return TRUE;
  return FALSE;
}

/* read_piece: a line at the limit comes whole; one past it in pieces of the limit, the
 * last with its LF; a line longer than the buffer too; the next line after them. */
static void
test_reader_pieces (void)
{
  g_autoptr (GString) data = g_string_new ("012345678\n0123456789\n");
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GString) joined = g_string_new (NULL);
  g_autoptr (GInputStream) in = NULL;
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);
  gsize pieces = 0;

  for (guint i = 0; i < 3 * SERVER_LINE_BUFFER_SIZE; i++)
    g_string_append_c (data, (char) ('a' + i % 26));
  g_string_append (data, "\r\nnext\r\n");
  in = stream_new (data->str, data->len, FALSE);
  server_line_reader_init (reader, in, FALSE);
  g_assert_cmpint (server_line_reader_read_piece (reader, 10, line, NULL, NULL), ==,
                   SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "012345678\n");
  g_assert_cmpint (server_line_reader_read_piece (reader, 10, line, NULL, NULL), ==,
                   SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "0123456789");
  g_assert_cmpint (server_line_reader_read_piece (reader, 10, line, NULL, NULL), ==,
                   SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "\n");
  do
    {
      g_assert_cmpint (server_line_reader_read_piece (reader, SERVER_LINE_BUFFER_SIZE - 1, line,
                                                      NULL, NULL), ==, SERVER_LINE_OK);
      g_assert_cmpuint (line->len, <=, SERVER_LINE_BUFFER_SIZE - 1);
      g_string_append_len (joined, line->str, (gssize) line->len);
      pieces++;
    }
  while (line->str[line->len - 1] != '\n');
  g_assert_cmpuint (pieces, ==, 4);
  g_assert_cmpmem (joined->str, joined->len, data->str + 21, 3 * SERVER_LINE_BUFFER_SIZE + 2);
  g_assert_cmpint (server_line_reader_read_piece (reader, 100, line, NULL, NULL), ==,
                   SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "next\r\n");
}

/* peek and consume: what is buffered comes as it is, up to the caller's max, and stays
 * until consumed (a line read after a partial consume starts where it stopped); a peek
 * reads only when nothing is buffered; a consume wipes when wiping is on; the end of
 * the input is SERVER_LINE_EOF. */
static void
test_reader_peek (void)
{
  const char data[] = "HEAD\r\nbody one\r\nbody two\r\n.\r\nQUIT\r\n";
  g_autoptr (GInputStream) in = stream_new (data, sizeof data - 1, FALSE);
  g_autoptr (GInputStream) bytewise = stream_new (data, sizeof data - 1, TRUE);
  g_autoptr (GString) line = g_string_new (NULL);
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);
  const char *got = NULL;
  gsize len = 0;

  server_line_reader_init (reader, in, TRUE);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, NULL), ==, SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "HEAD\r\n");
  g_assert_cmpint (server_line_reader_peek (reader, 4, &got, &len, NULL, NULL), ==,
                   SERVER_LINE_OK);
  g_assert_cmpmem (got, len, "body", 4);
  g_assert_cmpint (server_line_reader_peek (reader, 1000, &got, &len, NULL, NULL), ==,
                   SERVER_LINE_OK);
  g_assert_cmpmem (got, len, data + 6, sizeof data - 1 - 6);
  server_line_reader_consume (reader, strlen ("body one\r\nbody two\r\n.\r\n"));
  g_assert_false (buffer_holds (reader, "body two"));
  g_assert_cmpuint (server_line_reader_available (reader), ==, strlen ("QUIT\r\n"));
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, NULL), ==, SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "QUIT\r\n");
  g_assert_cmpint (server_line_reader_peek (reader, 100, &got, &len, NULL, NULL), ==,
                   SERVER_LINE_EOF);

  /* An octet per read: a peek gives the one octet there, and reads again only once it was
   * consumed. */
  server_line_reader_init (reader, bytewise, FALSE);
  g_string_truncate (line, 0);
  for (;;)
    {
      ServerLineStatus st = server_line_reader_peek (reader, 100, &got, &len, NULL, NULL);

      if (st == SERVER_LINE_EOF)
        break;
      g_assert_cmpint (st, ==, SERVER_LINE_OK);
      g_assert_cmpuint (len, ==, 1);
      g_assert_cmpint (server_line_reader_peek (reader, 100, &got, &len, NULL, NULL), ==,
                       SERVER_LINE_OK);
      g_assert_cmpuint (len, ==, 1);
      g_string_append_len (line, got, 1);
      server_line_reader_consume (reader, 1);
    }
  g_assert_cmpmem (line->str, line->len, data, sizeof data - 1);
}

/* A body streamed by the buffer (peek, the dot parser, the writer, consume: as
 * msgtrk-submit-front streams a message body) comes out as written, lines longer than
 * the buffer and a stuffed one included, with the data before the end marker in the
 * buffer that holds the marker; the command after the marker stays in the reader. */
static void
peek_dot_run (gboolean bytewise)
{
  g_autoptr (GString) data = g_string_new (NULL);
  g_autoptr (GString) want = g_string_new (NULL);
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GString) unstuffed = g_string_new (NULL);
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GInputStream) in = NULL;
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);
  MsgtrkDotParser dot;
  MsgtrkDotWriter writer;
  const char fill[] = { 'a', 'b', '.', 'd', 'e' };
  const guint n[] = { 16381, 16382, 20002, 20000, 40000 };

  for (guint i = 0; i < G_N_ELEMENTS (n); i++)
    {
      for (guint j = 0; j < n[i]; j++)
        g_string_append_c (data, fill[i]);
      g_string_append (data, "\r\n");
    }
  g_string_assign (want, data->str);
  g_string_append (data, ".\r\nQUIT\r\n");
  in = stream_new (data->str, data->len, bytewise);
  server_line_reader_init (reader, in, FALSE);
  msgtrk_dot_parser_init (&dot);
  msgtrk_dot_writer_init (&writer);
  for (;;)
    {
      const char *got;
      gsize len, used = 0;
      gboolean end;

      g_assert_cmpint (server_line_reader_peek (reader, SERVER_LINE_BUFFER_SIZE, &got, &len,
                                                NULL, NULL), ==, SERVER_LINE_OK);
      g_string_truncate (unstuffed, 0);
      end = msgtrk_dot_parser_feed (&dot, got, len, unstuffed, &used);
      server_line_reader_consume (reader, used);
      msgtrk_dot_writer_feed (&writer, unstuffed->str, unstuffed->len, out);
      if (end)
        break;
    }
  /* The '.' line was stuffed (a '.' more, unstuffed by the parser, stuffed again). */
  g_assert_cmpmem (out->str, out->len, want->str, want->len);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, NULL), ==, SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "QUIT\r\n");
}

/* ... with the input in one read per buffer, and one octet per read (every boundary: the
 * end marker and the CRLFs split across peeks). */
static void
test_reader_peek_dot (void)
{
  peek_dot_run (FALSE);
  peek_dot_run (TRUE);
}

/* With wiping on, no octet handed out or dropped stays in the buffer. */
static void
test_reader_wipe (void)
{
  const char data[] = "TRACK env SECRET1\r\nQUIT\r\nTOOLONG-SECRET2\r\n";
  g_autoptr (GInputStream) in = stream_new (data, sizeof data - 1, FALSE);
  g_autoptr (GString) line = g_string_new (NULL);
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);

  server_line_reader_init (reader, in, TRUE);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, NULL), ==, SERVER_LINE_OK);
  g_assert_false (buffer_holds (reader, "SECRET1"));
  g_assert_true (buffer_holds (reader, "QUIT"));
  g_assert_true (buffer_holds (reader, "SECRET2"));
  g_assert_cmpint (server_line_reader_read (reader, 10, line, NULL, NULL), ==, SERVER_LINE_OK);
  g_assert_cmpint (server_line_reader_read (reader, 10, line, NULL, NULL), ==,
                   SERVER_LINE_TOO_LONG);
  g_assert_false (buffer_holds (reader, "SECRET2"));
  g_assert_false (buffer_holds (reader, "QUIT"));
}

static gboolean
count_hook (gpointer  data,
            GError  **error)
{
  guint *calls = data;

  if (++*calls < 3)
    return TRUE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "stop");
  return FALSE;
}

/* The fill hook runs before every read; its failure ends the reading with its error. */
static void
test_reader_hook (void)
{
  const char data[] = "a\r\nb\r\n";
  g_autoptr (GInputStream) in = stream_new (data, sizeof data - 1, TRUE);
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);
  guint calls = 0;

  server_line_reader_init (reader, in, FALSE);
  server_line_reader_set_hook (reader, count_hook, &calls);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==,
                   SERVER_LINE_ERROR);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_assert_cmpuint (calls, ==, 3);
}

/* SO_RCVTIMEO of @fd, microseconds. */
static gint64
rcvtimeo_of (int fd)
{
  struct timeval tv = { 0, 0 };
  socklen_t len = sizeof tv;

  g_assert_cmpint (getsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len), ==, 0);
  return (gint64) tv.tv_sec * G_USEC_PER_SEC + tv.tv_usec;
}

/* The direct socket reader: one recv(2) per read, SO_RCVTIMEO its timeout, set by the
 * reader before its first recv (the caller did not), not again while it stays the same
 * (the octets of an unfinished line kept), the peer's close read as end of file. */
static void
test_reader_socket (void)
{
  int sv[2];
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);
  gint64 t0;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
  server_line_reader_init_fd (reader, sv[0], 1, FALSE);
  g_assert_cmpint (reader->fd, ==, sv[0]);
  g_assert_cmpint (rcvtimeo_of (sv[0]), ==, 0); /* lazily: not at init */
  g_assert_cmpint (write (sv[1], "a\r\nb", 4), ==, 4);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==, SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "a\r\n");
  g_assert_cmpint (rcvtimeo_of (sv[0]), ==, G_USEC_PER_SEC);
  g_assert_cmpint (reader->rcvtimeo_us, ==, G_USEC_PER_SEC);
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==,
                   SERVER_LINE_ERROR);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, G_USEC_PER_SEC / 2);
  g_clear_error (&error);
  g_assert_cmpint (write (sv[1], "\r\n", 2), ==, 2);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==, SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "b\r\n");
  close (sv[1]);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==,
                   SERVER_LINE_EOF);
  close (sv[0]);
}

/* The deadline on the direct socket: octets the peer sent before it was reached are read
 * even past it (the caller's own waits are not the peer's); past it with nothing there
 * the read fails at once as the deadline; the credit of octets (min_rate) is capped. */
static void
test_reader_deadline (void)
{
  int sv[2];
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);
  char burst[2000];
  gint64 now;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
  /* Set by the caller as well (as before the reader set it): the reader's own is the same. */
  g_assert_true (server_socket_set_read_timeout (sv[0], 5, &error));
  server_line_reader_init_fd (reader, sv[0], 5, FALSE);
  g_assert_cmpint (write (sv[1], "sent in time\r\n", 14), ==, 14);
  server_line_reader_set_deadline (reader, g_get_monotonic_time () - 1, 0, 0);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==, SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "sent in time\r\n");
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==,
                   SERVER_LINE_ERROR);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (server_line_reader_deadline_expired (reader));
  g_clear_error (&error);

  /* 2000 octets at 10 a second are 200 s of credit: capped at 2 s from now. */
  memset (burst, 'y', sizeof burst);
  burst[sizeof burst - 1] = '\n';
  g_assert_cmpint (write (sv[1], burst, sizeof burst), ==, (gssize) sizeof burst);
  now = g_get_monotonic_time ();
  server_line_reader_set_deadline (reader, now + G_USEC_PER_SEC, 10, 2);
  g_assert_cmpint (server_line_reader_read (reader, 4000, line, NULL, &error), ==, SERVER_LINE_OK);
  g_assert_cmpint (reader->deadline, <=, g_get_monotonic_time () + 2 * G_USEC_PER_SEC);
  g_assert_cmpint (reader->deadline, >=, now + 2 * G_USEC_PER_SEC);
  /* Without a cap the same octets move it the whole 200 s. */
  g_assert_cmpint (write (sv[1], burst, sizeof burst), ==, (gssize) sizeof burst);
  server_line_reader_set_deadline (reader, now + G_USEC_PER_SEC, 10, 0);
  g_assert_cmpint (server_line_reader_read (reader, 4000, line, NULL, &error), ==, SERVER_LINE_OK);
  g_assert_cmpint (reader->deadline, ==, now + G_USEC_PER_SEC + 200 * G_USEC_PER_SEC);
  close (sv[1]);
  close (sv[0]);
}

/* A GIO stream with the reader's own cancellable: a read that must wait ends at the
 * deadline (a timer of the default main context cancels it), not at the stream's timeout;
 * octets that come before it are read. */
static gboolean
reader_timed_loop_quit (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static gpointer
reader_timed_thread (gpointer data)
{
  GMainLoop *loop = data;

  g_main_loop_run (loop);
  return NULL;
}

static void
test_reader_deadline_timed (void)
{
  int sv[2];
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (GCancellable) timed = g_cancellable_new ();
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autofree ServerLineReader *reader = g_new0 (ServerLineReader, 1);
  GThread *thread;
  gint64 t0;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
  sock = g_socket_new_from_fd (sv[0], &error);
  g_assert_no_error (error);
  g_socket_set_timeout (sock, 10);
  conn = g_socket_connection_factory_create_connection (sock);
  /* The default context runs in another thread, as the front's main thread. */
  thread = g_thread_new ("loop", reader_timed_thread, loop);
  server_line_reader_init (reader, g_io_stream_get_input_stream (G_IO_STREAM (conn)), FALSE);
  server_line_reader_set_deadline_cancellable (reader, timed);
  g_assert_cmpint (write (sv[1], "a", 1), ==, 1);
  t0 = g_get_monotonic_time ();
  server_line_reader_set_deadline (reader, t0 + G_USEC_PER_SEC / 2, 0, 0);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==,
                   SERVER_LINE_ERROR);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (server_line_reader_deadline_expired (reader));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 3 * G_USEC_PER_SEC);
  g_clear_error (&error);
  g_assert_cmpint (write (sv[1], "b\r\n", 3), ==, 3);
  server_line_reader_set_deadline (reader, g_get_monotonic_time () + G_USEC_PER_SEC, 0, 0);
  g_assert_cmpint (server_line_reader_read (reader, 100, line, NULL, &error), ==, SERVER_LINE_OK);
  g_assert_cmpstr (line->str, ==, "ab\r\n");
  g_idle_add (reader_timed_loop_quit, loop);
  g_thread_join (thread);
  close (sv[1]);
}

/* server_socket_send_all: a socket nobody reads fills up and the write times out; a
 * write with room is made even with the cancellable cancelled (a session's last 421). */
static void
test_socket_send_all (void)
{
  int sv[2];
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_autofree char *big = g_malloc0 (1 << 20);
  char buf[8];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
  g_cancellable_cancel (cancel);
  g_assert_true (server_socket_send_all (sv[0], "421\r\n", 5, 1, cancel, &error));
  g_assert_no_error (error);
  g_assert_cmpint (read (sv[1], buf, sizeof buf), ==, 5);
  g_assert_false (server_socket_send_all (sv[0], big, 1 << 20, 1, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_clear_error (&error);
  close (sv[1]);
  g_assert_false (server_socket_send_all (sv[0], "x", 1, 1, NULL, &error));
  g_assert_nonnull (error);
  close (sv[0]);
}

static void
test_durable_replace (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *tmp = g_build_filename (dir, "f.tmp", NULL);
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (durable_file_replace (tmp, path, dir, "one", 3, &error));
  g_assert_no_error (error);
  g_assert_true (durable_file_replace (tmp, path, dir, "two!", 4, &error));
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "two!");
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
  mt_tmpdir_remove (dir);
}

/* Failures name the path and leave no temporary file behind. */
static void
test_durable_errors (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *missing = g_build_filename (dir, "no-such-dir", "f", NULL);
  g_autofree char *tmp = g_build_filename (dir, "f.tmp", NULL);
  g_autofree char *into_missing = g_build_filename (dir, "no-such-dir", "g", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (durable_file_write (missing, "x", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  g_assert_true (durable_file_write (tmp, "x", 1, &error));
  g_assert_false (durable_file_rename (tmp, into_missing, dir, &error));
  g_assert_nonnull (strstr (error->message, tmp));
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  g_assert_false (durable_file_sync_dir (missing, &error));
  g_assert_nonnull (error);
  mt_tmpdir_remove (dir);
}

/* A symbolic link planted at the temporary name is not followed: the file it names is
 * left as it was (the temporary names are predictable). */
static void
test_durable_no_follow (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *victim = g_build_filename (dir, "victim", NULL);
  g_autofree char *tmp = g_build_filename (dir, "f.tmp", NULL);
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  g_autofree char *content = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (victim, "kept", -1, NULL));
  g_assert_cmpint (symlink (victim, tmp), ==, 0);
  g_assert_false (durable_file_replace (tmp, path, dir, "x", 1, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, tmp));
  g_assert_true (g_file_get_contents (victim, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "kept");
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_unlink (tmp);
  mt_tmpdir_remove (dir);
}

/* The line end a read line carries goes; a NUL inside is reported. */
static void
test_line_strip_end (void)
{
  static const struct
  {
    const char *in;
    gsize len;
    const char *out;
    gboolean ok;
  } cases[] = {
    { "HELO x\r\n", 8, "HELO x", TRUE },
    { "HELO x\n", 7, "HELO x", TRUE },
    { "\r\n", 2, "", TRUE },
    { "\n", 1, "", TRUE },
    { "a\rb\n", 4, "a\rb", TRUE },
    { "a\0b\r\n", 5, "a", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GString) line = g_string_new_len (cases[i].in, (gssize) cases[i].len);

      g_assert_cmpint (server_line_strip_end (line), ==, cases[i].ok);
      g_assert_cmpstr (line->str, ==, cases[i].out);
    }
}

/* The groups and keys a made-up program reads: [main] with two keys, [names] with any. */
static const char *const main_keys[] = { "listen", "count", NULL };
static const ServerConfigGroup test_groups[] = {
  { "main", main_keys },
  { "names", NULL },
  { NULL, NULL },
};

typedef struct
{
  const char *name;
  const char *text;    /* the configuration file */
  gboolean ok;         /* check_keys and get_uint ("count", 1..100) both succeed */
  guint64 count;       /* the value read when ok */
  const char *message; /* a fragment the error must hold when not ok */
} ConfigCase;

static const ConfigCase config_cases[] = {
  { "empty", "", TRUE, 7, NULL },
  { "known", "[main]\nlisten=0.0.0.0:1\ncount=5\n[names]\nanything=x\n", TRUE, 5, NULL },
  { "unknown-group", "[main]\ncount=5\n[mian]\nx=1\n", FALSE, 0,
    "test.conf: unknown group [mian] (this program reads [main], [names])" },
  { "unknown-key", "[main]\ncuont=5\n", FALSE, 0,
    "test.conf [main]: unknown key \"cuont\" (known keys: listen, count)" },
  { "bad-number", "[main]\ncount=5x\n", FALSE, 0,
    "[main] count: \"5x\" is not a number from 1 to 100" },
  { "negative", "[main]\ncount=-1\n", FALSE, 0, "is not a number from 1 to 100" },
  { "at-min", "[main]\ncount=1\n", TRUE, 1, NULL },
  { "below-min", "[main]\ncount=0\n", FALSE, 0, "\"0\" is not a number from 1 to 100" },
  { "at-max", "[main]\ncount=100\n", TRUE, 100, NULL },
  { "past-max", "[main]\ncount=101\n", FALSE, 0, "\"101\" is not a number from 1 to 100" },
  { "empty-number", "[main]\ncount=\n", FALSE, 0, "is not a number from 1 to 100" },
};

static void
test_config_cases (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (config_cases); i++)
    {
      const ConfigCase *c = &config_cases[i];
      g_autoptr (GKeyFile) kf = g_key_file_new ();
      g_autoptr (GError) error = NULL;
      guint64 count = 0;
      gboolean ok;

      g_test_message ("case %s", c->name);
      g_assert_true (g_key_file_load_from_data (kf, c->text, strlen (c->text),
                                                G_KEY_FILE_NONE, NULL));
      ok = server_config_check_keys (kf, "test.conf", test_groups, &error)
           && server_config_get_uint (kf, "main", "count", 7, 1, 100, &count, &error);
      if (c->ok)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpuint (count, ==, c->count);
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
          g_assert_nonnull (strstr (error->message, c->message));
        }
    }
}

static void
test_config_no_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *s = g_strdup ("old");

  g_assert_true (server_config_check_keys (NULL, NULL, test_groups, &error));
  g_assert_true (server_config_read_string (NULL, "main", "listen", "def", &s, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (s, ==, "def");
}

static void
test_config_read_string (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *s = g_strdup ("default");

  g_assert_true (g_key_file_load_from_data (kf, "[main]\nlisten= a \ncount=\n", -1,
                                            G_KEY_FILE_NONE, NULL));
  /* A field holding its default may be passed as the default (the relay does). */
  g_assert_true (server_config_read_string (kf, "main", "count", s, &s, &error));
  g_assert_cmpstr (s, ==, "default");
  g_assert_true (server_config_read_string (kf, "main", "listen", s, &s, &error));
  g_assert_cmpstr (s, ==, "a");
  g_assert_true (server_config_read_string (kf, "main", "absent", NULL, &s, &error));
  g_assert_null (s);
  g_assert_no_error (error);
}

static void
test_config_read_strings (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *count = g_strdup ("old");
  g_autofree char *absent = NULL;
  const ServerConfigString strings[] = {
    { "listen", "def", &listen },
    { "count", "empty", &count },
    { "absent", "none", &absent },
    { NULL, NULL, NULL },
  };

  g_assert_true (g_key_file_load_from_data (kf, "[main]\nlisten=x\ncount=\n", -1,
                                            G_KEY_FILE_NONE, NULL));
  g_assert_true (server_config_read_strings (kf, "main", strings, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (listen, ==, "x");
  g_assert_cmpstr (count, ==, "empty");
  g_assert_cmpstr (absent, ==, "none");
}

static void
test_config_read_uints (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  guint a = 0, b = 0, c = 42;
  const ServerConfigUint uints[] = {
    { "a", 1, 0, 10, &a },
    { "b", 2, 0, 10, &b },
    { "c", 3, 0, 10, &c },
    { NULL, 0, 0, 0, NULL },
  };

  /* a at its limit, b absent (default), c past its limit: refused, c left as it was. */
  g_assert_true (g_key_file_load_from_data (kf, "[main]\na=10\nc=11\n", -1,
                                            G_KEY_FILE_NONE, NULL));
  g_assert_false (server_config_read_uints (kf, "main", uints, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, "[main] c: \"11\" is not a number from 0 to 10"));
  g_assert_cmpuint (a, ==, 10);
  g_assert_cmpuint (b, ==, 2);
  g_assert_cmpuint (c, ==, 42);
}

/* The listener's session threads: how many sessions each has served so far. */
static GPrivate sessions_of_thread;

typedef struct
{
  GMutex lock;
  guint threads_made;     /* sessions that were their thread's first */
  guint most_on_one;      /* most sessions one thread served */
} ThreadCount;

/* Greets, then waits for the client to close (through GIO, as msgtrk-relay). */
static void
count_handler (ServerConnection *server_connection,
               GCancellable     *cancellable,
               gpointer          user_data)
{
  ThreadCount *tc = user_data;
  guint n = GPOINTER_TO_UINT (g_private_get (&sessions_of_thread)) + 1;
  GSocketConnection *connection = server_connection_get_stream (server_connection, NULL);
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  char buf[16];

  /* Made once: the same stream again. */
  g_assert_true (server_connection_get_stream (server_connection, NULL) == connection);
  g_private_set (&sessions_of_thread, GUINT_TO_POINTER (n));
  g_mutex_lock (&tc->lock);
  if (n == 1)
    tc->threads_made++;
  tc->most_on_one = MAX (tc->most_on_one, n);
  g_mutex_unlock (&tc->lock);
  g_output_stream_write_all (out, "hi\r\n", 4, NULL, cancellable, NULL);
  while (g_input_stream_read (in, buf, sizeof buf, cancellable, NULL) > 0)
    ;
}

static GSocketConnection *
connect_and_greet (guint16 port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GError) error = NULL;
  GSocketConnection *c = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL,
                                                          &error);
  char buf[4];

  g_assert_no_error (error);
  g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (c)), buf,
                                          4, NULL, NULL, &error));
  g_assert_no_error (error);
  return c;
}

static void
wait_no_session (ServerListener *listener)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_TIME_SPAN_SECOND;

  while (server_listener_get_active (listener) > 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
}

/* Threads of this process named @comm. */
static guint
threads_named (const char *comm_wanted)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", name, "comm", NULL);
      g_autofree char *comm = NULL;

      if (g_file_get_contents (path, &comm, NULL, NULL)
          && g_str_equal (g_strstrip (comm), comm_wanted))
        n++;
    }
  return n;
}

/* Threads of this process named "connection" (the listener's session threads). */
static guint
connection_threads (void)
{
  return threads_named ("connection");
}

/* Waits up to 20 s for connection_threads() to be @n. */
static void
wait_connection_threads (guint n)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_TIME_SPAN_SECOND;

  while (connection_threads () != n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
}

/* A listener on a free loopback port (@max connections, connection_wait @wait) whose
 * sessions count themselves in @tc, started; its port in *@port. */
static ServerListener *
counted_listener_start (ThreadCount *tc,
                        guint        max,
                        guint        wait,
                        guint16     *port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  ServerListener *listener;

  g_mutex_init (&tc->lock);
  listener = server_listener_new (addr, max, wait, "421 busy\r\n", count_handler, tc, &error);
  g_assert_no_error (error);
  *port = server_listener_get_port (listener);
  server_listener_start (listener);
  return listener;
}

/* Five sessions one after the other are served by two threads (the one serving and the
 * one accepting meanwhile take turns; no thread per session); then three at once need one
 * thread more to serve (three in all), plus one accepting; stop joins every one, idle
 * (in accept()) or not. */
static void
test_listener_thread_reuse (void)
{
  ThreadCount tc = { 0 };
  ServerListener *listener;
  GSocketConnection *open[3];
  guint16 port;

  listener = counted_listener_start (&tc, 4, 0, &port);
  for (guint i = 0; i < 5; i++)
    {
      GSocketConnection *c = connect_and_greet (port);

      g_io_stream_close (G_IO_STREAM (c), NULL, NULL);
      g_object_unref (c);
      wait_no_session (listener);
    }
  g_assert_cmpuint (tc.threads_made, <=, 2);
  g_assert_cmpuint (tc.most_on_one, >=, 3);
  g_assert_cmpuint (connection_threads (), ==, 2);
  for (guint i = 0; i < G_N_ELEMENTS (open); i++)
    open[i] = connect_and_greet (port);
  g_assert_cmpuint (tc.threads_made, ==, 3);
  wait_connection_threads (4);
  for (guint i = 0; i < G_N_ELEMENTS (open); i++)
    {
      g_io_stream_close (G_IO_STREAM (open[i]), NULL, NULL);
      g_object_unref (open[i]);
    }
  wait_no_session (listener);
  server_listener_free (listener); /* returns once the four idle threads are joined */
  g_assert_cmpuint (connection_threads (), ==, 0);
  g_mutex_clear (&tc.lock);
}

/* Reads what @c has to say until it closes (at most 10 s). */
static char *
read_to_end (GSocketConnection *c)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (c));
  GString *got = g_string_new (NULL);
  char buf[64];
  gssize n;

  g_socket_set_timeout (g_socket_connection_get_socket (c), 10);
  while ((n = g_input_stream_read (in, buf, sizeof buf, NULL, NULL)) > 0)
    g_string_append_len (got, buf, n);
  return g_string_free (got, FALSE);
}

/* The cap with session threads accepting themselves: at max_connections (2) sessions no
 * thread is left accepting (two threads, none more), and a third client, over the cap
 * with connection_wait 0, gets the reject line and is closed; once a session ends, its
 * thread accepts again and the next client is served. Stop with both sessions open and
 * the watcher waiting at the cap. */
static void
test_listener_cap (void)
{
  ThreadCount tc = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) over = NULL;
  g_autofree char *refused = NULL;
  ServerListener *listener;
  GSocketConnection *open[2];
  guint16 port;

  listener = counted_listener_start (&tc, 2, 0, &port);
  for (guint i = 0; i < G_N_ELEMENTS (open); i++)
    open[i] = connect_and_greet (port);
  g_assert_cmpuint (server_listener_get_active (listener), ==, 2);
  g_assert_cmpuint (connection_threads (), ==, 2);

  over = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  refused = read_to_end (over);
  g_assert_cmpstr (refused, ==, "421 busy\r\n");
  g_assert_cmpuint (connection_threads (), ==, 2);

  g_io_stream_close (G_IO_STREAM (open[0]), NULL, NULL);
  g_object_unref (open[0]);
  open[0] = connect_and_greet (port);
  g_assert_cmpuint (server_listener_get_active (listener), ==, 2);
  g_assert_cmpuint (connection_threads (), ==, 2);

  server_listener_free (listener); /* ends the two open sessions */
  g_assert_cmpuint (connection_threads (), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (open); i++)
    g_object_unref (open[i]);
  g_mutex_clear (&tc.lock);
}

/* A client over the cap waits in the backlog (connection_wait 5 s) and is served, not
 * refused, when a session ends within that time. */
static void
test_listener_cap_wait (void)
{
  ThreadCount tc = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) first = NULL;
  g_autoptr (GSocketConnection) second = NULL;
  ServerListener *listener;
  char buf[4];
  guint16 port;

  listener = counted_listener_start (&tc, 1, 5, &port);
  first = connect_and_greet (port);
  second = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  g_usleep (300 * 1000); /* it waits in the backlog meanwhile */
  g_assert_cmpuint (server_listener_get_active (listener), ==, 1);
  g_io_stream_close (G_IO_STREAM (first), NULL, NULL);
  g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (second)), buf,
                                          4, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (buf, 4, "hi\r\n", 4);
  server_listener_free (listener);
  g_mutex_clear (&tc.lock);
}

/* What a raw handler saw of its connection. */
typedef struct
{
  char *peer;             /* (owned) the client's address and port, as accept() gave it */
  int flags;              /* the descriptor's status flags */
  int nodelay;            /* its TCP_NODELAY */
  gboolean ended;         /* its blocked recv() returned */
} RawSeen;

/* Reads the descriptor directly: greets, then blocks in recv(2) until the client closes
 * or the listener's stop shuts the reading side down. */
static void
raw_handler (ServerConnection *connection,
             GCancellable     *cancellable,
             gpointer          user_data)
{
  RawSeen *seen = user_data;
  int fd = server_connection_get_fd (connection);
  socklen_t len = 0;
  const struct sockaddr *sa = server_connection_get_peer (connection, &len);
  g_autoptr (GSocketAddress) peer = g_socket_address_new_from_native ((gpointer) sa, len);
  g_autofree char *ip = NULL;
  socklen_t optlen = sizeof seen->nodelay;
  char buf[16];

  g_assert_true (G_IS_INET_SOCKET_ADDRESS (peer));
  ip = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer)));
  seen->peer = g_strdup_printf ("%s:%u", ip,
                                g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (peer)));
  seen->flags = fcntl (fd, F_GETFL);
  g_assert_cmpint (getsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &seen->nodelay, &optlen), ==, 0);
  g_assert_cmpint (send (fd, "hi\r\n", 4, MSG_NOSIGNAL), ==, 4);
  while (recv (fd, buf, sizeof buf, 0) > 0)
    ;
  seen->ended = TRUE;
}

/* A handler gets the accepted descriptor, blocking and with TCP_NODELAY, and the client's
 * address as its own socket names it; stop ends a recv(2) blocked on it (the reading
 * side shut down) and closes it. */
static void
test_listener_raw (void)
{
  RawSeen seen = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketConnection) c = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  g_autofree char *local_text = NULL;
  g_autofree char *rest = NULL;
  ServerListener *listener;

  listener = server_listener_new (addr, 2, 0, "421 busy\r\n", raw_handler, &seen, &error);
  g_assert_no_error (error);
  server_listener_start (listener);
  c = connect_and_greet (server_listener_get_port (listener));
  local = g_socket_connection_get_local_address (c, &error);
  g_assert_no_error (error);
  local_text = g_strdup_printf ("127.0.0.1:%u",
                                g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  g_assert_cmpstr (seen.peer, ==, local_text);
  g_assert_cmpint (seen.flags & O_NONBLOCK, ==, 0);
  g_assert_cmpint (seen.nodelay, !=, 0);
  g_assert_false (seen.ended);
  server_listener_free (listener); /* the session's recv returns, the socket is closed */
  g_assert_true (seen.ended);
  rest = read_to_end (c);
  g_assert_cmpstr (rest, ==, "");
  g_free (seen.peer);
}

/* ---- accepting in a coroutine of a loop (server_listener_set_loop) ---- */

typedef struct
{
  ServerCoroLoop *loop;
  gint in_loop;           /* handler calls that ran in a coroutine of the loop */
} LoopSeen;

/* A session as a coroutine of the loop: greets, then reads until the client closes or
 * the stop shuts the reading side down, then gives the connection back. */
static void
loop_session (gpointer data)
{
  ServerConnection *c = data;
  int fd = server_connection_get_fd (c);
  char buf[16];

  g_assert_cmpint (send (fd, "hi\r\n", 4, MSG_NOSIGNAL), ==, 4);
  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);

      if (n > 0 || (n < 0 && errno == EINTR))
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
          && server_coro_wait_fd (fd, G_IO_IN, 0, NULL) == 0)
        continue;
      break;
    }
  server_coro_forget_fd (fd);
  server_listener_release (c);
}

static void
loop_handler (ServerConnection *connection,
              GCancellable     *cancellable,
              gpointer          user_data)
{
  LoopSeen *seen = user_data;
  g_autoptr (GError) error = NULL;

  if (server_coro_in_loop ())
    g_atomic_int_inc (&seen->in_loop);
  server_listener_detach (connection);
  g_assert_true (server_coro_loop_spawn (seen->loop, loop_session, connection, &error));
  g_assert_no_error (error);
}

static ServerListener *
loop_listener_start (LoopSeen *seen,
                     guint     max,
                     guint     wait,
                     guint16  *port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  ServerListener *listener;

  seen->loop = server_coro_loop_new ("test-loop", &error);
  g_assert_no_error (error);
  listener = server_listener_new (addr, max, wait, "421 busy\r\n", loop_handler, seen, &error);
  g_assert_no_error (error);
  server_listener_set_inline (listener, TRUE);
  server_listener_set_loop (listener, seen->loop);
  *port = server_listener_get_port (listener);
  server_listener_start (listener);
  return listener;
}

/* A coroutine that holds its loop's thread (a blocking wait, on purpose) until released:
 * connections made meanwhile reach the loop as one readiness event. */
typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean holding;
  gboolean released;
} LoopHold;

static void
loop_hold (gpointer data)
{
  LoopHold *h = data;

  g_mutex_lock (&h->lock);
  h->holding = TRUE;
  g_cond_broadcast (&h->cond);
  while (!h->released)
    g_cond_wait (&h->cond, &h->lock);
  g_mutex_unlock (&h->lock);
}

/* Until the accept coroutine is parked at the cap (10 s at most). */
static void
wait_parked_at_cap (ServerListener *listener)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!server_listener_probe_parked_at_cap (listener))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
}

/* "hi\r\n" from @c within 5 s. */
static void
assert_greeted (GSocketConnection *c)
{
  g_autoptr (GError) error = NULL;
  char buf[4];

  g_socket_set_timeout (g_socket_connection_get_socket (c), 5);
  g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (c)), buf, 4,
                                          NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (buf, 4, "hi\r\n", 4);
}

/* Clients that connect while the loop is busy (one edge of the listening socket for
 * several) are all accepted and served, in the loop's coroutine (no accept thread); under
 * the cap a client waits (connection_wait 5 s) and is served as soon as a session ends
 * (the slot's wake, not the wait's end); stop ends the sessions and the accept coroutine
 * waiting for a connection. */
static void
test_listener_loop_accept (void)
{
  LoopSeen seen = { 0 };
  LoopHold hold = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  GSocketConnection *open[7];
  g_autoptr (GSocketConnection) over = NULL;
  ServerListener *listener;
  gint64 closed;
  guint16 port;

  listener = loop_listener_start (&seen, G_N_ELEMENTS (open), 5, &port);
  g_assert_cmpuint (threads_named ("accept"), ==, 0);
  open[0] = connect_and_greet (port); /* the listening socket registered with the loop */
  g_mutex_init (&hold.lock);
  g_cond_init (&hold.cond);
  /* loop_hold holds its loop on purpose: the watchdog may say so (not fatal: main()). */
  g_assert_true (server_coro_loop_spawn (seen.loop, loop_hold, &hold, NULL));
  g_mutex_lock (&hold.lock);
  while (!hold.holding)
    g_cond_wait (&hold.cond, &hold.lock);
  g_mutex_unlock (&hold.lock);
  for (guint i = 1; i < G_N_ELEMENTS (open); i++)
    {
      open[i] = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
      g_assert_no_error (error);
    }
  g_mutex_lock (&hold.lock);
  hold.released = TRUE;
  g_cond_broadcast (&hold.cond);
  g_mutex_unlock (&hold.lock);
  for (guint i = 1; i < G_N_ELEMENTS (open); i++)
    assert_greeted (open[i]);
  g_assert_cmpint (g_atomic_int_get (&seen.in_loop), ==, G_N_ELEMENTS (open));
  g_assert_cmpuint (server_listener_get_active (listener), ==, G_N_ELEMENTS (open));

  over = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  wait_parked_at_cap (listener);
  g_io_stream_close (G_IO_STREAM (open[0]), NULL, NULL);
  closed = g_get_monotonic_time ();
  assert_greeted (over);
  g_assert_cmpint (g_get_monotonic_time () - closed, <, 2 * G_USEC_PER_SEC);

  server_listener_free (listener); /* the sessions end, their connections are closed */
  for (guint i = 1; i < G_N_ELEMENTS (open); i++)
    {
      g_autofree char *rest = read_to_end (open[i]);

      g_assert_cmpstr (rest, ==, "");
    }
  for (guint i = 0; i < G_N_ELEMENTS (open); i++)
    g_object_unref (open[i]);
  server_coro_loop_free (seen.loop);
  g_mutex_clear (&hold.lock);
  g_cond_clear (&hold.cond);
}

/* At the cap (1) with connection_wait 1 s and no session ending, the clients waiting get
 * the reject line once the first has waited 1 s; the session keeps running; a stop while
 * the accept coroutine is parked at the cap with another client waiting returns. */
static void
test_listener_loop_cap (void)
{
  LoopSeen seen = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) first = NULL;
  g_autoptr (GSocketConnection) over = NULL;
  g_autoptr (GSocketConnection) waiting = NULL;
  g_autofree char *refused = NULL;
  ServerListener *listener;
  gint64 start;
  guint16 port;

  listener = loop_listener_start (&seen, 1, 1, &port);
  first = connect_and_greet (port);
  start = g_get_monotonic_time ();
  over = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  refused = read_to_end (over);
  g_assert_cmpstr (refused, ==, "421 busy\r\n");
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC - 10 * 1000);
  g_assert_cmpuint (server_listener_get_active (listener), ==, 1);

  /* Parked at the cap again (this client waits its second), then stopped. */
  waiting = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  wait_parked_at_cap (listener);
  server_listener_free (listener);
  g_free (read_to_end (first));
  server_coro_loop_free (seen.loop);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  mt_coro_watchdog_not_fatal (); /* it may fire on a loaded machine (and in loop_hold) */
  g_test_summary ("The servers' line reader, durable writes and configuration reader");
  g_test_add_func ("/server/line-reader/lines", test_reader_lines);
  g_test_add_func ("/server/listener/thread-reuse", test_listener_thread_reuse);
  g_test_add_func ("/server/listener/cap", test_listener_cap);
  g_test_add_func ("/server/listener/cap-wait", test_listener_cap_wait);
  g_test_add_func ("/server/listener/raw", test_listener_raw);
  g_test_add_func ("/server/listener/loop-accept", test_listener_loop_accept);
  g_test_add_func ("/server/listener/loop-cap", test_listener_loop_cap);
  g_test_add_func ("/server/line-reader/limit", test_reader_limit);
  g_test_add_func ("/server/line-reader/huge-line", test_reader_huge_line);
  g_test_add_func ("/server/line-reader/pieces", test_reader_pieces);
  g_test_add_func ("/server/line-reader/peek", test_reader_peek);
  g_test_add_func ("/server/line-reader/peek-dot", test_reader_peek_dot);
  g_test_add_func ("/server/line-reader/available", test_reader_available);
  g_test_add_func ("/server/line-reader/append", test_reader_append);
  g_test_add_func ("/server/line-reader/wipe", test_reader_wipe);
  g_test_add_func ("/server/line-reader/hook", test_reader_hook);
  g_test_add_func ("/server/line-reader/strip-end", test_line_strip_end);
  g_test_add_func ("/server/line-reader/socket", test_reader_socket);
  g_test_add_func ("/server/line-reader/send-all", test_socket_send_all);
  g_test_add_func ("/server/line-reader/deadline", test_reader_deadline);
  g_test_add_func ("/server/line-reader/deadline-timed", test_reader_deadline_timed);
  g_test_add_func ("/server/durable-file/replace", test_durable_replace);
  g_test_add_func ("/server/durable-file/errors", test_durable_errors);
  g_test_add_func ("/server/durable-file/no-follow", test_durable_no_follow);
  g_test_add_func ("/server/config/cases", test_config_cases);
  g_test_add_func ("/server/config/no-file", test_config_no_file);
  g_test_add_func ("/server/config/read-string", test_config_read_string);
  g_test_add_func ("/server/config/read-strings", test_config_read_strings);
  g_test_add_func ("/server/config/read-uints", test_config_read_uints);
  return g_test_run ();
}
