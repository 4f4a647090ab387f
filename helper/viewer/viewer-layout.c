/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-layout.c: the delivery-map layout (see viewer-layout.h).
 *
 * Reads only what it needs from the route JSON and treats every member as optional and of
 * possibly the wrong type (a newer or broken msgtrkd): a missing member means less to
 * draw, never a failure. A broken link is a hop with an "error", or a report hop with
 * neither action nor status; a trace hop (Received: chain) has neither by nature and is
 * a trace node. Never draws, never allocates without bound (limits in the
 * header).
 */
#include "config.h"

#include "viewer-layout.h"

#include <string.h>

#include "msgtrk-json.h"
#include "msgtrk-states.h"

/**
 * viewer_layout_action_state:
 * @action: (nullable): an action as reported (RFC 3464/3886, MDN "displayed")
 *
 * Returns: (transfer none): the colour key of the state @action stands for (the shared
 *   map of helper/common/msgtrk-states.c); "unknown" for anything else
 */
const char *
viewer_layout_action_state (const char *action)
{
  return msgtrk_states_from_action (action);
}

/* The colour key of a recipient or message state string: itself when known. */
static const char *
state_key (const char *state)
{
  return msgtrk_states_lookup (state)->id;
}

/* Whether @hop is one field of the Received: chain (it never has an action or status). */
static gboolean
hop_is_trace (JsonObject *hop)
{
  return msgtrk_states_source_is_trace (msgtrk_json_get_string (hop, "source"));
}

/* Whether @hop is a broken link: it has an error, or it is a report (MTQP, DSN, or of a
 * source this viewer does not know) with neither action nor status. A trace hop is broken
 * only with an error. */
static gboolean
hop_is_broken (JsonObject *hop)
{
  if (msgtrk_json_get_string (hop, "error") != NULL)
    return TRUE;
  if (hop_is_trace (hop))
    return FALSE;
  return msgtrk_json_get_string (hop, "action") == NULL && msgtrk_json_get_string (hop, "status") == NULL;
}

/* The delay_seconds of @hop into @delay; FALSE when absent, null or not an integer. */
static gboolean
hop_delay (JsonObject *hop,
           gint64     *delay)
{
  return msgtrk_json_get_int (hop, "delay_seconds", delay);
}

/* Where a trace hop came from: "HOST [ADDRESS]", "HOST", "[ADDRESS]", or NULL. A host
 * that is only the address (or its literal "[ADDRESS]") is not repeated. */
static char *
hop_from (JsonObject *hop)
{
  const char *host = msgtrk_json_get_string (hop, "from_host");
  const char *address = msgtrk_json_get_string (hop, "from_address");

  if (host != NULL && *host == '\0')
    host = NULL;
  if (address != NULL && *address == '\0')
    address = NULL;
  if (host != NULL && address != NULL)
    {
      gsize len = strlen (address);

      if (strcmp (host, address) == 0 ||
          (host[0] == '[' && strncmp (host + 1, address, len) == 0 &&
           strcmp (host + 1 + len, "]") == 0))
        host = NULL;
    }
  if (host != NULL && address != NULL)
    return g_strdup_printf ("%s [%s]", host, address);
  if (address != NULL)
    return g_strdup_printf ("[%s]", address);
  return g_strdup (host);
}

static const char *
hop_mta (JsonObject *hop)
{
  const char *mta = msgtrk_json_get_string (hop, "reporting_mta");

  return mta != NULL ? mta : msgtrk_json_get_string (hop, "server");
}

/* Whether hop @a and hop @b are the same node of the map (same MTA, same action, both
 * trace hops or neither). */
static gboolean
hops_same (JsonObject *a,
           JsonObject *b)
{
  if (a == NULL || b == NULL || hop_is_broken (a) || hop_is_broken (b) ||
      hop_is_trace (a) != hop_is_trace (b))
    return FALSE;
  if (hop_mta (a) == NULL || hop_mta (b) == NULL || g_ascii_strcasecmp (hop_mta (a), hop_mta (b)) != 0)
    return FALSE;
  if (msgtrk_json_get_string (a, "action") == NULL || msgtrk_json_get_string (b, "action") == NULL)
    return msgtrk_json_get_string (a, "action") == msgtrk_json_get_string (b, "action");
  return g_ascii_strcasecmp (msgtrk_json_get_string (a, "action"), msgtrk_json_get_string (b, "action")) == 0;
}

static void
node_free (gpointer data)
{
  ViewerNode *node = data;

  g_free (node->title);
  g_free (node->time);
  g_free (node->action);
  g_free (node->status);
  g_free (node->error);
  g_free (node->remote);
  g_free (node->tracking);
  g_free (node->from);
  g_clear_pointer (&node->hop, json_object_unref);
  g_free (node);
}

static guint
add_node (ViewerLayout  *layout,
          ViewerNodeKind kind,
          guint          column,
          double         row,
          int            recipient)
{
  ViewerNode *node = g_new0 (ViewerNode, 1);

  node->kind = kind;
  node->column = column;
  node->row = row;
  node->x = VIEWER_LAYOUT_MARGIN + column * (VIEWER_LAYOUT_NODE_WIDTH + VIEWER_LAYOUT_COLUMN_GAP);
  node->y = VIEWER_LAYOUT_MARGIN + row * (VIEWER_LAYOUT_NODE_HEIGHT + VIEWER_LAYOUT_ROW_GAP);
  node->recipient = recipient;
  node->n_shared = 1;
  g_ptr_array_add (layout->nodes, node);
  return layout->nodes->len - 1;
}

/* Fills @node's texts from @hop. */
static void
fill_hop (ViewerNode *node,
          JsonObject *hop)
{
  const char *arrival = msgtrk_json_get_string (hop, "arrival");

  /* Remote text, drawn as labels: cleaned (msgtrk_json_clean_text). */
  node->title = msgtrk_json_clean_text (hop_mta (hop));
  node->time = g_strdup (arrival != NULL ? arrival : msgtrk_json_get_string (hop, "last_attempt"));
  node->action = g_strdup (msgtrk_json_get_string (hop, "action"));
  node->status = g_strdup (msgtrk_json_get_string (hop, "status"));
  node->error = msgtrk_json_clean_text (msgtrk_json_get_string (hop, "error"));
  node->remote = msgtrk_json_clean_text (msgtrk_json_get_string (hop, "remote_mta"));
  node->hop = hop != NULL ? json_object_ref (hop) : NULL;
  if (hop_is_broken (hop))
    {
      node->kind = VIEWER_NODE_BROKEN;
      node->state = "broken";
    }
  else if (hop_is_trace (hop))
    {
      g_autofree char *from = hop_from (hop);

      node->kind = VIEWER_NODE_TRACE;
      node->state = "trace";
      node->from = msgtrk_json_clean_text (from);
      node->has_delay = hop_delay (hop, &node->delay);
    }
  else
    node->state = viewer_layout_action_state (node->action);
}

static void
add_edge (ViewerLayout *layout,
          guint         from,
          guint         to)
{
  ViewerNode *dest = g_ptr_array_index (layout->nodes, to);
  ViewerEdge edge = { from, to, dest->kind == VIEWER_NODE_BROKEN, dest->state, FALSE, 0 };

  if (dest->kind == VIEWER_NODE_TRACE && dest->has_delay)
    {
      edge.has_delay = TRUE;
      edge.delay = dest->delay;
    }

  g_array_append_val (layout->edges, edge);
}

/**
 * viewer_layout_compute:
 * @route: (nullable): the GetRoute object
 *
 * Lays out the delivery map of @route. Never fails: members missing or of the wrong type
 * are skipped; a %NULL route gives the sender node alone.
 *
 * Returns: (transfer full): the layout; free with viewer_layout_free()
 */
ViewerLayout *
viewer_layout_compute (JsonObject *route)
{
  ViewerLayout *layout = g_new0 (ViewerLayout, 1);
  JsonArray *recipients = msgtrk_json_get_array (route, "recipients");
  guint n_all = recipients != NULL ? json_array_get_length (recipients) : 0;
  g_autoptr(GPtrArray) rcpts = g_ptr_array_new (); /* JsonObject*, the ones laid out */
  g_autoptr(GArray) n_hops = g_array_new (FALSE, TRUE, sizeof (guint));
  guint i, r, k, n, max_column, sender;
  double middle;

  layout->nodes = g_ptr_array_new_with_free_func (node_free);
  layout->edges = g_array_new (FALSE, TRUE, sizeof (ViewerEdge));

  for (i = 0; i < n_all; i++)
    {
      JsonObject *rcpt = msgtrk_json_array_get_object (recipients, i);
      JsonArray *hops;
      guint count;

      if (rcpt == NULL)
        continue;
      if (rcpts->len == VIEWER_LAYOUT_MAX_RECIPIENTS)
        {
          layout->hidden_recipients++;
          continue;
        }
      hops = msgtrk_json_get_array (rcpt, "hops");
      count = hops != NULL ? json_array_get_length (hops) : 0;
      if (count > VIEWER_LAYOUT_MAX_HOPS)
        {
          layout->hidden_hops += count - VIEWER_LAYOUT_MAX_HOPS;
          count = VIEWER_LAYOUT_MAX_HOPS;
        }
      g_ptr_array_add (rcpts, rcpt);
      g_array_append_val (n_hops, count);
    }
  n = rcpts->len;

  /* The shared prefix: hop k is shared when every recipient (two or more) has it. */
  k = 0;
  if (n >= 2)
    for (;; k++)
      {
        JsonObject *first;
        gboolean same = TRUE;

        if (k >= g_array_index (n_hops, guint, 0))
          break;
        first = msgtrk_json_array_get_object (msgtrk_json_get_array (g_ptr_array_index (rcpts, 0), "hops"), k);
        for (r = 1; r < n && same; r++)
          {
            JsonArray *hops = msgtrk_json_get_array (g_ptr_array_index (rcpts, r), "hops");

            same = k < g_array_index (n_hops, guint, r) && hops_same (first, msgtrk_json_array_get_object (hops, k));
          }
        if (!same)
          break;
      }
  layout->n_shared = k;

  middle = n > 0 ? (n - 1) / 2.0 : 0.0;
  max_column = k;
  for (r = 0; r < n; r++)
    max_column = MAX (max_column, g_array_index (n_hops, guint, r));

  /* Sender, then the shared hops in the middle row. */
  sender = add_node (layout, VIEWER_NODE_SENDER, 0, middle, -1);
  ((ViewerNode *) g_ptr_array_index (layout->nodes, sender))->title = msgtrk_json_clean_text (msgtrk_json_get_string (route, "sender"));
  ((ViewerNode *) g_ptr_array_index (layout->nodes, sender))->time = g_strdup (msgtrk_json_get_string (route, "sent"));
  ((ViewerNode *) g_ptr_array_index (layout->nodes, sender))->tracking =
    g_strdup (msgtrk_json_get_string (route, "tracking"));
  ((ViewerNode *) g_ptr_array_index (layout->nodes, sender))->state = "sender";
  ((ViewerNode *) g_ptr_array_index (layout->nodes, sender))->n_shared = n;
  {
    guint prev = sender;

    for (i = 0; i < k; i++)
      {
        JsonObject *hop = msgtrk_json_array_get_object (msgtrk_json_get_array (g_ptr_array_index (rcpts, 0), "hops"), i);
        guint id = add_node (layout, VIEWER_NODE_HOP, i + 1, middle, -1);
        ViewerNode *node = g_ptr_array_index (layout->nodes, id);

        fill_hop (node, hop);
        node->n_shared = n;
        for (r = 1; r < n; r++)
          {
            JsonObject *other = msgtrk_json_array_get_object (msgtrk_json_get_array (g_ptr_array_index (rcpts, r), "hops"), i);

            g_autofree char *from = NULL;
            g_autofree char *raw_from = NULL;
            g_autofree char *remote = NULL;
            gint64 delay;

            if (g_strcmp0 (node->status, msgtrk_json_get_string (other, "status")) != 0)
              g_clear_pointer (&node->status, g_free);
            /* The node's texts are cleaned (fill_hop): the other's too, to compare. */
            remote = msgtrk_json_clean_text (msgtrk_json_get_string (other, "remote_mta"));
            if (node->remote != NULL && remote != NULL &&
                g_ascii_strcasecmp (node->remote, remote) != 0)
              g_clear_pointer (&node->remote, g_free);
            if (node->kind != VIEWER_NODE_TRACE)
              continue;
            /* A shared trace node says where from, and its delay, only when all agree. */
            raw_from = hop_from (other);
            from = msgtrk_json_clean_text (raw_from);
            if (g_strcmp0 (node->from, from) != 0)
              g_clear_pointer (&node->from, g_free);
            if (node->has_delay && (!hop_delay (other, &delay) || delay != node->delay))
              node->has_delay = FALSE;
          }
        add_edge (layout, prev, id);
        prev = id;
      }

    /* One branch per recipient, then the recipient's box in the last column. */
    for (r = 0; r < n; r++)
      {
        JsonObject *rcpt = g_ptr_array_index (rcpts, r);
        JsonArray *hops = msgtrk_json_get_array (rcpt, "hops");
        guint last = prev, id;
        gboolean last_broken = FALSE;
        ViewerNode *node;

        for (i = k; i < g_array_index (n_hops, guint, r); i++)
          {
            JsonObject *hop = msgtrk_json_array_get_object (hops, i);

            id = add_node (layout, VIEWER_NODE_HOP, i + 1, r, (int) r);
            node = g_ptr_array_index (layout->nodes, id);
            if (hop != NULL)
              fill_hop (node, hop);
            else
              {
                node->kind = VIEWER_NODE_BROKEN;
                node->state = "broken";
              }
            add_edge (layout, last, id);
            last = id;
            last_broken = node->kind == VIEWER_NODE_BROKEN;
          }
        id = add_node (layout, VIEWER_NODE_RECIPIENT, max_column + 1, r, (int) r);
        node = g_ptr_array_index (layout->nodes, id);
        node->title = msgtrk_json_clean_text (msgtrk_json_get_string (rcpt, "address"));
        node->state = state_key (msgtrk_json_get_string (rcpt, "state"));
        /* A chain that ends broken does not reach the recipient: no edge is drawn. */
        if (!last_broken)
          add_edge (layout, last, id);
      }
  }

  layout->n_columns = max_column + (n > 0 ? 2 : 1);
  layout->n_rows = MAX (n, 1);
  layout->width = 2 * VIEWER_LAYOUT_MARGIN + layout->n_columns * VIEWER_LAYOUT_NODE_WIDTH +
                  (layout->n_columns - 1) * VIEWER_LAYOUT_COLUMN_GAP;
  layout->height = 2 * VIEWER_LAYOUT_MARGIN + layout->n_rows * VIEWER_LAYOUT_NODE_HEIGHT +
                   (layout->n_rows - 1) * VIEWER_LAYOUT_ROW_GAP;
  return layout;
}

/**
 * viewer_layout_node_at:
 * @layout: a layout
 * @x: a point of the diagram (diagram units)
 * @y: a point of the diagram
 *
 * Returns: the index in @layout->nodes of the box that holds (@x, @y), or -1
 */
int
viewer_layout_node_at (ViewerLayout *layout,
                       double        x,
                       double        y)
{
  g_return_val_if_fail (layout != NULL, -1);

  for (guint i = 0; i < layout->nodes->len; i++)
    {
      ViewerNode *node = g_ptr_array_index (layout->nodes, i);

      if (x >= node->x && x < node->x + VIEWER_LAYOUT_NODE_WIDTH && y >= node->y &&
          y < node->y + VIEWER_LAYOUT_NODE_HEIGHT)
        return (int) i;
    }
  return -1;
}

/**
 * viewer_layout_free:
 * @layout: (nullable) (transfer full): a layout
 *
 * Frees @layout and its nodes.
 */
void
viewer_layout_free (ViewerLayout *layout)
{
  if (layout == NULL)
    return;
  g_ptr_array_unref (layout->nodes);
  g_array_unref (layout->edges);
  g_free (layout);
}
