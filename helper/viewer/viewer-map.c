/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-map.c: the geographic delivery map widget (see viewer-map.h, docs/map.md).
 *
 * Drawing order: sea, land (the outline, filled even-odd), tiles (online only, where
 * decoded), arcs (quadratic curves bulging north of the straight line, coloured by the
 * destination's state; dashed when they skip unplaced hops, dashed red into a broken link),
 * place markers with the MTA's name, attribution. Arc and marker colours come from
 * viewer_diagram_state_rgba(), so map and diagram agree.
 * Limits: VIEWER_MAP_MAX_TEXTURES decoded tiles; tiles asked only for the visible area
 *   (viewer_map_visible_tiles(), no prefetch); everything else bounded by the model.
 * Never: blocks the main loop (GeoIP, outline, tile fetch and decode run in threads).
 */
#include "config.h"

#include "viewer-map.h"

#include "msgtrk-json.h"

#include <glib/gi18n-lib.h>
#include <math.h>

#include "viewer-diagram.h"
#include "viewer-geoip.h"
#include "viewer-map-route.h"
#include "viewer-tiles.h"

#define OUTLINE_RESOURCE "/org/msgtrk/Viewer/map/world-110m.txt"
#define SCHEMA_ID "org.msgtrk"
#define MARKER_RADIUS 6.0
#define ARC_WIDTH 3.0
#define ZOOM_STEP 0.5

typedef struct
{
  cairo_surface_t *surface; /* (owned) (nullable): NULL while pending or after a failure */
  gboolean pending;
} TileEntry;

struct _ViewerMap
{
  GtkWidget parent_instance;

  GtkWidget *paned;
  GtkWidget *area;
  GtkWidget *side_box;     /* the hops without a place */
  GtkWidget *geoip_label;
  GtkWidget *online_check;
  GtkWidget *tiles_problem; /* why online tiles are off although switched on */
  GSettings *settings;     /* (nullable): without the schema, defaults */

  GCancellable *cancellable;       /* the current route's lookups */
  GCancellable *tiles_cancellable; /* the current tile fetcher's requests */
  ViewerMapOutline *outline;
  ViewerMapRoute *route;
  GArray *arcs;
  char *geoip_error;
  char *envid;          /* of the route shown: a refresh of the same message keeps the view */

  gboolean online;
  char *tile_url;
  char *geoip_path;
  ViewerTiles *tiles;
  GHashTable *textures; /* "z/x/y" → TileEntry */

  double zoom, cx, cy;
  gboolean fitted;      /* follow the size (no pan or zoom by the user since) */
  int last_width, last_height;
  double drag_cx, drag_cy;
};

G_DEFINE_FINAL_TYPE (ViewerMap, viewer_map, GTK_TYPE_WIDGET)

static void
tile_entry_free (TileEntry *entry)
{
  g_clear_pointer (&entry->surface, cairo_surface_destroy);
  g_free (entry);
}

/* --- settings ------------------------------------------------------------------------ */

static void
read_settings (ViewerMap *self)
{
  const char *env;

  self->online = self->settings != NULL && g_settings_get_boolean (self->settings, "map-online-tiles");
  g_clear_pointer (&self->tile_url, g_free);
  g_clear_pointer (&self->geoip_path, g_free);
  if (self->settings != NULL)
    {
      self->tile_url = g_settings_get_string (self->settings, "map-tile-url");
      self->geoip_path = g_settings_get_string (self->settings, "geoip-database");
    }
  if ((env = g_getenv ("MSGTRK_MAP_ONLINE")) != NULL)
    self->online = g_strcmp0 (env, "1") == 0;
  if ((env = g_getenv ("MSGTRK_MAP_TILE_URL")) != NULL)
    {
      g_free (self->tile_url);
      self->tile_url = g_strdup (env);
    }
  if ((env = g_getenv ("MSGTRK_GEOIP_DATABASE")) != NULL)
    {
      g_free (self->geoip_path);
      self->geoip_path = g_strdup (env);
    }
}

/* Starts or stops the tile fetcher to match self->online. */
static void
update_tiles (ViewerMap *self)
{
  g_autoptr(GError) error = NULL;

  g_cancellable_cancel (self->tiles_cancellable);
  g_clear_object (&self->tiles_cancellable);
  g_clear_object (&self->tiles);
  g_hash_table_remove_all (self->textures);
  if (self->online)
    {
      self->tiles_cancellable = g_cancellable_new ();
      self->tiles = viewer_tiles_new (self->tile_url, NULL, &error);
      if (self->tiles == NULL)
        g_warning ("Online map off: %s", error->message);
    }
  if (self->tiles_problem != NULL)
    {
      gtk_label_set_text (GTK_LABEL (self->tiles_problem), error != NULL ? error->message : "");
      gtk_widget_set_visible (self->tiles_problem, error != NULL);
    }
  gtk_widget_queue_draw (self->area);
}

/* Settings changed elsewhere (gsettings, another window): follow them. */
static void
on_settings_changed (GSettings  *settings,
                     const char *key,
                     ViewerMap  *self)
{
  gboolean online = self->online;
  g_autofree char *url = g_strdup (self->tile_url);

  read_settings (self);
  if (online != self->online || g_strcmp0 (url, self->tile_url) != 0)
    {
      gtk_check_button_set_active (GTK_CHECK_BUTTON (self->online_check), self->online);
      update_tiles (self);
    }
}

static void
on_online_toggled (GtkCheckButton *check,
                   ViewerMap      *self)
{
  gboolean active = gtk_check_button_get_active (check);

  if (active == self->online)
    return;
  self->online = active;
  if (self->settings != NULL)
    g_settings_set_boolean (self->settings, "map-online-tiles", active);
  update_tiles (self);
}

/* --- outline ------------------------------------------------------------------------- */

static void
outline_thread (GTask        *task,
                gpointer      source,
                gpointer      data,
                GCancellable *cancellable)
{
  g_autoptr(GBytes) bytes = NULL;
  GError *error = NULL;
  ViewerMapOutline *outline;
  gsize len;
  const char *text;

  bytes = g_resources_lookup_data (OUTLINE_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  if (bytes == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  text = g_bytes_get_data (bytes, &len);
  outline = viewer_map_outline_parse (text, len, &error);
  if (outline == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, outline, (GDestroyNotify) viewer_map_outline_free);
}

static void rebuild (ViewerMap *self);

static void
outline_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  ViewerMap *self = VIEWER_MAP (source);
  g_autoptr(GError) error = NULL;
  ViewerMapOutline *outline = g_task_propagate_pointer (G_TASK (result), &error);

  if (outline == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("World outline: %s", error->message);
      return;
    }
  if (self->paned == NULL) /* disposed while the outline was read */
    {
      viewer_map_outline_free (outline);
      return;
    }
  self->outline = outline;
  /* Country-only GeoIP answers are placed by the outline: place again. */
  if (self->route != NULL)
    rebuild (self);
  gtk_widget_queue_draw (self->area);
}

/* --- route --------------------------------------------------------------------------- */

static const char *
place_reason (ViewerMap     *self,
              ViewerMapStop *stop)
{
  switch (stop->place)
    {
    case VIEWER_MAP_PLACE_NO_ADDRESS:
      return _("no address known");
    case VIEWER_MAP_PLACE_PENDING:
      return _("looking up…");
    case VIEWER_MAP_PLACE_LOCAL:
      return _("local network");
    case VIEWER_MAP_PLACE_UNKNOWN:
      return self->geoip_error != NULL ? _("no GeoIP database") : _("not in the GeoIP database");
    case VIEWER_MAP_PLACE_FOUND:
    default:
      return "";
    }
}

/* Refills the side list of hops without a place. */
static void
fill_side (ViewerMap *self)
{
  GtkWidget *child;
  guint i, n = 0;

  while ((child = gtk_widget_get_first_child (self->side_box)) != NULL)
    gtk_box_remove (GTK_BOX (self->side_box), child);
  for (i = 0; self->route != NULL && i < self->route->stops->len; i++)
    {
      ViewerMapStop *stop = g_ptr_array_index (self->route->stops, i);
      g_autofree char *detail = NULL;
      g_autofree char *shown = NULL;
      GtkWidget *row, *name, *why;

      if (stop->place == VIEWER_MAP_PLACE_FOUND)
        continue;
      n++;
      /* Remote text: plain text, never markup, and cleaned (msgtrk_json_clean_text). */
      shown = msgtrk_json_clean_text (stop->name);
      row = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
      name = gtk_label_new (shown);
      gtk_label_set_xalign (GTK_LABEL (name), 0);
      gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_MIDDLE);
      gtk_widget_set_tooltip_text (name, shown);
      detail = stop->address != NULL
                   ? g_strdup_printf ("%s — %s (%s)", viewer_diagram_state_label (stop->state),
                                      place_reason (self, stop), stop->address)
                   : g_strdup_printf ("%s — %s", viewer_diagram_state_label (stop->state),
                                      place_reason (self, stop));
      why = gtk_label_new (detail);
      gtk_label_set_xalign (GTK_LABEL (why), 0);
      gtk_label_set_wrap (GTK_LABEL (why), TRUE);
      gtk_widget_add_css_class (why, "dim-label");
      gtk_widget_add_css_class (why, "caption");
      gtk_box_append (GTK_BOX (row), name);
      gtk_box_append (GTK_BOX (row), why);
      gtk_box_append (GTK_BOX (self->side_box), row);
    }
  if (n == 0)
    {
      child = gtk_label_new (self->route != NULL && self->route->stops->len > 0
                                 ? _("Every hop has a place on the map.")
                                 : _("No hops yet."));
      gtk_label_set_xalign (GTK_LABEL (child), 0);
      gtk_label_set_wrap (GTK_LABEL (child), TRUE);
      gtk_widget_add_css_class (child, "dim-label");
      gtk_box_append (GTK_BOX (self->side_box), child);
    }
  if (self->route != NULL && self->route->hidden_stops > 0)
    {
      g_autofree char *text = g_strdup_printf (_("Not drawn: %u more hops."), self->route->hidden_stops);
      child = gtk_label_new (text);
      gtk_label_set_xalign (GTK_LABEL (child), 0);
      gtk_box_append (GTK_BOX (self->side_box), child);
    }
}

/* Arcs and side list from the current places. */
static void
rebuild (ViewerMap *self)
{
  g_clear_pointer (&self->arcs, g_array_unref);
  if (self->route != NULL)
    self->arcs = viewer_map_route_arcs (self->route);
  fill_side (self);
  gtk_widget_queue_draw (self->area);
}

static void
located (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  ViewerMap *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) locations = viewer_geoip_locate_finish (result, &error);

  if (locations == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_unref (self);
      return;
    }
  if (self->route != NULL)
    {
      viewer_map_route_apply (self->route, locations, self->outline);
      if (self->fitted)
        viewer_map_zoom_to_fit (self);
      rebuild (self);
    }
  g_object_unref (self);
}

/* Opens the database once in a thread to say in the side panel which one is used. */
static void
probe_thread (GTask        *task,
              gpointer      source,
              gpointer      data,
              GCancellable *cancellable)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ViewerGeoip) geoip = viewer_geoip_open (data, &error);

  if (geoip == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, g_strdup (viewer_geoip_get_path (geoip)), g_free);
}

static void
probe_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  ViewerMap *self = VIEWER_MAP (source);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_task_propagate_pointer (G_TASK (result), &error);
  g_autofree char *text = NULL;

  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_pointer (&self->geoip_error, g_free);
  if (path != NULL)
    text = g_strdup_printf (_("Places from %s"), path);
  else
    {
      self->geoip_error = g_strdup (error->message);
      text = g_strdup_printf (_("No places: %s"), error->message);
    }
  gtk_label_set_text (GTK_LABEL (self->geoip_label), text);
  fill_side (self);
}

/**
 * viewer_map_set_route:
 * @route: (nullable): the GetRoute object (not kept)
 *
 * Shows @route: the model now, places when the GeoIP lookups (in a thread) answer.
 */
void
viewer_map_set_route (ViewerMap  *self,
                      JsonObject *route)
{
  g_auto(GStrv) addresses = NULL;
  g_autoptr(GTask) probe = NULL;
  JsonNode *envid;

  g_return_if_fail (VIEWER_IS_MAP (self));
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_clear_pointer (&self->route, viewer_map_route_free);
  self->route = viewer_map_route_new (route);
  envid = route != NULL ? json_object_get_member (route, "envid") : NULL;
  if (envid == NULL || json_node_get_value_type (envid) != G_TYPE_STRING
      || g_strcmp0 (self->envid, json_node_get_string (envid)) != 0)
    {
      /* Another message: fit it. A refresh of the same one keeps the user's view. */
      g_free (self->envid);
      self->envid = envid != NULL && json_node_get_value_type (envid) == G_TYPE_STRING
                        ? g_strdup (json_node_get_string (envid))
                        : NULL;
      self->fitted = TRUE;
    }
  addresses = viewer_map_route_addresses (self->route);
  viewer_geoip_locate_async (self->geoip_path, (const char *const *) addresses, self->cancellable,
                             located, g_object_ref (self));
  probe = g_task_new (self, self->cancellable, probe_done, NULL);
  g_task_set_task_data (probe, g_strdup (self->geoip_path), g_free);
  g_task_run_in_thread (probe, probe_thread);
  if (self->fitted)
    viewer_map_zoom_to_fit (self);
  rebuild (self);
}

/** viewer_map_zoom_to_fit: shows every placed hop (the inhabited world when none is). */
void
viewer_map_zoom_to_fit (ViewerMap *self)
{
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  gboolean have = self->route != NULL && viewer_map_route_bounds (self->route, &x0, &y0, &x1, &y1);
  int w = MAX (gtk_widget_get_width (self->area), 64);
  int h = MAX (gtk_widget_get_height (self->area), 64);

  viewer_map_fit (have, x0, y0, x1, y1, w, h, &self->zoom, &self->cx, &self->cy);
  self->fitted = TRUE;
  self->last_width = gtk_widget_get_width (self->area);
  self->last_height = gtk_widget_get_height (self->area);
  gtk_widget_queue_draw (self->area);
}

/* --- tiles --------------------------------------------------------------------------- */

static void
decode_thread (GTask        *task,
               gpointer      source,
               gpointer      data,
               GCancellable *cancellable)
{
  GBytes *bytes = data;
  GError *error = NULL;
  g_autoptr(GdkTexture) texture = gdk_texture_new_from_bytes (bytes, &error);
  cairo_surface_t *surface;
  int w, h;

  if (texture == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  w = gdk_texture_get_width (texture);
  h = gdk_texture_get_height (texture);
  if (w <= 0 || h <= 0 || w > 1024 || h > 1024)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Tile of %d×%d pixels", w, h);
      return;
    }
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  gdk_texture_download (texture, cairo_image_surface_get_data (surface),
                        cairo_image_surface_get_stride (surface));
  cairo_surface_mark_dirty (surface);
  g_task_return_pointer (task, surface, (GDestroyNotify) cairo_surface_destroy);
}

static void
decoded (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  ViewerMap *self = VIEWER_MAP (source);
  g_autofree char *key = user_data;
  g_autoptr(GError) error = NULL;
  cairo_surface_t *surface = g_task_propagate_pointer (G_TASK (result), &error);
  TileEntry *entry;

  if (surface == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  entry = g_hash_table_lookup (self->textures, key);
  if (entry == NULL)
    {
      g_clear_pointer (&surface, cairo_surface_destroy);
      return;
    }
  entry->pending = FALSE;
  entry->surface = surface;
  if (surface == NULL)
    g_debug ("Tile %s: %s", key, error->message);
  gtk_widget_queue_draw (self->area);
}

typedef struct
{
  ViewerMap *self; /* (owned) */
  char *key;       /* (owned) */
  GCancellable *cancellable; /* (owned) */
} FetchData;

static void
fetched (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  FetchData *fd = user_data;
  ViewerMap *self = fd->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = viewer_tiles_fetch_finish (NULL, result, &error);
  TileEntry *entry;

  if (bytes == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    goto out;
  entry = g_hash_table_lookup (self->textures, fd->key);
  if (entry == NULL || g_cancellable_is_cancelled (fd->cancellable))
    goto out;
  if (bytes == NULL)
    {
      g_debug ("%s", error->message);
      if (g_error_matches (error, VIEWER_TILES_ERROR, VIEWER_TILES_ERROR_BUSY))
        g_hash_table_remove (self->textures, fd->key); /* asked again at the next draw */
      else
        entry->pending = FALSE; /* failed: the outline shows through */
    }
  else
    {
      g_autoptr(GTask) task = g_task_new (self, fd->cancellable, decoded, g_strdup (fd->key));
      g_task_set_task_data (task, g_bytes_ref (bytes), (GDestroyNotify) g_bytes_unref);
      g_task_run_in_thread (task, decode_thread);
    }
out:
  g_object_unref (fd->self);
  g_free (fd->key);
  g_object_unref (fd->cancellable);
  g_free (fd);
}

/* Asks the tiles of the visible area that are not known yet (never others). */
static void
request_tiles (ViewerMap *self,
               guint      tz,
               guint      x0,
               guint      y0,
               guint      x1,
               guint      y1)
{
  guint x, y;

  if (self->tiles == NULL)
    return;
  if (g_hash_table_size (self->textures) > VIEWER_MAP_MAX_TEXTURES)
    {
      GHashTableIter iter;
      gpointer value;

      /* Forget decoded and failed tiles; the disk cache still has them. */
      g_hash_table_iter_init (&iter, self->textures);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (!((TileEntry *) value)->pending)
          g_hash_table_iter_remove (&iter);
    }
  for (y = y0; y <= y1; y++)
    for (x = x0; x <= x1; x++)
      {
        char *key = g_strdup_printf ("%u/%u/%u", tz, x, y);
        TileEntry *entry;
        FetchData *fd;

        if (g_hash_table_contains (self->textures, key))
          {
            g_free (key);
            continue;
          }
        entry = g_new0 (TileEntry, 1);
        entry->pending = TRUE;
        g_hash_table_insert (self->textures, key, entry);
        fd = g_new0 (FetchData, 1);
        fd->self = g_object_ref (self);
        fd->key = g_strdup (key);
        fd->cancellable = g_object_ref (self->tiles_cancellable);
        viewer_tiles_fetch_async (self->tiles, tz, x, y, self->tiles_cancellable, fetched, fd);
      }
}

/* --- drawing ------------------------------------------------------------------------- */

static void
to_screen (ViewerMap *self,
           double     wx,
           double     wy,
           int        width,
           int        height,
           double    *sx,
           double    *sy)
{
  double scale = VIEWER_MAP_TILE_SIZE * pow (2.0, self->zoom);

  *sx = (wx - self->cx) * scale + width / 2.0;
  *sy = (wy - self->cy) * scale + height / 2.0;
}

static gboolean
is_dark (GtkWidget *widget)
{
  GdkRGBA fg;

  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  return (fg.red + fg.green + fg.blue) / 3 > 0.5; /* light text: dark theme */
}

static void
draw_outline (ViewerMap *self,
              cairo_t   *cr,
              int        width,
              int        height,
              gboolean   dark)
{
  guint r, i;

  if (self->outline == NULL)
    return;
  cairo_save (cr);
  cairo_new_path (cr);
  for (r = 0; r < self->outline->rings->len; r++)
    {
      ViewerMapRing *ring = &g_array_index (self->outline->rings, ViewerMapRing, r);

      for (i = 0; i < ring->count; i++)
        {
          double *p = &g_array_index (self->outline->points, double, 2 * (ring->start + i));
          double sx, sy;

          to_screen (self, p[0], p[1], width, height, &sx, &sy);
          if (i == 0)
            cairo_move_to (cr, sx, sy);
          else
            cairo_line_to (cr, sx, sy);
        }
      cairo_close_path (cr);
    }
  cairo_set_fill_rule (cr, CAIRO_FILL_RULE_EVEN_ODD);
  if (dark)
    cairo_set_source_rgb (cr, 0.24, 0.25, 0.27);
  else
    cairo_set_source_rgb (cr, 0.93, 0.92, 0.88);
  cairo_fill_preserve (cr);
  cairo_set_line_width (cr, 0.7);
  if (dark)
    cairo_set_source_rgb (cr, 0.42, 0.43, 0.46);
  else
    cairo_set_source_rgb (cr, 0.66, 0.64, 0.60);
  cairo_stroke (cr);
  cairo_restore (cr);
}

static gboolean
draw_tiles (ViewerMap *self,
            cairo_t   *cr,
            int        width,
            int        height)
{
  guint tz, x0, y0, x1, y1, x, y;
  gboolean any = FALSE;
  double size;

  if (self->tiles == NULL
      || viewer_map_visible_tiles (self->zoom, self->cx, self->cy, width, height,
                                   VIEWER_TILES_MAX_ZOOM, &tz, &x0, &y0, &x1, &y1) == 0)
    return FALSE;
  request_tiles (self, tz, x0, y0, x1, y1);
  size = VIEWER_MAP_TILE_SIZE * pow (2.0, self->zoom - tz);
  for (y = y0; y <= y1; y++)
    for (x = x0; x <= x1; x++)
      {
        g_autofree char *key = g_strdup_printf ("%u/%u/%u", tz, x, y);
        TileEntry *entry = g_hash_table_lookup (self->textures, key);
        double sx, sy;
        int tw;

        if (entry == NULL || entry->surface == NULL)
          continue;
        to_screen (self, (double) x / (1u << tz), (double) y / (1u << tz), width, height, &sx, &sy);
        tw = cairo_image_surface_get_width (entry->surface);
        cairo_save (cr);
        cairo_translate (cr, sx, sy);
        cairo_scale (cr, size / tw, size / cairo_image_surface_get_height (entry->surface));
        cairo_set_source_surface (cr, entry->surface, 0, 0);
        cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
        cairo_paint (cr);
        cairo_restore (cr);
        any = TRUE;
      }
  return any;
}

static void
draw_arcs (ViewerMap *self,
           cairo_t   *cr,
           int        width,
           int        height)
{
  guint i;

  for (i = 0; self->arcs != NULL && i < self->arcs->len; i++)
    {
      ViewerMapArc *arc = &g_array_index (self->arcs, ViewerMapArc, i);
      ViewerMapStop *a = g_ptr_array_index (self->route->stops, arc->from);
      ViewerMapStop *b = g_ptr_array_index (self->route->stops, arc->to);
      double ax, ay, bx, by, mx, my, dx, dy, len, cx, cy, ang;
      GdkRGBA colour;

      to_screen (self, a->x, a->y, width, height, &ax, &ay);
      to_screen (self, b->x, b->y, width, height, &bx, &by);
      dx = bx - ax;
      dy = by - ay;
      len = hypot (dx, dy);
      if (len < 2 * MARKER_RADIUS)
        continue; /* the same place: the marker says it */
      mx = (ax + bx) / 2;
      my = (ay + by) / 2;
      /* Bulge perpendicular to the chord, towards the top of the map. */
      cx = mx + dy / len * len * 0.2;
      cy = my - dx / len * len * 0.2;
      if (cy > my)
        {
          cx = mx - dy / len * len * 0.2;
          cy = my + dx / len * len * 0.2;
        }
      viewer_diagram_state_rgba (arc->broken ? "broken" : arc->state, &colour);
      cairo_save (cr);
      cairo_set_line_width (cr, ARC_WIDTH);
      cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
      if (arc->broken)
        cairo_set_dash (cr, (double[]){ 8, 5 }, 2, 0);
      else if (arc->skips)
        cairo_set_dash (cr, (double[]){ 2, 6 }, 2, 0);
      /* A quadratic curve as a cubic. */
      cairo_move_to (cr, ax, ay);
      cairo_curve_to (cr, ax + 2.0 / 3 * (cx - ax), ay + 2.0 / 3 * (cy - ay),
                      bx + 2.0 / 3 * (cx - bx), by + 2.0 / 3 * (cy - by), bx, by);
      gdk_cairo_set_source_rgba (cr, &colour);
      cairo_stroke (cr);
      /* Arrowhead just before the destination marker. */
      ang = atan2 (by - cy, bx - cx);
      cairo_set_dash (cr, NULL, 0, 0);
      cairo_move_to (cr, bx - MARKER_RADIUS * cos (ang), by - MARKER_RADIUS * sin (ang));
      cairo_rel_line_to (cr, -10 * cos (ang - 0.45), -10 * sin (ang - 0.45));
      cairo_move_to (cr, bx - MARKER_RADIUS * cos (ang), by - MARKER_RADIUS * sin (ang));
      cairo_rel_line_to (cr, -10 * cos (ang + 0.45), -10 * sin (ang + 0.45));
      cairo_stroke (cr);
      cairo_restore (cr);
    }
}

/* A marker's label (plain text), right of the marker at @mx, @my, or left of it when it
 * would leave the @width of the view. */
static void
draw_text (ViewerMap  *self,
           cairo_t    *cr,
           const char *text,
           double      mx,
           double      my,
           int         width,
           gboolean    dark)
{
  g_autoptr(PangoLayout) pl = gtk_widget_create_pango_layout (self->area, text);
  PangoAttrList *attrs = pango_attr_list_new ();
  double x, y;
  int w, h;

  pango_attr_list_insert (attrs, pango_attr_scale_new (0.85));
  pango_layout_set_attributes (pl, attrs);
  pango_attr_list_unref (attrs);
  pango_layout_set_width (pl, 220 * PANGO_SCALE);
  pango_layout_set_ellipsize (pl, PANGO_ELLIPSIZE_END);
  pango_layout_get_pixel_size (pl, &w, &h);
  x = mx + MARKER_RADIUS + 4;
  if (x + w + 2 > width)
    x = mx - MARKER_RADIUS - 4 - w;
  y = my - 8;
  cairo_new_path (cr);
  /* A halo so the text reads on land, sea and tiles alike. */
  if (dark)
    cairo_set_source_rgba (cr, 0.14, 0.14, 0.14, 0.80);
  else
    cairo_set_source_rgba (cr, 1, 1, 1, 0.80);
  cairo_rectangle (cr, x - 2, y - 1, w + 4, h + 2);
  cairo_fill (cr);
  if (dark)
    cairo_set_source_rgb (cr, 0.95, 0.95, 0.95);
  else
    cairo_set_source_rgb (cr, 0.10, 0.10, 0.10);
  cairo_move_to (cr, x, y);
  pango_cairo_show_layout (cr, pl);
}

static void
draw_markers (ViewerMap *self,
              cairo_t   *cr,
              int        width,
              int        height,
              gboolean   dark)
{
  guint i;

  for (i = 0; self->route != NULL && i < self->route->stops->len; i++)
    {
      ViewerMapStop *stop = g_ptr_array_index (self->route->stops, i);
      g_autofree char *label = NULL;
      g_autofree char *shown = NULL;
      double sx, sy;
      GdkRGBA colour;

      if (stop->place != VIEWER_MAP_PLACE_FOUND)
        continue;
      to_screen (self, stop->x, stop->y, width, height, &sx, &sy);
      viewer_diagram_state_rgba (stop->state, &colour);
      cairo_new_path (cr); /* no line from the previous label's current point */
      cairo_arc (cr, sx, sy, MARKER_RADIUS, 0, 2 * G_PI);
      if (stop->approximate)
        {
          /* Placed by country only: a ring, not a dot. */
          cairo_set_line_width (cr, 3);
          gdk_cairo_set_source_rgba (cr, &colour);
          cairo_stroke (cr);
        }
      else
        {
          gdk_cairo_set_source_rgba (cr, &colour);
          cairo_fill_preserve (cr);
          cairo_set_line_width (cr, 2);
          if (dark)
            cairo_set_source_rgb (cr, 0.14, 0.14, 0.14);
          else
            cairo_set_source_rgb (cr, 1, 1, 1);
          cairo_stroke (cr);
        }
      shown = msgtrk_json_clean_text (stop->name);
      label = stop->place_name != NULL
                  ? g_strdup_printf ("%s\n%s%s", shown, stop->approximate ? "≈ " : "", stop->place_name)
                  : g_strdup (shown);
      draw_text (self, cr, label, sx, sy, width, dark);
    }
}

static void
draw_map (GtkDrawingArea *area,
          cairo_t        *cr,
          int             width,
          int             height,
          gpointer        user_data)
{
  ViewerMap *self = user_data;
  gboolean dark = is_dark (GTK_WIDGET (area));
  gboolean tiles;
  const char *credit;
  g_autoptr(PangoLayout) pl = NULL;
  int w, h;

  if (self->fitted && (width != self->last_width || height != self->last_height))
    {
      double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
      gboolean have = self->route != NULL && viewer_map_route_bounds (self->route, &x0, &y0, &x1, &y1);

      viewer_map_fit (have, x0, y0, x1, y1, width, height, &self->zoom, &self->cx, &self->cy);
      self->last_width = width;
      self->last_height = height;
    }
  if (dark)
    cairo_set_source_rgb (cr, 0.12, 0.16, 0.21);
  else
    cairo_set_source_rgb (cr, 0.80, 0.87, 0.93);
  cairo_paint (cr);
  draw_outline (self, cr, width, height, dark);
  tiles = draw_tiles (self, cr, width, height);
  draw_arcs (self, cr, width, height);
  draw_markers (self, cr, width, height, dark);

  /* Attribution, as the data's licences ask. */
  if (tiles && (self->tile_url == NULL || *self->tile_url == '\0'
                || g_strcmp0 (self->tile_url, VIEWER_TILES_DEFAULT_URL) == 0))
    credit = _("© OpenStreetMap contributors");
  else if (tiles)
    credit = _("Map tiles: see the tile server's terms");
  else
    credit = _("Made with Natural Earth");
  pl = gtk_widget_create_pango_layout (GTK_WIDGET (area), credit);
  pango_layout_get_pixel_size (pl, &w, &h);
  cairo_set_source_rgba (cr, dark ? 0 : 1, dark ? 0 : 1, dark ? 0 : 1, 0.7);
  cairo_rectangle (cr, width - w - 8, height - h - 4, w + 8, h + 4);
  cairo_fill (cr);
  if (dark)
    cairo_set_source_rgb (cr, 0.9, 0.9, 0.9);
  else
    cairo_set_source_rgb (cr, 0.2, 0.2, 0.2);
  cairo_move_to (cr, width - w - 4, height - h - 2);
  pango_cairo_show_layout (cr, pl);
}

/* --- interaction --------------------------------------------------------------------- */

/* Zooms by one step per wheel notch, keeping the point under the pointer in place. */
static gboolean
on_scroll (GtkEventControllerScroll *controller,
           double                    dx,
           double                    dy,
           ViewerMap                *self)
{
  GdkEvent *event = gtk_event_controller_get_current_event (GTK_EVENT_CONTROLLER (controller));
  double old = self->zoom, px, py, before, after;
  int w = gtk_widget_get_width (self->area), h = gtk_widget_get_height (self->area);

  self->zoom = CLAMP (self->zoom - dy * ZOOM_STEP, VIEWER_MAP_MIN_ZOOM, VIEWER_MAP_MAX_ZOOM);
  self->fitted = FALSE;
  if (self->zoom == old)
    return TRUE;
  if (event != NULL && gdk_event_get_position (event, &px, &py))
    {
      /* World coordinates under the pointer stay under it. */
      before = VIEWER_MAP_TILE_SIZE * pow (2.0, old);
      after = VIEWER_MAP_TILE_SIZE * pow (2.0, self->zoom);
      self->cx = CLAMP (self->cx + (px - w / 2.0) * (1 / before - 1 / after), 0.0, 1.0);
      self->cy = CLAMP (self->cy + (py - h / 2.0) * (1 / before - 1 / after), 0.0, 1.0);
    }
  gtk_widget_queue_draw (self->area);
  return TRUE;
}

static void
on_drag_begin (GtkGestureDrag *gesture,
               double          x,
               double          y,
               ViewerMap      *self)
{
  self->drag_cx = self->cx;
  self->drag_cy = self->cy;
}

static void
on_drag_update (GtkGestureDrag *gesture,
                double          dx,
                double          dy,
                ViewerMap      *self)
{
  double scale = VIEWER_MAP_TILE_SIZE * pow (2.0, self->zoom);

  self->cx = CLAMP (self->drag_cx - dx / scale, 0.0, 1.0);
  self->cy = CLAMP (self->drag_cy - dy / scale, 0.0, 1.0);
  self->fitted = FALSE;
  gtk_widget_queue_draw (self->area);
}

static void
on_fit_clicked (GtkButton *button,
                ViewerMap *self)
{
  viewer_map_zoom_to_fit (self);
}

/* --- object -------------------------------------------------------------------------- */

static void
viewer_map_dispose (GObject *object)
{
  ViewerMap *self = VIEWER_MAP (object);

  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->tiles_cancellable);
  g_clear_object (&self->tiles);
  g_clear_pointer (&self->paned, gtk_widget_unparent);
  G_OBJECT_CLASS (viewer_map_parent_class)->dispose (object);
}

static void
viewer_map_finalize (GObject *object)
{
  ViewerMap *self = VIEWER_MAP (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->tiles_cancellable);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->outline, viewer_map_outline_free);
  g_clear_pointer (&self->route, viewer_map_route_free);
  g_clear_pointer (&self->arcs, g_array_unref);
  g_clear_pointer (&self->textures, g_hash_table_unref);
  g_free (self->geoip_error);
  g_free (self->envid);
  g_free (self->tile_url);
  g_free (self->geoip_path);
  G_OBJECT_CLASS (viewer_map_parent_class)->finalize (object);
}

static void
viewer_map_class_init (ViewerMapClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = viewer_map_dispose;
  object_class->finalize = viewer_map_finalize;
  gtk_widget_class_set_layout_manager_type (GTK_WIDGET_CLASS (klass), GTK_TYPE_BIN_LAYOUT);
}

static void
viewer_map_init (ViewerMap *self)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = source != NULL ? g_settings_schema_source_lookup (source, SCHEMA_ID, TRUE) : NULL;
  g_autoptr(GTask) outline_task = NULL;
  GtkWidget *overlay, *fit, *side, *scroller, *heading, *privacy;
  GtkEventController *scroll;
  GtkGesture *drag;

  if (schema != NULL && g_settings_schema_has_key (schema, "map-online-tiles")
      && g_settings_schema_has_key (schema, "map-tile-url")
      && g_settings_schema_has_key (schema, "geoip-database"))
    self->settings = g_settings_new_full (schema, NULL, NULL);
  self->textures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) tile_entry_free);
  self->cancellable = g_cancellable_new ();
  read_settings (self);

  self->paned = gtk_paned_new (GTK_ORIENTATION_HORIZONTAL);
  gtk_widget_set_parent (self->paned, GTK_WIDGET (self));
  gtk_paned_set_resize_start_child (GTK_PANED (self->paned), TRUE);
  gtk_paned_set_resize_end_child (GTK_PANED (self->paned), FALSE);
  gtk_paned_set_shrink_end_child (GTK_PANED (self->paned), FALSE);

  overlay = gtk_overlay_new ();
  self->area = gtk_drawing_area_new ();
  gtk_widget_set_hexpand (self->area, TRUE);
  gtk_widget_set_vexpand (self->area, TRUE);
  gtk_widget_set_size_request (self->area, 320, 240);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->area), draw_map, self, NULL);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->area), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Map of the route: arcs between the places of the hops"), -1);
  gtk_overlay_set_child (GTK_OVERLAY (overlay), self->area);
  fit = gtk_button_new_from_icon_name ("zoom-fit-best-symbolic");
  gtk_widget_set_tooltip_text (fit, _("Zoom to fit"));
  gtk_widget_set_halign (fit, GTK_ALIGN_END);
  gtk_widget_set_valign (fit, GTK_ALIGN_START);
  gtk_widget_set_margin_top (fit, 8);
  gtk_widget_set_margin_end (fit, 8);
  gtk_widget_add_css_class (fit, "osd");
  g_signal_connect (fit, "clicked", G_CALLBACK (on_fit_clicked), self);
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), fit);
  gtk_paned_set_start_child (GTK_PANED (self->paned), overlay);

  scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL | GTK_EVENT_CONTROLLER_SCROLL_DISCRETE);
  g_signal_connect (scroll, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (self->area, scroll);
  drag = gtk_gesture_drag_new ();
  g_signal_connect (drag, "drag-begin", G_CALLBACK (on_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (on_drag_update), self);
  gtk_widget_add_controller (self->area, GTK_EVENT_CONTROLLER (drag));

  side = gtk_box_new (GTK_ORIENTATION_VERTICAL, 8);
  gtk_widget_set_margin_start (side, 8);
  gtk_widget_set_margin_end (side, 8);
  gtk_widget_set_margin_top (side, 8);
  gtk_widget_set_margin_bottom (side, 8);
  gtk_widget_set_size_request (side, 220, -1);
  heading = gtk_label_new (_("Hops without a place"));
  gtk_label_set_xalign (GTK_LABEL (heading), 0);
  gtk_widget_add_css_class (heading, "heading");
  gtk_box_append (GTK_BOX (side), heading);
  self->side_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroller), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), self->side_box);
  gtk_widget_set_vexpand (scroller, TRUE);
  gtk_box_append (GTK_BOX (side), scroller);
  self->geoip_label = gtk_label_new ("");
  gtk_label_set_xalign (GTK_LABEL (self->geoip_label), 0);
  gtk_label_set_wrap (GTK_LABEL (self->geoip_label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (self->geoip_label), PANGO_WRAP_WORD_CHAR);
  gtk_widget_add_css_class (self->geoip_label, "dim-label");
  gtk_widget_add_css_class (self->geoip_label, "caption");
  gtk_box_append (GTK_BOX (side), self->geoip_label);
  self->online_check = gtk_check_button_new_with_label (_("Online map tiles"));
  gtk_check_button_set_active (GTK_CHECK_BUTTON (self->online_check), self->online);
  g_signal_connect (self->online_check, "toggled", G_CALLBACK (on_online_toggled), self);
  gtk_box_append (GTK_BOX (side), self->online_check);
  self->tiles_problem = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (self->tiles_problem), 0);
  gtk_label_set_wrap (GTK_LABEL (self->tiles_problem), TRUE);
  gtk_widget_add_css_class (self->tiles_problem, "error");
  gtk_widget_add_css_class (self->tiles_problem, "caption");
  gtk_widget_set_visible (self->tiles_problem, FALSE);
  gtk_box_append (GTK_BOX (side), self->tiles_problem);
  privacy = gtk_label_new (_("When on, the tile server learns which parts of the map are shown "
                             "(tile coordinates): the map fits each route, so roughly where "
                             "your mail went. Never the message or its addresses."));
  gtk_label_set_xalign (GTK_LABEL (privacy), 0);
  gtk_label_set_wrap (GTK_LABEL (privacy), TRUE);
  gtk_widget_add_css_class (privacy, "dim-label");
  gtk_widget_add_css_class (privacy, "caption");
  gtk_box_append (GTK_BOX (side), privacy);
  gtk_paned_set_end_child (GTK_PANED (self->paned), side);

  if (self->settings != NULL)
    g_signal_connect_object (self->settings, "changed", G_CALLBACK (on_settings_changed), self, 0);
  update_tiles (self);
  fill_side (self);
  self->zoom = 1;
  self->cx = self->cy = 0.5;
  self->fitted = TRUE;
  /* Not self->cancellable: a new route must not cancel the outline. */
  outline_task = g_task_new (self, NULL, outline_done, NULL);
  g_task_run_in_thread (outline_task, outline_thread);
}

/** viewer_map_new: an empty map (the outline only) until viewer_map_set_route(). */
GtkWidget *
viewer_map_new (void)
{
  return g_object_new (VIEWER_TYPE_MAP, NULL);
}

/* Alt+KEY shows the route's view @name (the stack is @widget). */
static gboolean
show_route_view (GtkWidget *widget,
                 GVariant  *args,
                 gpointer   name)
{
  gtk_stack_set_visible_child_name (GTK_STACK (widget), name);
  return TRUE;
}

static void
add_view_shortcut (GtkWidget  *stack,
                   guint       key,
                   const char *name)
{
  GtkEventController *keys = gtk_shortcut_controller_new ();

  gtk_shortcut_controller_set_scope (GTK_SHORTCUT_CONTROLLER (keys), GTK_SHORTCUT_SCOPE_GLOBAL);
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (keys),
                                        gtk_shortcut_new (gtk_keyval_trigger_new (key, GDK_ALT_MASK),
                                                          gtk_callback_action_new (show_route_view,
                                                                                   (gpointer) name, NULL)));
  gtk_widget_add_controller (stack, keys);
}

/**
 * viewer_map_views_new:
 * @diagram: the diagram view (its scrolled window)
 * @map: a ViewerMap
 * @switcher: (out) (transfer floating): the "Diagram / Map" switcher, for the header bar
 *
 * Returns: (transfer floating): a stack of the two views ("diagram", "geo"), the diagram
 *   shown first; Alt+D and Alt+M anywhere in the window switch
 */
GtkWidget *
viewer_map_views_new (GtkWidget  *diagram,
                      GtkWidget  *map,
                      GtkWidget **switcher)
{
  GtkWidget *views = gtk_stack_new ();

  gtk_stack_add_titled (GTK_STACK (views), diagram, "diagram", _("Diagram"));
  gtk_stack_add_titled (GTK_STACK (views), map, "geo", _("Map"));
  gtk_widget_set_vexpand (views, TRUE);
  add_view_shortcut (views, GDK_KEY_d, "diagram");
  add_view_shortcut (views, GDK_KEY_m, "geo");
  *switcher = gtk_stack_switcher_new ();
  gtk_stack_switcher_set_stack (GTK_STACK_SWITCHER (*switcher), GTK_STACK (views));
  return views;
}
