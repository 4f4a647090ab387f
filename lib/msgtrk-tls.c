/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-tls.c: TLS over any GIOStream with OpenSSL 3 and memory BIOs.
 *
 * What it is for: STARTTLS in the MTQP client and in msgtrk's own servers. The SSL object
 * never touches a file descriptor: it reads ciphertext from one memory BIO and writes to
 * another; this file pumps those bytes to and from the base stream with its *sync* read
 * and write calls. The returned GIOStream implements sync I/O only: callers run it in
 * their own thread or in libmsgtrk's bounded pool (msgtrk-worker.c), never through GIO's
 * default async implementations (those would use GLib's shared pool).
 *
 * Concurrency: one thread may read while another writes. The SSL object and the BIOs are
 * guarded by one mutex that is never held across base-stream I/O; a second mutex keeps
 * ciphertext leaving in the order OpenSSL produced it. Renegotiation is disabled, so a
 * write never needs to read.
 *
 * Limits: TLS 1.2 or newer. Timeouts are those of the base stream (socket timeouts);
 * every blocking call honours its GCancellable.
 *
 * Never: log key material or plaintext; accept a failed verification; keep going after a
 * fatal TLS alert.
 *
 * Why OpenSSL and not GIO's GTlsConnection (the protocol floor, errors in words, the
 * shared pool): docs/tls.md.
 */
#include "config.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "msgtrk-private.h"
#include "msgtrk-tls-private.h"

/* Bytes moved between the base stream and the BIOs per call. */
#define TLS_PUMP_CHUNK 16384

struct _MsgtrkTlsContext
{
  gint     ref_count;
  SSL_CTX *ssl_ctx;
  gboolean is_server;
};

/* The state shared by the GIOStream and its two sub-streams (reference counted). */
typedef struct
{
  SSL       *ssl;
  BIO       *rbio;        /* ciphertext in: we write what the base stream gave us */
  BIO       *wbio;        /* ciphertext out: we drain it into the base stream */
  GIOStream *base;        /* (owned) */
  GMutex     ssl_lock;    /* guards ssl, rbio, wbio */
  GMutex     write_lock;  /* serialises draining wbio into the base stream */
  gboolean   shutdown_sent;
} TlsConn;

static TlsConn *
tls_conn_ref (TlsConn *conn)
{
  return g_atomic_rc_box_acquire (conn);
}

static void
tls_conn_clear (gpointer data)
{
  TlsConn *conn = data;

  SSL_free (conn->ssl); /* frees both BIOs */
  g_clear_object (&conn->base);
  g_mutex_clear (&conn->ssl_lock);
  g_mutex_clear (&conn->write_lock);
}

static void
tls_conn_unref (TlsConn *conn)
{
  g_atomic_rc_box_release_full (conn, tls_conn_clear);
}

/* Text of the first queued OpenSSL error (and clear the queue), for messages. */
static char *
tls_take_openssl_error (void)
{
  unsigned long code = ERR_get_error ();
  char buf[256];

  ERR_clear_error ();
  if (code == 0)
    return g_strdup ("unknown error");
  ERR_error_string_n (code, buf, sizeof buf);
  return g_strdup (buf);
}

/* Drain the outgoing BIO into the base stream, in order. */
static gboolean
tls_conn_flush (TlsConn      *conn,
                GCancellable *cancellable,
                GError      **error)
{
  GOutputStream *out = g_io_stream_get_output_stream (conn->base);
  guint8 buf[TLS_PUMP_CHUNK];
  gboolean ok = TRUE;

  g_mutex_lock (&conn->write_lock);
  for (;;)
    {
      int n;

      g_mutex_lock (&conn->ssl_lock);
      n = BIO_read (conn->wbio, buf, sizeof buf);
      g_mutex_unlock (&conn->ssl_lock);
      if (n <= 0)
        break;
      if (!g_output_stream_write_all (out, buf, (gsize) n, NULL, cancellable, error))
        {
          ok = FALSE;
          break;
        }
    }
  g_mutex_unlock (&conn->write_lock);
  return ok;
}

/* Read one chunk of ciphertext from the base stream into the incoming BIO.
 * Returns 1 when bytes were fed, 0 at end of stream, -1 on error. */
static int
tls_conn_fill (TlsConn      *conn,
               GCancellable *cancellable,
               GError      **error)
{
  GInputStream *in = g_io_stream_get_input_stream (conn->base);
  guint8 buf[TLS_PUMP_CHUNK];
  gssize n;

  n = g_input_stream_read (in, buf, sizeof buf, cancellable, error);
  if (n < 0)
    return -1;
  if (n == 0)
    return 0;
  g_mutex_lock (&conn->ssl_lock);
  BIO_write (conn->rbio, buf, (int) n);
  g_mutex_unlock (&conn->ssl_lock);
  return 1;
}

/* ---- input stream ---------------------------------------------------------------- */

#define MSGTRK_TYPE_TLS_INPUT_STREAM (msgtrk_tls_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkTlsInputStream, msgtrk_tls_input_stream, MSGTRK, TLS_INPUT_STREAM,
                      GInputStream)

struct _MsgtrkTlsInputStream
{
  GInputStream parent_instance;
  TlsConn     *conn;
};

G_DEFINE_FINAL_TYPE (MsgtrkTlsInputStream, msgtrk_tls_input_stream, G_TYPE_INPUT_STREAM)

static gssize
msgtrk_tls_input_stream_read (GInputStream *stream,
                              void         *buffer,
                              gsize         count,
                              GCancellable *cancellable,
                              GError      **error)
{
  MsgtrkTlsInputStream *self = MSGTRK_TLS_INPUT_STREAM (stream);
  TlsConn *conn = self->conn;

  if (count > G_MAXINT)
    count = G_MAXINT;

  for (;;)
    {
      int n, err;
      int fed;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return -1;

      g_mutex_lock (&conn->ssl_lock);
      ERR_clear_error ();
      n = SSL_read (conn->ssl, buffer, (int) count);
      err = n > 0 ? SSL_ERROR_NONE : SSL_get_error (conn->ssl, n);
      g_mutex_unlock (&conn->ssl_lock);

      /* TLS 1.3 may answer a key update or send tickets while reading. Not with the
       * read's cancellable: ciphertext taken out of the BIO and then not written (a read
       * cancelled at a deadline) would break the stream; the base stream's own timeout
       * bounds the write. */
      if (!tls_conn_flush (conn, NULL, error))
        return -1;

      switch (err)
        {
        case SSL_ERROR_NONE:
          return n;
        case SSL_ERROR_ZERO_RETURN:
          return 0; /* close_notify */
        case SSL_ERROR_WANT_READ:
          fed = tls_conn_fill (conn, cancellable, error);
          if (fed < 0)
            return -1;
          if (fed == 0)
            return 0; /* peer closed without close_notify: plain end of stream */
          break;
        case SSL_ERROR_WANT_WRITE:
          break; /* flushed above */
        default:
          {
            g_autofree char *why = tls_take_openssl_error ();

            g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                         _("TLS: cannot read from the connection: %s"), why);
            return -1;
          }
        }
    }
}

static gboolean
msgtrk_tls_input_stream_close (GInputStream *stream,
                               GCancellable *cancellable,
                               GError      **error)
{
  return TRUE; /* the GIOStream closes the base stream */
}

static void
msgtrk_tls_input_stream_finalize (GObject *object)
{
  MsgtrkTlsInputStream *self = MSGTRK_TLS_INPUT_STREAM (object);

  g_clear_pointer (&self->conn, tls_conn_unref);
  G_OBJECT_CLASS (msgtrk_tls_input_stream_parent_class)->finalize (object);
}

static void
msgtrk_tls_input_stream_class_init (MsgtrkTlsInputStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GInputStreamClass *input_class = G_INPUT_STREAM_CLASS (klass);

  object_class->finalize = msgtrk_tls_input_stream_finalize;
  input_class->read_fn = msgtrk_tls_input_stream_read;
  input_class->close_fn = msgtrk_tls_input_stream_close;
}

static void
msgtrk_tls_input_stream_init (MsgtrkTlsInputStream *self)
{
}

/* ---- output stream --------------------------------------------------------------- */

#define MSGTRK_TYPE_TLS_OUTPUT_STREAM (msgtrk_tls_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkTlsOutputStream, msgtrk_tls_output_stream, MSGTRK,
                      TLS_OUTPUT_STREAM, GOutputStream)

struct _MsgtrkTlsOutputStream
{
  GOutputStream parent_instance;
  TlsConn      *conn;
};

G_DEFINE_FINAL_TYPE (MsgtrkTlsOutputStream, msgtrk_tls_output_stream, G_TYPE_OUTPUT_STREAM)

static gssize
msgtrk_tls_output_stream_write (GOutputStream *stream,
                                const void    *buffer,
                                gsize          count,
                                GCancellable  *cancellable,
                                GError       **error)
{
  MsgtrkTlsOutputStream *self = MSGTRK_TLS_OUTPUT_STREAM (stream);
  TlsConn *conn = self->conn;
  int n, err;

  if (count == 0)
    return 0;
  if (count > G_MAXINT)
    count = G_MAXINT;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return -1;

  g_mutex_lock (&conn->ssl_lock);
  ERR_clear_error ();
  n = SSL_write (conn->ssl, buffer, (int) count);
  err = n > 0 ? SSL_ERROR_NONE : SSL_get_error (conn->ssl, n);
  g_mutex_unlock (&conn->ssl_lock);

  if (!tls_conn_flush (conn, cancellable, error))
    return -1;
  if (err == SSL_ERROR_NONE)
    return n;

  {
    g_autofree char *why = tls_take_openssl_error ();

    g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                 _("TLS: cannot write to the connection: %s"), why);
  }
  return -1;
}

static gboolean
msgtrk_tls_output_stream_flush (GOutputStream *stream,
                                GCancellable  *cancellable,
                                GError       **error)
{
  MsgtrkTlsOutputStream *self = MSGTRK_TLS_OUTPUT_STREAM (stream);

  if (!tls_conn_flush (self->conn, cancellable, error))
    return FALSE;
  return g_output_stream_flush (g_io_stream_get_output_stream (self->conn->base),
                                cancellable, error);
}

/* Closing the writing side sends close_notify, best-effort. */
static gboolean
msgtrk_tls_output_stream_close (GOutputStream *stream,
                                GCancellable  *cancellable,
                                GError       **error)
{
  MsgtrkTlsOutputStream *self = MSGTRK_TLS_OUTPUT_STREAM (stream);
  TlsConn *conn = self->conn;
  gboolean send = FALSE;

  g_mutex_lock (&conn->ssl_lock);
  if (!conn->shutdown_sent && SSL_is_init_finished (conn->ssl))
    {
      conn->shutdown_sent = TRUE;
      send = TRUE;
      ERR_clear_error ();
      SSL_shutdown (conn->ssl);
      ERR_clear_error ();
    }
  g_mutex_unlock (&conn->ssl_lock);

  if (send)
    tls_conn_flush (conn, cancellable, NULL);
  return TRUE;
}

static void
msgtrk_tls_output_stream_finalize (GObject *object)
{
  MsgtrkTlsOutputStream *self = MSGTRK_TLS_OUTPUT_STREAM (object);

  g_clear_pointer (&self->conn, tls_conn_unref);
  G_OBJECT_CLASS (msgtrk_tls_output_stream_parent_class)->finalize (object);
}

static void
msgtrk_tls_output_stream_class_init (MsgtrkTlsOutputStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GOutputStreamClass *output_class = G_OUTPUT_STREAM_CLASS (klass);

  object_class->finalize = msgtrk_tls_output_stream_finalize;
  output_class->write_fn = msgtrk_tls_output_stream_write;
  output_class->flush = msgtrk_tls_output_stream_flush;
  output_class->close_fn = msgtrk_tls_output_stream_close;
}

static void
msgtrk_tls_output_stream_init (MsgtrkTlsOutputStream *self)
{
}

/* ---- the GIOStream --------------------------------------------------------------- */

#define MSGTRK_TYPE_TLS_STREAM (msgtrk_tls_stream_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkTlsStream, msgtrk_tls_stream, MSGTRK, TLS_STREAM, GIOStream)

struct _MsgtrkTlsStream
{
  GIOStream              parent_instance;
  TlsConn               *conn;
  MsgtrkTlsInputStream  *input;
  MsgtrkTlsOutputStream *output;
};

G_DEFINE_FINAL_TYPE (MsgtrkTlsStream, msgtrk_tls_stream, G_TYPE_IO_STREAM)

static GInputStream *
msgtrk_tls_stream_get_input_stream (GIOStream *stream)
{
  return G_INPUT_STREAM (MSGTRK_TLS_STREAM (stream)->input);
}

static GOutputStream *
msgtrk_tls_stream_get_output_stream (GIOStream *stream)
{
  return G_OUTPUT_STREAM (MSGTRK_TLS_STREAM (stream)->output);
}

/* Close both sides (close_notify first), then the base stream. */
static gboolean
msgtrk_tls_stream_close (GIOStream    *stream,
                         GCancellable *cancellable,
                         GError      **error)
{
  MsgtrkTlsStream *self = MSGTRK_TLS_STREAM (stream);
  gboolean ok;

  g_output_stream_close (G_OUTPUT_STREAM (self->output), cancellable, NULL);
  g_input_stream_close (G_INPUT_STREAM (self->input), cancellable, NULL);
  ok = g_io_stream_close (self->conn->base, cancellable, error);
  return ok;
}

static void
msgtrk_tls_stream_finalize (GObject *object)
{
  MsgtrkTlsStream *self = MSGTRK_TLS_STREAM (object);

  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_pointer (&self->conn, tls_conn_unref);
  G_OBJECT_CLASS (msgtrk_tls_stream_parent_class)->finalize (object);
}

static void
msgtrk_tls_stream_class_init (MsgtrkTlsStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *io_class = G_IO_STREAM_CLASS (klass);

  object_class->finalize = msgtrk_tls_stream_finalize;
  io_class->get_input_stream = msgtrk_tls_stream_get_input_stream;
  io_class->get_output_stream = msgtrk_tls_stream_get_output_stream;
  io_class->close_fn = msgtrk_tls_stream_close;
}

static void
msgtrk_tls_stream_init (MsgtrkTlsStream *self)
{
}

static MsgtrkTlsStream *
msgtrk_tls_stream_new (TlsConn *conn)
{
  MsgtrkTlsStream *self = g_object_new (MSGTRK_TYPE_TLS_STREAM, NULL);

  self->conn = tls_conn_ref (conn);
  self->input = g_object_new (MSGTRK_TYPE_TLS_INPUT_STREAM, NULL);
  self->input->conn = tls_conn_ref (conn);
  self->output = g_object_new (MSGTRK_TYPE_TLS_OUTPUT_STREAM, NULL);
  self->output->conn = tls_conn_ref (conn);
  return self;
}

/* ---- contexts -------------------------------------------------------------------- */

static MsgtrkTlsContext *
tls_context_wrap (SSL_CTX *ssl_ctx,
                  gboolean is_server)
{
  MsgtrkTlsContext *ctx = g_new0 (MsgtrkTlsContext, 1);

  ctx->ref_count = 1;
  ctx->ssl_ctx = ssl_ctx;
  ctx->is_server = is_server;
  return ctx;
}

/* Settings both sides share: TLS 1.2 or newer, no renegotiation, no compression. */
static gboolean
tls_context_common (SSL_CTX *ssl_ctx,
                    GError **error)
{
  if (!SSL_CTX_set_min_proto_version (ssl_ctx, TLS1_2_VERSION))
    {
      g_autofree char *why = tls_take_openssl_error ();

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: cannot require TLS 1.2 or newer: %s"), why);
      return FALSE;
    }
  SSL_CTX_set_options (ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode (ssl_ctx, SSL_MODE_AUTO_RETRY);
  return TRUE;
}

/**
 * msgtrk_tls_context_new_client: (skip)
 * @ca_file: (nullable): a PEM file of extra trusted CA certificates
 * @use_system_store: whether to trust the system's default CA store too
 * @error: return location for a #GError
 *
 * Makes a client context: TLS 1.2 or newer, peer verification on. Host-name checks are
 * set per connection by msgtrk_tls_handshake().
 *
 * Returns: (transfer full): a new context, or %NULL with @error set
 */
MsgtrkTlsContext *
msgtrk_tls_context_new_client (const char *ca_file,
                               gboolean    use_system_store,
                               GError    **error)
{
  SSL_CTX *ssl_ctx;

  ERR_clear_error ();
  ssl_ctx = SSL_CTX_new (TLS_client_method ());
  if (ssl_ctx == NULL)
    {
      g_autofree char *why = tls_take_openssl_error ();

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: cannot create a client context: %s"), why);
      return NULL;
    }
  if (!tls_context_common (ssl_ctx, error))
    goto fail;
  SSL_CTX_set_verify (ssl_ctx, SSL_VERIFY_PEER, NULL);

  if (use_system_store && !SSL_CTX_set_default_verify_paths (ssl_ctx))
    {
      g_autofree char *why = tls_take_openssl_error ();

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: cannot load the system's trusted certificates: %s"), why);
      goto fail;
    }
  if (ca_file != NULL && !SSL_CTX_load_verify_file (ssl_ctx, ca_file))
    {
      g_autofree char *why = tls_take_openssl_error ();
      g_autofree char *name = g_filename_display_name (ca_file);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: cannot load trusted certificates from “%s”: %s"), name, why);
      goto fail;
    }
  return tls_context_wrap (ssl_ctx, FALSE);

fail:
  SSL_CTX_free (ssl_ctx);
  return NULL;
}

/**
 * msgtrk_tls_context_new_server: (skip)
 * @cert_file: PEM certificate chain (leaf first)
 * @key_file: PEM private key of the leaf
 * @error: return location for a #GError
 *
 * Makes a server context: TLS 1.2 or newer, the certificate and its key.
 *
 * Returns: (transfer full): a new context, or %NULL with @error set
 */
MsgtrkTlsContext *
msgtrk_tls_context_new_server (const char *cert_file,
                               const char *key_file,
                               GError    **error)
{
  SSL_CTX *ssl_ctx;
  g_autofree char *cert_name = NULL;
  g_autofree char *key_name = NULL;

  g_return_val_if_fail (cert_file != NULL, NULL);
  g_return_val_if_fail (key_file != NULL, NULL);

  cert_name = g_filename_display_name (cert_file);
  key_name = g_filename_display_name (key_file);

  ERR_clear_error ();
  ssl_ctx = SSL_CTX_new (TLS_server_method ());
  if (ssl_ctx == NULL)
    {
      g_autofree char *why = tls_take_openssl_error ();

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: cannot create a server context: %s"), why);
      return NULL;
    }
  if (!tls_context_common (ssl_ctx, error))
    goto fail;
  if (SSL_CTX_use_certificate_chain_file (ssl_ctx, cert_file) != 1)
    {
      g_autofree char *why = tls_take_openssl_error ();

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: cannot load the certificate “%s”: %s"), cert_name, why);
      goto fail;
    }
  if (SSL_CTX_use_PrivateKey_file (ssl_ctx, key_file, SSL_FILETYPE_PEM) != 1)
    {
      g_autofree char *why = tls_take_openssl_error ();

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: cannot load the private key “%s”: %s"), key_name, why);
      goto fail;
    }
  if (SSL_CTX_check_private_key (ssl_ctx) != 1)
    {
      ERR_clear_error ();
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: the private key “%s” does not belong to the certificate “%s”"),
                   key_name, cert_name);
      goto fail;
    }
  return tls_context_wrap (ssl_ctx, TRUE);

fail:
  SSL_CTX_free (ssl_ctx);
  return NULL;
}

/**
 * msgtrk_tls_context_ref: (skip)
 * @ctx: a context
 *
 * Returns: (transfer full): @ctx
 */
MsgtrkTlsContext *
msgtrk_tls_context_ref (MsgtrkTlsContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);

  g_atomic_int_inc (&ctx->ref_count);
  return ctx;
}

/**
 * msgtrk_tls_context_unref: (skip)
 * @ctx: (transfer full): a context
 */
void
msgtrk_tls_context_unref (MsgtrkTlsContext *ctx)
{
  g_return_if_fail (ctx != NULL);

  if (g_atomic_int_dec_and_test (&ctx->ref_count))
    {
      SSL_CTX_free (ctx->ssl_ctx);
      g_free (ctx);
    }
}

/* ---- handshake ------------------------------------------------------------------- */

/* Turn a failed handshake into an error a person can act on. */
static void
tls_set_handshake_error (TlsConn    *conn,
                         const char *peer,
                         GError    **error)
{
  long verify = SSL_get_verify_result (conn->ssl);
  unsigned long code = ERR_peek_error ();
  g_autofree char *why = tls_take_openssl_error ();

  if (ERR_GET_LIB (code) == ERR_LIB_SSL
      && (ERR_GET_REASON (code) == SSL_R_UNSUPPORTED_PROTOCOL
          || ERR_GET_REASON (code) == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION))
    /* The peer's versions and ours (TLS 1.2 and newer) do not meet. */
    g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                 _("TLS: %s supports only TLS versions older than 1.2, which are not "
                   "secure enough (%s)"),
                 peer, why);
  else if (verify != X509_V_OK)
    g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                 _("TLS: certificate for %s is not valid: %s"), peer,
                 X509_verify_cert_error_string (verify));
  else
    g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                 _("TLS: handshake with %s failed: %s"), peer, why);
}

/**
 * msgtrk_tls_handshake: (skip)
 * @ctx: a client or server context
 * @base: a connected stream with nothing buffered above it
 * @server_name: (nullable): client side: the host name or IP literal to verify
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the TLS handshake on @base, blocking. The base stream's own timeouts bound it.
 *
 * Returns: (transfer full): a stream that encrypts to and from @base (closing it closes
 *   @base), or %NULL with @error set (%MSGTRK_ERROR_TLS, or a #GIOError from @base)
 */
GIOStream *
msgtrk_tls_handshake (MsgtrkTlsContext *ctx,
                      GIOStream        *base,
                      const char       *server_name,
                      GCancellable     *cancellable,
                      GError          **error)
{
  TlsConn *conn;
  g_autofree char *peer = NULL;
  GIOStream *result = NULL;

  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);
  g_return_val_if_fail (ctx->is_server || server_name != NULL, NULL);

  /* OpenSSL takes an empty name as "check no name at all": any trusted certificate would
   * then do. Refuse it here, whatever the caller's checks. */
  if (!ctx->is_server && *server_name == '\0')
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                           _("TLS: no server name to verify the certificate against"));
      return NULL;
    }

  peer = server_name != NULL ? msgtrk_str_escape_for_error (server_name, 255)
                             : g_strdup (_("the client"));

  conn = g_atomic_rc_box_new0 (TlsConn);
  g_mutex_init (&conn->ssl_lock);
  g_mutex_init (&conn->write_lock);
  conn->base = g_object_ref (base);

  ERR_clear_error ();
  conn->ssl = SSL_new (ctx->ssl_ctx);
  conn->rbio = BIO_new (BIO_s_mem ());
  conn->wbio = BIO_new (BIO_s_mem ());
  if (conn->ssl == NULL || conn->rbio == NULL || conn->wbio == NULL)
    {
      g_autofree char *why = tls_take_openssl_error ();

      BIO_free (conn->rbio);
      BIO_free (conn->wbio);
      conn->rbio = conn->wbio = NULL;
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: cannot set up a connection: %s"), why);
      goto out;
    }
  /* An empty incoming BIO means "want more", not end of file. */
  BIO_set_mem_eof_return (conn->rbio, -1);
  SSL_set_bio (conn->ssl, conn->rbio, conn->wbio);

  if (ctx->is_server)
    SSL_set_accept_state (conn->ssl);
  else
    {
      gboolean ok;

      SSL_set_connect_state (conn->ssl);
      if (g_hostname_is_ip_address (server_name))
        ok = X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (conn->ssl), server_name) == 1;
      else
        {
          /* RFC 6125 section 6.4.3: a wildcard only as the whole left-most label. */
          SSL_set_hostflags (conn->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
          ok = SSL_set1_host (conn->ssl, server_name) == 1
               && SSL_set_tlsext_host_name (conn->ssl, server_name) == 1;
        }
      if (!ok)
        {
          ERR_clear_error ();
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                       _("TLS: “%s” is not a host name that can be verified"), peer);
          goto out;
        }
    }

  for (;;)
    {
      int r, err, fed;
      g_autoptr (GError) io_error = NULL;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto out;

      g_mutex_lock (&conn->ssl_lock);
      ERR_clear_error ();
      r = SSL_do_handshake (conn->ssl);
      err = r == 1 ? SSL_ERROR_NONE : SSL_get_error (conn->ssl, r);
      g_mutex_unlock (&conn->ssl_lock);

      /* Send whatever the handshake produced, alerts included. */
      if (!tls_conn_flush (conn, cancellable, &io_error) && err != SSL_ERROR_SSL)
        {
          g_propagate_error (error, g_steal_pointer (&io_error));
          goto out;
        }

      if (err == SSL_ERROR_NONE)
        break;
      if (err == SSL_ERROR_WANT_READ)
        {
          fed = tls_conn_fill (conn, cancellable, error);
          if (fed < 0)
            goto out;
          if (fed == 0)
            {
              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                           _("TLS: %s closed the connection during the handshake"), peer);
              goto out;
            }
          continue;
        }
      if (err == SSL_ERROR_WANT_WRITE)
        continue;
      tls_set_handshake_error (conn, peer, error);
      goto out;
    }

  /* SSL_VERIFY_PEER already fails the handshake on a bad chain or name; check the outcome
   * once more so that no setting (an anonymous cipher, a callback) can let an
   * unauthenticated server through. */
  if (!ctx->is_server
      && (SSL_get0_peer_certificate (conn->ssl) == NULL
          || SSL_get_verify_result (conn->ssl) != X509_V_OK))
    {
      long verify = SSL_get_verify_result (conn->ssl);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: %s was not authenticated: %s"), peer,
                   verify != X509_V_OK ? X509_verify_cert_error_string (verify)
                                       : _("it presented no certificate"));
      goto out;
    }

  g_debug ("TLS with %s: %s %s", peer, SSL_get_version (conn->ssl),
           SSL_get_cipher_name (conn->ssl));
  result = G_IO_STREAM (msgtrk_tls_stream_new (conn));

out:
  tls_conn_unref (conn);
  return result;
}

typedef struct
{
  MsgtrkTlsContext *ctx;
  GIOStream        *base;
  char             *server_name;
} HandshakeData;

static void
handshake_data_free (HandshakeData *data)
{
  msgtrk_tls_context_unref (data->ctx);
  g_object_unref (data->base);
  g_free (data->server_name);
  g_free (data);
}

static void
handshake_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  HandshakeData *data = task_data;
  GError *error = NULL;
  GIOStream *stream;

  stream = msgtrk_tls_handshake (data->ctx, data->base, data->server_name, cancellable,
                                 &error);
  if (stream == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, stream, g_object_unref);
}

/**
 * msgtrk_tls_handshake_async: (skip)
 * @ctx: a client or server context
 * @base: a connected stream with nothing buffered above it
 * @server_name: (nullable): client side: the host name or IP literal to verify
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the handshake is over
 * @user_data: data for @callback
 *
 * Runs msgtrk_tls_handshake() in a thread of libmsgtrk's own bounded pool
 * (msgtrk-worker.c), never in GLib's shared GTask pool.
 */
void
msgtrk_tls_handshake_async (MsgtrkTlsContext   *ctx,
                            GIOStream          *base,
                            const char         *server_name,
                            GCancellable       *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  HandshakeData *data;

  g_return_if_fail (ctx != NULL);
  g_return_if_fail (G_IS_IO_STREAM (base));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, msgtrk_tls_handshake_async);
  data = g_new0 (HandshakeData, 1);
  data->ctx = msgtrk_tls_context_ref (ctx);
  data->base = g_object_ref (base);
  data->server_name = g_strdup (server_name);
  g_task_set_task_data (task, data, (GDestroyNotify) handshake_data_free);
  msgtrk_worker_run_in_thread (task, handshake_thread);
}

/**
 * msgtrk_tls_handshake_finish: (skip)
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the TLS stream, or %NULL with @error set
 */
GIOStream *
msgtrk_tls_handshake_finish (GAsyncResult *result,
                             GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == msgtrk_tls_handshake_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * msgtrk_tls_stream_describe: (skip)
 * @tls_stream: a stream returned by msgtrk_tls_handshake()
 *
 * Returns: (transfer full): protocol version and cipher, e.g.
 *   "TLSv1.3 TLS_AES_256_GCM_SHA384"
 */
char *
msgtrk_tls_stream_describe (GIOStream *tls_stream)
{
  MsgtrkTlsStream *self;
  char *text;

  g_return_val_if_fail (MSGTRK_IS_TLS_STREAM (tls_stream), NULL);

  self = MSGTRK_TLS_STREAM (tls_stream);
  g_mutex_lock (&self->conn->ssl_lock);
  text = g_strdup_printf ("%s %s", SSL_get_version (self->conn->ssl),
                          SSL_get_cipher_name (self->conn->ssl));
  g_mutex_unlock (&self->conn->ssl_lock);
  return text;
}
