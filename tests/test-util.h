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

/* A connected loopback TCP pair (mt_tcp_pair_open); mt_tcp_pair_clear() closes both. */
typedef struct
{
  GSocketConnection *client;
  GSocketConnection *server;
} MtTcpPair;

void    mt_tcp_pair_open  (MtTcpPair *pair);
void    mt_tcp_pair_clear (MtTcpPair *pair);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MtTcpPair, mt_tcp_pair_clear)

/* A port where nothing listens on 127.0.0.1 (bound, then closed again). */
guint16 mt_closed_port    (void);

/* Remove every CR so that fixtures with CRLF and LF compare equal. */
char   *mt_strip_cr       (const char *text);

/* How many times @needle occurs in @haystack (occurrences that do not overlap). */
guint   mt_count_occurrences     (const char *haystack,
                                  const char *needle);

/* How long mt_file_wait_occurrences() waits at most. */
#define MT_FILE_WAIT_MS 10000

/* The text of the file at @path once it holds @needle at least @count times, or as it
 * is after MT_FILE_WAIT_MS (empty if it cannot be read): a server's log is written by its
 * log thread, after the answer that the line is about may have reached the test. */
char   *mt_file_wait_occurrences (const char *path,
                                  const char *needle,
                                  guint       count);

/* For a test program that runs server coroutines itself: the loops' watchdog (debug builds,
 * server/common/server-coro.c) warns of a resume that took long by the clock, which a
 * loaded machine's preemption of the loop thread causes as well as a blocking call; such a
 * warning is written and counted, not fatal (g_test_init() makes warnings fatal; every
 * other one stays so). Call once, after g_test_init(). */
void    mt_coro_watchdog_not_fatal (void);
/* The watchdog's warnings so far (mt_coro_watchdog_not_fatal()). */
guint   mt_coro_watchdog_warnings  (void);

G_END_DECLS
