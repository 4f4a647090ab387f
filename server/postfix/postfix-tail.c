/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-tail.c: follow Postfix's log file (contract: postfix-tail.h).
 *
 * State: the file being read (cur: a plain descriptor, or a decompressing stream for a
 * rotated .gz), the offset of the next octet to read in it, and the octets of a line not
 * yet ended (at most POSTFIX_LOG_MAX_LINE + 1 are kept; the rest of an over-long line is
 * skipped up to its LF). The position handed out (get_position) is the start of that
 * unfinished line: what a restart must read again. `kept`: the files read, oldest first,
 * cur last, each with its key and head, so that a position in any of them (the caller may
 * hold lines of an earlier file) is saved with that file's head; saving a position forgets
 * the files before it. `next`: files opened by a resume or a truncation, read after cur in
 * order; after them, the file at the path.
 *
 * Limits: see postfix-tail.h; POSTFIX_LOG_MAX_LINE + 1 octets of a line.
 * Never: write to the log; hand out a line without its LF (but a rotated file's last).
 */
#include "config.h"

#include "postfix-tail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "postfix-log.h"

#define TAIL_POS_MAGIC_1 "MSGTRK-POSTFIX-POS 1"
#define TAIL_POS_MAGIC_2 "MSGTRK-POSTFIX-POS 2"
#define TAIL_BUF_SIZE (64 * 1024)

typedef enum
{
  TAIL_PLAIN,
  TAIL_GZIP,
  TAIL_UNREADABLE, /* compressed with a method not read here */
} TailKind;

typedef struct
{
  guint64 key;        /* handed out with the lines, saved with positions */
  guint64 ino;        /* its inode (the compressed file's, for one) */
  char *name;         /* (owned) for the log */
  int fd;             /* a plain file; -1 for a compressed one */
  GInputStream *in;   /* (owned) (nullable) a compressed one, decompressed */
  gboolean rotated;   /* from a resume or a truncation: left at its end */
  guint64 start;      /* where reading begins (a compressed stream is there already) */
  guint8 head[POSTFIX_TAIL_FINGERPRINT_MAX];
  gsize head_len;
} TailFile;

struct _PostfixTail
{
  char *path;          /* (owned) */
  guint64 max_skip;
  GQueue kept;         /* of TailFile: read, oldest first; cur is the last */
  GQueue next;         /* of TailFile: to read after cur, in order */
  TailFile *cur;       /* (nullable) */
  guint64 offset;      /* next octet to read in cur */
  GString *partial;    /* (owned) an unfinished line */
  guint64 partial_start;
  gboolean overlong;   /* skipping the rest of an over-long line */
  gboolean eof_once;   /* the last read met end-of-file and another file may follow */
  guint64 serial;      /* for the keys of contents written after a truncation */
};

static void
tail_file_free (TailFile *f)
{
  if (f == NULL)
    return;
  if (f->fd >= 0)
    close (f->fd);
  g_clear_object (&f->in);
  g_free (f->name);
  g_free (f);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailFile, tail_file_free)

PostfixTail *
postfix_tail_new (const char *path)
{
  PostfixTail *tail = g_new0 (PostfixTail, 1);

  tail->path = g_strdup (path);
  tail->max_skip = POSTFIX_TAIL_MAX_SKIP;
  tail->partial = g_string_new (NULL);
  return tail;
}

void
postfix_tail_free (PostfixTail *tail)
{
  if (tail == NULL)
    return;
  g_queue_clear_full (&tail->kept, (GDestroyNotify) tail_file_free);
  g_queue_clear_full (&tail->next, (GDestroyNotify) tail_file_free);
  g_free (tail->path);
  g_string_free (tail->partial, TRUE);
  g_free (tail);
}

/* Tests: a lower POSTFIX_TAIL_MAX_SKIP. */
void
postfix_tail_set_max_skip (PostfixTail *tail,
                           guint64      max_skip)
{
  tail->max_skip = max_skip;
}

static TailKind
kind_of_name (const char *name)
{
  static const char *const unreadable[] = { ".bz2", ".xz", ".zst", ".lz4", ".Z" };

  if (g_str_has_suffix (name, ".gz"))
    return TAIL_GZIP;
  for (guint i = 0; i < G_N_ELEMENTS (unreadable); i++)
    if (g_str_has_suffix (name, unreadable[i]))
      return TAIL_UNREADABLE;
  return TAIL_PLAIN;
}

/* The head's octets that arrive in @buf[0..n), read at @at. */
static void
head_feed (TailFile   *f,
           guint64     at,
           const char *buf,
           gsize       n)
{
  guint64 end = MIN (at + n, (guint64) POSTFIX_TAIL_FINGERPRINT_MAX);

  if (at > f->head_len || end <= f->head_len)
    return;
  memcpy (f->head + f->head_len, buf + (f->head_len - at), end - f->head_len);
  f->head_len = end;
}

static void
fingerprint (const guint8 *data,
             gsize         len,
             char          out[65])
{
  g_autofree char *hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);

  g_strlcpy (out, hex, 65);
}

static gboolean
head_matches (const TailFile            *f,
              const PostfixTailPosition *pos)
{
  char fp[65];

  if (f->head_len < pos->fp_len)
    return FALSE;
  fingerprint (f->head, pos->fp_len, fp);
  return strcmp (fp, pos->fp) == 0;
}

static gssize
read_full_fd (int      fd,
              void    *buf,
              gsize    len,
              guint64  at)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = pread (fd, (char *) buf + done, len - done, (off_t) (at + done));

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      done += (gsize) n;
    }
  return (gssize) done;
}

/* A plain file, its head read (the first octets there are). */
static TailFile *
open_plain (const char *p)
{
  struct stat st;
  int fd = open (p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  TailFile *f;
  gssize n;

  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return NULL;
    }
  f = g_new0 (TailFile, 1);
  f->fd = fd;
  f->ino = (guint64) st.st_ino;
  f->key = f->ino;
  f->name = g_strdup (p);
  n = read_full_fd (fd, f->head, POSTFIX_TAIL_FINGERPRINT_MAX, 0);
  f->head_len = n > 0 ? (gsize) n : 0;
  return f;
}

/* A gzip file, decompressed, its head read (the stream is after it: gzip_seek places it). */
static TailFile *
open_gzip (const char *p,
           GError    **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (p);
  g_autoptr (GFileInputStream) raw = NULL;
  g_autoptr (GZlibDecompressor) zd = NULL;
  g_autoptr (TailFile) f = NULL;
  GStatBuf st;
  gsize got = 0;

  if (g_stat (p, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, "%s: not a file", p);
      return NULL;
    }
  raw = g_file_read (file, NULL, error);
  if (raw == NULL)
    return NULL;
  zd = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  f = g_new0 (TailFile, 1);
  f->fd = -1;
  f->ino = (guint64) st.st_ino;
  f->key = f->ino;
  f->name = g_strdup (p);
  f->in = g_converter_input_stream_new (G_INPUT_STREAM (raw), G_CONVERTER (zd));
  if (!g_input_stream_read_all (f->in, f->head, POSTFIX_TAIL_FINGERPRINT_MAX, &got, NULL, error))
    return NULL;
  f->head_len = got;
  return g_steal_pointer (&f);
}

/* Moves @f's stream to @offset (from the start: reopened). */
static gboolean
gzip_seek (TailFile *f,
           guint64   offset,
           GError  **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (f->name);
  g_autoptr (GFileInputStream) raw = g_file_read (file, NULL, error);
  g_autoptr (GZlibDecompressor) zd = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autofree char *buf = NULL;
  guint64 done = 0;

  if (raw == NULL)
    return FALSE;
  g_clear_object (&f->in);
  f->in = g_converter_input_stream_new (G_INPUT_STREAM (raw), G_CONVERTER (zd));
  buf = g_malloc (TAIL_BUF_SIZE);
  while (done < offset)
    {
      gsize want = (gsize) MIN (offset - done, (guint64) TAIL_BUF_SIZE);
      gssize n = g_input_stream_read (f->in, buf, want, NULL, error);

      if (n < 0)
        return FALSE;
      if (n == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s is shorter than %" G_GUINT64_FORMAT " octets", f->name, offset);
          return FALSE;
        }
      done += (guint64) n;
    }
  f->start = offset;
  return TRUE;
}

/* Does @p hold @pos's content? Opened and placed at its offset if so. *@too_far: it is a
 * compressed file whose head matches but the offset is past max_skip. */
static TailFile *
open_candidate (PostfixTail               *tail,
                const char                *p,
                const PostfixTailPosition *pos,
                gboolean                  *too_far)
{
  g_autoptr (TailFile) f = NULL;
  g_autoptr (GError) error = NULL;
  TailKind kind = kind_of_name (p);

  *too_far = FALSE;
  if (kind == TAIL_UNREADABLE || (kind == TAIL_GZIP && pos->fp_len == 0))
    return NULL;
  if (kind == TAIL_PLAIN)
    {
      struct stat st;

      f = open_plain (p);
      if (f == NULL || fstat (f->fd, &st) != 0)
        return NULL;
      if (pos->fp_len == 0)
        {
          /* format 1: by inode; a file shorter than the offset was truncated */
          if (f->ino != pos->ino)
            return NULL;
          f->start = (guint64) st.st_size >= pos->offset ? pos->offset : 0;
          return g_steal_pointer (&f);
        }
      if ((guint64) st.st_size < pos->offset || !head_matches (f, pos))
        return NULL;
      f->start = pos->offset;
      return g_steal_pointer (&f);
    }
  f = open_gzip (p, &error);
  if (f == NULL)
    {
      g_message ("%s cannot be read: %s", p, error->message);
      return NULL;
    }
  if (!head_matches (f, pos))
    return NULL;
  if (pos->offset > tail->max_skip)
    {
      *too_far = TRUE;
      return NULL;
    }
  if (!gzip_seek (f, pos->offset, &error))
    {
      g_message ("%s: %s", p, error->message);
      return NULL;
    }
  return g_steal_pointer (&f);
}

typedef struct
{
  char *name;     /* (owned) the full path */
  TailKind kind;
  char *suffix;   /* (owned) after "base." or "base-", without a compression suffix */
  gint64 mtime;
} Rotated;

static void
rotated_clear (gpointer data)
{
  Rotated *r = data;

  g_free (r->name);
  g_free (r->suffix);
}

static gboolean
is_number (const char *s)
{
  gsize n = strlen (s);

  if (n == 0 || n > 6)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* The same rotation (maillog.1 and maillog.1.gz while gzip runs): the plain one first,
 * the other may not be complete. */
static int
plain_first (const Rotated *ra,
             const Rotated *rb)
{
  return (ra->kind != TAIL_PLAIN) - (rb->kind != TAIL_PLAIN);
}

static int
newer_by_number (gconstpointer a,
                 gconstpointer b)
{
  const Rotated *ra = a, *rb = b;
  long na = strtol (ra->suffix, NULL, 10), nb = strtol (rb->suffix, NULL, 10);

  if (na != nb)
    return na < nb ? -1 : 1;
  return plain_first (ra, rb);
}

static int
newer_by_name (gconstpointer a,
               gconstpointer b)
{
  const Rotated *ra = a, *rb = b;
  int c = strcmp (ra->suffix, rb->suffix);

  return c != 0 ? -c : plain_first (ra, rb);
}

static int
newer_by_mtime (gconstpointer a,
                gconstpointer b)
{
  const Rotated *ra = a, *rb = b;

  if (strcmp (ra->suffix, rb->suffix) == 0)
    return plain_first (ra, rb);
  if (ra->mtime != rb->mtime)
    return ra->mtime > rb->mtime ? -1 : 1;
  return strcmp (ra->name, rb->name);
}

/* The rotated siblings of the path: its name, "." or "-", a suffix that starts with a
 * digit, maybe a compression suffix ("maillog-other" is not one). Newest first: numbered
 * ones ("maillog.1", ".2.gz") by number, dated ones ("maillog-20261204",
 * ".20261205-131650.gz") by name, a mix of both by modification time. */
static GArray *
list_rotated (PostfixTail *tail)
{
  g_autofree char *dir = g_path_get_dirname (tail->path);
  g_autofree char *base = g_path_get_basename (tail->path);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GArray *list = g_array_new (FALSE, TRUE, sizeof (Rotated));
  gsize n = strlen (base);
  const char *name;
  guint numbered = 0;

  g_array_set_clear_func (list, rotated_clear);
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      Rotated r = { 0 };
      GStatBuf st;
      const char *dot;

      if (strncmp (name, base, n) != 0 || (name[n] != '.' && name[n] != '-')
          || !g_ascii_isdigit (name[n + 1]))
        continue;
      r.name = g_build_filename (dir, name, NULL);
      if (g_stat (r.name, &st) != 0 || !S_ISREG (st.st_mode))
        {
          g_free (r.name);
          continue;
        }
      r.kind = kind_of_name (name);
      r.suffix = g_strdup (name + n + 1);
      dot = strrchr (r.suffix, '.');
      if (r.kind != TAIL_PLAIN && dot != NULL)
        r.suffix[dot - r.suffix] = '\0';
      r.mtime = (gint64) st.st_mtime;
      numbered += is_number (r.suffix);
      g_array_append_val (list, r);
    }
  if (numbered == list->len)
    g_array_sort (list, newer_by_number);
  else if (numbered == 0)
    g_array_sort (list, newer_by_name);
  else
    g_array_sort (list, newer_by_mtime);
  return list;
}

/* A rotated file read from its start, after the one with the position. */
static TailFile *
open_whole (const char *p,
            TailKind    kind)
{
  g_autoptr (GError) error = NULL;
  TailFile *f = NULL;

  if (kind == TAIL_UNREADABLE)
    g_warning ("%s is compressed with a method this follower does not read: its lines are "
               "not read",
               p);
  else if (kind == TAIL_PLAIN)
    f = open_plain (p);
  else if ((f = open_gzip (p, &error)) == NULL || !gzip_seek (f, 0, &error))
    {
      g_warning ("%s cannot be read, its lines are not: %s", p, error->message);
      g_clear_pointer (&f, tail_file_free);
    }
  return f;
}

/* Finds @pos's content among the rotated siblings (not the path's file): appends to @out
 * the file with the position (placed at its offset, unless out of reach) and the newer
 * ones (from their start), oldest first. FALSE if not found; @notes then says what was
 * not looked at. */
static gboolean
find_in_rotated (PostfixTail               *tail,
                 const PostfixTailPosition *pos,
                 GQueue                    *out,
                 GString                   *notes)
{
  g_autoptr (GArray) list = list_rotated (tail);
  guint looked = MIN (list->len, (guint) POSTFIX_TAIL_MAX_ROTATED);
  g_autoptr (GString) skipped = g_string_new (NULL);
  gboolean too_far = FALSE;
  TailFile *found = NULL;
  guint i;

  for (i = 0; i < looked; i++)
    {
      Rotated *r = &g_array_index (list, Rotated, i);

      if (r->kind == TAIL_UNREADABLE || (r->kind == TAIL_GZIP && pos->fp_len == 0))
        {
          g_string_append_printf (skipped, "%s%s", skipped->len > 0 ? ", " : "", r->name);
          continue;
        }
      found = open_candidate (tail, r->name, pos, &too_far);
      if (found != NULL || too_far)
        break;
    }
  if (i == looked)
    {
      g_string_append_printf (notes, "looked at %u rotated file%s", looked,
                              looked == 1 ? "" : "s");
      if (list->len > looked)
        g_string_append_printf (notes, ", %u older ones not (the limit)", list->len - looked);
      if (skipped->len > 0)
        g_string_append_printf (notes, "; not searched: %s (%s)", skipped->str,
                                pos->fp_len == 0 ? "a position of the older format is found "
                                                   "in plain files only"
                                                 : "compressed with a method this follower "
                                                   "does not read");
      return FALSE;
    }
  if (found != NULL)
    {
      found->rotated = TRUE;
      g_message ("Resuming in the rotated log %s at offset %" G_GUINT64_FORMAT
                 ", then %u newer rotated file%s",
                 found->name, found->start, i, i == 1 ? "" : "s");
      g_queue_push_tail (out, found);
    }
  else
    g_warning ("The saved log position is %" G_GUINT64_FORMAT " octets into the compressed "
               "%s, past the %" G_GUINT64_FORMAT " this follower decompresses to reach it: "
               "the rest of that file is not read, its lines may be lost",
               pos->offset, g_array_index (list, Rotated, i).name, tail->max_skip);
  while (i-- > 0)
    {
      Rotated *r = &g_array_index (list, Rotated, i);
      TailFile *f = open_whole (r->name, r->kind);

      if (f != NULL)
        {
          f->rotated = TRUE;
          g_queue_push_tail (out, f);
        }
    }
  return TRUE;
}

/* A key no kept file has: @f's inode if free, else one of the tail's own (a content
 * written after a truncation: the old one, same inode, may still be kept). */
static gboolean
key_taken (PostfixTail *tail,
           guint64      key)
{
  for (GList *l = tail->kept.head; l != NULL; l = l->next)
    if (((TailFile *) l->data)->key == key)
      return TRUE;
  return FALSE;
}

static void
give_key (PostfixTail *tail,
          TailFile    *f)
{
  while (key_taken (tail, f->key))
    f->key = G_MAXUINT64 - tail->serial++;
}

/* @f (owned) becomes the file read, from f->start. */
static void
set_cur (PostfixTail *tail,
         TailFile    *f)
{
  give_key (tail, f);
  g_queue_push_tail (&tail->kept, f);
  while (g_queue_get_length (&tail->kept) > POSTFIX_TAIL_MAX_KEPT)
    tail_file_free (g_queue_pop_head (&tail->kept));
  tail->cur = f;
  tail->offset = f->start;
  tail->partial_start = f->start;
  g_string_truncate (tail->partial, 0);
  tail->overlong = FALSE;
  tail->eof_once = FALSE;
}

/* The next file: the first of `next`, else the file at the path. */
static gboolean
advance (PostfixTail *tail)
{
  TailFile *f = g_queue_pop_head (&tail->next);

  if (f == NULL)
    f = open_plain (tail->path);
  if (f == NULL)
    return FALSE;
  set_cur (tail, f);
  return TRUE;
}

/**
 * postfix_tail_resume:
 * @tail: a tail not yet polled
 * @pos: the saved position
 *
 * Reopens the saved position: in the file at the path if it holds that content, else in
 * the rotated sibling that does (then the newer ones, then the path's file from its
 * start). If no file has it, reading starts at the start of the path's file (a warning:
 * lines after the position may be lost).
 */
void
postfix_tail_resume (PostfixTail               *tail,
                     const PostfixTailPosition *pos)
{
  g_autoptr (GString) notes = g_string_new (NULL);
  gboolean too_far = FALSE;
  TailFile *f;

  g_return_if_fail (tail->cur == NULL);
  if (pos->ino == 0 && pos->offset == 0 && pos->fp_len == 0)
    return; /* nothing saved: the file at the path from its start */
  f = open_candidate (tail, tail->path, pos, &too_far);
  if (f != NULL)
    {
      set_cur (tail, f);
      return;
    }
  if (find_in_rotated (tail, pos, &tail->next, notes))
    {
      if ((f = open_plain (tail->path)) != NULL)
        g_queue_push_tail (&tail->next, f);
      return;
    }
  if (pos->offset == 0 && pos->fp_len == 0)
    g_message ("The saved log position (inode %" G_GUINT64_FORMAT ", nothing read of it) is "
               "in no file any more (%s); reading %s from its start",
               pos->ino, notes->str, tail->path);
  else
    g_warning ("The saved log position (inode %" G_GUINT64_FORMAT ", offset %" G_GUINT64_FORMAT
               ") is in no file any more (%s); reading %s from its start: lines of the old "
               "log after that position may be lost",
               pos->ino, pos->offset, notes->str, tail->path);
}

/**
 * postfix_tail_resume_from_file:
 * @tail: a tail not yet polled
 * @pos_path: a position file (missing: start of the log)
 * @ino: (out): the saved key
 * @offset: (out): the saved offset
 * @error: return location for a #GError
 *
 * postfix_tail_load_position() then postfix_tail_resume().
 *
 * Returns: %FALSE with @error set if the position file cannot be read
 */
gboolean
postfix_tail_resume_from_file (PostfixTail *tail,
                               const char  *pos_path,
                               guint64     *ino,
                               guint64     *offset,
                               GError     **error)
{
  PostfixTailPosition pos;

  if (!postfix_tail_load_position (pos_path, &pos, error))
    return FALSE;
  postfix_tail_resume (tail, &pos);
  *ino = pos.ino;
  *offset = pos.offset;
  return TRUE;
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
      func (tail->partial->str, tail->partial->len, tail->cur->key, tail->partial_start, user_data);
      lines++;
      g_string_truncate (tail->partial, 0);
      tail->overlong = FALSE;
      tail->partial_start = tail->offset;
    }
  return lines;
}

/* The file read was truncated or written again from its start (copytruncate): the rest
 * of its old content from a rotated copy with the same head if there is one, then the new
 * content from its start under a key of its own (the old key stays with the old head, for
 * the lines of it the caller still holds). */
static void
content_replaced (PostfixTail *tail)
{
  TailFile *old = tail->cur;
  g_autoptr (GString) notes = g_string_new (NULL);
  PostfixTailPosition pos = { old->key, tail->partial_start, (guint) old->head_len, "" };
  TailFile *fresh = g_new0 (TailFile, 1);

  fingerprint (old->head, old->head_len, pos.fp);
  fresh->fd = dup (old->fd);
  fresh->ino = old->ino;
  fresh->key = old->key;
  fresh->name = g_strdup (old->name);
  fresh->head_len = 0;
  g_string_truncate (tail->partial, 0);
  tail->overlong = FALSE;
  if (fresh->fd < 0)
    {
      g_warning ("Cannot read %s again: %s", old->name, g_strerror (errno));
      tail_file_free (fresh);
      tail->cur = NULL;
      return;
    }
  if (old->head_len > 0 && find_in_rotated (tail, &pos, &tail->next, notes))
    {
      g_message ("%s was truncated: the rest of its old content from its rotated copy, then "
                 "it from its start",
                 tail->path);
      g_queue_push_tail (&tail->next, fresh);
      advance (tail);
      return;
    }
  g_message ("%s was truncated: reading it again from its start (no rotated copy of its old "
             "content found%s%s: lines written to it after offset %" G_GUINT64_FORMAT
             " and before the truncation may be lost)",
             tail->path, notes->len > 0 ? "; " : "", notes->str, pos.offset);
  set_cur (tail, fresh);
}

/* Truncated (shorter than what was read) or written again (its head changed)? */
static gboolean
content_changed (PostfixTail *tail)
{
  TailFile *f = tail->cur;
  guint8 now[POSTFIX_TAIL_FINGERPRINT_MAX];
  struct stat st;

  if (f->fd < 0 || f->rotated || fstat (f->fd, &st) != 0)
    return FALSE;
  if ((guint64) st.st_size < tail->offset)
    return TRUE;
  return f->head_len > 0
         && (read_full_fd (f->fd, now, f->head_len, 0) != (gssize) f->head_len
             || memcmp (now, f->head, f->head_len) != 0);
}

/* The end of cur: is another file to be read now? A plain one is left after end-of-file
 * twice in a row (a writer may not have reopened yet) once the file now at the path holds
 * data: logrotate's "create" makes it at once, empty, and syslog goes on writing to the
 * renamed file until its postrotate signal, however long that takes; the first line in the
 * new file says it has reopened (postfix logrotate makes the new file only then). A
 * compressed one is left at once. */
static gboolean
leave_cur (PostfixTail *tail)
{
  TailFile *f = tail->cur;
  GStatBuf st;
  gboolean other;

  if (f->rotated)
    {
      /* Found by a resume or a truncation: the same rule when the plain file at the path
       * comes next (a resume between logrotate's create and syslog's reopen). */
      const TailFile *n = g_queue_peek_head (&tail->next);
      struct stat nst;

      if (n != NULL)
        other = n->rotated || n->fd < 0 || fstat (n->fd, &nst) != 0 || nst.st_size > 0;
      else
        other = g_stat (tail->path, &st) == 0 && st.st_size > 0;
    }
  else
    other = g_stat (tail->path, &st) == 0 && (guint64) st.st_ino != f->ino && st.st_size > 0;
  if (!other)
    {
      tail->eof_once = FALSE;
      return FALSE;
    }
  if (f->fd >= 0 && !tail->eof_once)
    {
      tail->eof_once = TRUE;
      return FALSE;
    }
  return TRUE;
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
  gboolean failed = FALSE;

  if (lines_out != NULL)
    *lines_out = 0;
  if (tail->cur == NULL && !advance (tail))
    return TRUE;
  if (content_changed (tail))
    {
      content_replaced (tail);
      if (tail->cur == NULL)
        return TRUE;
    }

  buf = g_malloc (TAIL_BUF_SIZE);
  while (total < POSTFIX_TAIL_MAX_READ)
    {
      TailFile *f = tail->cur;
      gssize n;

      if (f->fd >= 0)
        {
          n = pread (f->fd, buf, TAIL_BUF_SIZE, (off_t) tail->offset);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            {
              int saved = errno;

              g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                           "Cannot read %s: %s", f->name, g_strerror (saved));
              return FALSE;
            }
        }
      else
        {
          g_autoptr (GError) local = NULL;

          n = g_input_stream_read (f->in, buf, TAIL_BUF_SIZE, NULL, &local);
          if (n < 0)
            {
              g_warning ("Cannot read %s past offset %" G_GUINT64_FORMAT ", going on with "
                         "the next file: %s",
                         f->name, tail->offset, local->message);
              failed = TRUE;
              n = 0;
            }
        }
      if (n == 0)
        break;
      head_feed (f, tail->offset, buf, (gsize) n);
      total += (gsize) n;
      lines += tail_split (tail, buf, (gsize) n, func, user_data);
    }

  /* Rotation: at end-of-file while another file follows, the writer has moved on; an
   * unfinished last line of the old file is handed out as is. */
  if (total == 0 && (failed || leave_cur (tail)))
    {
      if (tail->partial->len > 0)
        {
          func (tail->partial->str, tail->partial->len, tail->cur->key, tail->partial_start,
                user_data);
          lines++;
        }
      if (!tail->cur->rotated)
        g_message ("%s was rotated: reading the new file", tail->path);
      if (!advance (tail))
        {
          /* the rotated files are read, the path's file is not there yet */
          g_string_truncate (tail->partial, 0);
          tail->partial_start = tail->offset;
        }
    }
  else if (total > 0)
    tail->eof_once = FALSE;
  if (lines_out != NULL)
    *lines_out = lines;
  return TRUE;
}

/**
 * postfix_tail_is_following:
 * @tail: a tail
 *
 * Whether @tail reads the file at its path, not a rotated file that a resume or a
 * truncation queued before it, with none queued after it: a poll that hands out no line
 * then has read the whole log (a poll that ends a rotated file hands out none either).
 *
 * Returns: %TRUE while following the path's file
 */
gboolean
postfix_tail_is_following (PostfixTail *tail)
{
  return tail->cur != NULL && !tail->cur->rotated && g_queue_is_empty (&tail->next);
}

/* Where a restart must begin: the start of the unfinished line of the file read. */
void
postfix_tail_get_position (PostfixTail *tail,
                           guint64     *ino,
                           guint64     *offset)
{
  *ino = tail->cur != NULL ? tail->cur->key : 0;
  *offset = tail->cur != NULL ? tail->partial_start : 0;
}

/**
 * postfix_tail_save_position:
 * @tail: the tail that read the file
 * @path: the position file
 * @ino: a key handed out by @tail
 * @offset: an offset in that file
 * @error: return location for a #GError
 *
 * Writes the position with the head of its file (durably); the files @tail read before
 * that one are forgotten. A key @tail no longer knows is saved without a head (found by
 * inode at the next resume).
 *
 * Returns: %FALSE with @error set if the file cannot be written
 */
gboolean
postfix_tail_save_position (PostfixTail *tail,
                            const char  *path,
                            guint64      ino,
                            guint64      offset,
                            GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  g_autofree char *text = NULL;
  TailFile *f = NULL;
  char fp[65] = "-";

  for (GList *l = tail->kept.head; l != NULL; l = l->next)
    if (((TailFile *) l->data)->key == ino)
      {
        f = l->data;
        while (tail->kept.head->data != f)
          tail_file_free (g_queue_pop_head (&tail->kept));
        break;
      }
  if (f != NULL && f->head_len > 0)
    fingerprint (f->head, f->head_len, fp);
  text = g_strdup_printf (TAIL_POS_MAGIC_2 "\n%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                          " %" G_GSIZE_FORMAT " %s\n",
                          ino, offset, f != NULL ? f->head_len : 0, fp);
  return durable_file_replace (tmp, path, dir, text, strlen (text), error);
}

/* A missing file is position (0, 0) and no error. Format 1 ("<inode> <offset>") and 2
 * ("<key> <offset> <head length> <head SHA-256 or ->") are read. */
gboolean
postfix_tail_load_position (const char          *path,
                            PostfixTailPosition *pos,
                            GError             **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_auto (GStrv) lines = NULL;
  g_auto (GStrv) fields = NULL;
  g_autoptr (GError) local = NULL;
  guint64 fp_len = 0;
  gboolean v2;

  memset (pos, 0, sizeof *pos);
  if (!g_file_get_contents (path, &text, &len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  lines = g_strsplit (text, "\n", 3);
  if (len > 256 || lines[0] == NULL || lines[1] == NULL)
    goto bad;
  v2 = strcmp (lines[0], TAIL_POS_MAGIC_2) == 0;
  if (!v2 && strcmp (lines[0], TAIL_POS_MAGIC_1) != 0)
    goto bad;
  fields = g_strsplit (lines[1], " ", -1);
  if (g_strv_length (fields) != (v2 ? 4u : 2u)
      || !g_ascii_string_to_unsigned (fields[0], 10, 0, G_MAXUINT64, &pos->ino, NULL)
      || !g_ascii_string_to_unsigned (fields[1], 10, 0, G_MAXINT64, &pos->offset, NULL))
    goto bad;
  if (v2)
    {
      if (!g_ascii_string_to_unsigned (fields[2], 10, 0, POSTFIX_TAIL_FINGERPRINT_MAX, &fp_len,
                                       NULL))
        goto bad;
      if (fp_len == 0 ? strcmp (fields[3], "-") != 0 : strlen (fields[3]) != 64)
        goto bad;
      for (const char *c = fields[3]; fp_len > 0 && *c != '\0'; c++)
        if (!g_ascii_isxdigit (*c) || g_ascii_isupper (*c))
          goto bad;
      pos->fp_len = (guint) fp_len;
      if (fp_len > 0)
        g_strlcpy (pos->fp, fields[3], sizeof pos->fp);
    }
  return TRUE;
bad:
  memset (pos, 0, sizeof *pos);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "%s is not a follower position file", path);
  return FALSE;
}
