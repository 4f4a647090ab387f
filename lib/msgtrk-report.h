/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-report.h: one model for three report formats.
 *
 *   message/tracking-status          RFC 3886 (MTQP answers)
 *   message/delivery-status          RFC 3464 (DSNs)
 *   message/disposition-notification RFC 8098 (MDNs)
 *
 * All three are a per-message block of header-style fields, a blank line, then one block
 * per recipient (an MDN has a single block). Folding is allowed; unknown extension fields
 * are kept, never rejected. MIME containers (multipart/related; type=message/tracking-status
 * for MTQP, multipart/report for DSN/MDN) are taken apart with GMime.
 *
 * A writer for message/tracking-status (the reference server needs it) round-trips
 * through the parser.
 *
 * A whole message (a bounce that returns a big message) is first reduced to its report
 * parts with msgtrk_report_extract_file() or msgtrk_report_extract_bytes().
 *
 * Limits: MSGTRK_REPORT_MAX_SIZE octets per entity, MSGTRK_REPORT_MAX_MESSAGE_SIZE octets
 * per message extracted from, MSGTRK_REPORT_MAX_PARTS parts,
 * MSGTRK_REPORT_MAX_RECIPIENTS recipient blocks, MSGTRK_REPORT_MAX_FIELDS fields per block,
 * MSGTRK_REPORT_MAX_FIELD_LENGTH octets per unfolded field. Passing one is an error
 * (MSGTRK_ERROR_LIMIT), never a silent truncation.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <gio/gio.h>

#include "msgtrk-visibility.h"

G_BEGIN_DECLS

/**
 * MSGTRK_REPORT_MAX_SIZE:
 *
 * Largest report entity, in octets, that msgtrk_report_parse_entity() reads and
 * msgtrk_report_extract_file() / msgtrk_report_extract_bytes() return: the one limit every
 * layer (library, msgtrkd, mail client plugins) applies to a report.
 *
 * Since: 1.0
 */
#define MSGTRK_REPORT_MAX_SIZE (1024 * 1024)
/**
 * MSGTRK_REPORT_MAX_MESSAGE_SIZE:
 *
 * Largest whole message, in octets, a report is extracted from (a bounce returning a big
 * message with its attachments); only its report parts count against
 * %MSGTRK_REPORT_MAX_SIZE.
 *
 * Since: 1.0
 */
#define MSGTRK_REPORT_MAX_MESSAGE_SIZE (64 * 1024 * 1024)
/**
 * MSGTRK_REPORT_MAX_PARTS:
 *
 * Most MIME parts a report message may have, and most reports one MTQP answer may
 * carry; more is %MSGTRK_ERROR_LIMIT.
 *
 * Since: 1.0
 */
#define MSGTRK_REPORT_MAX_PARTS 64
/**
 * MSGTRK_REPORT_MAX_RECIPIENTS:
 *
 * Most recipient blocks one report may hold; more is %MSGTRK_ERROR_LIMIT.
 *
 * Since: 1.0
 */
#define MSGTRK_REPORT_MAX_RECIPIENTS 1000
/**
 * MSGTRK_REPORT_MAX_FIELDS:
 *
 * Most fields one block (per-message or per-recipient) may hold.
 *
 * Since: 1.0
 */
#define MSGTRK_REPORT_MAX_FIELDS 64
/**
 * MSGTRK_REPORT_MAX_FIELD_LENGTH:
 *
 * Longest field, in octets, a report may hold.
 *
 * Since: 1.0
 */
#define MSGTRK_REPORT_MAX_FIELD_LENGTH 4096

/**
 * MsgtrkReportKind:
 * @MSGTRK_REPORT_KIND_TRACKING_STATUS: message/tracking-status (RFC 3886)
 * @MSGTRK_REPORT_KIND_DELIVERY_STATUS: message/delivery-status (RFC 3464)
 * @MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION: message/disposition-notification (RFC 8098)
 *
 * Which syntax a report came in.
 *
 * Since: 1.0
 */
typedef enum {
  MSGTRK_REPORT_KIND_TRACKING_STATUS,
  MSGTRK_REPORT_KIND_DELIVERY_STATUS,
  MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION,
} MsgtrkReportKind;

/**
 * MsgtrkAction:
 * @MSGTRK_ACTION_NONE: no Action field (an MDN)
 * @MSGTRK_ACTION_UNKNOWN: an Action value this library does not know (raw text kept)
 * @MSGTRK_ACTION_FAILED: failed
 * @MSGTRK_ACTION_DELAYED: delayed
 * @MSGTRK_ACTION_DELIVERED: delivered
 * @MSGTRK_ACTION_EXPANDED: expanded (delivered to a list or alias, which goes on)
 * @MSGTRK_ACTION_RELAYED: relayed to a system that gives no tracking information
 * @MSGTRK_ACTION_TRANSFERRED: transferred to another MTRK-capable MTA (Remote-MTA)
 * @MSGTRK_ACTION_OPAQUE: the server will not say more
 *
 * The per-recipient Action field (RFC 3464, extended by RFC 3886).
 *
 * Since: 1.0
 */
typedef enum {
  MSGTRK_ACTION_NONE,
  MSGTRK_ACTION_UNKNOWN,
  MSGTRK_ACTION_FAILED,
  MSGTRK_ACTION_DELAYED,
  MSGTRK_ACTION_DELIVERED,
  MSGTRK_ACTION_EXPANDED,
  MSGTRK_ACTION_RELAYED,
  MSGTRK_ACTION_TRANSFERRED,
  MSGTRK_ACTION_OPAQUE,
} MsgtrkAction;

/**
 * MsgtrkDisposition:
 * @MSGTRK_DISPOSITION_NONE: not an MDN
 * @MSGTRK_DISPOSITION_UNKNOWN: a disposition type this library does not know
 * @MSGTRK_DISPOSITION_DISPLAYED: displayed (read)
 * @MSGTRK_DISPOSITION_DELETED: deleted
 * @MSGTRK_DISPOSITION_DISPATCHED: dispatched
 * @MSGTRK_DISPOSITION_PROCESSED: processed
 *
 * The disposition type of an MDN (RFC 8098 section 3.2.6).
 *
 * Since: 1.0
 */
typedef enum {
  MSGTRK_DISPOSITION_NONE,
  MSGTRK_DISPOSITION_UNKNOWN,
  MSGTRK_DISPOSITION_DISPLAYED,
  MSGTRK_DISPOSITION_DELETED,
  MSGTRK_DISPOSITION_DISPATCHED,
  MSGTRK_DISPOSITION_PROCESSED,
} MsgtrkDisposition;

MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_action_to_string      (MsgtrkAction action);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkAction  msgtrk_action_from_string    (const char  *text);

/* One recipient block */
#define MSGTRK_TYPE_RECIPIENT_REPORT (msgtrk_recipient_report_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkRecipientReport, msgtrk_recipient_report, MSGTRK, RECIPIENT_REPORT, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkRecipientReport *msgtrk_recipient_report_new (const char *final_recipient);

MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_final_recipient      (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_final_recipient_type (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_original_recipient   (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_recipient_report_set_original_recipient   (MsgtrkRecipientReport *self,
                                                                const char            *address);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkAction  msgtrk_recipient_report_get_action               (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_action_text          (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_recipient_report_set_action               (MsgtrkRecipientReport *self,
                                                                MsgtrkAction           action);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_status               (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
guint         msgtrk_recipient_report_get_status_class         (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
guint         msgtrk_recipient_report_get_status_subject       (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
guint         msgtrk_recipient_report_get_status_detail        (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_status_comment       (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean      msgtrk_recipient_report_set_status               (MsgtrkRecipientReport *self,
                                                                const char            *code,
                                                                const char            *comment,
                                                                GError               **error);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_remote_mta           (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_recipient_report_set_remote_mta           (MsgtrkRecipientReport *self,
                                                                const char            *host);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_diagnostic_code      (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_recipient_report_set_diagnostic_code      (MsgtrkRecipientReport *self,
                                                                const char            *text);
MSGTRK_AVAILABLE_IN_ALL
GDateTime    *msgtrk_recipient_report_get_last_attempt_date    (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_recipient_report_set_last_attempt_date    (MsgtrkRecipientReport *self,
                                                                GDateTime             *date);
MSGTRK_AVAILABLE_IN_ALL
GDateTime    *msgtrk_recipient_report_get_will_retry_until     (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_recipient_report_set_will_retry_until     (MsgtrkRecipientReport *self,
                                                                GDateTime             *date);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkDisposition msgtrk_recipient_report_get_disposition      (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_disposition_text     (MsgtrkRecipientReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_recipient_report_get_field                (MsgtrkRecipientReport *self,
                                                                const char            *name);
MSGTRK_AVAILABLE_IN_ALL
void          msgtrk_recipient_report_set_field                (MsgtrkRecipientReport *self,
                                                                const char            *name,
                                                                const char            *value);
MSGTRK_AVAILABLE_IN_ALL
char        **msgtrk_recipient_report_list_field_names         (MsgtrkRecipientReport *self);

/* One report (per-message block plus its recipients) */
#define MSGTRK_TYPE_REPORT (msgtrk_report_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkReport, msgtrk_report, MSGTRK, REPORT, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkReport     *msgtrk_report_new                    (MsgtrkReportKind kind);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkReportKind  msgtrk_report_get_kind               (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char       *msgtrk_report_get_envid              (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_report_set_envid              (MsgtrkReport *self,
                                                        const char   *envid);
MSGTRK_AVAILABLE_IN_ALL
const char       *msgtrk_report_get_reporting_mta      (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char       *msgtrk_report_get_reporting_mta_type (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_report_set_reporting_mta      (MsgtrkReport *self,
                                                        const char   *host);
MSGTRK_AVAILABLE_IN_ALL
const char       *msgtrk_report_get_reporting_ua       (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
GDateTime        *msgtrk_report_get_arrival_date       (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_report_set_arrival_date       (MsgtrkReport *self,
                                                        GDateTime    *date);
MSGTRK_AVAILABLE_IN_ALL
const char       *msgtrk_report_get_original_message_id (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_report_set_original_message_id (MsgtrkReport *self,
                                                         const char   *message_id);
MSGTRK_AVAILABLE_IN_ALL
const char       *msgtrk_report_get_returned_headers   (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
const char       *msgtrk_report_get_field              (MsgtrkReport *self,
                                                        const char   *name);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_report_set_field              (MsgtrkReport *self,
                                                        const char   *name,
                                                        const char   *value);
MSGTRK_AVAILABLE_IN_ALL
char            **msgtrk_report_list_field_names       (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray        *msgtrk_report_get_recipients         (MsgtrkReport *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_report_add_recipient          (MsgtrkReport          *self,
                                                        MsgtrkRecipientReport *recipient);

/* Parsing */
MSGTRK_AVAILABLE_IN_ALL
MsgtrkReport     *msgtrk_report_parse_fields           (MsgtrkReportKind kind,
                                                        const char      *data,
                                                        gssize           len,
                                                        GError         **error);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray        *msgtrk_report_parse_entity           (GBytes          *entity,
                                                        GError         **error);

/* Extracting the report parts of a whole message */
MSGTRK_AVAILABLE_IN_ALL
GBytes           *msgtrk_report_extract_bytes          (GBytes          *message,
                                                        GCancellable    *cancellable,
                                                        GError         **error);
MSGTRK_AVAILABLE_IN_ALL
GBytes           *msgtrk_report_extract_file           (const char      *path,
                                                        GCancellable    *cancellable,
                                                        GError         **error);

/* Writing */
MSGTRK_AVAILABLE_IN_ALL
char             *msgtrk_report_to_fields              (MsgtrkReport    *self);
MSGTRK_AVAILABLE_IN_ALL
GBytes           *msgtrk_report_build_tracking_entity  (GPtrArray       *reports,
                                                        GError         **error);

G_END_DECLS
