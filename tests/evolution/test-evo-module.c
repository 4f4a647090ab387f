/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-evo-module.c: the Evolution module loads as Evolution loads it and registers its
 * composer extension, without a display.
 *
 * What: e_module_load_file() on the built module-msgtrk.so (argv[1]), then the registered
 * type MsgtrkEvoComposer must be an EExtension whose extensible type is EMsgComposer; the
 * module must export nothing but e_module_load/e_module_unload.
 * Limits: no composer window is made (that needs an EShell and a display: the Xvfb
 * end-to-end test's job).
 */
#include <libedataserver/libedataserver.h>
#include <composer/e-msg-composer.h>

static const char *module_path;

static void
test_module_registers_composer_extension (void)
{
  EModule *module;
  GType type;
  EExtensionClass *klass;

  g_test_summary ("module-msgtrk.so loads and extends EMsgComposer");
  module = e_module_load_file (module_path);
  g_assert_nonnull (module);
  type = g_type_from_name ("MsgtrkEvoComposer");
  g_assert_cmpuint (type, !=, 0);
  g_assert_true (g_type_is_a (type, E_TYPE_EXTENSION));
  klass = g_type_class_ref (type);
  g_assert_true (klass->extensible_type == E_TYPE_MSG_COMPOSER);
  g_type_class_unref (klass);
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
  g_test_add_func ("/evolution/module/registers-composer-extension",
                   test_module_registers_composer_extension);
  g_test_add_func ("/evolution/module/exports-only-entry-points",
                   test_module_exports_only_entry_points);
  return g_test_run ();
}
