/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-tracking.c: msgtrkd's tracking model (see msgtrkd-tracking.h, docs/helper.md).
 *
 * The store is read and written synchronously (local, small statements). Nothing here
 * keeps a copy of a message across an async step and writes it back: every step reads the
 * record again, so concurrent calls never undo each other's updates.
 *
 * State and summary are recomputed from every stored report after anything that may
 * change them; the owner hears of it (StatusChanged, a notification) only when one of them
 * changed, and only once the change is committed (the scheduler writes a poll batch's
 * results in one store batch: tell_changed waits for its commit, and says nothing if it is
 * rolled back). The store keeps one report per reporter and set of recipients, the newest (a
 * delayed hop's answer at every poll replaces the one before; one matched only by the
 * Message-ID, which any recipient can forge, never replaces one matched by the ENVID, and
 * no report's date counts for more than MSGTRKD_ROUTE_MAX_CLOCK_SKEW past its arrival),
 * and each stored row is parsed once (ParsedCache), so a poll costs the reports of one
 * message, not all the polls before. A route snapshot is stored when the delivery map
 * changed.
 *
 * Limits: see msgtrkd-tracking.h; the two caches are LRU lists of a named size.
 * Never: see A, log remote text unescaped at a level above debug.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-content-track-private.h"
#include "msgtrk-smtp-syntax-private.h"
#include "msgtrkd-error.h"
#include "msgtrkd-harrison.h"
#include "msgtrkd-route.h"
#include "msgtrkd-tracking.h"

struct _MsgtrkdTracking
{
  GObject parent_instance;

  MsgtrkdStore *store;            /* (owned) */
  MsgtrkdScheduler *scheduler;    /* (owned) (nullable) none in unit tests */
  MsgtrkdStatusChangedFunc changed;
  gpointer changed_data;
  guint first_poll;               /* seconds from Committed (or a new recipient) to a poll */
  GHashTable *routes;             /* (owned) envid → RouteCache: latest MTQP hops */
  GQueue routes_lru;              /* RouteCache, most recently used first */
  GHashTable *parsed;             /* (owned) envid → ParsedCache: stored reports, parsed */
  GQueue parsed_lru;              /* ParsedCache, most recently used first */
  gboolean shut_down;
};

G_DEFINE_FINAL_TYPE (MsgtrkdTracking, msgtrkd_tracking, G_TYPE_OBJECT)

static gint64
now_seconds (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static MsgtrkMessageState
message_state (const MsgtrkdMessage *m)
{
  MsgtrkMessageState state;

  msgtrk_message_state_from_string (m->state, &state);
  return state;
}

static void
set_message_state (MsgtrkdMessage    *m,
                   MsgtrkMessageState state)
{
  g_free (m->state);
  m->state = g_strdup (msgtrk_message_state_to_string (state));
}

static gboolean
is_polled (const MsgtrkdMessage *m)
{
  return msgtrk_tracking_mode_is_polled (msgtrkd_message_get_tracking_mode (m));
}

static void
reschedule (MsgtrkdTracking *self)
{
  if (self->scheduler != NULL)
    msgtrkd_scheduler_reschedule (self->scheduler);
}

/* ---- the MTQP part of each route, from the latest poll (or the latest snapshot) ---- */

typedef struct
{
  char *envid;            /* (owned) */
  JsonObject *mtqp_hops;  /* (owned) recipient → array of hops */
  GStrv warnings;         /* (owned) */
  GList link;             /* in MsgtrkdTracking.routes_lru */
} RouteCache;

static void
route_cache_free (RouteCache *cache)
{
  g_free (cache->envid);
  g_clear_pointer (&cache->mtqp_hops, json_object_unref);
  g_strfreev (cache->warnings);
  g_free (cache);
}

static void
route_cache_remove (MsgtrkdTracking *self,
                    const char      *envid)
{
  RouteCache *cache = g_hash_table_lookup (self->routes, envid);

  if (cache == NULL)
    return;
  g_queue_unlink (&self->routes_lru, &cache->link);
  g_hash_table_remove (self->routes, envid);
}

/* Makes @cache (owned) the entry of its message, the most recently used; past
 * MSGTRKD_ROUTE_CACHE_MESSAGES the least recently used entry goes. */
static RouteCache *
route_cache_put (MsgtrkdTracking *self,
                 RouteCache      *cache)
{
  route_cache_remove (self, cache->envid);
  cache->link.data = cache;
  g_hash_table_insert (self->routes, cache->envid, cache);
  g_queue_push_head_link (&self->routes_lru, &cache->link);
  while (self->routes_lru.length > MSGTRKD_ROUTE_CACHE_MESSAGES)
    route_cache_remove (self, ((RouteCache *) self->routes_lru.tail->data)->envid);
  return cache;
}

/* The cached MTQP hops and warnings of @envid; read from its newest snapshot (parsed
 * once) when not cached. */
static RouteCache *
get_route_cache (MsgtrkdTracking *self,
                 const char      *envid)
{
  RouteCache *cache = g_hash_table_lookup (self->routes, envid);
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  JsonObject *root = NULL;
  JsonArray *w;

  if (cache != NULL)
    {
      g_queue_unlink (&self->routes_lru, &cache->link);
      g_queue_push_head_link (&self->routes_lru, &cache->link);
      return cache;
    }
  json = msgtrkd_store_get_latest_snapshot (self->store, envid, &error);
  if (error != NULL)
    g_debug ("no snapshot of %s: %s", envid, error->message);
  if (json != NULL && json_parser_load_from_data (parser, json, -1, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    root = json_node_get_object (json_parser_get_root (parser));
  cache = g_new0 (RouteCache, 1);
  cache->envid = g_strdup (envid);
  cache->mtqp_hops = msgtrkd_route_hops_from_object (root);
  w = root != NULL && json_object_has_member (root, "warnings")
        ? json_object_get_array_member (root, "warnings") : NULL;
  for (guint i = 0; w != NULL && i < json_array_get_length (w); i++)
    if (json_array_get_string_element (w, i) != NULL)
      g_strv_builder_add (b, json_array_get_string_element (w, i));
  cache->warnings = g_strv_builder_end (b);
  return route_cache_put (self, cache);
}

/**
 * msgtrkd_tracking_get_route_cache_size:
 * @self: the model
 *
 * Returns: how many messages' MTQP hops are in memory (at most
 *   %MSGTRKD_ROUTE_CACHE_MESSAGES)
 */
guint
msgtrkd_tracking_get_route_cache_size (MsgtrkdTracking *self)
{
  return g_hash_table_size (self->routes);
}

/* ---- stored reports, parsed once ---- */

/* The parsed stored reports of one message, by row. Rows never change (a newer word is a
 * new row, msgtrkd_store_put_report()), so a row is parsed once per daemon run, not at
 * every poll: recompute() reads the rows' heads and parses only the new ones. A row is
 * named by its id and its entity's SHA-256 (row_key()): SQLite gives a deleted row's id
 * to the next row inserted (the newer answer of a delayed hop replacing the table's last
 * row), and a cache by id alone kept serving the old answer. */
typedef struct
{
  char *envid;           /* (owned) */
  GHashTable *by_id;     /* (owned) row_key() → MsgtrkdParsedReport (owned) */
  GList link;            /* in MsgtrkdTracking.parsed_lru */
} ParsedCache;

static void
parsed_cache_free (ParsedCache *cache)
{
  g_free (cache->envid);
  g_hash_table_unref (cache->by_id);
  g_free (cache);
}

/* What names a stored row's content: its id and its entity's SHA-256. */
static char *
row_key (const MsgtrkdStoredReport *head)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT " %s", head->id,
                          head->sha256 != NULL ? head->sha256 : "");
}

/* A copy sharing the parsed reports (ref-counted) with @p, with the row fields of @head
 * (the row now under that key). */
static MsgtrkdParsedReport *
parsed_report_share (const MsgtrkdParsedReport *p,
                     const MsgtrkdStoredReport *head)
{
  MsgtrkdParsedReport *copy = g_new0 (MsgtrkdParsedReport, 1);

  copy->source = g_strdup (head->source);
  copy->origin = g_strdup (head->origin);
  copy->received_at = head->received_at;
  copy->matched = head->matched;
  copy->reports = g_ptr_array_ref (p->reports);
  copy->trace = p->trace != NULL ? g_bytes_ref (p->trace) : NULL;
  return copy;
}

/* Every stored report of @envid, parsed (oldest first); one that no longer parses is
 * skipped (msgtrkd_route_parse_stored()). Rows already parsed are taken from the cache. */
static GPtrArray *
parsed_reports (MsgtrkdTracking *self,
                const char     *envid,
                GError        **error)
{
  g_autoptr (GPtrArray) heads = msgtrkd_store_list_report_heads (self->store, envid, error);
  GPtrArray *out;
  GHashTable *by_id;
  ParsedCache *cache;

  if (heads == NULL)
    return NULL;
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);
  by_id = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                 (GDestroyNotify) msgtrkd_parsed_report_free);
  cache = g_hash_table_lookup (self->parsed, envid);
  for (guint i = 0; i < heads->len; i++)
    {
      MsgtrkdStoredReport *head = g_ptr_array_index (heads, i);
      MsgtrkdParsedReport *p = NULL;
      char *key = row_key (head);

      if (cache != NULL)
        {
          gpointer old_key = NULL;

          /* Stealing frees neither key nor value: the key is freed here. */
          if (g_hash_table_steal_extended (cache->by_id, key, &old_key, (gpointer *) &p))
            g_free (old_key);
        }
      if (p == NULL)
        {
          g_autoptr (GError) local_error = NULL;
          g_autoptr (GPtrArray) one = g_ptr_array_new_with_free_func (
            (GDestroyNotify) msgtrkd_stored_report_free);
          g_autoptr (GPtrArray) parsed = NULL;

          head->raw = msgtrkd_store_get_report_raw (self->store, head->id, &local_error);
          if (head->raw == NULL)
            {
              g_debug ("stored report %" G_GINT64_FORMAT " of %s: %s", head->id, envid,
                       local_error->message);
              g_free (key);
              continue;
            }
          g_ptr_array_add (one, g_steal_pointer (&heads->pdata[i]));
          parsed = msgtrkd_route_parse_stored (one);
          heads->pdata[i] = g_ptr_array_steal_index (one, 0);
          if (parsed->len == 0)
            {
              g_free (key);
              continue; /* no longer parses: skipped (debug line written) */
            }
          p = g_ptr_array_steal_index (parsed, 0);
        }
      g_ptr_array_add (out, parsed_report_share (p, g_ptr_array_index (heads, i)));
      g_hash_table_insert (by_id, key, p);
    }

  /* The new table replaces the old one; rows gone from the store are dropped with it. */
  if (cache == NULL)
    {
      cache = g_new0 (ParsedCache, 1);
      cache->envid = g_strdup (envid);
      cache->link.data = cache;
      g_hash_table_insert (self->parsed, cache->envid, cache);
    }
  else
    {
      g_hash_table_unref (cache->by_id);
      g_queue_unlink (&self->parsed_lru, &cache->link);
    }
  cache->by_id = by_id;
  g_queue_push_head_link (&self->parsed_lru, &cache->link);
  while (self->parsed_lru.length > MSGTRKD_PARSED_CACHE_MESSAGES)
    {
      GList *last = g_queue_pop_tail_link (&self->parsed_lru);

      g_hash_table_remove (self->parsed, ((ParsedCache *) last->data)->envid);
    }
  return out;
}

static gint
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* What a report is a word about: its kind, its reporter and its recipients (with the
 * disposition for an MDN), as docs/status.md "Reporter" defines one word; as SHA-256 hex.
 * The store keeps the newest report per key (msgtrkd_store_put_report()). */
static char *
report_key (GPtrArray *reports)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint i = 0; reports != NULL && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      GPtrArray *entries = msgtrk_report_get_recipients (report);
      const char *reporter = msgtrk_report_get_reporting_mta (report);
      g_autofree char *lower = NULL;
      g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);

      if (reporter == NULL)
        reporter = msgtrk_report_get_reporting_ua (report);
      lower = reporter != NULL ? g_utf8_casefold (reporter, -1) : g_strdup ("");
      g_string_append_printf (text, "%d\n%s\n", (int) msgtrk_report_get_kind (report), lower);
      for (guint j = 0; entries != NULL && j < entries->len; j++)
        {
          MsgtrkRecipientReport *entry = g_ptr_array_index (entries, j);
          g_autofree char *orcpt =
            msgtrk_address_normalize (msgtrk_recipient_report_get_original_recipient (entry));
          g_autofree char *final =
            msgtrk_address_normalize (msgtrk_recipient_report_get_final_recipient (entry));
          const char *disposition = msgtrk_recipient_report_get_disposition_text (entry);
          g_autofree char *word = g_strdup_printf ("%s\t%s\t%s", orcpt != NULL ? orcpt : "",
                                                   final != NULL ? final : "",
                                                   disposition != NULL ? disposition : "");

          g_ptr_array_add (words, g_utf8_casefold (word, -1));
        }
      g_ptr_array_sort (words, compare_strings);
      for (guint j = 0; j < words->len; j++)
        g_string_append_printf (text, "%s\n", (const char *) g_ptr_array_index (words, j));
      g_string_append_c (text, '\n');
    }
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, text->str, (gssize) text->len);
}

/* The newest date @reports speak for (Last-Attempt-Date, Arrival-Date), or @fallback. */
static gint64
report_date (GPtrArray *reports,
             gint64     fallback)
{
  gint64 newest = 0;

  for (guint i = 0; reports != NULL && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      GPtrArray *entries = msgtrk_report_get_recipients (report);
      GDateTime *arrival = msgtrk_report_get_arrival_date (report);

      if (arrival != NULL)
        newest = MAX (newest, g_date_time_to_unix (arrival));
      for (guint j = 0; entries != NULL && j < entries->len; j++)
        {
          GDateTime *attempt =
            msgtrk_recipient_report_get_last_attempt_date (g_ptr_array_index (entries, j));

          if (attempt != NULL)
            newest = MAX (newest, g_date_time_to_unix (attempt));
        }
    }
  return newest > 0 ? newest : fallback;
}

/* Stores @entity, the report(s) @reports tied to @envid as @matched says, as the newest
 * word of its key. The date it speaks for is its own, which whoever wrote it chose (a
 * forged report may claim the year 2199 and so be newer than every genuine word to come):
 * it is taken as at most MSGTRKD_ROUTE_MAX_CLOCK_SKEW after the report arrived. */
static gboolean
store_report (MsgtrkdTracking   *self,
              const char        *envid,
              const char        *source,
              const char        *origin,
              MsgtrkdReportMatch matched,
              gint64             received_at,
              GPtrArray         *reports,
              GBytes            *entity,
              gboolean          *is_new,
              GError           **error)
{
  g_autofree char *key = report_key (reports);
  gint64 reported_at = MIN (report_date (reports, received_at),
                            received_at + MSGTRKD_ROUTE_MAX_CLOCK_SKEW);

  return msgtrkd_store_put_report (self->store, envid, source, origin, matched, key,
                                   reported_at, received_at, entity, is_new, error);
}

/* Whether @m's recipients are learnt from its reports rather than given by Prepare: a
 * message tracked through an imported link, or one whose list is still empty. */
static gboolean
learns_recipients (const MsgtrkdMessage *m)
{
  return msgtrkd_message_get_tracking_mode (m) == MSGTRK_TRACKING_MODE_DELEGATED
         || m->recipients == NULL || m->recipients[0] == NULL;
}

/* Adds to @m's recipients, in the order first learnt, every recipient any of @parsed names
 * (docs/status.md, "Without a list"), when @m learns its recipients. Every report counts,
 * not only the first one: the DSNs of a delegated message come one recipient at a time.
 * Returns whether the list grew. */
static gboolean
learn_recipients (MsgtrkdMessage *m,
                  GPtrArray      *parsed)
{
  g_autoptr (MsgtrkdMessage) blank = NULL;
  g_autoptr (MsgtrkStatus) learning = NULL;
  g_auto (GStrv) learnt = NULL;
  g_autoptr (GStrvBuilder) merged = NULL;
  g_autoptr (GHashTable) seen = NULL;
  gboolean grew = FALSE;

  if (!learns_recipients (m) || parsed->len == 0)
    return FALSE;
  blank = msgtrkd_message_copy (m);
  g_clear_pointer (&blank->recipients, g_strfreev);
  learning = msgtrkd_route_compute_status (blank, parsed);
  learnt = msgtrk_status_list_recipients (learning);
  if (learnt == NULL || learnt[0] == NULL)
    return FALSE;

  merged = g_strv_builder_new ();
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; m->recipients != NULL && m->recipients[i] != NULL; i++)
    if (g_hash_table_add (seen, g_utf8_casefold (m->recipients[i], -1)))
      g_strv_builder_add (merged, m->recipients[i]);
  for (guint i = 0; learnt[i] != NULL; i++)
    {
      if (g_hash_table_size (seen) >= MSGTRKD_STORE_MAX_RECIPIENTS)
        break;
      if (g_hash_table_add (seen, g_utf8_casefold (learnt[i], -1)))
        {
          g_strv_builder_add (merged, learnt[i]);
          grew = TRUE;
        }
    }
  if (grew)
    {
      g_strfreev (m->recipients);
      m->recipients = g_strv_builder_end (merged);
    }
  return grew;
}

/* One event line for one recipient entry of @report: who said what, in words. */
static char *
entry_event_text (MsgtrkReport          *report,
                  MsgtrkRecipientReport *entry,
                  const char            *prefix)
{
  GString *text = g_string_new (NULL);
  const char *action = msgtrk_recipient_report_get_action_text (entry);
  const char *rcpt = msgtrk_recipient_report_get_final_recipient (entry);
  const char *status = msgtrk_recipient_report_get_status (entry);
  const char *remote = msgtrk_recipient_report_get_remote_mta (entry);
  const char *mta = msgtrk_report_get_reporting_mta (report);

  if (mta == NULL)
    mta = msgtrk_report_get_reporting_ua (report);
  g_string_append_printf (text, "%s%s: %s — ", prefix, mta != NULL ? mta : "?",
                          rcpt != NULL ? rcpt : "?");
  if (action == NULL && msgtrk_recipient_report_get_disposition_text (entry) != NULL)
    /* an MDN: its disposition as written */
    g_string_append (text, msgtrk_recipient_report_get_disposition_text (entry));
  else
    {
      /* what the hop did in the user's words ("Handed to relay.example.net"), as the CLI
       * and the viewer say it (helper/common/msgtrk-states.c) */
      g_autofree char *words = msgtrk_states_describe_action (action, remote);

      g_string_append (text, words);
    }
  if (status != NULL)
    g_string_append_printf (text, " (%s)", status);
  return g_string_free (text, FALSE);
}

/* A normalised address that is a mailbox of libmsgtrk's one grammar (what the envelope
 * builders will take: local part, '@', domain; UTF-8 allowed), or NULL. */
static char *
normalize_mailbox (const char *address)
{
  g_autofree char *norm = NULL;

  if (address == NULL || strlen (address) > MSGTRKD_MAX_FIELD_LENGTH)
    return NULL;
  norm = msgtrk_address_normalize (address);
  if (norm == NULL
      || !msgtrk_smtp_mailbox_check (norm, MSGTRK_SMTP_PATH_UTF8, MSGTRK_SMTP_ADDRESS_MAX_LENGTH,
                                     NULL, NULL))
    return NULL;
  return g_steal_pointer (&norm);
}

static gboolean
valid_host (const char *host)
{
  if (host == NULL || *host == '\0' || strlen (host) > 255)
    return FALSE;
  for (const char *p = host; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-._:[]", *p) == NULL)
      return FALSE;
  return TRUE;
}

static char *
strip_message_id (const char *message_id)
{
  g_autofree char *text = g_strstrip (g_strdup (message_id != NULL ? message_id : ""));
  gsize len = strlen (text);

  if (len >= 2 && text[0] == '<' && text[len - 1] == '>')
    {
      text[len - 1] = '\0';
      memmove (text, text + 1, len - 1);
    }
  if (*text == '\0')
    return NULL;
  return g_steal_pointer (&text);
}

/* Deletes @envid from the store with its Content-Track key (a setting named by the key's
 * hash, valued "ENVID KEY"): a TRACK: mail for it is then unknown, and the key leaves the
 * store with the message. */
static gboolean
forget_stored (MsgtrkdTracking *self,
               const char      *envid,
               GError         **error)
{
  g_autofree char *value_prefix = g_strconcat (envid, " ", NULL);

  return msgtrkd_store_forget (self->store, envid, error)
         && msgtrkd_store_delete_settings (self->store, MSGTRKD_HARRISON_INDEX_PREFIX,
                                           value_prefix, error);
}

/* A send that is retried is one message: before a new attempt of @message_id is
 * prepared, forget the newest earlier attempts that were aborted (never sent; their secret
 * is already deleted), so that List shows one entry, not a "Not sent" one beside it. A
 * Message-ID names one message whatever account sends it; a copy that was sent stays (and
 * ends the search). Errors are only logged: the new attempt goes on. */
static void
forget_aborted_attempts (MsgtrkdTracking *self,
                         const char     *message_id)
{
  g_autofree char *stripped = strip_message_id (message_id);

  for (guint i = 0; stripped != NULL && i < MSGTRKD_MAX_ABORTED_ATTEMPTS; i++)
    {
      g_autoptr (MsgtrkdMessage) old = msgtrkd_store_get_message (self->store, stripped, NULL);
      g_autoptr (GError) error = NULL;

      if (old == NULL || g_strcmp0 (old->message_id, stripped) != 0
          || msgtrkd_message_get_tracking_mode (old) != MSGTRK_TRACKING_MODE_ABORTED)
        return;
      route_cache_remove (self, old->envid);
      if (!forget_stored (self, old->envid, &error))
        {
          g_warning ("Cannot forget the aborted attempt %s: %s", old->envid, error->message);
          return;
        }
      g_debug ("Forgot the aborted attempt %s of <%s>", old->envid, stripped);
    }
}

/* The tracked message a report is about (docs/dsn-ingestion.md, "Matching"): its
 * Original-Envelope-Id as written, then xtext-decoded (RFC 3464 wants it encoded, Postfix
 * writes it decoded), looked up as an ENVID only; then the Message-ID of the reported
 * message (an MDN's Original-Message-ID, else that of the returned headers). */
static MsgtrkdMessage *
match_report (MsgtrkdTracking *self,
              MsgtrkReport   *report)
{
  const char *envid = msgtrk_report_get_envid (report);
  const char *message_id = msgtrk_report_get_original_message_id (report);
  g_autofree char *decoded = NULL;
  const char *envids[2] = { envid, NULL };

  if (envid != NULL)
    {
      decoded = msgtrk_xtext_decode (envid, NULL);
      if (decoded != NULL && g_strcmp0 (decoded, envid) != 0)
        envids[1] = decoded;
    }
  for (guint i = 0; i < G_N_ELEMENTS (envids); i++)
    {
      MsgtrkdMessage *m;

      if (envids[i] == NULL || *envids[i] == '\0')
        continue;
      /* The store also takes a Message-ID for an id: accept an ENVID match only. */
      m = msgtrkd_store_get_message (self->store, envids[i], NULL);
      if (m != NULL && g_strcmp0 (m->envid, envids[i]) == 0)
        return m;
      g_clear_pointer (&m, msgtrkd_message_free);
    }
  if (message_id != NULL && *message_id != '\0')
    return msgtrkd_store_get_message (self->store, message_id, NULL);
  return NULL;
}

/* What a report says, as text: its fields written out (msgtrk_report_to_fields(), so line
 * ends, folding and MIME wrapping do not count), without Original-Envelope-Id (an MTA or
 * a forwarder may drop it; matching has tied the report to its message already). Two
 * deliveries of one DSN or MDN give the same text. The reports are not changed (their
 * getters' strings stay valid). */
static char *
reports_fingerprint (GPtrArray *reports)
{
  static const char envid_field[] = "Original-Envelope-Id:";
  GString *out = g_string_new (NULL);

  for (guint i = 0; reports != NULL && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      g_autofree char *fields = msgtrk_report_to_fields (report);
      g_auto (GStrv) lines = g_strsplit (fields, "\r\n", -1);
      gboolean skipping = FALSE;

      g_string_append_printf (out, "%d\n", (int) msgtrk_report_get_kind (report));
      for (guint j = 0; lines[j] != NULL; j++)
        {
          /* A folded line goes with the field before it. */
          if (!(lines[j][0] == ' ' || lines[j][0] == '\t'))
            skipping = g_ascii_strncasecmp (lines[j], envid_field, sizeof envid_field - 1) == 0;
          if (!skipping)
            g_string_append_printf (out, "%s\n", lines[j]);
        }
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

/* Whether a stored report of @envid says exactly what @reports say. */
static gboolean
report_already_known (MsgtrkdTracking *self,
                      const char     *envid,
                      GPtrArray      *reports)
{
  g_autoptr (GPtrArray) parsed = parsed_reports (self, envid, NULL);
  g_autofree char *mine = NULL;

  if (parsed == NULL || parsed->len == 0)
    return FALSE;
  mine = reports_fingerprint (reports);
  for (guint i = 0; i < parsed->len; i++)
    {
      MsgtrkdParsedReport *p = g_ptr_array_index (parsed, i);
      g_autofree char *theirs = reports_fingerprint (p->reports);

      if (g_str_equal (mine, theirs))
        return TRUE;
    }
  return FALSE;
}

/* A report IngestReport was given, after the worker thread: the extracted entity (what
 * is stored) and its reports. */
typedef struct
{
  GBytes *entity;     /* (owned) */
  GPtrArray *reports; /* (owned) (element-type MsgtrkReport) at least one */
  MsgtrkdHarrisonMail *harrison; /* (owned) (nullable) a TRACK: mail instead of a report */
  char *refused;      /* (owned) (nullable) a TRACK: mail refused: why (for the log) */
} IngestParsed;

static void
ingest_parsed_free (IngestParsed *parsed)
{
  g_clear_pointer (&parsed->entity, g_bytes_unref);
  g_clear_pointer (&parsed->reports, g_ptr_array_unref);
  g_clear_pointer (&parsed->harrison, msgtrkd_harrison_mail_free);
  g_free (parsed->refused);
  g_free (parsed);
}

/* Worker thread: the report parts of the whole message (a bounce may return a 25 MB
 * message; only its report parts are kept, msgtrk_report_extract_bytes()), parsed. Pure
 * CPU work on data of its own: the store and the model are not touched here. */
static void
ingest_extract_thread (GTask        *task,
                       gpointer      source,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  GBytes *raw = task_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) entity = NULL;
  g_autoptr (GPtrArray) reports = NULL;
  IngestParsed *parsed;

  /* A TRACK: mail (Harrison's trace reciprocation) is read as a trace record or refused,
   * never as a report. */
  if (msgtrkd_harrison_is_track_mail (raw))
    {
      parsed = g_new0 (IngestParsed, 1);
      parsed->harrison = msgtrkd_harrison_parse (raw, &error);
      if (parsed->harrison == NULL)
        parsed->refused = g_strdup (error->message);
      g_task_return_pointer (task, parsed, (GDestroyNotify) ingest_parsed_free);
      return;
    }
  entity = msgtrk_report_extract_bytes (raw, cancellable, &error);
  if (entity != NULL)
    reports = msgtrk_report_parse_entity (entity, &error);
  if (reports == NULL || reports->len == 0)
    {
      if (error == NULL)
        g_set_error (&error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                     _("The message holds no report"));
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  parsed = g_new0 (IngestParsed, 1);
  parsed->entity = g_steal_pointer (&entity);
  parsed->reports = g_steal_pointer (&reports);
  g_task_return_pointer (task, parsed, (GDestroyNotify) ingest_parsed_free);
}

/* ---- route, events ---- */

/* The whole route JSON of a message, from the store and the MTQP cache. */
static char *
build_route_json (MsgtrkdTracking      *self,
                  const MsgtrkdMessage *m,
                  gboolean              with_poll_times,
                  GError              **error)
{
  g_autoptr (GPtrArray) parsed = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (MsgtrkStatus) status = NULL;
  RouteCache *cache;

  parsed = parsed_reports (self, m->envid, error);
  if (parsed == NULL)
    return NULL;
  events = msgtrkd_store_list_events (self->store, m->envid, error);
  if (events == NULL)
    return NULL;
  status = msgtrkd_route_compute_status (m, parsed);
  cache = get_route_cache (self, m->envid);
  return msgtrkd_route_build_json (m, status, cache->mtqp_hops, parsed, events,
                                   (const char * const *) cache->warnings, with_poll_times);
}

static void
add_event (MsgtrkdTracking *self,
           const char      *envid,
           const char      *source,
           const char      *text)
{
  g_autoptr (GError) error = NULL;

  if (!msgtrkd_store_add_event (self->store, envid, now_seconds (), source, text, &error))
    g_warning ("Cannot record an event of %s: %s", envid, error->message);
}

/**
 * msgtrkd_tracking_add_event_once:
 * @self: the model
 * @envid: the message
 * @source: where the event comes from ("mtqp", "warning", "error", …)
 * @text: the event
 *
 * Adds an event unless any stored event of the message (the newest
 * MSGTRKD_STORE_MAX_EVENTS_PER_MESSAGE) already says @text: a delayed hop answers anew at
 * every poll, and an unreachable server fails at every poll; the timeline shows each
 * distinct word once, not once per poll.
 */
void
msgtrkd_tracking_add_event_once (MsgtrkdTracking *self,
                                 const char      *envid,
                                 const char      *source,
                                 const char      *text)
{
  g_autoptr (GPtrArray) events = msgtrkd_store_list_events (self->store, envid, NULL);

  for (guint i = 0; events != NULL && i < events->len; i++)
    {
      MsgtrkdEvent *ev = g_ptr_array_index (events, i);

      if (g_strcmp0 (ev->text, text) == 0)
        return;
    }
  add_event (self, envid, source, text);
}

/* ---- recompute ---- */

/* Stores a snapshot of @m's route if it differs from the newest one. */
static void
store_snapshot (MsgtrkdTracking      *self,
                const MsgtrkdMessage *m)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = build_route_json (self, m, FALSE, &error);
  g_autofree char *latest = NULL;

  if (json == NULL)
    {
      g_warning ("Cannot build the route of %s: %s", m->envid, error->message);
      return;
    }
  latest = msgtrkd_store_get_latest_snapshot (self->store, m->envid, NULL);
  if (g_strcmp0 (json, latest) != 0
      && !msgtrkd_store_add_snapshot (self->store, m->envid, now_seconds (), json, &error))
    g_warning ("Cannot record the route of %s: %s", m->envid, error->message);
}

/* A change waiting for its store batch's commit. */
typedef struct
{
  MsgtrkdTracking *tracking;  /* (owned) */
  MsgtrkdMessage *message;    /* (owned) the record as written */
  MsgtrkMessageState old_state;
} PendingChange;

static void
pending_change_free (PendingChange *change)
{
  g_object_unref (change->tracking);
  msgtrkd_message_free (change->message);
  g_free (change);
}

static void
pending_change_tell (gpointer data)
{
  PendingChange *change = data;
  MsgtrkdTracking *self = change->tracking;

  self->changed (change->message, change->old_state, self->changed_data);
}

/* Tell the owner that @m (just written) changed from @old_state, once the write is
 * committed: at once outside a store batch, at the batch's commit inside one, never if
 * it is rolled back. */
static void
tell_changed (MsgtrkdTracking      *self,
              const MsgtrkdMessage *m,
              MsgtrkMessageState    old_state)
{
  PendingChange *change;

  if (self->changed == NULL)
    return;
  change = g_new0 (PendingChange, 1);
  change->tracking = g_object_ref (self);
  change->message = msgtrkd_message_copy (m);
  change->old_state = old_state;
  msgtrkd_store_after_commit (self->store, pending_change_tell, change,
                              (GDestroyNotify) pending_change_free);
}

/**
 * msgtrkd_tracking_recompute:
 * @self: the model
 * @envid: the message
 * @polled_at: sets last_poll_at if > 0
 * @snapshot: whether to store a snapshot if the map changed
 *
 * Recomputes state and summary of @envid from every stored report (learning recipients a
 * delegated message did not know), stores them, and tells the owner if either changed.
 */
void
msgtrkd_tracking_recompute (MsgtrkdTracking *self,
                            const char      *envid,
                            gint64           polled_at,
                            gboolean         snapshot)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (GPtrArray) parsed = NULL;
  g_autoptr (MsgtrkStatus) status = NULL;
  g_autofree char *old_summary = NULL;
  MsgtrkMessageState old_state;
  MsgtrkMessageState state;
  gboolean final = FALSE;
  gboolean learnt_more;
  gboolean changed;

  m = msgtrkd_store_get_message (self->store, envid, &error);
  if (m == NULL)
    {
      g_debug ("recompute %s: %s", envid, error->message);
      return;
    }
  parsed = parsed_reports (self, envid, &error);
  if (parsed == NULL)
    {
      g_warning ("Cannot read the reports of %s: %s", envid, error->message);
      return;
    }
  learnt_more = learn_recipients (m, parsed);
  status = msgtrkd_route_compute_status (m, parsed);
  old_state = message_state (m);
  old_summary = g_steal_pointer (&m->summary);
  changed = !msgtrk_message_state_from_string (m->state, NULL);
  state = msgtrkd_route_overall (m, status, parsed->len > 0, &m->summary, &final);
  changed = changed || state != old_state || g_strcmp0 (old_summary, m->summary) != 0;
  set_message_state (m, state);
  if (final)
    {
      m->final = TRUE;
      m->next_poll_at = 0;
    }
  else if (learnt_more && m->final && is_polled (m))
    {
      /* A new recipient of a delegated message is not final yet: track it again. */
      m->final = FALSE;
      if (m->next_poll_at == 0)
        m->next_poll_at = now_seconds () + self->first_poll;
    }
  if (polled_at > 0)
    m->last_poll_at = polled_at;
  if (!msgtrkd_store_update_message (self->store, m, &error))
    {
      g_warning ("Cannot record the status of %s: %s", envid, error->message);
      return;
    }
  if (snapshot)
    store_snapshot (self, m);
  if (changed)
    {
      g_debug ("%s: %s (%s)", envid, m->state, m->summary);
      tell_changed (self, m, old_state);
    }
}

/* ---- the scheduler's results ---- */

/* A poll that brought no route: an event saying why; a missing secret stops polling. */
static void
poll_failed (MsgtrkdTracking *self,
             const char      *envid,
             const GError    *error)
{
  gboolean downgrade = g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE);
  g_autofree char *text = NULL;

  if (g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING))
    {
      g_autoptr (MsgtrkdMessage) m = msgtrkd_store_get_message (self->store, envid, NULL);

      text = g_strdup (_("The tracking secret is missing from the keyring: tracking stopped"));
      if (m != NULL)
        {
          m->next_poll_at = 0;
          if (!msgtrkd_store_update_message (self->store, m, NULL))
            g_warning ("Cannot stop polling %s", envid);
        }
    }
  else if (downgrade)
    text = g_strdup_printf (_("Warning: %s"), error->message);
  else
    text = g_strdup_printf (_("Tracking failed: %s"), error->message);
  g_message ("%s: %s", envid, text);
  msgtrkd_tracking_add_event_once (self, envid, downgrade ? "warning" : "error", text);
}

/* Stores each report of @route as the newest word of its reporter, with an event per
 * recipient entry of each new one. */
static void
keep_poll_reports (MsgtrkdTracking *self,
                   const char      *envid,
                   MsgtrkRoute     *route,
                   gint64           now)
{
  GPtrArray *reports = msgtrk_route_get_reports (route);

  for (guint i = 0; reports != NULL && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      g_autoptr (GPtrArray) one = g_ptr_array_new ();
      g_autoptr (GBytes) entity = NULL;
      g_autoptr (GError) error = NULL;
      gboolean is_new = FALSE;
      GPtrArray *entries;

      g_ptr_array_add (one, report);
      entity = msgtrk_report_build_tracking_entity (one, &error);
      if (entity == NULL)
        {
          g_warning ("Cannot keep a report of %s: %s", envid, error->message);
          continue;
        }
      /* A delayed hop answers anew at each poll: its newest answer replaces the older. */
      if (!store_report (self, envid, "mtqp", msgtrk_report_get_reporting_mta (report),
                         MSGTRKD_REPORT_MATCH_ENVID, now, one, entity, &is_new, &error))
        {
          g_warning ("Cannot store a report of %s: %s", envid, error->message);
          continue;
        }
      entries = is_new ? msgtrk_report_get_recipients (report) : NULL;
      for (guint j = 0; entries != NULL && j < entries->len; j++)
        {
          g_autofree char *text = entry_event_text (report, g_ptr_array_index (entries, j), "");

          /* A delayed hop answers anew at each poll: one event per distinct word. */
          msgtrkd_tracking_add_event_once (self, envid, "mtqp", text);
        }
    }
}

/* A TLS downgrade (or another broken link) of @route is a warning on the map and an
 * event. Returns the warnings. */
static GStrv
poll_warnings (MsgtrkdTracking *self,
               const char      *envid,
               MsgtrkRoute     *route)
{
  g_autoptr (GStrvBuilder) warnings = g_strv_builder_new ();
  g_auto (GStrv) recipients = msgtrk_route_list_recipients (route);

  for (guint i = 0; recipients != NULL && recipients[i] != NULL; i++)
    {
      GPtrArray *hops = msgtrk_route_get_hops (route, recipients[i]);

      for (guint j = 0; hops != NULL && j < hops->len; j++)
        {
          MsgtrkRouteHop *hop = g_ptr_array_index (hops, j);
          const GError *e = msgtrk_route_hop_get_error (hop);
          g_autofree char *text = NULL;

          if (!msgtrk_route_hop_is_broken (hop) || e == NULL
              || !g_error_matches (e, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE))
            continue;
          text = g_strdup_printf (_("Warning: %s: %s"), msgtrk_route_hop_get_server (hop),
                                  e->message);
          g_strv_builder_add (warnings, text);
          msgtrkd_tracking_add_event_once (self, envid, "warning", text);
        }
    }
  return g_strv_builder_end (warnings);
}

/* Remember the MTQP server discovery found for the message (the first that answered with
 * tracking data): ExportUrl names it, never the submission host, which may be "localhost"
 * or an address only the sender can reach. */
static void
keep_found_server (MsgtrkdTracking *self,
                   const char      *envid,
                   MsgtrkRoute     *route)
{
  guint16 port = 0;
  const char *host = msgtrk_route_get_found_server (route, &port);
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autofree char *authority = NULL;
  g_autoptr (GError) error = NULL;
  gboolean v6 = host != NULL && strchr (host, ':') != NULL;

  if (host == NULL)
    return;
  m = msgtrkd_store_get_message (self->store, envid, NULL);
  if (port == 0 || port == MSGTRK_MTQP_PORT)
    authority = v6 ? g_strdup_printf ("[%s]", host) : g_strdup (host);
  else
    authority = v6 ? g_strdup_printf ("[%s]:%u", host, port)
                   : g_strdup_printf ("%s:%u", host, port);
  if (m == NULL || g_strcmp0 (m->mtqp_server, authority) == 0)
    return;
  g_free (m->mtqp_server);
  m->mtqp_server = g_steal_pointer (&authority);
  if (!msgtrkd_store_update_message (self->store, m, &error))
    g_warning ("Cannot record the tracking server of %s: %s", envid, error->message);
}

/**
 * msgtrkd_tracking_poll_done:
 * @envid: the message polled
 * @route: (nullable): what the poll found
 * @error: (nullable): why there is no @route
 * @user_data: the #MsgtrkdTracking
 *
 * The scheduler's result of one poll: the server found, the reports stored (with their
 * events), warnings and the MTQP hops cached, the state recomputed and a snapshot stored.
 * A message that is final afterwards leaves the in-memory route cache (get_route_cache()
 * reads its snapshot back when asked), so the cache holds the messages still polled.
 */
void
msgtrkd_tracking_poll_done (const char   *envid,
                            MsgtrkRoute  *route,
                            const GError *error,
                            gpointer      user_data)
{
  MsgtrkdTracking *self = user_data;
  g_autoptr (MsgtrkdMessage) after = NULL;
  gint64 now = now_seconds ();
  RouteCache *cache;

  if (self->shut_down)
    return;
  if (route == NULL)
    {
      poll_failed (self, envid, error);
      msgtrkd_tracking_recompute (self, envid, now, FALSE);
    }
  else
    {
      keep_found_server (self, envid, route);
      keep_poll_reports (self, envid, route, now);
      cache = g_new0 (RouteCache, 1);
      cache->envid = g_strdup (envid);
      cache->warnings = poll_warnings (self, envid, route);
      cache->mtqp_hops = msgtrkd_route_hops_from_route (route);
      route_cache_put (self, cache);
      msgtrkd_tracking_recompute (self, envid, now, TRUE);
    }
  reschedule (self);
  after = msgtrkd_store_get_message (self->store, envid, NULL);
  if (after != NULL && after->final)
    route_cache_remove (self, envid);
}

/* ---- messages: Prepare, Committed, Aborted, ImportUrl, Track, ExportUrl, Forget ---- */

/**
 * msgtrkd_tracking_get_message:
 * @self: the model
 * @id: (nullable): an ENVID or a Message-ID
 * @error: MSGTRKD_ERROR_INVALID_ARGUMENT for no id, MSGTRKD_ERROR_NOT_FOUND, or a store error
 *
 * Returns: (transfer full) (nullable): the record
 */
MsgtrkdMessage *
msgtrkd_tracking_get_message (MsgtrkdTracking *self,
                              const char      *id,
                              GError         **error)
{
  if (id == NULL || *id == '\0')
    {
      g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                           _("No message id given: pass an ENVID or a Message-ID"));
      return NULL;
    }
  return msgtrkd_store_get_message (self->store, id, error);
}

/* A remote value quoted in an error: escaped, cut at 100 octets. */
static char *
quote (const char *value)
{
  return msgtrk_str_escape_for_error (value, 100);
}

/* Prepare's recipients, normalised, each once; NULL with @error for a bad one. */
static GStrv
prepare_recipients (const char * const *recipients,
                    GError            **error)
{
  g_autoptr (GStrvBuilder) rcpts = g_strv_builder_new ();
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (recipients == NULL || recipients[0] == NULL)
    {
      g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                           _("A tracked message needs at least one recipient"));
      return NULL;
    }
  if (g_strv_length ((char **) recipients) > MSGTRKD_MAX_RECIPIENTS)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   _("A tracked message can have at most %d recipients"),
                   MSGTRKD_MAX_RECIPIENTS);
      return NULL;
    }
  for (guint i = 0; recipients[i] != NULL; i++)
    {
      g_autofree char *norm = normalize_mailbox (recipients[i]);

      if (norm == NULL)
        {
          g_autofree char *quoted = quote (recipients[i]);

          g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                       _("The recipient “%s” is not a mail address with a domain"), quoted);
          return NULL;
        }
      if (g_hash_table_add (seen, g_utf8_casefold (norm, -1)))
        g_strv_builder_add (rcpts, norm);
    }
  return g_strv_builder_end (rcpts);
}

/**
 * msgtrkd_tracking_prepare:
 * @self: the model
 * @sender: the envelope sender
 * @recipients: the envelope recipients (at most %MSGTRKD_MAX_RECIPIENTS)
 * @message_id: (nullable): the Message-ID, with or without <>
 * @subject: (nullable): the subject
 * @submission_host: where the message is submitted (MTQP tracking starts there)
 * @mtrk_timeout: seconds to ask for in MTRK
 * @error: MSGTRKD_ERROR_INVALID_ARGUMENT for an argument out of its limits
 *
 * Checks Prepare's arguments and makes the new record: a fresh ENVID, tracking
 * "pending", state "sending". Earlier aborted attempts of the same Message-ID are
 * forgotten (a retried send is one message). The record is not stored: the service gets
 * A first, then msgtrkd_tracking_add_prepared().
 *
 * Returns: (transfer full) (nullable): the record
 */
MsgtrkdMessage *
msgtrkd_tracking_prepare (MsgtrkdTracking    *self,
                          const char         *sender,
                          const char * const *recipients,
                          const char         *message_id,
                          const char         *subject,
                          const char         *submission_host,
                          guint               mtrk_timeout,
                          GError            **error)
{
  g_autofree char *norm_sender = normalize_mailbox (sender);
  g_autoptr (MsgtrkdMessage) m = msgtrkd_message_new ();
  g_auto (GStrv) rcpts = NULL;
  GError *local_error = NULL;
  g_autofree char *quoted = NULL;

  if (norm_sender == NULL)
    {
      quoted = quote (sender);
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   _("The sender “%s” is not a mail address with a domain"), quoted);
      return NULL;
    }
  rcpts = prepare_recipients (recipients, error);
  if (rcpts == NULL)
    return NULL;
  if (!valid_host (submission_host))
    {
      quoted = quote (submission_host);
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   _("The submission server “%s” is not a host name"), quoted);
      return NULL;
    }
  /* The subject is only shown: a longer one (a folded subject, 400 CJK characters) is cut
   * to the limit, not refused (refused, the message could not be sent tracked). */
  if ((message_id != NULL && strlen (message_id) > MSGTRKD_MAX_FIELD_LENGTH)
      || (subject != NULL && !g_utf8_validate (subject, -1, NULL))
      || (message_id != NULL && !g_utf8_validate (message_id, -1, NULL)))
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   _("The subject or Message-ID is not UTF-8, or the Message-ID is longer "
                     "than %d bytes"),
                   MSGTRKD_MAX_FIELD_LENGTH);
      return NULL;
    }

  forget_aborted_attempts (self, message_id);
  m->envid = msgtrk_envid_generate (strrchr (norm_sender, '@') + 1, &local_error);
  if (m->envid == NULL)
    {
      g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                           local_error->message);
      g_error_free (local_error);
      return NULL;
    }
  m->message_id = strip_message_id (message_id);
  m->subject = subject != NULL && *subject != '\0' ? g_strdup (subject) : NULL;
  if (m->subject != NULL)
    msgtrk_utf8_cut (m->subject, MSGTRKD_MAX_FIELD_LENGTH);
  m->sender = g_steal_pointer (&norm_sender);
  m->recipients = g_steal_pointer (&rcpts);
  m->submission_host = g_ascii_strdown (submission_host, -1);
  msgtrkd_message_set_tracking_mode (m, MSGTRK_TRACKING_MODE_PENDING);
  m->mtrk_timeout = mtrk_timeout;
  m->prepared_at = now_seconds ();
  set_message_state (m, MSGTRK_MESSAGE_STATE_SENDING);
  m->summary = g_strdup (_("Sending…"));
  m->secret_derived = TRUE;
  return g_steal_pointer (&m);
}

/**
 * msgtrkd_tracking_add_prepared:
 * @self: the model
 * @message: a record from msgtrkd_tracking_prepare()
 * @error: a store error
 *
 * Stores the prepared record with its first event, and tells the owner (StatusChanged).
 *
 * Returns: whether it was stored
 */
gboolean
msgtrkd_tracking_add_prepared (MsgtrkdTracking      *self,
                               const MsgtrkdMessage *message,
                               GError              **error)
{
  guint n = g_strv_length (message->recipients);
  g_autofree char *text = NULL;

  if (!msgtrkd_store_add_message (self->store, message, error))
    return FALSE;
  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Prepared for %u recipient",
                                       "Prepared for %u recipients", n),
                          n);
  add_event (self, message->envid, "local", text);
  tell_changed (self, message, MSGTRK_MESSAGE_STATE_UNKNOWN);
  return TRUE;
}

/* Printable text of a server's reply or a reason: valid UTF-8, no control characters,
 * no surrounding space. */
static char *
clean_reply (const char *text)
{
  char *clean = g_utf8_make_valid (text != NULL ? text : "", -1);

  for (char *p = clean; *p != '\0'; p++)
    if ((guchar) *p < 0x20)
      *p = ' ';
  return g_strstrip (clean);
}

/* The tracking mode the server's EHLO keywords give: MTRK, else DSN, else none. */
static MsgtrkTrackingMode
mode_from_offer (MsgtrkSmtpCapabilities *caps)
{
  if (msgtrk_smtp_capabilities_has (caps, "MTRK"))
    return MSGTRK_TRACKING_MODE_MTQP;
  if (msgtrk_smtp_capabilities_has (caps, "DSN"))
    return MSGTRK_TRACKING_MODE_DSN;
  return MSGTRK_TRACKING_MODE_NONE;
}

/* The timeline of a committed message: where it was sent, and that no tracking was
 * offered if so. */
static void
add_sent_events (MsgtrkdTracking      *self,
                 const MsgtrkdMessage *m)
{
  g_autofree char *text = NULL;

  if (m->server_reply != NULL)
    text = g_strdup_printf (_("Sent to %s (%s)"), m->submission_host, m->server_reply);
  else
    text = g_strdup_printf (_("Sent to %s"), m->submission_host);
  add_event (self, m->envid, "local", text);
  if (msgtrkd_message_get_tracking_mode (m) == MSGTRK_TRACKING_MODE_NONE)
    {
      g_autofree char *none_text = g_strdup_printf (_("%s offered neither MTRK nor DSN"),
                                                    m->submission_host);

      add_event (self, m->envid, "local", none_text);
    }
}

/**
 * msgtrkd_tracking_commit:
 * @self: the model
 * @id: the message (pending)
 * @offered: (nullable): the server's EHLO keywords (at most %MSGTRKD_MAX_CAPABILITIES)
 * @server_reply: (nullable): its reply to the end of DATA (kept to
 *   %MSGTRKD_MAX_REPLY_LENGTH octets)
 * @error: MSGTRKD_ERROR_INVALID_ARGUMENT, MSGTRKD_ERROR_NOT_FOUND or a store error
 *
 * The message was sent: its tracking mode from what the server offered, the first poll
 * scheduled for MTQP, events, the state recomputed.
 *
 * Returns: whether the record was updated
 */
gboolean
msgtrkd_tracking_commit (MsgtrkdTracking    *self,
                         const char         *id,
                         const char * const *offered,
                         const char         *server_reply,
                         GError            **error)
{
  static const char *const none[] = { NULL };
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;
  g_auto (GStrv) keywords = NULL;
  g_autofree char *reply = NULL;
  gint64 now = now_seconds ();

  if (offered != NULL && g_strv_length ((char **) offered) > MSGTRKD_MAX_CAPABILITIES)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   _("At most %d EHLO keywords are accepted"), MSGTRKD_MAX_CAPABILITIES);
      return FALSE;
    }
  m = msgtrkd_tracking_get_message (self, id, error);
  if (m == NULL)
    return FALSE;
  if (msgtrkd_message_get_tracking_mode (m) != MSGTRK_TRACKING_MODE_PENDING)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (m->envid, 120);

      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   _("The message “%s” is not waiting to be sent (tracking: %s)"), quoted,
                   m->tracking);
      return FALSE;
    }

  caps = msgtrk_smtp_capabilities_new_from_keywords (offered != NULL ? offered : none);
  keywords = msgtrk_smtp_capabilities_list_keywords (caps);
  /* A longer reply is cut, not refused: refused, the message sent stayed "sending". */
  reply = clean_reply (server_reply);
  msgtrk_utf8_cut (reply, MSGTRKD_MAX_REPLY_LENGTH);
  g_free (m->offered);
  m->offered = g_strjoinv (" ", keywords);
  g_free (m->server_reply);
  m->server_reply = *reply != '\0' ? g_strdup (reply) : NULL;
  m->committed_at = now;
  m->expires_at = now + m->mtrk_timeout;
  msgtrkd_message_set_tracking_mode (m, mode_from_offer (caps));
  if (msgtrkd_message_get_tracking_mode (m) == MSGTRK_TRACKING_MODE_MTQP)
    {
      m->next_poll_at = now + self->first_poll;
      m->poll_count = 0;
    }
  if (!msgtrkd_store_update_message (self->store, m, error))
    return FALSE;
  add_sent_events (self, m);
  msgtrkd_tracking_recompute (self, m->envid, 0, FALSE);
  reschedule (self);
  return TRUE;
}

/**
 * msgtrkd_tracking_abort:
 * @self: the model
 * @id: the message
 * @reason: (nullable): why it was not sent (kept to %MSGTRKD_MAX_REPLY_LENGTH octets)
 * @error: MSGTRKD_ERROR_INVALID_ARGUMENT, MSGTRKD_ERROR_NOT_FOUND or a store error
 *
 * The message was not sent: tracking "aborted", final, no more polls, an event. Only a
 * message waiting to be sent (tracking "pending") can be aborted (INVALID_ARGUMENT
 * otherwise, as msgtrkd_tracking_commit()); one already aborted is returned unchanged.
 *
 * Returns: (transfer full) (nullable): the record as updated (the service deletes A of
 *   a message whose A is not derived)
 */
MsgtrkdMessage *
msgtrkd_tracking_abort (MsgtrkdTracking *self,
                        const char      *id,
                        const char      *reason,
                        GError         **error)
{
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autofree char *clean = NULL;
  g_autofree char *text = NULL;

  m = msgtrkd_tracking_get_message (self, id, error);
  if (m == NULL)
    return NULL;
  /* Only a message waiting to be sent can be "not sent" (as Committed): a sent or
   * delegated one marked aborted stopped being polled, lost a delegated secret, and was
   * forgotten at the next Prepare of its Message-ID (forget_aborted_attempts). Aborted
   * twice (a client's retry) changes nothing more. */
  if (msgtrkd_message_get_tracking_mode (m) == MSGTRK_TRACKING_MODE_ABORTED)
    return g_steal_pointer (&m);
  if (msgtrkd_message_get_tracking_mode (m) != MSGTRK_TRACKING_MODE_PENDING)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (m->envid, 120);

      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   _("The message “%s” is not waiting to be sent (tracking: %s)"), quoted,
                   m->tracking);
      return NULL;
    }
  msgtrkd_message_set_tracking_mode (m, MSGTRK_TRACKING_MODE_ABORTED);
  m->final = TRUE;
  m->next_poll_at = 0;
  if (!msgtrkd_store_update_message (self->store, m, error))
    return NULL;
  /* A longer reason (a server's whole multi-line refusal) is cut, not refused: refused,
   * the message not sent stayed "sending". */
  clean = clean_reply (reason);
  msgtrk_utf8_cut (clean, MSGTRKD_MAX_REPLY_LENGTH);
  text = *clean != '\0' ? g_strdup_printf (_("Not sent: %s"), clean) : g_strdup (_("Not sent"));
  add_event (self, m->envid, "local", text);
  if (self->scheduler != NULL)
    msgtrkd_scheduler_cancel (self->scheduler, m->envid);
  msgtrkd_tracking_recompute (self, m->envid, 0, FALSE);
  reschedule (self);
  return g_steal_pointer (&m);
}

/**
 * msgtrkd_tracking_import:
 * @self: the model
 * @url: a parsed tracking link
 * @mtrk_timeout: seconds the servers keep tracking information
 *
 * The record of a message tracked from @url ("delegated"): no recipients yet (its reports
 * name them), polled at once. Not stored: the service stores A first, then
 * msgtrkd_tracking_add_imported().
 *
 * Returns: (transfer full): the record
 */
MsgtrkdMessage *
msgtrkd_tracking_import (MsgtrkdTracking *self,
                         MsgtrkUrl       *url,
                         guint            mtrk_timeout)
{
  MsgtrkdMessage *m = msgtrkd_message_new ();
  gint64 now = now_seconds ();

  m->envid = g_strdup (msgtrk_url_get_envid (url));
  m->recipients = g_new0 (char *, 1);
  m->submission_host = g_ascii_strdown (msgtrk_url_get_host (url), -1);
  if (msgtrk_url_get_port (url) != MSGTRK_MTQP_PORT)
    m->mtqp_port = g_strdup_printf ("%u", (guint) msgtrk_url_get_port (url));
  msgtrkd_message_set_tracking_mode (m, MSGTRK_TRACKING_MODE_DELEGATED);
  m->mtrk_timeout = mtrk_timeout;
  m->prepared_at = now;
  m->expires_at = now + m->mtrk_timeout;
  m->next_poll_at = now;
  set_message_state (m, MSGTRK_MESSAGE_STATE_IN_TRANSIT);
  m->summary = g_strdup (_("In transit"));
  return m;
}

/**
 * msgtrkd_tracking_add_imported:
 * @self: the model
 * @message: a record from msgtrkd_tracking_import()
 * @error: a store error
 *
 * Stores the delegated record with its first event, tells the owner and polls it now.
 *
 * Returns: whether it was stored
 */
gboolean
msgtrkd_tracking_add_imported (MsgtrkdTracking      *self,
                               const MsgtrkdMessage *message,
                               GError              **error)
{
  g_autofree char *text = NULL;

  if (!msgtrkd_store_add_message (self->store, message, error))
    return FALSE;
  text = g_strdup_printf (_("Imported from a tracking link for %s"), message->submission_host);
  add_event (self, message->envid, "local", text);
  tell_changed (self, message, MSGTRK_MESSAGE_STATE_UNKNOWN);
  if (self->scheduler != NULL)
    msgtrkd_scheduler_poll_now (self->scheduler, message->envid);
  reschedule (self);
  return TRUE;
}

/**
 * msgtrkd_tracking_track:
 * @self: the model
 * @id: the message
 * @error: MSGTRKD_ERROR_NOT_TRACKABLE for a message not tracked over MTQP or past its
 *   tracking time, MSGTRKD_ERROR_NOT_FOUND, …
 *
 * Polls the message now.
 *
 * Returns: whether a poll was asked for
 */
gboolean
msgtrkd_tracking_track (MsgtrkdTracking *self,
                        const char      *id,
                        GError         **error)
{
  g_autoptr (MsgtrkdMessage) m = msgtrkd_tracking_get_message (self, id, error);

  if (m == NULL)
    return FALSE;
  if (!is_polled (m))
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_TRACKABLE,
                   _("This message cannot be tracked over MTQP (tracking: %s)"), m->tracking);
      return FALSE;
    }
  if (m->expires_at > 0 && now_seconds () >= m->expires_at)
    {
      g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_TRACKABLE,
                           _("The servers no longer keep tracking information for this "
                             "message (its tracking time has passed)"));
      return FALSE;
    }
  if (self->scheduler != NULL)
    msgtrkd_scheduler_poll_now (self->scheduler, m->envid);
  return TRUE;
}

/**
 * msgtrkd_tracking_link_server:
 * @message: a message
 * @error: MSGTRKD_ERROR_NOT_TRACKABLE or MSGTRKD_ERROR_NO_SERVER_YET
 *
 * The server a tracking link of @message names: the MTQP server found for it (the first
 * that answered, discovery from the submission host), or for a delegated message the
 * server (and port) its own link named, which reached it; the port a host override
 * reached it on is not the discovered one. Never the submission host itself: "localhost"
 * or an address is useless to anyone else.
 *
 * Returns: (transfer full) (nullable): an authority, "host", "host:port" or "[v6]:port"
 */
char *
msgtrkd_tracking_link_server (const MsgtrkdMessage *message,
                              GError              **error)
{
  const char *host = message->submission_host;
  gboolean v6 = host != NULL && strchr (host, ':') != NULL;

  if (!is_polled (message) || host == NULL)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_TRACKABLE,
                   _("This message cannot be tracked over MTQP (tracking: %s), so there "
                     "is no tracking link to share"), message->tracking);
      return NULL;
    }
  if (msgtrkd_message_get_tracking_mode (message) == MSGTRK_TRACKING_MODE_DELEGATED)
    {
      if (message->mtqp_port != NULL)
        return g_strdup_printf (v6 ? "[%s]:%s" : "%s:%s", host, message->mtqp_port);
      return g_strdup_printf (v6 ? "[%s]" : "%s", host);
    }
  if (message->mtqp_server != NULL)
    return g_strdup (message->mtqp_server);
  g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NO_SERVER_YET,
                       _("No tracking server has been found for this message yet, so there "
                         "is no link to share; try again once its status has been updated"));
  return NULL;
}

/**
 * msgtrkd_tracking_get_route_json:
 * @self: the model
 * @id: the message
 * @with_poll_times: whether to include the last and next poll times
 * @error: MSGTRKD_ERROR_NOT_FOUND or a store error
 *
 * Returns: (transfer full) (nullable): GetRoute's JSON (docs/dbus-api.md)
 */
char *
msgtrkd_tracking_get_route_json (MsgtrkdTracking *self,
                                 const char      *id,
                                 gboolean         with_poll_times,
                                 GError         **error)
{
  g_autoptr (MsgtrkdMessage) m = msgtrkd_tracking_get_message (self, id, error);

  if (m == NULL)
    return NULL;
  return build_route_json (self, m, with_poll_times, error);
}

/**
 * msgtrkd_tracking_forget:
 * @self: the model
 * @envid: the message (its A already gone from the keyring)
 * @error: a store error
 *
 * Drops the message: no more polls, out of the caches and the store.
 *
 * Returns: whether it was dropped
 */
gboolean
msgtrkd_tracking_forget (MsgtrkdTracking *self,
                         const char      *envid,
                         GError         **error)
{
  if (self->scheduler != NULL)
    msgtrkd_scheduler_cancel (self->scheduler, envid);
  route_cache_remove (self, envid);
  if (!forget_stored (self, envid, error))
    return FALSE;
  reschedule (self);
  return TRUE;
}

/* ---- IngestReport ---- */

/* Where a report comes from, for the store and the events: its source and origin. */
static const char *
report_source (MsgtrkReport *first,
               const char  **origin)
{
  switch (msgtrk_report_get_kind (first))
    {
    case MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION:
      *origin = msgtrk_report_get_reporting_ua (first);
      return "mdn";
    case MSGTRK_REPORT_KIND_TRACKING_STATUS:
      *origin = msgtrk_report_get_reporting_mta (first);
      return "mtqp";
    case MSGTRK_REPORT_KIND_DELIVERY_STATUS:
    default:
      *origin = msgtrk_report_get_reporting_mta (first);
      return "dsn";
    }
}

/* How @reports were tied to @envid, the message match_report() found: by the ENVID if
 * one of them names it as its Original-Envelope-Id (as written or xtext-decoded, as
 * match_report() compares), else by the Message-ID. */
static MsgtrkdReportMatch
reports_matched (GPtrArray  *reports,
                 const char *envid)
{
  for (guint i = 0; i < reports->len; i++)
    if (msgtrk_report_names_envid (g_ptr_array_index (reports, i), envid))
      return MSGTRKD_REPORT_MATCH_ENVID;
  return MSGTRKD_REPORT_MATCH_MESSAGE_ID;
}

/* Main loop: match the parsed report to its message, store it, recompute. Returns the
 * ENVID ("" for no message), or NULL with @error. */
static char *
ingest_reports (MsgtrkdTracking *self,
                GBytes          *entity,
                GPtrArray       *reports,
                GError         **error)
{
  g_autoptr (MsgtrkdMessage) m = NULL;
  const char *origin = NULL;
  const char *source;
  const char *prefix;
  gboolean is_new = FALSE;

  for (guint i = 0; i < reports->len && m == NULL; i++)
    m = match_report (self, g_ptr_array_index (reports, i));
  if (m == NULL)
    return g_strdup ("");
  source = report_source (g_ptr_array_index (reports, 0), &origin);
  /* The same report again, maybe with other bytes (CRLF from IMAP, LF from a Maildir,
   * re-encoded, without its ENVID): nothing new; not stored, no event. */
  if (report_already_known (self, m->envid, reports))
    return g_strdup (m->envid);
  if (!store_report (self, m->envid, source, origin, reports_matched (reports, m->envid),
                     now_seconds (), reports, entity, &is_new, error))
    return NULL;
  if (!is_new)
    return g_strdup (m->envid);
  prefix = g_str_equal (source, "mdn") ? _("MDN from ") : _("DSN from ");
  if (g_str_equal (source, "mtqp"))
    prefix = "";
  for (guint i = 0; i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      GPtrArray *entries = msgtrk_report_get_recipients (report);

      for (guint j = 0; entries != NULL && j < entries->len; j++)
        {
          g_autofree char *text = entry_event_text (report, g_ptr_array_index (entries, j),
                                                    prefix);

          add_event (self, m->envid, source, text);
        }
    }
  msgtrkd_tracking_recompute (self, m->envid, 0, TRUE);
  reschedule (self);
  return g_strdup (m->envid);
}

/* Main loop: a TRACK: mail (docs/harrison.md). Its key is looked up by its hash, then
 * compared with the stored key in constant time; a refused mail, an unknown or forged key
 * give one log line and "" (nothing stored). Returns the ENVID, "" or NULL with @error. */
static char *
ingest_harrison (MsgtrkdTracking     *self,
                 MsgtrkdHarrisonMail *mail,
                 const char          *refused,
                 GError             **error)
{
  g_autofree char *index = NULL;
  g_autofree char *value = NULL;
  g_autoptr (MsgtrkdMessage) m = NULL;
  g_autofree char *text = NULL;
  g_autofree char *quoted = NULL;
  const char *space;
  gboolean is_new = FALSE;
  g_autofree char *stored_envid = NULL;

  if (mail == NULL)
    {
      g_message ("A TRACK: mail was ignored: %s", refused);
      return g_strdup ("");
    }
  index = msgtrkd_harrison_index_name (mail->key);
  value = msgtrkd_store_get_setting (self->store, index, NULL);
  space = value != NULL ? strchr (value, ' ') : NULL;
  if (space == NULL || !msgtrk_content_track_key_equal (space + 1, mail->key))
    {
      g_message ("A TRACK: mail was ignored: its key belongs to no tracked message");
      return g_strdup ("");
    }
  stored_envid = g_strndup (value, space - value);
  m = msgtrkd_store_get_message (self->store, stored_envid, NULL);
  if (m == NULL || g_strcmp0 (m->envid, stored_envid) != 0)
    {
      g_message ("A TRACK: mail was ignored: its message is no longer tracked");
      msgtrkd_store_set_setting (self->store, index, NULL, NULL);
      return g_strdup ("");
    }
  {
    g_autoptr (GPtrArray) heads = msgtrkd_store_list_report_heads (self->store, m->envid,
                                                                   error);
    guint n = 0;

    if (heads == NULL)
      return NULL;
    for (guint i = 0; i < heads->len; i++)
      {
        MsgtrkdStoredReport *head = g_ptr_array_index (heads, i);

        n += g_strcmp0 (head->source, MSGTRKD_HARRISON_SOURCE) == 0;
      }
    if (n >= MSGTRKD_HARRISON_MAX_RECORDS)
      {
        g_message ("A TRACK: mail was ignored: its message has %d trace records already",
                   MSGTRKD_HARRISON_MAX_RECORDS);
        return g_strdup ("");
      }
  }
  if (!msgtrkd_store_put_report (self->store, m->envid, MSGTRKD_HARRISON_SOURCE, mail->origin,
                                 MSGTRKD_REPORT_MATCH_ENVID, NULL, now_seconds (),
                                 now_seconds (), mail->record, &is_new, error))
    return NULL;
  if (!is_new)
    return g_strdup (m->envid);
  quoted = msgtrk_str_escape_for_error (mail->origin != NULL ? mail->origin : "?", 255);
  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Trace record from %s (%u hop)",
                                       "Trace record from %s (%u hops)", mail->n_hops),
                          quoted, mail->n_hops);
  add_event (self, m->envid, MSGTRKD_HARRISON_SOURCE, text);
  msgtrkd_tracking_recompute (self, m->envid, 0, TRUE);
  return g_strdup (m->envid);
}

/* After Prepare: remember the Content-Track key of @envid (docs/harrison.md), indexed by
 * its hash, so that a TRACK: mail finds its message. */
gboolean
msgtrkd_tracking_set_content_track (MsgtrkdTracking *self,
                                    const char      *envid,
                                    const char      *key,
                                    GError         **error)
{
  g_autofree char *index = msgtrkd_harrison_index_name (key);
  g_autofree char *value = g_strconcat (envid, " ", key, NULL);

  return msgtrkd_store_set_setting (self->store, index, value, error);
}

static void
ingest_extracted (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  g_autoptr (GTask) task = data;
  MsgtrkdTracking *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  IngestParsed *parsed = g_task_propagate_pointer (G_TASK (result), &error);
  char *envid;

  if (parsed == NULL)
    {
      g_task_return_new_error (task, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT, "%s",
                               error->message);
      return;
    }
  if (self->shut_down)
    {
      ingest_parsed_free (parsed);
      g_task_return_new_error (task, MSGTRKD_ERROR, MSGTRKD_ERROR_FAILED,
                               _("msgtrkd is shutting down"));
      return;
    }
  if (parsed->harrison != NULL || parsed->refused != NULL)
    envid = ingest_harrison (self, parsed->harrison, parsed->refused, &error);
  else
    envid = ingest_reports (self, parsed->entity, parsed->reports, &error);
  ingest_parsed_free (parsed);
  if (envid == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, envid, g_free);
}

/**
 * msgtrkd_tracking_ingest_async:
 * @self: the model
 * @message: a whole message (a DSN, an MDN, a bounce returning a big message: at most
 *   MSGTRK_REPORT_MAX_MESSAGE_SIZE octets, checked by the caller)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called on the caller's context when done
 * @user_data: for @callback
 *
 * Extracts and parses the report parts of @message in a worker thread, then matches the
 * report to its message (docs/dsn-ingestion.md), stores it (once: the same report again,
 * in other bytes, is nothing new), adds its events and recomputes.
 */
void
msgtrkd_tracking_ingest_async (MsgtrkdTracking    *self,
                               GBytes             *message,
                               GCancellable       *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer            user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr (GTask) extract = g_task_new (self, cancellable, ingest_extracted, task);

  g_task_set_source_tag (task, msgtrkd_tracking_ingest_async);
  g_task_set_task_data (extract, g_bytes_ref (message), (GDestroyNotify) g_bytes_unref);
  g_task_run_in_thread (extract, ingest_extract_thread);
}

/**
 * msgtrkd_tracking_ingest_finish:
 * @self: the model
 * @result: the result
 * @error: MSGTRKD_ERROR_INVALID_ARGUMENT for a message holding no report, a store error
 *
 * Returns: (transfer full) (nullable): the ENVID of the message the report is about, ""
 *   for none
 */
char *
msgtrkd_tracking_ingest_finish (MsgtrkdTracking *self,
                                GAsyncResult    *result,
                                GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- life cycle ---- */

static void
msgtrkd_tracking_finalize (GObject *object)
{
  MsgtrkdTracking *self = MSGTRKD_TRACKING (object);

  g_clear_object (&self->scheduler);
  g_clear_object (&self->store);
  g_queue_init (&self->routes_lru); /* its links live in the RouteCache entries */
  g_clear_pointer (&self->routes, g_hash_table_unref);
  g_queue_init (&self->parsed_lru); /* its links live in the ParsedCache entries */
  g_clear_pointer (&self->parsed, g_hash_table_unref);
  G_OBJECT_CLASS (msgtrkd_tracking_parent_class)->finalize (object);
}

static void
msgtrkd_tracking_class_init (MsgtrkdTrackingClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrkd_tracking_finalize;
}

static void
msgtrkd_tracking_init (MsgtrkdTracking *self)
{
  self->routes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) route_cache_free);
  g_queue_init (&self->routes_lru);
  self->parsed = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) parsed_cache_free);
  g_queue_init (&self->parsed_lru);
}

/**
 * msgtrkd_tracking_new:
 * @store: the store
 * @first_poll: seconds from Committed (or a newly learnt recipient) to the first poll
 * @changed: (nullable): called when a message's state or summary changed
 * @user_data: for @changed
 *
 * Returns: (transfer full): the model
 */
MsgtrkdTracking *
msgtrkd_tracking_new (MsgtrkdStore            *store,
                      guint                    first_poll,
                      MsgtrkdStatusChangedFunc changed,
                      gpointer                 user_data)
{
  MsgtrkdTracking *self = g_object_new (MSGTRKD_TYPE_TRACKING, NULL);

  self->store = g_object_ref (store);
  self->first_poll = first_poll;
  self->changed = changed;
  self->changed_data = user_data;
  return self;
}

/**
 * msgtrkd_tracking_set_scheduler:
 * @self: the model
 * @scheduler: (nullable): the scheduler whose done callback is msgtrkd_tracking_poll_done()
 *
 * Polls are asked for, cancelled and rescheduled through @scheduler; without one (unit
 * tests) the model only records.
 */
void
msgtrkd_tracking_set_scheduler (MsgtrkdTracking  *self,
                                MsgtrkdScheduler *scheduler)
{
  g_set_object (&self->scheduler, scheduler);
}

/**
 * msgtrkd_tracking_shutdown:
 * @self: the model
 *
 * Poll results and reports arriving from now on are dropped (the daemon is leaving).
 */
void
msgtrkd_tracking_shutdown (MsgtrkdTracking *self)
{
  self->shut_down = TRUE;
}
