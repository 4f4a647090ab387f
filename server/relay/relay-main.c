/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-main.c: msgtrk-relay, the reference SMTP relay with DSN and MTRK (see
 * msgtrk-relay(8) and msgtrk-relay.conf(5)).
 *
 * Runs on the servers' skeleton (server-main.h: options, the bounded configuration file,
 * bind, privilege drop, signals, port file, a session thread per connection, reused).
 * This file adds the relay's parts: its configuration (relay-config.c), the TLS contexts (as root), then as
 * [relay] user the tracking store (and/or the push sender, [push]) and the queue, whose workers it wires to delivery
 * (relay_deliver_message through the queue's RelayDeliverFunc); every queued message is
 * resumed before connections are accepted.
 * Shutdown (SIGTERM/SIGINT): the skeleton stops accepting and cancels open sessions (an
 * unfinished DATA is never acknowledged, so nothing accepted is lost); then outgoing
 * connections are cancelled and the delivery workers finish their current message.
 *
 * Never: run as root after start-up; log tracking authenticators next to their ENVID.
 */
#include "relay-deliver.h"
#include "relay-harrison.h"
#include "relay-server.h"
#include "relay-smtp.h"

#include "msgtrk-tls-private.h"
#include "server-main.h"

#ifndef RELAY_SYSCONFDIR
#define RELAY_SYSCONFDIR "/etc"
#endif
#define RELAY_DEFAULT_CONFIG RELAY_SYSCONFDIR "/msgtrk/msgtrk-relay.conf"

static void
on_connection (ServerConnection *connection,
               GCancellable     *cancellable,
               gpointer          user_data)
{
  g_autoptr (GError) error = NULL;
  GSocketConnection *stream = server_connection_get_stream (connection, &error);

  if (stream == NULL)
    {
      g_warning ("A connection could not be served: %s", error->message);
      return;
    }
  relay_smtp_session_run (user_data, stream, cancellable);
}

/* The queue's RelayDeliverFunc and RelayWorkerFuncs: the queue calls no relay module,
 * main wires delivery and the workers' session caches (relay-client.c) here. */
static void
deliver (RelayMessage *msg,
         gpointer      worker,
         gpointer      user_data)
{
  relay_deliver_message (user_data, worker, msg);
}

static gpointer
worker_new (gpointer user_data)
{
  return relay_client_cache_new (user_data);
}

static void
worker_free (gpointer worker)
{
  relay_client_cache_free (worker);
}

static const char *
worker_hop (gpointer worker,
            gint64  *until)
{
  return relay_client_cache_hop (worker, until);
}

static void
worker_idle (gpointer worker)
{
  relay_client_cache_expire (worker);
}

static char *
hop_of (RelayMessage *msg,
        gpointer      user_data)
{
  return relay_deliver_hop_of (user_data, msg);
}

static const RelayWorkerFuncs worker_funcs = {
  .worker_new = worker_new,
  .worker_free = worker_free,
  .worker_hop = worker_hop,
  .worker_idle = worker_idle,
  .hop_of = hop_of,
};

static gboolean
relay_configure (gpointer        data,
                 GKeyFile       *kf,
                 const char     *path,
                 ServerSettings *settings,
                 GError        **error)
{
  RelayServer *server = data;

  server->config = relay_config_read (kf, path, error);
  if (server->config == NULL)
    return FALSE;
  settings->listen = g_strdup (server->config->listen);
  settings->max_connections = server->config->max_connections;
  settings->connection_wait = server->config->connection_wait;
  settings->user = g_strdup (server->config->user);
  return TRUE;
}

/* As root: the certificate and key, the CA file for next hops. */
static gboolean
relay_pre_drop (gpointer  data,
                GError  **error)
{
  RelayServer *server = data;
  RelayConfig *config = server->config;

  if (config->tls_cert != NULL)
    {
      server->tls_server = msgtrk_tls_context_new_server (config->tls_cert, config->tls_key,
                                                          error);
      if (server->tls_server == NULL)
        return FALSE;
    }
  if (config->ca_file != NULL)
    {
      server->tls_client = msgtrk_tls_context_new_client (config->ca_file, TRUE, error);
      if (server->tls_client == NULL)
        return FALSE;
    }
  return TRUE;
}

/* As [relay] user: the tracking store, the queue (resumed), the delivery workers. */
static gboolean
relay_post_drop (gpointer  data,
                 GError  **error)
{
  RelayServer *server = data;
  RelayConfig *config = server->config;

  if (config->push_server == NULL || config->push_local)
    {
      server->track_store = track_store_new_from_config (config->kf, config->state_dir, error);
      if (server->track_store == NULL)
        return FALSE;
    }
  if (config->push_server != NULL)
    {
      /* The key is read as the service user: it must be that user's own file. */
      server->push = push_sender_new (config->state_dir, config->push_server,
                                      (guint16) config->push_key_id, config->push_key_file,
                                      error);
      if (server->push == NULL)
        return FALSE;
    }
  server->queue = relay_queue_new (config->state_dir, config->max_queue_messages,
                                   config->delivery_workers, deliver, &worker_funcs, server,
                                   error);
  if (server->queue == NULL || !relay_queue_scan (server->queue, error))
    return FALSE;
  relay_queue_start (server->queue);
  server->harrison = relay_harrison_new (config->kf, error);
  if (server->harrison == NULL && error != NULL && *error != NULL)
    return FALSE;
  return TRUE;
}

static void
relay_started (gpointer data,
               guint16  port)
{
  RelayServer *server = data;

  g_message ("listening on port %u as %s (MTRK %s, DSN %s, STARTTLS %s)", port,
             server->config->hostname, server->config->offer_mtrk ? "on" : "off",
             server->config->offer_dsn ? "on" : "off",
             server->tls_server != NULL ? "on" : "off");
}

/* Sessions have ended (the skeleton stopped the listener): stop delivery, free. */
static void
relay_stop (gpointer data)
{
  RelayServer *server = data;

  g_cancellable_cancel (server->shutdown);
  /* Workers use server->queue until they are joined: stop them before clearing it. */
  if (server->queue != NULL)
    relay_queue_stop (server->queue);
  g_clear_pointer (&server->queue, relay_queue_free);
  g_clear_pointer (&server->push, push_sender_free);
  g_clear_pointer (&server->harrison, relay_harrison_free);
  g_clear_object (&server->track_store);
  g_clear_pointer ((MsgtrkTlsContext **) &server->tls_server, msgtrk_tls_context_unref);
  g_clear_pointer ((MsgtrkTlsContext **) &server->tls_client, msgtrk_tls_context_unref);
  g_clear_pointer (&server->config, relay_config_free);
}

static const ServerProgram relay_program = {
  .name = "msgtrk-relay",
  .summary = "- SMTP relay with DSN and MTRK message tracking",
  .default_config = RELAY_DEFAULT_CONFIG,
  .config_required = TRUE, /* the relay needs at least its [routes] */
  .options = NULL,
  .reject_line = "421 4.7.0 Too many connections, try again later\r\n",
  .serve = on_connection,
  .configure = relay_configure,
  .pre_drop = relay_pre_drop,
  .post_drop = relay_post_drop,
  .started = relay_started,
  .stop = relay_stop,
};

int
main (int   argc,
      char *argv[])
{
  RelayServer server = { 0 };
  int status;

  server.shutdown = g_cancellable_new ();
  for (guint i = 0; i < RELAY_TRACK_LOCKS; i++)
    g_mutex_init (&server.track_locks[i]);
  status = server_main (&relay_program, &server, argc, argv);
  for (guint i = 0; i < RELAY_TRACK_LOCKS; i++)
    g_mutex_clear (&server.track_locks[i]);
  g_clear_object (&server.shutdown);
  return status;
}
