/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-dsn.c: delivery status notifications (RFC 3461, RFC 3464) made by msgtrk-relay.
 *
 * A DSN is a multipart/report; report-type=delivery-status with a text/plain part for
 * people, a message/delivery-status part (Reporting-MTA, Original-Envelope-Id,
 * Arrival-Date; per recipient Original-Recipient, Final-Recipient, Action, Status,
 * Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until) and the returned
 * content: text/rfc822-headers (RET=HDRS or no RET) or message/rfc822 (RET=FULL). It is
 * built with GMime, sent from the null reverse-path to the original sender, and queued
 * like any other message (crash-safe, routed by the sender's domain).
 *
 * Never: make a DSN about a DSN or about a message from the null sender (callers check
 * with wants_dsn() in relay-deliver.c; relay_dsn_send refuses too).
 */
#include "relay-dsn.h"

#include "relay-report.h"

#include "durable-file.h"

#include <glib/gstdio.h>
#include <gmime/gmime.h>
#include <string.h>

#include "msgtrk-gmime-private.h"
#include "msgtrk-private.h"

/* GMime 3.2 defines no autoptr cleanups. */

static const char *
summary_of (GPtrArray *rcpts)
{
  gboolean failed = FALSE, delayed = FALSE;

  for (guint i = 0; i < rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (rcpts, i);
      failed |= rcpt->action == MSGTRK_ACTION_FAILED;
      delayed |= rcpt->action == MSGTRK_ACTION_DELAYED;
    }
  if (failed)
    return "Failure";
  if (delayed)
    return "Delay";
  return "Success";
}

static char *
human_text (RelayServer  *server,
            RelayMessage *msg,
            GPtrArray    *rcpts)
{
  GString *text = g_string_new (NULL);
  g_autofree char *arrival = relay_format_date (msg->arrival);

  g_string_append_printf (text,
                          "This is the mail system at %s.\n\n"
                          "Your message of %s (queue id %s) had this outcome:\n\n",
                          server->config->hostname, arrival, msg->id);
  for (guint i = 0; i < rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (rcpts, i);
      const char *what;

      switch (rcpt->action)
        {
        case MSGTRK_ACTION_DELIVERED:
          what = "delivered to the mailbox";
          break;
        case MSGTRK_ACTION_RELAYED:
        case MSGTRK_ACTION_TRANSFERRED:
        case MSGTRK_ACTION_OPAQUE:
          what = "relayed to a system that sends no further notifications";
          break;
        case MSGTRK_ACTION_DELAYED:
          what = "delayed; delivery is still being attempted";
          break;
        case MSGTRK_ACTION_FAILED:
          what = "could not be delivered";
          break;
        default:
          what = msgtrk_action_to_string (rcpt->action);
          break;
        }
      g_string_append_printf (text, "  <%s>: %s (%s)\n", rcpt->address, what,
                              rcpt->status ? rcpt->status : "-");
      if (rcpt->diagnostic != NULL)
        g_string_append_printf (text, "    %s\n", rcpt->diagnostic);
    }
  if (g_str_equal (summary_of (rcpts), "Delay"))
    {
      g_autofree char *until = relay_format_date (msg->arrival
                                                  + server->config->max_queue_lifetime);
      g_string_append_printf (text, "\nNo action is needed; attempts go on until %s.\n", until);
    }
  return g_string_free (text, FALSE);
}

/* The header block of the queued message (up to the first empty line). */
static char *
header_block (const char *data,
              gsize       len)
{
  const char *end = g_strstr_len (data, len, "\r\n\r\n");
  return g_strndup (data, end != NULL ? (gsize) (end - data) + 2 : len);
}

static GMimeObject *
make_leaf (const char *type,
           const char *subtype,
           const char *text,
           gsize       len)
{
  GMimePart *part = g_mime_part_new_with_type (type, subtype);
  g_autoptr (GMimeStream) stream = g_mime_stream_mem_new_with_buffer (text, len);
  g_autoptr (GMimeDataWrapper) wrapper =
    g_mime_data_wrapper_new_with_stream (stream, GMIME_CONTENT_ENCODING_DEFAULT);

  g_mime_part_set_content (part, wrapper);
  return GMIME_OBJECT (part);
}

/* Normalise every line end to CRLF. */
static GBytes *
to_crlf (const guint8 *data,
         gsize         len)
{
  GByteArray *out = g_byte_array_sized_new (len + len / 20 + 16);

  for (gsize i = 0; i < len; i++)
    {
      if (data[i] == '\r')
        continue;
      if (data[i] == '\n')
        g_byte_array_append (out, (const guint8 *) "\r\n", 2);
      else
        g_byte_array_append (out, &data[i], 1);
    }
  if (out->len < 2 || out->data[out->len - 1] != '\n')
    g_byte_array_append (out, (const guint8 *) "\r\n", 2);
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
build_dsn (RelayServer  *server,
           RelayMessage *msg,
           GPtrArray    *rcpts,
           GError      **error)
{
  g_autofree char *orig = NULL;
  gsize orig_len = 0;
  g_autoptr (GMimeMessage) dsn = NULL;
  g_autoptr (GMimeMultipart) report = NULL;
  g_autoptr (GMimeObject) text_part = NULL;
  g_autoptr (GMimeObject) status_part = NULL;
  g_autoptr (GMimeObject) returned = NULL;
  g_autoptr (MsgtrkReport) ds = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GMimeStream) mem = NULL;
  g_autoptr (GMimeFormatOptions) options = NULL;
  g_autofree char *fields = NULL;
  g_autofree char *text = NULL;
  g_autofree char *subject = NULL;
  g_autofree char *from = NULL;
  g_autofree char *message_id = NULL;
  GByteArray *bytes;

  msgtrk_ensure_gmime ();
  orig = relay_queue_read_body (server->queue, msg, &orig_len, error);
  if (orig == NULL)
    return NULL;

  dsn = g_mime_message_new (TRUE);
  from = g_strdup_printf ("MAILER-DAEMON@%s", server->config->hostname);
  g_mime_message_add_mailbox (dsn, GMIME_ADDRESS_TYPE_FROM, "Mail Delivery System", from);
  g_mime_message_add_mailbox (dsn, GMIME_ADDRESS_TYPE_TO, NULL, msg->sender);
  subject = g_strdup_printf ("Delivery Status Notification (%s)", summary_of (rcpts));
  g_mime_message_set_subject (dsn, subject, NULL);
  g_mime_message_set_date (dsn, now);
  message_id = g_strdup_printf ("%s.%08X@%s", msg->id, (guint) g_random_int (),
                                server->config->hostname);
  g_mime_message_set_message_id (dsn, message_id);
  g_mime_object_set_header (GMIME_OBJECT (dsn), "Auto-Submitted", "auto-replied", NULL);

  report = g_mime_multipart_new_with_subtype ("report");
  g_mime_object_set_content_type_parameter (GMIME_OBJECT (report), "report-type",
                                            "delivery-status");

  text = human_text (server, msg, rcpts);
  text_part = make_leaf ("text", "plain", text, strlen (text));
  g_mime_object_set_content_type_parameter (text_part, "charset", "us-ascii");
  g_mime_multipart_add (report, text_part);

  ds = relay_report_build (server->config, msg, MSGTRK_REPORT_KIND_DELIVERY_STATUS, rcpts);
  fields = msgtrk_report_to_fields (ds);
  status_part = make_leaf ("message", "delivery-status", fields, strlen (fields));
  g_mime_multipart_add (report, status_part);

  if (msg->ret == MSGTRK_DSN_RET_FULL)
    {
      g_autoptr (GMimeStream) stream = g_mime_stream_mem_new_with_buffer (orig, orig_len);
      g_autoptr (GMimeParser) parser = g_mime_parser_new_with_stream (stream);
      g_autoptr (GMimeMessage) original = g_mime_parser_construct_message (parser, NULL);

      if (original != NULL)
        returned = GMIME_OBJECT (g_mime_message_part_new_with_message ("rfc822", original));
    }
  if (returned == NULL)
    {
      g_autofree char *headers = header_block (orig, orig_len);
      returned = make_leaf ("text", "rfc822-headers", headers, strlen (headers));
    }
  g_mime_multipart_add (report, returned);
  g_mime_message_set_mime_part (dsn, GMIME_OBJECT (report));

  mem = g_mime_stream_mem_new ();
  options = g_mime_format_options_new ();
  g_mime_format_options_set_newline_format (options, GMIME_NEWLINE_FORMAT_UNIX);
  if (g_mime_object_write_to_stream (GMIME_OBJECT (dsn), options, mem) < 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "cannot write the DSN");
      return NULL;
    }
  bytes = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (mem));
  return to_crlf (bytes->data, bytes->len);
}

/**
 * relay_dsn_originate:
 * @server: the relay
 * @id: the new message's queue id (relay_queue_new_id())
 * @to: its one recipient
 * @content: (array length=len): the message, CRLF lines
 * @len: its length
 * @error: a queue file error
 *
 * The one way to queue a message the relay itself originates (a DSN, a Harrison TRACK:
 * mail): from the null reverse path, flagged so that nothing is ever reported about it
 * (is_dsn, NOTIFY=NEVER), with our Received: field above @content, written and committed
 * like any accepted message (crash-safe, routed by @to's domain).
 *
 * Returns: whether it was queued (the queue owns it then)
 */
gboolean
relay_dsn_originate (RelayServer *server,
                     const char  *id,
                     const char  *to,
                     const char  *content,
                     gsize        len,
                     GError     **error)
{
  g_autoptr (RelayMessage) dsn = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree char *received = NULL;
  g_autofree char *date = NULL;
  g_autoptr (GByteArray) full = g_byte_array_new ();
  RelayRecipient *rcpt;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  dsn = relay_message_new ();
  dsn->id = g_strdup (id);
  dsn->sender = g_strdup ("");
  dsn->arrival = now;
  dsn->is_dsn = TRUE;
  rcpt = relay_recipient_new (to);
  rcpt->notify = MSGTRK_DSN_NOTIFY_NEVER;
  rcpt->next_attempt = now;
  g_ptr_array_add (dsn->rcpts, rcpt);

  {
    gsize block_len = 0;
    g_autofree char *block = relay_queue_envelope_block (dsn, &block_len);

    g_byte_array_append (full, (const guint8 *) block, block_len);
  }
  date = relay_format_date (now);
  received = g_strdup_printf ("Received: by %s (msgtrk-relay) id %s;\r\n\t%s\r\n",
                              server->config->hostname, dsn->id, date);
  g_byte_array_append (full, (const guint8 *) received, strlen (received));
  g_byte_array_append (full, (const guint8 *) content, len);

  {
    g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

    g_checksum_update (sum, full->data + RELAY_QUEUE_HEAD_LEN, full->len - RELAY_QUEUE_HEAD_LEN);
    relay_queue_seal_head ((char *) full->data, sum);
  }
  tmp_path = relay_queue_tmp_path (server->queue, dsn->id);
  if (!durable_file_write (tmp_path, (const char *) full->data, full->len, error))
    return FALSE;
  if (!relay_queue_commit (server->queue, dsn, tmp_path, error))
    {
      g_unlink (tmp_path);
      return FALSE;
    }
  /* The queue owns it now (a worker may already be delivering it). */
  g_steal_pointer (&dsn);
  return TRUE;
}

/* Queue a DSN about @rcpts of @msg to its sender. */
gboolean
relay_dsn_send (RelayServer  *server,
                RelayMessage *msg,
                GPtrArray    *rcpts,
                GError      **error)
{
  g_autoptr (GBytes) data = NULL;
  g_autofree char *dsn_id = NULL;
  gsize len = 0;
  const char *raw;

  if (msg->is_dsn || msg->sender[0] == '\0')
    return TRUE;
  data = build_dsn (server, msg, rcpts, error);
  if (data == NULL)
    return FALSE;
  raw = g_bytes_get_data (data, &len);
  dsn_id = relay_queue_new_id ();
  if (!relay_dsn_originate (server, dsn_id, msg->sender, raw, len, error))
    return FALSE;
  g_message ("%s: DSN %s queued for <%s> (%s)", msg->id, dsn_id, msg->sender,
             summary_of (rcpts));
  return TRUE;
}
