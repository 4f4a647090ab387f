/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-deliver.h: one delivery attempt of a queued message (routing, Maildir, next hop,
 * retries, DSNs, tracking records). Called by the queue's workers through the
 * RelayDeliverFunc that relay-main.c registers.
 */
#pragma once

#include "relay-client.h"
#include "relay-server.h"

G_BEGIN_DECLS

void  relay_deliver_message (RelayServer      *server,
                            RelayClientCache *cache,
                            RelayMessage     *msg);
char *relay_deliver_hop_of  (RelayServer      *server,
                            RelayMessage     *msg);

G_END_DECLS
