/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-private.h: helpers shared inside libmsgtrk, not public API.
 *
 * One concept, one place: before adding a helper to a module, look here.
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <glib/gi18n-lib.h>

#include "msgtrk.h"

G_BEGIN_DECLS

/* MSGTRK_DATE_MIN_YEAR / MSGTRK_DATE_MAX_YEAR: dates outside are treated as absurd. */
#define MSGTRK_DATE_MIN_YEAR 1980
#define MSGTRK_DATE_MAX_YEAR 2200

/* VCHAR (RFC 5234): a visible US-ASCII character, 0x21 to 0x7E; no space, control or
 * 8-bit octet. The class of header field names, ESMTP values, ENVIDs, EHLO words. */
static inline gboolean
msgtrk_is_vchar (guchar c)
{
  return c >= 0x21 && c <= 0x7e;
}

/* A character remote text must not show as such (a name, a label, a terminal): a control
 * character (C0, DEL, C1), a direction mark, embedding, override or isolate (U+061C,
 * U+200E, U+200F, U+202A..U+202E, U+2066..U+2069), U+200B or U+FEFF. With them
 * "\u202Eelpmaxe.knab" reads "bank.example". U+200C and U+200D are not: IDNA allows them
 * in some scripts' labels. */
static inline gboolean
msgtrk_unichar_is_unsafe (gunichar c)
{
  return g_unichar_iscntrl (c) || c == 0x061c || c == 0x200b || c == 0x200e || c == 0x200f
         || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff;
}

GDateTime *msgtrk_date_parse     (const char *text);
char      *msgtrk_date_format    (GDateTime  *date);
void       msgtrk_ensure_gmime   (void);
void       msgtrk_ensure_i18n    (void);
char      *msgtrk_str_escape_for_error (const char *text,
                                        gsize       max_len);
char      *msgtrk_strn_escape_for_error (const char *text,
                                         gssize      len,
                                         gsize       max_len);
char      *msgtrk_host_normalize (const char *name);
void       msgtrk_utf8_cut       (char       *text,
                                  gsize       max_len);
gboolean   msgtrk_report_check_servable (MsgtrkReport *report,
                                         GError      **error);
gboolean   msgtrk_report_names_envid (MsgtrkReport *report,
                                      const char   *envid);

/* msgtrk-worker.c: the bounded pool for blocking network work (MTQP sessions, TLS
 * handshakes), never GLib's shared GTask pool. docs/mtqp-client-threads.md. */
#define MSGTRK_WORKER_MAX_THREADS 16

void       msgtrk_worker_run_in_thread (GTask          *task,
                                        GTaskThreadFunc func);
guint      msgtrk_worker_get_num_threads (void);

/* msgtrk-secret.c: the one derivation from the master secret, HMAC-SHA-256 (master,
 * label || 0x00 || ENVID), for A and the Content-Track key (docs/secret-derivation.md).
 * MSGTRK_SECRET_MAX_LABEL_LENGTH: the longest label a caller may give. */
#define MSGTRK_SECRET_MAX_LABEL_LENGTH 64

gboolean   msgtrk_secret_hmac_envid (const guint8 *master,
                                     gsize         master_len,
                                     const char   *label,
                                     const char   *envid,
                                     const char   *what,
                                     guint8        out[MSGTRK_SECRET_SIZE],
                                     GError      **error);

G_END_DECLS
