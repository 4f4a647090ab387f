/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-dot-private.h: dot-stuffing and unstuffing of multi-line data (SMTP DATA, RFC 5321
 * section 4.5.2; MTQP answers, RFC 3887 section 2.2): a writer and a parser, no I/O.
 *
 * What: msgtrk_dot_stuff() writes lines as transmitted data (CRLF, a '.' doubled at the
 * start of a line); msgtrk_dot_end() writes the end marker; MsgtrkDotParser takes the
 * transmitted octets, in pieces of any size, gives back the data unstuffed and says where
 * the end marker ended. MsgtrkDotWriter is msgtrk_dot_stuff() for data that comes in pieces
 * of any size (a line may span pieces: a proxy that streams it on).
 * Limits: the writer refuses a line longer than the caller's max (after stuffing); the
 * parser keeps no buffer of its own (three states), so it has no limit: line and message
 * limits belong to the caller's reader.
 * Never: end the data on anything but CRLF "." CRLF (a "." line after a bare LF, or ended by
 * a bare LF, is data: SMTP smuggling); do I/O.
 *
 * Internal to msgtrk (servers and tests): not installed, not part of the documented API.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  MSGTRK_DOT_STATE_LINE_START, /* after a LF (or at the start of the data) */
  MSGTRK_DOT_STATE_DOT,        /* a '.' opened the line; it was dropped */
  MSGTRK_DOT_STATE_DOT_CR,     /* ".\r" opened the line; the CR is held back */
  MSGTRK_DOT_STATE_TEXT,       /* inside a line */
} MsgtrkDotState;

/* The parser's state; initialise with msgtrk_dot_parser_init(). Copyable, no resources. */
typedef struct
{
  MsgtrkDotState state;
  gboolean after_crlf; /* the last line ended with CRLF (or none yet): "." CRLF may end */
  gboolean last_cr;    /* in TEXT: the last octet given was a CR */
} MsgtrkDotParser;

gboolean msgtrk_dot_stuff              (GString         *out,
                                        const char      *data,
                                        gsize            len,
                                        gsize            max_line,
                                        gsize           *bad_line_len);
void     msgtrk_dot_end                (GString         *out);

/* The streaming writer's state; initialise with msgtrk_dot_writer_init(). */
typedef struct
{
  gboolean line_start; /* the next octet starts a line */
  gboolean last_cr;    /* the last octet written was a CR */
} MsgtrkDotWriter;

void     msgtrk_dot_writer_init        (MsgtrkDotWriter *writer);
void     msgtrk_dot_writer_feed        (MsgtrkDotWriter *writer,
                                        const char      *data,
                                        gsize            len,
                                        GString         *out);
void     msgtrk_dot_writer_end         (MsgtrkDotWriter *writer,
                                        GString         *out);

void     msgtrk_dot_parser_init        (MsgtrkDotParser *parser);
gboolean msgtrk_dot_parser_feed        (MsgtrkDotParser *parser,
                                        const char      *data,
                                        gsize            len,
                                        GString         *out,
                                        gsize           *consumed);
void     msgtrk_dot_parser_line_dropped (MsgtrkDotParser *parser);

G_END_DECLS
