/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-config.h: the one configuration reader shared by every msgtrk server program.
 *
 * Every server program reads a GKeyFile, loaded by server-main.c through server_config_load().
 * These helpers load it (bounded size) and read typed values with a default and a range, so
 * that every limit is checked in one place and a bad value gives an error that names the
 * file, group, key and the accepted range.
 * server_config_check_keys() refuses unknown groups and keys from one table per program, so
 * that a typo is reported the same way everywhere (file, group, key, and what is known).
 * Also: parsing of listen addresses ("ADDR:PORT", "[v6]:PORT").
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** SERVER_CONFIG_MAX_SIZE: largest configuration file accepted, in octets. */
#define SERVER_CONFIG_MAX_SIZE (256 * 1024)

/**
 * ServerConfigGroup:
 * @name: a group the program reads
 * @keys: (nullable): its known keys, %NULL-terminated; %NULL when any key is accepted
 *   (groups whose keys are names, e.g. [routes] domains or [keys] key ids)
 *
 * One row of the table given to server_config_check_keys(); the table ends with a row
 * whose @name is %NULL.
 */
typedef struct
{
  const char        *name;
  const char *const *keys;
} ServerConfigGroup;

/**
 * ServerConfigString:
 * @key: the key
 * @default_value: (nullable): the value when the key is absent or empty
 * @field: where the value goes (the old string there is freed)
 *
 * One row of the table given to server_config_read_strings(); the table ends with a row
 * whose @key is %NULL.
 */
typedef struct
{
  const char  *key;
  const char  *default_value;
  char       **field;
} ServerConfigString;

/**
 * ServerConfigUint:
 * @key: the key
 * @default_value: the value when the key is absent
 * @min: the smallest accepted value
 * @max: the largest accepted value, at most %G_MAXUINT
 * @field: where the value goes
 *
 * One row of the table given to server_config_read_uints(); the table ends with a row
 * whose @key is %NULL.
 */
typedef struct
{
  const char *key;
  guint64     default_value;
  guint64     min;
  guint64     max;
  guint      *field;
} ServerConfigUint;

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
gboolean        server_config_check_group   (GKeyFile                *kf,
                                             const char              *path,
                                             const char              *group,
                                             const char *const       *keys,
                                             GError                 **error);
gboolean        server_config_check_keys    (GKeyFile                *kf,
                                             const char              *path,
                                             const ServerConfigGroup *groups,
                                             GError                 **error);
gboolean        server_config_read_string   (GKeyFile     *kf,
                                             const char   *group,
                                             const char   *key,
                                             const char   *default_value,
                                             char        **value,
                                             GError      **error);
gboolean        server_config_read_strings  (GKeyFile                 *kf,
                                             const char               *group,
                                             const ServerConfigString *strings,
                                             GError                  **error);
gboolean        server_config_read_uints    (GKeyFile                 *kf,
                                             const char               *group,
                                             const ServerConfigUint   *uints,
                                             GError                  **error);
GSocketAddress *server_config_parse_listen  (const char   *text,
                                             GError      **error);

G_END_DECLS
