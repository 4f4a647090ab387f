/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-url.c: mtqp:// URLs (RFC 3887 section 8): how an originator delegates tracking of
 * one message to someone else.
 *
 * Syntax accepted (RFC 3887 section 8 on top of RFC 3986):
 *
 *   mtqp-url    = scheme "://" authority "/track/" envid-seg "/" secret-seg
 *   scheme      = "mtqp"                                  ; case-insensitive
 *   authority   = host [ ":" port ]                       ; no userinfo
 *   host        = IP-literal / IPv4address / reg-name     ; IPv6 in "[...]", no zone id
 *   port        = *DIGIT                                  ; empty: MSGTRK_MTQP_PORT; 1-65535
 *   envid-seg   = 1*pchar                                 ; percent-decoded: the ENVID
 *                                                         ; in its xtext form (RFC 3461)
 *   secret-seg  = 1*pchar                                 ; percent-decoded: the mtrk-secret
 *   pchar       = unreserved / pct-encoded / sub-delims / ":" / "@"
 *   pct-encoded = "%" HEXDIG HEXDIG
 *
 * No query, no fragment, no dot segments, no further path segments; "track" is matched
 * exactly. The path is split on "/" in its ENCODED form and each segment is decoded after,
 * so "%2F" (a "/" inside base64) never splits a segment.
 *
 * The ENVID segment carries the ENVID as it travelled in MAIL FROM … ENVID=, i.e. its xtext
 * form (RFC 3461 section 4; PROTOCOL-NOTES, "RFC 3887"), percent-encoded on top: an ENVID
 * "exim+id=@x" is written "exim%2B2Bid%2B3D%40x" (xtext "exim+2Bid+3D@x"). Parsing undoes
 * both. Being liberal with links made elsewhere (or by msgtrk before 2026-12), a segment
 * that is not valid xtext ("+" not followed by two upper-case hex digits, or a raw "=") is
 * taken as the ENVID itself. MsgtrkUrl keeps the decoded ENVID (what servers key records by,
 * what DSNs from Postfix show); msgtrk_url_get_envid_xtext() gives the wire form. The
 * decoded ENVID must be 1 to
 * MSGTRK_ENVID_MAX_LENGTH printable ASCII characters (0x21-0x7E), not "." or "..". The
 * decoded secret must pass msgtrk_secret_new_from_base64(), so a MsgtrkUrl never holds a
 * malformed secret. The host's syntax is checked here (letters, digits, "-", ".", "_", or
 * an IP literal); whether it resolves is the resolver's business.
 *
 * Writing: "mtqp://host[:port]/track/<envid>/<secret>" with the port left out when it is
 * MSGTRK_MTQP_PORT, IPv6 hosts in brackets, and every octet of both segments that is not
 * an RFC 3986 unreserved character (ALPHA DIGIT "-" "." "_" "~") percent-encoded with
 * upper-case hex: "/", "+", "=" and "@" are all written as %2F, %2B, %3D, %40.
 *
 * GUri (g_uri_split) parses the scheme and authority only: the path, which holds the
 * secret, is split and decoded here into buffers this file wipes, so no copy of the
 * secret is left in memory GLib allocated and freed.
 *
 * Limits: MSGTRK_URL_MAX_LENGTH characters, on parse and for what new/to_string would
 * write (MSGTRK_ERROR_LIMIT). The host has no separate limit.
 *
 * Must never: put the secret, or the whole URL, in an error message or a log. Errors
 * quote at most the scheme, the host and port, or the ENVID.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"

/* How much of hostile text an error message quotes. */
#define URL_ERROR_QUOTE_MAX 64

/* The first path segment of an mtqp URL. */
#define URL_TRACK_SEGMENT "track"

/**
 * MsgtrkUrl:
 *
 * An `mtqp://host[:port]/track/<envid>/<mtrk-secret>` URL (RFC 3887 section 8).
 *
 * Whoever holds the URL can track that one message. The object keeps the secret as
 * base64 text and wipes it when finalized. It is immutable once made.
 *
 * Since: 1.0
 */
struct _MsgtrkUrl
{
  GObject parent_instance;

  char *host;   /* (owned) without brackets, never NULL once constructed */
  guint16 port; /* 1..65535 */
  char *envid;  /* (owned) decoded */
  char *envid_xtext; /* (owned) its xtext form: what the URL and TRACK carry */
  char *secret; /* (owned) base64 mtrk-secret, wiped on finalize */
};

G_DEFINE_FINAL_TYPE (MsgtrkUrl, msgtrk_url, G_TYPE_OBJECT)

static void
msgtrk_url_finalize (GObject *object)
{
  MsgtrkUrl *self = MSGTRK_URL (object);

  g_free (self->host);
  g_free (self->envid);
  g_free (self->envid_xtext);
  msgtrk_secure_free_string (self->secret);

  G_OBJECT_CLASS (msgtrk_url_parent_class)->finalize (object);
}

static void
msgtrk_url_class_init (MsgtrkUrlClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = msgtrk_url_finalize;
}

static void
msgtrk_url_init (MsgtrkUrl *self)
{
}

/* ---- character classes (RFC 3986 section 2) ----------------------------------------------- */

/* unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" */
static gboolean
is_unreserved (guchar c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* pchar minus pct-encoded: unreserved / sub-delims / ":" / "@" */
static gboolean
is_pchar_literal (guchar c)
{
  return is_unreserved (c) || (c != '\0' && strchr ("!$&'()*+,;=:@", c) != NULL);
}

/* Characters that may appear anywhere in a URI (RFC 3986 reserved, unreserved, "%"). */
static gboolean
is_uri_char (guchar c)
{
  return is_unreserved (c) || (c != '\0' && strchr (":/?#[]@!$&'()*+,;=%", c) != NULL);
}

/* ---- validation shared by parse and new --------------------------------------------------- */

/*
 * The host as GUri decoded it (or as a caller gave it): a reg-name of letters, digits,
 * "-", "." and "_", or an IPv4/IPv6 address. IPv6 zone identifiers are refused: they mean
 * nothing on another machine (and RFC 6874 form is rarely understood).
 */
static gboolean
host_is_valid (const char *host,
               GError    **error)
{
  g_autofree char *quoted = NULL;
  const char *p;

  if (host == NULL || *host == '\0')
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The mtqp URL has no host (expected mtqp://host/track/<envid>/<secret>)");
      return FALSE;
    }

  if (strchr (host, ':') != NULL)
    {
      if (strchr (host, '%') == NULL && g_hostname_is_ip_address (host))
        return TRUE;
      quoted = msgtrk_str_escape_for_error (host, URL_ERROR_QUOTE_MAX);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The host “%s” of the mtqp URL is not a valid IPv6 address "
                   "(zone identifiers such as %%eth0 are not supported)",
                   quoted);
      return FALSE;
    }

  for (p = host; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.' && *p != '_')
      {
        quoted = msgtrk_str_escape_for_error (host, URL_ERROR_QUOTE_MAX);
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                     "The host “%s” of the mtqp URL is not a valid host name (only letters, "
                     "digits, “-”, “.” and “_”, or an IP address, are allowed)",
                     quoted);
        return FALSE;
      }
  return TRUE;
}

/* The decoded ENVID: 1..MSGTRK_ENVID_MAX_LENGTH characters 0x21-0x7E, not a dot segment. */
static gboolean
envid_is_valid (const char *envid,
                gsize       len,
                GError    **error)
{
  g_autofree char *quoted = NULL;
  gsize i;

  if (len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The envelope id (ENVID) of the mtqp URL is empty");
      return FALSE;
    }
  if (len > MSGTRK_ENVID_MAX_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The envelope id (ENVID) of the mtqp URL has %" G_GSIZE_FORMAT
                   " characters; at most %d are allowed",
                   len, MSGTRK_ENVID_MAX_LENGTH);
      return FALSE;
    }
  for (i = 0; i < len; i++)
    {
      guchar c = (guchar) envid[i];

      if (!msgtrk_is_vchar (c))
        {
          quoted = msgtrk_str_escape_for_error (envid, URL_ERROR_QUOTE_MAX);
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "The envelope id (ENVID) “%s” of the mtqp URL contains %s at "
                       "position %" G_GSIZE_FORMAT "; only printable ASCII without spaces is "
                       "allowed",
                       quoted,
                       c == 0      ? "a NUL (%00)"
                       : c == ' '  ? "a space"
                       : c >= 0x80 ? "a non-ASCII byte"
                                   : "a control character",
                       i + 1);
          return FALSE;
        }
    }
  if (strcmp (envid, ".") == 0 || strcmp (envid, "..") == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The envelope id (ENVID) of the mtqp URL may not be “.” or “..”");
      return FALSE;
    }
  return TRUE;
}

/* The percent-decoded ENVID segment is in envid_xtext: xtext-decode it into envid (or, if
 * it is no valid xtext, take it as the ENVID itself and write it again as xtext). */
static gboolean
envid_take_segment (MsgtrkUrl *self,
                    GError   **error)
{
  gsize len = strlen (self->envid_xtext);

  if (len > MSGTRK_XTEXT_MAX_LENGTH)
    return envid_is_valid (self->envid_xtext, len, error); /* the length error */
  self->envid = msgtrk_xtext_decode (self->envid_xtext, NULL);
  if (self->envid == NULL)
    {
      self->envid = g_steal_pointer (&self->envid_xtext);
      if (!envid_is_valid (self->envid, strlen (self->envid), error))
        return FALSE;
      self->envid_xtext = msgtrk_xtext_encode (self->envid);
      return TRUE;
    }
  return envid_is_valid (self->envid, strlen (self->envid), error);
}

/* Length of @text percent-encoded (everything but unreserved as %XX). */
static gsize
pct_encoded_length (const char *text)
{
  gsize n = 0;

  for (; *text != '\0'; text++)
    n += is_unreserved ((guchar) *text) ? 1 : 3;
  return n;
}

/* Append @text percent-encoded at @out; returns the end. */
static char *
pct_encode_into (char       *out,
                 const char *text)
{
  static const char hex[] = "0123456789ABCDEF";

  for (; *text != '\0'; text++)
    {
      guchar c = (guchar) *text;

      if (is_unreserved (c))
        *out++ = (char) c;
      else
        {
          *out++ = '%';
          *out++ = hex[c >> 4];
          *out++ = hex[c & 0x0f];
        }
    }
  return out;
}

/* Length of the URL that url_format() writes. */
static gsize
url_formatted_length (MsgtrkUrl *self)
{
  gsize n = strlen ("mtqp://") + strlen (self->host);

  if (strchr (self->host, ':') != NULL)
    n += 2; /* [ ] */
  if (self->port != MSGTRK_MTQP_PORT)
    n += 1 + strlen ("65535") - (self->port < 10000) - (self->port < 1000) -
         (self->port < 100) - (self->port < 10);
  n += strlen ("/" URL_TRACK_SEGMENT "/") + pct_encoded_length (self->envid_xtext) + 1 +
       pct_encoded_length (self->secret);
  return n;
}

/*
 * Write the URL into one buffer of exactly the right size, so that no partial copy of
 * the secret is left in a reallocated block.
 */
static char *
url_format (MsgtrkUrl *self)
{
  gsize len = url_formatted_length (self);
  char *buf = g_malloc (len + 1);
  char *p = buf;
  gboolean v6 = strchr (self->host, ':') != NULL;

  p = g_stpcpy (p, "mtqp://");
  if (v6)
    *p++ = '[';
  p = g_stpcpy (p, self->host);
  if (v6)
    *p++ = ']';
  if (self->port != MSGTRK_MTQP_PORT)
    p += g_snprintf (p, len + 1 - (gsize) (p - buf), ":%u", (guint) self->port);
  p = g_stpcpy (p, "/" URL_TRACK_SEGMENT "/");
  p = pct_encode_into (p, self->envid_xtext);
  *p++ = '/';
  p = pct_encode_into (p, self->secret);
  *p = '\0';

  g_assert ((gsize) (p - buf) == len);
  return buf;
}

/* The limit on the written form, checked by both constructors. */
static gboolean
url_check_length (MsgtrkUrl *self,
                  GError   **error)
{
  gsize len = url_formatted_length (self);

  if (len > MSGTRK_URL_MAX_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The mtqp URL would be %" G_GSIZE_FORMAT " characters long; at most %d "
                   "are allowed",
                   len, MSGTRK_URL_MAX_LENGTH);
      return FALSE;
    }
  return TRUE;
}

/* Check @secret_base64 strictly and store it in @self. */
static gboolean
url_take_secret (MsgtrkUrl  *self,
                 const char *secret_base64,
                 GError    **error)
{
  g_autoptr (MsgtrkSecret) secret = NULL;
  g_autoptr (GError) local_error = NULL;

  secret = msgtrk_secret_new_from_base64 (secret_base64, &local_error);
  if (secret == NULL)
    {
      /* The secret module's messages never quote the secret. */
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET, "%s (in the mtqp URL)",
                   local_error->message);
      return FALSE;
    }
  /* Strict base64 is canonical: the text read is the text to_base64 would write. */
  self->secret = msgtrk_secret_to_base64 (secret);
  return TRUE;
}

/* ---- parsing ---------------------------------------------------------------------------- */

/*
 * Percent-decode one path segment [@seg, @seg + @len) into a new NUL-terminated buffer of
 * @len + 1 octets (the caller wipes it if it held the secret). Checks the pchar syntax;
 * %00 is refused. @what names the segment for errors, which never quote it.
 */
static char *
segment_decode (const char *seg,
                gsize       len,
                const char *what,
                GError    **error)
{
  char *out = g_malloc (len + 1);
  gsize i;
  gsize o = 0;

  for (i = 0; i < len; i++)
    {
      guchar c = (guchar) seg[i];

      if (c == '%')
        {
          int hi = i + 1 < len ? g_ascii_xdigit_value (seg[i + 1]) : -1;
          int lo = i + 2 < len ? g_ascii_xdigit_value (seg[i + 2]) : -1;

          if (hi < 0 || lo < 0)
            {
              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "The %s segment of the mtqp URL has a “%%” at position %" G_GSIZE_FORMAT
                           " that is not followed by two hex digits",
                           what, i + 1);
              goto fail;
            }
          if (hi == 0 && lo == 0)
            {
              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "The %s segment of the mtqp URL contains an encoded NUL (%%00)", what);
              goto fail;
            }
          out[o++] = (char) ((hi << 4) | lo);
          i += 2;
        }
      else if (is_pchar_literal (c))
        out[o++] = (char) c;
      else
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "The %s segment of the mtqp URL contains a character that must be "
                       "percent-encoded, at position %" G_GSIZE_FORMAT,
                       what, i + 1);
          goto fail;
        }
    }
  out[o] = '\0';
  return out;

fail:
  msgtrk_secure_wipe (out, len + 1);
  g_free (out);
  return NULL;
}

/* Refuse spaces, controls, non-ASCII and characters RFC 3986 never allows, by position. */
static gboolean
check_uri_characters (const char *text,
                      GError    **error)
{
  gsize i;

  for (i = 0; text[i] != '\0'; i++)
    {
      guchar c = (guchar) text[i];

      if (is_uri_char (c))
        continue;
      if (c == ' ')
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                     "The mtqp URL contains a space at position %" G_GSIZE_FORMAT, i + 1);
      else if (c < 0x20 || c == 0x7f)
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                     "The mtqp URL contains a control character at position %" G_GSIZE_FORMAT,
                     i + 1);
      else if (c >= 0x80)
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                     "The mtqp URL contains a non-ASCII byte at position %" G_GSIZE_FORMAT
                     " (non-ASCII text must be percent-encoded)",
                     i + 1);
      else
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                     "The mtqp URL contains “%c” at position %" G_GSIZE_FORMAT
                     ", a character not allowed in a URL",
                     c, i + 1);
      return FALSE;
    }
  return TRUE;
}

/*
 * scheme ":" — returns the length of the scheme, or 0 when @text has no scheme.
 *   scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
 */
static gsize
scheme_length (const char *text)
{
  gsize i;

  if (!g_ascii_isalpha (text[0]))
    return 0;
  for (i = 1; text[i] != '\0' && text[i] != ':'; i++)
    if (!g_ascii_isalnum (text[i]) && text[i] != '+' && text[i] != '-' && text[i] != '.')
      return 0;
  return text[i] == ':' ? i : 0;
}

/* Parse "mtqp://" authority with GUri into @self->host / @self->port. */
static gboolean
parse_authority (MsgtrkUrl  *self,
                 const char *authority,
                 gsize       len,
                 GError    **error)
{
  g_autofree char *auth = g_strndup (authority, len);
  g_autofree char *uri = NULL;
  g_autofree char *host = NULL;
  g_autofree char *quoted = NULL;
  g_autoptr (GError) local_error = NULL;
  int port = -1;

  if (strchr (auth, '@') != NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The mtqp URL has user information (“…@” before the host); mtqp URLs "
                   "carry no user name or password");
      return FALSE;
    }
  if (len == 0)
    return host_is_valid (NULL, error);

  uri = g_strconcat ("mtqp://", auth, NULL);
  if (!g_uri_split (uri, G_URI_FLAGS_NONE, NULL, NULL, &host, &port, NULL, NULL, NULL,
                    &local_error))
    {
      quoted = msgtrk_str_escape_for_error (auth, URL_ERROR_QUOTE_MAX);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The host and port “%s” of the mtqp URL are malformed (the port must be a "
                   "number from 1 to 65535, an IPv6 address goes in brackets)",
                   quoted);
      return FALSE;
    }
  if (!host_is_valid (host, error))
    return FALSE;
  if (port == 0 || port > 65535)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The port %d of the mtqp URL is not valid; it must be from 1 to 65535",
                   port);
      return FALSE;
    }

  self->host = g_steal_pointer (&host);
  self->port = port < 0 ? MSGTRK_MTQP_PORT : (guint16) port;
  return TRUE;
}

/* "/track/" envid-seg "/" secret-seg, split on "/" while still encoded. */
static gboolean
parse_path (MsgtrkUrl  *self,
            const char *path,
            gsize       len,
            GError    **error)
{
  const char *end = path + len;
  const char *envid_seg;
  const char *secret_seg;
  const char *slash;
  char *secret_text = NULL;
  gsize secret_len;
  gboolean ok;

  if (len == 0 || len == 1)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The mtqp URL has no path; expected /track/<envid>/<secret> after the host");
      return FALSE;
    }
  if (len < strlen ("/" URL_TRACK_SEGMENT "/") ||
      memcmp (path, "/" URL_TRACK_SEGMENT "/", strlen ("/" URL_TRACK_SEGMENT "/")) != 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The path of the mtqp URL must start with /track/ "
                   "(expected /track/<envid>/<secret>)");
      return FALSE;
    }

  envid_seg = path + strlen ("/" URL_TRACK_SEGMENT "/");
  slash = memchr (envid_seg, '/', (gsize) (end - envid_seg));
  if (slash == NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The mtqp URL lacks a segment: expected /track/<envid>/<secret>");
      return FALSE;
    }
  secret_seg = slash + 1;
  if (memchr (secret_seg, '/', (gsize) (end - secret_seg)) != NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The mtqp URL has more than two segments after /track/ (a “/” inside the "
                   "envid or the secret must be written %%2F)");
      return FALSE;
    }
  if (secret_seg == end)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The tracking secret segment of the mtqp URL is empty");
      return FALSE;
    }

  self->envid_xtext = segment_decode (envid_seg, (gsize) (slash - envid_seg), "envid", error);
  if (self->envid_xtext == NULL || !envid_take_segment (self, error))
    return FALSE;

  secret_len = (gsize) (end - secret_seg);
  secret_text = segment_decode (secret_seg, secret_len, "tracking secret", error);
  if (secret_text == NULL)
    return FALSE;
  ok = url_take_secret (self, secret_text, error);
  msgtrk_secure_wipe (secret_text, secret_len + 1);
  g_free (secret_text);
  return ok;
}

/* ---- public API -------------------------------------------------------------------------- */

/**
 * msgtrk_url_parse:
 * @text: an mtqp URL, `mtqp://host[:port]/track/<envid>/<mtrk-secret>`
 * @error: return location for a #GError, or %NULL
 *
 * Parses an mtqp URL (RFC 3887 section 8). The scheme is case-insensitive; the host is
 * required (an IPv6 address in brackets); the port defaults to %MSGTRK_MTQP_PORT and must
 * be 1 to 65535; the path is exactly `/track/<envid>/<secret>` with both segments
 * percent-decoded after the path is split. No user information, query or fragment.
 *
 * Error messages quote at most the scheme, the host and port or the ENVID, never the
 * secret.
 *
 * Returns: (transfer full): the URL, or %NULL with %MSGTRK_ERROR_PARSE (syntax),
 *   %MSGTRK_ERROR_INVALID_SECRET (the secret segment) or %MSGTRK_ERROR_LIMIT (longer than
 *   %MSGTRK_URL_MAX_LENGTH)
 *
 * Since: 1.0
 */
MsgtrkUrl *
msgtrk_url_parse (const char *text,
                  GError    **error)
{
  g_autoptr (MsgtrkUrl) self = NULL;
  g_autofree char *quoted = NULL;
  gsize text_len;
  gsize scheme_len;
  const char *authority;
  const char *path;
  const char *p;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  text_len = strnlen (text, MSGTRK_URL_MAX_LENGTH + 1);
  if (text_len > MSGTRK_URL_MAX_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The mtqp URL is longer than %d characters", MSGTRK_URL_MAX_LENGTH);
      return NULL;
    }
  if (text_len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "The mtqp URL is empty");
      return NULL;
    }
  if (!check_uri_characters (text, error))
    return NULL;

  scheme_len = scheme_length (text);
  if (scheme_len == 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "This is not a URL (no scheme); expected mtqp://host/track/<envid>/<secret>");
      return NULL;
    }
  if (scheme_len != 4 || g_ascii_strncasecmp (text, "mtqp", 4) != 0)
    {
      g_autofree char *scheme = g_strndup (text, scheme_len);

      quoted = msgtrk_str_escape_for_error (scheme, 16);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "This is a “%s:” URL, not an mtqp URL", quoted);
      return NULL;
    }
  if (strncmp (text + scheme_len, "://", 3) != 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The mtqp URL has no host (expected mtqp://host/track/<envid>/<secret>)");
      return NULL;
    }

  /* authority ends at the first "/", "?" or "#"; the path at the first "?" or "#". */
  authority = text + scheme_len + 3;
  path = authority + strcspn (authority, "/?#");
  p = path + strcspn (path, "?#");
  if (*p != '\0')
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The mtqp URL has a %s (“%c…”); mtqp URLs have none",
                   *p == '?' ? "query" : "fragment", *p);
      return NULL;
    }

  self = g_object_new (MSGTRK_TYPE_URL, NULL);
  if (!parse_authority (self, authority, (gsize) (path - authority), error))
    return NULL;
  if (!parse_path (self, path, (gsize) (p - path), error))
    return NULL;
  if (!url_check_length (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * msgtrk_url_new:
 * @host: host name or IP address of the MTQP server (an IPv6 address with or without
 *   brackets)
 * @port: the port, or 0 for %MSGTRK_MTQP_PORT
 * @envid: the ENVID, decoded (not xtext), 1 to %MSGTRK_ENVID_MAX_LENGTH printable ASCII
 *   characters; the URL carries its xtext form, percent-encoded
 * @secret_base64: the mtrk-secret (strict base64, see [ctor@Msgtrk.Secret.new_from_base64])
 * @error: return location for a #GError, or %NULL
 *
 * Makes the URL that delegates tracking of one message. Its text (see
 * [method@Msgtrk.Url.to_string]) must fit in %MSGTRK_URL_MAX_LENGTH characters.
 *
 * Returns: (transfer full): the URL, or %NULL with %MSGTRK_ERROR_PARSE (host or ENVID),
 *   %MSGTRK_ERROR_INVALID_SECRET or %MSGTRK_ERROR_LIMIT
 *
 * Since: 1.0
 */
MsgtrkUrl *
msgtrk_url_new (const char *host,
                guint16     port,
                const char *envid,
                const char *secret_base64,
                GError    **error)
{
  g_autoptr (MsgtrkUrl) self = NULL;
  gsize host_len;

  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (envid != NULL, NULL);
  g_return_val_if_fail (secret_base64 != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (MSGTRK_TYPE_URL, NULL);

  host_len = strlen (host);
  if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']')
    self->host = g_strndup (host + 1, host_len - 2);
  else
    self->host = g_strdup (host);
  if (!host_is_valid (self->host, error))
    return NULL;
  self->port = port == 0 ? MSGTRK_MTQP_PORT : port;

  if (!envid_is_valid (envid, strlen (envid), error))
    return NULL;
  self->envid = g_strdup (envid);
  self->envid_xtext = msgtrk_xtext_encode (envid);

  if (!url_take_secret (self, secret_base64, error))
    return NULL;
  if (!url_check_length (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * msgtrk_url_to_string:
 * @self: a #MsgtrkUrl
 *
 * Writes the URL: `mtqp://host[:port]/track/<envid>/<secret>`, the port left out when it
 * is %MSGTRK_MTQP_PORT, an IPv6 host in brackets, and every character of the two
 * segments other than RFC 3986 unreserved ones (letters, digits, `-._~`) percent-encoded
 * (so `/`, `+`, `=` and `@` become `%2F`, `%2B`, `%3D`, `%40`).
 *
 * The text holds the secret: free it with [func@Msgtrk.secure_free_string].
 *
 * Returns: (transfer full): the URL, at most %MSGTRK_URL_MAX_LENGTH characters
 *
 * Since: 1.0
 */
char *
msgtrk_url_to_string (MsgtrkUrl *self)
{
  g_return_val_if_fail (MSGTRK_IS_URL (self), NULL);

  return url_format (self);
}

/**
 * msgtrk_url_get_host:
 * @self: a #MsgtrkUrl
 *
 * Gets the MTQP server host of the link.
 *
 * Returns: the host, an IPv6 address without brackets
 *
 * Since: 1.0
 */
const char *
msgtrk_url_get_host (MsgtrkUrl *self)
{
  g_return_val_if_fail (MSGTRK_IS_URL (self), NULL);

  return self->host;
}

/**
 * msgtrk_url_get_port:
 * @self: a #MsgtrkUrl
 *
 * Gets the MTQP server port of the link.
 *
 * Returns: the port, %MSGTRK_MTQP_PORT when the URL named none
 *
 * Since: 1.0
 */
guint16
msgtrk_url_get_port (MsgtrkUrl *self)
{
  g_return_val_if_fail (MSGTRK_IS_URL (self), 0);

  return self->port;
}

/**
 * msgtrk_url_get_envid:
 * @self: a #MsgtrkUrl
 *
 * Gets the ENVID of the link.
 *
 * Returns: the ENVID, percent-decoded and xtext-decoded (what servers key records by)
 *
 * Since: 1.0
 */
const char *
msgtrk_url_get_envid (MsgtrkUrl *self)
{
  g_return_val_if_fail (MSGTRK_IS_URL (self), NULL);

  return self->envid;
}

/**
 * msgtrk_url_get_envid_xtext:
 * @self: a #MsgtrkUrl
 *
 * The ENVID in its xtext form (RFC 3461), as it travelled in `MAIL FROM … ENVID=` and as a
 * TRACK command carries it; the URL holds this, percent-encoded.
 *
 * Returns: the xtext ENVID
 *
 * Since: 1.0
 */
const char *
msgtrk_url_get_envid_xtext (MsgtrkUrl *self)
{
  g_return_val_if_fail (MSGTRK_IS_URL (self), NULL);

  return self->envid_xtext;
}

/**
 * msgtrk_url_get_secret:
 * @self: a #MsgtrkUrl
 *
 * The tracking secret as base64 text (the mtrk-secret), percent-decoded. It stays valid
 * as long as @self; do not log it or keep copies that are not wiped.
 *
 * Returns: the base64 secret
 *
 * Since: 1.0
 */
const char *
msgtrk_url_get_secret (MsgtrkUrl *self)
{
  g_return_val_if_fail (MSGTRK_IS_URL (self), NULL);

  return self->secret;
}
