/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-postfix-front-peer.c: the front's client as Postfix's smtpd sees it
 * (server/postfix/postfix-front-peer.c), with a scripted name service.
 *
 * Cases: Postfix's valid_hostname() table (names of POSTFIX_FRONT_PEER_NAME_MAX and one
 * more, labels of POSTFIX_FRONT_PEER_LABEL_MAX and one more, numeric, misplaced dots and
 * hyphens, other characters); addresses (IPv4, IPv6, IPv4-mapped as IPv4, another family);
 * every lookup outcome of smtpd_peer.c (confirmed; forward lookup without the address,
 * failed permanently or temporarily; reverse lookup failed permanently or temporarily,
 * numeric or malformed) and what the name service was asked; the XCLIENT command for
 * each status and its longest form within POSTFIX_FRONT_PEER_XCLIENT_LINE_MAX.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "postfix-front-peer.h"

/* The scripted name service: the reverse lookup's result, then the forward one's. */
static struct
{
  int reverse_err;
  const char *reverse_name;
  int forward_err;
  const char *forward_addrs[3];   /* numeric, of any family */
  /* what was asked */
  int reverse_family;
  char forward_name[NI_MAXHOST];
  int forward_family;
  int reverse_flags;
  guint frees;
} ns;

static int
fake_getnameinfo (const struct sockaddr *sa,
                  socklen_t              salen,
                  char                  *host,
                  socklen_t              hostlen,
                  char                  *serv,
                  socklen_t              servlen,
                  int                    flags)
{
  (void) salen;
  (void) serv;
  (void) servlen;
  ns.reverse_family = sa->sa_family;
  ns.reverse_flags = flags;
  if (ns.reverse_err != 0)
    return ns.reverse_err;
  g_strlcpy (host, ns.reverse_name, hostlen);
  return 0;
}

static int
fake_getaddrinfo (const char             *node,
                  const char             *service,
                  const struct addrinfo  *hints,
                  struct addrinfo       **res)
{
  struct addrinfo *head = NULL;
  struct addrinfo **tail = &head;

  (void) service;
  g_strlcpy (ns.forward_name, node, sizeof ns.forward_name);
  ns.forward_family = hints->ai_family;
  if (ns.forward_err != 0)
    return ns.forward_err;
  for (guint i = 0; i < G_N_ELEMENTS (ns.forward_addrs) && ns.forward_addrs[i]; i++)
    {
      struct addrinfo *ai = g_new0 (struct addrinfo, 1);
      struct sockaddr_storage *ss = g_new0 (struct sockaddr_storage, 1);

      if (strchr (ns.forward_addrs[i], ':') != NULL)
        {
          struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;

          in6->sin6_family = AF_INET6;
          g_assert_cmpint (inet_pton (AF_INET6, ns.forward_addrs[i], &in6->sin6_addr), ==, 1);
          ai->ai_addrlen = sizeof *in6;
        }
      else
        {
          struct sockaddr_in *in = (struct sockaddr_in *) ss;

          in->sin_family = AF_INET;
          g_assert_cmpint (inet_pton (AF_INET, ns.forward_addrs[i], &in->sin_addr), ==, 1);
          ai->ai_addrlen = sizeof *in;
        }
      ai->ai_family = ss->ss_family;
      ai->ai_addr = (struct sockaddr *) ss;
      *tail = ai;
      tail = &ai->ai_next;
    }
  *res = head;
  return 0;
}

static void
fake_freeaddrinfo (struct addrinfo *res)
{
  ns.frees++;
  while (res != NULL)
    {
      struct addrinfo *next = res->ai_next;

      g_free (res->ai_addr);
      g_free (res);
      res = next;
    }
}

static const PostfixFrontResolver fake = {
  fake_getnameinfo,
  fake_getaddrinfo,
  fake_freeaddrinfo,
};

static void
peer_from_text (PostfixFrontPeer *peer,
                const char       *addr,
                guint16           port)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;

  memset (peer, 0, sizeof *peer);
  if (strchr (addr, ':') != NULL)
    {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;

      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons (port);
      g_assert_cmpint (inet_pton (AF_INET6, addr, &in6->sin6_addr), ==, 1);
      len = sizeof *in6;
    }
  else
    {
      struct sockaddr_in *in = (struct sockaddr_in *) &ss;

      in->sin_family = AF_INET;
      in->sin_port = htons (port);
      g_assert_cmpint (inet_pton (AF_INET, addr, &in->sin_addr), ==, 1);
      len = sizeof *in;
    }
  g_assert_true (postfix_front_peer_set_address (peer, (struct sockaddr *) &ss, len));
}

static void
test_valid_hostname (void)
{
  g_autofree char *label63 = g_strnfill (POSTFIX_FRONT_PEER_LABEL_MAX, 'a');
  g_autofree char *label64 = g_strnfill (POSTFIX_FRONT_PEER_LABEL_MAX + 1, 'a');
  /* 63 + 1 + 63 + 1 + 63 + 1 + 63 = 255 */
  g_autofree char *name255 = g_strjoin (".", label63, label63, label63, label63, NULL);
  g_autofree char *name256 = g_strconcat (name255, "a", NULL);
  g_autofree char *name257 = g_strconcat ("a.", name255, NULL);
  const struct
  {
    const char *name;
    gboolean valid;
  } cases[] = {
    { "mail.example.com", TRUE },
    { "a", TRUE },
    { "a_b.example", TRUE },   /* "_": Postfix allows it ("grr..") */
    { "1a.example", TRUE },
    { "a-b.example", TRUE },
    { "a--b.example", TRUE },
    { "1-2", TRUE },           /* not all digits: "-" counts as non-numeric */
    { "", FALSE },
    { "1.2.3.4", FALSE },      /* numeric */
    { "123", FALSE },
    { "::1", FALSE },
    { ".a", FALSE },
    { "a.", FALSE },           /* a trailing dot */
    { "a..b", FALSE },
    { "-a", FALSE },
    { "a-", FALSE },
    { "a-.b", FALSE },
    { "a.-b", FALSE },
    { "a b", FALSE },
    { "a+b", FALSE },
    { "a=b", FALSE },
    { "a[b]", FALSE },
    { "caf\xc3\xa9.example", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s", cases[i].name);
      g_assert_cmpint (postfix_front_peer_valid_hostname (cases[i].name), ==, cases[i].valid);
    }
  g_assert_cmpuint (strlen (name255), ==, POSTFIX_FRONT_PEER_NAME_MAX);
  g_assert_true (postfix_front_peer_valid_hostname (label63));
  g_assert_false (postfix_front_peer_valid_hostname (label64));
  g_assert_true (postfix_front_peer_valid_hostname (name255));
  g_assert_false (postfix_front_peer_valid_hostname (name256));  /* a 64-octet label */
  g_assert_cmpuint (strlen (name257), ==, POSTFIX_FRONT_PEER_NAME_MAX + 2);
  name257[POSTFIX_FRONT_PEER_NAME_MAX + 1] = '\0';                /* 256 octets, labels fine */
  g_assert_false (postfix_front_peer_valid_hostname (name257));
}

static void
test_address (void)
{
  PostfixFrontPeer peer;
  struct sockaddr_in6 in6 = { 0 };
  struct sockaddr_storage other = { 0 };

  peer_from_text (&peer, "192.0.2.7", 51000);
  g_assert_cmpstr (peer.addr, ==, "192.0.2.7");
  g_assert_cmpuint (peer.port, ==, 51000);
  g_assert_cmpint (peer.sa.ss_family, ==, AF_INET);

  peer_from_text (&peer, "2001:db8::7", 587);
  g_assert_cmpstr (peer.addr, ==, "2001:db8::7");
  g_assert_cmpuint (peer.port, ==, 587);
  g_assert_cmpint (peer.sa.ss_family, ==, AF_INET6);

  /* A client of a listener on [::]: the IPv4 address, as smtpd converts it. */
  peer_from_text (&peer, "::ffff:127.0.0.2", 40000);
  g_assert_cmpstr (peer.addr, ==, "127.0.0.2");
  g_assert_cmpuint (peer.port, ==, 40000);
  g_assert_cmpint (peer.sa.ss_family, ==, AF_INET);
  g_assert_cmpuint (peer.sa_len, ==, sizeof (struct sockaddr_in));
  g_assert_true (postfix_front_peer_is_loopback (&peer));
  peer_from_text (&peer, "::1", 40000);
  g_assert_true (postfix_front_peer_is_loopback (&peer));
  peer_from_text (&peer, "128.0.0.1", 40000);
  g_assert_false (postfix_front_peer_is_loopback (&peer));
  peer_from_text (&peer, "::2", 40000);
  g_assert_false (postfix_front_peer_is_loopback (&peer));

  /* The front's address the client reached (a listener on [::]): IPv4 too. */
  {
    struct sockaddr_in6 local = { 0 };

    local.sin6_family = AF_INET6;
    local.sin6_port = htons (587);
    g_assert_cmpint (inet_pton (AF_INET6, "::ffff:192.0.2.1", &local.sin6_addr), ==, 1);
    g_assert_true (postfix_front_peer_set_server (&peer, (struct sockaddr *) &local,
                                                  sizeof local));
    g_assert_cmpstr (peer.server_addr, ==, "192.0.2.1");
    g_assert_cmpuint (peer.server_port, ==, 587);
    g_assert_false (peer.server_ipv6);
    g_assert_cmpint (inet_pton (AF_INET6, "2001:db8::1", &local.sin6_addr), ==, 1);
    g_assert_true (postfix_front_peer_set_server (&peer, (struct sockaddr *) &local,
                                                  sizeof local));
    g_assert_cmpstr (peer.server_addr, ==, "2001:db8::1");
    g_assert_true (peer.server_ipv6);
    g_assert_false (postfix_front_peer_set_server (&peer, (struct sockaddr *) &local,
                                                   sizeof (struct sockaddr_in)));
    g_assert_cmpstr (peer.server_addr, ==, "");
  }

  /* Too short for its family, or another family: unknown. */
  in6.sin6_family = AF_INET6;
  g_assert_false (postfix_front_peer_set_address (&peer, (struct sockaddr *) &in6,
                                                  sizeof (struct sockaddr_in)));
  g_assert_cmpstr (peer.addr, ==, "");
  g_assert_false (postfix_front_peer_is_loopback (&peer));
  other.ss_family = AF_UNIX;
  g_assert_false (postfix_front_peer_set_address (&peer, (struct sockaddr *) &other,
                                                  sizeof other));
  g_assert_cmpuint (peer.sa_len, ==, 0);
}

/* What a client is counted under (max_connections_per_client): its address's network of
 * the prefix lengths given, the address alone at full length, a scoped address whole. */
static void
test_key (void)
{
  static const struct
  {
    const char *addr;
    guint ipv4, ipv6;
    const char *key;
  } cases[] = {
    { "192.0.2.7", 32, 84, "192.0.2.7" },
    { "192.0.2.7", 31, 84, "192.0.2.6/31" },
    { "192.0.2.7", 24, 84, "192.0.2.0/24" },
    { "192.0.2.7", 1, 84, "128.0.0.0/1" },
    { "64.0.2.7", 1, 84, "0.0.0.0/1" },
    { "::ffff:192.0.2.7", 24, 1, "192.0.2.0/24" }, /* mapped: IPv4 */
    /* Out of range: the nearest length (the configuration allows 1 to 32 and 128). */
    { "192.0.2.7", 0, 84, "128.0.0.0/1" },
    { "192.0.2.7", 33, 84, "192.0.2.7" },
    { "2001:db8:1:2:3:4:5:6", 32, 128, "2001:db8:1:2:3:4:5:6" },
    { "2001:db8:1:2:3:4:5:6", 32, 84, "2001:db8:1:2:3::/84" },
    { "2001:db8:1:2:3:f123:5:6", 32, 84, "2001:db8:1:2:3:f000::/84" },
    { "2001:db8:1:2:3:f123:5:6", 32, 64, "2001:db8:1:2::/64" },
    { "2001:db8:1:2:3:f123:5:6", 32, 127, "2001:db8:1:2:3:f123:5:6/127" },
    { "2001:db8:1:2:3:f123:5:7", 32, 127, "2001:db8:1:2:3:f123:5:6/127" },
    { "ffff::1", 32, 1, "8000::/1" },
    { "2001:db8::1", 32, 0, "::/1" },
    { "2001:db8::1", 32, 129, "2001:db8::1" },
  };
  PostfixFrontPeer peer;
  char key[POSTFIX_FRONT_PEER_KEY_MAX];
  struct sockaddr_in6 in6 = { 0 };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      peer_from_text (&peer, cases[i].addr, 587);
      g_assert_true (postfix_front_peer_key (&peer, cases[i].ipv4, cases[i].ipv6, key));
      g_assert_cmpstr (key, ==, cases[i].key);
    }

  /* A link-local address: its network as any other's, with its scope (the same network
   * on two links is two clients). */
  in6.sin6_family = AF_INET6;
  in6.sin6_scope_id = 4294967295u;
  g_assert_cmpint (inet_pton (AF_INET6, "fe80::1:2:3:4", &in6.sin6_addr), ==, 1);
  g_assert_true (postfix_front_peer_set_address (&peer, (struct sockaddr *) &in6, sizeof in6));
  g_assert_true (postfix_front_peer_key (&peer, 32, 84, key));
  g_assert_cmpstr (key, ==, "fe80::1:0:0:0/84%4294967295");
  g_assert_true (postfix_front_peer_key (&peer, 32, 128, key));
  g_assert_cmpstr (key, ==, "fe80::1:2:3:4%4294967295");
  /* The longest key there can be fits. */
  g_assert_cmpuint (strlen ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/127%4294967295"), <,
                    POSTFIX_FRONT_PEER_KEY_MAX);
  in6.sin6_scope_id = 2;
  g_assert_true (postfix_front_peer_set_address (&peer, (struct sockaddr *) &in6, sizeof in6));
  g_assert_true (postfix_front_peer_key (&peer, 32, 1, key));
  g_assert_cmpstr (key, ==, "8000::/1%2");

  /* Unknown: no key. */
  memset (&peer, 0, sizeof peer);
  g_assert_false (postfix_front_peer_key (&peer, 32, 84, key));
  g_assert_cmpstr (key, ==, "");
}

static void
test_lookup (void)
{
  const struct
  {
    const char *what;
    const char *addr;
    int reverse_err;
    const char *reverse_name;
    int forward_err;
    const char *forward_addrs[3];
    const char *name;
    PostfixFrontPeerStatus name_status;
    const char *reverse;
    PostfixFrontPeerStatus reverse_status;
    const char *xclient;
  } cases[] = {
    { "confirmed", "192.0.2.7", 0, "mx.example", 0, { "192.0.2.9", "192.0.2.7" },
      "mx.example", POSTFIX_FRONT_PEER_OK, "mx.example", POSTFIX_FRONT_PEER_OK,
      "XCLIENT NAME=mx.example ADDR=192.0.2.7 PORT=4000" },
    { "confirmed IPv6", "2001:db8::7", 0, "mx6.example", 0, { "2001:db8::7" },
      "mx6.example", POSTFIX_FRONT_PEER_OK, "mx6.example", POSTFIX_FRONT_PEER_OK,
      "XCLIENT NAME=mx6.example ADDR=IPV6:2001:db8::7 PORT=4000" },
    { "IPv4-mapped: looked up and sent as IPv4", "::ffff:192.0.2.7", 0, "mx.example", 0,
      { "192.0.2.7" }, "mx.example", POSTFIX_FRONT_PEER_OK, "mx.example",
      POSTFIX_FRONT_PEER_OK, "XCLIENT NAME=mx.example ADDR=192.0.2.7 PORT=4000" },
    { "forward lookup without the address", "192.0.2.7", 0, "liar.example", 0,
      { "192.0.2.8", "2001:db8::7" }, "unknown", POSTFIX_FRONT_PEER_FORGED, "liar.example",
      POSTFIX_FRONT_PEER_OK,
      "XCLIENT NAME=[UNAVAILABLE] REVERSE_NAME=liar.example ADDR=192.0.2.7 PORT=4000" },
    { "forward lookup NXDOMAIN", "192.0.2.7", 0, "gone.example", EAI_NONAME, { NULL },
      "unknown", POSTFIX_FRONT_PEER_FORGED, "gone.example", POSTFIX_FRONT_PEER_OK,
      "XCLIENT NAME=[UNAVAILABLE] REVERSE_NAME=gone.example ADDR=192.0.2.7 PORT=4000" },
    { "forward lookup SERVFAIL", "192.0.2.7", 0, "slow.example", EAI_AGAIN, { NULL },
      "unknown", POSTFIX_FRONT_PEER_TEMP, "slow.example", POSTFIX_FRONT_PEER_OK,
      "XCLIENT NAME=[TEMPUNAVAIL] REVERSE_NAME=slow.example ADDR=192.0.2.7 PORT=4000" },
    { "reverse lookup NXDOMAIN", "192.0.2.7", EAI_NONAME, NULL, 0, { NULL },
      "unknown", POSTFIX_FRONT_PEER_PERM, "unknown", POSTFIX_FRONT_PEER_PERM,
      "XCLIENT NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE] ADDR=192.0.2.7 PORT=4000" },
    { "reverse lookup SERVFAIL", "192.0.2.7", EAI_AGAIN, NULL, 0, { NULL },
      "unknown", POSTFIX_FRONT_PEER_TEMP, "unknown", POSTFIX_FRONT_PEER_TEMP,
      "XCLIENT NAME=[TEMPUNAVAIL] REVERSE_NAME=[TEMPUNAVAIL] ADDR=192.0.2.7 PORT=4000" },
    { "reverse lookup EAI_SYSTEM", "192.0.2.7", EAI_SYSTEM, NULL, 0, { NULL },
      "unknown", POSTFIX_FRONT_PEER_TEMP, "unknown", POSTFIX_FRONT_PEER_TEMP, NULL },
    { "reverse lookup EAI_MEMORY", "192.0.2.7", EAI_MEMORY, NULL, 0, { NULL },
      "unknown", POSTFIX_FRONT_PEER_TEMP, "unknown", POSTFIX_FRONT_PEER_TEMP, NULL },
    { "reverse lookup EAI_FAIL", "192.0.2.7", EAI_FAIL, NULL, 0, { NULL },
      "unknown", POSTFIX_FRONT_PEER_PERM, "unknown", POSTFIX_FRONT_PEER_PERM, NULL },
    { "a numeric reverse name", "192.0.2.7", 0, "192.0.2.7", 0, { "192.0.2.7" },
      "unknown", POSTFIX_FRONT_PEER_PERM, "unknown", POSTFIX_FRONT_PEER_PERM, NULL },
    { "a malformed reverse name (XCLIENT would get 501)", "192.0.2.7", 0, "bad name+x=y",
      0, { "192.0.2.7" }, "unknown", POSTFIX_FRONT_PEER_PERM, "unknown",
      POSTFIX_FRONT_PEER_PERM,
      "XCLIENT NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE] ADDR=192.0.2.7 PORT=4000" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      PostfixFrontPeer peer;
      g_autofree char *xclient = NULL;

      g_test_message ("%s", cases[i].what);
      memset (&ns, 0, sizeof ns);
      ns.reverse_err = cases[i].reverse_err;
      ns.reverse_name = cases[i].reverse_name;
      ns.forward_err = cases[i].forward_err;
      memcpy (ns.forward_addrs, cases[i].forward_addrs, sizeof ns.forward_addrs);
      peer_from_text (&peer, cases[i].addr, 4000);
      postfix_front_peer_lookup (&peer, &fake);
      g_assert_cmpstr (peer.name, ==, cases[i].name);
      g_assert_cmpint (peer.name_status, ==, cases[i].name_status);
      g_assert_cmpstr (peer.reverse_name, ==, cases[i].reverse);
      g_assert_cmpint (peer.reverse_name_status, ==, cases[i].reverse_status);
      /* What was asked: a name required, in the (converted) address's family. */
      g_assert_cmpint (ns.reverse_flags & NI_NAMEREQD, ==, NI_NAMEREQD);
      g_assert_cmpint (ns.reverse_family, ==, peer.sa.ss_family);
      if (cases[i].reverse_err == 0 && postfix_front_peer_valid_hostname (cases[i].reverse_name))
        {
          g_assert_cmpstr (ns.forward_name, ==, cases[i].reverse_name);
          g_assert_cmpint (ns.forward_family, ==, peer.sa.ss_family);
          g_assert_cmpuint (ns.frees, ==, cases[i].forward_err == 0 ? 1 : 0);
        }
      else
        g_assert_cmpstr (ns.forward_name, ==, "");
      xclient = postfix_front_peer_xclient (&peer);
      if (cases[i].xclient != NULL)
        g_assert_cmpstr (xclient, ==, cases[i].xclient);
      postfix_front_peer_clear (&peer);
    }
}

static void
test_xclient (void)
{
  g_autofree char *label63 = g_strnfill (POSTFIX_FRONT_PEER_LABEL_MAX, 'a');
  g_autofree char *name255 = g_strjoin (".", label63, label63, label63, label63, NULL);
  PostfixFrontPeer peer;
  char *cmd;

  /* No lookup (peername_lookup=false, Postfix's smtpd_peername_lookup=no). */
  peer_from_text (&peer, "192.0.2.7", 65535);
  postfix_front_peer_no_lookup (&peer);
  cmd = postfix_front_peer_xclient (&peer);
  g_assert_cmpstr (cmd, ==,
                   "XCLIENT NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE] ADDR=192.0.2.7 "
                   "PORT=65535");
  g_free (cmd);
  postfix_front_peer_clear (&peer);

  /* The address unknown too. */
  memset (&peer, 0, sizeof peer);
  postfix_front_peer_lookup (&peer, &fake);
  cmd = postfix_front_peer_xclient (&peer);
  g_assert_cmpstr (cmd, ==,
                   "XCLIENT NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE] "
                   "ADDR=[UNAVAILABLE] PORT=[UNAVAILABLE]");
  g_free (cmd);
  postfix_front_peer_clear (&peer);

  /* With the server address: DESTADDR, DESTPORT (IPv6 prefixed as ADDR). */
  {
    struct sockaddr_in local = { 0 };
    struct sockaddr_in6 local6 = { 0 };

    peer_from_text (&peer, "192.0.2.7", 40000);
    postfix_front_peer_no_lookup (&peer);
    local.sin_family = AF_INET;
    local.sin_port = htons (587);
    g_assert_cmpint (inet_pton (AF_INET, "192.0.2.1", &local.sin_addr), ==, 1);
    g_assert_true (postfix_front_peer_set_server (&peer, (struct sockaddr *) &local,
                                                  sizeof local));
    cmd = postfix_front_peer_xclient (&peer);
    g_assert_cmpstr (cmd, ==,
                     "XCLIENT NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE] ADDR=192.0.2.7 "
                     "PORT=40000 DESTADDR=192.0.2.1 DESTPORT=587");
    g_free (cmd);
    local6.sin6_family = AF_INET6;
    local6.sin6_port = htons (465);
    g_assert_cmpint (inet_pton (AF_INET6, "2001:db8::1", &local6.sin6_addr), ==, 1);
    g_assert_true (postfix_front_peer_set_server (&peer, (struct sockaddr *) &local6,
                                                  sizeof local6));
    cmd = postfix_front_peer_xclient (&peer);
    g_assert_nonnull (g_strrstr (cmd, " DESTADDR=IPV6:2001:db8::1 DESTPORT=465"));
    g_free (cmd);
    postfix_front_peer_clear (&peer);
  }

  /* The longest commands: a name of POSTFIX_FRONT_PEER_NAME_MAX octets, the longest
   * IPv6 texts, the longest ports, verified (NAME only) and not (NAME and REVERSE_NAME):
   * within POSTFIX_FRONT_PEER_XCLIENT_LINE_MAX with the CRLF. */
  for (guint forged = 0; forged < 2; forged++)
    {
      memset (&ns, 0, sizeof ns);
      ns.reverse_name = name255;
      ns.forward_addrs[0] = forged ? "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"
                                   : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
      peer_from_text (&peer, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
      {
        struct sockaddr_in6 local = { 0 };

        local.sin6_family = AF_INET6;
        local.sin6_port = htons (65535);
        memset (&local.sin6_addr, 0xff, sizeof local.sin6_addr);
        g_assert_true (postfix_front_peer_set_server (&peer, (struct sockaddr *) &local,
                                                      sizeof local));
      }
      postfix_front_peer_lookup (&peer, &fake);
      g_assert_cmpint (peer.name_status, ==,
                       forged ? POSTFIX_FRONT_PEER_FORGED : POSTFIX_FRONT_PEER_OK);
      cmd = postfix_front_peer_xclient (&peer);
      g_test_message ("%zu octets: %s", strlen (cmd), cmd);
      g_assert_cmpuint (strlen (cmd) + 2, <=, POSTFIX_FRONT_PEER_XCLIENT_LINE_MAX);
      g_assert_nonnull (strstr (cmd, name255));
      g_free (cmd);
      postfix_front_peer_clear (&peer);
    }
}

/* A lookup through the fake name service, counted. */
static guint lookups;

static void
cached_lookup (PostfixFrontPeerCache *cache,
               PostfixFrontPeer      *peer,
               const char            *addr,
               gint64                 now)
{
  peer_from_text (peer, addr, 4000);
  if (postfix_front_peer_cache_get (cache, peer, now))
    return;
  lookups++;
  postfix_front_peer_lookup (peer, &fake);
  postfix_front_peer_cache_put (cache, peer, now);
}

/* The names of an address kept peername_cache_ttl seconds: a second session from it costs
 * no lookup; IPv4-mapped and plain IPv4 are one address; TEMP results are not kept; past
 * the ttl, or past POSTFIX_FRONT_PEER_CACHE_MAX addresses (the oldest first), looked up
 * again; ttl 0 keeps nothing. */
static void
test_cache (void)
{
  const gint64 ttl_us = (gint64) POSTFIX_FRONT_PEER_CACHE_DEFAULT_TTL * G_USEC_PER_SEC;
  g_autoptr (PostfixFrontPeerCache) cache
      = postfix_front_peer_cache_new (POSTFIX_FRONT_PEER_CACHE_DEFAULT_TTL, 3);
  g_autoptr (PostfixFrontPeerCache) off = postfix_front_peer_cache_new (0, 3);
  PostfixFrontPeer peer;
  gint64 now = 1000 * G_USEC_PER_SEC;

  g_test_summary ("The client's names are kept peername_cache_ttl seconds, never a TEMP result");
  memset (&ns, 0, sizeof ns);
  ns.reverse_name = "mx.example";
  ns.forward_addrs[0] = "192.0.2.7";
  lookups = 0;
  cached_lookup (cache, &peer, "192.0.2.7", now);
  g_assert_cmpstr (peer.name, ==, "mx.example");
  postfix_front_peer_clear (&peer);
  /* The same address (also IPv4-mapped), another port: kept; what the fake would say now
   * does not matter. */
  ns.reverse_name = "other.example";
  cached_lookup (cache, &peer, "::ffff:192.0.2.7", now + ttl_us - 1);
  g_assert_cmpuint (lookups, ==, 1);
  g_assert_cmpstr (peer.name, ==, "mx.example");
  g_assert_cmpint (peer.name_status, ==, POSTFIX_FRONT_PEER_OK);
  g_assert_cmpstr (peer.reverse_name, ==, "mx.example");
  postfix_front_peer_clear (&peer);
  /* At its ttl: looked up again. */
  ns.forward_addrs[0] = "192.0.2.7";
  cached_lookup (cache, &peer, "192.0.2.7", now + ttl_us);
  g_assert_cmpuint (lookups, ==, 2);
  g_assert_cmpstr (peer.name, ==, "other.example");
  postfix_front_peer_clear (&peer);
  now += ttl_us;
  /* A forged name is kept (PERM and FORGED act alike in Postfix's restrictions). */
  ns.reverse_name = "liar.example";
  ns.forward_addrs[0] = "192.0.2.99";
  cached_lookup (cache, &peer, "192.0.2.8", now);
  postfix_front_peer_clear (&peer);
  cached_lookup (cache, &peer, "192.0.2.8", now + 1);
  g_assert_cmpuint (lookups, ==, 3);
  g_assert_cmpint (peer.name_status, ==, POSTFIX_FRONT_PEER_FORGED);
  g_assert_cmpstr (peer.reverse_name, ==, "liar.example");
  postfix_front_peer_clear (&peer);
  /* A temporary failure is not kept: the next session tries again. */
  ns.reverse_err = EAI_AGAIN;
  cached_lookup (cache, &peer, "192.0.2.9", now);
  g_assert_cmpint (peer.name_status, ==, POSTFIX_FRONT_PEER_TEMP);
  postfix_front_peer_clear (&peer);
  cached_lookup (cache, &peer, "192.0.2.9", now + 1);
  g_assert_cmpuint (lookups, ==, 5);
  postfix_front_peer_clear (&peer);
  g_assert_cmpuint (postfix_front_peer_cache_size (cache), ==, 2);
  /* Full (3): the oldest address goes first. */
  ns.reverse_err = EAI_NONAME;
  cached_lookup (cache, &peer, "192.0.2.10", now + 2);
  postfix_front_peer_clear (&peer);
  g_assert_cmpuint (postfix_front_peer_cache_size (cache), ==, 3);
  cached_lookup (cache, &peer, "2001:db8::1", now + 3);
  postfix_front_peer_clear (&peer);
  g_assert_cmpuint (postfix_front_peer_cache_size (cache), ==, 3);
  g_assert_cmpuint (lookups, ==, 7);
  cached_lookup (cache, &peer, "192.0.2.7", now + 4); /* was the oldest: dropped */
  g_assert_cmpint (peer.name_status, ==, POSTFIX_FRONT_PEER_PERM);
  postfix_front_peer_clear (&peer);
  g_assert_cmpuint (lookups, ==, 8);
  cached_lookup (cache, &peer, "2001:db8::1", now + 5);
  postfix_front_peer_clear (&peer);
  cached_lookup (cache, &peer, "192.0.2.10", now + 5);
  postfix_front_peer_clear (&peer);
  g_assert_cmpuint (lookups, ==, 8);
  cached_lookup (cache, &peer, "192.0.2.8", now + 6); /* the oldest when .7 came back */
  g_assert_cmpint (peer.name_status, ==, POSTFIX_FRONT_PEER_PERM);
  postfix_front_peer_clear (&peer);
  g_assert_cmpuint (lookups, ==, 9);
  /* ttl 0: nothing kept. */
  cached_lookup (off, &peer, "192.0.2.7", now);
  postfix_front_peer_clear (&peer);
  cached_lookup (off, &peer, "192.0.2.7", now);
  postfix_front_peer_clear (&peer);
  g_assert_cmpuint (lookups, ==, 11);
  g_assert_cmpuint (postfix_front_peer_cache_size (off), ==, 0);
}

/* A waiter in a thread of test_cache_one_lookup. */
typedef struct
{
  PostfixFrontPeerCache *cache;
  PostfixFrontPeer peer;
  PostfixFrontPeerWaiter waiter;
} CacheWaiter;

static gpointer
cache_waiter_thread (gpointer data)
{
  CacheWaiter *w = data;

  postfix_front_peer_cache_wait (w->cache, &w->waiter);
  return NULL;
}

static guint wakes;

static void
count_wake (gpointer data)
{
  g_assert_cmpuint (GPOINTER_TO_UINT (data), ==, 7);
  wakes++;
}

/* One lookup per address at a time: sessions from an address whose lookup is under way
 * wait for it (blocked in a thread, or woken through their wake callback, as a coroutine
 * is) and take its names, a TEMP result too (not kept: the next session looks up). */
static void
test_cache_one_lookup (void)
{
  enum { WAITERS = 4 };
  g_autoptr (PostfixFrontPeerCache) cache
      = postfix_front_peer_cache_new (POSTFIX_FRONT_PEER_CACHE_DEFAULT_TTL, 16);
  CacheWaiter waiters[WAITERS];
  GThread *threads[WAITERS];
  PostfixFrontPeer lead, parked, later;
  PostfixFrontPeerWaiter lead_w = { &lead, NULL, NULL, FALSE };
  PostfixFrontPeerWaiter parked_w = { &parked, count_wake, GUINT_TO_POINTER (7), FALSE };
  PostfixFrontPeerWaiter later_w = { &later, NULL, NULL, FALSE };
  gint64 now = 1000 * G_USEC_PER_SEC;

  g_test_summary ("N sessions from one uncached address cost one lookup; the others wait "
                  "for it and take its names");
  memset (&ns, 0, sizeof ns);
  ns.reverse_name = "mx.example";
  ns.forward_addrs[0] = "192.0.2.7";
  peer_from_text (&lead, "192.0.2.7", 4000);
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &lead, now, &lead_w), ==,
                   POSTFIX_FRONT_PEER_CACHE_LEAD);
  for (guint i = 0; i < WAITERS; i++)
    {
      waiters[i].cache = cache;
      peer_from_text (&waiters[i].peer, "::ffff:192.0.2.7", 4001 + i);
      waiters[i].waiter = (PostfixFrontPeerWaiter) { &waiters[i].peer, NULL, NULL, FALSE };
      g_assert_cmpint (postfix_front_peer_cache_claim (cache, &waiters[i].peer, now,
                                                       &waiters[i].waiter),
                       ==, POSTFIX_FRONT_PEER_CACHE_WAIT);
      threads[i] = g_thread_new ("waiter", cache_waiter_thread, &waiters[i]);
    }
  peer_from_text (&parked, "192.0.2.7", 4100);
  wakes = 0;
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &parked, now, &parked_w), ==,
                   POSTFIX_FRONT_PEER_CACHE_WAIT);
  g_assert_false (postfix_front_peer_cache_waited (cache, &parked_w));
  /* Another address is not held up by it. */
  peer_from_text (&later, "192.0.2.8", 4000);
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &later, now, &later_w), ==,
                   POSTFIX_FRONT_PEER_CACHE_LEAD);
  postfix_front_peer_lookup (&later, &fake);
  postfix_front_peer_cache_put (cache, &later, now);
  postfix_front_peer_clear (&later);
  g_assert_cmpuint (wakes, ==, 0);
  g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  for (guint i = 0; i < WAITERS; i++)
    g_assert_false (postfix_front_peer_cache_waited (cache, &waiters[i].waiter));
  /* The lead's lookup ends: every waiter has its names, the parked one was woken once. */
  postfix_front_peer_lookup (&lead, &fake);
  postfix_front_peer_cache_put (cache, &lead, now);
  for (guint i = 0; i < WAITERS; i++)
    {
      g_thread_join (threads[i]);
      g_assert_true (postfix_front_peer_cache_waited (cache, &waiters[i].waiter));
      g_assert_cmpstr (waiters[i].peer.name, ==, "mx.example");
      g_assert_cmpint (waiters[i].peer.name_status, ==, POSTFIX_FRONT_PEER_OK);
      postfix_front_peer_clear (&waiters[i].peer);
    }
  g_assert_cmpuint (wakes, ==, 1);
  g_assert_true (postfix_front_peer_cache_waited (cache, &parked_w));
  g_assert_cmpstr (parked.reverse_name, ==, "mx.example");
  postfix_front_peer_clear (&parked);
  postfix_front_peer_clear (&lead);
  /* Kept: the next is a hit. */
  peer_from_text (&later, "192.0.2.7", 4200);
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &later, now + 1, &later_w), ==,
                   POSTFIX_FRONT_PEER_CACHE_HIT);
  g_assert_cmpstr (later.name, ==, "mx.example");
  postfix_front_peer_clear (&later);

  /* A TEMP result: given to the waiter, not kept. */
  ns.reverse_err = EAI_AGAIN;
  peer_from_text (&lead, "192.0.2.9", 4000);
  peer_from_text (&parked, "192.0.2.9", 4001);
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &lead, now, &lead_w), ==,
                   POSTFIX_FRONT_PEER_CACHE_LEAD);
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &parked, now, &parked_w), ==,
                   POSTFIX_FRONT_PEER_CACHE_WAIT);
  postfix_front_peer_lookup (&lead, &fake);
  postfix_front_peer_cache_put (cache, &lead, now);
  g_assert_true (postfix_front_peer_cache_waited (cache, &parked_w));
  g_assert_cmpint (parked.name_status, ==, POSTFIX_FRONT_PEER_TEMP);
  g_assert_cmpuint (wakes, ==, 2);
  postfix_front_peer_clear (&parked);
  postfix_front_peer_clear (&lead);
  peer_from_text (&later, "192.0.2.9", 4002);
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &later, now + 1, &later_w), ==,
                   POSTFIX_FRONT_PEER_CACHE_LEAD);
  postfix_front_peer_cache_put (cache, &later, now + 1); /* ends it, nothing looked up */
  postfix_front_peer_clear (&later);
  /* No cache: always LEAD, nothing queued. */
  g_assert_cmpint (postfix_front_peer_cache_claim (NULL, &later, now, &later_w), ==,
                   POSTFIX_FRONT_PEER_CACHE_LEAD);
}

/* An IPv6 address with its scope: the same link-local address on two interfaces is two
 * clients (two entries, two lookups at once), the same on one interface one. */
static void
test_cache_scope (void)
{
  g_autoptr (PostfixFrontPeerCache) cache
      = postfix_front_peer_cache_new (POSTFIX_FRONT_PEER_CACHE_DEFAULT_TTL, 16);
  PostfixFrontPeer a, b, c;
  PostfixFrontPeerWaiter wa = { &a, NULL, NULL, FALSE };
  PostfixFrontPeerWaiter wb = { &b, NULL, NULL, FALSE };
  PostfixFrontPeerWaiter wc = { &c, NULL, NULL, FALSE };
  gint64 now = 1000 * G_USEC_PER_SEC;

  g_test_summary ("The peer cache's key has the IPv6 scope");
  memset (&ns, 0, sizeof ns);
  ns.reverse_name = "link1.example";
  ns.forward_addrs[0] = "fe80::1";
  peer_from_text (&a, "fe80::1", 4000);
  ((struct sockaddr_in6 *) &a.sa)->sin6_scope_id = 1;
  peer_from_text (&b, "fe80::1", 4001);
  ((struct sockaddr_in6 *) &b.sa)->sin6_scope_id = 2;
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &a, now, &wa), ==,
                   POSTFIX_FRONT_PEER_CACHE_LEAD);
  /* Its own lookup, not a wait for the other interface's. */
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &b, now, &wb), ==,
                   POSTFIX_FRONT_PEER_CACHE_LEAD);
  postfix_front_peer_lookup (&a, &fake);
  postfix_front_peer_cache_put (cache, &a, now);
  ns.reverse_name = "link2.example";
  postfix_front_peer_lookup (&b, &fake);
  postfix_front_peer_cache_put (cache, &b, now);
  g_assert_cmpuint (postfix_front_peer_cache_size (cache), ==, 2);
  peer_from_text (&c, "fe80::1", 4002);
  ((struct sockaddr_in6 *) &c.sa)->sin6_scope_id = 1;
  g_assert_cmpint (postfix_front_peer_cache_claim (cache, &c, now + 1, &wc), ==,
                   POSTFIX_FRONT_PEER_CACHE_HIT);
  g_assert_cmpstr (c.reverse_name, ==, "link1.example");
  postfix_front_peer_clear (&c);
  peer_from_text (&c, "fe80::1", 4003);
  ((struct sockaddr_in6 *) &c.sa)->sin6_scope_id = 2;
  g_assert_true (postfix_front_peer_cache_get (cache, &c, now + 1));
  g_assert_cmpstr (c.reverse_name, ==, "link2.example");
  postfix_front_peer_clear (&c);
  /* No scope: a third entry (a global address has none). */
  peer_from_text (&c, "fe80::1", 4004);
  g_assert_false (postfix_front_peer_cache_get (cache, &c, now + 1));
  postfix_front_peer_clear (&a);
  postfix_front_peer_clear (&b);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/postfix-front-peer/valid-hostname", test_valid_hostname);
  g_test_add_func ("/postfix-front-peer/address", test_address);
  g_test_add_func ("/postfix-front-peer/key", test_key);
  g_test_add_func ("/postfix-front-peer/lookup", test_lookup);
  g_test_add_func ("/postfix-front-peer/xclient", test_xclient);
  g_test_add_func ("/postfix-front-peer/cache", test_cache);
  g_test_add_func ("/postfix-front-peer/cache-one-lookup", test_cache_one_lookup);
  g_test_add_func ("/postfix-front-peer/cache-scope", test_cache_scope);
  return g_test_run ();
}
