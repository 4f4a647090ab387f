/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-harrison.c: TRACK: mails (Harrison's trace reciprocation, docs/harrison.md).
 *
 * What: a relay that honours `Content-Track: <key>` sends the sender a small mail,
 *   `Subject: TRACK: <key>`, whose body is the message's Received: chain as that relay
 *   amended it. Here: recognise such a mail, read it strictly (header fields unfolded,
 *   one Subject, text/plain in 7bit or 8bit only, a body of Received: fields and nothing
 *   else), and turn stored records into route hops with source "harrison".
 * How: a line scanner over the bounded bytes; the fields are read by
 *   msgtrk_trace_parse_headers(). The key's store index is SHA-256 of the key (hex), so
 *   the lookup never compares key text; the model then compares in constant time.
 * Limits: MSGTRKD_HARRISON_MAX_MESSAGE_SIZE, _MAX_RECORD_SIZE, _MAX_HOPS, and
 *   MSGTRK_TRACE_MAX_FIELD_LENGTH per field; MSGTRKD_ROUTE_MAX_TRACE_HOPS hops shown.
 * Never: accept a partial record (one bad field refuses the whole mail); trust the key's
 *   text before the constant-time match.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-content-track-private.h"
#include "msgtrk-private.h"
#include "msgtrkd-harrison.h"
#include "msgtrkd-route.h"

void
msgtrkd_harrison_mail_free (MsgtrkdHarrisonMail *mail)
{
  if (mail == NULL)
    return;
  g_free (mail->key);
  g_clear_pointer (&mail->record, g_bytes_unref);
  g_free (mail->origin);
  g_free (mail);
}

/* The header section of @data as unfolded fields ("Name: value"), at most @max octets
 * read; *body_start: where the body begins (len when there is none). */
static GPtrArray *
header_fields (const char *data,
               gsize       len,
               gsize      *body_start)
{
  GPtrArray *fields = g_ptr_array_new_with_free_func (g_free);
  GString *current = NULL;
  gsize pos = 0;

  *body_start = len;
  while (pos < len)
    {
      const char *nl = memchr (data + pos, '\n', len - pos);
      gsize end = nl != NULL ? (gsize) (nl - data) : len;
      gsize line_len = end - pos;

      if (line_len > 0 && data[pos + line_len - 1] == '\r')
        line_len--;
      if (line_len == 0)
        {
          *body_start = nl != NULL ? end + 1 : len;
          break;
        }
      if ((data[pos] == ' ' || data[pos] == '\t') && current != NULL)
        g_string_append_len (current, data + pos, line_len);
      else
        {
          if (current != NULL)
            g_ptr_array_add (fields, g_string_free (current, FALSE));
          current = g_string_new_len (data + pos, line_len);
        }
      pos = nl != NULL ? end + 1 : len;
    }
  if (current != NULL)
    g_ptr_array_add (fields, g_string_free (current, FALSE));
  return fields;
}

/* The value of field @name in @field, white space trimmed, or NULL. */
static char *
field_value (const char *field,
             const char *name)
{
  gsize n = strlen (name);

  if (g_ascii_strncasecmp (field, name, n) != 0 || field[n] != ':')
    return NULL;
  return g_strstrip (g_strdup (field + n + 1));
}

/**
 * msgtrkd_harrison_is_track_mail:
 * @raw: a whole message handed to IngestReport
 *
 * Returns: whether its Subject says `TRACK:` (case-insensitive), read within the first
 *   MSGTRKD_HARRISON_MAX_MESSAGE_SIZE octets: such a mail is read (or refused) as a trace
 *   record, never as a DSN
 */
gboolean
msgtrkd_harrison_is_track_mail (GBytes *raw)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (raw, &len);
  g_autoptr (GPtrArray) fields = NULL;
  gsize body = 0;

  fields = header_fields (data, MIN (len, (gsize) MSGTRKD_HARRISON_MAX_MESSAGE_SIZE), &body);
  for (guint i = 0; i < fields->len; i++)
    {
      g_autofree char *subject = field_value (g_ptr_array_index (fields, i), "Subject");

      if (subject != NULL)
        return g_ascii_strncasecmp (subject, "TRACK:", 6) == 0;
    }
  return FALSE;
}

static gboolean
fail (GError    **error,
      const char *format,
      ...) G_GNUC_PRINTF (2, 3);

static gboolean
fail (GError    **error,
      const char *format,
      ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, text);
  return FALSE;
}

/* The header fields that decide how the body is read: one Subject with our key, and a
 * plain-text body in 7bit or 8bit. */
static gboolean
check_header (GPtrArray *fields,
              char     **key,
              GError   **error)
{
  guint subjects = 0;

  for (guint i = 0; i < fields->len; i++)
    {
      const char *field = g_ptr_array_index (fields, i);
      g_autofree char *subject = field_value (field, "Subject");
      g_autofree char *cte = field_value (field, "Content-Transfer-Encoding");
      g_autofree char *ctype = field_value (field, "Content-Type");

      if (subject != NULL)
        {
          const char *k;

          if (++subjects > 1)
            return fail (error, "more than one Subject");
          if (g_ascii_strncasecmp (subject, "TRACK:", 6) != 0)
            return fail (error, "not a TRACK: subject");
          k = subject + 6;
          while (*k == ' ' || *k == '\t')
            k++;
          if (!msgtrk_content_track_key_is_ours (k))
            return fail (error, "not a Content-Track key of msgtrk's form");
          *key = g_strdup (k);
        }
      if (cte != NULL && g_ascii_strcasecmp (cte, "7bit") != 0
          && g_ascii_strcasecmp (cte, "8bit") != 0)
        return fail (error, "a body in another transfer encoding than 7bit or 8bit");
      if (ctype != NULL && g_ascii_strncasecmp (ctype, "text/plain", 10) != 0)
        return fail (error, "a body of another type than text/plain");
    }
  if (*key == NULL)
    return fail (error, "no Subject");
  return TRUE;
}

/* The body: Received: fields only (folded lines allowed), blank lines at the end; each
 * field within MSGTRK_TRACE_MAX_FIELD_LENGTH octets (folded, without its last CRLF), at
 * most MSGTRKD_HARRISON_MAX_HOPS of them.
 * Returns them with CRLF line ends, or NULL. */
static GBytes *
check_record (const char *body,
              gsize       len,
              guint      *n_fields,
              GError    **error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  gsize pos = 0;
  gsize field_len = 0;
  gboolean ended = FALSE;

  *n_fields = 0;
  if (len > MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE)
    {
      fail (error, "a trace record of %" G_GSIZE_FORMAT " octets (at most %d)", len,
            MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE);
      return NULL;
    }
  if (memchr (body, '\0', len) != NULL)
    {
      fail (error, "a NUL octet in the trace record");
      return NULL;
    }
  while (pos < len)
    {
      const char *nl = memchr (body + pos, '\n', len - pos);
      gsize end = nl != NULL ? (gsize) (nl - body) : len;
      gsize line_len = end - pos;
      const char *line = body + pos;

      if (line_len > 0 && line[line_len - 1] == '\r')
        line_len--;
      pos = nl != NULL ? end + 1 : len;
      if (line_len == 0)
        {
          ended = TRUE;
          continue;
        }
      if (ended)
        {
          fail (error, "text after the end of the trace record");
          return NULL;
        }
      if (line[0] == ' ' || line[0] == '\t')
        {
          if (*n_fields == 0)
            {
              fail (error, "a continuation line before any field");
              return NULL;
            }
          field_len += 2 + line_len; /* the field's octets, its inner CRLFs too */
        }
      else if (line_len >= 9 && g_ascii_strncasecmp (line, "Received:", 9) == 0)
        {
          if (++*n_fields > MSGTRKD_HARRISON_MAX_HOPS)
            {
              fail (error, "more than %d Received: fields", MSGTRKD_HARRISON_MAX_HOPS);
              return NULL;
            }
          field_len = line_len;
        }
      else
        {
          fail (error, "a line that is not part of a Received: field");
          return NULL;
        }
      if (field_len > MSGTRK_TRACE_MAX_FIELD_LENGTH)
        {
          fail (error, "a Received: field longer than %d octets", MSGTRK_TRACE_MAX_FIELD_LENGTH);
          return NULL;
        }
      g_string_append_len (out, line, line_len);
      g_string_append (out, "\r\n");
    }
  if (*n_fields == 0)
    {
      fail (error, "no Received: field");
      return NULL;
    }
  return g_string_free_to_bytes (g_steal_pointer (&out));
}

/**
 * msgtrkd_harrison_parse:
 * @raw: a whole TRACK: mail (msgtrkd_harrison_is_track_mail())
 * @error: %MSGTRK_ERROR_LIMIT past a limit, %MSGTRK_ERROR_PARSE for anything malformed
 *
 * Returns: (transfer full) (nullable): its key and trace record, every field readable
 *   and naming the server that wrote it (a `by` host)
 */
MsgtrkdHarrisonMail *
msgtrkd_harrison_parse (GBytes  *raw,
                        GError **error)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (raw, &len);
  g_autoptr (GPtrArray) fields = NULL;
  g_autoptr (MsgtrkdHarrisonMail) mail = g_new0 (MsgtrkdHarrisonMail, 1);
  g_autoptr (GPtrArray) hops = NULL;
  gsize body = 0;
  gsize record_len = 0;
  const char *record;

  if (len > MSGTRKD_HARRISON_MAX_MESSAGE_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "a TRACK: mail of %" G_GSIZE_FORMAT " octets (at most %d)", len,
                   MSGTRKD_HARRISON_MAX_MESSAGE_SIZE);
      return NULL;
    }
  fields = header_fields (data, len, &body);
  if (!check_header (fields, &mail->key, error))
    return NULL;
  mail->record = check_record (data + body, len - body, &mail->n_hops, error);
  if (mail->record == NULL)
    return NULL;
  record = g_bytes_get_data (mail->record, &record_len);
  hops = msgtrk_trace_parse_headers (record, (gssize) record_len, error);
  if (hops == NULL)
    return NULL;
  if (hops->len != mail->n_hops)
    {
      fail (error, "an empty Received: field");
      return NULL;
    }
  for (guint i = 0; i < hops->len; i++)
    if (msgtrk_hop_get_by_host (g_ptr_array_index (hops, i)) == NULL)
      {
        fail (error, "a Received: field that names no receiving server (by)");
        return NULL;
      }
  mail->origin = g_strdup (msgtrk_hop_get_by_host (g_ptr_array_index (hops, hops->len - 1)));
  return g_steal_pointer (&mail);
}

/* The store's index name of @key: "content-track " + hex SHA-256 of the key, so that the
 * lookup works on a hash (docs/harrison.md). */
char *
msgtrkd_harrison_index_name (const char *key)
{
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);

  return g_strconcat (MSGTRKD_HARRISON_INDEX_PREFIX, sum, NULL);
}

/* Whether a hop's "for" clause (if any) names @address. */
static gboolean
hop_is_for (MsgtrkHop  *hop,
            const char *address)
{
  const char *for_clause = msgtrk_hop_get_for (hop);
  g_autofree char *norm = NULL;
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;

  if (for_clause == NULL)
    return TRUE;
  norm = msgtrk_address_normalize (for_clause);
  if (norm == NULL)
    return TRUE;
  a = g_utf8_casefold (norm, -1);
  b = g_utf8_casefold (address, -1);
  return g_str_equal (a, b);
}

/**
 * msgtrkd_harrison_add_hops:
 * @hops: the recipient's hops, appended to
 * @address: the recipient
 * @parsed: (element-type MsgtrkdParsedReport): the message's stored reports
 *
 * One hop with source "harrison" per Received: field of the stored trace records, each
 * field once however many relays returned it, oldest first; a field whose `for` clause
 * names another recipient is left out. `reporting_mta` is the relay whose record first
 * held the field.
 */
void
msgtrkd_harrison_add_hops (JsonArray  *hops,
                           const char *address,
                           GPtrArray  *parsed)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) ordered = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) origins = g_ptr_array_new ();

  for (guint i = 0; parsed != NULL && i < parsed->len; i++)
    {
      MsgtrkdParsedReport *p = g_ptr_array_index (parsed, i);
      g_autoptr (GPtrArray) chain = NULL;
      g_autoptr (GError) error = NULL;
      gsize len = 0;
      const char *record;

      if (p->trace == NULL || g_strcmp0 (p->source, MSGTRKD_HARRISON_SOURCE) != 0)
        continue;
      record = g_bytes_get_data (p->trace, &len);
      chain = msgtrk_trace_parse_headers (record, (gssize) len, &error);
      if (chain == NULL)
        {
          g_debug ("stored trace record: %s", error->message);
          continue;
        }
      /* Oldest first: a later relay's record repeats the fields before it. */
      for (guint k = 0; k < chain->len; k++)
        {
          MsgtrkHop *hop = g_ptr_array_index (chain, k);
          const char *raw = msgtrk_hop_get_raw (hop);

          if (raw == NULL || !hop_is_for (hop, address)
              || !g_hash_table_add (seen, g_strdup (raw)))
            continue;
          if (ordered->len >= MSGTRKD_ROUTE_MAX_TRACE_HOPS)
            break;
          g_ptr_array_add (ordered, g_object_ref (hop));
          g_ptr_array_add (origins, p->origin);
        }
    }
  for (guint i = 0; i < ordered->len; i++)
    {
      MsgtrkHop *hop = g_ptr_array_index (ordered, i);
      GDateTime *date = msgtrk_hop_get_date (hop);
      JsonObject *obj = msgtrkd_route_received_hop (MSGTRKD_HARRISON_SOURCE, hop,
                                                    g_ptr_array_index (origins, i));

      /* The delay against the hop before in this merged list, when both have a date. */
      if (i > 0 && date != NULL
          && msgtrk_hop_get_date (g_ptr_array_index (ordered, i - 1)) != NULL)
        json_object_set_int_member (
          obj, "delay_seconds",
          g_date_time_difference (date, msgtrk_hop_get_date (g_ptr_array_index (ordered, i - 1)))
            / G_USEC_PER_SEC);
      json_array_add_object_element (hops, obj);
    }
}
