/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-secret.c: the tracking secret A and its authenticator B (RFC 3885, RFC 3887).
 *
 * What it is for:
 *   - making A: MSGTRK_SECRET_SIZE octets from OpenSSL's CSPRNG (RAND_bytes);
 *   - reading A from its base64 form (the mtrk-secret of TRACK and of mtqp URLs) with a
 *     strict decoder, and writing it back;
 *   - computing B = base64 (SHA-1 (raw octets of A)) and checking a B in constant time;
 *   - deriving A from a per-user master secret and the ENVID (docs/secret-derivation.md):
 *     A = HMAC-SHA-256 (master, MSGTRK_SECRET_DERIVE_LABEL || 0x00 || ENVID), 32 octets.
 *     Pure: the master is the caller's (msgtrkd keeps it in locked memory), nothing is
 *     cached here.
 *
 * B is computed over the RAW OCTETS of A, never over its base64 text (PROTOCOL-NOTES,
 * "Vocabulary"). A 32-octet A gives a 44-character mtrk-secret and a 28-character B.
 *
 * Base64 is RFC 4648 section 4 (standard alphabet "A-Z a-z 0-9 + /", "=" padding), read
 * strictly: no whitespace, no line breaks, no base64url characters, padding exactly as
 * required, and the unused bits before the padding must be zero, so that every secret has
 * exactly one text form. GLib's g_base64_decode() is lenient and is not used; encoding and
 * decoding are done here without tables or branches on the secret's values.
 *
 * Limits: a secret from elsewhere has MSGTRK_SECRET_MIN_SIZE to MSGTRK_SECRET_MAX_SIZE
 * octets; an authenticator is exactly MSGTRK_AUTHENTICATOR_LENGTH characters (20 octets).
 *
 * Must never: put A (raw or base64) in an error message or a log; compare A or B with
 * memcmp/strcmp; free a buffer that held A without wiping it (OPENSSL_cleanse).
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "msgtrk-private.h"

/* SHA-1 digest size in octets; B is its base64 form. */
#define AUTH_DIGEST_SIZE 20

/* Longest base64 text of a secret: 4 characters per started group of 3 octets. */
#define SECRET_BASE64_MAX_LENGTH (4 * ((MSGTRK_SECRET_MAX_SIZE + 2) / 3))

G_STATIC_ASSERT (AUTH_DIGEST_SIZE == 20);
G_STATIC_ASSERT (MSGTRK_AUTHENTICATOR_LENGTH == 4 * ((AUTH_DIGEST_SIZE + 2) / 3));
G_STATIC_ASSERT (MSGTRK_SECRET_MIN_SIZE <= MSGTRK_SECRET_SIZE);
G_STATIC_ASSERT (MSGTRK_SECRET_SIZE <= MSGTRK_SECRET_MAX_SIZE);
G_STATIC_ASSERT (MSGTRK_SECRET_SIZE == 32); /* a derived A is one SHA-256 output */

/**
 * MsgtrkSecret:
 *
 * A tracking secret A (RFC 3885 section 3, RFC 3887 section 3.2).
 *
 * Make a new one with [func@Msgtrk.Secret.generate], read one with
 * [ctor@Msgtrk.Secret.new_from_base64]. Its authenticator B is
 * `base64 (SHA-1 (raw octets of A))`, computed over the octets, not over the base64 text.
 *
 * The octets are wiped when the object is finalized. An object is immutable once made and
 * may be used from several threads.
 *
 * Since: 1.0
 */
struct _MsgtrkSecret
{
  GObject parent_instance;

  guint8 octets[MSGTRK_SECRET_MAX_SIZE]; /* A; only the first @len are used */
  gsize len;
};

G_DEFINE_FINAL_TYPE (MsgtrkSecret, msgtrk_secret, G_TYPE_OBJECT)

static void
msgtrk_secret_finalize (GObject *object)
{
  MsgtrkSecret *self = MSGTRK_SECRET (object);

  OPENSSL_cleanse (self->octets, sizeof self->octets);
  self->len = 0;

  G_OBJECT_CLASS (msgtrk_secret_parent_class)->finalize (object);
}

static void
msgtrk_secret_class_init (MsgtrkSecretClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = msgtrk_secret_finalize;
}

static void
msgtrk_secret_init (MsgtrkSecret *self)
{
}

/* ---- strict base64 (RFC 4648 section 4) ------------------------------------------------ */

/* -1 if lo <= x <= hi, else 0, without branches (x, lo, hi in 0..255). */
static inline int
mask_in_range (int x,
               int lo,
               int hi)
{
  return ((lo - 1 - x) & (x - hi - 1)) >> 8;
}

/*
 * The value 0..63 of a base64 character, or -1. Branch-free and table-free, so that the
 * time taken does not depend on which characters a secret holds.
 */
static int
b64_char_value (guchar c)
{
  int x = c;
  int v = -1;

  v += mask_in_range (x, 'A', 'Z') & (x - 'A' + 1);
  v += mask_in_range (x, 'a', 'z') & (x - 'a' + 26 + 1);
  v += mask_in_range (x, '0', '9') & (x - '0' + 52 + 1);
  v += mask_in_range (x, '+', '+') & (62 + 1);
  v += mask_in_range (x, '/', '/') & (63 + 1);
  return v;
}

/* The base64 character of a value 0..63, branch-free and table-free like the decoder. */
static char
b64_value_char (int v)
{
  int c = v + 'A';

  c += ((25 - v) >> 8) & ('a' - 'A' - 26); /* v >= 26 */
  c += ((51 - v) >> 8) & ('0' - 'a' - 26); /* v >= 52 */
  c += ((61 - v) >> 8) & ('+' - '0' - 10); /* v >= 62 */
  c += ((62 - v) >> 8) & ('/' - '+' - 1);  /* v == 63 */
  return (char) c;
}

/*
 * Base64 (RFC 4648 section 4, with padding) of @len octets, written straight into one
 * exactly sized result, so that no partial copy is left elsewhere.
 */
static char *
b64_encode (const guint8 *in,
            gsize         len)
{
  char *out = g_malloc (4 * ((len + 2) / 3) + 1);
  char *p = out;
  gsize i;

  for (i = 0; i + 3 <= len; i += 3)
    {
      *p++ = b64_value_char (in[i] >> 2);
      *p++ = b64_value_char (((in[i] & 0x03) << 4) | (in[i + 1] >> 4));
      *p++ = b64_value_char (((in[i + 1] & 0x0f) << 2) | (in[i + 2] >> 6));
      *p++ = b64_value_char (in[i + 2] & 0x3f);
    }
  if (len - i == 1)
    {
      *p++ = b64_value_char (in[i] >> 2);
      *p++ = b64_value_char ((in[i] & 0x03) << 4);
      *p++ = '=';
      *p++ = '=';
    }
  else if (len - i == 2)
    {
      *p++ = b64_value_char (in[i] >> 2);
      *p++ = b64_value_char (((in[i] & 0x03) << 4) | (in[i + 1] >> 4));
      *p++ = b64_value_char ((in[i + 1] & 0x0f) << 2);
      *p++ = '=';
    }
  *p = '\0';
  return out;
}

/* Describe a character that is not in the base64 alphabet, without quoting valid ones. */
static const char *
describe_bad_char (guchar c)
{
  if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v')
    return "whitespace or a line break";
  if (c < 0x20 || c == 0x7f)
    return "a control character";
  if (c >= 0x80)
    return "a non-ASCII byte";
  if (c == '-' || c == '_')
    return "“-” or “_” (the base64url alphabet is not accepted, use “+” and “/”)";
  return "a character outside the base64 alphabet";
}

/*
 * Decode @text (@text_len characters, NUL not included) strictly into @out, which has room
 * for @max_len octets; the result must have @min_len to @max_len octets. @what names the
 * value for error messages ("tracking secret", "authenticator"). The error never quotes
 * @text. @out may hold partial data on failure: callers wipe it.
 *
 *   base64      = *base64-group [ base64-final ]
 *   base64-group = 4base64-char
 *   base64-final = 2base64-char "==" / 3base64-char "="
 *   base64-char = ALPHA / DIGIT / "+" / "/"
 *
 * with the unused low bits of the last base64-char before "=" equal to zero.
 */
static gboolean
b64_decode_strict (const char *text,
                   gsize       text_len,
                   guint8     *out,
                   gsize       min_len,
                   gsize       max_len,
                   gsize      *out_len,
                   const char *what,
                   GError    **error)
{
  gsize n_pad = 0;
  gsize n_data;
  gsize decoded_len;
  gsize i;
  gsize o = 0;
  guint32 acc = 0;
  int bad = 0;

  if (text_len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET, "The %s is empty", what);
      return FALSE;
    }
  /* Characters first (the most useful message), without quoting any of them. */
  for (i = 0; i < text_len; i++)
    {
      int pad_mask = -(int) (text[i] == '='); /* -1 for "=", else 0 */

      bad |= (b64_char_value ((guchar) text[i]) >> 8) & ~pad_mask;
    }
  if (bad != 0)
    {
      for (i = 0; i < text_len; i++)
        if (b64_char_value ((guchar) text[i]) < 0 && text[i] != '=')
          break;
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "The %s is not valid base64: character %" G_GSIZE_FORMAT " is %s", what,
                   i + 1, describe_bad_char ((guchar) text[i]));
      return FALSE;
    }

  if (text_len % 4 != 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "The %s is not valid base64: its length (%" G_GSIZE_FORMAT " characters) "
                   "is not a multiple of 4; base64 comes in groups of four characters, "
                   "padded with “=”",
                   what, text_len);
      return FALSE;
    }

  while (n_pad < 2 && text[text_len - 1 - n_pad] == '=')
    n_pad++;
  n_data = text_len - n_pad;
  if (memchr (text, '=', n_data) != NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "The %s is not valid base64: “=” padding appears before the end (at "
                   "most two “=” end the text)",
                   what);
      return FALSE;
    }

  decoded_len = (text_len / 4) * 3 - n_pad;
  if (decoded_len < min_len || decoded_len > max_len)
    {
      if (min_len == max_len)
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                     "The %s decodes to %" G_GSIZE_FORMAT " octets; it must have exactly %"
                     G_GSIZE_FORMAT,
                     what, decoded_len, min_len);
      else
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                     "The %s decodes to %" G_GSIZE_FORMAT " octets; it must have %"
                     G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT,
                     what, decoded_len, min_len, max_len);
      return FALSE;
    }

  for (i = 0; i < n_data; i++)
    {
      acc = (acc << 6) | (guint32) b64_char_value ((guchar) text[i]);
      if (i % 4 == 3)
        {
          out[o++] = (guint8) (acc >> 16);
          out[o++] = (guint8) (acc >> 8);
          out[o++] = (guint8) acc;
          acc = 0;
        }
    }

  /* The final group: 2 characters carry 1 octet + 4 zero bits, 3 carry 2 octets + 2. */
  if (n_pad == 2)
    {
      if ((acc & 0x0f) != 0)
        bad = 1;
      out[o++] = (guint8) (acc >> 4);
    }
  else if (n_pad == 1)
    {
      if ((acc & 0x03) != 0)
        bad = 1;
      out[o++] = (guint8) (acc >> 10);
      out[o++] = (guint8) (acc >> 2);
    }
  acc = 0;

  if (bad != 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "The %s is not canonical base64: the character before the “=” padding "
                   "has bits set that the padding says are unused",
                   what);
      return FALSE;
    }

  g_assert (o == decoded_len);
  *out_len = decoded_len;
  return TRUE;
}

/* Decode a base64 secret into @out (MSGTRK_SECRET_MAX_SIZE octets). Wipes @out on failure. */
static gboolean
secret_decode (const char *text,
               guint8     *out,
               gsize      *out_len,
               GError    **error)
{
  gsize text_len = strnlen (text, SECRET_BASE64_MAX_LENGTH + 1);

  if (text_len > SECRET_BASE64_MAX_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "The tracking secret is too long: its base64 form must have at most %d "
                   "characters (%d octets)",
                   SECRET_BASE64_MAX_LENGTH, MSGTRK_SECRET_MAX_SIZE);
      return FALSE;
    }
  if (!b64_decode_strict (text, text_len, out, MSGTRK_SECRET_MIN_SIZE, MSGTRK_SECRET_MAX_SIZE,
                          out_len, "tracking secret", error))
    {
      OPENSSL_cleanse (out, MSGTRK_SECRET_MAX_SIZE);
      return FALSE;
    }
  return TRUE;
}

/* Decode a base64 authenticator into @digest (AUTH_DIGEST_SIZE octets). */
static gboolean
authenticator_decode (const char *text,
                      guint8     *digest,
                      GError    **error)
{
  gsize text_len = strnlen (text, MSGTRK_AUTHENTICATOR_LENGTH + 1);
  gsize len = 0;

  if (text_len != MSGTRK_AUTHENTICATOR_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "The authenticator must be %d base64 characters (a SHA-1 digest), not %s",
                   MSGTRK_AUTHENTICATOR_LENGTH,
                   text_len > MSGTRK_AUTHENTICATOR_LENGTH ? "more" : "fewer");
      return FALSE;
    }
  return b64_decode_strict (text, text_len, digest, AUTH_DIGEST_SIZE, AUTH_DIGEST_SIZE, &len,
                            "authenticator", error);
}

/* SHA-1 of @len octets into @digest (AUTH_DIGEST_SIZE octets). */
static void
sha1_octets (const guint8 *data,
             gsize         len,
             guint8       *digest)
{
  unsigned int digest_len = 0;

  /* EVP_Digest can fail only on allocation failure or a broken provider setup. */
  if (EVP_Digest (data, len, digest, &digest_len, EVP_sha1 (), NULL) != 1 ||
      digest_len != AUTH_DIGEST_SIZE)
    g_error ("OpenSSL could not compute SHA-1; is the default provider available?");
}

/* ---- public API -------------------------------------------------------------------------- */

/**
 * msgtrk_secret_generate:
 * @error: return location for a #GError, or %NULL
 *
 * Makes a new tracking secret A of %MSGTRK_SECRET_SIZE random octets from OpenSSL's
 * CSPRNG (`RAND_bytes`).
 *
 * Returns: (transfer full): the new secret, or %NULL with %MSGTRK_ERROR_RANDOM if the
 *   random generator failed
 *
 * Since: 1.0
 */
MsgtrkSecret *
msgtrk_secret_generate (GError **error)
{
  g_autoptr (MsgtrkSecret) self = g_object_new (MSGTRK_TYPE_SECRET, NULL);

  if (RAND_bytes (self->octets, MSGTRK_SECRET_SIZE) != 1)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_RANDOM,
                   "The system's random number generator failed; no tracking secret could "
                   "be made. Check that OpenSSL can seed itself (e.g. /dev/urandom exists).");
      return NULL;
    }
  self->len = MSGTRK_SECRET_SIZE;
  return g_steal_pointer (&self);
}

/**
 * msgtrk_secret_new_from_base64:
 * @text: the mtrk-secret: strict base64 (RFC 4648 section 4) of the secret's octets
 * @error: return location for a #GError, or %NULL
 *
 * Reads a tracking secret from its base64 form, as found in a TRACK command or an mtqp
 * URL. The text must use the standard alphabet with correct `=` padding and nothing else
 * (no whitespace, no line breaks), be canonical (unused bits zero), and decode to
 * %MSGTRK_SECRET_MIN_SIZE to %MSGTRK_SECRET_MAX_SIZE octets.
 *
 * The error message says what is wrong but never quotes the secret.
 *
 * Returns: (transfer full): the secret, or %NULL with %MSGTRK_ERROR_INVALID_SECRET
 *
 * Since: 1.0
 */
MsgtrkSecret *
msgtrk_secret_new_from_base64 (const char *text,
                               GError    **error)
{
  g_autoptr (MsgtrkSecret) self = NULL;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (MSGTRK_TYPE_SECRET, NULL);
  if (!secret_decode (text, self->octets, &self->len, error))
    return NULL;
  return g_steal_pointer (&self);
}

/*
 * msgtrk_secret_hmac_envid:
 * @master: the per-user master secret (%MSGTRK_SECRET_MASTER_SIZE octets)
 * @master_len: its length; anything else is refused
 * @label: the purpose, e.g. %MSGTRK_SECRET_DERIVE_LABEL (a NUL-terminated constant)
 * @envid: 1 to %MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH printable US-ASCII octets
 * @what: what is derived, for the error ("tracking secret", "Content-Track key")
 * @out: (out caller-allocates): the HMAC-SHA-256 (%MSGTRK_SECRET_SIZE octets)
 * @error: %MSGTRK_ERROR_INVALID_SECRET for a bad master or ENVID
 *
 * The one derivation of per-message values from the master secret:
 * HMAC-SHA-256 (master, label || 0x00 || ENVID) (docs/secret-derivation.md); each value
 * has its own label, so none reveals another.
 *
 * Returns: %TRUE with @out filled; the caller wipes @out after use
 */
gboolean
msgtrk_secret_hmac_envid (const guint8 *master,
                          gsize         master_len,
                          const char   *label,
                          const char   *envid,
                          const char   *what,
                          guint8        out[MSGTRK_SECRET_SIZE],
                          GError      **error)
{
  guint8 input[MSGTRK_SECRET_MAX_LABEL_LENGTH + 1 + MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH];
  unsigned int out_len = 0;
  gsize label_len = strlen (label);
  gsize envid_len;

  g_return_val_if_fail (master != NULL || master_len == 0, FALSE);
  g_return_val_if_fail (label_len <= MSGTRK_SECRET_MAX_LABEL_LENGTH, FALSE);
  g_return_val_if_fail (envid != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (master_len != MSGTRK_SECRET_MASTER_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "A master tracking secret has %d octets, not %" G_GSIZE_FORMAT,
                   MSGTRK_SECRET_MASTER_SIZE, master_len);
      return FALSE;
    }
  envid_len = strlen (envid);
  if (envid_len == 0 || envid_len > MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "No %s is derived for an ENVID of %" G_GSIZE_FORMAT " octets (1 to %d)",
                   what, envid_len, MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH);
      return FALSE;
    }
  for (gsize i = 0; i < envid_len; i++)
    if (!msgtrk_is_vchar ((guchar) envid[i]))
      {
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                     "No %s is derived for an ENVID that is not printable US-ASCII", what);
        return FALSE;
      }

  /* label || 0x00 || envid */
  memcpy (input, label, label_len);
  input[label_len] = 0;
  memcpy (input + label_len + 1, envid, envid_len);
  if (HMAC (EVP_sha256 (), master, (int) master_len, input, label_len + 1 + envid_len, out,
            &out_len) == NULL
      || out_len != MSGTRK_SECRET_SIZE)
    g_error ("OpenSSL could not compute HMAC-SHA-256; is the default provider available?");
  OPENSSL_cleanse (input, sizeof input);
  return TRUE;
}

/**
 * msgtrk_secret_derive:
 * @master: (array length=master_len): the per-user master secret, %MSGTRK_SECRET_MASTER_SIZE
 *   octets from a CSPRNG
 * @master_len: octets in @master; anything but %MSGTRK_SECRET_MASTER_SIZE is refused
 * @envid: the message's ENVID as it travels in `MAIL FROM … ENVID=` (its xtext form; the
 *   ENVIDs msgtrk generates need no escaping, so both forms are the same octets)
 * @error: return location for a #GError, or %NULL
 *
 * Derives the message's tracking secret A from the master secret (docs/secret-derivation.md):
 *
 *     A = HMAC-SHA-256 (master, "msgtrk A v1" || 0x00 || envid)
 *
 * 32 octets. HMAC-SHA-256 is a pseudo-random function keyed by the 256-bit master, and each
 * message has its own ENVID, so each A is indistinguishable from random to anyone without
 * the master, and the B values of two messages cannot be linked to each other. The label
 * and the 0x00 separate this use of the master from any other; the ENVID cannot contain a
 * NUL, so the input is unambiguous.
 *
 * Pure: no state is kept; every buffer that held key material is wiped before returning.
 *
 * Returns: (transfer full): the derived secret, or %NULL with %MSGTRK_ERROR_INVALID_SECRET
 *   for a master of the wrong size or an empty, too long (more than
 *   %MSGTRK_SECRET_DERIVE_MAX_ENVID_LENGTH octets) or non-printable ENVID
 *
 * Since: 1.0
 */
MsgtrkSecret *
msgtrk_secret_derive (const guint8 *master,
                      gsize         master_len,
                      const char   *envid,
                      GError      **error)
{
  g_autoptr (MsgtrkSecret) self = g_object_new (MSGTRK_TYPE_SECRET, NULL);

  g_return_val_if_fail (master != NULL || master_len == 0, NULL);
  g_return_val_if_fail (envid != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!msgtrk_secret_hmac_envid (master, master_len, MSGTRK_SECRET_DERIVE_LABEL, envid,
                                 "tracking secret", self->octets, error))
    return NULL;
  self->len = MSGTRK_SECRET_SIZE;
  return g_steal_pointer (&self);
}

/**
 * msgtrk_secret_copy_octets: (skip)
 * @self: a #MsgtrkSecret
 * @out: where the raw octets go
 * @out_size: room at @out
 *
 * Copies the raw octets of the secret, e.g. into memory the caller has locked. The caller
 * wipes @out (msgtrk_secure_wipe()) when done. Nothing is copied if @out_size is too small.
 *
 * Returns: the number of octets of the secret (copied only if at most @out_size)
 *
 * Since: 1.0
 */
gsize
msgtrk_secret_copy_octets (MsgtrkSecret *self,
                           guint8       *out,
                           gsize         out_size)
{
  g_return_val_if_fail (MSGTRK_IS_SECRET (self), 0);
  g_return_val_if_fail (out != NULL || out_size == 0, 0);

  if (self->len <= out_size)
    memcpy (out, self->octets, self->len);
  return self->len;
}

/**
 * msgtrk_secret_to_base64:
 * @self: a #MsgtrkSecret
 *
 * Writes the secret as base64 (the mtrk-secret). The result holds the secret: free it with
 * [func@Msgtrk.secure_free_string], which wipes it first.
 *
 * Returns: (transfer full): the base64 text
 *
 * Since: 1.0
 */
char *
msgtrk_secret_to_base64 (MsgtrkSecret *self)
{
  g_return_val_if_fail (MSGTRK_IS_SECRET (self), NULL);

  return b64_encode (self->octets, self->len);
}

/**
 * msgtrk_secret_compute_authenticator:
 * @self: a #MsgtrkSecret
 *
 * Computes the authenticator B = base64 (SHA-1 (raw octets of A)), the value sent in
 * `MAIL FROM:<…> MTRK=B` (RFC 3885). The hash covers the octets of the secret, not its
 * base64 text.
 *
 * Returns: (transfer full): B, %MSGTRK_AUTHENTICATOR_LENGTH (28) characters
 *
 * Since: 1.0
 */
char *
msgtrk_secret_compute_authenticator (MsgtrkSecret *self)
{
  guint8 digest[AUTH_DIGEST_SIZE];
  char *b64;

  g_return_val_if_fail (MSGTRK_IS_SECRET (self), NULL);

  sha1_octets (self->octets, self->len, digest);
  b64 = b64_encode (digest, sizeof digest);
  OPENSSL_cleanse (digest, sizeof digest);
  return b64;
}

/**
 * msgtrk_secret_matches_authenticator:
 * @self: a #MsgtrkSecret
 * @authenticator: a base64 authenticator B
 *
 * Checks whether @authenticator is the authenticator of @self. The digests are compared
 * in constant time (`CRYPTO_memcmp`). A malformed @authenticator (see
 * [func@Msgtrk.authenticator_is_valid]) does not match.
 *
 * Returns: %TRUE if B = base64 (SHA-1 (A))
 *
 * Since: 1.0
 */
gboolean
msgtrk_secret_matches_authenticator (MsgtrkSecret *self,
                                     const char   *authenticator)
{
  guint8 expected[AUTH_DIGEST_SIZE];
  guint8 actual[AUTH_DIGEST_SIZE];
  gboolean match;

  g_return_val_if_fail (MSGTRK_IS_SECRET (self), FALSE);

  if (authenticator == NULL || !authenticator_decode (authenticator, expected, NULL))
    return FALSE;

  sha1_octets (self->octets, self->len, actual);
  match = CRYPTO_memcmp (expected, actual, AUTH_DIGEST_SIZE) == 0;
  OPENSSL_cleanse (actual, sizeof actual);
  OPENSSL_cleanse (expected, sizeof expected);
  return match;
}

/**
 * msgtrk_authenticator_is_valid:
 * @authenticator: text that should be an authenticator B
 * @error: return location for a #GError, or %NULL
 *
 * Checks the syntax of an authenticator: exactly %MSGTRK_AUTHENTICATOR_LENGTH characters
 * of strict, canonical base64 that decode to 20 octets (a SHA-1 digest). Servers use this
 * on the MTRK parameter of MAIL FROM before they store B.
 *
 * Returns: %TRUE if valid; %FALSE with %MSGTRK_ERROR_INVALID_SECRET otherwise
 *
 * Since: 1.0
 */
gboolean
msgtrk_authenticator_is_valid (const char *authenticator,
                               GError    **error)
{
  guint8 digest[AUTH_DIGEST_SIZE];
  gboolean ok;

  g_return_val_if_fail (authenticator != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ok = authenticator_decode (authenticator, digest, error);
  OPENSSL_cleanse (digest, sizeof digest);
  return ok;
}

/**
 * msgtrk_verify_secret:
 * @secret_base64: (nullable): the mtrk-secret a client sent (untrusted)
 * @authenticator: (nullable): the stored authenticator B
 *
 * The server side of a TRACK command: decodes @secret_base64 strictly, hashes its octets
 * and compares the digest with @authenticator in constant time. Buffers that held the
 * secret are wiped before returning.
 *
 * Any malformed input, and %NULL for either argument, gives %FALSE: the caller answers a
 * wrong secret and an unknown ENVID the same way (PROTOCOL-NOTES) and needs no reason.
 *
 * Returns: %TRUE if SHA-1 of the secret's octets equals the digest in @authenticator
 *
 * Since: 1.0
 */
gboolean
msgtrk_verify_secret (const char *secret_base64,
                      const char *authenticator)
{
  guint8 octets[MSGTRK_SECRET_MAX_SIZE];
  guint8 expected[AUTH_DIGEST_SIZE];
  guint8 actual[AUTH_DIGEST_SIZE];
  gsize len = 0;
  gboolean match = FALSE;

  if (secret_base64 == NULL || authenticator == NULL)
    return FALSE;

  if (authenticator_decode (authenticator, expected, NULL) &&
      secret_decode (secret_base64, octets, &len, NULL))
    {
      sha1_octets (octets, len, actual);
      match = CRYPTO_memcmp (expected, actual, AUTH_DIGEST_SIZE) == 0;
    }

  OPENSSL_cleanse (octets, sizeof octets);
  OPENSSL_cleanse (actual, sizeof actual);
  OPENSSL_cleanse (expected, sizeof expected);
  return match;
}

/**
 * msgtrk_secure_wipe: (skip)
 * @data: (nullable): memory to wipe
 * @len: number of octets
 *
 * Overwrites @len octets at @data with zeros in a way the compiler cannot optimise away
 * (`OPENSSL_cleanse`). Use it on every buffer that held a secret before freeing it.
 *
 * Since: 1.0
 */
void
msgtrk_secure_wipe (gpointer data,
                    gsize    len)
{
  if (data == NULL || len == 0)
    return;
  OPENSSL_cleanse (data, len);
}

/**
 * msgtrk_secure_free_string:
 * @str: (nullable) (transfer full): a string that may hold a secret
 *
 * Wipes the characters of @str (up to its NUL) and frees it with g_free(). %NULL is
 * allowed. Use it for results of [method@Msgtrk.Secret.to_base64] and
 * [method@Msgtrk.Url.to_string].
 *
 * Since: 1.0
 */
void
msgtrk_secure_free_string (char *str)
{
  if (str == NULL)
    return;
  OPENSSL_cleanse (str, strlen (str));
  g_free (str);
}
