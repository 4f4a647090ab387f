/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-status-code.c: RFC 3463 status codes in words (see msgtrk-status-code.h).
 *
 * The table below is THE list of meanings; docs/status.md points here. Each meaning is
 * written for the person who sent the message, not for a postmaster: what happened, in
 * plain words, without the RFC's jargon. Meanings do not depend on the class (RFC 3463
 * section 2: "the meaning of subject and detail is the same whatever the class"), except
 * X.0.0, which says nothing but its class.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-status-code.h"

typedef struct
{
  guint subject;
  guint detail;
  const char *meaning; /* N_() */
} CodeMeaning;

/* subject.detail → meaning. X.Y.0 is the subject's own meaning, used for any detail not
 * listed. Sources: RFC 3463; X.1.9 RFC 3886; X.1.10 and X.7.27 RFC 7505; X.5.6, X.7.8,
 * X.7.9, X.7.11, X.7.12 RFC 4954; X.6.7 to X.6.9 RFC 6531; X.7.13, X.7.14 RFC 5248;
 * X.7.20 to X.7.26 RFC 7372. */
static const CodeMeaning meanings[] = {
  { 1, 0, N_("There is a problem with an address") },
  { 1, 1, N_("The recipient’s mailbox does not exist") },
  { 1, 2, N_("The recipient’s mail domain does not exist or does not take mail") },
  { 1, 3, N_("The recipient’s address is not written correctly") },
  { 1, 4, N_("The recipient’s address matches more than one mailbox") },
  { 1, 5, N_("The recipient’s address is valid") },
  { 1, 6, N_("The mailbox has moved and left no forwarding address") },
  { 1, 7, N_("The sender’s address is not written correctly") },
  { 1, 8, N_("The sender’s mail domain is not valid") },
  { 1, 9, N_("Passed to a server that gives no tracking information") },
  { 1, 10, N_("The recipient’s domain does not take mail at all") },
  { 2, 0, N_("There is a problem with the recipient’s mailbox") },
  { 2, 1, N_("The recipient’s mailbox is disabled and takes no mail") },
  { 2, 2, N_("The recipient’s mailbox is full") },
  { 2, 3, N_("The message is larger than the recipient’s mailbox accepts") },
  { 2, 4, N_("A mailing list could not be expanded") },
  { 3, 0, N_("There is a problem with the receiving mail system") },
  { 3, 1, N_("The receiving mail system is out of space") },
  { 3, 2, N_("The receiving mail system is not accepting messages now") },
  { 3, 3, N_("The receiving mail system cannot handle a feature this message needs") },
  { 3, 4, N_("The message is too large for the receiving mail system") },
  { 3, 5, N_("The receiving mail system is configured wrongly") },
  { 4, 0, N_("There is a network or routing problem") },
  { 4, 1, N_("The next mail server does not answer") },
  { 4, 2, N_("The connection to the next mail server broke") },
  { 4, 3, N_("A directory server (such as DNS) failed") },
  { 4, 4, N_("No route to the recipient’s mail server was found") },
  { 4, 5, N_("The mail system is congested") },
  { 4, 6, N_("The message went round in a loop between servers") },
  { 4, 7, N_("The message could not be delivered in the time allowed") },
  { 5, 0, N_("The mail servers did not understand each other") },
  { 5, 1, N_("A mail server rejected a command") },
  { 5, 2, N_("A mail server received a command it could not read") },
  { 5, 3, N_("The message has too many recipients") },
  { 5, 4, N_("A mail server rejected a command’s parameters") },
  { 5, 5, N_("The mail servers speak different protocol versions") },
  { 5, 6, N_("An authentication exchange was too long") },
  { 6, 0, N_("There is a problem with the message’s content") },
  { 6, 1, N_("The message contains content the receiving system does not support") },
  { 6, 2, N_("The message would have to be converted, and that is not allowed") },
  { 6, 3, N_("The message would have to be converted, and that is not possible") },
  { 6, 4, N_("The message was converted and lost some of its content") },
  { 6, 5, N_("Converting the message failed") },
  { 6, 7, N_("An address with non-ASCII characters is not accepted") },
  { 6, 8, N_("A reply in UTF-8 is needed but the other side does not accept it") },
  { 6, 9, N_("A message with UTF-8 headers cannot be passed on to this recipient") },
  { 7, 0, N_("The message was refused for security or policy reasons") },
  { 7, 1, N_("The recipient’s system refused the message (not authorized)") },
  { 7, 2, N_("Sending to this mailing list is not allowed") },
  { 7, 3, N_("A required security conversion was not possible") },
  { 7, 4, N_("Security features the message needs are not supported") },
  { 7, 5, N_("A cryptographic operation failed") },
  { 7, 6, N_("The cryptographic algorithm is not supported") },
  { 7, 7, N_("The message was changed on the way (integrity check failed)") },
  { 7, 8, N_("The login to the mail server was refused (wrong credentials)") },
  { 7, 9, N_("The login method is too weak for the mail server") },
  { 7, 11, N_("The mail server needs an encrypted connection for this login method") },
  { 7, 12, N_("A password change is needed") },
  { 7, 13, N_("The account is disabled") },
  { 7, 14, N_("The servers need a trust relationship they do not have") },
  { 7, 20, N_("The message has no valid DKIM signature") },
  { 7, 21, N_("The message has no acceptable DKIM signature") },
  { 7, 22, N_("The message has no valid DKIM signature of the author’s domain") },
  { 7, 23, N_("The sending server is not allowed to send for this domain (SPF)") },
  { 7, 24, N_("The sender’s domain could not be checked (SPF error)") },
  { 7, 25, N_("The sending server’s address has no matching name in DNS") },
  { 7, 26, N_("Several checks of the sender’s authenticity failed") },
  { 7, 27, N_("The sender’s domain does not take mail, so replies are impossible") },
};

/* Reads 1 to MSGTRK_STATUS_CODE_MAX_DIGITS digits without a leading zero (RFC 3463:
 * subject = "0" / ("1"-"9" *2DIGIT)) at *@p into @value and moves *@p past them. */
static gboolean
read_number (const char **p,
             guint       *value)
{
  const char *s = *p;
  guint n = 0;
  guint digits = 0;

  while (g_ascii_isdigit (s[digits]))
    {
      if (digits == MSGTRK_STATUS_CODE_MAX_DIGITS)
        return FALSE;
      n = n * 10 + (guint) (s[digits] - '0');
      digits++;
    }
  if (digits == 0 || (digits > 1 && s[0] == '0'))
    return FALSE;
  *p = s + digits;
  *value = n;
  return TRUE;
}

/**
 * msgtrk_status_code_parse:
 * @text: (nullable): a Status field value, e.g. "5.1.1" or " 4.4.1 (connection timed out)"
 * @code_class: (out) (optional): the class: 2, 4 or 5
 * @subject: (out) (optional): the subject, 0 to 999
 * @detail: (out) (optional): the detail, 0 to 999
 *
 * Parses the enhanced status code at the start of @text (RFC 3463 section 2):
 *
 * |[
 * status-code = class "." subject "." detail
 * class       = "2" / "4" / "5"
 * subject     = 1*3digit
 * detail      = 1*3digit
 * ]|
 *
 * Blanks may come before the code; after it comes the end of @text or a blank (a
 * comment follows). Numbers with a leading zero ("5.01.1") are refused.
 *
 * Returns: %TRUE if @text starts with a status code
 *
 * Since: 1.0
 */
gboolean
msgtrk_status_code_parse (const char *text,
                          guint      *code_class,
                          guint      *subject,
                          guint      *detail)
{
  const char *p = text;
  guint c, s, d;

  if (p == NULL)
    return FALSE;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p != '2' && *p != '4' && *p != '5')
    return FALSE;
  c = (guint) (*p - '0');
  p++;
  if (*p++ != '.' || !read_number (&p, &s) || *p++ != '.' || !read_number (&p, &d))
    return FALSE;
  if (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
    return FALSE;
  if (code_class != NULL)
    *code_class = c;
  if (subject != NULL)
    *subject = s;
  if (detail != NULL)
    *detail = d;
  return TRUE;
}

/* What a code that says only its class means, as a sentence (X.0.0, unknown subjects). */
static const char *
class_sentence (guint code_class)
{
  switch (code_class)
    {
    case 2:
      return _("Success");
    case 4:
      return _("A temporary problem; the server keeps trying");
    default:
      return _("A permanent failure; the server gives up");
    }
}

/**
 * msgtrk_status_code_describe:
 * @text: (nullable): a Status field value (see msgtrk_status_code_parse())
 *
 * What the status code at the start of @text means, in words, translated: the meaning of
 * its subject and detail ("The recipient’s mailbox does not exist" for 5.1.1); for a
 * detail this library does not know, the meaning of its subject ("There is a problem
 * with an address" for 5.1.99). X.0.0 and codes of an unknown subject say only their
 * class, as a sentence ("A permanent failure; the server gives up").
 *
 * Returns: (transfer none) (nullable): the meaning, or %NULL when @text does not start
 *   with a status code
 *
 * Since: 1.0
 */
const char *
msgtrk_status_code_describe (const char *text)
{
  guint c, s, d;
  const char *subject_meaning = NULL;

  if (!msgtrk_status_code_parse (text, &c, &s, &d))
    return NULL;
  msgtrk_ensure_i18n ();
  if (s == 0)
    return class_sentence (c);
  for (gsize i = 0; i < G_N_ELEMENTS (meanings); i++)
    {
      if (meanings[i].subject != s)
        continue;
      if (meanings[i].detail == d)
        return _(meanings[i].meaning);
      if (meanings[i].detail == 0)
        subject_meaning = meanings[i].meaning;
    }
  if (subject_meaning != NULL)
    return _(subject_meaning);
  return class_sentence (c);
}

/**
 * msgtrk_status_code_describe_class:
 * @text: (nullable): a Status field value (see msgtrk_status_code_parse())
 *
 * What the class of the status code at the start of @text means, translated, as a short
 * lower-case phrase to follow the code ("5.1.1 (permanent failure)"): success (2), a
 * temporary failure the server keeps trying to overcome (4), a permanent failure (5).
 *
 * Returns: (transfer none) (nullable): the meaning, or %NULL when @text does not start
 *   with a status code
 *
 * Since: 1.0
 */
const char *
msgtrk_status_code_describe_class (const char *text)
{
  guint c;

  if (!msgtrk_status_code_parse (text, &c, NULL, NULL))
    return NULL;
  msgtrk_ensure_i18n ();
  switch (c)
    {
    case 2:
      /* TRANSLATORS: the class of a status code, shown after the code: "2.0.0 (success)". */
      return _("success");
    case 4:
      /* TRANSLATORS: the class of a status code, shown after the code: "4.4.1 (temporary
       * failure, still trying)". */
      return _("temporary failure, still trying");
    default:
      /* TRANSLATORS: the class of a status code, shown after the code: "5.1.1 (permanent
       * failure)". */
      return _("permanent failure");
    }
}
