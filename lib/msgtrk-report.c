/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-report.c: one parser, one model and one writer for three report formats.
 *
 *   message/tracking-status          RFC 3886 (MTQP TRACK answers)
 *   message/delivery-status          RFC 3464 (DSNs)
 *   message/disposition-notification RFC 8098 (MDNs)
 *
 * Model: a MsgtrkReport holds the per-message block as an ordered list of fields and a list
 * of MsgtrkRecipientReport, each an ordered list of fields. The ordered fields are the one
 * source of truth: every typed value (addresses, MTA names, action, status, dates,
 * disposition) is derived from them by *_refresh() whenever they change, and every typed
 * setter writes a field. Pointers returned by getters stay valid until the object is next
 * modified.
 *
 * MDN mapping: an MDN has a single block. Its fields (Reporting-UA, MDN-Gateway,
 * Original-Recipient, Final-Recipient, Original-Message-ID, Disposition, Failure, Error,
 * Warning, extensions) are the report's per-message fields, and the report has exactly one
 * recipient carrying copies of Original-Recipient, Final-Recipient and Disposition, so that
 * MDNs, DSNs and tracking-status reports can be read the same way per recipient.
 *
 * Extraction: msgtrk_report_extract_file() / _bytes() take a whole message (a bounce that
 * returns a 25 MB message) and keep only its report parts and returned headers, parsed
 * by GMime over a seekable stream whose leaf contents are never loaded, re-written as a
 * small entity for the parser.
 *
 * Limits: MSGTRK_REPORT_MAX_SIZE octets per input (for extraction: of the kept parts and
 * the entity they make), MSGTRK_REPORT_MAX_MESSAGE_SIZE octets per whole message
 * extracted from, MSGTRK_REPORT_MAX_PARTS MIME parts,
 * MSGTRK_REPORT_MAX_RECIPIENTS recipient blocks, MSGTRK_REPORT_MAX_FIELDS fields per block,
 * MSGTRK_REPORT_MAX_FIELD_LENGTH octets per unfolded field, measured as it is written:
 * name ": " value, value trimmed. Passing one is MSGTRK_ERROR_LIMIT.
 *
 * Never: trust input (every byte is checked; hostile text is quoted with
 * msgtrk_str_escape_for_error), truncate silently, abort on remote data, or decode xtext
 * (Original-Envelope-Id is kept as given).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gmime/gmime.h>

#include "msgtrk-gmime-private.h"
#include "msgtrk-private.h"
#include "msgtrk-report-syntax-private.h"

/* How much of hostile text an error message quotes. */
#define ERROR_QUOTE_LEN 60

/* ---------------------------------------------------------------------------------------
 * MsgtrkRecipientReport
 * ------------------------------------------------------------------------------------- */

struct _MsgtrkRecipientReport
{
  GObject parent_instance;

  GPtrArray *fields; /* (owned) (element-type MsgtrkReportField) the one source of truth */

  /* Derived from @fields by recipient_refresh(), never set otherwise. */
  char *final_type;       /* (owned) (nullable) */
  char *final_address;    /* (owned) (nullable) */
  char *original_address; /* (owned) (nullable) */
  MsgtrkAction action;
  char *status_code;    /* (owned) (nullable) only when valid */
  char *status_comment; /* (owned) (nullable) */
  guint status_class;
  guint status_subject;
  guint status_detail;
  char *remote_mta;            /* (owned) (nullable) */
  GDateTime *last_attempt;     /* (owned) (nullable) */
  GDateTime *will_retry_until; /* (owned) (nullable) */
  MsgtrkDisposition disposition;
  char *disposition_text; /* (owned) (nullable) */
};

G_DEFINE_FINAL_TYPE (MsgtrkRecipientReport, msgtrk_recipient_report, G_TYPE_OBJECT)

static void
recipient_clear_derived (MsgtrkRecipientReport *self)
{
  g_clear_pointer (&self->final_type, g_free);
  g_clear_pointer (&self->final_address, g_free);
  g_clear_pointer (&self->original_address, g_free);
  g_clear_pointer (&self->status_code, g_free);
  g_clear_pointer (&self->status_comment, g_free);
  g_clear_pointer (&self->remote_mta, g_free);
  g_clear_pointer (&self->last_attempt, g_date_time_unref);
  g_clear_pointer (&self->will_retry_until, g_date_time_unref);
  g_clear_pointer (&self->disposition_text, g_free);
  self->action = MSGTRK_ACTION_NONE;
  self->status_class = self->status_subject = self->status_detail = 0;
  self->disposition = MSGTRK_DISPOSITION_NONE;
}

/* Recompute every typed value from the fields. */
static void
recipient_refresh (MsgtrkRecipientReport *self)
{
  g_autofree char *unused_type = NULL;
  g_autofree char *remote_type = NULL;
  const char *status;
  const char *disposition;
  gsize code_len = 0;

  recipient_clear_derived (self);

  msgtrk_report_typed_parse_tolerant (msgtrk_report_fields_get (self->fields, "Final-Recipient"), &self->final_type,
                        &self->final_address);
  msgtrk_report_typed_parse_tolerant (msgtrk_report_fields_get (self->fields, "Original-Recipient"), &unused_type,
                        &self->original_address);
  self->action = msgtrk_action_from_string (msgtrk_report_fields_get (self->fields, "Action"));

  status = msgtrk_report_fields_get (self->fields, "Status");
  if (status != NULL
      && msgtrk_report_status_code_parse (status, &self->status_class, &self->status_subject,
                            &self->status_detail, &code_len, &self->status_comment))
    self->status_code = g_strndup (status, code_len);

  msgtrk_report_typed_parse_tolerant (msgtrk_report_fields_get (self->fields, "Remote-MTA"), &remote_type,
                        &self->remote_mta);
  self->last_attempt = msgtrk_date_parse (msgtrk_report_fields_get (self->fields, "Last-Attempt-Date"));
  self->will_retry_until = msgtrk_date_parse (msgtrk_report_fields_get (self->fields, "Will-Retry-Until"));

  disposition = msgtrk_report_fields_get (self->fields, "Disposition");
  if (disposition != NULL
      && !msgtrk_report_disposition_parse (disposition, &self->disposition, &self->disposition_text))
    self->disposition = MSGTRK_DISPOSITION_UNKNOWN;
}

static void
msgtrk_recipient_report_finalize (GObject *object)
{
  MsgtrkRecipientReport *self = MSGTRK_RECIPIENT_REPORT (object);

  recipient_clear_derived (self);
  g_ptr_array_unref (self->fields);

  G_OBJECT_CLASS (msgtrk_recipient_report_parent_class)->finalize (object);
}

static void
msgtrk_recipient_report_class_init (MsgtrkRecipientReportClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_recipient_report_finalize;
}

static void
msgtrk_recipient_report_init (MsgtrkRecipientReport *self)
{
  self->fields = msgtrk_report_fields_new ();
}

/* A recipient that takes over a parsed block of fields. */
static MsgtrkRecipientReport *
recipient_new_from_fields (GPtrArray *fields)
{
  MsgtrkRecipientReport *self = g_object_new (MSGTRK_TYPE_RECIPIENT_REPORT, NULL);

  g_ptr_array_unref (self->fields);
  self->fields = g_ptr_array_ref (fields);
  recipient_refresh (self);
  return self;
}

/**
 * msgtrk_recipient_report_new:
 * @final_recipient: the recipient's address (an RFC 5321 mailbox, no angle brackets)
 *
 * Creates a recipient block with `Final-Recipient: rfc822; @final_recipient` and nothing
 * else. Add Action and Status before writing it as tracking-status or delivery-status.
 *
 * Returns: (transfer full): a new recipient report
 */
MsgtrkRecipientReport *
msgtrk_recipient_report_new (const char *final_recipient)
{
  MsgtrkRecipientReport *self;
  g_autofree char *value = NULL;

  g_return_val_if_fail (final_recipient != NULL, NULL);

  self = g_object_new (MSGTRK_TYPE_RECIPIENT_REPORT, NULL);
  value = msgtrk_report_typed_write ("rfc822", final_recipient);
  msgtrk_report_fields_set (self->fields, "Final-Recipient", value);
  recipient_refresh (self);
  return self;
}

/**
 * msgtrk_recipient_report_get_final_recipient:
 * @self: a recipient report
 *
 * The address of the Final-Recipient field (the part after "type;", trimmed), or the
 * whole value if it has no type.
 *
 * Returns: (nullable): the address, or %NULL if there is no Final-Recipient field
 */
const char *
msgtrk_recipient_report_get_final_recipient (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->final_address;
}

/**
 * msgtrk_recipient_report_get_final_recipient_type:
 * @self: a recipient report
 *
 * The address-type of the Final-Recipient field, e.g. "rfc822" or "utf-8", as given.
 *
 * Returns: (nullable): the type, or %NULL if there is no field or it has no type
 */
const char *
msgtrk_recipient_report_get_final_recipient_type (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->final_type;
}

/**
 * msgtrk_recipient_report_get_original_recipient:
 * @self: a recipient report
 *
 * The address of the Original-Recipient field (what the sender gave as ORCPT), without
 * its address-type.
 *
 * Returns: (nullable): the address, or %NULL if there is no such field
 */
const char *
msgtrk_recipient_report_get_original_recipient (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->original_address;
}

/**
 * msgtrk_recipient_report_set_original_recipient:
 * @self: a recipient report
 * @address: (nullable): an address, or %NULL to remove the field
 *
 * Sets `Original-Recipient: rfc822; @address`.
 */
void
msgtrk_recipient_report_set_original_recipient (MsgtrkRecipientReport *self,
                                                const char            *address)
{
  g_autofree char *value = NULL;

  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  if (address != NULL)
    value = msgtrk_report_typed_write ("rfc822", address);
  msgtrk_report_fields_set (self->fields, "Original-Recipient", value);
  recipient_refresh (self);
}

/**
 * msgtrk_recipient_report_get_action:
 * @self: a recipient report
 *
 * The Action field, parsed case-insensitively.
 *
 * Returns: the action: %MSGTRK_ACTION_NONE without an Action field (an MDN),
 *   %MSGTRK_ACTION_UNKNOWN for a value this library does not know (see
 *   msgtrk_recipient_report_get_action_text())
 */
MsgtrkAction
msgtrk_recipient_report_get_action (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), MSGTRK_ACTION_NONE);
  return self->action;
}

/**
 * msgtrk_recipient_report_get_action_text:
 * @self: a recipient report
 *
 * The Action field as written (trimmed), also when it is not a known action.
 *
 * Returns: (nullable): the text, or %NULL without an Action field
 */
const char *
msgtrk_recipient_report_get_action_text (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return msgtrk_report_fields_get (self->fields, "Action");
}

/**
 * msgtrk_recipient_report_set_action:
 * @self: a recipient report
 * @action: a known action, or %MSGTRK_ACTION_NONE to remove the field
 *
 * Sets the Action field. %MSGTRK_ACTION_UNKNOWN has no text: to write an action this
 * library does not know, use msgtrk_recipient_report_set_field().
 */
void
msgtrk_recipient_report_set_action (MsgtrkRecipientReport *self,
                                    MsgtrkAction           action)
{
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));
  g_return_if_fail (action != MSGTRK_ACTION_UNKNOWN);

  msgtrk_report_fields_set (self->fields, "Action", msgtrk_action_to_string (action));
  recipient_refresh (self);
}

/**
 * msgtrk_recipient_report_get_status:
 * @self: a recipient report
 *
 * The enhanced status code of the Status field (RFC 3463), e.g. "5.1.1", without its
 * comment.
 *
 * Returns: (nullable): the code, or %NULL if there is no Status field or it is not a
 *   valid code (possible only after msgtrk_recipient_report_set_field(); the parser
 *   refuses invalid codes)
 */
const char *
msgtrk_recipient_report_get_status (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->status_code;
}

/**
 * msgtrk_recipient_report_get_status_class:
 * @self: a recipient report
 *
 * Returns: the class of the status code (2 success, 4 persistent transient failure,
 *   5 permanent failure), or 0 without a valid Status
 */
guint
msgtrk_recipient_report_get_status_class (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), 0);
  return self->status_class;
}

/**
 * msgtrk_recipient_report_get_status_subject:
 * @self: a recipient report
 *
 * Returns: the subject of the status code (0..999), or 0 without a valid Status
 */
guint
msgtrk_recipient_report_get_status_subject (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), 0);
  return self->status_subject;
}

/**
 * msgtrk_recipient_report_get_status_detail:
 * @self: a recipient report
 *
 * Returns: the detail of the status code (0..999), or 0 without a valid Status
 */
guint
msgtrk_recipient_report_get_status_detail (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), 0);
  return self->status_detail;
}

/**
 * msgtrk_recipient_report_get_status_comment:
 * @self: a recipient report
 *
 * The comment after the status code: the text inside its parentheses with quoted-pairs
 * undone, or the rest of the value as written if it is not parenthesised.
 *
 * Returns: (nullable): the comment, or %NULL if there is none
 */
const char *
msgtrk_recipient_report_get_status_comment (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->status_comment;
}

/**
 * msgtrk_recipient_report_set_status:
 * @self: a recipient report
 * @code: an enhanced status code, `class "." subject "." detail` with class 2, 4 or 5
 * @comment: (nullable): a comment, written in parentheses
 * @error: return location for a #GError
 *
 * Sets the Status field to @code, or `@code (@comment)`.
 *
 * Returns: %TRUE, or %FALSE with %MSGTRK_ERROR_PARSE if @code is not a valid code (the
 *   field is then left as it was)
 */
gboolean
msgtrk_recipient_report_set_status (MsgtrkRecipientReport *self,
                                    const char            *code,
                                    const char            *comment,
                                    GError               **error)
{
  g_autofree char *value = NULL;

  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), FALSE);
  g_return_val_if_fail (code != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  value = msgtrk_report_status_code_write (code, comment, error);
  if (value == NULL)
    return FALSE;

  msgtrk_report_fields_set (self->fields, "Status", value);
  recipient_refresh (self);
  return TRUE;
}

/**
 * msgtrk_recipient_report_get_remote_mta:
 * @self: a recipient report
 *
 * The MTA name of the Remote-MTA field (for `transferred`, the MTA to ask next), without
 * its mta-name-type.
 *
 * Returns: (nullable): the host, or %NULL if there is no such field
 */
const char *
msgtrk_recipient_report_get_remote_mta (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->remote_mta;
}

/**
 * msgtrk_recipient_report_set_remote_mta:
 * @self: a recipient report
 * @host: (nullable): a host name, or %NULL to remove the field
 *
 * Sets `Remote-MTA: dns; @host`.
 */
void
msgtrk_recipient_report_set_remote_mta (MsgtrkRecipientReport *self,
                                        const char            *host)
{
  g_autofree char *value = NULL;

  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  if (host != NULL)
    value = msgtrk_report_typed_write ("dns", host);
  msgtrk_report_fields_set (self->fields, "Remote-MTA", value);
  recipient_refresh (self);
}

/**
 * msgtrk_recipient_report_get_diagnostic_code:
 * @self: a recipient report
 *
 * The Diagnostic-Code field as written, diagnostic-type included, e.g.
 * "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected".
 *
 * Returns: (nullable): the value, or %NULL if there is no such field
 */
const char *
msgtrk_recipient_report_get_diagnostic_code (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return msgtrk_report_fields_get (self->fields, "Diagnostic-Code");
}

/**
 * msgtrk_recipient_report_set_diagnostic_code:
 * @self: a recipient report
 * @text: (nullable): "type; text", or a bare SMTP reply to which "smtp; " is prefixed, or
 *   %NULL to remove the field
 *
 * Sets the Diagnostic-Code field.
 */
void
msgtrk_recipient_report_set_diagnostic_code (MsgtrkRecipientReport *self,
                                             const char            *text)
{
  g_autofree char *value = NULL;

  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  if (text != NULL)
    value = msgtrk_report_typed_parse (text, NULL, NULL) ? g_strdup (text) : g_strdup_printf ("smtp; %s", text);
  msgtrk_report_fields_set (self->fields, "Diagnostic-Code", value);
  recipient_refresh (self);
}

/**
 * msgtrk_recipient_report_get_last_attempt_date:
 * @self: a recipient report
 *
 * The Last-Attempt-Date field as a date. An unparseable or absurd date (outside the
 * years 1980..2200) gives %NULL; its text is still available from
 * msgtrk_recipient_report_get_field().
 *
 * Returns: (nullable) (transfer none): the date
 */
GDateTime *
msgtrk_recipient_report_get_last_attempt_date (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->last_attempt;
}

/**
 * msgtrk_recipient_report_set_last_attempt_date:
 * @self: a recipient report
 * @date: (nullable): a date, or %NULL to remove the field
 *
 * Sets the Last-Attempt-Date field (RFC 5322 date-time, to the second).
 */
void
msgtrk_recipient_report_set_last_attempt_date (MsgtrkRecipientReport *self,
                                               GDateTime             *date)
{
  g_autofree char *value = NULL;

  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  if (date != NULL)
    value = msgtrk_date_format (date);
  msgtrk_report_fields_set (self->fields, "Last-Attempt-Date", value);
  recipient_refresh (self);
}

/**
 * msgtrk_recipient_report_get_will_retry_until:
 * @self: a recipient report
 *
 * The Will-Retry-Until field as a date (for `delayed`); %NULL when missing, unparseable or
 * absurd, as for msgtrk_recipient_report_get_last_attempt_date().
 *
 * Returns: (nullable) (transfer none): the date
 */
GDateTime *
msgtrk_recipient_report_get_will_retry_until (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->will_retry_until;
}

/**
 * msgtrk_recipient_report_set_will_retry_until:
 * @self: a recipient report
 * @date: (nullable): a date, or %NULL to remove the field
 *
 * Sets the Will-Retry-Until field.
 */
void
msgtrk_recipient_report_set_will_retry_until (MsgtrkRecipientReport *self,
                                              GDateTime             *date)
{
  g_autofree char *value = NULL;

  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  if (date != NULL)
    value = msgtrk_date_format (date);
  msgtrk_report_fields_set (self->fields, "Will-Retry-Until", value);
  recipient_refresh (self);
}

/**
 * msgtrk_recipient_report_get_disposition:
 * @self: a recipient report
 *
 * The disposition type of an MDN's Disposition field.
 *
 * Returns: %MSGTRK_DISPOSITION_NONE without a Disposition field,
 *   %MSGTRK_DISPOSITION_UNKNOWN for a type this library does not know or a value that
 *   is not a disposition
 */
MsgtrkDisposition
msgtrk_recipient_report_get_disposition (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), MSGTRK_DISPOSITION_NONE);
  return self->disposition;
}

/**
 * msgtrk_recipient_report_get_disposition_text:
 * @self: a recipient report
 *
 * The disposition-type word of the Disposition field as written, e.g. "displayed" for
 * "manual-action/MDN-sent-manually; displayed". The whole value is available from
 * msgtrk_recipient_report_get_field().
 *
 * Returns: (nullable): the type, or %NULL without a well-formed Disposition field
 */
const char *
msgtrk_recipient_report_get_disposition_text (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return self->disposition_text;
}

/**
 * msgtrk_recipient_report_get_field:
 * @self: a recipient report
 * @name: a field name, compared case-insensitively
 *
 * Any field of the block, known or extension, unfolded and trimmed. If the name occurs
 * more than once (possible for extension fields), the first one.
 *
 * Returns: (nullable): the value, or %NULL if there is no such field
 */
const char *
msgtrk_recipient_report_get_field (MsgtrkRecipientReport *self,
                                   const char            *name)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return msgtrk_report_fields_get (self->fields, name);
}

/**
 * msgtrk_recipient_report_set_field:
 * @self: a recipient report
 * @name: a field name (printable ASCII without ':')
 * @value: (nullable): the value, or %NULL to remove every field of that name
 *
 * Replaces the first field called @name (dropping any later ones of that name) or
 * appends it. Known fields set this way are seen by the typed getters. Control characters
 * in @value (CR and LF included) become spaces and surrounding whitespace is dropped, so
 * that what is written parses back to the same value.
 */
void
msgtrk_recipient_report_set_field (MsgtrkRecipientReport *self,
                                   const char            *name,
                                   const char            *value)
{
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));
  g_return_if_fail (msgtrk_report_field_name_is_valid (name));

  msgtrk_report_fields_set (self->fields, name, value);
  recipient_refresh (self);
}

/**
 * msgtrk_recipient_report_list_field_names:
 * @self: a recipient report
 *
 * The names of all fields of the block, known and extension, in order of first
 * occurrence, each once (compared case-insensitively; the first spelling is given).
 *
 * Returns: (transfer full) (array zero-terminated=1): the names
 */
char **
msgtrk_recipient_report_list_field_names (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return msgtrk_report_fields_list_names (self->fields);
}

/* ---------------------------------------------------------------------------------------
 * MsgtrkReport
 * ------------------------------------------------------------------------------------- */

struct _MsgtrkReport
{
  GObject parent_instance;

  MsgtrkReportKind kind;
  GPtrArray *fields;     /* (owned) (element-type MsgtrkReportField) the per-message block */
  GPtrArray *recipients; /* (owned) (element-type MsgtrkRecipientReport) */

  /* From other MIME parts of a DSN or MDN; not part of the fields. */
  char *returned_headers;    /* (owned) (nullable) */
  char *returned_message_id; /* (owned) (nullable) Message-ID of @returned_headers */

  /* Derived from @fields by report_refresh(), never set otherwise. */
  char *reporting_mta_type; /* (owned) (nullable) */
  char *reporting_mta;      /* (owned) (nullable) */
  GDateTime *arrival_date;  /* (owned) (nullable) */
};

G_DEFINE_FINAL_TYPE (MsgtrkReport, msgtrk_report, G_TYPE_OBJECT)

static void
report_clear_derived (MsgtrkReport *self)
{
  g_clear_pointer (&self->reporting_mta_type, g_free);
  g_clear_pointer (&self->reporting_mta, g_free);
  g_clear_pointer (&self->arrival_date, g_date_time_unref);
}

static void
report_refresh (MsgtrkReport *self)
{
  report_clear_derived (self);
  msgtrk_report_typed_parse_tolerant (msgtrk_report_fields_get (self->fields, "Reporting-MTA"), &self->reporting_mta_type,
                        &self->reporting_mta);
  self->arrival_date = msgtrk_date_parse (msgtrk_report_fields_get (self->fields, "Arrival-Date"));
}

static void
msgtrk_report_finalize (GObject *object)
{
  MsgtrkReport *self = MSGTRK_REPORT (object);

  report_clear_derived (self);
  g_ptr_array_unref (self->fields);
  g_ptr_array_unref (self->recipients);
  g_free (self->returned_headers);
  g_free (self->returned_message_id);

  G_OBJECT_CLASS (msgtrk_report_parent_class)->finalize (object);
}

static void
msgtrk_report_class_init (MsgtrkReportClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_report_finalize;
}

static void
msgtrk_report_init (MsgtrkReport *self)
{
  self->fields = msgtrk_report_fields_new ();
  self->recipients = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * msgtrk_report_new:
 * @kind: the syntax the report stands for
 *
 * Creates an empty report. For a tracking-status report set at least the envelope id
 * (msgtrk_report_set_envid()) and the reporting MTA, and add recipients.
 *
 * Returns: (transfer full): a new report
 */
MsgtrkReport *
msgtrk_report_new (MsgtrkReportKind kind)
{
  MsgtrkReport *self;

  g_return_val_if_fail (kind <= MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION, NULL);

  self = g_object_new (MSGTRK_TYPE_REPORT, NULL);
  self->kind = kind;
  return self;
}

/**
 * msgtrk_report_get_kind:
 * @self: a report
 *
 * Returns: the syntax the report came in (or was created for)
 */
MsgtrkReportKind
msgtrk_report_get_kind (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), MSGTRK_REPORT_KIND_TRACKING_STATUS);
  return self->kind;
}

/**
 * msgtrk_report_get_envid:
 * @self: a report
 *
 * The Original-Envelope-Id field exactly as given. In a DSN it is xtext-encoded per RFC
 * 3464 (Postfix writes it decoded); this library does not decode it.
 *
 * Returns: (nullable): the envelope id, or %NULL if there is none
 */
const char *
msgtrk_report_get_envid (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return msgtrk_report_fields_get (self->fields, "Original-Envelope-Id");
}

/**
 * msgtrk_report_set_envid:
 * @self: a report
 * @envid: (nullable): the envelope id, or %NULL to remove the field
 *
 * Sets the Original-Envelope-Id field (as given, no encoding).
 */
void
msgtrk_report_set_envid (MsgtrkReport *self,
                         const char   *envid)
{
  g_return_if_fail (MSGTRK_IS_REPORT (self));

  msgtrk_report_fields_set (self->fields, "Original-Envelope-Id", envid);
  report_refresh (self);
}

/**
 * msgtrk_report_get_reporting_mta:
 * @self: a report
 *
 * The MTA name of the Reporting-MTA field, without its mta-name-type.
 *
 * Returns: (nullable): the host, or %NULL if there is no such field (an MDN)
 */
const char *
msgtrk_report_get_reporting_mta (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return self->reporting_mta;
}

/**
 * msgtrk_report_get_reporting_mta_type:
 * @self: a report
 *
 * The mta-name-type of the Reporting-MTA field, normally "dns".
 *
 * Returns: (nullable): the type, or %NULL
 */
const char *
msgtrk_report_get_reporting_mta_type (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return self->reporting_mta_type;
}

/**
 * msgtrk_report_set_reporting_mta:
 * @self: a report
 * @host: (nullable): a host name, or %NULL to remove the field
 *
 * Sets `Reporting-MTA: dns; @host`.
 */
void
msgtrk_report_set_reporting_mta (MsgtrkReport *self,
                                 const char   *host)
{
  g_autofree char *value = NULL;

  g_return_if_fail (MSGTRK_IS_REPORT (self));

  if (host != NULL)
    value = msgtrk_report_typed_write ("dns", host);
  msgtrk_report_fields_set (self->fields, "Reporting-MTA", value);
  report_refresh (self);
}

/**
 * msgtrk_report_get_reporting_ua:
 * @self: a report
 *
 * The Reporting-UA field of an MDN as written, e.g. "pc.example.com; Foomail 9.1".
 *
 * Returns: (nullable): the value, or %NULL if there is none
 */
const char *
msgtrk_report_get_reporting_ua (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return msgtrk_report_fields_get (self->fields, "Reporting-UA");
}

/**
 * msgtrk_report_get_arrival_date:
 * @self: a report
 *
 * The Arrival-Date field as a date. Unparseable or absurd dates (outside the years
 * 1980..2200) give %NULL; the text stays available from msgtrk_report_get_field().
 *
 * Returns: (nullable) (transfer none): the date
 */
GDateTime *
msgtrk_report_get_arrival_date (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return self->arrival_date;
}

/**
 * msgtrk_report_set_arrival_date:
 * @self: a report
 * @date: (nullable): a date, or %NULL to remove the field
 *
 * Sets the Arrival-Date field (RFC 5322 date-time, to the second).
 */
void
msgtrk_report_set_arrival_date (MsgtrkReport *self,
                                GDateTime    *date)
{
  g_autofree char *value = NULL;

  g_return_if_fail (MSGTRK_IS_REPORT (self));

  if (date != NULL)
    value = msgtrk_date_format (date);
  msgtrk_report_fields_set (self->fields, "Arrival-Date", value);
  report_refresh (self);
}

/**
 * msgtrk_report_get_original_message_id:
 * @self: a report
 *
 * The Message-ID of the message the report is about: the Original-Message-ID field (an
 * MDN, or set with msgtrk_report_set_original_message_id()) as written, else the
 * Message-ID header of the returned headers of a DSN or MDN, with angle brackets.
 *
 * Returns: (nullable): the message id, or %NULL if unknown
 */
const char *
msgtrk_report_get_original_message_id (MsgtrkReport *self)
{
  const char *value;

  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);

  value = msgtrk_report_fields_get (self->fields, "Original-Message-ID");
  return value != NULL ? value : self->returned_message_id;
}

/**
 * msgtrk_report_set_original_message_id:
 * @self: a report
 * @message_id: (nullable): a message id with angle brackets, or %NULL to remove the field
 *
 * Sets the Original-Message-ID field of the per-message block (RFC 8098; an extension
 * field in other kinds).
 */
void
msgtrk_report_set_original_message_id (MsgtrkReport *self,
                                       const char   *message_id)
{
  g_return_if_fail (MSGTRK_IS_REPORT (self));

  msgtrk_report_fields_set (self->fields, "Original-Message-ID", message_id);
  report_refresh (self);
}

/**
 * msgtrk_report_get_returned_headers:
 * @self: a report
 *
 * The raw header text returned with a DSN or MDN (a text/rfc822-headers or RFC 6533
 * message/global-headers part, or the headers of a message/rfc822 or message/global
 * part), e.g. the Received: chain as the reporting MTA saw it. Only
 * msgtrk_report_parse_entity() sets it.
 *
 * Returns: (nullable): the headers, or %NULL
 */
const char *
msgtrk_report_get_returned_headers (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return self->returned_headers;
}

/**
 * msgtrk_report_get_field:
 * @self: a report
 * @name: a field name, compared case-insensitively
 *
 * Any field of the per-message block, known or extension, unfolded and trimmed; the
 * first one if the name occurs more than once.
 *
 * Returns: (nullable): the value, or %NULL if there is no such field
 */
const char *
msgtrk_report_get_field (MsgtrkReport *self,
                         const char   *name)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return msgtrk_report_fields_get (self->fields, name);
}

/**
 * msgtrk_report_set_field:
 * @self: a report
 * @name: a field name (printable ASCII without ':')
 * @value: (nullable): the value, or %NULL to remove every field of that name
 *
 * Replaces the first per-message field called @name (dropping later ones of that name)
 * or appends it; typed getters see the change. @value is normalised as by
 * msgtrk_recipient_report_set_field(). In an MDN this does not change the copies held by
 * its recipient.
 */
void
msgtrk_report_set_field (MsgtrkReport *self,
                         const char   *name,
                         const char   *value)
{
  g_return_if_fail (MSGTRK_IS_REPORT (self));
  g_return_if_fail (msgtrk_report_field_name_is_valid (name));

  msgtrk_report_fields_set (self->fields, name, value);
  report_refresh (self);
}

/**
 * msgtrk_report_list_field_names:
 * @self: a report
 *
 * The names of all per-message fields, in order of first occurrence, each once.
 *
 * Returns: (transfer full) (array zero-terminated=1): the names
 */
char **
msgtrk_report_list_field_names (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return msgtrk_report_fields_list_names (self->fields);
}

/**
 * msgtrk_report_get_recipients:
 * @self: a report
 *
 * The recipient blocks in order (exactly one for an MDN).
 *
 * Returns: (transfer none) (element-type MsgtrkRecipientReport): the recipients
 */
GPtrArray *
msgtrk_report_get_recipients (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return self->recipients;
}

/**
 * msgtrk_report_add_recipient:
 * @self: a report
 * @recipient: (transfer none): a recipient block
 *
 * Appends a recipient block (a reference is taken).
 */
void
msgtrk_report_add_recipient (MsgtrkReport          *self,
                             MsgtrkRecipientReport *recipient)
{
  g_return_if_fail (MSGTRK_IS_REPORT (self));
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (recipient));

  g_ptr_array_add (self->recipients, g_object_ref (recipient));
}

/* ---------------------------------------------------------------------------------------
 * Parsing the fields of one part
 * ------------------------------------------------------------------------------------- */

static const char *
kind_to_string (MsgtrkReportKind kind)
{
  switch (kind)
    {
    case MSGTRK_REPORT_KIND_TRACKING_STATUS:
      return "tracking-status";
    case MSGTRK_REPORT_KIND_DELIVERY_STATUS:
      return "delivery-status";
    case MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION:
    default:
      return "disposition-notification";
    }
}

/* Check one block: no singleton twice, required fields present, typed fields well formed. */
static gboolean
check_block (GPtrArray        *block,
             const MsgtrkReportKnownField *table,
             gsize             table_len,
             const char *const *required,
             const char       *what,
             const char       *where,
             GError          **error)
{
  for (guint i = 0; i < block->len; i++)
    {
      MsgtrkReportField *field = g_ptr_array_index (block, i);
      const MsgtrkReportKnownField *known = msgtrk_report_known_field_lookup (table, table_len, field->name);
      gboolean ok = TRUE;

      if (known == NULL)
        known = msgtrk_report_known_field_any (field->name);
      if (known == NULL)
        continue;

      if (known->singleton && msgtrk_report_fields_lookup (block, field->name) != field)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("%s, %s: field %s appears more than once"), what, where, known->name);
          return FALSE;
        }

      switch (known->syntax)
        {
        case MSGTRK_REPORT_SYNTAX_TEXT:
          break;
        case MSGTRK_REPORT_SYNTAX_TYPED:
          ok = msgtrk_report_typed_parse (field->value, NULL, NULL);
          break;
        case MSGTRK_REPORT_SYNTAX_STATUS:
          ok = msgtrk_report_status_code_parse (field->value, NULL, NULL, NULL, NULL, NULL);
          break;
        case MSGTRK_REPORT_SYNTAX_ACTION:
          ok = *field->value != '\0';
          break;
        case MSGTRK_REPORT_SYNTAX_DISPOSITION:
          ok = msgtrk_report_disposition_parse (field->value, NULL, NULL);
          break;
        default:
          g_assert_not_reached ();
        }
      if (!ok)
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (field->value, ERROR_QUOTE_LEN);
          const char *expected;

          switch (known->syntax)
            {
            case MSGTRK_REPORT_SYNTAX_TYPED:
              expected = _("“type; value”");
              break;
            case MSGTRK_REPORT_SYNTAX_STATUS:
              expected = _("an enhanced status code class.subject.detail with class 2, 4 or 5");
              break;
            case MSGTRK_REPORT_SYNTAX_DISPOSITION:
              expected = _("“action-mode/sending-mode; type”");
              break;
            case MSGTRK_REPORT_SYNTAX_TEXT:
            case MSGTRK_REPORT_SYNTAX_ACTION:
            default:
              expected = _("a value");
              break;
            }
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("%s, %s: field %s “%s” is not %s"), what, where, known->name, quoted,
                       expected);
          return FALSE;
        }
    }

  for (guint i = 0; required[i] != NULL; i++)
    {
      if (msgtrk_report_fields_lookup (block, required[i]) == NULL)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("%s, %s: required field %s is missing"), what, where, required[i]);
          return FALSE;
        }
    }
  return TRUE;
}

/* Copy of the fields @names of @block, in the block's order. */
static GPtrArray *
fields_copy_named (GPtrArray         *block,
                   const char *const *names)
{
  GPtrArray *copy = msgtrk_report_fields_new ();

  for (guint i = 0; i < block->len; i++)
    {
      MsgtrkReportField *field = g_ptr_array_index (block, i);

      for (guint j = 0; names[j] != NULL; j++)
        if (g_ascii_strcasecmp (field->name, names[j]) == 0)
          g_ptr_array_add (copy, msgtrk_report_field_new_take (g_strdup (field->name), g_strdup (field->value)));
    }
  return copy;
}

/*
 * The three grammars, as implemented (field order is free; extension fields anywhere):
 *
 * RFC 3886 section 3.1 (tracking-status):
 *   tracking-status-content = per-message-fields 1*( CRLF per-recipient-fields )
 *   per-message-fields = original-envelope-id-field CRLF reporting-mta-field CRLF
 *                        [ arrival-date-field CRLF ] *( extension-field CRLF )
 *   per-recipient-fields = [ original-recipient-field CRLF ] final-recipient-field CRLF
 *                        action-field CRLF status-field CRLF [ remote-mta-field CRLF ]
 *                        [ last-attempt-date-field CRLF ] [ will-retry-until-field CRLF ]
 *                        *( extension-field CRLF )
 *   action-value =/ "transferred" / "opaque"
 * (RFC 3886 also lists Arrival-Date as required; following the project's brief it is
 * optional here, so that a missing date is not a lost report.)
 *
 * RFC 3464 section 2.1 (delivery-status):
 *   delivery-status-content = per-message-fields 1*( CRLF per-recipient-fields )
 *   per-message-fields = [ original-envelope-id-field CRLF ] reporting-mta-field CRLF
 *                        [ dsn-gateway-field CRLF ] [ received-from-mta-field CRLF ]
 *                        [ arrival-date-field CRLF ] *( extension-field CRLF )
 *   per-recipient-fields = [ original-recipient-field CRLF ] final-recipient-field CRLF
 *                        action-field CRLF status-field CRLF [ remote-mta-field CRLF ]
 *                        [ diagnostic-code-field CRLF ] [ last-attempt-date-field CRLF ]
 *                        [ final-log-id-field CRLF ] [ will-retry-until-field CRLF ]
 *                        *( extension-field CRLF )
 *
 * RFC 8098 section 3.1 (disposition-notification):
 *   disposition-notification-content = [ reporting-ua-field CRLF ]
 *       [ mdn-gateway-field CRLF ] [ original-recipient-field CRLF ]
 *       final-recipient-field CRLF [ original-message-id-field CRLF ]
 *       disposition-field CRLF *( failure-field CRLF ) *( error-field CRLF )
 *       *( warning-field CRLF ) *( extension-field CRLF )
 *
 *   extension-field = extension-field-name ":" *text
 */

/**
 * msgtrk_report_parse_fields:
 * @kind: which syntax @data is in
 * @data: (array length=len) (element-type guint8): the body of one message/tracking-status,
 *   message/delivery-status or message/disposition-notification part
 * @len: length of @data, or -1 if it is NUL-terminated
 * @error: return location for a #GError
 *
 * Parses the fields of one report part: the per-message block, then one block per
 * recipient (CRLF or LF line ends, folding allowed). Required fields: for tracking-status
 * Original-Envelope-Id and Reporting-MTA per message, Final-Recipient, Action and Status
 * per recipient; for delivery-status the same without Original-Envelope-Id; for an MDN
 * (one block only) Disposition and Final-Recipient. Known fields may appear once per
 * block (Failure, Error and Warning of an MDN excepted); extension fields are kept in
 * order. Address, MTA, Status and Disposition fields must be well formed; unknown
 * actions and unparseable dates are not errors (see the getters).
 *
 * An MDN becomes a report whose per-message fields are all the MDN's fields and whose
 * single recipient holds copies of Original-Recipient, Final-Recipient and Disposition.
 *
 * Returns: (transfer full): the report, or %NULL with %MSGTRK_ERROR_PARSE (naming the
 *   block and field) or %MSGTRK_ERROR_LIMIT
 */
MsgtrkReport *
msgtrk_report_parse_fields (MsgtrkReportKind kind,
                            const char      *data,
                            gssize           len,
                            GError         **error)
{
  static const char *const ts_message_required[] = { "Original-Envelope-Id", "Reporting-MTA",
                                                     NULL };
  static const char *const dsn_message_required[] = { "Reporting-MTA", NULL };
  static const char *const recipient_required[] = { "Final-Recipient", "Action", "Status", NULL };
  static const char *const mdn_required[] = { "Disposition", "Final-Recipient", NULL };
  static const char *const mdn_recipient_fields[] = { "Original-Recipient", "Final-Recipient",
                                                      "Disposition", NULL };
  const char *what;
  g_autoptr (GPtrArray) blocks = NULL;
  g_autoptr (MsgtrkReport) report = NULL;
  GPtrArray *message;

  g_return_val_if_fail (kind <= MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION, NULL);
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  what = kind_to_string (kind);
  if (len < 0)
    len = (gssize) strlen (data);
  if ((gsize) len > MSGTRK_REPORT_MAX_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("%s is %ld octets long; the limit is %d"), what, (long) len,
                   MSGTRK_REPORT_MAX_SIZE);
      return NULL;
    }

  blocks = msgtrk_report_blocks_parse (data != NULL ? data : "", (gsize) len, what, error);
  if (blocks == NULL)
    return NULL;
  if (blocks->len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, _("%s is empty: no fields"), what);
      return NULL;
    }

  report = msgtrk_report_new (kind);
  message = g_ptr_array_index (blocks, 0);

  if (kind == MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION)
    {
      g_autoptr (GPtrArray) copy = NULL;
      g_autoptr (MsgtrkRecipientReport) recipient = NULL;

      if (blocks->len > 1)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("%s has %u blocks of fields; RFC 8098 allows one"), what, blocks->len);
          return NULL;
        }
      if (!check_block (message, msgtrk_report_message_fields, G_N_ELEMENTS (msgtrk_report_message_fields), mdn_required,
                        what, _("the MDN block"), error))
        return NULL;
      copy = fields_copy_named (message, mdn_recipient_fields);
      recipient = recipient_new_from_fields (copy);
      g_ptr_array_add (report->recipients, g_steal_pointer (&recipient));
    }
  else
    {
      if (!check_block (message, msgtrk_report_message_fields, G_N_ELEMENTS (msgtrk_report_message_fields),
                        kind == MSGTRK_REPORT_KIND_TRACKING_STATUS ? ts_message_required
                                                                   : dsn_message_required,
                        what, _("per-message block"), error))
        return NULL;
      if (blocks->len < 2)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("%s has no recipient block after the per-message block"), what);
          return NULL;
        }
      for (guint i = 1; i < blocks->len; i++)
        {
          GPtrArray *block = g_ptr_array_index (blocks, i);
          g_autofree char *where = g_strdup_printf (_("recipient block %u"), i);

          if (!check_block (block, msgtrk_report_recipient_fields, G_N_ELEMENTS (msgtrk_report_recipient_fields),
                            recipient_required, what, where, error))
            return NULL;
          g_ptr_array_add (report->recipients, recipient_new_from_fields (block));
        }
    }

  g_ptr_array_unref (report->fields);
  report->fields = g_ptr_array_ref (message);
  report_refresh (report);
  return g_steal_pointer (&report);
}

/* ---------------------------------------------------------------------------------------
 * Parsing MIME entities
 * ------------------------------------------------------------------------------------- */

/* The content of a leaf part, transfer encoding undone; the serialised message for a
 * GMimeMessagePart (in case a GMime version parses message/delivery-status as one). */
static GBytes *
part_get_bytes (GMimeObject *object)
{
  g_autoptr (GMimeStream) stream = g_mime_stream_mem_new ();
  GByteArray *array;

  if (GMIME_IS_PART (object))
    {
      GMimeDataWrapper *content = g_mime_part_get_content (GMIME_PART (object));

      if (content != NULL && g_mime_data_wrapper_write_to_stream (content, stream) < 0)
        return NULL;
    }
  else if (GMIME_IS_MESSAGE_PART (object))
    {
      GMimeMessage *message = g_mime_message_part_get_message (GMIME_MESSAGE_PART (object));

      if (message != NULL && g_mime_object_write_to_stream (GMIME_OBJECT (message), NULL, stream) < 0)
        return NULL;
    }
  else
    return NULL;

  array = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (stream));
  return g_bytes_new (array->data, array->len);
}

static gboolean
content_type_is (GMimeObject *object,
                 const char  *type,
                 const char  *subtype)
{
  GMimeContentType *ct = g_mime_object_get_content_type (object);

  return ct != NULL && g_mime_content_type_is_type (ct, type, subtype);
}

/* Which report a content type is, or FALSE. RFC 6533 global-* variants map to the same
 * kinds. */
static gboolean
report_kind_of (GMimeObject      *object,
                MsgtrkReportKind *kind)
{
  if (content_type_is (object, "message", "tracking-status"))
    *kind = MSGTRK_REPORT_KIND_TRACKING_STATUS;
  else if (content_type_is (object, "message", "delivery-status")
           || content_type_is (object, "message", "global-delivery-status"))
    *kind = MSGTRK_REPORT_KIND_DELIVERY_STATUS;
  else if (content_type_is (object, "message", "disposition-notification")
           || content_type_is (object, "message", "global-disposition-notification"))
    *kind = MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION;
  else
    return FALSE;
  return TRUE;
}

/* Number of MIME objects in the tree (the root and embedded messages included). */
static guint
count_parts (GMimeObject *object,
             guint        depth)
{
  guint n = 1;

  if (depth > MSGTRK_REPORT_MAX_PARTS)
    return MSGTRK_REPORT_MAX_PARTS + 2;
  if (GMIME_IS_MULTIPART (object))
    {
      GMimeMultipart *multipart = GMIME_MULTIPART (object);
      int count = g_mime_multipart_get_count (multipart);

      for (int i = 0; i < count && n <= MSGTRK_REPORT_MAX_PARTS + 1; i++)
        n += count_parts (g_mime_multipart_get_part (multipart, i), depth + 1);
    }
  else if (GMIME_IS_MESSAGE_PART (object))
    {
      GMimeMessage *message = g_mime_message_part_get_message (GMIME_MESSAGE_PART (object));

      if (message != NULL && g_mime_message_get_mime_part (message) != NULL)
        n += count_parts (g_mime_message_get_mime_part (message), depth + 1);
    }
  return n;
}

static MsgtrkReport *
parse_report_part (GMimeObject     *part,
                   MsgtrkReportKind kind,
                   guint            index,
                   GError         **error)
{
  g_autoptr (GBytes) bytes = part_get_bytes (part);
  g_autoptr (GError) local_error = NULL;
  MsgtrkReport *report;
  gsize len = 0;
  const char *data;

  if (bytes == NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("part %u: the content of the %s part cannot be read"), index,
                   kind_to_string (kind));
      return NULL;
    }
  data = g_bytes_get_data (bytes, &len);
  report = msgtrk_report_parse_fields (kind, data, (gssize) len, &local_error);
  if (report == NULL)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error), _("part %u: "), index);
      return NULL;
    }
  return report;
}

/* Header text for the model: valid UTF-8, no NUL. */
static char *
text_from_bytes (GBytes *bytes)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autofree char *text = g_strndup (data != NULL ? data : "", len);

  if (!g_utf8_validate (text, -1, NULL))
    return g_utf8_make_valid (text, -1);
  return g_steal_pointer (&text);
}

/*
 * Message-ID of a block of raw header text, or NULL: the first msg-id of the first
 * Message-ID field, unfolded.
 *   message-id = "Message-ID:" msg-id CRLF              ; RFC 5322 section 3.6.4
 *   msg-id     = [CFWS] "<" id-left "@" id-right ">" [CFWS]
 * Only the angle brackets are looked for; what is between them is kept as written.
 */
static char *
message_id_of_headers (const char *headers)
{
  const char *line = headers;

  while (*line != '\0')
    {
      const char *next = strchr (line, '\n');

      next = next != NULL ? next + 1 : line + strlen (line);
      if (*line == '\r' || *line == '\n')
        break; /* end of the header section */
      if (g_ascii_strncasecmp (line, "Message-ID:", 11) == 0)
        {
          const char *end = next;
          const char *open;
          const char *close;
          GString *id;

          /* Take in continuation lines. */
          while (*end == ' ' || *end == '\t')
            {
              const char *nl = strchr (end, '\n');

              end = nl != NULL ? nl + 1 : end + strlen (end);
            }
          open = memchr (line, '<', (gsize) (end - line));
          if (open == NULL)
            return NULL;
          close = memchr (open, '>', (gsize) (end - open));
          if (close == NULL)
            return NULL;
          /* Unfold: drop CR and LF inside a folded id. */
          id = g_string_new_len (open, close - open + 1);
          for (gsize i = 0; i < id->len;)
            {
              if (id->str[i] == '\r' || id->str[i] == '\n')
                g_string_erase (id, (gssize) i, 1);
              else
                i++;
            }
          return g_string_free (id, FALSE);
        }
      line = next;
    }
  return NULL;
}

/* Whether @part holds the returned headers alone: text/rfc822-headers (RFC 6522), or
 * message/global-headers (RFC 6533, an SMTPUTF8 bounce; text/global-headers is a
 * misspelling some code used, accepted too). */
static gboolean
is_returned_headers_type (GMimeObject *part)
{
  return content_type_is (part, "text", "rfc822-headers")
         || content_type_is (part, "message", "global-headers")
         || content_type_is (part, "text", "global-headers");
}

/* Whether @part is a returned message: message/rfc822, or message/global (RFC 6533). */
static gboolean
is_returned_message_type (GMimeObject *part)
{
  return content_type_is (part, "message", "rfc822")
         || content_type_is (part, "message", "global");
}

/* The header text of a part of a report that returns the original message or its
 * headers, or NULL if @part is not one. */
static char *
returned_headers_of (GMimeObject *part)
{
  if (GMIME_IS_MESSAGE_PART (part)
      && (is_returned_message_type (part) || is_returned_headers_type (part)))
    {
      GMimeMessage *message = g_mime_message_part_get_message (GMIME_MESSAGE_PART (part));
      g_autofree char *headers = NULL;
      g_autoptr (GBytes) bytes = NULL;

      if (message == NULL)
        return NULL;
      headers = g_mime_object_get_headers (GMIME_OBJECT (message), NULL);
      bytes = g_bytes_new_static (headers, strlen (headers));
      return text_from_bytes (bytes);
    }
  if (GMIME_IS_PART (part) && (is_returned_headers_type (part) || is_returned_message_type (part)))
    {
      g_autoptr (GBytes) bytes = part_get_bytes (part);
      char *text = bytes != NULL ? text_from_bytes (bytes) : NULL;

      /* A returned message GMime left as a leaf: its header section only. */
      if (text != NULL && is_returned_message_type (part))
        {
          char *end = strstr (text, "\n\n");
          char *end_crlf = strstr (text, "\r\n\r\n");

          if (end_crlf != NULL && (end == NULL || end_crlf < end))
            end_crlf[2] = '\0';
          else if (end != NULL)
            end[1] = '\0';
        }
      return text;
    }
  return NULL;
}

/* multipart/report: the machine-readable part, plus returned headers. */
static GPtrArray *
parse_multipart_report (GMimeMultipart *multipart,
                        GError        **error)
{
  g_autoptr (GPtrArray) reports = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (MsgtrkReport) report = NULL;
  int count = g_mime_multipart_get_count (multipart);

  for (int i = 0; i < count && report == NULL; i++)
    {
      GMimeObject *part = g_mime_multipart_get_part (multipart, i);
      MsgtrkReportKind kind;

      if (report_kind_of (part, &kind) && kind != MSGTRK_REPORT_KIND_TRACKING_STATUS)
        {
          report = parse_report_part (part, kind, (guint) i + 1, error);
          if (report == NULL)
            return NULL;
        }
    }
  if (report == NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("multipart/report has no message/delivery-status or "
                     "message/disposition-notification part"));
      return NULL;
    }

  for (int i = 0; i < count && report->returned_headers == NULL; i++)
    report->returned_headers = returned_headers_of (g_mime_multipart_get_part (multipart, i));
  if (report->returned_headers != NULL)
    report->returned_message_id = message_id_of_headers (report->returned_headers);

  g_ptr_array_add (reports, g_steal_pointer (&report));
  return g_steal_pointer (&reports);
}

/* multipart/related; type="message/tracking-status": one report per such part. */
static GPtrArray *
parse_multipart_related (GMimeMultipart *multipart,
                         GError        **error)
{
  g_autoptr (GPtrArray) reports = g_ptr_array_new_with_free_func (g_object_unref);
  int count = g_mime_multipart_get_count (multipart);

  for (int i = 0; i < count; i++)
    {
      GMimeObject *part = g_mime_multipart_get_part (multipart, i);
      MsgtrkReport *report;

      if (!content_type_is (part, "message", "tracking-status"))
        continue;
      report = parse_report_part (part, MSGTRK_REPORT_KIND_TRACKING_STATUS, (guint) i + 1,
                                  error);
      if (report == NULL)
        return NULL;
      g_ptr_array_add (reports, report);
    }
  if (reports->len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("multipart/related has no message/tracking-status part"));
      return NULL;
    }
  return g_steal_pointer (&reports);
}

/**
 * msgtrk_report_parse_entity:
 * @entity: a whole MIME entity: headers (at least Content-Type), blank line, body
 *
 * Parses, with GMime, one of:
 *
 * - `multipart/related; type="message/tracking-status"` (an MTQP TRACK answer): one
 *   report per message/tracking-status part, in order;
 * - `multipart/report; report-type=delivery-status` or `disposition-notification` (a
 *   DSN or MDN, also a whole RFC 5322 message): the report of its machine-readable part,
 *   with the returned headers (text/rfc822-headers, message/global-headers,
 *   message/rfc822 or message/global part) and the
 *   original Message-ID;
 * - a bare message/tracking-status, message/delivery-status or
 *   message/disposition-notification entity.
 *
 * Returns: (transfer container) (element-type MsgtrkReport): the reports (at least one), or
 *   %NULL with %MSGTRK_ERROR_PARSE (also for any other content type) or
 *   %MSGTRK_ERROR_LIMIT (size over %MSGTRK_REPORT_MAX_SIZE, more than
 *   %MSGTRK_REPORT_MAX_PARTS MIME parts)
 */
GPtrArray *
msgtrk_report_parse_entity (GBytes  *entity,
                            GError **error)
{
  g_autoptr (GMimeStream) stream = NULL;
  g_autoptr (GMimeParser) parser = NULL;
  g_autoptr (GMimeMessage) message = NULL;
  g_autoptr (GPtrArray) reports = NULL;
  GMimeObject *top;
  MsgtrkReportKind kind;
  const char *data;
  gsize len = 0;
  guint n_parts;

  g_return_val_if_fail (entity != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (entity, &len);
  if (len > MSGTRK_REPORT_MAX_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("report entity is %lu octets long; the limit is %d"),
                   (unsigned long) len, MSGTRK_REPORT_MAX_SIZE);
      return NULL;
    }
  if (len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, _("report entity is empty"));
      return NULL;
    }

  msgtrk_ensure_gmime ();
  stream = g_mime_stream_mem_new_with_buffer (data, len);
  parser = g_mime_parser_new_with_stream (stream);
  g_mime_parser_set_format (parser, GMIME_FORMAT_MESSAGE);
  message = g_mime_parser_construct_message (parser, NULL);
  top = message != NULL ? g_mime_message_get_mime_part (message) : NULL;
  if (top == NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("not a tracking report: no MIME entity found"));
      return NULL;
    }

  n_parts = count_parts (top, 0) - 1; /* the parts inside the top-level entity */
  if (n_parts > MSGTRK_REPORT_MAX_PARTS)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("report entity has more than %d MIME parts inside it"),
                   MSGTRK_REPORT_MAX_PARTS);
      return NULL;
    }

  if (content_type_is (top, "multipart", "related") && GMIME_IS_MULTIPART (top))
    {
      GMimeContentType *ct = g_mime_object_get_content_type (top);
      const char *type = g_mime_content_type_get_parameter (ct, "type");

      if (type == NULL || g_ascii_strcasecmp (type, "message/tracking-status") != 0)
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (type, ERROR_QUOTE_LEN);

          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("not a tracking report: multipart/related of type “%s”"), quoted);
          return NULL;
        }
      reports = parse_multipart_related (GMIME_MULTIPART (top), error);
    }
  else if (content_type_is (top, "multipart", "report") && GMIME_IS_MULTIPART (top))
    {
      GMimeContentType *ct = g_mime_object_get_content_type (top);
      const char *type = g_mime_content_type_get_parameter (ct, "report-type");

      if (type == NULL
          || (g_ascii_strcasecmp (type, "delivery-status") != 0
              && g_ascii_strcasecmp (type, "disposition-notification") != 0
              && g_ascii_strcasecmp (type, "global-delivery-status") != 0
              && g_ascii_strcasecmp (type, "global-disposition-notification") != 0))
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (type, ERROR_QUOTE_LEN);

          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("not a tracking report: multipart/report of report-type “%s”"),
                       quoted);
          return NULL;
        }
      reports = parse_multipart_report (GMIME_MULTIPART (top), error);
    }
  else if (report_kind_of (top, &kind))
    {
      MsgtrkReport *report = parse_report_part (top, kind, 1, error);

      if (report == NULL)
        return NULL;
      reports = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (reports, report);
    }
  else
    {
      GMimeContentType *ct = g_mime_object_get_content_type (top);
      g_autofree char *mime_type = ct != NULL ? g_mime_content_type_get_mime_type (ct) : NULL;
      g_autofree char *quoted = msgtrk_str_escape_for_error (mime_type, ERROR_QUOTE_LEN);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("not a tracking report: content type %s"), quoted);
      return NULL;
    }

  return g_steal_pointer (&reports);
}

/**
 * msgtrk_report_to_fields:
 * @self: a report
 *
 * Writes the report in the syntax of message/tracking-status (RFC 3886), which is also
 * that of message/delivery-status: the per-message block, then for each recipient a
 * blank line and its block. Lines end in CRLF; known fields come in RFC order, then
 * extension fields in their order; values are folded at 78 columns where they have
 * whitespace. Recipients without fields are left out. For an MDN a single block is
 * written: the per-message fields, then those fields of its recipient whose names the
 * per-message block lacks.
 *
 * The text parses back (msgtrk_report_parse_fields()) to an equal report if the report
 * is valid for its kind and within the limits; msgtrk_report_build_tracking_entity()
 * checks that.
 *
 * Returns: (transfer full): the text
 */
char *
msgtrk_report_to_fields (MsgtrkReport *self)
{
  GString *out;

  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);

  out = g_string_new (NULL);
  msgtrk_report_block_write (out, self->fields, msgtrk_report_message_fields, G_N_ELEMENTS (msgtrk_report_message_fields), NULL);

  if (self->kind == MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION)
    {
      if (self->recipients->len > 0)
        {
          MsgtrkRecipientReport *recipient = g_ptr_array_index (self->recipients, 0);

          msgtrk_report_block_write (out, recipient->fields, msgtrk_report_message_fields, G_N_ELEMENTS (msgtrk_report_message_fields),
                       self->fields);
        }
      return g_string_free (out, FALSE);
    }

  for (guint i = 0; i < self->recipients->len; i++)
    {
      MsgtrkRecipientReport *recipient = g_ptr_array_index (self->recipients, i);

      if (recipient->fields->len == 0)
        continue;
      g_string_append (out, "\r\n");
      msgtrk_report_block_write (out, recipient->fields, msgtrk_report_recipient_fields, G_N_ELEMENTS (msgtrk_report_recipient_fields),
                   NULL);
    }
  return g_string_free (out, FALSE);
}

static gboolean
is_ascii (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    if ((guchar) *p >= 0x80)
      return FALSE;
  return TRUE;
}

/* Octets in the longest line of @text, line ends not counted. */
static gsize
longest_line (const char *text)
{
  gsize longest = 0;

  while (*text != '\0')
    {
      gsize len = strcspn (text, "\r\n");

      longest = MAX (longest, len);
      text += len;
      text += strspn (text, "\r\n");
    }
  return longest;
}

/**
 * msgtrk_report_build_tracking_entity:
 * @reports: (element-type MsgtrkReport): the reports to send, one per reporting MTA
 * @error: return location for a #GError
 *
 * Builds the MIME entity of an MTQP TRACK answer (RFC 3887 section 3.5):
 * `multipart/related; type="message/tracking-status"` with one message/tracking-status
 * part per report, CRLF line ends. Dot-stuffing is left to the caller. Each report is
 * written with msgtrk_report_to_fields() and checked by parsing it back.
 *
 * Returns: (transfer full): the entity, or %NULL with %MSGTRK_ERROR_PARSE (a report is
 *   not a valid tracking-status, e.g. lacks Original-Envelope-Id; the message names it),
 *   %MSGTRK_ERROR_LIMIT (a field, block or the entity over a limit) or
 *   %MSGTRK_ERROR_FAILED (no reports)
 */
GBytes *
msgtrk_report_build_tracking_entity (GPtrArray *reports,
                                     GError   **error)
{
  g_autoptr (GMimeMultipart) multipart = NULL;
  g_autoptr (GMimeStream) stream = NULL;
  g_autoptr (GMimeFormatOptions) options = NULL;
  GByteArray *array;

  g_return_val_if_fail (reports != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (reports->len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   _("a tracking answer needs at least one report"));
      return NULL;
    }
  if (reports->len > MSGTRK_REPORT_MAX_PARTS)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("%u reports; a tracking answer holds at most %d"), reports->len,
                   MSGTRK_REPORT_MAX_PARTS);
      return NULL;
    }

  msgtrk_ensure_gmime ();
  multipart = g_mime_multipart_new_with_subtype ("related");
  g_mime_object_set_content_type_parameter (GMIME_OBJECT (multipart), "type",
                                            "message/tracking-status");

  for (guint i = 0; i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      g_autofree char *text = NULL;
      g_autoptr (MsgtrkReport) check = NULL;
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GMimePart) part = NULL;
      g_autoptr (GMimeStream) content_stream = NULL;
      g_autoptr (GMimeDataWrapper) content = NULL;
      gsize text_len;

      g_return_val_if_fail (MSGTRK_IS_REPORT (report), NULL);

      text = msgtrk_report_to_fields (report);
      text_len = strlen (text);
      check = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, text,
                                          (gssize) text_len, &local_error);
      if (check == NULL)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local_error), _("report %u: "),
                                      i + 1);
          return NULL;
        }

      /* MTQP lines are at most MSGTRK_MTQP_MAX_LINE octets; the writer folds at white
       * space, and a value with too little of it cannot be sent at all. */
      if (longest_line (text) > MSGTRK_MTQP_MAX_LINE)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       _("report %u: a field cannot be folded into lines of at most %d "
                         "octets (MTQP's limit)"),
                       i + 1, MSGTRK_MTQP_MAX_LINE);
          return NULL;
        }

      part = g_mime_part_new_with_type ("message", "tracking-status");
      content_stream = g_mime_stream_mem_new_with_buffer (text, text_len);
      content = g_mime_data_wrapper_new_with_stream (content_stream,
                                                     GMIME_CONTENT_ENCODING_DEFAULT);
      g_mime_part_set_content (part, content);
      if (!is_ascii (text))
        g_mime_part_set_content_encoding (part, GMIME_CONTENT_ENCODING_8BIT);
      g_mime_multipart_add (multipart, GMIME_OBJECT (part));
    }

  options = g_mime_format_options_new ();
  g_mime_format_options_set_newline_format (options, GMIME_NEWLINE_FORMAT_DOS);
  stream = g_mime_stream_mem_new ();
  if (g_mime_object_write_to_stream (GMIME_OBJECT (multipart), options, stream) < 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   _("could not write the tracking answer"));
      return NULL;
    }
  array = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (stream));
  if (array->len > MSGTRK_REPORT_MAX_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("the tracking answer would be %u octets long; the limit is %d"), array->len,
                   MSGTRK_REPORT_MAX_SIZE);
      return NULL;
    }
  return g_bytes_new (array->data, array->len);
}

/* ---------------------------------------------------------------------------------------
 * Extracting the report from a whole message
 * ------------------------------------------------------------------------------------- */

/* Largest header section of a message read to decide whether it is a report. */
#define EXTRACT_MAX_HEADER_SECTION (256 * 1024)

/* Octets read at a time while looking for the end of the header section. */
#define EXTRACT_READ_CHUNK 4096

/* Whether @ct is a report this library reads: multipart/report of a report-type it knows
 * (RFC 6522, RFC 8098, RFC 6533), multipart/related of type message/tracking-status
 * (RFC 3886), or one bare report entity. The parameters are parsed by GMime, so quoting,
 * spaces around "=" (`report-type = delivery-status`), folding and RFC 2231 are handled. */
static gboolean
content_type_is_report (GMimeContentType *ct)
{
  static const char *const report_types[] = {
    "delivery-status", "disposition-notification", "global-delivery-status",
    "global-disposition-notification",
  };
  static const char *const bare_types[] = {
    "tracking-status", "delivery-status", "global-delivery-status",
    "disposition-notification", "global-disposition-notification",
  };

  if (ct == NULL)
    return FALSE;
  if (g_mime_content_type_is_type (ct, "multipart", "report"))
    {
      const char *type = g_mime_content_type_get_parameter (ct, "report-type");

      for (guint i = 0; type != NULL && i < G_N_ELEMENTS (report_types); i++)
        if (g_ascii_strcasecmp (type, report_types[i]) == 0)
          return TRUE;
      return FALSE;
    }
  if (g_mime_content_type_is_type (ct, "multipart", "related"))
    {
      const char *type = g_mime_content_type_get_parameter (ct, "type");

      return type != NULL && g_ascii_strcasecmp (type, "message/tracking-status") == 0;
    }
  for (guint i = 0; i < G_N_ELEMENTS (bare_types); i++)
    if (g_mime_content_type_is_type (ct, "message", bare_types[i]))
      return TRUE;
  return FALSE;
}

static void
set_read_error (GError **error)
{
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, _("the message cannot be read"));
}

/* The header section of the message in @stream, read from its start up to the line that
 * ends it (blank line excluded), or all of it if there is none. */
static GByteArray *
read_header_section (GMimeStream  *stream,
                     GCancellable *cancellable,
                     GError      **error)
{
  g_autoptr (GByteArray) head = g_byte_array_new ();
  char buf[EXTRACT_READ_CHUNK];

  for (;;)
    {
      gssize n;
      guint from;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      n = g_mime_stream_read (stream, buf, sizeof buf);
      if (n < 0)
        {
          set_read_error (error);
          return NULL;
        }
      if (n == 0)
        break;
      from = head->len > 2 ? head->len - 2 : 0;
      g_byte_array_append (head, (const guint8 *) buf, (guint) n);
      /* The end: LF LF or LF CR LF (a line of its own after a line's end). */
      for (guint i = from; i + 1 < head->len; i++)
        if (head->data[i] == '\n'
            && (head->data[i + 1] == '\n'
                || (head->data[i + 1] == '\r' && i + 2 < head->len && head->data[i + 2] == '\n')))
          {
            g_byte_array_set_size (head, i + 1);
            return g_steal_pointer (&head);
          }
      if (head->len > EXTRACT_MAX_HEADER_SECTION)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       _("the header of the message is longer than %d octets"),
                       EXTRACT_MAX_HEADER_SECTION);
          return NULL;
        }
    }
  return g_steal_pointer (&head);
}

/* The Content-Type of a message from its header section, as GMime parses it, or NULL. */
static GMimeContentType *
header_content_type (GByteArray *head)
{
  g_autoptr (GMimeStream) stream = g_mime_stream_mem_new ();
  g_autoptr (GMimeParser) parser = NULL;
  g_autoptr (GMimeMessage) message = NULL;
  GMimeObject *part;

  if (head->len == 0)
    return NULL;
  g_mime_stream_write (stream, (const char *) head->data, head->len);
  g_mime_stream_write_string (stream, "\n");
  g_mime_stream_reset (stream);
  parser = g_mime_parser_new_with_stream (stream);
  g_mime_parser_set_format (parser, GMIME_FORMAT_MESSAGE);
  message = g_mime_parser_construct_message (parser, NULL);
  part = message != NULL ? g_mime_message_get_mime_part (message) : NULL;
  if (part == NULL || g_mime_object_get_content_type (part) == NULL)
    return NULL;
  return g_object_ref (g_mime_object_get_content_type (part));
}

/* Octets @object takes when written, or -1 if it cannot be read. A leaf whose (encoded)
 * content alone passes @limit is not read at all. */
static gint64
object_size (GMimeObject *object,
             gint64       limit)
{
  g_autoptr (GMimeStream) null = NULL;

  if (GMIME_IS_PART (object))
    {
      GMimeDataWrapper *content = g_mime_part_get_content (GMIME_PART (object));
      GMimeStream *inner = content != NULL ? g_mime_data_wrapper_get_stream (content) : NULL;
      gint64 length = inner != NULL ? g_mime_stream_length (inner) : -1;

      if (length > limit)
        return length;
    }
  null = g_mime_stream_null_new ();
  if (g_mime_object_write_to_stream (object, NULL, null) < 0)
    return -1;
  return (gint64) GMIME_STREAM_NULL (null)->written;
}

/* A text/rfc822-headers part (message/global-headers for @global) holding the header
 * section of the message of @part, or NULL. */
static GMimeObject *
headers_part_of_message (GMimeMessagePart *part,
                         gboolean          global)
{
  GMimeMessage *message = g_mime_message_part_get_message (part);
  g_autofree char *headers = NULL;
  g_autoptr (GMimeStream) content = NULL;
  g_autoptr (GMimeDataWrapper) wrapper = NULL;
  GMimePart *out;

  if (message == NULL)
    return NULL;
  headers = g_mime_object_get_headers (GMIME_OBJECT (message), NULL);
  if (headers == NULL)
    return NULL;
  out = g_mime_part_new_with_type (global ? "message" : "text",
                                   global ? "global-headers" : "rfc822-headers");
  content = g_mime_stream_mem_new_with_buffer (headers, strlen (headers));
  wrapper = g_mime_data_wrapper_new_with_stream (content, GMIME_CONTENT_ENCODING_DEFAULT);
  g_mime_part_set_content (out, wrapper);
  g_mime_part_set_content_encoding (out, is_ascii (headers) ? GMIME_CONTENT_ENCODING_7BIT
                                                            : GMIME_CONTENT_ENCODING_8BIT);
  return GMIME_OBJECT (out);
}

/* The part of @child a small report keeps (a new reference), or NULL to drop it:
 * every report part, and the first returned headers (*have_headers), a returned
 * message reduced to its header section. */
static GMimeObject *
kept_part (GMimeObject *child,
           gboolean    *have_headers)
{
  MsgtrkReportKind kind;
  GMimeObject *keep = NULL;

  if (report_kind_of (child, &kind))
    return g_object_ref (child);
  if (*have_headers)
    return NULL;
  if (GMIME_IS_MESSAGE_PART (child) && is_returned_message_type (child))
    keep = headers_part_of_message (GMIME_MESSAGE_PART (child),
                                    content_type_is (child, "message", "global"));
  else if ((GMIME_IS_PART (child) || GMIME_IS_MESSAGE_PART (child))
           && (is_returned_headers_type (child) || is_returned_message_type (child)))
    keep = g_object_ref (child);
  if (keep != NULL)
    *have_headers = TRUE;
  return keep;
}

/* The whole stream as bytes (a bare report entity within the limit). */
static GBytes *
read_all (GMimeStream *stream,
          GError     **error)
{
  g_autoptr (GMimeStream) mem = g_mime_stream_mem_new ();
  GByteArray *array;

  g_mime_stream_reset (stream);
  if (g_mime_stream_write_to_stream (stream, mem) < 0)
    {
      set_read_error (error);
      return NULL;
    }
  array = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (mem));
  return g_bytes_new (array->data, array->len);
}

static GBytes *
extract_from_stream (GMimeStream  *stream,
                     GCancellable *cancellable,
                     GError      **error)
{
  g_autoptr (GByteArray) head = NULL;
  g_autoptr (GMimeContentType) ct = NULL;
  g_autoptr (GMimeParser) parser = NULL;
  g_autoptr (GMimeMessage) message = NULL;
  g_autoptr (GMimeMultipart) out = NULL;
  g_autoptr (GMimeStream) mem = NULL;
  GMimeParamList *params;
  GMimeObject *top;
  GByteArray *array;
  gint64 total = g_mime_stream_length (stream);
  gint64 kept_size = 0;
  gboolean have_headers = FALSE;
  guint n_kept = 0;
  int count;

  if (total < 0)
    {
      set_read_error (error);
      return NULL;
    }
  if (total > MSGTRK_REPORT_MAX_MESSAGE_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("the message is %lu octets long; the limit is %d"), (unsigned long) total,
                   MSGTRK_REPORT_MAX_MESSAGE_SIZE);
      return NULL;
    }
  msgtrk_ensure_gmime ();
  head = read_header_section (stream, cancellable, error);
  if (head == NULL)
    return NULL;
  ct = header_content_type (head);
  if (!content_type_is_report (ct))
    {
      g_autofree char *mime_type = ct != NULL ? g_mime_content_type_get_mime_type (ct) : NULL;
      g_autofree char *quoted = msgtrk_str_escape_for_error (mime_type, ERROR_QUOTE_LEN);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("not a tracking report: content type %s"), quoted);
      return NULL;
    }
  if (!g_mime_content_type_is_type (ct, "multipart", "*"))
    {
      /* One bare report entity: nothing to leave out. */
      if (total > MSGTRK_REPORT_MAX_SIZE)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       _("report entity is %lu octets long; the limit is %d"),
                       (unsigned long) total, MSGTRK_REPORT_MAX_SIZE);
          return NULL;
        }
      return read_all (stream, error);
    }

  /* Parse the whole message; leaf contents stay in @stream (persist), never in memory. */
  g_mime_stream_reset (stream);
  parser = g_mime_parser_new_with_stream (stream);
  g_mime_parser_set_format (parser, GMIME_FORMAT_MESSAGE);
  g_mime_parser_set_persist_stream (parser, TRUE);
  message = g_mime_parser_construct_message (parser, NULL);
  top = message != NULL ? g_mime_message_get_mime_part (message) : NULL;
  if (top == NULL || !GMIME_IS_MULTIPART (top))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("not a tracking report: no MIME entity found"));
      return NULL;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  out = g_mime_multipart_new_with_subtype (
    g_mime_content_type_get_media_subtype (g_mime_object_get_content_type (top)));
  params = g_mime_content_type_get_parameters (g_mime_object_get_content_type (top));
  for (int i = 0; params != NULL && i < g_mime_param_list_length (params); i++)
    {
      GMimeParam *param = g_mime_param_list_get_parameter_at (params, i);

      if (g_ascii_strcasecmp (g_mime_param_get_name (param), "boundary") != 0)
        g_mime_object_set_content_type_parameter (GMIME_OBJECT (out),
                                                  g_mime_param_get_name (param),
                                                  g_mime_param_get_value (param));
    }
  g_mime_multipart_set_boundary (out, NULL);

  count = g_mime_multipart_get_count (GMIME_MULTIPART (top));
  for (int i = 0; i < count; i++)
    {
      GMimeObject *child = g_mime_multipart_get_part (GMIME_MULTIPART (top), i);
      g_autoptr (GMimeObject) keep = NULL;
      gint64 size;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      keep = kept_part (child, &have_headers);
      if (keep == NULL)
        continue;
      if (++n_kept > MSGTRK_REPORT_MAX_PARTS)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       _("the message has more than %d report parts"), MSGTRK_REPORT_MAX_PARTS);
          return NULL;
        }
      size = object_size (keep, MSGTRK_REPORT_MAX_SIZE - kept_size);
      if (size < 0)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("part %d of the message cannot be read"), i + 1);
          return NULL;
        }
      kept_size += size;
      if (kept_size > MSGTRK_REPORT_MAX_SIZE)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       _("the report parts of the message are more than %d octets long"),
                       MSGTRK_REPORT_MAX_SIZE);
          return NULL;
        }
      g_mime_multipart_add (out, keep);
    }
  if (n_kept == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("the message has no message/delivery-status, "
                     "message/disposition-notification or message/tracking-status part"));
      return NULL;
    }

  mem = g_mime_stream_mem_new ();
  g_mime_stream_write_string (mem, "MIME-Version: 1.0\n");
  if (g_mime_object_write_to_stream (GMIME_OBJECT (out), NULL, mem) < 0)
    {
      set_read_error (error);
      return NULL;
    }
  array = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (mem));
  if (array->len > MSGTRK_REPORT_MAX_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("report entity is %lu octets long; the limit is %d"),
                   (unsigned long) array->len, MSGTRK_REPORT_MAX_SIZE);
      return NULL;
    }
  return g_bytes_new (array->data, array->len);
}

/**
 * msgtrk_report_extract_bytes:
 * @message: a whole message (RFC 5322), e.g. a bounce that returns a big message
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The report in @message, small enough for msgtrk_report_parse_entity() whatever the size
 * of @message. The message is parsed with GMime; of a `multipart/report` (or a
 * `multipart/related` of message/tracking-status parts) only the report parts
 * (message/delivery-status, message/global-delivery-status,
 * message/disposition-notification, message/global-disposition-notification,
 * message/tracking-status) and the first returned headers (text/rfc822-headers,
 * message/global-headers, or the header section of a returned message/rfc822 or
 * message/global) are kept, written again as an entity of the same type. Human-readable
 * parts and returned bodies (attachments) are left out unread. A bare report entity is
 * returned as it is.
 *
 * Only the header section is read to decide whether @message is a report at all: any
 * other message fails quickly with %MSGTRK_ERROR_PARSE.
 *
 * Returns: (transfer full): the report entity, at most %MSGTRK_REPORT_MAX_SIZE octets, or
 *   %NULL with %MSGTRK_ERROR_PARSE (not a report, no report part),
 *   %MSGTRK_ERROR_LIMIT (@message over %MSGTRK_REPORT_MAX_MESSAGE_SIZE, the kept parts
 *   over %MSGTRK_REPORT_MAX_SIZE or more than %MSGTRK_REPORT_MAX_PARTS of them) or
 *   %G_IO_ERROR_CANCELLED
 */
GBytes *
msgtrk_report_extract_bytes (GBytes       *message,
                             GCancellable *cancellable,
                             GError      **error)
{
  g_autoptr (GMimeStream) stream = NULL;
  const char *data;
  gsize len = 0;

  g_return_val_if_fail (message != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (message, &len);
  if (len > MSGTRK_REPORT_MAX_MESSAGE_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("the message is %lu octets long; the limit is %d"), (unsigned long) len,
                   MSGTRK_REPORT_MAX_MESSAGE_SIZE);
      return NULL;
    }
  msgtrk_ensure_gmime ();
  stream = g_mime_stream_mem_new_with_buffer (data != NULL ? data : "", len);
  return extract_from_stream (stream, cancellable, error);
}

/**
 * msgtrk_report_extract_file:
 * @path: (type filename): a file holding one whole message (a Maildir or MH file)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * msgtrk_report_extract_bytes() on the message in @path, read as a seekable stream: only
 * the header section, the structure and the kept parts are read, so a bounce of any size
 * up to %MSGTRK_REPORT_MAX_MESSAGE_SIZE costs memory for its report only. Blocking: call
 * it from a worker thread (a #GTask) in a program with a main loop.
 *
 * Returns: (transfer full): the report entity, or %NULL with an error as for
 *   msgtrk_report_extract_bytes(), or a #G_IO_ERROR if @path cannot be opened
 */
GBytes *
msgtrk_report_extract_file (const char   *path,
                            GCancellable *cancellable,
                            GError      **error)
{
  g_autoptr (GMimeStream) stream = NULL;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_autofree char *display = g_filename_display_name (path);

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot open %s: %s"), display, g_strerror (saved));
      return NULL;
    }
  msgtrk_ensure_gmime ();
  stream = g_mime_stream_fs_new (fd); /* owns fd */
  return extract_from_stream (stream, cancellable, error);
}
