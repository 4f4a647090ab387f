/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-smtp-capabilities.c: MsgtrkSmtpCapabilities, what a server offered in its EHLO
 * reply (RFC 5321 section 4.1.1.1).
 *
 * What: msgtrk_smtp_capabilities_parse() / _parse_data() read an EHLO reply,
 * msgtrk_smtp_capabilities_new_from_keywords() makes one from keywords; the getters say
 * which keywords (upper case) and parameters were offered.
 * Decisions (also in docs/envelope-parameters.md): liberal in what a peer sends: a
 * keyword line the parser does not understand (Postfix's "AUTH=PLAIN LOGIN" for old
 * clients, smtp-sink's empty last line "250 ", octets beyond ASCII) is skipped, not
 * fatal; a repeated keyword keeps its first parameters. What breaks the reply's framing
 * (another code, NUL, CR or other control characters, text after the last line) stays an
 * error.
 * Limits: MSGTRK_EHLO_MAX_LINES lines of at most MSGTRK_SMTP_REPLY_LINE_MAX octets.
 * Never: aborts on remote input; quotes more than a bounded, escaped piece of it.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-smtp-syntax-private.h"
#include "msgtrk-smtp-short-private.h"

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
 *
 * Since: 1.0
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

  for (gsize start; msgtrk_smtp_next_word (text, len, &i, &start);)
    {
      for (gsize j = start; j < i; j++)
        {
          guchar c = (guchar) text[j];

          if (!msgtrk_is_vchar (c))
            {
              g_autofree char *quoted = quote_len (text, len);

              g_debug ("EHLO line %u: skipping a line that is not printable ASCII “%s”",
                       line_no, quoted);
              return TRUE;
            }
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

      if (!msgtrk_is_vchar (c))
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 * Reads the domain the server named in its EHLO reply.
 *
 * Returns: (nullable): the domain the server named on the first line of its EHLO reply,
 *   %NULL if the set was made from keywords
 *
 * Since: 1.0
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
 * Tells whether the server offered an extension.
 *
 * Returns: %TRUE if the server offered @keyword
 *
 * Since: 1.0
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
 * Reads the parameters the server gave with an extension.
 *
 * Returns: (nullable): the parameters the server gave with @keyword, separated by single
 *   spaces (e.g. "PLAIN LOGIN" for AUTH), or %NULL if it gave none or did not offer
 *   @keyword (see msgtrk_smtp_capabilities_has())
 *
 * Since: 1.0
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
 * Lists the extensions the server offered.
 *
 * Returns: (transfer full) (array zero-terminated=1): the offered keywords in upper case,
 *   in the server's order
 *
 * Since: 1.0
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
 *
 * Since: 1.0
 */
char *
msgtrk_smtp_capabilities_to_string (MsgtrkSmtpCapabilities *self)
{
  g_auto (GStrv) keywords = NULL;

  g_return_val_if_fail (MSGTRK_IS_SMTP_CAPABILITIES (self), NULL);

  keywords = msgtrk_smtp_capabilities_list_keywords (self);
  return g_strjoinv (" ", keywords);
}
