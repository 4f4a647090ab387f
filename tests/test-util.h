/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-util.h: helpers shared by msgtrk's GTest programs.
 *
 * Fixtures live in tests/fixtures/ (G_TEST_SRCDIR); external tools (openssl, …) are run
 * with GSubprocess and their output captured, never through a shell.
 */
#pragma once

#include <gio/gio.h>

#include "msgtrk.h"

G_BEGIN_DECLS

char   *mt_fixture_path   (const char *name);
GBytes *mt_fixture_load   (const char *name);
char   *mt_fixture_load_string (const char *name);
GBytes *mt_run_tool       (const char * const *argv,
                           GBytes             *input,
                           GError            **error);
char   *mt_tmpdir_new     (void);
void    mt_tmpdir_remove  (const char *path);
char   *mt_make_test_ca   (const char *dir);

/* The pieces a parser test feeds its input in: mode 0, whole; 1, one octet at a time; 2,
 * two pieces cut at @cut. */
typedef struct
{
  guint mode;
  gsize cut;
} MtFeed;

gsize   mt_feed_piece_end (const MtFeed *feed,
                           gsize         pos,
                           gsize         len);
GArray *mt_feed_all       (gsize         len);

/* Remove every CR so that fixtures with CRLF and LF compare equal. */
char   *mt_strip_cr       (const char *text);

G_END_DECLS
