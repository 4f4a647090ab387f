/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-line-reader.c: a bounded line reader for the servers (contract:
 * server-line-reader.h), SMTP server and client side and MTQP.
 *
 * How: one fixed buffer; a line is found with memchr and copied out; the unread rest is
 * moved to the front before the next read(2), so a pipelined batch is read with as few
 * reads as the client's writes allow. With a direct socket, one blocking recv(2) per read
 * (SO_RCVTIMEO the timeout, set lazily: right before the first blocking recv, then only
 * when it must change; a coroutine's reads never set it) instead of GIO's recv, poll, recv. A deadline: SO_RCVTIMEO
 * lowered to the time left when that is shorter than the idle timeout (by more than
 * SERVER_LINE_DEADLINE_SLACK_US), put back when the next deadline is far again.
 * Limits: the caller's max must be smaller than SERVER_LINE_BUFFER_SIZE.
 * Never: return part of an overlong line as a line (read_piece returns it as a piece, not
 * ended by LF); keep a copy of consumed octets when
 * wiping is on.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "msgtrk.h"
#include "server-coro.h"
#include "server-line-reader.h"

/* server_line_reader_init: a reader of @in (not owned) with an empty buffer. */
void
server_line_reader_init (ServerLineReader *reader,
                         GInputStream     *in,
                         gboolean          wipe)
{
  reader->in = in;
  reader->wipe = wipe;
  reader->hook = NULL;
  reader->hook_data = NULL;
  reader->start = 0;
  reader->end = 0;
  reader->discarding = FALSE;
  reader->nonblocking = FALSE;
  reader->fd = -1;
  reader->deadline_cancel = NULL;
  reader->idle_us = 0;
  reader->rcvtimeo_us = 0;
  reader->deadline = 0;
  reader->min_rate = 0;
  reader->cap_us = 0;
  reader->deadline_expired = FALSE;
  reader->drained = FALSE;
  reader->read_first = FALSE;
}

/**
 * server_socket_error:
 * @error: (nullable): where the error goes
 * @saved: the errno of the failed call
 * @what: the call that failed ("connect", "setsockopt(SO_RCVTIMEO)")
 *
 * A socket call's failure as a #GIOError: "@what: strerror".
 *
 * Returns: %FALSE, so a caller can return it
 */
gboolean
server_socket_error (GError    **error,
                     int         saved,
                     const char *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", what,
               g_strerror (saved));
  return FALSE;
}

/**
 * server_socket_set_read_timeout:
 * @fd: a socket in blocking mode
 * @timeout: seconds a recv(2) waits at most (0: for ever)
 * @error: where a failure is described
 *
 * Sets SO_RCVTIMEO (a recv that waited that long fails with EAGAIN, which the direct
 * reader reports as G_IO_ERROR_TIMED_OUT).
 *
 * Returns: FALSE on failure
 */
gboolean
server_socket_set_read_timeout (int      fd,
                                guint    timeout,
                                GError **error)
{
  struct timeval tv = { (time_t) timeout, 0 };

  if (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    return server_socket_error (error, errno, "setsockopt(SO_RCVTIMEO)");
  return TRUE;
}

/* SO_RCVTIMEO of the direct socket to @us microseconds (0: for ever), remembered. */
static gboolean
set_rcvtimeo (ServerLineReader *reader,
              gint64            us,
              GError          **error)
{
  struct timeval tv = { (time_t) (us / G_USEC_PER_SEC), (suseconds_t) (us % G_USEC_PER_SEC) };

  if (setsockopt (reader->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    return server_socket_error (error, errno, "setsockopt(SO_RCVTIMEO)");
  reader->rcvtimeo_us = us;
  return TRUE;
}

/**
 * server_line_reader_set_deadline:
 * @reader: a reader
 * @deadline: monotonic microseconds (g_get_monotonic_time()) by which the reads must have
 *   their octets, 0: none (only the idle timeout)
 * @min_rate: octets a second: each octet received moves @deadline 1/@min_rate s later
 *   (0: it does not move)
 * @cap: seconds: the moved deadline is never later than @cap from the time the octets
 *   came (as Postfix's smtpd_timeout caps smtpd_min_data_rate's credit: a burst cannot
 *   bank time for a trickle after it); 0: no cap
 *
 * Bounds the reads from now on (see the top of server-line-reader.h); a read past
 * @deadline fails with G_IO_ERROR_TIMED_OUT and server_line_reader_deadline_expired().
 * No system call: a direct socket's timeout is set by the next read that must wait.
 */
void
server_line_reader_set_deadline (ServerLineReader *reader,
                                 gint64            deadline,
                                 guint             min_rate,
                                 guint             cap)
{
  reader->deadline = deadline;
  reader->min_rate = min_rate;
  reader->cap_us = (gint64) cap * G_USEC_PER_SEC;
  reader->deadline_expired = FALSE;
}

/* Whether the last failed read ended at the deadline (not at the idle timeout). */
gboolean
server_line_reader_deadline_expired (ServerLineReader *reader)
{
  return reader->deadline_expired;
}

static gssize
deadline_error (ServerLineReader *reader,
                GError          **error)
{
  reader->deadline_expired = TRUE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Deadline exceeded");
  return -1;
}

/* The octets just read move the deadline (at the minimum rate), to at most the cap from
 * now (clock_gettime is in the vDSO: no system call). */
static void
deadline_extend (ServerLineReader *reader,
                 gssize            n)
{
  if (reader->deadline != 0 && reader->min_rate > 0 && n > 0)
    {
      reader->deadline += (gint64) n * G_USEC_PER_SEC / reader->min_rate;
      if (reader->cap_us > 0)
        reader->deadline = MIN (reader->deadline, g_get_monotonic_time () + reader->cap_us);
    }
}

/* Before a direct read: SO_RCVTIMEO min(idle timeout, time left), unless it is that
 * within SERVER_LINE_DEADLINE_SLACK_US already. -1 (@error set) when no time is left. */
static gssize
direct_timeout (ServerLineReader *reader,
                GError          **error)
{
  gint64 want = reader->idle_us;

  if (reader->deadline != 0)
    {
      gint64 left = reader->deadline - g_get_monotonic_time ();

      if (left <= 0)
        return deadline_error (reader, error);
      want = want > 0 ? MIN (want, left) : left;
    }
  if (want == reader->rcvtimeo_us
      || (want > 0 && reader->rcvtimeo_us > 0
          && ABS (want - reader->rcvtimeo_us) <= SERVER_LINE_DEADLINE_SLACK_US))
    return 0;
  return set_rcvtimeo (reader, want, error) ? 0 : -1;
}

/**
 * server_line_reader_init_fd:
 * @reader: a reader
 * @fd: a connected socket (not owned), not under TLS, in blocking mode; its SO_RCVTIMEO
 *   is the reader's: set right before the first recv that blocks (a read in a thread),
 *   never for reads in a coroutine (they park with @timeout instead), so the caller need
 *   not set it (server_socket_set_read_timeout())
 * @timeout: the idle read timeout, seconds (0: none): a read goes back to it after a
 *   nearer deadline (server_line_reader_set_deadline())
 * @wipe: overwrite consumed octets
 *
 * A reader of @fd with an empty buffer: each read is one recv(2) (see the top of
 * server-line-reader.h), no GIO stream.
 */
void
server_line_reader_init_fd (ServerLineReader *reader,
                            int               fd,
                            guint             timeout,
                            gboolean          wipe)
{
  server_line_reader_init (reader, NULL, wipe);
  reader->fd = fd;
  reader->idle_us = (gint64) timeout * G_USEC_PER_SEC;
  reader->rcvtimeo_us = -1; /* not set by the reader yet: the first blocking recv sets it */
}

/* A park on @fd (server_coro_wait_fd()) with server_socket_wait()'s errors. */
static gboolean
coro_wait (int           fd,
           GIOCondition  condition,
           gint64        deadline,
           GCancellable *cancellable,
           GError      **error)
{
  int r = server_coro_wait_fd (fd, condition, deadline, cancellable);

  if (r == 0)
    return TRUE;
  if (r == ECANCELED && g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (r == ETIMEDOUT)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Socket I/O timed out");
      return FALSE;
    }
  return server_coro_wait_error (r, error);
}

/**
 * server_socket_wait:
 * @fd: a socket
 * @condition: G_IO_IN or G_IO_OUT (an error or hang-up on @fd ends the wait too)
 * @timeout: seconds to wait at most (0: for ever)
 * @cancellable: (nullable): ends the wait (its pollfd is polled beside @fd)
 * @error: where a failure is described
 *
 * Waits with poll(2) until @fd is ready for @condition; in a coroutine parks instead
 * (server_coro_wait_fd()) unless a poll(2) without timeout finds it ready.
 *
 * Returns: FALSE on cancellation (G_IO_ERROR_CANCELLED), timeout (G_IO_ERROR_TIMED_OUT)
 *   or failure
 */
gboolean
server_socket_wait (int           fd,
                    GIOCondition  condition,
                    guint         timeout,
                    GCancellable *cancellable,
                    GError      **error)
{
  gint64 deadline = timeout > 0 ? g_get_monotonic_time () + (gint64) timeout * G_USEC_PER_SEC : -1;
  GPollFD fds[2] = { { fd, (gushort) condition, 0 }, { -1, G_IO_IN, 0 } };
  int nfds = 1;
  int r;

  if (server_coro_in_loop ())
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      do
        r = g_poll (fds, 1, 0);
      while (r < 0 && errno == EINTR);
      if (r > 0)
        return TRUE;
      return coro_wait (fd, condition, timeout > 0 ? deadline : 0, cancellable, error);
    }
  if (cancellable != NULL && g_cancellable_make_pollfd (cancellable, &fds[1]))
    nfds = 2;
  do
    {
      gint64 left = deadline < 0 ? -1 : MAX (deadline - g_get_monotonic_time (), 0);

      r = g_poll (fds, nfds, left < 0 ? -1 : (int) ((left + 999) / 1000));
    }
  while (r < 0 && errno == EINTR);
  if (nfds == 2)
    g_cancellable_release_fd (cancellable);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (r == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Socket I/O timed out");
      return FALSE;
    }
  if (r < 0)
    return server_socket_error (error, errno, "poll");
  return TRUE;
}

/**
 * server_socket_send_all:
 * @fd: a connected socket (blocking or not)
 * @data: what to write
 * @len: its length
 * @timeout: seconds the socket may stay full before the write fails (0: for ever)
 * @cancellable: (nullable): ends a wait for room (a write that need not wait is made
 *   even when it is cancelled)
 * @error: where a failure is described
 *
 * Writes all of @data: send(2) without blocking (MSG_NOSIGNAL), and only when the socket
 * buffer is full a poll(2) for room, at most @timeout seconds (G_IO_ERROR_TIMED_OUT); in a
 * coroutine a park on @fd instead. Usually one system call.
 *
 * Returns: FALSE on failure
 */
gboolean
server_socket_send_all (int           fd,
                        const void   *data,
                        gsize         len,
                        guint         timeout,
                        GCancellable *cancellable,
                        GError      **error)
{
  const char *p = data;

  /* Not checked before a send that does not wait: a session ended by cancellation still
   * says why ("421 ... Shutting down"). */
  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n > 0)
        {
          p += n;
          len -= (gsize) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          gboolean ok;

          /* In a coroutine the EAGAIN is the edge's cue: no poll first. */
          if (server_coro_in_loop ())
            ok = coro_wait (fd, G_IO_OUT,
                            timeout > 0 ? g_get_monotonic_time ()
                                            + (gint64) timeout * G_USEC_PER_SEC
                                        : 0,
                            cancellable, error);
          else
            ok = server_socket_wait (fd, G_IO_OUT, timeout, cancellable, error);
          if (!ok)
            return FALSE;
          continue;
        }
      return server_socket_error (error, n < 0 ? errno : EPIPE, "send");
    }
  return TRUE;
}

/* The direct socket in a coroutine: recv(2) with MSG_DONTWAIT unless a short read or
 * EAGAIN said the socket is drained, else a park until min(now + idle timeout, deadline).
 * The same results as fill_socket's blocking recv. */
static gssize
fill_socket_coro (ServerLineReader *reader,
                  GCancellable     *cancellable,
                  GError          **error)
{
  gsize room = sizeof reader->buf - reader->end;

  if (reader->deadline != 0 && g_get_monotonic_time () >= reader->deadline)
    {
      /* Past the deadline: what the client sent meanwhile is taken without waiting. */
      ssize_t n = recv (reader->fd, reader->buf + reader->end, room, MSG_DONTWAIT);

      if (n > 0)
        return n;
      return deadline_error (reader, error);
    }
  for (;;)
    {
      gint64 now, until;
      int r;

      /* A descriptor not yet registered: the registration's event tells whether there is
       * anything to read (a session's first read, after its greeting or connect, nearly
       * always finds nothing: a failed recv saved); unless data is expected there
       * (server_line_reader_expect_data(): a recv first, the registration only on EAGAIN). */
      if (!reader->drained && !reader->read_first && !server_coro_has_fd (reader->fd))
        reader->drained = TRUE;
      reader->read_first = FALSE;
      if (!reader->drained)
        {
          ssize_t n = recv (reader->fd, reader->buf + reader->end, room, MSG_DONTWAIT);

          if (n >= 0)
            {
              reader->drained = n > 0 && (gsize) n < room;
              return n;
            }
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            {
              server_socket_error (error, errno, "recv");
              return -1;
            }
          reader->drained = TRUE;
        }
      now = g_get_monotonic_time ();
      until = reader->idle_us > 0 ? now + reader->idle_us : 0;
      if (reader->deadline != 0)
        until = until != 0 ? MIN (until, reader->deadline) : reader->deadline;
      r = server_coro_wait_fd (reader->fd, G_IO_IN, until, cancellable);
      if (r == 0)
        {
          reader->drained = FALSE;
          continue;
        }
      if (r == ETIMEDOUT)
        {
          if (reader->deadline != 0
              && g_get_monotonic_time () >= reader->deadline - SERVER_LINE_DEADLINE_SLACK_US)
            return deadline_error (reader, error);
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Socket I/O timed out");
          return -1;
        }
      if (r == ECANCELED && g_cancellable_set_error_if_cancelled (cancellable, error))
        return -1;
      server_coro_wait_error (r, error);
      return -1;
    }
}

/* One recv(2) on the direct socket (blocking, SO_RCVTIMEO: direct_timeout); in a
 * coroutine fill_socket_coro. */
static gssize
fill_socket (ServerLineReader *reader,
             GCancellable     *cancellable,
             GError          **error)
{
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return -1;
  if (server_coro_in_loop ())
    return fill_socket_coro (reader, cancellable, error);
  for (;;)
    {
      ssize_t n;

      if (direct_timeout (reader, error) < 0)
        {
          /* Past the deadline: the octets the client sent while the front waited on
           * something else (the upstream) are still its own: taken without waiting. */
          if (!reader->deadline_expired)
            return -1;
          n = recv (reader->fd, reader->buf + reader->end, sizeof reader->buf - reader->end,
                    MSG_DONTWAIT);
          if (n > 0)
            {
              g_clear_error (error);
              reader->deadline_expired = FALSE;
              return n;
            }
          return -1;
        }
      n = recv (reader->fd, reader->buf + reader->end, sizeof reader->buf - reader->end, 0);
      if (n >= 0)
        return n;
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
          if (reader->deadline != 0
              && g_get_monotonic_time () >= reader->deadline - SERVER_LINE_DEADLINE_SLACK_US)
            return deadline_error (reader, error);
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                               "Socket I/O timed out");
          return -1;
        }
      server_socket_error (error, errno, "recv");
      return -1;
    }
}

/**
 * server_line_reader_set_deadline_cancellable:
 * @reader: a reader of a GIO stream (a TLS stream)
 * @cancellable: (nullable): the reader's own (not owned; it outlives the reader's use):
 *   none when NULL
 *
 * With a deadline set, each blocking read of the stream is then given @cancellable,
 * cancelled by a timer at the deadline (a GSource of the default main context, which the
 * caller's main thread runs) or by the read's own cancellable: the deadline bounds the
 * read itself, not just its start (one read of a TLS stream gathers a whole record, and
 * the stream's timeout restarts at each octet).
 */
void
server_line_reader_set_deadline_cancellable (ServerLineReader *reader,
                                             GCancellable     *cancellable)
{
  reader->deadline_cancel = cancellable;
}

static gboolean
deadline_timer_fired (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
deadline_caller_cancelled (GCancellable *caller,
                           gpointer      data)
{
  g_cancellable_cancel (data);
}

/* A blocking read of the stream that ends at the deadline (set_deadline_cancellable). */
static gssize
fill_timed (ServerLineReader *reader,
            GCancellable     *cancellable,
            GError          **error)
{
  for (;;)
    {
      g_autoptr (GError) local = NULL;
      g_autoptr (GSource) timer = NULL;
      gint64 left = reader->deadline - g_get_monotonic_time ();
      gulong id = 0;
      gssize n;

      if (left <= 0)
        return deadline_error (reader, error);
      g_cancellable_reset (reader->deadline_cancel);
      if (cancellable != NULL)
        id = g_cancellable_connect (cancellable, G_CALLBACK (deadline_caller_cancelled),
                                    reader->deadline_cancel, NULL);
      timer = g_timeout_source_new ((guint) MIN ((left + 999) / 1000, G_MAXUINT));
      g_source_set_callback (timer, deadline_timer_fired,
                             g_object_ref (reader->deadline_cancel), g_object_unref);
      g_source_attach (timer, NULL);
      n = g_input_stream_read (reader->in, reader->buf + reader->end,
                               sizeof reader->buf - reader->end, reader->deadline_cancel,
                               &local);
      g_source_destroy (timer);
      if (id != 0)
        g_cancellable_disconnect (cancellable, id);
      if (n >= 0)
        return n;
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return -1;
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED)
          || g_error_matches (local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        {
          if (g_get_monotonic_time () >= reader->deadline - SERVER_LINE_DEADLINE_SLACK_US)
            return deadline_error (reader, error);
          /* The timer of the read before, dispatched as it ended: not this read's. */
          if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            continue;
        }
      g_propagate_error (error, g_steal_pointer (&local));
      return -1;
    }
}

/* server_line_reader_set_nonblocking: read without blocking (@in must be a
 * GPollableInputStream): a read that would block ends the call with
 * G_IO_ERROR_WOULD_BLOCK, nothing lost. */
void
server_line_reader_set_nonblocking (ServerLineReader *reader,
                                    gboolean          nonblocking)
{
  g_return_if_fail (!nonblocking || G_IS_POLLABLE_INPUT_STREAM (reader->in));
  reader->nonblocking = nonblocking;
}

/* server_line_reader_set_hook: @hook runs before each blocking read (NULL: none). */
void
server_line_reader_set_hook (ServerLineReader  *reader,
                             ServerLineFillHook hook,
                             gpointer           user_data)
{
  reader->hook = hook;
  reader->hook_data = user_data;
}

/* Octets received and not yet returned as lines. */
gsize
server_line_reader_available (ServerLineReader *reader)
{
  return reader->end - reader->start;
}

/**
 * server_line_reader_expect_data:
 * @reader: a direct reader (server_line_reader_init_fd())
 *
 * In a coroutine, the next read recv(2)s (MSG_DONTWAIT) before any wait even when the
 * coroutine has not registered the descriptor yet: for data that is most likely there
 * already (a warm upstream link's greeting, sent by the upstream long before). It is then
 * read without a readiness poll, a registration or an epoll_wait(); on EAGAIN the read
 * parks as any other (the registration reports what came meanwhile: nothing is lost).
 * Without it such a first read waits for the registration's event (one epoll_wait() more
 * when the data is there, a failed recv saved when it is not: a client's first command).
 * Nothing outside a coroutine (a read there recv()s first anyway).
 */
void
server_line_reader_expect_data (ServerLineReader *reader)
{
  reader->drained = FALSE;
  reader->read_first = TRUE;
}

/* Drop the buffered octets (wiped when wiping is on), e.g. at STARTTLS. */
void
server_line_reader_clear (ServerLineReader *reader)
{
  if (reader->wipe)
    msgtrk_secure_wipe (reader->buf, sizeof reader->buf);
  reader->start = reader->end = 0;
}

/* server_line_strip_end: removes the line end a read line carries (its LF and a CR
 * before it); FALSE when the rest holds a NUL (a command must not: the SMTP servers
 * answer 500 5.5.2). */
gboolean
server_line_strip_end (GString *line)
{
  if (line->len > 0 && line->str[line->len - 1] == '\n')
    g_string_truncate (line, line->len - 1);
  if (line->len > 0 && line->str[line->len - 1] == '\r')
    g_string_truncate (line, line->len - 1);
  return memchr (line->str, '\0', line->len) == NULL;
}

static gssize
fill (ServerLineReader *reader,
      GCancellable     *cancellable,
      GError          **error)
{
  gssize n;

  if (reader->start > 0)
    {
      gsize rest = reader->end - reader->start;

      memmove (reader->buf, reader->buf + reader->start, rest);
      if (reader->wipe)
        msgtrk_secure_wipe (reader->buf + rest, reader->start);
      reader->end = rest;
      reader->start = 0;
    }
  if (reader->hook != NULL)
    {
      gint64 before = reader->deadline != 0 ? g_get_monotonic_time () : 0;

      if (!reader->hook (reader->hook_data, error))
        return -1;
      /* The hook's time (the front waiting for its upstream's replies, or writing held
       * data to it) is not the client's: the deadline moves by as much. */
      if (reader->deadline != 0)
        reader->deadline += g_get_monotonic_time () - before;
    }
  reader->deadline_expired = FALSE;
  if (reader->fd >= 0)
    n = fill_socket (reader, cancellable, error);
  else if (reader->deadline_cancel != NULL && reader->deadline != 0 && !reader->nonblocking)
    n = fill_timed (reader, cancellable, error);
  else if (reader->fd < 0 && reader->deadline != 0
           && g_get_monotonic_time () >= reader->deadline)
    /* A stream without its descriptor: the deadline looked at before each read only. */
    return deadline_error (reader, error);
  else if (reader->nonblocking)
    n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (reader->in),
                                                  reader->buf + reader->end,
                                                  sizeof reader->buf - reader->end,
                                                  cancellable, error);
  else
    n = g_input_stream_read (reader->in, reader->buf + reader->end,
                             sizeof reader->buf - reader->end, cancellable, error);
  if (n > 0)
    {
      reader->end += (gsize) n;
      deadline_extend (reader, n);
    }
  else if (n < 0 && reader->fd < 0 && reader->deadline != 0
           && g_get_monotonic_time () >= reader->deadline)
    reader->deadline_expired = TRUE;
  return n;
}

/* A line of at most @max octets, or with @pieces the next @max octets of a longer one,
 * into @line (with @append after what it holds; else in its place). */
static ServerLineStatus
read_line (ServerLineReader *reader,
           gsize             max,
           gboolean          pieces,
           gboolean          append,
           GString          *line,
           GCancellable     *cancellable,
           GError          **error)
{
  g_return_val_if_fail (max < SERVER_LINE_BUFFER_SIZE && (max > 0 || !pieces), SERVER_LINE_ERROR);

  if (!append)
    g_string_truncate (line, 0);
  for (;;)
    {
      char *base = reader->buf + reader->start;
      gsize avail = reader->end - reader->start;
      char *lf = memchr (base, '\n', avail);
      gssize n;

      if (pieces && !reader->discarding && (lf != NULL ? (gsize) (lf - base) + 1 : avail) > max)
        {
          /* A piece: @max octets of an overlong line, its LF still to come. */
          reader->start += max;
          g_string_append_len (line, base, (gssize) max);
          if (reader->wipe)
            msgtrk_secure_wipe (base, max);
          return SERVER_LINE_OK;
        }
      if (lf != NULL)
        {
          gsize len = (gsize) (lf - base) + 1;

          gboolean discarded = reader->discarding;

          reader->start += len;
          reader->discarding = FALSE;
          if (!discarded && len <= max)
            g_string_append_len (line, base, (gssize) len);
          if (reader->wipe)
            msgtrk_secure_wipe (base, len);
          return discarded || len > max ? SERVER_LINE_TOO_LONG : SERVER_LINE_OK;
        }
      if (avail > max)
        {
          /* Too long already: drop what we have and skip to the next LF (remembered
           * across calls: a non-blocking stream may end a call with WOULD_BLOCK here). */
          reader->discarding = TRUE;
          server_line_reader_clear (reader);
        }
      n = fill (reader, cancellable, error);
      if (n < 0)
        return SERVER_LINE_ERROR;
      if (n == 0)
        return SERVER_LINE_EOF;
    }
}

/**
 * server_line_reader_peek:
 * @reader: a reader
 * @max: the most octets to hand out
 * @data: (out) (transfer none): the octets buffered, valid until the reader's next call
 * @len: (out): how many (at least 1 with SERVER_LINE_OK, at most @max)
 * @cancellable: (nullable): as for server_line_reader_read()
 * @error: where a failure is described
 *
 * The octets buffered, without consuming them, after a read (through the fill hook, with
 * the deadline, as a line read) when there are none: a proxy that streams data on by the
 * buffer rather than by the line (msgtrk-submit-front's message body), taking what it
 * used with server_line_reader_consume(). Not inside an overlong line a line read threw
 * away part of.
 *
 * Returns: %SERVER_LINE_OK, %SERVER_LINE_EOF or %SERVER_LINE_ERROR (@error set)
 */
ServerLineStatus
server_line_reader_peek (ServerLineReader *reader,
                         gsize             max,
                         const char      **data,
                         gsize            *len,
                         GCancellable     *cancellable,
                         GError          **error)
{
  g_return_val_if_fail (max > 0 && !reader->discarding, SERVER_LINE_ERROR);

  if (reader->end == reader->start)
    {
      gssize n = fill (reader, cancellable, error);

      if (n < 0)
        return SERVER_LINE_ERROR;
      if (n == 0)
        return SERVER_LINE_EOF;
    }
  *data = reader->buf + reader->start;
  *len = MIN (reader->end - reader->start, max);
  return SERVER_LINE_OK;
}

/**
 * server_line_reader_consume:
 * @reader: a reader
 * @len: octets used, at most what the last server_line_reader_peek() handed out
 *
 * The first @len octets of a peek taken (wiped when wiping is on); the rest stays for the
 * next read.
 */
void
server_line_reader_consume (ServerLineReader *reader,
                            gsize             len)
{
  g_return_if_fail (len <= reader->end - reader->start);

  if (reader->wipe)
    msgtrk_secure_wipe (reader->buf + reader->start, len);
  reader->start += len;
}

/* Read one line of at most @max octets (terminator included) into @line. */
ServerLineStatus
server_line_reader_read (ServerLineReader *reader,
                         gsize             max,
                         GString          *line,
                         GCancellable     *cancellable,
                         GError          **error)
{
  return read_line (reader, max, FALSE, FALSE, line, cancellable, error);
}

/*
 * server_line_reader_read_append:
 *
 * As server_line_reader_read(), but the line is appended to @line, which keeps what it
 * held (nothing is appended unless SERVER_LINE_OK): a caller that gathers lines (an SMTP
 * reply of several) needs no line buffer of its own.
 */
ServerLineStatus
server_line_reader_read_append (ServerLineReader *reader,
                                gsize             max,
                                GString          *line,
                                GCancellable     *cancellable,
                                GError          **error)
{
  return read_line (reader, max, FALSE, TRUE, line, cancellable, error);
}

/*
 * server_line_reader_read_piece:
 *
 * As server_line_reader_read(), but a line longer than @max is not thrown away: it comes
 * in pieces, each its next @max octets (SERVER_LINE_OK, @line not ended by LF), the last
 * piece with its LF (a proxy that streams long lines on: msgtrk-submit-front's DATA).
 */
ServerLineStatus
server_line_reader_read_piece (ServerLineReader *reader,
                               gsize             max,
                               GString          *line,
                               GCancellable     *cancellable,
                               GError          **error)
{
  return read_line (reader, max, TRUE, FALSE, line, cancellable, error);
}
