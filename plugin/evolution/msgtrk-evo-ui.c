/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-ui.c: Evolution 3.46 UI glue (GtkUIManager, GtkAction) for the msgtrk module.
 *
 * What: the composer's "Track this message" toggle: a GtkToggleAction in an action group
 * of our own, merged into the composer's UI manager at the end of Options and in the main
 * toolbar.
 * How: e_msg_composer_get_editor() → e_html_editor_get_ui_manager(); the group is kept on
 * the composer object (object data) so that the other functions find it.
 * Limits: Evolution 3.46 UI only (GtkUIManager is deprecated in GTK 3 and gone in 3.55).
 * Never: touch the message itself.
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include <composer/e-msg-composer.h>

#include "msgtrk-evo-ui.h"

#define MSGTRK_EVO_UI_GROUP_KEY "msgtrk-evo-ui-group"

static const char *composer_ui =
  "<ui>"
  "  <menubar name='main-menu'>"
  "    <menu action='options-menu'>"
  "      <separator/>"
  "      <menuitem action='" MSGTRK_EVO_ACTION_TRACK "'/>"
  "    </menu>"
  "  </menubar>"
  "  <toolbar name='main-toolbar'>"
  "    <toolitem action='" MSGTRK_EVO_ACTION_TRACK "'/>"
  "  </toolbar>"
  "</ui>";

typedef struct
{
  MsgtrkEvoToggled toggled;
  gpointer user_data;
} ToggleClosure;

static void
track_toggled_cb (GtkToggleAction *action, gpointer data)
{
  ToggleClosure *closure = data;

  closure->toggled (gtk_toggle_action_get_active (action), closure->user_data);
}

static GtkToggleAction *
track_action (GObject *composer)
{
  GtkActionGroup *group = g_object_get_data (composer, MSGTRK_EVO_UI_GROUP_KEY);
  GtkAction *action = group ? gtk_action_group_get_action (group, MSGTRK_EVO_ACTION_TRACK)
                            : NULL;

  return action ? GTK_TOGGLE_ACTION (action) : NULL;
}

gboolean
msgtrk_evo_ui_add_track_toggle (GObject          *composer,
                                gboolean          active,
                                MsgtrkEvoToggled  toggled,
                                gpointer          user_data,
                                GError          **error)
{
  EHTMLEditor *editor;
  GtkUIManager *manager;
  GtkActionGroup *group; /* no autoptr for deprecated GTK types */
  GtkToggleAction *action;
  ToggleClosure *closure;

  g_return_val_if_fail (E_IS_MSG_COMPOSER (composer), FALSE);

  editor = e_msg_composer_get_editor (E_MSG_COMPOSER (composer));
  manager = e_html_editor_get_ui_manager (editor);
  group = gtk_action_group_new ("msgtrk");
  gtk_action_group_set_translation_domain (group, GETTEXT_PACKAGE);
  action = gtk_toggle_action_new (MSGTRK_EVO_ACTION_TRACK, _("_Track this message"),
                                  _("Ask the servers on the way for delivery tracking and "
                                    "delivery reports, and follow this message in the Sent "
                                    "folder"),
                                  "mail-send-receive");
  gtk_action_set_short_label (GTK_ACTION (action), _("Track"));
  gtk_action_set_is_important (GTK_ACTION (action), TRUE);
  gtk_toggle_action_set_active (action, active);
  closure = g_new0 (ToggleClosure, 1);
  closure->toggled = toggled;
  closure->user_data = user_data;
  g_signal_connect_data (action, "toggled", G_CALLBACK (track_toggled_cb), closure,
                         (GClosureNotify) (void (*) (void)) g_free, 0);
  gtk_action_group_add_action (group, GTK_ACTION (action));
  g_object_unref (action);
  gtk_ui_manager_insert_action_group (manager, group, 0);
  if (gtk_ui_manager_add_ui_from_string (manager, composer_ui, -1, error) == 0)
    {
      gtk_ui_manager_remove_action_group (manager, group);
      g_object_unref (group);
      return FALSE;
    }
  g_object_set_data_full (composer, MSGTRK_EVO_UI_GROUP_KEY, group, g_object_unref);
  return TRUE;
}

gboolean
msgtrk_evo_ui_get_track (GObject *composer)
{
  GtkToggleAction *action = track_action (composer);

  return action != NULL && gtk_toggle_action_get_active (action);
}

void
msgtrk_evo_ui_set_track (GObject *composer, gboolean active)
{
  GtkToggleAction *action = track_action (composer);

  if (action)
    gtk_toggle_action_set_active (action, active);
}
