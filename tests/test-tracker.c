/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-tracker.c: MsgtrkTracker without a network: argument checks, broken links,
 * cancellation, and the address a hop's session connected to (against
 * tests/client/mtqp-test-server.py on 127.0.0.1). The tracker over real servers is
 * tests/tracker/ (the demo network).
 *
 * Every case must complete: a run that never completes makes the _sync forms wait for
 * ever, so the cases that once hung run in a subprocess with a time limit.
 */
#include "config.h"

#include <string.h>

#include "test-util.h"

#define SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="

/* A tracker whose start domain leads to a closed port on 127.0.0.1, without DNS. */
static MsgtrkTracker *
unreachable_tracker (void)
{
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", mt_closed_port ());
  g_autoptr (GError) error = NULL;

  msgtrk_mtqp_client_set_connect_timeout (client, 5);
  msgtrk_mtqp_client_set_read_timeout (client, 5);
  msgtrk_mtqp_client_set_deadline (client, 10);
  msgtrk_mtqp_client_set_use_system_trust (client, FALSE);
  g_assert_true (msgtrk_mtqp_client_add_host_override (client, "start.test", address, &error));
  g_assert_no_error (error);
  return msgtrk_tracker_new (client);
}

/* In the subprocess: criticals are reported but not fatal, so the call must return. */
static void
child_allow_criticals (void)
{
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
}

static void
test_args_empty_start_domain (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (MsgtrkTracker) tracker = unreachable_tracker ();
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkRoute) route = NULL;

      child_allow_criticals ();
      route = msgtrk_tracker_track_sync (tracker, "", "mtrk.x@example.org", SECRET, NULL, NULL,
                                         &error);
      g_assert_null (route);
      return;
    }
  g_test_summary ("track_sync with an empty start domain returns (a programmer error) "
                  "instead of waiting for ever for a run that cannot start");
  g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*CRITICAL*");
}

/* track_batch_sync of @n messages mtrk.I@example.org, each with SECRET. */
static GPtrArray *
track_batch_of (MsgtrkTracker *tracker,
                guint          n,
                GError       **error)
{
  g_autoptr (GPtrArray) envids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) secrets = g_ptr_array_new ();

  for (guint i = 0; i < n; i++)
    {
      g_ptr_array_add (envids, g_strdup_printf ("mtrk.%u@example.org", i));
      g_ptr_array_add (secrets, (gpointer) SECRET);
    }
  g_ptr_array_add (envids, NULL);
  g_ptr_array_add (secrets, NULL);
  return msgtrk_tracker_track_batch_sync (tracker, "start.test",
                                          (const char * const *) envids->pdata,
                                          (const char * const *) secrets->pdata, NULL, error);
}

static void
test_args_batch_too_many (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (MsgtrkTracker) tracker = unreachable_tracker ();
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) routes = NULL;

      child_allow_criticals ();
      routes = track_batch_of (tracker, MSGTRK_MTQP_MAX_QUERIES + 1, &error);
      g_assert_null (routes);
      return;
    }
  g_test_summary ("track_batch_sync with more than MSGTRK_MTQP_MAX_QUERIES messages returns "
                  "instead of waiting for ever");
  g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*CRITICAL*");
}

static void
test_batch_at_limit (void)
{
  g_autoptr (MsgtrkTracker) tracker = unreachable_tracker ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) routes = NULL;

  g_test_summary ("A batch of exactly MSGTRK_MTQP_MAX_QUERIES messages runs: each route "
                  "carries the first server's error");
  routes = track_batch_of (tracker, MSGTRK_MTQP_MAX_QUERIES, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (routes->len, ==, MSGTRK_MTQP_MAX_QUERIES);
  g_assert_error (msgtrk_route_get_error (g_ptr_array_index (routes, 0)), MSGTRK_ERROR,
                  MSGTRK_ERROR_CONNECT);
  g_assert_error (msgtrk_route_get_error (g_ptr_array_index (routes, routes->len - 1)),
                  MSGTRK_ERROR, MSGTRK_ERROR_CONNECT);
}

static void
test_unreachable_broken_link (void)
{
  g_autoptr (MsgtrkTracker) tracker = unreachable_tracker ();
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkRoute) route = NULL;
  const char *recipients[] = { "rfc822; Bob@Example.NET", NULL };
  GPtrArray *hops;
  MsgtrkRouteHop *hop;

  g_test_summary ("A start server that cannot be reached is a broken link of each known "
                  "recipient, not an error of the run");
  route = msgtrk_tracker_track_sync (tracker, "Start.Test.", "mtrk.x@example.org", SECRET,
                                     recipients, NULL, &error);
  g_assert_no_error (error);
  hops = msgtrk_route_get_hops (route, "bob@example.net");
  g_assert_nonnull (hops);
  g_assert_cmpuint (hops->len, ==, 1);
  hop = g_ptr_array_index (hops, 0);
  g_assert_true (msgtrk_route_hop_is_broken (hop));
  g_assert_error (msgtrk_route_hop_get_error (hop), MSGTRK_ERROR, MSGTRK_ERROR_CONNECT);
  g_assert_null (strstr (msgtrk_route_hop_get_error (hop)->message, SECRET));
  g_assert_cmpuint (msgtrk_route_get_servers_asked (route), ==, 1);
  g_assert_null (msgtrk_route_get_found_server (route, NULL));
}

/* Start tests/client/mtqp-test-server.py on a free port and point @client's name
 * "start.test" at it, with short timeouts. Returns: (transfer full): the server process. */
static GSubprocess *
test_server_start (MsgtrkMtqpClient *client)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "client", "mtqp-test-server.py",
                                                   NULL);
  g_autofree char *data = g_test_build_filename (G_TEST_DIST, "client", "data", NULL);
  g_autofree char *line = NULL;
  g_autofree char *address = NULL;
  GSubprocess *server;

  server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                             &error, "/usr/bin/python3", script, "--data", data, NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (line != NULL && g_str_has_prefix (line, "PORT "));
  address = g_strdup_printf ("127.0.0.1:%s", line + 5);

  msgtrk_mtqp_client_set_connect_timeout (client, 5);
  msgtrk_mtqp_client_set_read_timeout (client, 5);
  msgtrk_mtqp_client_set_deadline (client, 20);
  msgtrk_mtqp_client_set_use_system_trust (client, FALSE);
  g_assert_true (msgtrk_mtqp_client_add_host_override (client, "start.test", address, &error));
  g_assert_no_error (error);
  return server;
}

/* A hop's server address is the numeric address the session connected to, not the name
 * that was asked; a broken link that was never reached has none. */
static void
test_server_address (void)
{
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  g_autoptr (MsgtrkTracker) tracker = NULL;
  g_autoptr (GSubprocess) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkRoute) route = NULL;
  g_autoptr (MsgtrkRoute) broken = NULL;
  const char *recipients[] = { "bob@example.org", NULL };
  GPtrArray *hops;
  MsgtrkRouteHop *hop;

  g_test_summary ("msgtrk_route_hop_get_server_address() is the address the MTQP session "
                  "connected to; NULL for a server never reached");
  server = test_server_start (client);
  tracker = msgtrk_tracker_new (client);
  route = msgtrk_tracker_track_sync (tracker, "start.test", "delivered@example.com", SECRET,
                                     recipients, NULL, &error);
  g_assert_no_error (error);
  hops = msgtrk_route_get_hops (route, "bob@example.org");
  g_assert_nonnull (hops);
  g_assert_cmpuint (hops->len, ==, 1);
  hop = g_ptr_array_index (hops, 0);
  g_assert_false (msgtrk_route_hop_is_broken (hop));
  g_assert_cmpstr (msgtrk_route_hop_get_server (hop), ==, "start.test");
  g_assert_cmpstr (msgtrk_route_hop_get_reporting_mta (hop), ==, "hop1.demo.test");
  g_assert_cmpstr (msgtrk_route_hop_get_server_address (hop), ==, "127.0.0.1");

  g_clear_object (&tracker);
  tracker = unreachable_tracker ();
  broken = msgtrk_tracker_track_sync (tracker, "start.test", "mtrk.x@example.org", SECRET,
                                      recipients, NULL, &error);
  g_assert_no_error (error);
  hops = msgtrk_route_get_hops (broken, "bob@example.org");
  g_assert_cmpuint (hops->len, ==, 1);
  hop = g_ptr_array_index (hops, 0);
  g_assert_true (msgtrk_route_hop_is_broken (hop));
  g_assert_null (msgtrk_route_hop_get_server_address (hop));

  g_output_stream_close (g_subprocess_get_stdin_pipe (server), NULL, NULL);
  g_subprocess_wait (server, NULL, NULL);
}

static void
test_unreachable_no_recipients (void)
{
  g_autoptr (MsgtrkTracker) tracker = unreachable_tracker ();
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkRoute) route = NULL;

  g_test_summary ("Without recipients, a start server that cannot be reached is the error "
                  "of the call, not an empty route");
  route = msgtrk_tracker_track_sync (tracker, "start.test", "mtrk.x@example.org", SECRET,
                                     NULL, NULL, &error);
  g_assert_null (route);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT);
  g_assert_null (strstr (error->message, SECRET));
}

static void
test_cancelled (void)
{
  g_autoptr (MsgtrkTracker) tracker = unreachable_tracker ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkRoute) route = NULL;

  g_test_summary ("A run cancelled before it starts completes once, with CANCELLED");
  g_cancellable_cancel (cancellable);
  route = msgtrk_tracker_track_sync (tracker, "start.test", "mtrk.x@example.org", SECRET,
                                     NULL, cancellable, &error);
  g_assert_null (route);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* A server that answers TRACK of one ENVID with the report of another message (its
 * Original-Envelope-Id differs): that report must not become a hop of this message. */
static void
test_foreign_envid (void)
{
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  g_autoptr (MsgtrkTracker) tracker = NULL;
  g_autoptr (GSubprocess) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkRoute) route = NULL;
  const char *recipients[] = { "bob@example.org", NULL };
  GPtrArray *hops;
  MsgtrkRouteHop *hop;

  g_test_summary ("A report whose Original-Envelope-Id is another message's is not taken "
                  "as this message's hop (mtqpd's chaining drops such parts too)");
  server = test_server_start (client);
  tracker = msgtrk_tracker_new (client);
  /* The server answers an ENVID whose name ends in "-other" with the report of
   * mtrk.TESTDELIVERED0000000000000@example.com (tests/client/data/delivered.eml) as is. */
  route = msgtrk_tracker_track_sync (tracker, "start.test", "delivered-other@example.com",
                                     SECRET, recipients, NULL, &error);
  g_assert_no_error (error);
  hops = msgtrk_route_get_hops (route, "bob@example.org");
  g_assert_nonnull (hops);
  g_assert_cmpuint (hops->len, ==, 1);
  hop = g_ptr_array_index (hops, 0);
  g_assert_true (msgtrk_route_hop_is_broken (hop));

  g_output_stream_close (g_subprocess_get_stdin_pipe (server), NULL, NULL);
  g_subprocess_wait (server, NULL, NULL);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tracker/args/empty-start-domain", test_args_empty_start_domain);
  g_test_add_func ("/tracker/args/batch-too-many", test_args_batch_too_many);
  g_test_add_func ("/tracker/args/batch-at-limit", test_batch_at_limit);
  g_test_add_func ("/tracker/broken/unreachable", test_unreachable_broken_link);
  g_test_add_func ("/tracker/broken/unreachable-no-recipients",
                   test_unreachable_no_recipients);
  g_test_add_func ("/tracker/cancel/before-start", test_cancelled);
  g_test_add_func ("/tracker/hop/server-address", test_server_address);
  g_test_add_func ("/tracker/hop/foreign-envid", test_foreign_envid);

  return g_test_run ();
}
