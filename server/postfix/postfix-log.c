/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-log.c: the grammar of the Postfix mail-log lines the follower acts on (contract:
 * postfix-log.h; which versions and what happens to other lines: docs/postfix-follower.md).
 *
 * Grammar (what postfix_log_parse() accepts; SP is one space, "..." are literal octets):
 *
 *   line        = stamp SP [ host SP [ facility "." priority SP ] ] program
 *                 [ "[" 1*DIGIT "]" ] ":" SP text
 *                 ; BusyBox syslogd writes "mail.info" after the host; with -S, no host
 *   stamp       = bsd-stamp / rfc3339-stamp
 *   bsd-stamp   = month SP ( 2DIGIT / SP DIGIT / DIGIT ) SP 2DIGIT ":" 2DIGIT ":" 2DIGIT
 *                 [ "." 1*DIGIT ]            ; maillog_file: "Dec 04 21:35:14",
 *                                            ; syslog: "Dec  4 21:35:14"
 *   rfc3339-stamp = full-date "T" full-time  ; rsyslog's RFC 3339 template, one token
 *   host        = 1*VCHAR
 *   program     = syslog-name "/" service    ; "postfix/smtp", "postfix/submission/smtpd"
 *   text        = queue-id ":" SP qtext / other-text
 *   queue-id    = 6*32( %x30-39 / %x41-46 )               ; short id: upper-case hex
 *               / 12*32( DIGIT / consonant )               ; long id: no vowels
 *
 *   qtext       = "message-id=" [ "<" ] msgid [ ">" ]      ; cleanup
 *               / "client=" *CHAR [ ", orig_queue_id=" value [ ", " *CHAR ] ]
 *                                   ; smtpd (qmqpd): a new message under this queue id;
 *                                   ; orig_queue_id= after XFORWARD IDENT (the last one
 *                                   ; counts)
 *               / "uid=" 1*10DIGIT " from=<" *CHAR         ; pickup: a new message
 *                                   ; submitted locally (CLIENT, no orig_queue_id)
 *               / "from=<" addr ">, size=" *CHAR           ; qmgr: queued
 *               / "from=<" addr ">, status=expired" *CHAR  ; qmgr: expired
 *               / "from=<" addr ">, status=force-expired" *CHAR  ; qmgr: postsuper -e
 *               / "removed"                                ; qmgr, postsuper
 *               / delivery                                 ; smtp lmtp local virtual pipe
 *                                                          ; error retry discard ...
 *   delivery    = "to=<" addr ">" *( ", " attr ) ", status=" word [ SP "(" reason ")" ]
 *   attr        = "orig_to=<" addr ">" / "relay=" value / "dsn=" dsn-code / key "=" value
 *                 ; delay=, delays=, conn_use= and future attributes are skipped
 *   value       = 1*( any octet but the sequence ", " )
 *   addr        = *( qtext-char / DQUOTE *( "\" CHAR / not-DQUOTE ) DQUOTE )  ; up to ">"
 *   word        = "sent" / "deferred" / "bounced" / "expired"
 *               / "SOFTBOUNCE"                 ; soft_bounce = yes: deferred
 *               / probe-word                   ; PROBE
 *               / other word (UNKNOWN)
 *   probe-word  = "deliverable"                ; dsn 2.X.X
 *               / "undeliverable" / "undeliverable-but-not-cached"   ; dsn 4 or 5
 *                 ; address-verification probes (verify(8): reject_unverified_*,
 *                 ; sender double-bounce; sendmail -bv): never a tracked delivery
 *   reason      = the rest of the line, without its last ")" (none: Postfix cut the
 *                 line, a record over POSTFIX_LOG_RECORD_MAX octets)
 *
 * A line whose program has no "/" is another program's (syslog): OTHER. A Postfix line
 * without a queue id, or whose qtext is none of the above (filter:, sender
 * non-delivery notification:, warnings, ...), is OTHER. A line that does not match
 * "line", or a "to=<" / "from=<" qtext that does not follow its rule, is UNKNOWN.
 *
 * In the reason of a "sent" delivery, "queued as ID" (a next hop's 250 reply, a content
 * filter's re-injection) and "forwarded as ID" (local(8) aliases and .forward) give
 * requeued_as when ID is a queue id; the follower decides whether it is this Postfix's.
 *
 * Limits: POSTFIX_LOG_MAX_LINE, POSTFIX_LOG_MIN_QUEUE_ID, POSTFIX_LOG_MAX_QUEUE_ID.
 * Never: read outside [line, line + len); abort on input; keep pointers into the line.
 */
#include "config.h"

#include "postfix-log.h"

#include <gio/gio.h>
#include <string.h>

static const char *const months[] = {
  "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* A cursor over the line: [p, end). */
typedef struct
{
  const char *p;
  const char *end;
} Cursor;

static gboolean
cursor_skip (Cursor     *c,
             const char *literal)
{
  gsize n = strlen (literal);

  if ((gsize) (c->end - c->p) < n || memcmp (c->p, literal, n) != 0)
    return FALSE;
  c->p += n;
  return TRUE;
}

static gboolean
cursor_digits (Cursor *c,
               guint   min,
               guint   max,
               guint  *value)
{
  guint n = 0;
  guint v = 0;

  while (c->p < c->end && g_ascii_isdigit (*c->p) && n < max)
    {
      v = v * 10 + (guint) (*c->p - '0');
      c->p++;
      n++;
    }
  if (value != NULL)
    *value = v;
  return n >= min;
}

/* Up to the next SP (not included); FALSE if empty. */
static gboolean
cursor_token (Cursor      *c,
              const char **start,
              gsize       *len)
{
  const char *s = c->p;

  while (c->p < c->end && *c->p != ' ')
    c->p++;
  *start = s;
  *len = (gsize) (c->p - s);
  return *len > 0;
}

/* bsd-stamp; the year is the one that puts the stamp at most a day after @now. */
static gboolean
parse_bsd_stamp (Cursor *c,
                 gint64  now,
                 gint64 *time_out)
{
  guint month = 0;
  guint day, hh, mm, ss;
  g_autoptr (GDateTime) ref = NULL;
  g_autoptr (GDateTime) dt = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (months); i++)
    if (cursor_skip (c, months[i]))
      {
        month = i + 1;
        break;
      }
  if (month == 0 || !cursor_skip (c, " "))
    return FALSE;
  cursor_skip (c, " "); /* "Dec  4" */
  if (!cursor_digits (c, 1, 2, &day) || !cursor_skip (c, " ") || !cursor_digits (c, 2, 2, &hh)
      || !cursor_skip (c, ":") || !cursor_digits (c, 2, 2, &mm) || !cursor_skip (c, ":")
      || !cursor_digits (c, 2, 2, &ss))
    return FALSE;
  if (cursor_skip (c, ".") && !cursor_digits (c, 1, 9, NULL))
    return FALSE;
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
    return FALSE;

  *time_out = 0;
  ref = g_date_time_new_from_unix_local (now > 0 ? now : 0);
  if (ref == NULL)
    return TRUE;
  /* Next year first (a stamp just past New Year read just before it, by a clock behind
   * the log's), then this year, then the last (a date that does not exist in a year,
   * 29 February, is skipped). */
  for (gint year = g_date_time_get_year (ref) + 1; year >= g_date_time_get_year (ref) - 1;
       year--)
    {
      g_clear_pointer (&dt, g_date_time_unref);
      dt = g_date_time_new_local (year, (gint) month, (gint) day, (gint) hh, (gint) mm,
                                  (gdouble) MIN (ss, 59));
      if (dt != NULL && g_date_time_to_unix (dt) <= now + 86400)
        {
          *time_out = g_date_time_to_unix (dt);
          break;
        }
    }
  return TRUE;
}

static gboolean
parse_stamp (Cursor *c,
             gint64  now,
             gint64 *time_out)
{
  const char *tok;
  gsize len;
  Cursor save = *c;

  if (parse_bsd_stamp (c, now, time_out))
    return TRUE;
  *c = save;
  /* rfc3339-stamp: one token that GLib's ISO 8601 parser accepts. */
  if (c->p < c->end && g_ascii_isdigit (*c->p) && cursor_token (c, &tok, &len) && len < 64)
    {
      g_autofree char *s = g_strndup (tok, len);
      g_autoptr (GDateTime) dt = NULL;

      if (strchr (s, 'T') == NULL)
        return FALSE;
      dt = g_date_time_new_from_iso8601 (s, NULL);
      if (dt == NULL)
        return FALSE;
      *time_out = g_date_time_to_unix (dt);
      return TRUE;
    }
  return FALSE;
}

static gboolean
is_vowel (char ch)
{
  return strchr ("AEIOUaeiou", ch) != NULL;
}

/**
 * postfix_log_is_queue_id:
 * @text: characters
 * @len: how many
 *
 * Whether @text is a Postfix queue id: a short one (upper-case hex, enable_long_queue_ids
 * = no) or a long one (letters without vowels and digits, at least 12 of them).
 *
 * Returns: %TRUE for a queue id
 */
gboolean
postfix_log_is_queue_id (const char *text,
                         gsize       len)
{
  gboolean hex = TRUE;
  gboolean consonants = TRUE;

  if (len < POSTFIX_LOG_MIN_QUEUE_ID || len > POSTFIX_LOG_MAX_QUEUE_ID)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char ch = text[i];

      if (!g_ascii_isalnum (ch))
        return FALSE;
      if (!(g_ascii_isdigit (ch) || (ch >= 'A' && ch <= 'F')))
        hex = FALSE;
      if (is_vowel (ch))
        consonants = FALSE;
    }
  return hex || (consonants && len >= 12);
}

/* addr = up to the ">" that ends it (quoted strings may hold ">"); c->p after "<". */
static char *
parse_addr (Cursor *c)
{
  const char *s = c->p;
  gboolean quoted = FALSE;

  while (c->p < c->end)
    {
      char ch = *c->p;

      if (quoted && ch == '\\' && c->p + 1 < c->end)
        c->p++;
      else if (ch == '"')
        quoted = !quoted;
      else if (!quoted && ch == '>')
        {
          char *addr = g_strndup (s, (gsize) (c->p - s));

          c->p++;
          return addr;
        }
      c->p++;
    }
  return NULL;
}

/* value = up to ", " or the end of the line. */
static char *
parse_value (Cursor *c)
{
  const char *s = c->p;

  while (c->p < c->end && !(c->p[0] == ',' && c->p + 1 < c->end && c->p[1] == ' '))
    c->p++;
  return g_strndup (s, (gsize) (c->p - s));
}

static gboolean
dsn_code_valid (const char *s)
{
  Cursor c = { s, s + strlen (s) };

  return (s[0] == '2' || s[0] == '4' || s[0] == '5') && cursor_digits (&c, 1, 1, NULL)
         && cursor_skip (&c, ".") && cursor_digits (&c, 1, 3, NULL) && cursor_skip (&c, ".")
         && cursor_digits (&c, 1, 3, NULL) && c.p == c.end;
}

static PostfixStatus
status_from_word (const char *w,
                  gsize       len)
{
  static const struct
  {
    const char *word;
    PostfixStatus status;
  } table[] = {
    { "sent", POSTFIX_STATUS_SENT },
    { "deferred", POSTFIX_STATUS_DEFERRED },
    { "bounced", POSTFIX_STATUS_BOUNCED },
    { "expired", POSTFIX_STATUS_EXPIRED },
    /* soft_bounce = yes: a bounce turned into a deferral (dsn= made 4.x.x), kept queued */
    { "SOFTBOUNCE", POSTFIX_STATUS_DEFERRED },
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (strlen (table[i].word) == len && memcmp (table[i].word, w, len) == 0)
      return table[i].status;
  return POSTFIX_STATUS_NONE;
}

/* An address-verification probe's status word (verify(8): src/global/sent.c, bounce.c,
 * defer.c, verify.c): the class its dsn must have ('2', or '4'/'5' as 'X'), or 0 when
 * @w is none of them. */
static char
probe_dsn_class (const char *w,
                 gsize       len)
{
  static const struct
  {
    const char *word;
    char dsn_class;
  } table[] = {
    { "deliverable", '2' },
    { "undeliverable", 'X' },
    /* address_verify_negative_cache = no: a failure not kept in the cache */
    { "undeliverable-but-not-cached", 'X' },
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (strlen (table[i].word) == len && memcmp (table[i].word, w, len) == 0)
      return table[i].dsn_class;
  return 0;
}

/* The queue id after "queued as " or "forwarded as " at the end of a sent reason (as
 * Postfix's smtpd ends its 250, and local(8) its "forwarded as"), or NULL. Only at the
 * end: a next hop that echoes the recipient after it (an LMTP server's "250 2.0.0
 * <"x queued as ABCDEF0123"@d> Saved") names no queue id. */
static char *
requeued_id (const char *text)
{
  static const char *const markers[] = { "queued as ", "forwarded as " };

  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      const char *m = g_strrstr (text, markers[i]);
      const char *id;
      gsize n = 0;
      gsize rest;

      if (m == NULL)
        continue;
      id = m + strlen (markers[i]);
      while (g_ascii_isalnum (id[n]))
        n++;
      for (rest = n; id[rest] == ' '; rest++)
        ;
      if (id[rest] == '\0' && postfix_log_is_queue_id (id, n))
        return g_strndup (id, n);
    }
  return NULL;
}

/* delivery, c->p after "to=<". */
static PostfixLogKind
parse_delivery (Cursor          *c,
                PostfixLogEntry *e)
{
  char probe = 0;

  e->to = parse_addr (c);
  if (e->to == NULL)
    return POSTFIX_LOG_UNKNOWN;
  for (;;)
    {
      if (!cursor_skip (c, ", "))
        return POSTFIX_LOG_UNKNOWN;
      if (cursor_skip (c, "orig_to=<"))
        {
          g_free (e->orig_to);
          e->orig_to = parse_addr (c);
          if (e->orig_to == NULL)
            return POSTFIX_LOG_UNKNOWN;
        }
      else if (cursor_skip (c, "relay="))
        {
          g_free (e->relay);
          e->relay = parse_value (c);
        }
      else if (cursor_skip (c, "dsn="))
        {
          g_free (e->dsn);
          e->dsn = parse_value (c);
        }
      else if (cursor_skip (c, "status="))
        {
          const char *w = c->p;

          while (c->p < c->end && *c->p != ' ' && *c->p != ',')
            c->p++;
          e->status = status_from_word (w, (gsize) (c->p - w));
          if (e->status == POSTFIX_STATUS_NONE)
            probe = probe_dsn_class (w, (gsize) (c->p - w));
          if (cursor_skip (c, " ("))
            {
              /* The reason is the rest of the line: Postfix ends the line with it. A
               * line without its ")" was cut by Postfix (a record of more than
               * POSTFIX_LOG_RECORD_MAX octets: a long remote reply); the status before
               * it still holds. */
              const char *close = c->end;

              if (close > c->p && close[-1] == ')')
                close--;
              e->text = g_strndup (c->p, (gsize) (close - c->p));
            }
          else if (c->p != c->end)
            return POSTFIX_LOG_UNKNOWN;
          break;
        }
      else
        {
          /* key "=" value: delay=, delays=, conn_use=, later versions' additions */
          const char *k = c->p;

          while (c->p < c->end && (g_ascii_isalnum (*c->p) || *c->p == '_'))
            c->p++;
          if (c->p == k || !cursor_skip (c, "="))
            return POSTFIX_LOG_UNKNOWN;
          g_free (parse_value (c));
        }
    }
  if ((e->status == POSTFIX_STATUS_NONE && probe == 0) || e->relay == NULL || e->dsn == NULL
      || !dsn_code_valid (e->dsn) || e->to[0] == '\0')
    return POSTFIX_LOG_UNKNOWN;
  /* A probe: deliverable with 2.X.X, undeliverable with 4.X.X or 5.X.X. */
  if (probe != 0)
    return (probe == '2') == (e->dsn[0] == '2') ? POSTFIX_LOG_PROBE : POSTFIX_LOG_UNKNOWN;
  /* The status word and the dsn class agree: sent 2, deferred 4, bounced/expired 4 or 5 */
  if ((e->status == POSTFIX_STATUS_SENT) != (e->dsn[0] == '2'))
    return POSTFIX_LOG_UNKNOWN;
  if (e->status == POSTFIX_STATUS_SENT && e->text != NULL)
    e->requeued_as = requeued_id (e->text);
  return POSTFIX_LOG_DELIVERY;
}

/* "from=<" qtext, c->p after "from=<". */
static PostfixLogKind
parse_from (Cursor          *c,
            PostfixLogEntry *e)
{
  e->from = parse_addr (c);
  if (e->from == NULL)
    return POSTFIX_LOG_UNKNOWN;
  /* "force-expired": postsuper -e (Postfix >= 3.5), returned at the next attempt */
  if (cursor_skip (c, ", status=expired") || cursor_skip (c, ", status=force-expired"))
    return POSTFIX_LOG_EXPIRED;
  if (cursor_skip (c, ", size="))
    return POSTFIX_LOG_QUEUED;
  return POSTFIX_LOG_UNKNOWN;
}

/* After "client=": smtpd's line that starts a new message under its queue id (CLIENT),
 * and its orig_queue_id= attribute, the one that XFORWARD IDENT set. smtpd prints it
 * after the sasl_* attributes and before orig_client=, so the LAST ", orig_queue_id=" is
 * taken (a SASL user name cannot put one after it), its value up to the next ", " or the
 * end of the line. Without one (or an empty one): CLIENT, orig_queue_id NULL. */
static PostfixLogKind
parse_client (Cursor          *c,
              PostfixLogEntry *entry)
{
  static const char key[] = ", orig_queue_id=";
  const char *found = NULL;
  const char *v;
  const char *e;

  for (const char *q = c->p; q + strlen (key) <= c->end; q++)
    if (memcmp (q, key, strlen (key)) == 0)
      found = q;
  if (found == NULL)
    return POSTFIX_LOG_CLIENT;
  v = found + strlen (key);
  for (e = v; e < c->end; e++)
    if (e + 1 < c->end && e[0] == ',' && e[1] == ' ')
      break;
  if (e == v)
    return POSTFIX_LOG_CLIENT;
  entry->orig_queue_id = g_strndup (v, (gsize) (e - v));
  return POSTFIX_LOG_CLIENT;
}

/* Is the next token a Postfix program ("postfix/smtp[1]:": a "/" in it, ":" at its end)?
 * A host name never is. The cursor is not moved. */
static gboolean
token_is_program (const Cursor *c)
{
  const char *e = c->p;

  while (e < c->end && *e != ' ')
    e++;
  return e > c->p && e[-1] == ':' && memchr (c->p, '/', (gsize) (e - c->p)) != NULL;
}

/* BusyBox syslogd's "facility.priority" ("mail.info", "local0.notice"): lower-case
 * letters and digits, one dot, lower-case letters. */
static gboolean
is_facility_priority (const char *tok,
                      gsize       len)
{
  const char *dot = memchr (tok, '.', len);

  if (dot == NULL || dot == tok || dot + 1 == tok + len)
    return FALSE;
  for (const char *p = tok; p < tok + len; p++)
    if (p != dot && !g_ascii_islower (*p) && !(p < dot && g_ascii_isdigit (*p)))
      return FALSE;
  return TRUE;
}

/**
 * postfix_log_parse:
 * @line: one log line, without its line end (need not be NUL-terminated)
 * @len: its length
 * @now: the current unix time (gives the year of a syslog time stamp)
 * @entry: (out caller-allocates): what the line says; cleared first
 *
 * Parses one mail-log line (grammar at the top of this file).
 *
 * Returns: the kind of line, also in @entry->kind
 */
PostfixLogKind
postfix_log_parse (const char      *line,
                   gsize            len,
                   gint64           now,
                   PostfixLogEntry *entry)
{
  Cursor c = { line, line + len };
  const char *tok;
  gsize tok_len;
  const char *prog;
  const char *slash;
  const char *qid;
  gsize qid_len;
  PostfixLogKind kind = POSTFIX_LOG_OTHER;

  memset (entry, 0, sizeof *entry);
  if (len > POSTFIX_LOG_MAX_LINE || memchr (line, '\0', len) != NULL)
    return entry->kind = POSTFIX_LOG_UNKNOWN;

  if (!parse_stamp (&c, now, &entry->time) || !cursor_skip (&c, " "))
    return entry->kind = POSTFIX_LOG_UNKNOWN;
  /* The host, unless the program comes at once (BusyBox syslogd -S); then a
   * facility.priority (BusyBox syslogd), if there is one. */
  if (!token_is_program (&c))
    {
      Cursor save;

      if (!cursor_token (&c, &tok, &tok_len) || !cursor_skip (&c, " "))
        return entry->kind = POSTFIX_LOG_UNKNOWN;
      save = c;
      if (!cursor_token (&c, &tok, &tok_len) || !is_facility_priority (tok, tok_len)
          || !cursor_skip (&c, " "))
        c = save;
    }

  /* program [ "[" pid "]" ] ":" SP */
  prog = c.p;
  while (c.p < c.end && *c.p != '[' && *c.p != ':' && *c.p != ' ')
    c.p++;
  if (c.p == prog)
    return entry->kind = POSTFIX_LOG_UNKNOWN;
  slash = NULL;
  for (const char *q = prog; q < c.p; q++)
    if (*q == '/')
      slash = q;
  if (slash == NULL || slash + 1 == c.p)
    return entry->kind = POSTFIX_LOG_OTHER; /* another program (syslog file) */
  entry->service = g_strndup (slash + 1, (gsize) (c.p - slash - 1));
  if (cursor_skip (&c, "["))
    {
      if (!cursor_digits (&c, 1, 10, NULL) || !cursor_skip (&c, "]"))
        return entry->kind = POSTFIX_LOG_UNKNOWN;
    }
  if (!cursor_skip (&c, ": "))
    return entry->kind = POSTFIX_LOG_UNKNOWN;

  /* queue-id ":" SP */
  qid = c.p;
  while (c.p < c.end && g_ascii_isalnum (*c.p))
    c.p++;
  qid_len = (gsize) (c.p - qid);
  if (!postfix_log_is_queue_id (qid, qid_len) || !cursor_skip (&c, ": "))
    return entry->kind = POSTFIX_LOG_OTHER;
  entry->queue_id = g_strndup (qid, qid_len);

  if (cursor_skip (&c, "message-id="))
    {
      const char *s = c.p;
      const char *e = c.end;

      if (e > s && *s == '<')
        s++;
      if (e > s && e[-1] == '>')
        e--;
      entry->message_id = g_strndup (s, (gsize) (e - s));
      kind = POSTFIX_LOG_MESSAGE_ID;
    }
  else if (cursor_skip (&c, "from=<"))
    kind = parse_from (&c, entry);
  else if (cursor_skip (&c, "to=<"))
    kind = parse_delivery (&c, entry);
  else if ((gsize) (c.end - c.p) == strlen ("removed") && cursor_skip (&c, "removed"))
    kind = POSTFIX_LOG_REMOVED;
  else if (cursor_skip (&c, "client="))
    kind = parse_client (&c, entry);
  else if (cursor_skip (&c, "uid="))
    /* pickup: a message submitted locally (sendmail, postdrop; "postsuper -r" adds
     * " orig_id=ID"), a new message under this queue id, never with an ident. */
    kind = cursor_digits (&c, 1, 10, NULL) && cursor_skip (&c, " from=<") ? POSTFIX_LOG_CLIENT
                                                                          : POSTFIX_LOG_UNKNOWN;
  return entry->kind = kind;
}

/**
 * postfix_log_entry_clear:
 * @entry: an entry filled by postfix_log_parse()
 *
 * Frees what @entry holds and zeroes it.
 */
void
postfix_log_entry_clear (PostfixLogEntry *entry)
{
  g_free (entry->service);
  g_free (entry->queue_id);
  g_free (entry->message_id);
  g_free (entry->orig_queue_id);
  g_free (entry->from);
  g_free (entry->to);
  g_free (entry->orig_to);
  g_free (entry->relay);
  g_free (entry->dsn);
  g_free (entry->text);
  g_free (entry->requeued_as);
  memset (entry, 0, sizeof *entry);
}

/**
 * postfix_log_relay_host:
 * @relay: a relay= value: "host[addr]:port", "[addr]:port", "local", "private/lmtp", ...
 *
 * The name of the next hop for Remote-MTA: the host name before "[", or the address in
 * the brackets when the host has no name ("[192.0.2.1]:25").
 *
 * Returns: (transfer full): the host
 */
char *
postfix_log_relay_host (const char *relay)
{
  const char *open = strchr (relay, '[');
  const char *close;

  if (open == NULL)
    return g_strdup (relay);
  if (open > relay)
    return g_strndup (relay, (gsize) (open - relay));
  close = strchr (open, ']');
  if (close == NULL)
    return g_strdup (relay);
  return g_strndup (open + 1, (gsize) (close - open - 1));
}

/**
 * postfix_log_relay_is_loopback:
 * @relay: a relay= value
 *
 * Whether the next hop is on this host: its address (in brackets) a loopback address,
 * 127.0.0.0/8 or ::1, or a UNIX-domain socket's path (an LMTP or SMTP client's
 * "unix:" next hop, logged as "host[private/name]" or "host[/path]").
 *
 * Returns: %TRUE for loopback
 */
gboolean
postfix_log_relay_is_loopback (const char *relay)
{
  const char *open = strchr (relay, '[');
  const char *close;
  g_autofree char *addr = NULL;
  g_autoptr (GInetAddress) inet = NULL;

  if (open == NULL || (close = strchr (open, ']')) == NULL)
    return FALSE;
  addr = g_strndup (open + 1, (gsize) (close - open - 1));
  if (strchr (addr, '/') != NULL)
    return TRUE;
  if (g_str_has_prefix (addr, "ipv6:"))
    memmove (addr, addr + 5, strlen (addr + 5) + 1);
  inet = g_inet_address_new_from_string (addr);
  return inet != NULL && g_inet_address_get_is_loopback (inet);
}

/**
 * postfix_log_diagnostic:
 * @text: the reason of a delivery line
 *
 * The Diagnostic-Code for @text, as Postfix writes it in its own DSNs: a remote server's
 * reply ("host H said: 550 5.1.1 no such user (in reply to RCPT TO command)", or a bare
 * "250 2.0.0 Ok"; a multi-line one is joined, "550-5.1.1 a 550 5.1.1 b") as
 * "smtp; 550 5.1.1 no such user"; anything else (local(8), virtual(8),
 * connection errors) as "X-Postfix; <text>".
 *
 * Returns: (transfer full): the diagnostic
 */
char *
postfix_log_diagnostic (const char *text)
{
  const char *said = strstr (text, " said: ");
  const char *reply = text;
  const char *end;

  if (g_str_has_prefix (text, "host ") && said != NULL)
    reply = said + strlen (" said: ");
  if (!(g_ascii_isdigit (reply[0]) && g_ascii_isdigit (reply[1]) && g_ascii_isdigit (reply[2])
        && (reply[3] == ' ' || reply[3] == '-' || reply[3] == '\0')))
    return g_strdup_printf ("X-Postfix; %s", text);
  end = reply + strlen (reply);
  if (end > reply && end[-1] == ')')
    {
      const char *in = g_strrstr (reply, " (in reply to ");

      if (in != NULL)
        end = in;
    }
  return g_strdup_printf ("smtp; %.*s", (int) (end - reply), reply);
}

/**
 * postfix_status_to_string:
 * @status: a status
 *
 * Returns: the status word as Postfix logs it ("" for none)
 */
const char *
postfix_status_to_string (PostfixStatus status)
{
  switch (status)
    {
    case POSTFIX_STATUS_SENT:
      return "sent";
    case POSTFIX_STATUS_DEFERRED:
      return "deferred";
    case POSTFIX_STATUS_BOUNCED:
      return "bounced";
    case POSTFIX_STATUS_EXPIRED:
      return "expired";
    case POSTFIX_STATUS_NONE:
    default:
      return "";
    }
}
