/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-relay-gio-pollable.c: an SMTP relay in one thread running a GMainLoop with GIO's
 * pollable streams: one GSource per direction that stays attached, non-blocking reads
 * and writes, no GTask per operation (docs/postfix-front-io.md, "Which I/O model for the
 * front: measured"). The way a GTlsConnection's streams would be driven in a loop too
 * (they are pollable).
 *
 *   bench-relay-gio-pollable --port-file FILE --upstream 127.0.0.1:PORT
 *
 * What: a GSocketService (not threaded) accepts; g_socket_client_connect_async() (proxy
 * lookup off) to the
 * upstream; then per direction g_pollable_input_stream_create_source() on the reading
 * side: when readable, g_pollable_input_stream_read_nonblocking() and
 * g_pollable_output_stream_write_nonblocking() of what came. What the writing side does
 * not take waits: the reading source is dropped and a writable source on the other side
 * sends the rest, then reading resumes. EOF or an error on either side ends the session.
 * SIGTERM/SIGINT: stop accepting, close every session, quit.
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
  Session               *session;
  GPollableInputStream  *in;       /* (unowned) */
  GPollableOutputStream *out;      /* (unowned) */
  GSource               *source;   /* (owned) (nullable) the one waiting: readable or writable */
  gsize                  off, len; /* octets of buf not sent yet */
  char                   buf[BENCH_RELAY_BUFFER_SIZE];
} Pump;

struct Session
{
  GSocketConnection *client; /* (owned) */
  GSocketConnection *up;     /* (owned) (nullable) until connected */
  GCancellable      *cancel; /* (owned) the connect's */
  Pump               pumps[2];
};

typedef struct
{
  GMainLoop      *loop;
  GSocketClient  *connector;
  GSocketAddress *upstream;
  GHashTable     *sessions; /* (owned) Session set, freed by session_free */
} Relay;

static Relay relay;

static gboolean readable (GObject *stream, gpointer data);
static gboolean writable (GObject *stream, gpointer data);

static void
session_free (gpointer data)
{
  Session *s = data;

  g_cancellable_cancel (s->cancel);
  for (int i = 0; i < 2; i++)
    if (s->pumps[i].source)
      {
        g_source_destroy (s->pumps[i].source);
        g_source_unref (s->pumps[i].source);
      }
  if (s->up)
    g_io_stream_close (G_IO_STREAM (s->up), NULL, NULL);
  g_io_stream_close (G_IO_STREAM (s->client), NULL, NULL);
  g_clear_object (&s->up);
  g_clear_object (&s->client);
  g_clear_object (&s->cancel);
  g_free (s);
}

/* Waits on @p's input (@out FALSE) or output; GSourceFunc casts as GIO's examples do. */
static void
pump_wait (Pump *p, gboolean out)
{
  if (p->source)
    {
      g_source_destroy (p->source);
      g_source_unref (p->source);
    }
  p->source = out ? g_pollable_output_stream_create_source (p->out, NULL)
                  : g_pollable_input_stream_create_source (p->in, NULL);
  g_source_set_callback (p->source,
                         out ? (GSourceFunc)(void (*) (void))writable
                             : (GSourceFunc)(void (*) (void))readable,
                         p, NULL);
  g_source_attach (p->source, NULL);
}

/* Sends what @p holds; FALSE: the session failed (and was freed). */
static gboolean
pump_send (Pump *p)
{
  while (p->len > 0)
    {
      g_autoptr (GError) error = NULL;
      gssize n = g_pollable_output_stream_write_nonblocking (p->out, p->buf + p->off, p->len, NULL,
                                                             &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          pump_wait (p, TRUE);
          return TRUE;
        }
      if (n < 0)
        {
          g_hash_table_remove (relay.sessions, p->session);
          return FALSE;
        }
      p->off += (gsize)n;
      p->len -= (gsize)n;
    }
  return TRUE;
}

static gboolean
readable (GObject *stream, gpointer data)
{
  Pump *p = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_pollable_input_stream_read_nonblocking (p->in, p->buf, sizeof p->buf, NULL, &error);

  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      g_hash_table_remove (relay.sessions, p->session); /* destroys this source */
      return G_SOURCE_CONTINUE;
    }
  p->off = 0;
  p->len = (gsize)n;
  /* pump_send() replaces this source when it must wait for the writing side, and frees
   * the session when it fails. */
  (void)pump_send (p);
  return G_SOURCE_CONTINUE;
}

static gboolean
writable (GObject *stream, gpointer data)
{
  Pump *p = data;

  if (pump_send (p) && p->len == 0)
    pump_wait (p, FALSE);
  return G_SOURCE_CONTINUE;
}

static void
connected (GObject *source, GAsyncResult *result, gpointer data)
{
  Session *s = data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *up = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  GIOStream         *c, *u;

  if (up == NULL)
    {
      /* Cancelled: only session_free() cancels, @s is gone. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_hash_table_remove (relay.sessions, s);
      return;
    }
  s->up = up;
  (void)g_socket_set_option (g_socket_connection_get_socket (s->up), IPPROTO_TCP, TCP_NODELAY, 1,
                             NULL);
  c = G_IO_STREAM (s->client);
  u = G_IO_STREAM (s->up);
  s->pumps[0].session = s->pumps[1].session = s;
  s->pumps[0].in = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (c));
  s->pumps[0].out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (u));
  s->pumps[1].in = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (u));
  s->pumps[1].out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (c));
  pump_wait (&s->pumps[0], FALSE);
  pump_wait (&s->pumps[1], FALSE);
}

static gboolean
incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  Session *s = g_new0 (Session, 1);

  s->client = g_object_ref (conn);
  s->cancel = g_cancellable_new ();
  (void)g_socket_set_option (g_socket_connection_get_socket (conn), IPPROTO_TCP, TCP_NODELAY, 1,
                             NULL);
  g_hash_table_add (relay.sessions, s);
  g_socket_client_connect_async (relay.connector, G_SOCKET_CONNECTABLE (relay.upstream), s->cancel,
                                 connected, s);
  return TRUE;
}

static gboolean
on_stop (gpointer data)
{
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

  if (!bench_relay_parse_args (&argc, &argv, "One thread, GMainLoop, GIO pollable streams.", &cfg,
                               &error))
    {
      fprintf (stderr, "bench-relay-gio-pollable: %s\n", error->message);
      return 2;
    }
  service = bench_relay_gio_service (&cfg, &error);
  if (service == NULL)
    {
      fprintf (stderr, "bench-relay-gio-pollable: %s\n", error->message);
      bench_relay_config_clear (&cfg);
      return 1;
    }
  relay.loop = g_main_loop_new (NULL, FALSE);
  relay.connector = bench_relay_gio_connector ();
  relay.upstream = g_socket_address_new_from_native (&cfg.upstream, sizeof cfg.upstream);
  relay.sessions = g_hash_table_new_full (NULL, NULL, session_free, NULL);
  g_signal_connect (service, "incoming", G_CALLBACK (incoming), NULL);
  sigterm = g_unix_signal_add (SIGTERM, on_stop, NULL);
  sigint = g_unix_signal_add (SIGINT, on_stop, NULL);
  g_main_loop_run (relay.loop);
  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  /* Sessions still connecting finish (cancelled) in the loop's next iterations. */
  g_clear_pointer (&relay.sessions, g_hash_table_unref);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&relay.connector);
  g_clear_object (&relay.upstream);
  g_clear_pointer (&relay.loop, g_main_loop_unref);
  bench_relay_config_clear (&cfg);
  return 0;
}
