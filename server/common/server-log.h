/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-log.h: logging set-up for the reference servers.
 *
 * Messages go to stderr (captured by the journal under systemd) as
 * "<program>[pid]: <level>: <message>", one line each, with control characters of the
 * message escaped so that hostile input cannot forge log lines. Debug messages are shown
 * with --verbose. Never log the secret A: callers log ENVIDs and results only.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Whether info and debug messages are written (--verbose): lets a hot path skip
 * building a message that would be dropped. */
gboolean server_log_is_verbose (void);
void server_log_init (const char *program,
                      gboolean    verbose);

G_END_DECLS
