/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-claws.h: what the parts of the Claws Mail plugin share.
 *
 * The plugin is thin glue between Claws Mail and msgtrkd (org.msgtrk.Tracker1 on the
 * session bus). It never sees the tracking secret A, never blocks the UI on the network
 * (every D-Bus call is asynchronous; SMTP runs on Claws's non-blocking session), and never
 * sends a message untracked without the user saying so.
 */
#pragma once

#include "config.h"

#include <glib.h>
#include <gtk/gtk.h>

#include "msgtrk-dbus-generated.h"

/* Translations: the plugin's strings are in msgtrk's own domain (GETTEXT_PACKAGE from
 * config.h, bound in plugin_init), never in Claws's. Include this header after Claws's
 * headers: any _() they brought in is replaced by one that names our domain. Plural forms:
 * g_dngettext (GETTEXT_PACKAGE, …). */
#undef _
#undef N_
#define _(s) ((char *) g_dgettext (GETTEXT_PACKAGE, (s)))
#define N_(s) (s)
/* A string Claws translates itself, in its own domain (its "Plugins" preferences node). */
#define MTC_CLAWS_GETTEXT(s) g_dgettext ("claws-mail", (s))

/* Claws's own types (declared in its headers). */
typedef struct _PrefsAccount PrefsAccount;
typedef struct _FolderItem FolderItem;
typedef struct _MsgInfo MsgInfo;

/* The special header (in Claws's queue-file header block, never sent) that marks a queued
 * message as one to send tracked. Only this plugin sends such messages: they are also
 * locked, so that Claws's own queue sender skips them, and their recipients are kept under
 * MTC_RCPT_HEADER instead of Claws's "R:", so that Claws's sender refuses them even
 * unlocked (a crash loses the lock). See docs/claws-plugin.md, "Crash safety". */
#define MTC_TRACK_HEADER "X-Msgtrk-Track:"
#define MTC_TRACK_LINE MTC_TRACK_HEADER " yes\n"
#define MTC_RCPT_HEADER "X-Msgtrk-R:"
/* Also a special header (never sent): the user asked relays to report the route
 * (Harrison's Content-Track, docs/harrison.md); the send adds "Content-Track: <key>". */
#define MTC_CONTENT_TRACK_HEADER "X-Msgtrk-Content-Track:"
#define MTC_CONTENT_TRACK_LINE MTC_CONTENT_TRACK_HEADER " yes\n"
/* Largest TRACK: mail read and handed to msgtrkd (its own limit, MSGTRKD_HARRISON_MAX_
 * MESSAGE_SIZE); a larger one is left alone. */
#define MTC_TRACK_MAIL_MAX (64 * 1024)

/* Prefix of the Tags-column text this plugin sets on Sent messages. */
#define MTC_TAG_PREFIX "\xe2\x9c\x89 " /* U+2709 ENVELOPE, space */

/* Longest queue file header block we read (special headers plus message headers). */
#define MTC_QUEUE_HEADER_MAX (256 * 1024)

/* msgtrk-claws.c */
MsgtrkDBusTracker1 *mtc_get_proxy            (void);
void                mtc_remember_envid       (const char *envid,
                                              const char *message_id);
void                mtc_refresh_message_ids  (const char * const *message_ids);
void                mtc_tag_message          (MsgInfo    *info,
                                              const char *text);
/* The plugin's own state, beside msgtrkd's (MsgtrkMessageState): the user chose "Send
 * untracked" because msgtrkd was unavailable. */
#define MTC_STATE_NOT_TRACKED "not-tracked"
const char         *mtc_state_label          (const char *state);
const char         *mtc_latest_status        (const char *message_id);
void                mtc_forget_status        (const char *message_id);
void                mtc_folder_busy_enter    (void);
void                mtc_folder_busy_leave    (void);
gboolean            mtc_folder_is_busy       (void);

/* msgtrk-claws-send.c */
gboolean mtc_queue_file_is_tracked  (const char *path);
gboolean mtc_queue_mark_tracked     (FolderItem *queue,
                                     gint        msgnum,
                                     gint       *new_num,
                                     GError    **error);
gboolean mtc_queue_mark_tracked_full (FolderItem *queue,
                                      gint        msgnum,
                                      gint       *new_num,
                                      gboolean    content_track,
                                      GError    **error);
void     mtc_send_queued            (FolderItem *queue,
                                     gint        msgnum);
void     mtc_send_all_tracked_queued (void);
guint    mtc_send_adopt_queued      (gboolean resume_sent);
gboolean mtc_send_have_tracked_queued (void);
void     mtc_crash_point            (const char *name);
void     mtc_send_shutdown          (void);

/* msgtrk-claws-links.c */
void mtc_links_show  (void);
void mtc_links_close (void);

/* msgtrk-claws-prefs.c */
void      mtc_prefs_init              (void);
void      mtc_prefs_done              (void);
gboolean  mtc_prefs_track_default     (PrefsAccount *account);
guint     mtc_prefs_dsn_notify        (void);
guint     mtc_prefs_dsn_ret           (void);
gboolean  mtc_prefs_show_tags         (void);
gint      mtc_prefs_asked_upto        (const char *folder_id);
void      mtc_prefs_set_asked_upto    (const char *folder_id,
                                       gint        msgnum);
void      mtc_prefs_forget_asked      (void);
