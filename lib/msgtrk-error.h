/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-error.h: the one error domain of libmsgtrk.
 *
 * Every failure a user can meet is a GError in MSGTRK_ERROR with one of the codes
 * below and a message a person can act on. Programmer errors use g_return_if_fail.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <glib.h>

#include "msgtrk-visibility.h"

G_BEGIN_DECLS

/**
 * MSGTRK_ERROR:
 *
 * Error domain for libmsgtrk. Errors in this domain are from the #MsgtrkError enumeration.
 */
#define MSGTRK_ERROR (msgtrk_error_quark ())

/**
 * MsgtrkError:
 * @MSGTRK_ERROR_FAILED: generic failure
 * @MSGTRK_ERROR_PARSE: input is not valid for its syntax (report, header, URL, xtext, …)
 * @MSGTRK_ERROR_LIMIT: input or output passes one of the explicit limits
 * @MSGTRK_ERROR_INVALID_SECRET: a tracking secret or authenticator is malformed
 * @MSGTRK_ERROR_RANDOM: the system's random generator failed
 * @MSGTRK_ERROR_UNSUPPORTED: the peer or the input needs something not supported
 * @MSGTRK_ERROR_PROTOCOL: a server broke the protocol (malformed reply)
 * @MSGTRK_ERROR_SERVER_TEMP: the MTQP server answered `-TEMP`
 * @MSGTRK_ERROR_SERVER_ERR: the MTQP server answered `-ERR`
 * @MSGTRK_ERROR_SERVER_BAD: the MTQP server answered `-BAD`
 * @MSGTRK_ERROR_TLS: TLS could not be set up or verified
 * @MSGTRK_ERROR_TLS_DOWNGRADE: a server that once offered STARTTLS no longer does
 * @MSGTRK_ERROR_TIMEOUT: a connect, read or total deadline passed
 * @MSGTRK_ERROR_CONNECT: no address of the server could be reached
 * @MSGTRK_ERROR_NOT_FOUND: a name or record does not exist
 *
 * Error codes in the %MSGTRK_ERROR domain.
 *
 * Since: 1.0
 */
typedef enum {
  MSGTRK_ERROR_FAILED,
  MSGTRK_ERROR_PARSE,
  MSGTRK_ERROR_LIMIT,
  MSGTRK_ERROR_INVALID_SECRET,
  MSGTRK_ERROR_RANDOM,
  MSGTRK_ERROR_UNSUPPORTED,
  MSGTRK_ERROR_PROTOCOL,
  MSGTRK_ERROR_SERVER_TEMP,
  MSGTRK_ERROR_SERVER_ERR,
  MSGTRK_ERROR_SERVER_BAD,
  MSGTRK_ERROR_TLS,
  MSGTRK_ERROR_TLS_DOWNGRADE,
  MSGTRK_ERROR_TIMEOUT,
  MSGTRK_ERROR_CONNECT,
  MSGTRK_ERROR_NOT_FOUND,
} MsgtrkError;

MSGTRK_AVAILABLE_IN_ALL
GQuark msgtrk_error_quark (void);

G_END_DECLS
