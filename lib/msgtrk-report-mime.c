/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-report-mime.c: reports in MIME (GMime in and out).
 *
 * What: msgtrk_report_parse_entity() reads a report entity (a bare report part,
 * multipart/report of RFC 6522/8098/6533, multipart/related of RFC 3886) into
 * MsgtrkReports; msgtrk_report_build_tracking_entity() writes an MTQP answer's entity;
 * msgtrk_report_extract_file() / _bytes() take a whole message (a bounce that returns a
 * 25 MB message) and keep only its report parts and returned headers, parsed by GMime over
 * a seekable stream whose leaf contents are never loaded, re-written as a small entity for
 * the parser.
 * Limits: MSGTRK_REPORT_MAX_SIZE octets per input (for extraction: of the kept parts and
 * the entity they make), MSGTRK_REPORT_MAX_MESSAGE_SIZE octets per whole message
 * extracted from, MSGTRK_REPORT_MAX_PARTS MIME parts. Passing one is MSGTRK_ERROR_LIMIT.
 * Never: loads a leaf part of a whole message it extracts from; trusts input; aborts on
 * remote data.
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
#include "msgtrk-report-private.h"
#include "msgtrk-report-syntax-private.h"

/* How much of hostile text an error message quotes. */
#define ERROR_QUOTE_LEN 60

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

      if (message != NULL && g_mime_object_write_to_stream (GMIME_OBJECT (message), NULL,
                                                            stream) < 0)
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
                   msgtrk_report_kind_to_string (kind));
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

  for (int i = 0; i < count && msgtrk_report_get_returned_headers (report) == NULL; i++)
    {
      char *headers = returned_headers_of (g_mime_multipart_get_part (multipart, i));

      if (headers != NULL)
        msgtrk_report_take_returned_headers (report, headers, message_id_of_headers (headers));
    }

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
 *
 * Since: 1.0
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

/* MTQP lines are at most MSGTRK_MTQP_MAX_LINE octets; the writer folds at white space,
 * and a value with too little of it cannot be sent at all. */
static gboolean
fields_fit_mtqp (const char *text,
                 GError    **error)
{
  if (longest_line (text) <= MSGTRK_MTQP_MAX_LINE)
    return TRUE;
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
               _("a field cannot be folded into lines of at most %d octets (MTQP's limit)"),
               MSGTRK_MTQP_MAX_LINE);
  return FALSE;
}

/*
 * msgtrk_report_check_servable:
 * @report: a tracking-status report
 * @error: return location for a #GError
 *
 * Whether @report can be part of a TRACK answer (msgtrk_report_build_tracking_entity()):
 * its fields, written out, fit MTQP's lines. A store that takes a report it did not make
 * (the push receiver) checks this, so that it never keeps one no answer can carry.
 *
 * Returns: %TRUE if it can
 */
gboolean
msgtrk_report_check_servable (MsgtrkReport *report,
                              GError      **error)
{
  g_autofree char *text = msgtrk_report_to_fields (report);

  return fields_fit_mtqp (text, error);
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
 *
 * Since: 1.0
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

      if (!fields_fit_mtqp (text, error))
        {
          g_prefix_error (error, _("report %u: "), i + 1);
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

/* The whole-message limit, checked on a size before anything of the message is parsed (or,
 * for bytes, copied into a stream). */
static gboolean
check_message_size (guint64  size,
                    GError **error)
{
  if (size > MSGTRK_REPORT_MAX_MESSAGE_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("the message is %lu octets long; the limit is %d"), (unsigned long) size,
                   MSGTRK_REPORT_MAX_MESSAGE_SIZE);
      return FALSE;
    }
  return TRUE;
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
  static const char *const kept_params[] = { "report-type", "type" };
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
  if (!check_message_size ((guint64) total, error))
    return NULL;
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
  /* Only the parameters a reader of the result looks at (report-type of multipart/report,
   * type of multipart/related): GMime encodes the whole Content-Type again for every
   * parameter set, so copying a header's thousands of parameters took quadratic time
   * (the fuzzer: 14 s for 1,500). */
  for (guint i = 0; i < G_N_ELEMENTS (kept_params); i++)
    {
      const char *value = g_mime_content_type_get_parameter (
        g_mime_object_get_content_type (top), kept_params[i]);

      if (value != NULL)
        g_mime_object_set_content_type_parameter (GMIME_OBJECT (out), kept_params[i], value);
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
 *
 * Since: 1.0
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
  if (!check_message_size (len, error))
    return NULL;
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
 *
 * Since: 1.0
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
