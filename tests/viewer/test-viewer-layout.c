/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-viewer-layout.c: the delivery-map layout (helper/viewer/viewer-layout.c).
 *
 * JSON route in, node positions and edges out: the shared first hop, one branch per
 * recipient, recipients aligned in the last column, the broken link, Received: trace hops
 * (never broken for lacking action and status; where from; the delay on the edge), and
 * hostile routes (missing members, wrong types, nulls, the limits and one past them).
 */
#include "config.h"

#include <glib.h>
#include <json-glib/json-glib.h>

#include "viewer-layout.h"

#define COL(c) (VIEWER_LAYOUT_MARGIN + (c) * (VIEWER_LAYOUT_NODE_WIDTH + VIEWER_LAYOUT_COLUMN_GAP))
#define ROW(r) (VIEWER_LAYOUT_MARGIN + (r) * (VIEWER_LAYOUT_NODE_HEIGHT + VIEWER_LAYOUT_ROW_GAP))

/* The route of tests/cli/fake-msgtrkd.py: delivered, delayed (then a Received: trace hop,
 * which has no action and no status and is not a broken link), failed with a broken link. */
static const char route_json[] =
  "{\"envid\":\"mtrk.Q1x7vB2k@example.org\",\"sender\":\"me@example.org\","
  "\"sent\":\"2026-11-23T09:00:00Z\",\"state\":\"failed\",\"recipients\":["
  "{\"address\":\"alice@example.net\",\"state\":\"delivered\",\"hops\":["
  "  {\"reporting_mta\":\"smtp.example.org\",\"action\":\"transferred\",\"status\":\"2.0.0\","
  "   \"arrival\":\"2026-11-23T09:00:00Z\",\"error\":null},"
  "  {\"reporting_mta\":\"relay.example.net\",\"action\":\"transferred\",\"status\":\"2.0.0\",\"error\":null},"
  "  {\"reporting_mta\":\"mx.example.net\",\"action\":\"delivered\",\"status\":\"2.0.0\",\"error\":null}]},"
  "{\"address\":\"bob@example.com\",\"state\":\"delayed\",\"hops\":["
  "  {\"reporting_mta\":\"SMTP.example.org\",\"action\":\"Transferred\",\"status\":\"2.0.0\",\"error\":null},"
  "  {\"source\":\"dsn\",\"reporting_mta\":\"mx.example.com\",\"action\":\"delayed\",\"status\":\"4.4.1\",\"error\":null},"
  "  {\"source\":\"trace\",\"server\":\"mx.example.com\",\"reporting_mta\":null,\"action\":null,"
  "   \"status\":null,\"arrival\":\"2026-11-23T09:00:04Z\",\"from_address\":\"192.0.2.25\","
  "   \"from_host\":\"smtp.example.org\",\"delay_seconds\":4,\"error\":null}]},"
  "{\"address\":\"carol@example.info\",\"state\":\"failed\",\"hops\":["
  "  {\"reporting_mta\":\"smtp.example.org\",\"action\":\"transferred\",\"status\":\"2.0.0\",\"error\":null},"
  "  {\"server\":\"gw.example.info\",\"reporting_mta\":null,\"action\":null,\"status\":null,"
  "   \"error\":\"connection refused\"}]}]}";

static JsonObject *
parse (const char *text,
       JsonNode  **keep)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  *keep = json_node_copy (json_parser_get_root (parser));
  return JSON_NODE_HOLDS_OBJECT (*keep) ? json_node_get_object (*keep) : NULL;
}

static ViewerNode *
node_at (ViewerLayout *layout,
         guint         i)
{
  g_assert_cmpuint (i, <, layout->nodes->len);
  return g_ptr_array_index (layout->nodes, i);
}

static gboolean
has_edge (ViewerLayout *layout,
          guint         from,
          guint         to,
          gboolean      broken)
{
  guint i;

  for (i = 0; i < layout->edges->len; i++)
    {
      ViewerEdge *e = &g_array_index (layout->edges, ViewerEdge, i);

      if (e->from == from && e->to == to)
        return e->broken == broken;
    }
  return FALSE;
}

static void
test_layout_route (void)
{
  g_autoptr(JsonNode) keep = NULL;
  JsonObject *route = parse (route_json, &keep);
  g_autoptr(ViewerLayout) layout = viewer_layout_compute (route);
  /* Order of nodes: sender, shared hop, alice's 2 hops + box, bob's DSN hop, trace hop +
   * box, carol's broken hop + box. */
  static const struct
  {
    ViewerNodeKind kind;
    guint column;
    double row;
    int recipient;
    const char *title;
    const char *state;
  } expected[] = {
    { VIEWER_NODE_SENDER, 0, 1, -1, "me@example.org", "sender" },
    { VIEWER_NODE_HOP, 1, 1, -1, "smtp.example.org", "in-transit" },
    { VIEWER_NODE_HOP, 2, 0, 0, "relay.example.net", "in-transit" },
    { VIEWER_NODE_HOP, 3, 0, 0, "mx.example.net", "delivered" },
    { VIEWER_NODE_RECIPIENT, 4, 0, 0, "alice@example.net", "delivered" },
    { VIEWER_NODE_HOP, 2, 1, 1, "mx.example.com", "delayed" },
    { VIEWER_NODE_TRACE, 3, 1, 1, "mx.example.com", "trace" },
    { VIEWER_NODE_RECIPIENT, 4, 1, 1, "bob@example.com", "delayed" },
    { VIEWER_NODE_BROKEN, 2, 2, 2, "gw.example.info", "broken" },
    { VIEWER_NODE_RECIPIENT, 4, 2, 2, "carol@example.info", "failed" },
  };
  guint i;

  g_assert_cmpuint (layout->nodes->len, ==, G_N_ELEMENTS (expected));
  for (i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      ViewerNode *n = node_at (layout, i);

      g_test_message ("node %u: %s", i, n->title);
      g_assert_cmpint (n->kind, ==, expected[i].kind);
      g_assert_cmpuint (n->column, ==, expected[i].column);
      g_assert_cmpfloat (n->row, ==, expected[i].row);
      g_assert_cmpfloat (n->x, ==, COL (expected[i].column));
      g_assert_cmpfloat (n->y, ==, ROW (expected[i].row));
      g_assert_cmpint (n->recipient, ==, expected[i].recipient);
      g_assert_cmpstr (n->title, ==, expected[i].title);
      g_assert_cmpstr (n->state, ==, expected[i].state);
    }
  g_assert_cmpuint (layout->n_shared, ==, 1);
  g_assert_cmpuint (node_at (layout, 1)->n_shared, ==, 3);
  g_assert_cmpstr (node_at (layout, 1)->status, ==, "2.0.0");
  g_assert_cmpstr (node_at (layout, 1)->time, ==, "2026-11-23T09:00:00Z");
  g_assert_cmpstr (node_at (layout, 8)->error, ==, "connection refused");
  /* The trace hop: not broken, where it came from, its delay on the edge into it. */
  g_assert_null (node_at (layout, 6)->error);
  g_assert_null (node_at (layout, 6)->action);
  g_assert_cmpstr (node_at (layout, 6)->time, ==, "2026-11-23T09:00:04Z");
  g_assert_cmpstr (node_at (layout, 6)->from, ==, "smtp.example.org [192.0.2.25]");
  g_assert_true (node_at (layout, 6)->has_delay);
  g_assert_cmpint (node_at (layout, 6)->delay, ==, 4);

  g_assert_cmpuint (layout->edges->len, ==, 8);
  g_assert_true (has_edge (layout, 0, 1, FALSE));
  g_assert_true (has_edge (layout, 1, 2, FALSE));
  g_assert_true (has_edge (layout, 2, 3, FALSE));
  g_assert_true (has_edge (layout, 3, 4, FALSE));
  g_assert_true (has_edge (layout, 1, 5, FALSE));
  g_assert_true (has_edge (layout, 5, 6, FALSE)); /* into the trace hop: not broken */
  g_assert_true (has_edge (layout, 6, 7, FALSE)); /* and the chain arrives */
  g_assert_true (has_edge (layout, 1, 8, TRUE));
  g_assert_false (has_edge (layout, 8, 9, FALSE)); /* a broken chain does not arrive */
  for (i = 0; i < layout->edges->len; i++)
    {
      ViewerEdge *e = &g_array_index (layout->edges, ViewerEdge, i);

      g_assert_cmpint (e->has_delay, ==, e->to == 6);
      if (e->to == 6)
        {
          g_assert_cmpint (e->delay, ==, 4);
          g_assert_cmpstr (e->state, ==, "trace");
        }
    }

  g_assert_cmpuint (layout->n_columns, ==, 5);
  g_assert_cmpuint (layout->n_rows, ==, 3);
  g_assert_cmpfloat (layout->width, ==, 2 * VIEWER_LAYOUT_MARGIN + 5 * VIEWER_LAYOUT_NODE_WIDTH +
                                          4 * VIEWER_LAYOUT_COLUMN_GAP);
  g_assert_cmpfloat (layout->height, ==, 2 * VIEWER_LAYOUT_MARGIN + 3 * VIEWER_LAYOUT_NODE_HEIGHT +
                                           2 * VIEWER_LAYOUT_ROW_GAP);
  g_assert_cmpuint (layout->hidden_recipients, ==, 0);
  g_assert_cmpuint (layout->hidden_hops, ==, 0);
  /* Fits a 1280-pixel screen. */
  g_assert_cmpfloat (layout->width, <=, 1200);
}

/* Table: small routes and what their layout must be. */
static void
test_layout_table (void)
{
  static const struct
  {
    const char *json;
    guint n_nodes, n_edges, n_shared, n_columns, n_rows;
  } cases[] = {
    /* nothing at all */
    { "{}", 1, 0, 0, 1, 1 },
    { "{\"recipients\":null}", 1, 0, 0, 1, 1 },
    { "{\"recipients\":{}}", 1, 0, 0, 1, 1 },
    { "{\"recipients\":[1,\"x\",null,[]]}", 1, 0, 0, 1, 1 },
    /* one recipient, no hops: sender → recipient */
    { "{\"recipients\":[{\"address\":\"a@b\"}]}", 2, 1, 0, 2, 1 },
    /* one recipient: nothing is "shared", its hops form its branch */
    { "{\"recipients\":[{\"hops\":[{\"reporting_mta\":\"m\",\"action\":\"delivered\"}]}]}", 3, 2, 0, 3, 1 },
    /* two recipients, different first hops: no shared node */
    { "{\"recipients\":[{\"hops\":[{\"reporting_mta\":\"m1\",\"action\":\"delivered\"}]},"
      "{\"hops\":[{\"reporting_mta\":\"m2\",\"action\":\"delivered\"}]}]}", 5, 4, 0, 3, 2 },
    /* same MTA, different action: not shared */
    { "{\"recipients\":[{\"hops\":[{\"reporting_mta\":\"m\",\"action\":\"delivered\"}]},"
      "{\"hops\":[{\"reporting_mta\":\"m\",\"action\":\"failed\"}]}]}", 5, 4, 0, 3, 2 },
    /* both hops identical: both shared, recipients branch from the last */
    { "{\"recipients\":[{\"hops\":[{\"reporting_mta\":\"m\",\"action\":\"transferred\"},"
      "{\"reporting_mta\":\"n\",\"action\":\"delivered\"}]},{\"hops\":[{\"reporting_mta\":\"m\","
      "\"action\":\"transferred\"},{\"reporting_mta\":\"n\",\"action\":\"delivered\"}]}]}", 5, 4, 2, 4, 2 },
    /* a hop of the wrong type counts as broken, no edge after it */
    { "{\"recipients\":[{\"hops\":[7]}]}", 3, 1, 0, 3, 1 },
    /* action null but status present: not broken */
    { "{\"recipients\":[{\"hops\":[{\"server\":\"s\",\"action\":null,\"status\":\"2.0.0\"}]}]}", 3, 2, 0, 3, 1 },
    /* members of the wrong type are ignored */
    { "{\"sender\":5,\"recipients\":[{\"address\":[],\"state\":{},\"hops\":[{\"reporting_mta\":1,"
      "\"action\":true,\"status\":\"x\"}]}]}", 3, 2, 0, 3, 1 },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonNode) keep = NULL;
      JsonObject *route = parse (cases[i].json, &keep);
      g_autoptr(ViewerLayout) layout = viewer_layout_compute (route);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].json);
      g_assert_cmpuint (layout->nodes->len, ==, cases[i].n_nodes);
      g_assert_cmpuint (layout->edges->len, ==, cases[i].n_edges);
      g_assert_cmpuint (layout->n_shared, ==, cases[i].n_shared);
      g_assert_cmpuint (layout->n_columns, ==, cases[i].n_columns);
      g_assert_cmpuint (layout->n_rows, ==, cases[i].n_rows);
    }
}

/* Received: trace hops ("source": "trace"): never broken for lacking action and status. */
static void
test_layout_trace (void)
{
  static const struct
  {
    const char *json;
    ViewerNodeKind kind; /* of node 1 (the first hop) */
    const char *state;
    const char *from;
    gboolean has_delay;
    gint64 delay;
    guint n_edges, n_broken, n_shared;
  } cases[] = {
    /* everything missing: still a trace node, and the chain reaches the recipient */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\"}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 2, 0, 0 },
    /* a relay's trace record (Harrison, docs/harrison.md) is a Received: field too */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"harrison\",\"server\":\"mx\",\"action\":null,"
      "\"status\":null,\"from_host\":\"h.example\",\"delay_seconds\":2}]}]}",
      VIEWER_NODE_TRACE, "trace", "h.example", TRUE, 2, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"server\":\"mx\",\"action\":null,"
      "\"status\":null,\"from_address\":null,\"from_host\":null,\"delay_seconds\":null,\"error\":null}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 2, 0, 0 },
    /* where from */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"from_host\":\"h.example\",\"from_address\":\"192.0.2.1\"}]}]}",
      VIEWER_NODE_TRACE, "trace", "h.example [192.0.2.1]", FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"from_host\":\"h.example\"}]}]}",
      VIEWER_NODE_TRACE, "trace", "h.example", FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"from_address\":\"192.0.2.1\"}]}]}",
      VIEWER_NODE_TRACE, "trace", "[192.0.2.1]", FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"from_host\":\"[192.0.2.1]\",\"from_address\":\"192.0.2.1\"}]}]}",
      VIEWER_NODE_TRACE, "trace", "[192.0.2.1]", FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"from_host\":\"192.0.2.1\",\"from_address\":\"192.0.2.1\"}]}]}",
      VIEWER_NODE_TRACE, "trace", "[192.0.2.1]", FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"from_host\":\"[192.0.2.10]\",\"from_address\":\"192.0.2.1\"}]}]}",
      VIEWER_NODE_TRACE, "trace", "[192.0.2.10] [192.0.2.1]", FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"from_host\":\"\",\"from_address\":\"\"}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"from_host\":7,\"from_address\":[\"x\"]}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 2, 0, 0 },
    /* the delay: known, zero, negative (clock skew), extreme, of the wrong type */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"delay_seconds\":4}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, TRUE, 4, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"delay_seconds\":0}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, TRUE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"delay_seconds\":-3}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, TRUE, -3, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"delay_seconds\":-9223372036854775808}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, TRUE, G_MININT64, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"delay_seconds\":\"5\"}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"delay_seconds\":1.5}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 2, 0, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"delay_seconds\":true}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 2, 0, 0 },
    /* a trace hop with an error is a broken link after all */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"server\":\"mx\",\"error\":\"cut short\"}]}]}",
      VIEWER_NODE_BROKEN, "broken", NULL, FALSE, 0, 1, 1, 0 },
    /* MTQP and DSN hops with neither action nor status stay broken links */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"dsn\",\"server\":\"mx\"}]}]}",
      VIEWER_NODE_BROKEN, "broken", NULL, FALSE, 0, 1, 1, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"mtqp\",\"server\":\"mx\",\"delay_seconds\":4}]}]}",
      VIEWER_NODE_BROKEN, "broken", NULL, FALSE, 0, 1, 1, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":5,\"server\":\"mx\"}]}]}",
      VIEWER_NODE_BROKEN, "broken", NULL, FALSE, 0, 1, 1, 0 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"TRACE\",\"server\":\"mx\"}]}]}",
      VIEWER_NODE_BROKEN, "broken", NULL, FALSE, 0, 1, 1, 0 },
    /* a DSN hop with an action and a delay member is a hop, and its edge has no delay */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"dsn\",\"server\":\"mx\",\"action\":\"delivered\",\"delay_seconds\":4}]}]}",
      VIEWER_NODE_HOP, "delivered", NULL, FALSE, 0, 2, 0, 0 },
    /* the same trace hop for two recipients is shared (sender → it → each recipient); from
     * and delay are kept when all agree */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"server\":\"MX\",\"from_host\":\"a\",\"delay_seconds\":2}]},"
      "{\"hops\":[{\"source\":\"trace\",\"server\":\"mx\",\"from_host\":\"a\",\"delay_seconds\":2}]}]}",
      VIEWER_NODE_TRACE, "trace", "a", TRUE, 2, 3, 0, 1 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"server\":\"mx\",\"from_host\":\"a\",\"delay_seconds\":2}]},"
      "{\"hops\":[{\"source\":\"trace\",\"server\":\"mx\",\"from_host\":\"b\",\"delay_seconds\":3}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 3, 0, 1 },
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"server\":\"mx\",\"delay_seconds\":2}]},"
      "{\"hops\":[{\"source\":\"trace\",\"server\":\"mx\"}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 3, 0, 1 },
    /* a trace hop and a report hop of the same MTA (no action either) are not shared */
    { "{\"recipients\":[{\"hops\":[{\"source\":\"trace\",\"server\":\"mx\"}]},"
      "{\"hops\":[{\"source\":\"dsn\",\"server\":\"mx\",\"status\":\"2.0.0\"}]}]}",
      VIEWER_NODE_TRACE, "trace", NULL, FALSE, 0, 4, 0, 0 },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonNode) keep = NULL;
      JsonObject *route = parse (cases[i].json, &keep);
      g_autoptr(ViewerLayout) layout = viewer_layout_compute (route);
      ViewerNode *hop;
      guint e, n_broken = 0;

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].json);
      hop = node_at (layout, 1);
      g_assert_cmpint (hop->kind, ==, cases[i].kind);
      g_assert_cmpstr (hop->state, ==, cases[i].state);
      g_assert_cmpstr (hop->from, ==, cases[i].from);
      g_assert_cmpint (hop->has_delay, ==, cases[i].has_delay);
      if (cases[i].has_delay)
        g_assert_cmpint (hop->delay, ==, cases[i].delay);
      g_assert_cmpuint (layout->edges->len, ==, cases[i].n_edges);
      g_assert_cmpuint (layout->n_shared, ==, cases[i].n_shared);
      for (e = 0; e < layout->edges->len; e++)
        {
          ViewerEdge *edge = &g_array_index (layout->edges, ViewerEdge, e);

          if (edge->broken)
            n_broken++;
          /* Only an edge into the (first) hop can carry its delay. */
          g_assert_cmpint (edge->has_delay, ==, edge->to == 1 && cases[i].has_delay);
          if (edge->has_delay)
            g_assert_cmpint (edge->delay, ==, cases[i].delay);
        }
      g_assert_cmpuint (n_broken, ==, cases[i].n_broken);
    }
}

static void
test_layout_null (void)
{
  g_autoptr(ViewerLayout) layout = viewer_layout_compute (NULL);

  g_assert_cmpuint (layout->nodes->len, ==, 1);
  g_assert_cmpuint (layout->edges->len, ==, 0);
  g_assert_null (node_at (layout, 0)->title);
}

/* A route with @n_rcpts recipients of @n_hops hops each (all through different MTAs). */
static char *
big_route (guint n_rcpts,
           guint n_hops)
{
  GString *s = g_string_new ("{\"recipients\":[");
  guint r, h;

  for (r = 0; r < n_rcpts; r++)
    {
      g_string_append_printf (s, "%s{\"address\":\"r%u@x\",\"state\":\"in-transit\",\"hops\":[", r ? "," : "", r);
      for (h = 0; h < n_hops; h++)
        g_string_append_printf (s, "%s{\"reporting_mta\":\"m%u-%u\",\"action\":\"transferred\"}", h ? "," : "", r, h);
      g_string_append (s, "]}");
    }
  g_string_append (s, "]}");
  return g_string_free (s, FALSE);
}

static void
test_layout_limits (void)
{
  static const struct
  {
    guint n_rcpts, n_hops;
    guint rows, hidden_recipients, hidden_hops;
  } cases[] = {
    { VIEWER_LAYOUT_MAX_RECIPIENTS, 1, VIEWER_LAYOUT_MAX_RECIPIENTS, 0, 0 },
    { VIEWER_LAYOUT_MAX_RECIPIENTS + 1, 1, VIEWER_LAYOUT_MAX_RECIPIENTS, 1, 0 },
    { 1, VIEWER_LAYOUT_MAX_HOPS, 1, 0, 0 },
    { 1, VIEWER_LAYOUT_MAX_HOPS + 1, 1, 0, 1 },
    { 2, VIEWER_LAYOUT_MAX_HOPS + 5, 2, 0, 10 },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *json = big_route (cases[i].n_rcpts, cases[i].n_hops);
      g_autoptr(JsonNode) keep = NULL;
      JsonObject *route = parse (json, &keep);
      g_autoptr(ViewerLayout) layout = viewer_layout_compute (route);
      guint drawn_hops = MIN (cases[i].n_hops, VIEWER_LAYOUT_MAX_HOPS);
      guint drawn_rcpts = MIN (cases[i].n_rcpts, VIEWER_LAYOUT_MAX_RECIPIENTS);

      g_assert_cmpuint (layout->n_rows, ==, cases[i].rows);
      g_assert_cmpuint (layout->hidden_recipients, ==, cases[i].hidden_recipients);
      g_assert_cmpuint (layout->hidden_hops, ==, cases[i].hidden_hops);
      g_assert_cmpuint (layout->nodes->len, ==, 1 + drawn_rcpts * (drawn_hops + 1));
      g_assert_cmpuint (layout->n_columns, ==, drawn_hops + 2);
    }
}

static void
test_layout_action_state (void)
{
  static const struct { const char *action, *state; } cases[] = {
    { "delivered", "delivered" }, { "DELIVERED", "delivered" }, { "transferred", "in-transit" },
    { "relayed", "relayed" },     { "expanded", "delivered" },  { "delayed", "delayed" },
    { "failed", "failed" },       { "displayed", "read" },      { "opaque", "opaque" },
    { "", "unknown" },            { NULL, "unknown" },          { "delivered\xff", "unknown" },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpstr (viewer_layout_action_state (cases[i].action), ==, cases[i].state);
}

/* A click on a box finds that box (its edges included on the top-left, excluded on the
 * bottom-right), a click between boxes finds none; hop nodes keep their hop's JSON. */
static void
test_layout_node_at (void)
{
  g_autoptr(JsonNode) keep = NULL;
  JsonObject *route = parse (route_json, &keep);
  g_autoptr(ViewerLayout) layout = viewer_layout_compute (route);

  for (guint i = 0; i < layout->nodes->len; i++)
    {
      ViewerNode *node = node_at (layout, i);

      g_assert_cmpint (viewer_layout_node_at (layout, node->x, node->y), ==, (int) i);
      g_assert_cmpint (viewer_layout_node_at (layout, node->x + VIEWER_LAYOUT_NODE_WIDTH / 2,
                                              node->y + VIEWER_LAYOUT_NODE_HEIGHT / 2), ==, (int) i);
      g_assert_cmpint (viewer_layout_node_at (layout, node->x + VIEWER_LAYOUT_NODE_WIDTH - 0.5,
                                              node->y + VIEWER_LAYOUT_NODE_HEIGHT - 0.5), ==, (int) i);
      g_assert_cmpint (viewer_layout_node_at (layout, node->x + VIEWER_LAYOUT_NODE_WIDTH,
                                              node->y), !=, (int) i);
      g_assert_cmpint (viewer_layout_node_at (layout, node->x, node->y + VIEWER_LAYOUT_NODE_HEIGHT),
                       !=, (int) i);
      if (node->kind == VIEWER_NODE_HOP || node->kind == VIEWER_NODE_TRACE ||
          node->kind == VIEWER_NODE_BROKEN)
        g_assert_nonnull (node->hop);
      else
        g_assert_null (node->hop);
    }
  g_assert_cmpint (viewer_layout_node_at (layout, 0, 0), ==, -1);
  g_assert_cmpint (viewer_layout_node_at (layout, COL (1) - 1, ROW (0) + 1), ==, -1);
  g_assert_cmpint (viewer_layout_node_at (layout, layout->width + 10, 10), ==, -1);
}

/* A hop's server and from_host come from Received: fields anyone who saw a
 * Content-Track key (TRACK: mails) or a Message-ID (a DSN's returned headers) writes. The
 * CLI drops control characters and bidi overrides (helper/cli/msgtrk.c); the diagram and
 * the map's side list drew them: "\u202eelpmaxe.knab" showed as "bank.example", ESC
 * and DEL as boxes (session 20 review). The layout cleans them (msgtrk_json_clean_text). */
static void
test_layout_control_characters (void)
{
  g_autoptr(JsonNode) keep = NULL;
  g_autoptr(JsonNode) keep_shared = NULL;
  JsonObject *route = parse ("{\"recipients\":[{\"hops\":[{\"source\":\"harrison\","
                             "\"server\":\"\\u202eelpmaxe.knab\\u001b[2J\",\"from_host\":\"a\\u007fb\"}]}]}",
                             &keep);
  g_autoptr(ViewerLayout) layout = NULL;
  ViewerNode *hop;

  layout = viewer_layout_compute (route);
  hop = node_at (layout, 1);
  g_assert_cmpint (hop->kind, ==, VIEWER_NODE_TRACE);
  for (const char *p = hop->title; p != NULL && *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      g_assert_false (g_unichar_iscntrl (c) || (c >= 0x202a && c <= 0x202e));
    }
  for (const char *p = hop->from; p != NULL && *p != '\0'; p = g_utf8_next_char (p))
    g_assert_false (g_unichar_iscntrl (g_utf8_get_char (p)));
  g_clear_pointer (&layout, viewer_layout_free);

  /* A hop two recipients share, with the same text holding a cleaned character: the shared
   * node keeps its fields (before, its cleaned text was compared with the other
   * recipient's raw text, and the field was dropped as if the two disagreed). */
  route = parse ("{\"recipients\":[{\"hops\":[{\"source\":\"harrison\",\"server\":\"mx\","
                 "\"from_host\":\"a\\u0007b\",\"remote_mta\":\"r\\u202ex\"}]},"
                 "{\"hops\":[{\"source\":\"harrison\",\"server\":\"mx\","
                 "\"from_host\":\"a\\u0007b\",\"remote_mta\":\"r\\u202ex\"}]}]}",
                 &keep_shared);
  layout = viewer_layout_compute (route);
  g_assert_cmpuint (layout->n_shared, ==, 1);
  hop = node_at (layout, 1);
  g_assert_cmpint (hop->kind, ==, VIEWER_NODE_TRACE);
  g_assert_cmpstr (hop->from, ==, "a?b");
  g_assert_cmpstr (hop->remote, ==, "r?x");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/viewer/layout/route", test_layout_route);
  g_test_add_func ("/viewer/layout/table", test_layout_table);
  g_test_add_func ("/viewer/layout/trace", test_layout_trace);
  g_test_add_func ("/viewer/layout/null", test_layout_null);
  g_test_add_func ("/viewer/layout/limits", test_layout_limits);
  g_test_add_func ("/viewer/layout/action-state", test_layout_action_state);
  g_test_add_func ("/viewer/layout/node-at", test_layout_node_at);
  g_test_add_func ("/viewer/layout/control-characters", test_layout_control_characters);
  g_test_summary ("The delivery-map layout: JSON route in, node positions and edges out.");
  return g_test_run ();
}
