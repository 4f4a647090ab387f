/* SPDX-License-Identifier: GPL-3.0-or-later */
/* push-proto.h: the push channel's frames (docs/push-protocol.md), one implementation for
 * the node (push-sender.c) and the receiver (push-receiver.c).
 *
 * What: encode and parse frames (RECORD parts and ACKs), HMAC-SHA-256 over the frame
 * with the node's key, compared in constant time; the record bytes inside the parts; the
 * per-key replay window; loading a key file (owner-only, base64 on one line).
 * Limits: PUSH_MAX_DATAGRAM octets per frame, PUSH_MAX_PARTS parts per record,
 * PUSH_MAX_ACK_IDS record ids per ACK_LIST frame, keys of
 * PUSH_MIN_KEY..PUSH_MAX_KEY octets, PUSH_MAX_SKEW_MS of clock difference,
 * PUSH_REPLAY_WINDOW sequences behind the highest.
 * Never: accept a frame before its HMAC is checked; compare a MAC with memcmp; log a key,
 * B or a record body.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PUSH_MAGIC "MTP1"
#define PUSH_MAX_DATAGRAM 1200
#define PUSH_HEADER_SIZE 36
#define PUSH_MAC_SIZE 32
#define PUSH_MIN_DATAGRAM (PUSH_HEADER_SIZE + PUSH_MAC_SIZE)
#define PUSH_MAX_PAYLOAD (PUSH_MAX_DATAGRAM - PUSH_MIN_DATAGRAM)
#define PUSH_MAX_PARTS 16
#define PUSH_MAX_RECORD (PUSH_MAX_PARTS * PUSH_MAX_PAYLOAD)
#define PUSH_MAX_SKEW_MS ((gint64) 300 * 1000)
#define PUSH_REPLAY_WINDOW 1024
#define PUSH_MIN_KEY 32
#define PUSH_MAX_KEY 256
#define PUSH_MAX_KEY_FILE 1024

typedef enum
{
  PUSH_TYPE_RECORD = 1,
  PUSH_TYPE_ACK = 2,
  PUSH_TYPE_ACK_LIST = 3,
} PushType;

/* Flags of a RECORD frame: the node takes ACK_LIST frames (one ACK for many records). */
#define PUSH_FLAG_ACK_LIST 0x01
/* Record ids in one ACK_LIST frame (8 octets each in the payload). */
#define PUSH_MAX_ACK_IDS (PUSH_MAX_PAYLOAD / 8)

typedef struct
{
  PushType type;
  guint8 flags;          /* RECORD: PUSH_FLAG_ACK_LIST or 0; other types: 0 */
  guint16 key_id;
  gint64 timestamp_ms;
  guint64 sequence;
  guint64 record_id;
  guint8 part;
  guint8 parts;
  const guint8 *payload; /* (unowned) into the datagram */
  gsize payload_len;
} PushFrame;

/* Why a datagram was dropped; the order is the order of the checks. */
typedef enum
{
  PUSH_OK = 0,
  PUSH_DROP_TRUNCATED,
  PUSH_DROP_OVERSIZED,
  PUSH_DROP_MALFORMED,
  PUSH_DROP_UNKNOWN_KEY,
  PUSH_DROP_BAD_HMAC,
  PUSH_DROP_STALE,
  PUSH_DROP_REPLAYED,
  PUSH_DROP_BAD_RECORD,
  PUSH_N_RESULTS,
} PushResult;

const char *push_result_name   (PushResult     result);

gsize       push_frame_encode  (const PushFrame *frame,
                                const guint8    *key,
                                gsize            key_len,
                                guint8           out[PUSH_MAX_DATAGRAM]);
PushResult  push_frame_parse   (const guint8    *data,
                                gsize            len,
                                PushFrame       *out);
gboolean    push_frame_verify  (const guint8    *data,
                                gsize            len,
                                const guint8    *key,
                                gsize            key_len);
guint64     push_ack_list_id   (const PushFrame *frame,
                                guint            i);
gboolean    push_frame_is_fresh (const PushFrame *frame,
                                 gint64           now_ms);
guint64     push_next_sequence (guint64         *last,
                                gint64           now_us);

/* A node key made ready for HMAC once (the inner and outer pads hashed): each frame then
 * copies that state instead of starting from the key. */
typedef struct _PushMac PushMac;

PushMac    *push_mac_new       (const guint8    *key,
                                gsize            key_len);
void        push_mac_free      (PushMac         *mac);
gsize       push_mac_encode    (PushMac         *mac,
                                const PushFrame *frame,
                                guint8           out[PUSH_MAX_DATAGRAM]);
gboolean    push_mac_verify    (PushMac         *mac,
                                const guint8    *data,
                                gsize            len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PushMac, push_mac_free)

GBytes     *push_record_encode (const char      *envid,
                                const char      *authenticator,
                                gint64           expires,
                                gint64           version,
                                const char      *fields,
                                GError         **error);
gboolean    push_record_decode (const guint8    *data,
                                gsize            len,
                                char           **envid,
                                char           **authenticator,
                                gint64          *expires,
                                gint64          *version,
                                char           **fields,
                                GError         **error);

typedef struct
{
  gboolean any;
  guint64 highest;
  guint64 bitmap[PUSH_REPLAY_WINDOW / 64];
} PushReplayWindow;

gboolean    push_replay_accept (PushReplayWindow *window,
                                guint64           sequence);

guint8     *push_key_load      (const char      *path,
                                gsize           *len,
                                GError         **error);
void        push_key_free      (guint8          *key,
                                gsize            len);

G_END_DECLS
