/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-report.c: MsgtrkReport, one model for three report formats, its field parser and
 * its writer.
 *
 *   message/tracking-status          RFC 3886 (MTQP TRACK answers)
 *   message/delivery-status          RFC 3464 (DSNs)
 *   message/disposition-notification RFC 8098 (MDNs)
 *
 * Model: a MsgtrkReport holds the per-message block as an ordered list of fields and a list
 * of MsgtrkRecipientReport (msgtrk-recipient-report.c), each an ordered list of fields. The
 * ordered fields are the one source of truth: every typed value is derived from them by
 * *_refresh() whenever they change, and every typed setter writes a field. Pointers
 * returned by getters stay valid until the object is next modified. The field syntax
 * (blocks, folding, typed values) is msgtrk-report-syntax.c; MIME entities and extraction
 * from whole messages are msgtrk-report-mime.c.
 *
 * MDN mapping: an MDN has a single block. Its fields (Reporting-UA, MDN-Gateway,
 * Original-Recipient, Final-Recipient, Original-Message-ID, Disposition, Failure, Error,
 * Warning, extensions) are the report's per-message fields, and the report has exactly one
 * recipient carrying copies of Original-Recipient, Final-Recipient and Disposition, so that
 * MDNs, DSNs and tracking-status reports can be read the same way per recipient.
 *
 * Limits: MSGTRK_REPORT_MAX_SIZE octets per input, MSGTRK_REPORT_MAX_RECIPIENTS recipient
 * blocks, MSGTRK_REPORT_MAX_FIELDS fields per block, MSGTRK_REPORT_MAX_FIELD_LENGTH octets
 * per unfolded field, measured as it is written: name ": " value, value trimmed. Passing
 * one is MSGTRK_ERROR_LIMIT.
 *
 * Never: trust input (every byte is checked; hostile text is quoted with
 * msgtrk_str_escape_for_error), truncate silently, abort on remote data, or decode xtext
 * (Original-Envelope-Id is kept as given).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-report-private.h"
#include "msgtrk-report-syntax-private.h"

/* How much of hostile text an error message quotes. */
#define ERROR_QUOTE_LEN 60

/* ---------------------------------------------------------------------------------------
 * MsgtrkReport
 * ------------------------------------------------------------------------------------- */

/**
 * MsgtrkReport:
 *
 * One report: a tracking-status (RFC 3886), delivery-status (RFC 3464) or disposition
 * (RFC 3798) per-message block with its recipient blocks, and the returned headers of a
 * DSN or MDN when it had them.
 *
 * Since: 1.0
 */
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
  msgtrk_report_typed_parse_tolerant (msgtrk_report_fields_get (self->fields, "Reporting-MTA"),
                                      &self->reporting_mta_type,
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
 *
 * Since: 1.0
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
 * Tells which report syntax the report uses: tracking-status, DSN or MDN.
 *
 * Returns: the syntax the report came in (or was created for)
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
const char *
msgtrk_report_get_envid (MsgtrkReport *self)
{
  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);
  return msgtrk_report_fields_get (self->fields, "Original-Envelope-Id");
}

/*
 * Whether @report's Original-Envelope-Id names @envid (decoded): as written, or once
 * xtext-decoded. RFC 3464 wants the field xtext-encoded; Postfix and this project's own
 * servers write it decoded, and a decoded ENVID may itself read as xtext ("abc+2Bdef"), so
 * both forms are tried (the written one equal to the ENVID can only be this message's).
 * The one rule of the MTQP client (reports about another message are dropped) and
 * msgtrkd (a DSN tied to its message by the ENVID).
 */
gboolean
msgtrk_report_names_envid (MsgtrkReport *report,
                           const char   *envid)
{
  const char *written = msgtrk_report_get_envid (report);
  g_autofree char *decoded = NULL;

  if (written == NULL || envid == NULL)
    return FALSE;
  if (strcmp (written, envid) == 0)
    return TRUE;
  decoded = msgtrk_xtext_decode (written, NULL);
  return decoded != NULL && strcmp (decoded, envid) == 0;
}

/**
 * msgtrk_report_set_envid:
 * @self: a report
 * @envid: (nullable): the envelope id, or %NULL to remove the field
 *
 * Sets the Original-Envelope-Id field (as given, no encoding).
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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

const char *
msgtrk_report_kind_to_string (MsgtrkReportKind kind)
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
      const MsgtrkReportKnownField *known = msgtrk_report_known_field_lookup (table, table_len,
                                                                              field->name);
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
          g_ptr_array_add (copy, msgtrk_report_field_new_take (g_strdup (field->name),
                                                               g_strdup (field->value)));
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
 *
 * Since: 1.0
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

  what = msgtrk_report_kind_to_string (kind);
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
      if (!check_block (message, msgtrk_report_message_fields,
                        G_N_ELEMENTS (msgtrk_report_message_fields), mdn_required,
                        what, _("the MDN block"), error))
        return NULL;
      copy = fields_copy_named (message, mdn_recipient_fields);
      recipient = msgtrk_recipient_report_new_from_fields (copy);
      g_ptr_array_add (report->recipients, g_steal_pointer (&recipient));
    }
  else
    {
      if (!check_block (message, msgtrk_report_message_fields,
                        G_N_ELEMENTS (msgtrk_report_message_fields),
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

          if (!check_block (block, msgtrk_report_recipient_fields,
                            G_N_ELEMENTS (msgtrk_report_recipient_fields),
                            recipient_required, what, where, error))
            return NULL;
          g_ptr_array_add (report->recipients, msgtrk_recipient_report_new_from_fields (block));
        }
    }

  g_ptr_array_unref (report->fields);
  report->fields = g_ptr_array_ref (message);
  report_refresh (report);
  return g_steal_pointer (&report);
}


/* Keeps @headers (the returned message's header section, owned) and its Message-ID
 * (owned, nullable): parts of a DSN or MDN other than the report. */
void
msgtrk_report_take_returned_headers (MsgtrkReport *self,
                                     char         *headers,
                                     char         *message_id)
{
  g_free (self->returned_headers);
  g_free (self->returned_message_id);
  self->returned_headers = headers;
  self->returned_message_id = message_id;
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
 *
 * Since: 1.0
 */
char *
msgtrk_report_to_fields (MsgtrkReport *self)
{
  GString *out;

  g_return_val_if_fail (MSGTRK_IS_REPORT (self), NULL);

  out = g_string_new (NULL);
  msgtrk_report_block_write (out, self->fields, msgtrk_report_message_fields,
                             G_N_ELEMENTS (msgtrk_report_message_fields), NULL);

  if (self->kind == MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION)
    {
      if (self->recipients->len > 0)
        {
          MsgtrkRecipientReport *recipient = g_ptr_array_index (self->recipients, 0);

          msgtrk_report_block_write (out, msgtrk_recipient_report_peek_fields (recipient),
                                     msgtrk_report_message_fields,
                                     G_N_ELEMENTS (msgtrk_report_message_fields), self->fields);
        }
      return g_string_free (out, FALSE);
    }

  for (guint i = 0; i < self->recipients->len; i++)
    {
      MsgtrkRecipientReport *recipient = g_ptr_array_index (self->recipients, i);

      if (msgtrk_recipient_report_peek_fields (recipient)->len == 0)
        continue;
      g_string_append (out, "\r\n");
      msgtrk_report_block_write (out, msgtrk_recipient_report_peek_fields (recipient),
                                 msgtrk_report_recipient_fields,
                                 G_N_ELEMENTS (msgtrk_report_recipient_fields), NULL);
    }
  return g_string_free (out, FALSE);
}
