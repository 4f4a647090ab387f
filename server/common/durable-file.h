/* SPDX-License-Identifier: GPL-3.0-or-later */
/* durable-file.h: files that survive a crash once a call returns TRUE (the one
 * implementation of "write, fsync, rename, fsync the directory" for both servers).
 *
 * durable_file_write_fd() writes all of a buffer to an open descriptor, fsyncs and closes
 * it; durable_file_write() creates a file for it. A new name becomes durable with
 * durable_file_rename() (rename, then fsync of the directory) or
 * durable_file_sync_dir*(); durable_file_replace() does all four steps through a
 * temporary name in the same directory, so a reader sees the old or the new content.
 *
 * Errors are G_IO_ERROR with the path and the system's reason; on failure a file this
 * module created is removed (never the destination of a rename).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

gboolean durable_file_write_fd    (int          fd,
                                   const char  *path,
                                   const char  *data,
                                   gsize        len,
                                   GError     **error);
gboolean durable_file_write       (const char  *path,
                                   const char  *data,
                                   gsize        len,
                                   GError     **error);
gboolean durable_file_sync_fd     (int          fd,
                                   const char  *path,
                                   GError     **error);
gboolean durable_file_sync_dir    (const char  *dir,
                                   GError     **error);
gboolean durable_file_sync_dir_fd (int          dir_fd,
                                   const char  *dir,
                                   GError     **error);
gboolean durable_file_rename      (const char  *from,
                                   const char  *to,
                                   const char  *dir,
                                   GError     **error);
gboolean durable_file_replace     (const char  *tmp_path,
                                   const char  *path,
                                   const char  *dir,
                                   const char  *data,
                                   gsize        len,
                                   GError     **error);

G_END_DECLS
