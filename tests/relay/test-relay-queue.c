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

/* RelayWorkerFuncs for a worker that keeps a session to "h1" for ever; a message's hop
 * is its id after the '@'. */
static gpointer
fake_worker_new (gpointer user_data)
{
  return GINT_TO_POINTER (1);
}

static const char *
fake_worker_hop (gpointer worker,
                 gint64  *until)
{
  *until = G_MAXINT64;
  return "h1";
}

static void
fake_worker_idle (gpointer worker)
{
  g_assert_not_reached ();
}

static char *
fake_hop_of (RelayMessage *msg,
             gpointer      user_data)
{
  const char *at = strchr (msg->id, '@');

  return at != NULL ? g_strdup (at + 1) : NULL;
}

/* A worker that keeps a session to a hop takes the due messages to that hop first (in
 * due order), then the others in due order. */
static void
test_hop_preferred (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  Recorder rec = { .ids = g_ptr_array_new_with_free_func (g_free) };
  const char *const want[] = { "b@h1", "c@h1", "a@h2", "d@h2", NULL };
  const RelayWorkerFuncs funcs = {
    .worker_new = fake_worker_new,
    .worker_hop = fake_worker_hop,
    .worker_idle = fake_worker_idle,
    .hop_of = fake_hop_of,
  };
  g_autoptr (GError) error = NULL;
  RelayQueue *queue;

  g_mutex_init (&rec.lock);
  queue = relay_queue_new (dir, 100, 1, record_deliver, &funcs, &rec, &error);
  g_assert_no_error (error);
  relay_queue_schedule (queue, make_message ("a@h2", now - 100));
  relay_queue_schedule (queue, make_message ("b@h1", now - 50));
  relay_queue_schedule (queue, make_message ("c@h1", now - 10));
  relay_queue_schedule (queue, make_message ("d@h2", now - 5));
  relay_queue_start (queue);
  wait_count (&rec, 4);
  relay_queue_free (queue);
  check_order (&rec, want);
  g_ptr_array_unref (rec.ids);
  g_mutex_clear (&rec.lock);
  mt_tmpdir_remove (dir);
}

/* Names for new messages from several sessions at once: all distinct, each an empty file
 * in queue/; the stock is refilled as it runs low, and what is left of it is removed when
 * the queue is freed (only the names taken remain). */
#define STOCK_THREADS 4
#define STOCK_PER_THREAD (RELAY_QUEUE_STOCK_SIZE + 5)

typedef struct
{
  RelayQueue *queue;
  GPtrArray *ids;
} Taker;

static gpointer
take_names (gpointer data)
{
  Taker *t = data;

  for (guint i = 0; i < STOCK_PER_THREAD; i++)
    {
      g_autoptr (GError) error = NULL;
      char *id = relay_queue_take_name (t->queue, &error);

      g_assert_no_error (error);
      g_assert_nonnull (id);
      g_ptr_array_add (t->ids, id);
    }
  return NULL;
}

static void
test_stock (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *queue_dir = g_build_filename (dir, "queue", NULL);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  Taker takers[STOCK_THREADS];
  GThread *threads[STOCK_THREADS];
  RelayQueue *queue = relay_queue_new (dir, 100, 1, record_deliver, NULL, NULL, &error);
  g_autoptr (GDir) d = NULL;
  guint files = 0;

  g_assert_no_error (error);
  for (guint i = 0; i < STOCK_THREADS; i++)
    {
      takers[i] = (Taker) { queue, g_ptr_array_new_with_free_func (g_free) };
      threads[i] = g_thread_new ("taker", take_names, &takers[i]);
    }
  for (guint i = 0; i < STOCK_THREADS; i++)
    g_thread_join (threads[i]);
  relay_queue_free (queue);
  for (guint i = 0; i < STOCK_THREADS; i++)
    for (guint j = 0; j < takers[i].ids->len; j++)
      {
        const char *id = g_ptr_array_index (takers[i].ids, j);
        g_autofree char *name = g_strconcat (id, ".msg", NULL);
        g_autofree char *path = g_build_filename (queue_dir, name, NULL);
        GStatBuf st;

        g_assert_false (g_hash_table_contains (seen, id));
        g_hash_table_add (seen, (gpointer) id);
        g_assert_cmpint (g_stat (path, &st), ==, 0);
        g_assert_cmpint (st.st_size, ==, 0);
      }
  d = g_dir_open (queue_dir, 0, &error);
  g_assert_no_error (error);
  while (g_dir_read_name (d) != NULL)
    files++;
  g_assert_cmpuint (files, ==, STOCK_THREADS * STOCK_PER_THREAD);
  for (guint i = 0; i < STOCK_THREADS; i++)
    g_ptr_array_unref (takers[i].ids);
  mt_tmpdir_remove (dir);
}

/* What the first attempt of a message with a kept text sees. */
typedef struct
{
  RelayQueue *queue;
  Recorder rec;
  GPtrArray *texts;       /* (element-type utf8) relay_queue_read_body() per attempt */
} BodyRecorder;

static void
body_deliver (RelayMessage *msg,
              gpointer      worker,
              gpointer      user_data)
{
  BodyRecorder *br = user_data;
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  char *text = relay_queue_read_body (br->queue, msg, &len, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (strlen (text), ==, len);
  g_mutex_lock (&br->rec.lock);
  g_ptr_array_add (br->texts, text);
  g_mutex_unlock (&br->rec.lock);
  record_deliver (msg, worker, &br->rec);
}

/* A file of @len octets: an envelope block of @offset octets ('E'), then the text ('t'). */
static GString *
file_of (gsize len,
         gsize offset)
{
  GString *file = g_string_sized_new (len);

  for (gsize i = 0; i < len; i++)
    g_string_append_c (file, i < offset ? 'E' : 't');
  return file;
}

/* RELAY_QUEUE_BODY_KEEP_MAX: a file of exactly that size is kept (its text only, no
 * envelope), one octet more is not; RELAY_QUEUE_BODY_MEMORY_MAX: texts are kept until
 * they fill it exactly, the next is refused; the first attempt reads the kept text (no
 * file exists here), and the worker drops every text after it (nothing held). */
static void
test_keep_body (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  BodyRecorder br = { .rec = { .ids = g_ptr_array_new_with_free_func (g_free) },
                      .texts = g_ptr_array_new_with_free_func (g_free) };
  g_autoptr (GError) error = NULL;
  const guint fill = RELAY_QUEUE_BODY_MEMORY_MAX / RELAY_QUEUE_BODY_KEEP_MAX;
  RelayMessage *first;
  RelayMessage *over;
  guint scheduled = 0;

  G_STATIC_ASSERT (RELAY_QUEUE_BODY_MEMORY_MAX % RELAY_QUEUE_BODY_KEEP_MAX == 0);
  g_mutex_init (&br.rec.lock);
  br.queue = relay_queue_new (dir, RELAY_QUEUE_MAX_MESSAGES, 1, body_deliver, NULL, &br,
                              &error);
  g_assert_no_error (error);

  /* at the size limit: kept, without its envelope block */
  first = make_message ("a-000", now);
  first->body_offset = 100;
  g_assert_true (relay_queue_keep_body (br.queue, first,
                                        file_of (RELAY_QUEUE_BODY_KEEP_MAX, 100)));
  g_assert_cmpuint (g_bytes_get_size (first->body), ==, RELAY_QUEUE_BODY_KEEP_MAX - 100);
  g_assert_cmpuint (relay_queue_kept_bytes (br.queue), ==, RELAY_QUEUE_BODY_KEEP_MAX - 100);
  /* one past it: not kept */
  over = make_message ("b-over", now);
  over->body_offset = 100;
  g_assert_false (relay_queue_keep_body (br.queue, over,
                                         file_of (RELAY_QUEUE_BODY_KEEP_MAX + 1, 100)));
  g_assert_null (over->body);
  relay_message_free (over);
  relay_queue_schedule (br.queue, first);
  scheduled++;

  /* the memory cap: fill it exactly (the first one holds 100 octets less) */
  for (guint i = 1; i < fill; i++)
    {
      g_autofree char *id = g_strdup_printf ("a-%03u", i);
      RelayMessage *msg = make_message (id, now);

      g_assert_true (relay_queue_keep_body (br.queue, msg,
                                            file_of (RELAY_QUEUE_BODY_KEEP_MAX, 0)));
      relay_queue_schedule (br.queue, msg);
      scheduled++;
    }
  over = make_message ("c-fits", now);
  g_assert_true (relay_queue_keep_body (br.queue, over, file_of (100, 0)));
  relay_queue_schedule (br.queue, over);
  scheduled++;
  g_assert_cmpuint (relay_queue_kept_bytes (br.queue), ==, RELAY_QUEUE_BODY_MEMORY_MAX);
  over = make_message ("d-past", now);
  g_assert_false (relay_queue_keep_body (br.queue, over, file_of (1, 0)));
  g_assert_cmpuint (relay_queue_kept_bytes (br.queue), ==, RELAY_QUEUE_BODY_MEMORY_MAX);
  relay_message_free (over);

  relay_queue_start (br.queue);
  wait_count (&br.rec, scheduled);
  {
    gint64 deadline = g_get_monotonic_time () + WAIT_MAX_SECONDS * G_TIME_SPAN_SECOND;

    while (relay_queue_kept_bytes (br.queue) > 0) /* dropped right after each attempt */
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_usleep (10000);
      }
  }
  relay_queue_free (br.queue);
  g_assert_cmpuint (br.texts->len, ==, scheduled);
  g_assert_cmpuint (strlen (g_ptr_array_index (br.texts, 0)), ==,
                    RELAY_QUEUE_BODY_KEEP_MAX - 100);
  g_assert_null (strchr (g_ptr_array_index (br.texts, 0), 'E'));
  g_ptr_array_unref (br.texts);
  g_ptr_array_unref (br.rec.ids);
  g_mutex_clear (&br.rec.lock);
  mt_tmpdir_remove (dir);
}

/* A kept text is the file's octets exactly, a NUL among them too (the first attempt's
 * relay_queue_read_body() from memory, as later ones from the file). */
static void
test_keep_body_nul (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GError) error = NULL;
  RelayQueue *queue = relay_queue_new (dir, 100, 1, record_deliver, NULL, NULL, &error);
  g_autoptr (RelayMessage) msg = make_message ("nul", 0);
  GString *file = g_string_new ("EEEE");
  g_autofree char *text = NULL;
  gsize len = 0;

  g_assert_no_error (error);
  g_string_append_len (file, "a\0b\r\n", 5);
  msg->body_offset = 4;
  g_assert_true (relay_queue_keep_body (queue, msg, file));
  text = relay_queue_read_body (queue, msg, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (text, len, "a\0b\r\n", 5);
  g_assert_cmpint (text[len], ==, '\0');
  relay_message_free (g_steal_pointer (&msg));
  relay_queue_free (queue);
  mt_tmpdir_remove (dir);
}

static gboolean
file_starts_with (const char *path,
                  const char *prefix)
{
  g_autofree char *data = NULL;

  return g_file_get_contents (path, &data, NULL, NULL) && g_str_has_prefix (data, prefix);
}

/* RELAY_QUEUE_RECYCLE_MAX: files of done messages are marked free and renamed up to that
 * many, one more is refused (left alone for the caller to remove); the stock is refilled
 * from them (no new file made) and what is left unused goes at stop. */
static void
test_recycle (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *queue_dir = g_build_filename (dir, "queue", NULL);
  g_autoptr (GError) error = NULL;
  RelayQueue *queue = relay_queue_new (dir, 100, 1, record_deliver, NULL, NULL, &error);
  g_autoptr (GPtrArray) old_paths = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *taken = NULL;
  g_autofree char *taken_path = NULL;
  g_autoptr (GDir) d = NULL;
  guint files = 0;

  g_assert_no_error (error);
  for (guint i = 0; i <= RELAY_QUEUE_RECYCLE_MAX; i++)
    {
      g_autofree char *id = relay_queue_new_id ();
      char *path = relay_queue_msg_path (queue, id);
      g_autoptr (RelayMessage) msg = make_message (id, 0);

      g_assert_true (g_file_set_contents (path, "X-Msgtrk-Queue-Envelope: a done message\r\n"
                                          "[message]\r\nid=x\r\n", -1, NULL));
      g_assert_cmpint (relay_queue_recycle_files (queue, msg), ==,
                       i < RELAY_QUEUE_RECYCLE_MAX);
      g_ptr_array_add (old_paths, path);
    }
  g_assert_cmpuint (relay_queue_recycled_count (queue), ==, RELAY_QUEUE_RECYCLE_MAX);
  for (guint i = 0; i < RELAY_QUEUE_RECYCLE_MAX; i++)
    g_assert_false (g_file_test (g_ptr_array_index (old_paths, i), G_FILE_TEST_EXISTS));
  /* the one past the limit is untouched */
  g_assert_true (file_starts_with (g_ptr_array_index (old_paths, RELAY_QUEUE_RECYCLE_MAX),
                                   "X-Msgtrk-Queue-Envelope: "));

  /* the stock comes from the recycled files: the name taken is one, marked free */
  taken = relay_queue_take_name (queue, &error);
  g_assert_no_error (error);
  taken_path = relay_queue_msg_path (queue, taken);
  g_assert_true (file_starts_with (taken_path, RELAY_QUEUE_FREE_TAG));
  {
    gint64 deadline = g_get_monotonic_time () + WAIT_MAX_SECONDS * G_TIME_SPAN_SECOND;

    /* the refill at RELAY_QUEUE_STOCK_LOW may take the next RELAY_QUEUE_STOCK_SIZE too */
    while (relay_queue_recycled_count (queue) != RELAY_QUEUE_RECYCLE_MAX - RELAY_QUEUE_STOCK_SIZE
           && relay_queue_recycled_count (queue) != 0)
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_usleep (10000);
      }
  }
  d = g_dir_open (queue_dir, 0, &error);
  g_assert_no_error (error);
  while (g_dir_read_name (d) != NULL)
    files++;
  /* no file was created: the recycled ones, the one refused */
  g_assert_cmpuint (files, ==, RELAY_QUEUE_RECYCLE_MAX + 1);
  g_clear_pointer (&d, g_dir_close);
  relay_queue_free (queue);
  /* at stop the stock and the recycled files go; the name taken and the refused file stay
   * (their owners remove them) */
  files = 0;
  d = g_dir_open (queue_dir, 0, &error);
  g_assert_no_error (error);
  while (g_dir_read_name (d) != NULL)
    files++;
  g_assert_cmpuint (files, ==, 2);
  mt_tmpdir_remove (dir);
}

/* A crash after relay_queue_recycle_files() wrote the free mark over a done message's head
 * but before its .env unlink and its rename reached the disk: the file under its own
 * name, marked free, beside its .env (the state of an earlier attempt). The free mark
 * says the message is done: start-up removes both, never delivers the free file's
 * octets (mark, envelope block, old text) as that message. */
static void
test_recycle_crash_env (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GError) error = NULL;
  Recorder rec = { .ids = g_ptr_array_new_with_free_func (g_free) };
  RelayQueue *queue;
  g_autoptr (RelayMessage) msg = make_message ("done-with-env", 0);
  g_autofree char *msg_path = NULL;
  g_autofree char *env = NULL;
  char head[RELAY_QUEUE_HEAD_LEN];
  g_autoptr (GString) data = g_string_new (NULL);

  g_mutex_init (&rec.lock);
  queue = relay_queue_new (dir, 100, 1, record_deliver, NULL, &rec, &error);
  g_assert_no_error (error);
  msg_path = relay_queue_msg_path (queue, msg->id);
  env = g_strconcat (dir, "/queue/", msg->id, ".env", NULL);
  g_assert_true (relay_queue_save (queue, msg, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (env, G_FILE_TEST_EXISTS));
  memset (head, ' ', sizeof head);
  memcpy (head, RELAY_QUEUE_FREE_TAG, strlen (RELAY_QUEUE_FREE_TAG));
  memcpy (head + sizeof head - 2, "\r\n", 2);
  g_string_append_len (data, head, sizeof head);
  g_string_append (data, "[message]\r\nid=done-with-env\r\n\r\nSubject: old\r\n\r\nold\r\n");
  g_assert_true (g_file_set_contents (msg_path, data->str, (gssize) data->len, NULL));

  g_assert_true (relay_queue_scan (queue, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (msg_path, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (env, G_FILE_TEST_EXISTS));
  relay_queue_start (queue);
  g_usleep (100000);
  relay_queue_free (queue);
  g_assert_cmpuint (rec.ids->len, ==, 0);
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
  g_test_add_func ("/relay-queue/hop-preferred", test_hop_preferred);
  g_test_add_func ("/relay-queue/stock", test_stock);
  g_test_add_func ("/relay-queue/keep-body", test_keep_body);
  g_test_add_func ("/relay-queue/keep-body-nul", test_keep_body_nul);
  g_test_add_func ("/relay-queue/recycle", test_recycle);
  g_test_add_func ("/relay-queue/recycle-crash-env", test_recycle_crash_env);
  return g_test_run ();
}
