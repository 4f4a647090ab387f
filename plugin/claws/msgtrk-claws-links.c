/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-claws-links.c: Message ▸ Tracked links…, where a delegate finds again the messages
 * someone gave them a tracking link for.
 *
 * What: a window listing the messages msgtrkd follows through an imported mtqp:// link
 * (tracking "delegated" in msgtrkd's List), newest first: subject, recipients, status, and
 * when they were sent. Track… (or a double-click) opens the delivery map (ShowMessage with
 * the ENVID); Refresh asks msgtrkd again. The window is not modal; one at a time.
 * How: one asynchronous List call per look (msgtrkd answers JSON), parsed with json-glib.
 * Limits: shows at most MTC_LINKS_MAX rows (msgtrkd's List is the whole store).
 * Never: blocks the UI on msgtrkd, sees or shows a secret (List carries none), or keeps the
 * link itself (msgtrkd has it, in the keyring).
 */
#include <string.h>

#include "defs.h"
#include "utils.h"
#include "mainwindow.h"
#include "alertpanel.h"

#include <json-glib/json-glib.h>
#include "msgtrk-claws.h"

/* Most rows shown (the newest). */
#define MTC_LINKS_MAX 1000
/* msgtrkd's List tracking value for a message followed through an imported link. */
#define MTC_TRACKING_DELEGATED "delegated"

enum
{
  COL_SUBJECT,
  COL_RECIPIENTS,
  COL_STATUS,
  COL_SENT,
  COL_ENVID,
  N_COLS
};

typedef struct
{
  GtkWidget *window;
  GtkListStore *store;
  GtkWidget *view;
  GtkWidget *note;
  GCancellable *cancellable;
} LinksWindow;

static LinksWindow *links;   /* the open window, or NULL */

static void links_refresh (void);

static const char *
member_string (JsonObject *obj, const char *name)
{
  JsonNode *n = json_object_get_member (obj, name);

  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
           ? json_node_get_string (n)
           : "";
}

/* One List answer: the delegated messages into the store. */
static void
links_fill (const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonArray *array;
  guint shown = 0;

  gtk_list_store_clear (links->store);
  if (!json_parser_load_from_data (parser, json, -1, &error)
      || !JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)))
    {
      gtk_label_set_text (GTK_LABEL (links->note), error ? error->message
                                                         : _("msgtrkd's answer is not a list"));
      return;
    }
  array = json_node_get_array (json_parser_get_root (parser));
  for (guint i = 0; i < json_array_get_length (array) && shown < MTC_LINKS_MAX; i++)
    {
      JsonObject *obj = json_array_get_object_element (array, i);
      JsonNode *rcpts;
      g_autoptr (GString) to = g_string_new (NULL);
      const char *subject;

      if (obj == NULL || !g_str_equal (member_string (obj, "tracking"), MTC_TRACKING_DELEGATED))
        continue;
      rcpts = json_object_get_member (obj, "recipients");
      if (rcpts && JSON_NODE_HOLDS_ARRAY (rcpts))
        {
          JsonArray *a = json_node_get_array (rcpts);
          for (guint j = 0; j < json_array_get_length (a); j++)
            {
              const char *r = json_array_get_string_element (a, j);
              if (r == NULL)
                continue;
              if (to->len)
                g_string_append (to, ", ");
              g_string_append (to, r);
            }
        }
      subject = member_string (obj, "subject");
      gtk_list_store_insert_with_values (links->store, NULL, -1,
                                         COL_SUBJECT, *subject ? subject : _("(no subject)"),
                                         COL_RECIPIENTS, to->str,
                                         COL_STATUS, mtc_state_label (member_string (obj, "state")),
                                         COL_SENT, member_string (obj, "sent"),
                                         COL_ENVID, member_string (obj, "envid"), -1);
      shown++;
    }
  g_debug ("Tracked links: %u shown", shown);
  gtk_label_set_text (GTK_LABEL (links->note),
                      shown ? "" : _("No tracking links yet: Message ▸ Track a link… follows "
                                     "a link someone gave you, and it stays listed here."));
}

static void
list_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;

  if (!msgtrk_dbus_tracker1_call_list_finish (MSGTRK_DBUS_TRACKER1 (source), &json, res,
                                              &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;   /* the window is gone */
      g_dbus_error_strip_remote_error (error);
      if (links)
        gtk_label_set_text (GTK_LABEL (links->note), error->message);
      return;
    }
  if (links)
    links_fill (json);
}

static void
links_refresh (void)
{
  MsgtrkDBusTracker1 *proxy = mtc_get_proxy ();

  if (proxy == NULL)
    {
      gtk_label_set_text (GTK_LABEL (links->note),
                          _("The tracking helper (msgtrkd) cannot be reached."));
      return;
    }
  gtk_label_set_text (GTK_LABEL (links->note), _("Asking msgtrkd…"));
  msgtrk_dbus_tracker1_call_list (proxy, links->cancellable, list_cb, NULL);
}

static void
show_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!msgtrk_dbus_tracker1_call_show_message_finish (MSGTRK_DBUS_TRACKER1 (source), res,
                                                      &error)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_dbus_error_strip_remote_error (error);
      alertpanel_error ("%s:\n%s", _("Could not open the tracking viewer"), error->message);
    }
}

static void
track_selected_row (void)
{
  GtkTreeSelection *sel = gtk_tree_view_get_selection (GTK_TREE_VIEW (links->view));
  GtkTreeModel *model;
  GtkTreeIter iter;
  g_autofree char *envid = NULL;

  if (!gtk_tree_selection_get_selected (sel, &model, &iter) || mtc_get_proxy () == NULL)
    return;
  gtk_tree_model_get (model, &iter, COL_ENVID, &envid, -1);
  if (envid && *envid)
    msgtrk_dbus_tracker1_call_show_message (mtc_get_proxy (), envid, links->cancellable,
                                            show_cb, NULL);
}

static void
row_activated_cb (GtkTreeView *view, GtkTreePath *path, GtkTreeViewColumn *col, gpointer d)
{
  track_selected_row ();
}

static void
response_cb (GtkDialog *dialog, gint response, gpointer data)
{
  if (response == 1)
    track_selected_row ();
  else if (response == 2)
    links_refresh ();
  else
    gtk_widget_destroy (GTK_WIDGET (dialog));
}

static void
destroy_cb (GtkWidget *w, gpointer data)
{
  if (links == NULL)
    return;
  g_cancellable_cancel (links->cancellable);
  g_clear_object (&links->cancellable);
  g_clear_object (&links->store);
  g_clear_pointer (&links, g_free);
}

/* Message ▸ Tracked links…: open (or raise) the window. */
void
mtc_links_show (void)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  GtkWidget *content, *scroll;
  static const struct { const char *title; gint col; } cols[] = {
    { N_("Subject"), COL_SUBJECT },
    { N_("Recipients"), COL_RECIPIENTS },
    { N_("Status"), COL_STATUS },
    { N_("Sent"), COL_SENT },
  };

  if (links)
    {
      gtk_window_present (GTK_WINDOW (links->window));
      links_refresh ();
      return;
    }
  links = g_new0 (LinksWindow, 1);
  links->cancellable = g_cancellable_new ();
  links->store = gtk_list_store_new (N_COLS, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                                     G_TYPE_STRING, G_TYPE_STRING);
  links->window = gtk_dialog_new_with_buttons (_("Tracked links"),
                                               mainwin ? GTK_WINDOW (mainwin->window) : NULL,
                                               GTK_DIALOG_DESTROY_WITH_PARENT,
                                               _("_Refresh"), 2, _("_Track…"), 1,
                                               _("_Close"), GTK_RESPONSE_CLOSE, NULL);
  gtk_window_set_default_size (GTK_WINDOW (links->window), 760, 360);
  content = gtk_dialog_get_content_area (GTK_DIALOG (links->window));
  links->view = gtk_tree_view_new_with_model (GTK_TREE_MODEL (links->store));
  for (gsize i = 0; i < G_N_ELEMENTS (cols); i++)
    {
      GtkTreeViewColumn *c = gtk_tree_view_column_new_with_attributes (
        _(cols[i].title), gtk_cell_renderer_text_new (), "text", cols[i].col, NULL);
      gtk_tree_view_column_set_resizable (c, TRUE);
      gtk_tree_view_append_column (GTK_TREE_VIEW (links->view), c);
    }
  scroll = gtk_scrolled_window_new (NULL, NULL);
  gtk_container_add (GTK_CONTAINER (scroll), links->view);
  gtk_box_pack_start (GTK_BOX (content), scroll, TRUE, TRUE, 0);
  links->note = gtk_label_new ("");
  gtk_label_set_line_wrap (GTK_LABEL (links->note), TRUE);
  gtk_box_pack_start (GTK_BOX (content), links->note, FALSE, FALSE, 6);
  g_signal_connect (links->view, "row-activated", G_CALLBACK (row_activated_cb), NULL);
  g_signal_connect (links->window, "response", G_CALLBACK (response_cb), NULL);
  g_signal_connect (links->window, "destroy", G_CALLBACK (destroy_cb), NULL);
  gtk_widget_show_all (links->window);
  links_refresh ();
}

/* Plugin unload: close the window. */
void
mtc_links_close (void)
{
  if (links)
    gtk_widget_destroy (links->window);
}
