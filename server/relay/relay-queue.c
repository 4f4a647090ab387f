/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-queue.c: the crash-safe queue of msgtrk-relay and its delivery scheduler.
 *
 * Layout under state_dir:
 *   queue/<id>.msg   one file per accepted message: the head line (RELAY_QUEUE_ENVELOPE_TAG,
 *                    the envelope's length, the SHA-256 of the rest, CRLF), the envelope (a
 *                    GKeyFile: sender, ENVID, B, timeout, RET, and per recipient
 *                    NOTIFY/ORCPT/state), then the message as received (CRLF lines, our
 *                    Received: header first). A file whose head or checksum does not hold
 *                    was never accepted (cut by a crash before its fsync, or an empty
 *                    stock file) and is removed at start-up.
 *   queue/<id>.env   the envelope as delivery attempts changed it (replaces the one in the
 *                    .msg; written only while recipients remain)
 *   queue-tmp/       files being written under a temporary name (DSNs, .env)
 *
 * A new message costs one fsync: an SMTP session writes it into an empty file already in
 * queue/ whose name a directory fsync made durable before (the stock: RELAY_QUEUE_STOCK_SIZE
 * empty files created at once and made durable by one directory fsync, refilled ahead of
 * need by a thread of its own, relay_queue_take_name()), puts the checksum in the head and fsyncs the file. Other files
 * are written in queue-tmp/, fsync'ed, renamed into queue/, and queue/ is fsync'ed,
 * grouped: one fsync of the directory covers every rename before it, so concurrent writers
 * share it (sync_dir_grouped).
 *
 * Done messages are removed without a directory fsync, outside the queue lock: if a crash
 * brings a name back, the message is delivered again (at least once, never lost). An .env
 * without its .msg (the .msg unlinked, the .env back after a crash) is removed at start-up.
 * The .msg of a done message is reused rather than unlinked (relay_queue_recycle_files():
 * marked free with RELAY_QUEUE_FREE_TAG, renamed to a new id, and handed to the stock at
 * its next refill, whose directory fsync makes the name durable), so a message costs
 * neither a file creation nor an unlink; a session cuts the reused file to its message.
 *
 * A new message's text stays in memory for its first attempt (RelayMessage.body,
 * relay_queue_keep_body(): files up to RELAY_QUEUE_BODY_KEEP_MAX, all texts together up
 * to RELAY_QUEUE_BODY_MEMORY_MAX octets of text, their buffers up to twice that); the
 * worker drops it after that attempt.
 *
 * The scheduler keeps every queued message in memory (at most RELAY_QUEUE_MAX_MESSAGES
 * are loaded at start-up); those no worker holds wait in a GSequence ordered by their
 * earliest due recipient, then id (a priority queue: O(log n) to place, the first is the
 * next due), and the first is handed to one of the worker threads, which call the
 * RelayDeliverFunc given to relay_queue_new() (the queue never calls up into delivery); a
 * message is held by one worker at a time (busy). A worker that keeps a session to a next
 * hop open (RelayWorkerFuncs) takes a due message to that hop first, if one is among the
 * first RELAY_SCHEDULER_HOP_SCAN due (messages carry their hop's key, RelayMessage.hop).
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
#include "durable-group.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/** RELAY_SCHEDULER_MAX_SLEEP: longest sleep of an idle worker, in seconds (clock jumps). */
#define RELAY_SCHEDULER_MAX_SLEEP 30
/** RELAY_QUEUE_STOCK_LOW: stock left when the refiller starts making the next
 * RELAY_QUEUE_STOCK_SIZE files (so sessions seldom wait for file creation). */
#define RELAY_QUEUE_STOCK_LOW (RELAY_QUEUE_STOCK_SIZE / 2)
/** RELAY_SCHEDULER_HOP_SCAN: how many of the first due messages a worker that keeps a
 * session open looks through for one to the same next hop (under the queue lock, so
 * bounded) before it takes the first due. */
#define RELAY_SCHEDULER_HOP_SCAN 64

struct _RelayQueue
{
  RelayDeliverFunc deliver;
  RelayWorkerFuncs funcs; /* all NULL: no sessions kept between messages */
  gpointer deliver_data;
  guint max_messages;     /* [queue] max_messages */
  guint n_workers;
  char *queue_dir;
  char *tmp_dir;
  GMutex lock;
  GCond cond;
  GHashTable *messages;   /* id -> RelayMessage (owned) */
  GSequence *due;         /* RelayMessage not busy, by (due_at, id); under lock */
  guint reserved;         /* slots taken by SMTP sessions in DATA; under lock */
  GPtrArray *workers;     /* GThread */
  gboolean stopping;
  /* group commit of queue/ (sync_dir_grouped); never waited on with lock held */
  DurableGroup *dir_group; /* (owned) fsync of dir_fd */
  int dir_fd;             /* queue/, open for fsync */
  GMutex stock_lock;      /* guards stock, refilling */
  GCond stock_cond;       /* signalled when a refill ends */
  GPtrArray *stock;       /* (element-type utf8) ids of files in queue/ holding no message
                           * (empty, or marked free), durable */
  GPtrArray *recycled;    /* (element-type utf8) ids of files of done messages marked free
                           * and renamed, not yet durable under that name (stock_make); at
                           * most RELAY_QUEUE_RECYCLE_MAX; under stock_lock */
  gboolean refilling;     /* a thread is making new stock files */
  GThreadPool *refiller;  /* (nullable) one thread making stock files ahead of need */
  gssize kept_bytes;      /* (atomic) RelayMessage.body octets held, at most
                           * RELAY_QUEUE_BODY_MEMORY_MAX */
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
  g_free (msg->hop);
  g_clear_pointer (&msg->body, g_bytes_unref);
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

static gboolean sync_queue_dir   (gpointer     data,
                                  GError     **error);
static gboolean sync_dir_grouped (RelayQueue  *queue,
                                  GError     **error);

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

static char *
head_line (gsize       envelope_len,
           const char *sum_hex)
{
  char *head = g_strdup_printf (RELAY_QUEUE_ENVELOPE_TAG "%010" G_GSIZE_MODIFIER "u %s\r\n",
                                envelope_len, sum_hex);

  g_assert (strlen (head) == RELAY_QUEUE_HEAD_LEN);
  return head;
}

/* The start of @msg's queue file: its head (with a checksum of zeros, for
 * relay_queue_seal_head()) and its envelope; sets msg->body_offset to its length. */
char *
relay_queue_envelope_block (RelayMessage *msg,
                            gsize        *len)
{
  gsize data_len = 0;
  g_autofree char *data = message_to_data (msg, &data_len);
  g_autofree char *zeros = g_strnfill (64, '0');
  g_autofree char *head = NULL;
  char *block;

  g_assert (data_len <= RELAY_QUEUE_MAX_ENVELOPE);
  head = head_line (data_len, zeros);
  block = g_strconcat (head, data, NULL);
  *len = RELAY_QUEUE_HEAD_LEN + data_len;
  msg->body_offset = *len;
  return block;
}

/* Put the SHA-256 @sum of everything after the head into @head (RELAY_QUEUE_HEAD_LEN
 * octets, from relay_queue_envelope_block()). */
void
relay_queue_seal_head (char      *head,
                       GChecksum *sum)
{
  const char *hex = g_checksum_get_string (sum);

  memcpy (head + RELAY_QUEUE_HEAD_LEN - 2 - 64, hex, 64);
}

/* Outside stock_lock: take up to RELAY_QUEUE_STOCK_SIZE files of done messages already
 * renamed for reuse (queue->recycled), create empty files for the rest, and make all their
 * names durable with one (grouped) directory fsync; their ids, or NULL. */
static GPtrArray *
stock_make (RelayQueue  *queue,
            GError     **error)
{
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  g_mutex_lock (&queue->stock_lock);
  while (queue->recycled->len > 0 && ids->len < RELAY_QUEUE_STOCK_SIZE)
    g_ptr_array_add (ids, g_ptr_array_steal_index_fast (queue->recycled,
                                                        queue->recycled->len - 1));
  g_mutex_unlock (&queue->stock_lock);
  for (guint i = ids->len; i < RELAY_QUEUE_STOCK_SIZE; i++)
    {
      g_autofree char *id = relay_queue_new_id ();
      g_autofree char *path = relay_queue_msg_path (queue, id);
      int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

      if (fd < 0)
        {
          int saved = errno;
          if (i > 0)
            break;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "cannot create %s: %s", path, g_strerror (saved));
          return NULL;
        }
      close (fd);
      g_ptr_array_add (ids, g_steal_pointer (&id));
    }
  if (!sync_dir_grouped (queue, error))
    {
      for (guint i = 0; i < ids->len; i++)
        {
          g_autofree char *path = relay_queue_msg_path (queue, g_ptr_array_index (ids, i));
          g_unlink (path);
        }
      return NULL;
    }
  return g_steal_pointer (&ids);
}

/* Outside stock_lock, by the one thread that set queue->refilling: add new durable names
 * to the stock, then let waiting sessions look again. */
static gboolean
stock_refill (RelayQueue  *queue,
              GError     **error)
{
  g_autoptr (GPtrArray) ids = stock_make (queue, error);

  g_mutex_lock (&queue->stock_lock);
  for (guint i = 0; ids != NULL && i < ids->len; i++)
    g_ptr_array_add (queue->stock, g_strdup (g_ptr_array_index (ids, i)));
  queue->refilling = FALSE;
  g_cond_broadcast (&queue->stock_cond);
  g_mutex_unlock (&queue->stock_lock);
  return ids != NULL;
}

/* The stock refiller's job (its own thread). A failure is logged; a session that finds
 * the stock empty then tries itself and reports the error to its client. */
static void
stock_refill_job (gpointer data,
                  gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!stock_refill (data, &error))
    g_warning ("cannot create queue files: %s", error->message);
}

/*
 * The id of an empty file in queue/ whose name is durable, for a new message: taken from
 * the stock of RELAY_QUEUE_STOCK_SIZE files made durable by one (grouped) directory fsync.
 * When the stock falls to RELAY_QUEUE_STOCK_LOW the refiller thread makes new ones
 * while sessions keep taking names; only a session that finds the stock empty waits (or,
 * with no refill under way, refills it itself). Creating the files and the directory fsync
 * never run under stock_lock. The caller writes the file, seals its head and fsyncs it, or
 * unlinks it.
 */
char *
relay_queue_take_name (RelayQueue  *queue,
                       GError     **error)
{
  g_mutex_lock (&queue->stock_lock);
  for (;;)
    {
      if (queue->stock->len > 0)
        {
          char *id = g_ptr_array_steal_index (queue->stock, queue->stock->len - 1);

          if (queue->stock->len <= RELAY_QUEUE_STOCK_LOW && !queue->refilling
              && queue->refiller != NULL
              && g_thread_pool_push (queue->refiller, queue, NULL))
            queue->refilling = TRUE;
          g_mutex_unlock (&queue->stock_lock);
          return id;
        }
      if (queue->refilling)
        {
          g_cond_wait (&queue->stock_cond, &queue->stock_lock);
          continue;
        }
      queue->refilling = TRUE;
      g_mutex_unlock (&queue->stock_lock);
      if (!stock_refill (queue, error))
        return NULL;
      g_mutex_lock (&queue->stock_lock);
    }
}

/**
 * relay_queue_keep_body:
 * @file: (transfer full): the whole content just written to @msg's queue file (envelope
 *   block, then the message); freed here either way
 *
 * Keeps the message text of a new message in memory for its first delivery attempt
 * (RelayMessage.body, a slice of @file: no copy), so that attempt opens no file: only if
 * @file is at most RELAY_QUEUE_BODY_KEEP_MAX octets and all kept texts stay within
 * RELAY_QUEUE_BODY_MEMORY_MAX. The file stays the message's only durable copy; the worker
 * drops the text after the attempt. Returns whether it was kept.
 */
gboolean
relay_queue_keep_body (RelayQueue   *queue,
                       RelayMessage *msg,
                       GString      *file)
{
  g_autoptr (GBytes) whole = NULL;
  gssize len;

  g_return_val_if_fail (msg->body == NULL, FALSE);
  if (file->len > RELAY_QUEUE_BODY_KEEP_MAX || msg->body_offset > file->len)
    {
      g_string_free (file, TRUE);
      return FALSE;
    }
  len = (gssize) (file->len - msg->body_offset);
  if (g_atomic_pointer_add (&queue->kept_bytes, len) + len > RELAY_QUEUE_BODY_MEMORY_MAX)
    {
      g_atomic_pointer_add (&queue->kept_bytes, -len);
      g_string_free (file, TRUE);
      return FALSE;
    }
  whole = g_string_free_to_bytes (file);
  msg->body = g_bytes_new_from_bytes (whole, msg->body_offset, len);
  return TRUE;
}

/* Drop @msg's message text kept in memory (after its first attempt). */
static void
drop_body (RelayQueue   *queue,
           RelayMessage *msg)
{
  if (msg->body == NULL)
    return;
  g_atomic_pointer_add (&queue->kept_bytes, -(gssize) g_bytes_get_size (msg->body));
  g_clear_pointer (&msg->body, g_bytes_unref);
}

/* Octets of message texts kept in memory now (tests). */
guint64
relay_queue_kept_bytes (RelayQueue *queue)
{
  return (guint64) g_atomic_pointer_add (&queue->kept_bytes, 0);
}

/* The message text of @msg's queue file (after its envelope block), NUL-terminated; from
 * memory while the text is kept there (relay_queue_keep_body()). */
char *
relay_queue_read_body (RelayQueue   *queue,
                       RelayMessage *msg,
                       gsize        *len,
                       GError      **error)
{
  g_autofree char *path = NULL;
  char *contents = NULL;
  gsize total = 0;

  if (msg->body != NULL)
    {
      gconstpointer data = g_bytes_get_data (msg->body, len);
      char *copy = g_malloc (*len + 1);

      /* every octet, a NUL too, as the file path returns them */
      memcpy (copy, data, *len);
      copy[*len] = '\0';
      return copy;
    }
  path = relay_queue_msg_path (queue, msg->id);
  if (!g_file_get_contents (path, &contents, &total, error))
    return NULL;
  if (msg->body_offset > total)
    {
      g_free (contents);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "queue file %s is cut short", path);
      return NULL;
    }
  memmove (contents, contents + msg->body_offset, total - msg->body_offset + 1);
  *len = total - msg->body_offset;
  return contents;
}

/* Does the SHA-256 of @fd's content from @start to its end equal @hex? */
static gboolean
checksum_holds (int         fd,
                goffset     start,
                const char *hex)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guchar *buf = g_malloc (65536);
  goffset at = start;

  for (;;)
    {
      ssize_t n = pread (fd, buf, 65536, at);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      if (n == 0)
        break;
      g_checksum_update (sum, buf, n);
      at += n;
    }
  return strncmp (g_checksum_get_string (sum), hex, 64) == 0;
}

/* Read the envelope at the head of the queue file @path: TRUE with *@data NULL and
 * *@offset 0 if the file has no head (an older version's file, whose envelope is its
 * .env) and with *@data NULL and *@incomplete if the head or checksum does not hold (a
 * file never accepted) or the file is marked free; FALSE if it cannot be read. */
static gboolean
read_envelope_block (const char  *path,
                     char       **data,
                     guint64     *offset,
                     gboolean    *incomplete,
                     GError     **error)
{
  char head[RELAY_QUEUE_HEAD_LEN + 1];
  const gsize tag_len = strlen (RELAY_QUEUE_ENVELOPE_TAG);
  ssize_t n;
  char *end;
  guint64 len;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  *data = NULL;
  *offset = 0;
  *incomplete = FALSE;
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot open %s: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  n = pread (fd, head, RELAY_QUEUE_HEAD_LEN, 0);
  if (n < 0)
    n = 0;
  head[n] = '\0';
  /* A done message's file marked free (relay_queue_recycle_files()) holds no message, even
   * beside an .env of that message a crash brought back: never read through that .env. */
  if (g_str_has_prefix (head, RELAY_QUEUE_FREE_TAG))
    {
      close (fd);
      *incomplete = TRUE;
      return TRUE;
    }
  if (n > 0 && n >= (ssize_t) tag_len && !g_str_has_prefix (head, RELAY_QUEUE_ENVELOPE_TAG))
    {
      close (fd);
      return TRUE;
    }
  len = g_ascii_strtoull (head + MIN ((gsize) n, tag_len), &end, 10);
  if (n != RELAY_QUEUE_HEAD_LEN || end != head + tag_len + 10 || *end != ' '
      || head[RELAY_QUEUE_HEAD_LEN - 2] != '\r' || head[RELAY_QUEUE_HEAD_LEN - 1] != '\n'
      || len > RELAY_QUEUE_MAX_ENVELOPE
      || !checksum_holds (fd, RELAY_QUEUE_HEAD_LEN, end + 1))
    {
      close (fd);
      *incomplete = TRUE;
      return TRUE;
    }
  *data = g_malloc (len + 1);
  n = pread (fd, *data, len, RELAY_QUEUE_HEAD_LEN);
  close (fd);
  if (n < 0 || (guint64) n != len)
    {
      g_clear_pointer (data, g_free);
      *incomplete = TRUE;
      return TRUE;
    }
  (*data)[len] = '\0';
  *offset = RELAY_QUEUE_HEAD_LEN + len;
  return TRUE;
}

/* An envelope from GKeyFile text @data (@path names it in errors). */
static RelayMessage *
message_from_data (const char  *data,
                   const char  *path,
                   GError     **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (RelayMessage) msg = relay_message_new ();
  g_autofree char *ret = NULL;
  gint n;

  if (!g_key_file_load_from_data (kf, data, -1, G_KEY_FILE_NONE, error))
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
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

/* The envelope of queue file @msg_path: its .env @env_path if there is one (the state
 * after delivery attempts), else the block at the head of the file. NULL with @error
 * unset if the file has neither (never accepted). */
static RelayMessage *
message_load (const char  *msg_path,
              const char  *env_path,
              GError     **error)
{
  g_autofree char *block = NULL;
  g_autofree char *env = NULL;
  guint64 offset = 0;
  gboolean incomplete = FALSE;
  RelayMessage *msg;

  if (!read_envelope_block (msg_path, &block, &offset, &incomplete, error))
    return NULL;
  if (incomplete)
    return NULL;
  if (g_file_test (env_path, G_FILE_TEST_EXISTS))
    {
      if (!g_file_get_contents (env_path, &env, NULL, error))
        return NULL;
      msg = message_from_data (env, env_path, error);
      if (msg != NULL)
        msg->env_written = TRUE;
    }
  else if (block != NULL)
    msg = message_from_data (block, msg_path, error);
  else
    return NULL;
  if (msg != NULL)
    msg->body_offset = offset;
  return msg;
}

/* The queue under @state_dir (queue/ and queue-tmp/, created if missing); at most
 * @max_messages accepted at once; @workers threads call @deliver for due messages once
 * relay_queue_start() ran; @worker_funcs (nullable) let a worker keep a session to a
 * next hop and prefer messages to that hop. */
RelayQueue *
relay_queue_new (const char             *state_dir,
                 guint                   max_messages,
                 guint                   workers,
                 RelayDeliverFunc        deliver,
                 const RelayWorkerFuncs *worker_funcs,
                 gpointer                deliver_data,
                 GError                **error)
{
  RelayQueue *queue = g_new0 (RelayQueue, 1);

  queue->deliver = deliver;
  if (worker_funcs != NULL)
    queue->funcs = *worker_funcs;
  queue->deliver_data = deliver_data;
  queue->max_messages = max_messages;
  queue->n_workers = workers;
  queue->queue_dir = g_build_filename (state_dir, "queue", NULL);
  queue->tmp_dir = g_build_filename (state_dir, "queue-tmp", NULL);
  g_mutex_init (&queue->lock);
  g_cond_init (&queue->cond);
  g_mutex_init (&queue->stock_lock);
  g_cond_init (&queue->stock_cond);
  queue->stock = g_ptr_array_new_with_free_func (g_free);
  queue->recycled = g_ptr_array_new_with_free_func (g_free);
  /* Without the refiller thread sessions refill the stock themselves when it is empty. */
  queue->refiller = g_thread_pool_new (stock_refill_job, NULL, 1, TRUE, NULL);
  queue->dir_fd = -1;
  queue->messages = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) relay_message_free);
  queue->due = g_sequence_new (NULL);
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
  queue->dir_fd = open (queue->queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (queue->dir_fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot open %s: %s",
                   queue->queue_dir, g_strerror (saved));
      relay_queue_free (queue);
      return NULL;
    }
  queue->dir_group = durable_group_new (sync_queue_dir, queue);
  return queue;
}

void
relay_queue_free (RelayQueue *queue)
{
  if (queue == NULL)
    return;
  relay_queue_stop (queue);
  /* Wait for a refill under way, then: stock and recycled files hold no message. */
  if (queue->refiller != NULL)
    g_thread_pool_free (g_steal_pointer (&queue->refiller), FALSE, TRUE);
  for (guint i = 0; i < queue->stock->len; i++)
    {
      g_autofree char *path = relay_queue_msg_path (queue, g_ptr_array_index (queue->stock, i));
      g_unlink (path);
    }
  for (guint i = 0; i < queue->recycled->len; i++)
    {
      g_autofree char *path = relay_queue_msg_path (queue,
                                                    g_ptr_array_index (queue->recycled, i));
      g_unlink (path);
    }
  g_ptr_array_unref (queue->stock);
  g_ptr_array_unref (queue->recycled);
  g_mutex_clear (&queue->stock_lock);
  g_cond_clear (&queue->stock_cond);
  g_sequence_free (queue->due);
  /* A message never attempted may still hold its kept text: relay_message_free() frees
   * it. kept_bytes is not lowered for it: it is this queue's own count (nothing else
   * reads it, relay_queue_kept_bytes() is for tests), freed just below with the queue. */
  g_hash_table_unref (queue->messages);
  g_ptr_array_unref (queue->workers);
  g_mutex_clear (&queue->lock);
  g_cond_clear (&queue->cond);
  durable_group_free (queue->dir_group);
  if (queue->dir_fd >= 0)
    close (queue->dir_fd);
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

/* The sync of queue->dir_group: one fsync of queue/. */
static gboolean
sync_queue_dir (gpointer data,
                GError **error)
{
  RelayQueue *queue = data;

  return durable_file_sync_dir_fd (queue->dir_fd, queue->queue_dir, error);
}

/*
 * Make every rename into queue/ done so far durable: one fsync of the directory covers
 * all renames that completed before it started, so concurrent sessions share it (group
 * commit, durable-group.h). Called after the rename, never with queue->lock held.
 */
static gboolean
sync_dir_grouped (RelayQueue  *queue,
                  GError     **error)
{
  return durable_group_commit (queue->dir_group, error);
}

/* Rename the synced file @from into queue/ as @to and make the name durable. */
static gboolean
rename_durably (RelayQueue  *queue,
                const char  *from,
                const char  *to,
                GError     **error)
{
  if (g_rename (from, to) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot rename %s: %s",
                   from, g_strerror (saved));
      return FALSE;
    }
  return sync_dir_grouped (queue, error);
}

/* Write @msg's envelope as its .env atomically (temp file, fsync, rename, grouped fsync
 * of the directory). */
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

  msg->env_written = TRUE;
  data = message_to_data (msg, &len);
  if (!durable_file_write (tmp, data, len, error))
    return FALSE;
  if (!rename_durably (queue, tmp, dest, error))
    {
      g_unlink (tmp);
      return FALSE;
    }
  return TRUE;
}

/* Move the synced queue file @tmp_msg_path (envelope block from
 * relay_queue_envelope_block(), then the message) into the queue and schedule @msg
 * (ownership passes to the queue on success). After TRUE the message is accepted: it
 * survives a crash. On FALSE the caller removes @tmp_msg_path. */
gboolean
relay_queue_commit (RelayQueue   *queue,
                    RelayMessage *msg,
                    const char   *tmp_msg_path,
                    GError      **error)
{
  g_autofree char *dest = relay_queue_msg_path (queue, msg->id);

  g_assert (msg->body_offset > 0);
  if (g_rename (tmp_msg_path, dest) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot rename %s: %s",
                   tmp_msg_path, g_strerror (saved));
      return FALSE;
    }
  if (!sync_dir_grouped (queue, error))
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

static gint
due_compare (gconstpointer a,
             gconstpointer b,
             gpointer      user_data)
{
  const RelayMessage *ma = a, *mb = b;

  if (ma->due_at != mb->due_at)
    return ma->due_at < mb->due_at ? -1 : 1;
  return strcmp (ma->id, mb->id);
}

/* Under queue->lock: put @msg (not busy, not done) among the waiting. */
static void
place_locked (RelayQueue   *queue,
              RelayMessage *msg)
{
  g_assert (msg->due_iter == NULL);
  msg->due_at = relay_message_next_due (msg);
  msg->due_iter = g_sequence_insert_sorted (queue->due, msg, due_compare, NULL);
}

/* Outside queue->lock: note the hop of @msg's next attempt (RelayWorkerFuncs.hop_of). */
static void
set_hop (RelayQueue   *queue,
         RelayMessage *msg)
{
  g_free (msg->hop);
  msg->hop = queue->funcs.hop_of != NULL ? queue->funcs.hop_of (msg, queue->deliver_data)
                                         : NULL;
}

/* Hand @msg (owned; a new id) to the scheduler and wake a worker. */
void
relay_queue_schedule (RelayQueue   *queue,
                      RelayMessage *msg)
{
  set_hop (queue, msg);
  g_mutex_lock (&queue->lock);
  g_assert (!g_hash_table_contains (queue->messages, msg->id));
  g_hash_table_insert (queue->messages, msg->id, msg);
  place_locked (queue, msg);
  g_mutex_unlock (&queue->lock);
  /* after the unlock: the woken worker does not block on the queue mutex at once (a
   * waiter looks at the queue under the mutex before it sleeps, so none is missed) */
  g_cond_signal (&queue->cond);
}

/**
 * relay_queue_recycle_files:
 *
 * For a done message, instead of relay_queue_remove_files(): its .env is unlinked, and
 * its .msg is marked free (RELAY_QUEUE_FREE_TAG over the head) and renamed to a new id,
 * kept (queue->recycled, at most RELAY_QUEUE_RECYCLE_MAX) until the stock is refilled
 * from it: a new message then costs no file creation and its delivery no unlink (each
 * about a tenth of the relay's CPU per message on ext4, freeing and allocating the inode
 * and its blocks). Like the unlink, neither write is synced: after a crash the file is
 * either the done message under its old name (delivered once more, at least once), or a
 * free file, or one whose envelope names another id (both removed by
 * relay_queue_scan()). The stock's directory fsync makes the new name durable before a
 * session writes into it. Returns FALSE (nothing done) when the list is full or the file
 * cannot be marked; the caller then removes the files.
 */
gboolean
relay_queue_recycle_files (RelayQueue   *queue,
                           RelayMessage *msg)
{
  g_autofree char *env = NULL;
  g_autofree char *path = NULL;
  g_autofree char *id = NULL;
  g_autofree char *dest = NULL;
  char head[RELAY_QUEUE_HEAD_LEN];
  gboolean room;
  int fd;

  g_mutex_lock (&queue->stock_lock);
  room = queue->recycled->len < RELAY_QUEUE_RECYCLE_MAX;
  g_mutex_unlock (&queue->stock_lock);
  if (!room)
    return FALSE;
  path = relay_queue_msg_path (queue, msg->id);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  memset (head, ' ', sizeof head);
  memcpy (head, RELAY_QUEUE_FREE_TAG, strlen (RELAY_QUEUE_FREE_TAG));
  memcpy (head + sizeof head - 2, "\r\n", 2);
  if (pwrite (fd, head, sizeof head, 0) != (ssize_t) sizeof head)
    {
      close (fd);
      return FALSE;
    }
  close (fd);
  if (msg->env_written)
    {
      env = env_path (queue, msg->id);
      g_unlink (env);
    }
  id = relay_queue_new_id ();
  dest = relay_queue_msg_path (queue, id);
  if (g_rename (path, dest) != 0)
    {
      g_unlink (path);
      return TRUE;
    }
  g_mutex_lock (&queue->stock_lock);
  if (queue->recycled->len < RELAY_QUEUE_RECYCLE_MAX)
    g_ptr_array_add (queue->recycled, g_steal_pointer (&id));
  g_mutex_unlock (&queue->stock_lock);
  if (id != NULL) /* filled meanwhile */
    g_unlink (dest);
  return TRUE;
}

/* Files of done messages waiting to refill the stock (tests). */
guint
relay_queue_recycled_count (RelayQueue *queue)
{
  guint n;

  g_mutex_lock (&queue->stock_lock);
  n = queue->recycled->len;
  g_mutex_unlock (&queue->stock_lock);
  return n;
}

void
relay_queue_remove_files (RelayQueue   *queue,
                          RelayMessage *msg)
{
  g_autofree char *env = env_path (queue, msg->id);
  g_autofree char *body = relay_queue_msg_path (queue, msg->id);

  /* No directory fsync: a name a crash brings back means one more delivery, not a loss;
   * an .env left alone is removed by the next relay_queue_scan(). A message never given
   * an .env (most are delivered at the first attempt) costs one unlink. */
  if (msg->env_written)
    g_unlink (env);
  g_unlink (body);
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

      if (g_str_has_suffix (name, ".env"))
        {
          g_autofree char *id = g_strndup (name, strlen (name) - 4);
          g_autofree char *body = relay_queue_msg_path (queue, id);

          if (!g_file_test (body, G_FILE_TEST_EXISTS))
            {
              g_info ("%s: removing the envelope of a message already delivered", id);
              g_unlink (path);
            }
        }
      else if (g_str_has_suffix (name, ".msg"))
        {
          g_autoptr (GError) local_error = NULL;
          g_autoptr (RelayMessage) msg = NULL;
          g_autofree char *id = g_strndup (name, strlen (name) - 4);
          g_autofree char *env = env_path (queue, id);

          if (loaded >= RELAY_QUEUE_MAX_MESSAGES)
            {
              g_warning ("queue holds more than %u messages; the rest wait for a restart",
                         RELAY_QUEUE_MAX_MESSAGES);
              break;
            }
          msg = message_load (path, env, &local_error);
          if (msg == NULL && local_error == NULL)
            {
              g_info ("%s: removing a message never accepted (no envelope, or cut short) "
                      "or a free file", id);
              g_unlink (path);
              g_unlink (env); /* a free file's .env: its message is done */
              continue;
            }
          if (msg == NULL)
            {
              g_warning ("skipping %s: %s", path, local_error->message);
              continue;
            }
          if (g_strcmp0 (msg->id, id) != 0)
            {
              /* a done message's file renamed for reuse (relay_queue_recycle_files())
               * whose free mark a crash lost */
              g_info ("%s: removing the file of a message already delivered (%s)", id,
                      msg->id);
              g_unlink (path);
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

/* Under queue->lock: the waiting message due first, or NULL. */
static RelayMessage *
pick_due_locked (RelayQueue *queue,
                 gint64     *due_out)
{
  GSequenceIter *first = g_sequence_get_begin_iter (queue->due);
  RelayMessage *msg;

  if (g_sequence_iter_is_end (first))
    {
      *due_out = G_MAXINT64;
      return NULL;
    }
  msg = g_sequence_get (first);
  *due_out = msg->due_at;
  return msg;
}

/* Under queue->lock: a message due by @now whose next attempt goes to @hop, among the
 * first RELAY_SCHEDULER_HOP_SCAN due; or NULL. */
static RelayMessage *
pick_for_hop_locked (RelayQueue *queue,
                     const char *hop,
                     gint64      now)
{
  GSequenceIter *it = g_sequence_get_begin_iter (queue->due);

  for (guint n = 0; n < RELAY_SCHEDULER_HOP_SCAN && !g_sequence_iter_is_end (it); n++)
    {
      RelayMessage *msg = g_sequence_get (it);

      if (msg->due_at > now)
        break;
      if (msg->hop != NULL && strcmp (msg->hop, hop) == 0)
        return msg;
      it = g_sequence_iter_next (it);
    }
  return NULL;
}

/*
 * One delivery worker. It takes the first due message, unless it keeps a session open to
 * a next hop (RelayWorkerFuncs) and a message to that hop is among the first due: then
 * that one, so a session carries message after message. With nothing due it sleeps until
 * the next message is due or its session's idle time is over (then it closes the session,
 * outside the lock).
 */
static gpointer
worker_main (gpointer data)
{
  RelayQueue *queue = data;
  gpointer worker = queue->funcs.worker_new != NULL
                      ? queue->funcs.worker_new (queue->deliver_data) : NULL;

  g_mutex_lock (&queue->lock);
  while (!queue->stopping)
    {
      gint64 due = 0;
      gint64 now = g_get_real_time () / G_USEC_PER_SEC;
      gint64 until = G_MAXINT64;
      const char *hop = worker != NULL && queue->funcs.worker_hop != NULL
                          ? queue->funcs.worker_hop (worker, &until) : NULL;
      RelayMessage *msg = hop != NULL ? pick_for_hop_locked (queue, hop, now) : NULL;

      if (msg == NULL)
        {
          msg = pick_due_locked (queue, &due);
          if (msg != NULL && due > now)
            msg = NULL;
        }
      if (msg == NULL)
        {
          gint64 mono = g_get_monotonic_time ();
          gint64 sleep = due == G_MAXINT64 ? RELAY_SCHEDULER_MAX_SLEEP
                                           : CLAMP (due - now, 0, RELAY_SCHEDULER_MAX_SLEEP);
          gint64 deadline = mono + sleep * G_TIME_SPAN_SECOND;

          if (hop != NULL && until <= mono)
            {
              g_mutex_unlock (&queue->lock);
              queue->funcs.worker_idle (worker);
              g_mutex_lock (&queue->lock);
              continue;
            }
          if (hop != NULL)
            deadline = MIN (deadline, until);
          g_cond_wait_until (&queue->cond, &queue->lock, deadline);
          continue;
        }

      msg->busy = TRUE;
      g_sequence_remove (msg->due_iter);
      msg->due_iter = NULL;
      g_mutex_unlock (&queue->lock);
      queue->deliver (msg, worker, queue->deliver_data);
      drop_body (queue, msg); /* later attempts read the file */
      if (!relay_message_is_done (msg))
        set_hop (queue, msg);
      g_mutex_lock (&queue->lock);
      msg->busy = FALSE;
      if (!relay_message_is_done (msg))
        place_locked (queue, msg);
      else
        {
          /* Done outside the lock that sessions' replies wait on. */
          g_hash_table_steal (queue->messages, msg->id);
          g_mutex_unlock (&queue->lock);
          if (!relay_queue_recycle_files (queue, msg))
            relay_queue_remove_files (queue, msg);
          relay_message_free (msg);
          g_mutex_lock (&queue->lock);
        }
      /* No wake-up for the others: this worker looks at the queue again at once, and a
       * message placed back is due no earlier than it was (waking every idle worker
       * after each message only made them sleep again: context switches). */
    }
  g_mutex_unlock (&queue->lock);
  if (worker != NULL && queue->funcs.worker_free != NULL)
    queue->funcs.worker_free (worker);
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
