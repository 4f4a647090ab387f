/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-main.c: the skeleton every msgtrk server program runs (contract and order:
 * server-main.h). Learnt from Postfix's single_server.c (one skeleton, the program only
 * fills hooks); written for GLib (GOptionContext, GMainLoop, g_unix_signal_add).
 *
 * Limits: the configuration file is at most SERVER_CONFIG_MAX_SIZE octets
 * (server-config.c); connections: the program's max_connections and connection_wait
 * (server-listener.c).
 * Never: keep root after start-up (server_privs_drop refuses root without a user); accept
 * a connection before the drop; log secrets (the skeleton logs no configuration value).
 */
#include "config.h"

#include <locale.h>
#include <signal.h>
#include <stdlib.h>

#include <glib-unix.h>

#include "msgtrk.h"
#include "server-config.h"
#include "server-log.h"
#include "server-main.h"
#include "server-privs.h"

/* Exit status for a usage error (bad option or argument). */
#define SERVER_EXIT_USAGE 2

static gboolean
on_signal (gpointer user_data)
{
  g_message ("Signal received, shutting down");
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
write_port_file (const char *path,
                 guint16     port,
                 GError    **error)
{
  g_autofree char *text = g_strdup_printf ("%u\n", port);

  return g_file_set_contents (path, text, -1, error);
}

static void
settings_clear (ServerSettings *settings)
{
  g_clear_pointer (&settings->listen, g_free);
  g_clear_pointer (&settings->user, g_free);
}

/* Load the configuration (bounded) and let the program read it. */
static gboolean
configure (const ServerProgram *program,
           gpointer             data,
           const char          *config_path,
           ServerSettings      *settings,
           GError             **error)
{
  g_autoptr (GKeyFile) kf = NULL;
  const char *path = config_path != NULL ? config_path : program->default_config;

  if (config_path != NULL || program->config_required
      || g_file_test (path, G_FILE_TEST_EXISTS))
    {
      kf = server_config_load (path, error);
      if (kf == NULL)
        return FALSE;
    }
  else
    g_message ("No configuration file %s, using the defaults", path);
  return program->configure (data, kf, path, settings, error);
}

/* Steps 3 to 5 of server-main.h; the listener is returned for the shutdown. */
static gboolean
run (const ServerProgram *program,
     gpointer             data,
     ServerSettings      *settings,
     const char          *port_file,
     ServerListener     **listener_out,
     GError             **error)
{
  g_autoptr (GSocketAddress) address = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  ServerListener *listener;
  guint sig_term, sig_int;
  guint16 port = 0;

  /* A program without sessions (serve NULL, e.g. a log follower) binds nothing. */
  listener = NULL;
  if (program->serve != NULL)
    {
      address = server_config_parse_listen (settings->listen, error);
      if (address == NULL)
        return FALSE;
      listener = server_listener_new (address, settings->max_connections,
                                      settings->connection_wait, program->reject_line,
                                      program->serve, data, error);
      if (listener == NULL)
        {
          g_prefix_error (error, "Cannot listen on %s: ", settings->listen);
          return FALSE;
        }
      server_listener_set_inline (listener, program->serve_inline);
      *listener_out = listener;
    }
  /* Signals are caught from before the port file exists: a supervisor (or a test) may
   * send SIGTERM as soon as it sees that file, and the signal then waits for the loop
   * instead of killing the process half started. */
  loop = g_main_loop_new (NULL, FALSE);
  sig_term = g_unix_signal_add (SIGTERM, on_signal, loop);
  sig_int = g_unix_signal_add (SIGINT, on_signal, loop);
  if (program->pre_drop != NULL && !program->pre_drop (data, error))
    goto fail;
  if (listener != NULL)
    port = server_listener_get_port (listener);
  if (listener != NULL && port_file != NULL && !write_port_file (port_file, port, error))
    goto fail;
  if (!server_privs_drop (settings->user, error))
    goto fail;
  if (program->post_drop != NULL && !program->post_drop (data, error))
    goto fail;

  if (listener != NULL && program->serve_inline && program->accept_loop != NULL)
    server_listener_set_loop (listener,
                              program->accept_loop (data,
                                                    server_listener_get_cancellable (listener)));
  if (listener != NULL)
    server_listener_start (listener);
  if (program->started != NULL)
    program->started (data, port);
  g_main_loop_run (loop);
  g_source_remove (sig_term);
  g_source_remove (sig_int);
  return TRUE;

fail:
  g_source_remove (sig_term);
  g_source_remove (sig_int);
  return FALSE;
}

/**
 * server_main:
 * @program: what the program is and its hooks
 * @data: the program's data, given to every hook and to each session
 * @argc: from main()
 * @argv: from main()
 *
 * Runs a server program from its options to its exit (see server-main.h).
 *
 * Returns: the exit status: 0 after a signal, 1 on a failure, 2 on a usage error
 */
int
server_main (const ServerProgram *program,
             gpointer             data,
             int                  argc,
             char               **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *port_file = NULL;
  g_autofree char *config_help = NULL;
  gboolean verbose = FALSE;
  gboolean version = FALSE;
  g_autoptr (GOptionContext) octx = NULL;
  g_autoptr (GError) error = NULL;
  ServerListener *listener = NULL;
  ServerSettings settings = { 0 };
  int status = EXIT_FAILURE;

  setlocale (LC_ALL, "");
  signal (SIGPIPE, SIG_IGN);

  config_help = g_strdup_printf ("Configuration file (default %s)", program->default_config);
  {
    GOptionEntry entries[] = {
      { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, config_help, "FILE" },
      { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
        "Listen on ADDR:PORT instead of the configured address (port 0: any free port)",
        "ADDR:PORT" },
      { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file,
        "Write the bound port to FILE once listening", "FILE" },
      { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log connections and debug messages",
        NULL },
      { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
      G_OPTION_ENTRY_NULL,
    };

    octx = g_option_context_new (program->summary);
    g_option_context_add_main_entries (octx, entries, NULL);
    if (program->options != NULL)
      g_option_context_add_main_entries (octx, program->options, NULL);
    if (!g_option_context_parse (octx, &argc, &argv, &error))
      {
        g_printerr ("%s: %s\n", program->name, error->message);
        return SERVER_EXIT_USAGE;
      }
  }
  if (version)
    {
      g_print ("%s (msgtrk) %s\n", program->name, MSGTRK_VERSION);
      return EXIT_SUCCESS;
    }
  if (argc > 1)
    {
      g_printerr ("%s: unexpected argument \"%s\"\n", program->name, argv[1]);
      return SERVER_EXIT_USAGE;
    }
  server_log_init (program->name, verbose);

  if (configure (program, data, config_path, &settings, &error))
    {
      if (listen != NULL)
        {
          g_free (settings.listen);
          settings.listen = g_steal_pointer (&listen);
        }
      if (run (program, data, &settings, port_file, &listener, &error))
        status = EXIT_SUCCESS;
    }

  if (listener != NULL)
    server_listener_stop (listener);
  if (program->stop != NULL)
    program->stop (data);
  g_clear_pointer (&listener, server_listener_free);
  settings_clear (&settings);
  /* The log queue written out (waiting for a stalled stderr SERVER_LOG_STOP_WAIT_MS at
   * most: server-log.h), then the last line. */
  server_log_stop ();
  if (error != NULL)
    g_printerr ("%s: %s\n", program->name, error->message);
  else
    g_message ("Stopped");
  return status;
}
