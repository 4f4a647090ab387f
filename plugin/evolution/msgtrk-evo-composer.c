/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-composer.c: EExtension on EMsgComposer, the "Track this message" behaviour.
 *
 * What: on every composer window, a toggle (msgtrk-evo-ui.c) whose state is kept as the
 * header X-Msgtrk-Track: yes among the composer's extra headers, so that it travels with
 * the message to the Outbox and to the transport (Evolution strips X-Evolution-* headers
 * before the transport, ours it keeps).
 * How: e_msg_composer_set_header() / e_msg_composer_remove_header(). Evolution drops
 * unknown headers when it reopens a draft, so when the window first appears with the
 * X-Evolution-Draft-Folder/-Message headers Evolution keeps for a draft, the draft itself is
 * read back (asynchronously, through the EMailSession) and the toggle is set if the draft
 * carried the mark. A new message starts from its account's default
 * (msgtrk-evo-accounts.c), followed when the From account changes until the user (or a
 * reopened draft) sets the toggle.
 * Limits: see msgtrk-evo-composer.h.
 * Send: with Track ticked, "presend" checks that the account sends with tracking and that
 * msgtrkd answers (a D-Bus Ping, at most MSGTRK_EVO_PRESEND_PING_MS); if not, the user
 * chooses: Send Untracked, Keep in Outbox (tracked, for a later Send / Receive) or Cancel.
 * A failure after that (a locked keyring, msgtrkd gone in between) is the transport's
 * error in Evolution's own dialog, whose Save to Outbox keeps the message.
 * Never: block the composer longer than that Ping; send anything itself; send a message
 * marked Track untracked without the user's choice.
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include <libedataserver/libedataserver.h>
#include <composer/e-msg-composer.h>
#include <libemail-engine/libemail-engine.h>

#include "msgtrk-camel-tracker.h"
#include "msgtrk-camel-transport.h"
#include "msgtrk-evo-accounts.h"
#include "msgtrk-evo-composer.h"
#include "msgtrk-evo-ui.h"

/* How long Send waits for msgtrkd to answer (or be started by D-Bus) before asking the
 * user what to do with a tracked message (ms). */
#define MSGTRK_EVO_PRESEND_PING_MS 5000
/* The extension, on its composer (object data; the composer owns its extensions). */
#define MSGTRK_EVO_COMPOSER_SELF_KEY "msgtrk-evo-composer"

/* The composer headers Evolution keeps for a reopened draft. */
#define MSGTRK_EVO_DRAFT_FOLDER_HEADER "X-Evolution-Draft-Folder"
#define MSGTRK_EVO_DRAFT_MESSAGE_HEADER "X-Evolution-Draft-Message"

typedef struct
{
  EExtension parent_instance;
  GCancellable *cancellable; /* (owned) reading a draft back stops when the window goes */
  gulong map_handler;
  gboolean user_chose; /* the user (or a reopened draft) set the toggle: defaults stop */
  gboolean by_default; /* the toggle is being set from the account's default */
  gboolean to_outbox;  /* our own Save to Outbox: its "presend" is not asked again */
} MsgtrkEvoComposer;

typedef struct
{
  EExtensionClass parent_class;
} MsgtrkEvoComposerClass;

GType msgtrk_evo_composer_get_type (void);

G_DEFINE_DYNAMIC_TYPE (MsgtrkEvoComposer, msgtrk_evo_composer, E_TYPE_EXTENSION)

static EMsgComposer *
composer_of (MsgtrkEvoComposer *self)
{
  return E_MSG_COMPOSER (e_extension_get_extensible (E_EXTENSION (self)));
}

static void
track_toggled (gboolean active, gpointer user_data)
{
  MsgtrkEvoComposer *self = user_data;
  EMsgComposer *composer = composer_of (self);

  if (!self->by_default)
    self->user_chose = TRUE;
  if (active)
    e_msg_composer_set_header (composer, MSGTRK_CAMEL_TRACK_HEADER, MSGTRK_CAMEL_TRACK_VALUE);
  else
    e_msg_composer_remove_header (composer, MSGTRK_CAMEL_TRACK_HEADER);
}

/* ---- Harrison's Content-Track (docs/harrison.md) ---- */

#define MSGTRK_EVO_ACTION_CONTENT_TRACK "msgtrk-content-track"

/* The draft's own warning (draft-harrison-email-tracking, 3.1): every recipient sees it. */
#define MSGTRK_EVO_CONTENT_TRACK_WARNING                                                   \
  N_("Relays that support it will mail you the route of this message (its Received: "     \
     "lines, never its text).\n\nPrivacy: this adds a \"Content-Track\" header that every " \
     "recipient can see, so they will know the route is being reported to you. Leave it "  \
     "off unless you need it.")

static const char *content_track_ui =
  "<ui>"
  "  <menubar name='main-menu'>"
  "    <menu action='options-menu'>"
  "      <menuitem action='" MSGTRK_EVO_ACTION_CONTENT_TRACK "'/>"
  "    </menu>"
  "  </menubar>"
  "</ui>";

/* Per message, off by default: the mark header for the transport; ticking it turns
 * tracking on (the key needs a prepared message) and warns once per window. */
static void
content_track_toggled_cb (GtkToggleAction *action, gpointer user_data)
{
  EMsgComposer *composer = user_data;
  GtkWidget *dialog;

  if (!gtk_toggle_action_get_active (action))
    {
      e_msg_composer_remove_header (composer, MSGTRK_CAMEL_CONTENT_TRACK_HEADER);
      return;
    }
  e_msg_composer_set_header (composer, MSGTRK_CAMEL_CONTENT_TRACK_HEADER,
                             MSGTRK_CAMEL_TRACK_VALUE);
  msgtrk_evo_ui_set_track (G_OBJECT (composer), TRUE);
  if (g_object_get_data (G_OBJECT (action), "msgtrk-warned") != NULL)
    return;
  g_object_set_data (G_OBJECT (action), "msgtrk-warned", GINT_TO_POINTER (1));
  dialog = gtk_message_dialog_new (GTK_WINDOW (composer), GTK_DIALOG_DESTROY_WITH_PARENT,
                                   GTK_MESSAGE_INFO, GTK_BUTTONS_OK, "%s",
                                   _(MSGTRK_EVO_CONTENT_TRACK_WARNING));
  g_signal_connect (dialog, "response", G_CALLBACK (gtk_widget_destroy), NULL);
  gtk_widget_show (dialog);
}

/* The route's mark off, its toggle too (a message sent untracked: its header would go
 * through a transport that does not take it off, to every recipient). */
static void
content_track_off (EMsgComposer *composer)
{
  GtkUIManager *manager = e_html_editor_get_ui_manager (e_msg_composer_get_editor (composer));

  /* Not e_lookup_action(): it is critical about an action not there (the toggle is
   * missing when its menu item could not be added). */
  for (GList *l = gtk_ui_manager_get_action_groups (manager); l != NULL; l = l->next)
    {
      GtkAction *action = gtk_action_group_get_action (l->data, MSGTRK_EVO_ACTION_CONTENT_TRACK);

      if (action != NULL)
        gtk_toggle_action_set_active (GTK_TOGGLE_ACTION (action), FALSE);
    }
  e_msg_composer_remove_header (composer, MSGTRK_CAMEL_CONTENT_TRACK_HEADER);
}

static void
add_content_track_toggle (EMsgComposer *composer)
{
  GtkUIManager *manager = e_html_editor_get_ui_manager (e_msg_composer_get_editor (composer));
  GtkActionGroup *group = gtk_action_group_new ("msgtrk-content-track");
  GtkToggleAction *action;
  g_autoptr (GError) error = NULL;

  gtk_action_group_set_translation_domain (group, GETTEXT_PACKAGE);
  action = gtk_toggle_action_new (MSGTRK_EVO_ACTION_CONTENT_TRACK,
                                  _("Ask relays to report the _route (Content-Track)"),
                                  _(MSGTRK_EVO_CONTENT_TRACK_WARNING), NULL);
  gtk_toggle_action_set_active (action, FALSE);
  g_signal_connect_object (action, "toggled", G_CALLBACK (content_track_toggled_cb),
                           composer, 0);
  gtk_action_group_add_action (group, GTK_ACTION (action));
  g_object_unref (action);
  gtk_ui_manager_insert_action_group (manager, group, 0);
  if (gtk_ui_manager_add_ui_from_string (manager, content_track_ui, -1, &error) == 0)
    {
      g_warning ("msgtrk: cannot add “Ask relays to report the route”: %s", error->message);
      gtk_ui_manager_remove_action_group (manager, group);
    }
  g_object_unref (group);
}

/* ---- the account's default (preferences page: "Track new messages") ---- */

static void
apply_account_default (MsgtrkEvoComposer *self)
{
  EMsgComposer *composer = composer_of (self);
  EShell *shell = e_msg_composer_get_shell (composer);
  ESourceRegistry *registry = shell ? e_shell_get_registry (shell) : NULL;
  g_autofree char *identity = NULL;
  g_autofree char *transport = NULL;

  if (registry == NULL || self->user_chose)
    return;
  identity = e_composer_header_table_dup_identity_uid (e_msg_composer_get_header_table (composer),
                                                       NULL, NULL);
  transport = msgtrk_evo_accounts_dup_transport_uid (registry, identity);
  self->by_default = TRUE;
  msgtrk_evo_ui_set_track (G_OBJECT (composer),
                           msgtrk_evo_accounts_get_track_default (registry, transport));
  self->by_default = FALSE;
}

/* Another From account: its default, unless the user chose already. */
static void
identity_changed_cb (GObject *table, GParamSpec *pspec, gpointer user_data)
{
  apply_account_default (user_data);
}

/* ---- Send: a tracked message that cannot leave tracked ---- */

/* Whether msgtrkd answers (D-Bus starts it if it can); the reason in ERROR if not. */
static gboolean
msgtrkd_answers (GError **error)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, error);
  g_autoptr (GVariant) reply = NULL;

  if (bus == NULL)
    return FALSE;
  reply = g_dbus_connection_call_sync (bus, MSGTRK_CAMEL_TRACKER_BUS_NAME,
                                       MSGTRK_CAMEL_TRACKER_PATH, "org.freedesktop.DBus.Peer",
                                       "Ping", NULL, NULL, G_DBUS_CALL_FLAGS_NONE,
                                       MSGTRK_EVO_PRESEND_PING_MS, NULL, error);
  return reply != NULL;
}

static void
outbox_done_cb (GObject *composer, GParamSpec *pspec, gpointer data)
{
  MsgtrkEvoComposer *self = data;

  if (e_msg_composer_is_busy (E_MSG_COMPOSER (composer)))
    return;
  g_signal_handlers_disconnect_by_func (composer, outbox_done_cb, data);
  self->to_outbox = FALSE;
}

/* Evolution's Save to Outbox emits "presend" too, once it has read the editor's content:
 * that one must not ask again (the flag is taken by it, or cleared when the composer's
 * work ends). */
static void
save_to_outbox (MsgtrkEvoComposer *self, EMsgComposer *composer)
{
  self->to_outbox = TRUE;
  g_signal_connect (composer, "notify::busy", G_CALLBACK (outbox_done_cb), self);
  e_msg_composer_save_to_outbox (composer);
}

static void
busy_changed_cb (GObject *composer, GParamSpec *pspec, gpointer data)
{
  if (e_msg_composer_is_busy (E_MSG_COMPOSER (composer)))
    return;
  g_signal_handlers_disconnect_by_func (composer, busy_changed_cb, data);
  save_to_outbox (data, E_MSG_COMPOSER (composer));
}

/* The send that asked is still reading the editor's content (the composer is busy and
 * would ignore the request): save once it is idle. */
static gboolean
save_to_outbox_idle (gpointer data)
{
  g_autoptr (GObject) composer = g_weak_ref_get (data);
  MsgtrkEvoComposer *self;

  if (composer == NULL)
    return G_SOURCE_REMOVE;
  self = g_object_get_data (composer, MSGTRK_EVO_COMPOSER_SELF_KEY);
  if (self == NULL)
    return G_SOURCE_REMOVE;
  if (e_msg_composer_is_busy (E_MSG_COMPOSER (composer)))
    g_signal_connect (composer, "notify::busy", G_CALLBACK (busy_changed_cb), self);
  else
    save_to_outbox (self, E_MSG_COMPOSER (composer));
  return G_SOURCE_REMOVE;
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* "presend" (FALSE stops the send): with Track ticked, the account must send with tracking
 * and msgtrkd must answer; else the user chooses: send untracked, keep it in the Outbox
 * (tracked, sent by a later Send / Receive) or go back. Never a silent untracked send. */
static gboolean
composer_presend_cb (EMsgComposer *composer, gpointer user_data)
{
  MsgtrkEvoComposer *self = user_data;
  EShell *shell = e_msg_composer_get_shell (composer);
  ESourceRegistry *registry = shell ? e_shell_get_registry (shell) : NULL;
  g_autofree char *identity = NULL;
  g_autofree char *transport = NULL;
  g_autoptr (ESource) source = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *secondary = NULL;
  gboolean account_tracks;
  MsgtrkEvoUiAnswer answer;

  if (self->to_outbox)
    {
      self->to_outbox = FALSE;
      return TRUE;
    }
  if (!msgtrk_evo_ui_get_track (G_OBJECT (composer)) || registry == NULL)
    return TRUE;
  identity = e_composer_header_table_dup_identity_uid (e_msg_composer_get_header_table (composer),
                                                       NULL, NULL);
  transport = msgtrk_evo_accounts_dup_transport_uid (registry, identity);
  source = transport ? e_source_registry_ref_source (registry, transport) : NULL;
  account_tracks
    = source && e_source_has_extension (source, E_SOURCE_EXTENSION_MAIL_TRANSPORT)
      && g_strcmp0 (e_source_backend_get_backend_name (
                      e_source_get_extension (source, E_SOURCE_EXTENSION_MAIL_TRANSPORT)),
                    MSGTRK_CAMEL_PROTOCOL)
           == 0;
  if (account_tracks && msgtrkd_answers (&error))
    return TRUE;
  if (!account_tracks)
    answer = msgtrk_evo_ui_ask_untracked (
      G_OBJECT (composer), _("This account does not send with tracking"),
      _("The message is marked “Track this message”, but its account sends through a "
        "server type without tracking. Turn on “Send with tracking” for the account in "
        "Preferences ▸ Message Tracking, or send the message without tracking."),
      FALSE);
  else
    {
      secondary = g_strdup_printf (
        _("The message is marked “Track this message”, but the tracking service (msgtrkd) "
          "does not answer: %s. Keep it in the Outbox to send it tracked later with Send / "
          "Receive, or send it now without tracking."),
        error ? (g_dbus_error_strip_remote_error (error), error->message) : "?");
      answer = msgtrk_evo_ui_ask_untracked (G_OBJECT (composer),
                                            _("The message cannot be tracked now"), secondary,
                                            TRUE);
    }
  g_debug ("tracked message, %s: the user chose %d",
           account_tracks ? "msgtrkd unavailable" : "account without tracking", answer);
  switch (answer)
    {
    case MSGTRK_EVO_UI_ANSWER_SEND_UNTRACKED:
      self->by_default = FALSE;
      msgtrk_evo_ui_set_track (G_OBJECT (composer), FALSE); /* removes the mark */
      content_track_off (composer); /* and the route's: no mark may reach the recipients */
      return TRUE;
    case MSGTRK_EVO_UI_ANSWER_KEEP_IN_OUTBOX:
      {
        GWeakRef *ref = g_new0 (GWeakRef, 1);

        g_weak_ref_init (ref, composer);
        g_idle_add_full (G_PRIORITY_DEFAULT, save_to_outbox_idle, ref, weak_ref_free);
        return FALSE;
      }
    case MSGTRK_EVO_UI_ANSWER_CANCEL:
    default:
      return FALSE;
    }
}

/* ---- a reopened draft: read its mark back ---- */

typedef struct
{
  GWeakRef composer;
  GCancellable *cancellable; /* (owned) */
  char *uid;                 /* (owned) */
} DraftRead;

static void
draft_read_free (DraftRead *read)
{
  g_weak_ref_clear (&read->composer);
  g_clear_object (&read->cancellable);
  g_free (read->uid);
  g_free (read);
}

static gboolean
asks_tracking (const char *value)
{
  g_autofree char *v = value ? g_strstrip (g_strdup (value)) : NULL;

  return v != NULL && g_ascii_strcasecmp (v, MSGTRK_CAMEL_TRACK_VALUE) == 0;
}

static void
draft_message_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DraftRead *read = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (CamelMimeMessage) message
    = camel_folder_get_message_finish (CAMEL_FOLDER (source), result, &error);
  g_autoptr (GObject) composer = g_weak_ref_get (&read->composer);

  if (message && composer
      && asks_tracking (camel_medium_get_header (CAMEL_MEDIUM (message),
                                                 MSGTRK_CAMEL_TRACK_HEADER)))
    msgtrk_evo_ui_set_track (composer, TRUE);
  else if (error && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("msgtrk: cannot read the draft back: %s", error->message);
  draft_read_free (read);
}

static void
draft_folder_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DraftRead *read = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (CamelFolder) folder
    = e_mail_session_uri_to_folder_finish (E_MAIL_SESSION (source), result, &error);

  if (folder == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("msgtrk: cannot open the draft's folder: %s",
                 error ? (g_dbus_error_strip_remote_error (error), error->message) : "?");
      draft_read_free (read);
      return;
    }
  camel_folder_get_message (folder, read->uid, G_PRIORITY_DEFAULT, read->cancellable,
                            draft_message_cb, read);
}

/* First appearance of the window: the draft headers are set by then. */
static void
composer_mapped_cb (GtkWidget *widget, gpointer user_data)
{
  MsgtrkEvoComposer *self = user_data;
  EMsgComposer *composer = E_MSG_COMPOSER (widget);
  const char *folder_uri;
  const char *uid;
  g_autoptr (CamelSession) session = NULL;
  DraftRead *read;

  g_signal_handler_disconnect (widget, self->map_handler);
  self->map_handler = 0;
  folder_uri = e_msg_composer_get_header (composer, MSGTRK_EVO_DRAFT_FOLDER_HEADER, 0);
  uid = e_msg_composer_get_header (composer, MSGTRK_EVO_DRAFT_MESSAGE_HEADER, 0);
  if (msgtrk_evo_ui_get_track (G_OBJECT (composer)))
    self->user_chose = TRUE; /* the message carried the mark already */
  if (folder_uri == NULL || uid == NULL)
    {
      /* a new message: the account's default, now and when From changes */
      apply_account_default (self);
      g_signal_connect_object (e_msg_composer_get_header_table (composer),
                               "notify::identity-uid", G_CALLBACK (identity_changed_cb), self,
                               0);
      return;
    }
  /* a reopened draft keeps what it was saved with */
  self->user_chose = TRUE;
  if (msgtrk_evo_ui_get_track (G_OBJECT (composer)))
    return;
  session = e_msg_composer_ref_session (composer);
  if (!E_IS_MAIL_SESSION (session))
    return;
  read = g_new0 (DraftRead, 1);
  g_weak_ref_init (&read->composer, composer);
  read->cancellable = g_object_ref (self->cancellable);
  read->uid = g_strdup (uid);
  e_mail_session_uri_to_folder (E_MAIL_SESSION (session), folder_uri, 0, G_PRIORITY_DEFAULT,
                                read->cancellable, draft_folder_cb, read);
}

/* ---- GObject ---- */

static void
msgtrk_evo_composer_constructed (GObject *object)
{
  MsgtrkEvoComposer *self = (MsgtrkEvoComposer *) object;
  EMsgComposer *composer;
  g_autoptr (GError) error = NULL;

  G_OBJECT_CLASS (msgtrk_evo_composer_parent_class)->constructed (object);
  composer = composer_of (self);
  if (!msgtrk_evo_ui_add_track_toggle (G_OBJECT (composer), FALSE, track_toggled, self,
                                       &error))
    {
      g_warning ("msgtrk: cannot add “Track this message” to the composer: %s",
                 error->message);
      return;
    }
  self->map_handler = g_signal_connect (composer, "map", G_CALLBACK (composer_mapped_cb), self);
  add_content_track_toggle (composer);
  g_signal_connect (composer, "presend", G_CALLBACK (composer_presend_cb), self);
  g_object_set_data (G_OBJECT (composer), MSGTRK_EVO_COMPOSER_SELF_KEY, self);
}

/* The composer owns its extensions, so the "map" handler never outlives this object; only
 * a draft still being read must be stopped. */
static void
msgtrk_evo_composer_dispose (GObject *object)
{
  MsgtrkEvoComposer *self = (MsgtrkEvoComposer *) object;

  g_cancellable_cancel (self->cancellable);
  G_OBJECT_CLASS (msgtrk_evo_composer_parent_class)->dispose (object);
}

static void
msgtrk_evo_composer_finalize (GObject *object)
{
  MsgtrkEvoComposer *self = (MsgtrkEvoComposer *) object;

  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (msgtrk_evo_composer_parent_class)->finalize (object);
}

static void
msgtrk_evo_composer_class_init (MsgtrkEvoComposerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = msgtrk_evo_composer_constructed;
  object_class->dispose = msgtrk_evo_composer_dispose;
  object_class->finalize = msgtrk_evo_composer_finalize;
  E_EXTENSION_CLASS (klass)->extensible_type = E_TYPE_MSG_COMPOSER;
}

static void
msgtrk_evo_composer_class_finalize (MsgtrkEvoComposerClass *klass)
{
}

static void
msgtrk_evo_composer_init (MsgtrkEvoComposer *self)
{
  self->cancellable = g_cancellable_new ();
}

void
msgtrk_evo_composer_type_register (GTypeModule *type_module)
{
  msgtrk_evo_composer_register_type (type_module);
}
