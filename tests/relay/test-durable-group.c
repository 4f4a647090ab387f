/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-durable-group.c: unit tests of group commit and the write-ahead journal
 * (server/common/durable-group.c).
 *
 * DurableGroup with a made-up sync that takes a millisecond: many threads commit at once,
 * each sees its own change covered by a sync that started after it, and fewer syncs run
 * than changes; a failing sync is reported to every waiter and to every later one. The same
 * with coroutines on two loops (server-coro.h) waiting beside threads: the sync never runs
 * on a loop thread, each ticket returns only once covered, a failure reaches them all; and
 * while a slow sync (200 ms) led by one coroutine runs, a second waiting coroutine and a
 * ticking one on the same loop go on (the loop is not blocked).
 * DurableJournal: records appended by threads and by a child process that then dies are
 * replayed in order; a live owner's journal is left alone; a torn record ends the replay;
 * a full journal starts a new generation; records at and past DURABLE_JOURNAL_MAX_RECORD;
 * a step started without a park (durable_journal_apply_start()) and joined.
 */
#include "config.h"

#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <utime.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-group.h"
#include "server-coro.h"
#include "test-util.h"

#define N_THREADS 16
#define PER_THREAD 40

typedef struct
{
  GMutex lock;
  guint64 changes;   /* changes made so far */
  guint64 durable;   /* changes covered by a finished sync */
  gboolean fail;
  DurableGroup *group;
  guint bad;         /* waiters that returned TRUE while not covered */
  guint failed;      /* waiters that got an error */
  guint on_loop;     /* syncs that ran on a coroutine loop's thread */
  gulong sleep_us;   /* each sync's time (0: 1 ms) */
  gint coro_done;    /* (atomic) coroutine writers finished */
} Fake;

static gboolean
fake_sync (gpointer data,
           GError **error)
{
  Fake *f = data;
  guint64 snapshot;
  gboolean fail;

  g_mutex_lock (&f->lock);
  snapshot = f->changes;
  fail = f->fail;
  if (server_coro_in_loop ())
    f->on_loop++;
  g_mutex_unlock (&f->lock);
  g_usleep (f->sleep_us != 0 ? f->sleep_us : 1000);
  if (fail)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "disk on fire");
      return FALSE;
    }
  g_mutex_lock (&f->lock);
  f->durable = MAX (f->durable, snapshot);
  g_mutex_unlock (&f->lock);
  return TRUE;
}

/* Commits PER_THREAD changes (a thread's or a coroutine's). */
static void
write_changes (Fake *f)
{
  for (int i = 0; i < PER_THREAD; i++)
    {
      g_autoptr (GError) error = NULL;
      guint64 mine;

      g_mutex_lock (&f->lock);
      mine = ++f->changes;
      g_mutex_unlock (&f->lock);
      if (durable_group_commit (f->group, &error))
        {
          g_mutex_lock (&f->lock);
          if (f->durable < mine)
            f->bad++;
          g_mutex_unlock (&f->lock);
        }
      else
        {
          g_assert_cmpstr (error->message, ==, "disk on fire");
          g_mutex_lock (&f->lock);
          f->failed++;
          g_mutex_unlock (&f->lock);
        }
    }
}

static gpointer
writer (gpointer data)
{
  write_changes (data);
  return NULL;
}

static void
coro_writer (gpointer data)
{
  Fake *f = data;

  write_changes (f);
  g_atomic_int_inc (&f->coro_done);
}

#define N_LOOPS 2
#define N_COROS 32

/* N_COROS coroutine writers on N_LOOPS loops beside N_THREADS / 2 thread writers. */
static void
run_mixed_writers (Fake *f)
{
  ServerCoroLoop *loops[N_LOOPS];
  GThread *threads[N_THREADS / 2];

  for (int i = 0; i < N_LOOPS; i++)
    {
      g_autoptr (GError) error = NULL;

      loops[i] = server_coro_loop_new ("test-durable", &error);
      g_assert_no_error (error);
    }
  for (int i = 0; i < N_COROS; i++)
    g_assert_true (server_coro_loop_spawn (loops[i % N_LOOPS], coro_writer, f, NULL));
  for (int i = 0; i < N_THREADS / 2; i++)
    threads[i] = g_thread_new ("writer", writer, f);
  for (int i = 0; i < N_THREADS / 2; i++)
    g_thread_join (threads[i]);
  while (g_atomic_int_get (&f->coro_done) < N_COROS)
    g_usleep (1000);
  for (int i = 0; i < N_LOOPS; i++)
    server_coro_loop_free (loops[i]);
}

#define N_MIXED ((N_COROS + N_THREADS / 2) * PER_THREAD)

static void
test_group_coroutines (void)
{
  Fake f = { 0 };

  g_test_summary ("Coroutines on two loops and threads share syncs; each returns only once "
                  "covered; no sync on a loop thread");
  g_mutex_init (&f.lock);
  f.group = durable_group_new (fake_sync, &f);
  run_mixed_writers (&f);
  g_assert_cmpuint (f.bad, ==, 0);
  g_assert_cmpuint (f.failed, ==, 0);
  g_assert_cmpuint (f.on_loop, ==, 0);
  g_assert_cmpuint (f.durable, ==, N_MIXED);
  g_test_message ("%" G_GUINT64_FORMAT " syncs for %d changes", durable_group_syncs (f.group),
                  N_MIXED);
  g_assert_cmpuint (durable_group_syncs (f.group), <, N_MIXED / 2);
  durable_group_free (f.group);
  g_mutex_clear (&f.lock);
}

static void
test_group_coroutines_failure (void)
{
  Fake f = { 0 };

  g_test_summary ("A failed sync reaches every coroutine and thread waiting");
  g_mutex_init (&f.lock);
  f.group = durable_group_new (fake_sync, &f);
  g_assert_true (durable_group_commit (f.group, NULL));
  f.fail = TRUE;
  run_mixed_writers (&f);
  g_assert_cmpuint (f.failed, ==, N_MIXED);
  g_assert_cmpuint (f.bad, ==, 0);
  g_assert_cmpuint (f.on_loop, ==, 0);
  durable_group_free (f.group);
  g_mutex_clear (&f.lock);
}

/* A slow sync: its leader and a waiter (coroutines), a ticker on the same loop. */
typedef struct
{
  Fake *f;
  gint ticks;       /* (atomic) the ticker's */
  gint ticks_at[2]; /* ticks when each committer returned */
  gint committed;   /* (atomic) */
  gint64 took_us[2];
} Slow;

static void
slow_committer (Slow *s,
                int   i)
{
  gint64 t0 = g_get_monotonic_time ();

  g_mutex_lock (&s->f->lock);
  s->f->changes++;
  g_mutex_unlock (&s->f->lock);
  g_assert_true (durable_group_commit (s->f->group, NULL));
  s->took_us[i] = g_get_monotonic_time () - t0;
  s->ticks_at[i] = g_atomic_int_get (&s->ticks);
  g_atomic_int_inc (&s->committed);
}

static void
slow_first (gpointer data)
{
  slow_committer (data, 0);
}

static void
slow_second (gpointer data)
{
  slow_committer (data, 1);
}

static void
ticker (gpointer data)
{
  Slow *s = data;

  while (g_atomic_int_get (&s->committed) < 2)
    {
      (void) server_coro_park (g_get_monotonic_time () + 2 * G_TIME_SPAN_MILLISECOND);
      g_atomic_int_inc (&s->ticks);
    }
}

static void
test_group_coroutines_slow (void)
{
  g_autoptr (GError) error = NULL;
  Fake f = { .sleep_us = 200 * G_TIME_SPAN_MILLISECOND };
  Slow s = { .f = &f };
  ServerCoroLoop *loop = server_coro_loop_new ("test-durable", &error);

  g_test_summary ("A slow sync led by a coroutine does not block its loop");
  g_assert_no_error (error);
  g_mutex_init (&f.lock);
  f.group = durable_group_new (fake_sync, &f);
  g_assert_true (server_coro_loop_spawn (loop, ticker, &s, NULL));
  g_assert_true (server_coro_loop_spawn (loop, slow_first, &s, NULL));
  g_assert_true (server_coro_loop_spawn (loop, slow_second, &s, NULL));
  while (server_coro_loop_get_live (loop) > 0)
    g_usleep (1000);
  server_coro_loop_free (loop);
  /* The second found the first's sync running (its change not covered): it waited for
   * that one and led the next: two syncs, the ticker going on throughout. */
  g_test_message ("syncs %" G_GUINT64_FORMAT ", ticks %d and %d, took %" G_GINT64_FORMAT
                  " and %" G_GINT64_FORMAT " µs", durable_group_syncs (f.group), s.ticks_at[0],
                  s.ticks_at[1], s.took_us[0], s.took_us[1]);
  g_assert_cmpuint (durable_group_syncs (f.group), ==, 2);
  g_assert_cmpuint (f.on_loop, ==, 0);
  g_assert_cmpuint (f.durable, ==, 2);
  g_assert_cmpint (s.took_us[0], >=, 200 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpint (s.took_us[1], >=, 400 * G_TIME_SPAN_MILLISECOND);
  /* 2 ms ticks over 400 ms: far more than a blocked loop's none (a loaded machine's margin). */
  g_assert_cmpint (s.ticks_at[1], >=, 20);
  durable_group_free (f.group);
  g_mutex_clear (&f.lock);
}

static void
run_writers (Fake *f)
{
  GThread *threads[N_THREADS];

  for (int i = 0; i < N_THREADS; i++)
    threads[i] = g_thread_new ("writer", writer, f);
  for (int i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);
}

static void
test_group_concurrent (void)
{
  Fake f = { 0 };

  g_test_summary ("Concurrent writers share syncs and each returns only once covered");
  g_mutex_init (&f.lock);
  f.group = durable_group_new (fake_sync, &f);
  run_writers (&f);
  g_assert_cmpuint (f.bad, ==, 0);
  g_assert_cmpuint (f.failed, ==, 0);
  g_assert_cmpuint (f.durable, ==, N_THREADS * PER_THREAD);
  g_test_message ("%" G_GUINT64_FORMAT " syncs for %d changes", durable_group_syncs (f.group),
                  N_THREADS * PER_THREAD);
  g_assert_cmpuint (durable_group_syncs (f.group), <, N_THREADS * PER_THREAD / 2);
  /* Nothing changed since: waiting for the last ticket needs no sync. */
  g_assert_true (durable_group_wait (f.group, durable_group_last (f.group), NULL));
  durable_group_free (f.group);
  g_mutex_clear (&f.lock);
}

static void
test_group_failure (void)
{
  g_autoptr (GError) error = NULL;
  Fake f = { 0 };
  guint64 early;

  g_test_summary ("A failed sync is reported to every waiter it covered and to every later "
                  "one; changes covered before it stay durable");
  g_mutex_init (&f.lock);
  f.group = durable_group_new (fake_sync, &f);
  early = durable_group_enter (f.group);
  g_assert_true (durable_group_wait (f.group, early, NULL));
  f.fail = TRUE;
  run_writers (&f);
  g_assert_cmpuint (f.failed, ==, N_THREADS * PER_THREAD);
  g_assert_cmpuint (f.bad, ==, 0);
  /* Even once the disk "recovers", the group stays failed (fsyncgate). */
  f.fail = FALSE;
  g_assert_false (durable_group_commit (f.group, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_true (durable_group_wait (f.group, early, NULL));
  durable_group_free (f.group);
  g_mutex_clear (&f.lock);
}

/* ---- The journal ---- */

#define PREFIX ".journal-"

typedef struct
{
  DurableJournal *journal;
  int index;
  gboolean ok;
} JWriter;

static gpointer
journal_writer (gpointer data)
{
  JWriter *w = data;

  w->ok = TRUE;
  for (int i = 0; i < PER_THREAD; i++)
    {
      g_autofree char *rec = g_strdup_printf ("thread %d record %d", w->index, i);
      guint64 ticket = 0;

      if (!durable_journal_append (w->journal, rec, strlen (rec), &ticket, NULL)
          || !durable_journal_wait (w->journal, ticket, NULL))
        w->ok = FALSE;
    }
  return NULL;
}

static gboolean
collect (const char *record,
         gsize       len,
         gboolean    this_boot,
         gpointer    data,
         GError    **error)
{
  GPtrArray *out = data;

  g_assert_cmpuint (strlen (record), ==, len);
  g_ptr_array_add (out, g_strndup (record, len));
  return TRUE;
}

/* Collects "this boot" or "another boot" for each record. */
static gboolean
collect_boot (const char *record,
              gsize       len,
              gboolean    this_boot,
              gpointer    data,
              GError    **error)
{
  g_ptr_array_add (data, g_strdup (this_boot ? "this boot" : "another boot"));
  return TRUE;
}

/* In a child process: open a journal in @dir, append @n records "child N" (or the sizes
 * in @sizes), wait, and die without closing it; with @forget_boot its header names no
 * boot (durable_journal_probe_forget_boot()). */
static void
child_appends_full (const char *dir,
                    int         n,
                    gsize       size,
                    gboolean    forget_boot)
{
  pid_t pid = fork ();
  int status = 0;

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      DurableJournal *j = durable_journal_open (dir, PREFIX, NULL);

      if (j == NULL)
        _exit (2);
      for (int i = 0; i < n; i++)
        {
          g_autofree char *rec = g_strdup_printf ("child %d", i);
          g_autofree char *big = NULL;
          guint64 t = 0;

          if (size > 0)
            {
              big = g_malloc (size);
              memset (big, 'a' + i % 26, size);
              memcpy (big, rec, strlen (rec));
            }
          if (!durable_journal_append (j, big != NULL ? big : rec,
                                       big != NULL ? size : strlen (rec), &t, NULL)
              || !durable_journal_wait (j, t, NULL))
            _exit (3);
        }
      if (forget_boot && !durable_journal_probe_forget_boot (j))
        _exit (4);
      _exit (0); /* a crash: the journal stays */
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
}

static void
child_appends (const char *dir,
               int         n,
               gsize       size)
{
  child_appends_full (dir, n, size, FALSE);
}

static guint
count_journals (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, PREFIX))
      n++;
  return n;
}

static void
test_journal_threads (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  DurableJournal *journal;
  GThread *threads[N_THREADS];
  JWriter w[N_THREADS];

  g_test_summary ("Threads append to one journal; a clean close syncs and removes it");
  journal = durable_journal_open (dir, PREFIX, NULL);
  g_assert_nonnull (journal);
  for (int i = 0; i < N_THREADS; i++)
    {
      w[i].journal = journal;
      w[i].index = i;
      threads[i] = g_thread_new ("jw", journal_writer, &w[i]);
    }
  for (int i = 0; i < N_THREADS; i++)
    {
      g_thread_join (threads[i]);
      g_assert_true (w[i].ok);
    }
  /* The owner is alive: replay leaves its journal alone. */
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect, NULL, got, NULL), ==, 0);
  g_assert_cmpuint (count_journals (dir), ==, 1);
  durable_journal_close (journal);
  g_assert_cmpuint (count_journals (dir), ==, 0);
  mt_tmpdir_remove (dir);
}

static void
test_journal_replay (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);

  g_test_summary ("A dead owner's records are replayed in order, then its journal removed");
  child_appends (dir, 5, 0);
  g_assert_cmpuint (count_journals (dir), ==, 1);
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect, NULL, got, NULL), ==, 5);
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *want = g_strdup_printf ("child %u", i);
      g_assert_cmpstr (g_ptr_array_index (got, i), ==, want);
    }
  g_assert_cmpuint (count_journals (dir), ==, 0);
  mt_tmpdir_remove (dir);
}

/* Marks the end of a journal in the collected records; fails once when asked to. */
static gboolean
collect_done (gpointer data,
              GError **error)
{
  GPtrArray *out = data;

  g_ptr_array_add (out, g_strdup ("done"));
  if (g_getenv ("MT_TEST_DONE_FAILS") != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "full");
      return FALSE;
    }
  return TRUE;
}

static void
test_journal_replay_done (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  GLogLevelFlags fatal;

  g_test_summary ("A replay's done callback runs after each journal's last record, before "
                  "the journal goes; when it fails the journal stays for the next replay");

  child_appends (dir, 2, 0);
  g_setenv ("MT_TEST_DONE_FAILS", "1", TRUE);
  fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK); /* its "Journal kept" warning */
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect, collect_done, got, &error),
                    ==, 2);
  g_log_set_always_fatal (fatal);
  g_unsetenv ("MT_TEST_DONE_FAILS");
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_cmpuint (got->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (got, 2), ==, "done");
  g_assert_cmpuint (count_journals (dir), ==, 1);
  g_ptr_array_set_size (got, 0);
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect, collect_done, got, NULL), ==, 2);
  g_assert_cmpuint (got->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (got, 0), ==, "child 0");
  g_assert_cmpstr (g_ptr_array_index (got, 2), ==, "done");
  g_assert_cmpuint (count_journals (dir), ==, 0);
  mt_tmpdir_remove (dir);
}

static void
test_journal_boot (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *boot_id = NULL;

  g_test_summary ("A replay tells whether the dead owner's journal was written in this "
                  "boot (its header's boot id the running kernel's) or not (no boot id: "
                  "an earlier boot's, or a journal without the field)");
  if (!g_file_get_contents ("/proc/sys/kernel/random/boot_id", &boot_id, NULL, NULL))
    {
      g_test_skip ("no /proc/sys/kernel/random/boot_id: every journal is another boot's");
      mt_tmpdir_remove (dir);
      return;
    }
  child_appends_full (dir, 2, 0, FALSE);
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect_boot, NULL, got, NULL), ==, 2);
  g_assert_cmpstr (g_ptr_array_index (got, 0), ==, "this boot");
  g_assert_cmpstr (g_ptr_array_index (got, 1), ==, "this boot");
  g_ptr_array_set_size (got, 0);
  child_appends_full (dir, 1, 0, TRUE);
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect_boot, NULL, got, NULL), ==, 1);
  g_assert_cmpstr (g_ptr_array_index (got, 0), ==, "another boot");
  g_assert_cmpuint (count_journals (dir), ==, 0);
  mt_tmpdir_remove (dir);
}

static void
test_journal_torn (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = NULL;
  g_autofree char *path = NULL;
  const char *name;
  FILE *fp;

  g_test_summary ("A record cut or damaged by a crash ends the replay");
  child_appends (dir, 3, 0);
  d = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, PREFIX))
      path = g_build_filename (dir, name, NULL);
  g_assert_nonnull (path);
  /* Header 512, record 1 = 16 + 8 ("child 0" padded): damage record 2's payload. */
  fp = fopen (path, "r+b");
  g_assert_nonnull (fp);
  g_assert_cmpint (fseek (fp, 512 + 24 + 16 + 2, SEEK_SET), ==, 0);
  g_assert_cmpint (fputc ('X', fp), !=, EOF);
  fclose (fp);
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect, NULL, got, NULL), ==, 1);
  g_assert_cmpstr (g_ptr_array_index (got, 0), ==, "child 0");
  mt_tmpdir_remove (dir);
}

static void
test_journal_full (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  gsize size = DURABLE_JOURNAL_MAX_RECORD / 2;
  int n = 2 * DURABLE_JOURNAL_CAPACITY / (int) size;

  g_test_summary ("A full journal syncs and starts a new generation: old records are not "
                  "replayed");
  child_appends (dir, n, size);
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect, NULL, got, NULL), <, (guint) n);
  g_assert_cmpuint (got->len, >, 0);
  {
    g_autofree char *want = g_strdup_printf ("child %d", n - 1);
    const char *last = g_ptr_array_index (got, got->len - 1);

    g_assert_cmpuint (strlen (last), ==, size);
    g_assert_true (g_str_has_prefix (last, want));
  }
  mt_tmpdir_remove (dir);
}

/* Appenders of a journal that fills up: coroutines of one loop and a thread. */
typedef struct
{
  DurableJournal *journal;
  gsize size;
  int per_writer;
  int ok;              /* appends made durable (atomic) */
  int done;            /* writers finished (atomic) */
  int ticks;           /* the loop's ticker (atomic) */
} FullJournal;

static void
full_append_some (FullJournal *fj)
{
  g_autofree char *record = g_malloc (fj->size);

  memset (record, 'r', fj->size);
  for (int i = 0; i < fj->per_writer; i++)
    {
      guint64 ticket = 0;

      if (durable_journal_append (fj->journal, record, fj->size, &ticket, NULL)
          && durable_journal_wait (fj->journal, ticket, NULL))
        g_atomic_int_inc (&fj->ok);
    }
  g_atomic_int_inc (&fj->done);
}

static void
full_coro (gpointer data)
{
  full_append_some (data);
}

static gpointer
full_thread (gpointer data)
{
  full_append_some (data);
  return NULL;
}

static void
full_ticker (gpointer data)
{
  FullJournal *fj = data;

  while (g_atomic_int_get (&fj->done) < 5)
    {
      (void) server_coro_park (g_get_monotonic_time () + G_TIME_SPAN_MILLISECOND);
      g_atomic_int_inc (&fj->ticks);
    }
}

/* A journal that fills up (twice) under coroutines and a thread: its checkpoints (syncfs,
 * under the lock for writing) run in pool threads for the coroutines, which park while
 * another thread's checkpoint holds the lock; every append made durable, the loop's other
 * coroutine going on. */
static void
test_journal_full_coroutines (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GError) error = NULL;
  FullJournal fj = { NULL, DURABLE_JOURNAL_MAX_RECORD / 4, 6, 0, 0, 0 };
  ServerCoroLoop *loop = server_coro_loop_new ("test-journal", &error);
  GThread *thread;

  g_test_summary ("A full journal's checkpoint never runs or waits on a loop thread");
  g_assert_no_error (error);
  fj.journal = durable_journal_open (dir, PREFIX, &error);
  g_assert_no_error (error);
  g_assert_true (server_coro_loop_spawn (loop, full_ticker, &fj, NULL));
  for (int i = 0; i < 4; i++)
    g_assert_true (server_coro_loop_spawn (loop, full_coro, &fj, NULL));
  thread = g_thread_new ("appender", full_thread, &fj);
  g_thread_join (thread);
  while (server_coro_loop_get_live (loop) > 0)
    g_usleep (1000);
  server_coro_loop_free (loop);
  /* 5 writers x 6 records of a quarter of the journal's record limit: 7.5 MiB in 4 MiB
   * journals. */
  g_assert_cmpint (fj.ok, ==, 5 * fj.per_writer);
  g_assert_cmpint (fj.ticks, >, 0);
  durable_journal_close (fj.journal);
  mt_tmpdir_remove (dir);
}

/* CHECKPOINT_HOLD_MS: how long the probe holds the checkpoint lock; WOKEN_MAX_MS: at most
 * this long after its release the waiting coroutine's append has returned (woken by the
 * release it takes well under a millisecond; wide for a loaded 2-CPU CI machine, ASan). */
#define CHECKPOINT_HOLD_MS 200
#define WOKEN_MAX_MS 500
/* CHECKPOINT_EXTRA_SLEEPS: the loop thread's sleeps while the lock is held, beyond one per
 * tick of the ticker, at most: the pool's wake-ups, a few; wide for a loaded machine. A
 * coroutine polling the lock every millisecond (main) makes some 80 more: 158 sleeps for
 * 80 ticks. */
#define CHECKPOINT_EXTRA_SLEEPS 40
/* CHECKPOINT_MIN_TICKS: the ticker's ticks while the lock is held, at least: about 90 on an
 * idle machine (2 ms parks), none if the loop thread waits for the lock. */
#define CHECKPOINT_MIN_TICKS 5
/* A coroutine's journaled steps beside a ticker of the same loop. */
typedef struct
{
  DurableJournal *journal;
  char *dir;
  gint ticks;           /* (atomic) */
  gint done;            /* (atomic) */
  gint64 returned;      /* monotonic, when the step returned */
  gint64 released;      /* monotonic, when the probe's hold ended (its join) */
  guint64 syncs_before; /* durable_journal_probe_syncs () before the wait */
  guint64 syncs_after;
  gboolean on_loop;     /* a step's apply ran on the loop thread */
  gint tid;             /* (atomic) the loop thread's, once the step begins */
} Stepper;

/* The voluntary context switches of this process's thread @tid so far. */
static guint64
thread_sleeps (int tid)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/task/%d/status", tid);
  g_autofree char *text = NULL;
  const char *p;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  p = strstr (text, "\nvoluntary_ctxt_switches:");
  g_assert_nonnull (p);
  return g_ascii_strtoull (p + strlen ("\nvoluntary_ctxt_switches:"), NULL, 10);
}

static void
stepper_ticker (gpointer data)
{
  Stepper *st = data;

  while (!g_atomic_int_get (&st->done))
    {
      (void) server_coro_park (g_get_monotonic_time () + 2 * G_TIME_SPAN_MILLISECOND);
      g_atomic_int_inc (&st->ticks);
    }
}

static gboolean
stepper_apply (gpointer data,
               GError **error)
{
  Stepper *st = data;

  if (server_coro_in_loop ())
    st->on_loop = TRUE;
  return TRUE;
}

static void
checkpoint_waiter (gpointer data)
{
  Stepper *st = data;
  guint64 ticket = 0;

  g_atomic_int_set (&st->tid, (gint) syscall (SYS_gettid));
  g_assert_true (durable_journal_apply (st->journal, "one", 3, stepper_apply, st, &ticket,
                                        NULL));
  st->returned = g_get_monotonic_time ();
  g_assert_true (durable_journal_wait (st->journal, ticket, NULL));
  g_atomic_int_set (&st->done, TRUE);
}

static void
test_journal_checkpoint_wait (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autoptr (GError) error = NULL;
  Stepper st = { 0 };
  ServerCoroLoop *loop = server_coro_loop_new ("test-journal", &error);
  GThread *hold;
  gint64 held_from;
  guint64 sleeps;
  gint ticks;

  g_test_summary ("A coroutine's journaled step while a checkpoint holds the lock: its "
                  "loop goes on, and the step returns once the checkpoint releases the "
                  "lock (the lock waited for in a pool thread, no timer)");
  g_assert_no_error (error);
  st.journal = durable_journal_open (dir, PREFIX, &error);
  g_assert_no_error (error);
  held_from = g_get_monotonic_time ();
  hold = durable_journal_probe_hold_checkpoint (st.journal, CHECKPOINT_HOLD_MS);
  g_assert_true (server_coro_loop_spawn (loop, stepper_ticker, &st, NULL));
  g_assert_true (server_coro_loop_spawn (loop, checkpoint_waiter, &st, NULL));
  while (g_atomic_int_get (&st.tid) == 0)
    g_usleep (1000);
  g_usleep (20 * 1000); /* its step parked, waiting for the lock */
  sleeps = thread_sleeps (st.tid);
  ticks = g_atomic_int_get (&st.ticks);
  g_thread_join (hold);
  st.released = g_get_monotonic_time ();
  sleeps = thread_sleeps (st.tid) - sleeps;
  ticks = g_atomic_int_get (&st.ticks) - ticks;
  while (server_coro_loop_get_live (loop) > 0)
    g_usleep (1000);
  server_coro_loop_free (loop);
  g_test_message ("ticks %d; while held: the loop thread slept %" G_GUINT64_FORMAT
                  " times for %d ticks; returned %" G_GINT64_FORMAT " µs after the release",
                  st.ticks, sleeps, ticks, st.returned - st.released);
  /* Woken by the release, not by a timer: the loop thread slept for the ticker's parks
   * only (a coroutine trying the lock again every millisecond: some 80 more). */
  g_assert_cmpuint (sleeps, <=, (guint64) ticks + CHECKPOINT_EXTRA_SLEEPS);
  /* The ticker parks 2 ms at a time: about 90 ticks while held, a blocked loop none. */
  g_assert_cmpint (ticks, >=, CHECKPOINT_MIN_TICKS);
  /* Not before the release: the lock was taken after held_from. */
  g_assert_cmpint (st.returned, >=, held_from + CHECKPOINT_HOLD_MS * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpint (st.returned - st.released, <, WOKEN_MAX_MS * G_TIME_SPAN_MILLISECOND);
  g_assert_false (st.on_loop);
  durable_journal_close (st.journal);
  mt_tmpdir_remove (dir);
}

static void
kicked_stepper (gpointer data)
{
  Stepper *st = data;
  guint64 ticket = 0;
  gint64 until = g_get_monotonic_time () + G_TIME_SPAN_SECOND;

  g_assert_true (durable_journal_apply (st->journal, "one", 3, stepper_apply, st, &ticket,
                                        NULL));
  /* Nobody waits: the step's pool thread syncs it all the same. */
  while (durable_journal_probe_syncs (st->journal) == 0 && g_get_monotonic_time () < until)
    (void) server_coro_park (g_get_monotonic_time () + G_TIME_SPAN_MILLISECOND);
  st->syncs_before = durable_journal_probe_syncs (st->journal);
  g_assert_true (durable_journal_wait (st->journal, ticket, NULL));
  st->syncs_after = durable_journal_probe_syncs (st->journal);
  g_atomic_int_set (&st->done, TRUE);
}

/* @func run as the one coroutine of a loop, on a journal it finds in @st (opened in @dir),
 * to its end. */
static void
stepper_run (Stepper       *st,
             const char    *dir,
             ServerCoroFunc func)
{
  g_autoptr (GError) error = NULL;
  ServerCoroLoop *loop = server_coro_loop_new ("test-journal", &error);

  g_assert_no_error (error);
  st->journal = durable_journal_open (dir, PREFIX, &error);
  g_assert_no_error (error);
  g_assert_true (server_coro_loop_spawn (loop, func, st, NULL));
  while (server_coro_loop_get_live (loop) > 0)
    g_usleep (1000);
  server_coro_loop_free (loop);
}

static void
test_journal_kick (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  Stepper st = { 0 };

  g_test_summary ("A coroutine's journaled step with a ticket: its pool thread starts the "
                  "sync (the wait then needs none of its own)");
  stepper_run (&st, dir, kicked_stepper);
  g_assert_cmpuint (st.syncs_before, ==, 1);
  g_assert_cmpuint (st.syncs_after, ==, 1);
  g_assert_false (st.on_loop);
  durable_journal_close (st.journal);
  mt_tmpdir_remove (dir);
}

/* durable_journal_apply_start(): in a coroutine, the step started without a park (its
 * apply waits for the coroutine to go on), run in a pool thread, joined (its step not
 * done before, done after: durable_journal_job_step_done()); a failing apply's error at
 * the join and at the finish; a job freed unfinished (an early exit). */
typedef struct
{
  gint released;  /* (atomic) the coroutine went on after the start */
  gboolean fail;
  gboolean on_loop;
} StartApply;

static gboolean
start_apply (gpointer data,
             GError **error)
{
  StartApply *a = data;

  if (server_coro_in_loop ())
    a->on_loop = TRUE;
  while (!g_atomic_int_get (&a->released))
    g_usleep (1000);
  if (a->fail)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "made to fail");
      return FALSE;
    }
  return TRUE;
}

static void
started_stepper (gpointer data)
{
  Stepper *st = data;
  StartApply ok = { 0 };
  StartApply bad = { .fail = TRUE };
  StartApply left = { 0 };
  DurableJournalJob *job;
  g_autoptr (GError) error = NULL;

  job = durable_journal_apply_start (st->journal, "one", 3, start_apply, &ok, NULL);
  /* Not ended while its apply waits: a join now would wait (the front counts those). */
  g_assert_false (durable_journal_job_step_done (job));
  g_atomic_int_set (&ok.released, 1); /* reached without a park: the apply waits for it */
  g_assert_true (durable_journal_job_written (job, &error));
  g_assert_no_error (error);
  g_assert_true (durable_journal_job_step_done (job));
  g_assert_true (durable_journal_job_finish (job, &error));
  g_assert_no_error (error);
  st->syncs_after = durable_journal_probe_syncs (st->journal);
  g_assert_false (ok.on_loop);
  job = durable_journal_apply_start (st->journal, "two", 3, start_apply, &bad, NULL);
  g_atomic_int_set (&bad.released, 1);
  g_assert_false (durable_journal_job_written (job, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  g_assert_true (durable_journal_job_step_done (job)); /* ended, failed */
  g_assert_false (durable_journal_job_finish (job, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  /* Freed unfinished: joined there (its apply still waits for the release). */
  job = durable_journal_apply_start (st->journal, "three", 5, start_apply, &left, NULL);
  g_atomic_int_set (&left.released, 1);
  durable_journal_job_free (job);
  g_atomic_int_set (&st->done, TRUE);
}

static void
test_journal_apply_start (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  Stepper st = { 0 };
  g_autofree char *kept = g_build_filename (dir, PREFIX "kept", NULL);
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);

  g_test_summary ("durable_journal_apply_start(): started without a park, its step in a pool "
                  "thread, joined; a failed apply reported at both joins; a job freed "
                  "unfinished");
  stepper_run (&st, dir, started_stepper);
  g_assert_true (g_atomic_int_get (&st.done));
  g_assert_cmpuint (st.syncs_after, >=, 1);
  g_assert_no_errno (link (durable_journal_get_path (st.journal), kept));
  durable_journal_close (st.journal);
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect, NULL, got, NULL), >=, 1);
  g_assert_cmpuint (got->len, ==, 3); /* a record whose change failed stays: replay's part */
  g_assert_cmpstr (g_ptr_array_index (got, 0), ==, "one");
  g_assert_cmpstr (g_ptr_array_index (got, 2), ==, "three");
  mt_tmpdir_remove (dir);
}

static void
test_journal_limit (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *big = g_malloc0 (DURABLE_JOURNAL_MAX_RECORD + 1);
  g_autoptr (GError) error = NULL;
  DurableJournal *journal = durable_journal_open (dir, PREFIX, NULL);
  guint64 t = 0;

  g_test_summary ("DURABLE_JOURNAL_MAX_RECORD: a record at the limit is taken, one past it "
                  "refused");
  g_assert_true (durable_journal_append (journal, big, DURABLE_JOURNAL_MAX_RECORD, &t, NULL));
  g_assert_true (durable_journal_wait (journal, t, NULL));
  g_assert_false (durable_journal_append (journal, big, DURABLE_JOURNAL_MAX_RECORD + 1, &t,
                                          &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  durable_journal_close (journal);
  mt_tmpdir_remove (dir);
}

static void
test_journal_file_replace (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  g_autofree char *tmp = g_build_filename (dir, ".tmp-f", NULL);
  g_autofree char *text = NULL;
  DurableJournal *journal = durable_journal_open (dir, PREFIX, NULL);
  guint64 t = 0;

  g_test_summary ("A journaled replace: the file has the new content at once, durable once "
                  "waited for");
  g_assert_true (durable_journal_file_replace (journal, tmp, path, "one", 3, NULL, NULL));
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "one");
  g_clear_pointer (&text, g_free);
  g_assert_true (durable_journal_file_replace (journal, tmp, path, "two", 3, &t, NULL));
  g_assert_true (durable_journal_wait (journal, t, NULL));
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "two");
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
  durable_journal_close (journal);
  mt_tmpdir_remove (dir);
}

static void
test_journal_unfinished (void)
{
  g_autofree char *dir = mt_tmpdir_new ();
  g_autofree char *old = g_build_filename (dir, ".new" PREFIX "aaaaaa", NULL);
  g_autofree char *fresh = g_build_filename (dir, ".new" PREFIX "bbbbbb", NULL);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  struct utimbuf recent = { (time_t) (now - 58), (time_t) (now - 58) };
  struct utimbuf past = { (time_t) (now - 62), (time_t) (now - 62) };

  g_test_summary ("A journal whose creator died before it was whole is removed once a "
                  "minute old (JOURNAL_NEW_STALE_SECONDS), never while it may be in creation");
  g_assert_true (g_file_set_contents (old, "", 0, NULL));
  g_assert_true (g_file_set_contents (fresh, "", 0, NULL));
  g_assert_cmpint (utime (old, &past), ==, 0);
  g_assert_cmpint (utime (fresh, &recent), ==, 0);
  g_assert_cmpuint (durable_journal_replay (dir, PREFIX, collect, NULL, NULL, NULL), ==, 0);
  g_assert_false (g_file_test (old, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (fresh, G_FILE_TEST_EXISTS));
  mt_tmpdir_remove (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  mt_coro_watchdog_not_fatal (); /* the loops' watchdog may fire on a loaded machine */
  g_test_add_func ("/durable-group/concurrent", test_group_concurrent);
  g_test_add_func ("/durable-group/failure", test_group_failure);
  g_test_add_func ("/durable-group/coroutines", test_group_coroutines);
  g_test_add_func ("/durable-group/coroutines-failure", test_group_coroutines_failure);
  g_test_add_func ("/durable-group/coroutines-slow", test_group_coroutines_slow);
  g_test_add_func ("/durable-journal/threads", test_journal_threads);
  g_test_add_func ("/durable-journal/replay", test_journal_replay);
  g_test_add_func ("/durable-journal/replay-done", test_journal_replay_done);
  g_test_add_func ("/durable-journal/boot", test_journal_boot);
  g_test_add_func ("/durable-journal/torn", test_journal_torn);
  g_test_add_func ("/durable-journal/full", test_journal_full);
  g_test_add_func ("/durable-journal/full-coroutines", test_journal_full_coroutines);
  g_test_add_func ("/durable-journal/checkpoint-wait", test_journal_checkpoint_wait);
  g_test_add_func ("/durable-journal/kick", test_journal_kick);
  g_test_add_func ("/durable-journal/apply-start", test_journal_apply_start);
  g_test_add_func ("/durable-journal/limit", test_journal_limit);
  g_test_add_func ("/durable-journal/file-replace", test_journal_file_replace);
  g_test_add_func ("/durable-journal/unfinished", test_journal_unfinished);
  return g_test_run ();
}
