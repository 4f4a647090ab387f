/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-coro.c: coroutines on epoll threads (contract: server-coro.h; docs/postfix-front-io.md,
 * "Coroutines in server/common: server-coro").
 *
 * How: each ServerCoroLoop is a thread around one epoll set. Its coroutines are ServerCoro
 * records, each with an mmap()ed stack (SERVER_CORO_GUARD_SIZE of PROT_NONE below it) and a
 * small table of the descriptors it registered (CoroFd: the descriptor, its readiness marks
 * and its registration's number). The epoll data of a registration is its descriptor and
 * that number (a loop-wide counter); the loop finds the CoroFd in a table by descriptor and
 * drops an event whose registration is gone or was replaced (a stale event: the batch was
 * taken before a coroutine woken earlier in it forgot the descriptor and registered another
 * in the same slot, or under the same number), so a stale event never reaches another
 * registration: it costs nothing. An iteration: epoll_wait() (its timeout the soonest
 * deadline: a binary heap of the parked coroutines that have one), then each event marks
 * its descriptor and resumes the coroutine parked on it when the mark is one it waits for;
 * then the queued spawns start, the pool queue's coroutines (run_in_thread work done) are
 * resumed, then the cancel queue's (ECANCELED), and the coroutines whose deadline has
 * passed (ETIMEDOUT). Another thread reaches the loop only through its lock: the spawn
 * queue, the pool and cancel queues (linked through the coroutines), and an eventfd written
 * once per batch of wake-ups (none for a spawn from the loop's own coroutines: the next
 * epoll_wait() does not wait). A cancellable's handler is connected at a coroutine's first
 * park with it and kept (a reference held) until a park with another one or the coroutine's
 * end: a session passes the same one to every wait, and a connect and disconnect per park
 * would cost a closure, the cancellables' global mutex and a handler list walk each time.
 * So a handler may fire while the coroutine is not parked on it: it queues the coroutine
 * with the park's sequence number, and the loop resumes it only if it is still in that park
 * and that park waits on that cancellable
 * (a later wait with it sees it cancelled at once). The handler's data is a CoroHook
 * record, checked under the loop's lock: unhook (a park with another cancellable, the
 * coroutine's end) clears it there and disconnects with g_signal_handler_disconnect(),
 * never g_cancellable_disconnect() (that waits for an emission running in another
 * thread, the program's slow handlers included: the whole loop frozen meanwhile); the
 * record is freed by the handler's destroy notify once no emission uses it, and holds a
 * reference on the loop record (its lock) until then. server_coro_wake() sets the
 * coroutine's pending mark and, when it is in server_coro_park(), queues it on the wake
 * queue (the loop resumes it if it is still in that park); the park takes the mark, and
 * leaving a park takes the coroutine off the queue (a deadline that won the race). Spawns
 * carry their stack (mapped or from the cache, under the lock, by the spawning thread).
 * A coroutine
 * that returned is freed at the end of its iteration (its descriptors were taken out of the
 * table when it returned: no event of the batch reaches it); its stack is kept for the
 * next (SERVER_CORO_STACK_CACHE).
 * The switch: server_coro_switch() below on x86-64 (the System V callee-saved registers,
 * MXCSR and the x87 control word pushed on the old stack, the stack pointer swapped: no
 * system call), glibc's swapcontext() elsewhere or with SERVER_CORO_UCONTEXT (meson
 * -Dcoro_switch=ucontext; swapcontext saves the signal mask: a system call per switch).
 * Under ASan the fiber annotations (__sanitizer_start/finish_switch_fiber) around each
 * switch, and a reused stack's shadow cleared.
 * Debug builds (SERVER_CORO_WATCHDOG): a resume that ran longer than
 * SERVER_CORO_WATCHDOG_US logs a warning naming the coroutine's function.
 * Limits: SERVER_CORO_MAX_FDS descriptors per coroutine (E2BIG past it: the helpers'
 * GError from server_coro_wait_error() names the limit);
 * SERVER_CORO_EPOLL_EVENTS events per epoll_wait(); a deadline kept to the millisecond
 * (epoll_wait's unit, rounded up: never early).
 * Never: resume a coroutine from another thread (only the loop thread switches to it);
 * apply an event to a CoroFd without checking its registration number; close
 * a descriptor in this file (forget_fd and a coroutine's end only take it out of epoll).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server-coro.h"
#include "server-coro-probe.h"

#if !defined(__x86_64__) && !defined(SERVER_CORO_UCONTEXT)
#define SERVER_CORO_UCONTEXT 1
#endif
#ifdef SERVER_CORO_UCONTEXT
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SERVER_CORO_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* SERVER_CORO_EPOLL_EVENTS: events taken per epoll_wait(). */
#define SERVER_CORO_EPOLL_EVENTS 64
/* SERVER_CORO_WATCHDOG_US: a resume that ran longer than this (debug builds) is logged:
 * a blocking call left in a coroutine stalls every session of its loop. */
#define SERVER_CORO_WATCHDOG_US (50 * G_TIME_SPAN_MILLISECOND)

/* Readiness marks of a CoroFd. */
#define MARK_IN  1u
#define MARK_OUT 2u

typedef struct
{
  ServerCoro *co;
  int         fd;    /* -1: a free slot */
  guint       ready; /* MARK_IN | MARK_OUT: an event came, no wait took it since */
  guint       ended; /* MARK_IN after EPOLLRDHUP, both after EPOLLHUP or EPOLLERR: kept (every
                      * wait in that direction returns at once: a short read that took the
                      * last data must not lose the end of file that came with it) */
  guint32     gen;   /* the registration's number (its epoll data: event_data()) */
} CoroFd;

/* A cancellable handler's data: freed by the handler's destroy notify, once no emission
 * uses it any more (it may outlive the coroutine and the loop's thread). */
typedef struct
{
  ServerCoroLoop *loop; /* (owned) a reference: the lock stays valid */
  ServerCoro     *co;   /* (loop->lock) NULL once unhooked: the handler does nothing */
} CoroHook;

struct _ServerCoro
{
  ServerCoroLoop *loop;
  ServerCoroFunc  func;
  gpointer        data;
  guint8         *stack; /* (owned) the lowest usable octet; the guard is below it */
#ifdef SERVER_CORO_UCONTEXT
  ucontext_t ctx;
#else
  void *sp; /* its saved stack pointer while it does not run */
#endif
#ifdef SERVER_CORO_ASAN
  void *fake_stack;
#endif
  CoroFd fds[SERVER_CORO_MAX_FDS];
  /* A park: */
  CoroFd  *wait_fd;   /* (nullable) the descriptor it waits on */
  guint    wait_mask; /* MARK_IN | MARK_OUT */
  gint64   deadline;  /* 0: none */
  guint    heap_index; /* in loop->heap while parked with a deadline (G_MAXUINT: not) */
  gint     wait_seq;   /* (atomic) which park with a cancellable (a cancel handler's
                        * wake-up may be for an older one) */
  int      wake;       /* why it was resumed: 0, ETIMEDOUT, ECANCELED */
  GCancellable *wait_cancellable; /* (nullable) (not owned) the park's */
  gboolean parked;
  gboolean done;
  /* The cancellable its handler is connected to, kept from park to park (a session
   * passes the same one to every wait: connected once, not per park): */
  GCancellable *hooked; /* (owned) (nullable) */
  gulong        hooked_id;
  CoroHook     *hook; /* (nullable) the handler's record while connected */
  /* The cancel queue (loop->lock): the hooked cancellable fired; for park cq_seq only. */
  ServerCoro *cq_next;
  gboolean    cq_queued;
  gint        cq_seq;
  /* The pool queue (loop->lock): run_in_thread's work done. */
  ServerCoro *pq_next;
  /* server_coro_park() and server_coro_wake() (loop->lock): */
  gboolean    wake_pending; /* a wake came that no park took yet */
  gboolean    in_park;      /* parked in server_coro_park() */
  gboolean    wq_queued;    /* on the wake queue */
  ServerCoro *wq_next;
};

typedef struct
{
  ServerCoroFunc func;
  gpointer       data;
  guint8        *stack; /* (owned) mapped or taken from the cache by the spawn */
} Spawn;

struct _ServerCoroLoop
{
  char    *name;
  int      ep;
  int      wake_fd;
  GThread *thread;
  GMutex   lock;
  GCond    cond;        /* live went down (loop_free waits on it) */
  GQueue   spawns;      /* (lock) of Spawn */
  ServerCoro *cq_head, *cq_tail; /* (lock) the cancel queue */
  ServerCoro *pq_head, *pq_tail; /* (lock) the pool queue */
  ServerCoro *wq_head, *wq_tail; /* (lock) the wake queue (server_coro_wake()) */
  gboolean signalled;   /* (lock) wake_fd written, not yet taken */
  gboolean freeing;     /* (lock) no more spawns */
  gboolean stop;        /* (lock) the thread ends */
  gint     live;        /* (atomic) spawned, not yet returned */
  gint     refs;        /* (atomic) server_coro_loop_free()'s and one per CoroHook: the
                         * record (its lock) is freed at the last */
  /* The loop thread's own: */
  GPtrArray *heap;   /* parked coroutines with a deadline, soonest at 0 */
  GPtrArray *dead;   /* returned in this iteration: freed at its end */
  GPtrArray *stacks; /* (lock) kept stacks (a spawn from any thread takes one) */
  ServerCoro *current;
  CoroFd    **by_fd;     /* the registration of each descriptor (NULL: none), by_fd_len long */
  guint       by_fd_len;
  guint32     gen;       /* the last registration's number */
  gboolean    spawned_here; /* a coroutine of this loop spawned or woke one: no eventfd,
                             * no wait */
#ifdef SERVER_CORO_UCONTEXT
  ucontext_t sched_ctx;
#else
  void *sched_sp;
#endif
#ifdef SERVER_CORO_ASAN
  void       *sched_fake_stack;
  const void *sched_bottom;
  gsize       sched_size;
#endif
};

/* The coroutine running on this thread (NULL: none, or not a loop thread). */
static __thread ServerCoro *coro_self;

/* The epoll data of a registration: its descriptor and its number. An event whose
 * descriptor is not registered now, or by a later registration (forgotten and registered
 * again, or closed and its number reused, in the same iteration: the batch held the old
 * one's events) is dropped, never applied to the registration that took its place. */
#define event_data(fd, gen) ((guint64) (guint32) (fd) | ((guint64) (gen) << 32))
/* The eventfd's epoll data (no descriptor is G_MAXUINT32). */
#define WAKE_DATA G_MAXUINT64

/* ---- the switch ---- */

#ifndef SERVER_CORO_UCONTEXT
/* server_coro_switch (void **save_sp, void *new_sp): pushes the System V callee-saved
 * registers, the SSE control/status word and the x87 control word, saves the stack
 * pointer in *save_sp, loads new_sp and pops the same from there. */
void server_coro_switch (void **save_sp, void *new_sp);
__asm__ (".text\n"
         ".globl server_coro_switch\n"
         ".hidden server_coro_switch\n"
         ".type server_coro_switch,@function\n"
         "server_coro_switch:\n"
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
         ".size server_coro_switch, .-server_coro_switch\n");
#endif

/* Runs @co until it parks or returns (on the loop thread). */
static void
coro_resume (ServerCoroLoop *loop,
             ServerCoro     *co)
{
#ifdef SERVER_CORO_WATCHDOG
  gint64 t0 = g_get_monotonic_time ();
  gint64 ran;
#endif

  loop->current = co;
  coro_self = co;
#ifdef SERVER_CORO_ASAN
  __sanitizer_start_switch_fiber (&loop->sched_fake_stack, co->stack, SERVER_CORO_STACK_SIZE);
#endif
#ifdef SERVER_CORO_UCONTEXT
  swapcontext (&loop->sched_ctx, &co->ctx);
#else
  server_coro_switch (&loop->sched_sp, co->sp);
#endif
#ifdef SERVER_CORO_ASAN
  __sanitizer_finish_switch_fiber (loop->sched_fake_stack, NULL, NULL);
#endif
  coro_self = NULL;
  loop->current = NULL;
#ifdef SERVER_CORO_WATCHDOG
  ran = g_get_monotonic_time () - t0;
  if (ran > SERVER_CORO_WATCHDOG_US)
    g_warning ("server-coro: loop %s: a coroutine (function %p) ran %" G_GINT64_FORMAT
               " ms without parking (a blocking call in a coroutine?)",
               loop->name, (gpointer) co->func, ran / 1000);
#endif
}

/* Back to the loop (from the running coroutine). */
static void
coro_yield (ServerCoro *co)
{
  ServerCoroLoop *loop = co->loop;

#ifdef SERVER_CORO_ASAN
  /* A coroutine that returned never comes back: its fake stack goes (NULL). */
  __sanitizer_start_switch_fiber (co->done ? NULL : &co->fake_stack, loop->sched_bottom,
                                  loop->sched_size);
#endif
#ifdef SERVER_CORO_UCONTEXT
  swapcontext (&co->ctx, &loop->sched_ctx);
#else
  server_coro_switch (&co->sp, loop->sched_sp);
#endif
#ifdef SERVER_CORO_ASAN
  __sanitizer_finish_switch_fiber (co->fake_stack, NULL, NULL);
#endif
}

static void forget_all (ServerCoro *co);
static void unhook (ServerCoro *co);
static void loop_unref (ServerCoroLoop *loop);

static void
coro_entry (void)
{
  ServerCoro *co = coro_self;

#ifdef SERVER_CORO_ASAN
  /* The first arrival on this stack: learn the loop thread's stack bounds. */
  __sanitizer_finish_switch_fiber (NULL, &co->loop->sched_bottom, &co->loop->sched_size);
#endif
  co->func (co->data);
  forget_all (co);
  unhook (co);
  co->done = TRUE;
  coro_yield (co); /* never returns */
  g_assert_not_reached ();
}

/* ---- stacks ---- */

static gsize
page_size (void)
{
  static gsize page;

  if (page == 0)
    page = (gsize) sysconf (_SC_PAGESIZE);
  return page;
}

/* SERVER_CORO_GUARD_SIZE rounded up to pages. */
static gsize
guard_size (void)
{
  gsize page = page_size ();

  return (SERVER_CORO_GUARD_SIZE + page - 1) / page * page;
}

/* server_coro_probe_fail_stacks(): maps to fail (atomic). */
static gint probe_fail_stacks;

/* A stack from the cache (NULL: empty), under loop->lock. */
static guint8 *
stack_cached_locked (ServerCoroLoop *loop)
{
  if (loop->stacks->len == 0)
    return NULL;
  return g_ptr_array_steal_index_fast (loop->stacks, loop->stacks->len - 1);
}

/* A cached stack made usable again (any thread). */
static guint8 *
stack_reuse (guint8 *stack)
{
#ifdef SERVER_CORO_ASAN
  /* The frames of the coroutine before never returned: their redzones are poisoned. */
  if (stack != NULL)
    ASAN_UNPOISON_MEMORY_REGION (stack, SERVER_CORO_STACK_SIZE);
#endif
  return stack;
}

/* A new stack (any thread); NULL with errno set. */
static guint8 *
stack_map (void)
{
  gsize   guard = guard_size ();
  guint8 *map;

  if (g_atomic_int_get (&probe_fail_stacks) > 0)
    {
      g_atomic_int_add (&probe_fail_stacks, -1);
      errno = ENOMEM;
      return NULL;
    }
  map = mmap (NULL, SERVER_CORO_STACK_SIZE + guard, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED)
    return NULL;
  if (mprotect (map, guard, PROT_NONE) != 0) /* the guard, below the stack */
    {
      int saved = errno;

      munmap (map, SERVER_CORO_STACK_SIZE + guard);
      errno = saved;
      return NULL;
    }
  return map + guard;
}

/* A stack from the cache or mapped (the probes' loops). */
static guint8 *
stack_get (ServerCoroLoop *loop)
{
  guint8 *stack;

  g_mutex_lock (&loop->lock);
  stack = stack_cached_locked (loop);
  g_mutex_unlock (&loop->lock);
  return stack != NULL ? stack_reuse (stack) : stack_map ();
}

static void
stack_unmap (guint8 *stack)
{
  munmap (stack - guard_size (), SERVER_CORO_STACK_SIZE + guard_size ());
}

/* Under loop->lock. */
static void
stack_put_locked (ServerCoroLoop *loop,
                  guint8         *stack)
{
  if (loop->stacks->len < SERVER_CORO_STACK_CACHE)
    g_ptr_array_add (loop->stacks, stack);
  else
    stack_unmap (stack);
}

/* ---- coroutines ---- */

/* A coroutine on @stack (owned from now on). */
static ServerCoro *
coro_new (ServerCoroLoop *loop,
          ServerCoroFunc  func,
          gpointer        data,
          guint8         *stack)
{
  ServerCoro *co = g_new0 (ServerCoro, 1);

  co->stack = stack;
  co->loop = loop;
  co->func = func;
  co->data = data;
  co->heap_index = G_MAXUINT;
  for (guint i = 0; i < SERVER_CORO_MAX_FDS; i++)
    {
      co->fds[i].co = co;
      co->fds[i].fd = -1;
    }
#ifdef SERVER_CORO_UCONTEXT
  getcontext (&co->ctx);
  co->ctx.uc_stack.ss_sp = co->stack;
  co->ctx.uc_stack.ss_size = SERVER_CORO_STACK_SIZE;
  co->ctx.uc_link = NULL; /* coro_entry() never returns */
  makecontext (&co->ctx, coro_entry, 0);
#else
  {
    /* What server_coro_switch() pops: the two control words, six registers, then it
     * returns into coro_entry() with the stack pointer at top - 8 (as after a call: the
     * ABI's alignment), a zero return address there. */
    guint64 *top = (guint64 *) (co->stack + SERVER_CORO_STACK_SIZE);
    guint64 *sp = top - 9;

    memset (sp, 0, 9 * sizeof *sp);
    sp[0] = 0x1f80 | ((guint64) 0x037f << 32); /* MXCSR, x87 control word: the defaults */
    sp[7] = (guint64) (uintptr_t) coro_entry;
    co->sp = sp;
  }
#endif
  return co;
}

/* Under loop->lock (its stack goes to the cache). */
static void
coro_free_locked (ServerCoroLoop *loop,
                  ServerCoro     *co)
{
  stack_put_locked (loop, co->stack);
  g_free (co);
}

/* ---- deadlines: a binary heap on co->deadline ---- */

static void
heap_set (ServerCoroLoop *loop,
          guint           i,
          ServerCoro     *co)
{
  loop->heap->pdata[i] = co;
  co->heap_index = i;
}

static void
heap_up (ServerCoroLoop *loop,
         guint           i)
{
  ServerCoro *co = loop->heap->pdata[i];

  while (i > 0)
    {
      guint       parent = (i - 1) / 2;
      ServerCoro *p = loop->heap->pdata[parent];

      if (p->deadline <= co->deadline)
        break;
      heap_set (loop, i, p);
      i = parent;
    }
  heap_set (loop, i, co);
}

static void
heap_down (ServerCoroLoop *loop,
           guint           i)
{
  ServerCoro *co = loop->heap->pdata[i];
  guint       n = loop->heap->len;

  for (;;)
    {
      guint       child = 2 * i + 1;
      ServerCoro *c;

      if (child >= n)
        break;
      if (child + 1 < n
          && ((ServerCoro *) loop->heap->pdata[child + 1])->deadline
               < ((ServerCoro *) loop->heap->pdata[child])->deadline)
        child++;
      c = loop->heap->pdata[child];
      if (co->deadline <= c->deadline)
        break;
      heap_set (loop, i, c);
      i = child;
    }
  heap_set (loop, i, co);
}

static void
heap_push (ServerCoroLoop *loop,
           ServerCoro     *co)
{
  g_ptr_array_add (loop->heap, co);
  heap_up (loop, loop->heap->len - 1);
}

static void
heap_remove (ServerCoroLoop *loop,
             ServerCoro     *co)
{
  guint       i = co->heap_index;
  ServerCoro *last;

  if (i == G_MAXUINT)
    return;
  co->heap_index = G_MAXUINT;
  last = g_ptr_array_steal_index (loop->heap, loop->heap->len - 1);
  if (last == co)
    return;
  heap_set (loop, i, last);
  heap_up (loop, i);
  heap_down (loop, last->heap_index);
}

/* ---- the wake queue (any thread) ---- */

static void
wake_signal_locked (ServerCoroLoop *loop)
{
  if (!loop->signalled)
    {
      guint64 one = 1;

      loop->signalled = TRUE;
      while (write (loop->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    }
}

/* The hooked cancellable of @co fired: queued, for the park it is in now (the loop checks
 * that it is still parked there, and with that cancellable). */
static void
cancel_queue_locked (ServerCoroLoop *loop,
                     ServerCoro     *co)
{
  co->cq_seq = g_atomic_int_get (&co->wait_seq);
  if (co->cq_queued)
    return;
  co->cq_queued = TRUE;
  co->cq_next = NULL;
  if (loop->cq_tail != NULL)
    loop->cq_tail->cq_next = co;
  else
    loop->cq_head = co;
  loop->cq_tail = co;
  wake_signal_locked (loop);
}

static void
cancel_unqueue_locked (ServerCoroLoop *loop,
                       ServerCoro     *co)
{
  ServerCoro *prev = NULL;

  if (!co->cq_queued)
    return;
  for (ServerCoro *c = loop->cq_head; c != NULL; prev = c, c = c->cq_next)
    if (c == co)
      {
        if (prev != NULL)
          prev->cq_next = co->cq_next;
        else
          loop->cq_head = co->cq_next;
        if (loop->cq_tail == co)
          loop->cq_tail = prev;
        break;
      }
  co->cq_queued = FALSE;
  co->cq_next = NULL;
}

/* @co (parked in server_coro_park()) on the wake queue, once. */
static void
wake_queue_locked (ServerCoroLoop *loop,
                   ServerCoro     *co)
{
  if (co->wq_queued)
    return;
  co->wq_queued = TRUE;
  co->wq_next = NULL;
  if (loop->wq_tail != NULL)
    loop->wq_tail->wq_next = co;
  else
    loop->wq_head = co;
  loop->wq_tail = co;
  if (coro_self != NULL && coro_self->loop == loop)
    loop->spawned_here = TRUE; /* the loop looks before its next wait */
  else
    wake_signal_locked (loop);
}

static void
wake_unqueue_locked (ServerCoroLoop *loop,
                     ServerCoro     *co)
{
  ServerCoro *prev = NULL;

  if (!co->wq_queued)
    return;
  for (ServerCoro *c = loop->wq_head; c != NULL; prev = c, c = c->wq_next)
    if (c == co)
      {
        if (prev != NULL)
          prev->wq_next = co->wq_next;
        else
          loop->wq_head = co->wq_next;
        if (loop->wq_tail == co)
          loop->wq_tail = prev;
        break;
      }
  co->wq_queued = FALSE;
  co->wq_next = NULL;
}

/* ---- the loop thread ---- */

/* Runs @co; a coroutine that returned is freed at the end of the iteration. */
static void
run (ServerCoroLoop *loop,
     ServerCoro     *co)
{
  coro_resume (loop, co);
  if (co->done)
    {
      g_ptr_array_add (loop->dead, co);
      g_mutex_lock (&loop->lock);
      if (g_atomic_int_dec_and_test (&loop->live))
        g_cond_broadcast (&loop->cond);
      g_mutex_unlock (&loop->lock);
    }
}

/* Resumes a parked @co with @why (its park ends: off the heap). */
static void
wake (ServerCoroLoop *loop,
      ServerCoro     *co,
      int             why)
{
  heap_remove (loop, co);
  co->parked = FALSE;
  co->wake = why;
  run (loop, co);
}

static void
on_event (ServerCoroLoop     *loop,
          struct epoll_event *ev)
{
  guint32     fd = (guint32) ev->data.u64;
  CoroFd     *f;
  ServerCoro *co;
  guint       got;

  if (fd >= loop->by_fd_len)
    return;
  f = loop->by_fd[fd];
  if (f == NULL || f->gen != (guint32) (ev->data.u64 >> 32)) /* stale: see event_data() */
    return;
  co = f->co;
  if (ev->events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
    f->ready |= MARK_IN | MARK_OUT;
  if (ev->events & EPOLLRDHUP)
    f->ended |= MARK_IN;
  if (ev->events & (EPOLLHUP | EPOLLERR))
    f->ended |= MARK_IN | MARK_OUT;
  if (ev->events & EPOLLIN)
    f->ready |= MARK_IN;
  if (ev->events & EPOLLOUT)
    f->ready |= MARK_OUT;
  if (!co->parked || co->wait_fd != f)
    return;
  got = (f->ready | f->ended) & co->wait_mask;
  if (got == 0)
    return;
  f->ready &= ~got;
  wake (loop, co, 0);
}

static int
epoll_timeout (ServerCoroLoop *loop)
{
  gint64 left;

  if (loop->heap->len == 0)
    return -1;
  left = ((ServerCoro *) loop->heap->pdata[0])->deadline - g_get_monotonic_time ();
  return left <= 0 ? 0 : (int) MIN ((left + 999) / 1000, G_MAXINT);
}

static gpointer
loop_thread (gpointer data)
{
  ServerCoroLoop    *loop = data;
  struct epoll_event events[SERVER_CORO_EPOLL_EVENTS];

  for (;;)
    {
      GQueue  spawns = G_QUEUE_INIT;
      gboolean stop;
      gint64  now;
      int     n = epoll_wait (loop->ep, events, SERVER_CORO_EPOLL_EVENTS,
                              loop->spawned_here ? 0 : epoll_timeout (loop));

      if (n < 0 && errno != EINTR)
        g_error ("server-coro: loop %s: epoll_wait: %s", loop->name, g_strerror (errno));
      for (int i = 0; i < n; i++)
        {
          if (events[i].data.u64 == WAKE_DATA)
            {
              guint64 count;

              while (read (loop->wake_fd, &count, sizeof count) < 0 && errno == EINTR)
                ;
            }
          else
            on_event (loop, &events[i]);
        }
      loop->spawned_here = FALSE;
      g_mutex_lock (&loop->lock);
      loop->signalled = FALSE;
      spawns = loop->spawns;
      g_queue_init (&loop->spawns);
      stop = loop->stop;
      g_mutex_unlock (&loop->lock);
      for (GList *l = spawns.head; l != NULL; l = l->next)
        {
          Spawn      *s = l->data;
          ServerCoro *co = coro_new (loop, s->func, s->data, s->stack);

          g_free (s);
          run (loop, co);
        }
      g_queue_clear (&spawns);
      for (;;)
        {
          ServerCoro *co;

          g_mutex_lock (&loop->lock);
          co = loop->pq_head;
          if (co != NULL)
            {
              loop->pq_head = co->pq_next;
              if (loop->pq_head == NULL)
                loop->pq_tail = NULL;
            }
          g_mutex_unlock (&loop->lock);
          if (co == NULL)
            break;
          wake (loop, co, 0);
        }
      for (;;)
        {
          ServerCoro *co;
          gint        seq = 0;

          g_mutex_lock (&loop->lock);
          co = loop->cq_head;
          if (co != NULL)
            {
              seq = co->cq_seq;
              cancel_unqueue_locked (loop, co);
            }
          g_mutex_unlock (&loop->lock);
          if (co == NULL)
            break;
          /* Only the park it fired in, and one that waits on that cancellable. */
          if (co->parked && g_atomic_int_get (&co->wait_seq) == seq
              && co->wait_cancellable != NULL && co->wait_cancellable == co->hooked)
            wake (loop, co, ECANCELED);
        }
      for (;;)
        {
          ServerCoro *co;
          gboolean    go = FALSE;

          g_mutex_lock (&loop->lock);
          co = loop->wq_head;
          if (co != NULL)
            {
              go = co->in_park;
              wake_unqueue_locked (loop, co);
            }
          g_mutex_unlock (&loop->lock);
          if (co == NULL)
            break;
          if (go && co->parked) /* still in that park (the wake is its pending mark) */
            wake (loop, co, 0);
        }
      now = g_get_monotonic_time ();
      while (loop->heap->len > 0 && ((ServerCoro *) loop->heap->pdata[0])->deadline <= now)
        wake (loop, loop->heap->pdata[0], ETIMEDOUT);
      if (loop->dead->len > 0)
        {
          g_mutex_lock (&loop->lock);
          for (guint i = 0; i < loop->dead->len; i++)
            coro_free_locked (loop, loop->dead->pdata[i]);
          g_mutex_unlock (&loop->lock);
          g_ptr_array_set_size (loop->dead, 0);
        }
      if (stop)
        break;
    }
  return NULL;
}

/**
 * server_coro_loop_new:
 * @name: the loop thread's name
 * @error: where a failure is described
 *
 * An epoll set, an eventfd for wake-ups from other threads, and a thread @name running
 * them (see the top of server-coro.h).
 *
 * Returns: (transfer full) (nullable): the loop, NULL on failure
 */
ServerCoroLoop *
server_coro_loop_new (const char *name,
                      GError    **error)
{
  ServerCoroLoop    *loop = g_new0 (ServerCoroLoop, 1);
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_DATA };
  int                saved;

  loop->name = g_strdup (name);
  loop->refs = 1;
  g_mutex_init (&loop->lock);
  g_cond_init (&loop->cond);
  g_queue_init (&loop->spawns);
  loop->heap = g_ptr_array_new ();
  loop->dead = g_ptr_array_new ();
  loop->stacks = g_ptr_array_new ();
  loop->ep = epoll_create1 (EPOLL_CLOEXEC);
  loop->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (loop->ep < 0 || loop->wake_fd < 0
      || epoll_ctl (loop->ep, EPOLL_CTL_ADD, loop->wake_fd, &ev) != 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: epoll/eventfd: %s",
                   name, g_strerror (saved));
      server_coro_loop_free (loop);
      return NULL;
    }
  loop->thread = g_thread_try_new (name, loop_thread, loop, error);
  if (loop->thread == NULL)
    {
      server_coro_loop_free (loop);
      return NULL;
    }
  return loop;
}

/**
 * server_coro_loop_spawn:
 * @loop: a loop
 * @func: the coroutine's function
 * @data: its argument
 * @error: where a refusal is described
 *
 * Queues @func(@data) to start as a new coroutine of @loop at its next iteration, its
 * stack taken from the loop's cache or mapped here. From any thread, a coroutine of @loop
 * included.
 *
 * Returns: FALSE (G_IO_ERROR_CLOSED) when @loop is being freed, FALSE (the errno of
 *   mmap(2) or mprotect(2) as a GIOError) when no stack could be mapped: then @func will
 *   not run and @data is still the caller's
 */
gboolean
server_coro_loop_spawn (ServerCoroLoop *loop,
                        ServerCoroFunc  func,
                        gpointer        data,
                        GError        **error)
{
  Spawn  *s;
  guint8 *stack;

  g_return_val_if_fail (loop != NULL && func != NULL, FALSE);
  g_mutex_lock (&loop->lock);
  stack = loop->freeing ? NULL : stack_cached_locked (loop);
  if (stack == NULL && !loop->freeing)
    {
      /* None kept: mapped without the lock (the loop frees stacks under it). */
      g_mutex_unlock (&loop->lock);
      stack = stack_map ();
      if (stack == NULL)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "%s: no stack for a coroutine: %s", loop->name, g_strerror (saved));
          return FALSE;
        }
      g_mutex_lock (&loop->lock);
    }
  if (loop->freeing)
    {
      g_mutex_unlock (&loop->lock);
      if (stack != NULL)
        stack_unmap (stack);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "%s: the loop is stopping", loop->name);
      return FALSE;
    }
  s = g_new (Spawn, 1);
  s->func = func;
  s->data = data;
  s->stack = stack_reuse (stack);
  g_queue_push_tail (&loop->spawns, s);
  g_atomic_int_inc (&loop->live);
  if (coro_self != NULL && coro_self->loop == loop)
    loop->spawned_here = TRUE; /* the loop looks before its next wait */
  else
    wake_signal_locked (loop);
  g_mutex_unlock (&loop->lock);
  return TRUE;
}

/* Coroutines spawned on @loop and not yet returned (from any thread). */
guint
server_coro_loop_get_live (ServerCoroLoop *loop)
{
  return (guint) g_atomic_int_get (&loop->live);
}

/* A reference dropped (any thread): the record goes with the last (a cancellable's
 * handler record may outlive server_coro_loop_free(), its emission still running). */
static void
loop_unref (ServerCoroLoop *loop)
{
  if (!g_atomic_int_dec_and_test (&loop->refs))
    return;
  g_mutex_clear (&loop->lock);
  g_cond_clear (&loop->cond);
  g_free (loop->name);
  g_free (loop);
}

/**
 * server_coro_loop_free:
 * @loop: (nullable): a loop (not from one of its coroutines)
 *
 * Refuses further spawns, waits until every coroutine of @loop has returned (the caller
 * makes them end), then ends the loop's thread and frees it all (stacks unmapped).
 */
void
server_coro_loop_free (ServerCoroLoop *loop)
{
  if (loop == NULL)
    return;
  g_return_if_fail (coro_self == NULL || coro_self->loop != loop);
  if (loop->thread != NULL)
    {
      g_mutex_lock (&loop->lock);
      loop->freeing = TRUE;
      while (g_atomic_int_get (&loop->live) > 0)
        g_cond_wait (&loop->cond, &loop->lock);
      loop->stop = TRUE;
      wake_signal_locked (loop);
      g_mutex_unlock (&loop->lock);
      g_thread_join (loop->thread);
    }
  for (guint i = 0; i < loop->stacks->len; i++)
    stack_unmap (loop->stacks->pdata[i]);
  g_ptr_array_unref (loop->stacks);
  g_ptr_array_unref (loop->heap);
  g_ptr_array_unref (loop->dead);
  g_free (loop->by_fd);
  if (loop->ep >= 0)
    close (loop->ep);
  if (loop->wake_fd >= 0)
    close (loop->wake_fd);
  loop_unref (loop);
}

/* TRUE only in a coroutine running on a loop's thread. */
gboolean
server_coro_in_loop (void)
{
  return coro_self != NULL;
}

/* ---- waits ---- */

static CoroFd *
find_fd (ServerCoro *co,
         int         fd)
{
  for (guint i = 0; i < SERVER_CORO_MAX_FDS; i++)
    if (co->fds[i].fd == fd)
      return &co->fds[i];
  return NULL;
}

/* The hooked cancellable's handler (any thread; or here, at once, when it was cancelled
 * already): the coroutine's present park ends if it waits on it. Nothing once unhooked (an
 * emission that took the handler before the disconnect may still run it). */
static void
on_cancelled (GCancellable *cancellable,
              gpointer      data)
{
  CoroHook       *h = data;
  ServerCoroLoop *loop = h->loop;

  g_mutex_lock (&loop->lock);
  if (h->co != NULL)
    cancel_queue_locked (loop, h->co);
  g_mutex_unlock (&loop->lock);
}

/* The handler's destroy notify: no emission uses @data any more (any thread). */
static void
hook_free (gpointer data)
{
  CoroHook *h = data;

  loop_unref (h->loop);
  g_free (h);
}

static void
hook_notify (gpointer  data,
             GClosure *closure)
{
  hook_free (data);
}

/* Connects @co's handler to @cancellable (its reference taken). With
 * g_signal_connect_data(), not g_cancellable_connect(): since GLib 2.84 that takes the
 * cancellable's own mutex, which g_cancellable_cancel() holds across its whole emission in
 * the cancelling thread, the program's slow handlers included (the front's stop waits up
 * to 5 s): a first park with a cancellable whose cancel had just begun would hold the
 * loop that long (docs/postfix-front-io.md, "GLib: g_cancellable_connect during another
 * thread's emission"). A cancel before the connect is seen by park()'s look after it. */
static void
hook (ServerCoro   *co,
      GCancellable *cancellable)
{
  CoroHook *h = g_new (CoroHook, 1);

  g_atomic_int_inc (&co->loop->refs);
  h->loop = co->loop;
  h->co = co;
  co->hooked = g_object_ref (cancellable);
  co->hook = h;
  co->hooked_id = g_signal_connect_data (cancellable, "cancelled", G_CALLBACK (on_cancelled),
                                         h, hook_notify, G_CONNECT_DEFAULT);
}

/* The handler off the hooked cancellable, never waiting (g_cancellable_disconnect() would
 * wait for an emission running in another thread, its other handlers included: the whole
 * loop frozen meanwhile): the record is made inert under the loop's lock, the handler
 * disconnected, and the record freed by its destroy notify once no emission uses it. */
static void
unhook (ServerCoro *co)
{
  if (co->hooked == NULL)
    return;
  g_mutex_lock (&co->loop->lock);
  if (co->hook != NULL)
    co->hook->co = NULL;
  cancel_unqueue_locked (co->loop, co);
  g_mutex_unlock (&co->loop->lock);
  if (co->hooked_id != 0)
    g_signal_handler_disconnect (co->hooked, co->hooked_id);
  co->hook = NULL; /* freed by now, or by the emission that still holds it */
  co->hooked_id = 0;
  g_clear_object (&co->hooked);
}

/* Parks the running @co until an event for @f (NULL: none), @deadline (0: none),
 * @cancellable or the pool queue; returns why it was resumed. */
static int
park (ServerCoro   *co,
      CoroFd       *f,
      guint         mask,
      gint64        deadline,
      GCancellable *cancellable)
{
  ServerCoroLoop *loop = co->loop;

  co->wait_fd = f;
  co->wait_mask = mask;
  co->deadline = deadline;
  co->wait_cancellable = cancellable;
  co->wake = 0;
  if (cancellable != NULL)
    {
      /* Before the hook and the look below: a handler from now on is for this park (one
       * that took the number before is dropped, and the look sees its cancel). */
      g_atomic_int_inc (&co->wait_seq);
      if (cancellable != co->hooked)
        {
          unhook (co);
          hook (co, cancellable);
        }
      /* Cancelled between the caller's look and the seq above: the handler took the park
       * before this one. */
      if (g_cancellable_is_cancelled (cancellable))
        {
          co->wait_fd = NULL;
          co->wait_cancellable = NULL;
          return ECANCELED;
        }
    }
  co->parked = TRUE;
  if (deadline != 0)
    heap_push (loop, co);
  coro_yield (co);
  co->wait_fd = NULL;
  co->wait_cancellable = NULL;
  return co->wake;
}

/**
 * server_coro_wait_fd:
 * @fd: a descriptor (non-blocking I/O on it: recv/send with MSG_DONTWAIT, or O_NONBLOCK)
 * @condition: G_IO_IN and/or G_IO_OUT
 * @deadline: monotonic microseconds (g_get_monotonic_time()) to wait until at most, 0: none
 * @cancellable: (nullable): ends the wait when cancelled (from any thread)
 *
 * In a coroutine only: parks until an event came for @fd in a direction of @condition
 * since the last wait took one (EPOLLHUP, EPOLLERR and EPOLLRDHUP count for both), and
 * returns at once if one had come already. The first wait on @fd registers it with the
 * loop (see the top of server-coro.h).
 *
 * Returns: 0 (an event came: the caller retries its call), ETIMEDOUT, ECANCELED (checked
 *   first: a cancelled @cancellable returns it at once), E2BIG (SERVER_CORO_MAX_FDS
 *   registered already), EINVAL outside a coroutine, or epoll_ctl()'s errno
 */
int
server_coro_wait_fd (int           fd,
                     GIOCondition  condition,
                     gint64        deadline,
                     GCancellable *cancellable)
{
  ServerCoro *co = coro_self;
  CoroFd     *f;
  guint       mask = ((condition & G_IO_IN) ? MARK_IN : 0)
                     | ((condition & G_IO_OUT) ? MARK_OUT : 0);
  guint       got;

  g_return_val_if_fail (co != NULL, EINVAL);
  g_return_val_if_fail (fd >= 0 && mask != 0, EINVAL);

  if (cancellable != NULL && g_cancellable_is_cancelled (cancellable))
    return ECANCELED;
  f = find_fd (co, fd);
  if (f == NULL)
    {
      struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
      ServerCoroLoop    *loop = co->loop;
      guint32            gen = loop->gen + 1;

      f = find_fd (co, -1);
      if (f == NULL)
        return E2BIG;
      if ((guint) fd >= loop->by_fd_len)
        {
          guint len = MAX ((guint) fd + 1, MAX (2 * loop->by_fd_len, 64));

          loop->by_fd = g_renew (CoroFd *, loop->by_fd, len);
          memset (loop->by_fd + loop->by_fd_len, 0, (len - loop->by_fd_len) * sizeof (CoroFd *));
          loop->by_fd_len = len;
        }
      ev.data.u64 = event_data (fd, gen);
      /* EEXIST with no registration of the loop's under @fd: one of this very file that
       * server_coro_forget_closing_fd() left in the set, its close not come (a caller that
       * waits on it again after all): taken over, with this registration's number. With
       * one (another coroutine's): EEXIST, as the header says. */
      if (epoll_ctl (loop->ep, EPOLL_CTL_ADD, fd, &ev) != 0
          && (errno != EEXIST || loop->by_fd[fd] != NULL
              || epoll_ctl (loop->ep, EPOLL_CTL_MOD, fd, &ev) != 0))
        return errno;
      loop->gen = gen;
      loop->by_fd[fd] = f;
      f->gen = gen;
      f->fd = fd;
      f->ready = f->ended = 0; /* the registration reports the present state as an event */
    }
  got = (f->ready | f->ended) & mask;
  if (got != 0)
    {
      f->ready &= ~got;
      return 0;
    }
  if (deadline != 0 && deadline <= g_get_monotonic_time ())
    return ETIMEDOUT;
  return park (co, f, mask, deadline, cancellable);
}

/**
 * server_coro_wait_error:
 * @r: server_coro_wait_fd()'s failure other than ETIMEDOUT and ECANCELED (the caller's
 *   own errors for those)
 * @error: (nullable): where it is described
 *
 * A wait's failure as a #GIOError: E2BIG names the limit (SERVER_CORO_MAX_FDS), the others
 * are epoll_ctl(2)'s.
 *
 * Returns: FALSE, so a caller can return it
 */
gboolean
server_coro_wait_error (int      r,
                        GError **error)
{
  if (r == E2BIG)
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (r),
                 "a coroutine may wait on at most SERVER_CORO_MAX_FDS (%d) descriptors",
                 SERVER_CORO_MAX_FDS);
  else
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (r), "epoll_ctl: %s", g_strerror (r));
  return FALSE;
}

/* @f out of the loop's table; out of the epoll set too unless @closing (its descriptor is
 * closed next and has no duplicate: close(2) takes it out, server_coro_forget_closing_fd()). */
static void
forget (ServerCoro *co,
        CoroFd     *f,
        gboolean    closing)
{
  if (!closing)
    epoll_ctl (co->loop->ep, EPOLL_CTL_DEL, f->fd, NULL);
  co->loop->by_fd[f->fd] = NULL; /* its events left in the batch are dropped */
  f->fd = -1;
  f->ready = f->ended = 0;
}

/* @fd forgotten (forget()) if the running coroutine registered it. */
static void
forget_own (int      fd,
            gboolean closing)
{
  ServerCoro *co = coro_self;
  CoroFd     *f;

  if (co == NULL || fd < 0)
    return;
  f = find_fd (co, fd);
  if (f != NULL)
    forget (co, f, closing);
}

/**
 * server_coro_forget_fd:
 * @fd: a descriptor
 *
 * Takes @fd out of the running coroutine's loop (before it is closed, or handed to another
 * coroutine) and drops its marks. Nothing outside a coroutine or for a descriptor it did
 * not register.
 */
void
server_coro_forget_fd (int fd)
{
  forget_own (fd, FALSE);
}

/**
 * server_coro_forget_closing_fd:
 * @fd: a descriptor the caller closes next, which has no duplicate
 *
 * server_coro_forget_fd() without its EPOLL_CTL_DEL, for a descriptor about to be closed
 * that is the only one of its file (no dup(2) of it, such as a GIO stream made on a
 * duplicate, none inherited, none handed to another coroutine or thread): close(2) of a
 * file's last descriptor takes it out of every epoll set, so the DEL is a system call for
 * nothing. Between this and the close the registration is left in the epoll set; an
 * event it reports meanwhile, or one already taken in the loop's batch, is dropped (the
 * registration's number is gone from the loop's table, and a descriptor registered since
 * under the same number has another: see the top of server-coro.h). Where a duplicate
 * may exist use server_coro_forget_fd(): the set would keep reporting the file's events
 * (dropped, but each a wake-up) until its last descriptor is closed. Nothing outside a
 * coroutine or for a descriptor it did not register.
 */
void
server_coro_forget_closing_fd (int fd)
{
  forget_own (fd, TRUE);
}

/**
 * server_coro_has_fd:
 * @fd: a descriptor
 *
 * Whether the running coroutine registered @fd (a wait on it). A reader that has not may
 * wait before its first read: the registration reports the present state as an event,
 * so data there already ends that wait at the loop's next epoll_wait().
 *
 * Returns: FALSE outside a coroutine or for a descriptor it did not register
 */
gboolean
server_coro_has_fd (int fd)
{
  return coro_self != NULL && fd >= 0 && find_fd (coro_self, fd) != NULL;
}

/* A coroutine that returned: its descriptors out of epoll (not closed). */
static void
forget_all (ServerCoro *co)
{
  for (guint i = 0; i < SERVER_CORO_MAX_FDS; i++)
    if (co->fds[i].fd >= 0)
      {
#ifdef SERVER_CORO_WATCHDOG
        g_warning ("server-coro: loop %s: a coroutine (function %p) returned with descriptor "
                   "%d registered (server_coro_forget_fd() before close)",
                   co->loop->name, (gpointer) co->func, co->fds[i].fd);
#endif
        forget (co, &co->fds[i], FALSE);
      }
}

/* ---- run_in_thread ---- */

/* What the shared pool runs (shared_pool()): a run_in_thread's PoolWork or a job
 * (ServerCoroJob), each starting with its PoolItem, which says how. */
typedef struct _PoolItem PoolItem;
struct _PoolItem
{
  void (*run) (gpointer item);
  PoolItem *next; /* in the pool's queue (the pool's lock) */
};

typedef struct
{
  PoolItem       item;      /* pool_work_run */
  ServerCoroFunc func;
  gpointer       data;
  ServerCoro    *co;
  ServerCoroFunc then;      /* (nullable) server_coro_run_in_thread_then() */
  gpointer       then_data;
} PoolWork;

static void
pool_work_run (gpointer data)
{
  PoolWork       *w = data;
  ServerCoroLoop *loop = w->co->loop;
  ServerCoroFunc  then = w->then;
  gpointer        then_data = w->then_data;

  w->func (w->data);
  g_mutex_lock (&loop->lock);
  w->co->pq_next = NULL;
  if (loop->pq_tail != NULL)
    loop->pq_tail->pq_next = w->co;
  else
    loop->pq_head = w->co;
  loop->pq_tail = w->co;
  wake_signal_locked (loop);
  g_mutex_unlock (&loop->lock);
  /* @w (on the coroutine's stack) may be gone from here on. */
  if (then != NULL)
    then (then_data);
}

/* The one pool of threads for work that blocks: run_in_thread's and the jobs'. Work goes
 * to the thread that became idle last (a stack of idle threads, each waiting on its own
 * condition variable, handed its item under the lock and signalled after it), else into
 * the queue for a thread started for it (no bound on the threads). An idle thread that
 * was not needed for SERVER_CORO_POOL_IDLE_MS ends unless it is one of the
 * SERVER_CORO_POOL_IDLE_THREADS kept: with the last idle one taking the next work, the
 * others do time out under a steady trickle of work. Our own rather than a GThreadPool:
 * the woken thread takes the lock uncontended (GThreadPool signals under its queue's
 * lock: the woken thread slept again on that mutex, three more futex calls per hand-off),
 * and an item needs no allocation (it is linked through its PoolItem). */
typedef struct _PoolIdler PoolIdler;
struct _PoolIdler
{
  GCond cond;
  PoolItem *item;  /* handed to it by pool_push; under the pool's lock */
  PoolIdler *prev; /* on the idle stack (the pool's lock) */
  PoolIdler *next;
  gint refs;       /* (atomic) its thread's, and a pusher's between its unlock and signal */
};

static void
pool_idler_unref (PoolIdler *w)
{
  if (!g_atomic_int_dec_and_test (&w->refs))
    return;
  g_cond_clear (&w->cond);
  g_free (w);
}

typedef struct
{
  GMutex lock;
  PoolItem *head;  /* work no thread has taken: only while no thread is idle; under lock */
  PoolItem *tail;
  PoolIdler *idle; /* idle threads, the last one to become idle first; under lock */
  guint threads;   /* threads in all; under lock */
} Pool;

static Pool pool = { 0 };
/* How long an idle thread past SERVER_CORO_POOL_IDLE_THREADS waits (atomic; tests shorten
 * it: server_coro_probe_pool_idle()). */
static gint pool_idle_ms = SERVER_CORO_POOL_IDLE_MS;

static void
pool_idle_unlink (PoolIdler *w)
{
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    pool.idle = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

/* The next work for the pool thread of @me, under the pool's lock: the queue's first, or
 * what is handed to it while it waits on the idle stack. NULL: it waited pool_idle_ms
 * unneeded and is not one of those kept (it then ends, not counted any more). */
static PoolItem *
pool_next (PoolIdler *me)
{
  PoolItem *item = pool.head;
  gint64 since = g_get_monotonic_time ();

  if (item != NULL)
    {
      pool.head = item->next;
      if (pool.head == NULL)
        pool.tail = NULL;
      return item;
    }
  me->item = NULL;
  me->prev = NULL;
  me->next = pool.idle;
  if (pool.idle != NULL)
    pool.idle->prev = me;
  pool.idle = me;
  while (me->item == NULL)
    {
      gint64 end = since + g_atomic_int_get (&pool_idle_ms) * G_TIME_SPAN_MILLISECOND;

      if (g_cond_wait_until (&me->cond, &pool.lock, end) || me->item != NULL
          || g_get_monotonic_time () < end)
        continue; /* handed work, or woken to look again (the probe) */
      if (pool.threads > SERVER_CORO_POOL_IDLE_THREADS)
        {
          pool_idle_unlink (me);
          pool.threads--;
          return NULL;
        }
      since = g_get_monotonic_time (); /* one of those kept: it waits on */
    }
  return me->item; /* pool_push took it off the stack */
}

static gpointer
pool_thread (gpointer data)
{
  PoolIdler *me = g_new0 (PoolIdler, 1);
  PoolItem *item;

  g_cond_init (&me->cond);
  me->refs = 1;
  g_mutex_lock (&pool.lock);
  while ((item = pool_next (me)) != NULL)
    {
      g_mutex_unlock (&pool.lock);
      item->run (item); /* @item may be gone once it returns */
      g_mutex_lock (&pool.lock);
    }
  g_mutex_unlock (&pool.lock);
  pool_idler_unref (me);
  return NULL;
}

/* @item for the pool: handed to the thread that became idle last, or queued for a thread
 * started for it. A thread that cannot be started (the process's limit) is logged with
 * @what; @item then waits for a busy thread (never run here: it may be work on a
 * coroutine's stack). */
static void
pool_push (PoolItem   *item,
           const char *what)
{
  PoolIdler *w;
  g_autoptr (GError) error = NULL;
  GThread *thread;

  item->next = NULL;
  g_mutex_lock (&pool.lock);
  w = pool.idle;
  if (w != NULL)
    {
      pool_idle_unlink (w);
      w->item = item;
      g_atomic_int_inc (&w->refs); /* its thread may run @item and end before the signal */
      g_mutex_unlock (&pool.lock);
      g_cond_signal (&w->cond); /* the woken thread takes the lock uncontended */
      pool_idler_unref (w);
      return;
    }
  if (pool.tail != NULL)
    pool.tail->next = item;
  else
    pool.head = item;
  pool.tail = item;
  pool.threads++;
  g_mutex_unlock (&pool.lock);
  thread = g_thread_try_new ("pool-msgtrk", pool_thread, NULL, &error);
  if (thread != NULL)
    {
      g_thread_unref (thread);
      return;
    }
  g_mutex_lock (&pool.lock);
  pool.threads--;
  g_mutex_unlock (&pool.lock);
  g_warning ("server-coro: %s: no new pool thread (%s): the work waits for a busy one", what,
             error->message);
}

/**
 * server_coro_run_in_thread:
 * @func: work that blocks (not on a descriptor the loop can wait for)
 * @data: its argument
 *
 * In a coroutine: @func(@data) runs in a thread of a shared pool (no bound on its threads)
 * while the coroutine is parked (no deadline, not cancellable); returns once @func has.
 * Elsewhere: calls @func(@data).
 */
void
server_coro_run_in_thread (ServerCoroFunc func,
                           gpointer       data)
{
  server_coro_run_in_thread_then (func, data, NULL, NULL);
}

/**
 * server_coro_run_in_thread_then:
 * @then: (nullable): more work for that pool thread once the coroutine is resumed
 * @then_data: its argument, which must outlive the call (not on the coroutine's stack)
 *
 * As server_coro_run_in_thread(); in a coroutine, the pool thread that ran @func then
 * runs @then(@then_data) after it has queued the coroutine's resumption: work the
 * coroutine will want done soon (a sync it will wait for) started at once, without a
 * hop of its own. Outside a coroutine only @func(@data) runs (no thread to go on in).
 */
void
server_coro_run_in_thread_then (ServerCoroFunc func,
                                gpointer       data,
                                ServerCoroFunc then,
                                gpointer       then_data)
{
  ServerCoro *co = coro_self;
  PoolWork    w = { { pool_work_run }, func, data, co, then, then_data };

  if (co == NULL)
    {
      func (data);
      return;
    }
  /* Parked first (under the lock) so that the pool's wake-up finds it so. */
  co->wait_fd = NULL;
  co->wait_cancellable = NULL;
  co->deadline = 0;
  co->wake = 0;
  co->parked = TRUE; /* on nothing: only the pool's wake-up resumes it */
  /* Without a new thread @w still waits in the queue: it runs when a pool thread is free,
   * and never here too (the work on this coroutine's stack would run twice, the second
   * time after the coroutine went on). */
  pool_push (&w.item, co->loop->name);
  coro_yield (co);
}

/* ---- park and wake ---- */

/* The running coroutine (NULL outside one): what a waker is given (server_coro_wake()). */
ServerCoro *
server_coro_self (void)
{
  return coro_self;
}

/**
 * server_coro_park:
 * @deadline: monotonic microseconds to wait until at most, 0: none
 *
 * In a coroutine only: parks until server_coro_wake() of it, or @deadline. A wake that came
 * before (since the last park that took one) makes it return at once, and is taken. A
 * park may thus return for an old wake: the caller looks at its condition again.
 *
 * Returns: 0 (woken), ETIMEDOUT, EINVAL outside a coroutine
 */
int
server_coro_park (gint64 deadline)
{
  ServerCoro     *co = coro_self;
  ServerCoroLoop *loop;
  int             r;

  g_return_val_if_fail (co != NULL, EINVAL);
  loop = co->loop;
  g_mutex_lock (&loop->lock);
  if (co->wake_pending)
    {
      co->wake_pending = FALSE;
      g_mutex_unlock (&loop->lock);
      return 0;
    }
  if (deadline != 0 && deadline <= g_get_monotonic_time ())
    {
      g_mutex_unlock (&loop->lock);
      return ETIMEDOUT;
    }
  /* A wake from now on queues it; the loop takes the queue only after this coroutine has
   * yielded (its own thread), so the wake cannot come too early for the park below. */
  co->in_park = TRUE;
  g_mutex_unlock (&loop->lock);
  r = park (co, NULL, 0, deadline, NULL);
  g_mutex_lock (&loop->lock);
  co->in_park = FALSE;
  if (co->wake_pending) /* woken, or woken as its deadline passed: woken */
    r = 0;
  co->wake_pending = FALSE;
  wake_unqueue_locked (loop, co); /* timed out with a wake queued: no stale entry */
  g_mutex_unlock (&loop->lock);
  return r;
}

/**
 * server_coro_wake:
 * @co: a coroutine (server_coro_self()) that has not returned: the caller knows (e.g. it
 *   wakes it under the lock the coroutine takes to look at its condition)
 *
 * From any thread, @co's loop included: ends @co's server_coro_park(), or the next one
 * when it is not in one now (the wake is kept, never lost). Wakes of one park count once.
 */
void
server_coro_wake (ServerCoro *co)
{
  ServerCoroLoop *loop;

  g_return_if_fail (co != NULL);
  loop = co->loop;
  g_mutex_lock (&loop->lock);
  co->wake_pending = TRUE;
  if (co->in_park)
    wake_queue_locked (loop, co);
  g_mutex_unlock (&loop->lock);
}

/* ---- jobs: started without a park, joined later ---- */

/* A job's stages (ServerCoroJob.stage). */
#define JOB_RUNNING 0u /* @func runs (or waits for a pool thread) */
#define JOB_JOINED  1u /* @func returned: server_coro_job_join() returns */
#define JOB_DONE    2u /* @then returned too: server_coro_job_finish() returns */

/* server_coro_probe_job_wakes(): joins a pool thread woke (atomic). */
static gint probe_job_wakes;

struct _ServerCoroJob
{
  PoolItem       item;   /* job_run */
  ServerCoroFunc func;
  gpointer       data;
  ServerCoroFunc then; /* (nullable) */
  gpointer       then_data;
  GMutex         lock;
  GCond          cond;   /* a thread's join (never a coroutine's: it parks) */
  guint          stage;  /* (lock) JOB_* */
  guint          want;   /* (lock) the stage a joiner waits for now (0: nobody waits) */
  ServerCoro    *waiter; /* (lock) (nullable) that joiner, when it is a coroutine */
  gint           refs;   /* (atomic) the pool thread's and the owner's */
};

static void
job_unref (ServerCoroJob *job)
{
  if (!g_atomic_int_dec_and_test (&job->refs))
    return;
  g_mutex_clear (&job->lock);
  g_cond_clear (&job->cond);
  g_free (job);
}

/* @job reached @stage: its joiner, if one waits for it, woken (a coroutine through its
 * loop's wake queue: the loop's eventfd is written only then), under the job's lock, which
 * the joiner takes to look (so it is still alive when woken). */
static void
job_reach (ServerCoroJob *job,
           guint          stage)
{
  g_mutex_lock (&job->lock);
  job->stage = stage;
  if (job->want != 0 && job->want <= stage)
    {
      job->want = 0;
      if (job->waiter != NULL)
        {
          g_atomic_int_inc (&probe_job_wakes);
          server_coro_wake (job->waiter);
          job->waiter = NULL;
        }
      else
        g_cond_broadcast (&job->cond);
    }
  g_mutex_unlock (&job->lock);
}

static void
job_run (gpointer data)
{
  ServerCoroJob *job = data;

  job->func (job->data);
  job_reach (job, JOB_JOINED);
  if (job->then != NULL)
    job->then (job->then_data);
  job_reach (job, JOB_DONE);
  job_unref (job);
}

/**
 * server_coro_job_start:
 * @func: work that blocks (not on a descriptor the loop can wait for)
 * @data: its argument, which must stay valid until server_coro_job_join() returned
 * @then: (nullable): more work the same pool thread runs once @func returned
 * @then_data: its argument, valid until server_coro_job_finish() returned
 *
 * From a coroutine or any thread: @func(@data), then @then(@then_data), run in a thread of
 * a shared pool (no bound on its threads) while the caller goes on: nothing parks. The
 * caller joins the job later: server_coro_job_join() (once @func is done),
 * server_coro_job_finish() (once @then is, and the job freed), which it must call in every
 * case, before it frees what @func or @then use.
 *
 * Returns: (transfer full): the job, for server_coro_job_finish()
 */
ServerCoroJob *
server_coro_job_start (ServerCoroFunc func,
                       gpointer       data,
                       ServerCoroFunc then,
                       gpointer       then_data)
{
  ServerCoroJob *job = g_new0 (ServerCoroJob, 1);

  job->item.run = job_run;
  job->func = func;
  job->data = data;
  job->then = then;
  job->then_data = then_data;
  g_mutex_init (&job->lock);
  g_cond_init (&job->cond);
  job->stage = JOB_RUNNING;
  job->refs = 2;
  /* Without a new thread the job still waits in the queue: it runs when a pool thread is
   * free. */
  pool_push (&job->item, "a job");
  return job;
}

/* Returns once @job reached @stage: at once if it has (no park, no wake-up), else parked
 * (a coroutine: woken by the pool thread, server_coro_wake()) or waiting (a thread). A
 * coroutine's park may return for an older wake (server_coro_park()): it looks again. */
static void
job_wait (ServerCoroJob *job,
          guint          stage)
{
  ServerCoro *co = coro_self;

  g_mutex_lock (&job->lock);
  while (job->stage < stage)
    {
      job->want = stage;
      job->waiter = co;
      if (co == NULL)
        {
          g_cond_wait (&job->cond, &job->lock);
          continue;
        }
      g_mutex_unlock (&job->lock);
      (void) server_coro_park (0);
      g_mutex_lock (&job->lock);
    }
  job->want = 0;
  job->waiter = NULL;
  g_mutex_unlock (&job->lock);
}

/* The owner's end of @job (nullable): once it reached @stage, the owner's reference goes
 * (the pool thread's, if it still runs, frees the job after @then). */
static void
job_leave (ServerCoroJob *job,
           guint          stage)
{
  if (job == NULL)
    return;
  job_wait (job, stage);
  job_unref (job);
}

/**
 * server_coro_job_joined:
 * @job: a job (server_coro_job_start())
 *
 * Returns: whether its @func returned (a join would return at once)
 */
gboolean
server_coro_job_joined (ServerCoroJob *job)
{
  gboolean joined;

  g_mutex_lock (&job->lock);
  joined = job->stage >= JOB_JOINED;
  g_mutex_unlock (&job->lock);
  return joined;
}

/**
 * server_coro_job_join:
 * @job: a job (server_coro_job_start()) not yet finished
 *
 * Returns once @job's @func has returned: at once if it has (the pool thread then woke
 * nobody), else parked (in a coroutine: its loop runs the others) until the pool thread
 * wakes it. Not cancellable, no deadline (as server_coro_run_in_thread()).
 */
void
server_coro_job_join (ServerCoroJob *job)
{
  g_return_if_fail (job != NULL);
  job_wait (job, JOB_JOINED);
}

/**
 * server_coro_job_finish:
 * @job: (transfer full) (nullable): a job (server_coro_job_start())
 *
 * As server_coro_job_join(), for @then as well; then @job is freed. Nothing for NULL.
 */
void
server_coro_job_finish (ServerCoroJob *job)
{
  job_leave (job, JOB_DONE);
}

/**
 * server_coro_job_detach:
 * @job: (transfer full) (nullable): a job (server_coro_job_start())
 *
 * As server_coro_job_join(), then @job is given up: its @then runs on without anyone
 * waiting for it (@then_data must stay valid by other means), and the pool thread frees
 * the job. For an owner that needs @func's result but not @then's (a journal step whose
 * record is not wanted durable: its sync goes on for the others). Nothing for NULL.
 */
void
server_coro_job_detach (ServerCoroJob *job)
{
  job_leave (job, JOB_JOINED);
}

/**
 * server_coro_probe_job_wakes:
 *
 * Tests only: how many joins (server_coro_job_join(), server_coro_job_finish()) a job's
 * pool thread has woken since the process started (a join of a finished part: none).
 */
guint
server_coro_probe_job_wakes (void)
{
  return (guint) g_atomic_int_get (&probe_job_wakes);
}

/**
 * server_coro_probe_pool_idle:
 * @ms: how long an idle pool thread past SERVER_CORO_POOL_IDLE_THREADS waits for work from
 *   now on (0: unchanged)
 *
 * Tests only.
 *
 * Returns: the pool's threads now, idle or not
 */
guint
server_coro_probe_pool_idle (guint ms)
{
  guint n;

  g_mutex_lock (&pool.lock);
  if (ms > 0)
    {
      g_atomic_int_set (&pool_idle_ms, (gint) ms);
      for (PoolIdler *w = pool.idle; w != NULL; w = w->next)
        g_cond_signal (&w->cond); /* each looks at its deadline again */
    }
  n = pool.threads;
  g_mutex_unlock (&pool.lock);
  return n;
}

/**
 * server_coro_probe_fail_stacks:
 * @n: how many of the next stack maps fail
 *
 * Tests only: the next @n maps of a coroutine's stack (not the ones taken from a loop's
 * cache) fail with ENOMEM, as with RLIMIT_AS reached.
 */
void
server_coro_probe_fail_stacks (guint n)
{
  g_atomic_int_set (&probe_fail_stacks, (gint) n);
}

/* ---- probes (server-coro-probe.h): the switch and the stacks, on the calling thread ---- */

/* A loop record without a thread or epoll: its stacks, the switch's saved context. */
static ServerCoroLoop *
probe_loop_new (void)
{
  ServerCoroLoop *loop = g_new0 (ServerCoroLoop, 1);

  loop->name = g_strdup ("probe");
  loop->refs = 1;
  loop->ep = loop->wake_fd = -1;
  g_mutex_init (&loop->lock);
  g_cond_init (&loop->cond);
  loop->heap = g_ptr_array_new ();
  loop->dead = g_ptr_array_new ();
  loop->stacks = g_ptr_array_new ();
  return loop;
}

static void
probe_yield_loop (gpointer data)
{
  for (;;)
    coro_yield (coro_self);
}

/**
 * server_coro_probe_switch:
 * @rounds: resumes (each followed by a yield)
 *
 * A coroutine that yields at once, resumed @rounds times (with SERVER_CORO_WATCHDOG, two
 * clock reads per resume are in the figure).
 *
 * Returns: nanoseconds per switch (a resume or a yield)
 */
double
server_coro_probe_switch (guint rounds)
{
  ServerCoroLoop *loop = probe_loop_new ();
  guint8         *stack = stack_get (loop);
  ServerCoro     *co;
  gint64          t0, t1;

  g_return_val_if_fail (stack != NULL && rounds > 0, 0);
  co = coro_new (loop, probe_yield_loop, NULL, stack);
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < rounds; i++)
    coro_resume (loop, co);
  t1 = g_get_monotonic_time ();
  g_mutex_lock (&loop->lock);
  coro_free_locked (loop, co); /* parked for good: its stack is simply dropped */
  g_mutex_unlock (&loop->lock);
  server_coro_loop_free (loop);
  return (double) (t1 - t0) * 1000 / (2.0 * rounds);
}

/**
 * server_coro_probe_stack:
 * @func: what to run in a coroutine (it must return without parking)
 * @data: its argument
 *
 * Runs @func(@data) in a coroutine on a fresh stack filled with SERVER_CORO_PROBE_PATTERN
 * first.
 *
 * Returns: the octets of the stack it touched (the switch and the entry frame included)
 */
gsize
server_coro_probe_stack (ServerCoroFunc func,
                         gpointer       data)
{
  ServerCoroLoop *loop = probe_loop_new ();
  guint8         *stack = stack_get (loop);
  ServerCoro     *co;
  gsize           i = 0;

  g_return_val_if_fail (stack != NULL, 0);
  co = coro_new (loop, func, data, stack);
  /* Below the switch's first frame (the top 128 octets). */
  memset (co->stack, SERVER_CORO_PROBE_PATTERN, SERVER_CORO_STACK_SIZE - 128);
  coro_resume (loop, co);
  g_return_val_if_fail (co->done, 0);
  while (i < SERVER_CORO_STACK_SIZE && co->stack[i] == SERVER_CORO_PROBE_PATTERN)
    i++;
  g_mutex_lock (&loop->lock);
  coro_free_locked (loop, co);
  g_mutex_unlock (&loop->lock);
  server_coro_loop_free (loop);
  return SERVER_CORO_STACK_SIZE - i;
}
