/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-composer.c: EExtension on EMsgComposer, the "Track this message" behaviour.
 *
 * What: on every composer window, a toggle (msgtrk-evo-ui.c) whose state is kept as the
 * header X-Msgtrk-Track: yes among the composer's extra headers, so that it travels with
 * the message to the Outbox and to the transport (Evolution strips X-Evolution-* headers
 * before the transport, ours it keeps).
 * How: e_msg_composer_set_header() / e_msg_composer_remove_header().
 * Limits: see msgtrk-evo-composer.h.
 * Never: block the composer; send anything itself.
 */
#include "config.h"

#include <libedataserver/libedataserver.h>
#include <composer/e-msg-composer.h>

#include "msgtrk-camel-transport.h"
#include "msgtrk-evo-composer.h"
#include "msgtrk-evo-ui.h"

typedef struct
{
  EExtension parent_instance;
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

  if (active)
    e_msg_composer_set_header (composer, MSGTRK_CAMEL_TRACK_HEADER, MSGTRK_CAMEL_TRACK_VALUE);
  else
    e_msg_composer_remove_header (composer, MSGTRK_CAMEL_TRACK_HEADER);
}

static void
msgtrk_evo_composer_constructed (GObject *object)
{
  MsgtrkEvoComposer *self = (MsgtrkEvoComposer *) object;
  g_autoptr (GError) error = NULL;

  G_OBJECT_CLASS (msgtrk_evo_composer_parent_class)->constructed (object);
  if (!msgtrk_evo_ui_add_track_toggle (G_OBJECT (composer_of (self)), FALSE, track_toggled,
                                       self, &error))
    g_warning ("msgtrk: cannot add “Track this message” to the composer: %s", error->message);
}

static void
msgtrk_evo_composer_class_init (MsgtrkEvoComposerClass *klass)
{
  G_OBJECT_CLASS (klass)->constructed = msgtrk_evo_composer_constructed;
  E_EXTENSION_CLASS (klass)->extensible_type = E_TYPE_MSG_COMPOSER;
}

static void
msgtrk_evo_composer_class_finalize (MsgtrkEvoComposerClass *klass)
{
}

static void
msgtrk_evo_composer_init (MsgtrkEvoComposer *self)
{
}

void
msgtrk_evo_composer_type_register (GTypeModule *type_module)
{
  msgtrk_evo_composer_register_type (type_module);
}
