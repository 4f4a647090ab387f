/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-reports.h: incoming delivery reports (DSN) and read receipts (MDN) to msgtrkd.
 *
 * What: every message that arrives in an account's Inbox is looked at once, off the main
 * thread; if it is a report, its report parts only (libmsgtrk's msgtrk_report_extract_*)
 * go to msgtrkd's IngestReport, which merges it into the tracked message it belongs to.
 * Limits: Inboxes only (a filter that moves reports elsewhere first hides them);
 * MSGTRK_REPORT_MAX_MESSAGE_SIZE octets per message (larger ones are skipped unread);
 * MSGTRK_EVO_REPORTS_QUEUE_MAX messages waiting (more are dropped, with a log line).
 * TRACK: mails (Harrison's trace records, docs/harrison.md; Subject "TRACK:", at most
 * MSGTRK_EVO_TRACK_MAIL_MAX octets) go whole to IngestReport; one msgtrkd matched is marked
 * seen and deleted (out of the inbox view), the only change this module makes to a message.
 * Never: block the main thread; send more than the report parts (or a whole TRACK: mail)
 * over D-Bus; change a message other than a matched TRACK: mail.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* Most new messages waiting to be looked at; beyond, arrivals are skipped. */
#define MSGTRK_EVO_REPORTS_QUEUE_MAX 1000
/* Largest TRACK: mail handed to msgtrkd (its MSGTRKD_HARRISON_MAX_MESSAGE_SIZE). */
#define MSGTRK_EVO_TRACK_MAIL_MAX (64 * 1024)

void msgtrk_evo_reports_type_register (GTypeModule *type_module);

G_END_DECLS
