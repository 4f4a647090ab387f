/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqpd.c: the MTQP server (RFC 3887) of the msgtrk reference tracking server.
 *
 * Answers TRACK queries from the tracking records that msgtrk-relay writes
 * (server/common/track-store.h). Reads its configuration (mtqpd.conf(5)), binds, reads
 * the TLS key, drops root privileges, then serves each connection in a thread of its own
 * (server-listener.h) until SIGTERM or SIGINT.
 *
 * Chaining referrals (mtqpd-chain.h) only with chaining=true; next-hop overrides in
 * [chain_overrides] (NAME=ADDRESS:PORT).
 *
 * Limits: max_connections sessions at once (more wait up to connection_wait seconds in
 * the listen backlog, then are answered "-TEMP/MTQP/unavailable" and closed); idle_timeout (at least 600 s, as RFC 3887
 * section 2.4 demands, unless --idle-timeout-for-tests); 998-octet lines (fixed).
 * Never: run as root; log a secret; write to the tracking store.
 */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>

#include "msgtrk-private.h"
#include "mtqpd-session.h"
#include "server-config.h"
#include "server-listener.h"
#include "server-log.h"
#include "server-privs.h"
#include "track-store.h"

#define MTQPD_GROUP "mtqpd"
#define MTQPD_OVERRIDES_GROUP "chain_overrides"
#define MTQPD_DEFAULT_CONFIG SYSCONFDIR "/msgtrk/mtqpd.conf"
#define MTQPD_DEFAULT_LISTEN "0.0.0.0:1038"
#define MTQPD_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/msgtrk"
/** MTQPD_DEFAULT_MAX_CONNECTIONS / MTQPD_MAX_MAX_CONNECTIONS: max_connections default, upper bound. */
#define MTQPD_DEFAULT_MAX_CONNECTIONS 100
#define MTQPD_MAX_MAX_CONNECTIONS 10000
/** MTQPD_MAX_HOSTNAME: longest hostname accepted for the greeting. */
#define MTQPD_MAX_HOSTNAME 255

typedef struct
{
  char *listen;
  char *hostname;
  char *state_dir;
  char *tls_certificate;
  char *tls_key;
  char *user;
  guint idle_timeout;
  guint max_connections;
  guint connection_wait;
  gboolean chaining;
  guint chain_timeout;
  char *chain_ca_file;
  MtqpdChain *chain;        /* (owned) (nullable) set when chaining is on */
} MtqpdConfig;

static void
mtqpd_config_clear (MtqpdConfig *c)
{
  g_free (c->listen);
  g_free (c->hostname);
  g_free (c->state_dir);
  g_free (c->tls_certificate);
  g_free (c->tls_key);
  g_free (c->user);
  g_free (c->chain_ca_file);
  g_clear_pointer (&c->chain, mtqpd_chain_free);
}

static gboolean
hostname_is_valid (const char *name)
{
  gsize i;

  if (*name == '\0' || strlen (name) > MTQPD_MAX_HOSTNAME)
    return FALSE;
  for (i = 0; name[i] != '\0'; i++)
    if (!g_ascii_isalnum (name[i]) && name[i] != '.' && name[i] != '-' && name[i] != '_'
        && name[i] != ':' && name[i] != '[' && name[i] != ']')
      return FALSE;
  return TRUE;
}

/* Read every key of [mtqpd]; unknown keys are an error (a typo must not go unnoticed). */
static gboolean
mtqpd_config_read (GKeyFile    *kf,
                   gboolean     test_idle,
                   MtqpdConfig *c,
                   GError     **error)
{
  static const char *const known[] = {
    "listen", "hostname", "state_dir", "tls_certificate", "tls_key", "user",
    "idle_timeout", "max_connections", "connection_wait", "chaining", "chain_timeout", "chain_ca_file", NULL,
  };
  guint64 v;

  if (kf != NULL)
    {
      g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
      char **g;

      for (g = groups; *g != NULL; g++)
        {
          g_auto (GStrv) keys = NULL;
          char **k;

          if (g_strcmp0 (*g, MTQPD_OVERRIDES_GROUP) == 0)
            continue;
          if (g_strcmp0 (*g, MTQPD_GROUP) != 0)
            {
              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "Configuration: unknown group [%s] (mtqpd reads [" MTQPD_GROUP
                           "] and [" MTQPD_OVERRIDES_GROUP "])", *g);
              return FALSE;
            }
          keys = g_key_file_get_keys (kf, *g, NULL, NULL);
          for (k = keys; k != NULL && *k != NULL; k++)
            if (!g_strv_contains (known, *k))
              {
                g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                             "Configuration [%s]: unknown key \"%s\"", *g, *k);
                return FALSE;
              }
        }
    }

#define GET_STRING(field, key, def)                                                   \
  do                                                                                  \
    {                                                                                 \
      g_autoptr (GError) local = NULL;                                                \
      c->field = server_config_get_string (kf, MTQPD_GROUP, key, def, &local);        \
      if (local != NULL)                                                              \
        {                                                                             \
          g_propagate_error (error, g_steal_pointer (&local));                        \
          return FALSE;                                                               \
        }                                                                             \
    }                                                                                 \
  while (0)

  GET_STRING (listen, "listen", MTQPD_DEFAULT_LISTEN);
  GET_STRING (hostname, "hostname", g_get_host_name ());
  GET_STRING (state_dir, "state_dir", MTQPD_DEFAULT_STATE_DIR);
  GET_STRING (tls_certificate, "tls_certificate", NULL);
  GET_STRING (tls_key, "tls_key", NULL);
  GET_STRING (user, "user", NULL);
  GET_STRING (chain_ca_file, "chain_ca_file", NULL);
#undef GET_STRING

  if (!hostname_is_valid (c->hostname))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (c->hostname, 80);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Configuration [" MTQPD_GROUP "] hostname: \"%s\" is not a host name",
                   quoted);
      return FALSE;
    }
  if ((c->tls_certificate == NULL) != (c->tls_key == NULL))
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "Configuration [" MTQPD_GROUP "]: set both tls_certificate and "
                           "tls_key, or neither");
      return FALSE;
    }
  if (!server_config_get_uint (kf, MTQPD_GROUP, "idle_timeout", MTQPD_DEFAULT_IDLE_TIMEOUT,
                               test_idle ? 1 : MTQPD_MIN_IDLE_TIMEOUT, MTQPD_MAX_IDLE_TIMEOUT,
                               &v, error))
    return FALSE;
  c->idle_timeout = (guint) v;
  if (!server_config_get_uint (kf, MTQPD_GROUP, "max_connections",
                               MTQPD_DEFAULT_MAX_CONNECTIONS, 1, MTQPD_MAX_MAX_CONNECTIONS,
                               &v, error))
    return FALSE;
  c->max_connections = (guint) v;
  if (!server_config_get_uint (kf, MTQPD_GROUP, "connection_wait", SERVER_LISTENER_DEFAULT_WAIT,
                               0, SERVER_LISTENER_MAX_WAIT, &v, error))
    return FALSE;
  c->connection_wait = (guint) v;
  if (!server_config_get_boolean (kf, MTQPD_GROUP, "chaining", FALSE, &c->chaining, error))
    return FALSE;
  if (!server_config_get_uint (kf, MTQPD_GROUP, "chain_timeout", MTQPD_DEFAULT_CHAIN_TIMEOUT,
                               MTQPD_MIN_CHAIN_TIMEOUT, MTQPD_MAX_CHAIN_TIMEOUT, &v, error))
    return FALSE;
  c->chain_timeout = (guint) v;
  if (c->chaining)
    {
      g_auto (GStrv) names = NULL;
      char **n;

      c->chain = mtqpd_chain_new (c->hostname, c->chain_ca_file, c->chain_timeout);
      if (kf != NULL && g_key_file_has_group (kf, MTQPD_OVERRIDES_GROUP))
        names = g_key_file_get_keys (kf, MTQPD_OVERRIDES_GROUP, NULL, NULL);
      for (n = names; n != NULL && *n != NULL; n++)
        {
          g_autofree char *address = NULL;

          address = server_config_get_string (kf, MTQPD_OVERRIDES_GROUP, *n, "", error);
          if (address == NULL)
            return FALSE;
          if (!mtqpd_chain_add_override (c->chain, *n, address, error))
            {
              g_prefix_error (error, "Configuration [" MTQPD_OVERRIDES_GROUP "] %s: ", *n);
              return FALSE;
            }
        }
    }
  return TRUE;
}

static void
on_connection (GSocketConnection *connection,
               GCancellable      *cancellable,
               gpointer           user_data)
{
  mtqpd_session_run (user_data, connection, cancellable);
}

static gboolean
on_signal (gpointer user_data)
{
  g_message ("Signal received, shutting down");
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
write_port_file (const char *path,
                 guint16     port,
                 GError    **error)
{
  g_autofree char *text = g_strdup_printf ("%u\n", port);

  return g_file_set_contents (path, text, -1, error);
}

static int
run (int    argc,
     char **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *listen_opt = NULL;
  g_autofree char *port_file = NULL;
  gint test_idle_timeout = 0;
  gboolean verbose = FALSE;
  gboolean version = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Configuration file (default " MTQPD_DEFAULT_CONFIG ")", "FILE" },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen_opt,
      "Listen on ADDR:PORT instead of the configured address (port 0: any free port)",
      "ADDR:PORT" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file,
      "Write the bound port to FILE once listening", "FILE" },
    { "idle-timeout-for-tests", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &test_idle_timeout,
      "Idle timeout in seconds, below the RFC minimum (tests only)", "SECONDS" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log connections and TLS details", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) octx = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = NULL;
  g_autoptr (GSocketAddress) address = NULL;
  g_autoptr (MsgtrkTlsContext) tls = NULL;
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (ServerListener) listener = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  MtqpdConfig config = { 0 };
  MtqpdServer server = { 0 };
  guint sig_term, sig_int;
  guint16 port;
  int status = EXIT_FAILURE;

  octx = g_option_context_new ("- MTQP (RFC 3887) message tracking server");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error))
    {
      fprintf (stderr, "mtqpd: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      printf ("mtqpd (msgtrk) %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  if (argc > 1)
    {
      fprintf (stderr, "mtqpd: unexpected argument \"%s\"\n", argv[1]);
      return 2;
    }
  server_log_init ("mtqpd", verbose);

  if (config_path != NULL || g_file_test (MTQPD_DEFAULT_CONFIG, G_FILE_TEST_EXISTS))
    {
      kf = server_config_load (config_path != NULL ? config_path : MTQPD_DEFAULT_CONFIG,
                               &error);
      if (kf == NULL)
        goto out;
    }
  else
    g_message ("No configuration file " MTQPD_DEFAULT_CONFIG ", using the defaults");
  if (!mtqpd_config_read (kf, test_idle_timeout > 0, &config, &error))
    goto out;
  if (test_idle_timeout > 0)
    config.idle_timeout = (guint) test_idle_timeout;
  if (listen_opt != NULL)
    {
      g_free (config.listen);
      config.listen = g_strdup (listen_opt);
    }

  address = server_config_parse_listen (config.listen, &error);
  if (address == NULL)
    goto out;

  /* Privileged set-up: TLS key and the port, then drop root. */
  if (config.tls_certificate != NULL)
    {
      tls = msgtrk_tls_context_new_server (config.tls_certificate, config.tls_key, &error);
      if (tls == NULL)
        goto out;
    }
  listener = server_listener_new (address, config.max_connections, config.connection_wait,
                                  "-TEMP/MTQP/unavailable Too many connections, try again "
                                  "later\r\n",
                                  on_connection, &server, &error);
  if (listener == NULL)
    {
      g_prefix_error (&error, "Cannot listen on %s: ", config.listen);
      goto out;
    }
  /* The port file is written before dropping root, like a pid file. Connections made
   * meanwhile wait in the listen queue. */
  port = server_listener_get_port (listener);
  if (port_file != NULL && !write_port_file (port_file, port, &error))
    goto out;
  if (!server_privs_drop (config.user, &error))
    goto out;

  store = track_store_new (config.state_dir, &error);
  if (store == NULL)
    goto out;

  server.hostname = config.hostname;
  server.store = store;
  server.tls = tls;
  server.idle_timeout = config.idle_timeout;
  server.chain = config.chain;

  loop = g_main_loop_new (NULL, FALSE);
  sig_term = g_unix_signal_add (SIGTERM, on_signal, loop);
  sig_int = g_unix_signal_add (SIGINT, on_signal, loop);
  server_listener_start (listener);
  g_message ("Listening on %s, port %u (STARTTLS %s, max %u connections, idle timeout %u s, "
             "chaining %s)",
             config.listen, port, tls != NULL ? "offered" : "not configured",
             config.max_connections, config.idle_timeout,
             config.chain != NULL ? "on" : "off");

  g_main_loop_run (loop);

  g_source_remove (sig_term);
  g_source_remove (sig_int);
  server_listener_stop (listener);
  g_message ("Stopped");
  status = EXIT_SUCCESS;

out:
  if (error != NULL)
    {
      g_autoptr (GError) e = g_steal_pointer (&error);

      g_printerr ("mtqpd: %s\n", e->message);
    }
  g_clear_pointer (&listener, server_listener_free);
  mtqpd_config_clear (&config);
  return status;
}

int
main (int    argc,
      char **argv)
{
  setlocale (LC_ALL, "");
  signal (SIGPIPE, SIG_IGN);
  return run (argc, argv);
}
