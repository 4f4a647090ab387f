/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-deliver.c: one delivery attempt of a queued message, and what follows from it.
 *
 * For every recipient that is due: route it (local: Maildir, smtp: next hop, error:
 * permanent failure), record the outcome (action, status, Remote-MTA, Diagnostic-Code,
 * Last-Attempt-Date), schedule a retry with backoff for temporary failures until
 * arrival + max_queue_lifetime (then "failed" 4.4.7), then:
 *   1. enqueue the DSNs that NOTIFY asks for (crash-safe, through the queue),
 *   2. rewrite the envelope (the state survives a crash),
 *   3. rewrite the tracking record (messages that came with MTRK B and ENVID).
 * A crash between 1 and 2 can repeat a DSN; nothing is ever lost.
 *
 * Actions: local -> delivered 2.0.0; next hop that offered MTRK (and DSN) -> transferred
 * with Remote-MTA the hop's EHLO domain; any other next hop -> relayed 2.1.9 (RFC 3886
 * X.1.9, "relayed to non-compliant mailer"), with a "relayed" DSN when the hop lacks DSN
 * and NOTIFY has SUCCESS (RFC 3461 section 6.2.6.2). An "opaque" smtp: route hides what
 * lies beyond: a handoff becomes opaque 2.0.0 (whatever the hop offered), and no outcome
 * of that route names the hop (no Remote-MTA, no host in a connection diagnostic, no
 * 250 text); DSNs, which have no "opaque", say relayed.
 *
 * Maildir (local:): <root>/<local-part>@<domain>/{tmp,new,cur}, file written in tmp/,
 * fsync'ed, renamed into new/, new/ fsync'ed; the file gets Return-Path: and Delivered-To:
 * and LF line ends (the Maildir convention).
 * Never: write outside the Maildir root (local parts with '/' or a leading '.' are refused).
 */
#include "relay-deliver.h"

#include "relay-client.h"
#include "relay-dsn.h"
#include "relay-report.h"

#include "durable-file.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "msgtrk-private.h"

/* Is @local a local-part we can use as a directory name? */
static gboolean
local_part_is_safe (const char *local)
{
  if (*local == '\0' || *local == '.')
    return FALSE;
  for (const char *p = local; *p != '\0'; p++)
    if (*p == '/' || *p == '\\' || (guchar) *p < 0x21 || (guchar) *p >= 0x7f)
      return FALSE;
  return TRUE;
}

static gboolean
ensure_dir (const char *path,
            GError    **error)
{
  if (g_mkdir_with_parents (path, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create %s: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Deliver to the recipient's Maildir. *@permanent tells a bad address from an I/O error. */
static gboolean
deliver_local (RelayServer      *server,
               RelayMessage     *msg,
               RelayRecipient   *rcpt,
               const RelayRoute *route,
               gboolean         *permanent,
               GError          **error)
{
  const char *at = strrchr (rcpt->address, '@');
  g_autofree char *local = at ? g_strndup (rcpt->address, at - rcpt->address) : NULL;
  g_autofree char *domain = relay_address_domain (rcpt->address);
  g_autofree char *box_name = NULL;
  g_autofree char *box = NULL;
  g_autofree char *tmp_dir = NULL, *new_dir = NULL, *cur_dir = NULL;
  g_autofree char *name = NULL, *tmp_path = NULL, *new_path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GString) out = NULL;
  gsize len = 0;

  *permanent = FALSE;
  if (local == NULL || domain == NULL || !local_part_is_safe (local)
      || !local_part_is_safe (domain))
    {
      *permanent = TRUE;
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "no mailbox for this address");
      return FALSE;
    }
  box_name = g_strdup_printf ("%s@%s", local, domain);
  box = g_build_filename (route->path ? route->path : server->config->maildir_root, box_name,
                          NULL);
  tmp_dir = g_build_filename (box, "tmp", NULL);
  new_dir = g_build_filename (box, "new", NULL);
  cur_dir = g_build_filename (box, "cur", NULL);
  if (!ensure_dir (tmp_dir, error) || !ensure_dir (new_dir, error) || !ensure_dir (cur_dir, error))
    return FALSE;

  contents = relay_queue_read_body (server->queue, msg, &len, error);
  if (contents == NULL)
    return FALSE;
  out = g_string_sized_new (len + 256);
  g_string_append_printf (out, "Return-Path: <%s>\nDelivered-To: %s\n", msg->sender,
                          rcpt->address);
  for (gsize i = 0; i < len; i++)
    {
      if (contents[i] == '\r' && i + 1 < len && contents[i + 1] == '\n')
        continue;
      g_string_append_c (out, contents[i]);
    }

  {
    gint64 now = g_get_real_time ();
    name = g_strdup_printf ("%" G_GINT64_FORMAT ".M%06dP%dR%08X.%s", now / G_USEC_PER_SEC,
                            (int) (now % G_USEC_PER_SEC), (int) getpid (),
                            (guint) g_random_int (), server->config->hostname);
  }
  tmp_path = g_build_filename (tmp_dir, name, NULL);
  new_path = g_build_filename (new_dir, name, NULL);
  /* Maildir: written in tmp/, synced, renamed into new/, new/ synced. */
  return durable_file_write (tmp_path, out->str, out->len, error)
         && durable_file_rename (tmp_path, new_path, new_dir, error);
}

static void
set_outcome (RelayRecipient *rcpt,
             MsgtrkAction    action,
             const char     *status,
             const char     *remote_mta,
             const char     *diagnostic,
             gint64          now)
{
  rcpt->action = action;
  g_free (rcpt->status);
  rcpt->status = g_strdup (status);
  g_free (rcpt->remote_mta);
  rcpt->remote_mta = g_strdup (remote_mta);
  g_free (rcpt->diagnostic);
  rcpt->diagnostic = g_strdup (diagnostic);
  rcpt->last_attempt = now;
  rcpt->attempts++;
}

/* A temporary failure: schedule the next attempt, or fail 4.4.7 when the queue lifetime is
 * over. Returns TRUE if the recipient became final. */
static gboolean
temporary_failure (RelayServer    *server,
                   RelayMessage   *msg,
                   RelayRecipient *rcpt,
                   const char     *status,
                   const char     *diagnostic,
                   gint64          now)
{
  RelayConfig *config = server->config;
  gint64 deadline = msg->arrival + config->max_queue_lifetime;
  double interval;

  set_outcome (rcpt, MSGTRK_ACTION_DELAYED, status, NULL, diagnostic, now);
  if (now >= deadline)
    {
      g_free (rcpt->status);
      rcpt->status = g_strdup ("4.4.7");
      rcpt->action = MSGTRK_ACTION_FAILED;
      rcpt->final = TRUE;
      return TRUE;
    }
  interval = config->retry_first * pow (config->retry_factor, MIN (rcpt->attempts - 1, 60u));
  interval = MIN (interval, (double) config->retry_max_interval);
  rcpt->next_attempt = MIN (now + (gint64) interval, deadline);
  return FALSE;
}

/* The key under which a recipient entry of a tracking record is matched. */
static char *
entry_key (MsgtrkRecipientReport *entry)
{
  const char *addr = msgtrk_recipient_report_get_original_recipient (entry);
  g_autofree char *normal = NULL;

  if (addr == NULL)
    addr = msgtrk_recipient_report_get_final_recipient (entry);
  normal = msgtrk_address_normalize (addr);
  return normal ? g_ascii_strdown (normal, -1) : NULL;
}

/*
 * Write @msg's tracking record. Copies of one message can reach this relay more than once
 * under the same ENVID (a message split for different next hops that meet again, or a
 * resend): their recipients are kept side by side in the one record for that ENVID, so
 * that a later copy never hides an earlier one's recipients. Only a record with the same
 * authenticator is merged; this copy's entries replace older ones for the same recipient.
 * A record of another authenticator that has not expired belongs to the first sender:
 * track_store_put() refuses to replace it (MSGTRK_ERROR_INVALID_SECRET), and this message
 * goes untracked here (docs/relay.md, "Who owns a tracking record").
 * Serialised per ENVID (RELAY_TRACK_LOCKS), not for all records: workers updating
 * different records write side by side.
 */
static gboolean
track_record_update (RelayServer  *server,
                     RelayMessage *msg,
                     MsgtrkReport *report,
                     GError      **error)
{
  g_autoptr (GMutexLocker) locker =
    g_mutex_locker_new (&server->track_locks[g_str_hash (msg->envid) % RELAY_TRACK_LOCKS]);
  g_autoptr (MsgtrkReport) old = NULL;
  g_autofree char *old_auth = NULL;
  gint64 old_expires = 0;
  gint64 old_version = 0;
  gint64 expires = msg->arrival + msg->mtrk_timeout;
  gint64 version;
  gboolean ok = TRUE;

  if (server->track_store != NULL)
    old = track_store_load (server->track_store, msg->envid, &old_auth, &old_expires,
                            &old_version, NULL);
  /* Above the stored one: the clock may have been set back since it was written. */
  version = track_store_next_version_after (old_version);
  if (old != NULL && g_strcmp0 (old_auth, msg->authenticator) == 0)
    {
      g_autoptr (GHashTable) mine = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      GPtrArray *entries = msgtrk_report_get_recipients (report);
      GPtrArray *old_entries = msgtrk_report_get_recipients (old);

      for (guint i = 0; i < entries->len; i++)
        {
          char *key = entry_key (g_ptr_array_index (entries, i));

          if (key != NULL)
            g_hash_table_add (mine, key);
        }
      for (guint i = 0; i < old_entries->len; i++)
        {
          MsgtrkRecipientReport *entry = g_ptr_array_index (old_entries, i);
          g_autofree char *key = entry_key (entry);

          if (key != NULL && !g_hash_table_contains (mine, key)
              && entries->len < MSGTRK_REPORT_MAX_RECIPIENTS)
            msgtrk_report_add_recipient (report, entry);
        }
      expires = MAX (expires, old_expires);
    }
  /* [push]: the record goes to the site's receiver from the durable spool (one version
   * for both copies, so the store keeps the same order everywhere). */
  if (server->push != NULL)
    {
      g_autofree char *fields = msgtrk_report_to_fields (report);
      g_autoptr (GError) push_error = NULL;

      if (fields == NULL
          || !push_sender_submit (server->push, msg->envid, msg->authenticator, expires, version,
                                  fields, NULL, &push_error))
        g_warning ("%s: record not pushed: %s", msg->id,
                   push_error != NULL ? push_error->message : "cannot write the report");
    }
  if (server->track_store != NULL)
    ok = track_store_put_versioned (server->track_store, msg->envid, msg->authenticator,
                                    expires, version, report, error);
  return ok;
}

static gboolean
wants_dsn (RelayMessage   *msg,
           RelayRecipient *rcpt,
           MsgtrkDsnNotify flag)
{
  MsgtrkDsnNotify notify = rcpt->notify;

  if (msg->is_dsn || msg->sender[0] == '\0')
    return FALSE;
  /* RFC 3461 5.1: without NOTIFY, FAILURE (and DELAY at the MTA's choice: we do not). */
  if (notify == MSGTRK_DSN_NOTIFY_UNSET)
    notify = MSGTRK_DSN_NOTIFY_FAILURE;
  return (notify & flag) != 0;
}

static void
log_outcome (RelayMessage   *msg,
             RelayRecipient *rcpt)
{
  g_message ("%s: to=<%s> action=%s status=%s%s%s%s%s", msg->id, rcpt->address,
             msgtrk_action_to_string (rcpt->action), rcpt->status ? rcpt->status : "-",
             rcpt->remote_mta ? " relay=" : "", rcpt->remote_mta ? rcpt->remote_mta : "",
             rcpt->diagnostic ? " " : "", rcpt->diagnostic ? rcpt->diagnostic : "");
}

static void
apply_smtp_outcomes (RelayServer       *server,
                     RelayMessage      *msg,
                     const RelayRoute  *route,
                     GPtrArray         *group,
                     RelayClientResult *result,
                     GPtrArray         *dsn,
                     gint64             now)
{
  /* An opaque route never names its next hop in a record or a DSN. */
  const char *remote_mta = route->opaque ? NULL : result->remote_domain;

  for (guint i = 0; i < group->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (group, i);
      RelayRcptOutcome *o = &result->outcomes[i];
      const char *diagnostic = o->diagnostic;

      if (route->opaque && o->code == 0)
        diagnostic = "X-msgtrk; the next hop could not be reached";

      if (o->code / 100 == 2 && route->opaque)
        {
          set_outcome (rcpt, MSGTRK_ACTION_OPAQUE, "2.0.0", NULL, NULL, now);
          rcpt->final = TRUE;
          if (!result->offered_dsn && wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_SUCCESS))
            g_ptr_array_add (dsn, rcpt);
        }
      else if (o->code / 100 == 2)
        {
          gboolean transferred = result->offered_mtrk && relay_message_is_tracked (msg);

          set_outcome (rcpt, transferred ? MSGTRK_ACTION_TRANSFERRED : MSGTRK_ACTION_RELAYED,
                       transferred ? "2.0.0" : "2.1.9", remote_mta, diagnostic, now);
          rcpt->final = TRUE;
          /* RFC 3461 6.2.6.2: the next hop will not send DSNs, so we say "relayed". */
          if (!result->offered_dsn && wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_SUCCESS))
            g_ptr_array_add (dsn, rcpt);
        }
      else if (o->code / 100 == 5)
        {
          set_outcome (rcpt, MSGTRK_ACTION_FAILED, o->status, remote_mta, diagnostic, now);
          rcpt->final = TRUE;
          if (wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_FAILURE))
            g_ptr_array_add (dsn, rcpt);
        }
      else
        {
          const char *status = o->status != NULL && o->status[0] == '4' ? o->status : "4.4.1";

          if (temporary_failure (server, msg, rcpt, status, diagnostic, now))
            {
              if (wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_FAILURE))
                g_ptr_array_add (dsn, rcpt);
            }
          else if (!rcpt->delay_notified && wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_DELAY))
            {
              rcpt->delay_notified = TRUE;
              g_ptr_array_add (dsn, rcpt);
            }
        }
      log_outcome (msg, rcpt);
    }
}

/* The key of the next hop (relay_route_hop_key()) of @msg's first recipient still to be
 * delivered by SMTP, or NULL: the scheduler prefers it for a worker holding a session to
 * that hop. */
char *
relay_deliver_hop_of (RelayServer  *server,
                      RelayMessage *msg)
{
  for (guint i = 0; i < msg->rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (msg->rcpts, i);
      const RelayRoute *route;

      if (rcpt->final)
        continue;
      route = relay_config_find_route (server->config, rcpt->address);
      if (route != NULL && route->kind == RELAY_ROUTE_SMTP)
        return relay_route_hop_key (route);
    }
  return NULL;
}

/* One delivery attempt for every due recipient of @msg (called by a queue worker, whose
 * session cache @cache is, or NULL). */
void
relay_deliver_message (RelayServer      *server,
                       RelayClientCache *cache,
                       RelayMessage     *msg)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr (GPtrArray) dsn = g_ptr_array_new ();
  g_autoptr (GHashTable) groups = g_hash_table_new_full (NULL, NULL, NULL,
                                                         (GDestroyNotify) g_ptr_array_unref);
  g_autoptr (GError) error = NULL;
  GHashTableIter iter;
  gpointer key, value;
  gboolean changed = FALSE;

  for (guint i = 0; i < msg->rcpts->len; i++)
    {
      RelayRecipient *rcpt = g_ptr_array_index (msg->rcpts, i);
      const RelayRoute *route;

      if (rcpt->final || rcpt->next_attempt > now)
        continue;
      changed = TRUE;
      route = relay_config_find_route (server->config, rcpt->address);
      if (route == NULL)
        {
          set_outcome (rcpt, MSGTRK_ACTION_FAILED, "5.1.2", NULL,
                       "X-msgtrk; no route for this domain", now);
          rcpt->final = TRUE;
          if (wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_FAILURE))
            g_ptr_array_add (dsn, rcpt);
          log_outcome (msg, rcpt);
          continue;
        }
      switch (route->kind)
        {
        case RELAY_ROUTE_ERROR:
          {
            g_autofree char *diag = g_strdup_printf ("smtp; %s %s %s",
                                                     route->status[0] == '5' ? "550" : "450",
                                                     route->status, route->text);
            if (route->status[0] == '5')
              {
                set_outcome (rcpt, MSGTRK_ACTION_FAILED, route->status, NULL, diag, now);
                rcpt->final = TRUE;
                if (wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_FAILURE))
                  g_ptr_array_add (dsn, rcpt);
              }
            else if (temporary_failure (server, msg, rcpt, route->status, diag, now))
              {
                if (wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_FAILURE))
                  g_ptr_array_add (dsn, rcpt);
              }
            else if (!rcpt->delay_notified && wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_DELAY))
              {
                rcpt->delay_notified = TRUE;
                g_ptr_array_add (dsn, rcpt);
              }
            log_outcome (msg, rcpt);
          }
          break;

        case RELAY_ROUTE_LOCAL:
          {
            g_autoptr (GError) local_error = NULL;
            gboolean permanent = FALSE;

            if (deliver_local (server, msg, rcpt, route, &permanent, &local_error))
              {
                set_outcome (rcpt, MSGTRK_ACTION_DELIVERED, "2.0.0", NULL, NULL, now);
                rcpt->final = TRUE;
                if (wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_SUCCESS))
                  g_ptr_array_add (dsn, rcpt);
              }
            else
              {
                g_autofree char *diag = g_strdup_printf ("X-msgtrk; local delivery: %s",
                                                         local_error->message);
                if (permanent)
                  {
                    set_outcome (rcpt, MSGTRK_ACTION_FAILED, "5.1.3", NULL, diag, now);
                    rcpt->final = TRUE;
                    if (wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_FAILURE))
                      g_ptr_array_add (dsn, rcpt);
                  }
                else if (temporary_failure (server, msg, rcpt, "4.3.0", diag, now))
                  {
                    if (wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_FAILURE))
                      g_ptr_array_add (dsn, rcpt);
                  }
                else if (!rcpt->delay_notified
                         && wants_dsn (msg, rcpt, MSGTRK_DSN_NOTIFY_DELAY))
                  {
                    rcpt->delay_notified = TRUE;
                    g_ptr_array_add (dsn, rcpt);
                  }
              }
            log_outcome (msg, rcpt);
          }
          break;

        case RELAY_ROUTE_SMTP:
          {
            GPtrArray *group = g_hash_table_lookup (groups, route);
            if (group == NULL)
              {
                group = g_ptr_array_new ();
                g_hash_table_insert (groups, (gpointer) route, group);
              }
            g_ptr_array_add (group, rcpt);
          }
          break;

        default:
          g_assert_not_reached ();
        }
    }

  g_hash_table_iter_init (&iter, groups);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GPtrArray *group = value;
      RelayClientResult result = { 0 };

      result.outcomes = g_new0 (RelayRcptOutcome, group->len);
      relay_client_deliver (server, cache, msg, key, group, &result);
      now = g_get_real_time () / G_USEC_PER_SEC;
      apply_smtp_outcomes (server, msg, key, group, &result, dsn, now);
      for (guint i = 0; i < group->len; i++)
        {
          g_free (result.outcomes[i].status);
          g_free (result.outcomes[i].diagnostic);
        }
      g_free (result.outcomes);
      relay_client_result_clear (&result);
    }

  if (!changed)
    return;

  if (dsn->len > 0 && !relay_dsn_send (server, msg, dsn, &error))
    {
      g_warning ("%s: cannot queue a DSN: %s", msg->id, error->message);
      g_clear_error (&error);
    }
  /* A message now done is removed by the queue: no envelope to save (after a crash
   * before the removal it is delivered again: at least once). */
  if (!relay_message_is_done (msg) && !relay_queue_save (server->queue, msg, &error))
    {
      g_warning ("%s: cannot save the envelope: %s", msg->id, error->message);
      g_clear_error (&error);
    }
  if (relay_message_is_tracked (msg))
    {
      g_autoptr (MsgtrkReport) report =
        relay_report_build (server->config, msg, MSGTRK_REPORT_KIND_TRACKING_STATUS, msg->rcpts);

      if (!track_record_update (server, msg, report, &error))
        {
          /* Neither line names an authenticator (relay-server.h: never B with its ENVID). */
          if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET))
            g_message ("%s: not tracked: %s", msg->id, error->message);
          else
            g_warning ("%s: cannot write the tracking record: %s", msg->id, error->message);
        }
    }
}
