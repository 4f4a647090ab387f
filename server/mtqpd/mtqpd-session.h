/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqpd-session.h: one MTQP (RFC 3887) session of mtqpd, run on a connected stream.
 *
 * The server side of the protocol: greeting with options, TRACK, STARTTLS, COMMENT,
 * QUIT, pipelining, the 998-octet line limit and the idle timer.
 *
 * Worker model (docs/mtqp-server.md, "Sessions and threads"): sessions are event-driven
 * (MtqpdLoop): non-blocking sockets in one epoll set watched by one thread, and a bounded
 * pool of workers that run a session while it has whole commands to answer; no thread
 * per connection. A session that starts TLS (OpenSSL's stream blocks) and every session
 * of a chaining server (next hops are asked with blocking I/O) run in a thread of their
 * own instead.
 */
#pragma once

#include <gio/gio.h>

#include "msgtrk-tls-private.h"
#include "mtqpd-answer.h"
#include "mtqpd-chain.h"
#include "server-listener.h"
#include "track-store.h"

G_BEGIN_DECLS

/** MTQPD_MAX_LINE: octets in a command line before CRLF (RFC 3887 section 2.2). */
#define MTQPD_MAX_LINE 998
/** MTQPD_DEFAULT_IDLE_TIMEOUT: seconds without a command before the server closes. */
#define MTQPD_DEFAULT_IDLE_TIMEOUT 600
/** MTQPD_MIN_IDLE_TIMEOUT: RFC 3887 section 2.4: an idle timer is at least 10 minutes. */
#define MTQPD_MIN_IDLE_TIMEOUT 600
/** MTQPD_MAX_IDLE_TIMEOUT: the largest idle timeout accepted in the configuration. */
#define MTQPD_MAX_IDLE_TIMEOUT 86400

typedef struct _MtqpdLoop MtqpdLoop;

/* What every session shares; read-only once the server runs. */
typedef struct
{
  const char *hostname;            /* shown in the greeting */
  TrackStore *store;
  MsgtrkTlsContext *tls;           /* (nullable): STARTTLS offered when set */
  guint idle_timeout;              /* seconds */
  MtqpdChain *chain;               /* (nullable): chaining referrals when set */
  MtqpdAnswerCache *answers;       /* built TRACK answers (mtqpd-answer.h) */
  MtqpdLoop *loop;                 /* (nullable) event-driven sessions; NULL: a thread each */
} MtqpdServer;

/** MTQPD_MAX_WORKERS: most worker threads of the event loop ([mtqpd] workers). */
#define MTQPD_MAX_WORKERS 32
/* The default (workers=0): MTQPD_WORKERS_PER_CPU per CPU, at least
 * MTQPD_MIN_DEFAULT_WORKERS (a worker blocks on a file read; on PostgreSQL not at all:
 * the store answers TRACKs asynchronously). */
#define MTQPD_WORKERS_PER_CPU 2
#define MTQPD_MIN_DEFAULT_WORKERS 4

MtqpdLoop *mtqpd_loop_new      (guint              workers,
                                GError           **error);
void       mtqpd_loop_free     (MtqpdLoop         *loop);
void       mtqpd_session_join_threads (void);
void       mtqpd_session_start (MtqpdServer       *server,
                                ServerConnection  *connection,
                                GCancellable      *cancellable);

G_END_DECLS
