/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-demo.c: the offline part of the README demo.
 *
 * Makes a tracked envelope for one message (secret A, authenticator B, ENVID, the MAIL FROM
 * and RCPT TO arguments for a server that offers DSN and MTRK), then parses an MTQP
 * tracking answer and a DSN with returned headers, as they would come back, and prints what
 * msgtrk makes of them: per-recipient states, a summary line, and the Received: route.
 *
 * Never prints A: the demo shows only that it exists and its length.
 */
#include "config.h"

#include <locale.h>
#include <msgtrk.h>
#include <string.h>

static const char ehlo_reply[] = "250-submit.demo.test Hello client.demo.test\r\n"
                                 "250-PIPELINING\r\n"
                                 "250-SIZE 10240000\r\n"
                                 "250-ENHANCEDSTATUSCODES\r\n"
                                 "250-DSN\r\n"
                                 "250 MTRK\r\n";

/* What three MTQP servers answer along the route (hop 1 → hop 2 → hop 3). */
static const char *const tracking_fmt[] = {
  "Original-Envelope-Id: @ENVID@\r\n"
  "Reporting-MTA: dns; submit.demo.test\r\n"
  "Arrival-Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
  "\r\n"
  "Original-Recipient: rfc822; alice@example.net\r\n"
  "Final-Recipient: rfc822; alice@example.net\r\n"
  "Action: transferred\r\n"
  "Status: 2.0.0\r\n"
  "Remote-MTA: dns; mx.example.net\r\n"
  "Last-Attempt-Date: Mon, 23 Nov 2026 09:00:02 +0000\r\n"
  "\r\n"
  "Original-Recipient: rfc822; carol@slow.example\r\n"
  "Final-Recipient: rfc822; carol@slow.example\r\n"
  "Action: delayed\r\n"
  "Status: 4.4.1 (connection refused)\r\n"
  "Last-Attempt-Date: Mon, 23 Nov 2026 09:00:03 +0000\r\n"
  "Will-Retry-Until: Thu, 26 Nov 2026 09:00:00 +0000\r\n",

  "Original-Envelope-Id: @ENVID@\r\n"
  "Reporting-MTA: dns; mx.example.net\r\n"
  "Arrival-Date: Mon, 23 Nov 2026 09:00:02 +0000\r\n"
  "\r\n"
  "Original-Recipient: rfc822; alice@example.net\r\n"
  "Final-Recipient: rfc822; alice@example.net\r\n"
  "Action: delivered\r\n"
  "Status: 2.0.0 (delivered to mailbox)\r\n"
  "Last-Attempt-Date: Mon, 23 Nov 2026 09:00:03 +0000\r\n",
};

/* A DSN for the third recipient, as an ordinary MTA writes one (RET=HDRS). */
static const char dsn_fmt[] =
  "From: MAILER-DAEMON@submit.demo.test\r\n"
  "To: sender@demo.test\r\n"
  "Subject: Undelivered Mail Returned to Sender\r\n"
  "MIME-Version: 1.0\r\n"
  "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n"
  "\r\n"
  "--b1\r\n"
  "Content-Type: text/plain\r\n"
  "\r\n"
  "Your message could not be delivered to bob@gone.example.\r\n"
  "--b1\r\n"
  "Content-Type: message/delivery-status\r\n"
  "\r\n"
  "Reporting-MTA: dns; submit.demo.test\r\n"
  "Original-Envelope-Id: @ENVID@\r\n"
  "Arrival-Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
  "\r\n"
  "Original-Recipient: rfc822; bob@gone.example\r\n"
  "Final-Recipient: rfc822; bob@gone.example\r\n"
  "Action: failed\r\n"
  "Status: 5.1.2\r\n"
  "Diagnostic-Code: smtp; 550 5.1.2 domain gone.example does not accept mail\r\n"
  "Last-Attempt-Date: Mon, 23 Nov 2026 09:00:04 +0000\r\n"
  "--b1\r\n"
  "Content-Type: text/rfc822-headers\r\n"
  "\r\n"
  "Received: from submit.demo.test (submit.demo.test [192.0.2.10])\r\n"
  "\tby relay.demo.test with ESMTPS id 4Q2bC1; Mon, 23 Nov 2026 09:00:03 +0000\r\n"
  "Received: from laptop.demo.test (laptop.demo.test [192.0.2.99])\r\n"
  "\tby submit.demo.test with ESMTPSA id 4Q2bB7 for <bob@gone.example>;\r\n"
  "\tMon, 23 Nov 2026 09:00:00 +0000\r\n"
  "Message-ID: <demo.1@demo.test>\r\n"
  "Subject: Quarterly numbers\r\n"
  "\r\n"
  "--b1--\r\n";

static const char *const recipients[] = {
  "alice@example.net",
  "bob@gone.example",
  "carol@slow.example",
  NULL,
};

/* The template with every @ENVID@ replaced by @envid. */
static char *
fill_envid (const char *template,
            const char *envid)
{
  GString *text = g_string_new (template);

  g_string_replace (text, "@ENVID@", envid, 0);
  return g_string_free (text, FALSE);
}

static void
print_hops (GPtrArray *hops)
{
  for (guint i = 0; i < hops->len; i++)
    {
      MsgtrkHop *hop = g_ptr_array_index (hops, i);
      GDateTime *date = msgtrk_hop_get_date (hop);
      g_autofree char *when = date ? g_date_time_format_iso8601 (date) : g_strdup ("?");
      gint64 delay = msgtrk_hop_get_delay (hop);

      g_print ("    %u. %s -> %s  at %s", i + 1,
               msgtrk_hop_get_from_helo (hop) ? msgtrk_hop_get_from_helo (hop) : "?",
               msgtrk_hop_get_by_host (hop) ? msgtrk_hop_get_by_host (hop) : "?", when);
      if (delay >= 0)
        g_print ("  (+%" G_GINT64_FORMAT " s)", delay);
      g_print ("\n");
    }
}

static int
fail (const char *what, GError *error)
{
  g_printerr ("msgtrk-demo: %s: %s\n", what, error->message);
  return 1;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSecret) secret = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;
  g_autoptr (MsgtrkEnvelope) envelope = NULL;
  g_autoptr (MsgtrkStatus) status = NULL;
  g_autofree char *envid = NULL;
  g_autofree char *authenticator = NULL;
  g_autofree char *mail_arg = NULL;
  g_autofree char *caps_text = NULL;
  g_autofree char *summary = NULL;

  setlocale (LC_ALL, "");

  g_print ("== 1. A tracked envelope\n");
  secret = msgtrk_secret_generate (&error);
  if (secret == NULL)
    return fail ("secret", error);
  authenticator = msgtrk_secret_compute_authenticator (secret);
  envid = msgtrk_envid_generate ("demo.test", &error);
  if (envid == NULL)
    return fail ("ENVID", error);
  g_print ("  secret A: %d random octets (kept by the helper, never printed)\n",
           MSGTRK_SECRET_SIZE);
  g_print ("  authenticator B = base64(SHA-1(A)): %s\n", authenticator);
  g_print ("  ENVID: %s\n", envid);

  caps = msgtrk_smtp_capabilities_parse (ehlo_reply, &error);
  if (caps == NULL)
    return fail ("EHLO", error);
  caps_text = msgtrk_smtp_capabilities_to_string (caps);
  g_print ("  server %s offers: %s\n", msgtrk_smtp_capabilities_get_domain (caps), caps_text);

  envelope = msgtrk_envelope_new (envid);
  msgtrk_envelope_set_authenticator (envelope, authenticator);
  msgtrk_envelope_set_mtrk_timeout (envelope, 7 * 24 * 3600);
  msgtrk_envelope_set_ret (envelope, MSGTRK_DSN_RET_HDRS);
  msgtrk_envelope_set_notify (envelope, MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE |
                                          MSGTRK_DSN_NOTIFY_DELAY);
  mail_arg = msgtrk_envelope_build_mail_from_arg (envelope, caps, "sender@demo.test", &error);
  if (mail_arg == NULL)
    return fail ("MAIL FROM", error);
  g_print ("  MAIL FROM:%s\n", mail_arg);
  for (guint i = 0; recipients[i]; i++)
    {
      g_autofree char *rcpt_arg =
        msgtrk_envelope_build_rcpt_to_arg (envelope, caps, recipients[i], &error);

      if (rcpt_arg == NULL)
        return fail ("RCPT TO", error);
      g_print ("  RCPT TO:%s\n", rcpt_arg);
    }

  g_print ("\n== 2. Reports coming back\n");
  status = msgtrk_status_new (recipients);
  for (guint i = 0; i < G_N_ELEMENTS (tracking_fmt); i++)
    {
      g_autofree char *text = fill_envid (tracking_fmt[i], envid);
      g_autoptr (MsgtrkReport) report = NULL;

      report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, text, -1, &error);
      if (report == NULL)
        return fail ("tracking-status", error);
      g_print ("  MTQP answer from %s about %u recipient(s)\n",
               msgtrk_report_get_reporting_mta (report),
               msgtrk_report_get_recipients (report)->len);
      msgtrk_status_add_report (status, report, NULL);
    }

  {
    g_autofree char *dsn = fill_envid (dsn_fmt, envid);
    gsize dsn_len = strlen (dsn);
    g_autoptr (GBytes) bytes = g_bytes_new_take (g_steal_pointer (&dsn), dsn_len);
    g_autoptr (GPtrArray) reports = NULL;
    g_autoptr (GPtrArray) hops = NULL;
    MsgtrkReport *report;
    const char *headers;

    reports = msgtrk_report_parse_entity (bytes, &error);
    if (reports == NULL)
      return fail ("DSN", error);
    report = g_ptr_array_index (reports, 0);
    g_print ("  DSN from %s for message %s\n", msgtrk_report_get_reporting_mta (report),
             msgtrk_report_get_original_message_id (report)
               ? msgtrk_report_get_original_message_id (report)
               : "?");
    msgtrk_status_add_report (status, report, NULL);

    headers = msgtrk_report_get_returned_headers (report);
    if (headers != NULL)
      {
        hops = msgtrk_trace_parse_headers (headers, -1, &error);
        if (hops == NULL)
          return fail ("Received: chain", error);
        g_print ("  its returned headers show the route (oldest first):\n");
        print_hops (hops);
      }
  }

  g_print ("\n== 3. What the Sent folder shows\n");
  for (guint i = 0; recipients[i]; i++)
    {
      MsgtrkRecipientReport *why = msgtrk_status_get_recipient_report (status, recipients[i]);
      MsgtrkRecipientState state = msgtrk_status_get_recipient_state (status, recipients[i]);

      g_print ("  %-22s %-10s", recipients[i], msgtrk_recipient_state_to_string (state));
      if (why != NULL)
        g_print (" %s%s%s", msgtrk_recipient_report_get_status (why),
                 msgtrk_recipient_report_get_status_comment (why) ? " " : "",
                 msgtrk_recipient_report_get_status_comment (why)
                   ? msgtrk_recipient_report_get_status_comment (why)
                   : "");
      g_print ("\n");
    }
  summary = msgtrk_status_format_summary (status);
  g_print ("  Summary: %s\n", summary);
  return 0;
}
