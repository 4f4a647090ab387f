/* SPDX-License-Identifier: GPL-3.0-or-later
 * server-log.c: logging for the reference servers (see server-log.h, docs/logging.md).
 *
 * A structured-log writer: one line per message on stderr, control characters escaped.
 * The caller formats its line and queues it; a log thread writes the queue to stderr, so a
 * stalled stderr (journald's pipe full) stops that thread only, never a loop thread.
 * Limits: at most SERVER_LOG_QUEUE_MAX_LINES lines and SERVER_LOG_QUEUE_MAX_OCTETS octets
 * held (queued or being written); a line past either is dropped and counted, and the log
 * thread writes one line with the count after the lines queued before the drop.
 * Written in the caller's thread, after whatever is queued: fatal messages (the process is
 * about to abort), and lines logged while no log thread runs (before server_log_start(),
 * after server_log_stop(), or for good if the thread could not be created).
 * server_log_stop() waits SERVER_LOG_STOP_WAIT_MS at most for the queue to be written: a
 * stalled stderr must not keep the process from exiting.
 * Never: write secrets (callers never pass them); block a caller on stderr, but for a
 * fatal message or while no log thread runs; reorder lines.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server-log.h"

/* Dropped lines are counted per level, in the order of level_name(). */
#define LOG_LEVELS 6

static char *log_program;
static gboolean log_verbose;

/* Lock order: queue_lock, then write_lock. queue_lock is held for list updates only;
 * write_lock across the write to stderr. The log thread takes write_lock before it lets go
 * of queue_lock with its batch, and so does a synchronous writer with the lines it took:
 * batches reach stderr in the order they left the queue. */
static GMutex queue_lock;
static GMutex write_lock;
static GCond queue_cond;
static GThread *log_thread;   /* (owned) (nullable) running from start to stop */
static gboolean log_starting; /* server_log_start() creating the log thread */
static gboolean log_stopping; /* the log thread writes what is queued and ends */
static gboolean log_ended;    /* the log thread has ended, not yet joined */
static GCond ended_cond;      /* signalled when log_ended is set */
static GQueue queue = G_QUEUE_INIT; /* of GString*, (owned): lines, oldest first */
static gsize held_lines;      /* queued, or taken by the log thread and not yet written */
static gsize held_octets;
static guint64 dropped[LOG_LEVELS];

static const char *const level_names[LOG_LEVELS] = {
  "error", "critical", "warning", "notice", "info", "debug",
};

static guint
level_index (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return 0;
  if (level & G_LOG_LEVEL_CRITICAL)
    return 1;
  if (level & G_LOG_LEVEL_WARNING)
    return 2;
  if (level & G_LOG_LEVEL_MESSAGE)
    return 3;
  if (level & G_LOG_LEVEL_INFO)
    return 4;
  return 5;
}

static const char *
level_name (GLogLevelFlags level)
{
  return level_names[level_index (level)];
}

gboolean
server_log_is_verbose (void)
{
  return log_verbose;
}

/* "<program>[pid]: <level>: " */
static void
append_prefix (GString    *line,
               const char *level)
{
  g_string_append_printf (line, "%s[%d]: %s: ", log_program ? log_program : "server",
                          (int) getpid (), level);
}

/* The line saying how many lines were dropped, by level, appended to @out; the counts are
 * reset. queue_lock held. */
static void
take_dropped_locked (GString *out)
{
  guint64 total = 0;
  const char *sep = "";
  guint i;

  for (i = 0; i < LOG_LEVELS; i++)
    total += dropped[i];
  if (total == 0)
    return;
  append_prefix (out, "warning");
  g_string_append_printf (out, "%" G_GUINT64_FORMAT " log lines dropped, stderr blocked (", total);
  for (i = 0; i < LOG_LEVELS; i++)
    if (dropped[i] > 0)
      {
        g_string_append_printf (out, "%s%s %" G_GUINT64_FORMAT, sep, level_names[i], dropped[i]);
        sep = ", ";
      }
  g_string_append (out, ")\n");
  memset (dropped, 0, sizeof dropped);
}

static gboolean
dropped_any_locked (void)
{
  guint i;

  for (i = 0; i < LOG_LEVELS; i++)
    if (dropped[i] > 0)
      return TRUE;
  return FALSE;
}

/* Moves the queued lines, then the dropped count, into @out; their number and octets
 * (the dropped count's line aside) in @lines and @octets. queue_lock held. */
static void
take_queue_locked (GString *out,
                   gsize   *lines,
                   gsize   *octets)
{
  GString *line;

  *lines = 0;
  *octets = 0;
  while ((line = g_queue_pop_head (&queue)) != NULL)
    {
      g_string_append_len (out, line->str, line->len);
      *lines += 1;
      *octets += line->len;
      g_string_free (line, TRUE);
    }
  take_dropped_locked (out);
}

/* write_lock held; errors ignored (nowhere left to report them). */
static void
write_out (const GString *text)
{
  if (text->len == 0)
    return;
  fwrite (text->str, 1, text->len, stderr);
  fflush (stderr);
}

/* Writes what is queued, then @line, in the calling thread. */
static void
write_sync (const GString *line)
{
  g_autoptr (GString) out = g_string_new (NULL);
  gsize n, octets;

  g_mutex_lock (&queue_lock);
  take_queue_locked (out, &n, &octets);
  held_lines -= n;
  held_octets -= octets;
  g_string_append_len (out, line->str, line->len);
  g_mutex_lock (&write_lock);
  g_mutex_unlock (&queue_lock);
  write_out (out);
  g_mutex_unlock (&write_lock);
}

static gpointer
log_thread_run (gpointer data)
{
  g_autoptr (GString) out = g_string_new (NULL);

  g_mutex_lock (&queue_lock);
  for (;;)
    {
      gsize n, octets;

      while (g_queue_is_empty (&queue) && !dropped_any_locked () && !log_stopping)
        g_cond_wait (&queue_cond, &queue_lock);
      g_string_truncate (out, 0);
      take_queue_locked (out, &n, &octets);
      if (out->len == 0) /* stopping, nothing left */
        {
          log_ended = TRUE;
          g_cond_broadcast (&ended_cond);
          break;
        }
      g_mutex_lock (&write_lock);
      g_mutex_unlock (&queue_lock);
      write_out (out);
      g_mutex_unlock (&write_lock);
      g_mutex_lock (&queue_lock);
      held_lines -= n;
      held_octets -= octets;
    }
  g_mutex_unlock (&queue_lock);
  return NULL;
}

/* Queues @line (taking it) for the log thread; FALSE (@line kept) if no log thread runs. */
static gboolean
enqueue (GString       *line,
         GLogLevelFlags level)
{
  gboolean queued = TRUE;

  g_mutex_lock (&queue_lock);
  if (log_thread == NULL || log_stopping)
    queued = FALSE;
  else if (held_lines > 0 /* one line longer than the octet limit alone is taken */
           && (held_lines + 1 > SERVER_LOG_QUEUE_MAX_LINES
               || held_octets + line->len > SERVER_LOG_QUEUE_MAX_OCTETS))
    {
      dropped[level_index (level)]++;
      g_string_free (line, TRUE); /* held_lines > 0: the log thread is not waiting */
    }
  else
    {
      held_lines++;
      held_octets += line->len;
      g_queue_push_tail (&queue, line);
      if (queue.length == 1) /* the log thread waits only on an empty queue */
        g_cond_signal (&queue_cond);
    }
  g_mutex_unlock (&queue_lock);
  return queued;
}

static GLogWriterOutput
server_log_writer (GLogLevelFlags   level,
                   const GLogField *fields,
                   gsize            n_fields,
                   gpointer         user_data)
{
  const char *message = NULL;
  GString *line;
  gsize i;

  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !log_verbose)
    return G_LOG_WRITER_HANDLED;

  for (i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      message = fields[i].value;
  if (message == NULL)
    message = "(no message)";

  line = g_string_new (NULL);
  append_prefix (line, level_name (level));
  for (i = 0; message[i] != '\0'; i++)
    {
      guchar c = (guchar) message[i];

      if (c < 0x20 || c == 0x7f)
        g_string_append_printf (line, "\\x%02X", c);
      else
        g_string_append_c (line, (char) c);
    }
  g_string_append_c (line, '\n');

  /* A fatal message is written before the abort that follows it, with what is queued. */
  if ((level & (G_LOG_LEVEL_ERROR | G_LOG_FLAG_FATAL)) || !enqueue (line, level))
    {
      write_sync (line);
      g_string_free (line, TRUE);
    }
  return G_LOG_WRITER_HANDLED;
}

/**
 * server_log_start:
 *
 * Starts the log thread: from now on lines are queued, not written by the caller.
 * Does nothing if it runs already. If the thread cannot be created, logging stays
 * synchronous (lines written by their caller) and one warning says so.
 */
void
server_log_start (void)
{
  g_autoptr (GError) error = NULL;
  GThread *thread;
  gboolean busy;

  g_mutex_lock (&queue_lock);
  busy = log_thread != NULL || log_starting;
  if (!busy)
    {
      log_starting = TRUE;
      log_stopping = FALSE;
    }
  g_mutex_unlock (&queue_lock);
  if (busy)
    return;
  /* Created outside queue_lock: a failure GLib logs comes back to the writer, which takes
   * queue_lock (g_thread_new()'s fatal error deadlocked there). Until it is published,
   * lines are written by their caller; the thread waits for lines all the same. */
  thread = g_thread_try_new ("server-log", log_thread_run, NULL, &error);
  g_mutex_lock (&queue_lock);
  log_thread = thread;
  log_starting = FALSE;
  g_mutex_unlock (&queue_lock);
  if (thread == NULL)
    g_warning ("Cannot start the log thread, logging synchronously: %s", error->message);
}

/**
 * server_log_stop:
 *
 * Writes what is queued and ends the log thread; lines logged from then on are written by
 * their caller. Does nothing if no log thread runs. Waits SERVER_LOG_STOP_WAIT_MS at
 * most: if stderr is still blocked then, the log thread is left running (it writes what
 * it can until the exit; later lines are queued, as before), and a warning with the count
 * of lines not written yet is queued after them (it comes out only if stderr does).
 */
void
server_log_stop (void)
{
  GThread *thread;
  gint64 deadline = g_get_monotonic_time () + SERVER_LOG_STOP_WAIT_MS * G_TIME_SPAN_MILLISECOND;
  gboolean ended;
  gsize held = 0;

  g_mutex_lock (&queue_lock);
  thread = log_thread;
  if (thread == NULL)
    {
      g_mutex_unlock (&queue_lock);
      return;
    }
  log_stopping = TRUE;
  g_cond_signal (&queue_cond);
  while (!log_ended && g_cond_wait_until (&ended_cond, &queue_lock, deadline))
    ;
  ended = log_ended;
  if (ended)
    {
      log_thread = NULL;
      log_ended = FALSE;
    }
  else
    held = held_lines; /* the log thread is blocked in a write: it goes on as before */
  log_stopping = FALSE;
  g_mutex_unlock (&queue_lock);
  if (ended)
    g_thread_join (thread);
  else
    g_warning ("stderr blocked for %d ms at exit: %" G_GSIZE_FORMAT " log lines not written "
               "yet, lost if it stays blocked", SERVER_LOG_STOP_WAIT_MS, held);
}

/**
 * server_log_init:
 * @program: the program name shown in each line
 * @verbose: whether debug and info messages are shown
 *
 * Installs the log writer and starts the log thread. Call once, early in main(); call
 * server_log_stop() before the exit.
 */
void
server_log_init (const char *program,
                 gboolean    verbose)
{
  g_free (log_program);
  log_program = g_strdup (program);
  log_verbose = verbose;
  g_log_set_writer_func (server_log_writer, NULL, NULL);
  server_log_start ();
}
