/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-accounts.h: which mail accounts send with tracking, and the switch.
 *
 * What: the mail accounts whose sending server is SMTP ("smtp") or "SMTP with tracking"
 * (MSGTRK_CAMEL_PROTOCOL), and the "Send with tracking" switch: it rewrites the account's
 * transport ESource through the ESourceRegistry (only [Mail Transport] BackendName changes:
 * host, port, security, login and authentication mechanism are in the [Authentication] and
 * [Security] groups both transports read), then replaces the running CamelService so that
 * the next message already leaves through the new transport (Evolution's EMailSession
 * creates a service once per source and never looks at a changed BackendName).
 * Also the per-account "track new messages" default: a property of the transport's
 * settings (MsgtrkCamelSettings "track-by-default", kept by EDS in the transport source's
 * "[Msgtrk-smtp Backend]" group, docs/evolution.md).
 * How: libedataserver and Camel only, no GTK (tested against a real
 * evolution-source-registry on a private bus: tests/evolution/test-evo-accounts.c).
 * Limits: accounts whose transport is anything else (sendmail, EWS…) are not listed and
 * cannot be switched (MSGTRK_EVO_ACCOUNTS_ERROR_NOT_SMTP).
 * Never: touch host, port, security, login or a password; switch a transport that is not
 * SMTP.
 */
#pragma once

#include <camel/camel.h>
#include <libedataserver/libedataserver.h>

G_BEGIN_DECLS

/* Evolution's own SMTP transport. */
#define MSGTRK_EVO_SMTP_PROTOCOL "smtp"
/* The MsgtrkCamelSettings property with the account's "track new messages" default. */
#define MSGTRK_EVO_TRACK_DEFAULT_PROPERTY "track-by-default"

#define MSGTRK_EVO_ACCOUNTS_ERROR (msgtrk_evo_accounts_error_quark ())

typedef enum
{
  MSGTRK_EVO_ACCOUNTS_ERROR_NOT_FOUND, /* no such transport source */
  MSGTRK_EVO_ACCOUNTS_ERROR_NOT_SMTP,  /* its transport is neither smtp nor msgtrk-smtp */
  MSGTRK_EVO_ACCOUNTS_ERROR_READ_ONLY, /* the registry does not let us write it */
} MsgtrkEvoAccountsError;

GQuark msgtrk_evo_accounts_error_quark (void);

typedef struct
{
  char *display_name;  /* the mail account's name */
  char *identity_uid;  /* its identity source */
  char *transport_uid; /* the identity's transport source */
  gboolean tracked;    /* the transport is MSGTRK_CAMEL_PROTOCOL */
} MsgtrkEvoAccount;

void msgtrk_evo_account_free (MsgtrkEvoAccount *account);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsgtrkEvoAccount, msgtrk_evo_account_free)

/* The enabled mail accounts with an SMTP or SMTP-with-tracking transport, sorted by name:
 * (element-type MsgtrkEvoAccount) (transfer full). */
GPtrArray *msgtrk_evo_accounts_list (ESourceRegistry *registry);

/* Switches TRANSPORT_UID to "SMTP with tracking" (TRACKED) or back to SMTP, writes the
 * source (blocking, a D-Bus round trip to the registry), and when SESSION (nullable) has a
 * service for it, replaces that service by one of the new protocol. TRUE when nothing was
 * to be done. */
gboolean msgtrk_evo_accounts_set_tracked (ESourceRegistry  *registry,
                                          CamelSession     *session,
                                          const char       *transport_uid,
                                          gboolean          tracked,
                                          GCancellable     *cancellable,
                                          GError          **error);

/* The transport of identity IDENTITY_UID, or NULL (transfer full). */
char *msgtrk_evo_accounts_dup_transport_uid (ESourceRegistry *registry,
                                             const char      *identity_uid);

/* The account's "track new messages" default: FALSE when the transport is not "SMTP with
 * tracking" (untracked mail cannot be tracked) or has no such setting. */
gboolean msgtrk_evo_accounts_get_track_default (ESourceRegistry *registry,
                                                const char      *transport_uid);
gboolean msgtrk_evo_accounts_set_track_default (ESourceRegistry  *registry,
                                                const char       *transport_uid,
                                                gboolean          track,
                                                GCancellable     *cancellable,
                                                GError          **error);

G_END_DECLS
