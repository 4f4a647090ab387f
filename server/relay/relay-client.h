/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-client.h: the SMTP client of msgtrk-relay: transactions to a next hop (EHLO,
 * STARTTLS, MAIL with DSN/MTRK parameters, RCPT, DATA from the queue file; pipelined when
 * offered) over sessions a delivery worker keeps open between messages (RelayClientCache).
 */
#pragma once

#include "relay-server.h"

G_BEGIN_DECLS

typedef struct
{
  guint code;             /* 0: no answer (connection failure) */
  char *status;           /* (owned) enhanced code from the reply, or a default */
  char *diagnostic;       /* (owned) "smtp; 550 5.1.1 ..." */
} RelayRcptOutcome;

typedef struct
{
  gboolean offered_mtrk;
  gboolean offered_dsn;
  char *remote_domain;    /* (owned) the next hop's EHLO domain */
  RelayRcptOutcome *outcomes; /* one per recipient asked */
} RelayClientResult;

/* One delivery worker's session kept open to a next hop (relay-client.c). */
typedef struct _RelayClientCache RelayClientCache;

RelayClientCache *relay_client_cache_new    (RelayServer      *server);
void              relay_client_cache_free   (RelayClientCache *cache);
const char       *relay_client_cache_hop    (RelayClientCache *cache,
                                             gint64           *until);
void              relay_client_cache_expire (RelayClientCache *cache);

void      relay_client_result_clear (RelayClientResult *result);
void      relay_client_deliver      (RelayServer       *server,
                                     RelayClientCache  *cache,
                                     RelayMessage      *msg,
                                     const RelayRoute  *route,
                                     GPtrArray         *rcpts,
                                     RelayClientResult *result);

G_END_DECLS
