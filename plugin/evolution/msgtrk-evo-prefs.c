/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-prefs.c: the "Message Tracking" page of Evolution's Preferences window.
 *
 * What: see msgtrk-evo-prefs.h.
 * How: plain GTK 3 widgets (no GtkUIManager: nothing here changes for Evolution 3.55's new
 * UI); org.msgtrk keys through g_settings_bind() where they map to one widget property;
 * the account switches call msgtrk-evo-accounts.c on the main thread (one D-Bus round trip
 * to the source registry per click) and go back with a message on failure.
 * Limits: see msgtrk-evo-prefs.h; without the org.msgtrk schema installed only the account
 * and column parts are shown.
 * Never: write a setting the user did not change; g_settings_new() on a missing schema.
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <libemail-engine/libemail-engine.h>
#include <mail/e-mail-backend.h>
#include <shell/e-shell.h>

#include "msgtrk-camel-transport.h"
#include <msgtrk.h>
#include "msgtrk-evo-accounts.h"
#include "msgtrk-evo-column.h"
#include "msgtrk-evo-prefs.h"
#include "msgtrk-settings.h"
#include "msgtrk-evo-ui.h"

#define SECONDS_PER_DAY 86400u
/* The longest "keep tracking information" the page offers: the MTRK timeout's limit. */
#define MSGTRK_EVO_PREFS_DAYS_MAX (MSGTRK_MTRK_TIMEOUT_MAX / SECONDS_PER_DAY)

typedef struct
{
  EShell *shell;           /* (unowned) lives as long as Evolution */
  GSettings *msgtrk;       /* (owned) (nullable) org.msgtrk */
  GSettings *eds;          /* (owned) EDS's settings (the column key) */
  GtkWidget *column_check; /* (unowned) */
  GtkWidget *notify_success, *notify_failure, *notify_delay, *ret_full;
  gboolean quiet;          /* widgets are being set from the settings */
} Page;

static void
page_free (gpointer data)
{
  Page *page = data;

  if (page->eds)
    g_signal_handlers_disconnect_by_data (page->eds, page);
  if (page->msgtrk)
    g_signal_handlers_disconnect_by_data (page->msgtrk, page);
  g_clear_object (&page->msgtrk);
  g_clear_object (&page->eds);
  g_free (page);
}

static GSettings *
settings_if_installed (const char *id)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema
    = source ? g_settings_schema_source_lookup (source, id, TRUE) : NULL;

  return schema ? g_settings_new_full (schema, NULL, NULL) : NULL;
}

static GtkWidget *
section (GtkWidget *page_box, const char *title)
{
  g_autofree char *markup = g_markup_printf_escaped ("<b>%s</b>", title);
  GtkWidget *label = gtk_label_new (NULL);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);

  gtk_label_set_markup (GTK_LABEL (label), markup);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_box_pack_start (GTK_BOX (page_box), label, FALSE, FALSE, 0);
  gtk_widget_set_margin_start (box, 12);
  gtk_box_pack_start (GTK_BOX (page_box), box, FALSE, FALSE, 0);
  return box;
}

static GtkWidget *
note (GtkWidget *box, const char *text)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_line_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 70);
  gtk_style_context_add_class (gtk_widget_get_style_context (label), "dim-label");
  gtk_box_pack_start (GTK_BOX (box), label, FALSE, FALSE, 0);
  return label;
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
set_quietly (Page *page, GtkWidget *w, gboolean active)
{
  page->quiet = TRUE;
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (w), active);
  page->quiet = FALSE;
}

/* ---- accounts ---- */

#define TRANSPORT_KEY "msgtrk-transport-uid"
#define DEFAULT_CHECK_KEY "msgtrk-default-check"

static CamelSession *
mail_session (Page *page)
{
  EShellBackend *backend = e_shell_get_backend_by_name (page->shell, "mail");

  return E_IS_MAIL_BACKEND (backend)
           ? CAMEL_SESSION (e_mail_backend_get_session (E_MAIL_BACKEND (backend)))
           : NULL;
}

static void
send_tracked_toggled_cb (GtkToggleButton *button, gpointer data)
{
  Page *page = data;
  const char *uid = g_object_get_data (G_OBJECT (button), TRANSPORT_KEY);
  GtkWidget *default_check = g_object_get_data (G_OBJECT (button), DEFAULT_CHECK_KEY);
  gboolean on = gtk_toggle_button_get_active (button);
  g_autoptr (GError) error = NULL;

  if (page->quiet)
    return;
  if (!msgtrk_evo_accounts_set_tracked (e_shell_get_registry (page->shell), mail_session (page),
                                        uid, on, NULL, &error))
    {
      set_quietly (page, GTK_WIDGET (button), !on);
      msgtrk_evo_ui_show_message (G_OBJECT (gtk_widget_get_toplevel (GTK_WIDGET (button))),
                                  TRUE, _("The sending server could not be changed"),
                                  error->message);
      return;
    }
  gtk_widget_set_sensitive (default_check, on);
  set_quietly (page, default_check,
               msgtrk_evo_accounts_get_track_default (e_shell_get_registry (page->shell), uid));
}

static void
track_default_toggled_cb (GtkToggleButton *button, gpointer data)
{
  Page *page = data;
  const char *uid = g_object_get_data (G_OBJECT (button), TRANSPORT_KEY);
  gboolean on = gtk_toggle_button_get_active (button);
  g_autoptr (GError) error = NULL;

  if (page->quiet)
    return;
  if (!msgtrk_evo_accounts_set_track_default (e_shell_get_registry (page->shell), uid, on, NULL,
                                              &error))
    {
      set_quietly (page, GTK_WIDGET (button), !on);
      msgtrk_evo_ui_show_message (G_OBJECT (gtk_widget_get_toplevel (GTK_WIDGET (button))),
                                  TRUE, _("The setting could not be saved"), error->message);
    }
}

static void
accounts_section (Page *page, GtkWidget *page_box)
{
  GtkWidget *box = section (page_box, _("Accounts"));
  g_autoptr (GPtrArray) accounts = msgtrk_evo_accounts_list (e_shell_get_registry (page->shell));
  GtkWidget *grid = gtk_grid_new ();

  note (box, _("An account that sends with tracking uses “SMTP with tracking”: the same "
               "server, port, encryption and login. Only messages marked “Track this "
               "message” ask the servers on the way for tracking."));
  gtk_grid_set_row_spacing (GTK_GRID (grid), 6);
  gtk_grid_set_column_spacing (GTK_GRID (grid), 18);
  gtk_box_pack_start (GTK_BOX (box), grid, FALSE, FALSE, 0);
  if (accounts->len == 0)
    note (box, _("No account sends through an SMTP server."));
  for (guint i = 0; i < accounts->len; i++)
    {
      MsgtrkEvoAccount *a = g_ptr_array_index (accounts, i);
      GtkWidget *name = gtk_label_new (a->display_name);
      GtkWidget *send = gtk_check_button_new_with_mnemonic (_("Send with _tracking"));
      GtkWidget *def = gtk_check_button_new_with_mnemonic (_("Track _new messages"));

      gtk_label_set_xalign (GTK_LABEL (name), 0);
      gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (send), a->tracked);
      gtk_toggle_button_set_active (
        GTK_TOGGLE_BUTTON (def),
        msgtrk_evo_accounts_get_track_default (e_shell_get_registry (page->shell),
                                               a->transport_uid));
      gtk_widget_set_sensitive (def, a->tracked);
      gtk_widget_set_tooltip_text (def, _("Whether “Track this message” starts ticked in new "
                                          "messages from this account"));
      g_object_set_data_full (G_OBJECT (send), TRANSPORT_KEY, g_strdup (a->transport_uid),
                              g_free);
      g_object_set_data_full (G_OBJECT (def), TRANSPORT_KEY, g_strdup (a->transport_uid),
                              g_free);
      g_object_set_data (G_OBJECT (send), DEFAULT_CHECK_KEY, def);
      g_signal_connect (send, "toggled", G_CALLBACK (send_tracked_toggled_cb), page);
      g_signal_connect (def, "toggled", G_CALLBACK (track_default_toggled_cb), page);
      gtk_grid_attach (GTK_GRID (grid), name, 0, (int) i, 1, 1);
      gtk_grid_attach (GTK_GRID (grid), send, 1, (int) i, 1, 1);
      gtk_grid_attach (GTK_GRID (grid), def, 2, (int) i, 1, 1);
    }
}

/* ---- DSN (org.msgtrk dsn-notify, dsn-ret) ---- */

static void
dsn_from_settings (Page *page)
{
  MsgtrkDsnNotify notify = msgtrk_settings_get_dsn_notify (page->msgtrk);

  set_quietly (page, page->notify_success, (notify & MSGTRK_DSN_NOTIFY_SUCCESS) != 0);
  set_quietly (page, page->notify_failure, (notify & MSGTRK_DSN_NOTIFY_FAILURE) != 0);
  set_quietly (page, page->notify_delay, (notify & MSGTRK_DSN_NOTIFY_DELAY) != 0);
  set_quietly (page, page->ret_full,
               msgtrk_settings_get_dsn_ret (page->msgtrk) == MSGTRK_DSN_RET_FULL);
}

static gboolean
toggle_is_active (GtkWidget *button)
{
  return gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (button));
}

static void
dsn_toggled_cb (GtkToggleButton *button, gpointer data)
{
  Page *page = data;

  if (page->quiet)
    return;
  msgtrk_settings_set_dsn_notify (
    page->msgtrk, (toggle_is_active (page->notify_success) ? MSGTRK_DSN_NOTIFY_SUCCESS : 0)
                    | (toggle_is_active (page->notify_failure) ? MSGTRK_DSN_NOTIFY_FAILURE : 0)
                    | (toggle_is_active (page->notify_delay) ? MSGTRK_DSN_NOTIFY_DELAY : 0));
  msgtrk_settings_set_dsn_ret (page->msgtrk, toggle_is_active (page->ret_full)
                                               ? MSGTRK_DSN_RET_FULL
                                               : MSGTRK_DSN_RET_HDRS);
}

static void
dsn_changed_cb (GSettings *settings, const char *key, gpointer data)
{
  dsn_from_settings (data);
}

static void
dsn_section (Page *page, GtkWidget *page_box)
{
  GtkWidget *box = section (page_box, _("Delivery status notifications (DSN) asked for"));
  GtkWidget *hdrs;

  page->notify_success = check (box, _("On _success (delivered)"), FALSE);
  page->notify_failure = check (box, _("On _failure"), FALSE);
  page->notify_delay = check (box, _("On _delay"), FALSE);
  hdrs = gtk_radio_button_new_with_mnemonic (NULL, _("Return only the _headers (RET=HDRS)"));
  page->ret_full = gtk_radio_button_new_with_mnemonic_from_widget (
    GTK_RADIO_BUTTON (hdrs), _("Return the _whole message (RET=FULL)"));
  gtk_box_pack_start (GTK_BOX (box), hdrs, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), page->ret_full, FALSE, FALSE, 0);
  dsn_from_settings (page);
  g_signal_connect (page->notify_success, "toggled", G_CALLBACK (dsn_toggled_cb), page);
  g_signal_connect (page->notify_failure, "toggled", G_CALLBACK (dsn_toggled_cb), page);
  g_signal_connect (page->notify_delay, "toggled", G_CALLBACK (dsn_toggled_cb), page);
  g_signal_connect (page->ret_full, "toggled", G_CALLBACK (dsn_toggled_cb), page);
  g_signal_connect (page->msgtrk, "changed::dsn-notify", G_CALLBACK (dsn_changed_cb), page);
  g_signal_connect (page->msgtrk, "changed::dsn-ret", G_CALLBACK (dsn_changed_cb), page);
}

/* ---- tracking: retention and the column ---- */

static gboolean
seconds_to_days (GValue *value, GVariant *variant, gpointer user_data)
{
  guint32 seconds = g_variant_get_uint32 (variant);

  g_value_set_double (value, MAX (1u, (seconds + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY));
  return TRUE;
}

static GVariant *
days_to_seconds (const GValue *value, const GVariantType *type, gpointer user_data)
{
  double days = CLAMP (g_value_get_double (value), 1, MSGTRK_EVO_PREFS_DAYS_MAX);

  return g_variant_new_uint32 ((guint32) days * SECONDS_PER_DAY);
}

static gboolean
column_is_on (Page *page)
{
  g_auto (GStrv) entries = g_settings_get_strv (page->eds, MSGTRK_EVO_USER_HEADERS_KEY);

  return msgtrk_evo_column_index ((const char * const *) entries) >= 0;
}

static void
column_toggled_cb (GtkToggleButton *button, gpointer data)
{
  Page *page = data;
  g_auto (GStrv) entries = g_settings_get_strv (page->eds, MSGTRK_EVO_USER_HEADERS_KEY);
  g_auto (GStrv) changed = NULL;

  if (page->quiet)
    return;
  if (gtk_toggle_button_get_active (button))
    /* TRANSLATORS: the Tracking column's title in Evolution's message list. */
    changed = msgtrk_evo_column_add ((const char * const *) entries, _("Tracking"), NULL);
  else
    changed = msgtrk_evo_column_remove ((const char * const *) entries);
  if (changed == NULL)
    {
      set_quietly (page, GTK_WIDGET (button), FALSE);
      msgtrk_evo_ui_show_message (G_OBJECT (gtk_widget_get_toplevel (GTK_WIDGET (button))),
                                  TRUE, _("There is no room for the Tracking column"),
                                  _("Evolution shows at most three columns of extra headers, "
                                    "and all three are set (Evolution Data Server's "
                                    "“camel-message-info-user-headers” setting). Remove "
                                    "one of them, then try again."));
      return;
    }
  if (!g_strv_equal ((const char * const *) entries, (const char * const *) changed))
    g_settings_set_strv (page->eds, MSGTRK_EVO_USER_HEADERS_KEY, (const char * const *) changed);
}

static void
column_changed_cb (GSettings *settings, const char *key, gpointer data)
{
  Page *page = data;

  set_quietly (page, page->column_check, column_is_on (page));
}

static void
tracking_section (Page *page, GtkWidget *page_box)
{
  GtkWidget *box = section (page_box, _("Tracking"));

  if (page->msgtrk)
    {
      GtkWidget *hbox = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
      GtkWidget *spin = gtk_spin_button_new_with_range (1, MSGTRK_EVO_PREFS_DAYS_MAX, 1);

      gtk_box_pack_start (GTK_BOX (hbox), gtk_label_new (_("Servers keep tracking information for")),
                          FALSE, FALSE, 0);
      gtk_box_pack_start (GTK_BOX (hbox), spin, FALSE, FALSE, 0);
      gtk_box_pack_start (GTK_BOX (hbox), gtk_label_new (_("days")), FALSE, FALSE, 0);
      gtk_box_pack_start (GTK_BOX (box), hbox, FALSE, FALSE, 0);
      g_settings_bind_with_mapping (page->msgtrk, "mtrk-timeout", spin, "value",
                                    G_SETTINGS_BIND_DEFAULT, seconds_to_days, days_to_seconds,
                                    NULL, NULL);
    }
  page->column_check = check (box, _("Show the Tra_cking column in the message list"),
                              column_is_on (page));
  note (box, _("The column is kept in one of the three places for extra message headers "
               "that Evolution Data Server shares with every program that uses Evolution's "
               "mail store; other programs' columns are kept. Also View ▸ Tracking Column."));
  g_signal_connect (page->column_check, "toggled", G_CALLBACK (column_toggled_cb), page);
  g_signal_connect (page->eds, "changed::" MSGTRK_EVO_USER_HEADERS_KEY,
                    G_CALLBACK (column_changed_cb), page);
}

/* ---- notifications (msgtrkd's) ---- */

static void
notify_section (Page *page, GtkWidget *page_box)
{
  GtkWidget *box = section (page_box, _("Desktop notifications (from msgtrkd)"));
  const struct
  {
    const char *key;
    const char *label;
  } keys[] = {
    { "notify-delivered", N_("When a message is deli_vered") },
    { "notify-delayed", N_("When a message is dela_yed") },
    { "notify-failed", N_("When delivery fai_ls") },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    g_settings_bind (page->msgtrk, keys[i].key, check (box, _(keys[i].label), FALSE), "active",
                     G_SETTINGS_BIND_DEFAULT);
}

GtkWidget *
msgtrk_evo_prefs_page_new (GObject *shell)
{
  Page *page = g_new0 (Page, 1);
  GtkWidget *scrolled = gtk_scrolled_window_new (NULL, NULL);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);

  page->shell = E_SHELL (shell);
  page->msgtrk = settings_if_installed (MSGTRK_CAMEL_SETTINGS_SCHEMA);
  page->eds = g_settings_new (MSGTRK_EVO_EDS_SCHEMA);
  gtk_container_set_border_width (GTK_CONTAINER (box), 12);
  accounts_section (page, box);
  if (page->msgtrk)
    dsn_section (page, box);
  tracking_section (page, box);
  if (page->msgtrk)
    notify_section (page, box);
  else
    note (box, _("The msgtrk settings schema (org.msgtrk) is not installed: delivery report, "
                 "retention and notification settings cannot be changed here."));
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_container_add (GTK_CONTAINER (scrolled), box);
  g_object_set_data_full (G_OBJECT (scrolled), "msgtrk-evo-prefs-page", page, page_free);
  gtk_widget_show_all (scrolled);
  return scrolled;
}
