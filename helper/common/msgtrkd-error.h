/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-error.h: errors of the tracking helper, also its D-Bus errors.
 *
 * MSGTRKD_ERROR codes map one to one to D-Bus error names
 * org.msgtrk.Tracker1.Error.<Name> (registered with g_dbus_error_register_error_domain),
 * so a client (CLI, plugin) gets the same code back through g_dbus_error_strip_remote_error.
 * Messages are written for a person: what happened and what to do.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MSGTRKD_ERROR (msgtrkd_error_quark ())

typedef enum {
  MSGTRKD_ERROR_FAILED,               /* org.msgtrk.Tracker1.Error.Failed */
  MSGTRKD_ERROR_NOT_FOUND,            /* .NotFound: no such tracked message */
  MSGTRKD_ERROR_INVALID_ARGUMENT,     /* .InvalidArgument: bad address, URL, id… */
  MSGTRKD_ERROR_KEYRING_UNAVAILABLE,  /* .KeyringUnavailable: no Secret Service (or locked) */
  MSGTRKD_ERROR_SECRET_MISSING,       /* .SecretMissing: A is gone from the keyring */
  MSGTRKD_ERROR_STORE,                /* .Store: the database failed (disk full, corrupt) */
  MSGTRKD_ERROR_NOT_TRACKABLE,        /* .NotTrackable: sent without MTRK, nothing to query */
  MSGTRKD_ERROR_NETWORK,              /* .Network: a tracking server could not be asked */
  MSGTRKD_ERROR_VIEWER,               /* .Viewer: the viewer could not be started */
  MSGTRKD_ERROR_NO_SERVER_YET,        /* .NoServerYet: no tracking server found for it yet */
} MsgtrkdError;

GQuark msgtrkd_error_quark (void);

G_END_DECLS
