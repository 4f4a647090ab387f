/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-follower.c: msgtrk-postfix-follower, Postfix's mail log into tracking records
 * (docs/postfix-follower.md, msgtrk-postfix-follower(8), msgtrk-postfix-follower.conf(5)).
 *
 * Runs on the servers' skeleton without a listener (server-main.h: options, bounded
 * configuration, privilege drop, signals). Every poll_interval milliseconds:
 *   1. postfix-tail reads the new lines of the log (rotation, truncation);
 *   2. postfix-log parses each; DELIVERY and EXPIRED lines join the held queue (in log
 *      order), and so do the lines that bind a front's pending registration to a queue id
 *      (smtpd's "client=..., orig_queue_id=<the front's ident>", cleanup's "message-id=" of
 *      a pending Message-ID), smtpd's "client=" lines (and pickup's "uid=N from=<>"
 *      lines: CLIENT without ident) of a queue id that has a
 *      registration (a new message under it: one bound from another transaction is
 *      set aside, postfix_registration_make_current), and every cleanup "message-id="
 *      line (a message's header, the first line of one without a client line: a
 *      registration of an earlier message is set aside, postfix_registration_start);
 *      see on_line; UNKNOWN lines are counted, the first one logged;
 *   3. the held queue is walked in order (a pass): a line whose queue id is registered
 *      (postfix-register.h) is applied (postfix-track.h) to the pass's batch, each ENVID's
 *      record loaded once and changed in memory, and each changed record is stored once at
 *      the end of the pass (earlier past POSTFIX_TRACK_BATCH_MAX_RECORDS records or
 *      POSTFIX_TRACK_BATCH_MAX_OCTETS); a line whose queue id is still
 *      unregistered after registration_wait seconds is dropped (not a tracked message);
 *      others wait (the front registers a queue id just after Postfix's 250, which may be
 *      after Postfix logged its first delivery);
 *   4. once the pass's records are stored, the position (inode, offset) of the first line
 *      not yet settled is saved durably (a crash before replays the pass's lines);
 *   5. at a poll that read the log to its end, orphaned pending registrations (a dead
 *      front's, by Message-ID: postfix-register.h) are settled from the held lines
 *      (settle_orphans), when a replay marked some (POSTFIX_REGISTRATION_ORPHANS_MARK)
 *      and once after the start. The journals of dead fronts are replayed at the start
 *      and every FOLLOWER_EXPIRE_INTERVAL (a front not started again).
 * A restart reads again from the saved position; applying a line twice changes nothing
 * (each recipient has one entry, replaced), so nothing is lost and nothing duplicated.
 * The queue lifetime (Will-Retry-Until) comes from queue_lifetime or from Postfix's
 * maximal_queue_lifetime. Postfix must log addresses in external form (Postfix's
 * info_log_address_format, or this follower's own info_log_address_format when postconf
 * cannot say: anything else is refused, see check_address_format). Both are asked in one
 * `postconf NAME...` call at start (postconf_get).
 *
 * Limits: max_held_lines (FOLLOWER_DEFAULT_MAX_HELD, at most FOLLOWER_MAX_MAX_HELD) and
 * max_held_bytes (FOLLOWER_*_MAX_HELD_BYTES, the held lines' octets): past either the
 * oldest unregistered line is dropped early (logged); registration_wait
 * (FOLLOWER_*_REGISTRATION_WAIT); poll_interval (FOLLOWER_*_POLL_INTERVAL).
 * Never: read a queue file or a message; write a record for an unregistered queue id; stop
 * on a line it does not understand.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "msgtrk-private.h"
#include "postfix-log.h"
#include "postfix-register.h"
#include "postfix-tail.h"
#include "postfix-track.h"
#include "server-config.h"
#include "server-main.h"
#include "track-store.h"

#define FOLLOWER_GROUP "follower"
#define FOLLOWER_DEFAULT_CONFIG SYSCONFDIR "/msgtrk/msgtrk-postfix-follower.conf"
#define FOLLOWER_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/msgtrk"
#define FOLLOWER_DEFAULT_MAILLOG "/var/log/postfix.log"
#define FOLLOWER_DEFAULT_POSTCONF "/usr/sbin/postconf"
/** FOLLOWER_*_POLL_INTERVAL: milliseconds between reads of the log. */
#define FOLLOWER_DEFAULT_POLL_INTERVAL 200
#define FOLLOWER_MIN_POLL_INTERVAL 10
#define FOLLOWER_MAX_POLL_INTERVAL 10000
/** FOLLOWER_*_REGISTRATION_WAIT: seconds a line of an unregistered queue id is held. */
#define FOLLOWER_DEFAULT_REGISTRATION_WAIT 30
#define FOLLOWER_MAX_REGISTRATION_WAIT 3600
/** FOLLOWER_*_MAX_HELD: lines held for a registration at most. */
#define FOLLOWER_DEFAULT_MAX_HELD 100000
#define FOLLOWER_MAX_MAX_HELD 10000000
/** FOLLOWER_*_MAX_HELD_BYTES: octets of held lines (their length as read) at most: lines
 * may be up to POSTFIX_LOG_MAX_LINE long (Postfix's replies: 2 KB), so max_held_lines alone
 * would let 100,000 of them take hundreds of MB. Memory is about twice this (each line is
 * kept parsed) and a fixed cost per line. */
#define FOLLOWER_DEFAULT_MAX_HELD_BYTES (64 * 1024 * 1024)
#define FOLLOWER_MIN_MAX_HELD_BYTES 1024
#define FOLLOWER_MAX_MAX_HELD_BYTES (1024 * 1024 * 1024)
/** FOLLOWER_DEFAULT_QUEUE_LIFETIME: Postfix's own default, 5d, if postconf cannot say. */
#define FOLLOWER_DEFAULT_QUEUE_LIFETIME (5 * 86400)
#define FOLLOWER_MAX_QUEUE_LIFETIME (100 * 86400)
/** FOLLOWER_EXPIRE_INTERVAL: seconds between sweeps of expired registrations. */
#define FOLLOWER_EXPIRE_INTERVAL 600
/** FOLLOWER_MAX_STAMP_SKEW: seconds the log's time stamps may be off this clock (the
 * newest line against its file's modification time at the start, a header line ahead
 * of the clock) and still be compared with registrations' arrival times (header_start). */
#define FOLLOWER_MAX_STAMP_SKEW 300
/** FOLLOWER_UNKNOWN_LOG_MAX: octets of the first unknown line that are logged. */
#define FOLLOWER_UNKNOWN_LOG_MAX 200

typedef struct
{
  PostfixLogEntry entry;
  guint64 ino;
  guint64 start;
  gint64 seen;          /* monotonic microseconds (seconds would cut the wait short) */
  gsize octets;         /* the line's length as read (max_held_bytes) */
  guint64 seq;          /* the line's number among those read (header fences) */
  gboolean unreadable;  /* held because its record could not be read */
  gboolean pending_seen; /* a cleanup line: its Message-ID's pending file existed when read */
  gboolean for_pending;  /* a cleanup line held for a pending registration by Message-ID
                          * (pending_seen, or read in the first registration_wait seconds) */
  gboolean new_message;  /* a client or cleanup line: its queue id's stale registration
                          * looked for */
} HeldLine;

/* The new messages' lines under a queue id (fence_earlier): the lines of that queue id
 * held before @seq are an earlier message's; those held for an unreadable record, before
 * @all_seq (0: none), the line that set their registration aside. A later fence never
 * narrows an earlier one. */
typedef struct
{
  guint64 seq;
  guint64 all_seq;
} Fence;

typedef struct
{
  /* configuration */
  char *maillog;
  char *state_dir;
  char *registration_dir;
  char *hostname;
  char *user;
  char *postconf;
  char *postfix_config_dir;
  char **mtrk_next_hops;
  gint64 queue_lifetime;
  guint poll_interval;
  guint registration_wait;
  guint max_held;
  guint max_held_bytes;
  gboolean follow_loopback;

  /* state */
  TrackStore *store;
  PostfixTail *tail;
  PostfixTrack track;
  PostfixTrackBatch *batch; /* the records of the lines of this pass, stored at its end */
  GQueue held;          /* of HeldLine, in log order */
  guint64 held_octets;  /* the sum of their octets */
  char *pos_path;
  guint64 saved_ino;
  guint64 saved_offset;
  gboolean saved_once;
  guint64 unknown_lines;
  guint64 applied_lines;
  gint64 last_expire;
  gint64 started;       /* monotonic microseconds */
  gboolean orphans_due; /* orphaned pending registrations may be waiting (settle_orphans) */
  gboolean settle_failed; /* the last settle_held failed: retried before the log is read on */
  guint64 lines_read;   /* numbers the held lines (HeldLine.seq) */
  GHashTable *fences;   /* queue id → Fence: a later message's line under it */
  gboolean stamps_ahead; /* warned: the log's time stamps are ahead of this clock */
  gboolean stamps_skewed; /* the log's newest line at the start was stamped ahead of its
                           * file's time: no stamp compared (check_stamp_skew) */
  gboolean stamps_undecided; /* nothing to check at the start: stamps compared only once
                              * the log was read to its end (caught_up) */
  gboolean caught_up;   /* a poll read the log to its end */
  guint timer;
} Follower;

static void
held_line_free (HeldLine *h)
{
  postfix_log_entry_clear (&h->entry);
  g_free (h);
}

static void
follower_clear (Follower *f)
{
  g_free (f->maillog);
  g_free (f->state_dir);
  g_free (f->registration_dir);
  g_free (f->hostname);
  g_free (f->user);
  g_free (f->postconf);
  g_free (f->postfix_config_dir);
  g_strfreev (f->mtrk_next_hops);
  g_clear_pointer (&f->batch, postfix_track_batch_free);
  g_clear_object (&f->store);
  g_clear_pointer (&f->tail, postfix_tail_free);
  g_queue_clear_full (&f->held, (GDestroyNotify) held_line_free);
  g_clear_pointer (&f->fences, g_hash_table_unref);
  g_free (f->pos_path);
}

/* Postfix's time syntax: digits and an optional unit s m h d w (default d). */
static gboolean
parse_postfix_time (const char *text,
                    gint64     *seconds)
{
  g_autofree char *s = g_strstrip (g_strdup (text));
  gsize n = strspn (s, "0123456789");
  g_autofree char *digits = g_strndup (s, n);
  guint64 v;
  gint64 unit = 86400;

  if (n == 0 || n > 9 || !g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT32, &v, NULL))
    return FALSE;
  switch (s[n])
    {
    case '\0':
    case 'd':
      unit = 86400;
      break;
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return FALSE;
    }
  if (s[n] != '\0' && s[n + 1] != '\0')
    return FALSE;
  *seconds = (gint64) v * unit;
  return TRUE;
}

/* Postfix's parameters @names (NULL-terminated) with one `postconf NAME...` call: a table
 * of name → value (stripped) of those postconf printed as "name = value". A parameter it
 * does not know (info_log_address_format before Postfix 3.5) it leaves out, with a warning
 * on its stderr and exit status 0: absent from the table. NULL with @error when postconf
 * cannot be run or fails. */
static GHashTable *
postconf_get (Follower          *f,
              const char *const *names,
              GError           **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GHashTable) values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                         g_free);
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;
  int status = 0;

  g_ptr_array_add (argv, f->postconf);
  if (f->postfix_config_dir != NULL)
    {
      g_ptr_array_add (argv, (char *) "-c");
      g_ptr_array_add (argv, f->postfix_config_dir);
    }
  for (guint i = 0; names[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) names[i]);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     &out, NULL, &status, error)
      || !g_spawn_check_wait_status (status, error))
    return NULL;
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *eq = strstr (lines[i], " = ");
      g_autofree char *name = NULL;

      if (eq == NULL)
        continue;
      name = g_strndup (lines[i], eq - lines[i]);
      if (g_strv_contains (names, name))
        g_hash_table_replace (values, g_steal_pointer (&name), g_strstrip (g_strdup (eq + 3)));
    }
  return g_steal_pointer (&values);
}

/* maximal_queue_lifetime from postconf's answer (@values, NULL: postconf failed with
 * @failed); Postfix's default when it cannot be asked. */
static gint64
queue_lifetime_from_postconf (Follower     *f,
                              GHashTable   *values,
                              const GError *failed)
{
  const char *out = values != NULL ? g_hash_table_lookup (values, "maximal_queue_lifetime")
                                   : NULL;
  gint64 seconds;

  if (out != NULL && parse_postfix_time (out, &seconds))
    return seconds;
  g_warning ("Cannot read maximal_queue_lifetime with %s (%s); assuming 5d", f->postconf,
             failed != NULL ? failed->message : "unexpected output");
  return FOLLOWER_DEFAULT_QUEUE_LIFETIME;
}

/* The grammar (postfix-log.c) reads an address up to the ">" that ends it, quoted local
 * parts as quoted strings: Postfix's external form (info_log_address_format = external,
 * the default of Postfix >= 3.5). In the internal form (Postfix < 3.5, or that setting)
 * quoted local parts are logged unquoted, so a recipient address such as
 * "v@example.org>, relay=local, dsn=2.0.0, status=sent (x"@attacker.example gives a line
 * that reads as another recipient's (v@example.org) delivery (and one long enough for
 * Postfix to cut the line before its real attributes leaves nothing else to read): refused.
 * When postconf cannot say (no postconf here, or it failed: @local; Postfix < 3.5 does not
 * know the parameter: absent from @values) the follower starts only when its own
 * info_log_address_format (@configured, already refused by follower_configure when it says
 * anything else) says "external": the admin's word that Postfix logs that form. */
static gboolean
check_address_format (Follower     *f,
                      const char   *configured,
                      GHashTable   *values,
                      const GError *local,
                      GError      **error)
{
  const char *format = values != NULL ? g_hash_table_lookup (values, "info_log_address_format")
                                      : NULL;

  if (g_strcmp0 (format, "external") == 0)
    return TRUE;
  if (format != NULL && *format != '\0')
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Postfix logs addresses in the form info_log_address_format = %s: quoted "
                   "local parts unquoted, so that one recipient's address can read as another "
                   "recipient's delivery; set info_log_address_format = external (Postfix's "
                   "default) in main.cf",
                   format);
      return FALSE;
    }
  if (configured != NULL)
    {
      g_message ("Cannot read info_log_address_format with %s (%s); external, as configured",
                 f->postconf, local != NULL ? local->message : "unknown parameter");
      return TRUE;
    }
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
               "Cannot read info_log_address_format with %s (%s): the follower needs Postfix "
               ">= 3.5 logging addresses in external form (info_log_address_format = "
               "external, its default; in the internal form of older versions one "
               "recipient's address can read as another recipient's delivery). If Postfix "
               "does, say so with info_log_address_format = external in [" FOLLOWER_GROUP "]",
               f->postconf, local != NULL ? local->message : "unknown parameter");
  return FALSE;
}

static gboolean
follower_configure (gpointer        data,
                    GKeyFile       *kf,
                    const char     *path,
                    ServerSettings *settings,
                    GError        **error)
{
  static const char *const known[] = {
    "maillog", "state_dir", "registration_dir", "hostname", "user", "postconf",
    "postfix_config_directory", "mtrk_next_hops", "queue_lifetime", "poll_interval",
    "registration_wait", "max_held_lines", "max_held_bytes", "follow_loopback_requeue",
    "info_log_address_format", NULL,
  };
  Follower *f = data;
  g_autofree char *lifetime = NULL;
  g_autofree char *hops = NULL;
  g_autofree char *address_format = NULL;
  const ServerConfigGroup groups[] = { { FOLLOWER_GROUP, known }, { NULL, NULL } };
  const ServerConfigString strings[] = {
    { "maillog", FOLLOWER_DEFAULT_MAILLOG, &f->maillog },
    { "state_dir", FOLLOWER_DEFAULT_STATE_DIR, &f->state_dir },
    { "registration_dir", NULL, &f->registration_dir },
    { "hostname", g_get_host_name (), &f->hostname },
    { "user", NULL, &f->user },
    { "postconf", FOLLOWER_DEFAULT_POSTCONF, &f->postconf },
    { "postfix_config_directory", NULL, &f->postfix_config_dir },
    { "queue_lifetime", NULL, &lifetime },
    { "mtrk_next_hops", "", &hops },
    { "info_log_address_format", NULL, &address_format },
    { NULL, NULL, NULL },
  };
  const ServerConfigUint uints[] = {
    { "poll_interval", FOLLOWER_DEFAULT_POLL_INTERVAL, FOLLOWER_MIN_POLL_INTERVAL,
      FOLLOWER_MAX_POLL_INTERVAL, &f->poll_interval },
    { "registration_wait", FOLLOWER_DEFAULT_REGISTRATION_WAIT, 0,
      FOLLOWER_MAX_REGISTRATION_WAIT, &f->registration_wait },
    { "max_held_lines", FOLLOWER_DEFAULT_MAX_HELD, 1, FOLLOWER_MAX_MAX_HELD, &f->max_held },
    { "max_held_bytes", FOLLOWER_DEFAULT_MAX_HELD_BYTES, FOLLOWER_MIN_MAX_HELD_BYTES,
      FOLLOWER_MAX_MAX_HELD_BYTES, &f->max_held_bytes },
    { NULL, 0, 0, 0, NULL },
  };

  if (!server_config_check_keys (kf, path, groups, error)
      || !server_config_read_strings (kf, FOLLOWER_GROUP, strings, error))
    return FALSE;
  if (f->registration_dir == NULL)
    f->registration_dir = g_build_filename (f->state_dir, "postfix-registrations", NULL);
  f->mtrk_next_hops = g_strsplit_set (hops, ",; ", -1);
  if (lifetime != NULL)
    {
      if (!parse_postfix_time (lifetime, &f->queue_lifetime)
          || f->queue_lifetime > FOLLOWER_MAX_QUEUE_LIFETIME)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "%s [" FOLLOWER_GROUP "] queue_lifetime: \"%s\" is not a Postfix time "
                       "(such as 5d) of at most 100d",
                       path, lifetime);
          return FALSE;
        }
    }
  /* The follower's own info_log_address_format: anything but "external" is refused
   * before Postfix is asked (check_address_format). */
  if (address_format != NULL && strcmp (address_format, "external") != 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "[" FOLLOWER_GROUP "] info_log_address_format: only \"external\" can be "
                   "read safely, not \"%s\"",
                   address_format);
      return FALSE;
    }
  /* One postconf call for what Postfix must say. */
  {
    const char *names[] = { "info_log_address_format", NULL, NULL };
    g_autoptr (GError) local = NULL;
    g_autoptr (GHashTable) values = NULL;

    if (lifetime == NULL)
      names[1] = "maximal_queue_lifetime";
    values = postconf_get (f, names, &local);
    if (lifetime == NULL)
      f->queue_lifetime = queue_lifetime_from_postconf (f, values, local);
    if (!check_address_format (f, address_format, values, local, error))
      return FALSE;
  }

  if (!server_config_read_uints (kf, FOLLOWER_GROUP, uints, error))
    return FALSE;
  if (!server_config_get_boolean (kf, FOLLOWER_GROUP, "follow_loopback_requeue", TRUE,
                                  &f->follow_loopback, error))
    return FALSE;

  settings->user = g_strdup (f->user);
  g_message ("Following %s; queue lifetime %" G_GINT64_FORMAT " s", f->maillog,
             f->queue_lifetime);
  return TRUE;
}

/* Restore the journaled registrations of fronts that died (postfix_registration_recover);
 * what cannot be restored is a warning, never fatal. */
static void
recover_journals (Follower *f)
{
  g_autoptr (GError) local = NULL;

  postfix_registration_recover (f->registration_dir, &local);
  if (local != NULL)
    g_warning ("Some journaled registrations could not be restored: %s", local->message);
}

/* The log's time stamps are read in this process's time zone (postfix-log.c): when
 * Postfix writes them in one ahead of it (a container's TZ), a header line compared with
 * a registration's arrival (header_start) could set aside a live message's registration.
 * At the start, the newest complete line of the log is compared with the file's
 * modification time (written together): ahead of it by more than FOLLOWER_MAX_STAMP_SKEW,
 * no stamp is compared in this run, warned (behind it, stamps only look older: a reused
 * queue id is told less often, never a live registration set aside). A file that says
 * nothing (none, empty, a last line without a stamp or too long) leaves it undecided:
 * stamps are compared only once the log was read to its end (a backlog, perhaps in a
 * rotated file, is not); after that, line by line, a stamp ahead of the clock is not. */
static void
check_stamp_skew (Follower *f)
{
  char buf[POSTFIX_LOG_MAX_LINE + 2];
  g_auto (PostfixLogEntry) e = { 0 };
  struct stat st;
  gsize want;
  ssize_t got;
  char *end;
  char *start;
  gint64 skew;
  int fd = g_open (f->maillog, O_RDONLY | O_CLOEXEC, 0);

  f->stamps_undecided = TRUE;
  if (fd < 0)
    return;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size == 0)
    {
      close (fd);
      return;
    }
  want = MIN ((guint64) st.st_size, sizeof buf);
  got = pread (fd, buf, want, st.st_size - (off_t) want);
  close (fd);
  if (got <= 0)
    return;
  /* The last complete line: up to the last LF, from the one before it. */
  end = buf + got;
  while (end > buf && end[-1] != '\n')
    end--;
  if (end == buf)
    return;
  end--;
  start = end;
  while (start > buf && start[-1] != '\n')
    start--;
  if (start == buf && want < (gsize) st.st_size)
    return; /* the line may begin before what was read */
  postfix_log_parse (start, (gsize) (end - start), g_get_real_time () / G_USEC_PER_SEC, &e);
  if (e.time <= 0)
    return;
  skew = e.time - (gint64) st.st_mtime;
  f->stamps_undecided = FALSE;
  if (skew <= FOLLOWER_MAX_STAMP_SKEW)
    return;
  f->stamps_skewed = TRUE;
  g_warning ("The newest line of %s is stamped %+" G_GINT64_FORMAT " s off the file's "
             "modification time: this follower does not read the log's time stamps in the "
             "time zone Postfix writes them in (give both the same one; or it started in the "
             "hour a daylight-saving change repeats). Until it is started again with that "
             "mended, a short queue id another message reuses without a client line is not "
             "told",
             f->maillog, skew);
}

static gboolean
follower_post_drop (gpointer data,
                    GError **error)
{
  Follower *f = data;
  guint64 ino = 0;
  guint64 offset = 0;

  f->store = track_store_new (f->state_dir, error);
  if (f->store == NULL)
    return FALSE;
  if (g_mkdir_with_parents (f->registration_dir, 0750) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot create %s: %s",
                   f->registration_dir, g_strerror (errno));
      return FALSE;
    }
  /* Registrations of front processes that crashed, before any lookup. */
  recover_journals (f);
  f->pos_path = g_build_filename (f->state_dir, "postfix-follower.pos", NULL);
  f->tail = postfix_tail_new (f->maillog);
  if (!postfix_tail_resume_from_file (f->tail, f->pos_path, &ino, &offset, error))
    return FALSE;
  f->saved_ino = ino;
  f->saved_offset = offset;
  check_stamp_skew (f);
  f->track.store = f->store;
  f->track.reg_dir = f->registration_dir;
  f->track.hostname = f->hostname;
  f->track.queue_lifetime = f->queue_lifetime;
  f->track.mtrk_next_hops = f->mtrk_next_hops;
  f->track.follow_loopback = f->follow_loopback;
  f->batch = postfix_track_batch_new (&f->track);
  f->fences = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  f->started = g_get_monotonic_time ();
  f->orphans_due = TRUE; /* left while it was stopped: looked for once */
  return TRUE;
}

/* One line from the tail: parse, count, hold what may concern a registered queue id. */
static void
on_line (const char *line,
         gsize       len,
         guint64     ino,
         guint64     start,
         gpointer    data)
{
  Follower *f = data;
  HeldLine *h = g_new0 (HeldLine, 1);
  PostfixLogKind kind = postfix_log_parse (line, len, g_get_real_time () / G_USEC_PER_SEC,
                                           &h->entry);

  if (kind == POSTFIX_LOG_UNKNOWN)
    {
      if (f->unknown_lines++ == 0)
        {
          g_autofree char *cut = g_strndup (line, MIN (len, FOLLOWER_UNKNOWN_LOG_MAX));
          g_autofree char *shown = msgtrk_str_escape_for_error (cut, FOLLOWER_UNKNOWN_LOG_MAX);

          g_warning ("A log line this follower does not understand (logged once, then "
                     "counted): %s",
                     shown);
        }
    }
  /* A cleanup line starts a message (its header; every message has one, the first line
   * of one without a client line): held, for settle_walk to check its queue id's
   * registration against it (postfix_registration_start). It is held longer when a
   * pending registration has its Message-ID (the front wrote it before the message's
   * data went to Postfix), or, during the first registration_wait seconds, for a front
   * that restores pending registrations after a crash: settle_held waits for the front to
   * name the queue id, or binds it. An smtpd
   * client line starts a new message under its queue id: held when it has the front's
   * ident (orig_queue_id=, XFORWARD IDENT; Postfix logs it at the first accepted RCPT,
   * before the front writes the pending registration at DATA), or when that queue id has
   * a registration (one lstat), which settle_held sets aside if an earlier message with the
   * same queue id left it (postfix_registration_make_current). */
  if (kind == POSTFIX_LOG_MESSAGE_ID && h->entry.message_id != NULL)
    {
      h->pending_seen = postfix_registration_pending_exists (f->registration_dir,
                                                             POSTFIX_PENDING_BY_MESSAGE_ID,
                                                             h->entry.message_id);
      h->for_pending = h->pending_seen
                       || g_get_monotonic_time () - f->started
                            < (gint64) f->registration_wait * G_USEC_PER_SEC;
    }
  if (kind == POSTFIX_LOG_MESSAGE_ID && h->entry.message_id == NULL)
    kind = POSTFIX_LOG_UNKNOWN;
  if (kind == POSTFIX_LOG_CLIENT
      && !postfix_registration_ident_is_valid (h->entry.orig_queue_id)
      && !postfix_registration_exists (f->registration_dir, h->entry.queue_id))
    kind = POSTFIX_LOG_OTHER;
  if (kind != POSTFIX_LOG_DELIVERY && kind != POSTFIX_LOG_EXPIRED
      && kind != POSTFIX_LOG_MESSAGE_ID && kind != POSTFIX_LOG_CLIENT)
    {
      held_line_free (h);
      return;
    }
  h->ino = ino;
  h->start = start;
  h->octets = len;
  h->seq = ++f->lines_read;
  f->held_octets += len;
  h->seen = g_get_monotonic_time ();
  g_queue_push_tail (&f->held, h);
}

/* Too much held: more than max_held_lines lines or max_held_bytes octets. */
static gboolean
held_over (const Follower *f)
{
  return g_queue_get_length ((GQueue *) &f->held) > f->max_held
         || f->held_octets > f->max_held_bytes;
}

/* Forget the held line at @l. */
static void
held_remove (Follower *f,
             GList    *l)
{
  HeldLine *h = l->data;

  f->held_octets -= h->octets;
  held_line_free (h);
  g_queue_delete_link (&f->held, l);
}

typedef enum
{
  SETTLE_HOLD,  /* still held */
  SETTLE_DONE,  /* settled, nothing bound */
  SETTLE_BOUND, /* settled, the pending registration bound to the line's queue id */
  SETTLE_RETRY, /* the binding failed (@error): retried at the next poll */
} SettleResult;

/* A cleanup line "QID: message-id=<M>" held (on_line). The fallback without XFORWARD
 * IDENT: the front's pending registration of a tracked message is named by its
 * Message-ID M, which Postfix does not make unique, so the first cleanup line with M
 * need not be that message's (an untracked one with M passed just before, another front
 * or port 25). After Postfix's 250 the front names the queue id itself (QID.reg through
 * its journal, durable) and then removes the pending file. So the line is held while the
 * pending file of M exists: once it is gone the front has registered its message (this
 * QID or another; either way nothing is bound here). Only when it is still there
 * registration_wait seconds after the line was read (the front killed between the "."
 * and its registration, or the reply to the "." lost: nobody else will name the queue
 * id; also the bound the follower already gives the front to register a queue id after
 * Postfix logged it) is it bound to this line's queue id, the first one read, as the
 * only guess left (never to one of its Skip-Queue-Id, nor to a queue id registered
 * already). Lines read during the first registration_wait seconds without a pending file
 * (on_line: a restarted front may restore one) wait for it as long. Past max_held
 * (@over) a line is let go unbound. */
static SettleResult
settle_message_id (Follower *f,
                   HeldLine *h,
                   gint64    now,
                   gboolean  over,
                   GError  **error)
{
  gboolean waited = now - h->seen >= (gint64) f->registration_wait * G_USEC_PER_SEC;

  /* Read in the first registration_wait seconds without a pending file: waits for one
   * only while nothing registered its queue id (else nothing would be bound to it). */
  if (!postfix_registration_pending_exists (f->registration_dir, POSTFIX_PENDING_BY_MESSAGE_ID,
                                            h->entry.message_id))
    return !h->pending_seen && !waited && !over
               && !postfix_registration_exists (f->registration_dir, h->entry.queue_id)
             ? SETTLE_HOLD
             : SETTLE_DONE;
  if (!waited && !over)
    return SETTLE_HOLD;
  if (over)
    return SETTLE_DONE;
  {
    g_autoptr (PostfixRegistration) named = postfix_registration_read (f->registration_dir,
                                                                       h->entry.queue_id, NULL);

    /* The front named this queue id and died before removing the pending file: that
     * file is this registration's, not one to bind to a later line with M. */
    if (named != NULL
        && postfix_registration_drop_pending_of (f->registration_dir,
                                                 POSTFIX_PENDING_BY_MESSAGE_ID,
                                                 h->entry.message_id, named))
      g_message ("%s: the pending registration of message-id %s, left beside it by its "
                 "front, removed",
                 h->entry.queue_id, h->entry.message_id);
    if (named != NULL || postfix_registration_exists (f->registration_dir, h->entry.queue_id))
      return SETTLE_DONE;
  }
  if (postfix_registration_claim_pending (f->registration_dir, POSTFIX_PENDING_BY_MESSAGE_ID,
                                          h->entry.message_id, h->entry.queue_id, error))
    {
      g_message ("%s: the pending registration of message-id %s bound to it (its front did "
                 "not name a queue id within %u s: the first cleanup line with that "
                 "Message-ID)",
                 h->entry.queue_id, h->entry.message_id, f->registration_wait);
      return SETTLE_BOUND;
    }
  if (*error != NULL && !g_error_matches (*error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE))
    return SETTLE_RETRY;
  return SETTLE_DONE;
}

/* Store the records of the lines applied so far (postfix_track_batch_flush). A record
 * another B owns, one too large even made to fit, or one whose stored record is
 * malformed (kept by the store for the administrator), is left (warning), as each line's
 * was before. FALSE: a record could not be written; it stays in memory and the position
 * must not pass its lines (retried at the next poll). */
static gboolean
flush_batch (Follower *f)
{
  g_autoptr (GError) error = NULL;

  while (!postfix_track_batch_flush (f->batch, &error))
    {
      if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE))
        g_warning ("%s; this update of it is dropped (move the file away to let the next "
                   "ones in)",
                   error->message);
      else if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET)
               || g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT))
        g_warning ("%s", error->message);
      else
        {
          g_warning ("Cannot write a tracking record (retrying): %s", error->message);
          return FALSE;
        }
      g_clear_error (&error);
    }
  return TRUE;
}

/* The key of @h's recipient in settle_walk's waiting_legs ("QID\nto"), or (!@rcpt, or a
 * line without a recipient: an expiry) its copy's ("QID\n"). */
static char *
leg_key (const HeldLine *h,
         gboolean        rcpt)
{
  return g_strconcat (h->entry.queue_id, "\n", rcpt && h->entry.to != NULL ? h->entry.to : "",
                      NULL);
}

/* Does an earlier line of @h's recipient (of any, for a line without one) wait in
 * @waiting_legs? */
static gboolean
leg_waits (GHashTable     *waiting_legs,
           const HeldLine *h)
{
  g_autofree char *key = NULL;

  if (g_hash_table_size (waiting_legs) == 0)
    return FALSE;
  key = leg_key (h, TRUE);
  return g_hash_table_contains (waiting_legs, key);
}

/* A new message's line @h under its queue id (a client line, or a header line, at its
 * first walk): when lines of that queue id wait in this walk (@waiting, @waiting_legs:
 * held for a registration, a copy's for its parent's line), a fence at @h: they are an
 * earlier message's, dropped when next walked (header_fenced), never applied to the new
 * message's registration, bound meanwhile. A line held for an unreadable record
 * (@unreadable) is one only when @set_aside: @h set its registration aside. */
static void
fence_earlier (Follower       *f,
               const HeldLine *h,
               GHashTable     *waiting,
               GHashTable     *waiting_legs,
               GHashTable     *unreadable,
               gboolean        set_aside)
{
  g_autofree char *copy_key = leg_key (h, FALSE);
  /* Lines held for an unreadable record wait for their registration's record: fenced
   * off only when @h set that registration aside. */
  gboolean all = set_aside && g_hash_table_contains (unreadable, h->entry.queue_id);

  if (all || g_hash_table_contains (waiting, h->entry.queue_id)
      || g_hash_table_contains (waiting_legs, copy_key))
    {
      Fence *fence = g_hash_table_lookup (f->fences, h->entry.queue_id);

      if (fence == NULL)
        {
          fence = g_new0 (Fence, 1);
          g_hash_table_insert (f->fences, g_strdup (h->entry.queue_id), fence);
        }
      fence->seq = MAX (fence->seq, h->seq);
      if (set_aside)
        fence->all_seq = MAX (fence->all_seq, h->seq);
      /* The lines fenced off are dropped when next walked: the new message's lines of
       * this walk do not wait behind them. */
      g_hash_table_remove (waiting, h->entry.queue_id);
      if (all)
        g_hash_table_remove (unreadable, h->entry.queue_id);
    }
}

/* A new message's header line @h (cleanup's "message-id=", at its first walk): its queue
 * id's registration checked against the line's time (postfix_registration_start; not
 * compared when the log's stamps are off this clock: check_stamp_skew at the start, or
 * this one ahead of it, warned once), and the earlier lines of its queue id fenced off
 * (fence_earlier). FALSE: the registration could not be checked (@error; retried). */
static gboolean
header_start (Follower   *f,
              HeldLine   *h,
              GHashTable *regs,
              GHashTable *waiting,
              GHashTable *waiting_legs,
              GHashTable *unreadable,
              GError    **error)
{
  gint64 logged = f->stamps_skewed || (f->stamps_undecided && !f->caught_up) ? 0
                                                                            : h->entry.time;
  gint64 clock = g_get_real_time () / G_USEC_PER_SEC;
  PostfixCurrentChange done;

  if (logged > clock + FOLLOWER_MAX_STAMP_SKEW)
    {
      if (!f->stamps_ahead)
        g_warning ("The log's time stamps are ahead of this clock (%s: %" G_GINT64_FORMAT
                   " s): is this follower in the time zone Postfix logs in (or is it the "
                   "hour a daylight-saving change repeats)? While they are, a short queue "
                   "id another message reuses without a client line is not told",
                   h->entry.queue_id, logged - clock);
      f->stamps_ahead = TRUE;
      logged = 0;
    }
  if (!postfix_registration_start (f->registration_dir, h->entry.queue_id, logged, &done,
                                   error))
    return FALSE;
  if (done & POSTFIX_CURRENT_SET_ASIDE)
    {
      g_message ("%s: a new message under this queue id (its header line, no client line "
                 "before it): an earlier message's registration set aside",
                 h->entry.queue_id);
      g_hash_table_remove (regs, h->entry.queue_id);
    }
  fence_earlier (f, h, waiting, waiting_legs, unreadable,
                 (done & POSTFIX_CURRENT_SET_ASIDE) != 0);
  return TRUE;
}

/* Is @h (a delivery or expiry line) before a fence of its queue id (fence_earlier): an
 * earlier message's line, held for a registration, that a later message's registration
 * must not take? */
static gboolean
header_fenced (Follower       *f,
               const HeldLine *h)
{
  const Fence *fence;

  if (g_hash_table_size (f->fences) == 0)
    return FALSE;
  fence = g_hash_table_lookup (f->fences, h->entry.queue_id);
  return fence != NULL && h->seq < (h->unreadable ? fence->all_seq : fence->seq);
}

/* Forget the fences no held line is before any more. */
static void
fences_prune (Follower *f)
{
  GHashTableIter iter;
  gpointer value;
  guint64 oldest;

  if (g_hash_table_size (f->fences) == 0)
    return;
  oldest = f->held.head != NULL ? ((HeldLine *) f->held.head->data)->seq : G_MAXUINT64;
  g_hash_table_iter_init (&iter, f->fences);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Fence *) value)->seq <= oldest)
      g_hash_table_iter_remove (&iter);
}

/* Walk the held lines in order (see the top of this file, step 3): applied lines change
 * the records of f->batch, in memory. FALSE: a derived registration or a full batch could
 * not be written; the walk stops (retried at the next poll). */
static gboolean
settle_walk (Follower *f)
{
  g_autoptr (GHashTable) regs = g_hash_table_new_full (
    g_str_hash, g_str_equal, g_free, (GDestroyNotify) postfix_registration_free);
  /* Queue ids with a line left waiting for its registration in this walk (the keys are
   * those held lines', which stay in f->held while it runs). */
  g_autoptr (GHashTable) waiting = g_hash_table_new (g_str_hash, g_str_equal);
  /* Recipients ("QID\nto") of a copy with a line left waiting for the parent's line that
   * adds them (postfix_track_batch_apply's NOT_FOUND), and "QID\n" for each such copy. */
  g_autoptr (GHashTable) waiting_legs = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                               g_free, NULL);
  /* Queue ids with a line left waiting because its record cannot be read (their
   * registration current: fenced off only by a new message's line that set it aside). */
  g_autoptr (GHashTable) unreadable = g_hash_table_new (g_str_hash, g_str_equal);
  gint64 now = g_get_monotonic_time ();
  gboolean over;
  GList *l;

  fences_prune (f);
  l = f->held.head;

  while (l != NULL)
    {
      GList *next = l->next;
      HeldLine *h = l->data;
      PostfixRegistration *reg = NULL;
      gpointer cached;

      /* As the walk goes: lines applied earlier in it may have brought the held ones
       * under the bounds, and then none is dropped early. */
      over = held_over (f);

      /* A cleanup line (on_line): a message's header, the first line of a message
       * without a client line. At its first walk, in log order (a copy's registration
       * is derived by its parent's line after it): its queue id's registration is
       * checked against it, one of an earlier message set aside
       * (postfix_registration_start), and the earlier message's lines of that queue id
       * still held are fenced off (fence_earlier). Held for a pending registration by
       * Message-ID: not bound at once (the first line with a Message-ID need not be the
       * tracked message's), see settle_message_id. */
      if (h->entry.kind == POSTFIX_LOG_MESSAGE_ID)
        {
          g_autoptr (GError) error = NULL;

          if (!h->new_message)
            {
              if (!header_start (f, h, regs, waiting, waiting_legs, unreadable, &error))
                {
                  g_warning ("%s: a new message under this queue id, its registration not "
                             "checked (retrying): %s",
                             h->entry.queue_id, error->message);
                  return FALSE;
                }
              h->new_message = TRUE;
            }
          if (h->for_pending)
            switch (settle_message_id (f, h, now, over, &error))
              {
              case SETTLE_HOLD:
                l = next;
                continue;
              case SETTLE_RETRY:
                g_warning ("%s: cannot bind the pending registration (retrying): %s",
                           h->entry.queue_id, error->message);
                return FALSE;
              case SETTLE_BOUND:
                g_hash_table_remove (regs, h->entry.queue_id);
                break;
              case SETTLE_DONE:
                break;
              }
          held_remove (f, l);
          l = next;
          continue;
        }
      /* A client line (on_line): a new message under its queue id. A registration of
       * that queue id bound from another transaction is an earlier message's (discarded
       * by Postfix after the binding, or gone and its queue id reused): set aside, once,
       * in log order (that message's earlier lines were applied before), and this
       * transaction's own, set aside by a later line read before a restart, made current
       * again (postfix_registration_make_current). Then, with the front's ident, held for
       * its pending registration: bound to the queue id (QID.reg written durably before
       * the line is settled), or dropped once the wait has passed without one. */
      if (h->entry.kind == POSTFIX_LOG_CLIENT && !h->new_message)
        {
          g_autoptr (GError) error = NULL;
          PostfixCurrentChange done;
          const char *ident = postfix_registration_ident_is_valid (h->entry.orig_queue_id)
                                ? h->entry.orig_queue_id
                                : NULL;

          if (!postfix_registration_make_current (f->registration_dir, h->entry.queue_id,
                                                  ident, &done, &error))
            {
              g_warning ("%s: a new message under this queue id, an earlier message's "
                         "registration not set aside (retrying): %s",
                         h->entry.queue_id, error->message);
              return FALSE;
            }
          h->new_message = TRUE;
          fence_earlier (f, h, waiting, waiting_legs, unreadable,
                         (done & POSTFIX_CURRENT_SET_ASIDE) != 0);
          if (done & POSTFIX_CURRENT_SET_ASIDE)
            g_message ("%s: a new message under this queue id (transaction %s): an earlier "
                       "message's registration set aside",
                       h->entry.queue_id, ident != NULL ? ident : "without ident");
          if (done & POSTFIX_CURRENT_RESTORED)
            g_message ("%s: the registration of transaction %s current again (its client "
                       "line read again)",
                       h->entry.queue_id, ident);
          if (done != POSTFIX_CURRENT_KEPT)
            g_hash_table_remove (regs, h->entry.queue_id);
        }
      if (h->entry.kind == POSTFIX_LOG_CLIENT
          && !postfix_registration_ident_is_valid (h->entry.orig_queue_id))
        {
          held_remove (f, l);
          l = next;
          continue;
        }
      if (h->entry.kind == POSTFIX_LOG_CLIENT)
        {
          g_autoptr (GError) error = NULL;
          const char *key = h->entry.orig_queue_id;
          /* The front writes an ident's pending registration at most
           * POSTFIX_REGISTRATION_IDENT_WINDOW seconds after its XFORWARD, or never: held
           * twice that at least (the line is seen after the XFORWARD; a margin for the
           * write itself). */
          gint64 wait = MAX (f->registration_wait, 2 * POSTFIX_REGISTRATION_IDENT_WINDOW);

          if (postfix_registration_claim_pending (f->registration_dir, POSTFIX_PENDING_BY_IDENT,
                                                  key, h->entry.queue_id, &error))
            {
              g_info ("%s: the pending registration of orig_queue_id %s bound to it",
                      h->entry.queue_id, key);
              g_hash_table_remove (regs, h->entry.queue_id);
            }
          else if (error != NULL && !g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE))
            {
              g_warning ("%s: cannot bind the pending registration (retrying): %s",
                         h->entry.queue_id, error->message);
              return FALSE;
            }
          else if (now - h->seen < wait * G_USEC_PER_SEC && !over
                   && !postfix_registration_exists (f->registration_dir, h->entry.queue_id))
            {
              l = next;
              continue;
            }
          held_remove (f, l);
          l = next;
          continue;
        }
      /* Held for a registration, and a later message's client or header line came
       * under its queue id: an earlier message's line, never to be applied
       * (fence_earlier). */
      if (header_fenced (f, h))
        {
          g_info ("%s: a line held for a registration dropped: a later message has its "
                  "queue id",
                  h->entry.queue_id);
          held_remove (f, l);
          l = next;
          continue;
        }
      /* Why it is held is decided again in this walk (below). */
      h->unreadable = FALSE;
      /* An earlier line of this queue id waits for its registration in this walk (it
       * appeared since: a content filter's copy, derived by a line in between): this one
       * waits too, and both are applied at the next pass, in log order. One behind a line
       * held for an unreadable record is its registration's too: fenced off as that one
       * is (fence_earlier). */
      if (g_hash_table_contains (waiting, h->entry.queue_id) || leg_waits (waiting_legs, h))
        {
          l = next;
          continue;
        }
      if (g_hash_table_contains (unreadable, h->entry.queue_id))
        {
          h->unreadable = TRUE;
          l = next;
          continue;
        }
      if (g_hash_table_lookup_extended (regs, h->entry.queue_id, NULL, &cached))
        reg = cached;
      else
        {
          g_autoptr (GError) error = NULL;

          reg = postfix_registration_read (f->registration_dir, h->entry.queue_id, &error);
          if (reg == NULL && !g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
            g_warning ("%s", error->message);
          g_hash_table_insert (regs, g_strdup (h->entry.queue_id), reg);
        }

      if (reg != NULL)
        {
          g_autoptr (GError) error = NULL;

          if (!postfix_track_batch_apply (f->batch, reg, &h->entry, &error))
            {
              /* A copy's line before its parent's line for that recipient: held as a line
               * before its registration, and the later lines of that recipient with it. */
              if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
                {
                  if (now - h->seen < (gint64) f->registration_wait * G_USEC_PER_SEC && !over)
                    {
                      g_hash_table_add (waiting_legs, leg_key (h, TRUE));
                      g_hash_table_add (waiting_legs, leg_key (h, FALSE));
                      l = next;
                      continue;
                    }
                  if (over)
                    g_warning ("More than %u log lines or %u octets are held: a line of %s "
                               "is dropped early (%s)",
                               f->max_held, f->max_held_bytes, h->entry.queue_id,
                               error->message);
                  else
                    g_debug ("%s (dropped)", error->message);
                  held_remove (f, l);
                  l = next;
                  continue;
                }
              /* Its ENVID's stored record cannot be read: torn by a crash until its
               * writer's journal is replayed (another process, maybe at this moment),
               * or damaged (the store keeps it for the administrator). Held, with its
               * queue id's later lines, as a line without registration; dropped past
               * registration_wait, warned. */
              if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE))
                {
                  if (now - h->seen < (gint64) f->registration_wait * G_USEC_PER_SEC && !over)
                    {
                      g_hash_table_add (unreadable, h->entry.queue_id);
                      h->unreadable = TRUE;
                      l = next;
                      continue;
                    }
                  g_warning ("%s: %s; this update of it is dropped (move the file away to "
                             "let the next ones in)",
                             h->entry.queue_id, error->message);
                  held_remove (f, l);
                  l = next;
                  continue;
                }
              if (!g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET)
                  && !g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT))
                {
                  g_warning ("%s: cannot apply the line (retrying): %s",
                             h->entry.queue_id, error->message);
                  return FALSE;
                }
              g_warning ("%s: %s", h->entry.queue_id, error->message);
            }
          else
            {
              f->applied_lines++;
              g_debug ("%s: %s for %s applied", h->entry.queue_id,
                       postfix_status_to_string (h->entry.status),
                       h->entry.to ? h->entry.to : "all");
            }
          /* A derived registration may have appeared: forget the cached misses. */
          if (h->entry.requeued_as != NULL)
            g_hash_table_remove (regs, h->entry.requeued_as);
          /* A long backlog: memory bounded (postfix-track.h). The position is saved
           * after the pass, so flushing early changes nothing for a restart. */
          if (postfix_track_batch_is_full (f->batch))
            {
              held_remove (f, l);
              if (!flush_batch (f))
                return FALSE;
              l = next;
              continue;
            }
        }
      else if (now - h->seen < (gint64) f->registration_wait * G_USEC_PER_SEC && !over)
        {
          g_hash_table_add (waiting, h->entry.queue_id);
          l = next;
          continue;
        }
      else if (over)
        {
          g_warning ("More than %u log lines or %u octets wait for a registration: a line "
                     "of %s is dropped early",
                     f->max_held, f->max_held_bytes, h->entry.queue_id);
          held_remove (f, l);
          l = next;
          continue;
        }
      held_remove (f, l);
      l = next;
    }
  return TRUE;
}

/* One pass: the walk, then every record it changed stored once (a record per ENVID per
 * pass, however many of its lines the pass applied). FALSE: the position must not be
 * saved (a record not written stays in f->batch, retried at the next pass). */
static gboolean
settle_held (Follower *f)
{
  gboolean walked = settle_walk (f);

  return flush_batch (f) && walked;
}

/* The orphaned pending registrations by Message-ID (postfix-register.h: a front gone
 * before it named their queue id), once the log has been read to its end by a poll that
 * began (@poll_start, unix seconds) POSTFIX_REGISTRATION_ORPHAN_SETTLE seconds or more
 * after each was orphaned: every cleanup line of its front's data is read by then (none
 * can come later: the front's links to Postfix died with it), and held, since its
 * pending file was on disk before any of its data went to Postfix and still is (the
 * fronts send no other message with that Message-ID while it is). Bound to the first
 * such line (in log order; not one of its Skip-Queue-Id, nor a queue id registered
 * already): the data reached Postfix, which may have queued it (the client, without a
 * 250 or with one, sees its message tracked either way; a retry of it is registered by
 * the front under its own queue id, into the same ENVID's record). None: nothing of it
 * reached Postfix (or that line was settled before), and it is removed. TRUE: none is
 * left to settle. */
static gboolean
settle_orphans (Follower *f,
                gint64    poll_start)
{
  g_autoptr (GPtrArray) orphans = postfix_registration_list_orphans (f->registration_dir);
  gboolean done = TRUE;

  for (guint i = 0; i < orphans->len; i++)
    {
      const PostfixRegistration *reg = g_ptr_array_index (orphans, i);
      g_autoptr (GError) error = NULL;
      const HeldLine *line = NULL;

      if (poll_start < reg->orphaned + POSTFIX_REGISTRATION_ORPHAN_SETTLE)
        {
          done = FALSE;
          continue;
        }
      for (GList *l = f->held.head; l != NULL && line == NULL; l = l->next)
        {
          const HeldLine *h = l->data;
          gboolean skip = FALSE;

          if (h->entry.kind != POSTFIX_LOG_MESSAGE_ID
              || g_strcmp0 (h->entry.message_id, reg->message_id) != 0)
            continue;
          for (guint k = 0; k < reg->skip->len; k++)
            skip = skip || g_str_equal (g_ptr_array_index (reg->skip, k), h->entry.queue_id);
          if (!skip && !postfix_registration_exists (f->registration_dir, h->entry.queue_id))
            line = h;
        }
      if (line != NULL
          && postfix_registration_claim_pending (f->registration_dir,
                                                 POSTFIX_PENDING_BY_MESSAGE_ID,
                                                 reg->message_id, line->entry.queue_id, &error))
        g_message ("%s: the orphaned pending registration of message-id %s (ENVID %s) bound "
                   "to it: its front was gone, and this is the first cleanup line with that "
                   "Message-ID it left",
                   line->entry.queue_id, reg->message_id, reg->envid);
      else if (error != NULL && !g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE))
        {
          g_warning ("Cannot bind the orphaned pending registration of message-id %s "
                     "(retrying): %s",
                     reg->message_id, error->message);
          done = FALSE;
        }
      else if (line == NULL
               && postfix_registration_drop_pending_of (f->registration_dir,
                                                        POSTFIX_PENDING_BY_MESSAGE_ID,
                                                        reg->message_id, reg))
        g_message ("The orphaned pending registration of message-id %s (ENVID %s) removed: "
                   "no data of it reached Postfix before its front was gone",
                   reg->message_id, reg->envid);
    }
  return done;
}

/* Save where a restart must begin, if it moved: only once every line before it has its
 * record stored. */
static void
save_position (Follower *f)
{
  g_autoptr (GError) error = NULL;
  guint64 ino;
  guint64 offset;

  /* Lines applied but not yet stored: the position must not pass them. */
  if (f->batch != NULL && postfix_track_batch_get_records (f->batch) > 0 && !flush_batch (f))
    return;
  if (f->held.head != NULL)
    {
      HeldLine *h = f->held.head->data;

      ino = h->ino;
      offset = h->start;
    }
  else
    postfix_tail_get_position (f->tail, &ino, &offset);
  if (f->saved_once && ino == f->saved_ino && offset == f->saved_offset)
    return;
  if (!postfix_tail_save_position (f->tail, f->pos_path, ino, offset, &error))
    {
      g_warning ("Cannot save the log position: %s", error->message);
      return;
    }
  f->saved_once = TRUE;
  f->saved_ino = ino;
  f->saved_offset = offset;
}

static gboolean
on_poll (gpointer data)
{
  Follower *f = data;
  g_autoptr (GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  guint lines = 0;
  gboolean at_end = FALSE;
  gboolean read_on = TRUE;

  if (postfix_registration_orphans_marked (f->registration_dir))
    f->orphans_due = TRUE;
  /* What the last poll could not settle (a record or a derived registration the store
   * could not write: a full disk) is retried first; while it still fails, the log is
   * read on only until the held lines reach their bounds (held_over: then a line
   * waiting for its registration is dropped early, and a claim that keeps failing
   * lets go), never past them. The housekeeping below runs either way. */
  if (f->settle_failed)
    {
      if (settle_held (f))
        {
          f->settle_failed = FALSE;
          save_position (f);
        }
      else
        read_on = !held_over (f);
    }
  while (read_on)
    {
      if (!postfix_tail_poll (f->tail, on_line, f, &lines, &error))
        {
          g_warning ("%s", error->message);
          break;
        }
      if (!settle_held (f))
        {
          f->settle_failed = TRUE;
          break;
        }
      f->settle_failed = FALSE;
      save_position (f);
      at_end = lines == 0;
      read_on = lines > 0 && !held_over (f);
    }
  /* The log's own file read to its end (a poll that ends a rotated file of a backlog
   * hands out no line either). */
  if (at_end && postfix_tail_is_following (f->tail))
    f->caught_up = TRUE;
  /* The whole log read, as it was when this poll began (@now). */
  if (f->orphans_due && at_end)
    f->orphans_due = !settle_orphans (f, now);

  if (now - f->last_expire >= FOLLOWER_EXPIRE_INTERVAL)
    {
      guint removed;

      /* The journals of fronts that died and were not started again (a crash loop, a
       * second front left running): their pending registrations by Message-ID would
       * hold up those Message-IDs in the other fronts; as orphans (marked) they are
       * settled at the next polls. */
      recover_journals (f);
      removed = postfix_registration_expire (f->registration_dir, now);

      if (removed > 0)
        g_message ("%u expired registrations removed", removed);
      if (f->unknown_lines > 0)
        g_message ("%" G_GUINT64_FORMAT " log lines not understood so far", f->unknown_lines);
      f->last_expire = now;
    }
  return G_SOURCE_CONTINUE;
}

static void
follower_started (gpointer data,
                  guint16  port)
{
  Follower *f = data;

  f->last_expire = g_get_real_time () / G_USEC_PER_SEC;
  on_poll (f);
  f->timer = g_timeout_add (f->poll_interval, on_poll, f);
  g_message ("Started");
}

static void
follower_stop (gpointer data)
{
  Follower *f = data;

  if (f->timer != 0)
    g_source_remove (f->timer);
  f->timer = 0;
  if (f->tail != NULL)
    save_position (f);
  g_message ("%" G_GUINT64_FORMAT " lines applied, %" G_GUINT64_FORMAT " not understood",
             f->applied_lines, f->unknown_lines);
}

int
main (int   argc,
      char *argv[])
{
  static const ServerProgram program = {
    .name = "msgtrk-postfix-follower",
    .summary = "- turn Postfix's mail log into msgtrk tracking records",
    .default_config = FOLLOWER_DEFAULT_CONFIG,
    .config_required = FALSE,
    .serve = NULL,
    .configure = follower_configure,
    .post_drop = follower_post_drop,
    .started = follower_started,
    .stop = follower_stop,
  };
  Follower f = { 0 };
  int status;

  g_queue_init (&f.held);
  status = server_main (&program, &f, argc, argv);
  follower_clear (&f);
  return status;
}
