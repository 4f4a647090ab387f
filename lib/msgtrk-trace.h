/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-trace.h: Received: trace fields (RFC 5321 section 4.4) → hops.
 *
 * The returned headers of a DSN (RET=HDRS) carry the Received: chain as the final MTA saw
 * it; each field becomes a MsgtrkHop. Fields are newest first in a header; hops are
 * returned oldest first, each with the delay since the hop before it.
 *
 * Tolerant of the real forms written by Postfix, Exim, Sendmail, Microsoft Exchange /
 * Office 365 and Gmail: a clause it cannot read is skipped, not fatal, and the raw field
 * is kept. Limits: MSGTRK_TRACE_MAX_HOPS fields, MSGTRK_TRACE_MAX_FIELD_LENGTH octets each.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <glib-object.h>

#include "msgtrk-visibility.h"

G_BEGIN_DECLS

/**
 * MSGTRK_TRACE_MAX_HOPS:
 *
 * The most `Received:` fields read from one header block; more is an error.
 *
 * Since: 1.0
 */
#define MSGTRK_TRACE_MAX_HOPS 100
/**
 * MSGTRK_TRACE_MAX_FIELD_LENGTH:
 *
 * The longest `Received:` field, in octets, unfolded; a longer one is an error.
 *
 * Since: 1.0
 */
#define MSGTRK_TRACE_MAX_FIELD_LENGTH 8192
/**
 * MSGTRK_TRACE_MAX_HEADER_SIZE:
 *
 * The largest header block read for its `Received:` fields, in octets; a larger one is an
 * error.
 *
 * Since: 1.0
 */
#define MSGTRK_TRACE_MAX_HEADER_SIZE (256 * 1024)

#define MSGTRK_TYPE_HOP (msgtrk_hop_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkHop, msgtrk_hop, MSGTRK, HOP, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkHop   *msgtrk_hop_parse_received   (const char *value,
                                          GError    **error);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_from_helo    (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_from_host    (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_from_address (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_by_host      (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_via          (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_with         (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_id           (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_for          (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
GDateTime   *msgtrk_hop_get_date         (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
gint64       msgtrk_hop_get_delay        (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean     msgtrk_hop_has_delay        (MsgtrkHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char  *msgtrk_hop_get_raw          (MsgtrkHop *self);

MSGTRK_AVAILABLE_IN_ALL
GPtrArray   *msgtrk_trace_parse_headers  (const char *headers,
                                          gssize      len,
                                          GError    **error);

G_END_DECLS
