/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-camel-transport.h: the "SMTP with tracking" Camel transport (protocol msgtrk-smtp).
 *
 * What: an SMTP submission client on Camel's public API (CamelTransport +
 * CamelNetworkService) that asks for message tracking (RFC 3885 MTRK) and delivery status
 * notifications (RFC 3461 DSN) as far as the server offers them, for messages that carry
 * the MSGTRK_CAMEL_TRACK_HEADER mark, and tells msgtrkd what happened.
 * Errors: MSGTRK_CAMEL_ERROR for everything this transport decides; SASL and certificate
 * questions go through the CamelSession as for Evolution's own SMTP transport.
 * Limits: see the MSGTRK_CAMEL_* constants below.
 * Never: send a message that asks to be tracked without tracking (if msgtrkd cannot
 * prepare it the send fails and the message stays in the Outbox); send the mark header
 * itself; log a password, SASL data or the authenticator; abort its host process on
 * anything a server sends.
 */
#pragma once

#include <camel/camel.h>

G_BEGIN_DECLS

/* The protocol name of the provider (ESource [Mail Transport] BackendName). */
#define MSGTRK_CAMEL_PROTOCOL "msgtrk-smtp"

/* The header that asks for tracking. Set by the Evolution module's "Track this message"
 * (Evolution strips X-Evolution-* headers before the transport, so it cannot be one of
 * those); removed by the transport before DATA, restored on the message object after it. */
#define MSGTRK_CAMEL_TRACK_HEADER "X-Msgtrk-Track"
#define MSGTRK_CAMEL_TRACK_VALUE "yes"
/* The composer's mark for Harrison's Content-Track (docs/harrison.md); never sent: the
 * transport replaces it by "Content-Track: <key>" from msgtrkd. */
#define MSGTRK_CAMEL_CONTENT_TRACK_HEADER "X-Msgtrk-Content-Track"

/* Longest reply line accepted from the server, CRLF excluded (RFC 5321 says 512 with
 * CRLF; real servers exceed it a little; anything longer is a broken or hostile peer). */
#define MSGTRK_CAMEL_REPLY_LINE_MAX 2048
/* Most lines in one (multi-line) reply. */
#define MSGTRK_CAMEL_REPLY_LINES_MAX 128
/* Most SASL round trips in one AUTH exchange. */
#define MSGTRK_CAMEL_SASL_ROUNDS_MAX 10
/* Read size from the network. */
#define MSGTRK_CAMEL_READ_CHUNK 4096

/* msgtrk's settings schema: dsn-notify and dsn-ret (the Evolution preferences page and the
 * Claws plugin write them). */
#define MSGTRK_CAMEL_SETTINGS_SCHEMA "org.msgtrk"
/* DSN parameters asked for a tracked message where the server offers DSN, when the
 * settings schema is not installed. */
#define MSGTRK_CAMEL_DSN_NOTIFY \
  (MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE | MSGTRK_DSN_NOTIFY_DELAY)
#define MSGTRK_CAMEL_DSN_RET MSGTRK_DSN_RET_HDRS

#define MSGTRK_CAMEL_ERROR (msgtrk_camel_error_quark ())

/**
 * MsgtrkCamelError:
 * @MSGTRK_CAMEL_ERROR_TRACKING_UNAVAILABLE: the message asks to be tracked but msgtrkd
 *   could not prepare it (not running, keyring locked…); nothing was sent
 * @MSGTRK_CAMEL_ERROR_CONNECTION_LOST: the server closed the connection or did not answer
 * @MSGTRK_CAMEL_ERROR_REFUSED: the server answered a command with an error reply
 * @MSGTRK_CAMEL_ERROR_PROTOCOL: the server's reply was malformed or too long
 * @MSGTRK_CAMEL_ERROR_SECURITY: STARTTLS was asked for and could not be done
 * @MSGTRK_CAMEL_ERROR_TOO_BIG: the message is larger than the server's SIZE
 * @MSGTRK_CAMEL_ERROR_INVALID: the message or its addresses cannot be sent
 */
typedef enum
{
  MSGTRK_CAMEL_ERROR_TRACKING_UNAVAILABLE,
  MSGTRK_CAMEL_ERROR_CONNECTION_LOST,
  MSGTRK_CAMEL_ERROR_REFUSED,
  MSGTRK_CAMEL_ERROR_PROTOCOL,
  MSGTRK_CAMEL_ERROR_SECURITY,
  MSGTRK_CAMEL_ERROR_TOO_BIG,
  MSGTRK_CAMEL_ERROR_INVALID,
} MsgtrkCamelError;

GQuark msgtrk_camel_error_quark (void);

#define MSGTRK_TYPE_CAMEL_TRANSPORT (msgtrk_camel_transport_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkCamelTransport, msgtrk_camel_transport, MSGTRK, CAMEL_TRANSPORT,
                      CamelTransport)

G_END_DECLS
