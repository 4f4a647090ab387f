/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-diagram.h: draws a ViewerLayout with cairo and Pango (the route diagram).
 *
 * Text and neutral lines use the widget's theme colour, so the diagram reads in light and
 * dark themes; status colours are fixed mid-tones chosen to contrast with both. Never
 * relies on colour alone: every node also says its state in words.
 */
#pragma once

#include <gtk/gtk.h>

#include "viewer-layout.h"

G_BEGIN_DECLS

void        viewer_diagram_draw         (GtkWidget    *widget,
                                         cairo_t      *cr,
                                         ViewerLayout *layout);
void        viewer_diagram_state_rgba   (const char   *state,
                                         GdkRGBA      *rgba);
const char *viewer_diagram_state_label  (const char   *state);
char       *viewer_diagram_hop_words    (const ViewerNode *node);

G_END_DECLS
