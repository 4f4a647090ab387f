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
 * Never: block the composer; send anything itself.
 */
#include "config.h"

#include <libedataserver/libedataserver.h>
#include <composer/e-msg-composer.h>
#include <libemail-engine/libemail-engine.h>

#include "msgtrk-camel-transport.h"
#include "msgtrk-evo-accounts.h"
#include "msgtrk-evo-composer.h"
#include "msgtrk-evo-ui.h"

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
                 error ? error->message : "?");
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
