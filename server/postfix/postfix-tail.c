/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-tail.c: follow Postfix's log file (contract: postfix-tail.h).
 *
 * State: the open file (descriptor, inode), the offset of the next octet to read, and the
 * octets of a line not yet ended (at most POSTFIX_LOG_MAX_LINE + 1 are kept; the rest of
 * an over-long line is skipped up to its LF). The position handed out (get_position) is
 * the start of that unfinished line: what a restart must read again.
 *
 * Limits: POSTFIX_TAIL_MAX_READ per poll; POSTFIX_LOG_MAX_LINE + 1 octets of a line.
 * Never: write to the log; hand out a line without its LF.
 */
#include "config.h"

#include "postfix-tail.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "postfix-log.h"

#define TAIL_POS_MAGIC "MSGTRK-POSTFIX-POS 1"

struct _PostfixTail
{
  char *path;          /* (owned) */
  int fd;              /* -1: not open */
  guint64 ino;
  guint64 offset;      /* next octet to read */
  GString *partial;    /* (owned) an unfinished line */
  guint64 partial_start;
  gboolean overlong;   /* skipping the rest of an over-long line */
  gboolean eof_once;   /* the last read met end-of-file while the path names another file */
};

PostfixTail *
postfix_tail_new (const char *path)
{
  PostfixTail *tail = g_new0 (PostfixTail, 1);

  tail->path = g_strdup (path);
  tail->fd = -1;
  tail->partial = g_string_new (NULL);
  return tail;
}

void
postfix_tail_free (PostfixTail *tail)
{
  if (tail == NULL)
    return;
  if (tail->fd >= 0)
    close (tail->fd);
  g_free (tail->path);
  g_string_free (tail->partial, TRUE);
  g_free (tail);
}

static void
tail_close (PostfixTail *tail)
{
  if (tail->fd >= 0)
    close (tail->fd);
  tail->fd = -1;
  tail->offset = 0;
  tail->ino = 0;
  g_string_truncate (tail->partial, 0);
  tail->partial_start = 0;
  tail->overlong = FALSE;
  tail->eof_once = FALSE;
}

static gboolean
tail_open (PostfixTail *tail,
           const char  *path,
           guint64      offset)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd < 0)
    return FALSE;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return FALSE;
    }
  tail_close (tail);
  tail->fd = fd;
  tail->ino = (guint64) st.st_ino;
  tail->offset = (guint64) st.st_size >= offset ? offset : 0;
  tail->partial_start = tail->offset;
  return TRUE;
}

/* A rotated name of @base in its directory: "maillog.1", "maillog-2026..." (not .gz...). */
static gboolean
is_rotated_name (const char *name,
                 const char *base)
{
  gsize n = strlen (base);
  static const char *const compressed[] = { ".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z" };

  if (strncmp (name, base, n) != 0 || (name[n] != '.' && name[n] != '-'))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (compressed); i++)
    if (g_str_has_suffix (name, compressed[i]))
      return FALSE;
  return TRUE;
}

/**
 * postfix_tail_resume:
 * @tail: a tail not yet polled
 * @ino: the saved inode
 * @offset: the saved offset in it
 *
 * Reopens the saved position: the file at the path if it has @ino, else the rotated
 * sibling that has it (then the path's file from its start once that one is read). If no
 * file has @ino, reading starts at the start of the path's file.
 */
void
postfix_tail_resume (PostfixTail *tail,
                     guint64      ino,
                     guint64      offset)
{
  g_autofree char *dir = g_path_get_dirname (tail->path);
  g_autofree char *base = g_path_get_basename (tail->path);
  g_autoptr (GDir) d = NULL;
  const char *name;
  GStatBuf st;

  if (g_stat (tail->path, &st) == 0 && (guint64) st.st_ino == ino)
    {
      tail_open (tail, tail->path, offset);
      return;
    }
  d = g_dir_open (dir, 0, NULL);
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = NULL;

      if (!is_rotated_name (name, base))
        continue;
      p = g_build_filename (dir, name, NULL);
      if (g_stat (p, &st) == 0 && (guint64) st.st_ino == ino && tail_open (tail, p, offset))
        {
          g_message ("Resuming in the rotated log %s at offset %" G_GUINT64_FORMAT, p, offset);
          return;
        }
    }
  if (ino != 0)
    g_warning ("The saved log position (inode %" G_GUINT64_FORMAT ") is in no file any more; "
               "reading %s from its start",
               ino, tail->path);
  tail_open (tail, tail->path, 0);
}

/* Hand out the complete lines of @buf[0..n) read at tail->offset. */
static guint
tail_split (PostfixTail        *tail,
            const char         *buf,
            gsize               n,
            PostfixTailLineFunc func,
            gpointer            user_data)
{
  guint lines = 0;
  gsize i = 0;

  while (i < n)
    {
      const char *nl = memchr (buf + i, '\n', n - i);
      gsize take = nl != NULL ? (gsize) (nl - (buf + i)) : n - i;

      if (!tail->overlong)
        {
          gsize room = POSTFIX_LOG_MAX_LINE + 1 - tail->partial->len;

          g_string_append_len (tail->partial, buf + i, MIN (take, room));
          if (take > room)
            tail->overlong = TRUE;
        }
      if (tail->partial->len > POSTFIX_LOG_MAX_LINE)
        tail->overlong = TRUE;
      tail->offset += take;
      i += take;
      if (nl == NULL)
        break;
      /* the LF */
      tail->offset++;
      i++;
      func (tail->partial->str, tail->partial->len, tail->ino, tail->partial_start, user_data);
      lines++;
      g_string_truncate (tail->partial, 0);
      tail->overlong = FALSE;
      tail->partial_start = tail->offset;
    }
  return lines;
}

/**
 * postfix_tail_poll:
 * @tail: a tail
 * @func: called per complete line
 * @user_data: for @func
 * @lines_out: (out) (optional): lines handed out
 * @error: return location for a #GError
 *
 * Reads what was appended, follows a rotation or a truncation. A missing log file is
 * not an error (Postfix creates it at its first line).
 *
 * Returns: %TRUE, or %FALSE with @error set on a read error
 */
gboolean
postfix_tail_poll (PostfixTail        *tail,
                   PostfixTailLineFunc func,
                   gpointer            user_data,
                   guint              *lines_out,
                   GError            **error)
{
  g_autofree char *buf = NULL;
  gsize total = 0;
  guint lines = 0;
  struct stat st;
  GStatBuf path_st;

  if (lines_out != NULL)
    *lines_out = 0;
  if (tail->fd < 0 && !tail_open (tail, tail->path, 0))
    return TRUE;

  /* Truncation (copytruncate): the file is now shorter than what was read. */
  if (fstat (tail->fd, &st) == 0 && (guint64) st.st_size < tail->offset)
    {
      g_message ("%s was truncated: reading it again from its start", tail->path);
      g_string_truncate (tail->partial, 0);
      tail->overlong = FALSE;
      tail->offset = 0;
      tail->partial_start = 0;
    }

  buf = g_malloc (64 * 1024);
  while (total < POSTFIX_TAIL_MAX_READ)
    {
      ssize_t n = pread (tail->fd, buf, 64 * 1024, (off_t) tail->offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot read %s: %s",
                       tail->path, g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        break;
      total += (gsize) n;
      lines += tail_split (tail, buf, (gsize) n, func, user_data);
    }

  /* Rotation by rename: at end-of-file twice while the path names another file, the
   * writer has moved on; an unfinished last line of the old file is handed out as is. */
  if (total == 0 && g_stat (tail->path, &path_st) == 0 && (guint64) path_st.st_ino != tail->ino)
    {
      if (tail->eof_once)
        {
          if (tail->partial->len > 0)
            {
              func (tail->partial->str, tail->partial->len, tail->ino, tail->partial_start,
                    user_data);
              lines++;
            }
          g_message ("%s was rotated: reading the new file", tail->path);
          tail_open (tail, tail->path, 0);
        }
      else
        tail->eof_once = TRUE;
    }
  else
    tail->eof_once = FALSE;
  if (lines_out != NULL)
    *lines_out = lines;
  return TRUE;
}

/* Where a restart must begin: the start of the unfinished line of the open file. */
void
postfix_tail_get_position (PostfixTail *tail,
                           guint64     *ino,
                           guint64     *offset)
{
  *ino = tail->ino;
  *offset = tail->partial_start;
}

gboolean
postfix_tail_save_position (const char *path,
                            guint64     ino,
                            guint64     offset,
                            GError    **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  g_autofree char *text = g_strdup_printf (TAIL_POS_MAGIC "\n%" G_GUINT64_FORMAT
                                           " %" G_GUINT64_FORMAT "\n",
                                           ino, offset);

  return durable_file_replace (tmp, path, dir, text, strlen (text), error);
}

/* A missing file is position (0, 0) and no error. */
gboolean
postfix_tail_load_position (const char *path,
                            guint64    *ino,
                            guint64    *offset,
                            GError    **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_auto (GStrv) lines = NULL;
  g_auto (GStrv) fields = NULL;
  g_autoptr (GError) local = NULL;

  *ino = 0;
  *offset = 0;
  if (!g_file_get_contents (path, &text, &len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  lines = g_strsplit (text, "\n", 3);
  if (len > 256 || lines[0] == NULL || strcmp (lines[0], TAIL_POS_MAGIC) != 0
      || lines[1] == NULL)
    goto bad;
  fields = g_strsplit (lines[1], " ", -1);
  if (g_strv_length (fields) != 2
      || !g_ascii_string_to_unsigned (fields[0], 10, 0, G_MAXUINT64, ino, NULL)
      || !g_ascii_string_to_unsigned (fields[1], 10, 0, G_MAXINT64, offset, NULL))
    goto bad;
  return TRUE;
bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "%s is not a follower position file", path);
  return FALSE;
}
