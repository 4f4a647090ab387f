/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-postfix-tail.c: following a log file (server/postfix/postfix-tail.c).
 *
 * Lines handed out whole with their start offsets, a partial line kept until its LF; a line
 * of POSTFIX_LOG_MAX_LINE octets whole, one longer cut to POSTFIX_LOG_MAX_LINE + 1 and the
 * next line intact; rotation by rename (after two quiet polls) with the old file's last
 * lines read first; truncation; resuming a saved position in the file, in a rotated
 * sibling, and in a file that is gone; the position file round trip and a malformed one.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "postfix-log.h"
#include "postfix-tail.h"

typedef struct
{
  GPtrArray *lines;     /* of char* */
  GArray *starts;       /* of guint64 */
  GArray *keys;         /* of guint64 */
} Got;

static void
on_line (const char *line,
         gsize       len,
         guint64     ino,
         guint64     start,
         gpointer    data)
{
  Got *got = data;

  g_ptr_array_add (got->lines, g_strndup (line, len));
  g_array_append_val (got->starts, start);
  g_array_append_val (got->keys, ino);
}

static void
got_init (Got *got)
{
  got->lines = g_ptr_array_new_with_free_func (g_free);
  got->starts = g_array_new (FALSE, FALSE, sizeof (guint64));
  got->keys = g_array_new (FALSE, FALSE, sizeof (guint64));
}

static void
got_clear (Got *got)
{
  g_ptr_array_unref (got->lines);
  g_array_unref (got->starts);
  g_array_unref (got->keys);
}

static void
append (const char *path,
        const char *text)
{
  FILE *f = fopen (path, "a");

  g_assert_nonnull (f);
  fputs (text, f);
  fclose (f);
}

static guint
poll_once (PostfixTail *tail,
           Got         *got)
{
  guint n = 0;

  g_assert_true (postfix_tail_poll (tail, on_line, got, &n, NULL));
  return n;
}

static char *
tmpdir (void)
{
  return g_dir_make_tmp ("postfix-tail-XXXXXX", NULL);
}

static void
rm_dir (const char *dir)
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

static void
test_lines (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  Got got;
  guint64 ino, off;

  got_init (&got);
  g_assert_cmpuint (poll_once (tail, &got), ==, 0); /* no file yet: not an error */
  append (path, "one\ntwo\nthr");
  g_assert_cmpuint (poll_once (tail, &got), ==, 2);
  postfix_tail_get_position (tail, &ino, &off);
  g_assert_cmpuint (off, ==, 8); /* the start of the unfinished "thr" */
  append (path, "ee\n");
  g_assert_cmpuint (poll_once (tail, &got), ==, 1);
  g_assert_cmpstr (g_ptr_array_index (got.lines, 2), ==, "three");
  g_assert_cmpuint (g_array_index (got.starts, guint64, 1), ==, 4);
  g_assert_cmpuint (g_array_index (got.starts, guint64, 2), ==, 8);
  got_clear (&got);
  rm_dir (dir);
}

/* A line of exactly POSTFIX_LOG_MAX_LINE is whole; one octet more is cut to MAX + 1. */
static void
test_long_lines (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  g_autofree char *at = g_strnfill (POSTFIX_LOG_MAX_LINE, 'a');
  g_autofree char *past = g_strnfill (POSTFIX_LOG_MAX_LINE * 3, 'b');
  g_autofree char *text = g_strdup_printf ("%s\n%s\nnext\n", at, past);
  Got got;

  got_init (&got);
  append (path, text);
  g_assert_cmpuint (poll_once (tail, &got), ==, 3);
  g_assert_cmpuint (strlen (g_ptr_array_index (got.lines, 0)), ==, POSTFIX_LOG_MAX_LINE);
  g_assert_cmpuint (strlen (g_ptr_array_index (got.lines, 1)), ==, POSTFIX_LOG_MAX_LINE + 1);
  g_assert_cmpstr (g_ptr_array_index (got.lines, 2), ==, "next");
  got_clear (&got);
  rm_dir (dir);
}

static void
test_rotation_and_truncation (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *old = g_build_filename (dir, "maillog.1", NULL);
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  Got got;

  got_init (&got);
  append (path, "a\n");
  poll_once (tail, &got);
  append (path, "b\n");                 /* written before the rename, not yet read */
  g_assert_cmpint (g_rename (path, old), ==, 0);
  append (path, "c\n");
  g_assert_cmpuint (poll_once (tail, &got), ==, 1);   /* "b" from the old file */
  g_assert_cmpuint (poll_once (tail, &got), ==, 0);   /* quiet once */
  poll_once (tail, &got);                              /* quiet twice: switch */
  poll_once (tail, &got);
  g_assert_cmpuint (got.lines->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (got.lines, 2), ==, "c");
  /* Truncation, seen at the next poll (lines written between the truncation and that
   * poll that bring the file back to its old size are the known copytruncate limit):
   * read again from the start. */
  g_assert_cmpint (truncate (path, 0), ==, 0);
  poll_once (tail, &got);
  append (path, "d\n");
  poll_once (tail, &got);
  g_assert_cmpuint (got.lines->len, ==, 4);
  g_assert_cmpstr (g_ptr_array_index (got.lines, 3), ==, "d");
  got_clear (&got);
  rm_dir (dir);
}

/* logrotate with "create" (no copytruncate) after "a" was read: the log renamed to @old
 * and a new, empty file made at once at @path, syslog writing to the renamed one until its
 * postrotate signal. Lines written to it then, however many quiet polls later, are read
 * before the new file's. */
static void
check_late_reopen (PostfixTail *tail,
                   const char  *path,
                   const char  *old,
                   Got         *got)
{
  for (guint i = 0; i < 5; i++)
    g_assert_cmpuint (poll_once (tail, got), ==, 0); /* quiet, the new file empty */
  append (old, "b-before-reopen\n");                /* syslog, not yet signalled */
  g_assert_cmpuint (poll_once (tail, got), ==, 1);
  append (path, "c-after-reopen\n");
  for (guint i = 0; i < 3; i++)
    poll_once (tail, got);
  g_assert_cmpuint (got->lines->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (got->lines, 1), ==, "b-before-reopen");
  g_assert_cmpstr (g_ptr_array_index (got->lines, 2), ==, "c-after-reopen");
}

/* The rotation seen while running. */
static void
test_rotation_create_late_reopen (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *old = g_build_filename (dir, "maillog.1", NULL);
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  Got got;

  got_init (&got);
  append (path, "a\n");
  poll_once (tail, &got);
  g_assert_cmpint (g_rename (path, old), ==, 0);
  append (path, "");
  check_late_reopen (tail, path, old, &got);
  got_clear (&got);
  rm_dir (dir);
}

/* The follower restarted between logrotate's create and syslog's reopen: the resume
 * finds its position in the renamed file and stays on it until the new one holds data. */
static void
test_resume_create_late_reopen (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *old = g_build_filename (dir, "maillog.1", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autoptr (PostfixTail) tail = NULL;
  PostfixTailPosition saved;
  guint64 ino, off;
  Got got;

  got_init (&got);
  append (path, "a\n");
  {
    g_autoptr (PostfixTail) first = postfix_tail_new (path);

    poll_once (first, &got);
    postfix_tail_get_position (first, &ino, &off);
    g_assert_true (postfix_tail_save_position (first, pos, ino, off, NULL));
  }
  g_assert_true (postfix_tail_load_position (pos, &saved, NULL));
  g_assert_cmpint (g_rename (path, old), ==, 0);
  append (path, "");
  tail = postfix_tail_new (path);
  postfix_tail_resume (tail, &saved);
  check_late_reopen (tail, path, old, &got);
  got_clear (&got);
  rm_dir (dir);
}

static void
test_resume (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *old = g_build_filename (dir, "maillog.1", NULL);
  g_autofree char *gz = g_build_filename (dir, "maillog.2.gz", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  guint64 ino, off;
  PostfixTailPosition saved;
  Got got;

  got_init (&got);
  append (path, "1\n2\n");
  {
    g_autoptr (PostfixTail) tail = postfix_tail_new (path);

    poll_once (tail, &got);
    postfix_tail_get_position (tail, &ino, &off);
    g_assert_true (postfix_tail_save_position (tail, pos, ino, off, NULL));
  }
  g_assert_true (postfix_tail_load_position (pos, &saved, NULL));
  g_assert_cmpuint (saved.ino, ==, ino);
  g_assert_cmpuint (saved.offset, ==, 4);
  g_assert_cmpuint (saved.fp_len, ==, 4);
  /* Rotated while stopped: the rest of the old file, then the new one. */
  append (path, "3\n");
  g_assert_cmpint (g_rename (path, old), ==, 0);
  append (gz, "compressed\n");
  append (path, "4\n");
  {
    g_autoptr (PostfixTail) tail = postfix_tail_new (path);

    postfix_tail_resume (tail, &saved);
    for (guint i = 0; i < 4; i++)
      poll_once (tail, &got);
  }
  g_assert_cmpuint (got.lines->len, ==, 4);
  g_assert_cmpstr (g_ptr_array_index (got.lines, 2), ==, "3");
  g_assert_cmpstr (g_ptr_array_index (got.lines, 3), ==, "4");
  got_clear (&got);
  rm_dir (dir);
}

/* A position in no file: the current file from its start, with a warning (a child
 * process: warnings are fatal in tests). */
static void
test_resume_lost (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = tmpdir ();
      g_autofree char *path = g_build_filename (dir, "maillog", NULL);
      g_autoptr (PostfixTail) tail = postfix_tail_new (path);
      PostfixTailPosition lost = { 1, 100, 0, "" };
      Got got;

      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      g_log_set_fatal_mask ("msgtrk-postfix", G_LOG_FATAL_MASK);
      got_init (&got);
      append (path, "first\n");
      postfix_tail_resume (tail, &lost);
      poll_once (tail, &got);
      g_assert_cmpuint (got.lines->len, ==, 1);
      g_assert_cmpstr (g_ptr_array_index (got.lines, 0), ==, "first");
      got_clear (&got);
      rm_dir (dir);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*is in no file*");
}

/* What `postfix logrotate` does to the old file a second after the rename
 * (maillog_file_compressor = gzip): a compressed copy, the file itself removed. */
static void
gzip_file (const char *src,
           const char *dst)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GZlibCompressor) zc = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1);
  g_autoptr (GFile) file = g_file_new_for_path (dst);
  g_autoptr (GFileOutputStream) fo = NULL;
  g_autoptr (GOutputStream) out = NULL;

  g_assert_true (g_file_get_contents (src, &data, &len, NULL));
  fo = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, NULL);
  g_assert_nonnull (fo);
  out = g_converter_output_stream_new (G_OUTPUT_STREAM (fo), G_CONVERTER (zc));
  g_assert_true (g_output_stream_write_all (out, data, len, NULL, NULL, NULL));
  g_assert_true (g_output_stream_close (out, NULL, NULL));
  g_assert_cmpint (g_unlink (src), ==, 0);
}

static void
copy_file (const char *src,
           const char *dst)
{
  g_autofree char *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (src, &data, &len, NULL));
  g_assert_true (g_file_set_contents (dst, data, (gssize) len, NULL));
}

/* The lines of @got from @from on, joined with spaces. */
static char *
got_joined (Got  *got,
            guint from)
{
  GString *s = g_string_new (NULL);

  for (guint i = from; i < got->lines->len; i++)
    g_string_append_printf (s, "%s%s", i > from ? " " : "", (char *) g_ptr_array_index (got->lines, i));
  return g_string_free (s, FALSE);
}

/* Reads @path, saves the position in @pos. */
static void
read_and_save (const char *path,
               const char *pos,
               Got        *got)
{
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  guint64 ino, off;

  poll_once (tail, got);
  postfix_tail_get_position (tail, &ino, &off);
  g_assert_true (postfix_tail_save_position (tail, pos, ino, off, NULL));
}

/* Resumes from @pos and polls @polls times. */
static void
resume_and_poll (const char *path,
                 const char *pos,
                 Got        *got,
                 guint       polls)
{
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  guint64 ino, off;

  g_assert_true (postfix_tail_resume_from_file (tail, pos, &ino, &off, NULL));
  for (guint i = 0; i < polls; i++)
    poll_once (tail, got);
}

/* The same with a lower POSTFIX_TAIL_MAX_SKIP. */
static void
resume_and_poll_skip (const char *path,
                      const char *pos,
                      Got        *got,
                      guint       polls,
                      guint64     max_skip)
{
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  guint64 ino, off;

  postfix_tail_set_max_skip (tail, max_skip);
  g_assert_true (postfix_tail_resume_from_file (tail, pos, &ino, &off, NULL));
  for (guint i = 0; i < polls; i++)
    poll_once (tail, got);
}

/* `postfix logrotate` while the follower is stopped: the log renamed to
 * maillog.YYYYMMDD-HHMMSS, a new log started, then the old one gzipped (its inode gone).
 * The rest of the old log is read from the saved position, then the new one, each line
 * once, in order. */
static void
test_resume_logrotate_gzip (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *rotated = g_build_filename (dir, "maillog.20261205-131650", NULL);
  g_autofree char *gz = g_build_filename (dir, "maillog.20261205-131650.gz", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *joined = NULL;
  Got got;

  got_init (&got);
  append (path, "Dec  5 10:00:01 mx postfix/qmgr[1]: one\nDec  5 10:00:02 mx postfix/qmgr[1]: two\n");
  read_and_save (path, pos, &got);
  g_assert_cmpuint (got.lines->len, ==, 2);
  append (path, "Dec  5 10:00:03 mx postfix/qmgr[1]: three\n");
  g_assert_cmpint (g_rename (path, rotated), ==, 0);
  append (path, "Dec  5 10:00:04 mx postfix/qmgr[1]: four\n");
  gzip_file (rotated, gz);
  resume_and_poll (path, pos, &got, 6);
  joined = got_joined (&got, 2);
  g_assert_cmpstr (joined, ==, "Dec  5 10:00:03 mx postfix/qmgr[1]: three "
                               "Dec  5 10:00:04 mx postfix/qmgr[1]: four");
  got_clear (&got);
  rm_dir (dir);
}

/* copytruncate while stopped: maillog copied to maillog.1, truncated, then grown past the
 * saved offset. The same inode has another content: the rest of the old content is read
 * from the copy, then the new content from its start. */
static void
test_resume_copytruncate (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *copy = g_build_filename (dir, "maillog.1", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *joined = NULL;
  Got got;

  got_init (&got);
  append (path, "Dec  5 10:00:01 old1\nDec  5 10:00:02 old2\n");
  read_and_save (path, pos, &got);
  append (path, "Dec  5 10:00:03 old3\n");
  copy_file (path, copy);
  g_assert_cmpint (truncate (path, 0), ==, 0);
  append (path, "Dec  5 11:00:01 new1\nDec  5 11:00:02 new2\nDec  5 11:00:03 new3\n");
  resume_and_poll (path, pos, &got, 6);
  joined = got_joined (&got, 2);
  g_assert_cmpstr (joined, ==, "Dec  5 10:00:03 old3 Dec  5 11:00:01 new1 "
                               "Dec  5 11:00:02 new2 Dec  5 11:00:03 new3");
  got_clear (&got);
  rm_dir (dir);
}

/* copytruncate while stopped and no copy kept: the new content from its start, and a
 * warning that the old content's lines after the position may be lost. */
static void
test_resume_copytruncate_no_copy (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = tmpdir ();
      g_autofree char *path = g_build_filename (dir, "maillog", NULL);
      g_autofree char *pos = g_build_filename (dir, "pos", NULL);
      g_autofree char *joined = NULL;
      Got got;

      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      g_log_set_fatal_mask ("msgtrk-postfix", G_LOG_FATAL_MASK);
      got_init (&got);
      append (path, "Dec  5 10:00:01 old1\nDec  5 10:00:02 old2\n");
      read_and_save (path, pos, &got);
      g_assert_cmpint (truncate (path, 0), ==, 0);
      append (path, "Dec  5 11:00:01 new1\nDec  5 11:00:02 new2\nDec  5 11:00:03 new3\n");
      resume_and_poll (path, pos, &got, 3);
      joined = got_joined (&got, 2);
      g_assert_cmpstr (joined, ==, "Dec  5 11:00:01 new1 Dec  5 11:00:02 new2 "
                                   "Dec  5 11:00:03 new3");
      got_clear (&got);
      rm_dir (dir);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*may be lost*");
}

/* Rotated twice while stopped (logrotate's numbered scheme with compression): maillog.2.gz
 * has the position, maillog.1 came after it, then the current log. */
static void
test_resume_rotated_twice (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *one = g_build_filename (dir, "maillog.1", NULL);
  g_autofree char *two = g_build_filename (dir, "maillog.2.gz", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *joined = NULL;
  Got got;

  got_init (&got);
  append (path, "Dec  5 10:00:01 A1\nDec  5 10:00:02 A2\n");
  read_and_save (path, pos, &got);
  append (path, "Dec  5 10:00:03 A3\n");
  g_assert_cmpint (g_rename (path, one), ==, 0);
  append (path, "Dec  5 11:00:01 B1\n");
  gzip_file (one, two);
  g_assert_cmpint (g_rename (path, one), ==, 0);
  append (path, "Dec  5 12:00:01 C1\n");
  resume_and_poll (path, pos, &got, 8);
  joined = got_joined (&got, 2);
  g_assert_cmpstr (joined, ==, "Dec  5 10:00:03 A3 Dec  5 11:00:01 B1 Dec  5 12:00:01 C1");
  got_clear (&got);
  rm_dir (dir);
}

/* The position in the oldest of @n numbered rotated files (maillog.@n). */
static void
rotated_limit_case (guint        n,
                    const char  *want)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *oldest = NULL;
  g_autofree char *joined = NULL;
  Got got;

  got_init (&got);
  append (path, "Dec  5 09:00:01 T1\n");
  read_and_save (path, pos, &got);
  append (path, "Dec  5 09:00:02 T2\n");
  oldest = g_strdup_printf ("%s.%u", path, n);
  g_assert_cmpint (g_rename (path, oldest), ==, 0);
  for (guint i = n - 1; i >= 1; i--)
    {
      g_autofree char *p = g_strdup_printf ("%s.%u", path, i);
      g_autofree char *line = g_strdup_printf ("Dec  5 10:00:%02u R%u\n", i, i);

      append (p, line);
    }
  append (path, "Dec  5 11:00:00 NOW\n");
  resume_and_poll (path, pos, &got, 3 * n + 4);
  joined = got_joined (&got, 1);
  g_assert_cmpstr (joined, ==, want);
  got_clear (&got);
  rm_dir (dir);
}

/* POSTFIX_TAIL_MAX_ROTATED rotated files are looked at: the position in the oldest of
 * them is found; in the oldest of one more, it is not (a warning names the limit). */
static void
test_resume_max_rotated (void)
{
  if (g_test_subprocess ())
    {
      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      g_log_set_fatal_mask ("msgtrk-postfix", G_LOG_FATAL_MASK);
      rotated_limit_case (POSTFIX_TAIL_MAX_ROTATED + 1, "Dec  5 11:00:00 NOW");
      return;
    }
  {
    GString *want = g_string_new ("Dec  5 09:00:02 T2");
    g_autofree char *w = NULL;

    for (guint i = POSTFIX_TAIL_MAX_ROTATED - 1; i >= 1; i--)
      g_string_append_printf (want, " Dec  5 10:00:%02u R%u", i, i);
    g_string_append (want, " Dec  5 11:00:00 NOW");
    w = g_string_free (want, FALSE);
    rotated_limit_case (POSTFIX_TAIL_MAX_ROTATED, w);
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*looked at 16 rotated files, 1 older ones not (the limit)*");
}

/* A position @skip octets into a gzipped file, with max_skip @max_skip. */
static void
skip_limit_case (guint64     max_skip,
                 const char *want)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *rotated = g_build_filename (dir, "maillog.20261205-131650", NULL);
  g_autofree char *gz = g_build_filename (dir, "maillog.20261205-131650.gz", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *joined = NULL;
  Got got;

  got_init (&got);
  append (path, "Dec  5 10:00:01 L1\n"); /* 19 octets: the position */
  read_and_save (path, pos, &got);
  append (path, "Dec  5 10:00:02 L2\n");
  g_assert_cmpint (g_rename (path, rotated), ==, 0);
  append (path, "Dec  5 11:00:01 N1\n");
  gzip_file (rotated, gz);
  resume_and_poll_skip (path, pos, &got, 4, max_skip);
  joined = got_joined (&got, 1);
  g_assert_cmpstr (joined, ==, want);
  got_clear (&got);
  rm_dir (dir);
}

/* max_skip octets decompressed to reach a position: at it, found; one past, the rest of
 * that file is not read (a warning), the newer files are. */
static void
test_resume_max_skip (void)
{
  if (g_test_subprocess ())
    {
      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      g_log_set_fatal_mask ("msgtrk-postfix", G_LOG_FATAL_MASK);
      skip_limit_case (18, "Dec  5 11:00:01 N1");
      return;
    }
  skip_limit_case (19, "Dec  5 10:00:02 L2 Dec  5 11:00:01 N1");
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*19 octets into the compressed*past the 18 this follower*");
}

/* A position file of format 1 (no head): still read; its file found by inode. */
static void
test_resume_format_1 (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *one = g_build_filename (dir, "maillog.1", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *text = NULL;
  g_autofree char *joined = NULL;
  PostfixTailPosition p;
  GStatBuf st;
  Got got;

  got_init (&got);
  append (path, "u1\nu2\n");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  text = g_strdup_printf ("MSGTRK-POSTFIX-POS 1\n%" G_GUINT64_FORMAT " 3\n",
                          (guint64) st.st_ino);
  g_assert_true (g_file_set_contents (pos, text, -1, NULL));
  g_assert_true (postfix_tail_load_position (pos, &p, NULL));
  g_assert_cmpuint (p.ino, ==, (guint64) st.st_ino);
  g_assert_cmpuint (p.offset, ==, 3);
  g_assert_cmpuint (p.fp_len, ==, 0);
  g_assert_cmpint (g_rename (path, one), ==, 0);
  append (path, "u3\n");
  resume_and_poll (path, pos, &got, 4);
  joined = got_joined (&got, 0);
  g_assert_cmpstr (joined, ==, "u2 u3");
  got_clear (&got);
  rm_dir (dir);
}

/* A rotated file compressed with a method not read here (.xz) is named when the position
 * is not found. */
static void
test_resume_unreadable_compressed (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = tmpdir ();
      g_autofree char *path = g_build_filename (dir, "maillog", NULL);
      g_autofree char *xz = g_build_filename (dir, "maillog.1.xz", NULL);
      g_autofree char *pos = g_build_filename (dir, "pos", NULL);
      g_autofree char *joined = NULL;
      Got got;

      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      g_log_set_fatal_mask ("msgtrk-postfix", G_LOG_FATAL_MASK);
      got_init (&got);
      append (path, "Dec  5 10:00:01 X1\n");
      read_and_save (path, pos, &got);
      g_assert_cmpint (g_rename (path, xz), ==, 0);
      append (path, "Dec  5 11:00:01 Y1\n");
      resume_and_poll (path, pos, &got, 2);
      joined = got_joined (&got, 1);
      g_assert_cmpstr (joined, ==, "Dec  5 11:00:01 Y1");
      got_clear (&got);
      rm_dir (dir);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*not searched: *maillog.1.xz (compressed with a method this "
                             "follower does not read)*may be lost*");
}

/* copytruncate while running: lines written before the copy and not read yet are read
 * from the copy, then the new content from its start, under another key; a position in
 * the old content is saved with the old content's head, one in the new with the new. */
static void
test_copytruncate_running (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *copy = g_build_filename (dir, "maillog.1", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *joined = NULL;
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  PostfixTailPosition p;
  guint64 old_key, new_key;
  Got got;

  got_init (&got);
  append (path, "Dec  5 10:00:01 r1\nDec  5 10:00:02 r2\n");
  poll_once (tail, &got);
  append (path, "Dec  5 10:00:03 r3\n");
  copy_file (path, copy);
  g_assert_cmpint (truncate (path, 0), ==, 0);
  /* grown past the offset before the next poll: seen by its head */
  append (path, "Dec  5 11:00:01 s1 a line longer than the old content was\n");
  for (guint i = 0; i < 4; i++)
    poll_once (tail, &got);
  joined = got_joined (&got, 0);
  g_assert_cmpstr (joined, ==, "Dec  5 10:00:01 r1 Dec  5 10:00:02 r2 Dec  5 10:00:03 r3 "
                               "Dec  5 11:00:01 s1 a line longer than the old content was");
  old_key = g_array_index (got.keys, guint64, 0);
  new_key = g_array_index (got.keys, guint64, 3);
  g_assert_cmpuint (old_key, !=, new_key);
  g_assert_cmpuint (g_array_index (got.keys, guint64, 2), !=, old_key); /* the copy's */
  /* a held line of the old content: saved with the old head (found in the copy) */
  g_assert_true (postfix_tail_save_position (tail, pos, old_key, 19, NULL));
  g_assert_true (postfix_tail_load_position (pos, &p, NULL));
  g_assert_cmpuint (p.fp_len, ==, 38);
  g_assert_true (postfix_tail_save_position (tail, pos, new_key, 0, NULL));
  g_assert_true (postfix_tail_load_position (pos, &p, NULL));
  g_assert_cmpuint (p.fp_len, ==, 58);
  got_clear (&got);
  rm_dir (dir);
}

/* POSTFIX_TAIL_MAX_KEPT files are remembered: a position in the first of them is saved
 * with its head; once one more was read, without (found by inode). */
static void
test_max_kept (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autoptr (PostfixTail) tail = postfix_tail_new (path);
  PostfixTailPosition p;
  guint64 first;
  Got got;

  got_init (&got);
  append (path, "k0\n");
  poll_once (tail, &got);
  first = g_array_index (got.keys, guint64, 0);
  for (guint i = 1; i <= POSTFIX_TAIL_MAX_KEPT; i++)
    {
      g_autofree char *old = g_strdup_printf ("%s.%u", path, i);
      g_autofree char *line = g_strdup_printf ("k%u\n", i);

      if (i == POSTFIX_TAIL_MAX_KEPT)
        {
          /* MAX_KEPT files read: the first still known */
          g_assert_true (postfix_tail_save_position (tail, pos, first, 0, NULL));
          g_assert_true (postfix_tail_load_position (pos, &p, NULL));
          g_assert_cmpuint (p.fp_len, ==, 3);
        }
      g_assert_cmpint (g_rename (path, old), ==, 0);
      append (path, line);
      for (guint j = 0; j < 4; j++)
        poll_once (tail, &got);
      g_assert_cmpuint (got.lines->len, ==, i + 1);
    }
  g_assert_true (postfix_tail_save_position (tail, pos, first, 0, NULL));
  g_assert_true (postfix_tail_load_position (pos, &p, NULL));
  g_assert_cmpuint (p.fp_len, ==, 0);
  g_assert_cmpuint (p.ino, ==, first);
  got_clear (&got);
  rm_dir (dir);
}

/* The head saved with a position: the first POSTFIX_TAIL_FINGERPRINT_MAX octets of a
 * longer file, all of a file that long or shorter. */
static void
test_fingerprint_max (void)
{
  for (guint extra = 0; extra <= 1; extra++)
    {
      g_autofree char *dir = tmpdir ();
      g_autofree char *path = g_build_filename (dir, "maillog", NULL);
      g_autofree char *pos = g_build_filename (dir, "pos", NULL);
      g_autofree char *line = g_strnfill (POSTFIX_TAIL_FINGERPRINT_MAX - 1 + extra, 'f');
      g_autoptr (PostfixTail) tail = postfix_tail_new (path);
      PostfixTailPosition p;
      guint64 ino, off;
      Got got;

      got_init (&got);
      append (path, line);
      append (path, "\n"); /* POSTFIX_TAIL_FINGERPRINT_MAX + extra octets */
      poll_once (tail, &got);
      postfix_tail_get_position (tail, &ino, &off);
      g_assert_true (postfix_tail_save_position (tail, pos, ino, off, NULL));
      g_assert_true (postfix_tail_load_position (pos, &p, NULL));
      g_assert_cmpuint (p.fp_len, ==, POSTFIX_TAIL_FINGERPRINT_MAX);
      g_assert_cmpuint (p.offset, ==, POSTFIX_TAIL_FINGERPRINT_MAX + extra);
      got_clear (&got);
      rm_dir (dir);
    }
}

/* Siblings that are not the rotation looked for: "maillog-other" (no digit after the
 * name) is never read; while gzip runs, maillog.DATE and an unfinished maillog.DATE.gz
 * are both there: the plain one is read. */
static void
test_resume_siblings (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *path = g_build_filename (dir, "maillog", NULL);
  g_autofree char *rotated = g_build_filename (dir, "maillog.20261205-131650", NULL);
  g_autofree char *gz = g_build_filename (dir, "maillog.20261205-131650.gz", NULL);
  g_autofree char *keep = g_build_filename (dir, "keep", NULL);
  g_autofree char *other = g_build_filename (dir, "maillog-other", NULL);
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *data = NULL;
  g_autofree char *joined = NULL;
  gsize len = 0;
  Got got;

  got_init (&got);
  append (path, "Dec  5 10:00:01 P1\n");
  read_and_save (path, pos, &got);
  append (path, "Dec  5 10:00:02 P2\n");
  g_assert_cmpint (g_rename (path, rotated), ==, 0);
  copy_file (rotated, keep);
  gzip_file (rotated, gz);
  g_assert_cmpint (g_rename (keep, rotated), ==, 0);
  g_assert_true (g_file_get_contents (gz, &data, &len, NULL));
  g_assert_true (g_file_set_contents (gz, data, (gssize) len / 2, NULL)); /* unfinished */
  append (other, "Dec  5 23:59:59 OTHER\n");
  append (path, "Dec  5 11:00:01 Q1\n");
  resume_and_poll (path, pos, &got, 4);
  joined = got_joined (&got, 1);
  g_assert_cmpstr (joined, ==, "Dec  5 10:00:02 P2 Dec  5 11:00:01 Q1");
  got_clear (&got);
  rm_dir (dir);
}

static void
test_position_file_malformed (void)
{
  g_autofree char *dir = tmpdir ();
  g_autofree char *pos = g_build_filename (dir, "pos", NULL);
  g_autofree char *missing = g_build_filename (dir, "none", NULL);
  g_autoptr (GError) error = NULL;
  PostfixTailPosition p = { 9, 9, 9, "" };

  g_assert_true (postfix_tail_load_position (missing, &p, NULL));
  g_assert_cmpuint (p.ino, ==, 0);
  g_assert_cmpuint (p.offset, ==, 0);
  g_assert_true (g_file_set_contents (pos, "MSGTRK-POSTFIX-POS 1\n12 x\n", -1, NULL));
  g_assert_false (postfix_tail_load_position (pos, &p, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  /* format 2: a head longer than POSTFIX_TAIL_FINGERPRINT_MAX, a hash that is not one,
   * a head length without a hash; one at the limit is read */
  {
    const char *bad[] = {
      "MSGTRK-POSTFIX-POS 2\n12 3 1025 "
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
      "MSGTRK-POSTFIX-POS 2\n12 3 4 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\n",
      "MSGTRK-POSTFIX-POS 2\n12 3 4 -\n",
      "MSGTRK-POSTFIX-POS 2\n12 3\n",
      "MSGTRK-POSTFIX-POS 3\n12 3 0 -\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_clear_error (&error);
        g_assert_true (g_file_set_contents (pos, bad[i], -1, NULL));
        g_assert_false (postfix_tail_load_position (pos, &p, &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      }
    g_assert_true (g_file_set_contents (pos, "MSGTRK-POSTFIX-POS 2\n12 3 1024 "
                                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
                                       -1, NULL));
    g_assert_true (postfix_tail_load_position (pos, &p, NULL));
    g_assert_cmpuint (p.fp_len, ==, 1024);
    g_assert_cmpstr (p.fp, ==, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }
  g_unlink (pos);
  rm_dir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/postfix-tail/lines", test_lines);
  g_test_add_func ("/postfix-tail/long-lines", test_long_lines);
  g_test_add_func ("/postfix-tail/rotation-truncation", test_rotation_and_truncation);
  g_test_add_func ("/postfix-tail/rotation-create-late-reopen", test_rotation_create_late_reopen);
  g_test_add_func ("/postfix-tail/resume-create-late-reopen", test_resume_create_late_reopen);
  g_test_add_func ("/postfix-tail/resume", test_resume);
  g_test_add_func ("/postfix-tail/resume-lost", test_resume_lost);
  g_test_add_func ("/postfix-tail/resume-logrotate-gzip", test_resume_logrotate_gzip);
  g_test_add_func ("/postfix-tail/resume-copytruncate", test_resume_copytruncate);
  g_test_add_func ("/postfix-tail/resume-copytruncate-no-copy", test_resume_copytruncate_no_copy);
  g_test_add_func ("/postfix-tail/resume-rotated-twice", test_resume_rotated_twice);
  g_test_add_func ("/postfix-tail/resume-max-rotated", test_resume_max_rotated);
  g_test_add_func ("/postfix-tail/resume-max-skip", test_resume_max_skip);
  g_test_add_func ("/postfix-tail/resume-format-1", test_resume_format_1);
  g_test_add_func ("/postfix-tail/resume-unreadable-compressed",
                   test_resume_unreadable_compressed);
  g_test_add_func ("/postfix-tail/copytruncate-running", test_copytruncate_running);
  g_test_add_func ("/postfix-tail/max-kept", test_max_kept);
  g_test_add_func ("/postfix-tail/resume-siblings", test_resume_siblings);
  g_test_add_func ("/postfix-tail/fingerprint-max", test_fingerprint_max);
  g_test_add_func ("/postfix-tail/position-file-malformed", test_position_file_malformed);
  return g_test_run ();
}
