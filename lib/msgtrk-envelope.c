/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-envelope.c: the SMTP side of tracking (RFC 3461 DSN, RFC 3885 MTRK, RFC 5321).
 *
 * What it is for:
 * - ENVID generation: "mtrk.<26 base32>@<sender-domain>" (130 bits from OpenSSL's
 *   RAND_bytes), which needs neither xtext nor URL escaping.
 * - xtext encode/decode (RFC 3461 section 4), strict on input.
 * - EHLO reply → #MsgtrkSmtpCapabilities (RFC 5321 section 4.1.1.1).
 * - Client side: the arguments of MAIL FROM and RCPT TO, built from what the server offered.
 * - Server side: ESMTP parameters of MAIL/RCPT → a table, and ENVID/RET/MTRK/NOTIFY/ORCPT
 *   values → typed values.
 *
 * Decisions (also in docs/envelope-parameters.md):
 * - ENVID and RET go on MAIL only if the server offered DSN; NOTIFY and ORCPT on RCPT too.
 * - MTRK goes on MAIL only if the server offered MTRK *and* DSN and an authenticator is set:
 *   RFC 3885 says ENVID accompanies MTRK, and ENVID belongs to DSN. A server that offers
 *   MTRK without DSN gets neither (the status then says "no tracking offered").
 * - Addresses: no control characters, no '<' or '>', spaces only inside a quoted local
 *   part, at most MSGTRK_SMTP_ADDRESS_MAX_LENGTH octets. Non-ASCII (UTF-8) addresses need
 *   the server's SMTPUTF8; then a non-ASCII sender adds the SMTPUTF8 parameter to MAIL
 *   (the caller adds it when only recipients are non-ASCII), and a non-ASCII recipient gets
 *   no ORCPT (RFC 3461 wants printable US-ASCII in rfc822 ORCPT; the RFC 6533 utf-8 form is
 *   not implemented). Without SMTPUTF8 they are refused with MSGTRK_ERROR_UNSUPPORTED.
 * - Built command lines are checked against MSGTRK_SMTP_MAIL_LINE_MAX and
 *   MSGTRK_SMTP_RCPT_LINE_MAX; with the address, ENVID and ORCPT limits in force those
 *   checks cannot fail today (worst cases 437 and 802 octets), they guard future parameters.
 * - ENVIDs received from elsewhere (server side) may contain any printable US-ASCII after
 *   xtext decoding (RFC 3461 section 4.4); such envelopes keep the decoded ENVID and are
 *   re-encoded as xtext when passed on. msgtrk_envid_is_valid() is only the stricter form
 *   that needs no escaping, the one msgtrk_envelope_new() takes.
 * - EHLO: liberal in what a peer sends: a keyword line the parser does not understand
 *   (Postfix's "AUTH=PLAIN LOGIN" for old clients, smtp-sink's empty last line "250 ",
 *   octets beyond ASCII) is skipped, not fatal; a repeated keyword keeps its first
 *   parameters. What breaks the reply's framing (another code, NUL, CR or other control
 *   characters, text after the last line) stays an error.
 *
 * Limits: every one is a named constant in msgtrk-envelope.h or below.
 *
 * Never: truncate a command line, emit CR/LF or NUL into a command, log or quote B (the
 * authenticator is not secret, but error messages never need it), or abort on remote input.
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "msgtrk-private.h"
#include "msgtrk-smtp-syntax-private.h"

/* Longest hostile text quoted in an error message. */
#define QUOTE_MAX 64
/* RFC 1035: at most 63 octets per DNS label. */
#define DNS_LABEL_MAX 63
/* ENVID layout: "mtrk." + 26 base32 + "@" + domain. */
#define ENVID_PREFIX "mtrk."
#define ENVID_RANDOM_CHARS 26
/* 130 bits = 26 * 5 need 17 octets. */
#define ENVID_RANDOM_OCTETS 17

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

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

static gboolean
is_ldh (char c)
{
  return g_ascii_isalnum (c) || c == '-';
}

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
    return fail (error, MSGTRK_ERROR_PARSE, _("The sender domain for the ENVID is empty."));
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
          if (!is_ldh (label[n]))
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

/* ------------------------------------------------------------------------------------ */
/* EHLO capabilities                                                                    */

typedef struct
{
  char *keyword; /* (owned) upper case */
  char *params;  /* (owned) (nullable) parameters, separated by one space */
} CapEntry;

static void
cap_entry_free (gpointer data)
{
  CapEntry *entry = data;

  g_free (entry->keyword);
  g_free (entry->params);
  g_free (entry);
}

/**
 * MsgtrkSmtpCapabilities:
 *
 * What an SMTP server offered in its EHLO reply: its domain and its keywords (upper case,
 * in the server's order) with their parameters. Immutable once made.
 */
struct _MsgtrkSmtpCapabilities
{
  GObject parent_instance;

  char *domain;       /* (owned) (nullable) */
  GPtrArray *entries; /* (owned) (element-type CapEntry) in the server's order */
};

G_DEFINE_FINAL_TYPE (MsgtrkSmtpCapabilities, msgtrk_smtp_capabilities, G_TYPE_OBJECT)

static void
msgtrk_smtp_capabilities_finalize (GObject *object)
{
  MsgtrkSmtpCapabilities *self = MSGTRK_SMTP_CAPABILITIES (object);

  g_free (self->domain);
  g_ptr_array_unref (self->entries);
  G_OBJECT_CLASS (msgtrk_smtp_capabilities_parent_class)->finalize (object);
}

static void
msgtrk_smtp_capabilities_class_init (MsgtrkSmtpCapabilitiesClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_smtp_capabilities_finalize;
}

static void
msgtrk_smtp_capabilities_init (MsgtrkSmtpCapabilities *self)
{
  self->entries = g_ptr_array_new_with_free_func (cap_entry_free);
}

static CapEntry *
caps_lookup (MsgtrkSmtpCapabilities *self,
             const char             *keyword)
{
  for (guint i = 0; i < self->entries->len; i++)
    {
      CapEntry *entry = g_ptr_array_index (self->entries, i);

      if (g_ascii_strcasecmp (entry->keyword, keyword) == 0)
        return entry;
    }
  return NULL;
}

/* Add @keyword with @params unless it is already there (the first one wins). */
static void
caps_add (MsgtrkSmtpCapabilities *self,
          const char             *keyword,
          gsize                   keyword_len,
          const char             *params)
{
  g_autofree char *upper = g_ascii_strup (keyword, keyword_len);
  CapEntry *entry;

  if (caps_lookup (self, upper) != NULL)
    return;
  entry = g_new0 (CapEntry, 1);
  entry->keyword = g_steal_pointer (&upper);
  entry->params = (params != NULL && *params != '\0') ? g_strdup (params) : NULL;
  g_ptr_array_add (self->entries, entry);
}

/*
 * One keyword line (the text after "250-" / "250 "):
 *   ehlo-line    = ehlo-keyword *( SP ehlo-param )
 *   ehlo-param   = 1*(%d33-126)
 * Runs of spaces are tolerated; parameters are kept joined by single spaces. Liberal in
 * what it accepts from a peer: a line it does not understand (empty, as Postfix's
 * smtp-sink ends its reply with "250 "; a keyword that is not ehlo-keyword syntax; octets
 * beyond ASCII) is skipped, never fatal. Control characters never get here (the reply
 * line is refused before). Never fails: the GError form is kept for the callers.
 */
static gboolean
parse_keyword_line (MsgtrkSmtpCapabilities *self,
                    const char             *text,
                    gsize                   len,
                    guint                   line_no,
                    GError                **error)
{
  g_autoptr (GString) params = g_string_new (NULL);
  const char *keyword = NULL;
  gsize keyword_len = 0;
  gsize i = 0;

  while (i < len)
    {
      gsize start;

      while (i < len && text[i] == ' ')
        i++;
      if (i == len)
        break;
      start = i;
      while (i < len && text[i] != ' ')
        {
          guchar c = (guchar) text[i];

          if (c < 33 || c > 126)
            {
              g_autofree char *quoted = quote_len (text, len);

              g_debug ("EHLO line %u: skipping a line that is not printable ASCII “%s”",
                       line_no, quoted);
              return TRUE;
            }
          i++;
        }
      if (keyword == NULL)
        {
          keyword = text + start;
          keyword_len = i - start;
        }
      else
        {
          if (params->len > 0)
            g_string_append_c (params, ' ');
          g_string_append_len (params, text + start, i - start);
        }
    }

  if (keyword == NULL)
    {
      g_debug ("EHLO line %u: skipping an empty line", line_no);
      return TRUE;
    }
  if (!msgtrk_smtp_is_keyword (keyword, keyword_len))
    {
      g_autofree char *quoted = quote_len (keyword, keyword_len);

      g_debug ("EHLO line %u: skipping non-standard keyword “%s”", line_no, quoted);
      return TRUE;
    }
  caps_add (self, keyword, keyword_len, params->str);
  return TRUE;
}

/*
 * The first line's text: Domain [ SP ehlo-greet ].
 *   ehlo-greet = 1*(%d0-9 / %d11-12 / %d14-127)
 * The domain must be printable ASCII; the greeting is not kept, and non-ASCII octets in
 * it are tolerated (some servers put their name in UTF-8 there).
 */
static gboolean
parse_first_line (MsgtrkSmtpCapabilities *self,
                  const char             *text,
                  gsize                   len,
                  GError                **error)
{
  gsize n = 0;

  while (n < len && text[n] != ' ')
    {
      guchar c = (guchar) text[n];

      if (c < 33 || c > 126)
        {
          g_autofree char *quoted = quote_len (text, len);

          return fail (error, MSGTRK_ERROR_PARSE,
                       _("The server's domain in the EHLO reply is not printable ASCII: "
                         "“%s”."),
                       quoted);
        }
      n++;
    }
  if (n == 0)
    return fail (error, MSGTRK_ERROR_PARSE,
                 _("The first line of the EHLO reply does not name the server's domain."));
  self->domain = g_strndup (text, n);
  return TRUE;
}

/*
 * One reply line without its line end:
 *   "250" ( "-" / SP ) text, or "250" alone as the last line.
 */
static gboolean
parse_reply_line (MsgtrkSmtpCapabilities *self,
                  const char             *line,
                  gsize                   len,
                  guint                   line_no,
                  gboolean               *last,
                  GError                **error)
{
  g_autofree char *quoted = quote_len (line, len);
  const char *text;
  gsize text_len;

  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) line[i];

      if (c < 0x20 || c == 0x7f)
        return fail (error, MSGTRK_ERROR_PARSE,
                     _("Line %u of the EHLO reply contains a control character (a stray CR "
                       "or similar): “%s”."),
                     line_no, quoted);
    }

  if (len < 3 || !g_ascii_isdigit (line[0]) || !g_ascii_isdigit (line[1])
      || !g_ascii_isdigit (line[2]) || (len > 3 && line[3] != '-' && line[3] != ' '))
    return fail (error, MSGTRK_ERROR_PARSE,
                 _("Line %u of the EHLO reply is not an SMTP reply line: “%s”."), line_no,
                 quoted);

  if (strncmp (line, "250", 3) != 0)
    {
      if (line_no == 1)
        return fail (error, MSGTRK_ERROR_PARSE,
                     _("The server refused EHLO: “%s”."), quoted);
      return fail (error, MSGTRK_ERROR_PARSE,
                   _("Line %u of the EHLO reply has another reply code than 250: “%s”."),
                   line_no, quoted);
    }

  *last = (len == 3 || line[3] == ' ');
  text = len > 4 ? line + 4 : "";
  text_len = len > 4 ? len - 4 : 0;

  if (line_no == 1)
    return parse_first_line (self, text, text_len, error);
  return parse_keyword_line (self, text, text_len, line_no, error);
}

/**
 * msgtrk_smtp_capabilities_parse_data:
 * @data: (array length=len) (element-type guint8): the EHLO reply as received
 * @len: length of @data in octets
 * @error: return location for a #GError
 *
 * Parses an EHLO reply (RFC 5321 section 4.1.1.1):
 * |[
 * ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
 *                / ( "250-" Domain [ SP ehlo-greet ] CRLF
 *                    *( "250-" ehlo-line CRLF )
 *                    "250" SP ehlo-line CRLF )
 * ehlo-line    = ehlo-keyword *( SP ehlo-param )
 * ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 * ehlo-param   = 1*(%d33-126)
 * ]|
 * Lines may end in CRLF or LF; the last line may lack its line end. Keywords are
 * case-insensitive and kept in upper case; parameters are kept. A repeated keyword keeps
 * its first parameters. Keyword lines the parser does not understand are skipped: an
 * empty one (Postfix's smtp-sink ends its reply with "250 "), one whose keyword is not
 * ehlo-keyword syntax, one with octets beyond ASCII.
 *
 * Fails with %MSGTRK_ERROR_PARSE for a reply that is not a positive EHLO reply (another
 * code, mixed codes, no final line, text after it, NUL or control characters, no domain
 * on the first line, garbage)
 * and %MSGTRK_ERROR_LIMIT for more than %MSGTRK_EHLO_MAX_LINES lines or a line longer
 * than %MSGTRK_SMTP_REPLY_LINE_MAX octets with its CRLF.
 *
 * Returns: (transfer full): the capabilities, or %NULL with @error set
 */
MsgtrkSmtpCapabilities *
msgtrk_smtp_capabilities_parse_data (const char *data,
                                     gsize       len,
                                     GError    **error)
{
  g_autoptr (MsgtrkSmtpCapabilities) self = NULL;
  gboolean last = FALSE;
  guint line_no = 0;
  gsize pos = 0;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (len == 0)
    {
      fail (error, MSGTRK_ERROR_PARSE, _("The EHLO reply is empty."));
      return NULL;
    }
  if (memchr (data, '\0', len) != NULL)
    {
      fail (error, MSGTRK_ERROR_PARSE, _("The EHLO reply contains a NUL byte."));
      return NULL;
    }

  self = g_object_new (MSGTRK_TYPE_SMTP_CAPABILITIES, NULL);
  while (pos < len)
    {
      const char *line = data + pos;
      const char *lf = memchr (line, '\n', len - pos);
      gsize line_len = lf != NULL ? (gsize) (lf - line) : len - pos;
      gsize next = lf != NULL ? pos + line_len + 1 : len;

      if (last)
        {
          g_autofree char *quoted = quote_len (line, len - pos);

          fail (error, MSGTRK_ERROR_PARSE,
                _("The EHLO reply goes on after its final line: “%s”."), quoted);
          return NULL;
        }
      line_no++;
      if (line_no > MSGTRK_EHLO_MAX_LINES)
        {
          fail (error, MSGTRK_ERROR_LIMIT, _("The EHLO reply has more than %d lines."),
                MSGTRK_EHLO_MAX_LINES);
          return NULL;
        }
      if (lf != NULL && line_len > 0 && line[line_len - 1] == '\r')
        line_len--;
      /* The limit counts the CRLF, whether or not the server sent a CR. */
      if (line_len + 2 > MSGTRK_SMTP_REPLY_LINE_MAX)
        {
          fail (error, MSGTRK_ERROR_LIMIT,
                _("Line %u of the EHLO reply is longer than %d octets."), line_no,
                MSGTRK_SMTP_REPLY_LINE_MAX);
          return NULL;
        }
      if (!parse_reply_line (self, line, line_len, line_no, &last, error))
        return NULL;
      pos = next;
    }

  if (!last)
    {
      fail (error, MSGTRK_ERROR_PARSE,
            _("The EHLO reply is cut short: its last line is a continuation line "
              "(“250-”), the final “250 ” line is missing."));
      return NULL;
    }
  return g_steal_pointer (&self);
}

/**
 * msgtrk_smtp_capabilities_parse:
 * @ehlo_reply: the EHLO reply as text
 * @error: return location for a #GError
 *
 * Like msgtrk_smtp_capabilities_parse_data() for a NUL-terminated reply. A reply read
 * from the network should go through msgtrk_smtp_capabilities_parse_data() so that NUL
 * bytes in it are seen and refused.
 *
 * Returns: (transfer full): the capabilities, or %NULL with @error set
 */
MsgtrkSmtpCapabilities *
msgtrk_smtp_capabilities_parse (const char *ehlo_reply,
                                GError    **error)
{
  g_return_val_if_fail (ehlo_reply != NULL, NULL);

  return msgtrk_smtp_capabilities_parse_data (ehlo_reply, strlen (ehlo_reply), error);
}

/**
 * msgtrk_smtp_capabilities_new_from_keywords:
 * @keywords: (array zero-terminated=1): keyword lines, each "KEYWORD" or
 *   "KEYWORD params", as the server listed them
 *
 * Makes a capability set from keywords learnt elsewhere (a plugin whose mail client
 * parsed the EHLO reply itself, or a test). Keywords are case-insensitive; entries that
 * are not ehlo-keyword syntax are skipped, a repeated keyword keeps its first entry. The
 * domain is unknown (%NULL).
 *
 * Returns: (transfer full): the capabilities
 */
MsgtrkSmtpCapabilities *
msgtrk_smtp_capabilities_new_from_keywords (const char * const *keywords)
{
  MsgtrkSmtpCapabilities *self;

  g_return_val_if_fail (keywords != NULL, NULL);

  self = g_object_new (MSGTRK_TYPE_SMTP_CAPABILITIES, NULL);
  for (gsize i = 0; keywords[i] != NULL; i++)
    {
      /* The line number is only used in errors, and errors are dropped here. */
      if (!parse_keyword_line (self, keywords[i], strlen (keywords[i]), (guint) i + 1, NULL))
        g_debug ("skipping capability entry %" G_GSIZE_FORMAT, i);
    }
  return self;
}

/**
 * msgtrk_smtp_capabilities_get_domain:
 * @self: a #MsgtrkSmtpCapabilities
 *
 * Returns: (nullable): the domain the server named on the first line of its EHLO reply,
 *   %NULL if the set was made from keywords
 */
const char *
msgtrk_smtp_capabilities_get_domain (MsgtrkSmtpCapabilities *self)
{
  g_return_val_if_fail (MSGTRK_IS_SMTP_CAPABILITIES (self), NULL);

  return self->domain;
}

/**
 * msgtrk_smtp_capabilities_has:
 * @self: a #MsgtrkSmtpCapabilities
 * @keyword: an EHLO keyword, any case (e.g. "DSN", "mtrk")
 *
 * Returns: %TRUE if the server offered @keyword
 */
gboolean
msgtrk_smtp_capabilities_has (MsgtrkSmtpCapabilities *self,
                              const char             *keyword)
{
  g_return_val_if_fail (MSGTRK_IS_SMTP_CAPABILITIES (self), FALSE);
  g_return_val_if_fail (keyword != NULL, FALSE);

  return caps_lookup (self, keyword) != NULL;
}

/**
 * msgtrk_smtp_capabilities_get_params:
 * @self: a #MsgtrkSmtpCapabilities
 * @keyword: an EHLO keyword, any case
 *
 * Returns: (nullable): the parameters the server gave with @keyword, separated by single
 *   spaces (e.g. "PLAIN LOGIN" for AUTH), or %NULL if it gave none or did not offer
 *   @keyword (see msgtrk_smtp_capabilities_has())
 */
const char *
msgtrk_smtp_capabilities_get_params (MsgtrkSmtpCapabilities *self,
                                     const char             *keyword)
{
  CapEntry *entry;

  g_return_val_if_fail (MSGTRK_IS_SMTP_CAPABILITIES (self), NULL);
  g_return_val_if_fail (keyword != NULL, NULL);

  entry = caps_lookup (self, keyword);
  return entry != NULL ? entry->params : NULL;
}

/**
 * msgtrk_smtp_capabilities_list_keywords:
 * @self: a #MsgtrkSmtpCapabilities
 *
 * Returns: (transfer full) (array zero-terminated=1): the offered keywords in upper case,
 *   in the server's order
 */
char **
msgtrk_smtp_capabilities_list_keywords (MsgtrkSmtpCapabilities *self)
{
  GStrvBuilder *builder;
  char **result;

  g_return_val_if_fail (MSGTRK_IS_SMTP_CAPABILITIES (self), NULL);

  builder = g_strv_builder_new ();
  for (guint i = 0; i < self->entries->len; i++)
    {
      CapEntry *entry = g_ptr_array_index (self->entries, i);

      g_strv_builder_add (builder, entry->keyword);
    }
  result = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return result;
}

/**
 * msgtrk_smtp_capabilities_to_string:
 * @self: a #MsgtrkSmtpCapabilities
 *
 * Lists the offered keywords, separated by single spaces, in the server's order (e.g.
 * "PIPELINING SIZE DSN MTRK"); used to report what the server offered.
 *
 * Returns: (transfer full): the list, "" if the server offered nothing
 */
char *
msgtrk_smtp_capabilities_to_string (MsgtrkSmtpCapabilities *self)
{
  g_auto (GStrv) keywords = NULL;

  g_return_val_if_fail (MSGTRK_IS_SMTP_CAPABILITIES (self), NULL);

  keywords = msgtrk_smtp_capabilities_list_keywords (self);
  return g_strjoinv (" ", keywords);
}

/* ------------------------------------------------------------------------------------ */
/* The envelope                                                                         */

/**
 * MsgtrkEnvelope:
 *
 * The DSN/MTRK envelope of one message: ENVID, authenticator B, MTRK timeout, RET and
 * NOTIFY. On the client it builds the MAIL FROM and RCPT TO arguments from what the
 * server offered; on a server it is made from the received MAIL parameters.
 */
struct _MsgtrkEnvelope
{
  GObject parent_instance;

  char *envid;         /* (owned) decoded form */
  char *authenticator; /* (owned) (nullable) B, base64 */
  guint mtrk_timeout;  /* seconds, 0 = none */
  MsgtrkDsnRet ret;
  MsgtrkDsnNotify notify;
};

enum
{
  PROP_0,
  PROP_ENVID,
  PROP_AUTHENTICATOR,
  PROP_MTRK_TIMEOUT,
  PROP_RET,
  PROP_NOTIFY,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE (MsgtrkEnvelope, msgtrk_envelope, G_TYPE_OBJECT)

static void
msgtrk_envelope_finalize (GObject *object)
{
  MsgtrkEnvelope *self = MSGTRK_ENVELOPE (object);

  g_free (self->envid);
  g_free (self->authenticator);
  G_OBJECT_CLASS (msgtrk_envelope_parent_class)->finalize (object);
}

static void
msgtrk_envelope_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  MsgtrkEnvelope *self = MSGTRK_ENVELOPE (object);

  switch (prop_id)
    {
    case PROP_ENVID:
      g_value_set_string (value, self->envid);
      break;
    case PROP_AUTHENTICATOR:
      g_value_set_string (value, self->authenticator);
      break;
    case PROP_MTRK_TIMEOUT:
      g_value_set_uint (value, self->mtrk_timeout);
      break;
    case PROP_RET:
      g_value_set_enum (value, self->ret);
      break;
    case PROP_NOTIFY:
      g_value_set_flags (value, self->notify);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
msgtrk_envelope_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  MsgtrkEnvelope *self = MSGTRK_ENVELOPE (object);

  switch (prop_id)
    {
    case PROP_ENVID:
      g_free (self->envid);
      self->envid = g_value_dup_string (value);
      break;
    case PROP_AUTHENTICATOR:
      msgtrk_envelope_set_authenticator (self, g_value_get_string (value));
      break;
    case PROP_MTRK_TIMEOUT:
      msgtrk_envelope_set_mtrk_timeout (self, g_value_get_uint (value));
      break;
    case PROP_RET:
      msgtrk_envelope_set_ret (self, g_value_get_enum (value));
      break;
    case PROP_NOTIFY:
      msgtrk_envelope_set_notify (self, g_value_get_flags (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
msgtrk_envelope_class_init (MsgtrkEnvelopeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = msgtrk_envelope_finalize;
  object_class->get_property = msgtrk_envelope_get_property;
  object_class->set_property = msgtrk_envelope_set_property;

  /**
   * MsgtrkEnvelope:envid:
   *
   * The ENVID, decoded (not xtext); %NULL only for a message a server received without
   * one (msgtrk_envelope_new_received()).
   */
  props[PROP_ENVID] =
    g_param_spec_string ("envid", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * MsgtrkEnvelope:authenticator:
   *
   * The authenticator B (base64, %MSGTRK_AUTHENTICATOR_LENGTH characters) for the MTRK
   * parameter, or %NULL for none.
   */
  props[PROP_AUTHENTICATOR] =
    g_param_spec_string ("authenticator", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * MsgtrkEnvelope:mtrk-timeout:
   *
   * Seconds for which the servers should keep tracking data (MTRK=B:timeout); 0 omits it.
   */
  props[PROP_MTRK_TIMEOUT] =
    g_param_spec_uint ("mtrk-timeout", NULL, NULL, 0, MSGTRK_MTRK_TIMEOUT_MAX, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * MsgtrkEnvelope:ret:
   *
   * The DSN RET parameter.
   */
  props[PROP_RET] =
    g_param_spec_enum ("ret", NULL, NULL, MSGTRK_TYPE_DSN_RET, MSGTRK_DSN_RET_UNSET,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * MsgtrkEnvelope:notify:
   *
   * The DSN NOTIFY parameter given to every recipient.
   */
  props[PROP_NOTIFY] =
    g_param_spec_flags ("notify", NULL, NULL, MSGTRK_TYPE_DSN_NOTIFY, MSGTRK_DSN_NOTIFY_UNSET,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
msgtrk_envelope_init (MsgtrkEnvelope *self)
{
}

/**
 * msgtrk_envelope_new:
 * @envid: the ENVID, valid for msgtrk_envid_is_valid() (e.g. from
 *   msgtrk_envid_generate())
 *
 * Makes the client-side envelope of one message: no authenticator, no MTRK timeout, no
 * RET, no NOTIFY. A tracking client normally sets RET=HDRS and
 * NOTIFY=SUCCESS,FAILURE,DELAY (RFC 3885: DSN gives the primary status).
 *
 * Returns: (transfer full): the envelope
 */
MsgtrkEnvelope *
msgtrk_envelope_new (const char *envid)
{
  g_return_val_if_fail (envid != NULL, NULL);
  g_return_val_if_fail (msgtrk_envid_is_valid (envid, NULL), NULL);

  return g_object_new (MSGTRK_TYPE_ENVELOPE, "envid", envid, NULL);
}

/**
 * msgtrk_envelope_new_received:
 * @envid: (nullable): the ENVID as a server received it, decoded (not xtext), or %NULL
 *   for a message that came without one
 * @error: return location for a #GError
 *
 * Makes the envelope of a message a server received and passes on (a relay): unlike
 * msgtrk_envelope_new(), @envid may be any ENVID RFC 3461 section 4.4 allows, i.e. any
 * non-empty printable US-ASCII whose xtext form has at most %MSGTRK_ENVID_MAX_LENGTH
 * characters (the same check as msgtrk_envid_param_parse()). Without an ENVID the MAIL
 * FROM builder adds neither ENVID nor MTRK.
 *
 * Fails with %MSGTRK_ERROR_PARSE (empty, or not printable US-ASCII) or
 * %MSGTRK_ERROR_LIMIT (too long as xtext).
 *
 * Returns: (transfer full): the envelope, or %NULL with @error set
 */
MsgtrkEnvelope *
msgtrk_envelope_new_received (const char *envid,
                              GError    **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (envid != NULL && !msgtrk_smtp_envid_received_check (envid, error))
    return NULL;
  return g_object_new (MSGTRK_TYPE_ENVELOPE, "envid", envid, NULL);
}

/**
 * msgtrk_envelope_get_envid:
 * @self: a #MsgtrkEnvelope
 *
 * Returns: (nullable): the ENVID, decoded; %NULL only for an envelope received without
 *   one (msgtrk_envelope_new_received())
 */
const char *
msgtrk_envelope_get_envid (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);

  return self->envid;
}

/**
 * msgtrk_envelope_set_authenticator:
 * @self: a #MsgtrkEnvelope
 * @authenticator: (nullable): B, base64 (%MSGTRK_AUTHENTICATOR_LENGTH characters), or
 *   %NULL to send no MTRK parameter
 *
 * Sets the authenticator sent as MTRK=B where the server offers MTRK and DSN.
 */
void
msgtrk_envelope_set_authenticator (MsgtrkEnvelope *self,
                                   const char     *authenticator)
{
  g_return_if_fail (MSGTRK_IS_ENVELOPE (self));
  g_return_if_fail (authenticator == NULL || msgtrk_smtp_authenticator_form_ok (authenticator));

  if (g_strcmp0 (self->authenticator, authenticator) == 0)
    return;
  g_free (self->authenticator);
  self->authenticator = g_strdup (authenticator);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_AUTHENTICATOR]);
}

/**
 * msgtrk_envelope_get_authenticator:
 * @self: a #MsgtrkEnvelope
 *
 * Returns: (nullable): the authenticator B, or %NULL
 */
const char *
msgtrk_envelope_get_authenticator (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);

  return self->authenticator;
}

/**
 * msgtrk_envelope_set_mtrk_timeout:
 * @self: a #MsgtrkEnvelope
 * @seconds: 1 to %MSGTRK_MTRK_TIMEOUT_MAX, or 0 to send no timeout
 *
 * Sets how long the servers should keep tracking data (MTRK=B:seconds).
 */
void
msgtrk_envelope_set_mtrk_timeout (MsgtrkEnvelope *self,
                                  guint           seconds)
{
  g_return_if_fail (MSGTRK_IS_ENVELOPE (self));
  g_return_if_fail (seconds <= MSGTRK_MTRK_TIMEOUT_MAX);

  if (self->mtrk_timeout == seconds)
    return;
  self->mtrk_timeout = seconds;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MTRK_TIMEOUT]);
}

/**
 * msgtrk_envelope_get_mtrk_timeout:
 * @self: a #MsgtrkEnvelope
 *
 * Returns: the MTRK timeout in seconds, 0 for none
 */
guint
msgtrk_envelope_get_mtrk_timeout (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), 0);

  return self->mtrk_timeout;
}

/**
 * msgtrk_envelope_set_ret:
 * @self: a #MsgtrkEnvelope
 * @ret: the RET parameter
 *
 * Sets what a DSN should return of the message.
 */
void
msgtrk_envelope_set_ret (MsgtrkEnvelope *self,
                         MsgtrkDsnRet    ret)
{
  g_return_if_fail (MSGTRK_IS_ENVELOPE (self));
  g_return_if_fail (ret == MSGTRK_DSN_RET_UNSET || ret == MSGTRK_DSN_RET_HDRS
                    || ret == MSGTRK_DSN_RET_FULL);

  if (self->ret == ret)
    return;
  self->ret = ret;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_RET]);
}

/**
 * msgtrk_envelope_get_ret:
 * @self: a #MsgtrkEnvelope
 *
 * Returns: the RET parameter
 */
MsgtrkDsnRet
msgtrk_envelope_get_ret (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), MSGTRK_DSN_RET_UNSET);

  return self->ret;
}

/**
 * msgtrk_envelope_set_notify:
 * @self: a #MsgtrkEnvelope
 * @notify: the NOTIFY flags; %MSGTRK_DSN_NOTIFY_NEVER only alone
 *
 * Sets the NOTIFY parameter given to every recipient.
 */
void
msgtrk_envelope_set_notify (MsgtrkEnvelope *self,
                            MsgtrkDsnNotify notify)
{
  g_return_if_fail (MSGTRK_IS_ENVELOPE (self));
  g_return_if_fail (msgtrk_smtp_notify_is_consistent (notify));

  if (self->notify == notify)
    return;
  self->notify = notify;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_NOTIFY]);
}

/**
 * msgtrk_envelope_get_notify:
 * @self: a #MsgtrkEnvelope
 *
 * Returns: the NOTIFY flags
 */
MsgtrkDsnNotify
msgtrk_envelope_get_notify (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), MSGTRK_DSN_NOTIFY_UNSET);

  return self->notify;
}

/* Appends "<" @address ">" (msgtrk_smtp_path_write(): the one mailbox grammar), the error
 * naming the @what address. */
static gboolean
write_path (GString    *arg,
            const char *address,
            const char *what,
            guint       flags,
            gboolean    smtputf8,
            gboolean   *non_ascii,
            GError    **error)
{
  if (smtputf8)
    flags |= MSGTRK_SMTP_PATH_UTF8;
  if (!msgtrk_smtp_path_write (arg, address, flags, MSGTRK_SMTP_ADDRESS_MAX_LENGTH, non_ascii,
                               error))
    {
      g_autofree char *quoted = quote (address);

      g_prefix_error (error, _("The %s address “%s”: "), what, quoted);
      return FALSE;
    }
  return TRUE;
}

static gboolean
caps_has (MsgtrkSmtpCapabilities *caps,
          const char             *keyword)
{
  return caps != NULL && msgtrk_smtp_capabilities_has (caps, keyword);
}

/**
 * msgtrk_envelope_build_mail_from_arg:
 * @self: a #MsgtrkEnvelope
 * @caps: (nullable): what the server offered in its EHLO reply, %NULL if nothing (HELO)
 * @sender: the sender's address without angle brackets, "" for the null reverse-path
 * @error: return location for a #GError
 *
 * Builds the argument of MAIL FROM:
 * `<sender>[ RET=HDRS|FULL][ ENVID=<xtext>][ MTRK=<B>[:timeout]][ SMTPUTF8]`.
 * RET (if set) and ENVID are added only if @caps offers DSN; MTRK only if @caps offers
 * both MTRK and DSN (RFC 3885: ENVID accompanies MTRK) and an authenticator is set. An
 * envelope without ENVID (msgtrk_envelope_new_received()) adds neither ENVID nor MTRK;
 * SMTPUTF8 only for a non-ASCII sender, which needs @caps to offer SMTPUTF8.
 *
 * Fails with %MSGTRK_ERROR_PARSE for a hostile or malformed sender (control characters,
 * angle brackets, unquoted spaces), %MSGTRK_ERROR_UNSUPPORTED for a non-ASCII sender
 * without SMTPUTF8, and %MSGTRK_ERROR_LIMIT for a sender longer than
 * %MSGTRK_SMTP_ADDRESS_MAX_LENGTH or a command line ("MAIL FROM:" + argument + CRLF)
 * longer than %MSGTRK_SMTP_MAIL_LINE_MAX. Nothing is ever truncated.
 *
 * Returns: (transfer full): the argument, or %NULL with @error set
 */
char *
msgtrk_envelope_build_mail_from_arg (MsgtrkEnvelope         *self,
                                     MsgtrkSmtpCapabilities *caps,
                                     const char             *sender,
                                     GError                **error)
{
  g_autoptr (GString) arg = NULL;
  gboolean has_dsn, non_ascii;

  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);
  g_return_val_if_fail (caps == NULL || MSGTRK_IS_SMTP_CAPABILITIES (caps), NULL);
  g_return_val_if_fail (sender != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  arg = g_string_new (NULL);
  if (!write_path (arg, sender, _("sender"), MSGTRK_SMTP_PATH_NULL, caps_has (caps, "SMTPUTF8"),
                   &non_ascii, error))
    return NULL;

  has_dsn = caps_has (caps, "DSN");
  if (has_dsn && self->ret != MSGTRK_DSN_RET_UNSET)
    msgtrk_smtp_param_write (arg, "RET", msgtrk_smtp_ret_param_word (self->ret), NULL);

  if (has_dsn && self->envid != NULL && !msgtrk_smtp_envid_param_write (arg, self->envid, error))
    return NULL;

  if (has_dsn && caps_has (caps, "MTRK") && self->envid != NULL && self->authenticator != NULL
      && !msgtrk_smtp_mtrk_param_write (arg, self->authenticator, self->mtrk_timeout, error))
    return NULL;

  if (non_ascii)
    msgtrk_smtp_param_write (arg, "SMTPUTF8", NULL, NULL);

  if (strlen ("MAIL FROM:") + arg->len + strlen ("\r\n") > MSGTRK_SMTP_MAIL_LINE_MAX)
    {
      fail (error, MSGTRK_ERROR_LIMIT,
            _("The MAIL FROM command would be longer than %d octets."),
            MSGTRK_SMTP_MAIL_LINE_MAX);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&arg), FALSE);
}

/*
 * The one RCPT TO builder behind msgtrk_envelope_build_rcpt_to_arg() and
 * msgtrk_envelope_build_rcpt_to_arg_full(): @orcpt_type NULL means the default ORCPT
 * ("rfc822;" + @recipient, none for a non-ASCII recipient); otherwise @orcpt_type and
 * @orcpt_address (decoded) are checked and the address is xtext-encoded.
 *
 *   orcpt-parameter = "ORCPT=" addr-type ";" xtext      (RFC 3461 section 4.2)
 */
static char *
build_rcpt_to_arg (MsgtrkEnvelope         *self,
                   MsgtrkSmtpCapabilities *caps,
                   const char             *recipient,
                   MsgtrkDsnNotify         notify,
                   const char             *orcpt_type,
                   const char             *orcpt_address,
                   GError                **error)
{
  g_autoptr (GString) arg = g_string_new (NULL);
  gboolean has_dsn, non_ascii;

  if (!write_path (arg, recipient, _("recipient"), MSGTRK_SMTP_PATH_POSTMASTER,
                   caps_has (caps, "SMTPUTF8"), &non_ascii, error))
    return NULL;

  has_dsn = caps_has (caps, "DSN");
  if (has_dsn && notify != MSGTRK_DSN_NOTIFY_UNSET)
    {
      g_autofree char *notify_text = msgtrk_notify_param_format (notify);

      msgtrk_smtp_param_write (arg, "NOTIFY", notify_text, NULL);
    }

  /* The default ORCPT is "rfc822;" + the recipient, none for a non-ASCII recipient. The
   * given one is checked even without DSN, so that a bad value never passes silently. */
  if (orcpt_type != NULL)
    {
      g_autoptr (GString) orcpt = g_string_new (NULL);

      if (!msgtrk_smtp_orcpt_param_write (orcpt, orcpt_type, orcpt_address, error))
        return NULL;
      if (has_dsn)
        g_string_append_len (arg, orcpt->str, orcpt->len);
    }
  else if (has_dsn && !non_ascii
           && !msgtrk_smtp_orcpt_param_write (arg, "rfc822", recipient, error))
    return NULL;

  if (strlen ("RCPT TO:") + arg->len + strlen ("\r\n") > MSGTRK_SMTP_RCPT_LINE_MAX)
    {
      fail (error, MSGTRK_ERROR_LIMIT,
            _("The RCPT TO command would be longer than %d octets."),
            MSGTRK_SMTP_RCPT_LINE_MAX);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&arg), FALSE);
}

/**
 * msgtrk_envelope_build_rcpt_to_arg:
 * @self: a #MsgtrkEnvelope
 * @caps: (nullable): what the server offered in its EHLO reply, %NULL if nothing
 * @recipient: the recipient's address without angle brackets
 * @error: return location for a #GError
 *
 * Builds the argument of RCPT TO: `<recipient>[ NOTIFY=…][ ORCPT=rfc822;<xtext>]`.
 * NOTIFY (if set) and ORCPT are added only if @caps offers DSN. A non-ASCII recipient
 * (allowed only if @caps offers SMTPUTF8) gets no ORCPT: RFC 3461 wants printable
 * US-ASCII in an rfc822 ORCPT.
 *
 * Fails like msgtrk_envelope_build_mail_from_arg() (the empty address is refused here),
 * and with %MSGTRK_ERROR_LIMIT if the ORCPT value would be longer than
 * %MSGTRK_ORCPT_MAX_LENGTH or the line ("RCPT TO:" + argument + CRLF) longer than
 * %MSGTRK_SMTP_RCPT_LINE_MAX.
 *
 * See msgtrk_envelope_build_rcpt_to_arg_full() for a per-recipient NOTIFY and a given
 * ORCPT (what a relay forwards).
 *
 * Returns: (transfer full): the argument, or %NULL with @error set
 */
char *
msgtrk_envelope_build_rcpt_to_arg (MsgtrkEnvelope         *self,
                                   MsgtrkSmtpCapabilities *caps,
                                   const char             *recipient,
                                   GError                **error)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);
  g_return_val_if_fail (caps == NULL || MSGTRK_IS_SMTP_CAPABILITIES (caps), NULL);
  g_return_val_if_fail (recipient != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return build_rcpt_to_arg (self, caps, recipient, self->notify, NULL, NULL, error);
}

/**
 * msgtrk_envelope_build_rcpt_to_arg_full:
 * @self: a #MsgtrkEnvelope
 * @caps: (nullable): what the server offered in its EHLO reply, %NULL if nothing
 * @recipient: the recipient's address without angle brackets
 * @notify: this recipient's NOTIFY; %MSGTRK_DSN_NOTIFY_UNSET for no NOTIFY parameter
 *   (the envelope's own NOTIFY is not used)
 * @orcpt_type: (nullable): the ORCPT address type as received (e.g. "rfc822"), or %NULL
 *   for the default ORCPT of msgtrk_envelope_build_rcpt_to_arg()
 * @orcpt_address: (nullable): the decoded original recipient address; given exactly when
 *   @orcpt_type is
 * @error: return location for a #GError
 *
 * Like msgtrk_envelope_build_rcpt_to_arg(), for one recipient whose NOTIFY and ORCPT are
 * known, e.g. a relay passing on what it received: RFC 3461 section 4.2 wants a received
 * ORCPT passed to the next hop unchanged, and section 5.2.1 says the same of NOTIFY. The
 * ORCPT goes out as `@orcpt_type;xtext(@orcpt_address)` (the type as given, the address
 * re-encoded as canonical xtext: the value is unchanged even where the sender escaped
 * more than needed). NOTIFY and ORCPT are added only if @caps offers DSN.
 *
 * Fails like msgtrk_envelope_build_rcpt_to_arg(), and with %MSGTRK_ERROR_PARSE if
 * @orcpt_type is not an atom or @orcpt_address is empty or not printable US-ASCII.
 *
 * Returns: (transfer full): the argument, or %NULL with @error set
 */
char *
msgtrk_envelope_build_rcpt_to_arg_full (MsgtrkEnvelope         *self,
                                        MsgtrkSmtpCapabilities *caps,
                                        const char             *recipient,
                                        MsgtrkDsnNotify         notify,
                                        const char             *orcpt_type,
                                        const char             *orcpt_address,
                                        GError                **error)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);
  g_return_val_if_fail (caps == NULL || MSGTRK_IS_SMTP_CAPABILITIES (caps), NULL);
  g_return_val_if_fail (recipient != NULL, NULL);
  g_return_val_if_fail (msgtrk_smtp_notify_is_consistent (notify), NULL);
  g_return_val_if_fail ((orcpt_type == NULL) == (orcpt_address == NULL), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return build_rcpt_to_arg (self, caps, recipient, notify, orcpt_type, orcpt_address, error);
}

/**
 * msgtrk_envelope_new_from_mail_params:
 * @params: (element-type utf8 utf8): MAIL parameters as msgtrk_smtp_params_parse()
 *   returns them (upper-case keys)
 * @error: return location for a #GError
 *
 * Makes the envelope a server received: ENVID (required; see msgtrk_envid_param_parse():
 * at most %MSGTRK_ENVID_MAX_LENGTH characters of xtext, decoded to printable US-ASCII and
 * kept even where msgtrk_envid_is_valid() would want no escaping), RET (see
 * msgtrk_ret_param_parse()) and MTRK (see msgtrk_mtrk_param_parse(); RFC 3885 wants
 * ENVID with it). Other parameters are ignored: the server decides which it supports.
 *
 * Fails with %MSGTRK_ERROR_PARSE (no ENVID, bad xtext, bad RET),
 * %MSGTRK_ERROR_LIMIT or %MSGTRK_ERROR_INVALID_SECRET (bad MTRK authenticator).
 *
 * Returns: (transfer full): the envelope, or %NULL with @error set
 */
MsgtrkEnvelope *
msgtrk_envelope_new_from_mail_params (GHashTable *params,
                                      GError    **error)
{
  g_autoptr (MsgtrkEnvelope) self = NULL;
  g_autofree char *envid = NULL;
  g_autofree char *authenticator = NULL;
  const char *envid_xtext = NULL, *ret = NULL, *mtrk = NULL;
  gboolean has_envid, has_ret, has_mtrk;
  guint timeout = 0;

  g_return_val_if_fail (params != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  has_envid = g_hash_table_lookup_extended (params, "ENVID", NULL, (gpointer *) &envid_xtext);
  has_ret = g_hash_table_lookup_extended (params, "RET", NULL, (gpointer *) &ret);
  has_mtrk = g_hash_table_lookup_extended (params, "MTRK", NULL, (gpointer *) &mtrk);

  if (!has_envid)
    {
      if (has_mtrk)
        fail (error, MSGTRK_ERROR_PARSE,
              _("MAIL has an MTRK parameter but no ENVID (RFC 3885 needs both)."));
      else
        fail (error, MSGTRK_ERROR_PARSE, _("MAIL has no ENVID parameter."));
      return NULL;
    }
  if (!msgtrk_envid_param_parse (envid_xtext, &envid, error))
    return NULL;
  self = msgtrk_envelope_new_received (envid, error);
  if (self == NULL)
    return NULL;
  if (has_ret && !msgtrk_ret_param_parse (ret, &self->ret, error))
    return NULL;

  if (has_mtrk)
    {
      if (mtrk == NULL)
        {
          fail (error, MSGTRK_ERROR_PARSE, _("The MTRK parameter has no value."));
          return NULL;
        }
      if (!msgtrk_mtrk_param_parse (mtrk, &authenticator, &timeout, error))
        return NULL;
      self->authenticator = g_steal_pointer (&authenticator);
      self->mtrk_timeout = timeout;
    }

  return g_steal_pointer (&self);
}
