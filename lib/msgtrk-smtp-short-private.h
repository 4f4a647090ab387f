/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-smtp-short-private.h: the short names the SMTP family of files
 * (msgtrk-smtp-syntax.c, msgtrk-smtp-capabilities.c, msgtrk-envid.c, msgtrk-envelope.c)
 * give to its error and quoting helpers.
 *
 * What: fail(), quote() and quote_len() for msgtrk_smtp_fail() and msgtrk_smtp_quote(), in
 * one place instead of a copy in each file.
 * How: macros over msgtrk-smtp-syntax-private.h.
 * Limits: for those .c files only, included last: the names are short and would clash
 * with other code (labels named fail, for one).
 * Never: included by a header.
 *
 * Internal to libmsgtrk: not installed, not part of the documented API.
 */
#pragma once

#include "msgtrk-smtp-syntax-private.h"

#define fail                 msgtrk_smtp_fail
#define quote(text)          msgtrk_smtp_quote ((text), -1)
#define quote_len(text, len) msgtrk_smtp_quote ((text), (gssize) (len))
