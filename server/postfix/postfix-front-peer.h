/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-front-peer.h: who the client of msgtrk-submit-front is, as Postfix's smtpd would
 * see it, and the XCLIENT command that tells Postfix (docs/postfix-site.md, "XCLIENT").
 *
 * What: the client's address and port (an IPv4-mapped IPv6 address as the IPv4 address,
 * as smtpd converts it: mynetworks and IPv4 access rules must match), its verified name
 * and its reverse name with their statuses, found as Postfix's smtpd_peer.c finds them:
 * the reverse lookup (getnameinfo, NI_NAMEREQD), the name checked as Postfix's
 * valid_hostname() checks it (numeric or malformed: a permanent failure), then the forward
 * lookup of that name in the client's address family, which must list the client's
 * address ("forged" otherwise). name is the verified name or "unknown", reverse_name the
 * unverified reverse name or "unknown"; a status is OK, TEMP (EAI_AGAIN, EAI_MEMORY,
 * EAI_SYSTEM), PERM or FORGED, Postfix's SMTPD_PEER_CODE_* values.
 * postfix_front_peer_xclient() writes them as one XCLIENT command: NAME= (the verified
 * name; Postfix then sets the reverse name to it too), REVERSE_NAME= only when the name is
 * not verified, [TEMPUNAVAIL] for TEMP and [UNAVAILABLE] for PERM and FORGED (smtpd.c
 * xclient_cmd: FORGED and PERM act alike in its restrictions), ADDR= (IPV6: prefixed for
 * IPv6) and PORT=, and DESTADDR= and DESTPORT=, the front's address and port the client
 * reached (Postfix's server_address and server_port: policy services, Dovecot's local IP,
 * milters' {daemon_addr}), every value xtext (RFC 3461) as Postfix decodes them. Postfix
 * 3.7 knows all six attributes (REVERSE_NAME since 2.3, DESTADDR and DESTPORT since 3.2).
 * Limits: names POSTFIX_FRONT_PEER_NAME_MAX, labels POSTFIX_FRONT_PEER_LABEL_MAX (Postfix's
 * VALID_HOSTNAME_LEN and VALID_LABEL_LEN); the command is at most
 * POSTFIX_FRONT_PEER_XCLIENT_LINE_MAX octets with its CRLF (the SMTP command limit
 * XCLIENT_README asks for; the longest, CRLF included, is 427). The lookups block: they
 * are bounded by the system resolver only (resolv.conf timeout x attempts x nameservers,
 * per query; getaddrinfo adds the search list for names with fewer dots than ndots), as
 * in Postfix's smtpd, which makes the same calls. A PostfixFrontPeerCache keeps what was
 * found for an address (OK, PERM and FORGED results; never TEMP, which the next session
 * tries again) for peername_cache_ttl seconds, as a caching name service (nscd) would:
 * a client that connects again within it costs no lookup; at most
 * POSTFIX_FRONT_PEER_CACHE_MAX addresses, the oldest dropped first. An address is keyed
 * with its IPv6 scope (fe80::1 on two interfaces: two clients, two entries). One lookup
 * per address at a time (postfix_front_peer_cache_claim): sessions from an address whose
 * lookup is under way wait for it and take its result (a TEMP one too, not kept).
 * Never: send a name Postfix would refuse (501 there would leave the session with the
 * front's own identity); look a name up in DNS directly (the system's name service, as
 * Postfix).
 */
#pragma once

#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

G_BEGIN_DECLS

/** POSTFIX_FRONT_PEER_NAME_MAX: longest host name (RFC 1035; Postfix's VALID_HOSTNAME_LEN). */
#define POSTFIX_FRONT_PEER_NAME_MAX 255
/** POSTFIX_FRONT_PEER_LABEL_MAX: longest label of a host name (Postfix's VALID_LABEL_LEN). */
#define POSTFIX_FRONT_PEER_LABEL_MAX 63
/** POSTFIX_FRONT_PEER_XCLIENT_LINE_MAX: longest XCLIENT command, CRLF included (the
 * 512-character SMTP command limit of XCLIENT_README, note 1). */
#define POSTFIX_FRONT_PEER_XCLIENT_LINE_MAX 512

/** POSTFIX_FRONT_PEER_IPV4_BITS, _IPV6_BITS: an address's length in bits (the longest
 * prefix postfix_front_peer_key() takes: the address alone). */
#define POSTFIX_FRONT_PEER_IPV4_BITS 32
#define POSTFIX_FRONT_PEER_IPV6_BITS 128
/** POSTFIX_FRONT_PEER_KEY_MAX: a postfix_front_peer_key()'s octets with its NUL: the
 * address (INET6_ADDRSTRLEN counts the NUL), "/" and a prefix length (4), "%" and a
 * scope's decimal number (11). */
#define POSTFIX_FRONT_PEER_KEY_MAX (INET6_ADDRSTRLEN + 4 + 11)

/* Postfix's SMTPD_PEER_CODE_* (smtpd.h). */
typedef enum
{
  POSTFIX_FRONT_PEER_OK = 2,
  POSTFIX_FRONT_PEER_TEMP = 4,
  POSTFIX_FRONT_PEER_PERM = 5,
  POSTFIX_FRONT_PEER_FORGED = 6,
} PostfixFrontPeerStatus;

typedef struct
{
  struct sockaddr_storage sa;     /* the client's address, an IPv4-mapped one as IPv4 */
  socklen_t sa_len;               /* 0: unknown */
  char addr[INET6_ADDRSTRLEN];    /* printable, "" when unknown */
  guint16 port;
  char *name;                     /* (owned) (nullable) verified name, or "unknown" */
  char *reverse_name;             /* (owned) (nullable) unverified name, or "unknown" */
  PostfixFrontPeerStatus name_status;
  PostfixFrontPeerStatus reverse_name_status;
  char server_addr[INET6_ADDRSTRLEN]; /* the address the client reached, "" when unknown */
  guint16 server_port;
  gboolean server_ipv6;
} PostfixFrontPeer;

/* The name service calls (the libc's by default; tests give their own). */
typedef struct
{
  int (*getnameinfo) (const struct sockaddr *sa,
                      socklen_t              salen,
                      char                  *host,
                      socklen_t              hostlen,
                      char                  *serv,
                      socklen_t              servlen,
                      int                    flags);
  int (*getaddrinfo) (const char             *node,
                      const char             *service,
                      const struct addrinfo  *hints,
                      struct addrinfo       **res);
  void (*freeaddrinfo) (struct addrinfo *res);
} PostfixFrontResolver;

/** POSTFIX_FRONT_PEER_CACHE_*_TTL: seconds a client address's names are kept by the
 * front (peername_cache_ttl; 0: looked up for every session, as Postfix's smtpd does). */
#define POSTFIX_FRONT_PEER_CACHE_DEFAULT_TTL 60
#define POSTFIX_FRONT_PEER_CACHE_MAX_TTL 3600
/** POSTFIX_FRONT_PEER_CACHE_MAX: client addresses whose names are kept at most (the
 * oldest go first). */
#define POSTFIX_FRONT_PEER_CACHE_MAX 4096

/* Names found for client addresses, kept ttl seconds (thread-safe; never a TEMP result:
 * postfix-front-peer.c). */
typedef struct _PostfixFrontPeerCache PostfixFrontPeerCache;

/* What postfix_front_peer_cache_claim() found. */
typedef enum
{
  POSTFIX_FRONT_PEER_CACHE_HIT,   /* the names set from the cache */
  POSTFIX_FRONT_PEER_CACHE_LEAD,  /* look them up, then postfix_front_peer_cache_put() */
  POSTFIX_FRONT_PEER_CACHE_WAIT,  /* another's lookup under way: wait for it */
} PostfixFrontPeerCacheClaim;

/* A session waiting for another's lookup of its address (its own storage, alive until
 * it has seen postfix_front_peer_cache_waited() TRUE). @wake (nullable) is called with
 * @wake_data under the cache's lock when the names are set (a coroutine's wake); without
 * it, postfix_front_peer_cache_wait() blocks. */
typedef struct
{
  PostfixFrontPeer *peer;
  void (*wake) (gpointer data);
  gpointer wake_data;
  gboolean done;                  /* (private) under the cache's lock */
} PostfixFrontPeerWaiter;

gboolean   postfix_front_peer_set_address  (PostfixFrontPeer           *peer,
                                            const struct sockaddr      *sa,
                                            socklen_t                   len);
gboolean   postfix_front_peer_is_loopback  (const PostfixFrontPeer     *peer);
gboolean   postfix_front_peer_key          (const PostfixFrontPeer     *peer,
                                            guint                       ipv4_prefix,
                                            guint                       ipv6_prefix,
                                            char key[POSTFIX_FRONT_PEER_KEY_MAX]);
gboolean   postfix_front_peer_set_server   (PostfixFrontPeer           *peer,
                                            const struct sockaddr      *sa,
                                            socklen_t                   len);
void       postfix_front_peer_lookup       (PostfixFrontPeer           *peer,
                                            const PostfixFrontResolver *resolver);
void       postfix_front_peer_no_lookup    (PostfixFrontPeer           *peer);
gboolean   postfix_front_peer_valid_hostname (const char               *name);
char      *postfix_front_peer_xclient      (const PostfixFrontPeer     *peer);
void       postfix_front_peer_clear        (PostfixFrontPeer           *peer);

PostfixFrontPeerCache *postfix_front_peer_cache_new  (guint                   ttl,
                                                      guint                   max_entries);
gboolean               postfix_front_peer_cache_get  (PostfixFrontPeerCache  *cache,
                                                      PostfixFrontPeer       *peer,
                                                      gint64                  now);
PostfixFrontPeerCacheClaim postfix_front_peer_cache_claim (PostfixFrontPeerCache  *cache,
                                                         PostfixFrontPeer       *peer,
                                                         gint64                  now,
                                                         PostfixFrontPeerWaiter *waiter);
gboolean               postfix_front_peer_cache_waited (PostfixFrontPeerCache  *cache,
                                                        PostfixFrontPeerWaiter *waiter);
void                   postfix_front_peer_cache_wait (PostfixFrontPeerCache  *cache,
                                                      PostfixFrontPeerWaiter *waiter);
void                   postfix_front_peer_cache_put  (PostfixFrontPeerCache  *cache,
                                                      const PostfixFrontPeer *peer,
                                                      gint64                  now);
guint                  postfix_front_peer_cache_size (PostfixFrontPeerCache  *cache);
void                   postfix_front_peer_cache_free (PostfixFrontPeerCache  *cache);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PostfixFrontPeerCache, postfix_front_peer_cache_free)

G_END_DECLS
