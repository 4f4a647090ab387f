/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-durable.c: what making one small file durable costs, the old way against the
 * journal (server/common/durable-group.c; docs/durability.md).
 *
 *   bench-durable [DIR] [--ops N] [--rounds R] [--size OCTETS] [--threads 1,10,50]
 *
 * What: T threads each replace their own files OPS times, with
 *   replace   durable_file_replace(): new file, fsync, rename, fsync of the directory
 *             (the front's registrations and the track store's records before)
 *   journal   durable_journal_file_replace(): a record in the process's journal, one
 *             fdatasync grouped across threads, the file renamed in place unsynced
 * in alternating rounds (the first method alternates), in DIR (default /var/tmp, the
 * file system of /var/lib/msgtrk). Prints per thread count the median and p90 latency
 * of one call, calls/s, and the ratios, with the load average.
 * Limits: BENCH_MAX_THREADS threads. On demand only, never a test.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "durable-group.h"

#define BENCH_MAX_THREADS 200

typedef struct
{
  const char *dir;
  DurableJournal *journal; /* NULL: the old way */
  int index;
  int ops;
  gsize size;
  double *lat;             /* ops latencies, seconds */
  gboolean ok;
} Worker;

static gpointer
work (gpointer data)
{
  Worker *w = data;
  g_autofree char *text = g_malloc (w->size);

  memset (text, 'r', w->size);
  w->ok = TRUE;
  for (int i = 0; i < w->ops; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/f%d-%d.reg", w->dir, w->index, i % 64);
      g_autofree char *tmp = g_strdup_printf ("%s/.tmp-f%d-%d", w->dir, w->index, i % 64);
      gint64 t0 = g_get_monotonic_time ();
      gboolean ok;

      if (w->journal != NULL)
        ok = durable_journal_file_replace (w->journal, tmp, path, text, w->size, NULL, NULL);
      else
        ok = durable_file_replace (tmp, path, w->dir, text, w->size, NULL);
      w->lat[i] = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
      w->ok &= ok;
    }
  return NULL;
}

static int
cmp_double (const void *a,
            const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

typedef struct
{
  double median, p90, rate;
} Result;

static gboolean
run (const char *dir,
     gboolean    journaled,
     int         threads,
     int         ops,
     gsize       size,
     Result     *res)
{
  g_autoptr (DurableJournal) journal = NULL;
  g_autofree double *lat = g_new0 (double, (gsize) threads * ops);
  g_autofree Worker *w = g_new0 (Worker, threads);
  g_autofree GThread **t = g_new0 (GThread *, threads);
  g_autoptr (GError) error = NULL;
  gboolean ok = TRUE;
  gint64 t0;
  double wall;
  gsize n = (gsize) threads * ops;

  if (journaled)
    {
      journal = durable_journal_open (dir, ".journal-", &error);
      if (journal == NULL)
        {
          g_printerr ("bench-durable: %s\n", error->message);
          return FALSE;
        }
    }
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < threads; i++)
    {
      w[i] = (Worker){ dir, journal, i, ops, size, lat + (gsize) i * ops, FALSE };
      t[i] = g_thread_new ("w", work, &w[i]);
    }
  for (int i = 0; i < threads; i++)
    {
      g_thread_join (t[i]);
      ok &= w[i].ok;
    }
  wall = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  qsort (lat, n, sizeof *lat, cmp_double);
  res->median = lat[n / 2] * 1000;
  res->p90 = lat[n * 9 / 10] * 1000;
  res->rate = (double) n / wall;
  return ok;
}

static void
cleanup_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *base = g_strdup ("/var/tmp");
  g_autofree char *threads_arg = g_strdup ("1,10,50");
  g_autofree char *dir = NULL;
  g_auto (GStrv) tlist = NULL;
  int ops = 200, rounds = 3, size = 400;
  double load[3] = { 0 };
  GOptionEntry entries[] = {
    { "ops", 0, 0, G_OPTION_ARG_INT, &ops, "calls per thread per run", "N" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "alternating rounds", "R" },
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "octets per file", "OCTETS" },
    { "threads", 0, 0, G_OPTION_ARG_STRING, &threads_arg, "thread counts", "1,10,50" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("[DIR]");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("bench-durable: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_free (base);
      base = g_strdup (argv[1]);
    }
  dir = g_build_filename (base, "bench-durable-XXXXXX", NULL);
  if (g_mkdtemp (dir) == NULL || ops < 1 || rounds < 1 || size < 1)
    {
      g_printerr ("bench-durable: bad arguments or cannot create %s\n", dir);
      return 2;
    }
  tlist = g_strsplit (threads_arg, ",", -1);
  if (getloadavg (load, 3) < 0)
    load[0] = load[1] = load[2] = 0;
  printf ("# %s, %d calls per thread, %d octets, %d rounds alternating; load average %.2f "
          "%.2f %.2f\n", dir, ops, size, rounds, load[0], load[1], load[2]);
  printf ("%7s %14s %14s %12s %14s %14s %12s %9s %9s\n", "threads", "replace med ms",
          "replace p90", "replace /s", "journal med ms", "journal p90", "journal /s",
          "med ratio", "/s ratio");
  for (guint k = 0; tlist[k] != NULL; k++)
    {
      int threads = atoi (tlist[k]);
      g_autofree Result *rr = g_new0 (Result, rounds);
      g_autofree Result *rj = g_new0 (Result, rounds);
      double mr[3], mj[3];

      if (threads < 1 || threads > BENCH_MAX_THREADS)
        {
          g_printerr ("bench-durable: 1 to %d threads\n", BENCH_MAX_THREADS);
          cleanup_dir (dir);
          return 2;
        }
      for (int r = 0; r < rounds; r++)
        {
          gboolean journal_first = r % 2 == 1;

          if (!run (dir, journal_first, threads, ops, (gsize) size,
                    journal_first ? &rj[r] : &rr[r])
              || !run (dir, !journal_first, threads, ops, (gsize) size,
                       journal_first ? &rr[r] : &rj[r]))
            {
              g_printerr ("bench-durable: a write failed\n");
              cleanup_dir (dir);
              return 1;
            }
        }
      /* Medians over the rounds. */
      for (int f = 0; f < 3; f++)
        {
          g_autofree double *a = g_new (double, rounds);
          g_autofree double *b = g_new (double, rounds);

          for (int r = 0; r < rounds; r++)
            {
              a[r] = f == 0 ? rr[r].median : f == 1 ? rr[r].p90 : rr[r].rate;
              b[r] = f == 0 ? rj[r].median : f == 1 ? rj[r].p90 : rj[r].rate;
            }
          qsort (a, rounds, sizeof *a, cmp_double);
          qsort (b, rounds, sizeof *b, cmp_double);
          mr[f] = a[rounds / 2];
          mj[f] = b[rounds / 2];
        }
      printf ("%7d %14.3f %14.3f %12.1f %14.3f %14.3f %12.1f %8.3fx %8.2fx\n", threads, mr[0],
              mr[1], mr[2], mj[0], mj[1], mj[2], mj[0] / mr[0], mj[2] / mr[2]);
      fflush (stdout);
    }
  if (getloadavg (load, 3) >= 0)
    printf ("# load average at the end %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  cleanup_dir (dir);
  return 0;
}
