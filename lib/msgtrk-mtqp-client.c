/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-client.c: the MTQP client (RFC 3887): discovery, greeting, STARTTLS, TRACK.
 *
 * Each track call runs one blocking session in a thread of libmsgtrk's own bounded pool
 * (msgtrk-worker.c, never GLib's shared GTask pool; docs/mtqp-client-threads.md), and the
 * result reaches the caller's main context through its GTask (the sync wrappers run the
 * session in the caller's thread). The session connects with a GSocketClient in
 * session_connect(), which sets s->connection. Every blocking read is
 * bounded by a socket timeout of min(read timeout, time left before the deadline), and
 * the deadline is checked before each read, so a server that trickles bytes cannot hold a
 * session past its deadline; each DNS lookup is cancelled when the deadline comes
 * (session_lookup()), so a slow DNS server cannot either. Lines are read into a fixed
 * buffer: a line longer than MSGTRK_MTQP_MAX_LINE is an error, never buffered.
 *
 * The configuration object is shared with worker threads: each call takes a snapshot
 * under the object's mutex; only the STARTTLS memory is written from a worker (under the
 * mutex; "notify::starttls-hosts" is emitted in the caller's main context).
 *
 * Never: log or quote a secret (TRACK lines are never logged; server text that echoes a
 * secret is masked); keep a secret after the session (copies are wiped with
 * OPENSSL_cleanse); send a TRACK in clear text to a server, or a target of a domain,
 * remembered for STARTTLS unless the policy is NONE.
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "msgtrk-dot-private.h"
#include "msgtrk-mtqp-answer-private.h"
#include "msgtrk-mtqp-discovery-private.h"
#include "msgtrk-mtqp-syntax-private.h"
#include "msgtrk-private.h"
#include "msgtrk-tls-private.h"

/* Bytes read from the network per call; holds at least one maximal line. */
#define MTQP_READ_BUFFER 4096
/* Most addresses tried for one host name. */
#define MTQP_MAX_ADDRESSES 8
/* Longest quote of server text in an error message. */
#define MTQP_ERROR_QUOTE 200

G_STATIC_ASSERT (MTQP_READ_BUFFER > MSGTRK_MTQP_MAX_LINE + 2);

/* ==== MsgtrkMtqpClient ============================================================ */

struct _MsgtrkMtqpClient
{
  GObject         parent_instance;
  GMutex          lock;              /* guards every member below */
  MsgtrkTlsPolicy tls_policy;
  char           *ca_file;           /* (owned) (nullable) */
  gboolean        use_system_trust;
  guint           connect_timeout;
  guint           read_timeout;
  guint           deadline;
  guint           max_response_size;
  guint           max_parts;
  GResolver      *resolver;          /* (owned) (nullable): NULL = default resolver */
  GHashTable     *overrides;         /* (owned) lower-case name → GInetSocketAddress */
  GHashTable     *starttls_hosts;    /* (owned) set of lower-case names */
};

enum
{
  PROP_0,
  PROP_TLS_POLICY,
  PROP_CA_FILE,
  PROP_USE_SYSTEM_TRUST,
  PROP_CONNECT_TIMEOUT,
  PROP_READ_TIMEOUT,
  PROP_DEADLINE,
  PROP_MAX_RESPONSE_SIZE,
  PROP_MAX_PARTS,
  PROP_RESOLVER,
  PROP_STARTTLS_HOSTS,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

/**
 * MsgtrkMtqpClient:
 *
 * An MTQP client (RFC 3887): it finds a message's tracking server, connects (with
 * STARTTLS as its #MsgtrkMtqpClient:tls-policy says) and asks TRACK. It holds configuration
 * only; each query is its own connection.
 *
 * Since: 1.0
 */
G_DEFINE_FINAL_TYPE (MsgtrkMtqpClient, msgtrk_mtqp_client, G_TYPE_OBJECT)

static void
msgtrk_mtqp_client_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  MsgtrkMtqpClient *self = MSGTRK_MTQP_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TLS_POLICY:
      g_value_set_enum (value, msgtrk_mtqp_client_get_tls_policy (self));
      break;
    case PROP_CA_FILE:
      g_mutex_lock (&self->lock);
      g_value_set_string (value, self->ca_file);
      g_mutex_unlock (&self->lock);
      break;
    case PROP_USE_SYSTEM_TRUST:
      g_value_set_boolean (value, msgtrk_mtqp_client_get_use_system_trust (self));
      break;
    case PROP_CONNECT_TIMEOUT:
      g_value_set_uint (value, msgtrk_mtqp_client_get_connect_timeout (self));
      break;
    case PROP_READ_TIMEOUT:
      g_value_set_uint (value, msgtrk_mtqp_client_get_read_timeout (self));
      break;
    case PROP_DEADLINE:
      g_value_set_uint (value, msgtrk_mtqp_client_get_deadline (self));
      break;
    case PROP_MAX_RESPONSE_SIZE:
      g_value_set_uint (value, msgtrk_mtqp_client_get_max_response_size (self));
      break;
    case PROP_MAX_PARTS:
      g_value_set_uint (value, msgtrk_mtqp_client_get_max_parts (self));
      break;
    case PROP_RESOLVER:
      g_mutex_lock (&self->lock);
      g_value_set_object (value, self->resolver);
      g_mutex_unlock (&self->lock);
      break;
    case PROP_STARTTLS_HOSTS:
      g_value_take_boxed (value, msgtrk_mtqp_client_get_starttls_hosts (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
msgtrk_mtqp_client_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  MsgtrkMtqpClient *self = MSGTRK_MTQP_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TLS_POLICY:
      msgtrk_mtqp_client_set_tls_policy (self, g_value_get_enum (value));
      break;
    case PROP_CA_FILE:
      msgtrk_mtqp_client_set_ca_file (self, g_value_get_string (value));
      break;
    case PROP_USE_SYSTEM_TRUST:
      msgtrk_mtqp_client_set_use_system_trust (self, g_value_get_boolean (value));
      break;
    case PROP_CONNECT_TIMEOUT:
      msgtrk_mtqp_client_set_connect_timeout (self, g_value_get_uint (value));
      break;
    case PROP_READ_TIMEOUT:
      msgtrk_mtqp_client_set_read_timeout (self, g_value_get_uint (value));
      break;
    case PROP_DEADLINE:
      msgtrk_mtqp_client_set_deadline (self, g_value_get_uint (value));
      break;
    case PROP_MAX_RESPONSE_SIZE:
      msgtrk_mtqp_client_set_max_response_size (self, g_value_get_uint (value));
      break;
    case PROP_MAX_PARTS:
      msgtrk_mtqp_client_set_max_parts (self, g_value_get_uint (value));
      break;
    case PROP_RESOLVER:
      msgtrk_mtqp_client_set_resolver (self, g_value_get_object (value));
      break;
    case PROP_STARTTLS_HOSTS:
      msgtrk_mtqp_client_set_starttls_hosts (self, g_value_get_boxed (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
msgtrk_mtqp_client_finalize (GObject *object)
{
  MsgtrkMtqpClient *self = MSGTRK_MTQP_CLIENT (object);

  g_free (self->ca_file);
  g_clear_object (&self->resolver);
  g_hash_table_unref (self->overrides);
  g_hash_table_unref (self->starttls_hosts);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (msgtrk_mtqp_client_parent_class)->finalize (object);
}

static void
msgtrk_mtqp_client_class_init (MsgtrkMtqpClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = msgtrk_mtqp_client_get_property;
  object_class->set_property = msgtrk_mtqp_client_set_property;
  object_class->finalize = msgtrk_mtqp_client_finalize;

  /**
   * MsgtrkMtqpClient:tls-policy:
   *
   * When STARTTLS is used; see #MsgtrkTlsPolicy.
   *
   * Since: 1.0
   */
  props[PROP_TLS_POLICY] =
    g_param_spec_enum ("tls-policy", NULL, NULL, MSGTRK_TYPE_TLS_POLICY,
                       MSGTRK_TLS_POLICY_OPPORTUNISTIC, flags);
  /**
   * MsgtrkMtqpClient:ca-file:
   *
   * A PEM file of CA certificates trusted in addition to (or, with
   * #MsgtrkMtqpClient:use-system-trust off, instead of) the system's.
   *
   * Since: 1.0
   */
  props[PROP_CA_FILE] = g_param_spec_string ("ca-file", NULL, NULL, NULL, flags);
  /**
   * MsgtrkMtqpClient:use-system-trust:
   *
   * Whether the system's trusted CA certificates verify servers.
   *
   * Since: 1.0
   */
  props[PROP_USE_SYSTEM_TRUST] =
    g_param_spec_boolean ("use-system-trust", NULL, NULL, TRUE, flags);
  /**
   * MsgtrkMtqpClient:connect-timeout:
   *
   * Seconds to wait for each TCP connection; 0 means only the deadline applies.
   *
   * Since: 1.0
   */
  props[PROP_CONNECT_TIMEOUT] =
    g_param_spec_uint ("connect-timeout", NULL, NULL, 0, G_MAXUINT,
                       MSGTRK_MTQP_DEFAULT_CONNECT_TIMEOUT, flags);
  /**
   * MsgtrkMtqpClient:read-timeout:
   *
   * Seconds a server may stay silent when an answer is due; 0 means only the deadline
   * applies.
   *
   * Since: 1.0
   */
  props[PROP_READ_TIMEOUT] =
    g_param_spec_uint ("read-timeout", NULL, NULL, 0, G_MAXUINT,
                       MSGTRK_MTQP_DEFAULT_READ_TIMEOUT, flags);
  /**
   * MsgtrkMtqpClient:deadline:
   *
   * Seconds one track call may take in all (discovery, connections, TLS, answers).
   *
   * Since: 1.0
   */
  props[PROP_DEADLINE] =
    g_param_spec_uint ("deadline", NULL, NULL, 1, G_MAXUINT,
                       MSGTRK_MTQP_DEFAULT_DEADLINE, flags);
  /**
   * MsgtrkMtqpClient:max-response-size:
   *
   * Most octets of one answer's MIME entity.
   *
   * Since: 1.0
   */
  props[PROP_MAX_RESPONSE_SIZE] =
    g_param_spec_uint ("max-response-size", NULL, NULL, 1, MSGTRK_REPORT_MAX_SIZE,
                       MSGTRK_REPORT_MAX_SIZE, flags);
  /**
   * MsgtrkMtqpClient:max-parts:
   *
   * Most tracking-status parts (reporting MTAs) in one answer.
   *
   * Since: 1.0
   */
  props[PROP_MAX_PARTS] =
    g_param_spec_uint ("max-parts", NULL, NULL, 1, MSGTRK_REPORT_MAX_PARTS,
                       MSGTRK_REPORT_MAX_PARTS, flags);
  /**
   * MsgtrkMtqpClient:resolver:
   *
   * The resolver for SRV, MX and address lookups; %NULL for the default one. The client
   * uses its async lookups (bounded by the deadline and cancelled when it comes), so a
   * resolver set here must implement them and honour cancellation.
   *
   * Since: 1.0
   */
  props[PROP_RESOLVER] =
    g_param_spec_object ("resolver", NULL, NULL, G_TYPE_RESOLVER, flags);
  /**
   * MsgtrkMtqpClient:starttls-hosts:
   *
   * The STARTTLS memory: servers seen offering STARTTLS, each as its lower-case name
   * ("name:port" when the port is not %MSGTRK_MTQP_PORT), and the mail domains one of
   * whose MTQP servers offered it, each as its SRV name "_mtqp._tcp.domain" (so that a
   * fallback to another MX or SRV target without STARTTLS is a downgrade too). Notified
   * (in the main context of the call) when a track call adds a name, so that the caller
   * can persist it.
   *
   * Since: 1.0
   */
  props[PROP_STARTTLS_HOSTS] =
    g_param_spec_boxed ("starttls-hosts", NULL, NULL, G_TYPE_STRV, flags);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
msgtrk_mtqp_client_init (MsgtrkMtqpClient *self)
{
  g_mutex_init (&self->lock);
  self->tls_policy = MSGTRK_TLS_POLICY_OPPORTUNISTIC;
  self->use_system_trust = TRUE;
  self->connect_timeout = MSGTRK_MTQP_DEFAULT_CONNECT_TIMEOUT;
  self->read_timeout = MSGTRK_MTQP_DEFAULT_READ_TIMEOUT;
  self->deadline = MSGTRK_MTQP_DEFAULT_DEADLINE;
  self->max_response_size = MSGTRK_REPORT_MAX_SIZE;
  self->max_parts = MSGTRK_REPORT_MAX_PARTS;
  self->overrides = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->starttls_hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * msgtrk_mtqp_client_new:
 *
 * Makes an MTQP client with the default configuration: opportunistic TLS with the
 * system's trust store, the default timeouts and limits, an empty STARTTLS memory.
 *
 * Returns: (transfer full): a new client
 *
 * Since: 1.0
 */
MsgtrkMtqpClient *
msgtrk_mtqp_client_new (void)
{
  return g_object_new (MSGTRK_TYPE_MTQP_CLIENT, NULL);
}

/* Set a guint member under the lock and notify if it changed. */
static void
client_set_uint (MsgtrkMtqpClient *self,
                 guint            *member,
                 guint             value,
                 guint             prop)
{
  gboolean changed;

  g_mutex_lock (&self->lock);
  changed = *member != value;
  *member = value;
  g_mutex_unlock (&self->lock);
  if (changed)
    g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static guint
client_get_uint (MsgtrkMtqpClient *self,
                 guint            *member)
{
  guint value;

  g_mutex_lock (&self->lock);
  value = *member;
  g_mutex_unlock (&self->lock);
  return value;
}

/**
 * msgtrk_mtqp_client_get_tls_policy:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:tls-policy.
 *
 * Returns: the TLS policy
 *
 * Since: 1.0
 */
MsgtrkTlsPolicy
msgtrk_mtqp_client_get_tls_policy (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), MSGTRK_TLS_POLICY_OPPORTUNISTIC);
  return (MsgtrkTlsPolicy) client_get_uint (self, (guint *) &self->tls_policy);
}

/**
 * msgtrk_mtqp_client_set_tls_policy:
 * @self: a client
 * @policy: when to use STARTTLS
 *
 * Sets the TLS policy for later calls.
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_tls_policy (MsgtrkMtqpClient *self,
                                   MsgtrkTlsPolicy   policy)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  g_return_if_fail (policy <= MSGTRK_TLS_POLICY_NONE);
  client_set_uint (self, (guint *) &self->tls_policy, policy, PROP_TLS_POLICY);
}

/**
 * msgtrk_mtqp_client_get_ca_file:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:ca-file.
 *
 * Returns: (nullable) (type filename): the extra CA file
 *
 * Since: 1.0
 */
const char *
msgtrk_mtqp_client_get_ca_file (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), NULL);
  return self->ca_file;
}

/**
 * msgtrk_mtqp_client_set_ca_file:
 * @self: a client
 * @ca_file: (nullable) (type filename): a PEM file of trusted CA certificates
 *
 * Sets extra trusted CA certificates for later calls. The file is read at each STARTTLS;
 * a file that cannot be read fails that session with %MSGTRK_ERROR_TLS.
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_ca_file (MsgtrkMtqpClient *self,
                                const char       *ca_file)
{
  gboolean changed;

  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));

  g_mutex_lock (&self->lock);
  changed = g_strcmp0 (self->ca_file, ca_file) != 0;
  if (changed)
    {
      g_free (self->ca_file);
      self->ca_file = g_strdup (ca_file);
    }
  g_mutex_unlock (&self->lock);
  if (changed)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_CA_FILE]);
}

/**
 * msgtrk_mtqp_client_get_use_system_trust:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:use-system-trust.
 *
 * Returns: whether the system's CA store is trusted
 *
 * Since: 1.0
 */
gboolean
msgtrk_mtqp_client_get_use_system_trust (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), TRUE);
  return (gboolean) client_get_uint (self, (guint *) &self->use_system_trust);
}

/**
 * msgtrk_mtqp_client_set_use_system_trust:
 * @self: a client
 * @use_system_trust: whether to trust the system's CA store
 *
 * Sets whether the system's CA store verifies servers (default %TRUE).
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_use_system_trust (MsgtrkMtqpClient *self,
                                         gboolean          use_system_trust)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  client_set_uint (self, (guint *) &self->use_system_trust, !!use_system_trust,
                   PROP_USE_SYSTEM_TRUST);
}

/**
 * msgtrk_mtqp_client_get_connect_timeout:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:connect-timeout.
 *
 * Returns: seconds allowed for each TCP connection (0: only the deadline)
 *
 * Since: 1.0
 */
guint
msgtrk_mtqp_client_get_connect_timeout (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), 0);
  return client_get_uint (self, &self->connect_timeout);
}

/**
 * msgtrk_mtqp_client_set_connect_timeout:
 * @self: a client
 * @seconds: seconds allowed for each TCP connection, 0 for only the deadline
 *
 * Sets the connect timeout (default %MSGTRK_MTQP_DEFAULT_CONNECT_TIMEOUT).
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_connect_timeout (MsgtrkMtqpClient *self,
                                        guint             seconds)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  client_set_uint (self, &self->connect_timeout, seconds, PROP_CONNECT_TIMEOUT);
}

/**
 * msgtrk_mtqp_client_get_read_timeout:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:read-timeout.
 *
 * Returns: seconds a server may stay silent (0: only the deadline)
 *
 * Since: 1.0
 */
guint
msgtrk_mtqp_client_get_read_timeout (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), 0);
  return client_get_uint (self, &self->read_timeout);
}

/**
 * msgtrk_mtqp_client_set_read_timeout:
 * @self: a client
 * @seconds: seconds a server may stay silent, 0 for only the deadline
 *
 * Sets the read (idle) timeout (default %MSGTRK_MTQP_DEFAULT_READ_TIMEOUT).
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_read_timeout (MsgtrkMtqpClient *self,
                                     guint             seconds)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  client_set_uint (self, &self->read_timeout, seconds, PROP_READ_TIMEOUT);
}

/**
 * msgtrk_mtqp_client_get_deadline:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:deadline.
 *
 * Returns: seconds one track call may take in all
 *
 * Since: 1.0
 */
guint
msgtrk_mtqp_client_get_deadline (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), 0);
  return client_get_uint (self, &self->deadline);
}

/**
 * msgtrk_mtqp_client_set_deadline:
 * @self: a client
 * @seconds: seconds one track call may take in all (at least 1)
 *
 * Sets the deadline of each track call (default %MSGTRK_MTQP_DEFAULT_DEADLINE).
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_deadline (MsgtrkMtqpClient *self,
                                 guint             seconds)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  g_return_if_fail (seconds >= 1);
  client_set_uint (self, &self->deadline, seconds, PROP_DEADLINE);
}

/**
 * msgtrk_mtqp_client_get_max_response_size:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:max-response-size.
 *
 * Returns: most octets accepted in one answer's entity
 *
 * Since: 1.0
 */
guint
msgtrk_mtqp_client_get_max_response_size (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), 0);
  return client_get_uint (self, &self->max_response_size);
}

/**
 * msgtrk_mtqp_client_set_max_response_size:
 * @self: a client
 * @max_size: most octets of one answer, 1 to %MSGTRK_REPORT_MAX_SIZE
 *
 * Sets the answer size limit (default %MSGTRK_REPORT_MAX_SIZE). A longer answer fails
 * with %MSGTRK_ERROR_LIMIT and ends the session.
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_max_response_size (MsgtrkMtqpClient *self,
                                          guint             max_size)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  g_return_if_fail (max_size >= 1 && max_size <= MSGTRK_REPORT_MAX_SIZE);
  client_set_uint (self, &self->max_response_size, max_size, PROP_MAX_RESPONSE_SIZE);
}

/**
 * msgtrk_mtqp_client_get_max_parts:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:max-parts.
 *
 * Returns: most reports accepted in one answer
 *
 * Since: 1.0
 */
guint
msgtrk_mtqp_client_get_max_parts (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), 0);
  return client_get_uint (self, &self->max_parts);
}

/**
 * msgtrk_mtqp_client_set_max_parts:
 * @self: a client
 * @max_parts: most reports in one answer, 1 to %MSGTRK_REPORT_MAX_PARTS
 *
 * Sets the limit on reports per answer (default %MSGTRK_REPORT_MAX_PARTS).
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_max_parts (MsgtrkMtqpClient *self,
                                  guint             max_parts)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  g_return_if_fail (max_parts >= 1 && max_parts <= MSGTRK_REPORT_MAX_PARTS);
  client_set_uint (self, &self->max_parts, max_parts, PROP_MAX_PARTS);
}

/**
 * msgtrk_mtqp_client_get_resolver:
 * @self: a client
 *
 * Gets #MsgtrkMtqpClient:resolver.
 *
 * Returns: (nullable) (transfer none): the resolver set, or %NULL for the default one
 *
 * Since: 1.0
 */
GResolver *
msgtrk_mtqp_client_get_resolver (MsgtrkMtqpClient *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), NULL);
  return self->resolver;
}

/**
 * msgtrk_mtqp_client_set_resolver:
 * @self: a client
 * @resolver: (nullable): a resolver, or %NULL for g_resolver_get_default()
 *
 * Sets the resolver used for SRV, MX and address lookups (tests use their own).
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_resolver (MsgtrkMtqpClient *self,
                                 GResolver        *resolver)
{
  gboolean changed;

  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  g_return_if_fail (resolver == NULL || G_IS_RESOLVER (resolver));

  g_mutex_lock (&self->lock);
  changed = g_set_object (&self->resolver, resolver);
  g_mutex_unlock (&self->lock);
  if (changed)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_RESOLVER]);
}

/**
 * msgtrk_mtqp_client_add_host_override:
 * @self: a client
 * @name: a host or domain name
 * @address: "address:port" (IPv4, or "[IPv6]:port"); the port may be left out (1038)
 * @error: return location for a #GError
 *
 * Maps @name to @address before any DNS lookup, like curl's `--resolve`: whenever the
 * client would resolve @name (a domain queried, an SRV target, an MX host, a host given
 * to msgtrk_mtqp_client_track_host_async()), it connects to @address instead. An
 * override for a queried domain replaces the whole discovery. The port of @address
 * replaces the port the client would have used. TLS still verifies the certificate
 * against @name.
 *
 * Returns: %TRUE, or %FALSE with %MSGTRK_ERROR_PARSE if @address is not an IP address
 *   with an optional port
 *
 * Since: 1.0
 */
gboolean
msgtrk_mtqp_client_add_host_override (MsgtrkMtqpClient *self,
                                      const char       *name,
                                      const char       *address,
                                      GError          **error)
{
  g_autoptr (GSocketConnectable) parsed = NULL;
  g_autoptr (GInetAddress) inet = NULL;
  const char *host;

  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), FALSE);
  g_return_val_if_fail (name != NULL && *name != '\0', FALSE);
  g_return_val_if_fail (address != NULL, FALSE);

  parsed = g_network_address_parse (address, MSGTRK_MTQP_PORT, NULL);
  host = parsed != NULL ? g_network_address_get_hostname (G_NETWORK_ADDRESS (parsed)) : NULL;
  if (host != NULL)
    inet = g_inet_address_new_from_string (host);
  if (inet == NULL || g_network_address_get_port (G_NETWORK_ADDRESS (parsed)) == 0)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (address, 100);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("Host override “%s” is not an IP address with an optional port"),
                   quoted);
      return FALSE;
    }

  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->overrides, msgtrk_host_normalize (name),
                        g_inet_socket_address_new (inet, g_network_address_get_port (
                                                     G_NETWORK_ADDRESS (parsed))));
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/**
 * msgtrk_mtqp_client_clear_host_overrides:
 * @self: a client
 *
 * Removes every host override.
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_clear_host_overrides (MsgtrkMtqpClient *self)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));

  g_mutex_lock (&self->lock);
  g_hash_table_remove_all (self->overrides);
  g_mutex_unlock (&self->lock);
}

static int
compare_strings (const void *a,
                 const void *b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

/**
 * msgtrk_mtqp_client_get_starttls_hosts:
 * @self: a client
 *
 * The STARTTLS memory, for the caller to persist (the library keeps nothing on disk).
 *
 * Returns: (transfer full) (array zero-terminated=1): the servers seen offering STARTTLS
 *   (lower-case names, "name:port" when the port is not %MSGTRK_MTQP_PORT) and the
 *   domains whose MTQP service was ("_mtqp._tcp.domain"), sorted
 *
 * Since: 1.0
 */
char **
msgtrk_mtqp_client_get_starttls_hosts (MsgtrkMtqpClient *self)
{
  g_autofree const char **keys = NULL;
  char **hosts;
  guint n, i;

  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), NULL);

  g_mutex_lock (&self->lock);
  keys = (const char **) g_hash_table_get_keys_as_array (self->starttls_hosts, &n);
  hosts = g_new0 (char *, n + 1);
  for (i = 0; i < n; i++)
    hosts[i] = g_strdup (keys[i]);
  g_mutex_unlock (&self->lock);

  qsort (hosts, n, sizeof (char *), compare_strings);
  return hosts;
}

/**
 * msgtrk_mtqp_client_set_starttls_hosts:
 * @self: a client
 * @hosts: (nullable) (array zero-terminated=1): servers and domains known to offer
 *   STARTTLS, as returned by msgtrk_mtqp_client_get_starttls_hosts()
 *
 * Replaces the STARTTLS memory, e.g. with what the caller persisted earlier. At most
 * %MSGTRK_MTQP_MAX_STARTTLS_HOSTS names are kept.
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_set_starttls_hosts (MsgtrkMtqpClient   *self,
                                       const char * const *hosts)
{
  guint i;

  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));

  g_mutex_lock (&self->lock);
  g_hash_table_remove_all (self->starttls_hosts);
  for (i = 0; hosts != NULL && hosts[i] != NULL; i++)
    {
      if (g_hash_table_size (self->starttls_hosts) >= MSGTRK_MTQP_MAX_STARTTLS_HOSTS)
        break;
      if (*hosts[i] != '\0')
        g_hash_table_add (self->starttls_hosts, msgtrk_host_normalize (hosts[i]));
    }
  g_mutex_unlock (&self->lock);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STARTTLS_HOSTS]);
}

/**
 * msgtrk_mtqp_client_remembers_starttls:
 * @self: a client
 * @host: a server name, "name:port" for a port other than %MSGTRK_MTQP_PORT, or
 *   "_mtqp._tcp.domain" for a domain's MTQP service
 *
 * Checks whether a server or a domain is known to offer STARTTLS
 * (#MsgtrkMtqpClient:starttls-hosts).
 *
 * Returns: %TRUE if @host is in the STARTTLS memory
 *
 * Since: 1.0
 */
gboolean
msgtrk_mtqp_client_remembers_starttls (MsgtrkMtqpClient *self,
                                       const char       *host)
{
  g_autofree char *key = NULL;
  gboolean found;

  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), FALSE);
  g_return_val_if_fail (host != NULL, FALSE);

  key = msgtrk_host_normalize (host);
  g_mutex_lock (&self->lock);
  found = g_hash_table_contains (self->starttls_hosts, key);
  g_mutex_unlock (&self->lock);
  return found;
}

/**
 * msgtrk_mtqp_client_forget_starttls:
 * @self: a client
 * @host: a server name, "name:port" for a port other than %MSGTRK_MTQP_PORT, or
 *   "_mtqp._tcp.domain" for a domain's MTQP service
 *
 * Removes @host from the STARTTLS memory, e.g. after the user accepted that the server
 * (or, for a domain, the server it now falls back to) no longer offers STARTTLS.
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_forget_starttls (MsgtrkMtqpClient *self,
                                    const char       *host)
{
  g_autofree char *key = NULL;
  gboolean removed;

  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  g_return_if_fail (host != NULL);

  key = msgtrk_host_normalize (host);
  g_mutex_lock (&self->lock);
  removed = g_hash_table_remove (self->starttls_hosts, key);
  g_mutex_unlock (&self->lock);
  if (removed)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STARTTLS_HOSTS]);
}

/* ==== deadline-bounded input ===================================================== */

/*
 * A filter over the socket's input stream that bounds every read by the session's idle
 * timeout and deadline (socket timeout = min(idle, time left); past the deadline a read
 * fails with G_IO_ERROR_TIMED_OUT). The TLS layer reads through it, so a server that
 * trickles a TLS record cannot hold a session past its deadline either.
 */
#define MTQP_TYPE_DEADLINE_INPUT_STREAM (mtqp_deadline_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (MtqpDeadlineInputStream, mtqp_deadline_input_stream, MTQP,
                      DEADLINE_INPUT_STREAM, GFilterInputStream)

struct _MtqpDeadlineInputStream
{
  GFilterInputStream parent_instance;
  GSocket           *socket;        /* (owned) */
  gint64             deadline;      /* monotonic µs */
  guint              read_timeout;  /* seconds, 0 = deadline only */
};

G_DEFINE_FINAL_TYPE (MtqpDeadlineInputStream, mtqp_deadline_input_stream,
                     G_TYPE_FILTER_INPUT_STREAM)

static gssize
mtqp_deadline_input_stream_read (GInputStream *stream,
                                 void         *buffer,
                                 gsize         count,
                                 GCancellable *cancellable,
                                 GError      **error)
{
  MtqpDeadlineInputStream *self = MTQP_DEADLINE_INPUT_STREAM (stream);
  gint64 left = self->deadline - g_get_monotonic_time ();
  guint seconds;

  if (left <= 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, _("Deadline passed"));
      return -1;
    }
  left = (left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
  seconds = left > G_MAXUINT ? G_MAXUINT : (guint) left;
  if (self->read_timeout != 0 && self->read_timeout < seconds)
    seconds = self->read_timeout;
  g_socket_set_timeout (self->socket, seconds);
  return g_input_stream_read (g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (self)),
                              buffer, count, cancellable, error);
}

static void
mtqp_deadline_input_stream_finalize (GObject *object)
{
  g_clear_object (&MTQP_DEADLINE_INPUT_STREAM (object)->socket);
  G_OBJECT_CLASS (mtqp_deadline_input_stream_parent_class)->finalize (object);
}

static void
mtqp_deadline_input_stream_class_init (MtqpDeadlineInputStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mtqp_deadline_input_stream_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = mtqp_deadline_input_stream_read;
}

static void
mtqp_deadline_input_stream_init (MtqpDeadlineInputStream *self)
{
}

/* The socket connection with deadline-bounded reads, as one GIOStream. */
static GIOStream *
deadline_stream_new (GSocketConnection *connection,
                     gint64             deadline,
                     guint              read_timeout)
{
  g_autoptr (MtqpDeadlineInputStream) in = NULL;

  in = g_object_new (MTQP_TYPE_DEADLINE_INPUT_STREAM,
                     "base-stream", g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                     "close-base-stream", FALSE, NULL);
  in->socket = g_object_ref (g_socket_connection_get_socket (connection));
  in->deadline = deadline;
  in->read_timeout = read_timeout;
  return g_simple_io_stream_new (G_INPUT_STREAM (in),
                                 g_io_stream_get_output_stream (G_IO_STREAM (connection)));
}

/* ==== the session ================================================================= */

typedef MsgtrkMtqpTarget Target;

typedef struct
{
  MsgtrkMtqpStatusKind kind;
  GStrv      codes;  /* (owned) lower-case */
  char      *text;   /* (owned) escaped, secrets masked */
} Status;

typedef enum
{
  LINE_OK,
  LINE_EOF,
  LINE_ERROR,
} LineResult;

typedef struct
{
  /* Configuration snapshot */
  MsgtrkMtqpClient *client;          /* (owned) for the STARTTLS memory */
  GMainContext     *notify_context;  /* (owned) (nullable): NULL = notify in place */
  MsgtrkTlsPolicy   policy;
  char             *ca_file;
  gboolean          use_system_trust;
  guint             connect_timeout;
  guint             read_timeout;
  guint             deadline_seconds;
  gint64            deadline;        /* monotonic µs */
  gsize             max_response_size;
  guint             max_parts;
  GResolver        *resolver;        /* (owned) */
  GHashTable       *overrides;       /* (owned) copy */

  /* What to ask */
  gboolean          discover;
  char             *name;            /* domain, or host when !discover */
  char             *domain_key;      /* (nullable) STARTTLS memory key of the domain's MTQP
                                      * service, _mtqp._tcp.<domain>; NULL when !discover */
  guint16           port;
  guint             n_queries;
  char            **envids;          /* as the caller gave them: decoded */
  char            **wire_envids;     /* their xtext form, what TRACK carries (RFC 3461) */
  char            **secrets;         /* wiped on free */

  /* The connection */
  GCancellable      *cancellable;    /* (nullable) (unowned) */
  GSocketConnection *connection;
  GIOStream         *plain;          /* the connection, reads bounded by the deadline */
  GIOStream         *stream;         /* plain, or the TLS stream over it */
  char              *host;           /* the target connected to */
  guint16            host_port;
  guint16            target_port;     /* the port discovery named for s->host */
  char              *quoted_host;    /* host:port for messages */
  char              *memory_key;     /* STARTTLS memory: host, or host:port off 1038 */
  char              *tls_description;
  char              *server_address; /* the numeric address connected to */
  gboolean           offers_starttls;

  /* Line reader: network reads into rbuf, cut into lines by the syntax layer */
  guint8                 rbuf[MTQP_READ_BUFFER];
  gsize                  rstart;
  gsize                  rend;
  MsgtrkMtqpLineSplitter lines;
} Session;

static void
status_clear (Status *status)
{
  g_clear_pointer (&status->codes, g_strfreev);
  g_clear_pointer (&status->text, g_free);
}

static void
session_close (Session *s)
{
  if (s->stream != NULL)
    g_io_stream_close (s->stream, NULL, NULL);
  g_clear_object (&s->stream);
  if (s->plain != NULL)
    g_io_stream_close (s->plain, NULL, NULL);
  g_clear_object (&s->plain);
  if (s->connection != NULL)
    g_io_stream_close (G_IO_STREAM (s->connection), NULL, NULL);
  g_clear_object (&s->connection);
  g_clear_pointer (&s->host, g_free);
  g_clear_pointer (&s->quoted_host, g_free);
  g_clear_pointer (&s->memory_key, g_free);
  g_clear_pointer (&s->tls_description, g_free);
  g_clear_pointer (&s->server_address, g_free);
  s->rstart = s->rend = 0;
  s->offers_starttls = FALSE;
}

static void
session_free (Session *s)
{
  guint i;

  session_close (s);
  for (i = 0; i < s->n_queries; i++)
    {
      OPENSSL_cleanse (s->secrets[i], strlen (s->secrets[i]));
      g_free (s->secrets[i]);
      g_free (s->envids[i]);
      g_free (s->wire_envids[i]);
    }
  g_free (s->secrets);
  g_free (s->envids);
  g_free (s->wire_envids);
  OPENSSL_cleanse (s->rbuf, sizeof s->rbuf);
  OPENSSL_cleanse (&s->lines, sizeof s->lines);
  g_free (s->name);
  g_free (s->domain_key);
  g_free (s->ca_file);
  g_clear_object (&s->resolver);
  g_clear_pointer (&s->overrides, g_hash_table_unref);
  g_clear_pointer (&s->notify_context, g_main_context_unref);
  g_clear_object (&s->client);
  g_free (s);
}

/* Snapshot the configuration and copy the queries (the secrets are wiped later). */
static Session *
session_new (MsgtrkMtqpClient   *client,
             gboolean            discover,
             const char         *name,
             guint16             port,
             const char * const *envids,
             const char * const *secrets)
{
  Session *s = g_new0 (Session, 1);
  GHashTableIter iter;
  gpointer key, value;
  guint i;

  s->client = g_object_ref (client);
  g_mutex_lock (&client->lock);
  s->policy = client->tls_policy;
  s->ca_file = g_strdup (client->ca_file);
  s->use_system_trust = client->use_system_trust;
  s->connect_timeout = client->connect_timeout;
  s->read_timeout = client->read_timeout;
  s->deadline_seconds = client->deadline;
  s->max_response_size = client->max_response_size;
  s->max_parts = client->max_parts;
  s->resolver = client->resolver != NULL ? g_object_ref (client->resolver)
                                         : g_resolver_get_default ();
  s->overrides = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  g_hash_table_iter_init (&iter, client->overrides);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_hash_table_insert (s->overrides, g_strdup (key), g_object_ref (value));
  g_mutex_unlock (&client->lock);

  s->discover = discover;
  if (!discover && name[0] == '[' && name[strlen (name) - 1] == ']')
    {
      g_autofree char *inner = g_strndup (name + 1, strlen (name) - 2);

      s->name = msgtrk_host_normalize (inner);
    }
  else
    s->name = msgtrk_host_normalize (name);
  /* The domain is remembered by its SRV name: it stands for the domain's MTQP service
   * whichever target serves it, and cannot be mistaken for a host's entry ("_" is not
   * allowed in host names). */
  if (discover)
    s->domain_key = g_strdup_printf ("_mtqp._tcp.%s", s->name);
  s->port = port != 0 ? port : MSGTRK_MTQP_PORT;
  s->n_queries = g_strv_length ((char **) envids);
  s->envids = g_new0 (char *, s->n_queries + 1);
  s->wire_envids = g_new0 (char *, s->n_queries + 1);
  s->secrets = g_new0 (char *, s->n_queries + 1);
  for (i = 0; i < s->n_queries; i++)
    {
      s->envids[i] = g_strdup (envids[i]);
      s->wire_envids[i] = msgtrk_xtext_encode (envids[i]);
      s->secrets[i] = g_strdup (secrets[i]);
    }
  s->deadline = g_get_monotonic_time () + (gint64) s->deadline_seconds * G_USEC_PER_SEC;
  return s;
}

/*
 * Overwrite every echo of a secret in the @len octets at @text (server text is hostile).
 * Done on the raw line before anything is parsed, quoted or cut short: masking a quote
 * that was already cut at its length limit would miss a secret that straddles the cut
 * and leave its first characters in the message.
 */
static void
session_mask_secrets (Session *s,
                      char    *text,
                      gsize    len)
{
  guint i;

  for (i = 0; i < s->n_queries; i++)
    {
      gsize slen = strlen (s->secrets[i]);
      gsize pos;

      if (slen < 4 || slen > len)
        continue;
      for (pos = 0; pos + slen <= len; pos++)
        {
          const char *hit = memchr (text + pos, s->secrets[i][0], len - slen + 1 - pos);

          if (hit == NULL)
            break;
          pos = (gsize) (hit - text);
          if (memcmp (hit, s->secrets[i], slen) == 0)
            {
              memset (text + pos, '*', slen);
              pos += slen - 1;
            }
        }
    }
}

static void
session_deadline_error (Session *s,
                        GError **error)
{
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TIMEOUT,
               _("Tracking query to %s took longer than the deadline of %u s"),
               s->quoted_host != NULL ? s->quoted_host : s->name, s->deadline_seconds);
}

static gboolean
session_check_deadline (Session *s,
                        GError **error)
{
  if (g_get_monotonic_time () < s->deadline)
    return TRUE;
  session_deadline_error (s, error);
  return FALSE;
}

/* Before each step that may block (a DNS lookup, the next target): cancelled or past
 * the deadline ends the call. */
static gboolean
session_may_go_on (Session *s,
                   GError **error)
{
  return !g_cancellable_set_error_if_cancelled (s->cancellable, error)
         && session_check_deadline (s, error);
}

/* Seconds left before the deadline, at least 1, at most @limit (0 = no limit). */
static guint
session_time_left (Session *s,
                   guint    limit)
{
  gint64 left = (s->deadline - g_get_monotonic_time () + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
  guint seconds = left < 1 ? 1 : left > G_MAXUINT ? G_MAXUINT : (guint) left;

  if (limit != 0 && limit < seconds)
    seconds = limit;
  return seconds;
}

/* Bound the next blocking socket operation by the idle timeout and the deadline. */
static void
session_arm_timeout (Session *s)
{
  GSocket *socket = g_socket_connection_get_socket (s->connection);

  g_socket_set_timeout (socket, session_time_left (s, s->read_timeout));
}

/* Turn an I/O error into the error a person can act on. */
static void
session_io_error (Session    *s,
                  GError     *io_error,
                  const char *doing,
                  GError    **error)
{
  if (g_error_matches (io_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || io_error->domain == MSGTRK_ERROR)
    g_propagate_error (error, io_error);
  else if (g_error_matches (io_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      if (g_get_monotonic_time () >= s->deadline)
        session_check_deadline (s, error);
      else
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TIMEOUT,
                     _("%s sent nothing for %u s while %s"), s->quoted_host,
                     s->read_timeout, doing);
      g_error_free (io_error);
    }
  else
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("Connection to %s failed while %s: %s"), s->quoted_host, doing,
                   io_error->message);
      g_error_free (io_error);
    }
}

/*
 * Read one line (without its CRLF; a bare LF is accepted) into s->lines (the syntax
 * layer's splitter). A line longer than MSGTRK_MTQP_MAX_LINE octets is an error and is not
 * read further. LINE_EOF: the server closed the connection (a partial last line is
 * dropped).
 */
static LineResult
session_read_line (Session    *s,
                   const char *doing,
                   GError    **error)
{
  GInputStream *in = g_io_stream_get_input_stream (s->stream);

  for (;;)
    {
      GError *io_error = NULL;
      gssize n;

      if (s->rstart < s->rend)
        {
          gsize used = 0;
          MsgtrkMtqpParseResult r;

          r = msgtrk_mtqp_line_splitter_feed (&s->lines, (const char *) s->rbuf + s->rstart,
                                              s->rend - s->rstart, &used, NULL);
          if (r == MSGTRK_MTQP_PARSE_ERROR)
            goto too_long;
          s->rstart += used;
          if (r == MSGTRK_MTQP_PARSE_DONE)
            return LINE_OK;
        }
      s->rstart = s->rend = 0;

      if (!session_check_deadline (s, error))
        return LINE_ERROR;
      session_arm_timeout (s);
      n = g_input_stream_read (in, s->rbuf, sizeof s->rbuf, s->cancellable, &io_error);
      if (n < 0)
        {
          session_io_error (s, io_error, doing, error);
          return LINE_ERROR;
        }
      if (n == 0)
        return LINE_EOF;
      s->rend = (gsize) n;
    }

too_long:
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
               _("%s sent a line longer than %u octets while %s"), s->quoted_host,
               MSGTRK_MTQP_MAX_LINE, doing);
  return LINE_ERROR;
}


/*
 * Parse s->lines as a status line (msgtrk_mtqp_status_parse(): RFC 3887 sections 2.3
 * and 10), secrets masked first. The text is kept escaped (control and 8-bit octets as
 * \xNN).
 */
static gboolean
session_parse_status (Session    *s,
                      const char *doing,
                      Status     *status,
                      GError    **error)
{
  MsgtrkMtqpStatusLine parsed;

  memset (status, 0, sizeof *status);
  session_mask_secrets (s, s->lines.line, s->lines.len);
  if (!msgtrk_mtqp_status_parse (s->lines.line, s->lines.len, &parsed, NULL))
    {
      g_autofree char *quoted = msgtrk_strn_escape_for_error (s->lines.line, s->lines.len, 80);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("%s sent “%s” while %s, which is not an MTQP status line"),
                   s->quoted_host, quoted, doing);
      return FALSE;
    }
  status->kind = parsed.kind;
  status->codes = g_steal_pointer (&parsed.codes);
  status->text = msgtrk_strn_escape_for_error (parsed.text, (gssize) parsed.text_len,
                                               MTQP_ERROR_QUOTE);
  return TRUE;
}

static gboolean
status_has_code (const Status *status,
                 const char   *code)
{
  return status->codes != NULL && g_strv_contains ((const char * const *) status->codes, code);
}

/* A negative status as a GError: SERVER_TEMP, SERVER_ERR or SERVER_BAD. */
static void
status_to_error (Session      *s,
                 const Status *status,
                 const char   *what,
                 GError      **error)
{
  int code = status->kind == MSGTRK_MTQP_STATUS_TEMP  ? MSGTRK_ERROR_SERVER_TEMP
             : status->kind == MSGTRK_MTQP_STATUS_ERR ? MSGTRK_ERROR_SERVER_ERR
                                          : MSGTRK_ERROR_SERVER_BAD;
  g_autofree char *codes = g_strjoinv ("/", status->codes);

  g_set_error (error, MSGTRK_ERROR, code, _("%s refused %s: %s%s%s %s"), s->quoted_host,
               what, msgtrk_mtqp_status_word (status->kind), *codes != '\0' ? "/" : "", codes,
               status->text);
}

/* Read multi-line data until "." (dot-stuffing removed), at most @max octets with CRLF
 * line ends. Returns NULL with @error set when the stream is no longer usable. */
static GByteArray *
session_read_data (Session    *s,
                   gsize       max,
                   const char *doing,
                   GError    **error)
{
  g_autoptr (GString) data = g_string_new (NULL);
  MsgtrkDotParser dot;

  /* The lines come without their ends; each is given to the dot parser with CRLF, so a
   * "." line ends the data whatever ended it on the wire (as before). */
  msgtrk_dot_parser_init (&dot);
  for (;;)
    {
      gsize used = 0;

      switch (session_read_line (s, doing, error))
        {
        case LINE_OK:
          break;
        case LINE_EOF:
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                       _("%s closed the connection in the middle of a reply"),
                       s->quoted_host);
          return NULL;
        case LINE_ERROR:
        default:
          return NULL;
        }
      msgtrk_dot_parser_feed (&dot, s->lines.line, s->lines.len, data, &used);
      if (msgtrk_dot_parser_feed (&dot, "\r\n", 2, data, &used))
        {
          gsize len = data->len;

          return g_byte_array_new_take ((guint8 *) g_string_free (g_steal_pointer (&data), FALSE),
                                        len);
        }
      if (data->len > max)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       _("%s sent a reply longer than %lu octets while %s"),
                       s->quoted_host, (unsigned long) max, doing);
          return NULL;
        }
    }
}

/*
 * Read the greeting (RFC 3887 section 3; the grammar is msgtrk-mtqp-syntax.c's: the
 * status line, then the option list after "+OK+").
 *
 * Sets s->offers_starttls. A negative greeting is a SERVER_* error.
 */
static gboolean
session_read_greeting (Session *s,
                       GError **error)
{
  const char *doing = _("reading the greeting");
  Status status;

  s->offers_starttls = FALSE;
  switch (session_read_line (s, doing, error))
    {
    case LINE_OK:
      break;
    case LINE_EOF:
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("%s closed the connection without a greeting"), s->quoted_host);
      return FALSE;
    case LINE_ERROR:
    default:
      return FALSE;
    }
  if (!session_parse_status (s, doing, &status, error))
    return FALSE;

  if (!msgtrk_mtqp_status_is_positive (status.kind))
    {
      status_to_error (s, &status, _("the session"), error);
      status_clear (&status);
      return FALSE;
    }
  if (!status_has_code (&status, "mtqp"))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("%s is not an MTQP server: its greeting lacks “/MTQP”"),
                   s->quoted_host);
      status_clear (&status);
      return FALSE;
    }
  g_debug ("MTQP %s greets: %s", s->quoted_host, status.text);

  if (status.kind == MSGTRK_MTQP_STATUS_OK_MULTI)
    {
      MsgtrkMtqpOptions options;
      MsgtrkMtqpParseResult r = MSGTRK_MTQP_PARSE_MORE;
      gboolean ok = TRUE;

      msgtrk_mtqp_options_init (&options);
      while (ok && r == MSGTRK_MTQP_PARSE_MORE)
        {
          g_autoptr (GError) syntax_error = NULL;

          switch (session_read_line (s, doing, error))
            {
            case LINE_OK:
              break;
            case LINE_EOF:
              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                           _("%s closed the connection in the middle of a reply"),
                           s->quoted_host);
              ok = FALSE;
              continue;
            case LINE_ERROR:
            default:
              ok = FALSE;
              continue;
            }
          r = msgtrk_mtqp_options_feed_line (&options, s->lines.line, s->lines.len,
                                             &syntax_error);
          if (r != MSGTRK_MTQP_PARSE_ERROR)
            continue;
          ok = FALSE;
          if (g_error_matches (syntax_error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT))
            g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                         _("%s lists more than %u option lines in its greeting"),
                         s->quoted_host, MSGTRK_MTQP_MAX_OPTIONS);
          else
            g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                         _("%s sent an option continuation line without an option"),
                         s->quoted_host);
        }
      s->offers_starttls = ok && msgtrk_mtqp_options_has (&options, "STARTTLS");
      msgtrk_mtqp_options_clear (&options);
      if (!ok)
        {
          status_clear (&status);
          return FALSE;
        }
    }
  status_clear (&status);
  return TRUE;
}

static gboolean
notify_starttls_hosts (gpointer data)
{
  MsgtrkMtqpClient *client = data;

  g_object_notify_by_pspec (G_OBJECT (client), props[PROP_STARTTLS_HOSTS]);
  return G_SOURCE_REMOVE;
}

/* Add @key to the STARTTLS memory (client lock held); TRUE if it was not there. */
static gboolean
memory_add_locked (MsgtrkMtqpClient *client,
                   const char       *key)
{
  if (key == NULL || g_hash_table_contains (client->starttls_hosts, key)
      || g_hash_table_size (client->starttls_hosts) >= MSGTRK_MTQP_MAX_STARTTLS_HOSTS)
    return FALSE;
  g_hash_table_add (client->starttls_hosts, g_strdup (key));
  return TRUE;
}

/*
 * Record that s->host offers STARTTLS, and so does the MTQP service of the domain asked
 * (s->domain_key): without the domain's entry, an attacker who blocks the remembered
 * target would get the TRACK in clear text from the next MX or SRV target, whose own
 * entry is missing. Notify where the caller listens.
 */
static void
session_remember_starttls (Session *s)
{
  MsgtrkMtqpClient *client = s->client;
  gboolean added = FALSE;

  g_mutex_lock (&client->lock);
  added |= memory_add_locked (client, s->memory_key);
  added |= memory_add_locked (client, s->domain_key);
  g_mutex_unlock (&client->lock);

  if (!added)
    return;
  if (s->notify_context != NULL)
    g_main_context_invoke_full (s->notify_context, G_PRIORITY_DEFAULT,
                                notify_starttls_hosts, g_object_ref (client),
                                g_object_unref);
  else
    notify_starttls_hosts (client);
}

static gboolean
session_write (Session    *s,
               const char *data,
               gsize       len,
               const char *doing,
               GError    **error)
{
  GError *io_error = NULL;

  if (!session_check_deadline (s, error))
    return FALSE;
  session_arm_timeout (s);
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (s->stream), data, len, NULL,
                                  s->cancellable, &io_error))
    {
      session_io_error (s, io_error, doing, error);
      return FALSE;
    }
  return TRUE;
}

/* STARTTLS (RFC 3887 section 6): +OK, handshake, forget everything, greet again. */
static gboolean
session_starttls (Session *s,
                  GError **error)
{
  const char *doing = _("starting TLS");
  g_autoptr (MsgtrkTlsContext) ctx = NULL;
  g_autoptr (GIOStream) tls = NULL;
  Status status;

  ctx = msgtrk_tls_context_new_client (s->ca_file, s->use_system_trust, error);
  if (ctx == NULL)
    return FALSE;
  if (!session_write (s, "STARTTLS\r\n", 10, doing, error))
    return FALSE;
  switch (session_read_line (s, doing, error))
    {
    case LINE_OK:
      break;
    case LINE_EOF:
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("%s closed the connection before answering STARTTLS"), s->quoted_host);
      return FALSE;
    case LINE_ERROR:
    default:
      return FALSE;
    }
  if (!session_parse_status (s, doing, &status, error))
    return FALSE;
  if (status.kind != MSGTRK_MTQP_STATUS_OK)
    {
      g_autoptr (GError) refused = NULL;

      if (status.kind == MSGTRK_MTQP_STATUS_OK_MULTI)
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                     _("%s answered STARTTLS with a multi-line reply"), s->quoted_host);
      else
        {
          status_to_error (s, &status, "STARTTLS", &refused);
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                       _("TLS: %s offered STARTTLS but refused it: %s"), s->quoted_host,
                       refused->message);
        }
      status_clear (&status);
      return FALSE;
    }
  status_clear (&status);
  if (s->rstart != s->rend)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("%s sent data after agreeing to STARTTLS (possible injection attack)"),
                   s->quoted_host);
      return FALSE;
    }

  session_arm_timeout (s);
  tls = msgtrk_tls_handshake (ctx, s->plain, s->host, s->cancellable,
                              error);
  if (tls == NULL)
    {
      if (error != NULL && *error != NULL && (*error)->domain == G_IO_ERROR
          && (*error)->code != G_IO_ERROR_CANCELLED)
        {
          GError *io_error = g_steal_pointer (error);

          session_io_error (s, io_error, doing, error);
        }
      return FALSE;
    }
  g_clear_object (&s->stream);
  s->stream = g_steal_pointer (&tls);
  s->tls_description = msgtrk_tls_stream_describe (s->stream);
  g_debug ("MTQP %s: %s", s->quoted_host, s->tls_description);

  if (!session_read_greeting (s, error))
    return FALSE;
  if (s->offers_starttls)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("%s still offers STARTTLS after the TLS handshake"), s->quoted_host);
      return FALSE;
    }
  return TRUE;
}

/* After a positive greeting: apply the TLS policy and the STARTTLS memory. */
static gboolean
session_secure (Session *s,
                GError **error)
{
  gboolean remembered, domain_remembered;

  if (s->policy == MSGTRK_TLS_POLICY_NONE)
    return TRUE;

  g_mutex_lock (&s->client->lock);
  remembered = g_hash_table_contains (s->client->starttls_hosts, s->memory_key);
  domain_remembered = s->domain_key != NULL
                      && g_hash_table_contains (s->client->starttls_hosts, s->domain_key);
  g_mutex_unlock (&s->client->lock);

  if (s->offers_starttls)
    {
      session_remember_starttls (s);
      return session_starttls (s, error);
    }
  if (remembered)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE,
                   _("%s no longer offers STARTTLS although it did before: someone may "
                     "be stripping TLS from the connection; nothing was sent"),
                   s->quoted_host);
      return FALSE;
    }
  /* Another target of the domain offered STARTTLS: this one may be the fallback an
   * attacker forced by blocking it. A downgrade error is final (error_allows_next_target):
   * the next target would only be another chance to strip TLS. */
  if (domain_remembered)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS_DOWNGRADE,
                   _("%s does not offer STARTTLS, but an MTQP server of %s did before: "
                     "someone may be blocking that server and stripping TLS from this "
                     "connection; nothing was sent"),
                   s->quoted_host, s->name);
      return FALSE;
    }
  if (s->policy == MSGTRK_TLS_POLICY_REQUIRED)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TLS,
                   _("TLS: %s does not offer STARTTLS, but TLS is required"),
                   s->quoted_host);
      return FALSE;
    }
  return TRUE;
}

/* ---- DNS lookups bounded by the deadline ---- */

typedef enum
{
  LOOKUP_ADDRESSES,
  LOOKUP_SRV,
  LOOKUP_MX,
} LookupKind;

typedef struct
{
  GAsyncResult *result;    /* (owned) (nullable) set when the lookup completes */
  GCancellable *cancel;    /* (unowned) the lookup's own */
  gboolean      timed_out;
} Lookup;

static void
lookup_done (GObject      *source,
             GAsyncResult *result,
             gpointer      data)
{
  Lookup *lookup = data;

  lookup->result = g_object_ref (result);
}

static gboolean
lookup_timed_out (gpointer data)
{
  Lookup *lookup = data;

  lookup->timed_out = TRUE;
  g_cancellable_cancel (lookup->cancel);
  return G_SOURCE_REMOVE;
}

/* The session's cancellable was cancelled (in any thread): cancel the lookup too. */
static void
lookup_forward_cancel (GCancellable *session_cancellable,
                       gpointer      data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

/*
 * One DNS lookup (@kind of @name), bounded by the time left before the deadline and by
 * the session's cancellable. A sync lookup would wait for the system resolver's own
 * timeouts (seconds per server and try) and could not be bounded: GLib 2.74 has no
 * g_resolver_set_timeout() (2.78). So the async lookup runs on a private main context,
 * thread-default in this thread while we iterate it, with a timeout source that cancels
 * it when the deadline comes. GThreadedResolver returns a cancelled lookup at once (its
 * thread finishes on its own); a resolver set with msgtrk_mtqp_client_set_resolver() must
 * implement the async lookups and honour cancellation the same way.
 *
 * Returns: (transfer full): the addresses (GInetAddress) or records (GVariant), or NULL
 *   with @error: %MSGTRK_ERROR_TIMEOUT past the deadline, %G_IO_ERROR_CANCELLED, or the
 *   resolver's error
 */
static GList *
session_lookup (Session    *s,
                LookupKind  kind,
                const char *name,
                GError    **error)
{
  g_autoptr (GMainContext) context = NULL;
  g_autoptr (GCancellable) cancel = NULL;
  g_autoptr (GSource) timeout = NULL;
  g_autoptr (GError) local = NULL;
  Lookup lookup = { NULL, NULL, FALSE };
  gulong handler = 0;
  gint64 left;
  GList *list = NULL;

  if (!session_may_go_on (s, error))
    return NULL;
  left = (s->deadline - g_get_monotonic_time () + 999) / 1000; /* ms, rounded up */

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  cancel = g_cancellable_new ();
  lookup.cancel = cancel;
  if (s->cancellable != NULL)
    handler = g_cancellable_connect (s->cancellable, G_CALLBACK (lookup_forward_cancel),
                                     cancel, NULL);
  timeout = g_timeout_source_new ((guint) CLAMP (left, 1, G_MAXUINT));
  g_source_set_callback (timeout, lookup_timed_out, &lookup, NULL);
  g_source_attach (timeout, context);

  switch (kind)
    {
    case LOOKUP_ADDRESSES:
      g_resolver_lookup_by_name_async (s->resolver, name, cancel, lookup_done, &lookup);
      break;
    case LOOKUP_SRV:
      g_resolver_lookup_records_async (s->resolver, name, G_RESOLVER_RECORD_SRV, cancel,
                                       lookup_done, &lookup);
      break;
    case LOOKUP_MX:
    default:
      g_resolver_lookup_records_async (s->resolver, name, G_RESOLVER_RECORD_MX, cancel,
                                       lookup_done, &lookup);
      break;
    }
  while (lookup.result == NULL)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
  if (handler != 0)
    g_cancellable_disconnect (s->cancellable, handler);

  if (kind == LOOKUP_ADDRESSES)
    list = g_resolver_lookup_by_name_finish (s->resolver, lookup.result, &local);
  else
    list = g_resolver_lookup_records_finish (s->resolver, lookup.result, &local);
  g_object_unref (lookup.result);
  g_main_context_pop_thread_default (context);

  if (list != NULL || local == NULL)
    return list;
  if (g_cancellable_set_error_if_cancelled (s->cancellable, error))
    return NULL;
  if (lookup.timed_out || g_get_monotonic_time () >= s->deadline)
    session_deadline_error (s, error);
  else
    g_propagate_error (error, g_steal_pointer (&local));
  return NULL;
}

/* Whether a lookup's error ends the call (rather than meaning "no such record"). */
static gboolean
lookup_error_is_final (const GError *error)
{
  return g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_TIMEOUT)
         || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* Addresses to try for @host: its override, an IP literal, or a resolver lookup. */
static GList *
session_addresses (Session    *s,
                   const char *host,
                   guint16     port,
                   GError    **error)
{
  GInetSocketAddress *override = g_hash_table_lookup (s->overrides, host);
  g_autoptr (GInetAddress) literal = NULL;
  GList *resolved, *l, *result = NULL;
  guint n = 0;

  if (override != NULL)
    return g_list_prepend (NULL, g_object_ref (override));
  literal = g_inet_address_new_from_string (host);
  if (literal != NULL)
    return g_list_prepend (NULL, g_inet_socket_address_new (literal, port));

  resolved = session_lookup (s, LOOKUP_ADDRESSES, host, error);
  for (l = resolved; l != NULL && n < MTQP_MAX_ADDRESSES; l = l->next, n++)
    result = g_list_prepend (result, g_inet_socket_address_new (l->data, port));
  g_resolver_free_addresses (resolved);
  return g_list_reverse (result);
}

/* Connect to one target; on success s->connection, s->stream and s->host are set. */
static gboolean
session_connect (Session      *s,
                 const Target *target,
                 GError      **error)
{
  g_autoptr (GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr (GError) last = NULL;
  GList *addresses, *l;
  g_autofree char *quoted = NULL;

  quoted = g_strdup_printf ("%s port %u", target->host, target->port);
  addresses = session_addresses (s, target->host, target->port, &last);
  if (addresses == NULL && lookup_error_is_final (last))
    {
      g_propagate_error (error, g_steal_pointer (&last));
      return FALSE;
    }
  g_socket_client_set_enable_proxy (socket_client, FALSE);

  for (l = addresses; l != NULL; l = l->next)
    {
      GError *local = NULL;

      if (!session_check_deadline (s, error))
        {
          g_list_free_full (addresses, g_object_unref);
          return FALSE;
        }
      g_socket_client_set_timeout (socket_client, session_time_left (s, s->connect_timeout));
      s->connection = g_socket_client_connect (socket_client, l->data, s->cancellable,
                                               &local);
      if (s->connection != NULL)
        {
          GInetSocketAddress *addr = l->data;

          s->plain = deadline_stream_new (s->connection, s->deadline, s->read_timeout);
          s->stream = g_object_ref (s->plain);
          s->host = g_strdup (target->host);
          s->host_port = g_inet_socket_address_get_port (addr);
          s->server_address =
            g_inet_address_to_string (g_inet_socket_address_get_address (addr));
          s->target_port = target->port;
          s->quoted_host = g_strdup_printf ("%s:%u", s->host, s->host_port);
          s->memory_key = s->host_port == MSGTRK_MTQP_PORT ? g_strdup (s->host)
                                                           : g_strdup (s->quoted_host);
          g_list_free_full (addresses, g_object_unref);
          return TRUE;
        }
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_propagate_error (error, local);
          g_list_free_full (addresses, g_object_unref);
          return FALSE;
        }
      g_clear_error (&last);
      last = local;
    }
  g_list_free_full (addresses, g_object_unref);

  if (g_error_matches (last, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_propagate_error (error, g_steal_pointer (&last));
  else
    g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT, _("Cannot connect to %s: %s"),
                 quoted, last != NULL ? last->message : _("no address"));
  return FALSE;
}

/*
 * The servers to try for s->name (RFC 3887 section 2): SRV _mtqp._tcp.<domain>, else MX
 * of <domain> by preference, else <domain> itself. An override for <domain> wins over
 * DNS. Returns NULL with NOT_FOUND when SRV says there is no service (target ".").
 */
static GArray *
session_discover (Session *s,
                  GError **error)
{
  g_autoptr (GArray) targets = g_array_new (FALSE, FALSE, sizeof (Target));
  g_autofree char *rrname = NULL;
  g_autoptr (GError) local = NULL;
  GList *records;

  g_array_set_clear_func (targets, msgtrk_mtqp_target_clear);

  if (!s->discover || g_hash_table_contains (s->overrides, s->name))
    {
      msgtrk_mtqp_targets_add (targets, s->name, s->port);
      return g_steal_pointer (&targets);
    }

  /* A failed lookup means "no such record, try the next way", unless the call is over. */
  rrname = g_strdup (s->domain_key); /* the SRV name is the domain's memory key */
  records = session_lookup (s, LOOKUP_SRV, rrname, &local);
  if (records == NULL && lookup_error_is_final (local))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  g_clear_error (&local);
  if (records != NULL)
    {
      if (msgtrk_mtqp_srv_says_no_service (records))
        {
          g_list_free_full (records, (GDestroyNotify) g_variant_unref);
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                       _("%s says it offers no MTQP service (SRV target “.”)"), s->name);
          return NULL;
        }
      msgtrk_mtqp_targets_add_srv (targets, records, NULL);
      g_list_free_full (records, (GDestroyNotify) g_variant_unref);
      g_debug ("MTQP %s: %u SRV target(s)", s->name, targets->len);
      return g_steal_pointer (&targets);
    }
  records = session_lookup (s, LOOKUP_MX, s->name, &local);
  if (records == NULL && lookup_error_is_final (local))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  msgtrk_mtqp_targets_add_mx (targets, records);
  g_list_free_full (records, (GDestroyNotify) g_variant_unref);
  if (targets->len > 0)
    {
      g_debug ("MTQP %s: %u MX host(s)", s->name, targets->len);
      return g_steal_pointer (&targets);
    }

  msgtrk_mtqp_targets_add (targets, s->name, MSGTRK_MTQP_PORT);
  return g_steal_pointer (&targets);
}

/* Whether a session failure lets the next target be tried. Never a TLS error or a
 * downgrade: the next target would be one more chance to strip TLS. */
static gboolean
error_allows_next_target (const GError *error)
{
  return g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT)
         || g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_SERVER_TEMP)
         || g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_SERVER_ERR);
}

/* Connect to the first target that works, greet, apply the TLS policy. */
static gboolean
session_open (Session *s,
              GError **error)
{
  g_autoptr (GArray) targets = NULL;
  g_autoptr (GError) last = NULL;
  guint i;

  targets = session_discover (s, error);
  if (targets == NULL)
    return FALSE;

  for (i = 0; i < targets->len; i++)
    {
      const Target *target = &g_array_index (targets, Target, i);
      GError *local = NULL;

      /* A target tried past the deadline would only report the deadline later. */
      if (!session_may_go_on (s, error))
        return FALSE;
      if (session_connect (s, target, &local) && session_read_greeting (s, &local)
          && session_secure (s, &local))
        return TRUE;
      session_close (s);
      if (!error_allows_next_target (local))
        {
          g_propagate_error (error, local);
          return FALSE;
        }
      g_debug ("MTQP %s: %s", s->name, local->message);
      g_clear_error (&last);
      last = local;
    }

  if (targets->len == 1 || last == NULL)
    g_propagate_error (error, g_steal_pointer (&last));
  else
    g_set_error (error, last->domain, last->code,
                 _("No MTQP server for %s could be used (%u tried); the last one: %s"),
                 s->name, targets->len, last->message);
  return FALSE;
}

/* Check a query before it goes out: @envid decoded, @wire_envid its xtext form. The secret
 * is never quoted. */
static gboolean
query_validate (const char *envid,
                const char *wire_envid,
                const char *secret,
                GError    **error)
{
  const char *p;
  gsize len;

  for (p = envid; *p != '\0'; p++)
    if ((guchar) *p <= 0x20 || (guchar) *p >= 0x7f)
      break;
  if (*envid == '\0' || *p != '\0')
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (envid, 100);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   _("ENVID “%s” cannot be sent: it must be printable ASCII without spaces"),
                   quoted);
      return FALSE;
    }
  for (p = secret; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=')
      break;
  if (*secret == '\0' || *p != '\0')
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                           _("The tracking secret is not base64 text"));
      return FALSE;
    }
  len = strlen ("TRACK  ") + strlen (wire_envid) + strlen (secret);
  if (len > MSGTRK_MTQP_MAX_LINE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("The TRACK command would be %lu octets long, more than the %u MTQP allows"),
                   (unsigned long) len, MSGTRK_MTQP_MAX_LINE);
      return FALSE;
    }
  return TRUE;
}

/*
 * Move the reports of @reports that are about the ENVID asked into @answer
 * (msgtrk_report_names_envid(): the Original-Envelope-Id as written or xtext-decoded);
 * drop the others. A buggy or hostile server that answers with another message's report must not
 * have it taken as this message's: it would become a hop, feed the status, and (when the
 * caller did not know the recipients) tell this message's sender the other message's
 * recipients. Every caller (tracker, mtqpd chaining, msgtrkd) gets only matching reports
 * from here. Nothing left: the answer fails with MSGTRK_ERROR_PROTOCOL. The entity stays
 * as received (diagnostics). Always TRUE: the connection is still usable.
 */
static gboolean
answer_keep_own_reports (Session          *s,
                         MsgtrkMtqpAnswer *answer,
                         GPtrArray        *reports)
{
  g_autoptr (GPtrArray) owned = reports;
  const char *foreign = NULL;
  guint dropped = 0;

  for (guint i = 0; i < owned->len; i++)
    {
      MsgtrkReport *report = g_ptr_array_index (owned, i);

      if (msgtrk_report_names_envid (report, answer->envid))
        g_ptr_array_add (answer->reports, g_object_ref (report));
      else
        {
          if (foreign == NULL)
            foreign = msgtrk_report_get_envid (report);
          dropped++;
        }
    }
  if (dropped == 0)
    return TRUE;

  g_debug ("MTQP %s: dropped %u of %u report(s) not about the ENVID asked", s->quoted_host,
           dropped, owned->len);
  if (answer->reports->len == 0)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (foreign != NULL ? foreign : "",
                                                             MTQP_ERROR_QUOTE);

      if (foreign != NULL)
        g_set_error (&answer->error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                     _("%s answered about another message (Original-Envelope-Id “%s”), "
                       "not about this one"), s->quoted_host, quoted);
      else
        g_set_error (&answer->error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                     _("%s answered about another message (its report names no "
                       "Original-Envelope-Id), not about this one"), s->quoted_host);
    }
  return TRUE;
}

/* Read the answer to one TRACK into @answer. Returns FALSE (with @error) only when the
 * connection can no longer be used; per-query failures go into the answer. */
static gboolean
session_read_answer (Session          *s,
                     MsgtrkMtqpAnswer *answer,
                     GError          **error)
{
  const char *doing = _("reading a TRACK answer");
  Status status;
  g_autoptr (GByteArray) data = NULL;
  g_autoptr (GPtrArray) reports = NULL;
  GError *parse_error = NULL;

  switch (session_read_line (s, doing, error))
    {
    case LINE_OK:
      break;
    case LINE_EOF:
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("%s closed the connection before answering"), s->quoted_host);
      return FALSE;
    case LINE_ERROR:
    default:
      return FALSE;
    }
  if (!session_parse_status (s, doing, &status, error))
    return FALSE;

  answer->status = g_strdup (msgtrk_mtqp_status_word (status.kind));
  g_strfreev (answer->codes);
  answer->codes = g_steal_pointer (&status.codes);
  answer->text = g_steal_pointer (&status.text);

  switch (status.kind)
    {
    case MSGTRK_MTQP_STATUS_OK:
      g_set_error (&answer->error, MSGTRK_ERROR, MSGTRK_ERROR_PROTOCOL,
                   _("%s answered TRACK with “+OK” and no tracking data"), s->quoted_host);
      return TRUE;
    case MSGTRK_MTQP_STATUS_TEMP:
    case MSGTRK_MTQP_STATUS_ERR:
    case MSGTRK_MTQP_STATUS_BAD:
      status.codes = answer->codes;
      status.text = answer->text;
      status_to_error (s, &status, _("the tracking query"), &answer->error);
      return TRUE;
    case MSGTRK_MTQP_STATUS_OK_MULTI:
    default:
      break;
    }

  data = session_read_data (s, s->max_response_size, doing, error);
  if (data == NULL)
    return FALSE;
  answer->entity = g_byte_array_free_to_bytes (g_steal_pointer (&data));
  reports = msgtrk_report_parse_entity (answer->entity, &parse_error);
  if (reports == NULL)
    {
      g_set_error (&answer->error, MSGTRK_ERROR, parse_error->code,
                   _("%s sent tracking data that cannot be used: %s"), s->quoted_host,
                   parse_error->message);
      g_error_free (parse_error);
      return TRUE;
    }
  if (reports->len > s->max_parts)
    {
      g_set_error (&answer->error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   _("%s sent %u reports in one answer, more than the %u allowed"),
                   s->quoted_host, reports->len, s->max_parts);
      return TRUE;
    }
  return answer_keep_own_reports (s, answer, g_steal_pointer (&reports));
}

static void
answer_set_server (Session          *s,
                   MsgtrkMtqpAnswer *answer)
{
  g_free (answer->server_host);
  answer->server_host = g_strdup (s->host);
  answer->server_port = s->host_port;
  answer->discovered_port = s->target_port;
  g_free (answer->tls_description);
  answer->tls_description = g_strdup (s->tls_description);
  g_free (answer->server_address);
  answer->server_address = g_strdup (s->server_address);
}

/* Send one batch of TRACK commands in one write (plus QUIT after the last batch), then
 * read the answers in order. */
static gboolean
session_track_batch (Session   *s,
                     GPtrArray *answers,
                     guint     *indices,
                     guint      n,
                     gboolean   last_batch,
                     GError   **error)
{
  gsize len = 0;
  char *commands;
  char *p;
  gboolean ok;
  guint i;

  /* One buffer of exactly the right size, wiped after the write: a growing GString or a
   * printf would leave copies of the secrets in freed heap blocks. */
  for (i = 0; i < n; i++)
    len += strlen ("TRACK  \r\n") + strlen (s->wire_envids[indices[i]])
           + strlen (s->secrets[indices[i]]);
  if (last_batch)
    len += strlen ("QUIT\r\n");
  commands = g_malloc (len + 1);
  p = commands;
  for (i = 0; i < n; i++)
    {
      p = g_stpcpy (p, "TRACK ");
      p = g_stpcpy (p, s->wire_envids[indices[i]]);
      *p++ = ' ';
      p = g_stpcpy (p, s->secrets[indices[i]]);
      p = g_stpcpy (p, "\r\n");
      g_debug ("MTQP %s ← TRACK %s <secret>", s->quoted_host, s->wire_envids[indices[i]]);
    }
  if (last_batch)
    p = g_stpcpy (p, "QUIT\r\n");
  g_assert ((gsize) (p - commands) == len);
  ok = session_write (s, commands, len, _("sending TRACK commands"), error);
  OPENSSL_cleanse (commands, len + 1);
  g_free (commands);
  if (!ok)
    return FALSE;

  for (i = 0; i < n; i++)
    {
      MsgtrkMtqpAnswer *answer = g_ptr_array_index (answers, indices[i]);

      answer_set_server (s, answer);
      if (!session_read_answer (s, answer, error))
        return FALSE;
    }
  return TRUE;
}

/* The whole call: open, TRACK everything, close. */
static GPtrArray *
session_run (Session *s,
             GError **error)
{
  g_autoptr (GPtrArray) answers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree guint *valid = g_new0 (guint, s->n_queries + 1);
  guint n_valid = 0, i;
  GError *broken = NULL;

  for (i = 0; i < s->n_queries; i++)
    {
      MsgtrkMtqpAnswer *answer = msgtrk_mtqp_answer_new_for_envid (s->envids[i]);

      g_ptr_array_add (answers, answer);
      if (query_validate (s->envids[i], s->wire_envids[i], s->secrets[i], &answer->error))
        valid[n_valid++] = i;
    }

  if (!session_open (s, error))
    return NULL;

  for (i = 0; i < n_valid && broken == NULL; i += MSGTRK_MTQP_PIPELINE_BATCH)
    {
      guint n = MIN (MSGTRK_MTQP_PIPELINE_BATCH, n_valid - i);

      session_track_batch (s, answers, valid + i, n, i + n == n_valid, &broken);
    }

  if (broken != NULL)
    {
      if (g_error_matches (broken, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_propagate_error (error, broken);
          session_close (s);
          return NULL;
        }
      /* Every answer not read fails with the connection's error. */
      for (i = 0; i < n_valid; i++)
        {
          MsgtrkMtqpAnswer *answer = g_ptr_array_index (answers, valid[i]);

          if (answer->error == NULL && answer->entity == NULL)
            {
              answer->error = g_error_copy (broken);
              answer_set_server (s, answer);
            }
        }
      g_error_free (broken);
    }
  session_close (s);
  return g_steal_pointer (&answers);
}

static void
track_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  Session *s = task_data;
  GError *error = NULL;
  GPtrArray *answers;

  s->cancellable = cancellable;
  answers = session_run (s, &error);
  if (answers == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, answers, (GDestroyNotify) g_ptr_array_unref);
}

static gboolean
check_queries (const char * const *envids,
               const char * const *secrets)
{
  guint n_envids, n_secrets;

  g_return_val_if_fail (envids != NULL, FALSE);
  g_return_val_if_fail (secrets != NULL, FALSE);
  n_envids = g_strv_length ((char **) envids);
  n_secrets = g_strv_length ((char **) secrets);
  g_return_val_if_fail (n_envids == n_secrets, FALSE);
  g_return_val_if_fail (n_envids >= 1 && n_envids <= MSGTRK_MTQP_MAX_QUERIES, FALSE);
  return TRUE;
}

static void
track_start (MsgtrkMtqpClient   *self,
             gboolean            discover,
             const char         *name,
             guint16             port,
             const char * const *envids,
             const char * const *secrets,
             GCancellable       *cancellable,
             GAsyncReadyCallback callback,
             gpointer            user_data,
             gpointer            source_tag)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  Session *s = session_new (self, discover, name, port, envids, secrets);

  g_task_set_source_tag (task, source_tag);
  g_task_set_name (task, "msgtrk-mtqp-track");
  s->notify_context = g_main_context_ref (g_task_get_context (task));
  g_task_set_task_data (task, s, (GDestroyNotify) session_free);
  msgtrk_worker_run_in_thread (task, track_thread);
}

/* The blocking counterpart of track_start(): runs @s (from session_new()) in the caller's
 * thread, then frees it. */
static GPtrArray *
session_run_sync (Session      *s,
                  GCancellable *cancellable,
                  GError      **error)
{
  GPtrArray *answers;

  s->cancellable = cancellable;
  answers = session_run (s, error);
  session_free (s);
  return answers;
}

/**
 * msgtrk_mtqp_client_track_async:
 * @self: a client
 * @domain: the mail domain whose MTQP server to find (SRV, then MX, then the domain)
 * @envids: (array zero-terminated=1): the ENVIDs to track, decoded (each is sent in its
 *   xtext form, RFC 3461), 1 to %MSGTRK_MTQP_MAX_QUERIES
 * @secrets: (array zero-terminated=1): the base64 secret of each ENVID, in the same order
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the session is over
 * @user_data: data for @callback
 *
 * Finds the MTQP server of @domain and asks it about every ENVID in one session (TRACK
 * commands pipelined). The work runs in a thread of libmsgtrk's own bounded pool, never in
 * GLib's shared one; @callback runs in the thread default main context of the caller. The secrets are copied and the copies wiped when
 * the session ends.
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_track_async (MsgtrkMtqpClient   *self,
                                const char         *domain,
                                const char * const *envids,
                                const char * const *secrets,
                                GCancellable       *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer            user_data)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  g_return_if_fail (domain != NULL && *domain != '\0');
  g_return_if_fail (check_queries (envids, secrets));

  track_start (self, TRUE, domain, 0, envids, secrets, cancellable, callback, user_data,
               msgtrk_mtqp_client_track_async);
}

static GPtrArray *
track_finish (MsgtrkMtqpClient *self,
              GAsyncResult     *result,
              gpointer          source_tag,
              GError          **error)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * msgtrk_mtqp_client_track_finish:
 * @self: a client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes msgtrk_mtqp_client_track_async().
 *
 * Returns: (transfer container) (element-type MsgtrkMtqpAnswer): one answer per ENVID,
 *   in order (each with its reports or its own error), or %NULL with @error set when no
 *   server could be used (see the description of this file)
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_mtqp_client_track_finish (MsgtrkMtqpClient *self,
                                 GAsyncResult     *result,
                                 GError          **error)
{
  return track_finish (self, result, msgtrk_mtqp_client_track_async, error);
}

/**
 * msgtrk_mtqp_client_track_sync:
 * @self: a client
 * @domain: the mail domain whose MTQP server to find
 * @envids: (array zero-terminated=1): the ENVIDs to track, decoded (sent as xtext)
 * @secrets: (array zero-terminated=1): the base64 secret of each ENVID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The blocking form of msgtrk_mtqp_client_track_async(), for threads and tools. Never
 * call it from a main loop's thread.
 *
 * Returns: (transfer container) (element-type MsgtrkMtqpAnswer): one answer per ENVID,
 *   or %NULL with @error set
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_mtqp_client_track_sync (MsgtrkMtqpClient   *self,
                               const char         *domain,
                               const char * const *envids,
                               const char * const *secrets,
                               GCancellable       *cancellable,
                               GError            **error)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), NULL);
  g_return_val_if_fail (domain != NULL && *domain != '\0', NULL);
  g_return_val_if_fail (check_queries (envids, secrets), NULL);

  return session_run_sync (session_new (self, TRUE, domain, 0, envids, secrets), cancellable,
                           error);
}

/**
 * msgtrk_mtqp_client_track_host_async:
 * @self: a client
 * @host: a host name or IP address (an IPv6 address may be in brackets)
 * @port: the TCP port, 0 for %MSGTRK_MTQP_PORT
 * @envids: (array zero-terminated=1): the ENVIDs to track, decoded (each is sent in its
 *   xtext form, RFC 3461), 1 to %MSGTRK_MTQP_MAX_QUERIES
 * @secrets: (array zero-terminated=1): the base64 secret of each ENVID, in the same order
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the session is over
 * @user_data: data for @callback
 *
 * Like msgtrk_mtqp_client_track_async() but asks @host directly (an mtqp:// URL, a
 * Remote-MTA of a `transferred` report), without SRV or MX discovery.
 *
 * Since: 1.0
 */
void
msgtrk_mtqp_client_track_host_async (MsgtrkMtqpClient   *self,
                                     const char         *host,
                                     guint16             port,
                                     const char * const *envids,
                                     const char * const *secrets,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data)
{
  g_return_if_fail (MSGTRK_IS_MTQP_CLIENT (self));
  g_return_if_fail (host != NULL && *host != '\0');
  g_return_if_fail (check_queries (envids, secrets));

  track_start (self, FALSE, host, port, envids, secrets, cancellable, callback, user_data,
               msgtrk_mtqp_client_track_host_async);
}

/**
 * msgtrk_mtqp_client_track_host_finish:
 * @self: a client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes msgtrk_mtqp_client_track_host_async().
 *
 * Returns: (transfer container) (element-type MsgtrkMtqpAnswer): one answer per ENVID,
 *   or %NULL with @error set
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_mtqp_client_track_host_finish (MsgtrkMtqpClient *self,
                                      GAsyncResult     *result,
                                      GError          **error)
{
  return track_finish (self, result, msgtrk_mtqp_client_track_host_async, error);
}

/**
 * msgtrk_mtqp_client_track_host_sync:
 * @self: a client
 * @host: a host name or IP address
 * @port: the TCP port, 0 for %MSGTRK_MTQP_PORT
 * @envids: (array zero-terminated=1): the ENVIDs to track, decoded (sent as xtext)
 * @secrets: (array zero-terminated=1): the base64 secret of each ENVID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The blocking form of msgtrk_mtqp_client_track_host_async().
 *
 * Returns: (transfer container) (element-type MsgtrkMtqpAnswer): one answer per ENVID,
 *   or %NULL with @error set
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_mtqp_client_track_host_sync (MsgtrkMtqpClient   *self,
                                    const char         *host,
                                    guint16             port,
                                    const char * const *envids,
                                    const char * const *secrets,
                                    GCancellable       *cancellable,
                                    GError            **error)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_CLIENT (self), NULL);
  g_return_val_if_fail (host != NULL && *host != '\0', NULL);
  g_return_val_if_fail (check_queries (envids, secrets), NULL);

  return session_run_sync (session_new (self, FALSE, host, port, envids, secrets), cancellable,
                           error);
}
