/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-reader.c: EExtension on EShellView (the "mail" one) and on EMailBrowser (the
 * separate message window), the reader's actions.
 *
 * What: see msgtrk-evo-reader.h.
 * How: the actions live in the shell window's UI manager (msgtrk-evo-ui.c) and are merged
 * while the mail view is active ("toggled"); a message window has its own UI manager and
 * is its own EMailReader (merged once, at construction). The mail view's content is the EMailReader
 * whose "update-actions" tells when the selection changed. A message is tracked when its
 * summary's Message-ID hash is in msgtrk-evo-status.c's index, which also gives the
 * Message-ID text msgtrkd wants (Camel keeps only the hash).
 * Limits: see msgtrk-evo-reader.h.
 * Never: see msgtrk-evo-reader.h.
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <mail/e-mail-browser.h>
#include <mail/e-mail-reader.h>
#include <shell/e-shell-view.h>
#include <shell/e-shell-window.h>

#include "msgtrk-evo-reader.h"
#include "msgtrk-evo-status.h"
#include "msgtrk-evo-ui.h"

/* The shell view this extension serves. */
#define MSGTRK_EVO_READER_VIEW "mail"
/* The mail view content's property holding the EMailReader that loads messages. */
#define MSGTRK_EVO_READER_MAIL_VIEW "mail-view"

typedef struct
{
  EExtension parent_instance;
  guint merge_id;
  gboolean added;
  GWeakRef reader; /* the EMailReader whose "update-actions" is connected */
} MsgtrkEvoReader;

typedef struct
{
  EExtensionClass parent_class;
} MsgtrkEvoReaderClass;

GType msgtrk_evo_reader_get_type (void);

G_DEFINE_DYNAMIC_TYPE (MsgtrkEvoReader, msgtrk_evo_reader, E_TYPE_EXTENSION)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsgtrkEvoReader, g_object_unref)

static EShellView *
view_of (MsgtrkEvoReader *self)
{
  return E_SHELL_VIEW (e_extension_get_extensible (E_EXTENSION (self)));
}

/* The separate message window this extension serves, or NULL (the mail view's). */
static EMailBrowser *
browser_of (MsgtrkEvoReader *self)
{
  GObject *extensible = G_OBJECT (e_extension_get_extensible (E_EXTENSION (self)));

  return E_IS_MAIL_BROWSER (extensible) ? E_MAIL_BROWSER (extensible) : NULL;
}

/* The window whose UI manager holds the actions: the browser, or the main window; NULL
 * once it is gone (a D-Bus answer may come after the user closed it: the extension is
 * kept alive by the call, its extensible only weakly). */
static GObject *
window_of (MsgtrkEvoReader *self)
{
  if (e_extension_get_extensible (E_EXTENSION (self)) == NULL)
    return NULL;
  if (browser_of (self) != NULL)
    return G_OBJECT (browser_of (self));
  return G_OBJECT (e_shell_view_get_shell_window (view_of (self)));
}

/* msgtrk_evo_ui_show_message() over this extension's window; nothing once it is gone (the
 * user closed the window the action came from: no dialog without a parent). */
static void
show_in_window (MsgtrkEvoReader *self, gboolean is_error, const char *primary,
                const char *secondary)
{
  GObject *window = window_of (self);

  if (window == NULL)
    {
      g_debug ("msgtrk: %s (%s): its window is closed", primary, secondary ? secondary : "");
      return;
    }
  msgtrk_evo_ui_show_message (window, is_error, primary, secondary);
}

static EMailReader *
reader_of (MsgtrkEvoReader *self)
{
  EShellContent *content;

  if (browser_of (self) != NULL)
    return E_MAIL_READER (browser_of (self));
  content = e_shell_view_get_shell_content (view_of (self));
  return E_IS_MAIL_READER (content) ? E_MAIL_READER (content) : NULL;
}

/* The Message-ID of the one selected message if msgtrkd tracks it, else NULL; its uid in
 * UID (when not NULL) if one message is selected. */
static char *
selected_message_id (MsgtrkEvoReader *self, char **uid)
{
  EMailReader *reader = reader_of (self);
  g_autoptr (GPtrArray) uids = reader ? e_mail_reader_get_selected_uids (reader) : NULL;
  g_autoptr (CamelFolder) folder = reader ? e_mail_reader_ref_folder (reader) : NULL;
  g_autoptr (CamelMessageInfo) info = NULL;

  if (uids == NULL || uids->len != 1 || folder == NULL)
    return NULL;
  if (uid != NULL)
    *uid = g_strdup (g_ptr_array_index (uids, 0));
  info = camel_folder_get_message_info (folder, g_ptr_array_index (uids, 0));
  if (info == NULL)
    return NULL;
  return g_strdup (msgtrk_evo_status_message_id (camel_message_info_get_message_id (info)));
}

/* Sets Track… and Copy Tracking Link from the selection, and logs what the actions say. */
static void
refresh_actions (MsgtrkEvoReader *self)
{
  EMailReader *reader = reader_of (self);
  g_autofree char *uid = NULL;
  g_autofree char *message_id = selected_message_id (self, &uid);
  g_autoptr (CamelFolder) folder = reader ? e_mail_reader_ref_folder (reader) : NULL;

  msgtrk_evo_ui_reader_set_tracked (window_of (self), message_id != NULL);
  /* What the menus show, read back from the actions (the end-to-end test reads it). */
  g_debug ("Reader actions%s: %s %s: Track… and Copy Tracking Link %s",
           browser_of (self) ? " (message window)" : "",
           folder ? camel_folder_get_full_name (folder) : "-", uid ? uid : "-",
           msgtrk_evo_ui_reader_get_tracked (window_of (self)) ? "sensitive" : "insensitive");
}

static void
update_actions_cb (EMailReader *reader, guint32 state, gpointer user_data)
{
  refresh_actions (user_data);
}

/* Evolution updates its actions when a loaded message changes something (or a menu opens),
 * not at every selection: a row selected after a tracked one would keep Track… live. */
static void
selection_change_cb (GtkWidget *message_list, gpointer user_data)
{
  refresh_actions (user_data);
}

/* Evolution refills the loaded message's user headers from the message: ours goes. */
static void
message_loaded_cb (EMailReader *reader, const char *uid, CamelMimeMessage *message,
                   gpointer user_data)
{
  g_autoptr (CamelFolder) folder = e_mail_reader_ref_folder (reader);

  msgtrk_evo_status_reapply (folder, uid);
}

/* ---- the actions ---- */

static void
show_error (MsgtrkEvoReader *self, const char *what, GError *error)
{
  g_dbus_error_strip_remote_error (error);
  show_in_window (self, TRUE, what, error->message);
}

static void
show_message_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (MsgtrkEvoReader) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = msgtrk_evo_status_call_finish (result, &error);

  if (reply == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    show_error (self, _("Could not open the tracking viewer"), error);
}

static void
show_message (MsgtrkEvoReader *self, const char *id)
{
  msgtrk_evo_status_call ("ShowMessage", g_variant_new ("(s)", id), NULL, show_message_cb,
                          g_object_ref (self));
}

static void
track_activated (gpointer user_data)
{
  MsgtrkEvoReader *self = user_data;
  g_autofree char *message_id = selected_message_id (self, NULL);

  if (message_id == NULL)
    msgtrk_evo_ui_show_message (window_of (self), FALSE,
                                _("This message is not tracked"),
                                _("Select one message that was sent with tracking."));
  else
    show_message (self, message_id);
}

static void
export_url_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (MsgtrkEvoReader) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = msgtrk_evo_status_call_finish (result, &error);
  char *url = NULL;

  if (reply == NULL)
    {
      /* NoServerYet, NotTrackable, SecretMissing: msgtrkd's message says it in words. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, _("Could not make a tracking link"), error);
      return;
    }
  g_variant_get (reply, "(s)", &url);
  /* The URL holds the secret: the clipboard only, never PRIMARY, never a log. */
  msgtrk_evo_ui_copy_to_clipboard (url);
  memset (url, 0, strlen (url));
  g_free (url);
  show_in_window (self, FALSE, _("The tracking link is on the clipboard"),
                  _("Whoever has it can follow this message's delivery."));
}

static void
copy_link_activated (gpointer user_data)
{
  MsgtrkEvoReader *self = user_data;
  g_autofree char *message_id = selected_message_id (self, NULL);

  if (message_id == NULL)
    msgtrk_evo_ui_show_message (window_of (self), FALSE,
                                _("This message is not tracked"),
                                _("Select one message that was sent with tracking."));
  else
    msgtrk_evo_status_call ("ExportUrl", g_variant_new ("(s)", message_id),
                            G_VARIANT_TYPE ("(s)"), export_url_cb, g_object_ref (self));
}

static void
import_url_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (MsgtrkEvoReader) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = msgtrk_evo_status_call_finish (result, &error);
  const char *envid = NULL;

  if (reply == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, _("Could not track this link"), error);
      return;
    }
  g_variant_get (reply, "(&s)", &envid);
  show_message (self, envid);
}

static void
import_link_activated (gpointer user_data)
{
  MsgtrkEvoReader *self = user_data;
  char *link = msgtrk_evo_ui_ask_link (window_of (self));

  if (link == NULL)
    return;
  msgtrk_evo_status_call ("ImportUrl", g_variant_new ("(s)", link), G_VARIANT_TYPE ("(s)"),
                          import_url_cb, g_object_ref (self));
  memset (link, 0, strlen (link));
  g_free (link);
}

/* ---- the mail view comes and goes ---- */

static void
connect_reader (MsgtrkEvoReader *self)
{
  EMailReader *reader = reader_of (self);
  g_autoptr (GObject) connected = g_weak_ref_get (&self->reader);
  g_autoptr (GObject) mail_view = NULL;

  if (reader == NULL || connected == G_OBJECT (reader))
    return;
  g_signal_connect_object (reader, "update-actions", G_CALLBACK (update_actions_cb), self, 0);
  if (e_mail_reader_get_message_list (reader) != NULL)
    g_signal_connect_object (e_mail_reader_get_message_list (reader), "selection-change",
                             G_CALLBACK (selection_change_cb), self, G_CONNECT_AFTER);
  /* "message-loaded" comes from the mail view inside the content (module-mail's
   * EMailShellContent has it as its "mail-view" property), not from the content. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (reader), MSGTRK_EVO_READER_MAIL_VIEW))
    g_object_get (reader, MSGTRK_EVO_READER_MAIL_VIEW, &mail_view, NULL);
  g_signal_connect_object (E_IS_MAIL_READER (mail_view) ? (gpointer) mail_view : reader,
                           "message-loaded", G_CALLBACK (message_loaded_cb), self,
                           G_CONNECT_AFTER);
  g_weak_ref_set (&self->reader, reader);
}

static void
toggled_cb (EShellView *view, gpointer user_data)
{
  MsgtrkEvoReader *self = user_data;
  g_autoptr (GError) error = NULL;

  if (!e_shell_view_is_active (view))
    {
      msgtrk_evo_ui_reader_unmerge (window_of (self), self->merge_id);
      self->merge_id = 0;
      return;
    }
  if (!self->added)
    {
      msgtrk_evo_ui_reader_add (window_of (self), track_activated, copy_link_activated,
                                import_link_activated, self);
      self->added = TRUE;
    }
  connect_reader (self);
  if (self->merge_id == 0)
    {
      self->merge_id = msgtrk_evo_ui_reader_merge (window_of (self), &error);
      if (self->merge_id == 0)
        g_warning ("msgtrk: cannot add Track… to the Message menu: %s", error->message);
    }
}

/* A separate message window (double-click, Enter): its own UI manager, always active. */
static void
browser_setup (MsgtrkEvoReader *self)
{
  g_autoptr (GError) error = NULL;

  msgtrk_evo_status_start ();
  msgtrk_evo_ui_reader_add (window_of (self), track_activated, copy_link_activated,
                            import_link_activated, self);
  self->added = TRUE;
  connect_reader (self);
  self->merge_id = msgtrk_evo_ui_reader_merge (window_of (self), &error);
  if (self->merge_id == 0)
    g_warning ("msgtrk: cannot add Track… to the message window: %s", error->message);
}

static void
msgtrk_evo_reader_constructed (GObject *object)
{
  MsgtrkEvoReader *self = (MsgtrkEvoReader *) object;
  EShellView *view;

  G_OBJECT_CLASS (msgtrk_evo_reader_parent_class)->constructed (object);
  if (browser_of (self) != NULL)
    {
      browser_setup (self);
      return;
    }
  view = view_of (self);
  if (g_strcmp0 (e_shell_view_get_name (view), MSGTRK_EVO_READER_VIEW) != 0)
    return;
  msgtrk_evo_status_start ();
  g_signal_connect_object (view, "toggled", G_CALLBACK (toggled_cb), self, G_CONNECT_AFTER);
  if (e_shell_view_is_active (view))
    toggled_cb (view, self);
}

static void
msgtrk_evo_reader_finalize (GObject *object)
{
  MsgtrkEvoReader *self = (MsgtrkEvoReader *) object;

  g_weak_ref_clear (&self->reader);
  G_OBJECT_CLASS (msgtrk_evo_reader_parent_class)->finalize (object);
}

static void
msgtrk_evo_reader_class_init (MsgtrkEvoReaderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = msgtrk_evo_reader_constructed;
  object_class->finalize = msgtrk_evo_reader_finalize;
  E_EXTENSION_CLASS (klass)->extensible_type = E_TYPE_SHELL_VIEW;
}

static void
msgtrk_evo_reader_class_finalize (MsgtrkEvoReaderClass *klass)
{
}

static void
msgtrk_evo_reader_init (MsgtrkEvoReader *self)
{
  g_weak_ref_init (&self->reader, NULL);
}

/* The same extension on the separate message window (EMailBrowser). */
typedef struct
{
  MsgtrkEvoReader parent_instance;
} MsgtrkEvoBrowser;

typedef struct
{
  MsgtrkEvoReaderClass parent_class;
} MsgtrkEvoBrowserClass;

GType msgtrk_evo_browser_get_type (void);

G_DEFINE_DYNAMIC_TYPE (MsgtrkEvoBrowser, msgtrk_evo_browser, msgtrk_evo_reader_get_type ())

static void
msgtrk_evo_browser_class_init (MsgtrkEvoBrowserClass *klass)
{
  E_EXTENSION_CLASS (klass)->extensible_type = E_TYPE_MAIL_BROWSER;
}

static void
msgtrk_evo_browser_class_finalize (MsgtrkEvoBrowserClass *klass)
{
}

static void
msgtrk_evo_browser_init (MsgtrkEvoBrowser *self)
{
}

void
msgtrk_evo_reader_type_register (GTypeModule *type_module)
{
  msgtrk_evo_reader_register_type (type_module);
  msgtrk_evo_browser_register_type (type_module);
}
