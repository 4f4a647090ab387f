/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-tail.h: follow a growing log file across rotation (rename, rename then
 * compression, copy-truncate) and restarts, handing out complete lines with the file key
 * and the offset where each starts.
 *
 * postfix_tail_poll() reads what was appended since the last call (at most
 * POSTFIX_TAIL_MAX_READ octets per call) and calls a function per complete line. A line
 * longer than POSTFIX_LOG_MAX_LINE is read to its end and handed out as its first
 * POSTFIX_LOG_MAX_LINE + 1 octets (the parser calls it UNKNOWN).
 *
 * Content, not inode: a file's first POSTFIX_TAIL_FINGERPRINT_MAX octets (its head: a log's
 * first lines carry their time) identify what it holds, so its renamed, copied or
 * compressed copy is recognised, and so is a file truncated and written again under the
 * same inode. The key handed out with each line names the file: its inode, or a key of its
 * own for the content written after a truncation (the old content's lines may still be
 * held by the caller).
 *
 * Rotation by rename: when the path names another file and the old one gave end-of-file
 * twice in a row, the old one is left and the new one read from its start. Truncation or
 * rewrite (copytruncate): when the file is shorter than the offset or its head changed,
 * the rest of the old content is read from its rotated copy (plain or gzip, found by its
 * head), then the file from its start; without such a copy the log says that lines after
 * the offset may be lost.
 *
 * Positions: postfix_tail_save_position() writes (key, offset, head length, SHA-256 of the
 * head) of a file this tail has read, through durable-file (format 2). postfix_tail_resume()
 * finds that content: the file at the path, else among its rotated siblings in the same
 * directory ("maillog.1", "maillog.2.gz", "maillog-20261204", "maillog.20261205-131650.gz";
 * the POSTFIX_TAIL_MAX_ROTATED newest, newest first); reads the rest of it from the offset,
 * then the rotated files newer than it, oldest first, then the file at the path. Plain and
 * gzip files are read (GIO's GZlibDecompressor); .bz2, .xz, .zst, .lz4 and .Z are not
 * (named in the log when the position is not found, or when one lies after it). A position
 * file of format 1 ("<inode> <offset>") is still read: its file is then found by inode
 * among plain files only.
 *
 * Limits: POSTFIX_TAIL_MAX_READ per poll; POSTFIX_TAIL_MAX_ROTATED rotated files looked at;
 * POSTFIX_TAIL_MAX_SKIP octets decompressed at most to reach a position in a compressed
 * file (past it, the rest of that file is not read: logged); POSTFIX_TAIL_MAX_KEPT files
 * remembered for positions (descriptors kept open, so inode numbers are not reused under
 * them; a position in a file forgotten is saved without its head).
 * Never: write to the log; hand out a partial line (but the unfinished last line of a file
 * left after a rotation, as it is).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** POSTFIX_TAIL_MAX_READ: octets read per poll at most (the rest at the next poll). */
#define POSTFIX_TAIL_MAX_READ (1024 * 1024)
/** POSTFIX_TAIL_FINGERPRINT_MAX: octets at the start of a file that identify its content. */
#define POSTFIX_TAIL_FINGERPRINT_MAX 1024
/** POSTFIX_TAIL_MAX_ROTATED: rotated siblings looked at on resume (the newest ones). */
#define POSTFIX_TAIL_MAX_ROTATED 16
/** POSTFIX_TAIL_MAX_SKIP: octets decompressed at most to reach a saved position. */
#define POSTFIX_TAIL_MAX_SKIP (G_GUINT64_CONSTANT (4) << 30)
/** POSTFIX_TAIL_MAX_KEPT: files read that are remembered for saving positions. */
#define POSTFIX_TAIL_MAX_KEPT 8

typedef struct _PostfixTail PostfixTail;

/* A saved position: @ino is the file's key; @fp_len octets of its head hash to @fp (hex
 * SHA-256); @fp_len 0: no head (format 1, or nothing was read of the file). */
typedef struct
{
  guint64 ino;
  guint64 offset;
  guint fp_len;
  char fp[65];
} PostfixTailPosition;

/* One complete line (no LF); @ino (the file's key) and @start say where it begins. */
typedef void (*PostfixTailLineFunc) (const char *line,
                                     gsize       len,
                                     guint64     ino,
                                     guint64     start,
                                     gpointer    user_data);

PostfixTail *postfix_tail_new              (const char                *path);
void         postfix_tail_free             (PostfixTail               *tail);
void         postfix_tail_set_max_skip     (PostfixTail               *tail,
                                            guint64                    max_skip);
void         postfix_tail_resume           (PostfixTail               *tail,
                                            const PostfixTailPosition *pos);
gboolean     postfix_tail_resume_from_file (PostfixTail               *tail,
                                            const char                *pos_path,
                                            guint64                   *ino,
                                            guint64                   *offset,
                                            GError                   **error);
gboolean     postfix_tail_poll             (PostfixTail               *tail,
                                            PostfixTailLineFunc        func,
                                            gpointer                   user_data,
                                            guint                     *lines_out,
                                            GError                   **error);
gboolean     postfix_tail_is_following     (PostfixTail               *tail);
void         postfix_tail_get_position     (PostfixTail               *tail,
                                            guint64                   *ino,
                                            guint64                   *offset);
gboolean     postfix_tail_save_position    (PostfixTail               *tail,
                                            const char                *path,
                                            guint64                    ino,
                                            guint64                    offset,
                                            GError                   **error);
gboolean     postfix_tail_load_position    (const char                *path,
                                            PostfixTailPosition       *pos,
                                            GError                   **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PostfixTail, postfix_tail_free)

G_END_DECLS
