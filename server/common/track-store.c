/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store.c: the reference server's tracking records (contract: track-store.h).
 *
 * One file per ENVID: <state_dir>/tracking/<sha256-hex (ENVID)>.trk. The relay writes
 * (track_store_put), mtqpd reads (track_store_lookup). A record is replaced atomically:
 * a temporary file ".tmp-<hash>-XXXXXX" in the same directory, write, fsync, rename over
 * the record, fsync the directory (durable-file.h). Readers therefore see the old or the new record, never
 * a half-written one; track_store_expire() also removes temporary files left by a crash.
 *
 * Record syntax (version 1), lines end in LF (a CR before the LF is tolerated):
 *
 *   record        = magic-line 1*header-line LF report-fields
 *   magic-line    = "MSGTRK-TRACK 1" LF
 *   header-line   = ( "Envid: " xtext / "Authenticator: " 28base64char /
 *                     "Expires: " 1*19DIGIT ) LF        ; each exactly once, any order
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
 * parsed is not replaced either (kept for the administrator). The check and the rename
 * happen under an exclusive flock() on the directory, so the rule holds for every writer,
 * in any process.
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
#include "msgtrk-private.h"
#include "track-store.h"

/* Longest ENVID (decoded) that names a record: RFC 3461 allows 100 xtext characters. */
#define TRACK_STORE_MAX_ENVID_LENGTH 100
/* Temporary files older than this are left-overs of a crash: expire() removes them. */
#define TRACK_STORE_STALE_TMP_SECONDS (60 * 60)

#define TRACK_STORE_MAGIC "MSGTRK-TRACK 1"
#define TRACK_STORE_SUFFIX ".trk"
#define TRACK_STORE_TMP_PREFIX ".tmp-"
/* A syntactically valid B that matches no secret: compared against when the ENVID is
 * unknown, so that both paths do the same constant-time work. */
#define TRACK_STORE_DUMMY_AUTHENTICATOR "AAAAAAAAAAAAAAAAAAAAAAAAAAA="

struct _TrackStore
{
  GObject parent_instance;

  char *dir; /* (owned) <state_dir>/tracking */
};

G_DEFINE_FINAL_TYPE (TrackStore, track_store, G_TYPE_OBJECT)

static void
track_store_finalize (GObject *object)
{
  TrackStore *self = TRACK_STORE (object);

  g_free (self->dir);
  G_OBJECT_CLASS (track_store_parent_class)->finalize (object);
}

static void
track_store_class_init (TrackStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = track_store_finalize;
}

static void
track_store_init (TrackStore *self)
{
}

/**
 * track_store_new:
 * @state_dir: the server's state directory (shared by msgtrk-relay and mtqpd)
 * @error: return location for a #GError
 *
 * Opens the record store in @state_dir/tracking, creating that directory (mode 0750)
 * if it does not exist.
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with @error set
 */
TrackStore *
track_store_new (const char *state_dir,
                 GError    **error)
{
  g_autoptr (TrackStore) self = NULL;
  g_autofree char *dir = NULL;

  g_return_val_if_fail (state_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

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

  self = g_object_new (TYPE_TRACK_STORE, NULL);
  self->dir = g_steal_pointer (&dir);
  return g_steal_pointer (&self);
}

/* Check an ENVID given by a caller (the decoded form: the key of the record). */
static gboolean
envid_check (const char *envid,
             GError    **error)
{
  gsize len = strlen (envid);

  if (len == 0 || len > TRACK_STORE_MAX_ENVID_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "An ENVID must have 1 to %d octets, this one has %" G_GSIZE_FORMAT,
                   TRACK_STORE_MAX_ENVID_LENGTH, len);
      return FALSE;
    }
  return TRUE;
}

/* <dir>/<sha256-hex (envid)>.trk */
static char *
record_path (TrackStore *self,
             const char *envid)
{
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, envid, -1);
  g_autofree char *name = g_strconcat (hash, TRACK_STORE_SUFFIX, NULL);

  return g_build_filename (self->dir, name, NULL);
}

typedef struct _RecordHeader RecordHeader;
static gboolean record_read (TrackStore   *self,
                             const char   *envid,
                             char        **buf_out,
                             RecordHeader *header,
                             GError      **error);
static gboolean owner_check (TrackStore *self,
                             const char *envid,
                             const char *authenticator,
                             gint64      now,
                             GError    **error);

/* Write @text as the record of @envid: temporary file, fsync, rename, fsync @dir_fd. */
static gboolean
record_write (TrackStore *self,
              int         dir_fd,
              const char *envid,
              GString    *text,
              GError    **error)
{
  g_autofree char *path = record_path (self, envid);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, envid, -1);
  g_autofree char *tmp_path = NULL;
  int fd;
  int saved;

  tmp_path = g_strdup_printf ("%s/" TRACK_STORE_TMP_PREFIX "%s-XXXXXX", self->dir, hash);
  fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0640);
  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot create a temporary file in %s: %s", self->dir, g_strerror (saved));
      return FALSE;
    }
  if (!durable_file_write_fd (fd, tmp_path, text->str, text->len, error))
    {
      g_prefix_error (error, "Cannot write the tracking record: ");
      return FALSE;
    }
  if (g_rename (tmp_path, path) != 0)
    {
      saved = errno;
      g_unlink (tmp_path);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot rename %s to %s: %s", tmp_path, path, g_strerror (saved));
      return FALSE;
    }
  return durable_file_sync_dir_fd (dir_fd, self->dir, error);
  return TRUE;
}

/**
 * track_store_put:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @authenticator: B, base64 (28 characters)
 * @expires: unix time after which the record is no longer served
 * @report: the message/tracking-status report to serve
 * @error: return location for a #GError
 *
 * Writes (or replaces) the record of @envid atomically and durably. A record of
 * @envid stored with another authenticator is replaced only once it has expired (by the
 * system clock); until then the call fails with %MSGTRK_ERROR_INVALID_SECRET and the
 * record is kept. A record that cannot be read or parsed is kept too (its error).
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
track_store_put (TrackStore   *self,
                 const char   *envid,
                 const char   *authenticator,
                 gint64        expires,
                 MsgtrkReport *report,
                 GError      **error)
{
  g_autofree char *fields = NULL;
  g_autofree char *envid_x = NULL;
  g_autoptr (GString) text = NULL;
  gboolean ok;
  int dir_fd;
  int saved;

  g_return_val_if_fail (TRACK_IS_STORE (self), FALSE);
  g_return_val_if_fail (envid != NULL, FALSE);
  g_return_val_if_fail (authenticator != NULL, FALSE);
  g_return_val_if_fail (MSGTRK_IS_REPORT (report), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!envid_check (envid, error))
    return FALSE;
  if (!msgtrk_authenticator_is_valid (authenticator, error))
    return FALSE;
  if (expires < 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Expiry time %" G_GINT64_FORMAT " is negative", expires);
      return FALSE;
    }

  fields = msgtrk_report_to_fields (report);
  if (fields == NULL)
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                           "The tracking report could not be written out");
      return FALSE;
    }
  envid_x = msgtrk_xtext_encode (envid);

  text = g_string_new (TRACK_STORE_MAGIC "\n");
  g_string_append_printf (text, "Envid: %s\nAuthenticator: %s\nExpires: %" G_GINT64_FORMAT "\n\n",
                          envid_x, authenticator, expires);
  g_string_append (text, fields);
  if (text->len > TRACK_STORE_MAX_RECORD_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The tracking record would have %" G_GSIZE_FORMAT
                   " octets, more than the limit of %d",
                   text->len, TRACK_STORE_MAX_RECORD_SIZE);
      return FALSE;
    }

  /* The owner check and the rename under one lock: no writer slips in between. */
  dir_fd = open (self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || flock (dir_fd, LOCK_EX) != 0)
    {
      saved = errno;
      if (dir_fd >= 0)
        close (dir_fd);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot lock the tracking directory %s: %s", self->dir, g_strerror (saved));
      return FALSE;
    }
  ok = owner_check (self, envid, authenticator, g_get_real_time () / G_USEC_PER_SEC, error)
       && record_write (self, dir_fd, envid, text, error);
  close (dir_fd); /* releases the lock */
  return ok;
}

/* Read a whole record file, refusing anything but a regular file of bounded size.
 * A missing file is MSGTRK_ERROR_NOT_FOUND. */
static char *
read_record_file (const char *path,
                  gsize      *len_out,
                  GError    **error)
{
  struct stat st;
  g_autofree char *buf = NULL;
  gsize got = 0;
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

  /* One more octet than the limit, to notice a file that grew since fstat. */
  buf = g_malloc (TRACK_STORE_MAX_RECORD_SIZE + 2);
  for (;;)
    {
      ssize_t n = read (fd, buf + got, TRACK_STORE_MAX_RECORD_SIZE + 1 - got);

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
  return g_steal_pointer (&buf);
}

struct _RecordHeader
{
  char *envid;          /* decoded */
  char *authenticator;
  gint64 expires;
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
record_read (TrackStore   *self,
             const char   *envid,
             char        **buf_out,
             RecordHeader *header,
             GError      **error)
{
  g_autofree char *path = record_path (self, envid);
  g_autofree char *buf = NULL;
  gsize len = 0;

  buf = read_record_file (path, &len, error);
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

/* May a record of @envid with @authenticator be written at @now? Yes if there is none,
 * if it has the same authenticator, or if it has expired. */
static gboolean
owner_check (TrackStore *self,
             const char *envid,
             const char *authenticator,
             gint64      now,
             GError    **error)
{
  g_autofree char *buf = NULL;
  g_autoptr (GError) local = NULL;
  RecordHeader header = { 0 };
  gboolean ok;

  if (!record_read (self, envid, &buf, &header, &local))
    {
      record_header_clear (&header);
      if (g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                  "The existing record is kept: ");
      return FALSE;
    }
  ok = strcmp (header.authenticator, authenticator) == 0 || header.expires <= now;
  if (!ok)
    g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                         "This ENVID is tracked for another authenticator until its record "
                         "expires; the record is kept");
  record_header_clear (&header);
  return ok;
}

static MsgtrkReport *
record_parse_report (const RecordHeader *header,
                     GError            **error)
{
  return msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS,
                                     header->fields, (gssize) header->fields_len, error);
}

/**
 * track_store_load:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @authenticator: (out) (optional) (transfer full): B as stored
 * @expires: (out) (optional): the expiry time as stored
 * @error: return location for a #GError
 *
 * Reads the record of @envid as stored, expired or not, for the relay that updates it.
 * A missing record is %MSGTRK_ERROR_NOT_FOUND; a malformed one %MSGTRK_ERROR_PARSE or
 * %MSGTRK_ERROR_LIMIT.
 *
 * Returns: (transfer full) (nullable): the report, or %NULL with @error set
 */
MsgtrkReport *
track_store_load (TrackStore *self,
                  const char *envid,
                  char      **authenticator,
                  gint64     *expires,
                  GError    **error)
{
  g_autofree char *buf = NULL;
  RecordHeader header = { 0 };
  MsgtrkReport *report;

  g_return_val_if_fail (TRACK_IS_STORE (self), NULL);
  g_return_val_if_fail (envid != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!envid_check (envid, error))
    return NULL;
  if (!record_read (self, envid, &buf, &header, error))
    {
      record_header_clear (&header);
      return NULL;
    }
  report = record_parse_report (&header, error);
  if (report != NULL)
    {
      if (authenticator != NULL)
        *authenticator = g_steal_pointer (&header.authenticator);
      if (expires != NULL)
        *expires = header.expires;
    }
  record_header_clear (&header);
  return report;
}

/**
 * track_store_lookup:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @secret_base64: the mtrk-secret A as received (base64)
 * @now: the current unix time
 * @error: return location for a #GError
 *
 * The TRACK query: the report of @envid if @secret_base64 matches the stored B (compared
 * in constant time) and the record has not expired at @now. An unknown ENVID, an
 * expired record and a wrong or malformed secret all give the same
 * %MSGTRK_ERROR_NOT_FOUND error with the same message. A record that cannot be read or
 * parsed is another error (a server fault, logged by the caller).
 *
 * Returns: (transfer full) (nullable): the report, or %NULL with @error set
 */
MsgtrkReport *
track_store_lookup (TrackStore *self,
                    const char *envid,
                    const char *secret_base64,
                    gint64      now,
                    GError    **error)
{
  g_autofree char *buf = NULL;
  g_autoptr (GError) local = NULL;
  RecordHeader header = { 0 };
  MsgtrkReport *report = NULL;
  gboolean found;
  gboolean match;

  g_return_val_if_fail (TRACK_IS_STORE (self), NULL);
  g_return_val_if_fail (envid != NULL, NULL);
  g_return_val_if_fail (secret_base64 != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  found = envid_check (envid, NULL) && record_read (self, envid, &buf, &header, &local);
  if (!found && local != NULL && !g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
    {
      record_header_clear (&header);
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }

  /* Same work whether the record exists or not: one constant-time comparison. */
  match = msgtrk_verify_secret (secret_base64,
                                found ? header.authenticator : TRACK_STORE_DUMMY_AUTHENTICATOR);
  if (found && match && header.expires > now)
    report = record_parse_report (&header, error);
  else
    g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                         "No tracking information for this ENVID and secret");
  record_header_clear (&header);
  return report;
}

/* Is the file @name in the store expired (records) or stale (temporary files)? */
static gboolean
entry_is_expired (TrackStore *self,
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

  buf = read_record_file (path, &len, &error);
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

/**
 * track_store_expire:
 * @self: a #TrackStore
 * @now: the current unix time
 *
 * Deletes the records that expired at or before @now, and temporary files left by an
 * interrupted write. Malformed records are logged and kept.
 *
 * Returns: the number of files removed
 */
guint
track_store_expire (TrackStore *self,
                    gint64      now)
{
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) error = NULL;
  const char *name;
  guint removed = 0;

  g_return_val_if_fail (TRACK_IS_STORE (self), 0);

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
