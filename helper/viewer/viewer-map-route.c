/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-map-route.c: the map view's model (see viewer-map-route.h, docs/map.md).
 *
 * Reads the route JSON as viewer-layout.c does: every member optional and possibly of the
 * wrong type; a missing member means less on the map, never a failure. Outline text is
 * bounded (points, rings) and rejected with a line number when malformed.
 * Never: does I/O, draws, or looks at the clock.
 */
#include "config.h"

#include "viewer-map-route.h"

#include <math.h>
#include <string.h>

#include "msgtrk-states.h"
#include "viewer-layout.h"

/* --- outline ------------------------------------------------------------------------- */

/** viewer_map_outline_free: frees @outline (NULL is fine). */
void
viewer_map_outline_free (ViewerMapOutline *outline)
{
  if (outline == NULL)
    return;
  g_array_unref (outline->points);
  g_array_unref (outline->rings);
  g_array_unref (outline->countries);
  g_free (outline);
}

/* Parses a coordinate in hundredths of a degree within ±@max. */
static gboolean
parse_coord (const char *text,
             gint64      max,
             double     *out)
{
  gint64 v;

  if (!g_ascii_string_to_signed (text, 10, -max, max, &v, NULL))
    return FALSE;
  *out = v / 100.0;
  return TRUE;
}

/**
 * viewer_map_outline_parse:
 * @text: the outline file (format: data/map/README.md)
 * @len: its length
 *
 * Returns: (transfer full) (nullable): the outline, projected; NULL with
 *   G_IO_ERROR_INVALID_DATA for a malformed line or past a limit
 */
ViewerMapOutline *
viewer_map_outline_parse (const char *text,
                          gsize       len,
                          GError    **error)
{
  g_autoptr(ViewerMapOutline) outline = g_new0 (ViewerMapOutline, 1);
  const char *p = text, *end = text + len;
  guint line_no = 0;

  outline->points = g_array_new (FALSE, FALSE, sizeof (double));
  outline->rings = g_array_new (FALSE, FALSE, sizeof (ViewerMapRing));
  outline->countries = g_array_new (FALSE, FALSE, sizeof (ViewerMapCountry));
  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      g_autofree char *line = g_strndup (p, (nl != NULL ? nl : end) - p);
      g_auto(GStrv) f = NULL;
      guint n;

      p = nl != NULL ? nl + 1 : end;
      line_no++;
      if (line[0] == '#' || line[0] == '\0')
        continue;
      f = g_strsplit (line, " ", -1);
      n = g_strv_length (f);
      if (strcmp (f[0], "C") == 0 && n == 4 && strlen (f[1]) == 2)
        {
          ViewerMapCountry c = { { f[1][0], f[1][1], '\0' }, 0, 0 };
          double lon, lat;

          if (!parse_coord (f[2], 18000, &lon) || !parse_coord (f[3], 9000, &lat))
            goto bad;
          viewer_map_project (lon, lat, &c.x, &c.y);
          g_array_append_val (outline->countries, c);
        }
      else if (strcmp (f[0], "R") == 0 && n >= 7 && n % 2 == 1)
        {
          ViewerMapRing ring = { outline->points->len / 2, (n - 1) / 2 };
          guint i;

          if (outline->rings->len >= VIEWER_MAP_MAX_OUTLINE_RINGS
              || ring.start + ring.count > VIEWER_MAP_MAX_OUTLINE_POINTS)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "World outline line %u: more than %u rings or %u points", line_no,
                           VIEWER_MAP_MAX_OUTLINE_RINGS, VIEWER_MAP_MAX_OUTLINE_POINTS);
              return NULL;
            }
          for (i = 1; i < n; i += 2)
            {
              double lon, lat, xy[2];

              if (!parse_coord (f[i], 18000, &lon) || !parse_coord (f[i + 1], 9000, &lat))
                goto bad;
              viewer_map_project (lon, lat, &xy[0], &xy[1]);
              g_array_append_vals (outline->points, xy, 2);
            }
          g_array_append_val (outline->rings, ring);
        }
      else
        goto bad;
      continue;
    bad:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "World outline line %u is malformed",
                   line_no);
      return NULL;
    }
  return g_steal_pointer (&outline);
}

/**
 * viewer_map_outline_country:
 * @code: ISO 3166-1 alpha-2 (either case)
 *
 * Returns: whether @outline knows @code; its label point (projected) in @x, @y
 */
gboolean
viewer_map_outline_country (const ViewerMapOutline *outline,
                            const char             *code,
                            double                 *x,
                            double                 *y)
{
  guint i;

  if (outline == NULL || code == NULL || strlen (code) != 2 || strcmp (code, "--") == 0)
    return FALSE;
  for (i = 0; i < outline->countries->len; i++)
    {
      const ViewerMapCountry *c = &g_array_index (outline->countries, ViewerMapCountry, i);

      if (g_ascii_strcasecmp (c->code, code) == 0)
        {
          *x = c->x;
          *y = c->y;
          return TRUE;
        }
    }
  return FALSE;
}

/* --- projection ---------------------------------------------------------------------- */

/** viewer_map_project: Web Mercator, normalized to [0,1]² (latitude clamped to ±85.05°). */
void
viewer_map_project (double  lon,
                    double  lat,
                    double *x,
                    double *y)
{
  double phi = CLAMP (lat, -VIEWER_MAP_MAX_LATITUDE, VIEWER_MAP_MAX_LATITUDE) * G_PI / 180.0;

  *x = (CLAMP (lon, -180.0, 180.0) + 180.0) / 360.0;
  *y = (1.0 - log (tan (phi) + 1.0 / cos (phi)) / G_PI) / 2.0;
}

/** viewer_map_unproject: the inverse of viewer_map_project(). */
void
viewer_map_unproject (double  x,
                      double  y,
                      double *lon,
                      double *lat)
{
  *lon = x * 360.0 - 180.0;
  *lat = atan (sinh (G_PI * (1.0 - 2.0 * y))) * 180.0 / G_PI;
}

/* --- route --------------------------------------------------------------------------- */

static const char *
get_str (JsonObject *obj,
         const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonArray *
get_array (JsonObject *obj,
           const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static JsonObject *
get_element (JsonArray *array,
             guint      i)
{
  JsonNode *node = json_array_get_element (array, i);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/* An address literal in an MTA name or Remote-MTA ("dns; [192.0.2.1]"), normalized. */
static char *
literal_of (const char *text)
{
  const char *semi;

  if (text == NULL)
    return NULL;
  semi = strchr (text, ';');
  return viewer_geoip_address_normalize (semi != NULL ? semi + 1 : text);
}

/* The key two hops share when they are the same MTA (its name, case-folded). */
static char *
stop_key (const char *name)
{
  g_autofree char *literal = literal_of (name);

  return literal != NULL ? g_steal_pointer (&literal) : g_ascii_strdown (name, -1);
}

/* The address msgtrkd's MTQP session connected to for @hop ("server_address"), when it
 * is this hop's own: the server asked is the hop's reporting MTA, or the hop is the first
 * of this recipient's hops that server answered (a chaining server's first report is its
 * own; the later ones are about servers behind it). @asked: the servers seen so far. */
static char *
own_address (JsonObject *hop,
             GHashTable *asked)
{
  const char *server = get_str (hop, "server");
  const char *mta = get_str (hop, "reporting_mta");
  g_autofree char *server_key = server != NULL ? stop_key (server) : NULL;
  g_autofree char *mta_key = mta != NULL ? stop_key (mta) : NULL;
  gboolean first = server_key != NULL && !g_hash_table_contains (asked, server_key);
  gboolean same = server_key != NULL && (mta_key == NULL || g_str_equal (server_key, mta_key));

  if (server_key != NULL)
    g_hash_table_add (asked, g_steal_pointer (&server_key));
  if (!first && !same)
    return NULL;
  return literal_of (get_str (hop, "server_address"));
}

static void
stop_free (gpointer data)
{
  ViewerMapStop *stop = data;

  g_free (stop->name);
  g_free (stop->address);
  g_free (stop->place_name);
  g_free (stop);
}

/** viewer_map_route_free: frees @route (NULL is fine). */
void
viewer_map_route_free (ViewerMapRoute *route)
{
  if (route == NULL)
    return;
  g_ptr_array_unref (route->stops);
  g_array_unref (route->legs);
  g_free (route);
}

static void
add_leg (ViewerMapRoute *route,
         guint           from,
         guint           to,
         const char     *state,
         gboolean        broken)
{
  ViewerMapArc leg = { from, to, state, broken, FALSE };
  guint i;

  if (from == to)
    return;
  for (i = 0; i < route->legs->len; i++)
    {
      ViewerMapArc *l = &g_array_index (route->legs, ViewerMapArc, i);
      if (l->from == from && l->to == to)
        return;
    }
  g_array_append_val (route->legs, leg);
}

/**
 * viewer_map_route_new:
 * @route: (nullable): the GetRoute object
 *
 * Returns: (transfer full): the stops and legs of @route, with addresses but no places
 *   (every addressed stop is PENDING until viewer_map_route_apply())
 */
ViewerMapRoute *
viewer_map_route_new (JsonObject *route)
{
  ViewerMapRoute *map = g_new0 (ViewerMapRoute, 1);
  g_autoptr(GHashTable) by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) named = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) remote_next = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  g_autoptr(GHashTable) via_remote = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  g_autoptr(GHashTable) own = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  JsonArray *rcpts = get_array (route, "recipients");
  guint r, h, i;

  map->stops = g_ptr_array_new_with_free_func (stop_free);
  map->legs = g_array_new (FALSE, FALSE, sizeof (ViewerMapArc));
  for (r = 0; rcpts != NULL && r < json_array_get_length (rcpts); r++)
    {
      JsonArray *hops = get_array (get_element (rcpts, r), "hops");
      g_autoptr(GHashTable) asked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      int prev = -1;

      for (h = 0; hops != NULL && h < json_array_get_length (hops); h++)
        {
          JsonObject *hop = get_element (hops, h);
          const char *name = get_str (hop, "reporting_mta");
          gboolean trace = msgtrk_states_source_is_trace (get_str (hop, "source"));
          gboolean broken = get_str (hop, "error") != NULL
                            || (!trace && get_str (hop, "action") == NULL
                                && get_str (hop, "status") == NULL);
          const char *state = broken  ? "broken"
                              : trace ? "trace"
                                      : viewer_layout_action_state (get_str (hop, "action"));
          g_autofree char *key = NULL;
          gpointer found;
          guint idx;

          if (hop == NULL)
            continue;
          if (name == NULL)
            name = get_str (hop, "server");
          /* Received: "from HOST [ADDR]": HOST is at ADDR. */
          if (trace && get_str (hop, "from_host") != NULL)
            {
              char *addr = literal_of (get_str (hop, "from_address"));
              if (addr != NULL)
                g_hash_table_replace (named, g_ascii_strdown (get_str (hop, "from_host"), -1), addr);
            }
          if (name == NULL || *name == '\0')
            continue;
          key = stop_key (name);
          if (g_hash_table_lookup_extended (by_key, key, NULL, &found))
            idx = GPOINTER_TO_UINT (found);
          else
            {
              ViewerMapStop *stop;

              if (map->stops->len >= VIEWER_MAP_MAX_STOPS)
                {
                  map->hidden_stops++;
                  continue;
                }
              stop = g_new0 (ViewerMapStop, 1);
              stop->name = g_strdup (name);
              stop->state = state;
              idx = map->stops->len;
              g_ptr_array_add (map->stops, stop);
              g_hash_table_insert (by_key, g_steal_pointer (&key), GUINT_TO_POINTER (idx));
            }
          /* The stop shows what a report last said about it (a Received: field says
           * nothing about the state); a broken link stays broken. */
          {
            ViewerMapStop *stop = g_ptr_array_index (map->stops, idx);
            g_autofree char *own_addr = own_address (hop, asked);
            g_autofree char *remote_addr = literal_of (get_str (hop, "remote_mta"));

            if (broken || (!trace && g_strcmp0 (stop->state, "broken") != 0))
              stop->state = state;
            if (own_addr != NULL && !g_hash_table_contains (own, GUINT_TO_POINTER (idx)))
              g_hash_table_insert (own, GUINT_TO_POINTER (idx), g_steal_pointer (&own_addr));
            if (prev >= 0)
              {
                const char *from_prev = g_hash_table_lookup (remote_next, GINT_TO_POINTER (prev));

                add_leg (map, (guint) prev, idx, state, broken);
                if (from_prev != NULL && !g_hash_table_contains (via_remote, GUINT_TO_POINTER (idx)))
                  g_hash_table_insert (via_remote, GUINT_TO_POINTER (idx), g_strdup (from_prev));
              }
            /* This hop's Remote-MTA literal is where the next stop is. */
            if (remote_addr != NULL)
              g_hash_table_replace (remote_next, GINT_TO_POINTER ((int) idx), g_steal_pointer (&remote_addr));
          }
          prev = (int) idx;
        }
    }
  /* Each stop's address: its own literal name, the address msgtrkd connected to, a
   * Received: field naming it, then the previous hop's Remote-MTA. */
  for (i = 0; i < map->stops->len; i++)
    {
      ViewerMapStop *stop = g_ptr_array_index (map->stops, i);
      g_autofree char *lower = g_ascii_strdown (stop->name, -1);
      const char *addr;

      stop->address = literal_of (stop->name);
      if (stop->address == NULL && (addr = g_hash_table_lookup (own, GUINT_TO_POINTER (i))) != NULL)
        stop->address = g_strdup (addr);
      if (stop->address == NULL && (addr = g_hash_table_lookup (named, lower)) != NULL)
        stop->address = g_strdup (addr);
      if (stop->address == NULL && (addr = g_hash_table_lookup (via_remote, GUINT_TO_POINTER (i))) != NULL)
        stop->address = g_strdup (addr);
      stop->place = stop->address != NULL ? VIEWER_MAP_PLACE_PENDING : VIEWER_MAP_PLACE_NO_ADDRESS;
    }
  return map;
}

/**
 * viewer_map_route_addresses:
 *
 * Returns: (transfer full): the distinct addresses of @route's stops, for
 *   viewer_geoip_locate_async()
 */
GStrv
viewer_map_route_addresses (ViewerMapRoute *route)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  guint i;

  for (i = 0; i < route->stops->len; i++)
    {
      ViewerMapStop *stop = g_ptr_array_index (route->stops, i);

      if (stop->address != NULL && g_hash_table_add (seen, stop->address))
        g_strv_builder_add (builder, stop->address);
    }
  return g_strv_builder_end (builder);
}

/**
 * viewer_map_route_apply:
 * @locations: (element-type ViewerGeoipLocation) (nullable): GeoIP answers (any order);
 *   NULL: every addressed stop becomes UNKNOWN (or LOCAL)
 * @outline: (nullable): for country-only answers
 *
 * Places @route's stops.
 */
void
viewer_map_route_apply (ViewerMapRoute         *route,
                        GPtrArray              *locations,
                        const ViewerMapOutline *outline)
{
  guint i, j;

  for (i = 0; i < route->stops->len; i++)
    {
      ViewerMapStop *stop = g_ptr_array_index (route->stops, i);
      ViewerGeoipLocation *loc = NULL;

      if (stop->address == NULL)
        continue;
      for (j = 0; locations != NULL && j < locations->len && loc == NULL; j++)
        {
          ViewerGeoipLocation *l = g_ptr_array_index (locations, j);
          if (g_strcmp0 (l->address, stop->address) == 0)
            loc = l;
        }
      g_clear_pointer (&stop->place_name, g_free);
      stop->approximate = FALSE;
      if (viewer_geoip_address_is_local (stop->address))
        stop->place = VIEWER_MAP_PLACE_LOCAL;
      else if (loc == NULL || loc->kind != VIEWER_GEOIP_FOUND)
        stop->place = VIEWER_MAP_PLACE_UNKNOWN;
      else
        {
          stop->place = VIEWER_MAP_PLACE_FOUND;
          if (loc->has_coordinates)
            viewer_map_project (loc->longitude, loc->latitude, &stop->x, &stop->y);
          else if (viewer_map_outline_country (outline, loc->country_code, &stop->x, &stop->y))
            stop->approximate = TRUE;
          else
            stop->place = VIEWER_MAP_PLACE_UNKNOWN;
          if (loc->city != NULL && (loc->country != NULL || loc->country_code != NULL))
            stop->place_name = g_strdup_printf ("%s, %s", loc->city,
                                                loc->country != NULL ? loc->country : loc->country_code);
          else if (loc->country != NULL || loc->country_code != NULL)
            stop->place_name = g_strdup (loc->country != NULL ? loc->country : loc->country_code);
        }
    }
}

/* Follows legs from @from through unplaced stops; adds an arc to each placed stop met. */
static void
arcs_from (ViewerMapRoute *route,
           guint           origin,
           guint           at,
           gboolean        skipped,
           GArray         *arcs,
           guint8         *visited)
{
  guint i, k;

  for (i = 0; i < route->legs->len; i++)
    {
      ViewerMapArc *leg = &g_array_index (route->legs, ViewerMapArc, i);
      ViewerMapStop *to;

      if (leg->from != at || visited[leg->to])
        continue;
      to = g_ptr_array_index (route->stops, leg->to);
      if (to->place == VIEWER_MAP_PLACE_FOUND)
        {
          ViewerMapArc arc = { origin, leg->to, leg->state, leg->broken, skipped };
          gboolean dup = FALSE;

          for (k = 0; k < arcs->len && !dup; k++)
            dup = g_array_index (arcs, ViewerMapArc, k).from == origin
                  && g_array_index (arcs, ViewerMapArc, k).to == leg->to;
          if (!dup)
            g_array_append_val (arcs, arc);
        }
      else
        {
          visited[leg->to] = 1;
          arcs_from (route, origin, leg->to, TRUE, arcs, visited);
          visited[leg->to] = 0;
        }
    }
}

/**
 * viewer_map_route_arcs:
 *
 * Returns: (transfer full) (element-type ViewerMapArc): arcs between placed stops, each
 *   joining a placed stop to the next placed stops of its chains (unplaced ones skipped)
 */
GArray *
viewer_map_route_arcs (ViewerMapRoute *route)
{
  GArray *arcs = g_array_new (FALSE, FALSE, sizeof (ViewerMapArc));
  g_autofree guint8 *visited = g_new0 (guint8, route->stops->len + 1);
  guint i;

  for (i = 0; i < route->stops->len; i++)
    if (((ViewerMapStop *) g_ptr_array_index (route->stops, i))->place == VIEWER_MAP_PLACE_FOUND)
      {
        visited[i] = 1;
        arcs_from (route, i, i, FALSE, arcs, visited);
        visited[i] = 0;
      }
  return arcs;
}

/** viewer_map_route_bounds: the box of placed stops; FALSE when none is placed. */
gboolean
viewer_map_route_bounds (ViewerMapRoute *route,
                         double         *x0,
                         double         *y0,
                         double         *x1,
                         double         *y1)
{
  gboolean any = FALSE;
  guint i;

  for (i = 0; i < route->stops->len; i++)
    {
      ViewerMapStop *s = g_ptr_array_index (route->stops, i);

      if (s->place != VIEWER_MAP_PLACE_FOUND)
        continue;
      if (!any)
        {
          *x0 = *x1 = s->x;
          *y0 = *y1 = s->y;
          any = TRUE;
        }
      *x0 = MIN (*x0, s->x);
      *y0 = MIN (*y0, s->y);
      *x1 = MAX (*x1, s->x);
      *y1 = MAX (*y1, s->y);
    }
  return any;
}

/**
 * viewer_map_fit:
 * @have_bounds: FALSE: fit the inhabited world (60°S to 78°N)
 *
 * Zoom-to-fit: the zoom (world = 256·2^zoom pixels) and centre (normalized) that show the
 * box in a @width × @height view with VIEWER_MAP_FIT_MARGIN around it, never closer than
 * VIEWER_MAP_FIT_MAX_ZOOM and never so far that the world is smaller than the view.
 */
void
viewer_map_fit (gboolean have_bounds,
                double   x0,
                double   y0,
                double   x1,
                double   y1,
                double   width,
                double   height,
                double  *zoom,
                double  *cx,
                double  *cy)
{
  double w = MAX (width - 2 * VIEWER_MAP_FIT_MARGIN, 16.0);
  double h = MAX (height - 2 * VIEWER_MAP_FIT_MARGIN, 16.0);
  double min_zoom = log2 (MAX (MIN (width, height), 16.0) / VIEWER_MAP_TILE_SIZE);
  double zx, zy;

  if (!have_bounds)
    {
      viewer_map_project (-170, 78, &x0, &y0);
      viewer_map_project (190, -60, &x1, &y1);
      x1 = MIN (x1, 1.0);
      min_zoom = -4;
    }
  zx = x1 - x0 > 1e-9 ? log2 (w / ((x1 - x0) * VIEWER_MAP_TILE_SIZE)) : VIEWER_MAP_FIT_MAX_ZOOM;
  zy = y1 - y0 > 1e-9 ? log2 (h / ((y1 - y0) * VIEWER_MAP_TILE_SIZE)) : VIEWER_MAP_FIT_MAX_ZOOM;
  *zoom = CLAMP (MIN (zx, zy), MIN (min_zoom, VIEWER_MAP_FIT_MAX_ZOOM), VIEWER_MAP_FIT_MAX_ZOOM);
  *cx = (x0 + x1) / 2;
  *cy = (y0 + y1) / 2;
}

/**
 * viewer_map_visible_tiles:
 * @max_zoom: deepest tile zoom the server has
 * @tile_zoom: (out): the tile zoom to draw at
 *
 * The tiles a @width × @height view at @zoom centred on @cx, @cy covers: columns
 * @x0..@x1, rows @y0..@y1 at @tile_zoom (coarser when more than
 * VIEWER_MAP_MAX_VISIBLE_TILES would be needed).
 *
 * Returns: how many tiles that is (0 for an empty view)
 */
guint
viewer_map_visible_tiles (double  zoom,
                          double  cx,
                          double  cy,
                          double  width,
                          double  height,
                          guint   max_zoom,
                          guint  *tile_zoom,
                          guint  *x0,
                          guint  *y0,
                          guint  *x1,
                          guint  *y1)
{
  int tz = (int) CLAMP (floor (zoom + 0.5), 0, (double) max_zoom);

  if (width < 1 || height < 1)
    return 0;
  for (; tz >= 0; tz--)
    {
      double n = (double) (1u << tz);
      double size = VIEWER_MAP_TILE_SIZE * pow (2.0, zoom - tz);
      double left = cx * n - width / 2 / size, right = cx * n + width / 2 / size;
      double top = cy * n - height / 2 / size, bottom = cy * n + height / 2 / size;
      guint count;

      if (right < 0 || bottom < 0 || left >= n || top >= n)
        return 0;
      *x0 = (guint) MAX (floor (left), 0);
      *y0 = (guint) MAX (floor (top), 0);
      *x1 = (guint) MIN (floor (right), n - 1);
      *y1 = (guint) MIN (floor (bottom), n - 1);
      count = (*x1 - *x0 + 1) * (*y1 - *y0 + 1);
      *tile_zoom = (guint) tz;
      if (count <= VIEWER_MAP_MAX_VISIBLE_TILES || tz == 0)
        return count;
    }
  return 0;
}
