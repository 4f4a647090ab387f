/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-relay-coro.c: an SMTP relay whose sessions are coroutines on one epoll thread:
 * bench-relay-threads' sequential lockstep session, run on server/common/server-coro.c
 * (docs/postfix-front-io.md, "Coroutines on epoll: measured" and "Coroutines in
 * server/common: server-coro"). Built twice: bench-relay-coro with server-coro.c built in
 * with SERVER_CORO_UCONTEXT (glibc's swapcontext()), bench-relay-coro-asm with the
 * servers' own build of it (the hand-written switch on x86-64).
 *
 *   bench-relay-coro[-asm] --port-file FILE --upstream 127.0.0.1:PORT
 *   bench-relay-coro[-asm] --stack-probe | --guard-probe | --switch-probe
 *
 * What: a listener coroutine accepts (non-blocking, until EAGAIN, then it waits on the
 * listening socket) and spawns a coroutine per connection that runs session(), the same
 * code shape as bench-relay-threads: recv() from the side whose turn it is
 * (BenchLockstep), send() all of it to the other. A recv() or send() that would block
 * (for recv(): known from a short read, as bench-relay-epoll) parks the coroutine on that
 * descriptor (server_coro_wait_fd(), BENCH_RELAY_IDLE_TIMEOUT_S at most). SIGTERM/SIGINT:
 * the main thread (sigwait()) cancels the cancellable every wait is given; each coroutine
 * ends, forgets and closes its sockets, and the loop is freed.
 * Probes: --switch-probe times a switch alone (server_coro_probe_switch());
 * --stack-probe says how deep GLib's and libc's formatting, logging and lookups go on a
 * coroutine's stack (server_coro_probe_stack()); --guard-probe recurses without end in a
 * coroutine (it must die of SIGSEGV, or of ASan's stack-overflow report).
 * Limits: BENCH_RELAY_BUFFER_SIZE octets on the session's stack (SERVER_CORO_STACK_SIZE);
 * sessions without bound.
 * Never: parse more than BenchLockstep does; used by bench-postfix-front.py --extra-proxy
 * only (not installed, not a test).
 */
#include "bench-relay-common.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server-coro-probe.h"
#include "server-coro.h"

static BenchRelayConfig cfg;
static ServerCoroLoop  *loop;
static GCancellable    *stop; /* cancelled at SIGTERM/SIGINT: every wait ends */

typedef struct
{
  int      fd;
  gboolean readable; /* input may be waiting: no short read since the last wait */
} Watch;

/* Parks until @fd is ready for @condition; FALSE with errno ETIMEDOUT, ECANCELED (the
 * stop) or epoll_ctl()'s. */
static gboolean
coro_wait (int          fd,
           GIOCondition condition)
{
  int r = server_coro_wait_fd (fd, condition,
                               g_get_monotonic_time ()
                                 + (gint64) BENCH_RELAY_IDLE_TIMEOUT_S * G_USEC_PER_SEC,
                               stop);

  if (r != 0)
    errno = r;
  return r == 0;
}

/* recv() that parks instead of blocking. As bench-relay-epoll, a short read means the
 * socket is drained: the next read waits for an event first (server-coro keeps the event
 * that came meanwhile, so none is lost). */
static ssize_t
coro_recv (Watch *w,
           char  *buf,
           gsize  len)
{
  for (;;)
    {
      ssize_t n;

      if (!w->readable && !coro_wait (w->fd, G_IO_IN))
        return -1;
      w->readable = TRUE;
      n = recv (w->fd, buf, len, MSG_DONTWAIT);
      if (n >= 0)
        {
          if ((gsize) n < len)
            w->readable = FALSE;
          return n;
        }
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        return -1;
      w->readable = FALSE;
    }
}

/* send() of all of @buf that parks instead of blocking. */
static gboolean
coro_send_all (int         fd,
               const char *buf,
               gsize       len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN && coro_wait (fd, G_IO_OUT))
        continue;
      if (n < 0)
        return FALSE;
      buf += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* ---- the session: bench-relay-threads' session(), with coro_recv/coro_send_all ---- */

static void
session (gpointer data)
{
  char          buf[BENCH_RELAY_BUFFER_SIZE];
  Watch         client = { GPOINTER_TO_INT (data), TRUE }, up = { -1, TRUE };
  BenchLockstep ls;
  int           err = 0;
  socklen_t     errlen = sizeof err;

  bench_relay_nodelay (client.fd);
  up.fd = bench_relay_connect (&cfg, TRUE);
  if (up.fd < 0 || !coro_wait (up.fd, G_IO_OUT) /* the connect */
      || getsockopt (up.fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0 || err != 0)
    goto out;
  bench_lockstep_init (&ls);
  for (;;)
    {
      gboolean from_up = ls.replies_due > 0;
      ssize_t  n = coro_recv (from_up ? &up : &client, buf, sizeof buf);

      if (n <= 0)
        break;
      if (from_up)
        bench_lockstep_upstream (&ls, buf, (gsize) n);
      else
        bench_lockstep_client (&ls, buf, (gsize) n);
      if (!coro_send_all (from_up ? client.fd : up.fd, buf, (gsize) n))
        break;
    }
out:
  if (up.fd >= 0)
    {
      server_coro_forget_fd (up.fd);
      close (up.fd);
    }
  server_coro_forget_fd (client.fd);
  close (client.fd);
}

/* The listening socket: accept until EAGAIN, a coroutine per connection. */
static void
listener (gpointer data)
{
  int listen_fd = GPOINTER_TO_INT (data);

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      int fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd >= 0)
        {
          if (!server_coro_loop_spawn (loop, session, GINT_TO_POINTER (fd), &error))
            close (fd);
          continue;
        }
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN || server_coro_wait_fd (listen_fd, G_IO_IN, 0, stop) != 0)
        break;
    }
  server_coro_forget_fd (listen_fd);
}

/* ---- --stack-probe: how deep GLib's and libc's calls go on a coroutine's stack ---- */

static void
probe_nothing (gpointer data)
{
}

static void
probe_strdup_printf (gpointer data)
{
  g_autofree char *s = g_strdup_printf ("%s[%s] %d %u %" G_GINT64_FORMAT, "mail.example.org",
                                        "192.0.2.1", 42, 587u, (gint64)1234567890123);

  (void)s;
}

static void
probe_strdup_printf_double (gpointer data)
{
  g_autofree char *s = g_strdup_printf ("%.3f %g", 1234.5678, 1e300);

  (void)s;
}

static void
probe_snprintf (gpointer data)
{
  char buf[256];

  snprintf (buf, sizeof buf, "%s %d %lu", "mail.example.org", 42, 99ul);
}

static void
probe_g_warning (gpointer data)
{
  g_warning ("stack probe: %s[%s] %d", "mail.example.org", "192.0.2.1", 42);
}

static void
probe_g_debug_off (gpointer data)
{
  g_debug ("stack probe: %s %d", "not shown", 42);
}

static void
probe_getaddrinfo (gpointer data)
{
  struct addrinfo  hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
  struct addrinfo *res = NULL;

  if (getaddrinfo ("localhost", "25", &hints, &res) == 0)
    freeaddrinfo (res);
}

static void
probe_getnameinfo (gpointer data)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  char               host[NI_MAXHOST];

  (void)getnameinfo ((struct sockaddr *)&sin, sizeof sin, host, sizeof host, NULL, 0, NI_NAMEREQD);
}

/* --guard-probe: a coroutine that recurses without end must die on its guard page
 * (SIGSEGV, or ASan's stack-overflow report), not write over what lies below. */
static gsize
probe_recurse (volatile char *above, gsize depth)
{
  volatile char frame[1024];

  frame[0] = (char) depth;
  frame[sizeof frame - 1] = above ? above[0] : 0;
  if (depth > SERVER_CORO_STACK_SIZE) /* far past the guard page: never here */
    return 0;
  return probe_recurse (frame, depth + 1) + frame[0]; /* not a tail call */
}

static void
probe_overflow (gpointer data)
{
  printf ("recursing on a %d-octet stack: this must end in SIGSEGV\n", SERVER_CORO_STACK_SIZE);
  fflush (stdout);
  printf ("%zu\n", probe_recurse (NULL, 0));
}

/* --switch-probe: what a switch costs, alone. */
#define BENCH_CORO_SWITCH_PROBE_ROUNDS 2000000

static int
switch_probe (void)
{
  printf ("%d resumes and yields: %.1f ns per switch (resume or yield)\n",
          BENCH_CORO_SWITCH_PROBE_ROUNDS,
          server_coro_probe_switch (BENCH_CORO_SWITCH_PROBE_ROUNDS));
  return 0;
}

static int
stack_probe (void)
{
  static const struct
  {
    const char    *name;
    ServerCoroFunc run;
  } probes[] = {
    { "nothing (the switch and the entry)", probe_nothing },
    { "snprintf %s %d %lu", probe_snprintf },
    { "g_strdup_printf %s %d %u %" G_GINT64_FORMAT, probe_strdup_printf },
    { "g_strdup_printf %.3f %g", probe_strdup_printf_double },
    { "g_debug (G_MESSAGES_DEBUG unset)", probe_g_debug_off },
    { "g_warning %s %d (to stderr)", probe_g_warning },
    { "getaddrinfo localhost (files, nss)", probe_getaddrinfo },
    { "getnameinfo 127.0.0.1 (NI_NAMEREQD)", probe_getnameinfo },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (probes); i++)
    printf ("%-45s %6zu octets of %d\n", probes[i].name,
            server_coro_probe_stack (probes[i].run, NULL), SERVER_CORO_STACK_SIZE);
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  sigset_t stop_signals;
  guint16  port;
  int      listen_fd, sig;

  if (argc == 2 && strcmp (argv[1], "--stack-probe") == 0)
    return stack_probe ();
  if (argc == 2 && strcmp (argv[1], "--switch-probe") == 0)
    return switch_probe ();
  if (argc == 2 && strcmp (argv[1], "--guard-probe") == 0)
    {
      loop = server_coro_loop_new ("guard-probe", &error);
      server_coro_loop_spawn (loop, probe_overflow, NULL, &error);
      server_coro_loop_free (loop); /* not reached: the overflow kills the process */
      return 1;
    }
  if (!bench_relay_parse_args (&argc, &argv, "Coroutines on one epoll thread, lockstep.", &cfg,
                               &error))
    {
      fprintf (stderr, "bench-relay-coro: %s\n", error->message);
      return 2;
    }
  /* Blocked before the loop's thread exists: only sigwait() below takes them. */
  sigemptyset (&stop_signals);
  sigaddset (&stop_signals, SIGTERM);
  sigaddset (&stop_signals, SIGINT);
  pthread_sigmask (SIG_BLOCK, &stop_signals, NULL);
  stop = g_cancellable_new ();
  listen_fd = bench_relay_listen (TRUE, &port, &error);
  if (listen_fd >= 0)
    loop = server_coro_loop_new ("relay", &error);
  if (listen_fd < 0 || loop == NULL
      || !server_coro_loop_spawn (loop, listener, GINT_TO_POINTER (listen_fd), &error)
      || !bench_relay_write_port (&cfg, port, &error))
    fprintf (stderr, "bench-relay-coro: %s\n", error->message);
  else
    while (sigwait (&stop_signals, &sig) != 0)
      ;
  g_cancellable_cancel (stop);
  server_coro_loop_free (loop);
  if (listen_fd >= 0)
    close (listen_fd);
  g_object_unref (stop);
  bench_relay_config_clear (&cfg);
  return 0;
}
