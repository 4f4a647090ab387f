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
 * Limits: text from the log (a remote server's reply, addresses, host names) is hostile:
 * a Diagnostic-Code is made valid UTF-8 without control characters and cut at
 * POSTFIX_TRACK_MAX_DIAGNOSTIC octets; an entry with any other field over
 * MSGTRK_REPORT_MAX_FIELD_LENGTH is not recorded (MSGTRK_ERROR_LIMIT), so a record always
 * reads back.
 *
 * Never: write a record for a queue id nobody registered; touch a record of another B;
 * write a record that cannot be read back.
 */
#pragma once

#include "postfix-log.h"
#include "postfix-register.h"
#include "track-store.h"

G_BEGIN_DECLS

/** POSTFIX_TRACK_MAX_DIAGNOSTIC: octets of a Diagnostic-Code value at most (a reason is
 * cut there, at a character boundary): RFC 5321's reply line (512 octets), and small
 * enough that MSGTRK_REPORT_MAX_RECIPIENTS entries with one each stay under
 * TRACK_STORE_MAX_RECORD_SIZE (a remote server chooses its reply, up to the 2000 octets of
 * Postfix's log record). */
#define POSTFIX_TRACK_MAX_DIAGNOSTIC 512

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
