/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-push-proto.c: the push channel's frames, records, replay window and key files
 * (server/push/push-proto.h, docs/push-protocol.md).
 *
 * Round trip of a frame; every check of the receiver at and past its limit: truncated,
 * oversized (PUSH_MAX_DATAGRAM + 1), malformed header, a flipped bit anywhere (HMAC), the
 * wrong key; the record at PUSH_MAX_RECORD and one octet past; the replay window (a
 * repeat, the window's edge, a jump ahead); key files that are group/other readable or too
 * short refused; the node's sender (push-sender.h) at its window: PUSH_SENDER_WINDOW records
 * of a larger spool sent at once, the rest only once those are taken for lost; ACK_LIST
 * frames at PUSH_MAX_ACK_IDS and past it, and the sender against forged, stale, replayed
 * lists, unknown ids and gaps; a PushMac signing as the one-shot HMAC; the spool's
 * segments written ahead with zeros, read back once after a restart.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "msgtrk-private.h"
#include "push-proto.h"
#include "push-sender.h"
#include "test-util.h"

#define AUTH_B "rlvY7+pTIsTZmG0GaAp4E5L5pkI="

static guint8 key1[32];
static guint8 key2[32];

static gsize
make_frame (guint8 out[PUSH_MAX_DATAGRAM], const guint8 *payload, gsize payload_len)
{
  PushFrame f = { 0 };

  f.type = PUSH_TYPE_RECORD;
  f.key_id = 7;
  f.timestamp_ms = 1700000000000;
  f.sequence = 42;
  f.record_id = 99;
  f.part = 0;
  f.parts = 1;
  f.payload = payload;
  f.payload_len = payload_len;
  return push_frame_encode (&f, key1, sizeof key1, out);
}

static void
test_round_trip (void)
{
  guint8 buf[PUSH_MAX_DATAGRAM];
  const guint8 payload[] = "hello";
  gsize n = make_frame (buf, payload, 5);
  PushFrame f;

  g_test_summary ("A frame parses back to its fields and verifies with its key only");
  g_assert_cmpuint (n, ==, PUSH_MIN_DATAGRAM + 5);
  g_assert_cmpint (push_frame_parse (buf, n, &f), ==, PUSH_OK);
  g_assert_cmpuint (f.key_id, ==, 7);
  g_assert_cmpint (f.timestamp_ms, ==, 1700000000000);
  g_assert_cmpuint (f.sequence, ==, 42);
  g_assert_cmpuint (f.record_id, ==, 99);
  g_assert_cmpmem (f.payload, f.payload_len, "hello", 5);
  g_assert_true (push_frame_verify (buf, n, key1, sizeof key1));
  g_assert_false (push_frame_verify (buf, n, key2, sizeof key2));
}

static void
test_limits (void)
{
  guint8 buf[PUSH_MAX_DATAGRAM + 1];
  guint8 payload[PUSH_MAX_PAYLOAD + 1];
  PushFrame f;
  gsize n;

  g_test_summary ("Frames at PUSH_MAX_DATAGRAM pass; one octet more, or less than the "
                  "header, or a length past the end are dropped");
  memset (payload, 'x', sizeof payload);
  n = make_frame (buf, payload, PUSH_MAX_PAYLOAD);
  g_assert_cmpuint (n, ==, PUSH_MAX_DATAGRAM);
  g_assert_cmpint (push_frame_parse (buf, n, &f), ==, PUSH_OK);
  g_assert_cmpuint (make_frame (buf, payload, PUSH_MAX_PAYLOAD + 1), ==, 0);
  buf[PUSH_MAX_DATAGRAM] = 0;
  g_assert_cmpint (push_frame_parse (buf, PUSH_MAX_DATAGRAM + 1, &f), ==, PUSH_DROP_OVERSIZED);
  n = make_frame (buf, payload, 10);
  g_assert_cmpint (push_frame_parse (buf, PUSH_MIN_DATAGRAM - 1, &f), ==, PUSH_DROP_TRUNCATED);
  g_assert_cmpint (push_frame_parse (buf, n - 1, &f), ==, PUSH_DROP_TRUNCATED);
  g_assert_cmpint (push_frame_parse (buf, 0, &f), ==, PUSH_DROP_TRUNCATED);
}

static void
test_malformed (void)
{
  guint8 buf[PUSH_MAX_DATAGRAM];
  guint8 copy[PUSH_MAX_DATAGRAM];
  const guint8 payload[] = "0123456789";
  gsize n = make_frame (buf, payload, 10);
  PushFrame f;
  struct
  {
    gsize offset;
    guint8 value;
  } cases[] = {
    { 0, 'X' },  /* magic */
    { 4, 9 },    /* type */
    { 5, 2 },    /* a flag a receiver does not know */
    { 32, 1 },   /* part index == count */
    { 33, 0 },   /* no parts */
    { 33, PUSH_MAX_PARTS + 1 },
  };

  g_test_summary ("Bad magic, type, flags or part numbers are malformed; any flipped bit "
                  "fails the HMAC");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      memcpy (copy, buf, n);
      copy[cases[i].offset] = cases[i].value;
      g_assert_cmpint (push_frame_parse (copy, n, &f), ==, PUSH_DROP_MALFORMED);
    }
  for (gsize bit = 0; bit < n * 8; bit++)
    {
      memcpy (copy, buf, n);
      copy[bit / 8] ^= (guint8) (1u << (bit % 8));
      g_assert_false (push_frame_verify (copy, n, key1, sizeof key1));
    }
  /* PUSH_FLAG_ACK_LIST: known on a RECORD frame, malformed on an ACK. */
  memcpy (copy, buf, n);
  copy[5] = PUSH_FLAG_ACK_LIST;
  g_assert_cmpint (push_frame_parse (copy, n, &f), ==, PUSH_OK);
  g_assert_cmpuint (f.flags, ==, PUSH_FLAG_ACK_LIST);
  {
    PushFrame a = { .type = PUSH_TYPE_ACK, .key_id = 7, .record_id = 5 };
    gsize m = push_frame_encode (&a, key1, sizeof key1, copy);

    g_assert_cmpint (push_frame_parse (copy, m, &f), ==, PUSH_OK);
    copy[5] = PUSH_FLAG_ACK_LIST;
    g_assert_cmpint (push_frame_parse (copy, m, &f), ==, PUSH_DROP_MALFORMED);
  }
}

/* An ACK_LIST frame of @n record ids (1000 + i) into @out; its length. */
static gsize
make_ack_list (guint8        out[PUSH_MAX_DATAGRAM],
               guint         n,
               const guint8 *key,
               guint64       sequence,
               const guint64 *ids)
{
  guint8 payload[PUSH_MAX_PAYLOAD + 8];
  PushFrame a = { 0 };

  g_assert_cmpuint ((gsize) n * 8, <=, sizeof payload);
  for (guint i = 0; i < n; i++)
    for (int b = 0; b < 8; b++)
      payload[i * 8 + b] = (guint8) ((ids != NULL ? ids[i] : 1000 + i) >> (56 - 8 * b));
  a.type = PUSH_TYPE_ACK_LIST;
  a.key_id = 1;
  a.timestamp_ms = g_get_real_time () / 1000;
  a.sequence = sequence;
  a.payload = payload;
  a.payload_len = (gsize) n * 8;
  return push_frame_encode (&a, key, 32, out);
}

static void
test_ack_list (void)
{
  guint8 buf[PUSH_MAX_DATAGRAM + 8];
  PushFrame f;
  gsize n;

  g_test_summary ("An ACK_LIST frame carries 1 to PUSH_MAX_ACK_IDS record ids; more do not "
                  "fit in a datagram; no ids, a partial id, or a record id, part or count "
                  "of its own are malformed");
  n = make_ack_list (buf, PUSH_MAX_ACK_IDS, key1, 1, NULL);
  g_assert_cmpuint (n, <=, PUSH_MAX_DATAGRAM);
  g_assert_cmpint (push_frame_parse (buf, n, &f), ==, PUSH_OK);
  g_assert_cmpuint (f.type, ==, PUSH_TYPE_ACK_LIST);
  g_assert_cmpuint (f.payload_len / 8, ==, PUSH_MAX_ACK_IDS);
  g_assert_cmpuint (push_ack_list_id (&f, 0), ==, 1000);
  g_assert_cmpuint (push_ack_list_id (&f, PUSH_MAX_ACK_IDS - 1), ==, 1000 + PUSH_MAX_ACK_IDS - 1);
  g_assert_true (push_frame_verify (buf, n, key1, sizeof key1));
  /* One id more than PUSH_MAX_ACK_IDS is more than a payload. */
  g_assert_cmpuint (make_ack_list (buf, PUSH_MAX_ACK_IDS + 1, key1, 1, NULL), ==, 0);
  n = make_ack_list (buf, 1, key1, 1, NULL);
  g_assert_cmpint (push_frame_parse (buf, n, &f), ==, PUSH_OK);
  g_assert_cmpint (push_frame_parse (buf, PUSH_MIN_DATAGRAM, &f), ==, PUSH_DROP_TRUNCATED);
  {
    PushFrame a = { .type = PUSH_TYPE_ACK_LIST, .key_id = 1 };
    const guint8 seven[7] = { 0 };
    const guint8 eight[8] = { 0 };

    g_assert_cmpint (push_frame_parse (buf, push_frame_encode (&a, key1, 32, buf), &f), ==,
                     PUSH_DROP_MALFORMED); /* no ids */
    a.payload = seven;
    a.payload_len = 7;
    g_assert_cmpint (push_frame_parse (buf, push_frame_encode (&a, key1, 32, buf), &f), ==,
                     PUSH_DROP_MALFORMED);
    a.payload = eight;
    a.payload_len = 8;
    a.record_id = 3;
    g_assert_cmpint (push_frame_parse (buf, push_frame_encode (&a, key1, 32, buf), &f), ==,
                     PUSH_DROP_MALFORMED);
    a.record_id = 0;
    a.parts = 1;
    g_assert_cmpint (push_frame_parse (buf, push_frame_encode (&a, key1, 32, buf), &f), ==,
                     PUSH_DROP_MALFORMED);
  }
}

static void
test_mac (void)
{
  g_autoptr (PushMac) mac = push_mac_new (key1, sizeof key1);
  guint8 a[PUSH_MAX_DATAGRAM];
  guint8 b[PUSH_MAX_DATAGRAM];
  const guint8 payload[] = "0123456789";
  PushFrame f = { .type = PUSH_TYPE_RECORD, .key_id = 7, .sequence = 3, .record_id = 9,
                  .parts = 1, .payload = payload, .payload_len = 10 };
  gsize n = push_mac_encode (mac, &f, a);
  guint8 reference[PUSH_MAC_SIZE];
  unsigned int reference_len = sizeof reference;

  g_test_summary ("A PushMac (key pads hashed once) signs and verifies as OpenSSL's "
                  "one-shot HMAC: the same octets, a flipped bit or another key refused");
  g_assert_cmpuint (n, >, PUSH_MAC_SIZE);
  g_assert_nonnull (HMAC (EVP_sha256 (), key1, sizeof key1, a, n - PUSH_MAC_SIZE, reference,
                          &reference_len));
  g_assert_cmpmem (a + n - PUSH_MAC_SIZE, PUSH_MAC_SIZE, reference, reference_len);
  g_assert_cmpuint (push_frame_encode (&f, key1, sizeof key1, b), ==, n);
  g_assert_cmpmem (a, n, b, n);
  g_assert_true (push_mac_verify (mac, a, n));
  for (gsize bit = 0; bit < n * 8; bit += 7)
    {
      memcpy (b, a, n);
      b[bit / 8] ^= (guint8) (1u << (bit % 8));
      g_assert_false (push_mac_verify (mac, b, n));
    }
  n = push_frame_encode (&f, key2, sizeof key2, b);
  g_assert_false (push_mac_verify (mac, b, n));
  g_assert_false (push_mac_verify (mac, b, PUSH_MIN_DATAGRAM - 1));
}

static void
test_record (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *envid = NULL;
  g_autofree char *auth = NULL;
  g_autofree char *fields = NULL;
  g_autofree char *big = NULL;
  gint64 expires = 0;
  gint64 version = 0;
  gsize overhead = 1 + 5 + 28 + 16;

  g_test_summary ("A record round-trips; PUSH_MAX_RECORD octets pass, one more is refused");
  bytes = push_record_encode ("e@x.y", AUTH_B, 123, 456, "Action: x\n", &error);
  g_assert_no_error (error);
  g_assert_true (push_record_decode (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                     &envid, &auth, &expires, &version, &fields, &error));
  g_assert_cmpstr (envid, ==, "e@x.y");
  g_assert_cmpstr (auth, ==, AUTH_B);
  g_assert_cmpint (expires, ==, 123);
  g_assert_cmpint (version, ==, 456);
  g_assert_cmpstr (fields, ==, "Action: x\n");
  g_clear_pointer (&bytes, g_bytes_unref);

  big = g_strnfill (PUSH_MAX_RECORD - overhead, 'f');
  bytes = push_record_encode ("e@x.y", AUTH_B, 1, 1, big, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, PUSH_MAX_RECORD);
  g_clear_pointer (&big, g_free);
  big = g_strnfill (PUSH_MAX_RECORD - overhead + 1, 'f');
  g_assert_null (push_record_encode ("e@x.y", AUTH_B, 1, 1, big, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_clear_error (&error);

  /* Truncated records and NULs are refused. */
  g_assert_false (push_record_decode ((const guint8 *) "\x05" "e@x", 4, &envid, &auth,
                                      &expires, &version, &fields, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
}

static void
test_replay (void)
{
  PushReplayWindow w = { 0 };

  g_test_summary ("Each sequence is accepted once; older than the window is refused; a "
                  "jump ahead clears the window");
  g_assert_true (push_replay_accept (&w, 5000));
  g_assert_false (push_replay_accept (&w, 5000));
  g_assert_true (push_replay_accept (&w, 4999));
  g_assert_false (push_replay_accept (&w, 4999));
  g_assert_true (push_replay_accept (&w, 5000 - PUSH_REPLAY_WINDOW + 1));
  g_assert_false (push_replay_accept (&w, 5000 - PUSH_REPLAY_WINDOW));
  g_assert_true (push_replay_accept (&w, 5001));
  g_assert_true (push_replay_accept (&w, 5000 + 10 * PUSH_REPLAY_WINDOW));
  g_assert_false (push_replay_accept (&w, 5001));
  g_assert_true (push_replay_accept (&w, 5000 + 10 * PUSH_REPLAY_WINDOW - 1));
  g_assert_false (push_replay_accept (&w, 5000 + 10 * PUSH_REPLAY_WINDOW - 1));
}

/* A frame stamped @now_us with @sequence, as a peer's push_frame_is_fresh() sees it. */
static gboolean
sequence_is_fresh (guint64 sequence,
                   gint64  now_us)
{
  PushFrame f = { 0 };

  f.timestamp_ms = now_us / 1000;
  f.sequence = sequence;
  return push_frame_is_fresh (&f, now_us / 1000);
}

static void
test_sequence (void)
{
  const gint64 t = G_GINT64_CONSTANT (1796601600000000); /* 2026-12-07, in microseconds */
  const gint64 skew_us = PUSH_MAX_SKEW_MS * 1000;
  guint64 last = 0;
  guint64 v;

  g_test_summary ("Sequences follow the clock, strictly increase within a burst and across "
                  "a clock set back by up to PUSH_MAX_SKEW_MS, and start again from the "
                  "clock when they ran further ahead than a peer takes");
  g_assert_cmpuint (push_next_sequence (&last, t), ==, (guint64) t);
  /* A burst within one microsecond. */
  g_assert_cmpuint (push_next_sequence (&last, t), ==, (guint64) t + 1);
  g_assert_cmpuint (push_next_sequence (&last, t), ==, (guint64) t + 2);
  g_assert_cmpuint (last, ==, (guint64) t + 2);
  g_assert_cmpuint (push_next_sequence (&last, t + 10), ==, (guint64) t + 10);

  /* The clock set back so that the last + 1 is just the skew ahead: still above the last,
   * still fresh for a peer. */
  last = (guint64) t;
  v = push_next_sequence (&last, t - skew_us + 1);
  g_assert_cmpuint (v, ==, (guint64) t + 1);
  g_assert_true (sequence_is_fresh (v, t - skew_us + 1000));

  /* One microsecond further back: the last + 1 would be past what a peer takes (frames
   * refused as stale until the clock caught up); start from the clock. */
  last = (guint64) t;
  v = push_next_sequence (&last, t - skew_us);
  g_assert_cmpuint (v, ==, (guint64) (t - skew_us));
  g_assert_cmpuint (last, ==, v);
  g_assert_true (sequence_is_fresh (v, t - skew_us));
  g_assert_false (sequence_is_fresh ((guint64) t + 1, t - skew_us - 1000));

  /* Set back by a day: from the clock, then increasing again. */
  last = (guint64) t;
  g_assert_cmpuint (push_next_sequence (&last, t - (gint64) G_USEC_PER_SEC * 86400), ==,
                    (guint64) (t - (gint64) G_USEC_PER_SEC * 86400));
  g_assert_cmpuint (push_next_sequence (&last, t - (gint64) G_USEC_PER_SEC * 86400), ==,
                    (guint64) (t - (gint64) G_USEC_PER_SEC * 86400) + 1);

  /* A clock before the epoch (a broken RTC) gives small, still increasing sequences. */
  last = 0;
  g_assert_cmpuint (push_next_sequence (&last, -5), ==, 1);
  g_assert_cmpuint (push_next_sequence (&last, -5), ==, 2);
}

static void
test_key_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *path = g_build_filename (dir, "node.key", NULL);
  g_autofree char *text = g_base64_encode (key1, sizeof key1);
  g_autofree char *short_text = g_base64_encode (key1, PUSH_MIN_KEY - 1);
  guint8 *key;
  gsize len = 0;

  g_test_summary ("A key file must be owner-only and hold at least PUSH_MIN_KEY octets");
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_assert_cmpint (g_chmod (path, 0640), ==, 0);
  g_assert_null (push_key_load (path, &len, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED);
  g_assert_null (strstr (error->message, text));
  g_clear_error (&error);
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  key = push_key_load (path, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (key, len, key1, sizeof key1);
  push_key_free (key, len);
  g_assert_true (g_file_set_contents (path, short_text, -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_assert_null (push_key_load (path, &len, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  mt_tmpdir_remove (dir);
}

/* Distinct record ids of the RECORD frames received on @sock until @until (monotonic µs). */
static guint
count_records (GSocket    *sock,
               GHashTable *seen,
               gint64      until)
{
  while (g_get_monotonic_time () < until)
    {
      guint8 buf[PUSH_MAX_DATAGRAM + 1];
      gssize n;
      PushFrame f;

      if (!g_socket_condition_timed_wait (sock, G_IO_IN, until - g_get_monotonic_time (),
                                          NULL, NULL))
        break;
      n = g_socket_receive (sock, (char *) buf, sizeof buf, NULL, NULL);
      if (n > 0 && push_frame_parse (buf, (gsize) n, &f) == PUSH_OK
          && f.type == PUSH_TYPE_RECORD)
        g_hash_table_add (seen, g_memdup2 (&f.record_id, sizeof f.record_id));
    }
  return g_hash_table_size (seen);
}

/* A node's key file in @dir (owner-only, key1) and a UDP socket on loopback standing in for
 * the receiver (non-blocking, a 4 MiB buffer): *@key_path and *@server ("127.0.0.1:PORT")
 * for push_sender_new(). */
static GSocket *
fake_receiver_open (const char *dir,
                    char      **key_path,
                    char      **server)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = g_base64_encode (key1, sizeof key1);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  GSocket *sock;

  *key_path = g_build_filename (dir, "node.key", NULL);
  g_assert_true (g_file_set_contents (*key_path, text, -1, NULL));
  g_assert_cmpint (g_chmod (*key_path, 0600), ==, 0);
  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP,
                       &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (sock, any, TRUE, &error));
  g_socket_set_blocking (sock, FALSE);
  g_socket_set_option (sock, SOL_SOCKET, SO_RCVBUF, 4 * 1024 * 1024, NULL);
  bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  *server = g_strdup_printf ("127.0.0.1:%u",
                             g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  return sock;
}

static void
test_sender_window (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *key_path = NULL;
  g_autofree char *server = NULL;
  g_autoptr (GSocket) sock = fake_receiver_open (dir, &key_path, &server);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                                       NULL);
  guint total = PUSH_SENDER_WINDOW + 20;
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 3600;
  PushSender *sender;

  g_test_summary ("A node sends at most PUSH_SENDER_WINDOW unacknowledged records at once "
                  "(a full spool is not one burst), and the rest once they are taken for lost");

  /* Spool them all first (never acknowledged), then start a sender on that spool. */
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < total; i++)
    {
      g_autofree char *envid = g_strdup_printf ("w%u@x.y", i);

      g_assert_true (push_sender_submit (sender, envid, AUTH_B, expires, 1000 + i,
                                         "Action: x\n", NULL, &error));
      g_assert_no_error (error);
    }
  push_sender_free (sender);
  count_records (sock, seen, g_get_monotonic_time () + 100 * 1000);
  g_hash_table_remove_all (seen);

  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  /* Within PUSH_RESEND_MIN_MS of the first send: the window exactly. */
  g_assert_true (g_socket_condition_timed_wait (sock, G_IO_IN, 10 * G_USEC_PER_SEC, NULL,
                                                NULL));
  g_assert_cmpuint (count_records (sock, seen, g_get_monotonic_time ()
                                                 + PUSH_RESEND_MIN_MS * 1000 * 8 / 10),
                    ==, PUSH_SENDER_WINDOW);
  /* Past it the first ones count as lost and the rest go. */
  g_assert_cmpuint (count_records (sock, seen, g_get_monotonic_time ()
                                                 + 3 * PUSH_RESEND_MIN_MS * 1000),
                    ==, total);
  g_assert_cmpuint (push_sender_pending (sender), ==, total);
  push_sender_free (sender);
  mt_tmpdir_remove (dir);
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

/* Rounds of the wake-up test; an odd number (its median is one of them). */
#define WAKE_ROUNDS 9

static void
test_sender_wake (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *key_path = NULL;
  g_autofree char *server = NULL;
  g_autoptr (GSocket) sock = fake_receiver_open (dir, &key_path, &server);
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 3600;
  double delay_ms[WAKE_ROUNDS];
  PushSender *sender;

  g_test_summary ("A record submitted while the sender thread is idle (nothing in flight) "
                  "is sent at once (the submit wakes it), not at its next tick");
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < WAKE_ROUNDS; i++)
    {
      g_autofree char *envid = g_strdup_printf ("wake%u@x.y", i);
      guint8 buf[PUSH_MAX_DATAGRAM + 1];
      gint64 t0;

      /* The sender idle, at another point of its tick each round. */
      g_usleep ((120 + 11 * i) * 1000);
      g_assert_true (push_sender_submit (sender, envid, AUTH_B, expires, 1000 + i,
                                         "Action: x\n", NULL, &error));
      g_assert_no_error (error);
      t0 = g_get_monotonic_time ();
      g_assert_true (g_socket_condition_timed_wait (sock, G_IO_IN, 5 * G_USEC_PER_SEC, NULL,
                                                    NULL));
      delay_ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
      for (;;)
        {
          /* Acknowledged, as a receiver does: nothing stays in flight. */
          g_autoptr (GSocketAddress) from = NULL;
          gssize n = g_socket_receive_from (sock, &from, (char *) buf, sizeof buf, NULL, NULL);
          PushFrame f, a = { 0 };
          guint8 ack[PUSH_MAX_DATAGRAM];
          gsize len;

          if (n <= 0)
            break;
          g_assert_cmpint (push_frame_parse (buf, (gsize) n, &f), ==, PUSH_OK);
          a.type = PUSH_TYPE_ACK;
          a.key_id = 1;
          a.timestamp_ms = g_get_real_time () / 1000;
          a.sequence = (guint64) g_get_real_time ();
          a.record_id = f.record_id;
          len = push_frame_encode (&a, key1, sizeof key1, ack);
          g_assert_cmpint (g_socket_send_to (sock, from, (const char *) ack, len, NULL, NULL),
                           ==, (gssize) len);
        }
    }
  /* Every record acknowledged: the spool is empty. */
  for (guint t = 0; t < 100 && push_sender_pending (sender) > 0; t++)
    g_usleep (20 * 1000);
  g_assert_cmpuint (push_sender_pending (sender), ==, 0);
  qsort (delay_ms, WAKE_ROUNDS, sizeof delay_ms[0], compare_doubles);
  g_test_message ("submit to datagram: median %.2f ms, most %.2f ms",
                  delay_ms[WAKE_ROUNDS / 2], delay_ms[WAKE_ROUNDS - 1]);
  /* At the tick (PUSH_SENDER_TICK_MS, 100 ms) the median would be about 50 ms. */
  g_assert_cmpfloat (delay_ms[WAKE_ROUNDS / 2], <, 20.0);
  push_sender_free (sender);
  mt_tmpdir_remove (dir);
}

/* Send @len octets of @frame to the sender at @to, then give its thread time to take it
 * (one thread takes the ACKs in order: a later wait_pending() covers this one too). */
static void
ack_send (GSocket        *sock,
          GSocketAddress *to,
          const guint8   *frame,
          gsize           len)
{
  g_assert_cmpint (g_socket_send_to (sock, to, (const char *) frame, len, NULL, NULL), ==,
                   (gssize) len);
  g_usleep (100 * 1000);
}

/* Wait up to 10 s for the sender to hold @expected records; asserts it then does. */
static void
wait_pending (PushSender *sender,
              guint       expected)
{
  for (guint t = 0; t < 500 && push_sender_pending (sender) != expected; t++)
    g_usleep (20 * 1000);
  g_assert_cmpuint (push_sender_pending (sender), ==, expected);
}

/* Records of the sender's ACK_LIST test, spooled and sent once each before any ACK. */
#define ACK_RECORDS 8

static void
test_sender_ack_list (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *key_path = NULL;
  g_autofree char *server = NULL;
  g_autoptr (GSocket) sock = fake_receiver_open (dir, &key_path, &server);
  g_autoptr (GSocketAddress) node = NULL;
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 3600;
  guint64 ids[ACK_RECORDS];
  guint8 buf[PUSH_MAX_DATAGRAM + 1];
  guint8 ack[PUSH_MAX_DATAGRAM];
  guint64 seq = (guint64) g_get_real_time ();
  guint got = 0;
  PushSender *sender;
  gsize n;

  g_test_summary ("The node asks for ACK lists on a first send (not on a resend) and "
                  "forgets exactly the records a verified ACK_LIST names: forged, stale "
                  "and replayed lists, unknown ids and ids around a gap change nothing else");
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < ACK_RECORDS; i++)
    {
      g_autofree char *envid = g_strdup_printf ("list%u@x.y", i);

      g_assert_true (push_sender_submit (sender, envid, AUTH_B, expires, 5000 + i,
                                         "Action: x\n", &ids[i], &error));
      g_assert_no_error (error);
    }
  /* First sends: every frame flagged. */
  while (got < ACK_RECORDS
         && g_socket_condition_timed_wait (sock, G_IO_IN, 5 * G_USEC_PER_SEC, NULL, NULL))
    {
      g_autoptr (GSocketAddress) from = NULL;
      gssize r = g_socket_receive_from (sock, &from, (char *) buf, sizeof buf, NULL, NULL);
      PushFrame f;

      if (r <= 0)
        continue;
      g_assert_cmpint (push_frame_parse (buf, (gsize) r, &f), ==, PUSH_OK);
      g_assert_cmpuint (f.flags, ==, PUSH_FLAG_ACK_LIST);
      g_set_object (&node, from);
      got++;
    }
  g_assert_cmpuint (got, ==, ACK_RECORDS);

  /* Forged (another key), stale (timestamp past PUSH_MAX_SKEW_MS): nothing forgotten. */
  n = make_ack_list (ack, ACK_RECORDS, key2, ++seq, ids);
  ack_send (sock, node, ack, n);
  g_assert_cmpuint (push_sender_pending (sender), ==, ACK_RECORDS);
  {
    guint8 payload[8];
    PushFrame a = { .type = PUSH_TYPE_ACK_LIST, .key_id = 1, .sequence = ++seq,
                    .payload = payload, .payload_len = 8,
                    .timestamp_ms = g_get_real_time () / 1000 - PUSH_MAX_SKEW_MS - 1000 };

    for (int b = 0; b < 8; b++)
      payload[b] = (guint8) (ids[0] >> (56 - 8 * b));
    ack_send (sock, node, ack, push_frame_encode (&a, key1, sizeof key1, ack));
    g_assert_cmpuint (push_sender_pending (sender), ==, ACK_RECORDS);
  }
  /* Ids around a gap, and ids never spooled: only the named spooled ones go. */
  {
    guint64 some[] = { ids[0], ids[2], 42, ids[4], 77 };

    n = make_ack_list (ack, G_N_ELEMENTS (some), key1, ++seq, some);
    ack_send (sock, node, ack, n);
    wait_pending (sender, ACK_RECORDS - 3);
  }
  /* The same list again (replayed): it names only records already forgotten (stored at
   * the receiver); nothing else goes. */
  ack_send (sock, node, ack, n);
  g_assert_cmpuint (push_sender_pending (sender), ==, ACK_RECORDS - 3);
  /* A single ACK (type 2, as older receivers send) still counts. */
  {
    PushFrame a = { .type = PUSH_TYPE_ACK, .key_id = 1, .sequence = ++seq,
                    .record_id = ids[1], .timestamp_ms = g_get_real_time () / 1000 };

    ack_send (sock, node, ack, push_frame_encode (&a, key1, sizeof key1, ack));
    wait_pending (sender, ACK_RECORDS - 4);
  }
  /* Unacknowledged past PUSH_RESEND_MIN_MS: resent, without the flag. */
  g_assert_true (g_socket_condition_timed_wait (sock, G_IO_IN,
                                                3 * PUSH_RESEND_MIN_MS * 1000, NULL, NULL));
  {
    gssize r = g_socket_receive (sock, (char *) buf, sizeof buf, NULL, NULL);
    PushFrame f;

    g_assert_cmpint (r, >, 0);
    g_assert_cmpint (push_frame_parse (buf, (gsize) r, &f), ==, PUSH_OK);
    g_assert_cmpuint (f.flags, ==, 0);
  }
  /* The rest in one list: the spool is empty. */
  n = make_ack_list (ack, ACK_RECORDS, key1, ++seq, ids);
  ack_send (sock, node, ack, n);
  wait_pending (sender, 0);
  push_sender_free (sender);
  mt_tmpdir_remove (dir);
}

/* A segment of the node's spool after a crash: the zeros written ahead of the appends end
 * it, so its records are sent again and nothing else. */
static void
test_sender_spool_zeros (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *key_path = NULL;
  g_autofree char *server = NULL;
  g_autoptr (GSocket) sock = fake_receiver_open (dir, &key_path, &server);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                                       NULL);
  g_autofree char *spool = g_build_filename (dir, "push-spool", NULL);
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autoptr (GDir) d = NULL;
  const char *name;
  PushSender *sender;
  guint segments = 0;

  g_test_summary ("The spool's segments are written ahead with zeros; a restarted node "
                  "reads each record once and stops at the zeros");
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *envid = g_strdup_printf ("z%u@x.y", i);

      g_assert_true (push_sender_submit (sender, envid, AUTH_B, expires, 7000 + i,
                                         "Action: x\n", NULL, &error));
    }
  push_sender_free (sender);
  d = g_dir_open (spool, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (spool, name, NULL);
      GStatBuf st;

      if (!g_str_has_suffix (name, ".log"))
        continue; /* the record-id floor */
      g_assert_cmpint (g_stat (path, &st), ==, 0);
      g_assert_cmpint (st.st_size, ==, PUSH_SPOOL_PREALLOC_MIN);
      segments++;
    }
  g_assert_cmpuint (segments, ==, 1);
  count_records (sock, seen, g_get_monotonic_time () + 100 * 1000);
  g_hash_table_remove_all (seen);
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (push_sender_pending (sender), ==, 3);
  g_assert_cmpuint (count_records (sock, seen, g_get_monotonic_time () + 500 * 1000), ==, 3);
  push_sender_free (sender);
  mt_tmpdir_remove (dir);
}

/* Records of the segment-limit test: large ones, enough to fill more than one segment. */
#define BIG_FIELDS_OCTETS (PUSH_MAX_RECORD - 200)
#define BIG_RECORDS (PUSH_SPOOL_SEGMENT_MAX / BIG_FIELDS_OCTETS + 10)

static void
test_sender_segment_limit (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *key_path = NULL;
  g_autofree char *server = NULL;
  g_autoptr (GSocket) sock = fake_receiver_open (dir, &key_path, &server);
  g_autofree char *spool = g_build_filename (dir, "push-spool", NULL);
  g_autofree char *fields = NULL;
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autoptr (GDir) d = NULL;
  const char *name;
  PushSender *sender;
  guint segments = 0;
  goffset total = 0;
  goffset largest = 0;
  gboolean seen_three = FALSE;

  g_test_summary ("Zeros are written ahead doubling up to PUSH_SPOOL_PREALLOC_MAX at a time, "
                  "then by that much, up to PUSH_SPOOL_SEGMENT_MAX and never past it: a full "
                  "segment has exactly that size, the next record starts a new one, and a "
                  "restarted node reads every record of both");
  {
    GString *f = g_string_new ("Action: x\n");

    while (f->len < BIG_FIELDS_OCTETS)
      g_string_append (f, "X-Padding: 0123456789abcdef0123456789abcdef\n");
    g_string_truncate (f, BIG_FIELDS_OCTETS);
    fields = g_string_free (f, FALSE);
  }
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < BIG_RECORDS; i++)
    {
      g_autofree char *envid = g_strdup_printf ("big%u@x.y", i);
      g_autofree char *first = g_build_filename (spool, "0000000000000001.log", NULL);
      GStatBuf st;

      g_assert_true (push_sender_submit (sender, envid, AUTH_B, expires, 9000 + i, fields,
                                         NULL, &error));
      g_assert_no_error (error);
      /* The first segment's size after each append: PUSH_SPOOL_PREALLOC_MIN doubling to
       * PUSH_SPOOL_PREALLOC_MAX, then one PUSH_SPOOL_PREALLOC_MAX more at a time. */
      if (g_stat (first, &st) == 0)
        {
          goffset sz = st.st_size;

          g_assert_cmpint (sz, <=, PUSH_SPOOL_SEGMENT_MAX);
          if (sz > PUSH_SPOOL_PREALLOC_MAX)
            g_assert_cmpint (sz % PUSH_SPOOL_PREALLOC_MAX, ==, 0);
          else
            g_assert_cmpint (sz & (sz - 1), ==, 0); /* a power of two */
          g_assert_cmpint (sz, >=, PUSH_SPOOL_PREALLOC_MIN);
          seen_three |= sz == 3 * PUSH_SPOOL_PREALLOC_MAX;
        }
    }
  g_assert_true (seen_three); /* past PUSH_SPOOL_PREALLOC_MAX: 2 MiB -> 3 MiB, not 4 */
  push_sender_free (sender);
  d = g_dir_open (spool, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (spool, name, NULL);
      GStatBuf st;

      if (!g_str_has_suffix (name, ".log"))
        continue; /* the record-id floor */
      g_assert_cmpint (g_stat (path, &st), ==, 0);
      g_assert_cmpint (st.st_size, <=, PUSH_SPOOL_SEGMENT_MAX);
      total += st.st_size;
      largest = MAX (largest, st.st_size);
      segments++;
    }
  g_assert_cmpuint (segments, ==, 2);
  /* The first is full to the octet; the second holds the rest, written ahead. */
  g_assert_cmpint (largest, ==, PUSH_SPOOL_SEGMENT_MAX);
  g_assert_cmpint (total, >, PUSH_SPOOL_SEGMENT_MAX);
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (push_sender_pending (sender), ==, BIG_RECORDS);
  push_sender_free (sender);
  (void) sock;
  mt_tmpdir_remove (dir);
}

/* A key file is base64 (docs/push-protocol.md, "Keys"; wrapped over lines as base64(1)
 * writes a long key), of at most PUSH_MAX_KEY octets: text that is not base64 (a
 * passphrase) is refused, not decoded into whatever g_base64_decode makes of it
 * (session 20 review). */
static void
test_key_file_syntax (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *path = g_build_filename (dir, "node.key", NULL);
  guint8 max_key[PUSH_MAX_KEY + 1];
  g_autofree char *at_max = NULL;
  g_autofree char *past_max = NULL;
  g_autofree char *two_lines = NULL;
  g_autofree char *b64 = g_base64_encode (key1, sizeof key1);
  const char *passphrase = "correct horse battery staple, correct horse battery staple!";
  guint8 *key;
  gsize len = 0;

  g_test_summary ("A key file that is not base64 is refused, one wrapped over lines is "
                  "read; PUSH_MAX_KEY octets at and past the limit");
  memset (max_key, 0x5a, sizeof max_key);
  at_max = g_base64_encode (max_key, PUSH_MAX_KEY);
  past_max = g_base64_encode (max_key, PUSH_MAX_KEY + 1);
  g_assert_true (g_file_set_contents (path, at_max, -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  key = push_key_load (path, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len, ==, PUSH_MAX_KEY);
  push_key_free (key, len);
  g_assert_true (g_file_set_contents (path, past_max, -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_assert_null (push_key_load (path, &len, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (path, passphrase, -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  key = push_key_load (path, &len, &error);
  if (key != NULL)
    push_key_free (key, len);
  g_assert_null (key); /* it was decoded as if it were base64 */
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);

  two_lines = g_strdup_printf ("%.*s\n%s\n", 20, b64, b64 + 20);
  g_assert_true (g_file_set_contents (path, two_lines, -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  key = push_key_load (path, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (key, len, key1, sizeof key1);
  push_key_free (key, len);
  mt_tmpdir_remove (dir);
}

/* The sender names each record itself: two records submitted with the same version (a
 * version written above a loaded one can equal another record's) get two ids, and both
 * wait for their ACK (the id was the version: the sender kept only the second; session
 * 20 review). Ids rise, also across a restart on the same spool. */
static void
test_record_id_unique (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *key_path = NULL;
  g_autofree char *server = NULL;
  g_autoptr (GSocket) sock = fake_receiver_open (dir, &key_path, &server);
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 3600;
  guint64 a = 0, b = 0, c = 0;
  PushSender *sender;

  g_test_summary ("Two records of the same version get their own record ids; ids rise "
                  "across a restart");
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  g_assert_true (push_sender_submit (sender, "one@x.y", AUTH_B, expires, 4242,
                                     "Action: x\n", &a, &error));
  g_assert_true (push_sender_submit (sender, "two@x.y", AUTH_B, expires, 4242,
                                     "Action: x\n", &b, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (b, >, a);
  g_assert_cmpuint (push_sender_pending (sender), ==, 2);
  push_sender_free (sender);
  /* Restarted on the spool: the two kept, a new id above both. */
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (push_sender_pending (sender), ==, 2);
  g_assert_true (push_sender_submit (sender, "three@x.y", AUTH_B, expires, 4242,
                                     "Action: x\n", &c, &error));
  g_assert_cmpuint (c, >, b);
  g_assert_cmpuint (push_sender_pending (sender), ==, 3);
  push_sender_free (sender);
  mt_tmpdir_remove (dir);
}

/* Remove the spool's segments, as if every record had been acknowledged. */
static void
spool_drain (const char *dir)
{
  g_autofree char *spool = g_build_filename (dir, "push-spool", NULL);
  g_autoptr (GDir) d = g_dir_open (spool, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".log"))
      {
        g_autofree char *path = g_build_filename (spool, name, NULL);

        g_assert_cmpint (g_unlink (path), ==, 0);
      }
}

static void
test_record_id_floor (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *key_path = NULL;
  g_autofree char *server = NULL;
  g_autoptr (GSocket) sock = fake_receiver_open (dir, &key_path, &server);
  g_autofree char *floor_path = g_build_filename (dir, "push-spool", "record-id", NULL);
  g_autofree char *text = NULL;
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 3600;
  guint64 now = (guint64) g_get_real_time ();
  /* Ids an earlier run gave with its clock a day ahead (this clock is set back since). */
  guint64 ahead = now + (guint64) G_USEC_PER_SEC * 86400;
  guint64 a = 0, b = 0, floor = 0;
  PushSender *sender;

  g_test_summary ("Record ids never repeat across a restart with an empty spool, even with "
                  "the clock set back: they start at the durable floor an earlier run "
                  "wrote, which is extended before an id reaches it; a floor that is not "
                  "a number stops the node with the file's name");
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  g_assert_true (push_sender_submit (sender, "one@x.y", AUTH_B, expires, 1, "Action: x\n",
                                     &a, &error));
  g_assert_no_error (error);
  push_sender_free (sender);
  g_assert_true (g_file_get_contents (floor_path, &text, NULL, NULL));
  g_assert_true (g_ascii_string_to_unsigned (g_strchomp (text), 10, 0, G_MAXUINT64, &floor,
                                             NULL));
  g_assert_cmpuint (floor, >, a);
  g_clear_pointer (&text, g_free);

  /* The earlier run's ids were a day ahead; every record acknowledged (spool empty). */
  text = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", ahead);
  g_assert_true (g_file_set_contents (floor_path, text, -1, NULL));
  g_clear_pointer (&text, g_free);
  spool_drain (dir);
  sender = push_sender_new (dir, server, 1, key_path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (push_sender_pending (sender), ==, 0);
  g_assert_true (push_sender_submit (sender, "two@x.y", AUTH_B, expires, 1, "Action: x\n",
                                     &b, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (b, >=, ahead);
  push_sender_free (sender);
  /* The floor moved above the id before it was given. */
  g_assert_true (g_file_get_contents (floor_path, &text, NULL, NULL));
  g_assert_true (g_ascii_string_to_unsigned (g_strchomp (text), 10, 0, G_MAXUINT64, &floor,
                                             NULL));
  g_assert_cmpuint (floor, >, b);
  g_clear_pointer (&text, g_free);

  /* Not a number: the node does not start, and says which file. */
  g_assert_true (g_file_set_contents (floor_path, "12x\n", -1, NULL));
  g_assert_null (push_sender_new (dir, server, 1, key_path, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, floor_path));
  g_clear_error (&error);
  mt_tmpdir_remove (dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < sizeof key1; i++)
    {
      key1[i] = (guint8) i;
      key2[i] = (guint8) (i + 1);
    }
  g_test_add_func ("/push/frame/round-trip", test_round_trip);
  g_test_add_func ("/push/frame/limits", test_limits);
  g_test_add_func ("/push/frame/malformed", test_malformed);
  g_test_add_func ("/push/frame/ack-list", test_ack_list);
  g_test_add_func ("/push/mac", test_mac);
  g_test_add_func ("/push/record", test_record);
  g_test_add_func ("/push/replay-window", test_replay);
  g_test_add_func ("/push/sequence", test_sequence);
  g_test_add_func ("/push/key-file", test_key_file);
  g_test_add_func ("/push/key-file/syntax", test_key_file_syntax);
  g_test_add_func ("/push/record-id/unique", test_record_id_unique);
  g_test_add_func ("/push/record-id/floor", test_record_id_floor);
  g_test_add_func ("/push/sender/window", test_sender_window);
  g_test_add_func ("/push/sender/wake", test_sender_wake);
  g_test_add_func ("/push/sender/ack-list", test_sender_ack_list);
  g_test_add_func ("/push/sender/spool-zeros", test_sender_spool_zeros);
  g_test_add_func ("/push/sender/segment-limit", test_sender_segment_limit);
  return g_test_run ();
}
