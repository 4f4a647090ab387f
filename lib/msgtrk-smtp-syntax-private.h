/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-smtp-syntax-private.h: the internal half of the SMTP syntax layer
 * (msgtrk-smtp-syntax.c): character classes, the writers of the MAIL and RCPT parameters,
 * and the one path and mailbox parser (RFC 5321 section 4.1.2, RFC 6531).
 *
 * What: the parsers that are public API (xtext, ESMTP parameters, ENVID/RET/MTRK/NOTIFY/
 * ORCPT values) are declared in msgtrk-envelope.h; this header adds their writers and
 * MsgtrkSmtpPathParser, which every program that reads a MAIL or RCPT path uses.
 * Limits: see msgtrk-smtp-syntax.c; every limit is a named constant of msgtrk-envelope.h.
 * Never: does I/O; writes a value its parser would refuse.
 *
 * Internal to msgtrk (lib, servers, tests): not installed, not part of the documented API.
 */
#pragma once

#include <glib.h>

#include "msgtrk-envelope.h"
#include "msgtrk-error.h"

G_BEGIN_DECLS

/* Errors and quoting for the SMTP family of files. */
gboolean msgtrk_smtp_fail                  (GError        **error,
                                            MsgtrkError     code,
                                            const char     *format,
                                            ...) G_GNUC_PRINTF (3, 4);
char    *msgtrk_smtp_quote                 (const char     *text,
                                            gssize          len);

/* Character classes and checks shared with msgtrk-envid.c, msgtrk-smtp-capabilities.c and
 * msgtrk-envelope.c. */
gboolean msgtrk_smtp_is_ldh                (char            c);
gboolean msgtrk_smtp_is_xchar              (guchar          c);
gboolean msgtrk_smtp_is_keyword            (const char     *word,
                                            gsize           len);
gboolean msgtrk_smtp_is_atext              (char            c);
gboolean msgtrk_smtp_is_printable_ascii    (const char     *text);
gboolean msgtrk_smtp_authenticator_form_ok (const char     *text);
gboolean msgtrk_smtp_notify_is_consistent  (MsgtrkDsnNotify notify);
gboolean msgtrk_smtp_envid_received_check  (const char     *envid,
                                            GError        **error);
gboolean msgtrk_smtp_next_word             (const char     *text,
                                            gsize           len,
                                            gsize          *pos,
                                            gsize          *start);

/* ---- writers of the MAIL and RCPT parameters (each appends " KEYWORD=value") --------- */

gboolean    msgtrk_smtp_param_write       (GString      *out,
                                           const char   *keyword,
                                           const char   *value,
                                           GError      **error);
gboolean    msgtrk_smtp_envid_param_write (GString      *out,
                                           const char   *envid,
                                           GError      **error);
const char *msgtrk_smtp_ret_param_word    (MsgtrkDsnRet  ret);
gboolean    msgtrk_smtp_mtrk_param_write  (GString      *out,
                                           const char   *authenticator,
                                           guint         timeout,
                                           GError      **error);
gboolean    msgtrk_smtp_orcpt_param_write (GString      *out,
                                           const char   *addr_type,
                                           const char   *address,
                                           GError      **error);

/* SIZE (RFC 1870) and BODY (RFC 6152): a parser and a writer each. */
gboolean    msgtrk_smtp_size_param_parse  (const char   *value,
                                           guint64      *size,
                                           GError      **error);
void        msgtrk_smtp_size_param_write  (GString      *out,
                                           guint64       size);
gboolean    msgtrk_smtp_body_param_parse  (const char   *value,
                                           gboolean     *eight_bit,
                                           GError      **error);
const char *msgtrk_smtp_body_param_word   (gboolean      eight_bit);

/* ---- paths and mailboxes ------------------------------------------------------------ */

typedef enum
{
  MSGTRK_SMTP_PATH_NONE = 0,
  MSGTRK_SMTP_PATH_NULL = 1 << 0,       /* "<>" is allowed (a Reverse-path) */
  MSGTRK_SMTP_PATH_POSTMASTER = 1 << 1, /* "<Postmaster>" without a domain (RCPT TO) */
  MSGTRK_SMTP_PATH_UTF8 = 1 << 2,       /* RFC 6531 UTF-8 (the SMTPUTF8 extension) */
  MSGTRK_SMTP_PATH_FRAMING = 1 << 3,    /* only the framing: brackets, quoted strings and
                                         * the source route; the mailbox is not judged */
} MsgtrkSmtpPathFlags;

/* What an incremental parser says after a piece of input. */
typedef enum
{
  MSGTRK_SMTP_PARSE_MORE,  /* all input used, not complete yet */
  MSGTRK_SMTP_PARSE_DONE,  /* complete; *consumed says where it ended */
  MSGTRK_SMTP_PARSE_ERROR, /* the input is not valid; the GError says why */
} MsgtrkSmtpParseResult;

/* A path parser; msgtrk_smtp_path_parser_init() it, feed it octets in pieces of any size
 * until DONE or ERROR, take the mailbox with msgtrk_smtp_path_parser_steal(), clear it. */
typedef struct
{
  MsgtrkSmtpPathFlags flags;
  gsize max_length;  /* longest mailbox in octets */
  guint state;
  GString *mailbox;  /* (owned) the Mailbox as written, source route dropped */
  gsize skipped;     /* octets of the source route */
  gboolean has_at;   /* the '@' between local part and domain was seen */
  gboolean non_ascii;
  char last;         /* the last octet of the domain so far */
} MsgtrkSmtpPathParser;

void                  msgtrk_smtp_path_parser_init  (MsgtrkSmtpPathParser *parser,
                                                     MsgtrkSmtpPathFlags   flags,
                                                     gsize                 max_length);
MsgtrkSmtpParseResult msgtrk_smtp_path_parser_feed  (MsgtrkSmtpPathParser *parser,
                                                     const char           *data,
                                                     gsize                 len,
                                                     gsize                *consumed,
                                                     GError              **error);
char                 *msgtrk_smtp_path_parser_steal (MsgtrkSmtpPathParser *parser,
                                                     gboolean             *non_ascii);
void                  msgtrk_smtp_path_parser_clear (MsgtrkSmtpPathParser *parser);

char                 *msgtrk_smtp_path_parse        (const char           *text,
                                                     gsize                 len,
                                                     MsgtrkSmtpPathFlags   flags,
                                                     gsize                 max_length,
                                                     gsize                *consumed,
                                                     GError              **error);
gboolean              msgtrk_smtp_mailbox_check     (const char           *mailbox,
                                                     MsgtrkSmtpPathFlags   flags,
                                                     gsize                 max_length,
                                                     gboolean             *non_ascii,
                                                     GError              **error);
gboolean              msgtrk_smtp_path_write        (GString              *out,
                                                     const char           *mailbox,
                                                     MsgtrkSmtpPathFlags   flags,
                                                     gsize                 max_length,
                                                     gboolean             *non_ascii,
                                                     GError              **error);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MsgtrkSmtpPathParser, msgtrk_smtp_path_parser_clear)

G_END_DECLS
