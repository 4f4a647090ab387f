/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-syntax-private.h: the MTQP status line, greeting and option list (RFC 3887
 * sections 2.3, 3 and 10): a parser and a writer for each, no I/O, no GObject state.
 *
 * What: msgtrk_mtqp_status_parse() / msgtrk_mtqp_status_write() for one status line;
 * MsgtrkMtqpOptions (an option list fed line by line) and msgtrk_mtqp_greeting_write() for
 * the greeting; MsgtrkMtqpLineSplitter cuts octets, in pieces of any size, into bounded
 * lines; MsgtrkMtqpGreeting puts the three together for a whole greeting fed as octets.
 * How: the MTQP client reads lines with the splitter and parses them with the line-level
 * functions; mtqpd writes its greeting and status lines with the writers; tests and the
 * fuzz target feed the octet-level parser whole, byte by byte and in two pieces.
 * Limits: MSGTRK_MTQP_SYNTAX_MAX_LINE octets per line (CRLF excluded),
 * MSGTRK_MTQP_SYNTAX_MAX_CODES response codes of at most MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH
 * characters, MSGTRK_MTQP_SYNTAX_MAX_OPTIONS option lines (continuations included).
 * Never: does I/O, keeps state outside the caller's struct, writes a line the parser
 * would refuse (every writer output parses back to what was written).
 *
 * Internal to msgtrk (client, mtqpd, tests): not installed, not part of the documented API.
 */
#pragma once

#include <glib.h>

#include "msgtrk-error.h"
#include "msgtrk-mtqp-client.h"

G_BEGIN_DECLS

/* Longest line, CRLF excluded (RFC 3887 section 2: 1000 octets with CRLF). */
#define MSGTRK_MTQP_SYNTAX_MAX_LINE        MSGTRK_MTQP_MAX_LINE
/* Most response codes on one status line. */
#define MSGTRK_MTQP_SYNTAX_MAX_CODES       32
/* Longest response code. */
#define MSGTRK_MTQP_SYNTAX_MAX_CODE_LENGTH 64
/* Most lines of a greeting's option list, continuation lines included. */
#define MSGTRK_MTQP_SYNTAX_MAX_OPTIONS     MSGTRK_MTQP_MAX_OPTIONS

typedef enum
{
  MSGTRK_MTQP_STATUS_OK,       /* "+OK" */
  MSGTRK_MTQP_STATUS_OK_MULTI, /* "+OK+": data lines and "." follow */
  MSGTRK_MTQP_STATUS_TEMP,     /* "-TEMP" */
  MSGTRK_MTQP_STATUS_ERR,      /* "-ERR" */
  MSGTRK_MTQP_STATUS_BAD,      /* "-BAD" */
} MsgtrkMtqpStatusKind;

/* What an incremental parser says after a piece of input. */
typedef enum
{
  MSGTRK_MTQP_PARSE_MORE,  /* all input used, not complete yet */
  MSGTRK_MTQP_PARSE_DONE,  /* complete; *consumed says where it ended */
  MSGTRK_MTQP_PARSE_ERROR, /* the input is not valid; the GError says why */
} MsgtrkMtqpParseResult;

/* A parsed status line. @text points into the parsed line (not owned, not NUL-terminated,
 * @text_len octets, any octet but NUL: escape it before showing it). */
typedef struct
{
  MsgtrkMtqpStatusKind kind;
  GStrv                codes;    /* (owned) lower case, never NULL after a parse */
  const char          *text;
  gsize                text_len;
} MsgtrkMtqpStatusLine;

const char *msgtrk_mtqp_status_word        (MsgtrkMtqpStatusKind        kind);
gboolean    msgtrk_mtqp_status_is_positive (MsgtrkMtqpStatusKind        kind);
gboolean    msgtrk_mtqp_status_parse       (const char                 *line,
                                            gsize                       len,
                                            MsgtrkMtqpStatusLine       *status,
                                            GError                    **error);
gboolean    msgtrk_mtqp_status_has_code    (const MsgtrkMtqpStatusLine *status,
                                            const char                 *code);
void        msgtrk_mtqp_status_line_clear  (MsgtrkMtqpStatusLine       *status);
gboolean    msgtrk_mtqp_status_write       (GString                    *out,
                                            MsgtrkMtqpStatusKind        kind,
                                            const char * const         *codes,
                                            const char                 *text,
                                            GError                    **error);

/* The option list after a "+OK+" greeting, fed one line (CRLF removed) at a time. */
typedef struct
{
  GPtrArray *names;      /* (owned) option identifiers as sent */
  guint      n_lines;
  gboolean   done;
} MsgtrkMtqpOptions;

void                  msgtrk_mtqp_options_init       (MsgtrkMtqpOptions *options);
void                  msgtrk_mtqp_options_clear      (MsgtrkMtqpOptions *options);
MsgtrkMtqpParseResult msgtrk_mtqp_options_feed_line  (MsgtrkMtqpOptions *options,
                                                      const char        *line,
                                                      gsize              len,
                                                      GError           **error);
gboolean              msgtrk_mtqp_options_has        (const MsgtrkMtqpOptions *options,
                                                      const char              *name);

gboolean    msgtrk_mtqp_greeting_is_mtqp   (const MsgtrkMtqpStatusLine *status);
gboolean    msgtrk_mtqp_greeting_write     (GString                    *out,
                                            const char                 *text,
                                            const char * const         *options,
                                            GError                    **error);

/* Bounded line splitter: octets in, lines (CRLF or bare LF removed) out. */
typedef struct
{
  char     line[MSGTRK_MTQP_SYNTAX_MAX_LINE + 2]; /* the line, NUL-terminated */
  gsize    len;
  gboolean complete;                              /* line holds a whole line */
} MsgtrkMtqpLineSplitter;

void                  msgtrk_mtqp_line_splitter_init (MsgtrkMtqpLineSplitter *splitter);
void                  msgtrk_mtqp_line_splitter_wipe (MsgtrkMtqpLineSplitter *splitter);
MsgtrkMtqpParseResult msgtrk_mtqp_line_splitter_feed (MsgtrkMtqpLineSplitter *splitter,
                                                      const char             *data,
                                                      gsize                   len,
                                                      gsize                  *consumed,
                                                      GError                **error);

/* A whole greeting (status line and option list) from octets in any pieces. */
typedef struct
{
  MsgtrkMtqpLineSplitter splitter;
  MsgtrkMtqpStatusLine   status;   /* codes only (text is not kept) */
  MsgtrkMtqpOptions      options;
  gboolean               have_status;
} MsgtrkMtqpGreeting;

void                  msgtrk_mtqp_greeting_init  (MsgtrkMtqpGreeting *greeting);
void                  msgtrk_mtqp_greeting_clear (MsgtrkMtqpGreeting *greeting);
MsgtrkMtqpParseResult msgtrk_mtqp_greeting_feed  (MsgtrkMtqpGreeting *greeting,
                                                  const char         *data,
                                                  gsize               len,
                                                  gsize              *consumed,
                                                  GError            **error);

G_END_DECLS
