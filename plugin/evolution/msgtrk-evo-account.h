/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-account.h: "SMTP with tracking" as a server type in Evolution's account editor.
 *
 * What: an account-editor backend for the msgtrk-smtp transport, so that an account's
 * Sending page offers "SMTP with tracking" next to "SMTP" and keeps host, port, security
 * and login when switched (both edit the same CamelNetworkSettings).
 * How: a subclass, registered at run time, of Evolution's own SMTP backend
 * (EMailConfigSmtpBackend from module-mail-config.so; our settings are CamelNetworkSettings
 * like its own, so its page works unchanged), with backend_name = msgtrk-smtp and no
 * auto-configuration (a new account never gets our transport unasked).
 * Limits: needs module-mail-config.so's EMailConfigSmtpBackend; without it the server type
 * is not offered (a message says so) and the rest of the module works.
 * Never: touch accounts by itself.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* Name of the registered type (for tests). */
#define MSGTRK_EVO_ACCOUNT_BACKEND_TYPE_NAME "MsgtrkEvoAccountBackend"

void msgtrk_evo_account_type_register (GTypeModule *type_module);

G_END_DECLS
