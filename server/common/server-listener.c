/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-listener.c: a TCP listener with a session thread per connection (reused) and a cap
 * (see server-listener.h).
 *
 * One accept thread waits for the listening socket to become readable (woken by the
 * cancellable on stop). While the cap is reached it does not accept: the new connection
 * stays in the kernel's listen backlog (SERVER_LISTENER_BACKLOG) and the thread waits on
 * a condition, signalled whenever a worker ends, until wait_seconds after it saw the
 * connection. A slot freed in time: accept and serve. None: accept every connection then
 * waiting and give each the reject line with a short send timeout (a client that does not
 * read cannot stall the accept thread). So a client that closes a session and at once
 * opens the next (a burst of short sessions) is served even when the server's side of the
 * previous session is still ending; the count of live sessions (workers whose handler
 * has not returned) is the only thing compared with the cap. Each accepted connection
 * under the cap goes to a session thread: one that has ended its previous session and
 * waits for the next (handed over through a queue under the listener's mutex: a futex
 * wake-up), or a new one if none waits. Threads are reused because making one per
 * connection cost more than the session's own work on this path: clone, a fresh stack's
 * page faults, and at its end the stack given back with a TLB shoot-down IPI to every
 * CPU. A thread with no session for SERVER_LISTENER_THREAD_IDLE seconds exits and is
 * joined (by the accept thread or by stop()), so there are never more threads than the
 * most sessions there were at once. The count of sessions, the idle threads and the set of
 * open connections are kept under one mutex, and stop() waits on a condition until no
 * session and no thread is left.
 *
 * Event-driven programs (server_listener_set_inline(), mtqpd): the handler runs in the
 * accept thread itself (it must not block) and keeps the connection with
 * server_listener_detach(); the session counts against the cap until the program calls
 * server_listener_release(), which closes it. No thread is started per connection then.
 *
 * Accepted TCP sockets get TCP_NODELAY: the servers write whole answers (mtqpd one write
 * per pipelined batch), so Nagle's algorithm only adds a wait for the peer's delayed ACK
 * (about 40 ms) whenever a second write follows an unacknowledged one.
 *
 * stop() shuts the open connections' reading side down first, so that a session waiting
 * for its client ends and can still write its last reply, then, after
 * SERVER_LISTENER_STOP_GRACE_MS, both sides of those still open.
 *
 * Limits: max_connections workers at once (>= 1); connections over the cap wait in the
 * backlog until no session has ended for wait_seconds (at most SERVER_LISTENER_MAX_WAIT),
 * then all those waiting are refused. Never: block the accept thread on a client; leave a
 * worker running after server_listener_stop() returns.
 */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "server-listener.h"

/* Seconds a rejected client gets to take the reject line. */
#define SERVER_LISTENER_REJECT_TIMEOUT 2
/* Back-off after an accept error (e.g. EMFILE), in microseconds. */
#define SERVER_LISTENER_ACCEPT_BACKOFF_US (100 * 1000)

struct _ServerListener
{
  GSocket *socket;                 /* (owned) listening */
  guint max_connections;
  gint64 wait_us;                  /* how long a connection over the cap waits */
  char *reject_line;               /* (owned) */
  ServerConnectionFunc handler;
  gpointer user_data;
  GCancellable *cancellable;       /* (owned) cancelled by stop() */
  GThread *accept_thread;          /* (owned) (nullable) */
  gboolean inline_handler;         /* call the handler in the accept thread */
  gboolean pollfd_held;            /* the cancellable's pollfd is kept from start to free */

  GMutex lock;
  GCond cond;
  guint active;                    /* workers running; under lock */
  GHashTable *connections;         /* (owned) set of GSocketConnection; under lock */
  GPtrArray *finished;             /* (owned) GThread refs of workers that are ending, to
                                    * join (so that their thread-local state, e.g.
                                    * OpenSSL's, is freed before exit); under lock */
  GQueue handoff;                  /* Worker handed to an idle session thread; under lock */
  GCond handoff_cond;              /* signalled when a Worker is handed off, and at stop */
  guint idle_threads;              /* session threads waiting for a Worker; under lock */
  guint threads;                   /* session threads alive; under lock */
  gboolean stopping;               /* stop() has begun: idle threads exit; under lock */
};

typedef struct
{
  ServerListener *listener;
  GSocketConnection *connection;   /* (owned) */
  gboolean detached;               /* the handler keeps it: server_listener_release() */
  /* Where the handler's caller learns that it detached: on the caller's stack, since a
   * detached session may end, and this Worker be freed, before the handler returns. */
  gboolean *detached_out;
} Worker;

/* The Worker of a connection (qdata), for detach and release. */
static GQuark
worker_quark (void)
{
  static GQuark q;

  if (q == 0)
    q = g_quark_from_static_string ("server-listener-worker");
  return q;
}

/**
 * server_listener_new:
 * @address: where to listen (port 0: a free port, see server_listener_get_port())
 * @max_connections: most connections served at once (at least 1)
 * @wait_seconds: how long a connection over the cap waits in the backlog for a session to
 *   end before it gets @reject_line (0: at once; at most %SERVER_LISTENER_MAX_WAIT)
 * @reject_line: the line (CRLF included) sent to a connection over the cap
 * @handler: called in a worker thread for each connection
 * @user_data: for @handler
 * @error: return location for a #GError
 *
 * Binds and listens; no connection is accepted before server_listener_start().
 *
 * Returns: (transfer full) (nullable): the listener, or %NULL with @error set
 */
ServerListener *
server_listener_new (GSocketAddress       *address,
                     guint                 max_connections,
                     guint                 wait_seconds,
                     const char           *reject_line,
                     ServerConnectionFunc  handler,
                     gpointer              user_data,
                     GError              **error)
{
  g_autoptr (GSocket) sock = NULL;
  ServerListener *self;

  g_return_val_if_fail (G_IS_SOCKET_ADDRESS (address), NULL);
  g_return_val_if_fail (max_connections >= 1, NULL);
  g_return_val_if_fail (wait_seconds <= SERVER_LISTENER_MAX_WAIT, NULL);
  g_return_val_if_fail (reject_line != NULL, NULL);
  g_return_val_if_fail (handler != NULL, NULL);

  sock = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                       G_SOCKET_PROTOCOL_TCP, error);
  if (sock == NULL)
    return NULL;
  if (!g_socket_bind (sock, address, TRUE, error))
    return NULL;
  g_socket_set_listen_backlog (sock, SERVER_LISTENER_BACKLOG);
  if (!g_socket_listen (sock, error))
    return NULL;
  /* accept() after readiness must not block if the client went away meanwhile. */
  g_socket_set_blocking (sock, FALSE);

  self = g_new0 (ServerListener, 1);
  self->socket = g_steal_pointer (&sock);
  self->max_connections = max_connections;
  self->wait_us = (gint64) wait_seconds * G_USEC_PER_SEC;
  self->reject_line = g_strdup (reject_line);
  self->handler = handler;
  self->user_data = user_data;
  self->cancellable = g_cancellable_new ();
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_cond_init (&self->handoff_cond);
  self->connections = g_hash_table_new (NULL, NULL);
  self->finished = g_ptr_array_new ();
  return self;
}

/**
 * server_listener_get_port:
 * @self: a listener
 *
 * Returns: the bound TCP port (useful after listening on port 0), or 0 on failure
 */
guint16
server_listener_get_port (ServerListener *self)
{
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (self->socket, NULL);

  if (local == NULL || !G_IS_INET_SOCKET_ADDRESS (local))
    return 0;
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
}

/**
 * server_listener_get_active:
 * @self: a listener
 *
 * Returns: the number of connections being served now
 */
guint
server_listener_get_active (ServerListener *self)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = self->active;
  g_mutex_unlock (&self->lock);
  return n;
}

/* The session of @w has ended: close its connection, free its slot; @thread (nullable):
 * the worker thread, joined later. */
static void
worker_finish (Worker  *w,
               GThread *thread)
{
  ServerListener *self = w->listener;

  /* Out of the table before its descriptor is closed: server_listener_stop() shuts down
   * the sockets of the table under the lock, and a closed descriptor's number may already
   * be another thread's. */
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->connections, w->connection);
  g_mutex_unlock (&self->lock);
  g_io_stream_close (G_IO_STREAM (w->connection), NULL, NULL);
  g_mutex_lock (&self->lock);
  g_object_set_qdata (G_OBJECT (w->connection), worker_quark (), NULL);
  g_object_unref (w->connection);
  g_free (w);
  self->active--;
  if (thread != NULL)
    g_ptr_array_add (self->finished, g_thread_ref (thread));
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* A session thread: serves @data (a Worker), then waits up to SERVER_LISTENER_THREAD_IDLE
 * seconds for the next one handed off by serve(); exits when none comes or at stop (it
 * then puts itself among the finished, to be joined). */
static gpointer
worker_thread (gpointer data)
{
  Worker *w = data;
  ServerListener *self = w->listener;

  while (w != NULL)
    {
      gboolean detached = FALSE;
      gint64 deadline;

      w->detached_out = &detached;
      self->handler (w->connection, self->cancellable, self->user_data);
      if (!detached) /* w may be gone if it was detached */
        worker_finish (w, NULL);

      g_mutex_lock (&self->lock);
      deadline = g_get_monotonic_time () + SERVER_LISTENER_THREAD_IDLE * G_TIME_SPAN_SECOND;
      self->idle_threads++;
      while (g_queue_is_empty (&self->handoff) && !self->stopping)
        if (!g_cond_wait_until (&self->handoff_cond, &self->lock, deadline))
          break;
      self->idle_threads--;
      /* A Worker handed off counted on this thread being idle: take it even at stop or
       * after the wait timed out (its handler ends at once when stopping). */
      w = g_queue_pop_head (&self->handoff);
      if (w == NULL)
        {
          self->threads--;
          g_ptr_array_add (self->finished, g_thread_ref (g_thread_self ()));
          g_cond_broadcast (&self->cond);
        }
      g_mutex_unlock (&self->lock);
    }
  return NULL;
}

/**
 * server_listener_set_inline:
 * @self: a listener, not started yet
 * @inline_handler: call the handler in the accept thread
 *
 * For event-driven programs: no thread per connection; the handler must not block and
 * keeps each connection with server_listener_detach().
 */
void
server_listener_set_inline (ServerListener *self,
                            gboolean        inline_handler)
{
  g_return_if_fail (self->accept_thread == NULL);
  self->inline_handler = inline_handler;
}

/**
 * server_listener_detach:
 * @connection: a connection given to a handler, from within that handler
 *
 * The listener does not close @connection when the handler returns; it stays counted
 * against max_connections (and is shut down by server_listener_stop()) until
 * server_listener_release().
 */
void
server_listener_detach (GSocketConnection *connection)
{
  Worker *w = g_object_get_qdata (G_OBJECT (connection), worker_quark ());

  g_return_if_fail (w != NULL);
  w->detached = TRUE;
  if (w->detached_out != NULL)
    *w->detached_out = TRUE;
  w->detached_out = NULL; /* the handler's frame ends with it */
}

/**
 * server_listener_release:
 * @connection: a detached connection whose session has ended
 *
 * Closes @connection and frees its slot (any thread).
 */
void
server_listener_release (GSocketConnection *connection)
{
  Worker *w = g_object_get_qdata (G_OBJECT (connection), worker_quark ());

  g_return_if_fail (w != NULL && w->detached);
  worker_finish (w, NULL);
}

/* Join the workers that have ended. */
static void
reap_finished (ServerListener *self)
{
  g_autoptr (GPtrArray) done = NULL;
  guint i;

  g_mutex_lock (&self->lock);
  done = g_steal_pointer (&self->finished);
  self->finished = g_ptr_array_new ();
  g_mutex_unlock (&self->lock);
  for (i = 0; i < done->len; i++)
    g_thread_join (done->pdata[i]);
}

static void
reject (ServerListener *self,
        GSocket        *client)
{
  /* Blocking with a timeout (the listening socket is non-blocking). */
  g_socket_set_blocking (client, TRUE);
  g_socket_set_timeout (client, SERVER_LISTENER_REJECT_TIMEOUT);
  g_socket_send (client, self->reject_line, strlen (self->reject_line), NULL, NULL);
  g_socket_shutdown (client, FALSE, TRUE, NULL);
  g_socket_close (client, NULL);
}

/* Turn Nagle's algorithm off on an accepted TCP socket (see the top of this file). A
 * failure only costs latency, so it is logged, not fatal. */
static void
set_nodelay (GSocket *client)
{
  g_autoptr (GError) error = NULL;

  if (g_socket_get_family (client) != G_SOCKET_FAMILY_IPV4
      && g_socket_get_family (client) != G_SOCKET_FAMILY_IPV6)
    return;
  if (!g_socket_set_option (client, IPPROTO_TCP, TCP_NODELAY, 1, &error))
    g_warning ("Cannot set TCP_NODELAY on a connection: %s", error->message);
}

/* Start a worker for @client (accepted under the cap; the slot is counted here). */
static void
serve (ServerListener *self,
       GSocket        *client)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GThread) thread = NULL;
  Worker *w;

  g_socket_set_blocking (client, TRUE);
  set_nodelay (client);
  w = g_new0 (Worker, 1);
  w->listener = self;
  w->connection = g_socket_connection_factory_create_connection (client);
  g_object_set_qdata (G_OBJECT (w->connection), worker_quark (), w);
  g_mutex_lock (&self->lock);
  g_hash_table_add (self->connections, w->connection);
  self->active++;
  g_mutex_unlock (&self->lock);

  if (self->inline_handler)
    {
      gboolean detached = FALSE;

      w->detached_out = &detached;
      self->handler (w->connection, self->cancellable, self->user_data);
      if (!detached) /* w may be gone if it was detached */
        worker_finish (w, NULL);
      return;
    }

  /* An idle session thread takes it (each idle thread takes at most one: the queue is
   * never longer than the number of idle threads); else a new thread. */
  g_mutex_lock (&self->lock);
  if (self->idle_threads > self->handoff.length)
    {
      g_queue_push_tail (&self->handoff, w);
      g_mutex_unlock (&self->lock);
      /* after the unlock: the woken thread does not block on the mutex at once */
      g_cond_signal (&self->handoff_cond);
      return;
    }
  self->threads++;
  g_mutex_unlock (&self->lock);
  thread = g_thread_try_new ("connection", worker_thread, w, &error);
  if (thread == NULL)
    {
      g_warning ("Cannot start a connection thread: %s", error->message);
      g_mutex_lock (&self->lock);
      self->threads--;
      g_mutex_unlock (&self->lock);
      worker_finish (w, NULL);
    }
}

/* Accept one waiting connection without blocking; NULL if none is left (or on an error,
 * logged, after a short back-off). */
static GSocket *
accept_pending (ServerListener *self)
{
  g_autoptr (GError) error = NULL;
  GSocket *client = g_socket_accept (self->socket, self->cancellable, &error);

  if (client == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_warning ("accept: %s", error->message);
      g_usleep (SERVER_LISTENER_ACCEPT_BACKOFF_US);
    }
  return client;
}

/* Wait (under self->lock) until a slot is free, stop() is called or @deadline (monotonic)
 * has passed; TRUE if a slot is free. */
static gboolean
wait_for_slot_locked (ServerListener *self,
                      gint64          deadline)
{
  while (self->active >= self->max_connections && !g_cancellable_is_cancelled (self->cancellable))
    if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
      break;
  return self->active < self->max_connections;
}

static gpointer
accept_thread (gpointer data)
{
  ServerListener *self = data;

  while (!g_cancellable_is_cancelled (self->cancellable))
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GSocket) client = NULL;
      gint64 seen;
      gboolean room;

      reap_finished (self);
      /* A connection is waiting in the backlog (or stop() was called). */
      if (!g_socket_condition_wait (self->socket, G_IO_IN, self->cancellable, &error))
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            break;
          g_warning ("waiting for connections: %s", error->message);
          g_usleep (SERVER_LISTENER_ACCEPT_BACKOFF_US);
          continue;
        }
      seen = g_get_monotonic_time ();

      /* At the cap it stays in the backlog until a session ends or the wait is over. */
      g_mutex_lock (&self->lock);
      room = wait_for_slot_locked (self, seen + self->wait_us);
      g_mutex_unlock (&self->lock);
      if (g_cancellable_is_cancelled (self->cancellable))
        break;

      if (room)
        {
          client = accept_pending (self);
          if (client != NULL)
            serve (self, client);
          continue;
        }

      /* No session ended in time: refuse every connection waiting now, taken from the
       * backlog before the first refusal is sent, so that a client that connects once it
       * has read a refusal (a retry) waits for a slot of its own instead of being swept
       * into this round. */
      g_message ("Connection refused: %u connections already (max_connections) for %u s",
                 self->max_connections, (guint) (self->wait_us / G_USEC_PER_SEC));
      {
        g_autoptr (GPtrArray) waiting = g_ptr_array_new_with_free_func (g_object_unref);

        while (waiting->len < SERVER_LISTENER_BACKLOG
               && (client = accept_pending (self)) != NULL)
          g_ptr_array_add (waiting, g_steal_pointer (&client));
        for (guint i = 0; i < waiting->len; i++)
          reject (self, g_ptr_array_index (waiting, i));
      }
    }
  return NULL;
}

/**
 * server_listener_start:
 * @self: a listener
 *
 * Starts accepting connections (in a thread of its own).
 */
void
server_listener_start (ServerListener *self)
{
  GPollFD pfd;

  g_return_if_fail (self->accept_thread == NULL);

  /* Every wait of the accept thread and of the sessions polls the cancellable's file
   * descriptor; GCancellable closes it whenever no one holds it and makes a new one at
   * the next wait (an eventfd() and a close() per connection, and more per read). One
   * reference held for the listener's life keeps the one descriptor. */
  if (!self->pollfd_held)
    self->pollfd_held = g_cancellable_make_pollfd (self->cancellable, &pfd);
  self->accept_thread = g_thread_new ("accept", accept_thread, self);
}

/**
 * server_listener_stop:
 * @self: a listener
 *
 * Stops accepting, ends every open connection and waits for all workers. Safe to call
 * more than once.
 */
void
server_listener_stop (ServerListener *self)
{
  GHashTableIter iter;
  gpointer key;
  gint64 grace_end;

  g_cancellable_cancel (self->cancellable);
  /* The accept thread may wait for a slot: wake it (it checks the cancellable under the
   * lock, so this broadcast cannot be missed). */
  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (self->accept_thread != NULL)
    g_thread_join (g_steal_pointer (&self->accept_thread));
  g_socket_close (self->socket, NULL);

  /* Reading side first: a session waiting for its client ends and may still say why
   * (SERVER_LISTENER_STOP_GRACE_MS); then the rest, for a session stuck in a write. */
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_socket_shutdown (g_socket_connection_get_socket (key), TRUE, FALSE, NULL);
  grace_end = g_get_monotonic_time () + SERVER_LISTENER_STOP_GRACE_MS * G_TIME_SPAN_MILLISECOND;
  while (self->active > 0)
    if (!g_cond_wait_until (&self->cond, &self->lock, grace_end))
      break;
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_socket_shutdown (g_socket_connection_get_socket (key), TRUE, TRUE, NULL);
  while (self->active > 0)
    g_cond_wait (&self->cond, &self->lock);
  /* idle session threads exit (they put themselves among the finished) */
  self->stopping = TRUE;
  g_cond_broadcast (&self->handoff_cond);
  while (self->threads > 0)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  reap_finished (self);
}

/**
 * server_listener_free:
 * @self: (nullable): a listener
 *
 * Stops it (see server_listener_stop()) and frees it.
 */
void
server_listener_free (ServerListener *self)
{
  if (self == NULL)
    return;
  server_listener_stop (self);
  g_object_unref (self->socket);
  if (self->pollfd_held)
    g_cancellable_release_fd (self->cancellable);
  g_object_unref (self->cancellable);
  g_hash_table_unref (self->connections);
  g_ptr_array_unref (self->finished);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_cond_clear (&self->handoff_cond);
  g_free (self->reject_line);
  g_free (self);
}
