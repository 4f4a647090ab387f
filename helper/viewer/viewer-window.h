/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-window.h: one delivery-map window for one tracked message. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/** VIEWER_MAX_ID_LEN: longest envid/Message-ID a window is opened for (RFC 5322 line). */
#define VIEWER_MAX_ID_LEN 998

#define VIEWER_TYPE_WINDOW (viewer_window_get_type ())
G_DECLARE_FINAL_TYPE (ViewerWindow, viewer_window, VIEWER, WINDOW, GtkApplicationWindow)

ViewerWindow *viewer_window_new     (GtkApplication *app,
                                     const char     *id);
gboolean      viewer_window_matches (ViewerWindow   *self,
                                     const char     *id);

G_END_DECLS
