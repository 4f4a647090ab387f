/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-message-list.h: the msgtrk extension of Evolution's message list.
 *
 * What: tells msgtrk-evo-status.c which folder each message list shows, and when the list
 * was built again (folder open, summary rebuild), so that the Tracking column's values are
 * (re)set. No UI of its own.
 * Limits/Never: see msgtrk-evo-status.h.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

void msgtrk_evo_message_list_type_register (GTypeModule *type_module);

G_END_DECLS
