/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-config.c: msgtrk-relay's configuration (a GKeyFile, see msgtrk-relay.conf(5)).
 *
 * Groups: [relay] (listener, names, limits, offered extensions, privileges), [tls]
 * (STARTTLS certificate and key, CA file for next hops), [queue] (Maildir root, retry
 * schedule, queue lifetime, workers), [routes] (recipient domain -> local: | smtp:HOST:PORT
 * [opaque] | error:X.Y.Z text, with "*" as the default).
 *
 * Read through server-config.h, the servers' one configuration reader: the file is loaded
 * by the skeleton (server-main.c) with its size bound SERVER_CONFIG_MAX_SIZE.
 * Limits: every number is range-checked here (RELAY_CONFIG_* below); an out-of-range value
 * is an error naming the group and key, never silently clamped.
 */
#include "relay-config.h"
#include "relay-harrison.h"

#include "msgtrk-private.h"
#include "server-config.h"
#include "server-listener.h"
#include "track-store.h"

#include <string.h>

/** RELAY_CONFIG_MAX_MESSAGE_SIZE_LIMIT: largest max_message_size accepted (1 GiB). */
#define RELAY_CONFIG_MAX_MESSAGE_SIZE_LIMIT (G_GUINT64_CONSTANT (1) << 30)
/** RELAY_CONFIG_MAX_RECIPIENTS_LIMIT: largest max_recipients accepted. */
#define RELAY_CONFIG_MAX_RECIPIENTS_LIMIT 1000
/** RELAY_CONFIG_MAX_CONNECTIONS_LIMIT: largest max_connections accepted. */
#define RELAY_CONFIG_MAX_CONNECTIONS_LIMIT 10000
/** RELAY_CONFIG_MAX_WORKERS: largest number of delivery threads. */
#define RELAY_CONFIG_MAX_WORKERS 64
/** RELAY_CONFIG_WORKERS_PER_CPU, RELAY_CONFIG_DEFAULT_WORKERS_MIN/_MAX: the default of
 * [queue] workers is RELAY_CONFIG_WORKERS_PER_CPU per processor, within MIN and MAX:
 * delivery threads mostly wait for next hops, so more than one per processor pays. */
#define RELAY_CONFIG_WORKERS_PER_CPU 4
#define RELAY_CONFIG_DEFAULT_WORKERS_MIN 4
#define RELAY_CONFIG_DEFAULT_WORKERS_MAX 32
/** RELAY_CONFIG_DEFAULT_CACHE_TIME, RELAY_CONFIG_MAX_CACHE_TIME: seconds an idle
 * session to a next hop stays open for the next message to it ([queue]
 * connection_cache_time; 0 closes every session after its message, as before). */
#define RELAY_CONFIG_DEFAULT_CACHE_TIME 2
#define RELAY_CONFIG_MAX_CACHE_TIME 300
/** RELAY_CONFIG_DEFAULT_REUSE_MAX, RELAY_CONFIG_MAX_REUSE_MAX: messages one session to a
 * next hop carries before it is closed ([queue] connection_reuse_max). */
#define RELAY_CONFIG_DEFAULT_REUSE_MAX 100
#define RELAY_CONFIG_MAX_REUSE_MAX 100000
/** RELAY_CONFIG_MAX_SECONDS: largest time value accepted for any timer (about 3 years). */
#define RELAY_CONFIG_MAX_SECONDS 99999999u

void
relay_route_free (RelayRoute *route)
{
  if (route == NULL)
    return;
  g_free (route->domain);
  g_free (route->path);
  g_free (route->host);
  g_free (route->status);
  g_free (route->text);
  g_free (route);
}

void
relay_config_free (RelayConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->hostname);
  g_free (config->state_dir);
  g_free (config->maildir_root);
  g_free (config->listen);
  g_free (config->tls_cert);
  g_free (config->tls_key);
  g_free (config->ca_file);
  g_free (config->user);
  g_clear_pointer (&config->routes, g_ptr_array_unref);
  g_clear_pointer (&config->kf, g_key_file_unref);
  g_free (config->push_server);
  g_free (config->push_key_file);
  g_free (config);
}

/* Is @s a plausible status code class.subject.detail with class 4 or 5? */
static gboolean
status_code_is_valid (const char *s)
{
  guint parts = 0;
  const char *p = s;

  if (s[0] != '4' && s[0] != '5')
    return FALSE;
  while (*p != '\0')
    {
      guint digits = 0;
      while (g_ascii_isdigit (*p))
        {
          p++;
          digits++;
        }
      if (digits == 0 || digits > 3)
        return FALSE;
      parts++;
      if (*p == '.')
        p++;
      else if (*p != '\0')
        return FALSE;
    }
  return parts == 3;
}

/*
 * Route values:
 *   route      = "local:" [ maildir-root ] / "smtp:" host ":" port [ 1*SP "opaque" ]
 *                / "error:" status [ SP text ]
 *   host       = name / IPv4 / "[" IPv6 "]"
 * "opaque" (RFC 3886 Action: opaque): the next hop stands for a network we hide, e.g.
 * behind a firewall; tracking records then name no Remote-MTA (relay-deliver.c).
 */
gboolean
relay_route_parse (const char  *domain,
                   const char  *value,
                   RelayRoute **route_out,
                   GError     **error)
{
  RelayRoute *route = g_new0 (RelayRoute, 1);

  route->domain = g_ascii_strdown (domain, -1);

  if (g_str_has_prefix (value, "local:"))
    {
      route->kind = RELAY_ROUTE_LOCAL;
      if (value[6] != '\0')
        route->path = g_strdup (value + 6);
    }
  else if (g_str_has_prefix (value, "smtp:"))
    {
      g_autofree char *hostport = NULL;
      const char *hp;
      const char *colon;
      const char *sp = strchr (value, ' ');
      guint64 port = 0;

      route->kind = RELAY_ROUTE_SMTP;
      if (sp != NULL)
        {
          const char *option = sp;

          while (*option == ' ')
            option++;
          if (g_strcmp0 (option, "opaque") != 0)
            goto bad;
          route->opaque = TRUE;
          hostport = g_strndup (value + 5, sp - value - 5);
        }
      else
        hostport = g_strdup (value + 5);
      hp = hostport;
      if (*hp == '[')
        {
          const char *close = strchr (hp, ']');
          if (close == NULL || close[1] != ':')
            goto bad;
          route->host = g_strndup (hp + 1, close - hp - 1);
          colon = close + 1;
        }
      else
        {
          colon = strrchr (hp, ':');
          if (colon == NULL || colon == hp)
            goto bad;
          route->host = g_strndup (hp, colon - hp);
        }
      if (!g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL))
        goto bad;
      route->port = (guint16) port;
    }
  else if (g_str_has_prefix (value, "error:"))
    {
      const char *sp = strchr (value + 6, ' ');

      route->kind = RELAY_ROUTE_ERROR;
      route->status = sp ? g_strndup (value + 6, sp - value - 6) : g_strdup (value + 6);
      route->text = g_strstrip (g_strdup (sp != NULL ? sp : "delivery refused by policy"));
      if (!status_code_is_valid (route->status))
        goto bad;
    }
  else
    goto bad;

  *route_out = route;
  return TRUE;

bad:
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
               "route for “%s” is “%s”; expected local:[DIR], smtp:HOST:PORT [opaque] or "
               "error:X.Y.Z TEXT with X 4 or 5",
               domain, value);
  relay_route_free (route);
  return FALSE;
}

/* Every group and key msgtrk-relay reads; anything else is refused (a typo must not go
 * unnoticed). [routes] keys are domains; [store] is checked by track-store.c. */
static const char *const relay_keys[] = {
  "hostname", "state_dir", "listen", "user", "offer_mtrk", "offer_dsn", "reverse_dns",
  "max_message_size", "max_recipients", "max_connections", "connection_wait",
  "idle_timeout", "mtrk_max_timeout", NULL,
};
static const char *const tls_keys[] = { "certificate", "key", "ca_file", NULL };
static const char *const queue_keys[] = {
  "maildir_root", "retry_factor", "connect_timeout", "command_timeout", "retry_first",
  "retry_max_interval", "max_queue_lifetime", "workers", "max_messages",
  "connection_cache_time", "connection_reuse_max", NULL,
};
static const char *const push_keys[] = { "server", "key_id", "key_file", "mode", NULL };
static const ServerConfigGroup relay_groups[] = {
  { "relay", relay_keys },
  { "tls", tls_keys },
  { "queue", queue_keys },
  { "routes", NULL },
  { "push", push_keys },
  { "store", NULL },
  { "harrison", relay_harrison_keys },
  { NULL, NULL },
};

/* The default of [queue] workers: RELAY_CONFIG_WORKERS_PER_CPU per processor (the ones
 * this process may run on), within RELAY_CONFIG_DEFAULT_WORKERS_MIN and _MAX. */
guint
relay_config_default_workers (void)
{
  guint cpus = g_get_num_processors ();

  return CLAMP (cpus * RELAY_CONFIG_WORKERS_PER_CPU, RELAY_CONFIG_DEFAULT_WORKERS_MIN,
                RELAY_CONFIG_DEFAULT_WORKERS_MAX);
}

/* The key under which sessions to @route's next hop are kept and matched ("HOST:PORT"),
 * or NULL for a route that is not smtp:. */
char *
relay_route_hop_key (const RelayRoute *route)
{
  if (route == NULL || route->kind != RELAY_ROUTE_SMTP)
    return NULL;
  return g_strdup_printf ("%s:%u", route->host, route->port);
}

/*
 * relay_config_read:
 * @kf: the configuration, loaded by the skeleton (server_config_load: at most
 *   SERVER_CONFIG_MAX_SIZE octets)
 * @path: its file name, for errors
 *
 * Reads every group of msgtrk-relay.conf(5); numbers are range-checked by
 * server_config_get_uint (errors name the group, the key and the range); an unknown
 * group or key is refused by server_config_check_keys (relay_groups above).
 *
 * Returns: (transfer full) (nullable): the configuration, or NULL with @error set
 */
RelayConfig *
relay_config_read (GKeyFile    *kf,
                   const char  *path,
                   GError     **error)
{
  g_autoptr (RelayConfig) config = g_new0 (RelayConfig, 1);
  g_autofree char *factor = NULL;
  g_auto (GStrv) domains = NULL;

  config->hostname = g_strdup (g_get_host_name ());
  config->state_dir = g_strdup ("/var/lib/msgtrk");
  config->listen = g_strdup ("0.0.0.0:25");
  config->max_message_size = 10 * 1024 * 1024;
  config->max_recipients = 100;
  config->max_connections = 100;
  config->connection_wait = SERVER_LISTENER_DEFAULT_WAIT;
  config->idle_timeout = 300;
  config->connect_timeout = 30;
  config->command_timeout = 300;
  config->offer_mtrk = TRUE;
  config->offer_dsn = TRUE;
  config->reverse_dns = TRUE;
  config->retry_first = 300;
  config->retry_factor = 2.0;
  config->retry_max_interval = 3600;
  config->max_queue_lifetime = 5 * 24 * 3600;
  config->mtrk_max_timeout = 30 * 24 * 3600;
  config->delivery_workers = relay_config_default_workers ();
  config->connection_cache_time = RELAY_CONFIG_DEFAULT_CACHE_TIME;
  config->connection_reuse_max = RELAY_CONFIG_DEFAULT_REUSE_MAX;
  config->max_queue_messages = RELAY_QUEUE_MAX_MESSAGES;
  config->routes = g_ptr_array_new_with_free_func ((GDestroyNotify) relay_route_free);

  {
    /* Each field already holds its default (above), which an absent key keeps. */
    RelayConfig *c = config;
    const ServerConfigString relay_strings[] = {
      { "hostname", c->hostname, &c->hostname },
      { "state_dir", c->state_dir, &c->state_dir },
      { "listen", c->listen, &c->listen },
      { "user", NULL, &c->user },
      { NULL, NULL, NULL },
    };
    const ServerConfigString tls_strings[] = {
      { "certificate", NULL, &c->tls_cert },
      { "key", NULL, &c->tls_key },
      { "ca_file", NULL, &c->ca_file },
      { NULL, NULL, NULL },
    };
    const ServerConfigString queue_strings[] = {
      { "maildir_root", NULL, &c->maildir_root },
      { "retry_factor", NULL, &factor },
      { NULL, NULL, NULL },
    };
    const ServerConfigUint relay_uints[] = {
      { "max_recipients", c->max_recipients, 1, RELAY_CONFIG_MAX_RECIPIENTS_LIMIT,
        &c->max_recipients },
      { "max_connections", c->max_connections, 1, RELAY_CONFIG_MAX_CONNECTIONS_LIMIT,
        &c->max_connections },
      { "connection_wait", c->connection_wait, 0, SERVER_LISTENER_MAX_WAIT,
        &c->connection_wait },
      { "idle_timeout", c->idle_timeout, 1, RELAY_CONFIG_MAX_SECONDS, &c->idle_timeout },
      { "mtrk_max_timeout", c->mtrk_max_timeout, 1, MSGTRK_MTRK_TIMEOUT_MAX,
        &c->mtrk_max_timeout },
      { NULL, 0, 0, 0, NULL },
    };
    const ServerConfigUint queue_uints[] = {
      { "connect_timeout", c->connect_timeout, 1, RELAY_CONFIG_MAX_SECONDS,
        &c->connect_timeout },
      { "command_timeout", c->command_timeout, 1, RELAY_CONFIG_MAX_SECONDS,
        &c->command_timeout },
      { "retry_first", c->retry_first, 1, RELAY_CONFIG_MAX_SECONDS, &c->retry_first },
      { "retry_max_interval", c->retry_max_interval, 1, RELAY_CONFIG_MAX_SECONDS,
        &c->retry_max_interval },
      { "max_queue_lifetime", c->max_queue_lifetime, 1, RELAY_CONFIG_MAX_SECONDS,
        &c->max_queue_lifetime },
      { "workers", c->delivery_workers, 1, RELAY_CONFIG_MAX_WORKERS, &c->delivery_workers },
      { "max_messages", c->max_queue_messages, 1, RELAY_QUEUE_MAX_MESSAGES,
        &c->max_queue_messages },
      { "connection_cache_time", c->connection_cache_time, 0, RELAY_CONFIG_MAX_CACHE_TIME,
        &c->connection_cache_time },
      { "connection_reuse_max", c->connection_reuse_max, 1, RELAY_CONFIG_MAX_REUSE_MAX,
        &c->connection_reuse_max },
      { NULL, 0, 0, 0, NULL },
    };

    if (!server_config_check_keys (kf, path, relay_groups, error)
        || !server_config_read_strings (kf, "relay", relay_strings, error)
        || !server_config_read_strings (kf, "tls", tls_strings, error)
        || !server_config_read_strings (kf, "queue", queue_strings, error)
        || !server_config_get_boolean (kf, "relay", "offer_mtrk", c->offer_mtrk,
                                       &c->offer_mtrk, error)
        || !server_config_get_boolean (kf, "relay", "offer_dsn", c->offer_dsn, &c->offer_dsn,
                                       error)
        || !server_config_get_boolean (kf, "relay", "reverse_dns", c->reverse_dns,
                                       &c->reverse_dns, error)
        || !server_config_get_uint (kf, "relay", "max_message_size", c->max_message_size,
                                    1024, RELAY_CONFIG_MAX_MESSAGE_SIZE_LIMIT,
                                    &c->max_message_size, error)
        || !server_config_read_uints (kf, "relay", relay_uints, error)
        || !server_config_read_uints (kf, "queue", queue_uints, error))
      return NULL;
  }

  if (factor != NULL)
    {
      char *end = NULL;
      double f = g_ascii_strtod (factor, &end);
      if (end == factor || *end != '\0' || !(f >= 1.0 && f <= 10.0))
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (factor, 40);

          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "Configuration [queue] retry_factor: \"%s\" is not a number from 1 "
                       "to 10", quoted);
          return NULL;
        }
      config->retry_factor = f;
    }

  if (config->maildir_root == NULL)
    config->maildir_root = g_build_filename (config->state_dir, "maildir", NULL);
  if ((config->tls_cert == NULL) != (config->tls_key == NULL))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Configuration [tls]: set both certificate and key, or neither");
      return NULL;
    }

  if (g_key_file_has_group (kf, "routes"))
    domains = g_key_file_get_keys (kf, "routes", NULL, NULL);
  for (gsize i = 0; domains != NULL && domains[i] != NULL; i++)
    {
      g_autofree char *value = server_config_get_string (kf, "routes", domains[i], "", error);
      RelayRoute *route = NULL;

      if (value == NULL || !relay_route_parse (domains[i], value, &route, error))
        return NULL;
      g_ptr_array_add (config->routes, route);
    }
  if (config->routes->len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "%s has no [routes]: the relay would refuse every recipient", path);
      return NULL;
    }

  /* [push]: send every record to the site's receiver (docs/push-protocol.md). */
  if (g_key_file_has_group (kf, "push"))
    {
      g_autofree char *mode = NULL;
      guint64 key_id = 0;
      const ServerConfigString push_strings[] = {
        { "server", NULL, &config->push_server },
        { "key_file", NULL, &config->push_key_file },
        { "mode", NULL, &mode },
        { NULL, NULL, NULL },
      };

      if (!server_config_read_strings (kf, "push", push_strings, error))
        return NULL;
      if (!server_config_get_uint (kf, "push", "key_id", 0, 0, G_MAXUINT16, &key_id, error))
        return NULL;
      config->push_key_id = (guint) key_id;
      if (config->push_server == NULL || config->push_key_file == NULL)
        {
          g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                               "Configuration [push]: server and key_file are required");
          return NULL;
        }
      if (mode == NULL || strcmp (mode, "push") == 0)
        config->push_local = FALSE;
      else if (strcmp (mode, "both") == 0)
        config->push_local = TRUE;
      else
        {
          g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                               "Configuration [push] mode: push or both");
          return NULL;
        }
      {
        g_autoptr (GSocketAddress) a = server_config_parse_listen (config->push_server, error);

        if (a == NULL)
          {
            g_prefix_error (error, "Configuration [push] server: ");
            return NULL;
          }
      }
    }

  /* [store]: backend=files (default) or postgresql; checked now, opened after the drop. */
  if (!track_store_check_config (kf, error))
    return NULL;
  /* [harrison]: Content-Track trace records (relay-harrison.c), off by default. */
  if (!relay_harrison_check_config (kf, error))
    return NULL;
  config->kf = g_key_file_ref (kf);

  return g_steal_pointer (&config);
}

/* The domain of @address (after the last '@'), lower case, or NULL. */
char *
relay_address_domain (const char *address)
{
  const char *at = strrchr (address, '@');

  if (at == NULL || at[1] == '\0')
    return NULL;
  return g_ascii_strdown (at + 1, -1);
}

/* The route for @address: its domain exactly, else "*", else NULL. */
const RelayRoute *
relay_config_find_route (RelayConfig *config,
                         const char  *address)
{
  g_autofree char *domain = relay_address_domain (address);
  const RelayRoute *fallback = NULL;

  for (guint i = 0; i < config->routes->len; i++)
    {
      const RelayRoute *route = g_ptr_array_index (config->routes, i);

      if (domain != NULL && g_strcmp0 (route->domain, domain) == 0)
        return route;
      if (g_strcmp0 (route->domain, "*") == 0)
        fallback = route;
    }
  return fallback;
}
