/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-listener.h: a listening TCP socket with one thread per connection and a cap.
 *
 * An accept thread takes connections; up to max_connections run at once, each in its own
 * thread calling the handler with blocking I/O. A connection beyond the cap gets the
 * configured reject line (e.g. "-TEMP/MTQP/unavailable Too many connections\r\n") and is
 * closed at once, without a thread. server_listener_stop() closes the listening socket,
 * cancels the cancellable given to each handler, shuts down the open connections and
 * waits for every thread.
 *
 * Handlers must use the cancellable they get for their I/O and return when it is
 * cancelled; they must not close the connection (the listener does after they return).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef void (*ServerConnectionFunc) (GSocketConnection *connection,
                                      GCancellable      *cancellable,
                                      gpointer           user_data);

typedef struct _ServerListener ServerListener;

ServerListener *server_listener_new        (GSocketAddress       *address,
                                            guint                 max_connections,
                                            const char           *reject_line,
                                            ServerConnectionFunc  handler,
                                            gpointer              user_data,
                                            GError              **error);
guint16         server_listener_get_port   (ServerListener       *self);
void            server_listener_start      (ServerListener       *self);
void            server_listener_stop       (ServerListener       *self);
void            server_listener_free       (ServerListener       *self);
guint           server_listener_get_active (ServerListener       *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ServerListener, server_listener_free)

G_END_DECLS
