/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqpd-chain.c: chaining referrals for mtqpd (see mtqpd-chain.h for the policy).
 *
 * One MsgtrkMtqpClient per chained TRACK (its deadline and TLS policy depend on the
 * session), used with the synchronous API from the session's own thread. Next hops are
 * asked breadth-first in the order their `transferred` entries appear, so a linear chain
 * comes back in route order. Each next hop is found as the tracker finds it: discovery
 * (SRV, MX, the name itself) on the Remote-MTA name, unless [chain_overrides] maps it.
 *
 * Limits: MSGTRK_REPORT_MAX_PARTS parts, MTQPD_MAX_CHAIN_QUERIES next hops, the
 * chain_timeout deadline, MTQPD_MAX_CHAIN_OVERRIDES overrides; Remote-MTA names longer
 * than MTQPD_MAX_CHAIN_NAME or with characters outside a host name are not followed.
 * Never: log or keep the secret (the client wipes its copies); ask a next hop over plain
 * text for a query that came over TLS; ask this server itself (by name, or by a loop
 * through other servers, see the in-flight set); add a part for another ENVID (the MTQP
 * client never hands one out: it drops every report whose Original-Envelope-Id is not the
 * ENVID asked).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "mtqpd-chain.h"

/* Longest Remote-MTA name followed. */
#define MTQPD_MAX_CHAIN_NAME 255

struct _MtqpdChain
{
  char *hostname_key;            /* (owned) this server's name, server_key() form */
  char *ca_file;                 /* (owned) (nullable) */
  guint timeout;                 /* seconds, for all next hops of one TRACK */
  GPtrArray *override_names;     /* (owned) (element-type utf8) */
  GPtrArray *override_addresses; /* (owned) (element-type utf8) same order */

  GMutex lock;
  GHashTable *in_flight;         /* (owned) ENVID → number of sessions chaining it */
};

/* A server name as compared: lower case, without a trailing dot. */
static char *
server_key (const char *name)
{
  char *key = g_ascii_strdown (name, -1);
  gsize len = strlen (key);

  if (len > 1 && key[len - 1] == '.')
    key[len - 1] = '\0';
  return key;
}

/* Can @name be asked (a host name, or an address literal)? */
static gboolean
name_is_followable (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > MTQPD_MAX_CHAIN_NAME)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (name[i]) && strchr (".-_:[]", name[i]) == NULL)
      return FALSE;
  return TRUE;
}

/**
 * mtqpd_chain_new:
 * @hostname: this server's name (never asked)
 * @ca_file: (nullable): CA certificates for next hops' TLS (besides the system's)
 * @timeout: seconds all next-hop queries of one TRACK may take
 *
 * Returns: (transfer full): the chaining state shared by all sessions
 */
MtqpdChain *
mtqpd_chain_new (const char *hostname,
                 const char *ca_file,
                 guint       timeout)
{
  MtqpdChain *self;

  g_return_val_if_fail (hostname != NULL, NULL);
  g_return_val_if_fail (timeout >= MTQPD_MIN_CHAIN_TIMEOUT, NULL);

  self = g_new0 (MtqpdChain, 1);
  self->hostname_key = server_key (hostname);
  self->ca_file = g_strdup (ca_file);
  self->timeout = timeout;
  self->override_names = g_ptr_array_new_with_free_func (g_free);
  self->override_addresses = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&self->lock);
  self->in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return self;
}

/**
 * mtqpd_chain_add_override:
 * @self: the chaining state
 * @name: a next-hop name (as in Remote-MTA)
 * @address: "ADDRESS:PORT" to use for it instead of discovery
 * @error: return location for a #GError
 *
 * Like the client's host overrides (curl --resolve), for tests and closed networks.
 *
 * Returns: %TRUE, or %FALSE with @error set (bad address, too many overrides)
 */
gboolean
mtqpd_chain_add_override (MtqpdChain *self,
                          const char *name,
                          const char *address,
                          GError    **error)
{
  g_autoptr (MsgtrkMtqpClient) probe = NULL;

  g_return_val_if_fail (self != NULL, FALSE);

  if (self->override_names->len >= MTQPD_MAX_CHAIN_OVERRIDES)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "More than %d chain overrides", MTQPD_MAX_CHAIN_OVERRIDES);
      return FALSE;
    }
  if (!name_is_followable (name))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (name, 80);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Chain override: \"%s\" is not a host name", quoted);
      return FALSE;
    }
  /* The client checks the address the way it will use it. */
  probe = msgtrk_mtqp_client_new ();
  if (!msgtrk_mtqp_client_add_host_override (probe, name, address, error))
    return FALSE;
  g_ptr_array_add (self->override_names, g_strdup (name));
  g_ptr_array_add (self->override_addresses, g_strdup (address));
  return TRUE;
}

/**
 * mtqpd_chain_free:
 * @self: (nullable): the chaining state
 */
void
mtqpd_chain_free (MtqpdChain *self)
{
  if (self == NULL)
    return;
  g_free (self->hostname_key);
  g_free (self->ca_file);
  g_ptr_array_unref (self->override_names);
  g_ptr_array_unref (self->override_addresses);
  g_hash_table_unref (self->in_flight);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* Mark @envid as being chained; FALSE if a session already chains it (a loop). */
static gboolean
in_flight_enter (MtqpdChain *self,
                 const char *envid)
{
  gboolean entered = FALSE;

  g_mutex_lock (&self->lock);
  if (!g_hash_table_contains (self->in_flight, envid))
    {
      g_hash_table_insert (self->in_flight, g_strdup (envid), GUINT_TO_POINTER (1));
      entered = TRUE;
    }
  g_mutex_unlock (&self->lock);
  return entered;
}

static void
in_flight_leave (MtqpdChain *self,
                 const char *envid)
{
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->in_flight, envid);
  g_mutex_unlock (&self->lock);
}

/* Queue the Remote-MTA of every transferred entry of @report. */
static void
queue_next_hops (GQueue       *queue,
                 MsgtrkReport *report)
{
  GPtrArray *entries = msgtrk_report_get_recipients (report);

  for (guint i = 0; i < entries->len; i++)
    {
      MsgtrkRecipientReport *entry = g_ptr_array_index (entries, i);
      const char *remote = msgtrk_recipient_report_get_remote_mta (entry);

      if (msgtrk_recipient_report_get_action (entry) == MSGTRK_ACTION_TRANSFERRED
          && remote != NULL && *remote != '\0')
        g_queue_push_tail (queue, g_strdup (remote));
    }
}

/* Is a part from server @key (server_key() form) among @parts? */
static gboolean
parts_represent (GPtrArray  *parts,
                 const char *key)
{
  for (guint i = 0; i < parts->len; i++)
    {
      const char *mta = msgtrk_report_get_reporting_mta (g_ptr_array_index (parts, i));
      g_autofree char *mta_key = mta != NULL ? server_key (mta) : NULL;

      if (mta_key != NULL && strcmp (mta_key, key) == 0)
        return TRUE;
    }
  return FALSE;
}

static MsgtrkMtqpClient *
client_new (MtqpdChain *self,
            gboolean    over_tls)
{
  MsgtrkMtqpClient *client = msgtrk_mtqp_client_new ();
  g_autoptr (GError) error = NULL;

  msgtrk_mtqp_client_set_tls_policy (client, over_tls ? MSGTRK_TLS_POLICY_REQUIRED
                                                      : MSGTRK_TLS_POLICY_OPPORTUNISTIC);
  if (self->ca_file != NULL)
    msgtrk_mtqp_client_set_ca_file (client, self->ca_file);
  msgtrk_mtqp_client_set_max_parts (client, MSGTRK_REPORT_MAX_PARTS);
  for (guint i = 0; i < self->override_names->len; i++)
    if (!msgtrk_mtqp_client_add_host_override (client, self->override_names->pdata[i],
                                               self->override_addresses->pdata[i], &error))
      {
        /* Checked by mtqpd_chain_add_override(); cannot happen. */
        g_warning ("Chain override: %s", error->message);
        g_clear_error (&error);
      }
  return client;
}

/* Ask @name for the ENVID; add its new parts to @parts and their next hops to @queue. */
static void
ask_next_hop (MsgtrkMtqpClient *client,
              const char       *name,
              const char       *envid,
              const char       *secret_base64,
              GPtrArray        *parts,
              GQueue           *queue,
              const char       *what,
              GCancellable     *cancellable)
{
  const char *envids[] = { envid, NULL };
  const char *secrets[] = { secret_base64, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = NULL;
  MsgtrkMtqpAnswer *answer;
  GPtrArray *reports;
  guint added = 0;

  answers = msgtrk_mtqp_client_track_sync (client, name, envids, secrets, cancellable,
                                           &error);
  if (answers == NULL || answers->len != 1)
    {
      g_message ("%s: chaining to %s failed: %s", what, name,
                 error != NULL ? error->message : "no answer");
      return;
    }
  answer = g_ptr_array_index (answers, 0);
  if (!msgtrk_mtqp_answer_is_success (answer))
    {
      const GError *aerr = msgtrk_mtqp_answer_get_error (answer);

      g_message ("%s: chaining to %s failed: %s", what, name,
                 aerr != NULL ? aerr->message : "negative answer");
      return;
    }
  reports = msgtrk_mtqp_answer_get_reports (answer);
  for (guint i = 0; reports != NULL && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      const char *mta = msgtrk_report_get_reporting_mta (report);
      g_autofree char *mta_key = mta != NULL ? server_key (mta) : NULL;

      if (parts->len >= MSGTRK_REPORT_MAX_PARTS)
        {
          g_message ("%s: chaining stopped at %d parts", what, MSGTRK_REPORT_MAX_PARTS);
          break;
        }
      if (mta_key == NULL || parts_represent (parts, mta_key))
        continue;
      g_ptr_array_add (parts, g_object_ref (report));
      queue_next_hops (queue, report);
      added++;
    }
  g_message ("%s: chained to %s (%s): %u new part(s)", what, name,
             msgtrk_mtqp_answer_get_tls_description (answer) != NULL ? "TLS" : "no TLS",
             added);
}

/**
 * mtqpd_chain_is_needed:
 * @local: this server's report
 *
 * Returns: whether @local has a transferred recipient with a Remote-MTA (a next hop)
 */
gboolean
mtqpd_chain_is_needed (MsgtrkReport *local)
{
  GQueue queue = G_QUEUE_INIT;
  gboolean needed;

  g_return_val_if_fail (MSGTRK_IS_REPORT (local), FALSE);

  queue_next_hops (&queue, local);
  needed = !g_queue_is_empty (&queue);
  g_queue_clear_full (&queue, g_free);
  return needed;
}

/**
 * mtqpd_chain_collect:
 * @self: the chaining state
 * @local: (element-type MsgtrkReport): this site's reports for the ENVID (one per node)
 * @envid: the ENVID (decoded)
 * @secret_base64: the client's secret, passed on to the next hops only
 * @over_tls: whether the client's session runs over TLS (next hops then must too)
 * @peer: the client, for logs
 * @cancellable: (nullable): cancelled when the server shuts down
 *
 * Collects @local followed by the parts of the next hops of any of them (see
 * mtqpd-chain.h; a next hop that one of @local's parts represents is not asked). Never
 * fails: a next hop that cannot answer only adds no part.
 *
 * Returns: (transfer full) (element-type MsgtrkReport): the parts, @local's first
 */
GPtrArray *
mtqpd_chain_collect (MtqpdChain   *self,
                     GPtrArray    *local,
                     const char   *envid,
                     const char   *secret_base64,
                     gboolean      over_tls,
                     const char   *peer,
                     GCancellable *cancellable)
{
  GPtrArray *parts = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GHashTable) asked = NULL;
  g_autoptr (MsgtrkMtqpClient) client = NULL;
  g_autofree char *envid_log = NULL;
  g_autofree char *what = NULL;
  GQueue queue = G_QUEUE_INIT;
  gint64 deadline;

  g_return_val_if_fail (self != NULL, parts);
  g_return_val_if_fail (local != NULL && local->len > 0, parts);

  for (guint i = 0; i < local->len; i++)
    {
      g_ptr_array_add (parts, g_object_ref (local->pdata[i]));
      queue_next_hops (&queue, local->pdata[i]);
    }
  if (g_queue_is_empty (&queue))
    return parts;

  envid_log = msgtrk_str_escape_for_error (envid, 120);
  what = g_strdup_printf ("%s: TRACK %s", peer, envid_log);
  if (!in_flight_enter (self, envid))
    {
      g_message ("%s: already chaining this ENVID (a loop back to this server?); "
                 "answering with the local part only", what);
      g_queue_clear_full (&queue, g_free);
      return parts;
    }

  asked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  client = client_new (self, over_tls);
  deadline = g_get_monotonic_time () + (gint64) self->timeout * G_USEC_PER_SEC;
  for (;;)
    {
      g_autofree char *name = g_queue_pop_head (&queue);
      g_autofree char *key = NULL;
      g_autofree char *name_log = NULL;
      gint64 left = deadline - g_get_monotonic_time ();
      guint seconds;

      if (name == NULL)
        break;
      if (!name_is_followable (name))
        {
          name_log = msgtrk_str_escape_for_error (name, 80);
          g_message ("%s: not chaining to \"%s\": not a host name", what, name_log);
          continue;
        }
      key = server_key (name);
      if (strcmp (key, self->hostname_key) == 0 || g_hash_table_contains (asked, key)
          || parts_represent (parts, key))
        continue;
      if (parts->len >= MSGTRK_REPORT_MAX_PARTS)
        break;
      if (g_hash_table_size (asked) >= MTQPD_MAX_CHAIN_QUERIES)
        {
          g_message ("%s: not chaining to %s: %d next hops asked already", what, name,
                     MTQPD_MAX_CHAIN_QUERIES);
          continue;
        }
      if (left < G_USEC_PER_SEC / 10 || g_cancellable_is_cancelled (cancellable))
        {
          g_message ("%s: not chaining to %s: chain_timeout (%u s) reached", what, name,
                     self->timeout);
          continue;
        }
      g_hash_table_add (asked, g_steal_pointer (&key));
      seconds = (guint) MAX (1, (left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
      msgtrk_mtqp_client_set_deadline (client, seconds);
      msgtrk_mtqp_client_set_connect_timeout (client, seconds);
      msgtrk_mtqp_client_set_read_timeout (client, seconds);
      g_info ("%s: chaining to %s (%s, %u s left)", what, name,
              over_tls ? "TLS required" : "TLS if offered", seconds);
      ask_next_hop (client, name, envid, secret_base64, parts, &queue, what, cancellable);
    }
  g_queue_clear_full (&queue, g_free);
  in_flight_leave (self, envid);
  return parts;
}
