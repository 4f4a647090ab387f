/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-util.c: fixture loading, running tools, temporary directories for tests. */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "test-util.h"

/* Path of tests/fixtures/@name in the source tree. */
char *
mt_fixture_path (const char *name)
{
  return g_test_build_filename (G_TEST_DIST, "fixtures", name, NULL);
}

/* The bytes of a fixture; aborts the test if it is missing. */
GBytes *
mt_fixture_load (const char *name)
{
  g_autofree char *path = mt_fixture_path (name);
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &data, &len, &error))
    g_error ("fixture %s: %s", name, error->message);
  return g_bytes_new_take (data, len);
}

/* The text of a fixture, NUL-terminated. */
char *
mt_fixture_load_string (const char *name)
{
  g_autoptr (GBytes) bytes = mt_fixture_load (name);
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);

  return g_strndup (data, len);
}

/* Run a tool with @input on stdin; returns its stdout, or NULL and an error if it fails. */
GBytes *
mt_run_tool (const char * const *argv,
             GBytes             *input,
             GError            **error)
{
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) err = NULL;

  proc = g_subprocess_newv (argv,
                            G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                              G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            error);
  if (proc == NULL)
    return NULL;
  if (!g_subprocess_communicate (proc, input, NULL, &out, &err, error))
    return NULL;
  if (!g_subprocess_get_successful (proc))
    {
      gsize len = 0;
      const char *text = err ? g_bytes_get_data (err, &len) : "";

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s failed: %.*s", argv[0], (int) len,
                   text);
      return NULL;
    }
  return g_steal_pointer (&out);
}

/* A new private temporary directory. */
char *
mt_tmpdir_new (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("msgtrk-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (GFile *file)
{
  g_autoptr (GFileEnumerator) en = NULL;

  en = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                  G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  if (en != NULL)
    {
      GFileInfo *info;

      while ((info = g_file_enumerator_next_file (en, NULL, NULL)) != NULL)
        {
          g_autoptr (GFile) child = g_file_get_child (file, g_file_info_get_name (info));

          remove_tree (child);
          g_object_unref (info);
        }
    }
  g_file_delete (file, NULL, NULL);
}

/* Remove a directory made by mt_tmpdir_new() and all it holds. */
void
mt_tmpdir_remove (const char *path)
{
  g_autoptr (GFile) file = NULL;

  if (path == NULL)
    return;
  file = g_file_new_for_path (path);
  remove_tree (file);
}

/* A test CA and the certificates signed by it, made by tests/make-test-ca.sh in @dir (NULL:
 * a new mt_tmpdir_new() directory); aborts the test if the script fails. Returns the
 * directory (free it; remove it with mt_tmpdir_remove() when @dir was NULL). */
char *
mt_make_test_ca (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "make-test-ca.sh", NULL);
  char *ca_dir = dir != NULL ? g_strdup (dir) : mt_tmpdir_new ();
  const char *tool[] = { "/bin/sh", script, ca_dir, NULL };

  out = mt_run_tool (tool, empty, &error);
  g_assert_no_error (error);
  return ca_dir;
}

/* Where the piece of @feed that starts at @pos ends, in @len octets. */
gsize
mt_feed_piece_end (const MtFeed *feed,
                   gsize         pos,
                   gsize         len)
{
  switch (feed->mode)
    {
    case 1:
      return pos + 1;
    case 2:
      return pos < feed->cut ? feed->cut : len;
    default:
      return len;
    }
}

/* Every way of feeding @len octets (an array of MtFeed): whole, octet by octet, every
 * two-piece split. */
GArray *
mt_feed_all (gsize len)
{
  GArray *feeds = g_array_new (FALSE, FALSE, sizeof (MtFeed));
  MtFeed f = { 0, 0 };

  g_array_append_val (feeds, f);
  f.mode = 1;
  g_array_append_val (feeds, f);
  for (gsize k = 1; k < len; k++)
    {
      f.mode = 2;
      f.cut = k;
      g_array_append_val (feeds, f);
    }
  return feeds;
}

void
mt_tcp_pair_open (MtTcpPair *pair)
{
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = NULL;
  g_autoptr (GError) error = NULL;
  guint16 port;

  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  addr = g_inet_socket_address_new (lo, port);
  pair->client = g_socket_client_connect (socket_client, G_SOCKET_CONNECTABLE (addr), NULL,
                                          &error);
  g_assert_no_error (error);
  pair->server = g_socket_listener_accept (listener, NULL, NULL, &error);
  g_assert_no_error (error);
}

void
mt_tcp_pair_clear (MtTcpPair *pair)
{
  if (pair->client != NULL)
    g_io_stream_close (G_IO_STREAM (pair->client), NULL, NULL);
  if (pair->server != NULL)
    g_io_stream_close (G_IO_STREAM (pair->server), NULL, NULL);
  g_clear_object (&pair->client);
  g_clear_object (&pair->server);
}

guint16
mt_closed_port (void)
{
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GError) error = NULL;
  guint16 port;

  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  g_socket_listener_close (listener);
  return port;
}

char *
mt_strip_cr (const char *text)
{
  GString *out = g_string_new (NULL);

  for (; *text; text++)
    if (*text != '\r')
      g_string_append_c (out, *text);
  return g_string_free (out, FALSE);
}

guint
mt_count_occurrences (const char *haystack,
                      const char *needle)
{
  guint n = 0;

  g_return_val_if_fail (*needle != '\0', 0);
  for (const char *p = haystack; (p = strstr (p, needle)) != NULL; p += strlen (needle))
    n++;
  return n;
}

static char *
file_text_or_empty (const char *path)
{
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

char *
mt_file_wait_occurrences (const char *path,
                          const char *needle,
                          guint       count)
{
  gint64 deadline = g_get_monotonic_time () + MT_FILE_WAIT_MS * G_TIME_SPAN_MILLISECOND;
  char *text = file_text_or_empty (path);

  while (mt_count_occurrences (text, needle) < count && g_get_monotonic_time () < deadline)
    {
      g_free (text);
      g_usleep (10 * G_TIME_SPAN_MILLISECOND);
      text = file_text_or_empty (path);
    }
  return text;
}

static gint watchdog_warnings;

static GLogWriterOutput
watchdog_writer (GLogLevelFlags   level,
                 const GLogField *fields,
                 gsize            n_fields,
                 gpointer         data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0
        && strstr (fields[i].value, "without parking") != NULL)
      {
        g_atomic_int_inc (&watchdog_warnings);
        return g_log_writer_standard_streams (level, fields, n_fields, data);
      }
  return g_log_writer_default (level, fields, n_fields, data);
}

void
mt_coro_watchdog_not_fatal (void)
{
  g_log_set_writer_func (watchdog_writer, NULL, NULL);
}

guint
mt_coro_watchdog_warnings (void)
{
  return (guint) g_atomic_int_get (&watchdog_warnings);
}
