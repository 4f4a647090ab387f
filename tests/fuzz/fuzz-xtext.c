/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-xtext.c: libFuzzer target for RFC 3461 xtext and the server-side ESMTP parameter
 * parsers (msgtrk-envelope).
 *
 * - decode of the input (up to its first NUL): on success, encode(decoded) decodes back
 *   to the same text, and every octet of the decoded text is 1..255;
 * - encode→decode round trip of the input (up to its first NUL) must be the identity
 *   whenever the encoded form fits MSGTRK_XTEXT_MAX_LENGTH;
 * - the same text through msgtrk_smtp_params_parse(), the ENVID/RET/MTRK envelope
 *   constructor, and the MTRK / NOTIFY / ORCPT value parsers.
 * Must never leak or crash.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_decode (const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *decoded = msgtrk_xtext_decode (text, &error);
  g_autofree char *again = NULL;
  g_autofree char *back = NULL;

  if (decoded == NULL)
    {
      g_assert (error != NULL && error->domain == MSGTRK_ERROR);
      return;
    }
  /* Canonical re-encoding is never longer than the input and decodes to the same. */
  again = msgtrk_xtext_encode (decoded);
  g_assert (strlen (again) <= strlen (text));
  back = msgtrk_xtext_decode (again, &error);
  g_assert (back != NULL && error == NULL);
  g_assert (strcmp (back, decoded) == 0);
}

static void
check_round_trip (const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *encoded = msgtrk_xtext_encode (text);
  g_autofree char *decoded = NULL;

  for (const char *p = encoded; *p; p++)
    g_assert ((guchar) *p >= 33 && (guchar) *p <= 126 && *p != '=');
  decoded = msgtrk_xtext_decode (encoded, &error);
  if (strlen (encoded) > MSGTRK_XTEXT_MAX_LENGTH)
    {
      g_assert (decoded == NULL && g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT));
      return;
    }
  g_assert (decoded != NULL && error == NULL);
  g_assert (strcmp (decoded, text) == 0);
}

static void
check_params (const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) params = msgtrk_smtp_params_parse (text, &error);
  g_autoptr (MsgtrkEnvelope) envelope = NULL;
  g_autofree char *authenticator = NULL;
  g_autofree char *addr_type = NULL;
  g_autofree char *address = NULL;
  MsgtrkDsnNotify notify = MSGTRK_DSN_NOTIFY_UNSET;
  guint timeout = 0;

  if (params != NULL)
    {
      envelope = msgtrk_envelope_new_from_mail_params (params, &error);
      g_clear_error (&error);
    }
  g_clear_error (&error);

  {
    g_autofree char *envid = NULL;
    MsgtrkDsnRet ret = MSGTRK_DSN_RET_UNSET;

    /* An accepted ENVID is printable US-ASCII and fits the limit once encoded again. */
    if (msgtrk_envid_param_parse (text, &envid, NULL))
      {
        g_autoptr (MsgtrkEnvelope) received = msgtrk_envelope_new_received (envid, NULL);

        for (const char *p = envid; *p; p++)
          g_assert ((guchar) *p >= 0x20 && (guchar) *p <= 0x7e);
        g_assert (received != NULL);
      }
    if (msgtrk_ret_param_parse (text, &ret, NULL))
      g_assert (ret == MSGTRK_DSN_RET_HDRS || ret == MSGTRK_DSN_RET_FULL);
  }
  if (msgtrk_mtrk_param_parse (text, &authenticator, &timeout, NULL))
    g_assert (strlen (authenticator) == MSGTRK_AUTHENTICATOR_LENGTH
              && timeout <= MSGTRK_MTRK_TIMEOUT_MAX);
  if (msgtrk_notify_param_parse (text, &notify, NULL))
    {
      g_autofree char *formatted = msgtrk_notify_param_format (notify);
      MsgtrkDsnNotify again = MSGTRK_DSN_NOTIFY_UNSET;

      g_assert (formatted != NULL && strlen (formatted) == strlen (text));
      g_assert (msgtrk_notify_param_parse (formatted, &again, NULL) && again == notify);
    }
  if (msgtrk_orcpt_param_parse (text, &addr_type, &address, NULL))
    g_assert (*addr_type != '\0' && *address != '\0');
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);

  check_decode (text);
  check_round_trip (text);
  check_params (text);
  return 0;
}
