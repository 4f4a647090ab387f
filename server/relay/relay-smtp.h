/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-smtp.h: the SMTP server session of msgtrk-relay (one connection, blocking I/O in
 * the listener's thread for it).
 */
#pragma once

#include "relay-server.h"

G_BEGIN_DECLS

/** RELAY_MAX_RECEIVED: Received: headers after which a message is a mail loop. */
#define RELAY_MAX_RECEIVED 50
/** RELAY_ADDRESS_MAX: longest accepted path (RFC 5321 4.5.3.1.3), brackets excluded. */
#define RELAY_ADDRESS_MAX 254

void relay_smtp_session_run (RelayServer       *server,
                             GSocketConnection *connection,
                             GCancellable      *cancellable);

G_END_DECLS
