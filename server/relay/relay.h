/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay.h: internal interfaces of msgtrk-relay, the reference SMTP relay (RFC 5321 with
 * DSN, RFC 3461, and MTRK, RFC 3885).
 *
 * Modules (one prefix per file):
 *   relay-config.c  relay_config_*   the GKeyFile configuration and the [routes] table
 *   relay-queue.c   relay_queue_*    the crash-safe on-disk queue and the delivery scheduler
 *                   relay_message_*  one queued message's envelope (the .env file)
 *   relay-smtp.c    relay_smtp_*     the SMTP server session (one thread per connection)
 *   relay-client.c  relay_client_*   the SMTP client towards a next hop
 *   relay-deliver.c relay_deliver_*  routing, local Maildir delivery, tracking records
 *   relay-dsn.c     relay_dsn_*      delivery status notifications built with GMime
 *
 * Never: log an authenticator together with its ENVID in one line, or anything derived from
 * a tracking secret (the relay never sees A); reply 250 to DATA before the message and its
 * envelope are on disk (fsync'ed file and directory).
 */
#pragma once

#include <gio/gio.h>
#include <msgtrk.h>

#include "track-store.h"

G_BEGIN_DECLS

/** RELAY_TEXT_LINE_MAX: longest message text line, CRLF included (RFC 5321 4.5.3.1.6). */
#define RELAY_TEXT_LINE_MAX 1000
/** RELAY_MAX_RECEIVED: Received: headers after which a message is a mail loop. */
#define RELAY_MAX_RECEIVED 50
/** RELAY_ADDRESS_MAX: longest accepted path (RFC 5321 4.5.3.1.3), brackets excluded. */
#define RELAY_ADDRESS_MAX 254
/** RELAY_QUEUE_MAX_MESSAGES: largest queue: scanned at start-up, and the default and
 * upper bound of [queue] max_messages, the cap on messages accepted (452 4.3.1 beyond). */
#define RELAY_QUEUE_MAX_MESSAGES 100000

typedef enum {
  RELAY_ROUTE_LOCAL,
  RELAY_ROUTE_SMTP,
  RELAY_ROUTE_ERROR,
} RelayRouteKind;

typedef struct
{
  RelayRouteKind kind;
  char *domain;     /* (owned) lower case, or "*" */
  char *path;       /* (owned) (nullable) local: Maildir root overriding maildir_root */
  char *host;       /* (owned) smtp: next hop */
  guint16 port;     /* smtp: next hop port */
  char *status;     /* (owned) error: enhanced status code, e.g. "5.1.2" */
  char *text;       /* (owned) error: text for the Diagnostic-Code */
  gboolean opaque;  /* smtp: hide what lies beyond (Action: opaque, no Remote-MTA) */
} RelayRoute;

typedef struct
{
  char *hostname;
  char *state_dir;
  char *maildir_root;
  char *listen;            /* ADDR:PORT */
  guint64 max_message_size;
  guint max_recipients;
  guint max_connections;
  guint connection_wait;   /* seconds a connection over max_connections waits */
  guint idle_timeout;      /* seconds, server side */
  guint connect_timeout;   /* seconds, client side */
  guint command_timeout;   /* seconds, client side */
  char *tls_cert;
  char *tls_key;
  char *ca_file;
  gboolean offer_mtrk;
  gboolean offer_dsn;
  gboolean reverse_dns;
  guint retry_first;
  double retry_factor;
  guint retry_max_interval;
  guint max_queue_lifetime;
  guint mtrk_max_timeout;
  guint delivery_workers;
  guint max_queue_messages;  /* [queue] max_messages: accepted beyond it: 452 4.3.1 */
  char *user;
  GPtrArray *routes;       /* (element-type RelayRoute) */
} RelayConfig;

RelayConfig      *relay_config_load         (const char  *path,
                                             GError     **error);
void              relay_config_free         (RelayConfig *config);
const RelayRoute *relay_config_find_route   (RelayConfig *config,
                                             const char  *address);
gboolean          relay_route_parse         (const char  *domain,
                                             const char  *value,
                                             RelayRoute **route,
                                             GError     **error);
void              relay_route_free          (RelayRoute  *route);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RelayConfig, relay_config_free)

/* relay-queue.c: one queued message */
typedef struct
{
  char *address;          /* (owned) forward-path without brackets */
  MsgtrkDsnNotify notify;
  char *orcpt;            /* (owned) (nullable) decoded "type;address" */
  gboolean final;         /* no more attempts */
  MsgtrkAction action;    /* MSGTRK_ACTION_NONE until the first attempt */
  char *status;           /* (owned) (nullable) enhanced status code */
  char *remote_mta;       /* (owned) (nullable) */
  char *diagnostic;       /* (owned) (nullable) "smtp; 550 ..." */
  gint64 last_attempt;    /* unix seconds, 0 = none */
  gint64 next_attempt;    /* unix seconds */
  guint attempts;
  gboolean delay_notified;
} RelayRecipient;

typedef struct
{
  char *id;               /* (owned) queue id */
  char *sender;           /* (owned) reverse-path, "" for the null sender */
  char *envid;            /* (owned) (nullable) decoded ENVID */
  char *authenticator;    /* (owned) (nullable) MTRK B */
  guint mtrk_timeout;
  gint64 arrival;         /* unix seconds */
  MsgtrkDsnRet ret;
  gboolean body_8bit;
  gboolean is_dsn;        /* a DSN we made: never report about it */
  GPtrArray *rcpts;       /* (element-type RelayRecipient) */
  gboolean busy;          /* scheduler: a worker holds it */
} RelayMessage;

RelayRecipient *relay_recipient_new         (const char *address);
void            relay_recipient_free        (RelayRecipient *rcpt);
RelayMessage   *relay_message_new           (void);
void            relay_message_free          (RelayMessage *msg);
gboolean        relay_message_is_tracked    (RelayMessage *msg);
gboolean        relay_message_is_done       (RelayMessage *msg);
gint64          relay_message_next_due      (RelayMessage *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RelayMessage, relay_message_free)

typedef struct _RelayServer RelayServer;
typedef struct _RelayQueue RelayQueue;

RelayQueue *relay_queue_new          (RelayServer  *server,
                                      GError      **error);
void        relay_queue_free         (RelayQueue   *queue);
char       *relay_queue_new_id       (void);
char       *relay_queue_tmp_path     (RelayQueue   *queue,
                                      const char   *id);
char       *relay_queue_msg_path     (RelayQueue   *queue,
                                      const char   *id);
gboolean    relay_queue_scan         (RelayQueue   *queue,
                                      GError      **error);
gboolean    relay_queue_commit       (RelayQueue   *queue,
                                      RelayMessage *msg,
                                      const char   *tmp_msg_path,
                                      GError      **error);
gboolean    relay_queue_save         (RelayQueue   *queue,
                                      RelayMessage *msg,
                                      GError      **error);
void        relay_queue_schedule     (RelayQueue   *queue,
                                      RelayMessage *msg);
void        relay_queue_remove_files (RelayQueue   *queue,
                                      RelayMessage *msg);
gboolean    relay_queue_has_room     (RelayQueue   *queue);
gboolean    relay_queue_reserve      (RelayQueue   *queue);
void        relay_queue_release      (RelayQueue   *queue);
void        relay_queue_start        (RelayQueue   *queue);
void        relay_queue_stop         (RelayQueue   *queue);

struct _RelayServer
{
  RelayConfig *config;
  RelayQueue *queue;
  TrackStore *track_store;
  GMutex track_lock;       /* serialises read-merge-write of tracking records */
  gpointer tls_server;    /* MsgtrkTlsContext, nullable */
  gpointer tls_client;    /* MsgtrkTlsContext, nullable */
  GCancellable *shutdown;  /* cancelled at shutdown: outgoing connections */
};

/* relay-smtp.c */
void      relay_smtp_session_run  (RelayServer       *server,
                                   GSocketConnection *connection,
                                   GCancellable      *cancellable);

/* relay-client.c: one transaction to a next hop */
typedef struct
{
  guint code;             /* 0: no answer (connection failure) */
  char *status;           /* (owned) enhanced code from the reply, or a default */
  char *diagnostic;       /* (owned) "smtp; 550 5.1.1 ..." */
} RelayRcptOutcome;

typedef struct
{
  gboolean offered_mtrk;
  gboolean offered_dsn;
  char *remote_domain;    /* (owned) the next hop's EHLO domain */
  RelayRcptOutcome *outcomes; /* one per recipient asked */
} RelayClientResult;

void      relay_client_result_clear (RelayClientResult *result);
void      relay_client_deliver      (RelayServer       *server,
                                     RelayMessage      *msg,
                                     const RelayRoute  *route,
                                     GPtrArray         *rcpts,
                                     RelayClientResult *result);

/* relay-deliver.c */
void      relay_deliver_message     (RelayServer  *server,
                                     RelayMessage *msg);
MsgtrkReport *relay_deliver_build_report (RelayServer     *server,
                                          RelayMessage    *msg,
                                          MsgtrkReportKind kind,
                                          GPtrArray       *rcpts);

/* relay-dsn.c */
gboolean  relay_dsn_send            (RelayServer  *server,
                                     RelayMessage *msg,
                                     GPtrArray    *rcpts,
                                     GError      **error);

/* shared helpers */
char     *relay_address_domain      (const char *address);
char     *relay_format_date         (gint64      unix_seconds);

G_END_DECLS
