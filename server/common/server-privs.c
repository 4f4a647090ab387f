/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-privs.c: giving up root after the privileged set-up of a server.
 *
 * Order: setgroups (only the user's primary group), setgid, setuid; then verify that
 * setuid (0) fails. Called after binding the listening socket and reading TLS keys.
 * Never: continue as root when the drop failed; run as root when no user is configured.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include "msgtrk-private.h"
#include "server-privs.h"

/**
 * server_privs_drop:
 * @user: (nullable): the user to become when running as root
 * @error: return location for a #GError
 *
 * When the process runs as root, switch to @user (groups, gid, uid). When it does not,
 * do nothing. Refuses to keep running as root: root without @user, or @user being root,
 * is an error.
 *
 * Returns: %TRUE when the process may go on, %FALSE with @error set
 */
gboolean
server_privs_drop (const char *user,
                   GError    **error)
{
  struct passwd *pw;
  gid_t gid;
  uid_t uid;

  if (geteuid () != 0 && getuid () != 0)
    return TRUE;

  if (user == NULL || *user == '\0')
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                           "Refusing to run as root: set \"user\" in the configuration to "
                           "the account the server should run as");
      return FALSE;
    }

  errno = 0;
  pw = getpwnam (user);
  if (pw == NULL)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (user, 64);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Unknown user \"%s\" in the configuration", quoted);
      return FALSE;
    }
  uid = pw->pw_uid;
  gid = pw->pw_gid;
  if (uid == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Refusing to run as root: the configured user \"%s\" has uid 0", user);
      return FALSE;
    }

  if (setgroups (1, &gid) != 0 || setgid (gid) != 0 || setuid (uid) != 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot switch to user \"%s\": %s", user, g_strerror (saved));
      return FALSE;
    }
  if (setuid (0) == 0 || geteuid () == 0 || getegid () != gid)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Dropping privileges to \"%s\" did not stick", user);
      return FALSE;
    }
  return TRUE;
}
