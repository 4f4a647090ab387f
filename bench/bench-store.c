/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-store.c: the tracking store under load, files backend against PostgreSQL, in one run.
 *
 *   bench-store MTQPD RECEIVER [N]      (N records, default BENCH_DEFAULT_RECORDS)
 *
 * What: for each backend (files; postgresql when MSGTRK_TEST_PG_CONNINFO names a database,
 * as tests/pg/run-with-pg.py sets it: the bench-store-run target):
 *   ingest   N records pushed by a real PushSender (the relay's code: durable spool, UDP,
 *            HMAC, resend until acknowledged), submitted from BENCH_SUBMITTERS threads to a real msgtrk-push-receiver writing into
 *            the store; records/s from the first submit to the last acknowledgement (the
 *            receiver acknowledges a record once it is stored)
 *   track    a real mtqpd over the same store: TRACK queries/s from 1, 10 and 100 clients,
 *            each pipelining BENCH_DEPTH queries per write, every answer checked "+OK+"
 *   latency  100 clients, one query outstanding each (closed loop: the saturation figure):
 *            p50 and p99 TRACK latency; and 100 clients offering BENCH_OPEN_RATE TRACK/s
 *            together (open loop: each client sends on its own schedule whether or not its
 *            earlier queries were answered, pipelined on its connection), p50 and p99
 *            measured from each query's scheduled send time, so that a stalled server or
 *            client loop is counted in full (no coordinated omission)
 *   CPU      ms per 1000 records end to end (receiver, PostgreSQL, this process: the node)
 *            and per 1000 TRACK at 100 clients (mtqpd, PostgreSQL, clients)
 *   memory   peak RSS (VmHWM) of the receiver and of mtqpd
 * and prints each figure against the goals (BENCH_GOAL_*), with ratios.
 * How: one poll() loop drives all client connections (non-blocking sockets).
 * Limits: N at most BENCH_MAX_RECORDS (PUSH_MAX_SPOOL: the whole run is spooled at once).
 * MSGTRK_BENCH_INGEST_ONLY set: the ingest figures only (no TRACK runs).
 * MSGTRK_BENCH_MTQPD_LINES: lines added to mtqpd's [mtqpd] group (e.g. "workers=16").
 * Run on demand, never as a test: no assertion on speed; it fails only when a record is
 * not acknowledged in BENCH_INGEST_TIMEOUT_S or an answer is not "+OK+".
 * Never: print the secret A, B or the push key (generated here, wiped at the end).
 */
/* ppoll(2) (the open loop's sub-millisecond waits) is a GNU extension (Linux). */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "msgtrk-private.h"
#include "push-proto.h"
#include "push-sender.h"

/** BENCH_DEFAULT_RECORDS: records pushed, then asked for, per backend. */
#define BENCH_DEFAULT_RECORDS 20000
/** BENCH_MAX_RECORDS: most records accepted on the command line (the spool's limit). */
#define BENCH_MAX_RECORDS PUSH_MAX_SPOOL
/** BENCH_DEPTH: TRACK commands per write and per client in the throughput runs. */
#define BENCH_DEPTH 32
/** BENCH_QUERIES: TRACK queries per throughput run (spread over the clients). */
#define BENCH_QUERIES 40000
/** BENCH_LATENCY_QUERIES: queries of the latency run (100 clients, one outstanding each). */
#define BENCH_LATENCY_QUERIES 20000
/** BENCH_OPEN_RATE: TRACK/s offered by all clients together in the open-loop latency run
 * (the throughput goal); BENCH_OPEN_SECONDS: its length. */
#define BENCH_OPEN_RATE 20000
#define BENCH_OPEN_SECONDS 3
/** BENCH_MAX_CLIENTS: the most concurrent client connections. */
#define BENCH_MAX_CLIENTS 100
/** BENCH_START_TIMEOUT_MS: how long a server may take to write its port file. */
#define BENCH_START_TIMEOUT_MS 20000
/** BENCH_INGEST_TIMEOUT_S: how long all records may take to be acknowledged. */
#define BENCH_INGEST_TIMEOUT_S 300
/** BENCH_IO_TIMEOUT_MS: longest silence of mtqpd during a run. */
#define BENCH_IO_TIMEOUT_MS 20000
/** The goals (issue 12, item 6) on this 2-core machine, with PostgreSQL. */
#define BENCH_GOAL_INGEST 20000.0
#define BENCH_GOAL_TRACK 20000.0
#define BENCH_GOAL_P99_MS 5.0
/** The figures before this change (PostgreSQL; closing note of the previous session,
 * the best of its runs): printed beside each goal. */
#define BENCH_OLD_INGEST 1138.0
#define BENCH_OLD_DIRECT 5791.0
#define BENCH_OLD_TRACK 13600.0
#define BENCH_OLD_TRACK_100 10061.0
#define BENCH_OLD_P99_MS 40.2
#define BENCH_PUSH_KEY_BYTES 32
/** BENCH_WINDOW: records in flight (sent, not acknowledged) in the receiver-alone run. */
#define BENCH_WINDOW 128
/** BENCH_SUBMITTERS: threads submitting to the node's PushSender at once in the ingest run
 * (a relay submits from its delivery threads; the spool's group commit shares their
 * syncs). */
#define BENCH_SUBMITTERS 16
/** BENCH_RESEND_MS: silence after which the receiver-alone run resends what is in flight. */
#define BENCH_RESEND_MS 500

typedef struct _Bench Bench;

/* One of the ingest run's submitting threads: records t, t + BENCH_SUBMITTERS, … */
typedef struct
{
  Bench *b;
  PushSender *sender;
  guint t;
  gint64 expires;
  gint64 version;
  GThread *thread;
} Submitter;

static gpointer submit_thread (gpointer data);

typedef struct
{
  const char *name;       /* "files" or "postgresql" */
  char *store_lines;      /* (owned) the [store] group, "" for files */
  double ingest;          /* records/s */
  double spooled;         /* records/s through push_sender_submit() alone (the node's spool) */
  double direct;          /* records/s, frames sent from memory: receiver + store alone */
  double track[3];        /* queries/s at 1, 10, 100 clients */
  double p50_ms, p99_ms;  /* latency at 100 clients, one outstanding each */
  /* open loop: latency at 100 clients offering BENCH_OPEN_RATE together, from the
   * scheduled send time; the rate answered; the client loop's worst lateness in sending */
  double open_p50_ms, open_p99_ms, open_max_ms, open_rate, open_late_ms;
  double receiver_mib, mtqpd_mib;
  /* CPU ms per 1000 TRACK at 100 clients (pipelined): mtqpd, PostgreSQL, the clients */
  double cpu_mtqpd, cpu_pg, cpu_client;
  /* the same in the closed-loop latency run, and the whole machine's busy CPU ms per 1000
   * TRACK there (other processes included) */
  double lat_mtqpd, lat_pg, lat_client, lat_machine;
  double cpu_in_receiver, cpu_in_pg, cpu_in_node; /* CPU ms per 1000 records, end to end */
  guint16 udp_port;       /* the receiver's */
  gint64 record_bytes;    /* PostgreSQL: average row size on disk (table + indexes) / N */
} Result;

struct _Bench
{
  guint n;
  char **envids;
  char *secret;   /* base64 A, wiped at the end */
  char *auth;     /* B */
  char *fields;   /* one record's tracking-status fields */
  char *tmp;
  const char *mtqpd_exe, *receiver_exe;
};

static const guint client_counts[3] = { 1, 10, BENCH_MAX_CLIENTS };

/* The servers running now, killed by die() so that a failed run leaves none behind. */
static GSubprocess *running[2];

static G_NORETURN void
die (const char *what,
     GError     *error)
{
  fprintf (stderr, "bench-store: %s%s%s\n", what, error ? ": " : "", error ? error->message : "");
  for (guint i = 0; i < G_N_ELEMENTS (running); i++)
    if (running[i] != NULL)
      g_subprocess_force_exit (running[i]);
  exit (1);
}

static void
track_running (GSubprocess *proc,
               gboolean     add)
{
  for (guint i = 0; i < G_N_ELEMENTS (running); i++)
    if (add ? running[i] == NULL : running[i] == proc)
      {
        running[i] = add ? proc : NULL;
        return;
      }
}

static void
to_nobody (const char *path)
{
  struct passwd *pw;

  if (geteuid () != 0)
    return;
  pw = getpwnam ("nobody");
  if (pw == NULL || chown (path, pw->pw_uid, pw->pw_gid) != 0)
    die ("cannot give a file to nobody", NULL);
}

static void
write_file (const char *path,
            const char *text,
            int         mode)
{
  g_autoptr (GError) error = NULL;

  if (!g_file_set_contents (path, text, -1, &error))
    die ("cannot write a file", error);
  g_chmod (path, mode);
  to_nobody (path);
}

static char *
make_dir (const char *parent,
          const char *name)
{
  char *path = g_build_filename (parent, name, NULL);

  if (g_mkdir_with_parents (path, 0755) != 0)
    die ("cannot make a directory", NULL);
  g_chmod (path, 0755);
  to_nobody (path);
  return path;
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

/* Starts @exe --config @conf --listen 127.0.0.1:0 and returns it once its port file is
 * written; *port gets the port. */
static GSubprocess *
start_server (const char *exe,
              const char *dir,
              const char *conf,
              guint16    *port)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *port_file = g_build_filename (dir, "port", NULL);
  g_autofree char *log = g_build_filename (dir, "log", NULL);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  GSubprocess *proc;
  gint64 deadline = g_get_monotonic_time () + BENCH_START_TIMEOUT_MS * 1000;

  g_unlink (port_file);
  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  proc = g_subprocess_launcher_spawn (launcher, &error, exe, "--config", conf, "--listen",
                                      "127.0.0.1:0", "--port-file", port_file, NULL);
  if (proc == NULL)
    die ("cannot start a server", error);
  for (;;)
    {
      g_autofree char *contents = NULL;
      guint64 p;

      if (g_file_get_contents (port_file, &contents, NULL, NULL)
          && g_str_has_suffix (contents, "\n")
          && g_ascii_string_to_unsigned (g_strstrip (contents), 10, 1, 65535, &p, NULL))
        {
          *port = (guint16) p;
          track_running (proc, TRUE);
          return proc;
        }
      if (g_get_monotonic_time () > deadline || g_subprocess_get_identifier (proc) == NULL)
        {
          fprintf (stderr, "bench-store: %s did not start; its log: %s\n", exe, log);
          g_subprocess_force_exit (proc);
          die ("a server did not start", NULL);
        }
      g_usleep (20000);
    }
}

/* Peak resident set (VmHWM) of a running process, in MiB. */
static double
peak_rss_mib (GSubprocess *proc)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (proc));
  g_autofree char *text = NULL;
  const char *hwm;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (hwm = strstr (text, "VmHWM:")) == NULL)
    return -1;
  return g_ascii_strtod (hwm + 6, NULL) / 1024.0;
}

/* CPU time (user + system) of process @pid in ms; 0 when it is gone. */
static double
cpu_ms (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *text = NULL;
  g_auto (GStrv) f = NULL;
  const char *after;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (after = strrchr (text, ')')) == NULL)
    return 0;
  f = g_strsplit (after + 2, " ", 0);
  if (g_strv_length (f) < 13)
    return 0;
  /* fields 14 and 15 of stat(5): utime, stime; f[0] is field 3 */
  return (g_ascii_strtod (f[11], NULL) + g_ascii_strtod (f[12], NULL)) * 1000.0
         / sysconf (_SC_CLK_TCK);
}

/* CPU ms of the private PostgreSQL (its postmaster and every child), 0 without one. */
static double
pg_cpu_ms (void)
{
  const char *dir = g_getenv ("MSGTRK_TEST_PG_DIR");
  g_autofree char *pidfile = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GDir) proc = NULL;
  const char *name;
  double total = 0;
  guint64 master;

  if (dir == NULL)
    return 0;
  pidfile = g_build_filename (dir, "data", "postmaster.pid", NULL);
  if (!g_file_get_contents (pidfile, &text, NULL, NULL))
    return 0;
  master = g_ascii_strtoull (text, NULL, 10);
  proc = g_dir_open ("/proc", 0, NULL);
  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%s/stat", name);
      g_autofree char *stat = NULL;
      const char *after;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &stat, NULL, NULL)
          || (after = strrchr (stat, ')')) == NULL)
        continue;
      /* after + 2: "S PPID ..." */
      if (g_ascii_strtoull (name, NULL, 10) == master
          || g_ascii_strtoull (after + 4, NULL, 10) == master)
        total += cpu_ms (name);
    }
  return total;
}

/* CPU ms used by the whole machine (every CPU, every process: /proc/stat's busy time). */
static double
machine_cpu_ms (void)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) f = NULL;
  double busy = 0;

  if (!g_file_get_contents ("/proc/stat", &text, NULL, NULL) || !g_str_has_prefix (text, "cpu "))
    return 0;
  text[strcspn (text, "\n")] = '\0';
  f = g_strsplit_set (text + 4, " ", 0);
  /* user nice system idle iowait irq softirq steal: all but idle and iowait */
  for (guint i = 0, k = 0; f[i] != NULL && k < 8; i++)
    {
      if (*f[i] == '\0')
        continue;
      if (k != 3 && k != 4)
        busy += g_ascii_strtod (f[i], NULL);
      k++;
    }
  return busy * 1000.0 / sysconf (_SC_CLK_TCK);
}

static double
self_cpu_ms (void)
{
  return cpu_ms ("self");
}

static void
stop_server (GSubprocess *proc)
{
  track_running (proc, FALSE);
  g_subprocess_send_signal (proc, SIGTERM);
  g_subprocess_wait (proc, NULL, NULL);
}

static guint16
free_udp_port (void)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof sa;
  int fd = socket (AF_INET, SOCK_DGRAM, 0);

  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) != 0
      || getsockname (fd, (struct sockaddr *) &sa, &len) != 0)
    die ("cannot find a free UDP port", NULL);
  close (fd);
  return ntohs (sa.sin_port);
}

/* ---- ingest: PushSender -> msgtrk-push-receiver -> store ---- */

static gpointer
submit_thread (gpointer data)
{
  Submitter *sub = data;
  g_autoptr (GError) error = NULL;

  for (guint i = sub->t; i < sub->b->n; i += BENCH_SUBMITTERS)
    if (!push_sender_submit (sub->sender, sub->b->envids[i], sub->b->auth, sub->expires,
                             sub->version + i, sub->b->fields, NULL, &error))
      die ("push_sender_submit", error);
  return NULL;
}

static GSubprocess *
ingest (Bench      *b,
        Result     *r,
        const char *dir,
        const char *state)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *rdir = make_dir (dir, "receiver");
  g_autofree char *ndir = make_dir (dir, "node");
  g_autofree char *key_path = g_build_filename (dir, "receiver-node1.key", NULL);
  g_autofree char *node_key_path = g_build_filename (dir, "node1.key", NULL);
  g_autofree char *conf = g_build_filename (rdir, "receiver.conf", NULL);
  g_autofree char *text = NULL;
  g_autofree char *server = NULL;
  guchar raw[BENCH_PUSH_KEY_BYTES];
  g_autofree char *key = NULL;
  guint16 udp = free_udp_port (), tcp = 0;
  GSubprocess *receiver;
  PushSender *sender;
  gint64 start, deadline, version = g_get_real_time ();
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 86400;

  r->udp_port = udp;
  for (guint i = 0; i < sizeof raw; i++)
    raw[i] = (guchar) g_random_int_range (0, 256);
  key = g_base64_encode (raw, sizeof raw);
  msgtrk_secure_wipe (raw, sizeof raw);
  text = g_strconcat (key, "\n", NULL);
  write_file (key_path, text, 0600); /* the receiver's copy: owned by its service user */
  if (!g_file_set_contents (node_key_path, text, -1, &error) || g_chmod (node_key_path, 0600) != 0)
    die ("cannot write the node's key", error); /* the node's copy: owned by this process */
  msgtrk_secure_wipe (text, strlen (text));
  msgtrk_secure_wipe (key, strlen (key));
  g_free (text);
  text = g_strdup_printf ("[push_receiver]\nlisten=127.0.0.1:1\nudp_listen=127.0.0.1:%u\n"
                          "state_dir=%s\n%s\n[push_keys]\n1=%s\n%s",
                          udp, state, geteuid () == 0 ? "user=nobody" : "", key_path,
                          r->store_lines);
  write_file (conf, text, 0644);
  receiver = start_server (b->receiver_exe, rdir, conf, &tcp);
  g_usleep (300000); /* the UDP thread starts just after the port file is written */

  server = g_strdup_printf ("127.0.0.1:%u", udp);
  sender = push_sender_new (ndir, server, 1, node_key_path, &error);
  if (sender == NULL)
    die ("cannot make the push sender", error);
  {
    double rc0 = cpu_ms (g_subprocess_get_identifier (receiver)), pc0 = pg_cpu_ms ();
    double nc0 = self_cpu_ms ();

    start = g_get_monotonic_time ();
    {
      Submitter subs[BENCH_SUBMITTERS];

      for (guint t = 0; t < BENCH_SUBMITTERS; t++)
        {
          subs[t] = (Submitter) { b, sender, t, expires, version, NULL };
          subs[t].thread = g_thread_new ("submit", submit_thread, &subs[t]);
        }
      for (guint t = 0; t < BENCH_SUBMITTERS; t++)
        g_thread_join (subs[t].thread);
    }
    r->spooled = b->n / ((g_get_monotonic_time () - start) / 1e6);
    deadline = g_get_monotonic_time () + (gint64) BENCH_INGEST_TIMEOUT_S * G_USEC_PER_SEC;
    while (push_sender_pending (sender) > 0)
      {
        if (g_get_monotonic_time () > deadline)
          die ("records still unacknowledged at the deadline", NULL);
        g_usleep (2000);
      }
    r->ingest = b->n / ((g_get_monotonic_time () - start) / 1e6);
    r->cpu_in_receiver = (cpu_ms (g_subprocess_get_identifier (receiver)) - rc0) * 1000 / b->n;
    r->cpu_in_pg = (pg_cpu_ms () - pc0) * 1000 / b->n;
    r->cpu_in_node = (self_cpu_ms () - nc0) * 1000 / b->n;
  }
  push_sender_free (sender);
  return receiver;
}

static guint64 direct_sequence;

static gsize
direct_frame (GBytes       *record,
              guint64       record_id,
              const guint8 *key,
              gsize         key_len,
              guint8        out[PUSH_MAX_DATAGRAM])
{
  PushFrame f = { 0 };
  gsize len;

  f.type = PUSH_TYPE_RECORD;
  f.key_id = 1;
  f.timestamp_ms = g_get_real_time () / 1000;
  direct_sequence = MAX ((guint64) g_get_real_time (), direct_sequence + 1);
  f.sequence = direct_sequence;
  f.record_id = record_id;
  f.part = 0;
  f.parts = 1;
  f.payload = g_bytes_get_data (record, &len);
  f.payload_len = len;
  return push_frame_encode (&f, key, key_len, out);
}

/* The receiver and store alone: N more records as frames made here from memory (no node
 * spool), BENCH_WINDOW in flight, each resent until acknowledged; records/s. */
static void
ingest_direct (Bench      *b,
               Result     *r,
               const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *key_path = g_build_filename (dir, "node1.key", NULL);
  g_autoptr (GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autofree gboolean *acked = g_new0 (gboolean, b->n);
  g_autofree gint64 *sent_at = g_new0 (gint64, b->n);
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GSocketAddress) to = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  gsize key_len = 0;
  guint8 *key = push_key_load (key_path, &key_len, &error);
  guint8 buf[PUSH_MAX_DATAGRAM];
  guint next = 0, done = 0, in_flight = 0;
  gint64 start, expires = g_get_real_time () / G_USEC_PER_SEC + 86400, version = g_get_real_time ();
  gint64 deadline;

  if (key == NULL)
    die ("cannot load the push key", error);
  for (guint i = 0; i < b->n; i++)
    {
      g_autofree char *envid = g_strdup_printf ("mtrk.direct%07u@bench.example", i);
      GBytes *rec = push_record_encode (envid, b->auth, expires, version + i, b->fields, &error);

      if (rec == NULL || g_bytes_get_size (rec) > PUSH_MAX_PAYLOAD)
        die ("cannot encode a record in one frame", error);
      g_ptr_array_add (records, rec);
    }
  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP,
                       &error);
  if (sock == NULL)
    die ("UDP socket", error);
  to = g_inet_socket_address_new (lo, r->udp_port);
  start = g_get_monotonic_time ();
  deadline = start + (gint64) BENCH_INGEST_TIMEOUT_S * G_USEC_PER_SEC;
  while (done < b->n)
    {
      gint64 now = g_get_monotonic_time ();
      gssize got;

      if (now > deadline)
        die ("direct records still unacknowledged at the deadline", NULL);
      while (in_flight < BENCH_WINDOW && next < b->n)
        {
          gsize n = direct_frame (g_ptr_array_index (records, next), next + 1, key, key_len, buf);

          g_socket_send_to (sock, to, (const char *) buf, n, NULL, NULL);
          sent_at[next] = now;
          next++;
          in_flight++;
        }
      if (!g_socket_condition_timed_wait (sock, G_IO_IN, BENCH_RESEND_MS * 1000, NULL, NULL))
        {
          /* resend what is in flight */
          for (guint i = 0; i < next; i++)
            if (!acked[i] && now - sent_at[i] > BENCH_RESEND_MS * 1000)
              {
                gsize n = direct_frame (g_ptr_array_index (records, i), i + 1, key, key_len, buf);

                g_socket_send_to (sock, to, (const char *) buf, n, NULL, NULL);
                sent_at[i] = g_get_monotonic_time ();
              }
          continue;
        }
      while ((got = g_socket_receive_with_blocking (sock, (char *) buf, sizeof buf, FALSE, NULL,
                                                    NULL)) > 0)
        {
          PushFrame f;

          if (push_frame_parse (buf, (gsize) got, &f) != PUSH_OK || f.type != PUSH_TYPE_ACK
              || !push_frame_verify (buf, (gsize) got, key, key_len) || f.record_id == 0
              || f.record_id > b->n || acked[f.record_id - 1])
            continue;
          acked[f.record_id - 1] = TRUE;
          done++;
          in_flight--;
        }
    }
  r->direct = b->n / ((g_get_monotonic_time () - start) / 1e6);
  push_key_free (key, key_len);
}

/* ---- track: many pipelined MTQP clients in one poll() loop ---- */

typedef enum
{
  C_GREETING,      /* before the greeting's first line */
  C_GREETING_MORE, /* in a multi-line greeting */
  C_IDLE,
  C_ANSWER_FIRST,  /* waiting for an answer's first line */
  C_ANSWER_MORE,   /* in a "+OK+" answer, until "." */
} CState;

typedef struct
{
  int fd;
  CState state;
  GString *line;
  guint outstanding;  /* queries written, answer not complete */
  GArray *sent_at;    /* gint64 µs, one per outstanding query (FIFO): when it was sent,
                       * or in the open loop when it was due */
  guint sent_head;
  gint64 next_at;     /* open loop: when its next query is due (monotonic µs) */
  guint left;         /* open loop: queries it has still to send */
} Client;

typedef struct
{
  Bench *b;
  guint16 port;
  guint n_clients, depth, total;
  guint issued, done;
  GArray *latencies; /* double ms; only when depth == 1 or in the open loop */
  gint64 interval;   /* open loop: µs between one client's queries; 0: closed loop */
  gint64 late;       /* open loop: the most a query was sent after it was due, µs */
  Client clients[BENCH_MAX_CLIENTS];
} Run;

static void
client_connect (Client *c,
                guint16 port)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int one = 1;

  c->fd = socket (AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0 || connect (c->fd, (struct sockaddr *) &sa, sizeof sa) != 0)
    die ("cannot connect to mtqpd", NULL);
  setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl (c->fd, F_SETFL, O_NONBLOCK);
  c->state = C_GREETING;
  c->line = g_string_new (NULL);
  c->sent_at = g_array_new (FALSE, FALSE, sizeof (gint64));
  c->sent_head = 0;
  c->outstanding = 0;
}

static void
write_all (int         fd,
           const char *data,
           gsize       len)
{
  while (len > 0)
    {
      ssize_t w = write (fd, data, len);

      if (w < 0 && errno == EAGAIN)
        {
          struct pollfd p = { .fd = fd, .events = POLLOUT };
          poll (&p, 1, BENCH_IO_TIMEOUT_MS);
          continue;
        }
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        die ("writing to mtqpd", NULL);
      data += w;
      len -= (gsize) w;
    }
}

static void
client_send (Run    *run,
             Client *c)
{
  g_autoptr (GString) out = g_string_new (NULL);
  guint count = MIN (run->depth, run->total - run->issued);
  gint64 now = g_get_monotonic_time ();

  if (count == 0)
    return;
  for (guint j = 0; j < count; j++)
    {
      const char *envid = run->b->envids[(run->issued + j) % run->b->n];

      g_string_append_printf (out, "TRACK %s %s\r\n", envid, run->b->secret);
      g_array_append_val (c->sent_at, now);
    }
  run->issued += count;
  c->outstanding += count;
  if (c->state == C_IDLE)
    c->state = C_ANSWER_FIRST;
  write_all (c->fd, out->str, out->len);
  msgtrk_secure_wipe (out->str, out->len);
}

/* One complete line (CR LF removed) from mtqpd. */
static void
client_line (Run    *run,
             Client *c,
             const char *line)
{
  switch (c->state)
    {
    case C_GREETING:
      if (g_str_has_prefix (line, "+OK+"))
        c->state = C_GREETING_MORE;
      else if (g_str_has_prefix (line, "+OK"))
        c->state = C_IDLE;
      else
        die ("negative greeting", NULL);
      break;
    case C_GREETING_MORE:
      if (strcmp (line, ".") == 0)
        c->state = C_IDLE;
      break;
    case C_ANSWER_FIRST:
      if (!g_str_has_prefix (line, "+OK+"))
        {
          fprintf (stderr, "bench-store: unexpected answer: %.60s\n", line);
          die ("an answer was not +OK+", NULL);
        }
      c->state = C_ANSWER_MORE;
      break;
    case C_ANSWER_MORE:
      if (strcmp (line, ".") != 0)
        break;
      if (run->latencies != NULL)
        {
          gint64 at = g_array_index (c->sent_at, gint64, c->sent_head);
          double ms = (g_get_monotonic_time () - at) / 1000.0;
          g_array_append_val (run->latencies, ms);
        }
      c->sent_head++;
      c->outstanding--;
      run->done++;
      c->state = C_ANSWER_FIRST;
      if (c->outstanding == 0)
        {
          c->state = C_IDLE;
          g_array_set_size (c->sent_at, 0);
          c->sent_head = 0;
        }
      break;
    case C_IDLE:
    default:
      die ("mtqpd said something unasked", NULL);
    }
}

static void
client_read (Run    *run,
             Client *c)
{
  char buf[65536];
  ssize_t n;

  while ((n = read (c->fd, buf, sizeof buf)) > 0)
    {
      for (ssize_t i = 0; i < n; i++)
        {
          if (buf[i] != '\n')
            {
              g_string_append_c (c->line, buf[i]);
              continue;
            }
          if (c->line->len > 0 && c->line->str[c->line->len - 1] == '\r')
            g_string_truncate (c->line, c->line->len - 1);
          client_line (run, c, c->line->str);
          g_string_truncate (c->line, 0);
        }
    }
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
    die ("mtqpd closed a connection", NULL);
}

/* Connect run->n_clients clients to mtqpd and read each one's greeting. */
static void
clients_connect (Run *run)
{
  for (guint i = 0; i < run->n_clients; i++)
    {
      client_connect (&run->clients[i], run->port);
      while (run->clients[i].state != C_IDLE)
        {
          struct pollfd p = { .fd = run->clients[i].fd, .events = POLLIN };
          if (poll (&p, 1, BENCH_IO_TIMEOUT_MS) <= 0)
            die ("no greeting from mtqpd", NULL);
          client_read (run, &run->clients[i]);
        }
    }
}

/* QUIT and close run->n_clients clients, and free what each held. */
static void
clients_close (Run *run)
{
  for (guint i = 0; i < run->n_clients; i++)
    {
      write_all (run->clients[i].fd, "QUIT\r\n", 6);
      close (run->clients[i].fd);
      g_string_free (run->clients[i].line, TRUE);
      g_array_unref (run->clients[i].sent_at);
    }
}

/* Seconds for run->total queries over run->n_clients connections. */
static double
run_track (Run *run)
{
  struct pollfd fds[BENCH_MAX_CLIENTS];
  gint64 start;
  double seconds;

  clients_connect (run);
  start = g_get_monotonic_time ();
  for (guint i = 0; i < run->n_clients; i++)
    client_send (run, &run->clients[i]);
  while (run->done < run->total)
    {
      int ready;

      for (guint i = 0; i < run->n_clients; i++)
        fds[i] = (struct pollfd) { .fd = run->clients[i].fd, .events = POLLIN };
      ready = poll (fds, run->n_clients, BENCH_IO_TIMEOUT_MS);
      if (ready == 0)
        die ("mtqpd stopped answering", NULL);
      for (guint i = 0; i < run->n_clients; i++)
        if (fds[i].revents != 0)
          {
            client_read (run, &run->clients[i]);
            if (run->clients[i].state == C_IDLE)
              client_send (run, &run->clients[i]);
          }
    }
  seconds = (g_get_monotonic_time () - start) / 1e6;
  clients_close (run);
  return seconds;
}

/* Open loop: write every query of @c that is due at @now (one write), each timed from
 * when it was due. */
static void
client_send_due (Run    *run,
                 Client *c,
                 gint64  now)
{
  g_autoptr (GString) out = NULL;

  while (c->left > 0 && c->next_at <= now)
    {
      const char *envid = run->b->envids[run->issued % run->b->n];

      if (out == NULL)
        out = g_string_new (NULL);
      g_string_append_printf (out, "TRACK %s %s\r\n", envid, run->b->secret);
      g_array_append_val (c->sent_at, c->next_at);
      run->late = MAX (run->late, now - c->next_at);
      c->next_at += run->interval;
      c->left--;
      run->issued++;
      c->outstanding++;
    }
  if (out == NULL)
    return;
  if (c->state == C_IDLE)
    c->state = C_ANSWER_FIRST;
  write_all (c->fd, out->str, out->len);
  msgtrk_secure_wipe (out->str, out->len);
}

/* Open loop: run->total queries from run->n_clients connections, each client sending one
 * every run->interval µs (the clients' schedules staggered evenly) whatever is answered;
 * seconds from the first due time to the last answer. */
static double
run_track_open (Run *run)
{
  struct pollfd fds[BENCH_MAX_CLIENTS];
  gint64 start;

  clients_connect (run);
  start = g_get_monotonic_time () + 1000;
  for (guint i = 0; i < run->n_clients; i++)
    {
      run->clients[i].next_at = start + run->interval * i / run->n_clients;
      run->clients[i].left = run->total / run->n_clients
                             + (i < run->total % run->n_clients ? 1 : 0);
    }
  while (run->done < run->total)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 next = G_MAXINT64;
      struct timespec wait;
      int ready;

      for (guint i = 0; i < run->n_clients; i++)
        {
          client_send_due (run, &run->clients[i], now);
          if (run->clients[i].left > 0)
            next = MIN (next, run->clients[i].next_at);
        }
      if (next == G_MAXINT64)
        next = now + (gint64) BENCH_IO_TIMEOUT_MS * 1000;
      next = MAX (next - g_get_monotonic_time (), 0);
      wait.tv_sec = next / G_USEC_PER_SEC;
      wait.tv_nsec = (next % G_USEC_PER_SEC) * 1000;
      for (guint i = 0; i < run->n_clients; i++)
        fds[i] = (struct pollfd) { .fd = run->clients[i].fd, .events = POLLIN };
      ready = ppoll (fds, run->n_clients, &wait, NULL);
      if (ready == 0 && next >= (gint64) BENCH_IO_TIMEOUT_MS * 1000)
        die ("mtqpd stopped answering", NULL);
      for (guint i = 0; ready > 0 && i < run->n_clients; i++)
        if (fds[i].revents != 0)
          client_read (run, &run->clients[i]);
    }
  {
    double seconds = (g_get_monotonic_time () - start) / 1e6;

    clients_close (run);
    return seconds;
  }
}

static int
cmp_double (gconstpointer a,
            gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
track (Bench      *b,
       Result     *r,
       const char *dir,
       const char *state)
{
  g_autofree char *mdir = make_dir (dir, "mtqpd");
  g_autofree char *conf = g_build_filename (mdir, "mtqpd.conf", NULL);
  g_autofree char *text = NULL;
  GSubprocess *mtqpd;
  guint16 port = 0;

  /* MSGTRK_BENCH_MTQPD_LINES: more keys of [mtqpd] (e.g. "workers=16"), to compare. */
  text = g_strdup_printf ("[mtqpd]\nhostname=mtqpd.bench.example\nstate_dir=%s\n"
                          "listen=127.0.0.1:1\n%s\n%s\n%s",
                          state, geteuid () == 0 ? "user=nobody" : "",
                          g_getenv ("MSGTRK_BENCH_MTQPD_LINES") != NULL
                            ? g_getenv ("MSGTRK_BENCH_MTQPD_LINES") : "",
                          r->store_lines);
  write_file (conf, text, 0644);
  mtqpd = start_server (b->mtqpd_exe, mdir, conf, &port);
  for (guint k = 0; k < G_N_ELEMENTS (client_counts); k++)
    {
      g_autofree Run *run = g_new0 (Run, 1);

      run->b = b;
      run->port = port;
      run->n_clients = client_counts[k];
      run->depth = BENCH_DEPTH;
      run->total = BENCH_QUERIES;
      if (run->n_clients == BENCH_MAX_CLIENTS)
        {
          double m0 = cpu_ms (g_subprocess_get_identifier (mtqpd)), p0 = pg_cpu_ms ();
          double c0 = self_cpu_ms ();

          r->track[k] = run->total / run_track (run);
          r->cpu_mtqpd = (cpu_ms (g_subprocess_get_identifier (mtqpd)) - m0) * 1000 / run->total;
          r->cpu_pg = (pg_cpu_ms () - p0) * 1000 / run->total;
          r->cpu_client = (self_cpu_ms () - c0) * 1000 / run->total;
        }
      else
        r->track[k] = run->total / run_track (run);
    }
  {
    g_autofree Run *run = g_new0 (Run, 1);

    run->b = b;
    run->port = port;
    run->n_clients = BENCH_MAX_CLIENTS;
    run->depth = 1;
    run->total = BENCH_LATENCY_QUERIES;
    run->latencies = g_array_new (FALSE, FALSE, sizeof (double));
    {
      double m0 = cpu_ms (g_subprocess_get_identifier (mtqpd)), p0 = pg_cpu_ms ();
      double c0 = self_cpu_ms (), a0 = machine_cpu_ms ();

      run_track (run);
      r->lat_mtqpd = (cpu_ms (g_subprocess_get_identifier (mtqpd)) - m0) * 1000 / run->total;
      r->lat_pg = (pg_cpu_ms () - p0) * 1000 / run->total;
      r->lat_client = (self_cpu_ms () - c0) * 1000 / run->total;
      r->lat_machine = (machine_cpu_ms () - a0) * 1000 / run->total;
    }
    g_array_sort (run->latencies, cmp_double);
    r->p50_ms = g_array_index (run->latencies, double, run->latencies->len / 2);
    r->p99_ms = g_array_index (run->latencies, double, run->latencies->len * 99 / 100);
    g_array_unref (run->latencies);
  }
  {
    g_autofree Run *run = g_new0 (Run, 1);
    double seconds;

    run->b = b;
    run->port = port;
    run->n_clients = BENCH_MAX_CLIENTS;
    run->depth = 1;
    run->total = BENCH_OPEN_RATE * BENCH_OPEN_SECONDS;
    run->interval = (gint64) G_USEC_PER_SEC * BENCH_MAX_CLIENTS / BENCH_OPEN_RATE;
    run->latencies = g_array_new (FALSE, FALSE, sizeof (double));
    seconds = run_track_open (run);
    g_array_sort (run->latencies, cmp_double);
    r->open_rate = run->total / seconds;
    r->open_late_ms = run->late / 1000.0;
    r->open_p50_ms = g_array_index (run->latencies, double, run->latencies->len / 2);
    r->open_p99_ms = g_array_index (run->latencies, double, run->latencies->len * 99 / 100);
    r->open_max_ms = g_array_index (run->latencies, double, run->latencies->len - 1);
    g_array_unref (run->latencies);
  }
  r->mtqpd_mib = peak_rss_mib (mtqpd);
  stop_server (mtqpd);
  {
    /* mtqpd's count of coalesced lookups, logged at exit (PostgreSQL). */
    g_autofree char *log = g_build_filename (mdir, "log", NULL);
    g_autofree char *contents = NULL;
    const char *line;

    if (g_file_get_contents (log, &contents, NULL, NULL)
        && (line = strstr (contents, "TRACK lookups:")) != NULL)
      printf ("  mtqpd (%s): %.*s\n", r->name, (int) strcspn (line, "\n"), line);
  }
  g_object_unref (mtqpd);
}

/* PostgreSQL: bytes on disk per record (table, TOAST and indexes). */
static gint64
pg_record_bytes (const char *conninfo,
                 guint       n)
{
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  const char *psql = g_getenv ("MSGTRK_PSQL") ? g_getenv ("MSGTRK_PSQL")
                                               : "/usr/lib/postgresql/15/bin/psql";
  const char *argv[] = { psql, "-X", "-A", "-t", "-q", "-d", conninfo, "-c",
                         "VACUUM msgtrk_record", "-c",
                         "SELECT pg_total_relation_size('msgtrk_record')", NULL };

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                     NULL, NULL, &error) || out == NULL)
    return -1;
  return g_ascii_strtoll (out, NULL, 10) / n;
}

static void
run_backend (Bench  *b,
             Result *r)
{
  g_autofree char *dir = make_dir (b->tmp, r->name);
  g_autofree char *state = make_dir (dir, "state");
  GSubprocess *receiver;

  receiver = ingest (b, r, dir, state);
  ingest_direct (b, r, dir);
  r->receiver_mib = peak_rss_mib (receiver);
  if (g_getenv ("MSGTRK_BENCH_INGEST_ONLY") == NULL)
    track (b, r, dir, state);
  stop_server (receiver);
  g_object_unref (receiver);
  if (g_str_equal (r->name, "postgresql"))
    r->record_bytes = pg_record_bytes (g_getenv ("MSGTRK_TEST_PG_CONNINFO"), 2 * b->n);
  else
    {
      /* files: blocks used by the tracking directory (du -s -B1) per record */
      g_autofree char *tracking = g_build_filename (state, "tracking", NULL);
      g_autofree char *out = NULL;
      const char *du[] = { "du", "-s", "-B1", tracking, NULL };

      if (g_spawn_sync (NULL, (char **) du, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                        NULL, NULL, &out, NULL, NULL, NULL) && out != NULL)
        r->record_bytes = g_ascii_strtoll (out, NULL, 10) / (2 * b->n);
    }
}

static void
goal_line (const char *what,
           double      value,
           double      goal,
           double      old,
           gboolean    lower_is_better)
{
  double ratio = lower_is_better ? goal / value : value / goal;

  printf ("  %-40s %10.2f   goal %s %7.0f   ratio %.2f  %-6s  before %8.1f (x%.2f)\n", what,
          value, lower_is_better ? "<=" : ">=", goal, ratio, ratio >= 1.0 ? "MET" : "MISSED",
          old, value / old);
}

int
main (int    argc,
      char **argv)
{
  Bench b = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSecret) secret = NULL;
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (MsgtrkRecipientReport) rr = msgtrk_recipient_report_new ("user@example.net");
  guint64 n = BENCH_DEFAULT_RECORDS;
  const char *conninfo = g_getenv ("MSGTRK_TEST_PG_CONNINFO");
  Result results[2] = { { .name = "files", .store_lines = g_strdup ("") },
                        { .name = "postgresql" } };
  guint n_results = 1;
  double load[3] = { 0 };

  if (argc < 3 || argc > 4
      || (argc == 4 && !g_ascii_string_to_unsigned (argv[3], 10, 1, BENCH_MAX_RECORDS, &n, NULL)))
    {
      fprintf (stderr, "usage: bench-store MTQPD RECEIVER [N (1..%d)]\n", BENCH_MAX_RECORDS);
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  b.n = (guint) n;
  b.mtqpd_exe = argv[1];
  b.receiver_exe = argv[2];
  if (conninfo != NULL && *conninfo != '\0')
    {
      results[1].store_lines = g_strdup_printf ("\n[store]\nbackend=postgresql\nconninfo=%s\n",
                                                conninfo);
      n_results = 2;
    }
  b.tmp = g_dir_make_tmp ("msgtrk-bench-store-XXXXXX", &error);
  if (b.tmp == NULL)
    die ("cannot make a temporary directory", error);
  g_chmod (b.tmp, 0755);
  to_nobody (b.tmp);
  secret = msgtrk_secret_generate (&error);
  if (secret == NULL)
    die ("cannot make a secret", error);
  b.secret = msgtrk_secret_to_base64 (secret);
  b.auth = msgtrk_secret_compute_authenticator (secret);
  b.envids = g_new0 (char *, b.n + 1);
  for (guint i = 0; i < b.n; i++)
    b.envids[i] = g_strdup_printf ("mtrk.bench%07u@bench.example", i);
  /* A typical record: one recipient handed on (the fields the relay pushes). */
  msgtrk_report_set_envid (report, "mtrk.bench0000000@bench.example");
  msgtrk_report_set_reporting_mta (report, "relay1.bench.example");
  msgtrk_recipient_report_set_action (rr, MSGTRK_ACTION_TRANSFERRED);
  if (!msgtrk_recipient_report_set_status (rr, "2.0.0", NULL, &error))
    die ("status", error);
  msgtrk_recipient_report_set_remote_mta (rr, "mx.example.net");
  msgtrk_report_add_recipient (report, rr);
  b.fields = msgtrk_report_to_fields (report);

  for (guint i = 0; i < n_results; i++)
    run_backend (&b, &results[i]);
  if (getloadavg (load, 3) < 0)
    load[0] = load[1] = load[2] = -1;

  printf ("bench-store: %u records per backend; load average after the run %.2f %.2f %.2f "
          "(%ld CPUs online)\n", b.n, load[0], load[1], load[2], sysconf (_SC_NPROCESSORS_ONLN));
  printf ("  %-44s", "");
  for (guint i = 0; i < n_results; i++)
    printf (" %12s", results[i].name);
  printf ("\n");
#define ROW(label, fmt, field)                                                  \
  do                                                                             \
    {                                                                            \
      printf ("  %-44s", label);                                                 \
      for (guint i = 0; i < n_results; i++)                                      \
        printf (" " fmt, results[i].field);                                      \
      printf ("\n");                                                             \
    }                                                                            \
  while (0)
  ROW ("ingest, records/s (push -> receiver -> store)", "%12.0f", ingest);
  ROW ("  of which node spooling alone, records/s", "%12.0f", spooled);
  ROW ("  CPU ms per 1000 records: receiver", "%12.1f", cpu_in_receiver);
  ROW ("    PostgreSQL (postmaster and backends)", "%12.1f", cpu_in_pg);
  ROW ("    the node (spool, sender; the bench process)", "%12.1f", cpu_in_node);
  ROW ("ingest, receiver + store alone, records/s", "%12.0f", direct);
  ROW ("TRACK/s, 1 client (32 pipelined)", "%12.0f", track[0]);
  ROW ("TRACK/s, 10 clients (32 pipelined each)", "%12.0f", track[1]);
  ROW ("TRACK/s, 100 clients (32 pipelined each)", "%12.0f", track[2]);
  ROW ("TRACK latency p50, ms (100 clients, 1 each)", "%12.2f", p50_ms);
  ROW ("TRACK latency p99, ms (100 clients, 1 each)", "%12.2f", p99_ms);
  ROW ("  CPU ms per 1000 TRACK there: mtqpd", "%12.1f", lat_mtqpd);
  ROW ("    PostgreSQL", "%12.1f", lat_pg);
  ROW ("    the bench's clients", "%12.1f", lat_client);
  ROW ("    whole machine (all processes)", "%12.1f", lat_machine);
  ROW ("open loop, 100 clients offering " G_STRINGIFY (BENCH_OPEN_RATE) " TRACK/s:", "%12s", name);
  ROW ("  answered, TRACK/s", "%12.0f", open_rate);
  ROW ("  latency from the due time p50, ms", "%12.2f", open_p50_ms);
  ROW ("  latency from the due time p99, ms", "%12.2f", open_p99_ms);
  ROW ("  latency from the due time max, ms", "%12.2f", open_max_ms);
  ROW ("  the clients' worst lateness in sending, ms", "%12.2f", open_late_ms);
  ROW ("CPU ms per 1000 TRACK (100 clients): mtqpd", "%12.1f", cpu_mtqpd);
  ROW ("  PostgreSQL (postmaster and backends)", "%12.1f", cpu_pg);
  ROW ("  the bench's clients", "%12.1f", cpu_client);
  ROW ("receiver peak RSS, MiB", "%12.1f", receiver_mib);
  ROW ("mtqpd peak RSS, MiB", "%12.1f", mtqpd_mib);
  ROW ("bytes on disk per record", "%12" G_GINT64_FORMAT, record_bytes);
#undef ROW
  {
    Result *g = &results[n_results - 1];
    double best_track = MAX (g->track[0], MAX (g->track[1], g->track[2]));

    printf ("Goals (issue 12), %s backend:\n", g->name);
    goal_line ("ingest, records/s (node spool included)", g->ingest, BENCH_GOAL_INGEST,
               BENCH_OLD_INGEST, FALSE);
    goal_line ("ingest, receiver + store alone", g->direct, BENCH_GOAL_INGEST,
               BENCH_OLD_DIRECT, FALSE);
    goal_line ("TRACK/s (best of 1/10/100 clients)", best_track, BENCH_GOAL_TRACK,
               BENCH_OLD_TRACK, FALSE);
    goal_line ("TRACK/s at 100 clients", g->track[2], BENCH_GOAL_TRACK, BENCH_OLD_TRACK_100,
               FALSE);
    goal_line ("p99 TRACK latency at 100 clients, ms", g->p99_ms, BENCH_GOAL_P99_MS,
               BENCH_OLD_P99_MS, TRUE);
    goal_line ("p99, 100 clients at 20,000/s offered, ms", g->open_p99_ms, BENCH_GOAL_P99_MS,
               BENCH_OLD_P99_MS, TRUE);
    if (n_results == 1)
      printf ("  (no PostgreSQL: run through tests/pg/run-with-pg.py for both backends)\n");
  }

  remove_tree (b.tmp);
  g_free (b.tmp);
  g_strfreev (b.envids);
  msgtrk_secure_free_string (b.secret);
  g_free (b.auth);
  g_free (b.fields);
  for (guint i = 0; i < 2; i++)
    g_free (results[i].store_lines);
  return 0;
}
