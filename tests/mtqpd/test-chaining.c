/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-chaining.c: mtqpd's chaining referrals (server/mtqpd/mtqpd-chain.h) with real
 * mtqpd processes on 127.0.0.1.
 *
 * Each hop is an mtqpd of its own (state directory, configuration, log), started with
 * --listen 127.0.0.1:0 and --port-file; [chain_overrides] maps the next hop's name to
 * its port, so a chain is started from its end. A loop needs one port known in advance:
 * it is reserved by binding port 0 and closing the socket just before that mtqpd starts.
 * Records are seeded through track-store (the one writer of the format) for one ENVID and
 * secret: hopN says transferred to hopN+1, the last one delivered.
 *
 * The answers are read with MsgtrkMtqpClient (which parses the entity), parsed once more
 * with msgtrk_report_parse_entity, and the tracker is run over a chaining first hop. Every
 * log is checked for the secret. mtqpd is found under $MSGTRK_BUILD_ROOT.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "msgtrk-private.h"
#include "mtqpd-chain.h"
#include "mtqpd-session.h"
#include "test-util.h"
#include "track-store.h"

#define ENVID "chain.1@sender.demo.test"
#define RCPT "someone@dest.demo.test"
/* Seconds a test waits for mtqpd to start or stop. */
#define START_TIMEOUT_MS 20000

typedef struct
{
  const char *name;            /* hopN.demo.test */
  char *dir;                   /* (owned) */
  char *log_path;              /* (owned) */
  guint16 port;
  GSubprocess *proc;           /* (owned) (nullable) */
} Hop;

typedef struct
{
  char *tmp;                   /* (owned) */
  char *pki;                   /* (owned) (nullable) made on demand */
  char *secret;                /* (owned) base64 A, wiped */
  char *authenticator;         /* (owned) B */
  Hop hops[4];
} Fixture;

static const char *
mtqpd_path (void)
{
  static char *path;

  if (path == NULL)
    {
      const char *root = g_getenv ("MSGTRK_BUILD_ROOT");

      g_assert_nonnull (root);
      path = g_build_filename (root, "server", "mtqpd", "mtqpd", NULL);
    }
  return path;
}

/* Make @path (and what it holds) readable by "nobody", whom mtqpd becomes under root. */
static void
give_to_nobody (const char *path)
{
  struct passwd *pw = getpwnam ("nobody");
  g_autoptr (GDir) dir = NULL;
  const char *name;

  g_assert_nonnull (pw);
  g_assert_cmpint (chown (path, pw->pw_uid, pw->pw_gid), ==, 0);
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        give_to_nobody (child);
      else
        g_assert_cmpint (chown (child, pw->pw_uid, pw->pw_gid), ==, 0);
    }
}

static void
fixture_set_up (Fixture      *f,
                gconstpointer data)
{
  static const char *const names[] = {
    "hop0.demo.test", "hop1.demo.test", "hop2.demo.test", "hop3.demo.test",
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSecret) secret = msgtrk_secret_generate (&error);

  (void) data;
  g_assert_no_error (error);
  f->tmp = mt_tmpdir_new ();
  g_assert_cmpint (g_chmod (f->tmp, 0755), ==, 0);
  f->secret = msgtrk_secret_to_base64 (secret);
  f->authenticator = msgtrk_secret_compute_authenticator (secret);
  for (guint i = 0; i < G_N_ELEMENTS (f->hops); i++)
    {
      f->hops[i].name = names[i];
      f->hops[i].dir = g_build_filename (f->tmp, names[i], NULL);
      f->hops[i].log_path = g_build_filename (f->hops[i].dir, "mtqpd.log", NULL);
      g_assert_cmpint (g_mkdir (f->hops[i].dir, 0755), ==, 0);
    }
}

static gboolean
hop_stop (Fixture *f,
          Hop     *hop)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *log = NULL;

  if (hop->proc == NULL)
    return TRUE;
  g_subprocess_send_signal (hop->proc, SIGTERM);
  g_subprocess_wait (hop->proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (hop->proc));
  g_assert_cmpint (g_subprocess_get_exit_status (hop->proc), ==, 0);
  g_clear_object (&hop->proc);
  g_assert_true (g_file_get_contents (hop->log_path, &log, NULL, NULL));
  g_assert_null (strstr (log, f->secret));
  return TRUE;
}

static void
fixture_tear_down (Fixture      *f,
                   gconstpointer data)
{
  (void) data;
  for (guint i = 0; i < G_N_ELEMENTS (f->hops); i++)
    {
      hop_stop (f, &f->hops[i]);
      g_free (f->hops[i].dir);
      g_free (f->hops[i].log_path);
    }
  mt_tmpdir_remove (f->tmp);
  g_free (f->tmp);
  g_free (f->pki);
  msgtrk_secure_free_string (f->secret);
  g_free (f->authenticator);
}

/* Seed @hop's record: @action for RCPT, with @remote as Remote-MTA (nullable). */
static void
hop_seed (Fixture    *f,
          Hop        *hop,
          const char *action,
          const char *remote)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *state = g_build_filename (hop->dir, "state", NULL);
  g_autoptr (TrackStore) store = track_store_new (state, &error);
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (MsgtrkRecipientReport) r = msgtrk_recipient_report_new (RCPT);

  g_assert_no_error (error);
  msgtrk_report_set_envid (report, ENVID);
  msgtrk_report_set_reporting_mta (report, hop->name);
  msgtrk_recipient_report_set_action (r, msgtrk_action_from_string (action));
  g_assert_true (msgtrk_recipient_report_set_status (r, "2.0.0", NULL, &error));
  if (remote != NULL)
    msgtrk_recipient_report_set_remote_mta (r, remote);
  msgtrk_report_add_recipient (report, r);
  g_assert_true (track_store_put (store, ENVID, f->authenticator,
                                  g_get_real_time () / G_USEC_PER_SEC + 86400, report,
                                  &error));
  g_assert_no_error (error);
  if (geteuid () == 0)
    give_to_nobody (state);
}

/* A port nobody listens on now (bound, then closed). */
static guint16
reserve_port (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (sock, any, TRUE, &error));
  bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  g_socket_close (sock, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
ensure_pki (Fixture *f)
{
  g_autofree char *pki = NULL;

  if (f->pki != NULL)
    return;
  pki = g_build_filename (f->tmp, "pki", NULL);
  f->pki = mt_make_test_ca (pki);
  if (geteuid () == 0)
    give_to_nobody (f->pki);
}

/*
 * Start mtqpd for @hop. @chaining: the chaining key; @overrides: NULL-terminated pairs
 * NAME, PORT-as-string for [chain_overrides]; @port: 0 or a reserved port; @tls: offer
 * STARTTLS (test PKI); @extra: (nullable) more [mtqpd] lines.
 */
static void
hop_start (Fixture            *f,
           Hop                *hop,
           gboolean            chaining,
           const char * const *overrides,
           guint16             port,
           gboolean            tls,
           const char         *extra)
{
  g_autoptr (GString) conf = g_string_new ("[mtqpd]\n");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *conf_path = g_build_filename (hop->dir, "mtqpd.conf", NULL);
  g_autofree char *port_path = g_build_filename (hop->dir, "port", NULL);
  g_autofree char *state = g_build_filename (hop->dir, "state", NULL);
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", port);
  gint64 deadline;

  g_string_append_printf (conf, "hostname=%s\nstate_dir=%s\nchaining=%s\n", hop->name, state,
                          chaining ? "true" : "false");
  if (geteuid () == 0)
    g_string_append (conf, "user=nobody\n");
  if (tls || chaining)
    {
      ensure_pki (f);
      g_string_append_printf (conf, "chain_ca_file=%s/ca.pem\n", f->pki);
    }
  if (tls)
    g_string_append_printf (conf, "tls_certificate=%s/server.pem\ntls_key=%s/server.key\n",
                            f->pki, f->pki);
  if (extra != NULL)
    g_string_append (conf, extra);
  if (overrides != NULL && overrides[0] != NULL)
    {
      g_string_append (conf, "[chain_overrides]\n");
      for (guint i = 0; overrides[i] != NULL; i += 2)
        g_string_append_printf (conf, "%s=127.0.0.1:%s\n", overrides[i], overrides[i + 1]);
    }
  g_assert_true (g_file_set_contents (conf_path, conf->str, -1, &error));
  g_assert_no_error (error);
  if (g_file_test (state, G_FILE_TEST_IS_DIR) && geteuid () == 0)
    give_to_nobody (state);
  g_remove (port_path);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_stderr_file_path (launcher, hop->log_path);
  hop->proc = g_subprocess_launcher_spawn (launcher, &error, mtqpd_path (), "--config",
                                           conf_path, "--listen", listen, "--port-file",
                                           port_path, "--verbose", NULL);
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + START_TIMEOUT_MS * 1000;
  for (;;)
    {
      g_autofree char *text = NULL;
      guint64 v;

      if (g_file_get_contents (port_path, &text, NULL, NULL) && g_str_has_suffix (text, "\n")
          && g_ascii_string_to_unsigned (g_strstrip (text), 10, 1, 65535, &v, NULL))
        {
          hop->port = (guint16) v;
          break;
        }
      if (g_get_monotonic_time () > deadline)
        {
          g_autofree char *log = NULL;

          g_file_get_contents (hop->log_path, &log, NULL, NULL);
          g_error ("mtqpd %s did not start: %s", hop->name, log);
        }
      g_usleep (20 * 1000);
    }
}

static char *
port_string (Hop *hop)
{
  return g_strdup_printf ("%u", hop->port);
}

/* TRACK at @hop; returns the answer (asserted successful). @tls: STARTTLS required. */
static MsgtrkMtqpAnswer *
track_at (Fixture *f,
          Hop     *hop,
          gboolean tls)
{
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", hop->port);
  const char *envids[] = { ENVID, NULL };
  const char *secrets[] = { f->secret, NULL };
  MsgtrkMtqpAnswer *answer;

  msgtrk_mtqp_client_set_tls_policy (client, tls ? MSGTRK_TLS_POLICY_REQUIRED
                                                 : MSGTRK_TLS_POLICY_NONE);
  if (tls)
    {
      g_autofree char *ca = g_build_filename (f->pki, "ca.pem", NULL);

      msgtrk_mtqp_client_set_ca_file (client, ca);
    }
  msgtrk_mtqp_client_set_deadline (client, 60);
  g_assert_true (msgtrk_mtqp_client_add_host_override (client, hop->name, address, &error));
  answers = msgtrk_mtqp_client_track_host_sync (client, hop->name, hop->port, envids, secrets,
                                                NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (answers->len, ==, 1);
  answer = g_ptr_array_index (answers, 0);
  if (!msgtrk_mtqp_answer_is_success (answer))
    g_error ("TRACK at %s failed: %s", hop->name,
             msgtrk_mtqp_answer_get_error (answer)->message);
  return g_object_ref (answer);
}

/* The answer's parts, by Reporting-MTA, as "hop1.demo.test hop2.demo.test"; also checks
 * that the entity parses again the same with msgtrk_report_parse_entity(). */
static char *
answer_servers (MsgtrkMtqpAnswer *answer)
{
  GPtrArray *reports = msgtrk_mtqp_answer_get_reports (answer);
  GBytes *entity = msgtrk_mtqp_answer_get_entity (answer);
  g_autoptr (GPtrArray) again = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) names = g_string_new (NULL);

  g_assert_nonnull (entity);
  again = msgtrk_report_parse_entity (entity, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->len, ==, reports->len);
  for (guint i = 0; i < reports->len; i++)
    {
      MsgtrkReport *r = g_ptr_array_index (reports, i);

      g_assert_cmpstr (msgtrk_report_get_envid (r), ==, ENVID);
      g_assert_cmpstr (msgtrk_report_get_reporting_mta (r), ==,
                       msgtrk_report_get_reporting_mta (g_ptr_array_index (again, i)));
      if (i > 0)
        g_string_append_c (names, ' ');
      g_string_append (names, msgtrk_report_get_reporting_mta (r));
    }
  return g_string_free (g_steal_pointer (&names), FALSE);
}

/* Show every hop's log (in the test's output, for failures). */
static void
dump_logs (Fixture *f)
{
  for (guint i = 0; i < G_N_ELEMENTS (f->hops); i++)
    {
      g_autofree char *log = NULL;

      if (g_file_get_contents (f->hops[i].log_path, &log, NULL, NULL))
        g_printerr ("---- %s ----\n%s", f->hops[i].name, log);
    }
}

/* Asserts that @hop's log holds @needle @count times, once it does or after
 * MT_FILE_WAIT_MS: its log thread writes a line after the answer it is about may have
 * reached the test. */
static void
assert_in_log (Hop        *hop,
               const char *needle,
               guint       count)
{
  g_autofree char *log = mt_file_wait_occurrences (hop->log_path, needle, count);

  g_assert_cmpuint (mt_count_occurrences (log, needle), ==, count);
}

/* hop1 → hop2 → hop3 (delivered); hop1 chains, the others when @chain_rest. */
static void
start_chain (Fixture *f,
             gboolean chain_rest)
{
  Hop *h1 = &f->hops[1], *h2 = &f->hops[2], *h3 = &f->hops[3];
  g_autofree char *p2 = NULL;
  g_autofree char *p3 = NULL;

  hop_seed (f, h1, "transferred", h2->name);
  hop_seed (f, h2, "transferred", h3->name);
  hop_seed (f, h3, "delivered", NULL);
  hop_start (f, h3, chain_rest, NULL, 0, FALSE, NULL);
  p3 = port_string (h3);
  hop_start (f, h2, chain_rest, (const char *[]){ h3->name, p3, NULL }, 0, FALSE, NULL);
  p2 = port_string (h2);
  /* When hop2 does not chain, hop1 asks hop3 itself. */
  hop_start (f, h1, TRUE, (const char *[]){ h2->name, p2, h3->name, p3, NULL }, 0, FALSE,
             NULL);
}

static void
test_chain_of_three (Fixture      *f,
                     gconstpointer data)
{
  g_autoptr (MsgtrkMtqpAnswer) answer = NULL;
  g_autofree char *servers = NULL;

  start_chain (f, GPOINTER_TO_INT (data));
  answer = track_at (f, &f->hops[1], FALSE);
  servers = answer_servers (answer);
  if (g_test_verbose ())
    dump_logs (f);
  g_assert_cmpstr (servers, ==, "hop1.demo.test hop2.demo.test hop3.demo.test");
  /* hop2 and hop3 were each asked once. */
  assert_in_log (&f->hops[2], ": found", 1);
  assert_in_log (&f->hops[3], ": found", 1);
}

/* hop1 (its record: transferred to hop2, which it is told where to find; started with
 * @chaining and @tls) in front of hop2 (delivered, no chaining). */
static void
two_hops_start (Fixture *f,
                gboolean chaining,
                gboolean tls)
{
  Hop *h1 = &f->hops[1], *h2 = &f->hops[2];
  g_autofree char *p2 = NULL;

  hop_seed (f, h1, "transferred", h2->name);
  hop_seed (f, h2, "delivered", NULL);
  hop_start (f, h2, FALSE, NULL, 0, FALSE, NULL);
  p2 = port_string (h2);
  hop_start (f, h1, chaining, (const char *[]){ h2->name, p2, NULL }, 0, tls, NULL);
}

/* TRACK at hop1 (over TLS or not) is answered by hop1 alone: hop2 is never asked. */
static void
assert_hop1_alone (Fixture *f,
                   gboolean tls)
{
  g_autoptr (MsgtrkMtqpAnswer) answer = track_at (f, &f->hops[1], tls);
  g_autofree char *servers = answer_servers (answer);

  if (g_test_verbose ())
    dump_logs (f);
  g_assert_cmpstr (servers, ==, "hop1.demo.test");
  assert_in_log (&f->hops[2], "TRACK", 0);
}

static void
test_chaining_off (Fixture      *f,
                   gconstpointer data)
{
  (void) data;
  two_hops_start (f, FALSE, FALSE);
  assert_hop1_alone (f, FALSE);
}

static void
test_next_hop_down (Fixture      *f,
                    gconstpointer data)
{
  Hop *h1 = &f->hops[1];
  g_autoptr (MsgtrkMtqpAnswer) answer = NULL;
  g_autofree char *servers = NULL;
  g_autofree char *closed = g_strdup_printf ("%u", reserve_port ());

  (void) data;
  hop_seed (f, h1, "transferred", "hop2.demo.test");
  hop_start (f, h1, TRUE, (const char *[]){ "hop2.demo.test", closed, NULL }, 0, FALSE, NULL);
  answer = track_at (f, h1, FALSE);
  servers = answer_servers (answer);
  if (g_test_verbose ())
    dump_logs (f);
  g_assert_cmpstr (servers, ==, "hop1.demo.test");
  g_assert_cmpstr (msgtrk_mtqp_answer_get_status (answer), ==, "+OK+");
  assert_in_log (h1, "chaining to hop2.demo.test failed", 1);
}

/* hop1 → hop2 → hop3 → hop1, all chaining: each server is represented once. */
static void
test_loop (Fixture      *f,
           gconstpointer data)
{
  Hop *h1 = &f->hops[1], *h2 = &f->hops[2], *h3 = &f->hops[3];
  g_autoptr (MsgtrkMtqpAnswer) answer = NULL;
  g_autofree char *servers = NULL;
  g_autofree char *p1 = g_strdup_printf ("%u", reserve_port ());
  g_autofree char *p2 = NULL;
  g_autofree char *p3 = NULL;
  guint64 port1;

  (void) data;
  g_assert_true (g_ascii_string_to_unsigned (p1, 10, 1, 65535, &port1, NULL));
  hop_seed (f, h1, "transferred", h2->name);
  hop_seed (f, h2, "transferred", h3->name);
  hop_seed (f, h3, "transferred", h1->name);
  /* hop3 asks hop1 (hop1 is not among hop3's parts), and hop1, already chaining this
   * ENVID, answers with its own part only. Then the same through an alias of hop1. */
  hop_start (f, h3, TRUE, (const char *[]){ h1->name, p1, "alias.demo.test", p1, NULL }, 0,
             FALSE, NULL);
  p3 = port_string (h3);
  hop_start (f, h2, TRUE, (const char *[]){ h3->name, p3, h1->name, p1, NULL }, 0, FALSE,
             NULL);
  p2 = port_string (h2);
  hop_start (f, h1, TRUE,
             (const char *[]){ h2->name, p2, h3->name, p3, "alias.demo.test", p1, NULL },
             (guint16) port1, FALSE, NULL);
  /* hop3 learns hop2's port only now: restart it with every override. */
  hop_stop (f, h3);
  {
    g_autofree char *old3 = g_strdup (p3);

    hop_start (f, h3, TRUE,
               (const char *[]){ h1->name, p1, "alias.demo.test", p1, h2->name, p2, NULL },
               (guint16) atoi (old3), FALSE, NULL);
  }
  answer = track_at (f, h1, FALSE);
  servers = answer_servers (answer);
  if (g_test_verbose ())
    dump_logs (f);
  g_assert_cmpstr (servers, ==, "hop1.demo.test hop2.demo.test hop3.demo.test");

  /* Now through the alias: hop3's record says transferred to alias.demo.test. */
  hop_seed (f, h3, "transferred", "alias.demo.test");
  g_clear_object (&answer);
  g_free (servers);
  answer = track_at (f, h1, FALSE);
  servers = answer_servers (answer);
  if (g_test_verbose ())
    dump_logs (f);
  g_assert_cmpstr (servers, ==, "hop1.demo.test hop2.demo.test hop3.demo.test");
  /* hop1 was asked back by hop3 each time, and once by itself through the alias. */
  assert_in_log (h1, "already chaining this ENVID", 3);
  {
    /* At most: nothing to wait for. */
    g_autofree char *log = NULL;

    g_assert_true (g_file_get_contents (h1->log_path, &log, NULL, NULL));
    g_assert_cmpuint (mt_count_occurrences (log, "chained to"), <=, 2 * 3);
  }
}

/* A query over TLS is chained over TLS only. */
static void
test_tls_level (Fixture      *f,
                gconstpointer data)
{
  Hop *h1 = &f->hops[1], *h2 = &f->hops[2];
  g_autoptr (MsgtrkMtqpAnswer) answer = NULL;
  g_autofree char *servers = NULL;
  g_autofree char *p2 = NULL;

  (void) data;
  two_hops_start (f, TRUE, TRUE);

  /* Client over TLS, hop2 without: local part only. */
  assert_hop1_alone (f, TRUE);

  /* Client in plain text: hop2 is asked (TLS if offered). */
  answer = track_at (f, h1, FALSE);
  servers = answer_servers (answer);
  if (g_test_verbose ())
    dump_logs (f);
  g_assert_cmpstr (servers, ==, "hop1.demo.test hop2.demo.test");

  /* hop2 with TLS (trusted through chain_ca_file): chained over TLS. */
  hop_stop (f, h2);
  hop_start (f, h2, FALSE, NULL, 0, TRUE, NULL);
  hop_stop (f, h1);
  p2 = port_string (h2);
  hop_start (f, h1, TRUE, (const char *[]){ h2->name, p2, NULL }, 0, TRUE, NULL);
  g_clear_object (&answer);
  g_free (servers);
  answer = track_at (f, h1, TRUE);
  servers = answer_servers (answer);
  if (g_test_verbose ())
    dump_logs (f);
  g_assert_cmpstr (servers, ==, "hop1.demo.test hop2.demo.test");
  assert_in_log (h1, "chained to hop2.demo.test (TLS)", 1);
}

/* MTQPD_MAX_CHAIN_QUERIES next hops are asked; one more is not. */
static void
test_query_limit (Fixture      *f,
                  gconstpointer data)
{
  Hop *h1 = &f->hops[1];
  guint n = GPOINTER_TO_UINT (data);
  g_autofree char *closed = g_strdup_printf ("%u", reserve_port ());
  g_autoptr (GPtrArray) overrides = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *state = g_build_filename (h1->dir, "state", NULL);
  g_autoptr (TrackStore) store = track_store_new (state, &error);
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (MsgtrkMtqpAnswer) answer = NULL;
  g_autofree char *servers = NULL;

  g_assert_no_error (error);
  msgtrk_report_set_envid (report, ENVID);
  msgtrk_report_set_reporting_mta (report, h1->name);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *rcpt = g_strdup_printf ("r%u@dest.demo.test", i);
      g_autoptr (MsgtrkRecipientReport) r = msgtrk_recipient_report_new (rcpt);
      char *name = g_strdup_printf ("next%u.demo.test", i);

      msgtrk_recipient_report_set_action (r, MSGTRK_ACTION_TRANSFERRED);
      g_assert_true (msgtrk_recipient_report_set_status (r, "2.0.0", NULL, &error));
      msgtrk_recipient_report_set_remote_mta (r, name);
      msgtrk_report_add_recipient (report, r);
      g_ptr_array_add (overrides, name);
      g_ptr_array_add (overrides, g_strdup (closed));
    }
  g_ptr_array_add (overrides, NULL);
  g_assert_true (track_store_put (store, ENVID, f->authenticator,
                                  g_get_real_time () / G_USEC_PER_SEC + 86400, report,
                                  &error));
  hop_start (f, h1, TRUE, (const char * const *) overrides->pdata, 0, FALSE, NULL);
  answer = track_at (f, h1, FALSE);
  servers = answer_servers (answer);
  if (g_test_verbose ())
    dump_logs (f);
  g_assert_cmpstr (servers, ==, "hop1.demo.test");
  assert_in_log (h1, "failed: ", MIN (n, MTQPD_MAX_CHAIN_QUERIES));
  assert_in_log (h1, "next hops asked already",
                 n > MTQPD_MAX_CHAIN_QUERIES ? n - MTQPD_MAX_CHAIN_QUERIES : 0);
}

/* The tracker over a chaining first hop gets the whole route from it alone. */
static void
test_tracker (Fixture      *f,
              gconstpointer data)
{
  Hop *h1 = &f->hops[1];
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  g_autoptr (MsgtrkTracker) tracker = NULL;
  g_autoptr (MsgtrkRoute) route = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  GPtrArray *hops;

  (void) data;
  start_chain (f, TRUE);
  address = g_strdup_printf ("127.0.0.1:%u", h1->port);
  msgtrk_mtqp_client_set_tls_policy (client, MSGTRK_TLS_POLICY_NONE);
  g_assert_true (msgtrk_mtqp_client_add_host_override (client, h1->name, address, &error));
  tracker = msgtrk_tracker_new (client);
  route = msgtrk_tracker_track_sync (tracker, h1->name, ENVID, f->secret,
                                     (const char *[]){ RCPT, NULL }, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (msgtrk_route_get_servers_asked (route), ==, 1);
  hops = msgtrk_route_get_hops (route, RCPT);
  g_assert_nonnull (hops);
  g_assert_cmpuint (hops->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      MsgtrkRouteHop *hop = g_ptr_array_index (hops, i);

      g_assert_false (msgtrk_route_hop_is_broken (hop));
      g_assert_cmpstr (msgtrk_route_hop_get_reporting_mta (hop), ==, f->hops[i + 1].name);
    }
  g_assert_cmpint (msgtrk_route_hop_get_action (g_ptr_array_index (hops, 2)), ==,
                   MSGTRK_ACTION_DELIVERED);
}

/* Run mtqpd with @conf_lines in [mtqpd] (and @group, nullable, appended); returns the exit
 * status when it refuses to start, or -1 once it has started (then stopped). */
static int
config_outcome (Fixture    *f,
                const char *conf_lines,
                const char *group)
{
  Hop *hop = &f->hops[0];
  g_autofree char *conf_path = g_build_filename (hop->dir, "check.conf", NULL);
  g_autofree char *port_path = g_build_filename (hop->dir, "check.port", NULL);
  g_autofree char *state = g_build_filename (hop->dir, "state", NULL);
  g_autofree char *text = g_strdup_printf ("[mtqpd]\nhostname=%s\nstate_dir=%s\n%s%s%s",
                                           hop->name, state,
                                           geteuid () == 0 ? "user=nobody\n" : "",
                                           conf_lines, group != NULL ? group : "");
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + START_TIMEOUT_MS * 1000;

  g_assert_true (g_file_set_contents (conf_path, text, -1, &error));
  g_remove (port_path);
  g_mkdir (state, 0755);
  if (geteuid () == 0)
    give_to_nobody (state);
  p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE,
                        &error, mtqpd_path (), "--config", conf_path, "--listen",
                        "127.0.0.1:0", "--port-file", port_path, NULL);
  g_assert_no_error (error);
  while (!g_file_test (port_path, G_FILE_TEST_EXISTS))
    {
      if (g_subprocess_get_identifier (p) == NULL)
        break;
      if (g_get_monotonic_time () > deadline)
        g_error ("mtqpd neither started nor failed");
      g_usleep (20 * 1000);
    }
  if (g_subprocess_get_identifier (p) == NULL)
    {
      g_subprocess_wait (p, NULL, NULL);
      return g_subprocess_get_exit_status (p);
    }
  g_subprocess_send_signal (p, SIGTERM);
  g_assert_true (g_subprocess_wait (p, NULL, NULL));
  if (g_subprocess_get_if_exited (p) && g_subprocess_get_exit_status (p) != 0)
    return g_subprocess_get_exit_status (p);
  return -1;
}

static void
test_config (Fixture      *f,
             gconstpointer data)
{
  g_autoptr (GString) many = g_string_new ("[chain_overrides]\n");

  (void) data;
  g_assert_cmpint (config_outcome (f, "chaining=true\nchain_timeout=1\n", NULL), ==, -1);
  g_assert_cmpint (config_outcome (f, "chaining=true\nchain_timeout=0\n", NULL), !=, -1);
  g_assert_cmpint (config_outcome (f, "chaining=true\nchain_timeout=120\n", NULL), ==, -1);
  g_assert_cmpint (config_outcome (f, "chaining=true\nchain_timeout=121\n", NULL), !=, -1);
  g_assert_cmpint (config_outcome (f, "chaining=maybe\n", NULL), !=, -1);
  /* workers: 0 (the default: 2 per CPU, 4 to MTQPD_MAX_WORKERS), 1 to MTQPD_MAX_WORKERS. */
  g_assert_cmpint (config_outcome (f, "workers=0\n", NULL), ==, -1);
  g_assert_cmpint (config_outcome (f, "workers=1\n", NULL), ==, -1);
  g_assert_cmpint (config_outcome (f, "workers=" G_STRINGIFY (MTQPD_MAX_WORKERS) "\n", NULL), ==,
                   -1);
  g_assert_cmpint (config_outcome (f, "workers=33\n", NULL), !=, -1);
  g_assert_cmpint (config_outcome (f, "workers=-1\n", NULL), !=, -1);
  g_assert_cmpint (config_outcome (f, "chaining=true\n",
                                   "[chain_overrides]\nhop.demo.test=not-an-address\n"), !=, -1);
  g_assert_cmpint (config_outcome (f, "chaining=true\n",
                                   "[chain_overrides]\nhop.demo.test=\n"), !=, -1);
  g_assert_cmpint (config_outcome (f, "chaining=true\n", "[other]\nx=1\n"), !=, -1);
  for (guint i = 0; i < MTQPD_MAX_CHAIN_OVERRIDES; i++)
    g_string_append_printf (many, "h%u.demo.test=127.0.0.1:%u\n", i, 1000 + i);
  g_assert_cmpint (config_outcome (f, "chaining=true\n", many->str), ==, -1);
  g_string_append (many, "one-more.demo.test=127.0.0.1:999\n");
  g_assert_cmpint (config_outcome (f, "chaining=true\n", many->str), !=, -1);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("mtqpd chaining referrals with real mtqpd processes");

  g_test_add ("/mtqpd/chaining/three-hops", Fixture, GINT_TO_POINTER (TRUE), fixture_set_up,
              test_chain_of_three, fixture_tear_down);
  g_test_add ("/mtqpd/chaining/three-hops-first-only", Fixture, GINT_TO_POINTER (FALSE),
              fixture_set_up, test_chain_of_three, fixture_tear_down);
  g_test_add ("/mtqpd/chaining/off", Fixture, NULL, fixture_set_up, test_chaining_off,
              fixture_tear_down);
  g_test_add ("/mtqpd/chaining/next-hop-down", Fixture, NULL, fixture_set_up,
              test_next_hop_down, fixture_tear_down);
  g_test_add ("/mtqpd/chaining/loop", Fixture, NULL, fixture_set_up, test_loop,
              fixture_tear_down);
  g_test_add ("/mtqpd/chaining/tls-level", Fixture, NULL, fixture_set_up, test_tls_level,
              fixture_tear_down);
  g_test_add ("/mtqpd/chaining/query-limit/at", Fixture,
              GUINT_TO_POINTER (MTQPD_MAX_CHAIN_QUERIES), fixture_set_up, test_query_limit,
              fixture_tear_down);
  g_test_add ("/mtqpd/chaining/query-limit/past", Fixture,
              GUINT_TO_POINTER (MTQPD_MAX_CHAIN_QUERIES + 1), fixture_set_up,
              test_query_limit, fixture_tear_down);
  g_test_add ("/mtqpd/chaining/tracker", Fixture, NULL, fixture_set_up, test_tracker,
              fixture_tear_down);
  g_test_add ("/mtqpd/chaining/config", Fixture, NULL, fixture_set_up, test_config,
              fixture_tear_down);
  return g_test_run ();
}
