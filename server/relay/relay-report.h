/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-report.h: the reports msgtrk-relay writes about a queued message: the
 * message/tracking-status of its tracking record and the message/delivery-status of its
 * DSNs (relay_report_build), and RFC 5322 dates (relay_format_date).
 */
#pragma once

#include "relay-config.h"
#include "relay-queue.h"

G_BEGIN_DECLS

MsgtrkReport *relay_report_build  (RelayConfig     *config,
                                   RelayMessage    *msg,
                                   MsgtrkReportKind kind,
                                   GPtrArray       *rcpts);
char         *relay_format_date  (gint64           unix_seconds);

G_END_DECLS
