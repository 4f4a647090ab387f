/* SPDX-License-Identifier: GPL-3.0-or-later */
/* push-sender.c: the node's push spool and sender thread (contract: push-sender.h; wire
 * format: docs/push-protocol.md).
 *
 * How: a record is encoded (push_record_encode) and appended to the spool log, the
 * current segment <state_dir>/push-spool/<segment number, 16 hex digits>.log, as
 * [4-octet length][8-octet record id][record]; submitters that append at the same time
 * share one fdatasync through the segment's DurableGroup (the project's one group commit,
 * docs/durability.md), so a busy node pays about one sync per group, not two per record.
 * Entries are written into zeros written ahead of them (segment_extend()), so a group's
 * fdatasync writes the data only, not the inode of a file that grew.
 * Each segment has its own group and keeps its fd open while a submitter waits on it; a
 * failed sync fails its group for good (fsyncgate), so the next append starts a new
 * segment. A new segment is started at PUSH_SPOOL_SEGMENT_MAX octets (created, then the
 * directory synced once); a segment is deleted once every record in it has been
 * acknowledged (or has expired). The record is then put in the pending table. One thread
 * owns the UDP socket: it waits up to PUSH_SENDER_TICK_MS for ACKs or a submit (an
 * eventfd written by a submit while the thread waits with nothing in flight, so a new
 * record goes at once; with records in flight their ACKs wake it), verifies each ACK or
 * ACK_LIST (HMAC with the key's PushMac, key id, clock skew), forgets the records it
 * names, and sends every pending record whose time has come, each part a frame with a
 * fresh sequence (strictly increasing: microseconds of the clock) and, on a record's first
 * send, PUSH_FLAG_ACK_LIST (the receiver may then acknowledge many records in one frame),
 * at most PUSH_SENDER_WINDOW records in flight (sent less
 * than PUSH_RESEND_MIN_MS ago, not yet acknowledged) so a full spool is not one burst
 * that overflows the receiver's socket buffer. After a restart every record of the
 * remaining segments is sent again (an ACK is not written down: a record acknowledged
 * before the crash is sent once more, which the receiver takes as a duplicate), and the
 * one-file-per-record spool of older versions (<record id>.rec) is read too.
 * Limits: PUSH_MAX_SPOOL records; PUSH_SENDER_WINDOW records in flight; records above PUSH_MAX_RECORD octets are refused;
 * segments of PUSH_SPOOL_SEGMENT_MAX octets.
 * Never: drop a record without a verified ACK, except once it has expired; log B or
 * bodies; block the caller on the network.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "durable-group.h"
#include "msgtrk-private.h"
#include "push-proto.h"
#include "push-sender.h"
#include "server-config.h"

#define PUSH_SENDER_TICK_MS 100
/* Receive buffer asked for the sender's socket: the ACKs of a whole window arrive in one
 * burst after the receiver's commit (a 68-octet ACK costs about 1 KiB of buffer), and the
 * default (208 KiB) dropped part of it, each lost ACK a resend 1 s later. */
#define PUSH_SENDER_RCVBUF (PUSH_SENDER_WINDOW * 2 * 1024)
#define PUSH_SPOOL_DIR "push-spool"
#define PUSH_SPOOL_SUFFIX ".rec"
#define PUSH_SPOOL_SEGMENT_SUFFIX ".log"
/* [length][record id] before each record in a segment. */
#define PUSH_SPOOL_ENTRY_HEADER 12
/* The record-id floor (record_id_lease()): a file in the spool directory, the decimal id
 * every record id given so far is below, extended PUSH_RECORD_ID_LEASE_US at a time. */
#define PUSH_RECORD_ID_FILE "record-id"
#define PUSH_RECORD_ID_LEASE_US ((guint64) 600 * G_USEC_PER_SEC)


typedef struct
{
  guint64 record_id;
  GBytes *bytes;         /* (owned) the record */
  gint64 expires;        /* unix seconds */
  gint64 next_send;      /* monotonic µs; 0: now */
  guint backoff_ms;
  gint64 last_sent;      /* monotonic µs; 0: never sent */
  guint8 flags;          /* in the copy to send: the frames' flags */
  guint64 segment;       /* the spool log segment holding it; 0: a .rec file */
} Pending;

/* One spool segment being written or still waited on: its fd and its group commit. */
typedef struct
{
  int fd;
  DurableGroup *group;   /* (owned) fdatasync of fd */
  guint users;           /* submitters inside durable_group_wait(); under write_lock */
  gsize allocated;       /* octets written as zeros ahead of the appends; under write_lock */
  gboolean retired;      /* no longer the current segment; under write_lock */
} SpoolSegment;

struct _PushSender
{
  char *spool_dir;
  guint16 key_id;
  PushMac *mac;          /* (owned) the node's key, ready for HMAC */
  GSocket *socket;
  GSocketAddress *server;

  GMutex lock;           /* pending, last_sequence, last_id, id_lease */
  GHashTable *pending;   /* guint64* record id -> Pending* */
  guint64 last_id;       /* the highest record id given or found in the spool */
  guint64 id_lease;      /* every id given is below it, durably (PUSH_RECORD_ID_FILE) */
  GMutex lease_lock;     /* taken before lock: one writer of PUSH_RECORD_ID_FILE */
  GQueue unsent;         /* record ids (guint64*, owned) submitted, not yet sent, in order */
  guint in_flight;       /* records sent less than PUSH_RESEND_MIN_MS ago, not acknowledged
                          * (exact after each full scan; sends and ACKs counted between) */
  guint64 last_sequence;

  GThread *thread;
  gint stop;             /* (atomic) */
  int wakefd;            /* eventfd: a submit wakes the thread waiting for ACKs */
  gint sleeping;         /* (atomic) 1 while the thread may be in its wait */

  /* The spool log (lock order: write_lock, then lock). */
  GMutex write_lock;     /* the current segment, users and retired of every segment */
  SpoolSegment *seg;     /* the current segment (NULL: none open) */
  guint64 seg_id;        /* its number */
  gsize seg_size;
  GHashTable *segments;  /* under lock: guint64 segment -> guint records not acknowledged */
  guint64 current_seg;   /* under lock: seg_id, for segment_release() */
};

static void
pending_free (gpointer data)
{
  Pending *p = data;

  g_bytes_unref (p->bytes);
  g_free (p);
}

static gboolean
spool_segment_sync (gpointer data,
                    GError **error)
{
  SpoolSegment *seg = data;

  if (fdatasync (seg->fd) != 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot sync the push spool: %s", g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static SpoolSegment *
spool_segment_new (int fd)
{
  SpoolSegment *seg = g_new0 (SpoolSegment, 1);

  seg->fd = fd;
  seg->group = durable_group_new (spool_segment_sync, seg);
  return seg;
}

static void
spool_segment_free (SpoolSegment *seg)
{
  durable_group_free (seg->group);
  close (seg->fd);
  g_free (seg);
}

/* Under write_lock: @seg is no longer the current segment; freed (fd closed) once no
 * submitter waits on it. Every record it holds was synced by its submitter's wait. */
static void
spool_segment_retire (SpoolSegment *seg)
{
  seg->retired = TRUE;
  if (seg->users == 0)
    spool_segment_free (seg);
}

static char *
segment_path (PushSender *self,
              guint64     segment)
{
  g_autofree char *name = g_strdup_printf ("%016" G_GINT64_MODIFIER "x"
                                           PUSH_SPOOL_SEGMENT_SUFFIX, segment);

  return g_build_filename (self->spool_dir, name, NULL);
}

/* Under self->lock: one more record in @segment. */
static void
segment_hold (PushSender *self,
              guint64     segment)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->segments, &segment));

  g_hash_table_replace (self->segments, g_memdup2 (&segment, sizeof segment),
                        GUINT_TO_POINTER (count + 1));
}

/* Under self->lock: a record of @segment is done with; the segment file goes once none
 * is left and it is not the one being written. */
static void
segment_release (PushSender *self,
                 guint64     segment)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->segments, &segment));

  if (count > 1)
    {
      g_hash_table_replace (self->segments, g_memdup2 (&segment, sizeof segment),
                            GUINT_TO_POINTER (count - 1));
      return;
    }
  g_hash_table_remove (self->segments, &segment);
  if (segment != self->current_seg)
    {
      g_autofree char *path = segment_path (self, segment);

      if (g_unlink (path) != 0 && errno != ENOENT)
        g_warning ("push: cannot remove %s: %s", path, g_strerror (errno));
    }
}

/* Forget a pending record's spool entry (its .rec file, or its hold on a segment). */
static void
spool_forget (PushSender *self,
              Pending    *p)
{
  if (p->segment != 0)
    segment_release (self, p->segment);
  else
    {
      g_autofree char *path = g_strdup_printf ("%s/%016" G_GINT64_MODIFIER "x"
                                               PUSH_SPOOL_SUFFIX, self->spool_dir,
                                               p->record_id);

      if (g_unlink (path) != 0 && errno != ENOENT)
        g_warning ("push: cannot remove %s: %s", path, g_strerror (errno));
    }
}

static guint64
next_sequence (PushSender *self)
{
  guint64 v;

  g_mutex_lock (&self->lock);
  v = push_next_sequence (&self->last_sequence, g_get_real_time ());
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
      f.flags = p->flags;
      f.key_id = self->key_id;
      f.timestamp_ms = g_get_real_time () / 1000;
      f.sequence = next_sequence (self);
      f.record_id = p->record_id;
      f.part = (guint8) i;
      f.parts = (guint8) parts;
      f.payload = data + (gsize) i * PUSH_MAX_PAYLOAD;
      f.payload_len = MIN (PUSH_MAX_PAYLOAD, len - (gsize) i * PUSH_MAX_PAYLOAD);
      n = push_mac_encode (self->mac, &f, out);
      if (g_socket_send_to (self->socket, self->server, (const char *) out, n, NULL,
                            &error) < 0)
        g_debug ("push: send: %s", error->message);
    }
}

/* Under self->lock: record @record_id acknowledged: forgotten (an unknown id, one
 * already acknowledged or never sent, changes nothing). */
static void
pending_acked (PushSender *self,
               guint64     record_id)
{
  Pending *p = g_hash_table_lookup (self->pending, &record_id);

  if (p == NULL)
    return;
  if (p->last_sent != 0 && self->in_flight > 0
      && g_get_monotonic_time () - p->last_sent < (gint64) PUSH_RESEND_MIN_MS * 1000)
    self->in_flight--;
  spool_forget (self, p);
  g_hash_table_remove (self->pending, &record_id);
}

/* An ACK (one record) or ACK_LIST (many) frame: checked (type, key id, HMAC in constant
 * time, clock skew) before any record it names is forgotten. A replayed ACK needs no
 * window: a genuine ACK names only records the receiver stored, so forgetting them again
 * loses nothing (a record id is never given to another record); and a window
 * would refuse the ACKs of a second receiver sharing the key whose clock is behind. */
static void
handle_ack (PushSender   *self,
            const guint8 *data,
            gsize         len)
{
  PushFrame f;
  gint64 now_ms = g_get_real_time () / 1000;

  if (push_frame_parse (data, len, &f) != PUSH_OK
      || (f.type != PUSH_TYPE_ACK && f.type != PUSH_TYPE_ACK_LIST) || f.key_id != self->key_id
      || !push_mac_verify (self->mac, data, len)
      || !push_frame_is_fresh (&f, now_ms))
    {
      g_debug ("push: an invalid ACK was dropped");
      return;
    }
  g_mutex_lock (&self->lock);
  if (f.type == PUSH_TYPE_ACK)
    pending_acked (self, f.record_id);
  else
    for (guint i = 0; i < f.payload_len / 8; i++)
      pending_acked (self, push_ack_list_id (&f, i));
  g_mutex_unlock (&self->lock);
}

/* The current segment once every record in it has been acknowledged: closed and
 * deleted (the next append starts a new one), so an idle node's spool is empty. */
static void
segment_retire_if_drained (PushSender *self)
{
  g_mutex_lock (&self->write_lock);
  if (self->seg != NULL && self->seg->users == 0)
    {
      gboolean drained;
      guint64 seg = self->seg_id;

      g_mutex_lock (&self->lock);
      drained = !g_hash_table_contains (self->segments, &seg);
      if (drained)
        self->current_seg = 0;
      g_mutex_unlock (&self->lock);
      if (drained)
        {
          g_autofree char *path = segment_path (self, seg);

          spool_segment_retire (self->seg);
          self->seg = NULL;
          if (g_unlink (path) != 0 && errno != ENOENT)
            g_warning ("push: cannot remove %s: %s", path, g_strerror (errno));
        }
    }
  g_mutex_unlock (&self->write_lock);
}

/* Under self->lock: mark @p sent now and copy it into @due. */
static void
pending_due (PushSender *self,
             Pending    *p,
             gint64      now,
             GArray     *due)
{
  /* The first send asks for ACK lists; a resend does not, so a receiver older than them
   * (which drops a frame with a flag set) still gets every record, on its first resend. */
  Pending copy = { .record_id = p->record_id, .bytes = g_bytes_ref (p->bytes),
                   .flags = p->last_sent == 0 ? PUSH_FLAG_ACK_LIST : 0 };

  p->next_send = now + (gint64) p->backoff_ms * 1000;
  p->backoff_ms = MIN (p->backoff_ms * 2, PUSH_RESEND_MAX_MS);
  p->last_sent = now;
  self->in_flight++;
  g_array_append_val (due, copy);
}

/* Under self->lock: every PUSH_SENDER_TICK_MS, all pending records: expire, count those
 * in flight, and pick the due ones (resends, and new ones) while the window has room. */
static void
pending_scan (PushSender *self,
              gint64      now,
              GArray     *due)
{
  gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
  GHashTableIter iter;
  gpointer value;

  self->in_flight = 0;
  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Pending *p = value;

      if (p->expires <= now_s)
        {
          spool_forget (self, p);
          g_hash_table_iter_remove (&iter);
          continue;
        }
      if (p->last_sent != 0 && now - p->last_sent < (gint64) PUSH_RESEND_MIN_MS * 1000)
        self->in_flight++;
    }
  g_hash_table_iter_init (&iter, self->pending);
  while (self->in_flight < PUSH_SENDER_WINDOW && g_hash_table_iter_next (&iter, NULL, &value))
    {
      Pending *p = value;

      if (p->next_send <= now)
        pending_due (self, p, now, due);
    }
}

/* Wait up to PUSH_SENDER_TICK_MS for ACKs or a submit (which writes the eventfd while
 * we are marked sleeping: no record waits for the tick); TRUE when ACKs may be waiting. */
static gboolean
sender_wait (PushSender *self)
{
  GPollFD fds[2] = { { g_socket_get_fd (self->socket), G_IO_IN, 0 },
                     { self->wakefd, G_IO_IN, 0 } };
  gboolean ready;
  guint64 v;

  g_atomic_int_set (&self->sleeping, 1);
  /* A submit between our last look and the flag above did not write: look again. */
  g_mutex_lock (&self->lock);
  ready = self->in_flight < PUSH_SENDER_WINDOW && !g_queue_is_empty (&self->unsent);
  g_mutex_unlock (&self->lock);
  if (!ready)
    g_poll (fds, 2, PUSH_SENDER_TICK_MS);
  g_atomic_int_set (&self->sleeping, 0);
  if (read (self->wakefd, &v, sizeof v) < 0)
    v = 0; /* nothing written (EAGAIN) */
  return ready || (fds[0].revents & G_IO_IN) != 0;
}

static gpointer
sender_thread (gpointer data)
{
  PushSender *self = data;
  gint64 last_scan = 0;

  while (!g_atomic_int_get (&self->stop))
    {
      gint64 now = g_get_monotonic_time ();
      g_autoptr (GArray) due = g_array_new (FALSE, TRUE, sizeof (Pending));

      segment_retire_if_drained (self);
      g_mutex_lock (&self->lock);
      if (now - last_scan >= (gint64) PUSH_SENDER_TICK_MS * 1000)
        {
          last_scan = now;
          pending_scan (self, now, due);
        }
      /* Between scans, new records in submission order, without going over them all. */
      while (self->in_flight < PUSH_SENDER_WINDOW && !g_queue_is_empty (&self->unsent))
        {
          g_autofree guint64 *id = g_queue_pop_head (&self->unsent);
          Pending *p = g_hash_table_lookup (self->pending, id);

          if (p != NULL && p->last_sent == 0)
            pending_due (self, p, now, due);
        }
      g_mutex_unlock (&self->lock);
      /* Sent outside the lock: submit() never waits for the network. */
      for (guint i = 0; i < due->len; i++)
        {
          Pending *copy = &g_array_index (due, Pending, i);

          send_record (self, copy);
          g_bytes_unref (copy->bytes);
        }

      if (sender_wait (self))
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
             gint64      expires,
             guint64     segment)
{
  Pending *p = g_new0 (Pending, 1);
  guint64 *key = g_memdup2 (&record_id, sizeof record_id);
  Pending *old = g_hash_table_lookup (self->pending, &record_id);

  if (old != NULL)
    spool_forget (self, old); /* the same record spooled twice: the newer entry counts */
  self->last_id = MAX (self->last_id, record_id);
  p->record_id = record_id;
  p->segment = segment;
  p->bytes = g_bytes_ref (bytes);
  p->expires = expires;
  p->backoff_ms = PUSH_RESEND_MIN_MS;
  g_hash_table_replace (self->pending, key, p);
  if (g_queue_get_length (&self->unsent) < PUSH_MAX_SPOOL)
    g_queue_push_tail (&self->unsent, g_memdup2 (&record_id, sizeof record_id));
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
      add_pending (self, id, bytes, expires, 0);
    }
}

/* The records of spool log segment @path (number @segment): each complete entry is
 * pending again; a torn last entry (a crash during its append, never acknowledged as
 * spooled) is ignored. */
static void
segment_scan (PushSender *self,
              const char *path,
              guint64     segment)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  gsize pos = 0;
  guint n = 0;

  if (!g_file_get_contents (path, &text, &len, NULL))
    {
      g_warning ("push: spool segment %s is unreadable; kept", path);
      return;
    }
  while (len - pos >= PUSH_SPOOL_ENTRY_HEADER)
    {
      const guint8 *h = (const guint8 *) text + pos;
      guint32 rec_len = ((guint32) h[0] << 24) | ((guint32) h[1] << 16)
                        | ((guint32) h[2] << 8) | h[3];
      guint64 id = 0;
      g_autofree char *envid = NULL;
      g_autofree char *auth = NULL;
      g_autofree char *fields = NULL;
      g_autoptr (GBytes) bytes = NULL;
      gint64 expires = 0;
      gint64 version = 0;

      for (int i = 0; i < 8; i++)
        id = (id << 8) | h[4 + i];
      if (rec_len == 0)
        {
          pos = len; /* the zeros of a preallocated segment: its end */
          break;
        }
      if (rec_len > PUSH_MAX_RECORD || len - pos - PUSH_SPOOL_ENTRY_HEADER < rec_len)
        break;
      pos += PUSH_SPOOL_ENTRY_HEADER;
      if (push_record_decode ((const guint8 *) text + pos, rec_len, &envid, &auth, &expires,
                              &version, &fields, NULL))
        {
          bytes = g_bytes_new (text + pos, rec_len);
          segment_hold (self, segment);
          add_pending (self, id, bytes, expires, segment);
          n++;
        }
      pos += rec_len;
    }
  if (pos < len)
    g_message ("push: spool segment %s ends with a torn entry (a crash while it was "
               "written); ignored", path);
  if (n == 0)
    g_unlink (path);
}

/* The spool log segments left by the last run, and the next segment number. */
static void
segments_scan (PushSender *self)
{
  g_autoptr (GDir) dir = g_dir_open (self->spool_dir, 0, NULL);
  const char *name;
  guint64 max = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *hex = NULL;
      g_autofree char *path = NULL;
      guint64 id;

      if (!g_str_has_suffix (name, PUSH_SPOOL_SEGMENT_SUFFIX))
        continue;
      hex = g_strndup (name, strlen (name) - strlen (PUSH_SPOOL_SEGMENT_SUFFIX));
      if (strlen (hex) != 16 || !g_ascii_string_to_unsigned (hex, 16, 1, G_MAXUINT64, &id, NULL))
        continue;
      path = g_build_filename (self->spool_dir, name, NULL);
      segment_scan (self, path, id);
      max = MAX (max, id);
    }
  self->seg_id = max; /* the first append opens max + 1 */
  self->current_seg = 0;  /* none is being written: drained ones go */
}

/* Under write_lock: write zeros past the end of the current segment until @need octets
 * are allocated: at least PUSH_SPOOL_PREALLOC_MIN, then doubling up to
 * PUSH_SPOOL_PREALLOC_MAX at a time, never past PUSH_SPOOL_SEGMENT_MAX. The appends then
 * overwrite blocks already allocated, in a file whose size does not change, so a group's
 * fdatasync writes the data only: an append that grew the file also had the inode written
 * by every sync (two writes to the disk instead of one; the first sync after an extension
 * still writes the new size once). A zero length where the next entry would start ends the
 * segment (segment_scan()). An idle node's segment (drained and deleted between two
 * records) costs PUSH_SPOOL_PREALLOC_MIN octets of zeros. */
static gboolean
segment_extend (PushSender *self,
                gsize       need,
                GError    **error)
{
  static const guint8 zeros[PUSH_SPOOL_PREALLOC_MIN];
  SpoolSegment *seg = self->seg;

  while (seg->allocated < need)
    {
      gsize chunk = CLAMP (seg->allocated, PUSH_SPOOL_PREALLOC_MIN, PUSH_SPOOL_PREALLOC_MAX);
      gsize end = MIN (seg->allocated + chunk, PUSH_SPOOL_SEGMENT_MAX);

      while (seg->allocated < end)
        {
          ssize_t n = pwrite (seg->fd, zeros, MIN (sizeof zeros, end - seg->allocated),
                              (off_t) seg->allocated);

          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            {
              int saved = n < 0 ? errno : ENOSPC;

              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                           "Cannot extend the push spool: %s", g_strerror (saved));
              return FALSE;
            }
          seg->allocated += (gsize) n;
        }
    }
  return TRUE;
}

/* Under write_lock: start segment seg_id + 1 (the previous one is retired: closed once
 * its submitters' syncs are done; deleted if nothing in it waits for an ACK). */
static gboolean
segment_open_next (PushSender *self,
                   GError    **error)
{
  guint64 old = self->seg_id;
  guint64 next = old + 1;
  g_autofree char *path = segment_path (self, next);
  int fd;

  if (self->seg != NULL)
    {
      spool_segment_retire (self->seg);
      self->seg = NULL;
    }
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "Cannot create %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (!durable_file_sync_dir (self->spool_dir, error))
    {
      close (fd);
      g_unlink (path);
      return FALSE;
    }
  self->seg = spool_segment_new (fd);
  self->seg_size = 0;
  self->seg_id = next;
  g_mutex_lock (&self->lock);
  self->current_seg = next;
  if (old != 0 && !g_hash_table_contains (self->segments, &old))
    {
      g_autofree char *old_path = segment_path (self, old);

      g_unlink (old_path);
    }
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* Append @bytes (record @record_id) to the spool log and return once it is durable
 * (group commit, see the top of this file); *@segment: where it went. */
static gboolean
spool_append (PushSender *self,
              guint64     record_id,
              GBytes     *bytes,
              guint64    *segment,
              GError    **error)
{
  gsize len = g_bytes_get_size (bytes);
  guint8 head[PUSH_SPOOL_ENTRY_HEADER];
  struct iovec iov[2];
  gsize want = PUSH_SPOOL_ENTRY_HEADER + len;
  gsize done = 0;
  guint64 ticket;
  SpoolSegment *seg;
  g_autoptr (GError) local = NULL;
  gboolean ok;

  head[0] = (guint8) (len >> 24);
  head[1] = (guint8) (len >> 16);
  head[2] = (guint8) (len >> 8);
  head[3] = (guint8) len;
  for (int i = 0; i < 8; i++)
    head[4 + i] = (guint8) (record_id >> (56 - 8 * i));

  g_mutex_lock (&self->write_lock);
  if ((self->seg == NULL || self->seg_size + want > PUSH_SPOOL_SEGMENT_MAX)
      && !segment_open_next (self, error))
    {
      g_mutex_unlock (&self->write_lock);
      return FALSE;
    }
  if (!segment_extend (self, self->seg_size + want, error))
    {
      self->seg_size = PUSH_SPOOL_SEGMENT_MAX; /* the next append starts a new segment */
      g_mutex_unlock (&self->write_lock);
      return FALSE;
    }
  seg = self->seg;
  while (done < want)
    {
      ssize_t n;

      iov[0].iov_base = head + MIN (done, PUSH_SPOOL_ENTRY_HEADER);
      iov[0].iov_len = PUSH_SPOOL_ENTRY_HEADER - MIN (done, PUSH_SPOOL_ENTRY_HEADER);
      iov[1].iov_base = (guint8 *) g_bytes_get_data (bytes, NULL)
                        + (done > PUSH_SPOOL_ENTRY_HEADER ? done - PUSH_SPOOL_ENTRY_HEADER : 0);
      iov[1].iov_len = len - (done > PUSH_SPOOL_ENTRY_HEADER ? done - PUSH_SPOOL_ENTRY_HEADER : 0);
      n = pwritev (seg->fd, iov, 2, (off_t) (self->seg_size + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;

          /* The segment may end with a torn entry: the next append starts a new one. */
          self->seg_size = PUSH_SPOOL_SEGMENT_MAX;
          g_mutex_unlock (&self->write_lock);
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                       "Cannot append to the push spool: %s", g_strerror (saved));
          return FALSE;
        }
      done += (gsize) n;
    }
  self->seg_size += want;
  ticket = durable_group_enter (seg->group);
  seg->users++;
  *segment = self->seg_id;
  g_mutex_lock (&self->lock);
  segment_hold (self, *segment);
  g_mutex_unlock (&self->lock);
  g_mutex_unlock (&self->write_lock);

  ok = durable_group_wait (seg->group, ticket, &local);

  g_mutex_lock (&self->write_lock);
  if (!ok && seg == self->seg)
    self->seg_size = PUSH_SPOOL_SEGMENT_MAX; /* a failed group for good: a new segment */
  seg->users--;
  if (seg->retired && seg->users == 0)
    spool_segment_free (seg);
  g_mutex_unlock (&self->write_lock);
  if (!ok)
    {
      g_mutex_lock (&self->lock);
      segment_release (self, *segment);
      g_mutex_unlock (&self->lock);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

/* The record-id floor of an earlier run (0: none) into *@floor. Without it, a node
 * restarted with an empty spool after its clock was set back would give ids from the clock
 * again, i.e. ids it gave before: a replayed ACK of the old record (within the skew a node
 * takes) would then make it forget the new one. */
static gboolean
record_id_floor_load (PushSender *self,
                      guint64    *floor,
                      GError    **error)
{
  g_autofree char *path = g_build_filename (self->spool_dir, PUSH_RECORD_ID_FILE, NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  gsize len = 0;

  *floor = 0;
  if (!g_file_get_contents (path, &text, &len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "Cannot read %s: %s", path,
                   local->message);
      return FALSE;
    }
  g_strchomp (text);
  if (len > 32 || !g_ascii_string_to_unsigned (text, 10, 1, G_MAXUINT64 / 2, floor, NULL))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "%s does not hold a record id (a decimal number); it is this node's "
                   "floor of push record ids: write into it a number above every id the "
                   "node gave (e.g. the current time in microseconds plus the time its "
                   "clock was ahead), or remove it if the clock was never set back",
                   path);
      return FALSE;
    }
  return TRUE;
}

/* Make @id given: if it reaches the durable floor, write a new floor PUSH_RECORD_ID_LEASE_US
 * above it first (at most once per lease while ids follow the clock). */
static gboolean
record_id_lease (PushSender *self,
                 guint64     id,
                 GError    **error)
{
  g_autofree char *path = NULL;
  g_autofree char *tmp = NULL;
  g_autofree char *text = NULL;
  guint64 lease;
  gboolean need;

  g_mutex_lock (&self->lock);
  need = id >= self->id_lease;
  g_mutex_unlock (&self->lock);
  if (!need)
    return TRUE;
  g_mutex_lock (&self->lease_lock);
  g_mutex_lock (&self->lock);
  need = id >= self->id_lease;
  lease = MAX (self->last_id, id) + PUSH_RECORD_ID_LEASE_US;
  g_mutex_unlock (&self->lock);
  if (need)
    {
      path = g_build_filename (self->spool_dir, PUSH_RECORD_ID_FILE, NULL);
      tmp = g_build_filename (self->spool_dir, ".tmp-" PUSH_RECORD_ID_FILE, NULL);
      text = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", lease);
      if (!durable_file_replace (tmp, path, self->spool_dir, text, strlen (text), error))
        {
          g_mutex_unlock (&self->lease_lock);
          return FALSE;
        }
      g_mutex_lock (&self->lock);
      self->id_lease = MAX (self->id_lease, lease);
      g_mutex_unlock (&self->lock);
    }
  g_mutex_unlock (&self->lease_lock);
  return TRUE;
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
  g_mutex_init (&self->write_lock);
  g_mutex_init (&self->lease_lock);
  self->wakefd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (self->wakefd < 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "eventfd: %s", g_strerror (saved));
      goto fail;
    }
  self->segments = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, pending_free);
  self->key_id = key_id;
  self->spool_dir = g_build_filename (state_dir, PUSH_SPOOL_DIR, NULL);
  {
    gsize key_len = 0;
    guint8 *key = push_key_load (key_file, &key_len, error);

    if (key == NULL)
      goto fail;
    self->mac = push_mac_new (key, key_len);
    push_key_free (key, key_len);
  }
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
  /* Capped by net.core.rmem_max; a smaller buffer only costs resends. */
  g_socket_set_option (self->socket, SOL_SOCKET, SO_RCVBUF, PUSH_SENDER_RCVBUF, NULL);
  if (!record_id_floor_load (self, &self->id_lease, error))
    goto fail;
  spool_scan (self);
  segments_scan (self);
  /* Ids start at the floor: above every id an earlier run gave, whatever the clock. */
  if (self->id_lease > 0)
    self->last_id = MAX (self->last_id, self->id_lease - 1);
  self->thread = g_thread_new ("push-sender", sender_thread, self);
  return self;

fail:
  push_sender_free (self);
  return NULL;
}

/**
 * push_sender_submit:
 *
 * @record_id: (out) (optional): the record's id, the sender's name for it
 *
 * Spools one record durably and hands it to the thread. The record id is the sender's
 * own, not @version (a version given above a loaded one may equal another record's):
 * microseconds of the real-time clock, above every id given before (by this run, found in
 * the spool, or below the durable floor of an earlier run: record_id_lease()), so no two
 * records share one, whatever the clock did. Fails with
 * MSGTRK_ERROR_LIMIT when the record is too long for PUSH_MAX_PARTS datagrams or the
 * spool holds PUSH_MAX_SPOOL records.
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
                    guint64    *record_id,
                    GError    **error)
{
  g_autoptr (GBytes) bytes = NULL;
  guint64 segment = 0;
  guint64 id;
  gboolean idle;
  guint n;

  bytes = push_record_encode (envid, authenticator, expires, version, fields, error);
  if (bytes == NULL)
    return FALSE;
  g_mutex_lock (&self->lock);
  n = g_hash_table_size (self->pending);
  id = MAX ((guint64) g_get_real_time (), self->last_id + 1);
  self->last_id = id;
  g_mutex_unlock (&self->lock);
  if (n >= PUSH_MAX_SPOOL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The push spool holds %d records (the limit); record not pushed",
                   PUSH_MAX_SPOOL);
      return FALSE;
    }
  if (!record_id_lease (self, id, error))
    return FALSE;
  if (!spool_append (self, id, bytes, &segment, error))
    return FALSE;
  if (record_id != NULL)
    *record_id = id;
  g_mutex_lock (&self->lock);
  add_pending (self, id, bytes, expires, segment);
  idle = self->in_flight == 0;
  g_mutex_unlock (&self->lock);
  /* Wake the thread if it waits with nothing in flight (otherwise the ACKs wake it soon:
   * no extra wake-ups under load), once per wait. */
  if (idle && g_atomic_int_compare_and_exchange (&self->sleeping, 1, 0))
    {
      guint64 one = 1;

      if (write (self->wakefd, &one, sizeof one) < 0)
        one = 0; /* a full counter: the thread is being woken anyway */
    }
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
  if (self->wakefd >= 0)
    close (self->wakefd);
  push_mac_free (self->mac);
  g_hash_table_destroy (self->pending);
  g_queue_clear_full (&self->unsent, g_free);
  g_hash_table_destroy (self->segments);
  if (self->seg != NULL)
    spool_segment_free (self->seg);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->write_lock);
  g_mutex_clear (&self->lease_lock);
  g_free (self->spool_dir);
  g_free (self);
}
