/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-push-proto.c: the push channel's frames, records, replay window and key files
 * (server/push/push-proto.h, docs/push-protocol.md).
 *
 * Round trip of a frame; every check of the receiver at and past its limit: truncated,
 * oversized (PUSH_MAX_DATAGRAM + 1), malformed header, a flipped bit anywhere (HMAC), the
 * wrong key; the record at PUSH_MAX_RECORD and one octet past; the replay window (a
 * repeat, the window's edge, a jump ahead); key files that are group/other readable or too
 * short refused; the node's sender (push-sender.h) at its window: PUSH_SENDER_WINDOW records
 * of a larger spool sent at once, the rest only once those are taken for lost.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

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
    { 5, 1 },    /* flags */
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
                                         "Action: x\n", &error));
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
                                         "Action: x\n", &error));
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
  g_test_add_func ("/push/record", test_record);
  g_test_add_func ("/push/replay-window", test_replay);
  g_test_add_func ("/push/key-file", test_key_file);
  g_test_add_func ("/push/sender/window", test_sender_window);
  g_test_add_func ("/push/sender/wake", test_sender_wake);
  return g_test_run ();
}
