/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-error.c: MSGTRKD_ERROR and its D-Bus error names. */
#include "config.h"

#include "msgtrkd-error.h"

static const GDBusErrorEntry msgtrkd_error_entries[] = {
  { MSGTRKD_ERROR_FAILED, "org.msgtrk.Tracker1.Error.Failed" },
  { MSGTRKD_ERROR_NOT_FOUND, "org.msgtrk.Tracker1.Error.NotFound" },
  { MSGTRKD_ERROR_INVALID_ARGUMENT, "org.msgtrk.Tracker1.Error.InvalidArgument" },
  { MSGTRKD_ERROR_KEYRING_UNAVAILABLE, "org.msgtrk.Tracker1.Error.KeyringUnavailable" },
  { MSGTRKD_ERROR_SECRET_MISSING, "org.msgtrk.Tracker1.Error.SecretMissing" },
  { MSGTRKD_ERROR_STORE, "org.msgtrk.Tracker1.Error.Store" },
  { MSGTRKD_ERROR_NOT_TRACKABLE, "org.msgtrk.Tracker1.Error.NotTrackable" },
  { MSGTRKD_ERROR_NETWORK, "org.msgtrk.Tracker1.Error.Network" },
  { MSGTRKD_ERROR_VIEWER, "org.msgtrk.Tracker1.Error.Viewer" },
  { MSGTRKD_ERROR_NO_SERVER_YET, "org.msgtrk.Tracker1.Error.NoServerYet" },
};

GQuark
msgtrkd_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("msgtrkd-error-quark", &quark, msgtrkd_error_entries,
                                      G_N_ELEMENTS (msgtrkd_error_entries));
  return (GQuark) quark;
}
