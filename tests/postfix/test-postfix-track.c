/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-postfix-track.c: registrations (server/postfix/postfix-register.c) and Postfix
 * lines into tracking records (postfix-track.c), with a real TrackStore in a temporary
 * directory and the real line grammar.
 *
 * Registrations: written and read back; malformed files refused; the recipient limit at
 * POSTFIX_REGISTRATION_MAX_RCPTS and one past it; a queue id that is no queue id never
 * becomes a path. Records: a replayed line changes nothing (one entry per recipient); a
 * next hop in mtrk_next_hops gives "transferred" (also on loopback with a "queued as"
 * reply); a content filter's "queued as" on a
 * loopback relay registers the new queue id and its outcome replaces the interim entry;
 * qmgr's "status=expired" fails the open recipients; another B's record is not touched;
 * hostile text (a reason at the line limit, 8-bit octets, control characters, an address
 * over the field limit, MSGTRK_REPORT_MAX_RECIPIENTS entries with Postfix's longest
 * reply) never makes a record that does not read back or does not fit the store.
 * Pending registrations in the front's slot files: reused, replaced, a FIFO at a slot's
 * name, /proc gone from under the kept descriptors (in a mount namespace: root only).
 */
#define _GNU_SOURCE /* unshare(2) */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <utime.h>
#include <unistd.h>

#include "durable-group.h"

#include "msgtrk-private.h"
#include "postfix-log.h"
#include "postfix-register.h"
#include "postfix-register-private.h"
#include "postfix-track.h"

#define B1 "qUqP5cyxm6YcTAhz05Hph5gvu9M="
#define B2 "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define NOW 1796420000

typedef struct
{
  char *dir;
  char *reg_dir;
  TrackStore *store;
  PostfixTrack track;
  PostfixTrackBatch *batch; /* (nullable) apply_line's lines gathered, as the follower's pass */
} Fixture;

static void
fixture_setup (Fixture      *fx,
               gconstpointer data)
{
  fx->dir = g_dir_make_tmp ("postfix-track-XXXXXX", NULL);
  fx->reg_dir = g_build_filename (fx->dir, "reg", NULL);
  g_mkdir (fx->reg_dir, 0700);
  fx->store = track_store_new (fx->dir, NULL);
  g_assert_nonnull (fx->store);
  fx->track.store = fx->store;
  fx->track.reg_dir = fx->reg_dir;
  fx->track.hostname = "mx.test.example";
  fx->track.queue_lifetime = 3600;
  fx->track.follow_loopback = TRUE;
}

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (path, name, NULL);

      if (g_file_test (p, G_FILE_TEST_IS_DIR))
        rm_rf (p);
      else
        g_unlink (p);
    }
  g_rmdir (path);
}

static void
fixture_teardown (Fixture      *fx,
                  gconstpointer data)
{
  g_clear_object (&fx->store);
  rm_rf (fx->dir);
  g_free (fx->dir);
  g_free (fx->reg_dir);
}

static PostfixRegistration *
make_reg (const char        *qid,
          const char        *b,
          const char *const *rcpts)
{
  PostfixRegistration *reg = postfix_registration_new (qid, "env1@test.example", b, NOW,
                                                       NOW + 86400);

  for (guint i = 0; rcpts[i] != NULL; i++)
    g_assert_true (postfix_registration_add_rcpt (reg, rcpts[i], NULL, NULL, NULL));
  return reg;
}

static void
apply_line (Fixture                   *fx,
            const PostfixRegistration *reg,
            const char                *line)
{
  g_auto (PostfixLogEntry) e = { 0 };
  g_autoptr (GError) error = NULL;

  postfix_log_parse (line, strlen (line), NOW, &e);
  g_assert_true (e.kind == POSTFIX_LOG_DELIVERY || e.kind == POSTFIX_LOG_EXPIRED);
  g_assert_true (fx->batch != NULL ? postfix_track_batch_apply (fx->batch, reg, &e, &error)
                                   : postfix_track_apply (&fx->track, reg, &e, &error));
  g_assert_no_error (error);
}

/* apply_line's lines from here to pass_end() are one pass of the follower (one record
 * write): a thousand lines each loading and storing the record would take seconds. */
static void
pass_begin (Fixture *fx)
{
  g_assert_null (fx->batch);
  fx->batch = postfix_track_batch_new (&fx->track);
}

static void
pass_end (Fixture *fx)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (postfix_track_batch_flush (fx->batch, &error));
  g_assert_no_error (error);
  g_clear_pointer (&fx->batch, postfix_track_batch_free);
}

/* Recipients r<from> .. r0999 of @reg (ABCDEF123) added and deferred, in one pass: the
 * record then has an entry for each (MSGTRK_REPORT_MAX_RECIPIENTS with the ones before). */
static void
fill_deferred (Fixture             *fx,
               PostfixRegistration *reg,
               guint                from)
{
  pass_begin (fx);
  for (guint i = from; i < MSGTRK_REPORT_MAX_RECIPIENTS; i++)
    {
      g_autofree char *addr = g_strdup_printf ("r%04u@test.example", i);
      g_autofree char *line = g_strdup_printf ("Dec 04 21:35:14 mx postfix/smtp[3]: ABCDEF123: to=<%s>, relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=4.3.0, status=deferred (host mx.b.example[192.0.2.2] said: 450 busy)", addr);

      g_assert_true (postfix_registration_add_rcpt (reg, addr, NULL, NULL, NULL));
      apply_line (fx, reg, line);
    }
  pass_end (fx);
}

static MsgtrkReport *
load (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  MsgtrkReport *r =
    track_store_load (fx->store, "env1@test.example", NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  return r;
}

static MsgtrkRecipientReport *
find_entry (MsgtrkReport *r,
            const char   *final,
            const char   *original)
{
  GPtrArray *entries = msgtrk_report_get_recipients (r);

  for (guint i = 0; i < entries->len; i++)
    {
      MsgtrkRecipientReport *e = g_ptr_array_index (entries, i);

      if (g_strcmp0 (msgtrk_recipient_report_get_final_recipient (e), final) == 0
          && g_strcmp0 (msgtrk_recipient_report_get_original_recipient (e), original) == 0)
        return e;
    }
  return NULL;
}

static void
test_registration_roundtrip (Fixture      *fx,
                             gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", "b c@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) back = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (postfix_registration_write (fx->reg_dir, reg, &error));
  g_assert_no_error (error);
  g_assert_true (postfix_registration_exists (fx->reg_dir, "ABCDEF123"));
  back = postfix_registration_read (fx->reg_dir, "ABCDEF123", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->envid, ==, "env1@test.example");
  g_assert_cmpstr (back->authenticator, ==, B1);
  g_assert_cmpuint (back->rcpts->len, ==, 2);
  g_assert_nonnull (postfix_registration_find (back, "B C@TEST.example"));
  g_assert_null (postfix_registration_read (fx->reg_dir, "ABCDEF124", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* Not a queue id: never a path. */
  g_assert_null (postfix_registration_read (fx->reg_dir, "../../etc/passwd", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  /* Expired registrations go. */
  g_assert_cmpuint (postfix_registration_expire (fx->reg_dir, NOW + 86400), ==, 1);
  g_assert_false (postfix_registration_exists (fx->reg_dir, "ABCDEF123"));
}

static void
test_registration_malformed (void)
{
  static const char *const bad[] = {
    "",
    "MSGTRK-POSTFIX-REG 2\n",
    "MSGTRK-POSTFIX-REG 1\nQueue-Id: ABCDEF\nEnvid: e\nAuthenticator: " B1
    "\nArrival: 1\nExpires: 2\n", /* no Rcpt */
    "MSGTRK-POSTFIX-REG 1\nQueue-Id: ABCDEF\nEnvid: e\nAuthenticator: short\nArrival: 1\n"
    "Expires: 2\nRcpt: a a -\n",
    "MSGTRK-POSTFIX-REG 1\nQueue-Id: warning\nEnvid: e\nAuthenticator: " B1
    "\nArrival: 1\nExpires: 2\nRcpt: a a -\n",
    "MSGTRK-POSTFIX-REG 1\nQueue-Id: ABCDEF\nEnvid: e\nAuthenticator: " B1
    "\nArrival: 1\nExpires: 2\nRcpt: a a\n",
    "MSGTRK-POSTFIX-REG 1\nQueue-Id: ABCDEF\nQueue-Id: ABCDEF\nEnvid: e\nAuthenticator: " B1
    "\nArrival: 1\nExpires: 2\nRcpt: a a -\n",
    "MSGTRK-POSTFIX-REG 1\nQueue-Id: ABCDEF\nEnvid: e\nAuthenticator: " B1
    "\nArrival: -1\nExpires: 2\nRcpt: a a -\n",
    /* Orphaned: a pending registration by Message-ID only, a time after 0 */
    "MSGTRK-POSTFIX-REG 1\nQueue-Id: ABCDEF\nOrphaned: 5\nEnvid: e\nAuthenticator: " B1
    "\nArrival: 1\nExpires: 2\nRcpt: a a -\n",
    "MSGTRK-POSTFIX-REG 1\nMessage-Id: m\nOrphaned: 0\nEnvid: e\nAuthenticator: " B1
    "\nArrival: 1\nExpires: 2\nRcpt: a a -\n",
    "MSGTRK-POSTFIX-REG 1\nIdent: msgtrk-00112233445566778899aabbccddeeff\nOrphaned: 5\n"
    "Envid: e\nAuthenticator: " B1 "\nArrival: 1\nExpires: 2\nRcpt: a a -\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (PostfixRegistration) reg = postfix_registration_parse (bad[i], strlen (bad[i]),
                                                                        &error);

      g_assert_null (reg);
      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
    }
}

/* POSTFIX_REGISTRATION_MAX_RCPTS recipients fit, one more is refused. */
static void
test_registration_limit (void)
{
  g_autoptr (PostfixRegistration) reg = postfix_registration_new ("ABCDEF", "e", B1, 1, 2);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autoptr (PostfixRegistration) back = NULL;

  for (guint i = 0; i < POSTFIX_REGISTRATION_MAX_RCPTS; i++)
    {
      g_autofree char *a = g_strdup_printf ("user%u@test.example", i);

      g_assert_true (postfix_registration_add_rcpt (reg, a, NULL, NULL, NULL));
    }
  g_assert_false (postfix_registration_add_rcpt (reg, "one@more.example", NULL, NULL, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  text = postfix_registration_format (reg);
  back = postfix_registration_parse (text, strlen (text), NULL);
  g_assert_nonnull (back);
  g_assert_cmpuint (back->rcpts->len, ==, POSTFIX_REGISTRATION_MAX_RCPTS);
}

/* A registration with every line other than its "Rcpt:" lines at its longest fits in
 * POSTFIX_REGISTRATION_HEAD_MAX; with "Rcpt:" lines of POSTFIX_REGISTRATION_RCPT_BUDGET
 * octets (postfix_registration_rcpt_size, as the front counts them) it fits in
 * POSTFIX_REGISTRATION_MAX_SIZE and is written; the size counted is the size formatted. */
static void
test_registration_head_max (void)
{
  g_autofree char *qid = g_strnfill (POSTFIX_LOG_MAX_QUEUE_ID, 'B');
  g_autofree char *envid = g_strnfill (MSGTRK_ENVID_MAX_LENGTH, '+');
  g_autofree char *mid = g_strnfill (998, '=');
  g_autofree char *ident = postfix_registration_ident_new ();
  g_autofree char *empty = NULL;
  g_autofree char *full = NULL;
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autofree char *long_local = g_strnfill (120, 'x');
  gsize budget = POSTFIX_REGISTRATION_RCPT_BUDGET;
  gsize sum = 0;
  g_autofree char *dir = g_dir_make_tmp ("msgtrk-head-XXXXXX", NULL);
  g_autoptr (GError) error = NULL;

  reg = postfix_registration_new (qid, envid, B1, G_MAXINT64, G_MAXINT64);
  reg->ident = g_strdup (ident);
  reg->message_id = g_strdup (mid);
  reg->parent = g_strdup (qid);
  reg->orphaned = G_MAXINT64;
  for (guint i = 0; i < POSTFIX_REGISTRATION_MAX_SKIP; i++)
    g_ptr_array_add (reg->skip, g_strdup (qid));
  empty = postfix_registration_format (reg);
  g_assert_cmpuint (strlen (empty), <=, POSTFIX_REGISTRATION_HEAD_MAX);
  /* "Rcpt:" lines filling the budget exactly, the last one's ORCPT cut to fit. */
  for (guint i = 0; sum < budget; i++)
    {
      g_autofree char *a = g_strdup_printf ("u%04u+%s@test.example", i, long_local);
      g_autofree char *o = g_strdup_printf ("rfc822;%s", a);
      gsize size = postfix_registration_rcpt_size (a, NULL, o);

      if (sum + 2 * size > budget)
        {
          gsize base = postfix_registration_rcpt_size (a, NULL, "rfc822;");
          g_autofree char *pad = g_strnfill (budget - sum - base, 'p');

          g_free (o);
          o = g_strconcat ("rfc822;", pad, NULL);
          size = postfix_registration_rcpt_size (a, NULL, o);
          g_assert_cmpuint (size, ==, budget - sum);
        }
      g_assert_true (postfix_registration_add_rcpt (reg, a, NULL, o, NULL));
      sum += size;
    }
  g_assert_cmpuint (sum, ==, budget);
  full = postfix_registration_format (reg);
  g_assert_cmpuint (strlen (full), ==, strlen (empty) + sum);
  g_assert_cmpuint (strlen (full), <=, POSTFIX_REGISTRATION_MAX_SIZE);
  g_assert_true (postfix_registration_write (dir, reg, &error));
  g_assert_no_error (error);
  rm_rf (dir);
}

#define LINE_DEFERRED                                                                          \
  "Dec 04 21:35:14 mx postfix/smtp[1]: ABCDEF123: to=<a@test.example>, "                       \
  "relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=4.3.0, status=deferred "     \
  "(host mx.b.example[192.0.2.2] said: 451 4.3.0 later (in reply to RCPT TO command))"
/* A front that journaled @reg and the registrations after it (a NULL-terminated list, in
 * that order, durably) and died before its file renames were durable: the journal holds
 * the records, the files in @dir are whatever was there before. @other_boot: and the
 * machine with it (the journal's header names no boot: durable_journal_probe_forget_boot),
 * else the front alone (killed). */
static void
front_dies_after_journal (const char                *dir,
                          gboolean                   other_boot,
                          const PostfixRegistration *reg,
                          ...) G_GNUC_NULL_TERMINATED;
static void
front_dies_after_journal (const char                *dir,
                          gboolean                   other_boot,
                          const PostfixRegistration *reg,
                          ...)
{
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  pid_t pid;
  int status = 0;
  va_list ap;

  va_start (ap, reg);
  for (; reg != NULL; reg = va_arg (ap, const PostfixRegistration *))
    g_ptr_array_add (texts, postfix_registration_format (reg));
  va_end (ap);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      DurableJournal *j = durable_journal_open (dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX, NULL);
      guint64 t = 0;

      if (j == NULL)
        _exit (3);
      for (guint i = 0; i < texts->len; i++)
        {
          const char *text = g_ptr_array_index (texts, i);

          if (!durable_journal_append (j, text, strlen (text), &t, NULL))
            _exit (3);
        }
      if (!durable_journal_wait (j, t, NULL)
          || (other_boot && !durable_journal_probe_forget_boot (j)))
        _exit (3);
      _exit (0); /* no close: the journal stays, its owner dead */
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
}

/* Recovery tells registrations of one queue id apart: a journaled one newer than the file
 * (Postfix reused the short queue id while the old registration was still there) replaces
 * it; one older than the file (the file was replaced since) does not. */
static void
test_recover_reused_queue_id (Fixture      *fx,
                              gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PostfixRegistration) old = postfix_registration_new ("ABCDEF", "old", B1, 100, 200);
  g_autoptr (PostfixRegistration) reused = postfix_registration_new ("ABCDEF", "new", B1, 150,
                                                                     250);
  g_autoptr (PostfixRegistration) stale = postfix_registration_new ("ABCDEF", "stale", B1, 50,
                                                                    150);
  g_autoptr (PostfixRegistration) back = NULL;

  g_test_summary ("Recovery restores a journaled registration of a reused queue id");
  g_assert_true (postfix_registration_add_rcpt (old, "a@test.example", "a@test.example", NULL,
                                                &error));
  g_assert_true (postfix_registration_add_rcpt (reused, "b@test.example", "b@test.example",
                                                NULL, &error));
  g_assert_true (postfix_registration_add_rcpt (stale, "c@test.example", "c@test.example",
                                                NULL, &error));
  g_assert_true (postfix_registration_write (fx->reg_dir, old, &error));
  g_assert_no_error (error);

  front_dies_after_journal (fx->reg_dir, FALSE, reused, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 1);
  g_assert_no_error (error);
  back = postfix_registration_read (fx->reg_dir, "ABCDEF", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->envid, ==, "new");
  g_clear_pointer (&back, postfix_registration_free);

  /* An older registration of the id, journaled by another dead front: the file stays. */
  front_dies_after_journal (fx->reg_dir, FALSE, stale, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 1);
  g_assert_no_error (error);
  back = postfix_registration_read (fx->reg_dir, "ABCDEF", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->envid, ==, "new");
}

/* Pending registrations by Message-ID (the fallback without XFORWARD IDENT). */
#define BY_MID POSTFIX_PENDING_BY_MESSAGE_ID

/* Pending registrations (by Message-ID, before the queue id is known): written, bound
 * to a queue id once, restored by a replay only when the journal has no queue-id record
 * of theirs. */
static void
test_pending (Fixture      *fx,
              gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PostfixRegistration) pend = postfix_registration_new (NULL, "p1", B1, 100, 200);
  g_autoptr (PostfixRegistration) bound = NULL;
  g_autoptr (PostfixRegistration) back = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("Pending registrations: format, bind by Message-ID, replay");
  pend->message_id = g_strdup ("m1@test.example");
  g_assert_true (postfix_registration_add_rcpt (pend, "a@test.example", NULL, NULL, &error));
  text = postfix_registration_format (pend);
  back = postfix_registration_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_null (back->queue_id);
  g_assert_cmpstr (back->message_id, ==, "m1@test.example");
  g_clear_pointer (&back, postfix_registration_free);

  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, pend, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, BY_MID, "m1@test.example"));
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, BY_MID, "m2@test.example"));
  g_assert_true (postfix_registration_claim_pending (fx->reg_dir, BY_MID, "m1@test.example",
                                                     "ABC123", &error));
  g_assert_no_error (error);
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, BY_MID, "m1@test.example"));
  back = postfix_registration_read (fx->reg_dir, "ABC123", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->envid, ==, "p1");
  g_assert_null (back->message_id);
  g_clear_pointer (&back, postfix_registration_free);
  /* Bound once: a second cleanup line with that Message-ID binds nothing. */
  g_assert_false (postfix_registration_claim_pending (fx->reg_dir, BY_MID, "m1@test.example",
                                                      "ABC124", &error));
  g_assert_no_error (error);

  /* Never through a symlink: a pending "file" that is a link is removed, binds nothing. */
  {
    g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "m3@test.example",
                                                          -1);
    g_autofree char *name = g_strconcat (sum, ".pending", NULL);
    g_autofree char *link = g_build_filename (fx->reg_dir, name, NULL);
    g_autofree char *target = g_build_filename (fx->reg_dir, "ABC123.reg", NULL);

    g_assert_cmpint (symlink (target, link), ==, 0);
    g_assert_false (postfix_registration_claim_pending (fx->reg_dir, BY_MID, "m3@test.example",
                                                        "ABC126", &error));
    g_assert_no_error (error);
    g_assert_false (postfix_registration_exists (fx->reg_dir, "ABC126"));
    g_assert_false (g_file_test (link, G_FILE_TEST_IS_SYMLINK));
  }

  /* A front died after journaling the pending registration only: restored, as an orphan
   * (/postfix-track/registration/orphan). */
  front_dies_after_journal (fx->reg_dir, FALSE, pend, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, BY_MID, "m1@test.example"));
  g_assert_true (postfix_registration_orphans_marked (fx->reg_dir));
  postfix_registration_drop_pending (fx->reg_dir, BY_MID, "m1@test.example");
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, BY_MID, "m1@test.example"));

  /* ... after journaling it and its queue id's record (and writing QID.reg), before
   * removing its pending file: QID.reg, and the pending file removed by the replay (else
   * it would hold up its Message-ID and could be bound to another cleanup line). */
  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, pend, NULL, &error));
  bound = postfix_registration_new ("ABC125", "p1", B1, 100, 200);
  g_assert_true (postfix_registration_add_rcpt (bound, "a@test.example", NULL, NULL, &error));
  front_dies_after_journal (fx->reg_dir, FALSE, pend, bound, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 2);
  g_assert_no_error (error);
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, BY_MID, "m1@test.example"));
  g_assert_true (postfix_registration_exists (fx->reg_dir, "ABC125"));

  /* The same replay while the pending file holds another registration of that
   * Message-ID (another ENVID): that one stays. */
  {
    g_autoptr (PostfixRegistration) other = postfix_registration_new (NULL, "p2", B1, 100, 200);

    other->message_id = g_strdup ("m1@test.example");
    g_assert_true (postfix_registration_add_rcpt (other, "a@test.example", NULL, NULL, &error));
    g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, other, NULL, &error));
    g_assert_no_error (error);
    front_dies_after_journal (fx->reg_dir, FALSE, pend, bound, NULL);
    g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 2);
    g_assert_no_error (error);
    g_assert_true (postfix_registration_pending_exists (fx->reg_dir, BY_MID,
                                                        "m1@test.example"));
  }
}

/* A pending registration by Message-ID of a front that is gone (journaled, its queue id
 * not): the replay writes it again with Orphaned: and leaves the mark; it is listed for
 * the follower, bound once like any pending one (QID.reg without Orphaned:) or removed;
 * one whose file another message's pending registration has taken since is left alone;
 * by ident: restored as before, never an orphan. */
static void
test_orphan (Fixture      *fx,
             gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PostfixRegistration) pend = postfix_registration_new (NULL, "o1", B1, 100, 200);
  g_autoptr (PostfixRegistration) live = postfix_registration_new (NULL, "o2", B1, 150, 250);
  g_autoptr (PostfixRegistration) ident = postfix_registration_new (NULL, "o3", B1, 100, 200);
  g_autoptr (PostfixRegistration) back = NULL;
  g_autoptr (GPtrArray) orphans = NULL;
  g_autofree char *text = NULL;
  gint64 before = g_get_real_time () / G_USEC_PER_SEC;

  g_test_summary ("Orphaned pending registrations by Message-ID: replayed as orphans, "
                  "listed, bound or left alone");
  pend->message_id = g_strdup ("orphan@test.example");
  live->message_id = g_strdup ("orphan@test.example");
  ident->ident = g_strdup ("msgtrk-00112233445566778899aabbccddeeff");
  g_assert_true (postfix_registration_add_rcpt (pend, "a@test.example", NULL, NULL, &error));
  g_assert_true (postfix_registration_add_rcpt (live, "b@test.example", NULL, NULL, &error));
  g_assert_true (postfix_registration_add_rcpt (ident, "c@test.example", NULL, NULL, &error));

  /* Orphaned: round trip. */
  pend->orphaned = 12345;
  text = postfix_registration_format (pend);
  g_assert_nonnull (strstr (text, "\nOrphaned: 12345\n"));
  back = postfix_registration_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->orphaned, ==, 12345);
  g_clear_pointer (&back, postfix_registration_free);
  pend->orphaned = 0;

  /* Nothing marked, nothing listed. */
  g_assert_false (postfix_registration_orphans_marked (fx->reg_dir));
  orphans = postfix_registration_list_orphans (fx->reg_dir);
  g_assert_cmpuint (orphans->len, ==, 0);
  g_clear_pointer (&orphans, g_ptr_array_unref);

  /* The front died with its pending file on disk (and one by ident, its file lost: a
   * power cut): an orphan, marked, listed; the one by ident restored as before. A live
   * one is not listed. */
  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, pend, NULL, &error));
  front_dies_after_journal (fx->reg_dir, TRUE, pend, ident, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 2);
  g_assert_no_error (error);
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, BY_MID, "orphan@test.example"));
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, POSTFIX_PENDING_BY_IDENT,
                                                      ident->ident));
  g_assert_true (postfix_registration_orphans_marked (fx->reg_dir));
  g_assert_false (postfix_registration_orphans_marked (fx->reg_dir)); /* taken */
  orphans = postfix_registration_list_orphans (fx->reg_dir);
  g_assert_cmpuint (orphans->len, ==, 1);
  back = g_ptr_array_steal_index (orphans, 0);
  g_assert_cmpstr (back->message_id, ==, "orphan@test.example");
  g_assert_cmpstr (back->envid, ==, "o1");
  g_assert_cmpint (back->orphaned, >=, before);
  g_assert_cmpint (back->orphaned, <=, g_get_real_time () / G_USEC_PER_SEC);
  g_clear_pointer (&back, postfix_registration_free);
  g_clear_pointer (&orphans, g_ptr_array_unref);

  /* Bound like any pending registration: QID.reg without Orphaned:, the file gone. */
  g_assert_true (postfix_registration_claim_pending (fx->reg_dir, BY_MID, "orphan@test.example",
                                                     "ABC301", &error));
  g_assert_no_error (error);
  back = postfix_registration_read (fx->reg_dir, "ABC301", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->envid, ==, "o1");
  g_assert_cmpint (back->orphaned, ==, 0);
  g_clear_pointer (&back, postfix_registration_free);
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, BY_MID,
                                                       "orphan@test.example"));

  /* Its file gone (bound, dropped, or lost unsynced): an orphan again, for the follower
   * to settle from what it read (it binds nothing the follower has settled). */
  front_dies_after_journal (fx->reg_dir, FALSE, pend, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 1);
  g_assert_true (postfix_registration_orphans_marked (fx->reg_dir));
  {
    /* Linked in (link(2): never over a live front's file), its temporary name gone. */
    g_autoptr (GDir) d = g_dir_open (fx->reg_dir, 0, NULL);
    const char *name;

    while ((name = g_dir_read_name (d)) != NULL)
      g_assert_false (g_str_has_prefix (name, ".tmp-"));
  }
  orphans = postfix_registration_list_orphans (fx->reg_dir);
  g_assert_cmpuint (orphans->len, ==, 1);
  g_assert_true (postfix_registration_drop_pending_of (fx->reg_dir, BY_MID,
                                                       "orphan@test.example",
                                                       g_ptr_array_index (orphans, 0)));
  g_clear_pointer (&orphans, g_ptr_array_unref);

  /* Another message's pending registration has its file now (a live front took the
   * Message-ID since): left as it is, no orphan, no mark. */
  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, live, NULL, &error));
  front_dies_after_journal (fx->reg_dir, FALSE, pend, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_false (postfix_registration_orphans_marked (fx->reg_dir));
  orphans = postfix_registration_list_orphans (fx->reg_dir);
  g_assert_cmpuint (orphans->len, ==, 0);
  g_assert_true (postfix_registration_claim_pending (fx->reg_dir, BY_MID, "orphan@test.example",
                                                     "ABC302", &error));
  back = postfix_registration_read (fx->reg_dir, "ABC302", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->envid, ==, "o2");
}

/* Pending registrations by transaction ident (XFORWARD IDENT, Postfix's orig_queue_id=):
 * the ident's shape checked at its bounds (it names a file), bound once, never by a
 * cleanup line's Message-ID, restored by a replay of an earlier boot's journal (not by
 * one of this boot's: a killed front lost no file), swept after
 * POSTFIX_REGISTRATION_PENDING_MAX_AGE when it never binds. */
static void
test_pending_ident (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PostfixRegistration) pend = postfix_registration_new (NULL, "i1", B1, 100, 200);
  g_autoptr (PostfixRegistration) back = NULL;
  g_autofree char        *ident = postfix_registration_ident_new ();
  g_autofree char        *other = postfix_registration_ident_new ();
  g_autofree char        *text = NULL;
  g_autofree char        *name = NULL;
  g_autofree char        *path = NULL;
  g_autofree char        *longer = g_strconcat (ident, "0", NULL);
  g_autofree char        *shorter = g_strndup (ident, strlen (ident) - 1);
  g_autofree char        *upper = g_ascii_strup (ident, -1);
  const PostfixPendingKey by_ident = POSTFIX_PENDING_BY_IDENT;
  const PostfixPendingKey by_mid = POSTFIX_PENDING_BY_MESSAGE_ID;
  struct utimbuf          old = { 0, 0 };
  gint64                  now = g_get_real_time () / G_USEC_PER_SEC;
  PostfixCurrentChange    done = POSTFIX_CURRENT_KEPT;

  g_test_summary ("Pending registrations by ident: shape, bind by orig_queue_id, sweep");
  g_assert_true (postfix_registration_ident_is_valid (ident));
  g_assert_cmpstr (ident, !=, other);
  g_assert_cmpuint (strlen (ident), ==,
                    strlen (POSTFIX_REGISTRATION_IDENT_PREFIX) + POSTFIX_REGISTRATION_IDENT_HEX);
  g_assert_false (postfix_registration_ident_is_valid (longer));
  g_assert_false (postfix_registration_ident_is_valid (shorter));
  g_assert_false (postfix_registration_ident_is_valid (upper));
  g_assert_false (postfix_registration_ident_is_valid (NULL));
  g_assert_false (postfix_registration_ident_is_valid ("msgtrk-../../../etc/passwd0000000000"));
  g_assert_false (postfix_registration_ident_is_valid ("4DA1F7A4F2"));

  pend->ident = g_strdup (ident);
  g_assert_true (postfix_registration_add_rcpt (pend, "a@test.example", NULL, NULL, &error));
  text = postfix_registration_format (pend);
  back = postfix_registration_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->ident, ==, ident);
  g_assert_null (back->message_id);
  g_clear_pointer (&back, postfix_registration_free);

  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, pend, NULL, &error));
  g_assert_no_error (error);
  name = g_strconcat (ident, ".pending", NULL);
  path = g_build_filename (fx->reg_dir, name, NULL);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, by_ident, ident));
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, by_ident, other));
  /* A cleanup line whose Message-ID is the ident binds nothing. */
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, by_mid, ident));
  g_assert_false (
      postfix_registration_claim_pending (fx->reg_dir, by_mid, ident, "ABC100", &error));
  g_assert_no_error (error);
  g_assert_false (
      postfix_registration_claim_pending (fx->reg_dir, by_ident, other, "ABC100", &error));
  g_assert_no_error (error);
  g_assert_true (
      postfix_registration_claim_pending (fx->reg_dir, by_ident, ident, "ABC101", &error));
  g_assert_no_error (error);
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, by_ident, ident));
  back = postfix_registration_read (fx->reg_dir, "ABC101", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->envid, ==, "i1");
  /* Bound from this transaction: the ident stays (Ident: with Queue-Id:). */
  g_assert_cmpstr (back->ident, ==, ident);
  g_clear_pointer (&back, postfix_registration_free);
  /* A new message under that queue id (smtpd's "client=" line): the registration is
   * kept for the line of its own transaction (a follower re-reading it), set aside for
   * another ident or none (a discarded transaction's binding, or a reused queue id), and
   * current again when its own line is read again (a restart re-reading the log). */
  g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC101", ident, &done,
                                                    &error));
  g_assert_no_error (error);
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
  g_assert_true (postfix_registration_exists (fx->reg_dir, "ABC101"));
  g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC101", other, &done,
                                                    &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_SET_ASIDE);
  g_assert_false (postfix_registration_exists (fx->reg_dir, "ABC101"));
  g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC101", NULL, &done, &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
  g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC101", ident, &done,
                                                    &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_RESTORED);
  back = postfix_registration_read (fx->reg_dir, "ABC101", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->ident, ==, ident);
  g_clear_pointer (&back, postfix_registration_free);
  /* A line without ident sets it aside too; an expired set-aside file is swept. */
  g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC101", NULL, &done, &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_SET_ASIDE);
  g_assert_false (postfix_registration_exists (fx->reg_dir, "ABC101"));
  g_assert_cmpuint (postfix_registration_expire (fx->reg_dir, 199), ==, 0);
  g_assert_cmpuint (postfix_registration_expire (fx->reg_dir, 200), ==, 1);
  g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC101", ident, &done,
                                                    &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
  g_assert_false (postfix_registration_exists (fx->reg_dir, "ABC101"));
  {
    g_autoptr (PostfixRegistration) plain = postfix_registration_new ("ABC104", "i2", B1, 100,
                                                                       200);

    /* Without Ident: (by Message-ID, by queue id without XFORWARD, derived): for a line
     * without ident it cannot be told from the new message's own, and stays; a line
     * with an ident is another transaction's: removed (nothing to set aside under). */
    g_assert_true (postfix_registration_add_rcpt (plain, "a@test.example", NULL, NULL, &error));
    g_assert_true (postfix_registration_write (fx->reg_dir, plain, &error));
    g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC104", NULL, &done,
                                                      &error));
    g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
    g_assert_true (postfix_registration_exists (fx->reg_dir, "ABC104"));
    g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC104", other, &done,
                                                      &error));
    g_assert_cmpint (done, ==, POSTFIX_CURRENT_SET_ASIDE);
    g_assert_false (postfix_registration_exists (fx->reg_dir, "ABC104"));
  }
  /* An ident of the wrong shape counts as none; a bad queue id is an error. */
  g_assert_false (postfix_registration_make_current (fx->reg_dir, "ABC/1", ident, &done, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  /* Bound once: a content filter's re-injection logs the same orig_queue_id. */
  g_assert_false (
      postfix_registration_claim_pending (fx->reg_dir, by_ident, ident, "ABC102", &error));
  g_assert_no_error (error);

  /* A front killed after journaling it, the machine up: not restored (the follower bound
   * it above; had it not, its file would still be there: a killed process loses none of
   * its writes), since the front journals no queue id by ident to tell a replay so.
   * (Without a boot id to read, every journal is an earlier boot's: restored.) */
  front_dies_after_journal (fx->reg_dir, FALSE, pend, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 1);
  g_assert_no_error (error);
  if (g_file_test ("/proc/sys/kernel/random/boot_id", G_FILE_TEST_EXISTS))
    g_assert_false (postfix_registration_pending_exists (fx->reg_dir, by_ident, ident));
  else
    g_test_message ("no /proc/sys/kernel/random/boot_id: the same-boot case not tried");
  postfix_registration_drop_pending (fx->reg_dir, by_ident, ident);
  /* The same after a power cut (the journal of an earlier boot: the file may be lost):
   * restored under its ident. */
  front_dies_after_journal (fx->reg_dir, TRUE, pend, NULL);
  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, by_ident, ident));

  /* One that never binds (Postfix died before its "client=" line, or its transaction
   * failed after the pending write and the front could not drop it): swept by the
   * follower's expiry, at POSTFIX_REGISTRATION_PENDING_MAX_AGE and not before. */
  old.actime = old.modtime = now - POSTFIX_REGISTRATION_PENDING_MAX_AGE;
  g_assert_cmpint (g_utime (path, &old), ==, 0);
  postfix_registration_expire (fx->reg_dir, now);
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, by_ident, ident));
  old.actime = old.modtime = now - POSTFIX_REGISTRATION_PENDING_MAX_AGE - 1;
  g_assert_cmpint (g_utime (path, &old), ==, 0);
  postfix_registration_expire (fx->reg_dir, now);
  g_assert_false (postfix_registration_pending_exists (fx->reg_dir, by_ident, ident));

  /* An ident that is not one names no file. */
  g_assert_false (
      postfix_registration_claim_pending (fx->reg_dir, by_ident, "msgtrk-..", "ABC103", &error));
  g_assert_no_error (error);
}

#define LINE_SENT                                                                              \
  "Dec 04 21:36:14 mx postfix/smtp[1]: ABCDEF123: to=<a@test.example>, "                       \
  "relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent "         \
  "(250 2.0.0 Ok: queued as 4XYZ)"

/* RCPT TO addresses that Postfix logs in another form (its external form, seen with
 * Postfix 3.7.11): quotes that the local part does not need are dropped, a source route
 * is dropped; quotes it needs stay; "ALICE@TEST.example" and "\"alice\"@test.example" in
 * one message are two recipients, each with its own line (an exact match first). */
static void
test_rcpt_as_logged (Fixture      *fx,
                     gconstpointer data)
{
  const char *rcpts[] = { "\"alice\"@test.example", "@route.example:x@ok.test.example",
                          "\"a b\"@ok.test.example", "ALICE@TEST.example", NULL };
  const char *lines[] = {
    "Dec 05 17:31:10 mx postfix/virtual[9]: ABCDEF123: to=<alice@test.example>, relay=virtual, "
    "delay=0.02, delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (delivered to maildir)",
    "Dec 05 17:31:10 mx postfix/smtp[8]: ABCDEF123: to=<x@ok.test.example>, "
    "relay=127.0.0.1[127.0.0.1]:54097, delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, "
    "status=sent (250 2.0.0 Ok: queued as SINK1)",
    "Dec 05 17:31:10 mx postfix/smtp[8]: ABCDEF123: to=<\"a b\"@ok.test.example>, "
    "relay=127.0.0.1[127.0.0.1]:54097, delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, "
    "status=sent (250 2.0.0 Ok: queued as SINK1)",
    "Dec 05 17:31:10 mx postfix/virtual[9]: ABCDEF123: to=<ALICE@TEST.example>, relay=virtual, "
    "delay=0.02, delays=0.01/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
  };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (MsgtrkReport) r = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
    apply_line (fx, reg, lines[i]);
  r = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, 4);
  g_assert_nonnull (find_entry (r, "alice@test.example", "\"alice\"@test.example"));
  g_assert_nonnull (find_entry (r, "x@ok.test.example", "@route.example:x@ok.test.example"));
  g_assert_nonnull (find_entry (r, "\"a b\"@ok.test.example", "\"a b\"@ok.test.example"));
  g_assert_nonnull (find_entry (r, "ALICE@TEST.example", "ALICE@TEST.example"));

  /* The logged forms of a registration read back (made once per recipient, when read):
   * exact before case-blind. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (PostfixRegistration) back = NULL;

    g_assert_true (postfix_registration_write (fx->reg_dir, reg, &error));
    g_assert_no_error (error);
    back = postfix_registration_read (fx->reg_dir, "ABCDEF123", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (postfix_registration_find (back, "alice@test.example")->registered, ==,
                     "\"alice\"@test.example");
    g_assert_cmpstr (postfix_registration_find (back, "ALICE@TEST.example")->registered, ==,
                     "ALICE@TEST.example");
    g_assert_cmpstr (postfix_registration_find (back, "Alice@Test.example")->registered, ==,
                     "\"alice\"@test.example");
    g_assert_cmpstr (postfix_registration_find (back, "x@ok.test.example")->registered, ==,
                     "@route.example:x@ok.test.example");
    g_assert_null (postfix_registration_find (back, "bob@test.example"));
  }
}

/* A bare RCPT TO local part that is no dot-atom ("taro.@docomo.ne.jp", "a..b@x": the
 * front takes them as bare mailboxes, Postfix's smtpd too) is logged quoted in Postfix's
 * external form (to=<"taro."@...>, seen with 3.7.11). Its line finds its recipient, and
 * when another recipient of the message expires, one that was delivered is not reported
 * failed (session 20 review: both were lost, then reported failed). */
static void
test_rcpt_as_logged_quoted (Fixture      *fx,
                            gconstpointer data)
{
  const char *rcpts[] = { "taro.@docomo.test", "a..b@test.example", "slow@c.example", NULL };
  const char *lines[] = {
    "Dec 05 17:31:10 mx postfix/smtp[8]: ABCDEF123: to=<\"taro.\"@docomo.test>, "
    "relay=mx.docomo.test[192.0.2.9]:25, delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, "
    "status=sent (250 2.0.0 Ok)",
    "Dec 05 17:31:10 mx postfix/virtual[9]: ABCDEF123: to=<\"a..b\"@test.example>, relay=virtual, "
    "delay=0.02, delays=0.01/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
    "Dec 05 17:31:10 mx postfix/smtp[8]: ABCDEF123: to=<slow@c.example>, "
    "relay=mx.c.example[192.0.2.10]:25, delay=1, delays=0.01/0.01/0/1, dsn=4.3.0, "
    "status=deferred (host mx.c.example[192.0.2.10] said: 451 4.3.0 later (in reply to RCPT TO command))",
    "Dec 06 17:31:10 mx postfix/qmgr[7]: ABCDEF123: from=<s@test.example>, status=expired, "
    "returned to sender",
  };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (MsgtrkReport) r = NULL;
  MsgtrkRecipientReport *e;

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
    apply_line (fx, reg, lines[i]);
  r = load (fx);
  for (guint i = 0; i < msgtrk_report_get_recipients (r)->len; i++)
    {
      MsgtrkRecipientReport *x = g_ptr_array_index (msgtrk_report_get_recipients (r), i);

      g_test_message ("entry %s / %s: action %d status %s",
                      msgtrk_recipient_report_get_final_recipient (x),
                      msgtrk_recipient_report_get_original_recipient (x),
                      msgtrk_recipient_report_get_action (x),
                      msgtrk_recipient_report_get_status (x));
    }
  e = find_entry (r, "\"taro.\"@docomo.test", "taro.@docomo.test");
  g_assert_nonnull (e);
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_RELAYED);
  e = find_entry (r, "\"a..b\"@test.example", "a..b@test.example");
  g_assert_nonnull (e);
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_DELIVERED);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, 3);
}

/* RCPT TO local parts the front takes (its path parser checks only the framing) that
 * Postfix 3.7.11 reads with its RFC 822 tokenizer and logs in another form (each seen in
 * a private Postfix's log): <"a"."b"@x> as to=<a.b@x>, <a."b c"@x> as to=<"a.b c"@x>,
 * <a\b@x> as to=<ab@x>, <"a<TAB>b"@x> as to=<"a b"@x>. Each line finds its recipient
 * (else it never got its status; session 20 review). */
static void
test_rcpt_as_logged_mixed (Fixture      *fx,
                           gconstpointer data)
{
  static const struct
  {
    const char *rcpt;
    const char *logged;
  } cases[] = {
    { "\"a\".\"b\"@ok.test.example", "a.b@ok.test.example" },
    { "a.\"b c\"@ok.test.example", "\"a.b c\"@ok.test.example" },
    { "a\\b@ok.test.example", "ab@ok.test.example" },
    { "\"a\tb\"@ok.test.example", "\"a b\"@ok.test.example" },
  };
  gboolean ok = TRUE;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *rcpts[] = { cases[i].rcpt, NULL };
      g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
      const PostfixRegRcpt *r = postfix_registration_find (reg, cases[i].logged);

      if (r == NULL)
        {
          g_test_message ("RCPT TO:<%s> logged to=<%s>: not found", cases[i].rcpt,
                          cases[i].logged);
          ok = FALSE;
        }
    }
  g_assert_true (ok);
}

static void
test_replay (Fixture      *fx,
             gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (MsgtrkReport) r = NULL;
  MsgtrkRecipientReport *e;

  /* The sequence, then the same sequence again (a restart re-reads from the position). */
  for (guint round = 0; round < 2; round++)
    {
      apply_line (fx, reg, LINE_DEFERRED);
      apply_line (fx, reg, LINE_SENT);
    }
  r = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, 1);
  e = find_entry (r, "a@test.example", "a@test.example");
  g_assert_nonnull (e);
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_RELAYED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (e), ==, "2.1.9");
  g_assert_cmpstr (msgtrk_recipient_report_get_remote_mta (e), ==, "mx.b.example");
  g_assert_cmpstr (msgtrk_recipient_report_get_diagnostic_code (e), ==,
                   "smtp; 250 2.0.0 Ok: queued as 4XYZ");
}

/* The clock set back across a restart: the stored record's version (written an hour
 * "later" by the clock of the time) is ahead of the clock. The next line is still stored:
 * its write's version is above the loaded one, not the clock's. */
static void
test_clock_back (Fixture      *fx,
                 gconstpointer data)
{
  /* Live by the real clock (the store writes over an expired record whatever its
   * version). */
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 86400;
  g_autoptr (PostfixRegistration) reg =
    postfix_registration_new ("ABCDEF123", "env1@test.example", B1, NOW, expires);
  g_autoptr (MsgtrkReport) deferred = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  g_autoptr (GError) error = NULL;
  gint64 version = 0;

  g_assert_true (postfix_registration_add_rcpt (reg, "a@test.example", NULL, NULL, NULL));
  apply_line (fx, reg, LINE_DEFERRED);
  deferred = track_store_load (fx->store, "env1@test.example", NULL, NULL, &version, &error);
  g_assert_no_error (error);
  g_assert_cmpint (version, >, 0);
  g_assert_true (track_store_put_versioned (fx->store, "env1@test.example", B1, expires,
                                            version + (gint64) 3600 * G_USEC_PER_SEC, deferred,
                                            &error));
  g_assert_no_error (error);
  apply_line (fx, reg, LINE_SENT);
  r = load (fx);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "a@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_RELAYED);
}

static void
test_transferred (Fixture      *fx,
                  gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_auto (GStrv) hops = g_strsplit ("other.example,MX.B.EXAMPLE", ",", -1);
  g_autoptr (MsgtrkReport) r = NULL;

  fx->track.mtrk_next_hops = hops;
  apply_line (fx, reg, LINE_SENT);
  fx->track.mtrk_next_hops = NULL;
  r = load (fx);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "a@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_TRANSFERRED);
}

/* A next hop in mtrk_next_hops on a loopback address whose reply names its own queue id
 * (msgtrk-relay's "queued as" 22 hex digits look like a Postfix queue id): transferred,
 * not followed as a content filter's re-queue (real Postfix 3.7.11 line, from
 * postfix-follower-real). */
static void
test_transferred_loopback (Fixture      *fx,
                           gconstpointer data)
{
  const char *rcpts[] = { "t@mtrk.test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("E6687AA64B2", B1, rcpts);
  g_auto (GStrv) hops = g_strsplit ("127.0.0.2", ",", -1);
  g_autoptr (PostfixRegistration) child = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  MsgtrkRecipientReport *e;

  fx->track.mtrk_next_hops = hops;
  apply_line (fx, reg,
              "Dec 05 16:39:25 mx postfix-msgtrk-test/smtp[4844]: E6687AA64B2: "
              "to=<t@mtrk.test.example>, relay=127.0.0.2[127.0.0.2]:40385, delay=0.01, "
              "delays=0/0.01/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
              "00018C2F3A4B5C6D7E8F90)");
  fx->track.mtrk_next_hops = NULL;
  r = load (fx);
  e = find_entry (r, "t@mtrk.test.example", "t@mtrk.test.example");
  g_assert_nonnull (e);
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_TRANSFERRED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (e), ==, "2.0.0");
  g_assert_cmpstr (msgtrk_recipient_report_get_remote_mta (e), ==, "127.0.0.2");
  child = postfix_registration_read (fx->reg_dir, "00018C2F3A4B5C6D7E8F90", NULL);
  g_assert_null (child);
}

static void
test_content_filter (Fixture      *fx,
                     gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) child = NULL;
  g_autoptr (MsgtrkReport) r1 = NULL;
  g_autoptr (MsgtrkReport) r2 = NULL;

  apply_line (fx, reg,
              "Dec 04 21:35:14 mx postfix/smtp[1]: ABCDEF123: to=<a@test.example>, "
              "relay=127.0.0.1[127.0.0.1]:10025, delay=0.04, delays=0/0/0/0, dsn=2.0.0, "
              "status=sent (250 2.0.0 Ok: queued as A3B58A7450A)");
  r1 = load (fx);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r1, "a@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_RELAYED);
  child = postfix_registration_read (fx->reg_dir, "A3B58A7450A", NULL);
  g_assert_nonnull (child);
  g_assert_cmpstr (child->parent, ==, "ABCDEF123");
  apply_line (fx, child,
              "Dec 04 21:35:14 mx postfix/virtual[2]: A3B58A7450A: to=<a@test.example>, "
              "relay=virtual, delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered "
              "to maildir)");
  /* A restart replays the parent's line after the child's outcome: no interim entry. */
  apply_line (fx, reg,
              "Dec 04 21:35:14 mx postfix/smtp[1]: ABCDEF123: to=<a@test.example>, "
              "relay=127.0.0.1[127.0.0.1]:10025, delay=0.04, delays=0/0/0/0, dsn=2.0.0, "
              "status=sent (250 2.0.0 Ok: queued as A3B58A7450A)");
  r2 = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r2)->len, ==, 1);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r2, "a@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_DELIVERED);
}

/* A content filter reached by LMTP on a UNIX-domain socket (lmtp:unix:private/amavis,
 * logged "relay=host[private/amavis]") is this host's: its "queued as" is followed, the
 * recipient relayed, not delivered. A local LMTP server (Dovecot on a socket) that echoes
 * a recipient holding "queued as ID" before its own text names no queue id: delivered,
 * nothing followed (session 20 review). */
static void
test_content_filter_unix (Fixture      *fx,
                          gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", "x queued as ABCDEF0123@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF124", B1, rcpts);
  g_autoptr (PostfixRegistration) child = NULL;
  g_autoptr (PostfixRegistration) forged = NULL;
  g_autoptr (MsgtrkReport) r = NULL;

  apply_line (fx, reg,
              "Dec 04 21:35:14 mx postfix/lmtp[1]: ABCDEF124: to=<a@test.example>, "
              "relay=mx.test.example[private/amavis], delay=0.04, delays=0/0/0/0, "
              "dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 "
              "2.0.0 Ok: queued as A3B58A7450B)");
  apply_line (fx, reg,
              "Dec 04 21:35:14 mx postfix/lmtp[1]: ABCDEF124: to=<\"x queued as "
              "ABCDEF0123\"@test.example>, relay=mx.test.example[private/dovecot-lmtp], "
              "delay=0.04, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 <\"x queued as "
              "ABCDEF0123\"@test.example> Bs4XAK1X2U8AAAA Saved)");
  r = load (fx);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "a@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_RELAYED);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "\"x queued as ABCDEF0123\"@test.example",
                                 "x queued as ABCDEF0123@test.example")),
                   ==, MSGTRK_ACTION_DELIVERED);
  child = postfix_registration_read (fx->reg_dir, "A3B58A7450B", NULL);
  g_assert_nonnull (child);
  g_assert_cmpstr (child->parent, ==, "ABCDEF124");
  forged = postfix_registration_read (fx->reg_dir, "ABCDEF0123", NULL);
  g_assert_null (forged);
}

/* A content filter taking a and b in one transaction (one copy, A3B58A7450A, two legs):
 * the copy's line for b comes after the parent's line for a (the child registered with
 * the leg a only) and before the parent's line for b. It must not be taken as "no such
 * recipient" and dropped: it is refused as not yet applicable (MSGTRK_ERROR_NOT_FOUND, the
 * follower holds it), and applied once the parent's line has added the leg. */
static void
test_content_filter_late_leg (Fixture      *fx,
                              gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", "b@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) child = NULL;
  g_autoptr (PostfixRegistration) child2 = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  g_auto (PostfixLogEntry) e = { 0 };
  g_autoptr (GError) error = NULL;
  const char *copy_b = "Dec 04 21:35:15 mx postfix/smtp[3]: A3B58A7450A: to=<b@test.example>, "
                       "relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, "
                       "status=bounced (host mx.b.example[192.0.2.2] said: 550 5.1.1 no such "
                       "user (in reply to RCPT TO command))";

  apply_line (fx, reg,
              "Dec 04 21:35:14 mx postfix/smtp[1]: ABCDEF123: to=<a@test.example>, "
              "relay=127.0.0.1[127.0.0.1]:10025, delay=0.04, delays=0/0/0/0, dsn=2.0.0, "
              "status=sent (250 2.0.0 Ok: queued as A3B58A7450A)");
  child = postfix_registration_read (fx->reg_dir, "A3B58A7450A", NULL);
  g_assert_nonnull (child);
  g_assert_null (postfix_registration_find (child, "b@test.example"));
  /* The next poll: the copy's line for b, then the parent's. */
  postfix_log_parse (copy_b, strlen (copy_b), NOW, &e);
  g_assert_false (postfix_track_apply (&fx->track, child, &e, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND);
  g_clear_error (&error);
  apply_line (fx, reg,
              "Dec 04 21:35:14 mx postfix/smtp[1]: ABCDEF123: to=<b@test.example>, "
              "relay=127.0.0.1[127.0.0.1]:10025, delay=0.04, delays=0/0/0/0, dsn=2.0.0, "
              "status=sent (250 2.0.0 Ok: queued as A3B58A7450A)");
  child2 = postfix_registration_read (fx->reg_dir, "A3B58A7450A", NULL);
  g_assert_nonnull (postfix_registration_find (child2, "b@test.example"));
  apply_line (fx, child2, copy_b); /* held, applied at the pass after */
  r = load (fx);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "b@test.example", "b@test.example")),
                   ==, MSGTRK_ACTION_FAILED);
}

/* A derived queue id with @legs legs already (another recipient's each), written. */
static void
write_child (Fixture    *fx,
             const char *qid,
             guint       legs)
{
  g_autoptr (PostfixRegistration) child = postfix_registration_new (qid, "env1@test.example",
                                                                     B1, NOW, NOW + 86400);
  g_autoptr (GError) error = NULL;

  child->parent = g_strdup ("ABCDEF123");
  for (guint i = 0; i < legs; i++)
    {
      g_autofree char *a = g_strdup_printf ("m%04u@test.example", i);

      g_assert_true (postfix_registration_add_rcpt (child, a, NULL, NULL, NULL));
    }
  g_assert_true (postfix_registration_write (fx->reg_dir, child, &error));
  g_assert_no_error (error);
}

#define FORWARDED(qid)                                                                             \
  "Dec 04 21:35:14 mx postfix/local[3]: ABCDEF123: to=<a@test.example>, relay=local, "           \
  "delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent (forwarded as " qid ")"

/* A leg that would take its derived registration past POSTFIX_REGISTRATION_MAX_RCPTS: at
 * the limit the leg is added (the interim entry); one past, the recipient's entry says
 * its expansion is not tracked in full, the child is left as it was, a replay changes
 * nothing. */
static void
test_child_overflow (Fixture      *fx,
                     gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) at = NULL;
  g_autoptr (PostfixRegistration) past = NULL;
  g_autoptr (MsgtrkReport) r1 = NULL;
  g_autoptr (MsgtrkReport) r2 = NULL;
  g_autoptr (MsgtrkReport) r3 = NULL;
  MsgtrkRecipientReport *e;

  write_child (fx, "C0FFEE001", POSTFIX_REGISTRATION_MAX_RCPTS - 1);
  apply_line (fx, reg, FORWARDED ("C0FFEE001"));
  at = postfix_registration_read (fx->reg_dir, "C0FFEE001", NULL);
  g_assert_cmpuint (at->rcpts->len, ==, POSTFIX_REGISTRATION_MAX_RCPTS);
  r1 = load (fx);
  e = find_entry (r1, "a@test.example", "a@test.example");
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_EXPANDED);
  g_assert_false (g_str_has_suffix (msgtrk_recipient_report_get_field (e, "Diagnostic-Code"),
                                    "not tracked"));

  write_child (fx, "C0FFEE002", POSTFIX_REGISTRATION_MAX_RCPTS);
  apply_line (fx, reg, FORWARDED ("C0FFEE002"));
  past = postfix_registration_read (fx->reg_dir, "C0FFEE002", NULL);
  g_assert_cmpuint (past->rcpts->len, ==, POSTFIX_REGISTRATION_MAX_RCPTS);
  g_assert_null (postfix_registration_find (past, "a@test.example"));
  r2 = load (fx);
  e = find_entry (r2, "a@test.example", "a@test.example");
  g_assert_nonnull (e);
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_EXPANDED);
  g_assert_true (g_str_has_suffix (msgtrk_recipient_report_get_field (e, "Diagnostic-Code"),
                                   "not tracked"));
  g_assert_nonnull (strstr (msgtrk_recipient_report_get_field (e, "Diagnostic-Code"),
                            "C0FFEE002"));
  apply_line (fx, reg, FORWARDED ("C0FFEE002"));
  r3 = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r3)->len, ==,
                    msgtrk_report_get_recipients (r2)->len);
}

/* The overflow mark of an entry: its extension field, NULL when not a mark. */
static const char *
mark_of (MsgtrkRecipientReport *e)
{
  return e != NULL ? msgtrk_recipient_report_get_field (e, "X-Msgtrk-Untracked-Past") : NULL;
}

/* How many entries of @r are overflow marks. */
static guint
count_marks (MsgtrkReport *r)
{
  GPtrArray *all = msgtrk_report_get_recipients (r);
  guint n = 0;

  for (guint i = 0; i < all->len; i++)
    if (mark_of (g_ptr_array_index (all, i)) != NULL)
      n++;
  return n;
}

/* Review 10 (finding 3): a full record (MSGTRK_REPORT_MAX_RECIPIENTS entries, one per
 * recipient) whose recipient 0 is then forwarded as a child that is full: the mark
 * replaces that recipient's own entry (pending_add counts the entry it replaces), once
 * (the line read again changes nothing). */
static void
test_review_full_overflow (Fixture      *fx,
                           gconstpointer data)
{
  g_autoptr (PostfixRegistration) reg = postfix_registration_new ("ABCDEF123", "env1@test.example", B1, NOW, NOW + 86400);
  g_autoptr (MsgtrkReport) r = NULL;
  g_autoptr (MsgtrkReport) again = NULL;
  MsgtrkRecipientReport *e;
  const char *forwarded = "Dec 04 21:35:14 mx postfix/local[3]: ABCDEF123: to=<r0000@test.example>, relay=local, delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent (forwarded as C0FFEE002)";

  fill_deferred (fx, reg, 0);
  write_child (fx, "C0FFEE002", POSTFIX_REGISTRATION_MAX_RCPTS);
  apply_line (fx, reg, forwarded);
  r = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, MSGTRK_REPORT_MAX_RECIPIENTS);
  e = find_entry (r, "r0000@test.example", "r0000@test.example");
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_EXPANDED);
  g_assert_cmpstr (mark_of (e), ==, "1000 recipients");
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "r0999@test.example", "r0999@test.example")),
                   ==, MSGTRK_ACTION_DELAYED);
  apply_line (fx, reg, forwarded);
  again = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (again)->len, ==, MSGTRK_REPORT_MAX_RECIPIENTS);
  g_assert_cmpuint (count_marks (again), ==, 1);
}

/* The line of member @i of the alias a@test.example (child C0FFEE003): @fail, bounced. */
static char *
member_line (guint    i,
             gboolean fail)
{
  return g_strdup_printf ("Dec 04 21:35:15 mx postfix/smtp[4]: C0FFEE003: to=<m%04u@test.example>, orig_to=<a@test.example>, relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=%s, status=%s (host mx.b.example[192.0.2.2] said: %s)", i, fail ? "5.1.1" : "2.0.0", fail ? "bounced" : "sent", fail ? "550 5.1.1 no such user" : "250 ok");
}

/* Review 10 (finding 4): of 1001 members #999 bounces: the member entry that gives way
 * to the mark is a reached one (#998), the bounce stays; the last lines read again (a
 * restart) change nothing; a member past the limit that bounces makes the mark
 * failed. */
static void
test_review_failed_member (Fixture      *fx,
                           gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) child = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  g_autoptr (MsgtrkReport) again = NULL;
  g_autoptr (MsgtrkReport) failed = NULL;
  MsgtrkRecipientReport *e;
  g_autofree char *bounce = member_line (MSGTRK_REPORT_MAX_RECIPIENTS + 1, TRUE);

  apply_line (fx, reg, FORWARDED ("C0FFEE003"));
  child = postfix_registration_read (fx->reg_dir, "C0FFEE003", NULL);
  g_assert_nonnull (child);
  /* Every line in one pass, then the last ones again (read again after a restart: each
   * apply_line a pass of its own, the record loaded from the store). */
  for (guint pass = 0; pass < 2; pass++)
    {
      if (pass == 0)
        pass_begin (fx);
      for (guint i = pass == 0 ? 0 : MSGTRK_REPORT_MAX_RECIPIENTS - 10;
           i <= MSGTRK_REPORT_MAX_RECIPIENTS; i++)
        {
          g_autofree char *line = member_line (i, i == MSGTRK_REPORT_MAX_RECIPIENTS - 1);

          apply_line (fx, child, line);
        }
      if (pass == 0)
        {
          pass_end (fx);
          r = load (fx);
        }
    }
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, MSGTRK_REPORT_MAX_RECIPIENTS);
  e = find_entry (r, "m0999@test.example", "a@test.example");
  g_assert_nonnull (e);
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_FAILED);
  g_assert_null (find_entry (r, "m0998@test.example", "a@test.example"));
  e = find_entry (r, "a@test.example", "a@test.example");
  g_assert_cmpstr (mark_of (e), ==, "1000 recipients");
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_EXPANDED);
  g_assert_cmpuint (count_marks (r), ==, 1);

  again = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (again)->len, ==, MSGTRK_REPORT_MAX_RECIPIENTS);
  g_assert_cmpuint (count_marks (again), ==, 1);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (again, "m0999@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_FAILED);

  apply_line (fx, child, bounce);
  apply_line (fx, child, bounce);
  failed = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (failed)->len, ==, MSGTRK_REPORT_MAX_RECIPIENTS);
  g_assert_null (find_entry (failed, "m1001@test.example", "a@test.example"));
  e = find_entry (failed, "a@test.example", "a@test.example");
  g_assert_cmpstr (mark_of (e), ==, "1000 recipients");
  g_assert_cmpint (msgtrk_recipient_report_get_action (e), ==, MSGTRK_ACTION_FAILED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (e), ==, "5.1.1");
  g_assert_true (g_str_has_suffix (msgtrk_recipient_report_get_field (e, "Diagnostic-Code"),
                                   "not tracked; at least one of them failed"));
  g_assert_cmpuint (count_marks (failed), ==, 1);
}

/* Review 10 (finding 6): a member whose remote reply ends as a mark's Diagnostic-Code
 * did is not taken for a mark. The alias a (a member of its own) is deferred with that
 * text, the record is then filled, and a member's line past it replaces a's entry (the
 * alias's, not a mark), not dropped as if a mark stood for it. */
static void
test_mark_not_text (Fixture      *fx,
                    gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) child = NULL;
  g_autoptr (MsgtrkReport) r = NULL;

  apply_line (fx, reg, FORWARDED ("C0FFEE004"));
  child = postfix_registration_read (fx->reg_dir, "C0FFEE004", NULL);
  g_assert_nonnull (child);
  apply_line (fx, child, "Dec 04 21:35:15 mx postfix/smtp[4]: C0FFEE004: to=<a@test.example>, orig_to=<a@test.example>, relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=4.0.0, status=deferred (host mx.b.example[192.0.2.2] said: 450 those past it are not tracked)");
  fill_deferred (fx, reg, 1);
  apply_line (fx, child, "Dec 04 21:35:16 mx postfix/smtp[4]: C0FFEE004: to=<m0000@test.example>, orig_to=<a@test.example>, relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
  r = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, MSGTRK_REPORT_MAX_RECIPIENTS);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "m0000@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_RELAYED);
  g_assert_cmpuint (count_marks (r), ==, 0);
}

/* Review 10 (finding 7): a leg that would take its derived registration past
 * POSTFIX_REGISTRATION_MAX_SIZE (fewer than POSTFIX_REGISTRATION_MAX_RCPTS legs, long
 * addresses): the mark gives that limit, not the record's. */
static void
test_child_overflow_size (Fixture      *fx,
                          gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) child = postfix_registration_new ("C0FFEE005", "env1@test.example", B1, NOW, NOW + 86400);
  g_autoptr (MsgtrkReport) r = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *local = g_strnfill (60, 'l');
  g_autofree char *domain = g_strnfill (180, 'd');
  MsgtrkRecipientReport *e;
  g_autofree char *expected = g_strdup_printf ("%d octets", POSTFIX_REGISTRATION_MAX_SIZE);
  gsize a_size = postfix_registration_rcpt_size ("a@test.example", NULL, NULL);

  child->parent = g_strdup ("ABCDEF123");
  for (guint i = 0;; i++)
    {
      g_autofree char *a = g_strdup_printf ("%s%04u@%s.example", local, i, domain);
      g_autofree char *orcpt = g_strdup_printf ("rfc822;%s", a);
      g_autofree char *text = postfix_registration_format (child);
      gsize next = postfix_registration_rcpt_size (a, a, orcpt);

      if (strlen (text) + next > POSTFIX_REGISTRATION_MAX_SIZE)
        break;
      g_assert_true (postfix_registration_add_rcpt (child, a, a, orcpt, NULL));
    }
  /* Then short legs (shorter than a's) while they fit: a's does not. */
  for (guint i = 0;; i++)
    {
      g_autofree char *a = g_strdup_printf ("x%u@t.ex", i);
      g_autofree char *text = postfix_registration_format (child);

      g_assert_cmpuint (postfix_registration_rcpt_size (a, NULL, NULL), <, a_size);
      if (strlen (text) + postfix_registration_rcpt_size (a, NULL, NULL)
          > POSTFIX_REGISTRATION_MAX_SIZE)
        break;
      g_assert_true (postfix_registration_add_rcpt (child, a, NULL, NULL, NULL));
    }
  g_assert_cmpuint (child->rcpts->len, <, POSTFIX_REGISTRATION_MAX_RCPTS);
  g_assert_true (postfix_registration_write (fx->reg_dir, child, &error));
  g_assert_no_error (error);
  apply_line (fx, reg, FORWARDED ("C0FFEE005"));
  r = load (fx);
  e = find_entry (r, "a@test.example", "a@test.example");
  g_assert_cmpstr (mark_of (e), ==, expected);
  g_assert_nonnull (strstr (msgtrk_recipient_report_get_field (e, "Diagnostic-Code"), expected));
  g_assert_null (strstr (msgtrk_recipient_report_get_field (e, "Diagnostic-Code"), "(1000"));
}

static void
test_expired (Fixture      *fx,
              gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", "b@test.example", "c@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (MsgtrkReport) r = NULL;
  MsgtrkRecipientReport *a, *b, *c;

  apply_line (fx, reg, LINE_DEFERRED);
  apply_line (fx, reg,
              "Dec 04 21:35:14 mx postfix/virtual[2]: ABCDEF123: to=<b@test.example>, "
              "relay=virtual, delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered "
              "to maildir)");
  apply_line (fx, reg,
              "Dec 04 21:40:00 mx postfix/qmgr[3]: ABCDEF123: from=<s@test.example>, "
              "status=expired, returned to sender");
  r = load (fx);
  a = find_entry (r, "a@test.example", "a@test.example");
  b = find_entry (r, "b@test.example", "b@test.example");
  c = find_entry (r, "c@test.example", "c@test.example");
  g_assert_cmpint (msgtrk_recipient_report_get_action (a), ==, MSGTRK_ACTION_FAILED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (a), ==, "4.3.0");
  g_assert_cmpstr (msgtrk_recipient_report_get_diagnostic_code (a), ==, "smtp; 451 4.3.0 later");
  g_assert_cmpint (msgtrk_recipient_report_get_action (b), ==, MSGTRK_ACTION_DELIVERED);
  g_assert_cmpint (msgtrk_recipient_report_get_action (c), ==, MSGTRK_ACTION_FAILED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (c), ==, "4.4.7");
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, 3);
}

static void
test_other_owner (Fixture      *fx,
                  gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) mine = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) theirs = make_reg ("ABCDEF124", B2, rcpts);
  g_auto (PostfixLogEntry) e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = NULL;

  apply_line (fx, mine, LINE_DEFERRED);
  postfix_log_parse (LINE_SENT, strlen (LINE_SENT), NOW, &e);
  g_assert_false (postfix_track_apply (&fx->track, theirs, &e, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  r = load (fx);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "a@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_DELAYED);
}

/* Skip-Queue-Id: the queue ids of untracked messages with the same Message-ID the
 * front passed just before; never bound to the pending registration; at most
 * POSTFIX_REGISTRATION_MAX_SKIP lines (one more: malformed). */
static void
test_pending_skip (Fixture      *fx,
                   gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PostfixRegistration) pend = postfix_registration_new (NULL, "s1", B1, 100, 200);
  g_autoptr (PostfixRegistration) back = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("Pending registrations: Skip-Queue-Id never bound, at most the limit");
  pend->message_id = g_strdup ("skip@test.example");
  g_ptr_array_add (pend->skip, g_strdup ("AAA111"));
  g_assert_true (postfix_registration_add_rcpt (pend, "a@test.example", NULL, NULL, &error));
  text = postfix_registration_format (pend);
  g_assert_nonnull (strstr (text, "Skip-Queue-Id: AAA111\n"));
  back = postfix_registration_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->skip->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (back->skip, 0), ==, "AAA111");
  g_clear_pointer (&back, postfix_registration_free);

  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, pend, NULL, &error));
  g_assert_false (postfix_registration_claim_pending (fx->reg_dir, BY_MID, "skip@test.example",
                                                      "AAA111", &error));
  g_assert_no_error (error);
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, BY_MID, "skip@test.example"));
  g_assert_false (postfix_registration_exists (fx->reg_dir, "AAA111"));
  g_assert_true (postfix_registration_claim_pending (fx->reg_dir, BY_MID, "skip@test.example",
                                                     "BBB222", &error));
  g_assert_no_error (error);
  back = postfix_registration_read (fx->reg_dir, "BBB222", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->envid, ==, "s1");
  g_assert_cmpuint (back->skip->len, ==, 0);
  g_clear_pointer (&back, postfix_registration_free);

  /* At the limit: parsed; one more: malformed. */
  for (guint i = pend->skip->len; i < POSTFIX_REGISTRATION_MAX_SKIP; i++)
    g_ptr_array_add (pend->skip, g_strdup_printf ("CCC%03u", i));
  g_clear_pointer (&text, g_free);
  text = postfix_registration_format (pend);
  back = postfix_registration_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->skip->len, ==, POSTFIX_REGISTRATION_MAX_SKIP);
  g_clear_pointer (&back, postfix_registration_free);
  g_ptr_array_add (pend->skip, g_strdup ("DDD999"));
  g_clear_pointer (&text, g_free);
  text = postfix_registration_format (pend);
  back = postfix_registration_parse (text, strlen (text), &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_null (back);
}

/* Two pending registrations with one ENVID and arrival second in a dead front's journal
 * (a client sending one message twice at once), the first one's queue id journaled, the
 * second's not (the front died before Postfix's 250): the second's pending file stays. */
static void
test_recover_pending_same_envid (Fixture      *fx,
                                 gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PostfixRegistration) p1 = postfix_registration_new (NULL, "same", B1, 100, 200);
  g_autoptr (PostfixRegistration) p2 = postfix_registration_new (NULL, "same", B1, 100, 200);
  g_autoptr (PostfixRegistration) q1 = postfix_registration_new ("ABC201", "same", B1, 100, 200);
  g_autofree char *i1 = postfix_registration_ident_new ();
  g_autofree char *i2 = postfix_registration_ident_new ();
  g_autofree char *t1 = NULL;
  g_autofree char *t2 = NULL;
  g_autofree char *t3 = NULL;
  pid_t pid;
  int status = 0;

  g_test_summary ("Recovery keeps the pending file of a registration whose queue id was not "
                  "journaled, beside another with the same ENVID and arrival");
  p1->ident = g_strdup (i1);
  p2->ident = g_strdup (i2);
  q1->ident = g_strdup (i1);
  g_assert_true (postfix_registration_add_rcpt (p1, "a@test.example", NULL, NULL, &error));
  g_assert_true (postfix_registration_add_rcpt (p2, "a@test.example", NULL, NULL, &error));
  g_assert_true (postfix_registration_add_rcpt (q1, "a@test.example", NULL, NULL, &error));
  /* The second's pending file is on disk (the process died, not the machine). */
  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, p2, NULL, &error));
  g_assert_no_error (error);
  t1 = postfix_registration_format (p1);
  t2 = postfix_registration_format (p2);
  t3 = postfix_registration_format (q1);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      DurableJournal *j = durable_journal_open (fx->reg_dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX,
                                                NULL);
      guint64 t = 0;

      if (j == NULL || !durable_journal_append (j, t1, strlen (t1), &t, NULL)
          || !durable_journal_append (j, t2, strlen (t2), &t, NULL)
          || !durable_journal_append (j, t3, strlen (t3), &t, NULL)
          || !durable_journal_wait (j, t, NULL))
        _exit (3);
      _exit (0);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  postfix_registration_recover (fx->reg_dir, &error);
  g_assert_no_error (error);
  g_assert_true (postfix_registration_exists (fx->reg_dir, "ABC201"));
  g_assert_true (postfix_registration_pending_exists (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, i2));
}

/* Hostile text from the log (a remote server's reply, 8-bit octets a writer other than
 * Postfix left raw, a reason filling POSTFIX_LOG_MAX_LINE) into one recipient's entry: the
 * record is written and reads back (every field within MSGTRK_REPORT_MAX_FIELD_LENGTH,
 * valid UTF-8, no control character), the other recipient's entry is still served, and
 * the hostile one has its status and a Diagnostic-Code of at most
 * POSTFIX_TRACK_MAX_DIAGNOSTIC octets. */
static void
test_hostile_text (Fixture      *fx,
                   gconstpointer data)
{
  static const char head[] = "Dec 04 21:36:14 mx postfix/smtp[1]: ABCDEF123: to=<b@test.example>, "
                             "relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, "
                             "dsn=4.2.0, status=deferred (host mx.b.example[192.0.2.2] said: 450 ";
  const char *rcpts[] = { "a@test.example", "b@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  static const struct
  {
    const char *name;
    guchar fill;
    gsize reason;
  } variants[] = {
    { "a reason filling the line limit", 'x', POSTFIX_LOG_MAX_LINE - sizeof head },
    { "8-bit octets that are no UTF-8", 0xff, 2000 },
    { "control characters", 0x01, 2000 },
    { "a lone UTF-8 lead octet at every place", 0xc3, 2000 },
  };

  apply_line (fx, reg, LINE_SENT);
  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_autoptr (GString) line = g_string_new (head);
      g_autoptr (MsgtrkReport) r = NULL;
      g_autoptr (GError) error = NULL;
      MsgtrkRecipientReport *b;
      const char *diag;

      g_test_message ("%s", variants[i].name);
      for (gsize n = 0; n < variants[i].reason; n++)
        g_string_append_c (line, (char) variants[i].fill);
      g_string_append_c (line, ')');
      g_assert_cmpuint (line->len, <=, POSTFIX_LOG_MAX_LINE);
      apply_line (fx, reg, line->str);
      r = track_store_load (fx->store, "env1@test.example", NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (r);
      g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, 2);
      g_assert_nonnull (find_entry (r, "a@test.example", "a@test.example"));
      b = find_entry (r, "b@test.example", "b@test.example");
      g_assert_nonnull (b);
      g_assert_cmpint (msgtrk_recipient_report_get_action (b), ==, MSGTRK_ACTION_DELAYED);
      g_assert_cmpstr (msgtrk_recipient_report_get_status (b), ==, "4.2.0");
      diag = msgtrk_recipient_report_get_diagnostic_code (b);
      g_assert_nonnull (diag);
      g_assert_true (g_str_has_prefix (diag, "smtp; 450"));
      g_assert_cmpuint (strlen (diag), <=, POSTFIX_TRACK_MAX_DIAGNOSTIC);
      g_assert_true (g_utf8_validate (diag, -1, NULL));
      for (const char *p = diag; *p != '\0'; p++)
        g_assert_false ((guchar) *p < 0x20 || *p == 0x7f);
    }
}

/* MSGTRK_REPORT_MAX_RECIPIENTS recipients, each with the longest reply Postfix logs
 * (its log record is cut at 2000 octets) and the longest address, ORCPT and next hop a
 * sender can choose (254, 254, 253 octets: found by review): the record is made to fit
 * TRACK_STORE_MAX_RECORD_SIZE (postfix_track_fit_record), every recipient keeping its
 * Action and Status (a record over the limit is not written: every later line of the
 * message would be dropped). At the limit it is left as is, one octet under it the
 * diagnostics are cut. */
static void
test_hostile_many (Fixture      *fx,
                   gconstpointer data)
{
  g_autofree char *local = g_strnfill (64, 'r');
  g_autofree char *label = g_strnfill (60, 'h');
  g_autofree char *tail = g_strnfill (6, 'z');
  /* 64 + 1 + 3 x 61 + 6 = 254 octets; the next hop 3 x 61 + 70 = 253 octets. */
  g_autofree char *addr = g_strdup_printf ("%s@%s.%s.%s.%s", local, label, label, label, tail);
  g_autofree char *orcpt = g_strdup_printf ("rfc822;o%s", addr + 1);
  g_autofree char *mx_tail = g_strnfill (70, 'm');
  g_autofree char *mx = g_strdup_printf ("%s.%s.%s.%s", label, label, label, mx_tail);
  g_autoptr (PostfixRegistration) reg = postfix_registration_new (
    "ABCDEF123", "env1@test.example", B1, NOW, NOW + 86400);
  g_autoptr (MsgtrkRecipientReport) entry = NULL;
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autofree char *reply = g_strnfill (2000, 'L');
  g_autofree char *fields = NULL;
  g_auto (PostfixLogEntry) e = { 0 };
  g_autofree char *line = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = NULL;

  /* One entry as the follower makes it, copied MAX_RECIPIENTS times: its size bounds the
   * record's (the records of real sites have shorter addresses). */
  g_assert_cmpuint (strlen (addr), ==, 254);
  g_assert_cmpuint (strlen (mx), ==, 253);
  line = g_strdup_printf ("Dec 04 21:36:14 mx postfix/smtp[1]: ABCDEF123: "
                          "to=<%s>, relay=%s[192.0.2.2]:25, delay=1, "
                          "delays=0/0/0/1, dsn=4.2.0, status=deferred (host "
                          "%s[192.0.2.2] said: 450-4.2.0 %s)",
                          addr, mx, mx, reply);
  g_assert_true (postfix_registration_add_rcpt (reg, addr, NULL, orcpt, NULL));
  postfix_log_parse (line, strlen (line), NOW, &e);
  g_assert_cmpint (e.kind, ==, POSTFIX_LOG_DELIVERY);
  g_assert_true (postfix_track_apply (&fx->track, reg, &e, &error));
  g_assert_no_error (error);
  r = load (fx);
  entry = g_object_ref (g_ptr_array_index (msgtrk_report_get_recipients (r), 0));
  msgtrk_report_set_envid (report, "env1@test.example");
  msgtrk_report_set_reporting_mta (report, "mx.test.example");
  for (guint i = 0; i < MSGTRK_REPORT_MAX_RECIPIENTS; i++)
    msgtrk_report_add_recipient (report, entry);
  fields = msgtrk_report_to_fields (report);
  g_test_message ("%u entries: %zu octets", MSGTRK_REPORT_MAX_RECIPIENTS, strlen (fields));
  g_assert_cmpuint (strlen (fields), >, TRACK_STORE_MAX_RECORD_SIZE);

  /* At the limit: as is; past it (one octet less allowed): the diagnostics cut first. */
  g_assert_cmpint (postfix_track_fit_record (report, strlen (fields)), ==,
                   POSTFIX_TRACK_FIT_AS_IS);
  g_assert_cmpint (postfix_track_fit_record (report, strlen (fields) - 1), ==,
                   POSTFIX_TRACK_FIT_SHORT_DIAGNOSTIC);
  g_assert_cmpuint (strlen (msgtrk_recipient_report_get_diagnostic_code (entry)), <=,
                    POSTFIX_TRACK_SHORT_DIAGNOSTIC);
  g_assert_cmpint (postfix_track_fit_record (report, TRACK_STORE_MAX_RECORD_SIZE), !=,
                   POSTFIX_TRACK_FIT_TOO_LARGE);
  g_clear_pointer (&fields, g_free);
  fields = msgtrk_report_to_fields (report);
  g_test_message ("made to fit: %zu octets", strlen (fields));
  g_assert_cmpuint (strlen (fields), <=, TRACK_STORE_MAX_RECORD_SIZE);
  g_assert_cmpint (msgtrk_recipient_report_get_action (entry), ==, MSGTRK_ACTION_DELAYED);
  g_assert_cmpstr (msgtrk_recipient_report_get_status (entry), ==, "4.2.0");

  /* Through the follower's own path: the store takes a record of such entries. */
  g_assert_true (track_store_put (fx->store, "env1@test.example", B1, NOW + 86400, report,
                                  &error));
  g_assert_no_error (error);
}

/* A line whose entry would hold a field over MSGTRK_REPORT_MAX_FIELD_LENGTH (here an
 * address of 4100 octets: a log writer other than Postfix) is not recorded
 * (MSGTRK_ERROR_LIMIT: the follower logs it and goes on); the record still reads back. */
static void
test_hostile_field_limit (Fixture      *fx,
                          gconstpointer data)
{
  g_autofree char *local = g_strnfill (4100, 'c');
  g_autofree char *longest = g_strconcat (local, "@test.example", NULL);
  const char *rcpts[] = { "a@test.example", longest, NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autofree char *line = g_strdup_printf (
    "Dec 04 21:36:14 mx postfix/smtp[1]: ABCDEF123: to=<%s>, relay=mx.b.example[192.0.2.2]:25, "
    "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
    longest);
  g_auto (PostfixLogEntry) e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = NULL;

  apply_line (fx, reg, LINE_SENT);
  g_assert_cmpint (postfix_log_parse (line, strlen (line), NOW, &e), ==, POSTFIX_LOG_DELIVERY);
  g_assert_false (postfix_track_apply (&fx->track, reg, &e, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  r = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, 1);
  g_assert_nonnull (find_entry (r, "a@test.example", "a@test.example"));
}

/* Quoted local parts as Postfix logs them (external form), with what the report's field
 * syntax gives a meaning to (comments, ";", quoted-pairs): each entry reads back with its
 * own Final-Recipient, and the others are kept. */
static void
test_hostile_addresses (Fixture      *fx,
                        gconstpointer data)
{
  static const char *const rcpts[] = {
    "\"a)\"@test.example", "\"(a\"@test.example", "\"a;b\"@test.example",
    "\"a\\\"b\"@test.example", "\"a\\\\b\"@test.example", "\"a b, status=sent\"@test.example",
    "\" \"@test.example", "\"x>, relay=local, dsn=2.0.0, status=sent (y\"@test.example",
    "\"caf\\\xc3\\\xa9\"@test.example", "\"a\\?b\"@test.example", NULL,
  };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, (const char *const *) rcpts);
  g_autoptr (MsgtrkReport) r = NULL;

  for (guint i = 0; rcpts[i] != NULL; i++)
    {
      g_autofree char *line = g_strdup_printf (
        "Dec 04 21:36:14 mx postfix/smtp[1]: ABCDEF123: to=<%s>, "
        "relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=4.2.0, "
        "status=deferred (host mx.b.example[192.0.2.2] said: 450 4.2.0 (%u)",
        rcpts[i], i);

      apply_line (fx, reg, line);
    }
  r = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, g_strv_length ((char **) rcpts));
  for (guint i = 0; rcpts[i] != NULL; i++)
    {
      g_autofree char *valid = g_utf8_make_valid (rcpts[i], -1);

      g_test_message ("%s", valid);
      g_assert_nonnull (find_entry (r, valid, valid));
    }
}

/* POSTFIX_TRACK_MAX_DIAGNOSTIC at and past: a Diagnostic-Code of exactly the limit is kept
 * whole, one octet more is cut to the limit, and a character across the limit is left out
 * whole (the value stays valid UTF-8). */
static void
test_diagnostic_limit (Fixture      *fx,
                       gconstpointer data)
{
  static const struct
  {
    gsize xs;         /* "x" octets after "smtp; 450 " */
    const char *tail; /* then this */
    gsize want;       /* octets of the Diagnostic-Code recorded */
  } cases[] = {
    { POSTFIX_TRACK_MAX_DIAGNOSTIC - 10, "", POSTFIX_TRACK_MAX_DIAGNOSTIC },
    { POSTFIX_TRACK_MAX_DIAGNOSTIC - 10 + 1, "", POSTFIX_TRACK_MAX_DIAGNOSTIC },
    { POSTFIX_TRACK_MAX_DIAGNOSTIC - 10 - 1, "\xc3\xa9", POSTFIX_TRACK_MAX_DIAGNOSTIC - 1 },
  };
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *xs = g_strnfill (cases[i].xs, 'x');
      g_autofree char *line = g_strdup_printf (
        "Dec 04 21:36:14 mx postfix/smtp[1]: ABCDEF123: to=<a@test.example>, "
        "relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=4.2.0, "
        "status=deferred (host mx.b.example[192.0.2.2] said: 450 %s%s (in reply to RCPT TO "
        "command))",
        xs, cases[i].tail);
      g_autoptr (MsgtrkReport) r = NULL;
      const char *diag;

      apply_line (fx, reg, line);
      r = load (fx);
      diag = msgtrk_recipient_report_get_diagnostic_code (
        find_entry (r, "a@test.example", "a@test.example"));
      g_assert_cmpuint (strlen (diag), ==, cases[i].want);
      g_assert_true (g_str_has_prefix (diag, "smtp; 450 xxx"));
      g_assert_true (g_utf8_validate (diag, -1, NULL));
    }
}

/* A second store and registration directory beside the fixture's: the same lines applied
 * one by one there, to compare with a batch. */
typedef struct
{
  char *dir;
  PostfixTrack track;
} Twin;

static void
twin_init (Twin          *t,
           const Fixture *fx,
           const char    *name)
{
  t->dir = g_build_filename (fx->dir, name, NULL);
  g_mkdir (t->dir, 0700);
  t->track = fx->track;
  t->track.store = track_store_new (t->dir, NULL);
  t->track.reg_dir = g_build_filename (t->dir, "reg", NULL);
  g_mkdir (t->track.reg_dir, 0700);
}

static void
twin_clear (Twin *t)
{
  g_clear_object (&t->track.store);
  g_free ((char *) t->track.reg_dir);
  g_free (t->dir);
}

static char *
record_fields (TrackStore *store)
{
  g_autoptr (MsgtrkReport) r =
    track_store_load (store, "env1@test.example", NULL, NULL, NULL, NULL);

  return r != NULL ? msgtrk_report_to_fields (r) : NULL;
}

/* A message's lines in log order: deferrals replaced by later outcomes, a content filter's
 * re-queue and its new queue id's outcome, a deferral left open, then qmgr's expiry. */
static const char *const batch_lines[] = {
  LINE_DEFERRED,
  "Dec 04 21:35:15 mx postfix/smtp[1]: ABCDEF123: to=<b@test.example>, "
  "relay=127.0.0.1[127.0.0.1]:10025, delay=0.04, delays=0/0/0/0, dsn=2.0.0, "
  "status=sent (250 2.0.0 Ok: queued as A3B58A7450A)",
  "Dec 04 21:35:16 mx postfix/smtp[1]: ABCDEF123: to=<c@test.example>, "
  "relay=mx.c.example[192.0.2.3]:25, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred "
  "(connect to mx.c.example[192.0.2.3]:25: Connection refused)",
  "Dec 04 21:35:17 mx postfix/virtual[2]: A3B58A7450A: to=<b@test.example>, "
  "relay=virtual, delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
  LINE_SENT,
  "Dec 04 21:40:00 mx postfix/qmgr[3]: ABCDEF123: from=<s@test.example>, "
  "status=expired, returned to sender",
};

/* Applies batch_lines[0 .. n) to @batch (or, @batch NULL, one by one through @track). */
static void
apply_batch_lines (const PostfixTrack *track,
                   PostfixTrackBatch  *batch,
                   guint               n)
{
  const char *rcpts[] = { "a@test.example", "b@test.example", "c@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);

  for (guint i = 0; i < n; i++)
    {
      g_auto (PostfixLogEntry) e = { 0 };
      g_autoptr (GError) error = NULL;
      g_autoptr (PostfixRegistration) child = NULL;
      const PostfixRegistration *of = reg;

      postfix_log_parse (batch_lines[i], strlen (batch_lines[i]), NOW, &e);
      g_assert_true (e.kind == POSTFIX_LOG_DELIVERY || e.kind == POSTFIX_LOG_EXPIRED);
      if (g_strcmp0 (e.queue_id, "ABCDEF123") != 0)
        {
          child = postfix_registration_read (track->reg_dir, e.queue_id, &error);
          g_assert_no_error (error);
          of = child;
        }
      if (batch != NULL)
        g_assert_true (postfix_track_batch_apply (batch, of, &e, &error));
      else
        g_assert_true (postfix_track_apply (track, of, &e, &error));
      g_assert_no_error (error);
    }
}

/* One batch: nothing stored before the flush (but at a line that registers a child:
 * batch_lines[1], the parent's interim entry is stored before the child is written),
 * then the record each line stored in turn would have made (same entries, same order),
 * stored once more. */
static void
test_batch_same_as_lines (Fixture      *fx,
                          gconstpointer data)
{
  Twin twin;
  g_autoptr (PostfixTrackBatch) batch = postfix_track_batch_new (&fx->track);
  g_autoptr (GError) error = NULL;
  g_autofree char *one_by_one = NULL;
  g_autofree char *batched = NULL;

  /* Every prefix of the sequence, each in fresh stores. */
  for (guint n = 1; n <= G_N_ELEMENTS (batch_lines); n++)
    {
      g_autofree char *seq_name = g_strdup_printf ("seq-%u", n);
      g_autofree char *bat_name = g_strdup_printf ("bat-%u", n);
      g_autofree char *seq = NULL;
      g_autofree char *bat = NULL;
      g_autoptr (PostfixTrackBatch) b = NULL;
      Twin ts;
      Twin tb;

      twin_init (&ts, fx, seq_name);
      apply_batch_lines (&ts.track, NULL, n);
      seq = record_fields (ts.track.store);
      g_assert_nonnull (seq);
      twin_init (&tb, fx, bat_name);
      b = postfix_track_batch_new (&tb.track);
      apply_batch_lines (&tb.track, b, n);
      {
        g_autofree char *before = record_fields (tb.track.store);

        g_assert_true ((before == NULL) == (n < 2));
      }
      g_assert_true (postfix_track_batch_flush (b, &error));
      g_assert_no_error (error);
      bat = record_fields (tb.track.store);
      g_assert_cmpstr (bat, ==, seq);
      twin_clear (&ts);
      twin_clear (&tb);
    }

  twin_init (&twin, fx, "twin");
  apply_batch_lines (&twin.track, NULL, G_N_ELEMENTS (batch_lines));
  one_by_one = record_fields (twin.track.store);
  apply_batch_lines (&fx->track, batch, G_N_ELEMENTS (batch_lines));
  g_assert_cmpuint (postfix_track_batch_get_records (batch), ==, 1);
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (postfix_track_batch_get_records (batch), ==, 0);
  batched = record_fields (fx->store);
  g_assert_nonnull (batched);
  g_assert_cmpstr (batched, ==, one_by_one);
  twin_clear (&twin);
}

/* The follower killed after some lines were applied to a batch and before its flush (the
 * position is saved after the flush): nothing of them stored; the restart replays the
 * lines from the saved position, once or twice: the record of the lines applied once. A
 * replay after the flush changes nothing either. */
static void
test_batch_replay (Fixture      *fx,
                   gconstpointer data)
{
  Twin twin;
  g_autofree char *once = NULL;
  g_autoptr (GError) error = NULL;

  twin_init (&twin, fx, "twin");
  apply_batch_lines (&twin.track, NULL, G_N_ELEMENTS (batch_lines));
  once = record_fields (twin.track.store);
  {
    g_autoptr (PostfixTrackBatch) killed = postfix_track_batch_new (&fx->track);

    apply_batch_lines (&fx->track, killed, G_N_ELEMENTS (batch_lines));
  }
  {
    /* Stored by then: the record as of batch_lines[1] (a child's line stores its parent's
     * record first), not the rest. */
    g_autofree char *partial = record_fields (fx->store);

    g_assert_nonnull (partial);
    g_assert_cmpstr (partial, !=, once);
  }
  for (guint round = 0; round < 2; round++)
    {
      g_autoptr (PostfixTrackBatch) batch = postfix_track_batch_new (&fx->track);
      g_autofree char *replayed = NULL;

      apply_batch_lines (&fx->track, batch, G_N_ELEMENTS (batch_lines));
      g_assert_true (postfix_track_batch_flush (batch, &error));
      g_assert_no_error (error);
      replayed = record_fields (fx->store);
      g_assert_cmpstr (replayed, ==, once);
    }
  twin_clear (&twin);
}

static PostfixRegistration *
make_reg_envid (const char *qid,
                const char *envid,
                guint       rcpts,
                const char *long_local)
{
  PostfixRegistration *reg = postfix_registration_new (qid, envid, B1, NOW, NOW + 86400);

  for (guint i = 0; i < rcpts; i++)
    {
      g_autofree char *a = g_strdup_printf ("%s%u@test.example", long_local, i);

      g_assert_true (postfix_registration_add_rcpt (reg, a, NULL, NULL, NULL));
    }
  return reg;
}

static void
batch_apply_deferred (PostfixTrackBatch         *batch,
                      const PostfixRegistration *reg,
                      const char                *to)
{
  g_autofree char *reply = g_strnfill (400, 'R');
  g_autofree char *line = g_strdup_printf (
    "Dec 04 21:35:14 mx postfix/smtp[1]: %s: to=<%s>, relay=mx.b.example[192.0.2.2]:25, "
    "delay=1, delays=0/0/0/1, dsn=4.3.0, status=deferred (host mx.b.example[192.0.2.2] "
    "said: 451 4.3.0 %s (in reply to RCPT TO command))",
    reg->queue_id, to, reply);
  g_auto (PostfixLogEntry) e = { 0 };
  g_autoptr (GError) error = NULL;

  postfix_log_parse (line, strlen (line), NOW, &e);
  g_assert_cmpint (e.kind, ==, POSTFIX_LOG_DELIVERY);
  g_assert_true (postfix_track_batch_apply (batch, reg, &e, &error));
  g_assert_no_error (error);
}

/* POSTFIX_TRACK_BATCH_MAX_RECORDS records: not full; one more: full. Then octets: lines
 * of fewer records until the estimate passes POSTFIX_TRACK_BATCH_MAX_OCTETS: full only
 * then. A flush empties it. */
static void
test_batch_limits (Fixture      *fx,
                   gconstpointer data)
{
  g_autoptr (PostfixTrackBatch) batch = postfix_track_batch_new (&fx->track);
  g_autoptr (GError) error = NULL;
  g_autofree char *local = g_strnfill (200, 'l');
  guint lines = 0;

  for (guint i = 0; i < POSTFIX_TRACK_BATCH_MAX_RECORDS + 1; i++)
    {
      g_autofree char *qid = g_strdup_printf ("ABC%06X", i);
      g_autofree char *envid = g_strdup_printf ("env%u@test.example", i);
      g_autoptr (PostfixRegistration) reg = make_reg_envid (qid, envid, 1, "r");

      g_assert_false (postfix_track_batch_is_full (batch));
      batch_apply_deferred (batch, reg, "r0@test.example");
    }
  g_assert_cmpuint (postfix_track_batch_get_records (batch), ==,
                    POSTFIX_TRACK_BATCH_MAX_RECORDS + 1);
  g_assert_true (postfix_track_batch_is_full (batch));
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_no_error (error);
  g_assert_false (postfix_track_batch_is_full (batch));
  g_assert_cmpuint (postfix_track_batch_get_records (batch), ==, 0);

  /* 100 records of up to 1000 entries of about 1 KB: the octets bound comes first. */
  for (guint i = 0; !postfix_track_batch_is_full (batch); i++)
    {
      g_autofree char *qid = g_strdup_printf ("BCD%06X", i / MSGTRK_REPORT_MAX_RECIPIENTS);
      g_autofree char *envid = g_strdup_printf ("big%u@test.example",
                                                i / MSGTRK_REPORT_MAX_RECIPIENTS);
      g_autoptr (PostfixRegistration) reg = postfix_registration_new (qid, envid, B1, NOW,
                                                                      NOW + 86400);
      g_autofree char *to = g_strdup_printf ("%s%u@test.example", local, i);

      /* one registered recipient per line (as a derived registration of an alias's
       * members would have them): many entries in each record. */
      g_assert_true (postfix_registration_add_rcpt (reg, to, "list@test.example", NULL, NULL));
      batch_apply_deferred (batch, reg, to);
      lines++;
      g_assert_cmpuint (lines, <, 100 * MSGTRK_REPORT_MAX_RECIPIENTS);
    }
  g_test_message ("full after %u lines in %u records", lines,
                  postfix_track_batch_get_records (batch));
  g_assert_cmpuint (postfix_track_batch_get_records (batch), <=,
                    POSTFIX_TRACK_BATCH_MAX_RECORDS);
  /* One line fewer was not full: the bound is the estimate passing the constant. */
  g_assert_cmpuint (lines, >, (POSTFIX_TRACK_BATCH_MAX_OCTETS / 2048));
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_no_error (error);
}

/* MSGTRK_REPORT_MAX_RECIPIENTS recipients with Postfix's longest replies in one batch: the
 * flush makes the record fit (postfix_track_fit_record) and stores it once. */
static void
test_batch_fit (Fixture      *fx,
                gconstpointer data)
{
  g_autofree char *local = g_strnfill (200, 'f');
  g_autoptr (PostfixRegistration) reg = make_reg_envid ("ABCDEF123", "env1@test.example",
                                                        MSGTRK_REPORT_MAX_RECIPIENTS, local);
  g_autoptr (PostfixTrackBatch) batch = postfix_track_batch_new (&fx->track);
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  g_autofree char *fields = NULL;

  for (guint i = 0; i < MSGTRK_REPORT_MAX_RECIPIENTS; i++)
    {
      g_autofree char *to = g_strdup_printf ("%s%u@test.example", local, i);

      batch_apply_deferred (batch, reg, to);
    }
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_no_error (error);
  r = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, MSGTRK_REPORT_MAX_RECIPIENTS);
  fields = msgtrk_report_to_fields (r);
  g_assert_cmpuint (strlen (fields), <=, TRACK_STORE_MAX_RECORD_SIZE);
}

/* A batch holding one B's record refuses another B's line for that ENVID (the first
 * one's put decides the owner), and the first one's record is stored. */
static void
test_batch_other_owner (Fixture      *fx,
                        gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) mine = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixRegistration) theirs = make_reg ("ABCDEF124", B2, rcpts);
  g_autoptr (PostfixTrackBatch) batch = postfix_track_batch_new (&fx->track);
  g_auto (PostfixLogEntry) d = { 0 };
  g_auto (PostfixLogEntry) e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = NULL;

  postfix_log_parse (LINE_DEFERRED, strlen (LINE_DEFERRED), NOW, &d);
  postfix_log_parse (LINE_SENT, strlen (LINE_SENT), NOW, &e);
  g_assert_true (postfix_track_batch_apply (batch, mine, &d, &error));
  g_assert_false (postfix_track_batch_apply (batch, theirs, &e, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_no_error (error);
  /* Another batch: B2's line is refused at once (the stored record is B1's), and does
   * not keep B1's own later line of the same batch out (it came first: B1's lines were
   * refused and dropped, and nothing was stored, before this was fixed). */
  g_clear_pointer (&batch, postfix_track_batch_free);
  batch = postfix_track_batch_new (&fx->track);
  g_assert_false (postfix_track_batch_apply (batch, theirs, &e, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET);
  g_clear_error (&error);
  g_assert_cmpuint (postfix_track_batch_get_records (batch), ==, 0);
  g_assert_true (postfix_track_batch_apply (batch, mine, &e, &error));
  g_assert_no_error (error);
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_no_error (error);
  r = load (fx);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "a@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_RELAYED);
}

/* A stored record that is malformed (torn by a crash until its writer's journal is
 * replayed, or damaged: the store keeps it for the administrator and refuses every update
 * of its ENVID) costs that ENVID's line only: applying it fails with MSGTRK_ERROR_PARSE
 * and changes nothing (before, the record was started empty: had the file read again by
 * the flush, the earlier recipients' states would have been lost), the batch's other
 * records are stored (before session 17, the flush stopped there at every poll). Once
 * the record reads again, the line applies and the earlier states stay. */
static void
test_batch_malformed_stored (Fixture      *fx,
                             gconstpointer data)
{
  g_autoptr (PostfixRegistration) bad = make_reg_envid ("ABCDEF123", "bad@test.example", 2, "a");
  const char *rcpts[] = { "a0@test.example", NULL };
  g_autoptr (PostfixRegistration) good = make_reg ("ABCDEF124", B1, rcpts);
  g_autoptr (PostfixTrackBatch) batch = postfix_track_batch_new (&fx->track);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "bad@test.example",
                                                         -1);
  g_autofree char *name = g_strconcat (hash, ".trk", NULL);
  g_autofree char *path = g_build_filename (fx->dir, "tracking", name, NULL);
  g_autofree char *intact = NULL;
  g_autofree char *after = NULL;
  g_auto (PostfixLogEntry) e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  const char *first = "Dec 04 21:36:14 mx postfix/smtp[1]: ABCDEF123: to=<a0@test.example>, "
                      "relay=mx.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, "
                      "status=sent (250 2.0.0 Ok)";
  const char *second = "Dec 04 21:36:15 mx postfix/smtp[1]: ABCDEF123: to=<a1@test.example>, "
                       "relay=mx.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, "
                       "status=bounced (550 5.1.1 no such user)";
  const char *line = "Dec 04 21:36:14 mx postfix/smtp[1]: ABCDEF124: to=<a0@test.example>, "
                     "relay=mx.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, "
                     "status=sent (250 2.0.0 Ok)";

  /* The record with a0's state, then torn. */
  postfix_log_parse (first, strlen (first), NOW, &e);
  g_assert_true (postfix_track_batch_apply (batch, bad, &e, &error));
  g_assert_no_error (error);
  postfix_log_entry_clear (&e);
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_true (g_file_get_contents (path, &intact, NULL, NULL));
  g_assert_true (g_file_set_contents (path, "garbage\n", -1, &error));
  g_assert_no_error (error);

  postfix_log_parse (second, strlen (second), NOW, &e);
  g_assert_false (postfix_track_batch_apply (batch, bad, &e, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_cmpuint (postfix_track_batch_get_records (batch), ==, 0);
  postfix_log_entry_clear (&e);
  postfix_log_parse (line, strlen (line), NOW, &e);
  g_assert_true (postfix_track_batch_apply (batch, good, &e, &error));
  g_assert_no_error (error);
  postfix_log_entry_clear (&e);
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (postfix_track_batch_get_records (batch), ==, 0);
  r = load (fx);
  g_assert_nonnull (find_entry (r, "a0@test.example", "a0@test.example"));
  g_assert_true (g_file_get_contents (path, &after, NULL, NULL));
  g_assert_cmpstr (after, ==, "garbage\n");

  /* Repaired (the journal replayed): the line applies, a0's state kept. */
  g_assert_true (g_file_set_contents (path, intact, -1, &error));
  postfix_log_parse (second, strlen (second), NOW, &e);
  g_assert_true (postfix_track_batch_apply (batch, bad, &e, &error));
  g_assert_no_error (error);
  g_assert_true (postfix_track_batch_flush (batch, &error));
  g_assert_no_error (error);
  g_clear_object (&r);
  r = track_store_load (fx->store, "bad@test.example", NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "a0@test.example", "a0@test.example")),
                   ==, MSGTRK_ACTION_RELAYED);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "a1@test.example", "a1@test.example")),
                   ==, MSGTRK_ACTION_FAILED);
}

/* A content filter's line in a batch: the parent's interim entry is stored before the
 * child registration is written, so that a follower killed before the batch's flush
 * (nothing else of the batch stored) and started again, whose replay of the line finds
 * the child's leg and skips it, finds the entry (it was lost before). */
static void
test_batch_child_first (Fixture      *fx,
                        gconstpointer data)
{
  const char *rcpts[] = { "a@test.example", NULL };
  g_autoptr (PostfixRegistration) reg = make_reg ("ABCDEF123", B1, rcpts);
  g_autoptr (PostfixTrackBatch) batch = postfix_track_batch_new (&fx->track);
  g_autoptr (PostfixTrackBatch) replay = postfix_track_batch_new (&fx->track);
  g_autoptr (PostfixRegistration) child = NULL;
  g_auto (PostfixLogEntry) e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) r = NULL;
  const char *line = "Dec 04 21:35:14 mx postfix/smtp[1]: ABCDEF123: to=<a@test.example>, "
                     "relay=127.0.0.1[127.0.0.1]:10025, delay=0.04, delays=0/0/0/0, "
                     "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as A3B58A7450A)";

  postfix_log_parse (line, strlen (line), NOW, &e);
  g_assert_true (postfix_track_batch_apply (batch, reg, &e, &error));
  g_assert_no_error (error);
  /* Killed here: the batch is never flushed. The child is registered, and the record
   * has the interim entry. */
  g_clear_pointer (&batch, postfix_track_batch_free);
  r = load (fx);
  g_assert_nonnull (r);
  g_assert_cmpint (msgtrk_recipient_report_get_action (
                     find_entry (r, "a@test.example", "a@test.example")),
                   ==, MSGTRK_ACTION_RELAYED);
  g_clear_object (&r);
  /* The replay skips the line (the child has the leg) and the entry stays. */
  g_assert_true (postfix_track_batch_apply (replay, reg, &e, &error));
  g_assert_true (postfix_track_batch_flush (replay, &error));
  g_assert_no_error (error);
  r = load (fx);
  g_assert_cmpuint (msgtrk_report_get_recipients (r)->len, ==, 1);
  child = postfix_registration_read (fx->reg_dir, "A3B58A7450A", NULL);
  g_assert_nonnull (child);
}

/* Files in @dir whose name starts with @prefix. */
static guint
count_prefixed (const char *dir,
                const char *prefix)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, prefix))
      n++;
  return n;
}

static PostfixRegistration *
slot_reg (const char *ident,
          guint       rcpts)
{
  PostfixRegistration *reg = postfix_registration_new (NULL, "slot", B1, 100, 200);

  reg->ident = g_strdup (ident);
  for (guint i = 0; i < rcpts; i++)
    {
      g_autofree char *rcpt = g_strdup_printf ("rcpt%u@test.example", i);

      g_assert_true (postfix_registration_add_rcpt (reg, rcpt, NULL, NULL, NULL));
    }
  return reg;
}

/* A pending registration by ident written as the front writes it (the job of
 * postfix_registration_start_pending()) and joined until durable. The test's thread runs
 * no coroutine: durable_journal_job_finish() waits on the job's condition variable while
 * a thread of the shared pool runs the step (the FILL test hook too) and the journal's
 * sync. */
static gboolean
pending_slot_write (PostfixPendingSlots       *slots,
                    const char                *dir,
                    DurableJournal            *journal,
                    const PostfixRegistration *reg,
                    GError                   **error)
{
  DurableJournalJob *job = postfix_registration_start_pending (slots, dir, journal, reg, error);

  return job != NULL && durable_journal_job_finish (job, error);
}

/* The pending file of @ident looked at (lstat): FALSE when absent. */
static gboolean
pending_stat (const char *dir,
              const char *ident,
              GStatBuf   *st)
{
  g_autofree char *name = g_strconcat (ident, ".pending", NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_lstat (path, st) == 0;
}

/* The pending file of @ident: its link count, -1 when absent. */
static int
pending_links (const char *dir,
               const char *ident)
{
  GStatBuf st;

  return pending_stat (dir, ident, &st) ? (int) st.st_nlink : -1;
}

/* The pending file of @ident: its inode, 0 when absent. */
static guint64
pending_ino (const char *dir,
             const char *ident)
{
  GStatBuf st;

  return pending_stat (dir, ident, &st) ? (guint64) st.st_ino : 0;
}

/* Pending registrations by ident in the front's slot files: linked as <ident>.pending,
 * a slot rewritten only once that name is gone (bound by the follower), shorter text
 * truncated, POSTFIX_REGISTRATION_PENDING_SLOTS at most (then a file of its own), by
 * Message-ID a file of its own, the slots' names removed at the end and the pending
 * names kept. */
static void
test_pending_slots (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  DurableJournal *journal = durable_journal_open (fx->reg_dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX,
                                                  &error);
  PostfixPendingSlots *slots = NULL;
  g_autofree char *kept = postfix_registration_ident_new ();
  guint64 ticket = 0;

  g_test_summary ("Pending registrations by ident reuse the front's slot files");
  g_assert_no_error (error);
  slots = postfix_pending_slots_new (fx->reg_dir, journal);
  /* Written, bound by the follower (the name removed), the slot reused: 5, 2 and 1
   * recipients (each shorter than the one before in the same file). */
  for (guint round = 0; round < 3; round++)
    {
      g_autofree char *ident = postfix_registration_ident_new ();
      g_autofree char *qid = g_strdup_printf ("ABC20%u", round);
      guint rcpts = round == 0 ? 5 : round == 1 ? 2 : 1;
      g_autoptr (PostfixRegistration) reg = slot_reg (ident, rcpts);
      g_autoptr (PostfixRegistration) bound = NULL;

      g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, reg, &error));
      g_assert_no_error (error);
      g_assert_cmpint (pending_links (fx->reg_dir, ident), ==, 2);
      g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 1);
      g_assert_true (postfix_registration_claim_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT,
                                                         ident, qid, &error));
      g_assert_no_error (error);
      bound = postfix_registration_read (fx->reg_dir, qid, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (bound->ident, ==, ident);
      g_assert_cmpuint (bound->rcpts->len, ==, rcpts);
      g_assert_cmpint (pending_links (fx->reg_dir, ident), ==, -1);
    }
  /* The slot was kept open (POSTFIX_REGISTRATION_SLOT_OPEN): opened once for the three. */
  if (g_file_test ("/proc/self/fd", G_FILE_TEST_IS_DIR))
    g_assert_cmpuint (postfix_pending_slots_opened (slots), ==, 1);
  else
    g_test_message ("no /proc/self/fd: slots are opened for each use");
  /* The idle slot's file replaced by another user's (an admin's mistake, or someone who
   * may write the directory): not written through, but made again as ours, in a slot. */
  if (geteuid () == 0)
    {
      g_autoptr (GDir) d = g_dir_open (fx->reg_dir, 0, NULL);
      const char *name;
      g_autofree char *slot = NULL;
      g_autofree char *ident = postfix_registration_ident_new ();
      g_autoptr (PostfixRegistration) reg = slot_reg (ident, 2);
      GStatBuf st;

      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        if (g_str_has_prefix (name, POSTFIX_REGISTRATION_SLOT_PREFIX))
          slot = g_build_filename (fx->reg_dir, name, NULL);
      g_assert_nonnull (slot);
      g_assert_cmpint (chown (slot, 65534, 65534), ==, 0);
      g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, reg, &error));
      g_assert_no_error (error);
      g_assert_cmpint (pending_links (fx->reg_dir, ident), ==, 2);
      g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 1);
      g_assert_cmpint (g_lstat (slot, &st), ==, 0);
      g_assert_cmpuint (st.st_uid, ==, 0);
      /* Linked from the new file, not from the one kept open: the pending name is it. */
      g_assert_cmpuint (pending_ino (fx->reg_dir, ident), ==, (guint64) st.st_ino);
      postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, ident);
    }
  else
    g_test_message ("not root: the slot owned by another user is not tried (chown)");
  /* One kept linked (its reply to the "." lost) at the head of the idle slots does not
   * hold up the others: the next one probes past it (POSTFIX_REGISTRATION_SLOT_PROBES). */
  {
    g_autofree char *stuck = postfix_registration_ident_new ();
    g_autofree char *freed = postfix_registration_ident_new ();
    g_autofree char *next = postfix_registration_ident_new ();
    g_autoptr (PostfixRegistration) r1 = slot_reg (stuck, 1);
    g_autoptr (PostfixRegistration) r2 = slot_reg (freed, 1);
    g_autoptr (PostfixRegistration) r3 = slot_reg (next, 3);

    g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, r1, &error));
    g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, r2, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 2);
    postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, freed);
    g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, r3, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 2);
    g_assert_cmpint (pending_links (fx->reg_dir, next), ==, 2);
    g_assert_cmpint (pending_links (fx->reg_dir, stuck), ==, 2);
    g_assert_true (postfix_registration_claim_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT,
                                                       stuck, "ABC230", &error));
    g_assert_true (postfix_registration_claim_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT,
                                                       next, "ABC231", &error));
    g_assert_no_error (error);
    {
      g_autoptr (PostfixRegistration) bound = postfix_registration_read (fx->reg_dir, "ABC231",
                                                                         &error);

      g_assert_no_error (error);
      g_assert_cmpstr (bound->ident, ==, next);
      g_assert_cmpuint (bound->rcpts->len, ==, 3);
    }
  }
  /* Not bound yet: the next one gets another slot, up to the limit; past it a file of
   * its own. */
  {
    g_autoptr (PostfixRegistration) reg = slot_reg (kept, 1);

    g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, reg, &error));
    g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 2);
  }
  while (postfix_pending_slots_made (slots) < POSTFIX_REGISTRATION_PENDING_SLOTS)
    {
      g_autofree char *ident = postfix_registration_ident_new ();
      g_autoptr (PostfixRegistration) reg = slot_reg (ident, 1);
      guint before = postfix_pending_slots_made (slots);

      g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, reg, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (postfix_pending_slots_made (slots), <=, before + 1);
    }
  g_assert_cmpuint (count_prefixed (fx->reg_dir, POSTFIX_REGISTRATION_SLOT_PREFIX), ==,
                    POSTFIX_REGISTRATION_PENDING_SLOTS);
  {
    g_autofree char *ident = postfix_registration_ident_new ();
    g_autoptr (PostfixRegistration) reg = slot_reg (ident, 1);
    g_autoptr (PostfixRegistration) by_mid = postfix_registration_new (NULL, "mid", B1, 100,
                                                                       200);

    g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, reg, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (postfix_pending_slots_made (slots), ==, POSTFIX_REGISTRATION_PENDING_SLOTS);
    g_assert_cmpint (pending_links (fx->reg_dir, ident), ==, 1);
    g_assert_true (postfix_registration_pending_exists (fx->reg_dir, POSTFIX_PENDING_BY_IDENT,
                                                        ident));
    /* By Message-ID: a file of its own (the front's fallback,
     * postfix_registration_write_pending()). */
    by_mid->message_id = g_strdup ("slot@test.example");
    g_assert_true (postfix_registration_add_rcpt (by_mid, "a@test.example", NULL, NULL, NULL));
    g_assert_true (
        postfix_registration_write_pending (fx->reg_dir, journal, by_mid, &ticket, &error));
    g_assert_no_error (error);
    g_assert_true (postfix_registration_pending_exists (
        fx->reg_dir, POSTFIX_PENDING_BY_MESSAGE_ID, "slot@test.example"));
  }
  g_assert_true (durable_journal_wait (journal, ticket, &error));
  /* The follower catches up (every pending name by ident removed): the slots are
   * reused again, none made. */
  {
    g_autoptr (GDir) d = g_dir_open (fx->reg_dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name (d)) != NULL)
      if (g_str_has_prefix (name, POSTFIX_REGISTRATION_IDENT_PREFIX))
        {
          g_autofree char *path = g_build_filename (fx->reg_dir, name, NULL);

          g_assert_cmpint (g_unlink (path), ==, 0);
        }
  }
  g_assert_cmpint (pending_links (fx->reg_dir, kept), ==, -1);
  {
    g_autofree char *ident = postfix_registration_ident_new ();
    g_autoptr (PostfixRegistration) reg = slot_reg (ident, 1);

    g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, reg, &error));
    g_assert_cmpint (pending_links (fx->reg_dir, ident), ==, 2);
    g_assert_cmpuint (postfix_pending_slots_made (slots), ==, POSTFIX_REGISTRATION_PENDING_SLOTS);
    g_clear_pointer (&kept, g_free);
    kept = g_strdup (ident);
  }
  g_clear_pointer (&slots, postfix_pending_slots_free);
  g_assert_cmpuint (count_prefixed (fx->reg_dir, POSTFIX_REGISTRATION_SLOT_PREFIX), ==, 0);
  g_assert_cmpint (pending_links (fx->reg_dir, kept), ==, 1);
  g_assert_true (postfix_registration_claim_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT,
                                                     kept, "ABC210", &error));
  g_assert_no_error (error);
  durable_journal_close (journal);
}

/* What test_pending_slots_crash's dying front writes (the registration directory and the
 * ident, a line each), in a file the test process names after its pid: the subprocess
 * finds it through getppid() (no setenv() with the pool's threads running). */
static char *
slots_crash_brief_path (pid_t test_pid)
{
  g_autofree char *name = g_strdup_printf ("msgtrk-test-slots-crash-%ld", (long) test_pid);

  return g_build_filename (g_get_tmp_dir (), name, NULL);
}

/* A front killed -9 with linked slots: the replay keeps (or restores) the pending
 * registration under its ident and removes the dead front's slot files; a live
 * front's slots stay. The dead front is a subprocess of its own, exec'ed
 * (g_test_trap_subprocess()): a fork of this process would have no thread of the shared
 * pool that runs the write's job (GLib would hand it to a thread left in the parent). */
static void
test_pending_slots_crash (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *ident = postfix_registration_ident_new ();
  g_autofree char *live_ident = postfix_registration_ident_new ();
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autoptr (PostfixRegistration) live_reg = slot_reg (live_ident, 1);
  g_autofree char *brief = NULL;
  g_autofree char *text = NULL;
  DurableJournal *journal = NULL;
  PostfixPendingSlots *slots = NULL;

  if (g_test_subprocess ())
    {
      g_auto (GStrv) lines = NULL;
      DurableJournal *j = NULL;
      PostfixPendingSlots *s = NULL;

      rm_rf (fx->dir); /* its own fixture's, unused */
      brief = slots_crash_brief_path (getppid ());
      g_assert_true (g_file_get_contents (brief, &text, NULL, &error));
      lines = g_strsplit (text, "\n", 0);
      g_assert_cmpuint (g_strv_length (lines), ==, 2);
      reg = slot_reg (lines[1], 2);
      j = durable_journal_open (lines[0], POSTFIX_REGISTRATION_JOURNAL_PREFIX, NULL);
      s = j != NULL ? postfix_pending_slots_new (lines[0], j) : NULL;
      if (s == NULL || !pending_slot_write (s, lines[0], j, reg, NULL))
        _exit (3);
      _exit (0); /* killed: neither the slots nor the journal closed */
    }
  g_test_summary ("The slots of a front killed -9 removed at recovery, its pendings kept");
  brief = slots_crash_brief_path (getpid ());
  text = g_strdup_printf ("%s\n%s", fx->reg_dir, ident);
  g_assert_true (g_file_set_contents (brief, text, -1, &error));
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_unlink (brief);
  g_test_trap_assert_passed ();
  g_assert_cmpint (pending_links (fx->reg_dir, ident), ==, 2);
  g_assert_cmpuint (count_prefixed (fx->reg_dir, POSTFIX_REGISTRATION_SLOT_PREFIX), ==, 1);

  /* A live front with a linked slot of its own. */
  journal = durable_journal_open (fx->reg_dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX, &error);
  g_assert_no_error (error);
  slots = postfix_pending_slots_new (fx->reg_dir, journal);
  g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, live_reg, &error));
  g_assert_cmpuint (count_prefixed (fx->reg_dir, POSTFIX_REGISTRATION_SLOT_PREFIX), ==, 2);

  g_assert_cmpuint (postfix_registration_recover (fx->reg_dir, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_cmpuint (count_prefixed (fx->reg_dir, POSTFIX_REGISTRATION_SLOT_PREFIX), ==, 1);
  g_assert_cmpint (pending_links (fx->reg_dir, live_ident), ==, 2);
  g_assert_true (postfix_registration_claim_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT,
                                                     ident, "ABC220", &error));
  g_assert_no_error (error);
  {
    g_autoptr (PostfixRegistration) bound = postfix_registration_read (fx->reg_dir, "ABC220",
                                                                       &error);

    g_assert_no_error (error);
    g_assert_cmpuint (bound->rcpts->len, ==, 2);
  }
  postfix_pending_slots_free (slots);
  durable_journal_close (journal);
  g_assert_cmpuint (count_prefixed (fx->reg_dir, POSTFIX_REGISTRATION_SLOT_PREFIX), ==, 0);
  g_assert_cmpint (pending_links (fx->reg_dir, live_ident), ==, 1);
}

/* For the hooks below: what to do at the next calls. */
typedef struct
{
  const char *dir;
  guint calls;
  guint replace; /* READ: replace the name by a new file this many times */
  PostfixPendingSlots *slots;
  DurableJournal *journal;
  const char *drop;        /* READ: this ident dropped and @next written into a slot */
  PostfixRegistration *next;
  gboolean fifo;           /* FILL: a FIFO put at the slot's name */
  int fifo_reader;         /* FILL: then opened for reading here (>= 0) or not (-1 to open) */
  const char *torn;        /* READ: after @next, this name's file rewritten in place */
  const char *torn_text;
} HookCase;

static void
hook_read (PostfixRegisterHookPoint point,
           const char              *path,
           gpointer                 data)
{
  HookCase *h = data;
  g_autoptr (GError) error = NULL;

  if (point != POSTFIX_REGISTER_HOOK_READ)
    return;
  h->calls++;
  if (h->drop != NULL)
    {
      postfix_registration_drop_pending (h->dir, POSTFIX_PENDING_BY_IDENT, h->drop);
      h->drop = NULL;
      g_assert_true (pending_slot_write (h->slots, h->dir, h->journal, h->next, &error));
      if (h->torn != NULL)
        g_assert_true (g_file_set_contents_full (h->torn, h->torn_text, -1, G_FILE_SET_CONTENTS_NONE,
                                                 0640, &error));
    }
  else if (h->replace > 0)
    {
      h->replace--;
      g_assert_true (postfix_registration_write_pending (h->dir, NULL, h->next, NULL, &error));
    }
}

/* The follower's read of <A>.pending while the front drops A and writes B into the same
 * slot: the name is gone after the read, so nothing is bound, not even from a read torn
 * between the two (simulated: the slot then holds A's ident with B's recipients, what
 * such a read would see). */
static void
test_pending_slot_read_dropped (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  DurableJournal *journal = durable_journal_open (fx->reg_dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX,
                                                  &error);
  PostfixPendingSlots *slots = postfix_pending_slots_new (fx->reg_dir, journal);
  g_autofree char *a = postfix_registration_ident_new ();
  g_autofree char *b = postfix_registration_ident_new ();
  g_autoptr (PostfixRegistration) ra = slot_reg (a, 120);
  g_autoptr (PostfixRegistration) rb = slot_reg (b, 150);
  g_autoptr (PostfixRegistration) torn = slot_reg (a, 150);
  HookCase h = { fx->reg_dir, 0, 0, slots, journal, NULL, rb, FALSE, -1 };
  g_autofree char *bname = g_strconcat (b, ".pending", NULL);
  g_autofree char *bpath = g_build_filename (fx->reg_dir, bname, NULL);
  g_autofree char *torn_text = postfix_registration_format (torn);

  for (guint tear = 0; tear < 2; tear++)
    {

      g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, ra, &error));
      h.calls = 0;
      h.drop = a;
      h.torn = tear ? bpath : NULL;
      h.torn_text = torn_text;
      postfix_register_set_test_hook (hook_read, &h);
      g_assert_false (postfix_registration_claim_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, a,
                                                          "AAAAA1111", &error));
      postfix_register_set_test_hook (NULL, NULL);
      g_assert_no_error (error);
      g_assert_cmpuint (h.calls, ==, 1);
      g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 1); /* B took A's slot */
      g_assert_false (postfix_registration_exists (fx->reg_dir, "AAAAA1111"));
      g_assert_cmpint (pending_links (fx->reg_dir, b), ==, 2);
      postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, b);
    }
  postfix_pending_slots_free (slots);
  durable_journal_close (journal);
}

/* The name replaced by another inode during the read (a replay's rename): read again,
 * POSTFIX_REGISTRATION_READ_RETRIES times at most; replaced during every read, the
 * claim fails (retry later) and the pending file stays. */
static void
test_pending_slot_read_replaced (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *a = postfix_registration_ident_new ();
  g_autoptr (PostfixRegistration) ra = slot_reg (a, 3);
  g_autoptr (PostfixRegistration) again = slot_reg (a, 5);
  g_autoptr (PostfixRegistration) bound = NULL;
  HookCase h = { fx->reg_dir, 0, POSTFIX_REGISTRATION_READ_RETRIES, NULL, NULL, NULL, again,
                 FALSE, -1, NULL, NULL };

  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, ra, NULL, &error));
  postfix_register_set_test_hook (hook_read, &h);
  /* at the limit: replaced during the first reads, the last one is whole */
  g_assert_true (postfix_registration_claim_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, a,
                                                     "AAAAA1111", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (h.calls, ==, POSTFIX_REGISTRATION_READ_RETRIES + 1);
  bound = postfix_registration_read (fx->reg_dir, "AAAAA1111", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bound->rcpts->len, ==, 5);
  /* past it */
  g_assert_true (postfix_registration_write_pending (fx->reg_dir, NULL, ra, NULL, &error));
  h.calls = 0;
  h.replace = POSTFIX_REGISTRATION_READ_RETRIES + 1;
  g_assert_false (postfix_registration_claim_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, a,
                                                      "CCCCC3333", &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TIMEOUT);
  g_assert_cmpuint (h.calls, ==, POSTFIX_REGISTRATION_READ_RETRIES + 1);
  g_assert_cmpint (pending_links (fx->reg_dir, a), ==, 1);
  g_assert_false (postfix_registration_exists (fx->reg_dir, "CCCCC3333"));
  postfix_register_set_test_hook (NULL, NULL);
}

/* A slot whose own name went (an admin's cleanup) is made again under its number: the
 * slots stay one, each message linked into it. */
static void
test_pending_slot_lost (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  DurableJournal *journal = durable_journal_open (fx->reg_dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX,
                                                  &error);
  PostfixPendingSlots *slots = postfix_pending_slots_new (fx->reg_dir, journal);

  for (guint round = 0; round < 4; round++)
    {
      g_autofree char *ident = postfix_registration_ident_new ();
      g_autoptr (PostfixRegistration) reg = slot_reg (ident, 1);
      g_autoptr (GDir) d = NULL;
      const char *n;

      g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, reg, &error));
      g_assert_cmpint (pending_links (fx->reg_dir, ident), ==, 2); /* in the slot */
      postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, ident);
      d = g_dir_open (fx->reg_dir, 0, NULL);
      while ((n = g_dir_read_name (d)) != NULL)
        if (g_str_has_prefix (n, POSTFIX_REGISTRATION_SLOT_PREFIX))
          {
            g_autofree char *p = g_build_filename (fx->reg_dir, n, NULL);

            g_assert_cmpint (g_unlink (p), ==, 0);
          }
    }
  g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 1);
  postfix_pending_slots_free (slots);
  durable_journal_close (journal);
}

static void
hook_fifo (PostfixRegisterHookPoint point,
           const char              *path,
           gpointer                 data)
{
  HookCase *h = data;

  if (point != POSTFIX_REGISTER_HOOK_FILL || !h->fifo)
    return;
  h->calls++;
  h->fifo = FALSE;
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  if (h->fifo_reader == -1)
    {
      h->fifo_reader = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      g_assert_cmpint (h->fifo_reader, >=, 0);
    }
}

/* The one slot file in @dir replaced by a new regular file of ours (another inode: the
 * descriptor the slots keep open no longer matches its name). */
static void
slot_replace (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, POSTFIX_REGISTRATION_SLOT_PREFIX))
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);
        int fd;

        g_assert_cmpint (g_unlink (path), ==, 0);
        fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        g_assert_cmpint (fd, >=, 0);
        close (fd);
        n++;
      }
  g_assert_cmpuint (n, ==, 1);
}

/* The pending registration of @ident went to a file of its own (one link: no slot), and
 * the follower's claim binds it to @qid with its @rcpts recipients. */
static void
assert_own_file_bound (const char *dir,
                       const char *ident,
                       const char *qid,
                       guint       rcpts)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PostfixRegistration) bound = NULL;

  g_assert_cmpint (pending_links (dir, ident), ==, 1);
  g_assert_true (postfix_registration_claim_pending (dir, POSTFIX_PENDING_BY_IDENT, ident, qid,
                                                     &error));
  bound = postfix_registration_read (dir, qid, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bound->rcpts->len, ==, rcpts);
}

/* A FIFO put at an idle slot's name between the slot's choice and its use (without a
 * reader, and with one; the slot's kept descriptor still that of the file the choice
 * saw, or not: the slot's file replaced before, so that it is opened again): not opened
 * blocking, not written, not linked; the message gets a file of its own, and the next one
 * a slot made again at that number. */
static void
test_pending_slot_fifo (Fixture *fx, gconstpointer data)
{
  for (guint mode = 0; mode < 4; mode++)
    {
      gboolean with_reader = mode % 2 == 1;
      gboolean reopen = mode >= 2;
      g_autoptr (GError) error = NULL;
      DurableJournal *journal = durable_journal_open (fx->reg_dir,
                                                      POSTFIX_REGISTRATION_JOURNAL_PREFIX, &error);
      PostfixPendingSlots *slots = postfix_pending_slots_new (fx->reg_dir, journal);
      g_autofree char *a = postfix_registration_ident_new ();
      g_autofree char *b = postfix_registration_ident_new ();
      g_autofree char *c = postfix_registration_ident_new ();
      g_autoptr (PostfixRegistration) ra = slot_reg (a, 1);
      g_autoptr (PostfixRegistration) rb = slot_reg (b, 2);
      g_autoptr (PostfixRegistration) rc = slot_reg (c, 3);
      HookCase h = { fx->reg_dir, 0, 0, NULL, NULL, NULL, NULL, TRUE, with_reader ? -1 : -2,
                     NULL, NULL };

      g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, ra, &error));
      postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, a);
      if (reopen)
        slot_replace (fx->reg_dir);
      postfix_register_set_test_hook (hook_fifo, &h);
      g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, rb, &error));
      g_assert_cmpuint (h.calls, ==, 1);
      assert_own_file_bound (fx->reg_dir, b, "BBBBB2222", 2);
      g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, rc, &error));
      g_assert_cmpint (pending_links (fx->reg_dir, c), ==, 2); /* the slot made again */
      g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 1);
      /* Opened: when made, and again for each use that found another file at its name. */
      if (g_file_test ("/proc/self/fd", G_FILE_TEST_IS_DIR))
        g_assert_cmpuint (postfix_pending_slots_opened (slots), ==, reopen ? 3 : 2);
      postfix_register_set_test_hook (NULL, NULL);
      if (h.fifo_reader >= 0)
        close (h.fifo_reader);
      postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, c);
      postfix_pending_slots_free (slots);
      durable_journal_close (journal);
    }
}

/* Why a mount namespace of this test's own cannot be made here (NULL: it can): tried
 * whole in a child (unshare, / made private, a tmpfs mounted), since root in a container
 * may lack CAP_SYS_ADMIN. */
static char *
mount_namespace_refused (void)
{
  pid_t pid = fork ();
  int status = 0;

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      char dir[] = "/tmp/msgtrk-mntns-XXXXXX";
      int err = 0;

      if (unshare (CLONE_NEWNS) != 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
          || mkdtemp (dir) == NULL)
        _exit (errno & 0xff);
      if (mount ("none", dir, "tmpfs", 0, NULL) != 0)
        err = errno;
      else
        (void) umount2 (dir, MNT_DETACH);
      (void) rmdir (dir);
      _exit (err & 0xff);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return NULL;
  return g_strdup_printf ("no mount namespace of the test's own here (%s)",
                          WIFEXITED (status) ? g_strerror (WEXITSTATUS (status))
                                             : "the probe did not exit");
}

/* /proc unmounted (or another mounted over it) after the slots were set up: the link
 * through /proc/self/fd fails with ENOENT while the slot's file still has its name. That
 * is told from a name gone: a warning, once (the subprocess's stderr); the message gets a
 * file of its own, and the next ones slots opened and linked by name (as without /proc
 * from the start). Run in a subprocess with a mount namespace of its own, a tmpfs over
 * its /proc. */
static void
test_pending_slot_proc_gone (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  DurableJournal *journal = NULL;
  PostfixPendingSlots *slots = NULL;
  g_autofree char *a = postfix_registration_ident_new ();
  g_autofree char *b = postfix_registration_ident_new ();
  g_autofree char *c = postfix_registration_ident_new ();
  g_autofree char *d = postfix_registration_ident_new ();
  g_autoptr (PostfixRegistration) ra = slot_reg (a, 1);
  g_autoptr (PostfixRegistration) rb = slot_reg (b, 2);
  g_autoptr (PostfixRegistration) rc = slot_reg (c, 3);
  g_autoptr (PostfixRegistration) rd = slot_reg (d, 1);

  if (!g_file_test ("/proc/self/fd", G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("no /proc/self/fd here: slots are opened for each use from the start");
      return;
    }
  if (!g_test_subprocess ())
    {
      g_autofree char *refused = mount_namespace_refused ();

      if (refused != NULL)
        {
          g_test_skip (refused);
          return;
        }
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      g_test_trap_assert_stderr ("*Cannot link a pending registration through /proc/self/fd/*"
                                 "No such file or directory*slot files are opened for each "
                                 "message from now on*");
      g_test_trap_assert_stderr_unmatched ("*from now on*from now on*");
      return;
    }
  /* The warning below (to stderr), not fatal here. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_log_set_fatal_mask ("msgtrk-postfix", G_LOG_FATAL_MASK);
  /* unshare(CLONE_NEWNS) moves the calling thread only: the pool threads that run the
   * registration's step must start after it (none runs yet: the fixture starts none). */
  g_assert_cmpint (unshare (CLONE_NEWNS), ==, 0);
  g_assert_cmpint (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), ==, 0);
  journal = durable_journal_open (fx->reg_dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX, &error);
  g_assert_no_error (error);
  slots = postfix_pending_slots_new (fx->reg_dir, journal);
  g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, ra, &error));
  g_assert_cmpint (pending_links (fx->reg_dir, a), ==, 2);
  postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, a);
  g_assert_cmpuint (postfix_pending_slots_opened (slots), ==, 1);

  g_assert_cmpint (mount ("none", "/proc", "tmpfs", 0, NULL), ==, 0);
  g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, rb, &error));
  g_assert_no_error (error);
  assert_own_file_bound (fx->reg_dir, b, "BBBBB3333", 2);
  /* The slot again, opened and linked by name for each message, no warning more. */
  g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, rc, &error));
  g_assert_cmpint (pending_links (fx->reg_dir, c), ==, 2);
  postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, c);
  g_assert_true (pending_slot_write (slots, fx->reg_dir, journal, rd, &error));
  g_assert_no_error (error);
  g_assert_cmpint (pending_links (fx->reg_dir, d), ==, 2);
  g_assert_cmpuint (postfix_pending_slots_opened (slots), ==, 3);
  g_assert_cmpuint (postfix_pending_slots_made (slots), ==, 1);
  postfix_registration_drop_pending (fx->reg_dir, POSTFIX_PENDING_BY_IDENT, d);
  /* /proc back before the end (the sanitizers read it at exit). */
  g_assert_cmpint (umount2 ("/proc", MNT_DETACH), ==, 0);
  postfix_pending_slots_free (slots);
  durable_journal_close (journal);
}

/* A message's header line (cleanup's "QID: message-id=", the first line of a message
 * without a client line): postfix_registration_start sets aside a registration that
 * arrived more than POSTFIX_REGISTRATION_REUSE_AFTER before the line (an earlier
 * message's, whose short queue id came back: bound from an ident, it waits as superseded
 * and its client line read again makes it current; without ident, removed); keeps one
 * that arrived within the bound or after the line (this message's, or a later one's read
 * late), and any when the line's time is not known (0); removes a copy's (derived:
 * written at its parent's line, after the copy's own header line). A registration that
 * cannot be read is left alone, by postfix_registration_make_current too (both failed,
 * to be retried for ever, before: review, session 19). */
static void
test_registration_start (Fixture      *fx,
                         gconstpointer data)
{
  const char *ident = "msgtrk-00112233445566778899aabbccddeeff";
  const gint64 arrival = 1796400000;
  const gint64 late = arrival + POSTFIX_REGISTRATION_REUSE_AFTER + 1;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  PostfixCurrentChange done;
  static const char *const qids[] = { "ABC201", "ABC202", "ABC203" };
  const char *name;

  if (g_test_subprocess ())
    {
      /* Unreadable: left alone, warned (to stderr: not fatal here). */
      g_autofree char *bad = g_build_filename (fx->reg_dir, "ABC204.reg", NULL);

      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      g_log_set_fatal_mask ("msgtrk-postfix", G_LOG_FATAL_MASK);
      g_assert_true (g_file_set_contents (bad, "MSGTRK-POSTFIX-REG 1\nFuture: x\n", -1, NULL));
      g_assert_true (postfix_registration_start (fx->reg_dir, "ABC204", late, &done, &error));
      g_assert_no_error (error);
      g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
      g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC204", ident, &done,
                                                        &error));
      g_assert_no_error (error);
      g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
      g_assert_true (g_file_test (bad, G_FILE_TEST_EXISTS));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*ABC204.reg: left alone (a new message under its queue id)*");

  for (guint i = 0; i < G_N_ELEMENTS (qids); i++)
    {
      g_autoptr (PostfixRegistration) reg = postfix_registration_new (qids[i], "s1", B1,
                                                                      arrival,
                                                                      arrival + 86400);

      g_assert_true (postfix_registration_add_rcpt (reg, "a@test.example", NULL, NULL, &error));
      if (i == 0)
        reg->ident = g_strdup (ident);
      if (i == 2)
        reg->parent = g_strdup ("ABC201");
      g_assert_true (postfix_registration_write (fx->reg_dir, reg, &error));
      g_assert_no_error (error);
    }
  /* No registration: nothing. */
  g_assert_true (postfix_registration_start (fx->reg_dir, "ABC200", late, &done, &error));
  g_assert_no_error (error);
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
  /* Kept: the line before the arrival (read late), at the bound, of unknown time. */
  g_assert_true (postfix_registration_start (fx->reg_dir, "ABC201", arrival - 60, &done,
                                             &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
  g_assert_true (postfix_registration_start (fx->reg_dir, "ABC201", late - 1, &done, &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
  g_assert_true (postfix_registration_start (fx->reg_dir, "ABC201", 0, &done, &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_KEPT);
  g_assert_true (postfix_registration_exists (fx->reg_dir, "ABC201"));
  /* Past the bound: set aside; the first message's client line read again (a restart)
   * makes it current again. */
  g_assert_true (postfix_registration_start (fx->reg_dir, "ABC201", late, &done, &error));
  g_assert_no_error (error);
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_SET_ASIDE);
  g_assert_false (postfix_registration_exists (fx->reg_dir, "ABC201"));
  g_assert_true (postfix_registration_make_current (fx->reg_dir, "ABC201", ident, &done,
                                                    &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_RESTORED);
  /* Without ident: removed, nothing left of it. */
  g_assert_true (postfix_registration_start (fx->reg_dir, "ABC202", late, &done, &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_SET_ASIDE);
  g_assert_false (postfix_registration_exists (fx->reg_dir, "ABC202"));
  dir = g_dir_open (fx->reg_dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_assert_false (g_str_has_prefix (name, "ABC202"));
  /* A copy's: removed at any header line read in log order. */
  g_assert_true (postfix_registration_start (fx->reg_dir, "ABC203", arrival, &done, &error));
  g_assert_cmpint (done, ==, POSTFIX_CURRENT_SET_ASIDE);
  g_assert_false (postfix_registration_exists (fx->reg_dir, "ABC203"));
  /* Not a queue id: an error. */
  g_assert_false (postfix_registration_start (fx->reg_dir, "ABC/1", late, &done, &error));
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_clear_error (&error);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/postfix-track/pending/slots", test_pending_slots);
  ADD ("/postfix-track/pending/slots-crash", test_pending_slots_crash);
  ADD ("/postfix-track/pending/slot-read-dropped", test_pending_slot_read_dropped);
  ADD ("/postfix-track/pending/slot-read-replaced", test_pending_slot_read_replaced);
  ADD ("/postfix-track/pending/slot-lost", test_pending_slot_lost);
  ADD ("/postfix-track/pending/slot-fifo", test_pending_slot_fifo);
  ADD ("/postfix-track/pending/slot-proc-gone", test_pending_slot_proc_gone);
  ADD ("/postfix-track/registration/roundtrip", test_registration_roundtrip);
  g_test_add_func ("/postfix-track/registration/malformed", test_registration_malformed);
  g_test_add_func ("/postfix-track/registration/limit", test_registration_limit);
  g_test_add_func ("/postfix-track/registration/head-max", test_registration_head_max);
  ADD ("/postfix-track/registration/start", test_registration_start);
  ADD ("/postfix-track/registration/pending", test_pending);
  ADD ("/postfix-track/registration/pending-skip", test_pending_skip);
  ADD ("/postfix-track/registration/orphan", test_orphan);
  ADD ("/postfix-track/registration/pending-ident", test_pending_ident);
  ADD ("/postfix-track/registration/recover-reused-queue-id", test_recover_reused_queue_id);
  ADD ("/postfix-track/registration/recover-pending-same-envid",
       test_recover_pending_same_envid);
  ADD ("/postfix-track/record/replay", test_replay);
  ADD ("/postfix-track/record/clock-back", test_clock_back);
  ADD ("/postfix-track/record/transferred", test_transferred);
  ADD ("/postfix-track/record/transferred-loopback", test_transferred_loopback);
  ADD ("/postfix-track/record/content-filter", test_content_filter);
  ADD ("/postfix-track/record/content-filter-unix", test_content_filter_unix);
  ADD ("/postfix-track/record/content-filter-late-leg", test_content_filter_late_leg);
  ADD ("/postfix-track/record/child-overflow", test_child_overflow);
  ADD ("/postfix-track/record/child-overflow-size", test_child_overflow_size);
  ADD ("/postfix-track/record/review-full-overflow", test_review_full_overflow);
  ADD ("/postfix-track/record/review-failed-member", test_review_failed_member);
  ADD ("/postfix-track/record/mark-not-text", test_mark_not_text);
  ADD ("/postfix-track/record/expired", test_expired);
  ADD ("/postfix-track/record/other-owner", test_other_owner);
  ADD ("/postfix-track/record/diagnostic-limit", test_diagnostic_limit);
  ADD ("/postfix-track/record/hostile-text", test_hostile_text);
  ADD ("/postfix-track/record/hostile-many", test_hostile_many);
  ADD ("/postfix-track/record/hostile-field-limit", test_hostile_field_limit);
  ADD ("/postfix-track/record/hostile-addresses", test_hostile_addresses);
  ADD ("/postfix-track/record/rcpt-as-logged", test_rcpt_as_logged);
  ADD ("/postfix-track/record/rcpt-as-logged-quoted", test_rcpt_as_logged_quoted);
  ADD ("/postfix-track/record/rcpt-as-logged-mixed", test_rcpt_as_logged_mixed);
  ADD ("/postfix-track/batch/same-as-lines", test_batch_same_as_lines);
  ADD ("/postfix-track/batch/replay", test_batch_replay);
  ADD ("/postfix-track/batch/limits", test_batch_limits);
  ADD ("/postfix-track/batch/fit", test_batch_fit);
  ADD ("/postfix-track/batch/other-owner", test_batch_other_owner);
  ADD ("/postfix-track/batch/malformed-stored", test_batch_malformed_stored);
  ADD ("/postfix-track/batch/child-after-entry", test_batch_child_first);
#undef ADD
  return g_test_run ();
}
