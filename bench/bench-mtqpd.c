/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-mtqpd.c: TRACK throughput of a real mtqpd on loopback, one query per round trip
 * against pipelined queries.
 *
 *   bench-mtqpd MTQPD [N]     (N tracking records, default BENCH_DEFAULT_RECORDS)
 *
 * Seeds N records with track-store (the one writer of the format) in a temporary state
 * directory, starts MTQPD on 127.0.0.1 port 0, and times over one connection:
 *   serial     one TRACK, then its whole answer, then the next (a raw socket client)
 *   pipelined  BENCH_BATCH TRACK commands in one write, then their answers in order
 * and, through libmsgtrk's MsgtrkMtqpClient (answers parsed into reports):
 *   client     msgtrk_mtqp_client_track_host_sync() with up to MSGTRK_MTQP_MAX_QUERIES
 *              queries per call (it pipelines MSGTRK_MTQP_PIPELINE_BATCH per write)
 *   client-1   one call per query (a new session each: connect, greeting, TRACK, QUIT)
 * Prints queries/s for each (best of BENCH_ROUNDS) and the ratios, mtqpd's CPU time per
 * TRACK (utime + stime from /proc/PID/stat over the pipelined runs, which pass over the
 * records BENCH_PIPELINE_PASSES times so that the clock ticks resolve it), and each figure
 * against issue 10's goals and the figures before the answer cache (BENCH_OLD_*). The raw
 * client reads answers with one buffer and a search for the end marker, so that it costs
 * little of the two CPUs it shares with mtqpd. Run on demand, never as a test: there are
 * no assertions on speed; it fails only if an answer is not "+OK+".
 *
 * Never: print the secret (it is generated here and wiped at the end).
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgtrk-private.h"
#include "track-store.h"

/** BENCH_DEFAULT_RECORDS: tracking records seeded (and queries per run) by default. */
#define BENCH_DEFAULT_RECORDS 2000
/** BENCH_MAX_RECORDS: most records accepted on the command line. */
#define BENCH_MAX_RECORDS 1000000
/** BENCH_BATCH: TRACK commands per write in the pipelined run (as MsgtrkMtqpClient). */
#define BENCH_BATCH 32
/** BENCH_ROUNDS: runs of each mode; the best is printed. */
#define BENCH_ROUNDS 3
/** BENCH_CLIENT1_MAX: most queries in the one-session-per-query run (it is slow). */
#define BENCH_CLIENT1_MAX 500
/** BENCH_PIPELINE_PASSES: passes over the records in one pipelined run. */
#define BENCH_PIPELINE_PASSES 10
/** BENCH_RAW_BUFFER: the raw client's read buffer. */
#define BENCH_RAW_BUFFER (256 * 1024)
/** Issue 10's goals and the figures measured before the answer cache (closing note). */
#define BENCH_GOAL_PIPELINED 100000.0
#define BENCH_GOAL_CPU_US 10.0
#define BENCH_OLD_PIPELINED 26000.0
#define BENCH_OLD_CPU_US 60.0
/** BENCH_START_TIMEOUT_MS: how long mtqpd may take to write its port file. */
#define BENCH_START_TIMEOUT_MS 20000

typedef struct
{
  guint n;
  char **envids;
  char *secret;     /* base64 A, wiped at the end */
  char *tmp;
  GSubprocess *mtqpd;
  guint16 port;
} Bench;

static G_NORETURN void
die (const char *what,
     GError     *error)
{
  fprintf (stderr, "bench-mtqpd: %s%s%s\n", what, error ? ": " : "", error ? error->message : "");
  exit (1);
}

static void
chown_tree_to_nobody (const char *path)
{
  struct passwd *pw = getpwnam ("nobody");
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (pw == NULL)
    die ("no user nobody to run mtqpd as", NULL);
  if (chown (path, pw->pw_uid, pw->pw_gid) != 0)
    die (g_strerror (errno), NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    return;
  g_chmod (path, 0755);
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      chown_tree_to_nobody (child);
    }
}

static void
seed (Bench *b)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSecret) secret = msgtrk_secret_generate (&error);
  g_autofree char *auth = NULL;
  g_autofree char *state = g_build_filename (b->tmp, "state", NULL);
  g_autoptr (TrackStore) store = NULL;
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 86400;

  if (secret == NULL)
    die ("cannot make a secret", error);
  b->secret = msgtrk_secret_to_base64 (secret);
  auth = msgtrk_secret_compute_authenticator (secret);
  store = track_store_new (state, &error);
  if (store == NULL)
    die ("cannot open the track store", error);
  b->envids = g_new0 (char *, b->n + 1);
  for (guint i = 0; i < b->n; i++)
    {
      g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
      g_autoptr (MsgtrkRecipientReport) r = NULL;

      b->envids[i] = g_strdup_printf ("mtrk.bench%06u@bench.example", i);
      msgtrk_report_set_envid (report, b->envids[i]);
      msgtrk_report_set_reporting_mta (report, "mtqpd.bench.example");
      r = msgtrk_recipient_report_new ("user@example.net");
      msgtrk_recipient_report_set_action (r, MSGTRK_ACTION_TRANSFERRED);
      if (!msgtrk_recipient_report_set_status (r, "2.0.0", NULL, &error))
        die ("status", error);
      msgtrk_recipient_report_set_remote_mta (r, "mx.example.net");
      msgtrk_report_add_recipient (report, r);
      if (!track_store_put (store, b->envids[i], auth, expires, report, &error))
        die ("cannot seed a record", error);
    }
}

static void
start_mtqpd (Bench      *b,
             const char *exe)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *conf = g_build_filename (b->tmp, "mtqpd.conf", NULL);
  g_autofree char *port_file = g_build_filename (b->tmp, "port", NULL);
  g_autofree char *log = g_build_filename (b->tmp, "mtqpd.log", NULL);
  g_autofree char *state = g_build_filename (b->tmp, "state", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  gint64 deadline = g_get_monotonic_time () + BENCH_START_TIMEOUT_MS * 1000;

  text = g_strdup_printf ("[mtqpd]\nhostname=mtqpd.bench.example\nstate_dir=%s\n"
                          "listen=127.0.0.1:1\n%s",
                          state, geteuid () == 0 ? "user=nobody\n" : "");
  if (!g_file_set_contents (conf, text, -1, &error))
    die ("cannot write the configuration", error);
  if (geteuid () == 0)
    chown_tree_to_nobody (b->tmp);
  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  b->mtqpd = g_subprocess_launcher_spawn (launcher, &error, exe, "--config", conf, "--listen",
                                          "127.0.0.1:0", "--port-file", port_file, NULL);
  if (b->mtqpd == NULL)
    die ("cannot start mtqpd", error);
  for (;;)
    {
      g_autofree char *contents = NULL;
      guint64 port;

      if (g_file_get_contents (port_file, &contents, NULL, NULL)
          && g_str_has_suffix (contents, "\n")
          && g_ascii_string_to_unsigned (g_strstrip (contents), 10, 1, 65535, &port, NULL))
        {
          b->port = (guint16) port;
          return;
        }
      if (g_get_monotonic_time () > deadline)
        die ("mtqpd did not start (see its log in the temporary directory)", NULL);
      g_usleep (20000);
    }
}

/* ---- the raw client ---- */

typedef struct
{
  GSocketConnection *conn;
  GDataInputStream *in;
  GOutputStream *out;
  char *buf;        /* (owned) fast reader: BENCH_RAW_BUFFER octets */
  gsize len;        /* octets in buf */
} Raw;

/* The fast reader: read @count whole answers straight from the socket (each must start
 * "+OK+" and ends with CRLF "." CRLF). */
static void
read_answers_fast (Raw  *raw,
                   guint count)
{
  GSocket *sock = g_socket_connection_get_socket (raw->conn);
  gsize pos = 0;

  while (count > 0)
    {
      const char *end;

      if (raw->len - pos >= 4 && memcmp (raw->buf + pos, "+OK+", 4) != 0)
        {
          fprintf (stderr, "bench-mtqpd: unexpected answer: %.60s\n", raw->buf + pos);
          exit (1);
        }
      end = raw->len - pos >= 5 ? g_strstr_len (raw->buf + pos, (gssize) (raw->len - pos),
                                                "\r\n.\r\n")
                                : NULL;
      if (end != NULL)
        {
          pos = (gsize) (end - raw->buf) + 5;
          count--;
          continue;
        }
      memmove (raw->buf, raw->buf + pos, raw->len - pos);
      raw->len -= pos;
      pos = 0;
      if (raw->len == BENCH_RAW_BUFFER - 1)
        die ("an answer longer than the bench's buffer", NULL);
      {
        g_autoptr (GError) error = NULL;
        gssize n = g_socket_receive (sock, raw->buf + raw->len, BENCH_RAW_BUFFER - 1 - raw->len,
                                     NULL, &error);

        if (n <= 0)
          die ("reading from mtqpd", error);
        raw->len += (gsize) n;
        raw->buf[raw->len] = '\0';
      }
    }
  memmove (raw->buf, raw->buf + pos, raw->len - pos);
  raw->len -= pos;
}

/* CPU seconds (user + system, all threads) of process @pid so far. */
static double
process_cpu_seconds (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *text = NULL;
  g_auto (GStrv) fields = NULL;
  const char *p;

  if (pid == NULL || !g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  p = strrchr (text, ')'); /* the command name may hold spaces */
  if (p == NULL)
    return 0;
  fields = g_strsplit (p + 2, " ", 0);
  if (g_strv_length (fields) < 13)
    return 0;
  /* After ")": state is field 0; utime 11, stime 12 (man 5 proc: fields 14 and 15). */
  return (g_ascii_strtod (fields[11], NULL) + g_ascii_strtod (fields[12], NULL))
         / (double) sysconf (_SC_CLK_TCK);
}

static char *
read_line (Raw *raw)
{
  g_autoptr (GError) error = NULL;
  char *line = g_data_input_stream_read_line (raw->in, NULL, NULL, &error);

  if (line == NULL)
    die ("reading from mtqpd", error);
  g_strchomp (line);
  return line;
}

/* Read one answer; multi-line answers end with "." alone. */
static void
read_answer (Raw *raw)
{
  g_autofree char *first = read_line (raw);

  if (!g_str_has_prefix (first, "+OK+"))
    {
      fprintf (stderr, "bench-mtqpd: unexpected answer: %.60s\n", first);
      exit (1);
    }
  for (;;)
    {
      g_autofree char *line = read_line (raw);
      if (g_str_equal (line, "."))
        return;
    }
}

static void
raw_connect (Raw   *raw,
             Bench *b)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autofree char *greeting = NULL;

  raw->conn = g_socket_client_connect_to_host (client, "127.0.0.1", b->port, NULL, &error);
  if (raw->conn == NULL)
    die ("cannot connect to mtqpd", error);
  if (!g_socket_set_option (g_socket_connection_get_socket (raw->conn), IPPROTO_TCP,
                            TCP_NODELAY, 1, &error))
    die ("TCP_NODELAY", error);
  raw->in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (raw->conn)));
  g_data_input_stream_set_newline_type (raw->in, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
  raw->out = g_io_stream_get_output_stream (G_IO_STREAM (raw->conn));
  greeting = read_line (raw);
  if (g_str_has_prefix (greeting, "+OK+"))
    {
      for (;;)
        {
          g_autofree char *line = read_line (raw);
          if (g_str_equal (line, "."))
            break;
        }
    }
  else if (!g_str_has_prefix (greeting, "+OK"))
    die ("negative greeting", NULL);
}

static void
raw_close (Raw *raw)
{
  g_io_stream_close (G_IO_STREAM (raw->conn), NULL, NULL);
  g_clear_object (&raw->in);
  g_clear_object (&raw->conn);
  g_clear_pointer (&raw->buf, g_free);
}

static void
raw_write (Raw     *raw,
           GString *data)
{
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all (raw->out, data->str, data->len, NULL, NULL, &error))
    die ("writing to mtqpd", error);
}

/* Seconds for all queries, @batch commands per write (1: one per round trip), @passes
 * times over the records; the pipelined runs (batch > 1) read with the fast reader and
 * add mtqpd's CPU seconds to @cpu (nullable). */
static double
run_raw (Bench  *b,
         guint   batch,
         guint   passes,
         double *cpu)
{
  Raw raw = { 0 };
  g_autoptr (GString) out = g_string_new (NULL);
  const char *pid = g_subprocess_get_identifier (b->mtqpd);
  gint64 start;
  double seconds;
  double cpu0;

  raw_connect (&raw, b);
  raw.buf = g_malloc (BENCH_RAW_BUFFER);
  cpu0 = process_cpu_seconds (pid);
  start = g_get_monotonic_time ();
  for (guint pass = 0; pass < passes; pass++)
    for (guint i = 0; i < b->n; i += batch)
      {
        guint end = MIN (i + batch, b->n);

        g_string_truncate (out, 0);
        for (guint j = i; j < end; j++)
          g_string_append_printf (out, "TRACK %s %s\r\n", b->envids[j], b->secret);
        raw_write (&raw, out);
        if (batch > 1)
          read_answers_fast (&raw, end - i);
        else
          for (guint j = i; j < end; j++)
            read_answer (&raw);
      }
  seconds = (g_get_monotonic_time () - start) / 1e6;
  if (cpu != NULL)
    *cpu += process_cpu_seconds (pid) - cpu0;
  msgtrk_secure_wipe (out->str, out->len);
  g_string_assign (out, "QUIT\r\n");
  raw_write (&raw, out);
  raw_close (&raw);
  return seconds;
}

/* Seconds for @n queries through MsgtrkMtqpClient, @per_call queries per call. */
static double
run_client (Bench *b,
            guint  n,
            guint  per_call)
{
  g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
  g_autofree const char **secrets = g_new0 (const char *, per_call + 1);
  gint64 start;

  msgtrk_mtqp_client_set_tls_policy (client, MSGTRK_TLS_POLICY_NONE);
  for (guint j = 0; j < per_call; j++)
    secrets[j] = b->secret;
  start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i += per_call)
    {
      guint count = MIN (per_call, n - i);
      g_autofree const char **envids = g_new0 (const char *, count + 1);
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) answers = NULL;

      memcpy (envids, b->envids + i, count * sizeof (char *));
      secrets[count] = NULL;
      answers = msgtrk_mtqp_client_track_host_sync (client, "127.0.0.1", b->port, envids,
                                                    secrets, NULL, &error);
      if (answers == NULL)
        die ("track_host_sync", error);
      for (guint j = 0; j < answers->len; j++)
        if (!msgtrk_mtqp_answer_is_success (g_ptr_array_index (answers, j)))
          die ("a query failed",
               (GError *) msgtrk_mtqp_answer_get_error (g_ptr_array_index (answers, j)));
      secrets[count] = b->secret;
    }
  return (g_get_monotonic_time () - start) / 1e6;
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

int
main (int    argc,
      char **argv)
{
  Bench b = { 0 };
  g_autoptr (GError) error = NULL;
  guint64 n = BENCH_DEFAULT_RECORDS;
  double serial = G_MAXDOUBLE, piped = G_MAXDOUBLE, lib = G_MAXDOUBLE, lib1 = G_MAXDOUBLE;
  double cpu = 0;
  double cpu_us;
  double piped_qps;
  guint n1;

  if (argc < 2 || argc > 3
      || (argc == 3 && !g_ascii_string_to_unsigned (argv[2], 10, 1, BENCH_MAX_RECORDS, &n, NULL)))
    {
      fprintf (stderr, "usage: bench-mtqpd MTQPD [N (1..%d)]\n", BENCH_MAX_RECORDS);
      return 2;
    }
  b.n = (guint) n;
  n1 = MIN (b.n, BENCH_CLIENT1_MAX);
  b.tmp = g_dir_make_tmp ("msgtrk-bench-mtqpd-XXXXXX", &error);
  if (b.tmp == NULL)
    die ("cannot make a temporary directory", error);
  seed (&b);
  start_mtqpd (&b, argv[1]);

  printf ("mtqpd TRACK throughput on 127.0.0.1, %u records, best of %d runs\n", b.n,
          BENCH_ROUNDS);
  for (guint r = 0; r < BENCH_ROUNDS; r++)
    {
      serial = MIN (serial, run_raw (&b, 1, 1, NULL));
      piped = MIN (piped, run_raw (&b, BENCH_BATCH, BENCH_PIPELINE_PASSES, &cpu));
      lib = MIN (lib, run_client (&b, b.n, MIN (b.n, MSGTRK_MTQP_MAX_QUERIES)));
      lib1 = MIN (lib1, run_client (&b, n1, 1));
    }
  printf ("  %-46s %10.0f queries/s\n", "raw, one TRACK per round trip", b.n / serial);
  piped_qps = (double) b.n * BENCH_PIPELINE_PASSES / piped;
  cpu_us = cpu * 1e6 / ((double) b.n * BENCH_PIPELINE_PASSES * BENCH_ROUNDS);
  printf ("  %-46s %10.0f queries/s\n", "raw, pipelined (32 per write)", piped_qps);
  printf ("  %-46s %10.1f µs\n", "mtqpd CPU per TRACK (pipelined runs)", cpu_us);
  printf ("  %-46s %10.0f queries/s\n", "MsgtrkMtqpClient, pipelined (parsed answers)",
          b.n / lib);
  printf ("  %-46s %10.0f queries/s  (%u queries)\n",
          "MsgtrkMtqpClient, one session per query", n1 / lib1, n1);
  printf ("  ratio pipelined / one per round trip (raw):     %.2f\n",
          piped_qps / (b.n / serial));
  printf ("  ratio pipelined client / one session per query: %.2f\n",
          (b.n / lib) / (n1 / lib1));
  printf ("Against issue 10's goals (and the figures before the answer cache):\n");
  printf ("  pipelined TRACK/s    %8.0f  goal >= %.0f (ratio %.2f); before %.0f (x%.2f)\n",
          piped_qps, BENCH_GOAL_PIPELINED, piped_qps / BENCH_GOAL_PIPELINED,
          BENCH_OLD_PIPELINED, piped_qps / BENCH_OLD_PIPELINED);
  printf ("  CPU per TRACK (µs)   %8.1f  goal <= %.0f (ratio %.2f); before %.0f (x%.2f)\n",
          cpu_us, BENCH_GOAL_CPU_US, cpu_us / BENCH_GOAL_CPU_US, BENCH_OLD_CPU_US,
          cpu_us / BENCH_OLD_CPU_US);
  printf ("  (p99 at 100 clients: bench-store, files and PostgreSQL)\n");

  g_subprocess_send_signal (b.mtqpd, SIGTERM);
  g_subprocess_wait (b.mtqpd, NULL, NULL);
  g_clear_object (&b.mtqpd);
  remove_tree (b.tmp);
  g_free (b.tmp);
  g_strfreev (b.envids);
  msgtrk_secure_free_string (b.secret);
  return 0;
}
