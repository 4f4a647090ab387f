/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-front-peer.c: the client's address, names and their statuses as Postfix's smtpd
 * finds them (src/smtpd/smtpd_peer.c, src/util/valid_hostname.c), and the XCLIENT command
 * that hands them to Postfix (src/smtpd/smtpd.c, xclient_cmd); the lookup in a pool thread
 * that its caller may give up on. Contract, limits and what bounds the lookups:
 * postfix-front-peer.h.
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

/* A bounded lookup (postfix_front_peer_lookup_bounded): shared by the waiting caller and
 * the pool thread that runs it, freed by whichever lets go last. */
typedef struct
{
  gatomicrefcount ref;
  GMutex lock;
  GCond cond;                       /* done set, or the caller's cancellable cancelled */
  gboolean done;                    /* the lookup has returned (peer's names set) */
  gboolean abandoned;               /* the caller gave up on it (counted in abandoned) */
  PostfixFrontPeer peer;            /* the thread's copy: the address in, the names out */
  const PostfixFrontResolver *resolver;
} PeerLookup;

/* Given-up lookups still running (POSTFIX_FRONT_PEER_ABANDONED_MAX). */
static gint lookups_abandoned;

static void
peer_lookup_unref (PeerLookup *l)
{
  if (!g_atomic_ref_count_dec (&l->ref))
    return;
  postfix_front_peer_clear (&l->peer);
  g_mutex_clear (&l->lock);
  g_cond_clear (&l->cond);
  g_free (l);
}

/* In a pool thread: the blocking lookup, then done (a given-up one uncounted). */
static void
peer_lookup_run (gpointer data,
                 gpointer user_data)
{
  PeerLookup *l = data;
  gboolean abandoned;

  (void) user_data;
  postfix_front_peer_lookup (&l->peer, l->resolver);
  g_mutex_lock (&l->lock);
  l->done = TRUE;
  abandoned = l->abandoned;
  g_cond_broadcast (&l->cond);
  g_mutex_unlock (&l->lock);
  if (abandoned)
    g_atomic_int_add (&lookups_abandoned, -1);
  peer_lookup_unref (l);
}

/* The cancellable's handler (in the cancelling thread): wakes the waiting caller. */
static void
peer_lookup_cancelled (GCancellable *cancellable,
                       gpointer      data)
{
  PeerLookup *l = data;

  (void) cancellable;
  g_mutex_lock (&l->lock);
  g_cond_broadcast (&l->cond);
  g_mutex_unlock (&l->lock);
}

/* The threads of the bounded lookups: a non-exclusive pool without a limit (idle
 * threads reused, a new one whenever all are busy: a hanging lookup never delays
 * another; the given-up ones are bounded by POSTFIX_FRONT_PEER_ABANDONED_MAX). */
static GThreadPool *
peer_lookup_pool (void)
{
  static GThreadPool *pool;
  static gsize made;

  if (g_once_init_enter (&made))
    {
      pool = g_thread_pool_new (peer_lookup_run, NULL, -1, FALSE, NULL);
      g_once_init_leave (&made, 1);
    }
  return pool;
}

/**
 * postfix_front_peer_lookup_bounded:
 * @peer: a peer with its address set
 * @resolver: (nullable): the name service calls; %NULL: the libc's (must outlive every
 *   lookup started with it: a given-up lookup goes on using it)
 * @timeout_ms: how long to wait for the lookup at most
 * @cancellable: (nullable): cancelled: the wait ends at once (a stop of the front)
 * @error: why the lookup was given up
 *
 * postfix_front_peer_lookup() in a thread of a shared pool, waited for at most
 * @timeout_ms or until @cancellable is cancelled. Given up (past @timeout_ms:
 * G_IO_ERROR_TIMED_OUT; cancelled, also before it starts: G_IO_ERROR_CANCELLED;
 * POSTFIX_FRONT_PEER_ABANDONED_MAX given-up lookups still running: G_IO_ERROR_BUSY, no
 * lookup started): @peer's names are unknown
 * with a temporary status (smtpd's view of a name service that fails for now), and a
 * lookup begun goes on in its thread, its answer unused.
 *
 * Returns: TRUE with @peer's names as postfix_front_peer_lookup() finds them; FALSE
 *   (@error set) when given up
 */
gboolean
postfix_front_peer_lookup_bounded (PostfixFrontPeer           *peer,
                                   const PostfixFrontResolver *resolver,
                                   guint                       timeout_ms,
                                   GCancellable               *cancellable,
                                   GError                    **error)
{
  g_autoptr (GError) local = NULL;
  PeerLookup *l;
  gulong cancel_id = 0;
  gint64 end;
  gboolean done;

  if (peer->sa_len == 0)
    {
      postfix_front_peer_no_lookup (peer);
      return TRUE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    goto temporary;
  if (g_atomic_int_get (&lookups_abandoned) >= POSTFIX_FRONT_PEER_ABANDONED_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   "%d client name lookups given up are still waiting for the name service",
                   POSTFIX_FRONT_PEER_ABANDONED_MAX);
      goto temporary;
    }

  l = g_new0 (PeerLookup, 1);
  g_atomic_ref_count_init (&l->ref);
  g_mutex_init (&l->lock);
  g_cond_init (&l->cond);
  memcpy (&l->peer.sa, &peer->sa, sizeof peer->sa);
  l->peer.sa_len = peer->sa_len;
  l->resolver = resolver;
  g_atomic_ref_count_inc (&l->ref);                   /* the thread's */
  /* No new thread to be had: the lookup waits in the pool's queue for one (GLib queues
   * it anyway), within the same timeout. */
  if (!g_thread_pool_push (peer_lookup_pool (), l, &local))
    g_warning ("no new thread for a client name lookup (it waits for one): %s",
               local->message);
  if (cancellable != NULL)
    cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (peer_lookup_cancelled), l,
                                       NULL);
  end = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&l->lock);
  while (!l->done && !g_cancellable_is_cancelled (cancellable))
    if (!g_cond_wait_until (&l->cond, &l->lock, end))
      break;
  done = l->done;
  if (done)
    {
      peer_set_names (peer, l->peer.name, l->peer.name_status, l->peer.reverse_name,
                      l->peer.reverse_name_status);
    }
  else
    {
      l->abandoned = TRUE;
      g_atomic_int_inc (&lookups_abandoned);
    }
  g_mutex_unlock (&l->lock);
  /* Not under l->lock: it waits for a running handler, which takes it. */
  if (cancel_id != 0)
    g_cancellable_disconnect (cancellable, cancel_id);
  peer_lookup_unref (l);
  if (done)
    return TRUE;
  if (!g_cancellable_set_error_if_cancelled (cancellable, error))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "no answer from the name service within %u ms", timeout_ms);

temporary:
  peer_set_names (peer, PEER_UNKNOWN, POSTFIX_FRONT_PEER_TEMP, PEER_UNKNOWN,
                  POSTFIX_FRONT_PEER_TEMP);
  return FALSE;
}

/**
 * postfix_front_peer_lookups_abandoned:
 *
 * Returns: how many bounded lookups were given up and are still in the name service
 */
guint
postfix_front_peer_lookups_abandoned (void)
{
  return (guint) g_atomic_int_get (&lookups_abandoned);
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
