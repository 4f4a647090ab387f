/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-front.c: msgtrk-submit-front, MTRK at submission in front of a Postfix site
 * (docs/postfix-site.md, msgtrk-submit-front(8); the session: postfix-front-session.c).
 *
 * Runs on the servers' skeleton (server-main.h): options, bounded configuration file
 * ([front] of msgtrk-submit-front.conf), bind, TLS keys as root, privilege drop, signals.
 * Sessions run as coroutines (server-coro.h) on io_threads loop threads (epoll), at
 * most max_connections at once: the listener calls front_serve in its accept coroutine on
 * the first loop (server_listener_set_loop), which detaches the connection and spawns its session on
 * the next loop in turn; the session gives the connection back when it ends
 * (server_listener_release). A session parks where it would wait for a descriptor; what
 * blocks otherwise (name lookups, journal syncs) runs in a pool thread
 * (server_coro_run_in_thread; docs/postfix-front-io.md, "The front on coroutines"), a TLS
 * session in a thread of the front's TLS pool, at most max_tls_sessions
 * (POSTFIX_FRONT_*_MAX_TLS_SESSIONS; postfix_front_tls_run). At the
 * stop the listener's cancellable shuts the sessions' sockets down (sessions_stop), which
 * wakes their parked waits; the listener waits for every session, then the loops are
 * freed (front_stop). Each connection is served in lockstep with its own
 * connection to the upstream Postfix (inet "ADDR:PORT" or "unix:/path"), taken warm
 * from the pool (upstream_pool, with xclient only: postfix-front-pool.h) when one is ready.
 *
 * Limits: max_connections (FRONT_MAX_MAX_CONNECTIONS), io_threads (FRONT_*_IO_THREADS), upstream_pool and upstream_pool_idle
 * (POSTFIX_FRONT_POOL_*), idle_timeout
 * (FRONT_*_IDLE_TIMEOUT), max_tls_sessions (POSTFIX_FRONT_*_MAX_TLS_SESSIONS), request_deadline (FRONT_*_REQUEST_DEADLINE) and min_data_rate
 * (FRONT_*_MIN_DATA_RATE), mtrk_max_timeout (at most MSGTRK_MTRK_TIMEOUT_MAX),
 * pending_claim_wait (POSTFIX_FRONT_*PENDING_CLAIM_WAIT).
 * TLS toward clients (tls_certificate, tls_key; implicit_tls): tls_auth_only (default on
 * with TLS, as Postfix's smtpd_tls_auth_only=yes) and tls_security_level (may, the
 * default, or encrypt), enforced by the session (docs/postfix-site.md, "TLS").
 * Clients that hold sessions: max_connections_per_client
 * (FRONT_*_MAX_CONNECTIONS_PER_CLIENT), a client being an address's network of
 * client_ipv4_prefix_length or client_ipv6_prefix_length bits
 * (FRONT_DEFAULT_CLIENT_IPV*_PREFIX_LENGTH); stress_timeout (FRONT_DEFAULT_STRESS_TIMEOUT)
 * while every slot is taken; tls_handshake_timeout (FRONT_DEFAULT_TLS_HANDSHAKE_TIMEOUT):
 * enforced by the session.
 * Never: run a session before the privilege drop; log AUTH data or message content.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "msgtrk-private.h"
#include "postfix-front.h"
#include "postfix-register.h"
#include "server-config.h"
#include "server-coro.h"
#include "server-main.h"

#define FRONT_GROUP "front"
#define FRONT_DEFAULT_CONFIG SYSCONFDIR "/msgtrk/msgtrk-submit-front.conf"
#define FRONT_DEFAULT_LISTEN "0.0.0.0:587"
#define FRONT_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/msgtrk"
/** FRONT_*_MAX_CONNECTIONS: sessions at once (each holds an upstream connection too). */
#define FRONT_DEFAULT_MAX_CONNECTIONS 100
#define FRONT_MAX_MAX_CONNECTIONS 10000
/** FRONT_*_IO_THREADS: loop threads the sessions run on, as coroutines (one is enough for
 * a few thousand messages a second; more use more CPUs). */
#define FRONT_DEFAULT_IO_THREADS 1
#define FRONT_MAX_IO_THREADS 64
/** FRONT_*_IDLE_TIMEOUT: seconds without a line from the client or the upstream. */
#define FRONT_DEFAULT_IDLE_TIMEOUT 300
#define FRONT_MAX_IDLE_TIMEOUT 3600
/** FRONT_*_REQUEST_DEADLINE: seconds a client has for a whole command line (the wait for
 * it included), an AUTH response, or a message's data (then moved later by
 * min_data_rate), as Postfix >= 3.7's smtpd_per_request_deadline=yes with its
 * smtpd_timeout=300s: a client sending an octet per idle_timeout no longer holds a
 * session and an upstream Postfix session for ever. */
#define FRONT_DEFAULT_REQUEST_DEADLINE 300
#define FRONT_MAX_REQUEST_DEADLINE 3600
/** FRONT_*_MIN_DATA_RATE: octets a second of message data that each move the data's
 * deadline 1/rate s later, never past request_deadline from then (Postfix's
 * smtpd_min_data_rate, 500, capped at smtpd_timeout: data at the rate is never cut, a
 * burst banks nothing; one sent slower is cut). At most 1 GB/s (a site's own clients). */
#define FRONT_DEFAULT_MIN_DATA_RATE 500
#define FRONT_MAX_MIN_DATA_RATE 1000000000
/** FRONT_*_MAX_CONNECTIONS_PER_CLIENT: sessions at once from one client address (as
 * Postfix's smtpd_client_connection_count_limit; 0: no limit). */
#define FRONT_DEFAULT_MAX_CONNECTIONS_PER_CLIENT 50
/** FRONT_DEFAULT_CLIENT_IPV*_PREFIX_LENGTH: the sessions of the addresses of one network
 * of these bits count as one client's (as Postfix 3.8's smtpd_client_ipv4_prefix_length
 * and smtpd_client_ipv6_prefix_length, and their defaults: an IPv4 address alone; an
 * IPv6 /84, as a host given a /64 can take any address in it), from 1 to an address's
 * length (POSTFIX_FRONT_PEER_IPV*_BITS). */
#define FRONT_DEFAULT_CLIENT_IPV4_PREFIX_LENGTH 32
#define FRONT_DEFAULT_CLIENT_IPV6_PREFIX_LENGTH 84
/** FRONT_DEFAULT_STRESS_TIMEOUT: seconds a client may take for a command (a TLS handshake
 * included) while every session slot (max_connections) is taken, as Postfix's smtpd in
 * its "stress" mode (smtpd_timeout and smtpd_starttls_timeout ${stress?{10}:{300}}s);
 * 0 to FRONT_MAX_IDLE_TIMEOUT, 0: no stress mode. */
#define FRONT_DEFAULT_STRESS_TIMEOUT 10
/** FRONT_DEFAULT_TLS_HANDSHAKE_TIMEOUT: seconds for a client's whole TLS handshake (as
 * Postfix's smtpd_starttls_timeout); at most FRONT_MAX_IDLE_TIMEOUT. */
#define FRONT_DEFAULT_TLS_HANDSHAKE_TIMEOUT 300
/** FRONT_DEFAULT_MTRK_MAX_TIMEOUT: a registration lives at most this long (30 days). */
#define FRONT_DEFAULT_MTRK_MAX_TIMEOUT (30 * 24 * 3600)
/* tls_security_level values (Postfix's names; "may" the default). */
#define FRONT_TLS_MAY "may"
#define FRONT_TLS_ENCRYPT "encrypt"

typedef struct
{
  PostfixFront front;
  char *state_dir;
  char *tls_certificate;
  char *tls_key;
  char *user;
  char *listen;
  guint pool_size;
  guint pool_idle;
  guint io_threads;
  guint peer_cache_ttl;        /* peername_cache_ttl: seconds (0: no cache) */
  ServerCoroLoop **loops;     /* (owned) io_threads of them, once started (post_drop) */
  guint next_loop;            /* the loop the next session goes to (the accept thread's) */
} Front;

/* FRONT_FILES_PER_SESSION: descriptors a session holds (the client's, its upstream link);
 * FRONT_FILES_SPARE: the process's own (listener, journal, loops, log, pools, a TLS
 * session's duplicate) and room for bursts. */
#define FRONT_FILES_PER_SESSION 2
#define FRONT_FILES_SPARE 64

/* The open-files limit (RLIMIT_NOFILE) against what max_connections sessions need: the
 * soft limit raised to it when the hard limit allows (no privilege needed), else a
 * warning that says what to change. Past the limit the listener's accept fails (EMFILE:
 * clients wait in the backlog) or a session cannot reach Postfix (421). */
static void
front_check_open_files (Front *f)
{
  struct rlimit rl;
  rlim_t need = (rlim_t) f->front.max_sessions * FRONT_FILES_PER_SESSION + f->pool_size
                + POSTFIX_REGISTRATION_SLOT_OPEN + FRONT_FILES_SPARE;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
    return;
  if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need)
    {
      rl.rlim_cur = need;
      if (setrlimit (RLIMIT_NOFILE, &rl) == 0)
        return;
    }
  g_warning ("max_connections=%u needs about %lu open files, but the limit is %lu (hard "
             "%lu): past it clients wait or hear 421; raise LimitNOFILE= in the unit, or "
             "lower max_connections",
             f->front.max_sessions, (unsigned long) need, (unsigned long) rl.rlim_cur,
             (unsigned long) rl.rlim_max);
}

/* A detached connection's session, for its coroutine. */
typedef struct
{
  Front *f;
  ServerConnection *connection;
  GCancellable *cancellable;
} FrontSession;

static void
front_clear (Front *f)
{
  g_free (f->front.hostname);
  g_clear_object (&f->front.upstream);
  g_free (f->front.upstream_name);
  /* The slots' own names go before the journal's last sync (their pending names stay). */
  g_clear_pointer (&f->front.pending_slots, postfix_pending_slots_free);
  g_clear_pointer (&f->front.journal, durable_journal_close);
  g_free (f->front.registration_dir);
  g_clear_pointer (&f->front.tls, msgtrk_tls_context_unref);
  g_clear_pointer (&f->front.pool, postfix_front_pool_free);
  g_clear_pointer (&f->front.peer_cache, postfix_front_peer_cache_free);
  postfix_front_mids_clear (&f->front);
  postfix_front_clients_clear (&f->front);
  postfix_front_sessions_clear (&f->front);
  postfix_front_tls_clear (&f->front);
  g_free (f->state_dir);
  g_free (f->tls_certificate);
  g_free (f->tls_key);
  g_free (f->user);
  g_free (f->listen);
}

static GSocketAddress *
parse_upstream (const char *text,
                GError    **error)
{
  if (g_str_has_prefix (text, "unix:"))
    {
      if (text[5] != '/')
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "upstream \"%s\": a unix socket needs an absolute path", text);
          return NULL;
        }
      return g_unix_socket_address_new (text + 5);
    }
  return server_config_parse_listen (text, error);
}

static gboolean
front_configure (gpointer        data,
                 GKeyFile       *kf,
                 const char     *path,
                 ServerSettings *settings,
                 GError        **error)
{
  static const char *const known[] = {
    "listen", "hostname", "upstream", "state_dir", "registration_dir", "tls_certificate",
    "tls_key", "implicit_tls", "tls_auth_only", "tls_security_level", "xclient",
    "peername_lookup", "peername_cache_ttl",
    "idle_timeout", "request_deadline", "min_data_rate", "mtrk_max_timeout", "upstream_pool", "upstream_pool_idle",
    "pending_claim_wait", "max_connections", "max_connections_per_client",
    "client_ipv4_prefix_length", "client_ipv6_prefix_length", "count_loopback_clients",
    "stress_timeout",
    "tls_handshake_timeout", "connection_wait", "user", "io_threads", "max_tls_sessions",
    NULL,
  };
  Front *f = data;
  g_autofree char *upstream = NULL;
  g_autofree char *security_level = NULL;

  const ServerConfigGroup groups[] = { { FRONT_GROUP, known }, { NULL, NULL } };

  const ServerConfigString strings[] = {
    { "listen", FRONT_DEFAULT_LISTEN, &f->listen },
    { "hostname", g_get_host_name (), &f->front.hostname },
    { "upstream", NULL, &upstream },
    { "state_dir", FRONT_DEFAULT_STATE_DIR, &f->state_dir },
    { "registration_dir", NULL, &f->front.registration_dir },
    { "tls_certificate", NULL, &f->tls_certificate },
    { "tls_key", NULL, &f->tls_key },
    { "user", NULL, &f->user },
    { "tls_security_level", FRONT_TLS_MAY, &security_level },
    { NULL, NULL, NULL },
  };
  const ServerConfigUint uints[] = {
    { "idle_timeout", FRONT_DEFAULT_IDLE_TIMEOUT, 1, FRONT_MAX_IDLE_TIMEOUT,
      &f->front.idle_timeout },
    { "request_deadline", FRONT_DEFAULT_REQUEST_DEADLINE, 1, FRONT_MAX_REQUEST_DEADLINE,
      &f->front.request_deadline },
    { "min_data_rate", FRONT_DEFAULT_MIN_DATA_RATE, 1, FRONT_MAX_MIN_DATA_RATE,
      &f->front.min_data_rate },
    { "tls_handshake_timeout", FRONT_DEFAULT_TLS_HANDSHAKE_TIMEOUT, 1, FRONT_MAX_IDLE_TIMEOUT,
      &f->front.tls_handshake_timeout },
    { "stress_timeout", FRONT_DEFAULT_STRESS_TIMEOUT, 0, FRONT_MAX_IDLE_TIMEOUT,
      &f->front.stress_timeout },
    { "mtrk_max_timeout", FRONT_DEFAULT_MTRK_MAX_TIMEOUT, 1, MSGTRK_MTRK_TIMEOUT_MAX,
      &f->front.mtrk_max_timeout },
    { "upstream_pool", POSTFIX_FRONT_POOL_DEFAULT_SIZE, 0, POSTFIX_FRONT_POOL_MAX_SIZE,
      &f->pool_size },
    { "upstream_pool_idle", POSTFIX_FRONT_POOL_DEFAULT_IDLE, 1, POSTFIX_FRONT_POOL_MAX_IDLE,
      &f->pool_idle },
    { "pending_claim_wait", POSTFIX_FRONT_PENDING_CLAIM_WAIT, 1,
      POSTFIX_FRONT_MAX_PENDING_CLAIM_WAIT, &f->front.pending_claim_wait },
    { "max_connections", FRONT_DEFAULT_MAX_CONNECTIONS, 1, FRONT_MAX_MAX_CONNECTIONS,
      &settings->max_connections },
    { "max_connections_per_client", FRONT_DEFAULT_MAX_CONNECTIONS_PER_CLIENT, 0,
      FRONT_MAX_MAX_CONNECTIONS, &f->front.max_connections_per_client },
    { "client_ipv4_prefix_length", FRONT_DEFAULT_CLIENT_IPV4_PREFIX_LENGTH, 1,
      POSTFIX_FRONT_PEER_IPV4_BITS, &f->front.client_ipv4_prefix_length },
    { "client_ipv6_prefix_length", FRONT_DEFAULT_CLIENT_IPV6_PREFIX_LENGTH, 1,
      POSTFIX_FRONT_PEER_IPV6_BITS, &f->front.client_ipv6_prefix_length },
    { "connection_wait", SERVER_LISTENER_DEFAULT_WAIT, 0, SERVER_LISTENER_MAX_WAIT,
      &settings->connection_wait },
    { "io_threads", FRONT_DEFAULT_IO_THREADS, 1, FRONT_MAX_IO_THREADS, &f->io_threads },
    { "max_tls_sessions", POSTFIX_FRONT_DEFAULT_MAX_TLS_SESSIONS, 1,
      POSTFIX_FRONT_MAX_MAX_TLS_SESSIONS, &f->front.max_tls_sessions },
    { "peername_cache_ttl", POSTFIX_FRONT_PEER_CACHE_DEFAULT_TTL, 0,
      POSTFIX_FRONT_PEER_CACHE_MAX_TTL, &f->peer_cache_ttl },
    { NULL, 0, 0, 0, NULL },
  };

  if (!server_config_check_keys (kf, path, groups, error)
      || !server_config_read_strings (kf, FRONT_GROUP, strings, error))
    return FALSE;
  if (upstream == NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "%s [" FRONT_GROUP "]: upstream (the Postfix to pass sessions to, "
                   "ADDR:PORT or unix:/path) is required",
                   path);
      return FALSE;
    }
  f->front.upstream = parse_upstream (upstream, error);
  if (f->front.upstream == NULL)
    return FALSE;
  f->front.upstream_name = g_steal_pointer (&upstream);
  if (f->front.registration_dir == NULL)
    f->front.registration_dir = g_build_filename (f->state_dir, "postfix-registrations", NULL);
  if ((f->tls_certificate == NULL) != (f->tls_key == NULL))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "%s [" FRONT_GROUP "]: set both tls_certificate and tls_key, or neither",
                   path);
      return FALSE;
    }
  if (!server_config_get_boolean (kf, FRONT_GROUP, "implicit_tls", FALSE,
                                  &f->front.implicit_tls, error)
      || !server_config_get_boolean (kf, FRONT_GROUP, "xclient", TRUE, &f->front.xclient, error)
      || !server_config_get_boolean (kf, FRONT_GROUP, "peername_lookup", TRUE,
                                     &f->front.peername_lookup, error)
      || !server_config_get_boolean (kf, FRONT_GROUP, "count_loopback_clients", FALSE,
                                     &f->front.count_loopback_clients, error))
    return FALSE;
  /* As Postfix's smtpd_tls_auth_only: on by default whenever clients can have TLS
   * (with implicit TLS every session is in TLS: nothing to refuse). */
  if (!server_config_get_boolean (kf, FRONT_GROUP, "tls_auth_only",
                                  f->tls_certificate != NULL, &f->front.tls_auth_only, error))
    return FALSE;
  /* As Postfix's smtpd_tls_security_level, for the client side: "may" offers STARTTLS,
   * "encrypt" requires it before anything but EHLO/HELO/STARTTLS/NOOP/RSET/QUIT. */
  if (g_str_equal (security_level, FRONT_TLS_ENCRYPT))
    f->front.tls_encrypt = TRUE;
  else if (!g_str_equal (security_level, FRONT_TLS_MAY))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "%s [" FRONT_GROUP "]: tls_security_level \"%s\": may or encrypt", path,
                   security_level);
      return FALSE;
    }
  /* The settings that need this front's own certificate (tls_auth_only: without TLS no
   * client could authenticate). */
  {
    const struct
    {
      gboolean on;
      const char *setting;
    } need_tls[] = {
      { f->front.implicit_tls, "implicit_tls" },
      { f->front.tls_auth_only, "tls_auth_only" },
      { f->front.tls_encrypt, "tls_security_level=encrypt" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (need_tls) && f->tls_certificate == NULL; i++)
      if (need_tls[i].on)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "%s [" FRONT_GROUP "]: %s needs tls_certificate and tls_key", path,
                       need_tls[i].setting);
          return FALSE;
        }
  }
  if (!server_config_read_uints (kf, FRONT_GROUP, uints, error))
    return FALSE;
  f->front.max_sessions = settings->max_connections;
  settings->listen = g_strdup (f->listen);
  settings->user = g_strdup (f->user);
  return TRUE;
}

static gboolean
front_pre_drop (gpointer data,
                GError **error)
{
  Front *f = data;

  if (f->tls_certificate == NULL)
    return TRUE;
  f->front.tls = msgtrk_tls_context_new_server (f->tls_certificate, f->tls_key, error);
  return f->front.tls != NULL;
}

static gboolean
front_post_drop (gpointer data,
                 GError **error)
{
  Front *f = data;
  g_autoptr (GError) local = NULL;
  guint recovered;

  front_check_open_files (f);
  if (g_mkdir_with_parents (f->front.registration_dir, 0750) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot create %s: %s",
                   f->front.registration_dir, g_strerror (saved));
      return FALSE;
    }
  /* Registrations a crash may have cut from the disk come back from the journals of the
   * front processes that are gone; then this process gets its own journal. */
  recovered = postfix_registration_recover (f->front.registration_dir, &local);
  if (local != NULL)
    g_warning ("Some journaled registrations could not be restored: %s", local->message);
  else if (recovered > 0)
    g_message ("%u journaled registrations checked after a crash", recovered);
  f->front.journal = durable_journal_open (f->front.registration_dir,
                                           POSTFIX_REGISTRATION_JOURNAL_PREFIX, error);
  if (f->front.journal == NULL)
    return FALSE;
  f->front.pending_slots = postfix_pending_slots_new (f->front.registration_dir,
                                                      f->front.journal);
  /* TLS sessions' own threads (after the drop, as the loops'). */
  postfix_front_tls_start (&f->front);
  /* The loops the sessions run on (after the drop: their threads run as the user). */
  f->loops = g_new0 (ServerCoroLoop *, f->io_threads);
  for (guint i = 0; i < f->io_threads; i++)
    {
      f->loops[i] = server_coro_loop_new ("front-io", error);
      if (f->loops[i] == NULL)
        return FALSE;
    }
  if (f->front.xclient && f->front.peername_lookup && f->peer_cache_ttl > 0)
    f->front.peer_cache = postfix_front_peer_cache_new (f->peer_cache_ttl,
                                                        POSTFIX_FRONT_PEER_CACHE_MAX);
  /* Warm connections only with XCLIENT: each session's own identity is set on take. */
  if (f->front.xclient && f->pool_size > 0)
    f->front.pool = postfix_front_pool_new (f->front.upstream, f->front.upstream_name,
                                            f->pool_size, f->pool_idle, f->front.idle_timeout);
  return TRUE;
}

static void
front_session_thread (gpointer data)
{
  FrontSession *fs = data;

  postfix_front_session_run (&fs->f->front, fs->connection, fs->cancellable);
}

/* A session's coroutine: the session, then the connection back to the listener (which
 * closes it). Implicit TLS: the whole session in a thread of the TLS pool (GIO's TLS
 * calls block; its refusal past max_connections_per_client needs a handshake too), at
 * most max_tls_sessions at once: past it the client is closed at once (telling it
 * anything would need a handshake, i.e. a thread), and the log says which key. */
static void
front_session_coro (gpointer data)
{
  FrontSession *fs = data;

  if (fs->f->front.implicit_tls)
    {
      if (postfix_front_tls_take (&fs->f->front))
        {
          postfix_front_tls_run (&fs->f->front, front_session_thread, fs);
          postfix_front_tls_drop (&fs->f->front);
        }
      else
        {
          PostfixFrontPeer peer = { 0 };
          socklen_t len = 0;
          const struct sockaddr *sa = server_connection_get_peer (fs->connection, &len);

          g_message ("[%s] closed without a reply: max_tls_sessions (%u) TLS sessions "
                     "running already (raise max_tls_sessions if the host has the threads)",
                     postfix_front_peer_set_address (&peer, sa, len) ? peer.addr : "unknown",
                     fs->f->front.max_tls_sessions);
        }
    }
  else
    postfix_front_session_run (&fs->f->front, fs->connection, fs->cancellable);
  server_listener_release (fs->connection);
  g_free (fs);
}

/* The listener's handler, in its accept coroutine on the first loop (front_accept_loop;
 * inline: it must not block or park): the connection detached and its session spawned on
 * the next loop in turn. */
static void
front_serve (ServerConnection *connection,
             GCancellable     *cancellable,
             gpointer          data)
{
  Front *f = data;
  g_autoptr (GError) error = NULL;
  FrontSession *fs = g_new (FrontSession, 1);
  ServerCoroLoop *loop = f->loops[f->next_loop];

  f->next_loop = (f->next_loop + 1) % f->io_threads;
  fs->f = f;
  fs->connection = connection;
  fs->cancellable = cancellable;
  server_listener_detach (connection);
  if (!server_coro_loop_spawn (loop, front_session_coro, fs, &error))
    {
      /* E.g. no memory for the session's stack: the client hears why it is closed (a
       * try without waiting, as the listener's own refusals: it must not block here). */
      g_autofree char *reply = g_strdup_printf ("421 4.3.2 %s Service temporarily "
                                                "unavailable, try again later\r\n",
                                                f->front.hostname);

      g_warning ("Cannot start a session: %s", error->message);
      (void) send (server_connection_get_fd (connection), reply, strlen (reply),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
      server_listener_release (connection);
      g_free (fs);
    }
}

/* The listener accepts in a coroutine of the first loop: no accept thread woken, and no
 * hand-off to a loop, per connection (docs/postfix-front-io.md, "Accept on the loop"). */
static ServerCoroLoop *
front_accept_loop (gpointer      data,
                   GCancellable *stop)
{
  Front *f = data;

  /* The stop's handler for every session (sessions_stop), connected here in the main
   * thread before any session: never from a loop (g_cancellable_connect may wait for an
   * emission under way, or run the handler at once). */
  postfix_front_sessions_watch (&f->front, stop);
  return f->loops != NULL ? f->loops[0] : NULL;
}

/* After the listener's stop (every session ended and released its connection): the
 * loops' threads end; with --verbose, if there were any, how the pending registrations'
 * writes were joined before their data went upstream (docs/postfix-front-io.md, "Does
 * the write's join park?"). None (no tracked message by ident): no line, as for any
 * other front (the stop's lines are the log's last: with stderr blocked, a line more may
 * only be dropped and counted). */
static void
front_stop (gpointer data)
{
  Front *f = data;
  /* Counted as gint by g_atomic_int_inc(), read as unsigned: 4 billion before a wrap. */
  guint done = (guint) g_atomic_int_get (&f->front.pending_joins_done);
  guint waited = (guint) g_atomic_int_get (&f->front.pending_joins_waited);

  if (done > 0 || waited > 0)
    g_info ("Pending registration joins before the data went upstream: %u found the write "
            "done, %u waited for it",
            done, waited);

  for (guint i = 0; f->loops != NULL && i < f->io_threads; i++)
    g_clear_pointer (&f->loops[i], server_coro_loop_free);
  g_clear_pointer (&f->loops, g_free);
}

static void
front_started (gpointer data,
               guint16  port)
{
  Front *f = data;

  g_message ("Listening on port %u as %s, passing sessions to %s (TLS %s%s%s, XCLIENT %s, "
             "%u warm upstream connections, %u I/O threads)",
             port, f->front.hostname, f->front.upstream_name,
             f->front.tls == NULL ? "off" : f->front.implicit_tls ? "implicit" : "STARTTLS",
             f->front.tls == NULL || f->front.implicit_tls ? ""
             : f->front.tls_encrypt ? " required" : " optional",
             f->front.tls == NULL || f->front.implicit_tls ? ""
             : f->front.tls_auth_only ? ", AUTH only in TLS" : ", AUTH also in clear text",
             f->front.xclient ? "sent first on every upstream link" : "off",
             f->front.pool != NULL ? f->pool_size : 0, f->io_threads);
}

int
main (int   argc,
      char *argv[])
{
  static const ServerProgram program = {
    .name = "msgtrk-submit-front",
    .summary = "- MTRK at submission, in front of Postfix",
    .default_config = FRONT_DEFAULT_CONFIG,
    .config_required = TRUE,
    .reject_line = "421 4.7.0 Too many connections, try again later\r\n",
    .serve = front_serve,
    .serve_inline = TRUE,
    .configure = front_configure,
    .pre_drop = front_pre_drop,
    .post_drop = front_post_drop,
    .accept_loop = front_accept_loop,
    .started = front_started,
    .stop = front_stop,
  };
  Front f = { 0 };
  int status;

  postfix_front_mids_init (&f.front);
  postfix_front_clients_init (&f.front);
  postfix_front_sessions_init (&f.front);
  postfix_front_tls_init (&f.front);
  status = server_main (&program, &f, argc, argv);
  front_clear (&f);
  return status;
}
