/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-scheduler.h: when and how msgtrkd polls MTQP.
 *
 * One timer (g_timeout_add_seconds) for the earliest next_poll_at in the store, none when
 * nothing is due: no periodic wake-ups. Due messages are grouped by submission server (host
 * and port) and tracked in batches of at most MSGTRKD_SCHEDULER_MAX_BATCH messages, with at
 * most MSGTRKD_SCHEDULER_MAX_PER_HOST batches in flight per server and
 * MSGTRKD_SCHEDULER_MAX_IN_FLIGHT in all. The store writes of a round (schedule moves, then
 * each batch's results) are store batches: one transaction each. Before a message is
 * queued, its next poll is moved along the backoff schedule (capped at its last step,
 * never past expires_at), so a crash or a slow run never makes a busy loop and a restart
 * resumes from the store.
 *
 * A batch: A of each message from the keyring (async), then one
 * msgtrk_tracker_track_batch_async() from the submission host: all due messages of one
 * server are polled in one MTQP session per server (TRACKs pipelined). Each message's
 * result (route, or error: no secret, or its first server could not answer) goes to the
 * done callback.
 *
 * Never: block the main loop, log A, keep A after a run (wiped).
 */
#pragma once

#include <msgtrk.h>

#include "msgtrkd-keyring.h"
#include "msgtrkd-store.h"

G_BEGIN_DECLS

/** MSGTRKD_SCHEDULER_MAX_PER_HOST: most batches in flight per submission server. */
#define MSGTRKD_SCHEDULER_MAX_PER_HOST 4
/** MSGTRKD_SCHEDULER_MAX_IN_FLIGHT: most batches in flight in all (every server); each
 * holds its messages' parsed answers until its tracker call ends, so this bounds memory. */
#define MSGTRKD_SCHEDULER_MAX_IN_FLIGHT 4
/** MSGTRKD_SCHEDULER_MAX_BATCH: most messages tracked in one batch (one tracker call). */
#define MSGTRKD_SCHEDULER_MAX_BATCH MSGTRK_MTQP_MAX_QUERIES
/** MSGTRKD_SCHEDULER_MAX_STEPS: most steps in a poll schedule. */
#define MSGTRKD_SCHEDULER_MAX_STEPS 32
/** MSGTRKD_SCHEDULER_MAX_INTERVAL: longest interval of a poll schedule (30 days). */
#define MSGTRKD_SCHEDULER_MAX_INTERVAL (30 * 24 * 3600)
/** MSGTRKD_SCHEDULER_STUCK_RETRY: seconds before the timer fires again for a message it
 * found due but could not move along its schedule (the store refused the write). */
#define MSGTRKD_SCHEDULER_STUCK_RETRY 10

/* The result of one run: @route (nullable) or @error (nullable) */
typedef void (*MsgtrkdPollDoneFunc) (const char   *envid,
                                     MsgtrkRoute  *route,
                                     const GError *error,
                                     gpointer      user_data);
/* Whether anything is scheduled or in flight changed */
typedef void (*MsgtrkdBusyFunc) (gboolean busy,
                                 gpointer user_data);

#define MSGTRKD_TYPE_SCHEDULER (msgtrkd_scheduler_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkdScheduler, msgtrkd_scheduler, MSGTRKD, SCHEDULER, GObject)

MsgtrkdScheduler *msgtrkd_scheduler_new          (MsgtrkdStore       *store,
                                                  MsgtrkdKeyring     *keyring,
                                                  MsgtrkMtqpClient   *client,
                                                  GArray             *schedule,
                                                  MsgtrkdPollDoneFunc done,
                                                  MsgtrkdBusyFunc     busy,
                                                  gpointer            user_data);
void              msgtrkd_scheduler_add_fixed_override (MsgtrkdScheduler *self,
                                                        const char       *name);
gboolean          msgtrkd_scheduler_parse_schedule (const char *text,
                                                    GArray    **out,
                                                    GError    **error);
gint64            msgtrkd_scheduler_next_poll    (MsgtrkdScheduler     *self,
                                                  const MsgtrkdMessage *message,
                                                  gint64                now);
void              msgtrkd_scheduler_reschedule   (MsgtrkdScheduler *self);
void              msgtrkd_scheduler_poll_now     (MsgtrkdScheduler *self,
                                                  const char       *envid);
void              msgtrkd_scheduler_cancel       (MsgtrkdScheduler *self,
                                                  const char       *envid);
gboolean          msgtrkd_scheduler_is_busy      (MsgtrkdScheduler *self);
void              msgtrkd_scheduler_shutdown     (MsgtrkdScheduler *self);
gboolean          msgtrkd_scheduler_has_runs     (MsgtrkdScheduler *self);

G_END_DECLS
