/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-smtp.c: the SMTP server session of msgtrk-relay (RFC 5321, ESMTP extensions
 * PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES
 * (RFC 2034), STARTTLS (RFC 3207), DSN (RFC 3461), MTRK (RFC 3885)).
 *
 * One session thread per connection (the listener reuses it for the next), blocking I/O
 * on the connection's streams with the server's shutdown cancellable. Replies are
 * collected and written when the client has nothing more buffered (pipelining: commands
 * are read and answered in order, replies flushed when the input is empty, before DATA's
 * 354 and before STARTTLS).
 *
 * Line handling (documented in msgtrk-relay(8)):
 *   - commands end at LF; a bare LF is accepted as a command terminator;
 *   - command lines over 512 octets (MAIL: MSGTRK_SMTP_MAIL_LINE_MAX, RCPT:
 *     MSGTRK_SMTP_RCPT_LINE_MAX, CRLF included) get 500 5.5.6 and are skipped entirely;
 *   - message data: lines are stored with CRLF; a bare LF or bare CR in the data is
 *     normalised to CRLF; only CRLF "." CRLF ends the data (a "." line ended by a bare LF
 *     is data), which closes the SMTP smuggling hole; a text line over 1000 octets makes
 *     the whole message fail with 500 5.5.6 after the data is read (sync is kept);
 *   - a message over max_message_size is read to its end and refused with 552 5.3.4.
 *
 * Parameters: MAIL and RCPT share one path-and-parameters step (parse_command_args) over
 * two tables; the values go through libmsgtrk's parameter parsers (no copy here), so the
 * relay refuses what the library refuses, e.g. an ENVID that decodes to CR LF (501).
 *
 * Limits: [queue] max_messages (452 4.3.1 at MAIL and DATA), max_recipients (452 4.5.3),
 * max_connections (421 4.7.0 after connection_wait, server-listener.c), idle_timeout
 * (421 4.4.2), RELAY_MAX_RECEIVED Received: headers (554 5.4.6 mail loop).
 * Never: answer 250 to DATA before the queue file is sealed and fsync'ed; log message
 * contents.
 */
#include "relay-smtp.h"

#include "relay-harrison.h"
#include "relay-report.h"
#include "server-line-reader.h"

#include "durable-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "msgtrk-dot-private.h"
#include "msgtrk-private.h"
#include "msgtrk-smtp-syntax-private.h"
#include "msgtrk-tls-private.h"

/** RELAY_SMTP_MAX_ERRORS: protocol errors after which the session is closed (421). */
#define RELAY_SMTP_MAX_ERRORS 20
/** RELAY_REPLY_QUEUE_FULL: the reply at MAIL and DATA while the queue is at
 * [queue] max_messages (RFC 3463 X.3.1: mail system full). */
#define RELAY_REPLY_QUEUE_FULL \
  "452 4.3.1 Insufficient system storage: the queue is full, try again later"
/** RELAY_DATA_FLUSH_SIZE: message data buffered before a write to the queue file. */
#define RELAY_DATA_FLUSH_SIZE 65536

typedef struct
{
  RelayServer *server;
  RelayConfig *config;
  GSocketConnection *connection;
  GCancellable *cancel;            /* (not owned) the listener's, cancelled at shutdown */
  GIOStream *tls;                  /* (owned) (nullable) after STARTTLS */
  GInputStream *in;                /* (not owned) current input */
  GOutputStream *out;              /* (not owned) current output */
  ServerLineReader reader;
  GString *replies;
  char *peer_ip;
  char *peer_name;                 /* (nullable) reverse DNS */
  char *helo;                      /* (nullable) */
  gboolean esmtp;
  gboolean quit;
  guint errors;

  /* the transaction */
  RelayMessage *msg;               /* (owned) (nullable) after MAIL */
  guint64 declared_size;
} Session;

static void
reply (Session    *s,
       const char *format,
       ...) G_GNUC_PRINTF (2, 3);

/* Queue one reply line (or several, joined by the caller with "\r\n"). */
static void
reply (Session    *s,
       const char *format,
       ...)
{
  va_list args;

  va_start (args, format);
  g_string_append_vprintf (s->replies, format, args);
  va_end (args);
  g_string_append (s->replies, "\r\n");
}

static gboolean
flush_replies (Session *s)
{
  g_autoptr (GError) error = NULL;

  if (s->replies->len == 0)
    return TRUE;
  if (!g_output_stream_write_all (s->out, s->replies->str, s->replies->len, NULL,
                                  s->cancel, &error)
      || !g_output_stream_flush (s->out, s->cancel, &error))
    {
      g_debug ("[%s] write failed: %s", s->peer_ip, error->message);
      g_string_truncate (s->replies, 0);
      return FALSE;
    }
  g_string_truncate (s->replies, 0);
  return TRUE;
}

static void
reset_transaction (Session *s)
{
  g_clear_pointer (&s->msg, relay_message_free);
  s->declared_size = 0;
}

/*
 * MAIL and RCPT parameters. The values are parsed by libmsgtrk's own parsers (the ones the
 * unit tests and fuzz targets exercise: msgtrk_envid_param_parse(), msgtrk_ret_param_parse(),
 * msgtrk_mtrk_param_parse(), msgtrk_notify_param_parse(), msgtrk_orcpt_param_parse(),
 * msgtrk_smtp_size_param_parse(), msgtrk_smtp_body_param_parse()); the relay parses none
 * itself. Each keyword needs what this relay offered in EHLO; a keyword not in the table,
 * or not offered, gets 555.
 */
typedef enum
{
  OFFER_ALWAYS = 0,
  OFFER_DSN = 1 << 0,
  OFFER_MTRK = 1 << 1,
} Offer;

/* What MAIL or RCPT parameters said, before they go into the message. */
typedef struct
{
  guint64 size;
  gboolean body_8bit;
  MsgtrkDsnRet ret;
  char *envid;            /* (owned) (nullable) decoded */
  char *authenticator;    /* (owned) (nullable) */
  guint mtrk_timeout;
  MsgtrkDsnNotify notify;
  char *orcpt;            /* (owned) (nullable) decoded "type;address" */
} Params;

static void
params_clear (Params *p)
{
  g_clear_pointer (&p->envid, g_free);
  g_clear_pointer (&p->authenticator, g_free);
  g_clear_pointer (&p->orcpt, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Params, params_clear)

/* Parse one parameter's value (NULL: the keyword came without one) into @out. */
typedef gboolean (*ParamParseFunc) (const char *value,
                                    Params     *out);

typedef struct
{
  const char *keyword;    /* upper case, as msgtrk_smtp_params_parse() gives keys */
  Offer needs;
  ParamParseFunc parse;
  const char *bad_reply;  /* the reply when parse() fails */
} ParamSpec;

static gboolean
param_size (const char *value,
            Params     *out)
{
  return msgtrk_smtp_size_param_parse (value, &out->size, NULL);
}

static gboolean
param_body (const char *value,
            Params     *out)
{
  return msgtrk_smtp_body_param_parse (value, &out->body_8bit, NULL);
}

static gboolean
param_ret (const char *value,
           Params     *out)
{
  return msgtrk_ret_param_parse (value, &out->ret, NULL);
}

static gboolean
param_envid (const char *value,
             Params     *out)
{
  return msgtrk_envid_param_parse (value, &out->envid, NULL);
}

static gboolean
param_mtrk (const char *value,
            Params     *out)
{
  return value != NULL
         && msgtrk_mtrk_param_parse (value, &out->authenticator, &out->mtrk_timeout, NULL);
}

static gboolean
param_notify (const char *value,
              Params     *out)
{
  return value != NULL && msgtrk_notify_param_parse (value, &out->notify, NULL);
}

static gboolean
param_orcpt (const char *value,
             Params     *out)
{
  g_autofree char *type = NULL;
  g_autofree char *addr = NULL;

  if (value == NULL || !msgtrk_orcpt_param_parse (value, &type, &addr, NULL))
    return FALSE;
  out->orcpt = g_strdup_printf ("%s;%s", type, addr);
  return TRUE;
}

/* In this order: ENVID before MTRK, which needs it. */
static const ParamSpec mail_params[] = {
  { "SIZE", OFFER_ALWAYS, param_size, "501 5.5.4 Bad SIZE value" },
  { "BODY", OFFER_ALWAYS, param_body, "501 5.5.4 BODY must be 7BIT or 8BITMIME" },
  { "RET", OFFER_DSN, param_ret, "501 5.5.4 RET must be FULL or HDRS" },
  { "ENVID", OFFER_DSN, param_envid,
    "501 5.5.4 Bad ENVID: xtext of printable US-ASCII, at most "
    G_STRINGIFY (MSGTRK_ENVID_MAX_LENGTH) " characters" },
  { "MTRK", OFFER_MTRK, param_mtrk,
    "501 5.5.4 Bad MTRK parameter: need a base64 SHA-1 authenticator and an optional "
    "timeout" },
  { NULL },
};

static const ParamSpec rcpt_params[] = {
  { "NOTIFY", OFFER_DSN, param_notify,
    "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY" },
  { "ORCPT", OFFER_DSN, param_orcpt, "501 5.5.4 ORCPT must be addr-type;xtext" },
  { NULL },
};

static Offer
session_offers (Session *s)
{
  return (s->config->offer_dsn ? OFFER_DSN : 0) | (s->config->offer_mtrk ? OFFER_MTRK : 0);
}

/*
 * What MAIL and RCPT share: the argument after "FROM:" / "TO:" is a path and optional
 * parameters,
 *   Mail-parameters / Rcpt-parameters = esmtp-param *(SP esmtp-param)
 * split by msgtrk_smtp_params_parse(), each keyword checked against @specs and what this
 * relay offered, each value parsed into @out. Returns the path's mailbox, or NULL after
 * queueing the error reply.
 */
static char *
parse_command_args (Session         *s,
                    const char      *p,
                    gboolean         is_mail,
                    const ParamSpec *specs,
                    Params          *out)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  g_autoptr (GHashTable) params = NULL;
  gsize used = 0;
  GHashTableIter iter;
  gpointer key;
  Offer offers = session_offers (s);

  /* The path: libmsgtrk's one mailbox grammar (msgtrk-smtp-syntax-private.h); ASCII only,
   * as this relay offers no SMTPUTF8. "<Postmaster>" is this host's postmaster. */
  address = msgtrk_smtp_path_parse (p, strlen (p),
                                    is_mail ? MSGTRK_SMTP_PATH_NULL : MSGTRK_SMTP_PATH_POSTMASTER,
                                    RELAY_ADDRESS_MAX, &used, &error);
  if (address == NULL)
    {
      /* The reply stays ASCII and untranslated; the library's wording goes to the log. */
      const char *why = g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT)
                          ? "address too long"
                        : g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_UNSUPPORTED)
                          ? "non-ASCII address (no SMTPUTF8 here)"
                          : "not <local-part@domain> (RFC 5321 section 4.1.2)";

      g_debug ("[%s] bad path: %s", s->peer_ip, error->message);
      reply (s, is_mail ? "501 5.1.7 Bad sender address syntax: %s"
                        : "501 5.1.3 Bad recipient address syntax: %s", why);
      return NULL;
    }
  p += used;
  if (!is_mail && strchr (address, '@') == NULL)
    {
      g_free (address);
      address = g_strdup_printf ("postmaster@%s", s->config->hostname);
    }
  if (*p != '\0' && *p != ' ')
    {
      reply (s, is_mail ? "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]"
                        : "501 5.5.4 Syntax: RCPT TO:<address> [parameters]");
      return NULL;
    }
  while (*p == ' ')
    p++;
  if (*p != '\0' && !s->esmtp)
    {
      reply (s, "555 5.5.4 Parameters need EHLO");
      return NULL;
    }
  params = msgtrk_smtp_params_parse (p, NULL);
  if (params == NULL)
    {
      reply (s, "501 5.5.4 Bad parameter syntax");
      return NULL;
    }

  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      const ParamSpec *spec = specs;

      while (spec->keyword != NULL && strcmp (spec->keyword, key) != 0)
        spec++;
      if (spec->keyword == NULL || (spec->needs & offers) != spec->needs)
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (key, 40);

          reply (s, "555 5.5.4 Unsupported parameter %s", quoted);
          return NULL;
        }
    }
  for (const ParamSpec *spec = specs; spec->keyword != NULL; spec++)
    {
      const char *value = NULL;

      if (g_hash_table_lookup_extended (params, spec->keyword, NULL, (gpointer *) &value)
          && !spec->parse (value, out))
        {
          reply (s, "%s", spec->bad_reply);
          return NULL;
        }
    }
  return g_steal_pointer (&address);
}

static void
cmd_ehlo (Session    *s,
          const char *arg,
          gboolean    extended)
{
  g_autofree char *name = g_strstrip (g_strdup (arg != NULL ? arg : ""));

  if (*name == '\0' || strchr (name, ' ') != NULL)
    {
      reply (s, "501 5.5.4 Syntax: %s hostname", extended ? "EHLO" : "HELO");
      return;
    }
  for (const char *c = name; *c != '\0'; c++)
    if ((guchar) *c < 0x21 || (guchar) *c >= 0x7f)
      {
        reply (s, "501 5.5.4 Invalid domain name");
        return;
      }
  reset_transaction (s);
  g_free (s->helo);
  s->helo = g_steal_pointer (&name);
  s->esmtp = extended;
  if (!extended)
    {
      reply (s, "250 %s", s->config->hostname);
      return;
    }
  reply (s, "250-%s greets %s", s->config->hostname, s->helo);
  reply (s, "250-PIPELINING");
  reply (s, "250-SIZE %" G_GUINT64_FORMAT, s->config->max_message_size);
  reply (s, "250-8BITMIME");
  reply (s, "250-ENHANCEDSTATUSCODES");
  if (s->server->tls_server != NULL && s->tls == NULL)
    reply (s, "250-STARTTLS");
  if (s->config->offer_dsn)
    reply (s, "250-DSN");
  if (s->config->offer_mtrk)
    reply (s, "250-MTRK");
  reply (s, "250 HELP");
}

static void
cmd_mail (Session    *s,
          const char *arg)
{
  g_auto (Params) params = { 0 };
  g_autofree char *sender = NULL;
  RelayMessage *msg;

  if (s->helo == NULL)
    {
      reply (s, "503 5.5.1 Send HELO or EHLO first");
      return;
    }
  if (s->msg != NULL)
    {
      reply (s, "503 5.5.1 Nested MAIL command");
      return;
    }
  if (arg == NULL || g_ascii_strncasecmp (arg, "FROM:", 5) != 0)
    {
      reply (s, "501 5.5.4 Syntax: MAIL FROM:<address>");
      return;
    }
  params.ret = MSGTRK_DSN_RET_UNSET;
  sender = parse_command_args (s, arg + 5, TRUE, mail_params, &params);
  if (sender == NULL)
    return;
  if (params.size > s->config->max_message_size)
    {
      reply (s, "552 5.3.4 Message size exceeds fixed limit of %" G_GUINT64_FORMAT,
             s->config->max_message_size);
      return;
    }
  if (params.authenticator != NULL && params.envid == NULL)
    {
      reply (s, "501 5.5.4 MTRK requires ENVID");
      return;
    }
  if (!relay_queue_has_room (s->server->queue))
    {
      g_message ("[%s] queue full (max_messages %u): MAIL refused", s->peer_ip,
                 s->config->max_queue_messages);
      reply (s, RELAY_REPLY_QUEUE_FULL);
      return;
    }

  msg = relay_message_new ();
  msg->sender = g_steal_pointer (&sender);
  msg->ret = params.ret;
  msg->body_8bit = params.body_8bit;
  msg->envid = g_steal_pointer (&params.envid);
  if (params.authenticator != NULL)
    {
      guint timeout = params.mtrk_timeout;

      if (timeout == 0 || timeout > s->config->mtrk_max_timeout)
        timeout = s->config->mtrk_max_timeout;
      msg->authenticator = g_steal_pointer (&params.authenticator);
      msg->mtrk_timeout = timeout;
    }
  s->declared_size = params.size;
  s->msg = msg;
  reply (s, "250 2.1.0 Sender ok");
}

static void
cmd_rcpt (Session    *s,
          const char *arg)
{
  g_auto (Params) params = { 0 };
  g_autofree char *address = NULL;
  RelayRecipient *rcpt;

  if (s->msg == NULL)
    {
      reply (s, "503 5.5.1 Need MAIL before RCPT");
      return;
    }
  if (arg == NULL || g_ascii_strncasecmp (arg, "TO:", 3) != 0)
    {
      reply (s, "501 5.5.4 Syntax: RCPT TO:<address>");
      return;
    }
  params.notify = MSGTRK_DSN_NOTIFY_UNSET;
  address = parse_command_args (s, arg + 3, FALSE, rcpt_params, &params);
  if (address == NULL)
    return;
  if (relay_config_find_route (s->config, address) == NULL)
    {
      reply (s, "550 5.1.2 Relay access denied: no route for that domain");
      return;
    }
  if (s->msg->rcpts->len >= s->config->max_recipients)
    {
      reply (s, "452 4.5.3 Too many recipients");
      return;
    }

  rcpt = relay_recipient_new (address);
  rcpt->notify = params.notify;
  rcpt->orcpt = g_steal_pointer (&params.orcpt);
  g_ptr_array_add (s->msg->rcpts, rcpt);
  reply (s, "250 2.1.5 Recipient ok");
}

typedef struct
{
  int fd;
  GString *buf;
  guint64 size;
  gboolean too_big;
  gboolean line_too_long;
  gboolean write_failed;
  gboolean in_headers;
  guint received;
  gboolean flushed;    /* some data went to the file before the end (buf is not all) */
  guint64 written;     /* octets written to the file */
  GChecksum *sum;      /* SHA-256 of what follows the head (relay_queue_seal_head) */
  gsize head_left;     /* octets of the head not yet passed to sum */
  GString *harrison;   /* (nullable) header lines for Content-Track (relay-harrison.c) */
} DataSink;

/* Write what is buffered to the file; @keep: leave it in the buffer (the last write of a
 * message that may be kept in memory, relay_queue_keep_body()). */
static void
sink_flush (DataSink *sink,
            gboolean  keep)
{
  gsize done = 0;
  gsize skip = MIN (sink->head_left, sink->buf->len);

  g_checksum_update (sink->sum, (const guchar *) sink->buf->str + skip, sink->buf->len - skip);
  sink->head_left -= skip;
  while (!sink->write_failed && done < sink->buf->len)
    {
      ssize_t n = write (sink->fd, sink->buf->str + done, sink->buf->len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        sink->write_failed = TRUE;
      else
        {
          done += n;
          sink->written += n;
        }
    }
  if (!keep)
    {
      g_string_truncate (sink->buf, 0);
      sink->flushed = TRUE;
    }
}

/* Store one logical line (no terminator) with CRLF, counting size and Received: headers. */
static void
sink_line (DataSink   *sink,
           RelayConfig *config,
           const char *text,
           gsize       len)
{
  if (sink->in_headers)
    {
      if (len > 0)
        relay_harrison_header_line (sink->harrison, text, len);
      if (len == 0)
        sink->in_headers = FALSE;
      else if (len >= 9 && g_ascii_strncasecmp (text, "Received:", 9) == 0)
        sink->received++;
    }
  sink->size += len + 2;
  if (sink->size > config->max_message_size)
    sink->too_big = TRUE;
  if (sink->too_big || sink->write_failed)
    return;
  g_string_append_len (sink->buf, text, len);
  g_string_append (sink->buf, "\r\n");
  if (sink->buf->len >= RELAY_DATA_FLUSH_SIZE)
    sink_flush (sink, FALSE);
}

static char *
received_header (Session    *s,
                 const char *id)
{
  g_autofree char *date = relay_format_date (g_get_real_time () / G_USEC_PER_SEC);
  const char *with = !s->esmtp ? "SMTP" : (s->tls != NULL ? "ESMTPS" : "ESMTP");
  g_autofree char *for_part = NULL;

  if (s->msg->rcpts->len == 1)
    {
      RelayRecipient *rcpt = g_ptr_array_index (s->msg->rcpts, 0);
      for_part = g_strdup_printf ("\r\n\tfor <%s>", rcpt->address);
    }
  return g_strdup_printf ("Received: from %s (%s [%s])\r\n\tby %s with %s id %s%s;\r\n\t%s\r\n",
                          s->helo, s->peer_name != NULL ? s->peer_name : "unknown", s->peer_ip,
                          s->config->hostname, with, id, for_part != NULL ? for_part : "",
                          date);
}

/* Read the message data after 354 into the slot cmd_data() reserved; returns FALSE if
 * the connection is gone. */
static gboolean
receive_data (Session *s)
{
  g_autofree char *id = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree char *header = NULL;
  g_autofree char *head = NULL;
  gboolean refused;
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) unstuffed = g_string_new (NULL);
  g_autoptr (GString) harrison_headers = NULL; /* sink.harrison's owner */
  DataSink sink = { -1, NULL, 0, FALSE, FALSE, FALSE, TRUE, 0, FALSE, 0, NULL,
                    RELAY_QUEUE_HEAD_LEN };
  MsgtrkDotParser dot;

  /* An empty file already in queue/ under a durable name: written here, sealed and
   * fsync'ed at the final dot, it is the message's only file (relay-queue.c). The name
   * tmp_path is kept for the file until it is accepted. */
  id = relay_queue_take_name (s->server->queue, &error);
  if (id == NULL)
    {
      g_warning ("cannot create a queue file: %s", error->message);
      reply (s, "451 4.3.0 Queue file error; try again later");
      return TRUE;
    }
  tmp_path = relay_queue_msg_path (s->server->queue, id);
  sink.fd = open (tmp_path, O_WRONLY | O_CLOEXEC);
  if (sink.fd < 0)
    {
      g_warning ("cannot open %s: %s", tmp_path, g_strerror (errno));
      g_unlink (tmp_path);
      reply (s, "451 4.3.0 Queue file error; try again later");
      return TRUE;
    }
  sink.buf = g_string_new (NULL);
  sink.sum = g_checksum_new (G_CHECKSUM_SHA256);
  /* One file per message: the envelope block first (relay-queue.c), then the message. */
  {
    gint64 now = g_get_real_time () / G_USEC_PER_SEC;
    g_autofree char *block = NULL;
    gsize block_len = 0;

    s->msg->id = g_strdup (id);
    s->msg->arrival = now;
    for (guint i = 0; i < s->msg->rcpts->len; i++)
      ((RelayRecipient *) g_ptr_array_index (s->msg->rcpts, i))->next_attempt = now;
    block = relay_queue_envelope_block (s->msg, &block_len);
    head = g_strndup (block, RELAY_QUEUE_HEAD_LEN);
    g_string_append_len (sink.buf, block, block_len);
  }
  header = received_header (s, id);
  g_string_append (sink.buf, header);
  harrison_headers = relay_harrison_headers_new (s->server->harrison);
  sink.harrison = harrison_headers;

  msgtrk_dot_parser_init (&dot);
  reply (s, "354 End data with <CR><LF>.<CR><LF>");
  if (!flush_replies (s))
    goto lost;

  for (;;)
    {
      ServerLineStatus st = server_line_reader_read (&s->reader, RELAY_TEXT_LINE_MAX, line,
                                                   s->cancel, &error);
      const char *text;
      gsize len;
      gsize used = 0;

      if (st == SERVER_LINE_EOF || st == SERVER_LINE_ERROR)
        goto lost;
      if (st == SERVER_LINE_TOO_LONG)
        {
          sink.line_too_long = TRUE;
          msgtrk_dot_parser_line_dropped (&dot);
          continue;
        }
      /* Dot-unstuffing and the end of the data (RFC 5321 4.5.2; CRLF "." CRLF only). */
      g_string_truncate (unstuffed, 0);
      if (msgtrk_dot_parser_feed (&dot, line->str, line->len, unstuffed, &used))
        break;
      text = unstuffed->str;
      len = unstuffed->len - (unstuffed->len >= 2 && text[unstuffed->len - 2] == '\r' ? 2 : 1);
      /* bare CRs inside the line become line breaks (normalised to CRLF) */
      for (;;)
        {
          const char *cr = memchr (text, '\r', len);
          if (cr == NULL)
            break;
          sink_line (&sink, s->config, text, cr - text);
          len -= cr - text + 1;
          text = cr + 1;
        }
      sink_line (&sink, s->config, text, len);
    }

  sink_flush (&sink, TRUE);
  refused = sink.too_big || sink.line_too_long || sink.received > RELAY_MAX_RECEIVED;
  /* Only a message about to be accepted is sealed: a file never sealed is never loaded. */
  if (!sink.write_failed && !refused)
    {
      relay_queue_seal_head (head, sink.sum);
      /* A stock file may be a done message's, reused (relay_queue_recycle_files()): what
       * lies past this message is cut off; the fsync below covers the new length. */
      if (pwrite (sink.fd, head, RELAY_QUEUE_HEAD_LEN, 0) != (ssize_t) RELAY_QUEUE_HEAD_LEN
          || ftruncate (sink.fd, (off_t) sink.written) != 0)
        {
          g_warning ("cannot write %s: %s", tmp_path, g_strerror (errno));
          sink.write_failed = TRUE;
        }
    }
  g_clear_pointer (&sink.sum, g_checksum_free);
  if (sink.write_failed || refused)
    close (sink.fd);
  else if (!durable_file_sync_fd (sink.fd, tmp_path, &error))
    {
      g_warning ("%s", error->message);
      g_clear_error (&error);
      sink.write_failed = TRUE;
    }
  sink.fd = -1;

  if (sink.too_big)
    reply (s, "552 5.3.4 Message size exceeds fixed limit of %" G_GUINT64_FORMAT,
           s->config->max_message_size);
  else if (sink.line_too_long)
    reply (s, "500 5.5.6 Message text line longer than %d octets", RELAY_TEXT_LINE_MAX - 2);
  else if (sink.received > RELAY_MAX_RECEIVED)
    reply (s, "554 5.4.6 Mail loop: too many Received: headers");
  else if (sink.write_failed)
    reply (s, "451 4.3.0 Queue file error; try again later");
  else
    {
      RelayMessage *msg = g_steal_pointer (&s->msg);

      /* The file is synced under a name made durable before: accepted. Logged first:
       * once scheduled, a worker may deliver and free @msg at any time. */
      for (guint i = 0; i < msg->rcpts->len; i++)
        g_message ("%s: from=<%s> to=<%s> accepted%s", id, msg->sender,
                   ((RelayRecipient *) g_ptr_array_index (msg->rcpts, i))->address,
                   relay_message_is_tracked (msg) ? " (tracked)" : "");
      relay_harrison_accepted (s->server, s->peer_ip, msg, header, sink.harrison);
      /* A message that fit in the buffer goes to its first attempt from memory. */
      if (!sink.flushed)
        relay_queue_keep_body (s->server->queue, msg, g_steal_pointer (&sink.buf));
      else
        g_string_free (g_steal_pointer (&sink.buf), TRUE);
      /* The 250 goes out before a worker is woken for the message (the file is durable
       * already): the woken worker cannot delay the client's reply (a write that fails
       * here is met again by the session's next read). */
      reply (s, "250 2.0.0 Ok: queued as %s", id);
      if (server_line_reader_available (&s->reader) == 0)
        flush_replies (s);
      relay_queue_schedule (s->server->queue, msg);
      reset_transaction (s);
      return TRUE;
    }
  g_string_free (g_steal_pointer (&sink.buf), TRUE);
  g_unlink (tmp_path);
  reset_transaction (s);
  return TRUE;

lost:
  if (sink.fd >= 0)
    close (sink.fd);
  g_clear_pointer (&sink.sum, g_checksum_free);
  if (sink.buf != NULL)
    g_string_free (sink.buf, TRUE);
  g_unlink (tmp_path);
  return FALSE;
}

/* DATA: a queue slot first (the cap holds whatever other sessions do), then the data. */
static gboolean
cmd_data (Session *s)
{
  gboolean go_on;

  if (s->msg == NULL)
    {
      reply (s, "503 5.5.1 Need MAIL and RCPT before DATA");
      return TRUE;
    }
  if (s->msg->rcpts->len == 0)
    {
      reply (s, "503 5.5.1 No valid recipients");
      return TRUE;
    }
  if (!relay_queue_reserve (s->server->queue))
    {
      g_message ("[%s] queue full (max_messages %u): DATA refused", s->peer_ip,
                 s->config->max_queue_messages);
      reply (s, RELAY_REPLY_QUEUE_FULL);
      reset_transaction (s);
      return TRUE;
    }
  go_on = receive_data (s);
  relay_queue_release (s->server->queue);
  return go_on;
}

static gboolean
cmd_starttls (Session    *s,
              const char *arg)
{
  g_autoptr (GError) error = NULL;
  GIOStream *tls;

  if (s->server->tls_server == NULL)
    {
      reply (s, "502 5.5.1 STARTTLS not available");
      return TRUE;
    }
  if (s->tls != NULL)
    {
      reply (s, "503 5.5.1 TLS already active");
      return TRUE;
    }
  if (arg != NULL && *arg != '\0')
    {
      reply (s, "501 5.5.4 Syntax: STARTTLS");
      return TRUE;
    }
  reply (s, "220 2.0.0 Ready to start TLS");
  if (!flush_replies (s))
    return FALSE;
  /* RFC 3207 section 4.2 / pipelining: anything the client sent after STARTTLS in clear
   * text is discarded, never executed inside TLS. */
  server_line_reader_init (&s->reader, NULL, FALSE);
  tls = msgtrk_tls_handshake (s->server->tls_server, G_IO_STREAM (s->connection), NULL,
                              s->cancel, &error);
  if (tls == NULL)
    {
      g_message ("[%s] TLS handshake failed: %s", s->peer_ip, error->message);
      return FALSE;
    }
  s->tls = tls;
  s->in = g_io_stream_get_input_stream (tls);
  s->out = g_io_stream_get_output_stream (tls);
  server_line_reader_init (&s->reader, s->in, FALSE);
  /* RFC 3207 4.2: forget everything learnt before TLS. */
  g_clear_pointer (&s->helo, g_free);
  s->esmtp = FALSE;
  reset_transaction (s);
  {
    g_autofree char *desc = msgtrk_tls_stream_describe (tls);
    g_info ("[%s] STARTTLS: %s", s->peer_ip, desc != NULL ? desc : "?");
  }
  return TRUE;
}

/* Run one command line (terminator stripped); FALSE ends the session. */
static gboolean
dispatch (Session    *s,
          const char *line,
          gsize       raw_len)
{
  g_autofree char *verb = NULL;
  const char *sp = strchr (line, ' ');
  const char *arg = sp != NULL ? sp + 1 : NULL;
  gsize limit = MSGTRK_SMTP_LINE_MAX;

  verb = g_ascii_strup (line, sp != NULL ? sp - line : -1);
  if (g_str_equal (verb, "MAIL"))
    limit = MSGTRK_SMTP_MAIL_LINE_MAX;
  else if (g_str_equal (verb, "RCPT"))
    limit = MSGTRK_SMTP_RCPT_LINE_MAX;
  if (raw_len > limit)
    {
      reply (s, "500 5.5.6 Line too long");
      s->errors++;
      return TRUE;
    }
  if (g_str_equal (verb, "EHLO"))
    cmd_ehlo (s, arg, TRUE);
  else if (g_str_equal (verb, "HELO"))
    cmd_ehlo (s, arg, FALSE);
  else if (g_str_equal (verb, "MAIL"))
    cmd_mail (s, arg);
  else if (g_str_equal (verb, "RCPT"))
    cmd_rcpt (s, arg);
  else if (g_str_equal (verb, "DATA"))
    {
      if (arg != NULL)
        reply (s, "501 5.5.4 Syntax: DATA");
      else
        return cmd_data (s);
    }
  else if (g_str_equal (verb, "RSET"))
    {
      if (arg != NULL && *arg != '\0')
        reply (s, "501 5.5.4 Syntax: RSET");
      else
        {
          reset_transaction (s);
          reply (s, "250 2.0.0 Ok");
        }
    }
  else if (g_str_equal (verb, "NOOP"))
    reply (s, "250 2.0.0 Ok");
  else if (g_str_equal (verb, "VRFY"))
    reply (s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
  else if (g_str_equal (verb, "HELP"))
    reply (s, "214 2.0.0 See RFC 5321; msgtrk-relay supports DSN (RFC 3461) and MTRK (RFC 3885)");
  else if (g_str_equal (verb, "QUIT"))
    {
      reply (s, "221 2.0.0 %s closing connection", s->config->hostname);
      s->quit = TRUE;
      return FALSE;
    }
  else if (g_str_equal (verb, "STARTTLS"))
    return cmd_starttls (s, arg);
  else
    {
      reply (s, "500 5.5.2 Command not recognized");
      s->errors++;
    }
  return TRUE;
}

static void
lookup_peer (Session *s)
{
  g_autoptr (GSocketAddress) remote = g_socket_connection_get_remote_address (s->connection, NULL);
  GInetAddress *addr;

  if (remote == NULL || !G_IS_INET_SOCKET_ADDRESS (remote))
    {
      s->peer_ip = g_strdup ("unknown");
      return;
    }
  addr = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote));
  s->peer_ip = g_inet_address_to_string (addr);
  if (s->config->reverse_dns)
    {
      GResolver *resolver = g_resolver_get_default ();
      s->peer_name = g_resolver_lookup_by_address (resolver, addr, s->cancel, NULL);
      g_object_unref (resolver);
    }
}

/* Serve one connection until QUIT, EOF, timeout, error or shutdown. */
void
relay_smtp_session_run (RelayServer       *server,
                        GSocketConnection *connection,
                        GCancellable      *cancellable)
{
  Session s = { 0 };
  g_autoptr (GString) line = g_string_new (NULL);

  s.server = server;
  s.config = server->config;
  s.connection = connection;
  s.cancel = cancellable;
  s.in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  s.out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  s.replies = g_string_new (NULL);
  server_line_reader_init (&s.reader, s.in, FALSE);
  g_socket_set_timeout (g_socket_connection_get_socket (connection), s.config->idle_timeout);
  lookup_peer (&s);

  g_info ("[%s] connect from %s", s.peer_ip, s.peer_name != NULL ? s.peer_name : "unknown");
  reply (&s, "220 %s ESMTP msgtrk-relay", s.config->hostname);
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      ServerLineStatus st;
      gboolean go_on;

      /* Pipelining: answer only when the client has nothing more buffered. */
      if (server_line_reader_available (&s.reader) == 0 && !flush_replies (&s))
        break;
      st = server_line_reader_read (&s.reader, MSGTRK_SMTP_RCPT_LINE_MAX, line,
                                   s.cancel, &error);
      if (st == SERVER_LINE_EOF)
        break;
      if (st == SERVER_LINE_ERROR)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
            {
              reply (&s, "421 4.4.2 %s Idle timeout, closing connection", s.config->hostname);
              flush_replies (&s);
            }
          else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            {
              reply (&s, "421 4.3.2 %s Shutting down", s.config->hostname);
              flush_replies (&s);
            }
          break;
        }
      if (st == SERVER_LINE_TOO_LONG)
        {
          reply (&s, "500 5.5.6 Line too long");
          s.errors++;
          go_on = TRUE;
        }
      else
        {
          gsize raw_len = line->len;

          if (!server_line_strip_end (line))
            {
              reply (&s, "500 5.5.2 NUL character in command");
              s.errors++;
              go_on = TRUE;
            }
          else
            go_on = dispatch (&s, line->str, raw_len);
        }
      if (!go_on)
        {
          flush_replies (&s);
          break;
        }
      if (s.errors >= RELAY_SMTP_MAX_ERRORS)
        {
          reply (&s, "421 4.7.0 %s Too many errors, closing connection", s.config->hostname);
          flush_replies (&s);
          break;
        }
    }

  if (s.tls != NULL)
    g_io_stream_close (s.tls, NULL, NULL);
  g_clear_object (&s.tls);
  reset_transaction (&s);
  g_string_free (s.replies, TRUE);
  g_free (s.peer_ip);
  g_free (s.peer_name);
  g_free (s.helo);
}
