/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-settings.h: the DSN keys of msgtrk's settings schema (org.msgtrk), read and
 * written in one place for both plugins' preference pages and their senders.
 *
 * What: "dsn-notify" (a list of "success", "failure", "delay", or "never" alone) as
 * MsgtrkDsnNotify, and "dsn-ret" ("full" or "hdrs") as MsgtrkDsnRet.
 * How: the schema's own words; a word this code does not know is ignored.
 * Limits: none of their own.
 * Never: create the GSettings: callers decide whether the schema is installed (an EDS
 * daemon that loads the Camel provider would abort on a missing schema).
 */
#pragma once

#include <gio/gio.h>

#include "msgtrk.h"

G_BEGIN_DECLS

MsgtrkDsnNotify msgtrk_settings_get_dsn_notify (GSettings      *settings);
void            msgtrk_settings_set_dsn_notify (GSettings      *settings,
                                                MsgtrkDsnNotify notify);
MsgtrkDsnRet    msgtrk_settings_get_dsn_ret    (GSettings      *settings);
void            msgtrk_settings_set_dsn_ret    (GSettings      *settings,
                                                MsgtrkDsnRet    ret);

G_END_DECLS
