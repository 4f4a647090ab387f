/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-report.c: tests of lib/msgtrk-report.c, msgtrk-recipient-report.c and
 * msgtrk-report-mime.c, the tracking-status / delivery-status / disposition-notification
 * parser, model and writer (the field syntax alone: test-report-syntax.c).
 *
 * Fixtures in tests/fixtures/report/: tracking-status answers (single, chained
 * multipart/related), DSNs as Postfix (LF), Exim and Sendmail (CRLF) write them, an MDN.
 * Hostile inputs are table-driven; every limit is tested at and one past it; every fixture
 * is cut at every position; the writer round-trips through the parser on random reports.
 * Never: timing assertions, network.
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "msgtrk-private.h"
#include "test-util.h"

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

static GPtrArray *
parse_fixture (const char *name,
               GError    **error)
{
  g_autofree char *path = g_build_filename ("report", name, NULL);
  g_autoptr (GBytes) bytes = mt_fixture_load (path);

  return msgtrk_report_parse_entity (bytes, error);
}

static MsgtrkRecipientReport *
recipient_at (MsgtrkReport *report,
              guint         i)
{
  GPtrArray *recipients = msgtrk_report_get_recipients (report);

  g_assert_cmpuint (i, <, recipients->len);
  return g_ptr_array_index (recipients, i);
}

static void
assert_date (GDateTime  *date,
             const char *iso8601)
{
  g_autoptr (GDateTime) expected = g_date_time_new_from_iso8601 (iso8601, NULL);

  g_assert_nonnull (expected);
  g_assert_nonnull (date);
  g_assert_true (g_date_time_equal (date, expected));
}

static void
assert_dates_equal (GDateTime *a,
                    GDateTime *b)
{
  if (a == NULL || b == NULL)
    g_assert_true (a == b);
  else
    g_assert_true (g_date_time_equal (a, b));
}

static void
assert_strv_equal (char **a,
                   char **b)
{
  g_assert_cmpuint (g_strv_length (a), ==, g_strv_length (b));
  for (guint i = 0; a[i] != NULL; i++)
    g_assert_cmpstr (a[i], ==, b[i]);
}

/* Two recipients are equal: all typed values and all fields agree. */
static void
assert_recipients_equal (MsgtrkRecipientReport *a,
                         MsgtrkRecipientReport *b)
{
  g_auto (GStrv) names_a = msgtrk_recipient_report_list_field_names (a);
  g_auto (GStrv) names_b = msgtrk_recipient_report_list_field_names (b);

  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (a), ==,
                   msgtrk_recipient_report_get_final_recipient (b));
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient_type (a), ==,
                   msgtrk_recipient_report_get_final_recipient_type (b));
  g_assert_cmpstr (msgtrk_recipient_report_get_original_recipient (a), ==,
                   msgtrk_recipient_report_get_original_recipient (b));
  g_assert_cmpint (msgtrk_recipient_report_get_action (a), ==,
                   msgtrk_recipient_report_get_action (b));
  g_assert_cmpstr (msgtrk_recipient_report_get_action_text (a), ==,
                   msgtrk_recipient_report_get_action_text (b));
  g_assert_cmpstr (msgtrk_recipient_report_get_status (a), ==,
                   msgtrk_recipient_report_get_status (b));
  g_assert_cmpstr (msgtrk_recipient_report_get_status_comment (a), ==,
                   msgtrk_recipient_report_get_status_comment (b));
  g_assert_cmpstr (msgtrk_recipient_report_get_remote_mta (a), ==,
                   msgtrk_recipient_report_get_remote_mta (b));
  g_assert_cmpstr (msgtrk_recipient_report_get_diagnostic_code (a), ==,
                   msgtrk_recipient_report_get_diagnostic_code (b));
  assert_dates_equal (msgtrk_recipient_report_get_last_attempt_date (a),
                      msgtrk_recipient_report_get_last_attempt_date (b));
  assert_dates_equal (msgtrk_recipient_report_get_will_retry_until (a),
                      msgtrk_recipient_report_get_will_retry_until (b));
  g_assert_cmpint (msgtrk_recipient_report_get_disposition (a), ==,
                   msgtrk_recipient_report_get_disposition (b));
  /* The writer puts known fields first, so compare names as sets, values by name. */
  g_assert_cmpuint (g_strv_length (names_a), ==, g_strv_length (names_b));
  for (guint i = 0; names_a[i] != NULL; i++)
    g_assert_cmpstr (msgtrk_recipient_report_get_field (a, names_a[i]), ==,
                     msgtrk_recipient_report_get_field (b, names_a[i]));
}

static void
assert_reports_equal (MsgtrkReport *a,
                      MsgtrkReport *b)
{
  GPtrArray *ra = msgtrk_report_get_recipients (a);
  GPtrArray *rb = msgtrk_report_get_recipients (b);
  g_auto (GStrv) names_a = msgtrk_report_list_field_names (a);
  g_auto (GStrv) names_b = msgtrk_report_list_field_names (b);
  g_autofree char *text_a = msgtrk_report_to_fields (a);
  g_autofree char *text_b = msgtrk_report_to_fields (b);

  g_assert_cmpstr (text_a, ==, text_b);
  g_assert_cmpstr (msgtrk_report_get_envid (a), ==, msgtrk_report_get_envid (b));
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (a), ==, msgtrk_report_get_reporting_mta (b));
  g_assert_cmpstr (msgtrk_report_get_reporting_mta_type (a), ==,
                   msgtrk_report_get_reporting_mta_type (b));
  assert_dates_equal (msgtrk_report_get_arrival_date (a), msgtrk_report_get_arrival_date (b));
  g_assert_cmpuint (g_strv_length (names_a), ==, g_strv_length (names_b));
  for (guint i = 0; names_a[i] != NULL; i++)
    g_assert_cmpstr (msgtrk_report_get_field (a, names_a[i]), ==,
                     msgtrk_report_get_field (b, names_a[i]));
  g_assert_cmpuint (ra->len, ==, rb->len);
  for (guint i = 0; i < ra->len; i++)
    assert_recipients_equal (g_ptr_array_index (ra, i), g_ptr_array_index (rb, i));
}

/* A minimal valid tracking-status text with @n recipients. */
static GString *
tracking_text (guint n)
{
  GString *text = g_string_new ("Original-Envelope-Id: env-1\r\n"
                                "Reporting-MTA: dns; mta.example.com\r\n");

  for (guint i = 0; i < n; i++)
    g_string_append_printf (text,
                            "\r\nFinal-Recipient: rfc822; r%u@example.org\r\n"
                            "Action: delivered\r\nStatus: 2.0.0\r\n",
                            i);
  return text;
}

/* ---------------------------------------------------------------------------------------
 * Model: builders, setters, getters
 * ------------------------------------------------------------------------------------- */

static void
test_model_build (void)
{
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (MsgtrkRecipientReport) rcpt = msgtrk_recipient_report_new ("bob@example.org");
  g_autoptr (GDateTime) date = g_date_time_new_from_iso8601 ("2024-02-06T09:15:02+01:00", NULL);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) names = NULL;
  const char *const expected_names[] = { "Final-Recipient", "Action", "Status", "Remote-MTA",
                                         "Last-Attempt-Date", "X-Extra", NULL };

  g_test_summary ("Setters write fields; typed getters read them back");

  g_assert_cmpint (msgtrk_report_get_kind (report), ==, MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_assert_null (msgtrk_report_get_envid (report));
  msgtrk_report_set_envid (report, "env+2B1");
  msgtrk_report_set_reporting_mta (report, "mta.example.com");
  msgtrk_report_set_arrival_date (report, date);
  g_assert_cmpstr (msgtrk_report_get_envid (report), ==, "env+2B1");
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, "mta.example.com");
  g_assert_cmpstr (msgtrk_report_get_reporting_mta_type (report), ==, "dns");
  g_assert_cmpstr (msgtrk_report_get_field (report, "reporting-mta"), ==, "dns; mta.example.com");
  assert_date (msgtrk_report_get_arrival_date (report), "2024-02-06T09:15:02+01:00");
  g_assert_null (msgtrk_report_get_reporting_ua (report));
  g_assert_null (msgtrk_report_get_returned_headers (report));
  g_assert_null (msgtrk_report_get_original_message_id (report));

  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (rcpt), ==, "bob@example.org");
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient_type (rcpt), ==, "rfc822");
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpt), ==, MSGTRK_ACTION_NONE);
  g_assert_null (msgtrk_recipient_report_get_action_text (rcpt));
  msgtrk_recipient_report_set_action (rcpt, MSGTRK_ACTION_TRANSFERRED);
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpt), ==, MSGTRK_ACTION_TRANSFERRED);
  g_assert_cmpstr (msgtrk_recipient_report_get_action_text (rcpt), ==, "transferred");
  g_assert_true (msgtrk_recipient_report_set_status (rcpt, "2.0.0", "ok (really) \\ yes", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (rcpt), ==, "2.0.0");
  g_assert_cmpstr (msgtrk_recipient_report_get_status_comment (rcpt), ==, "ok (really) \\ yes");
  g_assert_cmpstr (msgtrk_recipient_report_get_field (rcpt, "Status"), ==,
                   "2.0.0 (ok \\(really\\) \\\\ yes)");
  g_assert_cmpuint (msgtrk_recipient_report_get_status_class (rcpt), ==, 2);
  g_assert_false (msgtrk_recipient_report_set_status (rcpt, "3.0.0", NULL, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (rcpt), ==, "2.0.0");
  msgtrk_recipient_report_set_remote_mta (rcpt, "mx.example.org");
  g_assert_cmpstr (msgtrk_recipient_report_get_remote_mta (rcpt), ==, "mx.example.org");
  g_assert_cmpstr (msgtrk_recipient_report_get_field (rcpt, "Remote-MTA"), ==,
                   "dns; mx.example.org");
  msgtrk_recipient_report_set_last_attempt_date (rcpt, date);
  assert_date (msgtrk_recipient_report_get_last_attempt_date (rcpt), "2024-02-06T09:15:02+01:00");
  msgtrk_recipient_report_set_field (rcpt, "X-Extra", "one");
  msgtrk_recipient_report_set_original_recipient (rcpt, "Bob@Example.org");
  g_assert_cmpstr (msgtrk_recipient_report_get_original_recipient (rcpt), ==, "Bob@Example.org");
  msgtrk_recipient_report_set_original_recipient (rcpt, NULL);
  g_assert_null (msgtrk_recipient_report_get_original_recipient (rcpt));
  msgtrk_recipient_report_set_diagnostic_code (rcpt, "250 2.0.0 Ok");
  g_assert_cmpstr (msgtrk_recipient_report_get_diagnostic_code (rcpt), ==, "smtp; 250 2.0.0 Ok");
  msgtrk_recipient_report_set_diagnostic_code (rcpt, "x-local; all fine");
  g_assert_cmpstr (msgtrk_recipient_report_get_diagnostic_code (rcpt), ==, "x-local; all fine");
  msgtrk_recipient_report_set_diagnostic_code (rcpt, NULL);
  g_assert_null (msgtrk_recipient_report_get_diagnostic_code (rcpt));

  names = msgtrk_recipient_report_list_field_names (rcpt);
  assert_strv_equal (names, (char **) expected_names);

  msgtrk_report_add_recipient (report, rcpt);
  g_assert_cmpuint (msgtrk_report_get_recipients (report)->len, ==, 1);
  g_assert_true (recipient_at (report, 0) == rcpt);

  msgtrk_report_set_original_message_id (report, "<m1@example.com>");
  g_assert_cmpstr (msgtrk_report_get_original_message_id (report), ==, "<m1@example.com>");
  msgtrk_report_set_original_message_id (report, NULL);
  g_assert_null (msgtrk_report_get_original_message_id (report));
  msgtrk_report_set_arrival_date (report, NULL);
  g_assert_null (msgtrk_report_get_arrival_date (report));
  g_assert_null (msgtrk_report_get_field (report, "Arrival-Date"));
}

static void
test_model_set_field (void)
{
  g_autoptr (MsgtrkRecipientReport) rcpt = msgtrk_recipient_report_new ("a@example.org");
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_DELIVERY_STATUS);
  g_auto (GStrv) names = NULL;

  g_test_summary ("set_field on known fields keeps typed getters consistent; values are "
                  "normalised; extension fields replace, append and remove");

  msgtrk_recipient_report_set_field (rcpt, "STATUS", "5.1.1 (user unknown)");
  g_assert_cmpstr (msgtrk_recipient_report_get_status (rcpt), ==, "5.1.1");
  g_assert_cmpuint (msgtrk_recipient_report_get_status_class (rcpt), ==, 5);
  g_assert_cmpuint (msgtrk_recipient_report_get_status_subject (rcpt), ==, 1);
  g_assert_cmpuint (msgtrk_recipient_report_get_status_detail (rcpt), ==, 1);
  g_assert_cmpstr (msgtrk_recipient_report_get_status_comment (rcpt), ==, "user unknown");
  msgtrk_recipient_report_set_field (rcpt, "Status", "bogus");
  g_assert_null (msgtrk_recipient_report_get_status (rcpt));
  g_assert_cmpuint (msgtrk_recipient_report_get_status_class (rcpt), ==, 0);
  g_assert_cmpstr (msgtrk_recipient_report_get_field (rcpt, "status"), ==, "bogus");

  msgtrk_recipient_report_set_field (rcpt, "action", "Delivered");
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpt), ==, MSGTRK_ACTION_DELIVERED);
  msgtrk_recipient_report_set_field (rcpt, "Action", "teleported");
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpt), ==, MSGTRK_ACTION_UNKNOWN);
  g_assert_cmpstr (msgtrk_recipient_report_get_action_text (rcpt), ==, "teleported");
  msgtrk_recipient_report_set_action (rcpt, MSGTRK_ACTION_NONE);
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpt), ==, MSGTRK_ACTION_NONE);

  msgtrk_recipient_report_set_field (rcpt, "Final-Recipient", "utf-8; jörg@例え.jp");
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient_type (rcpt), ==, "utf-8");
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (rcpt), ==, "jörg@例え.jp");
  msgtrk_recipient_report_set_field (rcpt, "Final-Recipient", "no-type@example.org");
  g_assert_null (msgtrk_recipient_report_get_final_recipient_type (rcpt));
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (rcpt), ==, "no-type@example.org");

  msgtrk_recipient_report_set_field (rcpt, "Disposition",
                                     "automatic-action/MDN-sent-automatically; deleted");
  g_assert_cmpint (msgtrk_recipient_report_get_disposition (rcpt), ==,
                   MSGTRK_DISPOSITION_DELETED);
  g_assert_cmpstr (msgtrk_recipient_report_get_disposition_text (rcpt), ==, "deleted");
  msgtrk_recipient_report_set_field (rcpt, "Will-Retry-Until", "Sat, 30 Feb 2024 08:00:00 +0000");
  g_assert_null (msgtrk_recipient_report_get_will_retry_until (rcpt));

  /* Values: CR/LF and controls become spaces, whitespace trimmed. */
  msgtrk_recipient_report_set_field (rcpt, "X-Multi", "  line one\r\n line\ttwo\x01 ");
  g_assert_cmpstr (msgtrk_recipient_report_get_field (rcpt, "x-multi"), ==,
                   "line one   line\ttwo");
  msgtrk_recipient_report_set_field (rcpt, "X-Multi", "replaced");
  g_assert_cmpstr (msgtrk_recipient_report_get_field (rcpt, "X-MULTI"), ==, "replaced");
  msgtrk_recipient_report_set_field (rcpt, "X-Multi", NULL);
  g_assert_null (msgtrk_recipient_report_get_field (rcpt, "X-Multi"));

  msgtrk_report_set_field (report, "Reporting-MTA", "x-local; host-7");
  g_assert_cmpstr (msgtrk_report_get_reporting_mta_type (report), ==, "x-local");
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, "host-7");
  msgtrk_report_set_field (report, "Arrival-Date", "Tue, 6 Feb 2024 09:15:02 +0100");
  assert_date (msgtrk_report_get_arrival_date (report), "2024-02-06T09:15:02+01:00");
  msgtrk_report_set_field (report, "X-A", "1");
  msgtrk_report_set_field (report, "x-a", "2");
  g_assert_cmpstr (msgtrk_report_get_field (report, "X-A"), ==, "2");
  names = msgtrk_report_list_field_names (report);
  g_assert_cmpuint (g_strv_length (names), ==, 3);
  g_assert_cmpstr (names[2], ==, "X-A");
}

static void
test_model_action_strings (void)
{
  static const struct
  {
    const char *text;
    MsgtrkAction action;
  } cases[] = {
    { "failed", MSGTRK_ACTION_FAILED },         { "DELAYED", MSGTRK_ACTION_DELAYED },
    { " Delivered ", MSGTRK_ACTION_DELIVERED }, { "expanded", MSGTRK_ACTION_EXPANDED },
    { "relayed", MSGTRK_ACTION_RELAYED },       { "Transferred", MSGTRK_ACTION_TRANSFERRED },
    { "opaque", MSGTRK_ACTION_OPAQUE },         { "", MSGTRK_ACTION_UNKNOWN },
    { "deliver", MSGTRK_ACTION_UNKNOWN },       { NULL, MSGTRK_ACTION_NONE },
  };

  g_test_summary ("Action values parse case-insensitively; unknown text is UNKNOWN");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (msgtrk_action_from_string (cases[i].text), ==, cases[i].action);
  for (MsgtrkAction a = MSGTRK_ACTION_FAILED; a <= MSGTRK_ACTION_OPAQUE; a++)
    g_assert_cmpint (msgtrk_action_from_string (msgtrk_action_to_string (a)), ==, a);
  g_assert_null (msgtrk_action_to_string (MSGTRK_ACTION_NONE));
  g_assert_null (msgtrk_action_to_string (MSGTRK_ACTION_UNKNOWN));
}

/* ---------------------------------------------------------------------------------------
 * Fixtures
 * ------------------------------------------------------------------------------------- */

static void
test_fixture_ts_single (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = parse_fixture ("ts-single.txt", &error);
  MsgtrkReport *report;
  MsgtrkRecipientReport *bob;
  MsgtrkRecipientReport *carol;

  g_test_summary ("A bare message/tracking-status entity with two recipients");

  g_assert_no_error (error);
  g_assert_cmpuint (reports->len, ==, 1);
  report = g_ptr_array_index (reports, 0);
  g_assert_cmpint (msgtrk_report_get_kind (report), ==, MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_assert_cmpstr (msgtrk_report_get_envid (report), ==,
                   "mtrk.7Q2KX4ZJ5N3B6C8D9F0G1H2J3K@example.com");
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, "smtp.example.com");
  assert_date (msgtrk_report_get_arrival_date (report), "2024-02-06T09:15:02+01:00");
  g_assert_cmpuint (msgtrk_report_get_recipients (report)->len, ==, 2);

  bob = recipient_at (report, 0);
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (bob), ==, "bob@example.org");
  g_assert_cmpstr (msgtrk_recipient_report_get_original_recipient (bob), ==, "bob@example.org");
  g_assert_cmpint (msgtrk_recipient_report_get_action (bob), ==, MSGTRK_ACTION_TRANSFERRED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (bob), ==, "2.0.0");
  g_assert_cmpstr (msgtrk_recipient_report_get_status_comment (bob), ==,
                   "handed over to the next hop");
  g_assert_cmpstr (msgtrk_recipient_report_get_remote_mta (bob), ==, "mx1.example.org");
  g_assert_cmpstr (msgtrk_recipient_report_get_field (bob, "x-queue-id"), ==, "4TQ1Zp0Kx9z9sWn");
  g_assert_cmpint (msgtrk_recipient_report_get_disposition (bob), ==, MSGTRK_DISPOSITION_NONE);

  carol = recipient_at (report, 1);
  g_assert_cmpint (msgtrk_recipient_report_get_action (carol), ==, MSGTRK_ACTION_DELAYED);
  g_assert_cmpuint (msgtrk_recipient_report_get_status_class (carol), ==, 4);
  g_assert_cmpuint (msgtrk_recipient_report_get_status_subject (carol), ==, 4);
  g_assert_cmpuint (msgtrk_recipient_report_get_status_detail (carol), ==, 1);
  assert_date (msgtrk_recipient_report_get_will_retry_until (carol), "2024-02-10T09:15:02+01:00");
  /* Unfolded: CRLF dropped, the folding whitespace kept. */
  g_assert_cmpstr (msgtrk_recipient_report_get_diagnostic_code (carol), ==,
                   "smtp; 421 4.4.1 mx.example.net: connection timed out  after 300 seconds "
                   "while waiting for the greeting");
}

static void
test_fixture_ts_chain (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = parse_fixture ("ts-chain.txt", &error);
  const char *const mtas[] = { "smtp.example.com", "relay.example.org", "mx1.example.org" };
  const MsgtrkAction actions[] = { MSGTRK_ACTION_TRANSFERRED, MSGTRK_ACTION_TRANSFERRED,
                                   MSGTRK_ACTION_DELIVERED };
  MsgtrkRecipientReport *last;

  g_test_summary ("A chained MTQP answer: multipart/related with three tracking-status parts, "
                  "order kept");

  g_assert_no_error (error);
  g_assert_cmpuint (reports->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);

      g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, mtas[i]);
      g_assert_cmpint (msgtrk_recipient_report_get_action (recipient_at (report, 0)), ==,
                       actions[i]);
    }
  g_assert_cmpstr (msgtrk_report_get_field (g_ptr_array_index (reports, 2), "X-Vendor-Info"), ==,
                   "example tracking server 1.0");
  last = recipient_at (g_ptr_array_index (reports, 2), 0);
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (last), ==,
                   "robert@mail.example.org");
  g_assert_null (msgtrk_recipient_report_get_remote_mta (last));
}

static void
test_fixture_dsn_postfix (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = parse_fixture ("dsn-postfix.eml", &error);
  MsgtrkReport *report;
  MsgtrkRecipientReport *bob;
  const char *headers;

  g_test_summary ("A Postfix bounce (LF line ends, X-Postfix-* fields, returned headers)");

  g_assert_no_error (error);
  g_assert_cmpuint (reports->len, ==, 1);
  report = g_ptr_array_index (reports, 0);
  g_assert_cmpint (msgtrk_report_get_kind (report), ==, MSGTRK_REPORT_KIND_DELIVERY_STATUS);
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, "mx.example.com");
  g_assert_cmpstr (msgtrk_report_get_envid (report), ==,
                   "mtrk.7Q2KX4ZJ5N3B6C8D9F0G1H2J3K@example.com");
  g_assert_cmpstr (msgtrk_report_get_field (report, "X-Postfix-Queue-ID"), ==, "4F2A81C0123");
  g_assert_cmpstr (msgtrk_report_get_field (report, "x-postfix-sender"), ==,
                   "rfc822; alice@example.com");
  /* "Mon,  5 Feb 2024 10:12:01 +0100 (CET)": comment and double space are fine. */
  assert_date (msgtrk_report_get_arrival_date (report), "2024-02-05T10:12:01+01:00");

  bob = recipient_at (report, 0);
  g_assert_cmpint (msgtrk_recipient_report_get_action (bob), ==, MSGTRK_ACTION_FAILED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (bob), ==, "5.1.1");
  g_assert_null (msgtrk_recipient_report_get_status_comment (bob));
  g_assert_cmpstr (msgtrk_recipient_report_get_original_recipient (bob), ==, "bob@example.org");
  g_assert_cmpstr (msgtrk_recipient_report_get_diagnostic_code (bob), ==,
                   "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected:    User "
                   "unknown in virtual mailbox table");

  headers = msgtrk_report_get_returned_headers (report);
  g_assert_nonnull (headers);
  g_assert_true (g_str_has_prefix (headers, "Return-Path: <alice@example.com>\n"));
  g_assert_nonnull (strstr (headers, "by submit.example.com (Postfix) with ESMTPSA"));
  g_assert_cmpstr (msgtrk_report_get_original_message_id (report), ==,
                   "<d2b1f0e4-6a1c-4c1e-9a51-3f0e2c7b9a11@example.com>");
}

/* A real Postfix 3.7 SMTPUTF8 bounce (tests/postfix wrote it): RFC 6533 types
 * message/global-delivery-status and message/global-headers, utf-8 address types. */
static void
test_fixture_dsn_postfix_smtputf8 (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = parse_fixture ("dsn-postfix-smtputf8.eml", &error);
  MsgtrkReport *report;
  MsgtrkRecipientReport *rcpt;
  const char *headers;

  g_test_summary ("A Postfix SMTPUTF8 bounce: message/global-delivery-status, returned "
                  "headers in message/global-headers, the original Message-ID");

  g_assert_no_error (error);
  g_assert_cmpuint (reports->len, ==, 1);
  report = g_ptr_array_index (reports, 0);
  g_assert_cmpint (msgtrk_report_get_kind (report), ==, MSGTRK_REPORT_KIND_DELIVERY_STATUS);
  g_assert_cmpstr (msgtrk_report_get_envid (report), ==, "mtrk.utf8test@test.example");
  rcpt = recipient_at (report, 0);
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpt), ==, MSGTRK_ACTION_FAILED);
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient_type (rcpt), ==, "utf-8");
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (rcpt), ==,
                   "n\xc3\xb6" "body@test.example");

  headers = msgtrk_report_get_returned_headers (report);
  g_assert_nonnull (headers);
  g_assert_nonnull (strstr (headers, "Subject: Gr\xc3\xbc\xc3\x9f" "e\n"));
  g_assert_nonnull (strstr (headers, "with UTF8SMTP id AAE29A72B3E"));
  g_assert_cmpstr (msgtrk_report_get_original_message_id (report), ==, "<utf8.1@test.example>");
}

/* The same bounce with the whole message returned as message/global (RET=FULL). */
static void
test_fixture_dsn_smtputf8_message_global (void)
{
  g_autofree char *path = g_build_filename ("report", "dsn-postfix-smtputf8.eml", NULL);
  g_autofree char *text = mt_fixture_load_string (path);
  g_autoptr (GString) changed = g_string_new (text);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GPtrArray) reports = NULL;
  g_autoptr (GError) error = NULL;
  MsgtrkReport *report;

  g_test_summary ("An SMTPUTF8 bounce returning the whole message as message/global");

  g_assert_cmpuint (g_string_replace (changed, "Content-Type: message/global-headers",
                                      "Content-Type: message/global", 1), ==, 1);
  bytes = g_bytes_new (changed->str, changed->len);
  reports = msgtrk_report_parse_entity (bytes, &error);
  g_assert_no_error (error);
  report = g_ptr_array_index (reports, 0);
  g_assert_nonnull (msgtrk_report_get_returned_headers (report));
  g_assert_cmpstr (msgtrk_report_get_original_message_id (report), ==, "<utf8.1@test.example>");
}

static void
test_fixture_dsn_exim (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = parse_fixture ("dsn-exim.eml", &error);
  MsgtrkReport *report;
  MsgtrkRecipientReport *bob;
  const char *headers;

  g_test_summary ("An Exim bounce: Action before Final-Recipient, no space after ';', the "
                  "whole message returned as message/rfc822");

  g_assert_no_error (error);
  report = g_ptr_array_index (reports, 0);
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, "mail.example.net");
  g_assert_null (msgtrk_report_get_envid (report));
  bob = recipient_at (report, 0);
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (bob), ==, "bob@example.org");
  g_assert_cmpint (msgtrk_recipient_report_get_action (bob), ==, MSGTRK_ACTION_FAILED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (bob), ==, "5.0.0");
  g_assert_cmpstr (msgtrk_recipient_report_get_field (bob, "X-Exim-Diagnostic"), ==,
                   "X-str; 550 No such user here");
  headers = msgtrk_report_get_returned_headers (report);
  g_assert_nonnull (headers);
  g_assert_nonnull (strstr (headers, "by mail.example.net with esmtpsa"));
  g_assert_cmpstr (msgtrk_report_get_original_message_id (report), ==, "<3b7e9d2a@example.net>");
}

static void
test_fixture_dsn_sendmail (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = parse_fixture ("dsn-sendmail.eml", &error);
  MsgtrkReport *report;
  MsgtrkRecipientReport *erin;
  MsgtrkRecipientReport *frank;

  g_test_summary ("A Sendmail delay warning (CRLF, upper-case types, two recipients)");

  g_assert_no_error (error);
  report = g_ptr_array_index (reports, 0);
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, "relay.example.com");
  g_assert_cmpstr (msgtrk_report_get_field (report, "Received-From-MTA"), ==,
                   "DNS; client.example.com");
  g_assert_cmpuint (msgtrk_report_get_recipients (report)->len, ==, 2);
  erin = recipient_at (report, 0);
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient_type (erin), ==, "RFC822");
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (erin), ==,
                   "erin@slow.example.org");
  g_assert_cmpint (msgtrk_recipient_report_get_action (erin), ==, MSGTRK_ACTION_DELAYED);
  g_assert_cmpstr (msgtrk_recipient_report_get_remote_mta (erin), ==, "mx.slow.example.org");
  assert_date (msgtrk_recipient_report_get_last_attempt_date (erin), "2024-02-05T12:00:00-05:00");
  assert_date (msgtrk_recipient_report_get_will_retry_until (erin), "2024-02-10T08:00:00-05:00");
  frank = recipient_at (report, 1);
  g_assert_cmpint (msgtrk_recipient_report_get_action (frank), ==, MSGTRK_ACTION_DELIVERED);
  g_assert_cmpstr (msgtrk_report_get_original_message_id (report), ==,
                   "<202402051300.415D00ab009876@client.example.com>");
}

static void
test_fixture_mdn (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = parse_fixture ("mdn.eml", &error);
  MsgtrkReport *report;
  MsgtrkRecipientReport *joe;
  g_auto (GStrv) names = NULL;
  g_auto (GStrv) rnames = NULL;
  const char *const expected_rnames[] = { "Original-Recipient", "Final-Recipient", "Disposition",
                                          NULL };

  g_test_summary ("An MDN: per-message fields hold all its fields, one recipient holds "
                  "Original-Recipient, Final-Recipient and Disposition");

  g_assert_no_error (error);
  report = g_ptr_array_index (reports, 0);
  g_assert_cmpint (msgtrk_report_get_kind (report), ==,
                   MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION);
  g_assert_cmpstr (msgtrk_report_get_reporting_ua (report), ==,
                   "joes-pc.cs.example.com; Foomail 97.1");
  g_assert_null (msgtrk_report_get_reporting_mta (report));
  g_assert_cmpstr (msgtrk_report_get_original_message_id (report), ==,
                   "<199509192301.23456@example.org>");
  g_assert_cmpstr (msgtrk_report_get_field (report, "X-MDN-Extension"), ==, "kept as given");
  names = msgtrk_report_list_field_names (report);
  g_assert_cmpuint (g_strv_length (names), ==, 6);
  g_assert_cmpuint (msgtrk_report_get_recipients (report)->len, ==, 1);
  joe = recipient_at (report, 0);
  rnames = msgtrk_recipient_report_list_field_names (joe);
  assert_strv_equal (rnames, (char **) expected_rnames);
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (joe), ==,
                   "Joe_Recipient@example.com");
  g_assert_cmpint (msgtrk_recipient_report_get_action (joe), ==, MSGTRK_ACTION_NONE);
  g_assert_cmpint (msgtrk_recipient_report_get_disposition (joe), ==,
                   MSGTRK_DISPOSITION_DISPLAYED);
  g_assert_cmpstr (msgtrk_recipient_report_get_disposition_text (joe), ==, "displayed");
  g_assert_nonnull (strstr (msgtrk_report_get_returned_headers (report),
                            "Subject: First draft of report"));
}

/* Every fixture cut at every position: no crash, no leak; an error or a result. */
static void
test_fixture_truncated (void)
{
  const char *const names[] = { "ts-single.txt", "ts-chain.txt", "dsn-postfix.eml",
                                "dsn-postfix-smtputf8.eml", "dsn-exim.eml",
                                "dsn-sendmail.eml", "mdn.eml" };

  g_test_summary ("Every fixture cut at every octet parses or fails cleanly, as an entity and "
                  "as bare fields of each kind");

  for (guint f = 0; f < G_N_ELEMENTS (names); f++)
    {
      g_autofree char *path = g_build_filename ("report", names[f], NULL);
      g_autoptr (GBytes) bytes = mt_fixture_load (path);
      gsize len = 0;
      const char *data = g_bytes_get_data (bytes, &len);

      for (gsize cut = 0; cut <= len; cut++)
        {
          g_autoptr (GBytes) part = g_bytes_new (data, cut);
          g_autoptr (GError) error = NULL;
          g_autoptr (GPtrArray) reports = msgtrk_report_parse_entity (part, &error);

          g_assert_true ((reports == NULL) != (error == NULL));
          if (reports != NULL)
            g_assert_cmpuint (reports->len, >, 0);
          else
            g_assert_true (error->domain == MSGTRK_ERROR);

          for (MsgtrkReportKind kind = MSGTRK_REPORT_KIND_TRACKING_STATUS;
               kind <= MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION; kind++)
            {
              g_autoptr (GError) ferror = NULL;
              g_autoptr (MsgtrkReport) report =
                msgtrk_report_parse_fields (kind, data, (gssize) cut, &ferror);

              g_assert_true ((report == NULL) != (ferror == NULL));
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Hostile and edge inputs to parse_fields, as a table
 * ------------------------------------------------------------------------------------- */

#define TS_HEAD "Original-Envelope-Id: e1\r\nReporting-MTA: dns; m.example\r\n\r\n"
#define RCPT_OK "Final-Recipient: rfc822; a@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n"

typedef struct
{
  const char *name;
  MsgtrkReportKind kind;
  const char *input;
  gssize len; /* -1: strlen */
  int code;   /* -1: success, else the MsgtrkError code */
  const char *message_part;
} FieldCase;

static const FieldCase field_cases[] = {
  { "minimal", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD RCPT_OK, -1, -1, NULL },
  { "lf-only", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    "Original-Envelope-Id: e1\nReporting-MTA: dns; m\n\nFinal-Recipient: rfc822; a@b\n"
    "Action: failed\nStatus: 5.0.0\n",
    -1, -1, NULL },
  { "no-final-newline", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD "Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.0.0", -1, -1, NULL },
  { "leading-and-many-blank-lines", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    "\r\n\r\n" TS_HEAD "\r\n \r\n\t\r\n" RCPT_OK "\r\n\r\n", -1, -1, NULL },
  { "folded", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    "Original-Envelope-Id:\r\n e1\r\nReporting-MTA: dns;\r\n\tm.example\r\n\r\n"
    "Final-Recipient:\r\n rfc822;\r\n a@example.org\r\nAction:\r\n delivered\r\n"
    "Status: 2.0.0\r\n  (folded\r\n   comment)\r\n",
    -1, -1, NULL },
  { "name-case-and-space-before-colon", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    "original-envelope-id : e1\r\nREPORTING-MTA: dns; m\r\n\r\nfinal-recipient: rfc822; a@b\r\n"
    "ACTION: Delivered\r\nstatus: 2.0.0\r\n",
    -1, -1, NULL },
  { "non-ascii-value", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD "Final-Recipient: utf-8; jörg@例え.jp\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
            "X-Note: caf\xe9 latin-1\r\n",
    -1, -1, NULL },
  { "unknown-action", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD "Final-Recipient: rfc822; a@b\r\nAction: teleported\r\nStatus: 2.0.0\r\n", -1, -1,
    NULL },
  { "extension-repeated", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD RCPT_OK "X-A: 1\r\nX-A: 2\r\n", -1, -1, NULL },
  { "absurd-dates", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    "Original-Envelope-Id: e1\r\nReporting-MTA: dns; m\r\n"
    "Arrival-Date: Mon, 1 Jan 0 00:00:00 +0000\r\n\r\n" RCPT_OK
    "Last-Attempt-Date: Fri, 1 Jan 99999 00:00:00 +0000\r\n"
    "Will-Retry-Until: Fri, 30 Feb 2024 00:00:00 +0000\r\n",
    -1, -1, NULL },
  { "dsn-no-envid", MSGTRK_REPORT_KIND_DELIVERY_STATUS,
    "Reporting-MTA: dns; m\r\n\r\n" RCPT_OK, -1, -1, NULL },
  { "mdn-minimal", MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION,
    "Final-Recipient: rfc822; a@b\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n"
    "Failure: one\r\nFailure: two\r\n",
    -1, -1, NULL },
  { "mdn-modifiers-unknown-type", MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION,
    "Final-Recipient: rfc822; a@b\r\n"
    "Disposition: automatic-action / MDN-sent-automatically ; x-shredded / error\r\n",
    -1, -1, NULL },

  { "empty", MSGTRK_REPORT_KIND_TRACKING_STATUS, "", -1, MSGTRK_ERROR_PARSE, "empty" },
  { "only-blank-lines", MSGTRK_REPORT_KIND_DELIVERY_STATUS, "\r\n\n \r\n\t\n", -1,
    MSGTRK_ERROR_PARSE, "empty" },
  { "no-recipient", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD, -1, MSGTRK_ERROR_PARSE,
    "no recipient block" },
  { "missing-envid", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    "Reporting-MTA: dns; m\r\n\r\n" RCPT_OK, -1, MSGTRK_ERROR_PARSE,
    "per-message block: required field Original-Envelope-Id is missing" },
  { "missing-reporting-mta", MSGTRK_REPORT_KIND_DELIVERY_STATUS,
    "Arrival-Date: Mon, 5 Feb 2024 10:00:00 +0000\r\n\r\n" RCPT_OK, -1, MSGTRK_ERROR_PARSE,
    "required field Reporting-MTA is missing" },
  { "missing-status", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD RCPT_OK "\r\nFinal-Recipient: rfc822; b@b\r\nAction: failed\r\n", -1,
    MSGTRK_ERROR_PARSE, "recipient block 2: required field Status is missing" },
  { "missing-final-recipient", MSGTRK_REPORT_KIND_DELIVERY_STATUS,
    "Reporting-MTA: dns; m\r\n\r\nAction: failed\r\nStatus: 5.0.0\r\n", -1, MSGTRK_ERROR_PARSE,
    "required field Final-Recipient is missing" },
  { "mdn-missing-disposition", MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION,
    "Final-Recipient: rfc822; a@b\r\n", -1, MSGTRK_ERROR_PARSE,
    "required field Disposition is missing" },
  { "mdn-two-blocks", MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION,
    "Final-Recipient: rfc822; a@b\r\nDisposition: a/b; displayed\r\n\r\nX: y\r\n", -1,
    MSGTRK_ERROR_PARSE, "allows one" },
  { "mdn-bad-disposition", MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION,
    "Final-Recipient: rfc822; a@b\r\nDisposition: displayed\r\n", -1, MSGTRK_ERROR_PARSE,
    "field Disposition" },
  { "duplicate-status", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD RCPT_OK "Status: 5.0.0\r\n", -1, MSGTRK_ERROR_PARSE,
    "recipient block 1: field Status appears more than once" },
  { "duplicate-reporting-mta", MSGTRK_REPORT_KIND_DELIVERY_STATUS,
    "Reporting-MTA: dns; m\r\nreporting-mta: dns; n\r\n\r\n" RCPT_OK, -1, MSGTRK_ERROR_PARSE,
    "per-message block: field Reporting-MTA appears more than once" },
  { "bad-status-class", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD "Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 3.0.0\r\n", -1,
    MSGTRK_ERROR_PARSE, "Status" },
  { "bad-status-digits", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD "Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.1000.1\r\n", -1,
    MSGTRK_ERROR_PARSE, "Status" },
  { "bad-status-text", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD "Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.1.1x\r\n", -1,
    MSGTRK_ERROR_PARSE, "Status" },
  { "final-recipient-no-type", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD "Final-Recipient: a@b\r\nAction: failed\r\nStatus: 5.0.0\r\n", -1,
    MSGTRK_ERROR_PARSE, "Final-Recipient" },
  { "reporting-mta-empty-host", MSGTRK_REPORT_KIND_DELIVERY_STATUS,
    "Reporting-MTA: dns;\r\n\r\n" RCPT_OK, -1, MSGTRK_ERROR_PARSE, "Reporting-MTA" },
  { "empty-action", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD "Final-Recipient: rfc822; a@b\r\nAction:\r\nStatus: 5.0.0\r\n", -1,
    MSGTRK_ERROR_PARSE, "Action" },
  { "nul-byte", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD "Final-Recipient: rfc822; a\0b\r\n",
    sizeof (TS_HEAD "Final-Recipient: rfc822; a\0b\r\n") - 1, MSGTRK_ERROR_PARSE, "NUL" },
  { "control-character", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD "X-A: a\x1b[31m\r\n", -1,
    MSGTRK_ERROR_PARSE, "control character 0x1B" },
  { "bare-cr", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD "X-A: a\rb\r\n", -1,
    MSGTRK_ERROR_PARSE, "control character 0x0D" },
  { "8bit-name", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD "X-Ré: a\r\n", -1,
    MSGTRK_ERROR_PARSE, "non-ASCII octet in field name" },
  { "space-in-name", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD "X A: a\r\n", -1,
    MSGTRK_ERROR_PARSE, "space in field name" },
  { "no-colon", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD "just some text\r\n", -1,
    MSGTRK_ERROR_PARSE, "line 4: “just some text” is not a field" },
  { "empty-name", MSGTRK_REPORT_KIND_TRACKING_STATUS, TS_HEAD ": value\r\n", -1,
    MSGTRK_ERROR_PARSE, "empty name" },
  { "continuation-first", MSGTRK_REPORT_KIND_TRACKING_STATUS, " folded: first\r\n" TS_HEAD, -1,
    MSGTRK_ERROR_PARSE, "line 1: folded continuation" },
  { "continuation-after-blank", MSGTRK_REPORT_KIND_TRACKING_STATUS,
    TS_HEAD " x\r\n" RCPT_OK, -1, MSGTRK_ERROR_PARSE, "continuation" },
};

static void
test_parse_table (void)
{
  g_test_summary ("Valid variants and hostile inputs of parse_fields, table-driven");

  for (guint i = 0; i < G_N_ELEMENTS (field_cases); i++)
    {
      const FieldCase *c = &field_cases[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkReport) report = NULL;

      g_test_message ("case %s", c->name);
      report = msgtrk_report_parse_fields (c->kind, c->input, c->len, &error);
      if (c->code < 0)
        {
          g_autofree char *text = NULL;
          g_autoptr (MsgtrkReport) again = NULL;

          g_assert_no_error (error);
          g_assert_nonnull (report);
          /* Whatever parses also writes and parses back to the same. */
          text = msgtrk_report_to_fields (report);
          again = msgtrk_report_parse_fields (c->kind, text, -1, &error);
          g_assert_no_error (error);
          assert_reports_equal (report, again);
        }
      else
        {
          g_assert_error (error, MSGTRK_ERROR, c->code);
          g_assert_null (report);
          if (strstr (error->message, c->message_part) == NULL)
            g_error ("case %s: “%s” lacks “%s”", c->name, error->message, c->message_part);
        }
    }
}

static void
test_parse_details (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) folded = NULL;
  g_autoptr (MsgtrkReport) dates = NULL;
  g_autoptr (MsgtrkReport) odd = NULL;
  g_autoptr (MsgtrkReport) mdn = NULL;
  MsgtrkRecipientReport *rcpt;

  g_test_summary ("Unfolding keeps the whitespace; absurd dates give NULL with the text kept; "
                  "unknown actions keep their text; invalid UTF-8 is repaired");

  folded = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS,
                                       field_cases[4].input, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_report_get_envid (folded), ==, "e1");
  g_assert_cmpstr (msgtrk_report_get_field (folded, "Reporting-MTA"), ==, "dns;\tm.example");
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (folded), ==, "m.example");
  rcpt = recipient_at (folded, 0);
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (rcpt), ==, "a@example.org");
  g_assert_cmpstr (msgtrk_recipient_report_get_status_comment (rcpt), ==, "folded   comment");

  dates = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, field_cases[9].input,
                                      -1, &error);
  g_assert_no_error (error);
  g_assert_null (msgtrk_report_get_arrival_date (dates));
  g_assert_cmpstr (msgtrk_report_get_field (dates, "Arrival-Date"), ==,
                   "Mon, 1 Jan 0 00:00:00 +0000");
  rcpt = recipient_at (dates, 0);
  g_assert_null (msgtrk_recipient_report_get_last_attempt_date (rcpt));
  g_assert_null (msgtrk_recipient_report_get_will_retry_until (rcpt));
  g_assert_cmpstr (msgtrk_recipient_report_get_field (rcpt, "Will-Retry-Until"), ==,
                   "Fri, 30 Feb 2024 00:00:00 +0000");

  odd = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, field_cases[7].input, -1,
                                    &error);
  g_assert_no_error (error);
  rcpt = recipient_at (odd, 0);
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpt), ==, MSGTRK_ACTION_UNKNOWN);
  g_assert_cmpstr (msgtrk_recipient_report_get_action_text (rcpt), ==, "teleported");
  g_clear_object (&odd);

  odd = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, field_cases[6].input, -1,
                                    &error);
  g_assert_no_error (error);
  rcpt = recipient_at (odd, 0);
  g_assert_cmpstr (msgtrk_recipient_report_get_final_recipient (rcpt), ==, "jörg@例え.jp");
  g_assert_true (g_utf8_validate (msgtrk_recipient_report_get_field (rcpt, "X-Note"), -1, NULL));

  mdn = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION,
                                    field_cases[12].input, -1, &error);
  g_assert_no_error (error);
  rcpt = recipient_at (mdn, 0);
  g_assert_cmpint (msgtrk_recipient_report_get_disposition (rcpt), ==,
                   MSGTRK_DISPOSITION_UNKNOWN);
  g_assert_cmpstr (msgtrk_recipient_report_get_disposition_text (rcpt), ==, "x-shredded");
}

/* ---------------------------------------------------------------------------------------
 * Limits, each at the limit and one past it
 * ------------------------------------------------------------------------------------- */

static void
test_limit_field_length (void)
{
  g_test_summary ("A field of MSGTRK_REPORT_MAX_FIELD_LENGTH octets (name \": \" value) "
                  "parses, one more does not; folding does not hide the length");

  for (int extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GString) text = tracking_text (1);
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkReport) report = NULL;
      gsize value_len = MSGTRK_REPORT_MAX_FIELD_LENGTH - strlen ("X-Long: ") + (gsize) extra;

      g_string_append (text, "X-Long: ");
      for (gsize i = 0; i < value_len; i++)
        g_string_append_c (text, (i % 50 == 49) ? ' ' : 'a');
      g_string_append (text, "\r\n");
      report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, text->str,
                                           (gssize) text->len, &error);
      if (extra == 0)
        {
          g_autofree char *written = NULL;
          g_autoptr (MsgtrkReport) again = NULL;
          g_auto (GStrv) lines = NULL;

          g_assert_no_error (error);
          g_assert_cmpuint (strlen (msgtrk_recipient_report_get_field (recipient_at (report, 0),
                                                                       "X-Long")),
                            ==, value_len);
          /* Written folded, parses back at the limit. */
          written = msgtrk_report_to_fields (report);
          lines = g_strsplit (written, "\r\n", -1);
          for (guint i = 0; lines[i] != NULL; i++)
            g_assert_cmpuint (strlen (lines[i]), <=, 78);
          again = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, written, -1,
                                              &error);
          g_assert_no_error (error);
          assert_reports_equal (report, again);
        }
      else
        {
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
          g_assert_nonnull (strstr (error->message, "X-Long"));
        }
    }
}

static void
test_limit_field_length_repaired (void)
{
  g_test_summary ("The field length limit holds for the value as kept and written: invalid "
                  "UTF-8 octets become U+FFFD (three octets each) before it is measured, so "
                  "what parsed always parses again after writing (fuzz-report found a field "
                  "under the limit raw and over it once written)");

  for (int extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GString) text = tracking_text (1);
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkReport) report = NULL;
      /* 100 invalid octets (0xFF) grow by 200 when repaired. */
      gsize plain_len = MSGTRK_REPORT_MAX_FIELD_LENGTH - strlen ("X-Long: ") - 300 + (gsize) extra;

      g_string_append (text, "X-Long: ");
      for (gsize i = 0; i < plain_len; i++)
        g_string_append_c (text, (i % 50 == 49) ? ' ' : 'a');
      for (int i = 0; i < 100; i++)
        g_string_append_c (text, (char) 0xff);
      g_string_append (text, "\r\n");
      report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, text->str,
                                           (gssize) text->len, &error);
      if (extra == 0)
        {
          g_autofree char *written = NULL;
          g_autoptr (MsgtrkReport) again = NULL;
          const char *value;

          g_assert_no_error (error);
          value = msgtrk_recipient_report_get_field (recipient_at (report, 0), "X-Long");
          g_assert_cmpuint (strlen ("X-Long: ") + strlen (value), ==,
                            MSGTRK_REPORT_MAX_FIELD_LENGTH);
          g_assert_true (g_str_has_suffix (value, "\xef\xbf\xbd"));
          written = msgtrk_report_to_fields (report);
          again = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, written, -1,
                                              &error);
          g_assert_no_error (error);
          assert_reports_equal (report, again);
        }
      else
        {
          /* Raw, the field is 201 octets under the limit. */
          g_assert_cmpuint (strlen ("X-Long: ") + plain_len + 100, <, MSGTRK_REPORT_MAX_FIELD_LENGTH);
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
          g_assert_nonnull (strstr (error->message, "X-Long"));
          g_assert_nonnull (strstr (error->message, "4097 octets"));
        }
    }
}

static void
test_limit_fields (void)
{
  g_test_summary ("MSGTRK_REPORT_MAX_FIELDS fields in a block parse, one more does not");

  for (int extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GString) text = tracking_text (1);
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkReport) report = NULL;

      for (int i = 3; i < MSGTRK_REPORT_MAX_FIELDS + extra; i++)
        g_string_append_printf (text, "X-F%d: %d\r\n", i, i);
      report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, text->str, -1,
                                           &error);
      if (extra == 0)
        {
          g_auto (GStrv) names = NULL;

          g_assert_no_error (error);
          names = msgtrk_recipient_report_list_field_names (recipient_at (report, 0));
          g_assert_cmpuint (g_strv_length (names), ==, MSGTRK_REPORT_MAX_FIELDS);
        }
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
    }
}

static void
test_limit_recipients (void)
{
  g_test_summary ("MSGTRK_REPORT_MAX_RECIPIENTS recipient blocks parse, one more does not");

  for (int extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GString) text = tracking_text (MSGTRK_REPORT_MAX_RECIPIENTS + (guint) extra);
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkReport) report =
        msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, text->str, -1, &error);

      if (extra == 0)
        {
          g_assert_no_error (error);
          g_assert_cmpuint (msgtrk_report_get_recipients (report)->len, ==,
                            MSGTRK_REPORT_MAX_RECIPIENTS);
        }
      else
        {
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
          g_assert_nonnull (strstr (error->message, "recipient blocks"));
        }
    }
}

/* Valid tracking-status text of exactly @size octets (many recipients, padded). */
static GString *
tracking_text_of_size (gsize size)
{
  GString *text = tracking_text (0);
  guint n = 0;

  /* Fill with recipients of about 1600 octets each, then pad the last one. */
  while (text->len + 1700 < size)
    {
      g_string_append_printf (text,
                              "\r\nFinal-Recipient: rfc822; r%u@example.org\r\n"
                              "Action: delivered\r\nStatus: 2.0.0\r\nX-Pad: ",
                              n++);
      for (int i = 0; i < 1500; i++)
        g_string_append_c (text, 'p');
      g_string_append (text, "\r\n");
    }
  g_string_append (text, "\r\nFinal-Recipient: rfc822; last@example.org\r\n"
                         "Action: delivered\r\nStatus: 2.0.0\r\nX-Pad: ");
  g_assert_cmpuint (text->len + 3, <=, size);
  while (text->len + 2 < size)
    g_string_append_c (text, 'q');
  g_string_append (text, "\r\n");
  g_assert_cmpuint (text->len, ==, size);
  return text;
}

static void
test_limit_size (void)
{
  static const char header[] = "Content-Type: message/tracking-status\r\n\r\n";

  g_test_summary ("MSGTRK_REPORT_MAX_SIZE octets parse (fields and entity), one more does not");

  for (int extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GString) text = tracking_text_of_size (MSGTRK_REPORT_MAX_SIZE + (gsize) extra);
      g_autoptr (GString) entity_text = NULL;
      g_autoptr (GBytes) entity = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkReport) report = NULL;
      g_autoptr (GPtrArray) reports = NULL;

      report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, text->str,
                                           (gssize) text->len, &error);
      if (extra == 0)
        g_assert_no_error (error);
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
      g_clear_error (&error);

      g_string_free (text, TRUE);
      text = tracking_text_of_size (MSGTRK_REPORT_MAX_SIZE + (gsize) extra - strlen (header));
      entity_text = g_string_new (header);
      g_string_append_len (entity_text, text->str, (gssize) text->len);
      g_assert_cmpuint (entity_text->len, ==, MSGTRK_REPORT_MAX_SIZE + (gsize) extra);
      entity = g_bytes_new (entity_text->str, entity_text->len);
      reports = msgtrk_report_parse_entity (entity, &error);
      if (extra == 0)
        {
          g_assert_no_error (error);
          g_assert_cmpuint (reports->len, ==, 1);
        }
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
    }
}

static MsgtrkReport *
make_simple_report (guint i)
{
  MsgtrkReport *report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (MsgtrkRecipientReport) rcpt = msgtrk_recipient_report_new ("bob@example.org");
  g_autofree char *host = g_strdup_printf ("hop%u.example.org", i);

  msgtrk_report_set_envid (report, "env-1");
  msgtrk_report_set_reporting_mta (report, host);
  msgtrk_recipient_report_set_action (rcpt, MSGTRK_ACTION_TRANSFERRED);
  g_assert_true (msgtrk_recipient_report_set_status (rcpt, "2.0.0", NULL, NULL));
  msgtrk_report_add_recipient (report, rcpt);
  return report;
}

static void
test_limit_parts (void)
{
  g_test_summary ("An answer of MSGTRK_REPORT_MAX_PARTS parts builds and parses; one more "
                  "part is refused by both");

  for (int extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GPtrArray) reports = g_ptr_array_new_with_free_func (g_object_unref);
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) entity = NULL;
      g_autoptr (GPtrArray) parsed = NULL;
      g_autoptr (GString) text = NULL;

      for (guint i = 0; i < (guint) MSGTRK_REPORT_MAX_PARTS + (guint) extra; i++)
        g_ptr_array_add (reports, make_simple_report (i));
      entity = msgtrk_report_build_tracking_entity (reports, &error);
      if (extra == 0)
        {
          g_assert_no_error (error);
          parsed = msgtrk_report_parse_entity (entity, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (parsed->len, ==, MSGTRK_REPORT_MAX_PARTS);
          continue;
        }
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
      g_clear_error (&error);

      /* Hand-made: one part too many. */
      text = g_string_new ("Content-Type: multipart/related; type=\"message/tracking-status\"; "
                           "boundary=b\r\n\r\n");
      for (int i = 0; i < MSGTRK_REPORT_MAX_PARTS + 1; i++)
        g_string_append (text, "--b\r\nContent-Type: message/tracking-status\r\n\r\n"
                               "Original-Envelope-Id: e\r\nReporting-MTA: dns; m\r\n\r\n" RCPT_OK);
      g_string_append (text, "--b--\r\n");
      g_clear_pointer (&entity, g_bytes_unref);
      entity = g_bytes_new (text->str, text->len);
      parsed = msgtrk_report_parse_entity (entity, &error);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
      g_assert_null (parsed);
    }
}

/* ---------------------------------------------------------------------------------------
 * Entities
 * ------------------------------------------------------------------------------------- */

static void
test_entity_errors (void)
{
  static const struct
  {
    const char *input;
    int code;
    const char *message_part;
  } cases[] = {
    { "", MSGTRK_ERROR_PARSE, "empty" },
    { "Content-Type: text/plain\r\n\r\nhello\r\n", MSGTRK_ERROR_PARSE,
      "not a tracking report: content type text/plain" },
    { "Subject: no MIME at all\r\n\r\nhello\r\n", MSGTRK_ERROR_PARSE, "not a tracking report" },
    { "Content-Type: multipart/related; type=\"text/html\"; boundary=b\r\n\r\n--b\r\n\r\nx\r\n"
      "--b--\r\n",
      MSGTRK_ERROR_PARSE, "multipart/related of type “text/html”" },
    { "Content-Type: multipart/related; type=\"message/tracking-status\"; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
      MSGTRK_ERROR_PARSE, "no message/tracking-status part" },
    { "Content-Type: multipart/report; report-type=x-other; boundary=b\r\n\r\n--b\r\n\r\nx\r\n"
      "--b--\r\n",
      MSGTRK_ERROR_PARSE, "report-type “x-other”" },
    { "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n"
      "Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
      MSGTRK_ERROR_PARSE, "no message/delivery-status" },
    { "Content-Type: multipart/related; type=\"message/tracking-status\"; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: message/tracking-status\r\n\r\n" TS_HEAD RCPT_OK "--b\r\n"
      "Content-Type: message/tracking-status\r\n\r\nReporting-MTA: dns; m\r\n\r\n" RCPT_OK
      "--b--\r\n",
      MSGTRK_ERROR_PARSE, "part 2: tracking-status, per-message block: required field "
                          "Original-Envelope-Id is missing" },
    { "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; m\r\n\r\n"
      "Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.0.0\r\nStatus: 5.0.0\r\n",
      MSGTRK_ERROR_PARSE, "Status appears more than once" },
  };

  g_test_summary ("Entities that are not tracking reports, or broken ones, fail with a clear "
                  "message");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) bytes = g_bytes_new_static (cases[i].input, strlen (cases[i].input));
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) reports = msgtrk_report_parse_entity (bytes, &error);

      g_assert_null (reports);
      g_assert_error (error, MSGTRK_ERROR, cases[i].code);
      if (strstr (error->message, cases[i].message_part) == NULL)
        g_error ("case %u: “%s” lacks “%s”", i, error->message, cases[i].message_part);
    }
}

static void
test_entity_base64_part (void)
{
  static const char input[] =
    "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "UmVwb3J0aW5nLU1UQTogZG5zOyBtLmV4YW1wbGUNCg0KRmluYWwtUmVjaXBpZW50OiByZmM4MjI7\r\n"
    "IGFAZXhhbXBsZS5vcmcNCkFjdGlvbjogZGVsaXZlcmVkDQpTdGF0dXM6IDIuMC4wDQo=\r\n--b--\r\n";
  g_autoptr (GBytes) bytes = g_bytes_new_static (input, strlen (input));
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = NULL;

  g_test_summary ("A base64-encoded delivery-status part is decoded before parsing");

  reports = msgtrk_report_parse_entity (bytes, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (g_ptr_array_index (reports, 0)), ==,
                   "m.example");
  g_assert_null (msgtrk_report_get_returned_headers (g_ptr_array_index (reports, 0)));
}

/* ---------------------------------------------------------------------------------------
 * Writer and round trips
 * ------------------------------------------------------------------------------------- */

static void
test_write_canonical (void)
{
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (MsgtrkRecipientReport) rcpt = msgtrk_recipient_report_new ("bob@example.org");
  g_autoptr (GDateTime) date = g_date_time_new_utc (2024, 2, 6, 8, 15, 2);
  g_autofree char *text = NULL;
  g_autofree char *expected_date = NULL;
  g_autofree char *expected = NULL;

  g_test_summary ("The writer puts known fields in RFC order, then extensions in their order, "
                  "with CRLF, and folds long values");

  msgtrk_report_set_field (report, "X-First", "ext");
  msgtrk_report_set_arrival_date (report, date);
  msgtrk_report_set_reporting_mta (report, "mta.example.com");
  msgtrk_report_set_envid (report, "env-1");
  msgtrk_recipient_report_set_field (rcpt, "X-Hop", "3");
  g_assert_true (msgtrk_recipient_report_set_status (rcpt, "4.4.1", NULL, NULL));
  msgtrk_recipient_report_set_action (rcpt, MSGTRK_ACTION_DELAYED);
  msgtrk_recipient_report_set_original_recipient (rcpt, "bob@example.org");
  msgtrk_recipient_report_set_diagnostic_code (
    rcpt, "421 4.4.1 mx.example.net: connection timed out after 300 seconds while waiting for "
          "the greeting banner of the remote server");
  msgtrk_report_add_recipient (report, rcpt);

  text = msgtrk_report_to_fields (report);
  expected_date = msgtrk_date_format (date);
  expected = g_strdup_printf (
    "Original-Envelope-Id: env-1\r\n"
    "Reporting-MTA: dns; mta.example.com\r\n"
    "Arrival-Date: %s\r\n"
    "X-First: ext\r\n"
    "\r\n"
    "Original-Recipient: rfc822; bob@example.org\r\n"
    "Final-Recipient: rfc822; bob@example.org\r\n"
    "Action: delayed\r\n"
    "Status: 4.4.1\r\n"
    "Diagnostic-Code: smtp; 421 4.4.1 mx.example.net: connection timed out after\r\n"
    " 300 seconds while waiting for the greeting banner of the remote server\r\n"
    "X-Hop: 3\r\n",
    expected_date);
  g_assert_cmpstr (text, ==, expected);
}

static void
test_write_entity (void)
{
  g_autoptr (GPtrArray) reports = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) entity = NULL;
  g_autoptr (GPtrArray) parsed = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;
  const char *data;

  g_test_summary ("build_tracking_entity writes multipart/related; type=message/tracking-status "
                  "with CRLF only, and it parses back to equal reports; invalid reports are "
                  "refused");

  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (reports, make_simple_report (i));
  entity = msgtrk_report_build_tracking_entity (reports, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (entity, &len);
  text = g_strndup (data, len);
  g_assert_true (g_ascii_strncasecmp (text, "Content-Type: multipart/related", 31) == 0);
  g_assert_nonnull (strstr (text, "type=\"message/tracking-status\""));
  for (gsize i = 0; i < len; i++)
    {
      if (data[i] == '\n')
        g_assert_true (i > 0 && data[i - 1] == '\r');
      if (data[i] == '\r')
        g_assert_true (i + 1 < len && data[i + 1] == '\n');
    }
  parsed = msgtrk_report_parse_entity (entity, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (parsed->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    assert_reports_equal (g_ptr_array_index (reports, i), g_ptr_array_index (parsed, i));

  /* Not valid tracking-status: no Original-Envelope-Id. */
  msgtrk_report_set_envid (g_ptr_array_index (reports, 1), NULL);
  g_clear_pointer (&entity, g_bytes_unref);
  entity = msgtrk_report_build_tracking_entity (reports, &error);
  g_assert_null (entity);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, "report 2:"));
  g_clear_error (&error);

  g_ptr_array_set_size (reports, 0);
  entity = msgtrk_report_build_tracking_entity (reports, &error);
  g_assert_null (entity);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED);
}

static void
test_write_mdn (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = parse_fixture ("mdn.eml", &error);
  g_autoptr (MsgtrkReport) built = msgtrk_report_new (MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION);
  g_autoptr (MsgtrkRecipientReport) rcpt = msgtrk_recipient_report_new ("joe@example.com");
  g_autoptr (MsgtrkReport) again = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("An MDN is written as one block and parses back equal; one built with the "
                  "API takes its recipient's fields into that block");

  g_assert_no_error (error);
  text = msgtrk_report_to_fields (g_ptr_array_index (reports, 0));
  again = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION, text, -1,
                                      &error);
  g_assert_no_error (error);
  assert_reports_equal (g_ptr_array_index (reports, 0), again);
  g_clear_object (&again);
  g_clear_pointer (&text, g_free);

  msgtrk_report_set_field (built, "Reporting-UA", "ua.example.com; Tester 1");
  msgtrk_recipient_report_set_field (rcpt, "Disposition",
                                     "manual-action/MDN-sent-manually; displayed");
  msgtrk_report_add_recipient (built, rcpt);
  text = msgtrk_report_to_fields (built);
  g_assert_cmpstr (text, ==,
                   "Reporting-UA: ua.example.com; Tester 1\r\n"
                   "Final-Recipient: rfc822; joe@example.com\r\n"
                   "Disposition: manual-action/MDN-sent-manually; displayed\r\n");
  again = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION, text, -1,
                                      &error);
  g_assert_no_error (error);
  g_assert_cmpint (msgtrk_recipient_report_get_disposition (recipient_at (again, 0)), ==,
                   MSGTRK_DISPOSITION_DISPLAYED);
}

static void
test_roundtrip_fixtures (void)
{
  const char *const names[] = { "ts-single.txt", "ts-chain.txt", "dsn-postfix.eml",
                                "dsn-postfix-smtputf8.eml", "dsn-exim.eml",
                                "dsn-sendmail.eml", "mdn.eml" };

  g_test_summary ("Every fixture's reports write and parse back equal");

  for (guint f = 0; f < G_N_ELEMENTS (names); f++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) reports = parse_fixture (names[f], &error);

      g_assert_no_error (error);
      for (guint i = 0; i < reports->len; i++)
        {
          MsgtrkReport *report = g_ptr_array_index (reports, i);
          g_autofree char *text = msgtrk_report_to_fields (report);
          g_autoptr (MsgtrkReport) again =
            msgtrk_report_parse_fields (msgtrk_report_get_kind (report), text, -1, &error);

          g_assert_no_error (error);
          assert_reports_equal (report, again);
        }
    }
}

static char *
random_word (guint min,
             guint max)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                 ".-_+=/@!#$%&*';()<>\\\"";
  guint n = (guint) g_test_rand_int_range ((gint32) min, (gint32) max + 1);
  GString *word = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append_c (word, alphabet[g_test_rand_int_range (0, sizeof alphabet - 1)]);
  return g_string_free (word, FALSE);
}

/* A text of random words and whitespace, sometimes non-ASCII, sometimes long. */
static char *
random_text (void)
{
  GString *text = g_string_new (NULL);
  guint words = (guint) g_test_rand_int_range (1, g_test_rand_bit () ? 4 : 60);

  for (guint i = 0; i < words; i++)
    {
      g_autofree char *word = random_word (1, g_test_rand_int_range (0, 10) == 0 ? 120 : 12);

      if (i > 0)
        g_string_append (text, g_test_rand_int_range (0, 5) == 0 ? " \t " : " ");
      g_string_append (text, word);
      if (g_test_rand_int_range (0, 15) == 0)
        g_string_append (text, "é–日本");
    }
  return g_string_free (text, FALSE);
}

static MsgtrkReport *
random_report (void)
{
  MsgtrkReport *report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autofree char *envid = random_word (1, 100);
  g_autofree char *mta = random_word (1, 40);
  guint n = (guint) g_test_rand_int_range (1, 6);

  msgtrk_report_set_envid (report, envid);
  msgtrk_report_set_reporting_mta (report, mta);
  if (g_test_rand_bit ())
    {
      g_autoptr (GDateTime) date =
        g_date_time_new_utc (g_test_rand_int_range (1990, 2100), g_test_rand_int_range (1, 13),
                             g_test_rand_int_range (1, 29), g_test_rand_int_range (0, 24),
                             g_test_rand_int_range (0, 60), g_test_rand_int_range (0, 60));

      msgtrk_report_set_arrival_date (report, date);
    }
  for (guint e = (guint) g_test_rand_int_range (0, 4); e > 0; e--)
    {
      g_autofree char *name = g_strdup_printf ("X-Ext-%u", (guint) g_test_rand_int_range (0, 5));
      g_autofree char *value = random_text ();

      msgtrk_report_set_field (report, name, value);
    }

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *addr = random_word (1, 60);
      g_autoptr (MsgtrkRecipientReport) rcpt = msgtrk_recipient_report_new (addr);
      g_autofree char *code = g_strdup_printf ("%d.%d.%d", 2 + g_test_rand_int_range (0, 2) * 2 +
                                                             g_test_rand_int_range (0, 2),
                                               g_test_rand_int_range (0, 1000),
                                               g_test_rand_int_range (0, 1000));
      g_autofree char *comment = g_test_rand_bit () ? random_text () : NULL;

      /* The code above gives classes 2..5; keep 2, 4 and 5. */
      if (code[0] == '3')
        code[0] = '5';
      msgtrk_recipient_report_set_action (rcpt,
                                          (MsgtrkAction) g_test_rand_int_range (
                                            MSGTRK_ACTION_FAILED, MSGTRK_ACTION_OPAQUE + 1));
      g_assert_true (msgtrk_recipient_report_set_status (rcpt, code, comment, NULL));
      if (g_test_rand_bit ())
        {
          g_autofree char *remote = random_word (1, 40);

          msgtrk_recipient_report_set_remote_mta (rcpt, remote);
        }
      if (g_test_rand_bit ())
        {
          g_autofree char *orig = random_word (1, 60);

          msgtrk_recipient_report_set_original_recipient (rcpt, orig);
        }
      if (g_test_rand_bit ())
        {
          g_autofree char *diag = random_text ();

          msgtrk_recipient_report_set_diagnostic_code (rcpt, diag);
        }
      if (g_test_rand_bit ())
        {
          g_autoptr (GDateTime) date = g_date_time_new_utc (2024, 2, 6, 9, 15, 2);
          g_autoptr (GDateTime) later = g_date_time_add_seconds (date, g_test_rand_double () * 1e7);

          msgtrk_recipient_report_set_last_attempt_date (rcpt, date);
          msgtrk_recipient_report_set_will_retry_until (rcpt, later);
        }
      for (guint e = (guint) g_test_rand_int_range (0, 3); e > 0; e--)
        {
          g_autofree char *value = random_text ();
          g_autofree char *name = g_strdup_printf ("X-R%u", e);

          msgtrk_recipient_report_set_field (rcpt, name, value);
        }
      msgtrk_report_add_recipient (report, rcpt);
    }
  return report;
}

static void
test_roundtrip_random (void)
{
  g_test_summary ("Property: for random reports, build entity → parse → equal reports");

  for (guint round = 0; round < 200; round++)
    {
      g_autoptr (GPtrArray) reports = g_ptr_array_new_with_free_func (g_object_unref);
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) entity = NULL;
      g_autoptr (GPtrArray) parsed = NULL;
      guint n = (guint) g_test_rand_int_range (1, 4);

      for (guint i = 0; i < n; i++)
        g_ptr_array_add (reports, random_report ());
      entity = msgtrk_report_build_tracking_entity (reports, &error);
      g_assert_no_error (error);
      parsed = msgtrk_report_parse_entity (entity, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (parsed->len, ==, n);
      for (guint i = 0; i < n; i++)
        {
          MsgtrkReport *a = g_ptr_array_index (reports, i);
          MsgtrkReport *b = g_ptr_array_index (parsed, i);
          GPtrArray *ra = msgtrk_report_get_recipients (a);

          assert_reports_equal (a, b);
          for (guint r = 0; r < ra->len; r++)
            {
              MsgtrkRecipientReport *x = g_ptr_array_index (ra, r);
              MsgtrkRecipientReport *y = recipient_at (b, r);

              g_assert_cmpuint (msgtrk_recipient_report_get_status_class (x), ==,
                                msgtrk_recipient_report_get_status_class (y));
              g_assert_cmpuint (msgtrk_recipient_report_get_status_detail (x), ==,
                                msgtrk_recipient_report_get_status_detail (y));
              g_assert_nonnull (msgtrk_recipient_report_get_status (y));
            }
        }
    }
}

/* A field with too little white space to fold into MTQP's 998-octet lines is refused by
 * the entity writer (an error, never an over-long line); one that can fold is written. */
static void
test_write_unfoldable_line (void)
{
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (MsgtrkRecipientReport) rcpt = msgtrk_recipient_report_new ("bob@example.org");
  g_autoptr (GPtrArray) reports = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) entity = NULL;
  g_autofree char *solid = g_strnfill (1200, 'x');
  g_autoptr (GString) spaced = g_string_new (NULL);
  g_auto (GStrv) lines = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;
  const char *data;

  msgtrk_report_set_envid (report, "mtrk.fold@example.org");
  msgtrk_report_set_reporting_mta (report, "mx.example.org");
  msgtrk_recipient_report_set_action (rcpt, MSGTRK_ACTION_DELIVERED);
  g_assert_true (msgtrk_recipient_report_set_status (rcpt, "2.0.0", NULL, NULL));
  msgtrk_report_add_recipient (report, rcpt);
  g_ptr_array_add (reports, report);

  msgtrk_recipient_report_set_field (rcpt, "X-Note", solid);
  entity = msgtrk_report_build_tracking_entity (reports, &error);
  g_assert_null (entity);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);

  for (guint i = 0; i < 120; i++)
    g_string_append (spaced, "word12345 ");
  msgtrk_recipient_report_set_field (rcpt, "X-Note", spaced->str);
  entity = msgtrk_report_build_tracking_entity (reports, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (entity, &len);
  text = g_strndup (data, len);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    g_assert_cmpuint (strlen (lines[i]), <=, MSGTRK_MTQP_MAX_LINE + 1);
}

/* ---------------------------------------------------------------------------------------
 * Extracting the report from a whole message
 * ------------------------------------------------------------------------------------- */

/* A bounce as Postfix writes it with RET=FULL (LF line ends): a notification, the
 * delivery-status part, and the returned message, a multipart/mixed with a base64
 * attachment of @attachment octets. @headers_pad: octets of an X-Pad field added to the
 * returned message's header (0: none). */
static GString *
big_bounce (gsize attachment,
            gsize headers_pad)
{
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  GString *m = g_string_new (
    "Return-Path: <>\n"
    "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n"
    "To: alice@example.com\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type = delivery-status;\n"
    "\tboundary=\"B1.1707124323/mx.example.com\"\n"
    "\n"
    "This is a MIME-encapsulated message.\n"
    "\n"
    "--B1.1707124323/mx.example.com\n"
    "Content-Description: Notification\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Your message could not be delivered. It is attached below.\n"
    "\n"
    "--B1.1707124323/mx.example.com\n"
    "Content-Description: Delivery report\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.example.com\n"
    "Original-Envelope-Id: mtrk.7Q2KX4ZJ5N3B6C8D9F0G1H2J3K@example.com\n"
    "\n"
    "Final-Recipient: rfc822; bob@example.org\n"
    "Original-Recipient: rfc822;bob@example.org\n"
    "Action: failed\n"
    "Status: 5.2.2\n"
    "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
    "\n"
    "--B1.1707124323/mx.example.com\n"
    "Content-Description: Undelivered Message\n"
    "Content-Type: message/rfc822\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "Received: from submit.example.com by mx.example.com (Postfix) with ESMTPS id B1\n"
    "\tfor <bob@example.org>; Mon,  5 Feb 2024 10:12:01 +0100 (CET)\n"
    "Message-ID: <big.1@example.com>\n"
    "From: Alice <alice@example.com>\n"
    "To: Bob <bob@example.org>\n"
    "Subject: The video\n");

  if (headers_pad > 0)
    {
      g_string_append (m, "X-Pad: ");
      for (gsize i = 0; i < headers_pad; i++)
        g_string_append_c (m, 'q');
      g_string_append_c (m, '\n');
    }
  g_string_append (m, "MIME-Version: 1.0\n"
                      "Content-Type: multipart/mixed; boundary=\"inner\"\n"
                      "\n"
                      "--inner\n"
                      "Content-Type: text/plain\n"
                      "\n"
                      "Here it is.\n"
                      "--inner\n"
                      "Content-Type: video/mp4; name=\"video.mp4\"\n"
                      "Content-Transfer-Encoding: base64\n"
                      "\n");
  for (gsize i = 0; i < attachment; i++)
    g_string_append_c (m, (i + 1) % 77 == 0 ? '\n' : b64[(i * 7) % 64]);
  g_string_append (m, "\n--inner--\n\n--B1.1707124323/mx.example.com--\n");
  return m;
}

static void
assert_big_bounce_report (GBytes *entity)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) reports = msgtrk_report_parse_entity (entity, &error);
  MsgtrkReport *report;

  g_assert_no_error (error);
  g_assert_cmpuint (reports->len, ==, 1);
  report = g_ptr_array_index (reports, 0);
  g_assert_cmpstr (msgtrk_report_get_envid (report), ==,
                   "mtrk.7Q2KX4ZJ5N3B6C8D9F0G1H2J3K@example.com");
  g_assert_cmpint (msgtrk_recipient_report_get_action (recipient_at (report, 0)), ==,
                   MSGTRK_ACTION_FAILED);
  g_assert_cmpstr (msgtrk_report_get_original_message_id (report), ==, "<big.1@example.com>");
  g_assert_nonnull (strstr (msgtrk_report_get_returned_headers (report), "Subject: The video"));
  g_assert_null (strstr (msgtrk_report_get_returned_headers (report), "Here it is."));
}

static void
test_extract_big_bounce (void)
{
  g_autoptr (GString) text = big_bounce (25 * 1024 * 1024, 0);
  g_autoptr (GBytes) message = g_bytes_new (text->str, text->len);
  g_autoptr (GBytes) entity = NULL;
  g_autoptr (GBytes) from_file = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) direct = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *path = g_build_filename (dir, "bounce.eml", NULL);

  g_test_summary ("A 25 MB bounce (RET=FULL with a video attached) gives a small report with "
                  "its delivery-status and returned headers, from bytes and from a file");

  direct = msgtrk_report_parse_entity (message, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);

  entity = msgtrk_report_extract_bytes (message, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (entity), <, 4096);
  assert_big_bounce_report (entity);

  g_assert_true (g_file_set_contents (path, text->str, (gssize) text->len, &error));
  from_file = msgtrk_report_extract_file (path, NULL, &error);
  g_assert_no_error (error);
  assert_big_bounce_report (from_file);
  g_assert_cmpuint (g_unlink (path), ==, 0);
  mt_tmpdir_remove (dir);
}

/* A report whose Content-Type has thousands of parameters (the fuzzer's slow input: each
 * one copied made GMime encode the header again, quadratic): only report-type is kept. */
static void
test_extract_many_params (void)
{
  g_autoptr (GString) text = g_string_new ("From: mailer@test.example\r\nMIME-Version: 1.0\r\n"
                                           "Content-Type: multipart/report; "
                                           "report-type=delivery-status; boundary=\"XX\"");
  g_autoptr (GBytes) message = NULL;
  g_autoptr (GBytes) entity = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *head = NULL;

  g_test_summary ("A report with 5,000 Content-Type parameters: extracted, report-type kept");
  for (guint i = 0; i < 5000; i++)
    g_string_append_printf (text, "; p%u=\"\xff%u\"", i, i);
  g_string_append (text, "\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
                         "--XX\r\nContent-Type: message/delivery-status\r\n\r\n"
                         "Reporting-MTA: dns; mx.test.example\r\n\r\n"
                         "Final-Recipient: rfc822; a@test.example\r\nAction: failed\r\n"
                         "Status: 5.0.0\r\n\r\n--XX--\r\n");
  message = g_bytes_new (text->str, text->len);
  entity = msgtrk_report_extract_bytes (message, NULL, &error);
  g_assert_no_error (error);
  head = g_strndup (g_bytes_get_data (entity, NULL), MIN (g_bytes_get_size (entity), 512));
  g_assert_nonnull (strstr (head, "report-type=delivery-status"));
  g_assert_null (strstr (head, "p0="));
}

/* The kept parts at MSGTRK_REPORT_MAX_SIZE and one octet past it. */
static void
test_extract_limit_size (void)
{
  g_autoptr (GString) probe = big_bounce (1000, 1000);
  g_autoptr (GBytes) probe_bytes = g_bytes_new (probe->str, probe->len);
  g_autoptr (GBytes) probe_entity = NULL;
  g_autoptr (GError) error = NULL;
  gsize pad;

  g_test_summary ("The report extracted from a bounce may be MSGTRK_REPORT_MAX_SIZE octets, "
                  "not one more, however big the bounce");

  /* The extracted size grows with the returned header, octet for octet. */
  probe_entity = msgtrk_report_extract_bytes (probe_bytes, NULL, &error);
  g_assert_no_error (error);
  pad = 1000 + MSGTRK_REPORT_MAX_SIZE - g_bytes_get_size (probe_entity);

  for (gsize extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GString) text = big_bounce (2 * 1024 * 1024, pad + extra);
      g_autoptr (GBytes) message = g_bytes_new (text->str, text->len);
      g_autoptr (GBytes) entity = msgtrk_report_extract_bytes (message, NULL, &error);

      if (extra == 0)
        {
          g_assert_no_error (error);
          g_assert_cmpuint (g_bytes_get_size (entity), ==, MSGTRK_REPORT_MAX_SIZE);
          assert_big_bounce_report (entity);
        }
      else
        {
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
          g_assert_null (entity);
          g_clear_error (&error);
        }
    }
}

/* The whole message at MSGTRK_REPORT_MAX_MESSAGE_SIZE and one octet past it. */
static void
test_extract_limit_message (void)
{
  g_autoptr (GString) probe = big_bounce (0, 0);
  gsize overhead = probe->len;

  g_test_summary ("A bounce of MSGTRK_REPORT_MAX_MESSAGE_SIZE octets is read, one more is not");

  for (gsize extra = 0; extra <= 1; extra++)
    {
      g_autoptr (GString) text =
        big_bounce (MSGTRK_REPORT_MAX_MESSAGE_SIZE - overhead + extra, 0);
      g_autoptr (GBytes) message = g_bytes_new_take (text->str, text->len);
      g_autoptr (GBytes) entity = NULL;
      g_autoptr (GError) error = NULL;

      g_assert_cmpuint (text->len, ==, MSGTRK_REPORT_MAX_MESSAGE_SIZE + extra);
      g_string_free (g_steal_pointer (&text), FALSE);
      entity = msgtrk_report_extract_bytes (message, NULL, &error);
      if (extra == 0)
        {
          g_assert_no_error (error);
          assert_big_bounce_report (entity);
        }
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
    }
}

static void
test_extract_content_types (void)
{
  static const struct
  {
    const char *content_type;
    gboolean report;
  } cases[] = {
    { "multipart/report; report-type=delivery-status; boundary=b", TRUE },
    { "multipart/report; report-type = delivery-status; boundary=b", TRUE },
    { "multipart/report;\n\treport-type=\"Delivery-Status\"; boundary=\"b\"", TRUE },
    { "Multipart/Report; boundary=b; report-type=disposition-notification", TRUE },
    { "multipart/report; report-type=global-delivery-status; boundary=b", TRUE },
    { "multipart/report (a comment); report-type=delivery-status; boundary=b", TRUE },
    { "multipart/report; report-type=x-other; boundary=b", FALSE },
    { "multipart/report; boundary=b", FALSE },
    { "multipart/mixed; report-type=delivery-status; boundary=b", FALSE },
    { "text/plain; report-type=delivery-status", FALSE },
  };

  g_test_summary ("Whether a message is a report is decided by its Content-Type as GMime "
                  "parses it (spaces, quotes, case, folding, comments)");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = g_strdup_printf (
        "Subject: test\nContent-Type: %s\n\n--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; bob@example.org\n"
        "Action: delivered\nStatus: 2.0.0\n\n--b--\n",
        cases[i].content_type);
      g_autoptr (GBytes) message = g_bytes_new (text, strlen (text));
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) entity = msgtrk_report_extract_bytes (message, NULL, &error);

      g_test_message ("case %u: %s", i, cases[i].content_type);
      if (cases[i].report)
        {
          g_autoptr (GPtrArray) reports = NULL;

          g_assert_no_error (error);
          reports = msgtrk_report_parse_entity (entity, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (reports->len, ==, 1);
        }
      else
        g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
    }
}

/* Every fixture: the extracted report says what the fixture says. */
static void
test_extract_fixtures (void)
{
  const char *const names[] = { "ts-single.txt", "ts-chain.txt", "dsn-postfix.eml",
                                "dsn-postfix-smtputf8.eml", "dsn-exim.eml",
                                "dsn-sendmail.eml", "mdn.eml" };

  g_test_summary ("Every fixture extracts to a report that parses to the same fields and "
                  "returned headers");

  for (guint f = 0; f < G_N_ELEMENTS (names); f++)
    {
      g_autofree char *path = g_build_filename ("report", names[f], NULL);
      g_autofree char *file = mt_fixture_path (path);
      g_autoptr (GBytes) bytes = mt_fixture_load (path);
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) want = msgtrk_report_parse_entity (bytes, &error);
      g_autoptr (GBytes) entity = NULL;
      g_autoptr (GBytes) from_file = NULL;
      g_autoptr (GPtrArray) got = NULL;

      g_test_message ("fixture %s", names[f]);
      g_assert_no_error (error);
      entity = msgtrk_report_extract_bytes (bytes, NULL, &error);
      g_assert_no_error (error);
      from_file = msgtrk_report_extract_file (file, NULL, &error);
      g_assert_no_error (error);
      /* The boundary is new each time: the file gives the same size. */
      g_assert_cmpuint (g_bytes_get_size (entity), ==, g_bytes_get_size (from_file));
      got = msgtrk_report_parse_entity (entity, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (got->len, ==, want->len);
      for (guint i = 0; i < got->len; i++)
        {
          g_autofree char *a = msgtrk_report_to_fields (g_ptr_array_index (want, i));
          g_autofree char *b = msgtrk_report_to_fields (g_ptr_array_index (got, i));
          const char *ra = msgtrk_report_get_returned_headers (g_ptr_array_index (want, i));
          const char *rb = msgtrk_report_get_returned_headers (g_ptr_array_index (got, i));
          g_autofree char *ha = ra != NULL ? mt_strip_cr (ra) : NULL;
          g_autofree char *hb = rb != NULL ? mt_strip_cr (rb) : NULL;

          g_assert_cmpstr (a, ==, b);
          g_assert_cmpstr (ha, ==, hb);
          g_assert_cmpstr (msgtrk_report_get_original_message_id (g_ptr_array_index (want, i)),
                           ==,
                           msgtrk_report_get_original_message_id (g_ptr_array_index (got, i)));
        }
    }
}

static void
test_extract_errors (void)
{
  static const char plain[] = "Subject: hello\nContent-Type: text/plain\n\nHi.\n";
  static const char no_part[] = "Content-Type: multipart/report; report-type=delivery-status; "
                                "boundary=b\n\n--b\nContent-Type: text/plain\n\nHi.\n--b--\n";
  g_autoptr (GBytes) message = g_bytes_new_static (plain, strlen (plain));
  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr (GBytes) without = g_bytes_new_static (no_part, strlen (no_part));
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GBytes) big = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) entity = NULL;

  g_test_summary ("Not a report, no report part, an unreadable file, cancelled");

  entity = msgtrk_report_extract_bytes (message, NULL, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_null (entity);
  g_clear_error (&error);
  entity = msgtrk_report_extract_bytes (empty, NULL, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  entity = msgtrk_report_extract_bytes (without, NULL, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  entity = msgtrk_report_extract_file ("/nonexistent/msgtrk/bounce.eml", NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  {
    g_autoptr (GString) text = big_bounce (1000, 0);

    big = g_bytes_new (text->str, text->len);
  }
  g_cancellable_cancel (cancellable);
  entity = msgtrk_report_extract_bytes (big, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (entity);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/report/model/build", test_model_build);
  g_test_add_func ("/report/model/set-field", test_model_set_field);
  g_test_add_func ("/report/model/action-strings", test_model_action_strings);
  g_test_add_func ("/report/fixture/tracking-status-single", test_fixture_ts_single);
  g_test_add_func ("/report/fixture/tracking-status-chain", test_fixture_ts_chain);
  g_test_add_func ("/report/fixture/dsn-postfix", test_fixture_dsn_postfix);
  g_test_add_func ("/report/fixture/dsn-postfix-smtputf8", test_fixture_dsn_postfix_smtputf8);
  g_test_add_func ("/report/fixture/dsn-smtputf8-message-global",
                   test_fixture_dsn_smtputf8_message_global);
  g_test_add_func ("/report/fixture/dsn-exim", test_fixture_dsn_exim);
  g_test_add_func ("/report/fixture/dsn-sendmail", test_fixture_dsn_sendmail);
  g_test_add_func ("/report/fixture/mdn", test_fixture_mdn);
  g_test_add_func ("/report/fixture/truncated", test_fixture_truncated);
  g_test_add_func ("/report/parse/table", test_parse_table);
  g_test_add_func ("/report/parse/details", test_parse_details);
  g_test_add_func ("/report/limit/field-length", test_limit_field_length);
  g_test_add_func ("/report/limit/field-length-repaired", test_limit_field_length_repaired);
  g_test_add_func ("/report/limit/fields", test_limit_fields);
  g_test_add_func ("/report/limit/recipients", test_limit_recipients);
  g_test_add_func ("/report/limit/size", test_limit_size);
  g_test_add_func ("/report/limit/parts", test_limit_parts);
  g_test_add_func ("/report/entity/errors", test_entity_errors);
  g_test_add_func ("/report/entity/base64-part", test_entity_base64_part);
  g_test_add_func ("/report/write/canonical", test_write_canonical);
  g_test_add_func ("/report/write/entity", test_write_entity);
  g_test_add_func ("/report/write/mdn", test_write_mdn);
  g_test_add_func ("/report/roundtrip/fixtures", test_roundtrip_fixtures);
  g_test_add_func ("/report/roundtrip/random", test_roundtrip_random);
  g_test_add_func ("/report/write/unfoldable-line", test_write_unfoldable_line);
  g_test_add_func ("/report/extract/big-bounce", test_extract_big_bounce);
  g_test_add_func ("/report/extract/limit-size", test_extract_limit_size);
  g_test_add_func ("/report/extract/many-params", test_extract_many_params);
  g_test_add_func ("/report/extract/limit-message", test_extract_limit_message);
  g_test_add_func ("/report/extract/content-types", test_extract_content_types);
  g_test_add_func ("/report/extract/fixtures", test_extract_fixtures);
  g_test_add_func ("/report/extract/errors", test_extract_errors);

  return g_test_run ();
}
