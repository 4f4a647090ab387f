/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-dsn.h: delivery status notifications (RFC 3461, RFC 3464) made by msgtrk-relay,
 * queued like any message.
 */
#pragma once

#include "relay-server.h"

G_BEGIN_DECLS

gboolean relay_dsn_send (RelayServer  *server,
                        RelayMessage *msg,
                        GPtrArray    *rcpts,
                        GError      **error);

G_END_DECLS
