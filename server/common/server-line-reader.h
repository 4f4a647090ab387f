/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-line-reader.h: the servers' one bounded line reader over a GInputStream (SMTP
 * commands, replies and data in msgtrk-relay; MTQP commands in mtqpd).
 *
 * A line ends at LF and is returned with its terminator ("\r\n" or a bare "\n"): the
 * caller decides what a bare LF means. A line longer than the caller's limit is read to
 * its end and thrown away (SERVER_LINE_TOO_LONG), never cut into a shorter command, so
 * the session keeps its sync (server_line_reader_read_piece(): in pieces of the caller's
 * max instead, the last one with the LF). The reader owns its buffer, so the octets a
 * client already sent (pipelining) are known: server_line_reader_available(), and can be
 * taken as they are, not by the line (server_line_reader_peek() and _consume(): a proxy
 * streaming a message body on, which ends where its own parser says).
 *
 * Options: a fill hook, called before the reader blocks for more input (mtqpd writes its
 * pending answers there); wiping (mtqpd: commands carry secrets): every octet handed out
 * or thrown away is overwritten in the reader's buffer (the caller wipes its line).
 * Non-blocking (server_line_reader_set_nonblocking()): a read that would block returns SERVER_LINE_ERROR with
 * G_IO_ERROR_WOULD_BLOCK and keeps every octet and the overlong-line state, so the next
 * call goes on where it stopped (mtqpd's event-driven sessions).
 * Direct socket (server_line_reader_init_fd()): the reader calls recv(2) on a socket
 * descriptor in blocking mode with SO_RCVTIMEO as its timeout (set by the reader itself
 * right before the first recv that may block, and again only when the timeout it needs
 * changes: never on a socket only a coroutine reads), so a read that must wait sleeps in
 * that one call;
 * through GIO the same read is a recv that fails with EAGAIN, a poll(2) of the socket and
 * the cancellable, and a second recv (three system calls and two wake-ups of the poll
 * machinery per wait, in a lockstep proxy on every command), and the socket a GSocket
 * with its streams. The cancellable is then only checked before each read: the caller
 * makes cancellation shut the socket down (a blocked recv returns 0). Not for a socket
 * under TLS (its GIO layer reads the socket without blocking): a reader of the TLS
 * stream instead. server_socket_send_all() is the matching write (send(2) without
 * blocking, poll(2) only when the socket buffer is full).
 * In a coroutine (server-coro.h) the same calls park instead of blocking: the direct
 * reader recv(2)s with MSG_DONTWAIT and, after a short read or EAGAIN, parks on the socket
 * (server_coro_wait_fd()) until min(now + idle timeout, the deadline), with the same
 * errors, deadline and hook as in a thread (SO_RCVTIMEO is not used there; the socket may
 * be blocking); server_socket_wait() parks with its timeout and cancellable (a zero-timeout
 * poll(2) first, so it keeps poll's meaning: ready now, not an event since the last wait);
 * server_socket_send_all() parks on a full socket. The descriptors are then registered
 * with the coroutine's loop: server_coro_forget_fd() before they are closed.
 * A direct reader's first read in a coroutine, on a descriptor the coroutine has not
 * registered, waits for the registration's event (a session's first read nearly always
 * finds nothing: no failed recv); where data is expected there already (a warm upstream
 * link's greeting), server_line_reader_expect_data() makes it a recv first (no
 * registration, poll or epoll_wait when the data is there).
 * Deadline (server_line_reader_set_deadline()): a read ends at a point in time as well as
 * after the idle timeout (as Postfix's smtpd_per_request_deadline), moved later by every
 * octet received at a minimum rate (smtpd_min_data_rate): a client that sends one octet
 * per idle timeout cannot hold a command or a message's data for ever. With a direct
 * socket each recv(2) waits min(idle timeout, time left), SO_RCVTIMEO set only when that
 * differs from the one set by more than SERVER_LINE_DEADLINE_SLACK_US (a reader whose
 * deadline is far makes no system call more), and a read past the deadline still takes
 * without waiting what the client had sent (time the caller spent elsewhere, e.g. waiting
 * for its upstream, is not the client's; the fill hook's time moves the deadline later
 * by as much, so a pipelining client is not cut while the front waits for its upstream's
 * replies). Through a GIO stream (TLS) with a cancellable of
 * the reader's own (server_line_reader_set_deadline_cancellable()) each read with a
 * deadline is cancelled by a timer at it, so a record trickled an octet at a time ends
 * at the deadline (the timer: a GSource attached and destroyed per read, two wake-ups of
 * the main thread; TLS only); without it the deadline is checked before each read only.
 * The deadline moved by octets is capped (set_deadline's @cap from the
 * time they came, as Postfix's smtpd_timeout): a burst banks no time for a trickle.
 * A read ended by it: SERVER_LINE_ERROR, G_IO_ERROR_TIMED_OUT, and
 * server_line_reader_deadline_expired() TRUE.
 * Limits: the caller's max is below SERVER_LINE_BUFFER_SIZE.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  SERVER_LINE_OK,
  SERVER_LINE_TOO_LONG,
  SERVER_LINE_EOF,
  SERVER_LINE_ERROR,
} ServerLineStatus;

/** SERVER_LINE_BUFFER_SIZE: octets the reader holds (input read ahead). */
#define SERVER_LINE_BUFFER_SIZE 16384
/** SERVER_LINE_DEADLINE_SLACK_US: how far (microseconds) a direct socket's read timeout
 * may be from min(idle timeout, time to the deadline) before SO_RCVTIMEO is set again:
 * a deadline is kept to within this, and a reader whose deadline is farther than its
 * idle timeout (the usual command) sets nothing. */
#define SERVER_LINE_DEADLINE_SLACK_US (100 * G_TIME_SPAN_MILLISECOND)

/* Called before the reader blocks for input; FALSE (with @error set) ends the reading. */
typedef gboolean (*ServerLineFillHook) (gpointer  user_data,
                                        GError  **error);

typedef struct
{
  GInputStream *in;           /* (not owned) (nullable: with fd) */
  gboolean wipe;              /* overwrite consumed octets */
  ServerLineFillHook hook;    /* (nullable) */
  gpointer hook_data;
  char buf[SERVER_LINE_BUFFER_SIZE];
  gsize start;
  gsize end;
  gboolean discarding;        /* inside an overlong line: drop up to its LF */
  gboolean nonblocking;       /* read with g_pollable_input_stream_read_nonblocking() */
  int fd;                     /* >= 0: recv(2) on it directly (init_fd) */
  GCancellable *deadline_cancel; /* (not owned) (nullable) set_deadline_cancellable */
  gint64 idle_us;             /* init_fd's timeout, microseconds (0: none) */
  gint64 rcvtimeo_us;         /* SO_RCVTIMEO as last set on fd by the reader (0: none,
                               * -1: not set by it yet: the next blocking recv sets it) */
  gint64 deadline;            /* monotonic microseconds a read must end by (0: none) */
  guint min_rate;             /* octets a second that move the deadline (0: none) */
  gint64 cap_us;              /* the moved deadline at most this from now (0: no cap) */
  gboolean deadline_expired;  /* the last read ended at the deadline */
  gboolean drained;           /* in a coroutine: a short read or EAGAIN since the last wait */
  gboolean read_first;        /* in a coroutine: the next read recv(2)s before any wait,
                               * even on a descriptor not registered yet
                               * (server_line_reader_expect_data()) */
} ServerLineReader;

void             server_line_reader_init      (ServerLineReader   *reader,
                                               GInputStream       *in,
                                               gboolean            wipe);
void             server_line_reader_set_nonblocking (ServerLineReader *reader,
                                                     gboolean          nonblocking);
void             server_line_reader_set_hook  (ServerLineReader   *reader,
                                               ServerLineFillHook  hook,
                                               gpointer            user_data);
void             server_line_reader_init_fd   (ServerLineReader   *reader,
                                               int                 fd,
                                               guint               timeout,
                                               gboolean            wipe);
gboolean         server_socket_error          (GError           **error,
                                               int                 saved,
                                               const char         *what);
gboolean         server_socket_set_read_timeout (int               fd,
                                                 guint             timeout,
                                                 GError          **error);
gboolean         server_socket_wait           (int                 fd,
                                               GIOCondition        condition,
                                               guint               timeout,
                                               GCancellable       *cancellable,
                                               GError            **error);
gboolean         server_socket_send_all       (int                 fd,
                                               const void         *data,
                                               gsize               len,
                                               guint               timeout,
                                               GCancellable       *cancellable,
                                               GError            **error);
void             server_line_reader_set_deadline (ServerLineReader *reader,
                                                  gint64            deadline,
                                                  guint             min_rate,
                                                  guint             cap);
void             server_line_reader_set_deadline_cancellable (ServerLineReader *reader,
                                                              GCancellable     *cancellable);
gboolean         server_line_reader_deadline_expired (ServerLineReader *reader);
gsize            server_line_reader_available (ServerLineReader   *reader);
void             server_line_reader_expect_data (ServerLineReader *reader);
void             server_line_reader_clear     (ServerLineReader   *reader);
ServerLineStatus server_line_reader_read      (ServerLineReader   *reader,
                                               gsize               max,
                                               GString            *line,
                                               GCancellable       *cancellable,
                                               GError            **error);
ServerLineStatus server_line_reader_read_append (ServerLineReader *reader,
                                                 gsize             max,
                                                 GString          *line,
                                                 GCancellable     *cancellable,
                                                 GError          **error);
ServerLineStatus server_line_reader_read_piece (ServerLineReader  *reader,
                                                gsize              max,
                                                GString           *line,
                                                GCancellable      *cancellable,
                                                GError           **error);
ServerLineStatus server_line_reader_peek       (ServerLineReader  *reader,
                                                gsize              max,
                                                const char       **data,
                                                gsize             *len,
                                                GCancellable      *cancellable,
                                                GError           **error);
void             server_line_reader_consume    (ServerLineReader  *reader,
                                                gsize              len);
gboolean         server_line_strip_end        (GString            *line);

G_END_DECLS
