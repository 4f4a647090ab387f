/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-route.c: status and delivery-map JSON of one message (see msgtrkd-route.h).
 *
 * The JSON shapes are the contract of docs/dbus-api.md: unknown values are null, never
 * left out; times are ISO 8601 UTC ("2026-11-23T09:00:00Z"). Members added beyond the
 * document ("warnings", "tls", "from_host") only grow the format.
 *
 * Limits: MSGTRKD_ROUTE_MAX_TRACE_HOPS Received: hops per recipient (the trace parser has
 * its own limits on fields and sizes).
 *
 * Never: abort on a stored report that no longer parses (it is skipped with a debug line).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-states.h"
#include "msgtrkd-harrison.h"
#include "msgtrkd-route.h"

void
msgtrkd_parsed_report_free (MsgtrkdParsedReport *parsed)
{
  if (parsed == NULL)
    return;
  g_free (parsed->source);
  g_free (parsed->origin);
  g_clear_pointer (&parsed->reports, g_ptr_array_unref);
  g_clear_pointer (&parsed->trace, g_bytes_unref);
  g_free (parsed);
}

/* Unix seconds → "YYYY-MM-DDTHH:MM:SSZ"; NULL for 0 (unknown). */
char *
msgtrkd_format_time (gint64 unix_seconds)
{
  g_autoptr (GDateTime) dt = NULL;

  if (unix_seconds <= 0)
    return NULL;
  dt = g_date_time_new_from_unix_utc (unix_seconds);
  if (dt == NULL)
    return NULL;
  return g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ");
}

static char *
format_date (GDateTime *date)
{
  g_autoptr (GDateTime) utc = NULL;

  if (date == NULL)
    return NULL;
  utc = g_date_time_to_utc (date);
  return utc != NULL ? g_date_time_format (utc, "%Y-%m-%dT%H:%M:%SZ") : NULL;
}

static void
set_string (JsonObject *obj,
            const char *name,
            const char *value)
{
  if (value != NULL)
    json_object_set_string_member (obj, name, value);
  else
    json_object_set_null_member (obj, name);
}

static void
set_time (JsonObject *obj,
          const char *name,
          gint64      unix_seconds)
{
  g_autofree char *text = msgtrkd_format_time (unix_seconds);

  set_string (obj, name, text);
}

static void
set_date (JsonObject *obj,
          const char *name,
          GDateTime  *date)
{
  g_autofree char *text = format_date (date);

  set_string (obj, name, text);
}

static const char *member_string (JsonObject *obj, const char *name);

/* Every stored report parsed; one that no longer parses is skipped. */
GPtrArray *
msgtrkd_route_parse_stored (GPtrArray *stored_reports)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);

  for (guint i = 0; stored_reports != NULL && i < stored_reports->len; i++)
    {
      MsgtrkdStoredReport *stored = g_ptr_array_index (stored_reports, i);
      g_autoptr (GError) error = NULL;
      GPtrArray *reports;
      MsgtrkdParsedReport *parsed;

      if (stored->raw == NULL)
        continue;
      if (g_str_equal (stored->source, MSGTRKD_HARRISON_SOURCE))
        {
          /* A trace record, not a report: its hops only (msgtrkd-harrison.c). */
          parsed = g_new0 (MsgtrkdParsedReport, 1);
          parsed->source = g_strdup (stored->source);
          parsed->origin = g_strdup (stored->origin);
          parsed->received_at = stored->received_at;
          parsed->matched = stored->matched;
          parsed->reports = g_ptr_array_new_with_free_func (g_object_unref);
          parsed->trace = g_bytes_ref (stored->raw);
          g_ptr_array_add (out, parsed);
          continue;
        }
      reports = msgtrk_report_parse_entity (stored->raw, &error);
      if (reports == NULL)
        {
          g_debug ("stored report %" G_GINT64_FORMAT " does not parse: %s", stored->id,
                   error->message);
          continue;
        }
      parsed = g_new0 (MsgtrkdParsedReport, 1);
      parsed->source = g_strdup (stored->source);
      parsed->origin = g_strdup (stored->origin);
      parsed->received_at = stored->received_at;
      parsed->matched = stored->matched;
      parsed->reports = reports;
      g_ptr_array_add (out, parsed);
    }
  return out;
}

/* All reports (MTQP, DSN, MDN) merged into one status. */
MsgtrkStatus *
msgtrkd_route_compute_status (const MsgtrkdMessage *message,
                              GPtrArray            *parsed)
{
  const char * const *recipients = NULL;
  g_autoptr (GHashTable) bound = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  MsgtrkStatus *status;

  if (message->recipients != NULL && message->recipients[0] != NULL)
    recipients = (const char * const *) message->recipients;
  status = msgtrk_status_new (recipients);
  /* The reporters that spoke in reports tied by the ENVID (or asked over MTQP). */
  for (guint i = 0; parsed != NULL && i < parsed->len; i++)
    {
      MsgtrkdParsedReport *p = g_ptr_array_index (parsed, i);

      for (guint j = 0; p->matched != MSGTRKD_REPORT_MATCH_MESSAGE_ID && j < p->reports->len; j++)
        {
          const char *mta = msgtrk_report_get_reporting_mta (g_ptr_array_index (p->reports, j));

          if (mta != NULL)
            g_hash_table_add (bound, msgtrk_host_normalize (mta));
        }
    }
  for (guint i = 0; parsed != NULL && i < parsed->len; i++)
    {
      MsgtrkdParsedReport *p = g_ptr_array_index (parsed, i);
      g_autoptr (GDateTime) received = g_date_time_new_from_unix_utc (p->received_at);

      for (guint j = 0; j < p->reports->len; j++)
        {
          MsgtrkReport *report = g_ptr_array_index (p->reports, j);
          const char *mta = msgtrk_report_get_reporting_mta (report);
          g_autofree char *key = mta != NULL ? msgtrk_host_normalize (mta) : NULL;

          /* A report tied by the Message-ID alone (which every recipient has read) in the
           * name of a reporter that also spoke in reports tied by the ENVID: that reporter
           * gives the ENVID back, so this one is not its word, or no more than a copy of
           * it. Left out of the status (it stays evidence on the route): else a recipient's
           * forgery dated ahead decided the state over the genuine report. */
          if (p->matched == MSGTRKD_REPORT_MATCH_MESSAGE_ID && key != NULL
              && g_hash_table_contains (bound, key))
            {
              g_debug ("status: a report of %s matched by the Message-ID is left out (%s also "
                       "reported by the ENVID)", message->envid ? message->envid : "?", key);
              continue;
            }
          msgtrk_status_add_report (status, report, received);
        }
    }
  return status;
}

/**
 * msgtrkd_message_get_tracking_mode:
 * @message: a message
 *
 * Returns: how @message is tracked; an id this daemon does not know (a newer store is
 *   refused, so only a damaged row) reads as %MSGTRK_TRACKING_MODE_PENDING
 */
MsgtrkTrackingMode
msgtrkd_message_get_tracking_mode (const MsgtrkdMessage *message)
{
  MsgtrkTrackingMode mode;

  msgtrk_tracking_mode_from_string (message->tracking, &mode);
  return mode;
}

/**
 * msgtrkd_message_set_tracking_mode:
 * @message: a message
 * @mode: how it is tracked from now on
 */
void
msgtrkd_message_set_tracking_mode (MsgtrkdMessage    *message,
                                   MsgtrkTrackingMode mode)
{
  g_free (message->tracking);
  message->tracking = g_strdup (msgtrk_tracking_mode_to_string (mode));
}

/* The overall state and summary of a message, from its tracking mode and its status. */
MsgtrkMessageState
msgtrkd_route_overall (const MsgtrkdMessage *message,
                       MsgtrkStatus         *status,
                       gboolean              have_reports,
                       char                **summary,
                       gboolean             *final)
{
  MsgtrkTrackingMode mode = msgtrkd_message_get_tracking_mode (message);

  *final = FALSE;
  if (mode == MSGTRK_TRACKING_MODE_PENDING)
    {
      *summary = g_strdup (_("Sending…"));
      return MSGTRK_MESSAGE_STATE_SENDING;
    }
  if (mode == MSGTRK_TRACKING_MODE_ABORTED)
    {
      *summary = g_strdup (_("Not sent"));
      *final = TRUE;
      return MSGTRK_MESSAGE_STATE_ABORTED;
    }
  if (!have_reports)
    {
      if (mode == MSGTRK_TRACKING_MODE_NONE)
        {
          *summary = g_strdup_printf (_("Sent — no tracking offered by %s"),
                                      message->submission_host != NULL
                                        ? message->submission_host : _("the server"));
          *final = TRUE;
          return MSGTRK_MESSAGE_STATE_UNTRACKED;
        }
      if (mode == MSGTRK_TRACKING_MODE_DSN)
        *summary = g_strdup (_("Sent — waiting for delivery reports"));
      else
        *summary = g_strdup (_("In transit"));
      return MSGTRK_MESSAGE_STATE_IN_TRANSIT;
    }
  *summary = msgtrk_status_format_summary (status);
  *final = msgtrk_status_is_final (status);
  return msgtrk_message_state_from_recipient (msgtrk_status_get_overall (status));
}

/* One hop in the shape of docs/dbus-api.md. */
static JsonObject *
hop_object (const char            *source,
            const char            *server,
            const char            *reporting_mta,
            MsgtrkRecipientReport *entry,
            GDateTime             *arrival,
            const char            *error)
{
  JsonObject *obj = json_object_new ();
  g_autofree char *action = NULL;

  if (entry != NULL)
    {
      const char *text = msgtrk_recipient_report_get_action_text (entry);
      MsgtrkAction a = msgtrk_recipient_report_get_action (entry);

      if (text != NULL)
        action = g_ascii_strdown (text, -1);
      else if (a != MSGTRK_ACTION_NONE)
        action = g_strdup (msgtrk_action_to_string (a));
    }
  json_object_set_string_member (obj, "source", source);
  set_string (obj, "server", server);
  set_string (obj, "reporting_mta", reporting_mta);
  set_string (obj, "action", action);
  set_string (obj, "status", entry != NULL ? msgtrk_recipient_report_get_status (entry) : NULL);
  set_string (obj, "comment",
              entry != NULL ? msgtrk_recipient_report_get_status_comment (entry) : NULL);
  set_string (obj, "remote_mta",
              entry != NULL ? msgtrk_recipient_report_get_remote_mta (entry) : NULL);
  set_date (obj, "arrival", arrival);
  set_date (obj, "last_attempt",
            entry != NULL ? msgtrk_recipient_report_get_last_attempt_date (entry) : NULL);
  set_date (obj, "will_retry_until",
            entry != NULL ? msgtrk_recipient_report_get_will_retry_until (entry) : NULL);
  set_string (obj, "diagnostic",
              entry != NULL ? msgtrk_recipient_report_get_diagnostic_code (entry) : NULL);
  json_object_set_null_member (obj, "from_address");
  json_object_set_null_member (obj, "delay_seconds");
  set_string (obj, "error", error);
  return obj;
}

/**
 * msgtrkd_route_received_hop:
 * @source: "trace" (a DSN's returned headers) or "harrison" (a relay's trace record)
 * @hop: one Received: field
 * @reporting_mta: (nullable): who returned the field, if known
 *
 * One hop of the route JSON for a Received: field: the receiving host as the server, its
 * date as the arrival, the sending host and address; no action (a Received: field says
 * none) and no delay (the caller knows what the field follows).
 *
 * Returns: (transfer full): the hop
 */
JsonObject *
msgtrkd_route_received_hop (const char *source,
                            MsgtrkHop  *hop,
                            const char *reporting_mta)
{
  JsonObject *obj = hop_object (source, msgtrk_hop_get_by_host (hop), reporting_mta, NULL,
                                msgtrk_hop_get_date (hop), NULL);

  set_string (obj, "from_address", msgtrk_hop_get_from_address (hop));
  set_string (obj, "from_host", msgtrk_hop_get_from_helo (hop) != NULL
                                  ? msgtrk_hop_get_from_helo (hop)
                                  : msgtrk_hop_get_from_host (hop));
  return obj;
}

/* The MTQP hops of a tracker run: recipient → array of hops. */
JsonObject *
msgtrkd_route_hops_from_route (MsgtrkRoute *route)
{
  JsonObject *out = json_object_new ();
  g_auto (GStrv) recipients = msgtrk_route_list_recipients (route);

  for (guint i = 0; recipients != NULL && recipients[i] != NULL; i++)
    {
      GPtrArray *hops = msgtrk_route_get_hops (route, recipients[i]);
      JsonArray *array = json_array_new ();

      for (guint j = 0; hops != NULL && j < hops->len; j++)
        {
          MsgtrkRouteHop *hop = g_ptr_array_index (hops, j);
          const GError *error = msgtrk_route_hop_get_error (hop);
          JsonObject *obj;

          obj = hop_object ("mtqp", msgtrk_route_hop_get_server (hop),
                            msgtrk_route_hop_get_reporting_mta (hop),
                            msgtrk_route_hop_get_entry (hop),
                            msgtrk_route_hop_get_arrival_date (hop),
                            msgtrk_route_hop_is_broken (hop) && error != NULL
                              ? error->message : NULL);
          set_string (obj, "tls", msgtrk_route_hop_get_tls_description (hop));
          set_string (obj, "server_address", msgtrk_route_hop_get_server_address (hop));
          json_array_add_object_element (array, obj);
        }
      json_object_set_array_member (out, recipients[i], array);
    }
  return out;
}

/* The MTQP hops kept in a stored route (a snapshot): recipient → array of hops. */
JsonObject *
msgtrkd_route_hops_from_json (const char *route_json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (route_json == NULL || !json_parser_load_from_data (parser, route_json, -1, NULL))
    return json_object_new ();
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return json_object_new ();
  return msgtrkd_route_hops_from_object (json_node_get_object (root));
}

/* The same from a route already parsed (@route: nullable): a caller that reads more of
 * the snapshot parses it once. */
JsonObject *
msgtrkd_route_hops_from_object (JsonObject *route)
{
  JsonObject *out = json_object_new ();
  JsonArray *recipients;

  if (route == NULL || !json_object_has_member (route, "recipients"))
    return out;
  recipients = json_object_get_array_member (route, "recipients");
  for (guint i = 0; recipients != NULL && i < json_array_get_length (recipients); i++)
    {
      JsonObject *r = json_array_get_object_element (recipients, i);
      const char *address;
      JsonArray *hops;
      JsonArray *mtqp;

      if (r == NULL || !json_object_has_member (r, "address"))
        continue;
      address = json_object_get_string_member (r, "address");
      hops = json_object_has_member (r, "hops") ? json_object_get_array_member (r, "hops")
                                                : NULL;
      if (address == NULL || hops == NULL)
        continue;
      mtqp = json_array_new ();
      for (guint j = 0; j < json_array_get_length (hops); j++)
        {
          JsonObject *h = json_array_get_object_element (hops, j);
          JsonNode *evidence = h != NULL ? json_object_get_member (h, "evidence") : NULL;

          /* A merged hop keeps every piece of its evidence; an older snapshot has one
           * hop per piece. */
          if (evidence != NULL && JSON_NODE_HOLDS_ARRAY (evidence))
            {
              JsonArray *pieces = json_node_get_array (evidence);

              for (guint k = 0; k < json_array_get_length (pieces); k++)
                {
                  JsonNode *piece = json_array_get_element (pieces, k);

                  if (JSON_NODE_HOLDS_OBJECT (piece)
                      && g_strcmp0 (member_string (json_node_get_object (piece), "source"),
                                    "mtqp") == 0)
                    json_array_add_element (mtqp, json_node_copy (piece));
                }
            }
          else if (g_strcmp0 (member_string (h, "source"), "mtqp") == 0)
            {
              JsonObject *copy = json_object_new ();
              g_autoptr (GList) names = json_object_get_members (h);

              /* the piece itself, without what the merge added */
              for (GList *l = names; l != NULL; l = l->next)
                if (strcmp (l->data, "sources") != 0 && strcmp (l->data, "conflict") != 0)
                  json_object_set_member (copy, l->data,
                                          json_node_copy (json_object_get_member (h, l->data)));
              json_array_add_object_element (mtqp, copy);
            }
        }
      json_object_set_array_member (out, address, mtqp);
    }
  return out;
}

/* Whether a report entry is about @address (Final- or Original-Recipient). */
static gboolean
entry_is_for (MsgtrkRecipientReport *entry,
              const char            *address)
{
  const char *candidates[2] = {
    msgtrk_recipient_report_get_final_recipient (entry),
    msgtrk_recipient_report_get_original_recipient (entry),
  };

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autofree char *norm = msgtrk_address_normalize (candidates[i]);
      g_autofree char *a = NULL;
      g_autofree char *b = NULL;

      if (norm == NULL)
        continue;
      a = g_utf8_casefold (norm, -1);
      b = g_utf8_casefold (address, -1);
      if (g_str_equal (a, b))
        return TRUE;
    }
  return FALSE;
}

/* A hop object as text, to find hops that say the same. */
static char *
hop_key (JsonObject *obj)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonGenerator) gen = json_generator_new ();

  json_node_set_object (node, obj);
  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

/* DSN entries and the Received: chain of DSNs, appended to @hops for @address. A DSN
 * entry that says exactly what an earlier one said (one DSN stored twice, e.g. once with
 * and once without its Original-Envelope-Id) gives one hop. */
static void
add_dsn_hops (JsonArray  *hops,
              const char *address,
              GPtrArray  *parsed)
{
  g_autoptr (GHashTable) seen_trace = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                             NULL);
  g_autoptr (GHashTable) seen_dsn = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                           NULL);
  guint n_trace = 0;
  g_autoptr (JsonArray) trace = json_array_new ();

  for (guint i = 0; parsed != NULL && i < parsed->len; i++)
    {
      MsgtrkdParsedReport *p = g_ptr_array_index (parsed, i);

      if (!g_str_equal (p->source, "dsn"))
        continue;
      for (guint j = 0; j < p->reports->len; j++)
        {
          MsgtrkReport *report = g_ptr_array_index (p->reports, j);
          GPtrArray *entries = msgtrk_report_get_recipients (report);
          gboolean matched = FALSE;
          const char *headers;

          if (msgtrk_report_get_kind (report) != MSGTRK_REPORT_KIND_DELIVERY_STATUS)
            continue;
          for (guint k = 0; entries != NULL && k < entries->len; k++)
            {
              MsgtrkRecipientReport *entry = g_ptr_array_index (entries, k);
              JsonObject *obj;

              if (!entry_is_for (entry, address))
                continue;
              matched = TRUE;
              obj = hop_object ("dsn", msgtrk_report_get_reporting_mta (report),
                                msgtrk_report_get_reporting_mta (report), entry,
                                msgtrk_report_get_arrival_date (report), NULL);
              if (g_hash_table_add (seen_dsn, hop_key (obj)))
                json_array_add_object_element (hops, obj);
              else
                json_object_unref (obj);
            }
          headers = msgtrk_report_get_returned_headers (report);
          if (!matched || headers == NULL)
            continue;
          {
            g_autoptr (GError) error = NULL;
            g_autoptr (GPtrArray) chain = msgtrk_trace_parse_headers (headers, -1, &error);

            if (chain == NULL)
              {
                g_debug ("returned headers of a DSN: %s", error->message);
                continue;
              }
            for (guint k = 0; k < chain->len && n_trace < MSGTRKD_ROUTE_MAX_TRACE_HOPS; k++)
              {
                MsgtrkHop *hop = g_ptr_array_index (chain, k);
                const char *raw = msgtrk_hop_get_raw (hop);
                JsonObject *obj;

                if (raw != NULL && !g_hash_table_add (seen_trace, g_strdup (raw)))
                  continue;
                obj = msgtrkd_route_received_hop ("trace", hop, NULL);
                if (msgtrk_hop_has_delay (hop))
                  json_object_set_int_member (obj, "delay_seconds", msgtrk_hop_get_delay (hop));
                json_array_add_object_element (trace, obj);
                n_trace++;
              }
          }
        }
    }
  for (guint i = 0; i < json_array_get_length (trace); i++)
    json_array_add_element (hops, json_node_copy (json_array_get_element (trace, i)));
}

/* The recipients to show: the message's, then any learnt from reports or the route. */
static GPtrArray *
collect_recipients (const MsgtrkdMessage *message,
                    MsgtrkStatus         *status,
                    JsonObject           *mtqp_hops)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) learnt = status != NULL ? msgtrk_status_list_recipients (status) : NULL;
  g_autoptr (GList) members = mtqp_hops != NULL ? json_object_get_members (mtqp_hops) : NULL;
  GPtrArray *all = g_ptr_array_new ();

  for (guint i = 0; message->recipients != NULL && message->recipients[i] != NULL; i++)
    g_ptr_array_add (all, message->recipients[i]);
  for (guint i = 0; learnt != NULL && learnt[i] != NULL; i++)
    g_ptr_array_add (all, learnt[i]);
  for (GList *l = members; l != NULL; l = l->next)
    g_ptr_array_add (all, l->data);
  for (guint i = 0; i < all->len; i++)
    {
      g_autofree char *norm = msgtrk_address_normalize (g_ptr_array_index (all, i));

      if (norm == NULL)
        continue;
      if (g_hash_table_add (seen, g_utf8_casefold (norm, -1)))
        g_ptr_array_add (out, g_steal_pointer (&norm));
    }
  g_ptr_array_unref (all);
  return out;
}

/**
 * msgtrkd_route_sent_time:
 * @message: the message
 * @earliest_arrival: the earliest Arrival-Date (or Received: date) any report gives for
 *   it, unix seconds; 0 when none
 *
 * When @message was sent, for "sent": the client's report (committed_at), moved back to
 * @earliest_arrival when that lies between MSGTRKD_ROUTE_MAX_CLOCK_SKEW seconds before
 * Prepare and the client's report (the server received the message before the client
 * heard its final reply); for a message tracked from a link, @earliest_arrival.
 *
 * Returns: unix seconds, or 0 when not sent (yet) or unknown
 */
gint64
msgtrkd_route_sent_time (const MsgtrkdMessage *message,
                         gint64                earliest_arrival)
{
  if (message->committed_at > 0)
    {
      if (earliest_arrival > 0 && earliest_arrival < message->committed_at
          && earliest_arrival >= message->prepared_at - MSGTRKD_ROUTE_MAX_CLOCK_SKEW)
        return earliest_arrival;
      return message->committed_at;
    }
  if (msgtrkd_message_get_tracking_mode (message) == MSGTRK_TRACKING_MODE_DELEGATED)
    return earliest_arrival;
  return 0;
}

/* The earliest "arrival" of any hop of @recipients (JSON array), unix seconds; 0 if none. */
static gint64
earliest_arrival (JsonArray *recipients)
{
  gint64 earliest = 0;

  for (guint i = 0; i < json_array_get_length (recipients); i++)
    {
      JsonObject *r = json_array_get_object_element (recipients, i);
      JsonArray *hops = json_object_get_array_member (r, "hops");

      for (guint j = 0; hops != NULL && j < json_array_get_length (hops); j++)
        {
          JsonObject *h = json_array_get_object_element (hops, j);
          JsonNode *node = h != NULL ? json_object_get_member (h, "arrival") : NULL;
          g_autoptr (GDateTime) dt = NULL;
          gint64 t;

          if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
              || json_node_get_value_type (node) != G_TYPE_STRING)
            continue;
          dt = g_date_time_new_from_iso8601 (json_node_get_string (node), NULL);
          if (dt == NULL)
            continue;
          t = g_date_time_to_unix (dt);
          if (t > 0 && (earliest == 0 || t < earliest))
            earliest = t;
        }
    }
  return earliest;
}

static char *
to_json (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

/* GetRoute's JSON. @with_poll_times FALSE leaves last_poll/next_poll null (snapshots). */
char *
msgtrkd_route_build_json (const MsgtrkdMessage *message,
                          MsgtrkStatus         *status,
                          JsonObject           *mtqp_hops,
                          GPtrArray            *parsed,
                          GPtrArray            *events,
                          const char * const   *warnings,
                          gboolean              with_poll_times)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *obj = json_object_new ();
  JsonArray *recipients = json_array_new ();
  JsonArray *event_array = json_array_new ();
  JsonArray *warning_array = json_array_new ();
  g_autoptr (GPtrArray) addresses = collect_recipients (message, status, mtqp_hops);

  json_node_take_object (root, obj);
  set_string (obj, "envid", message->envid);
  set_string (obj, "message_id", message->message_id);
  set_string (obj, "subject", message->subject);
  set_string (obj, "sender", message->sender);
  json_object_set_null_member (obj, "sent"); /* here for the members' order; set below */
  set_string (obj, "tracking", message->tracking);
  set_string (obj, "submission_host", message->submission_host);
  set_string (obj, "offered", message->offered);
  set_string (obj, "state", message->state);
  set_string (obj, "summary", message->summary);
  json_object_set_boolean_member (obj, "final", message->final);
  set_time (obj, "last_poll", with_poll_times ? message->last_poll_at : 0);
  set_time (obj, "next_poll", with_poll_times ? message->next_poll_at : 0);

  for (guint i = 0; i < addresses->len; i++)
    {
      const char *address = g_ptr_array_index (addresses, i);
      JsonObject *r = json_object_new ();
      JsonArray *hops = json_array_new ();
      MsgtrkRecipientState state = MSGTRK_RECIPIENT_STATE_UNKNOWN;

      if (status != NULL)
        state = msgtrk_status_get_recipient_state (status, address);
      json_object_set_string_member (r, "address", address);
      json_object_set_string_member (r, "state", msgtrk_recipient_state_to_string (state));
      if (mtqp_hops != NULL)
        {
          g_autoptr (GList) members = json_object_get_members (mtqp_hops);

          for (GList *l = members; l != NULL; l = l->next)
            {
              JsonArray *mh;

              if (g_ascii_strcasecmp (l->data, address) != 0)
                continue;
              mh = json_object_get_array_member (mtqp_hops, l->data);
              for (guint j = 0; mh != NULL && j < json_array_get_length (mh); j++)
                json_array_add_element (hops, json_node_copy (json_array_get_element (mh, j)));
              break;
            }
        }
      add_dsn_hops (hops, address, parsed);
      msgtrkd_harrison_add_hops (hops, address, parsed);
      json_object_set_array_member (r, "hops", msgtrkd_route_merge_hops (hops));
      json_array_unref (hops);
      json_array_add_object_element (recipients, r);
    }
  json_object_set_array_member (obj, "recipients", recipients);
  set_time (obj, "sent", msgtrkd_route_sent_time (message, earliest_arrival (recipients)));

  for (guint i = 0; events != NULL && i < events->len; i++)
    {
      MsgtrkdEvent *ev = g_ptr_array_index (events, i);
      JsonObject *e = json_object_new ();

      set_time (e, "at", ev->at);
      set_string (e, "source", ev->source);
      set_string (e, "text", ev->text);
      json_array_add_object_element (event_array, e);
    }
  json_object_set_array_member (obj, "events", event_array);
  for (guint i = 0; warnings != NULL && warnings[i] != NULL; i++)
    json_array_add_string_element (warning_array, warnings[i]);
  json_object_set_array_member (obj, "warnings", warning_array);
  return to_json (root);
}

/* List's JSON: the messages as given (the store returns them newest first). */
char *
msgtrkd_route_list_json (GPtrArray *messages)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);
  JsonArray *array = json_array_new ();

  json_node_take_array (root, array);
  for (guint i = 0; messages != NULL && i < messages->len; i++)
    {
      MsgtrkdMessage *m = g_ptr_array_index (messages, i);
      JsonObject *obj = json_object_new ();
      JsonArray *rcpts = json_array_new ();

      set_string (obj, "envid", m->envid);
      set_string (obj, "message_id", m->message_id);
      set_string (obj, "subject", m->subject);
      set_time (obj, "sent", m->committed_at);
      set_string (obj, "tracking", m->tracking);
      set_string (obj, "state", m->state);
      set_string (obj, "summary", m->summary);
      json_object_set_boolean_member (obj, "final", m->final);
      for (guint j = 0; m->recipients != NULL && m->recipients[j] != NULL; j++)
        json_array_add_string_element (rcpts, m->recipients[j]);
      json_object_set_array_member (obj, "recipients", rcpts);
      json_array_add_object_element (array, obj);
    }
  return to_json (root);
}

/* ---- One route per recipient: the evidence about one server, merged ----------------
 * (docs/route-merge.md) */

/* The sources a hop can come from. chain: the source's hops of one recipient are in
 * route order (a hop before the next one), which the merged order keeps. */
static const struct
{
  const char *id;
  MsgtrkdHopSource source;
  gboolean chain;
} hop_sources[] = {
  { "trace", MSGTRKD_HOP_SOURCE_TRACE, TRUE },
  { MSGTRKD_HARRISON_SOURCE, MSGTRKD_HOP_SOURCE_HARRISON, TRUE },
  { "mtqp", MSGTRKD_HOP_SOURCE_MTQP, TRUE },
  { "dsn", MSGTRKD_HOP_SOURCE_DSN, FALSE },
};

/**
 * msgtrkd_hop_source_from_string:
 * @id: (nullable): a hop's "source" member
 *
 * Returns: the source; %MSGTRKD_HOP_SOURCE_OTHER for one this daemon does not know
 */
MsgtrkdHopSource
msgtrkd_hop_source_from_string (const char *id)
{
  for (gsize i = 0; id != NULL && i < G_N_ELEMENTS (hop_sources); i++)
    if (strcmp (hop_sources[i].id, id) == 0)
      return hop_sources[i].source;
  return MSGTRKD_HOP_SOURCE_OTHER;
}

static gboolean
hop_source_is_chain (const char *id)
{
  for (gsize i = 0; id != NULL && i < G_N_ELEMENTS (hop_sources); i++)
    if (strcmp (hop_sources[i].id, id) == 0)
      return hop_sources[i].chain;
  return FALSE;
}

static const char *
member_string (JsonObject *obj,
               const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
member_is_null (JsonObject *obj,
                const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

/* An ISO 8601 member as unix seconds; 0 when absent or unreadable. */
static gint64
member_time (JsonObject *obj,
             const char *name)
{
  const char *text = member_string (obj, name);
  g_autoptr (GDateTime) dt = text != NULL ? g_date_time_new_from_iso8601 (text, NULL) : NULL;

  return dt != NULL ? g_date_time_to_unix (dt) : 0;
}

/**
 * msgtrkd_route_hop_server_key:
 * @hop: a hop of the route JSON
 *
 * Which server @hop is about, as a key two hops about the same server share: the
 * reporting MTA, else the server asked (MTQP) or the receiving host (a Received: field's
 * "by"; always for the Received: sources, "trace" and "harrison", whose reporting MTA is
 * only who returned the field), without an RFC 3464 type ("dns;"), case-folded, without a trailing dot; an
 * address literal ("[192.0.2.1]", "[IPv6:…]", or a bare address) becomes its canonical
 * numeric form.
 *
 * Returns: (transfer full) (nullable): the key, %NULL when the hop names no server
 */
char *
msgtrkd_route_hop_server_key (JsonObject *hop)
{
  const char *name = NULL;
  const char *semi;
  g_autofree char *text = NULL;
  g_autoptr (GInetAddress) address = NULL;
  gsize len;

  if (!msgtrk_states_source_is_trace (member_string (hop, "source")))
    name = member_string (hop, "reporting_mta");
  if (name == NULL || *name == '\0')
    name = member_string (hop, "server");
  if (name == NULL)
    return NULL;
  semi = strchr (name, ';');
  text = g_strstrip (g_strdup (semi != NULL ? semi + 1 : name));
  len = strlen (text);
  if (len >= 2 && text[0] == '[' && text[len - 1] == ']')
    {
      const char *inner = text + 1;

      text[len - 1] = '\0';
      if (g_ascii_strncasecmp (inner, "IPv6:", 5) == 0)
        inner += 5;
      address = g_inet_address_new_from_string (inner);
    }
  else
    address = g_inet_address_new_from_string (text);
  if (address != NULL)
    return g_inet_address_to_string (address);
  len = strlen (text);
  while (len > 0 && text[len - 1] == '.')
    text[--len] = '\0';
  if (len == 0)
    return NULL;
  return g_ascii_strdown (text, -1);
}

/* How much a piece of evidence says about the hop's state: a final action (nothing after
 * it changes the hop) 4, transferred (the message went on) 3, another action (delayed,
 * or one this daemon does not know) 2, only an error (a broken link) 1, nothing (a
 * Received: field) 0. */
static int
evidence_rank (JsonObject *hop)
{
  const char *action = member_string (hop, "action");

  if (action != NULL)
    {
      static const char * const final[] = { "delivered", "failed", "relayed", "expanded",
                                            "opaque" };

      for (gsize i = 0; i < G_N_ELEMENTS (final); i++)
        if (g_ascii_strcasecmp (action, final[i]) == 0)
          return 4;
      return g_ascii_strcasecmp (action, "transferred") == 0 ? 3 : 2;
    }
  if (member_string (hop, "error") != NULL)
    return 1;
  return member_string (hop, "status") != NULL ? 2 : 0;
}

/* When a piece of evidence speaks of: its last attempt, else its arrival; 0 unknown. */
static gint64
evidence_time (JsonObject *hop)
{
  gint64 t = member_time (hop, "last_attempt");

  return t > 0 ? t : member_time (hop, "arrival");
}

typedef struct
{
  GPtrArray *evidence; /* (element-type JsonObject) (not owned), input order */
  guint first;         /* position of its first evidence in the input */
  gint64 time;         /* earliest arrival (or evidence time) of its evidence; 0 unknown */
  guint n_before;      /* chain predecessors not yet placed */
  gboolean placed;
} HopGroup;

static void
hop_group_free (gpointer data)
{
  HopGroup *g = data;

  g_ptr_array_unref (g->evidence);
  g_free (g);
}

/* The evidence of one server in time order: untimed evidence keeps its place after the
 * evidence before it. */
static GPtrArray *
evidence_in_time_order (GPtrArray *evidence)
{
  GPtrArray *out = g_ptr_array_new ();
  g_autofree gint64 *eff = g_new0 (gint64, evidence->len);
  gint64 current = 0;

  for (guint i = 0; i < evidence->len; i++)
    {
      gint64 t = evidence_time (g_ptr_array_index (evidence, i));

      if (t > 0)
        current = t;
      eff[i] = current;
    }
  /* stable insertion sort: a few pieces per server */
  for (guint i = 0; i < evidence->len; i++)
    {
      guint at = out->len;

      while (at > 0)
        {
          guint prev = GPOINTER_TO_UINT (g_ptr_array_index (out, at - 1));

          if (eff[prev] <= eff[i])
            break;
          at--;
        }
      g_ptr_array_insert (out, (int) at, GUINT_TO_POINTER (i));
    }
  for (guint i = 0; i < out->len; i++)
    out->pdata[i] = g_ptr_array_index (evidence, GPOINTER_TO_UINT (out->pdata[i]));
  return out;
}

/* The evidence that decides the merged hop: the highest rank, then the latest, then the
 * stronger source, then the later in @ordered. */
static JsonObject *
deciding_evidence (GPtrArray *ordered)
{
  JsonObject *best = NULL;

  for (guint i = 0; i < ordered->len; i++)
    {
      JsonObject *e = g_ptr_array_index (ordered, i);
      int cmp;

      if (best == NULL)
        {
          best = e;
          continue;
        }
      cmp = evidence_rank (e) - evidence_rank (best);
      if (cmp == 0)
        {
          gint64 te = evidence_time (e), tb = evidence_time (best);

          cmp = te > tb ? 1 : te < tb ? -1 : 0;
        }
      if (cmp == 0)
        cmp = (int) msgtrkd_hop_source_from_string (member_string (e, "source"))
              - (int) msgtrkd_hop_source_from_string (member_string (best, "source"));
      if (cmp >= 0)
        best = e;
    }
  return best;
}

/* Whether the actions said about one server (@actions: lower-case words, each once)
 * disagree (docs/route-merge.md, "Conflict"): more than one word, unless one is
 * "expanded" and all are the hand-offs of an expansion's members at that server. RFC
 * 3464 2.3.3: "expanded" means delivered to the address as given and forwarded to
 * others (an alias, a list); the members' reports name the alias as
 * Original-Recipient and so join its hop, each "delivered", "relayed", "transferred"
 * (RFC 3886: a next hop that tracks) or "expanded" again (a nested alias) there. A
 * member "failed" or "delayed", or two outcomes without an expansion (delivered and
 * failed, delayed and delivered, relayed and delivered), do disagree. */
static gboolean
actions_conflict (GHashTable *actions)
{
  static const char *const expansion[] = { "expanded", "delivered", "relayed", "transferred",
                                           NULL };
  GHashTableIter iter;
  gpointer key;

  if (g_hash_table_size (actions) <= 1)
    return FALSE;
  if (!g_hash_table_contains (actions, "expanded"))
    return TRUE;
  g_hash_table_iter_init (&iter, actions);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_strv_contains ((const char *const *) expansion, key))
      return TRUE;
  return FALSE;
}

/* One merged hop from the evidence about one server (docs/route-merge.md). */
static JsonObject *
merged_hop (GPtrArray *evidence)
{
  static const char * const fill[] = { "reporting_mta", "server", "arrival", "tls",
                                       "server_address", "from_host", "from_address",
                                       "delay_seconds" };
  g_autoptr (GPtrArray) ordered = evidence_in_time_order (evidence);
  JsonObject *primary = deciding_evidence (ordered);
  JsonObject *out = json_object_new ();
  JsonArray *sources = json_array_new ();
  g_autoptr (GHashTable) seen_sources = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) actions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GList) members = json_object_get_members (primary);

  for (GList *l = members; l != NULL; l = l->next)
    json_object_set_member (out, l->data,
                            json_node_copy (json_object_get_member (primary, l->data)));
  /* What the deciding evidence does not say about the server itself, the others may. */
  for (gsize f = 0; f < G_N_ELEMENTS (fill); f++)
    for (guint i = 0; member_is_null (out, fill[f]) && i < ordered->len; i++)
      {
        JsonObject *e = g_ptr_array_index (ordered, i);

        if (!member_is_null (e, fill[f]))
          json_object_set_member (out, fill[f],
                                  json_node_copy (json_object_get_member (e, fill[f])));
      }
  for (guint i = 0; i < ordered->len; i++)
    {
      JsonObject *e = g_ptr_array_index (ordered, i);
      const char *source = member_string (e, "source");
      const char *action = member_string (e, "action");

      if (source != NULL && g_hash_table_add (seen_sources, (gpointer) source))
        json_array_add_string_element (sources, source);
      /* RFC 3464's action values are case-insensitive. */
      if (action != NULL)
        g_hash_table_add (actions, g_ascii_strdown (action, -1));
    }
  json_object_set_array_member (out, "sources", sources);
  json_object_set_boolean_member (out, "conflict", actions_conflict (actions));
  if (ordered->len > 1)
    {
      JsonArray *all = json_array_new ();

      for (guint i = 0; i < ordered->len; i++)
        json_array_add_object_element (all, json_object_ref (g_ptr_array_index (ordered, i)));
      json_object_set_array_member (out, "evidence", all);
    }
  return out;
}

/**
 * msgtrkd_route_merge_hops:
 * @hops: one recipient's hops from every source (objects of the route JSON), each
 *   source's in its own order
 *
 * One hop per server (msgtrkd_route_hop_server_key()): the evidence about it in time
 * order ("evidence", when more than one), its sources ("sources"), whether they disagree
 * on the action ("conflict"); the other members are those of the deciding evidence
 * (highest rank: a final action over transferred over delayed over a broken link over a
 * Received: field; then the latest; then the stronger source), completed from the rest.
 * Hops that name no server stay hops of their own. The merged hops keep each chain
 * source's order and are otherwise ordered by time (docs/route-merge.md).
 *
 * Limits: the first MSGTRKD_ROUTE_MAX_MERGE_HOPS hops are considered.
 *
 * Returns: (transfer full): the merged hops
 */
JsonArray *
msgtrkd_route_merge_hops (JsonArray *hops)
{
  JsonArray *out = json_array_new ();
  g_autoptr (GPtrArray) groups = g_ptr_array_new_with_free_func (hop_group_free);
  g_autoptr (GHashTable) by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) last_of_source = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) edges = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (GArray) from = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) to = g_array_new (FALSE, FALSE, sizeof (guint));
  guint n = hops != NULL ? json_array_get_length (hops) : 0;
  gint64 current = 0;

  if (n > MSGTRKD_ROUTE_MAX_MERGE_HOPS)
    {
      g_debug ("route: %u hops for one recipient, merging the first %d", n,
               MSGTRKD_ROUTE_MAX_MERGE_HOPS);
      n = MSGTRKD_ROUTE_MAX_MERGE_HOPS;
    }
  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (hops, i);
      JsonObject *hop = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      g_autofree char *key = NULL;
      const char *source;
      HopGroup *g = NULL;
      gpointer found;
      guint idx;

      if (hop == NULL)
        continue;
      key = msgtrkd_route_hop_server_key (hop);
      if (key != NULL && g_hash_table_lookup_extended (by_key, key, NULL, &found))
        {
          idx = GPOINTER_TO_UINT (found);
          g = g_ptr_array_index (groups, idx);
        }
      else
        {
          g = g_new0 (HopGroup, 1);
          g->evidence = g_ptr_array_new ();
          g->first = i;
          idx = groups->len;
          g_ptr_array_add (groups, g);
          if (key != NULL)
            g_hash_table_insert (by_key, g_steal_pointer (&key), GUINT_TO_POINTER (idx));
        }
      g_ptr_array_add (g->evidence, hop);
      {
        gint64 t = member_time (hop, "arrival");

        if (t <= 0)
          t = evidence_time (hop);
        if (t > 0 && (g->time == 0 || t < g->time))
          g->time = t;
      }
      /* A chain source: its previous hop comes before this one. */
      source = member_string (hop, "source");
      if (source != NULL && hop_source_is_chain (source))
        {
          if (g_hash_table_lookup_extended (last_of_source, source, NULL, &found)
              && GPOINTER_TO_UINT (found) != idx)
            {
              guint a = GPOINTER_TO_UINT (found);
              gpointer edge = GUINT_TO_POINTER (a * (MSGTRKD_ROUTE_MAX_MERGE_HOPS + 1) + idx + 1);

              if (g_hash_table_add (edges, edge))
                {
                  g_array_append_val (from, a);
                  g_array_append_val (to, idx);
                  g->n_before++;
                }
            }
          g_hash_table_insert (last_of_source, (gpointer) source, GUINT_TO_POINTER (idx));
        }
    }

  /* Place the groups: among those whose chain predecessors are placed, the earliest (an
   * untimed one reads as the time reached so far), then the first seen. When sources
   * disagree on the order (a cycle), the earliest of all left is placed. */
  for (guint placed = 0; placed < groups->len; placed++)
    {
      HopGroup *best = NULL;
      gint64 best_t = 0;
      gboolean any_ready = FALSE;

      for (guint i = 0; i < groups->len; i++)
        {
          HopGroup *g = g_ptr_array_index (groups, i);

          if (!g->placed && g->n_before == 0)
            any_ready = TRUE;
        }
      for (guint i = 0; i < groups->len; i++)
        {
          HopGroup *g = g_ptr_array_index (groups, i);
          gint64 t;

          if (g->placed || (any_ready && g->n_before > 0))
            continue;
          t = g->time > 0 ? g->time : current;
          if (best == NULL || t < best_t)
            {
              best = g;
              best_t = t;
            }
        }
      if (best == NULL)
        break; /* cannot happen: an unplaced group is left */
      best->placed = TRUE;
      if (best->time > 0)
        current = MAX (current, best->time);
      json_array_add_object_element (out, merged_hop (best->evidence));
      for (guint e = 0; e < from->len; e++)
        {
          HopGroup *src = g_ptr_array_index (groups, g_array_index (from, guint, e));
          HopGroup *dst = g_ptr_array_index (groups, g_array_index (to, guint, e));

          if (src == best && dst->n_before > 0)
            dst->n_before--;
        }
    }
  return out;
}
