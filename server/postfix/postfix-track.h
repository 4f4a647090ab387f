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
 * the same line twice (a replay after a restart) changes nothing. Lines are applied to a
 * batch (PostfixTrackBatch: each ENVID's record loaded once, changed in memory in line
 * order) and each changed record is stored once when the batch is flushed; the follower
 * flushes at the end of each pass over its held lines, and before that when a batch holds
 * more than POSTFIX_TRACK_BATCH_MAX_RECORDS records or POSTFIX_TRACK_BATCH_MAX_OCTETS. The outcome of a derived
 * queue id replaces the interim entry of its parent's leg.
 *
 * Limits: text from the log (a remote server's reply, addresses, host names) is hostile:
 * a Diagnostic-Code is made valid UTF-8 without control characters and cut at
 * POSTFIX_TRACK_MAX_DIAGNOSTIC octets; an entry with any other field over
 * MSGTRK_REPORT_MAX_FIELD_LENGTH is not recorded (MSGTRK_ERROR_LIMIT), so a record always
 * reads back. A record that would pass TRACK_STORE_MAX_RECORD_SIZE (many recipients with
 * long addresses, next hops and replies) is made to fit (postfix_track_fit_record): its
 * Diagnostic-Codes cut to POSTFIX_TRACK_SHORT_DIAGNOSTIC octets, then dropped with the
 * Remote-MTAs; every recipient keeps its Action and Status.
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
 * cut there, at a character boundary): RFC 5321's reply line (512 octets; a remote server
 * chooses its reply, up to the 2000 octets of Postfix's log record). With long addresses
 * and next hops, MSGTRK_REPORT_MAX_RECIPIENTS such entries can still pass
 * TRACK_STORE_MAX_RECORD_SIZE: postfix_track_fit_record. */
#define POSTFIX_TRACK_MAX_DIAGNOSTIC 512
/** POSTFIX_TRACK_SHORT_DIAGNOSTIC: octets a Diagnostic-Code is cut to in a record that
 * would not fit TRACK_STORE_MAX_RECORD_SIZE (postfix_track_fit_record's first step). */
#define POSTFIX_TRACK_SHORT_DIAGNOSTIC 64

/** POSTFIX_TRACK_BATCH_MAX_RECORDS: records a batch holds before the follower flushes it
 * (a pass over a long backlog touches many ENVIDs). */
#define POSTFIX_TRACK_BATCH_MAX_RECORDS 256
/** POSTFIX_TRACK_BATCH_MAX_OCTETS: octets of records (estimated as written) a batch holds
 * before the follower flushes it: a few records of TRACK_STORE_MAX_RECORD_SIZE. */
#define POSTFIX_TRACK_BATCH_MAX_OCTETS (16 * 1024 * 1024)

/* What postfix_track_fit_record had to do. */
typedef enum
{
  POSTFIX_TRACK_FIT_AS_IS,            /* it fitted */
  POSTFIX_TRACK_FIT_SHORT_DIAGNOSTIC, /* Diagnostic-Codes cut to the short length */
  POSTFIX_TRACK_FIT_NO_DIAGNOSTIC,    /* Diagnostic-Codes and Remote-MTAs dropped */
  POSTFIX_TRACK_FIT_TOO_LARGE,        /* still over: the store will refuse it */
} PostfixTrackFit;

typedef struct
{
  TrackStore *store;          /* (not owned) */
  const char *reg_dir;        /* registrations */
  const char *hostname;       /* Reporting-MTA */
  gint64 queue_lifetime;      /* seconds: maximal_queue_lifetime */
  char **mtrk_next_hops;      /* (nullable) host names that take MTRK */
  gboolean follow_loopback;   /* "queued as" on a loopback relay is this Postfix */
} PostfixTrack;

/* The updates of many lines, one record per ENVID, stored together (postfix-track.c). */
typedef struct _PostfixTrackBatch PostfixTrackBatch;

PostfixTrackFit postfix_track_fit_record (MsgtrkReport *report,
                                          gsize         max_size);
gboolean postfix_track_apply (const PostfixTrack        *track,
                              const PostfixRegistration *reg,
                              const PostfixLogEntry     *entry,
                              GError                   **error);

PostfixTrackBatch *postfix_track_batch_new         (const PostfixTrack *track);
void               postfix_track_batch_free        (PostfixTrackBatch *batch);
/* Applies @entry (a DELIVERY or EXPIRED line of @reg's queue id) to its record in memory.
 * MSGTRK_ERROR_NOT_FOUND: @reg is derived (a content filter's or an alias's copy) and does
 * not hold the line's recipient yet: a later line of the parent may add it; nothing was
 * changed, the caller holds the line and applies it again then (postfix-follower.c).
 * MSGTRK_ERROR_PARSE: the stored record of the ENVID is malformed (torn by a crash until
 * its writer's journal is replayed, or damaged); nothing was changed, the caller holds
 * the line a while and then drops it. */
gboolean           postfix_track_batch_apply       (PostfixTrackBatch         *batch,
                                                    const PostfixRegistration *reg,
                                                    const PostfixLogEntry     *entry,
                                                    GError                   **error);
gboolean           postfix_track_batch_flush       (PostfixTrackBatch *batch,
                                                    GError           **error);
guint              postfix_track_batch_get_records (const PostfixTrackBatch *batch);
gboolean           postfix_track_batch_is_full     (const PostfixTrackBatch *batch);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PostfixTrackBatch, postfix_track_batch_free)

G_END_DECLS
