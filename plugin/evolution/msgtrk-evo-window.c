/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-window.c: EExtension on EShellWindow, the Tracking column's consent.
 *
 * What: see msgtrk-evo-window.h.
 * How: GSettings on org.gnome.evolution-data-server; the entry list is changed with
 * msgtrk-evo-column.c; "changed::camel-message-info-user-headers" sets the item and makes
 * the shown Sent folders be looked at again (msgtrk-evo-status.c).
 * Limits: Evolution shows at most MSGTRK_EVO_USER_HEADERS_MAX such columns: with no room
 * the user is told so and the item stays off. The column itself is added to the list of the
 * folder shown when the item is ticked; other folders get it like any other column
 * (right-click the column headers, "Add a Column…").
 * Never: write the key except on the user's click.
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <libedataserver/libedataserver.h>
#include <shell/e-shell-window.h>

#include "msgtrk-evo-column.h"
#include "msgtrk-evo-prefs.h"
#include "msgtrk-evo-status.h"
#include "msgtrk-evo-ui.h"
#include "msgtrk-evo-window.h"

typedef struct
{
  EExtension parent_instance;
  GSettings *settings; /* (owned) EDS's settings */
  gulong changed_handler;
} MsgtrkEvoWindow;

typedef struct
{
  EExtensionClass parent_class;
} MsgtrkEvoWindowClass;

GType msgtrk_evo_window_get_type (void);

G_DEFINE_DYNAMIC_TYPE (MsgtrkEvoWindow, msgtrk_evo_window, E_TYPE_EXTENSION)

static GObject *
window_of (MsgtrkEvoWindow *self)
{
  return G_OBJECT (e_extension_get_extensible (E_EXTENSION (self)));
}

static gboolean
column_on (MsgtrkEvoWindow *self)
{
  g_auto (GStrv) entries = g_settings_get_strv (self->settings, MSGTRK_EVO_USER_HEADERS_KEY);

  return msgtrk_evo_column_index ((const char * const *) entries) >= 0;
}

static void
column_toggled (gboolean active, gpointer user_data)
{
  MsgtrkEvoWindow *self = user_data;
  g_auto (GStrv) entries = g_settings_get_strv (self->settings, MSGTRK_EVO_USER_HEADERS_KEY);
  g_auto (GStrv) changed = NULL;
  g_autoptr (GError) error = NULL;

  if (active)
    /* TRANSLATORS: the Tracking column's title in Evolution's message list. */
    changed = msgtrk_evo_column_add ((const char * const *) entries, _("Tracking"), &error);
  else
    changed = msgtrk_evo_column_remove ((const char * const *) entries);
  if (changed == NULL)
    {
      msgtrk_evo_ui_set_column (window_of (self), FALSE);
      msgtrk_evo_ui_show_message (window_of (self), TRUE,
                                  _("There is no room for the Tracking column"),
                                  _("Evolution shows at most three columns of extra headers, "
                                    "and all three are set (Evolution Data Server's "
                                    "“camel-message-info-user-headers” setting). Remove "
                                    "one of them, then try again."));
      return;
    }
  if (!g_strv_equal ((const char * const *) entries, (const char * const *) changed))
    g_settings_set_strv (self->settings, MSGTRK_EVO_USER_HEADERS_KEY,
                         (const char * const *) changed);
  /* Asked for by this click: the column appears in the folder shown (other folders keep
   * their own column choice: right-click the column headers, "Add a Column…"). */
  if (active)
    msgtrk_evo_ui_show_user_header_column (
      window_of (self), msgtrk_evo_column_index ((const char * const *) changed));
}

static void
settings_changed_cb (GSettings *settings, const char *key, gpointer user_data)
{
  MsgtrkEvoWindow *self = user_data;

  msgtrk_evo_ui_set_column (window_of (self), column_on (self));
  msgtrk_evo_status_column_changed ();
}

static void
msgtrk_evo_window_constructed (GObject *object)
{
  MsgtrkEvoWindow *self = (MsgtrkEvoWindow *) object;
  g_autoptr (GError) error = NULL;

  G_OBJECT_CLASS (msgtrk_evo_window_parent_class)->constructed (object);
  self->settings = g_settings_new (MSGTRK_EVO_EDS_SCHEMA);
  if (!msgtrk_evo_ui_add_column_toggle (window_of (self), column_on (self), column_toggled,
                                        self, &error))
    {
      g_warning ("msgtrk: cannot add View ▸ Tracking Column: %s", error->message);
      return;
    }
  /* the preferences page (once per shell) and Edit ▸ Message Tracking Preferences… */
  msgtrk_evo_ui_add_prefs_page (G_OBJECT (e_shell_window_get_shell (E_SHELL_WINDOW (window_of (self)))),
                                msgtrk_evo_prefs_page_new);
  if (!msgtrk_evo_ui_add_prefs_action (window_of (self), &error))
    {
      g_warning ("msgtrk: cannot add Edit ▸ Message Tracking Preferences: %s", error->message);
      g_clear_error (&error);
    }
  self->changed_handler = g_signal_connect (self->settings,
                                            "changed::" MSGTRK_EVO_USER_HEADERS_KEY,
                                            G_CALLBACK (settings_changed_cb), self);
}

static void
msgtrk_evo_window_dispose (GObject *object)
{
  MsgtrkEvoWindow *self = (MsgtrkEvoWindow *) object;

  if (self->settings)
    g_clear_signal_handler (&self->changed_handler, self->settings);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (msgtrk_evo_window_parent_class)->dispose (object);
}

static void
msgtrk_evo_window_class_init (MsgtrkEvoWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = msgtrk_evo_window_constructed;
  object_class->dispose = msgtrk_evo_window_dispose;
  E_EXTENSION_CLASS (klass)->extensible_type = E_TYPE_SHELL_WINDOW;
}

static void
msgtrk_evo_window_class_finalize (MsgtrkEvoWindowClass *klass)
{
}

static void
msgtrk_evo_window_init (MsgtrkEvoWindow *self)
{
}

void
msgtrk_evo_window_type_register (GTypeModule *type_module)
{
  msgtrk_evo_window_register_type (type_module);
}
