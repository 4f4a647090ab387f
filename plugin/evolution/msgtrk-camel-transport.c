/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-camel-transport.c: "SMTP with tracking", an SMTP submission client for Camel.
 *
 * What: CamelTransport + CamelNetworkService speaking RFC 5321 submission with STARTTLS
 * (RFC 3207) or implicit TLS, AUTH through CamelSasl (RFC 4954), 8BITMIME (RFC 6152), SIZE
 * (RFC 1870), and for messages marked MSGTRK_CAMEL_TRACK_HEADER: DSN (RFC 3461) and MTRK
 * (RFC 3885) parameters as far as EHLO offered them, decided by libmsgtrk's MsgtrkEnvelope
 * (the same code the Claws plugin uses), with msgtrkd's Prepare before MAIL and Committed
 * after the end of DATA.
 * How: Camel calls connect_sync (greeting, EHLO or HELO, STARTTLS and EHLO again, AUTH)
 * and send_to_sync in a worker thread; all I/O is blocking on that thread, on the
 * GIOStream that camel_network_service_connect_sync() gives (certificate checks, the
 * proxy and the trust prompt are Camel's, exactly as for Evolution's own SMTP transport).
 * Replies are read with a bounded line reader of our own.
 * Tracking rule: a marked message is prepared with msgtrkd first; if that fails nothing is
 * sent and the error says so (the message stays in the Outbox). A marked message sent to a
 * server that offers neither DSN nor MTRK goes out plain and msgtrkd hears, through
 * Committed, what was offered: it shows "Sent — no tracking offered by HOST" (DESIGN's
 * honesty rule), never a fake tracking state. Unmarked messages go out as plain SMTP.
 * Limits: MSGTRK_CAMEL_REPLY_LINE_MAX octets per reply line, MSGTRK_CAMEL_REPLY_LINES_MAX
 * lines per reply, MSGTRK_CAMEL_SASL_ROUNDS_MAX SASL steps; Camel's 90 s socket timeout.
 * No PIPELINING, no CHUNKING, no SMTPUTF8 for unmarked messages, no POP-before-SMTP.
 * Never: send the mark header; log a password, SASL data or the authenticator; abort on
 * anything the server sends (every malformed reply is a GError).
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <msgtrk.h>

#include "msgtrk-camel-settings.h"
#include "msgtrk-camel-tracker.h"
#include "msgtrk-camel-transport.h"
#include "msgtrk-settings.h"

/* Default ports (RFC 6409 submission, RFC 8314 implicit TLS). */
#define MSGTRK_CAMEL_PORT_SUBMISSION 587
#define MSGTRK_CAMEL_PORT_SUBMISSIONS 465
/* Camel debug key: CAMEL_DEBUG=msgtrk-smtp prints the dialogue (secrets masked). */
#define MSGTRK_CAMEL_DEBUG_KEY "msgtrk-smtp"
/* Longest EHLO argument taken from the EDS setting camel-smtp-helo-argument. */
#define MSGTRK_CAMEL_HELO_NAME_MAX 255

/* One SMTP connection and what was learnt on it. Reference counted (g_atomic_rc_box):
 * Camel may disconnect from another thread while a send runs; that thread only drops its
 * reference, the sending thread keeps a valid connection until it is done with it. Only
 * the thread that holds the service's operation (connect or send) changes the fields. */
typedef struct
{
  GIOStream *stream;            /* (owned) the connection, TLS once secured */
  GByteArray *pending;          /* (owned) octets read and not yet consumed */
  MsgtrkSmtpCapabilities *caps; /* (owned) (nullable) the last EHLO reply; NULL after HELO */
  char *helo_name;              /* (owned) what EHLO says we are */
  gboolean need_rset;           /* a transaction was left half done */
} SmtpConn;

struct _MsgtrkCamelTransport
{
  CamelTransport parent_instance;

  GMutex lock;    /* guards conn */
  SmtpConn *conn; /* (owned) (nullable) */
};

enum
{
  PROP_0,
  PROP_CONNECTABLE,
  PROP_HOST_REACHABLE,
};

static void msgtrk_camel_transport_network_service_init (CamelNetworkServiceInterface *iface);

G_DEFINE_QUARK (msgtrk-camel-error-quark, msgtrk_camel_error)

G_DEFINE_FINAL_TYPE_WITH_CODE (MsgtrkCamelTransport, msgtrk_camel_transport,
                               CAMEL_TYPE_TRANSPORT,
                               G_IMPLEMENT_INTERFACE (CAMEL_TYPE_NETWORK_SERVICE,
                                                      msgtrk_camel_transport_network_service_init))

/* One reply of the server. */
typedef struct
{
  guint code;
  GString *raw;  /* every line with CRLF, for the EHLO parser */
  GString *text; /* the lines' texts joined with a space, for messages */
  char *last;    /* the final line */
} SmtpReply;

static void
smtp_reply_clear (SmtpReply *reply)
{
  if (reply->raw)
    g_string_free (reply->raw, TRUE);
  if (reply->text)
    g_string_free (reply->text, TRUE);
  g_free (reply->last);
  memset (reply, 0, sizeof *reply);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SmtpReply, smtp_reply_clear)

/* ---- small helpers ---- */

static char *
dup_host (MsgtrkCamelTransport *self)
{
  g_autoptr (CamelSettings) settings = camel_service_ref_settings (CAMEL_SERVICE (self));
  char *host = camel_network_settings_dup_host (CAMEL_NETWORK_SETTINGS (settings));

  return host ? host : g_strdup ("");
}

/* Server text as something safe to show: valid UTF-8, no control characters. */
static char *
printable (const char *text)
{
  char *out = g_utf8_make_valid (text, -1);

  for (char *p = out; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  return g_strstrip (out);
}

static void
smtp_conn_clear (gpointer data)
{
  SmtpConn *c = data;

  g_io_stream_close (c->stream, NULL, NULL);
  g_object_unref (c->stream);
  g_byte_array_unref (c->pending);
  g_clear_object (&c->caps);
  g_free (c->helo_name);
}

static SmtpConn *
smtp_conn_new (GIOStream *stream)
{
  SmtpConn *c = g_atomic_rc_box_new0 (SmtpConn);

  c->stream = g_object_ref (stream);
  c->pending = g_byte_array_new ();
  return c;
}

static void
smtp_conn_unref (SmtpConn *c)
{
  g_atomic_rc_box_release_full (c, smtp_conn_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpConn, smtp_conn_unref)

static SmtpConn *
ref_conn (MsgtrkCamelTransport *self)
{
  SmtpConn *c;

  g_mutex_lock (&self->lock);
  c = self->conn ? g_atomic_rc_box_acquire (self->conn) : NULL;
  g_mutex_unlock (&self->lock);
  return c;
}

/* Forget the connection; it is closed when its last user lets go of it. */
static void
drop_connection (MsgtrkCamelTransport *self)
{
  SmtpConn *c;

  g_mutex_lock (&self->lock);
  c = g_steal_pointer (&self->conn);
  g_mutex_unlock (&self->lock);
  if (c)
    smtp_conn_unref (c);
}

static void
debug_line (const char *dir, const char *line)
{
  if (camel_debug (MSGTRK_CAMEL_DEBUG_KEY))
    g_printerr ("[%s] %s %s\n", MSGTRK_CAMEL_DEBUG_KEY, dir, line);
}

static void
set_connection_lost (MsgtrkCamelTransport *self, const char *what, GError *cause, GError **error)
{
  g_autofree char *host = dup_host (self);

  if (cause && g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_propagate_error (error, cause);
      return;
    }
  if (cause)
    {
      g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_CONNECTION_LOST,
                   /* TRANSLATORS: %s: host; %s: e.g. "MAIL FROM"; %s: system error */
                   _("The connection to the SMTP server %s failed during %s: %s"), host, what,
                   cause->message);
      g_error_free (cause);
    }
  else
    g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_CONNECTION_LOST,
                 /* TRANSLATORS: %s: host; %s: e.g. "MAIL FROM" */
                 _("The SMTP server %s closed the connection during %s."), host, what);
}

static void
set_refused (MsgtrkCamelTransport *self, const char *what, const SmtpReply *reply,
             GError **error)
{
  g_autofree char *host = dup_host (self);
  g_autofree char *text = printable (reply->text ? reply->text->str : "");

  g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_REFUSED,
               /* TRANSLATORS: %s: host; %s: e.g. "MAIL FROM"; %u %s: the server's reply */
               _("The SMTP server %s refused %s: %u %s"), host, what, reply->code, text);
}

/* Whether REPLY is the one WHAT needs: EXPECT is a whole code (220, 250, 354) or, below
 * 10, a class (2: any 2xx). Otherwise set_refused(). */
static gboolean
reply_expected (MsgtrkCamelTransport *self, const char *what, const SmtpReply *reply,
                guint expect, GError **error)
{
  if (expect < 10 ? reply->code / 100 == expect : reply->code == expect)
    return TRUE;
  set_refused (self, what, reply, error);
  return FALSE;
}

/* ---- the line reader and writer ---- */

/* One line without its CRLF (a bare LF is accepted). */
static char *
read_line (MsgtrkCamelTransport *self, SmtpConn *c, const char *what,
           GCancellable *cancellable, GError **error)
{
  GInputStream *in = g_io_stream_get_input_stream (c->stream);

  for (;;)
    {
      guint8 *nl = c->pending->len > 0 ? memchr (c->pending->data, '\n', c->pending->len) : NULL;
      guint8 chunk[MSGTRK_CAMEL_READ_CHUNK];
      GError *local_error = NULL;
      gssize n;

      if (nl != NULL)
        {
          gsize len = (gsize) (nl - c->pending->data);
          gsize text_len = len > 0 && nl[-1] == '\r' ? len - 1 : len;
          char *line;

          if (text_len > MSGTRK_CAMEL_REPLY_LINE_MAX)
            break;
          line = g_strndup ((const char *) c->pending->data, text_len);
          g_byte_array_remove_range (c->pending, 0, (guint) (len + 1));
          if (strlen (line) != text_len)
            {
              g_autofree char *host = dup_host (self);
              g_free (line);
              g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_PROTOCOL,
                           _("The SMTP server %s sent a NUL octet in its reply to %s."), host,
                           what);
              return NULL;
            }
          debug_line ("<", line);
          return line;
        }
      /* No LF yet: the text, and a CR, may still be complete. */
      if (c->pending->len > MSGTRK_CAMEL_REPLY_LINE_MAX + 1)
        break;
      n = g_input_stream_read (in, chunk, sizeof chunk, cancellable, &local_error);
      if (n <= 0)
        {
          set_connection_lost (self, what, local_error, error);
          return NULL;
        }
      g_byte_array_append (c->pending, chunk, (guint) n);
    }
  {
    g_autofree char *host = dup_host (self);
    g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_PROTOCOL,
                 _("The SMTP server %s sent a reply line longer than %d octets to %s."), host,
                 MSGTRK_CAMEL_REPLY_LINE_MAX, what);
  }
  return NULL;
}

/*
 * Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *              Reply-code [ SP textstring ] CRLF          (RFC 5321 section 4.2)
 * Reply-code = %x32-35 %x30-35 %x30-39
 * Every line must carry the same code.
 */
static gboolean
read_reply (MsgtrkCamelTransport *self, SmtpConn *c, const char *what, SmtpReply *reply,
            GCancellable *cancellable, GError **error)
{
  smtp_reply_clear (reply);
  reply->raw = g_string_new (NULL);
  reply->text = g_string_new (NULL);
  for (guint lines = 0; lines < MSGTRK_CAMEL_REPLY_LINES_MAX; lines++)
    {
      g_autofree char *line = read_line (self, c, what, cancellable, error);
      guint code;

      if (line == NULL)
        return FALSE;
      if (strlen (line) < 3 || !g_ascii_isdigit (line[0]) || !g_ascii_isdigit (line[1])
          || !g_ascii_isdigit (line[2]) || line[0] < '2' || line[0] > '5'
          || (line[3] != '\0' && line[3] != ' ' && line[3] != '-'))
        {
          g_autofree char *host = dup_host (self);
          g_autofree char *shown = printable (line);
          g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_PROTOCOL,
                       _("The SMTP server %s answered %s with something that is not an SMTP "
                         "reply: “%s”"),
                       host, what, shown);
          return FALSE;
        }
      code = (guint) ((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
      if (lines > 0 && code != reply->code)
        {
          g_autofree char *host = dup_host (self);
          g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_PROTOCOL,
                       _("The SMTP server %s mixed reply codes %u and %u in its reply to %s."),
                       host, reply->code, code, what);
          return FALSE;
        }
      reply->code = code;
      g_string_append (reply->raw, line);
      g_string_append (reply->raw, "\r\n");
      if (line[3] != '\0' && line[4] != '\0')
        {
          if (reply->text->len > 0)
            g_string_append_c (reply->text, ' ');
          g_string_append (reply->text, line + 4);
        }
      if (line[3] != '-')
        {
          reply->last = g_steal_pointer (&line);
          return TRUE;
        }
    }
  {
    g_autofree char *host = dup_host (self);
    g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_PROTOCOL,
                 _("The SMTP server %s sent more than %d lines in its reply to %s."), host,
                 MSGTRK_CAMEL_REPLY_LINES_MAX, what);
  }
  return FALSE;
}

/* Writes LINE and CRLF. SHOWN is what the debug output prints instead (secrets masked). */
static gboolean
write_line (MsgtrkCamelTransport *self, SmtpConn *c, const char *line, const char *shown,
            const char *what, GCancellable *cancellable, GError **error)
{
  g_autofree char *wire = g_strconcat (line, "\r\n", NULL);
  GError *local_error = NULL;

  debug_line (">", shown ? shown : line);
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (c->stream), wire, strlen (wire),
                                  NULL, cancellable, &local_error))
    {
      set_connection_lost (self, what, local_error, error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
command (MsgtrkCamelTransport *self, SmtpConn *c, const char *line, const char *shown,
         const char *what, SmtpReply *reply, GCancellable *cancellable, GError **error)
{
  return write_line (self, c, line, shown, what, cancellable, error)
         && read_reply (self, c, what, reply, cancellable, error);
}

/* command(), then reply_expected(). */
static gboolean
command_expect (MsgtrkCamelTransport *self, SmtpConn *c, const char *line, const char *shown,
                const char *what, guint expect, SmtpReply *reply, GCancellable *cancellable,
                GError **error)
{
  return command (self, c, line, shown, what, reply, cancellable, error)
         && reply_expected (self, what, reply, expect, error);
}

/* ---- msgtrk's settings (org.msgtrk, shared with the Claws plugin) ---- */

/* org.msgtrk, or NULL when its schema is not installed (EDS daemons load this provider:
 * g_settings_new() would abort them). */
static GSettings *
msgtrk_settings_new (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;

  if (source)
    schema = g_settings_schema_source_lookup (source, MSGTRK_CAMEL_SETTINGS_SCHEMA, TRUE);
  if (schema == NULL || !g_settings_schema_has_key (schema, "dsn-notify")
      || !g_settings_schema_has_key (schema, "dsn-ret"))
    return NULL;
  return g_settings_new_full (schema, NULL, NULL);
}

/* dsn-notify: "never" alone wins; no known condition means NEVER; MSGTRK_CAMEL_DSN_NOTIFY
 * without the schema. */
static MsgtrkDsnNotify
dsn_notify_setting (void)
{
  g_autoptr (GSettings) settings = msgtrk_settings_new ();

  return settings != NULL ? msgtrk_settings_get_dsn_notify (settings) : MSGTRK_CAMEL_DSN_NOTIFY;
}

static MsgtrkDsnRet
dsn_ret_setting (void)
{
  g_autoptr (GSettings) settings = msgtrk_settings_new ();

  return settings != NULL ? msgtrk_settings_get_dsn_ret (settings) : MSGTRK_CAMEL_DSN_RET;
}

/* ---- connecting ---- */

/* What EHLO says: EDS's camel-smtp-helo-argument if set and sane, else the local address
 * as an address literal (no reverse lookup: it could stall, and it tells nothing more). */
static char *
helo_name_for (GIOStream *conn)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;
  g_autoptr (GSocketAddress) local = NULL;

  if (source)
    schema = g_settings_schema_source_lookup (source, "org.gnome.evolution-data-server", TRUE);
  if (schema && g_settings_schema_has_key (schema, "camel-smtp-helo-argument"))
    {
      g_autoptr (GSettings) settings = g_settings_new_full (schema, NULL, NULL);
      g_autofree char *name = g_settings_get_string (settings, "camel-smtp-helo-argument");

      g_strstrip (name);
      if (*name && strlen (name) <= MSGTRK_CAMEL_HELO_NAME_MAX
          && strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-[]:")
                 == strlen (name))
        return g_steal_pointer (&name);
    }
  if (G_IS_SOCKET_CONNECTION (conn))
    local = g_socket_connection_get_local_address (G_SOCKET_CONNECTION (conn), NULL);
  if (G_IS_INET_SOCKET_ADDRESS (local))
    {
      GInetAddress *addr = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
      g_autofree char *text = g_inet_address_to_string (addr);

      if (g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6)
        return g_strdup_printf ("[IPv6:%s]", text);
      return g_strdup_printf ("[%s]", text);
    }
  return g_strdup ("localhost");
}

/* EHLO, or HELO if the server does not know EHLO; keeps what EHLO offered. */
static gboolean
greet (MsgtrkCamelTransport *self, SmtpConn *c, GCancellable *cancellable, GError **error)
{
  g_auto (SmtpReply) reply = { 0 };
  g_autofree char *line = g_strdup_printf ("EHLO %s", c->helo_name);
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;

  if (!command (self, c, line, NULL, "EHLO", &reply, cancellable, error))
    return FALSE;
  if (reply.code == 250)
    {
      g_autoptr (GError) parse_error = NULL;

      caps = msgtrk_smtp_capabilities_parse_data (reply.raw->str, reply.raw->len, &parse_error);
      if (caps == NULL)
        {
          g_autofree char *host = dup_host (self);
          g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_PROTOCOL,
                       _("The SMTP server %s sent an EHLO reply that cannot be read: %s"),
                       host, parse_error->message);
          return FALSE;
        }
      g_set_object (&c->caps, caps);
      return TRUE;
    }
  if (reply.code / 100 != 5)
    {
      set_refused (self, "EHLO", &reply, error);
      return FALSE;
    }
  g_free (line);
  line = g_strdup_printf ("HELO %s", c->helo_name);
  if (!command_expect (self, c, line, NULL, "HELO", 250, &reply, cancellable, error))
    return FALSE;
  g_clear_object (&c->caps);
  return TRUE;
}

static gboolean
offers (SmtpConn *c, const char *keyword)
{
  return c->caps != NULL && msgtrk_smtp_capabilities_has (c->caps, keyword);
}

static const char *
offered_params (SmtpConn *c, const char *keyword)
{
  return c->caps ? msgtrk_smtp_capabilities_get_params (c->caps, keyword) : NULL;
}

/* STARTTLS (RFC 3207): anything the server sent after its 220 would have been written by
 * someone before the TLS handshake, so it is refused, not carried over. */
static gboolean
start_tls (MsgtrkCamelTransport *self, SmtpConn *c, GCancellable *cancellable, GError **error)
{
  g_autoptr (GIOStream) tls = NULL;
  g_autofree char *host = dup_host (self);
  g_auto (SmtpReply) reply = { 0 };
  GError *local_error = NULL;

  if (!offers (c, "STARTTLS"))
    {
      g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_SECURITY,
                   _("The SMTP server %s does not offer STARTTLS, which this account requires. "
                     "Nothing was sent."),
                   host);
      return FALSE;
    }
  if (!command_expect (self, c, "STARTTLS", NULL, "STARTTLS", 220, &reply, cancellable, error))
    return FALSE;
  if (c->pending->len > 0)
    {
      g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_SECURITY,
                   _("The SMTP server %s sent data before the TLS handshake (a sign of an "
                     "attack on the connection). Nothing was sent."),
                   host);
      return FALSE;
    }
  tls = camel_network_service_starttls (CAMEL_NETWORK_SERVICE (self), c->stream, &local_error);
  if (tls == NULL || !g_tls_connection_handshake (G_TLS_CONNECTION (tls), cancellable,
                                                  &local_error))
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_propagate_error (error, local_error);
      else
        {
          g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_SECURITY,
                       _("Could not secure the connection to the SMTP server %s: %s"), host,
                       local_error->message);
          g_error_free (local_error);
        }
      return FALSE;
    }
  g_set_object (&c->stream, tls);
  g_clear_object (&c->caps);
  /* RFC 3207 section 4.2: forget what the server said before; ask again. */
  return greet (self, c, cancellable, error);
}

static gboolean
connect_to_server (MsgtrkCamelTransport *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (CamelSettings) settings = camel_service_ref_settings (CAMEL_SERVICE (self));
  CamelNetworkSecurityMethod method
    = camel_network_settings_get_security_method (CAMEL_NETWORK_SETTINGS (settings));
  g_autoptr (GIOStream) stream = NULL;
  g_autoptr (SmtpConn) c = NULL;
  SmtpConn *old;
  g_auto (SmtpReply) reply = { 0 };

  drop_connection (self);
  stream = camel_network_service_connect_sync (CAMEL_NETWORK_SERVICE (self), cancellable,
                                               error);
  if (stream == NULL)
    return FALSE;
  c = smtp_conn_new (stream);
  c->helo_name = helo_name_for (stream);

  if (!read_reply (self, c, _("the greeting"), &reply, cancellable, error)
      || !reply_expected (self, _("the connection"), &reply, 220, error))
    return FALSE;
  if (!greet (self, c, cancellable, error))
    return FALSE;
  if (method == CAMEL_NETWORK_SECURITY_METHOD_STARTTLS_ON_STANDARD_PORT
      && !start_tls (self, c, cancellable, error))
    return FALSE;
  g_mutex_lock (&self->lock);
  old = g_steal_pointer (&self->conn);
  self->conn = g_steal_pointer (&c);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&old, smtp_conn_unref);
  return TRUE;
}

/* ---- CamelService ---- */

static gboolean
msgtrk_camel_transport_connect_sync (CamelService *service, GCancellable *cancellable,
                                     GError **error)
{
  MsgtrkCamelTransport *self = MSGTRK_CAMEL_TRANSPORT (service);
  g_autoptr (CamelSettings) settings = NULL;
  g_autofree char *mechanism = NULL;
  g_autofree char *host = NULL;
  g_autoptr (CamelSession) session = NULL;
  g_autoptr (SmtpConn) c = NULL;
  const char *offered_auth;
  gboolean listed = FALSE;

  if (!CAMEL_SERVICE_CLASS (msgtrk_camel_transport_parent_class)
         ->connect_sync (service, cancellable, error))
    return FALSE;
  if (!connect_to_server (self, cancellable, error))
    return FALSE;

  settings = camel_service_ref_settings (service);
  mechanism = camel_network_settings_dup_auth_mechanism (CAMEL_NETWORK_SETTINGS (settings));
  /* ESourceAuthentication's "none" normally arrives as NULL; be safe if it does not. */
  if (mechanism == NULL || *mechanism == '\0' || g_ascii_strcasecmp (mechanism, "none") == 0)
    return TRUE;

  host = dup_host (self);
  c = ref_conn (self);
  offered_auth = c ? offered_params (c, "AUTH") : NULL;
  if (offered_auth)
    {
      g_auto (GStrv) mechs = g_strsplit_set (offered_auth, " \t", -1);
      const char *wanted = camel_sasl_is_xoauth2_alias (mechanism) ? "XOAUTH2" : mechanism;

      for (guint i = 0; mechs[i]; i++)
        if (g_ascii_strcasecmp (mechs[i], wanted) == 0)
          listed = TRUE;
    }
  if (!listed)
    {
      g_set_error (error, CAMEL_SERVICE_ERROR, CAMEL_SERVICE_ERROR_CANT_AUTHENTICATE,
                   offered_auth
                     ? _("The SMTP server %s does not offer %s authentication (it offers: %s).")
                     : _("The SMTP server %s does not offer %s authentication on this "
                         "connection (no AUTH in its EHLO reply)."),
                   host, mechanism, offered_auth ? offered_auth : "");
      drop_connection (self);
      return FALSE;
    }
  session = camel_service_ref_session (service);
  if (session == NULL)
    {
      g_set_error_literal (error, CAMEL_SERVICE_ERROR, CAMEL_SERVICE_ERROR_UNAVAILABLE,
                           _("You must be working online to complete this operation"));
      drop_connection (self);
      return FALSE;
    }
  if (!camel_session_authenticate_sync (session, service, mechanism, cancellable, error))
    {
      drop_connection (self);
      return FALSE;
    }
  return TRUE;
}

static gboolean
msgtrk_camel_transport_disconnect_sync (CamelService *service, gboolean clean,
                                        GCancellable *cancellable, GError **error)
{
  MsgtrkCamelTransport *self = MSGTRK_CAMEL_TRANSPORT (service);
  g_autoptr (SmtpConn) c = ref_conn (self);

  if (c && clean)
    {
      g_auto (SmtpReply) reply = { 0 };
      command (self, c, "QUIT", NULL, "QUIT", &reply, cancellable, NULL);
    }
  drop_connection (self);
  return CAMEL_SERVICE_CLASS (msgtrk_camel_transport_parent_class)
    ->disconnect_sync (service, clean, cancellable, error);
}

/* AUTH (RFC 4954) with one of Camel's SASL mechanisms; the password comes from the session. */
static CamelAuthenticationResult
msgtrk_camel_transport_authenticate_sync (CamelService *service, const char *mechanism,
                                          GCancellable *cancellable, GError **error)
{
  MsgtrkCamelTransport *self = MSGTRK_CAMEL_TRANSPORT (service);
  g_autoptr (SmtpConn) c = ref_conn (self);
  g_autoptr (CamelSasl) sasl = NULL;
  g_auto (SmtpReply) reply = { 0 };
  g_autofree char *initial = NULL;
  g_autofree char *line = NULL;
  g_autofree char *shown = NULL;
  const char *wire_mech;
  GError *local_error = NULL;

  if (mechanism == NULL || c == NULL)
    {
      g_set_error_literal (error, CAMEL_SERVICE_ERROR, CAMEL_SERVICE_ERROR_CANT_AUTHENTICATE,
                           mechanism ? _("Not connected to the SMTP server.")
                                     : _("No SASL mechanism was specified"));
      return CAMEL_AUTHENTICATION_ERROR;
    }
  sasl = camel_sasl_new ("smtp", mechanism, service);
  if (sasl == NULL)
    {
      g_set_error (error, CAMEL_SERVICE_ERROR, CAMEL_SERVICE_ERROR_CANT_AUTHENTICATE,
                   _("No support for %s authentication"), mechanism);
      return CAMEL_AUTHENTICATION_ERROR;
    }
  wire_mech = camel_sasl_is_xoauth2_alias (mechanism) ? "XOAUTH2" : mechanism;
  initial = camel_sasl_challenge_base64_sync (sasl, NULL, cancellable, &local_error);
  if (local_error)
    {
      g_propagate_error (error, local_error);
      return CAMEL_AUTHENTICATION_ERROR;
    }
  line = initial ? g_strdup_printf ("AUTH %s %s", wire_mech, initial)
                 : g_strdup_printf ("AUTH %s", wire_mech);
  shown = g_strdup_printf ("AUTH %s%s", wire_mech, initial ? " ***" : "");
  if (initial)
    memset (initial, 0, strlen (initial));
  if (!command (self, c, line, shown, "AUTH", &reply, cancellable, error))
    {
      memset (line, 0, strlen (line));
      return CAMEL_AUTHENTICATION_ERROR;
    }
  memset (line, 0, strlen (line));

  for (guint round = 0; reply.code == 334; round++)
    {
      g_autofree char *answer = NULL;
      const char *challenge = reply.last + 3;

      if (round >= MSGTRK_CAMEL_SASL_ROUNDS_MAX)
        {
          g_autofree char *host = dup_host (self);
          g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_PROTOCOL,
                       _("The SMTP server %s asked more than %d SASL questions."), host,
                       MSGTRK_CAMEL_SASL_ROUNDS_MAX);
          return CAMEL_AUTHENTICATION_ERROR;
        }
      while (*challenge == ' ')
        challenge++;
      answer = camel_sasl_challenge_base64_sync (sasl, challenge, cancellable, &local_error);
      if (answer == NULL)
        {
          g_auto (SmtpReply) cancel_reply = { 0 };

          /* RFC 4954: "*" cancels the exchange. */
          command (self, c, "*", NULL, "AUTH", &cancel_reply, cancellable, NULL);
          if (local_error)
            g_propagate_error (error, local_error);
          else
            g_set_error (error, CAMEL_SERVICE_ERROR, CAMEL_SERVICE_ERROR_CANT_AUTHENTICATE,
                         _("%s authentication could not answer the server."), mechanism);
          return CAMEL_AUTHENTICATION_ERROR;
        }
      if (!command (self, c, answer, "***", "AUTH", &reply, cancellable, error))
        {
          memset (answer, 0, strlen (answer));
          return CAMEL_AUTHENTICATION_ERROR;
        }
      memset (answer, 0, strlen (answer));
    }
  if (reply.code == 235)
    return CAMEL_AUTHENTICATION_ACCEPTED;
  if (reply.code == 535)
    return CAMEL_AUTHENTICATION_REJECTED;
  set_refused (self, "AUTH", &reply, error);
  return CAMEL_AUTHENTICATION_ERROR;
}

static GList *
msgtrk_camel_transport_query_auth_types_sync (CamelService *service, GCancellable *cancellable,
                                              GError **error)
{
  MsgtrkCamelTransport *self = MSGTRK_CAMEL_TRANSPORT (service);
  g_autoptr (SmtpConn) c = NULL;
  GList *types = NULL;
  const char *params;

  if (!connect_to_server (self, cancellable, error))
    return NULL;
  c = ref_conn (self);
  params = c ? offered_params (c, "AUTH") : NULL;
  if (params)
    {
      g_auto (GStrv) mechs = g_strsplit_set (params, " \t", -1);

      for (guint i = 0; mechs[i]; i++)
        {
          CamelServiceAuthType *type = *mechs[i] ? camel_sasl_authtype (mechs[i]) : NULL;
          if (type)
            types = g_list_prepend (types, type);
        }
    }
  if (c)
    {
      g_auto (SmtpReply) reply = { 0 };
      command (self, c, "QUIT", NULL, "QUIT", &reply, cancellable, NULL);
    }
  drop_connection (self);
  return g_list_reverse (types);
}

static char *
msgtrk_camel_transport_get_name (CamelService *service, gboolean brief)
{
  g_autofree char *host = dup_host (MSGTRK_CAMEL_TRANSPORT (service));

  if (brief)
    return g_strdup_printf (_("SMTP server %s (with tracking)"), host);
  return g_strdup_printf (_("SMTP mail delivery with tracking via %s"), host);
}

/* ---- sending ---- */

static gboolean
has_8bit_part_cb (CamelMimeMessage *message, CamelMimePart *part, CamelMimePart *parent,
                  gpointer user_data)
{
  gboolean *has_8bit = user_data;
  CamelTransferEncoding encoding = camel_mime_part_get_encoding (part);

  *has_8bit = encoding == CAMEL_TRANSFER_ENCODING_8BIT
              || encoding == CAMEL_TRANSFER_ENCODING_BINARY;
  return !*has_8bit;
}

/* One message's send: what it is and what has happened so far. */
typedef struct
{
  char *sender;
  GPtrArray *recipients; /* (owned) bare addresses, NULL-terminated */
  char *message_id;      /* without brackets */
  gboolean tracked;
  char *envid;                /* (nullable) from Prepare */
  MsgtrkEnvelope *envelope;   /* (nullable) */
  char *final_reply;          /* the reply to the end of DATA */
  gboolean data_ended;        /* the whole message and its final "." were written */
} SendJob;

static void
send_job_clear (SendJob *job)
{
  g_free (job->sender);
  if (job->recipients)
    g_ptr_array_unref (job->recipients);
  g_free (job->message_id);
  g_free (job->envid);
  g_clear_object (&job->envelope);
  g_free (job->final_reply);
  memset (job, 0, sizeof *job);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SendJob, send_job_clear)

static gboolean
header_asks_tracking (const char *value)
{
  g_autofree char *v = value ? g_strstrip (g_strdup (value)) : NULL;

  return v != NULL && g_ascii_strcasecmp (v, MSGTRK_CAMEL_TRACK_VALUE) == 0;
}

static void
set_tracking_unavailable (GError *cause, GError **error)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (cause);
  const char *why;

  if (remote && g_str_has_suffix (remote, ".KeyringUnavailable"))
    why = _("the keyring is locked or not available");
  else if ((remote == NULL && cause->domain == G_IO_ERROR)
           || g_strcmp0 (remote, "org.freedesktop.DBus.Error.ServiceUnknown") == 0
           || g_strcmp0 (remote, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0
           || g_strcmp0 (remote, "org.freedesktop.DBus.Error.NoReply") == 0
           || g_strcmp0 (remote, "org.freedesktop.DBus.Error.Disconnected") == 0
           || (remote && g_str_has_prefix (remote, "org.freedesktop.DBus.Error.Spawn.")))
    why = _("the tracking helper msgtrkd could not be reached");
  else
    why = _("the tracking helper msgtrkd could not prepare it");
  g_dbus_error_strip_remote_error (cause);
  g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_TRACKING_UNAVAILABLE,
               /* TRANSLATORS: first %s: one of the reasons above; second %s: details */
               _("This message is to be tracked, but %s (%s). It was not sent: send it again "
                 "once this is fixed, or untick “Track this message” to send it without "
                 "tracking."),
               why, cause->message);
  g_error_free (cause);
}

/* Prepare with msgtrkd: ENVID and authenticator into an envelope. */
static gboolean
job_prepare (MsgtrkCamelTransport *self, SendJob *job, CamelMimeMessage *message,
             GCancellable *cancellable, GError **error)
{
  g_autofree char *host = dup_host (self);
  g_autofree char *auth = NULL;
  guint timeout = 0;
  GError *local_error = NULL;

  if (!msgtrk_camel_tracker_prepare (job->sender,
                                     (const char * const *) job->recipients->pdata,
                                     job->message_id, camel_mime_message_get_subject (message),
                                     host, cancellable, &job->envid, &auth, &timeout,
                                     &local_error))
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_propagate_error (error, local_error);
      else
        set_tracking_unavailable (local_error, error);
      return FALSE;
    }
  job->envelope = msgtrk_envelope_new (job->envid);
  msgtrk_envelope_set_authenticator (job->envelope, auth);
  msgtrk_envelope_set_mtrk_timeout (job->envelope, timeout);
  msgtrk_envelope_set_notify (job->envelope, dsn_notify_setting ());
  msgtrk_envelope_set_ret (job->envelope, dsn_ret_setting ());
  memset (auth, 0, strlen (auth));
  return TRUE;
}

static char *
mail_from_line (SmtpConn *c, SendJob *job, gboolean body_8bit, gsize size, GError **error)
{
  g_autoptr (GString) line = g_string_new ("MAIL FROM:");

  if (job->tracked)
    {
      g_autoptr (GError) local_error = NULL;
      g_autofree char *arg = msgtrk_envelope_build_mail_from_arg (job->envelope, c->caps,
                                                                  job->sender, &local_error);
      if (arg == NULL)
        {
          g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_INVALID,
                       _("Cannot send from “%s”: %s"), job->sender, local_error->message);
          return NULL;
        }
      g_string_append (line, arg);
    }
  else
    g_string_append_printf (line, "<%s>", job->sender);
  if (body_8bit)
    g_string_append (line, " BODY=8BITMIME");
  if (offers (c, "SIZE"))
    g_string_append_printf (line, " SIZE=%" G_GSIZE_FORMAT, size);
  return g_string_free (g_steal_pointer (&line), FALSE);
}

static char *
rcpt_to_line (SmtpConn *c, SendJob *job, const char *rcpt, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *arg = NULL;

  if (!job->tracked)
    return g_strdup_printf ("RCPT TO:<%s>", rcpt);
  arg = msgtrk_envelope_build_rcpt_to_arg (job->envelope, c->caps, rcpt, &local_error);
  if (arg == NULL)
    {
      g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_INVALID,
                   _("Cannot send to “%s”: %s"), rcpt, local_error->message);
      return NULL;
    }
  return g_strconcat ("RCPT TO:", arg, NULL);
}

/* The MAIL line with the authenticator masked, for debug output. */
static char *
mask_mtrk (const char *line)
{
  const char *m = strstr (line, " MTRK=");

  if (m == NULL)
    return g_strdup (line);
  return g_strdup_printf ("%.*s MTRK=***", (int) (m - line), line);
}

/* The message itself, CRLF and dot-stuffed, then the final dot. */
static gboolean
write_data (MsgtrkCamelTransport *self, SmtpConn *c, CamelMimeMessage *message, gsize size,
            GCancellable *cancellable, GError **error)
{
  g_autoptr (CamelStream) stream = camel_stream_new (c->stream);
  g_autoptr (CamelStream) filtered = camel_stream_filter_new (stream);
  g_autoptr (CamelMimeFilter) progress = camel_mime_filter_progress_new (cancellable, size);
  g_autoptr (CamelMimeFilter) crlf
    = camel_mime_filter_crlf_new (CAMEL_MIME_FILTER_CRLF_ENCODE,
                                  CAMEL_MIME_FILTER_CRLF_MODE_CRLF_DOTS);
  GError *local_error = NULL;

  camel_mime_filter_crlf_set_ensure_crlf_end (CAMEL_MIME_FILTER_CRLF (crlf), TRUE);
  camel_stream_filter_add (CAMEL_STREAM_FILTER (filtered), progress);
  camel_stream_filter_add (CAMEL_STREAM_FILTER (filtered), crlf);
  if (camel_data_wrapper_write_to_stream_sync (CAMEL_DATA_WRAPPER (message), filtered,
                                               cancellable, &local_error) < 0
      || camel_stream_flush (filtered, cancellable, &local_error) < 0)
    {
      set_connection_lost (self, "DATA", local_error, error);
      return FALSE;
    }
  return write_line (self, c, ".", NULL, _("the end of DATA"), cancellable, error);
}

/* MAIL, RCPT…, DATA on a connected session. On failure the caller drops or resets. */
static gboolean
transaction (MsgtrkCamelTransport *self, SmtpConn *c, SendJob *job,
             CamelMimeMessage *message, GCancellable *cancellable, GError **error)
{
  g_auto (SmtpReply) reply = { 0 };
  g_autofree char *mail = NULL;
  g_autofree char *mail_shown = NULL;
  gboolean has_8bit = FALSE;
  gboolean body_8bit = FALSE;
  gsize size;
  const char *size_param;

  camel_mime_message_foreach_part (message, has_8bit_part_cb, &has_8bit);
  if (has_8bit && offers (c, "8BITMIME"))
    body_8bit = TRUE;
  else if (has_8bit)
    camel_mime_message_set_best_encoding (message, CAMEL_BESTENC_GET_ENCODING,
                                          CAMEL_BESTENC_7BIT);
  size = camel_data_wrapper_calculate_size_sync (CAMEL_DATA_WRAPPER (message), cancellable,
                                                 NULL);
  size_param = offered_params (c, "SIZE");
  if (size_param && *size_param)
    {
      guint64 limit = g_ascii_strtoull (size_param, NULL, 10);
      if (limit > 0 && size > limit)
        {
          g_autofree char *host = dup_host (self);
          g_autofree char *size_text = g_format_size_full (size, G_FORMAT_SIZE_LONG_FORMAT);
          g_autofree char *limit_text = g_format_size_full (limit, G_FORMAT_SIZE_LONG_FORMAT);

          /* No format macros inside _(): xgettext cannot see through them. */
          g_set_error (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_TOO_BIG,
                       /* TRANSLATORS: sizes as "1.2 kB (1,234 bytes)"; %s: host */
                       _("The message is %s; the SMTP server %s takes at most %s."), size_text,
                       host, limit_text);
          return FALSE;
        }
    }

  if (c->need_rset)
    {
      if (!command_expect (self, c, "RSET", NULL, "RSET", 250, &reply, cancellable, error))
        return FALSE;
      c->need_rset = FALSE;
    }

  mail = mail_from_line (c, job, body_8bit, size, error);
  if (mail == NULL)
    return FALSE;
  mail_shown = mask_mtrk (mail);
  c->need_rset = TRUE;
  if (!command_expect (self, c, mail, mail_shown, "MAIL FROM", 2, &reply, cancellable, error))
    return FALSE;
  for (guint i = 0; i + 1 < job->recipients->len; i++)
    {
      const char *rcpt = g_ptr_array_index (job->recipients, i);
      g_autofree char *line = rcpt_to_line (c, job, rcpt, error);
      g_autofree char *what = NULL;

      if (line == NULL)
        return FALSE;
      what = g_strdup_printf ("RCPT TO:<%s>", rcpt);
      if (!command_expect (self, c, line, NULL, what, 2, &reply, cancellable, error))
        return FALSE;
    }
  if (!command_expect (self, c, "DATA", NULL, "DATA", 354, &reply, cancellable, error)
      || !write_data (self, c, message, size, cancellable, error))
    return FALSE;
  /* From here the server may have the message, whatever becomes of its reply. */
  job->data_ended = TRUE;
  if (!read_reply (self, c, _("the end of DATA"), &reply, cancellable, error)
      || !reply_expected (self, _("the message"), &reply, 2, error))
    return FALSE;
  c->need_rset = FALSE;
  job->final_reply = g_steal_pointer (&reply.last);
  return TRUE;
}

static gboolean
msgtrk_camel_transport_send_to_sync (CamelTransport *transport, CamelMimeMessage *message,
                                     CamelAddress *from, CamelAddress *recipients,
                                     gboolean *out_sent_message_saved,
                                     GCancellable *cancellable, GError **error)
{
  MsgtrkCamelTransport *self = MSGTRK_CAMEL_TRANSPORT (transport);
  CamelMedium *medium = CAMEL_MEDIUM (message);
  g_autoptr (SmtpConn) c = ref_conn (self);
  g_auto (SendJob) job = { 0 };
  g_autofree char *track_value = NULL;
  g_autofree char *content_track_value = NULL; /* the composer's Harrison mark */
  CamelNameValueArray *saved_bcc = NULL;
  const char *addr = NULL;
  GError *local_error = NULL;
  gboolean ok;
  gint n;

  if (c == NULL)
    {
      g_set_error_literal (error, CAMEL_SERVICE_ERROR, CAMEL_SERVICE_ERROR_NOT_CONNECTED,
                           _("Cannot send message: service not connected."));
      return FALSE;
    }
  if (from == NULL || !CAMEL_IS_INTERNET_ADDRESS (from)
      || !camel_internet_address_get (CAMEL_INTERNET_ADDRESS (from), 0, NULL, &addr)
      || addr == NULL)
    {
      g_set_error_literal (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_INVALID,
                           _("Cannot send message: sender address not valid."));
      return FALSE;
    }
  n = recipients && CAMEL_IS_INTERNET_ADDRESS (recipients) ? camel_address_length (recipients) : 0;
  if (n <= 0)
    {
      g_set_error_literal (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_INVALID,
                           _("Cannot send message: no recipients defined."));
      return FALSE;
    }
  job.sender = g_strdup (addr);
  job.recipients = g_ptr_array_new_with_free_func (g_free);
  for (gint i = 0; i < n; i++)
    {
      const char *r = NULL;
      if (!camel_internet_address_get (CAMEL_INTERNET_ADDRESS (recipients), i, NULL, &r)
          || r == NULL || *r == '\0')
        {
          g_set_error_literal (error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_INVALID,
                               _("Cannot send message: one or more invalid recipients"));
          return FALSE;
        }
      g_ptr_array_add (job.recipients, g_strdup (r));
    }
  g_ptr_array_add (job.recipients, NULL);
  if (camel_mime_message_get_message_id (message) == NULL)
    camel_mime_message_set_message_id (message, NULL);
  job.message_id = g_strdup (camel_mime_message_get_message_id (message));

  track_value = g_strdup (camel_medium_get_header (medium, MSGTRK_CAMEL_TRACK_HEADER));
  job.tracked = header_asks_tracking (track_value);

  camel_operation_push_message (cancellable, _("Sending message"));
  if (job.tracked && !job_prepare (self, &job, message, cancellable, error))
    {
      camel_operation_pop_message (cancellable);
      return FALSE;
    }

  /* Harrison (docs/harrison.md): the composer's mark becomes "Content-Track: <key>" (kept
   * on the copy in Sent: it is what was sent); without a key the message goes untouched. */
  content_track_value = g_strdup (camel_medium_get_header (medium,
                                                           MSGTRK_CAMEL_CONTENT_TRACK_HEADER));
  if (job.tracked && header_asks_tracking (content_track_value))
    {
      g_autoptr (GError) ct_error = NULL;
      g_autofree char *key = msgtrk_camel_tracker_content_track (job.envid, cancellable,
                                                                 &ct_error);

      if (key != NULL)
        camel_medium_set_header (medium, "Content-Track", key);
      else
        g_message ("msgtrk: sent without Content-Track: %s", ct_error->message);
    }
  camel_medium_remove_header (medium, MSGTRK_CAMEL_CONTENT_TRACK_HEADER);
  /* Neither the mark nor Bcc leaves; both are back on the message object afterwards
   * (Evolution files this object in Sent). */
  camel_medium_remove_header (medium, MSGTRK_CAMEL_TRACK_HEADER);
  if (camel_medium_get_header (medium, "Bcc") != NULL)
    {
      saved_bcc = camel_medium_dup_headers (medium);
      camel_medium_remove_header (medium, "Bcc");
    }
  ok = transaction (self, c, &job, message, cancellable, &local_error);
  if (saved_bcc)
    {
      const char *name, *value;
      for (guint i = 0; camel_name_value_array_get (saved_bcc, i, &name, &value); i++)
        if (g_ascii_strcasecmp (name, "Bcc") == 0)
          camel_medium_add_header (medium, name, value);
      camel_name_value_array_free (saved_bcc);
    }
  if (track_value)
    camel_medium_set_header (medium, MSGTRK_CAMEL_TRACK_HEADER, track_value);
  if (content_track_value)
    camel_medium_set_header (medium, MSGTRK_CAMEL_CONTENT_TRACK_HEADER, content_track_value);
  camel_operation_pop_message (cancellable);

  if (!ok)
    {
      if (job.envid && job.data_ended
          && !g_error_matches (local_error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_REFUSED))
        {
          /* The message and its final "." went out and no verdict came back (connection
           * lost, timeout, cancelled): the server may have queued it. Not "not sent":
           * msgtrkd records it as sent with no reply, and tracking tells what became of
           * it (an attempt aborted would be forgotten at the retry's Prepare). */
          g_auto (GStrv) offered
            = c->caps ? msgtrk_smtp_capabilities_list_keywords (c->caps) : NULL;
          g_autoptr (GError) commit_error = NULL;
          g_autofree char *text = g_strdup_printf (_("no reply to the end of the message: "
                                                     "%s; it may have been sent"),
                                                   local_error->message);

          if (!msgtrk_camel_tracker_committed (job.envid, (const char * const *) offered,
                                               text, NULL, &commit_error))
            g_warning ("msgtrkd did not take the commit of <%s>: %s", job.message_id,
                       commit_error->message);
        }
      else if (job.envid)
        {
          g_autoptr (GError) abort_error = NULL;
          if (!msgtrk_camel_tracker_aborted (job.envid, local_error->message, NULL,
                                             &abort_error))
            g_warning ("msgtrkd did not take the abort of a tracked message: %s",
                       abort_error->message);
        }
      if (g_error_matches (local_error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_CONNECTION_LOST)
          || g_error_matches (local_error, MSGTRK_CAMEL_ERROR, MSGTRK_CAMEL_ERROR_PROTOCOL)
          || g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        camel_service_disconnect_sync (CAMEL_SERVICE (self), FALSE, NULL, NULL);
      g_propagate_error (error, local_error);
      return FALSE;
    }

  if (job.tracked)
    {
      g_auto (GStrv) offered
        = c->caps ? msgtrk_smtp_capabilities_list_keywords (c->caps) : NULL;
      g_autoptr (GError) commit_error = NULL;

      /* The message is out: a failure here must not fail the send (Evolution would send
       * it again). msgtrkd keeps it as "sending" and the user sees that. */
      if (!msgtrk_camel_tracker_committed (job.envid, (const char * const *) offered,
                                           job.final_reply, NULL, &commit_error))
        g_warning ("msgtrkd did not take the commit of <%s>: %s", job.message_id,
                   commit_error->message);
    }
  return TRUE;
}

/* ---- CamelNetworkService ---- */

static const char *
msgtrk_camel_transport_get_service_name (CamelNetworkService *service,
                                         CamelNetworkSecurityMethod method)
{
  return method == CAMEL_NETWORK_SECURITY_METHOD_SSL_ON_ALTERNATE_PORT ? "submissions"
                                                                       : "submission";
}

static guint16
msgtrk_camel_transport_get_default_port (CamelNetworkService *service,
                                         CamelNetworkSecurityMethod method)
{
  return method == CAMEL_NETWORK_SECURITY_METHOD_SSL_ON_ALTERNATE_PORT
           ? MSGTRK_CAMEL_PORT_SUBMISSIONS
           : MSGTRK_CAMEL_PORT_SUBMISSION;
}

static void
msgtrk_camel_transport_network_service_init (CamelNetworkServiceInterface *iface)
{
  iface->get_service_name = msgtrk_camel_transport_get_service_name;
  iface->get_default_port = msgtrk_camel_transport_get_default_port;
}

/* ---- GObject ---- */

static void
msgtrk_camel_transport_set_property (GObject *object, guint property_id, const GValue *value,
                                     GParamSpec *pspec)
{
  switch (property_id)
    {
    case PROP_CONNECTABLE:
      camel_network_service_set_connectable (CAMEL_NETWORK_SERVICE (object),
                                             g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, property_id, pspec);
    }
}

static void
msgtrk_camel_transport_get_property (GObject *object, guint property_id, GValue *value,
                                     GParamSpec *pspec)
{
  switch (property_id)
    {
    case PROP_CONNECTABLE:
      g_value_take_object (value,
                           camel_network_service_ref_connectable (CAMEL_NETWORK_SERVICE (object)));
      break;
    case PROP_HOST_REACHABLE:
      g_value_set_boolean (value,
                           camel_network_service_get_host_reachable (CAMEL_NETWORK_SERVICE (object)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, property_id, pspec);
    }
}

static void
msgtrk_camel_transport_finalize (GObject *object)
{
  MsgtrkCamelTransport *self = MSGTRK_CAMEL_TRANSPORT (object);

  g_clear_pointer (&self->conn, smtp_conn_unref);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (msgtrk_camel_transport_parent_class)->finalize (object);
}

static void
msgtrk_camel_transport_class_init (MsgtrkCamelTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  CamelServiceClass *service_class = CAMEL_SERVICE_CLASS (klass);
  CamelTransportClass *transport_class = CAMEL_TRANSPORT_CLASS (klass);

  object_class->set_property = msgtrk_camel_transport_set_property;
  object_class->get_property = msgtrk_camel_transport_get_property;
  object_class->finalize = msgtrk_camel_transport_finalize;

  service_class->settings_type = MSGTRK_TYPE_CAMEL_SETTINGS;
  service_class->get_name = msgtrk_camel_transport_get_name;
  service_class->connect_sync = msgtrk_camel_transport_connect_sync;
  service_class->disconnect_sync = msgtrk_camel_transport_disconnect_sync;
  service_class->authenticate_sync = msgtrk_camel_transport_authenticate_sync;
  service_class->query_auth_types_sync = msgtrk_camel_transport_query_auth_types_sync;

  transport_class->send_to_sync = msgtrk_camel_transport_send_to_sync;

  g_object_class_override_property (object_class, PROP_CONNECTABLE, "connectable");
  g_object_class_override_property (object_class, PROP_HOST_REACHABLE, "host-reachable");
}

static void
msgtrk_camel_transport_init (MsgtrkCamelTransport *self)
{
  g_mutex_init (&self->lock);
}
