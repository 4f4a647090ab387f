/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-coro-probe.h: measurements of server-coro.c's switch and stacks, for
 * bench/bench-relay-coro.c (--switch-probe, --stack-probe); not for the servers.
 *
 * server_coro_probe_fail_stacks() is a test hook: the next stack maps fail (ENOMEM).
 * server_coro_probe_job_wakes() counts the joins a job's pool thread woke (tests: a join
 * of a job already done costs no wake-up). server_coro_probe_pool_idle() shortens the
 * pool's idle wait and counts its threads (tests).
 * The others run on the calling thread, without a loop thread or epoll, with the same switch and
 * stacks as a ServerCoroLoop's coroutines.
 */
#pragma once

#include "server-coro.h"

G_BEGIN_DECLS

/* SERVER_CORO_PROBE_PATTERN: what a probed stack is filled with before it runs. */
#define SERVER_CORO_PROBE_PATTERN 0xa5

double server_coro_probe_switch (guint          rounds);
gsize  server_coro_probe_stack  (ServerCoroFunc func,
                                 gpointer       data);
void   server_coro_probe_fail_stacks (guint     n);
guint  server_coro_probe_job_wakes  (void);
guint  server_coro_probe_pool_idle  (guint          ms);

G_END_DECLS
