/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-config.h: the one configuration reader shared by msgtrk-relay and mtqpd.
 *
 * Both servers read a GKeyFile, loaded by server-main.c through server_config_load(). These helpers load it (bounded size) and read typed
 * values with a default and a range, so that every limit is checked in one place and a
 * bad value gives an error that names the file, group, key and the accepted range.
 * Also: parsing of listen addresses ("ADDR:PORT", "[v6]:PORT").
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** SERVER_CONFIG_MAX_SIZE: largest configuration file accepted, in octets. */
#define SERVER_CONFIG_MAX_SIZE (256 * 1024)

GKeyFile       *server_config_load          (const char   *path,
                                             GError      **error);
char           *server_config_get_string    (GKeyFile     *kf,
                                             const char   *group,
                                             const char   *key,
                                             const char   *default_value,
                                             GError      **error);
gboolean        server_config_get_uint      (GKeyFile     *kf,
                                             const char   *group,
                                             const char   *key,
                                             guint64       default_value,
                                             guint64       min,
                                             guint64       max,
                                             guint64      *value,
                                             GError      **error);
gboolean        server_config_get_boolean   (GKeyFile     *kf,
                                             const char   *group,
                                             const char   *key,
                                             gboolean      default_value,
                                             gboolean     *value,
                                             GError      **error);
GSocketAddress *server_config_parse_listen  (const char   *text,
                                             GError      **error);

G_END_DECLS
