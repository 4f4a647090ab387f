/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-map-route.h: the geographic delivery map's model (pure: no GTK, no I/O).
 *
 * What: viewer_map_outline_parse() reads the bundled world outline (data/map/README.md);
 *   viewer_map_project() is the Web-Mercator projection (normalized: the world is the
 *   square [0,1]², x east, y south); viewer_map_route_new() turns a GetRoute object into
 *   stops (one per distinct MTA a recipient's chain passes, in order) with the address
 *   literal each can be placed by, and legs between consecutive stops coloured like the
 *   diagram's edges (viewer_layout_action_state(), "trace", "broken");
 *   viewer_map_route_apply() places stops from GeoIP answers; viewer_map_route_arcs()
 *   joins placed stops, skipping unplaced ones; viewer_map_fit() is zoom-to-fit;
 *   viewer_map_visible_tiles() lists the tiles a view needs (and no others: no prefetch).
 * How: an MTA's address comes from its own name when that is an address literal, from a
 *   Received: field that names it with an address ("from HOST [ADDR]"), from a hop's
 *   "server_address" member (the address msgtrkd's MTQP session connected to: for the
 *   server asked, or the first hop that server answered), or from the
 *   previous hop's Remote-MTA when that is a literal.
 * Limits: VIEWER_MAP_MAX_OUTLINE_POINTS / _RINGS of outline, VIEWER_MAP_MAX_STOPS stops;
 *   zoom-to-fit never closer than VIEWER_MAP_FIT_MAX_ZOOM.
 * Never: places a stop that GeoIP did not place (local and unknown stops are listed, not
 *   drawn); trusts the route's strings (they are only compared and shown as text).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "viewer-geoip.h"

G_BEGIN_DECLS

/** VIEWER_MAP_MAX_OUTLINE_POINTS: outline vertices read at most (the 1:110m file: ~10,000). */
#define VIEWER_MAP_MAX_OUTLINE_POINTS 200000
/** VIEWER_MAP_MAX_OUTLINE_RINGS: outline rings read at most (the 1:110m file: ~290). */
#define VIEWER_MAP_MAX_OUTLINE_RINGS 10000
/** VIEWER_MAP_MAX_STOPS: stops on one map (the rest are counted in hidden_stops). */
#define VIEWER_MAP_MAX_STOPS 256
/** VIEWER_MAP_MAX_LATITUDE: Web-Mercator's limit. */
#define VIEWER_MAP_MAX_LATITUDE 85.0511287798
/** VIEWER_MAP_TILE_SIZE: pixels of a tile, and of the whole world at zoom 0. */
#define VIEWER_MAP_TILE_SIZE 256.0
/** VIEWER_MAP_FIT_MAX_ZOOM: zoom-to-fit stops here (one city is not a whole screen). */
#define VIEWER_MAP_FIT_MAX_ZOOM 6.0
/** VIEWER_MAP_FIT_MARGIN: pixels kept free around the fitted route. */
#define VIEWER_MAP_FIT_MARGIN 48.0
/** VIEWER_MAP_MAX_VISIBLE_TILES: tiles one view asks at most. */
#define VIEWER_MAP_MAX_VISIBLE_TILES 64

typedef struct
{
  guint start, count; /* into points */
} ViewerMapRing;

typedef struct
{
  char code[3];   /* ISO 3166-1 alpha-2 or "--" */
  double x, y;    /* label point, projected */
} ViewerMapCountry;

typedef struct
{
  GArray *points;    /* (element-type double): x, y pairs, projected */
  GArray *rings;     /* (element-type ViewerMapRing) */
  GArray *countries; /* (element-type ViewerMapCountry) */
} ViewerMapOutline;

typedef enum
{
  VIEWER_MAP_PLACE_NO_ADDRESS, /* nothing says where this MTA is */
  VIEWER_MAP_PLACE_PENDING,    /* an address, not looked up yet */
  VIEWER_MAP_PLACE_LOCAL,      /* a private/loopback/documentation address: "local network" */
  VIEWER_MAP_PLACE_UNKNOWN,    /* GeoIP does not know it (or no database) */
  VIEWER_MAP_PLACE_FOUND,      /* x, y valid */
} ViewerMapPlace;

typedef struct
{
  char *name;          /* (owned) (nullable): MTA as reported */
  char *address;       /* (owned) (nullable): normalized address literal */
  const char *state;   /* static colour key of the stop (as the diagram's node) */
  ViewerMapPlace place;
  double x, y;         /* projected, when FOUND */
  gboolean approximate;/* placed at its country's label point (a Country database) */
  char *place_name;    /* (owned) (nullable): "City, Country", "Country" */
} ViewerMapStop;

typedef struct
{
  guint from, to;      /* stop indexes */
  const char *state;   /* colour key of the destination */
  gboolean broken;     /* into a broken link */
  gboolean skips;      /* passes stops without a place */
} ViewerMapArc;

typedef struct
{
  GPtrArray *stops;    /* (element-type ViewerMapStop) (owned) */
  GArray *legs;        /* (element-type ViewerMapArc): consecutive stops of a chain */
  guint hidden_stops;
} ViewerMapRoute;

ViewerMapOutline *viewer_map_outline_parse    (const char *text,
                                               gsize       len,
                                               GError    **error);
void              viewer_map_outline_free     (ViewerMapOutline *outline);
gboolean          viewer_map_outline_country  (const ViewerMapOutline *outline,
                                               const char             *code,
                                               double                 *x,
                                               double                 *y);
void              viewer_map_project          (double  lon,
                                               double  lat,
                                               double *x,
                                               double *y);
void              viewer_map_unproject        (double  x,
                                               double  y,
                                               double *lon,
                                               double *lat);
ViewerMapRoute   *viewer_map_route_new        (JsonObject *route);
void              viewer_map_route_free       (ViewerMapRoute *route);
GStrv             viewer_map_route_addresses  (ViewerMapRoute *route);
void              viewer_map_route_apply      (ViewerMapRoute         *route,
                                               GPtrArray              *locations,
                                               const ViewerMapOutline *outline);
GArray           *viewer_map_route_arcs       (ViewerMapRoute *route);
gboolean          viewer_map_route_bounds     (ViewerMapRoute *route,
                                               double         *x0,
                                               double         *y0,
                                               double         *x1,
                                               double         *y1);
void              viewer_map_fit              (gboolean have_bounds,
                                               double   x0,
                                               double   y0,
                                               double   x1,
                                               double   y1,
                                               double   width,
                                               double   height,
                                               double  *zoom,
                                               double  *cx,
                                               double  *cy);
guint             viewer_map_visible_tiles    (double  zoom,
                                               double  cx,
                                               double  cy,
                                               double  width,
                                               double  height,
                                               guint   max_zoom,
                                               guint  *tile_zoom,
                                               guint  *x0,
                                               guint  *y0,
                                               guint  *x1,
                                               guint  *y1);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ViewerMapOutline, viewer_map_outline_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ViewerMapRoute, viewer_map_route_free)

G_END_DECLS
