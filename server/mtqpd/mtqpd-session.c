/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqpd-session.c: one MTQP session (RFC 3887) on a connected stream.
 *
 * Commands implemented (RFC 3887 section 12, commands are case-insensitive):
 *
 *   track-command    = "TRACK" 1*WSP envid 1*WSP mtrk-secret CRLF
 *   starttls-command = "STARTTLS" CRLF
 *   comment-command  = "COMMENT" opt-text CRLF
 *   quit-command     = "QUIT" CRLF
 *   opt-text         = [WSP *(VCHAR / WSP)]
 *
 * Answers (the codes are this server's choice, see docs/mtqp-server.md):
 *   greeting       +OK+/MTQP <host> msgtrk mtqpd ready, options, "."   (+OK/MTQP … if none)
 *   TRACK found    +OK+ Tracking information follows, entity (dot-stuffed), "."
 *   TRACK else     -ERR/notfound …  (unknown ENVID, expired record, wrong secret: the same)
 *   store fault    -TEMP/unavailable …
 *   STARTTLS       +OK Begin TLS negotiation; -BAD/tlsinprogress in TLS;
 *                  -ERR/unsupported when not offered; -BAD/pipelining when more data
 *                  follows it (it must be the last command of a batch)
 *   COMMENT        +OK
 *   QUIT           +OK Bye, then close
 *   -BAD/toolong (line over MTQPD_MAX_LINE octets), -BAD/syntax (NUL, control or
 *   non-ASCII octets, wrong arguments), -BAD/unknown (unknown command)
 *
 * Commands are read one line at a time and answered in order, so pipelined batches are
 * answered in order (server-line-reader.h, wiping what it hands out). An overlong line is
 * discarded as it arrives, never buffered.
 * Answers are collected in an output buffer that is written when the input buffer is
 * empty (before blocking for more commands), before TLS starts, before a chained query
 * and at the end: a pipelined batch gets one write (as SMTP PIPELINING servers do), and
 * the buffer is also written once it holds MTQPD_OUTPUT_FLUSH octets.
 *
 * Event-driven sessions on a store that looks up without blocking (PostgreSQL) hand a
 * TRACK's lookup to the store, with those of the TRACKs pipelined after it already in the
 * input buffer (up to MTQPD_TRACK_BATCH: one statement answers them), and give their
 * worker back until the last answer comes; the batch is then answered in request order
 * (track_store_lookup_rows_async_many(); docs/mtqp-server.md, "Sessions and threads").
 * The first other line after the batch waits in the line buffer until it is answered.
 *
 * Chaining (mtqpd-chain.h, when configured): a TRACK whose record has transferred
 * recipients also asks the next hops and answers with every part.
 *
 * Logs: one info line per TRACK (ENVID and result; shown with --verbose: at 100,000
 * queries/s a notice per query would be the server's main cost), a warning per fault.
 * Never: log the secret (logs carry the ENVID and the result); answer an unknown ENVID
 * differently from a wrong secret; start TLS with client data already received after
 * STARTTLS (command injection, cf. CVE-2011-0411); keep anything from before TLS after it.
 * Buffers that held a command line are wiped.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "msgtrk-dot-private.h"
#include "msgtrk-mtqp-syntax-private.h"
#include "msgtrk-private.h"
#include "mtqpd-answer.h"
#include "mtqpd-session.h"
#include "server-line-reader.h"
#include "server-listener.h"
#include "server-log.h"

/* Initial size of the output buffer. */
#define MTQPD_OUTPUT_INITIAL 4096
/* Lingering close: how long and how much client data is drained after the last answer. */
#define MTQPD_LINGER_SECONDS 2
#define MTQPD_LINGER_MAX (64 * 1024)
/* Answers buffered before they are written even though more commands wait. */
#define MTQPD_OUTPUT_FLUSH (64 * 1024)

/* Event-driven sessions: a waiting worker's longest sleep and the interval of the sweep
 * of the parked sessions' deadlines (the granularity of the idle timer and the lingering
 * close: the sweep is O(parked sessions), so it is not repeated at every wake-up). */
#define MTQPD_LOOP_TICK_MS 500

/* Event-driven, on a store that looks up without blocking: most pipelined TRACKs of a
 * session handed to the store together (one statement; answered in order once all are
 * back). At most TRACK_STORE_LOOKUP_BATCH. */
#define MTQPD_TRACK_BATCH 64
G_STATIC_ASSERT (MTQPD_TRACK_BATCH <= TRACK_STORE_LOOKUP_BATCH);

typedef enum
{
  LINE_OK,
  LINE_TOOLONG,
  LINE_EOF,
  LINE_ERROR,
  LINE_AGAIN, /* event-driven: no whole line yet, or the answers wait to be written */
} LineResult;

/* What an event-driven session waits for after a step. */
typedef enum
{
  STEP_WAIT_IN,
  STEP_WAIT_OUT,
  STEP_DONE,
  STEP_HANDED_OFF, /* goes on in a thread of its own (STARTTLS) */
  STEP_WAIT_STORE, /* a TRACK's lookup runs in the store; resumed by its answer */
} StepResult;

typedef struct _Session Session;

/* One TRACK of a batch handed to the store (event-driven sessions). */
typedef struct
{
  Session *session;
  char *envid;                  /* (owned) decoded */
  char *secret;                 /* (owned) wiped when done */
  GPtrArray *rows;              /* (owned) (nullable) the store's answer */
  GError *error;                /* (owned) (nullable) */
} PendingTrack;

struct _Session
{
  MtqpdServer *server;
  GCancellable *cancellable;
  GSocket *socket;              /* (unowned) of the connection */
  GIOStream *base;              /* (unowned) the connection */
  GIOStream *tls_stream;        /* (owned) (nullable) after STARTTLS */
  GInputStream *in;             /* (unowned) of base or tls_stream */
  GOutputStream *out;           /* (unowned) */
  char *peer;                   /* (owned) for logs */
  GString *obuf;                /* (owned) answers not written yet */

  GSocketConnection *connection; /* (unowned) listened's stream */
  ServerConnection *listened;    /* the listener's connection, detached */
  /* Event-driven (non-blocking socket, run by the loop's workers); NULL: blocking, in a
   * thread of its own. */
  MtqpdLoop *loop;
  gsize ooff;                   /* octets of obuf already written */
  gboolean out_blocked;         /* the socket took not all of obuf */
  gboolean closing;             /* the session is over once obuf is written */
  gboolean lingering;           /* our side shut down; draining the client's */
  gboolean expired;             /* set by the sweep: idle timer or linger time over */
  gboolean registered;          /* in the loop's epoll set */
  gint64 deadline;              /* monotonic µs: idle timer, or end of the lingering */
  gsize linger_total;
  /* Event-driven, TRACKs waiting for the store (track_store_lookup_rows_async_many): the
   * session is the store's until the last answer resumes it (store_wait); then answered
   * in order from tracks[track_next]. */
  gboolean store_wait;
  PendingTrack *tracks;         /* (owned) (nullable) MTQPD_TRACK_BATCH, at the first */
  guint n_tracks;               /* in the batch */
  guint track_next;             /* the first not answered yet */
  gint tracks_left;             /* (atomic) lookups the store has not answered yet */
  /* A line read after the batch's TRACKs (not one of them): handled once they are
   * answered (pending_result; the line in s->line). */
  gboolean line_pending;
  LineResult pending_result;
  gboolean store_suspended;     /* its worker left it waiting (under the loop's lock) */
  gboolean store_answered;      /* answered before its worker left it (under the lock) */

  ServerLineReader reader;      /* wipes what it hands out */
  /* (owned) The current line, CRLF removed: sized for MTQPD_MAX_LINE + CRLF + NUL so that
   * it never moves (a moved buffer would leave a copy of the secret behind). */
  GString *line;
};

static char *
peer_name (GSocketConnection *connection)
{
  g_autoptr (GSocketAddress) addr = g_socket_connection_get_remote_address (connection, NULL);
  GInetAddress *inet;
  g_autofree char *ip = NULL;

  if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS (addr))
    return g_strdup ("unknown");
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr));
  ip = g_inet_address_to_string (inet);
  return g_strdup_printf ("%s:%u", ip,
                          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr)));
}

/* Write the buffered answers; FALSE (logged) if the connection fails. Event-driven: what
 * the socket does not take now stays (s->out_blocked) for the next step. */
static gboolean
flush_output (Session *s)
{
  g_autoptr (GError) error = NULL;
  gboolean ok = TRUE;

  if (s->loop != NULL)
    {
      while (s->ooff < s->obuf->len)
        {
          gssize n = g_socket_send (s->socket, s->obuf->str + s->ooff,
                                    s->obuf->len - s->ooff, NULL, &error);

          if (n < 0)
            {
              if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                {
                  s->out_blocked = TRUE;
                  return TRUE;
                }
              ok = FALSE;
              break;
            }
          s->ooff += (gsize) n;
        }
    }
  else if (s->ooff < s->obuf->len)
    ok = g_output_stream_write_all (s->out, s->obuf->str + s->ooff, s->obuf->len - s->ooff,
                                    NULL, s->cancellable, &error);
  g_string_truncate (s->obuf, 0);
  s->ooff = 0;
  s->out_blocked = FALSE;
  if (!ok)
    g_info ("%s: write failed: %s", s->peer, error->message);
  return ok;
}

/* Queue an answer (see the top of this file for when it is written). */
static gboolean
send_text (Session    *s,
           const char *text,
           gsize       len)
{
  g_string_append_len (s->obuf, text, (gssize) len);
  if (s->obuf->len >= MTQPD_OUTPUT_FLUSH)
    return flush_output (s);
  return TRUE;
}

/* Send one status line, written by the syntax layer (msgtrk-mtqp-syntax.c); @code and
 * @text may be NULL. Every call passes constant words, so a refusal is a bug here. */
static gboolean
send_status (Session             *s,
             MsgtrkMtqpStatusKind kind,
             const char          *code,
             const char          *text)
{
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  const char *codes[] = { code, NULL };

  if (!msgtrk_mtqp_status_write (line, kind, codes, text, &error))
    {
      g_critical ("%s: cannot write a status line: %s", s->peer, error->message);
      return FALSE;
    }
  return send_text (s, line->str, line->len);
}

/* The line reader's fill hook: the input buffer is empty, so the batch so far is
 * answered; send the answers before waiting for more commands. */
static gboolean
before_read (gpointer  data,
             GError  **error)
{
  Session *s = data;

  if (flush_output (s))
    {
      if (!s->out_blocked)
        return TRUE;
      /* Event-driven: no more commands until the client takes the answers. */
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "answers pending");
      return FALSE;
    }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                       "the answers cannot be written");
  return FALSE;
}

/* (Re)start reading commands from s->in with an empty, wiped buffer. */
static void
reader_reset (Session *s)
{
  server_line_reader_clear (&s->reader);
  server_line_reader_init (&s->reader, s->in, TRUE);
  server_line_reader_set_nonblocking (&s->reader, s->loop != NULL);
  server_line_reader_set_hook (&s->reader, before_read, s);
}

/*
 * Read one line into s->line (CRLF or LF removed; it may hold NULs). A line longer than
 * MTQPD_MAX_LINE is read to its end and dropped without being kept (LINE_TOOLONG). The
 * reader wipes the octets it hands out.
 */
static LineResult
read_line (Session *s)
{
  g_autoptr (GError) error = NULL;
  GString *line = s->line;

  switch (server_line_reader_read (&s->reader, MTQPD_MAX_LINE + 2, line, s->cancellable,
                                   &error))
    {
    case SERVER_LINE_OK:
      break;
    case SERVER_LINE_TOO_LONG:
      return LINE_TOOLONG;
    case SERVER_LINE_EOF:
      return LINE_EOF;
    case SERVER_LINE_ERROR:
    default:
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return LINE_AGAIN;
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        g_message ("%s: idle timeout, closing", s->peer);
      else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
               && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))
        g_info ("%s: read failed: %s", s->peer, error->message);
      return LINE_ERROR;
    }
  /* The reader returns the line with its LF; a CR before it is part of the end. A NUL is
   * left to the syntax layer (it is not a valid MTQP character there). */
  server_line_strip_end (line);
  if (line->len > MTQPD_MAX_LINE)
    {
      msgtrk_secure_wipe (line->str, line->allocated_len);
      g_string_truncate (line, 0);
      return LINE_TOOLONG;
    }
  return LINE_OK;
}

/* The greeting (RFC 3887 section 3), written by the syntax layer: "+OK+/MTQP" and the
 * option list when there are options (STARTTLS before TLS, chaining), "+OK/MTQP" alone
 * otherwise. A configured host name that is not VCHAR is left out of the text. */
static gboolean
send_greeting (Session *s)
{
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *words = g_strdup_printf ("%s msgtrk mtqpd ready", s->server->hostname);
  const char *options[3] = { NULL, NULL, NULL };
  guint n = 0;

  if (s->server->tls != NULL && s->tls_stream == NULL)
    options[n++] = "STARTTLS";
  if (s->server->chain != NULL)
    options[n++] = MTQPD_CHAINING_OPTION;
  if (!msgtrk_mtqp_greeting_write (text, words, options, &error))
    {
      g_warning ("%s: host name left out of the greeting: %s", s->peer, error->message);
      g_clear_error (&error);
      if (!msgtrk_mtqp_greeting_write (text, "msgtrk mtqpd ready", options, &error))
        {
          g_critical ("%s: cannot write the greeting: %s", s->peer, error->message);
          return FALSE;
        }
    }
  return send_text (s, text->str, text->len);
}

/* Does the line hold only printable ASCII and WSP? */
static gboolean
line_is_clean (const char *line,
               gsize       len)
{
  gsize i;

  for (i = 0; i < len; i++)
    {
      guchar c = (guchar) line[i];

      if (c != '\t' && (c < 0x20 || c > 0x7e))
        return FALSE;
    }
  return TRUE;
}

/* Split the line at runs of SP/HTAB. @line holds only printable ASCII and WSP. */
static char **
split_words (const char *line)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new ();
  const char *p = line;

  for (;;)
    {
      const char *w;

      while (*p == ' ' || *p == '\t')
        p++;
      if (*p == '\0')
        break;
      w = p;
      while (*p != '\0' && *p != ' ' && *p != '\t')
        p++;
      g_ptr_array_add (words, g_strndup (w, (gsize) (p - w)));
    }
  g_ptr_array_add (words, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&words), FALSE);
}

/* Wipe and free a word vector that may hold the secret. */
static void
free_words (char **words)
{
  char **w;

  if (words == NULL)
    return;
  for (w = words; *w != NULL; w++)
    msgtrk_secure_free_string (*w);
  g_free (words);
}

/* A record of @envid that is not served: a fault (logged), answered -TEMP. */
static gboolean
send_unavailable (Session    *s,
                  const char *envid_log,
                  GError     *error)
{
  g_warning ("%s: TRACK %s: %s", s->peer, envid_log, error->message);
  return send_status (s, MSGTRK_MTQP_STATUS_TEMP, "unavailable",
                      "Tracking information is unavailable, try again later");
}

/* The chained answer: this site's parts (@fields) and the next hops'; NULL when no next
 * hop added a part or the answer cannot be built (then the local answer is sent). */
static GBytes *
chained_answer (Session    *s,
                GPtrArray  *fields,
                const char *envid,
                const char *secret,
                const char *envid_log)
{
  g_autoptr (GPtrArray) local = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) parts = NULL;
  g_autoptr (GError) error = NULL;
  GBytes *wire;

  for (guint i = 0; i < fields->len; i++)
    {
      MsgtrkReport *report = msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS,
                                                         fields->pdata[i], -1, NULL);

      if (report == NULL)
        return NULL; /* cannot happen: the cached answer parsed them */
      g_ptr_array_add (local, report);
    }
  /* Answers of the batch so far go out before the next hops are asked. */
  if (!flush_output (s))
    return NULL;
  parts = mtqpd_chain_collect (s->server->chain, local, envid, secret, s->tls_stream != NULL,
                               s->peer, s->cancellable);
  if (parts->len <= local->len)
    return NULL;
  wire = mtqpd_answer_build (parts, MTQPD_MAX_LINE, &error);
  if (wire == NULL)
    g_message ("%s: TRACK %s: the chained answer cannot be built (%s); answering with the "
               "local part only", s->peer, envid_log, error->message);
  return wire;
}

/* The ENVID as shown in logs, made on first use (*@cache owns it). */
static const char *
envid_for_log (char      **cache,
               const char *envid)
{
  if (*cache == NULL)
    *cache = msgtrk_str_escape_for_error (envid, 120);
  return *cache;
}

/* A TRACK's answer once its lookup is done (@fields, or @error when none): found, not
 * found or -TEMP. */
static gboolean
track_answer (Session    *s,
              const char *envid,
              const char *secret,
              GPtrArray  *fields,
              GError     *error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GBytes) chained = NULL;
  g_autofree char *envid_log = NULL;
  MtqpdAnswer answer = { 0 };
  GBytes *wire;
  gboolean ok;

  if (fields == NULL)
    {
      if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
        {
          if (server_log_is_verbose ())
            g_info ("%s: TRACK %s: not found or wrong secret", s->peer,
                    envid_for_log (&envid_log, envid));
          return send_status (s, MSGTRK_MTQP_STATUS_ERR, "notfound",
                                 "No tracking information for this ENVID and secret");
        }
      return send_unavailable (s, envid_for_log (&envid_log, envid), error);
    }
  if (!mtqpd_answer_get (s->server->answers, fields, MTQPD_MAX_LINE, &answer, &local))
    return send_unavailable (s, envid_for_log (&envid_log, envid), local);

  if (s->server->chain != NULL && answer.needs_chain)
    chained = chained_answer (s, fields, envid, secret, envid_for_log (&envid_log, envid));
  wire = chained != NULL ? chained : answer.wire;
  if (server_log_is_verbose ())
    g_info ("%s: TRACK %s: found", s->peer, envid_for_log (&envid_log, envid));
  ok = send_text (s, g_bytes_get_data (wire, NULL), g_bytes_get_size (wire));
  mtqpd_answer_clear (&answer);
  return ok;
}

static void loop_resume (MtqpdLoop *loop,
                         Session   *s);

/* The store's answer to one TRACK of a session's batch (a thread of the store, or the
 * worker for an ENVID no record can have): the last one gives the session back to a
 * worker. */
static void
track_rows_done (GPtrArray *rows,
                 GError    *error,
                 gpointer   data)
{
  PendingTrack *t = data;
  Session *s = t->session;

  t->rows = rows;
  t->error = error;
  if (g_atomic_int_dec_and_test (&s->tracks_left))
    loop_resume (s->loop, s);
}

static void
pending_track_clear (PendingTrack *t)
{
  g_clear_pointer (&t->envid, g_free);
  g_clear_pointer (&t->secret, msgtrk_secure_free_string);
  g_clear_pointer (&t->rows, g_ptr_array_unref);
  g_clear_error (&t->error);
}

/* Answer the batch's TRACKs in order (a worker, once the store answered them all), as
 * far as the client takes the answers: FALSE ends the session; with s->out_blocked the
 * rest waits for the socket. */
static gboolean
tracks_answer (Session *s)
{
  while (s->track_next < s->n_tracks)
    {
      PendingTrack *t = &s->tracks[s->track_next++];
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) fields = NULL;
      gboolean ok;

      fields = track_store_lookup_fields_finish (s->server->store, g_steal_pointer (&t->rows),
                                                 g_steal_pointer (&t->error), t->secret,
                                                 g_get_real_time () / G_USEC_PER_SEC, &error);
      ok = track_answer (s, t->envid, t->secret, fields, error);
      pending_track_clear (t);
      if (!ok)
        return FALSE;
      if (s->out_blocked)
        return TRUE;
    }
  s->n_tracks = 0;
  s->track_next = 0;
  return TRUE;
}

/* Is s->line a TRACK command with its two arguments? Then its decoded ENVID and secret. */
static gboolean
line_is_track (Session *s,
               char   **envid,
               char   **secret)
{
  char **words;
  gboolean ret = FALSE;

  if (!line_is_clean (s->line->str, s->line->len))
    return FALSE;
  words = split_words (s->line->str);
  if (words[0] != NULL && g_ascii_strcasecmp (words[0], "TRACK") == 0
      && g_strv_length (words) == 3)
    {
      *envid = msgtrk_xtext_decode (words[1], NULL);
      if (*envid != NULL)
        {
          *secret = g_strdup (words[2]);
          ret = TRUE;
        }
    }
  free_words (words);
  return ret;
}

/* Event-driven, on a store that looks up without blocking: this TRACK (@envid, @secret,
 * taken) and those pipelined after it, already in the input buffer (up to
 * MTQPD_TRACK_BATCH), are handed to the store together, so that one statement answers
 * them; the session waits for them without holding its worker (s->store_wait). A line
 * after them that is not such a TRACK waits in s->line (s->line_pending). */
static void
tracks_start (Session *s,
              char    *envid,
              char    *secret)
{
  const char *envids[MTQPD_TRACK_BATCH];
  gpointer data[MTQPD_TRACK_BATCH];
  guint n = 0;

  if (s->tracks == NULL)
    s->tracks = g_new0 (PendingTrack, MTQPD_TRACK_BATCH);
  s->tracks[0] = (PendingTrack) { .session = s, .envid = envid, .secret = secret };
  n = 1;
  while (n < MTQPD_TRACK_BATCH && server_line_reader_available (&s->reader) > 0)
    {
      LineResult r;

      msgtrk_secure_wipe (s->line->str, s->line->allocated_len);
      g_string_truncate (s->line, 0);
      r = read_line (s);
      if (r == LINE_AGAIN)
        break;
      if (r == LINE_OK && line_is_track (s, &envid, &secret))
        {
          s->tracks[n++] = (PendingTrack) { .session = s, .envid = envid, .secret = secret };
          continue;
        }
      s->line_pending = TRUE;
      s->pending_result = r;
      break;
    }
  for (guint i = 0; i < n; i++)
    {
      envids[i] = s->tracks[i].envid;
      data[i] = &s->tracks[i];
    }
  s->n_tracks = n;
  s->track_next = 0;
  s->store_wait = TRUE;
  g_atomic_int_set (&s->tracks_left, (gint) n);
  track_store_lookup_rows_async_many (s->server->store, envids, data, n, track_rows_done);
}

/* TRACK: the answer of every node's record that the secret opens, built once per record
 * version (mtqpd-answer.h); chained when configured and a part has a next hop. An
 * event-driven session on a store that looks up without blocking (PostgreSQL) hands the
 * lookup, with those of the TRACKs pipelined after it, over and waits for them without
 * holding its worker (tracks_start()). */
static gboolean
cmd_track (Session *s,
           char   **words)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) fields = NULL;
  g_autofree char *envid = NULL;

  if (g_strv_length (words) != 3)
    return send_status (s, MSGTRK_MTQP_STATUS_BAD, "syntax", "Usage: TRACK envid mtrk-secret");

  envid = msgtrk_xtext_decode (words[1], &error);
  if (envid == NULL)
    return send_status (s, MSGTRK_MTQP_STATUS_BAD, "syntax", "The ENVID is not valid xtext");

  if (s->loop != NULL && s->server->chain == NULL
      && track_store_can_lookup_async (s->server->store))
    {
      tracks_start (s, g_steal_pointer (&envid), g_strdup (words[2]));
      return TRUE;
    }
  fields = track_store_lookup_fields (s->server->store, envid, words[2],
                                      g_get_real_time () / G_USEC_PER_SEC, &error);
  return track_answer (s, envid, words[2], fields, error);
}

/* Is client data waiting, in our buffer or in the kernel? */
static gboolean
client_data_pending (Session *s)
{
  if (server_line_reader_available (&s->reader) > 0)
    return TRUE;
  return (g_socket_condition_check (s->socket, G_IO_IN) & G_IO_IN) != 0;
}

/* STARTTLS; FALSE ends the session. */
static gboolean
cmd_starttls (Session *s,
              char   **words)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = NULL;
  GIOStream *tls;

  if (g_strv_length (words) != 1)
    return send_status (s, MSGTRK_MTQP_STATUS_BAD, "syntax", "STARTTLS takes no arguments");
  if (s->tls_stream != NULL)
    return send_status (s, MSGTRK_MTQP_STATUS_BAD, "tlsinprogress", "TLS is already active");
  if (s->server->tls == NULL)
    return send_status (s, MSGTRK_MTQP_STATUS_ERR, "unsupported",
                           "STARTTLS is not offered by this server");
  if (client_data_pending (s))
    {
      g_message ("%s: STARTTLS refused: client data follows it in the same batch", s->peer);
      return send_status (s, MSGTRK_MTQP_STATUS_BAD, "pipelining",
                             "STARTTLS must be the last command of a batch");
    }
  if (!send_status (s, MSGTRK_MTQP_STATUS_OK, NULL, "Begin TLS negotiation") || !flush_output (s))
    return FALSE;

  tls = msgtrk_tls_handshake (s->server->tls, s->base, NULL, s->cancellable, &error);
  if (tls == NULL)
    {
      g_message ("%s: TLS handshake failed: %s", s->peer, error->message);
      return FALSE;
    }
  s->tls_stream = tls;
  s->in = g_io_stream_get_input_stream (tls);
  s->out = g_io_stream_get_output_stream (tls);
  desc = msgtrk_tls_stream_describe (tls);
  g_info ("%s: TLS established (%s)", s->peer, desc != NULL ? desc : "?");

  /* RFC 3887 section 6.2: forget everything, greet again (without STARTTLS). */
  reader_reset (s);
  return send_greeting (s);
}

/* Handle one command line; FALSE ends the session. */
static gboolean
handle_line (Session *s)
{
  char **words;
  gboolean ret;

  if (!line_is_clean (s->line->str, s->line->len))
    return send_status (s, MSGTRK_MTQP_STATUS_BAD, "syntax",
                           "Command line has NUL, control or non-ASCII octets");

  words = split_words (s->line->str);
  if (words[0] == NULL)
    ret = send_status (s, MSGTRK_MTQP_STATUS_BAD, "syntax", "Empty command line");
  else if (g_ascii_strcasecmp (words[0], "TRACK") == 0)
    ret = cmd_track (s, words);
  else if (g_ascii_strcasecmp (words[0], "COMMENT") == 0)
    ret = send_status (s, MSGTRK_MTQP_STATUS_OK, NULL, NULL);
  else if (g_ascii_strcasecmp (words[0], "QUIT") == 0)
    {
      if (words[1] != NULL)
        ret = send_status (s, MSGTRK_MTQP_STATUS_BAD, "syntax", "QUIT takes no arguments");
      else
        {
          send_status (s, MSGTRK_MTQP_STATUS_OK, NULL, "Bye");
          ret = FALSE;
        }
    }
  else if (g_ascii_strcasecmp (words[0], "STARTTLS") == 0)
    ret = cmd_starttls (s, words);
  else
    ret = send_status (s, MSGTRK_MTQP_STATUS_BAD, "unknown", "Unknown command");
  free_words (words);
  return ret;
}

/*
 * End the connection without a TCP reset: a close with unread client data (commands
 * pipelined after QUIT) would make the kernel send RST, and the client could lose our
 * last answer. Shut down our side, then read and drop what the client still sends, for
 * at most MTQPD_LINGER_SECONDS and MTQPD_LINGER_MAX octets.
 */
static void
linger_close (Session *s)
{
  char buf[1024];
  gsize total = 0;

  if (g_socket_is_closed (s->socket) || !g_socket_shutdown (s->socket, FALSE, TRUE, NULL))
    return;
  g_socket_set_timeout (s->socket, MTQPD_LINGER_SECONDS);
  while (total < MTQPD_LINGER_MAX)
    {
      gssize n = g_socket_receive (s->socket, buf, sizeof buf, s->cancellable, NULL);

      if (n <= 0)
        break;
      total += (gsize) n;
    }
  msgtrk_secure_wipe (buf, sizeof buf);
}

static Session *
session_new (MtqpdServer       *server,
             ServerConnection  *listened,
             GSocketConnection *connection,
             GCancellable      *cancellable,
             MtqpdLoop         *loop)
{
  Session *s = g_new0 (Session, 1);

  s->server = server;
  s->cancellable = cancellable;
  s->listened = listened;
  s->connection = connection;
  s->loop = loop;
  s->base = G_IO_STREAM (connection);
  s->socket = g_socket_connection_get_socket (connection);
  s->in = g_io_stream_get_input_stream (s->base);
  s->out = g_io_stream_get_output_stream (s->base);
  s->peer = peer_name (connection);
  s->obuf = g_string_sized_new (MTQPD_OUTPUT_INITIAL);
  s->line = g_string_sized_new (MTQPD_MAX_LINE + 3);
  reader_reset (s);
  if (loop != NULL)
    g_socket_set_blocking (s->socket, FALSE);
  else
    g_socket_set_timeout (s->socket, server->idle_timeout);
  g_info ("%s: connected", s->peer);
  return s;
}

/* Wipe and free @s, and give its connection back to the listener (which closes it). */
static void
session_free (Session *s)
{
  ServerConnection *listened = s->listened;

  g_info ("%s: closed", s->peer);
  server_line_reader_clear (&s->reader);
  msgtrk_secure_wipe (s->line->str, s->line->allocated_len);
  g_string_free (s->line, TRUE);
  g_free (s->peer);
  g_string_free (s->obuf, TRUE);
  for (guint i = 0; i < s->n_tracks; i++)
    pending_track_clear (&s->tracks[i]);
  g_free (s->tracks);
  g_free (s);
  server_listener_release (listened);
}

/* Threads of sessions that ran in a thread of their own and have ended, to join (so
 * that their thread-local state, e.g. OpenSSL's, is freed): joined when the next such
 * thread starts and at shutdown (mtqpd_session_join_threads()). */
static GMutex ended_lock;
static GPtrArray *ended_threads;

/* In a session's own thread, before its connection goes back to the listener. */
static void
thread_ending (void)
{
  g_mutex_lock (&ended_lock);
  if (ended_threads == NULL)
    ended_threads = g_ptr_array_new ();
  g_ptr_array_add (ended_threads, g_thread_ref (g_thread_self ()));
  g_mutex_unlock (&ended_lock);
}

/**
 * mtqpd_session_join_threads:
 *
 * Joins the session threads that have ended (at shutdown, once the listener has stopped:
 * every one of them then has).
 */
void
mtqpd_session_join_threads (void)
{
  g_autoptr (GPtrArray) done = NULL;

  g_mutex_lock (&ended_lock);
  done = g_steal_pointer (&ended_threads);
  g_mutex_unlock (&ended_lock);
  for (guint i = 0; done != NULL && i < done->len; i++)
    g_thread_join (done->pdata[i]);
}

/* The blocking session: commands until QUIT, EOF, the idle timeout, an error or the
 * shutdown; then the lingering close. */
static void
session_run_blocking (Session *s,
                      gboolean go_on)
{
  while (go_on)
    {
      switch (read_line (s))
        {
        case LINE_OK:
          go_on = handle_line (s);
          break;
        case LINE_TOOLONG:
          go_on = send_status (s, MSGTRK_MTQP_STATUS_BAD, "toolong",
                                   "Command line longer than " G_STRINGIFY (MTQPD_MAX_LINE)
                                   " octets");
          break;
        case LINE_EOF:
        case LINE_ERROR:
        case LINE_AGAIN:
        default:
          go_on = FALSE;
          break;
        }
      msgtrk_secure_wipe (s->line->str, s->line->allocated_len);
      g_string_truncate (s->line, 0);
    }
  flush_output (s);

  if (s->tls_stream != NULL)
    {
      g_io_stream_close (s->tls_stream, NULL, NULL);
      g_object_unref (s->tls_stream);
    }
  linger_close (s);
  thread_ending ();
  session_free (s);
}

/* A session in a thread of its own, from its greeting. */
static gpointer
session_thread (gpointer data)
{
  Session *s = data;

  session_run_blocking (s, send_greeting (s));
  return NULL;
}

/* An event-driven session handed over to a thread of its own at STARTTLS (the OpenSSL
 * stream blocks): the socket becomes blocking, the answers so far are written, then the
 * STARTTLS line (in s->line) is handled as in any blocking session. */
static gpointer
session_handoff_thread (gpointer data)
{
  Session *s = data;
  gboolean go_on;

  s->loop = NULL;
  server_line_reader_set_nonblocking (&s->reader, FALSE);
  g_socket_set_blocking (s->socket, TRUE);
  g_socket_set_timeout (s->socket, s->server->idle_timeout);
  go_on = flush_output (s) && handle_line (s);
  msgtrk_secure_wipe (s->line->str, s->line->allocated_len);
  g_string_truncate (s->line, 0);
  session_run_blocking (s, go_on);
  return NULL;
}

/* Is @line the STARTTLS command (with or without arguments)? */
static gboolean
line_is_starttls (GString *line)
{
  return line->len >= 8 && g_ascii_strncasecmp (line->str, "STARTTLS", 8) == 0
         && (line->len == 8 || line->str[8] == ' ' || line->str[8] == '\t');
}

/* Our side is done: shut it down and drain the client's for MTQPD_LINGER_SECONDS (see
 * linger_close(); here without blocking). */
static StepResult
start_lingering (Session *s)
{
  if (g_socket_is_closed (s->socket) || !g_socket_shutdown (s->socket, FALSE, TRUE, NULL))
    return STEP_DONE;
  s->lingering = TRUE;
  s->deadline = g_get_monotonic_time () + MTQPD_LINGER_SECONDS * G_USEC_PER_SEC;
  return STEP_WAIT_IN;
}

static StepResult
linger_step (Session *s)
{
  char buf[1024];
  StepResult result = STEP_WAIT_IN;

  while (s->linger_total < MTQPD_LINGER_MAX)
    {
      g_autoptr (GError) error = NULL;
      gssize n = g_socket_receive (s->socket, buf, sizeof buf, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      if (n <= 0)
        {
          result = STEP_DONE;
          break;
        }
      s->linger_total += (gsize) n;
    }
  msgtrk_secure_wipe (buf, sizeof buf);
  return s->linger_total >= MTQPD_LINGER_MAX ? STEP_DONE : result;
}

/* The session is over: once the answers are written, linger. */
static StepResult
finish (Session *s)
{
  s->closing = TRUE;
  if (!flush_output (s))
    return STEP_DONE;
  if (s->out_blocked)
    return STEP_WAIT_OUT;
  return start_lingering (s);
}

/* Run an event-driven session until it would block. */
static StepResult
session_step (Session *s)
{
  /* Resumed by the store's answers to its TRACKs (track_rows_done): answered in order,
   * as far as the client takes them. */
  s->store_wait = FALSE;
  if (s->track_next < s->n_tracks)
    {
      if (s->out_blocked && !flush_output (s))
        return STEP_DONE;
      if (s->out_blocked)
        return STEP_WAIT_OUT;
      if (!tracks_answer (s))
        return finish (s);
      if (s->out_blocked)
        return STEP_WAIT_OUT;
    }
  if (s->lingering)
    return linger_step (s);
  if (s->ooff < s->obuf->len || s->out_blocked)
    {
      if (!flush_output (s))
        return STEP_DONE;
      if (s->out_blocked)
        return STEP_WAIT_OUT;
    }
  if (s->closing)
    return start_lingering (s);

  for (;;)
    {
      gboolean go_on;
      LineResult r = s->line_pending ? s->pending_result : read_line (s);

      s->line_pending = FALSE;
      switch (r)
        {
        case LINE_AGAIN:
          return s->out_blocked ? STEP_WAIT_OUT : STEP_WAIT_IN;
        case LINE_OK:
          if (line_is_starttls (s->line) && s->server->tls != NULL && s->tls_stream == NULL)
            return STEP_HANDED_OFF;
          go_on = handle_line (s);
          break;
        case LINE_TOOLONG:
          go_on = send_status (s, MSGTRK_MTQP_STATUS_BAD, "toolong",
                                   "Command line longer than " G_STRINGIFY (MTQPD_MAX_LINE)
                                   " octets");
          break;
        case LINE_EOF:
        case LINE_ERROR:
        default:
          go_on = FALSE;
          break;
        }
      if (!s->line_pending)
        {
          msgtrk_secure_wipe (s->line->str, s->line->allocated_len);
          g_string_truncate (s->line, 0);
        }
      if (!go_on)
        return finish (s);
      if (s->store_wait)
        return STEP_WAIT_STORE;
      if (s->out_blocked)
        return STEP_WAIT_OUT;
    }
}

/* ---- the event loop: a bounded pool of workers, each waiting in one epoll set ---- */

/* Every worker waits in epoll_wait() on the one epoll set for one event at a time (the
 * kernel wakes one waiter per event, EPOLLONESHOT keeps a session with one worker), so
 * the worker woken by a session's event runs it: no poller thread handing sessions over
 * (a wake-up and a context switch per command less). Whoever wakes after the sweep time
 * sweeps the parked sessions' deadlines. A session belongs to whoever removed it from
 * @parked (under @lock): an event still in flight for a session swept meanwhile finds it
 * no longer parked and is dropped. */
struct _MtqpdLoop
{
  int epfd;
  int wakefd;                /* eventfd, readable once the loop stops: wakes every worker */
  int readyfd;               /* eventfd (semaphore): one count per session in @ready */
  GQueue ready;              /* Session* whose TRACK the store answered; under lock */
  GPtrArray *workers;        /* GThread*, joined at the end (OpenSSL's thread state) */
  GMutex lock;
  GHashTable *parked;        /* Session* waiting in the epoll set; under lock */
  gint64 next_sweep;         /* monotonic µs; under lock */
  gint stop;                 /* (atomic) */
};

/* Wait for @what on @s (one event: EPOLLONESHOT), with its deadline. */
static void
loop_park (MtqpdLoop *loop,
           Session   *s,
           StepResult what)
{
  struct epoll_event ev = { 0 };
  int op = s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

  ev.events = EPOLLONESHOT | EPOLLRDHUP | (what == STEP_WAIT_OUT ? EPOLLOUT : EPOLLIN);
  ev.data.ptr = s;
  if (!s->lingering)
    s->deadline = g_get_monotonic_time () + (gint64) s->server->idle_timeout * G_USEC_PER_SEC;
  g_mutex_lock (&loop->lock);
  g_hash_table_add (loop->parked, s);
  if (epoll_ctl (loop->epfd, op, g_socket_get_fd (s->socket), &ev) != 0)
    {
      /* Cannot wait for it (out of memory): end it at the next tick. */
      g_warning ("%s: epoll_ctl: %s", s->peer, g_strerror (errno));
      s->deadline = 0;
      s->lingering = TRUE;
    }
  else
    s->registered = TRUE;
  g_mutex_unlock (&loop->lock);
}

/* A session the store answered (any thread): to the next free worker. */
static void
loop_resume (MtqpdLoop *loop,
             Session   *s)
{
  guint64 one = 1;
  gboolean suspended;

  g_mutex_lock (&loop->lock);
  suspended = s->store_suspended;
  s->store_suspended = FALSE;
  if (suspended)
    g_queue_push_tail (&loop->ready, s);
  else
    s->store_answered = TRUE; /* its worker has not finished the step yet: it goes on */
  g_mutex_unlock (&loop->lock);
  if (suspended && write (loop->readyfd, &one, sizeof one) != sizeof one)
    g_error ("eventfd: %s", g_strerror (errno)); /* cannot overflow: one count a session */
}

static void
loop_end (Session *s)
{
  if (s->registered)
    epoll_ctl (s->loop->epfd, EPOLL_CTL_DEL, g_socket_get_fd (s->socket), NULL);
  session_free (s);
}

/* A worker: run the session that has an event (or whose deadline passed). */
static void
loop_work (Session   *s,
           MtqpdLoop *loop)
{
  StepResult result;

  if (s->expired)
    {
      s->expired = FALSE;
      if (s->lingering)
        result = STEP_DONE;
      else
        {
          g_message ("%s: idle timeout, closing", s->peer);
          result = finish (s);
        }
    }
  else
    result = session_step (s);
  /* Waiting for the store: suspended, unless its answer already came while this step
   * ran (then it goes on here: one worker at a time per session). */
  while (result == STEP_WAIT_STORE)
    {
      gboolean answered;

      g_mutex_lock (&loop->lock);
      answered = s->store_answered;
      s->store_answered = FALSE;
      s->store_suspended = !answered;
      g_mutex_unlock (&loop->lock);
      if (!answered)
        return;
      result = session_step (s);
    }

  switch (result)
    {
    case STEP_WAIT_IN:
    case STEP_WAIT_OUT:
      loop_park (loop, s, result);
      break;
    case STEP_WAIT_STORE:
      g_assert_not_reached ();
    case STEP_HANDED_OFF:
      {
        g_autoptr (GError) error = NULL;
        g_autoptr (GThread) thread = NULL;

        if (s->registered)
          epoll_ctl (loop->epfd, EPOLL_CTL_DEL, g_socket_get_fd (s->socket), NULL);
        s->registered = FALSE;
        mtqpd_session_join_threads ();
        thread = g_thread_try_new ("session", session_handoff_thread, s, &error);
        if (thread == NULL)
          {
            g_warning ("%s: cannot start a thread for STARTTLS: %s", s->peer, error->message);
            loop_end (s);
          }
      }
      break;
    case STEP_DONE:
    default:
      loop_end (s);
      break;
    }
}

/* A worker: wait for one event, run its session; sweep the deadlines when due. */
static gpointer
loop_worker (gpointer data)
{
  MtqpdLoop *loop = data;
  g_autoptr (GPtrArray) due = g_ptr_array_new ();

  while (!g_atomic_int_get (&loop->stop))
    {
      struct epoll_event event;
      int n = epoll_wait (loop->epfd, &event, 1, MTQPD_LOOP_TICK_MS);
      GHashTableIter iter;
      gpointer key;
      gint64 now;

      if (n < 0 && errno != EINTR)
        {
          g_warning ("epoll_wait: %s", g_strerror (errno));
          g_usleep (MTQPD_LOOP_TICK_MS * 1000);
        }
      if (n == 1 && event.data.ptr == loop)
        {
          guint64 one;

          /* A session the store answered (one count each; another worker may have
           * taken this one). */
          if (read (loop->readyfd, &one, sizeof one) == sizeof one)
            {
              g_mutex_lock (&loop->lock);
              g_ptr_array_add (due, g_queue_pop_head (&loop->ready));
              g_mutex_unlock (&loop->lock);
            }
          n = 0;
        }
      g_mutex_lock (&loop->lock);
      if (n == 1 && event.data.ptr != NULL && g_hash_table_remove (loop->parked, event.data.ptr))
        g_ptr_array_add (due, event.data.ptr);
      now = g_get_monotonic_time ();
      if (now >= loop->next_sweep)
        {
          loop->next_sweep = now + (gint64) MTQPD_LOOP_TICK_MS * 1000;
          g_hash_table_iter_init (&iter, loop->parked);
          while (g_hash_table_iter_next (&iter, &key, NULL))
            {
              Session *s = key;

              if (now >= s->deadline)
                {
                  g_hash_table_iter_remove (&iter);
                  epoll_ctl (loop->epfd, EPOLL_CTL_DEL, g_socket_get_fd (s->socket), NULL);
                  s->registered = FALSE;
                  s->expired = TRUE;
                  g_ptr_array_add (due, s);
                }
            }
        }
      g_mutex_unlock (&loop->lock);
      for (guint i = 0; i < due->len; i++)
        loop_work (due->pdata[i], loop);
      g_ptr_array_set_size (due, 0);
    }
  return NULL;
}

/**
 * mtqpd_loop_new:
 * @workers: threads that run sessions (at least 1)
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the event loop of event-driven sessions
 */
MtqpdLoop *
mtqpd_loop_new (guint    workers,
                GError **error)
{
  MtqpdLoop *loop = g_new0 (MtqpdLoop, 1);
  struct epoll_event ev = { 0 };

  g_mutex_init (&loop->lock);
  loop->parked = g_hash_table_new (NULL, NULL);
  loop->epfd = epoll_create1 (EPOLL_CLOEXEC);
  loop->wakefd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  loop->readyfd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
  g_queue_init (&loop->ready);
  ev.events = EPOLLIN;
  ev.data.ptr = NULL;
  if (loop->epfd < 0 || loop->wakefd < 0 || loop->readyfd < 0
      || epoll_ctl (loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) != 0
      || epoll_ctl (loop->epfd, EPOLL_CTL_ADD, loop->readyfd,
                    &(struct epoll_event) { .events = EPOLLIN, .data.ptr = loop }) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Cannot set up the event loop: %s", g_strerror (saved));
      mtqpd_loop_free (loop);
      return NULL;
    }
  loop->workers = g_ptr_array_new ();
  for (guint i = 0; i < MAX (workers, 1); i++)
    {
      GThread *t = g_thread_try_new ("worker", loop_worker, loop, error);

      if (t == NULL)
        {
          mtqpd_loop_free (loop);
          return NULL;
        }
      g_ptr_array_add (loop->workers, t);
    }
  return loop;
}

/**
 * mtqpd_loop_free:
 * @loop: (nullable): the loop, once the listener has stopped (every session ended)
 */
void
mtqpd_loop_free (MtqpdLoop *loop)
{
  guint64 one = 1;

  if (loop == NULL)
    return;
  g_atomic_int_set (&loop->stop, 1);
  /* Level-triggered and never read: every worker's epoll_wait() returns. */
  if (loop->wakefd >= 0 && write (loop->wakefd, &one, sizeof one) < 0)
    g_warning ("eventfd: %s", g_strerror (errno));
  if (loop->workers != NULL)
    {
      for (guint i = 0; i < loop->workers->len; i++)
        g_thread_join (loop->workers->pdata[i]);
      g_ptr_array_unref (loop->workers);
    }
  g_warn_if_fail (g_hash_table_size (loop->parked) == 0);
  g_hash_table_unref (loop->parked);
  if (loop->epfd >= 0)
    close (loop->epfd);
  if (loop->wakefd >= 0)
    close (loop->wakefd);
  if (loop->readyfd >= 0)
    close (loop->readyfd);
  g_warn_if_fail (g_queue_is_empty (&loop->ready));
  g_mutex_clear (&loop->lock);
  g_free (loop);
}

/**
 * mtqpd_session_start:
 * @server: what sessions share
 * @listened: the client's connection (called in the listener's accept thread)
 * @cancellable: cancelled when the server shuts down
 *
 * Takes @listened from the listener (server_listener_detach()), reads it through its GIO
 * stream (server_connection_get_stream()) and starts its session
 * without blocking: event-driven on server->loop, or, when there is no loop (chaining:
 * next hops are asked with blocking I/O), in a thread of its own. The session gives the
 * connection back with server_listener_release() when it ends.
 */
void
mtqpd_session_start (MtqpdServer      *server,
                     ServerConnection *listened,
                     GCancellable     *cancellable)
{
  g_autoptr (GError) error = NULL;
  GSocketConnection *connection;
  Session *s;

  server_listener_detach (listened);
  connection = server_connection_get_stream (listened, &error);
  if (connection == NULL)
    {
      g_warning ("A connection could not be served: %s", error->message);
      server_listener_release (listened);
      return;
    }
  s = session_new (server, listened, connection, cancellable, server->loop);
  if (server->loop == NULL)
    {
      g_autoptr (GThread) thread = NULL;

      mtqpd_session_join_threads ();
      thread = g_thread_try_new ("session", session_thread, s, &error);

      if (thread == NULL)
        {
          g_warning ("%s: cannot start a session thread: %s", s->peer, error->message);
          session_free (s);
        }
      return;
    }
  if (!send_greeting (s) || !flush_output (s))
    {
      loop_end (s);
      return;
    }
  loop_park (server->loop, s, s->out_blocked ? STEP_WAIT_OUT : STEP_WAIT_IN);
}
