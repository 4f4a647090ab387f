/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-recipient-report.c: MsgtrkRecipientReport, the per-recipient block of a report
 * (RFC 3464 section 2.3, RFC 3886 section 3.3, RFC 8098 for an MDN's one recipient).
 *
 * What: an ordered list of fields, the one source of truth; every typed value (addresses,
 * action, status, Remote-MTA, dates, disposition) is derived from it by recipient_refresh()
 * whenever it changes, and every typed setter writes a field through the report syntax
 * layer (msgtrk-report-syntax.c). Pointers returned by getters stay valid until the object
 * is next modified.
 * Limits: those of the fields (msgtrk-report-syntax.c); setters normalise values (control
 * characters become spaces, invalid UTF-8 is repaired).
 * Never: keeps a typed value that disagrees with its field.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-report-private.h"
#include "msgtrk-report-syntax-private.h"

/* ---------------------------------------------------------------------------------------
 * MsgtrkRecipientReport
 * ------------------------------------------------------------------------------------- */

/**
 * MsgtrkRecipientReport:
 *
 * One recipient block of a report: the per-recipient fields of RFC 3464, RFC 3886 or
 * RFC 3798 (final recipient, action, status, remote MTA, dates, disposition), parsed
 * and kept in their received order.
 *
 * Since: 1.0
 */
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

  msgtrk_report_typed_parse_tolerant (msgtrk_report_fields_get (self->fields, "Final-Recipient"),
                                      &self->final_type,
                        &self->final_address);
  msgtrk_report_typed_parse_tolerant (msgtrk_report_fields_get (self->fields, "Original-Recipient"),
                                      &unused_type,
                        &self->original_address);
  self->action = msgtrk_action_from_string (msgtrk_report_fields_get (self->fields, "Action"));

  status = msgtrk_report_fields_get (self->fields, "Status");
  if (status != NULL
      && msgtrk_report_status_code_parse (status, &self->status_class, &self->status_subject,
                                          &self->status_detail, &code_len, &self->status_comment))
    self->status_code = g_strndup (status, code_len);

  msgtrk_report_typed_parse_tolerant (msgtrk_report_fields_get (self->fields, "Remote-MTA"),
                                      &remote_type,
                        &self->remote_mta);
  self->last_attempt = msgtrk_date_parse (msgtrk_report_fields_get (self->fields,
                                                                    "Last-Attempt-Date"));
  self->will_retry_until = msgtrk_date_parse (msgtrk_report_fields_get (self->fields,
                                                                        "Will-Retry-Until"));

  disposition = msgtrk_report_fields_get (self->fields, "Disposition");
  if (disposition != NULL
      && !msgtrk_report_disposition_parse (disposition, &self->disposition,
                                           &self->disposition_text))
    self->disposition = MSGTRK_DISPOSITION_UNKNOWN;
}

/* Writes one field (%NULL removes it) and derives the typed values again: the end of every
 * setter. */
static void
recipient_set (MsgtrkRecipientReport *self,
               const char            *name,
               const char            *value)
{
  msgtrk_report_fields_set (self->fields, name, value);
  recipient_refresh (self);
}

/* A typed field, `@type; @text`, or none for a %NULL @text. */
static void
recipient_set_typed (MsgtrkRecipientReport *self,
                     const char            *name,
                     const char            *type,
                     const char            *text)
{
  g_autofree char *value = text != NULL ? msgtrk_report_typed_write (type, text) : NULL;

  recipient_set (self, name, value);
}

/* A date field (RFC 5322 date-time), or none for a %NULL @date. */
static void
recipient_set_date (MsgtrkRecipientReport *self,
                    const char            *name,
                    GDateTime             *date)
{
  g_autofree char *value = date != NULL ? msgtrk_date_format (date) : NULL;

  recipient_set (self, name, value);
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
MsgtrkRecipientReport *
msgtrk_recipient_report_new_from_fields (GPtrArray *fields)
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
 *
 * Since: 1.0
 */
MsgtrkRecipientReport *
msgtrk_recipient_report_new (const char *final_recipient)
{
  MsgtrkRecipientReport *self;

  g_return_val_if_fail (final_recipient != NULL, NULL);

  self = g_object_new (MSGTRK_TYPE_RECIPIENT_REPORT, NULL);
  recipient_set_typed (self, "Final-Recipient", "rfc822", final_recipient);
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
void
msgtrk_recipient_report_set_original_recipient (MsgtrkRecipientReport *self,
                                                const char            *address)
{
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  recipient_set_typed (self, "Original-Recipient", "rfc822", address);
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
void
msgtrk_recipient_report_set_action (MsgtrkRecipientReport *self,
                                    MsgtrkAction           action)
{
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));
  g_return_if_fail (action != MSGTRK_ACTION_UNKNOWN);

  recipient_set (self, "Action", msgtrk_action_to_string (action));
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
 *
 * Since: 1.0
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
 * Reads the class digit of the recipient's Status field (RFC 3463).
 *
 * Returns: the class of the status code (2 success, 4 persistent transient failure,
 *   5 permanent failure), or 0 without a valid Status
 *
 * Since: 1.0
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
 * Reads the subject number of the recipient's Status field (RFC 3463).
 *
 * Returns: the subject of the status code (0..999), or 0 without a valid Status
 *
 * Since: 1.0
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
 * Reads the detail number of the recipient's Status field (RFC 3463).
 *
 * Returns: the detail of the status code (0..999), or 0 without a valid Status
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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

  recipient_set (self, "Status", value);
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
void
msgtrk_recipient_report_set_remote_mta (MsgtrkRecipientReport *self,
                                        const char            *host)
{
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  recipient_set_typed (self, "Remote-MTA", "dns", host);
}

/**
 * msgtrk_recipient_report_get_diagnostic_code:
 * @self: a recipient report
 *
 * The Diagnostic-Code field as written, diagnostic-type included, e.g.
 * "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected".
 *
 * Returns: (nullable): the value, or %NULL if there is no such field
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
void
msgtrk_recipient_report_set_diagnostic_code (MsgtrkRecipientReport *self,
                                             const char            *text)
{
  g_autofree char *value = NULL;

  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  if (text != NULL)
    value = msgtrk_report_typed_parse (text, NULL,
                                       NULL) ? g_strdup (text) : g_strdup_printf ("smtp; %s", text);
  recipient_set (self, "Diagnostic-Code", value);
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
void
msgtrk_recipient_report_set_last_attempt_date (MsgtrkRecipientReport *self,
                                               GDateTime             *date)
{
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  recipient_set_date (self, "Last-Attempt-Date", date);
}

/**
 * msgtrk_recipient_report_get_will_retry_until:
 * @self: a recipient report
 *
 * The Will-Retry-Until field as a date (for `delayed`); %NULL when missing, unparseable or
 * absurd, as for msgtrk_recipient_report_get_last_attempt_date().
 *
 * Returns: (nullable) (transfer none): the date
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
void
msgtrk_recipient_report_set_will_retry_until (MsgtrkRecipientReport *self,
                                              GDateTime             *date)
{
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));

  recipient_set_date (self, "Will-Retry-Until", date);
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
void
msgtrk_recipient_report_set_field (MsgtrkRecipientReport *self,
                                   const char            *name,
                                   const char            *value)
{
  g_return_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self));
  g_return_if_fail (msgtrk_report_field_name_is_valid (name));

  recipient_set (self, name, value);
}

/**
 * msgtrk_recipient_report_list_field_names:
 * @self: a recipient report
 *
 * The names of all fields of the block, known and extension, in order of first
 * occurrence, each once (compared case-insensitively; the first spelling is given).
 *
 * Returns: (transfer full) (array zero-terminated=1): the names
 *
 * Since: 1.0
 */
char **
msgtrk_recipient_report_list_field_names (MsgtrkRecipientReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_RECIPIENT_REPORT (self), NULL);
  return msgtrk_report_fields_list_names (self->fields);
}


/* The field list of @self (the one source of truth), for the report's writer. */
GPtrArray *
msgtrk_recipient_report_peek_fields (MsgtrkRecipientReport *self)
{
  return self->fields;
}
