/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-register.c: registrations of tracked Postfix queue ids (contract and file
 * syntax: postfix-register.h; design: docs/postfix-follower.md, "Registrations").
 *
 * One file per queue id, <dir>/<QID>.reg, replaced atomically and durably
 * (durable_file_replace: a reader sees the old file or the new one), or, on the front's
 * hot path, journaled (durable_journal_file_replace: one grouped fdatasync of the
 * journal, the file renamed in place without fsync; postfix_registration_recover()
 * restores from dead journals what a crash lost). The queue id names the file, so it is
 * checked (postfix_log_is_queue_id) before it is used in a path.
 *
 * Limits: POSTFIX_REGISTRATION_MAX_SIZE (POSTFIX_REGISTRATION_RCPT_BUDGET of it for "Rcpt:"
 * lines, POSTFIX_REGISTRATION_HEAD_MAX for the rest), POSTFIX_REGISTRATION_MAX_RCPTS.
 * Never: follow a symlink; accept a file that fails any rule (it is reported and ignored);
 * store anything but the envelope (no A, no body).
 */
#include "config.h"

#include "postfix-register.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "durable-file.h"
#include "msgtrk-private.h"
#include "postfix-log.h"
#include "postfix-register-private.h"
#include "server-coro.h"

#define REG_MAGIC "MSGTRK-POSTFIX-REG 1"
#define REG_SUFFIX ".reg"
#define PENDING_SUFFIX ".pending"
#define SUPERSEDED_SUFFIX ".superseded"

static PostfixRegisterTestHook test_hook;
static gpointer test_hook_data;

void
postfix_register_set_test_hook (PostfixRegisterTestHook hook,
                                gpointer                data)
{
  test_hook = hook;
  test_hook_data = data;
}

static PostfixRegistration *read_file (const char *path,
                                       GError    **error);
static char *pending_path (const char        *dir,
                           PostfixPendingKey  kind,
                           const char        *key,
                           const char        *prefix);

static char *address_as_logged (const char *address);
static void slots_sweep (const char *dir);

static void
rcpt_free (gpointer data)
{
  PostfixRegRcpt *r = data;

  g_free (r->address);
  g_free (r->registered);
  g_free (r->orcpt);
  g_free (r->logged);
  g_free (r);
}

/**
 * postfix_registration_new:
 *
 * Returns: (transfer full): a registration without recipients
 */
PostfixRegistration *
postfix_registration_new (const char *queue_id,
                          const char *envid,
                          const char *authenticator,
                          gint64      arrival,
                          gint64      expires)
{
  PostfixRegistration *reg = g_new0 (PostfixRegistration, 1);

  reg->queue_id = g_strdup (queue_id);
  reg->envid = g_strdup (envid);
  reg->authenticator = g_strdup (authenticator);
  reg->arrival = arrival;
  reg->expires = expires;
  reg->rcpts = g_ptr_array_new_with_free_func (rcpt_free);
  reg->skip = g_ptr_array_new_with_free_func (g_free);
  return reg;
}

void
postfix_registration_free (PostfixRegistration *reg)
{
  if (reg == NULL)
    return;
  g_free (reg->queue_id);
  g_free (reg->envid);
  g_free (reg->authenticator);
  g_free (reg->parent);
  g_free (reg->message_id);
  g_free (reg->ident);
  g_ptr_array_unref (reg->rcpts);
  g_ptr_array_unref (reg->skip);
  g_free (reg);
}

/* Adds a recipient; more than POSTFIX_REGISTRATION_MAX_RCPTS is MSGTRK_ERROR_LIMIT. */
gboolean
postfix_registration_add_rcpt (PostfixRegistration *reg,
                               const char          *address,
                               const char          *registered,
                               const char          *orcpt,
                               GError             **error)
{
  PostfixRegRcpt *r;

  if (reg->rcpts->len >= POSTFIX_REGISTRATION_MAX_RCPTS)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "A registration holds at most %d recipients", POSTFIX_REGISTRATION_MAX_RCPTS);
      return FALSE;
    }
  r = g_new0 (PostfixRegRcpt, 1);
  r->address = g_strdup (address);
  r->registered = g_strdup (registered != NULL ? registered : address);
  r->orcpt = g_strdup (orcpt);
  r->logged = address_as_logged (address);
  g_ptr_array_add (reg->rcpts, r);
  return TRUE;
}

/* Does Postfix write the local part @local (@len octets, its internal form) as it is,
 * unquoted? Its rule for the external form (quote_822_local, seen with 3.7.11): not
 * empty, no leading, trailing or doubled dot, no space, control octet or one of
 * ( ) < > @ , ; : \ " [ ]; octets above 127 are kept as they are. */
static gboolean
is_logged_unquoted (const char *local,
                    gsize       len)
{
  static const char specials[] = "()<>@,;:\\\"[]";

  if (len == 0 || local[0] == '.' || local[len - 1] == '.')
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) local[i];

      if ((c == '.' && i + 1 < len && local[i + 1] == '.') || c == ' ' || c < 0x20
          || c == 0x7f || strchr (specials, c) != NULL)
        return FALSE;
    }
  return TRUE;
}

/* @address as Postfix logs it (its external form, seen with 3.7.11): a source route
 * ("@a,@b:") dropped; the local part (up to the last '@' outside a quoted string) taken
 * to Postfix's internal form as its RFC 822 tokenizer reads it (quoted strings and atoms
 * joined, their quotes and the backslashes taken away, a TAB in quotes read as a space:
 * "a"."b" is a.b, a\b is ab), then quoted again only where Postfix quotes it
 * (is_logged_unquoted: "alice"@x is logged alice@x; dot.@x and a..b@x as "dot."@x and
 * "a..b"@x), with a backslash before '"', '\' and CR. The domain as given; an address
 * with an unclosed quote as given. */
static char *
address_as_logged (const char *address)
{
  const char *a = address;
  const char *at = NULL;
  const char *end;
  gboolean quoted = FALSE;
  g_autoptr (GString) local = g_string_new (NULL);
  GString *out;

  if (a[0] == '@' && strchr (a, ':') != NULL)
    a = strchr (a, ':') + 1;
  for (const char *p = a; *p != '\0'; p++)
    {
      if (*p == '\\' && p[1] != '\0')
        p++;
      else if (*p == '"')
        quoted = !quoted;
      else if (*p == '@' && !quoted)
        at = p;
    }
  if (quoted)
    return g_strdup (a);
  end = at != NULL ? at : a + strlen (a);
  for (const char *p = a; p < end; p++)
    {
      if (*p == '\\' && p + 1 < end)
        g_string_append_c (local, *++p);
      else if (*p == '"')
        quoted = !quoted;
      else
        g_string_append_c (local, quoted && *p == '\t' ? ' ' : *p);
    }
  out = g_string_sized_new (local->len + strlen (end) + 8);
  if (is_logged_unquoted (local->str, local->len))
    g_string_append_len (out, local->str, (gssize) local->len);
  else
    {
      g_string_append_c (out, '"');
      for (gsize i = 0; i < local->len; i++)
        {
          char c = local->str[i];

          if (c == '"' || c == '\\' || c == '\r')
            g_string_append_c (out, '\\');
          g_string_append_c (out, c);
        }
      g_string_append_c (out, '"');
    }
  g_string_append (out, end);
  return g_string_free (out, FALSE);
}

/* The recipient whose address (as logged for this queue id) is @address, or NULL. The
 * registered address (RCPT TO as the client gave it) is compared as given and in the form
 * Postfix logs it (PostfixRegRcpt.logged: address_as_logged, made once per recipient when
 * it was added), exactly first, then without regard to case (a
 * recipient registered "Bob@x" and logged "bob@x" after a rewrite is still found; "BOB@x"
 * and "bob@x" of one message each find their own). */
const PostfixRegRcpt *
postfix_registration_find (const PostfixRegistration *reg,
                           const char                *address)
{
  const PostfixRegRcpt *nocase = NULL;

  if (address == NULL)
    return NULL;
  for (guint i = 0; i < reg->rcpts->len; i++)
    {
      const PostfixRegRcpt *r = g_ptr_array_index (reg->rcpts, i);

      if (strcmp (r->address, address) == 0 || strcmp (r->logged, address) == 0)
        return r;
      if (nocase == NULL && (g_ascii_strcasecmp (r->address, address) == 0
                             || g_ascii_strcasecmp (r->logged, address) == 0))
        nocase = r;
    }
  return nocase;
}

/* The "Rcpt:" line of a recipient (@registered NULL: @address; @orcpt NULL: "-"), newline
 * included: the one place that formats it (postfix_registration_format, and the size the
 * front counts as recipients are accepted: postfix_registration_rcpt_size). */
static void
rcpt_line_append (GString    *s,
                  const char *address,
                  const char *registered,
                  const char *orcpt)
{
  g_autofree char *a = msgtrk_xtext_encode (address);
  g_autofree char *g = msgtrk_xtext_encode (registered != NULL ? registered : address);
  g_autofree char *o = orcpt != NULL ? msgtrk_xtext_encode (orcpt) : g_strdup ("-");

  g_string_append_printf (s, "Rcpt: %s %s %s\n", a, g, o);
}

/**
 * postfix_registration_rcpt_size:
 * @address: the recipient's address
 * @registered: (nullable): its address as registered (NULL: @address)
 * @orcpt: (nullable): its ORCPT ("type;address")
 *
 * Returns: the octets the recipient's line takes in a registration
 *   (postfix_registration_format; its share of POSTFIX_REGISTRATION_RCPT_BUDGET)
 */
gsize
postfix_registration_rcpt_size (const char *address,
                                const char *registered,
                                const char *orcpt)
{
  g_autoptr (GString) s = g_string_new (NULL);

  rcpt_line_append (s, address, registered, orcpt);
  return s->len;
}

/**
 * postfix_registration_format:
 *
 * Returns: (transfer full): the file text of @reg
 */
char *
postfix_registration_format (const PostfixRegistration *reg)
{
  GString *s = g_string_new (REG_MAGIC "\n");
  g_autofree char *envid = msgtrk_xtext_encode (reg->envid);

  if (reg->queue_id != NULL)
    g_string_append_printf (s, "Queue-Id: %s\n", reg->queue_id);
  if (reg->ident != NULL)
    g_string_append_printf (s, "Ident: %s\n", reg->ident);
  if (reg->message_id != NULL)
    {
      g_autofree char *mid = msgtrk_xtext_encode (reg->message_id);

      g_string_append_printf (s, "Message-Id: %s\n", mid);
      for (guint i = 0; i < reg->skip->len; i++)
        g_string_append_printf (s, "Skip-Queue-Id: %s\n",
                                (const char *) g_ptr_array_index (reg->skip, i));
      if (reg->orphaned > 0 && reg->queue_id == NULL)
        g_string_append_printf (s, "Orphaned: %" G_GINT64_FORMAT "\n", reg->orphaned);
    }
  g_string_append_printf (s, "Envid: %s\nAuthenticator: %s\n", envid, reg->authenticator);
  g_string_append_printf (s, "Arrival: %" G_GINT64_FORMAT "\nExpires: %" G_GINT64_FORMAT "\n",
                          reg->arrival, reg->expires);
  if (reg->parent != NULL)
    g_string_append_printf (s, "Parent: %s\n", reg->parent);
  for (guint i = 0; i < reg->rcpts->len; i++)
    {
      const PostfixRegRcpt *r = g_ptr_array_index (reg->rcpts, i);

      rcpt_line_append (s, r->address, r->registered, r->orcpt);
    }
  return g_string_free (s, FALSE);
}

static gboolean
malformed (GError    **error,
           const char *why)
{
  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "Malformed registration: %s", why);
  return FALSE;
}

static gboolean
parse_unix (const char *value,
            gint64     *out)
{
  guint64 v;

  if (!g_ascii_isdigit (*value) || !g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, &v,
                                                                 NULL))
    return FALSE;
  *out = (gint64) v;
  return TRUE;
}

static gboolean
parse_rcpt (PostfixRegistration *reg,
            const char          *value,
            GError             **error)
{
  g_auto (GStrv) parts = g_strsplit (value, " ", -1);
  g_autofree char *a = NULL;
  g_autofree char *g = NULL;
  g_autofree char *o = NULL;

  if (g_strv_length (parts) != 3)
    return malformed (error, "a Rcpt line needs three fields");
  a = msgtrk_xtext_decode (parts[0], NULL);
  g = msgtrk_xtext_decode (parts[1], NULL);
  if (strcmp (parts[2], "-") != 0)
    {
      o = msgtrk_xtext_decode (parts[2], NULL);
      if (o == NULL)
        return malformed (error, "bad ORCPT");
    }
  if (a == NULL || g == NULL || *a == '\0' || *g == '\0')
    return malformed (error, "bad recipient address");
  return postfix_registration_add_rcpt (reg, a, g, o, error);
}

/**
 * postfix_registration_parse:
 * @text: a registration file's contents
 * @len: its length
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the registration, or %NULL with @error set
 */
PostfixRegistration *
postfix_registration_parse (const char *text,
                            gsize       len,
                            GError    **error)
{
  g_autoptr (PostfixRegistration) reg = postfix_registration_new (NULL, NULL, NULL, -1, -1);
  g_autofree char *copy = NULL;
  g_auto (GStrv) lines = NULL;

  if (len > POSTFIX_REGISTRATION_MAX_SIZE || memchr (text, '\0', len) != NULL)
    {
      malformed (error, "too long or holds a NUL octet");
      return NULL;
    }
  copy = g_strndup (text, len);
  lines = g_strsplit (copy, "\n", -1);
  if (lines[0] == NULL || strcmp (lines[0], REG_MAGIC) != 0)
    {
      malformed (error, "no magic line");
      return NULL;
    }
  for (guint i = 1; lines[i] != NULL; i++)
    {
      const char *l = lines[i];
      gboolean ok = TRUE;

      if (*l == '\0')
        continue;
      if (g_str_has_prefix (l, "Queue-Id: ") && reg->queue_id == NULL)
        {
          reg->queue_id = g_strdup (l + 10);
          ok = postfix_log_is_queue_id (reg->queue_id, strlen (reg->queue_id));
        }
      else if (g_str_has_prefix (l, "Message-Id: ") && reg->message_id == NULL)
        ok = (reg->message_id = msgtrk_xtext_decode (l + 12, NULL)) != NULL
             && *reg->message_id != '\0';
      else if (g_str_has_prefix (l, "Ident: ") && reg->ident == NULL)
        ok = postfix_registration_ident_is_valid (reg->ident = g_strdup (l + 7));
      else if (g_str_has_prefix (l, "Skip-Queue-Id: ")
               && reg->skip->len < POSTFIX_REGISTRATION_MAX_SKIP)
        {
          ok = postfix_log_is_queue_id (l + 15, strlen (l + 15));
          g_ptr_array_add (reg->skip, g_strdup (l + 15));
        }
      else if (g_str_has_prefix (l, "Envid: ") && reg->envid == NULL)
        ok = (reg->envid = msgtrk_xtext_decode (l + 7, NULL)) != NULL && *reg->envid != '\0';
      else if (g_str_has_prefix (l, "Authenticator: ") && reg->authenticator == NULL)
        {
          reg->authenticator = g_strdup (l + 15);
          ok = msgtrk_authenticator_is_valid (reg->authenticator, NULL);
        }
      else if (g_str_has_prefix (l, "Orphaned: ") && reg->orphaned == 0)
        ok = parse_unix (l + 10, &reg->orphaned) && reg->orphaned > 0;
      else if (g_str_has_prefix (l, "Arrival: ") && reg->arrival < 0)
        ok = parse_unix (l + 9, &reg->arrival);
      else if (g_str_has_prefix (l, "Expires: ") && reg->expires < 0)
        ok = parse_unix (l + 9, &reg->expires);
      else if (g_str_has_prefix (l, "Parent: ") && reg->parent == NULL)
        {
          reg->parent = g_strdup (l + 8);
          ok = postfix_log_is_queue_id (reg->parent, strlen (reg->parent));
        }
      else if (g_str_has_prefix (l, "Rcpt: "))
        {
          if (!parse_rcpt (reg, l + 6, error))
            return NULL;
        }
      else
        ok = FALSE;
      if (!ok)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                       "Malformed registration: bad or repeated line %u", i + 1);
          return NULL;
        }
    }
  if ((reg->queue_id == NULL && reg->message_id == NULL && reg->ident == NULL)
      || (reg->queue_id != NULL && reg->message_id != NULL)
      || (reg->orphaned > 0 && reg->message_id == NULL) || reg->envid == NULL
      || reg->authenticator == NULL
      || reg->arrival < 0 || reg->expires < 0 || reg->rcpts->len == 0)
    {
      malformed (error, "a required line is missing");
      return NULL;
    }
  return g_steal_pointer (&reg);
}

static char *
reg_path (const char *dir,
          const char *queue_id)
{
  g_autofree char *name = g_strconcat (queue_id, REG_SUFFIX, NULL);

  return g_build_filename (dir, name, NULL);
}

static gboolean
queue_id_check (const char *queue_id,
                GError    **error)
{
  if (queue_id == NULL || !postfix_log_is_queue_id (queue_id, strlen (queue_id)))
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "\"%s\" is not a Postfix queue id",
                   queue_id ? queue_id : "");
      return FALSE;
    }
  return TRUE;
}

/* The text of @reg, its path and temporary path, or FALSE (bad queue id, too long). */
static gboolean
registration_prepare (const char                *dir,
                      const PostfixRegistration *reg,
                      char                     **text,
                      char                     **path,
                      char                     **tmp,
                      GError                   **error)
{
  g_autofree char *t = NULL;

  if (!queue_id_check (reg->queue_id, error))
    return FALSE;
  t = postfix_registration_format (reg);
  if (strlen (t) > POSTFIX_REGISTRATION_MAX_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The registration of %s would exceed %d octets", reg->queue_id,
                   POSTFIX_REGISTRATION_MAX_SIZE);
      return FALSE;
    }
  *text = g_steal_pointer (&t);
  *path = reg_path (dir, reg->queue_id);
  *tmp = g_strdup_printf ("%s/.tmp-%s", dir, reg->queue_id);
  return TRUE;
}

/**
 * postfix_registration_write:
 *
 * Writes @reg as <dir>/<QID>.reg, atomically and durably (replacing an older one).
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
postfix_registration_write (const char                *dir,
                            const PostfixRegistration *reg,
                            GError                   **error)
{
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  g_autofree char *tmp = NULL;

  if (!registration_prepare (dir, reg, &text, &path, &tmp, error))
    return FALSE;
  return durable_file_replace (tmp, path, dir, text, strlen (text), error);
}

/**
 * postfix_registration_write_journaled:
 * @journal: this process's journal in @dir
 *
 * Writes @reg as <dir>/<QID>.reg, atomically, and returns once it is durable through
 * @journal (grouped with the other sessions' registrations).
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
postfix_registration_write_journaled (const char                *dir,
                                      DurableJournal            *journal,
                                      const PostfixRegistration *reg,
                                      GError                   **error)
{
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  g_autofree char *tmp = NULL;

  if (!registration_prepare (dir, reg, &text, &path, &tmp, error))
    return FALSE;
  return durable_journal_file_replace (journal, tmp, path, text, strlen (text), NULL, error);
}

/* Whether the journaled registration @reg is already on disk or superseded by @have, the
 * valid file of its queue id. A registration is told by its ENVID and arrival, not by the
 * queue id alone: Postfix reuses short queue ids, so the file may be an older message's
 * registration still there when the front journaled a new one under the same id. */
static gboolean
recover_superseded (const PostfixRegistration *reg,
                    const PostfixRegistration *have)
{
  if (have->arrival != reg->arrival)
    return have->arrival > reg->arrival; /* a newer one replaced it; else a reused id */
  /* Same arrival: the same registration (the file outlived the crash). Another ENVID in
   * the same second: the journal's, replayed in the order written, wins. */
  return g_strcmp0 (have->envid, reg->envid) == 0;
}

typedef struct
{
  const char *dir;
  GHashTable *pending; /* "ENVID\nArrival" -> PostfixRegistration pending its queue id, of
                        * the journal being replayed */
  gint64 now;
  guint orphans;       /* pending registrations by Message-ID restored as orphans */
} Recovery;

static char *
recover_key (const PostfixRegistration *reg)
{
  /* With the ident when there is one: two transactions of one ENVID in one second (a
   * client sending a message twice at once) are two registrations. */
  return g_strdup_printf ("%s\n%" G_GINT64_FORMAT "\n%s", reg->envid, reg->arrival,
                          reg->ident != NULL ? reg->ident : "");
}

/* The pending file of the journaled pending registration @pending removed, if it still
 * holds that registration: its queue id's record follows it in the journal, so QID.reg
 * is (or has just been made) durable. */
static void
recover_drop_pending (const char                *dir,
                      const PostfixRegistration *pending)
{
  PostfixPendingKey kind = pending->ident != NULL ? POSTFIX_PENDING_BY_IDENT
                                                  : POSTFIX_PENDING_BY_MESSAGE_ID;
  const char *key = pending->ident != NULL ? pending->ident : pending->message_id;

  if (key != NULL && postfix_registration_drop_pending_of (dir, kind, key, pending))
    g_message ("A pending registration (ENVID %s) whose queue id was journaled, removed",
               pending->envid);
}

/* Replay of one journaled registration: written durably unless the file of its queue id
 * is that registration or a newer one (recover_superseded). A pending one (no queue id
 * yet, its ident or Message-ID instead) is kept aside: it is restored after the replay
 * unless the journal also holds its registration under a queue id (then its pending
 * file, if still there, is removed: recover_drop_pending). A pending one by ident of a
 * journal of this boot (@this_boot) is not: its file was linked before any of the
 * message's data went upstream, and a front that is killed loses none of its writes, so
 * the file is there unless the follower bound it or the front dropped it (and the
 * journal has no queue-id record by ident to tell which: docs/durability.md). */
static gboolean
recover_one (const char *record,
             gsize       len,
             gboolean    this_boot,
             gpointer    data,
             GError    **error)
{
  Recovery *r = data;
  const char *dir = r->dir;
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autoptr (PostfixRegistration) have = NULL;
  g_autoptr (PostfixRegistration) pending = NULL;
  g_autoptr (GError) local = NULL;

  reg = postfix_registration_parse (record, len, &local);
  if (reg == NULL)
    {
      g_warning ("A journaled registration is skipped: %s", local->message);
      return TRUE;
    }
  if (reg->queue_id == NULL && reg->ident != NULL && this_boot)
    return TRUE;
  if (reg->queue_id == NULL)
    {
      char *key = recover_key (reg);

      g_hash_table_insert (r->pending, key, g_steal_pointer (&reg));
      return TRUE;
    }
  {
    g_autofree char *key = recover_key (reg);

    gpointer stored_key = NULL;
    gpointer stored = NULL;

    if (g_hash_table_steal_extended (r->pending, key, &stored_key, &stored))
      {
        g_free (stored_key);
        pending = stored;
      }
  }
  have = postfix_registration_read (dir, reg->queue_id, NULL);
  if (have == NULL || !recover_superseded (reg, have))
    {
      if (have != NULL)
        g_message ("Queue id %s was reused: its journaled registration (arrived %"
                   G_GINT64_FORMAT ") replaces the older one (arrived %" G_GINT64_FORMAT ")",
                   reg->queue_id, reg->arrival, have->arrival);
      if (!postfix_registration_write (dir, reg, error))
        {
          /* The journal is kept (no done callback): what it set aside goes with it, not
           * into the next journal's recover_done. */
          g_hash_table_remove_all (r->pending);
          return FALSE;
        }
    }
  /* Its pending file, if the front died before removing it (by Message-ID it would
   * hold up that Message-ID, and could be bound to another message's cleanup line). */
  if (pending != NULL)
    recover_drop_pending (dir, pending);
  return TRUE;
}

static gboolean recover_orphan (const char          *dir,
                                PostfixRegistration *pending,
                                gint64               now,
                                GError             **error);
static gboolean pending_prepare (const char                *dir,
                                 const PostfixRegistration *reg,
                                 char                     **text,
                                 char                     **path,
                                 char                     **tmp,
                                 GError                   **error);

/* The pending file of @pending (by ident) written again, not synced: the replay syncs
 * the file system before it removes the journal (durable_journal_replay()). */
static gboolean
recover_place_pending (const char                *dir,
                       const PostfixRegistration *pending,
                       GError                   **error)
{
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  g_autofree char *tmp = NULL;

  return pending_prepare (dir, pending, &text, &path, &tmp, error)
         && durable_journal_place (tmp, path, text, strlen (text), error);
}


/* After a journal's last record (DurableJournalReplayDoneFunc): its pending
 * registrations whose queue id the crash cut off, back on disk before the replay syncs
 * the file system and removes the journal. By ident (only from a journal of an earlier
 * boot: recover_one), for the follower to bind from smtpd's client line: unsynced, so
 * that a power cut's thousands cost one sync, not two each. By Message-ID, as orphans
 * (recover_orphan), which the follower settles from the log it has read. FALSE (one
 * could not be written): the journal stays for the next start. */
static gboolean
recover_done (gpointer data,
              GError **error)
{
  Recovery *r = data;
  GHashTableIter iter;
  gpointer value;
  gboolean ok = TRUE;

  g_hash_table_iter_init (&iter, r->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      PostfixRegistration *pending = value;
      g_autoptr (GError) local = NULL;

      if (pending->ident == NULL && pending->message_id != NULL)
        {
          if (recover_orphan (r->dir, pending, r->now, &local))
            r->orphans++;
        }
      else
        recover_place_pending (r->dir, pending, &local);
      if (local != NULL)
        {
          g_warning ("A pending registration cannot be restored: %s", local->message);
          if (ok)
            g_propagate_error (error, g_steal_pointer (&local));
          ok = FALSE;
        }
    }
  g_hash_table_remove_all (r->pending);
  return ok;
}

/* A pending registration by Message-ID of a dead front (journaled, its queue id not):
 * written again durably with "Orphaned: @now", unless its file now holds another
 * message's pending registration (the follower bound or the front dropped this one,
 * and a live front has taken the Message-ID since: not overwritten). Its file may be
 * there (the front died before its registration) or not (lost with the unsynced file,
 * bound by the follower, or dropped after Postfix's 4xx/5xx to the "."): either way the
 * follower settles it from the log it has read. Live fronts may write the same name
 * meanwhile: with no file, the orphan is linked in (link(2) fails if a front wrote one
 * since); over its own file, it is renamed in only if the name is still that file (a
 * front writes a new one only after this one is gone and its mid_acquire has looked
 * again, FRONT_PENDING_RECHECK_MS later). TRUE: an orphan written. */
static gboolean
recover_orphan (const char          *dir,
                PostfixRegistration *pending,
                gint64               now,
                GError             **error)
{
  g_autofree char *path = pending_path (dir, POSTFIX_PENDING_BY_MESSAGE_ID,
                                        pending->message_id, "");
  g_autofree char *tmp = pending_path (dir, POSTFIX_PENDING_BY_MESSAGE_ID,
                                       pending->message_id, ".tmp-o");
  g_autofree char *text = NULL;
  g_autoptr (PostfixRegistration) have = NULL;
  GStatBuf before;
  GStatBuf after;
  gboolean there = g_lstat (path, &before) == 0;

  have = there ? read_file (path, NULL) : NULL;
  if (have != NULL && have->queue_id == NULL
      && (have->arrival != pending->arrival || g_strcmp0 (have->envid, pending->envid) != 0))
    return FALSE;
  pending->orphaned = now;
  text = postfix_registration_format (pending);
  if (!durable_file_write (tmp, text, strlen (text), error))
    {
      g_unlink (tmp);
      return FALSE;
    }
  if (!there)
    {
      int saved = link (tmp, path) == 0 ? 0 : errno;

      g_unlink (tmp);
      if (saved == EEXIST)
        return FALSE; /* a live front's, since */
      if (saved != 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "link %s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      return durable_file_sync_dir (dir, error);
    }
  if (g_lstat (path, &after) != 0 || after.st_ino != before.st_ino
      || after.st_dev != before.st_dev)
    {
      g_unlink (tmp);
      return FALSE;
    }
  return durable_file_rename (tmp, path, dir, error);
}

/**
 * postfix_registration_recover:
 *
 * Restores the registrations journaled by front processes that are gone (a crash may
 * have lost their unsynced files). Call at start-up, before the first lookup. A pending
 * registration by Message-ID without its queue id's record comes back as an orphan
 * (recover_orphan; postfix-register.h), and the mark POSTFIX_REGISTRATION_ORPHANS_MARK
 * tells the follower. A pending registration by ident comes back only from a journal
 * written before the machine last started (recover_one).
 *
 * Returns: the number of journaled registrations seen
 */
guint
postfix_registration_recover (const char *dir,
                              GError    **error)
{
  Recovery r = { dir, g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) postfix_registration_free),
                 g_get_real_time () / G_USEC_PER_SEC, 0 };
  guint orphans;
  guint n;

  n = durable_journal_replay (dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX, recover_one,
                              recover_done, &r, error);
  g_hash_table_unref (r.pending);
  orphans = r.orphans;
  slots_sweep (dir);
  if (orphans > 0)
    {
      g_autofree char *mark = g_build_filename (dir, POSTFIX_REGISTRATION_ORPHANS_MARK, NULL);
      int fd = open (mark, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);

      /* Not synced: the follower also looks for orphans when it starts. */
      if (fd >= 0)
        close (fd);
      else
        g_warning ("Cannot create %s: %s", mark, g_strerror (errno));
      g_message ("%u pending registrations by Message-ID of a front that is gone, left for "
                 "the follower to settle",
                 orphans);
    }
  return n;
}

/**
 * postfix_registration_orphans_marked:
 *
 * Whether a replay left orphans since the last call (postfix_registration_recover); the
 * mark is removed (the caller then lists them: postfix_registration_list_orphans()).
 *
 * Returns: %TRUE when the mark was there
 */
gboolean
postfix_registration_orphans_marked (const char *dir)
{
  g_autofree char *mark = g_build_filename (dir, POSTFIX_REGISTRATION_ORPHANS_MARK, NULL);

  return g_unlink (mark) == 0;
}

/**
 * postfix_registration_list_orphans:
 *
 * The orphaned pending registrations in @dir (by Message-ID, with Orphaned:), read
 * from the pending files named by their Message-ID (a directory scan: call it only
 * when postfix_registration_orphans_marked() says so, or once at start).
 *
 * Returns: (transfer container) (element-type PostfixRegistration): the orphans
 */
GPtrArray *
postfix_registration_list_orphans (const char *dir)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) postfix_registration_free);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *expect = NULL;
      PostfixRegistration *reg;

      /* <SHA-256 in hex>.pending: by Message-ID (an ident's name starts with "msgtrk-"). */
      if (strlen (name) != 64 + strlen (PENDING_SUFFIX) || !g_str_has_suffix (name, PENDING_SUFFIX)
          || strspn (name, "0123456789abcdef") != 64)
        continue;
      path = g_build_filename (dir, name, NULL);
      reg = read_file (path, NULL);
      if (reg == NULL || reg->orphaned == 0 || reg->message_id == NULL
          || g_strcmp0 (path, expect = pending_path (dir, POSTFIX_PENDING_BY_MESSAGE_ID,
                                                     reg->message_id, "")) != 0)
        {
          g_clear_pointer (&reg, postfix_registration_free);
          continue;
        }
      g_ptr_array_add (out, reg);
    }
  return out;
}

/**
 * postfix_registration_ident_new:
 *
 * A transaction identifier for XFORWARD IDENT: POSTFIX_REGISTRATION_IDENT_PREFIX and
 * 128 random bits in hex, unique across front processes and restarts.
 *
 * Returns: (transfer full): the identifier
 */
char *
postfix_registration_ident_new (void)
{
  guint8 bytes[POSTFIX_REGISTRATION_IDENT_HEX / 2];
  GString *s = g_string_new (POSTFIX_REGISTRATION_IDENT_PREFIX);
  ssize_t got;

  do
    got = getrandom (bytes, sizeof bytes, 0);
  while (got < 0 && errno == EINTR);
  if (got != (ssize_t) sizeof bytes)
    for (gsize i = 0; i < sizeof bytes; i++)
      bytes[i] = (guint8) g_random_int ();
  for (gsize i = 0; i < sizeof bytes; i++)
    g_string_append_printf (s, "%02x", bytes[i]);
  return g_string_free (s, FALSE);
}

/**
 * postfix_registration_ident_is_valid:
 * @text: (nullable): a value of Postfix's orig_queue_id=
 *
 * Returns: whether @text has the shape of postfix_registration_ident_new() (what names
 *   a pending registration file, so nothing else is ever used in a path)
 */
gboolean
postfix_registration_ident_is_valid (const char *text)
{
  gsize plen = strlen (POSTFIX_REGISTRATION_IDENT_PREFIX);

  if (text == NULL || strncmp (text, POSTFIX_REGISTRATION_IDENT_PREFIX, plen) != 0
      || strlen (text) != plen + POSTFIX_REGISTRATION_IDENT_HEX)
    return FALSE;
  for (gsize i = plen; text[i] != '\0'; i++)
    if (!g_ascii_isdigit (text[i]) && !(text[i] >= 'a' && text[i] <= 'f'))
      return FALSE;
  return TRUE;
}

/* The pending file of @key: <ident>.pending, or <SHA-256 of the Message-ID>.pending
 * (distinct: an ident starts with a letter that is no hex digit). NULL: not an ident. */
static char *
pending_path (const char        *dir,
              PostfixPendingKey  kind,
              const char        *key,
              const char        *prefix)
{
  g_autofree char *sum = NULL;
  g_autofree char *name = NULL;

  if (kind == POSTFIX_PENDING_BY_IDENT)
    {
      if (!postfix_registration_ident_is_valid (key))
        return NULL;
      name = g_strconcat (prefix, key, PENDING_SUFFIX, NULL);
    }
  else
    {
      sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
      name = g_strconcat (prefix, sum, PENDING_SUFFIX, NULL);
    }
  return g_build_filename (dir, name, NULL);
}

/* The text of the pending registration @reg (no queue id; by its ident, else by its
 * Message-ID), its path and temporary path, or FALSE (too long, a bad key). */
static gboolean
pending_prepare (const char                *dir,
                 const PostfixRegistration *reg,
                 char                     **text,
                 char                     **path,
                 char                     **tmp,
                 GError                   **error)
{
  PostfixPendingKey kind = reg->ident != NULL ? POSTFIX_PENDING_BY_IDENT
                                              : POSTFIX_PENDING_BY_MESSAGE_ID;
  const char *key = reg->ident != NULL ? reg->ident : reg->message_id;
  g_autofree char *t = NULL;
  g_autofree char *p = NULL;

  g_return_val_if_fail (reg->queue_id == NULL && key != NULL, FALSE);
  t = postfix_registration_format (reg);
  if (strlen (t) > POSTFIX_REGISTRATION_MAX_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "A pending registration would exceed %d octets",
                   POSTFIX_REGISTRATION_MAX_SIZE);
      return FALSE;
    }
  p = pending_path (dir, kind, key, "");
  if (p == NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "Not a transaction ident");
      return FALSE;
    }
  *tmp = pending_path (dir, kind, key, ".tmp-p");
  *text = g_steal_pointer (&t);
  *path = g_steal_pointer (&p);
  return TRUE;
}

/**
 * postfix_registration_write_pending:
 * @journal: (nullable): this process's journal in @dir; NULL: written durably at once
 * @reg: a registration without queue id, with its ident (XFORWARD IDENT) or else its
 *   message_id
 * @ticket: (out) (optional): with @journal, the call returns before the registration is
 *   durable and the caller waits for @ticket (durable_journal_wait())
 *
 * Writes @reg as <dir>/<ident>.pending, or <dir>/<SHA-256 of its Message-ID>.pending: a
 * tracked message whose queue id is not known yet (the front writes it before the
 * message's data goes to Postfix; the follower binds it to the queue id of the smtpd
 * "client=" line with "orig_queue_id=<ident>", or of the first cleanup line with the
 * Message-ID, postfix_registration_claim_pending()).
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
postfix_registration_write_pending (const char                *dir,
                                    DurableJournal            *journal,
                                    const PostfixRegistration *reg,
                                    guint64                   *ticket,
                                    GError                   **error)
{
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  g_autofree char *tmp = NULL;

  if (!pending_prepare (dir, reg, &text, &path, &tmp, error))
    return FALSE;
  if (journal == NULL)
    return durable_file_replace (tmp, path, dir, text, strlen (text), error);
  return durable_journal_file_replace (journal, tmp, path, text, strlen (text), ticket, error);
}

/* A slot file kept open (the slot's number below POSTFIX_REGISTRATION_SLOT_OPEN): used
 * only by whoever holds that slot (slot_take to slot_give: the slots' lock orders them). */
typedef struct
{
  int fd;    /* -1: none kept */
  dev_t dev; /* the file it is, to tell it from what its name holds now */
  ino_t ino;
} SlotKept;

struct _PostfixPendingSlots
{
  char *stem;    /* (owned) <dir>/.slot-<journal's suffix>- */
  uid_t uid;     /* the process's effective user, who owns its slots (looked up once:
                  * two system calls a message fewer) */
  gint keep;     /* (atomic) /proc/self/fd is there: slots are kept open and linked from
                  * their descriptor (slot_fill); off after a link through it fails other
                  * than for a name gone */
  GMutex lock;
  GQueue idle;   /* slot numbers (GUINT_TO_POINTER (n + 1)), the longest linked first */
  guint made;    /* slots created, numbered 0 to made - 1; under lock */
  gint opened;   /* (atomic) open(2) calls of slot files, for tests */
  SlotKept kept[POSTFIX_REGISTRATION_SLOT_OPEN];
};

/**
 * postfix_pending_slots_new:
 * @journal: this front's journal in @dir (its name names the slots)
 *
 * The pending registrations by ident of this front written into slot files
 * (postfix_registration_start_pending()): a slot file is written in place and
 * hard-linked as <ident>.pending; once the follower (or the front) has removed that
 * name, its link count is 1 again and the slot takes the next message's. No inode is
 * allocated per message while the follower keeps up.
 *
 * Returns: (transfer full): the slots (none made yet)
 */
PostfixPendingSlots *
postfix_pending_slots_new (const char     *dir,
                           DurableJournal *journal)
{
  PostfixPendingSlots *slots = g_new0 (PostfixPendingSlots, 1);
  g_autofree char *base = g_path_get_basename (durable_journal_get_path (journal));
  const char *suffix = base;

  if (g_str_has_prefix (base, POSTFIX_REGISTRATION_JOURNAL_PREFIX))
    suffix += strlen (POSTFIX_REGISTRATION_JOURNAL_PREFIX);
  slots->stem = g_strdup_printf ("%s/%s%s-", dir, POSTFIX_REGISTRATION_SLOT_PREFIX, suffix);
  slots->uid = geteuid ();
  slots->keep = g_file_test ("/proc/self/fd", G_FILE_TEST_IS_DIR);
  for (guint n = 0; n < POSTFIX_REGISTRATION_SLOT_OPEN; n++)
    slots->kept[n].fd = -1;
  g_mutex_init (&slots->lock);
  g_queue_init (&slots->idle);
  return slots;
}

/* postfix_pending_slots_free: the slot files' own names removed (the <ident>.pending
 * names of their registrations stay for the follower), then @slots freed. */
void
postfix_pending_slots_free (PostfixPendingSlots *slots)
{
  if (slots == NULL)
    return;
  for (guint n = 0; n < POSTFIX_REGISTRATION_SLOT_OPEN; n++)
    if (slots->kept[n].fd >= 0)
      close (slots->kept[n].fd);
  for (guint n = 0; n < slots->made; n++)
    {
      g_autofree char *path = g_strdup_printf ("%s%u", slots->stem, n);

      g_unlink (path);
    }
  g_queue_clear (&slots->idle);
  g_mutex_clear (&slots->lock);
  g_free (slots->stem);
  g_free (slots);
}

/* postfix_pending_slots_opened: how many times a slot file of @slots was opened (tests). */
guint
postfix_pending_slots_opened (PostfixPendingSlots *slots)
{
  return (guint) g_atomic_int_get (&slots->opened);
}

/* postfix_pending_slots_made: how many slot files @slots created (tests, benches). */
guint
postfix_pending_slots_made (PostfixPendingSlots *slots)
{
  guint n;

  g_mutex_lock (&slots->lock);
  n = slots->made;
  g_mutex_unlock (&slots->lock);
  return n;
}

/* A slot for one registration: of the idle ones that were linked longest, the first of
 * POSTFIX_REGISTRATION_SLOT_PROBES whose pending name is gone (link count 1; *seen what
 * its name holds; one still linked goes to the back, so a pending registration kept for long,
 * e.g. one whose reply to the "." was lost, does not hold up the others) or whose own
 * name is gone, not a regular file or not ours (made again under its number, *fresh: the count of
 * slots stays), else a new one (*fresh) while fewer than
 * POSTFIX_REGISTRATION_PENDING_SLOTS exist, else -1. */
static gint64
slot_take (PostfixPendingSlots *slots,
           gboolean            *fresh,
           GStatBuf            *seen)
{
  gint64 n = -1;
  guint probes = 0;

  *fresh = FALSE;
  memset (seen, 0, sizeof *seen);
  g_mutex_lock (&slots->lock);
  while (n < 0 && probes < POSTFIX_REGISTRATION_SLOT_PROBES && !g_queue_is_empty (&slots->idle))
    {
      gpointer head = g_queue_pop_head (&slots->idle);
      g_autofree char *path = g_strdup_printf ("%s%u", slots->stem, GPOINTER_TO_UINT (head) - 1);
      GStatBuf st;

      probes++;
      if (g_lstat (path, &st) != 0 || !S_ISREG (st.st_mode) || st.st_uid != slots->uid)
        {
          /* Its name gone (or not a file, or not ours: slot_fill would refuse it every
           * time): this number made again, fresh. */
          n = GPOINTER_TO_UINT (head) - 1;
          *fresh = TRUE;
        }
      else if (st.st_nlink == 1)
        {
          *seen = st;
          n = GPOINTER_TO_UINT (head) - 1;
        }
      else
        g_queue_push_tail (&slots->idle, head); /* still linked: looked at again later */
    }
  if (n < 0 && slots->made < POSTFIX_REGISTRATION_PENDING_SLOTS)
    {
      n = slots->made++;
      *fresh = TRUE;
    }
  g_mutex_unlock (&slots->lock);
  return n;
}

/* The slot @n back, linked (or not, after a failure: then it is reused at once). */
static void
slot_give (PostfixPendingSlots *slots,
           gint64               n)
{
  g_mutex_lock (&slots->lock);
  g_queue_push_tail (&slots->idle, GUINT_TO_POINTER ((guint) n + 1));
  g_mutex_unlock (&slots->lock);
}

/* One pending registration by ident being written (postfix_registration_start_pending():
 * the job's data, slot_write_free'd with it). */
typedef struct
{
  PostfixPendingSlots *slots; /* (nullable) */
  char                *text;  /* (owned) */
  gsize len;
  char                *path; /* (owned) <ident>.pending */
  char                *tmp;  /* (owned) without a slot */
} SlotWrite;

static void
slot_write_free (gpointer data)
{
  SlotWrite *w = data;

  g_free (w->text);
  g_free (w->path);
  g_free (w->tmp);
  g_free (w);
}

/* Slot @n holds @w's text (written in place: nothing links it) and is linked as
 * <ident>.pending. The slot opened without blocking (a FIFO put at its name by someone
 * who may write the directory must not hold the journal's lock) and used only when it
 * is a regular file of ours with no other link. A slot numbered below
 * POSTFIX_REGISTRATION_SLOT_OPEN stays open for its next use while its name holds that
 * same file (@seen: slot_take's look at the name), and is linked from its descriptor
 * (/proc/self/fd), so whatever took its name since that look is never linked: a file
 * without a name any more cannot be linked (ENOENT), and the message gets a file of its
 * own. */
static gboolean
slot_fill (const SlotWrite *w,
           gint64           n,
           gboolean         fresh,
           const GStatBuf  *seen,
           GError         **error)
{
  g_autofree char *slot = g_strdup_printf ("%s%u", w->slots->stem, (guint) n);
  int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (fresh ? O_CREAT | O_EXCL : 0);
  SlotKept *kept = g_atomic_int_get (&w->slots->keep) && n < POSTFIX_REGISTRATION_SLOT_OPEN
                     ? &w->slots->kept[n]
                     : NULL;
  goffset size = fresh ? 0 : seen->st_size;
  int fd = -1;
  gsize done = 0;
  int saved = 0;
  struct stat st;

  if (test_hook != NULL && !fresh)
    test_hook (POSTFIX_REGISTER_HOOK_FILL, slot, test_hook_data);
  if (kept != NULL && kept->fd >= 0
      && (fresh || kept->dev != seen->st_dev || kept->ino != seen->st_ino))
    {
      /* Its name holds another file now, or none. */
      close (kept->fd);
      kept->fd = -1;
    }
  if (kept != NULL && kept->fd >= 0)
    fd = kept->fd;
  else
    {
      g_atomic_int_inc (&w->slots->opened);
      fd = open (slot, flags, 0640);
      if (fd < 0 && fresh && errno == EEXIST)
        {
          /* A slot file of this name left by an earlier run (its journal's name again),
           * or what took the place of a slot whose name went. */
          g_unlink (slot);
          fd = open (slot, flags, 0640);
        }
      if (fd < 0)
        saved = errno;
      else if (fstat (fd, &st) != 0)
        saved = errno;
      else if (!S_ISREG (st.st_mode) || st.st_uid != w->slots->uid || st.st_nlink != 1)
        saved = EPERM; /* not a lone file of ours: not written */
      else if (kept != NULL)
        *kept = (SlotKept) { fd, st.st_dev, st.st_ino };
    }
  while (saved == 0 && done < w->len)
    {
      ssize_t got = pwrite (fd, w->text + done, w->len - done, (off_t) done);

      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        saved = got < 0 ? errno : EIO;
      else
        done += (gsize) got;
    }
  if (saved == 0 && size > (goffset) w->len && ftruncate (fd, (off_t) w->len) != 0)
    saved = errno;
  if (kept != NULL && kept->fd == fd && fd >= 0)
    {
      char by_fd[sizeof "/proc/self/fd/-2147483648"];

      g_snprintf (by_fd, sizeof by_fd, "/proc/self/fd/%d", fd);

      if (saved == 0 && linkat (AT_FDCWD, by_fd, AT_FDCWD, w->path, AT_SYMLINK_FOLLOW) != 0)
        {
          gboolean by_proc;

          saved = errno;
          /* ENOENT: the kept file's name gone (no link left to make another from), unless
           * the descriptor's name in /proc does not resolve either (/proc unmounted, or
           * another mounted over it, since the start); else not the pending name there
           * already nor a full disk: the link through /proc fails as such here (a
           * security module). Either way, from now on slots are opened and linked by
           * name, as without /proc. */
          if (saved == ENOENT)
            by_proc = access (by_fd, F_OK) != 0;
          else
            by_proc = saved != EEXIST && saved != ENOSPC && saved != EDQUOT;
          if (by_proc && g_atomic_int_compare_and_exchange (&w->slots->keep, TRUE, FALSE))
            g_warning ("Cannot link a pending registration through %s (%s): slot files are "
                       "opened for each message from now on",
                       by_fd, g_strerror (saved));
        }
      if (saved != 0)
        {
          close (fd); /* opened again, and looked at, next time */
          kept->fd = -1;
        }
    }
  else
    {
      if (fd >= 0 && close (fd) != 0 && saved == 0)
        saved = errno;
      if (saved == 0 && link (slot, w->path) != 0)
        saved = errno;
    }
  if (saved != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "pending registration slot %s: %s", slot, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
slot_apply (gpointer data,
            GError **error)
{
  SlotWrite *w = data;
  gboolean fresh = FALSE;
  GStatBuf seen;
  gint64 n = w->slots != NULL ? slot_take (w->slots, &fresh, &seen) : -1;
  g_autoptr (GError) local = NULL;

  if (n >= 0)
    {
      if (slot_fill (w, n, fresh, &seen, &local))
        {
          slot_give (w->slots, n);
          return TRUE;
        }
      /* Not linked: the slot is idle again (its link count still 1), and the message
       * gets a file of its own. */
      g_debug ("%s; a file of its own instead", local->message);
      slot_give (w->slots, n);
    }
  return durable_journal_place (w->tmp, w->path, w->text, w->len, error);
}

/**
 * postfix_registration_start_pending:
 * @slots: (nullable): this front's slots; NULL: a file of its own
 * @dir: the registration directory
 * @journal: this front's journal
 * @reg: a registration without queue id, with its ident
 *
 * As postfix_registration_write_pending() with @journal, started and not waited for
 * (durable_journal_apply_start()): the registration journaled, <dir>/<ident>.pending made
 * unsynced (the journal makes it durable), then the journal's sync, all in a pool thread
 * while the caller goes on. The file is a slot of @slots linked under that name (no new
 * inode), or a file of its own when no slot is free (the follower has not bound the
 * earlier ones yet). The caller joins the write (durable_journal_job_written()) before it
 * relies on the file, the sync (durable_journal_job_finish()) before it relies on its
 * durability, and frees the job (durable_journal_job_free()) on every other exit. A join
 * parks a coroutine; in a thread without one (a test, a tool) it waits on the job's
 * condition variable, so the write-and-wait form is this job finished at once. The
 * shared pool's threads do not survive fork(): a child process that writes one is
 * exec'ed (tests: g_test_trap_subprocess()).
 *
 * Returns: (transfer full): the job, or %NULL with @error set (too long, a bad ident)
 */
DurableJournalJob *
postfix_registration_start_pending (PostfixPendingSlots       *slots,
                                    const char                *dir,
                                    DurableJournal            *journal,
                                    const PostfixRegistration *reg,
                                    GError                   **error)
{
  SlotWrite *w;

  g_return_val_if_fail (reg->ident != NULL, NULL);
  w = g_new0 (SlotWrite, 1);
  if (!pending_prepare (dir, reg, &w->text, &w->path, &w->tmp, error))
    {
      slot_write_free (w);
      return NULL;
    }
  w->slots = slots;
  w->len = strlen (w->text);
  return durable_journal_apply_start (journal, w->text, w->len, slot_apply, w, slot_write_free);
}

/* The slot files of fronts whose journal is gone (killed: their journal replayed and
 * removed), removed: their <ident>.pending names, if any, stay. */
static void
slots_sweep (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      const char *suffix;
      const char *dash;
      g_autofree char *journal = NULL;
      g_autofree char *path = NULL;
      GStatBuf st;

      if (!g_str_has_prefix (name, POSTFIX_REGISTRATION_SLOT_PREFIX))
        continue;
      suffix = name + strlen (POSTFIX_REGISTRATION_SLOT_PREFIX);
      dash = strrchr (suffix, '-');
      if (dash == NULL)
        continue;
      journal = g_strdup_printf ("%s/%s%.*s", dir, POSTFIX_REGISTRATION_JOURNAL_PREFIX,
                                 (int) (dash - suffix), suffix);
      if (g_lstat (journal, &st) == 0)
        continue; /* its front lives (or its journal waits for a replay) */
      path = g_build_filename (dir, name, NULL);
      g_unlink (path);
    }
}

/**
 * postfix_registration_pending_exists:
 *
 * Returns: whether a pending registration for @key (an ident or a Message-ID, @kind) is
 *   on disk
 */
gboolean
postfix_registration_pending_exists (const char        *dir,
                                     PostfixPendingKey  kind,
                                     const char        *key)
{
  g_autofree char *path = pending_path (dir, kind, key, "");
  GStatBuf st;

  return path != NULL && g_lstat (path, &st) == 0 && S_ISREG (st.st_mode);
}

static void
unlink_run (gpointer data)
{
  g_unlink (data);
}

/**
 * postfix_registration_drop_pending:
 *
 * Removes the pending registration of @key (the front, when Postfix refused the
 * message, or once QID.reg is durable; not synced: one that comes back after a crash
 * binds nothing or expires). In a coroutine the unlink runs in a pool thread
 * (server_coro_run_in_thread(): a file system that stalls holds up this session only,
 * as the journal's steps do, docs/durability.md "Off the loop thread").
 */
void
postfix_registration_drop_pending (const char        *dir,
                                   PostfixPendingKey  kind,
                                   const char        *key)
{
  g_autofree char *path = pending_path (dir, kind, key, "");

  if (path != NULL)
    server_coro_run_in_thread (unlink_run, path);
}

/**
 * postfix_registration_drop_pending_of:
 * @reg: a registration (its ENVID and arrival)
 *
 * Removes the pending registration of @key if it holds @reg's registration (the same
 * ENVID and arrival: the front makes both from one message), not another message's.
 *
 * Returns: %TRUE when it was removed
 */
gboolean
postfix_registration_drop_pending_of (const char                *dir,
                                      PostfixPendingKey          kind,
                                      const char                *key,
                                      const PostfixRegistration *reg)
{
  g_autofree char *path = pending_path (dir, kind, key, "");
  g_autoptr (PostfixRegistration) on_disk = path != NULL ? read_file (path, NULL) : NULL;

  return on_disk != NULL && on_disk->queue_id == NULL && on_disk->arrival == reg->arrival
         && g_strcmp0 (on_disk->envid, reg->envid) == 0 && g_unlink (path) == 0;
}

/**
 * postfix_registration_claim_pending:
 * @kind: what @key is
 * @key: the orig_queue_id of Postfix's smtpd "client=" line (an ident), or the
 *   Message-ID of its cleanup line
 * @queue_id: the queue id of that line
 *
 * Binds the pending registration of @key to @queue_id: written durably as
 * <dir>/<QID>.reg, then the pending file removed. A registration by Message-ID is
 * never bound to one of its Skip-Queue-Id.
 *
 * Returns: %TRUE when a registration was bound; %FALSE with @error unset when none
 * was pending (or its name went during the read), with @error set when it could not be
 * written or its name was replaced during each read (retry)
 */
gboolean
postfix_registration_claim_pending (const char        *dir,
                                    PostfixPendingKey  kind,
                                    const char        *key,
                                    const char        *queue_id,
                                    GError           **error)
{
  g_autofree char *path = pending_path (dir, kind, key, "");
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autoptr (GError) local = NULL;

  if (!queue_id_check (queue_id, error))
    return FALSE;
  if (path == NULL)
    return FALSE;
  reg = read_file (path, &local);
  if (reg == NULL && g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
    return FALSE; /* none pending (or it went meanwhile) */
  if (reg == NULL && g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_TIMEOUT))
    {
      g_propagate_error (error, g_steal_pointer (&local)); /* kept being replaced: retry */
      return FALSE;
    }
  if (reg == NULL || reg->queue_id != NULL
      || g_strcmp0 (kind == POSTFIX_PENDING_BY_IDENT ? reg->ident : reg->message_id, key) != 0
      || (kind == POSTFIX_PENDING_BY_MESSAGE_ID && reg->ident != NULL))
    {
      g_message ("%s: not a pending registration of this %s (%s), removed", path,
                 kind == POSTFIX_PENDING_BY_IDENT ? "ident" : "Message-ID",
                 local != NULL ? local->message : "another key");
      g_unlink (path);
      return FALSE;
    }
  for (guint i = 0; i < reg->skip->len; i++)
    if (g_str_equal (g_ptr_array_index (reg->skip, i), queue_id))
      return FALSE; /* another message with this Message-ID (the front passed it before) */
  /* By ident, the ident stays (Ident: with Queue-Id: names the transaction it was bound
   * from, postfix_registration_make_current()). */
  g_clear_pointer (&reg->message_id, g_free);
  g_ptr_array_set_size (reg->skip, 0);
  reg->queue_id = g_strdup (queue_id);
  if (!postfix_registration_write (dir, reg, error))
    return FALSE;
  g_unlink (path);
  return TRUE;
}

/* Where the registration of @queue_id bound from transaction @ident waits while another
 * message has that queue id (postfix_registration_make_current). */
static char *
superseded_path (const char *dir,
                 const char *queue_id,
                 const char *ident)
{
  g_autofree char *name = g_strconcat (queue_id, ".", ident, SUPERSEDED_SUFFIX, NULL);

  return g_build_filename (dir, name, NULL);
}

/* The registration of @queue_id in @dir (*@reg, NULL when there is none) and its path.
 * One that cannot be read for good (malformed, too large: the follower's lines of it are
 * dropped as unregistered) is none here too, warned: a new message's line must not wait
 * on it for ever. FALSE with @error when @queue_id is no queue id or the file cannot be
 * read now (try again). */
static gboolean
read_current (const char           *dir,
              const char           *queue_id,
              char                **path,
              PostfixRegistration **reg,
              GError              **error)
{
  g_autoptr (GError) local = NULL;

  if (!queue_id_check (queue_id, error))
    return FALSE;
  *path = reg_path (dir, queue_id);
  *reg = read_file (*path, &local);
  if (*reg != NULL || g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
    return TRUE;
  if (g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_PARSE)
      || g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT))
    {
      g_warning ("%s: left alone (a new message under its queue id): %s", *path,
                 local->message);
      return TRUE;
    }
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

/* Set aside @reg, read from @path (@queue_id's), an earlier message's registration: as
 * QID.<its ident>.superseded (made current again by its client line read again), or
 * removed when it has no Ident: (nothing would make it current again). */
static gboolean
set_aside (const char                *dir,
           const char                *queue_id,
           const char                *path,
           const PostfixRegistration *reg,
           GError                   **error)
{
  g_autofree char *aside = reg->ident != NULL ? superseded_path (dir, queue_id, reg->ident)
                                              : NULL;

  if (aside != NULL ? g_rename (path, aside) != 0 : g_unlink (path) != 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot set aside %s, an earlier message's registration: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/**
 * postfix_registration_make_current:
 * @queue_id: the queue id of smtpd's "QID: client=..." line (a new message under it)
 * @ident: (nullable): that line's transaction ident (orig_queue_id=, a valid one), or
 *   %NULL
 * @done: (out): what was changed, for the log
 *
 * Postfix logs "QID: client=..." when a new message gets the queue id QID (the queue
 * file created at its first accepted RCPT). A registration of QID that is not this
 * transaction's (its Ident: is another, or it has none while @ident is set) belongs to
 * an earlier message that had the same queue id: one whose transaction Postfix
 * discarded after the follower bound it (the client gone in DATA, a reject at the end
 * of data: an ident is bound at the client line), or one delivered and gone, its short
 * queue id reused. It is set aside as QID.<its ident>.superseded (one without Ident:
 * removed), so that the new message's lines are not applied to it; and this
 * transaction's own registration, if an earlier call set it aside, is made current
 * again. The follower meets the client lines of both messages again, in log order,
 * when it reads the log again after a restart: it ends where it was, nothing lost. A
 * registration without Ident: and a line without ident (by Message-ID, by queue id
 * without XFORWARD, derived) cannot be told apart: it stays. Set-aside files are
 * removed once expired (postfix_registration_expire). The directory is synced after a
 * change.
 *
 * Returns: %FALSE with @error set when a file could not be renamed or removed, or the
 *   directory not synced (try again)
 */
gboolean
postfix_registration_make_current (const char            *dir,
                                   const char            *queue_id,
                                   const char            *ident,
                                   PostfixCurrentChange  *done,
                                   GError               **error)
{
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autofree char *path = NULL;

  *done = POSTFIX_CURRENT_KEPT;
  if (!read_current (dir, queue_id, &path, &reg, error))
    return FALSE;
  if (ident != NULL && !postfix_registration_ident_is_valid (ident))
    ident = NULL;
  if (reg != NULL && g_strcmp0 (reg->ident, ident) == 0)
    return TRUE;
  if (reg != NULL && (reg->ident != NULL || ident != NULL))
    {
      if (!set_aside (dir, queue_id, path, reg, error))
        return FALSE;
      *done |= POSTFIX_CURRENT_SET_ASIDE;
    }
  if (ident != NULL && (reg == NULL || (*done & POSTFIX_CURRENT_SET_ASIDE)))
    {
      g_autofree char *mine = superseded_path (dir, queue_id, ident);
      GStatBuf st;

      if (g_lstat (mine, &st) == 0 && S_ISREG (st.st_mode))
        {
          if (g_rename (mine, path) != 0)
            {
              int saved = errno;

              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                           "Cannot make %s current again: %s", mine, g_strerror (saved));
              return FALSE;
            }
          *done |= POSTFIX_CURRENT_RESTORED;
        }
    }
  return *done == POSTFIX_CURRENT_KEPT || durable_file_sync_dir (dir, error);
}

/**
 * postfix_registration_start:
 * @queue_id: the queue id of cleanup's "QID: message-id=<...>" line
 * @logged: that line's time stamp (unix seconds), 0 when it cannot be compared with
 *   the registrations' arrival times (unknown, or ahead of this clock: the caller's)
 * @done: (out): what was changed, for the log
 *
 * Cleanup logs "QID: message-id=" (or "message-id=<>") for the header of every message,
 * before any delivery of it: the first line of a message that has no client line (the
 * bounce daemon's notifications, local(8)'s "forwarded as" copies), which may get a
 * short queue id an earlier tracked message had. So the registration of QID is checked
 * against the line:
 *
 * - derived (Parent:): an earlier copy's (a copy's registration is written at its
 *   parent's line, after the copy's header line): removed. A replay after a restart that
 *   reads a copy's own header line again reads its parent's line after it, which
 *   derives it again;
 * - arrived more than POSTFIX_REGISTRATION_REUSE_AFTER seconds before @logged: an
 *   earlier message's (a message's header is logged within its data's deadline after
 *   the front took its DATA, the registration's arrival): set aside as
 *   postfix_registration_make_current() does;
 * - otherwise kept: this message's, or a later one's (the line read late: a backlog, a
 *   replay), or an earlier one's whose queue id came back within the bound (not told).
 *
 * The decision rests on the line and the file alone, so reading the log again after a
 * restart, or a registration restored by a front's journal, ends the same way. A
 * registration that cannot be read (malformed, too large) is left alone (warning).
 *
 * Returns: %FALSE with @error set when the registration could not be read, renamed or
 *   removed, or the directory not synced (try again)
 */
gboolean
postfix_registration_start (const char            *dir,
                            const char            *queue_id,
                            gint64                 logged,
                            PostfixCurrentChange  *done,
                            GError               **error)
{
  g_autoptr (PostfixRegistration) reg = NULL;
  g_autofree char *path = NULL;

  *done = POSTFIX_CURRENT_KEPT;
  if (!queue_id_check (queue_id, error))
    return FALSE;
  /* Most queue ids have none: no read (and its buffer) for them. */
  if (!postfix_registration_exists (dir, queue_id))
    return TRUE;
  if (!read_current (dir, queue_id, &path, &reg, error))
    return FALSE;
  if (reg == NULL)
    return TRUE;
  if (reg->parent == NULL
      && (logged <= 0 || logged - reg->arrival <= POSTFIX_REGISTRATION_REUSE_AFTER))
    return TRUE;
  if (!set_aside (dir, queue_id, path, reg, error))
    return FALSE;
  *done = POSTFIX_CURRENT_SET_ASIDE;
  return durable_file_sync_dir (dir, error);
}

/* The file @path names read whole into @buf (*got octets): 1; its name gone meanwhile: 0
 * (ENOENT in *saved when it was never there); the name taken by another inode during the
 * read: 2; a failure: -1 (*saved). */
static int
read_once (const char *path,
           char       *buf,
           gsize      *got,
           int        *saved)
{
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  GStatBuf named;
  struct stat held;
  int outcome;

  *got = 0;
  *saved = 0;
  if (fd < 0)
    {
      *saved = errno;
      return *saved == ENOENT ? 0 : -1;
    }
  if (test_hook != NULL)
    test_hook (POSTFIX_REGISTER_HOOK_READ, path, test_hook_data);
  for (;;)
    {
      ssize_t n = read (fd, buf + *got, POSTFIX_REGISTRATION_MAX_SIZE + 1 - *got);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      *got += (gsize) n;
      if (*got == POSTFIX_REGISTRATION_MAX_SIZE + 1)
        break;
    }
  /* A pending slot is rewritten in place once its pending name is gone, and an ident's
   * name never comes back: the same inode still under the name after the read means
   * nobody could rewrite it during the read. */
  if (fstat (fd, &held) != 0)
    {
      *saved = errno;
      outcome = -1;
    }
  else if (g_lstat (path, &named) != 0)
    {
      *saved = errno == ENOENT ? 0 : errno; /* 0: "removed while read" */
      outcome = *saved == 0 ? 0 : -1;
    }
  else if (named.st_ino != held.st_ino || named.st_dev != held.st_dev)
    outcome = 2;
  else
    outcome = 1;
  close (fd);
  return outcome;
}

/* The registration in @path: at most POSTFIX_REGISTRATION_MAX_SIZE octets, never through
 * a symlink, never one read while its name went (a pending slot then may be rewritten
 * under the reader): none is MSGTRK_ERROR_NOT_FOUND. */
static PostfixRegistration *
read_file (const char *path,
           GError    **error)
{
  g_autofree char *buf = g_malloc (POSTFIX_REGISTRATION_MAX_SIZE + 1);
  gsize got = 0;
  int saved = 0;
  int outcome = 2;
  PostfixRegistration *reg;

  for (guint tries = 0; outcome == 2 && tries <= POSTFIX_REGISTRATION_READ_RETRIES; tries++)
    outcome = read_once (path, buf, &got, &saved);
  if (outcome != 1)
    {
      if (outcome == 0)
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND, "%s: %s", path,
                     saved == ENOENT ? g_strerror (saved) : "removed while read");
      else if (outcome == 2)
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TIMEOUT,
                     "%s: replaced during each of %d reads", path, POSTFIX_REGISTRATION_READ_RETRIES + 1);
      else
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED, "Cannot read %s: %s", path,
                     g_strerror (saved));
      return NULL;
    }
  reg = postfix_registration_parse (buf, got, error);
  if (reg == NULL)
    g_prefix_error (error, "%s: ", path);
  return reg;
}

/**
 * postfix_registration_read:
 *
 * Reads the registration of @queue_id; none is %MSGTRK_ERROR_NOT_FOUND.
 *
 * Returns: (transfer full) (nullable): the registration, or %NULL with @error set
 */
PostfixRegistration *
postfix_registration_read (const char *dir,
                           const char *queue_id,
                           GError    **error)
{
  g_autofree char *path = NULL;
  PostfixRegistration *reg;

  if (!queue_id_check (queue_id, error))
    return NULL;
  path = reg_path (dir, queue_id);
  reg = read_file (path, error);
  if (reg != NULL && g_strcmp0 (reg->queue_id, queue_id) != 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "%s: names another queue id", path);
      g_clear_pointer (&reg, postfix_registration_free);
    }
  return reg;
}

gboolean
postfix_registration_exists (const char *dir,
                             const char *queue_id)
{
  g_autofree char *path = NULL;
  GStatBuf st;

  if (!postfix_log_is_queue_id (queue_id, strlen (queue_id)))
    return FALSE;
  path = reg_path (dir, queue_id);
  return g_lstat (path, &st) == 0 && S_ISREG (st.st_mode);
}

/**
 * postfix_registration_expire:
 *
 * Removes the registrations whose Expires has passed at @now, malformed ones older
 * than a day, and temporary files older than an hour.
 *
 * Returns: the number of files removed
 */
guint
postfix_registration_expire (const char *dir,
                             gint64      now)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint removed = 0;

  if (d == NULL)
    return 0;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      gboolean drop = FALSE;
      GStatBuf st;

      if (g_lstat (path, &st) != 0 || !S_ISREG (st.st_mode))
        continue;
      if (g_str_has_prefix (name, ".tmp-"))
        drop = (gint64) st.st_mtime + 3600 < now;
      else if (g_str_has_suffix (name, PENDING_SUFFIX))
        drop = (gint64) st.st_mtime + POSTFIX_REGISTRATION_PENDING_MAX_AGE < now;
      else if (g_str_has_suffix (name, SUPERSEDED_SUFFIX))
        {
          g_autoptr (PostfixRegistration) reg = read_file (path, NULL);

          drop = reg != NULL ? reg->expires <= now : (gint64) st.st_mtime + 86400 < now;
        }
      else if (g_str_has_suffix (name, REG_SUFFIX))
        {
          g_autofree char *qid = g_strndup (name, strlen (name) - strlen (REG_SUFFIX));
          g_autoptr (PostfixRegistration) reg = postfix_registration_read (dir, qid, NULL);

          drop = reg != NULL ? reg->expires <= now : (gint64) st.st_mtime + 86400 < now;
        }
      if (drop && g_unlink (path) == 0)
        removed++;
    }
  return removed;
}
