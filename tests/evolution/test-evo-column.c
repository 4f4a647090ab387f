/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-evo-column.c: the Tracking column's entry in EDS's user-header list.
 *
 * What: msgtrk_evo_column_add/_remove/_index on lists like users have: empty, others'
 * entries below, at and past MSGTRK_EVO_USER_HEADERS_MAX, ours already there (any title,
 * any case), ours beyond the used entries, empty entries; the state words are the shared
 * table's.
 * Limits: no GSettings (the module writes the key only on the user's click).
 */
#include "msgtrk-evo-column.h"

static void
assert_strv (char **got, const char * const *want)
{
  g_assert_nonnull (got);
  g_assert_true (g_strv_equal ((const char * const *) got, want));
}

static void
test_add_empty (void)
{
  const char *none[] = { NULL };
  const char *want[] = { "Tracking|X-Msgtrk-Status", NULL };
  g_auto (GStrv) got = msgtrk_evo_column_add (none, "Tracking", NULL);

  assert_strv (got, want);
  g_assert_cmpint (msgtrk_evo_column_index (want), ==, 0);
  g_assert_cmpint (msgtrk_evo_column_index (none), ==, -1);
  g_assert_cmpint (msgtrk_evo_column_index (NULL), ==, -1);
}

static void
test_add_keeps_others (void)
{
  const char *others[] = { "Spam Score|X-Spam-Score", "X-Mailer", NULL };
  const char *want[] = { "Spam Score|X-Spam-Score", "X-Mailer", "Suivi|X-Msgtrk-Status",
                         NULL };
  g_auto (GStrv) got = msgtrk_evo_column_add (others, "Suivi", NULL);

  assert_strv (got, want);
  g_assert_cmpint (msgtrk_evo_column_index (want), ==, 2);
}

static void
test_add_no_room (void)
{
  /* At the limit: three entries of others. */
  const char *full[] = { "A|X-A", "B|X-B", "X-C", NULL };
  /* Past it: four (Camel uses the first three). */
  const char *past[] = { "A|X-A", "B|X-B", "X-C", "X-D", NULL };
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) got = msgtrk_evo_column_add (full, "Tracking", &error);

  g_assert_null (got);
  g_assert_error (error, MSGTRK_EVO_COLUMN_ERROR, MSGTRK_EVO_COLUMN_ERROR_NO_ROOM);
  g_clear_error (&error);
  g_assert_null (msgtrk_evo_column_add (past, "Tracking", &error));
  g_assert_error (error, MSGTRK_EVO_COLUMN_ERROR, MSGTRK_EVO_COLUMN_ERROR_NO_ROOM);
}

static void
test_add_below_limit_with_empty_entries (void)
{
  /* Empty entries use no column: two others and an empty one leave room. */
  const char *sparse[] = { "A|X-A", "", "B|X-B", NULL };
  const char *want[] = { "A|X-A", "", "B|X-B", "Tracking|X-Msgtrk-Status", NULL };
  g_auto (GStrv) got = msgtrk_evo_column_add (sparse, "Tracking", NULL);

  assert_strv (got, want);
  g_assert_cmpint (msgtrk_evo_column_index (want), ==, 2);
}

static void
test_add_already_there (void)
{
  const char *there[] = { "A|X-A", "Spurning| x-msgtrk-status ", NULL };
  g_auto (GStrv) got = msgtrk_evo_column_add (there, "Tracking", NULL);

  assert_strv (got, there);
  g_assert_cmpint (msgtrk_evo_column_index (there), ==, 1);
}

static void
test_ours_beyond_the_limit (void)
{
  /* Ours as a fourth entry is not shown: not "on"; adding finds no room; removing takes it
   * away and leaves the others. */
  const char *beyond[] = { "A|X-A", "B|X-B", "X-C", "Tracking|X-Msgtrk-Status", NULL };
  const char *others[] = { "A|X-A", "B|X-B", "X-C", NULL };
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) removed = msgtrk_evo_column_remove (beyond);

  g_assert_cmpint (msgtrk_evo_column_index (beyond), ==, -1);
  g_assert_null (msgtrk_evo_column_add (beyond, "Tracking", &error));
  g_assert_error (error, MSGTRK_EVO_COLUMN_ERROR, MSGTRK_EVO_COLUMN_ERROR_NO_ROOM);
  assert_strv (removed, others);
}

static void
test_add_moves_unused_ours (void)
{
  /* Two others, an empty, and ours unused past... cannot happen below the limit; but ours
   * listed twice (an older version) is kept once. */
  const char *twice[] = { "X-A", "Tracking|X-Msgtrk-Status", "Tracking|X-Msgtrk-Status",
                          NULL };
  const char *want[] = { "X-A", NULL };
  g_auto (GStrv) removed = msgtrk_evo_column_remove (twice);

  assert_strv (removed, want);
  g_assert_cmpint (msgtrk_evo_column_index (twice), ==, 1);
}

static void
test_remove_keeps_others (void)
{
  const char *mixed[] = { "Tracking|X-Msgtrk-Status", "Spam|X-Spam-Score", "", NULL };
  const char *want[] = { "Spam|X-Spam-Score", "", NULL };
  const char *none[] = { NULL };
  g_auto (GStrv) got = msgtrk_evo_column_remove (mixed);
  g_auto (GStrv) empty = msgtrk_evo_column_remove (none);

  assert_strv (got, want);
  assert_strv (empty, none);
}

static void
test_labels (void)
{
  /* The words of helper/common/msgtrk-states.c (untranslated in the test's C locale). */
  g_assert_cmpstr (msgtrk_evo_column_label ("delivered"), ==, "Delivered");
  g_assert_cmpstr (msgtrk_evo_column_label ("in-transit"), ==, "In transit");
  g_assert_cmpstr (msgtrk_evo_column_label ("sending"), ==, "Sending");
  g_assert_cmpstr (msgtrk_evo_column_label ("no-such-state"), ==, "Unknown");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/evolution/column/add-empty", test_add_empty);
  g_test_add_func ("/evolution/column/add-keeps-others", test_add_keeps_others);
  g_test_add_func ("/evolution/column/add-no-room", test_add_no_room);
  g_test_add_func ("/evolution/column/add-below-limit-with-empty-entries",
                   test_add_below_limit_with_empty_entries);
  g_test_add_func ("/evolution/column/add-already-there", test_add_already_there);
  g_test_add_func ("/evolution/column/ours-beyond-the-limit", test_ours_beyond_the_limit);
  g_test_add_func ("/evolution/column/ours-twice", test_add_moves_unused_ours);
  g_test_add_func ("/evolution/column/remove-keeps-others", test_remove_keeps_others);
  g_test_add_func ("/evolution/column/labels", test_labels);
  return g_test_run ();
}
