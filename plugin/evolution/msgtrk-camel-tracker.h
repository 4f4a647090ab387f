/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-camel-tracker.h: what the transport asks msgtrkd (org.msgtrk.Tracker1).
 *
 * What: Prepare (ENVID, authenticator B, MTRK timeout for one message), Committed (what the
 * server offered and its reply to the end of DATA) and Aborted (the send failed).
 * How: synchronous calls on the session bus (the transport runs in Camel's worker thread,
 * never on a main loop), with plain GDBus and GVariant: no gdbus-codegen types, so that
 * this provider and the Evolution module can live in one process without registering a
 * GType twice.
 * Limits: MSGTRK_CAMEL_DBUS_TIMEOUT_MS per call.
 * Never: see the secret A (msgtrkd keeps it); log the authenticator.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Longest wait for one call to msgtrkd (Prepare may wait for the keyring to unlock). */
#define MSGTRK_CAMEL_DBUS_TIMEOUT_MS 60000

#define MSGTRK_CAMEL_TRACKER_BUS_NAME "org.msgtrk.Tracker1"
#define MSGTRK_CAMEL_TRACKER_PATH "/org/msgtrk/Tracker1"
#define MSGTRK_CAMEL_TRACKER_INTERFACE "org.msgtrk.Tracker1"

gboolean msgtrk_camel_tracker_prepare   (const char         *sender,
                                         const char * const *recipients,
                                         const char         *message_id,
                                         const char         *subject,
                                         const char         *submission_host,
                                         GCancellable       *cancellable,
                                         char              **envid,
                                         char              **authenticator,
                                         guint              *timeout,
                                         GError            **error);
gboolean msgtrk_camel_tracker_committed (const char         *envid,
                                         const char * const *offered,
                                         const char         *server_reply,
                                         GCancellable       *cancellable,
                                         GError            **error);
gboolean msgtrk_camel_tracker_aborted   (const char         *envid,
                                         const char         *reason,
                                         GCancellable       *cancellable,
                                         GError            **error);
/* RequestContentTrack: the Content-Track key of a prepared message (docs/harrison.md). */
char    *msgtrk_camel_tracker_content_track (const char   *envid,
                                             GCancellable *cancellable,
                                             GError      **error);

G_END_DECLS
