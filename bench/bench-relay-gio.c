/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-relay-gio.c: an SMTP relay in one thread running a GMainLoop with GIO's async
 * I/O, the idiomatic GNOME way (docs/postfix-front-io.md, "Which I/O model for the
 * front: measured").
 *
 *   bench-relay-gio --port-file FILE --upstream 127.0.0.1:PORT
 *
 * What: a GSocketService (not threaded) on the listening socket; per connection
 * g_socket_client_connect_async() to the upstream (proxy lookup off), then two pumps, each
 * g_input_stream_read_async() into its buffer and g_output_stream_write_all_async() of
 * what came, again (socket streams are pollable: no thread, a GSource per wait). The
 * first pump to end (EOF, error) cancels the other; the session is freed when both have.
 * SIGTERM/SIGINT: stop accepting, cancel every session, quit once all are freed.
 * Limits: BENCH_RELAY_BUFFER_SIZE octets in flight per direction. No idle timeout.
 * Never: parse SMTP; used by bench-postfix-front.py --extra-proxy only (not installed,
 * not a test).
 */
#include "bench-relay-common.h"

#include <netinet/tcp.h>
#include <stdio.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

typedef struct Session Session;

typedef struct
{
  Session       *session;
  GInputStream  *in;  /* (unowned) the streams of the session's connections */
  GOutputStream *out; /* (unowned) */
  char           buf[BENCH_RELAY_BUFFER_SIZE];
} Pump;

struct Session
{
  GSocketConnection *client;  /* (owned) */
  GSocketConnection *up;      /* (owned) (nullable) until connected */
  GCancellable      *cancel;  /* (owned) */
  int                running; /* pumps and connects under way */
  Pump               pumps[2];
};

typedef struct
{
  GMainLoop      *loop;
  GSocketClient  *connector;
  GSocketAddress *upstream;
  GHashTable     *sessions; /* (owned) Session set */
  gboolean        stopping;
} Relay;

static Relay relay;

static void pump_read (Pump *p);

static void
nodelay (GSocketConnection *conn)
{
  (void)g_socket_set_option (g_socket_connection_get_socket (conn), IPPROTO_TCP, TCP_NODELAY, 1,
                             NULL);
}

/* One pump or the connect has ended: the others are told to; the last frees @s. */
static void
session_unref (Session *s)
{
  g_cancellable_cancel (s->cancel);
  if (--s->running > 0)
    return;
  g_hash_table_remove (relay.sessions, s);
  if (s->up)
    g_io_stream_close (G_IO_STREAM (s->up), NULL, NULL);
  g_io_stream_close (G_IO_STREAM (s->client), NULL, NULL);
  g_clear_object (&s->up);
  g_clear_object (&s->client);
  g_clear_object (&s->cancel);
  g_free (s);
  if (relay.stopping && g_hash_table_size (relay.sessions) == 0)
    g_main_loop_quit (relay.loop);
}

static void
written (GObject *source, GAsyncResult *result, gpointer data)
{
  Pump *p = data;

  if (g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    pump_read (p);
  else
    session_unref (p->session);
}

static void
read_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Pump  *p = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0)
    session_unref (p->session);
  else
    g_output_stream_write_all_async (p->out, p->buf, (gsize)n, G_PRIORITY_DEFAULT,
                                     p->session->cancel, written, p);
}

static void
pump_read (Pump *p)
{
  g_input_stream_read_async (p->in, p->buf, sizeof p->buf, G_PRIORITY_DEFAULT, p->session->cancel,
                             read_done, p);
}

static void
connected (GObject *source, GAsyncResult *result, gpointer data)
{
  Session   *s = data;
  GIOStream *c, *u;

  s->up = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, NULL);
  if (s->up == NULL)
    {
      session_unref (s);
      return;
    }
  nodelay (s->up);
  c = G_IO_STREAM (s->client);
  u = G_IO_STREAM (s->up);
  s->pumps[0].session = s->pumps[1].session = s;
  s->pumps[0].in = g_io_stream_get_input_stream (c);
  s->pumps[0].out = g_io_stream_get_output_stream (u);
  s->pumps[1].in = g_io_stream_get_input_stream (u);
  s->pumps[1].out = g_io_stream_get_output_stream (c);
  s->running = 2; /* the connect's place goes to the two pumps */
  pump_read (&s->pumps[0]);
  pump_read (&s->pumps[1]);
}

static gboolean
incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  Session *s = g_new0 (Session, 1);

  s->client = g_object_ref (conn);
  s->cancel = g_cancellable_new ();
  s->running = 1;
  nodelay (conn);
  g_hash_table_add (relay.sessions, s);
  g_socket_client_connect_async (relay.connector, G_SOCKET_CONNECTABLE (relay.upstream), s->cancel,
                                 connected, s);
  return TRUE;
}

static gboolean
on_stop (gpointer data)
{
  GHashTableIter iter;
  gpointer       s;

  relay.stopping = TRUE;
  g_socket_service_stop (data);
  g_hash_table_iter_init (&iter, relay.sessions);
  while (g_hash_table_iter_next (&iter, &s, NULL))
    g_cancellable_cancel (((Session *)s)->cancel);
  if (g_hash_table_size (relay.sessions) == 0)
    g_main_loop_quit (relay.loop);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketService) service = NULL;
  BenchRelayConfig cfg;
  guint            sigterm, sigint;

  if (!bench_relay_parse_args (&argc, &argv, "One thread, GMainLoop, GIO async streams.", &cfg,
                               &error))
    {
      fprintf (stderr, "bench-relay-gio: %s\n", error->message);
      return 2;
    }
  service = bench_relay_gio_service (&cfg, &error);
  if (service == NULL)
    {
      fprintf (stderr, "bench-relay-gio: %s\n", error->message);
      bench_relay_config_clear (&cfg);
      return 1;
    }
  relay.loop = g_main_loop_new (NULL, FALSE);
  relay.connector = bench_relay_gio_connector ();
  relay.upstream = g_socket_address_new_from_native (&cfg.upstream, sizeof cfg.upstream);
  relay.sessions = g_hash_table_new (NULL, NULL);
  g_signal_connect (service, "incoming", G_CALLBACK (incoming), NULL);
  sigterm = g_unix_signal_add (SIGTERM, on_stop, service);
  sigint = g_unix_signal_add (SIGINT, on_stop, service);
  g_main_loop_run (relay.loop);
  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  g_clear_object (&relay.connector);
  g_clear_object (&relay.upstream);
  g_clear_pointer (&relay.sessions, g_hash_table_unref);
  g_clear_pointer (&relay.loop, g_main_loop_unref);
  bench_relay_config_clear (&cfg);
  return 0;
}
