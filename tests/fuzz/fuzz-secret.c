/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-secret.c: libFuzzer target for the strict base64 reader of tracking secrets
 * (msgtrk_secret_new_from_base64: TRACK commands in mtqpd, mtqp:// links, D-Bus).
 *
 * The input (up to its first NUL) as the text of a secret. Accepted: it decodes to
 * MSGTRK_SECRET_MIN_SIZE..MSGTRK_SECRET_MAX_SIZE octets, and writing it out again gives the
 * very same text (strict and canonical: one text per secret, so two spellings of one
 * secret cannot be told apart by a server that compares texts); the copy of its octets
 * has that length. Refused: MSGTRK_ERROR_INVALID_SECRET (that its message never quotes the
 * text is tested in tests/test-secret.c: a fuzzer finds the message's own words).
 * Must never leak or crash.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk.h"
#include "msgtrk-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkSecret) secret = msgtrk_secret_new_from_base64 (text, &error);
  guint8 octets[MSGTRK_SECRET_MAX_SIZE + 1];
  char *again;
  gsize n;

  if (secret == NULL)
    {
      g_assert (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET));
      return 0;
    }
  g_assert (error == NULL);
  n = msgtrk_secret_copy_octets (secret, octets, sizeof octets);
  g_assert (n >= MSGTRK_SECRET_MIN_SIZE && n <= MSGTRK_SECRET_MAX_SIZE);
  again = msgtrk_secret_to_base64 (secret);
  g_assert (strcmp (again, text) == 0);
  msgtrk_secure_free_string (again);
  msgtrk_secure_wipe (octets, sizeof octets);
  return 0;
}
