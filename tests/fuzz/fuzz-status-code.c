/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-status-code.c: libFuzzer target for RFC 3463 status codes in words
 * (lib/msgtrk-status-code.c: the Status field of every DSN and tracking report a server
 * sends, shown by the CLI, the viewer and the plugins).
 *
 * The input (up to its first NUL) as a Status value. Accepted: class 2, 4 or 5, subject
 * and detail within 0..999, and the code written back ("%u.%u.%u") parses to the same
 * three numbers; describe() and describe_class() then give a meaning (a sentence), and
 * only then. Refused: both give NULL. Must never leak, crash or read past the text.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  guint code_class = 0, subject = 0, detail = 0;
  guint c2 = 0, s2 = 0, d2 = 0;
  gboolean ok = msgtrk_status_code_parse (text, &code_class, &subject, &detail);
  const char *meaning = msgtrk_status_code_describe (text);
  const char *class_meaning = msgtrk_status_code_describe_class (text);

  if (!ok)
    {
      g_assert (meaning == NULL && class_meaning == NULL);
      return 0;
    }
  g_assert (code_class == 2 || code_class == 4 || code_class == 5);
  g_assert (subject <= 999 && detail <= 999);
  {
    g_autofree char *again = g_strdup_printf ("%u.%u.%u", code_class, subject, detail);

    g_assert (msgtrk_status_code_parse (again, &c2, &s2, &d2));
    g_assert (c2 == code_class && s2 == subject && d2 == detail);
  }
  g_assert (meaning != NULL && *meaning != '\0');
  g_assert (class_meaning != NULL && *class_meaning != '\0');
  return 0;
}
