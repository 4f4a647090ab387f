/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-relay-epoll.c: an SMTP relay in one thread on raw epoll with non-blocking
 * sockets (HAProxy's model), built twice: bench-relay-epoll copies bytes as they come,
 * bench-relay-epoll-lockstep (BENCH_RELAY_LOCKSTEP) reads only the side whose turn it is
 * (BenchLockstep), the front's protocol shape (docs/postfix-front-io.md).
 *
 *   bench-relay-epoll[-lockstep] --port-file FILE --upstream 127.0.0.1:PORT
 *
 * What: the listening socket level-triggered (one accept4() per event); each session's
 * two sockets edge-triggered for input and output, registered once. A readable side is
 * read when the other side's output buffer is empty (a short read means it is drained);
 * what send() does not take waits in that buffer for the next EPOLLOUT. The upstream
 * connect is non-blocking. SIGTERM/SIGINT come through a signalfd: every session is
 * closed and freed.
 * Limits: BENCH_RELAY_BUFFER_SIZE octets in flight per direction, BENCH_EPOLL_EVENTS
 * events per epoll_wait(). No idle timeout.
 * Never: parse more than BenchLockstep does; used by bench-postfix-front.py
 * --extra-proxy only (not installed, not a test).
 */
#include "bench-relay-common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BENCH_EPOLL_EVENTS 64

typedef struct Session Session;

typedef struct
{
  Session *session;
  int      fd;
  gboolean readable;
  gboolean writable;
  gsize    out_off, out_len; /* octets of out waiting to be sent to fd */
  char     out[BENCH_RELAY_BUFFER_SIZE];
} End;

struct Session
{
  End      client;
  End      up;
  gboolean connecting;
  gboolean dead; /* closed in this batch of events; freed after it */
#ifdef BENCH_RELAY_LOCKSTEP
  BenchLockstep ls;
#endif
};

static char listen_tag, signal_tag; /* epoll data of the two fds that are not an End */

/* Sends what waits for @e; FALSE: the connection failed. */
static gboolean
flush (End *e)
{
  while (e->out_len > 0 && e->writable)
    {
      ssize_t n = send (e->fd, e->out + e->out_off, e->out_len, MSG_NOSIGNAL);

      if (n < 0 && errno == EAGAIN)
        e->writable = FALSE;
      else if (n < 0)
        return FALSE;
      else
        {
          e->out_off += (gsize)n;
          e->out_len -= (gsize)n;
        }
    }
  return TRUE;
}

/* Moves octets from @src to @dst while it can; FALSE: end the session. */
static gboolean
move (Session *s, End *src, End *dst, gboolean *progress)
{
  ssize_t n;

  if (!src->readable || dst->out_len > 0)
    return TRUE;
#ifdef BENCH_RELAY_LOCKSTEP
  if ((src == &s->up) != (s->ls.replies_due > 0))
    return TRUE; /* not this side's turn */
#endif
  n = recv (src->fd, dst->out, sizeof dst->out, 0);
  if (n < 0 && errno == EAGAIN)
    {
      src->readable = FALSE;
      return TRUE;
    }
  if (n <= 0)
    return FALSE;
  if ((gsize)n < sizeof dst->out)
    src->readable = FALSE;
#ifdef BENCH_RELAY_LOCKSTEP
  if (src == &s->up)
    bench_lockstep_upstream (&s->ls, dst->out, (gsize)n);
  else
    bench_lockstep_client (&s->ls, dst->out, (gsize)n);
#endif
  dst->out_off = 0;
  dst->out_len = (gsize)n;
  *progress = TRUE;
  return flush (dst);
}

/* Runs @s after its events: FALSE: end it. */
static gboolean
pump (Session *s)
{
  gboolean progress = TRUE;

  if (s->connecting)
    {
      int       err = 0;
      socklen_t len = sizeof err;

      if (!s->up.writable)
        return TRUE;
      if (getsockopt (s->up.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
        return FALSE;
      s->connecting = FALSE;
    }
  while (progress)
    {
      progress = FALSE;
      if (!flush (&s->client) || !flush (&s->up) || !move (s, &s->client, &s->up, &progress)
          || !move (s, &s->up, &s->client, &progress))
        return FALSE;
    }
  return TRUE;
}

static gboolean
watch (int ep, End *e)
{
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = e };

  return epoll_ctl (ep, EPOLL_CTL_ADD, e->fd, &ev) == 0;
}

static void
session_close (GHashTable *sessions, Session *s)
{
  close (s->client.fd); /* which takes it out of the epoll set */
  if (s->up.fd >= 0)
    close (s->up.fd);
  s->dead = TRUE;
  g_hash_table_remove (sessions, s);
}

static void
session_new (int ep, GHashTable *sessions, const BenchRelayConfig *cfg, int fd)
{
  Session *s = g_new0 (Session, 1);

  s->client = (End){ .session = s, .fd = fd, .writable = TRUE };
  s->up = (End){ .session = s, .fd = bench_relay_connect (cfg, TRUE) };
  s->connecting = TRUE;
#ifdef BENCH_RELAY_LOCKSTEP
  bench_lockstep_init (&s->ls);
#endif
  g_hash_table_add (sessions, s);
  bench_relay_nodelay (fd);
  if (s->up.fd < 0 || !watch (ep, &s->client) || !watch (ep, &s->up))
    {
      session_close (sessions, s);
      g_free (s);
    }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) sessions = g_hash_table_new (NULL, NULL);
  g_autoptr (GPtrArray) dead = g_ptr_array_new_with_free_func (g_free);
  struct epoll_event events[BENCH_EPOLL_EVENTS];
  struct epoll_event ev = { .events = EPOLLIN };
  BenchRelayConfig   cfg;
  gboolean           stopping = FALSE;
  sigset_t           stop;
  guint16            port;
  int                listen_fd, sig_fd, ep;

  if (!bench_relay_parse_args (&argc, &argv, "One thread, raw epoll, non-blocking.", &cfg, &error))
    {
      fprintf (stderr, "bench-relay-epoll: %s\n", error->message);
      return 2;
    }
  sigemptyset (&stop);
  sigaddset (&stop, SIGTERM);
  sigaddset (&stop, SIGINT);
  sigprocmask (SIG_BLOCK, &stop, NULL);
  ep = epoll_create1 (EPOLL_CLOEXEC);
  sig_fd = signalfd (-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
  listen_fd = bench_relay_listen (TRUE, &port, &error);
  if (listen_fd < 0 || ep < 0 || sig_fd < 0)
    {
      fprintf (stderr, "bench-relay-epoll: %s\n", error ? error->message : g_strerror (errno));
      bench_relay_config_clear (&cfg);
      return 1;
    }
  ev.data.ptr = &listen_tag;
  epoll_ctl (ep, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.ptr = &signal_tag;
  epoll_ctl (ep, EPOLL_CTL_ADD, sig_fd, &ev);
  if (!bench_relay_write_port (&cfg, port, &error))
    {
      fprintf (stderr, "bench-relay-epoll: %s\n", error->message);
      stopping = TRUE;
    }
  while (!stopping)
    {
      int n = epoll_wait (ep, events, BENCH_EPOLL_EVENTS, -1);

      if (n < 0 && errno != EINTR)
        break;
      for (int i = 0; i < n; i++)
        {
          void *tag = events[i].data.ptr;
          End  *e = tag;

          if (tag == &signal_tag)
            stopping = TRUE;
          else if (tag == &listen_tag)
            {
              int fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

              if (fd >= 0)
                session_new (ep, sessions, &cfg, fd);
            }
          else if (!e->session->dead)
            {
              if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                e->readable = TRUE;
              if (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                e->writable = TRUE;
              if (!pump (e->session))
                {
                  g_ptr_array_add (dead, e->session);
                  session_close (sessions, e->session);
                }
            }
        }
      /* Later events of this batch may have named a session closed in it. */
      g_ptr_array_set_size (dead, 0);
    }
  {
    GHashTableIter iter;
    gpointer       s;

    g_hash_table_iter_init (&iter, sessions);
    while (g_hash_table_iter_next (&iter, &s, NULL))
      {
        close (((Session *)s)->client.fd);
        close (((Session *)s)->up.fd);
        g_free (s);
        g_hash_table_iter_remove (&iter);
      }
  }
  close (listen_fd);
  close (sig_fd);
  close (ep);
  bench_relay_config_clear (&cfg);
  return 0;
}
