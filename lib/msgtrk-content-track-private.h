/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-content-track-private.h: the Content-Track key of Harrison's trace reciprocation
 * (draft-harrison-email-tracking-00, docs/harrison.md). Internal API: msgtrkd derives and
 * checks keys, msgtrk-relay checks a header's syntax. Not exported by libmsgtrk-1.0.so.
 *
 * What: key = "ct1." || base32 (first 16 octets of HMAC-SHA-256 (master,
 *   "msgtrk Content-Track v1" || 0x00 || ENVID)), lower-case RFC 4648 alphabet, no padding.
 * Limits: MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH for any key a relay passes on.
 * Never: log a master; compare keys with strcmp (msgtrk_content_track_key_equal).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* MSGTRK_CONTENT_TRACK_LABEL: the derivation's label (its own, apart from A's). */
#define MSGTRK_CONTENT_TRACK_LABEL "msgtrk Content-Track v1"
/* MSGTRK_CONTENT_TRACK_KEY_PREFIX: the version prefix of the keys msgtrk makes. */
#define MSGTRK_CONTENT_TRACK_KEY_PREFIX "ct1."
/* MSGTRK_CONTENT_TRACK_KEY_OCTETS: HMAC octets kept (128 bits). */
#define MSGTRK_CONTENT_TRACK_KEY_OCTETS 16
/* MSGTRK_CONTENT_TRACK_KEY_CHARS: base32 characters of 128 bits. */
#define MSGTRK_CONTENT_TRACK_KEY_CHARS 26
/* MSGTRK_CONTENT_TRACK_KEY_LENGTH: a whole key msgtrk makes. */
#define MSGTRK_CONTENT_TRACK_KEY_LENGTH (4 + MSGTRK_CONTENT_TRACK_KEY_CHARS)
/* MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH: longest key a relay honours (other vendors' keys
 * too: the draft leaves their form to the client). */
#define MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH 64
/* MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE: the largest trace record (a TRACK: mail's body of
 * Received: fields, each at most MSGTRK_TRACE_MAX_FIELD_LENGTH): what msgtrkd reads, and
 * so what a relay writes. */
#define MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE (32 * 1024)
/* MSGTRK_CONTENT_TRACK_HEADER / _SUBJECT_PREFIX: the request header, the reply's subject. */
#define MSGTRK_CONTENT_TRACK_HEADER "Content-Track"
#define MSGTRK_CONTENT_TRACK_SUBJECT_PREFIX "TRACK: "

char     *msgtrk_content_track_derive_key   (const guint8 *master,
                                             gsize         master_len,
                                             const char   *envid,
                                             GError      **error);
gboolean  msgtrk_content_track_key_is_valid (const char   *key,
                                             gssize        len);
gboolean  msgtrk_content_track_key_is_ours  (const char   *key);
gboolean  msgtrk_content_track_key_equal    (const char   *a,
                                             const char   *b);

G_END_DECLS
