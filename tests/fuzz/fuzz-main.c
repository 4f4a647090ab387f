/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-main.c: runs a libFuzzer target over files and directories given as arguments, so
 * that every build replays the seed corpus (and past crashers) as a regression test. */
#include "config.h"

#include <glib.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint n_inputs;

static void
run_path (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      if (dir == NULL)
        g_error ("cannot open corpus %s", path);
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          run_path (child);
        }
    }
  else
    {
      g_autofree char *data = NULL;
      gsize len = 0;

      if (!g_file_get_contents (path, &data, &len, NULL))
        g_error ("cannot read %s", path);
      LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
      n_inputs++;
    }
}

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    run_path (argv[i]);
  g_print ("%u inputs replayed without a crash\n", n_inputs);
  return n_inputs > 0 ? 0 : 1;
}
