/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-window.h: the msgtrk extension of Evolution's main window.
 *
 * What: View ▸ Tracking Column, the user's consent to our entry in EDS's global
 * user-header list (msgtrk-evo-column.h): ticking it adds "Tracking|X-Msgtrk-Status" when
 * there is room, unticking removes ours only. The item follows the key (another window,
 * another program). Also registers the Message Tracking preferences page (once per shell,
 * msgtrk-evo-prefs.c) and Edit ▸ Message Tracking Preferences….
 * Never: change the key without the user's action; drop others' entries.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

void msgtrk_evo_window_type_register (GTypeModule *type_module);

G_END_DECLS
