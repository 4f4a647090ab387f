/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-log.h: the grammar of Postfix mail-log lines that msgtrk-postfix-follower acts on
 * (pure syntax: no I/O, no state; contract and grammar in postfix-log.c and
 * docs/postfix-follower.md).
 *
 * postfix_log_parse() turns one line (without its LF) of a Postfix maillog_file (Postfix
 * >= 3.4, postlogd) or of a syslog file (traditional "Mmm dd hh:mm:ss" or RFC 3339 time
 * stamps) into a PostfixLogEntry: the queue id and what the line says about it (message-id,
 * orig_queue_id, queued, one recipient's delivery attempt, expired, removed, an
 * address-verification probe's result). Lines of
 * other programs and Postfix lines of no interest are POSTFIX_LOG_OTHER; lines that look
 * like Postfix's per-queue-id lines but do not follow the grammar are POSTFIX_LOG_UNKNOWN.
 *
 * Limits: a line of at most POSTFIX_LOG_MAX_LINE octets (longer: UNKNOWN); a queue id of
 * POSTFIX_LOG_MIN_QUEUE_ID to POSTFIX_LOG_MAX_QUEUE_ID characters.
 * Never: abort or read past @len on any input; keep a pointer into the caller's line.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/** POSTFIX_LOG_MAX_LINE: longest log line parsed, in octets (Postfix itself cuts a log
 * record at POSTFIX_LOG_RECORD_MAX octets of text; syslog adds the prefix). */
#define POSTFIX_LOG_MAX_LINE 8192
/** POSTFIX_LOG_RECORD_MAX: octets of text after "program[pid]: " Postfix logs at most
 * (MSG_LOGGER_RECLEN, MSG_SYSLOG_RECLEN): a longer record (a remote reply of more) ends
 * cut, without the ")" of its reason. */
#define POSTFIX_LOG_RECORD_MAX 2000
/** POSTFIX_LOG_MIN_QUEUE_ID / POSTFIX_LOG_MAX_QUEUE_ID: length of a queue id (short hex
 * ids have at least 6 characters, long ids about 15). */
#define POSTFIX_LOG_MIN_QUEUE_ID 6
#define POSTFIX_LOG_MAX_QUEUE_ID 32

typedef enum
{
  POSTFIX_LOG_OTHER = 0, /* not a line the follower acts on (known or foreign) */
  POSTFIX_LOG_UNKNOWN,   /* a Postfix per-queue-id line that does not follow the grammar */
  POSTFIX_LOG_MESSAGE_ID,/* cleanup: "QID: message-id=<...>" */
  POSTFIX_LOG_QUEUED,    /* qmgr: "QID: from=<...>, size=N, nrcpt=N (queue active)" */
  POSTFIX_LOG_DELIVERY,  /* agent: "QID: to=<...>, ... status=WORD (text)" */
  POSTFIX_LOG_EXPIRED,   /* qmgr: "QID: from=<...>, status=expired, returned to sender"
                          * (or status=force-expired: postsuper -e) */
  POSTFIX_LOG_REMOVED,   /* qmgr, postsuper: "QID: removed" */
  POSTFIX_LOG_CLIENT,    /* smtpd: "QID: client=...[, orig_queue_id=ID]" (a new message;
                          * orig_queue_id= after XFORWARD IDENT); pickup: "QID: uid=N
                          * from=<...>" (a new message submitted locally, no ident) */
  POSTFIX_LOG_PROBE,     /* agent: "QID: to=<...>, ... status=deliverable (text)" (or
                          * undeliverable, undeliverable-but-not-cached): an
                          * address-verification probe's result (verify(8), sendmail
                          * -bv), never a delivery of a tracked message */
} PostfixLogKind;

typedef enum
{
  POSTFIX_STATUS_NONE = 0,
  POSTFIX_STATUS_SENT,
  POSTFIX_STATUS_DEFERRED,
  POSTFIX_STATUS_BOUNCED,
  POSTFIX_STATUS_EXPIRED,
} PostfixStatus;

/* What one line says. Every string is owned (g_free) and nullable. */
typedef struct
{
  PostfixLogKind kind;
  gint64 time;          /* unix seconds of the time stamp, 0 if it cannot be read */
  char *service;        /* last part of the program name: "smtp", "local", "qmgr", ... */
  char *queue_id;
  char *message_id;     /* MESSAGE_ID: without the angle brackets */
  char *orig_queue_id;  /* CLIENT: the value of orig_queue_id=, NULL without one */
  char *from;           /* QUEUED, EXPIRED: the sender, without brackets ("" for <>) */
  char *to;             /* DELIVERY: the recipient as delivered */
  char *orig_to;        /* DELIVERY: the recipient before aliasing/rewriting */
  char *relay;          /* DELIVERY: "host[addr]:port", "local", "virtual", "none", ... */
  char *dsn;            /* DELIVERY: the enhanced status code "X.Y.Z" */
  PostfixStatus status; /* DELIVERY */
  char *text;           /* DELIVERY: the parenthesised explanation, brackets removed */
  char *requeued_as;    /* DELIVERY, sent: the new queue id of "queued as ID" or
                         * "forwarded as ID" */
} PostfixLogEntry;

PostfixLogKind postfix_log_parse             (const char      *line,
                                              gsize            len,
                                              gint64           now,
                                              PostfixLogEntry *entry);
void           postfix_log_entry_clear       (PostfixLogEntry *entry);

gboolean       postfix_log_is_queue_id       (const char      *text,
                                              gsize            len);
char          *postfix_log_relay_host        (const char      *relay);
gboolean       postfix_log_relay_is_loopback (const char      *relay);
char          *postfix_log_diagnostic        (const char      *text);
const char    *postfix_status_to_string      (PostfixStatus    status);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PostfixLogEntry, postfix_log_entry_clear)

G_END_DECLS
