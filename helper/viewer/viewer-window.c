/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-window.c: the delivery-map window of one message (docs/viewer.md).
 *
 * Shows the message (subject, sent time, sender, summary), each recipient with a status
 * badge (colour and words), the route diagram (viewer-diagram.c over viewer-layout.c) and
 * the event timeline; header-bar buttons Refresh (Track), Copy tracking link (ExportUrl to
 * the clipboard, after a confirmation) and Stop tracking (Forget, after a confirmation).
 * Redraws on StatusChanged for its message. All D-Bus calls are asynchronous.
 *
 * Never: shows remote text as markup (labels are plain text); keeps the exported URL (it
 * holds the tracking secret) beyond handing it to the clipboard.
 */
#include "config.h"

#include "viewer-window.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "msgtrk.h"
#include "msgtrk-dbus-generated.h"
#include "msgtrkd-error.h"
#include "viewer-diagram.h"
#include "viewer-layout.h"

/* Seconds a notice ("Tracking link copied") stays visible. */
#define NOTICE_SECONDS 5

struct _ViewerWindow
{
  GtkApplicationWindow parent_instance;

  char *id;          /* as asked (envid or Message-ID), NULL for the empty window */
  char *envid;       /* once known */
  char *message_id;  /* once known, without angle brackets */
  MsgtrkDBusTracker1 *proxy;
  GCancellable *cancellable;
  JsonNode *route;
  ViewerLayout *layout;
  guint notice_id;

  GtkWidget *stack;
  GtkWidget *status_label;   /* page "status": loading, errors, empty window */
  GtkWidget *subject_label;
  GtkWidget *sent_label;
  GtkWidget *from_label;
  GtkWidget *summary_label;
  GtkWidget *tracking_label;
  GtkWidget *recipients_box;
  GtkWidget *hidden_label;
  GtkWidget *drawing_area;
  GtkWidget *timeline;
  GtkWidget *notice_revealer;
  GtkWidget *notice_label;
};

G_DEFINE_FINAL_TYPE (ViewerWindow, viewer_window, GTK_TYPE_APPLICATION_WINDOW)

enum
{
  PROP_0,
  PROP_ID,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void fetch_route (ViewerWindow *self);

/* --- helpers --------------------------------------------------------------------------- */

static const char *
obj_str (JsonObject *obj,
         const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonArray *
obj_array (JsonObject *obj,
           const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static char *
strip_brackets (const char *id)
{
  gsize len = strlen (id);

  if (len >= 2 && id[0] == '<' && id[len - 1] == '>')
    return g_strndup (id + 1, len - 2);
  return g_strdup (id);
}

static char *
local_time (const char *iso)
{
  g_autoptr(GDateTime) utc = NULL;
  g_autoptr(GDateTime) local = NULL;

  if (iso == NULL)
    return NULL;
  utc = g_date_time_new_from_iso8601 (iso, NULL);
  if (utc == NULL)
    return g_strdup (iso);
  local = g_date_time_to_local (utc);
  return g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
}

/* A text for the user from a D-Bus error (remote prefix stripped). */
static char *
error_text (GError     *error,
            const char *id)
{
  if (g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND))
    return g_strdup_printf (_("No tracked message has the id “%s”."), id ? id : "");
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    return g_strdup (_("The tracking helper (msgtrkd) is not running and could not be started."));
  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);
  return g_strdup (error->message);
}

static void
show_status (ViewerWindow *self,
             const char   *text)
{
  gtk_label_set_text (GTK_LABEL (self->status_label), text);
  gtk_stack_set_visible_child_name (GTK_STACK (self->stack), "status");
}

static gboolean
hide_notice (gpointer user_data)
{
  ViewerWindow *self = user_data;

  gtk_revealer_set_reveal_child (GTK_REVEALER (self->notice_revealer), FALSE);
  self->notice_id = 0;
  return G_SOURCE_REMOVE;
}

/* A short notice under the header bar ("Tracking link copied", errors of actions). */
static void
show_notice (ViewerWindow *self,
             const char   *text)
{
  gtk_label_set_text (GTK_LABEL (self->notice_label), text);
  gtk_revealer_set_reveal_child (GTK_REVEALER (self->notice_revealer), TRUE);
  if (self->notice_id != 0)
    g_source_remove (self->notice_id);
  self->notice_id = g_timeout_add_seconds (NOTICE_SECONDS, hide_notice, self);
}

static void
set_actions_enabled (ViewerWindow *self,
                     gboolean      enabled)
{
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "viewer.refresh", enabled);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "viewer.copy-link", enabled);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "viewer.forget", enabled);
}

/* --- filling the window from a route --------------------------------------------------- */

static GtkWidget *
make_badge (const char *state)
{
  g_autofree char *text = NULL;
  const char *symbol = "";
  GtkWidget *badge;

  if (g_strcmp0 (state, "delivered") == 0)
    symbol = "✓ ";
  else if (g_strcmp0 (state, "failed") == 0)
    symbol = "✗ ";
  else if (g_strcmp0 (state, "in-transit") == 0)
    symbol = "→ ";
  else if (g_strcmp0 (state, "delayed") == 0)
    symbol = "… ";
  text = g_strconcat (symbol, viewer_diagram_state_label (state), NULL);
  badge = gtk_label_new (text);
  gtk_widget_add_css_class (badge, "msgtrk-badge");
  gtk_widget_add_css_class (badge, state != NULL && g_regex_match_simple ("^[a-z-]+$", state, 0, 0)
                                       ? state : "unknown");
  gtk_widget_set_valign (badge, GTK_ALIGN_CENTER);
  return badge;
}

static void
clear_box (GtkWidget *box)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (box)) != NULL)
    {
      if (GTK_IS_FLOW_BOX (box))
        gtk_flow_box_remove (GTK_FLOW_BOX (box), child);
      else if (GTK_IS_LIST_BOX (box))
        gtk_list_box_remove (GTK_LIST_BOX (box), child);
      else
        gtk_box_remove (GTK_BOX (box), child);
    }
}

static void
fill_recipients (ViewerWindow *self,
                 JsonObject   *route)
{
  JsonArray *recipients = obj_array (route, "recipients");
  guint i;

  clear_box (self->recipients_box);
  for (i = 0; recipients != NULL && i < json_array_get_length (recipients); i++)
    {
      JsonNode *node = json_array_get_element (recipients, i);
      JsonObject *rcpt = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      GtkWidget *item, *address;

      if (rcpt == NULL)
        continue;
      item = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
      address = gtk_label_new (obj_str (rcpt, "address") ? obj_str (rcpt, "address") : "—");
      gtk_label_set_selectable (GTK_LABEL (address), TRUE);
      gtk_box_append (GTK_BOX (item), address);
      gtk_box_append (GTK_BOX (item), make_badge (obj_str (rcpt, "state")));
      gtk_flow_box_append (GTK_FLOW_BOX (self->recipients_box), item);
    }
}

static void
fill_timeline (ViewerWindow *self,
               JsonObject   *route)
{
  JsonArray *events = obj_array (route, "events");
  guint i, n = events != NULL ? json_array_get_length (events) : 0;

  clear_box (self->timeline);
  if (n == 0)
    {
      GtkWidget *none = gtk_label_new (_("No events yet."));

      gtk_widget_add_css_class (none, "dim-label");
      gtk_widget_set_margin_top (none, 12);
      gtk_widget_set_margin_bottom (none, 12);
      gtk_list_box_append (GTK_LIST_BOX (self->timeline), none);
      return;
    }
  for (i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (events, i);
      JsonObject *ev = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      g_autofree char *when = NULL;
      g_autofree char *source = NULL;
      GtkWidget *row, *time_label, *source_label, *text_label;

      if (ev == NULL)
        continue;
      when = local_time (obj_str (ev, "at"));
      source = g_ascii_strup (obj_str (ev, "source") ? obj_str (ev, "source") : "?", -1);
      row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
      gtk_widget_set_margin_start (row, 12);
      gtk_widget_set_margin_end (row, 12);
      gtk_widget_set_margin_top (row, 4);
      gtk_widget_set_margin_bottom (row, 4);
      time_label = gtk_label_new (when ? when : "—");
      gtk_widget_add_css_class (time_label, "numeric");
      gtk_widget_add_css_class (time_label, "dim-label");
      source_label = gtk_label_new (source);
      gtk_widget_add_css_class (source_label, "msgtrk-source");
      gtk_label_set_width_chars (GTK_LABEL (source_label), 6);
      text_label = gtk_label_new (obj_str (ev, "text") ? obj_str (ev, "text") : "");
      gtk_label_set_xalign (GTK_LABEL (text_label), 0);
      gtk_label_set_wrap (GTK_LABEL (text_label), TRUE);
      gtk_label_set_selectable (GTK_LABEL (text_label), TRUE);
      gtk_widget_set_hexpand (text_label, TRUE);
      gtk_box_append (GTK_BOX (row), time_label);
      gtk_box_append (GTK_BOX (row), source_label);
      gtk_box_append (GTK_BOX (row), text_label);
      gtk_list_box_append (GTK_LIST_BOX (self->timeline), row);
    }
}

static void
fill (ViewerWindow *self)
{
  JsonObject *route = json_node_get_object (self->route);
  const char *subject = obj_str (route, "subject");
  g_autofree char *sent = local_time (obj_str (route, "sent"));
  g_autofree char *title = NULL;
  g_autofree char *tracking = NULL;
  g_autofree char *summary = NULL;

  g_free (self->envid);
  self->envid = g_strdup (obj_str (route, "envid"));
  g_free (self->message_id);
  self->message_id = obj_str (route, "message_id") ? strip_brackets (obj_str (route, "message_id")) : NULL;

  title = g_strdup_printf (_("%s — Delivery map"), subject && *subject ? subject : _("(no subject)"));
  gtk_window_set_title (GTK_WINDOW (self), title);
  gtk_label_set_text (GTK_LABEL (self->subject_label), subject && *subject ? subject : _("(no subject)"));
  gtk_label_set_text (GTK_LABEL (self->sent_label), sent ? sent : _("not sent yet"));
  gtk_label_set_text (GTK_LABEL (self->from_label), obj_str (route, "sender") ? obj_str (route, "sender") : "—");
  summary = g_strdup_printf ("%s (%s)", obj_str (route, "summary") ? obj_str (route, "summary") : "—",
                             viewer_diagram_state_label (obj_str (route, "state")));
  gtk_label_set_text (GTK_LABEL (self->summary_label), summary);
  if (obj_str (route, "submission_host") != NULL)
    tracking = g_strdup_printf (_("%s, submitted to %s"),
                                obj_str (route, "tracking") ? obj_str (route, "tracking") : "—",
                                obj_str (route, "submission_host"));
  else
    tracking = g_strdup (obj_str (route, "tracking") ? obj_str (route, "tracking") : "—");
  gtk_label_set_text (GTK_LABEL (self->tracking_label), tracking);

  fill_recipients (self, route);
  fill_timeline (self, route);

  g_clear_pointer (&self->layout, viewer_layout_free);
  self->layout = viewer_layout_compute (route);
  gtk_drawing_area_set_content_width (GTK_DRAWING_AREA (self->drawing_area), (int) self->layout->width);
  gtk_drawing_area_set_content_height (GTK_DRAWING_AREA (self->drawing_area), (int) self->layout->height);
  if (self->layout->hidden_recipients > 0 || self->layout->hidden_hops > 0)
    {
      g_autofree char *text = g_strdup_printf (_("Not drawn: %u more recipients, %u more hops (see msgtrk show)."),
                                               self->layout->hidden_recipients, self->layout->hidden_hops);
      gtk_label_set_text (GTK_LABEL (self->hidden_label), text);
      gtk_widget_set_visible (self->hidden_label, TRUE);
    }
  else
    gtk_widget_set_visible (self->hidden_label, FALSE);
  gtk_widget_queue_draw (self->drawing_area);
  gtk_stack_set_visible_child_name (GTK_STACK (self->stack), "map");
  set_actions_enabled (self, TRUE);
}

/* --- D-Bus ----------------------------------------------------------------------------- */

static void
on_route (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  g_autoptr(JsonParser) parser = NULL;
  ViewerWindow *self;

  if (!msgtrk_dbus_tracker1_call_get_route_finish (MSGTRK_DBUS_TRACKER1 (source), &json, result, &error))
    {
      g_autofree char *text = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      self = user_data;
      text = error_text (error, self->id);
      if (self->route == NULL)
        show_status (self, text);
      else
        show_notice (self, text);
      return;
    }
  self = user_data;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, json, -1, &error) || json_parser_get_root (parser) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      show_status (self, _("The tracking helper sent a route this viewer cannot read; are msgtrkd and "
                           "msgtrk-viewer the same version?"));
      return;
    }
  g_clear_pointer (&self->route, json_node_unref);
  self->route = json_node_copy (json_parser_get_root (parser));
  fill (self);
}

static void
fetch_route (ViewerWindow *self)
{
  msgtrk_dbus_tracker1_call_get_route (self->proxy, self->envid ? self->envid : self->id, self->cancellable,
                                       on_route, self);
}

static void
on_status_changed (MsgtrkDBusTracker1 *proxy,
                   const char         *envid,
                   const char         *state,
                   const char         *summary,
                   gpointer            user_data)
{
  ViewerWindow *self = user_data;

  if (self->envid != NULL && g_strcmp0 (envid, self->envid) == 0)
    fetch_route (self);
}

static void
on_proxy (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  MsgtrkDBusTracker1 *proxy = msgtrk_dbus_tracker1_proxy_new_for_bus_finish (result, &error);
  ViewerWindow *self;

  if (proxy == NULL)
    {
      g_autofree char *text = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      self = user_data;
      text = g_strdup_printf (_("Cannot connect to the session bus: %s"), error->message);
      show_status (self, text);
      return;
    }
  self = user_data;
  self->proxy = proxy;
  g_signal_connect_object (proxy, "status-changed", G_CALLBACK (on_status_changed), self, 0);
  fetch_route (self);
}

static void
on_track (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  ViewerWindow *self;

  if (!msgtrk_dbus_tracker1_call_track_finish (MSGTRK_DBUS_TRACKER1 (source), result, &error))
    {
      g_autofree char *text = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      self = user_data;
      text = error_text (error, self->id);
      show_notice (self, text);
      return;
    }
  self = user_data;
  show_notice (self, _("Asked the servers again; the map updates when something changes."));
}

static void
refresh_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  ViewerWindow *self = VIEWER_WINDOW (widget);

  if (self->proxy == NULL || self->envid == NULL)
    return;
  msgtrk_dbus_tracker1_call_track (self->proxy, self->envid, self->cancellable, on_track, self);
}

static void
on_export_url (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  char *url = NULL;
  ViewerWindow *self;

  if (!msgtrk_dbus_tracker1_call_export_url_finish (MSGTRK_DBUS_TRACKER1 (source), &url, result, &error))
    {
      g_autofree char *text = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      self = user_data;
      text = error_text (error, self->id);
      show_notice (self, text);
      return;
    }
  self = user_data;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)), url);
  msgtrk_secure_free_string (url);
  show_notice (self, _("Tracking link copied. Whoever you give it to can track this message."));
}

static void
on_copy_confirmed (GtkDialog *dialog,
                   int        response,
                   gpointer   user_data)
{
  ViewerWindow *self = user_data;

  gtk_window_destroy (GTK_WINDOW (dialog));
  if (response == GTK_RESPONSE_ACCEPT && self->proxy != NULL && self->envid != NULL)
    msgtrk_dbus_tracker1_call_export_url (self->proxy, self->envid, self->cancellable, on_export_url, self);
}

static GtkWidget *
confirm_dialog (ViewerWindow *self,
                const char   *primary,
                const char   *secondary,
                const char   *accept_label,
                gboolean      destructive)
{
  GtkWidget *dialog = gtk_message_dialog_new (GTK_WINDOW (self), GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                              GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE, "%s", primary);
  GtkWidget *accept;

  gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", secondary);
  gtk_dialog_add_button (GTK_DIALOG (dialog), _("_Cancel"), GTK_RESPONSE_CANCEL);
  accept = gtk_dialog_add_button (GTK_DIALOG (dialog), accept_label, GTK_RESPONSE_ACCEPT);
  gtk_widget_add_css_class (accept, destructive ? "destructive-action" : "suggested-action");
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_CANCEL);
  return dialog;
}

static void
copy_link_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  ViewerWindow *self = VIEWER_WINDOW (widget);
  GtkWidget *dialog = confirm_dialog (self, _("Copy the tracking link?"),
                                      _("Anyone who has this link can see where this message went and when, "
                                        "until tracking ends. Share it only with people you trust."),
                                      _("C_opy Link"), FALSE);

  g_signal_connect (dialog, "response", G_CALLBACK (on_copy_confirmed), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_forget (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  ViewerWindow *self;

  if (!msgtrk_dbus_tracker1_call_forget_finish (MSGTRK_DBUS_TRACKER1 (source), result, &error))
    {
      g_autofree char *text = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      self = user_data;
      text = error_text (error, self->id);
      show_notice (self, text);
      return;
    }
  self = user_data;
  gtk_window_destroy (GTK_WINDOW (self));
}

static void
on_forget_confirmed (GtkDialog *dialog,
                     int        response,
                     gpointer   user_data)
{
  ViewerWindow *self = user_data;

  gtk_window_destroy (GTK_WINDOW (dialog));
  if (response == GTK_RESPONSE_ACCEPT && self->proxy != NULL && self->envid != NULL)
    msgtrk_dbus_tracker1_call_forget (self->proxy, self->envid, self->cancellable, on_forget, self);
}

static void
forget_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  ViewerWindow *self = VIEWER_WINDOW (widget);
  GtkWidget *dialog = confirm_dialog (self, _("Stop tracking this message?"),
                                      _("Its tracking secret and history are deleted. Tracking cannot be "
                                        "resumed later, and links you shared stop working here."),
                                      _("_Stop Tracking"), TRUE);

  g_signal_connect (dialog, "response", G_CALLBACK (on_forget_confirmed), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* --- drawing --------------------------------------------------------------------------- */

static void
draw_diagram (GtkDrawingArea *area,
              cairo_t        *cr,
              int             width,
              int             height,
              gpointer        user_data)
{
  ViewerWindow *self = user_data;

  viewer_diagram_draw (GTK_WIDGET (area), cr, self->layout);
}

/* --- construction ---------------------------------------------------------------------- */

static GtkWidget *
field_label (GtkWidget  *grid,
             int         row,
             const char *name)
{
  GtkWidget *key = gtk_label_new (name);
  GtkWidget *value = gtk_label_new ("");

  gtk_label_set_xalign (GTK_LABEL (key), 1);
  gtk_widget_add_css_class (key, "dim-label");
  gtk_label_set_xalign (GTK_LABEL (value), 0);
  gtk_label_set_selectable (GTK_LABEL (value), TRUE);
  gtk_label_set_ellipsize (GTK_LABEL (value), PANGO_ELLIPSIZE_END);
  gtk_grid_attach (GTK_GRID (grid), key, 0, row, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), value, 1, row, 1, 1);
  return value;
}

static GtkWidget *
section_title (const char *text)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_add_css_class (label, "heading");
  return label;
}

static void
build_ui (ViewerWindow *self)
{
  GtkWidget *header = gtk_header_bar_new ();
  GtkWidget *button, *page, *top, *grid, *paned, *scroller, *timeline_box, *overlay, *diagram_box;

  /* Header bar: Stop tracking and Copy link at the start, Refresh at the end. */
  button = gtk_button_new_with_mnemonic (_("_Stop Tracking"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "viewer.forget");
  gtk_widget_set_tooltip_text (button, _("Stop tracking this message and delete its secret"));
  gtk_header_bar_pack_start (GTK_HEADER_BAR (header), button);
  button = gtk_button_new_with_mnemonic (_("_Copy Tracking Link"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "viewer.copy-link");
  gtk_widget_set_tooltip_text (button, _("Copy a link that lets someone else track this message"));
  gtk_header_bar_pack_start (GTK_HEADER_BAR (header), button);
  button = gtk_button_new_from_icon_name ("view-refresh-symbolic");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "viewer.refresh");
  gtk_widget_set_tooltip_text (button, _("Ask the servers again (F5)"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Refresh"), -1);
  gtk_header_bar_pack_end (GTK_HEADER_BAR (header), button);
  gtk_window_set_titlebar (GTK_WINDOW (self), header);

  self->stack = gtk_stack_new ();

  /* Page "status": loading, errors, the empty window. */
  self->status_label = gtk_label_new (_("Loading…"));
  gtk_label_set_wrap (GTK_LABEL (self->status_label), TRUE);
  gtk_label_set_justify (GTK_LABEL (self->status_label), GTK_JUSTIFY_CENTER);
  gtk_widget_add_css_class (self->status_label, "title-4");
  gtk_widget_set_margin_start (self->status_label, 48);
  gtk_widget_set_margin_end (self->status_label, 48);
  gtk_stack_add_named (GTK_STACK (self->stack), self->status_label, "status");

  /* Page "map". */
  page = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  self->notice_revealer = gtk_revealer_new ();
  self->notice_label = gtk_label_new ("");
  gtk_label_set_wrap (GTK_LABEL (self->notice_label), TRUE);
  gtk_widget_add_css_class (self->notice_label, "msgtrk-notice");
  gtk_revealer_set_child (GTK_REVEALER (self->notice_revealer), self->notice_label);
  gtk_box_append (GTK_BOX (page), self->notice_revealer);

  top = gtk_box_new (GTK_ORIENTATION_VERTICAL, 8);
  gtk_widget_set_margin_start (top, 18);
  gtk_widget_set_margin_end (top, 18);
  gtk_widget_set_margin_top (top, 12);
  gtk_widget_set_margin_bottom (top, 8);
  self->subject_label = gtk_label_new ("");
  gtk_label_set_xalign (GTK_LABEL (self->subject_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (self->subject_label), PANGO_ELLIPSIZE_END);
  gtk_label_set_selectable (GTK_LABEL (self->subject_label), TRUE);
  gtk_widget_add_css_class (self->subject_label, "title-2");
  gtk_box_append (GTK_BOX (top), self->subject_label);
  grid = gtk_grid_new ();
  gtk_grid_set_column_spacing (GTK_GRID (grid), 12);
  gtk_grid_set_row_spacing (GTK_GRID (grid), 2);
  self->sent_label = field_label (grid, 0, _("Sent"));
  self->from_label = field_label (grid, 1, _("From"));
  self->summary_label = field_label (grid, 2, _("Status"));
  self->tracking_label = field_label (grid, 3, _("Tracking"));
  gtk_box_append (GTK_BOX (top), grid);
  self->recipients_box = gtk_flow_box_new ();
  gtk_flow_box_set_selection_mode (GTK_FLOW_BOX (self->recipients_box), GTK_SELECTION_NONE);
  gtk_flow_box_set_max_children_per_line (GTK_FLOW_BOX (self->recipients_box), 4);
  gtk_flow_box_set_column_spacing (GTK_FLOW_BOX (self->recipients_box), 24);
  gtk_flow_box_set_homogeneous (GTK_FLOW_BOX (self->recipients_box), FALSE);
  gtk_box_append (GTK_BOX (top), section_title (_("Recipients")));
  gtk_box_append (GTK_BOX (top), self->recipients_box);
  gtk_box_append (GTK_BOX (page), top);

  paned = gtk_paned_new (GTK_ORIENTATION_VERTICAL);
  gtk_widget_set_vexpand (paned, TRUE);
  diagram_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  {
    GtkWidget *title = section_title (_("Route"));

    gtk_widget_set_margin_start (title, 18);
    gtk_box_append (GTK_BOX (diagram_box), title);
  }
  self->hidden_label = gtk_label_new ("");
  gtk_widget_add_css_class (self->hidden_label, "dim-label");
  gtk_widget_set_visible (self->hidden_label, FALSE);
  gtk_box_append (GTK_BOX (diagram_box), self->hidden_label);
  self->drawing_area = gtk_drawing_area_new ();
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->drawing_area), draw_diagram, self, NULL);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->drawing_area), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Route diagram: each recipient's hops from left to right"), -1);
  scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), self->drawing_area);
  gtk_widget_set_vexpand (scroller, TRUE);
  overlay = scroller;
  gtk_box_append (GTK_BOX (diagram_box), overlay);
  gtk_paned_set_start_child (GTK_PANED (paned), diagram_box);
  gtk_paned_set_resize_start_child (GTK_PANED (paned), TRUE);
  gtk_paned_set_shrink_start_child (GTK_PANED (paned), FALSE);

  timeline_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  {
    GtkWidget *title = section_title (_("Events"));

    gtk_widget_set_margin_start (title, 18);
    gtk_widget_set_margin_top (title, 6);
    gtk_box_append (GTK_BOX (timeline_box), title);
  }
  self->timeline = gtk_list_box_new ();
  gtk_list_box_set_selection_mode (GTK_LIST_BOX (self->timeline), GTK_SELECTION_NONE);
  scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), self->timeline);
  gtk_scrolled_window_set_min_content_height (GTK_SCROLLED_WINDOW (scroller), 150);
  gtk_widget_set_vexpand (scroller, TRUE);
  gtk_box_append (GTK_BOX (timeline_box), scroller);
  gtk_paned_set_end_child (GTK_PANED (paned), timeline_box);
  gtk_paned_set_shrink_end_child (GTK_PANED (paned), FALSE);
  gtk_paned_set_position (GTK_PANED (paned), 360);
  gtk_box_append (GTK_BOX (page), paned);
  gtk_stack_add_named (GTK_STACK (self->stack), page, "map");

  gtk_window_set_child (GTK_WINDOW (self), self->stack);
  gtk_window_set_default_size (GTK_WINDOW (self), 1220, 770);
}

static void
viewer_window_constructed (GObject *object)
{
  ViewerWindow *self = VIEWER_WINDOW (object);

  G_OBJECT_CLASS (viewer_window_parent_class)->constructed (object);
  set_actions_enabled (self, FALSE);
  gtk_window_set_title (GTK_WINDOW (self), _("Delivery map"));
  if (self->id == NULL)
    {
      show_status (self, _("Open a message from your mail client’s “Track” command, or run "
                           "“msgtrk-viewer ENVID” (see “msgtrk list”)."));
      return;
    }
  show_status (self, _("Loading…"));
  msgtrk_dbus_tracker1_proxy_new_for_bus (G_BUS_TYPE_SESSION, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                          "org.msgtrk.Tracker1", "/org/msgtrk/Tracker1", self->cancellable,
                                          on_proxy, self);
}

static void
viewer_window_dispose (GObject *object)
{
  ViewerWindow *self = VIEWER_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->notice_id, g_source_remove);
  g_clear_object (&self->proxy);
  G_OBJECT_CLASS (viewer_window_parent_class)->dispose (object);
}

static void
viewer_window_finalize (GObject *object)
{
  ViewerWindow *self = VIEWER_WINDOW (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->route, json_node_unref);
  g_clear_pointer (&self->layout, viewer_layout_free);
  g_free (self->id);
  g_free (self->envid);
  g_free (self->message_id);
  G_OBJECT_CLASS (viewer_window_parent_class)->finalize (object);
}

static void
viewer_window_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  ViewerWindow *self = VIEWER_WINDOW (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_free (self->id);
      self->id = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viewer_window_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  ViewerWindow *self = VIEWER_WINDOW (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viewer_window_class_init (ViewerWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = viewer_window_constructed;
  object_class->dispose = viewer_window_dispose;
  object_class->finalize = viewer_window_finalize;
  object_class->set_property = viewer_window_set_property;
  object_class->get_property = viewer_window_get_property;

  /**
   * ViewerWindow:id: (nullable)
   *
   * The envid or Message-ID of the message shown; %NULL for the window that only explains
   * how to open a message.
   */
  props[PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL,
                                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  gtk_widget_class_install_action (widget_class, "viewer.refresh", NULL, refresh_action);
  gtk_widget_class_install_action (widget_class, "viewer.copy-link", NULL, copy_link_action);
  gtk_widget_class_install_action (widget_class, "viewer.forget", NULL, forget_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F5, 0, "viewer.refresh", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK, "viewer.refresh", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
viewer_window_init (ViewerWindow *self)
{
  self->cancellable = g_cancellable_new ();
  build_ui (self);
}

/**
 * viewer_window_new:
 * @app: the application
 * @id: (nullable): envid or Message-ID of the message to show
 *
 * Returns: (transfer none): a new window (owned by its toplevel list), not yet presented
 */
ViewerWindow *
viewer_window_new (GtkApplication *app,
                   const char     *id)
{
  return g_object_new (VIEWER_TYPE_WINDOW, "application", app, "id", id, NULL);
}

/**
 * viewer_window_matches:
 * @self: a window
 * @id: an envid or Message-ID (with or without angle brackets)
 *
 * Returns: whether @self shows the message @id
 */
gboolean
viewer_window_matches (ViewerWindow *self,
                       const char   *id)
{
  g_autofree char *bare = NULL;
  g_autofree char *own = NULL;

  g_return_val_if_fail (VIEWER_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  if (self->id == NULL)
    return FALSE;
  bare = strip_brackets (id);
  own = strip_brackets (self->id);
  return g_strcmp0 (bare, own) == 0 || g_strcmp0 (bare, self->envid) == 0 ||
         g_strcmp0 (bare, self->message_id) == 0;
}
