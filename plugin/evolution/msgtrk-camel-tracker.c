/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-camel-tracker.c: the transport's calls to msgtrkd.
 *
 * What: Prepare / Committed / Aborted on org.msgtrk.Tracker1 (docs/dbus-api.md).
 * How: g_dbus_connection_call_sync on the session bus; msgtrkd is D-Bus activated if it
 * is not running. Remote errors keep their D-Bus name in the GError (the caller turns them
 * into a sentence for the user).
 * Limits: MSGTRK_CAMEL_DBUS_TIMEOUT_MS per call; an authenticator must look like base64
 * SHA-1 (28 characters) or Prepare fails.
 * Never: log the authenticator; keep a connection reference beyond a call (the bus
 * connection is GIO's shared singleton).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-camel-tracker.h"

/* Length of base64 (SHA-1): what an authenticator from msgtrkd must have. */
#define MSGTRK_CAMEL_AUTHENTICATOR_LENGTH 28

static GVariant *
tracker_call (const char         *method,
              GVariant           *parameters,
              const GVariantType *reply_type,
              GCancellable       *cancellable,
              GError            **error)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, cancellable, error);

  if (bus == NULL)
    {
      g_variant_unref (g_variant_ref_sink (parameters));
      return NULL;
    }
  return g_dbus_connection_call_sync (bus, MSGTRK_CAMEL_TRACKER_BUS_NAME,
                                      MSGTRK_CAMEL_TRACKER_PATH,
                                      MSGTRK_CAMEL_TRACKER_INTERFACE, method, parameters,
                                      reply_type, G_DBUS_CALL_FLAGS_NONE,
                                      MSGTRK_CAMEL_DBUS_TIMEOUT_MS, cancellable, error);
}

gboolean
msgtrk_camel_tracker_prepare (const char         *sender,
                              const char * const *recipients,
                              const char         *message_id,
                              const char         *subject,
                              const char         *submission_host,
                              GCancellable       *cancellable,
                              char              **envid,
                              char              **authenticator,
                              guint              *timeout,
                              GError            **error)
{
  g_autoptr (GVariant) reply = NULL;
  const char *e = NULL;
  const char *a = NULL;

  reply = tracker_call ("Prepare",
                        g_variant_new ("(s^assss)", sender, recipients, message_id,
                                       subject ? subject : "", submission_host),
                        G_VARIANT_TYPE ("(ssu)"), cancellable, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(&s&su)", &e, &a, timeout);
  if (*e == '\0' || strlen (a) != MSGTRK_CAMEL_AUTHENTICATOR_LENGTH)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "msgtrkd answered Prepare without a usable ENVID or authenticator");
      return FALSE;
    }
  *envid = g_strdup (e);
  *authenticator = g_strdup (a);
  return TRUE;
}

gboolean
msgtrk_camel_tracker_committed (const char         *envid,
                                const char * const *offered,
                                const char         *server_reply,
                                GCancellable       *cancellable,
                                GError            **error)
{
  const char *none[] = { NULL };
  g_autoptr (GVariant) reply = NULL;
  /* The server's own octets (Latin-1 happens): a D-Bus string must be UTF-8. */
  g_autofree char *valid = g_utf8_make_valid (server_reply ? server_reply : "", -1);

  reply = tracker_call ("Committed",
                        g_variant_new ("(s^ass)", envid, offered ? offered : none, valid),
                        NULL, cancellable, error);
  return reply != NULL;
}

gboolean
msgtrk_camel_tracker_aborted (const char   *envid,
                              const char   *reason,
                              GCancellable *cancellable,
                              GError      **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *valid = g_utf8_make_valid (reason ? reason : "", -1);

  reply = tracker_call ("Aborted", g_variant_new ("(ss)", envid, valid), NULL, cancellable,
                        error);
  return reply != NULL;
}

/* RequestContentTrack (docs/harrison.md): the key for the message's Content-Track header.
 * Returns: (transfer full) (nullable): the key, or NULL with @error */
char *
msgtrk_camel_tracker_content_track (const char   *envid,
                                    GCancellable *cancellable,
                                    GError      **error)
{
  g_autoptr (GVariant) reply = NULL;
  const char *key = NULL;

  reply = tracker_call ("RequestContentTrack", g_variant_new ("(s)", envid),
                        G_VARIANT_TYPE ("(s)"), cancellable, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(&s)", &key);
  return g_strdup (key);
}
