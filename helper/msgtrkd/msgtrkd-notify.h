/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-notify.h: desktop notifications of msgtrkd.
 *
 * What: a notification when a message becomes delivered, delayed or failed (each one
 * switched by its GSettings key: notify-delivered, notify-delayed, notify-failed), titled
 * with the state and the subject, its body the summary; clicking it opens the viewer
 * (action "app.show" with the ENVID). One notification per message (its id is the ENVID):
 * a newer one replaces it, Forget withdraws it.
 * How: GNotification through the GApplication.
 * Limits: none of its own (the subject and summary are bounded by the store).
 * Never: put A or a tracking link in a notification.
 */
#pragma once

#include <gio/gio.h>

#include "msgtrk-states.h"
#include "msgtrkd-store.h"

G_BEGIN_DECLS

const char    *msgtrkd_notify_setting_key (MsgtrkMessageState old_state,
                                           MsgtrkMessageState state);
GNotification *msgtrkd_notify_build       (const MsgtrkdMessage *message,
                                           MsgtrkMessageState    state);
void           msgtrkd_notify_transition  (GApplication         *app,
                                           GSettings            *settings,
                                           const MsgtrkdMessage *message,
                                           MsgtrkMessageState    old_state);
void           msgtrkd_notify_withdraw    (GApplication *app,
                                           const char   *envid);

G_END_DECLS
