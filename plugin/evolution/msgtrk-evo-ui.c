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
#include <e-util/e-util.h>
#include <shell/e-shell.h>
#include <mail/e-mail-browser.h>
#include <mail/e-mail-reader.h>
#include <mail/message-list.h>
#include <shell/e-shell-view.h>
#include <shell/e-shell-window.h>

#include "msgtrk-evo-ui.h"

#define MSGTRK_EVO_UI_GROUP_KEY "msgtrk-evo-ui-group"
#define MSGTRK_EVO_UI_WINDOW_GROUP_KEY "msgtrk-evo-ui-window-group"
/* While set on the action, "toggled" is ours (msgtrk_evo_ui_set_column), not the user's. */
#define MSGTRK_EVO_UI_QUIET_KEY "msgtrk-evo-ui-quiet"
/* The shell view whose View menu carries the column item. */
#define MSGTRK_EVO_UI_MAIL_VIEW "mail"
#define MSGTRK_EVO_UI_READER_GROUP_KEY "msgtrk-evo-ui-reader-group"
#define MSGTRK_EVO_UI_PREFS_GROUP_KEY "msgtrk-evo-ui-prefs-group"
#define MSGTRK_EVO_UI_PREFS_CREATE_KEY "msgtrk-evo-ui-prefs-create"
/* Where the page sorts among Evolution's own (theirs are 100 … 900). */
#define MSGTRK_EVO_UI_PREFS_SORT_ORDER 950
/* The longest link accepted in the "Track a link" box (an mtqp:// URL is far shorter). */
#define MSGTRK_EVO_UI_LINK_MAX 4096

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

static const char *window_ui =
  "<ui>"
  "  <menubar name='main-menu'>"
  "    <menu action='view-menu'>"
  "      <placeholder name='mail-message-list-actions'>"
  "        <menuitem action='" MSGTRK_EVO_ACTION_COLUMN "'/>"
  "      </placeholder>"
  "    </menu>"
  "  </menubar>"
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

  if (g_object_get_data (G_OBJECT (action), MSGTRK_EVO_UI_QUIET_KEY))
    return;
  closure->toggled (gtk_toggle_action_get_active (action), closure->user_data);
}

/* The toggle @name of the group kept on @owner under @key, or NULL. */
static GtkToggleAction *
group_toggle (GObject    *owner,
              const char *key,
              const char *name)
{
  GtkActionGroup *group = g_object_get_data (owner, key);
  GtkAction *action = group ? gtk_action_group_get_action (group, name) : NULL;

  return action ? GTK_TOGGLE_ACTION (action) : NULL;
}

static GtkToggleAction *
track_action (GObject *composer)
{
  return group_toggle (composer, MSGTRK_EVO_UI_GROUP_KEY, MSGTRK_EVO_ACTION_TRACK);
}

/* A new action group of ours, its labels translated in our domain. */
static GtkActionGroup *
new_group (const char *name)
{
  GtkActionGroup *group = gtk_action_group_new (name);

  gtk_action_group_set_translation_domain (group, GETTEXT_PACKAGE);
  return group;
}

/* @toggled is called with the toggle's state when the user toggles @action. */
static void
connect_toggled (GtkToggleAction  *action,
                 MsgtrkEvoToggled  toggled,
                 gpointer          user_data)
{
  ToggleClosure *closure = g_new0 (ToggleClosure, 1);

  closure->toggled = toggled;
  closure->user_data = user_data;
  g_signal_connect_data (action, "toggled", G_CALLBACK (track_toggled_cb), closure,
                         (GClosureNotify) (void (*) (void)) g_free, 0);
}

/* Adds @action (its reference taken) to @group (taken too), merges the group and @ui into
 * @manager and keeps the group on @owner under @key; on failure nothing stays merged. */
static gboolean
merge_group (GObject        *owner,
             const char     *key,
             GtkUIManager   *manager,
             GtkActionGroup *group,
             GtkAction      *action,
             const char     *ui,
             GError        **error)
{
  gtk_action_group_add_action (group, action);
  g_object_unref (action);
  gtk_ui_manager_insert_action_group (manager, group, 0);
  if (gtk_ui_manager_add_ui_from_string (manager, ui, -1, error) == 0)
    {
      gtk_ui_manager_remove_action_group (manager, group);
      g_object_unref (group);
      return FALSE;
    }
  g_object_set_data_full (owner, key, group, g_object_unref);
  return TRUE;
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

  g_return_val_if_fail (E_IS_MSG_COMPOSER (composer), FALSE);

  editor = e_msg_composer_get_editor (E_MSG_COMPOSER (composer));
  manager = e_html_editor_get_ui_manager (editor);
  group = new_group ("msgtrk");
  action = gtk_toggle_action_new (MSGTRK_EVO_ACTION_TRACK, _("_Track this message"),
                                  _("Ask the servers on the way for delivery tracking and "
                                    "delivery reports, and follow this message in the Sent "
                                    "folder"),
                                  "mail-send-receive");
  gtk_action_set_short_label (GTK_ACTION (action), _("Track"));
  gtk_action_set_is_important (GTK_ACTION (action), TRUE);
  gtk_toggle_action_set_active (action, active);
  connect_toggled (action, toggled, user_data);
  return merge_group (composer, MSGTRK_EVO_UI_GROUP_KEY, manager, group, GTK_ACTION (action),
                      composer_ui, error);
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

/* ---- the mail view's "Tracking column" item ---- */

static GtkToggleAction *
column_action (GObject *shell_window)
{
  return group_toggle (shell_window, MSGTRK_EVO_UI_WINDOW_GROUP_KEY, MSGTRK_EVO_ACTION_COLUMN);
}

static void
active_view_cb (GObject *shell_window, GParamSpec *pspec, gpointer data)
{
  GtkToggleAction *action = column_action (shell_window);
  const char *view = e_shell_window_get_active_view (E_SHELL_WINDOW (shell_window));

  if (action)
    gtk_action_set_visible (GTK_ACTION (action),
                            g_strcmp0 (view, MSGTRK_EVO_UI_MAIL_VIEW) == 0);
}

gboolean
msgtrk_evo_ui_add_column_toggle (GObject          *shell_window,
                                 gboolean          active,
                                 MsgtrkEvoToggled  toggled,
                                 gpointer          user_data,
                                 GError          **error)
{
  GtkUIManager *manager;
  GtkActionGroup *group;
  GtkToggleAction *action;

  g_return_val_if_fail (E_IS_SHELL_WINDOW (shell_window), FALSE);

  manager = e_shell_window_get_ui_manager (E_SHELL_WINDOW (shell_window));
  group = new_group ("msgtrk-window");
  action = gtk_toggle_action_new (MSGTRK_EVO_ACTION_COLUMN, _("Trac_king Column"),
                                  _("Keep the delivery status of tracked messages for a "
                                    "“Tracking” column in Sent folders (a setting shared "
                                    "with other programs that use Evolution's mail store)"),
                                  NULL);
  gtk_toggle_action_set_active (action, active);
  connect_toggled (action, toggled, user_data);
  if (!merge_group (shell_window, MSGTRK_EVO_UI_WINDOW_GROUP_KEY, manager, group,
                    GTK_ACTION (action), window_ui, error))
    return FALSE;
  g_signal_connect (shell_window, "notify::active-view", G_CALLBACK (active_view_cb), NULL);
  active_view_cb (shell_window, NULL, NULL);
  return TRUE;
}

void
msgtrk_evo_ui_set_column (GObject *shell_window, gboolean active)
{
  GtkToggleAction *action = column_action (shell_window);

  if (action == NULL || gtk_toggle_action_get_active (action) == active)
    return;
  g_object_set_data (G_OBJECT (action), MSGTRK_EVO_UI_QUIET_KEY, GINT_TO_POINTER (1));
  gtk_toggle_action_set_active (action, active);
  g_object_set_data (G_OBJECT (action), MSGTRK_EVO_UI_QUIET_KEY, NULL);
}

void
msgtrk_evo_ui_show_message (GObject    *parent_window,
                            gboolean    is_error,
                            const char *primary,
                            const char *secondary)
{
  GtkWidget *dialog
    = gtk_message_dialog_new (GTK_IS_WINDOW (parent_window) ? GTK_WINDOW (parent_window) : NULL,
                              GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                              is_error ? GTK_MESSAGE_ERROR : GTK_MESSAGE_INFO,
                              GTK_BUTTONS_CLOSE, "%s", primary);

  if (secondary)
    gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", secondary);
  g_signal_connect (dialog, "response", G_CALLBACK (gtk_widget_destroy), NULL);
  gtk_widget_show (dialog);
}

gboolean
msgtrk_evo_ui_show_user_header_column (GObject *shell_window, int index)
{
  EShellView *view;
  EShellContent *content;
  GtkWidget *list;
  ETableSpecification *spec;
  g_autoptr (GPtrArray) columns = NULL;
  ETableColumnSpecification *column = NULL;
  ETableState *state;
  int model_col = COL_USER_HEADER_1 + index;

  if (index < 0 || COL_USER_HEADER_1 + index > COL_USER_HEADER_3)
    return FALSE;
  view = e_shell_window_get_shell_view (E_SHELL_WINDOW (shell_window), MSGTRK_EVO_UI_MAIL_VIEW);
  content = view ? e_shell_view_get_shell_content (view) : NULL;
  if (!E_IS_MAIL_READER (content))
    return FALSE;
  list = e_mail_reader_get_message_list (E_MAIL_READER (content));
  if (!IS_MESSAGE_LIST (list))
    return FALSE;
  spec = e_tree_get_spec (E_TREE (list));
  columns = e_table_specification_ref_columns (spec);
  for (guint i = 0; i < columns->len; i++)
    {
      ETableColumnSpecification *c = g_ptr_array_index (columns, i);
      if (c->model_col == model_col)
        column = c;
    }
  if (column == NULL)
    return FALSE;
  state = e_tree_get_state_object (E_TREE (list));
  for (int i = 0; i < state->col_count; i++)
    if (state->column_specs[i]->model_col == model_col)
      {
        g_object_unref (state);
        return TRUE;
      }
  state->column_specs = g_renew (ETableColumnSpecification *, state->column_specs,
                                 state->col_count + 1);
  state->expansions = g_renew (gdouble, state->expansions, state->col_count + 1);
  state->column_specs[state->col_count] = g_object_ref (column);
  state->expansions[state->col_count] = column->expansion > 0 ? column->expansion : 1.0;
  state->col_count++;
  e_tree_set_state_object (E_TREE (list), state);
  g_object_unref (state);
  g_debug ("Tracking column added to the message list (user header %d)", index + 1);
  return TRUE;
}

/* ---- the reader's actions ---- */

static const char *reader_ui =
  "<ui>"
  "  <menubar name='main-menu'>"
  "    <placeholder name='custom-menus'>"
  "      <menu action='mail-message-menu'>"
  "        <placeholder name='mail-message-custom-menus'>"
  "          <separator/>"
  "          <menuitem action='" MSGTRK_EVO_ACTION_READER_TRACK "'/>"
  "          <menuitem action='" MSGTRK_EVO_ACTION_READER_COPY_LINK "'/>"
  "          <menuitem action='" MSGTRK_EVO_ACTION_READER_IMPORT_LINK "'/>"
  "        </placeholder>"
  "      </menu>"
  "    </placeholder>"
  "  </menubar>"
  "  <popup name='mail-message-popup'>"
  "    <placeholder name='mail-message-popup-common-actions'>"
  "      <separator/>"
  "      <menuitem action='" MSGTRK_EVO_ACTION_READER_TRACK "'/>"
  "      <menuitem action='" MSGTRK_EVO_ACTION_READER_COPY_LINK "'/>"
  "      <menuitem action='" MSGTRK_EVO_ACTION_READER_IMPORT_LINK "'/>"
  "    </placeholder>"
  "  </popup>"
  "</ui>";

/* The UI manager of WINDOW: the main window's, or a separate message window's own. */
static GtkUIManager *
reader_ui_manager (GObject *window)
{
  if (E_IS_MAIL_BROWSER (window))
    return e_mail_browser_get_ui_manager (E_MAIL_BROWSER (window));
  return e_shell_window_get_ui_manager (E_SHELL_WINDOW (window));
}

typedef struct
{
  MsgtrkEvoActivated activated;
  gpointer user_data;
} ActivateClosure;

static void
reader_activate_cb (GtkAction *action, gpointer data)
{
  ActivateClosure *closure = data;

  closure->activated (closure->user_data);
}

static void
reader_action_add (GtkActionGroup     *group,
                   const char         *name,
                   const char         *label,
                   const char         *tooltip,
                   MsgtrkEvoActivated  activated,
                   gpointer            user_data)
{
  GtkAction *action = gtk_action_new (name, label, tooltip, NULL);
  ActivateClosure *closure = g_new0 (ActivateClosure, 1);

  closure->activated = activated;
  closure->user_data = user_data;
  g_signal_connect_data (action, "activate", G_CALLBACK (reader_activate_cb), closure,
                         (GClosureNotify) (void (*) (void)) g_free, 0);
  gtk_action_group_add_action (group, action);
  g_object_unref (action);
}

void
msgtrk_evo_ui_reader_add (GObject            *shell_window,
                          MsgtrkEvoActivated  track,
                          MsgtrkEvoActivated  copy_link,
                          MsgtrkEvoActivated  import_link,
                          gpointer            user_data)
{
  GtkUIManager *manager = reader_ui_manager (shell_window);
  GtkActionGroup *group = new_group ("msgtrk-reader");

  reader_action_add (group, MSGTRK_EVO_ACTION_READER_TRACK, _("_Track…"),
                     _("Show where this sent message is on its way (the delivery map)"), track,
                     user_data);
  reader_action_add (group, MSGTRK_EVO_ACTION_READER_COPY_LINK, _("Copy Tracking _Link"),
                     _("Copy a link that lets someone else follow this message's delivery"),
                     copy_link, user_data);
  reader_action_add (group, MSGTRK_EVO_ACTION_READER_IMPORT_LINK, _("Track a Lin_k…"),
                     _("Follow a message someone else sent, from the tracking link they gave "
                       "you"),
                     import_link, user_data);
  gtk_ui_manager_insert_action_group (manager, group, 0);
  g_object_set_data_full (shell_window, MSGTRK_EVO_UI_READER_GROUP_KEY, group, g_object_unref);
  msgtrk_evo_ui_reader_set_tracked (shell_window, FALSE);
}

guint
msgtrk_evo_ui_reader_merge (GObject *shell_window, GError **error)
{
  GtkUIManager *manager = reader_ui_manager (shell_window);

  return gtk_ui_manager_add_ui_from_string (manager, reader_ui, -1, error);
}

void
msgtrk_evo_ui_reader_unmerge (GObject *shell_window, guint merge_id)
{
  GtkUIManager *manager = reader_ui_manager (shell_window);

  if (merge_id)
    gtk_ui_manager_remove_ui (manager, merge_id);
}

void
msgtrk_evo_ui_reader_set_tracked (GObject *shell_window, gboolean tracked)
{
  GtkActionGroup *group = g_object_get_data (shell_window, MSGTRK_EVO_UI_READER_GROUP_KEY);
  const char *names[] = { MSGTRK_EVO_ACTION_READER_TRACK, MSGTRK_EVO_ACTION_READER_COPY_LINK };

  for (gsize i = 0; group && i < G_N_ELEMENTS (names); i++)
    gtk_action_set_sensitive (gtk_action_group_get_action (group, names[i]), tracked);
}

gboolean
msgtrk_evo_ui_reader_get_tracked (GObject *shell_window)
{
  GtkActionGroup *group = g_object_get_data (shell_window, MSGTRK_EVO_UI_READER_GROUP_KEY);
  const char *names[] = { MSGTRK_EVO_ACTION_READER_TRACK, MSGTRK_EVO_ACTION_READER_COPY_LINK };
  gboolean sensitive = group != NULL;

  for (gsize i = 0; group && i < G_N_ELEMENTS (names); i++)
    sensitive = sensitive
                && gtk_action_get_sensitive (gtk_action_group_get_action (group, names[i]));
  return sensitive;
}

void
msgtrk_evo_ui_copy_to_clipboard (const char *text)
{
  gtk_clipboard_set_text (gtk_clipboard_get (GDK_SELECTION_CLIPBOARD), text, -1);
}

char *
msgtrk_evo_ui_ask_link (GObject *parent_window)
{
  GtkWidget *dialog;
  GtkWidget *entry;
  GtkWidget *label;
  GtkWidget *area;
  char *link = NULL;

  dialog = gtk_dialog_new_with_buttons (_("Track a Link"),
                                        GTK_IS_WINDOW (parent_window) ? GTK_WINDOW (parent_window)
                                                                      : NULL,
                                        GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                        _("_Cancel"), GTK_RESPONSE_CANCEL, _("_Track"),
                                        GTK_RESPONSE_ACCEPT, NULL);
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
  area = gtk_dialog_get_content_area (GTK_DIALOG (dialog));
  gtk_container_set_border_width (GTK_CONTAINER (area), 12);
  gtk_box_set_spacing (GTK_BOX (area), 6);
  label = gtk_label_new (_("Paste the tracking link (mtqp://…) you were given:"));
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  entry = gtk_entry_new ();
  gtk_entry_set_max_length (GTK_ENTRY (entry), MSGTRK_EVO_UI_LINK_MAX);
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_entry_set_width_chars (GTK_ENTRY (entry), 60);
  gtk_container_add (GTK_CONTAINER (area), label);
  gtk_container_add (GTK_CONTAINER (area), entry);
  gtk_widget_show_all (area);
  if (gtk_dialog_run (GTK_DIALOG (dialog)) == GTK_RESPONSE_ACCEPT)
    link = g_strstrip (g_strdup (gtk_entry_get_text (GTK_ENTRY (entry))));
  gtk_widget_destroy (dialog);
  if (link && *link == '\0')
    g_clear_pointer (&link, g_free);
  return link;
}

/* ---- the preferences page ---- */

static GtkWidget *
prefs_create_page (EPreferencesWindow *window)
{
  GObject *shell = e_preferences_window_get_shell (window);
  MsgtrkEvoCreatePage create = (MsgtrkEvoCreatePage) (void (*) (void)) g_object_get_data (
    G_OBJECT (window), MSGTRK_EVO_UI_PREFS_CREATE_KEY);

  return create ? create (shell) : gtk_label_new (NULL);
}

void
msgtrk_evo_ui_add_prefs_page (GObject *shell, MsgtrkEvoCreatePage create)
{
  GtkWidget *window = e_shell_get_preferences_window (E_SHELL (shell));

  if (!E_IS_PREFERENCES_WINDOW (window)
      || g_object_get_data (G_OBJECT (window), MSGTRK_EVO_UI_PREFS_CREATE_KEY))
    return; /* once per shell, whatever the number of windows */
  g_object_set_data (G_OBJECT (window), MSGTRK_EVO_UI_PREFS_CREATE_KEY,
                     (gpointer) (void (*) (void)) create);
  e_preferences_window_add_page (E_PREFERENCES_WINDOW (window), MSGTRK_EVO_PREFS_PAGE,
                                 "mail-send-receive", _("Message Tracking"), NULL,
                                 prefs_create_page, MSGTRK_EVO_UI_PREFS_SORT_ORDER);
}

static const char *prefs_ui =
  "<ui>"
  "  <menubar name='main-menu'>"
  "    <menu action='edit-menu'>"
  "      <menuitem action='" MSGTRK_EVO_ACTION_PREFERENCES "'/>"
  "    </menu>"
  "  </menubar>"
  "</ui>";

static void
prefs_activate_cb (GtkAction *action, gpointer shell_window)
{
  EShell *shell = e_shell_window_get_shell (E_SHELL_WINDOW (shell_window));
  GtkWidget *window = e_shell_get_preferences_window (shell);

  e_preferences_window_setup (E_PREFERENCES_WINDOW (window));
  gtk_window_set_transient_for (GTK_WINDOW (window), GTK_WINDOW (shell_window));
  gtk_window_set_position (GTK_WINDOW (window), GTK_WIN_POS_CENTER_ON_PARENT);
  gtk_window_present (GTK_WINDOW (window));
  e_preferences_window_show_page (E_PREFERENCES_WINDOW (window), MSGTRK_EVO_PREFS_PAGE);
}

gboolean
msgtrk_evo_ui_add_prefs_action (GObject *shell_window, GError **error)
{
  GtkUIManager *manager = e_shell_window_get_ui_manager (E_SHELL_WINDOW (shell_window));
  GtkActionGroup *group = new_group ("msgtrk-prefs");
  GtkAction *action;

  action = gtk_action_new (MSGTRK_EVO_ACTION_PREFERENCES, _("Message _Tracking Preferences…"),
                           _("Which accounts send with tracking, delivery reports, "
                             "the Tracking column and notifications"),
                           "mail-send-receive");
  g_signal_connect_object (action, "activate", G_CALLBACK (prefs_activate_cb), shell_window,
                           0);
  return merge_group (shell_window, MSGTRK_EVO_UI_PREFS_GROUP_KEY, manager, group, action,
                      prefs_ui, error);
}

/* ---- a tracked message that cannot leave tracked ---- */

MsgtrkEvoUiAnswer
msgtrk_evo_ui_ask_untracked (GObject    *parent_window,
                             const char *primary,
                             const char *secondary,
                             gboolean    offer_outbox)
{
  GtkWidget *dialog
    = gtk_message_dialog_new (GTK_IS_WINDOW (parent_window) ? GTK_WINDOW (parent_window) : NULL,
                              GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                              GTK_MESSAGE_WARNING, GTK_BUTTONS_NONE, "%s", primary);
  int response;

  gtk_window_set_title (GTK_WINDOW (dialog), _("Message Tracking Unavailable"));
  if (secondary)
    gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", secondary);
  gtk_dialog_add_button (GTK_DIALOG (dialog), _("_Cancel"), MSGTRK_EVO_UI_ANSWER_CANCEL);
  gtk_dialog_add_button (GTK_DIALOG (dialog), _("Send _Untracked"),
                         MSGTRK_EVO_UI_ANSWER_SEND_UNTRACKED);
  if (offer_outbox)
    {
      gtk_dialog_add_button (GTK_DIALOG (dialog), _("Keep in _Outbox"),
                             MSGTRK_EVO_UI_ANSWER_KEEP_IN_OUTBOX);
      gtk_dialog_set_default_response (GTK_DIALOG (dialog), MSGTRK_EVO_UI_ANSWER_KEEP_IN_OUTBOX);
    }
  else
    gtk_dialog_set_default_response (GTK_DIALOG (dialog), MSGTRK_EVO_UI_ANSWER_CANCEL);
  response = gtk_dialog_run (GTK_DIALOG (dialog));
  gtk_widget_destroy (dialog);
  switch (response)
    {
    case MSGTRK_EVO_UI_ANSWER_SEND_UNTRACKED:
    case MSGTRK_EVO_UI_ANSWER_KEEP_IN_OUTBOX:
      return (MsgtrkEvoUiAnswer) response;
    default:
      return MSGTRK_EVO_UI_ANSWER_CANCEL; /* closed, Escape */
    }
}
