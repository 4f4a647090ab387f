/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camel-send.c: send one message through a Camel transport provider, as Evolution would.
 *
 * What: the client side of tests/evolution/test-camel-provider.py. Loads a provider .so
 * with camel_provider_load() (the system providers stay available), or without --provider
 * lets Camel find it as Evolution does (system dir, $EDS_EXTRA_PREFIXES, the per-user
 * modules dir; "PROVIDERS <protocol> smtp" tells what Camel found), makes a CamelSession
 * of its own (password from $MSGTRK_TEST_PASSWORD, certificate answers from
 * --trust=accept|reject, every trust prompt printed), adds a transport service for the
 * protocol, sets its CamelNetworkSettings, connects, sends, disconnects.
 * Output: per message "SENT" on stdout, or "ERROR <domain> <code>: <message>"; exit 0 when
 * all were sent, 1 otherwise (2 for a broken command line or provider). Several --message
 * are sent one after the other on one connection, as Evolution flushes its Outbox.
 * Usage: camel-send [--provider PATH] --protocol P --host H --port N
 *          [--security none|starttls|tls] [--user U --mechanism M] [--trust accept|reject]
 *          --from ADDR --to ADDR [--to ADDR…] --message FILE [--track]
 * --track adds the header X-Msgtrk-Track: yes (what the Evolution module's toggle does).
 * Limits: one message per run.
 * Never: print the password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <camel/camel.h>

#define TEST_TYPE_SESSION (test_session_get_type ())
G_DECLARE_FINAL_TYPE (TestSession, test_session, TEST, SESSION, CamelSession)

struct _TestSession
{
  CamelSession parent_instance;
  gboolean trust;
};

G_DEFINE_FINAL_TYPE (TestSession, test_session, CAMEL_TYPE_SESSION)

static CamelCertTrust
test_session_trust_prompt (CamelSession *session, CamelService *service,
                           GTlsCertificate *certificate, GTlsCertificateFlags errors)
{
  TestSession *self = TEST_SESSION (session);

  printf ("TRUST-PROMPT errors=0x%x answer=%s\n", (unsigned) errors,
          self->trust ? "accept" : "reject");
  fflush (stdout);
  return self->trust ? CAMEL_CERT_TRUST_TEMPORARY : CAMEL_CERT_TRUST_NEVER;
}

/* One attempt with the password from the environment (Evolution's session would prompt
 * and retry; a test wants the rejection itself). */
static gboolean
test_session_authenticate_sync (CamelSession *session, CamelService *service,
                                const char *mechanism, GCancellable *cancellable,
                                GError **error)
{
  CamelAuthenticationResult result;

  camel_service_set_password (service, g_getenv ("MSGTRK_TEST_PASSWORD"));
  result = camel_service_authenticate_sync (service, mechanism, cancellable, error);
  if (result == CAMEL_AUTHENTICATION_REJECTED)
    g_set_error (error, CAMEL_SERVICE_ERROR, CAMEL_SERVICE_ERROR_CANT_AUTHENTICATE,
                 "%s authentication was rejected", mechanism);
  return result == CAMEL_AUTHENTICATION_ACCEPTED;
}

static void
test_session_class_init (TestSessionClass *klass)
{
  CamelSessionClass *session_class = CAMEL_SESSION_CLASS (klass);

  session_class->trust_prompt = test_session_trust_prompt;
  session_class->authenticate_sync = test_session_authenticate_sync;
}

static void
test_session_init (TestSession *self)
{
}

static CamelNetworkSecurityMethod
security_from (const char *text)
{
  if (g_strcmp0 (text, "starttls") == 0)
    return CAMEL_NETWORK_SECURITY_METHOD_STARTTLS_ON_STANDARD_PORT;
  if (g_strcmp0 (text, "tls") == 0)
    return CAMEL_NETWORK_SECURITY_METHOD_SSL_ON_ALTERNATE_PORT;
  return CAMEL_NETWORK_SECURITY_METHOD_NONE;
}

static int
report (GError *error)
{
  printf ("ERROR %s %d: %s\n", g_quark_to_string (error->domain), error->code, error->message);
  return 1;
}

int
main (int argc, char **argv)
{
  g_autofree char *provider = NULL, *protocol = NULL, *host = NULL, *security = NULL;
  g_autofree char *user = NULL, *mechanism = NULL, *trust = NULL, *from = NULL;
  g_auto (GStrv) message_paths = NULL;
  g_auto (GStrv) to = NULL;
  int port = 0;
  gboolean track = FALSE;
  GOptionEntry entries[] = {
    { "provider", 0, 0, G_OPTION_ARG_FILENAME, &provider, "provider .so", "PATH" },
    { "protocol", 0, 0, G_OPTION_ARG_STRING, &protocol, "protocol", "P" },
    { "host", 0, 0, G_OPTION_ARG_STRING, &host, "server host", "H" },
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "server port", "N" },
    { "security", 0, 0, G_OPTION_ARG_STRING, &security, "none|starttls|tls", "S" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user, "login", "U" },
    { "mechanism", 0, 0, G_OPTION_ARG_STRING, &mechanism, "SASL mechanism", "M" },
    { "trust", 0, 0, G_OPTION_ARG_STRING, &trust, "accept|reject", "T" },
    { "from", 0, 0, G_OPTION_ARG_STRING, &from, "envelope sender", "ADDR" },
    { "to", 0, 0, G_OPTION_ARG_STRING_ARRAY, &to, "recipient", "ADDR" },
    { "message", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &message_paths, "RFC 5322 file", "FILE" },
    { "track", 0, 0, G_OPTION_ARG_NONE, &track, "ask for tracking", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- send through a Camel provider");
  g_autoptr (GError) error = NULL;
  g_autofree char *data_dir = NULL;
  g_autoptr (TestSession) session = NULL;
  g_autoptr (CamelService) service = NULL;
  g_autoptr (CamelSettings) settings = NULL;
  g_autoptr (CamelInternetAddress) sender = NULL;
  g_autoptr (CamelInternetAddress) rcpts = NULL;
  g_autoptr (CamelCertDB) certdb = NULL;
  g_autofree char *certdb_path = NULL;
  int rc = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || !protocol
      || !host || port <= 0 || port > 65535 || !from || !to || !message_paths)
    {
      fprintf (stderr, "camel-send: %s\n", error ? error->message : "missing arguments");
      return 2;
    }

  data_dir = g_dir_make_tmp ("camel-send-XXXXXX", &error);
  if (data_dir == NULL || (provider && !camel_provider_load (provider, &error)))
    {
      fprintf (stderr, "camel-send: %s\n", error->message);
      return 2;
    }
  if (provider == NULL)
    {
      /* Camel's own discovery (what e_source_camel_register_types() starts in every EDS
       * process); Evolution's own smtp provider must stay visible. */
      camel_provider_init ();
      printf ("PROVIDERS %s=%s smtp=%s\n", protocol,
              camel_provider_get (protocol, NULL) ? "yes" : "no",
              camel_provider_get ("smtp", NULL) ? "yes" : "no");
    }
  /* Where Camel keeps the user's certificate answers (Evolution's session does the same). */
  certdb = camel_certdb_new ();
  certdb_path = g_build_filename (data_dir, "camel-cert.db", NULL);
  camel_certdb_set_filename (certdb, certdb_path);
  camel_certdb_set_default (certdb);
  session = g_object_new (TEST_TYPE_SESSION, "user-data-dir", data_dir, "user-cache-dir",
                          data_dir, "online", TRUE, NULL);
  session->trust = g_strcmp0 (trust, "accept") == 0;
  service = camel_session_add_service (CAMEL_SESSION (session), "test-transport", protocol,
                                       CAMEL_PROVIDER_TRANSPORT, &error);
  if (service == NULL)
    {
      fprintf (stderr, "camel-send: no transport for %s: %s\n", protocol,
               error ? error->message : "?");
      return 2;
    }
  settings = camel_service_ref_settings (service);
  if (!CAMEL_IS_NETWORK_SETTINGS (settings))
    {
      fprintf (stderr, "camel-send: %s settings are not network settings\n", protocol);
      return 2;
    }
  g_object_set (settings, "host", host, "port", (guint) port, "security-method",
                security_from (security), "user", user, "auth-mechanism", mechanism, NULL);

  sender = camel_internet_address_new ();
  camel_internet_address_add (sender, NULL, from);
  rcpts = camel_internet_address_new ();
  for (guint i = 0; to[i]; i++)
    camel_internet_address_add (rcpts, NULL, to[i]);

  if (!camel_service_connect_sync (service, NULL, &error))
    return report (error);
  for (guint m = 0; message_paths[m]; m++)
    {
      g_autoptr (CamelMimeMessage) message = camel_mime_message_new ();
      g_autoptr (CamelStream) file = NULL;
      g_autoptr (GError) send_error = NULL;
      gboolean saved = FALSE;

      file = camel_stream_fs_new_with_name (message_paths[m], O_RDONLY, 0, &error);
      if (file == NULL
          || !camel_data_wrapper_construct_from_stream_sync (CAMEL_DATA_WRAPPER (message), file,
                                                             NULL, &error))
        {
          fprintf (stderr, "camel-send: %s\n", error->message);
          return 2;
        }
      if (track)
        camel_medium_set_header (CAMEL_MEDIUM (message), "X-Msgtrk-Track", "yes");
      if (!camel_transport_send_to_sync (CAMEL_TRANSPORT (service), message,
                                         CAMEL_ADDRESS (sender), CAMEL_ADDRESS (rcpts), &saved,
                                         NULL, &send_error))
        {
          rc = report (send_error);
          continue;
        }
      /* The mark is back on the message object (Evolution files it in Sent). */
      printf ("MARK-AFTER %s\n",
              camel_medium_get_header (CAMEL_MEDIUM (message), "X-Msgtrk-Track") ? "yes" : "no");
      printf ("MESSAGE-ID %s\n", camel_mime_message_get_message_id (message));
      printf ("SENT\n");
    }
  camel_service_disconnect_sync (service, TRUE, NULL, NULL);
  return rc;
}
