/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-front-pool.c: warm upstream connections (contract: postfix-front-pool.h). */
#include "config.h"

#include "postfix-front-pool.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "postfix-front.h"
#include "server-coro.h"

typedef struct
{
  int                fd;         /* (owned) the connection (postfix_front_upstream_connect) */
  ServerLineReader  *reader;     /* (owned) */
  char              *greeting;   /* (owned) (nullable) the upstream's 220, CRLF kept; NULL:
                                  * not read yet (a refill: the taker reads it) */
  gint64             ready;      /* monotonic µs */
} Warm;

struct _PostfixFrontPool
{
  GSocketAddress *upstream;      /* (owned) */
  char           *upstream_name; /* (owned) */
  guint           size;
  guint           idle;
  guint           timeout;
  GMutex          lock;
  GCond           cond;
  GQueue          warm; /* of Warm*, oldest first */
  guint           connecting; /* connects under way (the thread's, refills) */
  gboolean        stopping;
  GCancellable   *cancel; /* (owned) */
  GThread        *thread; /* (owned) */
};

/* poll(2) of @fd for @events without waiting: the events that are there (0: none). */
static int
fd_events_now (int   fd,
               short events)
{
  struct pollfd p = { .fd = fd, .events = events };

  return poll (&p, 1, 0) == 1 ? p.revents : 0;
}

/* An unused warm connection ends with QUIT (Postfix then logs a plain disconnect, not a
 * lost connection); best effort, never blocking. */
static void
warm_quit (Warm *w)
{
  (void) send (w->fd, "QUIT\r\n", 6, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void
warm_free (Warm *w)
{
  postfix_front_fd_close (w->fd);
  g_free (w->reader);
  g_free (w->greeting);
  g_free (w);
}

/**
 * postfix_front_fd_close:
 * @fd: an upstream connection of the front's, its only descriptor (never dup'ed: read
 *   and written directly, no GIO stream made on it)
 *
 * Closes @fd; in a session's coroutine (server-coro.h) the loop forgets it first (a wait
 * there registered it: a closed descriptor's number left in the loop's table would be
 * another file's next), without EPOLL_CTL_DEL (server_coro_forget_closing_fd(): the
 * close takes the only descriptor of the file out of the epoll set).
 */
void
postfix_front_fd_close (int fd)
{
  if (fd < 0)
    return;
  if (server_coro_in_loop ())
    server_coro_forget_closing_fd (fd);
  close (fd);
}

/* A connect(2) on the non-blocking @fd that returned @err: done once @fd is writable
 * (at most @timeout seconds, or @cancellable), then its outcome (SO_ERROR). A unix
 * socket whose listen backlog is full fails at once (EAGAIN), as through GIO. */
static gboolean
connect_finish (int           fd,
                int           err,
                guint         timeout,
                GCancellable *cancellable,
                GError      **error)
{
  socklen_t len = sizeof err;

  if (err != EINPROGRESS)
    return server_socket_error (error, err, "connect");
  if (!server_socket_wait (fd, G_IO_OUT, timeout, cancellable, error))
    return FALSE;
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return server_socket_error (error, errno, "getsockopt(SO_ERROR)");
  if (err != 0)
    return server_socket_error (error, err, "connect");
  return TRUE;
}

/**
 * postfix_front_upstream_connect:
 * @upstream: the upstream's address (inet or unix)
 * @connect_timeout: seconds the connect may take
 * @cancellable: (nullable): ends the connect's wait
 * @error: where a failure is described
 *
 * A connection to the upstream as a plain descriptor, to be read with the line reader
 * (server_line_reader_init_fd()) and written with server_socket_send_all(): socket(2)
 * (close-on-exec, non-blocking for the connect, so that @connect_timeout and
 * @cancellable bound it), connect(2), then blocking (the line reader gives a read in a
 * thread its timeout, SO_RCVTIMEO, at its first wait; a coroutine's reads never need it),
 * and TCP_NODELAY on TCP (whole commands and data buffers are written at once). No proxy
 * (the site's own Postfix), no GSocketClient (a client, an address enumerator, a GSocket
 * and its streams per connect: docs/postfix-front-io.md).
 *
 * Returns: the descriptor (the caller closes it), or -1 with @error set
 */
int
postfix_front_upstream_connect (GSocketAddress *upstream,
                                guint           connect_timeout,
                                GCancellable   *cancellable,
                                GError        **error)
{
  struct sockaddr_storage ss;
  gssize len = g_socket_address_get_native_size (upstream);
  int one = 1;
  int fd;

  if (len <= 0 || !g_socket_address_to_native (upstream, &ss, sizeof ss, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "the upstream's address cannot be used");
      return -1;
    }
  fd = socket (ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    {
      server_socket_error (error, errno, "socket");
      return -1;
    }
  if ((connect (fd, (struct sockaddr *) &ss, (socklen_t) len) != 0
       && !connect_finish (fd, errno, connect_timeout, cancellable, error))
      || fcntl (fd, F_SETFL, 0) != 0 /* blocking: a reader in a thread sleeps in recv(2) */)
    {
      if (error != NULL && *error == NULL)
        server_socket_error (error, errno, "fcntl(F_SETFL)");
      postfix_front_fd_close (fd);
      return -1;
    }
  /* A failure only costs latency (Nagle's wait for a delayed ACK). */
  if (ss.ss_family != AF_UNIX
      && setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    g_debug ("TCP_NODELAY on the upstream connection: %s", g_strerror (errno));
  return fd;
}

/**
 * postfix_front_read_reply:
 * @reader: the upstream's line reader
 * @reply: the whole reply (all its lines, each ended by CRLF)
 * @code: its code
 * @cancellable: (nullable)
 * @error: where a failure is described
 *
 * One upstream reply: at most POSTFIX_FRONT_REPLY_MAX_LINES lines of
 * POSTFIX_FRONT_REPLY_LINE_MAX octets, each "DDD" then " ", "-" or the line's end, no NUL
 * in it (a reply is passed on as text). Each line is read straight into @reply (no line
 * buffer per reply).
 *
 * Returns: FALSE on a bad or missing reply
 */
gboolean
postfix_front_read_reply (ServerLineReader *reader,
                          GString          *reply,
                          int              *code,
                          GCancellable     *cancellable,
                          GError          **error)
{
  g_string_truncate (reply, 0);
  for (guint n = 0; n < POSTFIX_FRONT_REPLY_MAX_LINES; n++)
    {
      g_autoptr (GError) local = NULL;
      gsize start = reply->len;
      ServerLineStatus st = server_line_reader_read_append (reader, POSTFIX_FRONT_REPLY_LINE_MAX,
                                                            reply, cancellable, &local);
      const char *line = reply->str + start;
      gsize len = reply->len - start;

      if (st != SERVER_LINE_OK || len < 4 || !g_ascii_isdigit (line[0])
          || !g_ascii_isdigit (line[1]) || !g_ascii_isdigit (line[2])
          || (line[3] != ' ' && line[3] != '-' && line[3] != '\r' && line[3] != '\n')
          || memchr (line, '\0', len) != NULL)
        {
          if (local != NULL)
            g_propagate_error (error, g_steal_pointer (&local));
          else
            g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 st == SERVER_LINE_EOF ? "connection closed" : "bad reply");
          return FALSE;
        }
      if (line[len - 2] != '\r')
        {
          g_string_truncate (reply, reply->len - 1);
          g_string_append_len (reply, "\r\n", 2);
          line = reply->str + start; /* the append may have moved it */
        }
      if (line[3] != '-')
        {
          *code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
          return TRUE;
        }
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "a reply of more than %d lines",
               POSTFIX_FRONT_REPLY_MAX_LINES);
  return FALSE;
}

/* One connection to the upstream, read directly, its greeting not read yet; or NULL. */
static Warm *
warm_connect (PostfixFrontPool *pool,
              guint             connect_timeout)
{
  g_autoptr (GError) error = NULL;
  int fd = postfix_front_upstream_connect (pool->upstream, connect_timeout, pool->cancel,
                                           &error);
  Warm *w;

  if (fd < 0)
    {
      g_debug ("warm connection to %s: %s", pool->upstream_name, error->message);
      return NULL;
    }
  w = g_new0 (Warm, 1);
  w->fd = fd;
  /* Not zeroed (a 16 KB memset per connection): the reader's state is set by its init,
   * and no octet outside what it read is ever looked at. */
  w->reader = g_new (ServerLineReader, 1);
  server_line_reader_init_fd (w->reader, fd, pool->timeout, TRUE);
  w->ready = g_get_monotonic_time ();
  return w;
}

/* @cancellable cancelled while a greeting is read: the reader's recv() returns. */
static void
warm_greet_cancelled (GCancellable *cancellable,
                      gpointer      data)
{
  shutdown (GPOINTER_TO_INT (data), SHUT_RDWR);
}

/* @w's 220 greeting read (waiting up to the pool's timeout, or @cancellable); FALSE: none
 * (logged). */
static gboolean
warm_greet (PostfixFrontPool *pool,
            Warm             *w,
            GCancellable     *cancellable)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) greeting = g_string_new (NULL);
  int code = 0;
  gulong handler = 0;
  gboolean ok;

  /* In a session's coroutine the reader parks on the descriptor with @cancellable and the
   * pool's timeout (its idle timeout) when it must wait; its first read is a recv
   * (server_line_reader_expect_data()): Postfix has nearly always greeted by the time a
   * session takes the link, so no readiness poll, no registration and no epoll_wait()
   * before it (docs/postfix-front-io.md, "The warm link's greeting"). A handler there
   * would also cost a g_cancellable_disconnect that waits, blocking the loop, for a
   * stop's handlers (postfix_front_sessions_stop waits for "." replies). */
  if (server_coro_in_loop ())
    {
      server_line_reader_expect_data (w->reader);
      ok = TRUE;
    }
  /* In a thread the reader may sleep in recv(), which sees no cancellable: wait here first
   * (one poll that returns at once when Postfix has greeted, the usual case); after a
   * partial greeting (a "220-" line, then a stall: postscreen's pregreet wait) the reader
   * sleeps in recv() up to the pool's timeout, so @cancellable shuts the socket down. */
  else
    ok = server_line_reader_available (w->reader) != 0
         || server_socket_wait (w->fd, G_IO_IN, pool->timeout, cancellable, &error);
  if (ok && cancellable != NULL && !server_coro_in_loop ())
    handler = g_cancellable_connect (cancellable, G_CALLBACK (warm_greet_cancelled),
                                     GINT_TO_POINTER (w->fd), NULL);
  ok = ok && postfix_front_read_reply (w->reader, greeting, &code, cancellable, &error);
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  if (!ok || code != 220)
    {
      g_debug ("warm connection to %s: no 220 greeting%s%s", pool->upstream_name, error ? ": " : "",
               error ? error->message : "");
      return FALSE;
    }
  w->greeting = g_string_free (g_steal_pointer (&greeting), FALSE);
  return TRUE;
}

/* One warm connection, greeted, or NULL (the pool's thread). */
static Warm *
warm_new (PostfixFrontPool *pool)
{
  Warm *w = warm_connect (pool, pool->timeout);

  if (w != NULL && !warm_greet (pool, w, pool->cancel))
    g_clear_pointer (&w, warm_free);
  if (w != NULL)
    w->ready = g_get_monotonic_time ();
  return w;
}

/* Closes @w: with QUIT once Postfix has greeted (it then logs a plain disconnect); before
 * its greeting QUIT would be input ahead of the greeting, so just closed. */
static void
warm_end (Warm *w)
{
  if (w->greeting != NULL || fd_events_now (w->fd, POLLIN) != 0)
    warm_quit (w);
  warm_free (w);
}

static gpointer
pool_thread (gpointer data)
{
  PostfixFrontPool *pool = data;
  gint64            retry_at = 0;

  g_mutex_lock (&pool->lock);
  while (!pool->stopping)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 idle = (gint64)pool->idle * G_USEC_PER_SEC;
      gint64 wake = now + idle;
      Warm  *head;

      /* Too old: Postfix would time it out (smtpd_timeout) while it waits here. */
      while ((head = g_queue_peek_head (&pool->warm)) != NULL && head->ready + idle <= now)
        {
          g_queue_pop_head (&pool->warm);
          g_mutex_unlock (&pool->lock);
          warm_end (head);
          g_mutex_lock (&pool->lock);
        }
      if (pool->stopping)
        break;
      if (pool->warm.length + pool->connecting < pool->size && now >= retry_at)
        {
          Warm *w;

          pool->connecting++;
          g_mutex_unlock (&pool->lock);
          w = warm_new (pool);
          g_mutex_lock (&pool->lock);
          pool->connecting--;
          if (w != NULL)
            g_queue_push_tail (&pool->warm, w);
          else
            retry_at = g_get_monotonic_time () + POSTFIX_FRONT_POOL_RETRY_MS * 1000;
          continue;
        }
      if ((head = g_queue_peek_head (&pool->warm)) != NULL)
        wake = MIN (wake, head->ready + idle);
      if (pool->warm.length + pool->connecting < pool->size)
        wake = MIN (wake, retry_at);
      g_cond_wait_until (&pool->cond, &pool->lock, wake);
    }
  g_mutex_unlock (&pool->lock);
  return NULL;
}

/**
 * postfix_front_pool_new:
 * @upstream: the upstream's address
 * @upstream_name: for logs
 * @size: connections kept warm, at most POSTFIX_FRONT_POOL_MAX_SIZE (> 0)
 * @idle: seconds one waits at most
 * @timeout: seconds for connect and reads
 *
 * Starts the pool's thread, which opens the connections.
 *
 * Returns: (transfer full): the pool
 */
PostfixFrontPool *
postfix_front_pool_new (GSocketAddress *upstream,
                        const char     *upstream_name,
                        guint           size,
                        guint           idle,
                        guint           timeout)
{
  PostfixFrontPool *pool = g_new0 (PostfixFrontPool, 1);
  GPollFD pfd;

  g_return_val_if_fail (size > 0 && size <= POSTFIX_FRONT_POOL_MAX_SIZE, NULL);
  pool->upstream = g_object_ref (upstream);
  pool->upstream_name = g_strdup (upstream_name);
  pool->size = size;
  pool->idle = MAX (idle, 1);
  pool->timeout = timeout;
  pool->cancel = g_cancellable_new ();
  /* Its poll fd held for good: else each connect and greeting made and closed one. */
  g_cancellable_make_pollfd (pool->cancel, &pfd);
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->cond);
  g_queue_init (&pool->warm);
  pool->thread = g_thread_new ("upstream-pool", pool_thread, pool);
  return pool;
}

/**
 * postfix_front_pool_take:
 * @pool: the pool
 * @fd: (out) (transfer full): a connection whose greeting was read (the caller closes it)
 * @reader: (out) (transfer full): its line reader (g_free)
 * @greeting: the upstream's 220 greeting, CRLF kept
 * @cancellable: (nullable): the session's, for the wait for a refilled connection's
 *   greeting
 *
 * A warm connection, for one client session only (the session closes it). Connections
 * Postfix closed or answered meanwhile (a 421 timeout) are dropped; a refilled one's
 * greeting is read here (Postfix has usually sent it long before). Does not wake the
 * pool's thread: the session refills the pool when it ends (postfix_front_pool_refill()).
 *
 * Returns: FALSE when none is ready (connect directly)
 */
gboolean
postfix_front_pool_take (PostfixFrontPool   *pool,
                         int                *fd,
                         ServerLineReader  **reader,
                         GString            *greeting,
                         GCancellable       *cancellable)
{
  gint64 idle = (gint64)pool->idle * G_USEC_PER_SEC;
  gint64 now = g_get_monotonic_time ();

  for (;;)
    {
      Warm *w;

      g_mutex_lock (&pool->lock);
      w = g_queue_pop_head (&pool->warm);
      g_mutex_unlock (&pool->lock);
      if (w == NULL)
        return FALSE;
      /* Too old: Postfix may time it out. Readable after its greeting, before we spoke:
       * Postfix closed it or said 421. Also for a greeting read just now: the recv that
       * took it does not see an end of file behind it (a link to a Postfix stopped since
       * holds its 220, then the end: the poll sees it, the client is not greeted on a
       * dead link). */
      if (w->ready + idle <= now || (w->greeting == NULL && !warm_greet (pool, w, cancellable))
          || server_line_reader_available (w->reader) != 0
          || fd_events_now (w->fd, POLLIN) != 0)
        {
          warm_free (w);
          continue;
        }
      *fd = w->fd;
      *reader = g_steal_pointer (&w->reader);
      g_string_assign (greeting, w->greeting);
      g_free (w->greeting);
      g_free (w);
      return TRUE;
    }
}

/**
 * postfix_front_pool_refill:
 * @pool: the pool
 *
 * Called by a session when it ends (its client gone): when the pool holds fewer than its
 * size (counting connects under way), one more connection, connected here (at most
 * POSTFIX_FRONT_POOL_REFILL_CONNECT_TIMEOUT seconds; on loopback or a unix socket it does
 * not wait) and put in the pool without waiting for Postfix's greeting (the session that
 * takes it reads it). So the pool's thread is not woken per session, and nobody sleeps
 * for the greeting. A failed connect wakes the pool's thread, which retries after
 * POSTFIX_FRONT_POOL_RETRY_MS.
 */
void
postfix_front_pool_refill (PostfixFrontPool *pool)
{
  Warm *w;

  g_mutex_lock (&pool->lock);
  if (pool->stopping || pool->warm.length + pool->connecting >= pool->size)
    {
      g_mutex_unlock (&pool->lock);
      return;
    }
  pool->connecting++;
  g_mutex_unlock (&pool->lock);
  w = warm_connect (pool, POSTFIX_FRONT_POOL_REFILL_CONNECT_TIMEOUT);
  /* The connect's wait in a session's coroutine registered it with that loop; the session
   * that takes it may run on another (server-coro.h: forgotten before it moves). */
  if (w != NULL && server_coro_in_loop ())
    server_coro_forget_fd (w->fd);
  g_mutex_lock (&pool->lock);
  pool->connecting--;
  if (w != NULL && !pool->stopping)
    g_queue_push_tail (&pool->warm, g_steal_pointer (&w));
  else if (w == NULL)
    g_cond_signal (&pool->cond);
  g_mutex_unlock (&pool->lock);
  if (w != NULL)
    warm_free (w);
}

/* postfix_front_pool_free: stops the thread, closes what is left. */
void
postfix_front_pool_free (PostfixFrontPool *pool)
{
  Warm *w;

  if (pool == NULL)
    return;
  g_mutex_lock (&pool->lock);
  pool->stopping = TRUE;
  g_cancellable_cancel (pool->cancel);
  g_cond_signal (&pool->cond);
  g_mutex_unlock (&pool->lock);
  g_thread_join (pool->thread);
  while ((w = g_queue_pop_head (&pool->warm)) != NULL)
    warm_end (w);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->cond);
  g_cancellable_release_fd (pool->cancel);
  g_object_unref (pool->cancel);
  g_object_unref (pool->upstream);
  g_free (pool->upstream_name);
  g_free (pool);
}
