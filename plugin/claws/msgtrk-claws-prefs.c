/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-claws-prefs.c: the plugin's preferences page (Configuration ▸ Preferences ▸
 * Plugins ▸ Message tracking).
 *
 * Shared settings (DSN NOTIFY/RET, MTRK timeout, Tags column, notifications, default) live
 * in the GSettings schema org.msgtrk, which msgtrkd and other plugins read too. What is
 * Claws's own — tracking by default per account, whether the user was asked about the Tags
 * column — lives in Claws's configuration directory, file "msgtrkrc" (a key file).
 * Without the installed schema the shared settings keep their documented defaults (and the
 * page says so) instead of aborting, as GSettings would do.
 */
#include <string.h>

#include "defs.h"
#include "utils.h"
#include "account.h"
#include "prefs_account.h"
#include "prefs_common.h"
#include "prefs_gtk.h"
#include "prefswindow.h"
#include "mainwindow.h"
#include "summaryview.h"
#include "alertpanel.h"

#include <msgtrk.h>
#include "msgtrk-claws.h"
#include "msgtrk-settings.h"

#define MTC_SCHEMA_ID "org.msgtrk"
#define MTC_RC_FILE "msgtrkrc"
#define MTC_DAY_SECONDS 86400u
/* MTRK retention offered on the page, in days (the schema allows more: kept as is). */
#define MTC_RETENTION_DAYS_MAX 365

typedef struct {
  PrefsPage page;
  GtkWidget *box;
  GPtrArray *account_checks;    /* GtkCheckButton per account, "account-id" data */
  GtkWidget *notify_success, *notify_failure, *notify_delay;
  GtkWidget *ret_full;
  GtkWidget *retention_days;
  GtkWidget *show_tags;
  GtkWidget *notify_delivered, *notify_delayed, *notify_failed;
} MtcPrefsPage;

static GSettings *settings;
static GKeyFile *rc;
static MtcPrefsPage prefs_page;
static char *page_path[3];
static guint ask_idle_id;

static char *
rc_path (void)
{
  return g_build_filename (get_rc_dir (), MTC_RC_FILE, NULL);
}

static void
rc_save (void)
{
  g_autofree char *path = rc_path ();
  g_autoptr (GError) error = NULL;

  if (!g_key_file_save_to_file (rc, path, &error))
    g_warning ("Could not save %s: %s", path, error->message);
}

static char *
account_group (gint id)
{
  return g_strdup_printf ("Account %d", id);
}

gboolean
mtc_prefs_track_default (PrefsAccount *account)
{
  gboolean def = settings ? g_settings_get_boolean (settings, "track-by-default") : FALSE;
  g_autofree char *group = NULL;
  g_autoptr (GError) error = NULL;
  gboolean v;

  if (account == NULL || rc == NULL)
    return def;
  group = account_group (account->account_id);
  v = g_key_file_get_boolean (rc, group, "track", &error);
  return error ? def : v;
}

guint
mtc_prefs_dsn_notify (void)
{
  if (settings == NULL)
    return MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_FAILURE | MSGTRK_DSN_NOTIFY_DELAY;
  return msgtrk_settings_get_dsn_notify (settings);
}

guint
mtc_prefs_dsn_ret (void)
{
  return settings != NULL ? msgtrk_settings_get_dsn_ret (settings) : MSGTRK_DSN_RET_HDRS;
}

gboolean
mtc_prefs_show_tags (void)
{
  return settings ? g_settings_get_boolean (settings, "show-tags-column") : TRUE;
}

/* Claws's Tags column is hidden by default: turn it on, once, if the user agrees. */
static void
tags_column_on (void)
{
  PrefsCommon *pc = prefs_common_get_prefs ();
  MainWindow *mainwin = mainwindow_get_mainwindow ();

  if (pc->summary_col_visible[S_COL_TAGS])
    return;
  pc->summary_col_visible[S_COL_TAGS] = TRUE;
  if (mainwin && mainwin->summaryview)
    summary_set_column_order (mainwin->summaryview);
}

static gboolean
ask_tags_column_idle (gpointer data)
{
  PrefsCommon *pc = prefs_common_get_prefs ();
  AlertValue val;

  ask_idle_id = 0;
  if (rc == NULL || !mtc_prefs_show_tags () || pc->summary_col_visible[S_COL_TAGS]
      || g_key_file_get_boolean (rc, "Plugin", "asked-tags-column", NULL))
    return G_SOURCE_REMOVE;
  g_key_file_set_boolean (rc, "Plugin", "asked-tags-column", TRUE);
  rc_save ();
  val = alertpanel (_("Message tracking"),
                    _("Show the tracking status of sent messages (In transit, Delivered, …) in "
                      "the Tags column of the message list?"),
                    NULL, _("_No"), NULL, _("_Show"), NULL, NULL, ALERTFOCUS_SECOND);
  if ((val & ~G_ALERTDISABLE) == G_ALERTALTERNATE)
    tags_column_on ();
  return G_SOURCE_REMOVE;
}

/* ---- the page ---- */

static GtkWidget *
frame_box (GtkWidget *parent, const char *title)
{
  GtkWidget *frame = gtk_frame_new (title);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);

  gtk_container_set_border_width (GTK_CONTAINER (box), 6);
  gtk_container_add (GTK_CONTAINER (frame), box);
  gtk_box_pack_start (GTK_BOX (parent), frame, FALSE, FALSE, 0);
  return box;
}

static GtkWidget *
check (GtkWidget *box, const char *label, gboolean active)
{
  GtkWidget *w = gtk_check_button_new_with_mnemonic (label);

  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (w), active);
  gtk_box_pack_start (GTK_BOX (box), w, FALSE, FALSE, 0);
  return w;
}

static void
create_widget (PrefsPage *_page, GtkWindow *window, gpointer data)
{
  MtcPrefsPage *page = (MtcPrefsPage *) _page;
  GtkWidget *vbox = gtk_box_new (GTK_ORIENTATION_VERTICAL, 8);
  GtkWidget *box, *hbox, *w;
  guint notify = mtc_prefs_dsn_notify ();

  gtk_container_set_border_width (GTK_CONTAINER (vbox), 8);
  if (settings == NULL)
    {
      w = gtk_label_new (_("The msgtrk settings schema (org.msgtrk) is not installed: the "
                           "shared settings below show their defaults and cannot be changed."));
      gtk_label_set_line_wrap (GTK_LABEL (w), TRUE);
      gtk_box_pack_start (GTK_BOX (vbox), w, FALSE, FALSE, 0);
    }

  box = frame_box (vbox, _("Track new messages by default"));
  page->account_checks = g_ptr_array_new ();
  for (GList *l = account_get_list (); l; l = l->next)
    {
      PrefsAccount *ac = l->data;
      if (ac->protocol == A_NNTP)
        continue;
      w = check (box, ac->account_name ? ac->account_name : ac->address,
                 mtc_prefs_track_default (ac));
      g_object_set_data (G_OBJECT (w), "account-id", GINT_TO_POINTER (ac->account_id));
      g_ptr_array_add (page->account_checks, w);
    }

  box = frame_box (vbox, _("Delivery status notifications (DSN) asked for"));
  page->notify_success = check (box, _("On _success (delivered)"),
                                notify & MSGTRK_DSN_NOTIFY_SUCCESS);
  page->notify_failure = check (box, _("On _failure"), notify & MSGTRK_DSN_NOTIFY_FAILURE);
  page->notify_delay = check (box, _("On _delay"), notify & MSGTRK_DSN_NOTIFY_DELAY);
  w = gtk_radio_button_new_with_mnemonic (NULL, _("Return only the _headers (RET=HDRS)"));
  gtk_box_pack_start (GTK_BOX (box), w, FALSE, FALSE, 0);
  page->ret_full = gtk_radio_button_new_with_mnemonic_from_widget (
      GTK_RADIO_BUTTON (w), _("Return the _whole message (RET=FULL)"));
  gtk_box_pack_start (GTK_BOX (box), page->ret_full, FALSE, FALSE, 0);
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (page->ret_full),
                                mtc_prefs_dsn_ret () == MSGTRK_DSN_RET_FULL);

  box = frame_box (vbox, _("Tracking"));
  hbox = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  /* TRANSLATORS: "Servers keep tracking information for [7] days": the label, a number
   * field, then the label "days". */
  gtk_box_pack_start (GTK_BOX (hbox), gtk_label_new (_("Servers keep tracking information for")),
                      FALSE, FALSE, 0);
  page->retention_days = gtk_spin_button_new_with_range (1, MTC_RETENTION_DAYS_MAX, 1);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (page->retention_days),
                             settings ? g_settings_get_uint (settings, "mtrk-timeout") / MTC_DAY_SECONDS
                                      : 7);
  gtk_box_pack_start (GTK_BOX (hbox), page->retention_days, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (hbox), gtk_label_new (_("days")), FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), hbox, FALSE, FALSE, 0);
  page->show_tags = check (box, _("Show the status in the _Tags column of the Sent folder"),
                           mtc_prefs_show_tags ());

  box = frame_box (vbox, _("Desktop notifications (from msgtrkd)"));
  page->notify_delivered = check (box, _("When a message is deli_vered"),
                                  settings ? g_settings_get_boolean (settings, "notify-delivered") : TRUE);
  page->notify_delayed = check (box, _("When a message is dela_yed"),
                                settings ? g_settings_get_boolean (settings, "notify-delayed") : TRUE);
  page->notify_failed = check (box, _("When delivery fai_ls"),
                               settings ? g_settings_get_boolean (settings, "notify-failed") : TRUE);
  if (settings == NULL)
    for (GtkWidget **p = &page->notify_success; p <= &page->notify_failed; p++)
      if (*p)
        gtk_widget_set_sensitive (*p, FALSE);

  gtk_widget_show_all (vbox);
  page->box = vbox;
  page->page.widget = vbox;
}

static void
destroy_widget (PrefsPage *_page)
{
  MtcPrefsPage *page = (MtcPrefsPage *) _page;

  g_clear_pointer (&page->account_checks, g_ptr_array_unref);
}

static gboolean
active (GtkWidget *w)
{
  return gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (w));
}

static void
save_page (PrefsPage *_page)
{
  MtcPrefsPage *page = (MtcPrefsPage *) _page;

  for (guint i = 0; page->account_checks && i < page->account_checks->len; i++)
    {
      GtkWidget *w = g_ptr_array_index (page->account_checks, i);
      g_autofree char *group = account_group (GPOINTER_TO_INT (g_object_get_data (G_OBJECT (w), "account-id")));
      g_key_file_set_boolean (rc, group, "track", active (w));
    }
  rc_save ();
  if (settings == NULL)
    return;
  msgtrk_settings_set_dsn_notify (
    settings, (active (page->notify_success) ? MSGTRK_DSN_NOTIFY_SUCCESS : 0)
                | (active (page->notify_failure) ? MSGTRK_DSN_NOTIFY_FAILURE : 0)
                | (active (page->notify_delay) ? MSGTRK_DSN_NOTIFY_DELAY : 0));
  msgtrk_settings_set_dsn_ret (settings,
                               active (page->ret_full) ? MSGTRK_DSN_RET_FULL : MSGTRK_DSN_RET_HDRS);
  g_settings_set_uint (settings, "mtrk-timeout",
                       (guint) gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (page->retention_days))
                         * MTC_DAY_SECONDS);
  g_settings_set_boolean (settings, "show-tags-column", active (page->show_tags));
  if (active (page->show_tags))
    tags_column_on ();
  g_settings_set_boolean (settings, "notify-delivered", active (page->notify_delivered));
  g_settings_set_boolean (settings, "notify-delayed", active (page->notify_delayed));
  g_settings_set_boolean (settings, "notify-failed", active (page->notify_failed));
}

/* ---- what msgtrkd was asked, across sessions ---- */

/* The key of a folder in the [Asked] group: a digest of its identifier (identifiers start
 * with '#', which a key file would read as a comment). */
static char *
asked_key (const char *folder_id)
{
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, folder_id, -1);

  return g_strdup_printf ("folder-%.32s", sum);
}

/* The highest message number of the folder up to which every message without a status
 * tag was asked and msgtrkd did not know it (so it needs no asking again), or -1. */
gint
mtc_prefs_asked_upto (const char *folder_id)
{
  g_autofree char *key = NULL;
  g_autoptr (GError) error = NULL;
  gint n;

  if (rc == NULL || folder_id == NULL)
    return -1;
  key = asked_key (folder_id);
  n = g_key_file_get_integer (rc, "Asked", key, &error);
  return error ? -1 : n;
}

void
mtc_prefs_set_asked_upto (const char *folder_id, gint msgnum)
{
  g_autofree char *key = NULL;

  if (rc == NULL || folder_id == NULL || mtc_prefs_asked_upto (folder_id) == msgnum)
    return;
  key = asked_key (folder_id);
  g_key_file_set_integer (rc, "Asked", key, msgnum);
  rc_save ();
}

/* Every folder is asked in full again (status tags were removed or hidden). */
void
mtc_prefs_forget_asked (void)
{
  if (rc && g_key_file_has_group (rc, "Asked"))
    {
      g_key_file_remove_group (rc, "Asked", NULL);
      rc_save ();
    }
}

void
mtc_prefs_init (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;
  g_autofree char *path = rc_path ();

  if (source)
    schema = g_settings_schema_source_lookup (source, MTC_SCHEMA_ID, TRUE);
  if (schema)
    settings = g_settings_new_full (schema, NULL, NULL);
  else
    g_message ("GSettings schema %s not found: using default tracking settings", MTC_SCHEMA_ID);
  rc = g_key_file_new ();
  (void) g_key_file_load_from_file (rc, path, G_KEY_FILE_KEEP_COMMENTS, NULL);

  /* "Plugins" in Claws's own words, so that the page lands in Claws's Plugins node. */
  page_path[0] = (char *) MTC_CLAWS_GETTEXT ("Plugins");
  page_path[1] = _("Message tracking");
  page_path[2] = NULL;
  memset (&prefs_page, 0, sizeof prefs_page);
  prefs_page.page.path = page_path;
  prefs_page.page.create_widget = create_widget;
  prefs_page.page.destroy_widget = destroy_widget;
  prefs_page.page.save_page = save_page;
  prefs_page.page.weight = 40.0;
  prefs_gtk_register_page ((PrefsPage *) &prefs_page);

  ask_idle_id = g_idle_add (ask_tags_column_idle, NULL);
}

void
mtc_prefs_done (void)
{
  if (ask_idle_id)
    g_source_remove (ask_idle_id);
  ask_idle_id = 0;
  prefs_gtk_unregister_page ((PrefsPage *) &prefs_page);
  g_clear_object (&settings);
  g_clear_pointer (&rc, g_key_file_unref);
}
