/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-window.c: the delivery-map window of one message (docs/viewer.md).
 *
 * Shows the message (subject, sent time, sender, summary), each recipient with a status
 * badge (colour and words), the route diagram (viewer-diagram.c over viewer-layout.c) and
 * the event timeline; header-bar buttons Refresh (Track), Copy tracking link (ExportUrl to
 * the clipboard, after a confirmation) and Stop tracking (Forget, after a confirmation).
 * A click on a box of the diagram (or the arrow keys and Enter) opens a popover with that
 * hop's details in words: what it did, when, the status code and its meaning (RFC 3463,
 * lib/msgtrk-status-code.c), the server's own text, until when it retries, where the
 * evidence came from. States, actions and sources are said with the shared words of
 * helper/common/msgtrk-states.c. Redraws on StatusChanged for its message. All D-Bus calls
 * are asynchronous. With G_MESSAGES_DEBUG=msgtrk-viewer it logs where its diagram is in
 * the window (the screenshot test clicks a hop with it).
 *
 * The window's structure is a GtkBuilder template (ui/viewer-window.ui, in the viewer's
 * GResource); build_ui() adds what depends on code (field rows, the diagram, the map).
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
#include "msgtrk-json.h"
#include "msgtrk-states.h"
#include "msgtrkd-error.h"
#include "viewer-diagram.h"
#include "viewer-layout.h"
#include "viewer-map.h"

/* Seconds a notice ("Tracking link copied") stays visible. */
#define NOTICE_SECONDS 5
/* Widest value in a hop's details popover (characters; longer text wraps). */
#define DETAIL_MAX_CHARS 60

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

  /* from the template (ui/viewer-window.ui) */
  GtkWidget *header;
  GtkWidget *field_grid;
  GtkWidget *diagram_box;
  GtkWidget *stack;
  GtkWidget *status_label;   /* page "status": loading, errors, empty window */
  GtkWidget *subject_label;
  GtkWidget *sent_label;
  GtkWidget *from_label;
  GtkWidget *summary_label;
  GtkWidget *tracking_label;
  GtkWidget *problem_key;    /* "Problem" row: why tracking is stuck, hidden when it is not */
  GtkWidget *problem_label;
  GtkWidget *recipients_box;
  GtkWidget *hidden_label;
  GtkWidget *drawing_area;
  GtkWidget *route_map;      /* the geographic view beside the diagram (viewer-map.c) */
  GtkWidget *timeline;
  GtkWidget *notice_revealer;
  GtkWidget *notice_label;
  GtkWidget *hop_popover;    /* details of the hop clicked on the diagram */
  int selected;              /* box chosen with the keyboard or a click, or -1 */
  gboolean origin_logged;    /* the diagram's place in the window was logged (tests) */
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
  return msgtrk_json_local_time (iso, "%Y-%m-%d %H:%M:%S", NULL);
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
  const char *symbol = msgtrk_states_lookup (state)->symbol;
  GtkWidget *badge;

  text = *symbol != '\0' ? g_strdup_printf ("%s %s", symbol, viewer_diagram_state_label (state))
                         : g_strdup (viewer_diagram_state_label (state));
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
  JsonArray *recipients = msgtrk_json_get_array (route, "recipients");
  guint i;

  clear_box (self->recipients_box);
  for (i = 0; recipients != NULL && i < json_array_get_length (recipients); i++)
    {
      JsonObject *rcpt = msgtrk_json_array_get_object (recipients, i);
      g_autofree char *shown = NULL;
      GtkWidget *item, *address;

      if (rcpt == NULL)
        continue;
      shown = msgtrk_json_clean_text (msgtrk_json_get_string (rcpt, "address"));
      item = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
      address = gtk_label_new (shown != NULL ? shown : "—");
      gtk_label_set_selectable (GTK_LABEL (address), TRUE);
      gtk_box_append (GTK_BOX (item), address);
      gtk_box_append (GTK_BOX (item), make_badge (msgtrk_json_get_string (rcpt, "state")));
      gtk_flow_box_append (GTK_FLOW_BOX (self->recipients_box), item);
    }
}

static void
fill_timeline (ViewerWindow *self,
               JsonObject   *route)
{
  JsonArray *events = msgtrk_json_get_array (route, "events");
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
      JsonObject *ev = msgtrk_json_array_get_object (events, i);
      g_autofree char *when = NULL;
      g_autofree char *source = NULL;
      g_autofree char *text = NULL;
      GtkWidget *row, *time_label, *source_label, *text_label;

      if (ev == NULL)
        continue;
      when = local_time (msgtrk_json_get_string (ev, "at"));
      text = msgtrk_json_clean_text (msgtrk_json_get_string (ev, "text"));
      source = g_strdup (msgtrk_states_source_label (msgtrk_json_get_string (ev, "source")));
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
      gtk_widget_add_css_class (source_label, "dim-label");
      gtk_label_set_width_chars (GTK_LABEL (source_label), 14);
      gtk_label_set_xalign (GTK_LABEL (source_label), 0);
      text_label = gtk_label_new (text != NULL ? text : "");
      gtk_label_set_xalign (GTK_LABEL (text_label), 0);
      gtk_label_set_wrap (GTK_LABEL (text_label), TRUE);
      gtk_label_set_selectable (GTK_LABEL (text_label), TRUE);
      gtk_widget_set_hexpand (text_label, TRUE);
      /* A problem while tracking (docs/dbus-api.md: sources "error" and "warning"): its
       * source in the error/warning colour (short words, readable in both themes). */
      if (g_strcmp0 (msgtrk_json_get_string (ev, "source"), "error") == 0)
        {
          gtk_widget_remove_css_class (source_label, "dim-label");
          gtk_widget_add_css_class (source_label, "error");
        }
      else if (g_strcmp0 (msgtrk_json_get_string (ev, "source"), "warning") == 0)
        {
          gtk_widget_remove_css_class (source_label, "dim-label");
          gtk_widget_add_css_class (source_label, "warning");
        }
      gtk_box_append (GTK_BOX (row), time_label);
      gtk_box_append (GTK_BOX (row), source_label);
      gtk_box_append (GTK_BOX (row), text_label);
      gtk_list_box_append (GTK_LIST_BOX (self->timeline), row);
    }
}

/* The "Problem" row: the route's first warning, else the newest problem event (source
 * "error" or "warning", docs/dbus-api.md) that no later evidence superseded; hidden when
 * there is none. The whole history stays in the event list. */
static void
fill_problem (ViewerWindow *self,
              JsonObject   *route)
{
  JsonArray *warnings = msgtrk_json_get_array (route, "warnings");
  JsonArray *events = msgtrk_json_get_array (route, "events");
  g_autofree char *text = NULL;
  guint n = events != NULL ? json_array_get_length (events) : 0;

  if (warnings != NULL && json_array_get_length (warnings) > 0)
    {
      JsonNode *node = json_array_get_element (warnings, 0);

      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        text = g_strdup (json_node_get_string (node));
    }
  for (guint i = n; text == NULL && i > 0; i--)
    {
      JsonObject *ev = msgtrk_json_array_get_object (events, i - 1);
      const char *source = msgtrk_json_get_string (ev, "source");

      if (g_strcmp0 (source, "mtqp") == 0 || g_strcmp0 (source, "dsn") == 0 ||
          g_strcmp0 (source, "mdn") == 0)
        break; /* news came after it: not stuck */
      if (g_strcmp0 (source, "error") == 0 || g_strcmp0 (source, "warning") == 0)
        {
          g_autofree char *when = local_time (msgtrk_json_get_string (ev, "at"));

          /* TRANSLATORS: a problem while tracking and when it happened. */
          text = g_strdup_printf (_("%s (%s)"), msgtrk_json_get_string (ev, "text") ? msgtrk_json_get_string (ev, "text") : "",
                                  when != NULL ? when : "—");
        }
    }
  if (text != NULL)
    {
      g_autofree char *shown = g_strconcat ("⚠ ", text, NULL);

      gtk_label_set_text (GTK_LABEL (self->problem_label), shown);
      g_debug ("problem shown: %s", text);
    }
  gtk_widget_set_visible (self->problem_label, text != NULL);
  gtk_widget_set_visible (self->problem_key, text != NULL);
}

static void
fill (ViewerWindow *self)
{
  JsonObject *route = json_node_get_object (self->route);
  const char *subject = msgtrk_json_get_string (route, "subject");
  const char *tracking_id = msgtrk_json_get_string (route, "tracking");
  g_autofree char *sent = local_time (msgtrk_json_get_string (route, "sent"));
  g_autofree char *title = NULL;
  g_autofree char *sender = NULL;
  g_autofree char *tracking = msgtrk_states_describe_tracking (tracking_id, msgtrk_json_get_string (route, "submission_host"));
  const char *shown_subject;

  g_free (self->envid);
  self->envid = g_strdup (msgtrk_json_get_string (route, "envid"));
  g_free (self->message_id);
  self->message_id = msgtrk_json_get_string (route, "message_id") ? strip_brackets (msgtrk_json_get_string (route, "message_id")) : NULL;

  /* A link someone shared carries no subject: say where the message came from. */
  if (subject != NULL && *subject != '\0')
    shown_subject = subject;
  else if (g_strcmp0 (tracking_id, "delegated") == 0)
    shown_subject = _("Tracked from a link (subject unknown)");
  else
    shown_subject = _("(no subject)");
  title = g_strdup_printf (_("%s — Delivery map"), shown_subject);
  gtk_window_set_title (GTK_WINDOW (self), title);
  gtk_label_set_text (GTK_LABEL (self->subject_label), shown_subject);
  gtk_label_set_text (GTK_LABEL (self->sent_label), sent ? sent : msgtrk_states_describe_sent_unknown (tracking_id));
  sender = msgtrk_json_clean_text (msgtrk_json_get_string (route, "sender"));
  gtk_label_set_text (GTK_LABEL (self->from_label), sender != NULL ? sender : "—");
  /* The summary says the state ("Delivered 1/1"): not repeated after it. */
  gtk_label_set_text (GTK_LABEL (self->summary_label),
                      msgtrk_json_get_string (route, "summary") ? msgtrk_json_get_string (route, "summary")
                                                 : viewer_diagram_state_label (msgtrk_json_get_string (route, "state")));
  gtk_label_set_text (GTK_LABEL (self->tracking_label), tracking);
  fill_problem (self, route);

  fill_recipients (self, route);
  fill_timeline (self, route);

  if (self->hop_popover != NULL)
    gtk_popover_popdown (GTK_POPOVER (self->hop_popover));
  g_clear_pointer (&self->layout, viewer_layout_free);
  self->layout = viewer_layout_compute (route);
  viewer_map_set_route (VIEWER_MAP (self->route_map), route);
  self->origin_logged = FALSE;
  self->selected = -1;
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

/* The text for the user of a failed call's @error, or NULL when the call was cancelled:
 * the window (@user_data) is gone then and must not be touched. */
static char *
call_error_text (GError  *error,
                 gpointer user_data)
{
  ViewerWindow *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return NULL;
  self = user_data;
  return error_text (error, self->id);
}

/* A failed action's error as a notice (nothing when the call was cancelled). */
static void
notice_call_error (GError  *error,
                   gpointer user_data)
{
  g_autofree char *text = call_error_text (error, user_data);

  if (text != NULL)
    show_notice (user_data, text);
}

static void
on_route (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  g_autoptr(JsonParser) parser = NULL;
  ViewerWindow *self;
  gboolean first;

  if (!msgtrk_dbus_tracker1_call_get_route_finish (MSGTRK_DBUS_TRACKER1 (source), &json, result, &error))
    {
      g_autofree char *text = call_error_text (error, user_data);

      self = user_data;
      if (text != NULL && self->route == NULL)
        show_status (self, text);
      else if (text != NULL)
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
  first = self->route == NULL;
  g_clear_pointer (&self->route, json_node_unref);
  self->route = json_node_copy (json_parser_get_root (parser));
  fill (self);
  /* Seen: msgtrkd withdraws the message's notification (docs/dbus-api.md, MarkViewed). */
  if (self->envid != NULL && (first || gtk_window_is_active (GTK_WINDOW (self))))
    msgtrk_dbus_tracker1_call_mark_viewed (self->proxy, self->envid, NULL, NULL, NULL);
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
                   const char         *message_id,
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
      notice_call_error (error, user_data);
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
      notice_call_error (error, user_data);
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
      notice_call_error (error, user_data);
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

/* --- hop details (a popover on the diagram) ------------------------------------------- */

/* Appends one "name  value" row to @grid when @value is known; returns the next row. */
static int
detail_row (GtkWidget  *grid,
            int         row,
            const char *name,
            const char *value)
{
  g_autofree char *shown = NULL;
  GtkWidget *key, *label;

  if (value == NULL || *value == '\0')
    return row;
  shown = msgtrk_json_clean_text (value);
  key = gtk_label_new (name);
  gtk_label_set_xalign (GTK_LABEL (key), 1);
  gtk_label_set_yalign (GTK_LABEL (key), 0);
  gtk_widget_add_css_class (key, "dim-label");
  /* Plain text (remote text is never markup), cleaned (msgtrk_json_clean_text). */
  label = gtk_label_new (shown);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_max_width_chars (GTK_LABEL (label), DETAIL_MAX_CHARS);
  gtk_label_set_selectable (GTK_LABEL (label), TRUE);
  gtk_grid_attach (GTK_GRID (grid), key, 0, row, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), label, 1, row, 1, 1);
  return row + 1;
}

/* When a merged hop's sources disagree ("conflict"): one "Reported" row per piece of
 * evidence that says an action, in time order (helper/common/msgtrk-json.c); plain text,
 * as every label of the popover. */
static int
conflict_rows (GtkWidget  *grid,
               int         row,
               JsonObject *hop)
{
  g_autoptr (GPtrArray) lines = msgtrk_json_hop_conflict_lines (hop, local_time, NULL);

  for (guint i = 0; i < lines->len; i++)
    row = detail_row (grid, row, _("Reported"), g_ptr_array_index (lines, i));
  return row;
}

/* The details of one box of the diagram: who, when, what happened in words, the status
 * code and its meaning (RFC 3463), the server's own text, until when it retries, and where
 * the evidence came from. */
static GtkWidget *
hop_details (ViewerWindow     *self,
             const ViewerNode *node)
{
  JsonObject *hop = node->hop;
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 8);
  GtkWidget *grid = gtk_grid_new ();
  GtkWidget *heading;
  const char *status = node->status; /* NULL for a shared hop whose codes differ */
  const char *arrival = msgtrk_json_get_string (hop, "arrival");
  const char *last = msgtrk_json_get_string (hop, "last_attempt");
  const char *remote = node->remote;
  const char *action = msgtrk_json_get_string (hop, "action");
  g_autofree char *when = local_time (node->time);
  g_autofree char *last_text = NULL;
  g_autofree char *retry = local_time (msgtrk_json_get_string (hop, "will_retry_until"));
  g_autofree char *words = NULL;
  g_autofree char *code = NULL;
  g_autofree char *delay = NULL;
  const char *title = node->title;
  int row = 0;

  gtk_grid_set_column_spacing (GTK_GRID (grid), 12);
  gtk_grid_set_row_spacing (GTK_GRID (grid), 4);
  switch (node->kind)
    {
    case VIEWER_NODE_SENDER:
      title = node->title != NULL ? node->title : _("Sender");
      row = detail_row (grid, row, _("Sent"),
                        when != NULL ? when
                                     : msgtrk_states_describe_sent_unknown (
                                         msgtrk_json_get_string (json_node_get_object (self->route), "tracking")));
      break;
    case VIEWER_NODE_RECIPIENT:
      row = detail_row (grid, row, _("Status"), viewer_diagram_state_label (node->state));
      break;
    case VIEWER_NODE_BROKEN:
      row = detail_row (grid, row, _("What happened"),
                        _("This server could not be asked, so the route cannot be followed further"));
      row = detail_row (grid, row, _("Why"), node->error != NULL ? node->error : _("No report from this hop"));
      break;
    case VIEWER_NODE_TRACE:
      if (node->from != NULL)
        /* TRANSLATORS: %s is where the message came from, "host.example [192.0.2.1]". */
        words = g_strdup_printf (_("Received the message from %s"), node->from);
      row = detail_row (grid, row, _("What happened"), words != NULL ? words : _("Received the message"));
      row = detail_row (grid, row, _("When"), when);
      if (node->has_delay)
        {
          /* TRANSLATORS: seconds since the previous hop, "s" being the unit symbol. */
          delay = g_strdup_printf (_("%+lld s after the previous server"), (long long) node->delay);
          row = detail_row (grid, row, _("Delay"), delay);
        }
      break;
    default:
      words = viewer_diagram_hop_words (node);
      row = detail_row (grid, row, _("What happened"), words);
      row = detail_row (grid, row, _("When"), when);
      if (arrival != NULL && last != NULL && g_strcmp0 (arrival, last) != 0)
        {
          last_text = local_time (last);
          row = detail_row (grid, row, _("Last attempt"), last_text);
        }
      if (status != NULL)
        {
          const char *code_class = msgtrk_status_code_describe_class (status);

          /* TRANSLATORS: a status code and its class: "5.1.1 (permanent failure)". */
          code = code_class != NULL ? g_strdup_printf (_("%s (%s)"), status, code_class) : g_strdup (status);
          row = detail_row (grid, row, _("Status code"), code);
          row = detail_row (grid, row, _("Meaning"), msgtrk_status_code_describe (status));
        }
      row = detail_row (grid, row, _("Server said"), msgtrk_json_get_string (hop, "diagnostic"));
      row = detail_row (grid, row, _("Comment"), msgtrk_json_get_string (hop, "comment"));
      if (remote != NULL && g_ascii_strcasecmp (action != NULL ? action : "", "transferred") != 0 &&
          g_ascii_strcasecmp (action != NULL ? action : "", "relayed") != 0)
        row = detail_row (grid, row, _("Next server"), remote);
      row = detail_row (grid, row, _("Retrying until"), retry);
      row = detail_row (grid, row, _("Connection"), msgtrk_json_get_string (hop, "tls"));
      break;
    }
  if (hop != NULL)
    {
      g_autofree char *sources = msgtrk_json_hop_sources_text (hop);

      row = detail_row (grid, row, _("Evidence from"), sources);
      row = conflict_rows (grid, row, hop);
    }
  if (node->n_shared > 1)
    {
      g_autofree char *shared = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "All %u recipient",
                                                              "All %u recipients", node->n_shared),
                                                 node->n_shared);
      row = detail_row (grid, row, _("For"), shared);
    }

  heading = gtk_label_new (title != NULL ? title : _("(unknown server)"));
  gtk_label_set_xalign (GTK_LABEL (heading), 0);
  gtk_label_set_selectable (GTK_LABEL (heading), TRUE);
  gtk_label_set_wrap (GTK_LABEL (heading), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (heading), DETAIL_MAX_CHARS);
  gtk_widget_add_css_class (heading, "heading");
  g_object_set_data (G_OBJECT (box), "heading", heading);
  gtk_box_append (GTK_BOX (box), heading);
  gtk_box_append (GTK_BOX (box), grid);
  gtk_widget_set_margin_start (box, 6);
  gtk_widget_set_margin_end (box, 6);
  gtk_widget_set_margin_top (box, 6);
  gtk_widget_set_margin_bottom (box, 6);
  return box;
}

/* Opens the details popover of node @index of the layout, pointing at its box. */
static void
show_hop_details (ViewerWindow *self,
                  guint         index)
{
  const ViewerNode *node;
  GdkRectangle rect;

  if (self->layout == NULL || index >= self->layout->nodes->len)
    return;
  node = g_ptr_array_index (self->layout->nodes, index);
  rect.x = (int) node->x;
  rect.y = (int) node->y;
  rect.width = (int) VIEWER_LAYOUT_NODE_WIDTH;
  rect.height = (int) VIEWER_LAYOUT_NODE_HEIGHT;
  gtk_popover_set_child (GTK_POPOVER (self->hop_popover), hop_details (self, node));
  gtk_popover_set_pointing_to (GTK_POPOVER (self->hop_popover), &rect);
  gtk_popover_popup (GTK_POPOVER (self->hop_popover));
  /* Focus lands on the first selectable label, which selects all of it: undo that. */
  gtk_label_select_region (GTK_LABEL (g_object_get_data (G_OBJECT (gtk_popover_get_child (
                                        GTK_POPOVER (self->hop_popover))), "heading")),
                           0, 0);
  g_debug ("details of node %u (%s)", index, node->title != NULL ? node->title : "?");
}

static void
on_diagram_pressed (GtkGestureClick *gesture,
                    int              n_press,
                    double           x,
                    double           y,
                    gpointer         user_data)
{
  ViewerWindow *self = user_data;
  int index;

  if (self->layout == NULL)
    return;
  index = viewer_layout_node_at (self->layout, x, y);
  if (index >= 0)
    {
      self->selected = index;
      gtk_widget_queue_draw (self->drawing_area);
      show_hop_details (self, (guint) index);
    }
}

static gboolean
on_diagram_key (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                gpointer               user_data)
{
  ViewerWindow *self = user_data;
  int n = self->layout != NULL ? (int) self->layout->nodes->len : 0;

  if (n == 0)
    return FALSE;
  switch (keyval)
    {
    case GDK_KEY_Right:
    case GDK_KEY_Down:
      self->selected = self->selected < 0 ? 0 : (self->selected + 1) % n;
      break;
    case GDK_KEY_Left:
    case GDK_KEY_Up:
      self->selected = self->selected <= 0 ? n - 1 : self->selected - 1;
      break;
    case GDK_KEY_Return:
    case GDK_KEY_KP_Enter:
    case GDK_KEY_space:
      show_hop_details (self, (guint) MAX (self->selected, 0));
      return TRUE;
    default:
      return FALSE;
    }
  gtk_widget_queue_draw (self->drawing_area);
  return TRUE;
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
  if (self->layout != NULL && self->selected >= 0 && (guint) self->selected < self->layout->nodes->len &&
      gtk_widget_has_focus (GTK_WIDGET (area)))
    {
      /* The keyboard focus: a ring around the selected box. */
      const ViewerNode *node = g_ptr_array_index (self->layout->nodes, self->selected);
      GdkRGBA fg;

      gtk_style_context_get_color (gtk_widget_get_style_context (GTK_WIDGET (area)), &fg);
      gdk_cairo_set_source_rgba (cr, &fg);
      cairo_set_line_width (cr, 2);
      cairo_rectangle (cr, node->x - 4, node->y - 4, VIEWER_LAYOUT_NODE_WIDTH + 8, VIEWER_LAYOUT_NODE_HEIGHT + 8);
      cairo_stroke (cr);
    }
  if (!self->origin_logged && self->layout != NULL)
    {
      /* Where the diagram is in the window's surface: lets a test click a hop. */
      GtkNative *native = gtk_widget_get_native (GTK_WIDGET (area));
      graphene_point_t p;
      double sx = 0, sy = 0;

      if (native != NULL &&
          gtk_widget_compute_point (GTK_WIDGET (area), GTK_WIDGET (native), &GRAPHENE_POINT_INIT (0, 0), &p))
        {
          gtk_native_get_surface_transform (native, &sx, &sy);
          g_debug ("diagram origin at %d,%d of the window", (int) (p.x + sx), (int) (p.y + sy));
          self->origin_logged = TRUE;
        }
    }
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

/* What the template (ui/viewer-window.ui) cannot hold: the field rows, the diagram's
 * drawing area with its controllers and popover, the map beside it and the switcher. */
static void
build_ui (ViewerWindow *self)
{
  GtkWidget *grid = self->field_grid;
  GtkWidget *scroller;

  self->sent_label = field_label (grid, 0, _("Sent"));
  self->from_label = field_label (grid, 1, _("From"));
  self->summary_label = field_label (grid, 2, _("Status"));
  self->tracking_label = field_label (grid, 3, _("Tracking"));
  self->problem_label = field_label (grid, 4, _("Problem"));
  self->problem_key = gtk_grid_get_child_at (GTK_GRID (grid), 0, 4);
  gtk_label_set_wrap (GTK_LABEL (self->problem_label), TRUE);
  gtk_label_set_ellipsize (GTK_LABEL (self->problem_label), PANGO_ELLIPSIZE_NONE);
  /* The key in the error colour, the text in the theme's (dark red text is hard to read
   * on a dark background); a symbol says it too. */
  gtk_widget_remove_css_class (self->problem_key, "dim-label");
  gtk_widget_add_css_class (self->problem_key, "error");

  self->drawing_area = gtk_drawing_area_new ();
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->drawing_area), draw_diagram, self, NULL);
  {
    /* A click on a box opens its details. */
    GtkGesture *click = gtk_gesture_click_new ();
    GtkEventController *keys = gtk_event_controller_key_new ();

    g_signal_connect (click, "pressed", G_CALLBACK (on_diagram_pressed), self);
    gtk_widget_add_controller (self->drawing_area, GTK_EVENT_CONTROLLER (click));
    gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_PRIMARY);
    gtk_widget_set_cursor_from_name (self->drawing_area, "pointer");
    gtk_accessible_update_property (GTK_ACCESSIBLE (self->drawing_area), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                    _("Click a box, or move to it with the arrow keys and press Enter, "
                                      "for the details of that server’s report"),
                                    -1);
    /* The same from the keyboard: arrows move between boxes, Enter opens. */
    gtk_widget_set_focusable (self->drawing_area, TRUE);
    gtk_widget_set_focus_on_click (self->drawing_area, TRUE);
    g_signal_connect (keys, "key-pressed", G_CALLBACK (on_diagram_key), self);
    gtk_widget_add_controller (self->drawing_area, keys);
  }
  self->hop_popover = gtk_popover_new ();
  gtk_popover_set_position (GTK_POPOVER (self->hop_popover), GTK_POS_BOTTOM);
  gtk_widget_set_parent (self->hop_popover, self->drawing_area);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->drawing_area), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Route diagram: each recipient's hops from left to right"), -1);
  scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), self->drawing_area);
  gtk_widget_set_vexpand (scroller, TRUE);
  {
    /* The route as a diagram or on a map (viewer-map.c); Alt+D / Alt+M switch. */
    GtkWidget *switcher;

    self->route_map = viewer_map_new ();
    gtk_box_append (GTK_BOX (self->diagram_box),
                    viewer_map_views_new (scroller, self->route_map, &switcher));
    gtk_header_bar_pack_end (GTK_HEADER_BAR (self->header), switcher);
  }
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
  g_clear_pointer (&self->hop_popover, gtk_widget_unparent);
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

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/msgtrk/Viewer/ui/viewer-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, header);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, notice_revealer);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, notice_label);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, subject_label);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, field_grid);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, recipients_box);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, diagram_box);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, hidden_label);
  gtk_widget_class_bind_template_child (widget_class, ViewerWindow, timeline);

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
  self->selected = -1;
  gtk_widget_init_template (GTK_WIDGET (self));
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
