/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-front.h: msgtrk-submit-front, the SMTP submission front of a Postfix site
 * (docs/postfix-site.md, msgtrk-submit-front(8)).
 *
 * postfix_front_session_run() serves one client connection in lockstep with one upstream
 * (Postfix) connection: each client command is passed on and the upstream's reply passed
 * back, so Postfix decides every reply (AUTH, restrictions, size, quotas). What the front
 * changes (postfix-front-session.c): EHLO keywords (MTRK added, STARTTLS its own, CHUNKING,
 * BINARYMIME, XCLIENT and XFORWARD hidden; AUTH hidden before STARTTLS with
 * tls_auth_only), MAIL FROM (MTRK= taken off and remembered), STARTTLS (terminated here;
 * a fresh upstream session after it, RFC 3207 4.2), commands before STARTTLS
 * (tls_auth_only: AUTH 538; tls_security_level=encrypt: all but EHLO, HELO, STARTTLS,
 * NOOP, RSET, QUIT 530), XCLIENT toward Postfix (the client's address), and after a
 * tracked message's "250 ... queued as QID" a registration for the follower
 * (postfix-register.h). The upstream down or lost: the client gets 421, nothing accepted.
 * Sessions run as coroutines on loop threads (server-coro.h; postfix-front.c), or under
 * TLS in a thread of the front's TLS pool, at most max_tls_sessions (postfix_front_tls_run); the stop reaches them through one handler on the
 * listener's cancellable (postfix_front_sessions_watch) and the sessions list.
 */
#pragma once

#include <gio/gio.h>

#include "durable-group.h"
#include "msgtrk-tls-private.h"
#include "postfix-front-peer.h"
#include "postfix-front-pool.h"
#include "postfix-register.h"
#include "server-coro.h"
#include "server-listener.h"

G_BEGIN_DECLS

/** POSTFIX_FRONT_REPLY_LINE_MAX: longest upstream reply line accepted, CRLF included
 * (RFC 5321's reply line: 512, as Postfix writes them). */
#define POSTFIX_FRONT_REPLY_LINE_MAX 2048
/** POSTFIX_FRONT_REPLY_MAX_LINES: lines of one upstream reply at most. */
#define POSTFIX_FRONT_REPLY_MAX_LINES 100
/** POSTFIX_FRONT_MAX_ERRORS: local protocol errors after which the session ends (421). */
#define POSTFIX_FRONT_MAX_ERRORS 20
/** POSTFIX_FRONT_PENDING_CLAIM_WAIT: seconds a message waits, by default, before its data
 * goes upstream while another message's pending registration has its Message-ID
 * (pending_claim_wait; still there after it: 451, nothing sent). */
#define POSTFIX_FRONT_PENDING_CLAIM_WAIT 30
/** POSTFIX_FRONT_MAX_PENDING_CLAIM_WAIT: pending_claim_wait at most (a client waits at
 * least 10 minutes for the reply to its data, RFC 5321 4.5.3.2.6). */
#define POSTFIX_FRONT_MAX_PENDING_CLAIM_WAIT 300
/** POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT: on implicit TLS, seconds at most (and at most
 * tls_handshake_timeout) for the handshake of a client one past
 * max_connections_per_client, done only to tell it "421 4.7.0" (docs/postfix-site.md). */
#define POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT 5
/** POSTFIX_FRONT_*_MAX_TLS_SESSIONS: TLS sessions at once (max_tls_sessions), each run in
 * a thread of the front's TLS pool (GIO's TLS calls block; docs/postfix-front-io.md, "TLS
 * sessions: a pool of their own"). Past it: STARTTLS 454 4.3.2, an implicit TLS client
 * closed at once (no reply without a handshake), each logged with the key's name. */
#define POSTFIX_FRONT_DEFAULT_MAX_TLS_SESSIONS 100
#define POSTFIX_FRONT_MAX_MAX_TLS_SESSIONS 10000
/** POSTFIX_FRONT_TLS_IDLE_THREADS: threads of the TLS pool kept idle between sessions at
 * least (GLib's unused threads, a process-wide setting: raised to this, never lowered). */
#define POSTFIX_FRONT_TLS_IDLE_THREADS 4

typedef struct
{
  char *hostname;             /* our own replies */
  GSocketAddress *upstream;   /* (owned) Postfix: inet or unix */
  char *upstream_name;        /* (owned) for logs */
  char *registration_dir;     /* (owned) */
  DurableJournal *journal;    /* (owned) registrations' write-ahead journal, in that dir */
  PostfixPendingSlots *pending_slots; /* (owned) inodes reused for pending registrations
                                       * by ident (postfix-register.h) */
  MsgtrkTlsContext *tls;      /* (owned) (nullable) STARTTLS / implicit TLS */
  guint max_tls_sessions;     /* TLS sessions at once (POSTFIX_FRONT_*_MAX_TLS_SESSIONS) */
  GThreadPool *tls_pool;      /* (owned) (nullable) with tls: their threads, at most
                               * max_tls_sessions (postfix_front_tls_run) */
  GMutex tls_lock;
  guint tls_sessions;         /* TLS sessions running or taken (postfix_front_tls_take) */
  gboolean implicit_tls;      /* TLS from the first octet (port 465) */
  gboolean tls_auth_only;     /* tls: no AUTH offered or taken before STARTTLS (538) */
  gboolean tls_encrypt;       /* tls_security_level=encrypt: before STARTTLS only EHLO,
                               * HELO, STARTTLS, NOOP, RSET and QUIT (530) */
  gboolean xclient;           /* send XCLIENT (NAME, REVERSE_NAME, ADDR, PORT, DESTADDR,
                               * DESTPORT) first on every upstream link, unconditionally;
                               * refused (5xx): 421 4.3.5 to the client, the session ends */
  gboolean peername_lookup;   /* look the client's name up for XCLIENT (as Postfix's
                               * smtpd_peername_lookup); off: NAME=[UNAVAILABLE] */
  PostfixFrontPeerCache *peer_cache; /* (owned) the names found, kept peername_cache_ttl
                                      * seconds (postfix-front-peer.h) */
  guint idle_timeout;         /* seconds, both sides */
  guint request_deadline;     /* seconds for a whole client command, AUTH response or
                               * message data (as Postfix's smtpd_per_request_deadline
                               * with smtpd_timeout) */
  guint min_data_rate;        /* octets a second of message data that move the data's
                               * deadline (as Postfix's smtpd_min_data_rate) */
  guint tls_handshake_timeout; /* seconds for a whole TLS handshake (465, STARTTLS) */
  guint max_connections_per_client; /* sessions at once per client (0: any) */
  guint client_ipv4_prefix_length;  /* a client: its IPv4 address's network of these bits */
  guint client_ipv6_prefix_length;  /* ... its IPv6 one's (postfix_front_peer_key) */
  gboolean count_loopback_clients;  /* loopback clients counted too (default: not) */
  GMutex clients_lock;
  GHashTable *clients;        /* (owned) client key (postfix_front_peer_key) -> sessions
                               * (GUINT_TO_POINTER) */
  GHashTable *refusing;       /* (owned) client keys past their limit that have a refusal
                               * handshake under way (implicit TLS: one each) */
  guint mtrk_max_timeout;     /* seconds: the registration's lifetime at most */
  PostfixFrontPool *pool;     /* (owned) (nullable) warm upstream connections (xclient) */
  guint pending_claim_wait;   /* seconds: see POSTFIX_FRONT_PENDING_CLAIM_WAIT */
  /* (atomic) Joins of a pending registration's write before its data went upstream
   * (postfix-front-session.c, pending_join_write): the write found done, or not yet
   * (the join parked, or waited in a TLS thread). Logged at the stop (info). */
  gint pending_joins_done;
  gint pending_joins_waited;
  /* Message-IDs of the messages whose data is on its way upstream (one pending
   * registration per Message-ID at a time: postfix-front-session.c, mid_acquire) */
  GMutex mids_lock;
  GCond mids_changed;         /* signalled when a message is released (a thread's wait;
                               * a coroutine's parks on its entry: FrontMidUse) */
  GHashTable *mids;           /* (owned) Message-ID -> FrontMidUse* */
  guint64 mids_generation;    /* counts the table's changes */
  /* The sessions running (postfix-front-session.c, postfix_front_sessions_stop): their
   * descriptors shut down and their "." replies waited for at a stop. sessions_lock also
   * guards each session's upstream descriptor and dot_wait; never held across a wait for
   * I/O (a coroutine parked with it would block its loop: server-coro.h). */
  GMutex sessions_lock;
  GCond sessions_changed;     /* a session's dot_wait cleared, or a session gone */
  GQueue sessions;            /* of Session* (their own links) */
  gboolean stopping;          /* the stop's handler ran: new sessions end at once */
  /* Stress (postfix-front-session.c, stress_sweep): every session slot taken. */
  guint max_sessions;         /* max_connections (the listener's setting): that many
                               * sessions running is stress; the open files they need */
  guint stress_timeout;       /* seconds a client may take for a command under stress
                               * (0: no stress mode) */
  guint stress_source;        /* (sessions_lock) the sweep's timer while stressed, or 0 */
  gint64 stress_logged;       /* (sessions_lock) monotonic µs of the last notice, or 0 */
  GCancellable *stop_watched; /* (owned) (nullable) the listener's, the handler on it */
  gulong stop_id;
} PostfixFront;

/** POSTFIX_FRONT_STRESS_NOTICE_INTERVAL: seconds between two warnings that every session
 * slot is taken (stress), however often the front goes in and out of it. */
#define POSTFIX_FRONT_STRESS_NOTICE_INTERVAL 60

void postfix_front_mids_init  (PostfixFront *front);
void postfix_front_mids_clear (PostfixFront *front);
void postfix_front_mids_wake_all (PostfixFront *front);
void postfix_front_clients_init  (PostfixFront *front);
void postfix_front_clients_clear (PostfixFront *front);
void postfix_front_sessions_init  (PostfixFront *front);
void postfix_front_sessions_watch (PostfixFront *front,
                                   GCancellable *cancellable);
void postfix_front_sessions_clear (PostfixFront *front);
void postfix_front_tls_init  (PostfixFront *front);
void postfix_front_tls_start (PostfixFront *front);
void postfix_front_tls_clear (PostfixFront *front);
gboolean postfix_front_tls_take (PostfixFront *front);
void postfix_front_tls_drop (PostfixFront *front);
void postfix_front_tls_run  (PostfixFront   *front,
                             ServerCoroFunc  func,
                             gpointer        data);

void postfix_front_session_run (PostfixFront     *front,
                                ServerConnection *connection,
                                GCancellable     *cancellable);

G_END_DECLS
