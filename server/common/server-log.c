/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-log.c: logging set-up for the reference servers (see server-log.h).
 *
 * A structured-log writer: one line per message on stderr, control characters escaped.
 * Never: write secrets (callers never pass them); block on anything but stderr.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "server-log.h"

static char *log_program;
static gboolean log_verbose;
static GMutex log_lock;

static const char *
level_name (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "error";
  if (level & G_LOG_LEVEL_CRITICAL)
    return "critical";
  if (level & G_LOG_LEVEL_WARNING)
    return "warning";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "notice";
  if (level & G_LOG_LEVEL_INFO)
    return "info";
  return "debug";
}

gboolean
server_log_is_verbose (void)
{
  return log_verbose;
}

static GLogWriterOutput
server_log_writer (GLogLevelFlags   level,
                   const GLogField *fields,
                   gsize            n_fields,
                   gpointer         user_data)
{
  const char *message = NULL;
  g_autoptr (GString) line = g_string_new (NULL);
  gsize i;

  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !log_verbose)
    return G_LOG_WRITER_HANDLED;

  for (i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      message = fields[i].value;
  if (message == NULL)
    message = "(no message)";

  g_string_append_printf (line, "%s[%d]: %s: ", log_program ? log_program : "server",
                          (int) getpid (), level_name (level));
  for (i = 0; message[i] != '\0'; i++)
    {
      guchar c = (guchar) message[i];

      if (c < 0x20 || c == 0x7f)
        g_string_append_printf (line, "\\x%02X", c);
      else
        g_string_append_c (line, (char) c);
    }
  g_string_append_c (line, '\n');

  g_mutex_lock (&log_lock);
  fwrite (line->str, 1, line->len, stderr);
  fflush (stderr);
  g_mutex_unlock (&log_lock);
  return G_LOG_WRITER_HANDLED;
}

/**
 * server_log_init:
 * @program: the program name shown in each line
 * @verbose: whether debug and info messages are shown
 *
 * Installs the log writer. Call once, early in main().
 */
void
server_log_init (const char *program,
                 gboolean    verbose)
{
  g_free (log_program);
  log_program = g_strdup (program);
  log_verbose = verbose;
  g_log_set_writer_func (server_log_writer, NULL, NULL);
}
