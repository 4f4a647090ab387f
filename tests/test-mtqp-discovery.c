/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-mtqp-discovery.c: unit tests of the MTQP server order (lib/msgtrk-mtqp-discovery.c,
 * RFC 3887 section 2, RFC 2782).
 *
 * SRV: lower priority first whatever the weights; within one priority every record comes
 * once, and over many seeded draws a heavier record comes first more often. MX: by
 * preference, the null MX skipped. Both stop at MSGTRK_MTQP_MAX_TARGETS (at and one past).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-mtqp-discovery-private.h"
#include "test-util.h"

static GList *
srv (GList      *list,
     guint16     priority,
     guint16     weight,
     guint16     port,
     const char *target)
{
  return g_list_append (list, g_variant_ref_sink (g_variant_new ("(qqqs)", priority, weight,
                                                                 port, target)));
}

static GList *
mx (GList      *list,
    guint16     preference,
    const char *exchange)
{
  return g_list_append (list, g_variant_ref_sink (g_variant_new ("(qs)", preference, exchange)));
}

static GArray *
targets_new (void)
{
  GArray *t = g_array_new (FALSE, FALSE, sizeof (MsgtrkMtqpTarget));

  g_array_set_clear_func (t, msgtrk_mtqp_target_clear);
  return t;
}

static const char *
host_at (GArray *t,
         guint   i)
{
  return g_array_index (t, MsgtrkMtqpTarget, i).host;
}

static void
test_srv_priority (void)
{
  GList *records = NULL;
  g_autoptr (GRand) rng = g_rand_new_with_seed (42);
  guint round;

  records = srv (records, 20, 100, 1038, "C.example");
  records = srv (records, 10, 0, 1039, "a.example");
  records = srv (records, 20, 1, 1038, "d.example");
  records = srv (records, 10, 65535, 1040, "b.example");
  for (round = 0; round < 50; round++)
    {
      g_autoptr (GArray) t = targets_new ();

      msgtrk_mtqp_targets_add_srv (t, records, rng);
      g_assert_cmpuint (t->len, ==, 4);
      /* priority 10 first, 20 after; names lower-cased; ports kept */
      g_assert_true (host_at (t, 0)[0] == 'a' || host_at (t, 0)[0] == 'b');
      g_assert_true (host_at (t, 1)[0] == 'a' || host_at (t, 1)[0] == 'b');
      g_assert_true (g_str_equal (host_at (t, 2), "c.example")
                     || g_str_equal (host_at (t, 2), "d.example"));
      g_assert_true (g_str_equal (host_at (t, 3), "c.example")
                     || g_str_equal (host_at (t, 3), "d.example"));
      g_assert_cmpstr (host_at (t, 0), !=, host_at (t, 1));
      g_assert_cmpstr (host_at (t, 2), !=, host_at (t, 3));
    }
  g_list_free_full (records, (GDestroyNotify) g_variant_unref);
}

static void
test_srv_weight (void)
{
  GList *records = NULL;
  g_autoptr (GRand) rng = g_rand_new_with_seed (7);
  guint heavy_first = 0, round;

  records = srv (records, 0, 1, 1038, "light.example");
  records = srv (records, 0, 99, 1038, "heavy.example");
  for (round = 0; round < 1000; round++)
    {
      g_autoptr (GArray) t = targets_new ();

      msgtrk_mtqp_targets_add_srv (t, records, rng);
      g_assert_cmpuint (t->len, ==, 2);
      if (g_str_equal (host_at (t, 0), "heavy.example"))
        heavy_first++;
    }
  g_assert_cmpuint (heavy_first, >, 900);
  g_assert_cmpuint (heavy_first, <, 1000);
  g_list_free_full (records, (GDestroyNotify) g_variant_unref);
}

static void
test_srv_no_service (void)
{
  GList *dot = srv (NULL, 0, 0, 0, ".");
  GList *empty = srv (NULL, 0, 0, 0, "");
  GList *two = srv (srv (NULL, 0, 0, 0, "."), 1, 0, 1038, "x.example");

  g_assert_true (msgtrk_mtqp_srv_says_no_service (dot));
  g_assert_true (msgtrk_mtqp_srv_says_no_service (empty));
  g_assert_false (msgtrk_mtqp_srv_says_no_service (two));
  g_assert_false (msgtrk_mtqp_srv_says_no_service (NULL));
  g_list_free_full (dot, (GDestroyNotify) g_variant_unref);
  g_list_free_full (empty, (GDestroyNotify) g_variant_unref);
  g_list_free_full (two, (GDestroyNotify) g_variant_unref);
}

static void
test_mx (void)
{
  GList *records = NULL;
  g_autoptr (GArray) t = targets_new ();

  records = mx (records, 20, "second.example");
  records = mx (records, 5, ".");
  records = mx (records, 10, "First.example");
  records = mx (records, 20, "third.example");
  msgtrk_mtqp_targets_add_mx (t, records);
  g_assert_cmpuint (t->len, ==, 3);
  g_assert_cmpstr (host_at (t, 0), ==, "first.example");
  g_assert_cmpstr (host_at (t, 1), ==, "second.example");
  g_assert_cmpstr (host_at (t, 2), ==, "third.example");
  g_assert_cmpuint (g_array_index (t, MsgtrkMtqpTarget, 0).port, ==, MSGTRK_MTQP_PORT);
  /* The caller's list is left as it was. */
  {
    guint16 first;

    g_variant_get_child (records->data, 0, "q", &first);
    g_assert_cmpuint (first, ==, 20);
  }
  g_list_free_full (records, (GDestroyNotify) g_variant_unref);
}

/* MSGTRK_MTQP_MAX_TARGETS records give that many targets; one more is dropped. */
static void
test_limit (void)
{
  guint extra;

  for (extra = 0; extra <= 1; extra++)
    {
      GList *s = NULL, *m = NULL;
      g_autoptr (GArray) ts = targets_new ();
      g_autoptr (GArray) tm = targets_new ();
      g_autoptr (GRand) rng = g_rand_new_with_seed (1);
      guint i;

      for (i = 0; i < MSGTRK_MTQP_MAX_TARGETS + extra; i++)
        {
          g_autofree char *name = g_strdup_printf ("h%u.example", i);

          s = srv (s, (guint16) i, 1, 1038, name);
          m = mx (m, (guint16) i, name);
        }
      msgtrk_mtqp_targets_add_srv (ts, s, rng);
      msgtrk_mtqp_targets_add_mx (tm, m);
      g_assert_cmpuint (ts->len, ==, MSGTRK_MTQP_MAX_TARGETS);
      g_assert_cmpuint (tm->len, ==, MSGTRK_MTQP_MAX_TARGETS);
      g_assert_cmpstr (host_at (ts, 0), ==, "h0.example");
      {
        g_autofree char *last = g_strdup_printf ("h%u.example", MSGTRK_MTQP_MAX_TARGETS - 1);

        g_assert_cmpstr (host_at (tm, MSGTRK_MTQP_MAX_TARGETS - 1), ==, last);
      }
      g_list_free_full (s, (GDestroyNotify) g_variant_unref);
      g_list_free_full (m, (GDestroyNotify) g_variant_unref);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mtqp-discovery/srv/priority", test_srv_priority);
  g_test_add_func ("/mtqp-discovery/srv/weight", test_srv_weight);
  g_test_add_func ("/mtqp-discovery/srv/no-service", test_srv_no_service);
  g_test_add_func ("/mtqp-discovery/mx", test_mx);
  g_test_add_func ("/mtqp-discovery/limit", test_limit);
  return g_test_run ();
}
