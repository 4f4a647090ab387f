/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-tracker.h: follow a message across MTQP servers and build its Route.
 *
 * Starting from the submission server's domain, the tracker sends TRACK, reads each
 * recipient's entry, and for every `transferred` entry asks the server named in its
 * Remote-MTA next (discovery again, through MsgtrkMtqpClient), querying different servers
 * concurrently and each server at most once. A recipient's chain ends at delivered,
 * failed, relayed, opaque, expanded, or delayed (nothing newer exists past a delayed hop).
 *
 * The result is a MsgtrkRoute, the delivery map's model: per recipient, the ordered hops
 * (MsgtrkRouteHop) with the server asked and the address its session connected to, the
 * reporting MTA, times, action, status, and —
 * for a link that could not be followed — the error. A hop that answers -TEMP/-ERR, cannot
 * be reached, loops back, or lies past MSGTRK_TRACKER_MAX_HOPS becomes a broken link in the
 * route, never an abort of the whole tracking.
 *
 * Limits: MSGTRK_TRACKER_MAX_HOPS hops per recipient, MSGTRK_TRACKER_MAX_SERVERS servers
 * per run, MSGTRK_TRACKER_MAX_CONCURRENT queries in flight.
 *
 * Never: keep the secret after the run (the copy is wiped), put it in an error.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <gio/gio.h>

#include "msgtrk-visibility.h"
#include "msgtrk-mtqp-client.h"
#include "msgtrk-report.h"
#include "msgtrk-status.h"

G_BEGIN_DECLS

/**
 * MSGTRK_TRACKER_MAX_HOPS:
 *
 * most hops followed for one recipient.
 *
 * Since: 1.0
 */
#define MSGTRK_TRACKER_MAX_HOPS 16
/**
 * MSGTRK_TRACKER_MAX_SERVERS:
 *
 * most distinct servers asked in one run.
 *
 * Since: 1.0
 */
#define MSGTRK_TRACKER_MAX_SERVERS 64
/**
 * MSGTRK_TRACKER_MAX_CONCURRENT:
 *
 * most MTQP sessions open at once in one run.
 *
 * Since: 1.0
 */
#define MSGTRK_TRACKER_MAX_CONCURRENT 8

/* One hop of one recipient's route */
#define MSGTRK_TYPE_ROUTE_HOP (msgtrk_route_hop_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkRouteHop, msgtrk_route_hop, MSGTRK, ROUTE_HOP, GObject)

MSGTRK_AVAILABLE_IN_ALL
const char            *msgtrk_route_hop_get_server           (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char            *msgtrk_route_hop_get_reporting_mta    (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkRecipientReport *msgtrk_route_hop_get_entry            (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkReport          *msgtrk_route_hop_get_report           (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkAction           msgtrk_route_hop_get_action           (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
GDateTime             *msgtrk_route_hop_get_arrival_date     (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
GDateTime             *msgtrk_route_hop_get_last_attempt_date (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
const GError          *msgtrk_route_hop_get_error            (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean               msgtrk_route_hop_is_broken            (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char            *msgtrk_route_hop_get_tls_description  (MsgtrkRouteHop *self);
MSGTRK_AVAILABLE_IN_ALL
const char            *msgtrk_route_hop_get_server_address   (MsgtrkRouteHop *self);

/* The whole route */
#define MSGTRK_TYPE_ROUTE (msgtrk_route_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkRoute, msgtrk_route, MSGTRK, ROUTE, GObject)

MSGTRK_AVAILABLE_IN_ALL
const char    *msgtrk_route_get_envid          (MsgtrkRoute *self);
MSGTRK_AVAILABLE_IN_ALL
char         **msgtrk_route_list_recipients    (MsgtrkRoute *self);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray     *msgtrk_route_get_hops           (MsgtrkRoute *self,
                                                const char  *recipient);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray     *msgtrk_route_get_reports        (MsgtrkRoute *self);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkStatus  *msgtrk_route_get_status         (MsgtrkRoute *self);
MSGTRK_AVAILABLE_IN_ALL
guint          msgtrk_route_get_servers_asked  (MsgtrkRoute *self);
MSGTRK_AVAILABLE_IN_ALL
const char    *msgtrk_route_get_found_server   (MsgtrkRoute *self,
                                                guint16     *port);
MSGTRK_AVAILABLE_IN_ALL
const GError  *msgtrk_route_get_error          (MsgtrkRoute *self);

/* The tracker */
#define MSGTRK_TYPE_TRACKER (msgtrk_tracker_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkTracker, msgtrk_tracker, MSGTRK, TRACKER, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkTracker *msgtrk_tracker_new          (MsgtrkMtqpClient   *client);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkMtqpClient *msgtrk_tracker_get_client (MsgtrkTracker     *self);
MSGTRK_AVAILABLE_IN_ALL
void           msgtrk_tracker_track_async  (MsgtrkTracker      *self,
                                            const char         *start_domain,
                                            const char         *envid,
                                            const char         *secret_base64,
                                            const char * const *recipients,
                                            GCancellable       *cancellable,
                                            GAsyncReadyCallback callback,
                                            gpointer            user_data);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkRoute   *msgtrk_tracker_track_finish (MsgtrkTracker      *self,
                                            GAsyncResult       *result,
                                            GError            **error);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkRoute   *msgtrk_tracker_track_sync   (MsgtrkTracker      *self,
                                            const char         *start_domain,
                                            const char         *envid,
                                            const char         *secret_base64,
                                            const char * const *recipients,
                                            GCancellable       *cancellable,
                                            GError            **error);

MSGTRK_AVAILABLE_IN_ALL
void           msgtrk_tracker_track_batch_async  (MsgtrkTracker      *self,
                                                  const char         *start_domain,
                                                  const char * const *envids,
                                                  const char * const *secrets,
                                                  GCancellable       *cancellable,
                                                  GAsyncReadyCallback callback,
                                                  gpointer            user_data);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray     *msgtrk_tracker_track_batch_finish (MsgtrkTracker      *self,
                                                  GAsyncResult       *result,
                                                  GError            **error);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray     *msgtrk_tracker_track_batch_sync   (MsgtrkTracker      *self,
                                                  const char         *start_domain,
                                                  const char * const *envids,
                                                  const char * const *secrets,
                                                  GCancellable       *cancellable,
                                                  GError            **error);

G_END_DECLS
