/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-msgtrkd-route.c: the "sent" time of GetRoute (helper/msgtrkd/msgtrkd-route.c).
 *
 * msgtrkd_route_sent_time() at MSGTRKD_ROUTE_MAX_CLOCK_SKEW before Prepare and one second
 * past it, an arrival after the client's report, none; a link (delegated) with and without
 * an arrival; pending and aborted messages. Then the whole JSON: a DSN whose Arrival-Date
 * is a second before Committed moves "sent" to it, so no hop reads earlier than "Sent".
 */
#include "config.h"

#include <json-glib/json-glib.h>

#include "msgtrkd-route.h"

#define PREPARED 1795424400 /* 2026-11-23T09:00:00Z */

static MsgtrkdMessage *
message (const char *tracking,
         gint64      committed_at)
{
  MsgtrkdMessage *m = msgtrkd_message_new ();

  m->envid = g_strdup ("mtrk.route0001@example.org");
  m->tracking = g_strdup (tracking);
  m->prepared_at = PREPARED;
  m->committed_at = committed_at;
  m->state = g_strdup ("in-transit");
  m->summary = g_strdup ("In transit");
  m->recipients = g_new0 (char *, 2);
  m->recipients[0] = g_strdup ("ann@example.net");
  return m;
}

static void
test_sent_time (void)
{
  g_autoptr (MsgtrkdMessage) sent = message (MSGTRKD_TRACKING_MTQP, PREPARED + 3);
  g_autoptr (MsgtrkdMessage) linked = message (MSGTRKD_TRACKING_DELEGATED, 0);
  g_autoptr (MsgtrkdMessage) pending = message (MSGTRKD_TRACKING_PENDING, 0);
  g_autoptr (MsgtrkdMessage) aborted = message (MSGTRKD_TRACKING_ABORTED, 0);

  /* No evidence, or evidence after the client's report: the client's report. */
  g_assert_cmpint (msgtrkd_route_sent_time (sent, 0), ==, PREPARED + 3);
  g_assert_cmpint (msgtrkd_route_sent_time (sent, PREPARED + 3), ==, PREPARED + 3);
  g_assert_cmpint (msgtrkd_route_sent_time (sent, PREPARED + 60), ==, PREPARED + 3);
  /* The submission server's Arrival-Date, a little before: taken. */
  g_assert_cmpint (msgtrkd_route_sent_time (sent, PREPARED + 2), ==, PREPARED + 2);
  /* At the clock-skew limit and one past it. */
  g_assert_cmpint (msgtrkd_route_sent_time (sent, PREPARED - MSGTRKD_ROUTE_MAX_CLOCK_SKEW), ==,
                   PREPARED - MSGTRKD_ROUTE_MAX_CLOCK_SKEW);
  g_assert_cmpint (msgtrkd_route_sent_time (sent, PREPARED - MSGTRKD_ROUTE_MAX_CLOCK_SKEW - 1),
                   ==, PREPARED + 3);
  /* A link: the evidence or unknown. Not sent: unknown whatever a report says. */
  g_assert_cmpint (msgtrkd_route_sent_time (linked, PREPARED - 7200), ==, PREPARED - 7200);
  g_assert_cmpint (msgtrkd_route_sent_time (linked, 0), ==, 0);
  g_assert_cmpint (msgtrkd_route_sent_time (pending, PREPARED + 1), ==, 0);
  g_assert_cmpint (msgtrkd_route_sent_time (aborted, PREPARED + 1), ==, 0);
}

static const char dsn[] =
  "Reporting-MTA: dns; smtp.example.org\r\n"
  "Arrival-Date: Mon, 23 Nov 2026 09:00:02 +0000\r\n"
  "\r\n"
  "Final-Recipient: rfc822; ann@example.net\r\n"
  "Action: delivered\r\n"
  "Status: 2.0.0\r\n";

static void
test_sent_json (void)
{
  g_autoptr (MsgtrkdMessage) m = message (MSGTRKD_TRACKING_DSN, PREPARED + 3);
  g_autoptr (GPtrArray) parsed = g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_DELIVERY_STATUS,
                                                                dsn, -1, &error);
  g_autoptr (MsgtrkStatus) status = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *json = NULL;
  MsgtrkdParsedReport *p;
  JsonObject *root;

  g_assert_no_error (error);
  p = g_new0 (MsgtrkdParsedReport, 1);
  p->source = g_strdup ("dsn");
  p->received_at = PREPARED + 10;
  p->reports = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (p->reports, g_object_ref (report));
  g_ptr_array_add (parsed, p);
  status = msgtrkd_route_compute_status (m, parsed);

  json = msgtrkd_route_build_json (m, status, NULL, parsed, NULL, NULL, TRUE);
  g_assert_true (json_parser_load_from_data (parser, json, -1, NULL));
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (root, "sent"), ==, "2026-11-23T09:00:02Z");

  /* A link with the same evidence: sent from it. */
  g_free (m->tracking);
  m->tracking = g_strdup (MSGTRKD_TRACKING_DELEGATED);
  m->committed_at = 0;
  g_clear_pointer (&json, g_free);
  json = msgtrkd_route_build_json (m, status, NULL, parsed, NULL, NULL, TRUE);
  g_assert_true (json_parser_load_from_data (parser, json, -1, NULL));
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (root, "sent"), ==, "2026-11-23T09:00:02Z");

  /* A link with no evidence: null. */
  g_clear_pointer (&json, g_free);
  json = msgtrkd_route_build_json (m, NULL, NULL, NULL, NULL, NULL, TRUE);
  g_assert_true (json_parser_load_from_data (parser, json, -1, NULL));
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (json_object_get_null_member (root, "sent"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("GetRoute's sent time: the client's report, moved back to the first evidence");
  g_test_add_func ("/msgtrkd/route/sent-time", test_sent_time);
  g_test_add_func ("/msgtrkd/route/sent-json", test_sent_json);
  return g_test_run ();
}
