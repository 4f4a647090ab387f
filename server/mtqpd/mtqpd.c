/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqpd.c: the MTQP server (RFC 3887) of the msgtrk reference tracking server.
 *
 * Answers TRACK queries from the tracking records that msgtrk-relay writes
 * (server/common/track-store.h). Runs on the servers' skeleton (server-main.h: options,
 * bounded configuration file, bind, privilege drop, signals, port file, one thread per
 * connection); this file reads mtqpd.conf(5) ([mtqpd] and [chain_overrides]), reads the
 * TLS key as root and opens the store after the drop: [store] backend=files (default) or
 * postgresql (track-store.h; a database that is down is answered -TEMP, not a crash).
 *
 * Chaining referrals (mtqpd-chain.h) only with chaining=true; next-hop overrides in
 * [chain_overrides] (NAME=ADDRESS:PORT).
 *
 * Limits: max_connections sessions at once (more wait up to connection_wait seconds in
 * the listen backlog, then are answered "-TEMP/MTQP/unavailable" and closed); idle_timeout (at least 600 s, as RFC 3887
 * section 2.4 demands, unless --idle-timeout-for-tests); 998-octet lines (fixed); workers
 * (threads of the event loop) 1 to MTQPD_MAX_WORKERS, 0 (default) = 2 per CPU, at least
 * 4 (with PostgreSQL a worker does not wait for the database: the store's lookup threads
 * answer the TRACKs, coalesced, and the session is resumed).
 * Never: run as root; log a secret; write to the tracking store.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "mtqpd-session.h"
#include "server-config.h"
#include "server-listener.h"
#include "server-main.h"
#include "track-store.h"

#define MTQPD_GROUP "mtqpd"
#define MTQPD_OVERRIDES_GROUP "chain_overrides"
#define MTQPD_STORE_GROUP "store"
#define MTQPD_DEFAULT_CONFIG SYSCONFDIR "/msgtrk/mtqpd.conf"
#define MTQPD_DEFAULT_LISTEN "0.0.0.0:1038"
#define MTQPD_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/msgtrk"
/** MTQPD_DEFAULT_MAX_CONNECTIONS / MTQPD_MAX_MAX_CONNECTIONS: max_connections default, upper bound. */
#define MTQPD_DEFAULT_MAX_CONNECTIONS 100
#define MTQPD_MAX_MAX_CONNECTIONS 10000
/** MTQPD_MAX_HOSTNAME: longest hostname accepted for the greeting. */
#define MTQPD_MAX_HOSTNAME 255

typedef struct
{
  char *listen;
  char *hostname;
  char *state_dir;
  char *tls_certificate;
  char *tls_key;
  char *user;
  guint idle_timeout;
  guint max_connections;
  guint connection_wait;
  gboolean chaining;
  guint chain_timeout;
  guint workers; /* 0: mtqpd_default_workers () */
  char *chain_ca_file;
  MtqpdChain *chain;        /* (owned) (nullable) set when chaining is on */
  GKeyFile *kf;             /* (owned) (nullable) for [store], opened after the drop */
} MtqpdConfig;

static void
mtqpd_config_clear (MtqpdConfig *c)
{
  g_free (c->listen);
  g_free (c->hostname);
  g_free (c->state_dir);
  g_free (c->tls_certificate);
  g_free (c->tls_key);
  g_free (c->user);
  g_free (c->chain_ca_file);
  g_clear_pointer (&c->chain, mtqpd_chain_free);
  g_clear_pointer (&c->kf, g_key_file_unref);
}

static gboolean
hostname_is_valid (const char *name)
{
  gsize i;

  if (*name == '\0' || strlen (name) > MTQPD_MAX_HOSTNAME)
    return FALSE;
  for (i = 0; name[i] != '\0'; i++)
    if (!g_ascii_isalnum (name[i]) && name[i] != '.' && name[i] != '-' && name[i] != '_'
        && name[i] != ':' && name[i] != '[' && name[i] != ']')
      return FALSE;
  return TRUE;
}

/* Read every key of [mtqpd]; unknown groups and keys are an error (a typo must not go
 * unnoticed): server_config_check_keys() reports them. */
static gboolean
mtqpd_config_read (GKeyFile    *kf,
                   const char  *path,
                   gboolean     test_idle,
                   MtqpdConfig *c,
                   GError     **error)
{
  static const char *const known[] = {
    "listen", "hostname", "state_dir", "tls_certificate", "tls_key", "user",
    "idle_timeout", "max_connections", "connection_wait", "chaining", "chain_timeout",
    "chain_ca_file", "workers", NULL,
  };
  const ServerConfigGroup groups[] = {
    { MTQPD_GROUP, known },
    { MTQPD_STORE_GROUP, NULL }, /* checked by track-store.c */
    { MTQPD_OVERRIDES_GROUP, NULL },
    { NULL, NULL },
  };
  const ServerConfigString strings[] = {
    { "listen", MTQPD_DEFAULT_LISTEN, &c->listen },
    { "hostname", g_get_host_name (), &c->hostname },
    { "state_dir", MTQPD_DEFAULT_STATE_DIR, &c->state_dir },
    { "tls_certificate", NULL, &c->tls_certificate },
    { "tls_key", NULL, &c->tls_key },
    { "user", NULL, &c->user },
    { "chain_ca_file", NULL, &c->chain_ca_file },
    { NULL, NULL, NULL },
  };
  const ServerConfigUint uints[] = {
    { "idle_timeout", MTQPD_DEFAULT_IDLE_TIMEOUT, test_idle ? 1 : MTQPD_MIN_IDLE_TIMEOUT,
      MTQPD_MAX_IDLE_TIMEOUT, &c->idle_timeout },
    { "max_connections", MTQPD_DEFAULT_MAX_CONNECTIONS, 1, MTQPD_MAX_MAX_CONNECTIONS,
      &c->max_connections },
    { "connection_wait", SERVER_LISTENER_DEFAULT_WAIT, 0, SERVER_LISTENER_MAX_WAIT,
      &c->connection_wait },
    { "chain_timeout", MTQPD_DEFAULT_CHAIN_TIMEOUT, MTQPD_MIN_CHAIN_TIMEOUT,
      MTQPD_MAX_CHAIN_TIMEOUT, &c->chain_timeout },
    { "workers", 0, 0, MTQPD_MAX_WORKERS, &c->workers },
    { NULL, 0, 0, 0, NULL },
  };

  if (!server_config_check_keys (kf, path, groups, error)
      || !server_config_read_strings (kf, MTQPD_GROUP, strings, error))
    return FALSE;

  if (!hostname_is_valid (c->hostname))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (c->hostname, 80);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Configuration [" MTQPD_GROUP "] hostname: \"%s\" is not a host name",
                   quoted);
      return FALSE;
    }
  if ((c->tls_certificate == NULL) != (c->tls_key == NULL))
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "Configuration [" MTQPD_GROUP "]: set both tls_certificate and "
                           "tls_key, or neither");
      return FALSE;
    }
  if (!server_config_read_uints (kf, MTQPD_GROUP, uints, error))
    return FALSE;
  if (!server_config_get_boolean (kf, MTQPD_GROUP, "chaining", FALSE, &c->chaining, error))
    return FALSE;
  if (c->chaining)
    {
      g_auto (GStrv) names = NULL;
      char **n;

      c->chain = mtqpd_chain_new (c->hostname, c->chain_ca_file, c->chain_timeout);
      if (kf != NULL && g_key_file_has_group (kf, MTQPD_OVERRIDES_GROUP))
        names = g_key_file_get_keys (kf, MTQPD_OVERRIDES_GROUP, NULL, NULL);
      for (n = names; n != NULL && *n != NULL; n++)
        {
          g_autofree char *address = NULL;

          address = server_config_get_string (kf, MTQPD_OVERRIDES_GROUP, *n, "", error);
          if (address == NULL)
            return FALSE;
          if (!mtqpd_chain_add_override (c->chain, *n, address, error))
            {
              g_prefix_error (error, "Configuration [" MTQPD_OVERRIDES_GROUP "] %s: ", *n);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* Everything mtqpd holds while it runs (the skeleton's data). */
typedef struct
{
  MtqpdConfig config;
  MtqpdServer server;          /* what sessions share */
  guint workers;               /* of the event loop (0: a thread per session, chaining) */
  MsgtrkTlsContext *tls;       /* (owned) (nullable) */
  TrackStore *store;           /* (owned) (nullable) until post_drop */
} Mtqpd;

/* --idle-timeout-for-tests (hidden): seconds, below the RFC minimum. */
static gint test_idle_timeout;

static const GOptionEntry mtqpd_options[] = {
  { "idle-timeout-for-tests", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &test_idle_timeout,
    "Idle timeout in seconds, below the RFC minimum (tests only)", "SECONDS" },
  G_OPTION_ENTRY_NULL,
};

static void
on_connection (ServerConnection *connection,
               GCancellable     *cancellable,
               gpointer          user_data)
{
  Mtqpd *m = user_data;

  mtqpd_session_start (&m->server, connection, cancellable);
}

static gboolean
mtqpd_configure (gpointer        data,
                 GKeyFile       *kf,
                 const char     *path,
                 ServerSettings *settings,
                 GError        **error)
{
  Mtqpd *m = data;
  MtqpdConfig *c = &m->config;

  if (!mtqpd_config_read (kf, path, test_idle_timeout > 0, c, error))
    return FALSE;
  if (!track_store_check_config (kf, error))
    return FALSE;
  if (kf != NULL)
    c->kf = g_key_file_ref (kf);
  if (test_idle_timeout > 0)
    c->idle_timeout = (guint) test_idle_timeout;
  settings->listen = g_strdup (c->listen);
  settings->max_connections = c->max_connections;
  settings->connection_wait = c->connection_wait;
  settings->user = g_strdup (c->user);
  return TRUE;
}

/* As root: the TLS key. */
static gboolean
mtqpd_pre_drop (gpointer  data,
                GError  **error)
{
  Mtqpd *m = data;

  if (m->config.tls_certificate == NULL)
    return TRUE;
  m->tls = msgtrk_tls_context_new_server (m->config.tls_certificate, m->config.tls_key,
                                          error);
  return m->tls != NULL;
}

/* As the configured user: the tracking store ([store]; files by default). */
static gboolean
mtqpd_post_drop (gpointer  data,
                 GError  **error)
{
  Mtqpd *m = data;

  m->store = track_store_new_from_config (m->config.kf, m->config.state_dir, error);
  if (m->store == NULL)
    return FALSE;
  m->server.hostname = m->config.hostname;
  m->server.store = m->store;
  m->server.tls = m->tls;
  m->server.idle_timeout = m->config.idle_timeout;
  m->server.chain = m->config.chain;
  m->server.answers = mtqpd_answer_cache_new ();
  /* Event-driven sessions unless chaining (its next-hop queries block a thread). */
  if (m->config.chain == NULL)
    {
      /* A worker does not wait for PostgreSQL (its TRACKs are answered by the store's
       * lookup threads), nor long for the files backend. */
      guint workers = m->config.workers != 0
                        ? m->config.workers
                        : CLAMP (MTQPD_WORKERS_PER_CPU * g_get_num_processors (),
                                 MTQPD_MIN_DEFAULT_WORKERS, MTQPD_MAX_WORKERS);

      m->workers = workers;

      m->server.loop = mtqpd_loop_new (workers, error);
      if (m->server.loop == NULL)
        return FALSE;
    }
  return TRUE;
}

static void
mtqpd_started (gpointer data,
               guint16  port)
{
  Mtqpd *m = data;

  g_message ("Listening on port %u (STARTTLS %s, max %u connections, idle timeout %u s, "
             "chaining %s, store %s, workers %u)",
             port, m->tls != NULL ? "offered" : "not configured", m->config.max_connections,
             m->config.idle_timeout, m->config.chain != NULL ? "on" : "off",
             track_store_get_backend_name (m->store), m->workers);
}

static void
mtqpd_stop (gpointer data)
{
  Mtqpd *m = data;

  if (m->store != NULL)
    {
      guint64 lookups = 0, batches = 0;
      guint waiting = 0;

      track_store_lookup_stats (m->store, &lookups, &batches, &waiting);
      if (batches > 0)
        g_message ("TRACK lookups: %" G_GUINT64_FORMAT " answered by %" G_GUINT64_FORMAT
                   " %s", lookups, batches,
                   track_store_get_pool_size (m->store) > 0 ? "statements" : "file reads");
    }
  g_clear_object (&m->store);
  g_clear_pointer (&m->server.loop, mtqpd_loop_free);
  mtqpd_session_join_threads ();
  g_clear_pointer (&m->server.answers, mtqpd_answer_cache_free);
  g_clear_pointer (&m->tls, msgtrk_tls_context_unref);
  mtqpd_config_clear (&m->config);
}

static const ServerProgram mtqpd_program = {
  .name = "mtqpd",
  .summary = "- MTQP (RFC 3887) message tracking server",
  .default_config = MTQPD_DEFAULT_CONFIG,
  .config_required = FALSE,
  .options = mtqpd_options,
  .reject_line = "-TEMP/MTQP/unavailable Too many connections, try again later\r\n",
  .serve = on_connection,
  .serve_inline = TRUE,
  .configure = mtqpd_configure,
  .pre_drop = mtqpd_pre_drop,
  .post_drop = mtqpd_post_drop,
  .started = mtqpd_started,
  .stop = mtqpd_stop,
};

int
main (int    argc,
      char **argv)
{
  Mtqpd m = { 0 };

  return server_main (&mtqpd_program, &m, argc, argv);
}
