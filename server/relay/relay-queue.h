/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-queue.h: the crash-safe on-disk queue of msgtrk-relay and its delivery scheduler
 * (relay_queue_*), and one queued message's envelope (relay_message_*, relay_recipient_*).
 *
 * Layer: bottom. The queue knows nothing of delivery: its workers call the RelayDeliverFunc
 * given to relay_queue_new() (relay-deliver.c's, set up by relay-main.c).
 */
#pragma once

#include <gio/gio.h>
#include <msgtrk.h>

G_BEGIN_DECLS

/** RELAY_TEXT_LINE_MAX: longest message text line, CRLF included (RFC 5321 4.5.3.1.6);
 * queue files hold no longer line. */
#define RELAY_TEXT_LINE_MAX 1000
/** RELAY_QUEUE_MAX_MESSAGES: largest queue: scanned at start-up, and the default and
 * upper bound of [queue] max_messages, the cap on messages accepted (452 4.3.1 beyond). */
#define RELAY_QUEUE_MAX_MESSAGES 100000
/** RELAY_QUEUE_MAX_ENVELOPE: largest envelope block at the head of a queue file, in
 * octets (a longer one is refused as corrupt at start-up). */
#define RELAY_QUEUE_MAX_ENVELOPE (16 * 1024 * 1024)
/** RELAY_QUEUE_ENVELOPE_TAG: first octets of a queue file. The whole first line (the head,
 * RELAY_QUEUE_HEAD_LEN octets) is the tag, the envelope's length in 10 digits, a space,
 * the SHA-256 (hex) of everything after the head, CRLF. */
#define RELAY_QUEUE_ENVELOPE_TAG "X-Msgtrk-Queue-Envelope: "
#define RELAY_QUEUE_HEAD_LEN (sizeof RELAY_QUEUE_ENVELOPE_TAG - 1 + 10 + 1 + 64 + 2)
/** RELAY_QUEUE_STOCK_SIZE: empty queue files created at once, ahead of need, under new
 * names made durable by one directory fsync (so a new message needs only its own). */
#define RELAY_QUEUE_STOCK_SIZE 32
/** RELAY_QUEUE_FREE_TAG: first octets of a queue file whose message is done and which
 * waits, under a new name, to hold a new message (the head is overwritten with this tag,
 * spaces and CRLF: never loaded as a message). */
#define RELAY_QUEUE_FREE_TAG "X-Msgtrk-Queue-Free: "
/** RELAY_QUEUE_RECYCLE_MAX: files of done messages kept that way at most (beyond, they
 * are unlinked); the stock is refilled from them before new files are created. */
#define RELAY_QUEUE_RECYCLE_MAX (2 * RELAY_QUEUE_STOCK_SIZE)
/** RELAY_QUEUE_BODY_KEEP_MAX: largest queue file (envelope block and message) whose
 * message text an SMTP session hands to the first delivery attempt in memory
 * (RelayMessage.body), so that attempt reads no file; larger ones are read from disk. */
#define RELAY_QUEUE_BODY_KEEP_MAX (64 * 1024)
/** RELAY_QUEUE_BODY_MEMORY_MAX: message texts held in memory that way, all messages
 * together, in octets; past it a new message's text is read from its file. */
#define RELAY_QUEUE_BODY_MEMORY_MAX (16 * 1024 * 1024)

/* One queued message */
typedef struct
{
  char *address;          /* (owned) forward-path without brackets */
  MsgtrkDsnNotify notify;
  char *orcpt;            /* (owned) (nullable) decoded "type;address" */
  gboolean final;         /* no more attempts */
  MsgtrkAction action;    /* MSGTRK_ACTION_NONE until the first attempt */
  char *status;           /* (owned) (nullable) enhanced status code */
  char *remote_mta;       /* (owned) (nullable) */
  char *diagnostic;       /* (owned) (nullable) "smtp; 550 ..." */
  gint64 last_attempt;    /* unix seconds, 0 = none */
  gint64 next_attempt;    /* unix seconds */
  guint attempts;
  gboolean delay_notified;
} RelayRecipient;

typedef struct
{
  char *id;               /* (owned) queue id */
  char *sender;           /* (owned) reverse-path, "" for the null sender */
  char *envid;            /* (owned) (nullable) decoded ENVID */
  char *authenticator;    /* (owned) (nullable) MTRK B */
  guint mtrk_timeout;
  gint64 arrival;         /* unix seconds */
  MsgtrkDsnRet ret;
  gboolean body_8bit;
  gboolean is_dsn;        /* a DSN we made: never report about it */
  GPtrArray *rcpts;       /* (element-type RelayRecipient) */
  gboolean busy;          /* scheduler: a worker holds it */
  GSequenceIter *due_iter; /* scheduler: its place among the waiting, NULL while busy */
  gint64 due_at;          /* scheduler: relay_message_next_due() when it was placed */
  guint64 body_offset;    /* where the message starts in <id>.msg (after the envelope) */
  char *hop;              /* (owned) (nullable) scheduler: the next hop of its next attempt
                           * (RelayWorkerFuncs.hop_of), matched against a worker's open
                           * session; in memory only */
  GBytes *body;           /* (owned) (nullable) the message text exactly as in the file
                           * after body_offset, kept from acceptance until the end of the
                           * first attempt (relay_queue_keep_body()); in memory only */
  gboolean env_written;   /* an .env may exist for it (relay_queue_save() ran, or one was
                           * there at start-up): removal unlinks it too */
} RelayMessage;

RelayRecipient *relay_recipient_new         (const char *address);
void            relay_recipient_free        (RelayRecipient *rcpt);
RelayMessage   *relay_message_new           (void);
void            relay_message_free          (RelayMessage *msg);
gboolean        relay_message_is_tracked    (RelayMessage *msg);
gboolean        relay_message_is_done       (RelayMessage *msg);
gint64          relay_message_next_due      (RelayMessage *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RelayMessage, relay_message_free)

typedef struct _RelayQueue RelayQueue;

/* What a worker calls for a due message: one delivery attempt, which updates and saves
 * @msg (relay_queue_save) itself; the queue removes @msg afterwards if it is done.
 * @worker is the calling worker's state (RelayWorkerFuncs.worker_new), or NULL. */
typedef void (*RelayDeliverFunc) (RelayMessage *msg,
                                  gpointer      worker,
                                  gpointer      user_data);

/*
 * RelayWorkerFuncs: what lets a worker keep a session to a next hop open between
 * messages (all optional; the queue itself knows no hops, only their keys as strings).
 * @worker_new: one worker's state (its open session), made in the worker thread
 * @worker_free: close and free it (at stop)
 * @worker_hop: the key of the hop @worker keeps a session open to, or NULL, and in
 *   *@until (monotonic µs) when that session is to be closed; called under the queue
 *   lock: must not block
 * @worker_idle: close @worker's session if its time is over (called outside the lock)
 * @hop_of: (transfer full) the key of the hop @msg's next attempt goes to, or NULL;
 *   called outside the lock when @msg is placed among the waiting
 */
typedef struct
{
  gpointer    (*worker_new)  (gpointer user_data);
  void        (*worker_free) (gpointer worker);
  const char *(*worker_hop)  (gpointer worker,
                              gint64  *until);
  void        (*worker_idle) (gpointer worker);
  char       *(*hop_of)      (RelayMessage *msg,
                              gpointer      user_data);
} RelayWorkerFuncs;

RelayQueue *relay_queue_new          (const char             *state_dir,
                                      guint                   max_messages,
                                      guint                   workers,
                                      RelayDeliverFunc        deliver,
                                      const RelayWorkerFuncs *worker_funcs,
                                      gpointer                deliver_data,
                                      GError                **error);
void        relay_queue_free         (RelayQueue   *queue);
char       *relay_queue_new_id       (void);
char       *relay_queue_tmp_path     (RelayQueue   *queue,
                                      const char   *id);
char       *relay_queue_msg_path     (RelayQueue   *queue,
                                      const char   *id);
char       *relay_queue_envelope_block (RelayMessage *msg,
                                        gsize        *len);
void        relay_queue_seal_head    (char         *head,
                                      GChecksum    *sum);
char       *relay_queue_take_name    (RelayQueue   *queue,
                                      GError      **error);
gboolean    relay_queue_keep_body    (RelayQueue   *queue,
                                      RelayMessage *msg,
                                      GString      *file);
guint64     relay_queue_kept_bytes   (RelayQueue   *queue);
char       *relay_queue_read_body    (RelayQueue   *queue,
                                      RelayMessage *msg,
                                      gsize        *len,
                                      GError      **error);
gboolean    relay_queue_scan         (RelayQueue   *queue,
                                      GError      **error);
gboolean    relay_queue_commit       (RelayQueue   *queue,
                                      RelayMessage *msg,
                                      const char   *tmp_msg_path,
                                      GError      **error);
gboolean    relay_queue_save         (RelayQueue   *queue,
                                      RelayMessage *msg,
                                      GError      **error);
void        relay_queue_schedule     (RelayQueue   *queue,
                                      RelayMessage *msg);
void        relay_queue_remove_files (RelayQueue   *queue,
                                      RelayMessage *msg);
gboolean    relay_queue_recycle_files (RelayQueue  *queue,
                                       RelayMessage *msg);
guint       relay_queue_recycled_count (RelayQueue *queue);
gboolean    relay_queue_has_room     (RelayQueue   *queue);
gboolean    relay_queue_reserve      (RelayQueue   *queue);
void        relay_queue_release      (RelayQueue   *queue);
void        relay_queue_start        (RelayQueue   *queue);
void        relay_queue_stop         (RelayQueue   *queue);

G_END_DECLS
