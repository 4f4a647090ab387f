/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-tracking.h: msgtrkd's tracking model, without D-Bus.
 *
 * What: what happens to a tracked message between the D-Bus calls and the polls: Prepare's
 * checks and its new record, Committed's tracking mode, Aborted, ImportUrl's delegated
 * record, IngestReport's matching and storing, the results of MTQP polls, Forget; and
 * after each of them the state and summary recomputed from every stored report
 * (recompute), a route snapshot when the map changed, and the events of the timeline.
 * How: a GObject over the store (and, in the daemon, the scheduler); it tells its owner of
 * a changed state or summary through a callback (the service emits StatusChanged and
 * notifies). Stored reports are parsed once per daemon run (a cache of
 * MSGTRKD_PARSED_CACHE_MESSAGES messages); the MTQP hops of each message's latest poll
 * are kept for at most MSGTRKD_ROUTE_CACHE_MESSAGES messages (older ones are read back from
 * their newest snapshot, which holds the same hops).
 * Limits: MSGTRKD_MAX_RECIPIENTS, MSGTRKD_MAX_FIELD_LENGTH, MSGTRKD_MAX_REPLY_LENGTH,
 * MSGTRKD_MAX_CAPABILITIES, checked before any work; IngestReport:
 * MSGTRK_REPORT_MAX_MESSAGE_SIZE / MSGTRK_REPORT_MAX_SIZE (<msgtrk.h>).
 * Never: see A (the keyring is the service's), block on the network, keep a copy of a
 * message across an async step (every step reads the record again).
 */
#pragma once

#include <gio/gio.h>
#include <msgtrk.h>

#include "msgtrk-states.h"
#include "msgtrkd-scheduler.h"
#include "msgtrkd-store.h"

G_BEGIN_DECLS

/** MSGTRKD_MAX_RECIPIENTS: most recipients accepted by Prepare. */
#define MSGTRKD_MAX_RECIPIENTS 1000
/** MSGTRKD_MAX_FIELD_LENGTH: longest sender, recipient, host or Message-ID (longer:
 * refused); longest subject kept (a longer one is cut at a character boundary). */
#define MSGTRKD_MAX_FIELD_LENGTH 998
/** MSGTRKD_MAX_REPLY_LENGTH: longest server reply or reason Committed/Aborted keep (a
 * longer one is cut at a character boundary, never refused: refused, the record stayed
 * "sending"). */
#define MSGTRKD_MAX_REPLY_LENGTH 4096
/** MSGTRKD_MAX_CAPABILITIES: most EHLO keywords accepted by Committed. */
#define MSGTRKD_MAX_CAPABILITIES 128
/** MSGTRKD_MAX_ABORTED_ATTEMPTS: most earlier, never-sent attempts of one message that a
 * Prepare clears away (each Prepare clears the one before, so one is the usual count). */
#define MSGTRKD_MAX_ABORTED_ATTEMPTS 16
/** MSGTRKD_PARSED_CACHE_MESSAGES: messages whose parsed reports are kept in memory. */
#define MSGTRKD_PARSED_CACHE_MESSAGES 256
/** MSGTRKD_ROUTE_CACHE_MESSAGES: messages whose latest MTQP hops are kept in memory (the
 * least recently used go first; their snapshot holds the same hops). */
#define MSGTRKD_ROUTE_CACHE_MESSAGES 1024

/* The state or the summary of @message changed (it is the stored record, after the
 * change); @old_state: the state before. Called once the change is committed (a change
 * made in a store batch waits for its commit; a rolled-back one is never told). */
typedef void (*MsgtrkdStatusChangedFunc) (const MsgtrkdMessage *message,
                                          MsgtrkMessageState    old_state,
                                          gpointer              user_data);

#define MSGTRKD_TYPE_TRACKING (msgtrkd_tracking_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkdTracking, msgtrkd_tracking, MSGTRKD, TRACKING, GObject)

MsgtrkdTracking *msgtrkd_tracking_new             (MsgtrkdStore            *store,
                                                   guint                    first_poll,
                                                   MsgtrkdStatusChangedFunc changed,
                                                   gpointer                 user_data);
void             msgtrkd_tracking_set_scheduler   (MsgtrkdTracking  *self,
                                                   MsgtrkdScheduler *scheduler);
void             msgtrkd_tracking_shutdown        (MsgtrkdTracking *self);

MsgtrkdMessage  *msgtrkd_tracking_get_message     (MsgtrkdTracking *self,
                                                   const char      *id,
                                                   GError         **error);

/* Prepare: checks and the new record (not stored yet: A comes first), then its storing. */
MsgtrkdMessage  *msgtrkd_tracking_prepare         (MsgtrkdTracking    *self,
                                                   const char         *sender,
                                                   const char * const *recipients,
                                                   const char         *message_id,
                                                   const char         *subject,
                                                   const char         *submission_host,
                                                   guint               mtrk_timeout,
                                                   GError            **error);
gboolean         msgtrkd_tracking_add_prepared    (MsgtrkdTracking      *self,
                                                   const MsgtrkdMessage *message,
                                                   GError              **error);
gboolean         msgtrkd_tracking_commit          (MsgtrkdTracking    *self,
                                                   const char         *id,
                                                   const char * const *offered,
                                                   const char         *server_reply,
                                                   GError            **error);
MsgtrkdMessage  *msgtrkd_tracking_abort           (MsgtrkdTracking *self,
                                                   const char      *id,
                                                   const char      *reason,
                                                   GError         **error);

/* ImportUrl: the delegated record (not stored yet: A comes first), then its storing. */
MsgtrkdMessage  *msgtrkd_tracking_import          (MsgtrkdTracking *self,
                                                   MsgtrkUrl       *url,
                                                   guint            mtrk_timeout);
gboolean         msgtrkd_tracking_add_imported    (MsgtrkdTracking      *self,
                                                   const MsgtrkdMessage *message,
                                                   GError              **error);

gboolean         msgtrkd_tracking_track           (MsgtrkdTracking *self,
                                                   const char      *id,
                                                   GError         **error);
char            *msgtrkd_tracking_link_server     (const MsgtrkdMessage *message,
                                                   GError              **error);
char            *msgtrkd_tracking_get_route_json  (MsgtrkdTracking *self,
                                                   const char      *id,
                                                   gboolean         with_poll_times,
                                                   GError         **error);
gboolean         msgtrkd_tracking_forget          (MsgtrkdTracking *self,
                                                   const char      *envid,
                                                   GError         **error);

/* IngestReport: the report parts of a whole message are extracted and parsed in a worker
 * thread, then matched and stored on the caller's context. The result: the ENVID of the
 * message the report is about, "" when it is about none. */
void             msgtrkd_tracking_ingest_async    (MsgtrkdTracking    *self,
                                                   GBytes             *message,
                                                   GCancellable       *cancellable,
                                                   GAsyncReadyCallback callback,
                                                   gpointer            user_data);
char            *msgtrkd_tracking_ingest_finish   (MsgtrkdTracking *self,
                                                   GAsyncResult    *result,
                                                   GError         **error);

/* The scheduler's done callback (MsgtrkdPollDoneFunc; @user_data: the model). */
gboolean         msgtrkd_tracking_set_content_track (MsgtrkdTracking *self,
                                                     const char      *envid,
                                                     const char      *key,
                                                     GError         **error);
void             msgtrkd_tracking_poll_done       (const char   *envid,
                                                   MsgtrkRoute  *route,
                                                   const GError *error,
                                                   gpointer      user_data);

void             msgtrkd_tracking_recompute       (MsgtrkdTracking *self,
                                                   const char      *envid,
                                                   gint64           polled_at,
                                                   gboolean         snapshot);
void             msgtrkd_tracking_add_event_once  (MsgtrkdTracking *self,
                                                   const char      *envid,
                                                   const char      *source,
                                                   const char      *text);
guint            msgtrkd_tracking_get_route_cache_size (MsgtrkdTracking *self);

G_END_DECLS
