/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-camel-settings.h: the settings of the "SMTP with tracking" transport.
 *
 * What: a CamelSettings implementing CamelNetworkSettings (host, port, security method,
 * user, SASL mechanism), so that an ESource's [Authentication] and [Security] groups reach
 * the transport exactly as they reach Evolution's own SMTP transport: switching an account
 * to this server type keeps its host, port, security and login.
 * Also: track-by-default, the account's default for the composer's "Track this message".
 * Limits: DSN options are msgtrk's GSettings (org.msgtrk dsn-notify, dsn-ret), not here.
 * Never: hold a password (Camel's session keeps those).
 */
#pragma once

#include <camel/camel.h>

G_BEGIN_DECLS

#define MSGTRK_TYPE_CAMEL_SETTINGS (msgtrk_camel_settings_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkCamelSettings, msgtrk_camel_settings, MSGTRK, CAMEL_SETTINGS,
                      CamelSettings)

G_END_DECLS
