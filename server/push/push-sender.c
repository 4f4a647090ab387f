/* SPDX-License-Identifier: GPL-3.0-or-later */
/* push-sender.c: the node's push spool and sender thread (contract: push-sender.h; wire
 * format: docs/push-protocol.md).
 *
 * How: a record is encoded (push_record_encode), written to
 * <state_dir>/push-spool/<record id, 16 hex digits>.rec durably (durable-file.h), and put
 * in the pending table. One thread owns the UDP socket: it waits up to
 * PUSH_SENDER_TICK_MS for ACKs, verifies each (HMAC, key id, clock skew), deletes the
 * acknowledged record's file, and sends every pending record whose time has come, each
 * part a frame with a fresh sequence (strictly increasing: microseconds of the clock).
 * Limits: PUSH_MAX_SPOOL records; records above PUSH_MAX_RECORD octets are refused.
 * Never: drop a record without a verified ACK, except once it has expired; log B or
 * bodies; block the caller on the network.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "msgtrk-private.h"
#include "push-proto.h"
#include "push-sender.h"
#include "server-config.h"

#define PUSH_SENDER_TICK_MS 100
#define PUSH_SPOOL_DIR "push-spool"
#define PUSH_SPOOL_SUFFIX ".rec"

typedef struct
{
  guint64 record_id;
  GBytes *bytes;         /* (owned) the record */
  gint64 expires;        /* unix seconds */
  gint64 next_send;      /* monotonic µs; 0: now */
  guint backoff_ms;
} Pending;

struct _PushSender
{
  char *spool_dir;
  guint16 key_id;
  guint8 *key;
  gsize key_len;
  GSocket *socket;
  GSocketAddress *server;

  GMutex lock;           /* pending, last_sequence */
  GHashTable *pending;   /* guint64* record id -> Pending* */
  guint64 last_sequence;

  GThread *thread;
  gint stop;             /* (atomic) */
};

static void
pending_free (gpointer data)
{
  Pending *p = data;

  g_bytes_unref (p->bytes);
  g_free (p);
}

static char *
spool_path (PushSender *self,
            guint64     record_id)
{
  g_autofree char *name = g_strdup_printf ("%016" G_GINT64_MODIFIER "x" PUSH_SPOOL_SUFFIX,
                                           record_id);

  return g_build_filename (self->spool_dir, name, NULL);
}

static guint64
next_sequence (PushSender *self)
{
  guint64 now = (guint64) g_get_real_time ();
  guint64 v;

  g_mutex_lock (&self->lock);
  v = MAX (now, self->last_sequence + 1);
  self->last_sequence = v;
  g_mutex_unlock (&self->lock);
  return v;
}

static void
send_record (PushSender *self,
             Pending    *p)
{
  gsize len = g_bytes_get_size (p->bytes);
  const guint8 *data = g_bytes_get_data (p->bytes, NULL);
  guint parts = (guint) ((len + PUSH_MAX_PAYLOAD - 1) / PUSH_MAX_PAYLOAD);

  for (guint i = 0; i < parts; i++)
    {
      guint8 out[PUSH_MAX_DATAGRAM];
      PushFrame f = { 0 };
      gsize n;
      g_autoptr (GError) error = NULL;

      f.type = PUSH_TYPE_RECORD;
      f.key_id = self->key_id;
      f.timestamp_ms = g_get_real_time () / 1000;
      f.sequence = next_sequence (self);
      f.record_id = p->record_id;
      f.part = (guint8) i;
      f.parts = (guint8) parts;
      f.payload = data + (gsize) i * PUSH_MAX_PAYLOAD;
      f.payload_len = MIN (PUSH_MAX_PAYLOAD, len - (gsize) i * PUSH_MAX_PAYLOAD);
      n = push_frame_encode (&f, self->key, self->key_len, out);
      if (g_socket_send_to (self->socket, self->server, (const char *) out, n, NULL,
                            &error) < 0)
        g_debug ("push: send: %s", error->message);
    }
}

static void
handle_ack (PushSender   *self,
            const guint8 *data,
            gsize         len)
{
  PushFrame f;
  gint64 now_ms = g_get_real_time () / 1000;

  if (push_frame_parse (data, len, &f) != PUSH_OK || f.type != PUSH_TYPE_ACK
      || f.key_id != self->key_id || !push_frame_verify (data, len, self->key, self->key_len)
      || ABS (f.timestamp_ms - now_ms) > PUSH_MAX_SKEW_MS)
    {
      g_debug ("push: an invalid ACK was dropped");
      return;
    }
  g_mutex_lock (&self->lock);
  if (g_hash_table_remove (self->pending, &f.record_id))
    {
      g_autofree char *path = spool_path (self, f.record_id);

      if (g_unlink (path) != 0 && errno != ENOENT)
        g_warning ("push: cannot remove %s: %s", path, g_strerror (errno));
    }
  g_mutex_unlock (&self->lock);
}

static gpointer
sender_thread (gpointer data)
{
  PushSender *self = data;

  while (!g_atomic_int_get (&self->stop))
    {
      gint64 now = g_get_monotonic_time ();
      gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
      g_autoptr (GArray) due = g_array_new (FALSE, TRUE, sizeof (Pending));
      GHashTableIter iter;
      gpointer value;

      g_mutex_lock (&self->lock);
      g_hash_table_iter_init (&iter, self->pending);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          Pending *p = value;

          if (p->expires <= now_s)
            {
              g_autofree char *path = spool_path (self, p->record_id);

              g_unlink (path);
              g_hash_table_iter_remove (&iter);
              continue;
            }
          if (p->next_send <= now)
            {
              Pending copy = { .record_id = p->record_id, .bytes = g_bytes_ref (p->bytes) };

              p->next_send = now + (gint64) p->backoff_ms * 1000;
              p->backoff_ms = MIN (p->backoff_ms * 2, PUSH_RESEND_MAX_MS);
              g_array_append_val (due, copy);
            }
        }
      g_mutex_unlock (&self->lock);
      /* Sent outside the lock: submit() never waits for the network. */
      for (guint i = 0; i < due->len; i++)
        {
          Pending *copy = &g_array_index (due, Pending, i);

          send_record (self, copy);
          g_bytes_unref (copy->bytes);
        }

      if (g_socket_condition_timed_wait (self->socket, G_IO_IN,
                                         (gint64) PUSH_SENDER_TICK_MS * 1000, NULL, NULL))
        for (;;)
          {
            guint8 buf[PUSH_MAX_DATAGRAM + 1];
            gssize n = g_socket_receive_with_blocking (self->socket, (char *) buf, sizeof buf,
                                                       FALSE, NULL, NULL);

            if (n <= 0)
              break;
            handle_ack (self, buf, (gsize) n);
          }
    }
  return NULL;
}

static gboolean
add_pending (PushSender *self,
             guint64     record_id,
             GBytes     *bytes,
             gint64      expires)
{
  Pending *p = g_new0 (Pending, 1);
  guint64 *key = g_memdup2 (&record_id, sizeof record_id);

  p->record_id = record_id;
  p->bytes = g_bytes_ref (bytes);
  p->expires = expires;
  p->backoff_ms = PUSH_RESEND_MIN_MS;
  g_hash_table_replace (self->pending, key, p);
  return TRUE;
}

/* Records left by the last run: sent again. Unreadable ones are logged and kept. */
static void
spool_scan (PushSender *self)
{
  g_autoptr (GDir) dir = g_dir_open (self->spool_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (self->spool_dir, name, NULL);
      g_autofree char *text = NULL;
      g_autofree char *envid = NULL;
      g_autofree char *auth = NULL;
      g_autofree char *fields = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) bytes = NULL;
      gint64 expires = 0;
      gint64 version = 0;
      guint64 id;
      gsize len = 0;

      if (!g_str_has_suffix (name, PUSH_SPOOL_SUFFIX))
        {
          if (g_str_has_prefix (name, ".tmp-"))
            g_unlink (path);
          continue;
        }
      {
        g_autofree char *hex = g_strndup (name, strlen (name) - strlen (PUSH_SPOOL_SUFFIX));

        if (strlen (hex) != 16 || !g_ascii_string_to_unsigned (hex, 16, 0, G_MAXUINT64, &id,
                                                              NULL))
          continue;
      }
      if (!g_file_get_contents (path, &text, &len, &error) || len > PUSH_MAX_RECORD
          || !push_record_decode ((const guint8 *) text, len, &envid, &auth, &expires,
                                  &version, &fields, &error))
        {
          g_warning ("push: spooled record %s is unreadable; kept", path);
          continue;
        }
      bytes = g_bytes_new (text, len);
      add_pending (self, id, bytes, expires);
    }
}

/**
 * push_sender_new:
 * @state_dir: the node's state directory (the spool is <state_dir>/push-spool)
 * @server: the receiver, numeric ADDRESS:PORT
 * @key_id: this node's key id
 * @key_file: this node's key (owner-only file, base64)
 * @error: return location for a #GError
 *
 * Loads the key (refused unless owner-only), opens the spool (resending what it holds)
 * and starts the sender thread.
 *
 * Returns: (transfer full) (nullable): the sender, or %NULL with @error set
 */
PushSender *
push_sender_new (const char *state_dir,
                 const char *server,
                 guint16     key_id,
                 const char *key_file,
                 GError    **error)
{
  PushSender *self = g_new0 (PushSender, 1);

  g_mutex_init (&self->lock);
  self->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, pending_free);
  self->key_id = key_id;
  self->spool_dir = g_build_filename (state_dir, PUSH_SPOOL_DIR, NULL);
  self->key = push_key_load (key_file, &self->key_len, error);
  if (self->key == NULL)
    goto fail;
  self->server = server_config_parse_listen (server, error);
  if (self->server == NULL)
    goto fail;
  if (g_mkdir_with_parents (self->spool_dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "Cannot create %s: %s",
                   self->spool_dir, g_strerror (saved));
      goto fail;
    }
  self->socket = g_socket_new (g_socket_address_get_family (self->server),
                               G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
  if (self->socket == NULL)
    goto fail;
  g_socket_set_blocking (self->socket, FALSE);
  spool_scan (self);
  self->thread = g_thread_new ("push-sender", sender_thread, self);
  return self;

fail:
  push_sender_free (self);
  return NULL;
}

/**
 * push_sender_submit:
 *
 * Spools one record durably and hands it to the thread. The record id is @version (unique
 * and increasing in this node). Fails with MSGTRK_ERROR_LIMIT when the record is too long
 * for PUSH_MAX_PARTS datagrams or the spool holds PUSH_MAX_SPOOL records.
 *
 * Returns: %TRUE once the record is durably spooled
 */
gboolean
push_sender_submit (PushSender *self,
                    const char *envid,
                    const char *authenticator,
                    gint64      expires,
                    gint64      version,
                    const char *fields,
                    GError    **error)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *path = NULL;
  g_autofree char *tmp = NULL;
  guint n;

  bytes = push_record_encode (envid, authenticator, expires, version, fields, error);
  if (bytes == NULL)
    return FALSE;
  g_mutex_lock (&self->lock);
  n = g_hash_table_size (self->pending);
  g_mutex_unlock (&self->lock);
  if (n >= PUSH_MAX_SPOOL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The push spool holds %d records (the limit); record not pushed",
                   PUSH_MAX_SPOOL);
      return FALSE;
    }
  path = spool_path (self, (guint64) version);
  tmp = g_strdup_printf ("%s/.tmp-%016" G_GINT64_MODIFIER "x", self->spool_dir,
                         (guint64) version);
  if (!durable_file_replace (tmp, path, self->spool_dir, g_bytes_get_data (bytes, NULL),
                             g_bytes_get_size (bytes), error))
    return FALSE;
  g_mutex_lock (&self->lock);
  add_pending (self, (guint64) version, bytes, expires);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

guint
push_sender_pending (PushSender *self)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = g_hash_table_size (self->pending);
  g_mutex_unlock (&self->lock);
  return n;
}

void
push_sender_free (PushSender *self)
{
  if (self == NULL)
    return;
  if (self->thread != NULL)
    {
      g_atomic_int_set (&self->stop, 1);
      g_thread_join (self->thread);
    }
  g_clear_object (&self->socket);
  g_clear_object (&self->server);
  push_key_free (self->key, self->key_len);
  g_hash_table_destroy (self->pending);
  g_mutex_clear (&self->lock);
  g_free (self->spool_dir);
  g_free (self);
}
