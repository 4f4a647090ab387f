/* SPDX-License-Identifier: GPL-3.0-or-later */
/* push-receiver.c: msgtrk-push-receiver, the site's receiver of the push channel
 * (docs/push-protocol.md; msgtrk-push-receiver(8)).
 *
 * What: receives RECORD frames from MTA nodes over UDP (udp_listen) or as a TCP stream
 * (the skeleton's listener: each frame preceded by its 2-octet length), checks them
 * (push-proto.h: size, syntax, key id, HMAC in constant time, clock skew, replay window),
 * reassembles the parts of a record, writes it into the tracking store ([store]: files or
 * PostgreSQL) with the record's own version, and acknowledges it (over UDP, the records of
 * one batch from one node that takes them in one ACK_LIST frame). One job: it answers no
 * queries (mtqpd does).
 * How: on the servers' skeleton (server-main.h): options, configuration, bind, privilege
 * drop, signals. As root: the UDP socket is bound (pre_drop). As the service user: the
 * node keys are loaded (refused unless owner-only files) and the store opened
 * (post_drop); then one thread serves UDP, and each TCP connection is a skeleton session.
 * Counters (one per drop reason, stored, refused_owner, store_failed, acks) are written to
 * stats_file every second when they changed, and logged at exit. Every expire_interval
 * seconds a thread runs the store's expiry (on PostgreSQL, msgtrk_expire() in the
 * database). A TCP stream silent for PUSH_RECEIVER_STREAM_TIMEOUT seconds is closed.
 * Limits: PUSH_MAX_DATAGRAM per frame; PUSH_MAX_PENDING incomplete records held, each at
 * most PUSH_REASSEMBLY_SECONDS; PUSH_RECEIVER_MAX_KEYS node keys; drop messages at most
 * one per second per reason.
 * Never: store or acknowledge a frame that failed a check; log B, a key or a record body;
 * acknowledge a record the store could not take for a temporary reason (the node resends).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "msgtrk-private.h"
#include "push-proto.h"
#include "server-config.h"
#include "server-main.h"
#include "track-store.h"

#define RECEIVER_GROUP "push_receiver"
#define RECEIVER_KEYS_GROUP "push_keys"
#define RECEIVER_STORE_GROUP "store"
#define RECEIVER_DEFAULT_CONFIG SYSCONFDIR "/msgtrk/msgtrk-push-receiver.conf"
#define RECEIVER_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/msgtrk"
#define PUSH_MAX_PENDING 1024
#define PUSH_REASSEMBLY_SECONDS 30
#define PUSH_RECEIVER_MAX_KEYS 4096
#define PUSH_RECEIVER_TICK_MS 200
/* Records stored in one go (one transaction on PostgreSQL) from the datagrams waiting. */
#define PUSH_RECEIVER_BATCH 256
/* Fewer than PUSH_RECEIVER_GATHER_MIN records taken: wait at most PUSH_RECEIVER_GATHER_US
 * once for more before storing (PostgreSQL's commit_delay, for datagrams: under load the
 * batches grow from about 20 records to about 100, and the store's cost per record falls
 * with the batch; idle, a record waits at most this long more for its ACK). */
#define PUSH_RECEIVER_GATHER_MIN 64
#define PUSH_RECEIVER_GATHER_US 500
#define PUSH_RECEIVER_MAX_CONNECTIONS 64
/* Receive buffer asked for the UDP socket (bursts from many nodes): 4 MiB. */
#define PUSH_RECEIVER_RCVBUF (4 * 1024 * 1024)
/* A TCP stream silent this long is closed. */
#define PUSH_RECEIVER_STREAM_TIMEOUT 120
/* [push_receiver] expire_interval: seconds between two store expiries (0: never). */
#define PUSH_RECEIVER_DEFAULT_EXPIRE_INTERVAL 600
#define PUSH_RECEIVER_MAX_EXPIRE_INTERVAL 86400

enum
{
  COUNT_REFUSED_OWNER = PUSH_N_RESULTS,
  COUNT_STORE_FAILED,
  COUNT_ACKS,
  N_COUNTS,
};

typedef struct
{
  PushMac *mac;                /* (owned) the node's key, ready for HMAC */
  PushReplayWindow window;
} NodeKey;

typedef struct
{
  guint8 parts;
  guint32 got;                 /* bit i: part i present */
  GBytes *part[PUSH_MAX_PARTS];
  gint64 first_seen;           /* monotonic µs */
} Reassembly;

typedef struct
{
  char *listen;
  char *udp_listen;
  char *state_dir;
  char *user;
  char *stats_file;
  guint expire_interval;
  GKeyFile *kf;                /* (owned) for [push_keys] and [store] after the drop */

  GSocket *udp;                /* (owned) bound as root */
  TrackStore *store;           /* (owned) */
  GHashTable *keys;            /* guint key id -> NodeKey* */

  GMutex lock;                 /* keys' windows, reassembly, counters */
  GHashTable *reassembly;      /* "keyid/recordid" -> Reassembly* */
  guint64 counts[N_COUNTS];
  guint64 last_ack_sequence;   /* the sequence of the last ACK sent (strictly increasing) */
  guint64 written_counts[N_COUNTS];
  gint64 last_drop_log[N_COUNTS];

  GThread *thread;
  gint stop;                   /* (atomic) */
  GThread *expire_thread;      /* (nullable) */
  GMutex expire_lock;
  GCond expire_cond;           /* signalled at stop */
} Receiver;

static const char *const count_names[N_COUNTS] = {
  "stored", "truncated", "oversized", "malformed", "unknown_key", "bad_hmac", "stale",
  "replayed", "bad_record", "refused_owner", "store_failed", "acks",
};

static void
node_key_free (gpointer data)
{
  NodeKey *k = data;

  push_mac_free (k->mac);
  g_free (k);
}

static void
reassembly_free (gpointer data)
{
  Reassembly *r = data;

  for (guint i = 0; i < PUSH_MAX_PARTS; i++)
    g_clear_pointer (&r->part[i], g_bytes_unref);
  g_free (r);
}

/* Count a result; log a drop at most once a second per reason (no content, no key), with
 * @detail (nullable) after the reason. */
static void
count_detail (Receiver   *r,
              guint       what,
              const char *peer,
              const char *detail)
{
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&r->lock);
  r->counts[what]++;
  if (what != PUSH_OK && what < PUSH_N_RESULTS
      && now - r->last_drop_log[what] >= G_USEC_PER_SEC)
    {
      r->last_drop_log[what] = now;
      g_message ("%s: datagram dropped: %s%s%s", peer, count_names[what],
                 detail != NULL ? ": " : "", detail != NULL ? detail : "");
    }
  g_mutex_unlock (&r->lock);
}

static void
count (Receiver   *r,
       guint       what,
       const char *peer)
{
  count_detail (r, what, peer, NULL);
}

static void
write_stats (Receiver *r,
             gboolean  force)
{
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = NULL;
  g_autofree char *dir = NULL;
  gboolean changed;

  if (r->stats_file == NULL)
    return;
  g_mutex_lock (&r->lock);
  changed = memcmp (r->counts, r->written_counts, sizeof r->counts) != 0;
  for (guint i = 0; i < N_COUNTS; i++)
    g_string_append_printf (text, "%s=%" G_GUINT64_FORMAT "\n", count_names[i], r->counts[i]);
  memcpy (r->written_counts, r->counts, sizeof r->counts);
  g_mutex_unlock (&r->lock);
  if (!changed && !force)
    return;
  tmp = g_strconcat (r->stats_file, ".tmp", NULL);
  dir = g_path_get_dirname (r->stats_file);
  if (!durable_file_replace (tmp, r->stats_file, dir, text->str, text->len, &error))
    g_warning ("Cannot write the statistics: %s", error->message);
}

/* A record whose frames have all arrived, to be stored and acknowledged. */
typedef struct
{
  guint16 key_id;
  guint64 record_id;
  guint8 flags;                /* of the frame that completed it: PUSH_FLAG_ACK_LIST */
  NodeKey *key;                /* (unowned) */
  GBytes *whole;               /* (owned) the record */
  GSocketAddress *from;        /* (owned) (nullable) UDP: where the ACK goes */
  char *peer;                  /* (owned) for logs */
  /* decoded */
  char *node;
  char *envid;
  char *auth;
  char *fields;
  gint64 expires;
  gint64 version;
  MsgtrkReport *report;
} Completed;

static void
completed_clear (Completed *c)
{
  g_clear_pointer (&c->whole, g_bytes_unref);
  g_clear_object (&c->from);
  g_clear_pointer (&c->peer, g_free);
  g_clear_pointer (&c->node, g_free);
  g_clear_pointer (&c->envid, g_free);
  g_clear_pointer (&c->auth, g_free);
  g_clear_pointer (&c->fields, g_free);
  g_clear_object (&c->report);
}

/* Decode @c's record and check what a stored record must be (docs/push-protocol.md, the
 * receiver's check 7); the reason in @error. */
static gboolean
record_check (Completed *c,
              gint64     now,
              GError   **error)
{
  if (!push_record_decode (g_bytes_get_data (c->whole, NULL), g_bytes_get_size (c->whole),
                           &c->envid, &c->auth, &c->expires, &c->version, &c->fields, error))
    return FALSE;
  if (!msgtrk_authenticator_is_valid (c->auth, NULL))
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "its B is not one");
      return FALSE;
    }
  if (c->version <= 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "its version %" G_GINT64_FORMAT " is not above 0", c->version);
      return FALSE;
    }
  /* A positive expiry, not past the longest MTRK timeout (RFC 3885: 9 digits of seconds)
   * from now, give or take the clocks' difference: a record that would hold its ENVID for
   * longer is no node's. */
  if (c->expires <= 0
      || c->expires > now + (gint64) MSGTRK_MTRK_TIMEOUT_MAX + PUSH_MAX_SKEW_MS / 1000)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "its expiry %" G_GINT64_FORMAT " is not between now and the longest "
                   "MTRK timeout (%u s) from now", c->expires, MSGTRK_MTRK_TIMEOUT_MAX);
      return FALSE;
    }
  c->report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, c->fields, -1,
                                          error);
  /* Stored means servable: mtqpd's answer must be able to carry it. */
  return c->report != NULL && msgtrk_report_check_servable (c->report, error);
}

/* Store @n complete records in one go (track_store_put_many: PostgreSQL, one transaction);
 * ack[i] TRUE when record i is to be acknowledged (stored, a duplicate, refused for good by
 * the first-owner rule, or not a record to store: record_check(); not when the store
 * failed: the node resends). */
static void
store_records (Receiver  *r,
               Completed *c,
               guint      n,
               gboolean  *ack)
{
  g_autofree TrackStorePut *puts = g_new0 (TrackStorePut, n);
  g_autofree guint *index = g_new0 (guint, n);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  guint m = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;

      ack[i] = FALSE;
      if (!record_check (&c[i], now, &error))
        {
          g_autofree char *detail = NULL;

          /* Acknowledged: the node signed these very bytes, and the checks give the same
           * verdict to every resend; unacknowledged, a node with a faulty record kept it
           * and resent it until its expiry, up to PUSH_MAX_SPOOL of them holding its
           * spool. The reason is logged here (the node cannot be told). */
          if (c[i].envid != NULL)
            {
              g_autofree char *quoted = msgtrk_str_escape_for_error (c[i].envid, 120);

              detail = g_strdup_printf ("record for %s refused for good (acknowledged): %s",
                                        quoted, error->message);
            }
          else
            detail = g_strdup_printf ("record refused for good (acknowledged): %s",
                                      error->message);
          count_detail (r, PUSH_DROP_BAD_RECORD, c[i].peer, detail);
          ack[i] = TRUE;
          continue;
        }
      /* Each pushing node's records are its own (one record per (ENVID, node)): the node
       * is named by the key that signed them. */
      c[i].node = g_strdup_printf ("key-%u", c[i].key_id);
      puts[m].node = c[i].node;
      puts[m].envid = c[i].envid;
      puts[m].authenticator = c[i].auth;
      puts[m].expires = c[i].expires;
      puts[m].version = c[i].version;
      puts[m].report = c[i].report;
      /* Stored as pushed: it parsed above, so no writing out again. */
      puts[m].fields = c[i].fields;
      index[m++] = i;
    }
  if (m > 0)
    track_store_put_many (r->store, puts, m);
  for (guint j = 0; j < m; j++)
    {
      Completed *ci = &c[index[j]];
      GError *error = puts[j].error;

      if (error == NULL)
        {
          count (r, PUSH_OK, ci->peer);
          ack[index[j]] = TRUE;
        }
      else if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET))
        {
          /* The first owner keeps the ENVID; resending would not change that. */
          g_autofree char *quoted = msgtrk_str_escape_for_error (ci->envid, 120);

          g_message ("%s: record for %s refused: %s", ci->peer, quoted, error->message);
          count (r, COUNT_REFUSED_OWNER, ci->peer);
          ack[index[j]] = TRUE;
        }
      else
        {
          g_warning ("%s: record not stored (the node resends): %s", ci->peer,
                     error->message);
          count (r, COUNT_STORE_FAILED, ci->peer);
        }
      g_clear_error (&puts[j].error);
    }
}

/* An ACK frame's sequence (push_next_sequence: the node keeps a replay window of them). */
static guint64
ack_sequence (Receiver *r)
{
  guint64 v;

  g_mutex_lock (&r->lock);
  v = push_next_sequence (&r->last_ack_sequence, g_get_real_time ());
  g_mutex_unlock (&r->lock);
  return v;
}

/* The ACK of a stored record, in @ack; its length. */
static gsize
ack_encode (Receiver  *r,
            Completed *c,
            guint8     ack[PUSH_MAX_DATAGRAM])
{
  PushFrame a = { 0 };

  a.type = PUSH_TYPE_ACK;
  a.key_id = c->key_id;
  a.timestamp_ms = g_get_real_time () / 1000;
  a.sequence = ack_sequence (r);
  a.record_id = c->record_id;
  count (r, COUNT_ACKS, c->peer);
  return push_mac_encode (c->key->mac, &a, ack);
}

/* The records to acknowledge to one node (key id and address) in one ACK_LIST frame. */
typedef struct
{
  Completed *first;            /* (unowned) key, address and peer of the list */
  guint n;
  guint8 ids[PUSH_MAX_ACK_IDS * 8];
} AckList;

/* Send @list as one ACK_LIST frame and empty it. */
static void
ack_list_send (Receiver *r,
               AckList  *list)
{
  PushFrame a = { 0 };
  guint8 out[PUSH_MAX_DATAGRAM];
  gsize len;

  if (list->n == 0)
    return;
  a.type = PUSH_TYPE_ACK_LIST;
  a.key_id = list->first->key_id;
  a.timestamp_ms = g_get_real_time () / 1000;
  a.sequence = ack_sequence (r);
  a.payload = list->ids;
  a.payload_len = (gsize) list->n * 8;
  len = push_mac_encode (list->first->key->mac, &a, out);
  g_socket_send_to (r->udp, list->first->from, (const char *) out, len, NULL, NULL);
  list->n = 0;
}

/* Acknowledge the records of a batch whose ack[i] is set: an ACK_LIST frame for at most
 * PUSH_MAX_ACK_IDS records of one node (same key id and address) that takes them
 * (PUSH_FLAG_ACK_LIST), one ACK frame per record otherwise. */
static void
ack_records (Receiver  *r,
             Completed *c,
             guint      n,
             gboolean  *ack)
{
  g_autoptr (GPtrArray) lists = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < n; i++)
    {
      AckList *list = NULL;

      if (!ack[i] || c[i].from == NULL)
        continue;
      if ((c[i].flags & PUSH_FLAG_ACK_LIST) == 0)
        {
          guint8 out[PUSH_MAX_DATAGRAM];
          gsize len = ack_encode (r, &c[i], out);

          g_socket_send_to (r->udp, c[i].from, (const char *) out, len, NULL, NULL);
          continue;
        }
      for (guint l = 0; l < lists->len && list == NULL; l++)
        {
          AckList *o = g_ptr_array_index (lists, l);

          if (o->first->key_id == c[i].key_id && g_str_equal (o->first->peer, c[i].peer))
            list = o;
        }
      if (list == NULL)
        {
          list = g_new (AckList, 1);
          list->first = &c[i];
          list->n = 0;
          g_ptr_array_add (lists, list);
        }
      for (int b = 0; b < 8; b++)
        list->ids[list->n * 8 + b] = (guint8) (c[i].record_id >> (56 - 8 * b));
      list->n++;
      count (r, COUNT_ACKS, c[i].peer);
      if (list->n == PUSH_MAX_ACK_IDS)
        ack_list_send (r, list);
    }
  for (guint l = 0; l < lists->len; l++)
    ack_list_send (r, g_ptr_array_index (lists, l));
}

/* Check one frame and keep its part; TRUE when it completes a record (@done filled:
 * key id, record id, key, whole record). */
static gboolean
take_frame (Receiver     *r,
            const guint8 *data,
            gsize         len,
            const char   *peer,
            Completed    *done)
{
  PushFrame f;
  PushResult res = push_frame_parse (data, len, &f);
  NodeKey *key;
  g_autoptr (GBytes) whole = NULL;
  g_autofree char *rkey = NULL;
  gint64 now_ms = g_get_real_time () / 1000;

  if (res == PUSH_OK && f.type != PUSH_TYPE_RECORD)
    res = PUSH_DROP_MALFORMED;
  if (res != PUSH_OK)
    {
      count (r, res, peer);
      return FALSE;
    }
  key = g_hash_table_lookup (r->keys, GUINT_TO_POINTER (f.key_id));
  if (key == NULL)
    {
      count (r, PUSH_DROP_UNKNOWN_KEY, peer);
      return FALSE;
    }
  if (!push_mac_verify (key->mac, data, len))
    {
      count (r, PUSH_DROP_BAD_HMAC, peer);
      return FALSE;
    }
  if (!push_frame_is_fresh (&f, now_ms))
    {
      count (r, PUSH_DROP_STALE, peer);
      return FALSE;
    }

  rkey = g_strdup_printf ("%u/%" G_GUINT64_FORMAT, f.key_id, f.record_id);
  g_mutex_lock (&r->lock);
  if (!push_replay_accept (&key->window, f.sequence))
    res = PUSH_DROP_REPLAYED;
  else if (f.parts == 1)
    whole = g_bytes_new (f.payload, f.payload_len);
  else
    {
      Reassembly *ra = g_hash_table_lookup (r->reassembly, rkey);

      if (ra != NULL && ra->parts != f.parts)
        {
          g_hash_table_remove (r->reassembly, rkey);
          ra = NULL;
        }
      if (ra == NULL)
        {
          if (g_hash_table_size (r->reassembly) >= PUSH_MAX_PENDING)
            {
              /* Drop the oldest incomplete record: its node resends it whole. */
              GHashTableIter iter;
              gpointer k, v;
              gpointer oldest = NULL;
              gint64 oldest_t = G_MAXINT64;

              g_hash_table_iter_init (&iter, r->reassembly);
              while (g_hash_table_iter_next (&iter, &k, &v))
                if (((Reassembly *) v)->first_seen < oldest_t)
                  {
                    oldest_t = ((Reassembly *) v)->first_seen;
                    oldest = k;
                  }
              g_hash_table_remove (r->reassembly, oldest);
            }
          ra = g_new0 (Reassembly, 1);
          ra->parts = f.parts;
          ra->first_seen = g_get_monotonic_time ();
          g_hash_table_insert (r->reassembly, g_strdup (rkey), ra);
        }
      if (ra->part[f.part] == NULL)
        {
          ra->part[f.part] = g_bytes_new (f.payload, f.payload_len);
          ra->got |= 1u << f.part;
        }
      if (ra->got == (f.parts == 32 ? G_MAXUINT32 : (1u << f.parts) - 1))
        {
          GByteArray *buf = g_byte_array_new ();

          for (guint i = 0; i < ra->parts; i++)
            g_byte_array_append (buf, g_bytes_get_data (ra->part[i], NULL),
                                 (guint) g_bytes_get_size (ra->part[i]));
          whole = g_byte_array_free_to_bytes (buf);
          g_hash_table_remove (r->reassembly, rkey);
        }
    }
  g_mutex_unlock (&r->lock);
  if (res != PUSH_OK)
    {
      count (r, res, peer);
      return FALSE;
    }
  if (whole == NULL)
    return FALSE; /* a part: wait for the others */
  done->key_id = f.key_id;
  done->record_id = f.record_id;
  done->flags = f.flags;
  done->key = key;
  done->whole = g_steal_pointer (&whole);
  return TRUE;
}

static void
expire_reassembly (Receiver *r)
{
  gint64 limit = g_get_monotonic_time () - (gint64) PUSH_REASSEMBLY_SECONDS * G_USEC_PER_SEC;
  GHashTableIter iter;
  gpointer v;

  g_mutex_lock (&r->lock);
  g_hash_table_iter_init (&iter, r->reassembly);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    if (((Reassembly *) v)->first_seen < limit)
      g_hash_table_iter_remove (&iter);
  g_mutex_unlock (&r->lock);
}

static char *
address_text (GSocketAddress *address)
{
  if (G_IS_INET_SOCKET_ADDRESS (address))
    {
      g_autofree char *ip = g_inet_address_to_string (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));

      return g_strdup_printf ("%s:%u", ip,
                              g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
    }
  return g_strdup ("?");
}

/* The store's expiry (PostgreSQL: msgtrk_expire() in the database; files: expired
 * files), every expire_interval seconds, off the UDP thread. */
static gpointer
expire_thread (gpointer data)
{
  Receiver *r = data;

  g_mutex_lock (&r->expire_lock);
  while (!g_atomic_int_get (&r->stop))
    {
      gint64 until = g_get_monotonic_time () + (gint64) r->expire_interval * G_USEC_PER_SEC;

      while (!g_atomic_int_get (&r->stop)
             && g_cond_wait_until (&r->expire_cond, &r->expire_lock, until))
        ;
      if (g_atomic_int_get (&r->stop))
        break;
      g_mutex_unlock (&r->expire_lock);
      {
        guint n = track_store_expire (r->store, g_get_real_time () / G_USEC_PER_SEC);

        if (n > 0)
          g_message ("Expired %u tracking records", n);
      }
      g_mutex_lock (&r->expire_lock);
    }
  g_mutex_unlock (&r->expire_lock);
  return NULL;
}

/* Take the datagrams waiting now (at most PUSH_RECEIVER_BATCH records; fewer than
 * PUSH_RECEIVER_GATHER_MIN: after one wait of at most PUSH_RECEIVER_GATHER_US for more),
 * store the complete records in one go, then send their ACKs. */
static void
udp_batch (Receiver *r)
{
  g_autofree Completed *done = g_new0 (Completed, PUSH_RECEIVER_BATCH);
  gboolean ack_it[PUSH_RECEIVER_BATCH];
  gboolean gathered = FALSE;
  guint n = 0;

  for (guint tries = 0; tries < PUSH_RECEIVER_BATCH * 4 && n < PUSH_RECEIVER_BATCH; tries++)
    {
      /* One octet more than the limit: an oversized datagram is seen as such. */
      guint8 buf[PUSH_MAX_DATAGRAM + 1];
      g_autoptr (GSocketAddress) from = NULL;
      g_autofree char *peer = NULL;
      gssize got;

      got = g_socket_receive_from (r->udp, &from, (char *) buf, sizeof buf, NULL, NULL);
      if (got < 0 && n > 0 && n < PUSH_RECEIVER_GATHER_MIN && !gathered)
        {
          /* A small batch: more may be on the way (the nodes' windows); wait for them once. */
          gathered = TRUE;
          if (g_socket_condition_timed_wait (r->udp, G_IO_IN, PUSH_RECEIVER_GATHER_US, NULL,
                                             NULL))
            continue;
        }
      if (got < 0)
        break;
      peer = address_text (from);
      if (take_frame (r, buf, (gsize) got, peer, &done[n]))
        {
          done[n].from = g_steal_pointer (&from);
          done[n].peer = g_steal_pointer (&peer);
          n++;
        }
    }
  if (n == 0)
    return;
  store_records (r, done, n, ack_it);
  ack_records (r, done, n, ack_it);
  for (guint i = 0; i < n; i++)
    completed_clear (&done[i]);
}

static gpointer
udp_thread (gpointer data)
{
  Receiver *r = data;
  gint64 last_stats = 0;

  while (!g_atomic_int_get (&r->stop))
    {
      gint64 now = g_get_monotonic_time ();

      if (now - last_stats >= G_USEC_PER_SEC)
        {
          last_stats = now;
          write_stats (r, FALSE);
          expire_reassembly (r);
        }
      if (!g_socket_condition_timed_wait (r->udp, G_IO_IN,
                                          (gint64) PUSH_RECEIVER_TICK_MS * 1000, NULL, NULL))
        continue;
      udp_batch (r);
    }
  return NULL;
}

/* The stream form: <2-octet length><frame> … ; ACKs come back the same way. */
static void
on_connection (ServerConnection *server_connection,
               GCancellable     *cancellable,
               gpointer          user_data)
{
  Receiver *r = user_data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *connection = server_connection_get_stream (server_connection, &error);
  GInputStream *in;
  GOutputStream *out;
  g_autoptr (GSocketAddress) remote = NULL;
  g_autofree char *peer = NULL;

  if (connection == NULL)
    {
      g_warning ("A connection could not be served: %s", error->message);
      return;
    }
  in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  remote = g_socket_connection_get_remote_address (connection, NULL);
  peer = remote != NULL ? address_text (remote) : g_strdup ("?");

  g_socket_set_timeout (g_socket_connection_get_socket (connection),
                        PUSH_RECEIVER_STREAM_TIMEOUT);
  for (;;)
    {
      guint8 head[2];
      guint8 buf[PUSH_MAX_DATAGRAM];
      guint8 ack[2 + PUSH_MAX_DATAGRAM];
      gsize got = 0;
      gsize len;
      gsize n;

      if (!g_input_stream_read_all (in, head, 2, &got, cancellable, NULL) || got != 2)
        return;
      len = ((gsize) head[0] << 8) | head[1];
      if (len > PUSH_MAX_DATAGRAM)
        {
          count (r, PUSH_DROP_OVERSIZED, peer);
          return; /* the stream cannot be resynchronised */
        }
      if (!g_input_stream_read_all (in, buf, len, &got, cancellable, NULL) || got != len)
        {
          count (r, PUSH_DROP_TRUNCATED, peer);
          return;
        }
      n = 0;
      {
        Completed done = { 0 };
        gboolean ack_it = FALSE;

        if (take_frame (r, buf, len, peer, &done))
          {
            done.peer = g_strdup (peer);
            store_records (r, &done, 1, &ack_it);
            if (ack_it)
              n = ack_encode (r, &done, ack + 2);
            completed_clear (&done);
          }
      }
      if (n > 0)
        {
          ack[0] = (guint8) (n >> 8);
          ack[1] = (guint8) n;
          if (!g_output_stream_write_all (out, ack, n + 2, NULL, cancellable, NULL))
            return;
        }
    }
}

static gboolean
receiver_configure (gpointer        data,
                    GKeyFile       *kf,
                    const char     *path,
                    ServerSettings *settings,
                    GError        **error)
{
  Receiver *r = data;
  static const char *const known[] = { "listen", "udp_listen", "state_dir", "user",
                                       "stats_file", "expire_interval", NULL };
  guint64 interval;
  const ServerConfigGroup groups[] = {
    { RECEIVER_GROUP, known },
    { RECEIVER_KEYS_GROUP, NULL }, /* node key ids */
    { RECEIVER_STORE_GROUP, NULL }, /* checked by track-store.c */
    { NULL, NULL },
  };
  const ServerConfigString strings[] = {
    { "listen", "127.0.0.1:1039", &r->listen },
    { "udp_listen", "0.0.0.0:1039", &r->udp_listen },
    { "state_dir", RECEIVER_DEFAULT_STATE_DIR, &r->state_dir },
    { "user", NULL, &r->user },
    { "stats_file", NULL, &r->stats_file },
    { NULL, NULL, NULL },
  };

  if (!server_config_check_keys (kf, path, groups, error)
      || !server_config_read_strings (kf, RECEIVER_GROUP, strings, error))
    return FALSE;
  if (!server_config_get_uint (kf, RECEIVER_GROUP, "expire_interval",
                               PUSH_RECEIVER_DEFAULT_EXPIRE_INTERVAL, 0,
                               PUSH_RECEIVER_MAX_EXPIRE_INTERVAL, &interval, error))
    return FALSE;
  r->expire_interval = (guint) interval;
  if (!g_key_file_has_group (kf, RECEIVER_KEYS_GROUP))
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "Configuration: [" RECEIVER_KEYS_GROUP "] lists no node key");
      return FALSE;
    }
  if (!track_store_check_config (kf, error))
    return FALSE;
  r->kf = g_key_file_ref (kf);
  settings->listen = g_strdup (r->listen);
  settings->max_connections = PUSH_RECEIVER_MAX_CONNECTIONS;
  settings->connection_wait = SERVER_LISTENER_DEFAULT_WAIT;
  settings->user = g_strdup (r->user);
  return TRUE;
}

/* As root: the UDP socket (the port may be below 1024). */
static gboolean
receiver_pre_drop (gpointer  data,
                   GError  **error)
{
  Receiver *r = data;
  g_autoptr (GSocketAddress) address = server_config_parse_listen (r->udp_listen, error);

  if (address == NULL)
    return FALSE;
  r->udp = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_DATAGRAM,
                         G_SOCKET_PROTOCOL_UDP, error);
  if (r->udp == NULL)
    return FALSE;
  if (!g_socket_bind (r->udp, address, TRUE, error))
    {
      g_prefix_error (error, "Cannot bind UDP %s: ", r->udp_listen);
      return FALSE;
    }
  g_socket_set_blocking (r->udp, FALSE);
  /* As root, SO_RCVBUFFORCE passes net.core.rmem_max; otherwise SO_RCVBUF, capped by it.
   * Best effort: a smaller buffer only means more resends. */
  if (!g_socket_set_option (r->udp, SOL_SOCKET, SO_RCVBUFFORCE, PUSH_RECEIVER_RCVBUF, NULL))
    g_socket_set_option (r->udp, SOL_SOCKET, SO_RCVBUF, PUSH_RECEIVER_RCVBUF, NULL);
  return TRUE;
}

/* As the service user: node keys (owner-only files), the store, the UDP thread. */
static gboolean
receiver_post_drop (gpointer  data,
                    GError  **error)
{
  Receiver *r = data;
  g_auto (GStrv) ids = g_key_file_get_keys (r->kf, RECEIVER_KEYS_GROUP, NULL, NULL);

  r->keys = g_hash_table_new_full (NULL, NULL, NULL, node_key_free);
  for (char **id = ids; id != NULL && *id != NULL; id++)
    {
      g_autofree char *file = NULL;
      NodeKey *k;
      guint64 v;

      if (!g_ascii_string_to_unsigned (*id, 10, 0, G_MAXUINT16, &v, NULL)
          || g_hash_table_size (r->keys) >= PUSH_RECEIVER_MAX_KEYS)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "Configuration [" RECEIVER_KEYS_GROUP "]: \"%s\" is not a key id "
                       "(0 to 65535; at most %d keys)", *id, PUSH_RECEIVER_MAX_KEYS);
          return FALSE;
        }
      file = server_config_get_string (r->kf, RECEIVER_KEYS_GROUP, *id, NULL, error);
      if (file == NULL)
        {
          if (error != NULL && *error == NULL)
            g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                         "Configuration [" RECEIVER_KEYS_GROUP "] %s: no key file", *id);
          return FALSE;
        }
      {
        gsize len = 0;
        guint8 *key = push_key_load (file, &len, error);

        if (key == NULL)
          return FALSE;
        k = g_new0 (NodeKey, 1);
        k->mac = push_mac_new (key, len);
        push_key_free (key, len);
      }
      g_hash_table_insert (r->keys, GUINT_TO_POINTER ((guint) v), k);
    }
  if (g_hash_table_size (r->keys) == 0)
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "Configuration: [" RECEIVER_KEYS_GROUP "] lists no node key");
      return FALSE;
    }
  r->store = track_store_new_from_config (r->kf, r->state_dir, error);
  if (r->store == NULL)
    return FALSE;
  /* The files store keeps one record per ENVID, not one per (ENVID, node). */
  if (g_hash_table_size (r->keys) > 1
      && g_strcmp0 (track_store_get_backend_name (r->store), "files") == 0)
    g_warning ("%u node keys and the files store: the nodes' records of one ENVID replace "
               "each other there (the latest version wins, whichever node sent it); use "
               "the PostgreSQL store for several nodes (docs/push-protocol.md; one node's "
               "two keys during a rotation lose nothing)",
               g_hash_table_size (r->keys));
  r->reassembly = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, reassembly_free);
  r->thread = g_thread_new ("push-udp", udp_thread, r);
  if (r->expire_interval > 0)
    r->expire_thread = g_thread_new ("push-expire", expire_thread, r);
  return TRUE;
}

static void
receiver_started (gpointer data,
                  guint16  port)
{
  Receiver *r = data;

  g_message ("Receiving on UDP %s and TCP port %u (%u node keys, store %s)", r->udp_listen,
             port, g_hash_table_size (r->keys), track_store_get_backend_name (r->store));
}

static void
receiver_stop (gpointer data)
{
  Receiver *r = data;
  g_autoptr (GString) line = g_string_new (NULL);

  g_atomic_int_set (&r->stop, 1);
  if (r->expire_thread != NULL)
    {
      g_mutex_lock (&r->expire_lock);
      g_cond_signal (&r->expire_cond);
      g_mutex_unlock (&r->expire_lock);
      g_thread_join (r->expire_thread);
      r->expire_thread = NULL;
    }
  if (r->thread != NULL)
    {
      g_thread_join (r->thread);
      r->thread = NULL;
      write_stats (r, TRUE);
      for (guint i = 0; i < N_COUNTS; i++)
        g_string_append_printf (line, " %s=%" G_GUINT64_FORMAT, count_names[i], r->counts[i]);
      g_message ("Counters:%s", line->str);
    }
  g_clear_pointer (&r->reassembly, g_hash_table_destroy);
  g_clear_pointer (&r->keys, g_hash_table_destroy);
  g_clear_object (&r->store);
  g_clear_object (&r->udp);
  g_clear_pointer (&r->kf, g_key_file_unref);
  g_free (r->listen);
  g_free (r->udp_listen);
  g_free (r->state_dir);
  g_free (r->user);
  g_free (r->stats_file);
}

static const ServerProgram receiver_program = {
  .name = "msgtrk-push-receiver",
  .summary = "- receive MTA nodes' pushed tracking records into the tracking store",
  .default_config = RECEIVER_DEFAULT_CONFIG,
  .config_required = TRUE,
  .options = NULL,
  .reject_line = "",
  .serve = on_connection,
  .configure = receiver_configure,
  .pre_drop = receiver_pre_drop,
  .post_drop = receiver_post_drop,
  .started = receiver_started,
  .stop = receiver_stop,
};

int
main (int    argc,
      char **argv)
{
  Receiver r = { 0 };
  int status;

  g_mutex_init (&r.lock);
  g_mutex_init (&r.expire_lock);
  g_cond_init (&r.expire_cond);
  status = server_main (&receiver_program, &r, argc, argv);
  g_cond_clear (&r.expire_cond);
  g_mutex_clear (&r.expire_lock);
  g_mutex_clear (&r.lock);
  return status;
}
