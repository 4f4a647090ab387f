/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-config.h: msgtrk-relay's configuration (msgtrk-relay.conf(5)) and its [routes] table.
 *
 * Loaded through server-config.h (the bounded reader both servers share); every number is
 * range-checked when read. Layer: bottom (uses relay-queue.h for its limit only).
 */
#pragma once

#include <gio/gio.h>
#include <msgtrk.h>

#include "relay-queue.h"

G_BEGIN_DECLS

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
  guint delivery_workers;   /* [queue] workers; default relay_config_default_workers() */
  guint connection_cache_time; /* [queue] seconds an idle session to a next hop stays open */
  guint connection_reuse_max;  /* [queue] messages per session to a next hop */
  guint max_queue_messages;  /* [queue] max_messages: accepted beyond it: 452 4.3.1 */
  char *user;
  GPtrArray *routes;       /* (element-type RelayRoute) */
  GKeyFile *kf;            /* (owned) the file, for [store] (opened after the drop) */
  char *push_server;       /* [push] server: receiver ADDRESS:PORT; NULL: no push */
  guint push_key_id;       /* [push] key_id */
  char *push_key_file;     /* [push] key_file (owner-only) */
  gboolean push_local;     /* [push] mode=both: also write the local store */
} RelayConfig;

RelayConfig      *relay_config_read         (GKeyFile    *kf,
                                             const char  *path,
                                             GError     **error);
void              relay_config_free         (RelayConfig *config);
const RelayRoute *relay_config_find_route   (RelayConfig *config,
                                             const char  *address);
gboolean          relay_route_parse         (const char  *domain,
                                             const char  *value,
                                             RelayRoute **route,
                                             GError     **error);
void              relay_route_free          (RelayRoute  *route);
char             *relay_address_domain      (const char  *address);
char             *relay_route_hop_key       (const RelayRoute *route);
guint             relay_config_default_workers (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RelayConfig, relay_config_free)

G_END_DECLS
