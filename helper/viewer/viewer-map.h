/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-map.h: the geographic delivery map (GTK 4 widget, docs/map.md).
 *
 * What: a Web-Mercator map of one route: the bundled world outline (always), map tiles
 *   when the user turned online maps on, the route as arcs between the places GeoIP gives
 *   the hops (colours and states as in the diagram), zoomed to fit; beside it the hops that
 *   have no place (local network, unknown address, no address) and the online-maps switch.
 * How: viewer_map_set_route() builds the model (viewer-map-route.c), looks the addresses up
 *   with viewer_geoip_locate_async() and fetches tiles with ViewerTiles; the outline is
 *   parsed and tiles are decoded in GTask threads. Scroll zooms, drag pans, the button
 *   zooms to fit.
 * Settings (org.msgtrk, when the schema is installed): map-online-tiles, map-tile-url,
 *   geoip-database; MSGTRK_MAP_ONLINE, MSGTRK_MAP_TILE_URL and MSGTRK_GEOIP_DATABASE in the
 *   environment override them (tests, screenshots).
 * Never: does I/O on the main thread; fetches a tile when online maps are off; shows remote
 *   text as markup.
 */
#pragma once

#include <gtk/gtk.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/** VIEWER_MAP_MAX_TEXTURES: decoded tiles kept in memory per map. */
#define VIEWER_MAP_MAX_TEXTURES 128
/** VIEWER_MAP_MIN_ZOOM, VIEWER_MAP_MAX_ZOOM: how far the user can zoom. */
#define VIEWER_MAP_MIN_ZOOM 0.0
#define VIEWER_MAP_MAX_ZOOM 12.0

#define VIEWER_TYPE_MAP (viewer_map_get_type ())
G_DECLARE_FINAL_TYPE (ViewerMap, viewer_map, VIEWER, MAP, GtkWidget)

GtkWidget *viewer_map_new          (void);
void       viewer_map_set_route    (ViewerMap  *self,
                                    JsonObject *route);
void       viewer_map_zoom_to_fit  (ViewerMap  *self);
GtkWidget *viewer_map_views_new    (GtkWidget  *diagram,
                                    GtkWidget  *map,
                                    GtkWidget **switcher);

G_END_DECLS
