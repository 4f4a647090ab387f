/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-main.c: msgtrk-relay, the reference SMTP relay with DSN and MTRK (see
 * msgtrk-relay(8) and msgtrk-relay.conf(5)).
 *
 * Start-up: read the configuration, bind the listener, load the TLS certificate and key,
 * drop root (server_privs_drop, [relay] user), open the tracking store and the queue,
 * resume every queued message, start the delivery workers, accept connections, and write
 * the bound port to --port-file (tests use port 0). SIGTERM/SIGINT: stop accepting, cancel
 * open sessions (an unfinished DATA is never acknowledged, so nothing accepted is lost),
 * let the delivery workers finish their current message, exit 0.
 *
 * Never: run as root after start-up; log tracking authenticators next to their ENVID.
 */
#include "relay-deliver.h"
#include "relay-server.h"
#include "relay-smtp.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <stdlib.h>

#include "msgtrk-tls-private.h"
#include "server-config.h"
#include "server-listener.h"
#include "server-log.h"
#include "server-privs.h"

#ifndef RELAY_SYSCONFDIR
#define RELAY_SYSCONFDIR "/etc"
#endif

static gboolean
on_signal (gpointer data)
{
  GMainLoop *loop = data;

  g_message ("shutting down");
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
on_connection (GSocketConnection *connection,
               GCancellable      *cancellable,
               gpointer           user_data)
{
  relay_smtp_session_run (user_data, connection, cancellable);
}

/* The queue's RelayDeliverFunc: the queue calls down into nothing, main wires it. */
static void
deliver (RelayMessage *msg,
         gpointer      user_data)
{
  relay_deliver_message (user_data, msg);
}

static gboolean
write_port_file (const char *path,
                 guint16     port,
                 GError    **error)
{
  g_autofree char *text = g_strdup_printf ("%u\n", port);

  return g_file_set_contents (path, text, -1, error);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *config_path = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *port_file = NULL;
  gboolean verbose = FALSE;
  gboolean version = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "Configuration file", "FILE" },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen, "Listen on ADDR:PORT (port 0: any)",
      "ADDR:PORT" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file,
      "Write the bound port to FILE once ready", "FILE" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log connections and debug messages",
      NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (RelayConfig) config = NULL;
  g_autoptr (GSocketAddress) address = NULL;
  g_autoptr (ServerListener) listener = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  RelayServer server = { 0 };
  int status = EXIT_FAILURE;

  setlocale (LC_ALL, "");
  context = g_option_context_new ("- SMTP relay with DSN and MTRK message tracking");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("msgtrk-relay: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("msgtrk-relay %s\n", MSGTRK_VERSION);
      return 0;
    }
  server_log_init ("msgtrk-relay", verbose);

  if (config_path == NULL)
    config_path = g_build_filename (RELAY_SYSCONFDIR, "msgtrk", "msgtrk-relay.conf", NULL);
  config = relay_config_load (config_path, &error);
  if (config == NULL)
    {
      g_critical ("%s", error->message);
      return EXIT_FAILURE;
    }
  if (listen != NULL)
    {
      g_free (config->listen);
      config->listen = g_steal_pointer (&listen);
    }
  server.config = config;
  server.shutdown = g_cancellable_new ();
  g_mutex_init (&server.track_lock);

  address = server_config_parse_listen (config->listen, &error);
  if (address == NULL)
    goto fail;
  listener = server_listener_new (address, config->max_connections, config->connection_wait,
                                  "421 4.7.0 Too many connections, try again later\r\n",
                                  on_connection, &server, &error);
  if (listener == NULL)
    goto fail;

  if (config->tls_cert != NULL)
    {
      server.tls_server = msgtrk_tls_context_new_server (config->tls_cert, config->tls_key,
                                                         &error);
      if (server.tls_server == NULL)
        goto fail;
    }
  if (config->ca_file != NULL)
    {
      server.tls_client = msgtrk_tls_context_new_client (config->ca_file, TRUE, &error);
      if (server.tls_client == NULL)
        goto fail;
    }
  if (!server_privs_drop (config->user, &error))
    goto fail;

  server.track_store = track_store_new (config->state_dir, &error);
  if (server.track_store == NULL)
    goto fail;
  server.queue = relay_queue_new (config->state_dir, config->max_queue_messages,
                                  config->delivery_workers, deliver, &server, &error);
  if (server.queue == NULL || !relay_queue_scan (server.queue, &error))
    goto fail;
  relay_queue_start (server.queue);
  server_listener_start (listener);
  g_message ("listening on port %u as %s (MTRK %s, DSN %s, STARTTLS %s)",
             server_listener_get_port (listener), config->hostname,
             config->offer_mtrk ? "on" : "off", config->offer_dsn ? "on" : "off",
             server.tls_server != NULL ? "on" : "off");
  if (port_file != NULL
      && !write_port_file (port_file, server_listener_get_port (listener), &error))
    goto fail;

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_main_loop_run (loop);
  status = EXIT_SUCCESS;
  goto out;

fail:
  g_critical ("%s", error->message);
out:
  if (listener != NULL)
    server_listener_stop (listener);
  g_cancellable_cancel (server.shutdown);
  /* Workers use server.queue until they are joined: stop them before clearing it. */
  if (server.queue != NULL)
    relay_queue_stop (server.queue);
  g_clear_pointer (&server.queue, relay_queue_free);
  g_clear_object (&server.track_store);
  g_mutex_clear (&server.track_lock);
  g_clear_pointer ((MsgtrkTlsContext **) &server.tls_server, msgtrk_tls_context_unref);
  g_clear_pointer ((MsgtrkTlsContext **) &server.tls_client, msgtrk_tls_context_unref);
  g_clear_object (&server.shutdown);
  return status;
}
