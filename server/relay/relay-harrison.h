/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-harrison.h: Harrison's trace reciprocation in msgtrk-relay (docs/harrison.md,
 * msgtrk-relay.conf(5) [harrison]). Off unless [harrison] enabled = true.
 * Layer: above relay-queue.h (it queues its TRACK: mails like DSNs).
 */
#pragma once

#include "relay-server.h"

G_BEGIN_DECLS

/** RELAY_HARRISON_MAX_HEADER_SIZE: header octets kept while a message arrives, to find
 * Content-Track: and the Received: chain; a longer header gets no TRACK: mail. */
#define RELAY_HARRISON_MAX_HEADER_SIZE (64 * 1024)
/** RELAY_HARRISON_MAX_RECEIVED: Received: fields returned at most (the newest); above what
 * SMTP lets in (RELAY_MAX_RECEIVED plus the relay's own line), a belt for the record. */
#define RELAY_HARRISON_MAX_RECEIVED 64
/** RELAY_HARRISON_DEFAULT_MAX_PER_SENDER: TRACK: mails per reverse path per window. */
#define RELAY_HARRISON_DEFAULT_MAX_PER_SENDER 30
/** RELAY_HARRISON_MAX_PER_SENDER_LIMIT: the largest max_per_sender accepted. */
#define RELAY_HARRISON_MAX_PER_SENDER_LIMIT 10000
/** RELAY_HARRISON_DEFAULT_WINDOW: seconds of the rate window. */
#define RELAY_HARRISON_DEFAULT_WINDOW 3600
/** RELAY_HARRISON_MAX_SENDERS: reverse paths counted at once; when full (after dropping
 * expired windows) no TRACK: mail is sent: the limiter never grows without bound. */
#define RELAY_HARRISON_MAX_SENDERS 10000
/** RELAY_HARRISON_MAX_NETWORKS: own_networks entries at most. */
#define RELAY_HARRISON_MAX_NETWORKS 256

typedef struct _RelayHarrison RelayHarrison;

extern const char *const relay_harrison_keys[];

gboolean       relay_harrison_check_config (GKeyFile    *kf,
                                            GError     **error);
RelayHarrison *relay_harrison_new          (GKeyFile    *kf,
                                            GError     **error);
void           relay_harrison_free         (RelayHarrison *self);

/* While DATA arrives: keep header lines (NULL @headers: nothing is kept). */
GString       *relay_harrison_headers_new  (RelayHarrison *self);
void           relay_harrison_header_line  (GString    *headers,
                                            const char *text,
                                            gsize       len);

/* Counts one TRACK: mail for @sender at @now; FALSE when over its rate or when the table
 * of RELAY_HARRISON_MAX_SENDERS is full (exposed for tests/relay/test-relay-harrison.c). */
gboolean       relay_harrison_rate_allows  (RelayHarrison *self,
                                            const char    *sender,
                                            gint64         now);

/* The message was accepted: send its trace record if asked and allowed. */
void           relay_harrison_accepted     (RelayServer  *server,
                                            const char   *peer_ip,
                                            RelayMessage *msg,
                                            const char   *own_received,
                                            GString      *headers);

G_END_DECLS
