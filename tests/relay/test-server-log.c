/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-server-log.c: unit tests of the servers' log writer (server/common/server-log.c).
 *
 * stderr is made a pipe that nobody reads, filled to the last octet (a stalled journald):
 * a thread logs more than the queue holds and must return at once; once the pipe is read
 * the queued lines come out in order, then the count of the dropped ones. At the line
 * limit nothing is dropped; at the octet limit nothing, one line past it is. Lines logged
 * with no log thread are written by the caller, control characters escaped, and a fatal
 * message (g_error) comes out after every line queued before it. A child that cannot create
 * threads (RLIMIT_NPROC) starts logging without a log thread: one warning, then its lines
 * written synchronously, and no hang. With stderr full, server_log_stop() returns after
 * SERVER_LOG_STOP_WAIT_MS, and nothing is lost if stderr is read later.
 */
#include "config.h"

#define _GNU_SOURCE 1 /* F_SETPIPE_SZ */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server-log.h"

#define PROGRAM "test-server-log"
/* How long a child whose log thread cannot be created may take: a hang fails the test. */
#define NO_THREAD_CHILD_US (20 * G_USEC_PER_SEC)
/* The user a root child becomes so that RLIMIT_NPROC applies to it (nobody). */
#define UNPRIVILEGED_UID 65534
/* How much longer than SERVER_LOG_STOP_WAIT_MS server_log_stop() may take (a loaded
 * machine's scheduling). */
#define STOP_SLACK_MS 2000
/* How long logging into the full pipe may take before the test calls it blocked. */
#define LOG_PROMPT_US (10 * G_USEC_PER_SEC)

/* stderr replaced by a full pipe; then read by a thread until the pipe closes. */
typedef struct
{
  int saved;      /* the real stderr */
  int rd;         /* the pipe's read end */
  gsize filler;   /* octets written to fill the pipe, before any log line */
  GThread *reader;
  GString *got;   /* what was read, the filler removed at the end */
} StderrPipe;

static void
stderr_pipe_full (StderrPipe *p)
{
  int fds[2];
  int flags;
  char chunk[512];

  memset (p, 0, sizeof *p);
  memset (chunk, 'F', sizeof chunk);
  fflush (stderr);
  g_assert_no_errno (pipe2 (fds, O_CLOEXEC));
  (void) fcntl (fds[1], F_SETPIPE_SZ, 4096); /* the least: fills fast; may fail, harmless */
  p->rd = fds[0];
  p->saved = dup (2);
  g_assert_cmpint (p->saved, >=, 0);
  g_assert_no_errno (dup2 (fds[1], 2));
  close (fds[1]);

  /* Filled until not one more octet fits: the log thread's first write blocks. */
  flags = fcntl (2, F_GETFL);
  g_assert_no_errno (fcntl (2, F_SETFL, flags | O_NONBLOCK));
  for (gsize want = sizeof chunk; want > 0;)
    {
      gssize n = write (2, chunk, want);

      if (n > 0)
        p->filler += (gsize) n;
      else if (errno == EAGAIN)
        want = want > 1 ? want / 2 : 0;
      else
        g_assert_no_errno (-1);
    }
  g_assert_no_errno (fcntl (2, F_SETFL, flags));
  g_assert_cmpuint (p->filler, >, 0);
}

static gpointer
reader_run (gpointer data)
{
  StderrPipe *p = data;
  char buf[8192];
  gssize n;

  while ((n = read (p->rd, buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      g_string_append_len (p->got, buf, n);
    }
  return NULL;
}

/* Starts reading the pipe. */
static void
stderr_pipe_read (StderrPipe *p)
{
  p->got = g_string_new (NULL);
  p->reader = g_thread_new ("stderr-reader", reader_run, p);
}

/* Stops the log thread (its queue written out), puts stderr back, and returns what came
 * out after the filler; the log thread runs again. */
static GString *
stderr_pipe_finish (StderrPipe *p)
{
  GString *got;

  server_log_stop ();
  fflush (stderr);
  g_assert_no_errno (dup2 (p->saved, 2)); /* the pipe's last write end: the reader ends */
  close (p->saved);
  g_thread_join (p->reader);
  close (p->rd);
  got = p->got;
  g_assert_cmpuint (got->len, >=, p->filler);
  for (gsize i = 0; i < p->filler; i++)
    g_assert_cmpint (got->str[i], ==, 'F');
  g_string_erase (got, 0, p->filler);
  server_log_start ();
  return got;
}

typedef struct
{
  guint lines;        /* how many */
  gsize length;       /* of each message; 0: "line N" */
  GMutex lock;
  GCond cond;
  gboolean done;
  gint64 elapsed_us;
} LogJob;

static char *
job_message (const LogJob *job,
             guint         i)
{
  char *m;

  if (job->length == 0)
    return g_strdup_printf ("line %u", i);
  m = g_strdup_printf ("line %u ", i);
  g_assert_cmpuint (strlen (m), <=, job->length);
  m = g_realloc (m, job->length + 1);
  memset (m + strlen (m), 'x', job->length - strlen (m));
  m[job->length] = '\0';
  return m;
}

/* What a loop thread does: log, one line after the other. */
static gpointer
log_job_run (gpointer data)
{
  LogJob *job = data;
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < job->lines; i++)
    {
      g_autofree char *m = job_message (job, i);

      g_message ("%s", m);
    }
  g_mutex_lock (&job->lock);
  job->elapsed_us = g_get_monotonic_time () - start;
  job->done = TRUE;
  g_cond_signal (&job->cond);
  g_mutex_unlock (&job->lock);
  return NULL;
}

/* Logs @lines lines from a thread while stderr is full; asserts it returned promptly;
 * returns what came out once the pipe is read. */
static GString *
log_into_full_pipe (guint lines,
                    gsize length)
{
  StderrPipe pipe_ = { 0 };
  LogJob job = { .lines = lines, .length = length };
  GThread *thread;
  gint64 deadline;
  gboolean done;

  g_mutex_init (&job.lock);
  g_cond_init (&job.cond);
  stderr_pipe_full (&pipe_);
  thread = g_thread_new ("loop", log_job_run, &job);
  deadline = g_get_monotonic_time () + LOG_PROMPT_US;
  g_mutex_lock (&job.lock);
  while (!job.done && g_cond_wait_until (&job.cond, &job.lock, deadline))
    ;
  done = job.done;
  g_mutex_unlock (&job.lock);
  /* Blocked in the log call: read the pipe anyway so that the test can end. */
  stderr_pipe_read (&pipe_);
  g_thread_join (thread);
  g_assert_true (done);
  g_assert_cmpint (job.elapsed_us, <, LOG_PROMPT_US);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.cond);
  return stderr_pipe_finish (&pipe_);
}

/* The pid shown in the lines of a child (test_fatal) instead of this process's. */
static int line_pid;

static char *
expected_line (const char *level,
               const char *message)
{
  return g_strdup_printf ("%s[%d]: %s: %s\n", PROGRAM, line_pid ? line_pid : (int) getpid (),
                          level, message);
}

/* expected_line() of a warning, @message freed. */
static char *
expected_line_take (char *message)
{
  char *line = expected_line ("warning", message);

  g_free (message);
  return line;
}

/* Asserts that @got holds "line 0" to "line kept-1" in order, then (if @dropped) the
 * count's line, and nothing else. */
static void
assert_lines (const GString *got,
              const LogJob  *job,
              guint          kept,
              guint          dropped)
{
  const char *at = got->str;

  for (guint i = 0; i < kept; i++)
    {
      g_autofree char *m = job_message (job, i);
      g_autofree char *want = expected_line ("notice", m);

      if (!g_str_has_prefix (at, want))
        g_error ("line %u: expected \"%.60s\", got \"%.60s\"", i, want, at);
      at += strlen (want);
    }
  if (dropped > 0)
    {
      g_autofree char *m = g_strdup_printf ("%u log lines dropped, stderr blocked (notice %u)",
                                            dropped, dropped);
      g_autofree char *want = expected_line ("warning", m);

      g_assert_cmpstr (at, ==, want);
    }
  else
    g_assert_cmpstr (at, ==, "");
}

static void
test_queue_past_limit (void)
{
  const guint past = 100;
  LogJob job = { .lines = SERVER_LOG_QUEUE_MAX_LINES + past };
  g_autoptr (GString) got = NULL;

  g_test_summary ("With stderr full, logging past the queue's line limit returns at once; "
                  "the lines held come out in order, then the count of the dropped ones");
  got = log_into_full_pipe (job.lines, 0);
  assert_lines (got, &job, SERVER_LOG_QUEUE_MAX_LINES, past);
}

static void
test_queue_at_limit (void)
{
  LogJob job = { .lines = SERVER_LOG_QUEUE_MAX_LINES };
  g_autoptr (GString) got = NULL;

  g_test_summary ("With stderr full, exactly SERVER_LOG_QUEUE_MAX_LINES lines: none dropped");
  got = log_into_full_pipe (job.lines, 0);
  assert_lines (got, &job, SERVER_LOG_QUEUE_MAX_LINES, 0);
}

static void
test_queue_octets (void)
{
  const guint fit = 8;
  g_autofree char *prefix = expected_line ("notice", "");
  /* Lines of SERVER_LOG_QUEUE_MAX_OCTETS / fit octets, newline included. */
  LogJob job = { .lines = fit + 1,
                 .length = SERVER_LOG_QUEUE_MAX_OCTETS / fit - (strlen (prefix) - 1) - 1 };
  g_autoptr (GString) got = NULL;

  g_test_summary ("With stderr full, lines up to SERVER_LOG_QUEUE_MAX_OCTETS are held, one "
                  "more is dropped and counted");
  g_assert_cmpuint (SERVER_LOG_QUEUE_MAX_OCTETS % fit, ==, 0);
  got = log_into_full_pipe (job.lines, job.length);
  assert_lines (got, &job, fit, 1);
}

static void
test_synchronous (void)
{
  StderrPipe pipe_ = { 0 };
  g_autoptr (GString) got = NULL;
  g_autofree char *want = expected_line ("notice", "stopped a\\x0Ab\\x1B[0m");

  g_test_summary ("With no log thread the caller writes its line at once, control "
                  "characters escaped");
  stderr_pipe_full (&pipe_);
  stderr_pipe_read (&pipe_); /* the caller's write waits for this reader */
  server_log_stop ();
  g_message ("stopped a\nb\x1b[0m");
  got = stderr_pipe_finish (&pipe_);
  g_assert_cmpstr (got->str, ==, want);
}

static void
test_fatal (void)
{
  StderrPipe pipe_ = { 0 };
  LogJob job = { .lines = 1000 };
  g_autofree char *end = expected_line ("error", "the end");
  g_autoptr (GString) got = NULL;

  g_test_summary ("A fatal message comes out after every line queued before it");
  if (g_test_subprocess ())
    {
      for (guint i = 0; i < job.lines; i++)
        g_message ("line %u", i);
      g_error ("the end");
    }
  /* The child writes into this test's stderr: a pipe, read. */
  stderr_pipe_full (&pipe_);
  stderr_pipe_read (&pipe_);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  got = stderr_pipe_finish (&pipe_);
  g_test_trap_assert_failed ();
  g_assert_true (g_str_has_prefix (got->str, PROGRAM "["));
  line_pid = atoi (got->str + strlen (PROGRAM "["));
  g_clear_pointer (&end, g_free);
  end = expected_line ("error", "the end");
  g_assert_true (g_str_has_suffix (got->str, end));
  g_string_truncate (got, got->len - strlen (end));
  assert_lines (got, &job, job.lines, 0);
  line_pid = 0;
}

static void
test_stop_bounded (void)
{
  StderrPipe pipe_ = { 0 };
  g_autoptr (GString) got = NULL;
  g_autofree char *held1 = expected_line ("notice", "held 1");
  g_autofree char *held2 = expected_line ("notice", "held 2");
  g_autofree char *lost = NULL;
  g_autofree char *after = expected_line ("notice", "after the stop");
  g_autofree char *want = NULL;
  gint64 start, elapsed;

  g_test_summary ("With stderr full, server_log_stop() returns after SERVER_LOG_STOP_WAIT_MS "
                  "and later lines are queued; once stderr is read the lines come out, "
                  "with the warning counting those that were not written");
  stderr_pipe_full (&pipe_);
  g_message ("held 1");
  g_message ("held 2");
  start = g_get_monotonic_time ();
  server_log_stop ();
  elapsed = g_get_monotonic_time () - start;
  g_test_message ("server_log_stop() returned after %" G_GINT64_FORMAT " µs", elapsed);
  g_assert_cmpint (elapsed, >=, SERVER_LOG_STOP_WAIT_MS * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpint (elapsed, <, (SERVER_LOG_STOP_WAIT_MS + STOP_SLACK_MS) * G_TIME_SPAN_MILLISECOND);
  start = g_get_monotonic_time ();
  g_message ("after the stop");
  g_assert_cmpint (g_get_monotonic_time () - start, <, LOG_PROMPT_US);
  stderr_pipe_read (&pipe_);
  got = stderr_pipe_finish (&pipe_); /* stops again: now the queue is written, joined */
  lost = expected_line_take (g_strdup_printf ("stderr blocked for %d ms at exit: 2 log lines "
                                              "not written yet, lost if it stays blocked",
                                              SERVER_LOG_STOP_WAIT_MS));
  want = g_strconcat (held1, held2, lost, after, NULL);
  g_assert_cmpstr (got->str, ==, want);
}

static gpointer
noop_run (gpointer data)
{
  return NULL;
}

/* Makes thread creation fail in this process (a subprocess): RLIMIT_NPROC 0, as a user
 * it applies to. FALSE if that cannot be done here. @saved: the limit to put back. */
static gboolean
forbid_threads (struct rlimit *saved)
{
  struct rlimit none;
  g_autoptr (GError) error = NULL;
  GThread *probe;

  if (getrlimit (RLIMIT_NPROC, saved) != 0)
    return FALSE;
  /* root ignores the limit: become nobody (this process only, a test subprocess). */
  if (geteuid () == 0 && (setgid (UNPRIVILEGED_UID) != 0 || setuid (UNPRIVILEGED_UID) != 0))
    return FALSE;
  none.rlim_cur = 0;
  none.rlim_max = saved->rlim_max; /* the soft limit can be put back */
  if (setrlimit (RLIMIT_NPROC, &none) != 0)
    return FALSE;
  probe = g_thread_try_new ("probe", noop_run, NULL, &error);
  if (probe != NULL)
    {
      g_thread_join (probe);
      return FALSE;
    }
  return TRUE;
}

static void
test_no_thread (void)
{
  pid_t child;
  int status;

  g_test_summary ("If the log thread cannot be created, the start logs one warning and "
                  "returns (no deadlock), and lines are written by their caller");
  if (g_test_subprocess ())
    {
      struct rlimit saved;

      server_log_stop ();
      if (!forbid_threads (&saved))
        g_error ("thread creation cannot be made to fail, yet it could in a fork");
      server_log_start ();
      g_message ("logged synchronously");
      /* LeakSanitizer's exit check needs a thread. */
      g_assert_no_errno (setrlimit (RLIMIT_NPROC, &saved));
      g_print ("done\n");
      return;
    }
  /* Whether it can be done here: tried in a fork first. */
  child = fork ();
  g_assert_cmpint (child, >=, 0);
  if (child == 0)
    {
      struct rlimit saved;

      _exit (forbid_threads (&saved) ? 0 : 1);
    }
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      g_test_skip ("thread creation cannot be made to fail here (RLIMIT_NPROC, setuid)");
      return;
    }
  g_test_trap_subprocess (NULL, NO_THREAD_CHILD_US, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("done\n");
  g_test_trap_assert_stderr ("*: warning: Cannot start the log thread, logging "
                             "synchronously: *\n*: notice: logged synchronously\n");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The servers' log writer: a bounded queue and a log thread");
  server_log_init (PROGRAM, FALSE);
  g_test_add_func ("/server-log/queue/past-limit", test_queue_past_limit);
  g_test_add_func ("/server-log/queue/at-limit", test_queue_at_limit);
  g_test_add_func ("/server-log/queue/octets", test_queue_octets);
  g_test_add_func ("/server-log/synchronous", test_synchronous);
  g_test_add_func ("/server-log/fatal", test_fatal);
  g_test_add_func ("/server-log/no-thread", test_no_thread);
  g_test_add_func ("/server-log/stop-bounded", test_stop_bounded);
  return g_test_run ();
}
