/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-coro.h: sessions as coroutines on epoll threads (docs/postfix-front-io.md,
 * "Coroutines on epoll").
 *
 * What: a ServerCoroLoop is one thread running an epoll set and the coroutines spawned on
 * it. A coroutine is a function with a stack of its own (SERVER_CORO_STACK_SIZE, a
 * PROT_NONE guard of SERVER_CORO_GUARD_SIZE below it) that reads like blocking code:
 * where it would block on a descriptor it parks (server_coro_wait_fd()) and the loop runs
 * the others; the loop resumes it when the descriptor is ready, its deadline has passed,
 * or its cancellable was cancelled. Work that blocks in other ways (an fdatasync wait, a
 * name lookup, a GCond, a TLS session in GIO's blocking calls) goes to
 * server_coro_run_in_thread(): the coroutine is parked while a pool thread runs it.
 *
 * The shared blocking helpers (server_socket_wait(), server_socket_send_all(), the line
 * reader on a descriptor: server-line-reader.h) call server_coro_wait_fd() when they run
 * in a coroutine and poll(2) or block otherwise, so code written for a thread runs in
 * either.
 *
 * Descriptors: a descriptor is registered with the loop (edge-triggered, input and
 * output) at its first wait and stays so until server_coro_forget_fd(), which must come
 * before it is closed. The loop remembers per descriptor and direction that an event came
 * (readiness); a wait consumes that mark and returns at once if it was set, else parks
 * until the next event. So the rule for a reader: read (recv with MSG_DONTWAIT) until a
 * short read or EAGAIN, then wait; an edge that came before is never lost, and a stale
 * one costs one failed read at most: a mark whose data an earlier read took already
 * (never more: an event the loop took for a descriptor that was forgotten before it was
 * handled is dropped, never applied to a descriptor registered since in its slot or under
 * its number). An end is kept, not consumed: after EPOLLRDHUP every
 * wait for input, after EPOLLHUP or EPOLLERR every wait, returns at once (the short read
 * that took the last octets must not lose the end of file that came with them). A
 * descriptor is registered by one coroutine at a time: one handed to another coroutine
 * (a pooled upstream link) is forgotten by the first before (else EEXIST).
 * The DEL rule: server_coro_forget_fd() takes the descriptor out of the epoll set
 * (EPOLL_CTL_DEL); server_coro_forget_closing_fd() does not, and is only for a descriptor
 * closed right after that is the only one of its file (close(2) of a file's last
 * descriptor takes it out of every epoll set: the DEL would be a system call for
 * nothing). Anything else gets the DEL: a descriptor dup'ed (a GIO stream made on a
 * duplicate: the client's socket under TLS), handed to another coroutine or thread (the
 * pool's links, a session going to the TLS pool), or kept open. Either way the loop's
 * table forgets it at once, so an event of the old registration (in the batch being
 * handled, or reported before the close) is dropped, never applied to a descriptor
 * registered since under the same number.
 *
 * Switch: a hand-written one on x86-64 (callee-saved registers, MXCSR, the x87 control
 * word; no system call), glibc's swapcontext() elsewhere. Under ASan, the fiber switch
 * annotations. Threads: a coroutine stays on its loop's thread for its whole life.
 *
 * Park and wake (server_coro_park(), server_coro_wake()): a coroutine that waits for
 * something another thread or coroutine completes (a DurableGroup's sync) puts
 * server_coro_self() where the completer finds it and parks; the completer wakes it (from
 * any thread, through the loop's wake queue and eventfd). A wake is never lost: one that
 * comes before the park, or while the coroutine is parked on something else (a descriptor,
 * run_in_thread), is kept and makes its next server_coro_park() return at once. So a
 * park may return with nothing done for it: the caller looks again (a loop around its
 * condition, as around g_cond_wait()). The waker must know the coroutine is still alive:
 * it wakes it under the lock the coroutine takes to see its condition met.
 *
 * Jobs (server_coro_job_start()): work started in a pool thread WITHOUT parking the caller
 * (a coroutine or a thread), joined later: server_coro_job_join() once its first part
 * (@func) is needed, server_coro_job_finish() for its second (@then, which the same
 * pool thread runs right after) and to free it. A join returns at once when that part is
 * done (no park, and the pool thread woke nobody: it signals a coroutine, through its
 * loop's wake queue, only when one is parked in a join for the part it just finished).
 * The owner joins every job it started (finish) before it frees what the job uses, or,
 * when it needs only @func's result, joins that and leaves @then to the pool thread
 * (server_coro_job_detach(): what @then uses must then stay valid by other means).
 *
 * Spawn: the coroutine's stack is mapped (or taken from the loop's cache) by
 * server_coro_loop_spawn() itself, so a spawn that cannot have one fails there, with a
 * GError the caller acts on (a front refuses its client), never later in the loop.
 *
 * Never: hold a GMutex across a park (another coroutine of the loop locking it blocks the
 * loop for good); call a blocking function in a coroutine other than through the helpers
 * above or server_coro_run_in_thread() (it stalls every session of the loop).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** SERVER_CORO_STACK_SIZE: octets of a coroutine's stack (only touched pages are
 * resident; a g_warning() at the deepest point of a front session fits). */
#define SERVER_CORO_STACK_SIZE (256 * 1024)
/** SERVER_CORO_GUARD_SIZE: octets of PROT_NONE below each stack (rounded up to pages; no
 * memory used): a frame of code built without -fstack-clash-protection (a 16 KiB buffer on
 * the stack) that would jump over one page still lands in it. */
#define SERVER_CORO_GUARD_SIZE (64 * 1024)
/** SERVER_CORO_STACK_CACHE: finished coroutines' stacks a loop keeps for new ones. */
#define SERVER_CORO_STACK_CACHE 64
/** SERVER_CORO_MAX_FDS: descriptors one coroutine may have registered at once. */
#define SERVER_CORO_MAX_FDS 8
/** SERVER_CORO_POOL_IDLE_THREADS: threads of the shared pool (run_in_thread, jobs) kept
 * idle at most; SERVER_CORO_POOL_IDLE_MS: how long a thread past them waits for work
 * before it ends. The pool has no bound on its threads: each piece of work gets one. */
#define SERVER_CORO_POOL_IDLE_THREADS 4
#define SERVER_CORO_POOL_IDLE_MS 15000

typedef struct _ServerCoroLoop ServerCoroLoop;
typedef struct _ServerCoro     ServerCoro;
typedef struct _ServerCoroJob  ServerCoroJob;

typedef void (*ServerCoroFunc) (gpointer data);

ServerCoroLoop *server_coro_loop_new      (const char      *name,
                                           GError         **error);
gboolean        server_coro_loop_spawn    (ServerCoroLoop  *loop,
                                           ServerCoroFunc   func,
                                           gpointer         data,
                                           GError         **error);
guint           server_coro_loop_get_live (ServerCoroLoop  *loop);
void            server_coro_loop_free     (ServerCoroLoop  *loop);

gboolean        server_coro_in_loop       (void);
int             server_coro_wait_fd       (int              fd,
                                           GIOCondition     condition,
                                           gint64           deadline,
                                           GCancellable    *cancellable);
gboolean        server_coro_wait_error    (int              r,
                                           GError         **error);
void            server_coro_forget_fd     (int              fd);
void            server_coro_forget_closing_fd (int          fd);
gboolean        server_coro_has_fd        (int              fd);
void            server_coro_run_in_thread (ServerCoroFunc   func,
                                           gpointer         data);
void            server_coro_run_in_thread_then (ServerCoroFunc func,
                                                gpointer       data,
                                                ServerCoroFunc then,
                                                gpointer       then_data);

ServerCoroJob  *server_coro_job_start     (ServerCoroFunc   func,
                                           gpointer         data,
                                           ServerCoroFunc   then,
                                           gpointer         then_data);
gboolean        server_coro_job_joined    (ServerCoroJob   *job);
void            server_coro_job_join      (ServerCoroJob   *job);
void            server_coro_job_finish    (ServerCoroJob   *job);
void            server_coro_job_detach    (ServerCoroJob   *job);

ServerCoro     *server_coro_self          (void);
int             server_coro_park          (gint64           deadline);
void            server_coro_wake          (ServerCoro      *co);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ServerCoroLoop, server_coro_loop_free)

G_END_DECLS
