/* SPDX-License-Identifier: GPL-3.0-or-later */
/* push-proto.c: frames, records, replay window and keys of the push channel (contract:
 * push-proto.h; wire format: docs/push-protocol.md).
 *
 * How: fixed big-endian header, HMAC-SHA-256 over everything before the MAC (a PushMac:
 * an EVP_MAC context set up with the key once and copied per frame; the raw-key calls
 * make one for the frame), CRYPTO_memcmp to compare it; the replay window is the IPsec one (a
 * bitmap of PUSH_REPLAY_WINDOW sequences below the highest accepted).
 * Limits: see push-proto.h. Never: read past a datagram (every length is checked against
 * what is left); keep a key in memory that is not wiped on free.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "msgtrk-private.h"
#include "push-proto.h"

#define PUSH_MAX_ENVID 100
#define PUSH_AUTH_LEN 28

static const char *const result_names[PUSH_N_RESULTS] = {
  "stored", "truncated", "oversized", "malformed", "unknown_key", "bad_hmac", "stale",
  "replayed", "bad_record",
};

const char *
push_result_name (PushResult result)
{
  return result < PUSH_N_RESULTS ? result_names[result] : "unknown";
}

static void
put16 (guint8 *p, guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static void
put64 (guint8 *p, guint64 v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (guint8) v;
}

static guint16
get16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static guint64
get64 (const guint8 *p)
{
  guint64 v = 0;

  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/* The header and payload of @frame into @out; their length (0 if the payload is too long). */
static gsize
frame_write (const PushFrame *frame,
             guint8           out[PUSH_MAX_DATAGRAM])
{
  gsize len = PUSH_HEADER_SIZE + frame->payload_len;

  if (frame->payload_len > PUSH_MAX_PAYLOAD)
    return 0;
  memcpy (out, PUSH_MAGIC, 4);
  out[4] = (guint8) frame->type;
  out[5] = frame->flags;
  put16 (out + 6, frame->key_id);
  put64 (out + 8, (guint64) frame->timestamp_ms);
  put64 (out + 16, frame->sequence);
  put64 (out + 24, frame->record_id);
  out[32] = frame->part;
  out[33] = frame->parts;
  put16 (out + 34, (guint16) frame->payload_len);
  if (frame->payload_len > 0)
    memcpy (out + PUSH_HEADER_SIZE, frame->payload, frame->payload_len);
  return len;
}


/* Parse the header of a datagram (not its MAC: push_frame_verify()). */
PushResult
push_frame_parse (const guint8 *data,
                  gsize         len,
                  PushFrame    *out)
{
  gsize payload_len;

  if (len > PUSH_MAX_DATAGRAM)
    return PUSH_DROP_OVERSIZED;
  if (len < PUSH_MIN_DATAGRAM)
    return PUSH_DROP_TRUNCATED;
  if (memcmp (data, PUSH_MAGIC, 4) != 0
      || (data[4] != PUSH_TYPE_RECORD && data[4] != PUSH_TYPE_ACK
          && data[4] != PUSH_TYPE_ACK_LIST)
      || (data[5] & ~(data[4] == PUSH_TYPE_RECORD ? PUSH_FLAG_ACK_LIST : 0)) != 0)
    return PUSH_DROP_MALFORMED;
  payload_len = get16 (data + 34);
  if (PUSH_MIN_DATAGRAM + payload_len > len)
    return PUSH_DROP_TRUNCATED;
  if (PUSH_MIN_DATAGRAM + payload_len < len)
    return PUSH_DROP_MALFORMED;
  out->type = data[4];
  out->flags = data[5];
  out->key_id = get16 (data + 6);
  out->timestamp_ms = (gint64) get64 (data + 8);
  out->sequence = get64 (data + 16);
  out->record_id = get64 (data + 24);
  out->part = data[32];
  out->parts = data[33];
  out->payload = data + PUSH_HEADER_SIZE;
  out->payload_len = payload_len;
  if (out->type == PUSH_TYPE_RECORD
      && (out->parts == 0 || out->parts > PUSH_MAX_PARTS || out->part >= out->parts
          || payload_len == 0))
    return PUSH_DROP_MALFORMED;
  if (out->type == PUSH_TYPE_ACK && payload_len != 0)
    return PUSH_DROP_MALFORMED;
  /* 1..PUSH_MAX_ACK_IDS record ids, no record id, part or count of its own. */
  if (out->type == PUSH_TYPE_ACK_LIST
      && (payload_len == 0 || payload_len % 8 != 0 || payload_len / 8 > PUSH_MAX_ACK_IDS
          || out->record_id != 0 || out->part != 0 || out->parts != 0))
    return PUSH_DROP_MALFORMED;
  return PUSH_OK;
}

/* Record id @i of a parsed ACK_LIST frame (i < payload_len / 8). */
guint64
push_ack_list_id (const PushFrame *frame,
                  guint            i)
{
  g_return_val_if_fail (frame->type == PUSH_TYPE_ACK_LIST && (gsize) i * 8 < frame->payload_len,
                        0);
  return get64 (frame->payload + (gsize) i * 8);
}


struct _PushMac
{
  EVP_MAC *alg;
  EVP_MAC_CTX *keyed;    /* initialised with the key: copied for each frame */
};

/**
 * push_mac_new: HMAC-SHA-256 with @key, its pads hashed once. The caller may wipe @key
 * at once; OpenSSL 3's HMAC context keeps its own copy of the key beside the hashed pads,
 * and wipes both when the PushMac is freed (EVP_MAC_CTX_free).
 * Returns: (transfer full): the PushMac (aborts if OpenSSL cannot make one: out of memory)
 */
PushMac *
push_mac_new (const guint8 *key,
              gsize         key_len)
{
  PushMac *m = g_new0 (PushMac, 1);
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
    OSSL_PARAM_construct_end (),
  };

  m->alg = EVP_MAC_fetch (NULL, "HMAC", NULL);
  m->keyed = m->alg != NULL ? EVP_MAC_CTX_new (m->alg) : NULL;
  if (m->keyed == NULL || !EVP_MAC_init (m->keyed, key, key_len, params))
    g_error ("HMAC-SHA-256 set-up failed"); /* OpenSSL out of memory: nothing sane to do */
  return m;
}

/**
 * push_frame_is_fresh:
 * @frame: a parsed frame whose HMAC was verified
 * @now_ms: this host's real-time clock in milliseconds
 *
 * Whether @frame's time stamp is within PUSH_MAX_SKEW_MS of @now_ms (compared without
 * overflow: a stamp is any 64-bit value), and its sequence (microseconds of its sender's
 * clock, or just above them after a burst) not beyond that stamp plus PUSH_MAX_SKEW_MS:
 * one frame with a sequence far ahead (a sender's bug, a clock once wrong) would
 * otherwise move the replay window's top there and refuse every later frame of its key
 * until the receiver restarts.
 *
 * Returns: %TRUE when fresh
 */
gboolean
push_frame_is_fresh (const PushFrame *frame,
                     gint64           now_ms)
{
  gint64 stamp = frame->timestamp_ms;

  if (stamp < now_ms - PUSH_MAX_SKEW_MS || stamp > now_ms + PUSH_MAX_SKEW_MS || stamp < 0)
    return FALSE;
  return frame->sequence <= (guint64) (stamp + PUSH_MAX_SKEW_MS) * 1000;
}

/**
 * push_next_sequence:
 * @last: (inout): the sequence the caller sent last (0 at first); the caller serializes
 * @now_us: this host's real-time clock in microseconds
 *
 * The sequence of the caller's next frame (a node's data frames, a receiver's ACKs): the
 * clock in microseconds, or one above @last when a burst (or a restart within the same
 * microsecond) reached it, so sequences strictly increase and a restart continues above.
 * Sequences that ran past what push_frame_is_fresh() takes (a clock since set back by more
 * than PUSH_MAX_SKEW_MS) start again from the clock: frames that far ahead were refused as
 * stale, so no peer's replay window moved there.
 *
 * Returns: the sequence, also stored in @last
 */
guint64
push_next_sequence (guint64 *last,
                    gint64   now_us)
{
  guint64 now = now_us > 0 ? (guint64) now_us : 0;
  guint64 v = MAX (now, *last + 1);

  if (v > now + (guint64) PUSH_MAX_SKEW_MS * 1000)
    v = now;
  *last = v;
  return v;
}

void
push_mac_free (PushMac *m)
{
  if (m == NULL)
    return;
  EVP_MAC_CTX_free (m->keyed);
  EVP_MAC_free (m->alg);
  g_free (m);
}

static void
mac_with (PushMac      *m,
          const guint8 *data,
          gsize         len,
          guint8        out[PUSH_MAC_SIZE])
{
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup (m->keyed);
  size_t out_len = 0;

  if (ctx == NULL || !EVP_MAC_update (ctx, data, len)
      || !EVP_MAC_final (ctx, out, &out_len, PUSH_MAC_SIZE) || out_len != PUSH_MAC_SIZE)
    g_error ("HMAC-SHA-256 failed");
  EVP_MAC_CTX_free (ctx);
}

/* push_frame_encode() with a PushMac. */
gsize
push_mac_encode (PushMac         *m,
                 const PushFrame *frame,
                 guint8           out[PUSH_MAX_DATAGRAM])
{
  gsize len = frame_write (frame, out);

  if (len == 0)
    return 0;
  mac_with (m, out, len, out + len);
  return len + PUSH_MAC_SIZE;
}

/* push_frame_verify() with a PushMac: compared in constant time. */
gboolean
push_mac_verify (PushMac      *m,
                 const guint8 *data,
                 gsize         len)
{
  guint8 expected[PUSH_MAC_SIZE];
  gboolean ok;

  if (len < PUSH_MIN_DATAGRAM)
    return FALSE;
  mac_with (m, data, len - PUSH_MAC_SIZE, expected);
  ok = CRYPTO_memcmp (expected, data + len - PUSH_MAC_SIZE, PUSH_MAC_SIZE) == 0;
  OPENSSL_cleanse (expected, sizeof expected);
  return ok;
}

/* Write @frame into @out, signed with @key (a PushMac made for this one frame: a caller
 * that signs many keeps its own); returns its length (0 if the payload is too long). */
gsize
push_frame_encode (const PushFrame *frame,
                   const guint8    *key,
                   gsize            key_len,
                   guint8           out[PUSH_MAX_DATAGRAM])
{
  g_autoptr (PushMac) m = push_mac_new (key, key_len);

  return push_mac_encode (m, frame, out);
}

/* The MAC of a parsed datagram under @key, checked in constant time (push_mac_verify()
 * with a PushMac made for this one datagram). */
gboolean
push_frame_verify (const guint8 *data,
                   gsize         len,
                   const guint8 *key,
                   gsize         key_len)
{
  g_autoptr (PushMac) m = push_mac_new (key, key_len);

  return push_mac_verify (m, data, len);
}

/**
 * push_record_encode: the record bytes the parts carry (docs/push-protocol.md).
 * Returns: (transfer full) (nullable): the bytes, or %NULL (MSGTRK_ERROR_LIMIT above
 *   PUSH_MAX_RECORD octets, MSGTRK_ERROR_PARSE for a bad ENVID or B)
 */
GBytes *
push_record_encode (const char *envid,
                    const char *authenticator,
                    gint64      expires,
                    gint64      version,
                    const char *fields,
                    GError    **error)
{
  gsize e = strlen (envid);
  gsize f = strlen (fields);
  gsize len = 1 + e + PUSH_AUTH_LEN + 8 + 8 + f;
  guint8 *buf;
  gsize o = 0;

  if (e == 0 || e > PUSH_MAX_ENVID || strlen (authenticator) != PUSH_AUTH_LEN)
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "A pushed record needs an ENVID of 1 to 100 octets and a B");
      return NULL;
    }
  if (len > PUSH_MAX_RECORD)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The record has %" G_GSIZE_FORMAT " octets, more than the %d that %d "
                   "datagrams carry", len, PUSH_MAX_RECORD, PUSH_MAX_PARTS);
      return NULL;
    }
  buf = g_malloc (len);
  buf[o++] = (guint8) e;
  memcpy (buf + o, envid, e);
  o += e;
  memcpy (buf + o, authenticator, PUSH_AUTH_LEN);
  o += PUSH_AUTH_LEN;
  put64 (buf + o, (guint64) expires);
  o += 8;
  put64 (buf + o, (guint64) version);
  o += 8;
  memcpy (buf + o, fields, f);
  return g_bytes_new_take (buf, len);
}

gboolean
push_record_decode (const guint8 *data,
                    gsize         len,
                    char        **envid,
                    char        **authenticator,
                    gint64       *expires,
                    gint64       *version,
                    char        **fields,
                    GError      **error)
{
  gsize e;
  gsize o;

  if (len < 1)
    goto bad;
  e = data[0];
  if (e == 0 || e > PUSH_MAX_ENVID || len < 1 + e + PUSH_AUTH_LEN + 16)
    goto bad;
  /* No NUL in the ENVID, B or the fields (they become C strings). */
  if (memchr (data + 1, '\0', e + PUSH_AUTH_LEN) != NULL
      || memchr (data + 1 + e + PUSH_AUTH_LEN + 16, '\0', len - (1 + e + PUSH_AUTH_LEN + 16))
           != NULL)
    goto bad;
  o = 1;
  *envid = g_strndup ((const char *) data + o, e);
  o += e;
  *authenticator = g_strndup ((const char *) data + o, PUSH_AUTH_LEN);
  o += PUSH_AUTH_LEN;
  *expires = (gint64) get64 (data + o);
  o += 8;
  *version = (gint64) get64 (data + o);
  o += 8;
  *fields = g_strndup ((const char *) data + o, len - o);
  return TRUE;

bad:
  g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "Malformed pushed record");
  return FALSE;
}

/* Accept @sequence once: TRUE if new and inside the window (then it is marked). */
gboolean
push_replay_accept (PushReplayWindow *w,
                    guint64           sequence)
{
  guint64 diff;

  if (!w->any || sequence > w->highest)
    {
      diff = w->any ? sequence - w->highest : PUSH_REPLAY_WINDOW;
      if (diff >= PUSH_REPLAY_WINDOW)
        memset (w->bitmap, 0, sizeof w->bitmap);
      else
        for (guint64 i = 0; i < diff; i++)
          {
            guint64 bit = (w->highest + 1 + i) % PUSH_REPLAY_WINDOW;

            w->bitmap[bit / 64] &= ~(G_GUINT64_CONSTANT (1) << (bit % 64));
          }
      w->highest = sequence;
      w->any = TRUE;
      w->bitmap[(sequence % PUSH_REPLAY_WINDOW) / 64] |=
        G_GUINT64_CONSTANT (1) << ((sequence % PUSH_REPLAY_WINDOW) % 64);
      return TRUE;
    }
  diff = w->highest - sequence;
  if (diff >= PUSH_REPLAY_WINDOW)
    return FALSE;
  {
    guint64 bit = sequence % PUSH_REPLAY_WINDOW;
    guint64 mask = G_GUINT64_CONSTANT (1) << (bit % 64);

    if (w->bitmap[bit / 64] & mask)
      return FALSE;
    w->bitmap[bit / 64] |= mask;
    return TRUE;
  }
}

/* A key file: regular, owned by this user, no group/other access, base64 on one line of
 * PUSH_MIN_KEY..PUSH_MAX_KEY octets. */
guint8 *
push_key_load (const char *path,
               gsize      *len_out,
               GError    **error)
{
  struct stat st;
  char buf[PUSH_MAX_KEY_FILE + 1];
  gsize got = 0;
  guint8 *key;
  gsize key_len = 0;
  gboolean valid;
  int fd;

  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "Cannot open the push key %s: %s",
                   path, g_strerror (saved));
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & 077) != 0)
    {
      close (fd);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "The push key %s must be a regular file owned by this user (uid %u) "
                   "with no group or other access (chmod 600)", path, (guint) geteuid ());
      return NULL;
    }
  for (;;)
    {
      ssize_t n = read (fd, buf + got, sizeof buf - 1 - got);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (gsize) n;
      if (got == sizeof buf - 1)
        break;
    }
  close (fd);
  buf[got] = '\0';
  g_strstrip (buf);
  /* Base64 and nothing else (lines as base64(1) wraps them may end anywhere):
   * g_base64_decode() skips what is not base64, so a passphrase would give some key,
   * not the one meant. Padded: a multiple of 4 characters, "=" only at the end. */
  {
    gsize chars = 0;
    gsize pad = 0;

    valid = TRUE;
    for (const char *p = buf; valid && *p != '\0'; p++)
      {
        if (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
          continue;
        if (*p == '=')
          pad++;
        else
          valid = pad == 0 && (g_ascii_isalnum (*p) || *p == '+' || *p == '/');
        chars++;
      }
    valid = valid && chars > 0 && chars % 4 == 0 && pad <= 2;
  }
  key = valid ? g_base64_decode (buf, &key_len) : NULL;
  OPENSSL_cleanse (buf, sizeof buf);
  if (!valid || got >= PUSH_MAX_KEY_FILE || key_len < PUSH_MIN_KEY || key_len > PUSH_MAX_KEY)
    {
      push_key_free (key, key_len);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The push key %s must hold %d to %d octets in base64", path,
                   PUSH_MIN_KEY, PUSH_MAX_KEY);
      return NULL;
    }
  *len_out = key_len;
  return key;
}

void
push_key_free (guint8 *key,
               gsize   len)
{
  if (key == NULL)
    return;
  OPENSSL_cleanse (key, len);
  g_free (key);
}
