/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-front-session.c: one client session of msgtrk-submit-front, in lockstep with
 * one upstream (Postfix) session (contract: postfix-front.h; site setup:
 * docs/postfix-site.md).
 *
 * Start: with xclient=true, the client's names looked up as Postfix's smtpd would, before
 * its greeting (reverse, then forward-confirmed, blocking, bounded by the system
 * resolver's timeouts; peername_lookup=false: none); connect to the upstream (refused or
 * unreachable: "421 4.3.2" to the client, close); read its greeting and pass it on to the
 * client; then, while the client's EHLO is on its way, "XCLIENT NAME=<name> [REVERSE_NAME=<name>]
 * ADDR=<client> PORT=<port> DESTADDR=<front> DESTPORT=<port>" ([UNAVAILABLE] /
 * [TEMPUNAVAIL] for names not found; IPv4-mapped addresses as IPv4; DESTADDR/DESTPORT
 * the front's address the client reached: postfix-front-peer.h) with no EHLO before it
 * (one round trip), so that Postfix sees the real client as it would have itself (its
 * smtpd_authorized_xclient_hosts must allow the front; refused: a warning and "421 4.3.5"
 * to the client, never a session in which Postfix takes the front's address for the
 * client's); the upstream lost there: 421.
 * A client address with max_connections_per_client sessions already gets "421 4.7.0"
 * before anything else (on implicit TLS after a handshake of at most
 * POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT, one per address at a time; any other closed
 * at once). With implicit TLS the client's
 * TLS handshake comes first; a handshake (also after STARTTLS) has tls_handshake_timeout
 * in all. The upstream socket has TCP_NODELAY (whole commands and data buffers are
 * written at once: message data FRONT_DATA_FLUSH at a time, and whatever is held when
 * the client pauses, so that Postfix's smtpd_timeout bounds each pause, not the whole
 * message; but, unless tracked by ident, not before the header section has ended or
 * reached FRONT_DATA_FLUSH (data_start: the Message-ID first), so smtpd_timeout bounds the
 * whole header section, and a wait in mid_acquire: docs/postfix-site.md, "The header
 * section held").
 * I/O (docs/postfix-front-io.md): the client socket (not under TLS) and the upstream
 * socket are plain descriptors (the listener's accepted one, and
 * postfix_front_upstream_connect's), no GSocket or stream objects: read with the line
 * reader (server_line_reader_init_fd) and written with send(2) (server_socket_send_all).
 * Threads (docs/postfix-front-io.md, "The front on coroutines"): a session runs as a
 * coroutine on a loop thread (postfix-front.c, server-coro.h): where it would wait for a
 * descriptor it parks (the shared helpers; idle_timeout, or a nearer deadline, bounds the
 * wait), and what blocks otherwise runs in a pool thread (server_coro_run_in_thread,
 * the coroutine parked): the client's name lookup (peer_names, unless
 * peername_cache_ttl kept its names) and TLS (below); a wait for another message's
 * pending registration (mid_acquire) parks, woken by the release; the journal's syncs park on the DurableGroup, whose
 * fdatasync runs in a pool thread once for every ticket it covers (docs/durability.md);
 * TLS: implicit TLS runs the whole session in a thread of the front's TLS pool, STARTTLS
 * the rest of it (session_tls_in_thread), through GIO's blocking calls (the client's GIO
 * stream made from its descriptor, server_connection_get_stream), a thread per TLS session
 * while it lasts, at most max_tls_sessions (postfix_front_tls_run; past it STARTTLS gets
 * 454, an implicit TLS client is closed at once), never one of the shared pool's. Never hold a GMutex across a park. At shutdown one handler
 * (sessions_stop) shuts every session's sockets down, which ends their reads (parked or
 * blocking), and waits for the "." replies due.
 *
 * Pipelining (RFC 2920): when the upstream's EHLO offered PIPELINING (passed on to the
 * client), a MAIL and the RCPTs and DATA the client pipelined after it (already in the
 * line reader's buffer) go upstream in one write, and the upstream's replies are read in
 * order and relayed in order, each still the upstream's; the group ends at DATA, at
 * FRONT_PIPELINE_MAX commands, at any other command, or when the client has sent nothing
 * more. Replies to the client are held while its next commands are already here and
 * written before the front waits for more (the reader's fill hook). A client that does
 * not pipeline gets lockstep as before.
 *
 * Commands (MAIL, RCPT, DATA possibly in a pipelined group, the rest one at a time):
 *   EHLO      passed on; the reply's keywords minus STARTTLS, CHUNKING, BINARYMIME,
 *             XCLIENT, XFORWARD and MTRK (and minus AUTH before STARTTLS with
 *             tls_auth_only or tls_security_level=encrypt), plus STARTTLS (if this front
 *             has TLS and the session is not yet in TLS) and MTRK if the upstream
 *             offers DSN (MTRK needs ENVID; without DSN: no MTRK, warned once, and a
 *             MAIL with MTRK= gets 555). DSN stays iff the upstream offers it.
 *   MAIL      MTRK=<B>[:<timeout>] is parsed (msgtrk_mtrk_param_parse) and taken off;
 *             ENVID (msgtrk_envid_param_parse), RET and everything else are passed on
 *             verbatim. MTRK without ENVID: 501 here ("MTRK requires ENVID"; an ENVID
 *             present but unreadable: "Bad ENVID parameter" and why); a bad MTRK
 *             value: 501 here; a
 *             MAIL inside a transaction: 503 here (as Postfix), the transaction goes
 *             on with its tracking state. A
 *             tracked MAIL goes after "XFORWARD IDENT=<ident>" (its own transaction id,
 *             postfix_registration_ident_new; in the same write when pipelining) when the
 *             upstream's EHLO offered XFORWARD with IDENT; its reply is not the client's
 *             (refused: a warning, the message falls back to its Message-ID).
 *             With MTRK, a sender the front cannot read (envelope_path_read): 501 5.1.7
 *             here, not passed on (MTRK= never reaches Postfix); without, Postfix judges.
 *   RCPT      passed on; accepted recipients (and ORCPT) are remembered when tracked. A
 *             tracked message's recipient is read (envelope_path_read, as Postfix reads
 *             it) before it goes upstream; one the front cannot read: 501 5.1.3 here.
 *   DATA      passed on; after 354 the data is streamed line by line, unstuffed by the
 *             lib's one parser (msgtrk-dot-private.h: only CRLF "." CRLF ends it) and
 *             written again by its one writer (dot-stuffed, every LF as CRLF): no line
 *             Postfix could read as "." (it strips every CR before the LF:
 *             ".<CR><CR><LF>") reaches it but the real end, and a "." after or before a
 *             bare LF is data for both, dot kept (no SMTP smuggling). A line longer than the
 *             reader's buffer is passed on in pieces (Postfix decides). A tracked
 *             message with an ident: its pending registration by ident is started at
 *             Postfix's 354 (journal record, slot file and link, then the sync, in a pool
 *             thread while the client sends the header: pending_start, no park; no
 *             Message-ID looked at; not when the ident was sent more than
 *             POSTFIX_REGISTRATION_IDENT_WINDOW ago), its write joined before the data
 *             goes upstream (a failure: 451 as below), its sync after Postfix's reply to
 *             the "." and before that reply goes to the client (each join parks only if
 *             that part still runs; every exit where Postfix took nothing joins it and
 *             removes it), the follower binds it from smtpd's "client=...,
 *             orig_queue_id=" line (its binding is the queue id's registration: the
 *             front writes nothing after the 250); the rest goes as below. Otherwise, a
 *             tracked
 *             message with one simple Message-ID: before its data goes upstream, the
 *             Message-ID is taken (mid_acquire: one message per Message-ID in flight
 *             while a pending registration has it, tracked or not; still pending after
 *             pending_claim_wait: nothing sent, the upstream link closed, 451, the
 *             session ends), then its
 *             pending registration (by Message-ID, postfix-register.h) is journaled
 *             (by ident or by Message-ID, a write that fails: the same as a Message-ID
 *             still pending, 451 "Tracking registration failed" and nothing sent),
 *             and waited for once the "." is written (its fdatasync runs while Postfix
 *             writes its queue file); after the 250 (sent on at once) QID.reg
 *             through the journal, waited for, then the pending file removed (the
 *             follower holds the cleanup lines with that Message-ID meanwhile); a
 *             4xx/5xx removes it. Otherwise, after the
 *             upstream's 250 with "queued as QID" for a tracked message, the registration
 *             is written and made durable through the front's journal (one grouped
 *             fdatasync, docs/postfix-site.md), then the 250 goes to the client; if it
 *             cannot be (or the 250 names no queue id), the client gets 451 instead: never
 *             a tracked message reported accepted without its registration.
 *   AUTH      passed on, and every 334 challenge / client response in lockstep; nothing
 *             of it is logged, and the reader wipes what it held. Before STARTTLS with
 *             tls_auth_only (the default with STARTTLS): 538 here, not passed on. The
 *             AUTH line and each response up to FRONT_AUTH_LINE_MAX (RFC 4954); a longer
 *             response: "*" upstream (Postfix ends the exchange), 500 5.5.6 to the client.
 *   STARTTLS  here, not passed on (TLS toward the client; the upstream link is loopback or
 *             a unix socket). After the handshake (RFC 3207 4.2) the upstream link is
 *             replaced by a fresh one (QUIT to the old; the new one warm from the pool or
 *             connected, XCLIENT again: up_renew), the session's transaction, tracking
 *             state and EHLO forgotten; the client must EHLO again.
 *   before STARTTLS with tls_security_level=encrypt: only EHLO, HELO, STARTTLS, NOOP,
 *             RSET and QUIT; anything else 530 here (tls_gate).
 *   QUIT      answered here at once ("221"): its reply decides nothing, and the replies
 *             to everything before it were the upstream's; then QUIT goes upstream and
 *             the upstream link is closed without waiting for its 221 (Postfix has written
 *             it before it learns of the close): one upstream round trip less for the
 *             client per session, and no wake-up of the front for the 221.
 *   BDAT, XCLIENT, XFORWARD from the client: 502 here. The verb is split as Postfix splits
 *             it (command_split: white space before it skipped, any SP, HTAB, CR, VT or
 *             FF ends it), so "XCLIENT<TAB>LOGIN=..." is refused too, never passed on.
 *   anything else (RSET, NOOP, VRFY, HELP, unknown): passed on. RSET, like EHLO and
 *             HELO, resets the session's transaction and tracking only when the upstream
 *             answers 2xx (Postfix keeps its transaction after "501 Syntax: RSET").
 * Deadlines (as Postfix's smtpd_per_request_deadline, smtpd_min_data_rate): each command
 * line (the wait for it included) and AUTH response within request_deadline, a message's
 * data within request_deadline moved 1/min_data_rate s later per octet received, to at
 * most request_deadline from then (client_deadline_start; under TLS a timer cancels the
 * read at it: server_line_reader_set_deadline_cancellable); past it "421 4.4.2 <host> Error: timeout exceeded", and in
 * DATA the upstream link is closed without the "." first (data_deadline_abandon:
 * Postfix queues nothing), the session ends.
 * The upstream lost or silent past idle_timeout: "421 4.4.2" to the client, close; an
 * unfinished message is never accepted (Postfix discards a message without its ".").
 *
 * Limits: client command lines MSGTRK_SMTP_RCPT_LINE_MAX, AUTH command and response lines
 * FRONT_AUTH_LINE_MAX (longer: 500 5.5.6, the line never passed on); data lines none: a line over
 * SERVER_LINE_BUFFER_SIZE - 1 goes upstream in pieces of that size (the reader's
 * read_piece; a "421" to it was temporary, an MTA retried it for days, while Postfix
 * alone takes such lines, in records of its line_length_limit: it decides); upstream
 * replies POSTFIX_FRONT_REPLY_MAX_LINES of POSTFIX_FRONT_REPLY_LINE_MAX;
 * POSTFIX_FRONT_MAX_ERRORS local errors; recipients of a tracked message
 * POSTFIX_REGISTRATION_MAX_RCPTS, and their "Rcpt:" lines in the registration
 * POSTFIX_REGISTRATION_RCPT_BUDGET octets (counted as they are accepted; the RCPT that
 * would pass either: 452 4.5.3 here, never passed on); the wait for another
 * message's pending registration pending_claim_wait (POSTFIX_FRONT_*PENDING_CLAIM_WAIT),
 * the disk looked at every FRONT_PENDING_RECHECK_MS; queue ids a pending registration
 * skips POSTFIX_REGISTRATION_MAX_SKIP.
 * Never: log AUTH data or message content; answer 250 to DATA unless the upstream did;
 * pass MTRK= to Postfix.
 */
#include "config.h"

#include "postfix-front.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "msgtrk-dot-private.h"
#include "msgtrk-private.h"
#include "msgtrk-smtp-syntax-private.h"
#include "postfix-front-peer.h"
#include "postfix-front-pool.h"
#include "postfix-log.h"
#include "postfix-register.h"
#include "server-coro.h"
#include "server-line-reader.h"
#include "server-log.h"

/* An info line of every session (connect, XCLIENT, disconnect): formatted only when info
 * lines are shown (g_info formats before the log writer drops it). */
#define FRONT_SESSION_INFO(...)                                                                    \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (server_log_is_verbose ())                                                                  \
      g_info (__VA_ARGS__);                                                                        \
  }                                                                                                \
  G_STMT_END

/** FRONT_AUTH_LINE_MAX: longest AUTH command line and AUTH response line, CRLF included
 * (RFC 4954 section 4: 12288 octets, the line length it deems enough for deployed
 * mechanisms, e.g. an XOAUTH2 initial response with an OAuth token; Postfix's
 * smtpd_sasl_response_limit). Every other command line: MSGTRK_SMTP_RCPT_LINE_MAX. */
#define FRONT_AUTH_LINE_MAX 12288
/** FRONT_DATA_FLUSH: message data buffered before a write to the upstream. */
#define FRONT_DATA_FLUSH 65536
/** FRONT_MESSAGE_ID_MAX: longest Message-ID field value (after the colon, unfolded, its
 * white space included) a pending registration by Message-ID is made for. */
#define FRONT_MESSAGE_ID_MAX 998
/** FRONT_PIPELINE_MAX: commands of one pipelined group sent upstream before their replies
 * are read (a longer group is sent in several). */
#define FRONT_PIPELINE_MAX 100
/** FRONT_PENDING_RECHECK_MS: while a message waits for another's pending registration
 * (mid_acquire), the file is looked for on disk again this often (the follower, or
 * another front process, removes it without telling this one). */
#define FRONT_PENDING_RECHECK_MS 100
/** FRONT_STOP_REPLY_WAIT_MS: at shutdown, how long the sessions whose "." the upstream
 * may have are given, together, for its reply (the upstream has the message: cut off
 * before the reply, the client would retry a message Postfix queued). Past it, their
 * upstream links are shut down and the clients hear 421. */
#define FRONT_STOP_REPLY_WAIT_MS 5000

/* The messages of this front whose data is on its way upstream, per Message-ID. */
typedef struct
{
  guint tracked;                  /* with a pending registration (0 or 1) */
  guint untracked;
  guint waiting;                  /* messages waiting in mid_acquire */
  GSList *parked;                 /* of ServerCoro*: the waiting coroutines, parked
                                   * (mid_acquire; woken by mid_release, the stop) */
  GPtrArray *passed;              /* (owned) of char*: queue ids of untracked ones done
                                   * while others waited (Skip-Queue-Id) */
} FrontMidUse;

static void
mid_use_free (gpointer data)
{
  FrontMidUse *use = data;

  g_slist_free (use->parked);
  g_ptr_array_unref (use->passed);
  g_free (use);
}

/* A command sent upstream whose reply is still to be read (a pipelined group). */
typedef enum
{
  UP_PENDING_MAIL,
  UP_PENDING_RCPT,
  UP_PENDING_DATA,
  UP_PENDING_XFORWARD,
} UpPendingKind;

typedef struct
{
  UpPendingKind kind;
  char *line;                     /* (owned) the client's command line (RCPT: the address) */
} UpPending;

typedef struct
{
  PostfixFront *front;
  ServerConnection *connection;   /* the listener's */
  int fd;                         /* the client's socket (the listener's) */
  GCancellable *cancel;
  GIOStream *tls;                 /* (owned) (nullable) */
  GCancellable *deadline_cancel;  /* (owned) (nullable) ends a TLS read at the deadline */
  GOutputStream *out;             /* (nullable) of tls */
  char *peer_ip;                  /* (owned) for logs: peer.addr, or "unknown" */
  PostfixFrontPeer peer;          /* the client as Postfix would see it (XCLIENT) */
  gboolean peer_named;            /* peer's names looked up (once per session) */
  guint errors;
  gboolean helo_seen;
  gboolean esmtp;
  gboolean greeted;               /* the client has a greeting: a loss is 421 */
  gboolean said_421;
  char client_key[POSTFIX_FRONT_PEER_KEY_MAX]; /* what it is counted under, "" if not */
  gint wait_since;                /* (atomic) while the client owes a command or a TLS
                                   * handshake: the monotonic second it began, plus 1;
                                   * STRESS_CUT once stress_sweep cut that wait; else 0 */
  gboolean stress_cut;            /* the session saw its wait cut (client_wait_done) */
  GCancellable *tls_cancel;       /* (owned) (nullable) once in TLS: its reads' (wait_cancel),
                                   * cancelled by the stop and by stress_sweep; set under
                                   * front->sessions_lock */
  gboolean client_counted;        /* counted in front->clients (client_count_take) */
  gboolean client_refusing;       /* in front->refusing (client_refusal_take) */

  GList link;                     /* in front->sessions (postfix_front_sessions_stop) */
  int up_fd;                      /* (owned) the upstream socket, -1: none; set and closed
                                   * under front->sessions_lock (the stop's handler may be
                                   * shutting it down) */
  gboolean dot_wait;              /* the "." is on its way upstream, its reply not read
                                   * (under front->sessions_lock) */
  ServerLineReader *up_reader;    /* (owned) of up_fd */
  gboolean up_dsn;
  gboolean up_pipelining;         /* the upstream's last EHLO offered PIPELINING */
  gboolean           up_xforward_ident; /* the upstream's last EHLO offered XFORWARD ... IDENT */
  GString *up_batch;              /* (owned) commands of the group not yet written */
  GArray *up_pending;             /* (owned) of UpPending: sent or batched, reply unread */
  gboolean flushing;              /* inside group_flush */
  GString *client_out;            /* (owned) replies not yet written to the client */
  GString *group_reply;           /* (owned) group_flush's, each reply in turn */
  GString *up_line;               /* (owned) up_command's line with its CRLF, sized for
                                   * the longest (an AUTH line: never moved, wiped) */
  GString *data_reply;            /* (owned) the reply to a pipelined DATA */
  int data_code;
  GString *data_held;             /* (nullable) cmd_data's data not yet written upstream,
                                   * once the upstream may have it (session_fill_hook) */

  /* the transaction */
  gboolean in_mail;
  char *envid;                    /* (owned) (nullable) tracked when set with B */
  char *authenticator;            /* (owned) (nullable) */
  guint mtrk_timeout;
  GPtrArray *rcpts;               /* (owned) of char* pairs: address, orcpt-or-NULL */
  gsize rcpts_size;               /* their "Rcpt:" lines' octets in the registration */
  gsize rcpts_size_sent;          /* those of tracked RCPTs sent, their replies unread */
  char *mid_held;                 /* (owned) (nullable) this message's entry in front->mids */
  gboolean mid_tracked;
  char *mid_queue_id;             /* (owned) (nullable) untracked: its queue id, once known */
  GPtrArray *mid_skip;            /* (owned) (nullable) queue ids its pending one skips */
  char      *ident;               /* (owned) (nullable) tracked: its XFORWARD IDENT, once
                                   * the upstream took it */
  gint64 ident_sent;              /* monotonic microseconds the XFORWARD was sent */
  const char *data_refusal;       /* (nullable) why data_start refused the message: the
                                   * 451's text after the host name */

  /* The client's reader, last: postfix_front_session_run zeroes the members before it,
   * not its buffer (SERVER_LINE_BUFFER_SIZE octets, a memset per session that cost an
   * eighth of the front's user-space instructions per message; server_line_reader_init
   * sets the reader's state, and no octet outside what it read is ever looked at). */
  ServerLineReader reader;
} Session;

/* A member after the reader would be left unzeroed (postfix_front_session_run). */
G_STATIC_ASSERT (G_STRUCT_OFFSET (Session, reader) + sizeof (ServerLineReader)
                 == sizeof (Session));

/**
 * postfix_front_mids_init:
 * @front: the front
 *
 * The table of Message-IDs in flight (mid_acquire), empty.
 */
void
postfix_front_mids_init (PostfixFront *front)
{
  g_mutex_init (&front->mids_lock);
  g_cond_init (&front->mids_changed);
  front->mids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, mid_use_free);
}

/**
 * postfix_front_mids_clear:
 * @front: the front, no session running
 */
void
postfix_front_mids_clear (PostfixFront *front)
{
  g_clear_pointer (&front->mids, g_hash_table_unref);
  g_cond_clear (&front->mids_changed);
  g_mutex_clear (&front->mids_lock);
}

/**
 * postfix_front_clients_init:
 * @front: the front, no session running yet
 *
 * The table of sessions per client address (max_connections_per_client).
 */
void
postfix_front_clients_init (PostfixFront *front)
{
  g_mutex_init (&front->clients_lock);
  front->clients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  front->refusing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * postfix_front_clients_clear:
 * @front: the front, no session running
 */
void
postfix_front_clients_clear (PostfixFront *front)
{
  g_clear_pointer (&front->clients, g_hash_table_unref);
  g_clear_pointer (&front->refusing, g_hash_table_unref);
  g_mutex_clear (&front->clients_lock);
}

/* The session of @s counted for its client (its address's network of
 * client_ipv4_prefix_length or client_ipv6_prefix_length bits: postfix_front_peer_key);
 * FALSE (nothing counted) when that client already has max_connections_per_client
 * sessions (0: no limit; an address unknown is not counted, nor a loopback one unless
 * count_loopback_clients: Postfix exempts $mynetworks, its own host's networks with
 * mynetworks_style=host, from smtpd_client_connection_count_limit by default; the front
 * exempts loopback only). */
static gboolean
client_count_take (Session *s)
{
  PostfixFront *front = s->front;
  guint n;

  if (front->max_connections_per_client == 0)
    return TRUE;
  if (!front->count_loopback_clients && postfix_front_peer_is_loopback (&s->peer))
    return TRUE;
  if (!postfix_front_peer_key (&s->peer, front->client_ipv4_prefix_length,
                               front->client_ipv6_prefix_length, s->client_key))
    return TRUE;
  g_mutex_lock (&front->clients_lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (front->clients, s->client_key));
  if (n < front->max_connections_per_client)
    {
      g_hash_table_insert (front->clients, g_strdup (s->client_key), GUINT_TO_POINTER (n + 1));
      s->client_counted = TRUE;
    }
  g_mutex_unlock (&front->clients_lock);
  return s->client_counted;
}

static void
client_count_drop (Session *s)
{
  PostfixFront *front = s->front;
  guint n;

  if (!s->client_counted)
    return;
  g_mutex_lock (&front->clients_lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (front->clients, s->client_key));
  if (n <= 1)
    g_hash_table_remove (front->clients, s->client_key);
  else
    g_hash_table_insert (front->clients, g_strdup (s->client_key), GUINT_TO_POINTER (n - 1));
  g_mutex_unlock (&front->clients_lock);
  s->client_counted = FALSE;
}

/* On implicit TLS, whether the session of @s, one past its client's limit, may spend a
 * handshake (POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT at most) to tell its client 421:
 * one such handshake per client at a time, so a client holds at most one slot more
 * than its limit (the others are closed at once, as before). */
static gboolean
client_refusal_take (Session *s)
{
  PostfixFront *front = s->front;

  g_mutex_lock (&front->clients_lock);
  s->client_refusing = g_hash_table_add (front->refusing, g_strdup (s->client_key));
  g_mutex_unlock (&front->clients_lock);
  return s->client_refusing;
}

static void
client_refusal_drop (Session *s)
{
  if (!s->client_refusing)
    return;
  g_mutex_lock (&s->front->clients_lock);
  g_hash_table_remove (s->front->refusing, s->client_key);
  g_mutex_unlock (&s->front->clients_lock);
  s->client_refusing = FALSE;
}

/* Whether a message with the Message-ID of @use must wait: a tracked one (its pending
 * registration would be named as the other's) for any other in flight, an untracked one
 * (its cleanup line could be bound in place of the tracked one's) for a tracked one. */
static gboolean
mid_busy (const FrontMidUse *use,
          gboolean           tracked)
{
  return use != NULL && (use->tracked > 0 || (tracked && use->untracked > 0));
}

/* The table entry of @mid, made if there is none (@f's lock held). */
static FrontMidUse *
mid_use_get (PostfixFront *f,
             const char   *mid)
{
  FrontMidUse *use = g_hash_table_lookup (f->mids, mid);

  if (use == NULL)
    {
      use = g_new0 (FrontMidUse, 1);
      use->passed = g_ptr_array_new_with_free_func (g_free);
      g_hash_table_insert (f->mids, g_strdup (mid), use);
    }
  return use;
}

/* The entry of @mid gone when nothing uses it (@f's lock held). */
static void
mid_use_tidy (PostfixFront *f,
              const char   *mid)
{
  FrontMidUse *use = g_hash_table_lookup (f->mids, mid);

  if (use != NULL && use->tracked == 0 && use->untracked == 0 && use->waiting == 0)
    g_hash_table_remove (f->mids, mid);
}

/* Every coroutine parked in mid_acquire for @use's Message-ID woken (@f's lock held: a
 * parked one takes it to leave the list, so each is alive). */
static void
mid_use_wake (FrontMidUse *use)
{
  for (GSList *l = use->parked; l != NULL; l = l->next)
    server_coro_wake (l->data);
}

/**
 * postfix_front_mids_wake_all:
 * @front: the front
 *
 * At the stop (sessions_stop, after the listener's cancellable was cancelled): every
 * message waiting in mid_acquire looks again, sees the cancellation and gives up its wait
 * (451), in a coroutine or a thread.
 */
void
postfix_front_mids_wake_all (PostfixFront *front)
{
  GHashTableIter iter;
  gpointer value;

  g_mutex_lock (&front->mids_lock);
  g_hash_table_iter_init (&iter, front->mids);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    mid_use_wake (value);
  g_cond_broadcast (&front->mids_changed);
  g_mutex_unlock (&front->mids_lock);
}

/* Before the first data of a message with Message-ID @mid goes upstream: the follower
 * binds a pending registration to the FIRST cleanup line with its Message-ID, so no
 * other message with @mid may reach Postfix while one is pending. Waits while this front
 * has another message with @mid in flight (mid_busy) or a pending registration of @mid is
 * on disk (until the follower claims it; written by this process or an earlier one: a
 * dead front's is an orphan after the replay, which the follower settles within
 * seconds, docs/postfix-orphans.md; no other message with @mid may reach Postfix before,
 * so the follower tells the dead front's cleanup lines from later ones), at
 * most pending_claim_wait seconds: woken when a message with @mid is released (a thread:
 * mids_changed; a coroutine: parked on the entry of @mid, mid_release wakes it, no pool
 * thread held) or at the stop, the disk looked at every FRONT_PENDING_RECHECK_MS. A tracked message that waited for untracked ones takes their
 * queue ids (s->mid_skip: its pending registration is never bound to them, whose cleanup
 * lines the follower may read after it appears). TRUE: @mid is this message's
 * (s->mid_held, given back by mid_release); FALSE: still taken after the wait. */
static gboolean
mid_acquire (Session    *s,
             const char *mid,
             gboolean    tracked)
{
  PostfixFront *f = s->front;
  gint64 end = g_get_monotonic_time () + (gint64) f->pending_claim_wait * G_USEC_PER_SEC;
  gboolean ok = FALSE;
  gboolean waiting = FALSE;

  g_mutex_lock (&f->mids_lock);
  for (;;)
    {
      gint64 now;

      if (!mid_busy (g_hash_table_lookup (f->mids, mid), tracked))
        {
          guint64 generation = f->mids_generation;
          gboolean on_disk;

          g_mutex_unlock (&f->mids_lock);
          on_disk = postfix_registration_pending_exists (f->registration_dir,
                                                         POSTFIX_PENDING_BY_MESSAGE_ID, mid);
          g_mutex_lock (&f->mids_lock);
          /* Nothing changed meanwhile: no message of this front wrote a pending
           * registration of @mid after that look. */
          if (!on_disk && generation == f->mids_generation)
            {
              FrontMidUse *use = mid_use_get (f, mid);

              if (tracked)
                {
                  use->tracked++;
                  if (use->passed->len > 0)
                    {
                      s->mid_skip = g_steal_pointer (&use->passed);
                      use->passed = g_ptr_array_new_with_free_func (g_free);
                    }
                }
              else
                use->untracked++;
              f->mids_generation++;
              s->mid_held = g_strdup (mid);
              s->mid_tracked = tracked;
              ok = TRUE;
              break;
            }
          if (!on_disk)
            continue;
        }
      /* Shutdown: no wait (the session ends with the 451) that would hold up the stop. */
      if (g_cancellable_is_cancelled (s->cancel))
        break;
      now = g_get_monotonic_time ();
      if (now >= end)
        break;
      if (!waiting)
        {
          g_info ("[%s] the message waits: another one with Message-ID <%s> is in flight "
                  "or pending",
                  s->peer_ip, mid);
          mid_use_get (f, mid)->waiting++;
          waiting = TRUE;
        }
      if (server_coro_in_loop ())
        {
          /* mids_lock is never held across a park (server-coro.h). On the entry's list
           * under the lock before it is dropped, so a release (or the stop) after the
           * look above wakes this coroutine, and a wake before the park is kept by it
           * (server_coro_park returns at once): none is lost. */
          ServerCoro *self = server_coro_self ();
          FrontMidUse *use = mid_use_get (f, mid);

          use->parked = g_slist_prepend (use->parked, self);
          g_mutex_unlock (&f->mids_lock);
          (void) server_coro_park (MIN (end, now + FRONT_PENDING_RECHECK_MS
                                                    * G_TIME_SPAN_MILLISECOND));
          g_mutex_lock (&f->mids_lock);
          use = mid_use_get (f, mid);
          use->parked = g_slist_remove (use->parked, self);
        }
      else
        g_cond_wait_until (&f->mids_changed, &f->mids_lock,
                           MIN (end, now + FRONT_PENDING_RECHECK_MS * G_TIME_SPAN_MILLISECOND));
    }
  if (waiting)
    {
      mid_use_get (f, mid)->waiting--;
      mid_use_tidy (f, mid);
    }
  g_mutex_unlock (&f->mids_lock);
  return ok;
}

/* This message's Message-ID back to the table (its pending registration, if any, is on
 * disk now for the follower, or dropped): waiting messages look again. */
static void
mid_release (Session *s)
{
  PostfixFront *f = s->front;
  FrontMidUse *use;

  if (s->mid_held == NULL)
    return;
  g_mutex_lock (&f->mids_lock);
  use = g_hash_table_lookup (f->mids, s->mid_held);
  if (use != NULL)
    {
      if (s->mid_tracked)
        use->tracked--;
      else
        use->untracked--;
      /* An untracked message Postfix took, while others wait for its Message-ID. */
      if (s->mid_queue_id != NULL && use->waiting > 0
          && use->passed->len < POSTFIX_REGISTRATION_MAX_SKIP)
        g_ptr_array_add (use->passed, g_steal_pointer (&s->mid_queue_id));
      mid_use_wake (use);
      mid_use_tidy (f, s->mid_held);
    }
  f->mids_generation++;
  g_cond_broadcast (&f->mids_changed);
  g_mutex_unlock (&f->mids_lock);
  g_clear_pointer (&s->mid_held, g_free);
  g_clear_pointer (&s->mid_queue_id, g_free);
  g_clear_pointer (&s->mid_skip, g_ptr_array_unref);
}

static void
up_pending_clear (gpointer data)
{
  UpPending *p = data;

  g_free (p->line);
}

static void
transaction_reset (Session *s)
{
  s->in_mail = FALSE;
  g_clear_pointer (&s->envid, g_free);
  g_clear_pointer (&s->authenticator, g_free);
  s->mtrk_timeout = 0;
  g_ptr_array_set_size (s->rcpts, 0);
  s->rcpts_size = 0;
  s->rcpts_size_sent = 0;
  g_clear_pointer (&s->ident, g_free);
  mid_release (s);
}

/* The cancellable for a read or a write of the client or the upstream. In a coroutine
 * none: the stop wakes a parked read by shutting its socket down (sessions_stop), as it
 * ends a thread's recv(2), and a parked write ends when the listener shuts the client's
 * both sides down after its grace, or sessions_stop the upstream's; a cancellable per
 * park would cost a handler connected and disconnected per wait, and a
 * g_cancellable_disconnect while the stop's handler runs waits for it (up to
 * FRONT_STOP_REPLY_WAIT_MS), blocking the loop and the "." replies of its other sessions
 * that the handler waits for. In a thread (TLS through GIO) the session's. */
static GCancellable *
wait_cancel (Session *s)
{
  if (server_coro_in_loop ())
    return NULL;
  return s->tls_cancel != NULL ? s->tls_cancel : s->cancel;
}

/* Write the replies held for the client (RFC 2920: held while the client's next
 * commands are already here, written before the front waits for more). A write through
 * GIO (TLS) is not given the session's cancellable: at shutdown it must still say "421
 * Shutting down"; the socket's timeout and the listener's shutdown of both sides after
 * its grace (SERVER_LISTENER_STOP_GRACE_MS) end a write that cannot go on. */
static gboolean
client_flush (Session *s,
              GError **error)
{
  g_autoptr (GError) local = NULL;

  if (s->client_out->len == 0)
    return TRUE;
  if (s->tls == NULL
        ? !server_socket_send_all (s->fd, s->client_out->str, s->client_out->len,
                                   s->front->idle_timeout, wait_cancel (s), &local)
        : (!g_output_stream_write_all (s->out, s->client_out->str, s->client_out->len, NULL,
                                       NULL, &local)
           || !g_output_stream_flush (s->out, NULL, &local)))
    {
      g_debug ("[%s] write to the client failed: %s", s->peer_ip, local->message);
      g_string_truncate (s->client_out, 0);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_string_truncate (s->client_out, 0);
  return TRUE;
}

/* A reply for the client, held until client_flush (the line reader's fill hook, or
 * the end of the session). */
static gboolean
client_write (Session    *s,
              const char *text,
              gsize       len)
{
  g_string_append_len (s->client_out, text, (gssize) len);
  return TRUE;
}

static gboolean group_flush (Session *s);
static gboolean up_send     (Session      *s,
                             UpPendingKind kind,
                             const char   *line);

static gboolean
client_reply (Session    *s,
              const char *format,
              ...) G_GNUC_PRINTF (2, 3);

/* One reply line of our own (CRLF added). */
static gboolean
client_reply (Session    *s,
              const char *format,
              ...)
{
  va_list args;

  /* A reply of our own comes after the replies to the commands before it. */
  if (!s->flushing && s->up_pending->len > 0 && !group_flush (s))
    return FALSE;
  /* Formatted straight into the held replies (client_write's buffer). */
  va_start (args, format);
  g_string_append_vprintf (s->client_out, format, args);
  va_end (args);
  g_string_append_len (s->client_out, "\r\n", 2);
  return TRUE;
}

/* The upstream is gone: the client hears it once, the session ends. */
static void
up_lost (Session *s)
{
  if (s->greeted && !s->said_421)
    client_reply (s, "421 4.4.2 %s Lost the mail system, closing connection",
                  s->front->hostname);
  s->said_421 = TRUE;
}

static gboolean
up_write (Session    *s,
          const char *text,
          gsize       len)
{
  g_autoptr (GError) error = NULL;

  if (!server_socket_send_all (s->up_fd, text, len, s->front->idle_timeout, wait_cancel (s),
                               &error))
    {
      g_message ("[%s] write to %s failed: %s", s->peer_ip, s->front->upstream_name,
                 error->message);
      up_lost (s);
      return FALSE;
    }
  return TRUE;
}

/* Read one whole upstream reply (all its lines, CRLF kept) into @reply. */
static gboolean
up_read_reply_full (Session      *s,
                    GString      *reply,
                    int          *code,
                    GCancellable *cancellable)
{
  g_autoptr (GError) error = NULL;

  if (!postfix_front_read_reply (s->up_reader, reply, code, cancellable, &error))
    {
      g_message ("[%s] bad or no reply from %s: %s", s->peer_ip, s->front->upstream_name,
                 error->message);
      up_lost (s);
      return FALSE;
    }
  return TRUE;
}

/* The upstream's next reply; a stop of the front ends the wait (the cancellable). */
static gboolean
up_read_reply (Session *s,
               GString *reply,
               int     *code)
{
  return up_read_reply_full (s, reply, code, wait_cancel (s));
}

/* Send @line (no CRLF) upstream and read the reply. */
static gboolean
up_command (Session    *s,
            const char *line,
            GString    *reply,
            int        *code)
{
  gboolean ok;

  g_string_assign (s->up_line, line);
  g_string_append_len (s->up_line, "\r\n", 2);
  ok = up_write (s, s->up_line->str, s->up_line->len) && up_read_reply (s, reply, code);
  msgtrk_secure_wipe (s->up_line->str, s->up_line->len);
  g_string_truncate (s->up_line, 0);
  return ok;
}

/* @fd (taken) becomes the session's upstream connection, shut down by
 * the stop (sessions_stop). */
static void
up_attach (Session *s,
           int      fd)
{
  gboolean stopping;

  g_mutex_lock (&s->front->sessions_lock);
  s->up_fd = fd;
  stopping = s->front->stopping;
  g_mutex_unlock (&s->front->sessions_lock);
  /* Stopped before the handler could shut it down. */
  if (stopping || g_cancellable_is_cancelled (s->cancel))
    (void) shutdown (fd, SHUT_RDWR);
}

/* The upstream link closed (under front->sessions_lock: the stop's handler may be shutting
 * the same socket down; the lock is held for no wait); a write to it then fails (the
 * upstream lost). */
static void
up_close (Session *s)
{
  g_mutex_lock (&s->front->sessions_lock);
  postfix_front_fd_close (s->up_fd);
  s->up_fd = -1;
  g_mutex_unlock (&s->front->sessions_lock);
}

/* Connect to the upstream and read its greeting, left in @greeting for the client: a
 * warm connection from the pool when there is one (postfix-front-pool.h). */
static gboolean
up_connect (Session *s,
            GString *greeting)
{
  g_autoptr (GError) error = NULL;
  int fd = -1;
  int code = 0;

  if (s->front->pool != NULL
      && postfix_front_pool_take (s->front->pool, &fd, &s->up_reader, greeting, s->cancel))
    {
      up_attach (s, fd);
      return TRUE;
    }
  fd = postfix_front_upstream_connect (s->front->upstream, s->front->idle_timeout, s->cancel,
                                       &error);
  if (fd < 0)
    {
      g_warning ("[%s] cannot connect to the upstream %s: %s", s->peer_ip,
                 s->front->upstream_name, error->message);
      return FALSE;
    }
  s->up_reader = g_new (ServerLineReader, 1); /* not zeroed: see Session's reader */
  server_line_reader_init_fd (s->up_reader, fd, s->front->idle_timeout, TRUE);
  up_attach (s, fd);
  if (!up_read_reply (s, greeting, &code) || code != 220)
    {
      g_warning ("[%s] the upstream %s did not greet with 220", s->peer_ip,
                 s->front->upstream_name);
      return FALSE;
    }
  return TRUE;
}

/* The client's names for XCLIENT (postfix-front-peer.h), once per session and before
 * any upstream link is taken, as Postfix's smtpd looks them up before its 220: a slow
 * name service then holds only the client (bounded by the system resolver, never
 * interrupted: a stop waits for it), not an upstream session Postfix would time out. */
static void
peer_names_lookup (gpointer data)
{
  Session *s = data;

  postfix_front_peer_lookup (&s->peer, NULL);
}

/* A coroutine waiting for another session's lookup of its address: woken under the peer
 * cache's lock (PostfixFrontPeerWaiter). */
static void
peer_names_wake (gpointer data)
{
  server_coro_wake (data);
}

static void
peer_names (Session *s)
{
  PostfixFrontPeerCache *cache = s->front->peer_cache;
  PostfixFrontPeerWaiter waiter = { &s->peer, NULL, NULL, FALSE };
  PostfixFrontPeerCacheClaim claim;

  if (!s->front->xclient || s->peer_named)
    return;
  /* getnameinfo(3) and getaddrinfo(3) block (the resolver): in a coroutine, in a pool
   * thread while the loop runs the other sessions; none for an address whose names were
   * found within peername_cache_ttl, and one at a time per address (the peer cache): a
   * session from an address whose lookup is under way waits for it (parked in a
   * coroutine) and takes its names. */
  if (!s->front->peername_lookup)
    {
      postfix_front_peer_no_lookup (&s->peer);
      s->peer_named = TRUE;
      return;
    }
  if (server_coro_in_loop ())
    {
      waiter.wake = peer_names_wake;
      waiter.wake_data = server_coro_self ();
    }
  claim = postfix_front_peer_cache_claim (cache, &s->peer, g_get_monotonic_time (), &waiter);
  if (claim == POSTFIX_FRONT_PEER_CACHE_WAIT)
    {
      if (server_coro_in_loop ())
        while (!postfix_front_peer_cache_waited (cache, &waiter))
          (void) server_coro_park (0);
      else
        postfix_front_peer_cache_wait (cache, &waiter);
    }
  if (claim == POSTFIX_FRONT_PEER_CACHE_LEAD || s->peer.name == NULL)
    {
      if (server_coro_in_loop ())
        server_coro_run_in_thread (peer_names_lookup, s);
      else
        postfix_front_peer_lookup (&s->peer, NULL);
      if (claim == POSTFIX_FRONT_PEER_CACHE_LEAD)
        postfix_front_peer_cache_put (cache, &s->peer, g_get_monotonic_time ());
    }
  s->peer_named = TRUE;
  /* As smtpd_peer.c warns: a reverse name that does not resolve back. */
  if (s->peer.name_status != POSTFIX_FRONT_PEER_OK
      && s->peer.reverse_name_status == POSTFIX_FRONT_PEER_OK)
    g_message ("[%s] hostname %s does not resolve to address %s%s", s->peer_ip,
               s->peer.reverse_name, s->peer_ip,
               s->peer.name_status == POSTFIX_FRONT_PEER_TEMP ? " (a temporary failure)" : "");
}

/* XCLIENT with the client's identity as Postfix's smtpd would have found it itself
 * (peer_names: its name looked up and forward-confirmed; NAME, REVERSE_NAME, with
 * [UNAVAILABLE] / [TEMPUNAVAIL] as smtpd's statuses map), its address (IPv4-mapped as
 * IPv4) and port. Sent right after the upstream's greeting went to the client: the
 * upstream round trip runs while the client's EHLO is on its way. No EHLO first: XCLIENT
 * "may be sent at any time, except in the middle of a mail delivery transaction"
 * (Postfix's XCLIENT_README). An upstream that refuses it (5xx: not offered, or not to
 * this host): logged, and the client hears 421 4.3.5 (fail closed: Postfix would take
 * the front's loopback address for the client's, permit_mynetworks included); any other
 * reply (421: Postfix going away, a timeout) is the upstream lost. After XCLIENT the
 * upstream restarts its session and greets again (220): that greeting is not passed on. */
static gboolean
up_xclient (Session *s)
{
  g_autoptr (GString) reply = g_string_new (NULL);
  g_autofree char *xclient = NULL;
  int code = 0;

  if (!s->front->xclient)
    return TRUE;
  peer_names (s);
  xclient = postfix_front_peer_xclient (&s->peer);
  if (!up_command (s, xclient, reply, &code))
    return FALSE;
  if (code != 220 && code / 100 != 5)
    {
      g_warning ("[%s] the upstream answered XCLIENT with %d: the upstream is lost", s->peer_ip,
                 code);
      up_lost (s);
      return FALSE;
    }
  if (code != 220)
    {
      /* Fail closed: going on would give Postfix the front's own address for this
       * client (127.0.0.1: permit_mynetworks, the default relay restriction, would let
       * anyone relay, and every IP restriction and log would name the front). */
      g_warning ("[%s] the upstream refused XCLIENT (%d): session refused; allow this "
                 "host in smtpd_authorized_xclient_hosts, or set xclient=false",
                 s->peer_ip, code);
      if (!s->said_421)
        client_reply (s, "421 4.3.5 %s Mail system configuration error, closing connection",
                      s->front->hostname);
      s->said_421 = TRUE;
      return FALSE;
    }
  FRONT_SESSION_INFO ("[%s] XCLIENT accepted by %s: %s[%s]:%u", s->peer_ip,
                      s->front->upstream_name, s->peer.name, s->peer_ip, s->peer.port);
  return TRUE;
}

/* After STARTTLS (RFC 3207 4.2): the upstream session that heard the client before TLS
 * is ended (QUIT, closed without waiting for its 221, as cmd_quit) and replaced by a
 * fresh one, taken and set up as at the session's start (up_connect: warm from the pool
 * when one is ready; up_xclient), its greeting not passed on (the client's next command
 * is EHLO). Postfix so keeps nothing of before TLS: no AUTH, no transaction, no EHLO. The
 * pool is refilled for the link taken. FALSE: the upstream could not be reached, the
 * client heard 421, the session ends. */
static gboolean
up_renew (Session *s)
{
  g_autoptr (GString) greeting = g_string_new (NULL);

  (void) send (s->up_fd, "QUIT\r\n", 6, MSG_DONTWAIT | MSG_NOSIGNAL);
  up_close (s);
  g_clear_pointer (&s->up_reader, g_free);
  if (!up_connect (s, greeting))
    {
      up_lost (s);
      return FALSE;
    }
  if (s->front->pool != NULL && !g_cancellable_is_cancelled (s->cancel))
    postfix_front_pool_refill (s->front->pool);
  FRONT_SESSION_INFO ("[%s] STARTTLS: a new upstream session", s->peer_ip);
  return up_xclient (s);
}

static gboolean
keyword_hidden (const char *kw)
{
  static const char *const hidden[] = { "STARTTLS", "CHUNKING", "BINARYMIME", "XCLIENT",
                                        "XFORWARD", "MTRK" };

  for (guint i = 0; i < G_N_ELEMENTS (hidden); i++)
    if (g_ascii_strcasecmp (kw, hidden[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Whether AUTH must wait for STARTTLS in this session (tls_auth_only, or
 * tls_security_level=encrypt, which refuses it with 530 anyway). */
static gboolean
auth_needs_tls (Session *s)
{
  return s->front->tls != NULL && s->tls == NULL
         && (s->front->tls_auth_only || s->front->tls_encrypt);
}

/* The refusal of @verb (upper case) before STARTTLS, or NULL. tls_security_level=encrypt:
 * only the commands Postfix takes before TLS with the same setting (smtpd.c,
 * SMTPD_CMD_FLAG_PRE_TLS; XCLIENT and XFORWARD are refused anyway) and RFC 3207's reply
 * (its section 4: "530 Must issue a STARTTLS command first"). tls_auth_only: AUTH gets
 * RFC 4954's "538 5.7.11 Encryption required for requested authentication mechanism"
 * (section 6; the enhanced code registered by RFC 5248), and is not passed on: its
 * initial response, a secret, never reaches Postfix over a session without TLS. */
static const char *
tls_gate (Session    *s,
          const char *verb)
{
  static const char *const pre_tls[] = { "EHLO", "HELO", "STARTTLS", "NOOP", "RSET", "QUIT" };

  if (s->front->tls == NULL || s->tls != NULL)
    return NULL;
  if (s->front->tls_encrypt)
    {
      for (guint i = 0; i < G_N_ELEMENTS (pre_tls); i++)
        if (g_str_equal (verb, pre_tls[i]))
          return NULL;
      return "530 5.7.0 Must issue a STARTTLS command first";
    }
  if (s->front->tls_auth_only && g_str_equal (verb, "AUTH"))
    return "538 5.7.11 Encryption required for requested authentication mechanism";
  return NULL;
}

/* The EHLO reply the client sees (see the top of this file). */
static char *
ehlo_rewrite (Session    *s,
              const char *reply)
{
  g_auto (GStrv) lines = g_strsplit (reply, "\r\n", -1);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  GString *text = g_string_new (NULL);

  s->up_dsn = FALSE;
  s->up_pipelining = FALSE;
  s->up_xforward_ident = FALSE;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *body = lines[i];
      g_autofree char *kw = NULL;

      if (strlen (body) < 4)
        continue;
      body += 4;
      if (i == 0)
        {
          g_ptr_array_add (out, g_strdup (body));
          continue;
        }
      kw = g_strndup (body, strcspn (body, " ="));
      /* Postfix: "XFORWARD NAME ADDR PROTO HELO DOMAIN PORT IDENT" when this host is in
       * its smtpd_authorized_xforward_hosts. */
      if (g_ascii_strcasecmp (kw, "XFORWARD") == 0)
        {
          g_auto (GStrv) attrs = g_strsplit (body, " ", -1);

          for (guint j = 1; attrs[j] != NULL; j++)
            if (g_ascii_strcasecmp (attrs[j], "IDENT") == 0)
              s->up_xforward_ident = TRUE;
        }
      if (keyword_hidden (kw))
        continue;
      /* AUTH (and the old "AUTH=") only where it would be taken (tls_gate). */
      if (g_ascii_strcasecmp (kw, "AUTH") == 0 && auth_needs_tls (s))
        continue;
      if (g_ascii_strcasecmp (kw, "DSN") == 0)
        s->up_dsn = TRUE;
      if (g_ascii_strcasecmp (kw, "PIPELINING") == 0)
        s->up_pipelining = TRUE;
      g_ptr_array_add (out, g_strdup (body));
    }
  if (s->front->tls != NULL && s->tls == NULL)
    g_ptr_array_add (out, g_strdup ("STARTTLS"));
  /* MTRK needs ENVID, which belongs to DSN (RFC 3885, RFC 3461): without DSN upstream
   * Postfix would refuse every tracked MAIL. */
  if (s->up_dsn)
    g_ptr_array_add (out, g_strdup ("MTRK"));
  else
    {
      static gsize warned;

      if (g_once_init_enter (&warned))
        {
          g_warning ("The upstream does not offer DSN (is \"dsn\" in Postfix's "
                     "smtpd_discard_ehlo_keywords?): MTRK is not offered, clients cannot "
                     "ask for tracking");
          g_once_init_leave (&warned, 1);
        }
    }
  for (guint i = 0; i < out->len; i++)
    g_string_append_printf (text, "250%c%s\r\n", i + 1 < out->len ? '-' : ' ',
                            (char *) g_ptr_array_index (out, i));
  return g_string_free (text, FALSE);
}

/* White space as Postfix's smtpd_token.c reads it (ISSPACE: SP, HTAB, LF, VT, FF, CR). */
static gboolean
command_space (char c)
{
  return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * command_split:
 * @line: a client command line, its line end stripped
 * @args: (out) (optional): where the arguments start (past the white space after the verb)
 *
 * The one verb split of every command, as Postfix's smtpd reads a command (smtpd_token.c:
 * leading white space skipped, a token ends at any ISSPACE octet: SP, HTAB, LF, VT, FF,
 * CR in the C locale: command_space; not g_ascii_isspace, which leaves VT out). A verb
 * Postfix can take for XCLIENT, XFORWARD or BDAT (no quote, bracket or backslash in it:
 * those stay in Postfix's token) is the same run of octets here, so it is refused here
 * and never passed on.
 *
 * Returns: (transfer full): the verb, upper-cased ("" for a blank line)
 */
static char *
command_split (const char  *line,
               const char **args)
{
  const char *p = line;
  gsize n = 0;

  while (command_space (*p))
    p++;
  while (p[n] != '\0' && !command_space (p[n]))
    n++;
  if (args != NULL)
    {
      const char *a = p + n;

      while (command_space (*a))
        a++;
      *args = a;
    }
  return g_ascii_strup (p, (gssize) n);
}

/* Whether the MAIL parameters @params name MTRK, split as Postfix splits them (any
 * command_space): the lib's parser refuses parameters it cannot read (a TAB between
 * them, a control octet), and such a line must not take MTRK= to Postfix either. */
static gboolean
params_name_mtrk (const char *params)
{
  const char *p = params;

  for (;;)
    {
      while (command_space (*p))
        p++;
      if (*p == '\0')
        return FALSE;
      if (g_ascii_strncasecmp (p, "MTRK", 4) == 0
          && (p[4] == '=' || p[4] == '\0' || command_space (p[4])))
        return TRUE;
      while (*p != '\0' && !command_space (*p))
        p++;
    }
}

/* Whether @line is an AUTH command (command_split's verb). */
static gboolean
command_is_auth (const char *line)
{
  g_autofree char *verb = command_split (line, NULL);

  return g_str_equal (verb, "AUTH");
}

/* Octets that end a bare mailbox's certainty: where Postfix's address parser (RFC 822,
 * tok822) may read something else than the octets as written: brackets, quotes, a
 * quoted pair, a comment, a list, a group, a source route, an address literal. */
#define ENVELOPE_BARE_UNSURE "<>()[]\",;:\\"

/*
 * envelope_path_read:
 * @args: a MAIL or RCPT command's arguments (command_split's @args)
 * @keyword: "FROM:" or "TO:"
 * @params: (out): where the parameters start (the white space before them included)
 *
 * The one reading of the path of MAIL FROM and RCPT TO, as Postfix's smtpd reads it with
 * its defaults (strict_rfc821_envelopes=no): the keyword in any case, white space after it
 * skipped, the path one token up to the next white space (command_space; a bracketed or
 * quoted span inside it is part of it). Two forms are read, those whose mailbox Postfix
 * reads with certainty as the octets written: the whole token a bracketed path "<...>"
 * (libmsgtrk's one path parser, MSGTRK_SMTP_PATH_FRAMING: brackets, quoted strings, the
 * source route; the mailbox itself is Postfix's to judge), or a bare mailbox ("b@x": no
 * octet of ENVELOPE_BARE_UNSURE, no control octet). Postfix takes more (text around the
 * brackets, comments, a bare quoted local part or source route: its RFC 822 parser finds
 * the address in them); those are NULL here, and so is a path that is missing.
 *
 * Returns: (transfer full) (nullable): the mailbox as written ("" for "<>")
 */
static char *
envelope_path_read (const char  *args,
                    const char  *keyword,
                    const char **params)
{
  gsize klen = strlen (keyword);
  const char *p = args + klen;
  const char *end;
  g_autofree char *mailbox = NULL;

  if (g_ascii_strncasecmp (args, keyword, klen) != 0)
    return NULL;
  while (command_space (*p))
    p++;
  if (*p == '<')
    {
      gsize used = 0;

      mailbox = msgtrk_smtp_path_parse (p, strlen (p),
                                        MSGTRK_SMTP_PATH_NULL | MSGTRK_SMTP_PATH_FRAMING,
                                        MSGTRK_SMTP_RCPT_LINE_MAX, &used, NULL);
      if (mailbox == NULL)
        return NULL;
      end = p + used;
    }
  else
    {
      for (end = p; *end != '\0' && !command_space (*end); end++)
        if ((guchar) *end < ' ' || *end == 0x7f || strchr (ENVELOPE_BARE_UNSURE, *end) != NULL)
          return NULL;
      if (end == p)
        return NULL;
      mailbox = g_strndup (p, (gsize) (end - p));
    }
  /* Text after the path in the same token: Postfix's parser reads the token whole. */
  if (*end != '\0' && !command_space (*end))
    return NULL;
  *params = end;
  return g_steal_pointer (&mailbox);
}

static void mail_done (Session       *s,
                       const GString *reply,
                       int            code);

/* MAIL: take MTRK= off (remembered), pass the rest on. */
static gboolean
cmd_mail (Session    *s,
          const char *line,
          GString    *reply)
{
  /* The argument starts past the verb and the white space after it (command_split). */
  const char *arg = NULL;
  g_autofree char *verb = command_split (line, &arg);
  const char *params = NULL;
  g_autofree char *sender = NULL;
  g_autoptr (GHashTable) table = NULL;
  g_autoptr (GString) rebuilt = NULL;
  g_auto (GStrv) tokens = NULL;
  const char *mtrk = NULL;
  gboolean has_mtrk;
  int code = 0;

  if (!s->helo_seen)
    return client_reply (s, "503 5.5.1 Send HELO or EHLO first");
  /* Postfix refuses a MAIL inside a transaction and that transaction goes on: so does
   * this session's (its tracking state kept, no XFORWARD that Postfix would refuse). */
  if (s->in_mail)
    return client_reply (s, "503 5.5.1 Error: nested MAIL command");
  if ((sender = envelope_path_read (arg, "FROM:", &params)) == NULL)
    {
      /* A path the front cannot read with MTRK= after it: never passed to Postfix. */
      if (params_name_mtrk (arg))
        {
          transaction_reset (s);
          s->errors++;
          return client_reply (s, "501 5.1.7 Bad sender address syntax (with MTRK, write "
                                  "the address as <local@domain>)");
        }
      /* Not ours to judge: the upstream answers, and its 250 opens the transaction here
       * too (a MAIL pipelined after it is a nested one, as for Postfix). */
      transaction_reset (s);
      if (!up_command (s, line, reply, &code))
        return FALSE;
      mail_done (s, reply, code);
      return TRUE;
    }
  table = msgtrk_smtp_params_parse (params, NULL);
  if (table == NULL && params_name_mtrk (params))
    {
      /* Never a tracked message sent on untracked, nor MTRK= passed to Postfix. */
      transaction_reset (s);
      s->errors++;
      return client_reply (s, "501 5.5.4 Bad MAIL parameters (MTRK with a parameter the "
                              "server cannot read)");
    }
  has_mtrk = table != NULL && g_hash_table_lookup_extended (table, "MTRK", NULL,
                                                            (gpointer *) &mtrk);
  transaction_reset (s);
  if (has_mtrk)
    {
      const char *envid_x = NULL;
      g_autoptr (GError) envid_error = NULL;

      if (!s->esmtp || !s->up_dsn)
        return client_reply (s, "555 5.5.4 Unsupported parameter MTRK");
      if (mtrk == NULL
          || !msgtrk_mtrk_param_parse (mtrk, &s->authenticator, &s->mtrk_timeout, NULL))
        {
          s->errors++;
          return client_reply (s, "501 5.5.4 Bad MTRK parameter: need a base64 SHA-1 "
                                  "authenticator and an optional timeout");
        }
      if (!g_hash_table_lookup_extended (table, "ENVID", NULL, (gpointer *) &envid_x))
        {
          transaction_reset (s);
          s->errors++;
          return client_reply (s, "501 5.5.4 MTRK requires ENVID");
        }
      if (envid_x == NULL || !msgtrk_envid_param_parse (envid_x, &s->envid, &envid_error))
        {
          /* Present but unreadable: the reason, in the client's terms (the lib's message
           * may be translated: not for an SMTP reply). */
          gboolean too_long = g_error_matches (envid_error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);

          transaction_reset (s);
          s->errors++;
          if (too_long)
            return client_reply (s, "501 5.5.4 Bad ENVID parameter: longer than %d characters",
                                 MSGTRK_ENVID_MAX_LENGTH);
          return client_reply (s, "501 5.5.4 Bad ENVID parameter syntax (xtext of printable "
                                  "US-ASCII)");
        }
      if (s->mtrk_timeout == 0 || s->mtrk_timeout > s->front->mtrk_max_timeout)
        s->mtrk_timeout = s->front->mtrk_max_timeout;
    }
  /* The line again, verbatim, without the MTRK token. */
  rebuilt = g_string_new (NULL);
  g_string_append_len (rebuilt, line, params - line);
  tokens = g_strsplit (params, " ", -1);
  for (guint i = 0; tokens[i] != NULL; i++)
    {
      if (tokens[i][0] == '\0')
        continue;
      if (g_ascii_strncasecmp (tokens[i], "MTRK", 4) == 0
          && (tokens[i][4] == '=' || tokens[i][4] == '\0'))
        continue;
      g_string_append_printf (rebuilt, " %s", tokens[i]);
    }
  /* A tracked message: its own transaction ident, which Postfix logs with its queue id
   * (orig_queue_id=), names its pending registration; sent in the same write as the MAIL
   * (pipelined) when the upstream pipelines, and reset by Postfix after the transaction. */
  if (s->authenticator != NULL && s->up_xforward_ident)
    {
      g_autofree char *xforward = NULL;

      s->ident = postfix_registration_ident_new ();
      s->ident_sent = g_get_monotonic_time ();
      xforward = g_strconcat ("XFORWARD IDENT=", s->ident, NULL);
      if (!up_send (s, UP_PENDING_XFORWARD, xforward))
        return FALSE;
    }
  return up_send (s, UP_PENDING_MAIL, rebuilt->str);
}

/* The upstream's reply to the XFORWARD IDENT sent by cmd_mail before the MAIL: not the
 * client's to see; refused, the message falls back to its Message-ID. */
static void
xforward_done (Session *s, const GString *reply, int code)
{
  if (code / 100 == 2)
    return;
  g_warning ("[%s] the upstream refused XFORWARD IDENT (%d): the message is bound by its "
             "Message-ID (allow this host in smtpd_authorized_xforward_hosts)",
             s->peer_ip, code);
  g_clear_pointer (&s->ident, g_free);
}

/* The upstream's reply to a MAIL sent by cmd_mail. */
static void
mail_done (Session       *s,
           const GString *reply,
           int            code)
{
  if (code / 100 == 2)
    {
      s->in_mail = TRUE;
      if (s->authenticator != NULL)
        g_info ("[%s] tracked message, ENVID %s", s->peer_ip, s->envid);
    }
  else
    transaction_reset (s);
  client_write (s, reply->str, reply->len);
}

/* The recipient of RCPT @line as a tracked message registers it (envelope_path_read) and
 * its ORCPT ("type;address", NULL when none or unreadable: Postfix judges it); NULL when
 * the front cannot read the address, or it is empty. */
static char *
rcpt_read (const char  *line,
           char       **orcpt)
{
  const char *arg = NULL;
  const char *params = NULL;
  g_autofree char *verb = command_split (line, &arg);
  g_autofree char *rcpt = envelope_path_read (arg, "TO:", &params);
  g_autoptr (GHashTable) table = NULL;
  const char *orcpt_x = NULL;
  g_autofree char *type = NULL;
  g_autofree char *addr = NULL;

  *orcpt = NULL;
  if (rcpt == NULL || *rcpt == '\0')
    return NULL;
  table = msgtrk_smtp_params_parse (params, NULL);
  if (table != NULL
      && g_hash_table_lookup_extended (table, "ORCPT", NULL, (gpointer *) &orcpt_x)
      && orcpt_x != NULL && msgtrk_orcpt_param_parse (orcpt_x, &type, &addr, NULL))
    *orcpt = g_strdup_printf ("%s;%s", type, addr);
  return g_steal_pointer (&rcpt);
}

static gboolean
cmd_rcpt (Session    *s,
          const char *line)
{
  g_autofree char *rcpt = NULL;
  g_autofree char *orcpt = NULL;
  gsize size;

  if (s->authenticator == NULL)
    return up_send (s, UP_PENDING_RCPT, line);
  /* A tracked message's recipient is read before Postfix sees it (envelope_path_read):
   * one the front cannot read would be accepted by Postfix and missing from the
   * registration. */
  if ((rcpt = rcpt_read (line, &orcpt)) == NULL)
    {
      s->errors++;
      return client_reply (s, "501 5.1.3 Bad recipient address syntax (for a tracked "
                              "message, write the address as <local@domain>)");
    }
  /* Past a limit only if the RCPTs still in flight were all accepted: their replies
   * first (the count and the size are exact, as in lockstep). */
  size = postfix_registration_rcpt_size (rcpt, NULL, orcpt);
  if (s->up_pending->len == 0)
    s->rcpts_size_sent = 0;
  if ((s->rcpts->len / 2 + s->up_pending->len >= POSTFIX_REGISTRATION_MAX_RCPTS
       || s->rcpts_size + s->rcpts_size_sent + size > POSTFIX_REGISTRATION_RCPT_BUDGET)
      && !group_flush (s))
    return FALSE;
  if (s->authenticator == NULL)
    return up_send (s, UP_PENDING_RCPT, line);
  /* Its registration within POSTFIX_REGISTRATION_MAX_SIZE: the client sends the rest in
   * another transaction (RFC 5321 4.5.3.1.10), before Postfix has anything to queue. */
  if (s->rcpts->len / 2 >= POSTFIX_REGISTRATION_MAX_RCPTS
      || s->rcpts_size + size > POSTFIX_REGISTRATION_RCPT_BUDGET)
    return client_reply (s, "452 4.5.3 Too many recipients for a tracked message; send "
                            "the others in another message");
  s->rcpts_size_sent += size;
  return up_send (s, UP_PENDING_RCPT, line);
}

/* The upstream's reply to RCPT @line: an accepted recipient of a tracked message is
 * remembered (rcpt_read, as cmd_rcpt read it) with its size in the registration. */
static void
rcpt_done (Session       *s,
           const char    *line,
           const GString *reply,
           int            code)
{
  g_autofree char *rcpt = NULL;
  char *orcpt = NULL;

  if (s->authenticator != NULL)
    {
      gsize size;

      rcpt = rcpt_read (line, &orcpt);
      if (rcpt == NULL)
        {
          /* cmd_rcpt read it before it went upstream: not reached. */
          if (code / 100 == 2)
            g_warning ("[%s] a recipient of ENVID %s accepted upstream cannot be read",
                       s->peer_ip, s->envid);
        }
      else
        {
          size = postfix_registration_rcpt_size (rcpt, NULL, orcpt);
          s->rcpts_size_sent -= MIN (size, s->rcpts_size_sent);
          if (code / 100 == 2)
            {
              s->rcpts_size += size;
              g_ptr_array_add (s->rcpts, g_steal_pointer (&rcpt));
              g_ptr_array_add (s->rcpts, g_steal_pointer (&orcpt));
            }
          g_free (orcpt);
        }
    }
  client_write (s, reply->str, reply->len);
}

/* Send the group: every command batched by up_send in one write, then their replies
 * read in order and handled (each reply is still the upstream's, relayed in order to the
 * client). FALSE when the upstream is lost (the client hears 421). */
static gboolean
group_flush (Session *s)
{
  GString *reply = s->group_reply;
  gboolean ok;

  /* Before every read of the client (the fill hook): usually nothing to send. */
  if (s->up_pending->len == 0)
    return TRUE;
  s->flushing = TRUE;
  ok = up_write (s, s->up_batch->str, s->up_batch->len);
  g_string_truncate (s->up_batch, 0);
  for (guint i = 0; ok && i < s->up_pending->len; i++)
    {
      const UpPending *p = &g_array_index (s->up_pending, UpPending, i);
      int code = 0;

      if (!up_read_reply (s, reply, &code))
        {
          ok = FALSE;
          break;
        }
      switch (p->kind)
        {
        case UP_PENDING_MAIL:
          mail_done (s, reply, code);
          break;
        case UP_PENDING_RCPT:
          rcpt_done (s, p->line, reply, code);
          break;
        case UP_PENDING_DATA:
          g_string_assign (s->data_reply, reply->str);
          s->data_code = code;
          break;
        case UP_PENDING_XFORWARD:
          xforward_done (s, reply, code);
          break;
        }
    }
  g_array_set_size (s->up_pending, 0);
  s->flushing = FALSE;
  return ok;
}

/* @line (no CRLF) to the upstream as part of the client's pipelined group: batched, its
 * reply read by group_flush. Sent at once (lockstep) when the upstream does not offer
 * PIPELINING; a group ends at DATA, at FRONT_PIPELINE_MAX commands, at any other command
 * (dispatch) and when the client has sent nothing more yet (the line reader's fill hook). */
static gboolean
up_send (Session      *s,
         UpPendingKind kind,
         const char   *line)
{
  UpPending p = { kind, g_strdup (line) };

  g_string_append (s->up_batch, line);
  g_string_append (s->up_batch, "\r\n");
  g_array_append_val (s->up_pending, p);
  if (!s->up_pipelining || kind == UP_PENDING_DATA || s->up_pending->len >= FRONT_PIPELINE_MAX)
    return group_flush (s);
  return TRUE;
}

/* Whether a read of the client would wait now: nothing in the reader's buffer and
 * nothing readable on its socket. Under TLS the TLS layer may still hold decrypted
 * octets (its stream is not pollable): then the held data goes a little early, which
 * costs one write more, never a wait. In a coroutine the reader knows it without a
 * system call when its last read was short (ServerLineReader.drained; octets that came
 * since make the held data go early too, as under TLS). */
static gboolean
client_drained (Session *s)
{
  struct pollfd p = { .fd = s->fd, .events = POLLIN };

  if (server_line_reader_available (&s->reader) > 0)
    return FALSE;
  if (s->reader.fd >= 0 && s->reader.drained)
    return TRUE;
  return poll (&p, 1, 0) == 0;
}

/* Session.wait_since once stress_sweep has cut the wait. */
#define STRESS_CUT (-1)

/* The client owes a command (or a TLS handshake) from @now (monotonic µs), or, @now 0,
 * owes nothing while the session's data moves: stress_sweep cuts a wait older than
 * stress_timeout. No lock, no system call: an atomic the sweep reads under
 * sessions_lock. Only after client_wait_done() (a cut is never overwritten). */
static void
client_wait_mark (Session *s,
                  gint64   now)
{
  g_atomic_int_set (&s->wait_since, now == 0 ? 0 : (gint) (now / G_USEC_PER_SEC) + 1);
}

/* The client's wait is over (its read returned, whatever it brought): whether
 * stress_sweep cut it, now or before (then the session ends, client_stress_ended: the
 * sweep may have shut the socket's reading side down, so a line read just in time is
 * not acted on). The exchange makes the sweep's cut and the session's end of the wait
 * one or the other, never both unseen. */
static gboolean
client_wait_done (Session *s)
{
  if (g_atomic_int_exchange (&s->wait_since, 0) == STRESS_CUT)
    s->stress_cut = TRUE;
  return s->stress_cut;
}

/* The line reader's fill hook: before waiting for the client, the group goes upstream
 * and the held replies to the client; in DATA, the data held (data_held) goes upstream
 * when the client has nothing more to read now: Postfix reads each piece as the client
 * sends it, so its smtpd_timeout bounds each gap in the body, not the whole message, as
 * without the front (the header section is held until data_start). Data that flows is
 * still written FRONT_DATA_FLUSH at a time. */
static gboolean
session_fill_hook (gpointer data,
                   GError **error)
{
  Session *s = data;
  /* The front's own time (Postfix's replies awaited, held data written) is not the
   * client's: its wait (stress_sweep) is over here, and begins again once its replies
   * are out. One the sweep cut already ends the read. */
  gint mark = g_atomic_int_exchange (&s->wait_since, 0);

  if (mark == STRESS_CUT)
    {
      s->stress_cut = TRUE;
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cut under stress");
      return FALSE;
    }
  if (s->data_held != NULL && s->data_held->len > 0 && client_drained (s))
    {
      if (!up_write (s, s->data_held->str, s->data_held->len))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "upstream lost");
          return FALSE;
        }
      g_string_truncate (s->data_held, 0);
    }
  if (!group_flush (s))
    {
      client_flush (s, NULL);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "upstream lost");
      return FALSE;
    }
  if (!client_flush (s, error))
    return FALSE;
  if (mark > 0)
    client_wait_mark (s, g_get_monotonic_time ());
  return TRUE;
}

/* The header section of a tracked message as it streams by: its one Message-ID (what
 * Postfix's cleanup logs as "message-id=", without the angle brackets). */
typedef struct
{
  gboolean in_header;
  gboolean in_mid;      /* the last header line was Message-ID: continuation lines join */
  guint count;          /* Message-ID fields seen */
  GString *value;       /* (owned) the field's unfolded value */
} HeaderScan;

static void
header_scan (HeaderScan    *h,
             const GString *line)
{
  if (!h->in_header)
    return;
  if (strcmp (line->str, "\r\n") == 0 || strchr (line->str, ':') == NULL)
    {
      if (line->str[0] != ' ' && line->str[0] != '\t')
        {
          h->in_header = FALSE;
          return;
        }
    }
  if (line->str[0] == ' ' || line->str[0] == '\t')
    {
      if (h->in_mid && h->value->len <= FRONT_MESSAGE_ID_MAX)
        g_string_append_len (h->value, line->str, (gssize) line->len - 2);
      return;
    }
  /* The field name as Postfix's cleanup reads it (is_header(): white space may come
   * before the colon): "Message-ID :" is a Message-ID that Postfix logs too. */
  {
    gsize name = strlen ("Message-ID");
    gsize colon = name;

    h->in_mid = line->len > name && g_ascii_strncasecmp (line->str, "Message-ID", name) == 0;
    while (h->in_mid && (line->str[colon] == ' ' || line->str[colon] == '\t'))
      colon++;
    h->in_mid = h->in_mid && line->str[colon] == ':';
    if (h->in_mid && h->count++ == 0)
      g_string_append_len (h->value, line->str + colon + 1, (gssize) (line->len - colon - 3));
  }
}

/* The Message-ID of a header section read whole, if it is one simple "<id>" (no space,
 * no comment): exactly what Postfix logs; NULL otherwise (then no pending registration:
 * the registration waits for the queue id, as before). */
static char *
header_message_id (HeaderScan *h)
{
  char *v;
  gsize len;

  if (h->in_header || h->count != 1 || h->value->len > FRONT_MESSAGE_ID_MAX)
    return NULL;
  v = g_strstrip (h->value->str);
  len = strlen (v);
  if (len < 3 || v[0] != '<' || v[len - 1] != '>')
    return NULL;
  for (gsize i = 1; i + 1 < len; i++)
    if (v[i] <= ' ' || v[i] >= 127 || v[i] == '<' || v[i] == '>')
      return NULL;
  return g_strndup (v + 1, len - 2);
}

/* The registration of the tracked message in progress, without queue id. */
static PostfixRegistration *
registration_build (Session    *s,
                    const char *qid,
                    gint64      now)
{
  PostfixRegistration *reg = postfix_registration_new (qid, s->envid, s->authenticator, now,
                                                       now + s->mtrk_timeout);

  for (guint i = 0; i + 1 < s->rcpts->len; i += 2)
    postfix_registration_add_rcpt (reg, g_ptr_array_index (s->rcpts, i), NULL,
                                   g_ptr_array_index (s->rcpts, i + 1), NULL);
  return reg;
}

/* Before the tracked message's data goes upstream, without an ident (by ident:
 * pending_start): its pending registration by Message-ID @mid journaled, not yet waited
 * for (@ticket): the journal record and the file are written in a pool thread (never on
 * the loop: one hop, docs/durability.md "Off the loop thread"), which then starts the
 * fdatasync, so that it runs while Postfix writes its queue file. FALSE: nothing written;
 * with @failed, because the write failed (a full disk, a directory the front cannot
 * write: logged), else there is no recipient. @key: what names it. */
static gboolean
pending_write (Session    *s,
               const char *mid,
               gint64      now,
               char      **key,
               guint64    *ticket,
               gboolean   *failed)
{
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autoptr (GError) error = NULL;

  if (s->rcpts->len == 0)
    return FALSE;
  reg = registration_build (s, NULL, now);
  reg->message_id = g_strdup (mid);
  for (guint i = 0; s->mid_skip != NULL && i < s->mid_skip->len; i++)
    g_ptr_array_add (reg->skip, g_strdup (g_ptr_array_index (s->mid_skip, i)));
  /* A file of its own (the slot files are for pending registrations by ident). */
  if (!postfix_registration_write_pending (s->front->registration_dir, s->front->journal, reg,
                                           ticket, &error))
    {
      g_warning ("[%s] cannot write the pending registration of ENVID %s: %s; the message "
                 "is refused (451) before any of it went to Postfix (check the free space "
                 "and the permissions of %s)",
                 s->peer_ip, s->envid, error->message, s->front->registration_dir);
      *failed = TRUE;
      return FALSE;
    }
  *key = g_strdup (mid);
  return TRUE;
}

/* The pending registration named @key (pending_write) removed: Postfix took nothing. */
static void
pending_drop (Session    *s,
              const char *key)
{
  if (key == NULL)
    return;
  postfix_registration_drop_pending (s->front->registration_dir,
                                     g_strcmp0 (key, s->ident) == 0
                                       ? POSTFIX_PENDING_BY_IDENT
                                       : POSTFIX_PENDING_BY_MESSAGE_ID,
                                     key);
}

/* Whether the pending registration by ident may still be written: its XFORWARD IDENT was
 * sent at most POSTFIX_REGISTRATION_IDENT_WINDOW seconds ago (later, the follower may have
 * let smtpd's client line go: the registration then waits for the queue id). */
static gboolean
ident_in_window (Session *s)
{
  return g_get_monotonic_time () - s->ident_sent
         <= (gint64) POSTFIX_REGISTRATION_IDENT_WINDOW * G_USEC_PER_SEC;
}

/* At Postfix's 354 to a tracked message with an ident (within the window): its pending
 * registration's job started (postfix_registration_start_pending(): the journal record,
 * the slot file and its link, then the journal's sync, in a pool thread), the session not
 * parked: it runs while the client sends the header. NULL: not started (then data_start writes it as before, or, *@failed, refuses: the
 * registration cannot be made, logged). */
static DurableJournalJob *
pending_start (Session  *s,
               gint64    now,
               gboolean *failed)
{
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autoptr (GError) error = NULL;
  DurableJournalJob *job;

  if (s->ident == NULL || s->rcpts->len == 0 || !ident_in_window (s))
    return NULL;
  reg = registration_build (s, NULL, now);
  reg->ident = g_strdup (s->ident);
  job = postfix_registration_start_pending (s->front->pending_slots, s->front->registration_dir,
                                            s->front->journal, reg, &error);
  if (job == NULL)
    {
      g_warning ("[%s] cannot write the pending registration of ENVID %s: %s; the message "
                 "is refused (451) before any of it goes to Postfix (check the free space "
                 "and the permissions of %s)",
                 s->peer_ip, s->envid, error->message, s->front->registration_dir);
      *failed = TRUE;
    }
  return job;
}

/* Before the first data goes upstream: the pending registration's write (started at the
 * 354, pending_start) joined, parked only if it has not finished. FALSE,
 * *@failed: it failed (a full disk: logged; the job joined and freed), nothing may be
 * sent. */
static gboolean
pending_join_write (Session            *s,
                    DurableJournalJob **job,
                    char              **key,
                    gboolean           *failed)
{
  g_autoptr (GError) error = NULL;

  /* Counted for the stop's summary (postfix-front.c, front_stop), in any build: whether
   * the write started at the 354 is done by now (docs/postfix-front-io.md, "Does the
   * write's join park?": not always, 7-40 % waited on a busy 2-CPU machine). */
  g_atomic_int_inc (durable_journal_job_step_done (*job) ? &s->front->pending_joins_done
                                                         : &s->front->pending_joins_waited);
  if (durable_journal_job_written (*job, &error))
    {
      *key = g_strdup (s->ident);
      return TRUE;
    }
  g_clear_pointer (job, durable_journal_job_free);
  /* Whatever part of it was made (the link failed: nothing) goes. */
  pending_drop (s, s->ident);
  g_warning ("[%s] cannot write the pending registration of ENVID %s: %s; the message "
             "is refused (451) before any of it went to Postfix (check the free space "
             "and the permissions of %s)",
             s->peer_ip, s->envid, error->message, s->front->registration_dir);
  *failed = TRUE;
  return FALSE;
}

/* Postfix took nothing (the data never ended upstream): the pending registration named
 * @key removed; one whose job started at the 354 (@job) joined first (its write
 * and its sync: nothing it uses is freed under it, and no link comes after the unlink). */
static void
pending_abandon (Session            *s,
                 DurableJournalJob **job,
                 const char         *key)
{
  if (*job != NULL)
    {
      g_clear_pointer (job, durable_journal_job_free);
      pending_drop (s, s->ident);
      return;
    }
  pending_drop (s, key);
}

/* Before the first data of the message goes upstream. With an ident (XFORWARD IDENT,
 * s->ident): its pending registration journaled (pending_write), unless the ident was
 * sent more than POSTFIX_REGISTRATION_IDENT_WINDOW seconds ago (a slow client: the
 * follower may have let its client line go; the registration then waits for the queue
 * id); no Message-ID is looked at. Otherwise: its Message-ID taken (mid_acquire), then,
 * tracked, its pending registration journaled. FALSE, nothing may be sent
 * (s->data_refusal says why): another message's pending registration still has that
 * Message-ID after pending_claim_wait, or the pending registration could not be written
 * (the front knows before the "." that it could not register the message after it: a
 * 451 after Postfix's 250 would make each retry a copy). */
static gboolean
data_start (Session            *s,
            HeaderScan         *h,
            gboolean            tracked,
            gint64              now,
            DurableJournalJob **job,
            gboolean            job_failed,
            gboolean           *pending,
            char              **key,
            guint64            *ticket)
{
  g_autofree char *mid = NULL;
  gboolean failed = job_failed;

  /* Postfix took recipients the front did not see as this transaction's: the message
   * could not be registered after its ".", so none of it goes (never a 451 after
   * Postfix's 250, whose retry would be a copy). */
  if (tracked && s->rcpts->len == 0)
    {
      g_warning ("[%s] a tracked message (ENVID %s) with no recipient the front saw "
                 "accepted: refused before its data went upstream",
                 s->peer_ip, s->envid);
      s->data_refusal = "Tracking registration failed (no recipient of this transaction "
                        "seen); nothing was accepted, try again later";
      return FALSE;
    }
  if (tracked && s->ident != NULL)
    {
      /* Started at the 354 (pending_start), or not at all: the window passed already
       * then (the registration waits for the queue id), or it failed. */
      if (*job != NULL)
        *pending = pending_join_write (s, job, key, &failed);
      if (failed)
        s->data_refusal = "Tracking registration failed (the server cannot write it); "
                          "nothing was accepted, try again later";
      return !failed;
    }
  mid = header_message_id (h);
  if (mid == NULL)
    return TRUE;
  if (!mid_acquire (s, mid, tracked))
    {
      g_message ("[%s] a message with Message-ID <%s> refused (451): another one's pending "
                 "registration was not claimed within %u s (is msgtrk-postfix-follower "
                 "running?)",
                 s->peer_ip, mid, s->front->pending_claim_wait);
      s->data_refusal = "Another message with this Message-ID is still being registered "
                        "for tracking; try again in a few minutes";
      return FALSE;
    }
  if (tracked)
    *pending = pending_write (s, mid, now, key, ticket, &failed);
  if (failed)
    s->data_refusal = "Tracking registration failed (the server cannot write it); "
                      "nothing was accepted, try again later";
  return !failed;
}

/* The queue id of Postfix's "250 ... queued as QID", or NULL. */
static char *
reply_queue_id (const char *reply)
{
  const char *q = g_strrstr (reply, "queued as ");
  gsize n = 0;

  if (q == NULL)
    return NULL;
  q += strlen ("queued as ");
  while (g_ascii_isalnum (q[n]))
    n++;
  if (!postfix_log_is_queue_id (q, n))
    return NULL;
  return g_strndup (q, n);
}

/* After the upstream's 250 to a tracked message: the registration for the follower,
 * made with @now as its arrival. @pending: the message's pending registration is durable
 * (pending_write). By ident, the follower binds it to the queue id of smtpd's client
 * line: nothing is written (a replay in this boot does not need a record of the queue id
 * to leave the pending file alone: postfix_registration_recover()). By Message-ID
 * (@mid_key, the
 * fallback), the front names the queue id itself: QID.reg written through the journal
 * (waited for: the client has its 250 already; the write and the sync in one pool hop),
 * then the pending file removed (in a pool thread too), so the
 * follower never has to guess which cleanup line with that Message-ID is this message's
 * (it holds such lines while the pending file exists; docs/postfix-site.md).
 * FALSE when it could not be made durable: the client must not hear the 250 (without
 * @pending), or the pending registration stays for the follower to bind (with it). */
static gboolean
register_queue_id (Session    *s,
                   const char *reply,
                   gint64      now,
                   gboolean    pending,
                   const char *mid_key)
{
  const char *q = g_strrstr (reply, "queued as ");
  g_autofree char *qid = NULL;
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autoptr (GError) error = NULL;
  gsize n = 0;

  if (q != NULL)
    {
      q += strlen ("queued as ");
      while (g_ascii_isalnum (q[n]))
        n++;
      qid = g_strndup (q, n);
    }
  if (qid == NULL || !postfix_log_is_queue_id (qid, n) || s->rcpts->len == 0)
    {
      /* Postfix has queued the message all the same. */
      if (pending)
        g_warning ("[%s] no queue id or no recipient in the upstream's 250 (ENVID %s): its "
                   "pending registration stays, for the follower to bind",
                   s->peer_ip, s->envid);
      else
        g_warning ("[%s] no queue id or no recipient in the upstream's 250: ENVID %s cannot "
                   "be tracked; the client is told 451, Postfix's copy goes out untracked "
                   "(find it with postqueue -p to stop it)",
                   s->peer_ip, s->envid);
      return FALSE;
    }
  if (pending && mid_key == NULL)
    {
      g_info ("[%s] queued as %s, ENVID %s, %u recipients pending under transaction %s",
              s->peer_ip, qid, s->envid, s->rcpts->len, s->ident);
      return TRUE;
    }
  reg = registration_build (s, qid, now);
  /* The transaction it belongs to (XFORWARD IDENT accepted): the follower tells it from
   * a later message that gets the same queue id (postfix_registration_make_current). */
  reg->ident = g_strdup (s->ident);
  if (!postfix_registration_write_journaled (s->front->registration_dir, s->front->journal,
                                             reg, &error))
    {
      if (pending)
        g_warning ("[%s] cannot register queue id %s (ENVID %s): %s; its pending "
                   "registration stays, for the follower to bind",
                   s->peer_ip, qid, s->envid, error->message);
      else
        g_warning ("[%s] cannot register queue id %s (ENVID %s): %s; the client is told 451, "
                   "Postfix's copy goes out untracked (postsuper -d %s to stop it)",
                   s->peer_ip, qid, s->envid, error->message, qid);
      return FALSE;
    }
  /* QID.reg is durable (through the journal, which also tells a replay that the pending
   * registration has its queue id): the pending file goes, which tells the follower. */
  if (pending && mid_key != NULL)
    postfix_registration_drop_pending (s->front->registration_dir,
                                       POSTFIX_PENDING_BY_MESSAGE_ID, mid_key);
  g_info ("[%s] queued as %s, ENVID %s, %u recipients registered", s->peer_ip, qid, s->envid,
          reg->rcpts->len);
  return TRUE;
}


/* The client's next read bounded by request_deadline from now (the command line, an AUTH
 * response; the data moved later by min_data_rate): no system call (the line reader sets
 * its socket's timeout only when a read must wait and the deadline is the nearer). A
 * command's wait is marked for stress_sweep; message data is not cut by it. */
static void
client_deadline_start (Session *s,
                       gboolean data)
{
  gint64 now = g_get_monotonic_time ();

  client_wait_mark (s, data ? 0 : now);
  server_line_reader_set_deadline (&s->reader,
                                   now + (gint64) s->front->request_deadline * G_USEC_PER_SEC,
                                   data ? s->front->min_data_rate : 0,
                                   s->front->request_deadline);
}

/* "421 4.4.2 HOST Error: timeout exceeded, closing connection" (Postfix's words): a
 * deadline or stress_timeout passed. */
static void
client_reply_timeout (Session *s)
{
  client_reply (s, "421 4.4.2 %s Error: timeout exceeded, closing connection",
                s->front->hostname);
}

/* Whether the session ends because stress_sweep cut its client's wait
 * (client_wait_done): then the client is told 421, and it is logged. */
static gboolean
client_stress_ended (Session *s)
{
  if (!s->stress_cut)
    return FALSE;
  g_message ("[%s] no command within stress_timeout (%u s) while every session slot "
             "(max_connections %u) is taken: the session is ended",
             s->peer_ip, s->front->stress_timeout, s->front->max_sessions);
  client_reply_timeout (s);
  return TRUE;
}

/* A read of the client ended the session (@st, @error): the client told why, when it is
 * the stress sweep, the idle timeout, the request deadline or shutdown (sessions_stop
 * shut the socket's reading side down, or GIO saw the cancellable). */
static void
client_read_failed (Session          *s,
                    ServerLineStatus  st,
                    const GError     *error)
{
  if (client_stress_ended (s))
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
      && server_line_reader_deadline_expired (&s->reader))
    client_reply_timeout (s);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    client_reply (s, "421 4.4.2 %s Idle timeout, closing connection", s->front->hostname);
  else if (g_cancellable_is_cancelled (s->cancel)
           || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    client_reply (s, "421 4.3.2 %s Shutting down", s->front->hostname);
}

/* Whether the "." is on its way upstream and its reply unread (sessions_stop then
 * waits for the reply before it cuts the upstream link). */
static void
dot_wait_set (Session  *s,
              gboolean  waiting)
{
  g_mutex_lock (&s->front->sessions_lock);
  s->dot_wait = waiting;
  /* Its one waiter, sessions_stop, sets stopping under this lock before it waits: no
   * futex(2) wake per message otherwise (GLib's GCond always makes the call). */
  if (!waiting && s->front->stopping)
    g_cond_broadcast (&s->front->sessions_changed);
  g_mutex_unlock (&s->front->sessions_lock);
}

/* The client's data passed its deadline: logged (no content), and the upstream link
 * closed before anything more is read or written, without the "." (Postfix discards a
 * message whose data did not end: nothing queued, never half a message). Under
 * front->sessions_lock: the stop's handler may be shutting the same socket down. */
static void
data_deadline_abandon (Session *s,
                       guint64  octets,
                       gint64   began)
{
  g_message ("[%s] message data not received within its deadline (request_deadline %u s, "
             "min_data_rate %u octets/s): %" G_GUINT64_FORMAT " octets in %" G_GINT64_FORMAT
             " s; the transaction is abandoned upstream",
             s->peer_ip, s->front->request_deadline, s->front->min_data_rate, octets,
             (g_get_monotonic_time () - began) / G_USEC_PER_SEC);
  g_mutex_lock (&s->front->sessions_lock);
  if (s->up_fd >= 0)
    (void) shutdown (s->up_fd, SHUT_RDWR);
  g_mutex_unlock (&s->front->sessions_lock);
  s->said_421 = TRUE;
  transaction_reset (s);
}


/* DATA: the upstream's 354, then the message streamed, then its verdict. */
static gboolean
cmd_data (Session    *s,
          const char *line,
          GString    *reply)
{
  g_autoptr (GString) buf = g_string_new (NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GString) mid_value = g_string_new (NULL);
  HeaderScan scan = { TRUE, FALSE, 0, mid_value };
  gboolean tracked;
  gboolean started = FALSE;
  gboolean refused = FALSE;
  gboolean pending = FALSE;
  g_autofree char *pending_key = NULL;
  guint64 ticket = 0;
  g_autoptr (DurableJournalJob) job = NULL;
  gboolean job_failed = FALSE;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  int code = 0;
  gboolean ok;
  MsgtrkDotParser dot;
  MsgtrkDotWriter writer;
  g_autoptr (GString) unstuffed = g_string_new (NULL);
  g_autoptr (GString) hline = g_string_new (NULL);
  gint64 data_began;
  guint64 octets = 0;

  /* The last command of a pipelined group: the group goes now. Tracked or not as the
   * group's replies left it (a MAIL of the group that Postfix refused reset it). */
  if (!up_send (s, UP_PENDING_DATA, line))
    return FALSE;
  tracked = s->authenticator != NULL;
  /* Tracked by ident, no Message-ID is looked at (data_start): the header is not scanned
   * nor held, the data flows from its first octets (smtpd_timeout bounds each pause of
   * the client, not the whole header section). */
  if (tracked && s->ident != NULL)
    scan.in_header = FALSE;
  g_string_assign (reply, s->data_reply->str);
  code = s->data_code;
  if (code != 354)
    {
      client_write (s, reply->str, reply->len);
      return TRUE;
    }
  /* By ident: the pending registration written and synced in a pool thread while the
   * client sends its data; joined before the data goes upstream (data_start) and its sync
   * after Postfix's reply to the ".". Started at the 354, not with the DATA command: a
   * DATA that Postfix refuses then leaves no pending file the follower could bind to the
   * queue id smtpd logged at the first RCPT (the earlier start measured no better:
   * docs/postfix-front-io.md, "The pending registration started early"). */
  if (tracked)
    job = pending_start (s, now, &job_failed);
  client_write (s, reply->str, reply->len);
  /* The client's data as the lib's one parser reads it (only CRLF "." CRLF ends it), then
   * written again for Postfix by its one writer (dot-stuffed, CRLF): no line Postfix could
   * read as "." (it strips every CR before the LF) reaches it but the real end. A line
   * longer than the reader's buffer goes on in pieces (Postfix takes long lines, cutting
   * them into records of line_length_limit: its verdict, not the front's). */
  msgtrk_dot_parser_init (&dot);
  msgtrk_dot_writer_init (&writer);
  s->reader.wipe = FALSE; /* the session loop turns it on again */
  /* The data as a whole: request_deadline, moved later by each octet at min_data_rate
   * (the session loop starts the next command's). */
  client_deadline_start (s, TRUE);
  data_began = g_get_monotonic_time ();
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      /* The header by the line (its scan), the body by the buffer: whatever the reader
       * holds goes through the parser at once (no copy and no call per line). */
      gboolean by_line = scan.in_header;
      const char *in = NULL;
      gsize in_len = 0;
      ServerLineStatus st;
      gboolean line_start = writer.line_start;
      gsize mark = buf->len;
      gsize used = 0;
      gboolean end;

      if (by_line)
        {
          st = server_line_reader_read_piece (&s->reader, SERVER_LINE_BUFFER_SIZE - 1, text,
                                              wait_cancel (s), &error);
          in = text->str;
          in_len = text->len;
        }
      else
        st = server_line_reader_peek (&s->reader, SERVER_LINE_BUFFER_SIZE, &in, &in_len,
                                      wait_cancel (s), &error);
      if (st != SERVER_LINE_OK)
        {
          /* EOF or error: the upstream never sees the end of data, so it accepts nothing
           * (and the pending registration binds nothing). */
          s->data_held = NULL;
          pending_abandon (s, &job, pending_key);
          if (server_line_reader_deadline_expired (&s->reader))
            data_deadline_abandon (s, octets, data_began);
          client_read_failed (s, st, error);
          return FALSE;
        }
      /* A line or a piece (no LF): the end marker, a whole line, is all of it (used); a
       * buffer: up to the end marker's LF (what follows is the client's next command). */
      g_string_truncate (unstuffed, 0);
      end = msgtrk_dot_parser_feed (&dot, in, in_len, unstuffed, &used);
      if (!by_line)
        server_line_reader_consume (&s->reader, used);
      octets += used;
      /* A buffer's data before the end marker goes with it (a line's end marker is all
       * the line: nothing then). */
      if (!refused)
        msgtrk_dot_writer_feed (&writer, unstuffed->str, unstuffed->len, buf);
      if (end)
        {
          s->data_held = NULL;
          msgtrk_dot_writer_end (&writer, buf);
          break;
        }
      if (refused)
        continue;
      /* The header scan takes whole lines as written (CRLF); of a line in pieces only its
       * first, as if the line ended there (a Message-ID that long is no simple one). */
      if (scan.in_header && line_start && buf->len > mark)
        {
          g_string_truncate (hline, 0);
          g_string_append_len (hline, buf->str + mark, (gssize) (buf->len - mark));
          if (!writer.line_start)
            g_string_append_len (hline, "\r\n", 2);
          header_scan (&scan, hline);
        }
      /* The Message-ID taken and the pending registration written before any data goes
       * upstream (at the end of the header section, or FRONT_DATA_FLUSH into it): Postfix
       * logs the Message-ID as soon as its cleanup reads the header. From then on the
       * data goes upstream FRONT_DATA_FLUSH at a time, and whenever the client pauses
       * (session_fill_hook, through data_held). */
      if (!started && (!scan.in_header || buf->len >= FRONT_DATA_FLUSH))
        {
          started = TRUE;
          refused = !data_start (s, &scan, tracked, now, &job, job_failed, &pending,
                                 &pending_key, &ticket);
          if (!refused)
            s->data_held = buf;
        }
      if (started && buf->len >= FRONT_DATA_FLUSH)
        {
          if (!refused && !up_write (s, buf->str, buf->len))
            {
              s->data_held = NULL;
              pending_abandon (s, &job, pending_key);
              return FALSE;
            }
          g_string_truncate (buf, 0);
        }
    }
  if (!started)
    refused = !data_start (s, &scan, tracked, now, &job, job_failed, &pending, &pending_key,
                           &ticket);
  if (refused)
    {
      /* Nothing of it went upstream: the upstream link closed, so Postfix discards the
       * transaction (no "." ever comes); the session ends after the 451. */
      up_close (s);
      s->said_421 = TRUE;
      transaction_reset (s);
      client_reply (s, "451 4.3.0 %s %s", s->front->hostname, s->data_refusal);
      return FALSE;
    }
  dot_wait_set (s, TRUE);
  if (!up_write (s, buf->str, buf->len))
    {
      /* The write failed, so its last octets, the ".", did not all reach the upstream:
       * Postfix accepts nothing, and a pending registration kept would hold up every
       * message with this Message-ID (451 after pending_claim_wait) until it expires. */
      dot_wait_set (s, FALSE);
      pending_abandon (s, &job, pending_key);
      return FALSE;
    }
  /* The pending registration's fdatasync while Postfix writes and syncs its queue file
   * (by Message-ID: here; by ident, its job's sync, started with it, is joined after
   * the reply: nothing reaches the client in between). */
  if (pending && job == NULL)
    {
      g_autoptr (GError) error = NULL;

      if (!durable_journal_wait (s->front->journal, ticket, &error))
        {
          g_warning ("[%s] the pending registration of ENVID %s is not durable: %s",
                     s->peer_ip, s->envid, error->message);
          pending = FALSE;
        }
    }
  /* Not ended by the stop's cancellable: Postfix may have the message, so its reply is
   * waited for (sessions_stop shuts the link down after FRONT_STOP_REPLY_WAIT_MS;
   * idle_timeout bounds it too). */
  ok = up_read_reply_full (s, reply, &code, NULL);
  dot_wait_set (s, FALSE);
  /* Before the reply goes to the client: the pending registration durable (its job's
   * sync joined: parked only if it still runs), else the fallback as for a failed wait
   * above (the queue id registered durably before a 250, or 451). */
  if (job != NULL)
    {
      g_autoptr (GError) error = NULL;

      if (!durable_journal_job_finish (g_steal_pointer (&job), &error))
        {
          g_warning ("[%s] the pending registration of ENVID %s is not durable: %s",
                     s->peer_ip, s->envid, error->message);
          pending = FALSE;
        }
    }
  if (!ok)
    return FALSE;
  if (!tracked && code / 100 == 2 && s->mid_held != NULL)
    s->mid_queue_id = reply_queue_id (reply->str);
  if (code / 100 != 2 || !pending)
    pending_drop (s, pending_key);
  if (code / 100 == 2 && tracked && pending)
    {
      /* The registration is durable (pending): the 250 goes first, then by Message-ID
       * QID.reg (a write to the journal may wait for the file system's commit). */
      client_write (s, reply->str, reply->len);
      client_flush (s, NULL);
      register_queue_id (s, reply->str, now, TRUE,
                         g_strcmp0 (pending_key, s->ident) == 0 ? NULL : pending_key);
      transaction_reset (s);
      return TRUE;
    }
  if (code / 100 == 2 && tracked && !register_queue_id (s, reply->str, now, FALSE, NULL))
    {
      /* Never "accepted" without a durable registration (a silent untracked send): the
       * client retries, and that copy is tracked. */
      transaction_reset (s);
      return client_reply (s, "451 4.3.0 %s Tracking registration failed, try again later",
                           s->front->hostname);
    }
  transaction_reset (s);
  return client_write (s, reply->str, reply->len);
}

/* AUTH: the exchange in lockstep; nothing of it logged, the reader wiping. */
static gboolean
cmd_auth (Session    *s,
          const char *line,
          GString    *reply)
{
  /* Sized for the longest response up front: a GString grown by realloc would leave
   * copies of the secret behind in the freed blocks. */
  g_autoptr (GString) response = g_string_sized_new (FRONT_AUTH_LINE_MAX + 1);
  int code = 0;
  gboolean ok = TRUE;
  gboolean too_long = FALSE;
  gboolean has_nul = FALSE;
  gsize read_len = 0;

  /* The reader wipes what it consumes (on for every command line: the session loop). */
  if (!up_command (s, line, reply, &code))
    ok = FALSE;
  while (ok && code == 334)
    {
      g_autoptr (GError) error = NULL;
      ServerLineStatus st;

      if (!client_write (s, reply->str, reply->len))
        {
          ok = FALSE;
          break;
        }
      client_deadline_start (s, FALSE);
      st = server_line_reader_read (&s->reader, FRONT_AUTH_LINE_MAX, response, wait_cancel (s),
                                    &error);
      if (client_wait_done (s))
        {
          msgtrk_secure_wipe (response->str, response->len);
          client_stress_ended (s);
          ok = FALSE;
          break;
        }
      if (st == SERVER_LINE_TOO_LONG)
        {
          /* RFC 4954 section 4: a line longer than the buffer fails the AUTH with 500.
           * Postfix's exchange is ended with "*" (its 501 is not the client's). */
          too_long = TRUE;
          ok = up_command (s, "*", reply, &code);
          break;
        }
      if (st != SERVER_LINE_OK)
        {
          /* Logged as a command or data cut is (never the response itself). */
          if (server_line_reader_deadline_expired (&s->reader))
            g_message ("[%s] AUTH response not received within request_deadline (%u s)",
                       s->peer_ip, s->front->request_deadline);
          client_read_failed (s, st, error);
          ok = FALSE;
          break;
        }
      /* Wiped as read: the checks below may shorten it. */
      read_len = response->len;
      if (memchr (response->str, '\0', response->len) != NULL)
        {
          /* Not passed on cut at the NUL (Postfix would judge something the client did
           * not send): the exchange ended with "*", as for a line too long. */
          msgtrk_secure_wipe (response->str, read_len);
          has_nul = TRUE;
          ok = up_command (s, "*", reply, &code);
          break;
        }
      g_strchomp (response->str);
      response->len = strlen (response->str);
      if (!up_command (s, response->str, reply, &code))
        ok = FALSE;
      msgtrk_secure_wipe (response->str, read_len);
    }
  msgtrk_secure_wipe (response->str, MAX (response->len, read_len));
  if (!ok)
    return FALSE;
  if (too_long || has_nul)
    {
      s->errors++;
      if (has_nul)
        return client_reply (s, "501 5.5.2 NUL character in authentication response");
      return client_reply (s, "500 5.5.6 Authentication response line too long");
    }
  return client_write (s, reply->str, reply->len);
}

/* QUIT: answered here, at once (its reply decides nothing, and every earlier reply was
 * the upstream's, read before this): the client has its 221 before the upstream is told.
 * Then QUIT upstream, and the session ends: the upstream link is closed without waiting
 * for Postfix's 221. Every reply before it was read, so the close sends a FIN (not a
 * reset): Postfix reads QUIT, writes its 221 (the write succeeds; the front's kernel
 * answers that data with a reset, which Postfix, done with the session, never reads) and
 * logs a clean disconnect (quit=1). Waiting for the 221 cost the front a wake-up and two
 * system calls per session. An unfinished message is never accepted without its ".".
 * FALSE: the session ends. */
static gboolean
cmd_quit (Session *s)
{
  client_reply (s, "221 2.0.0 %s Bye", s->front->hostname);
  if (!client_flush (s, NULL))
    return FALSE;
  (void) send (s->up_fd, "QUIT\r\n", 6, MSG_DONTWAIT | MSG_NOSIGNAL);
  return FALSE;
}

/* The handshake's deadline (in the main thread, whose loop runs the default context)
 * or the session's cancellation: the handshake's own cancellable goes. */
static gboolean
handshake_deadline (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
handshake_session_cancelled (GCancellable *cancellable,
                             gpointer      data)
{
  g_cancellable_cancel (data);
}

static gboolean
start_tls (Session *s,
           guint    timeout)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) handshake = g_cancellable_new ();
  g_autoptr (GSource) deadline = NULL;
  gulong session_id = 0;
  GSocketConnection *stream;
  GIOStream *tls;

  /* TLS reads the socket without blocking, through GIO: the client's stream, made from
   * its descriptor now (non-blocking from then on), each read and write bounded by
   * idle_timeout. */
  stream = server_connection_get_stream (s->connection, &error);
  if (stream == NULL)
    {
      g_message ("[%s] TLS: %s", s->peer_ip, error->message);
      return FALSE;
    }
  g_socket_set_timeout (g_socket_connection_get_socket (stream), s->front->idle_timeout);
  client_wait_mark (s, g_get_monotonic_time ());
  /* The socket's timeout bounds each read; tls_handshake_timeout the whole handshake (as
   * Postfix's smtpd_starttls_timeout): a ClientHello trickled an octet at a time must
   * not hold a slot for ever. */
  deadline = g_timeout_source_new_seconds (timeout);
  g_source_set_callback (deadline, handshake_deadline, g_object_ref (handshake),
                         g_object_unref);
  g_source_attach (deadline, NULL);
  if (s->cancel != NULL)
    session_id = g_cancellable_connect (s->cancel, G_CALLBACK (handshake_session_cancelled),
                                        handshake, NULL);
  tls = msgtrk_tls_handshake (s->front->tls, G_IO_STREAM (stream), NULL, handshake, &error);
  g_source_destroy (deadline);
  if (session_id != 0)
    g_cancellable_disconnect (s->cancel, session_id);
  if (client_wait_done (s))
    {
      /* Cut by stress_sweep (its reading side shut down): nothing can be said to it. */
      g_message ("[%s] TLS handshake not done within stress_timeout (%u s) while every "
                 "session slot (max_connections %u) is taken: the session is ended",
                 s->peer_ip, s->front->stress_timeout, s->front->max_sessions);
      g_clear_object (&tls);
      return FALSE;
    }
  if (tls == NULL)
    {
      if (g_cancellable_is_cancelled (handshake) && !g_cancellable_is_cancelled (s->cancel))
        g_message ("[%s] TLS handshake not done within %u s (%s)", s->peer_ip, timeout,
                   timeout == s->front->tls_handshake_timeout
                     ? "tls_handshake_timeout"
                     : "the refusal's handshake limit, POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT");
      else
        g_message ("[%s] TLS handshake failed: %s", s->peer_ip, error->message);
      return FALSE;
    }
  s->tls = tls;
  s->out = g_io_stream_get_output_stream (tls);
  /* Its reads' own cancellable from now on (wait_cancel): the stop cancels it (at once if
   * it began already), and stress_sweep without a shutdown, which would end GnuTLS's
   * session before the 421 could be sent. */
  g_mutex_lock (&s->front->sessions_lock);
  s->tls_cancel = g_cancellable_new ();
  if (s->front->stopping)
    g_cancellable_cancel (s->tls_cancel);
  g_mutex_unlock (&s->front->sessions_lock);
  server_line_reader_init (&s->reader, g_io_stream_get_input_stream (tls), FALSE);
  /* The deadline bounds each TLS read itself (a timer cancels it). */
  if (s->deadline_cancel == NULL)
    s->deadline_cancel = g_cancellable_new ();
  server_line_reader_set_deadline_cancellable (&s->reader, s->deadline_cancel);
  server_line_reader_set_hook (&s->reader, session_fill_hook, s);
  return TRUE;
}

/* After STARTTLS's 220: the handshake, then (RFC 3207 4.2) all knowledge obtained from
 * the client before TLS discarded, here and in Postfix (its AUTH, its transaction,
 * anything a man in the middle put there): a fresh upstream session; the client EHLOs
 * again. FALSE: the session ends. */
static gboolean
starttls_finish (Session *s)
{
  if (!start_tls (s, s->front->tls_handshake_timeout))
    return FALSE;
  s->up_pipelining = FALSE;
  s->up_dsn = FALSE;
  s->up_xforward_ident = FALSE;
  s->helo_seen = FALSE;
  s->esmtp = FALSE;
  transaction_reset (s);
  return up_renew (s);
}

static void session_commands (Session *s);

/* The end of a session in TLS (its last replies, the TLS close_notify: GIO's blocking
 * calls), where it ran (a thread: a coroutine's TLS part, or the session's own). */
static void
session_tls_close (Session *s)
{
  client_flush (s, NULL);
  if (s->tls != NULL)
    g_io_stream_close (s->tls, NULL, NULL);
  g_clear_object (&s->tls);
  s->out = NULL;
}

/* ---- TLS sessions: a pool of their own ---- */

/* A TLS session's work in a thread of the front's TLS pool, its coroutine parked until
 * done (postfix_front_tls_run). */
typedef struct
{
  ServerCoroFunc func;
  gpointer data;
  ServerCoro *co;
  gboolean done;                  /* under the front's tls_lock */
} TlsJob;

static void
tls_job_run (gpointer data,
             gpointer user_data)
{
  TlsJob *job = data;
  PostfixFront *front = user_data;

  job->func (job->data);
  /* Under the lock the coroutine looks at done with: it is alive until it sees it. */
  g_mutex_lock (&front->tls_lock);
  job->done = TRUE;
  server_coro_wake (job->co);
  g_mutex_unlock (&front->tls_lock);
}

/* The TLS pool, kept for the process's life (as server-coro's shared pool): freed at the
 * front's end, its idle threads would exit while the process exits, and OpenSSL's
 * per-thread state (its DRBG) of a thread that ends after OpenSSL's exit handler is never
 * freed (LeakSanitizer: 4.9 KB per such thread). Here it stays reachable. */
static GThreadPool *tls_pool_kept;

/**
 * postfix_front_tls_init:
 * @front: the front, no session running yet
 *
 * No TLS session counted, no pool yet (postfix_front_tls_start).
 */
void
postfix_front_tls_init (PostfixFront *front)
{
  g_mutex_init (&front->tls_lock);
}

/**
 * postfix_front_tls_start:
 * @front: the front, its tls and max_tls_sessions set, no session running yet
 *
 * With TLS, the pool TLS sessions run in: at most max_tls_sessions threads, none kept
 * from the shared pool of server_coro_run_in_thread() (name lookups, the journal's group
 * syncs), which TLS sessions can therefore never starve (docs/postfix-front-io.md, "TLS
 * sessions: a pool of their own").
 */
void
postfix_front_tls_start (PostfixFront *front)
{
  if (front->tls != NULL)
    {
      g_assert (tls_pool_kept == NULL); /* one front per process */
      front->tls_pool = g_thread_pool_new (tls_job_run, front, (gint) front->max_tls_sessions,
                                           FALSE, NULL);
      /* Its threads idle between sessions wait in GLib's pool of unused threads (2 by
       * default, for the whole process): kept at least POSTFIX_FRONT_TLS_IDLE_THREADS. */
      if (g_thread_pool_get_max_unused_threads () >= 0
          && g_thread_pool_get_max_unused_threads () < POSTFIX_FRONT_TLS_IDLE_THREADS)
        g_thread_pool_set_max_unused_threads (POSTFIX_FRONT_TLS_IDLE_THREADS);
      tls_pool_kept = front->tls_pool;
    }
}

/**
 * postfix_front_tls_clear:
 * @front: the front, no session running (its pool is kept: tls_pool_kept)
 */
void
postfix_front_tls_clear (PostfixFront *front)
{
  front->tls_pool = NULL;
  g_mutex_clear (&front->tls_lock);
}

/**
 * postfix_front_tls_take:
 * @front: the front
 *
 * A TLS session counted before it starts (implicit TLS: before the handshake; STARTTLS:
 * before its 220), given back by postfix_front_tls_drop().
 *
 * Returns: FALSE when max_tls_sessions run already (nothing counted)
 */
gboolean
postfix_front_tls_take (PostfixFront *front)
{
  gboolean ok;

  g_mutex_lock (&front->tls_lock);
  ok = front->tls_sessions < front->max_tls_sessions;
  if (ok)
    front->tls_sessions++;
  g_mutex_unlock (&front->tls_lock);
  return ok;
}

void
postfix_front_tls_drop (PostfixFront *front)
{
  g_mutex_lock (&front->tls_lock);
  g_assert (front->tls_sessions > 0);
  front->tls_sessions--;
  g_mutex_unlock (&front->tls_lock);
}

/**
 * postfix_front_tls_run:
 * @front: the front, with TLS
 * @func: a TLS session's work (GIO's blocking TLS calls)
 * @data: its argument
 *
 * In a coroutine, with a session counted (postfix_front_tls_take): @func(@data) in a
 * thread of the TLS pool, the coroutine parked until it returns (server_coro_in_loop()
 * is FALSE there: the shared helpers block). The count bounds the pool's threads, so the
 * work never waits for one (but a moment for a thread that is just finishing). Elsewhere:
 * @func(@data) here.
 */
void
postfix_front_tls_run (PostfixFront  *front,
                       ServerCoroFunc func,
                       gpointer       data)
{
  TlsJob job = { func, data, server_coro_self (), FALSE };
  g_autoptr (GError) error = NULL;

  if (job.co == NULL || front->tls_pool == NULL)
    {
      func (data);
      return;
    }
  /* A failed push (no new thread) still queues the job (GLib appends it in any case): it
   * runs when one of the pool's threads is free, never here too. */
  if (!g_thread_pool_push (front->tls_pool, &job, &error))
    g_warning ("No new thread for a TLS session (%s): it waits for a busy one",
               error->message);
  g_mutex_lock (&front->tls_lock);
  while (!job.done)
    {
      g_mutex_unlock (&front->tls_lock);
      (void) server_coro_park (0);
      g_mutex_lock (&front->tls_lock);
    }
  g_mutex_unlock (&front->tls_lock);
}

/* A coroutine's session after STARTTLS's 220, in a thread of the TLS pool
 * (server_coro_in_loop() FALSE there: the shared helpers block as in a session thread). */
static void
session_tls_thread (gpointer data)
{
  Session *s = data;

  if (starttls_finish (s))
    session_commands (s);
  session_tls_close (s);
}

/* The rest of a coroutine's session through postfix_front_tls_run() (its TLS session
 * counted by the caller: given back here). Its descriptors
 * are forgotten by the loop first: the thread reads and writes them (GIO makes the
 * client's non-blocking, the upstream's is read blocking), may close the upstream one and
 * connect another (up_renew), and the loop only marks their events meanwhile; the session
 * ends after (nothing of it waits in the loop again). So a TLS session still costs a
 * thread, of the TLS pool (docs/postfix-front-io.md, "TLS sessions: a pool of their own"). */
static void
session_tls_in_thread (Session *s)
{
  server_coro_forget_fd (s->fd);
  if (s->up_fd >= 0)
    server_coro_forget_fd (s->up_fd);
  postfix_front_tls_run (s->front, session_tls_thread, s);
  postfix_front_tls_drop (s->front);
}

/* One client command line (CRLF stripped, @line); FALSE ends the session. */
static gboolean
dispatch (Session    *s,
          const char *line,
          GString    *reply)
{
  const char *args = NULL;
  g_autofree char *verb = command_split (line, &args);
  const char *refusal;
  int code = 0;

  /* Only RCPT and DATA join a pipelined group (begun by MAIL); anything else goes
   * after the replies to the group. */
  if (!g_str_equal (verb, "RCPT") && !g_str_equal (verb, "DATA") && !group_flush (s))
    return FALSE;
  refusal = tls_gate (s, verb);
  if (refusal != NULL)
    {
      s->errors++;
      return client_reply (s, "%s", refusal);
    }
  if (g_str_equal (verb, "EHLO") || g_str_equal (verb, "HELO"))
    {
      g_autofree char *rewritten = NULL;

      s->up_pipelining = FALSE;
      if (!up_command (s, line, reply, &code))
        return FALSE;
      /* Postfix resets its transaction only when it takes the EHLO/HELO (smtpd.c
       * ehlo_cmd): after a 501 ("EHLO" without a name) or a rejecting HELO restriction
       * its MAIL and RCPTs stand, and so must the tracking (a message accepted after it
       * untracked would be a silent untracked send). */
      if (code / 100 == 2)
        transaction_reset (s);
      if (code == 250)
        {
          s->helo_seen = TRUE;
          s->esmtp = g_str_equal (verb, "EHLO");
        }
      if (code != 250 || !s->esmtp)
        return client_write (s, reply->str, reply->len);
      rewritten = ehlo_rewrite (s, reply->str);
      return client_write (s, rewritten, strlen (rewritten));
    }
  if (g_str_equal (verb, "MAIL"))
    return cmd_mail (s, line, reply);
  if (g_str_equal (verb, "RCPT"))
    return cmd_rcpt (s, line);
  if (g_str_equal (verb, "DATA"))
    return cmd_data (s, line, reply);
  if (g_str_equal (verb, "AUTH"))
    return cmd_auth (s, line, reply);
  if (g_str_equal (verb, "STARTTLS"))
    {
      if (s->front->tls == NULL || s->tls != NULL)
        {
          s->errors++;
          return client_reply (s, s->tls != NULL ? "554 5.5.1 Already in TLS"
                                                 : "502 5.5.1 STARTTLS not available");
        }
      if (*args != '\0')
        {
          s->errors++;
          return client_reply (s, "501 5.5.4 Syntax: STARTTLS");
        }
      /* In a coroutine: GIO's TLS calls block, so the rest of the session (the
       * handshake, the commands, the TLS close) runs in a thread of the TLS pool, the
       * coroutine parked meanwhile; the session ends with it. That pool has
       * max_tls_sessions threads: past it, RFC 3207's 454 (the client may go on in
       * clear text where the site allows it, or try later). */
      if (server_coro_in_loop () && !postfix_front_tls_take (s->front))
        {
          g_message ("[%s] STARTTLS refused (454): max_tls_sessions (%u) TLS sessions "
                     "running already (raise max_tls_sessions if the host has the threads)",
                     s->peer_ip, s->front->max_tls_sessions);
          return client_reply (s, "454 4.3.2 %s TLS not available: too many TLS sessions, "
                               "try again later", s->front->hostname);
        }
      /* Commands pipelined after STARTTLS in clear text are discarded (RFC 3207 4.2). */
      server_line_reader_clear (&s->reader);
      if (!client_reply (s, "220 2.0.0 Ready to start TLS") || !client_flush (s, NULL))
        {
          if (server_coro_in_loop ())
            postfix_front_tls_drop (s->front);
          return FALSE;
        }
      if (server_coro_in_loop ())
        {
          session_tls_in_thread (s);
          return FALSE;
        }
      return starttls_finish (s);
    }
  if (g_str_equal (verb, "BDAT") || g_str_equal (verb, "XCLIENT")
      || g_str_equal (verb, "XFORWARD"))
    {
      s->errors++;
      return client_reply (s, "502 5.5.1 Command not implemented");
    }
  if (g_str_equal (verb, "QUIT"))
    return cmd_quit (s);
  if (!up_command (s, line, reply, &code))
    return FALSE;
  /* As for EHLO: "RSET x" gets 501 and Postfix keeps its transaction. */
  if (g_str_equal (verb, "RSET") && code / 100 == 2)
    transaction_reset (s);
  return client_write (s, reply->str, reply->len);
}

/* Whether a session of @front has its "." upstream and the reply unread (sessions_lock
 * held). */
static gboolean
sessions_dot_waiting (PostfixFront *front)
{
  for (GList *l = front->sessions.head; l != NULL; l = l->next)
    if (((Session *) l->data)->dot_wait)
      return TRUE;
  return FALSE;
}

/* The listener's cancellable's handler (a stop of the front, in the thread that cancels),
 * one for all the sessions (postfix_front_sessions_watch): the direct reads of each
 * client and upstream return (end of file, or a parked wait woken through the loop's
 * epoll), the sessions end. The client's side only stops reading, so that it still hears
 * "421 ... Shutting down". Sessions whose "." the upstream may have keep their upstream
 * links until their replies are read or FRONT_STOP_REPLY_WAIT_MS (for all of them
 * together) has passed: the client gets Postfix's verdict on a message Postfix has, not a
 * 421 that makes it send the message again. The wait releases sessions_lock (a
 * g_cond_wait), so the sessions it waits for run meanwhile, on their loops or threads;
 * and no session calls g_cancellable_disconnect (which waits for a running handler and
 * so would block a loop thread, and the sessions parked on it, for this wait). */
static void
sessions_stop (GCancellable *cancellable,
               gpointer      data)
{
  PostfixFront *front = data;
  gint64 end = g_get_monotonic_time () + FRONT_STOP_REPLY_WAIT_MS * G_TIME_SPAN_MILLISECOND;

  g_mutex_lock (&front->sessions_lock);
  front->stopping = TRUE;
  for (GList *l = front->sessions.head; l != NULL; l = l->next)
    {
      Session *s = l->data;

      (void) shutdown (s->fd, SHUT_RD);
      if (s->tls_cancel != NULL)
        g_cancellable_cancel (s->tls_cancel);
    }
  /* Waits for a Message-ID end now (not at their next look at the disk). */
  postfix_front_mids_wake_all (front);
  while (sessions_dot_waiting (front))
    if (!g_cond_wait_until (&front->sessions_changed, &front->sessions_lock, end))
      break;
  for (GList *l = front->sessions.head; l != NULL; l = l->next)
    if (((Session *) l->data)->up_fd >= 0)
      (void) shutdown (((Session *) l->data)->up_fd, SHUT_RDWR);
  g_mutex_unlock (&front->sessions_lock);
}

/* Every session slot taken (max_connections sessions): Postfix's "stress", in which its
 * smtpd gives a client 10 s where it gave 300 (smtpd_timeout, smtpd_starttls_timeout
 * ${stress?{10}:{300}}s; its master sets it when a service reaches its process limit).
 * While stressed, once a second, the sessions whose client has owed a command (or a TLS
 * handshake) for more than stress_timeout seconds are cut (at most 2 s later): their
 * reading side shut down (as sessions_stop does), which ends the wait at once; each
 * tells its client 421 and logs it (client_stress_ended). Message data is not cut here
 * (its own deadlines move with min_data_rate). Runs in the main context; ends itself
 * once a slot is free. */
static gboolean
stress_sweep (gpointer data)
{
  PostfixFront *front = data;
  gint now = (gint) (g_get_monotonic_time () / G_USEC_PER_SEC) + 1;

  g_mutex_lock (&front->sessions_lock);
  if (front->sessions.length < front->max_sessions || front->stopping)
    {
      front->stress_source = 0;
      g_mutex_unlock (&front->sessions_lock);
      return G_SOURCE_REMOVE;
    }
  for (GList *l = front->sessions.head; l != NULL; l = l->next)
    {
      Session *s = l->data;
      gint since = g_atomic_int_get (&s->wait_since);

      /* Whole seconds: more than stress_timeout of them, never less. The exchange: the
       * session's end of that wait (client_wait_done) sees the cut, or the cut is not
       * made. In TLS its reads' cancellable (GnuTLS's session stays whole for the 421);
       * otherwise, or in the handshake, the reading side shut down. */
      if (since <= 0 || now - since <= (gint) front->stress_timeout
          || !g_atomic_int_compare_and_exchange (&s->wait_since, since, STRESS_CUT))
        continue;
      if (s->tls_cancel != NULL)
        g_cancellable_cancel (s->tls_cancel);
      else
        (void) shutdown (s->fd, SHUT_RD);
    }
  g_mutex_unlock (&front->sessions_lock);
  return G_SOURCE_CONTINUE;
}

/* Under sessions_lock, a session just listed: when it takes the last slot, the stress
 * sweep starts (a timer in the main context, as start_tls's handshake deadline), said at
 * most every POSTFIX_FRONT_STRESS_NOTICE_INTERVAL seconds. */
static void
stress_begin_locked (PostfixFront *front)
{
  gint64 now;

  if (front->stress_timeout == 0 || front->stress_source != 0 || front->stopping
      || front->sessions.length < front->max_sessions)
    return;
  front->stress_source = g_timeout_add_seconds (1, stress_sweep, front);
  now = g_get_monotonic_time ();
  if (front->stress_logged != 0
      && now - front->stress_logged < POSTFIX_FRONT_STRESS_NOTICE_INTERVAL * G_USEC_PER_SEC)
    return;
  front->stress_logged = now;
  g_warning ("Every session slot is taken (max_connections %u): clients that owe a command "
             "or a TLS handshake for stress_timeout (%u s) are cut, as Postfix's smtpd does "
             "under stress; raise max_connections if this is the usual load",
             front->max_sessions, front->stress_timeout);
}

/**
 * postfix_front_sessions_init:
 * @front: the front, no session running yet
 *
 * The set of running sessions, empty (postfix_front_sessions_watch).
 */
void
postfix_front_sessions_init (PostfixFront *front)
{
  g_mutex_init (&front->sessions_lock);
  g_cond_init (&front->sessions_changed);
  g_queue_init (&front->sessions);
}

/**
 * postfix_front_sessions_watch:
 * @front: the front
 * @cancellable: the listener's, cancelled at the stop (the same for every session)
 *
 * Called in the main thread before the listener accepts (front_accept_loop): connects
 * the stop's handler to @cancellable, once (one for all sessions; later calls do
 * nothing).
 */
void
postfix_front_sessions_watch (PostfixFront *front,
                              GCancellable *cancellable)
{
  gulong id;

  if (cancellable == NULL)
    return;
  g_mutex_lock (&front->sessions_lock);
  if (front->stop_watched != NULL)
    {
      g_mutex_unlock (&front->sessions_lock);
      return;
    }
  front->stop_watched = g_object_ref (cancellable);
  g_mutex_unlock (&front->sessions_lock);
  id = g_cancellable_connect (cancellable, G_CALLBACK (sessions_stop), front, NULL);
  g_mutex_lock (&front->sessions_lock);
  front->stop_id = id;
  g_mutex_unlock (&front->sessions_lock);
}

/**
 * postfix_front_sessions_clear:
 * @front: the front, no session running (the listener stopped)
 */
void
postfix_front_sessions_clear (PostfixFront *front)
{
  if (front->stop_watched != NULL && front->stop_id != 0)
    g_cancellable_disconnect (front->stop_watched, front->stop_id);
  if (front->stress_source != 0)
    g_source_remove (front->stress_source);
  front->stress_source = 0;
  g_clear_object (&front->stop_watched);
  g_cond_clear (&front->sessions_changed);
  g_mutex_clear (&front->sessions_lock);
}

/* The client's address and port (as accept(2) gave it) and, for XCLIENT's DESTADDR and
 * DESTPORT, the front's address and port it reached (getsockname(2)), an IPv4-mapped
 * address as the IPv4 one (as Postfix's smtpd converts it), no GSocketAddress and
 * GInetAddress objects per session. Its names are looked up later (up_xclient). */
static void
peer_lookup (Session *s)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len = 0;
  const struct sockaddr *peer = server_connection_get_peer (s->connection, &len);

  if (!postfix_front_peer_set_address (&s->peer, peer, len))
    s->peer.addr[0] = '\0';
  s->peer_ip = g_strdup (s->peer.addr[0] != '\0' ? s->peer.addr : "unknown");
  len = sizeof ss;
  if (!s->front->xclient || getsockname (s->fd, (struct sockaddr *) &ss, &len) != 0
      || !postfix_front_peer_set_server (&s->peer, (struct sockaddr *) &ss, len))
    s->peer.server_addr[0] = '\0';
}

/* The session's commands, one after the other, until it ends (QUIT, the client gone, an
 * error, a deadline, the stop). */
static void
session_commands (Session *s)
{
  /* Sized for the longest command (an AUTH line) up front: grown by realloc, it would
   * leave copies of an AUTH initial response behind in freed blocks. */
  g_autoptr (GString) line = g_string_sized_new (FRONT_AUTH_LINE_MAX + 1);
  g_autoptr (GString) reply = g_string_new (NULL);

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      ServerLineStatus st;
      gboolean go_on = TRUE;

      /* Command lines are wiped as they are consumed (an AUTH line carries a secret;
       * cmd_data turns it off for the message's data, no secret). Read to the AUTH
       * limit; past MSGTRK_SMTP_RCPT_LINE_MAX only AUTH may go on. */
      s->reader.wipe = TRUE;
      client_deadline_start (s, FALSE);
      st = server_line_reader_read (&s->reader, FRONT_AUTH_LINE_MAX, line, wait_cancel (s),
                                    &error);
      if (client_wait_done (s))
        {
          msgtrk_secure_wipe (line->str, line->len);
          client_stress_ended (s);
          break;
        }
      if (st == SERVER_LINE_EOF && g_cancellable_is_cancelled (s->cancel))
        {
          /* sessions_stop shut the socket's reading side down. */
          client_reply (s, "421 4.3.2 %s Shutting down", s->front->hostname);
          break;
        }
      if (st == SERVER_LINE_EOF)
        break;
      if (st == SERVER_LINE_ERROR)
        {
          if (server_line_reader_deadline_expired (&s->reader))
            g_message ("[%s] command not received within request_deadline (%u s)", s->peer_ip,
                       s->front->request_deadline);
          client_read_failed (s, st, error);
          break;
        }
      if (st == SERVER_LINE_TOO_LONG
          || (line->len > MSGTRK_SMTP_RCPT_LINE_MAX && !command_is_auth (line->str)))
        {
          msgtrk_secure_wipe (line->str, line->len);
          s->errors++;
          go_on = client_reply (s, "500 5.5.6 Line too long");
        }
      else
        {
          if (!server_line_strip_end (line))
            {
              /* An AUTH line's initial response may be in it. */
              msgtrk_secure_wipe (line->str, line->len);
              s->errors++;
              go_on = client_reply (s, "500 5.5.2 NUL character in command");
            }
          else
            {
              go_on = dispatch (s, line->str, reply);
              msgtrk_secure_wipe (line->str, line->len);
            }
        }
      if (!go_on)
        break;
      if (s->errors >= POSTFIX_FRONT_MAX_ERRORS)
        {
          client_reply (s, "421 4.7.0 %s Too many errors, closing connection",
                        s->front->hostname);
          break;
        }
      g_string_truncate (reply, 0);
    }
}

/**
 * postfix_front_session_run:
 * @front: the front's settings
 * @connection: a client connection (the listener's)
 * @cancellable: cancelled at shutdown
 *
 * Serves @connection until QUIT, EOF, an error, a timeout or shutdown.
 */
void
postfix_front_session_run (PostfixFront     *front,
                           ServerConnection *connection,
                           GCancellable     *cancellable)
{
  Session s;
  g_autoptr (GString) reply = g_string_new (NULL);

  memset (&s, 0, G_STRUCT_OFFSET (Session, reader));
  s.front = front;
  s.connection = connection;
  s.fd = server_connection_get_fd (connection);
  s.up_fd = -1;
  s.cancel = cancellable;
  s.rcpts = g_ptr_array_new_with_free_func (g_free);
  s.up_batch = g_string_new (NULL);
  s.up_pending = g_array_new (FALSE, FALSE, sizeof (UpPending));
  g_array_set_clear_func (s.up_pending, up_pending_clear);
  s.client_out = g_string_new (NULL);
  s.group_reply = g_string_new (NULL);
  s.up_line = g_string_sized_new (FRONT_AUTH_LINE_MAX + 3);
  s.data_reply = g_string_new (NULL);
  /* The listener's socket is blocking: read directly, idle_timeout its receive timeout
   * (implicit TLS reads through GIO from the start: start_tls). */
  server_line_reader_init_fd (&s.reader, s.fd, front->idle_timeout, TRUE);
  server_line_reader_set_hook (&s.reader, session_fill_hook, &s);
  peer_lookup (&s);
  FRONT_SESSION_INFO ("[%s] connect", s.peer_ip);
  /* Among the sessions a stop shuts down (sessions_stop); already stopping: its reads end
   * at once. */
  s.link.data = &s;
  g_mutex_lock (&front->sessions_lock);
  g_queue_push_tail_link (&front->sessions, &s.link);
  if (front->stopping)
    (void) shutdown (s.fd, SHUT_RD);
  stress_begin_locked (front);
  g_mutex_unlock (&front->sessions_lock);
  /* max_connections_per_client, before an upstream link is spent on the session (as
   * Postfix's smtpd_client_connection_count_limit, and its reply). On implicit TLS the
   * reply needs a handshake (Postfix's wrapper mode too does it first): a short one,
   * one per address at a time; another past the limit meanwhile is closed at once
   * (docs/postfix-site.md, "Clients that hold sessions"). */
  if (!client_count_take (&s))
    {
      gboolean tell = !front->implicit_tls;

      if (front->implicit_tls && client_refusal_take (&s))
        tell = start_tls (&s, MIN (front->tls_handshake_timeout,
                                   POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT));
      g_message ("[%s] too many connections from %s (max_connections_per_client %u)%s",
                 s.peer_ip,
                 g_strcmp0 (s.client_key, s.peer_ip) == 0 ? "this address" : s.client_key,
                 front->max_connections_per_client, tell ? "" : ", closed without a reply");
      if (tell)
        client_reply (&s, "421 4.7.0 %s Error: too many connections from %s",
                      front->hostname, s.peer_ip);
      goto out;
    }
  if (front->implicit_tls && !start_tls (&s, front->tls_handshake_timeout))
    goto out;
  /* A session that came during the stop's wait (FRONT_STOP_REPLY_WAIT_MS) ends before it
   * spends a name lookup (and a pool thread) on its client; one the stop comes to during
   * the lookup, after it. */
  if (!g_cancellable_is_cancelled (s.cancel))
    peer_names (&s);
  if (g_cancellable_is_cancelled (s.cancel))
    {
      client_reply (&s, "421 4.3.2 %s Shutting down", front->hostname);
      goto out;
    }
  if (!up_connect (&s, reply))
    {
      client_reply (&s, "421 4.3.2 %s Service not available, try again later",
                    front->hostname);
      goto out;
    }
  /* The greeting now, before the XCLIENT round trip. */
  if (!client_write (&s, reply->str, reply->len) || !client_flush (&s, NULL))
    goto out;
  s.greeted = TRUE;
  if (!up_xclient (&s))
    goto out; /* the client heard 421 (up_lost) */

  session_commands (&s);

out:
  client_flush (&s, NULL);
  /* Out of the stop's reach before anything of it goes (sessions_stop looks at the
   * sessions under the lock only). */
  g_mutex_lock (&front->sessions_lock);
  g_queue_unlink (&front->sessions, &s.link);
  if (front->stopping) /* its one waiter: sessions_stop (dot_wait_set) */
    g_cond_broadcast (&front->sessions_changed);
  g_mutex_unlock (&front->sessions_lock);
  postfix_front_fd_close (s.up_fd);
  s.up_fd = -1;
  g_free (s.up_reader);
  /* Under TLS a thread ran the session (implicit TLS: all of it; after STARTTLS:
   * session_tls_in_thread, which closed it). */
  session_tls_close (&s);
  g_clear_object (&s.deadline_cancel);
  g_clear_object (&s.tls_cancel);
  transaction_reset (&s);
  client_count_drop (&s);
  client_refusal_drop (&s);
  /* The client has gone: one warm connection for a later session (no wake-up of the
   * pool's thread, no wait for Postfix's greeting). */
  if (front->pool != NULL && !g_cancellable_is_cancelled (s.cancel))
    postfix_front_pool_refill (front->pool);
  g_ptr_array_unref (s.rcpts);
  g_string_free (s.up_batch, TRUE);
  g_array_unref (s.up_pending);
  g_string_free (s.client_out, TRUE);
  g_string_free (s.group_reply, TRUE);
  g_string_free (s.up_line, TRUE);
  g_string_free (s.data_reply, TRUE);
  FRONT_SESSION_INFO ("[%s] disconnect", s.peer_ip);
  g_free (s.peer_ip);
  postfix_front_peer_clear (&s.peer);
  /* The listener closes it (server_listener_release, next in this coroutine: front_session):
   * the loop forgets it first, without EPOLL_CTL_DEL (server_coro_forget_closing_fd()).
   * Still registered here means no duplicate: the only one, the TLS stream's, is made in
   * the TLS thread after session_tls_in_thread forgot it with the DEL (nothing of the
   * session waits in the loop after). */
  if (server_coro_in_loop ())
    server_coro_forget_closing_fd (s.fd);
}
