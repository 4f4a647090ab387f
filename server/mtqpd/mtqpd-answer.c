/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqpd-answer.c: TRACK answers built once per record version and reused (contract and
 * limits: mtqpd-answer.h).
 *
 * What: a bounded, thread-safe cache from the records' fields texts to the answer's wire
 * bytes, so that a TRACK of a record already answered costs a fetch, the constant-time
 * compare and one copy: no parse, no GMime.
 * How: one GHashTable keyed by the fields texts joined with NUL separators (a NUL cannot
 * occur in a fields text), a least-recently-used list for eviction (a hit moves its entry
 * to the end: a hot set larger than the cache keeps hitting), one mutex; an answer is built
 * outside the mutex (two sessions may build the same one at once; the first kept wins).
 * Limits: MTQPD_ANSWER_CACHE_ENTRIES, MTQPD_ANSWER_CACHE_BYTES.
 * Never: hold the mutex while building; cache a failure.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-dot-private.h"
#include "msgtrk-mtqp-syntax-private.h"
#include "mtqpd-answer.h"
#include "mtqpd-chain.h"

typedef struct
{
  GBytes *wire;
  gboolean needs_chain;
  GList link;          /* in MtqpdAnswerCache.order; data: the key (unowned) */
} Entry;

struct _MtqpdAnswerCache
{
  GMutex lock;
  GHashTable *entries; /* GBytes key -> Entry (owned) */
  GQueue order;        /* the entries' links, least recently used first */
  gsize bytes;         /* keys and answers kept */
  guint64 built;
  guint64 hits;
};

static void
entry_free (gpointer data)
{
  Entry *e = data;

  g_bytes_unref (e->wire);
  g_free (e);
}

MtqpdAnswerCache *
mtqpd_answer_cache_new (void)
{
  MtqpdAnswerCache *self = g_new0 (MtqpdAnswerCache, 1);

  g_mutex_init (&self->lock);
  self->entries = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
                                         (GDestroyNotify) g_bytes_unref, entry_free);
  g_queue_init (&self->order);
  return self;
}

void
mtqpd_answer_cache_free (MtqpdAnswerCache *self)
{
  if (self == NULL)
    return;
  /* The links live in the entries, freed with the table. */
  g_queue_init (&self->order);
  g_hash_table_destroy (self->entries);
  g_mutex_clear (&self->lock);
  g_free (self);
}

void
mtqpd_answer_clear (MtqpdAnswer *answer)
{
  g_clear_pointer (&answer->wire, g_bytes_unref);
  answer->needs_chain = FALSE;
}

void
mtqpd_answer_cache_stats (MtqpdAnswerCache *self,
                          guint64          *built,
                          guint64          *hits)
{
  g_mutex_lock (&self->lock);
  if (built != NULL)
    *built = self->built;
  if (hits != NULL)
    *hits = self->hits;
  g_mutex_unlock (&self->lock);
}

GBytes *
mtqpd_answer_build (GPtrArray *reports,
                    guint      max_line,
                    GError   **error)
{
  g_autoptr (GBytes) entity = msgtrk_report_build_tracking_entity (reports, error);
  g_autoptr (GString) text = NULL;
  const char *data;
  gsize len = 0;
  gsize bad = 0;

  if (entity == NULL)
    return NULL;
  data = g_bytes_get_data (entity, &len);
  text = g_string_sized_new (len + len / 16 + 64);
  if (!msgtrk_mtqp_status_write (text, MSGTRK_MTQP_STATUS_OK_MULTI, NULL,
                                 "Tracking information follows", error))
    return NULL;
  if (!msgtrk_dot_stuff (text, data, len, max_line, &bad))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The tracking entity has a line of %" G_GSIZE_FORMAT
                   " octets, more than %u", bad, max_line);
      return NULL;
    }
  msgtrk_dot_end (text);
  return g_string_free_to_bytes (g_steal_pointer (&text));
}

static GBytes *
make_key (GPtrArray *fields)
{
  g_autoptr (GString) key = g_string_new (NULL);

  for (guint i = 0; i < fields->len; i++)
    {
      const char *f = fields->pdata[i];

      g_string_append_len (key, f, (gssize) strlen (f) + 1); /* with its NUL */
    }
  return g_string_free_to_bytes (g_steal_pointer (&key));
}

/* Keep @key -> @e unless an equal key is there already; evict the oldest over bounds. */
static void
cache_insert (MtqpdAnswerCache *self,
              GBytes           *key,
              Entry            *e)
{
  gsize size = g_bytes_get_size (key) + g_bytes_get_size (e->wire);

  if (size > MTQPD_ANSWER_CACHE_BYTES / 4 || g_hash_table_contains (self->entries, key))
    {
      g_bytes_unref (key);
      entry_free (e);
      return;
    }
  while (!g_queue_is_empty (&self->order)
         && (g_queue_get_length (&self->order) >= MTQPD_ANSWER_CACHE_ENTRIES
             || self->bytes + size > MTQPD_ANSWER_CACHE_BYTES))
    {
      GList *oldest = g_queue_peek_head_link (&self->order);
      GBytes *old = oldest->data;
      Entry *oe = g_hash_table_lookup (self->entries, old);

      g_queue_unlink (&self->order, oldest);
      self->bytes -= g_bytes_get_size (old) + g_bytes_get_size (oe->wire);
      g_hash_table_remove (self->entries, old);
    }
  g_hash_table_insert (self->entries, key, e);
  e->link.data = key;
  g_queue_push_tail_link (&self->order, &e->link);
  self->bytes += size;
}

gboolean
mtqpd_answer_get (MtqpdAnswerCache *self,
                  GPtrArray        *fields,
                  guint             max_line,
                  MtqpdAnswer      *answer,
                  GError          **error)
{
  g_autoptr (GBytes) key = NULL;
  g_autoptr (GPtrArray) reports = NULL;
  g_autoptr (GError) build_error = NULL;
  Entry *e;

  g_return_val_if_fail (self != NULL && fields != NULL && fields->len > 0, FALSE);

  key = make_key (fields);
  g_mutex_lock (&self->lock);
  e = g_hash_table_lookup (self->entries, key);
  if (e != NULL)
    {
      answer->wire = g_bytes_ref (e->wire);
      answer->needs_chain = e->needs_chain;
      self->hits++;
      /* Most recently used: to the end. */
      g_queue_unlink (&self->order, &e->link);
      g_queue_push_tail_link (&self->order, &e->link);
      g_mutex_unlock (&self->lock);
      return TRUE;
    }
  g_mutex_unlock (&self->lock);

  /* One record per node (PostgreSQL): one that cannot be read, or carried in the answer
   * (written by another process, or before the receiver's check; found only when the
   * build fails, below), is left out with a warning, so that it never hides the others;
   * the answer fails only when none is left. */
  reports = g_ptr_array_new_with_free_func (g_object_unref);
  answer->needs_chain = FALSE;
  for (guint i = 0; i < fields->len; i++)
    {
      g_autoptr (GError) part_error = NULL;
      MsgtrkReport *report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS,
                                                         fields->pdata[i], -1, &part_error);

      if (report == NULL)
        {
          if (fields->len > 1)
            g_warning ("A stored record (%u of %u for one ENVID) is left out of the answer: "
                       "%s", i + 1, fields->len, part_error->message);
          else
            g_propagate_error (error, g_steal_pointer (&part_error));
          continue;
        }
      answer->needs_chain |= mtqpd_chain_is_needed (report);
      g_ptr_array_add (reports, report);
    }
  if (reports->len == 0)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                     "No stored record of this ENVID can be answered");
      return FALSE;
    }
  answer->wire = mtqpd_answer_build (reports, max_line, &build_error);
  /* Not together (a field no line can carry, too many parts, too large): the rows that
   * can be answered alone, if not all of them. Only on this failure path is a row built
   * on its own. */
  if (answer->wire == NULL && reports->len > 1)
    {
      g_autoptr (GPtrArray) alone = g_ptr_array_new_with_free_func (g_object_unref);

      for (guint i = 0; i < reports->len; i++)
        {
          g_autoptr (GPtrArray) one = g_ptr_array_new ();
          g_autoptr (GBytes) wire = NULL;

          g_ptr_array_add (one, reports->pdata[i]);
          wire = mtqpd_answer_build (one, max_line, NULL);
          if (wire != NULL)
            g_ptr_array_add (alone, g_object_ref (reports->pdata[i]));
        }
      if (alone->len > 0 && alone->len < reports->len)
        {
          answer->needs_chain = FALSE;
          for (guint i = 0; i < alone->len; i++)
            answer->needs_chain |= mtqpd_chain_is_needed (alone->pdata[i]);
          g_warning ("%u of %u stored records of one ENVID are left out of the answer: %s",
                     reports->len - alone->len, reports->len, build_error->message);
          g_clear_error (&build_error);
          answer->wire = mtqpd_answer_build (alone, max_line, &build_error);
        }
    }
  if (answer->wire == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&build_error));
      return FALSE;
    }

  e = g_new0 (Entry, 1);
  e->wire = g_bytes_ref (answer->wire);
  e->needs_chain = answer->needs_chain;
  g_mutex_lock (&self->lock);
  self->built++;
  cache_insert (self, g_steal_pointer (&key), e);
  g_mutex_unlock (&self->lock);
  return TRUE;
}
