/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-track.h: one Postfix log line of a registered queue id → the tracking record of
 * its ENVID (server/common/track-store.h). The mapping (docs/postfix-follower.md):
 *
 *   status=sent, smtp (any next hop)        relayed 2.1.9, Remote-MTA, Diagnostic-Code
 *                 next hop in mtrk_next_hops transferred 2.0.0
 *   status=sent, local/virtual/lmtp/pipe     delivered (the dsn= code)
 *   status=sent (forwarded as NEWID)         expanded; NEWID registered (derived)
 *   status=sent (queued as NEWID), loopback  relayed for now; NEWID registered (derived)
 *                 (a next hop not in mtrk_next_hops; one in it: transferred)
 *   status=deferred                          delayed, Will-Retry-Until = arrival + lifetime
 *   status=bounced / expired                 failed (the dsn= code)
 *   qmgr "status=expired"                    every open recipient failed
 *
 * Each recipient has one entry per final recipient; a later line replaces it, so applying
 * the same line twice (a replay after a restart) changes nothing. The outcome of a derived
 * queue id replaces the interim entry of its parent's leg.
 *
 * Never: write a record for a queue id nobody registered; touch a record of another B.
 */
#pragma once

#include "postfix-log.h"
#include "postfix-register.h"
#include "track-store.h"

G_BEGIN_DECLS

typedef struct
{
  TrackStore *store;          /* (not owned) */
  const char *reg_dir;        /* registrations */
  const char *hostname;       /* Reporting-MTA */
  gint64 queue_lifetime;      /* seconds: maximal_queue_lifetime */
  char **mtrk_next_hops;      /* (nullable) host names that take MTRK */
  gboolean follow_loopback;   /* "queued as" on a loopback relay is this Postfix */
} PostfixTrack;

gboolean postfix_track_apply (const PostfixTrack        *track,
                              const PostfixRegistration *reg,
                              const PostfixLogEntry     *entry,
                              GError                   **error);

G_END_DECLS
