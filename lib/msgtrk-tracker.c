/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-tracker.c: follow `transferred` referrals across MTQP servers into a Route.
 *
 * Public API: MsgtrkTracker (msgtrk_tracker_track_async/_finish/_sync), MsgtrkRoute and
 * MsgtrkRouteHop (see msgtrk-tracker.h for the model).
 *
 * How a run goes: a run tracks one message (track) or several (track_batch). Each
 * ServerQuery is one MTQP session with one server (name lower-cased, trailing dot
 * removed) asking about every message that needs that server and joined before the
 * session started: that is how a batch costs one session per server, TRACKs pipelined.
 * The first session is the start domain's, waited on by every recipient of every message.
 * When a server answers, each recipient waiting on it gets one hop per matching entry in
 * the answer (a chaining server returns several reports, one per hop), and the last hop
 * decides what happens next: `transferred` with a Remote-MTA asks that server (reusing an
 * answer already there, or joining a session not yet started); anything else ends the
 * recipient's chain.
 * Different servers are queried concurrently, at most MSGTRK_TRACKER_MAX_CONCURRENT at
 * once; the rest wait in a queue. The run completes when nothing is in flight or queued.
 *
 * Broken links: an error from a server (unreachable, -TEMP, -ERR, TLS, timeout), an
 * answer that does not mention the recipient, a `transferred` without Remote-MTA, a
 * referral back to a server already on the recipient's path, or a path longer than
 * MSGTRK_TRACKER_MAX_HOPS becomes a hop with an error; the run goes on for the others.
 *
 * Never: keep the secret past the run (wiped in track_run_free), put it in a message.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-mtqp-answer-private.h"
#include "msgtrk-private.h"

/* ---- MsgtrkRouteHop ---- */

struct _MsgtrkRouteHop
{
  GObject parent_instance;

  char *server;                 /* (owned) the name that was asked */
  char *tls_description;        /* (owned) (nullable) */
  char *server_address;         /* (owned) (nullable) numeric address of the server asked */
  MsgtrkReport *report;         /* (owned) (nullable) the report the entry belongs to */
  MsgtrkRecipientReport *entry; /* (owned) (nullable) NULL for a broken link */
  GError *error;                /* (owned) (nullable) set for a broken link */
};

/**
 * MsgtrkRouteHop:
 *
 * One hop of one recipient's route: a server that handled the message, what it said and
 * when, and where the evidence came from.
 *
 * Since: 1.0
 */
G_DEFINE_FINAL_TYPE (MsgtrkRouteHop, msgtrk_route_hop, G_TYPE_OBJECT)

static void
msgtrk_route_hop_finalize (GObject *object)
{
  MsgtrkRouteHop *self = MSGTRK_ROUTE_HOP (object);

  g_free (self->server);
  g_free (self->tls_description);
  g_free (self->server_address);
  g_clear_object (&self->report);
  g_clear_object (&self->entry);
  g_clear_error (&self->error);
  G_OBJECT_CLASS (msgtrk_route_hop_parent_class)->finalize (object);
}

static void
msgtrk_route_hop_class_init (MsgtrkRouteHopClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_route_hop_finalize;
}

static void
msgtrk_route_hop_init (MsgtrkRouteHop *self)
{
}

static MsgtrkRouteHop *
route_hop_new (const char            *server,
               const char            *tls_description,
               MsgtrkReport          *report,
               MsgtrkRecipientReport *entry,
               const GError          *error)
{
  MsgtrkRouteHop *hop = g_object_new (MSGTRK_TYPE_ROUTE_HOP, NULL);

  hop->server = g_strdup (server);
  hop->tls_description = g_strdup (tls_description);
  hop->report = report ? g_object_ref (report) : NULL;
  hop->entry = entry ? g_object_ref (entry) : NULL;
  hop->error = error ? g_error_copy (error) : NULL;
  return hop;
}

/**
 * msgtrk_route_hop_get_server:
 * @self: a hop
 *
 * Gets the server that was asked for this hop.
 *
 * Returns: the server name that was asked for this hop (a domain or an MTA host name)
 *
 * Since: 1.0
 */
const char *
msgtrk_route_hop_get_server (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->server;
}

/**
 * msgtrk_route_hop_get_reporting_mta:
 * @self: a hop
 *
 * Gets the MTA that reported this hop.
 *
 * Returns: (nullable): the Reporting-MTA of the answer, or %NULL for a broken link
 *
 * Since: 1.0
 */
const char *
msgtrk_route_hop_get_reporting_mta (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->report ? msgtrk_report_get_reporting_mta (self->report) : NULL;
}

/**
 * msgtrk_route_hop_get_entry:
 * @self: a hop
 *
 * Gets the recipient's entry in the server's answer.
 *
 * Returns: (transfer none) (nullable): the recipient's entry in the server's answer
 *   (action, status, Remote-MTA, dates, diagnostic), or %NULL for a broken link
 *
 * Since: 1.0
 */
MsgtrkRecipientReport *
msgtrk_route_hop_get_entry (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->entry;
}

/**
 * msgtrk_route_hop_get_report:
 * @self: a hop
 *
 * Gets the report this hop came from.
 *
 * Returns: (transfer none) (nullable): the whole report the entry belongs to
 *
 * Since: 1.0
 */
MsgtrkReport *
msgtrk_route_hop_get_report (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->report;
}

/**
 * msgtrk_route_hop_get_action:
 * @self: a hop
 *
 * Gets the action the hop's server reported.
 *
 * Returns: the entry's action, %MSGTRK_ACTION_NONE for a broken link
 *
 * Since: 1.0
 */
MsgtrkAction
msgtrk_route_hop_get_action (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), MSGTRK_ACTION_NONE);
  return self->entry ? msgtrk_recipient_report_get_action (self->entry) : MSGTRK_ACTION_NONE;
}

/**
 * msgtrk_route_hop_get_arrival_date:
 * @self: a hop
 *
 * Gets when the message arrived at this hop.
 *
 * Returns: (transfer none) (nullable): when the message arrived at this hop
 *
 * Since: 1.0
 */
GDateTime *
msgtrk_route_hop_get_arrival_date (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->report ? msgtrk_report_get_arrival_date (self->report) : NULL;
}

/**
 * msgtrk_route_hop_get_last_attempt_date:
 * @self: a hop
 *
 * Gets when this hop last tried to pass the message on.
 *
 * Returns: (transfer none) (nullable): when this hop last tried to pass the message on
 *
 * Since: 1.0
 */
GDateTime *
msgtrk_route_hop_get_last_attempt_date (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->entry ? msgtrk_recipient_report_get_last_attempt_date (self->entry) : NULL;
}

/**
 * msgtrk_route_hop_get_error:
 * @self: a hop
 *
 * Gets why the chain is broken at this hop.
 *
 * Returns: (transfer none) (nullable): why the chain is broken at this hop, or %NULL
 *
 * Since: 1.0
 */
const GError *
msgtrk_route_hop_get_error (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->error;
}

/**
 * msgtrk_route_hop_is_broken:
 * @self: a hop
 *
 * Checks whether the chain could not be followed at this hop.
 *
 * Returns: %TRUE if the chain could not be followed at this hop
 *
 * Since: 1.0
 */
gboolean
msgtrk_route_hop_is_broken (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), FALSE);
  return self->error != NULL;
}

/**
 * msgtrk_route_hop_get_tls_description:
 * @self: a hop
 *
 * Describes the TLS session with this hop's server.
 *
 * Returns: (nullable): the TLS version and cipher of the session with this hop's server,
 *   or %NULL if the session was not encrypted
 *
 * Since: 1.0
 */
const char *
msgtrk_route_hop_get_tls_description (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->tls_description;
}

/**
 * msgtrk_route_hop_get_server_address:
 * @self: a hop
 *
 * The numeric address (IPv4 or IPv6, no port, no brackets) of the MTQP server the answer
 * behind this hop came from: the address the session actually connected to, whatever
 * name discovery or a host override led to. A chaining server's answer names several
 * reporting MTAs; each of its hops carries the address of the server asked, not of its
 * reporting MTA.
 *
 * Returns: (nullable): the address, or %NULL if no session answered (a broken link
 *   that was never reached, a limit, a loop)
 *
 * Since: 1.0
 */
const char *
msgtrk_route_hop_get_server_address (MsgtrkRouteHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE_HOP (self), NULL);
  return self->server_address;
}

/* ---- MsgtrkRoute ---- */

struct _MsgtrkRoute
{
  GObject parent_instance;

  char *envid;            /* (owned) */
  GPtrArray *recipients;  /* (owned) (element-type utf8) display form, in order */
  GHashTable *hops;       /* (owned) recipient key → (owned) GPtrArray of MsgtrkRouteHop */
  GPtrArray *reports;     /* (owned) (element-type MsgtrkReport) every report received */
  MsgtrkStatus *status;   /* (owned) (nullable) built when the run ends */
  GError *error;          /* (owned) (nullable) no recipient known and the first server failed */
  guint servers_asked;
  char *found_host;       /* (owned) (nullable) the first server that answered +OK */
  guint16 found_port;     /* its port as discovery named it */
};

/**
 * MsgtrkRoute:
 *
 * The whole route of a tracked message, as a #MsgtrkTracker found it: the hops of each
 * recipient and each recipient's state.
 *
 * Since: 1.0
 */
G_DEFINE_FINAL_TYPE (MsgtrkRoute, msgtrk_route, G_TYPE_OBJECT)

static void
msgtrk_route_finalize (GObject *object)
{
  MsgtrkRoute *self = MSGTRK_ROUTE (object);

  g_free (self->envid);
  g_ptr_array_unref (self->recipients);
  g_hash_table_unref (self->hops);
  g_ptr_array_unref (self->reports);
  g_clear_object (&self->status);
  g_clear_error (&self->error);
  g_free (self->found_host);
  G_OBJECT_CLASS (msgtrk_route_parent_class)->finalize (object);
}

static void
msgtrk_route_class_init (MsgtrkRouteClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_route_finalize;
}

static void
msgtrk_route_init (MsgtrkRoute *self)
{
  self->recipients = g_ptr_array_new_with_free_func (g_free);
  self->hops = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) g_ptr_array_unref);
  self->reports = g_ptr_array_new_with_free_func (g_object_unref);
}

/* The key under which a recipient address is matched: normalised, then case-folded
 * (MsgtrkStatus matches case-insensitively too). NULL if it is not a mail address. */
static char *
recipient_key (const char *address)
{
  g_autofree char *normal = msgtrk_address_normalize (address);

  return normal ? g_ascii_strdown (normal, -1) : NULL;
}

/* Add a recipient if it is new; returns its key (owned by the route) or NULL. */
static const char *
route_add_recipient (MsgtrkRoute *self,
                     const char  *address)
{
  g_autofree char *key = recipient_key (address);
  gpointer orig_key = NULL;

  if (key == NULL)
    return NULL;
  if (g_hash_table_lookup_extended (self->hops, key, &orig_key, NULL))
    return orig_key;
  g_ptr_array_add (self->recipients, msgtrk_address_normalize (address));
  orig_key = g_steal_pointer (&key);
  g_hash_table_insert (self->hops, orig_key, g_ptr_array_new_with_free_func (g_object_unref));
  return orig_key;
}

/**
 * msgtrk_route_get_envid:
 * @self: a route
 *
 * Gets the ENVID of the tracked message.
 *
 * Returns: the ENVID of the tracked message
 *
 * Since: 1.0
 */
const char *
msgtrk_route_get_envid (MsgtrkRoute *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE (self), NULL);
  return self->envid;
}

/**
 * msgtrk_route_list_recipients:
 * @self: a route
 *
 * Lists the recipients of the route.
 *
 * Returns: (transfer full): the recipients, normalised (msgtrk_address_normalize()), in
 *   the order given to the tracker or first reported
 *
 * Since: 1.0
 */
char **
msgtrk_route_list_recipients (MsgtrkRoute *self)
{
  g_autoptr (GStrvBuilder) builder = NULL;

  g_return_val_if_fail (MSGTRK_IS_ROUTE (self), NULL);

  builder = g_strv_builder_new ();
  for (guint i = 0; i < self->recipients->len; i++)
    g_strv_builder_add (builder, g_ptr_array_index (self->recipients, i));
  return g_strv_builder_end (builder);
}

/**
 * msgtrk_route_get_hops:
 * @self: a route
 * @recipient: a recipient address (any form msgtrk_address_normalize() accepts)
 *
 * Gets the hops of one recipient's route.
 *
 * Returns: (transfer none) (nullable) (element-type MsgtrkRouteHop): the recipient's hops,
 *   first server first, or %NULL if @recipient is not part of the route
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_route_get_hops (MsgtrkRoute *self,
                       const char  *recipient)
{
  g_autofree char *key = NULL;

  g_return_val_if_fail (MSGTRK_IS_ROUTE (self), NULL);
  g_return_val_if_fail (recipient != NULL, NULL);

  key = recipient_key (recipient);
  return key ? g_hash_table_lookup (self->hops, key) : NULL;
}

/**
 * msgtrk_route_get_reports:
 * @self: a route
 *
 * Gets every report the tracking run gathered.
 *
 * Returns: (transfer none) (element-type MsgtrkReport): every report received in the
 *   run, in the order they arrived (for storing and for merging with DSNs and MDNs)
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_route_get_reports (MsgtrkRoute *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE (self), NULL);
  return self->reports;
}

/**
 * msgtrk_route_get_status:
 * @self: a route
 *
 * Gets the state of each recipient.
 *
 * Returns: (transfer none): each recipient's state computed from all the reports of the run
 *
 * Since: 1.0
 */
MsgtrkStatus *
msgtrk_route_get_status (MsgtrkRoute *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE (self), NULL);
  return self->status;
}

/**
 * msgtrk_route_get_found_server:
 * @self: a route
 * @port: (out) (optional): the server's port as discovery named it (an SRV record's port,
 *   else %MSGTRK_MTQP_PORT)
 *
 * The MTQP server that discovery found for the message and that answered it: the server
 * an mtqp:// URL for the message should name (not the submission host, which may be
 * `localhost` or an address only the sender can reach).
 *
 * Returns: (nullable): its host name, or %NULL if the first server did not answer with
 *   tracking data in this run
 *
 * Since: 1.0
 */
const char *
msgtrk_route_get_found_server (MsgtrkRoute *self,
                               guint16     *port)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE (self), NULL);

  if (port != NULL)
    *port = self->found_port;
  return self->found_host;
}

/**
 * msgtrk_route_get_servers_asked:
 * @self: a route
 *
 * Counts the servers the tracking run asked.
 *
 * Returns: how many distinct servers the run asked (a server is asked in one MTQP
 *   session per batch of messages that need it at once: a run of several messages may
 *   ask a server again, in a new session, for a message that came to need it after its
 *   first session started)
 *
 * Since: 1.0
 */
guint
msgtrk_route_get_servers_asked (MsgtrkRoute *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE (self), 0);
  return self->servers_asked;
}

/**
 * msgtrk_route_get_error:
 * @self: a route
 *
 * Why a route has no recipients at all: no recipient was given, and the first server
 * could not be asked or refused (e.g. a wrong secret). Otherwise errors are broken links
 * in the hops.
 *
 * Returns: (transfer none) (nullable): the first server's error, or %NULL
 *
 * Since: 1.0
 */
const GError *
msgtrk_route_get_error (MsgtrkRoute *self)
{
  g_return_val_if_fail (MSGTRK_IS_ROUTE (self), NULL);
  return self->error;
}

/* ---- MsgtrkTracker ---- */

struct _MsgtrkTracker
{
  GObject parent_instance;

  MsgtrkMtqpClient *client; /* (owned) */
};

/**
 * MsgtrkTracker:
 *
 * Tracks a message from start to end: finds the MTQP servers along its route, queries
 * them with a #MsgtrkMtqpClient, merges the answers with the delivery reports it was given,
 * and makes a #MsgtrkRoute.
 *
 * Since: 1.0
 */
G_DEFINE_FINAL_TYPE (MsgtrkTracker, msgtrk_tracker, G_TYPE_OBJECT)

static void
msgtrk_tracker_finalize (GObject *object)
{
  MsgtrkTracker *self = MSGTRK_TRACKER (object);

  g_clear_object (&self->client);
  G_OBJECT_CLASS (msgtrk_tracker_parent_class)->finalize (object);
}

static void
msgtrk_tracker_class_init (MsgtrkTrackerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_tracker_finalize;
}

static void
msgtrk_tracker_init (MsgtrkTracker *self)
{
}

/**
 * msgtrk_tracker_new:
 * @client: the MTQP client to query servers with (its TLS policy, timeouts, overrides)
 *
 * Creates a tracker that queries servers with @client.
 *
 * Returns: (transfer full): a new tracker
 *
 * Since: 1.0
 */
MsgtrkTracker *
msgtrk_tracker_new (MsgtrkMtqpClient *client)
{
  MsgtrkTracker *self;

  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (client), NULL);

  self = g_object_new (MSGTRK_TYPE_TRACKER, NULL);
  self->client = g_object_ref (client);
  return self;
}

/**
 * msgtrk_tracker_get_client:
 * @self: a tracker
 *
 * Gets the MTQP client the tracker queries servers with.
 *
 * Returns: (transfer none): the MTQP client the tracker uses
 *
 * Since: 1.0
 */
MsgtrkMtqpClient *
msgtrk_tracker_get_client (MsgtrkTracker *self)
{
  g_return_val_if_fail (MSGTRK_IS_TRACKER (self), NULL);
  return self->client;
}

/* One message of a run. */
typedef struct
{
  char *envid;          /* (owned) */
  char *secret;         /* (owned) wiped on free */
  MsgtrkRoute *route;   /* (owned) */
  gboolean learn;       /* take the recipients from the first server's answer */
} TrackMessage;

/* A recipient of one message waiting for a server's answer. */
typedef struct
{
  guint msg;
  const char *rkey;     /* (not owned) a key of that message's route->hops */
} Waiter;

/* One MTQP session with one server, asking about one or more messages (pipelined). */
typedef struct
{
  char *name;           /* (owned) as it was named (display) */
  char *key;            /* (owned) msgtrk_host_normalize (name) */
  gboolean is_start;
  gboolean started;
  gboolean done;
  GArray *msgs;         /* (owned) (element-type guint) messages asked, in order */
  GPtrArray *answers;   /* (owned) (nullable) (element-type MsgtrkMtqpAnswer) by msgs index */
  GError *error;        /* (owned) (nullable) the session failed as a whole */
  GArray *waiters;      /* (owned) (element-type Waiter) */
} ServerQuery;

typedef struct
{
  MsgtrkTracker *tracker;  /* (owned) */
  GPtrArray *messages;     /* (owned) (element-type TrackMessage) */
  GPtrArray *queries;      /* (owned) (element-type ServerQuery) every session of the run */
  GHashTable *current;     /* (owned) server key → (not owned) newest ServerQuery for it */
  GQueue queue;            /* ServerQuery waiting for a slot (not owned) */
  guint in_flight;
} TrackRun;

static void
track_message_free (TrackMessage *m)
{
  g_free (m->envid);
  msgtrk_secure_free_string (m->secret);
  g_clear_object (&m->route);
  g_free (m);
}

static void
server_query_free (ServerQuery *q)
{
  g_free (q->name);
  g_free (q->key);
  g_array_unref (q->msgs);
  g_clear_pointer (&q->answers, g_ptr_array_unref);
  g_clear_error (&q->error);
  g_array_unref (q->waiters);
  g_free (q);
}

static void
track_run_free (TrackRun *run)
{
  g_clear_object (&run->tracker);
  g_ptr_array_unref (run->messages);
  g_hash_table_unref (run->current);
  g_ptr_array_unref (run->queries);
  g_queue_clear (&run->queue);
  g_free (run);
}

static void query_start (GTask *task, ServerQuery *q);
static void recipient_follow (GTask *task, ServerQuery *q, guint msg, const char *rkey);

static TrackMessage *
run_message (TrackRun *run,
             guint     msg)
{
  return g_ptr_array_index (run->messages, msg);
}

static void
append_hop (MsgtrkRoute    *route,
            const char     *rkey,
            MsgtrkRouteHop *hop)
{
  GPtrArray *hops = g_hash_table_lookup (route->hops, rkey);

  g_ptr_array_add (hops, hop);
}

static void
append_broken (MsgtrkRoute  *route,
               const char   *rkey,
               const char   *server,
               const GError *error)
{
  append_hop (route, rkey, route_hop_new (server, NULL, NULL, NULL, error));
}

/* Position of message @msg in session @q, or -1. */
static int
query_index_of (ServerQuery *q,
                guint        msg)
{
  for (guint i = 0; i < q->msgs->len; i++)
    if (g_array_index (q->msgs, guint, i) == msg)
      return (int) i;
  return -1;
}

static ServerQuery *
query_new (TrackRun   *run,
           const char *name,
           char       *key)
{
  ServerQuery *q = g_new0 (ServerQuery, 1);

  q->name = g_strdup (name);
  q->key = key;
  q->msgs = g_array_new (FALSE, FALSE, sizeof (guint));
  q->waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));
  g_ptr_array_add (run->queries, q);
  g_hash_table_replace (run->current, q->key, q);
  return q;
}

static void
query_add_waiter (ServerQuery *q,
                  guint        msg,
                  const char  *rkey)
{
  Waiter w = { msg, rkey };

  g_array_append_val (q->waiters, w);
}

/* Ask server @name about message @msg on behalf of recipient @rkey: join a session that
 * has not started yet (so that messages needing the same server share one session), reuse
 * an answer already there, or open a new session. */
static void
server_request (GTask      *task,
                const char *name,
                guint       msg,
                const char *rkey)
{
  TrackRun *run = g_task_get_task_data (task);
  g_autofree char *key = msgtrk_host_normalize (name);
  ServerQuery *q = g_hash_table_lookup (run->current, key);
  int idx = q ? query_index_of (q, msg) : -1;

  if (q != NULL && idx >= 0)
    {
      if (q->done)
        recipient_follow (task, q, msg, rkey);
      else
        query_add_waiter (q, msg, rkey);
      return;
    }
  if (q != NULL && !q->started)
    {
      g_array_append_val (q->msgs, msg);
      query_add_waiter (q, msg, rkey);
      return;
    }
  if (q == NULL && g_hash_table_size (run->current) >= MSGTRK_TRACKER_MAX_SERVERS)
    {
      g_autoptr (GError) error =
        g_error_new (MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                     _("Not asking %s: this run already involves %d servers"), name,
                     MSGTRK_TRACKER_MAX_SERVERS);
      append_broken (run_message (run, msg)->route, rkey, name, error);
      return;
    }

  /* Queued, not started: every other message that needs this server while the answer
   * that led here is being followed joins the same session. The caller starts queued
   * sessions once it has followed all its waiters. */
  q = query_new (run, name, g_steal_pointer (&key));
  g_array_append_val (q->msgs, msg);
  query_add_waiter (q, msg, rkey);
  g_queue_push_tail (&run->queue, q);
}

/* Does this entry speak about recipient @rkey? */
static gboolean
entry_matches (MsgtrkRecipientReport *entry,
               const char            *rkey)
{
  const char *addrs[] = {
    msgtrk_recipient_report_get_original_recipient (entry),
    msgtrk_recipient_report_get_final_recipient (entry),
  };

  for (guint i = 0; i < G_N_ELEMENTS (addrs); i++)
    {
      g_autofree char *key = addrs[i] ? recipient_key (addrs[i]) : NULL;

      if (key != NULL && strcmp (key, rkey) == 0)
        return TRUE;
    }
  return FALSE;
}

/* Is @server_name already on the recipient's path (a referral loop)? */
static gboolean
path_contains (GPtrArray  *hops,
               const char *server_name)
{
  g_autofree char *key = msgtrk_host_normalize (server_name);

  for (guint i = 0; i < hops->len; i++)
    {
      MsgtrkRouteHop *hop = g_ptr_array_index (hops, i);
      const char *mta = msgtrk_route_hop_get_reporting_mta (hop);
      g_autofree char *hop_key = msgtrk_host_normalize (hop->server);
      g_autofree char *mta_key = mta ? msgtrk_host_normalize (mta) : NULL;

      if (strcmp (hop_key, key) == 0 || (mta_key && strcmp (mta_key, key) == 0))
        return TRUE;
    }
  return FALSE;
}

static void
append_too_long (MsgtrkRoute *route,
                 const char  *rkey,
                 const char  *server)
{
  g_autoptr (GError) error =
    g_error_new (MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                 _("The route is longer than %d hops; not following it further"),
                 MSGTRK_TRACKER_MAX_HOPS);

  append_broken (route, rkey, server, error);
}

/* Session @q has answered: give recipient @rkey of message @msg its hops and decide where
 * to go next. */
static void
recipient_follow (GTask       *task,
                  ServerQuery *q,
                  guint        msg,
                  const char  *rkey)
{
  TrackRun *run = g_task_get_task_data (task);
  MsgtrkRoute *route = run_message (run, msg)->route;
  GPtrArray *hops = g_hash_table_lookup (route->hops, rkey);
  MsgtrkMtqpAnswer *answer;
  MsgtrkRecipientReport *last = NULL;
  GPtrArray *reports;
  const char *remote;
  int idx = query_index_of (q, msg);

  g_assert (idx >= 0);
  if (q->error != NULL)
    {
      append_broken (route, rkey, q->name, q->error);
      return;
    }
  answer = g_ptr_array_index (q->answers, idx);
  if (!msgtrk_mtqp_answer_is_success (answer))
    {
      append_broken (route, rkey, q->name, msgtrk_mtqp_answer_get_error (answer));
      return;
    }

  reports = msgtrk_mtqp_answer_get_reports (answer);
  for (guint i = 0; reports && i < reports->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (reports, i);
      GPtrArray *entries = msgtrk_report_get_recipients (report);

      for (guint j = 0; j < entries->len; j++)
        {
          MsgtrkRecipientReport *entry = g_ptr_array_index (entries, j);

          if (!entry_matches (entry, rkey))
            continue;
          if (hops->len >= MSGTRK_TRACKER_MAX_HOPS)
            {
              append_too_long (route, rkey, q->name);
              return;
            }
          {
            MsgtrkRouteHop *hop =
              route_hop_new (q->name, msgtrk_mtqp_answer_get_tls_description (answer), report,
                             entry, NULL);

            hop->server_address = g_strdup (answer->server_address);
            append_hop (route, rkey, hop);
          }
          last = entry;
        }
    }

  if (last == NULL)
    {
      g_autoptr (GError) error =
        g_error_new (MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                     _("%s answered but has no record of this recipient"), q->name);
      append_broken (route, rkey, q->name, error);
      return;
    }

  if (msgtrk_recipient_report_get_action (last) != MSGTRK_ACTION_TRANSFERRED)
    return; /* delivered, failed, relayed, opaque, expanded, delayed: the chain ends here */

  remote = msgtrk_recipient_report_get_remote_mta (last);
  if (remote == NULL || *remote == '\0')
    {
      g_autoptr (GError) error =
        g_error_new (MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                     _("%s says the message was transferred but does not name the next server"),
                     q->name);
      append_broken (route, rkey, q->name, error);
      return;
    }
  if (path_contains (hops, remote))
    {
      g_autoptr (GError) error =
        g_error_new (MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                     _("Routing loop: %s refers back to %s, which is already on the route"),
                     q->name, remote);
      append_broken (route, rkey, remote, error);
      return;
    }
  if (hops->len >= MSGTRK_TRACKER_MAX_HOPS)
    {
      append_too_long (route, rkey, remote);
      return;
    }
  server_request (task, remote, msg, rkey);
}

/* Every session is over: compute each route's status and complete the task. */
static void
run_maybe_finish (GTask *task)
{
  TrackRun *run = g_task_get_task_data (task);
  g_autoptr (GPtrArray) routes = NULL;
  g_autoptr (GDateTime) now = NULL;

  if (run->in_flight > 0 || !g_queue_is_empty (&run->queue))
    return;

  now = g_date_time_new_now_utc ();
  routes = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint m = 0; m < run->messages->len; m++)
    {
      MsgtrkRoute *route = run_message (run, m)->route;
      g_autoptr (GPtrArray) names = g_ptr_array_new ();

      for (guint i = 0; i < route->recipients->len; i++)
        g_ptr_array_add (names, g_ptr_array_index (route->recipients, i));
      g_ptr_array_add (names, NULL);

      route->status = msgtrk_status_new ((const char *const *) names->pdata);
      for (guint i = 0; i < route->reports->len; i++)
        msgtrk_status_add_report (route->status, g_ptr_array_index (route->reports, i), now);
      route->servers_asked = g_hash_table_size (run->current);
      g_ptr_array_add (routes, g_object_ref (route));
    }

  g_task_return_pointer (task, g_steal_pointer (&routes), (GDestroyNotify) g_ptr_array_unref);
  g_object_unref (task); /* the run's own reference */
}

typedef struct
{
  GTask *task;      /* (owned) */
  ServerQuery *q;   /* (not owned) lives in run->queries */
} QueryCtx;

/* The first server tells who the recipients are when the caller did not. */
static void
learn_recipients (TrackRun    *run,
                  ServerQuery *q)
{
  for (guint i = 0; i < q->msgs->len; i++)
    {
      guint msg = g_array_index (q->msgs, guint, i);
      TrackMessage *m = run_message (run, msg);
      MsgtrkMtqpAnswer *answer = NULL;
      GPtrArray *reports = NULL;

      if (!m->learn)
        continue;
      /* No answers when the session failed as a whole (q->error): that error is the
       * route's, below. */
      if (q->answers != NULL)
        answer = g_ptr_array_index (q->answers, i);
      if (answer != NULL && msgtrk_mtqp_answer_is_success (answer))
        reports = msgtrk_mtqp_answer_get_reports (answer);
      for (guint r = 0; reports && r < reports->len; r++)
        {
          GPtrArray *entries = msgtrk_report_get_recipients (g_ptr_array_index (reports, r));

          for (guint j = 0; j < entries->len; j++)
            {
              MsgtrkRecipientReport *entry = g_ptr_array_index (entries, j);
              const char *addr = msgtrk_recipient_report_get_original_recipient (entry);
              guint before = m->route->recipients->len;
              const char *rkey;

              if (addr == NULL)
                addr = msgtrk_recipient_report_get_final_recipient (entry);
              rkey = addr ? route_add_recipient (m->route, addr) : NULL;
              if (rkey != NULL && m->route->recipients->len > before)
                query_add_waiter (q, msg, rkey);
            }
        }
      if (m->route->recipients->len == 0)
        {
          if (q->error != NULL)
            m->route->error = g_error_copy (q->error);
          else if (answer != NULL && !msgtrk_mtqp_answer_is_success (answer))
            m->route->error = g_error_copy (msgtrk_mtqp_answer_get_error (answer));
        }
    }
}

static void
query_ctx_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  QueryCtx *ctx = user_data;
  GTask *task = ctx->task;
  ServerQuery *q = ctx->q;
  TrackRun *run = g_task_get_task_data (task);
  g_autoptr (GPtrArray) answers = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) waiters = NULL;

  g_free (ctx);
  answers = msgtrk_mtqp_client_track_finish (MSGTRK_MTQP_CLIENT (source), result, &error);
  run->in_flight--;
  q->done = TRUE;

  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      /* Drain: the last session to end returns the cancellation. */
      if (run->in_flight == 0)
        {
          g_queue_clear (&run->queue);
          g_task_return_error_if_cancelled (task);
          g_object_unref (task); /* the run's own reference */
        }
      g_object_unref (task); /* the session's reference */
      return;
    }

  if (answers == NULL)
    q->error = g_steal_pointer (&error);
  else if (answers->len != q->msgs->len)
    q->error = g_error_new (MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                            _("%s gave %u answers to %u queries"), q->name, answers->len,
                            q->msgs->len);
  else
    {
      q->answers = g_ptr_array_ref (answers);
      for (guint i = 0; i < q->msgs->len; i++)
        {
          MsgtrkMtqpAnswer *answer = g_ptr_array_index (answers, i);
          MsgtrkRoute *route = run_message (run, g_array_index (q->msgs, guint, i))->route;
          GPtrArray *reports =
            msgtrk_mtqp_answer_is_success (answer) ? msgtrk_mtqp_answer_get_reports (answer)
                                                   : NULL;

          for (guint r = 0; reports && r < reports->len; r++)
            g_ptr_array_add (route->reports, g_object_ref (g_ptr_array_index (reports, r)));
          /* The MTQP server discovery found for the message, as a delegate can reach it. */
          if (q->is_start && reports != NULL && route->found_host == NULL
              && msgtrk_mtqp_answer_get_server_host (answer) != NULL)
            {
              route->found_host = g_strdup (msgtrk_mtqp_answer_get_server_host (answer));
              route->found_port = msgtrk_mtqp_answer_get_discovered_port (answer);
            }
        }
    }

  if (q->is_start)
    learn_recipients (run, q);

  /* Following a recipient may add waiters to other sessions, never to this finished one. */
  waiters = g_steal_pointer (&q->waiters);
  q->waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));
  for (guint i = 0; i < waiters->len; i++)
    {
      Waiter *w = &g_array_index (waiters, Waiter, i);

      recipient_follow (task, q, w->msg, w->rkey);
    }

  while (run->in_flight < MSGTRK_TRACKER_MAX_CONCURRENT && !g_queue_is_empty (&run->queue))
    query_start (task, g_queue_pop_head (&run->queue));

  run_maybe_finish (task);
  g_object_unref (task); /* the session's reference */
}

static void
query_start (GTask       *task,
             ServerQuery *q)
{
  TrackRun *run = g_task_get_task_data (task);
  g_autoptr (GPtrArray) envids = g_ptr_array_new ();
  g_autoptr (GPtrArray) secrets = g_ptr_array_new ();
  QueryCtx *ctx = g_new0 (QueryCtx, 1);

  for (guint i = 0; i < q->msgs->len; i++)
    {
      TrackMessage *m = run_message (run, g_array_index (q->msgs, guint, i));

      g_ptr_array_add (envids, m->envid);
      g_ptr_array_add (secrets, m->secret);
    }
  g_ptr_array_add (envids, NULL);
  g_ptr_array_add (secrets, NULL);

  q->started = TRUE;
  run->in_flight++;
  ctx->task = g_object_ref (task);
  ctx->q = q;
  msgtrk_mtqp_client_track_async (run->tracker->client, q->name,
                                  (const char *const *) envids->pdata,
                                  (const char *const *) secrets->pdata,
                                  g_task_get_cancellable (task), query_ctx_done, ctx);
}

/*
 * The preconditions of every track call, checked before a run starts. A run started with
 * arguments the MTQP client refuses would never complete (its first session would not
 * start), and the _sync forms would wait for it forever.
 */
static gboolean
track_args_valid (MsgtrkTracker      *self,
                  const char         *start_domain,
                  const char * const *envids,
                  const char * const *secrets)
{
  guint n;

  g_return_val_if_fail (MSGTRK_IS_TRACKER (self), FALSE);
  g_return_val_if_fail (start_domain != NULL && *start_domain != '\0', FALSE);
  g_return_val_if_fail (envids != NULL && envids[0] != NULL, FALSE);
  g_return_val_if_fail (secrets != NULL, FALSE);
  n = g_strv_length ((char **) envids);
  g_return_val_if_fail (n <= MSGTRK_MTQP_MAX_QUERIES, FALSE);
  g_return_val_if_fail (g_strv_length ((char **) secrets) == n, FALSE);
  return TRUE;
}

/* Start a run over one or more messages, all starting at @start_domain. */
static GTask *
run_start (MsgtrkTracker      *self,
           const char         *start_domain,
           const char * const *envids,
           const char * const *secrets,
           const char * const *recipients,
           GCancellable       *cancellable,
           GAsyncReadyCallback callback,
           gpointer            user_data,
           gpointer            source_tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  TrackRun *run = g_new0 (TrackRun, 1);
  ServerQuery *start;

  g_task_set_source_tag (task, source_tag);
  run->tracker = g_object_ref (self);
  run->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) track_message_free);
  run->queries = g_ptr_array_new_with_free_func ((GDestroyNotify) server_query_free);
  run->current = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&run->queue);
  g_task_set_task_data (task, run, (GDestroyNotify) track_run_free);

  start = query_new (run, start_domain, msgtrk_host_normalize (start_domain));
  start->is_start = TRUE;
  for (guint m = 0; envids[m] != NULL; m++)
    {
      TrackMessage *msg = g_new0 (TrackMessage, 1);

      msg->envid = g_strdup (envids[m]);
      msg->secret = g_strdup (secrets[m]);
      msg->route = g_object_new (MSGTRK_TYPE_ROUTE, NULL);
      msg->route->envid = g_strdup (envids[m]);
      msg->learn = (recipients == NULL || recipients[0] == NULL);
      g_ptr_array_add (run->messages, msg);
      g_array_append_val (start->msgs, m);
      for (guint i = 0; recipients && recipients[i]; i++)
        {
          guint before = msg->route->recipients->len;
          const char *rkey = route_add_recipient (msg->route, recipients[i]);

          if (rkey != NULL && msg->route->recipients->len > before)
            query_add_waiter (start, m, rkey);
        }
    }
  query_start (task, start);
  return task;
}

/**
 * msgtrk_tracker_track_async:
 * @self: a tracker
 * @start_domain: the domain (or host) of the submission server: where tracking starts
 * @envid: the message's ENVID
 * @secret_base64: the message's tracking secret A, base64 (the mtrk-secret)
 * @recipients: (array zero-terminated=1) (nullable): the recipients the message was sent
 *   to, or %NULL to take them from the first server's answer
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the route is complete
 * @user_data: data for @callback
 *
 * Follows the message from @start_domain across every server that says `transferred`,
 * querying different servers concurrently, and builds its #MsgtrkRoute. The secret is
 * copied and the copy wiped when the run ends.
 *
 * Since: 1.0
 */
void
msgtrk_tracker_track_async (MsgtrkTracker      *self,
                            const char         *start_domain,
                            const char         *envid,
                            const char         *secret_base64,
                            const char * const *recipients,
                            GCancellable       *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer            user_data)
{
  const char *envids[] = { envid, NULL };
  const char *secrets[] = { secret_base64, NULL };

  g_return_if_fail (track_args_valid (self, start_domain, envids, secrets));

  run_start (self, start_domain, envids, secrets, recipients, cancellable, callback, user_data,
             msgtrk_tracker_track_async);
}

/**
 * msgtrk_tracker_track_finish:
 * @self: a tracker
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes msgtrk_tracker_track_async(). A server that cannot be asked is a broken link in
 * the route, not an error here; this fails only when cancelled, or when no recipient is
 * known and the first server could not be asked.
 *
 * Returns: (transfer full): the route, or %NULL with @error set
 *
 * Since: 1.0
 */
MsgtrkRoute *
msgtrk_tracker_track_finish (MsgtrkTracker *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_autoptr (GPtrArray) routes = NULL;
  MsgtrkRoute *route;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == msgtrk_tracker_track_async,
                        NULL);

  routes = g_task_propagate_pointer (G_TASK (result), error);
  if (routes == NULL)
    return NULL;
  route = g_ptr_array_index (routes, 0);
  if (route->error != NULL)
    {
      g_propagate_error (error, g_error_copy (route->error));
      return NULL;
    }
  return g_object_ref (route);
}

/**
 * msgtrk_tracker_track_batch_async:
 * @self: a tracker
 * @start_domain: the domain (or host) of the submission server of every message
 * @envids: (array zero-terminated=1): the ENVIDs, 1 to %MSGTRK_MTQP_MAX_QUERIES
 * @secrets: (array zero-terminated=1): the base64 secret of each ENVID, in the same order
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when every route is complete
 * @user_data: data for @callback
 *
 * Tracks several messages in one run: every server is asked about all the messages that
 * need it at that moment in one MTQP session (TRACK commands pipelined), so that polling
 * many messages costs one session per server rather than one per message. Recipients are
 * taken from the first server's answer; a message the first server could not answer for
 * has a route without recipients and msgtrk_route_get_error() set.
 *
 * Since: 1.0
 */
void
msgtrk_tracker_track_batch_async (MsgtrkTracker      *self,
                                  const char         *start_domain,
                                  const char * const *envids,
                                  const char * const *secrets,
                                  GCancellable       *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer            user_data)
{
  g_return_if_fail (track_args_valid (self, start_domain, envids, secrets));

  run_start (self, start_domain, envids, secrets, NULL, cancellable, callback, user_data,
             msgtrk_tracker_track_batch_async);
}

/**
 * msgtrk_tracker_track_batch_finish:
 * @self: a tracker
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes msgtrk_tracker_track_batch_async(); fails only when cancelled.
 *
 * Returns: (transfer container) (element-type MsgtrkRoute): one route per ENVID, in order
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_tracker_track_batch_finish (MsgtrkTracker *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (
    g_task_get_source_tag (G_TASK (result)) == msgtrk_tracker_track_batch_async, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The _sync forms: run the async call in a private main context until it completes. */
static void
sync_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static void
sync_wait (GMainContext  *context,
           GAsyncResult **result)
{
  while (*result == NULL)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
}

/**
 * msgtrk_tracker_track_sync:
 * @self: a tracker
 * @start_domain: the domain (or host) of the submission server
 * @envid: the message's ENVID
 * @secret_base64: the message's tracking secret A, base64
 * @recipients: (array zero-terminated=1) (nullable): the recipients, or %NULL
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The blocking form of msgtrk_tracker_track_async(), for tools and threads: it runs in a
 * private main context. Never call it from a main loop's thread.
 *
 * Returns: (transfer full): the route, or %NULL with @error set
 *
 * Since: 1.0
 */
MsgtrkRoute *
msgtrk_tracker_track_sync (MsgtrkTracker      *self,
                           const char         *start_domain,
                           const char         *envid,
                           const char         *secret_base64,
                           const char * const *recipients,
                           GCancellable       *cancellable,
                           GError            **error)
{
  const char *envids[] = { envid, NULL };
  const char *secrets[] = { secret_base64, NULL };
  g_autoptr (GMainContext) context = NULL;
  g_autoptr (GAsyncResult) result = NULL;

  g_return_val_if_fail (track_args_valid (self, start_domain, envids, secrets), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  msgtrk_tracker_track_async (self, start_domain, envid, secret_base64, recipients,
                              cancellable, sync_done, &result);
  sync_wait (context, &result);
  return msgtrk_tracker_track_finish (self, result, error);
}

/**
 * msgtrk_tracker_track_batch_sync:
 * @self: a tracker
 * @start_domain: the domain (or host) of the submission server of every message
 * @envids: (array zero-terminated=1): the ENVIDs
 * @secrets: (array zero-terminated=1): the base64 secret of each ENVID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The blocking form of msgtrk_tracker_track_batch_async().
 *
 * Returns: (transfer container) (element-type MsgtrkRoute): one route per ENVID
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_tracker_track_batch_sync (MsgtrkTracker      *self,
                                 const char         *start_domain,
                                 const char * const *envids,
                                 const char * const *secrets,
                                 GCancellable       *cancellable,
                                 GError            **error)
{
  g_autoptr (GMainContext) context = NULL;
  g_autoptr (GAsyncResult) result = NULL;

  g_return_val_if_fail (track_args_valid (self, start_domain, envids, secrets), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  msgtrk_tracker_track_batch_async (self, start_domain, envids, secrets, cancellable,
                                    sync_done, &result);
  sync_wait (context, &result);
  return msgtrk_tracker_track_batch_finish (self, result, error);
}
