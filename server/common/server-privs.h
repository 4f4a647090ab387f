/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-privs.h: giving up root after the privileged set-up of a server.
 *
 * A server started as root binds its port and reads its TLS key, then calls
 * server_privs_drop() with the configured user: supplementary groups, gid and uid are
 * all changed and the change is verified (regaining root must fail). A server not
 * started as root keeps its identity. Running as root without a configured user is
 * refused (server_privs_drop returns an error).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean server_privs_drop (const char *user,
                            GError    **error);

G_END_DECLS
