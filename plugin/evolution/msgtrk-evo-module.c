/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-module.c: the msgtrk module for Evolution (module-msgtrk.so).
 *
 * What: e_module_load()/e_module_unload(), the two symbols Evolution looks up in every
 * module of its module directory; registers the module's extensions: the composer's
 * "Track this message", the account editor's "SMTP with tracking" server type, the main
 * window's View ▸ Tracking Column and Message Tracking preferences page (with the
 * per-account "Send with tracking" switch), the message list's Tracking column values, and
 * the reader's Message ▸ Track… items (mail view and separate message windows).
 * How: Evolution loads the module at start-up, before any window exists; each EExtension
 * is instantiated for every object of its extensible type.
 * Limits: docs/evolution.md, "Not done yet".
 * Never: load in EDS daemons (that is the Camel provider's job, without GTK).
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <gmodule.h>

#include "msgtrk-evo-account.h"
#include "msgtrk-evo-composer.h"
#include "msgtrk-evo-message-list.h"
#include "msgtrk-evo-reader.h"
#include "msgtrk-evo-reports.h"
#include "msgtrk-evo-window.h"

/* Evolution's entry points (no header declares them). */
G_MODULE_EXPORT void e_module_load (GTypeModule *type_module);
G_MODULE_EXPORT void e_module_unload (GTypeModule *type_module);

G_MODULE_EXPORT void
e_module_load (GTypeModule *type_module)
{
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  msgtrk_evo_composer_type_register (type_module);
  msgtrk_evo_account_type_register (type_module);
  msgtrk_evo_window_type_register (type_module);
  msgtrk_evo_message_list_type_register (type_module);
  msgtrk_evo_reader_type_register (type_module);
  msgtrk_evo_reports_type_register (type_module);
}

G_MODULE_EXPORT void
e_module_unload (GTypeModule *type_module)
{
}
