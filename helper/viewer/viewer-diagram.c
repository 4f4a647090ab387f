/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-diagram.c: draws the delivery map (see viewer-diagram.h, docs/viewer.md).
 *
 * Nodes are rounded boxes with a coloured stripe and border (the state colour) and three
 * lines of text in the theme colour: title (server or address), time, and what the hop
 * did in words ("Handed to relay.example.net") or the state. Edges are curves from the right side of one box to the left side of
 * the next, coloured by the destination's state, with an arrowhead; an edge into a broken
 * link is dashed red with a ✗ at its middle, and the broken box holds the error text. A
 * trace node (a Received: field) is neutral: a grey outline without wash or stripe, the
 * words "received from …", and the hop's delay written above the edge into it.
 * Limits: text is ellipsized to the box; remote text is drawn as text, never markup.
 */
#include "config.h"

#include "viewer-diagram.h"

#include <glib/gi18n-lib.h>
#include <math.h>

#include "msgtrk-json.h"
#include "msgtrk-states.h"

#define RADIUS 8.0
#define STRIPE 6.0
#define PAD 10.0
#define ARROW 7.0

/* Colour keys of the map that are not states (the states' colours and labels are the
 * shared table of helper/common/msgtrk-states.c): mid-tones readable on white and on
 * Adwaita dark (#242424). */
static const struct
{
  const char *key;
  const char *color;
  const char *label; /* N_() */
} node_colors[] = {
  { "broken", "#e01b24", N_("Broken link") },
  { "trace", "#9a9996", N_("received") },
  { "sender", "#9a9996", N_("Sender") },
};

/**
 * viewer_diagram_state_rgba:
 * @state: (nullable): a colour key (viewer-layout.h) or state identifier
 * @rgba: (out caller-allocates): its colour
 *
 * The status colour of @state; grey for anything unknown.
 */
void
viewer_diagram_state_rgba (const char *state,
                           GdkRGBA    *rgba)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (node_colors); i++)
    if (g_strcmp0 (node_colors[i].key, state) == 0)
      {
        gdk_rgba_parse (rgba, node_colors[i].color);
        return;
      }
  gdk_rgba_parse (rgba, msgtrk_states_lookup (state)->color);
}

/**
 * viewer_diagram_state_label:
 * @state: (nullable): a colour key or state identifier
 *
 * Returns: (transfer none): the translated name of @state
 */
const char *
viewer_diagram_state_label (const char *state)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (node_colors); i++)
    if (g_strcmp0 (node_colors[i].key, state) == 0)
      return _(node_colors[i].label);
  return msgtrk_states_label (state);
}

static void
rounded_rect (cairo_t *cr,
              double   x,
              double   y,
              double   w,
              double   h,
              double   r)
{
  cairo_new_sub_path (cr);
  cairo_arc (cr, x + w - r, y + r, r, -G_PI / 2, 0);
  cairo_arc (cr, x + w - r, y + h - r, r, 0, G_PI / 2);
  cairo_arc (cr, x + r, y + h - r, r, G_PI / 2, G_PI);
  cairo_arc (cr, x + r, y + r, r, G_PI, 3 * G_PI / 2);
  cairo_close_path (cr);
}

/* Draws @text (plain, never markup) at @x,@y, ellipsized to @width; returns its height. */
static double
draw_text (cairo_t     *cr,
           GtkWidget   *widget,
           const char  *text,
           double       x,
           double       y,
           double       width,
           gboolean     bold,
           double       scale,
           int          max_lines)
{
  g_autoptr(PangoLayout) pl = gtk_widget_create_pango_layout (widget, text);
  PangoAttrList *attrs = pango_attr_list_new ();
  int w, h;

  if (bold)
    pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
  if (scale != 1.0)
    pango_attr_list_insert (attrs, pango_attr_scale_new (scale));
  pango_layout_set_attributes (pl, attrs);
  pango_attr_list_unref (attrs);
  pango_layout_set_width (pl, (int) (width * PANGO_SCALE));
  pango_layout_set_ellipsize (pl, PANGO_ELLIPSIZE_END);
  if (max_lines > 1)
    {
      pango_layout_set_wrap (pl, PANGO_WRAP_WORD_CHAR);
      pango_layout_set_height (pl, -max_lines);
    }
  cairo_move_to (cr, x, y);
  pango_cairo_show_layout (cr, pl);
  pango_layout_get_pixel_size (pl, &w, &h);
  return h;
}

/* Local "YYYY-MM-DD HH:MM:SS" of an ISO 8601 time, or a copy of @iso. */
static char *
local_time (const char *iso)
{
  return msgtrk_json_local_time (iso, "%Y-%m-%d %H:%M:%S", NULL);
}

static void
set_rgba (cairo_t       *cr,
          const GdkRGBA *c,
          double         alpha)
{
  cairo_set_source_rgba (cr, c->red, c->green, c->blue, c->alpha * alpha);
}

/**
 * viewer_diagram_hop_words:
 * @node: a hop node
 *
 * Returns: (transfer full): what the hop did, in the user's words ("Handed to
 *   relay.example.net"), from its action and Remote-MTA (not named for a hop shared by
 *   recipients that went on to different servers)
 */
char *
viewer_diagram_hop_words (const ViewerNode *node)
{
  return msgtrk_states_describe_action (node->action, node->remote);
}

static void
draw_node (GtkWidget     *widget,
           cairo_t       *cr,
           const ViewerNode *node,
           const GdkRGBA *fg)
{
  GdkRGBA sc;
  double x = node->x, y = node->y;
  double w = VIEWER_LAYOUT_NODE_WIDTH, h = VIEWER_LAYOUT_NODE_HEIGHT;
  double tx = x + STRIPE + PAD, tw = w - STRIPE - 2 * PAD, ty = y + 7;
  g_autofree char *when = local_time (node->time);
  g_autofree char *line3 = NULL;

  viewer_diagram_state_rgba (node->state, &sc);

  /* Box: a light wash of the state colour, its border, a solid stripe on the left. A trace
   * node is only outlined: it reports no state, only that a server received the message. */
  rounded_rect (cr, x, y, w, h, RADIUS);
  if (node->kind != VIEWER_NODE_TRACE)
    {
      set_rgba (cr, &sc, node->kind == VIEWER_NODE_SENDER ? 0.08 : 0.16);
      cairo_fill_preserve (cr);
    }
  if (node->kind == VIEWER_NODE_BROKEN)
    {
      double dash[] = { 6.0, 4.0 };
      cairo_set_dash (cr, dash, 2, 0);
    }
  set_rgba (cr, &sc, 1.0);
  cairo_set_line_width (cr, node->kind == VIEWER_NODE_RECIPIENT ? 2.5 : 1.5);
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);
  if (node->kind == VIEWER_NODE_TRACE)
    {
      tx = x + PAD;
      tw = w - 2 * PAD;
    }
  else
    {
      cairo_save (cr);
      rounded_rect (cr, x, y, w, h, RADIUS);
      cairo_clip (cr);
      cairo_rectangle (cr, x, y, STRIPE, h);
      set_rgba (cr, &sc, 1.0);
      cairo_fill (cr);
      cairo_restore (cr);
    }

  gdk_cairo_set_source_rgba (cr, fg);
  switch (node->kind)
    {
    case VIEWER_NODE_SENDER:
      ty += draw_text (cr, widget, node->title ? node->title : _("Sender"), tx, ty, tw, TRUE, 1.0, 1);
      if (when != NULL)
        {
          ty += draw_text (cr, widget, when, tx, ty, tw, FALSE, 0.85, 1);
          draw_text (cr, widget, _("Sent"), tx, ty, tw, FALSE, 0.85, 1);
        }
      else
        /* "sent time unknown" for a link, "not sent yet" while sending */
        draw_text (cr, widget, msgtrk_states_describe_sent_unknown (node->tracking), tx, ty, tw, FALSE,
                   0.85, 1);
      break;

    case VIEWER_NODE_HOP:
      {
        /* What the hop did, in words ("Handed to relay.example.net"); the details (status
         * code and its meaning, the server's text) are in the hop's popover. */
        g_autofree char *words = viewer_diagram_hop_words (node);

        ty += draw_text (cr, widget, node->title ? node->title : _("(unknown server)"), tx, ty, tw, TRUE,
                         1.0, 1);
        ty += draw_text (cr, widget, when ? when : "—", tx, ty, tw, FALSE, 0.85, 1);
        if (node->n_shared > 1)
          /* TRANSLATORS: how many recipients share a hop, and what it did ("All 3:
           * Passed on to the next server"); the count first, as the box cuts long text. */
          line3 = g_strdup_printf (_("All %u: %s"), node->n_shared, words);
        else
          line3 = g_steal_pointer (&words);
        draw_text (cr, widget, line3, tx, ty, tw, FALSE, 0.85, 1);
      }
      break;

    case VIEWER_NODE_TRACE:
      ty += draw_text (cr, widget, node->title ? node->title : _("(unknown MTA)"), tx, ty, tw, TRUE,
                       1.0, 1);
      ty += draw_text (cr, widget, when ? when : "—", tx, ty, tw, FALSE, 0.85, 1);
      if (node->from != NULL)
        /* TRANSLATORS: a hop of the Received: chain; %s is where the message came from,
         * "host.example [192.0.2.1]". */
        line3 = g_strdup_printf (_("received from %s"), node->from);
      else
        line3 = g_strdup (_("received"));
      if (node->n_shared > 1)
        {
          g_autofree char *one = g_steal_pointer (&line3);

          line3 = g_strdup_printf (_("%s · all %u"), one, node->n_shared);
        }
      /* Two smaller lines: a host name and its address rarely fit on one. */
      draw_text (cr, widget, line3, tx, ty, tw, FALSE, 0.8, 2);
      break;

    case VIEWER_NODE_BROKEN:
      {
        g_autofree char *head = g_strdup_printf ("✗ %s", node->title ? node->title : _("broken link"));

        /* In the text colour: red on the red wash is hard to read in a dark theme; the
         * dashed red border and the ✗ already mark it. */
        ty += draw_text (cr, widget, head, tx, ty, tw, TRUE, 1.0, 1);
        draw_text (cr, widget, node->error ? node->error : _("no report from this hop"), tx, ty, tw, FALSE,
                   0.8, 3);
      }
      break;

    case VIEWER_NODE_RECIPIENT:
      ty += draw_text (cr, widget, node->title ? node->title : "—", tx, ty, tw, TRUE, 1.0, 1);
      ty += 4;
      {
        /* The state in words on a coloured pill: not colour alone. */
        g_autoptr(PangoLayout) pl = gtk_widget_create_pango_layout (widget, viewer_diagram_state_label (node->state));
        PangoAttrList *attrs = pango_attr_list_new ();
        int pw, ph;
        MsgtrkMessageState shown;
        gboolean dark_text = msgtrk_message_state_from_string (node->state, &shown)
                             && shown == MSGTRK_MESSAGE_STATE_DELAYED;

        pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
        pango_attr_list_insert (attrs, pango_attr_scale_new (0.85));
        pango_layout_set_attributes (pl, attrs);
        pango_attr_list_unref (attrs);
        pango_layout_get_pixel_size (pl, &pw, &ph);
        rounded_rect (cr, tx, ty, MIN (pw + 16, tw), ph + 4, (ph + 4) / 2.0);
        set_rgba (cr, &sc, 1.0);
        cairo_fill (cr);
        if (dark_text)
          cairo_set_source_rgb (cr, 0, 0, 0);
        else
          cairo_set_source_rgb (cr, 1, 1, 1);
        cairo_move_to (cr, tx + 8, ty + 2);
        pango_cairo_show_layout (cr, pl);
      }
      break;

    default:
      break;
    }
}

/* A trace hop's delay, short enough for the gap between two boxes: "+2 s", "+5 min",
 * "+3 h", "+2 d" (rounded down), with its sign (negative when the clocks disagree). */
static char *
format_delay (gint64 seconds)
{
  gint64 magnitude = seconds < 0 ? -seconds : seconds;
  const char *sign = seconds < 0 ? "−" : "+";

  if (seconds == G_MININT64)
    magnitude = G_MAXINT64;
  /* TRANSLATORS: the delay of a hop on the route diagram; %s is the sign (+ or −), %lld a
   * number; "s", "min", "h", "d" are unit symbols. Keep them short. */
  if (magnitude < 60)
    return g_strdup_printf (_("%s%lld s"), sign, (long long) magnitude);
  if (magnitude < 3600)
    return g_strdup_printf (_("%s%lld min"), sign, (long long) (magnitude / 60));
  if (magnitude < 86400)
    return g_strdup_printf (_("%s%lld h"), sign, (long long) (magnitude / 3600));
  return g_strdup_printf (_("%s%lld d"), sign, (long long) (magnitude / 86400));
}

static void
draw_edge (GtkWidget        *widget,
           cairo_t          *cr,
           const ViewerNode *from,
           const ViewerNode *to,
           const ViewerEdge *edge,
           const GdkRGBA    *fg)
{
  GdkRGBA sc;
  double x0 = from->x + VIEWER_LAYOUT_NODE_WIDTH, y0 = from->y + VIEWER_LAYOUT_NODE_HEIGHT / 2;
  double x1 = to->x - 2, y1 = to->y + VIEWER_LAYOUT_NODE_HEIGHT / 2;
  double mx = (x0 + x1) / 2;

  viewer_diagram_state_rgba (edge->broken ? "broken" : edge->state, &sc);
  set_rgba (cr, &sc, 1.0);
  cairo_set_line_width (cr, 2.5);
  if (edge->broken)
    {
      double dash[] = { 7.0, 5.0 };
      cairo_set_dash (cr, dash, 2, 0);
    }
  cairo_move_to (cr, x0, y0);
  cairo_curve_to (cr, mx, y0, mx, y1, x1 - ARROW, y1);
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);

  /* Arrowhead. */
  cairo_move_to (cr, x1, y1);
  cairo_line_to (cr, x1 - ARROW - 2, y1 - ARROW * 0.7);
  cairo_line_to (cr, x1 - ARROW - 2, y1 + ARROW * 0.7);
  cairo_close_path (cr);
  cairo_fill (cr);

  if (edge->has_delay)
    {
      /* The delay of the trace hop, above the middle of the curve. */
      g_autofree char *text = format_delay (edge->delay);
      g_autoptr(PangoLayout) pl = gtk_widget_create_pango_layout (widget, text);
      PangoAttrList *attrs = pango_attr_list_new ();
      int tw, th;

      pango_attr_list_insert (attrs, pango_attr_scale_new (0.75));
      pango_layout_set_attributes (pl, attrs);
      pango_attr_list_unref (attrs);
      pango_layout_get_pixel_size (pl, &tw, &th);
      gdk_cairo_set_source_rgba (cr, fg);
      cairo_move_to (cr, mx - tw / 2.0, MIN (y0, y1) - th - 3);
      pango_cairo_show_layout (cr, pl);
    }

  if (edge->broken)
    {
      /* ✗ on a disc at the middle of the curve. */
      double cx = mx, cy = (y0 + y1) / 2;

      cairo_arc (cr, cx, cy, 10, 0, 2 * G_PI);
      cairo_fill (cr);
      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_set_line_width (cr, 2.5);
      cairo_move_to (cr, cx - 4.5, cy - 4.5);
      cairo_line_to (cr, cx + 4.5, cy + 4.5);
      cairo_move_to (cr, cx + 4.5, cy - 4.5);
      cairo_line_to (cr, cx - 4.5, cy + 4.5);
      cairo_stroke (cr);
    }
}

/**
 * viewer_diagram_draw:
 * @widget: the drawing area (for theme colour and fonts)
 * @cr: where to draw
 * @layout: (nullable): what to draw
 *
 * Draws the edges, then the nodes, of @layout at diagram coordinates.
 */
void
viewer_diagram_draw (GtkWidget    *widget,
                     cairo_t      *cr,
                     ViewerLayout *layout)
{
  GdkRGBA fg;
  guint i;

  if (layout == NULL)
    return;
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  for (i = 0; i < layout->edges->len; i++)
    {
      const ViewerEdge *edge = &g_array_index (layout->edges, ViewerEdge, i);

      draw_edge (widget, cr, g_ptr_array_index (layout->nodes, edge->from),
                 g_ptr_array_index (layout->nodes, edge->to), edge, &fg);
    }
  for (i = 0; i < layout->nodes->len; i++)
    draw_node (widget, cr, g_ptr_array_index (layout->nodes, i), &fg);
}
