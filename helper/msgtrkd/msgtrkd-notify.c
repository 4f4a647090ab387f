/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-notify.c: desktop notifications of msgtrkd (see msgtrkd-notify.h). */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "msgtrkd-notify.h"

/**
 * msgtrkd_notify_setting_key:
 * @old_state: the state before
 * @state: the state now
 *
 * Returns: (transfer none) (nullable): the GSettings key that switches the notification
 *   of this transition, or %NULL when it notifies nothing (no change, or a state nobody
 *   waits for)
 */
const char *
msgtrkd_notify_setting_key (MsgtrkMessageState old_state,
                            MsgtrkMessageState state)
{
  if (old_state == state)
    return NULL;
  switch (state)
    {
    case MSGTRK_MESSAGE_STATE_DELIVERED:
      return "notify-delivered";
    case MSGTRK_MESSAGE_STATE_DELAYED:
      return "notify-delayed";
    case MSGTRK_MESSAGE_STATE_FAILED:
      return "notify-failed";
    default:
      return NULL;
    }
}

/**
 * msgtrkd_notify_build:
 * @message: the message
 * @state: its new state (delivered, delayed or failed)
 *
 * Returns: (transfer full): the notification: "Delivered: Subject", the summary, and
 *   "app.show" with the ENVID as its default action
 */
GNotification *
msgtrkd_notify_build (const MsgtrkdMessage *message,
                      MsgtrkMessageState    state)
{
  const char *title = state == MSGTRK_MESSAGE_STATE_DELIVERED ? _("Delivered")
                      : state == MSGTRK_MESSAGE_STATE_DELAYED ? _("Delayed")
                                                              : _("Delivery failed");
  const char *subject = message->subject != NULL && *message->subject != '\0'
                          ? message->subject : _("(no subject)");
  g_autofree char *full_title = g_strdup_printf ("%s: %s", title, subject);
  GNotification *n = g_notification_new (full_title);

  g_notification_set_body (n, message->summary);
  g_notification_set_default_action_and_target (n, "app.show", "s", message->envid);
  return n;
}

/**
 * msgtrkd_notify_transition:
 * @app: the application that sends it
 * @settings: org.msgtrk settings (the notify-* keys)
 * @message: the message, after the change
 * @old_state: its state before
 *
 * Notifies the user of @message's new state if it is one they asked to hear of.
 */
void
msgtrkd_notify_transition (GApplication         *app,
                           GSettings            *settings,
                           const MsgtrkdMessage *message,
                           MsgtrkMessageState    old_state)
{
  MsgtrkMessageState state;
  const char *key;
  g_autoptr (GNotification) n = NULL;

  msgtrk_message_state_from_string (message->state, &state);
  key = msgtrkd_notify_setting_key (old_state, state);
  if (key == NULL || !g_settings_get_boolean (settings, key))
    return;
  n = msgtrkd_notify_build (message, state);
  g_application_send_notification (app, message->envid, n);
}

/**
 * msgtrkd_notify_withdraw:
 * @app: the application
 * @envid: a message that is forgotten
 */
void
msgtrkd_notify_withdraw (GApplication *app,
                         const char   *envid)
{
  g_application_withdraw_notification (app, envid);
}
