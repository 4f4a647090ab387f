/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-discovery-private.h: the order in which MTQP servers are tried (RFC 3887
 * section 2: SRV by RFC 2782, else MX by preference, else the domain), from DNS records
 * already looked up. No I/O: the client asks GResolver and gives the records here.
 *
 * What: a target list (GArray of MsgtrkMtqpTarget, lower-case host names) filled from SRV
 * records "(qqqs)" or MX records "(q&s)" as GResolver returns them.
 * Limits: at most MSGTRK_MTQP_MAX_TARGETS targets; later ones are dropped.
 * Never: looks anything up; keeps the caller's records.
 *
 * Internal to msgtrk: not installed, not part of the documented API.
 */
#pragma once

#include <glib.h>

#include "msgtrk-mtqp-client.h"

G_BEGIN_DECLS

typedef struct
{
  char   *host;  /* (owned) lower-case name */
  guint16 port;
} MsgtrkMtqpTarget;

void     msgtrk_mtqp_target_clear        (gpointer    target);
void     msgtrk_mtqp_targets_add         (GArray     *targets,
                                          const char *host,
                                          guint16     port);
gboolean msgtrk_mtqp_srv_says_no_service (GList      *records);
void     msgtrk_mtqp_targets_add_srv     (GArray     *targets,
                                          GList      *records,
                                          GRand      *rng);
void     msgtrk_mtqp_targets_add_mx      (GArray     *targets,
                                          GList      *records);

G_END_DECLS
