/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-secret.h: the tracking secret A and its authenticator B (RFC 3885, RFC 3887).
 *
 * A is MSGTRK_SECRET_SIZE random octets from OpenSSL's CSPRNG. On the wire it is the
 * base64 "mtrk-secret". B = base64 (SHA-1 (raw octets of A)), 28 characters, sent in
 * MAIL FROM ... MTRK=B. Servers keep only B. B is computed over the raw octets of A,
 * never over its base64 text (PROTOCOL-NOTES).
 *
 * Base64 input (A and B) is read strictly: RFC 4648 standard alphabet, exact "=" padding,
 * no whitespace, canonical (unused bits zero). Results of msgtrk_secret_to_base64() are
 * freed with msgtrk_secure_free_string().
 *
 * A can also be derived from a per-user master secret (docs/secret-derivation.md):
 * A = HMAC-SHA-256 (master, "msgtrk A v1" || 0x00 || ENVID), 32 octets; see
 * msgtrk_secret_derive(). The derivation is pure: it keeps no state.
 *
 * Never: log A, put A in argv or a temporary file, or compare A/B with memcmp.
 * Every buffer that held A is wiped (OPENSSL_cleanse) before it is freed.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <glib-object.h>

#include "msgtrk-visibility.h"

G_BEGIN_DECLS

/**
 * MSGTRK_SECRET_SIZE:
 *
 * octets of randomness in a secret made by msgtrk_secret_generate().
 *
 * Since: 1.0
 */
#define MSGTRK_SECRET_SIZE 32
/**
 * MSGTRK_SECRET_MIN_SIZE:
 *
 * fewest octets accepted in a secret from elsewhere (128 bits).
 *
 * Since: 1.0
 */
#define MSGTRK_SECRET_MIN_SIZE 16
/**
 * MSGTRK_SECRET_MAX_SIZE:
 *
 * most octets accepted in a secret from elsewhere.
 *
 * Since: 1.0
 */
#define MSGTRK_SECRET_MAX_SIZE 64
/**
 * MSGTRK_AUTHENTICATOR_LENGTH:
 *
 * characters of a base64 authenticator B (SHA-1, 20 octets).
 *
 * Since: 1.0
 */
#define MSGTRK_AUTHENTICATOR_LENGTH 28
/**
 * MSGTRK_SECRET_MASTER_SIZE:
 *
 * octets of a master secret from which per-message secrets are derived (256 bits); a
 * master of another size is refused by msgtrk_secret_derive().
 *
 * Since: 1.0
 */
#define MSGTRK_SECRET_MASTER_SIZE 32
/**
 * MSGTRK_SECRET_DERIVE_LABEL:
 *
 * the fixed label of the derivation: A = HMAC-SHA-256 (master, label || 0x00 || ENVID).
 * Changing it changes every derived secret: a new scheme gets a new label.
 *
 * Since: 1.0
 */
#define MSGTRK_SECRET_DERIVE_LABEL "msgtrk A v1"
/**
 * MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH:
 *
 * longest ENVID (octets) a secret is derived for: the xtext form of an RFC 3461 ENVID of
 * at most 100 characters, every one encoded (+XX) in the worst case.
 *
 * Since: 1.0
 */
#define MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH 300

#define MSGTRK_TYPE_SECRET (msgtrk_secret_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkSecret, msgtrk_secret, MSGTRK, SECRET, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkSecret *msgtrk_secret_generate          (GError      **error);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkSecret *msgtrk_secret_new_from_base64   (const char   *text,
                                               GError      **error);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkSecret *msgtrk_secret_derive            (const guint8 *master,
                                               gsize         master_len,
                                               const char   *envid,
                                               GError      **error);
MSGTRK_AVAILABLE_IN_ALL
gsize         msgtrk_secret_copy_octets       (MsgtrkSecret *self,
                                               guint8       *out,
                                               gsize         out_size);
MSGTRK_AVAILABLE_IN_ALL
char         *msgtrk_secret_to_base64         (MsgtrkSecret *self);
MSGTRK_AVAILABLE_IN_ALL
char         *msgtrk_secret_compute_authenticator (MsgtrkSecret *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean      msgtrk_secret_matches_authenticator (MsgtrkSecret *self,
                                                   const char   *authenticator);

MSGTRK_AVAILABLE_IN_ALL
gboolean      msgtrk_authenticator_is_valid   (const char   *authenticator,
                                               GError      **error);
MSGTRK_AVAILABLE_IN_ALL
gboolean      msgtrk_verify_secret            (const char   *secret_base64,
                                               const char   *authenticator);

MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_secure_wipe              (gpointer      data,
                                               gsize         len);
MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_secure_free_string       (char         *str);

G_END_DECLS
