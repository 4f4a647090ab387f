/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-harrison.c: trace records returned to the sender (draft-harrison-email-tracking-00,
 * docs/harrison.md).
 *
 * What: when [harrison] enabled = true and an accepted message carries
 *   `Content-Track: <key>`, the relay sends the message's reverse path a small mail,
 *   `Subject: TRACK: <key>`, whose body is the message's Received: chain as this relay
 *   amended it (its own Received: line first). Never the body, never another header.
 * How: the header lines are kept while DATA arrives (at most
 *   RELAY_HARRISON_MAX_HEADER_SIZE octets); after the 250 the TRACK: mail is built and
 *   queued like a DSN (null reverse path, no DSN about it, crash-safe, routed by the
 *   sender's domain).
 * Who gets one: not a null reverse path (a DSN, another TRACK: mail); only mail from the
 *   relay's own users, i.e. clients in own_networks (the relay has no SMTP AUTH, so its
 *   users are the networks it serves), unless all_senders = true; at most max_per_sender
 *   TRACK: mails per reverse path per window seconds (RELAY_HARRISON_MAX_SENDERS counted
 *   at once).
 * Limits: the RELAY_HARRISON_* constants of relay-harrison.h.
 * Never: send the message body or any header but Received:; send for a key that is not a
 *   plain token (msgtrk_content_track_key_is_valid: nothing may be injected into the
 *   Subject); log the key next to the sender at a level above debug.
 */
#include "relay-harrison.h"

#include "relay-dsn.h"

#include "relay-report.h"

#include "durable-file.h"
#include "server-config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "msgtrk-content-track-private.h"
#include "msgtrk-private.h"
#include "relay-smtp.h"

/* Every field SMTP lets in, and the relay's own, fits in a record. */
G_STATIC_ASSERT (RELAY_MAX_RECEIVED + 1 <= RELAY_HARRISON_MAX_RECEIVED);

const char *const relay_harrison_keys[] = {
  "enabled", "own_networks", "all_senders", "max_per_sender", "window", NULL,
};

#define DEFAULT_OWN_NETWORKS "127.0.0.0/8;::1/128"

typedef struct
{
  gint64 window_start;
  guint count;
} SenderCount;

struct _RelayHarrison
{
  GPtrArray *networks;   /* (element-type GInetAddressMask) */
  gboolean all_senders;
  guint max_per_sender;
  guint window;
  GMutex lock;           /* sessions run in threads */
  GHashTable *senders;   /* lower-case reverse path → SenderCount */
};

/* A header collection that went past its limit holds exactly this. */
static const char overflow_mark[] = "\n";

static gboolean
read_config (GKeyFile      *kf,
             RelayHarrison *out,
             gboolean      *enabled,
             GError       **error)
{
  g_auto (GStrv) networks = NULL;
  gsize n = 0;
  guint64 value = 0;

  *enabled = FALSE;
  if (!g_key_file_has_group (kf, "harrison"))
    return TRUE;
  if (!server_config_get_boolean (kf, "harrison", "enabled", FALSE, enabled, error)
      || !server_config_get_boolean (kf, "harrison", "all_senders", FALSE, &out->all_senders,
                                     error))
    return FALSE;
  if (!server_config_get_uint (kf, "harrison", "max_per_sender",
                               RELAY_HARRISON_DEFAULT_MAX_PER_SENDER, 1,
                               RELAY_HARRISON_MAX_PER_SENDER_LIMIT, &value, error))
    return FALSE;
  out->max_per_sender = (guint) value;
  if (!server_config_get_uint (kf, "harrison", "window", RELAY_HARRISON_DEFAULT_WINDOW, 1,
                               7 * 24 * 3600, &value, error))
    return FALSE;
  out->window = (guint) value;
  if (g_key_file_has_key (kf, "harrison", "own_networks", NULL))
    {
      networks = g_key_file_get_string_list (kf, "harrison", "own_networks", &n, error);
      if (networks == NULL && n != 0)
        return FALSE;
      g_clear_error (error);
    }
  else
    networks = g_strsplit (DEFAULT_OWN_NETWORKS, ";", -1);
  for (guint i = 0; networks != NULL && networks[i] != NULL; i++)
    {
      g_autoptr (GError) local = NULL;
      GInetAddressMask *mask;
      const char *text = g_strstrip (networks[i]);

      if (*text == '\0')
        continue;
      if (out->networks->len >= RELAY_HARRISON_MAX_NETWORKS)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "Configuration [harrison] own_networks: more than %d networks",
                       RELAY_HARRISON_MAX_NETWORKS);
          return FALSE;
        }
      mask = g_inet_address_mask_new_from_string (text, &local);
      if (mask == NULL)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "Configuration [harrison] own_networks: “%s” is not ADDRESS/LENGTH",
                       text);
          return FALSE;
        }
      g_ptr_array_add (out->networks, mask);
    }
  return TRUE;
}

static RelayHarrison *
harrison_alloc (void)
{
  RelayHarrison *self = g_new0 (RelayHarrison, 1);

  self->networks = g_ptr_array_new_with_free_func (g_object_unref);
  self->senders = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init (&self->lock);
  return self;
}

/* Checks [harrison] (called by relay_config_read: a bad value stops the start). */
gboolean
relay_harrison_check_config (GKeyFile *kf,
                             GError  **error)
{
  RelayHarrison *probe = harrison_alloc ();
  gboolean enabled = FALSE;
  gboolean ok = read_config (kf, probe, &enabled, error);

  relay_harrison_free (probe);
  return ok;
}

/* NULL without error when [harrison] is not enabled. */
RelayHarrison *
relay_harrison_new (GKeyFile *kf,
                    GError  **error)
{
  RelayHarrison *self = harrison_alloc ();
  gboolean enabled = FALSE;

  if (!read_config (kf, self, &enabled, error) || !enabled)
    {
      relay_harrison_free (self);
      return NULL;
    }
  g_message ("Content-Track (Harrison) on: %u own networks%s, %u per sender per %u s",
             self->networks->len, self->all_senders ? ", all senders" : "",
             self->max_per_sender, self->window);
  return self;
}

void
relay_harrison_free (RelayHarrison *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->networks);
  g_hash_table_unref (self->senders);
  g_mutex_clear (&self->lock);
  g_free (self);
}

GString *
relay_harrison_headers_new (RelayHarrison *self)
{
  return self != NULL ? g_string_new (NULL) : NULL;
}

/* One header line of the arriving message (no terminator). Past the limit the collection
 * is replaced by the overflow mark and no TRACK: mail will be sent. */
void
relay_harrison_header_line (GString    *headers,
                            const char *text,
                            gsize       len)
{
  if (headers == NULL || g_str_equal (headers->str, overflow_mark))
    return;
  if (headers->len + len + 2 > RELAY_HARRISON_MAX_HEADER_SIZE)
    {
      g_string_assign (headers, overflow_mark);
      return;
    }
  g_string_append_len (headers, text, len);
  g_string_append (headers, "\r\n");
}

static gboolean
is_own_user (RelayHarrison *self,
             const char    *peer_ip)
{
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (peer_ip);

  if (addr == NULL)
    return FALSE;
  for (guint i = 0; i < self->networks->len; i++)
    if (g_inet_address_mask_matches (g_ptr_array_index (self->networks, i), addr))
      return TRUE;
  return FALSE;
}

/* Counts one TRACK: mail for @sender; FALSE when over its rate or the table is full. */
gboolean
relay_harrison_rate_allows (RelayHarrison *self,
                            const char    *sender,
                            gint64         now)
{
  g_autofree char *key = g_ascii_strdown (sender, -1);
  SenderCount *count;
  gboolean ok = TRUE;

  g_mutex_lock (&self->lock);
  count = g_hash_table_lookup (self->senders, key);
  if (count == NULL && g_hash_table_size (self->senders) >= RELAY_HARRISON_MAX_SENDERS)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, self->senders);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (now - ((SenderCount *) value)->window_start >= self->window)
          g_hash_table_iter_remove (&iter);
    }
  if (count == NULL && g_hash_table_size (self->senders) >= RELAY_HARRISON_MAX_SENDERS)
    ok = FALSE;
  else
    {
      if (count == NULL)
        {
          count = g_new0 (SenderCount, 1);
          count->window_start = now;
          g_hash_table_insert (self->senders, g_steal_pointer (&key), count);
        }
      if (now - count->window_start >= self->window)
        {
          count->window_start = now;
          count->count = 0;
        }
      if (count->count >= self->max_per_sender)
        ok = FALSE;
      else
        count->count++;
    }
  g_mutex_unlock (&self->lock);
  return ok;
}

/* Unfolded header fields of @headers, in order. */
static GPtrArray *
unfolded_fields (const char *headers)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (headers, "\r\n", -1);
  GString *current = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] == '\0')
        continue;
      if ((lines[i][0] == ' ' || lines[i][0] == '\t') && current != NULL)
        {
          g_string_append (current, "\r\n");
          g_string_append (current, lines[i]);
          continue;
        }
      if (current != NULL)
        g_ptr_array_add (out, g_string_free (current, FALSE));
      current = g_string_new (lines[i]);
    }
  if (current != NULL)
    g_ptr_array_add (out, g_string_free (current, FALSE));
  return out;
}

static gboolean
field_is (const char *field,
          const char *name)
{
  gsize n = strlen (name);

  return g_ascii_strncasecmp (field, name, n) == 0 && field[n] == ':';
}

/* The TRACK: mail: header and body, CRLF. */
static GString *
build_mail (RelayServer  *server,
            RelayMessage *msg,
            const char   *key,
            const char   *record,
            const char   *id)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autofree char *date = relay_format_date (now);
  gboolean eight_bit = FALSE;
  GString *out = g_string_new (NULL);

  for (const char *p = record; *p != '\0'; p++)
    eight_bit |= (guchar) *p >= 0x80;
  g_string_append_printf (out,
                          "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
                          "To: <%s>\r\n"
                          "Subject: " MSGTRK_CONTENT_TRACK_SUBJECT_PREFIX "%s\r\n"
                          "Date: %s\r\n"
                          "Message-ID: <%s.%08X@%s>\r\n"
                          "Auto-Submitted: auto-replied\r\n"
                          "MIME-Version: 1.0\r\n"
                          "Content-Type: text/plain; charset=%s\r\n"
                          "Content-Transfer-Encoding: %s\r\n"
                          "\r\n",
                          server->config->hostname, msg->sender, key, date, id,
                          (guint) g_random_int (), server->config->hostname,
                          eight_bit ? "utf-8" : "us-ascii", eight_bit ? "8bit" : "7bit");
  g_string_append (out, record);
  return out;
}

/*
 * relay_harrison_accepted:
 * @server: the relay
 * @peer_ip: the client's address (own_networks)
 * @msg: the message just accepted (not yet scheduled: still the caller's)
 * @own_received: this relay's Received: field of @msg, CRLF-terminated
 * @headers: (nullable): the header lines kept while it arrived (NULL: off)
 *
 * Sends the trace record if @msg asks for it and the configuration allows; every refusal
 * is one log line. Takes ownership of nothing.
 */
void
relay_harrison_accepted (RelayServer  *server,
                         const char   *peer_ip,
                         RelayMessage *msg,
                         const char   *own_received,
                         GString      *headers)
{
  RelayHarrison *self = server->harrison;
  g_autoptr (GPtrArray) fields = NULL;
  g_autoptr (GString) record = NULL;
  g_autoptr (GString) mail = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *key = NULL;
  g_autofree char *track_id = NULL;
  guint n_received = 1;
  guint n_keys = 0;
  gboolean record_full = FALSE;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  if (self == NULL || headers == NULL)
    return;
  if (g_str_equal (headers->str, overflow_mark))
    {
      g_message ("%s: header over %d octets: no Content-Track reply", msg->id,
                 RELAY_HARRISON_MAX_HEADER_SIZE);
      return;
    }
  fields = unfolded_fields (headers->str);
  record = g_string_new (own_received);
  for (guint i = 0; i < fields->len; i++)
    {
      const char *f = g_ptr_array_index (fields, i);

      if (field_is (f, MSGTRK_CONTENT_TRACK_HEADER))
        {
          n_keys++;
          g_free (key);
          key = g_strstrip (g_strdup (f + strlen (MSGTRK_CONTENT_TRACK_HEADER) + 1));
        }
      /* What a client reads (docs/harrison.md): at most RELAY_HARRISON_MAX_RECEIVED
       * fields, each within MSGTRK_TRACE_MAX_FIELD_LENGTH, the record within
       * MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE. The nearest hops (first in the header) are
       * kept, up to the first field that is longer or does not fit: the chain stays
       * whole, without a gap that would look like one hop. */
      else if (field_is (f, "Received") && n_received < RELAY_HARRISON_MAX_RECEIVED
               && !record_full)
        {
          gsize len = strlen (f);

          if (len > MSGTRK_TRACE_MAX_FIELD_LENGTH
              || record->len + len + 2 > MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE)
            record_full = TRUE;
          else
            {
              g_string_append_len (record, f, (gssize) len);
              g_string_append (record, "\r\n");
              n_received++;
            }
        }
    }
  if (n_keys == 0)
    return;
  if (n_keys > 1 || !msgtrk_content_track_key_is_valid (key, -1))
    {
      g_message ("%s: Content-Track ignored: %s", msg->id,
                 n_keys > 1 ? "more than one field" : "not a valid key");
      return;
    }
  if (msg->sender[0] == '\0' || msg->is_dsn)
    {
      g_message ("%s: Content-Track ignored: null reverse path", msg->id);
      return;
    }
  if (!self->all_senders && !is_own_user (self, peer_ip))
    {
      g_message ("%s: Content-Track ignored: client %s is not in own_networks", msg->id,
                 peer_ip);
      return;
    }
  if (!relay_harrison_rate_allows (self, msg->sender, now))
    {
      g_message ("%s: Content-Track ignored: <%s> is over %u trace records per %u s",
                 msg->id, msg->sender, self->max_per_sender, self->window);
      return;
    }

  /* Nothing is ever returned about it: relay_dsn_originate() queues it as a DSN. */
  track_id = relay_queue_new_id ();
  mail = build_mail (server, msg, key, record->str, track_id);
  if (!relay_dsn_originate (server, track_id, msg->sender, mail->str, mail->len, &error))
    {
      g_warning ("%s: the trace record could not be queued: %s", msg->id, error->message);
      return;
    }
  g_message ("%s: trace record %s queued for <%s> (%u Received:)", msg->id, track_id,
             msg->sender, n_received);
}
