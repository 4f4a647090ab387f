/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-viewer-map-widget.c: the map widget (viewer-map.c) in a real GTK main loop (run under
 * xvfb-run by meson).
 *
 * Usage: test-viewer-map-widget [GTest options] CITY.mmdb
 * Covers: the side list (hops without a place, with reasons) and the GeoIP database line
 * once the lookups in the worker thread answer; windows destroyed while the outline, the
 * lookups and tile fetches (online maps on, a refused tile server) are still under way,
 * many times over, without a crash, a critical or a leak (ASan build).
 */
#include "config.h"

#include <gtk/gtk.h>

#include "test-util.h"
#include "viewer-map.h"

static const char route_json[] =
  "{\"envid\": \"mtrk.test@example.org\", \"recipients\": ["
  " {\"address\": \"a@x\", \"state\": \"delivered\", \"hops\": ["
  "  {\"source\": \"mtqp\", \"server\": \"smtp.example.org\", \"action\": \"transferred\","
  "   \"status\": \"2.0.0\", \"server_address\": \"89.160.20.113\"},"
  "  {\"source\": \"mtqp\", \"server\": \"relay.example.net\", \"action\": \"transferred\","
  "   \"status\": \"2.0.0\", \"server_address\": \"81.2.69.142\"},"
  "  {\"source\": \"mtqp\", \"server\": \"lan.example\", \"action\": \"transferred\","
  "   \"status\": \"2.0.0\", \"server_address\": \"192.168.7.7\"},"
  "  {\"source\": \"mtqp\", \"server\": \"nowhere.example\", \"action\": \"delivered\", \"status\": \"2.0.0\"}"
  " ]}]}";

static JsonObject *
route_object (JsonParser *parser)
{
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, route_json, -1, &error);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static void
collect_labels (GtkWidget *widget,
                GString   *out)
{
  GtkWidget *child;

  if (GTK_IS_LABEL (widget))
    {
      g_string_append (out, gtk_label_get_text (GTK_LABEL (widget)));
      g_string_append_c (out, '\n');
    }
  for (child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    collect_labels (child, out);
}

static gboolean
on_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
spin (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, on_timeout, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
test_side_list (void)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  GtkWidget *window = gtk_window_new ();
  GtkWidget *map = viewer_map_new ();
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  g_autoptr(GString) text = g_string_new (NULL);

  g_test_summary ("Hops without a place are listed with the reason, once GeoIP answered");
  gtk_window_set_default_size (GTK_WINDOW (window), 900, 500);
  gtk_window_set_child (GTK_WINDOW (window), map);
  viewer_map_set_route (VIEWER_MAP (map), route_object (parser));
  gtk_window_present (GTK_WINDOW (window));
  while (g_get_monotonic_time () < deadline)
    {
      g_string_truncate (text, 0);
      collect_labels (map, text);
      if (strstr (text->str, "local network") != NULL && strstr (text->str, "Places from") != NULL)
        break;
      spin (20);
    }
  g_test_message ("%s", text->str);
  g_assert_nonnull (strstr (text->str, "lan.example\n"));
  g_assert_nonnull (strstr (text->str, "local network (192.168.7.7)"));
  g_assert_nonnull (strstr (text->str, "nowhere.example\n"));
  g_assert_nonnull (strstr (text->str, "no address known"));
  g_assert_null (strstr (text->str, "relay.example.net\n")); /* placed: on the map, not listed */
  g_assert_null (strstr (text->str, "smtp.example.org\n"));
  g_assert_nonnull (strstr (text->str, "Places from "));
  /* A refresh of the same message, then an empty route. */
  viewer_map_set_route (VIEWER_MAP (map), route_object (parser));
  viewer_map_set_route (VIEWER_MAP (map), NULL);
  spin (100);
  gtk_window_destroy (GTK_WINDOW (window));
  spin (100);
}

static void
test_destroy_while_busy (void)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  guint i;

  g_test_summary ("Windows closed while lookups and tile fetches are under way");
  for (i = 0; i < 20; i++)
    {
      GtkWidget *window = gtk_window_new ();
      GtkWidget *map = viewer_map_new ();

      gtk_window_set_default_size (GTK_WINDOW (window), 600, 400);
      gtk_window_set_child (GTK_WINDOW (window), map);
      viewer_map_set_route (VIEWER_MAP (map), route_object (parser));
      gtk_window_present (GTK_WINDOW (window));
      spin (i % 4 * 15);
      gtk_window_destroy (GTK_WINDOW (window));
    }
  spin (500);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *cache = g_dir_make_tmp ("msgtrk-map-widget-XXXXXX", NULL);
  int rc;

  /* Before GTK starts threads. A refused tile server: fetches fail fast. */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_setenv ("MSGTRK_MAP_ONLINE", "1", TRUE);
  g_setenv ("MSGTRK_MAP_TILE_URL", "http://127.0.0.1:1/{z}/{x}/{y}.png", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  gtk_test_init (&argc, &argv, NULL);
  if (argc != 2)
    {
      g_printerr ("usage: %s [GTest options] CITY.mmdb\n", argv[0]);
      return 2;
    }
  g_setenv ("MSGTRK_GEOIP_DATABASE", argv[1], TRUE);
  g_test_add_func ("/viewer/map/widget/side-list", test_side_list);
  g_test_add_func ("/viewer/map/widget/destroy-while-busy", test_destroy_while_busy);
  rc = g_test_run ();
  mt_tmpdir_remove (cache);
  return rc;
}
