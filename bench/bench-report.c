/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-report.c: how fast msgtrk_report_parse_entity() is, against a plain GMime parse.
 *
 * Generates in memory a batch of realistic documents (MTQP tracking answers with one to
 * three message/tracking-status parts, and Postfix-style DSN messages with a returned
 * Received: chain), then times (a) msgtrk_report_parse_entity() over all of them and
 * (b) g_mime_parser_construct_message() alone over the same bytes. Prints documents/s, MB/s
 * and the ratio. Usage: bench-report [N] (default 20000). No assertions on speed; it only
 * aborts if a generated document fails to parse.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "msgtrk-private.h"

#define DEFAULT_DOCUMENTS 20000
#define ROUNDS 3

static void
append_recipient (GString *out,
                  GRand   *rand,
                  guint    doc,
                  guint    part,
                  guint    r)
{
  static const char *const actions[] = { "transferred", "delivered", "delayed", "relayed" };
  const char *action = actions[g_rand_int_range (rand, 0, G_N_ELEMENTS (actions))];

  g_string_append_printf (out,
                          "\r\nOriginal-Recipient: rfc822; user%u.%u@example.org\r\n"
                          "Final-Recipient: rfc822; user%u.%u@example.org\r\n"
                          "Action: %s\r\n"
                          "Status: %s\r\n"
                          "Remote-MTA: dns; mx%u.example.org\r\n"
                          "Last-Attempt-Date: Tue, 6 Feb 2024 09:%02u:%02u +0100\r\n",
                          doc, r, doc, r, action,
                          strcmp (action, "delayed") == 0 ? "4.4.1 (connection timed out)"
                                                          : "2.0.0",
                          part + 1, (doc + r) % 60, (doc * 7 + part) % 60);
  if (strcmp (action, "delayed") == 0)
    g_string_append (out, "Will-Retry-Until: Sat, 10 Feb 2024 09:15:02 +0100\r\n"
                          "Diagnostic-Code: smtp; 421 4.4.1 mx.example.org: connection timed\r\n"
                          " out after 300 seconds while waiting for the greeting\r\n");
}

/* An MTQP answer: multipart/related with 1..3 tracking-status parts. */
static GBytes *
make_tracking (GRand *rand,
               guint  doc)
{
  GString *out = g_string_new (NULL);
  guint parts = (guint) g_rand_int_range (rand, 1, 4);

  g_string_append_printf (out,
                          "Content-Type: multipart/related; type=\"message/tracking-status\";\r\n"
                          "\tboundary=\"=-bench-%u\"\r\n\r\n",
                          doc);
  for (guint p = 0; p < parts; p++)
    {
      guint recipients = (guint) g_rand_int_range (rand, 1, 4);

      g_string_append_printf (out,
                              "--=-bench-%u\r\nContent-Type: message/tracking-status\r\n\r\n"
                              "Original-Envelope-Id: mtrk.%08X%08X@example.com\r\n"
                              "Reporting-MTA: dns; hop%u.example.net\r\n"
                              "Arrival-Date: Tue, 6 Feb 2024 09:15:%02u +0100\r\n",
                              doc, doc, g_rand_int (rand), p, doc % 60);
      for (guint r = 0; r < recipients; r++)
        append_recipient (out, rand, doc, p, r);
      g_string_append (out, "\r\n");
    }
  g_string_append_printf (out, "--=-bench-%u--\r\n", doc);
  return g_string_free_to_bytes (out);
}

/* A Postfix-style bounce with LF line ends and a returned Received: chain. */
static GBytes *
make_dsn (GRand *rand,
          guint  doc)
{
  GString *out = g_string_new (NULL);
  guint hops = (guint) g_rand_int_range (rand, 2, 7);

  g_string_append_printf (
    out,
    "Return-Path: <>\n"
    "Received: by mx.example.com (Postfix)\n\tid %05X; Mon,  5 Feb 2024 10:12:03 +0100 (CET)\n"
    "Date: Mon,  5 Feb 2024 10:12:03 +0100 (CET)\n"
    "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "To: alice@example.com\n"
    "Auto-Submitted: auto-replied\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status;\n"
    "\tboundary=\"%05X.1707124323/mx.example.com\"\n"
    "Content-Transfer-Encoding: 8bit\n"
    "Message-Id: <20240205091203.%05X@mx.example.com>\n\n"
    "This is a MIME-encapsulated message.\n\n"
    "--%05X.1707124323/mx.example.com\n"
    "Content-Description: Notification\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "This is the mail system at host mx.example.com.\n\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients. It's attached below.\n\n"
    "<bob%u@example.org>: host mx.example.org[192.0.2.25] said: 550 5.1.1\n"
    "    <bob%u@example.org>: Recipient address rejected: User unknown in virtual\n"
    "    mailbox table (in reply to RCPT TO command)\n\n"
    "--%05X.1707124323/mx.example.com\n"
    "Content-Description: Delivery report\n"
    "Content-Type: message/delivery-status\n\n"
    "Reporting-MTA: dns; mx.example.com\n"
    "X-Postfix-Queue-ID: %05X\n"
    "X-Postfix-Sender: rfc822; alice@example.com\n"
    "Arrival-Date: Mon,  5 Feb 2024 10:12:01 +0100 (CET)\n"
    "Original-Envelope-Id: mtrk.%08X@example.com\n\n"
    "Final-Recipient: rfc822; bob%u@example.org\n"
    "Original-Recipient: rfc822;bob%u@example.org\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; mx.example.org\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <bob%u@example.org>: Recipient address rejected:\n"
    "    User unknown in virtual mailbox table\n\n"
    "--%05X.1707124323/mx.example.com\n"
    "Content-Description: Undelivered Message Headers\n"
    "Content-Type: text/rfc822-headers\n\n"
    "Return-Path: <alice@example.com>\n",
    doc, doc, doc, doc, doc, doc, doc, doc, g_rand_int (rand), doc, doc, doc, doc);
  for (guint h = 0; h < hops; h++)
    g_string_append_printf (out,
                            "Received: from relay%u.example.net (relay%u.example.net "
                            "[192.0.2.%u])\n\tby relay%u.example.net (Postfix) with ESMTPS id "
                            "%05X%u\n\tfor <bob%u@example.org>; Mon,  5 Feb 2024 10:12:0%u "
                            "+0100 (CET)\n",
                            h, h, h + 10, h + 1, doc, h, doc, h % 10);
  g_string_append_printf (out,
                          "Message-ID: <%08X.%u@example.com>\n"
                          "Date: Mon, 5 Feb 2024 10:11:58 +0100\n"
                          "From: Alice <alice@example.com>\n"
                          "To: Bob <bob%u@example.org>\n"
                          "Subject: Quarterly figures %u\n\n"
                          "--%05X.1707124323/mx.example.com--\n",
                          g_rand_int (rand), doc, doc, doc, doc);
  return g_string_free_to_bytes (out);
}

/* The reference: GMime alone, no field parsing. */
static void
plain_gmime_parse (GBytes *bytes)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer (data, len);
  GMimeParser *parser = g_mime_parser_new_with_stream (stream);
  GMimeMessage *message = g_mime_parser_construct_message (parser, NULL);

  if (message == NULL)
    g_error ("GMime could not parse a generated document");
  g_object_unref (message);
  g_object_unref (parser);
  g_object_unref (stream);
}

static void
report (const char *what,
        guint       n,
        gsize       octets,
        gint64      usec)
{
  double seconds = (double) usec / 1e6;

  g_print ("  %-34s %8.3f s  %10.0f documents/s  %8.2f MB/s\n", what, seconds, n / seconds,
           (double) octets / 1e6 / seconds);
}

int
main (int    argc,
      char **argv)
{
  guint n = argc > 1 ? (guint) strtoul (argv[1], NULL, 10) : DEFAULT_DOCUMENTS;
  g_autoptr (GPtrArray) docs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GRand) rand = g_rand_new_with_seed (3886);
  gsize octets = 0;
  gint64 best_full = G_MAXINT64;
  gint64 best_plain = G_MAXINT64;
  guint n_reports = 0;

  if (n == 0)
    n = DEFAULT_DOCUMENTS;
  msgtrk_ensure_gmime ();

  for (guint i = 0; i < n; i++)
    {
      GBytes *doc = (i % 2 == 0) ? make_tracking (rand, i) : make_dsn (rand, i);

      octets += g_bytes_get_size (doc);
      g_ptr_array_add (docs, doc);
    }
  g_print ("bench-report: %u documents (half MTQP answers, half DSNs), %.2f MB, "
           "average %zu octets; best of %d rounds\n",
           n, (double) octets / 1e6, octets / n, ROUNDS);

  for (int round = 0; round < ROUNDS; round++)
    {
      gint64 start = g_get_monotonic_time ();
      gint64 elapsed;

      n_reports = 0;
      for (guint i = 0; i < docs->len; i++)
        {
          g_autoptr (GError) error = NULL;
          g_autoptr (GPtrArray) reports =
            msgtrk_report_parse_entity (g_ptr_array_index (docs, i), &error);

          if (reports == NULL)
            g_error ("document %u does not parse: %s", i, error->message);
          n_reports += reports->len;
        }
      elapsed = g_get_monotonic_time () - start;
      best_full = MIN (best_full, elapsed);

      start = g_get_monotonic_time ();
      for (guint i = 0; i < docs->len; i++)
        plain_gmime_parse (g_ptr_array_index (docs, i));
      elapsed = g_get_monotonic_time () - start;
      best_plain = MIN (best_plain, elapsed);
    }

  report ("msgtrk_report_parse_entity", n, octets, best_full);
  report ("GMime construct_message only", n, octets, best_plain);
  g_print ("  %u reports; full parse takes %.2fx the time of the GMime parse alone\n", n_reports,
           (double) best_full / (double) best_plain);
  return 0;
}
