/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-smtp-syntax.c: the SMTP syntax of tracking, pure: ESMTP parameters (RFC 5321
 * section 4.1.2), their DSN and MTRK values (RFC 3461 ENVID, RET, NOTIFY, ORCPT; RFC 3885
 * MTRK), xtext (RFC 3461 section 4) and paths and mailboxes (RFC 5321 section 4.1.2,
 * RFC 6531 for UTF-8).
 *
 * What: a parser and a writer for each: msgtrk_xtext_decode() / msgtrk_xtext_encode();
 * msgtrk_smtp_params_parse() / msgtrk_smtp_param_write(); msgtrk_envid_param_parse() /
 * msgtrk_smtp_envid_param_write(); msgtrk_ret_param_parse() / msgtrk_smtp_ret_param_word();
 * msgtrk_mtrk_param_parse() / msgtrk_smtp_mtrk_param_write(); msgtrk_notify_param_parse() /
 * msgtrk_notify_param_format(); msgtrk_orcpt_param_parse() / msgtrk_smtp_orcpt_param_write();
 * MsgtrkSmtpPathParser (and msgtrk_smtp_path_parse(), msgtrk_smtp_mailbox_check()) /
 * msgtrk_smtp_path_write(). The public ones are declared in msgtrk-envelope.h, the others
 * in msgtrk-smtp-syntax-private.h.
 * How: the relay and msgtrk-submit-front parse MAIL and RCPT with these and nothing of
 * their own; MsgtrkEnvelope builds its MAIL and RCPT arguments with the writers. Mailbox
 * syntax lives here only: every program that reads a path calls MsgtrkSmtpPathParser.
 * Limits: MSGTRK_XTEXT_MAX_LENGTH, MSGTRK_SMTP_PARAMS_MAX parameters in at most
 * MSGTRK_SMTP_RCPT_LINE_MAX octets, MSGTRK_ENVID_MAX_LENGTH, MSGTRK_ORCPT_MAX_LENGTH,
 * MSGTRK_MTRK_TIMEOUT_MAX (9 digits), a mailbox of at most the caller's maximum (by default
 * MSGTRK_SMTP_ADDRESS_MAX_LENGTH) octets; the path parser stops at the limit, it never
 * buffers more.
 * Never: does I/O or keeps state outside the caller's struct; writes CR, LF, NUL, '<' or
 * '>' into a path or a parameter; writes what its own parser would refuse; aborts on
 * remote input.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-smtp-syntax-private.h"

/* Longest hostile text quoted in an error message. */
#define QUOTE_MAX 64

static gboolean fail (GError    **error,
                      MsgtrkError code,
                      const char *format,
                      ...) G_GNUC_PRINTF (3, 4);

/* Set @error to @code with a formatted message; always returns FALSE. */
static gboolean
fail (GError    **error,
      MsgtrkError code,
      const char *format,
      ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, MSGTRK_ERROR, code, message);
  return FALSE;
}

/* Quote @len octets of untrusted @text for an error message (NUL octets shown too). */
static char *
quote_len (const char *text,
           gsize       len)
{
  return msgtrk_strn_escape_for_error (text, (gssize) MIN (len, (gsize) G_MAXSSIZE),
                                       QUOTE_MAX);
}

static char *
quote (const char *text)
{
  return msgtrk_str_escape_for_error (text, QUOTE_MAX);
}

/* Let-dig / Ldh-str characters (RFC 5321 section 4.1.2). */
static gboolean
is_ldh (char c)
{
  return g_ascii_isalnum (c) || c == '-';
}

/* ------------------------------------------------------------------------------------ */
/* Character classes                                                                    */

/* xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except "+" and "=" */
gboolean
msgtrk_smtp_is_xchar (guchar c)
{
  return c >= 33 && c <= 126 && c != '+' && c != '=';
}

/* ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
gboolean
msgtrk_smtp_is_keyword (const char *word,
                        gsize       len)
{
  if (len == 0 || !g_ascii_isalnum (word[0]))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!is_ldh (word[i]))
      return FALSE;
  return TRUE;
}

/*
 * The form of B (RFC 3885, PROTOCOL-NOTES): base64 of a 20-octet SHA-1, i.e. 27 base64
 * characters and one "=", the last character canonical (its two low bits zero).
 * Checked here rather than with msgtrk_authenticator_is_valid() so that this module
 * stands alone; both implement the same form.
 */
static const char base64_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

gboolean
msgtrk_smtp_authenticator_form_ok (const char *text)
{
  gsize len = strnlen (text, MSGTRK_AUTHENTICATOR_LENGTH + 1);
  const char *last;

  if (len != MSGTRK_AUTHENTICATOR_LENGTH || text[len - 1] != '=')
    return FALSE;
  for (gsize i = 0; i < len - 1; i++)
    if (text[i] == '\0' || strchr (base64_alphabet, text[i]) == NULL)
      return FALSE;
  last = strchr (base64_alphabet, text[len - 2]);
  return ((last - base64_alphabet) & 3) == 0;
}

gboolean
msgtrk_smtp_notify_is_consistent (MsgtrkDsnNotify notify)
{
  const MsgtrkDsnNotify all = MSGTRK_DSN_NOTIFY_NEVER | MSGTRK_DSN_NOTIFY_SUCCESS
                              | MSGTRK_DSN_NOTIFY_FAILURE | MSGTRK_DSN_NOTIFY_DELAY;

  if ((notify & ~all) != 0)
    return FALSE;
  if ((notify & MSGTRK_DSN_NOTIFY_NEVER) && notify != MSGTRK_DSN_NOTIFY_NEVER)
    return FALSE;
  return TRUE;
}

/* ------------------------------------------------------------------------------------ */
/* xtext (RFC 3461 section 4)                                                           */

/**
 * msgtrk_xtext_encode:
 * @text: the text to encode (any octets but NUL)
 *
 * Encodes @text as RFC 3461 xtext:
 * |[
 * xtext   = *( xchar / hexchar )
 * xchar   = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except "+" and "="
 * hexchar = ASCII "+" immediately followed by two upper case hexadecimal digits
 * ]|
 * `+`, `=`, space, control characters and non-ASCII octets become `+XX`.
 *
 * Returns: (transfer full): the xtext
 */
char *
msgtrk_xtext_encode (const char *text)
{
  GString *out;

  g_return_val_if_fail (text != NULL, NULL);

  out = g_string_sized_new (strlen (text) + 1);
  for (const char *p = text; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (msgtrk_smtp_is_xchar (c))
        g_string_append_c (out, (char) c);
      else
        g_string_append_printf (out, "+%02X", c);
    }
  return g_string_free (out, FALSE);
}

static int
upper_hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/**
 * msgtrk_xtext_decode:
 * @xtext: RFC 3461 xtext, at most %MSGTRK_XTEXT_MAX_LENGTH characters
 * @error: return location for a #GError
 *
 * Decodes xtext (see msgtrk_xtext_encode() for the grammar), strictly: a `+` must be
 * followed by two upper-case hexadecimal digits, a raw `=`, space, control or non-ASCII
 * character is refused, and so is `+00` (a NUL cannot live in a C string). The empty
 * string is valid xtext and decodes to "".
 *
 * Returns: (transfer full): the decoded octets (not necessarily UTF-8 when the input
 *   escapes non-ASCII octets), or %NULL with @error set (%MSGTRK_ERROR_PARSE, or
 *   %MSGTRK_ERROR_LIMIT when the input is too long)
 */
char *
msgtrk_xtext_decode (const char *xtext,
                     GError    **error)
{
  g_autoptr (GString) out = NULL;
  gsize len;

  g_return_val_if_fail (xtext != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  len = strnlen (xtext, MSGTRK_XTEXT_MAX_LENGTH + 1);
  if (len > MSGTRK_XTEXT_MAX_LENGTH)
    {
      fail (error, MSGTRK_ERROR_LIMIT, _("The xtext is longer than %d characters."),
            MSGTRK_XTEXT_MAX_LENGTH);
      return NULL;
    }

  out = g_string_sized_new (len + 1);
  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) xtext[i];

      if (c == '+')
        {
          int hi = i + 1 < len ? upper_hex_value (xtext[i + 1]) : -1;
          int lo = i + 2 < len ? upper_hex_value (xtext[i + 2]) : -1;

          if (hi < 0 || lo < 0)
            {
              g_autofree char *quoted = quote_len (xtext + i, MIN (3, len - i));

              fail (error, MSGTRK_ERROR_PARSE,
                    _("Bad xtext escape “%s” at position %lu: '+' must be followed by two "
                      "upper-case hexadecimal digits."),
                    quoted, (unsigned long) (i + 1));
              return NULL;
            }
          if (hi == 0 && lo == 0)
            {
              fail (error, MSGTRK_ERROR_PARSE,
                    _("The xtext contains “+00” (a NUL character) at position %lu."),
                    (unsigned long) (i + 1));
              return NULL;
            }
          g_string_append_c (out, (char) (hi * 16 + lo));
          i += 2;
        }
      else if (msgtrk_smtp_is_xchar (c))
        g_string_append_c (out, (char) c);
      else
        {
          g_autofree char *quoted = quote_len (xtext + i, 1);

          fail (error, MSGTRK_ERROR_PARSE,
                _("The xtext contains the character “%s” at position %lu, which must be "
                  "written as +XX."),
                quoted, (unsigned long) (i + 1));
          return NULL;
        }
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* ------------------------------------------------------------------------------------ */
/* Server side                                                                          */

/**
 * msgtrk_smtp_params_parse:
 * @text: the parameters after the path of MAIL FROM or RCPT TO, e.g.
 *   "ENVID=abc RET=HDRS"
 * @error: return location for a #GError
 *
 * Parses ESMTP parameters (RFC 5321 section 4.1.2):
 * |[
 * esmtp-param   = esmtp-keyword ["=" esmtp-value]
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 * esmtp-value   = 1*(%d33-60 / %d62-126)
 * ]|
 * separated by spaces (runs of spaces are tolerated). Keywords are case-insensitive and
 * become upper-case keys; values are kept as sent (still xtext where the parameter is).
 *
 * One deliberate deviation: a value may contain "=" (%d61). RFC 3885 puts the base64
 * authenticator, which ends in "=", into MTRK=; the parameter is split at its first "="
 * and each parameter's own parser (xtext, NOTIFY, RET, …) still refuses a stray "=".
 *
 * Fails with %MSGTRK_ERROR_PARSE for bad keywords or values, an empty value after "=" or
 * a repeated keyword, and with %MSGTRK_ERROR_LIMIT for more than %MSGTRK_SMTP_PARAMS_MAX
 * parameters or a text longer than %MSGTRK_SMTP_RCPT_LINE_MAX (longer than any legal
 * command line).
 *
 * Returns: (transfer full) (element-type utf8 utf8): upper-case keyword → value (%NULL
 *   for a keyword without value), or %NULL with @error set
 */
GHashTable *
msgtrk_smtp_params_parse (const char *text,
                          GError    **error)
{
  g_autoptr (GHashTable) params = NULL;
  gsize len, i = 0;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  len = strnlen (text, MSGTRK_SMTP_RCPT_LINE_MAX + 1);
  if (len > MSGTRK_SMTP_RCPT_LINE_MAX)
    {
      fail (error, MSGTRK_ERROR_LIMIT,
            _("The command's parameters are longer than %d characters."),
            MSGTRK_SMTP_RCPT_LINE_MAX);
      return NULL;
    }

  params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  while (i < len)
    {
      gsize start, key_end, end;
      g_autofree char *key = NULL;
      g_autofree char *quoted = NULL;

      while (i < len && text[i] == ' ')
        i++;
      if (i == len)
        break;
      start = i;
      while (i < len && text[i] != ' ')
        i++;
      end = i;
      key_end = start;
      while (key_end < end && text[key_end] != '=')
        key_end++;
      quoted = quote_len (text + start, end - start);

      if (!msgtrk_smtp_is_keyword (text + start, key_end - start))
        {
          fail (error, MSGTRK_ERROR_PARSE,
                _("The parameter “%s” does not start with a valid keyword (letters, digits "
                  "and '-')."),
                quoted);
          return NULL;
        }
      if (key_end < end && key_end + 1 == end)
        {
          fail (error, MSGTRK_ERROR_PARSE, _("The parameter “%s” has an empty value."),
                quoted);
          return NULL;
        }
      for (gsize j = key_end + 1; j < end; j++)
        {
          guchar c = (guchar) text[j];

          if (c < 33 || c > 126)
            {
              fail (error, MSGTRK_ERROR_PARSE,
                    _("The value of the parameter “%s” contains a character that is not "
                      "printable ASCII."),
                    quoted);
              return NULL;
            }
        }
      key = g_ascii_strup (text + start, key_end - start);
      if (g_hash_table_contains (params, key))
        {
          fail (error, MSGTRK_ERROR_PARSE, _("The parameter %s is given twice."), key);
          return NULL;
        }
      if (g_hash_table_size (params) >= MSGTRK_SMTP_PARAMS_MAX)
        {
          fail (error, MSGTRK_ERROR_LIMIT, _("The command has more than %d parameters."),
                MSGTRK_SMTP_PARAMS_MAX);
          return NULL;
        }
      g_hash_table_insert (params, g_steal_pointer (&key),
                           key_end < end ? g_strndup (text + key_end + 1, end - key_end - 1)
                                         : NULL);
    }
  return g_steal_pointer (&params);
}

/**
 * msgtrk_mtrk_param_parse:
 * @value: the value of an MTRK parameter, "B[:timeout]"
 * @authenticator: (out) (optional) (transfer full): B
 * @timeout: (out) (optional): the timeout in seconds, 0 if none was given
 * @error: return location for a #GError
 *
 * Parses the value of the RFC 3885 MTRK parameter:
 * |[
 * mtrk-value = authenticator [ ":" timeout ]
 * timeout    = 1*9DIGIT        ; seconds, 0 refused
 * ]|
 * where the authenticator is base64 of a SHA-1 (%MSGTRK_AUTHENTICATOR_LENGTH characters,
 * the last one "=").
 *
 * Fails with %MSGTRK_ERROR_INVALID_SECRET for a malformed authenticator,
 * %MSGTRK_ERROR_PARSE for a malformed or zero timeout and %MSGTRK_ERROR_LIMIT for a
 * timeout of more than 9 digits. The out arguments are left untouched on failure.
 *
 * Returns: %TRUE on success
 */
gboolean
msgtrk_mtrk_param_parse (const char *value,
                         char      **authenticator,
                         guint      *timeout,
                         GError    **error)
{
  const char *colon;
  gsize b_len;
  guint seconds = 0;

  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  colon = strchr (value, ':');
  b_len = colon != NULL ? (gsize) (colon - value) : strlen (value);
  {
    g_autofree char *b = g_strndup (value, b_len);

    if (!msgtrk_smtp_authenticator_form_ok (b))
      return fail (error, MSGTRK_ERROR_INVALID_SECRET,
                   _("The MTRK authenticator is malformed: it must be %d base64 characters "
                     "ending in '='."),
                   MSGTRK_AUTHENTICATOR_LENGTH);
  }

  if (colon != NULL)
    {
      const char *digits = colon + 1;
      gsize n = strlen (digits);
      g_autofree char *quoted = quote (digits);

      if (n == 0)
        return fail (error, MSGTRK_ERROR_PARSE, _("The MTRK timeout after ':' is empty."));
      for (gsize i = 0; i < n; i++)
        if (!g_ascii_isdigit (digits[i]))
          return fail (error, MSGTRK_ERROR_PARSE,
                       _("The MTRK timeout “%s” is not a number of seconds."), quoted);
      if (n > 9)
        return fail (error, MSGTRK_ERROR_LIMIT,
                     _("The MTRK timeout “%s” has more than 9 digits."), quoted);
      seconds = (guint) g_ascii_strtoull (digits, NULL, 10);
      if (seconds == 0)
        return fail (error, MSGTRK_ERROR_PARSE, _("The MTRK timeout must not be 0."));
    }

  if (authenticator != NULL)
    *authenticator = g_strndup (value, b_len);
  if (timeout != NULL)
    *timeout = seconds;
  return TRUE;
}

/**
 * msgtrk_notify_param_parse:
 * @value: the value of a NOTIFY parameter
 * @notify: (out): the flags
 * @error: return location for a #GError
 *
 * Parses the RFC 3461 NOTIFY value, case-insensitively:
 * |[
 * notify-esmtp-value = "NEVER" / 1#notify-list-element
 * notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
 * ]|
 * The list is comma-separated without spaces; repeated or empty elements are refused.
 *
 * Returns: %TRUE on success, else %FALSE with @error set (%MSGTRK_ERROR_PARSE)
 */
gboolean
msgtrk_notify_param_parse (const char      *value,
                           MsgtrkDsnNotify *notify,
                           GError         **error)
{
  g_auto (GStrv) items = NULL;
  g_autofree char *quoted = NULL;
  MsgtrkDsnNotify result = MSGTRK_DSN_NOTIFY_UNSET;

  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (notify != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  quoted = quote (value);
  if (g_ascii_strcasecmp (value, "NEVER") == 0)
    {
      *notify = MSGTRK_DSN_NOTIFY_NEVER;
      return TRUE;
    }

  items = g_strsplit (value, ",", -1);
  for (guint i = 0; items[i] != NULL; i++)
    {
      MsgtrkDsnNotify flag;

      if (g_ascii_strcasecmp (items[i], "SUCCESS") == 0)
        flag = MSGTRK_DSN_NOTIFY_SUCCESS;
      else if (g_ascii_strcasecmp (items[i], "FAILURE") == 0)
        flag = MSGTRK_DSN_NOTIFY_FAILURE;
      else if (g_ascii_strcasecmp (items[i], "DELAY") == 0)
        flag = MSGTRK_DSN_NOTIFY_DELAY;
      else if (g_ascii_strcasecmp (items[i], "NEVER") == 0)
        return fail (error, MSGTRK_ERROR_PARSE,
                     _("NOTIFY=%s: NEVER cannot be combined with other values."), quoted);
      else
        return fail (error, MSGTRK_ERROR_PARSE,
                     _("NOTIFY=%s: expected NEVER or a comma-separated list of SUCCESS, "
                       "FAILURE and DELAY."),
                     quoted);
      if (result & flag)
        return fail (error, MSGTRK_ERROR_PARSE, _("NOTIFY=%s repeats a value."), quoted);
      result |= flag;
    }
  if (result == MSGTRK_DSN_NOTIFY_UNSET)
    return fail (error, MSGTRK_ERROR_PARSE, _("The NOTIFY value is empty."));

  *notify = result;
  return TRUE;
}

/**
 * msgtrk_notify_param_format:
 * @notify: NOTIFY flags; %MSGTRK_DSN_NOTIFY_NEVER only alone
 *
 * Writes the NOTIFY value: "NEVER", or the set flags in the order SUCCESS, FAILURE,
 * DELAY, comma-separated.
 *
 * Returns: (transfer full) (nullable): the value, %NULL for %MSGTRK_DSN_NOTIFY_UNSET
 */
char *
msgtrk_notify_param_format (MsgtrkDsnNotify notify)
{
  GString *out;

  g_return_val_if_fail (msgtrk_smtp_notify_is_consistent (notify), NULL);

  if (notify == MSGTRK_DSN_NOTIFY_UNSET)
    return NULL;
  if (notify == MSGTRK_DSN_NOTIFY_NEVER)
    return g_strdup ("NEVER");

  out = g_string_new (NULL);
  if (notify & MSGTRK_DSN_NOTIFY_SUCCESS)
    g_string_append (out, "SUCCESS,");
  if (notify & MSGTRK_DSN_NOTIFY_FAILURE)
    g_string_append (out, "FAILURE,");
  if (notify & MSGTRK_DSN_NOTIFY_DELAY)
    g_string_append (out, "DELAY,");
  g_string_truncate (out, out->len - 1);
  return g_string_free (out, FALSE);
}

/* Decoded ENVID and ORCPT values must be printable US-ASCII (RFC 3461 4.2, 4.4). */
gboolean
msgtrk_smtp_is_printable_ascii (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || (guchar) *p > 0x7e)
      return FALSE;
  return TRUE;
}

/* atext (RFC 5322), the characters of an addr-type atom. */
gboolean
msgtrk_smtp_is_atext (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/**
 * msgtrk_orcpt_param_parse:
 * @value: the value of an ORCPT parameter, "addr-type;xtext"
 * @addr_type: (out) (optional) (transfer full): the address type as sent (e.g. "rfc822")
 * @address: (out) (optional) (transfer full): the decoded original recipient
 * @error: return location for a #GError
 *
 * Parses the RFC 3461 ORCPT value:
 * |[
 * orcpt-parameter = "ORCPT=" original-recipient-address
 * original-recipient-address = addr-type ";" xtext
 * addr-type = atom
 * ]|
 * The value is at most %MSGTRK_ORCPT_MAX_LENGTH characters (%MSGTRK_ERROR_LIMIT); the
 * decoded address must be non-empty printable US-ASCII (%MSGTRK_ERROR_PARSE). The out
 * arguments are left untouched on failure.
 *
 * Returns: %TRUE on success
 */
gboolean
msgtrk_orcpt_param_parse (const char *value,
                          char      **addr_type,
                          char      **address,
                          GError    **error)
{
  g_autofree char *decoded = NULL;
  g_autofree char *quoted = NULL;
  const char *semicolon;

  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (strnlen (value, MSGTRK_ORCPT_MAX_LENGTH + 1) > MSGTRK_ORCPT_MAX_LENGTH)
    return fail (error, MSGTRK_ERROR_LIMIT, _("The ORCPT value is longer than %d characters."),
                 MSGTRK_ORCPT_MAX_LENGTH);

  quoted = quote (value);
  semicolon = strchr (value, ';');
  if (semicolon == NULL || semicolon == value)
    return fail (error, MSGTRK_ERROR_PARSE,
                 _("ORCPT=%s: expected an address type, ';' and the address."), quoted);
  for (const char *p = value; p < semicolon; p++)
    if (!msgtrk_smtp_is_atext (*p))
      return fail (error, MSGTRK_ERROR_PARSE,
                   _("ORCPT=%s: the address type is not an atom."), quoted);

  decoded = msgtrk_xtext_decode (semicolon + 1, error);
  if (decoded == NULL)
    {
      g_prefix_error (error, _("ORCPT=%s: "), quoted);
      return FALSE;
    }
  if (*decoded == '\0')
    return fail (error, MSGTRK_ERROR_PARSE, _("ORCPT=%s: the address is empty."), quoted);
  if (!msgtrk_smtp_is_printable_ascii (decoded))
    return fail (error, MSGTRK_ERROR_PARSE,
                 _("ORCPT=%s: the decoded address is not printable US-ASCII."), quoted);

  if (addr_type != NULL)
    *addr_type = g_strndup (value, semicolon - value);
  if (address != NULL)
    *address = g_steal_pointer (&decoded);
  return TRUE;
}

/* A decoded ENVID received from elsewhere (RFC 3461 section 4.4): non-empty printable
 * US-ASCII, at most MSGTRK_ENVID_MAX_LENGTH characters as xtext. */
gboolean
msgtrk_smtp_envid_received_check (const char *envid,
                                  GError    **error)
{
  g_autofree char *xtext = NULL;

  if (*envid == '\0')
    return fail (error, MSGTRK_ERROR_PARSE, _("The ENVID is empty."));
  if (!msgtrk_smtp_is_printable_ascii (envid))
    {
      g_autofree char *quoted = quote (envid);

      return fail (error, MSGTRK_ERROR_PARSE,
                   _("The decoded ENVID “%s” is not printable US-ASCII."), quoted);
    }
  xtext = msgtrk_xtext_encode (envid);
  if (strlen (xtext) > MSGTRK_ENVID_MAX_LENGTH)
    return fail (error, MSGTRK_ERROR_LIMIT,
                 _("The ENVID is longer than %d characters as xtext."),
                 MSGTRK_ENVID_MAX_LENGTH);
  return TRUE;
}

/**
 * msgtrk_envid_param_parse:
 * @value: (nullable): the value of an ENVID parameter as received (xtext), %NULL if the
 *   keyword came without a value
 * @envid: (out) (optional) (transfer full): the decoded ENVID
 * @error: return location for a #GError
 *
 * Parses the RFC 3461 ENVID value (section 4.4):
 * |[
 * envid-parameter = "ENVID=" xtext        ; at most 100 characters
 * ]|
 * The decoded ENVID must be non-empty printable US-ASCII (%x20-7E): an ENVID that decodes
 * to CR, LF or any other control character is refused, so it can never become a key that
 * no longer matches a report's Original-Envelope-Id.
 *
 * Fails with %MSGTRK_ERROR_PARSE (no value, bad xtext, not printable) or
 * %MSGTRK_ERROR_LIMIT (more than %MSGTRK_ENVID_MAX_LENGTH characters). @envid is left
 * untouched on failure.
 *
 * Returns: %TRUE on success
 */
gboolean
msgtrk_envid_param_parse (const char *value,
                          char      **envid,
                          GError    **error)
{
  g_autofree char *decoded = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (value == NULL || *value == '\0')
    return fail (error, MSGTRK_ERROR_PARSE, _("The ENVID parameter has no value."));
  if (strnlen (value, MSGTRK_ENVID_MAX_LENGTH + 1) > MSGTRK_ENVID_MAX_LENGTH)
    return fail (error, MSGTRK_ERROR_LIMIT,
                 _("The ENVID parameter is longer than %d characters."),
                 MSGTRK_ENVID_MAX_LENGTH);
  decoded = msgtrk_xtext_decode (value, error);
  if (decoded == NULL)
    {
      g_prefix_error (error, _("ENVID: "));
      return FALSE;
    }
  if (!msgtrk_smtp_envid_received_check (decoded, error))
    return FALSE;
  if (envid != NULL)
    *envid = g_steal_pointer (&decoded);
  return TRUE;
}

/**
 * msgtrk_ret_param_parse:
 * @value: (nullable): the value of a RET parameter, %NULL if the keyword came without one
 * @ret: (out): %MSGTRK_DSN_RET_HDRS or %MSGTRK_DSN_RET_FULL
 * @error: return location for a #GError
 *
 * Parses the RFC 3461 RET value, case-insensitively:
 * |[
 * ret-parameter = "RET=" ("FULL" / "HDRS")
 * ]|
 *
 * Returns: %TRUE on success, else %FALSE with @error set (%MSGTRK_ERROR_PARSE) and @ret
 *   untouched
 */
gboolean
msgtrk_ret_param_parse (const char   *value,
                        MsgtrkDsnRet *ret,
                        GError      **error)
{
  g_return_val_if_fail (ret != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (value != NULL && g_ascii_strcasecmp (value, "HDRS") == 0)
    *ret = MSGTRK_DSN_RET_HDRS;
  else if (value != NULL && g_ascii_strcasecmp (value, "FULL") == 0)
    *ret = MSGTRK_DSN_RET_FULL;
  else
    {
      g_autofree char *quoted = quote (value != NULL ? value : "");

      return fail (error, MSGTRK_ERROR_PARSE, _("RET=%s: expected HDRS or FULL."), quoted);
    }
  return TRUE;
}
