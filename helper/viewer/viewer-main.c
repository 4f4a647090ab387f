/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-main.c: `msgtrk-viewer`, the GTK 4 delivery-map viewer (org.msgtrk.Viewer).
 *
 * A GtkApplication, D-Bus activatable: started as
 * `msgtrk-viewer --gapplication-service` by the session bus (G_APPLICATION_IS_SERVICE),
 * it takes the application action "show" (parameter: envid or Message-ID) over
 * org.freedesktop.Application.ActivateAction and opens or raises that message's window.
 * `msgtrk-viewer ID…` from a shell does the same (forwarded to a running instance).
 *
 * Limits: ids longer than VIEWER_MAX_ID_LEN are refused. Never talks to the network
 * itself: everything comes from msgtrkd over the session bus.
 */
#include "config.h"

#include <locale.h>

#include <glib/gi18n-lib.h>
#include <gtk/gtk.h>

#include "viewer-window.h"

/* Seconds a D-Bus activated viewer with no window stays before it exits. */
#define VIEWER_SERVICE_IDLE_MS 30000

static const char viewer_css[] =
  ".msgtrk-badge { border-radius: 999px; padding: 1px 10px; font-weight: bold; color: white; }\n"
  ".msgtrk-badge.delivered { background-color: #26a269; }\n"
  ".msgtrk-badge.in-transit, .msgtrk-badge.sending { background-color: #1c71d8; }\n"
  ".msgtrk-badge.delayed { background-color: #e5a50a; color: black; }\n"
  ".msgtrk-badge.failed, .msgtrk-badge.aborted { background-color: #c01c28; }\n"
  ".msgtrk-badge.read { background-color: #813d9c; }\n"
  ".msgtrk-badge.relayed, .msgtrk-badge.opaque, .msgtrk-badge.unknown, .msgtrk-badge.untracked "
  "{ background-color: #77767b; }\n"
  ".msgtrk-source { font-weight: bold; font-size: smaller; }\n"
  ".msgtrk-notice { padding: 6px 18px; background-color: alpha(@accent_bg_color, 0.2); }\n";

/* Opens the window of @id, or raises the one already open. */
static void
show_message (GtkApplication *app,
              const char     *id)
{
  GList *l;
  ViewerWindow *win;

  if (id == NULL || *id == '\0' || strlen (id) > VIEWER_MAX_ID_LEN || !g_utf8_validate (id, -1, NULL))
    {
      g_warning ("msgtrk-viewer: ignoring an empty, overlong or non-UTF-8 message id");
      return;
    }
  for (l = gtk_application_get_windows (app); l != NULL; l = l->next)
    if (VIEWER_IS_WINDOW (l->data) && viewer_window_matches (l->data, id))
      {
        gtk_window_present (GTK_WINDOW (l->data));
        return;
      }
  win = viewer_window_new (app, id);
  gtk_window_present (GTK_WINDOW (win));
}

static void
on_show (GSimpleAction *action,
         GVariant      *parameter,
         gpointer       user_data)
{
  show_message (GTK_APPLICATION (user_data), g_variant_get_string (parameter, NULL));
}

static void
on_activate (GApplication *app,
             gpointer      user_data)
{
  GtkWindow *win = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (win == NULL)
    win = GTK_WINDOW (viewer_window_new (GTK_APPLICATION (app), NULL));
  gtk_window_present (win);
}

static int
on_command_line (GApplication            *app,
                 GApplicationCommandLine *cmdline,
                 gpointer                 user_data)
{
  int argc, i;
  g_auto(GStrv) argv = g_application_command_line_get_arguments (cmdline, &argc);

  if (argc < 2)
    {
      g_application_activate (app);
      return 0;
    }
  for (i = 1; i < argc; i++)
    g_action_group_activate_action (G_ACTION_GROUP (app), "show", g_variant_new_string (argv[i]));
  return 0;
}

static void
on_startup (GApplication *app,
            gpointer      user_data)
{
  g_autoptr(GtkCssProvider) css = gtk_css_provider_new ();

  gtk_css_provider_load_from_data (css, viewer_css, -1);
  gtk_style_context_add_provider_for_display (gdk_display_get_default (), GTK_STYLE_PROVIDER (css),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
}

/* --version; and with one main option GApplication answers --help locally, without a
 * display (tests/man/test-man-options.py). */
static int
on_handle_local_options (GApplication *app,
                         GVariantDict *options,
                         gpointer      user_data)
{
  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("msgtrk-viewer %s\n", PACKAGE_VERSION);
      return 0;
    }
  return -1;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GtkApplication) app = NULL;
  g_autoptr(GSimpleAction) show = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = gtk_application_new ("org.msgtrk.Viewer", G_APPLICATION_HANDLES_COMMAND_LINE);
  g_application_set_inactivity_timeout (G_APPLICATION (app), VIEWER_SERVICE_IDLE_MS);
  show = g_simple_action_new ("show", G_VARIANT_TYPE_STRING);
  g_signal_connect (show, "activate", G_CALLBACK (on_show), app);
  g_action_map_add_action (G_ACTION_MAP (app), G_ACTION (show));
  g_signal_connect (app, "startup", G_CALLBACK (on_startup), NULL);
  g_signal_connect (app, "activate", G_CALLBACK (on_activate), NULL);
  g_signal_connect (app, "command-line", G_CALLBACK (on_command_line), NULL);
  g_application_add_main_option (G_APPLICATION (app), "version", 0, G_OPTION_FLAG_NONE,
                                 G_OPTION_ARG_NONE, _("Print the version and exit"), NULL);
  g_signal_connect (app, "handle-local-options", G_CALLBACK (on_handle_local_options), NULL);
  return g_application_run (G_APPLICATION (app), argc, argv);
}
