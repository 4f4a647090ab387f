/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-main.h: the one skeleton of msgtrk's server programs (msgtrk-relay, mtqpd), in
 * the manner of Postfix's single_server.c: the program describes itself in a
 * ServerProgram and hands main() to server_main(), which does the rest in one order:
 *
 *   1. options: --config FILE, --listen ADDR:PORT, --port-file FILE, --verbose, --version
 *      and the program's own; extra arguments are refused (exit 2);
 *   2. logging (server-log.h), the configuration file through server_config_load() (the
 *      bounded reader: SERVER_CONFIG_MAX_SIZE), then the program's configure hook, which
 *      reads its keys and fills a ServerSettings; --listen overrides the listen address;
 *   3. as root: bind the listener (server-listener.h), the program's pre_drop hook (TLS
 *      keys), the port file (like a pid file: written while root can, once the socket is
 *      bound; connections made from then on wait in the listen backlog);
 *   4. server_privs_drop() (the configured user), the program's post_drop hook (stores,
 *      queues, workers), then the listener accepts (one thread per connection, at most
 *      max_connections, more wait up to connection_wait seconds; serve_inline: one accept
 *      thread, or a coroutine of the program's accept_loop);
 *   5. signals, one rule for every server: SIGTERM and SIGINT end the main loop (the
 *      handlers stay installed until shutdown, so a second signal changes nothing);
 *      SIGPIPE is ignored (a closed peer is an I/O error, not a death);
 *   6. shutdown: the listener stops (sessions are cancelled and joined), then the program's
 *      stop hook (workers, stores), then the log thread's queue is written out
 *      (server_log_stop()); exit 0. Any failure before: the error on stderr as
 *      "<program>: <message>", the stop hook, exit 1.
 *
 * A program without sessions (serve NULL: msgtrk-postfix-follower) gets steps 1, 2, 4-6
 * without the listener: it works from timers of the main loop its started hook adds.
 *
 * Never: serve a connection before the privilege drop; run a hook after stop.
 */
#pragma once

#include <gio/gio.h>

#include "server-listener.h"

G_BEGIN_DECLS

/* What the skeleton needs from a program's configuration; the configure hook fills it. */
typedef struct
{
  char *listen;           /* (owned) ADDR:PORT; --listen replaces it */
  guint max_connections;  /* sessions at once */
  guint connection_wait;  /* seconds a connection over the cap waits */
  char *user;             /* (owned) (nullable) the user to run as after start-up */
} ServerSettings;

typedef struct
{
  const char *name;            /* program name: logs, errors, --version */
  const char *summary;         /* one line for --help */
  const char *default_config;  /* used without --config */
  gboolean config_required;    /* FALSE: without --config, a missing default file means
                                * all defaults */
  const GOptionEntry *options; /* (nullable) the program's own options */
  const char *reject_line;     /* sent to a connection refused over the cap, CRLF ended */
  ServerConnectionFunc serve;  /* (nullable) one session; user_data is the program's data;
                                * NULL: a program without sessions (no bind, no port
                                * file; e.g. msgtrk-postfix-follower) */
  gboolean serve_inline;       /* event-driven: serve runs in the accept thread, must not
                                * block, and detaches the connection
                                * (server_listener_set_inline(); mtqpd) */

  /* @kf is NULL when there is no file (all defaults); @path names it in errors. */
  gboolean (*configure) (gpointer        data,
                         GKeyFile       *kf,
                         const char     *path,
                         ServerSettings *settings,
                         GError        **error);
  gboolean (*pre_drop)  (gpointer data,
                         GError **error);       /* (nullable) as root */
  gboolean (*post_drop) (gpointer data,
                         GError **error);       /* (nullable) as the configured user */
  /* (nullable) serve_inline: a loop to accept on, a coroutine of it instead of the accept
   * thread (server_listener_set_loop()); asked after post_drop, in the main thread, with
   * the cancellable the sessions get (cancelled when the stop begins: a stop handler is
   * best connected here, not from a loop); the loop must outlive stop. */
  ServerCoroLoop *(*accept_loop) (gpointer      data,
                                  GCancellable *stop);
  void     (*started)   (gpointer data,
                         guint16  port);        /* (nullable) accepting now */
  void     (*stop)      (gpointer data);        /* (nullable) always, once at the end */
} ServerProgram;

int server_main (const ServerProgram *program,
                 gpointer             data,
                 int                  argc,
                 char               **argv);

G_END_DECLS
