/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-listener.h: a listening TCP socket with a session thread per connection and a
 * cap.
 *
 * Up to max_connections run at once, each in a session thread of its own calling the
 * handler with blocking I/O. Session threads accept their connections themselves: an idle
 * one waits in accept(2) (no hand-off from another thread), and one whose session ended
 * accepts the next; one idle for SERVER_LISTENER_THREAD_IDLE seconds exits (unless it is
 * the last one accepting). There is one thread more than sessions (the one accepting),
 * never more than max_connections. The cap counts live sessions only: a slot
 * is free again as soon as the handler returns. A connection beyond the cap is not
 * accepted at once: it waits in the listen backlog until a session ends; if no session
 * ends within wait_seconds, the waiting connections get the configured reject line (e.g.
 * "-TEMP/MTQP/unavailable Too many connections\r\n") and are closed, without a thread
 * (wait_seconds 0: at once). server_listener_stop() closes the listening socket,
 * cancels the cancellable given to each handler, shuts down the open connections and
 * waits for every thread.
 *
 * A handler gets a ServerConnection: the accepted socket's descriptor (blocking,
 * TCP_NODELAY on TCP; it inherits the listening socket's SO_RCVTIMEO, which the idle exit
 * sets to SERVER_LISTENER_THREAD_IDLE seconds: a handler that reads the descriptor
 * directly sets its own, as the front's line reader does) and the client's address from
 * accept(2), no GObject; a program that
 * reads and writes through GIO takes server_connection_get_stream() (a GSocketConnection
 * made from the descriptor on its first call; msgtrk-relay, mtqpd, the push receiver, and
 * msgtrk-submit-front only for TLS). The descriptor is the listener's: its stop() shuts
 * it down, and it is closed (or the stream made from it) when the handler returns.
 * Handlers must use the cancellable they get for their I/O (or, reading the descriptor
 * directly, connect to it) and return when it is cancelled; they must not close the
 * connection.
 *
 * Event-driven programs (mtqpd): server_listener_set_inline() calls the handler in the
 * accept thread (no thread per connection; it must not block); the handler keeps the
 * connection with server_listener_detach() and gives it back, closed by the listener,
 * with server_listener_release() once the session has ended. Programs whose sessions are
 * coroutines (msgtrk-submit-front) accept in a coroutine of one of their loops instead of
 * that thread: server_listener_set_loop().
 */
#pragma once

#include <gio/gio.h>
#include <sys/socket.h>

#include "server-coro.h"

G_BEGIN_DECLS

/** SERVER_LISTENER_DEFAULT_WAIT: seconds a connection over the cap waits in the backlog
 * for a session to end (the daemons' connection_wait default). */
#define SERVER_LISTENER_DEFAULT_WAIT 10
/** SERVER_LISTENER_MAX_WAIT: largest connection_wait accepted. */
#define SERVER_LISTENER_MAX_WAIT 300
/** SERVER_LISTENER_BACKLOG: the listen(2) backlog: connections waiting to be accepted. */
#define SERVER_LISTENER_BACKLOG 128
/** SERVER_LISTENER_STOP_GRACE_MS: at stop, the open connections' reading side is shut
 * down first (a session waiting for its client ends) and the sessions get this long to
 * write their last reply (e.g. "421 ... Shutting down") before the rest is shut down. */
#define SERVER_LISTENER_STOP_GRACE_MS 1000
/** SERVER_LISTENER_THREAD_IDLE: seconds a session thread that has ended its session waits
 * for the next connection before it exits (and is joined). */
#define SERVER_LISTENER_THREAD_IDLE 10

/* An accepted connection, owned by the listener (server-listener.c). */
typedef struct _ServerConnection ServerConnection;

typedef void (*ServerConnectionFunc) (ServerConnection *connection,
                                      GCancellable     *cancellable,
                                      gpointer          user_data);

typedef struct _ServerListener ServerListener;

ServerListener *server_listener_new        (GSocketAddress       *address,
                                            guint                 max_connections,
                                            guint                 wait_seconds,
                                            const char           *reject_line,
                                            ServerConnectionFunc  handler,
                                            gpointer              user_data,
                                            GError              **error);
guint16         server_listener_get_port   (ServerListener       *self);
void            server_listener_start      (ServerListener       *self);
void            server_listener_stop       (ServerListener       *self);
void            server_listener_free       (ServerListener       *self);
guint           server_listener_get_active (ServerListener       *self);
void            server_listener_set_inline (ServerListener       *self,
                                            gboolean              inline_handler);
void            server_listener_set_loop   (ServerListener       *self,
                                            ServerCoroLoop       *loop);
GCancellable   *server_listener_get_cancellable (ServerListener *self);
gboolean        server_listener_probe_parked_at_cap (ServerListener *self);
void            server_listener_detach     (ServerConnection     *connection);
void            server_listener_release    (ServerConnection     *connection);

int                    server_connection_get_fd     (ServerConnection *connection);
const struct sockaddr *server_connection_get_peer   (ServerConnection *connection,
                                                     socklen_t        *len);
GSocketConnection     *server_connection_get_stream (ServerConnection *connection,
                                                     GError          **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ServerListener, server_listener_free)

G_END_DECLS
