/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-relay-common.h: what the bench relays (bench-relay-threads, -epoll, -gio,
 * -epoll-lockstep) share: options, the listening socket and its port file, the upstream
 * connect, and the lockstep tracker.
 *
 * What: each relay is run as `EXE --port-file FILE --upstream 127.0.0.1:PORT`, listens on
 * 127.0.0.1:0 and writes its port (and a newline) to FILE once it accepts.
 * The lockstep tracker (BenchLockstep) knows just enough SMTP to tell whose turn it is:
 * every client line outside DATA owes one final reply (a reply line without '-' after its
 * code), a final 354 starts the DATA content, which ends at CRLF.CRLF and owes one reply.
 * The greeting is owed first.
 * Limits: BENCH_RELAY_BACKLOG pending connections, BENCH_RELAY_BUFFER_SIZE octets read at
 * once, BENCH_RELAY_IDLE_TIMEOUT_S on blocking waits. Bench code: IPv4 loopback only.
 * Never: parse anything else of SMTP, log what it relays.
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <netinet/in.h>

#define BENCH_RELAY_BACKLOG 1024
#define BENCH_RELAY_BUFFER_SIZE 16384
#define BENCH_RELAY_IDLE_TIMEOUT_S 60

typedef struct
{
  char              *port_file; /* (owned) */
  struct sockaddr_in upstream;
} BenchRelayConfig;

gboolean        bench_relay_parse_args (int              *argc,
                                        char           ***argv,
                                        const char       *summary,
                                        BenchRelayConfig *cfg,
                                        GError          **error);
void            bench_relay_config_clear (BenchRelayConfig *cfg);
int             bench_relay_listen (gboolean nonblocking, guint16 *port, GError **error);
gboolean        bench_relay_write_port (const BenchRelayConfig *cfg, guint16 port, GError **error);
int             bench_relay_connect (const BenchRelayConfig *cfg, gboolean nonblocking);
void            bench_relay_nodelay (int fd);
GSocketService *bench_relay_gio_service (const BenchRelayConfig *cfg, GError **error);
GSocketClient  *bench_relay_gio_connector (void);

typedef struct
{
  int      replies_due; /* final replies the upstream still owes the client */
  gboolean in_data;     /* the client is sending DATA content */
  int      data_state;  /* how much of CRLF.CRLF was seen (0-4) */
  int      reply_col;   /* octets of the current reply line seen */
  int      reply_code;  /* its code, from the first three octets */
  gboolean reply_more;  /* its fourth octet was '-' */
} BenchLockstep;

void bench_lockstep_init (BenchLockstep *ls);
void bench_lockstep_client (BenchLockstep *ls, const char *buf, gsize len);
void bench_lockstep_upstream (BenchLockstep *ls, const char *buf, gsize len);
