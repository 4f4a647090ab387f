/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-front-peer.c: the client's address, names and their statuses as Postfix's smtpd
 * finds them (src/smtpd/smtpd_peer.c, src/util/valid_hostname.c), and the XCLIENT command
 * that hands them to Postfix (src/smtpd/smtpd.c, xclient_cmd). Contract, limits and what
 * bounds the lookups: postfix-front-peer.h.
 */
#include "config.h"

#include "postfix-front-peer.h"

#include <arpa/inet.h>
#include <string.h>

#include "msgtrk.h"

#define PEER_UNKNOWN "unknown"
/* XCLIENT's values for a name that could not be found (Postfix's XCLIENT_UNAVAILABLE,
 * XCLIENT_TEMPORARY). */
#define XCLIENT_UNAVAILABLE "[UNAVAILABLE]"
#define XCLIENT_TEMPUNAVAIL "[TEMPUNAVAIL]"

/* smtpd_peer.c's TEMP_AI_ERROR: the failures worth a retry later. */
#define PEER_TEMP_AI_ERROR(e) ((e) == EAI_AGAIN || (e) == EAI_MEMORY || (e) == EAI_SYSTEM)

static const PostfixFrontResolver libc_resolver = {
  getnameinfo,
  getaddrinfo,
  freeaddrinfo,
};

/* @sa as Postfix's smtpd keeps it: an IPv4-mapped IPv6 address as the IPv4 one (into
 * @out, @out_len), printable in @text with its port in @port. FALSE: neither IPv4 nor
 * IPv6 (nothing set). */
static gboolean
sockaddr_normalize (const struct sockaddr  *sa,
                    socklen_t               len,
                    struct sockaddr_storage *out,
                    socklen_t              *out_len,
                    char                    text[INET6_ADDRSTRLEN],
                    guint16                *port)
{
  if (sa->sa_family == AF_INET && len >= sizeof (struct sockaddr_in))
    {
      memcpy (out, sa, sizeof (struct sockaddr_in));
      *out_len = sizeof (struct sockaddr_in);
    }
  else if (sa->sa_family == AF_INET6 && len >= sizeof (struct sockaddr_in6))
    {
      struct sockaddr_in6 in6;

      memcpy (&in6, sa, sizeof in6);
      if (IN6_IS_ADDR_V4MAPPED (&in6.sin6_addr))
        {
          struct sockaddr_in in = { 0 };

          in.sin_family = AF_INET;
          in.sin_port = in6.sin6_port;
          memcpy (&in.sin_addr, &in6.sin6_addr.s6_addr[12], sizeof in.sin_addr);
          memcpy (out, &in, sizeof in);
          *out_len = sizeof in;
        }
      else
        {
          memcpy (out, &in6, sizeof in6);
          *out_len = sizeof in6;
        }
    }
  else
    return FALSE;

  if (out->ss_family == AF_INET)
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *) out;

      inet_ntop (AF_INET, &in->sin_addr, text, INET6_ADDRSTRLEN);
      *port = ntohs (in->sin_port);
    }
  else
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) out;

      inet_ntop (AF_INET6, &in6->sin6_addr, text, INET6_ADDRSTRLEN);
      *port = ntohs (in6->sin6_port);
    }
  return TRUE;
}

/**
 * postfix_front_peer_set_address:
 * @peer: a zeroed peer
 * @sa: the client's address (getpeername)
 * @len: its length
 *
 * Sets @peer's address and port; an IPv4-mapped IPv6 address (a client of a listener on
 * [::]) becomes the IPv4 address, as smtpd_peer.c converts it.
 *
 * Returns: FALSE (@peer's address left unknown) when @sa is neither IPv4 nor IPv6
 */
gboolean
postfix_front_peer_set_address (PostfixFrontPeer      *peer,
                                const struct sockaddr *sa,
                                socklen_t              len)
{
  peer->sa_len = 0;
  peer->addr[0] = '\0';
  peer->port = 0;
  if (sockaddr_normalize (sa, len, &peer->sa, &peer->sa_len, peer->addr, &peer->port))
    return TRUE;
  peer->sa_len = 0;
  peer->addr[0] = '\0';
  return FALSE;
}

/**
 * postfix_front_peer_is_loopback:
 * @peer: a peer whose address is set
 *
 * Returns: whether the client's address is a loopback one (127.0.0.0/8, ::1; an
 *   IPv4-mapped one is IPv4 by then)
 */
gboolean
postfix_front_peer_is_loopback (const PostfixFrontPeer *peer)
{
  if (peer->sa_len == 0)
    return FALSE;
  if (peer->sa.ss_family == AF_INET)
    return ntohl (((const struct sockaddr_in *) &peer->sa)->sin_addr.s_addr) >> IN_CLASSA_NSHIFT
           == IN_LOOPBACKNET;
  return peer->sa.ss_family == AF_INET6
         && IN6_IS_ADDR_LOOPBACK (&((const struct sockaddr_in6 *) &peer->sa)->sin6_addr);
}

/**
 * postfix_front_peer_key:
 * @peer: a peer whose address is set
 * @ipv4_prefix: 1 to POSTFIX_FRONT_PEER_IPV4_BITS: the bits of an IPv4 address kept
 * @ipv6_prefix: 1 to POSTFIX_FRONT_PEER_IPV6_BITS: the bits of an IPv6 address kept
 * @key: (out caller-allocates): POSTFIX_FRONT_PEER_KEY_MAX octets
 *
 * What @peer's client is told apart by: its address's network of @ipv4_prefix or
 * @ipv6_prefix bits, as Postfix 3.8's smtpd_client_ipv4_prefix_length and
 * smtpd_client_ipv6_prefix_length aggregate its client counts ("network/bits"; the
 * address alone at full length). An IPv6 address with a scope (link-local) has "%" and
 * the scope's number after it: the same network on two links is two clients (and a host
 * on a link cannot get past the limit by taking other addresses of its prefix).
 *
 * Returns: FALSE (@key "") when @peer's address is unknown
 */
gboolean
postfix_front_peer_key (const PostfixFrontPeer *peer,
                        guint                   ipv4_prefix,
                        guint                   ipv6_prefix,
                        char                    key[POSTFIX_FRONT_PEER_KEY_MAX])
{
  char net[INET6_ADDRSTRLEN];

  key[0] = '\0';
  if (peer->sa_len == 0)
    return FALSE;
  if (peer->sa.ss_family == AF_INET)
    {
      guint32 a = ntohl (((const struct sockaddr_in *) &peer->sa)->sin_addr.s_addr);
      struct in_addr masked;

      ipv4_prefix = CLAMP (ipv4_prefix, 1, POSTFIX_FRONT_PEER_IPV4_BITS);
      if (ipv4_prefix == POSTFIX_FRONT_PEER_IPV4_BITS)
        {
          g_strlcpy (key, peer->addr, POSTFIX_FRONT_PEER_KEY_MAX);
          return TRUE;
        }
      masked.s_addr = htonl (a & ~(G_MAXUINT32 >> ipv4_prefix));
      inet_ntop (AF_INET, &masked, net, sizeof net);
      g_snprintf (key, POSTFIX_FRONT_PEER_KEY_MAX, "%s/%u", net, ipv4_prefix);
      return TRUE;
    }
  else
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &peer->sa;
      struct in6_addr masked = in6->sin6_addr;

      g_autofree char *scope = in6->sin6_scope_id != 0
                                 ? g_strdup_printf ("%%%u", (guint) in6->sin6_scope_id)
                                 : NULL;

      ipv6_prefix = CLAMP (ipv6_prefix, 1, POSTFIX_FRONT_PEER_IPV6_BITS);
      if (ipv6_prefix == POSTFIX_FRONT_PEER_IPV6_BITS)
        {
          g_snprintf (key, POSTFIX_FRONT_PEER_KEY_MAX, "%s%s", peer->addr,
                      scope != NULL ? scope : "");
          return TRUE;
        }
      for (guint i = 0; i < sizeof masked.s6_addr; i++)
        {
          guint kept = ipv6_prefix > i * 8 ? MIN (ipv6_prefix - i * 8, 8) : 0;

          masked.s6_addr[i] &= (guint8) (0xff00u >> kept);
        }
      inet_ntop (AF_INET6, &masked, net, sizeof net);
      g_snprintf (key, POSTFIX_FRONT_PEER_KEY_MAX, "%s/%u%s", net, ipv6_prefix,
                  scope != NULL ? scope : "");
      return TRUE;
    }
}

/**
 * postfix_front_peer_set_server:
 * @peer: a peer
 * @sa: the front's address the client reached (getsockname)
 * @len: its length
 *
 * Sets the server address and port Postfix is to see (XCLIENT DESTADDR, DESTPORT: its
 * server_address and server_port, Dovecot's local IP, milters' {daemon_addr}), an
 * IPv4-mapped one as IPv4.
 *
 * Returns: FALSE (none sent: Postfix keeps its own listener's) when @sa is neither IPv4
 *   nor IPv6
 */
gboolean
postfix_front_peer_set_server (PostfixFrontPeer      *peer,
                               const struct sockaddr *sa,
                               socklen_t              len)
{
  struct sockaddr_storage ss;
  socklen_t ss_len = 0;

  peer->server_addr[0] = '\0';
  peer->server_port = 0;
  peer->server_ipv6 = FALSE;
  if (!sockaddr_normalize (sa, len, &ss, &ss_len, peer->server_addr, &peer->server_port))
    {
      peer->server_addr[0] = '\0';
      return FALSE;
    }
  peer->server_ipv6 = ss.ss_family == AF_INET6;
  return TRUE;
}

/**
 * postfix_front_peer_valid_hostname:
 * @name: a host name
 *
 * Postfix's valid_hostname() (without wildcards): letters, digits, "_" and "-" in labels
 * of 1 to POSTFIX_FRONT_PEER_LABEL_MAX octets separated by single dots, no "-" at a
 * label's start or end, not all digits and dots, at most POSTFIX_FRONT_PEER_NAME_MAX
 * octets. (So no numeric address passes either: Postfix's valid_hostaddr() check.)
 *
 * Returns: whether Postfix takes @name as a client name (XCLIENT NAME=, or its own
 *   reverse lookup's result)
 */
gboolean
postfix_front_peer_valid_hostname (const char *name)
{
  gsize length = strlen (name);
  gboolean has_non_digit = FALSE;
  g_auto (GStrv) labels = NULL;

  if (length == 0 || length > POSTFIX_FRONT_PEER_NAME_MAX)
    return FALSE;
  /* Every label non-empty (no leading, trailing or double dot), within the label limit,
   * of letters, digits, "_" and inner "-". */
  labels = g_strsplit (name, ".", -1);
  for (guint i = 0; labels[i] != NULL; i++)
    {
      const char *label = labels[i];
      gsize n = strlen (label);

      if (n == 0 || n > POSTFIX_FRONT_PEER_LABEL_MAX || label[0] == '-' || label[n - 1] == '-')
        return FALSE;
      for (gsize j = 0; j < n; j++)
        {
          if (!g_ascii_isalnum (label[j]) && label[j] != '_' && label[j] != '-')
            return FALSE;
          has_non_digit |= !g_ascii_isdigit (label[j]);
        }
    }
  /* All digits and dots would be an address, never a name. */
  return has_non_digit;
}

static void
peer_set_names (PostfixFrontPeer      *peer,
                const char            *name,
                PostfixFrontPeerStatus name_status,
                const char            *reverse_name,
                PostfixFrontPeerStatus reverse_name_status)
{
  g_free (peer->name);
  g_free (peer->reverse_name);
  peer->name = g_strdup (name);
  peer->name_status = name_status;
  peer->reverse_name = g_strdup (reverse_name);
  peer->reverse_name_status = reverse_name_status;
}

/* Whether @a (from the forward lookup) is the client's address (sock_addr_cmp_addr). */
static gboolean
peer_same_address (const PostfixFrontPeer *peer,
                   const struct sockaddr  *a)
{
  if (a->sa_family != peer->sa.ss_family)
    return FALSE;
  if (a->sa_family == AF_INET)
    return memcmp (&((const struct sockaddr_in *) a)->sin_addr,
                   &((const struct sockaddr_in *) &peer->sa)->sin_addr,
                   sizeof (struct in_addr)) == 0;
  return memcmp (&((const struct sockaddr_in6 *) a)->sin6_addr,
                 &((const struct sockaddr_in6 *) &peer->sa)->sin6_addr,
                 sizeof (struct in6_addr)) == 0;
}

/**
 * postfix_front_peer_lookup:
 * @peer: a peer with its address set
 * @resolver: (nullable): the name service calls; %NULL: the libc's
 *
 * Finds @peer's names as smtpd_peer_sockaddr_to_hostname() does: the reverse lookup,
 * the name's syntax, then the forward lookup in the address's family, which must list the
 * address. Blocks (bounded by the system resolver: postfix-front-peer.h).
 */
void
postfix_front_peer_lookup (PostfixFrontPeer           *peer,
                           const PostfixFrontResolver *resolver)
{
  const PostfixFrontResolver *r = resolver != NULL ? resolver : &libc_resolver;
  char host[NI_MAXHOST] = "";
  struct addrinfo hints = { 0 };
  struct addrinfo *res0 = NULL;
  int err;

  if (peer->sa_len == 0)
    {
      postfix_front_peer_no_lookup (peer);
      return;
    }
  err = r->getnameinfo ((const struct sockaddr *) &peer->sa, peer->sa_len, host, sizeof host,
                        NULL, 0, NI_NAMEREQD);
  /* sockaddr_to_hostname(): a numeric or malformed name is no name. */
  if (err == 0 && (memchr (host, '\0', sizeof host) == NULL
                   || !postfix_front_peer_valid_hostname (host)))
    err = EAI_NONAME;
  if (err != 0)
    {
      PostfixFrontPeerStatus st = PEER_TEMP_AI_ERROR (err) ? POSTFIX_FRONT_PEER_TEMP
                                                          : POSTFIX_FRONT_PEER_PERM;

      peer_set_names (peer, PEER_UNKNOWN, st, PEER_UNKNOWN, st);
      return;
    }

  /* hostname_to_sockaddr_pf(name, family): the name must list the client's address. */
  hints.ai_family = peer->sa.ss_family;
  hints.ai_socktype = SOCK_STREAM;
  err = r->getaddrinfo (host, NULL, &hints, &res0);
  if (err != 0)
    {
      peer_set_names (peer, PEER_UNKNOWN,
                      PEER_TEMP_AI_ERROR (err) ? POSTFIX_FRONT_PEER_TEMP
                                               : POSTFIX_FRONT_PEER_FORGED,
                      host, POSTFIX_FRONT_PEER_OK);
      return;
    }
  for (const struct addrinfo *res = res0; res != NULL; res = res->ai_next)
    if (res->ai_addr != NULL && peer_same_address (peer, res->ai_addr))
      {
        r->freeaddrinfo (res0);
        peer_set_names (peer, host, POSTFIX_FRONT_PEER_OK, host, POSTFIX_FRONT_PEER_OK);
        return;
      }
  r->freeaddrinfo (res0);
  peer_set_names (peer, PEER_UNKNOWN, POSTFIX_FRONT_PEER_FORGED, host, POSTFIX_FRONT_PEER_OK);
}

/**
 * postfix_front_peer_no_lookup:
 * @peer: a peer
 *
 * No names, a permanent status for both: what Postfix's smtpd has with
 * smtpd_peername_lookup=no (the front's peername_lookup=false).
 */
void
postfix_front_peer_no_lookup (PostfixFrontPeer *peer)
{
  peer_set_names (peer, PEER_UNKNOWN, POSTFIX_FRONT_PEER_PERM, PEER_UNKNOWN,
                  POSTFIX_FRONT_PEER_PERM);
}

/* A name as XCLIENT takes it: the name (xtext: a valid host name is its own xtext), or
 * the special value for its status (xclient_cmd's peer_codes). */
static char *
xclient_name (const char            *name,
              PostfixFrontPeerStatus status)
{
  if (status == POSTFIX_FRONT_PEER_OK && name != NULL)
    return msgtrk_xtext_encode (name);
  return g_strdup (status == POSTFIX_FRONT_PEER_TEMP ? XCLIENT_TEMPUNAVAIL : XCLIENT_UNAVAILABLE);
}

/**
 * postfix_front_peer_xclient:
 * @peer: a peer whose names were looked up (or not: postfix_front_peer_no_lookup)
 *
 * The XCLIENT command (without CRLF) that makes Postfix see @peer as its own smtpd would:
 * NAME (for a verified name Postfix sets the reverse name to it too), REVERSE_NAME when
 * the name is not verified, ADDR and PORT ([UNAVAILABLE] when unknown), DESTADDR and
 * DESTPORT when the server address is known.
 *
 * Returns: (transfer full): the command, at most POSTFIX_FRONT_PEER_XCLIENT_LINE_MAX - 2
 *   octets
 */
char *
postfix_front_peer_xclient (const PostfixFrontPeer *peer)
{
  g_autofree char *name = xclient_name (peer->name, peer->name_status);
  GString *cmd = g_string_new ("XCLIENT NAME=");

  g_string_append (cmd, name);
  if (peer->name_status != POSTFIX_FRONT_PEER_OK)
    {
      g_autofree char *reverse = xclient_name (peer->reverse_name, peer->reverse_name_status);

      g_string_append_printf (cmd, " REVERSE_NAME=%s", reverse);
    }
  if (peer->addr[0] != '\0')
    g_string_append_printf (cmd, " ADDR=%s%s PORT=%u",
                            peer->sa.ss_family == AF_INET6 ? "IPV6:" : "", peer->addr,
                            peer->port);
  else
    g_string_append (cmd, " ADDR=" XCLIENT_UNAVAILABLE " PORT=" XCLIENT_UNAVAILABLE);
  if (peer->server_addr[0] != '\0')
    g_string_append_printf (cmd, " DESTADDR=%s%s DESTPORT=%u", peer->server_ipv6 ? "IPV6:" : "",
                            peer->server_addr, peer->server_port);
  g_warn_if_fail (cmd->len + 2 <= POSTFIX_FRONT_PEER_XCLIENT_LINE_MAX);
  return g_string_free (cmd, FALSE);
}

/**
 * postfix_front_peer_clear:
 * @peer: a peer
 *
 * Frees @peer's names.
 */
void
postfix_front_peer_clear (PostfixFrontPeer *peer)
{
  g_clear_pointer (&peer->name, g_free);
  g_clear_pointer (&peer->reverse_name, g_free);
}

/* A cached lookup: the names and statuses found for one address. All entries have the
 * same lifetime, so the queue in insertion order is also the order of expiry. */
typedef struct
{
  char *key;                /* (owned) the address, printable (peer_cache_key) */
  char *name;               /* (owned) */
  char *reverse_name;       /* (owned) */
  PostfixFrontPeerStatus name_status;
  PostfixFrontPeerStatus reverse_name_status;
  gint64 expires;           /* monotonic microseconds */
  GList link;               /* in PostfixFrontPeerCache.order */
} PeerCacheEntry;

struct _PostfixFrontPeerCache
{
  GMutex lock;              /* held for a table look-up or change only */
  GCond looked_up;          /* a lookup under way ended (postfix_front_peer_cache_wait) */
  gint64 ttl_us;
  guint max_entries;
  GHashTable *entries;      /* (owned) key -> PeerCacheEntry (owned) */
  GQueue order;             /* the entries, oldest first */
  GHashTable *flights;      /* (owned) key (owned) -> GSList* of PostfixFrontPeerWaiter*:
                             * the addresses whose lookup is under way, their waiters */
};

/* @peer's cache key: its address alone (postfix_front_peer_key at full length). */
static void
peer_cache_key (const PostfixFrontPeer *peer,
                char                    key[POSTFIX_FRONT_PEER_KEY_MAX])
{
  postfix_front_peer_key (peer, POSTFIX_FRONT_PEER_IPV4_BITS, POSTFIX_FRONT_PEER_IPV6_BITS,
                          key);
}

static void
peer_cache_entry_free (gpointer data)
{
  PeerCacheEntry *e = data;

  g_free (e->key);
  g_free (e->name);
  g_free (e->reverse_name);
  g_free (e);
}

/**
 * postfix_front_peer_cache_new:
 * @ttl: seconds an entry is used (at most POSTFIX_FRONT_PEER_CACHE_MAX_TTL); 0: none kept
 * @max_entries: addresses kept at most (POSTFIX_FRONT_PEER_CACHE_MAX for the front)
 *
 * Returns: (transfer full): an empty cache (with @ttl 0 one that keeps nothing)
 */
PostfixFrontPeerCache *
postfix_front_peer_cache_new (guint ttl,
                              guint max_entries)
{
  PostfixFrontPeerCache *cache = g_new0 (PostfixFrontPeerCache, 1);

  g_mutex_init (&cache->lock);
  g_cond_init (&cache->looked_up);
  cache->flights = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  cache->ttl_us = (gint64) MIN (ttl, POSTFIX_FRONT_PEER_CACHE_MAX_TTL) * G_USEC_PER_SEC;
  cache->max_entries = max_entries;
  cache->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          peer_cache_entry_free);
  g_queue_init (&cache->order);
  return cache;
}

/* @e out of the cache and freed (under the lock). */
static void
peer_cache_remove_locked (PostfixFrontPeerCache *cache,
                          PeerCacheEntry        *e)
{
  g_queue_unlink (&cache->order, &e->link);
  g_hash_table_remove (cache->entries, e->key);
}

/* @peer's names from a live entry for its key (under the lock; an expired one dropped). */
static gboolean
peer_cache_get_locked (PostfixFrontPeerCache *cache,
                       PostfixFrontPeer      *peer,
                       gint64                 now)
{
  char key[POSTFIX_FRONT_PEER_KEY_MAX];
  PeerCacheEntry *e;

  peer_cache_key (peer, key);
  e = g_hash_table_lookup (cache->entries, key);
  if (e != NULL && e->expires > now)
    {
      peer_set_names (peer, e->name, e->name_status, e->reverse_name, e->reverse_name_status);
      return TRUE;
    }
  if (e != NULL)
    peer_cache_remove_locked (cache, e);
  return FALSE;
}

/**
 * postfix_front_peer_cache_get:
 * @cache: (nullable): a cache
 * @peer: a peer with its address set
 * @now: g_get_monotonic_time()
 *
 * Sets @peer's names and statuses from a live entry for its address, if there is one.
 *
 * Returns: %TRUE when they were set (no lookup needed)
 */
gboolean
postfix_front_peer_cache_get (PostfixFrontPeerCache *cache,
                              PostfixFrontPeer      *peer,
                              gint64                 now)
{
  gboolean hit;

  if (cache == NULL || cache->ttl_us == 0 || peer->sa_len == 0)
    return FALSE;
  g_mutex_lock (&cache->lock);
  hit = peer_cache_get_locked (cache, peer, now);
  g_mutex_unlock (&cache->lock);
  return hit;
}

/**
 * postfix_front_peer_cache_claim:
 * @cache: (nullable): a cache
 * @peer: a peer with its address set
 * @now: g_get_monotonic_time()
 * @waiter: the caller's, @waiter->peer being @peer (and @wake set in a coroutine)
 *
 * One lookup per address at a time: a live entry sets @peer's names (HIT); else, when
 * another session's lookup of the same address (same key) is under way, @waiter is
 * queued for its result (WAIT: wait until postfix_front_peer_cache_waited(), parking
 * between, or postfix_front_peer_cache_wait() in a thread; the names are then set, a
 * TEMP result too); else the caller looks them up (LEAD) and must then call
 * postfix_front_peer_cache_put(), which ends the lookup for every waiter. Without a cache
 * (or ttl 0, or an address unknown): LEAD, nothing queued.
 */
PostfixFrontPeerCacheClaim
postfix_front_peer_cache_claim (PostfixFrontPeerCache  *cache,
                                PostfixFrontPeer       *peer,
                                gint64                  now,
                                PostfixFrontPeerWaiter *waiter)
{
  char key[POSTFIX_FRONT_PEER_KEY_MAX];
  gpointer waiters;
  PostfixFrontPeerCacheClaim claim;

  if (cache == NULL || cache->ttl_us == 0 || peer->sa_len == 0)
    return POSTFIX_FRONT_PEER_CACHE_LEAD;
  peer_cache_key (peer, key);
  waiter->done = FALSE;
  g_mutex_lock (&cache->lock);
  if (peer_cache_get_locked (cache, peer, now))
    claim = POSTFIX_FRONT_PEER_CACHE_HIT;
  else if (g_hash_table_lookup_extended (cache->flights, key, NULL, &waiters))
    {
      g_hash_table_insert (cache->flights, g_strdup (key), g_slist_prepend (waiters, waiter));
      claim = POSTFIX_FRONT_PEER_CACHE_WAIT;
    }
  else
    {
      g_hash_table_insert (cache->flights, g_strdup (key), NULL);
      claim = POSTFIX_FRONT_PEER_CACHE_LEAD;
    }
  g_mutex_unlock (&cache->lock);
  return claim;
}

/**
 * postfix_front_peer_cache_waited:
 * @cache: the cache @waiter was queued on (WAIT)
 * @waiter: the caller's
 *
 * Returns: TRUE once the lookup @waiter waits for has ended (its names set)
 */
gboolean
postfix_front_peer_cache_waited (PostfixFrontPeerCache  *cache,
                                 PostfixFrontPeerWaiter *waiter)
{
  gboolean done;

  g_mutex_lock (&cache->lock);
  done = waiter->done;
  g_mutex_unlock (&cache->lock);
  return done;
}

/**
 * postfix_front_peer_cache_wait:
 * @cache: the cache @waiter was queued on (WAIT)
 * @waiter: the caller's
 *
 * In a thread: blocks until the lookup @waiter waits for has ended (its names set).
 */
void
postfix_front_peer_cache_wait (PostfixFrontPeerCache  *cache,
                               PostfixFrontPeerWaiter *waiter)
{
  g_mutex_lock (&cache->lock);
  while (!waiter->done)
    g_cond_wait (&cache->looked_up, &cache->lock);
  g_mutex_unlock (&cache->lock);
}

/* The lookup of @key under way ended with @peer's names: each waiter's set (none when
 * @peer has none: the waiter looks up itself) and woken (under the lock). */
static void
peer_cache_land_locked (PostfixFrontPeerCache  *cache,
                        const char             *key,
                        const PostfixFrontPeer *peer)
{
  gpointer waiters;

  if (!g_hash_table_lookup_extended (cache->flights, key, NULL, &waiters))
    return;
  for (GSList *l = waiters; l != NULL; l = l->next)
    {
      PostfixFrontPeerWaiter *w = l->data;

      if (peer->name != NULL && peer->reverse_name != NULL)
        peer_set_names (w->peer, peer->name, peer->name_status, peer->reverse_name,
                        peer->reverse_name_status);
      w->done = TRUE;
      if (w->wake != NULL)
        w->wake (w->wake_data);
    }
  g_slist_free (waiters);
  g_hash_table_remove (cache->flights, key);
  g_cond_broadcast (&cache->looked_up);
}

/**
 * postfix_front_peer_cache_put:
 * @cache: (nullable): a cache
 * @peer: a peer after postfix_front_peer_lookup()
 * @now: g_get_monotonic_time()
 *
 * Ends the lookup of @peer's address under way (postfix_front_peer_cache_claim: LEAD):
 * its waiters get @peer's names, whatever they are. Keeps them for the address for the
 * cache's ttl, unless a status is TEMP (a temporary failure is tried again by the next
 * session). Expired entries go first, then the oldest while the cache is full.
 */
void
postfix_front_peer_cache_put (PostfixFrontPeerCache  *cache,
                              const PostfixFrontPeer *peer,
                              gint64                  now)
{
  char key[POSTFIX_FRONT_PEER_KEY_MAX];
  PeerCacheEntry *e;
  PeerCacheEntry *old;

  if (cache == NULL || cache->ttl_us == 0 || peer->sa_len == 0)
    return;
  peer_cache_key (peer, key);
  if (cache->max_entries == 0 || peer->name == NULL || peer->reverse_name == NULL
      || peer->name_status == POSTFIX_FRONT_PEER_TEMP
      || peer->reverse_name_status == POSTFIX_FRONT_PEER_TEMP)
    {
      g_mutex_lock (&cache->lock);
      peer_cache_land_locked (cache, key, peer);
      g_mutex_unlock (&cache->lock);
      return;
    }
  e = g_new0 (PeerCacheEntry, 1);
  e->key = g_strdup (key);
  e->name = g_strdup (peer->name);
  e->reverse_name = g_strdup (peer->reverse_name);
  e->name_status = peer->name_status;
  e->reverse_name_status = peer->reverse_name_status;
  e->expires = now + cache->ttl_us;
  e->link.data = e;
  g_mutex_lock (&cache->lock);
  old = g_hash_table_lookup (cache->entries, e->key);
  if (old != NULL)
    peer_cache_remove_locked (cache, old);
  while (!g_queue_is_empty (&cache->order))
    {
      PeerCacheEntry *head = g_queue_peek_head (&cache->order);

      if (head->expires > now && g_hash_table_size (cache->entries) < cache->max_entries)
        break;
      peer_cache_remove_locked (cache, head);
    }
  g_queue_push_tail_link (&cache->order, &e->link);
  g_hash_table_insert (cache->entries, e->key, e);
  peer_cache_land_locked (cache, key, peer);
  g_mutex_unlock (&cache->lock);
}

/**
 * postfix_front_peer_cache_size:
 * @cache: a cache
 *
 * Returns: the addresses kept (expired ones included until they are dropped)
 */
guint
postfix_front_peer_cache_size (PostfixFrontPeerCache *cache)
{
  guint n;

  g_mutex_lock (&cache->lock);
  n = g_hash_table_size (cache->entries);
  g_mutex_unlock (&cache->lock);
  return n;
}

/**
 * postfix_front_peer_cache_free:
 * @cache: (nullable): a cache
 */
void
postfix_front_peer_cache_free (PostfixFrontPeerCache *cache)
{
  if (cache == NULL)
    return;
  g_queue_init (&cache->order); /* its links are the entries own: freed with them */
  g_hash_table_destroy (cache->entries);
  g_hash_table_destroy (cache->flights); /* no lookup under way: no waiter */
  g_cond_clear (&cache->looked_up);
  g_mutex_clear (&cache->lock);
  g_free (cache);
}
