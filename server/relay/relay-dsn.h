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
/* Queues a message the relay itself originates (a DSN, a Harrison TRACK: mail): from the
 * null reverse path to TO, never reported on, our Received: field above CONTENT (CRLF).
 * ID: from relay_queue_new_id(). */
gboolean relay_dsn_originate (RelayServer *server,
                              const char  *id,
                              const char  *to,
                              const char  *content,
                              gsize        len,
                              GError     **error);

G_END_DECLS
