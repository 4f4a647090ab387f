/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-report-syntax.c: the syntax of report fields, pure (RFC 3464 DSNs, RFC 3886
 * tracking-status, RFC 8098 MDNs; RFC 5322 section 2.2 for fields and folding).
 *
 * What: the ordered field list the report GObjects keep as their one source of truth;
 * the known-field tables (which fields are singletons, which syntax each has, the order
 * the writer uses); the field-block parser and the folding writer; and, inside fields,
 * address-type ";" address (and mta-name-type ";" mta-name), the status code with its
 * comment, the disposition and the Action words. Dates are RFC 5322 date-times, parsed
 * and written by msgtrk_date_parse() / msgtrk_date_format() (msgtrk-util.c).
 * How: msgtrk-report.c (the models) and its GMime layer call these; tests and the fuzz
 * target call them directly. Declared in msgtrk-report-syntax-private.h (the Action words
 * in msgtrk-report.h).
 * Limits: MSGTRK_REPORT_MAX_RECIPIENTS, MSGTRK_REPORT_MAX_FIELDS,
 * MSGTRK_REPORT_MAX_FIELD_LENGTH (msgtrk-report.h); passing one is MSGTRK_ERROR_LIMIT.
 * Never: does I/O; trusts input (every octet is checked; hostile text is quoted with
 * msgtrk_str_escape_for_error); decodes xtext (Original-Envelope-Id is kept as given);
 * writes a line the parser would read differently (a fold point is a WSP followed by a
 * non-WSP, so unfolding gives the value back).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-report-syntax-private.h"

/* How much of hostile text an error message quotes. */
#define ERROR_QUOTE_LEN 60

/* ---------------------------------------------------------------------------------------
 * Fields
 * ------------------------------------------------------------------------------------- */


void
msgtrk_report_field_free (gpointer data)
{
  MsgtrkReportField *field = data;

  g_free (field->name);
  g_free (field->value);
  g_free (field);
}

MsgtrkReportField *
msgtrk_report_field_new_take (char *name,
                              char *value)
{
  MsgtrkReportField *field = g_new0 (MsgtrkReportField, 1);

  field->name = name;
  field->value = value;
  return field;
}

GPtrArray *
msgtrk_report_fields_new (void)
{
  return g_ptr_array_new_with_free_func (msgtrk_report_field_free);
}

/* First field called @name (case-insensitive), or NULL. */
MsgtrkReportField *
msgtrk_report_fields_lookup (GPtrArray  *fields,
                             const char *name)
{
  for (guint i = 0; i < fields->len; i++)
    {
      MsgtrkReportField *field = g_ptr_array_index (fields, i);

      if (g_ascii_strcasecmp (field->name, name) == 0)
        return field;
    }
  return NULL;
}

const char *
msgtrk_report_fields_get (GPtrArray  *fields,
                          const char *name)
{
  MsgtrkReportField *field = msgtrk_report_fields_lookup (fields, name);

  return field != NULL ? field->value : NULL;
}

/* RFC 5322: field-name = 1*ftext; ftext = %d33-57 / %d59-126 */
gboolean
msgtrk_report_field_name_is_valid (const char *name)
{
  if (name == NULL || *name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (!msgtrk_is_vchar (c) || c == ':')
        return FALSE;
    }
  return TRUE;
}

/* A value as the model stores it: control characters (CR and LF included) become spaces,
 * surrounding whitespace goes, invalid UTF-8 is repaired. */
char *
msgtrk_report_value_normalize (const char *value)
{
  g_autofree char *copy = g_strdup (value);
  char *start;
  char *end;

  for (char *p = copy; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if ((c < 0x20 && c != '\t') || c == 0x7f)
        *p = ' ';
    }
  start = copy;
  while (*start == ' ' || *start == '\t')
    start++;
  end = start + strlen (start);
  while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  *end = '\0';
  if (!g_utf8_validate (start, -1, NULL))
    return g_utf8_make_valid (start, -1);
  return g_strdup (start);
}

/* Replace the first field called @name (and drop later ones of that name), append it if
 * there is none, or remove all of them if @value is NULL. */
void
msgtrk_report_fields_set (GPtrArray  *fields,
                          const char *name,
                          const char *value)
{
  gboolean done = FALSE;
  guint i = 0;

  while (i < fields->len)
    {
      MsgtrkReportField *field = g_ptr_array_index (fields, i);

      if (g_ascii_strcasecmp (field->name, name) != 0)
        {
          i++;
          continue;
        }
      if (value != NULL && !done)
        {
          g_free (field->value);
          field->value = msgtrk_report_value_normalize (value);
          done = TRUE;
          i++;
        }
      else
        g_ptr_array_remove_index (fields, i);
    }
  if (value != NULL && !done)
    g_ptr_array_add (fields, msgtrk_report_field_new_take (g_strdup (name),
                                                           msgtrk_report_value_normalize (value)));
}

/* Distinct field names, first spelling, in order of first occurrence. */
char **
msgtrk_report_fields_list_names (GPtrArray *fields)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < fields->len; i++)
    {
      MsgtrkReportField *field = g_ptr_array_index (fields, i);

      if (msgtrk_report_fields_lookup (fields, field->name) == field)
        g_strv_builder_add (builder, field->name);
    }
  return g_strv_builder_end (builder);
}

/* ---------------------------------------------------------------------------------------
 * Typed values inside fields (shared by the strict parser and the tolerant getters)
 * ------------------------------------------------------------------------------------- */

char *
msgtrk_report_strndup_trimmed (const char *start,
                               const char *end)
{
  while (start < end && (*start == ' ' || *start == '\t'))
    start++;
  while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  return g_strndup (start, end - start);
}

/*
 * RFC 3464 section 2.1.2 / 2.2.1 / 2.3.1 / 2.3.2 / 2.3.6:
 *   original-recipient-field = "Original-Recipient" ":" address-type ";" generic-address
 *   final-recipient-field    = "Final-Recipient" ":" address-type ";" generic-address
 *   reporting-mta-field      = "Reporting-MTA" ":" mta-name-type ";" mta-name
 *   remote-mta-field         = "Remote-MTA" ":" mta-name-type ";" mta-name
 *   address-type = atom        mta-name-type = atom
 * The same shape: a type, ";", a value. Both parts trimmed and non-empty.
 */
gboolean
msgtrk_report_typed_parse (const char  *value,
                           char       **type_out,
                           char       **rest_out)
{
  const char *semi;
  g_autofree char *type = NULL;
  g_autofree char *rest = NULL;

  if (value == NULL)
    return FALSE;
  semi = strchr (value, ';');
  if (semi == NULL)
    return FALSE;
  type = msgtrk_report_strndup_trimmed (value, semi);
  rest = msgtrk_report_strndup_trimmed (semi + 1, semi + strlen (semi));
  if (*type == '\0' || *rest == '\0')
    return FALSE;
  for (const char *p = type; *p != '\0'; p++)
    {
      /* atom (dots allowed): no whitespace or specials in the type */
      if (*p == ' ' || *p == '\t' || strchr ("()<>[]:;@\\,\"", *p) != NULL)
        return FALSE;
    }
  if (type_out != NULL)
    *type_out = g_steal_pointer (&type);
  if (rest_out != NULL)
    *rest_out = g_steal_pointer (&rest);
  return TRUE;
}

/* The writer: @type "; " @value, what msgtrk_report_typed_parse() splits back into @type
 * and @value (trimmed). @type must be an atom (a programmer's error otherwise), @value
 * non-empty. */
char *
msgtrk_report_typed_write (const char *type,
                           const char *value)
{
  g_return_val_if_fail (type != NULL && *type != '\0', NULL);
  g_return_val_if_fail (strpbrk (type, " \t()<>[]:;@\\,\"") == NULL, NULL);
  g_return_val_if_fail (value != NULL, NULL);

  return g_strconcat (type, "; ", value, NULL);
}

/* A typed value for a tolerant getter: "type; value", or the whole text with no type. */
void
msgtrk_report_typed_parse_tolerant (const char  *value,
                                    char       **type_out,
                                    char       **rest_out)
{
  *type_out = NULL;
  *rest_out = NULL;
  if (value == NULL)
    return;
  if (!msgtrk_report_typed_parse (value, type_out, rest_out))
    *rest_out = g_strdup (value);
}

/*
 * RFC 3464 section 2.3.4:
 *   status-field = "Status" ":" status-code
 *   status-code  = DIGIT "." 1*3DIGIT "." 1*3DIGIT
 *   ; "a comment with the status code may be included", e.g. "5.1.1 (user unknown)"
 * RFC 3463: the class is 2, 4 or 5. Returns the length of the code in @code_len and the
 * comment (outer parentheses removed, quoted-pairs undone) or NULL.
 */
gboolean
msgtrk_report_status_code_parse (const char *value,
                                 guint      *cls,
                                 guint      *subject,
                                 guint      *detail,
                                 gsize      *code_len,
                                 char      **comment)
{
  const char *p = value;
  guint parts[3] = { 0, 0, 0 };

  for (guint i = 0; i < 3; i++)
    {
      guint digits = 0;

      if (i > 0)
        {
          if (*p != '.')
            return FALSE;
          p++;
        }
      while (g_ascii_isdigit (*p))
        {
          if (++digits > (i == 0 ? 1u : 3u))
            return FALSE;
          parts[i] = parts[i] * 10 + (guint) (*p - '0');
          p++;
        }
      if (digits == 0)
        return FALSE;
    }
  if (parts[0] != 2 && parts[0] != 4 && parts[0] != 5)
    return FALSE;
  if (*p != '\0' && *p != ' ' && *p != '\t' && *p != '(')
    return FALSE;

  if (cls != NULL)
    *cls = parts[0];
  if (subject != NULL)
    *subject = parts[1];
  if (detail != NULL)
    *detail = parts[2];
  if (code_len != NULL)
    *code_len = (gsize) (p - value);
  if (comment != NULL)
    {
      g_autofree char *rest = msgtrk_report_strndup_trimmed (p, p + strlen (p));
      gsize len = strlen (rest);

      *comment = NULL;
      if (len >= 2 && rest[0] == '(' && rest[len - 1] == ')')
        {
          GString *out = g_string_new (NULL);

          for (gsize i = 1; i + 1 < len; i++)
            {
              if (rest[i] == '\\' && i + 2 < len)
                i++;
              g_string_append_c (out, rest[i]);
            }
          *comment = g_string_free (out, FALSE);
        }
      else if (len > 0)
        *comment = g_steal_pointer (&rest);
    }
  return TRUE;
}

/*
 * The writer: @code, and " (" comment ")" when @comment is not empty, with "(", ")" and "\"
 * of the comment escaped as quoted-pairs (RFC 5322 ccontent) and control characters made
 * spaces, so that msgtrk_report_status_code_parse() gives the comment back. Fails with
 * MSGTRK_ERROR_PARSE if @code alone is not a status code of class 2, 4 or 5.
 */
char *
msgtrk_report_status_code_write (const char *code,
                                 const char *comment,
                                 GError    **error)
{
  gsize code_len = 0;
  g_autofree char *clean = NULL;
  GString *out;

  g_return_val_if_fail (code != NULL, NULL);

  if (!msgtrk_report_status_code_parse (code, NULL, NULL, NULL, &code_len, NULL)
      || code[code_len] != '\0')
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (code, ERROR_QUOTE_LEN);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("“%s” is not an enhanced status code (class.subject.detail with class "
                     "2, 4 or 5)"),
                   quoted);
      return NULL;
    }
  if (comment == NULL || *comment == '\0')
    return g_strdup (code);

  clean = msgtrk_report_value_normalize (comment);
  out = g_string_new (code);
  g_string_append (out, " (");
  for (const char *p = clean; *p != '\0'; p++)
    {
      if (*p == '(' || *p == ')' || *p == '\\')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, ')');
  return g_string_free (out, FALSE);
}

/*
 * RFC 8098 section 3.2.6:
 *   disposition-field = "Disposition" ":" OWS disposition-action-mode OWS "/" OWS
 *                       disposition-sending-mode OWS ";" OWS disposition-type
 *                       [ OWS "/" OWS disposition-modifier
 *                         *( OWS "," OWS disposition-modifier ) ] OWS
 *   disposition-action-mode  = "manual-action" / "automatic-action"
 *   disposition-sending-mode = "MDN-sent-manually" / "MDN-sent-automatically"
 *   disposition-type = "displayed" / "deleted" / "dispatched" / "processed"
 * Modes are checked for shape only (token "/" token); unknown types are kept as text.
 */
gboolean
msgtrk_report_disposition_parse (const char        *value,
                                 MsgtrkDisposition *type_out,
                                 char             **type_text_out)
{
  static const struct
  {
    const char *name;
    MsgtrkDisposition type;
  } types[] = {
    { "displayed", MSGTRK_DISPOSITION_DISPLAYED },
    { "deleted", MSGTRK_DISPOSITION_DELETED },
    { "dispatched", MSGTRK_DISPOSITION_DISPATCHED },
    { "processed", MSGTRK_DISPOSITION_PROCESSED },
  };
  const char *semi;
  const char *slash;
  const char *end;
  g_autofree char *action_mode = NULL;
  g_autofree char *sending_mode = NULL;
  g_autofree char *type = NULL;

  if (value == NULL)
    return FALSE;
  semi = strchr (value, ';');
  if (semi == NULL)
    return FALSE;
  slash = memchr (value, '/', (gsize) (semi - value));
  if (slash == NULL)
    return FALSE;
  action_mode = msgtrk_report_strndup_trimmed (value, slash);
  sending_mode = msgtrk_report_strndup_trimmed (slash + 1, semi);
  end = strchr (semi + 1, '/');
  if (end == NULL)
    end = semi + strlen (semi);
  type = msgtrk_report_strndup_trimmed (semi + 1, end);
  if (*action_mode == '\0' || *sending_mode == '\0' || *type == '\0')
    return FALSE;

  if (type_out != NULL)
    {
      *type_out = MSGTRK_DISPOSITION_UNKNOWN;
      for (guint i = 0; i < G_N_ELEMENTS (types); i++)
        if (g_ascii_strcasecmp (type, types[i].name) == 0)
          *type_out = types[i].type;
    }
  if (type_text_out != NULL)
    *type_text_out = g_steal_pointer (&type);
  return TRUE;
}

/* The writer: @action_mode "/" @sending_mode "; " @type, each a non-empty token without
 * "/" or ";" (a programmer's error otherwise). */
char *
msgtrk_report_disposition_write (const char *action_mode,
                                 const char *sending_mode,
                                 const char *type)
{
  g_return_val_if_fail (action_mode != NULL && *action_mode != '\0'
                          && strpbrk (action_mode, "/;") == NULL, NULL);
  g_return_val_if_fail (sending_mode != NULL && *sending_mode != '\0'
                          && strpbrk (sending_mode, "/;") == NULL, NULL);
  g_return_val_if_fail (type != NULL && *type != '\0' && strpbrk (type, "/;") == NULL, NULL);

  return g_strdup_printf ("%s/%s; %s", action_mode, sending_mode, type);
}


static const struct
{
  const char *name;
  MsgtrkAction action;
} action_names[] = {
  { "failed", MSGTRK_ACTION_FAILED },
  { "delayed", MSGTRK_ACTION_DELAYED },
  { "delivered", MSGTRK_ACTION_DELIVERED },
  { "expanded", MSGTRK_ACTION_EXPANDED },
  { "relayed", MSGTRK_ACTION_RELAYED },
  { "transferred", MSGTRK_ACTION_TRANSFERRED },
  { "opaque", MSGTRK_ACTION_OPAQUE },
};

/**
 * msgtrk_action_to_string:
 * @action: an action
 *
 * The Action field value for @action, as RFC 3464 and RFC 3886 spell it.
 *
 * Returns: (nullable): a static lowercase string, or %NULL for %MSGTRK_ACTION_NONE and
 *   %MSGTRK_ACTION_UNKNOWN
 *
 * Since: 1.0
 */
const char *
msgtrk_action_to_string (MsgtrkAction action)
{
  for (guint i = 0; i < G_N_ELEMENTS (action_names); i++)
    if (action_names[i].action == action)
      return action_names[i].name;
  return NULL;
}

/**
 * msgtrk_action_from_string:
 * @text: (nullable): an Action field value
 *
 * Parses an Action value, case-insensitively, ignoring surrounding whitespace.
 *
 * Returns: the action; %MSGTRK_ACTION_NONE for %NULL, %MSGTRK_ACTION_UNKNOWN for any
 *   other text
 *
 * Since: 1.0
 */
MsgtrkAction
msgtrk_action_from_string (const char *text)
{
  g_autofree char *trimmed = NULL;

  if (text == NULL)
    return MSGTRK_ACTION_NONE;
  trimmed = msgtrk_report_strndup_trimmed (text, text + strlen (text));
  for (guint i = 0; i < G_N_ELEMENTS (action_names); i++)
    if (g_ascii_strcasecmp (trimmed, action_names[i].name) == 0)
      return action_names[i].action;
  return MSGTRK_ACTION_UNKNOWN;
}

/* ---------------------------------------------------------------------------------------
 * Known fields: which may appear once per block, and the order the writer uses
 * ------------------------------------------------------------------------------------- */



/* Per-message fields in writing order: RFC 3464/3886 first, then RFC 8098. */
const MsgtrkReportKnownField msgtrk_report_message_fields[] = {
  { "Original-Envelope-Id", TRUE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Reporting-MTA", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "DSN-Gateway", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "Received-From-MTA", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "Arrival-Date", TRUE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Reporting-UA", TRUE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "MDN-Gateway", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "Original-Recipient", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "Final-Recipient", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "Original-Message-ID", TRUE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Disposition", TRUE, MSGTRK_REPORT_SYNTAX_DISPOSITION },
  { "Failure", FALSE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Error", FALSE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Warning", FALSE, MSGTRK_REPORT_SYNTAX_TEXT },
};

/* Per-recipient fields in writing order (RFC 3464 section 2.3, RFC 3886 section 3.3). */
const MsgtrkReportKnownField msgtrk_report_recipient_fields[] = {
  { "Original-Recipient", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "Final-Recipient", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "Action", TRUE, MSGTRK_REPORT_SYNTAX_ACTION },
  { "Status", TRUE, MSGTRK_REPORT_SYNTAX_STATUS },
  { "Remote-MTA", TRUE, MSGTRK_REPORT_SYNTAX_TYPED },
  { "Diagnostic-Code", TRUE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Last-Attempt-Date", TRUE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Final-Log-ID", TRUE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Will-Retry-Until", TRUE, MSGTRK_REPORT_SYNTAX_TEXT },
  { "Disposition", TRUE, MSGTRK_REPORT_SYNTAX_DISPOSITION },
};

const MsgtrkReportKnownField *
msgtrk_report_known_field_lookup (const MsgtrkReportKnownField *table,
                                  gsize             n,
                                  const char       *name)
{
  for (gsize i = 0; i < n; i++)
    if (g_ascii_strcasecmp (table[i].name, name) == 0)
      return &table[i];
  return NULL;
}

/* A field known in either kind of block (the syntax of a field does not depend on where it
 * stands). */
const MsgtrkReportKnownField *
msgtrk_report_known_field_any (const char *name)
{
  const MsgtrkReportKnownField *known;

  known = msgtrk_report_known_field_lookup (msgtrk_report_message_fields,
                                            G_N_ELEMENTS (msgtrk_report_message_fields), name);
  if (known == NULL)
    known = msgtrk_report_known_field_lookup (msgtrk_report_recipient_fields,
                                              G_N_ELEMENTS (msgtrk_report_recipient_fields), name);
  return known;
}



static void
pending_clear (MsgtrkReportPendingField *pending)
{
  g_clear_pointer (&pending->name, g_free);
  if (pending->value != NULL)
    g_string_free (pending->value, TRUE);
  pending->value = NULL;
  pending->block = NULL;
}

/* Close the open field: trim, repair UTF-8, check its length, add it to its block. */
static gboolean
pending_finish (MsgtrkReportPendingField *pending,
                const char   *what,
                GError      **error)
{
  g_autofree char *value = NULL;
  gsize length;

  if (pending->name == NULL)
    return TRUE;

  value = msgtrk_report_strndup_trimmed (pending->value->str,
                                         pending->value->str + pending->value->len);
  if (!g_utf8_validate (value, -1, NULL))
    {
      char *valid = g_utf8_make_valid (value, -1);

      g_free (value);
      value = valid;
    }
  /* Measured after the repair (each bad octet becomes U+FFFD, three octets): the
   * length the writer writes, which must parse again. */
  length = strlen (pending->name) + 2 + strlen (value);
  if (length > MSGTRK_REPORT_MAX_FIELD_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("%s, line %u: field %s is %lu octets long unfolded; the limit is %d"),
                   what, pending->line, pending->name, (unsigned long) length,
                   MSGTRK_REPORT_MAX_FIELD_LENGTH);
      pending_clear (pending);
      return FALSE;
    }
  g_ptr_array_add (pending->block, msgtrk_report_field_new_take (g_steal_pointer (&pending->name),
                                                                 g_steal_pointer (&value)));
  pending_clear (pending);
  return TRUE;
}

/* Control characters other than TAB are refused anywhere in a field (NUL included). */
static gboolean
check_line_octets (const char *line,
                   gsize       len,
                   guint       line_no,
                   const char *what,
                   GError    **error)
{
  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) line[i];

      if (c == '\0')
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("%s, line %u: NUL octet in the text"), what, line_no);
          return FALSE;
        }
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("%s, line %u: control character 0x%02X in a field"), what, line_no, c);
          return FALSE;
        }
    }
  return TRUE;
}

/*
 * Split text into blocks of fields.
 *
 * RFC 3464 section 2.1 / RFC 3886 section 3.1 (the shape shared by all three kinds):
 *   content        = per-message-fields 1*( CRLF per-recipient-fields )
 *   fields         = 1*( field CRLF )
 *   field          = field-name ":" unstructured       ; RFC 5322 section 2.2
 *   field-name     = 1*ftext
 *   ftext          = %d33-57 / %d59-126                 ; printable US-ASCII except ":"
 *   folding        = CRLF 1*WSP                         ; unfolding drops the CRLF only
 * Accepted beyond the ABNF: LF alone as line end; whitespace before the colon (obs-FWS);
 * blank lines before the first block and several blank lines between blocks; a line of
 * whitespace only counts as blank. Values are trimmed; 8-bit octets are allowed in values
 * (RFC 6533 utf-8 addresses) and invalid UTF-8 is repaired.
 */
/* One line of a block, its line end removed; FALSE with @error set if it is not valid. */
static gboolean
parser_line (MsgtrkReportBlockParser *parser,
             const char              *line,
             gsize                    line_len,
             GError                 **error)
{
  MsgtrkReportPendingField *pending = &parser->pending;
  const char *what = parser->what;
  guint line_no = ++parser->line_no;
  gboolean blank = TRUE;
  const char *colon;
  gsize name_len;

  if (line_len > 0 && line[line_len - 1] == '\r')
    line_len--;

  if (!check_line_octets (line, line_len, line_no, what, error))
    return FALSE;

  for (gsize i = 0; i < line_len && blank; i++)
    blank = line[i] == ' ' || line[i] == '\t';
  if (blank)
    {
      if (!pending_finish (pending, what, error))
        return FALSE;
      parser->block = NULL;
      return TRUE;
    }

  if (line[0] == ' ' || line[0] == '\t')
    {
      if (pending->name == NULL)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       _("%s, line %u: folded continuation line with no field before it"),
                       what, line_no);
          return FALSE;
        }
      g_string_append_len (pending->value, line, (gssize) line_len);
      return TRUE;
    }

  if (!pending_finish (pending, what, error))
    return FALSE;

  colon = memchr (line, ':', line_len);
  if (colon == NULL)
    {
      g_autofree char *quoted =
        msgtrk_strn_escape_for_error (line, (gssize) line_len, ERROR_QUOTE_LEN);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("%s, line %u: “%s” is not a field (no colon)"), what, line_no, quoted);
      return FALSE;
    }
  name_len = (gsize) (colon - line);
  while (name_len > 0 && (line[name_len - 1] == ' ' || line[name_len - 1] == '\t'))
    name_len--;
  if (name_len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("%s, line %u: field with an empty name"), what, line_no);
      return FALSE;
    }
  for (gsize i = 0; i < name_len; i++)
    {
      guchar c = (guchar) line[i];

      if (!msgtrk_is_vchar (c))
        {
          g_autofree char *quoted =
            msgtrk_strn_escape_for_error (line, (gssize) name_len, ERROR_QUOTE_LEN);

          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       c >= 128 ? _("%s, line %u: non-ASCII octet in field name “%s”")
                                : _("%s, line %u: space in field name “%s”"),
                       what, line_no, quoted);
          return FALSE;
        }
    }

  if (parser->block == NULL)
    {
      if (parser->blocks->len > MSGTRK_REPORT_MAX_RECIPIENTS)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       _("%s, line %u: more than %d recipient blocks"), what, line_no,
                       MSGTRK_REPORT_MAX_RECIPIENTS);
          return FALSE;
        }
      parser->block = msgtrk_report_fields_new ();
      g_ptr_array_add (parser->blocks, parser->block);
    }
  if (parser->block->len >= MSGTRK_REPORT_MAX_FIELDS)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("%s, line %u: more than %d fields in one block"), what, line_no,
                   MSGTRK_REPORT_MAX_FIELDS);
      return FALSE;
    }

  pending->block = parser->block;
  pending->name = g_strndup (line, name_len);
  pending->value = g_string_new_len (colon + 1, (gssize) (line_len - (gsize) (colon + 1 - line)));
  pending->line = line_no;
  return TRUE;
}

/*
 * msgtrk_report_block_parser_init:
 * @parser: the parser
 * @what: what is parsed, for error messages (e.g. "message/delivery-status")
 *
 * Starts a block parser (the grammar is above parser_line()). Feed it the
 * octets in pieces of any size, then finish it; clear it in any case. It keeps the line
 * being cut and the field being read: the caller bounds the input (MSGTRK_REPORT_MAX_SIZE).
 */
void
msgtrk_report_block_parser_init (MsgtrkReportBlockParser *parser,
                                 const char              *what)
{
  memset (parser, 0, sizeof *parser);
  parser->what = what;
  parser->blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  parser->line = g_string_new (NULL);
}

void
msgtrk_report_block_parser_clear (MsgtrkReportBlockParser *parser)
{
  pending_clear (&parser->pending);
  g_clear_pointer (&parser->blocks, g_ptr_array_unref);
  if (parser->line != NULL)
    g_string_free (parser->line, TRUE);
  parser->line = NULL;
  parser->block = NULL;
  parser->failed = TRUE;
}

/* Feeds @len octets; FALSE with @error set once the input is not valid (then for good). */
gboolean
msgtrk_report_block_parser_feed (MsgtrkReportBlockParser *parser,
                                 const char              *data,
                                 gsize                    len,
                                 GError                 **error)
{
  gsize pos = 0;

  g_return_val_if_fail (parser->blocks != NULL && !parser->failed, FALSE);

  while (pos < len)
    {
      const char *nl = memchr (data + pos, '\n', len - pos);
      gsize piece = nl != NULL ? (gsize) (nl - (data + pos)) : len - pos;

      if (nl != NULL && parser->line->len == 0)
        {
          /* A whole line in the input: no copy. */
          if (!parser_line (parser, data + pos, piece, error))
            goto fail;
        }
      else
        {
          g_string_append_len (parser->line, data + pos, (gssize) piece);
          if (nl != NULL)
            {
              if (!parser_line (parser, parser->line->str, parser->line->len, error))
                goto fail;
              g_string_truncate (parser->line, 0);
            }
        }
      pos += piece + (nl != NULL ? 1 : 0);
    }
  return TRUE;

fail:
  parser->failed = TRUE;
  return FALSE;
}

/*
 * msgtrk_report_block_parser_finish:
 * @parser: a parser fed all the input
 * @error: return location for a #GError
 *
 * Ends the input: a last line without a line end counts, the open field is closed.
 *
 * Returns: (transfer full) (element-type GPtrArray): the blocks, each a field list, or
 *   NULL with @error set
 */
GPtrArray *
msgtrk_report_block_parser_finish (MsgtrkReportBlockParser *parser,
                                   GError                 **error)
{
  g_return_val_if_fail (parser->blocks != NULL && !parser->failed, NULL);

  if ((parser->line->len > 0 && !parser_line (parser, parser->line->str, parser->line->len, error))
      || !pending_finish (&parser->pending, parser->what, error))
    {
      parser->failed = TRUE;
      return NULL;
    }
  parser->failed = TRUE; /* finished: nothing more to feed */
  parser->block = NULL;
  return g_steal_pointer (&parser->blocks);
}

/* The whole input at once: init, feed, finish. */
GPtrArray *
msgtrk_report_blocks_parse (const char *data,
                            gsize       len,
                            const char *what,
                            GError    **error)
{
  g_auto (MsgtrkReportBlockParser) parser = { 0 };

  msgtrk_report_block_parser_init (&parser, what);
  if (!msgtrk_report_block_parser_feed (&parser, data, len, error))
    return NULL;
  return msgtrk_report_block_parser_finish (&parser, error);
}


/* ---------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------- */

/*
 * Write "name: value" CRLF, folded before a whitespace character so that lines stay
 * within MSGTRK_REPORT_FOLD_WIDTH where the value allows. A fold point is a WSP followed
 * by a non-WSP, so no line is whitespace only and unfolding (dropping CRLF) gives the
 * value back.
 */
void
msgtrk_report_field_write (GString    *out,
                           const char *name,
                           const char *value)
{
  gsize line_len;
  const char *seg = value;

  g_string_append (out, name);
  g_string_append_c (out, ':');
  line_len = strlen (name) + 1;
  if (*value != '\0')
    {
      g_string_append_c (out, ' ');
      line_len++;
    }

  while (*seg != '\0')
    {
      /* A segment runs up to the next fold point (or the end). */
      const char *end = seg + 1;
      gsize seg_len;

      while (*end != '\0'
             && !((*end == ' ' || *end == '\t') && end[1] != '\0' && end[1] != ' '
                  && end[1] != '\t'))
        end++;
      seg_len = (gsize) (end - seg);
      if (seg != value && line_len + seg_len > MSGTRK_REPORT_FOLD_WIDTH)
        {
          g_string_append (out, "\r\n");
          line_len = 0;
        }
      g_string_append_len (out, seg, (gssize) seg_len);
      line_len += seg_len;
      seg = end;
    }
  g_string_append (out, "\r\n");
}

/* Write a block: known fields in RFC order, then the others in their order; fields named
 * in @skip (if any) are left out. */
void
msgtrk_report_block_write (GString          *out,
                           GPtrArray        *fields,
                           const MsgtrkReportKnownField *table,
                           gsize             table_len,
                           GPtrArray        *skip)
{
  for (gsize k = 0; k < table_len; k++)
    for (guint i = 0; i < fields->len; i++)
      {
        MsgtrkReportField *field = g_ptr_array_index (fields, i);

        if (g_ascii_strcasecmp (field->name, table[k].name) == 0
            && (skip == NULL || msgtrk_report_fields_lookup (skip, field->name) == NULL))
          msgtrk_report_field_write (out, field->name, field->value);
      }
  for (guint i = 0; i < fields->len; i++)
    {
      MsgtrkReportField *field = g_ptr_array_index (fields, i);

      if (msgtrk_report_known_field_lookup (table, table_len, field->name) == NULL
          && (skip == NULL || msgtrk_report_fields_lookup (skip, field->name) == NULL))
        msgtrk_report_field_write (out, field->name, field->value);
    }
}
