/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-layout.h: where the delivery-map diagram puts its boxes (pure, no GTK).
 *
 * viewer_layout_compute() turns a route (the GetRoute JSON of docs/dbus-api.md) into
 * nodes on a grid: the sender in column 0, the hops all recipients share (the common
 * prefix, usually the submission server) in the middle row, then one row (branch) per
 * recipient, and each recipient's own box in the last column. Edges join consecutive
 * nodes; an edge into a broken link is marked broken. Hops of the Received: chain
 * ("source": "trace", which never carry an action or status) are trace nodes, never broken
 * links, and the edge into one carries the hop's delay. No I/O, no drawing, no clock, no
 * locale: the same JSON always gives the same layout (unit-tested).
 *
 * Limits: VIEWER_LAYOUT_MAX_RECIPIENTS branches and VIEWER_LAYOUT_MAX_HOPS hops per
 * recipient are laid out; the rest is counted in hidden_recipients / hidden_hops.
 *
 * viewer_layout_node_at() finds the box under a point (a click on the diagram), so that
 * the window can show that hop's details.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/** VIEWER_LAYOUT_MAX_RECIPIENTS: branches drawn at most (the rest are counted). */
#define VIEWER_LAYOUT_MAX_RECIPIENTS 100
/** VIEWER_LAYOUT_MAX_HOPS: hops drawn per recipient at most (the rest are counted). */
#define VIEWER_LAYOUT_MAX_HOPS 32

/* Geometry, in diagram units (pixels at scale 1). */
#define VIEWER_LAYOUT_NODE_WIDTH 192.0
#define VIEWER_LAYOUT_NODE_HEIGHT 74.0
#define VIEWER_LAYOUT_COLUMN_GAP 40.0
#define VIEWER_LAYOUT_ROW_GAP 26.0
#define VIEWER_LAYOUT_MARGIN 20.0

typedef enum
{
  VIEWER_NODE_SENDER,    /* column 0: the sender (title: address, may be NULL) */
  VIEWER_NODE_HOP,       /* one reporting MTA */
  VIEWER_NODE_BROKEN,    /* a broken link: the chain could not be followed (error) */
  VIEWER_NODE_TRACE,     /* one Received: field of a DSN's returned headers (title: by-host) */
  VIEWER_NODE_RECIPIENT, /* last column: the recipient and its state */
} ViewerNodeKind;

typedef struct
{
  ViewerNodeKind kind;
  guint column;
  double row;         /* fractional for shared nodes centred between branches */
  double x, y;        /* top-left corner */
  int recipient;      /* branch index, or -1 for the sender and shared hops */
  char *title;        /* (owned) (nullable): MTA, address */
  char *time;         /* (owned) (nullable): ISO 8601 as reported (arrival, else last attempt) */
  char *action;       /* (owned) (nullable) */
  char *status;       /* (owned) (nullable): status code; NULL for shared hops that differ */
  char *error;        /* (owned) (nullable): text of a broken link */
  char *remote;       /* (owned) (nullable): Remote-MTA, where the hop passed the message;
                         NULL for shared hops that differ */
  char *tracking;     /* (owned) (nullable): sender node: the route's "tracking" (what to
                         say when it has no sent time) */
  char *from;         /* (owned) (nullable): trace nodes: "HOST [ADDRESS]", "HOST" or
                         "[ADDRESS]", where the message came from */
  gboolean has_delay; /* trace nodes: whether delay is known */
  gint64 delay;       /* trace nodes: seconds since the previous hop (negative with clock skew) */
  const char *state;  /* static colour key: delivered, in-transit, delayed, failed, relayed,
                         opaque, read, unknown, broken, trace, sender */
  guint n_shared;     /* recipients passing through this node (1 for branch nodes) */
  JsonObject *hop;    /* (owned) (nullable): the hop's JSON (hop, broken and trace nodes; a
                         shared node has the first recipient's), for its detail popover */
} ViewerNode;

typedef struct
{
  guint from, to;     /* indexes into nodes */
  gboolean broken;    /* leads into a broken link: dashed red with a ✗ */
  const char *state;  /* static colour key of the destination */
  gboolean has_delay; /* leads into a trace node whose delay is known */
  gint64 delay;       /* that delay in seconds */
} ViewerEdge;

typedef struct
{
  GPtrArray *nodes;   /* (element-type ViewerNode) (owned) */
  GArray *edges;      /* (element-type ViewerEdge) (owned) */
  guint n_columns;
  guint n_rows;
  guint n_shared;     /* hops shared by all recipients */
  double width, height;
  guint hidden_recipients;
  guint hidden_hops;
} ViewerLayout;

ViewerLayout *viewer_layout_compute (JsonObject *route);
void          viewer_layout_free    (ViewerLayout *layout);
const char   *viewer_layout_action_state (const char *action);
int           viewer_layout_node_at (ViewerLayout *layout,
                                     double        x,
                                     double        y);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ViewerLayout, viewer_layout_free)

G_END_DECLS
