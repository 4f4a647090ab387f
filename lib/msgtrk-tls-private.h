/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-tls-private.h: TLS over any GIOStream with OpenSSL 3 (memory BIOs).
 *
 * Used by the MTQP client (client side, with certificate and host-name verification) and
 * by the reference servers (server side, STARTTLS). Not installed: exported from the .so
 * for msgtrk's own programs only.
 *
 * Policy: TLS 1.2 or newer; client side verifies the chain against the system trust store
 * plus an optional CA file, and the host name (or IP address) against the certificate.
 * Never: log key material, accept a failed verification silently.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _MsgtrkTlsContext MsgtrkTlsContext;

MsgtrkTlsContext *msgtrk_tls_context_new_client (const char  *ca_file,
                                                 gboolean     use_system_store,
                                                 GError     **error);
MsgtrkTlsContext *msgtrk_tls_context_new_server (const char  *cert_file,
                                                 const char  *key_file,
                                                 GError     **error);
MsgtrkTlsContext *msgtrk_tls_context_ref        (MsgtrkTlsContext *ctx);
void              msgtrk_tls_context_unref      (MsgtrkTlsContext *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsgtrkTlsContext, msgtrk_tls_context_unref)

/* Blocking handshake on @base (a connected stream, nothing buffered above it). On success
 * returns a new GIOStream that encrypts to and from @base. @server_name is the host name
 * (or IP literal) to verify, client side only. */
GIOStream *msgtrk_tls_handshake        (MsgtrkTlsContext *ctx,
                                        GIOStream        *base,
                                        const char       *server_name,
                                        GCancellable     *cancellable,
                                        GError          **error);
/* The same, run in libmsgtrk's own bounded pool (msgtrk-worker.c), not GLib's. */
void       msgtrk_tls_handshake_async  (MsgtrkTlsContext   *ctx,
                                        GIOStream          *base,
                                        const char         *server_name,
                                        GCancellable       *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
GIOStream *msgtrk_tls_handshake_finish (GAsyncResult *result,
                                        GError      **error);

/* Protocol version and cipher of an established stream, for logs ("TLSv1.3 TLS_AES_…"). */
char      *msgtrk_tls_stream_describe  (GIOStream *tls_stream);

G_END_DECLS
