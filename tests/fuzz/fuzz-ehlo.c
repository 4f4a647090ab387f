/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-ehlo.c: libFuzzer target for the EHLO reply parser (msgtrk-envelope).
 *
 * Feeds the input as received data (NUL bytes included) to
 * msgtrk_smtp_capabilities_parse_data(); on success every accessor is exercised and the
 * result checked for the parser's promises (upper-case keywords, at most
 * MSGTRK_EHLO_MAX_LINES - 1 of them, no control characters). Must never leak or crash.
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
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;
  g_auto (GStrv) keywords = NULL;
  g_autofree char *text = NULL;

  caps = msgtrk_smtp_capabilities_parse_data ((const char *) data, size, &error);
  if (caps == NULL)
    {
      g_assert (error != NULL && error->domain == MSGTRK_ERROR);
      return 0;
    }

  g_assert (msgtrk_smtp_capabilities_get_domain (caps) != NULL);
  keywords = msgtrk_smtp_capabilities_list_keywords (caps);
  g_assert (g_strv_length (keywords) < MSGTRK_EHLO_MAX_LINES);
  for (guint i = 0; keywords[i] != NULL; i++)
    {
      const char *params = msgtrk_smtp_capabilities_get_params (caps, keywords[i]);

      g_assert (msgtrk_smtp_capabilities_has (caps, keywords[i]));
      for (const char *p = keywords[i]; *p; p++)
        g_assert (!g_ascii_islower (*p) && (guchar) *p > 32 && (guchar) *p < 127);
      if (params != NULL)
        for (const char *p = params; *p; p++)
          g_assert ((guchar) *p >= 32 && (guchar) *p < 127);
    }
  text = msgtrk_smtp_capabilities_to_string (caps);
  g_assert (text != NULL && strpbrk (text, "\r\n") == NULL);
  return 0;
}
