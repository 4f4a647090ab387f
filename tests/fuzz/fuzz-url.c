/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-url.c: libFuzzer target for msgtrk_url_parse() (mtqp:// URLs).
 *
 * The input is taken as one URL (cut at the first NUL, as a C string would be). Whatever
 * it is, parsing must not crash or leak; when it succeeds the URL must write back to a
 * string of at most MSGTRK_URL_MAX_LENGTH characters that parses to the same fields;
 * when it fails the error must be in the MSGTRK_ERROR domain.
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
  g_autoptr (MsgtrkUrl) url = NULL;
  g_autoptr (MsgtrkUrl) again = NULL;
  g_autoptr (GError) error = NULL;
  char *written;

  url = msgtrk_url_parse (text, &error);
  if (url == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == MSGTRK_ERROR);
      return 0;
    }

  written = msgtrk_url_to_string (url);
  g_assert_cmpuint (strlen (written), <=, MSGTRK_URL_MAX_LENGTH);
  again = msgtrk_url_parse (written, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_url_get_host (again), ==, msgtrk_url_get_host (url));
  g_assert_cmpuint (msgtrk_url_get_port (again), ==, msgtrk_url_get_port (url));
  g_assert_cmpstr (msgtrk_url_get_envid (again), ==, msgtrk_url_get_envid (url));
  g_assert_cmpstr (msgtrk_url_get_secret (again), ==, msgtrk_url_get_secret (url));
  msgtrk_secure_free_string (written);
  return 0;
}
