/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-client.h: the SMTP client of msgtrk-relay: one transaction to a next hop
 * (EHLO, STARTTLS, MAIL with DSN/MTRK parameters, RCPT, DATA from the queue file).
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

void      relay_client_result_clear (RelayClientResult *result);
void      relay_client_deliver      (RelayServer       *server,
                                     RelayMessage      *msg,
                                     const RelayRoute  *route,
                                     GPtrArray         *rcpts,
                                     RelayClientResult *result);

G_END_DECLS
