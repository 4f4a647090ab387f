/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-ui.h: every piece of Evolution UI glue of the msgtrk module, in one place.
 *
 * What: puts msgtrk's actions into Evolution's windows. Today: the composer's "Track this
 * message" toggle (Options menu and main toolbar).
 * Why one file: Evolution 3.46 builds menus with GtkUIManager/GtkAction; Evolution 3.55
 * replaced them. The behaviour (msgtrk-evo-composer.c) calls only these functions, so a
 * port to the new UI touches this file alone.
 * Also: the Tracking column's consent item in the mail view's View menu; message boxes; the
 * preferences page's registration and its Edit menu item (the page itself,
 * msgtrk-evo-prefs.c, is plain GTK 3 widgets, no GtkUIManager).
 * Never: decide anything (what the toggle means is the caller's business).
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The composer action's name (also its toolbar item's). */
#define MSGTRK_EVO_ACTION_TRACK "msgtrk-track"

typedef void (*MsgtrkEvoToggled) (gboolean active, gpointer user_data);

/* Adds the toggle to the composer window COMPOSER (an EMsgComposer), initially ACTIVE;
 * TOGGLED is called on every change, by the user or by msgtrk_evo_ui_set_track(). */
gboolean msgtrk_evo_ui_add_track_toggle (GObject           *composer,
                                         gboolean           active,
                                         MsgtrkEvoToggled   toggled,
                                         gpointer           user_data,
                                         GError           **error);
gboolean msgtrk_evo_ui_get_track        (GObject           *composer);
void     msgtrk_evo_ui_set_track        (GObject           *composer,
                                         gboolean           active);

/* The mail view's View menu item that adds or removes the Tracking column (the user's
 * consent to an entry in EDS's user-header list), on SHELL_WINDOW (an EShellWindow); shown
 * only while the mail view is active. */
#define MSGTRK_EVO_ACTION_COLUMN "msgtrk-show-column"

gboolean msgtrk_evo_ui_add_column_toggle (GObject          *shell_window,
                                          gboolean          active,
                                          MsgtrkEvoToggled  toggled,
                                          gpointer          user_data,
                                          GError          **error);
/* Sets the item without calling its TOGGLED. */
void     msgtrk_evo_ui_set_column        (GObject          *shell_window,
                                          gboolean          active);

/* Adds the message list's user-header column number INDEX (0 … 2) to the mail view of
 * SHELL_WINDOW, at the end, unless it is shown already; FALSE when there is no mail view or
 * no such column. */
gboolean msgtrk_evo_ui_show_user_header_column (GObject *shell_window,
                                                int      index);

/* The reader's actions (Message menu and message-list popup of the mail view). */
#define MSGTRK_EVO_ACTION_READER_TRACK "msgtrk-reader-track"
#define MSGTRK_EVO_ACTION_READER_COPY_LINK "msgtrk-reader-copy-link"
#define MSGTRK_EVO_ACTION_READER_IMPORT_LINK "msgtrk-reader-import-link"

typedef void (*MsgtrkEvoActivated) (gpointer user_data);

/* Adds the three actions to SHELL_WINDOW's UI manager (not shown until merged). */
void     msgtrk_evo_ui_reader_add        (GObject            *shell_window,
                                          MsgtrkEvoActivated  track,
                                          MsgtrkEvoActivated  copy_link,
                                          MsgtrkEvoActivated  import_link,
                                          gpointer            user_data);
/* Shows them (when the mail view becomes active): a merge id for _unmerge, or 0. */
guint    msgtrk_evo_ui_reader_merge      (GObject            *shell_window,
                                          GError            **error);
void     msgtrk_evo_ui_reader_unmerge    (GObject            *shell_window,
                                          guint               merge_id);
/* Track… and Copy tracking link apply to one selected tracked message only. */
void     msgtrk_evo_ui_reader_set_tracked (GObject           *shell_window,
                                           gboolean           tracked);
/* Whether Track… and Copy tracking link are sensitive now (read from the actions). */
gboolean msgtrk_evo_ui_reader_get_tracked (GObject           *shell_window);
/* TEXT to the CLIPBOARD selection only (never PRIMARY: a secret must not be pasted by a
 * middle click). */
void     msgtrk_evo_ui_copy_to_clipboard (const char         *text);
/* Asks for an mtqp:// link; NULL when cancelled. */
char    *msgtrk_evo_ui_ask_link          (GObject            *parent_window);

/* The preferences page: registered once per EShell (SHELL) in its Preferences window, under
 * MSGTRK_EVO_PREFS_PAGE; CREATE builds the page the first time the window is set up. */
#define MSGTRK_EVO_PREFS_PAGE "msgtrk"
#define MSGTRK_EVO_ACTION_PREFERENCES "msgtrk-preferences"

typedef GtkWidget *(*MsgtrkEvoCreatePage) (GObject *shell);

void     msgtrk_evo_ui_add_prefs_page    (GObject             *shell,
                                          MsgtrkEvoCreatePage  create);
/* Edit ▸ Message Tracking Preferences… on SHELL_WINDOW: opens the page. */
gboolean msgtrk_evo_ui_add_prefs_action  (GObject            *shell_window,
                                          GError            **error);

/* A tracked message cannot leave tracked: what the user wants instead. */
typedef enum
{
  MSGTRK_EVO_UI_ANSWER_CANCEL,         /* back to the composer */
  MSGTRK_EVO_UI_ANSWER_SEND_UNTRACKED, /* send it without tracking */
  MSGTRK_EVO_UI_ANSWER_KEEP_IN_OUTBOX, /* keep it (tracked) for a later Send / Receive */
} MsgtrkEvoUiAnswer;

/* Asks, modal on PARENT_WINDOW; OFFER_OUTBOX: "Keep in Outbox" is a choice. */
MsgtrkEvoUiAnswer msgtrk_evo_ui_ask_untracked (GObject    *parent_window,
                                               const char *primary,
                                               const char *secondary,
                                               gboolean    offer_outbox);

/* A modal message for the user: PRIMARY in bold, SECONDARY (may be NULL) below. */
void     msgtrk_evo_ui_show_message      (GObject          *parent_window,
                                          gboolean          is_error,
                                          const char       *primary,
                                          const char       *secondary);

G_END_DECLS
