/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-report-private.h: what the report files (msgtrk-report.c,
 * msgtrk-recipient-report.c, msgtrk-report-mime.c) give each other beyond the public API.
 *
 * Internal to msgtrk: not installed, not part of the documented API.
 */
#pragma once

#include <glib.h>

#include "msgtrk-report.h"

G_BEGIN_DECLS

MsgtrkRecipientReport *msgtrk_recipient_report_new_from_fields (GPtrArray             *fields);
GPtrArray             *msgtrk_recipient_report_peek_fields     (MsgtrkRecipientReport *self);
const char            *msgtrk_report_kind_to_string            (MsgtrkReportKind       kind);
void                   msgtrk_report_take_returned_headers     (MsgtrkReport          *self,
                                                                char                  *headers,
                                                                char                  *message_id);

G_END_DECLS
