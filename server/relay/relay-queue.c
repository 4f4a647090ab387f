/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-queue.c: the crash-safe queue of msgtrk-relay and its delivery scheduler.
 *
 * Layout under state_dir:
 *   queue/<id>.msg   the message as received (CRLF lines, our Received: header first)
 *   queue/<id>.env   its envelope (a GKeyFile: sender, ENVID, B, timeout, RET, and per
 *                    recipient NOTIFY/ORCPT/state); its presence is what makes the message
 *                    "accepted"
 *   queue-tmp/       files being written
 * Every file is written in queue-tmp/, fsync'ed, renamed into queue/, and the directory is
 * fsync'ed: the .msg first, then the .env. A .msg without .env (a crash before the 250
 * reply) is removed at start-up; an .env is never written for a message not yet on disk.
 *
 * The scheduler keeps every queued message in memory (at most RELAY_QUEUE_MAX_MESSAGES
 * are loaded at start-up) and hands the one with the earliest due recipient to one of the
 * worker threads, which call the RelayDeliverFunc given to relay_queue_new() (the queue
 * never calls up into delivery); a message is held by one worker at a time (busy).
 *
 * Cap at run time: an SMTP session asks relay_queue_has_room() at MAIL and takes a slot
 * with relay_queue_reserve() before DATA's 354 (released once the message is committed or
 * refused), so queued + reserved never passes [queue] max_messages (default and bound
 * RELAY_QUEUE_MAX_MESSAGES); beyond it the client gets 452 4.3.1. DSNs about messages
 * already accepted bypass the cap: refusing them would lose a report.
 *
 * Never: reply before relay_queue_commit() returned TRUE; delete a message whose
 * recipients are not all final.
 */
#include "relay-queue.h"

#include "durable-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/** RELAY_SCHEDULER_MAX_SLEEP: longest sleep of an idle worker, in seconds (clock jumps). */
#define RELAY_SCHEDULER_MAX_SLEEP 30

struct _RelayQueue
{
  RelayDeliverFunc deliver;
  gpointer deliver_data;
  guint max_messages;     /* [queue] max_messages */
  guint n_workers;
  char *queue_dir;
  char *tmp_dir;
  GMutex lock;
  GCond cond;
  GHashTable *messages;   /* id -> RelayMessage (owned) */
  guint reserved;         /* slots taken by SMTP sessions in DATA; under lock */
  GPtrArray *workers;     /* GThread */
  gboolean stopping;
};

RelayRecipient *
relay_recipient_new (const char *address)
{
  RelayRecipient *rcpt = g_new0 (RelayRecipient, 1);

  rcpt->address = g_strdup (address);
  rcpt->action = MSGTRK_ACTION_NONE;
  return rcpt;
}

void
relay_recipient_free (RelayRecipient *rcpt)
{
  if (rcpt == NULL)
    return;
  g_free (rcpt->address);
  g_free (rcpt->orcpt);
  g_free (rcpt->status);
  g_free (rcpt->remote_mta);
  g_free (rcpt->diagnostic);
  g_free (rcpt);
}

RelayMessage *
relay_message_new (void)
{
  RelayMessage *msg = g_new0 (RelayMessage, 1);

  msg->rcpts = g_ptr_array_new_with_free_func ((GDestroyNotify) relay_recipient_free);
  return msg;
}

void
relay_message_free (RelayMessage *msg)
{
  if (msg == NULL)
    return;
  g_free (msg->id);
  g_free (msg->sender);
  g_free (msg->envid);
  g_free (msg->authenticator);
  g_ptr_array_unref (msg->rcpts);
  g_free (msg);
}

/* Tracking records are kept only for messages that came with MTRK (B and ENVID). */
gboolean
relay_message_is_tracked (RelayMessage *msg)
{
  return msg->authenticator != NULL && msg->envid != NULL;
}

gboolean
relay_message_is_done (RelayMessage *msg)
{
  for (guint i = 0; i < msg->rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (msg->rcpts, i);
      if (!rcpt->final)
        return FALSE;
    }
  return TRUE;
}

/* Earliest next attempt of a recipient not yet final, or G_MAXINT64. */
gint64
relay_message_next_due (RelayMessage *msg)
{
  gint64 due = G_MAXINT64;

  for (guint i = 0; i < msg->rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (msg->rcpts, i);
      if (!rcpt->final && rcpt->next_attempt < due)
        due = rcpt->next_attempt;
    }
  return due;
}

/* A queue id: microseconds since the epoch and 32 random bits, in hex (unique, sortable). */
char *
relay_queue_new_id (void)
{
  return g_strdup_printf ("%014" G_GINT64_MODIFIER "X%08X", g_get_real_time (),
                          (guint) g_random_int ());
}

static const char *
ret_to_string (MsgtrkDsnRet ret)
{
  switch (ret)
    {
    case MSGTRK_DSN_RET_HDRS:
      return "hdrs";
    case MSGTRK_DSN_RET_FULL:
      return "full";
    case MSGTRK_DSN_RET_UNSET:
    default:
      return "unset";
    }
}

static MsgtrkDsnRet
ret_from_string (const char *text)
{
  if (g_strcmp0 (text, "hdrs") == 0)
    return MSGTRK_DSN_RET_HDRS;
  if (g_strcmp0 (text, "full") == 0)
    return MSGTRK_DSN_RET_FULL;
  return MSGTRK_DSN_RET_UNSET;
}

static void
set_opt_string (GKeyFile   *kf,
                const char *group,
                const char *key,
                const char *value)
{
  if (value != NULL)
    g_key_file_set_string (kf, group, key, value);
}

static char *
message_to_data (RelayMessage *msg,
                 gsize        *len)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();

  g_key_file_set_integer (kf, "message", "version", 1);
  g_key_file_set_string (kf, "message", "id", msg->id);
  g_key_file_set_string (kf, "message", "sender", msg->sender);
  set_opt_string (kf, "message", "envid", msg->envid);
  set_opt_string (kf, "message", "authenticator", msg->authenticator);
  g_key_file_set_uint64 (kf, "message", "mtrk_timeout", msg->mtrk_timeout);
  g_key_file_set_int64 (kf, "message", "arrival", msg->arrival);
  g_key_file_set_string (kf, "message", "ret", ret_to_string (msg->ret));
  g_key_file_set_boolean (kf, "message", "body_8bit", msg->body_8bit);
  g_key_file_set_boolean (kf, "message", "is_dsn", msg->is_dsn);
  g_key_file_set_integer (kf, "message", "recipients", msg->rcpts->len);

  for (guint i = 0; i < msg->rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (msg->rcpts, i);
      g_autofree char *group = g_strdup_printf ("rcpt %u", i);

      g_key_file_set_string (kf, group, "address", rcpt->address);
      g_key_file_set_integer (kf, group, "notify", rcpt->notify);
      set_opt_string (kf, group, "orcpt", rcpt->orcpt);
      g_key_file_set_boolean (kf, group, "final", rcpt->final);
      if (rcpt->action != MSGTRK_ACTION_NONE)
        g_key_file_set_string (kf, group, "action", msgtrk_action_to_string (rcpt->action));
      set_opt_string (kf, group, "status", rcpt->status);
      set_opt_string (kf, group, "remote_mta", rcpt->remote_mta);
      set_opt_string (kf, group, "diagnostic", rcpt->diagnostic);
      g_key_file_set_int64 (kf, group, "last_attempt", rcpt->last_attempt);
      g_key_file_set_int64 (kf, group, "next_attempt", rcpt->next_attempt);
      g_key_file_set_integer (kf, group, "attempts", rcpt->attempts);
      g_key_file_set_boolean (kf, group, "delay_notified", rcpt->delay_notified);
    }
  return g_key_file_to_data (kf, len, NULL);
}

static RelayMessage *
message_load (const char  *path,
              GError     **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (RelayMessage) msg = relay_message_new ();
  g_autofree char *ret = NULL;
  gint n;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error))
    return NULL;
  msg->id = g_key_file_get_string (kf, "message", "id", NULL);
  msg->sender = g_key_file_get_string (kf, "message", "sender", NULL);
  msg->envid = g_key_file_get_string (kf, "message", "envid", NULL);
  msg->authenticator = g_key_file_get_string (kf, "message", "authenticator", NULL);
  msg->mtrk_timeout = (guint) g_key_file_get_uint64 (kf, "message", "mtrk_timeout", NULL);
  msg->arrival = g_key_file_get_int64 (kf, "message", "arrival", NULL);
  ret = g_key_file_get_string (kf, "message", "ret", NULL);
  msg->ret = ret_from_string (ret);
  msg->body_8bit = g_key_file_get_boolean (kf, "message", "body_8bit", NULL);
  msg->is_dsn = g_key_file_get_boolean (kf, "message", "is_dsn", NULL);
  n = g_key_file_get_integer (kf, "message", "recipients", NULL);
  if (msg->id == NULL || msg->sender == NULL || n <= 0 || n > 100000)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "%s is not a msgtrk-relay envelope (id, sender or recipients missing)", path);
      return NULL;
    }
  for (gint i = 0; i < n; i++)
    {
      g_autofree char *group = g_strdup_printf ("rcpt %d", i);
      g_autofree char *address = g_key_file_get_string (kf, group, "address", NULL);
      g_autofree char *action = NULL;
      RelayRecipient *rcpt;

      if (address == NULL)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "%s: [%s] has no address",
                       path, group);
          return NULL;
        }
      rcpt = relay_recipient_new (address);
      g_ptr_array_add (msg->rcpts, rcpt);
      rcpt->notify = g_key_file_get_integer (kf, group, "notify", NULL);
      rcpt->orcpt = g_key_file_get_string (kf, group, "orcpt", NULL);
      rcpt->final = g_key_file_get_boolean (kf, group, "final", NULL);
      action = g_key_file_get_string (kf, group, "action", NULL);
      rcpt->action = action ? msgtrk_action_from_string (action) : MSGTRK_ACTION_NONE;
      rcpt->status = g_key_file_get_string (kf, group, "status", NULL);
      rcpt->remote_mta = g_key_file_get_string (kf, group, "remote_mta", NULL);
      rcpt->diagnostic = g_key_file_get_string (kf, group, "diagnostic", NULL);
      rcpt->last_attempt = g_key_file_get_int64 (kf, group, "last_attempt", NULL);
      rcpt->next_attempt = g_key_file_get_int64 (kf, group, "next_attempt", NULL);
      rcpt->attempts = g_key_file_get_integer (kf, group, "attempts", NULL);
      rcpt->delay_notified = g_key_file_get_boolean (kf, group, "delay_notified", NULL);
    }
  return g_steal_pointer (&msg);
}

/* The queue under @state_dir (queue/ and queue-tmp/, created if missing); at most
 * @max_messages accepted at once; @workers threads call @deliver for due messages once
 * relay_queue_start() ran. */
RelayQueue *
relay_queue_new (const char       *state_dir,
                 guint             max_messages,
                 guint             workers,
                 RelayDeliverFunc  deliver,
                 gpointer          deliver_data,
                 GError          **error)
{
  RelayQueue *queue = g_new0 (RelayQueue, 1);

  queue->deliver = deliver;
  queue->deliver_data = deliver_data;
  queue->max_messages = max_messages;
  queue->n_workers = workers;
  queue->queue_dir = g_build_filename (state_dir, "queue", NULL);
  queue->tmp_dir = g_build_filename (state_dir, "queue-tmp", NULL);
  g_mutex_init (&queue->lock);
  g_cond_init (&queue->cond);
  queue->messages = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) relay_message_free);
  queue->workers = g_ptr_array_new ();

  if (g_mkdir_with_parents (queue->queue_dir, 0700) != 0
      || g_mkdir_with_parents (queue->tmp_dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot create the queue under %s: %s", state_dir,
                   g_strerror (saved));
      relay_queue_free (queue);
      return NULL;
    }
  return queue;
}

void
relay_queue_free (RelayQueue *queue)
{
  if (queue == NULL)
    return;
  relay_queue_stop (queue);
  g_hash_table_unref (queue->messages);
  g_ptr_array_unref (queue->workers);
  g_mutex_clear (&queue->lock);
  g_cond_clear (&queue->cond);
  g_free (queue->queue_dir);
  g_free (queue->tmp_dir);
  g_free (queue);
}

/* Where a new message file is written before relay_queue_commit(). */
char *
relay_queue_tmp_path (RelayQueue *queue,
                      const char *id)
{
  g_autofree char *name = g_strconcat (id, ".msg", NULL);
  return g_build_filename (queue->tmp_dir, name, NULL);
}

char *
relay_queue_msg_path (RelayQueue *queue,
                      const char *id)
{
  g_autofree char *name = g_strconcat (id, ".msg", NULL);
  return g_build_filename (queue->queue_dir, name, NULL);
}

static char *
env_path (RelayQueue *queue,
          const char *id)
{
  g_autofree char *name = g_strconcat (id, ".env", NULL);
  return g_build_filename (queue->queue_dir, name, NULL);
}

/* Write @msg's envelope atomically (temp file, fsync, rename, fsync dir). */
gboolean
relay_queue_save (RelayQueue   *queue,
                  RelayMessage *msg,
                  GError      **error)
{
  g_autofree char *name = g_strconcat (msg->id, ".env", NULL);
  g_autofree char *tmp = g_build_filename (queue->tmp_dir, name, NULL);
  g_autofree char *dest = env_path (queue, msg->id);
  g_autofree char *data = NULL;
  gsize len = 0;

  data = message_to_data (msg, &len);
  return durable_file_replace (tmp, dest, queue->queue_dir, data, len, error);
}

/* Move the synced message file @tmp_msg_path into the queue, write the envelope, and
 * schedule @msg (ownership passes to the queue on success). After TRUE the message is
 * accepted: it survives a crash. */
gboolean
relay_queue_commit (RelayQueue   *queue,
                    RelayMessage *msg,
                    const char   *tmp_msg_path,
                    GError      **error)
{
  g_autofree char *dest = relay_queue_msg_path (queue, msg->id);

  if (g_rename (tmp_msg_path, dest) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot rename %s: %s",
                   tmp_msg_path, g_strerror (saved));
      return FALSE;
    }
  if (!relay_queue_save (queue, msg, error))
    {
      g_unlink (dest);
      return FALSE;
    }
  relay_queue_schedule (queue, msg);
  return TRUE;
}

/* Under queue->lock: could one more message be accepted? */
static gboolean
has_room_locked (RelayQueue *queue)
{
  return g_hash_table_size (queue->messages) + queue->reserved
         < queue->max_messages;
}

/* May an SMTP client start a transaction (MAIL)? */
gboolean
relay_queue_has_room (RelayQueue *queue)
{
  gboolean room;

  g_mutex_lock (&queue->lock);
  room = has_room_locked (queue);
  g_mutex_unlock (&queue->lock);
  return room;
}

/* Take a slot for a message about to be received (DATA); FALSE if the queue is full.
 * Every TRUE is followed by one relay_queue_release(). */
gboolean
relay_queue_reserve (RelayQueue *queue)
{
  gboolean room;

  g_mutex_lock (&queue->lock);
  room = has_room_locked (queue);
  if (room)
    queue->reserved++;
  g_mutex_unlock (&queue->lock);
  return room;
}

void
relay_queue_release (RelayQueue *queue)
{
  g_mutex_lock (&queue->lock);
  g_assert (queue->reserved > 0);
  queue->reserved--;
  g_mutex_unlock (&queue->lock);
}

/* Hand @msg (owned) to the scheduler and wake a worker. */
void
relay_queue_schedule (RelayQueue   *queue,
                      RelayMessage *msg)
{
  g_mutex_lock (&queue->lock);
  g_hash_table_replace (queue->messages, msg->id, msg);
  g_cond_broadcast (&queue->cond);
  g_mutex_unlock (&queue->lock);
}

void
relay_queue_remove_files (RelayQueue   *queue,
                          RelayMessage *msg)
{
  g_autofree char *env = env_path (queue, msg->id);
  g_autofree char *body = relay_queue_msg_path (queue, msg->id);

  /* The envelope first: a .msg without .env is garbage, the reverse would be a loss. */
  g_unlink (env);
  g_unlink (body);
  durable_file_sync_dir (queue->queue_dir, NULL);
}

/* Load every envelope of a previous run; remove half-written files. */
gboolean
relay_queue_scan (RelayQueue  *queue,
                  GError     **error)
{
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GDir) tmp = NULL;
  const char *name;
  guint loaded = 0;

  tmp = g_dir_open (queue->tmp_dir, 0, NULL);
  while (tmp != NULL && (name = g_dir_read_name (tmp)) != NULL)
    {
      g_autofree char *path = g_build_filename (queue->tmp_dir, name, NULL);
      g_unlink (path);
    }

  dir = g_dir_open (queue->queue_dir, 0, error);
  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (queue->queue_dir, name, NULL);

      if (g_str_has_suffix (name, ".msg"))
        {
          g_autofree char *id = g_strndup (name, strlen (name) - 4);
          g_autofree char *env = env_path (queue, id);
          if (!g_file_test (env, G_FILE_TEST_EXISTS))
            {
              g_info ("%s: removing a message never accepted (no envelope)", id);
              g_unlink (path);
            }
        }
      else if (g_str_has_suffix (name, ".env"))
        {
          g_autoptr (GError) local_error = NULL;
          g_autoptr (RelayMessage) msg = NULL;
          g_autofree char *body = NULL;

          if (loaded >= RELAY_QUEUE_MAX_MESSAGES)
            {
              g_warning ("queue holds more than %u messages; the rest wait for a restart",
                         RELAY_QUEUE_MAX_MESSAGES);
              break;
            }
          msg = message_load (path, &local_error);
          if (msg == NULL)
            {
              g_warning ("skipping %s: %s", path, local_error->message);
              continue;
            }
          body = relay_queue_msg_path (queue, msg->id);
          if (!g_file_test (body, G_FILE_TEST_EXISTS))
            {
              g_warning ("%s: envelope without message file; skipped", msg->id);
              continue;
            }
          if (relay_message_is_done (msg))
            {
              relay_queue_remove_files (queue, msg);
              continue;
            }
          g_message ("%s: resuming delivery", msg->id);
          relay_queue_schedule (queue, g_steal_pointer (&msg));
          loaded++;
        }
    }
  return TRUE;
}

static RelayMessage *
pick_due_locked (RelayQueue *queue,
                 gint64     *due_out)
{
  GHashTableIter iter;
  gpointer value;
  RelayMessage *best = NULL;
  gint64 best_due = G_MAXINT64;

  g_hash_table_iter_init (&iter, queue->messages);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      RelayMessage *msg = value;
      gint64 due;

      if (msg->busy)
        continue;
      due = relay_message_next_due (msg);
      if (due < best_due)
        {
          best_due = due;
          best = msg;
        }
    }
  *due_out = best_due;
  return best;
}

static gpointer
worker_main (gpointer data)
{
  RelayQueue *queue = data;

  g_mutex_lock (&queue->lock);
  while (!queue->stopping)
    {
      gint64 due = 0;
      gint64 now = g_get_real_time () / G_USEC_PER_SEC;
      RelayMessage *msg = pick_due_locked (queue, &due);

      if (msg == NULL || due > now)
        {
          gint64 sleep = msg == NULL ? RELAY_SCHEDULER_MAX_SLEEP
                                     : MIN (due - now, RELAY_SCHEDULER_MAX_SLEEP);
          g_cond_wait_until (&queue->cond, &queue->lock,
                             g_get_monotonic_time () + sleep * G_TIME_SPAN_SECOND);
          continue;
        }

      msg->busy = TRUE;
      g_mutex_unlock (&queue->lock);
      queue->deliver (msg, queue->deliver_data);
      g_mutex_lock (&queue->lock);
      msg->busy = FALSE;
      if (relay_message_is_done (msg))
        {
          relay_queue_remove_files (queue, msg);
          g_hash_table_remove (queue->messages, msg->id);
        }
      /* Others may have been waiting for this one; let them look again. */
      g_cond_broadcast (&queue->cond);
    }
  g_mutex_unlock (&queue->lock);
  return NULL;
}

void
relay_queue_start (RelayQueue *queue)
{
  for (guint i = 0; i < queue->n_workers; i++)
    g_ptr_array_add (queue->workers, g_thread_new ("relay-delivery", worker_main, queue));
}

/* Stop the workers after their current message (outgoing I/O is cancelled by the
 * server's shutdown cancellable). */
void
relay_queue_stop (RelayQueue *queue)
{
  g_mutex_lock (&queue->lock);
  queue->stopping = TRUE;
  g_cond_broadcast (&queue->cond);
  g_mutex_unlock (&queue->lock);
  for (guint i = 0; i < queue->workers->len; i++)
    g_thread_join (g_ptr_array_index (queue->workers, i));
  g_ptr_array_set_size (queue->workers, 0);
}
