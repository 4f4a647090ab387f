/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-relay-coro.c: an SMTP relay whose sessions are coroutines on one epoll thread:
 * bench-relay-threads' sequential lockstep session, run the way bench-relay-epoll runs
 * its sockets (docs/postfix-front-io.md, "Coroutines on epoll: measured"). Built twice:
 * bench-relay-coro switches with glibc's swapcontext(), bench-relay-coro-asm
 * (BENCH_CORO_ASM, x86-64 only) with a hand-written switch of the callee-saved registers.
 *
 *   bench-relay-coro[-asm] --port-file FILE --upstream 127.0.0.1:PORT
 *   bench-relay-coro[-asm] --stack-probe | --guard-probe | --switch-probe
 *
 * What: the listening socket level-triggered (one accept4() per event); each accepted
 * connection gets a coroutine with a stack of its own and runs session(), the same code
 * shape as bench-relay-threads: recv() from the side whose turn it is (BenchLockstep),
 * send() all of it to the other. The sockets are non-blocking and registered once,
 * edge-triggered, for input and output; a recv() or send() that would fail with EAGAIN
 * (for recv(): known from a short read, as bench-relay-epoll) parks the coroutine on that
 * descriptor (coro_wait()) and switches to the scheduler, which resumes
 * it when an event comes for the descriptor it waits on, or when its deadline passes
 * (BENCH_RELAY_IDLE_TIMEOUT_S after it parked: a list sorted by deadline, its head giving
 * epoll_wait()'s timeout). An edge-triggered event for a descriptor nobody waits on only
 * marks it readable: a coroutine waits only after a short read or an EAGAIN, so it never
 * waits for readiness that came before. SIGTERM/SIGINT come through a signalfd: every parked
 * coroutine is resumed with its wait failed (ECANCELED) and runs to its end, closing its
 * sockets (the front's stop would be this: a flag, and a wake-up).
 * Stacks: BENCH_CORO_STACK_SIZE, mmap()ed with one PROT_NONE guard page below (an overflow
 * faults instead of writing over another coroutine's stack); a finished coroutine's stack
 * is kept for the next (up to BENCH_CORO_STACK_CACHE), as the threads relay keeps its
 * threads. At exit the deepest use seen is written to stderr (each new stack is filled
 * with a pattern first; BENCH_CORO_STACK_REPORT). --stack-probe runs GLib's and libc's
 * formatting, logging and getaddrinfo() in a coroutine and says how deep each went;
 * --guard-probe recurses without end in a coroutine (it must die of SIGSEGV);
 * --switch-probe times a switch alone.
 * Limits: BENCH_RELAY_BUFFER_SIZE octets on the session's stack; BENCH_EPOLL_EVENTS events
 * per epoll_wait(); sessions without bound.
 * Never: parse more than BenchLockstep does; used by bench-postfix-front.py --extra-proxy
 * only (not installed, not a test).
 */
#include "bench-relay-common.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_CORO_ASM
#include <ucontext.h>
#endif

/* Under ASan, tell it of each switch (BENCH_CORO_NO_FIBER_NOTES: do not, to see why). */
#if defined(__SANITIZE_ADDRESS__) && !defined(BENCH_CORO_NO_FIBER_NOTES)
#define BENCH_CORO_ASAN 1
#endif
#ifdef BENCH_CORO_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

/* A session's stack. What runs on it: session() with its BENCH_RELAY_BUFFER_SIZE (16 KiB)
 * buffer and a few words, recv()/send()/connect()/getsockopt() (system call wrappers, a
 * few hundred octets), the switch. Measured (the exit report): 19.3 KiB. 64 KiB leaves
 * room for what a real session adds (--stack-probe: g_strdup_printf 3.2 KiB, g_warning
 * 11.9 KiB), and the guard page turns anything deeper into a fault, not a corruption (as
 * long as no frame is larger than the guard page: Debian's GCC does not enable
 * -fstack-clash-protection; session()'s big frame is the first on the stack). Only the
 * pages touched are ever resident. */
#define BENCH_CORO_STACK_SIZE (64 * 1024)
/* Finished coroutines' stacks kept for new sessions (no mmap/mprotect/munmap per session). */
#define BENCH_CORO_STACK_CACHE 256
#define BENCH_CORO_STACK_PATTERN 0xa5
#define BENCH_EPOLL_EVENTS 64

typedef struct Coro Coro;

typedef struct
{
  Coro    *coro;
  int      fd;
  gboolean readable; /* input may be waiting: an event said so, no short read since */
} Watch;             /* the epoll data of a session's descriptor */

struct Coro
{
  Coro    *next, *prev;        /* every live coroutine (for the stop) */
  Coro    *dl_next, *dl_prev;  /* the deadline list, while parked with a deadline */
  gint64   deadline;           /* monotonic µs */
  gboolean parked_on_deadline; /* linked in the deadline list */
  int      wait_fd;            /* the descriptor it is parked on, -1: not parked */
  uint32_t wait_events;
  gboolean timed_out, cancelled, done;
  Watch    client, up;
  guint8  *stack; /* (owned) the lowest usable octet; the guard page is below it */
#ifdef BENCH_CORO_ASM
  void *sp; /* its saved stack pointer while it does not run */
#else
  ucontext_t ctx;
#endif
#ifdef BENCH_CORO_ASAN
  void *fake_stack;
#endif
  void (*run) (Coro *co);
};

typedef struct
{
  BenchRelayConfig cfg;
  int              ep;
  gint64           now; /* monotonic µs, read after each epoll_wait() */
  Coro            *current;
  Coro            *live;              /* every live coroutine */
  Coro            *dl_head, *dl_tail; /* parked coroutines with a deadline, soonest first */
  GPtrArray       *dead;              /* finished in this batch of events: freed after it */
  GPtrArray       *stacks;            /* kept stacks */
  gboolean         stack_report;      /* fill new stacks with the pattern, report the depth */
  gsize            deepest;           /* deepest stack use seen (stack_report) */
  gsize            sessions;
  gsize            resumes; /* scheduler to coroutine switches (as many back) */
#ifdef BENCH_CORO_ASM
  void *sched_sp;
#else
  ucontext_t sched_ctx;
#endif
#ifdef BENCH_CORO_ASAN
  void       *sched_fake_stack;
  const void *sched_bottom;
  gsize       sched_size;
#endif
} Loop;

static Loop loop;

/* ---- the switch ---- */

#ifdef BENCH_CORO_ASM
#if !defined(__x86_64__)
#error "BENCH_CORO_ASM: x86-64 only"
#endif
/* coro_switch (void **save_sp, void *new_sp): pushes the System V callee-saved registers,
 * the SSE control/status word and the x87 control word, saves the stack pointer in
 * *save_sp, loads new_sp and pops the same from there. No system call (swapcontext()
 * also saves and sets the signal mask: rt_sigprocmask). */
void coro_switch (void **save_sp, void *new_sp);
__asm__(".text\n"
        ".globl coro_switch\n"
        ".type coro_switch,@function\n"
        "coro_switch:\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  stmxcsr (%rsp)\n"
        "  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n"
        "  fldcw 4(%rsp)\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size coro_switch, .-coro_switch\n");
#endif

static void coro_entry (void);

#ifdef BENCH_CORO_ASAN
/* ASan must be told of every switch: it keeps its own view of the current stack (for
 * its fake stacks and for the stack bounds of its reports). */
static void
asan_start (void **fake_save, const void *bottom, gsize size)
{
  __sanitizer_start_switch_fiber (fake_save, bottom, size);
}
static void
asan_finish (void *fake_save, const void **old_bottom, gsize *old_size)
{
  __sanitizer_finish_switch_fiber (fake_save, old_bottom, old_size);
}
#endif

/* Runs @co until it parks or ends (from the scheduler). */
static void
coro_resume (Coro *co)
{
  loop.current = co;
  loop.resumes++;
#ifdef BENCH_CORO_ASAN
  asan_start (&loop.sched_fake_stack, co->stack, BENCH_CORO_STACK_SIZE);
#endif
#ifdef BENCH_CORO_ASM
  coro_switch (&loop.sched_sp, co->sp);
#else
  swapcontext (&loop.sched_ctx, &co->ctx);
#endif
#ifdef BENCH_CORO_ASAN
  asan_finish (loop.sched_fake_stack, NULL, NULL);
#endif
  loop.current = NULL;
}

/* Back to the scheduler (from the running coroutine). */
static void
coro_yield (void)
{
  Coro *co = loop.current;

#ifdef BENCH_CORO_ASAN
  /* A finished coroutine never comes back: its fake stack goes (NULL). */
  asan_start (co->done ? NULL : &co->fake_stack, loop.sched_bottom, loop.sched_size);
#endif
#ifdef BENCH_CORO_ASM
  coro_switch (&co->sp, loop.sched_sp);
#else
  swapcontext (&co->ctx, &loop.sched_ctx);
#endif
#ifdef BENCH_CORO_ASAN
  asan_finish (co->fake_stack, NULL, NULL);
#endif
}

static void
coro_entry (void)
{
  Coro *co = loop.current;

#ifdef BENCH_CORO_ASAN
  /* The first arrival on this stack: learn the scheduler's stack bounds. */
  asan_finish (NULL, &loop.sched_bottom, &loop.sched_size);
#endif
  co->run (co);
  co->done = TRUE;
  coro_yield (); /* never returns */
  g_assert_not_reached ();
}

/* ---- stacks ---- */

static gsize
stack_used (const guint8 *stack)
{
  gsize i = 0;

  while (i < BENCH_CORO_STACK_SIZE && stack[i] == BENCH_CORO_STACK_PATTERN)
    i++;
  return BENCH_CORO_STACK_SIZE - i;
}

static guint8 *
stack_new (void)
{
  long    page = sysconf (_SC_PAGESIZE);
  guint8 *map;

  if (loop.stacks->len > 0)
    return g_ptr_array_steal_index_fast (loop.stacks, loop.stacks->len - 1);
  map = mmap (NULL, BENCH_CORO_STACK_SIZE + page, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED)
    return NULL;
  if (mprotect (map, page, PROT_NONE) < 0) /* the guard page, below the stack */
    {
      munmap (map, BENCH_CORO_STACK_SIZE + page);
      return NULL;
    }
  if (loop.stack_report)
    memset (map + page, BENCH_CORO_STACK_PATTERN, BENCH_CORO_STACK_SIZE);
  return map + page;
}

static void
stack_unmap (guint8 *stack)
{
  long page = sysconf (_SC_PAGESIZE);

  munmap (stack - page, BENCH_CORO_STACK_SIZE + page);
}

static void
stack_free (guint8 *stack)
{
  if (loop.stack_report)
    loop.deepest = MAX (loop.deepest, stack_used (stack));
  if (loop.stacks->len < BENCH_CORO_STACK_CACHE)
    g_ptr_array_add (loop.stacks, stack);
  else
    stack_unmap (stack);
}

/* A coroutine that will run @run from its start; NULL if no stack could be had. */
static Coro *
coro_new (void (*run) (Coro *co))
{
  Coro *co = g_new0 (Coro, 1);

  co->stack = stack_new ();
  if (co->stack == NULL)
    {
      g_free (co);
      return NULL;
    }
  co->run = run;
  co->wait_fd = co->client.fd = co->up.fd = -1;
  co->client.coro = co->up.coro = co;
  co->client.readable = co->up.readable = TRUE; /* not known: try */
#ifdef BENCH_CORO_ASM
  {
    /* What coro_switch() pops: the two control words, six registers, then it returns
     * into coro_entry() with the stack pointer at top - 8 (as after a call: the ABI's
     * alignment), a zero return address there. */
    guint64 *top = (guint64 *)(co->stack + BENCH_CORO_STACK_SIZE);
    guint64 *sp = top - 9;

    memset (sp, 0, 9 * sizeof *sp);
    sp[0] = 0x1f80 | ((guint64)0x037f << 32); /* MXCSR, x87 control word: the defaults */
    sp[7] = (guint64)(uintptr_t)coro_entry;
    co->sp = sp;
  }
#else
  getcontext (&co->ctx);
  co->ctx.uc_stack.ss_sp = co->stack;
  co->ctx.uc_stack.ss_size = BENCH_CORO_STACK_SIZE;
  co->ctx.uc_link = NULL; /* coro_entry() never returns */
  makecontext (&co->ctx, coro_entry, 0);
#endif
  co->next = loop.live;
  if (loop.live)
    loop.live->prev = co;
  loop.live = co;
  return co;
}

static void
coro_free (Coro *co)
{
  if (co->prev)
    co->prev->next = co->next;
  else
    loop.live = co->next;
  if (co->next)
    co->next->prev = co->prev;
  stack_free (co->stack);
  g_free (co);
}

/* ---- waits ---- */

static void
deadline_unlink (Coro *co)
{
  if (!co->parked_on_deadline)
    return;
  if (co->dl_prev)
    co->dl_prev->dl_next = co->dl_next;
  else
    loop.dl_head = co->dl_next;
  if (co->dl_next)
    co->dl_next->dl_prev = co->dl_prev;
  else
    loop.dl_tail = co->dl_prev;
  co->dl_next = co->dl_prev = NULL;
  co->parked_on_deadline = FALSE;
}

/* Sorted insert from the tail: with one timeout for every wait, new deadlines are the
 * latest, so this is O(1) in practice (a heap if timeouts ever differ much). */
static void
deadline_link (Coro *co)
{
  Coro *after = loop.dl_tail;

  while (after != NULL && after->deadline > co->deadline)
    after = after->dl_prev;
  co->dl_prev = after;
  co->dl_next = after ? after->dl_next : loop.dl_head;
  if (co->dl_next)
    co->dl_next->dl_prev = co;
  else
    loop.dl_tail = co;
  if (after)
    after->dl_next = co;
  else
    loop.dl_head = co;
  co->parked_on_deadline = TRUE;
}

/* Parks the running coroutine until @fd has one of @events, for at most
 * BENCH_RELAY_IDLE_TIMEOUT_S; FALSE with errno ETIMEDOUT or ECANCELED (the stop). */
static gboolean
coro_wait (int fd, uint32_t events)
{
  Coro *co = loop.current;

  if (co->cancelled)
    {
      errno = ECANCELED;
      return FALSE;
    }
  co->wait_fd = fd;
  co->wait_events = events;
  co->deadline = loop.now + (gint64)BENCH_RELAY_IDLE_TIMEOUT_S * G_USEC_PER_SEC;
  deadline_link (co);
  coro_yield ();
  deadline_unlink (co);
  co->wait_fd = -1;
  if (co->cancelled)
    {
      errno = ECANCELED;
      return FALSE;
    }
  if (co->timed_out)
    {
      co->timed_out = FALSE;
      errno = ETIMEDOUT;
      return FALSE;
    }
  return TRUE;
}

/* recv() that parks instead of blocking. As bench-relay-epoll, a short read means the
 * socket is drained: the next read waits for an event first instead of trying a recv()
 * that would fail with EAGAIN (one system call less per wait; every event for the
 * descriptor sets readable again, whether the coroutine waits on it or not). */
static ssize_t
coro_recv (Watch *w, char *buf, gsize len)
{
  for (;;)
    {
      ssize_t n;

      if (!w->readable && !coro_wait (w->fd, EPOLLIN | EPOLLRDHUP))
        return -1;
      n = recv (w->fd, buf, len, 0);
      if (n >= 0)
        {
          if ((gsize)n < len)
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
coro_send_all (int fd, const char *buf, gsize len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, buf, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN && coro_wait (fd, EPOLLOUT))
        continue;
      if (n < 0)
        return FALSE;
      buf += n;
      len -= (gsize)n;
    }
  return TRUE;
}

static gboolean
watch (Watch *w)
{
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = w };

  return epoll_ctl (loop.ep, EPOLL_CTL_ADD, w->fd, &ev) == 0;
}

/* ---- the session: bench-relay-threads' session(), with coro_recv/coro_send_all ---- */

static void
session (Coro *co)
{
  char          buf[BENCH_RELAY_BUFFER_SIZE];
  BenchLockstep ls;
  int           err = 0;
  socklen_t     errlen = sizeof err;

  bench_relay_nodelay (co->client.fd);
  co->up.fd = bench_relay_connect (&loop.cfg, TRUE);
  if (co->up.fd < 0 || !watch (&co->client) || !watch (&co->up)
      || !coro_wait (co->up.fd, EPOLLOUT) /* the connect */
      || getsockopt (co->up.fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0 || err != 0)
    goto out;
  bench_lockstep_init (&ls);
  for (;;)
    {
      gboolean from_up = ls.replies_due > 0;
      ssize_t  n = coro_recv (from_up ? &co->up : &co->client, buf, sizeof buf);

      if (n <= 0)
        break;
      if (from_up)
        bench_lockstep_upstream (&ls, buf, (gsize)n);
      else
        bench_lockstep_client (&ls, buf, (gsize)n);
      if (!coro_send_all (from_up ? co->client.fd : co->up.fd, buf, (gsize)n))
        break;
    }
out:
  if (co->up.fd >= 0)
    close (co->up.fd); /* which takes it out of the epoll set */
  close (co->client.fd);
  co->up.fd = co->client.fd = -1;
}

/* ---- the scheduler ---- */

static void
loop_tick (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  loop.now = (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Runs @co and, if it ended, queues it to be freed after this batch of events. */
static void
run (Coro *co)
{
  coro_resume (co);
  if (co->done)
    g_ptr_array_add (loop.dead, co);
}

static void
accept_one (int listen_fd)
{
  int   fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  Coro *co;

  if (fd < 0)
    return;
  co = coro_new (session);
  if (co == NULL)
    {
      close (fd);
      return;
    }
  co->client.fd = fd;
  loop.sessions++;
  run (co); /* until its first wait: the upstream's connect */
}

static char listen_tag, signal_tag; /* epoll data of the two fds that are not a Watch */

static int
epoll_timeout_ms (void)
{
  gint64 left;

  if (loop.dl_head == NULL)
    return -1;
  left = loop.dl_head->deadline - loop.now;
  return left <= 0 ? 0 : (int)MIN ((left + 999) / 1000, G_MAXINT);
}

static void
serve (int listen_fd, int sig_fd)
{
  struct epoll_event events[BENCH_EPOLL_EVENTS];
  gboolean           stopping = FALSE;

  while (!stopping)
    {
      int n = epoll_wait (loop.ep, events, BENCH_EPOLL_EVENTS, epoll_timeout_ms ());

      if (n < 0 && errno != EINTR)
        break;
      loop_tick ();
      for (int i = 0; i < n; i++)
        {
          void  *tag = events[i].data.ptr;
          Watch *w = tag;

          if (tag == &signal_tag)
            stopping = TRUE;
          else if (tag == &listen_tag)
            accept_one (listen_fd);
          else if (!w->coro->done)
            {
              if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                w->readable = TRUE;
              if (w->coro->wait_fd == w->fd
                  && (events[i].events & (w->coro->wait_events | EPOLLERR | EPOLLHUP)))
                run (w->coro);
            }
        }
      while (loop.dl_head != NULL && loop.dl_head->deadline <= loop.now)
        {
          Coro *co = loop.dl_head;

          deadline_unlink (co);
          co->timed_out = TRUE;
          run (co);
        }
      /* Later events of a batch may name a coroutine that ended in it. */
      for (guint i = 0; i < loop.dead->len; i++)
        coro_free (loop.dead->pdata[i]);
      g_ptr_array_set_size (loop.dead, 0);
    }
  /* The stop: every parked coroutine's wait fails, and it runs to its end. */
  while (loop.live != NULL)
    {
      Coro *co = loop.live;

      co->cancelled = TRUE;
      coro_resume (co);
      g_assert (co->done);
      coro_free (co);
    }
}

/* ---- --stack-probe: how deep GLib's and libc's calls go on a coroutine's stack ---- */

static const char *probe_name;
static gsize       probe_depth;

static void
probe_nothing (Coro *co)
{
}

static void
probe_strdup_printf (Coro *co)
{
  g_autofree char *s = g_strdup_printf ("%s[%s] %d %u %" G_GINT64_FORMAT, "mail.example.org",
                                        "192.0.2.1", 42, 587u, (gint64)1234567890123);

  (void)s;
}

static void
probe_strdup_printf_double (Coro *co)
{
  g_autofree char *s = g_strdup_printf ("%.3f %g", 1234.5678, 1e300);

  (void)s;
}

static void
probe_snprintf (Coro *co)
{
  char buf[256];

  snprintf (buf, sizeof buf, "%s %d %lu", "mail.example.org", 42, 99ul);
}

static void
probe_g_warning (Coro *co)
{
  g_warning ("stack probe: %s[%s] %d", "mail.example.org", "192.0.2.1", 42);
}

static void
probe_g_debug_off (Coro *co)
{
  g_debug ("stack probe: %s %d", "not shown", 42);
}

static void
probe_getaddrinfo (Coro *co)
{
  struct addrinfo  hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
  struct addrinfo *res = NULL;

  if (getaddrinfo ("localhost", "25", &hints, &res) == 0)
    freeaddrinfo (res);
}

static void
probe_getnameinfo (Coro *co)
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

  frame[0] = (char)depth;
  frame[sizeof frame - 1] = above ? above[0] : 0;
  if (depth > BENCH_CORO_STACK_SIZE) /* far past the guard page: never here */
    return 0;
  return probe_recurse (frame, depth + 1) + frame[0]; /* not a tail call */
}

static void
probe_overflow (Coro *co)
{
  printf ("recursing on a %d-octet stack: this must end in SIGSEGV\n", BENCH_CORO_STACK_SIZE);
  fflush (stdout);
  printf ("%zu\n", probe_recurse (NULL, 0));
}

/* --switch-probe: what a switch costs, alone: a coroutine that yields at once,
 * BENCH_CORO_SWITCH_PROBE_ROUNDS times resumed. */
#define BENCH_CORO_SWITCH_PROBE_ROUNDS 2000000

static void
probe_yield_loop (Coro *co)
{
  for (;;)
    coro_yield ();
}

static int
switch_probe (void)
{
  Coro  *co = coro_new (probe_yield_loop);
  gint64 t0 = g_get_monotonic_time ();
  gint64 t1;

  for (int i = 0; i < BENCH_CORO_SWITCH_PROBE_ROUNDS; i++)
    coro_resume (co);
  t1 = g_get_monotonic_time ();
  printf ("%d resumes and yields: %.1f ns per switch (resume or yield)\n",
          BENCH_CORO_SWITCH_PROBE_ROUNDS,
          (double)(t1 - t0) * 1000 / (2.0 * BENCH_CORO_SWITCH_PROBE_ROUNDS));
  return 0; /* the coroutine stays parked: the process ends */
}

static int
stack_probe (void)
{
  static const struct
  {
    const char *name;
    void (*run) (Coro *co);
  } probes[] = {
    { "nothing (the switch and coro_entry)", probe_nothing },
    { "snprintf %s %d %lu", probe_snprintf },
    { "g_strdup_printf %s %d %u %" G_GINT64_FORMAT, probe_strdup_printf },
    { "g_strdup_printf %.3f %g", probe_strdup_printf_double },
    { "g_debug (G_MESSAGES_DEBUG unset)", probe_g_debug_off },
    { "g_warning %s %d (to stderr)", probe_g_warning },
    { "getaddrinfo localhost (files, nss)", probe_getaddrinfo },
    { "getnameinfo 127.0.0.1 (NI_NAMEREQD)", probe_getnameinfo },
  };

  loop.stack_report = TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (probes); i++)
    {
      Coro *co;

      /* A fresh stack each time (never the cache's), filled with the pattern. */
      co = coro_new (probes[i].run);
      probe_name = probes[i].name;
      coro_resume (co);
      probe_depth = stack_used (co->stack);
      printf ("%-45s %6zu octets of %d\n", probe_name, probe_depth, BENCH_CORO_STACK_SIZE);
      coro_free (co);
      stack_unmap (g_ptr_array_steal_index_fast (loop.stacks, loop.stacks->len - 1));
    }
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  struct epoll_event ev = { .events = EPOLLIN };
  sigset_t           stop;
  guint16            port;
  int                listen_fd, sig_fd;

  loop.dead = g_ptr_array_new ();
  loop.stacks = g_ptr_array_new ();
  loop.stack_report = g_getenv ("BENCH_CORO_STACK_REPORT") != NULL;
  loop_tick ();
  if (argc == 2 && strcmp (argv[1], "--stack-probe") == 0)
    return stack_probe ();
  if (argc == 2 && strcmp (argv[1], "--switch-probe") == 0)
    return switch_probe ();
  if (argc == 2 && strcmp (argv[1], "--guard-probe") == 0)
    {
      coro_resume (coro_new (probe_overflow));
      return 1; /* not reached */
    }
  if (!bench_relay_parse_args (&argc, &argv, "Coroutines on one epoll thread, lockstep.", &loop.cfg,
                               &error))
    {
      fprintf (stderr, "bench-relay-coro: %s\n", error->message);
      return 2;
    }
  sigemptyset (&stop);
  sigaddset (&stop, SIGTERM);
  sigaddset (&stop, SIGINT);
  sigprocmask (SIG_BLOCK, &stop, NULL);
  loop.ep = epoll_create1 (EPOLL_CLOEXEC);
  sig_fd = signalfd (-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
  listen_fd = bench_relay_listen (TRUE, &port, &error);
  if (listen_fd < 0 || loop.ep < 0 || sig_fd < 0)
    {
      fprintf (stderr, "bench-relay-coro: %s\n", error ? error->message : g_strerror (errno));
      bench_relay_config_clear (&loop.cfg);
      return 1;
    }
  ev.data.ptr = &listen_tag;
  epoll_ctl (loop.ep, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.ptr = &signal_tag;
  epoll_ctl (loop.ep, EPOLL_CTL_ADD, sig_fd, &ev);
  if (!bench_relay_write_port (&loop.cfg, port, &error))
    fprintf (stderr, "bench-relay-coro: %s\n", error->message);
  else
    serve (listen_fd, sig_fd);
  if (loop.stack_report)
    {
      for (guint i = 0; i < loop.stacks->len; i++)
        loop.deepest = MAX (loop.deepest, stack_used (loop.stacks->pdata[i]));
      fprintf (stderr,
               "bench-relay-coro: %zu sessions, %zu resumes, deepest stack use %zu of %d octets\n",
               loop.sessions, loop.resumes, loop.deepest, BENCH_CORO_STACK_SIZE);
    }
  close (listen_fd);
  close (sig_fd);
  close (loop.ep);
  bench_relay_config_clear (&loop.cfg);
  return 0;
}
