/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-url.h: mtqp:// URLs (RFC 3887 section 8), parsed and written with GUri.
 *
 *   mtqp://host[:port]/track/<envid>/<mtrk-secret>
 *
 * Both path segments are percent-encoded (base64 carries '/', '+' and '='). The default
 * port is MSGTRK_MTQP_PORT. A URL holds the secret A: it is wiped on finalize and never
 * logged.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/** MSGTRK_MTQP_PORT: the IANA-assigned MTQP port. */
#define MSGTRK_MTQP_PORT 1038
/** MSGTRK_URL_MAX_LENGTH: longest mtqp URL accepted or written. */
#define MSGTRK_URL_MAX_LENGTH 2048

#define MSGTRK_TYPE_URL (msgtrk_url_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkUrl, msgtrk_url, MSGTRK, URL, GObject)

MsgtrkUrl  *msgtrk_url_new          (const char *host,
                                     guint16     port,
                                     const char *envid,
                                     const char *secret_base64,
                                     GError    **error);
MsgtrkUrl  *msgtrk_url_parse        (const char *text,
                                     GError    **error);
char       *msgtrk_url_to_string    (MsgtrkUrl  *self);
const char *msgtrk_url_get_host     (MsgtrkUrl  *self);
guint16     msgtrk_url_get_port     (MsgtrkUrl  *self);
const char *msgtrk_url_get_envid    (MsgtrkUrl  *self);
const char *msgtrk_url_get_secret   (MsgtrkUrl  *self);

G_END_DECLS
