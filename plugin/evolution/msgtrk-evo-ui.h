/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-ui.h: every piece of Evolution UI glue of the msgtrk module, in one place.
 *
 * What: puts msgtrk's actions into Evolution's windows. Today: the composer's "Track this
 * message" toggle (Options menu and main toolbar).
 * Why one file: Evolution 3.46 builds menus with GtkUIManager/GtkAction; Evolution 3.55
 * replaced them. The behaviour (msgtrk-evo-composer.c) calls only these functions, so a
 * port to the new UI touches this file alone.
 * Never: decide anything (what the toggle means is the caller's business).
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The composer action's name (also its toolbar item's). */
#define MSGTRK_EVO_ACTION_TRACK "msgtrk-track"

typedef void (*MsgtrkEvoToggled) (gboolean active, gpointer user_data);

/* Adds the toggle to the composer window COMPOSER (an EMsgComposer), initially ACTIVE;
 * TOGGLED is called on every change, by the user or by msgtrk_evo_ui_set_track(). */
gboolean msgtrk_evo_ui_add_track_toggle (GObject           *composer,
                                         gboolean           active,
                                         MsgtrkEvoToggled   toggled,
                                         gpointer           user_data,
                                         GError           **error);
gboolean msgtrk_evo_ui_get_track        (GObject           *composer);
void     msgtrk_evo_ui_set_track        (GObject           *composer,
                                         gboolean           active);

G_END_DECLS
