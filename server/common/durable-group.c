/* SPDX-License-Identifier: GPL-3.0-or-later */
/* durable-group.c: group commit and the write-ahead journal of the servers (contract:
 * durable-group.h; design: docs/durability.md).
 *
 * How: DurableGroup counts changes (tickets) and completed syncs under one mutex; the
 * sync itself runs without the mutex, by one waiter at a time (the leader), and covers the
 * tickets issued before it started; a condition variable wakes the other threads, and the
 * waiting coroutines (server-coro.h) are on a list of the group, each woken
 * (server_coro_wake()) by whoever finished the sync, from whatever thread. A coroutine
 * never blocks its loop: as the leader it runs the sync in a pool thread
 * (server_coro_run_in_thread(): one hop per sync, for every ticket it covers), which also
 * records the result and wakes the waiters before the leader is resumed; as a waiter it
 * parks (server_coro_park()). A failure is kept (copied to each waiter) and makes the
 * group fail from then on. The journal's steps (append, change, checkpoint) never run on
 * a loop thread either: in a coroutine each runs in one pool hop (journal_step).
 * DurableJournal file layout (native byte order; the file never leaves its machine):
 *
 *   header  = "MSGTRK-JOURNAL 1" (16 octets) generation (guint32) boot id (36 octets:
 *             the kernel's boot_id when the header was written, zeros if unknown) zeros,
 *             512 octets
 *   record  = magic "MTJR" (guint32 0x524a544d) length (guint32) generation (guint32)
 *             crc32 (guint32, of length, generation and the payload) payload
 *             zero padding to a multiple of 8
 *
 * A reader stops at the first record whose magic, generation, length or CRC is wrong:
 * zeros (never written), a record of an older generation, or a write cut by a crash.
 * Limits: durable-group.h.
 * Never: hold a GMutex across a sync other than the leader's own turn; checkpoint while a
 * journaled change is between its record and its rename (a GRWLock keeps them apart).
 */
/* syncfs(2) is a GNU extension (Linux). */
#define _GNU_SOURCE
#include "config.h"

#include "durable-group.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "server-coro.h"

struct _DurableGroup
{
  GMutex lock;
  GCond cond;
  DurableGroupSyncFunc func;
  gpointer data;
  guint64 issued;   /* tickets handed out; under lock */
  guint64 synced;   /* every ticket <= synced is durable; under lock */
  guint64 syncs;    /* syncs run (for tests and benches); under lock */
  gboolean syncing; /* a leader is running func; under lock */
  GError *failure;  /* (owned) (nullable) the first failed sync; under lock */
  GQueue parked;    /* coroutines waiting for the running sync (CoroWaiter links on their
                     * stacks); under lock */
  guint sleepers;   /* threads in g_cond_wait on cond (a broadcast is a system call even
                     * to nobody: only made for them); under lock */
};

/* A coroutine on group->parked (its link's data). */
typedef struct
{
  GList link;
  ServerCoro *co;
  gboolean queued; /* on group->parked; under lock */
} CoroWaiter;

/* One sync, run by the leader (or for a coroutine leader in a pool thread). */
typedef struct
{
  DurableGroup *group;
  guint64 upto; /* the tickets it covers */
} GroupSync;

/**
 * durable_group_new:
 * @func: makes every change completed before it was called durable
 * @data: for @func
 *
 * Returns: (transfer full): a group with no change yet
 */
DurableGroup *
durable_group_new (DurableGroupSyncFunc func,
                   gpointer             data)
{
  DurableGroup *group = g_new0 (DurableGroup, 1);

  g_mutex_init (&group->lock);
  g_cond_init (&group->cond);
  g_queue_init (&group->parked);
  group->func = func;
  group->data = data;
  return group;
}

/* No thread may be inside durable_group_wait() any more. */
void
durable_group_free (DurableGroup *group)
{
  if (group == NULL)
    return;
  g_clear_error (&group->failure);
  g_mutex_clear (&group->lock);
  g_cond_clear (&group->cond);
  g_free (group);
}

/* durable_group_enter: a change is complete; returns its ticket for durable_group_wait(). */
guint64
durable_group_enter (DurableGroup *group)
{
  guint64 ticket;

  g_mutex_lock (&group->lock);
  ticket = ++group->issued;
  g_mutex_unlock (&group->lock);
  return ticket;
}

/* durable_group_last: the last ticket handed out (0 if none): waiting for it makes every
 * change seen so far durable, without a change of one's own. */
guint64
durable_group_last (DurableGroup *group)
{
  guint64 ticket;

  g_mutex_lock (&group->lock);
  ticket = group->issued;
  g_mutex_unlock (&group->lock);
  return ticket;
}

/* durable_group_syncs: how many syncs ran so far. */
guint64
durable_group_syncs (DurableGroup *group)
{
  guint64 n;

  g_mutex_lock (&group->lock);
  n = group->syncs;
  g_mutex_unlock (&group->lock);
  return n;
}

/* Runs the sync of @data (a GroupSync) without the lock, then records its result and
 * wakes every waiter, threads and coroutines (from the leader's thread, or the pool
 * thread of a coroutine leader: ServerCoroFunc). */
static void
group_sync_run (gpointer data)
{
  GroupSync *gs = data;
  DurableGroup *group = gs->group;
  GError *local = NULL;
  gboolean ok = group->func (group->data, &local);

  g_mutex_lock (&group->lock);
  group->syncing = FALSE;
  group->syncs++;
  if (ok)
    group->synced = MAX (group->synced, gs->upto);
  else if (group->failure == NULL)
    group->failure = local != NULL ? local
                                   : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                                          "The sync failed");
  else
    g_clear_error (&local);
  if (group->sleepers > 0)
    g_cond_broadcast (&group->cond);
  /* Under the lock: a woken coroutine sees its condition only after taking it, so it is
   * still alive (parked, or about to look) when it is woken. */
  while (group->parked.head != NULL)
    {
      GList *l = g_queue_pop_head_link (&group->parked);
      CoroWaiter *w = l->data;

      w->queued = FALSE;
      server_coro_wake (w->co);
    }
  g_mutex_unlock (&group->lock);
}

/*
 * durable_group_wait: return once @ticket is covered by a sync that returned TRUE, or
 * FALSE with the failure of the sync that covered it (or of an earlier one). In a
 * coroutine it never blocks the loop: a sync it leads runs in a pool thread, a wait for
 * another's sync parks (see the top of this file).
 */
gboolean
durable_group_wait (DurableGroup *group,
                    guint64       ticket,
                    GError      **error)
{
  gboolean ok = TRUE;
  gboolean in_coro = server_coro_in_loop ();

  g_mutex_lock (&group->lock);
  for (;;)
    {
      GroupSync gs = { group, 0 };

      if (group->synced >= ticket)
        break;
      if (group->failure != NULL)
        {
          if (error != NULL)
            *error = g_error_copy (group->failure);
          ok = FALSE;
          break;
        }
      if (group->syncing && in_coro)
        {
          CoroWaiter w = { .co = server_coro_self (), .queued = TRUE };

          w.link.data = &w;
          g_queue_push_tail_link (&group->parked, &w.link);
          g_mutex_unlock (&group->lock);
          (void) server_coro_park (0); /* may return for an older wake: looked at again */
          g_mutex_lock (&group->lock);
          if (w.queued)
            g_queue_unlink (&group->parked, &w.link);
          continue;
        }
      if (group->syncing)
        {
          group->sleepers++;
          g_cond_wait (&group->cond, &group->lock);
          group->sleepers--;
          continue;
        }
      /* The leader: cover every change completed so far. */
      group->syncing = TRUE;
      gs.upto = group->issued;
      g_mutex_unlock (&group->lock);
      if (in_coro)
        server_coro_run_in_thread (group_sync_run, &gs);
      else
        group_sync_run (&gs);
      g_mutex_lock (&group->lock);
    }
  g_mutex_unlock (&group->lock);
  return ok;
}

/* durable_group_commit: a change is complete; return once it is durable. */
gboolean
durable_group_commit (DurableGroup *group,
                      GError      **error)
{
  return durable_group_wait (group, durable_group_enter (group), error);
}

/* ---- The journal ---- */

#define JOURNAL_MAGIC "MSGTRK-JOURNAL 1"
#define JOURNAL_MAGIC_LEN 16
#define JOURNAL_HEADER_SIZE 512
/* The boot id in the header: after the generation. */
#define JOURNAL_BOOT_ID_OFFSET (JOURNAL_MAGIC_LEN + 4)
#define JOURNAL_BOOT_ID_LEN 36
#define JOURNAL_BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"
#define RECORD_MAGIC 0x524a544du
#define RECORD_HEAD_SIZE 16
#define RECORD_ALIGN 8
/* A journal being created has this before its prefix: replay never takes it for a dead
 * owner's journal before its creator holds the lock (only removes it once that is free). */
#define JOURNAL_NEW_MARK ".new"
/* An unfinished journal this old is a dead creator's. */
#define JOURNAL_NEW_STALE_SECONDS 60
/* Zeros written per write(2) when a journal is created. */
#define JOURNAL_FILL_CHUNK (64 * 1024)

G_STATIC_ASSERT (DURABLE_JOURNAL_MAX_RECORD + RECORD_HEAD_SIZE + JOURNAL_HEADER_SIZE
                 <= DURABLE_JOURNAL_CAPACITY);

struct _DurableJournal
{
  char *path;          /* (owned) */
  char *dir;           /* (owned) */
  int fd;              /* flock'ed LOCK_EX while open */
  GMutex lock;         /* guards pos, generation and the file's contents */
  GRWLock checkpoint;  /* readers: journaled changes in flight; writer: a checkpoint */
  gsize pos;           /* next record's offset; under lock */
  guint32 generation;  /* under lock */
  DurableGroup *group; /* (owned) fdatasync of fd */
  GMutex busy_lock;
  GCond busy_cond;
  guint busy;          /* pool threads still at work on it after their caller went on (a
                        * kicked sync): close waits; under busy_lock */
  gboolean closing;    /* close waits on busy_cond; under busy_lock */
  gint boot_lost;      /* (atomic) a sync failed: the header names no boot (journal_sync_failed) */
};

static guint32 crc_table[256];

static gpointer
crc_table_init (gpointer data)
{
  for (guint32 i = 0; i < 256; i++)
    {
      guint32 c = i;

      for (int k = 0; k < 8; k++)
        c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      crc_table[i] = c;
    }
  return NULL;
}

/* CRC-32 (IEEE 802.3), continued from @crc (start with 0). */
static guint32
crc32_update (guint32     crc,
              const void *data,
              gsize       len)
{
  static GOnce once = G_ONCE_INIT;
  const guchar *p = data;

  g_once (&once, crc_table_init, NULL);
  crc = ~crc;
  while (len-- > 0)
    crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static guint32
record_crc (guint32     len,
            guint32     generation,
            const char *payload)
{
  guint32 crc = crc32_update (0, &len, sizeof len);

  crc = crc32_update (crc, &generation, sizeof generation);
  return crc32_update (crc, payload, len);
}

static gboolean
errno_error (GError    **error,
             int         saved,
             const char *what,
             const char *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot %s %s: %s", what,
               path, g_strerror (saved));
  return FALSE;
}

static gboolean
pwrite_all (int         fd,
            const void *data,
            gsize       len,
            off_t       offset)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, len, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize) n;
      offset += n;
    }
  return TRUE;
}

/* The journal open as @fd made to name no boot (its header's boot id zeroed; best
 * effort, unsynced: only a replay in this boot reads it, from the page cache). */
static void
header_forget_boot (int fd)
{
  static const char zeros[JOURNAL_BOOT_ID_LEN];

  (void) pwrite_all (fd, zeros, sizeof zeros, JOURNAL_BOOT_ID_OFFSET);
}

/* A sync of @journal or of its file system failed: the kernel may have dropped dirty
 * pages of what the journal protects, so "written in this boot" no longer means "on
 * disk or in the page cache". The header names no boot from now on (also after a
 * checkpoint), and a replay takes the journal for an earlier boot's (restores all). */
static void
journal_sync_failed (DurableJournal *journal)
{
  g_atomic_int_set (&journal->boot_lost, TRUE);
  header_forget_boot (journal->fd);
}

static gboolean
journal_datasync (gpointer data,
                  GError **error)
{
  DurableJournal *journal = data;

  if (fdatasync (journal->fd) != 0)
    {
      int saved = errno;

      journal_sync_failed (journal);
      return errno_error (error, saved, "sync the journal", journal->path);
    }
  return TRUE;
}

static gpointer
boot_id_read (gpointer data)
{
  static char id[JOURNAL_BOOT_ID_LEN];
  g_autofree char *text = NULL;
  gsize len = 0;

  if (!g_file_get_contents (JOURNAL_BOOT_ID_FILE, &text, &len, NULL) || len < sizeof id)
    return NULL;
  for (gsize i = 0; i < sizeof id; i++)
    if (!g_ascii_isxdigit (text[i]) && text[i] != '-')
      return NULL;
  memcpy (id, text, sizeof id);
  return id;
}

/* The running kernel's boot id (JOURNAL_BOOT_ID_LEN octets, read once), or NULL when it
 * cannot be read: a journal's header then says "unknown", which a replay takes for
 * another boot. */
static const char *
boot_id (void)
{
  static GOnce once = G_ONCE_INIT;

  return g_once (&once, boot_id_read, NULL);
}

static gboolean
write_header (DurableJournal *journal,
              guint32         generation,
              GError        **error)
{
  char header[JOURNAL_HEADER_SIZE] = { 0 };
  int fd = journal->fd;
  const char *path = journal->path;

  memcpy (header, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN);
  memcpy (header + JOURNAL_MAGIC_LEN, &generation, sizeof generation);
  if (boot_id () != NULL && !g_atomic_int_get (&journal->boot_lost))
    memcpy (header + JOURNAL_BOOT_ID_OFFSET, boot_id (), JOURNAL_BOOT_ID_LEN);
  if (!pwrite_all (fd, header, sizeof header, 0))
    return errno_error (error, errno, "write", path);
  /* A sync that failed meanwhile (journal_sync_failed, in the group's leader, without
   * the journal's lock) zeroed the old header: not undone by this one. */
  if (g_atomic_int_get (&journal->boot_lost))
    header_forget_boot (fd);
  return TRUE;
}

/**
 * durable_journal_open:
 * @dir: the directory whose changes the journal protects (it lives there)
 * @prefix: its file name starts with this (then six random characters)
 *
 * Creates this process's journal: DURABLE_JOURNAL_CAPACITY octets written and synced.
 *
 * Returns: (transfer full) (nullable): the journal, or %NULL with @error set
 */
DurableJournal *
durable_journal_open (const char *dir,
                      const char *prefix,
                      GError    **error)
{
  g_autoptr (DurableJournal) journal = g_new0 (DurableJournal, 1);
  g_autofree char *zeros = g_malloc0 (JOURNAL_FILL_CHUNK);
  g_autofree char *new_path = NULL;
  gsize done = JOURNAL_HEADER_SIZE;

  g_mutex_init (&journal->lock);
  g_rw_lock_init (&journal->checkpoint);
  g_mutex_init (&journal->busy_lock);
  g_cond_init (&journal->busy_cond);
  journal->dir = g_strdup (dir);
  new_path = g_strdup_printf ("%s/" JOURNAL_NEW_MARK "%sXXXXXX", dir, prefix);
  journal->fd = g_mkstemp_full (new_path, O_RDWR | O_CLOEXEC, 0600);
  if (journal->fd < 0)
    {
      errno_error (error, errno, "create the journal", new_path);
      return NULL;
    }
  journal->path = g_strdup (new_path); /* until renamed below */
  if (flock (journal->fd, LOCK_EX | LOCK_NB) != 0)
    {
      errno_error (error, errno, "lock the journal", journal->path);
      return NULL;
    }
  journal->generation = 1;
  if (!write_header (journal, journal->generation, error))
    return NULL;
  while (done < DURABLE_JOURNAL_CAPACITY)
    {
      gsize n = MIN (JOURNAL_FILL_CHUNK, DURABLE_JOURNAL_CAPACITY - done);

      if (!pwrite_all (journal->fd, zeros, n, (off_t) done))
        {
          errno_error (error, errno, "fill the journal", journal->path);
          return NULL;
        }
      done += n;
    }
  if (fsync (journal->fd) != 0)
    {
      errno_error (error, errno, "sync the journal", journal->path);
      return NULL;
    }
  /* Locked and whole: now under the name replay looks at. */
  g_free (journal->path);
  journal->path = g_strdup_printf ("%s/%s%s", dir, prefix,
                                   new_path + strlen (dir) + 1 + strlen (JOURNAL_NEW_MARK)
                                     + strlen (prefix));
  if (g_rename (new_path, journal->path) != 0)
    {
      errno_error (error, errno, "rename", new_path);
      g_free (journal->path);
      journal->path = g_steal_pointer (&new_path);
      return NULL;
    }
  if (!durable_file_sync_dir (dir, error))
    return NULL;
  journal->pos = JOURNAL_HEADER_SIZE;
  journal->group = durable_group_new (journal_datasync, journal);
  return g_steal_pointer (&journal);
}

/* Make everything the journal protects durable without it: syncfs(2) of its file
 * system (the renamed files, their directory, the journal). */
static gboolean
journal_syncfs (DurableJournal *journal,
                GError        **error)
{
  if (syncfs (journal->fd) != 0)
    {
      int saved = errno;

      journal_sync_failed (journal);
      return errno_error (error, saved, "sync the file system of", journal->path);
    }
  return TRUE;
}

/*
 * durable_journal_close: sync what the journal protects, remove it and free it. When the
 * sync fails the journal is kept: the next start replays it.
 */
void
durable_journal_close (DurableJournal *journal)
{
  g_autoptr (GError) error = NULL;

  if (journal == NULL)
    return;
  /* A kicked sync still running in a pool thread (its session has ended) finishes
   * first. */
  g_mutex_lock (&journal->busy_lock);
  journal->closing = TRUE;
  while (journal->busy > 0)
    g_cond_wait (&journal->busy_cond, &journal->busy_lock);
  g_mutex_unlock (&journal->busy_lock);
  if (journal->fd >= 0)
    {
      if (journal->group != NULL && journal_syncfs (journal, &error))
        {
          g_unlink (journal->path);
          durable_file_sync_dir (journal->dir, NULL);
        }
      else if (journal->group == NULL)
        g_unlink (journal->path); /* never finished: nothing written in it */
      else
        g_warning ("%s kept for the next start: %s", journal->path, error->message);
      close (journal->fd);
    }
  durable_group_free (journal->group);
  g_mutex_clear (&journal->lock);
  g_rw_lock_clear (&journal->checkpoint);
  g_mutex_clear (&journal->busy_lock);
  g_cond_clear (&journal->busy_cond);
  g_free (journal->path);
  g_free (journal->dir);
  g_free (journal);
}

/* A full journal: sync everything, then start a new generation from the top. Called with
 * the checkpoint lock held for writing (no journaled change in flight). */
static gboolean
journal_checkpoint (DurableJournal *journal,
                    gsize           need,
                    GError        **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&journal->lock);
  if (journal->pos + need > DURABLE_JOURNAL_CAPACITY)
    {
      ok = journal_syncfs (journal, error)
           && write_header (journal, journal->generation + 1, error)
           && journal_datasync (journal, error);
      if (ok)
        {
          journal->generation++;
          journal->pos = JOURNAL_HEADER_SIZE;
        }
    }
  g_mutex_unlock (&journal->lock);
  return ok;
}

/* Append one record with the checkpoint lock held for reading; *full when it does not
 * fit (nothing written). */
static gboolean
journal_append_locked (DurableJournal *journal,
                       const char     *record,
                       gsize           len,
                       guint64        *ticket,
                       gboolean       *full,
                       GError        **error)
{
  g_autofree char *buf = NULL;
  gsize total = RECORD_HEAD_SIZE + ((len + RECORD_ALIGN - 1) / RECORD_ALIGN) * RECORD_ALIGN;
  guint32 head[4];

  *full = FALSE;
  buf = g_malloc0 (total);
  g_mutex_lock (&journal->lock);
  if (journal->pos + total > DURABLE_JOURNAL_CAPACITY)
    {
      g_mutex_unlock (&journal->lock);
      *full = TRUE;
      return TRUE;
    }
  head[0] = RECORD_MAGIC;
  head[1] = (guint32) len;
  head[2] = journal->generation;
  head[3] = record_crc ((guint32) len, journal->generation, record);
  memcpy (buf, head, sizeof head);
  memcpy (buf + RECORD_HEAD_SIZE, record, len);
  if (!pwrite_all (journal->fd, buf, total, (off_t) journal->pos))
    {
      int saved = errno;

      g_mutex_unlock (&journal->lock);
      return errno_error (error, saved, "append to", journal->path);
    }
  journal->pos += total;
  g_mutex_unlock (&journal->lock);
  *ticket = durable_group_enter (journal->group);
  return TRUE;
}

/* A full journal's checkpoint, under the checkpoint lock for writing (never on a loop
 * thread: see journal_step). */
static gboolean
checkpoint_run (DurableJournal *journal,
                gsize           need,
                GError        **error)
{
  gboolean ok;

  g_rw_lock_writer_lock (&journal->checkpoint);
  ok = journal_checkpoint (journal, need, error);
  g_rw_lock_writer_unlock (&journal->checkpoint);
  return ok;
}

/* Append with the checkpoint lock held for reading on return (released by the caller).
 * A full journal is checkpointed first (syncfs, the header, fdatasync). Never on a loop
 * thread (journal_step): the wait for the lock (a checkpoint in another thread holding
 * it) blocks this thread only, and ends when the checkpoint releases it. */
static gboolean
journal_append_hold (DurableJournal *journal,
                     const char     *record,
                     gsize           len,
                     guint64        *ticket,
                     GError        **error)
{
  if (len > DURABLE_JOURNAL_MAX_RECORD)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   "A journal record holds at most %d octets", DURABLE_JOURNAL_MAX_RECORD);
      return FALSE;
    }
  for (;;)
    {
      gboolean full = FALSE;

      g_rw_lock_reader_lock (&journal->checkpoint);
      if (!journal_append_locked (journal, record, len, ticket, &full, error))
        {
          g_rw_lock_reader_unlock (&journal->checkpoint);
          return FALSE;
        }
      if (!full)
        return TRUE;
      g_rw_lock_reader_unlock (&journal->checkpoint);
      if (!checkpoint_run (journal, RECORD_HEAD_SIZE + len + RECORD_ALIGN, error))
        return FALSE;
    }
}

/* One journaled step (journal_step): an append, the change it describes, and the wait
 * for it (each optional), with its result. */
typedef struct
{
  DurableJournal *journal;
  const char *record;
  gsize len;
  DurableJournalApplyFunc apply; /* (nullable) */
  gpointer data;
  guint64 *ticket;               /* (nullable): NULL waits */
  GError **error;
  gboolean ok;
} JournalStep;

static void
journal_step_run (gpointer data)
{
  JournalStep *st = data;
  guint64 mine = 0;

  st->ok = FALSE;
  if (!journal_append_hold (st->journal, st->record, st->len, &mine, st->error))
    return;
  st->ok = st->apply == NULL || st->apply (st->data, st->error);
  g_rw_lock_reader_unlock (&st->journal->checkpoint);
  if (!st->ok)
    return;
  if (st->ticket != NULL)
    *st->ticket = mine;
  else
    st->ok = durable_group_wait (st->journal->group, mine, st->error);
}

static void
journal_busy (DurableJournal *journal)
{
  g_mutex_lock (&journal->busy_lock);
  journal->busy++;
  g_mutex_unlock (&journal->busy_lock);
}

static void
journal_idle (DurableJournal *journal)
{
  g_mutex_lock (&journal->busy_lock);
  if (--journal->busy == 0 && journal->closing)
    g_cond_broadcast (&journal->busy_cond);
  g_mutex_unlock (&journal->busy_lock);
}

/* The sync of every ticket issued so far started now, in this thread, unless one runs
 * already (or there is nothing to sync, or the group failed): as the leader of
 * durable_group_wait() does, without a waiter of its own. */
static void
group_kick (DurableGroup *group)
{
  GroupSync gs = { group, 0 };

  g_mutex_lock (&group->lock);
  if (group->syncing || group->synced >= group->issued || group->failure != NULL)
    {
      g_mutex_unlock (&group->lock);
      return;
    }
  group->syncing = TRUE;
  gs.upto = group->issued;
  g_mutex_unlock (&group->lock);
  group_sync_run (&gs);
}

/* A journaled step's pool thread, its coroutine resumed: the step's sync started (the
 * coroutine will wait for it, after its next writes: the sync overlaps them). */
static void
journal_kick (gpointer data)
{
  DurableJournal *journal = data;

  group_kick (journal->group);
  journal_idle (journal);
}

/* The journal's file I/O never runs on a loop thread (docs/durability.md, "Off the loop
 * thread"): in a coroutine the whole step (the record's pwrite, a checkpoint if the
 * journal is full, the change's open/write/rename/link, and the sync when it is waited
 * for, led in that same thread) runs in one pool hop (server_coro_run_in_thread()), the
 * coroutine parked; elsewhere here. A file system that stalls (a commit under another
 * process's fsyncs) then holds up that session only, not its loop's others. */
static gboolean
journal_step (JournalStep *st)
{
  if (st->ticket == NULL || !server_coro_in_loop ())
    {
      server_coro_run_in_thread (journal_step_run, st);
      return st->ok;
    }
  /* Not waited for here: the same thread starts the sync once the coroutine is resumed
   * (journal_kick; the coroutine's later wait then finds it done or running: no leader's
   * hop of its own). */
  journal_busy (st->journal);
  server_coro_run_in_thread_then (journal_step_run, st, journal_kick, st->journal);
  return st->ok;
}

/**
 * durable_journal_append:
 * @ticket: (out): for durable_journal_wait()
 *
 * Appends @record (not yet durable: wait for @ticket). In a coroutine, off the loop
 * thread (journal_step).
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
durable_journal_append (DurableJournal *journal,
                        const char     *record,
                        gsize           len,
                        guint64        *ticket,
                        GError        **error)
{
  JournalStep st = { journal, record, len, NULL, NULL, ticket, error, FALSE };

  g_return_val_if_fail (ticket != NULL, FALSE);
  return journal_step (&st);
}

/* durable_journal_wait: return once the record of @ticket is durable (group commit). */
gboolean
durable_journal_wait (DurableJournal *journal,
                      guint64         ticket,
                      GError        **error)
{
  return durable_group_wait (journal->group, ticket, error);
}

/* durable_journal_last: the ticket of the last record appended (0 if none). */
guint64
durable_journal_last (DurableJournal *journal)
{
  return durable_group_last (journal->group);
}

/* Write @len octets to a new file @tmp_path, without fsync. */
static gboolean
write_unsynced (const char *tmp_path,
                const char *data,
                gsize       len,
                GError    **error)
{
  int fd = open (tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
  gboolean ok;

  if (fd < 0)
    return errno_error (error, errno, "create", tmp_path);
  ok = pwrite_all (fd, data, len, 0);
  if (!ok)
    errno_error (error, errno, "write", tmp_path);
  if (close (fd) != 0 && ok)
    ok = errno_error (error, errno, "write", tmp_path);
  if (!ok)
    g_unlink (tmp_path);
  return ok;
}

/**
 * durable_journal_place:
 *
 * Writes @len octets to a new file @tmp_path (same directory as @path) and renames it
 * over @path, neither synced: the file part of durable_journal_file_replace(), for a
 * DurableJournalApplyFunc whose record is already in the journal.
 *
 * Returns: %TRUE, or %FALSE with @error set (@tmp_path removed)
 */
gboolean
durable_journal_place (const char *tmp_path,
                       const char *path,
                       const char *data,
                       gsize       len,
                       GError    **error)
{
  if (!write_unsynced (tmp_path, data, len, error))
    return FALSE;
  if (g_rename (tmp_path, path) != 0)
    {
      errno_error (error, errno, "rename", tmp_path);
      g_unlink (tmp_path);
      return FALSE;
    }
  return TRUE;
}

/**
 * durable_journal_apply:
 * @apply: makes the change @record describes (unsynced: the record covers it)
 * @ticket: (out) (optional): when given, the call returns before the change is durable
 *   and the caller waits for @ticket (durable_journal_wait())
 *
 * Appends @record, then calls @apply before a checkpoint can sync the file system and
 * overwrite the record (the checkpoint lock is held across both): after a crash, the
 * journal's replay makes again whatever @apply had not made durable. In a coroutine
 * all of it (and the wait, without @ticket) runs in one pool hop (journal_step): @apply
 * runs in a pool thread then.
 *
 * Returns: %TRUE, or %FALSE with @error set (by the append or by @apply)
 */
gboolean
durable_journal_apply (DurableJournal         *journal,
                       const char             *record,
                       gsize                   len,
                       DurableJournalApplyFunc apply,
                       gpointer                data,
                       guint64                *ticket,
                       GError                **error)
{
  JournalStep st = { journal, record, len, apply, data, ticket, error, FALSE };

  return journal_step (&st);
}

/* A journaled step started without waiting (durable_journal_apply_start()). */
struct _DurableJournalJob
{
  DurableJournal *journal;
  char *record; /* (owned) */
  gpointer data;
  GDestroyNotify data_free; /* (nullable) */
  guint64 ticket;
  GError *error; /* (owned) (nullable) the step's failure */
  JournalStep st;
  ServerCoroJob *job; /* (owned) (nullable) once finished */
};

/**
 * durable_journal_apply_start:
 * @apply: (nullable): makes the change @record describes (unsynced: the record covers it)
 * @data: for @apply, owned by the job from now on (@data_free'd when it is freed)
 *
 * durable_journal_apply() with a ticket, started and not waited for: from a coroutine or
 * any thread, the whole step (the append, a checkpoint if the journal is full, @apply)
 * runs in a pool thread (server_coro_job_start()) while the caller goes on, nothing
 * parked; the same thread then starts the journal's sync (as journal_step's kick). The
 * caller joins it: durable_journal_job_written() before it relies on the change,
 * durable_journal_job_finish() before it relies on its durability; either returns at
 * once, woken by nobody, when that part is done. Every job is finished or freed
 * (durable_journal_job_free(): joined, not waited durable) before the journal is closed.
 *
 * Returns: (transfer full): the job
 */
DurableJournalJob *
durable_journal_apply_start (DurableJournal         *journal,
                             const char             *record,
                             gsize                   len,
                             DurableJournalApplyFunc apply,
                             gpointer                data,
                             GDestroyNotify          data_free)
{
  DurableJournalJob *job = g_new0 (DurableJournalJob, 1);

  job->journal = journal;
  job->record = g_memdup2 (record, len);
  job->data = data;
  job->data_free = data_free;
  job->st = (JournalStep) { journal, job->record, len, apply, data, &job->ticket, &job->error,
                            FALSE };
  journal_busy (journal);
  job->job = server_coro_job_start (journal_step_run, &job->st, journal_kick, journal);
  return job;
}

/**
 * durable_journal_job_written:
 *
 * Returns once the job's record is appended and its change made (parks a coroutine only
 * if they are not yet).
 *
 * Returns: %TRUE, or %FALSE with @error set (by the append or by the change)
 */
gboolean
durable_journal_job_written (DurableJournalJob *job,
                             GError           **error)
{
  g_return_val_if_fail (job != NULL && job->job != NULL, FALSE);
  server_coro_job_join (job->job);
  if (!job->st.ok)
    {
      if (error != NULL)
        *error = g_error_copy (job->error);
      return FALSE;
    }
  return TRUE;
}

/**
 * durable_journal_job_step_done:
 * @job: a job not yet finished or freed
 *
 * Whether the job's step has ended (its record appended and its change made, or failed):
 * durable_journal_job_written() would return at once, without a park. For counts of the
 * joins that had to wait (the front's exit summary); a step that ends right after this
 * answered FALSE makes the join that follows return at once all the same.
 *
 * Returns: %TRUE once the step has ended
 */
gboolean
durable_journal_job_step_done (DurableJournalJob *job)
{
  g_return_val_if_fail (job != NULL && job->job != NULL, FALSE);
  return server_coro_job_joined (job->job);
}

/**
 * durable_journal_job_finish:
 * @job: (transfer full): a job
 *
 * Returns once the job's record is durable (its change with it): the job's own sync
 * joined (parks only while it runs), then its ticket waited for (durable_journal_wait():
 * at once when that sync covered it; a sync that was running already when the job's
 * started is waited for, and the next one led). Frees @job.
 *
 * Returns: %TRUE, or %FALSE with @error set (the step failed, or the sync did)
 */
gboolean
durable_journal_job_finish (DurableJournalJob *job,
                            GError           **error)
{
  gboolean ok;

  g_return_val_if_fail (job != NULL, FALSE);
  ok = durable_journal_job_written (job, error);
  server_coro_job_finish (g_steal_pointer (&job->job));
  if (ok)
    ok = durable_journal_wait (job->journal, job->ticket, error);
  durable_journal_job_free (job);
  return ok;
}

/**
 * durable_journal_job_free:
 * @job: (transfer full) (nullable): a job
 *
 * Joins @job's step (its record and change; not its sync, which goes on for the
 * journal's other records without the caller: journal_kick uses only the journal, kept
 * by its busy count) and frees it: every exit of the caller that does not finish it (a
 * refusal is not held up by a file system's slow commit).
 */
void
durable_journal_job_free (DurableJournalJob *job)
{
  if (job == NULL)
    return;
  server_coro_job_detach (g_steal_pointer (&job->job));
  if (job->data_free != NULL)
    job->data_free (job->data);
  g_clear_error (&job->error);
  g_free (job->record);
  g_free (job);
}

typedef struct
{
  const char *tmp_path;
  const char *path;
  const char *data;
  gsize len;
} Replace;

static gboolean
replace_apply (gpointer data,
               GError **error)
{
  Replace *r = data;

  return durable_journal_place (r->tmp_path, r->path, r->data, r->len, error);
}

/**
 * durable_journal_file_replace:
 * @ticket: (out) (optional): when given, the call returns before the change is durable
 *   and the caller waits for @ticket (durable_journal_wait()), e.g. after releasing a lock
 *
 * Gives @path the content @data: the content is appended to the journal as a record
 * (the replay callback recognises the file by it), then written to @tmp_path (same
 * directory) and renamed over @path, neither synced. A reader sees the old content or
 * the new one; after a crash the journal's replay restores it.
 *
 * Returns: %TRUE, or %FALSE with @error set (@tmp_path removed)
 */
gboolean
durable_journal_file_replace (DurableJournal *journal,
                              const char     *tmp_path,
                              const char     *path,
                              const char     *data,
                              gsize           len,
                              guint64        *ticket,
                              GError        **error)
{
  Replace r = { tmp_path, path, data, len };

  return durable_journal_apply (journal, data, len, replace_apply, &r, ticket, error);
}

/* durable_journal_get_path: the journal's file (its name tells its owner's other files). */
const char *
durable_journal_get_path (DurableJournal *journal)
{
  return journal->path;
}

/* Hand the records of the journal open as @fd to @func; FALSE when @func failed. */
static gboolean
replay_one (int                          fd,
            const char                  *path,
            DurableJournalReplayFunc     func,
            DurableJournalReplayDoneFunc done,
            gpointer                     data,
            guint                       *count,
            GError                     **error)
{
  char header[JOURNAL_HEADER_SIZE];
  g_autofree char *payload = g_malloc (DURABLE_JOURNAL_MAX_RECORD + 1);
  guint32 generation;
  gsize pos = JOURNAL_HEADER_SIZE;
  gboolean this_boot;

  if (pread (fd, header, sizeof header, 0) != (ssize_t) sizeof header
      || memcmp (header, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0)
    return TRUE; /* cut before its header: nothing in it */
  memcpy (&generation, header + JOURNAL_MAGIC_LEN, sizeof generation);
  /* Zeros (unknown, or a journal older than the field) never match. */
  this_boot = boot_id () != NULL
              && memcmp (header + JOURNAL_BOOT_ID_OFFSET, boot_id (), JOURNAL_BOOT_ID_LEN) == 0;
  while (pos + RECORD_HEAD_SIZE <= DURABLE_JOURNAL_CAPACITY)
    {
      guint32 head[4];
      gsize total;

      if (pread (fd, head, sizeof head, (off_t) pos) != (ssize_t) sizeof head
          || head[0] != RECORD_MAGIC || head[2] != generation
          || head[1] > DURABLE_JOURNAL_MAX_RECORD
          || pos + RECORD_HEAD_SIZE + head[1] > DURABLE_JOURNAL_CAPACITY)
        break;
      if (pread (fd, payload, head[1], (off_t) (pos + RECORD_HEAD_SIZE)) != (ssize_t) head[1]
          || record_crc (head[1], generation, payload) != head[3])
        break;
      payload[head[1]] = '\0';
      if (!func (payload, head[1], this_boot, data, error))
        {
          g_prefix_error (error, "%s: ", path);
          return FALSE;
        }
      (*count)++;
      total = RECORD_HEAD_SIZE + ((head[1] + RECORD_ALIGN - 1) / RECORD_ALIGN) * RECORD_ALIGN;
      pos += total;
    }
  if (done != NULL && !done (data, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

/**
 * durable_journal_replay:
 * @dir: where the journals are
 * @prefix: their names' prefix (as given to durable_journal_open())
 * @func: applies one record (nul-terminated after @len octets), durably or not (the
 *   file system is synced before the journal goes)
 * @done: (nullable): called after each journal's last record, before that sync
 *
 * For each journal in @dir whose owner is gone (its flock can be taken), hands its
 * records to @func in order, then syncs the file system and removes the journal. A
 * journal whose record @func refuses is kept (and @error set; the others are replayed).
 * @func is told whether the journal was written since the machine last started (its
 * header's boot id is the running kernel's): then its owner died but the system did not,
 * so every write it made before it died is there (in the page cache if not on disk), and
 * only what its death cut short can be missing.
 *
 * Returns: the number of records replayed
 */
guint
durable_journal_replay (const char                  *dir,
                        const char                  *prefix,
                        DurableJournalReplayFunc     func,
                        DurableJournalReplayDoneFunc done,
                        gpointer                     data,
                        GError                     **error)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autofree char *new_prefix = g_strconcat (JOURNAL_NEW_MARK, prefix, NULL);
  const char *name;
  guint count = 0;

  if (d == NULL)
    return 0;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autoptr (GError) local = NULL;
      gboolean unfinished = g_str_has_prefix (name, new_prefix);
      int fd;

      if (!g_str_has_prefix (name, prefix) && !unfinished)
        continue;
      path = g_build_filename (dir, name, NULL);
      fd = open (path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (flock (fd, LOCK_EX | LOCK_NB) != 0)
        {
          close (fd); /* its owner is alive */
          continue;
        }
      if (unfinished)
        {
          GStatBuf st;

          /* Its creator died before it held a record (a minute old: not one being
           * created right now, between its mkstemp and its flock). */
          if (g_lstat (path, &st) == 0
              && (gint64) st.st_mtime + JOURNAL_NEW_STALE_SECONDS
                   < g_get_real_time () / G_USEC_PER_SEC)
            g_unlink (path);
          close (fd);
          continue;
        }
      if (!replay_one (fd, path, func, done, data, &count, &local))
        {
          g_warning ("Journal kept: %s", local->message);
          if (error != NULL && *error == NULL)
            g_propagate_error (error, g_steal_pointer (&local));
          close (fd);
          continue;
        }
      if (syncfs (fd) == 0)
        {
          g_unlink (path);
          durable_file_sync_dir (dir, NULL);
        }
      else
        header_forget_boot (fd); /* kept: what it protects may not be on disk */
      close (fd);
    }
  return count;
}

/* ---- Tests only ---- */

typedef struct
{
  DurableJournal *journal;
  guint ms;
  GMutex lock;
  GCond cond;
  gboolean held;
} CheckpointHold;

static gpointer
checkpoint_hold_thread (gpointer data)
{
  CheckpointHold *h = data;
  guint ms = h->ms;
  GRWLock *checkpoint = &h->journal->checkpoint;

  g_rw_lock_writer_lock (checkpoint);
  g_mutex_lock (&h->lock);
  h->held = TRUE;
  g_cond_signal (&h->cond);
  g_mutex_unlock (&h->lock);
  /* @h is gone from here on. */
  g_usleep ((gulong) ms * 1000);
  g_rw_lock_writer_unlock (checkpoint);
  return NULL;
}

/**
 * durable_journal_probe_hold_checkpoint:
 *
 * Tests only: a thread of its own takes @journal's checkpoint lock for writing, as a
 * checkpoint does around its syncfs, and holds it for @ms milliseconds.
 *
 * Returns: (transfer full): the thread (join it), once it holds the lock
 */
GThread *
durable_journal_probe_hold_checkpoint (DurableJournal *journal,
                                       guint           ms)
{
  CheckpointHold h = { journal, ms };
  GThread *thread;

  g_mutex_init (&h.lock);
  g_cond_init (&h.cond);
  thread = g_thread_new ("checkpoint-hold", checkpoint_hold_thread, &h);
  g_mutex_lock (&h.lock);
  while (!h.held)
    g_cond_wait (&h.cond, &h.lock);
  g_mutex_unlock (&h.lock);
  g_mutex_clear (&h.lock);
  g_cond_clear (&h.cond);
  return thread;
}

/* durable_journal_probe_syncs: tests only, the syncs of @journal's records run so far. */
guint64
durable_journal_probe_syncs (DurableJournal *journal)
{
  return durable_group_syncs (journal->group);
}

/* durable_journal_probe_forget_boot: tests only, @journal's header made to name no boot
 * (as a journal written before the machine last started, or one without the field): a
 * replay then tells its callback it is not of this boot. */
gboolean
durable_journal_probe_forget_boot (DurableJournal *journal)
{
  header_forget_boot (journal->fd);
  return fdatasync (journal->fd) == 0;
}
