/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-evolution-column.c: opening a 100,000-message folder with the Tracking column on
 * and off.
 *
 *   bench-evolution-column [--messages 100000] [--tracked 10000] [--rounds 5] [--keep]
 *
 * What: the benchmark for Evolution ("opening a 100,000-message folder with the
 * column on vs off; print both and the ratio, goal ≤ 1.05"), on Camel, the part of a
 * folder open that grows with the folder: it writes a local mbox folder of --messages
 * messages (distinct Message-IDs), lets Camel build its summary once (not timed), then
 * times, in alternating rounds, each time with a fresh CamelSession and store (so the
 * summary is read from Camel's database, as when Evolution opens a folder):
 *   off  camel_store_get_folder_sync + every info of the folder (what the message list
 *        loads to show the folder);
 *   on   the same, plus what the module does for a shown folder: msgtrkd's ListStatus
 *        answer for --tracked messages (a GVariant of that shape, parsed and hashed as the
 *        module does) and the module's own walk (msgtrk-evo-scan.c: one lookup per row),
 *        setting the Tracking value on each tracked row and telling the folder once.
 * It prints the median of each and their ratio, and, since the open itself varies by
 * tens of percent from round to round on a shared machine, also the module's work timed
 * inside each "on" round over the open it followed ("same-open ratio", median).
 * Limits: Evolution's own work on an open (building and drawing the message tree, which
 * the module does not change) is left out, so the ratio overstates the module's share of
 * a real open; D-Bus transfer time is msgtrkd's and asynchronous (not on Evolution's main
 * thread), left out too. The page cache is warm.
 * Never: touches the user's mail (everything in a temporary directory, removed unless
 * --keep).
 */
#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>

#include "msgtrk-evo-scan.h"

#define BENCH_HEADER "X-Msgtrk-Status"

typedef struct
{
  CamelSession parent_instance;
} BenchSession;
typedef struct
{
  CamelSessionClass parent_class;
} BenchSessionClass;
GType bench_session_get_type (void);
G_DEFINE_TYPE (BenchSession, bench_session, CAMEL_TYPE_SESSION)
static void
bench_session_class_init (BenchSessionClass *klass)
{
}
static void
bench_session_init (BenchSession *self)
{
}

static char *
message_id (guint i)
{
  return g_strdup_printf ("bench-%u@sender.example", i);
}

static void
write_mbox (const char *path, guint n)
{
  FILE *f = fopen (path, "w");

  g_assert (f != NULL);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *mid = message_id (i);
      fprintf (f,
               "From alice@sender.example Fri Dec  4 10:00:00 2026\n"
               "From: Alice <alice@sender.example>\n"
               "To: bob%u@example.org\n"
               "Subject: Message number %u\n"
               "Date: Fri, 04 Dec 2026 10:00:00 +0000\n"
               "Message-ID: <%s>\n"
               "MIME-Version: 1.0\n"
               "Content-Type: text/plain; charset=utf-8\n"
               "\n"
               "Hello %u.\n\n",
               i % 97, i, mid, i);
    }
  g_assert (fclose (f) == 0);
}

/* msgtrkd's ListStatus answer for the first TRACKED messages: (a(ssss)s). */
static GVariant *
list_status_reply (guint tracked)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ssss)"));
  for (guint i = 0; i < tracked; i++)
    {
      g_autofree char *mid = message_id (i);
      g_autofree char *envid = g_strdup_printf ("envid-%u", i);
      g_variant_builder_add (&b, "(ssss)", mid, envid, "delivered", "Delivered");
    }
  return g_variant_ref_sink (g_variant_new ("(a(ssss)s)", &b, ""));
}

typedef struct
{
  CamelFolder *folder;
  CamelFolderChangeInfo *changes;
  guint found;
} Scan;

static void
found_cb (const char *uid, guint64 hash, gpointer value, gpointer user_data)
{
  Scan *scan = user_data;
  g_autoptr (CamelMessageInfo) info = camel_folder_get_message_info (scan->folder, uid);

  if (info && camel_message_info_set_user_header (info, BENCH_HEADER, value))
    camel_folder_change_info_change_uid (scan->changes, uid);
  scan->found++;
}

/* One open; returns seconds; *FOUND: rows given a value, *MODULE_S: the module's part of
 * the seconds (on). */
static double
open_folder (const char *data_dir, const char *store_dir, GVariant *reply, gboolean on,
             guint *found, double *module_s)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CamelSession) session
    = g_object_new (bench_session_get_type (), "user-data-dir", data_dir, "user-cache-dir",
                    data_dir, NULL);
  g_autoptr (CamelService) store = camel_session_add_service (session, "bench-local", "mbox",
                                                              CAMEL_PROVIDER_STORE, &error);
  g_autoptr (CamelSettings) settings = NULL;
  g_autoptr (CamelFolder) folder = NULL;
  g_autoptr (GPtrArray) infos = g_ptr_array_new_with_free_func (g_object_unref);
  GPtrArray *uids;
  gint64 t0, t_opened, t_parsed = 0, t_walked = 0;
  double took;

  if (store == NULL)
    g_error ("mbox store: %s", error->message);
  settings = camel_service_ref_settings (store);
  camel_local_settings_set_path (CAMEL_LOCAL_SETTINGS (settings), store_dir);
  t0 = g_get_monotonic_time ();
  folder = camel_store_get_folder_sync (CAMEL_STORE (store), "Sent", 0, NULL, &error);
  if (folder == NULL)
    g_error ("Sent: %s", error->message);
  uids = camel_folder_get_uids (folder);
  for (guint i = 0; i < uids->len; i++)
    {
      CamelMessageInfo *info = camel_folder_get_message_info (folder, uids->pdata[i]);
      if (info)
        g_ptr_array_add (infos, info);
    }
  camel_folder_free_uids (folder, uids);
  t_opened = g_get_monotonic_time ();
  *found = 0;
  if (on)
    {
      g_autoptr (GHashTable) by_hash
        = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
      g_autoptr (GVariantIter) iter = NULL;
      const char *mid, *envid, *state, *summary, *next;
      Scan scan = { folder, camel_folder_change_info_new (), 0 };

      g_variant_get (reply, "(a(ssss)&s)", &iter, &next);
      while (g_variant_iter_next (iter, "(&s&s&s&s)", &mid, &envid, &state, &summary))
        {
          guint64 hash = msgtrk_evo_scan_hash_message_id (mid);
          g_hash_table_insert (by_hash, g_memdup2 (&hash, sizeof hash), (gpointer) "Delivered");
        }
      t_parsed = g_get_monotonic_time ();
      msgtrk_evo_scan_folder (folder, by_hash, found_cb, &scan);
      t_walked = g_get_monotonic_time ();
      if (camel_folder_change_info_changed (scan.changes))
        camel_folder_changed (folder, scan.changes);
      camel_folder_change_info_free (scan.changes);
      *found = scan.found;
    }
  took = (g_get_monotonic_time () - t0) / (double) G_USEC_PER_SEC;
  if (on)
    {
      *module_s = took - (t_opened - t0) / (double) G_USEC_PER_SEC;
      printf ("  split: open+infos %.3f s; module: ListStatus parse %.3f s, walk %.3f s, "
              "values told %.3f s; same-open ratio %.3f\n",
              (t_opened - t0) / 1e6, (t_parsed - t_opened) / 1e6, (t_walked - t_parsed) / 1e6,
              (t0 + took * 1e6 - t_walked) / 1e6, took / ((t_opened - t0) / 1e6));
    }
  g_ptr_array_set_size (infos, 0);
  g_clear_object (&folder);
  camel_service_disconnect_sync (store, FALSE, NULL, NULL);
  return took;
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (GArray *a)
{
  g_array_sort (a, cmp_double);
  return a->len % 2 ? g_array_index (a, double, a->len / 2)
                    : (g_array_index (a, double, a->len / 2 - 1)
                       + g_array_index (a, double, a->len / 2))
                        / 2;
}

int
main (int argc, char **argv)
{
  int messages = 100000, tracked = 10000, rounds = 5;
  gboolean keep = FALSE;
  GOptionEntry entries[] = {
    { "messages", 0, 0, G_OPTION_ARG_INT, &messages, "messages in the folder", "N" },
    { "tracked", 0, 0, G_OPTION_ARG_INT, &tracked, "of them tracked by msgtrkd", "N" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "rounds of each (alternating)", "N" },
    { "keep", 0, 0, G_OPTION_ARG_NONE, &keep, "keep the temporary directory", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- Tracking column bench");
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = NULL;
  g_autofree char *store_dir = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *mbox = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GArray) off = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) on = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) same_open = g_array_new (FALSE, FALSE, sizeof (double));
  guint found = 0;
  double t, module_s = 0;

  setvbuf (stdout, NULL, _IOLBF, 0); /* progress when piped */
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || messages <= 0 || tracked < 0
      || tracked > messages || rounds <= 0)
    {
      fprintf (stderr, "bench-evolution-column: %s\n", error ? error->message : "bad arguments");
      return 2;
    }
  tmp = g_dir_make_tmp ("bench-evo-column-XXXXXX", &error);
  g_assert_no_error (error);
  store_dir = g_build_filename (tmp, "local", NULL);
  data_dir = g_build_filename (tmp, "data", NULL);
  g_assert (g_mkdir_with_parents (store_dir, 0700) == 0);
  g_assert (g_mkdir_with_parents (data_dir, 0700) == 0);
  mbox = g_build_filename (store_dir, "Sent", NULL);
  camel_init (data_dir, FALSE);
  camel_provider_init ();
  write_mbox (mbox, (guint) messages);
  reply = list_status_reply ((guint) tracked);
  t = open_folder (data_dir, store_dir, reply, FALSE, &found, &module_s);
  printf ("folder: %d messages (mbox), %d tracked; first open (summary built, not counted): "
          "%.2f s\n", messages, tracked, t);
  for (int r = 0; r < rounds; r++)
    {
      /* alternate which goes first */
      for (int k = 0; k < 2; k++)
        {
          gboolean column = (r + k) % 2 == 1;
          t = open_folder (data_dir, store_dir, reply, column, &found, &module_s);
          g_array_append_val (column ? on : off, t);
          if (column)
            {
              double same = t / (t - module_s);
              g_array_append_val (same_open, same);
            }
          printf ("round %d column %-3s %.3f s%s\n", r + 1, column ? "on" : "off", t,
                  column ? (found == (guint) tracked ? "" : " (rows missed!)") : "");
        }
    }
  {
    double m_off = median (off), m_on = median (on);
    printf ("median: column off %.3f s, column on %.3f s, ratio %.3f (alternating rounds)\n",
            m_off, m_on, m_on / m_off);
    printf ("median same-open ratio (the module's work over the open it follows): %.3f "
            "(goal <= 1.05)\n", median (same_open));
  }
  if (!keep)
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);
      if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", tmp);
    }
  else
    printf ("kept: %s\n", tmp);
  return 0;
}
