/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-msgtrkd-route.c: the "sent" time of GetRoute (helper/msgtrkd/msgtrkd-route.c).
 *
 * msgtrkd_route_sent_time() at MSGTRKD_ROUTE_MAX_CLOCK_SKEW before Prepare and one second
 * past it, an arrival after the client's report, none; a link (delegated) with and without
 * an arrival; pending and aborted messages. Then the whole JSON: a DSN whose Arrival-Date
 * is a second before Committed moves "sent" to it, so no hop reads earlier than "Sent".
 *
 * The merge of one recipient's hops (msgtrkd_route_merge_hops(), docs/route-merge.md),
 * table-driven: duplicate hops of one server from several sources, conflicting states,
 * time order, hops without times, hops without a server, the limit at and past it, the
 * server key, and a merged route read back as a snapshot's MTQP hops.
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


/* ---- the merge ------------------------------------------------------------------- */

/* A hop of the route JSON: "SOURCE NAME ACTION ARRIVAL LAST_ATTEMPT [error]", "-" for
 * null; NAME goes to reporting_mta for mtqp/dsn, to server for the rest. */
static JsonObject *
hop_from_spec (const char *spec)
{
  g_auto (GStrv) f = g_strsplit (spec, " ", -1);
  JsonObject *hop = json_object_new ();
  gboolean report;

  g_assert_cmpuint (g_strv_length (f), >=, 5);
  report = g_str_equal (f[0], "mtqp") || g_str_equal (f[0], "dsn");
#define SET(name, value)                                                                    \
  do                                                                                        \
    {                                                                                       \
      if (g_str_equal (value, "-"))                                                         \
        json_object_set_null_member (hop, name);                                            \
      else                                                                                  \
        json_object_set_string_member (hop, name, value);                                   \
    }                                                                                       \
  while (0)
  SET ("source", f[0]);
  SET ("server", f[1]);
  SET ("reporting_mta", report ? f[1] : "-");
  SET ("action", f[2]);
  SET ("arrival", f[3]);
  SET ("last_attempt", f[4]);
  SET ("error", f[5] != NULL ? f[5] : "-");
  SET ("tls", g_str_equal (f[0], "mtqp") ? "TLSv1.3" : "-");
  SET ("from_address", g_str_equal (f[0], "trace") ? "192.0.2.9" : "-");
#undef SET
  return hop;
}

/* The merged hops as "KEY ACTION SOURCE+SOURCE[ !]" joined by " | " (! = conflict). */
static char *
summary_of (JsonArray *merged)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < json_array_get_length (merged); i++)
    {
      JsonObject *hop = json_array_get_object_element (merged, i);
      g_autofree char *key = msgtrkd_route_hop_server_key (hop);
      JsonArray *sources = json_object_get_array_member (hop, "sources");
      JsonNode *action = json_object_get_member (hop, "action");

      if (i > 0)
        g_string_append (out, " | ");
      g_string_append_printf (out, "%s %s ", key != NULL ? key : "?",
                              action != NULL && !JSON_NODE_HOLDS_NULL (action)
                                ? json_node_get_string (action) : "-");
      for (guint j = 0; j < json_array_get_length (sources); j++)
        g_string_append_printf (out, "%s%s", j > 0 ? "+" : "",
                                json_array_get_string_element (sources, j));
      if (json_object_get_boolean_member (hop, "conflict"))
        g_string_append (out, " !");
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

#define T(hhmm) "2026-11-23T" hhmm ":00Z"

static const struct
{
  const char *name;
  const char *hops[8];
  const char *expected;
} merge_cases[] = {
  { "one source, nothing to merge",
    { "mtqp hop1.test transferred " T ("09:00") " -", "mtqp hop2.test delivered " T ("09:01") " -" },
    "hop1.test transferred mtqp | hop2.test delivered mtqp" },
  { "the same server from three sources, names differing in case, type and trailing dot",
    { "mtqp hop1.test transferred " T ("09:00") " -", "dsn dns;HOP1.Test. relayed " T ("09:00") " " T ("09:02"),
      "trace Hop1.TEST - " T ("09:00") " -" },
    "hop1.test relayed mtqp+trace+dsn !" },
  { "MTQP says delayed, a later DSN says delivered: delivered, both shown",
    { "mtqp mx.test delayed " T ("09:00") " " T ("09:05"), "dsn mx.test delivered " T ("09:00") " " T ("10:00") },
    "mx.test delivered mtqp+dsn !" },
  { "a final action is not undone by a later delayed",
    { "dsn mx.test delivered " T ("09:00") " " T ("09:05"), "mtqp mx.test delayed " T ("09:00") " " T ("10:00") },
    "mx.test delivered dsn+mtqp !" },
  { "two final actions: the later decides",
    { "mtqp mx.test failed " T ("09:00") " " T ("09:30"), "dsn mx.test delivered " T ("09:00") " " T ("09:10") },
    "mx.test failed dsn+mtqp !" },
  /* RFC 3464 2.3.3: "expanded" (an alias or list: delivered to the address as given and
   * forwarded to others) agrees with its members' hand-offs at the same server. */
  { "an alias: expanded (DSN) and its members' delivered (MTQP) agree",
    { "mtqp mx.test delivered " T ("09:00") " " T ("09:01"), "mtqp mx.test delivered " T ("09:00") " " T ("09:01"),
      "dsn mx.test expanded " T ("09:00") " " T ("09:01") },
    "mx.test expanded mtqp+dsn" },
  { "an alias: expanded and its members delivered, relayed, transferred, expanded",
    { "dsn mx.test expanded " T ("09:00") " " T ("09:01"), "mtqp mx.test relayed " T ("09:00") " " T ("09:02"),
      "mtqp mx.test delivered " T ("09:00") " " T ("09:02"), "mtqp mx.test transferred " T ("09:00") " " T ("09:02"),
      "mtqp MX.test Expanded " T ("09:00") " " T ("09:02") },
    "mx.test Expanded dsn+mtqp" },
  { "an alias with a member that failed: a conflict",
    { "dsn mx.test expanded " T ("09:00") " " T ("09:01"), "mtqp mx.test failed " T ("09:00") " " T ("09:02") },
    "mx.test failed dsn+mtqp !" },
  { "an alias with a member delayed: a conflict",
    { "dsn mx.test expanded " T ("09:00") " " T ("09:01"), "mtqp mx.test delayed " T ("09:00") " " T ("09:02") },
    "mx.test expanded dsn+mtqp !" },
  { "delivered and relayed without an expansion: a conflict",
    { "dsn mx.test delivered " T ("09:00") " " T ("09:01"), "mtqp mx.test relayed " T ("09:00") " " T ("09:02") },
    "mx.test relayed dsn+mtqp !" },
  { "the same action in other case is no conflict (RFC 3464: case does not matter)",
    { "mtqp mx.test Delivered " T ("09:00") " -", "dsn mx.test delivered " T ("09:00") " -" },
    "mx.test delivered mtqp+dsn" },
  { "the same action twice is no conflict",
    { "mtqp mx.test delivered " T ("09:00") " -", "dsn mx.test delivered " T ("09:00") " -" },
    "mx.test delivered mtqp+dsn" },
  { "a broken link and a report about the same server: the report decides",
    { "mtqp hop2.test - - - unreachable", "dsn hop2.test delivered " T ("09:01") " " T ("09:02") },
    "hop2.test delivered mtqp+dsn" },
  { "time order across sources: the DSN's server between the chain's",
    { "mtqp a.test transferred " T ("09:00") " -", "mtqp c.test delivered " T ("09:10") " -",
      "dsn b.test transferred " T ("09:05") " -" },
    "a.test transferred mtqp | b.test transferred dsn | c.test delivered mtqp" },
  { "a chain's order wins over a skewed clock",
    { "mtqp a.test transferred " T ("10:00") " -", "mtqp b.test delivered " T ("09:59") " -" },
    "a.test transferred mtqp | b.test delivered mtqp" },
  { "hops without times keep their place after the hop before them",
    { "trace a.test - " T ("09:00") " -", "trace b.test - - -", "trace c.test - " T ("09:02") " -",
      "mtqp c.test delayed - -", "mtqp d.test - - - unreachable" },
    "a.test - trace | b.test - trace | c.test delayed trace+mtqp | d.test - mtqp" },
  { "a Received: chain and an MTQP chain interleaved by time",
    { "mtqp x.test transferred " T ("09:01") " -", "mtqp y.test delivered " T ("09:03") " -",
      "trace client.test - " T ("09:00") " -", "trace x.test - " T ("09:01") " -",
      "trace y.test - " T ("09:03") " -" },
    "client.test - trace | x.test transferred mtqp+trace | y.test delivered mtqp+trace" },
  { "address literals: one server however written",
    { "trace [192.0.2.1] - " T ("09:00") " -", "dsn 192.0.2.1 delivered " T ("09:00") " -",
      "trace [IPv6:2001:DB8::1] - " T ("09:01") " -", "trace 2001:db8:0::1 - " T ("09:02") " -" },
    "192.0.2.1 delivered trace+dsn | 2001:db8::1 - trace" },
  { "hops that name no server are not merged",
    { "trace - - " T ("09:00") " -", "trace - - " T ("09:01") " -" },
    "? - trace | ? - trace" },
};

static void
test_merge_table (void)
{
  for (gsize c = 0; c < G_N_ELEMENTS (merge_cases); c++)
    {
      g_autoptr (JsonArray) hops = json_array_new ();
      g_autoptr (JsonArray) merged = NULL;
      g_autofree char *summary = NULL;

      for (guint i = 0; merge_cases[c].hops[i] != NULL; i++)
        json_array_add_object_element (hops, hop_from_spec (merge_cases[c].hops[i]));
      merged = msgtrkd_route_merge_hops (hops);
      summary = summary_of (merged);
      g_test_message ("%s: %s", merge_cases[c].name, summary);
      g_assert_cmpstr (summary, ==, merge_cases[c].expected);
    }
}

static void
test_merge_members (void)
{
  g_autoptr (JsonArray) hops = json_array_new ();
  g_autoptr (JsonArray) merged = NULL;
  JsonObject *hop;
  JsonArray *evidence;

  g_test_summary ("A merged hop: the deciding evidence's members, completed from the rest; "
                  "every piece of evidence in time order");
  json_array_add_object_element (hops, hop_from_spec ("mtqp mx.test delayed " T ("09:00") " " T ("09:05")));
  json_array_add_object_element (hops, hop_from_spec ("dsn mx.test delivered - " T ("10:00")));
  json_array_add_object_element (hops, hop_from_spec ("trace mx.test - " T ("08:59") " -"));
  merged = msgtrkd_route_merge_hops (hops);
  g_assert_cmpuint (json_array_get_length (merged), ==, 1);
  hop = json_array_get_object_element (merged, 0);
  g_assert_cmpstr (json_object_get_string_member (hop, "source"), ==, "dsn");
  g_assert_cmpstr (json_object_get_string_member (hop, "action"), ==, "delivered");
  g_assert_cmpstr (json_object_get_string_member (hop, "last_attempt"), ==, T ("10:00"));
  /* filled from the others in time order: the trace's (earliest) arrival, MTQP's TLS,
   * the trace's address */
  g_assert_cmpstr (json_object_get_string_member (hop, "arrival"), ==, T ("08:59"));
  g_assert_cmpstr (json_object_get_string_member (hop, "tls"), ==, "TLSv1.3");
  g_assert_cmpstr (json_object_get_string_member (hop, "from_address"), ==, "192.0.2.9");
  g_assert_true (json_object_get_boolean_member (hop, "conflict"));
  evidence = json_object_get_array_member (hop, "evidence");
  g_assert_cmpuint (json_array_get_length (evidence), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (evidence, 0), "source"), ==, "trace");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (evidence, 1), "source"), ==, "mtqp");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (evidence, 2), "source"), ==, "dsn");

  /* One piece: no "evidence" member, "sources" still there. */
  g_clear_pointer (&merged, json_array_unref);
  json_array_remove_element (hops, 2);
  json_array_remove_element (hops, 1);
  merged = msgtrkd_route_merge_hops (hops);
  hop = json_array_get_object_element (merged, 0);
  g_assert_false (json_object_has_member (hop, "evidence"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (hop, "sources")), ==, 1);
  g_assert_false (json_object_get_boolean_member (hop, "conflict"));
}

static void
test_merge_limit (void)
{
  g_test_summary ("MSGTRKD_ROUTE_MAX_MERGE_HOPS hops are merged, one more is dropped");
  for (guint extra = 0; extra <= 1; extra++)
    {
      g_autoptr (JsonArray) hops = json_array_new ();
      g_autoptr (JsonArray) merged = NULL;

      for (guint i = 0; i < MSGTRKD_ROUTE_MAX_MERGE_HOPS + extra; i++)
        {
          g_autofree char *spec = g_strdup_printf ("trace h%u.test - - -", i);

          json_array_add_object_element (hops, hop_from_spec (spec));
        }
      merged = msgtrkd_route_merge_hops (hops);
      g_assert_cmpuint (json_array_get_length (merged), ==, MSGTRKD_ROUTE_MAX_MERGE_HOPS);
    }
}

static void
test_server_key (void)
{
  static const struct
  {
    const char *reporting_mta, *server, *key;
  } cases[] = {
    { "dns; Mx1.Example.ORG.", NULL, "mx1.example.org" },
    { NULL, "Example.org", "example.org" },
    { "", "example.org", "example.org" },
    { "dns;[192.0.2.1]", NULL, "192.0.2.1" },
    { "[IPv6:2001:DB8:0:0::1]", NULL, "2001:db8::1" },
    { "2001:DB8::1", NULL, "2001:db8::1" },
    { NULL, NULL, NULL },
    { "dns; ", NULL, NULL },
    { "...", NULL, NULL },
  };

  g_test_summary ("The key of the server a hop is about");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (JsonObject) hop = json_object_new ();
      g_autofree char *key = NULL;

      if (cases[i].reporting_mta != NULL)
        json_object_set_string_member (hop, "reporting_mta", cases[i].reporting_mta);
      if (cases[i].server != NULL)
        json_object_set_string_member (hop, "server", cases[i].server);
      key = msgtrkd_route_hop_server_key (hop);
      g_assert_cmpstr (key, ==, cases[i].key);
    }
}

static const char dsn_hop1[] =
  "Reporting-MTA: dns; hop1.example.org\r\n"
  "Arrival-Date: Mon, 23 Nov 2026 09:00:02 +0000\r\n"
  "\r\n"
  "Final-Recipient: rfc822; ann@example.net\r\n"
  "Action: delivered\r\n"
  "Status: 2.0.0\r\n"
  "Last-Attempt-Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n";

static void
test_merge_route_json (void)
{
  g_autoptr (MsgtrkdMessage) m = message (MSGTRKD_TRACKING_MTQP, PREPARED + 3);
  g_autoptr (GPtrArray) parsed = g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_DELIVERY_STATUS,
                                                                dsn_hop1, -1, &error);
  g_autoptr (JsonObject) mtqp = json_object_new ();
  JsonArray *mh = json_array_new ();
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonObject) again = NULL;
  g_autofree char *json = NULL;
  MsgtrkdParsedReport *p;
  JsonObject *root, *rcpt, *hop;
  JsonArray *hops;

  g_test_summary ("GetRoute: an MTQP delayed and a later DSN delivered from the same server "
                  "are one delivered hop; its MTQP piece is read back from the snapshot");
  g_assert_no_error (error);
  p = g_new0 (MsgtrkdParsedReport, 1);
  p->source = g_strdup ("dsn");
  p->received_at = PREPARED + 3600;
  p->reports = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (p->reports, g_object_ref (report));
  g_ptr_array_add (parsed, p);
  json_array_add_object_element (mh, hop_from_spec ("mtqp HOP1.example.org delayed 2026-11-23T09:00:02Z 2026-11-23T09:05:00Z"));
  json_object_set_string_member (json_array_get_object_element (mh, 0), "server_address", "192.0.2.25");
  json_object_set_array_member (mtqp, "ann@example.net", mh);

  json = msgtrkd_route_build_json (m, NULL, mtqp, parsed, NULL, NULL, FALSE);
  g_assert_true (json_parser_load_from_data (parser, json, -1, NULL));
  root = json_node_get_object (json_parser_get_root (parser));
  rcpt = json_array_get_object_element (json_object_get_array_member (root, "recipients"), 0);
  hops = json_object_get_array_member (rcpt, "hops");
  g_assert_cmpuint (json_array_get_length (hops), ==, 1);
  hop = json_array_get_object_element (hops, 0);
  g_assert_cmpstr (json_object_get_string_member (hop, "action"), ==, "delivered");
  g_assert_cmpstr (json_object_get_string_member (hop, "source"), ==, "dsn");
  g_assert_cmpstr (json_object_get_string_member (hop, "server_address"), ==, "192.0.2.25");
  g_assert_true (json_object_get_boolean_member (hop, "conflict"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (hop, "evidence")), ==, 2);

  again = msgtrkd_route_hops_from_object (root);
  mh = json_object_get_array_member (again, "ann@example.net");
  g_assert_cmpuint (json_array_get_length (mh), ==, 1);
  hop = json_array_get_object_element (mh, 0);
  g_assert_cmpstr (json_object_get_string_member (hop, "source"), ==, "mtqp");
  g_assert_cmpstr (json_object_get_string_member (hop, "action"), ==, "delayed");
  g_assert_false (json_object_has_member (hop, "evidence"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("GetRoute's sent time: the client's report, moved back to the first evidence");
  g_test_add_func ("/msgtrkd/route/sent-time", test_sent_time);
  g_test_add_func ("/msgtrkd/route/sent-json", test_sent_json);
  g_test_add_func ("/msgtrkd/route/merge/table", test_merge_table);
  g_test_add_func ("/msgtrkd/route/merge/members", test_merge_members);
  g_test_add_func ("/msgtrkd/route/merge/limit", test_merge_limit);
  g_test_add_func ("/msgtrkd/route/merge/server-key", test_server_key);
  g_test_add_func ("/msgtrkd/route/merge/route-json", test_merge_route_json);
  return g_test_run ();
}
