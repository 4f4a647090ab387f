/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-status-code.h: RFC 3463 enhanced mail system status codes ("5.1.1") in words.
 *
 * What: the one table that says what a status code means to a person ("The recipient's
 * mailbox does not exist"), translated; used by the CLI, the viewer and any client that
 * shows a Status field of a DSN or tracking report.
 * How: a pure parser of the code's syntax (RFC 3463 section 2) and a static table of
 * subject.detail meanings (RFC 3463 and the later registrations of the IANA "Enumerated
 * Status Codes" registry that a user may meet), with a fallback to the subject's
 * meaning for a detail not in the table.
 * Limits: the subject and detail are at most 3 digits each (the RFC's grammar).
 * Never: allocates, does I/O, or trusts the text after the code (a comment from a remote
 * server is not looked at).
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <glib.h>

#include "msgtrk-visibility.h"

G_BEGIN_DECLS

/**
 * MSGTRK_STATUS_CODE_MAX_DIGITS:
 *
 * Most digits of the subject and of the detail of a status code (RFC 3463: 1 to 3).
 *
 * Since: 1.0
 */
#define MSGTRK_STATUS_CODE_MAX_DIGITS 3

MSGTRK_AVAILABLE_IN_ALL
gboolean    msgtrk_status_code_parse           (const char *text,
                                                guint      *code_class,
                                                guint      *subject,
                                                guint      *detail);
MSGTRK_AVAILABLE_IN_ALL
const char *msgtrk_status_code_describe        (const char *text);
MSGTRK_AVAILABLE_IN_ALL
const char *msgtrk_status_code_describe_class  (const char *text);

G_END_DECLS
