/* SPDX-License-Identifier: GPL-3.0-or-later */
/* durable-file.c: crash-safe file writes for msgtrk-relay and mtqpd's store (contract:
 * durable-file.h).
 *
 * How: write(2) in a loop (EINTR, short writes), fsync(2) of the file before it gets its
 * final name, rename(2) inside one directory (atomic), fsync(2) of the directory so that
 * the new name is on disk too. A caller that holds the directory open (a lock) syncs it
 * through durable_file_sync_dir_fd().
 * Limits: none of its own; callers bound what they write.
 * Never: report success before both fsyncs returned 0; remove a rename's destination.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-file.h"

static gboolean
set_errno_error (GError    **error,
                 int         saved,
                 const char *what,
                 const char *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot %s %s: %s", what,
               path, g_strerror (saved));
  return FALSE;
}

/*
 * durable_file_sync_fd: fsync and close @fd (closed in every case); @path names it in
 * errors.
 */
gboolean
durable_file_sync_fd (int          fd,
                      const char  *path,
                      GError     **error)
{
  int saved;

  if (fsync (fd) != 0)
    {
      saved = errno;
      close (fd);
      return set_errno_error (error, saved, "sync", path);
    }
  if (close (fd) != 0)
    return set_errno_error (error, errno, "write", path);
  return TRUE;
}

/*
 * durable_file_write_fd: write @len octets of @data to @fd, fsync and close it (closed in
 * every case). On failure the file @path is removed.
 */
gboolean
durable_file_write_fd (int          fd,
                       const char  *path,
                       const char  *data,
                       gsize        len,
                       GError     **error)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0)
        {
          int saved = errno;

          if (saved == EINTR)
            continue;
          close (fd);
          g_unlink (path);
          return set_errno_error (error, saved, "write", path);
        }
      data += n;
      len -= (gsize) n;
    }
  if (!durable_file_sync_fd (fd, path, error))
    {
      g_unlink (path);
      return FALSE;
    }
  return TRUE;
}

/*
 * durable_file_write: create (or truncate) @path with mode 0600 and write @data to it
 * durably. Not atomic by itself: write a temporary name, then durable_file_rename().
 * A symbolic link at @path is not followed (temporary names are predictable): ELOOP.
 */
gboolean
durable_file_write (const char  *path,
                    const char  *data,
                    gsize        len,
                    GError     **error)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

  if (fd < 0)
    return set_errno_error (error, errno, "create", path);
  return durable_file_write_fd (fd, path, data, len, error);
}

/* durable_file_sync_dir_fd: fsync the open directory @dir_fd (@dir names it in errors). */
gboolean
durable_file_sync_dir_fd (int          dir_fd,
                          const char  *dir,
                          GError     **error)
{
  if (fsync (dir_fd) != 0)
    return set_errno_error (error, errno, "sync the directory", dir);
  return TRUE;
}

/* durable_file_sync_dir: fsync the directory @dir, so that names created in it last. */
gboolean
durable_file_sync_dir (const char  *dir,
                       GError     **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  gboolean ok;

  if (fd < 0)
    return set_errno_error (error, errno, "open the directory", dir);
  ok = durable_file_sync_dir_fd (fd, dir, error);
  close (fd);
  return ok;
}

/*
 * durable_file_rename: rename the synced file @from to @to (both in @dir), then fsync
 * @dir. When the rename fails, @from is removed.
 */
gboolean
durable_file_rename (const char  *from,
                     const char  *to,
                     const char  *dir,
                     GError     **error)
{
  if (g_rename (from, to) != 0)
    {
      int saved = errno;

      g_unlink (from);
      return set_errno_error (error, saved, "rename", from);
    }
  return durable_file_sync_dir (dir, error);
}

/*
 * durable_file_replace: give @path the content @data atomically and durably, through
 * @tmp_path (in the same directory @dir): write, fsync, rename, fsync @dir.
 */
gboolean
durable_file_replace (const char  *tmp_path,
                      const char  *path,
                      const char  *dir,
                      const char  *data,
                      gsize        len,
                      GError     **error)
{
  return durable_file_write (tmp_path, data, len, error)
         && durable_file_rename (tmp_path, path, dir, error);
}
