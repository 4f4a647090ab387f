/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-discovery.c: SRV and MX ordering of MTQP servers (RFC 3887 section 2,
 * RFC 2782), pure. Contract: msgtrk-mtqp-discovery-private.h.
 *
 * How: SRV records are grouped by priority (lowest first); within a group each next
 * target is drawn at random in proportion to its weight (RFC 2782, "Usage rules"), a
 * weight of 0 keeping a small chance. MX records are sorted by preference (stable), the
 * null MX ("." or empty, RFC 7505) skipped.
 * Limits: MSGTRK_MTQP_MAX_TARGETS targets at most.
 * Never: does I/O; takes ownership of the records.
 */
#include "config.h"

#include "msgtrk-private.h"
#include "msgtrk-mtqp-discovery-private.h"

void
msgtrk_mtqp_target_clear (gpointer data)
{
  MsgtrkMtqpTarget *t = data;

  g_free (t->host);
}

/* Append @host:@port (the name lower-cased) unless the list is full. */
void
msgtrk_mtqp_targets_add (GArray     *targets,
                         const char *host,
                         guint16     port)
{
  MsgtrkMtqpTarget t;

  if (targets->len >= MSGTRK_MTQP_MAX_TARGETS)
    return;
  t.host = msgtrk_host_normalize (host);
  t.port = port;
  g_array_append_val (targets, t);
}

/* One SRV record whose target is "." (or empty): "no service here" (RFC 2782). */
gboolean
msgtrk_mtqp_srv_says_no_service (GList *records)
{
  const char *first_target = NULL;

  if (records == NULL || records->next != NULL)
    return FALSE;
  g_variant_get_child (records->data, 3, "&s", &first_target);
  return g_str_equal (first_target, ".") || *first_target == '\0';
}

static int
compare_srv_priority (gconstpointer a,
                      gconstpointer b)
{
  guint16 pa, pb;

  g_variant_get ((GVariant *) a, "(qqqs)", &pa, NULL, NULL, NULL);
  g_variant_get ((GVariant *) b, "(qqqs)", &pb, NULL, NULL, NULL);
  return pa < pb ? -1 : pa > pb;
}

/*
 * msgtrk_mtqp_targets_add_srv:
 * @records: (element-type GVariant): "(qqqs)" priority, weight, port, target
 * @rng: (nullable): the random source (tests give a seeded one); NULL: g_random_*
 *
 * Appends the records' targets in RFC 2782 order: by priority, then at random in
 * proportion to weight within one priority.
 */
void
msgtrk_mtqp_targets_add_srv (GArray *targets,
                             GList  *records,
                             GRand  *rng)
{
  GList *sorted = g_list_sort (g_list_copy (records), compare_srv_priority);
  g_autoptr (GPtrArray) group = g_ptr_array_new ();

  while (sorted != NULL)
    {
      guint16 priority;

      g_variant_get (sorted->data, "(qqqs)", &priority, NULL, NULL, NULL);
      g_ptr_array_set_size (group, 0);
      while (sorted != NULL)
        {
          guint16 p;

          g_variant_get (sorted->data, "(qqqs)", &p, NULL, NULL, NULL);
          if (p != priority)
            break;
          g_ptr_array_add (group, sorted->data);
          sorted = g_list_delete_link (sorted, sorted);
        }
      while (group->len > 0)
        {
          guint32 total = 0, pick, running = 0;
          guint i, chosen = 0;
          guint16 port;
          const char *host;

          for (i = 0; i < group->len; i++)
            {
              guint16 w;

              g_variant_get (g_ptr_array_index (group, i), "(qqqs)", NULL, &w, NULL, NULL);
              total += w;
            }
          pick = rng != NULL ? (guint32) g_rand_int_range (rng, 0, (gint32) total + 1)
                              : (guint32) g_random_int_range (0, (gint32) total + 1);
          for (i = 0; i < group->len; i++)
            {
              guint16 w;

              g_variant_get (g_ptr_array_index (group, i), "(qqqs)", NULL, &w, NULL, NULL);
              running += w;
              if (running >= pick)
                {
                  chosen = i;
                  break;
                }
            }
          g_variant_get_child (g_ptr_array_index (group, chosen), 2, "q", &port);
          g_variant_get_child (g_ptr_array_index (group, chosen), 3, "&s", &host);
          msgtrk_mtqp_targets_add (targets, host, port);
          g_ptr_array_remove_index (group, chosen);
        }
    }
}

static int
compare_mx_preference (gconstpointer a,
                       gconstpointer b)
{
  guint16 pa, pb;

  g_variant_get ((GVariant *) a, "(q&s)", &pa, NULL);
  g_variant_get ((GVariant *) b, "(q&s)", &pb, NULL);
  return pa < pb ? -1 : pa > pb;
}

/*
 * msgtrk_mtqp_targets_add_mx:
 * @records: (element-type GVariant): "(q&s)" preference, exchange
 *
 * Appends the exchanges on MSGTRK_MTQP_PORT, lowest preference first, skipping ".".
 */
void
msgtrk_mtqp_targets_add_mx (GArray *targets,
                            GList  *records)
{
  GList *sorted = g_list_sort (g_list_copy (records), compare_mx_preference);
  GList *l;

  for (l = sorted; l != NULL; l = l->next)
    {
      const char *exchange;

      g_variant_get (l->data, "(q&s)", NULL, &exchange);
      if (*exchange != '\0' && !g_str_equal (exchange, "."))
        msgtrk_mtqp_targets_add (targets, exchange, MSGTRK_MTQP_PORT);
    }
  g_list_free (sorted);
}
