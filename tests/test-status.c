/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-status.c: unit tests of MsgtrkStatus (lib/msgtrk-status.c, docs/status.md).
 *
 * Scenarios are tables of reports built with the report builder API; every scenario is
 * run in every order of arrival (all permutations) and must give the same states, the
 * same deciding entries, the same overall state and the same summary. Summaries are
 * checked as exact English strings: the tests run untranslated (LANGUAGE=C, C locale).
 *
 * Limits: a scenario has at most MAX_SPECS reports (720 orders) and MAX_RCPTS recipients.
 */
#include "config.h"

#include <locale.h>
#include <string.h>

#include "test-util.h"

#define MAX_SPECS 6
#define MAX_RCPTS 4

/* One report with one recipient block. Minutes count from BASE_DATE; 0 means "none". */
typedef struct
{
  char kind;            /* 'T' tracking-status, 'D' delivery-status, 'M' MDN; 0 ends */
  const char *reporter; /* Reporting-MTA host, or Reporting-UA for an MDN; NULL: none */
  const char *orcpt;    /* Original-Recipient, NULL: none */
  const char *final;    /* Final-Recipient */
  const char *action;   /* Action text (NULL: none); for an MDN the disposition type */
  const char *status;   /* Status code, NULL: none */
  const char *remote;   /* Remote-MTA, NULL: none */
  guint attempt;        /* Last-Attempt-Date */
  guint arrival;        /* Arrival-Date */
  guint received;       /* the @received argument */
  const char *tag;      /* Diagnostic-Code "x-test; TAG": names the deciding entry */
} Spec;

typedef struct
{
  const char *address; /* as msgtrk_status_list_recipients() gives it; NULL ends */
  const char *state;
  const char *tag;     /* tag of the deciding entry, NULL: no entry */
} Expect;

typedef struct
{
  const char *name;
  gboolean no_list;
  const char *recipients[MAX_RCPTS + 1];
  Spec specs[MAX_SPECS + 1];
  Expect expect[MAX_RCPTS + 1];
  const char *overall;
  const char *summary;
  gboolean final;
} Scenario;

static GDateTime *
minute (guint m)
{
  g_autoptr (GDateTime) base = g_date_time_new_utc (2026, 11, 23, 8, 0, 0);

  return m == 0 ? NULL : g_date_time_add_minutes (base, (int) m);
}

static MsgtrkReport *
build_report (const Spec *spec)
{
  MsgtrkReportKind kind = spec->kind == 'T'   ? MSGTRK_REPORT_KIND_TRACKING_STATUS
                          : spec->kind == 'D' ? MSGTRK_REPORT_KIND_DELIVERY_STATUS
                                              : MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION;
  MsgtrkReport *report = msgtrk_report_new (kind);
  g_autoptr (MsgtrkRecipientReport) entry = msgtrk_recipient_report_new (spec->final);
  g_autoptr (GDateTime) attempt = minute (spec->attempt);
  g_autoptr (GDateTime) arrival = minute (spec->arrival);
  g_autoptr (GError) error = NULL;

  msgtrk_report_set_envid (report, "mtrk.test0000@example.org");
  if (spec->reporter != NULL && spec->kind == 'M')
    msgtrk_report_set_field (report, "Reporting-UA", spec->reporter);
  else if (spec->reporter != NULL)
    msgtrk_report_set_reporting_mta (report, spec->reporter);
  msgtrk_report_set_arrival_date (report, arrival);

  if (spec->orcpt != NULL)
    msgtrk_recipient_report_set_original_recipient (entry, spec->orcpt);
  if (spec->kind == 'M')
    {
      g_autofree char *disposition = NULL;

      disposition = g_strdup_printf ("manual-action/MDN-sent-manually; %s", spec->action);
      msgtrk_recipient_report_set_field (entry, "Disposition", disposition);
    }
  else if (spec->action != NULL)
    {
      MsgtrkAction action = msgtrk_action_from_string (spec->action);

      if (action == MSGTRK_ACTION_UNKNOWN)
        msgtrk_recipient_report_set_field (entry, "Action", spec->action);
      else
        msgtrk_recipient_report_set_action (entry, action);
    }
  if (spec->status != NULL)
    {
      msgtrk_recipient_report_set_status (entry, spec->status, NULL, &error);
      g_assert_no_error (error);
    }
  msgtrk_recipient_report_set_remote_mta (entry, spec->remote);
  msgtrk_recipient_report_set_last_attempt_date (entry, attempt);
  if (spec->tag != NULL)
    {
      g_autofree char *diagnostic = g_strconcat ("x-test; ", spec->tag, NULL);

      msgtrk_recipient_report_set_diagnostic_code (entry, diagnostic);
    }
  msgtrk_report_add_recipient (report, entry);
  return report;
}

static void
add_spec (MsgtrkStatus *status,
          const Spec   *spec)
{
  g_autoptr (MsgtrkReport) report = build_report (spec);
  g_autoptr (GDateTime) received = minute (spec->received);

  msgtrk_status_add_report (status, report, received);
}

/* The tag of the entry that decided @address's state, or NULL. */
static char *
decider_tag (MsgtrkStatus *status,
             const char   *address)
{
  MsgtrkRecipientReport *entry = msgtrk_status_get_recipient_report (status, address);
  const char *diagnostic;

  if (entry == NULL)
    return NULL;
  diagnostic = msgtrk_recipient_report_get_diagnostic_code (entry);
  g_assert_nonnull (diagnostic);
  g_assert_true (g_str_has_prefix (diagnostic, "x-test; "));
  return g_strdup (diagnostic + strlen ("x-test; "));
}

static void
check_scenario (const Scenario *sc,
                const guint    *order,
                guint           n_specs)
{
  g_autoptr (MsgtrkStatus) status = msgtrk_status_new (sc->no_list ? NULL : sc->recipients);
  g_auto (GStrv) listed = NULL;
  g_autofree char *summary = NULL;
  guint n_expect = 0;
  guint i;

  for (i = 0; i < n_specs; i++)
    add_spec (status, &sc->specs[order[i]]);

  listed = msgtrk_status_list_recipients (status);
  while (sc->expect[n_expect].address != NULL)
    n_expect++;
  g_assert_cmpuint (g_strv_length (listed), ==, n_expect);
  for (i = 0; i < n_expect; i++)
    {
      const Expect *e = &sc->expect[i];
      g_autofree char *tag = decider_tag (status, e->address);

      g_assert_cmpstr (listed[i], ==, e->address);
      g_assert_cmpstr (msgtrk_recipient_state_to_string (
                         msgtrk_status_get_recipient_state (status, e->address)), ==, e->state);
      g_assert_cmpstr (tag, ==, e->tag);
    }
  g_assert_cmpstr (msgtrk_recipient_state_to_string (msgtrk_status_get_overall (status)), ==,
                   sc->overall);
  summary = msgtrk_status_format_summary (status);
  g_assert_cmpstr (summary, ==, sc->summary);
  g_assert_cmpint (msgtrk_status_is_final (status), ==, sc->final);
}

/* Heap's algorithm: every order of arrival. Returns how many orders were checked. */
static guint
check_all_orders (const Scenario *sc)
{
  guint order[MAX_SPECS] = { 0 };
  guint c[MAX_SPECS] = { 0 };
  guint n = 0;
  guint count = 0;
  guint i = 1;

  while (sc->specs[n].kind != 0)
    {
      order[n] = n;
      n++;
    }
  g_assert_cmpuint (n, <=, MAX_SPECS);

  check_scenario (sc, order, n);
  count++;
  while (i < n)
    {
      if (c[i] < i)
        {
          guint j = (i % 2 == 0) ? 0 : c[i];
          guint t = order[j];

          order[j] = order[i];
          order[i] = t;
          check_scenario (sc, order, n);
          count++;
          c[i]++;
          i = 1;
        }
      else
        {
          c[i] = 0;
          i++;
        }
    }
  return count;
}

#define A "alice@example.org"
#define B "bob@example.net"
#define C "carol@example.com"

/* One row per report: kept on one line each, past the column limit, for reading. */
/* clang-format off */
static const Scenario scenarios[] = {
  { .name = "chain/three-hops",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", A, A, "transferred", "2.0.0", "hop2.example.net", 1, 0, 2, "hop1" },
      { 'T', "hop2.example.net", A, A, "transferred", "2.0.0", "hop3.example.net", 5, 0, 6, "hop2" },
      { 'T', "hop3.example.net", A, A, "delivered", "2.0.0", NULL, 9, 0, 10, "hop3" },
    },
    .expect = { { A, "delivered", "hop3" } },
    .overall = "delivered", .summary = "Delivered 1/1", .final = TRUE },

  /* A later poll of hop1 (newer receipt, no date of its own) says "transferred" again:
   * hop2 is further down the route, its "delayed" is the latest news. */
  { .name = "chain/later-poll-of-earlier-hop",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "transferred", "2.0.0", "hop2.example.net", 0, 0, 2, "hop1-first" },
      { 'T', "hop2.example.net", NULL, A, "delayed", "4.4.1", NULL, 5, 0, 6, "hop2" },
      { 'T', "hop1.example.org", NULL, A, "transferred", "2.0.0", "hop2.example.net", 0, 0, 30, "hop1-again" },
    },
    .expect = { { A, "delayed", "hop2" } },
    .overall = "delayed", .summary = "Delayed 1/1", .final = FALSE },

  /* hop2's clock is behind hop1's: the route still says hop2's news is later. */
  { .name = "chain/skewed-clock",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "transferred", "2.0.0", "HOP2.example.net.", 10, 0, 11, "hop1" },
      { 'T', "hop2.example.net", NULL, A, "transferred", "2.0.0", "hop3.example.net", 3, 0, 12, "hop2" },
    },
    .expect = { { A, "in-transit", "hop2" } },
    .overall = "in-transit", .summary = "In transit", .final = FALSE },

  /* A routing loop: neither hop is upstream of the other, so the newer wins. */
  { .name = "chain/loop",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "transferred", "2.0.0", "hop2.example.net", 5, 0, 0, "hop1" },
      { 'T', "hop2.example.net", NULL, A, "delayed", "4.4.7", "hop1.example.org", 2, 0, 0, "hop2" },
      { 'T', "hop2.example.net", "other@example.org", A, "transferred", "2.0.0", "hop1.example.org", 1, 0, 0, "hop2-t" },
      { 'T', "elsewhere.example.com", NULL, A, "delayed", "4.4.1", NULL, 4, 0, 0, "elsewhere" },
    },
    .expect = { { A, "in-transit", "hop1" } },
    .overall = "in-transit", .summary = "In transit", .final = FALSE },

  /* A loop between hop1 and hop2 that leads on to hop3: hop3's older news still wins. */
  { .name = "chain/loop-then-out",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "transferred", "2.0.0", "hop2.example.net", 9, 0, 0, "hop1" },
      { 'T', "hop2.example.net", NULL, A, "transferred", "2.0.0", "hop1.example.org", 8, 0, 0, "hop2-back" },
      { 'T', "hop2.example.net", "x@example.org", A, "transferred", "2.0.0", "hop3.example.net", 7, 0, 0, "hop2-out" },
      { 'T', "hop3.example.net", NULL, A, "delayed", "4.4.1", NULL, 1, 0, 0, "hop3" },
      { 'T', "elsewhere.example.com", NULL, A, "x-unknown-action", "2.0.0", NULL, 20, 0, 0, "odd" },
    },
    .expect = { { A, "delayed", "hop3" } },
    .overall = "delayed", .summary = "Delayed 1/1", .final = FALSE },

  { .name = "delayed/then-delivered",
    .recipients = { A },
    .specs = {
      { 'D', "hop1.example.org", A, A, "delayed", "4.4.1", NULL, 5, 0, 6, "delayed" },
      { 'T', "hop2.example.net", A, A, "delivered", "2.0.0", NULL, 3, 0, 8, "delivered" },
    },
    .expect = { { A, "delivered", "delivered" } },
    .overall = "delivered", .summary = "Delivered 1/1", .final = TRUE },

  { .name = "delayed/then-transferred",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "delayed", "4.4.1", NULL, 5, 0, 6, "delayed" },
      { 'T', "hop1.example.org", NULL, A, "transferred", "2.0.0", "hop2.example.net", 9, 0, 10, "moved" },
    },
    .expect = { { A, "in-transit", "moved" } },
    .overall = "in-transit", .summary = "In transit", .final = FALSE },

  { .name = "failed-vs-delivered/failed-newer",
    .recipients = { A },
    .specs = {
      { 'D', "mx.example.org", A, A, "failed", "5.2.2", NULL, 20, 0, 21, "dsn" },
      { 'T', "hop3.example.org", A, A, "delivered", "2.0.0", NULL, 10, 0, 30, "mtqp" },
    },
    .expect = { { A, "failed", "dsn" } },
    .overall = "failed", .summary = "Failed 1/1", .final = TRUE },

  { .name = "failed-vs-delivered/delivered-newer",
    .recipients = { A },
    .specs = {
      { 'D', "mx.example.org", A, A, "failed", "5.2.2", NULL, 10, 0, 31, "dsn" },
      { 'T', "hop3.example.org", A, A, "delivered", "2.0.0", NULL, 20, 0, 21, "mtqp" },
    },
    .expect = { { A, "delivered", "mtqp" } },
    .overall = "delivered", .summary = "Delivered 1/1", .final = TRUE },

  /* Arrival-Date stands in for a missing Last-Attempt-Date, then the time of receipt. */
  { .name = "failed-vs-delivered/fallback-dates",
    .recipients = { A },
    .specs = {
      { 'D', "mx.example.org", A, A, "failed", "5.2.2", NULL, 0, 0, 40, "dsn" },
      { 'T', "hop3.example.org", A, A, "delivered", "2.0.0", NULL, 0, 30, 50, "mtqp" },
    },
    .expect = { { A, "failed", "dsn" } },
    .overall = "failed", .summary = "Failed 1/1", .final = TRUE },

  { .name = "failed-vs-delivered/same-date",
    .recipients = { A },
    .specs = {
      { 'T', "hop3.example.org", A, A, "delivered", "2.0.0", NULL, 10, 0, 0, "mtqp" },
      { 'D', "mx.example.org", A, A, "failed", "5.2.2", NULL, 10, 0, 0, "dsn" },
    },
    .expect = { { A, "failed", "dsn" } },
    .overall = "failed", .summary = "Failed 1/1", .final = TRUE },

  { .name = "failed-vs-delivered/no-dates",
    .recipients = { A },
    .specs = {
      { 'T', "hop3.example.org", A, A, "delivered", "2.0.0", NULL, 0, 0, 0, "mtqp" },
      { 'D', "mx.example.org", A, A, "failed", "5.2.2", NULL, 0, 0, 0, "dsn" },
    },
    .expect = { { A, "failed", "dsn" } },
    .overall = "failed", .summary = "Failed 1/1", .final = TRUE },

  /* A dated piece of evidence is newer than one without any date. */
  { .name = "failed-vs-delivered/undated-is-oldest",
    .recipients = { A },
    .specs = {
      { 'T', "hop3.example.org", A, A, "delivered", "2.0.0", NULL, 1, 0, 0, "mtqp" },
      { 'D', "mx.example.org", A, A, "failed", "5.2.2", NULL, 0, 0, 0, "dsn" },
    },
    .expect = { { A, "delivered", "mtqp" } },
    .overall = "delivered", .summary = "Delivered 1/1", .final = TRUE },

  { .name = "mdn/read",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", A, A, "transferred", "2.0.0", "hop2.example.org", 1, 0, 2, "hop1" },
      { 'T', "hop2.example.org", A, A, "delivered", "2.0.0", NULL, 3, 0, 4, "hop2" },
      { 'M', "pc.example.org; Mailer 1.0", NULL, A, "displayed", NULL, NULL, 0, 0, 60, "mdn" },
    },
    .expect = { { A, "read", "mdn" } },
    .overall = "read", .summary = "Read 1/1", .final = TRUE },

  /* Any MDN proves delivery: it beats a failure, even a newer one. Read beats deleted. */
  { .name = "mdn/deleted-beats-failed",
    .recipients = { A, B },
    .specs = {
      { 'M', "pc.example.org; Mailer 1.0", NULL, A, "deleted", NULL, NULL, 0, 0, 60, "mdn-a" },
      { 'D', "mx.example.org", A, A, "failed", "5.0.0", NULL, 90, 0, 91, "dsn-a" },
      { 'M', "pc.example.net; Mailer 2.0", NULL, B, "deleted", NULL, NULL, 0, 0, 80, "deleted-b" },
      { 'M', "pc.example.net; Mailer 2.0", NULL, B, "displayed", NULL, NULL, 0, 0, 70, "read-b" },
      { 'M', "pc.example.net; Mailer 2.0", NULL, B, "processed", NULL, NULL, 0, 0, 75, "processed-b" },
    },
    .expect = { { A, "delivered", "mdn-a" }, { B, "read", "read-b" } },
    .overall = "delivered", .summary = "Delivered 2/2, 1 read", .final = TRUE },

  /* An MDN whose address matches nobody belongs to a message's only recipient. */
  { .name = "mdn/only-recipient",
    .recipients = { A },
    .specs = {
      { 'M', "pc.example.org; Mailer 1.0", NULL, "alice@home.example", "displayed", NULL, NULL, 0, 0, 60, "mdn" },
    },
    .expect = { { A, "read", "mdn" } },
    .overall = "read", .summary = "Read 1/1", .final = TRUE },

  { .name = "mdn/unmatched-with-two-recipients",
    .recipients = { A, B },
    .specs = {
      { 'M', "pc.example.org; Mailer 1.0", NULL, "alice@home.example", "displayed", NULL, NULL, 0, 0, 60, "mdn" },
    },
    .expect = { { A, "unknown", NULL }, { B, "unknown", NULL } },
    .overall = "unknown", .summary = "No tracking information yet", .final = FALSE },

  { .name = "mdn/no-list-only-recipient",
    .no_list = TRUE,
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "delivered", "2.0.0", NULL, 1, 0, 2, "hop1" },
      { 'M', "pc.example.org; Mailer 1.0", NULL, "alice@home.example", "unknown-type", NULL, NULL, 0, 0, 60, "mdn" },
    },
    .expect = { { A, "delivered", "mdn" } },
    .overall = "delivered", .summary = "Delivered 1/1", .final = TRUE },

  { .name = "relayed/2.1.9",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", A, A, "transferred", "2.0.0", "hop2.example.org", 1, 0, 2, "hop1" },
      { 'T', "hop2.example.org", A, A, "relayed", "2.1.9", "legacy.example.net", 3, 0, 4, "hop2" },
    },
    .expect = { { A, "relayed", "hop2" } },
    .overall = "relayed", .summary = "Relayed to a server without tracking (1/1)", .final = TRUE },

  /* The server relayed to sends DSNs: its "delayed" is news from further down. */
  { .name = "relayed/then-dsn-downstream",
    .recipients = { A, B },
    .specs = {
      { 'T', "hop1.example.org", A, A, "relayed", "2.1.9", "legacy.example.net", 3, 0, 4, "hop1-a" },
      { 'D', "legacy.example.net", A, A, "delayed", "4.4.1", NULL, 2, 0, 50, "legacy-a" },
      { 'T', "hop1.example.org", B, B, "relayed", "2.1.9", "legacy.example.net", 3, 0, 4, "hop1-b" },
      { 'D', "legacy.example.net", B, B, "delivered", "2.0.0", NULL, 2, 0, 50, "legacy-b" },
    },
    .expect = { { A, "delayed", "legacy-a" }, { B, "delivered", "legacy-b" } },
    .overall = "delayed", .summary = "Delivered 1/2, 1 delayed", .final = FALSE },

  { .name = "relayed/all",
    .recipients = { A, B },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "relayed", "2.1.9", "legacy.example.net", 3, 0, 4, "a" },
      { 'T', "hop1.example.org", NULL, B, "relayed", "2.1.9", "legacy.example.net", 3, 0, 4, "b" },
    },
    .expect = { { A, "relayed", "a" }, { B, "relayed", "b" } },
    .overall = "relayed", .summary = "Relayed to a server without tracking (2/2)", .final = TRUE },

  { .name = "opaque",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "transferred", "2.0.0", "gw.example.org", 1, 0, 2, "hop1" },
      { 'T', "gw.example.org", NULL, A, "opaque", "2.0.0", NULL, 3, 0, 4, "gw" },
      { 'T', "hop1.example.org", NULL, A, "delayed", "4.4.1", NULL, 0, 0, 1, "hop1-old" },
    },
    .expect = { { A, "opaque", "gw" } },
    .overall = "opaque", .summary = "Not disclosed by a server (1/1)", .final = TRUE },

  { .name = "action/unknown",
    .recipients = { A, B },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "x-quarantined", "2.0.0", NULL, 1, 0, 2, "odd-a" },
      { 'T', "hop1.example.org", NULL, B, "x-quarantined", "2.0.0", NULL, 1, 0, 2, "odd-b" },
      { 'T', "hop2.example.org", NULL, B, "expanded", "2.0.0", NULL, 1, 0, 2, "expanded-b" },
    },
    .expect = { { A, "unknown", "odd-a" }, { B, "delivered", "expanded-b" } },
    .overall = "in-transit", .summary = "Delivered 1/2, 1 without news", .final = FALSE },

  /* RFC 3464 section 2.3.3: "expanded" is final for that address (delivered to a list
   * or alias); the deciding entry keeps Action "expanded" for the UI to say so. */
  { .name = "expanded/final",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", NULL, A, "transferred", "2.0.0", "lists.example.org", 1, 0, 2, "hop1" },
      { 'D', "lists.example.org", A, A, "expanded", "2.0.0", NULL, 3, 0, 4, "list" },
    },
    .expect = { { A, "delivered", "list" } },
    .overall = "delivered", .summary = "Delivered 1/1", .final = TRUE },

  /* A member's later failure, reported with the list as Original-Recipient, is newer. */
  { .name = "expanded/member-fails-later",
    .recipients = { A },
    .specs = {
      { 'D', "lists.example.org", A, A, "expanded", "2.0.0", NULL, 3, 0, 4, "list" },
      { 'D', "mx.member.example", A, "member@member.example", "failed", "5.1.1", NULL, 5, 0, 6, "member" },
    },
    .expect = { { A, "failed", "member" } },
    .overall = "failed", .summary = "Failed 1/1", .final = TRUE },

  /* A delay reported by the list server before it expanded: the expansion decides. */
  { .name = "expanded/after-delay",
    .recipients = { A },
    .specs = {
      { 'D', "lists.example.org", A, A, "delayed", "4.4.1", NULL, 1, 0, 2, "delay" },
      { 'D', "lists.example.org", A, A, "expanded", "2.0.0", NULL, 3, 0, 4, "list" },
    },
    .expect = { { A, "delivered", "list" } },
    .overall = "delivered", .summary = "Delivered 1/1", .final = TRUE },

  /* Matching: Original-Recipient first; Final-Recipient; and a Final-Recipient that an
   * earlier hop mapped to one of ours (alias expansion). */
  { .name = "match/orcpt-final-alias",
    .recipients = { A, B, C },
    .specs = {
      { 'T', "hop1.example.org", "Alice@EXAMPLE.ORG", "alice.smith@mail.example.org", "delivered", "2.0.0", NULL, 1, 0, 0, "a" },
      { 'D', "mx.example.net", NULL, "rfc822; <BOB@example.NET>", "delivered", "2.0.0", NULL, 1, 0, 0, "b" },
      { 'T', "lists.example.com", C, "carol@home.example", "transferred", "2.0.0", "mx.home.example", 1, 0, 0, "c1" },
      { 'T', "mx.home.example", NULL, "Carol@HOME.example", "delayed", "4.2.2", NULL, 2, 0, 0, "c2" },
      { 'T', "mx.example.org", "stranger@example.org", "stranger@example.org", "failed", "5.1.1", NULL, 2, 0, 0, "stranger" },
    },
    .expect = { { A, "delivered", "a" }, { B, "delivered", "b" }, { C, "delayed", "c2" } },
    .overall = "delayed", .summary = "Delivered 2/3, 1 delayed", .final = FALSE },

  /* Case: the list's spelling is kept (domain lower-cased); matching ignores case. */
  { .name = "match/case",
    .recipients = { "<Bob@Example.NET>", "bob@example.net" },
    .specs = {
      { 'D', "mx.example.net", NULL, "BOB@EXAMPLE.NET", "failed", "5.2.1", NULL, 1, 0, 0, "b" },
    },
    .expect = { { "Bob@example.net", "failed", "b" } },
    .overall = "failed", .summary = "Failed 1/1", .final = TRUE },

  { .name = "no-reports",
    .recipients = { A, B },
    .specs = { { 0 } },
    .expect = { { A, "unknown", NULL }, { B, "unknown", NULL } },
    .overall = "unknown", .summary = "No tracking information yet", .final = FALSE },

  { .name = "no-reports-no-list",
    .no_list = TRUE,
    .specs = { { 0 } },
    .expect = { { NULL } },
    .overall = "unknown", .summary = "No tracking information yet", .final = FALSE },

  { .name = "not-in-list",
    .recipients = { A },
    .specs = {
      { 'T', "hop1.example.org", "zed@example.org", "zed@example.org", "delivered", "2.0.0", NULL, 1, 0, 0, "z" },
      { 'T', "hop1.example.org", NULL, "someone@example.org", "delivered", "2.0.0", NULL, 1, 0, 0, "s" },
    },
    .expect = { { A, "unknown", NULL } },
    .overall = "unknown", .summary = "No tracking information yet", .final = FALSE },

  /* Without a list every named recipient is learned (sorted); a forwarded Final-Recipient
   * seen with our Original-Recipient is not a recipient of its own. */
  { .name = "no-list/learned",
    .no_list = TRUE,
    .specs = {
      { 'T', "hop1.example.org", NULL, "Carol@Example.COM", "delayed", "4.4.1", NULL, 1, 0, 0, "c" },
      { 'T', "hop1.example.org", "alice@example.org", "alias@lists.example.org", "transferred", "2.0.0", "mx.lists.example.org", 1, 0, 0, "a1" },
      { 'T', "mx.lists.example.org", NULL, "alias@lists.example.org", "delivered", "2.0.0", NULL, 2, 0, 0, "a2" },
      { 'D', "mx.example.net", NULL, "bob@example.net", "failed", "5.1.1", NULL, 1, 0, 0, "b" },
    },
    .expect = { { A, "delivered", "a2" }, { B, "failed", "b" }, { "Carol@example.com", "delayed", "c" } },
    .overall = "failed", .summary = "Failed 1/3, 1 delayed, 1 delivered", .final = FALSE },

  { .name = "no-list/mdn-only",
    .no_list = TRUE,
    .specs = {
      { 'M', "pc.example.org; Mailer 1.0", NULL, B, "displayed", NULL, NULL, 0, 0, 9, "b" },
      { 'M', "pc.example.org; Mailer 1.0", NULL, A, "dispatched", NULL, NULL, 0, 0, 9, "a" },
    },
    .expect = { { A, "delivered", "a" }, { B, "read", "b" } },
    .overall = "delivered", .summary = "Delivered 2/2, 1 read", .final = TRUE },

  /* Garbage addresses and reporters: ignored or kept apart, never a crash. */
  { .name = "hostile/addresses",
    .recipients = { A, "", "not-a-type; x", "\xff@example.org" },
    .specs = {
      { 'T', NULL, NULL, "x400; c=us;a=foo", "delivered", "2.0.0", NULL, 1, 0, 0, "x400" },
      { 'T', NULL, NULL, "<>", "delivered", "2.0.0", NULL, 1, 0, 0, "empty" },
      { 'T', "", NULL, "a\001b@example.org", "delivered", "2.0.0", NULL, 1, 0, 0, "ctl" },
      { 'T', NULL, NULL, A, "transferred", "2.0.0", "hop2.example.org", 1, 0, 0, "a" },
    },
    .expect = { { A, "in-transit", "a" } },
    .overall = "in-transit", .summary = "In transit", .final = FALSE },
};
/* clang-format on */

static void
test_scenario (gconstpointer data)
{
  const Scenario *sc = data;
  guint orders = check_all_orders (sc);

  g_test_message ("%s: %u orders of arrival checked", sc->name, orders);
}

/* Overall state and summary for a set of recipient states (one recipient each). */
typedef struct
{
  const char *states; /* comma-separated identifiers, one per recipient; "" none */
  const char *overall;
  const char *summary;
  gboolean final;
} OverallCase;

static const OverallCase overall_cases[] = {
  { "", "unknown", "No tracking information yet", FALSE },
  { "unknown", "unknown", "No tracking information yet", FALSE },
  { "unknown,unknown,unknown", "unknown", "No tracking information yet", FALSE },
  { "in-transit", "in-transit", "In transit", FALSE },
  { "in-transit,unknown", "in-transit", "In transit", FALSE },
  { "in-transit,relayed", "in-transit", "In transit, 1 relayed", FALSE },
  { "in-transit,opaque,relayed", "in-transit", "In transit, 1 relayed, 1 not disclosed", FALSE },
  { "delayed", "delayed", "Delayed 1/1", FALSE },
  { "delayed,in-transit,unknown", "delayed", "Delayed 1/3, 1 in transit, 1 without news", FALSE },
  { "delivered,delivered,delayed", "delayed", "Delivered 2/3, 1 delayed", FALSE },
  { "delivered,delivered,delivered", "delivered", "Delivered 3/3", TRUE },
  { "delivered,unknown", "in-transit", "Delivered 1/2, 1 without news", FALSE },
  { "delivered,in-transit", "in-transit", "Delivered 1/2, 1 in transit", FALSE },
  { "delivered,relayed", "relayed", "Delivered 1/2, 1 relayed", TRUE },
  { "delivered,relayed,opaque", "opaque", "Delivered 1/3, 1 relayed, 1 not disclosed", TRUE },
  { "delivered,read,read", "delivered", "Delivered 3/3, 2 read", TRUE },
  { "read", "read", "Read 1/1", TRUE },
  { "read,read", "read", "Read 2/2", TRUE },
  { "failed", "failed", "Failed 1/1", TRUE },
  { "failed,delivered", "failed", "Failed 1/2, 1 delivered", TRUE },
  { "failed,delayed", "failed", "Failed 1/2, 1 delayed", FALSE },
  { "failed,failed,read,unknown", "failed", "Failed 2/4, 1 without news, 1 delivered, 1 read",
    FALSE },
  { "failed,delayed,in-transit,unknown,relayed,opaque,delivered,read", "failed",
    "Failed 1/8, 1 delayed, 1 in transit, 1 without news, 1 relayed, 1 not disclosed, "
    "2 delivered, 1 read", FALSE },
  { "relayed", "relayed", "Relayed to a server without tracking (1/1)", TRUE },
  { "relayed,relayed", "relayed", "Relayed to a server without tracking (2/2)", TRUE },
  { "relayed,opaque", "opaque", "Relayed to a server without tracking (1/2), 1 not disclosed",
    TRUE },
  { "opaque", "opaque", "Not disclosed by a server (1/1)", TRUE },
  { "opaque,opaque", "opaque", "Not disclosed by a server (2/2)", TRUE },
  { "relayed,unknown", "in-transit", "In transit, 1 relayed", FALSE },
};

/* A report that puts @address into @state. */
static void
add_state (MsgtrkStatus         *status,
           const char           *address,
           MsgtrkRecipientState  state)
{
  static const char *const actions[] = {
    [MSGTRK_RECIPIENT_STATE_IN_TRANSIT] = "transferred",
    [MSGTRK_RECIPIENT_STATE_DELAYED] = "delayed",
    [MSGTRK_RECIPIENT_STATE_RELAYED] = "relayed",
    [MSGTRK_RECIPIENT_STATE_OPAQUE] = "opaque",
    [MSGTRK_RECIPIENT_STATE_DELIVERED] = "delivered",
    [MSGTRK_RECIPIENT_STATE_FAILED] = "failed",
    [MSGTRK_RECIPIENT_STATE_READ] = "displayed",
  };
  Spec spec = { 'T', "mx.example.org", NULL, address, NULL, NULL, NULL, 1, 0, 0, NULL };

  if (state == MSGTRK_RECIPIENT_STATE_UNKNOWN)
    return;
  spec.action = actions[state];
  if (state == MSGTRK_RECIPIENT_STATE_READ)
    spec.kind = 'M';
  add_spec (status, &spec);
}

static void
test_overall (void)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (overall_cases); i++)
    {
      const OverallCase *oc = &overall_cases[i];
      g_auto (GStrv) states = *oc->states != '\0' ? g_strsplit (oc->states, ",", -1)
                                                   : g_new0 (char *, 1);
      g_autoptr (GPtrArray) addresses = g_ptr_array_new_with_free_func (g_free);
      g_autoptr (MsgtrkStatus) status = NULL;
      g_autofree char *summary = NULL;
      guint counts[MSGTRK_RECIPIENT_STATE_READ + 1] = { 0 };
      guint j;

      for (j = 0; states[j] != NULL; j++)
        g_ptr_array_add (addresses, g_strdup_printf ("rcpt%u@example.org", j));
      g_ptr_array_add (addresses, NULL);
      status = msgtrk_status_new ((const char * const *) addresses->pdata);
      for (j = 0; states[j] != NULL; j++)
        {
          MsgtrkRecipientState state;

          g_assert_true (msgtrk_recipient_state_from_string (states[j], &state));
          counts[state]++;
          add_state (status, addresses->pdata[j], state);
          g_assert_cmpint (msgtrk_status_get_recipient_state (status, addresses->pdata[j]), ==,
                           state);
        }

      g_test_message ("overall case %u: %s", i, oc->states);
      g_assert_cmpstr (msgtrk_recipient_state_to_string (msgtrk_status_get_overall (status)), ==,
                       oc->overall);
      summary = msgtrk_status_format_summary (status);
      g_assert_cmpstr (summary, ==, oc->summary);
      g_assert_cmpint (msgtrk_status_is_final (status), ==, oc->final);
      for (j = 0; j < G_N_ELEMENTS (counts); j++)
        g_assert_cmpuint (msgtrk_status_count (status, j), ==, counts[j]);
    }
}

static void
test_state_strings (void)
{
  static const struct
  {
    MsgtrkRecipientState state;
    const char *id;
    gboolean final;
  } table[] = {
    { MSGTRK_RECIPIENT_STATE_UNKNOWN, "unknown", FALSE },
    { MSGTRK_RECIPIENT_STATE_IN_TRANSIT, "in-transit", FALSE },
    { MSGTRK_RECIPIENT_STATE_DELAYED, "delayed", FALSE },
    { MSGTRK_RECIPIENT_STATE_RELAYED, "relayed", TRUE },
    { MSGTRK_RECIPIENT_STATE_OPAQUE, "opaque", TRUE },
    { MSGTRK_RECIPIENT_STATE_DELIVERED, "delivered", TRUE },
    { MSGTRK_RECIPIENT_STATE_FAILED, "failed", TRUE },
    { MSGTRK_RECIPIENT_STATE_READ, "read", TRUE },
  };
  static const char *const bad[] = {
    "", "Delivered", "in transit", "in_transit", " read", "read ", "unknown\n", "failedx",
    "délivré", "\xff",
  };
  MsgtrkRecipientState state;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_assert_cmpstr (msgtrk_recipient_state_to_string (table[i].state), ==, table[i].id);
      g_assert_cmpint (msgtrk_recipient_state_is_final (table[i].state), ==, table[i].final);
      state = MSGTRK_RECIPIENT_STATE_READ;
      g_assert_true (msgtrk_recipient_state_from_string (table[i].id, &state));
      g_assert_cmpint (state, ==, table[i].state);
      g_assert_true (msgtrk_recipient_state_from_string (table[i].id, NULL));
    }
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      state = MSGTRK_RECIPIENT_STATE_READ;
      g_assert_false (msgtrk_recipient_state_from_string (bad[i], &state));
      g_assert_cmpint (state, ==, MSGTRK_RECIPIENT_STATE_UNKNOWN);
    }
  g_assert_false (msgtrk_recipient_state_from_string (NULL, &state));
  g_assert_cmpint (state, ==, MSGTRK_RECIPIENT_STATE_UNKNOWN);
}

static void
test_address_normalize (void)
{
  static const struct
  {
    const char *in;
    const char *out;
  } table[] = {
    { "jane@example.org", "jane@example.org" },
    { "Jane@Example.ORG", "Jane@example.org" },
    { "rfc822; <Jane@Example.ORG>", "Jane@example.org" },
    { "RFC822;jane@EXAMPLE.org", "jane@example.org" },
    { "rfc822; rfc822; <jane@EXAMPLE.org>", "jane@example.org" },
    { "rfc822; x400; c=us", NULL },
    { "  \t<jane@example.org>  ", "jane@example.org" },
    { "< jane@example.org >", "jane@example.org" },
    { "utf-8; Jöran@BÜCHER.Example", "Jöran@bücher.example" },
    { "\"a;b\"@X.ORG", "\"a;b\"@x.org" },
    { "\"a@b\"@X.ORG", "\"a@b\"@x.org" },
    { "postmaster", "postmaster" },
    { "Jane@", "Jane@" },
    { "x400; c=us;a=foo", NULL },
    { "dns; host.example.org", NULL },
    { "rfc822;", NULL },
    { "rfc822; <>", NULL },
    { "<>", NULL },
    { "", NULL },
    { "   ", NULL },
    { "a\r\nb@example.org", NULL },
    { "a\177b@example.org", NULL },
    { "\xff\xfe@example.org", NULL },
    { "jane@exa\xc3mple.org", NULL },
  };
  guint i;

  g_assert_null (msgtrk_address_normalize (NULL));
  for (i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autofree char *out = msgtrk_address_normalize (table[i].in);

      g_test_message ("normalize case %u", i);
      g_assert_cmpstr (out, ==, table[i].out);
    }
}

/* One report with several blocks, added whole; the same report added twice changes
 * nothing; a report with no recipients changes nothing. */
static void
test_multi_block_report (void)
{
  const char *recipients[] = { A, B, C, NULL };
  g_autoptr (MsgtrkStatus) status = msgtrk_status_new (recipients);
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_DELIVERY_STATUS);
  g_autoptr (MsgtrkReport) empty = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  const char *actions[] = { "delivered", "delivered", "delayed" };
  g_autofree char *summary = NULL;
  MsgtrkRecipientReport *decided;
  guint i;

  msgtrk_report_set_reporting_mta (report, "mx.example.org");
  for (i = 0; i < 3; i++)
    {
      g_autoptr (MsgtrkRecipientReport) entry = msgtrk_recipient_report_new (recipients[i]);

      msgtrk_recipient_report_set_action (entry, msgtrk_action_from_string (actions[i]));
      msgtrk_report_add_recipient (report, entry);
    }
  msgtrk_status_add_report (status, empty, NULL);
  msgtrk_status_add_report (status, report, NULL);
  msgtrk_status_add_report (status, report, NULL);
  summary = msgtrk_status_format_summary (status);
  g_assert_cmpstr (summary, ==, "Delivered 2/3, 1 delayed");
  g_assert_cmpuint (msgtrk_status_count (status, MSGTRK_RECIPIENT_STATE_DELIVERED), ==, 2);
  g_assert_cmpuint (msgtrk_status_count (status, MSGTRK_RECIPIENT_STATE_DELAYED), ==, 1);

  decided = msgtrk_status_get_recipient_report (status, "rfc822; <CAROL@example.com>");
  g_assert_true (decided == g_ptr_array_index (msgtrk_report_get_recipients (report), 2));
  g_assert_null (msgtrk_status_get_recipient_report (status, "nobody@example.org"));
  g_assert_null (msgtrk_status_get_recipient_report (status, "x400; c=us"));
  g_assert_cmpint (msgtrk_status_get_recipient_state (status, "nobody@example.org"), ==,
                   MSGTRK_RECIPIENT_STATE_UNKNOWN);
}

/* A reference taken on the entry keeps it valid after a newer report replaced it. */
static void
test_report_lifetime (void)
{
  const char *recipients[] = { A, NULL };
  g_autoptr (MsgtrkStatus) status = msgtrk_status_new (recipients);
  Spec first = { 'T', "hop1.example.org", NULL, A, "delayed", "4.4.1", NULL, 1, 0, 0, "first" };
  Spec second = { 'T', "hop1.example.org", NULL, A, "delayed", "4.4.1", NULL, 2, 0, 0, "second" };
  g_autofree char *tag1 = NULL;
  g_autofree char *tag2 = NULL;
  g_autoptr (MsgtrkRecipientReport) held = NULL;

  add_spec (status, &first);
  held = g_object_ref (msgtrk_status_get_recipient_report (status, A));
  tag1 = decider_tag (status, A);
  add_spec (status, &second);
  tag2 = decider_tag (status, A);
  g_assert_cmpstr (tag1, ==, "first");
  g_assert_cmpstr (tag2, ==, "second");
  g_assert_cmpstr (msgtrk_recipient_report_get_diagnostic_code (held), ==, "x-test; first");
}

/* MSGTRK_STATUS_MAX_EVIDENCE reporters are kept; one more is ignored; a newer word from a
 * reporter already kept is still taken. */
static void
run_limit (guint n_reporters,
           gboolean expect_taken)
{
  const char *recipients[] = { A, NULL };
  g_autoptr (MsgtrkStatus) status = msgtrk_status_new (recipients);
  guint i;

  for (i = 0; i + 1 < n_reporters; i++)
    {
      g_autofree char *host = g_strdup_printf ("relay%u.example.org", i);
      Spec spec = { 'T', host, NULL, A, "delayed", "4.4.1", NULL, 1, 0, 0, "delayed" };

      add_spec (status, &spec);
    }
  {
    Spec last = { 'T', "last.example.org", NULL, A, "delivered", "2.0.0", NULL, 2, 0, 0, "last" };

    add_spec (status, &last);
  }
  g_assert_cmpint (msgtrk_status_get_recipient_state (status, A), ==,
                   expect_taken ? MSGTRK_RECIPIENT_STATE_DELIVERED
                                : MSGTRK_RECIPIENT_STATE_DELAYED);
  if (!expect_taken)
    {
      Spec again = { 'T', "relay0.example.org", NULL, A, "failed", "5.0.0", NULL, 3, 0, 0, "x" };

      add_spec (status, &again);
      g_assert_cmpint (msgtrk_status_get_recipient_state (status, A), ==,
                       MSGTRK_RECIPIENT_STATE_FAILED);
    }
}

static void
test_limit_evidence (void)
{
  run_limit (MSGTRK_STATUS_MAX_EVIDENCE, TRUE);
  run_limit (MSGTRK_STATUS_MAX_EVIDENCE + 1, FALSE);
}

/* A route as long as the limit allows, arriving last hop first, with dates that favour the
 * first hop: the last hop, furthest down the route, still decides. */
static void
test_long_route (void)
{
  const char *recipients[] = { A, NULL };
  g_autoptr (MsgtrkStatus) status = msgtrk_status_new (recipients);
  g_autofree char *tag = NULL;
  guint n = MSGTRK_STATUS_MAX_EVIDENCE;
  guint i;

  for (i = n; i-- > 0;)
    {
      g_autofree char *host = g_strdup_printf ("hop%u.example.org", i);
      g_autofree char *next = g_strdup_printf ("hop%u.example.org", i + 1);
      g_autofree char *hop_tag = g_strdup_printf ("hop%u", i);
      Spec spec = { 'T', host, NULL, A, "transferred", "2.0.0", next, n - i, 0, 0, hop_tag };

      add_spec (status, &spec);
    }
  tag = decider_tag (status, A);
  g_assert_cmpint (msgtrk_status_get_recipient_state (status, A), ==,
                   MSGTRK_RECIPIENT_STATE_IN_TRANSIT);
  g_assert_cmpstr (tag, ==, "hop4095");
}

int
main (int    argc,
      char **argv)
{
  guint i;

  g_setenv ("LANGUAGE", "C", TRUE);
  setlocale (LC_ALL, "C");
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("MsgtrkStatus: recipient states, precedence, overall state and summary, "
                  "independent of the order in which reports arrive (docs/status.md).");

  g_test_add_func ("/status/state/strings", test_state_strings);
  g_test_add_func ("/status/address/normalize", test_address_normalize);
  for (i = 0; i < G_N_ELEMENTS (scenarios); i++)
    {
      g_autofree char *path = g_strconcat ("/status/scenario/", scenarios[i].name, NULL);

      g_test_add_data_func (path, &scenarios[i], test_scenario);
    }
  g_test_add_func ("/status/overall/table", test_overall);
  g_test_add_func ("/status/report/multi-block", test_multi_block_report);
  g_test_add_func ("/status/report/lifetime", test_report_lifetime);
  g_test_add_func ("/status/limit/evidence", test_limit_evidence);
  g_test_add_func ("/status/limit/long-route", test_long_route);

  return g_test_run ();
}
