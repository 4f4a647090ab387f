/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-relay-queue.c: unit tests of msgtrk-relay's scheduler (server/relay/relay-queue.c).
 *
 * What: the workers take waiting messages in order of their earliest due recipient, then
 * id (the GSequence priority queue); a message whose attempt leaves recipients pending is
 * placed again by its new due time, behind messages due earlier; done messages leave the
 * queue. One worker, so the order of deliveries is the order of picks.
 * How: a queue in a temporary directory with a delivery callback that records ids; every
 * wait is bounded (WAIT_MAX_SECONDS).
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "relay-queue.h"
#include "test-util.h"

#define WAIT_MAX_SECONDS 20

typedef struct
{
  GMutex lock;
  GPtrArray *ids;         /* (element-type utf8) in delivery order */
  gint64 retry_at;        /* for "retry": the next attempt of its first delivery */
} Recorder;

static void
record_deliver (RelayMessage *msg,
                gpointer      worker,
                gpointer      user_data)
{
  Recorder *rec = user_data;
  gboolean retry = g_str_has_prefix (msg->id, "retry");

  g_mutex_lock (&rec->lock);
  g_ptr_array_add (rec->ids, g_strdup (msg->id));
  g_mutex_unlock (&rec->lock);
  for (guint i = 0; i < msg->rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (msg->rcpts, i);

      rcpt->attempts++;
      if (retry && rcpt->attempts == 1)
        rcpt->next_attempt = rec->retry_at;
      else
        rcpt->final = TRUE;
    }
}

static RelayMessage *
make_message (const char *id,
              gint64      due)
{
  RelayMessage *msg = relay_message_new ();
  RelayRecipient *rcpt = relay_recipient_new ("bob@example.org");

  msg->id = g_strdup (id);
  msg->sender = g_strdup ("alice@example.org");
  rcpt->next_attempt = due;
  g_ptr_array_add (msg->rcpts, rcpt);
  return msg;
}

static void
wait_count (Recorder *rec,
            guint     count)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MAX_SECONDS * G_TIME_SPAN_SECOND;

  for (;;)
    {
      guint n;

      g_mutex_lock (&rec->lock);
      n = rec->ids->len;
      g_mutex_unlock (&rec->lock);
      if (n >= count)
        return;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10000);
    }
}

static void
check_order (Recorder          *rec,
             const char *const *want)
{
  g_assert_cmpuint (rec->ids->len, ==, g_strv_length ((char **) want));
  for (guint i = 0; want[i] != NULL; i++)
    g_assert_cmpstr (g_ptr_array_index (rec->ids, i), ==, want[i]);
}

/* Scheduled out of order (due times in the past, two equal): picked by due, then id. */
static void
test_due_order (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  Recorder rec = { .ids = g_ptr_array_new_with_free_func (g_free) };
  const char *const want[] = { "a-oldest", "b-tie", "c-tie", "d-newer", "e-now", NULL };
  g_autoptr (GError) error = NULL;
  RelayQueue *queue;

  g_mutex_init (&rec.lock);
  queue = relay_queue_new (dir, 100, 1, record_deliver, NULL, &rec, &error);
  g_assert_no_error (error);
  relay_queue_schedule (queue, make_message ("e-now", now));
  relay_queue_schedule (queue, make_message ("c-tie", now - 50));
  relay_queue_schedule (queue, make_message ("d-newer", now - 10));
  relay_queue_schedule (queue, make_message ("a-oldest", now - 100));
  relay_queue_schedule (queue, make_message ("b-tie", now - 50));
  relay_queue_start (queue);
  wait_count (&rec, 5);
  relay_queue_free (queue);
  check_order (&rec, want);
  g_ptr_array_unref (rec.ids);
  g_mutex_clear (&rec.lock);
  mt_tmpdir_remove (dir);
}

/* A message left pending is placed again by its new due time: one due earlier and one
 * scheduled meanwhile go first; then it comes back once, and the queue is empty. */
static void
test_retry_placed_again (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  Recorder rec = { .ids = g_ptr_array_new_with_free_func (g_free), .retry_at = now + 1 };
  const char *const want[] = { "retry", "x-soon", "y-later", "retry", NULL };
  g_autoptr (GError) error = NULL;
  RelayQueue *queue;

  g_mutex_init (&rec.lock);
  queue = relay_queue_new (dir, 100, 1, record_deliver, NULL, &rec, &error);
  g_assert_no_error (error);
  relay_queue_schedule (queue, make_message ("retry", now - 100));
  relay_queue_schedule (queue, make_message ("x-soon", now - 1));
  relay_queue_schedule (queue, make_message ("y-later", now));
  relay_queue_start (queue);
  wait_count (&rec, 4);
  g_usleep (100000);
  relay_queue_free (queue);
  check_order (&rec, want);
  g_ptr_array_unref (rec.ids);
  g_mutex_clear (&rec.lock);
  mt_tmpdir_remove (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/relay-queue/due-order", test_due_order);
  g_test_add_func ("/relay-queue/retry-placed-again", test_retry_placed_again);
  return g_test_run ();
}
