/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-message-list.c: EExtension on MessageList, feeding the Tracking column.
 *
 * What: see msgtrk-evo-message-list.h.
 * How: "notify::folder" is a folder open (msgtrkd is asked, one ListStatus; no walk yet:
 * the list is not built); "message-list-built" follows every build of the list (the first
 * one of an open, and every rebuild, also after a summary rebuild, which loses the
 * values): the folder's infos are walked and the states known set, without D-Bus.
 * Limits: one walk over the folder's infos per build of the list, on the main thread.
 * Never: a D-Bus call per row.
 */
#include "config.h"

#include <libedataserver/libedataserver.h>
#include <mail/message-list.h>

#include "msgtrk-evo-message-list.h"
#include "msgtrk-evo-status.h"

typedef struct
{
  EExtension parent_instance;
} MsgtrkEvoMessageList;

typedef struct
{
  EExtensionClass parent_class;
} MsgtrkEvoMessageListClass;

GType msgtrk_evo_message_list_get_type (void);

G_DEFINE_DYNAMIC_TYPE (MsgtrkEvoMessageList, msgtrk_evo_message_list, E_TYPE_EXTENSION)

static void
show (MessageList *list, gpointer owner, gboolean ask)
{
  g_autoptr (CamelFolder) folder = message_list_ref_folder (list);
  EMailSession *session = message_list_get_session (list);

  msgtrk_evo_status_show (owner, folder,
                          session ? e_mail_session_get_registry (session) : NULL, ask);
}

static void
folder_notify_cb (GObject *object, GParamSpec *pspec, gpointer owner)
{
  MessageList *list = MESSAGE_LIST (object);
  g_autoptr (CamelFolder) folder = message_list_ref_folder (list);
  EMailSession *session = message_list_get_session (list);

  msgtrk_evo_status_open (owner, folder,
                          session ? e_mail_session_get_registry (session) : NULL);
}

static void
built_cb (MessageList *list, gpointer owner)
{
  show (list, owner, FALSE);
}

static void
msgtrk_evo_message_list_constructed (GObject *object)
{
  GObject *list;

  G_OBJECT_CLASS (msgtrk_evo_message_list_parent_class)->constructed (object);
  list = G_OBJECT (e_extension_get_extensible (E_EXTENSION (object)));
  g_signal_connect_object (list, "notify::folder", G_CALLBACK (folder_notify_cb), object, 0);
  g_signal_connect_object (list, "message-list-built", G_CALLBACK (built_cb), object, 0);
}

static void
msgtrk_evo_message_list_dispose (GObject *object)
{
  msgtrk_evo_status_forget_owner (object);
  G_OBJECT_CLASS (msgtrk_evo_message_list_parent_class)->dispose (object);
}

static void
msgtrk_evo_message_list_class_init (MsgtrkEvoMessageListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = msgtrk_evo_message_list_constructed;
  object_class->dispose = msgtrk_evo_message_list_dispose;
  E_EXTENSION_CLASS (klass)->extensible_type = MESSAGE_LIST_TYPE;
}

static void
msgtrk_evo_message_list_class_finalize (MsgtrkEvoMessageListClass *klass)
{
}

static void
msgtrk_evo_message_list_init (MsgtrkEvoMessageList *self)
{
}

void
msgtrk_evo_message_list_type_register (GTypeModule *type_module)
{
  msgtrk_evo_message_list_register_type (type_module);
}
