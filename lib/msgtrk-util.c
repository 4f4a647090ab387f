/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-util.c: small helpers shared by the modules of libmsgtrk.
 *
 * - RFC 5322 date-time parse and format (through GMime), with absurd dates refused.
 * - One-time GMime and gettext initialisation.
 * - Quoting of hostile input for error messages (bounded, printable).
 * - The one normal form of host names used as keys.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "msgtrk-private.h"

/* Initialise GMime once per process; safe to call from any module. */
void
msgtrk_ensure_gmime (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      g_mime_init ();
      g_once_init_leave (&done, 1);
    }
}

/* Bind the library's gettext domain once, so that its user-visible strings translate. */
void
msgtrk_ensure_i18n (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      g_once_init_leave (&done, 1);
    }
}

/*
 * Is the year of an RFC 5322 date-time, as written, plausible? GMime reads "0" or "0000"
 * as 2000, so the written form is checked first: year = 4*DIGIT, obs-year = 2*DIGIT; a
 * year of another length, or a 4-digit one outside MSGTRK_DATE_MIN_YEAR..MAX, is absurd.
 *   date-time = [ day-of-week "," ] date time [CFWS]
 *   date      = day month year
 */
static gboolean
date_year_is_plausible (const char *text)
{
  g_auto (GStrv) tokens = NULL;
  const char *p = strchr (text, ',');
  guint n = 0;

  tokens = g_strsplit_set (p != NULL ? p + 1 : text, " \t", -1);
  for (guint i = 0; tokens[i] != NULL; i++)
    {
      const char *year = tokens[i];
      gsize digits;

      if (*year == '\0' || ++n < 3)
        continue;
      digits = strspn (year, "0123456789");
      if (digits != strlen (year) || (digits != 2 && digits < 4) || digits > 4)
        return FALSE;
      return digits == 2 ||
             (atoi (year) >= MSGTRK_DATE_MIN_YEAR && atoi (year) <= MSGTRK_DATE_MAX_YEAR);
    }
  return TRUE; /* no third token: let GMime decide */
}

/*
 * Parse an RFC 5322 date-time (date-time = [ day-of-week "," ] date time [CFWS]).
 * Returns NULL for text that is not a date or is an absurd one (outside
 * MSGTRK_DATE_MIN_YEAR..MSGTRK_DATE_MAX_YEAR); callers keep the raw text.
 */
GDateTime *
msgtrk_date_parse (const char *text)
{
  g_autoptr (GDateTime) date = NULL;
  int year;

  if (text == NULL || *text == '\0' || !date_year_is_plausible (text))
    return NULL;

  msgtrk_ensure_gmime ();
  date = g_mime_utils_header_decode_date (text);
  if (date == NULL)
    return NULL;

  year = g_date_time_get_year (date);
  if (year < MSGTRK_DATE_MIN_YEAR || year > MSGTRK_DATE_MAX_YEAR)
    return NULL;

  return g_steal_pointer (&date);
}

/* Format a date as RFC 5322 date-time, keeping its UTC offset. */
char *
msgtrk_date_format (GDateTime *date)
{
  g_return_val_if_fail (date != NULL, NULL);

  msgtrk_ensure_gmime ();
  return g_mime_utils_header_format_date (date);
}

/*
 * Quote untrusted text for an error message: at most @max_len characters, control and
 * non-ASCII octets shown as \xNN, an ellipsis when cut. @len octets of @text are read
 * (-1: up to its NUL), so text with NUL octets from the network can be quoted too.
 */
char *
msgtrk_strn_escape_for_error (const char *text,
                              gssize      len,
                              gsize       max_len)
{
  GString *out;
  gsize n;

  if (text == NULL)
    return g_strdup ("(null)");

  n = len < 0 ? strlen (text) : (gsize) len;
  out = g_string_new (NULL);
  for (gsize i = 0; i < n; i++)
    {
      guchar c = (guchar) text[i];

      if (out->len >= max_len)
        {
          g_string_append (out, "…");
          break;
        }
      if (c < 0x20 || c >= 0x7f)
        g_string_append_printf (out, "\\x%02X", c);
      else
        g_string_append_c (out, (char) c);
    }
  return g_string_free (out, FALSE);
}

/* The same for a NUL-terminated string. */
char *
msgtrk_str_escape_for_error (const char *text,
                             gsize       max_len)
{
  return msgtrk_strn_escape_for_error (text, -1, max_len);
}

/*
 * Cut the valid UTF-8 string @text in place to at most @max_len octets, at a character
 * boundary (nothing when it is no longer): the one way text from outside is made to fit a
 * limit where keeping a part is better than refusing it all (a diagnostic, a server's
 * reply, a subject shown to the user).
 */
void
msgtrk_utf8_cut (char  *text,
                 gsize  max_len)
{
  gsize n = strlen (text);

  if (n <= max_len)
    return;
  n = max_len;
  while (n > 0 && ((guchar) text[n] & 0xc0) == 0x80)
    n--;
  text[n] = '\0';
}

/*
 * The one form in which host and domain names are compared and kept as keys (the MTQP
 * client's targets, overrides and STARTTLS memory; the tracker's servers): ASCII
 * lower case, one trailing root dot removed ("Example.ORG." → "example.org"; "." stays).
 */
char *
msgtrk_host_normalize (const char *name)
{
  char *lower = g_ascii_strdown (name, -1);
  gsize len = strlen (lower);

  if (len > 1 && lower[len - 1] == '.')
    lower[len - 1] = '\0';
  return lower;
}
