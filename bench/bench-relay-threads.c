/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-relay-threads.c: an SMTP relay with one thread per session and blocking sockets,
 * in lockstep: msgtrk-submit-front's I/O model without its logic (docs/postfix-front-io.md).
 *
 *   bench-relay-threads --port-file FILE --upstream 127.0.0.1:PORT
 *
 * What: as server/common/server-listener.c, idle session threads block in accept4() on
 * the listening socket themselves; a thread that took the last accepting place starts
 * another first. A session connects to the upstream (blocking, TCP_NODELAY), then
 * repeats: recv() from the side whose turn it is (BenchLockstep: the upstream while it
 * owes replies, else the client), send() the octets to the other side. No poll, no GIO.
 * Threads stay for the next session (the front's leave after an idle time).
 * Limits: BENCH_RELAY_IDLE_TIMEOUT_S per recv (SO_RCVTIMEO); threads without bound.
 * Never: parse more than BenchLockstep does; used by bench-postfix-front.py --extra-proxy
 * only (not installed, not a test). SIGTERM/SIGINT: stop accepting and exit.
 */
#include "bench-relay-common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct
{
  BenchRelayConfig cfg;
  int              listen_fd;
  GMutex           lock;
  int              acceptors; /* threads in (or about to enter) accept4() */
} Relay;

static Relay relay; /* the session threads outlive main()'s frame */

static gboolean
send_all (int fd, const char *buf, gsize len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, buf, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      buf += n;
      len -= (gsize)n;
    }
  return TRUE;
}

/* One session on @client, in lockstep, until either side ends it. */
static void
session (int client)
{
  struct timeval tv = { .tv_sec = BENCH_RELAY_IDLE_TIMEOUT_S };
  char           buf[BENCH_RELAY_BUFFER_SIZE];
  BenchLockstep  ls;
  int            up = bench_relay_connect (&relay.cfg, FALSE);

  if (up < 0)
    {
      close (client);
      return;
    }
  bench_relay_nodelay (client);
  (void)setsockopt (client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)setsockopt (up, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bench_lockstep_init (&ls);
  for (;;)
    {
      gboolean from_up = ls.replies_due > 0;
      ssize_t  n = recv (from_up ? up : client, buf, sizeof buf, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      if (from_up)
        bench_lockstep_upstream (&ls, buf, (gsize)n);
      else
        bench_lockstep_client (&ls, buf, (gsize)n);
      if (!send_all (from_up ? client : up, buf, (gsize)n))
        break;
    }
  close (up);
  close (client);
}

static gpointer acceptor (gpointer data);

static void
start_acceptor (void)
{
  g_thread_unref (g_thread_new ("session", acceptor, NULL));
}

/* A session thread: accept, relay, accept again; ends when the listener is shut down. */
static gpointer
acceptor (gpointer data)
{
  for (;;)
    {
      int      fd = accept4 (relay.listen_fd, NULL, NULL, SOCK_CLOEXEC);
      gboolean another;

      if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
        continue;
      g_mutex_lock (&relay.lock);
      relay.acceptors--;
      another = fd >= 0 && relay.acceptors == 0;
      if (another)
        relay.acceptors++;
      g_mutex_unlock (&relay.lock);
      if (fd < 0)
        return NULL; /* shut down: stopping */
      if (another)
        start_acceptor ();
      session (fd);
      g_mutex_lock (&relay.lock);
      relay.acceptors++;
      g_mutex_unlock (&relay.lock);
    }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  sigset_t stop;
  guint16  port;
  int      sig;

  if (!bench_relay_parse_args (&argc, &argv, "One thread per session, blocking, lockstep.",
                               &relay.cfg, &error))
    {
      fprintf (stderr, "bench-relay-threads: %s\n", error->message);
      return 2;
    }
  /* Every thread inherits the mask: the signals only come out of sigwait() below. */
  sigemptyset (&stop);
  sigaddset (&stop, SIGTERM);
  sigaddset (&stop, SIGINT);
  pthread_sigmask (SIG_BLOCK, &stop, NULL);
  g_mutex_init (&relay.lock);
  relay.listen_fd = bench_relay_listen (FALSE, &port, &error);
  if (relay.listen_fd < 0 || !bench_relay_write_port (&relay.cfg, port, &error))
    {
      fprintf (stderr, "bench-relay-threads: %s\n", error->message);
      bench_relay_config_clear (&relay.cfg);
      return 1;
    }
  relay.acceptors = 1;
  start_acceptor ();
  sigwait (&stop, &sig);
  /* accept4() fails in every thread; sessions under way end with the process. */
  shutdown (relay.listen_fd, SHUT_RDWR);
  bench_relay_config_clear (&relay.cfg);
  return 0;
}
