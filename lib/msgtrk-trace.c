/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-trace.c: Received: trace fields (RFC 5321 section 4.4) → MsgtrkHop.
 *
 * What it is for: the returned headers of a DSN (RET=HDRS), or the header of any message,
 * carry the Received: chain; each field becomes one hop of the delivery map (who handed
 * the message to whom, with what, when) and the chain gives the delay of every hop.
 *
 * Public API: msgtrk_hop_parse_received() for one field value,
 * msgtrk_trace_parse_headers() for a whole header block, and the MsgtrkHop getters.
 *
 * Limits: MSGTRK_TRACE_MAX_HOPS Received: fields per header, MSGTRK_TRACE_MAX_FIELD_LENGTH
 * octets per unfolded field value (surrounding white space not counted),
 * MSGTRK_TRACE_MAX_HEADER_SIZE octets of header block (every field line with its line end,
 * up to the blank line that ends the header). Passing one is MSGTRK_ERROR_LIMIT; a NUL
 * octet inside the header block is MSGTRK_ERROR_PARSE.
 *
 * Tolerance: the fields are written by many MTAs in shapes the ABNF does not allow
 * (Exchange's "with Microsoft SMTP Server", Exim's "tls" clause, qmail's comment-only
 * field); a clause this parser cannot read is skipped, never fatal, and the raw value is
 * kept. A field with no usable date is still a hop, with no date.
 *
 * Must never: read past the given length, trust that the input is UTF-8 (every string a
 * hop returns is valid UTF-8: invalid sequences become U+FFFD), or recurse on input
 * (nested comments are counted, not recursed into).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"

/*
 * The syntax, RFC 5321 section 4.4 (the ABNF this file reads, tolerantly):
 *
 *   Time-stamp-line  = "Received:" FWS Stamp <CRLF>
 *   Stamp          = From-domain By-domain Opt-info [CFWS] ";"
 *                    FWS date-time
 *                    ; where "date-time" is as defined in RFC 5322 [4]
 *                    ; but the "obs-" forms, especially two-digit
 *                    ; years, are prohibited in SMTP and MUST NOT be used.
 *   From-domain    = "FROM" FWS Extended-Domain
 *   By-domain      = CFWS "BY" FWS Extended-Domain
 *   Extended-Domain  = Domain /
 *                    ( Domain FWS "(" TCP-info ")" ) /
 *                    ( address-literal FWS "(" TCP-info ")" )
 *   TCP-info       = address-literal / ( Domain FWS address-literal )
 *                    ; Information derived by server from TCP connection
 *                    ; not client EHLO.
 *   Opt-info       = [Via] [With] [ID] [For]
 *                    [Additional-Registered-Clauses]
 *   Via            = CFWS "VIA" FWS Link
 *   With           = CFWS "WITH" FWS Protocol
 *   ID             = CFWS "ID" FWS ( Atom / msg-id )
 *                    ; msg-id is defined in RFC 5322 [4]
 *   For            = CFWS "FOR" FWS ( Path / Mailbox )
 *   Additional-Registered-Clauses  = CFWS Atom FWS String
 *   Link           = "TCP" / Addtl-Link
 *   Addtl-Link     = Atom
 *   Protocol       = "ESMTP" / "SMTP" / Attdl-Protocol
 *   Attdl-Protocol = Atom
 *
 * and from RFC 5322 (comments nest; quoted strings hold ";" and "("):
 *
 *   comment        = "(" *([FWS] ccontent) [FWS] ")"
 *   ccontent       = ctext / quoted-pair / comment
 *   quoted-string  = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]
 *
 * How the deviations of real MTAs are read:
 * - clauses may come in any order; keywords are case-insensitive; a repeated clause keeps
 *   its first value; a word that is no keyword after a complete clause starts an unknown
 *   clause whose value is skipped (Exim's "tls <cipher>");
 * - "with" and "via" take every word up to the next keyword or comment
 *   ("with Microsoft SMTP Server", "via Frontend Transport");
 * - the date is the text after the last ";" outside comments and quoted strings;
 * - "from": see resolve_from() for the Postfix, Sendmail, Exim, qmail and Exchange shapes.
 */

/**
 * MsgtrkHop:
 *
 * One hop of a message's route, read from one Received: field: who sent (the HELO
 * name, the host name and address the receiving server saw), who received, with what
 * protocol and queue id, for which recipient, when, and how long after the hop before.
 * Every part may be absent. Hops are immutable once parsed.
 *
 * Since: 1.0
 */
struct _MsgtrkHop
{
  GObject parent_instance;

  char *from_helo;    /* (owned) (nullable) */
  char *from_host;    /* (owned) (nullable) */
  char *from_address; /* (owned) (nullable) */
  char *by_host;      /* (owned) (nullable) */
  char *via;          /* (owned) (nullable) */
  char *with;         /* (owned) (nullable) */
  char *id;           /* (owned) (nullable) */
  char *for_addr;     /* (owned) (nullable) */
  GDateTime *date;    /* (owned) (nullable) */
  gint64 delay;       /* -1 when unknown */
  gboolean has_delay;
  char *raw;          /* (owned) (not nullable) */
};

G_DEFINE_FINAL_TYPE (MsgtrkHop, msgtrk_hop, G_TYPE_OBJECT)

static void
msgtrk_hop_finalize (GObject *object)
{
  MsgtrkHop *self = MSGTRK_HOP (object);

  g_free (self->from_helo);
  g_free (self->from_host);
  g_free (self->from_address);
  g_free (self->by_host);
  g_free (self->via);
  g_free (self->with);
  g_free (self->id);
  g_free (self->for_addr);
  g_clear_pointer (&self->date, g_date_time_unref);
  g_free (self->raw);

  G_OBJECT_CLASS (msgtrk_hop_parent_class)->finalize (object);
}

static void
msgtrk_hop_class_init (MsgtrkHopClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_hop_finalize;
}

static void
msgtrk_hop_init (MsgtrkHop *self)
{
  self->delay = -1;
}

/* ---- Tokens of one unfolded field value ------------------------------------------- */

typedef enum
{
  TOK_WORD,    /* an atom, domain, literal, <path> or quoted string, as written */
  TOK_COMMENT, /* the text inside a top-level comment (nested comments included) */
  TOK_SEMI,    /* a ";" outside comments and quoted strings */
} TokKind;

typedef struct
{
  TokKind kind;
  const char *start;
  gsize len;
} Tok;

static gboolean
is_wsp (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip a quoted string starting at the DQUOTE at @p; returns the octet after its end. */
static const char *
skip_quoted (const char *p)
{
  p++;
  while (*p != '\0' && *p != '"')
    {
      if (*p == '\\' && p[1] != '\0')
        p++;
      p++;
    }
  return *p == '"' ? p + 1 : p;
}

/* The end of a comment whose "(" is just before @p, @end the end of the text: its closing
 * ")" (nested comments and quoted pairs skipped), or @end if it is not closed. */
static const char *
comment_end (const char *p,
             const char *end)
{
  guint depth = 1;

  for (; p < end; p++)
    {
      if (*p == '\\' && p + 1 < end)
        p++;
      else if (*p == '(')
        depth++;
      else if (*p == ')' && --depth == 0)
        return p;
    }
  return end;
}

/*
 * Split @s into words, comments and top-level semicolons. An unterminated comment or
 * quoted string runs to the end; a stray ")" is dropped.
 */
static void
scan_tokens (const char *s,
             GArray     *toks)
{
  const char *p = s;
  const char *end = s + strlen (s);

  while (*p != '\0')
    {
      Tok tok;

      if (is_wsp (*p) || *p == ')')
        {
          p++;
          continue;
        }
      if (*p == '(')
        {
          tok.kind = TOK_COMMENT;
          tok.start = ++p;
          p = comment_end (p, end);
          tok.len = (gsize) (p - tok.start);
          if (p < end)
            p++;
        }
      else if (*p == ';')
        {
          tok.kind = TOK_SEMI;
          tok.start = p++;
          tok.len = 1;
        }
      else
        {
          tok.kind = TOK_WORD;
          tok.start = p;
          while (*p != '\0' && !is_wsp (*p) && *p != '(' && *p != ')' && *p != ';')
            p = (*p == '"') ? skip_quoted (p) : p + 1;
          tok.len = (gsize) (p - tok.start);
        }
      g_array_append_val (toks, tok);
    }
}

/* Split the text of a comment into its words, leaving out nested comments. */
static GPtrArray *
comment_words (const Tok *comment)
{
  GPtrArray *words = g_ptr_array_new_with_free_func (g_free);
  const char *p = comment->start;
  const char *end = comment->start + comment->len;

  while (p < end)
    {
      const char *start;

      if (is_wsp (*p) || *p == ')')
        {
          p++;
          continue;
        }
      if (*p == '(')
        {
          p = comment_end (p + 1, end);
          if (p < end)
            p++;
          continue;
        }
      start = p;
      while (p < end && !is_wsp (*p) && *p != '(' && *p != ')')
        p++;
      g_ptr_array_add (words, g_strndup (start, (gsize) (p - start)));
    }
  return words;
}

static gboolean
tok_is (const Tok  *tok,
        const char *word)
{
  return tok->kind == TOK_WORD && tok->len == strlen (word) &&
         g_ascii_strncasecmp (tok->start, word, tok->len) == 0;
}

/* ---- Pieces of values ------------------------------------------------------------- */

/*
 * address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                         General-address-literal ) "]"
 * IPv6-address-literal = "IPv6:" IPv6-addr
 *
 * Returns the address inside the brackets ("IPv6:" removed), or NULL when @word is no
 * literal of an IP address. Text after "]" (Exim's ":port") is ignored.
 */
static char *
literal_to_address (const char *word)
{
  const char *close;
  g_autofree char *inner = NULL;
  const char *addr;

  if (word[0] != '[')
    return NULL;
  close = strchr (word, ']');
  if (close == NULL)
    return NULL;
  inner = g_strndup (word + 1, (gsize) (close - word - 1));
  addr = inner;
  if (g_ascii_strncasecmp (addr, "IPv6:", 5) == 0)
    addr += 5;
  if (!g_hostname_is_ip_address (addr))
    return NULL;
  return g_strdup (addr);
}

/* A word that can be a host name: letters, digits, "-", ".", "_" or non-ASCII (U-labels). */
static gboolean
looks_like_hostname (const char *word)
{
  const char *p;

  if (*word == '\0' || *word == '.' || *word == '-')
    return FALSE;
  for (p = word; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (!g_ascii_isalnum (c) && c != '-' && c != '.' && c != '_' && c < 0x80)
        return FALSE;
    }
  return TRUE;
}

/* A host name as shown: one trailing dot of a fully qualified name removed. */
static char *
host_dup (const char *text,
          gsize       len)
{
  if (len > 1 && text[len - 1] == '.')
    len--;
  return g_strndup (text, len);
}

/* A name that is not valid UTF-8 or holds a character that must not show as such
 * (msgtrk_unichar_is_unsafe) is no host name: whoever wrote the field could make it show
 * as another or put terminal escapes into a route. Such a name is dropped (unknown), the
 * rest of the hop kept. */
static void
drop_unsafe_name (char **name)
{
  const char *p = *name;

  if (p == NULL)
    return;
  if (!g_utf8_validate (p, -1, NULL))
    {
      g_clear_pointer (name, g_free);
      return;
    }
  for (; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (msgtrk_unichar_is_unsafe (c))
        {
          g_clear_pointer (name, g_free);
          return;
        }
    }
}

/* ---- The "from" clause ------------------------------------------------------------ */

typedef struct
{
  const Tok *first;       /* first word after "from", or NULL */
  gboolean local_userid;  /* "from userid 1000": a local submission */
  gboolean has_comment;   /* a comment follows "from" */
  gboolean exim;          /* "helo=" in a comment, or an "(Exim …)" comment */
  gboolean qmail;         /* "(HELO name)" in a comment */
  char *helo;             /* (owned) (nullable) from helo= or (HELO x) */
  char *host;             /* (owned) (nullable) the reverse-DNS name in TCP-info */
  gboolean host_seen;     /* TCP-info named a host (maybe "unknown") */
  char *address;          /* (owned) (nullable) */
} FromInfo;

static void
from_info_clear (FromInfo *info)
{
  g_free (info->helo);
  g_free (info->host);
  g_free (info->address);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (FromInfo, from_info_clear)

/*
 * Read one comment of the "from" clause. Shapes met in the wild:
 *   Postfix   (mail.example.org [192.0.2.1])   (unknown [IPv6:2001:db8::1])
 *   Sendmail  (client.example [192.0.2.3] (may be forged))   (user@client.example [192.0.2.3])
 *   Exim      (helo=mx.example)   ([192.0.2.7] helo=x)   ([192.0.2.7]:1234 helo=x)
 *             (port=1234 helo=x)
 *   qmail     (HELO mail.example.org)   (192.0.2.1)   (user@192.0.2.1)
 *   Exchange  (2603:10a6:20b:5::13)
 * Other comments ("Authenticated sender: …", Postfix's TLS details) name no address and
 * are ignored.
 */
static void
from_read_comment (FromInfo  *info,
                   const Tok *comment)
{
  g_autoptr (GPtrArray) words = comment_words (comment);
  guint i;

  info->has_comment = TRUE;
  for (i = 0; i < words->len; i++)
    {
      char *word = g_ptr_array_index (words, i);
      gsize wlen = strlen (word);
      const char *at;
      g_autofree char *addr = NULL;

      while (wlen > 0 && word[wlen - 1] == ',')
        word[--wlen] = '\0';
      if (g_ascii_strncasecmp (word, "helo=", 5) == 0)
        {
          info->exim = TRUE;
          if (info->helo == NULL && word[5] != '\0')
            info->helo = g_strdup (word + 5);
          continue;
        }
      if (g_ascii_strcasecmp (word, "HELO") == 0 && i + 1 < words->len)
        {
          info->qmail = TRUE;
          if (info->helo == NULL)
            info->helo = g_strdup (g_ptr_array_index (words, i + 1));
          i++;
          continue;
        }
      if (word[0] == '[')
        {
          addr = literal_to_address (word);
          if (addr == NULL || info->address != NULL)
            continue;
          info->address = g_steal_pointer (&addr);
          if (i > 0 && !info->host_seen)
            {
              const char *prev = g_ptr_array_index (words, i - 1);

              at = strrchr (prev, '@');
              if (at != NULL)
                prev = at + 1;
              if (looks_like_hostname (prev))
                {
                  info->host_seen = TRUE;
                  if (g_ascii_strcasecmp (prev, "unknown") != 0)
                    info->host = host_dup (prev, strlen (prev));
                }
            }
          continue;
        }
      at = strrchr (word, '@');
      if (at != NULL)
        word = (char *) at + 1;
      if (info->address == NULL && g_hostname_is_ip_address (word))
        info->address = g_strdup (word);
    }
}

/*
 * Decide what the words of the "from" clause mean.
 * - Postfix, Sendmail, Exchange and RFC 5321 itself: "from HELO (rdns [ip])": the first
 *   word is the name the client gave in HELO/EHLO (kept as written, a literal with its
 *   brackets), the comment is the TCP-info. A host "unknown" means no reverse DNS.
 * - Exim ("helo=" in the comment, or an "(Exim …)" comment) and qmail ("(HELO x)"): the
 *   first word is the host as the server knows it (a literal when it has no name,
 *   "unknown" for qmail without reverse DNS) and the HELO name is in the comment; Exim
 *   leaves helo= out when it equals the host. Exim's local submissions ("from user by …",
 *   no comment) name a user, not a host: nothing is taken.
 * - "from userid 1000" (local submission): nothing is taken.
 */
static void
resolve_from (MsgtrkHop *hop,
              FromInfo  *info)
{
  g_autofree char *first = NULL;
  g_autofree char *first_address = NULL;
  gboolean first_is_literal;

  if (info->first == NULL || info->local_userid)
    return;

  first = g_strndup (info->first->start, info->first->len);
  first_is_literal = first[0] == '[';
  if (first_is_literal)
    first_address = literal_to_address (first);

  if (info->exim || info->qmail)
    {
      if (!first_is_literal && info->has_comment &&
          g_ascii_strcasecmp (first, "unknown") != 0)
        hop->from_host = host_dup (first, strlen (first));
      if (info->helo != NULL)
        hop->from_helo = g_steal_pointer (&info->helo);
      else if (info->exim && !first_is_literal && info->has_comment)
        hop->from_helo = g_strdup (first);
    }
  else
    {
      hop->from_helo = g_steal_pointer (&first);
      hop->from_host = g_steal_pointer (&info->host);
    }
  if (info->address != NULL)
    hop->from_address = g_steal_pointer (&info->address);
  else
    hop->from_address = g_steal_pointer (&first_address);
}

/* ---- One field -------------------------------------------------------------------- */

typedef enum
{
  CLAUSE_NONE,
  CLAUSE_FROM,
  CLAUSE_BY,
  CLAUSE_VIA,
  CLAUSE_WITH,
  CLAUSE_ID,
  CLAUSE_FOR,
  CLAUSE_UNKNOWN,
} Clause;

static Clause
clause_keyword (const Tok *tok)
{
  static const struct
  {
    const char *word;
    Clause clause;
  } keywords[] = {
    { "from", CLAUSE_FROM }, { "by", CLAUSE_BY }, { "via", CLAUSE_VIA },
    { "with", CLAUSE_WITH }, { "id", CLAUSE_ID }, { "for", CLAUSE_FOR },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (keywords); i++)
    if (tok_is (tok, keywords[i].word))
      return keywords[i].clause;
  return CLAUSE_NONE;
}

/* The Path / Mailbox of a "for" clause, without its angle brackets; NULL when empty. */
static char *
for_dup (const Tok *tok)
{
  const char *s = tok->start;
  gsize len = tok->len;

  if (len > 0 && s[0] == '<')
    {
      s++;
      len--;
      if (len > 0 && s[len - 1] == '>')
        len--;
    }
  return len > 0 ? g_strndup (s, len) : NULL;
}

/* Store @tok as the value of @clause (first value wins) or append it ("with", "via"). */
static void
set_clause_value (MsgtrkHop *hop,
                  Clause     clause,
                  const Tok *tok,
                  gboolean   append)
{
  char **slot = NULL;

  switch (clause)
    {
    case CLAUSE_BY:
      if (hop->by_host == NULL)
        hop->by_host = host_dup (tok->start, tok->len);
      return;
    case CLAUSE_ID:
      slot = &hop->id;
      break;
    case CLAUSE_FOR:
      if (hop->for_addr == NULL)
        hop->for_addr = for_dup (tok);
      return;
    case CLAUSE_VIA:
      slot = &hop->via;
      break;
    case CLAUSE_WITH:
      slot = &hop->with;
      break;
    case CLAUSE_NONE:
    case CLAUSE_FROM:
    case CLAUSE_UNKNOWN:
    default:
      return;
    }
  if (*slot == NULL)
    *slot = g_strndup (tok->start, tok->len);
  else if (append)
    {
      char *joined = g_strdup_printf ("%s %.*s", *slot, (int) tok->len, tok->start);

      g_free (*slot);
      *slot = joined;
    }
}

/* Walk the clauses (the tokens before the date) and fill @hop. */
static void
parse_clauses (MsgtrkHop *hop,
               const Tok *toks,
               guint      n_toks)
{
  g_auto (FromInfo) from = { 0 };
  Clause current = CLAUSE_NONE;
  gboolean have_value = FALSE;    /* the current clause has its value */
  gboolean from_seen = FALSE;     /* only the first "from" clause counts */
  gboolean in_first_from = FALSE; /* the current clause is that first "from" */
  gboolean after_comment = FALSE; /* a comment came after the current value */
  guint i;

  for (i = 0; i < n_toks; i++)
    {
      const Tok *tok = &toks[i];
      Clause keyword;

      if (tok->kind == TOK_SEMI)
        continue;
      if (tok->kind == TOK_COMMENT)
        {
          if (tok->len >= 5 && strncmp (tok->start, "Exim ", 5) == 0)
            from.exim = TRUE;
          if (in_first_from)
            from_read_comment (&from, tok);
          after_comment = TRUE;
          continue;
        }

      keyword = clause_keyword (tok);
      if (keyword != CLAUSE_NONE)
        {
          current = keyword;
          have_value = FALSE;
          after_comment = FALSE;
          in_first_from = keyword == CLAUSE_FROM && !from_seen;
          from_seen = from_seen || keyword == CLAUSE_FROM;
          continue;
        }
      if (current == CLAUSE_NONE)
        continue;
      if (!have_value)
        {
          have_value = TRUE;
          after_comment = FALSE;
          if (in_first_from)
            {
              from.first = tok;
              if (tok_is (tok, "userid") && i + 1 < n_toks && toks[i + 1].kind == TOK_WORD &&
                  g_ascii_isdigit (toks[i + 1].start[0]))
                {
                  from.local_userid = TRUE;
                  i++;
                }
            }
          else
            set_clause_value (hop, current, tok, FALSE);
          continue;
        }
      if ((current == CLAUSE_WITH || current == CLAUSE_VIA) && !after_comment)
        {
          set_clause_value (hop, current, tok, TRUE);
          continue;
        }
      /* A word after a complete clause: an additional clause we do not know. */
      current = CLAUSE_UNKNOWN;
      have_value = FALSE;
      in_first_from = FALSE;
    }

  resolve_from (hop, &from);
}

/*
 * Unfold a field value (line breaks before white space removed, other line breaks become a
 * space), make it valid UTF-8 and trim it.
 */
static char *
unfold_value (const char *value,
              gsize       len)
{
  GString *out = g_string_sized_new (len + 1);
  g_autofree char *valid = NULL;
  gsize i;

  for (i = 0; i < len; i++)
    {
      char c = value[i];

      if (c == '\r' || c == '\n')
        {
          gsize j = i;

          while (j < len && (value[j] == '\r' || value[j] == '\n'))
            j++;
          if (j < len && value[j] != ' ' && value[j] != '\t')
            g_string_append_c (out, ' ');
          i = j - 1;
          continue;
        }
      g_string_append_c (out, c);
    }
  valid = g_utf8_make_valid (out->str, (gssize) out->len);
  g_string_free (out, TRUE);
  return g_strdup (g_strstrip (valid));
}

/* Parse one unfolded, valid, trimmed value; a hop for anything not empty. */
static MsgtrkHop *
hop_parse_unfolded (char    *value,
                    GError **error)
{
  g_autoptr (MsgtrkHop) hop = NULL;
  g_autoptr (GArray) toks = NULL;
  guint last_semi = G_MAXUINT;
  guint n_clause_toks;
  gsize len = strlen (value);
  guint i;

  if (len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, _("The Received: field is empty"));
      g_free (value);
      return NULL;
    }
  if (len > MSGTRK_TRACE_MAX_FIELD_LENGTH)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (value, 60);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("The Received: field “%s” is %lu octets long, more than the limit of %d"),
                   quoted, (unsigned long) len, MSGTRK_TRACE_MAX_FIELD_LENGTH);
      g_free (value);
      return NULL;
    }

  hop = g_object_new (MSGTRK_TYPE_HOP, NULL);
  hop->raw = value;

  toks = g_array_new (FALSE, FALSE, sizeof (Tok));
  scan_tokens (hop->raw, toks);
  for (i = 0; i < toks->len; i++)
    if (g_array_index (toks, Tok, i).kind == TOK_SEMI)
      last_semi = i;

  n_clause_toks = toks->len;
  if (last_semi != G_MAXUINT)
    {
      const Tok *semi = &g_array_index (toks, Tok, last_semi);

      n_clause_toks = last_semi;
      hop->date = msgtrk_date_parse (semi->start + 1);
    }
  parse_clauses (hop, (const Tok *) (void *) toks->data, n_clause_toks);
  drop_unsafe_name (&hop->by_host);
  drop_unsafe_name (&hop->from_host);
  drop_unsafe_name (&hop->from_helo);

  return g_steal_pointer (&hop);
}

/**
 * msgtrk_hop_parse_received:
 * @value: the value of one Received: field (the text after "Received:"), folded or not
 *
 * Reads one trace field (RFC 5321 section 4.4) as the MTAs in the wild write it: Postfix,
 * Sendmail, Exim, qmail, Microsoft Exchange / Office 365, Gmail. Clauses it cannot read
 * are skipped; a field without a usable date gives a hop without a date. Strings of the
 * hop are valid UTF-8 (invalid octets become U+FFFD). The hop's delay is unknown: only
 * msgtrk_trace_parse_headers() sets delays.
 *
 * Returns: (transfer full): the hop, or %NULL with @error set: %MSGTRK_ERROR_PARSE for an
 *   empty value, %MSGTRK_ERROR_LIMIT for a value (unfolded, white space around it not
 *   counted) longer than %MSGTRK_TRACE_MAX_FIELD_LENGTH octets
 *
 * Since: 1.0
 */
MsgtrkHop *
msgtrk_hop_parse_received (const char *value,
                           GError    **error)
{
  g_return_val_if_fail (value != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return hop_parse_unfolded (unfold_value (value, strlen (value)), error);
}

/**
 * msgtrk_hop_get_from_helo:
 * @self: a #MsgtrkHop
 *
 * The name the sending client gave in HELO/EHLO (as written: an address literal keeps its
 * brackets).
 *
 * Returns: (nullable): the HELO name, or %NULL when the field does not give it
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_from_helo (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->from_helo;
}

/**
 * msgtrk_hop_get_from_host:
 * @self: a #MsgtrkHop
 *
 * The sending host's name as the receiving server found it (reverse DNS), without a
 * trailing dot. Servers write "unknown" when there is none: that gives %NULL.
 *
 * Returns: (nullable): the host name, or %NULL
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_from_host (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->from_host;
}

/**
 * msgtrk_hop_get_from_address:
 * @self: a #MsgtrkHop
 *
 * The IP address of the sending host, without brackets or "IPv6:" prefix
 * (e.g. "192.0.2.1", "2001:db8::1").
 *
 * Returns: (nullable): the address, or %NULL
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_from_address (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->from_address;
}

/**
 * msgtrk_hop_get_by_host:
 * @self: a #MsgtrkHop
 *
 * The receiving host (the "by" clause), without a trailing dot. Gmail's internal hops
 * give a bare IPv6 address here.
 *
 * Returns: (nullable): the receiving host, or %NULL
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_by_host (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->by_host;
}

/**
 * msgtrk_hop_get_via:
 * @self: a #MsgtrkHop
 *
 * The "via" clause (link), e.g. "Frontend Transport" for Exchange.
 *
 * Returns: (nullable): the link, or %NULL
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_via (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->via;
}

/**
 * msgtrk_hop_get_with:
 * @self: a #MsgtrkHop
 *
 * The "with" clause (protocol) as written, e.g. "ESMTPS", "esmtpsa",
 * "Microsoft SMTP Server".
 *
 * Returns: (nullable): the protocol, or %NULL
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_with (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->with;
}

/**
 * msgtrk_hop_get_id:
 * @self: a #MsgtrkHop
 *
 * The "id" clause: the receiving server's queue id, as written.
 *
 * Returns: (nullable): the id, or %NULL
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_id (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->id;
}

/**
 * msgtrk_hop_get_for:
 * @self: a #MsgtrkHop
 *
 * The "for" clause: the recipient, without angle brackets.
 *
 * Returns: (nullable): the recipient, or %NULL
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_for (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->for_addr;
}

/**
 * msgtrk_hop_get_date:
 * @self: a #MsgtrkHop
 *
 * The date-time after the last ";" of the field, with its UTC offset.
 *
 * Returns: (transfer none) (nullable): the date, or %NULL when missing, unreadable or
 *   absurd (outside the years 1980 to 2200)
 *
 * Since: 1.0
 */
GDateTime *
msgtrk_hop_get_date (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->date;
}

/**
 * msgtrk_hop_get_delay:
 * @self: a #MsgtrkHop
 *
 * Seconds between the previous (older) hop's date and this hop's date, as set by
 * msgtrk_trace_parse_headers(). Clocks of different servers disagree: the delay may be
 * negative, and is kept so. Because -1 also means "unknown", use
 * msgtrk_hop_has_delay() to tell a skew of exactly -1 s from an unknown delay.
 *
 * Returns: the delay in seconds, or -1 when unknown (first hop, or a date missing)
 *
 * Since: 1.0
 */
gint64
msgtrk_hop_get_delay (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), -1);
  return self->has_delay ? self->delay : -1;
}

/**
 * msgtrk_hop_has_delay:
 * @self: a #MsgtrkHop
 *
 * Whether msgtrk_hop_get_delay() is a known value.
 *
 * Returns: %TRUE when this hop and the one before it both have dates
 *
 * Since: 1.0
 */
gboolean
msgtrk_hop_has_delay (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), FALSE);
  return self->has_delay;
}

/**
 * msgtrk_hop_get_raw:
 * @self: a #MsgtrkHop
 *
 * The field value as read: unfolded, white space around it removed, invalid UTF-8
 * replaced by U+FFFD.
 *
 * Returns: the raw value
 *
 * Since: 1.0
 */
const char *
msgtrk_hop_get_raw (MsgtrkHop *self)
{
  g_return_val_if_fail (MSGTRK_IS_HOP (self), NULL);
  return self->raw;
}

/* ---- A header block --------------------------------------------------------------- */

/*
 * The header block, RFC 5322 section 2.2 / 3.6 (with obs-optional's white space before
 * the colon):
 *
 *   fields         = *field
 *   field          = field-name *WSP ":" unstructured CRLF
 *   field-name     = 1*ftext
 *   ftext          = %d33-57 / %d59-126
 *
 * Lines end in CRLF or LF; a line that starts with WSP continues the field before it; a
 * line that is not a field (no colon, or octets outside ftext in the name, such as an
 * mbox "From " line) is skipped with its continuation lines; an empty line ends the
 * header.
 */

/* Is @line (of @len octets, no line end) the start of a Received: field? Sets @value. */
static gboolean
line_is_received (const char  *line,
                  gsize        len,
                  const char **value)
{
  static const char name[] = "Received";
  gsize n = sizeof name - 1;
  gsize i;

  if (len < n || g_ascii_strncasecmp (line, name, n) != 0)
    return FALSE;
  for (i = n; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
    ;
  if (i >= len || line[i] != ':')
    return FALSE;
  *value = line + i + 1;
  return TRUE;
}

/* The newest-first list of Received: values (unfolded) in a header block. */
static GPtrArray *
collect_received (const char *headers,
                  gsize       len,
                  gboolean    nul_ends,
                  GError    **error)
{
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  GString *current = NULL; /* the Received: field being read, if any */
  gsize pos = 0;

  while (pos < len)
    {
      const char *line = headers + pos;
      gsize line_len = 0;
      gsize next;
      const char *value = NULL;
      gboolean at_end = FALSE;

      while (pos + line_len < len && line[line_len] != '\n')
        {
          if (pos + line_len > (gsize) MSGTRK_TRACE_MAX_HEADER_SIZE + 1)
            goto too_long; /* not a blank line, and past the limit already */
          if (line[line_len] == '\0')
            {
              if (nul_ends)
                {
                  at_end = TRUE;
                  break;
                }
              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           _("The header contains a NUL octet at offset %lu"),
                           (unsigned long) (pos + line_len));
              goto fail;
            }
          line_len++;
        }
      next = pos + line_len + ((pos + line_len < len && !at_end) ? 1 : 0);
      if (line_len > 0 && line[line_len - 1] == '\r')
        line_len--;
      if (line_len == 0)
        break; /* the blank line that ends the header (or a NUL when it ends the text) */
      if (next > MSGTRK_TRACE_MAX_HEADER_SIZE)
        goto too_long;

      if (line[0] == ' ' || line[0] == '\t')
        {
          if (current != NULL)
            g_string_append_len (current, line, (gssize) line_len);
        }
      else
        {
          if (current != NULL)
            g_ptr_array_add (values, g_string_free (g_steal_pointer (&current), FALSE));
          if (line_is_received (line, line_len, &value))
            {
              if (values->len >= MSGTRK_TRACE_MAX_HOPS)
                {
                  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                               _("The header has more than %d Received: fields"),
                               MSGTRK_TRACE_MAX_HOPS);
                  goto fail;
                }
              current = g_string_new_len (value, (gssize) (line_len - (gsize) (value - line)));
            }
        }
      if (at_end)
        break;
      pos = next;
    }
  if (current != NULL)
    g_ptr_array_add (values, g_string_free (g_steal_pointer (&current), FALSE));
  return g_steal_pointer (&values);

too_long:
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
               _("The header is longer than the limit of %d octets"),
               MSGTRK_TRACE_MAX_HEADER_SIZE);
fail:
  if (current != NULL)
    g_string_free (current, TRUE);
  return NULL;
}

/**
 * msgtrk_trace_parse_headers:
 * @headers: (array length=len) (element-type guint8): a header block: the
 *   text/rfc822-headers part of a DSN, or a whole message (reading stops at the first
 *   blank line)
 * @len: length of @headers in octets, or -1 if it is NUL-terminated
 * @error: return location for a #GError
 *
 * Finds every Received: field of a header (name case-insensitive, folded values
 * unfolded, CRLF or LF line ends; other fields ignored) and reads each with
 * msgtrk_hop_parse_received(). Empty Received: fields are skipped. Hops are returned
 * OLDEST FIRST (a header lists them newest first); each hop's delay is its date minus the
 * date of the hop before it, unknown for the first hop and when either date is missing.
 * Clock skew between servers can make a delay negative; it is kept as it is.
 *
 * Returns: (transfer container) (element-type MsgtrkHop): the hops, possibly none, or %NULL
 *   with @error set: %MSGTRK_ERROR_PARSE for a NUL octet in the header block,
 *   %MSGTRK_ERROR_LIMIT for more than %MSGTRK_TRACE_MAX_HOPS Received: fields, a field
 *   longer than %MSGTRK_TRACE_MAX_FIELD_LENGTH or a header block longer than
 *   %MSGTRK_TRACE_MAX_HEADER_SIZE octets
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_trace_parse_headers (const char *headers,
                            gssize      len,
                            GError    **error)
{
  g_autoptr (GPtrArray) values = NULL;
  g_autoptr (GPtrArray) hops = NULL;
  guint i;

  g_return_val_if_fail (headers != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (headers == NULL)
    headers = "";
  if (len < 0)
    values = collect_received (headers, G_MAXSIZE, TRUE, error);
  else
    values = collect_received (headers, (gsize) len, FALSE, error);
  if (values == NULL)
    return NULL;

  hops = g_ptr_array_new_full (values->len, g_object_unref);
  for (i = values->len; i > 0; i--)
    {
      const char *value = g_ptr_array_index (values, i - 1);
      char *unfolded = unfold_value (value, strlen (value));
      MsgtrkHop *hop;

      if (*unfolded == '\0')
        {
          g_free (unfolded);
          continue;
        }
      hop = hop_parse_unfolded (unfolded, error);
      if (hop == NULL)
        return NULL;
      if (hops->len > 0)
        {
          MsgtrkHop *older = g_ptr_array_index (hops, hops->len - 1);

          if (older->date != NULL && hop->date != NULL)
            {
              hop->delay = g_date_time_difference (hop->date, older->date) / G_TIME_SPAN_SECOND;
              hop->has_delay = TRUE;
            }
        }
      g_ptr_array_add (hops, hop);
    }
  return g_steal_pointer (&hops);
}
