/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-syntax.c: the MTQP status line, greeting and option list (RFC 3887), parsed
 * and written, no I/O. Contract: msgtrk-mtqp-syntax-private.h.
 *
 * How: each parser takes a whole line (the CRLF removed) and is strict where the protocol
 * decides (the status indicator, the response codes, the end of the option list) and
 * liberal in free text (any octet but NUL; the caller escapes it before showing it). Each
 * writer is strict: it refuses what its parser, or a stricter peer, would refuse, and
 * appends nothing then. The line splitter and the greeting parser take octets in pieces of
 * any size and give the same result however the input is cut.
 * Limits: see the header (MSGTRK_MTQP_SYNTAX_*); the splitter holds one line at most.
 * Never: read past a given length; allocate for text (status text points into the line).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-mtqp-syntax-private.h"

static const struct
{
  const char          *word;
  MsgtrkMtqpStatusKind kind;
} indicators[] = {
  /* "+OK+" before "+OK": the longer word first. */
  { "+OK+", MSGTRK_MTQP_STATUS_OK_MULTI },
  { "+OK", MSGTRK_MTQP_STATUS_OK },
  { "-TEMP", MSGTRK_MTQP_STATUS_TEMP },
  { "-ERR", MSGTRK_MTQP_STATUS_ERR },
  { "-BAD", MSGTRK_MTQP_STATUS_BAD },
};

const char *
msgtrk_mtqp_status_word (MsgtrkMtqpStatusKind kind)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (indicators); i++)
    if (indicators[i].kind == kind)
      return indicators[i].word;
  g_return_val_if_reached ("-BAD");
}

gboolean
msgtrk_mtqp_status_is_positive (MsgtrkMtqpStatusKind kind)
{
  return kind == MSGTRK_MTQP_STATUS_OK || kind == MSGTRK_MTQP_STATUS_OK_MULTI;
}

/*   code = 1*(ALPHA / DIGIT / "-" / "_")                                               */
static gboolean
is_code_char (char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '_';
}

static gboolean
is_wsp (char c)
{
  return c == ' ' || c == '\t';
}

/* VCHAR / WSP: what a writer may put in free text. */
static gboolean
is_text_char (char c)
{
  return msgtrk_is_vchar ((guchar) c) || is_wsp (c);
}

/*
 * The status line (RFC 3887 sections 2.3 and 10):
 *
 *   command-response = status response-info opt-text
 *   status           = "+OK" / "+OK+" / "-TEMP" / "-ERR" / "-BAD"
 *   response-info    = *( "/" 1*(ALPHA / DIGIT / "-" / "_") )
 *   opt-text         = [WSP *(VCHAR / WSP)]
 *
 * Indicators match exactly (upper case); codes are case-insensitive, returned in lower
 * case. The text after the first run of WSP is given back as is (any octet but NUL).
 */
gboolean
msgtrk_mtqp_status_parse (const char           *line,
                          gsize                 len,
                          MsgtrkMtqpStatusLine *status,
                          GError              **error)
{
  g_autoptr (GPtrArray) codes = g_ptr_array_new_with_free_func (g_free);
  const char *end = line + len;
  const char *p = NULL;
  guint i;

  memset (status, 0, sizeof *status);
  if (len > MSGTRK_MTQP_SYNTAX_MAX_LINE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "status line longer than %u octets", MSGTRK_MTQP_SYNTAX_MAX_LINE);
      return FALSE;
    }
  if (memchr (line, '\0', len) != NULL)
    goto bad;
  for (i = 0; i < G_N_ELEMENTS (indicators); i++)
    {
      gsize n = strlen (indicators[i].word);

      if (len >= n && memcmp (line, indicators[i].word, n) == 0)
        {
          status->kind = indicators[i].kind;
          p = line + n;
          break;
        }
    }
  if (p == NULL)
    goto bad;

  while (p < end && *p == '/')
    {
      const char *start = ++p;

      while (p < end && is_code_char (*p))
        p++;
      if (p == start)
        goto bad;
      if ((gsize) (p - start) > MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH
          || codes->len >= MSGTRK_MTQP_SYNTAX_MAX_CODES)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       "more than %u response codes, or one longer than %u characters",
                       MSGTRK_MTQP_SYNTAX_MAX_CODES, MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH);
          return FALSE;
        }
      g_ptr_array_add (codes, g_ascii_strdown (start, p - start));
    }
  if (p < end && !is_wsp (*p))
    goto bad;
  while (p < end && is_wsp (*p))
    p++;

  g_ptr_array_add (codes, NULL);
  status->codes = (GStrv) g_ptr_array_free (g_steal_pointer (&codes), FALSE);
  status->text = p;
  status->text_len = (gsize) (end - p);
  return TRUE;

bad:
  g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                       "not an MTQP status line");
  return FALSE;
}

gboolean
msgtrk_mtqp_status_has_code (const MsgtrkMtqpStatusLine *status,
                             const char                 *code)
{
  return status->codes != NULL
         && g_strv_contains ((const char * const *) status->codes, code);
}

void
msgtrk_mtqp_status_line_clear (MsgtrkMtqpStatusLine *status)
{
  g_clear_pointer (&status->codes, g_strfreev);
  status->text = NULL;
  status->text_len = 0;
}

static gboolean
check_text (const char *text,
            const char *what,
            GError    **error)
{
  const char *p;

  for (p = text; *p != '\0'; p++)
    if (!is_text_char (*p))
      {
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                     "%s holds an octet that is not VCHAR or WSP (0x%02x)", what,
                     (guint) (guchar) *p);
        return FALSE;
      }
  return TRUE;
}

/* Append "word[/code…][ text]" (no CRLF) to @line after checking every part. */
static gboolean
status_build (GString             *line,
              MsgtrkMtqpStatusKind kind,
              const char * const  *codes,
              const char          *text,
              GError             **error)
{
  guint n = 0;

  g_string_append (line, msgtrk_mtqp_status_word (kind));
  for (; codes != NULL && codes[n] != NULL; n++)
    {
      gsize code_len = strlen (codes[n]);
      const char *c;

      if (n >= MSGTRK_MTQP_SYNTAX_MAX_CODES || code_len == 0
          || code_len > MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       "a status line takes 1 to %u codes of 1 to %u characters",
                       MSGTRK_MTQP_SYNTAX_MAX_CODES, MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH);
          return FALSE;
        }
      for (c = codes[n]; *c != '\0'; c++)
        if (!is_code_char (*c))
          {
            g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                         "response code “%s” is not 1*(ALPHA / DIGIT / \"-\" / \"_\")",
                         codes[n]);
            return FALSE;
          }
      g_string_append_c (line, '/');
      g_string_append (line, codes[n]);
    }
  if (text != NULL && *text != '\0')
    {
      if (is_wsp (*text))
        {
          g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                               "status text starts with white space (it would be lost)");
          return FALSE;
        }
      if (!check_text (text, "status text", error))
        return FALSE;
      g_string_append_c (line, ' ');
      g_string_append (line, text);
    }
  if (line->len > MSGTRK_MTQP_SYNTAX_MAX_LINE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "status line longer than %u octets", MSGTRK_MTQP_SYNTAX_MAX_LINE);
      return FALSE;
    }
  return TRUE;
}

/*
 * msgtrk_mtqp_status_write:
 * @codes: (nullable): response codes, written as given (the parser lower-cases them)
 * @text: (nullable): VCHAR / WSP only, not starting with WSP
 *
 * Appends one status line and its CRLF to @out. On error nothing is appended.
 */
gboolean
msgtrk_mtqp_status_write (GString             *out,
                          MsgtrkMtqpStatusKind kind,
                          const char * const  *codes,
                          const char          *text,
                          GError             **error)
{
  g_autoptr (GString) line = g_string_new (NULL);

  if (!status_build (line, kind, codes, text, error))
    return FALSE;
  g_string_append_len (out, line->str, (gssize) line->len);
  g_string_append (out, "\r\n");
  return TRUE;
}

/*
 * The option list of a "+OK+" greeting (RFC 3887 section 3), fed one line at a time:
 *
 *   option-list = *option-line
 *   option-line = identifier opt-text *(CRLF WSP opt-text) CRLF
 *   dotcrlf     = "." CRLF
 *
 * A line starting with "." is dot-stuffed (the dot is removed) unless it is "." alone,
 * which ends the list. A line starting with WSP continues the option before it. The
 * identifier is what comes before the first WSP (compared without case by has()).
 */
void
msgtrk_mtqp_options_init (MsgtrkMtqpOptions *options)
{
  memset (options, 0, sizeof *options);
  options->names = g_ptr_array_new_with_free_func (g_free);
}

void
msgtrk_mtqp_options_clear (MsgtrkMtqpOptions *options)
{
  g_clear_pointer (&options->names, g_ptr_array_unref);
  options->n_lines = 0;
  options->done = FALSE;
}

MsgtrkMtqpParseResult
msgtrk_mtqp_options_feed_line (MsgtrkMtqpOptions *options,
                               const char        *line,
                               gsize              len,
                               GError           **error)
{
  gsize id_len;

  g_return_val_if_fail (!options->done, MSGTRK_MTQP_PARSE_ERROR);

  if (len > 0 && line[0] == '.')
    {
      if (len == 1)
        {
          options->done = TRUE;
          return MSGTRK_MTQP_PARSE_DONE;
        }
      line++;
      len--;
    }
  if (++options->n_lines > MSGTRK_MTQP_SYNTAX_MAX_OPTIONS)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "more than %u option lines", MSGTRK_MTQP_SYNTAX_MAX_OPTIONS);
      return MSGTRK_MTQP_PARSE_ERROR;
    }
  if (len > 0 && is_wsp (line[0]))
    {
      if (options->names->len == 0)
        {
          g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                               "an option continuation line without an option");
          return MSGTRK_MTQP_PARSE_ERROR;
        }
      return MSGTRK_MTQP_PARSE_MORE;
    }
  for (id_len = 0; id_len < len && !is_wsp (line[id_len]); id_len++)
    ;
  g_ptr_array_add (options->names, g_strndup (line, id_len));
  return MSGTRK_MTQP_PARSE_MORE;
}

gboolean
msgtrk_mtqp_options_has (const MsgtrkMtqpOptions *options,
                         const char              *name)
{
  guint i;

  for (i = 0; options->names != NULL && i < options->names->len; i++)
    if (g_ascii_strcasecmp (g_ptr_array_index (options->names, i), name) == 0)
      return TRUE;
  return FALSE;
}

/*
 * The greeting (RFC 3887 section 3):
 *
 *   greeting = ("+OK" / "+OK+") "/MTQP" *("/" code) opt-text CRLF [option-list dotcrlf]
 *
 * Read liberally: a positive status line with an "mtqp" code anywhere among its codes.
 */
gboolean
msgtrk_mtqp_greeting_is_mtqp (const MsgtrkMtqpStatusLine *status)
{
  return msgtrk_mtqp_status_is_positive (status->kind)
         && msgtrk_mtqp_status_has_code (status, "mtqp");
}

/*
 * msgtrk_mtqp_greeting_write:
 * @text: (nullable): the greeting's text (VCHAR / WSP)
 * @options: (nullable): option lines, "identifier[ text]": "+OK+" and the list with "."
 *   when there is one, "+OK" alone otherwise
 *
 * Appends the whole greeting to @out; on error nothing is appended.
 */
gboolean
msgtrk_mtqp_greeting_write (GString            *out,
                            const char         *text,
                            const char * const *options,
                            GError            **error)
{
  static const char * const mtqp[] = { "MTQP", NULL };
  g_autoptr (GString) all = g_string_new (NULL);
  guint n = options != NULL ? g_strv_length ((char **) options) : 0;
  guint i;

  if (n > MSGTRK_MTQP_SYNTAX_MAX_OPTIONS)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT, "more than %u option lines",
                   MSGTRK_MTQP_SYNTAX_MAX_OPTIONS);
      return FALSE;
    }
  if (!msgtrk_mtqp_status_write (all, n > 0 ? MSGTRK_MTQP_STATUS_OK_MULTI : MSGTRK_MTQP_STATUS_OK,
                                 mtqp, text, error))
    return FALSE;
  for (i = 0; i < n; i++)
    {
      const char *o = options[i];

      if (*o == '\0' || *o == '.' || is_wsp (*o) || strlen (o) > MSGTRK_MTQP_SYNTAX_MAX_LINE)
        {
          g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                               "an option line is empty, too long, or starts with “.” or "
                               "white space");
          return FALSE;
        }
      if (!check_text (o, "an option line", error))
        return FALSE;
      g_string_append (all, o);
      g_string_append (all, "\r\n");
    }
  if (n > 0)
    g_string_append (all, ".\r\n");
  g_string_append_len (out, all->str, (gssize) all->len);
  return TRUE;
}

/*
 * The line splitter:
 *
 *   line = *(octet - LF) [CR] LF      ; the CR before LF is removed; a bare LF ends a line
 *
 * A line longer than MSGTRK_MTQP_SYNTAX_MAX_LINE octets (CR LF excluded) is an error as
 * soon as that is known; the splitter is then not usable (the stream is out of step).
 */
void
msgtrk_mtqp_line_splitter_init (MsgtrkMtqpLineSplitter *splitter)
{
  splitter->len = 0;
  splitter->complete = FALSE;
  splitter->line[0] = '\0';
}

void
msgtrk_mtqp_line_splitter_wipe (MsgtrkMtqpLineSplitter *splitter)
{
  msgtrk_secure_wipe (splitter->line, sizeof splitter->line);
  msgtrk_mtqp_line_splitter_init (splitter);
}

MsgtrkMtqpParseResult
msgtrk_mtqp_line_splitter_feed (MsgtrkMtqpLineSplitter *splitter,
                                const char             *data,
                                gsize                   len,
                                gsize                  *consumed,
                                GError                **error)
{
  const char *nl = memchr (data, '\n', len);
  gsize take = nl != NULL ? (gsize) (nl - data) : len;

  if (splitter->complete)
    msgtrk_mtqp_line_splitter_init (splitter);
  /* The line may hold MAX_LINE octets and a CR that the LF will remove. */
  if (splitter->len + take > MSGTRK_MTQP_SYNTAX_MAX_LINE + 1)
    goto too_long;
  memcpy (splitter->line + splitter->len, data, take);
  splitter->len += take;
  if (nl == NULL)
    {
      *consumed = len;
      return MSGTRK_MTQP_PARSE_MORE;
    }
  if (splitter->len > 0 && splitter->line[splitter->len - 1] == '\r')
    splitter->len--;
  if (splitter->len > MSGTRK_MTQP_SYNTAX_MAX_LINE)
    goto too_long;
  splitter->line[splitter->len] = '\0';
  splitter->complete = TRUE;
  *consumed = take + 1;
  return MSGTRK_MTQP_PARSE_DONE;

too_long:
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT, "a line longer than %u octets",
               MSGTRK_MTQP_SYNTAX_MAX_LINE);
  return MSGTRK_MTQP_PARSE_ERROR;
}

/* The whole greeting from octets: the splitter, the status line, the option list. */
void
msgtrk_mtqp_greeting_init (MsgtrkMtqpGreeting *greeting)
{
  memset (greeting, 0, sizeof *greeting);
  msgtrk_mtqp_line_splitter_init (&greeting->splitter);
  msgtrk_mtqp_options_init (&greeting->options);
}

void
msgtrk_mtqp_greeting_clear (MsgtrkMtqpGreeting *greeting)
{
  msgtrk_mtqp_status_line_clear (&greeting->status);
  msgtrk_mtqp_options_clear (&greeting->options);
  greeting->have_status = FALSE;
}

MsgtrkMtqpParseResult
msgtrk_mtqp_greeting_feed (MsgtrkMtqpGreeting *greeting,
                           const char         *data,
                           gsize               len,
                           gsize              *consumed,
                           GError            **error)
{
  gsize used = 0;

  while (used < len)
    {
      MsgtrkMtqpLineSplitter *sp = &greeting->splitter;
      gsize n = 0;
      MsgtrkMtqpParseResult r;

      r = msgtrk_mtqp_line_splitter_feed (sp, data + used, len - used, &n, error);
      used += n;
      if (r == MSGTRK_MTQP_PARSE_ERROR)
        return r;
      if (r == MSGTRK_MTQP_PARSE_MORE)
        break;
      if (!greeting->have_status)
        {
          if (!msgtrk_mtqp_status_parse (sp->line, sp->len, &greeting->status, error))
            return MSGTRK_MTQP_PARSE_ERROR;
          greeting->status.text = NULL; /* it pointed into the splitter */
          greeting->status.text_len = 0;
          greeting->have_status = TRUE;
          if (!msgtrk_mtqp_status_is_positive (greeting->status.kind))
            {
              MsgtrkMtqpStatusKind kind = greeting->status.kind;
              int code = kind == MSGTRK_MTQP_STATUS_TEMP  ? MSGTRK_ERROR_SERVER_TEMP
                         : kind == MSGTRK_MTQP_STATUS_ERR ? MSGTRK_ERROR_SERVER_ERR
                                                          : MSGTRK_ERROR_SERVER_BAD;

              g_set_error (error, MSGTRK_ERROR, code, "negative greeting (%s)",
                           msgtrk_mtqp_status_word (kind));
              return MSGTRK_MTQP_PARSE_ERROR;
            }
          if (!msgtrk_mtqp_greeting_is_mtqp (&greeting->status))
            {
              g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                                   "the greeting lacks “/MTQP”");
              return MSGTRK_MTQP_PARSE_ERROR;
            }
          if (greeting->status.kind == MSGTRK_MTQP_STATUS_OK)
            {
              *consumed = used;
              return MSGTRK_MTQP_PARSE_DONE;
            }
          continue;
        }
      r = msgtrk_mtqp_options_feed_line (&greeting->options, sp->line, sp->len, error);
      if (r != MSGTRK_MTQP_PARSE_MORE)
        {
          *consumed = used;
          return r;
        }
    }
  *consumed = used;
  return MSGTRK_MTQP_PARSE_MORE;
}
