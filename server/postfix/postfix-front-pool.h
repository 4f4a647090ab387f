/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-front-pool.h: warm upstream connections for msgtrk-submit-front
 * (docs/postfix-site.md, "Warm upstream connections").
 *
 * What: a few connections to the upstream Postfix opened ahead (connect and its 220
 * greeting read), so that a client session starts without waiting for them; the session
 * then sets the client's identity with XCLIENT (Postfix restarts its session and greets
 * again), exactly as on a connection of its own. Used only with xclient=true.
 * How: at most `size` connections ready. A session that ends refills the pool with one
 * connection (connected, its greeting left for the session that takes it to read:
 * postfix_front_pool_refill()); taking one wakes nobody. One thread fills the pool at
 * start and after a failed refill (retried after POSTFIX_FRONT_POOL_RETRY_MS), greeting
 * read, and closes a connection older than `idle` seconds (keep it below Postfix's
 * smtpd_timeout, 300 s by default); a taken connection is checked first (readable after
 * its greeting means Postfix closed it or said 421: dropped).
 * Connections are plain descriptors (socket(2), connect(2); blocking, TCP_NODELAY on
 * TCP: postfix_front_upstream_connect()), read directly with the
 * line reader and written with server_socket_send_all(): no GSocketClient, GSocket or
 * stream objects per connection (docs/postfix-front-io.md).
 * Never: give a connection to a second client session (the session closes it: AUTH state
 * never leaks between clients); block a session (an empty pool: the session connects
 * itself).
 */
#pragma once

#include <gio/gio.h>

#include "server-line-reader.h"

G_BEGIN_DECLS

/** POSTFIX_FRONT_POOL_*_SIZE: warm connections kept (config upstream_pool; 0: none). */
#define POSTFIX_FRONT_POOL_DEFAULT_SIZE 2
#define POSTFIX_FRONT_POOL_MAX_SIZE 64
/** POSTFIX_FRONT_POOL_*_IDLE: seconds a warm connection waits at most (upstream_pool_idle). */
#define POSTFIX_FRONT_POOL_DEFAULT_IDLE 60
#define POSTFIX_FRONT_POOL_MAX_IDLE 290
/** POSTFIX_FRONT_POOL_RETRY_MS: wait after a failed connect before the next. */
#define POSTFIX_FRONT_POOL_RETRY_MS 1000
/** POSTFIX_FRONT_POOL_REFILL_CONNECT_TIMEOUT: seconds a session that ended waits at most
 * for its refill's connect (loopback and unix sockets connect at once). */
#define POSTFIX_FRONT_POOL_REFILL_CONNECT_TIMEOUT 1

typedef struct _PostfixFrontPool PostfixFrontPool;

int                postfix_front_upstream_connect (GSocketAddress *upstream,
                                                   guint           connect_timeout,
                                                   GCancellable   *cancellable,
                                                   GError        **error);
void               postfix_front_fd_close (int fd);
gboolean           postfix_front_read_reply (ServerLineReader *reader,
                                             GString          *reply,
                                             int              *code,
                                             GCancellable     *cancellable,
                                             GError          **error);

PostfixFrontPool *postfix_front_pool_new (GSocketAddress *upstream,
                                          const char     *upstream_name,
                                          guint           size,
                                          guint           idle,
                                          guint           timeout);
gboolean          postfix_front_pool_take (PostfixFrontPool   *pool,
                                           int                *fd,
                                           ServerLineReader  **reader,
                                           GString            *greeting,
                                           GCancellable       *cancellable);
void              postfix_front_pool_refill (PostfixFrontPool *pool);
void              postfix_front_pool_free (PostfixFrontPool *pool);

G_END_DECLS
