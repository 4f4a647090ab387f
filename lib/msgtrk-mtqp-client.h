/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-client.h: the MTQP client (RFC 3887).
 *
 * A #MsgtrkMtqpClient holds configuration only (TLS policy, trust, timeouts, limits, host
 * overrides, the STARTTLS memory); it keeps no state on disk. Each track call opens one
 * session in a thread of libmsgtrk's own bounded pool (never GLib's shared one):
 *
 *   discovery  msgtrk_mtqp_client_track_async(): SRV `_mtqp._tcp.<domain>` (priority, then
 *              weight, RFC 2782; a lone target "." means "no service"), else the MX hosts
 *              of <domain> by preference, else <domain> itself; port 1038 unless SRV says
 *              otherwise. Each target's addresses are tried in turn; a target that cannot
 *              be reached, or greets negatively, passes to the next one.
 *              msgtrk_mtqp_client_track_host_async() skips discovery: one host and port.
 *   overrides  msgtrk_mtqp_client_add_host_override(): like curl --resolve, a name maps to
 *              an "address:port" before any DNS. An override for the queried domain itself
 *              replaces the whole discovery.
 *   greeting   `+OK/MTQP …` or `+OK+/MTQP …` with option lines; anything else fails the
 *              session (negative greetings: %MSGTRK_ERROR_SERVER_TEMP/_ERR/_BAD).
 *   STARTTLS   policy %MSGTRK_TLS_POLICY_OPPORTUNISTIC (default): used when offered; when a
 *              server that offered it before (the STARTTLS memory) no longer does, or a
 *              target of a domain one of whose targets offered it before does not, the
 *              session fails with %MSGTRK_ERROR_TLS_DOWNGRADE before any secret is sent,
 *              and no other target is tried (an attacker who blocks the remembered MX
 *              must not get the TRACK in clear text from the next one): show it as a
 *              warning; to go on regardless, remove the host or the domain from the
 *              memory or use %MSGTRK_TLS_POLICY_NONE. %MSGTRK_TLS_POLICY_REQUIRED: no
 *              STARTTLS → fails (%MSGTRK_ERROR_TLS_DOWNGRADE if remembered, else
 *              %MSGTRK_ERROR_TLS). %MSGTRK_TLS_POLICY_NONE: never STARTTLS. The memory
 *              holds lower-case host names ("name:port" off port 1038) and, for a
 *              discovered server, the domain asked as its SRV name ("_mtqp._tcp.domain",
 *              whether SRV, MX or the domain itself found the server); the caller
 *              persists it (get/set as a strv, "notify::starttls-hosts"). Certificates
 *              are always verified (chain and host name); a failed verification fails
 *              the session.
 *   TRACK      every (envid, secret) pair goes out pipelined (batches of
 *              %MSGTRK_MTQP_PIPELINE_BATCH commands in one write); answers are read in
 *              order. Each query gets a #MsgtrkMtqpAnswer, with reports or its own error,
 *              so one failed query does not fail the batch. Only reports about the ENVID
 *              asked are kept (their Original-Envelope-Id, xtext-decoded, is the ENVID);
 *              an answer left with none fails with %MSGTRK_ERROR_PROTOCOL.
 *
 * Errors of the call itself (from _finish): nothing reachable (%MSGTRK_ERROR_CONNECT,
 * %MSGTRK_ERROR_NOT_FOUND), bad or negative greeting, TLS, downgrade, timeouts before the
 * TRACK commands went out, cancellation (%G_IO_ERROR_CANCELLED). Once the commands are
 * out, every failure is carried by the answers: a broken connection, a timeout or a limit
 * fails the answer being read and all after it.
 *
 * Limits: %MSGTRK_MTQP_MAX_LINE octets per line (a longer line is an error and is not
 * read further), max-response-size octets and max-parts parts per answer, connect timeout,
 * read (idle) timeout, and a deadline for the whole call, DNS lookups included (each
 * lookup is cancelled when the deadline comes; %MSGTRK_ERROR_TIMEOUT).
 *
 * Never: log, or put into an error message, a secret (the TRACK line holds it); keep a
 * secret after the session (copies are wiped).
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <gio/gio.h>

#include "msgtrk-visibility.h"

G_BEGIN_DECLS

/**
 * MSGTRK_MTQP_MAX_LINE:
 *
 * most octets of an MTQP line before CRLF (RFC 3887 section 2).
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_MAX_LINE 998
/**
 * MSGTRK_MTQP_MAX_OPTIONS:
 *
 * most option lines (continuations included) in a greeting.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_MAX_OPTIONS 64
/**
 * MSGTRK_MTQP_MAX_QUERIES:
 *
 * most (envid, secret) pairs in one track call.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_MAX_QUERIES 1000
/**
 * MSGTRK_MTQP_PIPELINE_BATCH:
 *
 * most TRACK commands sent in one write before reading.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_PIPELINE_BATCH 32
/**
 * MSGTRK_MTQP_MAX_TARGETS:
 *
 * most discovered servers tried in one call.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_MAX_TARGETS 16
/**
 * MSGTRK_MTQP_MAX_STARTTLS_HOSTS:
 *
 * most names (hosts and "_mtqp._tcp.domain" entries together) kept in the STARTTLS
 * memory.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_MAX_STARTTLS_HOSTS 10000
/**
 * MSGTRK_MTQP_DEFAULT_CONNECT_TIMEOUT:
 *
 * seconds to wait for a TCP connection.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_DEFAULT_CONNECT_TIMEOUT 30
/**
 * MSGTRK_MTQP_DEFAULT_READ_TIMEOUT:
 *
 * seconds a server may stay silent.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_DEFAULT_READ_TIMEOUT 60
/**
 * MSGTRK_MTQP_DEFAULT_DEADLINE:
 *
 * seconds a whole track call may take.
 *
 * Since: 1.0
 */
#define MSGTRK_MTQP_DEFAULT_DEADLINE 180

/**
 * MsgtrkTlsPolicy:
 * @MSGTRK_TLS_POLICY_REQUIRED: fail unless the session runs over verified TLS
 * @MSGTRK_TLS_POLICY_OPPORTUNISTIC: use STARTTLS when offered, fail on a downgrade of a
 *   server, or of a domain's MTQP service, remembered to offer it
 *   (%MSGTRK_ERROR_TLS_DOWNGRADE)
 * @MSGTRK_TLS_POLICY_NONE: never use STARTTLS
 *
 * When the MTQP client uses STARTTLS. Certificates are always verified when TLS is used.
 *
 * Since: 1.0
 */
typedef enum {
  MSGTRK_TLS_POLICY_REQUIRED,
  MSGTRK_TLS_POLICY_OPPORTUNISTIC,
  MSGTRK_TLS_POLICY_NONE,
} MsgtrkTlsPolicy;

/* ---- MsgtrkMtqpAnswer: the outcome of one TRACK query ---- */

#define MSGTRK_TYPE_MTQP_ANSWER (msgtrk_mtqp_answer_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkMtqpAnswer, msgtrk_mtqp_answer, MSGTRK, MTQP_ANSWER, GObject)

MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_mtqp_answer_get_envid            (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_mtqp_answer_get_server_host      (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
guint16       msgtrk_mtqp_answer_get_server_port      (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
guint16      msgtrk_mtqp_answer_get_discovered_port (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_mtqp_answer_get_tls_description  (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean      msgtrk_mtqp_answer_is_success           (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
const GError *msgtrk_mtqp_answer_get_error            (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean      msgtrk_mtqp_answer_propagate_error      (MsgtrkMtqpAnswer *self,
                                                       GError          **error);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray    *msgtrk_mtqp_answer_get_reports          (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
GBytes       *msgtrk_mtqp_answer_get_entity           (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_mtqp_answer_get_status           (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
const char * const *msgtrk_mtqp_answer_get_response_codes (MsgtrkMtqpAnswer *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean      msgtrk_mtqp_answer_has_response_code    (MsgtrkMtqpAnswer *self,
                                                       const char       *code);
MSGTRK_AVAILABLE_IN_ALL
const char   *msgtrk_mtqp_answer_get_response_text    (MsgtrkMtqpAnswer *self);

/* ---- MsgtrkMtqpClient: configuration and the calls ---- */

#define MSGTRK_TYPE_MTQP_CLIENT (msgtrk_mtqp_client_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkMtqpClient, msgtrk_mtqp_client, MSGTRK, MTQP_CLIENT, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkMtqpClient *msgtrk_mtqp_client_new                  (void);

MSGTRK_AVAILABLE_IN_ALL
MsgtrkTlsPolicy   msgtrk_mtqp_client_get_tls_policy       (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_tls_policy       (MsgtrkMtqpClient *self,
                                                           MsgtrkTlsPolicy   policy);
MSGTRK_AVAILABLE_IN_ALL
const char       *msgtrk_mtqp_client_get_ca_file          (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_ca_file          (MsgtrkMtqpClient *self,
                                                           const char       *ca_file);
MSGTRK_AVAILABLE_IN_ALL
gboolean          msgtrk_mtqp_client_get_use_system_trust (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_use_system_trust (MsgtrkMtqpClient *self,
                                                           gboolean          use_system_trust);
MSGTRK_AVAILABLE_IN_ALL
guint             msgtrk_mtqp_client_get_connect_timeout  (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_connect_timeout  (MsgtrkMtqpClient *self,
                                                           guint             seconds);
MSGTRK_AVAILABLE_IN_ALL
guint             msgtrk_mtqp_client_get_read_timeout     (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_read_timeout     (MsgtrkMtqpClient *self,
                                                           guint             seconds);
MSGTRK_AVAILABLE_IN_ALL
guint             msgtrk_mtqp_client_get_deadline         (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_deadline         (MsgtrkMtqpClient *self,
                                                           guint             seconds);
MSGTRK_AVAILABLE_IN_ALL
guint             msgtrk_mtqp_client_get_max_response_size (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_max_response_size (MsgtrkMtqpClient *self,
                                                            guint             max_size);
MSGTRK_AVAILABLE_IN_ALL
guint             msgtrk_mtqp_client_get_max_parts        (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_max_parts        (MsgtrkMtqpClient *self,
                                                           guint             max_parts);
MSGTRK_AVAILABLE_IN_ALL
GResolver        *msgtrk_mtqp_client_get_resolver         (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_resolver         (MsgtrkMtqpClient *self,
                                                           GResolver        *resolver);

MSGTRK_AVAILABLE_IN_ALL
gboolean          msgtrk_mtqp_client_add_host_override    (MsgtrkMtqpClient *self,
                                                           const char       *name,
                                                           const char       *address,
                                                           GError          **error);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_clear_host_overrides (MsgtrkMtqpClient *self);

MSGTRK_AVAILABLE_IN_ALL
char            **msgtrk_mtqp_client_get_starttls_hosts   (MsgtrkMtqpClient *self);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_set_starttls_hosts   (MsgtrkMtqpClient *self,
                                                           const char * const *hosts);
MSGTRK_AVAILABLE_IN_ALL
gboolean          msgtrk_mtqp_client_remembers_starttls   (MsgtrkMtqpClient *self,
                                                           const char       *host);
MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_forget_starttls      (MsgtrkMtqpClient *self,
                                                           const char       *host);

MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_track_async          (MsgtrkMtqpClient   *self,
                                                           const char         *domain,
                                                           const char * const *envids,
                                                           const char * const *secrets,
                                                           GCancellable       *cancellable,
                                                           GAsyncReadyCallback callback,
                                                           gpointer            user_data);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray        *msgtrk_mtqp_client_track_finish         (MsgtrkMtqpClient   *self,
                                                           GAsyncResult       *result,
                                                           GError            **error);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray        *msgtrk_mtqp_client_track_sync           (MsgtrkMtqpClient   *self,
                                                           const char         *domain,
                                                           const char * const *envids,
                                                           const char * const *secrets,
                                                           GCancellable       *cancellable,
                                                           GError            **error);

MSGTRK_AVAILABLE_IN_ALL
void              msgtrk_mtqp_client_track_host_async     (MsgtrkMtqpClient   *self,
                                                           const char         *host,
                                                           guint16             port,
                                                           const char * const *envids,
                                                           const char * const *secrets,
                                                           GCancellable       *cancellable,
                                                           GAsyncReadyCallback callback,
                                                           gpointer            user_data);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray        *msgtrk_mtqp_client_track_host_finish    (MsgtrkMtqpClient   *self,
                                                           GAsyncResult       *result,
                                                           GError            **error);
MSGTRK_AVAILABLE_IN_ALL
GPtrArray        *msgtrk_mtqp_client_track_host_sync      (MsgtrkMtqpClient   *self,
                                                           const char         *host,
                                                           guint16             port,
                                                           const char * const *envids,
                                                           const char * const *secrets,
                                                           GCancellable       *cancellable,
                                                           GError            **error);

G_END_DECLS
