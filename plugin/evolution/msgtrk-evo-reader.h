/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-reader.h: the msgtrk actions of Evolution's mail view.
 *
 * What: Message ▸ Track… (the viewer on this message: msgtrkd's ShowMessage), Copy
 * Tracking Link (ExportUrl, to the CLIPBOARD selection only) and Track a Link… (ImportUrl,
 * then the viewer), also in the message list's context menu. Track… and Copy Tracking Link
 * are greyed out unless exactly one tracked message is selected.
 * The same in the separate message window (EMailBrowser, double-click or Enter on a
 * message): its own Message menu.
 * Limits: "tracked"
 * means known to msgtrkd's list (msgtrk-evo-status.c), read once and kept current.
 * Never: log or show a tracking link; keep it after the clipboard has it; block on D-Bus.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

void msgtrk_evo_reader_type_register (GTypeModule *type_module);

G_END_DECLS
