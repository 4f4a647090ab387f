/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-msgtrkd-tracking.c: msgtrkd's tracking model without a bus (msgtrkd-tracking.c).
 *
 * What: a store in a temporary directory and the model over it, no scheduler, no keyring,
 * no D-Bus: Prepare's checks at their limits, Committed's tracking modes, Aborted, the
 * state recomputed from ingested reports (expanded is delivered and final), the sent time
 * moved back to the earliest Arrival-Date, a delegated message learning its recipients
 * from its reports (and polled again for a new one), one event per distinct word, the
 * route cache bounded at MSGTRKD_ROUTE_CACHE_MESSAGES, the notifications' transitions, a
 * change made in a store batch told only once the batch has committed, a hop's newer answer
 * replacing its stored row under the same row id (SQLite reuses the largest rowid) read
 * anew, not from the parsed-report cache; an alias's "expanded" beside its members'
 * "delivered"/"relayed" at one server is no conflict, a member's "failed" is; forged DSNs
 * by Message-ID (review rv21h): one dated 2199 neither deletes nor hides the genuine DSN
 * matched by the ENVID, a report's date counts for at most MSGTRKD_ROUTE_MAX_CLOCK_SKEW
 * past its arrival (at and past it), and a flood keeps
 * MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE rows (at and past it) without pushing
 * out the genuine DSN, even past MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE forgeries.
 * Never: touches the user's keyring or session bus.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "msgtrkd-error.h"
#include "msgtrkd-harrison.h"
#include "msgtrkd-notify.h"
#include "msgtrkd-route.h"
#include "msgtrkd-tracking.h"

typedef struct
{
  char *dir;
  char *path;
  MsgtrkdStore *store;
  MsgtrkdTracking *tracking;
  GPtrArray *changes; /* "envid old→new" of each status-changed call */
  GPtrArray *durable; /* the state another connection read at each call ("none": no row) */
} Fixture;

/* The state of @envid as another process reads it now: only what is committed. */
static char *
committed_state (Fixture    *f,
                 const char *envid)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *state;

  g_assert_cmpint (sqlite3_open_v2 (f->path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT state FROM messages WHERE envid = ?", -1,
                                       &stmt, NULL),
                   ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, envid, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    state = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  else
    state = g_strdup ("none");
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return state;
}

static void
on_changed (const MsgtrkdMessage *m,
            MsgtrkMessageState    old_state,
            gpointer              user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->changes,
                   g_strdup_printf ("%s→%s", msgtrk_message_state_to_string (old_state),
                                    m->state));
  g_ptr_array_add (f->durable, committed_state (f, m->envid));
}

static void
fixture_set_up (Fixture      *f,
                gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("msgtrkd-tracking-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "msgtrk.db", NULL);
  f->store = msgtrkd_store_open (f->path, &error);
  g_assert_no_error (error);
  f->changes = g_ptr_array_new_with_free_func (g_free);
  f->durable = g_ptr_array_new_with_free_func (g_free);
  f->tracking = msgtrkd_tracking_new (f->store, 10, on_changed, f);
}

static void
fixture_tear_down (Fixture      *f,
                   gconstpointer data)
{
  g_autofree char *cmd = NULL;

  g_clear_object (&f->tracking);
  g_clear_object (&f->store);
  g_ptr_array_unref (f->changes);
  g_ptr_array_unref (f->durable);
  g_free (f->path);
  cmd = g_strdup_printf ("rm -rf '%s'", f->dir);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (f->dir);
}

static const char *const one_rcpt[] = { "bob@example.net", NULL };

/* The Message-ID prepare() gives its messages: every recipient reads it. */
#define PREPARED_MESSAGE_ID "m1@example.org"

/* A prepared and stored message; returns its ENVID. */
static char *
prepare (Fixture            *f,
         const char * const *rcpts)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) m = msgtrkd_tracking_prepare (
    f->tracking, "alice@example.org", rcpts, "<" PREPARED_MESSAGE_ID ">", "Hello",
    "smtp.example.org", 3600, &error);

  g_assert_no_error (error);
  g_assert_true (msgtrkd_tracking_add_prepared (f->tracking, m, &error));
  g_assert_no_error (error);
  return g_strdup (m->envid);
}

static MsgtrkdMessage *
get (Fixture    *f,
     const char *envid)
{
  g_autoptr (GError) error = NULL;
  MsgtrkdMessage *m = msgtrkd_store_get_message (f->store, envid, &error);

  g_assert_no_error (error);
  return m;
}

/* A DSN as Postfix writes it: about @envid (NULL: no Original-Envelope-Id), returning the
 * headers of the message @message_id; one block for @final (Final-Recipient) sent to
 * @original (Original-Recipient), with @action and @status; @arrival: an Arrival-Date
 * (unix seconds) or 0. */
static GBytes *
make_dsn_about (const char *envid,
                const char *message_id,
                const char *reporting_mta,
                gint64      arrival,
                const char *final,
                const char *original,
                const char *action,
                const char *status)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *date = NULL;
  g_autofree char *envid_field = NULL;

  if (arrival > 0)
    {
      g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (arrival);

      date = g_date_time_format (dt, "Arrival-Date: %a, %d %b %Y %H:%M:%S +0000\n");
    }
  if (envid != NULL)
    envid_field = g_strdup_printf ("Original-Envelope-Id: %s\n", envid);
  g_string_append_printf (s,
                          "From: MAILER-DAEMON@%s\nTo: alice@example.org\n"
                          "Subject: Delivery Status Notification\nMIME-Version: 1.0\n"
                          "Content-Type: multipart/report; report-type=delivery-status;\n"
                          "\tboundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nA report.\n\n"
                          "--b1\nContent-Type: message/delivery-status\n\n"
                          "Reporting-MTA: dns; %s\n%s%s\n"
                          "Final-Recipient: rfc822; %s\nOriginal-Recipient: rfc822;%s\n"
                          "Action: %s\nStatus: %s\n\n"
                          "--b1\nContent-Type: text/rfc822-headers\n\n"
                          "Message-ID: <%s>\nSubject: Hello\n\n--b1--\n",
                          reporting_mta, reporting_mta, envid_field != NULL ? envid_field : "",
                          date != NULL ? date : "", final, original, action, status,
                          message_id);
  return g_string_free_to_bytes (g_steal_pointer (&s));
}

/* make_dsn_about() @envid, returning another message's headers (only the ENVID matches). */
static GBytes *
make_dsn_for (const char *envid,
              const char *reporting_mta,
              gint64      arrival,
              const char *final,
              const char *original,
              const char *action,
              const char *status)
{
  return make_dsn_about (envid, "returned@example.org", reporting_mta, arrival, final, original,
                         action, status);
}

/* A DSN about @rcpt as any recipient of prepare()'s message can forge one: without the
 * ENVID (only the route's servers see it), naming the Message-ID it read. */
static GBytes *
make_forged_dsn (const char *reporting_mta,
                 gint64      arrival,
                 const char *rcpt,
                 const char *action,
                 const char *status)
{
  return make_dsn_about (NULL, PREPARED_MESSAGE_ID, reporting_mta, arrival, rcpt, rcpt, action,
                         status);
}

/* make_dsn_for() about @rcpt itself (its Final- and Original-Recipient). */
static GBytes *
make_dsn (const char *envid,
          const char *reporting_mta,
          gint64      arrival,
          const char *rcpt,
          const char *action,
          const char *status)
{
  return make_dsn_for (envid, reporting_mta, arrival, rcpt, rcpt, action, status);
}

static void
ingested (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  char **out = data;
  g_autoptr (GError) error = NULL;

  *out = msgtrkd_tracking_ingest_finish (MSGTRKD_TRACKING (source), result, &error);
  g_assert_no_error (error);
}

/* IngestReport without a bus (@raw: transfer full); returns the ENVID the model matched
 * ("" for none). */
static char *
ingest (Fixture *f,
        GBytes  *raw)
{
  g_autoptr (GBytes) owned = raw;
  char *envid = NULL;

  msgtrkd_tracking_ingest_async (f->tracking, raw, NULL, ingested, &envid);
  while (envid == NULL)
    g_main_context_iteration (NULL, TRUE);
  return envid;
}

static JsonObject *
route_of (Fixture    *f,
          const char *envid,
          JsonParser *parser)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = msgtrkd_tracking_get_route_json (f->tracking, envid, TRUE, &error);

  g_assert_no_error (error);
  g_assert_true (json_parser_load_from_data (parser, json, -1, &error));
  return json_node_get_object (json_parser_get_root (parser));
}

/* Whether an event of @envid says exactly @text. */
static gboolean
has_event (Fixture    *f,
           const char *envid,
           const char *text)
{
  g_autoptr (GPtrArray) events = msgtrkd_store_list_events (f->store, envid, NULL);

  for (guint i = 0; events != NULL && i < events->len; i++)
    if (g_strcmp0 (((MsgtrkdEvent *) g_ptr_array_index (events, i))->text, text) == 0)
      return TRUE;
  return FALSE;
}

/* Whether an event of @envid mentions @needle. */
static gboolean
has_event_with (Fixture    *f,
                const char *envid,
                const char *needle)
{
  g_autoptr (GPtrArray) events = msgtrkd_store_list_events (f->store, envid, NULL);

  for (guint i = 0; events != NULL && i < events->len; i++)
    if (strstr (((MsgtrkdEvent *) g_ptr_array_index (events, i))->text, needle) != NULL)
      return TRUE;
  return FALSE;
}

/* The stored report rows of @envid tied to it as @matched says (a MsgtrkdReportMatch), as
 * another process reads them. */
static guint
count_matched (Fixture           *f,
               const char        *envid,
               MsgtrkdReportMatch matched)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  guint n;

  g_assert_cmpint (sqlite3_open_v2 (f->path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count (*) FROM reports "
                                       "WHERE envid = ? AND matched = ?", -1, &stmt, NULL),
                   ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, envid, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int (stmt, 2, (int) matched);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  n = (guint) sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return n;
}

/* Prepare's checks at their limits; the record before and after Committed/Aborted. */
static void
test_prepare_commit (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) many = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (MsgtrkdMessage) bad = NULL;
  g_autofree char *envid = NULL;
  g_autofree char *none_envid = NULL;
  g_autofree char *long_subject = g_strnfill (MSGTRKD_MAX_FIELD_LENGTH + 1, 'x');
  static const char *const mtrk[] = { "DSN", "MTRK", NULL };

  bad = msgtrkd_tracking_prepare (f->tracking, "no-domain", one_rcpt, NULL, NULL,
                                  "smtp.example.org", 60, &error);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_assert_null (bad);
  g_clear_error (&error);
  /* libmsgtrk's one mailbox grammar: what the envelope builders would refuse. */
  {
    static const char *const bad_rcpt[] = { "a(b)@example.net", NULL };

    bad = msgtrkd_tracking_prepare (f->tracking, "a@example.org", bad_rcpt, NULL, NULL,
                                    "smtp.example.org", 60, &error);
    g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
    g_assert_null (bad);
    g_clear_error (&error);
    bad = msgtrkd_tracking_prepare (f->tracking, "a@example..org", one_rcpt, NULL, NULL,
                                    "smtp.example.org", 60, &error);
    g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
    g_assert_null (bad);
    g_clear_error (&error);
  }
  /* A subject past the limit is cut to it (only shown), not refused. */
  m = msgtrkd_tracking_prepare (f->tracking, "a@example.org", one_rcpt, NULL, long_subject,
                                "smtp.example.org", 60, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (m->subject), ==, MSGTRKD_MAX_FIELD_LENGTH);
  g_clear_pointer (&m, msgtrkd_message_free);
  for (guint i = 0; i < MSGTRKD_MAX_RECIPIENTS; i++)
    g_ptr_array_add (many, g_strdup_printf ("r%u@example.net", i));
  g_ptr_array_add (many, NULL);
  m = msgtrkd_tracking_prepare (f->tracking, "a@example.org", (const char * const *) many->pdata,
                                NULL, NULL, "smtp.example.org", 60, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (m->recipients), ==, MSGTRKD_MAX_RECIPIENTS);
  g_clear_pointer (&m, msgtrkd_message_free);
  g_ptr_array_insert (many, (gint) MSGTRKD_MAX_RECIPIENTS,
                      g_strdup_printf ("r%u@example.net", MSGTRKD_MAX_RECIPIENTS));
  bad = msgtrkd_tracking_prepare (f->tracking, "a@example.org",
                                  (const char * const *) many->pdata, NULL, NULL,
                                  "smtp.example.org", 60, &error);
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  envid = prepare (f, one_rcpt);
  m = get (f, envid);
  g_assert_cmpstr (m->state, ==, "sending");
  g_assert_cmpint (msgtrkd_message_get_tracking_mode (m), ==, MSGTRK_TRACKING_MODE_PENDING);
  g_assert_cmpuint (f->changes->len, ==, 1);
  g_clear_pointer (&m, msgtrkd_message_free);

  g_assert_true (msgtrkd_tracking_commit (f->tracking, envid, mtrk, "250 2.0.0 Ok", &error));
  g_assert_no_error (error);
  m = get (f, envid);
  g_assert_cmpint (msgtrkd_message_get_tracking_mode (m), ==, MSGTRK_TRACKING_MODE_MTQP);
  g_assert_cmpstr (m->state, ==, "in-transit");
  g_assert_false (m->final);
  g_assert_cmpint (m->next_poll_at, ==, m->committed_at + 10);
  g_assert_cmpstr ((const char *) g_ptr_array_index (f->changes, 1), ==, "sending→in-transit");
  g_assert_true (has_event (f, envid, "Prepared for 1 recipient"));
  g_assert_true (has_event (f, envid, "Sent to smtp.example.org (250 2.0.0 Ok)"));
  /* Committed twice: the message is no longer pending. */
  g_assert_false (msgtrkd_tracking_commit (f->tracking, envid, mtrk, NULL, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_clear_pointer (&m, msgtrkd_message_free);

  none_envid = prepare (f, one_rcpt);
  g_assert_true (msgtrkd_tracking_commit (f->tracking, none_envid, NULL, NULL, &error));
  m = get (f, none_envid);
  g_assert_cmpstr (m->state, ==, "untracked");
  g_assert_true (m->final);
  g_assert_true (has_event (f, none_envid, "smtp.example.org offered neither MTRK nor DSN"));
  g_clear_pointer (&m, msgtrkd_message_free);

  /* Aborted: final, not sent; a new attempt of the same Message-ID forgets it. */
  g_clear_pointer (&none_envid, g_free);
  none_envid = prepare (f, one_rcpt);
  m = msgtrkd_tracking_abort (f->tracking, none_envid, "421 gone\r\n", &error);
  g_assert_no_error (error);
  g_clear_pointer (&m, msgtrkd_message_free);
  m = get (f, none_envid);
  g_assert_cmpstr (m->state, ==, "aborted");
  g_assert_true (m->final);
  g_assert_true (has_event (f, none_envid, "Not sent: 421 gone"));
  g_clear_pointer (&m, msgtrkd_message_free);
  g_clear_pointer (&envid, g_free);
  envid = prepare (f, one_rcpt);
  g_assert_null (msgtrkd_store_get_message (f->store, none_envid, &error));
  g_assert_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND);
}

/* The state from every stored report: expanded is delivered, and final; the same DSN
 * twice is nothing new; the sent time moves back to the earliest Arrival-Date. */
static void
test_recompute_from_reports (Fixture      *f,
                             gconstpointer data)
{
  static const char *const dsn_only[] = { "DSN", NULL };
  static const char *const two[] = { "bob@example.net", "list@example.net", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = prepare (f, two);
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (GBytes) first = NULL;
  g_autoptr (GBytes) second = NULL;
  g_autofree char *got = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GDateTime) sent = NULL;
  JsonObject *route;
  gint64 arrival;

  g_assert_true (msgtrkd_tracking_commit (f->tracking, envid, dsn_only, NULL, &error));
  m = get (f, envid);
  g_assert_cmpstr (m->state, ==, "in-transit");
  arrival = m->committed_at - 2;
  g_clear_pointer (&m, msgtrkd_message_free);

  first = make_dsn (envid, "mx.example.net", arrival, "bob@example.net", "delivered", "2.0.0");
  got = ingest (f, g_bytes_ref (first));
  g_assert_cmpstr (got, ==, envid);
  m = get (f, envid);
  g_assert_false (m->final); /* one of two */
  g_clear_pointer (&m, msgtrkd_message_free);
  g_clear_pointer (&got, g_free);

  second = make_dsn (envid, "lists.example.net", 0, "list@example.net", "expanded", "2.0.0");
  got = ingest (f, g_bytes_ref (second));
  g_assert_cmpstr (got, ==, envid);
  m = get (f, envid);
  g_assert_cmpstr (m->state, ==, "delivered");
  g_assert_true (m->final);
  g_assert_cmpuint (f->changes->len, >=, 2);
  g_assert_cmpstr ((const char *) g_ptr_array_index (f->changes, f->changes->len - 1), ==,
                   "in-transit→delivered");
  g_clear_pointer (&got, g_free);

  /* The same report again: matched, nothing new, no change. */
  got = ingest (f, g_bytes_ref (second));
  g_assert_cmpstr (got, ==, envid);
  g_clear_pointer (&got, g_free);
  got = ingest (f, make_dsn ("unknown-envid", "mx.example.net", 0, "x@example.net", "failed",
                             "5.1.1"));
  g_assert_cmpstr (got, ==, "");

  /* Sent: the client's report moved back to the earliest Arrival-Date. */
  route = route_of (f, envid, parser);
  sent = g_date_time_new_from_iso8601 (json_object_get_string_member (route, "sent"), NULL);
  g_assert_nonnull (sent);
  g_assert_cmpint (g_date_time_to_unix (sent), ==, arrival);
  g_assert_cmpstr (json_object_get_string_member (route, "state"), ==, "delivered");
}

/* The merged hop of @address at @server in the route of @envid (asserted there). */
static JsonObject *
hop_at (JsonObject *route,
        const char *address,
        const char *server)
{
  JsonArray *rcpts = json_object_get_array_member (route, "recipients");

  for (guint i = 0; i < json_array_get_length (rcpts); i++)
    {
      JsonObject *r = json_array_get_object_element (rcpts, i);
      JsonArray *hops = json_object_get_array_member (r, "hops");

      if (!g_str_equal (json_object_get_string_member (r, "address"), address))
        continue;
      for (guint j = 0; j < json_array_get_length (hops); j++)
        {
          JsonObject *h = json_array_get_object_element (hops, j);

          if (g_strcmp0 (json_object_get_string_member (h, "reporting_mta"), server) == 0)
            return h;
        }
    }
  g_assert_not_reached ();
  return NULL;
}

/* An alias at one server, as Postfix reports it: its success DSN says "expanded" for the
 * alias (RFC 3464 2.3.3: delivered to the address as given and forwarded to others), the
 * members' reports (Original-Recipient: the alias) say "delivered" and "relayed": one
 * hop, no conflict (the words agree: the expansion and its members' hand-offs). A member
 * that failed there does disagree: a conflict, and the recipient failed. */
static void
test_alias_expanded_no_conflict (Fixture      *f,
                                 gconstpointer data)
{
  static const char *const dsn_only[] = { "DSN", NULL };
  static const char *const team[] = { "team@example.net", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = prepare (f, team);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (MsgtrkdMessage) m = NULL;
  JsonObject *hop;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  g_assert_true (msgtrkd_tracking_commit (f->tracking, envid, dsn_only, NULL, &error));
  g_assert_no_error (error);
  g_free (ingest (f, make_dsn (envid, "mx.example.net", now - 5, "team@example.net",
                               "expanded", "2.0.0")));
  g_free (ingest (f, make_dsn_for (envid, "mx.example.net", now - 5, "alice@example.net",
                                   "team@example.net", "delivered", "2.0.0")));
  g_free (ingest (f, make_dsn_for (envid, "mx.example.net", now - 5, "carol@example.com",
                                   "team@example.net", "relayed", "2.0.0")));
  m = get (f, envid);
  g_assert_cmpstr (m->state, ==, "delivered");
  hop = hop_at (route_of (f, envid, parser), "team@example.net", "mx.example.net");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (hop, "evidence")), ==,
                    3);
  g_assert_false (json_object_get_boolean_member (hop, "conflict"));

  g_free (ingest (f, make_dsn_for (envid, "mx.example.net", now, "bob@example.net",
                                   "team@example.net", "failed", "5.1.1")));
  g_clear_pointer (&m, msgtrkd_message_free);
  m = get (f, envid);
  g_assert_cmpstr (m->state, ==, "failed");
  hop = hop_at (route_of (f, envid, parser), "team@example.net", "mx.example.net");
  g_assert_true (json_object_get_boolean_member (hop, "conflict"));
}

/* A delayed hop's newer answer replaces its row (msgtrkd_store_put_report() with the same
 * key, as keep_poll_reports() stores each poll). The message's only row is the table's
 * last: SQLite gives the new row the deleted one's id. The state follows the new answer
 * (it stayed "delayed" when the parsed-report cache, keyed by row id alone, served the
 * old row's parse: seen against a real Postfix, tests/postfix/test-postfix-e2e.py). */
static void
test_replaced_row_read_anew (Fixture      *f,
                             gconstpointer data)
{
  static const char *const mtrk[] = { "DSN", "MTRK", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = prepare (f, one_rcpt);
  g_autoptr (GBytes) delayed = NULL;
  g_autoptr (GBytes) delivered = NULL;
  g_autoptr (GPtrArray) heads = NULL;
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *route;
  JsonArray *rcpts;
  gint64 first_id;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gboolean is_new = FALSE;

  g_assert_true (msgtrkd_tracking_commit (f->tracking, envid, mtrk, NULL, &error));
  g_assert_no_error (error);
  delayed = make_dsn (envid, "mx.example.net", now - 10, "bob@example.net", "delayed", "4.3.0");
  g_assert_true (msgtrkd_store_put_report (f->store, envid, "mtqp", "mx.example.net",
                                           MSGTRKD_REPORT_MATCH_ENVID, "k1", now - 10, now - 10,
                                           delayed, &is_new, &error));
  g_assert_no_error (error);
  g_assert_true (is_new);
  msgtrkd_tracking_recompute (f->tracking, envid, now - 10, FALSE);
  m = get (f, envid);
  g_assert_cmpstr (m->state, ==, "delayed");
  g_clear_pointer (&m, msgtrkd_message_free);
  heads = msgtrkd_store_list_report_heads (f->store, envid, &error);
  g_assert_cmpuint (heads->len, ==, 1);
  first_id = ((MsgtrkdStoredReport *) g_ptr_array_index (heads, 0))->id;
  g_clear_pointer (&heads, g_ptr_array_unref);

  delivered = make_dsn (envid, "mx.example.net", now, "bob@example.net", "delivered", "2.0.0");
  g_assert_true (msgtrkd_store_put_report (f->store, envid, "mtqp", "mx.example.net",
                                           MSGTRKD_REPORT_MATCH_ENVID, "k1", now, now, delivered,
                                           &is_new, &error));
  g_assert_no_error (error);
  g_assert_true (is_new);
  heads = msgtrkd_store_list_report_heads (f->store, envid, &error);
  g_assert_cmpuint (heads->len, ==, 1);
  /* The premise: the replacing row has the replaced row's id. */
  g_assert_cmpint (((MsgtrkdStoredReport *) g_ptr_array_index (heads, 0))->id, ==, first_id);
  msgtrkd_tracking_recompute (f->tracking, envid, now, FALSE);
  m = get (f, envid);
  g_assert_cmpstr (m->state, ==, "delivered");
  route = route_of (f, envid, parser);
  rcpts = json_object_get_array_member (route, "recipients");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (rcpts, 0),
                                                  "state"),
                   ==, "delivered");
}

/* Review rv21h: a recipient knows the message's Message-ID (not its ENVID) and mails the
 * sender a DSN in the name of the real Reporting-MTA, dated in the year 2199. It is matched
 * (by the Message-ID) and kept as evidence, but it neither deletes the genuine DSN matched
 * by the ENVID before it nor hides the genuine one after it as "older". */
static void
test_forged_future_dsn (Fixture      *f,
                        gconstpointer data)
{
  static const char *const dsn_only[] = { "DSN", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = prepare (f, one_rcpt);
  g_autofree char *got = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *hop;
  JsonArray *evidence;
  gboolean failed_shown = FALSE;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 year_2199 = G_GINT64_CONSTANT (7289654400); /* 2199-01-01 00:00:00 UTC */

  g_assert_true (msgtrkd_tracking_commit (f->tracking, envid, dsn_only, NULL, &error));
  g_assert_no_error (error);
  got = ingest (f, make_dsn (envid, "mx.example.net", now - 60, "bob@example.net", "failed",
                             "5.1.1"));
  g_assert_cmpstr (got, ==, envid);
  g_clear_pointer (&got, g_free);

  got = ingest (f, make_forged_dsn ("mx.example.net", year_2199, "bob@example.net", "delivered",
                                    "2.0.0"));
  g_assert_cmpstr (got, ==, envid); /* matched by the Message-ID: evidence it may add */
  g_clear_pointer (&got, g_free);
  g_assert_true (has_event_with (f, envid, "(2.0.0)"));
  g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==, 1);
  g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_ENVID), ==, 1);

  /* The genuine MTA's next word, dated now: not "older" than the forgery's 2199. */
  got = ingest (f, make_dsn (envid, "mx.example.net", now - 30, "bob@example.net", "failed",
                             "5.1.2"));
  g_assert_cmpstr (got, ==, envid);
  g_assert_true (has_event_with (f, envid, "(5.1.2)"));
  g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_ENVID), ==, 1);
  g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==, 1);

  /* A later forgery replaces the earlier one (same reporter and recipient), never the
   * genuine word. */
  g_clear_pointer (&got, g_free);
  got = ingest (f, make_forged_dsn ("mx.example.net", year_2199 + 1, "bob@example.net",
                                    "delivered", "2.0.1"));
  g_assert_true (has_event_with (f, envid, "(2.0.1)"));
  g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==, 1);
  g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_ENVID), ==, 1);

  /* Both words are evidence of the one hop: the genuine failure is still shown. */
  hop = hop_at (route_of (f, envid, parser), "bob@example.net", "mx.example.net");
  evidence = json_object_get_array_member (hop, "evidence");
  g_assert_nonnull (evidence);
  for (guint i = 0; i < json_array_get_length (evidence); i++)
    {
      JsonObject *e = json_array_get_object_element (evidence, i);

      failed_shown |= g_strcmp0 (json_object_get_string_member (e, "action"), "failed") == 0
                      && g_strcmp0 (json_object_get_string_member (e, "status"), "5.1.2") == 0;
    }
  g_assert_true (failed_shown);

  /* And the state is the genuine one: the forgery, in the name of a reporter that gives the
   * ENVID back, is left out of the status (a forgery dated 2199 decided it before). */
  {
    g_autoptr (MsgtrkdMessage) m = get (f, envid);

    g_assert_cmpstr (m->state, ==, "failed");
  }
}

/* The date a report speaks for counts for at most MSGTRKD_ROUTE_MAX_CLOCK_SKEW past its
 * arrival: at the limit a report's own date holds (an older word after it is dropped),
 * past it the date is taken as the limit (a later word dated less far ahead is not
 * "older"). Reports by Message-ID here: what a forger controls. */
static void
test_report_date_bounded (Fixture      *f,
                          gconstpointer data)
{
  static const char *const dsn_only[] = { "DSN", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = prepare (f, one_rcpt);
  /* read before the reports arrive (at this second or later), so a date of
   * t0 + MSGTRKD_ROUTE_MAX_CLOCK_SKEW is at the limit, not past it */
  gint64 t0 = g_get_real_time () / G_USEC_PER_SEC;
  gint64 at_limit = t0 + MSGTRKD_ROUTE_MAX_CLOCK_SKEW;

  g_assert_true (msgtrkd_tracking_commit (f->tracking, envid, dsn_only, NULL, &error));
  g_assert_no_error (error);

  /* At the limit: kept as dated, so a word dated one second before it is older. */
  g_free (ingest (f, make_forged_dsn ("mx.example.net", at_limit, "bob@example.net",
                                      "delayed", "4.4.1")));
  g_assert_true (has_event_with (f, envid, "(4.4.1)"));
  g_free (ingest (f, make_forged_dsn ("mx.example.net", at_limit - 1, "bob@example.net",
                                      "delayed", "4.4.2")));
  g_assert_false (has_event_with (f, envid, "(4.4.2)"));

  /* Past the limit (one hour, then half an hour past it): each taken as its arrival plus
   * the skew, so the second is not older than the first and replaces it. */
  g_free (ingest (f, make_forged_dsn ("mx.example.net", at_limit + 3600, "bob@example.net",
                                      "delayed", "4.4.3")));
  g_assert_true (has_event_with (f, envid, "(4.4.3)"));
  g_free (ingest (f, make_forged_dsn ("mx.example.net", at_limit + 1800, "bob@example.net",
                                      "delayed", "4.4.4")));
  g_assert_true (has_event_with (f, envid, "(4.4.4)"));
  g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==, 1);
}

/* Review rv21h: the plugins ingest every new message of the inbox, so a recipient only
 * needs to mail the sender to store a report by Message-ID. A flood of them keeps at most
 * MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE rows (at the cap and one past it) and,
 * even past MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE of them, never pushes out the genuine
 * DSN matched by the ENVID. */
static void
test_forged_flood (Fixture      *f,
                   gconstpointer data)
{
  static const char *const dsn_only[] = { "DSN", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = prepare (f, one_rcpt);
  g_autoptr (MsgtrkdMessage) m = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  g_assert_true (msgtrkd_tracking_commit (f->tracking, envid, dsn_only, NULL, &error));
  g_assert_no_error (error);
  g_free (ingest (f, make_dsn (envid, "mx.example.net", now - 60, "bob@example.net", "failed",
                               "5.1.1")));
  for (guint i = 1; i <= MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE + 1; i++)
    {
      g_autofree char *mta = g_strdup_printf ("relay%u.example", i);
      g_autofree char *got = ingest (f, make_forged_dsn (mta, now, "bob@example.net", "delayed",
                                                         "4.4.1"));

      g_assert_cmpstr (got, ==, envid);
      if (i == MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE
          || i == MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE + 1
          || i == MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE + 1)
        {
          g_test_message ("%u forged reports", i);
          g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==,
                            MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE);
          g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_ENVID), ==, 1);
        }
      else if (i < MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE)
        g_assert_cmpuint (count_matched (f, envid, MSGTRKD_REPORT_MATCH_MESSAGE_ID), ==, i);
    }
  m = get (f, envid);
  g_assert_cmpstr (m->state, ==, "failed");
}

/* A message tracked from a link knows no recipient until its reports name them; each
 * report adds its own; a new recipient after the message was final tracks it again. */
static void
test_delegated_learns_recipients (Fixture      *f,
                                  gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkUrl) url = msgtrk_url_new ("mtqp.example.net", MSGTRK_MTQP_PORT,
                                              "deleg.1@example.org",
                                              "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==", &error);
  g_autoptr (MsgtrkdMessage) imported = NULL;
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *got = NULL;
  g_autofree char *link = NULL;
  JsonObject *route;

  g_assert_no_error (error);
  imported = msgtrkd_tracking_import (f->tracking, url, 3600);
  g_assert_cmpint (msgtrkd_message_get_tracking_mode (imported), ==,
                   MSGTRK_TRACKING_MODE_DELEGATED);
  g_assert_cmpstr (imported->state, ==, "in-transit");
  g_assert_true (msgtrkd_tracking_add_imported (f->tracking, imported, &error));
  g_assert_no_error (error);
  link = msgtrkd_tracking_link_server (imported, &error);
  g_assert_cmpstr (link, ==, "mtqp.example.net");
  m = get (f, imported->envid);
  g_assert_cmpuint (g_strv_length (m->recipients), ==, 0);
  g_clear_pointer (&m, msgtrkd_message_free);

  /* The sent time of a message sent by someone else: its reports' earliest arrival, or
   * unknown (null) before any. */
  route = route_of (f, imported->envid, parser);
  g_assert_true (json_object_get_null_member (route, "sent"));

  got = ingest (f, make_dsn (imported->envid, "mx.example.net", 0, "carol@example.net",
                             "delivered", "2.0.0"));
  g_assert_cmpstr (got, ==, imported->envid);
  m = get (f, imported->envid);
  g_assert_cmpuint (g_strv_length (m->recipients), ==, 1);
  g_assert_cmpstr (m->recipients[0], ==, "carol@example.net");
  g_assert_true (m->final);
  g_assert_cmpstr (m->state, ==, "delivered");
  g_clear_pointer (&m, msgtrkd_message_free);
  g_clear_pointer (&got, g_free);

  got = ingest (f, make_dsn (imported->envid, "mx2.example.net", 0, "dave@example.net",
                             "delayed", "4.4.1"));
  m = get (f, imported->envid);
  g_assert_cmpuint (g_strv_length (m->recipients), ==, 2);
  g_assert_cmpstr (m->recipients[1], ==, "dave@example.net");
  g_assert_false (m->final); /* tracked again */
  g_assert_cmpint (m->next_poll_at, >, 0);
  g_assert_cmpstr (m->state, ==, "delayed");
}

/* One event per distinct word: a text already in the timeline, even not the newest
 * event, is not added again. */
static void
test_event_once (Fixture      *f,
                 gconstpointer data)
{
  g_autofree char *envid = prepare (f, one_rcpt);
  g_autoptr (GPtrArray) events = NULL;
  guint before;

  events = msgtrkd_store_list_events (f->store, envid, NULL);
  before = events->len;
  g_clear_pointer (&events, g_ptr_array_unref);
  msgtrkd_tracking_add_event_once (f->tracking, envid, "error", "Tracking failed: A");
  msgtrkd_tracking_add_event_once (f->tracking, envid, "error", "Tracking failed: B");
  msgtrkd_tracking_add_event_once (f->tracking, envid, "error", "Tracking failed: A");
  msgtrkd_tracking_add_event_once (f->tracking, envid, "error", "Tracking failed: B");
  events = msgtrkd_store_list_events (f->store, envid, NULL);
  g_assert_cmpuint (events->len, ==, before + 2);
}

/* The route cache holds at most MSGTRKD_ROUTE_CACHE_MESSAGES messages: at the limit all
 * stay, one past it the least recently used goes; a message read back answers the same. */
static void
test_route_cache_bounded (Fixture      *f,
                          gconstpointer data)
{
  g_autoptr (GPtrArray) envids = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *first_json = NULL;
  g_autofree char *again = NULL;

  for (guint i = 0; i <= MSGTRKD_ROUTE_CACHE_MESSAGES; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkdMessage) m = msgtrkd_message_new ();

      m->envid = g_strdup_printf ("cache.%u@example.org", i);
      m->recipients = g_strdupv ((char **) one_rcpt);
      m->tracking = g_strdup (MSGTRKD_TRACKING_MTQP);
      m->state = g_strdup ("in-transit");
      g_assert_true (msgtrkd_store_add_message (f->store, m, &error));
      g_ptr_array_add (envids, g_steal_pointer (&m->envid));
    }
  for (guint i = 0; i < MSGTRKD_ROUTE_CACHE_MESSAGES; i++)
    {
      g_autofree char *json = msgtrkd_tracking_get_route_json (
        f->tracking, g_ptr_array_index (envids, i), FALSE, NULL);

      g_assert_nonnull (json);
      if (i == 0)
        first_json = g_steal_pointer (&json);
    }
  g_assert_cmpuint (msgtrkd_tracking_get_route_cache_size (f->tracking), ==,
                    MSGTRKD_ROUTE_CACHE_MESSAGES);
  g_free (msgtrkd_tracking_get_route_json (
    f->tracking, g_ptr_array_index (envids, MSGTRKD_ROUTE_CACHE_MESSAGES), FALSE, NULL));
  g_assert_cmpuint (msgtrkd_tracking_get_route_cache_size (f->tracking), ==,
                    MSGTRKD_ROUTE_CACHE_MESSAGES);
  /* The first one went; read back, it says the same. */
  again = msgtrkd_tracking_get_route_json (f->tracking, g_ptr_array_index (envids, 0), FALSE,
                                           NULL);
  g_assert_cmpstr (again, ==, first_json);
  g_assert_cmpuint (msgtrkd_tracking_get_route_cache_size (f->tracking), ==,
                    MSGTRKD_ROUTE_CACHE_MESSAGES);
  g_assert_true (msgtrkd_tracking_forget (f->tracking, g_ptr_array_index (envids, 0), NULL));
  g_assert_cmpuint (msgtrkd_tracking_get_route_cache_size (f->tracking), ==,
                    MSGTRKD_ROUTE_CACHE_MESSAGES - 1);
}

/* Forget removes the message's stored Content-Track key (a setting named by the key's
 * hash), and only that message's. */
static void
test_forget_content_track (Fixture      *f,
                           gconstpointer data)
{
  static const char key1[] = "ct1.aaaaaaaaaaaaaaaaaaaaaaaaaa";
  static const char key2[] = "ct1.bbbbbbbbbbbbbbbbbbbbbbbbbb";
  g_autoptr (GError) error = NULL;
  g_autofree char *envid1 = prepare (f, one_rcpt);
  g_autofree char *envid2 = NULL;
  g_autofree char *index1 = msgtrkd_harrison_index_name (key1);
  g_autofree char *index2 = msgtrkd_harrison_index_name (key2);
  g_autofree char *left1 = NULL;
  g_autofree char *left2 = NULL;
  g_autoptr (MsgtrkdMessage) m = msgtrkd_tracking_prepare (
    f->tracking, "alice@example.org", one_rcpt, "<m2@example.org>", "Other", "smtp.example.org",
    3600, &error);

  g_test_summary ("Forget deletes the message's Content-Track key from the store");
  g_assert_no_error (error);
  g_assert_true (msgtrkd_tracking_add_prepared (f->tracking, m, &error));
  envid2 = g_strdup (m->envid);
  g_assert_true (msgtrkd_tracking_set_content_track (f->tracking, envid1, key1, &error));
  g_assert_true (msgtrkd_tracking_set_content_track (f->tracking, envid2, key2, &error));
  g_assert_no_error (error);

  g_assert_true (msgtrkd_tracking_forget (f->tracking, envid1, &error));
  g_assert_no_error (error);
  left1 = msgtrkd_store_get_setting (f->store, index1, &error);
  g_assert_no_error (error);
  g_assert_null (left1);
  left2 = msgtrkd_store_get_setting (f->store, index2, &error);
  g_assert_no_error (error);
  g_assert_nonnull (left2);
  g_assert_true (g_str_has_prefix (left2, envid2));
}

/* Which transitions notify, and what the notification says. */
/* A change made inside a store batch (as the scheduler's poll results are) is told only
 * after the batch commits: whoever reacts to StatusChanged (GetStatus, another process, a
 * crash right after) finds the announced state stored. */
static void
test_changed_after_commit (Fixture      *f,
                           gconstpointer data)
{
  static const char *const dsn_only[] = { "DSN", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = NULL;
  guint before;

  g_test_summary ("StatusChanged for a write in a batch waits for the batch's commit");
  envid = prepare (f, one_rcpt);
  g_assert_cmpuint (f->changes->len, ==, 1);  /* outside a batch: at once, and stored */
  g_assert_cmpstr (g_ptr_array_index (f->durable, 0), ==, "sending");
  before = f->changes->len;

  g_assert_true (msgtrkd_store_begin_batch (f->store, &error));
  g_assert_no_error (error);
  g_assert_true (msgtrkd_tracking_commit (f->tracking, envid, dsn_only, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f->changes->len, ==, before);  /* not committed: not told yet */
  g_assert_true (msgtrkd_store_end_batch (f->store, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f->changes->len, ==, before + 1);
  g_assert_cmpstr (g_ptr_array_index (f->changes, before), ==, "sending→in-transit");
  g_assert_cmpstr (g_ptr_array_index (f->durable, before), ==, "in-transit");
}

static void
test_notify (void)
{
  g_autoptr (MsgtrkdMessage) m = msgtrkd_message_new ();
  g_autoptr (GNotification) n = NULL;

  g_assert_cmpstr (msgtrkd_notify_setting_key (MSGTRK_MESSAGE_STATE_IN_TRANSIT,
                                               MSGTRK_MESSAGE_STATE_DELIVERED), ==,
                   "notify-delivered");
  g_assert_cmpstr (msgtrkd_notify_setting_key (MSGTRK_MESSAGE_STATE_IN_TRANSIT,
                                               MSGTRK_MESSAGE_STATE_DELAYED), ==,
                   "notify-delayed");
  g_assert_cmpstr (msgtrkd_notify_setting_key (MSGTRK_MESSAGE_STATE_DELAYED,
                                               MSGTRK_MESSAGE_STATE_FAILED), ==, "notify-failed");
  g_assert_null (msgtrkd_notify_setting_key (MSGTRK_MESSAGE_STATE_DELIVERED,
                                             MSGTRK_MESSAGE_STATE_DELIVERED));
  g_assert_null (msgtrkd_notify_setting_key (MSGTRK_MESSAGE_STATE_UNKNOWN,
                                             MSGTRK_MESSAGE_STATE_SENDING));
  g_assert_null (msgtrkd_notify_setting_key (MSGTRK_MESSAGE_STATE_SENDING,
                                             MSGTRK_MESSAGE_STATE_IN_TRANSIT));
  m->envid = g_strdup ("e@example.org");
  m->summary = g_strdup ("Delivered 1/1");
  n = msgtrkd_notify_build (m, MSGTRK_MESSAGE_STATE_DELIVERED);
  g_assert_nonnull (n);
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("msgtrkd's tracking model over a real store, without a bus");
#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/msgtrkd-tracking/prepare-commit", test_prepare_commit);
  ADD ("/msgtrkd-tracking/recompute-from-reports", test_recompute_from_reports);
  ADD ("/msgtrkd-tracking/delegated-learns-recipients", test_delegated_learns_recipients);
  ADD ("/msgtrkd-tracking/event-once", test_event_once);
  ADD ("/msgtrkd-tracking/route-cache-bounded", test_route_cache_bounded);
  ADD ("/msgtrkd-tracking/changed-after-commit", test_changed_after_commit);
  ADD ("/msgtrkd-tracking/forget-content-track", test_forget_content_track);
  ADD ("/msgtrkd-tracking/replaced-row-read-anew", test_replaced_row_read_anew);
  ADD ("/msgtrkd-tracking/alias-expanded-no-conflict", test_alias_expanded_no_conflict);
  ADD ("/msgtrkd-tracking/forged-future-dsn", test_forged_future_dsn);
  ADD ("/msgtrkd-tracking/report-date-bounded", test_report_date_bounded);
  ADD ("/msgtrkd-tracking/forged-flood", test_forged_flood);
#undef ADD
  g_test_add_func ("/msgtrkd-tracking/notify", test_notify);
  return g_test_run ();
}
