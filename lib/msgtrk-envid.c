/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-envid.c: ENVIDs (RFC 3461 section 4.4) as this library makes them.
 *
 * What: msgtrk_envid_generate() makes "mtrk.<26 base32>@<sender-domain>" (130 bits from
 * OpenSSL's RAND_bytes), which needs neither xtext nor URL escaping;
 * msgtrk_envid_is_valid() checks that an ENVID has that escaping-free form. ENVIDs
 * received from elsewhere (any printable US-ASCII, xtext on the wire) are the SMTP syntax
 * layer's (msgtrk_envid_param_parse() in msgtrk-smtp-syntax.c).
 * Limits: MSGTRK_ENVID_MAX_LENGTH characters; DNS labels of at most 63 octets.
 * Never: uses a weak random source, or wipes the random octets late (they are cleansed
 * before returning).
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "msgtrk-private.h"
#include "msgtrk-smtp-syntax-private.h"
#include "msgtrk-smtp-short-private.h"

/* RFC 1035: at most 63 octets per DNS label. */
#define DNS_LABEL_MAX 63
/* ENVID layout: "mtrk." + 26 base32 + "@" + domain. */
#define ENVID_PREFIX "mtrk."
#define ENVID_RANDOM_CHARS 26
/* 130 bits = 26 * 5 need 17 octets. */
#define ENVID_RANDOM_OCTETS 17

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* ------------------------------------------------------------------------------------ */
/* ENVID                                                                                */

/*
 * A domain name for an ENVID (RFC 5321 Domain, without address literals):
 *   Domain     = sub-domain *("." sub-domain)
 *   sub-domain = Let-dig [Ldh-str]          ; 1..63 octets
 *   Ldh-str    = *( ALPHA / DIGIT / "-" ) Let-dig
 * The last label must not be all digits (that is an IP address, not a name).
 */
static gboolean
validate_envid_domain (const char *domain,
                       GError    **error)
{
  g_autofree char *quoted = quote (domain);
  const char *label = domain;
  gboolean all_digits = TRUE;

  if (*domain == '\0')
    return fail (error, MSGTRK_ERROR_PARSE,
                             _("The sender domain for the ENVID is empty."));
  if (*domain == '[')
    return fail (error, MSGTRK_ERROR_PARSE,
                 _("The sender domain “%s” is an address literal; an ENVID needs a domain "
                   "name."),
                 quoted);

  while (TRUE)
    {
      gsize n = 0;

      all_digits = TRUE;
      while (label[n] != '\0' && label[n] != '.')
        {
          if (!msgtrk_smtp_is_ldh (label[n]))
            return fail (error, MSGTRK_ERROR_PARSE,
                         _("The sender domain “%s” contains a character not allowed in a "
                           "domain name (letters, digits, '-' and '.' only)."),
                         quoted);
          if (!g_ascii_isdigit (label[n]))
            all_digits = FALSE;
          n++;
        }
      if (n == 0)
        return fail (error, MSGTRK_ERROR_PARSE,
                     _("The sender domain “%s” has an empty label (a leading, trailing or "
                       "doubled '.')."),
                     quoted);
      if (n > DNS_LABEL_MAX)
        return fail (error, MSGTRK_ERROR_PARSE,
                     _("The sender domain “%s” has a label longer than %d characters."),
                     quoted, DNS_LABEL_MAX);
      if (label[0] == '-' || label[n - 1] == '-')
        return fail (error, MSGTRK_ERROR_PARSE,
                     _("The sender domain “%s” has a label that starts or ends with '-'."),
                     quoted);
      if (label[n] == '\0')
        break;
      label += n + 1;
    }

  if (all_digits)
    return fail (error, MSGTRK_ERROR_PARSE,
                 _("The sender domain “%s” looks like an IP address; an ENVID needs a "
                   "domain name."),
                 quoted);
  return TRUE;
}

/**
 * msgtrk_envid_generate:
 * @sender_domain: the domain of the sender's address, e.g. "example.org"
 * @error: return location for a #GError
 *
 * Makes a new, globally unique ENVID: `mtrk.<26 base32 characters>@<sender_domain>`,
 * where the 26 characters (RFC 4648 alphabet, lower case) carry 130 bits from OpenSSL's
 * CSPRNG. The result needs neither xtext nor URL escaping and satisfies
 * msgtrk_envid_is_valid().
 *
 * Fails with %MSGTRK_ERROR_PARSE if @sender_domain is not a domain name (letters,
 * digits, hyphens, labels of 1 to 63 characters; address literals and bare IP addresses
 * are refused), %MSGTRK_ERROR_LIMIT if the ENVID would be longer than
 * %MSGTRK_ENVID_MAX_LENGTH (domains of more than 68 characters) and
 * %MSGTRK_ERROR_RANDOM if the random generator fails.
 *
 * Returns: (transfer full): the new ENVID, or %NULL with @error set
 *
 * Since: 1.0
 */
char *
msgtrk_envid_generate (const char *sender_domain,
                       GError    **error)
{
  guint8 raw[ENVID_RANDOM_OCTETS];
  char random_part[ENVID_RANDOM_CHARS + 1];
  gsize envid_len;

  g_return_val_if_fail (sender_domain != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!validate_envid_domain (sender_domain, error))
    return NULL;

  envid_len = strlen (ENVID_PREFIX) + ENVID_RANDOM_CHARS + 1 + strlen (sender_domain);
  if (envid_len > MSGTRK_ENVID_MAX_LENGTH)
    {
      g_autofree char *quoted = quote (sender_domain);

      fail (error, MSGTRK_ERROR_LIMIT,
            _("The sender domain “%s” is too long for an ENVID (%lu characters, at most %d)."),
            quoted, (unsigned long) envid_len, MSGTRK_ENVID_MAX_LENGTH);
      return NULL;
    }

  if (RAND_bytes (raw, sizeof raw) != 1)
    {
      fail (error, MSGTRK_ERROR_RANDOM,
            _("The system's random number generator failed; no ENVID was made."));
      return NULL;
    }

  for (guint i = 0; i < ENVID_RANDOM_CHARS; i++)
    {
      guint bit = i * 5;
      guint window = ((guint) raw[bit / 8] << 8) | raw[bit / 8 + 1];

      random_part[i] = base32_alphabet[(window >> (11 - bit % 8)) & 0x1f];
    }
  random_part[ENVID_RANDOM_CHARS] = '\0';
  OPENSSL_cleanse (raw, sizeof raw);

  return g_strconcat (ENVID_PREFIX, random_part, "@", sender_domain, NULL);
}

/**
 * msgtrk_envid_is_valid:
 * @envid: an ENVID
 * @error: return location for a #GError
 *
 * Checks that @envid is an ENVID this library can put on the wire and into URLs without
 * escaping: 1 to %MSGTRK_ENVID_MAX_LENGTH characters, each printable ASCII (33 to 126)
 * except `+` and `=` (the characters xtext would escape). ENVIDs made by
 * msgtrk_envid_generate() always pass.
 *
 * Other ENVIDs that are valid for RFC 3461 (any printable US-ASCII, xtext-encoded on the
 * wire) are not refused by this library: they are handled by msgtrk_xtext_encode() and
 * msgtrk_xtext_decode() and kept by msgtrk_envelope_new_from_mail_params().
 *
 * Returns: %TRUE if @envid is valid, else %FALSE with @error set (%MSGTRK_ERROR_PARSE, or
 *   %MSGTRK_ERROR_LIMIT when too long)
 *
 * Since: 1.0
 */
gboolean
msgtrk_envid_is_valid (const char *envid,
                       GError    **error)
{
  gsize len;

  g_return_val_if_fail (envid != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  len = strnlen (envid, MSGTRK_ENVID_MAX_LENGTH + 1);
  if (len == 0)
    return fail (error, MSGTRK_ERROR_PARSE, _("The ENVID is empty."));
  if (len > MSGTRK_ENVID_MAX_LENGTH)
    return fail (error, MSGTRK_ERROR_LIMIT,
                 _("The ENVID is longer than %d characters."), MSGTRK_ENVID_MAX_LENGTH);
  for (gsize i = 0; i < len; i++)
    {
      if (!msgtrk_smtp_is_xchar ((guchar) envid[i]))
        {
          g_autofree char *quoted = quote (envid);

          return fail (error, MSGTRK_ERROR_PARSE,
                       _("The ENVID “%s” contains a character that would need escaping "
                         "(only printable ASCII other than '+' and '=' is allowed)."),
                       quoted);
        }
    }
  return TRUE;
}
