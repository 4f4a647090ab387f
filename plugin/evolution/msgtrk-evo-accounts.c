/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-accounts.c: which mail accounts send with tracking, and the switch.
 *
 * What: see msgtrk-evo-accounts.h.
 * How: mail account → its identity (ESourceMailAccount identity-uid) → the identity's
 * transport (ESourceMailSubmission transport-uid) → the transport's ESourceMailTransport
 * backend name. The switch sets that name and calls e_source_write_sync(); the registry
 * writes the key file, every other group untouched. A running CamelService for the source
 * is removed (by CamelSession's own remove_service: Evolution's override keeps transports)
 * and added again with the new protocol (EMailSession's add_service configures the new
 * service from the same source). The per-account default is read and written
 * through the source's ESourceCamel extension for MSGTRK_CAMEL_PROTOCOL, whose properties
 * EDS generates from MsgtrkCamelSettings (the provider registers it in every process).
 * Limits: see msgtrk-evo-accounts.h.
 * Never: write a source the user did not ask to change.
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "msgtrk-camel-transport.h"
#include "msgtrk-evo-accounts.h"

G_DEFINE_QUARK (msgtrk-evo-accounts-error-quark, msgtrk_evo_accounts_error)

void
msgtrk_evo_account_free (MsgtrkEvoAccount *account)
{
  if (account == NULL)
    return;
  g_free (account->display_name);
  g_free (account->identity_uid);
  g_free (account->transport_uid);
  g_free (account);
}

static const char *
transport_backend (ESource *transport)
{
  if (!e_source_has_extension (transport, E_SOURCE_EXTENSION_MAIL_TRANSPORT))
    return NULL;
  return e_source_backend_get_backend_name (
    e_source_get_extension (transport, E_SOURCE_EXTENSION_MAIL_TRANSPORT));
}

static gboolean
is_switchable (const char *backend)
{
  return g_strcmp0 (backend, MSGTRK_EVO_SMTP_PROTOCOL) == 0
         || g_strcmp0 (backend, MSGTRK_CAMEL_PROTOCOL) == 0;
}

char *
msgtrk_evo_accounts_dup_transport_uid (ESourceRegistry *registry, const char *identity_uid)
{
  g_autoptr (ESource) identity = NULL;

  if (identity_uid == NULL)
    return NULL;
  identity = e_source_registry_ref_source (registry, identity_uid);
  if (identity == NULL || !e_source_has_extension (identity, E_SOURCE_EXTENSION_MAIL_SUBMISSION))
    return NULL;
  return e_source_mail_submission_dup_transport_uid (
    e_source_get_extension (identity, E_SOURCE_EXTENSION_MAIL_SUBMISSION));
}

static int
account_compare (gconstpointer a, gconstpointer b)
{
  const MsgtrkEvoAccount *x = *(MsgtrkEvoAccount * const *) a;
  const MsgtrkEvoAccount *y = *(MsgtrkEvoAccount * const *) b;

  return g_utf8_collate (x->display_name ? x->display_name : "",
                         y->display_name ? y->display_name : "");
}

GPtrArray *
msgtrk_evo_accounts_list (ESourceRegistry *registry)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrk_evo_account_free);
  GList *sources = e_source_registry_list_enabled (registry, E_SOURCE_EXTENSION_MAIL_ACCOUNT);

  for (GList *l = sources; l; l = l->next)
    {
      ESource *account = l->data;
      g_autofree char *identity_uid = e_source_mail_account_dup_identity_uid (
        e_source_get_extension (account, E_SOURCE_EXTENSION_MAIL_ACCOUNT));
      g_autofree char *transport_uid
        = msgtrk_evo_accounts_dup_transport_uid (registry, identity_uid);
      g_autoptr (ESource) transport
        = transport_uid ? e_source_registry_ref_source (registry, transport_uid) : NULL;
      const char *backend = transport ? transport_backend (transport) : NULL;
      MsgtrkEvoAccount *item;

      if (!is_switchable (backend))
        continue;
      item = g_new0 (MsgtrkEvoAccount, 1);
      item->display_name = e_source_dup_display_name (account);
      item->identity_uid = g_steal_pointer (&identity_uid);
      item->transport_uid = g_steal_pointer (&transport_uid);
      item->tracked = g_strcmp0 (backend, MSGTRK_CAMEL_PROTOCOL) == 0;
      g_ptr_array_add (out, item);
    }
  g_list_free_full (sources, g_object_unref);
  g_ptr_array_sort (out, account_compare);
  return out;
}

static ESource *
ref_transport (ESourceRegistry *registry, const char *transport_uid, GError **error)
{
  ESource *source = transport_uid ? e_source_registry_ref_source (registry, transport_uid)
                                  : NULL;

  if (source == NULL)
    {
      g_set_error (error, MSGTRK_EVO_ACCOUNTS_ERROR, MSGTRK_EVO_ACCOUNTS_ERROR_NOT_FOUND,
                   _ ("No sending server with the id “%s”"), transport_uid ? transport_uid : "");
      return NULL;
    }
  if (!is_switchable (transport_backend (source)))
    {
      g_set_error (error, MSGTRK_EVO_ACCOUNTS_ERROR, MSGTRK_EVO_ACCOUNTS_ERROR_NOT_SMTP,
                   _ ("The sending server “%s” is not an SMTP server (%s)"),
                   e_source_get_display_name (source),
                   transport_backend (source) ? transport_backend (source) : "none");
      g_object_unref (source);
      return NULL;
    }
  if (!e_source_get_writable (source))
    {
      g_set_error (error, MSGTRK_EVO_ACCOUNTS_ERROR, MSGTRK_EVO_ACCOUNTS_ERROR_READ_ONLY,
                   _ ("The sending server “%s” cannot be changed (its settings are read-only)"),
                   e_source_get_display_name (source));
      g_object_unref (source);
      return NULL;
    }
  return source;
}

/* The running service, if any, is replaced by one of PROTOCOL (the session configures it
 * from its source); a service busy sending keeps its message, the next one goes through
 * the new service. */
static gboolean
replace_service (CamelSession *session, const char *uid, const char *protocol, GError **error)
{
  g_autoptr (CamelService) old = camel_session_ref_service (session, uid);
  g_autoptr (CamelService) added = NULL;

  if (old == NULL)
    {
      g_debug ("no running service for %s", uid);
      return TRUE;
    }
  if (g_strcmp0 (camel_service_get_provider (old)->protocol, protocol) == 0)
    return TRUE;
  /* Camel's own removal: Evolution's EMailUISession overrides remove_service to go through
   * its account store, which knows stores only and leaves a transport in place. */
  CAMEL_SESSION_CLASS (g_type_class_peek (CAMEL_TYPE_SESSION))->remove_service (session, old);
  added = camel_session_add_service (session, uid, protocol, CAMEL_PROVIDER_TRANSPORT, error);
  g_debug ("service %s replaced: %s → %s", uid, camel_service_get_provider (old)->protocol,
           added ? camel_service_get_provider (added)->protocol : "(failed)");
  return added != NULL;
}

gboolean
msgtrk_evo_accounts_set_tracked (ESourceRegistry  *registry,
                                 CamelSession     *session,
                                 const char       *transport_uid,
                                 gboolean          tracked,
                                 GCancellable     *cancellable,
                                 GError          **error)
{
  g_autoptr (ESource) source = ref_transport (registry, transport_uid, error);
  const char *want = tracked ? MSGTRK_CAMEL_PROTOCOL : MSGTRK_EVO_SMTP_PROTOCOL;

  if (source == NULL)
    return FALSE;
  if (g_strcmp0 (transport_backend (source), want) != 0)
    {
      e_source_backend_set_backend_name (
        e_source_get_extension (source, E_SOURCE_EXTENSION_MAIL_TRANSPORT), want);
      if (!e_source_write_sync (source, cancellable, error))
        return FALSE;
      g_debug ("sending server %s switched to %s", transport_uid, want);
    }
  return session == NULL || replace_service (session, transport_uid, want, error);
}

/* The transport source's "[Msgtrk-smtp Backend]" settings, or NULL when EDS has no such
 * extension type in this process (the provider is not loaded). */
static CamelSettings *
msgtrk_settings_of (ESource *source)
{
  const char *extension = e_source_camel_get_extension_name (MSGTRK_CAMEL_PROTOCOL);
  const char *type_name = e_source_camel_get_type_name (MSGTRK_CAMEL_PROTOCOL);
  CamelSettings *settings;

  if (g_type_from_name (type_name) == 0)
    return NULL;
  settings = e_source_camel_get_settings (e_source_get_extension (source, extension));
  if (settings == NULL
      || g_object_class_find_property (G_OBJECT_GET_CLASS (settings),
                                       MSGTRK_EVO_TRACK_DEFAULT_PROPERTY)
           == NULL)
    return NULL;
  return settings;
}

gboolean
msgtrk_evo_accounts_get_track_default (ESourceRegistry *registry, const char *transport_uid)
{
  g_autoptr (ESource) source
    = transport_uid ? e_source_registry_ref_source (registry, transport_uid) : NULL;
  CamelSettings *settings;
  gboolean track = FALSE;

  if (source == NULL || g_strcmp0 (transport_backend (source), MSGTRK_CAMEL_PROTOCOL) != 0)
    return FALSE;
  settings = msgtrk_settings_of (source);
  if (settings)
    g_object_get (settings, MSGTRK_EVO_TRACK_DEFAULT_PROPERTY, &track, NULL);
  return track;
}

gboolean
msgtrk_evo_accounts_set_track_default (ESourceRegistry  *registry,
                                       const char       *transport_uid,
                                       gboolean          track,
                                       GCancellable     *cancellable,
                                       GError          **error)
{
  g_autoptr (ESource) source = ref_transport (registry, transport_uid, error);
  CamelSettings *settings;
  gboolean was = FALSE;

  if (source == NULL)
    return FALSE;
  settings = msgtrk_settings_of (source);
  if (settings == NULL)
    {
      g_set_error (error, MSGTRK_EVO_ACCOUNTS_ERROR, MSGTRK_EVO_ACCOUNTS_ERROR_NOT_SMTP,
                   _ ("“SMTP with tracking” is not loaded in this program"));
      return FALSE;
    }
  g_object_get (settings, MSGTRK_EVO_TRACK_DEFAULT_PROPERTY, &was, NULL);
  if (was == track)
    return TRUE;
  g_object_set (settings, MSGTRK_EVO_TRACK_DEFAULT_PROPERTY, track, NULL);
  return e_source_write_sync (source, cancellable, error);
}
