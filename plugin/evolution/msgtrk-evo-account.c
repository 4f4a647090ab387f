/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-account.c: the account editor's "SMTP with tracking" server type.
 *
 * What: see msgtrk-evo-account.h.
 * How: Evolution loads its modules in directory order, so Evolution's SMTP backend may not
 * be registered yet when e_module_load() runs: registration then waits for the first idle
 * of the main loop, which comes before any window (account editors are built from the
 * registered EExtension types when a page is made). The subclass adds no data of its own;
 * its sizes are the base structures' plus MSGTRK_EVO_SIZE_MARGIN (g_type_query() does not
 * work on the parent, a dynamic type).
 * Limits: see msgtrk-evo-account.h.
 * Never: auto-configure (Evolution's new-account wizard keeps choosing plain SMTP).
 */
#include "config.h"

#include <mail/e-mail-config-service-backend.h>

#include "msgtrk-camel-transport.h"
#include "msgtrk-evo-account.h"

/* Evolution's own SMTP account-editor backend (module-mail-config.so). */
#define MSGTRK_EVO_SMTP_BACKEND_TYPE_NAME "EMailConfigSmtpBackend"
/* Room beyond the base structures for what EMailConfigSmtpBackend adds (one pointer). */
#define MSGTRK_EVO_SIZE_MARGIN (8 * sizeof (gpointer))

static gboolean
account_backend_auto_configure (EMailConfigServiceBackend *backend,
                                EConfigLookup             *config_lookup,
                                gint                      *out_priority,
                                gboolean                  *out_is_complete)
{
  return FALSE;
}

static void
account_backend_class_init (gpointer klass, gpointer class_data)
{
  EMailConfigServiceBackendClass *backend_class = klass;

  backend_class->backend_name = MSGTRK_CAMEL_PROTOCOL;
  backend_class->auto_configure = account_backend_auto_configure;
}

/* Registers the subclass; FALSE if Evolution's SMTP backend is not (yet) there. */
static gboolean
account_backend_register (GTypeModule *type_module)
{
  GType parent = g_type_from_name (MSGTRK_EVO_SMTP_BACKEND_TYPE_NAME);
  GTypeInfo info = { 0 };

  /* Called again on every (re)load of the module: GTypeModule wants each of its types
   * registered again then, or it refuses to reload. */
  if (parent == 0 || !g_type_is_a (parent, E_TYPE_MAIL_CONFIG_SERVICE_BACKEND))
    return FALSE;
  /* g_type_query() answers nothing for a dynamic type; the parent's structures (not
   * installed) are the public base structures plus a private pointer, and a subclass may
   * always be larger than its parent: take the base sizes plus a margin. */
  info.class_size = sizeof (EMailConfigServiceBackendClass) + MSGTRK_EVO_SIZE_MARGIN;
  info.class_init = account_backend_class_init;
  info.instance_size = sizeof (EMailConfigServiceBackend) + MSGTRK_EVO_SIZE_MARGIN;
  g_type_module_register_type (type_module, parent, MSGTRK_EVO_ACCOUNT_BACKEND_TYPE_NAME, &info,
                               0);
  return TRUE;
}

static gboolean
account_backend_register_idle (gpointer user_data)
{
  if (!account_backend_register (G_TYPE_MODULE (user_data)))
    g_message ("msgtrk: Evolution's SMTP account page (module-mail-config) is not loaded; "
               "“SMTP with tracking” cannot be chosen in the account editor");
  return G_SOURCE_REMOVE;
}

void
msgtrk_evo_account_type_register (GTypeModule *type_module)
{
  if (!account_backend_register (type_module))
    g_idle_add_full (G_PRIORITY_HIGH, account_backend_register_idle,
                     g_object_ref (type_module), g_object_unref);
}
