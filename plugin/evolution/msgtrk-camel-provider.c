/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-camel-provider.c: registers the Camel provider "SMTP with tracking".
 *
 * What: camel_provider_module_init(), the only symbol this module exports (see
 * msgtrk-camel-provider.map): protocol MSGTRK_CAMEL_PROTOCOL, a remote mail transport with
 * SSL, host, user and SASL like Camel's own smtp provider, so that Evolution's account
 * editor can switch an account to it and keep host, port, security and login.
 * How: Camel reads libcamelmsgtrk.urls in a provider directory and dlopen()s
 * libcamelmsgtrk.so next to it when the protocol is first asked for.
 * Limits: no extra configuration entries yet.
 * Never: link GTK (evolution-source-registry, the calendar and address-book factories and
 * alarm-notify load providers too).
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "msgtrk-camel-transport.h"

/* Called by Camel; not in any header. */
void camel_provider_module_init (void);

static CamelProviderPortEntry msgtrk_camel_port_entries[] = {
  { 587, N_("Message submission port"), FALSE },
  { 465, N_("Message submission over TLS"), TRUE },
  { 25, N_("Default SMTP port"), FALSE },
  { 0, NULL, 0 },
};

static CamelProvider msgtrk_camel_provider = {
  MSGTRK_CAMEL_PROTOCOL,
  N_("SMTP with tracking"),
  N_("For sending mail through an SMTP submission server, asking the servers on the way "
     "for delivery tracking (MTRK) and delivery reports (DSN) for the messages you choose "
     "to track."),
  "mail",
  CAMEL_PROVIDER_IS_REMOTE | CAMEL_PROVIDER_SUPPORTS_SSL,
  CAMEL_URL_NEED_HOST | CAMEL_URL_ALLOW_AUTH | CAMEL_URL_ALLOW_USER,
  NULL,
  msgtrk_camel_port_entries,
  /* the rest is filled in by camel_provider_module_init() */
};

/* Accounts are told apart by user, host and port, as for Camel's own smtp provider. */
static guint
msgtrk_camel_url_hash (gconstpointer key)
{
  const CamelURL *url = key;

  return g_str_hash (url->user ? url->user : "") ^ g_str_hash (url->host ? url->host : "")
         ^ (guint) url->port;
}

static gboolean
msgtrk_camel_url_equal (gconstpointer a, gconstpointer b)
{
  const CamelURL *u1 = a;
  const CamelURL *u2 = b;

  return g_strcmp0 (u1->protocol, u2->protocol) == 0 && g_strcmp0 (u1->user, u2->user) == 0
         && g_strcmp0 (u1->host, u2->host) == 0 && u1->port == u2->port;
}

void
camel_provider_module_init (void)
{
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

  msgtrk_camel_provider.object_types[CAMEL_PROVIDER_TRANSPORT] = MSGTRK_TYPE_CAMEL_TRANSPORT;
  msgtrk_camel_provider.authtypes = g_list_append (camel_sasl_authtype_list (TRUE),
                                                   camel_sasl_authtype ("LOGIN"));
  msgtrk_camel_provider.url_hash = msgtrk_camel_url_hash;
  msgtrk_camel_provider.url_equal = msgtrk_camel_url_equal;
  msgtrk_camel_provider.translation_domain = GETTEXT_PACKAGE;
  camel_provider_register (&msgtrk_camel_provider);
}
