/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-settings.c: see msgtrk-settings.h. */
#include "config.h"

#include "msgtrk-settings.h"

/* The schema's words for the NOTIFY conditions, in the order they are written. */
static const struct
{
  const char *word;
  MsgtrkDsnNotify flag;
} notify_words[] = {
  { "success", MSGTRK_DSN_NOTIFY_SUCCESS },
  { "failure", MSGTRK_DSN_NOTIFY_FAILURE },
  { "delay", MSGTRK_DSN_NOTIFY_DELAY },
};

/**
 * msgtrk_settings_get_dsn_notify:
 * @settings: org.msgtrk
 *
 * Returns: the conditions of "dsn-notify"; %MSGTRK_DSN_NOTIFY_NEVER when it says "never"
 *   (which wins over any other word) or names no condition this code knows
 */
MsgtrkDsnNotify
msgtrk_settings_get_dsn_notify (GSettings *settings)
{
  g_auto (GStrv) words = g_settings_get_strv (settings, "dsn-notify");
  guint flags = 0;

  for (guint i = 0; words[i] != NULL; i++)
    {
      if (g_str_equal (words[i], "never"))
        return MSGTRK_DSN_NOTIFY_NEVER;
      for (gsize j = 0; j < G_N_ELEMENTS (notify_words); j++)
        if (g_str_equal (words[i], notify_words[j].word))
          flags |= notify_words[j].flag;
    }
  return flags != 0 ? (MsgtrkDsnNotify) flags : MSGTRK_DSN_NOTIFY_NEVER;
}

/**
 * msgtrk_settings_set_dsn_notify:
 * @settings: org.msgtrk
 * @notify: the conditions; none (or %MSGTRK_DSN_NOTIFY_NEVER) is written as "never"
 */
void
msgtrk_settings_set_dsn_notify (GSettings      *settings,
                                MsgtrkDsnNotify notify)
{
  const char *words[G_N_ELEMENTS (notify_words) + 1];
  guint n = 0;

  if (!(notify & MSGTRK_DSN_NOTIFY_NEVER))
    for (gsize j = 0; j < G_N_ELEMENTS (notify_words); j++)
      if (notify & notify_words[j].flag)
        words[n++] = notify_words[j].word;
  if (n == 0)
    words[n++] = "never";
  words[n] = NULL;
  g_settings_set_strv (settings, "dsn-notify", words);
}

/**
 * msgtrk_settings_get_dsn_ret:
 * @settings: org.msgtrk
 *
 * Returns: %MSGTRK_DSN_RET_FULL for "full", else %MSGTRK_DSN_RET_HDRS
 */
MsgtrkDsnRet
msgtrk_settings_get_dsn_ret (GSettings *settings)
{
  g_autofree char *ret = g_settings_get_string (settings, "dsn-ret");

  return g_strcmp0 (ret, "full") == 0 ? MSGTRK_DSN_RET_FULL : MSGTRK_DSN_RET_HDRS;
}

/**
 * msgtrk_settings_set_dsn_ret:
 * @settings: org.msgtrk
 * @ret: %MSGTRK_DSN_RET_FULL writes "full"; anything else "hdrs"
 */
void
msgtrk_settings_set_dsn_ret (GSettings   *settings,
                             MsgtrkDsnRet ret)
{
  g_settings_set_string (settings, "dsn-ret", ret == MSGTRK_DSN_RET_FULL ? "full" : "hdrs");
}
