/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-route.h: from what the store holds about one message to its status and to the
 * JSON of GetRoute and List (docs/dbus-api.md).
 *
 * Pure functions over the store's records and libmsgtrk's models: no I/O, no D-Bus. The
 * daemon reads the records, these functions compute; so GetStatus/GetRoute never touch
 * the network or the keyring.
 *
 * Route hops come from three sources: the latest tracker run (MTQP, "mtqp"), each
 * recipient entry of a stored DSN ("dsn"), and the Received: chain in a DSN's returned
 * headers ("trace"); a fourth, the trace records relays return for Harrison's
 * Content-Track ("harrison", msgtrkd-harrison.c), adds its own hops. The MTQP hops of the
 * latest run are kept in the newest snapshot, so they survive a restart.
 * msgtrkd_route_merge_hops() makes one hop per server of them all (docs/route-merge.md).
 *
 * "sent" is when the message left: the time the mail client reported it sent, moved back
 * to the earliest Arrival-Date a server reported (which the client's report follows by
 * the time the upload took), so no hop reads earlier than "Sent"; for a message tracked
 * from a link (no client report), that earliest Arrival-Date alone, or null (unknown).
 *
 * Never: see or write the secret A (nothing here gets it).
 */
#pragma once

#include <json-glib/json-glib.h>
#include <msgtrk.h>

#include "msgtrkd-store.h"

G_BEGIN_DECLS

/** MSGTRKD_ROUTE_MAX_TRACE_HOPS: most Received: hops shown per recipient. */
#define MSGTRKD_ROUTE_MAX_TRACE_HOPS 64

/** MSGTRKD_ROUTE_MAX_CLOCK_SKEW: seconds before Prepare that the earliest Arrival-Date of
 * a report may read and still be taken as the time the message was sent (a server's
 * clock and ours differ a little; one that differs more is not believed). Likewise the
 * most a report's own date is believed past its arrival when the store decides which
 * word of a reporter is newest (msgtrkd-tracking.c, store_report()). */
#define MSGTRKD_ROUTE_MAX_CLOCK_SKEW 300

/** MSGTRKD_ROUTE_MAX_MERGE_HOPS: most hops (pieces of evidence) of one recipient that
 * msgtrkd_route_merge_hops() considers; the rest are dropped with a debug line. */
#define MSGTRKD_ROUTE_MAX_MERGE_HOPS 512

/*
 * Where a hop's evidence comes from (the "source" member), weakest first: at equal rank
 * and equal time the stronger source decides a merged hop's state. A new source is one
 * more value here and one more row in msgtrkd-route.c's hop_sources table
 * (docs/route-merge.md).
 */
typedef enum
{
  MSGTRKD_HOP_SOURCE_OTHER, /* a source this daemon does not know */
  MSGTRKD_HOP_SOURCE_TRACE, /* a Received: field of a DSN's returned headers */
  MSGTRKD_HOP_SOURCE_HARRISON, /* a Received: field of a relay's trace record (Content-Track) */
  MSGTRKD_HOP_SOURCE_MTQP,  /* an MTQP answer of the latest tracker run */
  MSGTRKD_HOP_SOURCE_DSN,   /* a recipient entry of a stored DSN */
} MsgtrkdHopSource;

/* One stored report, parsed */
typedef struct
{
  char *source;          /* (owned) "mtqp", "dsn", "mdn" */
  char *origin;          /* (owned) (nullable) */
  gint64 received_at;    /* unix seconds */
  gint64 matched;        /* how it was tied to its message: a MsgtrkdReportMatch */
  GPtrArray *reports;    /* (owned) (element-type MsgtrkReport) empty for "harrison" */
  GBytes *trace;         /* (owned) (nullable) "harrison": the trace record (Received:) */
} MsgtrkdParsedReport;

void msgtrkd_parsed_report_free (MsgtrkdParsedReport *parsed);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsgtrkdParsedReport, msgtrkd_parsed_report_free)

GPtrArray    *msgtrkd_route_parse_stored     (GPtrArray *stored_reports);

MsgtrkStatus *msgtrkd_route_compute_status   (const MsgtrkdMessage *message,
                                              GPtrArray            *parsed);

MsgtrkTrackingMode msgtrkd_message_get_tracking_mode (const MsgtrkdMessage *message);
void               msgtrkd_message_set_tracking_mode (MsgtrkdMessage    *message,
                                                      MsgtrkTrackingMode mode);

MsgtrkMessageState msgtrkd_route_overall     (const MsgtrkdMessage *message,
                                              MsgtrkStatus         *status,
                                              gboolean              have_reports,
                                              char                **summary,
                                              gboolean             *final);

JsonObject   *msgtrkd_route_received_hop     (const char  *source,
                                             MsgtrkHop   *hop,
                                             const char  *reporting_mta);
JsonObject   *msgtrkd_route_hops_from_route  (MsgtrkRoute *route);
JsonObject   *msgtrkd_route_hops_from_json   (const char  *route_json);
JsonObject   *msgtrkd_route_hops_from_object (JsonObject  *route);

char         *msgtrkd_route_build_json       (const MsgtrkdMessage *message,
                                              MsgtrkStatus         *status,
                                              JsonObject           *mtqp_hops,
                                              GPtrArray            *parsed,
                                              GPtrArray            *events,
                                              const char * const   *warnings,
                                              gboolean              with_poll_times);

char         *msgtrkd_route_list_json        (GPtrArray *messages);

gint64        msgtrkd_route_sent_time        (const MsgtrkdMessage *message,
                                              gint64                earliest_arrival);

char         *msgtrkd_format_time            (gint64 unix_seconds);

MsgtrkdHopSource msgtrkd_hop_source_from_string (const char *id);
char         *msgtrkd_route_hop_server_key   (JsonObject *hop);
JsonArray    *msgtrkd_route_merge_hops       (JsonArray  *hops);

G_END_DECLS
