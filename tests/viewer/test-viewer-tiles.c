/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-viewer-tiles.c: the map tile fetcher against a local tile server started by each
 * test (tests/viewer/tile-server.py on 127.0.0.1, a free port).
 *
 * Usage: test-viewer-tiles [GTest options] TILE-SERVER.py
 * Covers: URL templates and tile ranges; the User-Agent; the disk cache (fresh hits served
 * from disk across fetchers, no-store, Expires in the past, ETag revalidation with 304, a
 * stale tile served when the server fails, the size limit); 404, 500, garbage, a redirect
 * (not followed), a tile at and past VIEWER_TILES_MAX_TILE_BYTES, a refused connection; a
 * slow server (timeout and cancellation, while the main loop keeps running); at most
 * VIEWER_TILES_MAX_CONNECTIONS connections; VIEWER_TILES_MAX_PENDING; closing the fetcher
 * with requests in flight.
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <json-glib/json-glib.h>

#include "viewer-tiles.h"

static const char *server_script;

typedef struct
{
  GSubprocess *proc;
  guint16 port;
  char *cache_dir;
} Fixture;

static void
fixture_setup (Fixture      *fx,
               gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) in = NULL;
  g_autofree char *line = NULL;

  fx->proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "python3", server_script,
                               "--lifetime", "120", NULL);
  g_assert_no_error (error);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fx->proc));
  line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "PORT "));
  fx->port = (guint16) g_ascii_strtoull (line + 5, NULL, 10);
  g_assert_cmpuint (fx->port, >, 0);
  fx->cache_dir = g_dir_make_tmp ("msgtrk-tiles-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        remove_tree (child);
      }
  g_remove (path);
}

static void
fixture_teardown (Fixture      *fx,
                  gconstpointer data)
{
  g_subprocess_force_exit (fx->proc);
  g_subprocess_wait (fx->proc, NULL, NULL);
  g_clear_object (&fx->proc);
  remove_tree (fx->cache_dir);
  g_free (fx->cache_dir);
}

static char *
template_for (Fixture    *fx,
              const char *kind)
{
  return g_strdup_printf ("http://127.0.0.1:%u/%s/{z}/{x}/{y}.png", fx->port, kind);
}

static ViewerTiles *
tiles_for (Fixture    *fx,
           const char *kind)
{
  g_autofree char *url = template_for (fx, kind);
  g_autoptr(GError) error = NULL;
  ViewerTiles *tiles = viewer_tiles_new (url, fx->cache_dir, &error);

  g_assert_no_error (error);
  g_assert_nonnull (tiles);
  viewer_tiles_set_timeout_ms (tiles, 5000);
  return tiles;
}

typedef struct
{
  gboolean done;
  GBytes *bytes;
  GError *error;
  gint64 finished_at;
} Result;

static void
fetch_done (GObject      *source,
            GAsyncResult *res,
            gpointer      user_data)
{
  Result *r = user_data;

  r->bytes = viewer_tiles_fetch_finish (NULL, res, &r->error);
  r->finished_at = g_get_monotonic_time ();
  r->done = TRUE;
}

static void
result_clear (Result *r)
{
  g_clear_pointer (&r->bytes, g_bytes_unref);
  g_clear_error (&r->error);
  r->done = FALSE;
}

static gboolean
on_deadline (gpointer user_data)
{
  g_error ("test deadline reached: a fetch never completed");
  return G_SOURCE_REMOVE;
}

static void
wait_all (Result *results,
          guint   n)
{
  guint deadline = g_timeout_add_seconds (30, on_deadline, NULL);
  guint i;

  for (i = 0; i < n; i++)
    while (!results[i].done)
      g_main_context_iteration (NULL, TRUE);
  g_source_remove (deadline);
}

/* Fetches one tile and waits; the result must be cleared by the caller. */
static void
fetch (ViewerTiles *tiles,
       guint        z,
       guint        x,
       guint        y,
       Result      *r)
{
  viewer_tiles_fetch_async (tiles, z, x, y, NULL, fetch_done, r);
  wait_all (r, 1);
}

/* The server's statistics. */
static JsonObject *
server_stats (Fixture *fx)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) buf = g_byte_array_new ();
  g_autoptr(JsonParser) parser = json_parser_new ();
  const char *request = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  const char *body;
  guint8 chunk[4096];
  gssize n;

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", fx->port, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), request,
                             strlen (request), NULL, NULL, &error);
  g_assert_no_error (error);
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), chunk,
                                   sizeof chunk, NULL, &error)) > 0)
    g_byte_array_append (buf, chunk, n);
  g_assert_no_error (error);
  g_byte_array_append (buf, (const guint8 *) "", 1);
  body = strstr ((const char *) buf->data, "\r\n\r\n");
  g_assert_nonnull (body);
  json_parser_load_from_data (parser, body + 4, -1, &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static gint64
server_hits (Fixture    *fx,
             const char *path)
{
  g_autoptr(JsonObject) stats = server_stats (fx);
  JsonObject *hits = json_object_get_object_member (stats, "hits");

  return json_object_has_member (hits, path) ? json_object_get_int_member (hits, path) : 0;
}

static void
test_expand_url (void)
{
  static const struct { const char *tpl; guint z, x, y; const char *url; int code; } cases[] = {
    { "https://tile.example/{z}/{x}/{y}.png", 3, 4, 5, "https://tile.example/3/4/5.png", -1 },
    { "http://h/{x}-{y}-{z}", 0, 0, 0, "http://h/0-0-0", -1 },
    { "https://h/{z}/{x}/{y}", VIEWER_TILES_MAX_ZOOM, 0, (1u << VIEWER_TILES_MAX_ZOOM) - 1,
      "https://h/19/0/524287", -1 },
    { "https://h/{z}/{x}/{y}", VIEWER_TILES_MAX_ZOOM + 1, 0, 0, NULL, VIEWER_TILES_ERROR_TILE },
    { "https://h/{z}/{x}/{y}", 2, 4, 0, NULL, VIEWER_TILES_ERROR_TILE },
    { "https://h/{z}/{x}/{y}", 2, 0, 4, NULL, VIEWER_TILES_ERROR_TILE },
    { "ftp://h/{z}/{x}/{y}", 0, 0, 0, NULL, VIEWER_TILES_ERROR_TEMPLATE },
    { "file:///{z}/{x}/{y}", 0, 0, 0, NULL, VIEWER_TILES_ERROR_TEMPLATE },
    { "https://h/{z}/{x}", 0, 0, 0, NULL, VIEWER_TILES_ERROR_TEMPLATE },
    { "https://h/{z}/{x}/{y}\r\nX: y", 0, 0, 0, NULL, VIEWER_TILES_ERROR_TEMPLATE },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *url
          = viewer_tiles_expand_url (cases[i].tpl, cases[i].z, cases[i].x, cases[i].y, &error);

      g_assert_cmpstr (url, ==, cases[i].url);
      if (cases[i].code >= 0)
        g_assert_error (error, VIEWER_TILES_ERROR, cases[i].code);
      else
        g_assert_no_error (error);
    }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(ViewerTiles) tiles = viewer_tiles_new ("gopher://x/{z}/{x}/{y}", "/tmp", &error);
    g_assert_null (tiles);
    g_assert_error (error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_TEMPLATE);
  }
  g_assert_true (g_str_has_prefix (viewer_tiles_user_agent (), "msgtrk-viewer/" PACKAGE_VERSION " ("));
  /* OpenStreetMap's servers and others alike: the User-Agent always identifies the
   * application (the policy's requirement), with the project's address when known. */
  {
    const char *templates[] = { "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                                "https://someone@tile.openstreetmap.org/{z}/{x}/{y}.png",
                                "https://tiles.notopenstreetmap.org.example/{z}/{x}/{y}.png" };

    for (i = 0; i < G_N_ELEMENTS (templates); i++)
      {
        g_autoptr(GError) error = NULL;
        g_autoptr(ViewerTiles) tiles = viewer_tiles_new (templates[i], "/tmp", &error);

        g_assert_no_error (error);
        g_assert_nonnull (tiles);
      }
    g_assert_null (strstr (viewer_tiles_user_agent (), "libcurl"));
    g_assert_true (g_str_has_suffix (viewer_tiles_user_agent (), ")"));
  }
  /* VIEWER_TILES_MAX_TEMPLATE: a template at the limit is taken, one byte more is not. */
  for (i = 0; i < 2; i++)
    {
      g_autoptr(GString) tpl = g_string_new ("https://h/{z}/{x}/{y}?");
      g_autoptr(GError) error = NULL;
      g_autofree char *url = NULL;

      while (tpl->len < VIEWER_TILES_MAX_TEMPLATE + i)
        g_string_append_c (tpl, 'a');
      url = viewer_tiles_expand_url (tpl->str, 0, 0, 0, &error);
      if (i == 0)
        g_assert_no_error (error);
      else
        g_assert_error (error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_TEMPLATE);
    }
}

static gboolean
is_png (GBytes *bytes)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  return len > 8 && memcmp (data, "\x89PNG\r\n\x1a\n", 8) == 0;
}

static void
test_fetch_and_cache (Fixture      *fx,
                      gconstpointer data)
{
  g_autoptr(ViewerTiles) tiles = tiles_for (fx, "ok");
  g_autoptr(JsonObject) stats = NULL;
  Result r = { 0 }, again = { 0 };
  JsonArray *agents;

  g_test_summary ("A tile is fetched once with our User-Agent, then served from the disk cache");
  fetch (tiles, 1, 0, 1, &r);
  g_assert_no_error (r.error);
  g_assert_true (is_png (r.bytes));
  fetch (tiles, 1, 0, 1, &again);
  g_assert_no_error (again.error);
  g_assert_true (g_bytes_equal (r.bytes, again.bytes));
  g_assert_cmpint (server_hits (fx, "/ok/1/0/1.png"), ==, 1);
  result_clear (&again);
  /* A new fetcher (the next viewer window) reads the same disk cache. */
  g_clear_object (&tiles);
  tiles = tiles_for (fx, "ok");
  fetch (tiles, 1, 0, 1, &again);
  g_assert_no_error (again.error);
  g_assert_true (g_bytes_equal (r.bytes, again.bytes));
  g_assert_cmpint (server_hits (fx, "/ok/1/0/1.png"), ==, 1);
  stats = server_stats (fx);
  agents = json_object_get_array_member (stats, "user_agents");
  g_assert_cmpuint (json_array_get_length (agents), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (agents, 0), ==, viewer_tiles_user_agent ());
  result_clear (&r);
  result_clear (&again);
}

static void
test_cache_headers (Fixture      *fx,
                    gconstpointer data)
{
  static const struct { const char *kind; gint64 hits; } cases[] = {
    { "nostore", 2 }, { "expires", 2 }, { "revalidate", 2 },
  };
  gsize i;

  g_test_summary ("no-store and an Expires in the past refetch; max-age=0 revalidates with 304");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(ViewerTiles) tiles = tiles_for (fx, cases[i].kind);
      g_autofree char *path = g_strdup_printf ("/%s/2/1/3.png", cases[i].kind);
      Result a = { 0 }, b = { 0 };

      fetch (tiles, 2, 1, 3, &a);
      fetch (tiles, 2, 1, 3, &b);
      g_assert_no_error (a.error);
      g_assert_no_error (b.error);
      g_assert_true (g_bytes_equal (a.bytes, b.bytes));
      g_assert_cmpint (server_hits (fx, path), ==, cases[i].hits);
      result_clear (&a);
      result_clear (&b);
    }
  {
    g_autoptr(JsonObject) stats = server_stats (fx);
    JsonArray *inm = json_object_get_array_member (stats, "if_none_match");
    g_assert_cmpuint (json_array_get_length (inm), ==, 1);
    g_assert_cmpstr (json_array_get_string_element (inm, 0), ==, "\"t-2-1-3\"");
  }
}

static void
test_stale_on_failure (Fixture      *fx,
                       gconstpointer data)
{
  g_autoptr(ViewerTiles) tiles = tiles_for (fx, "flaky");
  Result a = { 0 }, b = { 0 };

  g_test_summary ("A stale cached tile is shown when the server then fails with 500");
  fetch (tiles, 3, 2, 1, &a);
  fetch (tiles, 3, 2, 1, &b);
  g_assert_no_error (a.error);
  g_assert_no_error (b.error);
  g_assert_true (g_bytes_equal (a.bytes, b.bytes));
  g_assert_cmpint (server_hits (fx, "/flaky/3/2/1.png"), ==, 2);
  result_clear (&a);
  result_clear (&b);
}

static void
test_errors (Fixture      *fx,
             gconstpointer data)
{
  static const struct { const char *kind; int code; } cases[] = {
    { "404", VIEWER_TILES_ERROR_HTTP },
    { "500", VIEWER_TILES_ERROR_HTTP },
    { "garbage", VIEWER_TILES_ERROR_NOT_IMAGE },
    { "redirect", VIEWER_TILES_ERROR_HTTP },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(ViewerTiles) tiles = tiles_for (fx, cases[i].kind);
      Result r = { 0 };

      g_test_message ("%s", cases[i].kind);
      fetch (tiles, 1, 1, 1, &r);
      g_assert_null (r.bytes);
      g_assert_error (r.error, VIEWER_TILES_ERROR, cases[i].code);
      result_clear (&r);
    }
  g_assert_cmpint (server_hits (fx, "/ok/1/1/1.png"), ==, 0); /* the redirect was not followed */
}

static void
test_tile_size_limit (Fixture      *fx,
                      gconstpointer data)
{
  g_autofree char *at = g_strdup_printf ("size/%d", VIEWER_TILES_MAX_TILE_BYTES);
  g_autofree char *past = g_strdup_printf ("size/%d", VIEWER_TILES_MAX_TILE_BYTES + 1);
  g_autoptr(ViewerTiles) tiles_at = tiles_for (fx, at);
  g_autoptr(ViewerTiles) tiles_past = tiles_for (fx, past);
  Result a = { 0 }, b = { 0 };

  fetch (tiles_at, 0, 0, 0, &a);
  g_assert_no_error (a.error);
  g_assert_cmpuint (g_bytes_get_size (a.bytes), ==, VIEWER_TILES_MAX_TILE_BYTES);
  fetch (tiles_past, 0, 0, 0, &b);
  g_assert_error (b.error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_TOO_LARGE);
  result_clear (&a);
  result_clear (&b);
}

static void
test_refused (Fixture      *fx,
              gconstpointer data)
{
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                          G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(ViewerTiles) tiles = NULL;
  g_autofree char *url = NULL;
  Result r = { 0 };

  /* A port that was free a moment ago and has no listener. */
  g_assert_true (g_socket_bind (sock, addr, TRUE, NULL));
  bound = g_socket_get_local_address (sock, NULL);
  url = g_strdup_printf ("http://127.0.0.1:%u/{z}/{x}/{y}.png",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (sock, NULL);
  tiles = viewer_tiles_new (url, fx->cache_dir, NULL);
  fetch (tiles, 0, 0, 0, &r);
  g_assert_error (r.error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_NETWORK);
  result_clear (&r);
}

static gboolean
tick (gpointer user_data)
{
  (*(guint *) user_data)++;
  return G_SOURCE_CONTINUE;
}

static gboolean
cancel_later (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_slow_server (Fixture      *fx,
                  gconstpointer data)
{
  g_autoptr(ViewerTiles) tiles = tiles_for (fx, "slow");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Result timed_out = { 0 }, cancelled = { 0 };
  gint64 start;
  guint ticks = 0, tick_id;

  g_test_summary ("A slow server times out or is cancelled while the main loop keeps running");
  viewer_tiles_set_timeout_ms (tiles, 800);
  tick_id = g_timeout_add (20, tick, &ticks);
  start = g_get_monotonic_time ();
  viewer_tiles_fetch_async (tiles, 0, 0, 0, NULL, fetch_done, &timed_out);
  viewer_tiles_fetch_async (tiles, 1, 0, 0, cancellable, fetch_done, &cancelled);
  g_timeout_add (100, cancel_later, cancellable);
  wait_all (&cancelled, 1);
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* Well before the server's 5 s answer (and the 0.8 s timeout would not say "cancelled"). */
  g_assert_cmpint (cancelled.finished_at - start, <, 2 * G_TIME_SPAN_SECOND);
  wait_all (&timed_out, 1);
  g_assert_error (timed_out.error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_NETWORK);
  g_assert_cmpint (timed_out.finished_at - start, <, 4500 * G_TIME_SPAN_MILLISECOND);
  g_source_remove (tick_id);
  /* ~40 ticks in 0.8 s; a stalled loop would have none. */
  g_assert_cmpuint (ticks, >=, 5);
  result_clear (&timed_out);
  result_clear (&cancelled);
}

static void
test_two_connections (Fixture      *fx,
                      gconstpointer data)
{
  g_autoptr(ViewerTiles) tiles = tiles_for (fx, "busy");
  g_autoptr(JsonObject) stats = NULL;
  Result results[8] = { { 0 } };
  guint i;

  g_test_summary ("Eight tiles at once use at most VIEWER_TILES_MAX_CONNECTIONS connections");
  for (i = 0; i < G_N_ELEMENTS (results); i++)
    viewer_tiles_fetch_async (tiles, 3, i, 0, NULL, fetch_done, &results[i]);
  wait_all (results, G_N_ELEMENTS (results));
  for (i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_assert_no_error (results[i].error);
      result_clear (&results[i]);
    }
  stats = server_stats (fx);
  /* The /stats request itself is one more connection. */
  g_assert_cmpint (json_object_get_int_member (stats, "max_open"), <=, VIEWER_TILES_MAX_CONNECTIONS + 1);
  g_assert_cmpint (json_object_get_int_member (stats, "max_open"), >=, 1);
}

static void
test_pending_limit_and_close (Fixture      *fx,
                              gconstpointer data)
{
  ViewerTiles *tiles = tiles_for (fx, "slow");
  Result results[VIEWER_TILES_MAX_PENDING + 1];
  guint i;

  g_test_summary ("Past VIEWER_TILES_MAX_PENDING a fetch fails at once; closing fails the rest");
  memset (results, 0, sizeof results);
  for (i = 0; i < G_N_ELEMENTS (results); i++)
    viewer_tiles_fetch_async (tiles, 7, i, 0, NULL, fetch_done, &results[i]);
  wait_all (&results[VIEWER_TILES_MAX_PENDING], 1);
  g_assert_error (results[VIEWER_TILES_MAX_PENDING].error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_BUSY);
  g_object_unref (tiles); /* joins the worker at once, though the server is slow */
  wait_all (results, VIEWER_TILES_MAX_PENDING);
  for (i = 0; i < VIEWER_TILES_MAX_PENDING; i++)
    {
      g_assert_error (results[i].error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_CLOSED);
      result_clear (&results[i]);
    }
  result_clear (&results[VIEWER_TILES_MAX_PENDING]);
}

static gint64
tree_size (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  GStatBuf st;
  gint64 total = 0;

  if (dir == NULL)
    return g_stat (path, &st) == 0 ? st.st_size : 0;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      total += tree_size (child);
    }
  return total;
}

static void
test_cache_limit (Fixture      *fx,
                  gconstpointer data)
{
  g_autoptr(ViewerTiles) tiles = tiles_for (fx, "ok");
  Result r = { 0 };
  gint64 one, limit;
  guint i;

  g_test_summary ("The disk cache stays within its limit, removing the oldest tiles");
  fetch (tiles, 4, 0, 0, &r);
  g_assert_no_error (r.error);
  result_clear (&r);
  one = tree_size (fx->cache_dir);
  limit = one * 3;
  viewer_tiles_set_max_cache_bytes (tiles, limit);
  for (i = 1; i < 8; i++)
    {
      fetch (tiles, 4, i, 0, &r);
      g_assert_no_error (r.error);
      result_clear (&r);
      g_assert_cmpint (tree_size (fx->cache_dir), <=, limit);
    }
  /* The newest is still cached, the oldest is gone. */
  fetch (tiles, 4, 7, 0, &r);
  result_clear (&r);
  g_assert_cmpint (server_hits (fx, "/ok/4/7/0.png"), ==, 1);
  fetch (tiles, 4, 0, 0, &r);
  result_clear (&r);
  g_assert_cmpint (server_hits (fx, "/ok/4/0/0.png"), ==, 2);
}

/* What the map shows under its "online map" switch is viewer_tiles_new()'s error
 * message: it must come translated. A catalog with that one message is compiled with
 * msgfmt; a subprocess (gettext decides once per process whether to translate) binds it
 * and asks for a bad template. */
static void
test_errors_translated (void)
{
  static const char po[] =
    "msgid \"\"\n"
    "msgstr \"Content-Type: text/plain; charset=UTF-8\\n\"\n\n"
    "msgid \"Tile URL template must be an http(s) URL with {z}, {x} and {y}\"\n"
    "msgstr \"Übersetzt: Vorlage\"\n";
  g_autofree char *dir = NULL;
  g_autofree char *po_path = NULL;
  g_autofree char *mo_dir = NULL;
  g_autofree char *mo_path = NULL;
  g_autofree char *msgfmt = NULL;
  g_autofree char *lang_dir = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "msgfmt", "-o", NULL, NULL, NULL };
  int status = 0;

  if (g_test_subprocess ())
    {
      g_autoptr(ViewerTiles) tiles = NULL;

      bindtextdomain (GETTEXT_PACKAGE, g_getenv ("MSGTRK_TEST_LOCALEDIR"));
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      textdomain (GETTEXT_PACKAGE);
      setlocale (LC_ALL, "");
      tiles = viewer_tiles_new ("gopher://x/{z}/{x}/{y}", "/tmp", &error);
      g_assert_null (tiles);
      g_assert_error (error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_TEMPLATE);
      g_assert_cmpstr (error->message, ==, "Übersetzt: Vorlage");
      return;
    }
  msgfmt = g_find_program_in_path ("msgfmt");
  if (msgfmt == NULL)
    {
      g_test_skip ("msgfmt is missing");
      return;
    }
  dir = g_dir_make_tmp ("msgtrk-tiles-i18n-XXXXXX", &error);
  g_assert_no_error (error);
  po_path = g_build_filename (dir, "de.po", NULL);
  mo_dir = g_build_filename (dir, "de", "LC_MESSAGES", NULL);
  mo_path = g_build_filename (mo_dir, GETTEXT_PACKAGE ".mo", NULL);
  g_assert_true (g_file_set_contents (po_path, po, -1, &error));
  g_assert_cmpint (g_mkdir_with_parents (mo_dir, 0700), ==, 0);
  argv[2] = mo_path;
  argv[3] = po_path;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_setenv ("MSGTRK_TEST_LOCALEDIR", dir, TRUE);
  g_setenv ("LANGUAGE", "de", TRUE);
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv ("LANGUAGE");
  g_unsetenv ("LC_ALL");
  g_unlink (mo_path);
  g_rmdir (mo_dir);
  lang_dir = g_path_get_dirname (mo_dir);
  g_rmdir (lang_dir);
  g_unlink (po_path);
  g_rmdir (dir);
  g_test_trap_assert_passed ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  if (argc != 2 && !g_test_subprocess ())
    {
      g_printerr ("usage: %s [GTest options] TILE-SERVER.py\n", argv[0]);
      return 2;
    }
  server_script = argc == 2 ? argv[1] : NULL;
  g_test_add_func ("/viewer/tiles/expand-url", test_expand_url);
  g_test_add_func ("/viewer/tiles/errors-translated", test_errors_translated);
#define ADD(path, fn) g_test_add ("/viewer/tiles/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("fetch-and-cache", test_fetch_and_cache);
  ADD ("cache-headers", test_cache_headers);
  ADD ("stale-on-failure", test_stale_on_failure);
  ADD ("errors", test_errors);
  ADD ("tile-size-limit", test_tile_size_limit);
  ADD ("refused", test_refused);
  ADD ("slow-server", test_slow_server);
  ADD ("two-connections", test_two_connections);
  ADD ("pending-limit-and-close", test_pending_limit_and_close);
  ADD ("cache-limit", test_cache_limit);
#undef ADD
  return g_test_run ();
}
