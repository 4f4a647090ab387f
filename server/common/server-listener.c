/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-listener.c: a TCP listener with a session thread per connection (reused) and a cap
 * (see server-listener.h).
 *
 * Session threads accept (leader/followers without a leader: every idle session thread
 * blocks in accept(2) on the listening socket, made blocking, and the kernel wakes one
 * per connection). Before, an accept thread polled the socket, accepted and handed each
 * connection to an idle session thread through a queue and a condition: per session a
 * wake-up and a context switch more, and the poll, the futex wake and wait, and GLib's two
 * fcntl() for FD_CLOEXEC (accept4 takes SOCK_CLOEXEC). The cap: a thread takes an
 * accepting place only with a slot, self->active + self->acceptors <= max_connections, so
 * what it accepts is always under the cap; a thread whose session ends frees its slot and
 * takes an accepting place in one step under the lock (a client that reconnects at once
 * finds it accepting). A thread that has taken the last accepting place starts another
 * thread before serving when there is room, so a second client never waits for a thread
 * to be made; threads are reused because making one per connection cost more than the
 * session's own work on this path (clone, a fresh stack's page faults, and at its end the
 * stack given back with a TLB shoot-down IPI to every CPU). Idle exit: the listening
 * socket's SO_RCVTIMEO (SERVER_LISTENER_THREAD_IDLE) ends an accept() that waited that
 * long; that thread exits unless it is the last one accepting. The kernel wakes the
 * longest-waiting thread first, so under a steady load the idle threads take turns and
 * stay (at most the most sessions there were at once, plus one).
 *
 * The watcher thread (named "accept") costs nothing per connection: it sleeps while some
 * thread accepts, and is woken (watch_update_locked) only when none does. At the cap it
 * keeps connection_wait: it waits for a connection in the backlog, then up to wait_seconds
 * for a slot (a thread whose session ends accepts it); none in time: it accepts every
 * connection waiting then, under the lock (no thread can start accepting meanwhile), and
 * gives each the reject line with a short send timeout (a client that does not read
 * cannot stall it), so that a client that connects once it has read a refusal (a retry)
 * waits for a slot of its own. So a client that closes a session and at once opens the
 * next (a burst of short sessions) is served even when the server's side of the previous
 * session is still ending; the count of live sessions is the only thing compared with the
 * cap. With room and no thread accepting (a thread could not be started, or a detached
 * session was released) it starts one. It joins the threads that have exited. The count
 * of sessions, of threads and of accepting threads and the set of open connections are
 * kept under one mutex, and stop() waits on a condition until no session and no thread is
 * left.
 *
 * Event-driven programs (server_listener_set_inline(), mtqpd): one accept thread, as
 * before: it waits for the listening socket (non-blocking there) to become readable (woken
 * by the cancellable on stop), at the cap waits on a condition for a slot up to
 * wait_seconds after it saw the connection (then refuses as above), and runs the handler
 * itself (it must not block); the handler keeps the connection with
 * server_listener_detach(); the session counts against the cap until the program calls
 * server_listener_release(), which closes it. No thread is started per connection then.
 * With a loop (server_listener_set_loop(), msgtrk-submit-front) that work is a coroutine of
 * the loop instead of a thread (accept_coro): the listening socket is edge-triggered there,
 * so each wake-up accepts every connection waiting while there is room; at the cap it
 * parks, woken by a session's end (connection_free_locked) or the wait's end.
 *
 * Accepted TCP sockets get TCP_NODELAY: the servers write whole answers (mtqpd one write
 * per pipelined batch), so Nagle's algorithm only adds a wait for the peer's delayed ACK
 * (about 40 ms) whenever a second write follows an unacknowledged one.
 *
 * A connection is its descriptor and the client's address as accept4(2) gave it (a
 * ServerConnection, no GObject): a GSocket made from an accepted descriptor queries it
 * (SO_TYPE, getsockname, getpeername, fcntl twice; docs/postfix-front-io.md) and costs
 * a GSocket, a GSocketConnection and two streams, which a session that reads the
 * descriptor directly (msgtrk-submit-front) never uses. server_connection_get_stream()
 * makes them on demand, on a dup(2) of the descriptor that the stream owns: the
 * descriptor itself stays open until the session has ended (the listener closes the
 * stream, then it), so its number is never another file's while the listener or the
 * session may still shut it down, even once a TLS stream closed its base.
 *
 * stop() shuts the listening socket down (every accept() fails: its thread exits) and
 * closes it once no thread is left in accept() (the number of a closed descriptor could be
 * another file's); then it shuts the open connections' reading side down, so that a
 * session waiting for its client ends and can still write its last reply, then, after
 * SERVER_LISTENER_STOP_GRACE_MS, both sides of those still open.
 *
 * Limits: max_connections workers at once (>= 1); connections over the cap wait in the
 * backlog until no session has ended for wait_seconds (at most SERVER_LISTENER_MAX_WAIT),
 * then all those waiting are refused; max_connections session threads at most. Never:
 * block the accept or watcher thread on a client; accept past the cap; leave a worker
 * running after server_listener_stop() returns.
 */
#define _GNU_SOURCE /* accept4 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server-coro.h"
#include "server-line-reader.h" /* server_socket_error */
#include "server-listener.h"

/* Seconds a rejected client gets to take the reject line. */
#define SERVER_LISTENER_REJECT_TIMEOUT 2
/* Back-off after an accept error (e.g. EMFILE), in microseconds. */
#define SERVER_LISTENER_ACCEPT_BACKOFF_US (100 * 1000)
/* An accept(2) failure is logged at most once in this many seconds (with a count). */
#define SERVER_LISTENER_ACCEPT_LOG_INTERVAL_S 10
/* The accept coroutine: connections accepted in a row before its loop runs the rest. */
#define SERVER_LISTENER_ACCEPT_BATCH 64
/* ... and how long it then lets them run (the loop's timers are to the millisecond). */
#define SERVER_LISTENER_ACCEPT_PAUSE_US 1000

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
  ServerCoroLoop *accept_loop;     /* (unowned) (nullable) inline: accept in a coroutine
                                    * there instead of a thread (server_listener_set_loop) */
  gboolean pollfd_held;            /* the cancellable's pollfd is kept from start to free */

  GMutex lock;
  GCond cond;
  guint active;                    /* workers running; under lock */
  GHashTable *connections;         /* (owned) set of ServerConnection; under lock */
  GPtrArray *finished;             /* (owned) GThread refs of workers that are ending, to
                                    * join (so that their thread-local state, e.g.
                                    * OpenSSL's, is freed before exit); under lock */
  guint threads;                   /* session threads alive; under lock */
  gboolean stopping;               /* stop() has begun: idle threads exit; under lock */
  guint cond_waiters;              /* threads waiting on cond (the broadcasts are skipped
                                    * when there are none); under lock */
  guint accept_failures;           /* accept(2) failures not yet logged; under lock */
  gint64 accept_logged;            /* when one was last logged (monotonic); under lock */
  /* The accept coroutine (accept_loop): */
  gboolean accept_co_running;      /* from start() until it has returned; under lock */
  ServerCoro *accept_co;           /* (nullable) it, once it runs; under lock */
  gboolean slot_wanted;            /* it is parked at the cap: a freed slot wakes it;
                                    * under lock */
  /* Threads that accept (not inline): */
  guint acceptors;                 /* session threads in (or entering) accept(); under lock */
  GCond watch_cond;                /* wakes the watcher: see watch_update_locked() */
  gboolean watcher_armed;          /* the watcher deals with "no acceptor"; under lock */
};

/* An accepted connection and its slot under the cap. */
struct _ServerConnection
{
  ServerListener *listener;
  int fd;                          /* (owned) blocking; open until the session ended */
  struct sockaddr_storage peer;    /* the client's address (accept4) */
  socklen_t peer_len;
  GSocketConnection *stream;       /* (owned) (nullable) made on demand from a dup(2) of
                                    * fd, which it owns; set under the listener's lock */
  gboolean detached;               /* the handler keeps it: server_listener_release() */
  /* Where the handler's caller learns that it detached: on the caller's stack, since a
   * detached session may end, and this connection be freed, before the handler returns. */
  gboolean *detached_out;
};

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
  g_cond_init (&self->watch_cond);
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

/* After a change of self->active or self->acceptors (under self->lock): wake the
 * watcher when no thread accepts (it then spawns one, or watches the backlog at the cap),
 * or when it is dealing with that and the change may end it. Nothing to do, and no system
 * call, in the usual case: some thread is accepting. */
static void
watch_update_locked (ServerListener *self)
{
  if (!self->inline_handler && (self->acceptors == 0 || self->watcher_armed))
    g_cond_signal (&self->watch_cond);
}

/* Wake the threads waiting on self->cond (stop(), the inline accept thread), if any. */
static void
cond_broadcast_locked (ServerListener *self)
{
  if (self->cond_waiters > 0)
    g_cond_broadcast (&self->cond);
}

/* Under self->lock, after its connection was closed: @c freed, its slot with it. */
static void
connection_free_locked (ServerConnection *c)
{
  ServerListener *self = c->listener;

  g_free (c);
  self->active--;
  cond_broadcast_locked (self);
  if (self->slot_wanted)
    {
      self->slot_wanted = FALSE;
      server_coro_wake (self->accept_co);
    }
}

/* @c out of the table and closed (without the lock); the lock is held on return. */
static void
connection_close_lock (ServerConnection *c)
{
  ServerListener *self = c->listener;

  /* Out of the table before its descriptor is closed: server_listener_stop() shuts down
   * the sockets of the table under the lock, and a closed descriptor's number may already
   * be another thread's. */
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->connections, c);
  g_mutex_unlock (&self->lock);
  if (c->stream != NULL)
    {
      g_io_stream_close (G_IO_STREAM (c->stream), NULL, NULL);
      g_clear_object (&c->stream);
    }
  close (c->fd);
  g_mutex_lock (&self->lock);
}

/* The session of @c has ended: close its connection, free its slot. */
static void
connection_finish (ServerConnection *c)
{
  ServerListener *self = c->listener;

  connection_close_lock (c);
  connection_free_locked (c);
  watch_update_locked (self);
  g_mutex_unlock (&self->lock);
}

/* Shut @c down (under self->lock): its reading side, or with @both both. Its descriptor
 * is open until connection_close_lock() (a stream has a duplicate of its own), so this
 * reaches the client's socket even when the session closed its stream already. */
static void
connection_shutdown_locked (ServerConnection *c,
                            gboolean          both)
{
  (void) shutdown (c->fd, both ? SHUT_RDWR : SHUT_RD);
}

/* An accepted socket: @fd, the client's address in @peer (@peer_len octets). */
typedef struct
{
  int fd;
  struct sockaddr_storage peer;
  socklen_t peer_len;
} Accepted;

/* accept4(2) on the listening socket into @a (blocking, close-on-exec); FALSE with errno
 * set when none was accepted. TCP sockets get TCP_NODELAY (see the top of this file: a
 * failure only costs latency, so it is logged, not fatal). */
static gboolean
accept_one (ServerListener *self,
            Accepted       *a)
{
  int one = 1;

  a->peer_len = sizeof a->peer;
  a->fd = accept4 (g_socket_get_fd (self->socket), (struct sockaddr *) &a->peer, &a->peer_len,
                   SOCK_CLOEXEC);
  if (a->fd < 0)
    return FALSE;
  if ((a->peer.ss_family == AF_INET || a->peer.ss_family == AF_INET6)
      && setsockopt (a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    g_warning ("Cannot set TCP_NODELAY on a connection: %s", g_strerror (errno));
  return TRUE;
}

/* A ServerConnection for @a, counted against the cap and in the table of open
 * connections (under self->lock: the caller holds it). */
static ServerConnection *
connection_new_locked (ServerListener *self,
                       const Accepted *a)
{
  ServerConnection *c = g_new0 (ServerConnection, 1);

  c->listener = self;
  c->fd = a->fd;
  memcpy (&c->peer, &a->peer, MIN (a->peer_len, sizeof c->peer));
  c->peer_len = MIN (a->peer_len, sizeof c->peer);
  g_hash_table_add (self->connections, c);
  self->active++;
  return c;
}

/* Call the handler for @a in the inline accept thread. */
static void
serve_inline (ServerListener *self,
              const Accepted *a)
{
  gboolean detached = FALSE;
  ServerConnection *c;

  g_mutex_lock (&self->lock);
  c = connection_new_locked (self, a);
  g_mutex_unlock (&self->lock);
  c->detached_out = &detached;
  self->handler (c, self->cancellable, self->user_data);
  if (!detached) /* c may be gone if it was detached */
    connection_finish (c);
}

static gpointer session_thread (gpointer data);
static void     accept_failed  (ServerListener *self,
                                int             err);

/* Start one more session thread, already counted in self->threads and self->acceptors
 * by the caller (under self->lock); on failure it takes those back and wakes the watcher
 * (which tries again after a back-off). */
static void
acceptor_spawn (ServerListener *self)
{
  g_autoptr (GError) error = NULL;
  GThread *thread = g_thread_try_new ("connection", session_thread, self, &error);

  if (thread != NULL)
    {
      g_thread_unref (thread); /* joined through self->finished when it exits */
      return;
    }
  g_warning ("Cannot start a connection thread: %s", error->message);
  g_mutex_lock (&self->lock);
  self->threads--;
  self->acceptors--;
  cond_broadcast_locked (self);
  watch_update_locked (self);
  g_mutex_unlock (&self->lock);
}

/* The calling session thread ends (under self->lock; it unlocks): it puts itself among
 * the finished, to be joined. */
static gpointer
session_thread_exit_locked (ServerListener *self)
{
  self->threads--;
  g_ptr_array_add (self->finished, g_thread_ref (g_thread_self ()));
  cond_broadcast_locked (self);
  watch_update_locked (self);
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* A session thread (not inline): accepts a connection itself, blocking in accept(2) on
 * the listening socket beside the other idle session threads (the kernel wakes one per
 * connection), serves it, and accepts again. Enters accept() only holding a slot:
 * self->active + self->acceptors <= max_connections, so an accepted connection is always
 * under the cap. Having taken the last accepting place, it starts another thread first
 * (room left) or leaves the backlog to the watcher (at the cap). Exits after
 * SERVER_LISTENER_THREAD_IDLE seconds in accept() (the listening socket's SO_RCVTIMEO)
 * unless it is the last one accepting, or at stop (the listening socket shut down: its
 * accept() fails). */
static gpointer
session_thread (gpointer data)
{
  ServerListener *self = data;

  for (;;)
    {
      Accepted a;
      gboolean detached = FALSE;
      gboolean spawn = FALSE;
      ServerConnection *c;
      gboolean accepted = accept_one (self, &a);
      int err = errno;

      g_mutex_lock (&self->lock);
      if (self->stopping)
        {
          if (accepted)
            close (a.fd);
          self->acceptors--;
          return session_thread_exit_locked (self);
        }
      if (!accepted)
        {
          /* Idle past SERVER_LISTENER_THREAD_IDLE: leave unless no other thread accepts. */
          if ((err == EAGAIN || err == EWOULDBLOCK) && self->acceptors > 1)
            {
              self->acceptors--;
              return session_thread_exit_locked (self);
            }
          g_mutex_unlock (&self->lock);
          if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED)
            accept_failed (self, err);
          continue;
        }
      self->acceptors--;
      c = connection_new_locked (self, &a);
      if (self->acceptors == 0 && self->active < self->max_connections)
        {
          /* Room for another session and no one accepting: a new thread accepts (so a
           * second client never waits for this session to end). */
          self->acceptors++;
          self->threads++;
          spawn = TRUE;
        }
      watch_update_locked (self);
      g_mutex_unlock (&self->lock);
      if (spawn)
        acceptor_spawn (self);

      c->detached_out = &detached;
      self->handler (c, self->cancellable, self->user_data);
      /* The slot freed and this thread accepting again in one step: a client that
       * connects as soon as its session has ended finds it accepting (no new thread). */
      if (!detached) /* c may be gone if it was detached */
        {
          connection_close_lock (c);
          connection_free_locked (c);
        }
      else
        g_mutex_lock (&self->lock);
      if (self->stopping || self->active + self->acceptors >= self->max_connections)
        return session_thread_exit_locked (self); /* at the cap only after a detach */
      self->acceptors++;
      watch_update_locked (self);
      g_mutex_unlock (&self->lock);
    }
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
 * server_listener_set_loop:
 * @self: an inline listener (server_listener_set_inline()), not started yet
 * @loop: (nullable): the loop to accept on; %NULL: a thread
 *
 * Accept in a coroutine of @loop instead of a thread of the listener's: the handler then
 * runs in that coroutine (it must not block or park). @loop must outlive the listener's
 * stop. Should the coroutine not start (no memory for its stack), the thread accepts.
 */
void
server_listener_set_loop (ServerListener *self,
                          ServerCoroLoop *loop)
{
  g_return_if_fail (self->accept_thread == NULL && !self->accept_co_running);
  g_return_if_fail (loop == NULL || self->inline_handler);
  self->accept_loop = loop;
}

/**
 * server_listener_get_cancellable:
 * @self: a listener
 *
 * Returns: (transfer none): the cancellable its handlers get, cancelled when
 *   server_listener_stop() begins
 */
GCancellable *
server_listener_get_cancellable (ServerListener *self)
{
  return self->cancellable;
}

/**
 * server_listener_probe_parked_at_cap:
 * @self: a listener accepting in a coroutine
 *
 * Tests only: whether its accept coroutine is parked at the cap, a connection waiting.
 *
 * Returns: that
 */
gboolean
server_listener_probe_parked_at_cap (ServerListener *self)
{
  gboolean parked;

  g_mutex_lock (&self->lock);
  parked = self->slot_wanted;
  g_mutex_unlock (&self->lock);
  return parked;
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
server_listener_detach (ServerConnection *connection)
{
  g_return_if_fail (connection != NULL);
  connection->detached = TRUE;
  if (connection->detached_out != NULL)
    *connection->detached_out = TRUE;
  connection->detached_out = NULL; /* the handler's frame ends with it */
}

/**
 * server_listener_release:
 * @connection: a detached connection whose session has ended
 *
 * Closes @connection and frees its slot (any thread).
 */
void
server_listener_release (ServerConnection *connection)
{
  g_return_if_fail (connection != NULL && connection->detached);
  connection_finish (connection);
}

/**
 * server_connection_get_fd:
 * @connection: a connection given to a handler
 *
 * Returns: its socket's descriptor (blocking, owned by the listener)
 */
int
server_connection_get_fd (ServerConnection *connection)
{
  return connection->fd;
}

/**
 * server_connection_get_peer:
 * @connection: a connection given to a handler
 * @len: (out): the address's length
 *
 * Returns: (transfer none): the client's address, as accept(2) gave it
 */
const struct sockaddr *
server_connection_get_peer (ServerConnection *connection,
                            socklen_t        *len)
{
  *len = connection->peer_len;
  return (const struct sockaddr *) &connection->peer;
}

/**
 * server_connection_get_stream:
 * @connection: a connection given to a handler
 * @error: where a failure is described
 *
 * The connection as a GIO stream, made from its descriptor on the first call (a GSocket
 * makes the descriptor non-blocking; GIO's blocking reads and writes poll it, with the
 * socket's timeout). It is made on a duplicate of the descriptor, which it owns; the
 * listener closes the stream, then the descriptor, when the session ends. Read and write
 * the connection through the stream only from then on (the duplicate shares the socket's
 * non-blocking flag).
 *
 * Returns: (transfer none) (nullable): the stream, or %NULL with @error set
 */
GSocketConnection *
server_connection_get_stream (ServerConnection *connection,
                              GError          **error)
{
  ServerListener *self = connection->listener;
  g_autoptr (GSocket) socket = NULL;
  GSocketConnection *stream;
  int fd;

  if (connection->stream != NULL)
    return connection->stream;
  /* A duplicate: the GSocket closes it when the stream is closed (or when it fails to
   * make itself from it), the connection's own descriptor stays open until the end. */
  fd = fcntl (connection->fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    {
      server_socket_error (error, errno, "fcntl(F_DUPFD_CLOEXEC) of the connection");
      return NULL;
    }
  socket = g_socket_new_from_fd (fd, error);
  if (socket == NULL)
    return NULL;
  stream = g_socket_connection_factory_create_connection (socket);
  /* Under the lock: server_listener_stop() shuts the connection down through it. */
  g_mutex_lock (&self->lock);
  connection->stream = stream;
  g_mutex_unlock (&self->lock);
  return stream;
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

/* The reject line to the accepted @fd (blocking, SERVER_LISTENER_REJECT_TIMEOUT for the
 * write), then closed. */
static void
reject (ServerListener *self,
        int             fd)
{
  struct timeval tv = { .tv_sec = SERVER_LISTENER_REJECT_TIMEOUT };

  (void) setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  (void) send (fd, self->reject_line, strlen (self->reject_line), MSG_NOSIGNAL);
  (void) shutdown (fd, SHUT_WR);
  close (fd);
}

/* Refuse @waiting (of accepted descriptors), logged once. */
static void
reject_all (ServerListener *self,
            GArray         *waiting)
{
  if (waiting->len == 0)
    return;
  g_message ("Connection refused: %u connections already (max_connections) for %u s",
             self->max_connections, (guint) (self->wait_us / G_USEC_PER_SEC));
  for (guint i = 0; i < waiting->len; i++)
    reject (self, g_array_index (waiting, int, i));
}

/* SERVER_LISTENER_ACCEPT_BACKOFF_US after an accept error: parked in the accept coroutine
 * (its loop runs the sessions meanwhile), asleep in the accept thread. */
static void
accept_backoff (void)
{
  if (server_coro_in_loop ())
    (void) server_coro_park (g_get_monotonic_time () + SERVER_LISTENER_ACCEPT_BACKOFF_US);
  else
    g_usleep (SERVER_LISTENER_ACCEPT_BACKOFF_US);
}

/* An accept(2) that failed with @err (EMFILE, ENFILE, ENOBUFS...): logged at most once per
 * SERVER_LISTENER_ACCEPT_LOG_INTERVAL_S with the count since (it repeats at every retry
 * while it lasts), then the back-off. The connections wait in the backlog meanwhile. */
static void
accept_failed (ServerListener *self,
               int             err)
{
  gint64 now = g_get_monotonic_time ();
  guint  count = 0;

  g_mutex_lock (&self->lock);
  self->accept_failures++;
  if (self->accept_logged == 0
      || now - self->accept_logged >= SERVER_LISTENER_ACCEPT_LOG_INTERVAL_S * G_USEC_PER_SEC)
    {
      count = self->accept_failures;
      self->accept_failures = 0;
      self->accept_logged = now;
    }
  g_mutex_unlock (&self->lock);
  if (count > 0)
    g_warning ("accept: %s (%u time%s since the last such line); connections wait in the "
               "backlog meanwhile%s",
               g_strerror (err), count, count == 1 ? "" : "s",
               err == EMFILE || err == ENFILE
                 ? ": raise the open-files limit (LimitNOFILE= of the unit) or lower "
                   "max_connections"
                 : "");
  accept_backoff ();
}

/* Accept one waiting connection without blocking into @a; FALSE if none is left (or on
 * an error, logged, after a short back-off). The inline accept thread's (non-blocking
 * listening socket). */
static gboolean
accept_pending (ServerListener *self,
                Accepted       *a)
{
  if (g_cancellable_is_cancelled (self->cancellable))
    return FALSE;
  if (accept_one (self, a))
    return TRUE;
  if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
    accept_failed (self, errno);
  return FALSE;
}

/* Wait (under self->lock) until a slot is free, stop() is called or @deadline (monotonic)
 * has passed; TRUE if a slot is free. */
static gboolean
wait_for_slot_locked (ServerListener *self,
                      gint64          deadline)
{
  self->cond_waiters++;
  while (self->active >= self->max_connections && !g_cancellable_is_cancelled (self->cancellable))
    if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
      break;
  self->cond_waiters--;
  return self->active < self->max_connections;
}

/* No session ended in time: refuse every connection waiting now, taken from the backlog
 * before the first refusal is sent, so that a client that connects once it has read a
 * refusal (a retry) waits for a slot of its own instead of being swept into this round. */
static void
refuse_waiting (ServerListener *self)
{
  g_autoptr (GArray) waiting = g_array_new (FALSE, FALSE, sizeof (int));
  Accepted a;

  while (waiting->len < SERVER_LISTENER_BACKLOG && accept_pending (self, &a))
    g_array_append_val (waiting, a.fd);
  reject_all (self, waiting);
}

/* The accept thread of an inline listener (server_listener_set_inline()). */
static gpointer
accept_thread (gpointer data)
{
  ServerListener *self = data;

  while (!g_cancellable_is_cancelled (self->cancellable))
    {
      g_autoptr (GError) error = NULL;
      Accepted a;
      gint64 seen;
      gboolean room;

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
          if (accept_pending (self, &a))
            serve_inline (self, &a);
          continue;
        }

      refuse_waiting (self);
    }
  return NULL;
}

/* At the cap, in the accept coroutine: parks until a session's end frees a slot
 * (connection_free_locked wakes it), stop() or @deadline (monotonic); TRUE if a slot is
 * free. */
static gboolean
coro_wait_for_slot (ServerListener *self,
                    gint64          deadline)
{
  gboolean room;

  for (;;)
    {
      g_mutex_lock (&self->lock);
      room = self->active < self->max_connections;
      self->slot_wanted = !room && !self->stopping;
      g_mutex_unlock (&self->lock);
      if (room || g_cancellable_is_cancelled (self->cancellable)
          || server_coro_park (deadline) == ETIMEDOUT)
        break;
    }
  g_mutex_lock (&self->lock);
  self->slot_wanted = FALSE;
  room = self->active < self->max_connections;
  g_mutex_unlock (&self->lock);
  return room;
}

/* The accept thread's work, as a coroutine of accept_loop (server_listener_set_loop()):
 * no thread, no hand-off to the loop per connection. The listening socket is
 * edge-triggered there, so every connection waiting is accepted (while there is room)
 * before the next wait. At the cap with a connection waiting it parks until a session's
 * end frees a slot or that connection has waited wait_us, then refuses every one
 * waiting, as the thread does; at the cap with none waiting it waits for one. */
static void
accept_coro (gpointer data)
{
  ServerListener *self = data;
  int fd = g_socket_get_fd (self->socket);

  guint in_a_row = 0;

  g_mutex_lock (&self->lock);
  self->accept_co = server_coro_self ();
  g_mutex_unlock (&self->lock);
  while (!g_cancellable_is_cancelled (self->cancellable))
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      gboolean room;
      Accepted a;
      int r;

      g_mutex_lock (&self->lock);
      room = self->active < self->max_connections;
      g_mutex_unlock (&self->lock);
      if (room && accept_one (self, &a))
        {
          serve_inline (self, &a);
          /* A flood does not hold the loop's sessions up: after a batch the coroutine lets
           * the loop run them (parked SERVER_LISTENER_ACCEPT_PAUSE_US), then accepts on
           * (no new edge would come for what waits already). */
          if (++in_a_row >= SERVER_LISTENER_ACCEPT_BATCH)
            {
              in_a_row = 0;
              (void) server_coro_park (g_get_monotonic_time () + SERVER_LISTENER_ACCEPT_PAUSE_US);
            }
          continue;
        }
      in_a_row = 0;
      if (room && errno != EAGAIN && errno != EWOULDBLOCK)
        {
          if (errno != EINTR && errno != ECONNABORTED)
            accept_failed (self, errno);
          continue;
        }
      /* At the cap: is a connection waiting? */
      r = room ? 0 : poll (&p, 1, 0);
      if (r < 0)
        {
          if (errno != EINTR)
            {
              g_warning ("waiting for connections: poll: %s", g_strerror (errno));
              accept_backoff ();
            }
          continue;
        }
      /* Nothing waiting (with room, or at the cap: a slot freed meanwhile is seen once one
       * comes): wait for a connection. */
      if (r == 0)
        {
          r = server_coro_wait_fd (fd, G_IO_IN, 0, self->cancellable);
          if (r == ECANCELED)
            break;
          if (r != 0)
            {
              g_warning ("waiting for connections: %s", g_strerror (r));
              accept_backoff ();
            }
          continue;
        }
      if (!coro_wait_for_slot (self, g_get_monotonic_time () + self->wait_us)
          && !g_cancellable_is_cancelled (self->cancellable))
        refuse_waiting (self);
    }
  server_coro_forget_fd (fd); /* stop() closes it */
  g_mutex_lock (&self->lock);
  self->accept_co = NULL;
  self->accept_co_running = FALSE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* The watcher of a listener with session threads: idle while some session thread accepts
 * (so, at no cost per connection). When none does (self->acceptors 0, watch_cond
 * signalled): with room under the cap (a thread could not be started, or a detached
 * session was released), it starts one; at the cap it waits for a connection in the
 * backlog, then up to wait_us for a slot (a session thread whose session ends accepts
 * again); if none came, it refuses every connection waiting then (taken under the lock:
 * no thread can start accepting meanwhile, so accept() cannot block). It also joins the
 * threads that have ended, at least every SERVER_LISTENER_THREAD_IDLE seconds. */
static gpointer
watcher_thread (gpointer data)
{
  ServerListener *self = data;
  int listen_fd = g_socket_get_fd (self->socket);

  g_mutex_lock (&self->lock);
  while (!self->stopping)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) waiting = NULL;
      gint64 seen;

      if (self->acceptors > 0)
        {
          self->watcher_armed = FALSE;
          g_mutex_unlock (&self->lock);
          reap_finished (self);
          g_mutex_lock (&self->lock);
          if (self->acceptors > 0 && !self->stopping)
            g_cond_wait_until (&self->watch_cond, &self->lock,
                               g_get_monotonic_time ()
                                   + SERVER_LISTENER_THREAD_IDLE * G_TIME_SPAN_SECOND);
          continue;
        }
      self->watcher_armed = TRUE;
      if (self->active < self->max_connections)
        {
          self->acceptors++;
          self->threads++;
          g_mutex_unlock (&self->lock);
          acceptor_spawn (self);
          g_mutex_lock (&self->lock);
          if (self->acceptors == 0 && !self->stopping) /* it failed: back off */
            g_cond_wait_until (&self->watch_cond, &self->lock,
                               g_get_monotonic_time () + SERVER_LISTENER_ACCEPT_BACKOFF_US);
          continue;
        }

      /* At the cap: a connection in the backlog waits for a slot, up to wait_us. */
      g_mutex_unlock (&self->lock);
      if (!g_socket_condition_wait (self->socket, G_IO_IN, self->cancellable, &error)
          && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_warning ("waiting for connections: %s", error->message);
          g_usleep (SERVER_LISTENER_ACCEPT_BACKOFF_US);
        }
      seen = g_get_monotonic_time ();
      g_mutex_lock (&self->lock);
      while (self->acceptors == 0 && self->active >= self->max_connections && !self->stopping)
        if (!g_cond_wait_until (&self->watch_cond, &self->lock, seen + self->wait_us))
          break;
      if (self->stopping || self->acceptors > 0 || self->active < self->max_connections)
        continue;

      /* No session ended in time: refuse every connection waiting now (as in
       * accept_thread()). Linux keeps a connection in the accept queue even when its
       * client resets it, so accept() after a readable poll() does not wait (at worst the
       * listening socket's receive timeout would end it). */
      waiting = g_array_new (FALSE, FALSE, sizeof (int));
      while (waiting->len < SERVER_LISTENER_BACKLOG)
        {
          struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
          int fd;

          if (poll (&pfd, 1, 0) != 1 || (pfd.revents & POLLIN) == 0)
            break;
          fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
          if (fd < 0)
            break;
          g_array_append_val (waiting, fd);
        }
      g_mutex_unlock (&self->lock);
      reject_all (self, waiting);
      g_mutex_lock (&self->lock);
    }
  self->watcher_armed = FALSE;
  g_mutex_unlock (&self->lock);
  return NULL;
}

/**
 * server_listener_start:
 * @self: a listener
 *
 * Starts accepting connections (in threads of its own).
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
  if (self->inline_handler && self->accept_loop != NULL)
    {
      g_autoptr (GError) error = NULL;

      g_mutex_lock (&self->lock);
      self->accept_co_running = TRUE;
      g_mutex_unlock (&self->lock);
      if (server_coro_loop_spawn (self->accept_loop, accept_coro, self, &error))
        return;
      g_warning ("Accepting in a thread instead of the loop: %s", error->message);
      g_mutex_lock (&self->lock);
      self->accept_co_running = FALSE;
      g_mutex_unlock (&self->lock);
    }
  if (self->inline_handler)
    {
      self->accept_thread = g_thread_new ("accept", accept_thread, self);
      return;
    }

  /* Session threads block in accept(): the listening socket blocking, with their idle
   * time as its receive timeout (accept() then fails with EAGAIN). */
  {
    int fd = g_socket_get_fd (self->socket);
    struct timeval tv = { .tv_sec = SERVER_LISTENER_THREAD_IDLE };
    int flags = fcntl (fd, F_GETFL);

    /* A non-blocking accept() would make the threads spin: fatal (it cannot fail on a
     * socket of ours). Without the timeout idle threads only stay: logged. */
    if (flags < 0 || fcntl (fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
      g_error ("Cannot make the listening socket blocking: %s", g_strerror (errno));
    if (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
      g_warning ("Cannot set the listening socket's timeout: %s", g_strerror (errno));
  }
  g_mutex_lock (&self->lock);
  self->threads++;
  self->acceptors++;
  g_mutex_unlock (&self->lock);
  acceptor_spawn (self);
  self->accept_thread = g_thread_new ("accept", watcher_thread, self);
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
  /* The threads that wait (the inline accept thread for a slot, the watcher) are woken;
   * they check the cancellable or self->stopping under the lock, so this cannot be
   * missed. Threads in accept() are woken by the shutdown of the listening socket (their
   * accept() fails with EINVAL); the socket is closed once none of them is left in it
   * (a closed descriptor's number could be another file's by then). */
  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  g_cond_broadcast (&self->cond);
  g_cond_broadcast (&self->watch_cond);
  /* The accept coroutine: its wait for a connection ends through the cancellable, its
   * park at the cap through this wake. */
  if (self->accept_co != NULL)
    server_coro_wake (self->accept_co);
  self->cond_waiters++;
  while (self->accept_co_running)
    g_cond_wait (&self->cond, &self->lock);
  self->cond_waiters--;
  g_mutex_unlock (&self->lock);
  if (self->accept_thread != NULL)
    g_thread_join (g_steal_pointer (&self->accept_thread));
  g_socket_shutdown (self->socket, TRUE, TRUE, NULL);
  g_mutex_lock (&self->lock);
  self->cond_waiters++;
  while (self->acceptors > 0)
    g_cond_wait (&self->cond, &self->lock);
  self->cond_waiters--;
  g_mutex_unlock (&self->lock);
  g_socket_close (self->socket, NULL);

  /* Reading side first: a session waiting for its client ends and may still say why
   * (SERVER_LISTENER_STOP_GRACE_MS); then the rest, for a session stuck in a write. */
  g_mutex_lock (&self->lock);
  self->cond_waiters++;
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    connection_shutdown_locked (key, FALSE);
  grace_end = g_get_monotonic_time () + SERVER_LISTENER_STOP_GRACE_MS * G_TIME_SPAN_MILLISECOND;
  while (self->active > 0)
    if (!g_cond_wait_until (&self->cond, &self->lock, grace_end))
      break;
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    connection_shutdown_locked (key, TRUE);
  while (self->active > 0)
    g_cond_wait (&self->cond, &self->lock);
  /* the session threads exit when their session ends (they put themselves among the
   * finished) */
  while (self->threads > 0)
    g_cond_wait (&self->cond, &self->lock);
  self->cond_waiters--;
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
  g_cond_clear (&self->watch_cond);
  g_free (self->reject_line);
  g_free (self);
}
