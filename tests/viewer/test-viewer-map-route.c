/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-viewer-map-route.c: the map view's model (viewer-map-route.c), no GTK.
 *
 * Usage: test-viewer-map-route [GTest options] WORLD-OUTLINE.txt
 * Covers: the bundled outline (parses, within limits, countries with label points), bad
 * outline lines and the ring limit at and past it; the projection; stops, addresses and
 * legs from a route (literal names, Received: "from HOST [ADDR]", a hop's own address,
 * Remote-MTA literals, shared hops, broken links, hostile members); placing by GeoIP
 * answers (local never placed, Country-only answers at the country's label point); arcs
 * that skip unplaced stops; zoom-to-fit; the tiles a view needs.
 */
#include "config.h"

#include <math.h>

#include "viewer-map-route.h"

static const char *outline_path;

static void
test_bundled_outline (void)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(ViewerMapOutline) outline = NULL;
  double x, y, lon, lat;
  gsize len;

  g_assert_true (g_file_get_contents (outline_path, &text, &len, &error));
  g_assert_cmpuint (len, <, 300 * 1024);
  outline = viewer_map_outline_parse (text, len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (outline->rings->len, >, 200);
  g_assert_cmpuint (outline->countries->len, >, 150);
  g_assert_true (viewer_map_outline_country (outline, "se", &x, &y));
  viewer_map_unproject (x, y, &lon, &lat);
  g_assert_cmpfloat (lon, >, 11);
  g_assert_cmpfloat (lon, <, 24);
  g_assert_cmpfloat (lat, >, 55);
  g_assert_cmpfloat (lat, <, 69);
  g_assert_false (viewer_map_outline_country (outline, "--", &x, &y));
  g_assert_false (viewer_map_outline_country (outline, "ZZ", &x, &y));
}

static void
test_bad_outline (void)
{
  static const char *const bad[] = {
    "X 1 2\n", "C SE 1\n", "C SEE 1 2\n", "C SE 18001 0\n", "R 0 0 1 1\n", "R 0 0 1 1 2 2 3\n",
    "R 0 0 1 1 2 x\n", "R 0 9001 1 1 2 2\n", "C SE 1 2\n\nR 0 0 1 1 2 2 3 3 junk\n",
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(ViewerMapOutline) o = viewer_map_outline_parse (bad[i], strlen (bad[i]), &error);

      g_test_message ("%s", bad[i]);
      g_assert_null (o);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
}

static void
test_outline_ring_limit (void)
{
  g_autoptr(GString) text = g_string_new ("# limit\n");
  g_autoptr(GError) error = NULL;
  g_autoptr(ViewerMapOutline) at = NULL, past = NULL;
  guint i;

  for (i = 0; i < VIEWER_MAP_MAX_OUTLINE_RINGS; i++)
    g_string_append (text, "R 0 0 100 0 100 100\n");
  at = viewer_map_outline_parse (text->str, text->len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (at->rings->len, ==, VIEWER_MAP_MAX_OUTLINE_RINGS);
  g_string_append (text, "R 0 0 100 0 100 100\n");
  past = viewer_map_outline_parse (text->str, text->len, &error);
  g_assert_null (past);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_outline_point_limit (void)
{
  g_autoptr(GString) ring = g_string_new ("R");
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(ViewerMapOutline) at = NULL, past = NULL;
  guint i;

  /* Rings of 1000 points up to VIEWER_MAP_MAX_OUTLINE_POINTS, then one ring more. */
  for (i = 0; i < 1000; i++)
    g_string_append_printf (ring, " %u %u", i % 360, i % 90);
  g_string_append_c (ring, '\n');
  for (i = 0; i < VIEWER_MAP_MAX_OUTLINE_POINTS / 1000; i++)
    g_string_append (text, ring->str);
  at = viewer_map_outline_parse (text->str, text->len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (at->points->len / 2, ==, VIEWER_MAP_MAX_OUTLINE_POINTS);
  g_string_append (text, "R 0 0 1 1 2 2\n");
  past = viewer_map_outline_parse (text->str, text->len, &error);
  g_assert_null (past);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_projection (void)
{
  double x, y, lon, lat;

  viewer_map_project (0, 0, &x, &y);
  g_assert_cmpfloat_with_epsilon (x, 0.5, 1e-12);
  g_assert_cmpfloat_with_epsilon (y, 0.5, 1e-12);
  viewer_map_project (-180, VIEWER_MAP_MAX_LATITUDE, &x, &y);
  g_assert_cmpfloat_with_epsilon (x, 0.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (y, 0.0, 1e-9);
  viewer_map_project (180, -90, &x, &y); /* clamped */
  g_assert_cmpfloat_with_epsilon (x, 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (y, 1.0, 1e-9);
  viewer_map_project (15.6167, 58.4167, &x, &y);
  viewer_map_unproject (x, y, &lon, &lat);
  g_assert_cmpfloat_with_epsilon (lon, 15.6167, 1e-9);
  g_assert_cmpfloat_with_epsilon (lat, 58.4167, 1e-9);
}

/* Two recipients: a shared submission server, a relay named by a Received: field with a
 * public address, an MX reached by a Remote-MTA literal, a hop with its own address, an
 * MTA without any address, a broken link, and hostile members. */
static const char route_json[] =
  "{\"recipients\": ["
  " {\"address\": \"a@x\", \"state\": \"delivered\", \"hops\": ["
  "  {\"source\": \"mtqp\", \"server\": \"smtp.example.org\", \"reporting_mta\": \"smtp.example.org\","
  "   \"action\": \"transferred\", \"status\": \"2.0.0\", \"remote_mta\": \"dns; [81.2.69.10]\"},"
  "  {\"source\": \"mtqp\", \"server\": \"relay.example.net\", \"action\": \"transferred\","
  "   \"status\": \"2.0.0\"},"
  "  {\"source\": \"mtqp\", \"server\": \"nowhere.example\", \"action\": \"transferred\", \"status\": \"2.0.0\"},"
  "  {\"source\": \"mtqp\", \"server\": \"mx.example.jp\", \"server_address\": \"2001:218::25\","
  "   \"action\": \"delivered\", \"status\": \"2.0.0\"}"
  " ]},"
  " {\"address\": \"b@y\", \"state\": \"failed\", \"hops\": ["
  "  {\"source\": \"mtqp\", \"server\": \"smtp.example.org\", \"action\": \"transferred\", \"status\": \"2.0.0\"},"
  "  {\"source\": \"trace\", \"server\": \"[89.160.20.115]\", \"reporting_mta\": null,"
  "   \"from_host\": \"smtp.example.org\", \"from_address\": \"192.168.1.20\"},"
  "  {\"source\": \"mtqp\", \"server\": \"gw.example.info\", \"error\": \"connection refused\"},"
  "  {\"source\": 7, \"server\": [1], \"action\": {}},"
  "  null"
  " ]}"
  "]}";

static ViewerMapRoute *
parse_route (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  return viewer_map_route_new (json_node_get_object (json_parser_get_root (parser)));
}

static ViewerMapStop *
stop_named (ViewerMapRoute *route,
            const char     *name)
{
  guint i;

  for (i = 0; i < route->stops->len; i++)
    if (g_strcmp0 (((ViewerMapStop *) g_ptr_array_index (route->stops, i))->name, name) == 0)
      return g_ptr_array_index (route->stops, i);
  g_assert_not_reached ();
}

static guint
stop_index (ViewerMapRoute *route,
            const char     *name)
{
  ViewerMapStop *stop = stop_named (route, name);
  guint i;

  g_assert_true (g_ptr_array_find (route->stops, stop, &i));
  return i;
}

static void
test_route_stops (void)
{
  g_autoptr(ViewerMapRoute) route = parse_route (route_json);
  g_auto(GStrv) addresses = viewer_map_route_addresses (route);

  g_assert_cmpuint (route->stops->len, ==, 6); /* smtp shared once */
  g_assert_cmpstr (stop_named (route, "smtp.example.org")->address, ==, "192.168.1.20");
  g_assert_cmpstr (stop_named (route, "relay.example.net")->address, ==, "81.2.69.10");
  g_assert_null (stop_named (route, "nowhere.example")->address);
  g_assert_cmpint (stop_named (route, "nowhere.example")->place, ==, VIEWER_MAP_PLACE_NO_ADDRESS);
  g_assert_cmpstr (stop_named (route, "mx.example.jp")->address, ==, "2001:218::25");
  g_assert_cmpint (stop_named (route, "mx.example.jp")->place, ==, VIEWER_MAP_PLACE_PENDING);
  g_assert_cmpstr (stop_named (route, "mx.example.jp")->state, ==, "delivered");
  g_assert_cmpstr (stop_named (route, "[89.160.20.115]")->address, ==, "89.160.20.115");
  g_assert_cmpstr (stop_named (route, "[89.160.20.115]")->state, ==, "trace");
  g_assert_cmpstr (stop_named (route, "gw.example.info")->state, ==, "broken");
  g_assert_cmpstr (stop_named (route, "smtp.example.org")->state, ==, "in-transit");
  g_assert_cmpuint (g_strv_length (addresses), ==, 4);
  g_assert_cmpuint (route->legs->len, ==, 5);
}

/* The address msgtrkd connected to ("server_address") places the server asked: its own
 * hop, or the first hop a chaining server answered, not the servers behind it; and a
 * merged hop (docs/route-merge.md) whose deciding evidence is a DSN keeps it. */
static void
test_route_server_address (void)
{
  static const char json[] =
    "{\"recipients\": [{\"address\": \"a@x\", \"hops\": ["
    " {\"source\": \"mtqp\", \"server\": \"example.org\", \"reporting_mta\": \"dns; out.example.org\","
    "  \"server_address\": \"81.2.69.10\", \"action\": \"transferred\", \"status\": \"2.0.0\"},"
    " {\"source\": \"mtqp\", \"server\": \"example.org\", \"reporting_mta\": \"behind.example.org\","
    "  \"server_address\": \"81.2.69.10\", \"action\": \"transferred\", \"status\": \"2.0.0\"},"
    " {\"source\": \"dsn\", \"sources\": [\"mtqp\", \"dsn\"], \"server\": \"MX.example.jp\","
    "  \"reporting_mta\": \"mx.example.jp\", \"server_address\": \"2001:218::25\","
    "  \"action\": \"delivered\", \"status\": \"2.0.0\"},"
    " {\"source\": \"mtqp\", \"server\": \"odd.example\", \"server_address\": \"not an address\","
    "  \"action\": \"delivered\", \"status\": \"2.0.0\"}"
    "]}]}";
  g_autoptr(ViewerMapRoute) route = parse_route (json);

  g_assert_cmpstr (stop_named (route, "dns; out.example.org")->address, ==, "81.2.69.10");
  g_assert_null (stop_named (route, "behind.example.org")->address);
  g_assert_cmpstr (stop_named (route, "mx.example.jp")->address, ==, "2001:218::25");
  g_assert_null (stop_named (route, "odd.example")->address);
}

static GPtrArray *
fake_locations (void)
{
  GPtrArray *locs = g_ptr_array_new_with_free_func ((GDestroyNotify) viewer_geoip_location_free);
  ViewerGeoipLocation *l;

  l = g_new0 (ViewerGeoipLocation, 1);
  l->address = g_strdup ("81.2.69.10");
  l->kind = VIEWER_GEOIP_FOUND;
  l->has_coordinates = TRUE;
  l->latitude = 51.5;
  l->longitude = -0.1;
  l->city = g_strdup ("London");
  l->country = g_strdup ("United Kingdom");
  g_ptr_array_add (locs, l);
  l = g_new0 (ViewerGeoipLocation, 1);
  l->address = g_strdup ("2001:218::25");
  l->kind = VIEWER_GEOIP_FOUND;
  l->country_code = g_strdup ("JP"); /* a Country database: no coordinates */
  g_ptr_array_add (locs, l);
  l = g_new0 (ViewerGeoipLocation, 1);
  l->address = g_strdup ("192.168.1.20");
  l->kind = VIEWER_GEOIP_FOUND; /* a database that claims a private address: ignored */
  l->has_coordinates = TRUE;
  g_ptr_array_add (locs, l);
  l = g_new0 (ViewerGeoipLocation, 1);
  l->address = g_strdup ("89.160.20.115");
  l->kind = VIEWER_GEOIP_UNKNOWN;
  g_ptr_array_add (locs, l);
  return locs;
}

static void
test_route_places_and_arcs (void)
{
  g_autoptr(ViewerMapRoute) route = parse_route (route_json);
  g_autoptr(GPtrArray) locs = fake_locations ();
  g_autoptr(GArray) arcs = NULL;
  g_autofree char *text = NULL;
  g_autoptr(ViewerMapOutline) outline = NULL;
  ViewerMapStop *jp;
  ViewerMapArc *arc;
  double x0, y0, x1, y1, lon, lat;
  gsize len;

  g_assert_true (g_file_get_contents (outline_path, &text, &len, NULL));
  outline = viewer_map_outline_parse (text, len, NULL);
  viewer_map_route_apply (route, locs, outline);
  g_assert_cmpint (stop_named (route, "smtp.example.org")->place, ==, VIEWER_MAP_PLACE_LOCAL);
  g_assert_cmpint (stop_named (route, "relay.example.net")->place, ==, VIEWER_MAP_PLACE_FOUND);
  g_assert_cmpstr (stop_named (route, "relay.example.net")->place_name, ==, "London, United Kingdom");
  g_assert_cmpint (stop_named (route, "[89.160.20.115]")->place, ==, VIEWER_MAP_PLACE_UNKNOWN);
  jp = stop_named (route, "mx.example.jp");
  g_assert_cmpint (jp->place, ==, VIEWER_MAP_PLACE_FOUND);
  g_assert_true (jp->approximate);
  viewer_map_unproject (jp->x, jp->y, &lon, &lat);
  g_assert_cmpfloat (lon, >, 128);
  g_assert_cmpfloat (lon, <, 146);

  /* London → (nowhere.example, unplaced) → Japan: one arc that skips a stop. */
  arcs = viewer_map_route_arcs (route);
  g_assert_cmpuint (arcs->len, ==, 1);
  arc = &g_array_index (arcs, ViewerMapArc, 0);
  g_assert_cmpuint (arc->from, ==, stop_index (route, "relay.example.net"));
  g_assert_cmpuint (arc->to, ==, stop_index (route, "mx.example.jp"));
  g_assert_cmpstr (arc->state, ==, "delivered");
  g_assert_true (arc->skips);
  g_assert_true (viewer_map_route_bounds (route, &x0, &y0, &x1, &y1));
  g_assert_cmpfloat (x0, <, x1);

  /* Without GeoIP answers nothing is placed. */
  viewer_map_route_apply (route, NULL, outline);
  g_assert_false (viewer_map_route_bounds (route, &x0, &y0, &x1, &y1));
  g_array_unref (arcs);
  arcs = viewer_map_route_arcs (route);
  g_assert_cmpuint (arcs->len, ==, 0);
}

static void
test_route_limits (void)
{
  g_autoptr(GString) json = g_string_new ("{\"recipients\": [{\"hops\": [");
  g_autoptr(ViewerMapRoute) route = NULL;
  g_autoptr(ViewerMapRoute) empty = NULL;
  guint i;

  for (i = 0; i < VIEWER_MAP_MAX_STOPS + 2; i++)
    g_string_append_printf (json, "%s{\"server\": \"h%u.example\", \"action\": \"relayed\"}",
                            i > 0 ? "," : "", i);
  g_string_append (json, "]}]}");
  route = parse_route (json->str);
  g_assert_cmpuint (route->stops->len, ==, VIEWER_MAP_MAX_STOPS);
  g_assert_cmpuint (route->hidden_stops, ==, 2);
  empty = viewer_map_route_new (NULL);
  g_assert_cmpuint (empty->stops->len, ==, 0);
}

static void
test_fit (void)
{
  double zoom, cx, cy, x0, y0, x1, y1;

  /* No places: the inhabited world fills the width. */
  viewer_map_fit (FALSE, 0, 0, 0, 0, 1024, 600, &zoom, &cx, &cy);
  g_assert_cmpfloat (zoom, >, 1.5);
  g_assert_cmpfloat (zoom, <, 2.5);
  /* One place: centred, at the closest fit zoom. */
  viewer_map_project (15.6, 58.4, &x0, &y0);
  viewer_map_fit (TRUE, x0, y0, x0, y0, 800, 600, &zoom, &cx, &cy);
  g_assert_cmpfloat (zoom, ==, VIEWER_MAP_FIT_MAX_ZOOM);
  g_assert_cmpfloat (cx, ==, x0);
  /* London to Tokyo: both inside the view with the margin. */
  viewer_map_project (-0.1, 51.5, &x0, &y0);
  viewer_map_project (139.7, 35.7, &x1, &y1);
  viewer_map_fit (TRUE, MIN (x0, x1), MIN (y0, y1), MAX (x0, x1), MAX (y0, y1), 800, 600, &zoom,
                  &cx, &cy);
  g_assert_cmpfloat ((x1 - x0) * VIEWER_MAP_TILE_SIZE * pow (2, zoom), <=,
                     800 - 2 * VIEWER_MAP_FIT_MARGIN + 1e-6);
  g_assert_cmpfloat (zoom, >=, log2 (600 / VIEWER_MAP_TILE_SIZE) - 1e-9);
}

static void
test_visible_tiles (void)
{
  guint tz, x0, y0, x1, y1, n;

  /* The whole world at zoom 0 in a large view: one tile. */
  n = viewer_map_visible_tiles (0, 0.5, 0.5, 1000, 1000, 19, &tz, &x0, &y0, &x1, &y1);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpuint (tz, ==, 0);
  /* Zoom 2, centred, a 512×512 view: the 2×2 middle tiles (plus edges touched). */
  n = viewer_map_visible_tiles (2, 0.5, 0.5, 510, 510, 19, &tz, &x0, &y0, &x1, &y1);
  g_assert_cmpuint (tz, ==, 2);
  g_assert_cmpuint (x0, ==, 1);
  g_assert_cmpuint (x1, ==, 2);
  g_assert_cmpuint (n, ==, 4);
  /* The server's deepest zoom bounds the tile zoom. */
  viewer_map_visible_tiles (12, 0.5, 0.5, 256, 256, 10, &tz, &x0, &y0, &x1, &y1);
  g_assert_cmpuint (tz, ==, 10);
  /* A huge view asks no more than VIEWER_MAP_MAX_VISIBLE_TILES. */
  n = viewer_map_visible_tiles (6, 0.5, 0.5, 8000, 8000, 19, &tz, &x0, &y0, &x1, &y1);
  g_assert_cmpuint (n, <=, VIEWER_MAP_MAX_VISIBLE_TILES);
  g_assert_cmpuint (tz, <, 6);
  /* Outside the world: nothing. */
  n = viewer_map_visible_tiles (3, 5.0, 5.0, 256, 256, 19, &tz, &x0, &y0, &x1, &y1);
  g_assert_cmpuint (n, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  if (argc != 2)
    {
      g_printerr ("usage: %s [GTest options] WORLD-OUTLINE.txt\n", argv[0]);
      return 2;
    }
  outline_path = argv[1];
  g_test_add_func ("/viewer/map/outline/bundled", test_bundled_outline);
  g_test_add_func ("/viewer/map/outline/bad", test_bad_outline);
  g_test_add_func ("/viewer/map/outline/ring-limit", test_outline_ring_limit);
  g_test_add_func ("/viewer/map/outline/point-limit", test_outline_point_limit);
  g_test_add_func ("/viewer/map/projection", test_projection);
  g_test_add_func ("/viewer/map/route/stops", test_route_stops);
  g_test_add_func ("/viewer/map/route/server-address", test_route_server_address);
  g_test_add_func ("/viewer/map/route/places-and-arcs", test_route_places_and_arcs);
  g_test_add_func ("/viewer/map/route/limits", test_route_limits);
  g_test_add_func ("/viewer/map/fit", test_fit);
  g_test_add_func ("/viewer/map/visible-tiles", test_visible_tiles);
  return g_test_run ();
}
