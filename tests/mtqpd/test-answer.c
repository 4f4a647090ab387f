/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-answer.c: mtqpd's cache of built TRACK answers (server/mtqpd/mtqpd-answer.h).
 *
 * What: an answer is built once per set of records' fields (a second get is a hit, with
 * the same bytes), another version of a record is another answer, the cached bytes parse
 * back (status line, dot-unstuffing, msgtrk_report_parse_entity()) to the records served,
 * every node's record is a part, a record with a transferred recipient is flagged for
 * chaining, the cache's entry bound holds, and a record that does not parse is an error.
 * Never: needs a network or a server.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-dot-private.h"
#include "msgtrk-private.h"
#include "mtqpd-answer.h"
#include "track-store-cases.h"

#define MAX_LINE 998

static char *
fields_of (const char *envid,
           const char *action,
           const char *remote_mta)
{
  g_autoptr (MsgtrkReport) report = store_make_report (envid, action);

  if (remote_mta != NULL)
    msgtrk_recipient_report_set_remote_mta (
      g_ptr_array_index (msgtrk_report_get_recipients (report), 0), remote_mta);
  return msgtrk_report_to_fields (report);
}

/* The reports in an answer's wire bytes. */
static GPtrArray *
parse_wire (GBytes *wire)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (wire, &len);
  const char *eol = memchr (data, '\n', len);
  g_autoptr (GString) entity = g_string_new (NULL);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  MsgtrkDotParser parser;
  gsize consumed = 0;
  GPtrArray *reports;

  g_assert_nonnull (eol);
  g_assert_true (g_str_has_prefix (data, "+OK+ Tracking information follows\r\n"));
  msgtrk_dot_parser_init (&parser);
  g_assert_true (msgtrk_dot_parser_feed (&parser, eol + 1, len - (gsize) (eol + 1 - data),
                                         entity, &consumed));
  g_assert_cmpuint (consumed, ==, len - (gsize) (eol + 1 - data));
  bytes = g_bytes_new (entity->str, entity->len);
  reports = msgtrk_report_parse_entity (bytes, &error);
  g_assert_no_error (error);
  return reports;
}

static void
test_built_once (void)
{
  g_autoptr (MtqpdAnswerCache) cache = mtqpd_answer_cache_new ();
  g_autoptr (GPtrArray) fields = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) newer = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) reports = NULL;
  g_autoptr (GError) error = NULL;
  MtqpdAnswer a = { 0 }, b = { 0 }, c = { 0 };
  guint64 built = 0, hits = 0;

  g_test_summary ("Built once per set of records, the same bytes on a hit, another "
                  "version another answer; the bytes parse back to every node's record");
  g_ptr_array_add (fields, fields_of ("mtrk.a@example.com", "relayed", NULL));
  g_ptr_array_add (fields, fields_of ("mtrk.a@example.com", "delivered", NULL));
  g_assert_true (mtqpd_answer_get (cache, fields, MAX_LINE, &a, &error));
  g_assert_no_error (error);
  g_assert_true (mtqpd_answer_get (cache, fields, MAX_LINE, &b, &error));
  g_assert_true (g_bytes_equal (a.wire, b.wire));
  g_assert_false (a.needs_chain);
  mtqpd_answer_cache_stats (cache, &built, &hits);
  g_assert_cmpuint (built, ==, 1);
  g_assert_cmpuint (hits, ==, 1);

  reports = parse_wire (a.wire);
  g_assert_cmpuint (reports->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *back = msgtrk_report_to_fields (reports->pdata[i]);

      g_assert_cmpstr (back, ==, fields->pdata[i]);
    }

  g_ptr_array_add (newer, g_strdup (fields->pdata[0]));
  g_ptr_array_add (newer, fields_of ("mtrk.a@example.com", "transferred", "mx2.example.com"));
  g_assert_true (mtqpd_answer_get (cache, newer, MAX_LINE, &c, &error));
  g_assert_false (g_bytes_equal (a.wire, c.wire));
  g_assert_true (c.needs_chain);
  mtqpd_answer_cache_stats (cache, &built, &hits);
  g_assert_cmpuint (built, ==, 2);
  mtqpd_answer_clear (&a);
  mtqpd_answer_clear (&b);
  mtqpd_answer_clear (&c);
}

static void
test_bounds_and_errors (void)
{
  g_autoptr (MtqpdAnswerCache) cache = mtqpd_answer_cache_new ();
  g_autoptr (GPtrArray) bad = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *first = fields_of ("mtrk.0@example.com", "delivered", NULL);
  MtqpdAnswer a = { 0 };
  guint64 built = 0, hits = 0;

  g_test_summary ("More distinct answers than MTQPD_ANSWER_CACHE_ENTRIES: the oldest is "
                  "built again; a record that does not parse is an error, not cached");
  for (guint i = 0; i <= MTQPD_ANSWER_CACHE_ENTRIES; i++)
    {
      g_autoptr (GPtrArray) one = g_ptr_array_new_with_free_func (g_free);
      g_autofree char *envid = g_strdup_printf ("mtrk.%u@example.com", i);

      g_ptr_array_add (one, fields_of (envid, "delivered", NULL));
      g_assert_true (mtqpd_answer_get (cache, one, MAX_LINE, &a, &error));
      mtqpd_answer_clear (&a);
    }
  {
    g_autoptr (GPtrArray) again = g_ptr_array_new_with_free_func (g_free);

    g_ptr_array_add (again, g_strdup (first));
    g_assert_true (mtqpd_answer_get (cache, again, MAX_LINE, &a, &error));
    mtqpd_answer_clear (&a);
  }
  mtqpd_answer_cache_stats (cache, &built, &hits);
  g_assert_cmpuint (built, ==, MTQPD_ANSWER_CACHE_ENTRIES + 2);
  g_assert_cmpuint (hits, ==, 0);

  g_ptr_array_add (bad, g_strdup ("Not a field\r\n\r\n"));
  g_assert_false (mtqpd_answer_get (cache, bad, MAX_LINE, &a, &error));
  g_assert_nonnull (error);
  g_assert_null (a.wire);
}

/* One node's record (PostgreSQL keeps one per node) that cannot be read or carried (a
 * field no 998-octet line can hold) is left out of the answer; the others are answered
 * (session 20 review: the whole answer failed, -TEMP for ever). Alone it is an error. */
static void
test_left_out (void)
{
  g_autoptr (MtqpdAnswerCache) cache = mtqpd_answer_cache_new ();
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) alone = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) reports = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *good = fields_of ("mtrk.left@example.com", "delivered", "mx.example.net");
  g_autofree char *wide = fields_of ("mtrk.left@example.com", "relayed", NULL);
  g_autofree char *unfoldable = NULL;
  MtqpdAnswer a = { 0 };
  GString *s = g_string_new (wide);
  GLogLevelFlags fatal;

  /* A Remote-MTA of 2,000 octets without a space: parses, cannot be folded. */
  g_string_replace (s, "Action:", "Remote-MTA: dns; ", 1);
  {
    g_autofree char *pad = g_strnfill (2000, 'u');
    gssize at = strstr (s->str, "Remote-MTA: dns; ") - s->str + 17;

    g_string_insert (s, at, pad);
    g_string_insert (s, at + 2000, "\nAction:");
  }
  unfoldable = g_string_free (s, FALSE);
  g_ptr_array_add (rows, g_strdup (good));
  g_ptr_array_add (rows, g_strdup (unfoldable));
  g_ptr_array_add (rows, g_strdup ("Not a field\r\n\r\n"));
  /* Its two warnings ("left out") are expected: not fatal here. */
  fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_assert_true (mtqpd_answer_get (cache, rows, MAX_LINE, &a, &error));
  g_log_set_always_fatal (fatal);
  g_assert_no_error (error);
  reports = parse_wire (a.wire);
  g_assert_cmpuint (reports->len, ==, 1);
  mtqpd_answer_clear (&a);

  g_ptr_array_add (alone, g_strdup (unfoldable));
  g_assert_false (mtqpd_answer_get (cache, alone, MAX_LINE, &a, &error));
  g_assert_nonnull (error);
  g_assert_null (a.wire);
}

/* The answer of @envid; TRUE when it was a hit. */
static gboolean
get_one (MtqpdAnswerCache *cache,
         const char       *envid)
{
  g_autoptr (GPtrArray) one = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  MtqpdAnswer a = { 0 };
  guint64 hits0 = 0, hits = 0;

  mtqpd_answer_cache_stats (cache, NULL, &hits0);
  g_ptr_array_add (one, fields_of (envid, "delivered", NULL));
  g_assert_true (mtqpd_answer_get (cache, one, MAX_LINE, &a, &error));
  g_assert_no_error (error);
  mtqpd_answer_clear (&a);
  mtqpd_answer_cache_stats (cache, NULL, &hits);
  return hits > hits0;
}

static void
test_lru (void)
{
  g_autoptr (MtqpdAnswerCache) cache = mtqpd_answer_cache_new ();
  guint64 built = 0, hits = 0;

  g_test_summary ("Least recently used out first: an answer asked for again and again "
                  "stays while MTQPD_ANSWER_CACHE_ENTRIES others pass through; one not "
                  "asked for since is built again");
  g_assert_false (get_one (cache, "mtrk.hot@example.com"));
  g_assert_false (get_one (cache, "mtrk.cold@example.com"));
  for (guint i = 0; i < MTQPD_ANSWER_CACHE_ENTRIES; i++)
    {
      g_autofree char *envid = g_strdup_printf ("mtrk.%u@example.com", i);

      g_assert_false (get_one (cache, envid));
      if (i % 512 == 0)
        g_assert_true (get_one (cache, "mtrk.hot@example.com"));
    }
  g_assert_true (get_one (cache, "mtrk.hot@example.com"));
  g_assert_false (get_one (cache, "mtrk.cold@example.com"));
  mtqpd_answer_cache_stats (cache, &built, &hits);
  g_assert_cmpuint (built, ==, MTQPD_ANSWER_CACHE_ENTRIES + 3);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mtqpd/answer/built-once", test_built_once);
  g_test_add_func ("/mtqpd/answer/bounds-and-errors", test_bounds_and_errors);
  g_test_add_func ("/mtqpd/answer/lru", test_lru);
  g_test_add_func ("/mtqpd/answer/left-out", test_left_out);
  return g_test_run ();
}
