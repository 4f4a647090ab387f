/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-tiles.h: map tiles over HTTP(S) with libcurl, cached on disk (the map view).
 *
 * What: viewer_tiles_new() makes a fetcher for one URL template ("{z}/{x}/{y}" replaced);
 *   viewer_tiles_fetch_async() hands back one tile's bytes (a PNG or JPEG, checked by its
 *   signature, not decoded). The viewer creates a fetcher only when the user has turned
 *   online maps on (off by default, docs/map.md).
 * How: one worker thread runs a curl multi handle with at most VIEWER_TILES_MAX_CONNECTIONS
 *   connections; requests reach it through a queue and curl_multi_wakeup(); results return
 *   to the caller's main context through GTask. The disk cache (XDG_CACHE_HOME/msgtrk/tiles
 *   by default, one directory per template) keeps each tile with its expiry (Cache-Control
 *   max-age, else Expires, else VIEWER_TILES_DEFAULT_MAX_AGE) and ETag; a fresh tile is
 *   served from disk, a stale one is revalidated (If-None-Match, 304), and is served stale
 *   when the server fails. Tile servers' usage policies (OpenStreetMap's) ask for exactly
 *   this: a real User-Agent, caching, two connections, no prefetching (only what the view
 *   asks is fetched, never neighbours).
 * Limits: VIEWER_TILES_MAX_TILE_BYTES per tile, VIEWER_TILES_MAX_CACHE_BYTES on disk (the
 *   oldest tiles go first), VIEWER_TILES_MAX_PENDING requests queued, per-transfer timeout
 *   VIEWER_TILES_TIMEOUT_MS (settable for tests), zoom at most VIEWER_TILES_MAX_ZOOM, no
 *   redirects, http and https only.
 * Never: blocks the caller (no I/O outside the worker thread); sends anything but the tile
 *   URL, the User-Agent and a cached ETag (no cookies, no referer, no location).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** VIEWER_TILES_DEFAULT_URL: OpenStreetMap's standard tile layer. */
#define VIEWER_TILES_DEFAULT_URL "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
/** VIEWER_TILES_MAX_CONNECTIONS: parallel connections to the tile server (OSM policy: 2). */
#define VIEWER_TILES_MAX_CONNECTIONS 2
/** VIEWER_TILES_MAX_TILE_BYTES: a larger answer is refused (OSM tiles are 1–60 KB). */
#define VIEWER_TILES_MAX_TILE_BYTES (512 * 1024)
/** VIEWER_TILES_MAX_CACHE_BYTES: disk cache size; past it the oldest tiles are removed. */
#define VIEWER_TILES_MAX_CACHE_BYTES (G_GINT64_CONSTANT (64) * 1024 * 1024)
/** VIEWER_TILES_MAX_PENDING: requests queued or in flight; more fail with _BUSY. */
#define VIEWER_TILES_MAX_PENDING 64
/** VIEWER_TILES_TIMEOUT_MS: a transfer taking longer fails (the view shows the outline). */
#define VIEWER_TILES_TIMEOUT_MS 20000
/** VIEWER_TILES_CONNECT_TIMEOUT_MS: connecting taking longer fails. */
#define VIEWER_TILES_CONNECT_TIMEOUT_MS 10000
/** VIEWER_TILES_DEFAULT_MAX_AGE: freshness in seconds when the server gives none. */
#define VIEWER_TILES_DEFAULT_MAX_AGE (7 * 24 * 3600)
/** VIEWER_TILES_MAX_AGE_CAP: longest freshness believed, in seconds. */
#define VIEWER_TILES_MAX_AGE_CAP (365 * 24 * 3600)
/** VIEWER_TILES_MAX_ZOOM: deepest zoom level asked. */
#define VIEWER_TILES_MAX_ZOOM 19
/** VIEWER_TILES_MAX_TEMPLATE: bytes of a URL template. */
#define VIEWER_TILES_MAX_TEMPLATE 1024

#define VIEWER_TILES_ERROR (viewer_tiles_error_quark ())

typedef enum
{
  VIEWER_TILES_ERROR_TEMPLATE,    /* not an http(s) URL with {z}, {x} and {y} */
  VIEWER_TILES_ERROR_TILE,        /* z/x/y out of range */
  VIEWER_TILES_ERROR_BUSY,        /* VIEWER_TILES_MAX_PENDING requests already pending */
  VIEWER_TILES_ERROR_HTTP,        /* the server answered with an error status */
  VIEWER_TILES_ERROR_NETWORK,     /* connection failed or timed out */
  VIEWER_TILES_ERROR_TOO_LARGE,   /* more than VIEWER_TILES_MAX_TILE_BYTES */
  VIEWER_TILES_ERROR_NOT_IMAGE,   /* neither PNG nor JPEG */
  VIEWER_TILES_ERROR_UNSUPPORTED, /* built without libcurl */
  VIEWER_TILES_ERROR_CLOSED,      /* the fetcher was freed before the answer came */
} ViewerTilesError;

#define VIEWER_TYPE_TILES (viewer_tiles_get_type ())
G_DECLARE_FINAL_TYPE (ViewerTiles, viewer_tiles, VIEWER, TILES, GObject)

GQuark       viewer_tiles_error_quark     (void);
const char  *viewer_tiles_user_agent      (void);
char        *viewer_tiles_default_cache_dir (void);
char        *viewer_tiles_expand_url      (const char *url_template,
                                           guint       z,
                                           guint       x,
                                           guint       y,
                                           GError    **error);
ViewerTiles *viewer_tiles_new             (const char *url_template,
                                           const char *cache_dir,
                                           GError    **error);
void         viewer_tiles_set_timeout_ms  (ViewerTiles *self,
                                           guint        timeout_ms);
void         viewer_tiles_set_max_cache_bytes (ViewerTiles *self,
                                               gint64       max_bytes);
void         viewer_tiles_fetch_async     (ViewerTiles        *self,
                                           guint               z,
                                           guint               x,
                                           guint               y,
                                           GCancellable       *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer            user_data);
GBytes      *viewer_tiles_fetch_finish    (ViewerTiles  *self,
                                           GAsyncResult *result,
                                           GError      **error);

G_END_DECLS
