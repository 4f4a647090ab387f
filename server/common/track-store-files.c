/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store-files.c: the files backend of the tracking store (track-store-backend.h),
 * the default: embedded, nothing to set up.
 *
 * One file per ENVID: <state_dir>/tracking/<sha256-hex (ENVID)>.trk. The relay writes
 * (track_store_put), mtqpd reads (track_store_lookup). A record is replaced atomically:
 * its text is appended to the writing process's journal (<dir>/.journal-XXXXXX,
 * durable-group.h), written to a temporary file ".tmp-<hash>" in the same directory and
 * renamed over the record, neither synced; the put returns once one fdatasync of the
 * journal, shared by concurrent puts (group commit), covered it: one sync per record, none
 * of them under the directory lock. Readers see the old or the new record, never a
 * half-written one. After a crash, files_open() replays the journals of dead writers
 * (files_replay_record: the same ownership and version rules, written durably), so a
 * record whose unsynced file was lost comes back. track_store_expire() also removes
 * temporary files left by a crash. Design: docs/durability.md.
 *
 * Record syntax (version 1), lines end in LF (a CR before the LF is tolerated):
 *
 *   record        = magic-line 1*header-line LF report-fields
 *   magic-line    = "MSGTRK-TRACK 1" LF
 *   header-line   = ( "Envid: " xtext / "Authenticator: " 28base64char /
 *                     "Expires: " 1*19DIGIT ) LF        ; each exactly once, any order
 *                   / "Version: " 1*19DIGIT LF          ; at most once; absent = 0
 *   report-fields = <message/tracking-status fields, msgtrk_report_to_fields()>
 *
 * Limits: a record file is at most TRACK_STORE_MAX_RECORD_SIZE octets (larger records are
 * refused when written and when read); an ENVID is 1 to TRACK_STORE_MAX_ENVID_LENGTH
 * octets.
 *
 * Ownership (docs/relay.md, "Who owns a tracking record"): the first authenticator B stored for an
 * ENVID owns the record until it expires. track_store_put() with another B is refused
 * (MSGTRK_ERROR_INVALID_SECRET) while that record has not expired, so whoever saw an
 * ENVID (a hop, a DSN reader, a delegate) cannot erase the owner's tracking; an expired
 * record, or a missing one, is taken by the next writer. A record that cannot be read or
 * parsed is not replaced either (kept for the administrator), except by the replay of a
 * journal after a crash (an unsynced file may come back torn). The check, the journal
 * append and the rename happen under an exclusive flock() on the directory, so the rule
 * holds for every writer, in any process; the journal's fdatasync runs after the lock is
 * released (only a full journal's checkpoint, once per DURABLE_JOURNAL_CAPACITY octets,
 * syncs under it). Under the same lock, a record of the same B is only replaced by a
 * higher Version (an older update never overwrites a newer one). A put that writes
 * nothing (refused, or a duplicate) still waits for the journal to be durable up to its
 * decision. Limit: a record is visible to readers (and to other processes' checks) a
 * fraction of a millisecond before it is durable; a crash in that window (before the put
 * returned) loses it.
 *
 * Never: store or log the secret A (only B is kept); tell apart an unknown ENVID, an
 * expired record and a wrong secret in track_store_lookup() (one error, one message);
 * compare B other than in constant time; crash or abort on a malformed record file;
 * replace an unexpired record with one of another B; quote B in an error.
 * Thread safety: a TrackStore only holds its directory name; any number of threads may
 * call lookup/load concurrently; put() calls are serialised by the directory lock.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "durable-group.h"
#include "msgtrk-private.h"
#include "track-store-backend.h"

/* The read cache (files_fetch): most records and octets of records kept; a record file is
 * only cached once its inode changed at least TRACK_STORE_FILES_CACHE_SETTLE_SECONDS ago
 * (see "Read cache" below). */
#define TRACK_STORE_FILES_CACHE_BYTES (16 * 1024 * 1024)
#define TRACK_STORE_FILES_CACHE_SETTLE_SECONDS 2

/* Temporary files older than this are left-overs of a crash: expire() removes them. */
#define TRACK_STORE_STALE_TMP_SECONDS (60 * 60)

#define TRACK_STORE_MAGIC "MSGTRK-TRACK 1"
#define TRACK_STORE_SUFFIX ".trk"
#define TRACK_STORE_TMP_PREFIX ".tmp-"
#define TRACK_STORE_JOURNAL_PREFIX ".journal-"

typedef struct
{
  char *dir;               /* (owned) <state_dir>/tracking */
  GMutex journal_lock;     /* guards opening journal */
  DurableJournal *journal; /* (owned) (nullable) this process's, opened at the first put */
  GMutex cache_lock;       /* guards cache and cache_bytes */
  GHashTable *cache;       /* (owned) ENVID -> CachedRecord (refcounted) */
  gsize cache_bytes;
  GQueue cache_order;      /* the entries' links, least recently used first */
  gsize n_fetches;         /* (atomic) files_fetch() calls */
  gsize n_reads;           /* (atomic) of which read the record file (not the cache) */
} FilesStore;

/* Read cache. What: files_fetch() (mtqpd's TRACK, the hot path) keeps each record it read,
 * with its file's identity, so a TRACK of an unchanged record costs one stat() instead of
 * hashing the ENVID, open, fstat, two reads, close and parsing the header again.
 * How: an entry is valid while stat() of its path gives the same device, inode, size,
 * mtime and ctime. Records are only ever replaced by rename() of a new file, so a new
 * version is a new inode; a freed inode number reused by a new file of the same size in
 * the same clock tick is ruled out by caching only files whose ctime (which no one can
 * set back) is TRACK_STORE_FILES_CACHE_SETTLE_SECONDS old: a later file has a later
 * ctime. Limits: TRACK_STORE_FILES_CACHE_ENTRIES records, TRACK_STORE_FILES_CACHE_BYTES
 * octets; when full the least recently used record goes (a hit moves its entry to the
 * end of a list: a hot set larger than the cache keeps hitting). Never: a cached record
 * is used without a stat() of its file (a removed or replaced record is never served);
 * the writers' ownership checks (owner_check) always read the file. */
typedef struct
{
  char *path;          /* (owned) */
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  struct timespec ctime;
  char *authenticator; /* (owned) */
  gint64 expires;
  gint64 version;
  char *fields;        /* (owned) */
  gsize fields_len;
  GList link;          /* in FilesStore.cache_order while in the table (under cache_lock);
                        * data: the table's key */
} CachedRecord;

static void
cached_record_clear (gpointer data)
{
  CachedRecord *c = data;

  g_free (c->path);
  g_free (c->authenticator);
  g_free (c->fields);
}

static void
cached_record_unref (gpointer data)
{
  g_atomic_rc_box_release_full (data, cached_record_clear);
}

static gboolean
cached_record_matches (const CachedRecord *c,
                       const struct stat  *st)
{
  return c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size
         && c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec
         && c->ctime.tv_sec == st->st_ctim.tv_sec && c->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static void
files_free (gpointer impl)
{
  FilesStore *self = impl;

  g_clear_pointer (&self->journal, durable_journal_close);
  g_mutex_clear (&self->journal_lock);
  g_queue_init (&self->cache_order); /* the links are in the entries, freed next */
  g_clear_pointer (&self->cache, g_hash_table_unref);
  g_mutex_clear (&self->cache_lock);
  g_free (self->dir);
  g_free (self);
}

static gboolean files_replay_record (const char *record,
                                     gsize       len,
                                     gboolean    this_boot,
                                     gpointer    data,
                                     GError    **error);

/* Opens the record store in @state_dir/tracking, creating that directory (mode 0750). */
gpointer
track_store_files_open (const char *state_dir,
                        GError    **error)
{
  FilesStore *self;
  g_autofree char *dir = NULL;

  dir = g_build_filename (state_dir, "tracking", NULL);
  if (g_mkdir_with_parents (dir, 0750) != 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot create the tracking directory %s: %s", dir, g_strerror (saved));
      return NULL;
    }
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "%s is not a directory", dir);
      return NULL;
    }

  self = g_new0 (FilesStore, 1);
  g_mutex_init (&self->journal_lock);
  g_mutex_init (&self->cache_lock);
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cached_record_unref);
  g_queue_init (&self->cache_order);
  self->dir = g_steal_pointer (&dir);
  /* Records a crash may have cut from the disk come back from dead writers' journals (a
   * reader without write access to them skips them). */
  {
    g_autoptr (GError) local = NULL;
    guint n = durable_journal_replay (self->dir, TRACK_STORE_JOURNAL_PREFIX,
                                      files_replay_record, NULL, self, &local);

    if (local != NULL)
      g_warning ("Tracking store: %s", local->message);
    else if (n > 0)
      g_message ("Tracking store: %u journaled records checked after a crash", n);
  }
  return self;
}

/* This process's journal, created at the first put. */
static DurableJournal *
files_journal (FilesStore *self,
               GError    **error)
{
  DurableJournal *journal;

  g_mutex_lock (&self->journal_lock);
  if (self->journal == NULL)
    self->journal = durable_journal_open (self->dir, TRACK_STORE_JOURNAL_PREFIX, error);
  journal = self->journal;
  g_mutex_unlock (&self->journal_lock);
  if (journal == NULL)
    g_prefix_error (error, "Cannot open the tracking store's journal: ");
  return journal;
}

/* <dir>/<sha256-hex (envid)>.trk */
static char *
record_path (FilesStore *self,
             const char *envid)
{
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, envid, -1);
  g_autofree char *name = g_strconcat (hash, TRACK_STORE_SUFFIX, NULL);

  return g_build_filename (self->dir, name, NULL);
}

typedef struct _RecordHeader RecordHeader;
static gboolean record_read (FilesStore   *self,
                             const char   *envid,
                             char        **buf_out,
                             RecordHeader *header,
                             GError      **error);
static gboolean owner_check (FilesStore *self,
                             const char *envid,
                             const char *authenticator,
                             gint64      version,
                             gint64      now,
                             gboolean   *write,
                             GError    **error);

/* Write @text as the record of @envid through @journal (no sync: wait for *ticket). */
static gboolean
record_write (FilesStore     *self,
              DurableJournal *journal,
              const char     *envid,
              GString        *text,
              guint64        *ticket,
              GError        **error)
{
  g_autofree char *path = record_path (self, envid);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, envid, -1);
  g_autofree char *tmp_path = NULL;

  /* One writer at a time in the directory (its flock): the name cannot clash. */
  tmp_path = g_strdup_printf ("%s/" TRACK_STORE_TMP_PREFIX "%s", self->dir, hash);
  if (!durable_journal_file_replace (journal, tmp_path, path, text->str, text->len, ticket,
                                     error))
    {
      g_prefix_error (error, "Cannot write the tracking record: ");
      return FALSE;
    }
  return TRUE;
}

/* Take the directory's exclusive flock (every writer, in any process): the open
 * descriptor, or -1 with @error set. Closing it releases the lock. */
static int
dir_lock (FilesStore *self,
          GError    **error)
{
  int dir_fd = open (self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int saved;

  if (dir_fd < 0 || flock (dir_fd, LOCK_EX) != 0)
    {
      saved = errno;
      if (dir_fd >= 0)
        close (dir_fd);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot lock the tracking directory %s: %s", self->dir, g_strerror (saved));
      return -1;
    }
  return dir_fd;
}

/* The backend's put (track-store-backend.h): arguments are checked by track-store.c. */
static gboolean
files_put (gpointer    impl,
           const char *envid,
           const char *authenticator,
           gint64      expires,
           gint64      version,
           const char *fields,
           GError    **error)
{
  FilesStore *self = impl;
  g_autofree char *envid_x = NULL;
  g_autoptr (GString) text = NULL;
  DurableJournal *journal;
  gboolean write = TRUE;
  guint64 ticket = 0;
  gboolean ok;
  int dir_fd;

  envid_x = msgtrk_xtext_encode (envid);
  text = g_string_new (TRACK_STORE_MAGIC "\n");
  g_string_append_printf (text, "Envid: %s\nAuthenticator: %s\nExpires: %" G_GINT64_FORMAT
                          "\nVersion: %" G_GINT64_FORMAT "\n\n",
                          envid_x, authenticator, expires, version);
  g_string_append (text, fields);
  if (text->len > TRACK_STORE_MAX_RECORD_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The tracking record would have %" G_GSIZE_FORMAT
                   " octets, more than the limit of %d",
                   text->len, TRACK_STORE_MAX_RECORD_SIZE);
      return FALSE;
    }

  journal = files_journal (self, error);
  if (journal == NULL)
    return FALSE;
  /* The owner check and the rename under one lock: no writer slips in between. */
  dir_fd = dir_lock (self, error);
  if (dir_fd < 0)
    return FALSE;
  ok = owner_check (self, envid, authenticator, version, g_get_real_time () / G_USEC_PER_SEC,
                    &write, error);
  if (ok && write)
    ok = record_write (self, journal, envid, text, &ticket, error);
  else
    ticket = durable_journal_last (journal); /* decided on what this process wrote */
  close (dir_fd); /* releases the lock */
  /* Durable (one fdatasync, shared with concurrent puts) outside the lock. */
  if (!durable_journal_wait (journal, ticket, ok ? error : NULL))
    return FALSE;
  return ok;
}

/* Read a whole record file, refusing anything but a regular file of bounded size.
 * A missing file is MSGTRK_ERROR_NOT_FOUND. */
static char *
read_record_file (const char  *path,
                  gsize       *len_out,
                  struct stat *st_out,
                  GError     **error)
{
  struct stat st;
  g_autofree char *buf = NULL;
  gsize got = 0;
  gsize cap;
  int fd;
  int saved;

  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      saved = errno;
      if (saved == ENOENT)
        g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                             "No tracking record for this ENVID");
      else
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                     "Cannot open the tracking record %s: %s", path, g_strerror (saved));
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "The tracking record %s is not a regular file", path);
      return NULL;
    }
  if (st.st_size > TRACK_STORE_MAX_RECORD_SIZE)
    {
      close (fd);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The tracking record %s has more than %d octets", path,
                   TRACK_STORE_MAX_RECORD_SIZE);
      return NULL;
    }

  /* Sized to the file (not the limit: this runs per TRACK), growing up to one more
   * octet than the limit to notice a file that grew since fstat. */
  cap = (gsize) st.st_size + 2;
  buf = g_malloc (cap);
  for (;;)
    {
      ssize_t n;

      if (got + 1 >= cap)
        {
          cap = MIN (cap * 2, (gsize) TRACK_STORE_MAX_RECORD_SIZE + 2);
          buf = g_realloc (buf, cap);
        }
      n = read (fd, buf + got, cap - 1 - got);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          saved = errno;
          close (fd);
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                       "Cannot read the tracking record %s: %s", path, g_strerror (saved));
          return NULL;
        }
      if (n == 0)
        break;
      got += (gsize) n;
      if (got > TRACK_STORE_MAX_RECORD_SIZE)
        {
          close (fd);
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       "The tracking record %s has more than %d octets", path,
                       TRACK_STORE_MAX_RECORD_SIZE);
          return NULL;
        }
    }
  close (fd);
  buf[got] = '\0';
  *len_out = got;
  if (st_out != NULL)
    *st_out = st;
  return g_steal_pointer (&buf);
}

struct _RecordHeader
{
  char *envid;          /* decoded */
  char *authenticator;
  gint64 expires;
  gint64 version;       /* 0 when the line is absent (records written before it) */
  const char *fields;   /* points into the file buffer */
  gsize fields_len;
};

static void
record_header_clear (RecordHeader *h)
{
  g_clear_pointer (&h->envid, g_free);
  g_clear_pointer (&h->authenticator, g_free);
}

static gboolean
record_malformed (GError    **error,
                  const char *path,
                  const char *why)
{
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
               "The tracking record %s is malformed: %s", path, why);
  return FALSE;
}

/* Parse the header of a record (see the grammar at the top of this file). */
static gboolean
record_header_parse (const char   *data,
                     gsize         len,
                     const char   *path,
                     RecordHeader *out,
                     GError      **error)
{
  const char *p = data;
  const char *end = data + len;
  gboolean have_expires = FALSE;
  gboolean have_version = FALSE;
  gboolean first = TRUE;

  if (memchr (data, '\0', len) != NULL)
    return record_malformed (error, path, "it contains a NUL octet");

  for (;;)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      gsize line_len;
      g_autofree char *line = NULL;
      const char *value;

      if (nl == NULL)
        return record_malformed (error, path, "the header does not end in a blank line");
      line_len = (gsize) (nl - p);
      if (line_len > 0 && p[line_len - 1] == '\r')
        line_len--;
      line = g_strndup (p, line_len);
      p = nl + 1;

      if (first)
        {
          if (strcmp (line, TRACK_STORE_MAGIC) != 0)
            return record_malformed (error, path, "the first line is not \"" TRACK_STORE_MAGIC "\"");
          first = FALSE;
          continue;
        }
      if (line_len == 0)
        break;

      if (g_str_has_prefix (line, "Envid: "))
        {
          g_autoptr (GError) local = NULL;

          value = line + strlen ("Envid: ");
          if (out->envid != NULL)
            return record_malformed (error, path, "Envid appears twice");
          out->envid = msgtrk_xtext_decode (value, &local);
          if (out->envid == NULL)
            return record_malformed (error, path, "Envid is not valid xtext");
        }
      else if (g_str_has_prefix (line, "Authenticator: "))
        {
          value = line + strlen ("Authenticator: ");
          if (out->authenticator != NULL)
            return record_malformed (error, path, "Authenticator appears twice");
          if (!msgtrk_authenticator_is_valid (value, NULL))
            return record_malformed (error, path, "Authenticator is not a valid B");
          out->authenticator = g_strdup (value);
        }
      else if (g_str_has_prefix (line, "Expires: "))
        {
          guint64 v;

          value = line + strlen ("Expires: ");
          if (have_expires)
            return record_malformed (error, path, "Expires appears twice");
          if (*value < '0' || *value > '9'
              || !g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, &v, NULL))
            return record_malformed (error, path, "Expires is not a number of seconds");
          out->expires = (gint64) v;
          have_expires = TRUE;
        }
      else if (g_str_has_prefix (line, "Version: "))
        {
          guint64 v;

          value = line + strlen ("Version: ");
          if (have_version)
            return record_malformed (error, path, "Version appears twice");
          if (*value < '0' || *value > '9'
              || !g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, &v, NULL))
            return record_malformed (error, path, "Version is not a number");
          out->version = (gint64) v;
          have_version = TRUE;
        }
      else
        return record_malformed (error, path, "unknown header line");
    }

  if (out->envid == NULL || out->authenticator == NULL || !have_expires)
    return record_malformed (error, path, "Envid, Authenticator or Expires is missing");

  out->fields = p;
  out->fields_len = (gsize) (end - p);
  return TRUE;
}

/* Read and parse the header of the record of @envid; @buf_out keeps the file text. */
static gboolean
record_read_at (const char   *path,
                const char   *envid,
                char        **buf_out,
                RecordHeader *header,
                struct stat  *st_out,
                GError      **error)
{
  g_autofree char *buf = NULL;
  gsize len = 0;

  buf = read_record_file (path, &len, st_out, error);
  if (buf == NULL)
    return FALSE;
  if (!record_header_parse (buf, len, path, header, error))
    return FALSE;
  if (strcmp (header->envid, envid) != 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The tracking record %s belongs to another ENVID", path);
      return FALSE;
    }
  *buf_out = g_steal_pointer (&buf);
  return TRUE;
}

static gboolean
record_read (FilesStore   *self,
             const char   *envid,
             char        **buf_out,
             RecordHeader *header,
             GError      **error)
{
  g_autofree char *path = record_path (self, envid);

  return record_read_at (path, envid, buf_out, header, NULL, error);
}

/* May a record of @envid with @authenticator and @version be written at @now? Yes if there
 * is none or it has expired; with the same authenticator, only a higher version is
 * written (*write FALSE otherwise: a duplicate or late update, dropped without error). */
static gboolean
owner_check (FilesStore *self,
             const char *envid,
             const char *authenticator,
             gint64      version,
             gint64      now,
             gboolean   *write,
             GError    **error)
{
  g_autofree char *buf = NULL;
  g_autoptr (GError) local = NULL;
  RecordHeader header = { 0 };
  gboolean ok = TRUE;

  *write = TRUE;
  if (!record_read (self, envid, &buf, &header, &local))
    {
      record_header_clear (&header);
      if (g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                  "The existing record is kept: ");
      return FALSE;
    }
  if (header.expires <= now)
    ;
  else if (!track_store_authenticator_equal (header.authenticator, authenticator))
    {
      ok = FALSE;
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                           "This ENVID is tracked for another authenticator until its record "
                           "expires; the record is kept");
    }
  else if (header.version >= version)
    *write = FALSE;
  record_header_clear (&header);
  return ok;
}

#define CONTAINER_OF_LINK(l) ((CachedRecord *) ((char *) (l) - G_STRUCT_OFFSET (CachedRecord, link)))

/* Under cache_lock: take @c (in the table) out of the cache. */
static void
cache_drop (FilesStore   *self,
            CachedRecord *c)
{
  char *key = c->link.data;

  g_queue_unlink (&self->cache_order, &c->link);
  self->cache_bytes -= c->fields_len;
  g_hash_table_remove (self->cache, key); /* frees key, drops the table's reference */
}

/* The cached record of @envid if its file is unchanged (a new reference), else NULL
 * (a changed or removed file's entry is dropped). */
static CachedRecord *
cache_get (FilesStore *self,
           const char *envid)
{
  CachedRecord *c;
  struct stat st;

  g_mutex_lock (&self->cache_lock);
  c = g_hash_table_lookup (self->cache, envid);
  if (c != NULL)
    {
      g_atomic_rc_box_acquire (c);
      /* Most recently used: to the end. */
      g_queue_unlink (&self->cache_order, &c->link);
      g_queue_push_tail_link (&self->cache_order, &c->link);
    }
  g_mutex_unlock (&self->cache_lock);
  if (c == NULL)
    return NULL;
  if (lstat (c->path, &st) == 0 && S_ISREG (st.st_mode) && cached_record_matches (c, &st))
    return c;
  g_mutex_lock (&self->cache_lock);
  if (g_hash_table_lookup (self->cache, envid) == c)
    cache_drop (self, c);
  g_mutex_unlock (&self->cache_lock);
  cached_record_unref (c);
  return NULL;
}

/* Keep the record read from @path (its file's identity in @st), if it has settled. */
static void
cache_put (FilesStore        *self,
           const char        *envid,
           char              *path,
           const struct stat *st,
           const RecordHeader *header)
{
  CachedRecord *c;

  if ((gint64) st->st_ctim.tv_sec
      > g_get_real_time () / G_USEC_PER_SEC - TRACK_STORE_FILES_CACHE_SETTLE_SECONDS)
    {
      g_free (path);
      return;
    }
  c = g_atomic_rc_box_new0 (CachedRecord);
  c->path = path;
  c->dev = st->st_dev;
  c->ino = st->st_ino;
  c->size = st->st_size;
  c->mtime = st->st_mtim;
  c->ctime = st->st_ctim;
  c->authenticator = g_strdup (header->authenticator);
  c->expires = header->expires;
  c->version = header->version;
  c->fields = g_strndup (header->fields, header->fields_len);
  c->fields_len = header->fields_len;

  g_mutex_lock (&self->cache_lock);
  {
    CachedRecord *old = g_hash_table_lookup (self->cache, envid);

    if (old != NULL)
      cache_drop (self, old);
  }
  /* The least recently used out until the new one fits. */
  while (!g_queue_is_empty (&self->cache_order)
         && (g_hash_table_size (self->cache) >= TRACK_STORE_FILES_CACHE_ENTRIES
             || self->cache_bytes + c->fields_len > TRACK_STORE_FILES_CACHE_BYTES))
    cache_drop (self, CONTAINER_OF_LINK (g_queue_peek_head_link (&self->cache_order)));
  {
    char *key = g_strdup (envid);

    self->cache_bytes += c->fields_len;
    c->link.data = key;
    g_queue_push_tail_link (&self->cache_order, &c->link);
    g_hash_table_insert (self->cache, key, c);
  }
  g_mutex_unlock (&self->cache_lock);
}

/* The backend's fetch (track-store-backend.h): from the read cache when the record's
 * file is unchanged. */
static gboolean
files_fetch (gpointer    impl,
             const char *envid,
             char      **authenticator,
             gint64     *expires,
             gint64     *version,
             char      **fields,
             GError    **error)
{
  FilesStore *self = impl;
  g_autofree char *buf = NULL;
  g_autofree char *path = NULL;
  RecordHeader header = { 0 };
  struct stat st;
  CachedRecord *c;

  g_atomic_pointer_add (&self->n_fetches, 1);
  c = cache_get (self, envid);
  if (c != NULL)
    {
      *authenticator = g_strdup (c->authenticator);
      *expires = c->expires;
      *version = c->version;
      *fields = g_strndup (c->fields, c->fields_len);
      cached_record_unref (c);
      return TRUE;
    }
  g_atomic_pointer_add (&self->n_reads, 1);
  path = record_path (self, envid);
  if (!record_read_at (path, envid, &buf, &header, &st, error))
    {
      record_header_clear (&header);
      return FALSE;
    }
  cache_put (self, envid, g_steal_pointer (&path), &st, &header);
  *authenticator = g_steal_pointer (&header.authenticator);
  *expires = header.expires;
  *version = header.version;
  *fields = g_strndup (header.fields, header.fields_len);
  record_header_clear (&header);
  return TRUE;
}

/* Is the file @name in the store expired (records) or stale (temporary files)? */
static gboolean
entry_is_expired (FilesStore *self,
                  const char *name,
                  gint64      now)
{
  g_autofree char *path = g_build_filename (self->dir, name, NULL);
  g_autofree char *buf = NULL;
  g_autoptr (GError) error = NULL;
  RecordHeader header = { 0 };
  gboolean expired;
  gsize len = 0;

  if (g_str_has_prefix (name, TRACK_STORE_TMP_PREFIX))
    {
      GStatBuf st;

      return g_lstat (path, &st) == 0 && S_ISREG (st.st_mode)
             && (gint64) st.st_mtime + TRACK_STORE_STALE_TMP_SECONDS < now;
    }

  buf = read_record_file (path, &len, NULL, &error);
  if (buf == NULL || !record_header_parse (buf, len, path, &header, &error))
    {
      /* Kept for the administrator to look at; never deleted blindly. */
      g_warning ("Tracking store: %s", error->message);
      record_header_clear (&header);
      return FALSE;
    }
  expired = header.expires <= now;
  record_header_clear (&header);
  return expired;
}

/* The backend's expire: deletes expired records and stale temporary files; malformed
 * records are logged and kept. Returns the number of files removed. */
static guint
files_expire (gpointer impl,
              gint64   now)
{
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) error = NULL;
  const char *name;
  FilesStore *self = impl;
  guint removed = 0;

  dir = g_dir_open (self->dir, 0, &error);
  if (dir == NULL)
    {
      g_warning ("Tracking store: %s", error->message);
      return 0;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;

      if (!g_str_has_suffix (name, TRACK_STORE_SUFFIX)
          && !g_str_has_prefix (name, TRACK_STORE_TMP_PREFIX))
        continue;
      if (!entry_is_expired (self, name, now))
        continue;
      path = g_build_filename (self->dir, name, NULL);
      if (g_unlink (path) == 0)
        removed++;
      else if (errno != ENOENT)
        g_warning ("Tracking store: cannot remove %s: %s", path, g_strerror (errno));
    }
  if (removed > 0)
    durable_file_sync_dir (self->dir, NULL);
  return removed;
}

/* Write @text as the record at @path durably (replay only): temporary file, fsync,
 * rename, fsync of the directory. */
static gboolean
record_write_durably (FilesStore *self,
                      const char *path,
                      const char *text,
                      gsize       len,
                      GError    **error)
{
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *tmp_path = g_strdup_printf ("%s/" TRACK_STORE_TMP_PREFIX "%s", self->dir,
                                               name);

  return durable_file_replace (tmp_path, path, self->dir, text, len, error);
}

/* Replay of one journaled record (durable_journal_replay): written again, durably, when
 * the file is missing or unreadable (lost or torn by the crash), or when the put rules
 * allow it now (expired owner, or the same B with a lower version). In this boot too
 * (@this_boot): a writer killed between its record and its rename left the file as it
 * was. */
static gboolean
files_replay_record (const char *record,
                     gsize       len,
                     gboolean    this_boot,
                     gpointer    data,
                     GError    **error)
{
  FilesStore *self = data;
  RecordHeader header = { 0 };
  RecordHeader have = { 0 };
  g_autofree char *buf = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GError) local = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gboolean write;
  gboolean ok = TRUE;
  int dir_fd;

  if (!record_header_parse (record, len, "(journal)", &header, &local))
    {
      g_warning ("Tracking store: a journaled record is skipped: %s", local->message);
      record_header_clear (&header);
      return TRUE;
    }
  if (header.expires <= now)
    {
      record_header_clear (&header);
      return TRUE;
    }
  path = record_path (self, header.envid);
  dir_fd = dir_lock (self, error);
  if (dir_fd < 0)
    {
      record_header_clear (&header);
      return FALSE;
    }
  if (!record_read (self, header.envid, &buf, &have, NULL))
    write = TRUE;
  else if (have.expires <= now)
    write = TRUE;
  else
    write = track_store_authenticator_equal (have.authenticator, header.authenticator)
            && have.version < header.version;
  if (write)
    ok = record_write_durably (self, path, record, len, error);
  close (dir_fd);
  record_header_clear (&have);
  record_header_clear (&header);
  return ok;
}

/* Lookups (files_fetch) and the record files they read (the rest: the read cache). */
static void
files_lookup_stats (gpointer impl,
                    guint64 *lookups,
                    guint64 *reads,
                    guint   *waiting)
{
  FilesStore *self = impl;

  *lookups = (guint64) (gsize) g_atomic_pointer_get (&self->n_fetches);
  *reads = (guint64) (gsize) g_atomic_pointer_get (&self->n_reads);
  *waiting = 0;
}

const TrackStoreBackend track_store_files_backend = {
  .name = "files",
  .put = files_put,
  .fetch = files_fetch,
  .expire = files_expire,
  .free = files_free,
  .lookup_stats = files_lookup_stats,
};
