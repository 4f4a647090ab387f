/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqpd-chain.h: chaining referrals (RFC 3887 section 1, 2.5): for the recipients a
 * TRACK answer reports as `transferred`, mtqpd asks the next hop's MTQP server itself
 * (same ENVID and secret) and answers with its own part followed by those parts.
 *
 * Off unless configured (`chaining=true`): it forwards the client's secret to another
 * server. RFC 3888 (security considerations) and RFC 3887 section 11 let a chaining server
 * do so only at the same security level, so a query that came over TLS is chained only
 * over verified TLS (MSGTRK_TLS_POLICY_REQUIRED); otherwise STARTTLS is used when offered.
 *
 * Bounds (the depth of the chain that led to us is unknown): at most
 * MSGTRK_REPORT_MAX_PARTS parts, at most MTQPD_MAX_CHAIN_QUERIES next hops asked, and one
 * deadline (chain_timeout seconds) for all of them. Loops: a server already represented
 * in the parts (by Reporting-MTA), already asked, or named like this server is not asked;
 * a TRACK for an ENVID that this server is already chaining (a loop through other
 * servers back to us) is answered with the local part only.
 *
 * A failing next hop (unreachable, -ERR/-TEMP, TLS refused, timeout) only means no
 * extra part; it is logged (never the secret).
 */
#pragma once

#include <msgtrk.h>

G_BEGIN_DECLS

/** MTQPD_DEFAULT_CHAIN_TIMEOUT: seconds all next-hop queries of one TRACK may take. */
#define MTQPD_DEFAULT_CHAIN_TIMEOUT 10
/** MTQPD_MIN_CHAIN_TIMEOUT / MTQPD_MAX_CHAIN_TIMEOUT: chain_timeout range. */
#define MTQPD_MIN_CHAIN_TIMEOUT 1
#define MTQPD_MAX_CHAIN_TIMEOUT 120
/** MTQPD_MAX_CHAIN_QUERIES: most next-hop servers asked for one TRACK. */
#define MTQPD_MAX_CHAIN_QUERIES 8
/** MTQPD_MAX_CHAIN_OVERRIDES: most entries in [chain_overrides]. */
#define MTQPD_MAX_CHAIN_OVERRIDES 64
/** MTQPD_CHAINING_OPTION: the greeting option line advertised when chaining is on. */
#define MTQPD_CHAINING_OPTION "vnd.msgtrk.chaining"

typedef struct _MtqpdChain MtqpdChain;

MtqpdChain *mtqpd_chain_new          (const char   *hostname,
                                      const char   *ca_file,
                                      guint         timeout);
gboolean    mtqpd_chain_add_override (MtqpdChain   *self,
                                      const char   *name,
                                      const char   *address,
                                      GError      **error);
gboolean    mtqpd_chain_is_needed    (MsgtrkReport *local);
GPtrArray  *mtqpd_chain_collect      (MtqpdChain   *self,
                                      GPtrArray    *local,
                                      const char   *envid,
                                      const char   *secret_base64,
                                      gboolean      over_tls,
                                      const char   *peer,
                                      GCancellable *cancellable);
void        mtqpd_chain_free         (MtqpdChain   *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtqpdChain, mtqpd_chain_free)

G_END_DECLS
