/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-server-coro.c: coroutines on epoll threads (server/common/server-coro.c) and the
 * shared socket helpers in a coroutine (server/common/server-line-reader.c), on real
 * sockets (socket pairs and loopback TCP).
 *
 * Cases: TEST_CORO_PAIRS pairs of coroutines on one loop in lockstep (ping, pong) with
 * server_socket_send_all() and the descriptor line reader; a bulk transfer over loopback
 * TCP with a small send buffer (send_all parks on a full socket, the reader on an empty
 * one); a wait with a deadline ends with ETIMEDOUT while a ping-pong goes on, and the
 * reader's idle timeout and deadline (the same errors as in a thread), and past the
 * deadline what was sent is still read, then the read ends at once; the fill hook; a cancellable
 * cancelled from another thread wakes a parked wait and a parked read (and one cancelled
 * before: at once), the handler kept from park to park (one fired during run_in_thread
 * does not end it; a second cancellable replaces the first; a coroutine cancelled while
 * another handler of the emission sleeps ends without freezing its loop); run_in_thread
 * runs in a pool thread while the loop's other coroutines go on (and in the calling thread
 * outside a coroutine); a peer's shutdown wakes a parked reader (EOF); spawns from another
 * thread and from a coroutine; loop_free waits for a parked coroutine, and spawns fail
 * meanwhile; E2BIG past SERVER_CORO_MAX_FDS (the helpers' error names it), and a slot
 * reused after forget_fd (and a stale event of the forgotten one, in the same batch, does
 * not reach the registration in its slot or under its number); server_socket_wait() finds a socket readable that already was;
 * the guard below a coroutine's stack is PROT_NONE and SERVER_CORO_GUARD_SIZE long (in
 * /proc/self/maps); a stack overflow dies of SIGSEGV on the guard (in a forked grandchild
 * of a subprocess; under ASan its stack-overflow report, a failed exit); the watchdog
 * (debug builds) logs a coroutine that slept 120 ms without parking. Park and wake: a wake
 * before the park returns it at once, one from another thread or from a coroutine of the same
 * loop ends it, a deadline ends it with ETIMEDOUT, a wake while the coroutine waits on a
 * descriptor is kept for its next park. A spawn whose stack cannot be mapped (the test
 * hook) fails with an error and nothing runs; the next one works. A descriptor reader's
 * first read in a coroutine waits for the registration's event (no recv first) and finds
 * a line sent before it started. Jobs (server_coro_job_start()): the start does not park
 * (the job waits for the coroutine to go on), a join of a finished job returns at once with
 * no wake-up; a join before it is done parks (the loop's others go on) and is woken once per
 * part; a detach returns once the first part is done (the second runs on); 64 coroutines
 * on two loops and 8 threads, joining early and late. Built twice: the
 * assembly switch (where there is one) and glibc's swapcontext (SERVER_CORO_UCONTEXT).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server-coro.h"
#include "server-coro-probe.h"
#include "server-line-reader.h"
#include "test-util.h"

/* Pairs of coroutines in the ping-pong, rounds each. */
#define TEST_CORO_PAIRS 100
#define TEST_CORO_ROUNDS 50
/* Octets of the bulk transfer, lines of TEST_CORO_BULK_LINE. */
#define TEST_CORO_BULK (4 * 1024 * 1024)
#define TEST_CORO_BULK_LINE 1000

static void
socket_pair (int fds[2])
{
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
}

/* A connected loopback TCP pair. */
static void
tcp_pair (int fds[2])
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof sin;
  int l = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (l, >=, 0);
  g_assert_cmpint (bind (l, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  g_assert_cmpint (listen (l, 1), ==, 0);
  g_assert_cmpint (getsockname (l, (struct sockaddr *) &sin, &len), ==, 0);
  fds[0] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (connect (fds[0], (struct sockaddr *) &sin, sizeof sin), ==, 0);
  fds[1] = accept4 (l, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (fds[1], >=, 0);
  close (l);
}

static ServerCoroLoop *
loop_new (void)
{
  g_autoptr (GError) error = NULL;
  ServerCoroLoop *loop = server_coro_loop_new ("test-coro", &error);

  g_assert_no_error (error);
  g_assert_nonnull (loop);
  return loop;
}

static void
spawn (ServerCoroLoop *loop,
       ServerCoroFunc  func,
       gpointer        data)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (server_coro_loop_spawn (loop, func, data, &error));
  g_assert_no_error (error);
}

static void
send_line (int         fd,
           const char *line)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (server_socket_send_all (fd, line, strlen (line), 10, NULL, &error));
  g_assert_no_error (error);
}

static void
read_line (ServerLineReader *reader,
           GString          *line,
           const char       *want)
{
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (server_line_reader_read (reader, 1000, line, NULL, &error), ==, SERVER_LINE_OK);
  g_assert_no_error (error);
  g_assert_cmpstr (line->str, ==, want);
}

static void
end_fd (int fd)
{
  server_coro_forget_fd (fd);
  close (fd);
}

/* A descriptor line reader on @fd (idle timeout @timeout s), in a coroutine; returns the
 * line to read into. */
static GString *
fd_reader_init (ServerLineReader *reader,
                int               fd,
                guint             timeout)
{
  server_line_reader_init_fd (reader, fd, timeout, FALSE);
  return g_string_new (NULL);
}

/* The shape of most cases: a fresh loop and a socket pair (loopback TCP if @tcp); the
 * coroutine under test gets fds[0], the test keeps fds[1] as the peer. */
typedef struct
{
  ServerCoroLoop *loop;
  int fds[2];
} PairFixture;

static void
pair_fixture_init (PairFixture *f,
                   gboolean     tcp)
{
  f->loop = loop_new ();
  if (tcp)
    tcp_pair (f->fds);
  else
    socket_pair (f->fds);
}

/* Frees the loop (its coroutines run to their end), then closes the peer. */
static void
pair_fixture_finish (PairFixture *f)
{
  server_coro_loop_free (f->loop);
  close (f->fds[1]);
}

/* Until the coroutine set @flag (about to park), and 50 ms more for it to park. */
static void
wait_parked (gint *flag)
{
  while (!g_atomic_int_get (flag))
    g_usleep (1000);
  g_usleep (50 * 1000);
}

/* ---- ping-pong ---- */

typedef struct
{
  int fd;
  gboolean pinger;
  gint *done;     /* (atomic) sides that finished */
  gint *progress; /* (atomic) (nullable) rounds done, counted by the pinger */
  guint rounds;
} Side;

static void
side_run (gpointer data)
{
  Side *s = data;
  ServerLineReader reader;
  g_autoptr (GString) line = fd_reader_init (&reader, s->fd, 10);

  g_assert_true (server_coro_in_loop ());
  for (guint i = 0; i < s->rounds; i++)
    {
      g_autofree char *ping = g_strdup_printf ("ping %u\r\n", i);
      g_autofree char *pong = g_strdup_printf ("pong %u\r\n", i);

      if (s->pinger)
        {
          send_line (s->fd, ping);
          read_line (&reader, line, pong);
          if (s->progress != NULL)
            g_atomic_int_inc (s->progress);
        }
      else
        {
          read_line (&reader, line, ping);
          send_line (s->fd, pong);
        }
    }
  if (s->pinger)
    send_line (s->fd, "quit\r\n");
  else
    {
      g_autoptr (GError) error = NULL;
      ServerLineStatus st;

      read_line (&reader, line, "quit\r\n");
      /* Then the pinger's end: EOF. */
      st = server_line_reader_read (&reader, 1000, line, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpint (st, ==, SERVER_LINE_EOF);
    }
  end_fd (s->fd);
  g_atomic_int_inc (s->done);
}

/* One pair on @loop over a new socket pair: @sides[0] pings (counting its rounds in
 * @progress), @sides[1] answers, @rounds rounds; each side adds one to @done at its end. */
static void
spawn_ping_pong (ServerCoroLoop *loop,
                 Side            sides[2],
                 gint           *done,
                 gint           *progress,
                 guint           rounds)
{
  int fds[2];

  socket_pair (fds);
  sides[0] = (Side) { fds[0], TRUE, done, progress, rounds };
  sides[1] = (Side) { fds[1], FALSE, done, NULL, rounds };
  spawn (loop, side_run, &sides[1]);
  spawn (loop, side_run, &sides[0]);
}

static void
test_ping_pong (void)
{
  ServerCoroLoop *loop = loop_new ();
  Side *sides = g_new0 (Side, 2 * TEST_CORO_PAIRS);
  gint done = 0;

  for (guint i = 0; i < TEST_CORO_PAIRS; i++)
    spawn_ping_pong (loop, &sides[2 * i], &done, NULL, TEST_CORO_ROUNDS);
  server_coro_loop_free (loop);
  g_assert_cmpint (done, ==, 2 * TEST_CORO_PAIRS);
  g_free (sides);
}

/* ---- bulk: send_all parks on a full socket ---- */

typedef struct
{
  int fd;
  gsize got; /* read, or sent */
  gint done;
} Bulk;

static void
bulk_write (gpointer data)
{
  Bulk *b = data;
  g_autofree char *chunk = g_malloc (64 * TEST_CORO_BULK_LINE);
  g_autoptr (GError) error = NULL;

  for (gsize i = 0; i < 64; i++)
    {
      memset (chunk + i * TEST_CORO_BULK_LINE, 'a' + (int) (i % 26), TEST_CORO_BULK_LINE - 1);
      chunk[(i + 1) * TEST_CORO_BULK_LINE - 1] = '\n';
    }
  for (gsize sent = 0; sent < TEST_CORO_BULK; sent += 64 * TEST_CORO_BULK_LINE)
    {
      g_assert_true (server_socket_send_all (b->fd, chunk, 64 * TEST_CORO_BULK_LINE, 10, NULL,
                                             &error));
      g_assert_no_error (error);
      b->got += 64 * TEST_CORO_BULK_LINE;
    }
  end_fd (b->fd);
  g_atomic_int_inc (&b->done);
}

static void
bulk_read (gpointer data)
{
  Bulk *b = data;
  ServerLineReader reader;
  g_autoptr (GString) line = fd_reader_init (&reader, b->fd, 10);
  g_autoptr (GError) error = NULL;
  ServerLineStatus st;

  while ((st = server_line_reader_read (&reader, TEST_CORO_BULK_LINE, line, NULL, &error))
         == SERVER_LINE_OK)
    {
      g_assert_cmpuint (line->len, ==, TEST_CORO_BULK_LINE);
      b->got += line->len;
    }
  g_assert_no_error (error);
  g_assert_cmpint (st, ==, SERVER_LINE_EOF);
  end_fd (b->fd);
  g_atomic_int_inc (&b->done);
}

static void
test_bulk (void)
{
  ServerCoroLoop *loop = loop_new ();
  Bulk w = { 0 }, r = { 0 };
  int fds[2];
  int small = 32768; /* smaller: TCP's delayed ACKs set the pace (80 s at 4 KiB) */

  tcp_pair (fds);
  g_assert_cmpint (setsockopt (fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), ==, 0);
  g_assert_cmpint (setsockopt (fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small), ==, 0);
  w.fd = fds[0];
  r.fd = fds[1];
  spawn (loop, bulk_read, &r);
  spawn (loop, bulk_write, &w);
  server_coro_loop_free (loop);
  g_assert_cmpint (w.done + r.done, ==, 2);
  g_assert_cmpuint (w.got, >=, TEST_CORO_BULK);
  g_assert_cmpuint (r.got, ==, w.got);
}

/* ---- timeouts ---- */

typedef struct
{
  int fd;
  gint *progress;
  gint progress_at_end;
  gint64 waited;
  int result;
} Timed;

static void
timed_wait (gpointer data)
{
  Timed *t = data;
  gint64 t0 = g_get_monotonic_time ();

  t->result = server_coro_wait_fd (t->fd, G_IO_IN, t0 + 300 * G_TIME_SPAN_MILLISECOND, NULL);
  t->waited = g_get_monotonic_time () - t0;
  t->progress_at_end = g_atomic_int_get (t->progress);
  end_fd (t->fd);
}

/* A ping-pong of many rounds beside @func, which gets @fd (the other end: @peer). */
static void
beside_ping_pong (ServerCoroFunc func,
                  gpointer       data,
                  gint          *progress,
                  guint          rounds)
{
  ServerCoroLoop *loop = loop_new ();
  Side sides[2];
  gint done = 0;

  spawn (loop, func, data);
  spawn_ping_pong (loop, sides, &done, progress, rounds);
  server_coro_loop_free (loop);
  g_assert_cmpint (done, ==, 2);
}

static void
test_wait_timeout (void)
{
  gint progress = 0;
  Timed t = { .progress = &progress };
  int fds[2];

  socket_pair (fds);
  t.fd = fds[0];
  beside_ping_pong (timed_wait, &t, &progress, 100000);
  close (fds[1]);
  g_assert_cmpint (t.result, ==, ETIMEDOUT);
  g_assert_cmpint (t.waited, >=, 300 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpint (t.waited, <, 5 * G_TIME_SPAN_SECOND);
  /* The loop ran the others while it waited. */
  g_assert_cmpint (t.progress_at_end, >, 0);
  g_test_message ("ping-pong rounds while parked 300 ms: %d", t.progress_at_end);
}

typedef struct
{
  int fd;
  gboolean deadline;
  ServerLineStatus status;
  GError *error;
  gboolean expired;
  gint64 waited;
  gboolean rcvtimeo_set;
} ReaderTimeout;

static void
reader_timeout (gpointer data)
{
  ReaderTimeout *t = data;
  ServerLineReader reader;
  g_autoptr (GString) line = fd_reader_init (&reader, t->fd, 1);
  gint64 t0 = g_get_monotonic_time ();

  if (t->deadline)
    server_line_reader_set_deadline (&reader, t0 + 300 * G_TIME_SPAN_MILLISECOND, 0, 0);
  t->status = server_line_reader_read (&reader, 100, line, NULL, &t->error);
  t->expired = server_line_reader_deadline_expired (&reader);
  t->waited = g_get_monotonic_time () - t0;
  {
    struct timeval tv = { 0, 0 };
    socklen_t len = sizeof tv;

    /* A socket only a coroutine reads: the reader never set its SO_RCVTIMEO. */
    g_assert_cmpint (getsockopt (t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len), ==, 0);
    t->rcvtimeo_set = tv.tv_sec != 0 || tv.tv_usec != 0;
  }
  end_fd (t->fd);
}

static void
test_reader_timeouts (void)
{
  for (int deadline = 0; deadline < 2; deadline++)
    {
      PairFixture f;
      ReaderTimeout t = { .deadline = deadline };

      pair_fixture_init (&f, FALSE);
      t.fd = f.fds[0];
      send_line (f.fds[1], "no end of line"); /* a partial line: the read still waits */
      spawn (f.loop, reader_timeout, &t);
      pair_fixture_finish (&f);
      g_assert_cmpint (t.status, ==, SERVER_LINE_ERROR);
      g_assert_error (t.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
      g_assert_cmpint (t.expired, ==, deadline);
      g_assert_cmpstr (t.error->message, ==,
                       deadline ? "Deadline exceeded" : "Socket I/O timed out");
      g_assert_cmpint (t.waited, >=, deadline ? 300 * G_TIME_SPAN_MILLISECOND : G_TIME_SPAN_SECOND);
      g_assert_cmpint (t.waited, <, 5 * G_TIME_SPAN_SECOND);
      g_assert_false (t.rcvtimeo_set);
      g_clear_error (&t.error);
    }
}

/* Past the deadline: what the client sent is still taken, then the deadline ends the read
 * at once; the fill hook runs before each read that must wait for input. */
typedef struct
{
  int fd, peer;
  guint hooks;
  gboolean ok;
} PastDeadline;

static gboolean
past_hook (gpointer  data,
           GError  **error)
{
  PastDeadline *p = data;

  if (p->hooks++ == 0)
    send_line (p->peer, "from the hook\r\n");
  return TRUE;
}

static void
past_deadline (gpointer data)
{
  PastDeadline *p = data;
  ServerLineReader reader;
  g_autoptr (GString) line = fd_reader_init (&reader, p->fd, 10);
  g_autoptr (GError) error = NULL;
  gint64 t0;

  server_line_reader_set_hook (&reader, past_hook, p);
  read_line (&reader, line, "from the hook\r\n");
  g_assert_cmpuint (p->hooks, ==, 1);
  send_line (p->peer, "sent\r\n");
  server_line_reader_set_deadline (&reader, g_get_monotonic_time () - 1, 0, 0);
  read_line (&reader, line, "sent\r\n");
  g_assert_false (server_line_reader_deadline_expired (&reader));
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (server_line_reader_read (&reader, 100, line, NULL, &error), ==,
                   SERVER_LINE_ERROR);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (server_line_reader_deadline_expired (&reader));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, G_TIME_SPAN_SECOND);
  end_fd (p->fd);
  p->ok = TRUE;
}

static void
test_reader_past_deadline (void)
{
  PairFixture f;
  PastDeadline p = { 0 };

  pair_fixture_init (&f, FALSE);
  p.fd = f.fds[0];
  p.peer = f.fds[1];
  spawn (f.loop, past_deadline, &p);
  pair_fixture_finish (&f);
  g_assert_true (p.ok);
}

/* ---- cancellation ---- */

typedef struct
{
  int fd;
  GCancellable *cancellable;
  gboolean reader;
  int result;
  ServerLineStatus status;
  GError *error;
  gint parked;
} Cancelled;

static void
cancelled_wait (gpointer data)
{
  Cancelled *c = data;

  g_atomic_int_set (&c->parked, 1);
  if (c->reader)
    {
      ServerLineReader reader;
      g_autoptr (GString) line = fd_reader_init (&reader, c->fd, 0);

      c->status = server_line_reader_read (&reader, 100, line, c->cancellable, &c->error);
    }
  else
    c->result = server_coro_wait_fd (c->fd, G_IO_IN, 0, c->cancellable);
  end_fd (c->fd);
}

static void
test_cancel (void)
{
  for (int reader = 0; reader < 2; reader++)
    for (int before = 0; before < 2; before++)
      {
        PairFixture f;
        g_autoptr (GCancellable) cancellable = g_cancellable_new ();
        Cancelled c = { .cancellable = cancellable, .reader = reader };

        pair_fixture_init (&f, FALSE);
        c.fd = f.fds[0];
        if (before)
          g_cancellable_cancel (cancellable);
        spawn (f.loop, cancelled_wait, &c);
        wait_parked (&c.parked);
        g_cancellable_cancel (cancellable); /* from this thread, not the loop's */
        pair_fixture_finish (&f);
        if (reader)
          {
            g_assert_cmpint (c.status, ==, SERVER_LINE_ERROR);
            g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
            g_clear_error (&c.error);
          }
        else
          g_assert_cmpint (c.result, ==, ECANCELED);
      }
}

/* The handler stays connected from park to park: one fired while the coroutine is in
 * another kind of park (run_in_thread) does not end that one; the next wait on it ends at
 * once; a second cancellable replaces the first. */
typedef struct
{
  int fd;
  GCancellable *first, *second;
  gint slept;
  gint parked_second;
  gboolean ok;
} Hooked;

static void
cancel_then_sleep (gpointer data)
{
  Hooked *h = data;

  g_cancellable_cancel (h->first);
  g_usleep (100 * 1000);
  g_atomic_int_set (&h->slept, 1);
}

static void
hooked_coro (gpointer data)
{
  Hooked *h = data;

  for (int i = 0; i < 3; i++)
    g_assert_cmpint (server_coro_wait_fd (h->fd, G_IO_IN,
                                          g_get_monotonic_time () + 20 * G_TIME_SPAN_MILLISECOND,
                                          h->first), ==, ETIMEDOUT);
  server_coro_run_in_thread (cancel_then_sleep, h);
  g_assert_cmpint (g_atomic_int_get (&h->slept), ==, 1);
  g_assert_cmpint (server_coro_wait_fd (h->fd, G_IO_IN, 0, h->first), ==, ECANCELED);
  g_atomic_int_set (&h->parked_second, 1);
  g_assert_cmpint (server_coro_wait_fd (h->fd, G_IO_IN, 0, h->second), ==, ECANCELED);
  end_fd (h->fd);
  h->ok = TRUE;
}

static void
test_cancel_hooked (void)
{
  PairFixture f;
  g_autoptr (GCancellable) first = g_cancellable_new ();
  g_autoptr (GCancellable) second = g_cancellable_new ();
  Hooked h = { .first = first, .second = second };

  pair_fixture_init (&f, FALSE);
  h.fd = f.fds[0];
  spawn (f.loop, hooked_coro, &h);
  wait_parked (&h.parked_second);
  g_cancellable_cancel (second);
  pair_fixture_finish (&f);
  g_assert_true (h.ok);
}

/* A coroutine cancelled while the cancellable's other handler (the program's: here one
 * that sleeps TEST_CORO_SLOW_HANDLER_MS in the cancelling thread) still runs ends
 * without waiting for that emission: the loop goes on (another coroutine's 100 ms wait
 * returns in time), and server_coro_loop_free() returns before the emission ends (the
 * handler's record outlives the loop's thread). */
#define TEST_CORO_SLOW_HANDLER_MS 1500

typedef struct
{
  ServerCoroLoop *loop;
  GCancellable *cancellable;
  int fd;
  gint parked;
  gint done;
  gint64 ended;  /* the cancelled coroutine returned (about) */
  gint64 ticked; /* the other coroutine's 100 ms wait returned */
} SlowCancel;

static void
slow_handler (GCancellable *cancellable,
              gpointer      data)
{
  g_usleep (TEST_CORO_SLOW_HANDLER_MS * 1000);
}

static gpointer
slow_cancel_thread (gpointer data)
{
  g_cancellable_cancel (data);
  return NULL;
}

static void
slow_ticker (gpointer data)
{
  SlowCancel *s = data;

  g_assert_cmpint (server_coro_park (g_get_monotonic_time () + 100 * G_TIME_SPAN_MILLISECOND),
                   ==, ETIMEDOUT);
  s->ticked = g_get_monotonic_time ();
  g_atomic_int_set (&s->done, 1);
}

static void
slow_cancelled (gpointer data)
{
  SlowCancel *s = data;

  g_atomic_int_set (&s->parked, 1);
  g_assert_cmpint (server_coro_wait_fd (s->fd, G_IO_IN, 0, s->cancellable), ==, ECANCELED);
  end_fd (s->fd);
  spawn (s->loop, slow_ticker, s); /* starts once this one has returned (unhooked) */
  s->ended = g_get_monotonic_time ();
}

static void
test_cancel_slow_handler (void)
{
  PairFixture f;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  SlowCancel s = { .cancellable = cancellable };
  GThread *canceller;
  gint64 t0;

  pair_fixture_init (&f, FALSE);
  s.loop = f.loop;
  s.fd = f.fds[0];
  spawn (s.loop, slow_cancelled, &s);
  wait_parked (&s.parked);
  /* After the coroutine's handler (a normal one), whatever the order of connection. */
  g_signal_connect_after (cancellable, "cancelled", G_CALLBACK (slow_handler), NULL);
  t0 = g_get_monotonic_time ();
  canceller = g_thread_new ("test-cancel", slow_cancel_thread, cancellable);
  while (!g_atomic_int_get (&s.done))
    g_usleep (1000);
  g_test_message ("cancelled coroutine ended %" G_GINT64_FORMAT " ms after the cancel, the "
                  "other's 100 ms wait %" G_GINT64_FORMAT " ms after that",
                  (s.ended - t0) / 1000, (s.ticked - s.ended) / 1000);
  g_assert_cmpint (s.ticked - s.ended, <, 500 * G_TIME_SPAN_MILLISECOND);
  pair_fixture_finish (&f); /* the emission still runs: its record outlives the loop */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, TEST_CORO_SLOW_HANDLER_MS * 1000);
  g_thread_join (canceller);
}

/* ---- run_in_thread ---- */

typedef struct
{
  gint *progress;
  GThread *loop_thread;
  GThread *ran_in;
  gint before, after;
} Work;

static void
work_func (gpointer data)
{
  Work *w = data;

  w->ran_in = g_thread_self ();
  w->before = g_atomic_int_get (w->progress);
  g_usleep (300 * 1000); /* blocks: only a pool thread may */
  w->after = g_atomic_int_get (w->progress);
}

static void
work_coro (gpointer data)
{
  Work *w = data;

  w->loop_thread = g_thread_self ();
  server_coro_run_in_thread (work_func, w);
  g_assert_true (g_thread_self () == w->loop_thread);
  g_assert_true (server_coro_in_loop ());
}

static void
test_run_in_thread (void)
{
  gint progress = 0;
  Work w = { .progress = &progress };

  beside_ping_pong (work_coro, &w, &progress, 100000);
  g_assert_true (w.ran_in != w.loop_thread);
  g_assert_cmpint (w.after, >, w.before);
  g_test_message ("ping-pong rounds during the pool's 300 ms: %d", w.after - w.before);
  /* Outside a coroutine: here. */
  g_assert_false (server_coro_in_loop ());
  server_coro_run_in_thread (work_func, &w);
  g_assert_true (w.ran_in == g_thread_self ());
}

/* ---- EOF: the peer's shutdown wakes a parked reader ---- */

typedef struct
{
  int fd;
  ServerLineStatus first, second;
  GError *error;
} EofRead;

static void
eof_read (gpointer data)
{
  EofRead *e = data;
  ServerLineReader reader;
  g_autoptr (GString) line = fd_reader_init (&reader, e->fd, 10);

  e->first = server_line_reader_read (&reader, 100, line, NULL, &e->error);
  if (e->first == SERVER_LINE_OK)
    e->second = server_line_reader_read (&reader, 100, line, NULL, &e->error);
  end_fd (e->fd);
}

static void
test_eof (void)
{
  for (int tcp = 0; tcp < 2; tcp++)
    {
      PairFixture f;
      EofRead e = { 0 };

      pair_fixture_init (&f, tcp);
      e.fd = f.fds[0];
      spawn (f.loop, eof_read, &e);
      g_usleep (50 * 1000);
      send_line (f.fds[1], "one\r\n");
      g_usleep (50 * 1000); /* parked again for the second line */
      shutdown (f.fds[1], SHUT_WR);
      pair_fixture_finish (&f);
      g_assert_no_error (e.error);
      g_assert_cmpint (e.first, ==, SERVER_LINE_OK);
      g_assert_cmpint (e.second, ==, SERVER_LINE_EOF);
    }
}

/* ---- spawns, and loop_free waiting ---- */

typedef struct
{
  ServerCoroLoop *loop;
  gint count;
  gint inner; /* (atomic) the child spawned by a coroutine ran */
  int fd;
} Spawns;

static void
child_coro (gpointer data)
{
  Spawns *s = data;

  g_assert_true (server_coro_in_loop ());
  g_atomic_int_inc (&s->count);
}

static void
inner_coro (gpointer data)
{
  Spawns *s = data;

  g_atomic_int_set (&s->inner, 1);
  g_atomic_int_inc (&s->count);
}

static void
parent_coro (gpointer data)
{
  Spawns *s = data;

  /* From within a coroutine of the loop: starts after this one parks or returns. */
  spawn (s->loop, inner_coro, s);
  g_assert_cmpint (g_atomic_int_get (&s->inner), ==, 0);
  g_atomic_int_inc (&s->count);
}

static gpointer
spawn_thread (gpointer data)
{
  Spawns *s = data;

  for (int i = 0; i < 10; i++)
    spawn (s->loop, child_coro, s);
  return NULL;
}

static void
blocker_coro (gpointer data)
{
  Spawns *s = data;

  g_assert_cmpint (server_coro_wait_fd (s->fd, G_IO_IN, 0, NULL), ==, 0);
  end_fd (s->fd);
}

static gpointer
free_thread (gpointer data)
{
  server_coro_loop_free (data);
  return NULL;
}

static void
test_spawn (void)
{
  Spawns s = { 0 };
  g_autoptr (GError) error = NULL;
  GThread *t, *f;
  int fds[2];
  gboolean refused = FALSE;

  s.loop = loop_new ();
  spawn (s.loop, parent_coro, &s);
  t = g_thread_new ("spawner", spawn_thread, &s);
  g_thread_join (t);
  while (server_coro_loop_get_live (s.loop) > 0)
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&s.count), ==, 12);
  g_assert_cmpint (g_atomic_int_get (&s.inner), ==, 1);

  /* loop_free waits for a parked coroutine; spawns fail meanwhile. */
  socket_pair (fds);
  s.fd = fds[0];
  spawn (s.loop, blocker_coro, &s);
  f = g_thread_new ("freer", free_thread, s.loop);
  for (int i = 0; i < 5000 && !refused; i++)
    {
      if (!server_coro_loop_spawn (s.loop, child_coro, &s, &error))
        refused = TRUE;
      else
        g_usleep (1000);
    }
  g_assert_true (refused);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_cmpuint (server_coro_loop_get_live (s.loop), >=, 1);
  send_line (fds[1], "go\r\n");
  g_thread_join (f);
  close (fds[1]);
}

/* ---- a reader's first read waits for the registration's event ---- */

typedef struct
{
  int fd;
  gboolean registered_before, registered_after;
  gboolean ok;
} FirstRead;

static void
first_read (gpointer data)
{
  FirstRead *r = data;
  ServerLineReader reader;
  g_autoptr (GString) line = NULL;

  r->registered_before = server_coro_has_fd (r->fd);
  line = fd_reader_init (&reader, r->fd, 10);
  /* The line was sent before this coroutine started: no recv first, the registration's
   * event says it is there. */
  read_line (&reader, line, "there already\r\n");
  r->registered_after = server_coro_has_fd (r->fd);
  read_line (&reader, line, "later\r\n");
  end_fd (r->fd);
  r->ok = !server_coro_has_fd (r->fd);
}

/* server_line_reader_expect_data(): the first read recv()s before any registration
 * (a warm link's greeting, there already), and when nothing is there yet it parks as any
 * read (registered then), ended by its cancellable too. */
typedef struct
{
  int fd, fd2;
  GCancellable *cancel;
  gboolean registered_after_read, registered_after_wait, cancelled;
  gint second, third; /* (atomic) about to read the second, third time */
} ExpectData;

static void
expect_data_coro (gpointer data)
{
  ExpectData *r = data;
  ServerLineReader reader;
  g_autoptr (GString) line = NULL;
  g_autoptr (GError) error = NULL;

  line = fd_reader_init (&reader, r->fd, 10);
  server_line_reader_expect_data (&reader);
  read_line (&reader, line, "220 there already\r\n");
  r->registered_after_read = server_coro_has_fd (r->fd);
  /* Expected, not there yet: EAGAIN, then a park (registered) until it comes. */
  server_line_reader_expect_data (&reader);
  g_atomic_int_set (&r->second, 1);
  read_line (&reader, line, "220 later\r\n");
  r->registered_after_wait = server_coro_has_fd (r->fd);
  end_fd (r->fd);
  /* Expected, never sent: the cancellable ends the park. */
  server_line_reader_clear (&reader);
  server_line_reader_init_fd (&reader, r->fd2, 10, FALSE);
  server_line_reader_expect_data (&reader);
  g_atomic_int_set (&r->third, 1);
  r->cancelled =
    server_line_reader_read (&reader, 100, line, r->cancel, &error) == SERVER_LINE_ERROR
    && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  end_fd (r->fd2);
}

static void
test_reader_expect_data (void)
{
  PairFixture f;
  ExpectData r = { 0 };
  int other[2];

  pair_fixture_init (&f, FALSE);
  socket_pair (other);
  r.fd = f.fds[0];
  r.fd2 = other[0];
  r.cancel = g_cancellable_new ();
  send_line (f.fds[1], "220 there already\r\n");
  spawn (f.loop, expect_data_coro, &r);
  wait_parked (&r.second);
  send_line (f.fds[1], "220 later\r\n");
  wait_parked (&r.third);
  g_cancellable_cancel (r.cancel);
  pair_fixture_finish (&f);
  g_assert_false (r.registered_after_read); /* no registration: read by the recv */
  g_assert_true (r.registered_after_wait);
  g_assert_true (r.cancelled);
  close (other[1]);
  g_object_unref (r.cancel);
}

static void
test_reader_first_read (void)
{
  PairFixture f;
  FirstRead r = { 0 };

  pair_fixture_init (&f, FALSE);
  r.fd = f.fds[0];
  send_line (f.fds[1], "there already\r\n");
  spawn (f.loop, first_read, &r);
  g_usleep (50000);
  send_line (f.fds[1], "later\r\n");
  pair_fixture_finish (&f);
  g_assert_false (r.registered_before);
  g_assert_true (r.registered_after);
  g_assert_true (r.ok);
  g_assert_false (server_coro_has_fd (f.fds[0])); /* outside a coroutine */
}

/* ---- park and wake ---- */

typedef struct
{
  ServerCoro *co;    /* (atomic) the parker, once it is about to park */
  ServerCoro *other; /* the same-loop parker (woken by a coroutine) */
  int fd;
  int early, woken, timed, kept_fd, kept_park, same_loop; /* results */
  gint64 waited_us;
  gint done;         /* (atomic) */
} Parks;

static void
park_coro (gpointer data)
{
  Parks *p = data;
  gint64 t0;

  /* A wake before the park: it returns at once, and only once. */
  server_coro_wake (server_coro_self ());
  p->early = server_coro_park (0);
  p->timed = server_coro_park (g_get_monotonic_time () + 20 * G_TIME_SPAN_MILLISECOND);
  /* Woken by another thread (it waits for p->co). */
  t0 = g_get_monotonic_time ();
  g_atomic_pointer_set (&p->co, server_coro_self ());
  p->woken = server_coro_park (g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND);
  p->waited_us = g_get_monotonic_time () - t0;
  /* A wake while parked on a descriptor: the descriptor's event ends that wait, the wake is
   * kept for the next park. */
  g_atomic_pointer_set (&p->co, NULL);
  p->kept_fd = server_coro_wait_fd (p->fd, G_IO_IN, 0, NULL);
  p->kept_park = server_coro_park (g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND);
  end_fd (p->fd);
  g_atomic_int_inc (&p->done);
}

static void
same_loop_parker (gpointer data)
{
  Parks *p = data;

  p->other = server_coro_self ();
  p->same_loop = server_coro_park (g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND);
  g_atomic_int_inc (&p->done);
}

static void
same_loop_waker (gpointer data)
{
  Parks *p = data;

  /* Spawned after the parker: it has parked by now. */
  g_assert_nonnull (p->other);
  server_coro_wake (p->other);
  g_atomic_int_inc (&p->done);
}

static void
test_park_wake (void)
{
  ServerCoroLoop *loop = loop_new ();
  Parks p = { 0 };
  int fds[2];
  ServerCoro *co;

  socket_pair (fds);
  p.fd = fds[0];
  spawn (loop, park_coro, &p);
  while ((co = g_atomic_pointer_get (&p.co)) == NULL)
    g_usleep (1000);
  g_usleep (50000);
  server_coro_wake (co);
  /* Now parked on the descriptor (or about to): a wake, then the event. */
  while (g_atomic_pointer_get (&p.co) != NULL)
    g_usleep (1000);
  g_usleep (20000);
  server_coro_wake (co);
  send_line (fds[1], "x\r\n");
  while (g_atomic_int_get (&p.done) < 1)
    g_usleep (1000);
  g_assert_cmpint (p.early, ==, 0);
  g_assert_cmpint (p.timed, ==, ETIMEDOUT);
  g_assert_cmpint (p.woken, ==, 0);
  g_assert_cmpint (p.waited_us, >=, 40000);
  g_assert_cmpint (p.waited_us, <, 5 * G_USEC_PER_SEC);
  g_assert_cmpint (p.kept_fd, ==, 0);
  g_assert_cmpint (p.kept_park, ==, 0);
  close (fds[1]);

  /* From a coroutine of the same loop (no eventfd: the loop looks before it waits). */
  spawn (loop, same_loop_parker, &p);
  while (g_atomic_pointer_get (&p.other) == NULL)
    g_usleep (1000);
  spawn (loop, same_loop_waker, &p);
  while (g_atomic_int_get (&p.done) < 3)
    g_usleep (1000);
  g_assert_cmpint (p.same_loop, ==, 0);
  server_coro_loop_free (loop);
}

/* ---- a spawn without a stack ---- */

static void
count_coro (gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

static void
test_spawn_no_stack (void)
{
  ServerCoroLoop *loop = loop_new (); /* its cache is empty: a spawn maps */
  g_autoptr (GError) error = NULL;
  gint ran = 0;

  server_coro_probe_fail_stacks (1);
  g_assert_false (server_coro_loop_spawn (loop, count_coro, &ran, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "no stack"));
  g_assert_cmpuint (server_coro_loop_get_live (loop), ==, 0);
  spawn (loop, count_coro, &ran);
  while (server_coro_loop_get_live (loop) > 0)
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&ran), ==, 1);
  server_coro_loop_free (loop);
}

/* ---- E2BIG, forget_fd, server_socket_wait ---- */

typedef struct
{
  gboolean ok;
} Fds;

static void
fds_coro (gpointer data)
{
  Fds *r = data;
  int pairs[SERVER_CORO_MAX_FDS + 1][2];
  g_autoptr (GError) error = NULL;
  g_autofree char *limit = NULL;
  gint64 now = g_get_monotonic_time ();

  for (int i = 0; i <= SERVER_CORO_MAX_FDS; i++)
    socket_pair (pairs[i]);
  /* Registered at their first wait; nothing came: the past deadline ends each at once. */
  for (int i = 0; i < SERVER_CORO_MAX_FDS; i++)
    g_assert_cmpint (server_coro_wait_fd (pairs[i][0], G_IO_IN, now, NULL), ==, ETIMEDOUT);
  g_assert_cmpint (server_coro_wait_fd (pairs[SERVER_CORO_MAX_FDS][0], G_IO_IN, now, NULL), ==,
                   E2BIG);
  /* The helpers' error names the limit (not "epoll_ctl: Argument list too long"). */
  limit = g_strdup_printf ("at most SERVER_CORO_MAX_FDS (%d) descriptors", SERVER_CORO_MAX_FDS);
  g_assert_false (server_socket_wait (pairs[SERVER_CORO_MAX_FDS][0], G_IO_IN, 1, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, limit));
  g_clear_error (&error);
  {
    ServerLineReader reader;
    g_autoptr (GString) line = fd_reader_init (&reader, pairs[SERVER_CORO_MAX_FDS][0], 1);

    g_assert_cmpint (server_line_reader_read (&reader, 100, line, NULL, &error), ==,
                     SERVER_LINE_ERROR);
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, limit));
    g_clear_error (&error);
    server_line_reader_clear (&reader);
  }
  server_coro_forget_fd (pairs[0][0]);
  server_coro_forget_fd (pairs[0][0]); /* not registered any more: nothing */
  server_coro_forget_fd (12345);      /* never registered: nothing */
  /* A slot again; this one's writable at once (the registration's event). */
  g_assert_cmpint (server_coro_wait_fd (pairs[SERVER_CORO_MAX_FDS][0], G_IO_OUT, 0, NULL), ==, 0);
  /* server_socket_wait keeps poll's meaning: input that is there (its event taken by a
   * wait before) is found without a new event. */
  send_line (pairs[1][1], "x\n");
  g_assert_cmpint (server_coro_wait_fd (pairs[1][0], G_IO_IN, 0, NULL), ==, 0);
  g_assert_true (server_socket_wait (pairs[1][0], G_IO_IN, 5, NULL, &error));
  g_assert_no_error (error);
  /* And its timeout: nothing to read on pairs[2]. */
  g_assert_false (server_socket_wait (pairs[2][0], G_IO_IN, 1, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  for (int i = 0; i <= SERVER_CORO_MAX_FDS; i++)
    {
      end_fd (pairs[i][0]);
      close (pairs[i][1]);
    }
  r->ok = TRUE;
}

static void
test_fds (void)
{
  ServerCoroLoop *loop = loop_new ();
  Fds r = { FALSE };

  spawn (loop, fds_coro, &r);
  server_coro_loop_free (loop);
  g_assert_true (r.ok);
}

/* A stale event: a coroutine woken by the first event of a batch forgets U and registers
 * V in U's slot (and, second round, under U's very number: U closed, V its reuse); U's
 * hang-up later in the same batch must not reach V (it would mark V ended: every wait
 * returning at once). V's waits park and time out. */
typedef struct
{
  ServerCoroLoop *loop;
  gboolean same_number;
  gboolean closing; /* U forgotten with server_coro_forget_closing_fd() (no DEL) */
  int u[2], w[2];
  gint ok; /* (atomic) */
} Stale;

/* On the loop thread, between two epoll_wait()s: both events land in one batch, W's
 * first (the ready list is in order). */
static void
stale_trigger (gpointer data)
{
  Stale *st = data;

  send_line (st->w[1], "go\n");
  g_assert_cmpint (shutdown (st->u[1], SHUT_RDWR), ==, 0);
}

static void
stale_coro (gpointer data)
{
  Stale *st = data;
  int v[2];
  gint64 t0;

  socket_pair (st->u);
  socket_pair (st->w);
  g_assert_cmpint (server_coro_wait_fd (st->u[0], G_IO_OUT, 0, NULL), ==, 0); /* slot 0 */
  spawn (st->loop, stale_trigger, st);
  g_assert_cmpint (server_coro_wait_fd (st->w[0], G_IO_IN, 0, NULL), ==, 0); /* slot 1 */
  /* Woken by W's event; U's hang-up is still ahead in this batch. */
  if (st->closing)
    server_coro_forget_closing_fd (st->u[0]);
  else
    server_coro_forget_fd (st->u[0]);
  if (st->same_number)
    {
      int old = st->u[0];

      close (st->u[0]);
      socket_pair (v);
      g_assert_cmpint (v[0], ==, old); /* the lowest free number */
    }
  else
    socket_pair (v);
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (server_coro_wait_fd (v[0], G_IO_IN, t0 + 100 * G_TIME_SPAN_MILLISECOND, NULL),
                   ==, ETIMEDOUT); /* slot 0 again */
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 100 * G_TIME_SPAN_MILLISECOND);
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (server_coro_wait_fd (v[0], G_IO_IN, t0 + 50 * G_TIME_SPAN_MILLISECOND, NULL),
                   ==, ETIMEDOUT);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 50 * G_TIME_SPAN_MILLISECOND);
  /* V works: input wakes it. */
  send_line (v[1], "x\n");
  g_assert_cmpint (server_coro_wait_fd (v[0], G_IO_IN, t0 + G_TIME_SPAN_SECOND, NULL), ==, 0);
  end_fd (v[0]);
  close (v[1]);
  end_fd (st->w[0]);
  close (st->w[1]);
  if (!st->same_number)
    close (st->u[0]);
  close (st->u[1]);
  g_atomic_int_set (&st->ok, 1);
}

static void
test_stale_event (void)
{
  /* U forgotten, another descriptor in its slot; U closed, V under its number; the same
   * without the DEL (server_coro_forget_closing_fd(): the close took U out of the set). */
  for (int round = 0; round < 3; round++)
    {
      Stale st = { .loop = loop_new (), .same_number = round > 0, .closing = round == 2 };

      spawn (st.loop, stale_coro, &st);
      while (!g_atomic_int_get (&st.ok)) /* its spawns refused once loop_free has begun */
        g_usleep (1000);
      server_coro_loop_free (st.loop);
    }
}

/* ---- server_coro_forget_closing_fd: no EPOLL_CTL_DEL ---- */

/* Registrations of the socket @fd's file (its inode) in the process's epoll sets, from
 * /proc/self/fdinfo (a line "tfd: N events: E data: D pos:P ino:I sdev:S" per
 * registration): what the kernel holds, whatever the loop's table says. */
static guint64
fd_ino (int fd)
{
  struct stat st;

  g_assert_cmpint (fstat (fd, &st), ==, 0);
  return (guint64) st.st_ino;
}

static guint
epoll_registrations_ino (guint64 ino)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *link = g_strdup_printf ("/proc/self/fd/%s", name);
      g_autofree char *target = g_file_read_link (link, NULL);
      g_autofree char *info_path = NULL;
      g_autofree char *info = NULL;
      g_auto (GStrv) lines = NULL;

      if (target == NULL || strcmp (target, "anon_inode:[eventpoll]") != 0)
        continue;
      info_path = g_strdup_printf ("/proc/self/fdinfo/%s", name);
      if (!g_file_get_contents (info_path, &info, NULL, NULL))
        continue;
      lines = g_strsplit (info, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        {
          const char *at = strstr (lines[i], " ino:");

          if (g_str_has_prefix (lines[i], "tfd:") && at != NULL
              && g_ascii_strtoull (at + 5, NULL, 16) == ino)
            n++;
        }
    }
  return n;
}

static guint
epoll_registrations (int fd)
{
  return epoll_registrations_ino (fd_ino (fd));
}

typedef struct
{
  gboolean ok;
} Closing;

static void
closing_coro (gpointer data)
{
  Closing *r = data;
  int a[2], b[2], c[2], e[2];
  int dup_fd, old;
  guint64 ino;
  gint64 t0;

  /* Forgotten for closing: left in the epoll set until the close takes it out. */
  socket_pair (a);
  g_assert_cmpint (server_coro_wait_fd (a[0], G_IO_OUT, 0, NULL), ==, 0);
  g_assert_true (server_coro_has_fd (a[0]));
  g_assert_cmpuint (epoll_registrations (a[0]), ==, 1);
  server_coro_forget_closing_fd (a[0]);
  g_assert_false (server_coro_has_fd (a[0]));
  g_assert_cmpuint (epoll_registrations (a[0]), ==, 1); /* no EPOLL_CTL_DEL */
  /* Events of A between the forget and the close (its peer writes and hangs up), then
   * its number reused at once by a new socket whose peer stays silent: the new one's
   * waits park and time out (A's registration went with its close, its events with it;
   * none reaches the new one). */
  send_line (a[1], "stale\n");
  g_assert_cmpint (shutdown (a[1], SHUT_RDWR), ==, 0);
  old = a[0];
  ino = fd_ino (a[0]);
  close (a[0]);
  g_assert_cmpuint (epoll_registrations_ino (ino), ==, 0); /* the close took it out */
  socket_pair (c);
  g_assert_cmpint (c[0], ==, old); /* the lowest free number */
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (server_coro_wait_fd (c[0], G_IO_IN, t0 + 100 * G_TIME_SPAN_MILLISECOND, NULL),
                   ==, ETIMEDOUT);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 100 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (epoll_registrations (c[0]), ==, 1);
  send_line (c[1], "x\n");
  g_assert_cmpint (server_coro_wait_fd (c[0], G_IO_IN, t0 + G_TIME_SPAN_SECOND, NULL), ==, 0);
  server_coro_forget_closing_fd (c[0]);
  close (c[0]);
  close (c[1]);
  close (a[1]);

  /* A dup'ed descriptor: server_coro_forget_fd() (the DEL), then closed; its duplicate,
   * waited on, still works, and the number reused gets none of its events. */
  socket_pair (b);
  dup_fd = dup (b[0]);
  g_assert_cmpint (dup_fd, >=, 0);
  g_assert_cmpint (server_coro_wait_fd (b[0], G_IO_OUT, 0, NULL), ==, 0);
  server_coro_forget_fd (b[0]);
  g_assert_cmpuint (epoll_registrations (b[0]), ==, 0); /* the DEL: the file has another */
  old = b[0];
  close (b[0]);
  socket_pair (c);
  g_assert_cmpint (c[0], ==, old);
  send_line (b[1], "to the dup\n");
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (server_coro_wait_fd (c[0], G_IO_IN, t0 + 100 * G_TIME_SPAN_MILLISECOND, NULL),
                   ==, ETIMEDOUT);
  g_assert_cmpint (server_coro_wait_fd (dup_fd, G_IO_IN, t0 + G_TIME_SPAN_SECOND, NULL), ==, 0);
  {
    char buf[32];

    g_assert_cmpint (recv (dup_fd, buf, sizeof buf, MSG_DONTWAIT), ==, 11);
    g_assert_cmpmem (buf, 11, "to the dup\n", 11);
  }
  end_fd (dup_fd);
  end_fd (c[0]);
  close (c[1]);
  close (b[1]);

  /* What the rule is for: without the DEL, closing one of two descriptors of a file
   * leaves its registration in the set (the kernel removes it with the file's last one),
   * reporting that file's events: a wake-up each, dropped (under the number reused too). */
  socket_pair (e);
  dup_fd = dup (e[0]);
  g_assert_cmpint (dup_fd, >=, 0);
  g_assert_cmpint (server_coro_wait_fd (e[0], G_IO_OUT, 0, NULL), ==, 0);
  server_coro_forget_closing_fd (e[0]); /* against the rule: e[0] has a duplicate */
  old = e[0];
  close (e[0]);
  g_assert_cmpuint (epoll_registrations (dup_fd), ==, 1); /* left in the set */
  socket_pair (c);
  g_assert_cmpint (c[0], ==, old);
  send_line (e[1], "leftover\n");
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (server_coro_wait_fd (c[0], G_IO_IN, t0 + 100 * G_TIME_SPAN_MILLISECOND, NULL),
                   ==, ETIMEDOUT); /* its events dropped */
  end_fd (c[0]);
  close (c[1]);
  ino = fd_ino (dup_fd);
  close (dup_fd); /* the file's last: out of the set */
  g_assert_cmpuint (epoll_registrations_ino (ino), ==, 0);
  close (e[1]);

  /* Forgotten for closing, then waited on again before its close (a caller that kept it
   * after all): the registration left in the set is taken over (no EEXIST). */
  socket_pair (e);
  g_assert_cmpint (server_coro_wait_fd (e[0], G_IO_OUT, 0, NULL), ==, 0);
  server_coro_forget_closing_fd (e[0]);
  send_line (e[1], "again\n");
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (server_coro_wait_fd (e[0], G_IO_IN, t0 + G_TIME_SPAN_SECOND, NULL), ==, 0);
  g_assert_true (server_coro_has_fd (e[0]));
  g_assert_cmpuint (epoll_registrations (e[0]), ==, 1);
  server_coro_forget_fd (e[0]);
  g_assert_cmpuint (epoll_registrations (e[0]), ==, 0);
  close (e[0]);
  close (e[1]);
  r->ok = TRUE;
}

static void
test_forget_closing (void)
{
  ServerCoroLoop *loop = loop_new ();
  Closing r = { FALSE };

  spawn (loop, closing_coro, &r);
  server_coro_loop_free (loop);
  g_assert_true (r.ok);
}

/* ---- outside a coroutine ---- */

/* ---- jobs: started without a park, joined later ---- */

/* TEST_CORO_JOBS: coroutines (on two loops) and threads starting jobs at once. */
#define TEST_CORO_JOBS 64

typedef struct
{
  gint released;   /* (atomic) the starter went on after the start */
  gint func_done;  /* (atomic) */
  gint then_done;  /* (atomic) */
  guint func_ms;   /* how long @func blocks */
  guint then_ms;
  gboolean wait_release; /* @func waits until the starter went on */
  GThread *func_thread;
  gint joined_early; /* (atomic) the join found @func running: it parked */
  gboolean ok;
} Job;

static void
job_func (gpointer data)
{
  Job *j = data;

  j->func_thread = g_thread_self ();
  while (j->wait_release && !g_atomic_int_get (&j->released))
    g_usleep (1000);
  g_usleep (j->func_ms * 1000);
  g_atomic_int_set (&j->func_done, 1);
}

static void
job_then (gpointer data)
{
  Job *j = data;

  g_assert_true (g_atomic_int_get (&j->func_done));
  g_usleep (j->then_ms * 1000);
  g_atomic_int_set (&j->then_done, 1);
}

/* A past-due wait on a descriptor nobody writes: a timed park that is not a join. */
static void
coro_sleep (guint ms)
{
  int fds[2];

  socket_pair (fds);
  g_assert_cmpint (server_coro_wait_fd (fds[0], G_IO_IN,
                                        g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND,
                                        NULL),
                   ==, ETIMEDOUT);
  server_coro_forget_fd (fds[0]);
  close (fds[0]);
  close (fds[1]);
}

/* Done before the join: the start did not park (the job waited for the coroutine to go
 * on), the join returns at once and nobody was woken. */
static void
job_done_coro (gpointer data)
{
  Job *j = data;
  ServerCoroJob *job = server_coro_job_start (job_func, j, job_then, j);
  guint wakes;

  g_atomic_int_set (&j->released, 1); /* reached without a park: the job waits for it */
  while (!g_atomic_int_get (&j->then_done))
    coro_sleep (5);
  wakes = server_coro_probe_job_wakes ();
  g_assert_true (server_coro_job_joined (job));
  server_coro_job_join (job);
  server_coro_job_finish (job);
  g_assert_cmpuint (server_coro_probe_job_wakes (), ==, wakes);
  j->ok = TRUE;
}

static void
test_job_done (void)
{
  ServerCoroLoop *loop = loop_new ();
  Job j = { .wait_release = TRUE };

  spawn (loop, job_done_coro, &j);
  server_coro_loop_free (loop);
  g_assert_true (j.ok);
  g_assert_true (j.func_thread != NULL && j.func_thread != g_thread_self ());
}

/* Joined before it is done: parked (the loop's other coroutines go on), woken once for
 * the join and once for the finish. */
static void
job_park_coro (gpointer data)
{
  Job *j = data;
  guint wakes = server_coro_probe_job_wakes ();
  ServerCoroJob *job = server_coro_job_start (job_func, j, job_then, j);

  g_assert_false (server_coro_job_joined (job));
  server_coro_job_join (job);
  g_assert_true (g_atomic_int_get (&j->func_done));
  g_assert_false (g_atomic_int_get (&j->then_done)); /* its 200 ms are ahead */
  server_coro_job_finish (job);
  g_assert_true (g_atomic_int_get (&j->then_done));
  g_assert_cmpuint (server_coro_probe_job_wakes (), ==, wakes + 2);
  j->ok = TRUE;
}

static void
test_job_park (void)
{
  gint progress = 0;
  Job j = { .func_ms = 200, .then_ms = 200 };

  beside_ping_pong (job_park_coro, &j, &progress, 100000);
  g_assert_true (j.ok);
  g_assert_cmpint (progress, >, 0);
  g_test_message ("ping-pong rounds during the job: %d", progress);
}

/* Detached: the detach returns once @func is done, not waiting for @then, which the pool
 * thread runs on and then frees the job (ASan: no leak, no use after free). */
static void
job_detach_coro (gpointer data)
{
  Job *j = data;
  ServerCoroJob *job = server_coro_job_start (job_func, j, job_then, j);

  server_coro_job_detach (job);
  g_assert_true (g_atomic_int_get (&j->func_done));
  g_assert_false (g_atomic_int_get (&j->then_done)); /* its 300 ms are ahead */
  j->ok = TRUE;
}

static void
test_job_detach (void)
{
  ServerCoroLoop *loop = loop_new ();
  Job j = { .func_ms = 50, .then_ms = 300 };

  spawn (loop, job_detach_coro, &j);
  server_coro_loop_free (loop);
  g_assert_true (j.ok);
  /* @then goes on without its owner (@j outlives it here). */
  while (!g_atomic_int_get (&j.then_done))
    g_usleep (5000);
  server_coro_job_detach (NULL);
}

/* Many at once: coroutines on two loops and threads, joining early (parked) or late (done
 * already); each part ran once, before its join returned. */
typedef struct
{
  Job job;
  gboolean late;
} ManyJob;

static void
job_many_run (ManyJob *m)
{
  ServerCoroJob *job = server_coro_job_start (job_func, &m->job, job_then, &m->job);

  if (m->late)
    {
      if (server_coro_in_loop ())
        coro_sleep (30);
      else
        g_usleep (30 * 1000);
    }
  server_coro_job_join (job);
  g_assert_true (g_atomic_int_get (&m->job.func_done));
  server_coro_job_finish (job);
  g_assert_true (g_atomic_int_get (&m->job.then_done));
  m->job.ok = TRUE;
}

static void
job_many_coro (gpointer data)
{
  job_many_run (data);
}

static gpointer
job_many_thread (gpointer data)
{
  job_many_run (data);
  return NULL;
}

static void
test_job_many (void)
{
  ServerCoroLoop *loops[2] = { loop_new (), loop_new () };
  ManyJob m[TEST_CORO_JOBS + 8] = { 0 };
  GThread *threads[8];

  for (guint i = 0; i < G_N_ELEMENTS (m); i++)
    {
      m[i].late = i % 2 == 1;
      m[i].job.func_ms = 1 + i % 7;
      m[i].job.then_ms = i % 5;
    }
  for (guint i = 0; i < TEST_CORO_JOBS; i++)
    spawn (loops[i % 2], job_many_coro, &m[i]);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("job", job_many_thread, &m[TEST_CORO_JOBS + i]);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  server_coro_loop_free (loops[0]);
  server_coro_loop_free (loops[1]);
  for (guint i = 0; i < G_N_ELEMENTS (m); i++)
    g_assert_true (m[i].job.ok);
}

/* A job of test_pool_threads: counts itself in, waits for the gate, counts itself out. */
typedef struct
{
  GMutex lock;
  GCond cond;
  guint running;
  guint most;
  gboolean open;
} PoolGate;

static void
pool_gate_job (gpointer data)
{
  PoolGate *g = data;

  g_mutex_lock (&g->lock);
  g->running++;
  g->most = MAX (g->most, g->running);
  g_cond_broadcast (&g->cond);
  while (!g->open)
    g_cond_wait (&g->cond, &g->lock);
  g->running--;
  g_mutex_unlock (&g->lock);
}

#define TEST_POOL_JOBS 12

static void
test_pool_threads (void)
{
  PoolGate g = { 0 };
  ServerCoroJob *jobs[TEST_POOL_JOBS];
  gint64 until = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  guint n;

  g_test_summary ("The shared pool gives each piece of work a thread (no job waits behind "
                  "a blocked one), and ends the threads past SERVER_CORO_POOL_IDLE_THREADS "
                  "once unneeded for the idle time, also while work keeps coming");
  for (guint i = 0; i < TEST_POOL_JOBS; i++)
    jobs[i] = server_coro_job_start (pool_gate_job, &g, NULL, NULL);
  g_mutex_lock (&g.lock);
  while (g.running < TEST_POOL_JOBS && g_get_monotonic_time () < until)
    g_cond_wait_until (&g.cond, &g.lock, until);
  g_assert_cmpuint (g.most, ==, TEST_POOL_JOBS);
  g_assert_cmpuint (server_coro_probe_pool_idle (0), >=, TEST_POOL_JOBS);
  g.open = TRUE;
  g_cond_broadcast (&g.cond);
  g_mutex_unlock (&g.lock);
  for (guint i = 0; i < TEST_POOL_JOBS; i++)
    server_coro_job_finish (jobs[i]);
  /* A steady trickle of work (a job every 10 ms, each done at once) while the idle time
   * is 100 ms: the thread idle last takes each, so the others time out all the same. */
  n = server_coro_probe_pool_idle (100);
  while (n > SERVER_CORO_POOL_IDLE_THREADS && g_get_monotonic_time () < until)
    {
      ServerCoroJob *job;

      g.open = TRUE;
      job = server_coro_job_start (pool_gate_job, &g, NULL, NULL);
      server_coro_job_finish (job);
      g_usleep (10 * G_TIME_SPAN_MILLISECOND);
      n = server_coro_probe_pool_idle (0);
    }
  server_coro_probe_pool_idle (SERVER_CORO_POOL_IDLE_MS);
  g_assert_cmpuint (n, ==, SERVER_CORO_POOL_IDLE_THREADS);
  g_mutex_clear (&g.lock);
  g_cond_clear (&g.cond);
}

static void
test_outside (void)
{
  int fds[2];

  g_assert_false (server_coro_in_loop ());
  socket_pair (fds);
  server_coro_forget_fd (fds[0]); /* nothing */
  if (g_test_undefined ())
    {
      g_test_expect_message ("msgtrk-server", G_LOG_LEVEL_CRITICAL, "*co != NULL*");
      g_assert_cmpint (server_coro_wait_fd (fds[0], G_IO_IN, 0, NULL), ==, EINVAL);
      g_test_assert_expected_messages ();
    }
  close (fds[0]);
  close (fds[1]);
}

/* ---- the guard page ---- */

static gsize
recurse (volatile char *above,
         gsize          depth)
{
  volatile char frame[1024];

  frame[0] = (char) depth;
  frame[sizeof frame - 1] = above != NULL ? above[0] : 0;
  if (depth > 2 * SERVER_CORO_STACK_SIZE) /* far past the guard page: never here */
    return 0;
  return recurse (frame, depth + 1) + (gsize) frame[0]; /* not a tail call */
}

static gsize overflow_sink;

/* The guard below the running coroutine's stack, in /proc/self/maps: the mapping just
 * below the one holding the stack pointer is PROT_NONE and at least SERVER_CORO_GUARD_SIZE
 * long (a 16 KiB frame of code without stack-clash probes cannot jump over it). */
static void
guard_coro (gpointer data)
{
  guintptr sp = (guintptr) __builtin_frame_address (0);
  g_autofree char *maps = NULL;
  g_auto (GStrv) lines = NULL;
  guint64 stack_start = 0;
  gboolean *ok = data;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  lines = g_strsplit (maps, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      guint64 start, end;
      char perms[5];

      if (sscanf (lines[i], "%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x %4s", &start, &end,
                  perms) == 3
          && start <= sp && sp < end)
        {
          g_assert_cmpstr (perms, ==, "rw-p");
          stack_start = start;
        }
    }
  g_assert_cmpuint (stack_start, !=, 0);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      guint64 start, end;
      char perms[5];

      if (sscanf (lines[i], "%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x %4s", &start, &end,
                  perms) == 3
          && end == stack_start)
        {
          g_assert_cmpstr (perms, ==, "---p");
          g_assert_cmpuint (end - start, >=, SERVER_CORO_GUARD_SIZE);
          *ok = TRUE;
        }
    }
}

static void
test_guard (void)
{
  ServerCoroLoop *loop = loop_new ();
  gboolean ok = FALSE;

  spawn (loop, guard_coro, &ok);
  server_coro_loop_free (loop);
  g_assert_true (ok);
}

static void
overflow_coro (gpointer data)
{
  overflow_sink = recurse (NULL, 0);
}

static void
test_overflow (void)
{
  if (g_test_subprocess ())
    {
      /* A fresh process, one thread: fork a grandchild to die, and look at how. */
      pid_t pid = fork ();
      int status = 0;

      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          struct rlimit no_core = { 0, 0 };
          ServerCoroLoop *loop;

          setrlimit (RLIMIT_CORE, &no_core);
          loop = server_coro_loop_new ("overflow", NULL);
          server_coro_loop_spawn (loop, overflow_coro, NULL, NULL);
          server_coro_loop_free (loop);
          _exit (0); /* the overflow did not fault */
        }
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
#ifdef __SANITIZE_ADDRESS__
      /* ASan's handler reports the stack overflow (on its alternate stack) and exits. */
      g_assert_true (WIFSIGNALED (status) || (WIFEXITED (status) && WEXITSTATUS (status) != 0));
#else
      g_assert_true (WIFSIGNALED (status));
      g_assert_cmpint (WTERMSIG (status), ==, SIGSEGV);
#endif
      return;
    }
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, 0);
  g_test_trap_assert_passed ();
}

static void
sleepy_coro (gpointer data)
{
  g_usleep (120 * 1000); /* what a coroutine must not do */
}

static void
test_watchdog (void)
{
  ServerCoroLoop *loop = loop_new ();

  spawn (loop, sleepy_coro, NULL);
  server_coro_loop_free (loop);
#ifdef SERVER_CORO_WATCHDOG
  g_assert_cmpuint (mt_coro_watchdog_warnings (), >=, 1);
#else
  g_test_message ("not a debug build: no watchdog");
#endif
}

int
main (int argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  mt_coro_watchdog_not_fatal (); /* the watchdog may fire on a loaded machine too */
#ifdef SERVER_CORO_UCONTEXT
  g_test_message ("switch: swapcontext");
#else
  g_test_message ("switch: default (assembly on x86-64)");
#endif
  g_test_add_func ("/server/coro/ping-pong", test_ping_pong);
  g_test_add_func ("/server/coro/bulk", test_bulk);
  g_test_add_func ("/server/coro/wait-timeout", test_wait_timeout);
  g_test_add_func ("/server/coro/reader-timeouts", test_reader_timeouts);
  g_test_add_func ("/server/coro/reader-past-deadline", test_reader_past_deadline);
  g_test_add_func ("/server/coro/cancel", test_cancel);
  g_test_add_func ("/server/coro/cancel-hooked", test_cancel_hooked);
  g_test_add_func ("/server/coro/cancel-slow-handler", test_cancel_slow_handler);
  g_test_add_func ("/server/coro/run-in-thread", test_run_in_thread);
  g_test_add_func ("/server/coro/job-done", test_job_done);
  g_test_add_func ("/server/coro/job-park", test_job_park);
  g_test_add_func ("/server/coro/job-detach", test_job_detach);
  g_test_add_func ("/server/coro/job-many", test_job_many);
  g_test_add_func ("/server/coro/pool-threads", test_pool_threads);
  g_test_add_func ("/server/coro/eof", test_eof);
  g_test_add_func ("/server/coro/spawn", test_spawn);
  g_test_add_func ("/server/coro/spawn-no-stack", test_spawn_no_stack);
  g_test_add_func ("/server/coro/park-wake", test_park_wake);
  g_test_add_func ("/server/coro/reader-first-read", test_reader_first_read);
  g_test_add_func ("/server/coro/reader-expect-data", test_reader_expect_data);
  g_test_add_func ("/server/coro/fds", test_fds);
  g_test_add_func ("/server/coro/stale-event", test_stale_event);
  g_test_add_func ("/server/coro/forget-closing", test_forget_closing);
  g_test_add_func ("/server/coro/guard", test_guard);
  g_test_add_func ("/server/coro/outside", test_outside);
  g_test_add_func ("/server/coro/overflow", test_overflow);
  g_test_add_func ("/server/coro/watchdog", test_watchdog);
  return g_test_run ();
}
