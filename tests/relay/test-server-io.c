/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-server-io.c: unit tests of the servers' shared I/O helpers: the bounded line reader
 * (server/common/server-line-reader.c) and durable writes (server/common/durable-file.c).
 *
 * The reader is fed from memory whole and through a stream that returns one octet per
 * read; each case checks the same lines and statuses both ways. Limits: a line at the
 * caller's max and one past it, and a line far longer than the reader's buffer (the next
 * line must still be read: the session keeps its sync). Wiping: nothing handed out stays
 * in the reader's buffer.
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "server-line-reader.h"
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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The servers' line reader and durable writes");
  g_test_add_func ("/server/line-reader/lines", test_reader_lines);
  g_test_add_func ("/server/line-reader/limit", test_reader_limit);
  g_test_add_func ("/server/line-reader/huge-line", test_reader_huge_line);
  g_test_add_func ("/server/line-reader/available", test_reader_available);
  g_test_add_func ("/server/line-reader/wipe", test_reader_wipe);
  g_test_add_func ("/server/line-reader/hook", test_reader_hook);
  g_test_add_func ("/server/durable-file/replace", test_durable_replace);
  g_test_add_func ("/server/durable-file/errors", test_durable_errors);
  return g_test_run ();
}
