/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server-config.c: the one configuration reader of msgtrk-relay and mtqpd (the skeleton,
 * server-main.c, loads the file; each program reads its keys with these helpers).
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
