/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-prefs.h: the "Message Tracking" page of Evolution's Preferences window.
 *
 * What: per account, "Send with tracking" (the transport switch, msgtrk-evo-accounts.c)
 * and "Track new messages" (the composer toggle's default); msgtrk's own settings shared
 * with the Claws plugin and msgtrkd (org.msgtrk: DSN NOTIFY/RET, how long servers keep
 * tracking information, desktop notifications); the Tracking column (EDS's user-header
 * key, with the consent text).
 * Limits: the account list is read when the page is built (Evolution builds it once per
 * Preferences window): an account added later shows after a restart of Evolution.
 * Never: write a setting the user did not change.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* SHELL is the EShell; the page (a MsgtrkEvoCreatePage for msgtrk_evo_ui_add_prefs_page). */
GtkWidget *msgtrk_evo_prefs_page_new (GObject *shell);

G_END_DECLS
