/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-config.c: the one configuration reader of every server program (the skeleton,
 * server-main.c, loads the file; each program reads its keys with these helpers).
 *
 * How: each program gives server_config_check_keys() a table of its groups and keys, so
 * an unknown group or key is refused the same way everywhere, and reads its values with
 * tables (server_config_read_strings/read_uints) or the single getters.
 *
 * Limits: a configuration file is at most SERVER_CONFIG_MAX_SIZE octets. Numbers are
 * decimal, checked against the range the caller gives; nothing is silently clamped.
 * Never: read a secret from the configuration (only file names of keys).
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "server-config.h"

/**
 * server_config_load:
 * @path: the configuration file
 * @error: return location for a #GError
 *
 * Loads a GKeyFile of at most %SERVER_CONFIG_MAX_SIZE octets.
 *
 * Returns: (transfer full) (nullable): the key file, or %NULL with @error set
 */
GKeyFile *
server_config_load (const char *path,
                    GError    **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;

  g_return_val_if_fail (path != NULL, NULL);

  if (!g_file_get_contents (path, &text, &len, &local))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot read the configuration file: %s", local->message);
      return NULL;
    }
  if (len > SERVER_CONFIG_MAX_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The configuration file %s has more than %d octets", path,
                   SERVER_CONFIG_MAX_SIZE);
      return NULL;
    }
  if (!g_key_file_load_from_data (kf, text, len, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The configuration file %s is not valid: %s", path, local->message);
      return NULL;
    }
  return g_steal_pointer (&kf);
}

static char *
join_names (const ServerConfigGroup *groups)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (gsize i = 0; groups[i].name != NULL; i++)
    g_string_append_printf (out, "%s[%s]", i == 0 ? "" : ", ", groups[i].name);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/**
 * server_config_check_group:
 * @kf: (nullable): the configuration, or %NULL (nothing to check)
 * @path: (nullable): the file name, for the message
 * @group: the group; absent is fine
 * @keys: (nullable): its known keys, %NULL-terminated; %NULL accepts any key
 * @error: return location for a #GError
 *
 * Refuses a key of @group that is not in @keys: the check of one group, for a part
 * (e.g. track-store.c and its [store]) that reads one group of another program's file.
 *
 * Returns: %TRUE when every key is known, %FALSE with @error set
 */
gboolean
server_config_check_group (GKeyFile          *kf,
                           const char        *path,
                           const char        *group,
                           const char *const *keys,
                           GError           **error)
{
  g_auto (GStrv) present = NULL;

  g_return_val_if_fail (group != NULL, FALSE);

  if (kf == NULL || keys == NULL || !g_key_file_has_group (kf, group))
    return TRUE;
  present = g_key_file_get_keys (kf, group, NULL, NULL);
  for (char **k = present; k != NULL && *k != NULL; k++)
    if (!g_strv_contains (keys, *k))
      {
        g_autofree char *quoted = msgtrk_str_escape_for_error (*k, 80);
        g_autofree char *known = g_strjoinv (", ", (char **) keys);

        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                     "%s [%s]: unknown key \"%s\" (known keys: %s)",
                     path != NULL ? path : "Configuration", group, quoted, known);
        return FALSE;
      }
  return TRUE;
}

/**
 * server_config_check_keys:
 * @kf: (nullable): the configuration, or %NULL (nothing to check)
 * @path: (nullable): the file name, for the message
 * @groups: the groups the program reads and their keys, ended by a %NULL name
 * @error: return location for a #GError
 *
 * Refuses a group or a key the program does not read: a typo must not go unnoticed.
 * The error names the file, the group, the key and what is accepted instead.
 *
 * Returns: %TRUE when every group and key is known, %FALSE with @error set
 */
gboolean
server_config_check_keys (GKeyFile                *kf,
                          const char              *path,
                          const ServerConfigGroup *groups,
                          GError                 **error)
{
  g_auto (GStrv) names = NULL;
  const char *file = path != NULL ? path : "Configuration";

  g_return_val_if_fail (groups != NULL, FALSE);

  if (kf == NULL)
    return TRUE;
  names = g_key_file_get_groups (kf, NULL);
  for (char **g = names; *g != NULL; g++)
    {
      const ServerConfigGroup *row = NULL;

      for (gsize i = 0; groups[i].name != NULL && row == NULL; i++)
        if (strcmp (groups[i].name, *g) == 0)
          row = &groups[i];
      if (row == NULL)
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (*g, 80);
          g_autofree char *known = join_names (groups);

          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "%s: unknown group [%s] (this program reads %s)", file, quoted,
                       known);
          return FALSE;
        }
      if (!server_config_check_group (kf, path, row->name, row->keys, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
key_missing (GKeyFile   *kf,
             const char *group,
             const char *key)
{
  return kf == NULL || !g_key_file_has_group (kf, group)
         || !g_key_file_has_key (kf, group, key, NULL);
}

/**
 * server_config_get_string:
 * @kf: (nullable): the configuration, or %NULL for all defaults
 * @group: the group
 * @key: the key
 * @default_value: (nullable): the value when the key is absent
 * @error: return location for a #GError
 *
 * Reads a string; an empty value counts as absent.
 *
 * Returns: (transfer full) (nullable): the value or a copy of @default_value; %NULL with
 *   @error set on a malformed value, or %NULL without error when absent and no default
 */
char *
server_config_get_string (GKeyFile   *kf,
                          const char *group,
                          const char *key,
                          const char *default_value,
                          GError    **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *value = NULL;

  if (key_missing (kf, group, key))
    return g_strdup (default_value);
  value = g_key_file_get_string (kf, group, key, &local);
  if (value == NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Configuration [%s] %s: %s", group, key, local->message);
      return NULL;
    }
  g_strstrip (value);
  if (*value == '\0')
    return g_strdup (default_value);
  return g_steal_pointer (&value);
}

/**
 * server_config_read_string:
 * @kf: (nullable): the configuration, or %NULL for all defaults
 * @group: the group
 * @key: the key
 * @default_value: (nullable): the value when the key is absent or empty
 * @value: (out) (transfer full): the value; the old string there is freed, so a field
 *   already holding its default may be passed with that default
 * @error: return location for a #GError
 *
 * Like server_config_get_string(), but tells success by its result, so that a caller
 * chains reads with `if (!...) return FALSE;` and needs no macro.
 *
 * Returns: %TRUE on success, %FALSE with @error set (*@value untouched)
 */
gboolean
server_config_read_string (GKeyFile   *kf,
                           const char *group,
                           const char *key,
                           const char *default_value,
                           char      **value,
                           GError    **error)
{
  g_autoptr (GError) local = NULL;
  char *v = server_config_get_string (kf, group, key, default_value, &local);

  if (local != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_free (*value);
  *value = v;
  return TRUE;
}

/**
 * server_config_read_strings:
 * @kf: (nullable): the configuration, or %NULL for all defaults
 * @group: the group
 * @strings: the keys, their defaults and fields, ended by a %NULL key
 * @error: return location for a #GError
 *
 * Reads every string key of a table with server_config_read_string(), stopping at the
 * first error.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
server_config_read_strings (GKeyFile                 *kf,
                            const char               *group,
                            const ServerConfigString *strings,
                            GError                  **error)
{
  for (gsize i = 0; strings[i].key != NULL; i++)
    if (!server_config_read_string (kf, group, strings[i].key, strings[i].default_value,
                                    strings[i].field, error))
      return FALSE;
  return TRUE;
}

/**
 * server_config_get_uint:
 * @kf: (nullable): the configuration, or %NULL for all defaults
 * @group: the group
 * @key: the key
 * @default_value: the value when the key is absent
 * @min: the smallest accepted value
 * @max: the largest accepted value
 * @value: (out): the value
 * @error: return location for a #GError
 *
 * Reads a decimal number in [@min, @max].
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
server_config_get_uint (GKeyFile   *kf,
                        const char *group,
                        const char *key,
                        guint64     default_value,
                        guint64     min,
                        guint64     max,
                        guint64    *value,
                        GError    **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;

  if (key_missing (kf, group, key))
    {
      *value = default_value;
      return TRUE;
    }
  text = g_key_file_get_value (kf, group, key, NULL);
  g_strstrip (text);
  if (!g_ascii_string_to_unsigned (text, 10, min, max, value, &local))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (text, 40);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Configuration [%s] %s: \"%s\" is not a number from %" G_GUINT64_FORMAT
                   " to %" G_GUINT64_FORMAT,
                   group, key, quoted, min, max);
      return FALSE;
    }
  return TRUE;
}

/**
 * server_config_read_uints:
 * @kf: (nullable): the configuration, or %NULL for all defaults
 * @group: the group
 * @uints: the keys, their defaults, ranges and fields, ended by a %NULL key
 * @error: return location for a #GError
 *
 * Reads every number of a table with server_config_get_uint(), stopping at the first
 * error (the field of that row is left as it was).
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
server_config_read_uints (GKeyFile               *kf,
                          const char             *group,
                          const ServerConfigUint *uints,
                          GError                **error)
{
  for (gsize i = 0; uints[i].key != NULL; i++)
    {
      guint64 v;

      g_return_val_if_fail (uints[i].max <= G_MAXUINT, FALSE);
      if (!server_config_get_uint (kf, group, uints[i].key, uints[i].default_value,
                                   uints[i].min, uints[i].max, &v, error))
        return FALSE;
      *uints[i].field = (guint) v;
    }
  return TRUE;
}

/**
 * server_config_get_boolean:
 * @kf: (nullable): the configuration, or %NULL for all defaults
 * @group: the group
 * @key: the key
 * @default_value: the value when the key is absent (or empty)
 * @value: (out): the value
 * @error: return location for a #GError
 *
 * Reads a truth value: "true", "yes" or "1"; "false", "no" or "0" (any case).
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
server_config_get_boolean (GKeyFile   *kf,
                           const char *group,
                           const char *key,
                           gboolean    default_value,
                           gboolean   *value,
                           GError    **error)
{
  static const char *const yes[] = { "true", "yes", "1" };
  static const char *const no[] = { "false", "no", "0" };
  g_autofree char *text = NULL;
  g_autofree char *quoted = NULL;

  *value = default_value;
  if (key_missing (kf, group, key))
    return TRUE;
  text = g_key_file_get_value (kf, group, key, NULL);
  g_strstrip (text);
  if (*text == '\0')
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (g_ascii_strcasecmp (text, yes[i]) == 0)
        {
          *value = TRUE;
          return TRUE;
        }
      if (g_ascii_strcasecmp (text, no[i]) == 0)
        {
          *value = FALSE;
          return TRUE;
        }
    }
  quoted = msgtrk_str_escape_for_error (text, 40);
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
               "Configuration [%s] %s: \"%s\" is not true or false", group, key, quoted);
  return FALSE;
}

/**
 * server_config_parse_listen:
 * @text: "ADDR:PORT" with a numeric IPv4 address, or "[IPv6]:PORT"; port 0 asks the
 *   system for a free port
 * @error: return location for a #GError
 *
 * Parses a listen address. Host names are not accepted (no DNS at start-up).
 *
 * Returns: (transfer full) (nullable): the address, or %NULL with @error set
 */
GSocketAddress *
server_config_parse_listen (const char *text,
                            GError    **error)
{
  g_autofree char *host = NULL;
  g_autofree char *quoted = msgtrk_str_escape_for_error (text, 80);
  g_autoptr (GInetAddress) addr = NULL;
  const char *colon;
  const char *port_text;
  guint64 port;

  g_return_val_if_fail (text != NULL, NULL);

  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');

      if (close == NULL || close[1] != ':')
        goto bad;
      host = g_strndup (text + 1, (gsize) (close - text - 1));
      port_text = close + 2;
    }
  else
    {
      colon = strrchr (text, ':');
      if (colon == NULL || strchr (text, ':') != colon)
        goto bad;
      host = g_strndup (text, (gsize) (colon - text));
      port_text = colon + 1;
    }
  if (!g_ascii_string_to_unsigned (port_text, 10, 0, 65535, &port, NULL))
    goto bad;
  addr = g_inet_address_new_from_string (host);
  if (addr == NULL)
    goto bad;
  return g_inet_socket_address_new (addr, (guint16) port);

bad:
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
               "\"%s\" is not a listen address: use ADDRESS:PORT, e.g. 0.0.0.0:1038 or "
               "[::]:1038 (numeric addresses only, port 0 to 65535)", quoted);
  return NULL;
}
