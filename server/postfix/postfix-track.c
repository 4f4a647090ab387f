/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-track.c: Postfix's verdicts into tracking records (contract and mapping:
 * postfix-track.h).
 *
 * Lines are applied to a batch (PostfixTrackBatch): the first line of an ENVID loads its
 * record (track_store_load) into a PendingRecord (its entries in order, indexed by
 * entry_key); each line replaces the entries it replaces, in memory, in line order; the
 * flush stores each changed record once, built from the registration (ENVID, arrival) and
 * those entries, with the registration's B (track_store_put_versioned, above the version
 * loaded: a clock set back across a restart must not make the write stale; the
 * first-owner rule decides; a record of another B is left alone and the error
 * returned). So a message with n recipients whose lines arrive in one pass costs one load
 * and one write, not n of each (each up to TRACK_STORE_MAX_RECORD_SIZE).
 * postfix_track_apply is a batch of one line.
 *
 * Limits: MSGTRK_REPORT_MAX_RECIPIENTS entries per record (more are dropped, logged); a
 * batch says it is full past POSTFIX_TRACK_BATCH_MAX_RECORDS records or
 * POSTFIX_TRACK_BATCH_MAX_OCTETS (the caller flushes);
 * POSTFIX_TRACK_MAX_DIAGNOSTIC octets of Diagnostic-Code (diagnostic_of); every other field
 * within MSGTRK_REPORT_MAX_FIELD_LENGTH or the line is not recorded (entry_check).
 * Never: store message content (log text and addresses only); write without a registration;
 * write a field the report parser refuses (a record mtqpd could not read at all).
 */
#include "config.h"

#include "postfix-track.h"

#include <string.h>

#include "msgtrk-private.h"

/* The key of an entry: final and original recipient, lower case. */
static char *
entry_key (const char *final,
           const char *original)
{
  g_autofree char *f = g_ascii_strdown (final ? final : "", -1);
  g_autofree char *o = g_ascii_strdown (original ? original : "", -1);

  return g_strconcat (f, " ", o, NULL);
}

static char *
report_entry_key (MsgtrkRecipientReport *r)
{
  return entry_key (msgtrk_recipient_report_get_final_recipient (r),
                    msgtrk_recipient_report_get_original_recipient (r));
}

/* The Original-Recipient of a registered recipient: its ORCPT if rfc822, else RCPT TO. */
static const char *
original_of (const PostfixRegRcpt *rcpt)
{
  if (rcpt->orcpt != NULL && g_ascii_strncasecmp (rcpt->orcpt, "rfc822;", 7) == 0)
    return rcpt->orcpt + 7;
  return rcpt->registered;
}

/* The Diagnostic-Code of a line's reason, as the report model stores it (valid UTF-8, no
 * control characters: a writer other than Postfix may leave them raw), cut at a character
 * boundary to POSTFIX_TRACK_MAX_DIAGNOSTIC octets. */
static char *
diagnostic_of (const char *text)
{
  g_autofree char *diag = postfix_log_diagnostic (text);
  char *valid = g_utf8_make_valid (diag, -1);

  for (char *p = valid; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  msgtrk_utf8_cut (valid, POSTFIX_TRACK_MAX_DIAGNOSTIC);
  return valid;
}

static gsize
record_size (MsgtrkReport *report)
{
  g_autofree char *fields = msgtrk_report_to_fields (report);

  return fields != NULL ? strlen (fields) : G_MAXSIZE;
}

/**
 * postfix_track_fit_record:
 * @report: a tracking record about to be stored
 * @max_size: the most octets it may have written out (TRACK_STORE_MAX_RECORD_SIZE)
 *
 * Makes @report fit @max_size, giving up the least first: every Diagnostic-Code cut to
 * POSTFIX_TRACK_SHORT_DIAGNOSTIC octets, then the Diagnostic-Codes and Remote-MTAs
 * dropped. Each recipient keeps its Action, Status and dates. (A record over the limit
 * is not stored at all: every later line of that message would be lost.)
 *
 * Returns: what it had to do
 */
PostfixTrackFit
postfix_track_fit_record (MsgtrkReport *report,
                          gsize         max_size)
{
  GPtrArray *entries = msgtrk_report_get_recipients (report);

  if (record_size (report) <= max_size)
    return POSTFIX_TRACK_FIT_AS_IS;
  for (guint i = 0; i < entries->len; i++)
    {
      MsgtrkRecipientReport *r = g_ptr_array_index (entries, i);
      g_autofree char *diag = g_strdup (msgtrk_recipient_report_get_field (r, "Diagnostic-Code"));

      if (diag == NULL)
        continue;
      msgtrk_utf8_cut (diag, POSTFIX_TRACK_SHORT_DIAGNOSTIC);
      msgtrk_recipient_report_set_field (r, "Diagnostic-Code", diag);
    }
  if (record_size (report) <= max_size)
    return POSTFIX_TRACK_FIT_SHORT_DIAGNOSTIC;
  for (guint i = 0; i < entries->len; i++)
    {
      MsgtrkRecipientReport *r = g_ptr_array_index (entries, i);

      msgtrk_recipient_report_set_field (r, "Diagnostic-Code", NULL);
      msgtrk_recipient_report_set_field (r, "Remote-MTA", NULL);
    }
  return record_size (report) <= max_size ? POSTFIX_TRACK_FIT_NO_DIAGNOSTIC
                                          : POSTFIX_TRACK_FIT_TOO_LARGE;
}

/* Every field of @r as it will be written ("Name: value") within
 * MSGTRK_REPORT_MAX_FIELD_LENGTH: the parser refuses longer ones, and with one of them the
 * whole record would be unreadable. */
static gboolean
entry_check (MsgtrkRecipientReport *r,
             const char            *queue_id,
             GError               **error)
{
  g_auto (GStrv) names = msgtrk_recipient_report_list_field_names (r);

  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *value = msgtrk_recipient_report_get_field (r, names[i]);
      gsize len = strlen (names[i]) + 2 + (value != NULL ? strlen (value) : 0);

      if (len > MSGTRK_REPORT_MAX_FIELD_LENGTH)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                       "%s: the %s field of this line's entry would be %" G_GSIZE_FORMAT
                       " octets long, more than %d: the line is not recorded",
                       queue_id, names[i], len, MSGTRK_REPORT_MAX_FIELD_LENGTH);
          return FALSE;
        }
    }
  return TRUE;
}

static GDateTime *
date_at (gint64 t)
{
  return g_date_time_new_from_unix_utc (t > 0 ? t : g_get_real_time () / G_USEC_PER_SEC);
}

/* One ENVID's record while a batch holds it (PostfixTrackBatch): its entries in order
 * (a replaced entry's slot is NULL and the new one appended, as a rebuilt record would
 * have them), an index from entry_key to slot, and what the store is told at the end. */
typedef struct
{
  char *envid;         /* (owned) */
  char *authenticator; /* (owned) B of the registrations whose lines it holds */
  char *queue_id;      /* (owned) the latest line's, for messages */
  gint64 arrival;
  gint64 expires;      /* the latest of the registrations' and the stored record's */
  gint64 version;      /* as stored (0: none yet): the next write's is above it */
  GPtrArray *entries;  /* (owned) of MsgtrkRecipientReport, NULL where replaced */
  GHashTable *index;   /* (owned) entry_key → slot + 1 */
  guint live;          /* non-NULL slots */
  gsize octets;        /* estimate of the written record */
  gboolean dirty;      /* changed since loaded: to be stored */
} PendingRecord;

struct _PostfixTrackBatch
{
  const PostfixTrack *track; /* (not owned) */
  GPtrArray *order;          /* (owned) of PendingRecord, first touched first */
  GHashTable *by_envid;      /* (owned) envid → PendingRecord (in @order) */
  gsize octets;              /* sum of the records' estimates */
};

static void
entry_unref (gpointer r)
{
  if (r != NULL)
    g_object_unref (r);
}

static void
pending_record_free (PendingRecord *p)
{
  g_free (p->envid);
  g_free (p->authenticator);
  g_free (p->queue_id);
  g_ptr_array_unref (p->entries);
  g_hash_table_unref (p->index);
  g_free (p);
}

/* The octets of a written record's field around its name and value (": " and CRLF), and
 * of the blank line that ends a recipient's block. */
#define ENTRY_FIELD_FRAMING (sizeof ": \r\n" - 1)
#define ENTRY_BLOCK_END (sizeof "\r\n" - 1)

/* About the octets @r adds to a written record ("Name: value" CRLF per field). An
 * estimate for the batch's bound: a replaced entry's octets are not taken back. */
static gsize
entry_octets (MsgtrkRecipientReport *r)
{
  g_auto (GStrv) names = msgtrk_recipient_report_list_field_names (r);
  gsize n = ENTRY_BLOCK_END;

  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *value = msgtrk_recipient_report_get_field (r, names[i]);

      n += strlen (names[i]) + ENTRY_FIELD_FRAMING + (value != NULL ? strlen (value) : 0);
    }
  return n;
}

static void
pending_drop_key (PendingRecord *p,
                  const char    *key)
{
  gpointer slot;

  if (!g_hash_table_lookup_extended (p->index, key, NULL, &slot))
    return;
  g_clear_object ((MsgtrkRecipientReport **) &p->entries->pdata[GPOINTER_TO_UINT (slot) - 1]);
  p->live--;
  g_hash_table_remove (p->index, key);
}

/* Appends @r (a reference is taken), replacing the entry under its key, unless the
 * record is full without that entry. */
static gboolean
pending_add (PostfixTrackBatch     *batch,
             PendingRecord         *p,
             MsgtrkRecipientReport *r)
{
  char *key = report_entry_key (r);
  gsize octets = entry_octets (r);
  /* An entry under the same key is replaced, not added to: it does not count. */
  guint others = p->live - (g_hash_table_contains (p->index, key) ? 1 : 0);

  if (others >= MSGTRK_REPORT_MAX_RECIPIENTS)
    {
      g_free (key);
      return FALSE;
    }
  pending_drop_key (p, key);
  g_ptr_array_add (p->entries, g_object_ref (r));
  g_hash_table_insert (p->index, key, GUINT_TO_POINTER (p->entries->len));
  p->live++;
  p->octets += octets;
  batch->octets += octets;
  return TRUE;
}

/* The pending record of @reg's ENVID: the one this batch holds, else the stored one
 * (loaded once), else an empty one. A record of another B, stored or pending:
 * MSGTRK_ERROR_INVALID_SECRET at once (the first owner of an ENVID keeps it; a line of
 * another B taken into the batch first would make it refuse its owner's lines, and the
 * store then refuse the put of it). */
static PendingRecord *
pending_get (PostfixTrackBatch         *batch,
             const PostfixRegistration *reg,
             GError                   **error)
{
  PendingRecord *p = g_hash_table_lookup (batch->by_envid, reg->envid);
  g_autoptr (MsgtrkReport) old = NULL;
  g_autofree char *old_auth = NULL;
  gint64 old_expires = 0;
  gint64 old_version = 0;
  g_autoptr (GError) load_error = NULL;

  if (p != NULL)
    {
      if (g_strcmp0 (p->authenticator, reg->authenticator) != 0)
        {
          g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                       "the tracking record of this ENVID is another message's (another "
                       "authenticator): left alone");
          return NULL;
        }
      g_free (p->queue_id);
      p->queue_id = g_strdup (reg->queue_id);
      p->arrival = reg->arrival;
      p->expires = MAX (p->expires, reg->expires);
      return p;
    }
  old = track_store_load (batch->track->store, reg->envid, &old_auth, &old_expires,
                          &old_version, &load_error);
  /* None yet, or an oversized one (the store keeps it and refuses the update: the
   * flush drops it, warned). Any other failure is the caller's: the database
   * unreachable, an I/O error (retried), a malformed record (MSGTRK_ERROR_PARSE: torn by
   * a crash until its writer's journal is replayed, or damaged; the caller holds the
   * line a while): started empty, the record would be stored without its earlier
   * recipients' states once it reads again. */
  if (old == NULL && !g_error_matches (load_error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND)
      && !g_error_matches (load_error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT))
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&load_error),
                                  "Cannot read the tracking record of ENVID %s: ",
                                  reg->envid);
      return NULL;
    }
  if (old != NULL && g_strcmp0 (old_auth, reg->authenticator) != 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                   "the tracking record of this ENVID is another message's (another "
                   "authenticator): left alone");
      return NULL;
    }
  p = g_new0 (PendingRecord, 1);
  p->envid = g_strdup (reg->envid);
  p->authenticator = g_strdup (reg->authenticator);
  p->queue_id = g_strdup (reg->queue_id);
  p->arrival = reg->arrival;
  p->entries = g_ptr_array_new_with_free_func (entry_unref);
  p->index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  p->expires = MAX (reg->expires, old_expires);
  p->version = old_version;
  if (old != NULL)
    {
      GPtrArray *entries = msgtrk_report_get_recipients (old);

      for (guint i = 0; i < entries->len; i++)
        pending_add (batch, p, g_ptr_array_index (entries, i));
    }
  g_ptr_array_add (batch->order, p);
  g_hash_table_insert (batch->by_envid, p->envid, p);
  return p;
}

/* @p with @add replacing the entries whose keys are in @drop. */
static void
pending_update (PostfixTrackBatch *batch,
                PendingRecord     *p,
                GPtrArray         *add,
                GHashTable        *drop)
{
  GHashTableIter it;
  gpointer key;

  p->dirty = TRUE;
  g_hash_table_iter_init (&it, drop);
  while (g_hash_table_iter_next (&it, &key, NULL))
    pending_drop_key (p, key);
  for (guint i = 0; i < add->len; i++)
    if (!pending_add (batch, p, g_ptr_array_index (add, i)))
      {
        g_warning ("%s: the record of this ENVID is full (%d recipients)", p->queue_id,
                   MSGTRK_REPORT_MAX_RECIPIENTS);
        break;
      }
}

/* Writes @p (track_store_put_versioned above its stored version, the first-owner rule
 * decides), made to fit TRACK_STORE_MAX_RECORD_SIZE when the store finds it too large. */
static gboolean
pending_store (const PostfixTrack *track,
               PendingRecord      *p,
               GError            **error)
{
  g_autoptr (MsgtrkReport) report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  g_autoptr (GDateTime) arrival = date_at (p->arrival);
  g_autoptr (GError) local = NULL;
  gint64 version = track_store_next_version_after (p->version);

  msgtrk_report_set_envid (report, p->envid);
  msgtrk_report_set_reporting_mta (report, track->hostname);
  msgtrk_report_set_arrival_date (report, arrival);
  for (guint i = 0; i < p->entries->len; i++)
    if (g_ptr_array_index (p->entries, i) != NULL)
      msgtrk_report_add_recipient (report, g_ptr_array_index (p->entries, i));
  if (track_store_put_versioned (track->store, p->envid, p->authenticator, p->expires, version,
                                 report, &local))
    {
      p->version = version;
      return TRUE;
    }
  /* Over TRACK_STORE_MAX_RECORD_SIZE: made to fit, stored again (the usual record is
   * written out once). */
  if (!g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT))
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: ", p->queue_id);
      return FALSE;
    }
  switch (postfix_track_fit_record (report, TRACK_STORE_MAX_RECORD_SIZE))
    {
    case POSTFIX_TRACK_FIT_AS_IS:
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    case POSTFIX_TRACK_FIT_SHORT_DIAGNOSTIC:
      g_message ("%s: its tracking record would pass %d octets: its diagnostics are cut to "
                 "%d octets",
                 p->queue_id, TRACK_STORE_MAX_RECORD_SIZE, POSTFIX_TRACK_SHORT_DIAGNOSTIC);
      break;
    case POSTFIX_TRACK_FIT_NO_DIAGNOSTIC:
    case POSTFIX_TRACK_FIT_TOO_LARGE:
      g_message ("%s: its tracking record would pass %d octets: diagnostics and next hops "
                 "left out",
                 p->queue_id, TRACK_STORE_MAX_RECORD_SIZE);
      break;
    }
  if (!track_store_put_versioned (track->store, p->envid, p->authenticator, p->expires,
                                  version, report, error))
    return FALSE;
  p->version = version;
  return TRUE;
}

static gboolean
strv_has_host (char      **hosts,
               const char *host)
{
  for (guint i = 0; hosts != NULL && hosts[i] != NULL; i++)
    if (g_ascii_strcasecmp (hosts[i], host) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
is_final_delivery_agent (const PostfixLogEntry *e)
{
  static const char *const agents[] = { "local", "virtual", "lmtp", "pipe", "discard" };

  for (guint i = 0; i < G_N_ELEMENTS (agents); i++)
    if (g_strcmp0 (e->service, agents[i]) == 0 || g_strcmp0 (e->relay, agents[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Whether @child, with one leg more for @address (@rcpt's), would pass what a
 * registration holds (POSTFIX_REGISTRATION_MAX_RCPTS, POSTFIX_REGISTRATION_MAX_SIZE);
 * @limit: set to the limit it would pass, as the overflow mark gives it. */
static gboolean
child_would_overflow (const PostfixRegistration *child,
                      const char                *address,
                      const PostfixRegRcpt      *rcpt,
                      char                     **limit)
{
  g_autofree char *text = NULL;

  if (child->rcpts->len >= POSTFIX_REGISTRATION_MAX_RCPTS)
    {
      *limit = g_strdup_printf ("%d recipients", POSTFIX_REGISTRATION_MAX_RCPTS);
      return TRUE;
    }
  text = postfix_registration_format (child);
  if (strlen (text) + postfix_registration_rcpt_size (address, rcpt->registered, rcpt->orcpt)
      <= POSTFIX_REGISTRATION_MAX_SIZE)
    return FALSE;
  *limit = g_strdup_printf ("%d octets", POSTFIX_REGISTRATION_MAX_SIZE);
  return TRUE;
}

/* The registration of @e->requeued_as as a child of @reg with @rcpt's leg (the leg's
 * address is to=) added, to be written by the caller (@child_out, NULL when there is
 * nothing to write: that queue id is another message's). @replay: set when the child
 * already had this leg: the line was applied before (a restart reads it again), and the
 * record must not get the interim entry back. So the caller stores the parent's interim
 * entry before it writes the child: a replay that finds the leg must find the entry.
 * @overflow: set (nothing to write) when the leg would pass what one registration holds
 * (a large alias expansion; @limit, the limit it would pass): the caller records that
 * the expansion is not tracked in full (overflow_mark). */
static gboolean
child_prepare (const PostfixTrack         *track,
               const PostfixRegistration  *reg,
               const PostfixRegRcpt       *rcpt,
               const PostfixLogEntry      *e,
               PostfixRegistration       **child_out,
               gboolean                   *replay,
               gboolean                   *overflow,
               char                      **limit,
               GError                    **error)
{
  g_autoptr (PostfixRegistration) child = NULL;

  *replay = FALSE;
  *overflow = FALSE;
  *limit = NULL;
  *child_out = NULL;
  child = postfix_registration_read (track->reg_dir, e->requeued_as, NULL);
  if (child == NULL)
    {
      child = postfix_registration_new (e->requeued_as, reg->envid, reg->authenticator,
                                        reg->arrival, reg->expires);
      child->parent = g_strdup (reg->queue_id);
    }
  else if (g_strcmp0 (child->authenticator, reg->authenticator) != 0
           || g_strcmp0 (child->envid, reg->envid) != 0)
    {
      g_warning ("%s: queue id %s is registered for another message; not followed",
                 reg->queue_id, e->requeued_as);
      return TRUE;
    }
  if (postfix_registration_find (child, e->to) != NULL)
    {
      *replay = TRUE;
      return TRUE;
    }
  if (child_would_overflow (child, e->to, rcpt, limit))
    {
      *overflow = TRUE;
      return TRUE;
    }
  if (!postfix_registration_add_rcpt (child, e->to, rcpt->registered, rcpt->orcpt, error))
    return FALSE;
  *child_out = g_steal_pointer (&child);
  return TRUE;
}

/* The extension field that marks an overflow mark (overflow_mark), its value the limit
 * passed ("1000 recipients"): how the mark is known again, after a restart too (a
 * member's later line must not replace it). A field of our own, not text a remote
 * server's reply could imitate; it stays when a record is made to fit
 * (postfix_track_fit_record drops Diagnostic-Code and Remote-MTA only). */
#define OVERFLOW_FIELD "X-Msgtrk-Untracked-Past"

/* What an overflow mark says after what overflowed. */
#define OVERFLOW_NOTE "those past it are not tracked"

/* What a failed overflow mark says after OVERFLOW_NOTE. */
#define OVERFLOW_FAILED_NOTE "; at least one of them failed"

/* @p's entry under @key, NULL when none or not an overflow mark. */
static MsgtrkRecipientReport *
overflow_mark_find (PendingRecord *p,
                    const char    *key)
{
  gpointer slot;
  MsgtrkRecipientReport *r;

  if (!g_hash_table_lookup_extended (p->index, key, NULL, &slot))
    return NULL;
  r = g_ptr_array_index (p->entries, GPOINTER_TO_UINT (slot) - 1);
  return r != NULL && msgtrk_recipient_report_get_field (r, OVERFLOW_FIELD) != NULL ? r : NULL;
}

/* Whether an entry with @action may give way to an overflow mark: one that says the
 * member was reached, never a failure or a delay a user has to see. */
static gboolean
action_may_give_way (MsgtrkAction action)
{
  return action == MSGTRK_ACTION_DELIVERED || action == MSGTRK_ACTION_RELAYED
         || action == MSGTRK_ACTION_EXPANDED || action == MSGTRK_ACTION_TRANSFERRED;
}

/* @mark (an overflow mark of @p) takes on @member's failure: the members it stands for
 * are not shown, and one of them failing is what a sender must see. */
static gboolean
overflow_mark_fail (PendingRecord         *p,
                    MsgtrkRecipientReport *mark,
                    MsgtrkRecipientReport *member,
                    GError               **error)
{
  const char *diag = msgtrk_recipient_report_get_field (mark, "Diagnostic-Code");

  if (msgtrk_recipient_report_get_action (mark) == MSGTRK_ACTION_FAILED)
    return TRUE;
  if (!msgtrk_recipient_report_set_status (mark, msgtrk_recipient_report_get_status (member),
                                           NULL, error))
    return FALSE;
  msgtrk_recipient_report_set_action (mark, MSGTRK_ACTION_FAILED);
  msgtrk_recipient_report_set_last_attempt_date (
    mark, msgtrk_recipient_report_get_last_attempt_date (member));
  if (diag != NULL && !g_str_has_suffix (diag, OVERFLOW_FAILED_NOTE))
    {
      g_autofree char *longer = g_strconcat (diag, OVERFLOW_FAILED_NOTE, NULL);

      msgtrk_recipient_report_set_diagnostic_code (mark, longer);
    }
  p->dirty = TRUE;
  return TRUE;
}

/* @rcpt (a recipient of a message, or the leg of a derived queue id that stands for it)
 * was expanded or passed on as @queue_id to more recipients than its tracking can hold
 * (@what, @limit: what overflowed, the limit passed): its own entry (Final-Recipient its
 * address, the key of its interim entry, OVERFLOW_FIELD) says so, with @action and
 * @status, and stays (a member's line does not replace it). Added once per recipient,
 * and logged then (not once per member past the limit). When the record is full the
 * last entry of one of its members that was reached (action_may_give_way) gives way;
 * failures and delays stay. @member: the entry of a member past the limit (NULL for a
 * leg the child registration cannot take): a failed one makes the mark failed. */
static gboolean
overflow_mark (PostfixTrackBatch         *batch,
               PendingRecord             *p,
               const PostfixRegistration *reg,
               const PostfixRegRcpt      *rcpt,
               const PostfixLogEntry     *e,
               const char                *queue_id,
               MsgtrkAction               action,
               const char                *status,
               const char                *what,
               const char                *limit,
               MsgtrkRecipientReport     *member,
               GError                   **error)
{
  const char *original = original_of (rcpt);
  const char *verb = action == MSGTRK_ACTION_EXPANDED ? "expanded" : "passed on";
  g_autofree char *key = entry_key (rcpt->address, original);
  g_autoptr (MsgtrkRecipientReport) r = msgtrk_recipient_report_new (rcpt->address);
  g_autoptr (GDateTime) last = date_at (e->time);
  g_autoptr (GPtrArray) add = g_ptr_array_new ();
  g_autoptr (GHashTable) drop = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *diagnostic = NULL;
  MsgtrkRecipientReport *mark = overflow_mark_find (p, key);
  gboolean failed = member != NULL
                    && msgtrk_recipient_report_get_action (member) == MSGTRK_ACTION_FAILED;

  if (mark != NULL)
    return !failed || overflow_mark_fail (p, mark, member, error);
  diagnostic = g_strdup_printf ("X-Postfix; %s as %s to more recipients than %s holds (%s): "
                                "%s",
                                verb, queue_id, what, limit, OVERFLOW_NOTE);
  msgtrk_recipient_report_set_original_recipient (r, original);
  msgtrk_recipient_report_set_action (r, action);
  if (!msgtrk_recipient_report_set_status (r, status, NULL, error))
    return FALSE;
  msgtrk_recipient_report_set_diagnostic_code (r, diagnostic);
  msgtrk_recipient_report_set_last_attempt_date (r, last);
  msgtrk_recipient_report_set_field (r, OVERFLOW_FIELD, limit);
  if (!entry_check (r, reg->queue_id, error))
    return FALSE;
  if (p->live >= MSGTRK_REPORT_MAX_RECIPIENTS && !g_hash_table_contains (p->index, key))
    for (guint i = p->entries->len; i > 0; i--)
      {
        MsgtrkRecipientReport *old = g_ptr_array_index (p->entries, i - 1);
        const char *o = old != NULL ? msgtrk_recipient_report_get_original_recipient (old) : NULL;

        if (o != NULL && g_ascii_strcasecmp (o, original) == 0
            && action_may_give_way (msgtrk_recipient_report_get_action (old)))
          {
            g_hash_table_add (drop, report_entry_key (old));
            break;
          }
      }
  g_ptr_array_add (add, r);
  pending_update (batch, p, add, drop);
  mark = overflow_mark_find (p, key);
  if (mark == NULL)
    return TRUE; /* full of failures and delays: pending_update warned */
  g_message ("%s: %s %s as %s to more recipients than %s holds (%s): %s", reg->queue_id,
             rcpt->address, verb, queue_id, what, limit, OVERFLOW_NOTE);
  return !failed || overflow_mark_fail (p, mark, member, error);
}

static gboolean
apply_delivery (PostfixTrackBatch         *batch,
                const PostfixRegistration *reg,
                const PostfixLogEntry     *e,
                GError                   **error)
{
  const PostfixTrack *track = batch->track;
  const PostfixRegRcpt *rcpt = postfix_registration_find (reg, e->orig_to);
  PendingRecord *p;
  g_autoptr (MsgtrkRecipientReport) r = NULL;
  g_autoptr (GPtrArray) add = g_ptr_array_new ();
  g_autoptr (GHashTable) drop = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDateTime) last = date_at (e->time);
  g_autofree char *diagnostic = NULL;
  g_autofree char *host = postfix_log_relay_host (e->relay);
  gboolean remote = strchr (e->relay, '[') != NULL;
  MsgtrkAction action;
  const char *status = e->dsn;
  gboolean replay = FALSE;
  gboolean overflow = FALSE;
  g_autofree char *limit = NULL;
  g_autofree char *own = NULL;
  g_autoptr (PostfixRegistration) child = NULL;

  if (rcpt == NULL)
    rcpt = postfix_registration_find (reg, e->to);
  /* A copy's registration gains a recipient at each of its parent's lines that names the
   * copy, and the copy's own line may come first (the content filter queues the copy
   * before it answers the parent's smtp client): for the caller to hold. */
  if (rcpt == NULL && reg->parent != NULL)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                   "%s: a copy of %s without the recipient of this line yet", reg->queue_id,
                   reg->parent);
      return FALSE;
    }
  if (rcpt == NULL)
    {
      g_debug ("%s: no registered recipient for this line", reg->queue_id);
      return TRUE;
    }
  if (e->text != NULL)
    diagnostic = diagnostic_of (e->text);

  switch (e->status)
    {
    case POSTFIX_STATUS_SENT:
      if (e->requeued_as != NULL && g_str_has_prefix (e->text, "forwarded as "))
        {
          if (!child_prepare (track, reg, rcpt, e, &child, &replay, &overflow, &limit,
                              error))
            return FALSE;
          if (replay)
            return TRUE;
          if (overflow)
            {
              p = pending_get (batch, reg, error);
              return p != NULL
                     && overflow_mark (batch, p, reg, rcpt, e, e->requeued_as,
                                       MSGTRK_ACTION_EXPANDED, status,
                                       "one derived registration", limit, NULL, error);
            }
          action = MSGTRK_ACTION_EXPANDED;
        }
      else if (e->requeued_as != NULL && track->follow_loopback
               && postfix_log_relay_is_loopback (e->relay)
               && !strv_has_host (track->mtrk_next_hops, host))
        {
          /* A content filter re-injecting into this Postfix; a next hop named in
           * mtrk_next_hops (msgtrk-relay on loopback: its "queued as" id looks like a
           * Postfix queue id) answers for the message itself: transferred, below. */
          if (!child_prepare (track, reg, rcpt, e, &child, &replay, &overflow, &limit,
                              error))
            return FALSE;
          if (replay)
            return TRUE;
          if (overflow)
            {
              p = pending_get (batch, reg, error);
              return p != NULL
                     && overflow_mark (batch, p, reg, rcpt, e, e->requeued_as,
                                       MSGTRK_ACTION_RELAYED, "2.1.9",
                                       "one derived registration", limit, NULL, error);
            }
          action = MSGTRK_ACTION_RELAYED;
          status = "2.1.9";
        }
      else if (is_final_delivery_agent (e))
        action = MSGTRK_ACTION_DELIVERED;
      else if (strv_has_host (track->mtrk_next_hops, host))
        action = MSGTRK_ACTION_TRANSFERRED;
      else
        {
          action = MSGTRK_ACTION_RELAYED;
          status = "2.1.9";
        }
      break;
    case POSTFIX_STATUS_DEFERRED:
      action = MSGTRK_ACTION_DELAYED;
      break;
    case POSTFIX_STATUS_BOUNCED:
    case POSTFIX_STATUS_EXPIRED:
      action = MSGTRK_ACTION_FAILED;
      break;
    case POSTFIX_STATUS_NONE:
    default:
      return TRUE;
    }

  r = msgtrk_recipient_report_new (e->to);
  msgtrk_recipient_report_set_original_recipient (r, original_of (rcpt));
  msgtrk_recipient_report_set_action (r, action);
  if (!msgtrk_recipient_report_set_status (r, status, NULL, error))
    return FALSE;
  if (remote)
    msgtrk_recipient_report_set_remote_mta (r, host);
  if (diagnostic != NULL)
    msgtrk_recipient_report_set_diagnostic_code (r, diagnostic);
  msgtrk_recipient_report_set_last_attempt_date (r, last);
  if (action == MSGTRK_ACTION_DELAYED)
    {
      g_autoptr (GDateTime) until = date_at (reg->arrival + track->queue_lifetime);

      msgtrk_recipient_report_set_will_retry_until (r, until);
    }
  if (!entry_check (r, reg->queue_id, error))
    return FALSE;
  p = pending_get (batch, reg, error);
  if (p == NULL)
    return FALSE;
  own = entry_key (e->to, original_of (rcpt));
  g_ptr_array_add (add, r);
  g_hash_table_add (drop, g_strdup (own));
  /* A derived queue id's outcome replaces its parent's interim entry for this leg (not
   * an overflow mark). A member of a large alias expansion past what the record holds:
   * the leg's entry says so (overflow_mark), not one warning per member. */
  if (reg->parent != NULL)
    {
      g_autofree char *interim = entry_key (rcpt->address, original_of (rcpt));
      gboolean mark = overflow_mark_find (p, interim) != NULL;

      if (p->live >= MSGTRK_REPORT_MAX_RECIPIENTS
          && !g_hash_table_contains (p->index, own)
          && (mark || !g_hash_table_contains (p->index, interim)))
        {
          g_autofree char *record_limit
            = g_strdup_printf ("%d recipients", MSGTRK_REPORT_MAX_RECIPIENTS);

          return overflow_mark (batch, p, reg, rcpt, e, reg->queue_id,
                                MSGTRK_ACTION_EXPANDED, "2.0.0", "one tracked message",
                                record_limit, r, error);
        }
      if (!mark)
        g_hash_table_add (drop, g_steal_pointer (&interim));
    }
  pending_update (batch, p, add, drop);
  if (child == NULL)
    return TRUE;
  /* The interim entry stored first (child_prepare); an error here leaves the line to be
   * applied again. */
  if (!pending_store (track, p, error))
    return FALSE;
  p->dirty = FALSE;
  return postfix_registration_write (track->reg_dir, child, error);
}

/* qmgr "status=expired": every recipient without a final outcome has failed. */
static gboolean
apply_expired (PostfixTrackBatch         *batch,
               const PostfixRegistration *reg,
               const PostfixLogEntry     *e,
               GError                   **error)
{
  PendingRecord *p = pending_get (batch, reg, error);
  g_autoptr (GPtrArray) add = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GHashTable) drop = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDateTime) last = date_at (e->time);
  GPtrArray *entries = p != NULL ? p->entries : NULL;

  if (p == NULL)
    return FALSE;

  for (guint i = 0; i < reg->rcpts->len; i++)
    {
      const PostfixRegRcpt *rcpt = g_ptr_array_index (reg->rcpts, i);
      const char *original = original_of (rcpt);
      gboolean seen = FALSE;

      for (guint j = 0; entries != NULL && j < entries->len; j++)
        {
          MsgtrkRecipientReport *o = g_ptr_array_index (entries, j);
          const char *orig;
          MsgtrkRecipientReport *r;
          const char *st;

          if (o == NULL)
            continue;
          orig = msgtrk_recipient_report_get_original_recipient (o);
          st = msgtrk_recipient_report_get_status (o);
          if (orig == NULL || g_ascii_strcasecmp (orig, original) != 0)
            continue;
          seen = TRUE;
          if (msgtrk_recipient_report_get_action (o) != MSGTRK_ACTION_DELAYED)
            continue;
          r = msgtrk_recipient_report_new (msgtrk_recipient_report_get_final_recipient (o));
          msgtrk_recipient_report_set_original_recipient (r, original);
          msgtrk_recipient_report_set_action (r, MSGTRK_ACTION_FAILED);
          if (st == NULL || st[0] != '4'
              || !msgtrk_recipient_report_set_status (r, st, NULL, NULL))
            msgtrk_recipient_report_set_status (r, "4.4.7", NULL, NULL);
          if (msgtrk_recipient_report_get_remote_mta (o) != NULL)
            msgtrk_recipient_report_set_field (r, "Remote-MTA",
                                               msgtrk_recipient_report_get_field (o, "Remote-MTA"));
          msgtrk_recipient_report_set_diagnostic_code (
            r, msgtrk_recipient_report_get_diagnostic_code (o) != NULL
                 ? msgtrk_recipient_report_get_diagnostic_code (o)
                 : "X-Postfix; message expired");
          msgtrk_recipient_report_set_last_attempt_date (r, last);
          g_ptr_array_add (add, r);
          g_hash_table_add (drop, report_entry_key (o));
        }
      if (!seen)
        {
          MsgtrkRecipientReport *r = msgtrk_recipient_report_new (rcpt->address);

          msgtrk_recipient_report_set_original_recipient (r, original);
          msgtrk_recipient_report_set_action (r, MSGTRK_ACTION_FAILED);
          msgtrk_recipient_report_set_status (r, "4.4.7", NULL, NULL);
          msgtrk_recipient_report_set_diagnostic_code (r, "X-Postfix; message expired");
          msgtrk_recipient_report_set_last_attempt_date (r, last);
          g_ptr_array_add (add, r);
        }
    }
  if (add->len > 0)
    pending_update (batch, p, add, drop);
  return TRUE;
}

/**
 * postfix_track_batch_new:
 * @track: where and how to write (kept by reference: must outlive the batch)
 *
 * A batch holds the updates of many lines in memory, each ENVID's record loaded once,
 * until postfix_track_batch_flush() stores each changed record once.
 *
 * Returns: (transfer full): an empty batch
 */
PostfixTrackBatch *
postfix_track_batch_new (const PostfixTrack *track)
{
  PostfixTrackBatch *batch = g_new0 (PostfixTrackBatch, 1);

  batch->track = track;
  batch->order = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_record_free);
  batch->by_envid = g_hash_table_new (g_str_hash, g_str_equal);
  return batch;
}

/* Frees @batch; updates not flushed are lost (as by a crash: the lines are replayed). */
void
postfix_track_batch_free (PostfixTrackBatch *batch)
{
  if (batch == NULL)
    return;
  g_hash_table_unref (batch->by_envid);
  g_ptr_array_unref (batch->order);
  g_free (batch);
}

/* The number of records @batch holds (changed or not). */
guint
postfix_track_batch_get_records (const PostfixTrackBatch *batch)
{
  return batch->order->len;
}

/* TRUE when @batch holds more than POSTFIX_TRACK_BATCH_MAX_RECORDS records or
 * POSTFIX_TRACK_BATCH_MAX_OCTETS octets (estimated): time to flush. */
gboolean
postfix_track_batch_is_full (const PostfixTrackBatch *batch)
{
  return batch->order->len > POSTFIX_TRACK_BATCH_MAX_RECORDS
         || batch->octets > POSTFIX_TRACK_BATCH_MAX_OCTETS;
}

/**
 * postfix_track_batch_flush:
 * @batch: a batch
 * @error: return location for a #GError
 *
 * Stores each changed record of @batch once, in the order they were first touched, and
 * forgets it. On an error the record that failed is forgotten too when the error is
 * MSGTRK_ERROR_INVALID_SECRET (another B owns the ENVID), MSGTRK_ERROR_LIMIT (it cannot
 * be stored, ever) or MSGTRK_ERROR_PARSE (the stored record of its ENVID is malformed:
 * the store keeps it for the administrator and refuses every update, so retrying would
 * hold up every later record and line); on any other error it and the later ones are
 * kept for another flush.
 * Call again after an error until it returns %TRUE.
 *
 * Returns: %TRUE when @batch is empty
 */
gboolean
postfix_track_batch_flush (PostfixTrackBatch *batch,
                           GError           **error)
{
  guint done = 0;
  gboolean ok = TRUE;

  for (; done < batch->order->len; done++)
    {
      PendingRecord *p = g_ptr_array_index (batch->order, done);
      g_autoptr (GError) local = NULL;

      if (!p->dirty || pending_store (batch->track, p, &local))
        continue;
      ok = FALSE;
      if (g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET)
          || g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT)
          || g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_PARSE))
        done++;
      g_propagate_error (error, g_steal_pointer (&local));
      break;
    }
  for (guint i = 0; i < done; i++)
    {
      PendingRecord *p = g_ptr_array_index (batch->order, i);

      batch->octets -= p->octets;
      g_hash_table_remove (batch->by_envid, p->envid);
    }
  g_ptr_array_remove_range (batch->order, 0, done);
  return ok;
}

/**
 * postfix_track_batch_apply:
 * @batch: a batch
 * @reg: the registration of @entry's queue id
 * @entry: a parsed line of that queue id
 * @error: return location for a #GError
 *
 * Applies @entry to the record of @reg's ENVID held in @batch (mapping: postfix-track.h);
 * nothing is stored before postfix_track_batch_flush(), but for a line that derives a
 * registration (content filter, alias): its ENVID's record is stored first and the
 * derived registration then written (a replay that finds the derived one skips the line
 * and must find its entry). Lines that say nothing about a recipient do nothing.
 *
 * Returns: %TRUE, or %FALSE with @error set: MSGTRK_ERROR_LIMIT or
 *   MSGTRK_ERROR_INVALID_SECRET (the line is not recorded), MSGTRK_ERROR_PARSE (the
 *   stored record of its ENVID cannot be read: nothing changed; the caller may hold the
 *   line and try it again), another error (a record not read, a derived registration
 *   not written: try the line again)
 */
gboolean
postfix_track_batch_apply (PostfixTrackBatch         *batch,
                           const PostfixRegistration *reg,
                           const PostfixLogEntry     *entry,
                           GError                   **error)
{
  switch (entry->kind)
    {
    case POSTFIX_LOG_DELIVERY:
      return apply_delivery (batch, reg, entry, error);
    case POSTFIX_LOG_EXPIRED:
      return apply_expired (batch, reg, entry, error);
    default:
      return TRUE;
    }
}

/**
 * postfix_track_apply:
 * @track: where and how to write
 * @reg: the registration of @entry's queue id
 * @entry: a parsed line of that queue id
 * @error: return location for a #GError
 *
 * Turns @entry into the tracking record of @reg's ENVID and stores it at once (a batch
 * of one line: postfix_track_batch_apply() and postfix_track_batch_flush()).
 *
 * Returns: %TRUE, or %FALSE with @error set (the record could not be written)
 */
gboolean
postfix_track_apply (const PostfixTrack        *track,
                     const PostfixRegistration *reg,
                     const PostfixLogEntry     *entry,
                     GError                   **error)
{
  g_autoptr (PostfixTrackBatch) batch = postfix_track_batch_new (track);

  if (!postfix_track_batch_apply (batch, reg, entry, error))
    return FALSE;
  return postfix_track_batch_flush (batch, error);
}
