/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-tail.h: follow a growing log file across rotation (rename or copy-truncate) and
 * restarts, handing out complete lines with the (inode, offset) where each starts.
 *
 * postfix_tail_poll() reads what was appended since the last call (at most
 * POSTFIX_TAIL_MAX_READ octets per call) and calls a function per complete line. A line
 * longer than POSTFIX_LOG_MAX_LINE is read to its end and handed out as its first
 * POSTFIX_LOG_MAX_LINE + 1 octets (the parser calls it UNKNOWN). Rotation by rename: when
 * the path names another file and the old one gave end-of-file twice in a row, the old one
 * is closed and the new one read from its start. Truncation: when the file is shorter than
 * the offset, reading starts again at 0.
 *
 * Positions: postfix_tail_resume() reopens a saved (inode, offset): in the file at the path,
 * or in a rotated sibling in the same directory ("maillog.1", "maillog-20261204"; compressed
 * ones are skipped), then goes on with the file at the path. A position file is one line,
 * "<inode> <offset>", written by postfix_tail_save_position() through durable-file.
 *
 * Limits: POSTFIX_TAIL_MAX_READ per poll. Rotated twice while stopped: the file in between
 * is not read (the log says so).
 * Never: write to the log; hand out a partial line.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** POSTFIX_TAIL_MAX_READ: octets read per poll at most (the rest at the next poll). */
#define POSTFIX_TAIL_MAX_READ (1024 * 1024)

typedef struct _PostfixTail PostfixTail;

/* One complete line (no LF); @ino and @start say where it begins. */
typedef void (*PostfixTailLineFunc) (const char *line,
                                     gsize       len,
                                     guint64     ino,
                                     guint64     start,
                                     gpointer    user_data);

PostfixTail *postfix_tail_new           (const char          *path);
void         postfix_tail_free          (PostfixTail         *tail);
void         postfix_tail_resume        (PostfixTail         *tail,
                                         guint64              ino,
                                         guint64              offset);
gboolean     postfix_tail_poll          (PostfixTail         *tail,
                                         PostfixTailLineFunc  func,
                                         gpointer             user_data,
                                         guint               *lines_out,
                                         GError             **error);
void         postfix_tail_get_position  (PostfixTail         *tail,
                                         guint64             *ino,
                                         guint64             *offset);
gboolean     postfix_tail_save_position (const char          *path,
                                         guint64              ino,
                                         guint64              offset,
                                         GError             **error);
gboolean     postfix_tail_load_position (const char          *path,
                                         guint64             *ino,
                                         guint64             *offset,
                                         GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PostfixTail, postfix_tail_free)

G_END_DECLS
