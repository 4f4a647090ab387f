/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-envelope.h: the SMTP side of tracking (RFC 3461 DSN, RFC 3885 MTRK).
 *
 * - ENVID generation (PROTOCOL-NOTES: "mtrk.<26 base32>@<sender-domain>", no escaping
 *   needed, at most MSGTRK_ENVID_MAX_LENGTH characters).
 * - xtext encode/decode (RFC 3461 section 4).
 * - EHLO reply parsing into a capability set.
 * - MAIL FROM / RCPT TO arguments built from what the server offered: MTRK only if it
 *   offered MTRK; ENVID, RET, NOTIFY, ORCPT only if it offered DSN.
 * - Server side: parsing of MAIL/RCPT parameters (ENVID, MTRK, RET, NOTIFY, ORCPT, …).
 *
 * Limits: a built command line never passes MSGTRK_SMTP_MAIL_LINE_MAX /
 * MSGTRK_SMTP_RCPT_LINE_MAX (an error, never a truncated command); EHLO replies are at
 * most MSGTRK_EHLO_MAX_LINES lines of MSGTRK_SMTP_REPLY_LINE_MAX octets.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <glib-object.h>

#include "msgtrk-visibility.h"

G_BEGIN_DECLS

/**
 * MSGTRK_ENVID_MAX_LENGTH:
 *
 * longest ENVID we generate (RFC 3461 allows 100 xtext chars).
 *
 * Since: 1.0
 */
#define MSGTRK_ENVID_MAX_LENGTH 100
/**
 * MSGTRK_SMTP_LINE_MAX:
 *
 * RFC 5321 command line limit, CRLF included.
 *
 * Since: 1.0
 */
#define MSGTRK_SMTP_LINE_MAX 512
/**
 * MSGTRK_SMTP_MAIL_LINE_MAX:
 *
 * MAIL line limit with DSN (+100, RFC 3461) and MTRK (+40, RFC 3885).
 *
 * Since: 1.0
 */
#define MSGTRK_SMTP_MAIL_LINE_MAX (512 + 100 + 40)
/**
 * MSGTRK_SMTP_RCPT_LINE_MAX:
 *
 * RCPT line limit with NOTIFY and ORCPT (+500, RFC 3461).
 *
 * Since: 1.0
 */
#define MSGTRK_SMTP_RCPT_LINE_MAX (512 + 500)
/**
 * MSGTRK_SMTP_REPLY_LINE_MAX:
 *
 * RFC 5321 reply line limit, CRLF included.
 *
 * Since: 1.0
 */
#define MSGTRK_SMTP_REPLY_LINE_MAX 512
/**
 * MSGTRK_EHLO_MAX_LINES:
 *
 * most lines accepted in one EHLO reply.
 *
 * Since: 1.0
 */
#define MSGTRK_EHLO_MAX_LINES 128
/**
 * MSGTRK_MTRK_TIMEOUT_MAX:
 *
 * largest MTRK timeout (9 digits of seconds).
 *
 * Since: 1.0
 */
#define MSGTRK_MTRK_TIMEOUT_MAX 999999999u
/**
 * MSGTRK_XTEXT_MAX_LENGTH:
 *
 * longest xtext accepted by msgtrk_xtext_decode() (ORCPT, RFC 3461).
 *
 * Since: 1.0
 */
#define MSGTRK_XTEXT_MAX_LENGTH 500
/**
 * MSGTRK_ORCPT_MAX_LENGTH:
 *
 * longest ORCPT value "addr-type;xtext" (RFC 3461 section 4.2).
 *
 * Since: 1.0
 */
#define MSGTRK_ORCPT_MAX_LENGTH 500
/**
 * MSGTRK_SMTP_ADDRESS_MAX_LENGTH:
 *
 * longest address in a path, brackets excluded (RFC 5321 4.5.3.1.3).
 *
 * Since: 1.0
 */
#define MSGTRK_SMTP_ADDRESS_MAX_LENGTH 254
/**
 * MSGTRK_SMTP_PARAMS_MAX:
 *
 * most ESMTP parameters accepted on one MAIL or RCPT command.
 *
 * Since: 1.0
 */
#define MSGTRK_SMTP_PARAMS_MAX 16
/**
 * MSGTRK_SMTP_PATH_LIST_MAX:
 *
 * most paths accepted in one list by msgtrk_smtp_path_list_split() (ten times the 100
 * recipients RFC 5321 section 4.5.3.1.8 asks a server to take).
 *
 * Since: 1.0
 */
#define MSGTRK_SMTP_PATH_LIST_MAX 1000

/**
 * MsgtrkDsnRet:
 * @MSGTRK_DSN_RET_UNSET: no RET parameter
 * @MSGTRK_DSN_RET_HDRS: RET=HDRS, return the headers only
 * @MSGTRK_DSN_RET_FULL: RET=FULL, return the whole message
 *
 * The RFC 3461 RET parameter.
 *
 * Since: 1.0
 */
typedef enum {
  MSGTRK_DSN_RET_UNSET,
  MSGTRK_DSN_RET_HDRS,
  MSGTRK_DSN_RET_FULL,
} MsgtrkDsnRet;

/**
 * MsgtrkDsnNotify:
 * @MSGTRK_DSN_NOTIFY_UNSET: no NOTIFY parameter
 * @MSGTRK_DSN_NOTIFY_NEVER: NOTIFY=NEVER (exclusive with the others)
 * @MSGTRK_DSN_NOTIFY_SUCCESS: SUCCESS
 * @MSGTRK_DSN_NOTIFY_FAILURE: FAILURE
 * @MSGTRK_DSN_NOTIFY_DELAY: DELAY
 *
 * The RFC 3461 NOTIFY parameter, as flags.
 *
 * Since: 1.0
 */
typedef enum /*< flags >*/ {
  MSGTRK_DSN_NOTIFY_UNSET = 0,
  MSGTRK_DSN_NOTIFY_NEVER = 1 << 0,
  MSGTRK_DSN_NOTIFY_SUCCESS = 1 << 1,
  MSGTRK_DSN_NOTIFY_FAILURE = 1 << 2,
  MSGTRK_DSN_NOTIFY_DELAY = 1 << 3,
} MsgtrkDsnNotify;

/* ENVID and xtext */
MSGTRK_AVAILABLE_IN_ALL
char     *msgtrk_envid_generate        (const char *sender_domain,
                                        GError    **error);
MSGTRK_AVAILABLE_IN_ALL
gboolean  msgtrk_envid_is_valid        (const char *envid,
                                        GError    **error);
MSGTRK_AVAILABLE_IN_ALL
char     *msgtrk_xtext_encode          (const char *text);
MSGTRK_AVAILABLE_IN_ALL
char     *msgtrk_xtext_decode          (const char *xtext,
                                        GError    **error);

/* Paths (RFC 5321 section 4.1.2) */
MSGTRK_AVAILABLE_IN_ALL
gboolean  msgtrk_smtp_path_list_split  (const char *text,
                                        char     ***out_mailboxes,
                                        GError    **error);

/* EHLO capabilities */
#define MSGTRK_TYPE_SMTP_CAPABILITIES (msgtrk_smtp_capabilities_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkSmtpCapabilities, msgtrk_smtp_capabilities, MSGTRK, SMTP_CAPABILITIES, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkSmtpCapabilities *msgtrk_smtp_capabilities_parse      (const char *ehlo_reply,
                                                             GError    **error);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkSmtpCapabilities *msgtrk_smtp_capabilities_parse_data (const char *data,
                                                             gsize       len,
                                                             GError    **error);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkSmtpCapabilities *msgtrk_smtp_capabilities_new_from_keywords (const char * const *keywords);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_smtp_capabilities_get_domain   (MsgtrkSmtpCapabilities *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean      msgtrk_smtp_capabilities_has          (MsgtrkSmtpCapabilities *self,
                                                     const char             *keyword);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_smtp_capabilities_get_params   (MsgtrkSmtpCapabilities *self,
                                                     const char             *keyword);
MSGTRK_AVAILABLE_IN_ALL
char        **msgtrk_smtp_capabilities_list_keywords (MsgtrkSmtpCapabilities *self);
MSGTRK_AVAILABLE_IN_ALL
char         *msgtrk_smtp_capabilities_to_string    (MsgtrkSmtpCapabilities *self);

/* The client-side envelope: what to add to MAIL FROM and RCPT TO */
#define MSGTRK_TYPE_ENVELOPE (msgtrk_envelope_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkEnvelope, msgtrk_envelope, MSGTRK, ENVELOPE, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkEnvelope *msgtrk_envelope_new                (const char      *envid);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkEnvelope *msgtrk_envelope_new_received       (const char      *envid,
                                                    GError         **error);
MSGTRK_AVAILABLE_IN_ALL
const char     *msgtrk_envelope_get_envid          (MsgtrkEnvelope  *self);
MSGTRK_AVAILABLE_IN_ALL
void            msgtrk_envelope_set_authenticator  (MsgtrkEnvelope  *self,
                                                    const char      *authenticator);
MSGTRK_AVAILABLE_IN_ALL
const char     *msgtrk_envelope_get_authenticator  (MsgtrkEnvelope  *self);
MSGTRK_AVAILABLE_IN_ALL
void            msgtrk_envelope_set_mtrk_timeout   (MsgtrkEnvelope  *self,
                                                    guint            seconds);
MSGTRK_AVAILABLE_IN_ALL
guint           msgtrk_envelope_get_mtrk_timeout   (MsgtrkEnvelope  *self);
MSGTRK_AVAILABLE_IN_ALL
void            msgtrk_envelope_set_ret            (MsgtrkEnvelope  *self,
                                                    MsgtrkDsnRet     ret);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkDsnRet    msgtrk_envelope_get_ret            (MsgtrkEnvelope  *self);
MSGTRK_AVAILABLE_IN_ALL
void            msgtrk_envelope_set_notify         (MsgtrkEnvelope  *self,
                                                    MsgtrkDsnNotify  notify);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkDsnNotify msgtrk_envelope_get_notify         (MsgtrkEnvelope  *self);

MSGTRK_AVAILABLE_IN_ALL
char           *msgtrk_envelope_build_mail_from_arg (MsgtrkEnvelope         *self,
                                                     MsgtrkSmtpCapabilities *caps,
                                                     const char             *sender,
                                                     GError                **error);
MSGTRK_AVAILABLE_IN_ALL
char           *msgtrk_envelope_build_rcpt_to_arg   (MsgtrkEnvelope         *self,
                                                     MsgtrkSmtpCapabilities *caps,
                                                     const char             *recipient,
                                                     GError                **error);
MSGTRK_AVAILABLE_IN_ALL
char           *msgtrk_envelope_build_rcpt_to_arg_full (MsgtrkEnvelope         *self,
                                                        MsgtrkSmtpCapabilities *caps,
                                                        const char             *recipient,
                                                        MsgtrkDsnNotify         notify,
                                                        const char             *orcpt_type,
                                                        const char             *orcpt_address,
                                                        GError                **error);

/* Server side: ESMTP parameters of MAIL and RCPT (RFC 5321 section 4.1.2 esmtp-param) */
MSGTRK_AVAILABLE_IN_ALL
GHashTable     *msgtrk_smtp_params_parse           (const char      *text,
                                                    GError         **error);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkEnvelope *msgtrk_envelope_new_from_mail_params (GHashTable    *params,
                                                      GError       **error);
MSGTRK_AVAILABLE_IN_ALL
gboolean        msgtrk_envid_param_parse           (const char      *value,
                                                    char           **envid,
                                                    GError         **error);
MSGTRK_AVAILABLE_IN_ALL
gboolean        msgtrk_ret_param_parse             (const char      *value,
                                                    MsgtrkDsnRet    *ret,
                                                    GError         **error);
MSGTRK_AVAILABLE_IN_ALL
gboolean        msgtrk_mtrk_param_parse            (const char      *value,
                                                    char           **authenticator,
                                                    guint           *timeout,
                                                    GError         **error);
MSGTRK_AVAILABLE_IN_ALL
gboolean        msgtrk_notify_param_parse          (const char      *value,
                                                    MsgtrkDsnNotify *notify,
                                                    GError         **error);
MSGTRK_AVAILABLE_IN_ALL
char           *msgtrk_notify_param_format         (MsgtrkDsnNotify  notify);
MSGTRK_AVAILABLE_IN_ALL
gboolean        msgtrk_orcpt_param_parse           (const char      *value,
                                                    char           **addr_type,
                                                    char           **address,
                                                    GError         **error);

G_END_DECLS
