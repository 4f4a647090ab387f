/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-evo-module.c: the Evolution module loads as Evolution loads it and registers its
 * composer extension, without a display.
 *
 * What: e_module_load_file() on the built module-msgtrk.so (argv[1]), then the registered
 * type MsgtrkEvoComposer must be an EExtension whose extensible type is EMsgComposer; the
 * module must export nothing but e_module_load/e_module_unload.
 * Limits: no composer window is made (that needs an EShell and a display: the Xvfb
 * end-to-end test's job).
 * Also: with Evolution's own module-mail-config.so loaded (its path in argv[2]), after the
 * first main-loop idle the account-editor backend MsgtrkEvoAccountBackend exists, derives
 * from Evolution's SMTP backend, names the msgtrk-smtp provider and never auto-configures.
 */
#include <libedataserver/libedataserver.h>
#include <composer/e-msg-composer.h>
#include <mail/e-mail-config-service-backend.h>

static const char *module_path;
static const char *mail_config_path;

/* Loaded once per process, as Evolution does (a second EModule would register twice). */
static EModule *
our_module (void)
{
  static EModule *module;

  if (module == NULL)
    module = e_module_load_file (module_path);
  return module;
}

static void
test_module_account_backend (void)
{
  EModule *module;
  GType type;
  EMailConfigServiceBackendClass *klass;
  EMailConfigServiceBackendClass *parent_class;
  GMainContext *context = g_main_context_default ();

  g_test_summary ("the account editor offers SMTP with tracking, never auto-configured");
  if (mail_config_path == NULL || !g_file_test (mail_config_path, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("Evolution's module-mail-config.so is not installed");
      return;
    }
  /* Ours first (the first test loaded it): the registration must wait for Evolution's SMTP
   * backend. */
  g_assert_nonnull (our_module ());
  module = e_module_load_file (mail_config_path);
  g_assert_nonnull (module);
  while (g_main_context_iteration (context, FALSE))
    ;
  type = g_type_from_name ("MsgtrkEvoAccountBackend");
  g_assert_cmpuint (type, !=, 0);
  g_assert_true (g_type_is_a (type, g_type_from_name ("EMailConfigSmtpBackend")));
  klass = g_type_class_ref (type);
  parent_class = g_type_class_peek_parent (klass);
  g_assert_cmpstr (klass->backend_name, ==, "msgtrk-smtp");
  g_assert_cmpstr (parent_class->backend_name, ==, "smtp");
  g_assert_true (klass->auto_configure != parent_class->auto_configure);
  g_assert_false (klass->auto_configure (NULL, NULL, NULL, NULL));
  g_assert_true (klass->insert_widgets == parent_class->insert_widgets);
  g_type_class_unref (klass);
}

static void
test_module_registers_composer_extension (void)
{
  EModule *module;
  GType type;
  EExtensionClass *klass;

  g_test_summary ("module-msgtrk.so loads and extends EMsgComposer");
  module = our_module ();
  g_assert_nonnull (module);
  type = g_type_from_name ("MsgtrkEvoComposer");
  g_assert_cmpuint (type, !=, 0);
  g_assert_true (g_type_is_a (type, E_TYPE_EXTENSION));
  klass = g_type_class_ref (type);
  g_assert_true (klass->extensible_type == E_TYPE_MSG_COMPOSER);
  g_type_class_unref (klass);
}

static void
test_module_registers_list_and_window_extensions (void)
{
  struct { const char *name, *extensible; } want[] = {
    { "MsgtrkEvoMessageList", "MessageList" },  /* the Tracking column's values */
    { "MsgtrkEvoWindow", "EShellWindow" },      /* View ▸ Tracking Column (consent) */
    { "MsgtrkEvoReader", "EShellView" },        /* Message ▸ Track… in the mail view */
    { "MsgtrkEvoBrowser", "EMailBrowser" },     /* the same in a message window */
  };

  g_test_summary ("the Tracking column's and the reader's extensions are registered");
  g_assert_nonnull (our_module ());
  for (gsize i = 0; i < G_N_ELEMENTS (want); i++)
    {
      GType type = g_type_from_name (want[i].name);
      EExtensionClass *klass;

      g_assert_cmpuint (type, !=, 0);
      g_assert_true (g_type_is_a (type, E_TYPE_EXTENSION));
      klass = g_type_class_ref (type);
      g_assert_cmpstr (g_type_name (klass->extensible_type), ==, want[i].extensible);
      g_type_class_unref (klass);
    }
}

static void
test_module_exports_only_entry_points (void)
{
  GModule *module = g_module_open (module_path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  gpointer symbol = NULL;

  g_test_summary ("only e_module_load/e_module_unload are visible to Evolution");
  g_assert_nonnull (module);
  g_assert_true (g_module_symbol (module, "e_module_load", &symbol));
  g_assert_true (g_module_symbol (module, "e_module_unload", &symbol));
  g_assert_false (g_module_symbol (module, "msgtrk_evo_composer_get_type", &symbol));
  g_assert_false (g_module_symbol (module, "msgtrk_evo_ui_add_track_toggle", &symbol));
  /* The shared state table is compiled in, never exported (the helper has its own). */
  g_assert_false (g_module_symbol (module, "msgtrk_states_label", &symbol));
  g_module_close (module);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (argc < 2)
    {
      g_printerr ("usage: %s MODULE.so\n", argv[0]);
      return 2;
    }
  module_path = argv[1];
  mail_config_path = argc > 2 ? argv[2] : NULL;
  g_test_add_func ("/evolution/module/registers-composer-extension",
                   test_module_registers_composer_extension);
  g_test_add_func ("/evolution/module/registers-list-and-window-extensions",
                   test_module_registers_list_and_window_extensions);
  g_test_add_func ("/evolution/module/exports-only-entry-points",
                   test_module_exports_only_entry_points);
  g_test_add_func ("/evolution/module/account-backend", test_module_account_backend);
  return g_test_run ();
}
