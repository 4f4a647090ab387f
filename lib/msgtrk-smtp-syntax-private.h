/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-smtp-syntax-private.h: the internal half of the SMTP syntax layer
 * (msgtrk-smtp-syntax.c): character classes, the writers of the MAIL and RCPT parameters,
 * and the one path and mailbox parser (RFC 5321 section 4.1.2, RFC 6531).
 *
 * What: the parsers that are public API (xtext, ESMTP parameters, ENVID/RET/MTRK/NOTIFY/
 * ORCPT values) are declared in msgtrk-envelope.h; this header adds their writers and
 * MsgtrkSmtpPathParser, which every program that reads a MAIL or RCPT path uses.
 * Limits: see msgtrk-smtp-syntax.c; every limit is a named constant of msgtrk-envelope.h.
 * Never: does I/O; writes a value its parser would refuse.
 *
 * Internal to msgtrk (lib, servers, tests): not installed, not part of the documented API.
 */
#pragma once

#include <glib.h>

#include "msgtrk-envelope.h"
#include "msgtrk-error.h"

G_BEGIN_DECLS

/* Character classes and checks shared with msgtrk-envelope.c. */
gboolean msgtrk_smtp_is_xchar              (guchar          c);
gboolean msgtrk_smtp_is_keyword            (const char     *word,
                                            gsize           len);
gboolean msgtrk_smtp_is_atext              (char            c);
gboolean msgtrk_smtp_is_printable_ascii    (const char     *text);
gboolean msgtrk_smtp_authenticator_form_ok (const char     *text);
gboolean msgtrk_smtp_notify_is_consistent  (MsgtrkDsnNotify notify);
gboolean msgtrk_smtp_envid_received_check  (const char     *envid,
                                            GError        **error);

G_END_DECLS
