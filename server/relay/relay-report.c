/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-report.c: the reports msgtrk-relay writes about a queued message (contract:
 * relay-report.h): one MsgtrkReport built from the queue's recipient states, used for
 * the tracking record (message/tracking-status, RFC 3886) and for DSNs
 * (message/delivery-status, RFC 3464, where "opaque" does not exist and becomes relayed).
 *
 * Limits: none of its own (a message has at most max_recipients recipients).
 * Never: name a recipient's state other than the queue has it.
 */
#include "relay-report.h"

#include "msgtrk-private.h"

/* An RFC 5322 date in local time (Received:, DSN text). The last one made is kept for
 * its second: every Received: field of a busy second is the same text, and GLib looks
 * the local time zone up again (two stat()s and a readlink()) for each new date. */
char *
relay_format_date (gint64 unix_seconds)
{
  static GMutex lock;
  static gint64 last_seconds = G_MININT64;
  static char *last_text;
  g_autoptr (GDateTime) dt = NULL;
  char *text;

  g_mutex_lock (&lock);
  if (last_text != NULL && last_seconds == unix_seconds)
    {
      text = g_strdup (last_text);
      g_mutex_unlock (&lock);
      return text;
    }
  g_mutex_unlock (&lock);
  dt = g_date_time_new_from_unix_local (unix_seconds);
  text = msgtrk_date_format (dt);
  g_mutex_lock (&lock);
  g_free (last_text);
  last_text = g_strdup (text);
  last_seconds = unix_seconds;
  g_mutex_unlock (&lock);
  return text;
}

static GDateTime *
date_from_unix (gint64 t)
{
  return g_date_time_new_from_unix_utc (t);
}

/* The report (tracking-status or delivery-status) for @rcpts of @msg. */
MsgtrkReport *
relay_report_build (RelayConfig     *config,
                    RelayMessage    *msg,
                    MsgtrkReportKind kind,
                    GPtrArray       *rcpts)
{
  MsgtrkReport *report = msgtrk_report_new (kind);
  g_autoptr (GDateTime) arrival = date_from_unix (msg->arrival);
  gint64 retry_until = msg->arrival + config->max_queue_lifetime;

  if (msg->envid != NULL)
    msgtrk_report_set_envid (report, msg->envid);
  msgtrk_report_set_reporting_mta (report, config->hostname);
  msgtrk_report_set_arrival_date (report, arrival);

  for (guint i = 0; i < rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (rcpts, i);
      g_autoptr (MsgtrkRecipientReport) r = NULL;
      g_autoptr (GError) error = NULL;
      MsgtrkAction action;

      if (rcpt->action == MSGTRK_ACTION_NONE)
        continue;
      action = rcpt->action;
      /* RFC 3464 has no "opaque": a DSN says relayed. */
      if (action == MSGTRK_ACTION_OPAQUE && kind == MSGTRK_REPORT_KIND_DELIVERY_STATUS)
        action = MSGTRK_ACTION_RELAYED;
      r = msgtrk_recipient_report_new (rcpt->address);
      if (rcpt->orcpt != NULL)
        {
          if (g_ascii_strncasecmp (rcpt->orcpt, "rfc822;", 7) == 0)
            msgtrk_recipient_report_set_original_recipient (r, rcpt->orcpt + 7);
          else
            msgtrk_recipient_report_set_field (r, "Original-Recipient", rcpt->orcpt);
        }
      msgtrk_recipient_report_set_action (r, action);
      if (!msgtrk_recipient_report_set_status (r, rcpt->status ? rcpt->status : "4.0.0", NULL,
                                               &error))
        g_warning ("%s: bad status %s: %s", msg->id, rcpt->status, error->message);
      if (rcpt->remote_mta != NULL)
        msgtrk_recipient_report_set_remote_mta (r, rcpt->remote_mta);
      if (rcpt->diagnostic != NULL)
        msgtrk_recipient_report_set_diagnostic_code (r, rcpt->diagnostic);
      if (rcpt->last_attempt > 0)
        {
          g_autoptr (GDateTime) last = date_from_unix (rcpt->last_attempt);
          msgtrk_recipient_report_set_last_attempt_date (r, last);
        }
      if (rcpt->action == MSGTRK_ACTION_DELAYED)
        {
          g_autoptr (GDateTime) until = date_from_unix (retry_until);
          msgtrk_recipient_report_set_will_retry_until (r, until);
        }
      msgtrk_report_add_recipient (report, r);
    }
  return report;
}
