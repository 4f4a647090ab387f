/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-client.c: SMTP transactions from msgtrk-relay to a next hop, over sessions kept
 * open between messages.
 *
 * connect -> 220 -> EHLO (HELO if refused) -> STARTTLS if offered and a CA file is
 * configured -> EHLO again; then per message: MAIL FROM (ENVID/RET if the hop offered DSN,
 * MTRK=B:remaining if it offered MTRK and DSN, BODY) -> RCPT TO per recipient (if DSN: the
 * NOTIFY and ORCPT received, passed on unchanged; built by
 * msgtrk_envelope_build_rcpt_to_arg_full()) -> DATA (dot-stuffed). With PIPELINING
 * offered (RFC 2920) MAIL, the RCPTs and DATA go in one write (at most
 * RELAY_CLIENT_PIPELINE_MAX commands before their replies are read), otherwise one at a
 * time.
 *
 * Session reuse (a connection cache per delivery worker, RelayClientCache, as Postfix's
 * smtp_connection_cache_on_demand does per process): after a transaction that ended in a
 * known state, the session stays open for [queue] connection_cache_time seconds and at
 * most connection_reuse_max messages; the next message to the same hop ("HOST:PORT")
 * starts with RSET (in the same write as MAIL/RCPT/DATA when pipelining: no extra round
 * trip), and if RSET gets no 250 (the hop closed, 421, a timeout) the session is
 * dropped and the message goes over a new one: nothing of it counted on the old one. A failure inside a
 * transaction (dropped connection, timeout) defers every recipient without a 5xx answer
 * (4.4.1); a 421 or any broken reply closes the session. Otherwise QUIT.
 *
 * TLS policy (opportunistic, documented in msgtrk-relay(8)): if the hop offers STARTTLS and
 * the certificate does not verify against [tls] ca_file, the relay logs a warning,
 * reconnects and delivers without TLS. Without a CA file STARTTLS is not attempted.
 *
 * Outcomes per recipient: code 0 (no answer: connection failure, a temporary failure),
 * 2xx, 4xx, 5xx with the reply text as Diagnostic-Code "smtp; <reply>".
 * Limits: replies of at most MSGTRK_EHLO_MAX_LINES lines of MSGTRK_SMTP_REPLY_LINE_MAX.
 * Never: send MTRK to a hop that did not offer it.
 */
#include "relay-client.h"
#include "server-line-reader.h"

#include <stdio.h>
#include <string.h>

#include "msgtrk-dot-private.h"
#include "msgtrk-private.h"
#include "msgtrk-tls-private.h"

/** RELAY_CLIENT_PIPELINE_MAX: most commands sent before their replies are read (with
 * PIPELINING), so neither side's buffers fill with unread replies. */
#define RELAY_CLIENT_PIPELINE_MAX 100

typedef struct
{
  RelayServer *server;
  GSocketConnection *connection;
  GIOStream *tls;
  GInputStream *in;
  GOutputStream *out;
  ServerLineReader reader;
  MsgtrkSmtpCapabilities *caps; /* (owned) (nullable) once greeted */
  char *hop;                    /* (owned) "HOST:PORT" */
  char *host;                   /* (owned) the route's HOST */
  guint messages;               /* transactions run on this session */
  gint64 idle_since;            /* monotonic µs, while cached */
} Client;

struct _RelayClientCache
{
  RelayServer *server;
  Client *client;               /* (owned) (nullable) the open session */
};

static void
client_close (Client *c)
{
  if (c->tls != NULL)
    g_io_stream_close (c->tls, NULL, NULL);
  g_clear_object (&c->tls);
  if (c->connection != NULL)
    g_io_stream_close (G_IO_STREAM (c->connection), NULL, NULL);
  g_clear_object (&c->connection);
}

static void
client_free (Client *c)
{
  if (c == NULL)
    return;
  client_close (c);
  g_clear_object (&c->caps);
  g_free (c->hop);
  g_free (c->host);
  g_free (c);
}

/* Read one reply; @text gets the raw lines (CRLF), *@code its code. */
static gboolean
read_reply (Client   *c,
            guint    *code,
            GString  *text,
            GError  **error)
{
  g_autoptr (GString) line = g_string_new (NULL);

  g_string_truncate (text, 0);
  for (guint n = 0; n < MSGTRK_EHLO_MAX_LINES; n++)
    {
      ServerLineStatus st = server_line_reader_read (&c->reader, MSGTRK_SMTP_REPLY_LINE_MAX, line,
                                                   c->server->shutdown, error);
      guint64 value = 0;
      g_autofree char *digits = NULL;

      if (st == SERVER_LINE_ERROR)
        return FALSE;
      if (st == SERVER_LINE_EOF)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL, "connection closed");
          return FALSE;
        }
      if (st == SERVER_LINE_TOO_LONG || line->len < 4)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL, "malformed reply line");
          return FALSE;
        }
      digits = g_strndup (line->str, 3);
      if (!g_ascii_string_to_unsigned (digits, 10, 200, 599, &value, NULL)
          || (line->str[3] != ' ' && line->str[3] != '-' && line->str[3] != '\r'
              && line->str[3] != '\n'))
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL, "malformed reply line");
          return FALSE;
        }
      if (n > 0 && value != *code)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL, "mixed reply codes");
          return FALSE;
        }
      *code = (guint) value;
      g_string_append (text, line->str);
      if (line->str[3] != '-')
        return TRUE;
    }
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT, "reply longer than %d lines",
               MSGTRK_EHLO_MAX_LINES);
  return FALSE;
}

static gboolean
send_line (Client     *c,
           const char *line,
           GError    **error)
{
  g_autofree char *data = g_strconcat (line, "\r\n", NULL);

  return g_output_stream_write_all (c->out, data, strlen (data), NULL, c->server->shutdown, error)
         && g_output_stream_flush (c->out, c->server->shutdown, error);
}

/* QUIT (its reply read, whatever it is), close, free. */
static void
client_quit (Client *c)
{
  guint code = 0;
  g_autoptr (GString) text = g_string_new (NULL);

  if (c == NULL)
    return;
  if (c->connection != NULL && send_line (c, "QUIT", NULL))
    read_reply (c, &code, text, NULL);
  client_free (c);
}

static gboolean
command (Client     *c,
         const char *line,
         guint      *code,
         GString    *text,
         GError    **error)
{
  return send_line (c, line, error) && read_reply (c, code, text, error);
}

/* The reply as a one-line diagnostic: "smtp; 550 5.1.1 text" (continuation lines joined). */
static char *
diagnostic_of (GString *text)
{
  g_autoptr (GString) out = g_string_new ("smtp; ");
  g_auto (GStrv) lines = g_strsplit (text->str, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *l = g_strstrip (lines[i]);
      if (*l == '\0')
        continue;
      if (i > 0)
        {
          g_string_append_c (out, ' ');
          l += MIN (strlen (l), 4u);
        }
      else if (strlen (l) > 3)
        l[3] = ' ';
      for (const char *p = l; *p != '\0'; p++)
        g_string_append_c (out, ((guchar) *p < 0x20 || (guchar) *p >= 0x7f) ? '?' : *p);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The enhanced status code of a reply ("550 5.1.1 ..."), or a default for its class. */
static char *
status_of (guint    code,
           GString *text)
{
  const char *p = text->str + MIN (text->len, 4u);
  guint cls, subj, det;
  char extra;

  if (sscanf (p, "%1u.%3u.%3u%c", &cls, &subj, &det, &extra) >= 3 && cls == code / 100)
    return g_strdup_printf ("%u.%u.%u", cls, subj, det);
  return g_strdup_printf ("%u.0.0", code / 100);
}

static void
set_all (RelayClientResult *result,
         GPtrArray         *rcpts,
         guint              code,
         const char        *status,
         const char        *diagnostic)
{
  for (guint i = 0; i < rcpts->len; i++)
    {
      RelayRcptOutcome *o = &result->outcomes[i];

      g_free (o->status);
      g_free (o->diagnostic);
      o->code = code;
      o->status = g_strdup (status);
      o->diagnostic = g_strdup (diagnostic);
    }
}

static gboolean
client_connect (Client           *c,
                const RelayRoute *route,
                GError          **error)
{
  g_autoptr (GSocketClient) sc = g_socket_client_new ();

  g_socket_client_set_timeout (sc, c->server->config->connect_timeout);
  /* Mail goes to the next hop itself, never through a proxy from the environment (and
   * the proxy lookup cost a parse of /etc/services per connection). */
  g_socket_client_set_enable_proxy (sc, FALSE);
  c->connection = g_socket_client_connect_to_host (sc, route->host, route->port,
                                                   c->server->shutdown, error);
  if (c->connection == NULL)
    return FALSE;
  g_socket_set_timeout (g_socket_connection_get_socket (c->connection),
                        c->server->config->command_timeout);
  c->in = g_io_stream_get_input_stream (G_IO_STREAM (c->connection));
  c->out = g_io_stream_get_output_stream (G_IO_STREAM (c->connection));
  server_line_reader_init (&c->reader, c->in, FALSE);
  return TRUE;
}

static MsgtrkSmtpCapabilities *
hello (Client   *c,
       guint    *code,
       GString  *text,
       GError  **error)
{
  g_autofree char *ehlo = g_strdup_printf ("EHLO %s", c->server->config->hostname);
  g_autofree char *helo = g_strdup_printf ("HELO %s", c->server->config->hostname);

  if (!command (c, ehlo, code, text, error))
    return NULL;
  if (*code == 250)
    return msgtrk_smtp_capabilities_parse_data (text->str, text->len, error);
  if (!command (c, helo, code, text, error))
    return NULL;
  if (*code != 250)
    return NULL;
  return msgtrk_smtp_capabilities_new_from_keywords (NULL);
}

void
relay_client_result_clear (RelayClientResult *result)
{
  g_free (result->remote_domain);
  result->remote_domain = NULL;
}

/* Mail dot-stuffed message data from the queue file, or from memory while the session
 * that accepted it left the text there (RelayMessage.body, first attempt: the lines are
 * the ones it wrote to the file, CRLF, none over RELAY_TEXT_LINE_MAX); FALSE on a local
 * or network error. */
static gboolean
send_data (Client       *c,
           RelayMessage *msg,
           GError      **error)
{
  g_autofree char *path = NULL;
  g_autoptr (GFile) file = NULL;
  g_autoptr (GFileInputStream) fin = NULL;
  g_autoptr (GString) out = NULL;
  g_autoptr (GString) line = NULL;
  ServerLineReader reader;

  if (msg->body != NULL)
    {
      gsize len = 0;
      const char *data = g_bytes_get_data (msg->body, &len);

      out = g_string_sized_new (len + len / 64 + 8);
      msgtrk_dot_stuff (out, data, len, 0, NULL);
      msgtrk_dot_end (out);
      return g_output_stream_write_all (c->out, out->str, out->len, NULL, c->server->shutdown,
                                        error)
             && g_output_stream_flush (c->out, c->server->shutdown, error);
    }
  path = relay_queue_msg_path (c->server->queue, msg->id);
  file = g_file_new_for_path (path);
  fin = g_file_read (file, c->server->shutdown, error);
  out = g_string_new (NULL);
  line = g_string_new (NULL);
  if (fin == NULL)
    return FALSE;
  if (!g_seekable_seek (G_SEEKABLE (fin), (goffset) msg->body_offset, G_SEEK_SET,
                        c->server->shutdown, error))
    return FALSE;
  server_line_reader_init (&reader, G_INPUT_STREAM (fin), FALSE);
  for (;;)
    {
      ServerLineStatus st = server_line_reader_read (&reader, RELAY_TEXT_LINE_MAX + 2, line,
                                                   c->server->shutdown, error);
      if (st == SERVER_LINE_ERROR)
        return FALSE;
      if (st == SERVER_LINE_EOF)
        break;
      if (st == SERVER_LINE_TOO_LONG)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT, "queue file %s is corrupt", path);
          return FALSE;
        }
      msgtrk_dot_stuff (out, line->str, line->len, 0, NULL);
      if (out->len >= 65536)
        {
          if (!g_output_stream_write_all (c->out, out->str, out->len, NULL, c->server->shutdown,
                                          error))
            return FALSE;
          g_string_truncate (out, 0);
        }
    }
  msgtrk_dot_end (out);
  return g_output_stream_write_all (c->out, out->str, out->len, NULL, c->server->shutdown, error)
         && g_output_stream_flush (c->out, c->server->shutdown, error);
}

/* The envelope of @msg for libmsgtrk's MAIL/RCPT builders: a relay passes on any ENVID
 * it received (RFC 3461 section 4.4), or none, and msgtrk_envelope_new_received() checks
 * it as the receiving side did. */
static MsgtrkEnvelope *
envelope_of (RelayMessage *msg,
             GError      **error)
{
  g_autoptr (MsgtrkEnvelope) env = msgtrk_envelope_new_received (msg->envid, error);

  if (env == NULL)
    return NULL;
  msgtrk_envelope_set_ret (env, msg->ret);
  if (msg->authenticator != NULL)
    {
      /* Round the current time up: the next hop counts the timeout from its own arrival
       * second, so rounding down here could let it keep the data a second longer than
       * the originator asked for. */
      gint64 now = (g_get_real_time () + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
      gint64 remaining = msg->arrival + msg->mtrk_timeout - now;

      msgtrk_envelope_set_authenticator (env, msg->authenticator);
      msgtrk_envelope_set_mtrk_timeout (env, (guint) CLAMP (remaining, 1,
                                                            MSGTRK_MTRK_TIMEOUT_MAX));
    }
  return g_steal_pointer (&env);
}

/* MAIL FROM: libmsgtrk's builder (RET, ENVID, MTRK as the hop offered), plus BODY. */
static char *
build_mail (RelayMessage           *msg,
            MsgtrkEnvelope         *env,
            MsgtrkSmtpCapabilities *caps,
            GError                **error)
{
  g_autofree char *arg = msgtrk_envelope_build_mail_from_arg (env, caps, msg->sender, error);

  if (arg == NULL)
    return NULL;
  if (msg->body_8bit && msgtrk_smtp_capabilities_has (caps, "8BITMIME"))
    return g_strconcat ("MAIL FROM:", arg, " BODY=8BITMIME", NULL);
  return g_strconcat ("MAIL FROM:", arg, NULL);
}

/* RCPT TO with the NOTIFY and ORCPT this relay received, unchanged (RFC 3461 4.2, 5.2.1);
 * without a received ORCPT, libmsgtrk adds rfc822;<recipient> (RFC 3461 4.2: "MAY"). */
static char *
build_rcpt (RelayRecipient         *rcpt,
            MsgtrkEnvelope         *env,
            MsgtrkSmtpCapabilities *caps,
            GError                **error)
{
  g_autofree char *type = NULL;
  g_autofree char *arg = NULL;
  const char *address = NULL;

  if (rcpt->orcpt != NULL)
    {
      const char *semi = strchr (rcpt->orcpt, ';');

      if (semi != NULL)
        {
          type = g_strndup (rcpt->orcpt, semi - rcpt->orcpt);
          address = semi + 1;
        }
    }
  arg = msgtrk_envelope_build_rcpt_to_arg_full (env, caps, rcpt->address, rcpt->notify, type,
                                                address, error);
  if (arg == NULL)
    return NULL;
  return g_strconcat ("RCPT TO:", arg, NULL);
}

/* Recipients without a 5xx answer get @code/@status/@diagnostic (a 5xx RCPT answer, or a
 * RCPT we could not build, is final whatever happens to the session afterwards). */
static void
set_unanswered (RelayClientResult *result,
                GPtrArray         *rcpts,
                guint              code,
                const char        *status,
                const char        *diagnostic)
{
  for (guint i = 0; i < rcpts->len; i++)
    {
      RelayRcptOutcome *o = &result->outcomes[i];

      if (o->code / 100 == 5)
        continue;
      g_free (o->status);
      g_free (o->diagnostic);
      o->code = code;
      o->status = g_strdup (status);
      o->diagnostic = g_strdup (diagnostic);
    }
}

static void
set_connection_failure (RelayClientResult *result,
                        GPtrArray         *rcpts,
                        const char        *hop,
                        GError            *error)
{
  g_autofree char *diag = g_strdup_printf ("X-msgtrk; %s: %s", hop,
                                           error != NULL ? error->message : "failed");

  /* Recipients already accepted by RCPT are not delivered either: DATA never ended. */
  set_unanswered (result, rcpts, 0, "4.4.1", diag);
}

static void
set_reply_failure (RelayClientResult *result,
                   GPtrArray         *rcpts,
                   guint              code,
                   GString           *text)
{
  g_autofree char *status = status_of (code, text);
  g_autofree char *diag = diagnostic_of (text);

  set_all (result, rcpts, code, status, diag);
}

/*
 * A new session to @route's next hop: connect, greeting, EHLO, STARTTLS (opportunistic).
 * NULL if it failed: then every recipient in @result has its outcome (no answer: 4.4.1;
 * a refusal: the reply).
 */
static Client *
session_open (RelayServer       *server,
              const RelayRoute  *route,
              const char        *hop,
              const char        *log_id,
              GPtrArray         *rcpts,
              RelayClientResult *result)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) text = g_string_new (NULL);
  gboolean try_tls = server->tls_client != NULL;
  guint code = 0;
  Client *c = g_new0 (Client, 1);

  c->server = server;
  c->hop = g_strdup (hop);
  c->host = g_strdup (route->host);
again:
  if (!client_connect (c, route, &error) || !read_reply (c, &code, text, &error))
    goto conn_fail;
  if (code != 220)
    goto reply_fail;
  c->caps = hello (c, &code, text, &error);
  if (c->caps == NULL)
    {
      if (error != NULL)
        goto conn_fail;
      goto reply_fail;
    }

  if (try_tls && msgtrk_smtp_capabilities_has (c->caps, "STARTTLS"))
    {
      if (!command (c, "STARTTLS", &code, text, &error))
        goto conn_fail;
      if (code == 220)
        {
          g_autoptr (GError) tls_error = NULL;
          GIOStream *tls = msgtrk_tls_handshake (server->tls_client, G_IO_STREAM (c->connection),
                                                 route->host, server->shutdown, &tls_error);
          if (tls == NULL)
            {
              g_warning ("%s: STARTTLS with %s failed (%s); delivering without TLS", log_id,
                         hop, tls_error->message);
              client_close (c);
              g_clear_object (&c->caps);
              try_tls = FALSE;
              goto again;
            }
          c->tls = tls;
          c->in = g_io_stream_get_input_stream (tls);
          c->out = g_io_stream_get_output_stream (tls);
          server_line_reader_init (&c->reader, c->in, FALSE);
          g_clear_object (&c->caps);
          c->caps = hello (c, &code, text, &error);
          if (c->caps == NULL)
            {
              if (error != NULL)
                goto conn_fail;
              goto reply_fail;
            }
        }
      else
        g_warning ("%s: %s refused STARTTLS (%u); delivering without TLS", log_id, hop, code);
    }
  return c;

reply_fail:
  set_reply_failure (result, rcpts, code, text);
  client_quit (c);
  return NULL;

conn_fail:
  set_connection_failure (result, rcpts, hop, error);
  client_free (c);
  return NULL;
}

typedef enum {
  STEP_MAIL,
  STEP_RCPT,
  STEP_DATA,
} StepKind;

typedef struct
{
  StepKind kind;
  guint rcpt;           /* STEP_RCPT: index into rcpts */
  char *line;           /* (owned) */
} Step;

static void
step_clear (gpointer data)
{
  g_free (((Step *) data)->line);
}

/* The end of a DATA that got 354 although it must not carry the message (MAIL refused or
 * no recipient accepted, seen only after a pipelined DATA): an empty message, whose reply
 * is read and ignored (RFC 2920 section 3.1). */
static gboolean
abort_data (Client  *c,
            GError **error)
{
  guint code = 0;
  g_autoptr (GString) text = g_string_new (NULL);

  return g_output_stream_write_all (c->out, ".\r\n", 3, NULL, c->server->shutdown, error)
         && g_output_stream_flush (c->out, c->server->shutdown, error)
         && read_reply (c, &code, text, error);
}

typedef enum {
  TRANSACTION_KEEP,     /* done; the session is in a known state (may carry another) */
  TRANSACTION_CLOSE,    /* done; the session is broken or closing */
  TRANSACTION_RETRY,    /* a reused session failed its RSET: nothing was done, @result
                         * must be cleared and the message sent over a new session */
} TransactionEnd;

/* A reused session's check: RSET answered 250. Anything else (closed, 421, a timeout,
 * another code) means the session is not to be trusted with the message. */
static gboolean
rset_ok (Client *c)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) text = g_string_new (NULL);
  guint code = 0;

  if (read_reply (c, &code, text, &error) && code == 250)
    return TRUE;
  g_info ("the session to %s kept open is gone (%s); opening a new one", c->hop,
          error != NULL ? error->message : g_strchomp (text->str));
  return FALSE;
}

/* What the session offers, for the outcome: DSN, MTRK (with DSN), the EHLO domain. */
static void
result_set_hop (Client            *c,
                RelayClientResult *result)
{
  const char *domain = msgtrk_smtp_capabilities_get_domain (c->caps);

  result->offered_dsn = msgtrk_smtp_capabilities_has (c->caps, "DSN");
  /* MTRK travels only with ENVID, which belongs to DSN (RFC 3885). */
  result->offered_mtrk = msgtrk_smtp_capabilities_has (c->caps, "MTRK") && result->offered_dsn;
  g_free (result->remote_domain);
  result->remote_domain = g_strdup (domain != NULL && *domain != '\0' ? domain : c->host);
}

/* The commands of a transaction: MAIL, each RCPT that can be built (the others get their
 * 554 outcome here and are not sent), DATA; NULL with @error if MAIL cannot be built. */
static GArray *
build_steps (Client            *c,
             RelayMessage      *msg,
             GPtrArray         *rcpts,
             RelayClientResult *result,
             GError           **error)
{
  g_autoptr (MsgtrkEnvelope) env = envelope_of (msg, error);
  g_autoptr (GArray) steps = g_array_new (FALSE, TRUE, sizeof (Step));
  char *mail = env != NULL ? build_mail (msg, env, c->caps, error) : NULL;

  g_array_set_clear_func (steps, step_clear);
  if (mail == NULL)
    return NULL;
  g_array_append_val (steps, ((Step) { STEP_MAIL, 0, mail }));
  for (guint i = 0; i < rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (rcpts, i);
      g_autoptr (GError) rcpt_error = NULL;
      char *line = build_rcpt (rcpt, env, c->caps, &rcpt_error);
      RelayRcptOutcome *o = &result->outcomes[i];

      if (line == NULL)
        {
          /* Not sent: a non-ASCII address for a hop without SMTPUTF8 (RFC 6531 3.2:
           * 5.6.7), or a value we cannot pass on intact. */
          gboolean utf8 = g_error_matches (rcpt_error, MSGTRK_ERROR, MSGTRK_ERROR_UNSUPPORTED);

          o->code = 554;
          o->status = g_strdup (utf8 ? "5.6.7" : "5.5.4");
          o->diagnostic = g_strdup_printf ("X-msgtrk; cannot build RCPT TO: %s",
                                           rcpt_error->message);
          continue;
        }
      g_array_append_val (steps, ((Step) { STEP_RCPT, i, line }));
    }
  g_array_append_val (steps, ((Step) { STEP_DATA, 0, g_strdup ("DATA") }));
  return g_steal_pointer (&steps);
}

/* The replies of a transaction's commands up to DATA. */
typedef struct
{
  guint mail_code;      /* 0: not answered */
  guint data_code;      /* 0: DATA not sent */
  guint accepted;       /* RCPTs answered 2xx */
  gboolean saw_421;
  GString *mail_text;
  GString *data_text;
} Replies;

typedef enum {
  EXCHANGE_DONE,
  EXCHANGE_RETRY,       /* the RSET in front failed: nothing counted */
  EXCHANGE_FAILED,      /* the connection failed: @error set */
} ExchangeEnd;

/* Note the reply (@code, @text) to @step. */
static void
note_reply (Step              *step,
            guint              code,
            GString           *text,
            Replies           *rep,
            RelayClientResult *result)
{
  RelayRcptOutcome *o;

  if (code == 421)
    rep->saw_421 = TRUE;
  switch (step->kind)
    {
    case STEP_MAIL:
      rep->mail_code = code;
      g_string_assign (rep->mail_text, text->str);
      break;
    case STEP_RCPT:
      /* After a refused MAIL the RCPT replies say nothing of the recipient. */
      if (rep->mail_code != 250)
        break;
      o = &result->outcomes[step->rcpt];
      o->code = code;
      o->status = status_of (code, text);
      o->diagnostic = diagnostic_of (text);
      if (code / 100 == 2)
        rep->accepted++;
      break;
    case STEP_DATA:
      rep->data_code = code;
      g_string_assign (rep->data_text, text->str);
      break;
    default:
      g_assert_not_reached ();
    }
}

/*
 * Send @steps and read their replies: with PIPELINING up to RELAY_CLIENT_PIPELINE_MAX
 * commands per write (behind an RSET when @rset), without it one at a time, stopping at
 * a refused MAIL or before DATA when no RCPT was accepted.
 */
static ExchangeEnd
exchange (Client            *c,
          gboolean           rset,
          GArray            *steps,
          Replies           *rep,
          RelayClientResult *result,
          GError           **error)
{
  gboolean pipelining = msgtrk_smtp_capabilities_has (c->caps, "PIPELINING");
  g_autoptr (GString) batch = g_string_new (NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  guint answered = 0;

  /* Without PIPELINING the RSET goes alone, with it in front of MAIL (RFC 2920: RSET
   * may appear anywhere in a group). */
  if (rset && !pipelining)
    {
      if (!send_line (c, "RSET", NULL) || !rset_ok (c))
        return EXCHANGE_RETRY;
      rset = FALSE;
    }
  while (answered < steps->len)
    {
      guint end;

      if (!pipelining && answered > 0 && rep->mail_code != 250)
        break;
      if (!pipelining && g_array_index (steps, Step, answered).kind == STEP_DATA
          && rep->accepted == 0)
        break;
      end = pipelining ? MIN (steps->len, answered + RELAY_CLIENT_PIPELINE_MAX) : answered + 1;
      g_string_assign (batch, rset ? "RSET\r\n" : "");
      for (guint i = answered; i < end; i++)
        g_string_append_printf (batch, "%s\r\n", g_array_index (steps, Step, i).line);
      if (!g_output_stream_write_all (c->out, batch->str, batch->len, NULL, c->server->shutdown,
                                      error)
          || !g_output_stream_flush (c->out, c->server->shutdown, error))
        {
          /* A write to a reused session that fails at once: the hop closed it. */
          if (rset)
            {
              g_clear_error (error);
              return EXCHANGE_RETRY;
            }
          return EXCHANGE_FAILED;
        }
      /* The session is closed after a failed RSET, so the hop drops the MAIL, RCPTs and
       * DATA behind it (no message data is ever sent before DATA's 354 is read). */
      if (rset && !rset_ok (c))
        return EXCHANGE_RETRY;
      rset = FALSE;
      for (; answered < end; answered++)
        {
          guint code = 0;

          if (!read_reply (c, &code, text, error))
            return EXCHANGE_FAILED;
          note_reply (&g_array_index (steps, Step, answered), code, text, rep, result);
        }
    }
  return EXCHANGE_DONE;
}

/*
 * One transaction on the open session @c; fills @result. On a @reused session it starts
 * with RSET (pipelined in front of MAIL when the hop offers PIPELINING): a session the
 * hop closed while it was idle is found before any message command counts.
 */
static TransactionEnd
transaction (Client            *c,
             gboolean           reused,
             RelayMessage      *msg,
             GPtrArray         *rcpts,
             RelayClientResult *result)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GString) mail_text = g_string_new (NULL);
  g_autoptr (GString) data_text = g_string_new (NULL);
  g_autoptr (GArray) steps = NULL;
  Replies rep = { 0, 0, 0, FALSE, mail_text, data_text };
  guint code = 0;

  result_set_hop (c, result);
  steps = build_steps (c, msg, rcpts, result, &error);
  if (steps == NULL)
    {
      g_autofree char *diag = g_strdup_printf ("X-msgtrk; cannot build MAIL FROM: %s",
                                               error->message);
      set_all (result, rcpts, 554, "5.5.4", diag);
      return TRANSACTION_KEEP;
    }
  switch (exchange (c, reused, steps, &rep, result, &error))
    {
    case EXCHANGE_RETRY:
      return TRANSACTION_RETRY;
    case EXCHANGE_FAILED:
      goto conn_fail;
    case EXCHANGE_DONE:
    default:
      break;
    }

  if (rep.mail_code != 250 || rep.accepted == 0)
    {
      if (rep.mail_code != 250)
        set_reply_failure (result, rcpts, rep.mail_code, mail_text);
      /* A pipelined DATA that got 354 anyway: end it empty (RFC 2920 section 3.1). */
      if (rep.data_code == 354 && !abort_data (c, &error))
        return TRANSACTION_CLOSE;
      return rep.saw_421 ? TRANSACTION_CLOSE : TRANSACTION_KEEP;
    }
  if (rep.data_code != 354)
    {
      code = rep.data_code;
      g_string_assign (text, data_text->str);
      goto data_fail;
    }
  if (!send_data (c, msg, &error) || !read_reply (c, &code, text, &error))
    goto conn_fail;
  if (code == 421)
    rep.saw_421 = TRUE;
  if (code / 100 != 2)
    goto data_fail;
  for (guint i = 0; i < rcpts->len; i++)
    {
      RelayRcptOutcome *o = &result->outcomes[i];
      if (o->code / 100 == 2)
        {
          g_free (o->diagnostic);
          o->diagnostic = diagnostic_of (text);
        }
    }
  return rep.saw_421 ? TRANSACTION_CLOSE : TRANSACTION_KEEP;

data_fail:
  {
    g_autofree char *status = status_of (code, text);
    g_autofree char *diag = diagnostic_of (text);
    for (guint i = 0; i < rcpts->len; i++)
      {
        RelayRcptOutcome *o = &result->outcomes[i];
        if (o->code / 100 != 2)
          continue;
        g_free (o->status);
        g_free (o->diagnostic);
        o->code = code;
        o->status = g_strdup (status);
        o->diagnostic = g_strdup (diag);
      }
  }
  return rep.saw_421 ? TRANSACTION_CLOSE : TRANSACTION_KEEP;

conn_fail:
  set_connection_failure (result, rcpts, c->hop, error);
  return TRANSACTION_CLOSE;
}

/* The session @cache keeps for @hop, or NULL. A session to another hop, or past its
 * time or message count, is closed (QUIT). The caller checks it with RSET. */
static Client *
cache_take (RelayClientCache *cache,
            const char       *hop)
{
  RelayConfig *config = cache->server->config;
  Client *c = g_steal_pointer (&cache->client);

  if (c == NULL)
    return NULL;
  if (strcmp (c->hop, hop) != 0 || c->messages >= config->connection_reuse_max
      || g_get_monotonic_time () - c->idle_since
           >= (gint64) config->connection_cache_time * G_USEC_PER_SEC)
    {
      client_quit (c);
      return NULL;
    }
  return c;
}

/* Forget what a failed attempt put in @result. */
static void
result_reset (RelayClientResult *result,
              GPtrArray         *rcpts)
{
  for (guint i = 0; i < rcpts->len; i++)
    {
      RelayRcptOutcome *o = &result->outcomes[i];

      g_clear_pointer (&o->status, g_free);
      g_clear_pointer (&o->diagnostic, g_free);
      o->code = 0;
    }
  g_clear_pointer (&result->remote_domain, g_free);
}

/* One delivery worker's cache of sessions to next hops (one session at a time). */
RelayClientCache *
relay_client_cache_new (RelayServer *server)
{
  RelayClientCache *cache = g_new0 (RelayClientCache, 1);

  cache->server = server;
  return cache;
}

/* Close the cached session (QUIT) and free. */
void
relay_client_cache_free (RelayClientCache *cache)
{
  if (cache == NULL)
    return;
  client_quit (g_steal_pointer (&cache->client));
  g_free (cache);
}

/* The hop the cache keeps a session open to (NULL: none) and when its idle time is over
 * (monotonic µs). Does no I/O. */
const char *
relay_client_cache_hop (RelayClientCache *cache,
                        gint64           *until)
{
  if (cache == NULL || cache->client == NULL)
    return NULL;
  *until = cache->client->idle_since
           + (gint64) cache->server->config->connection_cache_time * G_USEC_PER_SEC;
  return cache->client->hop;
}

/* Close the cached session if its idle time is over. */
void
relay_client_cache_expire (RelayClientCache *cache)
{
  gint64 until = 0;

  if (relay_client_cache_hop (cache, &until) != NULL && g_get_monotonic_time () >= until)
    client_quit (g_steal_pointer (&cache->client));
}

/*
 * relay_client_deliver:
 * @cache: (nullable): the calling worker's session cache; NULL: a session of its own,
 *   closed afterwards
 *
 * One transaction for @msg to @route's next hop, for @rcpts; fills @result (an outcome
 * for each of @rcpts). Reuses the session @cache keeps to that hop, and leaves the
 * session there afterwards if it may carry another message.
 */
void
relay_client_deliver (RelayServer       *server,
                      RelayClientCache  *cache,
                      RelayMessage      *msg,
                      const RelayRoute  *route,
                      GPtrArray         *rcpts,
                      RelayClientResult *result)
{
  RelayConfig *config = server->config;
  g_autofree char *hop = relay_route_hop_key (route);
  Client *c = cache != NULL ? cache_take (cache, hop) : NULL;
  TransactionEnd end = TRANSACTION_RETRY;

  if (c != NULL)
    {
      end = transaction (c, TRUE, msg, rcpts, result);
      if (end == TRANSACTION_RETRY)
        {
          g_clear_pointer (&c, client_free);
          result_reset (result, rcpts);
        }
    }
  if (c == NULL)
    {
      c = session_open (server, route, hop, msg->id, rcpts, result);
      if (c == NULL)
        return;
      end = transaction (c, FALSE, msg, rcpts, result);
    }
  c->messages++;
  if (end != TRANSACTION_KEEP)
    {
      client_free (c);
      return;
    }
  if (cache == NULL || config->connection_cache_time == 0
      || c->messages >= config->connection_reuse_max)
    {
      client_quit (c);
      return;
    }
  c->idle_since = g_get_monotonic_time ();
  g_assert (cache->client == NULL);
  cache->client = c;
}
