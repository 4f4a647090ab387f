/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-tls.c: msgtrk-tls.c (the OpenSSL GIOStream) on its own, over loopback sockets.
 *
 * What: certificate verification (expired, unknown CA, wrong host), the protocol floor
 * (TLS 1.1 refused on both sides, TLS 1.2 accepted), a peer closing mid-handshake, a
 * handshake timeout, cancellation mid-handshake (in libmsgtrk's own pool). The CA and
 * every certificate are made at test time (tests/make-test-ca.sh).
 * How: each case opens a loopback TCP pair; the other side is either msgtrk-tls itself,
 * a raw OpenSSL peer in a thread (to speak old protocol versions msgtrk refuses), or a
 * socket that misbehaves (silent, closing).
 * Limits: loopback only. The STARTTLS flow, downgrade memory and MTQP-level errors are in
 * test-mtqp-client.c (/mtqp-client/tls/...).
 * Never: depend on the system trust store.
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "msgtrk-private.h"
#include "msgtrk-tls-private.h"
#include "test-util.h"

/* The socket timeout of the timeout case, and the most the cases may take to fail. */
#define TLS_TEST_TIMEOUT_S 1
#define TLS_TEST_PROMPT_US (3 * G_USEC_PER_SEC)

static char *ca_dir;

static char *
ca_path (const char *name)
{
  return g_build_filename (ca_dir, name, NULL);
}

static MsgtrkTlsContext *
client_context (void)
{
  g_autofree char *ca = ca_path ("ca.pem");
  g_autoptr (GError) error = NULL;
  MsgtrkTlsContext *ctx = msgtrk_tls_context_new_client (ca, FALSE, &error);

  g_assert_no_error (error);
  return ctx;
}

static MsgtrkTlsContext *
server_context (const char *name)
{
  g_autofree char *cert_name = g_strconcat (name, ".pem", NULL);
  g_autofree char *key_name = g_strconcat (name, ".key", NULL);
  g_autofree char *cert = ca_path (cert_name);
  g_autofree char *key = ca_path (key_name);
  g_autoptr (GError) error = NULL;
  MsgtrkTlsContext *ctx = msgtrk_tls_context_new_server (cert, key, &error);

  g_assert_no_error (error);
  return ctx;
}

typedef struct
{
  gboolean   done;
  GIOStream *stream;
  GError    *error;
} Outcome;

static void
outcome_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Outcome *outcome = user_data;

  outcome->stream = msgtrk_tls_handshake_finish (result, &outcome->error);
  outcome->done = TRUE;
}

static void
outcome_wait (Outcome *outcome)
{
  while (!outcome->done)
    g_main_context_iteration (NULL, TRUE);
}

static void
outcome_clear (Outcome *outcome)
{
  g_clear_object (&outcome->stream);
  g_clear_error (&outcome->error);
}

/* ---- certificates --------------------------------------------------------------- */

typedef struct
{
  const char *server_cert;   /* base name in ca_dir */
  const char *server_name;
  const char *message_part;
} CertCase;

static void
test_verify (void)
{
  static const CertCase cases[] = {
    { "expired", "localhost", "certificate has expired" },
    { "untrusted", "localhost", "unable to get local issuer certificate" },
    { "selfsigned", "localhost", "self-signed" },
    { "wronghost", "localhost", "hostname mismatch" },
    { "server", "127.0.0.2", "IP address mismatch" },
  };
  guint i;

  g_test_summary ("The client refuses an expired certificate, one from a CA it does not "
                  "trust, a self-signed one, the wrong host name or IP address, with a "
                  "message that says which");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (MsgtrkTlsContext) server_ctx = server_context (cases[i].server_cert);
      g_autoptr (MsgtrkTlsContext) client_ctx = client_context ();
      g_autoptr (GIOStream) tls = NULL;
      g_autoptr (GError) error = NULL;
      MtTcpPair pair = { NULL, NULL };
      Outcome server = { FALSE, NULL, NULL };

      mt_tcp_pair_open (&pair);
      msgtrk_tls_handshake_async (server_ctx, G_IO_STREAM (pair.server), NULL, NULL,
                                  outcome_done, &server);
      tls = msgtrk_tls_handshake (client_ctx, G_IO_STREAM (pair.client),
                                  cases[i].server_name, NULL, &error);
      g_assert_null (tls);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
      g_test_message ("%s: %s", cases[i].server_cert, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
      g_assert_nonnull (strstr (error->message, cases[i].server_name));
      /* The server side fails too (the client's alert, or the closed socket). */
      g_io_stream_close (G_IO_STREAM (pair.client), NULL, NULL);
      outcome_wait (&server);
      g_assert_null (server.stream);
      g_assert_nonnull (server.error);
      outcome_clear (&server);
      mt_tcp_pair_clear (&pair);
    }
}

/* ---- protocol versions: a raw OpenSSL peer that speaks what msgtrk refuses -------- */

typedef struct
{
  int       fd;
  gboolean  is_server;
  int       max_version;  /* TLS1_1_VERSION, TLS1_2_VERSION… */
  gboolean  ok;
  char      version[16];
} RawPeer;

static gpointer
raw_peer_thread (gpointer data)
{
  RawPeer *peer = data;
  g_autofree char *cert = ca_path ("server.pem");
  g_autofree char *key = ca_path ("server.key");
  SSL_CTX *ctx = SSL_CTX_new (peer->is_server ? TLS_server_method () : TLS_client_method ());
  SSL *ssl;

  g_assert_nonnull (ctx);
  /* Security level 0: OpenSSL 3 would refuse TLS 1.1 itself otherwise. */
  SSL_CTX_set_security_level (ctx, 0);
  g_assert_cmpint (SSL_CTX_set_cipher_list (ctx, "DEFAULT:@SECLEVEL=0"), ==, 1);
  SSL_CTX_set_min_proto_version (ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version (ctx, peer->max_version);
  if (peer->is_server)
    {
      g_assert_cmpint (SSL_CTX_use_certificate_chain_file (ctx, cert), ==, 1);
      g_assert_cmpint (SSL_CTX_use_PrivateKey_file (ctx, key, SSL_FILETYPE_PEM), ==, 1);
    }
  else
    SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);
  /* GSocket keeps its descriptor non-blocking; this peer blocks. */
  g_assert_cmpint (fcntl (peer->fd, F_SETFL, fcntl (peer->fd, F_GETFL) & ~O_NONBLOCK), ==, 0);
  ssl = SSL_new (ctx);
  SSL_set_fd (ssl, peer->fd);
  peer->ok = (peer->is_server ? SSL_accept (ssl) : SSL_connect (ssl)) == 1;
  if (!peer->ok)
    g_test_message ("raw %s: %s", peer->is_server ? "server" : "client",
                    ERR_error_string (ERR_peek_error (), NULL));
  if (peer->ok)
    {
      g_strlcpy (peer->version, SSL_get_version (ssl), sizeof peer->version);
      SSL_shutdown (ssl);
    }
  SSL_free (ssl);
  SSL_CTX_free (ctx);
  ERR_clear_error ();
  return NULL;
}

static int
pair_fd (GSocketConnection *connection)
{
  return g_socket_get_fd (g_socket_connection_get_socket (connection));
}

static void
test_protocol_raw_peers (void)
{
  MtTcpPair pair = { NULL, NULL };
  RawPeer server = { 0 };
  RawPeer client = { 0 };
  GThread *thread;

  g_test_summary ("The raw OpenSSL peers of the protocol tests do speak TLS 1.1 to each "
                  "other, so the refusals below are msgtrk's own");
  mt_tcp_pair_open (&pair);
  server.fd = pair_fd (pair.server);
  server.is_server = TRUE;
  server.max_version = TLS1_1_VERSION;
  client.fd = pair_fd (pair.client);
  client.max_version = TLS1_1_VERSION;
  thread = g_thread_new ("raw-server", raw_peer_thread, &server);
  raw_peer_thread (&client);
  g_thread_join (thread);
  g_assert_true (client.ok);
  g_assert_true (server.ok);
  g_assert_cmpstr (client.version, ==, "TLSv1.1");
  mt_tcp_pair_clear (&pair);
}

static void
test_protocol_client (void)
{
  static const struct
  {
    int         max_version;
    const char *version;  /* NULL: refused */
  } cases[] = {
    { TLS1_VERSION, NULL },
    { TLS1_1_VERSION, NULL },
    { TLS1_2_VERSION, "TLSv1.2" },
    { TLS1_3_VERSION, "TLSv1.3" },
  };
  guint i;

  g_test_summary ("msgtrk as client: a server that offers at most TLS 1.0 or 1.1 is "
                  "refused; TLS 1.2 and 1.3 are used");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (MsgtrkTlsContext) client_ctx = client_context ();
      g_autoptr (GIOStream) tls = NULL;
      g_autoptr (GError) error = NULL;
      MtTcpPair pair = { NULL, NULL };
      RawPeer server = { 0 };
      GThread *thread;

      mt_tcp_pair_open (&pair);
      server.fd = pair_fd (pair.server);
      server.is_server = TRUE;
      server.max_version = cases[i].max_version;
      thread = g_thread_new ("raw-server", raw_peer_thread, &server);
      tls = msgtrk_tls_handshake (client_ctx, G_IO_STREAM (pair.client), "localhost", NULL,
                                  &error);
      if (cases[i].version == NULL)
        {
          g_assert_null (tls);
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
          g_test_message ("max 0x%x: %s", (guint) cases[i].max_version, error->message);
          g_assert_nonnull (strstr (error->message, "localhost supports only TLS versions "
                                                    "older than 1.2"));
          g_io_stream_close (G_IO_STREAM (pair.client), NULL, NULL);
        }
      else
        {
          g_autofree char *description = NULL;

          g_assert_no_error (error);
          description = msgtrk_tls_stream_describe (tls);
          g_test_message ("max 0x%x: %s", (guint) cases[i].max_version, description);
          g_assert_true (g_str_has_prefix (description, cases[i].version));
          g_io_stream_close (tls, NULL, NULL);
        }
      g_thread_join (thread);
      g_assert_cmpint (server.ok, ==, cases[i].version != NULL);
      mt_tcp_pair_clear (&pair);
    }
}

static void
test_protocol_server (void)
{
  static const struct
  {
    int      max_version;
    gboolean accepted;
  } cases[] = {
    { TLS1_VERSION, FALSE },
    { TLS1_1_VERSION, FALSE },
    { TLS1_2_VERSION, TRUE },
  };
  guint i;

  g_test_summary ("msgtrk as server (mtqpd, the relay): a client that offers at most TLS "
                  "1.0 or 1.1 is refused; TLS 1.2 is accepted");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (MsgtrkTlsContext) server_ctx = server_context ("server");
      g_autoptr (GIOStream) tls = NULL;
      g_autoptr (GError) error = NULL;
      MtTcpPair pair = { NULL, NULL };
      RawPeer client = { 0 };
      GThread *thread;

      mt_tcp_pair_open (&pair);
      client.fd = pair_fd (pair.client);
      client.max_version = cases[i].max_version;
      thread = g_thread_new ("raw-client", raw_peer_thread, &client);
      tls = msgtrk_tls_handshake (server_ctx, G_IO_STREAM (pair.server), NULL, NULL, &error);
      if (cases[i].accepted)
        {
          g_assert_no_error (error);
          g_io_stream_close (tls, NULL, NULL);
        }
      else
        {
          g_assert_null (tls);
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
          g_test_message ("max 0x%x: %s", (guint) cases[i].max_version, error->message);
          g_assert_nonnull (strstr (error->message, "the client supports only TLS versions "
                                                    "older than 1.2"));
          g_io_stream_close (G_IO_STREAM (pair.server), NULL, NULL);
        }
      g_thread_join (thread);
      g_assert_cmpint (client.ok, ==, cases[i].accepted);
      mt_tcp_pair_clear (&pair);
    }
}

/* ---- a peer that misbehaves during the handshake ---------------------------------- */

static void
test_handshake_peer_closes (void)
{
  g_autoptr (MsgtrkTlsContext) client_ctx = client_context ();
  g_autoptr (GIOStream) tls = NULL;
  g_autoptr (GError) error = NULL;
  MtTcpPair pair = { NULL, NULL };
  Outcome outcome = { FALSE, NULL, NULL };
  char hello[16384];
  gssize n;

  g_test_summary ("A server that reads the ClientHello and closes fails the handshake with "
                  "a TLS error that names it");
  mt_tcp_pair_open (&pair);
  msgtrk_tls_handshake_async (client_ctx, G_IO_STREAM (pair.client), "localhost", NULL,
                              outcome_done, &outcome);
  n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (pair.server)), hello,
                           sizeof hello, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, >, 5);
  g_assert_cmpint (hello[0], ==, 0x16); /* a handshake record */
  g_io_stream_close (G_IO_STREAM (pair.server), NULL, NULL);
  outcome_wait (&outcome);
  g_assert_null (outcome.stream);
  g_assert_error (outcome.error, MSGTRK_ERROR, MSGTRK_ERROR_TLS);
  g_test_message ("%s", outcome.error->message);
  g_assert_nonnull (strstr (outcome.error->message,
                            "localhost closed the connection during the handshake"));
  outcome_clear (&outcome);
  mt_tcp_pair_clear (&pair);
}

static void
test_handshake_timeout (void)
{
  g_autoptr (MsgtrkTlsContext) client_ctx = client_context ();
  g_autoptr (GIOStream) tls = NULL;
  g_autoptr (GError) error = NULL;
  MtTcpPair pair = { NULL, NULL };
  gint64 start, elapsed;

  g_test_summary ("A server that never answers the ClientHello: the base stream's timeout "
                  "ends the handshake");
  mt_tcp_pair_open (&pair);
  g_socket_set_timeout (g_socket_connection_get_socket (pair.client), TLS_TEST_TIMEOUT_S);
  start = g_get_monotonic_time ();
  tls = msgtrk_tls_handshake (client_ctx, G_IO_STREAM (pair.client), "localhost", NULL,
                              &error);
  elapsed = g_get_monotonic_time () - start;
  g_assert_null (tls);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_test_message ("%s after %" G_GINT64_FORMAT " ms", error->message, elapsed / 1000);
  g_assert_cmpint (elapsed, >=, TLS_TEST_TIMEOUT_S * G_USEC_PER_SEC - G_USEC_PER_SEC / 10);
  g_assert_cmpint (elapsed, <, TLS_TEST_TIMEOUT_S * G_USEC_PER_SEC + TLS_TEST_PROMPT_US);
  mt_tcp_pair_clear (&pair);
}

static gboolean
cancel_now (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_handshake_cancel (void)
{
  g_autoptr (MsgtrkTlsContext) client_ctx = client_context ();
  g_autoptr (MsgtrkTlsContext) server_ctx = server_context ("server");
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  MtTcpPair to_silent_server = { NULL, NULL };
  MtTcpPair from_silent_client = { NULL, NULL };
  Outcome client = { FALSE, NULL, NULL };
  Outcome server = { FALSE, NULL, NULL };
  gint64 start, elapsed;

  g_test_summary ("Cancelling handshakes blocked on a silent peer (msgtrk as client and as "
                  "server) ends them at once with CANCELLED; they ran in libmsgtrk's own "
                  "pool");
  mt_tcp_pair_open (&to_silent_server);
  mt_tcp_pair_open (&from_silent_client);
  msgtrk_tls_handshake_async (client_ctx, G_IO_STREAM (to_silent_server.client), "localhost",
                              cancellable, outcome_done, &client);
  msgtrk_tls_handshake_async (server_ctx, G_IO_STREAM (from_silent_client.server), NULL,
                              cancellable, outcome_done, &server);
  g_usleep (G_USEC_PER_SEC / 10);
  g_assert_false (client.done || server.done);
  g_assert_cmpuint (msgtrk_worker_get_num_threads (), >=, 2);
  g_assert_cmpuint (msgtrk_worker_get_num_threads (), <=, MSGTRK_WORKER_MAX_THREADS);
  start = g_get_monotonic_time ();
  g_timeout_add (100, cancel_now, cancellable);
  outcome_wait (&client);
  outcome_wait (&server);
  elapsed = g_get_monotonic_time () - start;
  g_test_message ("cancelled after %" G_GINT64_FORMAT " ms", elapsed / 1000);
  g_assert_cmpint (elapsed, <, TLS_TEST_PROMPT_US);
  g_assert_null (client.stream);
  g_assert_error (client.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (server.stream);
  g_assert_error (server.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  outcome_clear (&client);
  outcome_clear (&server);
  mt_tcp_pair_clear (&to_silent_server);
  mt_tcp_pair_clear (&from_silent_client);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  ca_dir = mt_make_test_ca (NULL);

  g_test_add_func ("/tls/verify/refused", test_verify);
  g_test_add_func ("/tls/protocol/raw-peers", test_protocol_raw_peers);
  g_test_add_func ("/tls/protocol/client", test_protocol_client);
  g_test_add_func ("/tls/protocol/server", test_protocol_server);
  g_test_add_func ("/tls/handshake/peer-closes", test_handshake_peer_closes);
  g_test_add_func ("/tls/handshake/timeout", test_handshake_timeout);
  g_test_add_func ("/tls/handshake/cancel", test_handshake_cancel);

  ret = g_test_run ();
  mt_tmpdir_remove (ca_dir);
  g_free (ca_dir);
  return ret;
}
