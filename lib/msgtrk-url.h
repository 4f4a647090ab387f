/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-url.h: mtqp:// URLs (RFC 3887 section 8), parsed and written with GUri.
 *
 *   mtqp://host[:port]/track/<envid>/<mtrk-secret>
 *
 * Both path segments are percent-encoded (base64 carries '/', '+' and '='). The default
 * port is MSGTRK_MTQP_PORT. A URL holds the secret A: it is wiped on finalize and never
 * logged.
 *
 * Parsing is strict: no userinfo, query, fragment, dot segments or extra segments; the
 * path is split while still encoded ("%2F" stays inside its segment); the secret must be
 * strict base64 (msgtrk_secret_new_from_base64()), the ENVID 1 to MSGTRK_ENVID_MAX_LENGTH
 * printable ASCII characters. Writing percent-encodes every character of both segments
 * except RFC 3986 unreserved ones ("/", "+", "=", "@" become %2F, %2B, %3D, %40) and leaves
 * the port out when it is the default. Free to_string() results with
 * msgtrk_secure_free_string(). Error messages never quote the secret.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <glib-object.h>

#include "msgtrk-visibility.h"

G_BEGIN_DECLS

/**
 * MSGTRK_MTQP_PORT:
 *
 * the IANA-assigned MTQP port.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_PORT 1038
/**
 * MSGTRK_URL_MAX_LENGTH:
 *
 * longest mtqp URL accepted or written.
 *
 * Since: 1.0
 */
#define MSGTRK_URL_MAX_LENGTH 2048

#define MSGTRK_TYPE_URL (msgtrk_url_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkUrl, msgtrk_url, MSGTRK, URL, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkUrl  *msgtrk_url_new          (const char *host,
                                     guint16     port,
                                     const char *envid,
                                     const char *secret_base64,
                                     GError    **error);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkUrl  *msgtrk_url_parse        (const char *text,
                                     GError    **error);
MSGTRK_AVAILABLE_IN_ALL
char       *msgtrk_url_to_string    (MsgtrkUrl  *self);
MSGTRK_AVAILABLE_IN_ALL
const char *msgtrk_url_get_host     (MsgtrkUrl  *self);
MSGTRK_AVAILABLE_IN_ALL
guint16     msgtrk_url_get_port     (MsgtrkUrl  *self);
MSGTRK_AVAILABLE_IN_ALL
const char *msgtrk_url_get_envid    (MsgtrkUrl  *self);
MSGTRK_AVAILABLE_IN_ALL
const char *msgtrk_url_get_envid_xtext (MsgtrkUrl *self);
MSGTRK_AVAILABLE_IN_ALL
const char *msgtrk_url_get_secret   (MsgtrkUrl  *self);

G_END_DECLS
