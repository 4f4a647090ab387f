/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-mtqp-client.c: the MTQP client against a real, scriptable test server.
 *
 * The server is tests/client/mtqp-test-server.py (python3, asyncio, port 0); each test
 * starts the instances it needs and kills them at the end. Its answers are chosen by the
 * ENVID (see the server), its greeting and STARTTLS by options. A throw-away PKI is made
 * once per run with tests/make-test-ca.sh. Discovery is tested through a fake GResolver
 * (SRV/MX records in memory) plus host overrides: no DNS, no fixed ports.
 *
 * Hostile servers (endless lines, endless replies, trickling, silence, closing mid-reply,
 * garbage) must end each case with a clear error within the small timeouts set here.
 * No timing assertions: only the outcome is checked.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-tls-private.h"
#include "test-util.h"

#define SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="
/* The ENVIDs of the canned entities: the server answers them byte for byte. */
#define DELIVERED_ENVID "mtrk.TESTDELIVERED0000000000000@example.com"
#define DOTTED_ENVID "mtrk.TESTDOTTED000000000000000@example.com"

static char *ca_dir;

/* ---- the test server ------------------------------------------------------------- */

typedef struct
{
  GSubprocess *proc;
  guint16      port;
  char        *log_path;
  char        *dir;
} TestServer;

static TestServer *
server_start_v (const char * const *extra)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  TestServer *server = g_new0 (TestServer, 1);
  guint i;

  server->dir = mt_tmpdir_new ();
  server->log_path = g_build_filename (server->dir, "server.log", NULL);
  g_ptr_array_add (argv, g_strdup ("/usr/bin/python3"));
  g_ptr_array_add (argv, g_test_build_filename (G_TEST_DIST, "client", "mtqp-test-server.py",
                                                NULL));
  g_ptr_array_add (argv, g_strdup ("--data"));
  g_ptr_array_add (argv, g_test_build_filename (G_TEST_DIST, "client", "data", NULL));
  g_ptr_array_add (argv, g_strdup ("--log"));
  g_ptr_array_add (argv, g_strdup (server->log_path));
  for (i = 0; extra != NULL && extra[i] != NULL; i++)
    {
      /* "@name" stands for a file of the test PKI */
      if (extra[i][0] == '@')
        g_ptr_array_add (argv, g_build_filename (ca_dir, extra[i] + 1, NULL));
      else
        g_ptr_array_add (argv, g_strdup (extra[i]));
    }
  g_ptr_array_add (argv, NULL);

  server->proc = g_subprocess_newv ((const char * const *) argv->pdata,
                                    G_SUBPROCESS_FLAGS_STDIN_PIPE
                                      | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                    &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->proc));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "PORT "));
  server->port = (guint16) g_ascii_strtoull (line + 5, NULL, 10);
  g_assert_cmpuint (server->port, >, 0);
  return server;
}

static TestServer *
server_start (const char *first,
              ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  const char *arg;
  va_list ap;

  va_start (ap, first);
  for (arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  return server_start_v ((const char * const *) args->pdata);
}

static char *
server_log (TestServer *server)
{
  char *text = NULL;

  if (!g_file_get_contents (server->log_path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

static void
server_stop (TestServer *server)
{
  g_subprocess_force_exit (server->proc);
  g_subprocess_wait (server->proc, NULL, NULL);
  g_object_unref (server->proc);
  mt_tmpdir_remove (server->dir);
  g_free (server->dir);
  g_free (server->log_path);
  g_free (server);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestServer, server_stop)

/* ---- a fake resolver: SRV and MX records from tables ----------------------------- */

#define TEST_TYPE_RESOLVER (test_resolver_get_type ())
G_DECLARE_FINAL_TYPE (TestResolver, test_resolver, TEST, RESOLVER, GResolver)

struct _TestResolver
{
  GResolver   parent_instance;
  GHashTable *records;  /* "SRV name" / "MX name" → GPtrArray of GVariant */
  guint       lookups;
  guint       delay_ms; /* each lookup takes this long (a slow or silent DNS server) */
};

G_DEFINE_FINAL_TYPE (TestResolver, test_resolver, G_TYPE_RESOLVER)

static GList *
test_resolver_lookup_records (GResolver          *resolver,
                              const char         *rrname,
                              GResolverRecordType type,
                              GCancellable       *cancellable,
                              GError            **error)
{
  TestResolver *self = TEST_RESOLVER (resolver);
  g_autofree char *key = g_strdup_printf ("%s %s", type == G_RESOLVER_RECORD_SRV ? "SRV" : "MX",
                                          rrname);
  GPtrArray *records = g_hash_table_lookup (self->records, key);
  GList *list = NULL;
  guint i;

  if (self->delay_ms > 0)
    g_usleep (self->delay_ms * 1000);
  self->lookups++;
  if (records == NULL)
    {
      g_set_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND, "no %s", key);
      return NULL;
    }
  for (i = 0; i < records->len; i++)
    list = g_list_append (list, g_variant_ref (g_ptr_array_index (records, i)));
  return list;
}

static GList *
test_resolver_lookup_by_name (GResolver    *resolver,
                              const char   *hostname,
                              GCancellable *cancellable,
                              GError      **error)
{
  TestResolver *self = TEST_RESOLVER (resolver);

  if (self->delay_ms > 0)
    g_usleep (self->delay_ms * 1000);
  self->lookups++;
  if (g_str_equal (hostname, "demo.test"))
    return g_list_append (NULL, g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4));
  g_set_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND, "no host %s", hostname);
  return NULL;
}

/* The async lookups, as GThreadedResolver does them: the sync lookup in a thread,
 * returning at once when cancelled (the thread finishes on its own). The client uses
 * only these, so that it can bound each lookup by its deadline. */
typedef struct
{
  char               *name;
  GResolverRecordType type;
  gboolean            records;
} TestLookup;

static void
test_lookup_free (TestLookup *lookup)
{
  g_free (lookup->name);
  g_free (lookup);
}

static void
free_records (GList *records)
{
  g_list_free_full (records, (GDestroyNotify) g_variant_unref);
}

static void
test_resolver_thread (GTask        *task,
                      gpointer      source,
                      gpointer      data,
                      GCancellable *cancellable)
{
  TestLookup *lookup = data;
  GError *error = NULL;
  GList *list;

  if (lookup->records)
    list = test_resolver_lookup_records (source, lookup->name, lookup->type, cancellable,
                                         &error);
  else
    list = test_resolver_lookup_by_name (source, lookup->name, cancellable, &error);
  if (list == NULL)
    g_task_return_error (task, error);
  else if (lookup->records)
    g_task_return_pointer (task, list, (GDestroyNotify) free_records);
  else
    g_task_return_pointer (task, list, (GDestroyNotify) g_resolver_free_addresses);
}

static void
test_resolver_start (GResolver          *resolver,
                     const char         *name,
                     gboolean            records,
                     GResolverRecordType type,
                     GCancellable       *cancellable,
                     GAsyncReadyCallback callback,
                     gpointer            user_data)
{
  g_autoptr (GTask) task = g_task_new (resolver, cancellable, callback, user_data);
  TestLookup *lookup = g_new0 (TestLookup, 1);

  lookup->name = g_strdup (name);
  lookup->type = type;
  lookup->records = records;
  g_task_set_task_data (task, lookup, (GDestroyNotify) test_lookup_free);
  g_task_set_return_on_cancel (task, TRUE);
  g_task_run_in_thread (task, test_resolver_thread);
}

static void
test_resolver_lookup_records_async (GResolver          *resolver,
                                    const char         *rrname,
                                    GResolverRecordType type,
                                    GCancellable       *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer            user_data)
{
  test_resolver_start (resolver, rrname, TRUE, type, cancellable, callback, user_data);
}

static void
test_resolver_lookup_by_name_async (GResolver          *resolver,
                                    const char         *hostname,
                                    GCancellable       *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer            user_data)
{
  test_resolver_start (resolver, hostname, FALSE, 0, cancellable, callback, user_data);
}

static GList *
test_resolver_lookup_finish (GResolver    *resolver,
                             GAsyncResult *result,
                             GError      **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_resolver_finalize (GObject *object)
{
  g_hash_table_unref (TEST_RESOLVER (object)->records);
  G_OBJECT_CLASS (test_resolver_parent_class)->finalize (object);
}

static void
test_resolver_class_init (TestResolverClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_resolver_finalize;
  G_RESOLVER_CLASS (klass)->lookup_records = test_resolver_lookup_records;
  G_RESOLVER_CLASS (klass)->lookup_by_name = test_resolver_lookup_by_name;
  G_RESOLVER_CLASS (klass)->lookup_records_async = test_resolver_lookup_records_async;
  G_RESOLVER_CLASS (klass)->lookup_records_finish = test_resolver_lookup_finish;
  G_RESOLVER_CLASS (klass)->lookup_by_name_async = test_resolver_lookup_by_name_async;
  G_RESOLVER_CLASS (klass)->lookup_by_name_finish = test_resolver_lookup_finish;
}

static void
test_resolver_init (TestResolver *self)
{
  self->records = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) g_ptr_array_unref);
}

static void
resolver_add (TestResolver *self,
              const char   *key,
              GVariant     *record)
{
  GPtrArray *records = g_hash_table_lookup (self->records, key);

  if (records == NULL)
    {
      records = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
      g_hash_table_insert (self->records, g_strdup (key), records);
    }
  g_ptr_array_add (records, g_variant_ref_sink (record));
}

static void
resolver_add_srv (TestResolver *self,
                  const char   *domain,
                  guint16       priority,
                  guint16       weight,
                  guint16       port,
                  const char   *target)
{
  g_autofree char *key = g_strdup_printf ("SRV _mtqp._tcp.%s", domain);

  resolver_add (self, key, g_variant_new ("(qqqs)", priority, weight, port, target));
}

static void
resolver_add_mx (TestResolver *self,
                 const char   *domain,
                 guint16       preference,
                 const char   *exchange)
{
  g_autofree char *key = g_strdup_printf ("MX %s", domain);

  resolver_add (self, key, g_variant_new ("(qs)", preference, exchange));
}

/* ---- helpers --------------------------------------------------------------------- */

static MsgtrkMtqpClient *
new_client (void)
{
  MsgtrkMtqpClient *client = msgtrk_mtqp_client_new ();
  g_autofree char *ca = g_build_filename (ca_dir, "ca.pem", NULL);

  msgtrk_mtqp_client_set_connect_timeout (client, 5);
  msgtrk_mtqp_client_set_read_timeout (client, 5);
  msgtrk_mtqp_client_set_deadline (client, 20);
  msgtrk_mtqp_client_set_use_system_trust (client, FALSE);
  msgtrk_mtqp_client_set_ca_file (client, ca);
  return client;
}

static GPtrArray *
track (MsgtrkMtqpClient *client,
       const char       *host,
       guint16           port,
       const char       *envid,
       GError          **error)
{
  const char *envids[] = { envid, NULL };
  const char *secrets[] = { SECRET, NULL };

  return msgtrk_mtqp_client_track_host_sync (client, host, port, envids, secrets, NULL,
                                             error);
}

/* One TRACK per ENVID of @envids (SECRET each) to 127.0.0.1:@port; @envids gets its NULL
 * end. */
static GPtrArray *
track_all (MsgtrkMtqpClient *client,
           guint16           port,
           GPtrArray        *envids,
           GError          **error)
{
  g_autoptr (GPtrArray) secrets = g_ptr_array_new ();

  for (guint i = 0; i < envids->len; i++)
    g_ptr_array_add (secrets, (gpointer) SECRET);
  g_ptr_array_add (envids, NULL);
  g_ptr_array_add (secrets, NULL);
  return msgtrk_mtqp_client_track_host_sync (client, "127.0.0.1", port,
                                             (const char * const *) envids->pdata,
                                             (const char * const *) secrets->pdata, NULL,
                                             error);
}

/* One query that must reach the server; returns the answer's error (or NULL). */
static GError *
track_error (MsgtrkMtqpClient *client,
             guint16           port,
             const char       *envid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = track (client, "127.0.0.1", port, envid, &error);
  const GError *answer_error;

  g_assert_no_error (error);
  g_assert_cmpuint (answers->len, ==, 1);
  answer_error = msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 0));
  g_assert_nonnull (answer_error);
  g_assert_null (strstr (answer_error->message, SECRET));
  g_test_message ("%s: %s", envid, answer_error->message);
  return g_error_copy (answer_error);
}

static GBytes *
entity_file (const char *name)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "client", "data", name, NULL);
  char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  return g_bytes_new_take (contents, len);
}

/* ---- configuration --------------------------------------------------------------- */

static void
test_config_defaults (void)
{
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  g_autoptr (GError) error = NULL;
  MsgtrkTlsPolicy policy;
  guint deadline;

  g_test_summary ("Defaults, property round trip, host override syntax");
  g_assert_cmpint (msgtrk_mtqp_client_get_tls_policy (client), ==,
                   MSGTRK_TLS_POLICY_OPPORTUNISTIC);
  g_assert_true (msgtrk_mtqp_client_get_use_system_trust (client));
  g_assert_null (msgtrk_mtqp_client_get_ca_file (client));
  g_assert_cmpuint (msgtrk_mtqp_client_get_connect_timeout (client), ==,
                    MSGTRK_MTQP_DEFAULT_CONNECT_TIMEOUT);
  g_assert_cmpuint (msgtrk_mtqp_client_get_read_timeout (client), ==,
                    MSGTRK_MTQP_DEFAULT_READ_TIMEOUT);
  g_assert_cmpuint (msgtrk_mtqp_client_get_deadline (client), ==,
                    MSGTRK_MTQP_DEFAULT_DEADLINE);
  g_assert_cmpuint (msgtrk_mtqp_client_get_max_response_size (client), ==,
                    MSGTRK_REPORT_MAX_SIZE);
  g_assert_cmpuint (msgtrk_mtqp_client_get_max_parts (client), ==, MSGTRK_REPORT_MAX_PARTS);

  g_object_set (client, "tls-policy", MSGTRK_TLS_POLICY_REQUIRED, "deadline", 7, NULL);
  g_object_get (client, "tls-policy", &policy, "deadline", &deadline, NULL);
  g_assert_cmpint (policy, ==, MSGTRK_TLS_POLICY_REQUIRED);
  g_assert_cmpuint (deadline, ==, 7);

  g_assert_true (msgtrk_mtqp_client_add_host_override (client, "Hop1.Demo.Test",
                                                       "127.0.0.1:20038", &error));
  g_assert_no_error (error);
  g_assert_true (msgtrk_mtqp_client_add_host_override (client, "v6.demo.test", "[::1]:1",
                                                       &error));
  g_assert_true (msgtrk_mtqp_client_add_host_override (client, "p.demo.test", "10.0.0.1",
                                                       &error));
  g_assert_false (msgtrk_mtqp_client_add_host_override (client, "x.demo.test",
                                                        "hop1.demo.test:1038", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (msgtrk_mtqp_client_add_host_override (client, "x.demo.test",
                                                        "127.0.0.1:99999", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_false (msgtrk_mtqp_client_add_host_override (client, "x.demo.test",
                                                        "127.0.0.1:0", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  msgtrk_mtqp_client_clear_host_overrides (client);
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  (*(guint *) user_data)++;
}

static void
test_config_starttls_memory (void)
{
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  const char *hosts[] = { "Zeta.Example.", "alpha.example", "", NULL };
  g_auto (GStrv) got = NULL;
  guint notified = 0;

  g_test_summary ("The STARTTLS memory: normalised, sorted, notified");
  g_signal_connect (client, "notify::starttls-hosts", G_CALLBACK (count_notify), &notified);
  msgtrk_mtqp_client_set_starttls_hosts (client, hosts);
  got = msgtrk_mtqp_client_get_starttls_hosts (client);
  g_assert_cmpuint (g_strv_length (got), ==, 2);
  g_assert_cmpstr (got[0], ==, "alpha.example");
  g_assert_cmpstr (got[1], ==, "zeta.example");
  g_assert_true (msgtrk_mtqp_client_remembers_starttls (client, "ZETA.example"));
  msgtrk_mtqp_client_forget_starttls (client, "zeta.example");
  g_assert_false (msgtrk_mtqp_client_remembers_starttls (client, "zeta.example"));
  g_assert_cmpuint (notified, ==, 2);
  msgtrk_mtqp_client_set_starttls_hosts (client, NULL);
  g_strfreev (got);
  got = msgtrk_mtqp_client_get_starttls_hosts (client);
  g_assert_cmpuint (g_strv_length (got), ==, 0);
}

/* ---- TRACK answers --------------------------------------------------------------- */

static void
test_track_delivered (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autoptr (GBytes) expected = entity_file ("delivered.eml");
  MsgtrkMtqpAnswer *answer;
  MsgtrkReport *report;
  MsgtrkRecipientReport *rcpt;

  g_test_summary ("One TRACK, one delivered report, entity kept byte for byte");
  answers = track (client, "127.0.0.1", server->port, DELIVERED_ENVID, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (answers->len, ==, 1);
  answer = g_ptr_array_index (answers, 0);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (answer));
  g_assert_true (msgtrk_mtqp_answer_is_success (answer));
  g_assert_cmpstr (msgtrk_mtqp_answer_get_envid (answer), ==, DELIVERED_ENVID);
  g_assert_cmpstr (msgtrk_mtqp_answer_get_server_host (answer), ==, "127.0.0.1");
  g_assert_cmpuint (msgtrk_mtqp_answer_get_server_port (answer), ==, server->port);
  g_assert_cmpuint (msgtrk_mtqp_answer_get_discovered_port (answer), ==, server->port);
  g_assert_cmpstr (msgtrk_mtqp_answer_get_status (answer), ==, "+OK+");
  g_assert_null (msgtrk_mtqp_answer_get_tls_description (answer));
  g_assert_true (g_bytes_equal (msgtrk_mtqp_answer_get_entity (answer), expected));
  g_assert_cmpuint (msgtrk_mtqp_answer_get_reports (answer)->len, ==, 1);
  report = g_ptr_array_index (msgtrk_mtqp_answer_get_reports (answer), 0);
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, "hop1.demo.test");
  rcpt = g_ptr_array_index (msgtrk_report_get_recipients (report), 0);
  g_assert_cmpint (msgtrk_recipient_report_get_action (rcpt), ==, MSGTRK_ACTION_DELIVERED);
}

static void
test_track_xtext_envid (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autofree char *log = NULL;
  const char *envids[] = { "delivered+id=@x", "delivered+2B@x", "delivered@plain", NULL };
  const char *secrets[] = { SECRET, SECRET, SECRET, NULL };

  g_test_summary ("TRACK carries the ENVID in its xtext form (RFC 3461, as in MAIL FROM): "
                  "an Exim-style ENVID with + and = goes out as +2B and +3D, and the answers "
                  "keep the ENVID the caller gave");
  answers = msgtrk_mtqp_client_track_host_sync (client, "127.0.0.1", server->port, envids,
                                                secrets, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (answers->len, ==, 3);
  for (guint i = 0; i < answers->len; i++)
    {
      MsgtrkMtqpAnswer *a = g_ptr_array_index (answers, i);

      g_assert_no_error (msgtrk_mtqp_answer_get_error (a));
      g_assert_true (msgtrk_mtqp_answer_is_success (a));
      g_assert_cmpstr (msgtrk_mtqp_answer_get_envid (a), ==, envids[i]);
    }
  log = server_log (server);
  g_assert_nonnull (strstr (log, "TRACK session=0 tls=0 delivered+2Bid+3D@x\n"));
  g_assert_nonnull (strstr (log, "TRACK session=0 tls=0 delivered+2B2B@x\n"));
  g_assert_nonnull (strstr (log, "TRACK session=0 tls=0 delivered@plain\n"));
}

/* A report is this message's only when its Original-Envelope-Id is the ENVID asked
 * (decoded forms compared); the others are dropped, and an answer with none left fails. */
static void
test_track_foreign_envid (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  const char *envids[] = { "delivered-other@x", "mixed@x", "noenvid@x", "decoded+id=@x",
                           "delivered+id=@x", NULL };
  const char *secrets[] = { SECRET, SECRET, SECRET, SECRET, SECRET, NULL };
  MsgtrkMtqpAnswer *a;
  MsgtrkReport *report;

  g_test_summary ("Reports about another message (Original-Envelope-Id not the ENVID "
                  "asked, or none) are dropped; an answer left with none fails with "
                  "MSGTRK_ERROR_PROTOCOL; xtext and decoded forms of the ENVID both match");
  answers = msgtrk_mtqp_client_track_host_sync (client, "127.0.0.1", server->port, envids,
                                                secrets, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (answers->len, ==, 5);

  /* Only another message's report: the answer fails, no report is handed out. */
  a = g_ptr_array_index (answers, 0);
  g_assert_error (msgtrk_mtqp_answer_get_error (a), MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL);
  g_assert_nonnull (strstr (msgtrk_mtqp_answer_get_error (a)->message, "another message"));
  g_assert_nonnull (strstr (msgtrk_mtqp_answer_get_error (a)->message,
                            "mtrk.TESTDELIVERED0000000000000@example.com"));
  g_assert_false (msgtrk_mtqp_answer_is_success (a));
  g_assert_cmpuint (msgtrk_mtqp_answer_get_reports (a)->len, ==, 0);
  g_assert_nonnull (msgtrk_mtqp_answer_get_entity (a));

  /* Three parts, only the first about this message: that one is kept. */
  a = g_ptr_array_index (answers, 1);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (a));
  g_assert_cmpuint (msgtrk_mtqp_answer_get_reports (a)->len, ==, 1);
  report = g_ptr_array_index (msgtrk_mtqp_answer_get_reports (a), 0);
  g_assert_cmpstr (msgtrk_report_get_envid (report), ==, "mixed@x");
  g_assert_cmpstr (msgtrk_report_get_reporting_mta (report), ==, "hop1.demo.test");

  /* A DSN without Original-Envelope-Id cannot be shown to be about this message. */
  a = g_ptr_array_index (answers, 2);
  g_assert_error (msgtrk_mtqp_answer_get_error (a), MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL);
  g_assert_cmpuint (msgtrk_mtqp_answer_get_reports (a)->len, ==, 0);

  /* Written decoded (not valid xtext, as Postfix does) or as xtext: both match. */
  a = g_ptr_array_index (answers, 3);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (a));
  report = g_ptr_array_index (msgtrk_mtqp_answer_get_reports (a), 0);
  g_assert_cmpstr (msgtrk_report_get_envid (report), ==, "decoded+id=@x");
  a = g_ptr_array_index (answers, 4);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (a));
  report = g_ptr_array_index (msgtrk_mtqp_answer_get_reports (a), 0);
  g_assert_cmpstr (msgtrk_report_get_envid (report), ==, "delivered+2Bid+3D@x");
}

/* A decoded ENVID holding "+HH" (valid for RFC 3461, taken by the relay and by
 * query_validate) that a server writes decoded, as this project's relay and postfix-track
 * write every Original-Envelope-Id: the report is about the ENVID asked and must be kept.
 * (review rv21r) */
static void
test_track_decoded_plus_envid (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  MsgtrkMtqpAnswer *a;

  g_test_summary ("A report whose Original-Envelope-Id is the decoded ENVID, which holds "
                  "\"+2B\", is kept");
  answers = track (client, "127.0.0.1", server->port, "decoded+2Bx@x", &error);
  g_assert_no_error (error);
  a = g_ptr_array_index (answers, 0);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (a));
  g_assert_cmpuint (msgtrk_mtqp_answer_get_reports (a)->len, ==, 1);
}

static void
test_track_dot_stuffing (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autoptr (GBytes) expected = entity_file ("dotted.eml");
  MsgtrkMtqpAnswer *answer;

  g_test_summary ("Dot-stuffed lines (\".x\", \"..\", \".\") come back unstuffed");
  answers = track (client, "127.0.0.1", server->port, DOTTED_ENVID, &error);
  g_assert_no_error (error);
  answer = g_ptr_array_index (answers, 0);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (answer));
  g_assert_true (g_bytes_equal (msgtrk_mtqp_answer_get_entity (answer), expected));
  g_assert_cmpuint (msgtrk_mtqp_answer_get_reports (answer)->len, ==, 1);
}

static void
test_track_batch (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  const char *envids[] = { "temp", "delivered@x", "err", "bad", "chain@x", "plainok",
                           "unparsable", "bad envid", "delivered@y", NULL };
  const char *secrets[] = { SECRET, SECRET, SECRET, SECRET, SECRET, SECRET, SECRET, SECRET,
                            "not base64!", NULL };
  const GError *e;
  MsgtrkMtqpAnswer *a;
  const char * const *codes;

  g_test_summary ("Several queries in one session: one failure never fails the others");
  answers = msgtrk_mtqp_client_track_host_sync (client, "127.0.0.1", server->port, envids,
                                                secrets, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (answers->len, ==, 9);

  a = g_ptr_array_index (answers, 0);
  g_assert_error (msgtrk_mtqp_answer_get_error (a), MSGTRK_ERROR, MSGTRK_ERROR_SERVER_TEMP);
  codes = msgtrk_mtqp_answer_get_response_codes (a);
  g_assert_cmpuint (g_strv_length ((char **) codes), ==, 2);
  g_assert_cmpstr (codes[0], ==, "busy");
  g_assert_cmpstr (codes[1], ==, "retry-later");
  g_assert_true (msgtrk_mtqp_answer_has_response_code (a, "RETRY-LATER"));
  g_assert_cmpstr (msgtrk_mtqp_answer_get_response_text (a), ==, "Server busy, try later");
  g_assert_cmpstr (msgtrk_mtqp_answer_get_status (a), ==, "-TEMP");
  g_assert_nonnull (strstr (msgtrk_mtqp_answer_get_error (a)->message, "Server busy"));

  g_assert_true (msgtrk_mtqp_answer_is_success (g_ptr_array_index (answers, 1)));
  g_assert_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 2)), MSGTRK_ERROR,
                  MSGTRK_ERROR_SERVER_ERR);
  g_assert_true (msgtrk_mtqp_answer_has_response_code (g_ptr_array_index (answers, 2),
                                                       "unknown"));
  g_assert_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 3)), MSGTRK_ERROR,
                  MSGTRK_ERROR_SERVER_BAD);
  a = g_ptr_array_index (answers, 4);
  g_assert_true (msgtrk_mtqp_answer_is_success (a));
  g_assert_cmpuint (msgtrk_mtqp_answer_get_reports (a)->len, ==, 3);
  g_assert_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 5)), MSGTRK_ERROR,
                  MSGTRK_ERROR_PROTOCOL);
  a = g_ptr_array_index (answers, 6);
  e = msgtrk_mtqp_answer_get_error (a);
  g_assert_nonnull (e);
  g_assert_true (e->code == MSGTRK_ERROR_PARSE);
  g_assert_nonnull (msgtrk_mtqp_answer_get_entity (a));
  /* Invalid queries are refused locally, never sent */
  a = g_ptr_array_index (answers, 7);
  g_assert_error (msgtrk_mtqp_answer_get_error (a), MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_null (msgtrk_mtqp_answer_get_status (a));
  a = g_ptr_array_index (answers, 8);
  g_assert_error (msgtrk_mtqp_answer_get_error (a), MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_assert_null (strstr (msgtrk_mtqp_answer_get_error (a)->message, "base64!"));
  {
    g_autofree char *log = server_log (server);

    g_assert_cmpuint (mt_count_occurrences (log, "TRACK "), ==, 7);
  }
}

static void
test_track_pipelining (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  const char *envids[] = { "pipe-1-of-3@x", "pipe-2-of-3@x", "pipe-3-of-3@x", NULL };
  const char *secrets[] = { SECRET, SECRET, SECRET, NULL };
  g_autofree char *log = NULL;
  guint i;

  g_test_summary ("TRACK commands go out together: the server answers only when all of "
                  "them arrived before its first answer");
  answers = msgtrk_mtqp_client_track_host_sync (client, "127.0.0.1", server->port, envids,
                                                secrets, NULL, &error);
  g_assert_no_error (error);
  for (i = 0; i < 3; i++)
    g_assert_no_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, i)));
  log = server_log (server);
  g_assert_nonnull (strstr (log, "PIPELINE got=3 want=3"));
}

static void
test_track_many (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autoptr (GPtrArray) envids = g_ptr_array_new_with_free_func (g_free);
  guint i, n = MSGTRK_MTQP_PIPELINE_BATCH * 2 + 3;

  g_test_summary ("More queries than one pipeline batch: answers stay in order");
  for (i = 0; i < n; i++)
    g_ptr_array_add (envids, g_strdup_printf (i % 3 == 0 ? "err%u@x" : "delivered%u@x", i));
  answers = track_all (client, server->port, envids, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (answers->len, ==, n);
  for (i = 0; i < n; i++)
    {
      MsgtrkMtqpAnswer *a = g_ptr_array_index (answers, i);

      g_assert_cmpstr (msgtrk_mtqp_answer_get_envid (a), ==, g_ptr_array_index (envids, i));
      g_assert_cmpint (msgtrk_mtqp_answer_is_success (a), ==, i % 3 != 0);
    }
}

static void
test_track_secret_masked (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  MsgtrkMtqpAnswer *a;

  g_test_summary ("A server that echoes the TRACK line never gets the secret into errors");
  answers = track (client, "127.0.0.1", server->port, "echo", &error);
  g_assert_no_error (error);
  a = g_ptr_array_index (answers, 0);
  g_assert_error (msgtrk_mtqp_answer_get_error (a), MSGTRK_ERROR, MSGTRK_ERROR_SERVER_ERR);
  g_assert_null (strstr (msgtrk_mtqp_answer_get_error (a)->message, SECRET));
  g_assert_null (strstr (msgtrk_mtqp_answer_get_response_text (a), SECRET));
  g_assert_nonnull (strstr (msgtrk_mtqp_answer_get_response_text (a), "TRACK echo ****"));
}

static void
test_track_secret_masked_cut (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  /* "-ERR you said: TRACK echo@<pad> <secret>": the text after "-ERR " reaches the secret
   * at character 180, 20 characters before the 200 that an answer's text keeps. */
  g_autofree char *pad = g_strnfill (158, 'p');
  g_autofree char *envid = g_strconcat ("echo@", pad, NULL);
  g_autofree char *head = g_strndup (SECRET, 12);
  const char *text;
  MsgtrkMtqpAnswer *a;

  g_test_summary ("A secret echoed where the quote is cut short leaves none of its "
                  "characters in the answer's text or error");
  answers = track (client, "127.0.0.1", server->port, envid, &error);
  g_assert_no_error (error);
  a = g_ptr_array_index (answers, 0);
  g_assert_error (msgtrk_mtqp_answer_get_error (a), MSGTRK_ERROR, MSGTRK_ERROR_SERVER_ERR);
  text = msgtrk_mtqp_answer_get_response_text (a);
  g_test_message ("%s", text);
  g_assert_true (g_str_has_suffix (text, "…"));
  g_assert_null (strstr (text, head));
  g_assert_nonnull (strstr (text, "p ********"));
  g_assert_null (strstr (msgtrk_mtqp_answer_get_error (a)->message, head));
}

static void
test_track_batch_at_limits (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autoptr (GPtrArray) envids = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *log = NULL;
  gsize fixed = strlen ("TRACK  ") + strlen (SECRET);
  guint i, n = MSGTRK_MTQP_PIPELINE_BATCH * 2 + 1;

  g_test_summary ("Full pipeline batches of TRACK lines of exactly 998 octets go out whole "
                  "and in order, QUIT once after the last");
  for (i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("delivered%u@", i);
      g_autofree char *pad = g_strnfill (MSGTRK_MTQP_MAX_LINE - fixed - strlen (name), 'e');

      g_ptr_array_add (envids, g_strconcat (name, pad, NULL));
      g_assert_cmpuint (strlen ("TRACK  ") + strlen (g_ptr_array_index (envids, i))
                          + strlen (SECRET), ==, MSGTRK_MTQP_MAX_LINE);
    }
  answers = track_all (client, server->port, envids, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (answers->len, ==, n);
  for (i = 0; i < n; i++)
    {
      MsgtrkMtqpAnswer *a = g_ptr_array_index (answers, i);

      g_assert_cmpstr (msgtrk_mtqp_answer_get_envid (a), ==, g_ptr_array_index (envids, i));
      g_assert_no_error (msgtrk_mtqp_answer_get_error (a));
    }
  /* The client may return before the server has logged a QUIT it sent without waiting
   * for the answer. */
  log = mt_file_wait_occurrences (server->log_path, "QUIT session=", 1);
  g_assert_cmpuint (mt_count_occurrences (log, "TRACK session="), ==, n);
  g_assert_cmpuint (mt_count_occurrences (log, "QUIT session="), ==, 1);
}

static void
test_track_command_length (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  gsize fixed = strlen ("TRACK  ") + strlen (SECRET);
  g_autofree char *at_limit = g_strnfill (MSGTRK_MTQP_MAX_LINE - fixed, 'e');
  g_autofree char *past_limit = g_strnfill (MSGTRK_MTQP_MAX_LINE - fixed + 1, 'e');
  const char *envids[] = { at_limit, past_limit, NULL };
  const char *secrets[] = { SECRET, SECRET, NULL };

  g_test_summary ("A TRACK line of 998 octets goes out, one of 999 does not");
  answers = msgtrk_mtqp_client_track_host_sync (client, "127.0.0.1", server->port, envids,
                                                secrets, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_mtqp_answer_get_status (g_ptr_array_index (answers, 0)), ==, "-ERR");
  g_assert_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 1)), MSGTRK_ERROR,
                  MSGTRK_ERROR_LIMIT);
  g_assert_null (msgtrk_mtqp_answer_get_status (g_ptr_array_index (answers, 1)));
}

/* ---- limits ---------------------------------------------------------------------- */

static void
test_limit_line (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autoptr (GError) e = NULL;

  g_test_summary ("A 998-octet line is read, a 999-octet line is an error");
  answers = track (client, "127.0.0.1", server->port, "line998", &error);
  g_assert_no_error (error);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 0)));
  e = track_error (client, server->port, "line999");
  g_assert_error (e, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
}

static void
test_limit_response_size (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GBytes) entity = entity_file ("delivered.eml");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autoptr (GError) e = NULL;
  gsize size = g_bytes_get_size (entity);

  g_test_summary ("An answer of max-response-size octets is read, one more is an error");
  msgtrk_mtqp_client_set_max_response_size (client, (guint) size);
  answers = track (client, "127.0.0.1", server->port, DELIVERED_ENVID, &error);
  g_assert_no_error (error);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 0)));
  msgtrk_mtqp_client_set_max_response_size (client, (guint) size - 1);
  e = track_error (client, server->port, DELIVERED_ENVID);
  g_assert_error (e, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
}

static void
test_limit_parts (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autoptr (GError) e = NULL;

  g_test_summary ("An answer of max-parts reports is used, one more is an error");
  msgtrk_mtqp_client_set_max_parts (client, 3);
  answers = track (client, "127.0.0.1", server->port, "chain", &error);
  g_assert_no_error (error);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 0)));
  msgtrk_mtqp_client_set_max_parts (client, 2);
  e = track_error (client, server->port, "chain");
  g_assert_error (e, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
}

/* ---- hostile answers ------------------------------------------------------------- */

typedef struct
{
  const char *envid;
  int         code;
  const char *message_part;
} HostileAnswer;

static void
test_hostile_answers (void)
{
  static const HostileAnswer cases[] = {
    { "endlessline", MSGTRK_ERROR_LIMIT, "longer than 998" },
    { "endlessreply", MSGTRK_ERROR_LIMIT, "reply longer than" },
    { "trickle", MSGTRK_ERROR_TIMEOUT, "deadline" },
    { "silent", MSGTRK_ERROR_TIMEOUT, "sent nothing for 1 s" },
    { "closemid", MSGTRK_ERROR_PROTOCOL, "in the middle of a reply" },
    { "garbagestatus", MSGTRK_ERROR_PROTOCOL, "not an MTQP status line" },
  };
  g_autoptr (TestServer) server = server_start (NULL);
  guint i;

  g_test_summary ("Hostile answers end bounded in time and memory, with a clear error");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (MsgtrkMtqpClient) client = new_client ();
      g_autoptr (GError) e = NULL;

      msgtrk_mtqp_client_set_read_timeout (client, 1);
      msgtrk_mtqp_client_set_deadline (client, 2);
      msgtrk_mtqp_client_set_max_response_size (client, 65536);
      e = track_error (client, server->port, cases[i].envid);
      g_assert_error (e, MSGTRK_ERROR, cases[i].code);
      g_assert_nonnull (strstr (e->message, cases[i].message_part));
    }
}

static void
test_hostile_batch_broken (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  const char *envids[] = { "delivered", "closemid", "delivered", NULL };
  const char *secrets[] = { SECRET, SECRET, SECRET, NULL };

  g_test_summary ("A connection lost mid-batch keeps earlier answers, fails later ones");
  answers = msgtrk_mtqp_client_track_host_sync (client, "127.0.0.1", server->port, envids,
                                                secrets, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (msgtrk_mtqp_answer_is_success (g_ptr_array_index (answers, 0)));
  g_assert_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 1)), MSGTRK_ERROR,
                  MSGTRK_ERROR_PROTOCOL);
  g_assert_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 2)), MSGTRK_ERROR,
                  MSGTRK_ERROR_PROTOCOL);
}

typedef struct
{
  const char *greeting;
  int         code;  /* -1: success */
  const char *message_part;
} GreetingCase;

static void
test_hostile_greetings (void)
{
  static const GreetingCase cases[] = {
    { "garbage", MSGTRK_ERROR_PROTOCOL, "not an MTQP status line" },
    { "notmtqp", MSGTRK_ERROR_PROTOCOL, "not an MTQP server" },
    { "temp", MSGTRK_ERROR_SERVER_TEMP, "Service down for admin" },
    { "err", MSGTRK_ERROR_SERVER_ERR, "-ERR/mtqp/unavailable" },
    { "endless", MSGTRK_ERROR_LIMIT, "longer than 998" },
    { "endlessoptions", MSGTRK_ERROR_LIMIT, "option lines" },
    { "trickle", MSGTRK_ERROR_TIMEOUT, "deadline" },
    { "silent", MSGTRK_ERROR_TIMEOUT, "sent nothing" },
    { "close", MSGTRK_ERROR_PROTOCOL, "without a greeting" },
    { "single", -1, NULL },
    { "lf", -1, NULL },
  };
  guint i;

  g_test_summary ("Greetings: positive with /MTQP only; the rest end with a clear error");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (TestServer) server = server_start ("--greeting", cases[i].greeting, NULL);
      g_autoptr (MsgtrkMtqpClient) client = new_client ();
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) answers = NULL;

      msgtrk_mtqp_client_set_read_timeout (client, 1);
      msgtrk_mtqp_client_set_deadline (client, 2);
      answers = track (client, "127.0.0.1", server->port, "delivered", &error);
      if (cases[i].code < 0)
        {
          g_assert_no_error (error);
          g_assert_true (msgtrk_mtqp_answer_is_success (g_ptr_array_index (answers, 0)));
          continue;
        }
      g_assert_null (answers);
      g_assert_error (error, MSGTRK_ERROR, cases[i].code);
      g_test_message ("%s: %s", cases[i].greeting, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
    }
}

/* ---- TLS ------------------------------------------------------------------------- */

static MsgtrkMtqpClient *
tls_client (guint16 port)
{
  MsgtrkMtqpClient *client = new_client ();
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", port);

  g_assert_true (msgtrk_mtqp_client_add_host_override (client, "localhost", address, NULL));
  return client;
}

static void
test_tls_starttls (void)
{
  g_autoptr (TestServer) server = server_start ("--cert", "@server.pem", "--key",
                                                "@server.key", NULL);
  g_autoptr (MsgtrkMtqpClient) client = tls_client (server->port);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autofree char *log = NULL;
  MsgtrkMtqpAnswer *a;
  guint notified = 0;
  g_autofree char *key = g_strdup_printf ("localhost:%u", server->port);

  g_test_summary ("STARTTLS when offered: verified, remembered, TRACK only inside TLS");
  g_signal_connect (client, "notify::starttls-hosts", G_CALLBACK (count_notify), &notified);
  answers = track (client, "localhost", 0, "delivered", &error);
  g_assert_no_error (error);
  a = g_ptr_array_index (answers, 0);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (a));
  g_assert_true (g_str_has_prefix (msgtrk_mtqp_answer_get_tls_description (a), "TLSv1."));
  g_assert_cmpstr (msgtrk_mtqp_answer_get_server_host (a), ==, "localhost");
  g_assert_true (msgtrk_mtqp_client_remembers_starttls (client, key));
  g_assert_cmpuint (notified, ==, 1);
  log = server_log (server);
  g_assert_nonnull (strstr (log, "TRACK session=0 tls=1 delivered"));

  /* An IP literal is verified against the IP address in the certificate */
  g_clear_pointer (&answers, g_ptr_array_unref);
  answers = track (client, "127.0.0.1", server->port, "delivered", &error);
  g_assert_no_error (error);
  g_assert_no_error (msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, 0)));
}

typedef struct
{
  const char *cert;
  const char *key;
  const char *host;
  const char *message_part;
} BadCertCase;

static void
test_tls_bad_certificates (void)
{
  static const BadCertCase cases[] = {
    { "@wronghost.pem", "@wronghost.key", "localhost",
      "certificate for localhost is not valid: hostname mismatch" },
    { "@wronghost.pem", "@wronghost.key", "127.0.0.1",
      "certificate for 127.0.0.1 is not valid: IP address mismatch" },
    { "@selfsigned.pem", "@selfsigned.key", "localhost", "is not valid: self-signed" },
    { "@server.pem", "@server.key", "other.invalid", "hostname mismatch" },
  };
  guint i;

  g_test_summary ("A certificate that does not verify fails the session; nothing is sent");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (TestServer) server = server_start ("--cert", cases[i].cert, "--key",
                                                    cases[i].key, NULL);
      g_autoptr (MsgtrkMtqpClient) client = tls_client (server->port);
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) answers = NULL;
      g_autofree char *log = NULL;
      g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", server->port);

      msgtrk_mtqp_client_add_host_override (client, "other.invalid", address, NULL);
      answers = track (client, cases[i].host, server->port, "delivered", &error);
      g_assert_null (answers);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
      log = server_log (server);
      g_assert_null (strstr (log, "TRACK "));
    }
}

static void
test_tls_policy (void)
{
  g_autoptr (TestServer) plain = server_start (NULL);
  g_autoptr (TestServer) tls = server_start ("--cert", "@server.pem", "--key", "@server.key",
                                             NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autofree char *log = NULL;
  g_autoptr (MsgtrkMtqpClient) client = new_client ();

  g_test_summary ("Policy matrix: REQUIRED, OPPORTUNISTIC and NONE against servers with "
                  "and without STARTTLS");
  /* REQUIRED vs no STARTTLS: fails before any TRACK */
  msgtrk_mtqp_client_set_tls_policy (client, MSGTRK_TLS_POLICY_REQUIRED);
  answers = track (client, "127.0.0.1", plain->port, "delivered", &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
  g_assert_null (answers);
  g_clear_error (&error);
  log = server_log (plain);
  g_assert_null (strstr (log, "TRACK "));
  g_clear_pointer (&log, g_free);

  /* REQUIRED vs STARTTLS: works */
  answers = track (client, "127.0.0.1", tls->port, "delivered", &error);
  g_assert_no_error (error);
  g_assert_nonnull (msgtrk_mtqp_answer_get_tls_description (g_ptr_array_index (answers, 0)));
  g_clear_pointer (&answers, g_ptr_array_unref);

  /* OPPORTUNISTIC vs no STARTTLS (never seen): clear text */
  msgtrk_mtqp_client_set_tls_policy (client, MSGTRK_TLS_POLICY_OPPORTUNISTIC);
  answers = track (client, "127.0.0.1", plain->port, "delivered", &error);
  g_assert_no_error (error);
  g_assert_true (msgtrk_mtqp_answer_is_success (g_ptr_array_index (answers, 0)));
  g_assert_null (msgtrk_mtqp_answer_get_tls_description (g_ptr_array_index (answers, 0)));
  g_clear_pointer (&answers, g_ptr_array_unref);

  /* NONE vs STARTTLS: never STARTTLS */
  msgtrk_mtqp_client_set_tls_policy (client, MSGTRK_TLS_POLICY_NONE);
  msgtrk_mtqp_client_set_starttls_hosts (client, NULL);
  answers = track (client, "127.0.0.1", tls->port, "delivered", &error);
  g_assert_no_error (error);
  g_assert_null (msgtrk_mtqp_answer_get_tls_description (g_ptr_array_index (answers, 0)));
  g_assert_false (msgtrk_mtqp_client_remembers_starttls (client, "127.0.0.1"));
  {
    g_autofree char *key = g_strdup_printf ("127.0.0.1:%u", tls->port);

    g_assert_false (msgtrk_mtqp_client_remembers_starttls (client, key));
  }
  log = server_log (tls);
  g_assert_cmpuint (mt_count_occurrences (log, "STARTTLS session"), ==, 1);
}

static void
test_tls_downgrade (void)
{
  g_autoptr (TestServer) server = server_start ("--cert", "@server.pem", "--key",
                                                "@server.key", "--starttls-sessions", "1",
                                                NULL);
  g_autoptr (MsgtrkMtqpClient) client = tls_client (server->port);
  g_autoptr (MsgtrkMtqpClient) fresh = tls_client (server->port);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autofree char *log = NULL;
  g_auto (GStrv) memory = NULL;

  g_test_summary ("A server remembered for STARTTLS that stops offering it is a downgrade: "
                  "no TRACK goes out in clear text");
  answers = track (client, "localhost", 0, "delivered", &error);
  g_assert_no_error (error);
  g_clear_pointer (&answers, g_ptr_array_unref);

  answers = track (client, "localhost", 0, "delivered", &error);
  g_assert_null (answers);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE);
  g_clear_error (&error);

  /* REQUIRED: also a downgrade */
  msgtrk_mtqp_client_set_tls_policy (client, MSGTRK_TLS_POLICY_REQUIRED);
  answers = track (client, "localhost", 0, "delivered", &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE);
  g_clear_error (&error);
  log = server_log (server);
  g_assert_cmpuint (mt_count_occurrences (log, "TRACK "), ==, 1);

  /* The memory survives through the strv (what msgtrkd persists) */
  memory = msgtrk_mtqp_client_get_starttls_hosts (client);
  msgtrk_mtqp_client_set_starttls_hosts (fresh, (const char * const *) memory);
  answers = track (fresh, "localhost", 0, "delivered", &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE);
  g_clear_error (&error);

  /* Forgotten (the user accepted it): clear text again */
  {
    g_autofree char *key = g_strdup_printf ("localhost:%u", server->port);

    msgtrk_mtqp_client_forget_starttls (fresh, key);
  }
  answers = track (fresh, "localhost", 0, "delivered", &error);
  g_assert_no_error (error);
  g_assert_true (msgtrk_mtqp_answer_is_success (g_ptr_array_index (answers, 0)));
}

static void
test_tls_hostile (void)
{
  static const GreetingCase cases[] = {
    { "starttls-twice", MSGTRK_ERROR_PROTOCOL, "still offers STARTTLS" },
    { "inject", MSGTRK_ERROR_PROTOCOL, "injection" },
    { "refuse-tls", MSGTRK_ERROR_TLS, "refused it" },
  };
  guint i;

  g_test_summary ("STARTTLS misbehaviour: still offered after TLS, data injected before "
                  "the handshake, offered then refused");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (TestServer) server = server_start ("--cert", "@server.pem", "--key",
                                                    "@server.key", "--greeting",
                                                    cases[i].greeting, NULL);
      g_autoptr (MsgtrkMtqpClient) client = tls_client (server->port);
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) answers = NULL;

      msgtrk_mtqp_client_set_read_timeout (client, 2);
      answers = track (client, "localhost", 0, "delivered", &error);
      g_assert_null (answers);
      g_assert_error (error, MSGTRK_ERROR, cases[i].code);
      g_test_message ("%s: %s", cases[i].greeting, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
    }
}

/* ---- msgtrk-tls on its own: both sides ---- */

static void
handshake_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  GIOStream **out = user_data;
  g_autoptr (GError) error = NULL;

  *out = msgtrk_tls_handshake_finish (result, &error);
  g_assert_no_error (error);
}

typedef struct
{
  gboolean done;
  GError  *error;
} HandshakeOutcome;

static void
handshake_outcome (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  HandshakeOutcome *outcome = user_data;
  g_autoptr (GIOStream) stream = msgtrk_tls_handshake_finish (result, &outcome->error);

  outcome->done = TRUE;
}

static void
test_tls_empty_server_name (void)
{
  g_auto (MtTcpPair) pair = { NULL, NULL };
  g_autoptr (MsgtrkTlsContext) server_ctx = NULL;
  g_autoptr (MsgtrkTlsContext) client_ctx = NULL;
  g_autoptr (GIOStream) client_tls = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *cert = g_build_filename (ca_dir, "server.pem", NULL);
  g_autofree char *key = g_build_filename (ca_dir, "server.key", NULL);
  g_autofree char *ca = g_build_filename (ca_dir, "ca.pem", NULL);
  HandshakeOutcome outcome = { FALSE, NULL };

  g_test_summary ("An empty server name is refused before the handshake: OpenSSL would "
                  "take it as \"check no name\" and accept any trusted certificate");
  server_ctx = msgtrk_tls_context_new_server (cert, key, &error);
  g_assert_no_error (error);
  client_ctx = msgtrk_tls_context_new_client (ca, FALSE, &error);
  g_assert_no_error (error);
  mt_tcp_pair_open (&pair);
  msgtrk_tls_handshake_async (server_ctx, G_IO_STREAM (pair.server), NULL, NULL,
                              handshake_outcome, &outcome);

  client_tls = msgtrk_tls_handshake (client_ctx, G_IO_STREAM (pair.client), "", NULL, &error);
  g_assert_null (client_tls);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
  g_test_message ("%s", error->message);

  /* The server side sees the connection end without a handshake. */
  g_io_stream_close (G_IO_STREAM (pair.client), NULL, NULL);
  while (!outcome.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (outcome.error);
  g_clear_error (&outcome.error);
}

static void
test_tls_stream_loopback (void)
{
  g_auto (MtTcpPair) pair = { NULL, NULL };
  g_autoptr (MsgtrkTlsContext) server_ctx = NULL;
  g_autoptr (MsgtrkTlsContext) client_ctx = NULL;
  g_autoptr (MsgtrkTlsContext) bad_ctx = NULL;
  g_autoptr (GIOStream) client_tls = NULL;
  GIOStream *server_tls = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *cert = g_build_filename (ca_dir, "server.pem", NULL);
  g_autofree char *key = g_build_filename (ca_dir, "server.key", NULL);
  g_autofree char *other_key = g_build_filename (ca_dir, "wronghost.key", NULL);
  g_autofree char *ca = g_build_filename (ca_dir, "ca.pem", NULL);
  g_autofree char *description = NULL;
  char buf[64];
  gssize n;

  g_test_summary ("msgtrk-tls: server and client contexts, data both ways, close_notify");
  bad_ctx = msgtrk_tls_context_new_server (cert, other_key, &error);
  g_assert_null (bad_ctx);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
  g_clear_error (&error);
  bad_ctx = msgtrk_tls_context_new_server ("/nonexistent.pem", key, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
  g_clear_error (&error);
  bad_ctx = msgtrk_tls_context_new_client ("/nonexistent.pem", FALSE, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
  g_clear_error (&error);

  server_ctx = msgtrk_tls_context_new_server (cert, key, &error);
  g_assert_no_error (error);
  client_ctx = msgtrk_tls_context_new_client (ca, FALSE, &error);
  g_assert_no_error (error);

  mt_tcp_pair_open (&pair);

  /* The server side runs in a worker thread, the client side here. */
  msgtrk_tls_handshake_async (server_ctx, G_IO_STREAM (pair.server), NULL, NULL,
                              handshake_done, &server_tls);
  client_tls = msgtrk_tls_handshake (client_ctx, G_IO_STREAM (pair.client), "localhost", NULL,
                                     &error);
  g_assert_no_error (error);
  while (server_tls == NULL)
    g_main_context_iteration (NULL, TRUE);

  description = msgtrk_tls_stream_describe (client_tls);
  g_test_message ("%s", description);
  g_assert_true (g_str_has_prefix (description, "TLSv1.3 TLS_"));

  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (client_tls),
                                            "ping\r\n", 6, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (server_tls), buf, 6,
                                          (gsize *) &n, NULL, &error));
  g_assert_cmpmem (buf, 6, "ping\r\n", 6);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (server_tls),
                                            "pong", 4, NULL, NULL, &error));
  g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (client_tls), buf, 4,
                                          (gsize *) &n, NULL, &error));
  g_assert_cmpmem (buf, 4, "pong", 4);

  /* close_notify: the other side reads a clean end of stream */
  g_assert_true (g_io_stream_close (server_tls, NULL, &error));
  g_assert_no_error (error);
  n = g_input_stream_read (g_io_stream_get_input_stream (client_tls), buf, sizeof buf, NULL,
                           &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 0);
  g_object_unref (server_tls);
}

/* ---- discovery ------------------------------------------------------------------- */

static MsgtrkMtqpClient *
discovery_client (TestResolver *resolver)
{
  MsgtrkMtqpClient *client = new_client ();

  msgtrk_mtqp_client_set_resolver (client, G_RESOLVER (resolver));
  return client;
}

static void
add_override (MsgtrkMtqpClient *client,
              const char       *name,
              guint16           port)
{
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", port);
  g_autoptr (GError) error = NULL;

  g_assert_true (msgtrk_mtqp_client_add_host_override (client, name, address, &error));
  g_assert_no_error (error);
}

static GPtrArray *
track_domain (MsgtrkMtqpClient *client,
              const char       *domain,
              GError          **error)
{
  const char *envids[] = { "delivered", NULL };
  const char *secrets[] = { SECRET, NULL };

  return msgtrk_mtqp_client_track_sync (client, domain, envids, secrets, NULL, error);
}

static void
test_discovery_srv (void)
{
  g_autoptr (TestServer) first = server_start (NULL);
  g_autoptr (TestServer) second = server_start (NULL);
  g_autoptr (TestServer) busy = server_start ("--greeting", "temp", NULL);
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autofree char *log = NULL;

  g_test_summary ("SRV: lowest priority first, unreachable and negative-greeting targets "
                  "pass to the next");
  resolver_add_srv (resolver, "demo.test", 40, 0, 1038, "hop-last.demo.test.");
  resolver_add_srv (resolver, "demo.test", 30, 5, 1038, "hop1.demo.test.");
  resolver_add_srv (resolver, "demo.test", 20, 5, 1038, "hop-busy.demo.test");
  resolver_add_srv (resolver, "demo.test", 10, 5, 1038, "hop-dead.demo.test");
  add_override (client, "hop1.demo.test", first->port);
  add_override (client, "hop-last.demo.test", second->port);
  add_override (client, "hop-busy.demo.test", busy->port);
  add_override (client, "hop-dead.demo.test", mt_closed_port ());

  answers = track_domain (client, "Demo.Test", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_mtqp_answer_get_server_host (g_ptr_array_index (answers, 0)), ==,
                   "hop1.demo.test");
  g_assert_cmpuint (msgtrk_mtqp_answer_get_server_port (g_ptr_array_index (answers, 0)), ==,
                    first->port);
  /* What a URL for this server names: the SRV target's port, not the override's. */
  g_assert_cmpuint (msgtrk_mtqp_answer_get_discovered_port (g_ptr_array_index (answers, 0)), ==,
                    1038);
  g_assert_true (msgtrk_mtqp_answer_is_success (g_ptr_array_index (answers, 0)));
  log = server_log (busy);
  g_assert_nonnull (strstr (log, "GREET"));
}

static void
test_discovery_srv_weight (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  guint i, first_heavy = 0;

  g_test_summary ("SRV weights: within one priority every target is used, the heavy one "
                  "more often");
  resolver_add_srv (resolver, "demo.test", 10, 1, 1038, "light.demo.test");
  resolver_add_srv (resolver, "demo.test", 10, 1000, 1038, "heavy.demo.test");
  add_override (client, "light.demo.test", server->port);
  add_override (client, "heavy.demo.test", server->port);
  for (i = 0; i < 20; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) answers = track_domain (client, "demo.test", &error);

      g_assert_no_error (error);
      if (g_str_equal (msgtrk_mtqp_answer_get_server_host (g_ptr_array_index (answers, 0)),
                       "heavy.demo.test"))
        first_heavy++;
    }
  /* P(light first) = 2/1001 per try: 20 tries all light is impossible in practice */
  g_assert_cmpuint (first_heavy, >, 0);
}

static void
test_discovery_srv_dot (void)
{
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;

  g_test_summary ("An SRV target \".\" means no service: no MX or address fallback");
  resolver_add_srv (resolver, "demo.test", 0, 0, 0, ".");
  resolver_add_mx (resolver, "demo.test", 10, "mx.demo.test");
  answers = track_domain (client, "demo.test", &error);
  g_assert_null (answers);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
}

static void
test_discovery_mx (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;

  g_test_summary ("No SRV: MX hosts by preference, unreachable ones skipped");
  resolver_add_mx (resolver, "demo.test", 30, "mx-late.demo.test");
  resolver_add_mx (resolver, "demo.test", 20, "mx2.demo.test");
  resolver_add_mx (resolver, "demo.test", 10, "mx1.demo.test");
  add_override (client, "mx1.demo.test", mt_closed_port ());
  add_override (client, "mx2.demo.test", server->port);
  add_override (client, "mx-late.demo.test", mt_closed_port ());
  answers = track_domain (client, "demo.test", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_mtqp_answer_get_server_host (g_ptr_array_index (answers, 0)), ==,
                   "mx2.demo.test");
}

static void
test_discovery_address (void)
{
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;

  g_test_summary ("No SRV, no MX: the domain's own address on port 1038");
  answers = track_domain (client, "demo.test", &error);
  g_assert_null (answers);
  if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT))
    g_assert_nonnull (strstr (error->message, "demo.test port 1038"));
  else
    g_test_message ("something answers on 127.0.0.1:1038: %s", error->message);
  g_assert_cmpuint (resolver->lookups, ==, 3); /* SRV, MX, address */
}

static void
test_discovery_override_domain (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;

  g_test_summary ("An override for the queried domain replaces discovery: no DNS at all");
  resolver_add_srv (resolver, "demo.test", 10, 0, 1038, "elsewhere.demo.test");
  add_override (client, "demo.test", server->port);
  answers = track_domain (client, "demo.test", &error);
  g_assert_no_error (error);
  g_assert_true (msgtrk_mtqp_answer_is_success (g_ptr_array_index (answers, 0)));
  g_assert_cmpuint (resolver->lookups, ==, 0);
}

static void
test_discovery_all_fail (void)
{
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;

  g_test_summary ("Every target unreachable: one CONNECT error naming the domain");
  resolver_add_srv (resolver, "demo.test", 10, 0, 1038, "a.demo.test");
  resolver_add_srv (resolver, "demo.test", 20, 0, 1038, "b.demo.test");
  add_override (client, "a.demo.test", mt_closed_port ());
  answers = track_domain (client, "demo.test", &error);
  g_assert_null (answers);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT);
  g_assert_nonnull (strstr (error->message, "2 tried"));
}

/* ---- async ----------------------------------------------------------------------- */

typedef struct
{
  GMainLoop *loop;
  GPtrArray *answers;
  GError    *error;
} AsyncData;

static void
track_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  AsyncData *data = user_data;

  data->answers = msgtrk_mtqp_client_track_host_finish (MSGTRK_MTQP_CLIENT (source), result,
                                                        &data->error);
  g_main_loop_quit (data->loop);
}

/* The STARTTLS memory is per target host: when the remembered MX cannot be reached, the
 * next MX of the same domain gets the TRACK in clear text even though the domain's
 * service was seen with TLS (an attacker on the path blocks the first and strips the
 * second). */
static void
test_tls_downgrade_failover (void)
{
  g_autoptr (TestServer) tls = server_start ("--cert", "@server.pem", "--key",
                                             "@server.key", NULL);
  g_autoptr (TestServer) plain = server_start (NULL);
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autofree char *log = NULL;

  g_test_summary ("A domain whose MTQP service was seen with STARTTLS does not get a TRACK "
                  "in clear text from a fallback MX that does not offer it");
  resolver_add_mx (resolver, "demo.test", 10, "localhost");
  resolver_add_mx (resolver, "demo.test", 20, "mx2.demo.test");
  add_override (client, "localhost", tls->port);
  add_override (client, "mx2.demo.test", plain->port);
  answers = track_domain (client, "demo.test", &error);
  g_assert_no_error (error);
  g_assert_nonnull (msgtrk_mtqp_answer_get_tls_description (g_ptr_array_index (answers, 0)));
  g_clear_pointer (&answers, g_ptr_array_unref);

  /* The first MX is now unreachable; the second offers no STARTTLS. */
  msgtrk_mtqp_client_clear_host_overrides (client);
  add_override (client, "localhost", mt_closed_port ());
  add_override (client, "mx2.demo.test", plain->port);
  answers = track_domain (client, "demo.test", &error);
  log = server_log (plain);
  g_test_message ("plain server log: %s", log);
  g_assert_null (strstr (log, "TRACK "));
}

/* The domain's entry in the STARTTLS memory: what it holds, that it survives the strv the
 * caller persists, that it fails a fallback target under REQUIRED too, and that
 * forgetting it (the user accepted the change) lets the fallback be used again. */
static void
test_tls_downgrade_domain (void)
{
  g_autoptr (TestServer) tls = server_start ("--cert", "@server.pem", "--key",
                                             "@server.key", NULL);
  g_autoptr (TestServer) plain = server_start (NULL);
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (MsgtrkMtqpClient) fresh = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  g_autofree char *log = NULL;
  g_autofree char *host_key = g_strdup_printf ("localhost:%u", tls->port);
  g_auto (GStrv) memory = NULL;

  g_test_summary ("The domain is remembered as _mtqp._tcp.<domain> next to the host; the "
                  "entry is persisted with the rest, applies to REQUIRED, and can be "
                  "forgotten; a call without discovery uses only the host entry");
  resolver_add_mx (resolver, "demo.test", 10, "localhost");
  resolver_add_mx (resolver, "demo.test", 20, "mx2.demo.test");
  add_override (client, "localhost", tls->port);
  add_override (client, "mx2.demo.test", plain->port);
  answers = track_domain (client, "demo.test", &error);
  g_assert_no_error (error);
  g_clear_pointer (&answers, g_ptr_array_unref);
  memory = msgtrk_mtqp_client_get_starttls_hosts (client);
  g_assert_cmpuint (g_strv_length (memory), ==, 2);
  g_assert_cmpstr (memory[0], ==, "_mtqp._tcp.demo.test");
  g_assert_cmpstr (memory[1], ==, host_key);

  msgtrk_mtqp_client_clear_host_overrides (client);
  add_override (client, "localhost", mt_closed_port ());
  add_override (client, "mx2.demo.test", plain->port);
  answers = track_domain (client, "demo.test", &error);
  g_assert_null (answers);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "demo.test"));
  g_clear_error (&error);
  msgtrk_mtqp_client_set_tls_policy (client, MSGTRK_TLS_POLICY_REQUIRED);
  answers = track_domain (client, "demo.test", &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE);
  g_clear_error (&error);

  /* Without discovery, mx2 is asked as a host of its own: no entry, no downgrade. */
  msgtrk_mtqp_client_set_tls_policy (client, MSGTRK_TLS_POLICY_OPPORTUNISTIC);
  answers = track (client, "mx2.demo.test", 0, "delivered", &error);
  g_assert_no_error (error);
  g_clear_pointer (&answers, g_ptr_array_unref);

  /* The strv the caller persists carries the domain's entry. */
  add_override (fresh, "localhost", mt_closed_port ());
  add_override (fresh, "mx2.demo.test", plain->port);
  msgtrk_mtqp_client_set_starttls_hosts (fresh, (const char * const *) memory);
  g_assert_true (msgtrk_mtqp_client_remembers_starttls (fresh, "_MTQP._tcp.Demo.Test."));
  answers = track_domain (fresh, "demo.test", &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE);
  g_clear_error (&error);
  log = server_log (plain);
  g_assert_cmpuint (mt_count_occurrences (log, "TRACK "), ==, 1);

  /* Forgotten: the fallback is used in clear text again. */
  msgtrk_mtqp_client_forget_starttls (fresh, "_mtqp._tcp.demo.test");
  answers = track_domain (fresh, "demo.test", &error);
  g_assert_no_error (error);
  g_assert_null (msgtrk_mtqp_answer_get_tls_description (g_ptr_array_index (answers, 0)));
}

/* MSGTRK_MTQP_MAX_STARTTLS_HOSTS names (hosts and domains together) are kept, one more is
 * not. */
static void
test_config_starttls_memory_limit (void)
{
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) got = NULL;

  g_test_summary ("The STARTTLS memory keeps MSGTRK_MTQP_MAX_STARTTLS_HOSTS names, not one "
                  "more");
  for (guint i = 0; i < MSGTRK_MTQP_MAX_STARTTLS_HOSTS; i++)
    g_ptr_array_add (names, g_strdup_printf (i % 2 == 0 ? "h%u.example"
                                                        : "_mtqp._tcp.d%u.example", i));
  g_ptr_array_add (names, NULL);
  msgtrk_mtqp_client_set_starttls_hosts (client, (const char * const *) names->pdata);
  got = msgtrk_mtqp_client_get_starttls_hosts (client);
  g_assert_cmpuint (g_strv_length (got), ==, MSGTRK_MTQP_MAX_STARTTLS_HOSTS);
  g_assert_true (msgtrk_mtqp_client_remembers_starttls (
    client, g_ptr_array_index (names, MSGTRK_MTQP_MAX_STARTTLS_HOSTS - 1)));
  g_clear_pointer (&got, g_strfreev);

  g_ptr_array_remove_index (names, names->len - 1);
  g_ptr_array_add (names, g_strdup ("_mtqp._tcp.one-more.example"));
  g_ptr_array_add (names, NULL);
  msgtrk_mtqp_client_set_starttls_hosts (client, (const char * const *) names->pdata);
  got = msgtrk_mtqp_client_get_starttls_hosts (client);
  g_assert_cmpuint (g_strv_length (got), ==, MSGTRK_MTQP_MAX_STARTTLS_HOSTS);
  g_assert_false (msgtrk_mtqp_client_remembers_starttls (client,
                                                         "_mtqp._tcp.one-more.example"));
}

/* The deadline is "seconds one track call may take in all": DNS lookups (SRV, MX, the
 * address records of each target) are part of the call. */
static void
test_discovery_slow_dns_deadline (void)
{
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  gint64 start, elapsed;

  g_test_summary ("A slow DNS server does not hold a track call past its deadline");
  resolver->delay_ms = 1500;
  resolver_add_mx (resolver, "demo.test", 10, "mx1.demo.test");
  resolver_add_mx (resolver, "demo.test", 20, "mx2.demo.test");
  resolver_add_mx (resolver, "demo.test", 30, "mx3.demo.test");
  msgtrk_mtqp_client_set_deadline (client, 2);
  start = g_get_monotonic_time ();
  answers = track_domain (client, "demo.test", &error);
  elapsed = (g_get_monotonic_time () - start) / 1000;
  g_test_message ("took %" G_GINT64_FORMAT " ms: %s", elapsed,
                  error != NULL ? error->message : "(no error)");
  g_assert_null (answers);
  g_assert_cmpint (elapsed, <=, 3000);
}

static gpointer
cancel_later (gpointer data)
{
  g_usleep (300 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

/* Cancelling a call ends it at once even while a DNS lookup is under way. */
static void
test_discovery_slow_dns_cancel (void)
{
  g_autoptr (TestResolver) resolver = g_object_new (TEST_TYPE_RESOLVER, NULL);
  g_autoptr (MsgtrkMtqpClient) client = discovery_client (resolver);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  const char *envids[] = { "delivered", NULL };
  const char *secrets[] = { SECRET, NULL };
  GThread *thread;
  gint64 start, elapsed;

  g_test_summary ("A call cancelled during a slow DNS lookup ends with CANCELLED without "
                  "waiting for the lookup");
  resolver->delay_ms = 5000;
  resolver_add_mx (resolver, "demo.test", 10, "mx1.demo.test");
  thread = g_thread_new ("cancel", cancel_later, cancellable);
  start = g_get_monotonic_time ();
  answers = msgtrk_mtqp_client_track_sync (client, "demo.test", envids, secrets, cancellable,
                                           &error);
  elapsed = (g_get_monotonic_time () - start) / 1000;
  g_thread_join (thread);
  g_test_message ("took %" G_GINT64_FORMAT " ms", elapsed);
  g_assert_null (answers);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (elapsed, <, 2500);
}

static void
test_async_track (void)
{
  g_autoptr (TestServer) server = server_start ("--cert", "@server.pem", "--key",
                                                "@server.key", NULL);
  g_autoptr (MsgtrkMtqpClient) client = tls_client (server->port);
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  AsyncData data = { loop, NULL, NULL };
  const char *envids[] = { "delivered", "chain", NULL };
  const char *secrets[] = { SECRET, SECRET, NULL };
  guint notified = 0;

  g_test_summary ("The async API completes in the caller's main context; the STARTTLS "
                  "memory is notified there");
  g_signal_connect (client, "notify::starttls-hosts", G_CALLBACK (count_notify), &notified);
  msgtrk_mtqp_client_track_host_async (client, "localhost", 0, envids, secrets, NULL,
                                       track_done, &data);
  g_main_loop_run (loop);
  g_assert_no_error (data.error);
  g_assert_cmpuint (data.answers->len, ==, 2);
  g_assert_true (msgtrk_mtqp_answer_is_success (g_ptr_array_index (data.answers, 1)));
  g_assert_cmpuint (notified, ==, 1);
  g_ptr_array_unref (data.answers);
}

static gboolean
cancel_soon (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_async_cancel (void)
{
  g_autoptr (TestServer) server = server_start (NULL);
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  AsyncData data = { loop, NULL, NULL };
  const char *envids[] = { "silent", NULL };
  const char *secrets[] = { SECRET, NULL };

  g_test_summary ("Cancelling a call blocked on a silent server ends it with CANCELLED");
  msgtrk_mtqp_client_set_read_timeout (client, 60);
  msgtrk_mtqp_client_track_host_async (client, "127.0.0.1", server->port, envids, secrets,
                                       cancellable, track_done, &data);
  g_timeout_add (200, cancel_soon, cancellable);
  g_main_loop_run (loop);
  g_assert_null (data.answers);
  g_assert_error (data.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&data.error);
}

static void
test_tls_handshake_stalls (void)
{
  static const GreetingCase cases[] = {
    { "tls-silent", MSGTRK_ERROR_TIMEOUT, "sent nothing for 1 s while" },
    { "tls-close", MSGTRK_ERROR_TLS, "closed the connection during the handshake" },
  };
  guint i;

  g_test_summary ("A server that accepts STARTTLS and then never answers the ClientHello "
                  "fails at the read timeout; one that closes mid-handshake fails with a "
                  "TLS error; nothing is sent either way");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (TestServer) server = server_start ("--cert", "@server.pem", "--key",
                                                    "@server.key", "--greeting",
                                                    cases[i].greeting, NULL);
      g_autoptr (MsgtrkMtqpClient) client = tls_client (server->port);
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) answers = NULL;
      g_autofree char *log = NULL;
      gint64 start = g_get_monotonic_time ();

      msgtrk_mtqp_client_set_read_timeout (client, 1);
      answers = track (client, "localhost", 0, "delivered", &error);
      g_assert_null (answers);
      g_assert_error (error, MSGTRK_ERROR, cases[i].code);
      g_test_message ("%s: %s after %" G_GINT64_FORMAT " ms", cases[i].greeting,
                      error->message, (g_get_monotonic_time () - start) / 1000);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
      g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
      log = server_log (server);
      g_assert_null (strstr (log, "TRACK "));
    }
}

static void
test_tls_handshake_cancel (void)
{
  g_autoptr (TestServer) server = server_start ("--cert", "@server.pem", "--key",
                                                "@server.key", "--greeting", "tls-silent",
                                                NULL);
  g_autoptr (MsgtrkMtqpClient) client = tls_client (server->port);
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  AsyncData data = { loop, NULL, NULL };
  const char *envids[] = { "delivered", NULL };
  const char *secrets[] = { SECRET, NULL };
  gint64 start;

  g_test_summary ("Cancelling a call blocked in the TLS handshake ends it with CANCELLED");
  msgtrk_mtqp_client_set_read_timeout (client, 60);
  start = g_get_monotonic_time ();
  msgtrk_mtqp_client_track_host_async (client, "localhost", 0, envids, secrets,
                                       cancellable, track_done, &data);
  g_timeout_add (500, cancel_soon, cancellable);
  g_main_loop_run (loop);
  g_assert_null (data.answers);
  g_assert_error (data.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_clear_error (&data.error);
}

/* Sessions started past the client's pool: they queue instead of taking more threads. */
#define OWN_POOL_SESSIONS (MSGTRK_WORKER_MAX_THREADS + 4)
/* GLib's shared GTask pool keeps this many threads before it grows (one per 0.1 s or more);
 * jobs that need them all at once prove nobody else holds them. */
#define OWN_POOL_SHARED_JOBS 10
#define OWN_POOL_WAIT_US (5 * G_USEC_PER_SEC)
/* Time for those jobs to be all running at once: about 3 ms here when the pool is free,
 * about 1.4 s when 20 sessions hold it (GLib's growth); load average near 8. */
#define OWN_POOL_SHARED_WAIT_US (G_USEC_PER_SEC / 2)

typedef struct
{
  guint   n_done;
  guint   n_cancelled;
} OwnPoolData;

static void
own_pool_track_done (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  OwnPoolData *data = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;

  answers = msgtrk_mtqp_client_track_host_finish (MSGTRK_MTQP_CLIENT (source), result, &error);
  g_assert_null (answers);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    data->n_cancelled++;
  else
    g_test_message ("not cancelled: %s", error->message);
  data->n_done++;
}

typedef struct
{
  GMutex lock;
  GCond  cond;
  guint  n_running;
  guint  n_met;      /* jobs that saw all OWN_POOL_SHARED_JOBS running at once */
  guint  n_finished;
  gint64 end;        /* monotonic time the jobs must all be running by */
} SharedJobs;

static void
shared_job_thread (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  SharedJobs *jobs = task_data;

  g_mutex_lock (&jobs->lock);
  jobs->n_running++;
  g_cond_broadcast (&jobs->cond);
  while (jobs->n_running < OWN_POOL_SHARED_JOBS)
    if (!g_cond_wait_until (&jobs->cond, &jobs->lock, jobs->end))
      break;
  if (jobs->n_running >= OWN_POOL_SHARED_JOBS)
    jobs->n_met++;
  jobs->n_finished++;
  g_cond_broadcast (&jobs->cond);
  g_mutex_unlock (&jobs->lock);
  g_task_return_boolean (task, TRUE);
}

static void
test_async_own_pool (void)
{
  g_autoptr (GSocket) listener = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) bind_address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) local = NULL;
  g_autoptr (MsgtrkMtqpClient) client = new_client ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  const char *envids[] = { "silent", NULL };
  const char *secrets[] = { SECRET, NULL };
  OwnPoolData data = { 0, 0 };
  SharedJobs jobs = { 0 };
  guint16 port;
  gint64 start, end;
  guint i;

  g_test_summary ("Sessions hung on a server that never greets stay in the client's own "
                  "bounded pool: GLib's shared pool still runs unrelated jobs at once, and "
                  "cancelling ends every session, queued or running");

  /* A server that never answers: connections wait in the backlog, never accepted. */
  listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                           &error);
  g_assert_no_error (error);
  g_socket_set_listen_backlog (listener, 2 * OWN_POOL_SESSIONS);
  g_assert_true (g_socket_bind (listener, bind_address, TRUE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  local = g_socket_get_local_address (listener, &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));

  msgtrk_mtqp_client_set_read_timeout (client, 60);
  msgtrk_mtqp_client_set_deadline (client, 120);
  for (i = 0; i < OWN_POOL_SESSIONS; i++)
    msgtrk_mtqp_client_track_host_async (client, "127.0.0.1", port, envids, secrets,
                                         cancellable, own_pool_track_done, &data);

  /* The client's pool fills up to its bound and no further. */
  end = g_get_monotonic_time () + OWN_POOL_WAIT_US;
  while (msgtrk_worker_get_num_threads () < MSGTRK_WORKER_MAX_THREADS
         && g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10000);
    }
  g_assert_cmpuint (msgtrk_worker_get_num_threads (), ==, MSGTRK_WORKER_MAX_THREADS);
  g_usleep (200000);
  g_assert_cmpuint (msgtrk_worker_get_num_threads (), ==, MSGTRK_WORKER_MAX_THREADS);
  g_assert_cmpuint (data.n_done, ==, 0);

  /* GLib's shared pool is free: its base number of jobs run side by side at once. */
  g_mutex_init (&jobs.lock);
  g_cond_init (&jobs.cond);
  start = g_get_monotonic_time ();
  jobs.end = start + OWN_POOL_SHARED_WAIT_US;
  for (i = 0; i < OWN_POOL_SHARED_JOBS; i++)
    {
      g_autoptr (GTask) task = g_task_new (NULL, NULL, NULL, NULL);

      g_task_set_task_data (task, &jobs, NULL);
      g_task_run_in_thread (task, shared_job_thread);
    }
  g_mutex_lock (&jobs.lock);
  while (jobs.n_finished < OWN_POOL_SHARED_JOBS)
    g_cond_wait (&jobs.cond, &jobs.lock);
  g_mutex_unlock (&jobs.lock);
  g_test_message ("%u shared-pool jobs met, all ended after %" G_GINT64_FORMAT " ms",
                  jobs.n_met, (g_get_monotonic_time () - start) / 1000);
  g_assert_cmpuint (jobs.n_met, ==, OWN_POOL_SHARED_JOBS);
  g_assert_cmpuint (data.n_done, ==, 0);

  /* Cancelling ends them all promptly, the running and the queued. */
  start = g_get_monotonic_time ();
  g_cancellable_cancel (cancellable);
  end = start + OWN_POOL_WAIT_US;
  while (data.n_done < OWN_POOL_SESSIONS && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, data.n_done < OWN_POOL_SESSIONS);
  g_test_message ("%u sessions cancelled in %" G_GINT64_FORMAT " ms", data.n_done,
                  (g_get_monotonic_time () - start) / 1000);
  g_assert_cmpuint (data.n_done, ==, OWN_POOL_SESSIONS);
  g_assert_cmpuint (data.n_cancelled, ==, OWN_POOL_SESSIONS);

  /* Let the shared-pool tasks' (no-op) completions run before @jobs goes away. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_mutex_clear (&jobs.lock);
  g_cond_clear (&jobs.cond);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  ca_dir = mt_make_test_ca (NULL);

  g_test_add_func ("/mtqp-client/config/defaults", test_config_defaults);
  g_test_add_func ("/mtqp-client/config/starttls-memory", test_config_starttls_memory);
  g_test_add_func ("/mtqp-client/config/starttls-memory-limit",
                   test_config_starttls_memory_limit);
  g_test_add_func ("/mtqp-client/track/delivered", test_track_delivered);
  g_test_add_func ("/mtqp-client/track/dot-stuffing", test_track_dot_stuffing);
  g_test_add_func ("/mtqp-client/track/xtext-envid", test_track_xtext_envid);
  g_test_add_func ("/mtqp-client/track/foreign-envid", test_track_foreign_envid);
  g_test_add_func ("/mtqp-client/track/decoded-plus-envid", test_track_decoded_plus_envid);
  g_test_add_func ("/mtqp-client/track/batch", test_track_batch);
  g_test_add_func ("/mtqp-client/track/pipelining", test_track_pipelining);
  g_test_add_func ("/mtqp-client/track/many", test_track_many);
  g_test_add_func ("/mtqp-client/track/secret-masked", test_track_secret_masked);
  g_test_add_func ("/mtqp-client/track/secret-masked-cut", test_track_secret_masked_cut);
  g_test_add_func ("/mtqp-client/track/batch-at-limits", test_track_batch_at_limits);
  g_test_add_func ("/mtqp-client/track/command-length", test_track_command_length);
  g_test_add_func ("/mtqp-client/limits/line", test_limit_line);
  g_test_add_func ("/mtqp-client/limits/response-size", test_limit_response_size);
  g_test_add_func ("/mtqp-client/limits/parts", test_limit_parts);
  g_test_add_func ("/mtqp-client/hostile/answers", test_hostile_answers);
  g_test_add_func ("/mtqp-client/hostile/batch-broken", test_hostile_batch_broken);
  g_test_add_func ("/mtqp-client/hostile/greetings", test_hostile_greetings);
  g_test_add_func ("/mtqp-client/tls/starttls", test_tls_starttls);
  g_test_add_func ("/mtqp-client/tls/bad-certificates", test_tls_bad_certificates);
  g_test_add_func ("/mtqp-client/tls/policy", test_tls_policy);
  g_test_add_func ("/mtqp-client/tls/downgrade", test_tls_downgrade);
  g_test_add_func ("/mtqp-client/tls/downgrade-failover", test_tls_downgrade_failover);
  g_test_add_func ("/mtqp-client/tls/downgrade-domain", test_tls_downgrade_domain);
  g_test_add_func ("/mtqp-client/tls/hostile", test_tls_hostile);
  g_test_add_func ("/mtqp-client/tls/stream-loopback", test_tls_stream_loopback);
  g_test_add_func ("/mtqp-client/tls/empty-server-name", test_tls_empty_server_name);
  g_test_add_func ("/mtqp-client/discovery/srv", test_discovery_srv);
  g_test_add_func ("/mtqp-client/discovery/srv-weight", test_discovery_srv_weight);
  g_test_add_func ("/mtqp-client/discovery/srv-dot", test_discovery_srv_dot);
  g_test_add_func ("/mtqp-client/discovery/mx", test_discovery_mx);
  g_test_add_func ("/mtqp-client/discovery/address", test_discovery_address);
  g_test_add_func ("/mtqp-client/discovery/override-domain", test_discovery_override_domain);
  g_test_add_func ("/mtqp-client/discovery/all-fail", test_discovery_all_fail);
  g_test_add_func ("/mtqp-client/discovery/slow-dns-deadline", test_discovery_slow_dns_deadline);
  g_test_add_func ("/mtqp-client/discovery/slow-dns-cancel", test_discovery_slow_dns_cancel);
  g_test_add_func ("/mtqp-client/async/track", test_async_track);
  g_test_add_func ("/mtqp-client/async/cancel", test_async_cancel);
  g_test_add_func ("/mtqp-client/async/own-pool", test_async_own_pool);
  g_test_add_func ("/mtqp-client/tls/handshake-stalls", test_tls_handshake_stalls);
  g_test_add_func ("/mtqp-client/tls/handshake-cancel", test_tls_handshake_cancel);

  ret = g_test_run ();
  mt_tmpdir_remove (ca_dir);
  g_free (ca_dir);
  return ret;
}
