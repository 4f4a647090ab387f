/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-content-track.c: the Content-Track key (Harrison's trace reciprocation,
 * docs/harrison.md).
 *
 * What it is for:
 *   - deriving the key a sender puts in `Content-Track:` from its master secret and the
 *     message's ENVID: "ct1." || base32 (HMAC-SHA-256 (master, label || 0x00 || ENVID)
 *     truncated to 16 octets). Only the holder of the master can tie a key to a message:
 *     the key reveals neither the ENVID nor A (a PRF output under another label);
 *   - checking the syntax of a key a relay received (any vendor's key: printable token
 *     characters, at most MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH) and of a key msgtrk made;
 *   - comparing keys in constant time.
 * How: msgtrk_secret_hmac_envid() (the one derivation, under this file's label); base32 is RFC 4648 lower case without padding, as in our ENVIDs.
 * Limits: ENVIDs as msgtrk_secret_derive() takes them (1 to
 *   MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH printable octets).
 * Never: keep or log the master; leave key material in a buffer (OPENSSL_cleanse).
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "msgtrk-content-track-private.h"
#include "msgtrk-private.h"

static const char ct_base32[] = "abcdefghijklmnopqrstuvwxyz234567";

G_STATIC_ASSERT (MSGTRK_CONTENT_TRACK_KEY_CHARS == (MSGTRK_CONTENT_TRACK_KEY_OCTETS * 8 + 4) / 5);
G_STATIC_ASSERT (sizeof MSGTRK_CONTENT_TRACK_KEY_PREFIX - 1 == 4);
G_STATIC_ASSERT (MSGTRK_CONTENT_TRACK_KEY_LENGTH <= MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH);
G_STATIC_ASSERT (MSGTRK_CONTENT_TRACK_KEY_OCTETS <= MSGTRK_SECRET_SIZE);
G_STATIC_ASSERT (sizeof MSGTRK_CONTENT_TRACK_LABEL - 1 <= MSGTRK_SECRET_MAX_LABEL_LENGTH);

/*
 * msgtrk_content_track_derive_key:
 * @master: the per-user master secret (MSGTRK_SECRET_MASTER_SIZE octets)
 * @master_len: its length; anything else is refused
 * @envid: the message's ENVID (as msgtrk generated it)
 * @error: MSGTRK_ERROR_INVALID_SECRET for a bad master or ENVID
 *
 * Returns: (transfer full): the key, MSGTRK_CONTENT_TRACK_KEY_LENGTH characters
 */
char *
msgtrk_content_track_derive_key (const guint8 *master,
                                 gsize         master_len,
                                 const char   *envid,
                                 GError      **error)
{
  guint8 mac[MSGTRK_SECRET_SIZE];
  char out[MSGTRK_CONTENT_TRACK_KEY_LENGTH + 1];

  g_return_val_if_fail (master != NULL || master_len == 0, NULL);
  g_return_val_if_fail (envid != NULL, NULL);

  if (!msgtrk_secret_hmac_envid (master, master_len, MSGTRK_CONTENT_TRACK_LABEL, envid,
                                 "Content-Track key", mac, error))
    return NULL;

  memcpy (out, MSGTRK_CONTENT_TRACK_KEY_PREFIX, 4);
  for (guint i = 0; i < MSGTRK_CONTENT_TRACK_KEY_CHARS; i++)
    {
      guint bit = i * 5;
      guint hi = mac[bit / 8];
      guint lo = bit / 8 + 1 < MSGTRK_CONTENT_TRACK_KEY_OCTETS ? mac[bit / 8 + 1] : 0;
      guint window = (hi << 8) | lo;

      out[4 + i] = ct_base32[(window >> (11 - bit % 8)) & 0x1f];
    }
  out[MSGTRK_CONTENT_TRACK_KEY_LENGTH] = '\0';
  OPENSSL_cleanse (mac, sizeof mac);
  return g_strdup (out);
}

/* A key as a relay accepts it from any client: 1 to MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH
 * characters of A-Z a-z 0-9 and . - _ + / = (a token that is safe in a Subject). @len -1:
 * NUL-terminated. */
gboolean
msgtrk_content_track_key_is_valid (const char *key,
                                   gssize      len)
{
  gsize n;

  if (key == NULL)
    return FALSE;
  n = len < 0 ? strlen (key) : (gsize) len;
  if (n == 0 || n > MSGTRK_CONTENT_TRACK_MAX_KEY_LENGTH)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (key[i]) && strchr (".-_+/=", key[i]) == NULL)
      return FALSE;
  return TRUE;
}

/* A key in the exact form msgtrk makes ("ct1." + 26 base32, lower case). */
gboolean
msgtrk_content_track_key_is_ours (const char *key)
{
  if (key == NULL || strlen (key) != MSGTRK_CONTENT_TRACK_KEY_LENGTH
      || strncmp (key, MSGTRK_CONTENT_TRACK_KEY_PREFIX, 4) != 0)
    return FALSE;
  for (guint i = 4; i < MSGTRK_CONTENT_TRACK_KEY_LENGTH; i++)
    if (strchr (ct_base32, key[i]) == NULL || key[i] == '\0')
      return FALSE;
  return TRUE;
}

/* Equal keys, compared in constant time over the length of @a (keys of msgtrk's form all
 * have one length; a length difference says nothing secret). */
gboolean
msgtrk_content_track_key_equal (const char *a,
                                const char *b)
{
  gsize la, lb;

  if (a == NULL || b == NULL)
    return FALSE;
  la = strlen (a);
  lb = strlen (b);
  if (la != lb)
    return FALSE;
  return CRYPTO_memcmp (a, b, la) == 0;
}
