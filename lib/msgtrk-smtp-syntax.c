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
 * msgtrk_smtp_path_write(); msgtrk_smtp_path_list_split() (public: for plugins, which may
 * not use the parser itself) for a comma-separated list of paths. The public ones are declared in msgtrk-envelope.h, the others
 * in msgtrk-smtp-syntax-private.h.
 * How: the relay and msgtrk-submit-front parse MAIL and RCPT with these and nothing of
 * their own; MsgtrkEnvelope builds its MAIL and RCPT arguments with the writers. Mailbox
 * syntax lives here only: every program that reads a path calls MsgtrkSmtpPathParser.
 * Limits: MSGTRK_XTEXT_MAX_LENGTH, MSGTRK_SMTP_PARAMS_MAX parameters in at most
 * MSGTRK_SMTP_RCPT_LINE_MAX octets, MSGTRK_ENVID_MAX_LENGTH, MSGTRK_ORCPT_MAX_LENGTH,
 * MSGTRK_MTRK_TIMEOUT_MAX (9 digits), MSGTRK_SMTP_PATH_LIST_MAX paths in a list, a mailbox of at most the caller's maximum (by default
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
#include "msgtrk-smtp-short-private.h"

/* Longest hostile text quoted in an error message. */
#define QUOTE_MAX 64

/* Sets @error to @code with a formatted message; always returns FALSE. For the SMTP
 * family of files (this one, msgtrk-envid.c, msgtrk-smtp-capabilities.c,
 * msgtrk-envelope.c). */
gboolean
msgtrk_smtp_fail (GError    **error,
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

/* Quotes untrusted @text (@len octets, or up to its NUL if @len < 0; NUL octets shown too)
 * for an error message, at most QUOTE_MAX characters. */
char *
msgtrk_smtp_quote (const char *text,
                   gssize      len)
{
  if (len < 0)
    return msgtrk_str_escape_for_error (text, QUOTE_MAX);
  return msgtrk_strn_escape_for_error (text, len, QUOTE_MAX);
}

/* ------------------------------------------------------------------------------------ */
/* Character classes                                                                    */

/* Let-dig / Ldh-str characters (RFC 5321 section 4.1.2): a keyword's, a domain label's. */
gboolean
msgtrk_smtp_is_ldh (char c)
{
  return g_ascii_isalnum (c) || c == '-';
}

/* The next word of @text (@len octets) from *@pos: words are separated by runs of
 * spaces. Sets *@start to the word's first octet and *@pos past its last; FALSE (and
 * *@pos at @len) when only spaces are left. The one splitter of EHLO keyword lines and of
 * MAIL/RCPT parameters. */
gboolean
msgtrk_smtp_next_word (const char *text,
                       gsize       len,
                       gsize      *pos,
                       gsize      *start)
{
  gsize i = *pos;

  while (i < len && text[i] == ' ')
    i++;
  *start = i;
  while (i < len && text[i] != ' ')
    i++;
  *pos = i;
  return *start < len;
}

/* xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except "+" and "=" */
gboolean
msgtrk_smtp_is_xchar (guchar c)
{
  return msgtrk_is_vchar (c) && c != '+' && c != '=';
}

/* ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
gboolean
msgtrk_smtp_is_keyword (const char *word,
                        gsize       len)
{
  if (len == 0 || !g_ascii_isalnum (word[0]))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!msgtrk_smtp_is_ldh (word[i]))
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
  for (gsize start; msgtrk_smtp_next_word (text, len, &i, &start);)
    {
      gsize key_end, end = i;
      g_autofree char *key = NULL;
      g_autofree char *quoted = NULL;

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

          if (!msgtrk_is_vchar (c))
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
          fail (error, MSGTRK_ERROR_LIMIT,
                            _("The command has more than %d parameters."),
                MSGTRK_SMTP_PARAMS_MAX);
          return NULL;
        }
      g_hash_table_insert (params, g_steal_pointer (&key),
                           key_end < end ? g_strndup (text + key_end + 1, end - key_end - 1)
                                         : NULL);
    }
  return g_steal_pointer (&params);
}

/*
 * The writer of one parameter: " " esmtp-keyword ["=" esmtp-value], with the same
 * deviation as the parser ("=" allowed in the value). Appends nothing on failure
 * (MSGTRK_ERROR_PARSE for a keyword or value the parser would refuse).
 */
gboolean
msgtrk_smtp_param_write (GString    *out,
                         const char *keyword,
                         const char *value,
                         GError    **error)
{
  g_return_val_if_fail (out != NULL && keyword != NULL, FALSE);

  if (!msgtrk_smtp_is_keyword (keyword, strlen (keyword)))
    {
      g_autofree char *quoted = quote (keyword);

      return fail (error, MSGTRK_ERROR_PARSE, _("“%s” is not an ESMTP keyword."),
                               quoted);
    }
  if (value != NULL)
    {
      if (*value == '\0')
        return fail (error, MSGTRK_ERROR_PARSE,
                                 _("The parameter %s has an empty value."),
                     keyword);
      for (const char *p = value; *p != '\0'; p++)
        if (!msgtrk_is_vchar ((guchar) *p))
          return fail (error, MSGTRK_ERROR_PARSE,
                       _("The value of the parameter %s contains a character that is not "
                         "printable ASCII."),
                       keyword);
    }
  g_string_append_c (out, ' ');
  g_string_append (out, keyword);
  if (value != NULL)
    {
      g_string_append_c (out, '=');
      g_string_append (out, value);
    }
  return TRUE;
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
 *
 * Since: 1.0
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
        return fail (error, MSGTRK_ERROR_PARSE,
                                 _("The MTRK timeout after ':' is empty."));
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

/* The writer: " MTRK=" authenticator [":" timeout], timeout 0 for none. Appends nothing
 * on failure (MSGTRK_ERROR_INVALID_SECRET, MSGTRK_ERROR_LIMIT for a timeout past
 * MSGTRK_MTRK_TIMEOUT_MAX). */
gboolean
msgtrk_smtp_mtrk_param_write (GString    *out,
                              const char *authenticator,
                              guint       timeout,
                              GError    **error)
{
  g_autofree char *value = NULL;

  g_return_val_if_fail (out != NULL && authenticator != NULL, FALSE);

  if (!msgtrk_smtp_authenticator_form_ok (authenticator))
    return fail (error, MSGTRK_ERROR_INVALID_SECRET,
                 _("The MTRK authenticator is malformed: it must be %d base64 characters "
                   "ending in '='."),
                 MSGTRK_AUTHENTICATOR_LENGTH);
  if (timeout > MSGTRK_MTRK_TIMEOUT_MAX)
    return fail (error, MSGTRK_ERROR_LIMIT,
                             _("The MTRK timeout %u has more than 9 digits."),
                 timeout);
  value = timeout > 0 ? g_strdup_printf ("%s:%u", authenticator, timeout)
                      : g_strdup (authenticator);
  return msgtrk_smtp_param_write (out, "MTRK", value, error);
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
 *
 * Since: 1.0
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
        return fail (error, MSGTRK_ERROR_PARSE, _("NOTIFY=%s repeats a value."),
                                 quoted);
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
    return fail (error, MSGTRK_ERROR_LIMIT,
                             _("The ORCPT value is longer than %d characters."),
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
    return fail (error, MSGTRK_ERROR_PARSE, _("ORCPT=%s: the address is empty."),
                             quoted);
  if (!msgtrk_smtp_is_printable_ascii (decoded))
    return fail (error, MSGTRK_ERROR_PARSE,
                 _("ORCPT=%s: the decoded address is not printable US-ASCII."), quoted);

  if (addr_type != NULL)
    *addr_type = g_strndup (value, semicolon - value);
  if (address != NULL)
    *address = g_steal_pointer (&decoded);
  return TRUE;
}

/*
 * The writer: " ORCPT=" addr-type ";" xtext(address), the type as given, the address as
 * canonical xtext. Appends nothing on failure: MSGTRK_ERROR_PARSE for a type that is not
 * an atom or an address that is empty or not printable US-ASCII, MSGTRK_ERROR_LIMIT for
 * a value longer than MSGTRK_ORCPT_MAX_LENGTH.
 */
gboolean
msgtrk_smtp_orcpt_param_write (GString    *out,
                               const char *addr_type,
                               const char *address,
                               GError    **error)
{
  g_autofree char *xtext = NULL;
  g_autofree char *value = NULL;

  g_return_val_if_fail (out != NULL && addr_type != NULL && address != NULL, FALSE);

  if (*addr_type == '\0')
    return fail (error, MSGTRK_ERROR_PARSE, _("The ORCPT address type is empty."));
  for (const char *p = addr_type; *p != '\0'; p++)
    if (!msgtrk_smtp_is_atext (*p))
      {
        g_autofree char *quoted = quote (addr_type);

        return fail (error, MSGTRK_ERROR_PARSE,
                     _("The ORCPT address type “%s” is not an atom."), quoted);
      }
  if (*address == '\0' || !msgtrk_smtp_is_printable_ascii (address))
    {
      g_autofree char *quoted = quote (address);

      return fail (error, MSGTRK_ERROR_PARSE,
                   _("The ORCPT address “%s” is empty or not printable US-ASCII."), quoted);
    }
  xtext = msgtrk_xtext_encode (address);
  value = g_strconcat (addr_type, ";", xtext, NULL);
  if (strlen (value) > MSGTRK_ORCPT_MAX_LENGTH)
    {
      g_autofree char *quoted = quote (address);

      return fail (error, MSGTRK_ERROR_LIMIT,
                   _("The ORCPT parameter for “%s” would be longer than %d characters "
                     "(too many characters that need escaping)."),
                   quoted, MSGTRK_ORCPT_MAX_LENGTH);
    }
  return msgtrk_smtp_param_write (out, "ORCPT", value, error);
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
 *
 * Since: 1.0
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

/* The writer: " ENVID=" xtext(envid) for a decoded ENVID that
 * msgtrk_smtp_envid_received_check() accepts (its errors; nothing appended then). */
gboolean
msgtrk_smtp_envid_param_write (GString    *out,
                               const char *envid,
                               GError    **error)
{
  g_autofree char *xtext = NULL;

  g_return_val_if_fail (out != NULL && envid != NULL, FALSE);

  if (!msgtrk_smtp_envid_received_check (envid, error))
    return FALSE;
  xtext = msgtrk_xtext_encode (envid);
  return msgtrk_smtp_param_write (out, "ENVID", xtext, error);
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
 *
 * Since: 1.0
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

      return fail (error, MSGTRK_ERROR_PARSE, _("RET=%s: expected HDRS or FULL."),
                               quoted);
    }
  return TRUE;
}

/* The writer's word for RET: "HDRS", "FULL", or NULL for MSGTRK_DSN_RET_UNSET. */
const char *
msgtrk_smtp_ret_param_word (MsgtrkDsnRet ret)
{
  switch (ret)
    {
    case MSGTRK_DSN_RET_HDRS:
      return "HDRS";
    case MSGTRK_DSN_RET_FULL:
      return "FULL";
    case MSGTRK_DSN_RET_UNSET:
    default:
      return NULL;
    }
}

/* ------------------------------------------------------------------------------------ */
/* SIZE and BODY                                                                        */

/*
 * The SIZE value (RFC 1870 section 3):
 *   size-param = "SIZE=" size-value
 *   size-value = 1*20DIGIT
 * Fails with MSGTRK_ERROR_PARSE (no value, not digits) or MSGTRK_ERROR_LIMIT (more than 20
 * digits, or past G_MAXUINT64); @size is left untouched on failure.
 */
gboolean
msgtrk_smtp_size_param_parse (const char *value,
                              guint64    *size,
                              GError    **error)
{
  gsize n;

  g_return_val_if_fail (size != NULL, FALSE);

  if (value == NULL || *value == '\0')
    return fail (error, MSGTRK_ERROR_PARSE, _("The SIZE parameter has no value."));
  n = strnlen (value, 21);
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isdigit (value[i]))
      return fail (error, MSGTRK_ERROR_PARSE, _("The SIZE value is not a number."));
  if (n > 20 || !g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64, size, NULL))
    return fail (error, MSGTRK_ERROR_LIMIT, _("The SIZE value is too large."));
  return TRUE;
}

/* The writer: " SIZE=" size-value. */
void
msgtrk_smtp_size_param_write (GString *out,
                              guint64  size)
{
  g_string_append_printf (out, " SIZE=%" G_GUINT64_FORMAT, size);
}

/*
 * The BODY value (RFC 6152 section 2), case-insensitively:
 *   body-value = "7BIT" / "8BITMIME"
 * Fails with MSGTRK_ERROR_PARSE; @eight_bit is left untouched on failure.
 */
gboolean
msgtrk_smtp_body_param_parse (const char *value,
                              gboolean   *eight_bit,
                              GError    **error)
{
  g_return_val_if_fail (eight_bit != NULL, FALSE);

  if (value != NULL && g_ascii_strcasecmp (value, "8BITMIME") == 0)
    *eight_bit = TRUE;
  else if (value != NULL && g_ascii_strcasecmp (value, "7BIT") == 0)
    *eight_bit = FALSE;
  else
    return fail (error, MSGTRK_ERROR_PARSE, _("BODY: expected 7BIT or 8BITMIME."));
  return TRUE;
}

/* The writer's word for BODY. */
const char *
msgtrk_smtp_body_param_word (gboolean eight_bit)
{
  return eight_bit ? "8BITMIME" : "7BIT";
}

/* ------------------------------------------------------------------------------------ */
/* Paths and mailboxes                                                                  */

/*
 * The one mailbox grammar of msgtrk (RFC 5321 section 4.1.2; RFC 6531 section 3.3 adds
 * UTF-8):
 *   Reverse-path    = Path / "<>"
 *   Forward-path    = Path
 *   Path            = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l           = At-domain *( "," At-domain )      ; source route: skipped
 *   At-domain       = "@" Domain
 *   Mailbox         = Local-part "@" ( Domain / address-literal )
 *   Local-part      = Dot-string / Quoted-string
 *   Dot-string      = Atom *("."  Atom)
 *   Atom            = 1*atext
 *   Quoted-string   = DQUOTE *QcontentSMTP DQUOTE
 *   QcontentSMTP    = qtextSMTP / quoted-pairSMTP
 *   quoted-pairSMTP = %d92 %d32-126
 *   qtextSMTP       = %d32-33 / %d35-91 / %d93-126
 *   Domain          = sub-domain *("." sub-domain)
 *   sub-domain      = Let-dig [Ldh-str]
 *   address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                           General-address-literal ) "]"
 *   RFC 6531:         atext =/ UTF8-non-ascii, qtextSMTP =/ UTF8-non-ascii,
 *                     sub-domain =/ U-label
 *   RCPT TO:          "<Postmaster>" (section 4.1.1.3) with MSGTRK_SMTP_PATH_POSTMASTER
 *
 * Deviations, each as common MTAs do: spaces before "<" are skipped; the dots of a
 * Dot-string are not checked for place ("a..b" and ".a" exist in the wild); a source
 * route is skipped, not parsed; an address literal is 1*dcontent (%d33-90 / %d94-126)
 * without its inner grammar, and "<" or ">" in it are refused.
 * The mailbox is returned as written (a quoted local part keeps its quotes and
 * backslashes), so it can be written back between "<" and ">" unchanged.
 * With MSGTRK_SMTP_PATH_FRAMING only the framing is checked ("<", the source route, quoted
 * strings and their quoted pairs, ">"; no NUL, CR or LF): for a front that passes the
 * command on and lets the MTA behind it judge the mailbox.
 * Non-ASCII octets are taken as they come; at the end the mailbox must be valid UTF-8
 * (MSGTRK_ERROR_PARSE) and MSGTRK_SMTP_PATH_UTF8 must be set (MSGTRK_ERROR_UNSUPPORTED).
 */

typedef enum
{
  PATH_START,       /* before "<", spaces skipped */
  PATH_OPEN,        /* after "<" */
  PATH_ROUTE,       /* in the source route, up to ":" */
  PATH_LOCAL,       /* in a Dot-string local part (possibly still empty) */
  PATH_QUOTED,      /* in a Quoted-string */
  PATH_QUOTED_PAIR, /* after a backslash in a Quoted-string */
  PATH_QUOTE_END,   /* after the closing DQUOTE: "@" must follow */
  PATH_DOMAIN,      /* after "@" */
  PATH_LITERAL,     /* in an address literal, after "[" */
  PATH_LITERAL_END, /* after "]" */
  PATH_DONE,
  PATH_FAILED,
} PathState;

/* Internal flag: a bare mailbox without "<" and ">" (msgtrk_smtp_mailbox_check()). */
#define PATH_BARE (1u << 16)

/* Fails the parser for good with @code and @message; the message quotes no input. */
static MsgtrkSmtpParseResult
path_fail (MsgtrkSmtpPathParser *parser,
           GError              **error,
           MsgtrkError           code,
           const char           *message)
{
  parser->state = PATH_FAILED;
  g_set_error_literal (error, MSGTRK_ERROR, code, message);
  return MSGTRK_SMTP_PARSE_ERROR;
}

/*
 * msgtrk_smtp_path_parser_init:
 * @parser: the parser
 * @flags: what is allowed
 * @max_length: the longest mailbox, in octets (brackets and source route excluded)
 *
 * Starts a parser before the "<" of a path.
 */
void
msgtrk_smtp_path_parser_init (MsgtrkSmtpPathParser *parser,
                              MsgtrkSmtpPathFlags   flags,
                              gsize                 max_length)
{
  memset (parser, 0, sizeof *parser);
  parser->flags = flags;
  parser->max_length = max_length;
  parser->state = (flags & PATH_BARE) ? PATH_LOCAL : PATH_START;
  parser->mailbox = g_string_new (NULL);
}

void
msgtrk_smtp_path_parser_clear (MsgtrkSmtpPathParser *parser)
{
  if (parser->mailbox != NULL)
    g_string_free (parser->mailbox, TRUE);
  parser->mailbox = NULL;
  parser->state = PATH_FAILED;
}

/* The end of the mailbox (at ">", or at the end of a bare mailbox). */
static MsgtrkSmtpParseResult
path_end (MsgtrkSmtpPathParser *parser,
          GError              **error)
{
  GString *box = parser->mailbox;

  switch (parser->state)
    {
    case PATH_OPEN:
    case PATH_LOCAL:
      if (box->len == 0)
        {
          if (!(parser->flags & MSGTRK_SMTP_PATH_NULL))
            return path_fail (parser, error, MSGTRK_ERROR_PARSE, _("The address is empty."));
          break;
        }
      if (parser->flags & MSGTRK_SMTP_PATH_FRAMING)
        break;
      if ((parser->flags & MSGTRK_SMTP_PATH_POSTMASTER)
          && g_ascii_strcasecmp (box->str, "postmaster") == 0)
        break;
      return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                        _("The address needs a local part, '@' and a domain."));
    case PATH_QUOTE_END:
      return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                        _("The address needs a local part, '@' and a domain."));
    case PATH_DOMAIN:
      if (parser->flags & MSGTRK_SMTP_PATH_FRAMING)
        break;
      if (parser->last == '@')
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address has no domain after '@'."));
      if (parser->last == '.' || parser->last == '-')
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address's domain ends in '.' or '-'."));
      break;
    case PATH_LITERAL_END:
      break;
    case PATH_QUOTED:
    case PATH_QUOTED_PAIR:
      return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                        _("The address has an unclosed quote."));
    case PATH_LITERAL:
      return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                        _("The address has an unclosed '['."));
    case PATH_START:
    case PATH_ROUTE:
    case PATH_DONE:
    case PATH_FAILED:
    default:
      return path_fail (parser, error, MSGTRK_ERROR_PARSE, _("The address is incomplete."));
    }
  if (parser->non_ascii)
    {
      if (!g_utf8_validate (box->str, (gssize) box->len, NULL))
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address is neither ASCII nor valid UTF-8."));
      if (!(parser->flags & MSGTRK_SMTP_PATH_UTF8))
        return path_fail (parser, error, MSGTRK_ERROR_UNSUPPORTED,
                          _("The address is not ASCII and SMTPUTF8 is not in use."));
    }
  parser->state = PATH_DONE;
  return MSGTRK_SMTP_PARSE_DONE;
}

/* One octet of the framing-only mode: quoted strings and ">" matter, nothing else. */
static MsgtrkSmtpParseResult
path_framing_octet (MsgtrkSmtpPathParser *parser,
                    guchar                c,
                    GError              **error)
{
  switch (parser->state)
    {
    case PATH_QUOTED_PAIR:
      parser->state = PATH_QUOTED;
      break;
    case PATH_QUOTED:
      if (c == '\\')
        parser->state = PATH_QUOTED_PAIR;
      else if (c == '"')
        parser->state = PATH_LOCAL;
      break;
    default:
      if (c == '>')
        return path_end (parser, error);
      if (c == '"')
        parser->state = PATH_QUOTED;
      else
        parser->state = PATH_LOCAL;
      break;
    }
  return MSGTRK_SMTP_PARSE_MORE;
}

/* One octet of a path (after the framing checks every mode shares). */
static MsgtrkSmtpParseResult
path_octet (MsgtrkSmtpPathParser *parser,
            guchar                c,
            GError              **error)
{
  gboolean bare = (parser->flags & PATH_BARE) != 0;

  if (c >= 0x80)
    parser->non_ascii = TRUE;
  if (bare && (c == '<' || c == '>'))
    return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                      _("The address contains '<' or '>' (give it without angle "
                        "brackets)."));

  switch (parser->state)
    {
    case PATH_QUOTED_PAIR:
      if (c < 32 || c > 126)
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address has a bad quoted pair."));
      parser->state = PATH_QUOTED;
      return MSGTRK_SMTP_PARSE_MORE;
    case PATH_QUOTED:
      if (c == '\\')
        parser->state = PATH_QUOTED_PAIR;
      else if (c == '"')
        parser->state = PATH_QUOTE_END;
      else if (c < 32 || c == 127)
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address contains a control character."));
      return MSGTRK_SMTP_PARSE_MORE;
    case PATH_QUOTE_END:
      if (c == '>' && !bare)
        return path_end (parser, error);
      if (c != '@')
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address has text after its quoted local part."));
      parser->state = PATH_DOMAIN;
      parser->last = '@';
      return MSGTRK_SMTP_PARSE_MORE;
    default:
      break;
    }

  if (c < 32 || c == 127)
    return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                      _("The address contains a control character."));
  if (c == ' ')
    return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                      _("The address contains a space outside quotes."));
  if (c == '>' && parser->state != PATH_ROUTE)
    return path_end (parser, error);

  switch (parser->state)
    {
    case PATH_LOCAL:
      if (c == '"' && parser->mailbox->len == 0)
        parser->state = PATH_QUOTED;
      else if (c == '@' && parser->mailbox->len > 0)
        {
          parser->state = PATH_DOMAIN;
          parser->last = '@';
        }
      else if (!(c >= 0x80 || c == '.' || msgtrk_smtp_is_atext ((char) c)))
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address's local part contains a character that must be "
                            "quoted."));
      return MSGTRK_SMTP_PARSE_MORE;
    case PATH_DOMAIN:
      if (c == '[' && parser->last == '@')
        {
          parser->state = PATH_LITERAL;
          return MSGTRK_SMTP_PARSE_MORE;
        }
      if (c == '.' ? (parser->last == '@' || parser->last == '.' || parser->last == '-')
                   : c == '-' ? (parser->last == '@' || parser->last == '.')
                              : !(c >= 0x80 || g_ascii_isalnum (c)))
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address's domain is not a domain name or an address "
                            "literal."));
      parser->last = (char) c;
      return MSGTRK_SMTP_PARSE_MORE;
    case PATH_LITERAL:
      if (c == ']')
        parser->state = PATH_LITERAL_END;
      else if (c == '[' || c == '\\' || c == '<' || c >= 0x7f)
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address literal contains a character it may not."));
      return MSGTRK_SMTP_PARSE_MORE;
    case PATH_LITERAL_END:
    default:
      return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                        _("The address has text after its address literal."));
    }
}

/*
 * msgtrk_smtp_path_parser_feed:
 * @parser: the parser
 * @data: the next octets
 * @len: how many
 * @consumed: (out): on DONE, how many octets of @data were used (up to and including
 *   ">"); on MORE, @len
 * @error: return location for a #GError
 *
 * Feeds octets. Returns MORE (all used, no ">" yet), DONE (the path ended; the octets after
 * it are the caller's) or ERROR (MSGTRK_ERROR_PARSE for bad syntax, MSGTRK_ERROR_LIMIT for
 * a mailbox longer than the maximum, MSGTRK_ERROR_UNSUPPORTED for non-ASCII without
 * MSGTRK_SMTP_PATH_UTF8). The error messages quote no input.
 */
MsgtrkSmtpParseResult
msgtrk_smtp_path_parser_feed (MsgtrkSmtpPathParser *parser,
                              const char           *data,
                              gsize                 len,
                              gsize                *consumed,
                              GError              **error)
{
  g_return_val_if_fail (parser != NULL && parser->mailbox != NULL, MSGTRK_SMTP_PARSE_ERROR);
  g_return_val_if_fail (data != NULL || len == 0, MSGTRK_SMTP_PARSE_ERROR);

  *consumed = 0;
  if (parser->state == PATH_DONE || parser->state == PATH_FAILED)
    return path_fail (parser, error, MSGTRK_ERROR_FAILED, _("The path was already parsed."));

  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) data[i];
      MsgtrkSmtpParseResult r;

      *consumed = i + 1;
      if (c == '\0' || c == '\r' || c == '\n')
        return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                          _("The address contains a control character."));
      switch (parser->state)
        {
        case PATH_START:
          if (c == '<')
            parser->state = PATH_OPEN;
          else if (c != ' ')
            return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                              _("The address must be in angle brackets."));
          continue;
        case PATH_OPEN:
          if (c == '@')
            {
              parser->state = PATH_ROUTE;
              parser->skipped = 1;
              continue;
            }
          parser->state = PATH_LOCAL;
          break;
        case PATH_ROUTE:
          /* The route ("@" up to ":" excluded) is bounded like a mailbox. */
          if (c == ':')
            parser->state = PATH_LOCAL;
          else if (!msgtrk_is_vchar (c) || c == '<' || c == '>' || c == '"')
            return path_fail (parser, error, MSGTRK_ERROR_PARSE,
                              _("The address has a bad source route."));
          else if (++parser->skipped > parser->max_length)
            return path_fail (parser, error, MSGTRK_ERROR_LIMIT,
                              _("The address's source route is too long."));
          continue;
        default:
          break;
        }

      if (parser->flags & MSGTRK_SMTP_PATH_FRAMING)
        r = path_framing_octet (parser, c, error);
      else
        r = path_octet (parser, c, error);
      if (r != MSGTRK_SMTP_PARSE_MORE)
        return r;
      /* Every octet of the mailbox is kept as written, the limit checked first. */
      if (parser->mailbox->len >= parser->max_length)
        return path_fail (parser, error, MSGTRK_ERROR_LIMIT, _("The address is too long."));
      g_string_append_c (parser->mailbox, (char) c);
    }
  return MSGTRK_SMTP_PARSE_MORE;
}

/*
 * msgtrk_smtp_path_parser_steal:
 * @parser: a parser that said DONE
 * @non_ascii: (out) (optional): whether the mailbox has non-ASCII octets
 *
 * Returns: (transfer full): the mailbox as written ("" for "<>"), the source route dropped
 */
char *
msgtrk_smtp_path_parser_steal (MsgtrkSmtpPathParser *parser,
                               gboolean             *non_ascii)
{
  g_return_val_if_fail (parser != NULL && parser->state == PATH_DONE, NULL);

  if (non_ascii != NULL)
    *non_ascii = parser->non_ascii;
  parser->state = PATH_FAILED;
  return g_string_free (g_steal_pointer (&parser->mailbox), FALSE);
}

/*
 * msgtrk_smtp_path_parse:
 * @text: a path and what follows it, e.g. the argument after "MAIL FROM:"
 * @len: the length of @text
 * @flags: what is allowed
 * @max_length: the longest mailbox, in octets
 * @consumed: (out) (optional): the octets used, up to and including ">"
 * @error: return location for a #GError
 *
 * Parses a whole path at the start of @text (see MsgtrkSmtpPathParser).
 *
 * Returns: (transfer full): the mailbox, or %NULL with @error set
 */
char *
msgtrk_smtp_path_parse (const char         *text,
                        gsize               len,
                        MsgtrkSmtpPathFlags flags,
                        gsize               max_length,
                        gsize              *consumed,
                        GError            **error)
{
  g_auto (MsgtrkSmtpPathParser) parser = { 0 };
  gsize used = 0;

  msgtrk_smtp_path_parser_init (&parser, flags, max_length);
  switch (msgtrk_smtp_path_parser_feed (&parser, text, len, &used, error))
    {
    case MSGTRK_SMTP_PARSE_DONE:
      if (consumed != NULL)
        *consumed = used;
      return msgtrk_smtp_path_parser_steal (&parser, NULL);
    case MSGTRK_SMTP_PARSE_MORE:
      fail (error, MSGTRK_ERROR_PARSE, _("The address has no closing '>'."));
      return NULL;
    case MSGTRK_SMTP_PARSE_ERROR:
    default:
      return NULL;
    }
}

/*
 * msgtrk_smtp_mailbox_check:
 * @mailbox: a mailbox without angle brackets, "" for the null path
 * @flags: what is allowed (MSGTRK_SMTP_PATH_FRAMING is not meant for this)
 * @max_length: the longest mailbox, in octets
 * @non_ascii: (out) (optional): whether @mailbox has non-ASCII octets
 * @error: return location for a #GError
 *
 * Checks that "<" @mailbox ">" is a path this parser takes back unchanged, and more: "<"
 * and ">" are refused even inside a quoted local part, where naive parsers would still end
 * the path. The errors are the parser's.
 *
 * Returns: %TRUE if @mailbox may be written
 */
gboolean
msgtrk_smtp_mailbox_check (const char         *mailbox,
                           MsgtrkSmtpPathFlags flags,
                           gsize               max_length,
                           gboolean           *non_ascii,
                           GError            **error)
{
  g_auto (MsgtrkSmtpPathParser) parser = { 0 };
  gsize used = 0;
  gsize len;

  g_return_val_if_fail (mailbox != NULL, FALSE);
  g_return_val_if_fail (!(flags & MSGTRK_SMTP_PATH_FRAMING), FALSE);

  len = strnlen (mailbox, max_length + 1);
  msgtrk_smtp_path_parser_init (&parser, flags | PATH_BARE, max_length);
  if (msgtrk_smtp_path_parser_feed (&parser, mailbox, len, &used, error)
        != MSGTRK_SMTP_PARSE_MORE
      || path_end (&parser, error) != MSGTRK_SMTP_PARSE_DONE)
    return FALSE;
  if (non_ascii != NULL)
    *non_ascii = parser.non_ascii;
  return TRUE;
}

/*
 * msgtrk_smtp_path_write:
 * @out: where to append
 * @mailbox: a mailbox without angle brackets, "" for the null path
 * @flags: what is allowed, as for msgtrk_smtp_mailbox_check()
 * @max_length: the longest mailbox, in octets
 * @non_ascii: (out) (optional): whether @mailbox has non-ASCII octets
 * @error: return location for a #GError
 *
 * The writer: appends "<" @mailbox ">" if msgtrk_smtp_mailbox_check() accepts @mailbox,
 * nothing otherwise.
 *
 * Returns: %TRUE on success
 */
gboolean
msgtrk_smtp_path_write (GString            *out,
                        const char         *mailbox,
                        MsgtrkSmtpPathFlags flags,
                        gsize               max_length,
                        gboolean           *non_ascii,
                        GError            **error)
{
  g_return_val_if_fail (out != NULL, FALSE);

  if (!msgtrk_smtp_mailbox_check (mailbox, flags, max_length, non_ascii, error))
    return FALSE;
  g_string_append_c (out, '<');
  g_string_append (out, mailbox);
  g_string_append_c (out, '>');
  return TRUE;
}

/**
 * msgtrk_smtp_path_list_split:
 * @text: a list of paths separated by ",", e.g. a Claws Mail queue file's "R:" value:
 *   `<a@example.org>,<"b,c"@example.org>`
 * @out_mailboxes: (out) (array zero-terminated=1) (transfer full): where to store the
 *   mailboxes, brackets and source routes dropped, each as written (a quoted local part
 *   keeps its quotes)
 * @error: return location for a #GError
 *
 * Splits a list of paths with the one path parser of libmsgtrk, so that a "," or ">"
 * inside a quoted local part does not end a path:
 *
 *     path-list = *SP [ Path *SP *( "," *SP Path *SP ) ]
 *
 * Each Path is a Forward-path of RFC 5321 section 4.1.2 of at most
 * %MSGTRK_SMTP_ADDRESS_MAX_LENGTH octets; UTF-8 mailboxes (RFC 6531) and "<Postmaster>"
 * are taken, whether the server allows them is the sender's to check. An empty list
 * (only spaces) gives no mailboxes.
 *
 * Returns: %TRUE with *@out_mailboxes set; %FALSE with @error set (%MSGTRK_ERROR_PARSE
 *   for bad syntax, %MSGTRK_ERROR_LIMIT for a mailbox too long or more than
 *   %MSGTRK_SMTP_PATH_LIST_MAX paths) and *@out_mailboxes untouched
 *
 * Since: 1.0
 */
gboolean
msgtrk_smtp_path_list_split (const char *text,
                             char     ***out_mailboxes,
                             GError    **error)
{
  const MsgtrkSmtpPathFlags flags = MSGTRK_SMTP_PATH_POSTMASTER | MSGTRK_SMTP_PATH_UTF8;
  g_autoptr (GPtrArray) mailboxes = NULL;
  gsize len, pos = 0;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (out_mailboxes != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  mailboxes = g_ptr_array_new_with_free_func (g_free);
  len = strlen (text);
  while (pos < len && text[pos] == ' ')
    pos++;
  while (pos < len)
    {
      gsize used = 0;
      char *mailbox;

      if (mailboxes->len >= MSGTRK_SMTP_PATH_LIST_MAX)
        {
          fail (error, MSGTRK_ERROR_LIMIT, _("The list has more than %u addresses."),
                (guint) MSGTRK_SMTP_PATH_LIST_MAX);
          return FALSE;
        }
      mailbox = msgtrk_smtp_path_parse (text + pos, len - pos, flags,
                                        MSGTRK_SMTP_ADDRESS_MAX_LENGTH, &used, error);
      if (mailbox == NULL)
        return FALSE;
      g_ptr_array_add (mailboxes, mailbox);
      pos += used;
      while (pos < len && text[pos] == ' ')
        pos++;
      if (pos == len)
        break;
      if (text[pos] != ',')
        {
          fail (error, MSGTRK_ERROR_PARSE, _("The addresses of a list must be separated by ','."));
          return FALSE;
        }
      pos++;
      if (pos == len)
        {
          fail (error, MSGTRK_ERROR_PARSE, _("The list ends in ','."));
          return FALSE;
        }
    }
  g_ptr_array_add (mailboxes, NULL);
  g_ptr_array_set_free_func (mailboxes, NULL);
  *out_mailboxes = (char **) g_ptr_array_free (g_steal_pointer (&mailboxes), FALSE);
  return TRUE;
}
