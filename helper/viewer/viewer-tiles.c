/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-tiles.c: map tiles over libcurl with a disk cache (see viewer-tiles.h, docs/map.md).
 *
 * What: a worker thread owns a curl multi handle; viewer_tiles_fetch_async() queues a
 *   Request and wakes it; the worker looks the tile up in the disk cache, fetches it if
 *   needed, and completes the request's GTask (which calls back on the caller's context).
 * How: the worker polls curl for at most WORKER_POLL_MS at a time, so cancellation and
 *   shutdown are seen within that; dispose stops the worker and fails what is left with
 *   VIEWER_TILES_ERROR_CLOSED. GTasks have no source object: the last reference to a task
 *   may drop in the worker thread, which must never finalize the fetcher.
 * Limits: see the header; cache files are tile bytes ("Y.tile") plus a small "Y.meta"
 *   ("expires=EPOCH", "etag=…"), written atomically; a cache entry over the tile limit or
 *   with a bad signature is ignored.
 * Never: follows redirects, sends cookies or a Referer, touches the disk or the network on
 *   the caller's thread, logs a URL with anything but tile coordinates in it.
 */
#include "config.h"

#include "viewer-tiles.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#ifdef HAVE_LIBCURL
#include <curl/curl.h>
#endif

/* The project's address for the User-Agent: one define, set by helper/viewer/meson.build
 * from meson's -Dhomepage (empty when the build does not know it). */
#ifndef VIEWER_PROJECT_URL
#define VIEWER_PROJECT_URL ""
#endif

/* How long the worker waits in curl before it looks at cancellations and shutdown. */
#define WORKER_POLL_MS 50
/* Longest ETag kept (longer ones are not sent back). */
#define MAX_ETAG 256

G_DEFINE_QUARK (viewer-tiles-error-quark, viewer_tiles_error)

/* The error of a bad tile URL template, translated: viewer_tiles_new()'s errors are what
 * the map shows under its "online map" switch (viewer-map.c); a single tile's errors are
 * only logged and stay in English. */
static const char *
template_error (void)
{
  /* TRANSLATORS: shown under the map's "online map" switch; "{z}", "{x}" and "{y}" are
   * placeholders of the address: keep them as they are. */
  return _("Tile URL template must be an http(s) URL with {z}, {x} and {y}");
}

typedef struct
{
  GTask *task;     /* (owned) */
  guint z, x, y;
  char *url;       /* (owned) */
  char *tile_path; /* (owned): DIR/z/x/y.tile */
  char *meta_path; /* (owned): DIR/z/x/y.meta */
  GBytes *cached;  /* (owned) (nullable): a stale cached tile */
  char *etag;      /* (owned) (nullable): its ETag */
  GByteArray *body;
  gboolean too_big;
  gboolean no_store;
  gint64 max_age;  /* -1: none given */
  gint64 expires;  /* -1: none given */
  char *new_etag;  /* (owned) (nullable) */
#ifdef HAVE_LIBCURL
  CURL *easy;
  struct curl_slist *headers;
  char error[CURL_ERROR_SIZE];
#endif
} Request;

typedef struct
{
  GAsyncQueue *queue; /* (element-type Request) */
  GThread *thread;
  gint quit;          /* atomic */
  gint pending;       /* atomic: queued + in flight */
  gint timeout_ms;    /* atomic */
  gint max_cache;     /* atomic: bytes (VIEWER_TILES_MAX_CACHE_BYTES fits a gint) */
  gint64 cache_bytes; /* worker only; -1 until counted */
  char *url_template;
  char *cache_dir;
  GList *active;      /* worker only: (element-type Request) */
#ifdef HAVE_LIBCURL
  CURLM *multi;
#endif
} Worker;

struct _ViewerTiles
{
  GObject parent_instance;
  Worker *worker;
};

G_DEFINE_TYPE (ViewerTiles, viewer_tiles, G_TYPE_OBJECT)

/**
 * viewer_tiles_user_agent:
 *
 * OpenStreetMap's tile usage policy asks for a User-Agent that identifies the application
 * (never a library's default) and recommends a way to reach its makers: the project's
 * address (-Dhomepage) when the build knows it, else the application's own description.
 *
 * Returns: (transfer none): the User-Agent sent to tile servers ("msgtrk-viewer/VERSION (…)")
 */
const char *
viewer_tiles_user_agent (void)
{
  return VIEWER_PROJECT_URL[0] != '\0'
             ? "msgtrk-viewer/" PACKAGE_VERSION " (+" VIEWER_PROJECT_URL ")"
             : "msgtrk-viewer/" PACKAGE_VERSION " (msgtrk message tracking; delivery map)";
}

/**
 * viewer_tiles_default_cache_dir:
 *
 * Returns: (transfer full): XDG_CACHE_HOME/msgtrk/tiles
 */
char *
viewer_tiles_default_cache_dir (void)
{
  return g_build_filename (g_get_user_cache_dir (), "msgtrk", "tiles", NULL);
}

static gboolean
template_valid (const char *url_template)
{
  return url_template != NULL && strlen (url_template) <= VIEWER_TILES_MAX_TEMPLATE
         && (g_str_has_prefix (url_template, "https://")
             || g_str_has_prefix (url_template, "http://"))
         && strstr (url_template, "{z}") != NULL && strstr (url_template, "{x}") != NULL
         && strstr (url_template, "{y}") != NULL && strpbrk (url_template, " \t\r\n") == NULL;
}

/**
 * viewer_tiles_expand_url:
 * @url_template: "…{z}…{x}…{y}…", http or https
 *
 * Returns: (transfer full) (nullable): the URL of tile @z/@x/@y
 */
char *
viewer_tiles_expand_url (const char *url_template,
                         guint       z,
                         guint       x,
                         guint       y,
                         GError    **error)
{
  g_autoptr(GString) url = NULL;
  const char *p;

  if (!template_valid (url_template))
    {
      g_set_error_literal (error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_TEMPLATE, template_error ());
      return NULL;
    }
  if (z > VIEWER_TILES_MAX_ZOOM || x >= (1u << z) || y >= (1u << z))
    {
      g_set_error (error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_TILE,
                   "No tile %u/%u/%u", z, x, y);
      return NULL;
    }
  url = g_string_new (NULL);
  for (p = url_template; *p != '\0'; p++)
    {
      if (p[0] == '{' && p[1] != '\0' && p[2] == '}' && strchr ("zxy", p[1]) != NULL)
        {
          g_string_append_printf (url, "%u", p[1] == 'z' ? z : p[1] == 'x' ? x : y);
          p += 2;
        }
      else
        g_string_append_c (url, *p);
    }
  return g_string_free (g_steal_pointer (&url), FALSE);
}

#ifdef HAVE_LIBCURL
static gboolean
is_image (const guint8 *data,
          gsize         len)
{
  static const guint8 png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  static const guint8 jpeg[3] = { 0xff, 0xd8, 0xff };

  return (len >= sizeof png && memcmp (data, png, sizeof png) == 0)
         || (len >= sizeof jpeg && memcmp (data, jpeg, sizeof jpeg) == 0);
}

static void
request_free (Request *req)
{
  g_clear_object (&req->task);
  g_free (req->url);
  g_free (req->tile_path);
  g_free (req->meta_path);
  g_clear_pointer (&req->cached, g_bytes_unref);
  g_free (req->etag);
  g_free (req->new_etag);
  if (req->body != NULL)
    g_byte_array_unref (req->body);
#ifdef HAVE_LIBCURL
  if (req->headers != NULL)
    curl_slist_free_all (req->headers);
#endif
  g_free (req);
}

/* Completes @req with @bytes (transfer full) or @error (transfer full) and frees it. */
static void
request_complete (Worker  *worker,
                  Request *req,
                  GBytes  *bytes,
                  GError  *error)
{
  if (bytes != NULL)
    g_task_return_pointer (req->task, bytes, (GDestroyNotify) g_bytes_unref);
  else
    g_task_return_error (req->task, error);
  g_atomic_int_add (&worker->pending, -1);
  request_free (req);
}

/* --- disk cache (worker thread only) ------------------------------------------------ */

/* Reads the cached tile of @req; returns whether it is fresh. */
static gboolean
cache_read (Request *req)
{
  g_autofree char *meta = NULL;
  g_autofree char *data = NULL;
  g_auto(GStrv) lines = NULL;
  gint64 expires = 0;
  gsize len, i;

  if (!g_file_get_contents (req->tile_path, &data, &len, NULL)
      || len > VIEWER_TILES_MAX_TILE_BYTES || !is_image ((const guint8 *) data, len))
    return FALSE;
  if (g_file_get_contents (req->meta_path, &meta, NULL, NULL))
    {
      lines = g_strsplit (meta, "\n", 4);
      for (i = 0; lines[i] != NULL; i++)
        if (g_str_has_prefix (lines[i], "expires="))
          expires = g_ascii_strtoll (lines[i] + 8, NULL, 10);
        else if (g_str_has_prefix (lines[i], "etag=") && strlen (lines[i] + 5) <= MAX_ETAG)
          req->etag = g_strdup (lines[i] + 5);
    }
  req->cached = g_bytes_new_take (g_steal_pointer (&data), len);
  return expires > g_get_real_time () / G_USEC_PER_SEC;
}

static gint64
freshness (Request *req)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC, age;

  if (req->max_age >= 0)
    age = req->max_age;
  else if (req->expires >= 0)
    age = MAX (req->expires - now, 0);
  else
    age = VIEWER_TILES_DEFAULT_MAX_AGE;
  return now + MIN (age, VIEWER_TILES_MAX_AGE_CAP);
}

typedef struct
{
  char *path;
  gint64 mtime;
  gint64 size;
} CacheFile;

static void
cache_file_free (CacheFile *f)
{
  g_free (f->path);
  g_free (f);
}

/* Adds the files under @dir (at most @depth levels down) to @files; returns their size. */
static gint64
cache_scan (const char *dir,
            guint       depth,
            GPtrArray  *files)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  gint64 total = 0;

  if (d == NULL)
    return 0;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      GStatBuf st;

      if (g_lstat (path, &st) != 0)
        continue;
      if (S_ISDIR (st.st_mode) && depth > 0)
        total += cache_scan (path, depth - 1, files);
      else if (S_ISREG (st.st_mode))
        {
          total += st.st_size;
          if (files != NULL)
            {
              CacheFile *f = g_new0 (CacheFile, 1);
              f->path = g_steal_pointer (&path);
              f->mtime = st.st_mtime;
              f->size = st.st_size;
              g_ptr_array_add (files, f);
            }
        }
    }
  return total;
}

static int
cache_file_older (gconstpointer a,
                  gconstpointer b)
{
  const CacheFile *fa = *(CacheFile *const *) a, *fb = *(CacheFile *const *) b;

  return fa->mtime < fb->mtime ? -1 : fa->mtime > fb->mtime ? 1 : g_strcmp0 (fa->path, fb->path);
}

/* Removes the oldest files until the cache is at most three quarters of its limit. */
static void
cache_trim (Worker *worker)
{
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func ((GDestroyNotify) cache_file_free);
  gint64 total = cache_scan (worker->cache_dir, 3, files);
  gint64 target = (gint64) g_atomic_int_get (&worker->max_cache) / 4 * 3;
  guint i;

  g_ptr_array_sort (files, cache_file_older);
  for (i = 0; i < files->len && total > target; i++)
    {
      CacheFile *f = g_ptr_array_index (files, i);

      if (g_unlink (f->path) == 0)
        total -= f->size;
    }
  worker->cache_bytes = total;
}

static void
cache_write (Worker  *worker,
             Request *req,
             GBytes  *bytes)
{
  g_autofree char *dir = g_path_get_dirname (req->tile_path);
  g_autofree char *meta = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (req->no_store || g_mkdir_with_parents (dir, 0700) != 0)
    return;
  meta = g_strdup_printf ("expires=%" G_GINT64_FORMAT "\netag=%s\n", freshness (req),
                          req->new_etag != NULL ? req->new_etag : "");
  if (!g_file_set_contents_full (req->tile_path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                 NULL)
      || !g_file_set_contents_full (req->meta_path, meta, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                    0600, NULL))
    return;
  if (worker->cache_bytes < 0)
    worker->cache_bytes = cache_scan (worker->cache_dir, 3, NULL);
  else
    worker->cache_bytes += len + strlen (meta);
  if (worker->cache_bytes > g_atomic_int_get (&worker->max_cache))
    cache_trim (worker);
}

/* Refreshes the expiry of a revalidated (304) tile. */
static void
cache_touch (Request *req)
{
  g_autofree char *meta = g_strdup_printf ("expires=%" G_GINT64_FORMAT "\netag=%s\n",
                                           freshness (req), req->etag != NULL ? req->etag : "");

  if (!req->no_store)
    g_file_set_contents_full (req->meta_path, meta, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL);
}

/* --- transfers (worker thread only) ---------------------------------------------------- */

static size_t
on_body (char  *data,
         size_t size,
         size_t nmemb,
         void  *user_data)
{
  Request *req = user_data;
  gsize n = size * nmemb;

  if (req->body->len + n > VIEWER_TILES_MAX_TILE_BYTES)
    {
      req->too_big = TRUE;
      return 0; /* aborts the transfer */
    }
  g_byte_array_append (req->body, (const guint8 *) data, n);
  return n;
}

/* One header line: Cache-Control, Expires and ETag are kept. */
static size_t
on_header (char  *data,
           size_t size,
           size_t nmemb,
           void  *user_data)
{
  Request *req = user_data;
  gsize n = size * nmemb;
  g_autofree char *line = g_strstrip (g_strndup (data, MIN (n, 4096)));
  char *value;

  if (g_str_has_prefix (line, "HTTP/"))
    {
      /* A new response: forget what an earlier one (100 Continue) said. */
      req->max_age = req->expires = -1;
      req->no_store = FALSE;
      g_clear_pointer (&req->new_etag, g_free);
      return n;
    }
  value = strchr (line, ':');
  if (value == NULL)
    return n;
  *value++ = '\0';
  value = g_strstrip (value);
  if (g_ascii_strcasecmp (line, "Cache-Control") == 0)
    {
      g_auto(GStrv) parts = g_strsplit (value, ",", 16);
      guint i;

      for (i = 0; parts[i] != NULL; i++)
        {
          const char *part = g_strstrip (parts[i]);
          guint64 age;

          if (g_ascii_strcasecmp (part, "no-store") == 0)
            req->no_store = TRUE;
          else if (g_ascii_strcasecmp (part, "no-cache") == 0)
            req->max_age = 0;
          else if (g_ascii_strncasecmp (part, "max-age=", 8) == 0
                   && g_ascii_string_to_unsigned (part + 8, 10, 0, G_MAXINT32, &age, NULL))
            req->max_age = (gint64) age;
        }
    }
  else if (g_ascii_strcasecmp (line, "Expires") == 0)
    {
      time_t t = curl_getdate (value, NULL);
      req->expires = t >= 0 ? (gint64) t : 0; /* an invalid date means already expired */
    }
  else if (g_ascii_strcasecmp (line, "ETag") == 0 && strlen (value) <= MAX_ETAG)
    {
      const char *p;

      for (p = value; *p != '\0'; p++)
        if (*p < 0x21 || *p > 0x7e)
          return n;
      g_free (req->new_etag);
      req->new_etag = g_strdup (value);
    }
  return n;
}

static void
request_start (Worker  *worker,
               Request *req)
{
  if (g_cancellable_is_cancelled (g_task_get_cancellable (req->task)))
    {
      request_complete (worker, req, NULL,
                        g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Cancelled"));
      return;
    }
  if (cache_read (req))
    {
      request_complete (worker, req, g_bytes_ref (req->cached), NULL);
      return;
    }
  req->body = g_byte_array_new ();
  req->max_age = req->expires = -1;
  req->easy = curl_easy_init ();
  if (req->easy == NULL)
    {
      request_complete (worker, req, NULL,
                        g_error_new_literal (VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_NETWORK,
                                             "Cannot start a transfer"));
      return;
    }
  curl_easy_setopt (req->easy, CURLOPT_URL, req->url);
  curl_easy_setopt (req->easy, CURLOPT_PRIVATE, req);
  curl_easy_setopt (req->easy, CURLOPT_USERAGENT, viewer_tiles_user_agent ());
  curl_easy_setopt (req->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (req->easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt (req->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  curl_easy_setopt (req->easy, CURLOPT_TIMEOUT_MS, (long) g_atomic_int_get (&worker->timeout_ms));
  curl_easy_setopt (req->easy, CURLOPT_CONNECTTIMEOUT_MS,
                    (long) MIN (VIEWER_TILES_CONNECT_TIMEOUT_MS,
                                g_atomic_int_get (&worker->timeout_ms)));
  curl_easy_setopt (req->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) VIEWER_TILES_MAX_TILE_BYTES);
  curl_easy_setopt (req->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (req->easy, CURLOPT_WRITEDATA, req);
  curl_easy_setopt (req->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (req->easy, CURLOPT_HEADERDATA, req);
  curl_easy_setopt (req->easy, CURLOPT_ERRORBUFFER, req->error);
  if (req->cached != NULL && req->etag != NULL && req->etag[0] != '\0')
    {
      g_autofree char *h = g_strdup_printf ("If-None-Match: %s", req->etag);
      req->headers = curl_slist_append (NULL, h);
      curl_easy_setopt (req->easy, CURLOPT_HTTPHEADER, req->headers);
    }
  curl_multi_add_handle (worker->multi, req->easy);
  worker->active = g_list_prepend (worker->active, req);
}

/* Detaches @req's transfer from the multi handle. */
static void
request_stop (Worker  *worker,
              Request *req)
{
  worker->active = g_list_remove (worker->active, req);
  curl_multi_remove_handle (worker->multi, req->easy);
  curl_easy_cleanup (req->easy);
  req->easy = NULL;
}

static void
request_done (Worker  *worker,
              Request *req,
              CURLcode code)
{
  long status = 0;
  GError *error = NULL;
  GBytes *bytes;

  curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &status);
  request_stop (worker, req);
  if (code == CURLE_OK && status == 304 && req->cached != NULL)
    {
      if (req->new_etag != NULL)
        {
          g_free (req->etag);
          req->etag = g_steal_pointer (&req->new_etag);
        }
      cache_touch (req);
      request_complete (worker, req, g_bytes_ref (req->cached), NULL);
      return;
    }
  if (req->too_big || code == CURLE_FILESIZE_EXCEEDED)
    error = g_error_new (VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_TOO_LARGE,
                         "Tile %u/%u/%u is larger than %d bytes", req->z, req->x, req->y,
                         VIEWER_TILES_MAX_TILE_BYTES);
  else if (code != CURLE_OK)
    error = g_error_new (VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_NETWORK, "Tile %u/%u/%u: %s",
                         req->z, req->x, req->y,
                         req->error[0] != '\0' ? req->error : curl_easy_strerror (code));
  else if (status != 200)
    error = g_error_new (VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_HTTP,
                         "Tile %u/%u/%u: the server answered %ld", req->z, req->x, req->y, status);
  else if (!is_image (req->body->data, req->body->len))
    error = g_error_new (VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_NOT_IMAGE,
                         "Tile %u/%u/%u is not a PNG or JPEG image", req->z, req->x, req->y);
  if (error != NULL)
    {
      /* A stale tile beats none when the server fails (but not when it is hostile). */
      if (req->cached != NULL && (error->code == VIEWER_TILES_ERROR_NETWORK
                                  || (error->code == VIEWER_TILES_ERROR_HTTP && status >= 500)))
        {
          g_debug ("%s; using the cached tile", error->message);
          g_error_free (error);
          request_complete (worker, req, g_bytes_ref (req->cached), NULL);
        }
      else
        request_complete (worker, req, NULL, error);
      return;
    }
  bytes = g_byte_array_free_to_bytes (g_steal_pointer (&req->body));
  cache_write (worker, req, bytes);
  request_complete (worker, req, bytes, NULL);
}

static gpointer
worker_main (gpointer data)
{
  Worker *worker = data;
  Request *req;
  GList *l, *next;

  while (!g_atomic_int_get (&worker->quit))
    {
      CURLMsg *msg;
      int running = 0, left = 0;

      while ((req = g_async_queue_try_pop (worker->queue)) != NULL)
        request_start (worker, req);
      curl_multi_perform (worker->multi, &running);
      while ((msg = curl_multi_info_read (worker->multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE)
          {
            CURLcode code = msg->data.result;
            Request *done = NULL;

            curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &done);
            request_done (worker, done, code);
          }
      for (l = worker->active; l != NULL; l = next)
        {
          next = l->next;
          req = l->data;
          if (g_cancellable_is_cancelled (g_task_get_cancellable (req->task)))
            {
              request_stop (worker, req);
              request_complete (worker, req, NULL,
                                g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                     "Cancelled"));
            }
        }
      curl_multi_poll (worker->multi, NULL, 0, WORKER_POLL_MS, NULL);
    }
  /* Shutting down: fail what is left. */
  while (worker->active != NULL)
    {
      req = worker->active->data;
      request_stop (worker, req);
      request_complete (worker, req, NULL,
                        g_error_new_literal (VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_CLOSED,
                                             "The tile fetcher was closed"));
    }
  while ((req = g_async_queue_try_pop (worker->queue)) != NULL)
    request_complete (worker, req, NULL,
                      g_error_new_literal (VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_CLOSED,
                                           "The tile fetcher was closed"));
  return NULL;
}
#endif

static void
viewer_tiles_dispose (GObject *object)
{
  ViewerTiles *self = VIEWER_TILES (object);
  Worker *worker = self->worker;

  if (worker != NULL)
    {
      self->worker = NULL;
#ifdef HAVE_LIBCURL
      g_atomic_int_set (&worker->quit, 1);
      curl_multi_wakeup (worker->multi);
      g_thread_join (worker->thread);
      curl_multi_cleanup (worker->multi);
#endif
      g_async_queue_unref (worker->queue);
      g_free (worker->url_template);
      g_free (worker->cache_dir);
      g_free (worker);
    }
  G_OBJECT_CLASS (viewer_tiles_parent_class)->dispose (object);
}

static void
viewer_tiles_class_init (ViewerTilesClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = viewer_tiles_dispose;
}

static void
viewer_tiles_init (ViewerTiles *self)
{
}

/**
 * viewer_tiles_new:
 * @url_template: (nullable): tile URL with {z}, {x}, {y}; NULL for VIEWER_TILES_DEFAULT_URL
 * @cache_dir: (nullable): cache root; NULL for viewer_tiles_default_cache_dir()
 *
 * Starts the worker thread. Call only when the user turned online maps on.
 *
 * Returns: (transfer full) (nullable): the fetcher
 */
ViewerTiles *
viewer_tiles_new (const char *url_template,
                  const char *cache_dir,
                  GError    **error)
{
#ifdef HAVE_LIBCURL
  static gsize curl_ready = 0;
  g_autoptr(ViewerTiles) self = NULL;
  g_autofree char *root = NULL;
  g_autofree char *key = NULL;
  Worker *worker;

  if (url_template == NULL || *url_template == '\0')
    url_template = VIEWER_TILES_DEFAULT_URL;
  if (!template_valid (url_template))
    {
      g_set_error_literal (error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_TEMPLATE, template_error ());
      return NULL;
    }
  if (g_once_init_enter (&curl_ready))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&curl_ready, 1);
    }
  root = cache_dir != NULL ? g_strdup (cache_dir) : viewer_tiles_default_cache_dir ();
  /* One directory per template: tiles of two servers never mix. */
  key = g_compute_checksum_for_string (G_CHECKSUM_SHA256, url_template, -1);
  key[16] = '\0';
  self = g_object_new (VIEWER_TYPE_TILES, NULL);
  worker = g_new0 (Worker, 1);
  worker->queue = g_async_queue_new ();
  worker->timeout_ms = VIEWER_TILES_TIMEOUT_MS;
  worker->max_cache = (gint) VIEWER_TILES_MAX_CACHE_BYTES;
  worker->cache_bytes = -1;
  worker->url_template = g_strdup (url_template);
  worker->cache_dir = g_build_filename (root, key, NULL);
  worker->multi = curl_multi_init ();
  curl_multi_setopt (worker->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) VIEWER_TILES_MAX_CONNECTIONS);
  curl_multi_setopt (worker->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) VIEWER_TILES_MAX_CONNECTIONS);
  worker->thread = g_thread_new ("msgtrk-tiles", worker_main, worker);
  self->worker = worker;
  return g_steal_pointer (&self);
#else
  g_set_error_literal (error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_UNSUPPORTED,
                       /* TRANSLATORS: shown under the map's "online map" switch. */
                       _("This viewer was built without online maps (libcurl)"));
  return NULL;
#endif
}

/** viewer_tiles_set_timeout_ms: the per-transfer timeout of later fetches (tests). */
void
viewer_tiles_set_timeout_ms (ViewerTiles *self,
                             guint        timeout_ms)
{
  g_return_if_fail (VIEWER_IS_TILES (self) && timeout_ms > 0 && timeout_ms <= G_MAXINT);
  g_atomic_int_set (&self->worker->timeout_ms, (gint) timeout_ms);
}

/** viewer_tiles_set_max_cache_bytes: the disk cache limit (at most G_MAXINT bytes). */
void
viewer_tiles_set_max_cache_bytes (ViewerTiles *self,
                                  gint64       max_bytes)
{
  g_return_if_fail (VIEWER_IS_TILES (self) && max_bytes > 0 && max_bytes <= G_MAXINT);
  g_atomic_int_set (&self->worker->max_cache, (gint) max_bytes);
}

/**
 * viewer_tiles_fetch_async:
 *
 * Fetches tile @z/@x/@y (from the disk cache when fresh). Never blocks.
 */
void
viewer_tiles_fetch_async (ViewerTiles        *self,
                          guint               z,
                          guint               x,
                          guint               y,
                          GCancellable       *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer            user_data)
{
  /* No source object: see the comment at the top. */
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  Request *req;

  g_return_if_fail (VIEWER_IS_TILES (self));
  g_task_set_source_tag (task, viewer_tiles_fetch_async);
  url = viewer_tiles_expand_url (self->worker->url_template, z, x, y, &error);
  if (url == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (g_atomic_int_add (&self->worker->pending, 1) >= VIEWER_TILES_MAX_PENDING)
    {
      g_atomic_int_add (&self->worker->pending, -1);
      g_task_return_new_error (task, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_BUSY,
                               "Too many tiles asked at once");
      return;
    }
  req = g_new0 (Request, 1);
  req->task = g_steal_pointer (&task);
  req->z = z;
  req->x = x;
  req->y = y;
  req->url = g_steal_pointer (&url);
  req->tile_path = g_strdup_printf ("%s/%u/%u/%u.tile", self->worker->cache_dir, z, x, y);
  req->meta_path = g_strdup_printf ("%s/%u/%u/%u.meta", self->worker->cache_dir, z, x, y);
  g_async_queue_push (self->worker->queue, req);
#ifdef HAVE_LIBCURL
  curl_multi_wakeup (self->worker->multi);
#endif
}

/**
 * viewer_tiles_fetch_finish:
 *
 * Returns: (transfer full) (nullable): the tile's bytes (PNG or JPEG)
 */
GBytes *
viewer_tiles_fetch_finish (ViewerTiles  *self,
                           GAsyncResult *result,
                           GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
