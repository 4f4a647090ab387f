/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-relay-common.c: options, sockets and the lockstep tracker of the bench relays
 * (bench-relay-common.h has the What/Limits/Never).
 */
#include "bench-relay-common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

gboolean
bench_relay_parse_args (int              *argc,
                        char           ***argv,
                        const char       *summary,
                        BenchRelayConfig *cfg,
                        GError          **error)
{
  g_autofree char *upstream = NULL;
  GOptionEntry     entries[] = {
        { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &cfg->port_file, "Write the listening port to FILE",
          "FILE" },
        { "upstream", 0, 0, G_OPTION_ARG_STRING, &upstream, "Relay to 127.0.0.1:PORT", "ADDR:PORT" },
        G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autofree char *host = NULL;
  const char      *colon;
  guint64          port;

  memset (cfg, 0, sizeof *cfg);
  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, error))
    return FALSE;
  colon = upstream ? strrchr (upstream, ':') : NULL;
  if (cfg->port_file == NULL || colon == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--port-file and --upstream ADDR:PORT are needed");
      return FALSE;
    }
  host = g_strndup (upstream, colon - upstream);
  cfg->upstream.sin_family = AF_INET;
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 1, G_MAXUINT16, &port, error))
    return FALSE;
  cfg->upstream.sin_port = htons ((guint16)port);
  if (inet_pton (AF_INET, host, &cfg->upstream.sin_addr) != 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--upstream: %s is not an IPv4 address", host);
      return FALSE;
    }
  return TRUE;
}

void
bench_relay_config_clear (BenchRelayConfig *cfg)
{
  g_clear_pointer (&cfg->port_file, g_free);
}

/* A socket listening on 127.0.0.1 at a port the kernel chose (returned in @port). */
int
bench_relay_listen (gboolean nonblocking, guint16 *port, GError **error)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t          len = sizeof sin;
  int                one = 1;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);

  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
      || bind (fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen (fd, BENCH_RELAY_BACKLOG) < 0
      || getsockname (fd, (struct sockaddr *)&sin, &len) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "listen: %s",
                   g_strerror (saved));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  *port = ntohs (sin.sin_port);
  return fd;
}

gboolean
bench_relay_write_port (const BenchRelayConfig *cfg, guint16 port, GError **error)
{
  g_autofree char *text = g_strdup_printf ("%u\n", port);

  return g_file_set_contents (cfg->port_file, text, -1, error);
}

void
bench_relay_nodelay (int fd)
{
  int one = 1;

  /* As the front's listener: a reply goes out at once. */
  (void)setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A new connection to the upstream: connected (blocking), or under way (EINPROGRESS) when
 * @nonblocking; -1 on failure. */
int
bench_relay_connect (const BenchRelayConfig *cfg, gboolean nonblocking)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);

  if (fd < 0)
    return -1;
  bench_relay_nodelay (fd);
  if (connect (fd, (const struct sockaddr *)&cfg->upstream, sizeof cfg->upstream) < 0
      && !(nonblocking && errno == EINPROGRESS))
    {
      close (fd);
      return -1;
    }
  return fd;
}

void
bench_lockstep_init (BenchLockstep *ls)
{
  memset (ls, 0, sizeof *ls);
  ls->replies_due = 1; /* the greeting */
}

/* Octets from the client: each line outside DATA owes a reply, so does CRLF.CRLF. */
void
bench_lockstep_client (BenchLockstep *ls, const char *buf, gsize len)
{
  for (gsize i = 0; i < len; i++)
    {
      char c = buf[i];

      if (!ls->in_data)
        {
          if (c == '\n')
            ls->replies_due++;
          continue;
        }
      /* data_state: 1 CR, 2 CRLF, 3 CRLF".", 4 CRLF"."CR */
      if (c == '\r')
        ls->data_state = ls->data_state == 3 ? 4 : 1;
      else if (c == '\n' && ls->data_state == 4)
        {
          ls->in_data = FALSE;
          ls->replies_due++;
        }
      else if (c == '\n')
        ls->data_state = ls->data_state == 1 ? 2 : 0;
      else
        ls->data_state = c == '.' && ls->data_state == 2 ? 3 : 0;
    }
}

/* Octets from the upstream: a final reply line pays one reply; a final 354 starts DATA. */
void
bench_lockstep_upstream (BenchLockstep *ls, const char *buf, gsize len)
{
  for (gsize i = 0; i < len; i++)
    {
      char c = buf[i];

      if (c == '\n')
        {
          if (!ls->reply_more && ls->replies_due > 0)
            ls->replies_due--;
          if (!ls->reply_more && ls->reply_code == 354)
            {
              ls->in_data = TRUE;
              ls->data_state = 2; /* the DATA line's CRLF */
            }
          ls->reply_col = ls->reply_code = 0;
          ls->reply_more = FALSE;
          continue;
        }
      if (ls->reply_col < 3 && g_ascii_isdigit (c))
        ls->reply_code = ls->reply_code * 10 + (c - '0');
      else if (ls->reply_col == 3)
        ls->reply_more = c == '-';
      ls->reply_col++;
    }
}

/* The GIO relays' listener: bench_relay_listen() under a GSocketService, its port
 * written; NULL with @error. */
GSocketService *
bench_relay_gio_service (const BenchRelayConfig *cfg, GError **error)
{
  g_autoptr (GSocketService) service = NULL;
  g_autoptr (GSocket) listener = NULL;
  guint16 port;
  int     fd = bench_relay_listen (TRUE, &port, error);

  if (fd < 0)
    return NULL;
  listener = g_socket_new_from_fd (fd, error);
  if (listener == NULL)
    {
      close (fd);
      return NULL;
    }
  service = g_socket_service_new ();
  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (service), listener, NULL, error)
      || !bench_relay_write_port (cfg, port, error))
    return NULL;
  return g_steal_pointer (&service);
}

/* The GIO relays' upstream connector: as the front's pool, no proxy lookup (a thread and
 * file reads per connect). */
GSocketClient *
bench_relay_gio_connector (void)
{
  GSocketClient *connector = g_socket_client_new ();

  g_socket_client_set_enable_proxy (connector, FALSE);
  return connector;
}
