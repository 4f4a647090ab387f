/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-log.h: logging set-up for the reference servers.
 *
 * Messages go to stderr (captured by the journal under systemd) as
 * "<program>[pid]: <level>: <message>", one line each, with control characters of the
 * message escaped so that hostile input cannot forge log lines. Debug messages are shown
 * with --verbose. Never log the secret A: callers log ENVIDs and results only.
 *
 * The caller never waits for stderr (a pipe to journald may stall): its line goes to a
 * bounded queue that a log thread writes; past the bound lines are dropped and counted,
 * and a line with the count follows (docs/logging.md). Fatal messages, and lines logged
 * while no log thread runs, are written at once by the caller, after what is queued.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Lines held by the log queue (queued, or being written) at most: past this a line is
 * dropped and counted. A burst of one line per session of a few thousand sessions fits. */
#define SERVER_LOG_QUEUE_MAX_LINES 4096
/* Octets of those lines at most (about 256 octets a line on average); a line alone in an
 * empty queue is taken whatever its length. */
#define SERVER_LOG_QUEUE_MAX_OCTETS (1024 * 1024)

/* How long server_log_stop() waits for the queue to be written to stderr at most: past
 * it, the exit goes on and the lines not written yet are lost if stderr stays blocked
 * (a supervisor's stop timeout, 90 s under systemd, is longer). */
#define SERVER_LOG_STOP_WAIT_MS 5000

/* Whether info and debug messages are written (--verbose): lets a hot path skip
 * building a message that would be dropped. */
gboolean server_log_is_verbose (void);
/* Installs the writer (once per process) and starts the log thread. */
void server_log_init (const char *program,
                      gboolean    verbose);
/* Starts the log thread (server_log_init() does); nothing if it runs. If it cannot be
 * created, one warning, and lines stay written by their caller. */
void server_log_start (void);
/* Writes out the queue and ends the log thread: call before the exit; later lines are
 * written by their caller. Nothing if no log thread runs. Waits SERVER_LOG_STOP_WAIT_MS
 * at most: past it the log thread goes on (stderr blocked), later lines are queued, and
 * a warning counting the lines not written yet is queued. */
void server_log_stop (void);

G_END_DECLS
