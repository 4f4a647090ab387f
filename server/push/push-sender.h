/* SPDX-License-Identifier: GPL-3.0-or-later */
/* push-sender.h: the node side of the push channel (docs/push-protocol.md): a durable
 * spool of records and a thread that sends them to the receiver over UDP until each is
 * acknowledged.
 *
 * push_sender_submit() returns once the record is durably in <state_dir>/push-spool; the
 * thread sends it at once and resends with backoff (PUSH_RESEND_MIN_MS doubling to
 * PUSH_RESEND_MAX_MS) until an ACK with a valid HMAC names it. Spooled records survive a
 * crash and are sent after the restart. Limits: PUSH_MAX_SPOOL records spooled;
 * PUSH_SENDER_WINDOW records in flight; spool segments of PUSH_SPOOL_SEGMENT_MAX octets,
 * written ahead with zeros PUSH_SPOOL_PREALLOC_MIN..PUSH_SPOOL_PREALLOC_MAX at a time.
 * Never: delete a spooled record without a verified ACK (or its expiry); log B or a body.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PUSH_MAX_SPOOL 100000
#define PUSH_RESEND_MIN_MS 1000
#define PUSH_RESEND_MAX_MS 60000
/* Records sent less than PUSH_RESEND_MIN_MS ago and not yet acknowledged: past it the
 * next due record waits for an ACK (or for one of them to be taken for lost), so a full
 * spool is not sent in one burst that overflows the receiver's socket buffer. */
#define PUSH_SENDER_WINDOW 512
/* A new segment of the spool log after this many octets. */
#define PUSH_SPOOL_SEGMENT_MAX (4 * 1024 * 1024)
/* Zeros written ahead of the appends (so a sync writes no inode): the first extension of
 * a segment, then doubling up to the largest, never past PUSH_SPOOL_SEGMENT_MAX. */
#define PUSH_SPOOL_PREALLOC_MIN (16 * 1024)
#define PUSH_SPOOL_PREALLOC_MAX (1024 * 1024)

typedef struct _PushSender PushSender;

PushSender *push_sender_new     (const char  *state_dir,
                                 const char  *server,
                                 guint16      key_id,
                                 const char  *key_file,
                                 GError     **error);
gboolean    push_sender_submit  (PushSender  *self,
                                 const char  *envid,
                                 const char  *authenticator,
                                 gint64       expires,
                                 gint64       version,
                                 const char  *fields,
                                 guint64     *record_id,
                                 GError     **error);
guint       push_sender_pending (PushSender  *self);
void        push_sender_free    (PushSender  *self);

G_END_DECLS
