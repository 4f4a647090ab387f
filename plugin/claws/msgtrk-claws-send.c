/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-claws-send.c: the tracked send of the Claws Mail plugin.
 *
 * A tracked message is first queued by Claws (compose_queue) into a Queue folder; this
 * file puts it in its tracked form (special header X-Msgtrk-Track: yes, recipients under
 * X-Msgtrk-R: instead of R: so that Claws's own sender refuses it, and the LOCKED flag so
 * that it skips it quietly), asks msgtrkd to Prepare (ENVID, authenticator, timeout),
 * then sends it on Claws's own SMTP session: the EHLO reply is read by wrapping the
 * session's recv_msg, and MAIL FROM / RCPT TO get ENVID, MTRK, RET, NOTIFY, ORCPT only as
 * far as the server offered DSN and MTRK (libmsgtrk's MsgtrkEnvelope decides). Claws's
 * smtp_from()/smtp_rcpt() write an argument that contains '<' verbatim. The server's 250
 * to the end of DATA is noted at once in the sent journal (a synced key file per message,
 * see "the sent journal" below); then the message is filed in the Sent folder (once, by
 * Message-ID), removed from the queue, and msgtrkd hears Committed (offered keywords,
 * final reply) or Aborted (reason). At plugin load mtc_send_adopt_queued() takes the
 * tracked queued messages back (form, lock) and finishes the handovers a crash cut.
 * A connection Claws reports only as failed is tried once with GSocketClient for the
 * reason. Work inside Claws's folder calls (which run the main loop) is marked with
 * mtc_folder_busy_enter/leave so that the plugin's callbacks do not re-enter them.
 *
 * Limits: one message at a time (others wait in a FIFO); no newsgroups; SMTP AUTH only with
 * a password kept in Claws's password store (no prompt); OAuth2 is not supported; a crash
 * between the server's 250 and the synced journal entry (a fraction of a millisecond)
 * sends the message again, tracked. MSGTRK_CLAWS_CRASH_AT is a test hook (SIGKILL at a step).
 * Must never: lose a message (it stays in the Queue folder until it is in Sent), send a
 * tracked message untracked without asking, let Claws's own sender take one, send one the
 * server accepted again, block the UI, or see the secret A.
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <signal.h>

#include "defs.h"
#include "utils.h"
#include "file-utils.h"
#include "log.h"
#include "session.h"
#include "smtp.h"
#include "unmime.h"
#include "folder.h"
#include "procmsg.h"
#include "prefs_account.h"
#include "prefs_common.h"
#include "account.h"
#include "alertpanel.h"
#include "passwordstore.h"
#include "send_message.h"

#include <msgtrk.h>
#include "msgtrkd-error.h"
#include "msgtrk-states.h"
#include "msgtrk-claws.h"

/* How often the send job looks at the SMTP session's state (ms). */
#define MTC_SEND_POLL_MS 50
/* How soon a send or take-over asked for inside one of Claws's folder calls is tried
 * again (ms). */
#define MTC_BUSY_RETRY_MS 100
/* The sent journal's directory, in Claws's configuration directory. */
#define MTC_JOURNAL_DIR "msgtrk-sent"
/* How long the diagnosis of a failed connection may take (s). */
#define MTC_DIAGNOSE_TIMEOUT_S 10
/* How long to wait for the reply to QUIT before closing anyway (µs). */
#define MTC_QUIT_WAIT_US (5 * G_USEC_PER_SEC)
/* End of Claws's special header block in a queue file. */
#define MTC_END_SPECIAL "X-Claws-End-Special-Headers:"

typedef enum {
  MTC_PHASE_PREPARE,
  MTC_PHASE_SMTP,
  MTC_PHASE_QUIT,
  MTC_PHASE_DIAGNOSE,   /* Claws's session failed without a reason: finding it */
  MTC_PHASE_DONE,
} MtcPhase;

typedef struct {
  FolderItem *queue;
  gint msgnum;
  char *path;
  char *data;           /* the whole queue file */
  gsize data_len;
  gsize body_offset;    /* where the RFC 5322 message starts */

  char *sender;
  GPtrArray *rcpts;     /* bare addresses */
  PrefsAccount *account;
  char *save_folder;    /* SCF: identifier, or NULL */
  char *message_id;     /* without brackets */
  char *subject;

  gboolean tracked;
  gboolean content_track; /* X-Msgtrk-Content-Track: the user asked for trace records */
  char *content_track_key; /* from RequestContentTrack; NULL: no header is added */
  char *envid;
  gboolean sent;        /* the queue file says the server accepted it already */
  gboolean sent_noted;  /* ... and this job wrote that (job_mark_sent) */
  gboolean note_failed; /* ... or tried, and the note could not be made */
  MsgtrkEnvelope *envelope;

  MtcPhase phase;
  SMTPSession *session;
  gint (*orig_recv_msg) (Session *session, const gchar *msg);
  GString *ehlo;
  gboolean ehlo_complete;
  char **offered;
  GSList *rcpt_args;    /* owned strings, Claws's to_list points here */
  char *eom_reply;
  char *error;
  gboolean reply_lost;  /* the message and its "." went out, no reply came: maybe sent */
  gint64 quit_deadline;
  guint poll_id;
} MtcSendJob;

static GQueue pending = G_QUEUE_INIT;  /* of MtcSendJob*, waiting */
static guint send_all_id;              /* a send of all queued tracked messages, later */
static guint adopt_later_id;           /* a take-over of the queued ones, later */
static MtcSendJob *current;
static GCancellable *send_cancellable; /* cancelled when the plugin unloads */

static void job_next (void);
static void job_start_smtp (MtcSendJob *job);
static gboolean journal_read (MtcSendJob *job);

static void
job_free (MtcSendJob *job)
{
  if (job == NULL)
    return;
  if (job->poll_id)
    g_source_remove (job->poll_id);
  if (job->session)
    session_destroy (SESSION (job->session));
  g_free (job->path);
  g_free (job->data);
  g_free (job->sender);
  if (job->rcpts)
    g_ptr_array_unref (job->rcpts);
  g_free (job->save_folder);
  g_free (job->message_id);
  g_free (job->subject);
  g_free (job->envid);
  g_free (job->content_track_key);
  g_clear_object (&job->envelope);
  if (job->ehlo)
    g_string_free (job->ehlo, TRUE);
  g_strfreev (job->offered);
  g_slist_free_full (job->rcpt_args, g_free);
  g_free (job->eom_reply);
  g_free (job->error);
  g_free (job);
}

/* The header block of the queue file: Claws's "KEY:value" lines up to
 * "X-Claws-End-Special-Headers: 1". */
static const char *
special_value (const char *line, const char *key)
{
  gsize n = strlen (key);

  if (g_ascii_strncasecmp (line, key, n) == 0)
    return line + n;
  return NULL;
}

static gboolean
job_parse (MtcSendJob *job, GError **error)
{
  gsize pos = 0;
  gboolean end_seen = FALSE;
  gint account_id = -1;

  job->rcpts = g_ptr_array_new_with_free_func (g_free);
  while (pos < job->data_len && pos < MTC_QUEUE_HEADER_MAX)
    {
      const char *nl = memchr (job->data + pos, '\n', job->data_len - pos);
      gsize len = nl ? (gsize) (nl - (job->data + pos)) : job->data_len - pos;
      g_autofree char *line = g_strndup (job->data + pos, len);
      const char *v;

      g_strchomp (line);
      pos += len + (nl ? 1 : 0);
      if ((v = special_value (line, MTC_END_SPECIAL)) != NULL)
        {
          end_seen = TRUE;
          break;
        }
      if ((v = special_value (line, "S:")) != NULL)
        job->sender = g_strdup (v);
      else if ((v = special_value (line, "R:")) != NULL
               || (v = special_value (line, MTC_RCPT_HEADER)) != NULL)
        {
          /* Claws writes "<a>,<b>"; libmsgtrk's one path parser cuts it, so a quoted
           * local part with "," or ">" stays one address. */
          g_auto (GStrv) boxes = NULL;
          g_autoptr (GError) local_error = NULL;

          if (!msgtrk_smtp_path_list_split (v, &boxes, &local_error))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("The queued message has a recipient that is not an address: %s"),
                           local_error->message);
              return FALSE;
            }
          for (guint i = 0; boxes[i] != NULL; i++)
            g_ptr_array_add (job->rcpts, g_steal_pointer (&boxes[i]));
        }
      else if (special_value (line, MTC_CONTENT_TRACK_HEADER) != NULL)
        job->content_track = TRUE;
      else if ((v = special_value (line, "MAID:")) != NULL)
        account_id = (gint) g_ascii_strtoll (v, NULL, 10);
      else if ((v = special_value (line, "SCF:")) != NULL && *v)
        job->save_folder = g_strdup (v);
      else if ((v = special_value (line, "MID:")) != NULL && *v)
        {
          g_autofree char *mid = g_strdup (v);
          g_strstrip (mid);
          if (mid[0] == '<' && mid[strlen (mid) - 1] == '>')
            job->message_id = g_strndup (mid + 1, strlen (mid) - 2);
          else
            job->message_id = g_strdup (mid);
        }
    }
  if (!end_seen)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("“%s” is not a Claws Mail queue file (no end of its special headers)"),
                   job->path);
      return FALSE;
    }
  job->body_offset = pos;
  job->account = account_id >= 0 ? account_find_from_id (account_id) : NULL;
  if (job->account == NULL)
    job->account = account_get_default ();
  if (job->sender == NULL || job->rcpts->len == 0 || job->account == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("The queued message has no sender, no recipients or no account"));
      return FALSE;
    }
  if (job->account->protocol == A_NNTP)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   _("Tracked sending is for mail, not for newsgroups"));
      return FALSE;
    }

  /* The Subject: of the message itself (unfolded, MIME-decoded). */
  {
    GString *subject = NULL;
    gsize p = job->body_offset;
    while (p < job->data_len)
      {
        const char *nl = memchr (job->data + p, '\n', job->data_len - p);
        gsize len = nl ? (gsize) (nl - (job->data + p)) : job->data_len - p;
        const char *line = job->data + p;

        if (len == 0 || (len == 1 && line[0] == '\r'))
          break;
        if (subject && (line[0] == ' ' || line[0] == '\t'))
          g_string_append_len (subject, line, len);
        else if (subject)
          break;
        else if (len >= 8 && g_ascii_strncasecmp (line, "Subject:", 8) == 0)
          subject = g_string_new_len (line + 8, len - 8);
        p += len + (nl ? 1 : 0);
      }
    if (subject)
      {
        g_autofree char *raw = g_string_free (subject, FALSE);
        g_strdelimit (raw, "\r\n", ' ');
        job->subject = unmime_header (g_strstrip (raw), FALSE);
      }
    else
      job->subject = g_strdup ("");
  }
  journal_read (job);
  return TRUE;
}

/* Whether a queue file carries our mark (first lines, before the end of the block). */
gboolean
mtc_queue_file_is_tracked (const char *path)
{
  FILE *fp = fopen (path, "rb");
  char buf[1024];
  gboolean found = FALSE;

  if (fp == NULL)
    return FALSE;
  while (fgets (buf, sizeof buf, fp) != NULL)
    {
      if (g_ascii_strncasecmp (buf, MTC_TRACK_HEADER, strlen (MTC_TRACK_HEADER)) == 0)
        {
          found = TRUE;
          break;
        }
      if (g_ascii_strncasecmp (buf, MTC_END_SPECIAL, strlen (MTC_END_SPECIAL)) == 0)
        break;
    }
  fclose (fp);
  return found;
}

/* Test hook: MSGTRK_CLAWS_CRASH_AT=NAME kills Claws (SIGKILL: nothing is saved, as in a
 * crash) when a send reaches the point NAME. Only the end-to-end tests set it. */
void
mtc_crash_point (const char *name)
{
  const char *at = g_getenv ("MSGTRK_CLAWS_CRASH_AT");

  if (at != NULL && g_str_equal (at, name))
    {
      g_printerr ("msgtrk: test crash at %s\n", name);
      raise (SIGKILL);
    }
}

static gboolean
line_has_prefix (const char *line, gsize len, const char *prefix)
{
  gsize n = strlen (prefix);

  return len >= n && g_ascii_strncasecmp (line, prefix, n) == 0;
}

/* The tracked form of a queue file's text: our mark first, then Claws's special headers
 * with every "R:" renamed MTC_RCPT_HEADER (Claws's own sender then finds no recipient and
 * refuses the file), then the message unchanged. NULL if DATA is not a Claws queue file. */
static char *
queue_tracked_form (const char *data, gsize len, gboolean content_track, gsize *out_len)
{
  g_autoptr (GString) out = g_string_sized_new (len + 256);
  gsize pos = 0;

  g_string_append (out, MTC_TRACK_LINE);
  /* Without CONTENT_TRACK a mark already there is kept (copied with the other lines). */
  if (content_track)
    g_string_append (out, MTC_CONTENT_TRACK_LINE);
  while (pos < len && pos < MTC_QUEUE_HEADER_MAX)
    {
      const char *line = data + pos;
      const char *nl = memchr (line, '\n', len - pos);
      gsize n = nl ? (gsize) (nl - line) + 1 : len - pos;

      pos += n;
      if (line_has_prefix (line, n, MTC_TRACK_HEADER)
          || (content_track && line_has_prefix (line, n, MTC_CONTENT_TRACK_HEADER)))
        continue;
      if (line_has_prefix (line, n, "R:"))
        {
          g_string_append (out, MTC_RCPT_HEADER);
          g_string_append_len (out, line + 2, (gssize) n - 2);
          continue;
        }
      g_string_append_len (out, line, (gssize) n);
      if (line_has_prefix (line, n, MTC_END_SPECIAL))
        {
          g_string_append_len (out, data + pos, (gssize) (len - pos));
          *out_len = out->len;
          return g_string_free (g_steal_pointer (&out), FALSE);
        }
    }
  return NULL;
}

static void
queue_lock (FolderItem *queue, gint msgnum)
{
  MsgInfo *info = folder_item_get_msginfo (queue, msgnum);

  if (info)
    {
      if (!MSG_IS_LOCKED (info->flags))
        procmsg_msginfo_set_flags (info, MSG_LOCKED, 0);
      procmsg_msginfo_free (&info);
    }
}

static void
queue_unlock (FolderItem *queue, gint msgnum)
{
  MsgInfo *info = folder_item_get_msginfo (queue, msgnum);

  if (info)
    {
      procmsg_msginfo_unset_flags (info, MSG_LOCKED, 0);
      procmsg_msginfo_free (&info);
    }
}

/* Put a queued message in its tracked form and lock it; *NEW_NUM is its number then.
 * Only when a message is queued or taken over, never while it is being sent. The tracked
 * form is added to the folder as a new message (written and synced first) and the old one
 * removed, as Claws itself adds and removes queued messages: changing a message file in
 * place and rescanning the folder makes Claws 4.1.1 free the MsgInfo its message list
 * still shows (folder_item_scan_full, then summary_show reads it: heap corruption, the
 * "corrupted double-linked list" of issue 8 item 2, found with valgrind). A crash between
 * the two steps leaves both copies, both tracked forms or locked: the take-over at load
 * removes the older duplicate (same Message-ID). */
static gboolean queue_rewrite_in (FolderItem *queue, gint msgnum, gint *new_num,
                                  gboolean content_track, GError **error);

static gboolean
queue_rewrite (FolderItem *queue, gint msgnum, gint *new_num, gboolean content_track,
               GError **error)
{
  gboolean ok;

  mtc_folder_busy_enter ();
  ok = queue_rewrite_in (queue, msgnum, new_num, content_track, error);
  mtc_folder_busy_leave ();
  return ok;
}

static gboolean
queue_rewrite_in (FolderItem *queue, gint msgnum, gint *new_num, gboolean content_track,
                  GError **error)
{
  g_autofree char *path = folder_item_fetch_msg (queue, msgnum);
  g_autofree char *data = NULL;
  g_autofree char *form = NULL;
  gsize len = 0, form_len = 0;

  if (path == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("The queued message %d is gone"), msgnum);
      return FALSE;
    }
  if (!g_file_get_contents (path, &data, &len, error))
    return FALSE;
  form = queue_tracked_form (data, len, content_track, &form_len);
  if (form == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("“%s” is not a Claws Mail queue file (no end of its special headers)"),
                   path);
      return FALSE;
    }
  *new_num = msgnum;
  queue_lock (queue, msgnum);   /* the old form stays out of Claws's sender meanwhile */
  if (form_len != len || memcmp (form, data, len) != 0)
    {
      g_autofree char *tmp = g_strdup_printf ("%s%cmsgtrk-queue.%08x", get_tmp_dir (),
                                              G_DIR_SEPARATOR, g_random_int ());
      gint num;

      if (!g_file_set_contents_full (tmp, form, (gssize) form_len,
                                     G_FILE_SET_CONTENTS_CONSISTENT
                                       | G_FILE_SET_CONTENTS_DURABLE,
                                     0600, error))
        return FALSE;
      num = folder_item_add_msg (queue, tmp, NULL, TRUE);
      if (num <= 0)
        {
          g_unlink (tmp);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       _("Could not store the tracked form of the queued message %d"),
                       msgnum);
          return FALSE;
        }
      queue_lock (queue, num);
      mtc_crash_point ("after-mark-add");
      queue_unlock (queue, msgnum);
      folder_item_remove_msg (queue, msgnum);
      *new_num = num;
    }
  return TRUE;
}

/* Mark a queued message as one to send tracked: our special header, the recipients moved
 * out of Claws's reach, and the LOCKED flag (Claws's queue sender skips locked messages).
 * *NEW_NUM (may be MSGNUM) is the message's number afterwards. */
gboolean
mtc_queue_mark_tracked (FolderItem *queue, gint msgnum, gint *new_num, GError **error)
{
  return mtc_queue_mark_tracked_full (queue, msgnum, new_num, FALSE, error);
}

/* The same; CONTENT_TRACK adds MTC_CONTENT_TRACK_HEADER (the user asked relays to report
 * the route, docs/harrison.md). */
gboolean
mtc_queue_mark_tracked_full (FolderItem *queue, gint msgnum, gint *new_num,
                             gboolean content_track, GError **error)
{
  gint dummy;

  return queue_rewrite (queue, msgnum, new_num ? new_num : &dummy, content_track, error);
}

/* ---- the end of a job ---- */

static void
committed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *mid = user_data;

  if (!msgtrk_dbus_tracker1_call_committed_finish (MSGTRK_DBUS_TRACKER1 (source), res, &error))
    g_warning ("msgtrkd did not take the commit of <%s>: %s", mid, error->message);
  else
    {
      const char *ids[] = { mid, NULL };
      mtc_refresh_message_ids (ids);
    }
}

static void
aborted_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!msgtrk_dbus_tracker1_call_aborted_finish (MSGTRK_DBUS_TRACKER1 (source), res, &error))
    g_warning ("msgtrkd did not take the abort: %s", error->message);
}

static FolderItem *
job_outbox (MtcSendJob *job)
{
  FolderItem *outbox = NULL;

  if (job->save_folder)
    outbox = folder_find_item_from_identifier (job->save_folder);
  else if (prefs_common_get_prefs ()->savemsg)
    outbox = account_get_special_folder (job->account, F_OUTBOX);
  return outbox;
}

/* File the sent message (without the queue's special headers) in the Sent folder and
 * tag it; returns FALSE if it could not be stored (the queued copy is then kept). */
static gboolean
job_file_sent (MtcSendJob *job, GError **error)
{
  FolderItem *outbox = job_outbox (job);
  g_autofree char *tmp = NULL;
  MsgFlags flags = { 0, 0 };
  gint num;
  MsgInfo *info;

  if (outbox == NULL)
    return TRUE;   /* the user does not keep sent messages */
  if (job->message_id != NULL)
    {
      /* Resumed after a crash that came after the copy was filed: never a second one. */
      info = folder_item_get_msginfo_by_msgid (outbox, job->message_id);
      if (info != NULL)
        {
          procmsg_msginfo_free (&info);
          return TRUE;
        }
    }
  tmp = g_strdup_printf ("%s%cmsgtrk-sent.%08x", get_tmp_dir (), G_DIR_SEPARATOR,
                         g_random_int ());
  if (!g_file_set_contents_full (tmp, job->data + job->body_offset,
                                 (gssize) (job->data_len - job->body_offset),
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
    return FALSE;
  folder_item_scan (outbox);
  num = folder_item_add_msg (outbox, tmp, &flags, TRUE);
  if (num < 0)
    {
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("The message was sent but could not be saved in the Sent folder"));
      return FALSE;
    }
  info = folder_item_get_msginfo (outbox, num);
  if (info)
    {
      /* An untracked send (the user's choice) shows so too: never a row that looks
       * as if it were tracked, nor one that looks forgotten. */
      const char *text = job->tracked ? mtc_latest_status (job->message_id) : NULL;

      if (text == NULL)
        text = mtc_state_label (
          job->tracked ? msgtrk_message_state_to_string (MSGTRK_MESSAGE_STATE_SENDING)
                       : MTC_STATE_NOT_TRACKED);
      g_debug ("status of <%s>: %s (filed)", job->message_id ? job->message_id : "", text);
      mtc_tag_message (info, text);
      procmsg_msginfo_free (&info);
    }
  mtc_crash_point ("after-sent-filed");
  return TRUE;
}

/* ---- the sent journal ----
 * One small key file per message the server accepted and whose handover to Sent is not
 * finished, in <Claws's configuration directory>/MTC_JOURNAL_DIR, named by a digest of the
 * Message-ID: the ENVID (empty: sent untracked), the EHLO keywords offered and the
 * server's final reply (for msgtrkd's Committed). Written before the message is sent as
 * <digest>.pending (synced; a disk that cannot take it stops the send before anything goes
 * out), renamed to <digest> the moment the server answers 250 to the end of DATA (a
 * rename needs no new room: a full disk cannot keep the note from being made, which would
 * send the message again), then rewritten with the reply, best effort; removed once the
 * queued copy is gone. A .pending note is never read as "sent" (a crash during the send:
 * the outcome is unknown, the message goes again, tracked). A queued message with an
 * entry is never sent again, only filed in Sent. The queue file itself is never
 * touched while a message is being sent: rewriting it then (and rescanning the folder from
 * inside Claws's SMTP callback) corrupted Claws's heap when the Queue folder was shown. */

static char *
journal_path (const char *message_id)
{
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, message_id, -1);

  return g_build_filename (get_rc_dir (), MTC_JOURNAL_DIR, sum, NULL);
}

/* The note of @job (ENVID, keywords, reply so far) written and synced at @path. */
static gboolean
journal_write (MtcSendJob *job, const char *path, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *dir = NULL;
  g_autofree char *data = NULL;
  g_autofree char *offered = job->offered ? g_strjoinv (" ", job->offered) : g_strdup ("");
  gsize len = 0;

  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  g_key_file_set_string (kf, "Sent", "message-id", job->message_id);
  g_key_file_set_string (kf, "Sent", "envid", job->tracked && job->envid ? job->envid : "");
  g_key_file_set_string (kf, "Sent", "offered", offered);
  g_key_file_set_string (kf, "Sent", "reply", job->eom_reply ? job->eom_reply : "");
  data = g_key_file_to_data (kf, &len, NULL);
  return g_file_set_contents_full (path, data, (gssize) len,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   0600, error);
}

static char *
journal_pending_path (const char *message_id)
{
  g_autofree char *path = journal_path (message_id);

  return g_strconcat (path, ".pending", NULL);
}

/* Before the message goes out: its note, as pending (not yet "sent"). */
static gboolean
job_note_pending (MtcSendJob *job, GError **error)
{
  g_autofree char *pending_path = NULL;

  if (job->message_id == NULL)
    return TRUE;
  pending_path = journal_pending_path (job->message_id);
  return journal_write (job, pending_path, error);
}

/* The server's 250: the pending note becomes the note (a rename: no new room needed),
 * then gets the reply, best effort. */
static gboolean
job_mark_sent (MtcSendJob *job, GError **error)
{
  g_autofree char *path = NULL;
  g_autofree char *pending_path = NULL;
  g_autoptr (GError) local = NULL;

  if (job->message_id == NULL)
    return TRUE;
  path = journal_path (job->message_id);
  pending_path = journal_pending_path (job->message_id);
  if (g_rename (pending_path, path) != 0)
    {
      int saved = errno;

      /* No pending note (a send that had none): write the note itself. */
      if (saved != ENOENT || !journal_write (job, path, &local))
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                       local != NULL ? local->message : g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  if (!journal_write (job, path, &local))
    log_warning (LOG_PROTOCOL, _("msgtrk: the note that <%s> was sent lacks the server's "
                                 "reply: %s\n"), job->message_id, local->message);
  return TRUE;
}

/* Whether the journal says this message was sent; if so the job learns what was noted. */
static gboolean
journal_read (MtcSendJob *job)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *path = NULL;
  g_autofree char *envid = NULL;
  g_autofree char *offered = NULL;

  if (job->message_id == NULL)
    return FALSE;
  path = journal_path (job->message_id);
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL))
    return FALSE;
  envid = g_key_file_get_string (kf, "Sent", "envid", NULL);
  offered = g_key_file_get_string (kf, "Sent", "offered", NULL);
  job->sent = TRUE;
  g_free (job->envid);
  job->envid = envid && *envid ? g_steal_pointer (&envid) : NULL;
  g_strfreev (job->offered);
  job->offered = g_strsplit (offered ? offered : "", " ", -1);
  g_free (job->eom_reply);
  job->eom_reply = g_key_file_get_string (kf, "Sent", "reply", NULL);
  return TRUE;
}

static gboolean
journal_has (const char *message_id)
{
  g_autofree char *path = message_id ? journal_path (message_id) : NULL;

  return path && g_file_test (path, G_FILE_TEST_EXISTS);
}

/* Forget the journal entries of messages no Queue folder holds any more (a crash after
 * the queued copy was removed, before its entry was). */
static void
journal_prune (GHashTable *queued_ids)
{
  g_autofree char *dir = g_build_filename (get_rc_dir (), MTC_JOURNAL_DIR, NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autoptr (GKeyFile) kf = g_key_file_new ();
      g_autofree char *mid = NULL;

      if (g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL))
        mid = g_key_file_get_string (kf, "Sent", "message-id", NULL);
      if (mid == NULL || !g_hash_table_contains (queued_ids, mid))
        g_unlink (path);
    }
}

static void
journal_remove (const char *message_id)
{
  g_autofree char *path = message_id ? journal_path (message_id) : NULL;

  if (path)
    g_unlink (path);
}

/* The server's 250 to the end of DATA: note it in the queue file before anything else.
 * Should that fail (disk full), the handover still runs; only a crash before it ends could
 * then send the message again (tracked). */
static void
job_note_sent (MtcSendJob *job)
{
  g_autoptr (GError) error = NULL;

  if (job->sent_noted)
    return;
  job->sent_noted = TRUE;
  mtc_crash_point ("after-smtp");
  if (!job_mark_sent (job, &error))
    {
      job->note_failed = TRUE;
      log_error (LOG_PROTOCOL, _("msgtrk: could not note that <%s> was sent: %s\n"),
                 job->message_id ? job->message_id : "", error->message);
    }
  mtc_crash_point ("after-sent-mark");
}

/* Committed for @job with @reply as the server's (made UTF-8: a server may answer in
 * Latin-1, and a D-Bus string must be UTF-8). */
static void
job_tell_committed (MtcSendJob         *job,
                    MsgtrkDBusTracker1 *proxy,
                    const char         *reply)
{
  const char *none[] = { NULL };
  g_autofree char *valid = g_utf8_make_valid (reply != NULL ? reply : "", -1);

  msgtrk_dbus_tracker1_call_committed (proxy, job->envid,
                                       job->offered ? (const char * const *) job->offered : none,
                                       valid, NULL, committed_cb,
                                       g_strdup (job->message_id ? job->message_id : ""));
}

static void
job_finish (MtcSendJob *job)
{
  MsgtrkDBusTracker1 *proxy = mtc_get_proxy ();

  job->phase = MTC_PHASE_DONE;
  if (job->poll_id)
    {
      g_source_remove (job->poll_id);
      job->poll_id = 0;
    }
  if (job->error == NULL)
    {
      g_autoptr (GError) ferr = NULL;

      if (!job->sent)
        {
          job_note_sent (job);
          log_message (LOG_PROTOCOL,
                       job->tracked ? _("msgtrk: sent <%s> (tracked)\n")
                                    : _("msgtrk: sent <%s>\n"),
                       job->message_id ? job->message_id : "");
        }
      else
        log_message (LOG_PROTOCOL, _("msgtrk: <%s> was sent before Claws Mail stopped; "
                                     "filing it in Sent\n"),
                     job->message_id ? job->message_id : "");
      mtc_folder_busy_enter ();
      if (job->tracked && proxy)
        job_tell_committed (job, proxy, job->eom_reply);
      if (job_file_sent (job, &ferr))
        {
          queue_unlock (job->queue, job->msgnum);
          if (folder_item_remove_msg (job->queue, job->msgnum) == 0)
            journal_remove (job->message_id);
        }
      mtc_folder_busy_leave ();
      /* Kept locked and noted as sent: it is filed, never sent, by the next try. */
      if (ferr != NULL && !job->note_failed)
        alertpanel_error (_("The message was sent, but: %s.\n"
                            "It stays in the Queue folder, noted as sent; Message ▸ Send "
                            "queued tracked messages files it in Sent without sending it "
                            "again."), ferr->message);
      else if (ferr != NULL)
        alertpanel_error (_("The message was sent, but: %s.\n"
                            "It stays in the Queue folder, and it could not be noted as sent "
                            "either: sending the queued tracked messages again would send "
                            "it a second time. Delete it from the Queue folder (the server "
                            "has it)."), ferr->message);
    }
  else
    {
      log_error (LOG_PROTOCOL, _("msgtrk: sending failed: %s\n"), job->error);
      if (job->reply_lost)
        {
          /* Not "not sent": msgtrkd records it as sent with no reply, and tracking tells
           * what became of it (an aborted attempt is forgotten at the next Prepare). */
          g_autofree char *text = g_strdup_printf (_("no reply to the end of the message: "
                                                     "%s; it may have been sent"),
                                                   job->error);

          if (job->tracked && job->envid && proxy)
            job_tell_committed (job, proxy, text);
          alertpanel_error (_("The server did not answer after the tracked message was "
                              "sent:\n%s\n\nIt may have been delivered. It stays in the "
                              "Queue folder; Message ▸ Send queued tracked messages sends "
                              "it again (tracked), which may deliver a second copy."),
                            job->error);
        }
      else
        {
          g_autofree char *reason = g_utf8_make_valid (job->error, -1);

          if (job->tracked && job->envid && proxy)
            msgtrk_dbus_tracker1_call_aborted (proxy, job->envid, reason, NULL, aborted_cb,
                                               NULL);
          alertpanel_error (_("Sending the tracked message failed:\n%s\n\n"
                              "It stays in the Queue folder; Message ▸ Send queued tracked "
                              "messages sends it again (tracked)."), job->error);
        }
    }
  if (current == job)
    current = NULL;
  job_free (job);
  job_next ();
}

static void
job_fail (MtcSendJob *job, const char *message)
{
  if (job->error == NULL)
    job->error = g_strdup (message);
  job_finish (job);
}

/* ---- SMTP on Claws's session ---- */

static gint
null_recv_notify (Session *s, const gchar *msg, gpointer data)
{
  return 0;
}

static gint
null_progress_notify (Session *s, guint cur, guint total, gpointer data)
{
  return 0;
}

static gint
null_data_notify (Session *s, guint len, gpointer data)
{
  return 0;
}

/* The EHLO reply is complete: give MAIL FROM and RCPT TO their parameters, as far as the
 * server offered them. Called before Claws's handler sends MAIL FROM. */
static gboolean
job_apply_capabilities (MtcSendJob *job, GError **error)
{
  g_autoptr (MsgtrkSmtpCapabilities) caps = NULL;
  SMTPSession *smtp = job->session;
  GSList *args = NULL;

  caps = msgtrk_smtp_capabilities_parse (job->ehlo->str, error);
  if (caps == NULL)
    return FALSE;
  g_strfreev (job->offered);
  job->offered = msgtrk_smtp_capabilities_list_keywords (caps);
  if (!job->tracked)
    return TRUE;
  {
    g_autofree char *from = msgtrk_envelope_build_mail_from_arg (job->envelope, caps,
                                                                 job->sender, error);
    if (from == NULL)
      return FALSE;
    for (guint i = 0; i < job->rcpts->len; i++)
      {
        char *arg = msgtrk_envelope_build_rcpt_to_arg (job->envelope, caps,
                                                       g_ptr_array_index (job->rcpts, i), error);
        if (arg == NULL)
          {
            g_slist_free_full (args, g_free);
            return FALSE;
          }
        args = g_slist_append (args, arg);
      }
    g_free (smtp->from);
    smtp->from = g_steal_pointer (&from);
  }
  g_slist_free_full (job->rcpt_args, g_free);
  job->rcpt_args = args;
  smtp->to_list = args;
  smtp->cur_to = args;
  return TRUE;
}

static gint
job_recv_msg (Session *session, const gchar *msg)
{
  MtcSendJob *job = session->data;
  SMTPSession *smtp = SMTP_SESSION (session);

  if (smtp->state == SMTP_EHLO)
    {
      if (job->ehlo_complete)
        {
          g_string_truncate (job->ehlo, 0);
          job->ehlo_complete = FALSE;
        }
      g_string_append (job->ehlo, msg);
      g_string_append (job->ehlo, "\r\n");
      if (strlen (msg) >= 4 && msg[3] != '-')
        {
          job->ehlo_complete = TRUE;
          if (msg[0] == '2')
            {
              g_autoptr (GError) error = NULL;
              if (!job_apply_capabilities (job, &error))
                {
                  g_free (job->error);
                  job->error = g_strdup_printf (_("Could not build the tracking envelope: %s"),
                                                error->message);
                  smtp->state = SMTP_ERROR;
                  smtp->error_val = SM_ERROR;
                  return -1;
                }
              /* Before MAIL FROM: the note the 250 will only rename. A disk that cannot
               * take it stops the send here, before anything goes out: at the 250 it could
               * not be noted, and the message would be sent again. */
              if (!job_note_pending (job, &error))
                {
                  g_free (job->error);
                  job->error = g_strdup_printf (_("Could not note the send beforehand (%s); "
                                                  "nothing was sent"), error->message);
                  smtp->state = SMTP_ERROR;
                  smtp->error_val = SM_ERROR;
                  return -1;
                }
            }
        }
    }
  /* The last line of the reply to the "." (RFC 5321: the text after the code is optional,
   * so a bare "550" is a reply too: a refusal, not a reply lost). */
  else if (smtp->state == SMTP_EOM && strlen (msg) >= 3 && msg[3] != '-')
    {
      g_free (job->eom_reply);
      job->eom_reply = g_strdup (msg);
      if (msg[0] == '2')
        job_note_sent (job);   /* at once: the window for a second send stays tiny */
    }
  return job->orig_recv_msg (session, msg);
}

static void
diagnose_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  MtcSendJob *job = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) conn = NULL;
  g_autofree char *why = NULL;

  conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), res, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* unloading: the job is gone */
  if (conn == NULL)
    /* TRANSLATORS: GIO's reason ("Could not connect to HOST: Connection refused"), then
     * the port. */
    why = g_strdup_printf (_("%s (port %u)"), error->message, SESSION (job->session)->port);
  else
    why = g_strdup_printf (_("the server %s:%u closed the connection before it answered"),
                           job->account->smtp_server, SESSION (job->session)->port);
  job_fail (job, why);
}

/* Claws's session says only that it failed (its log has the reason, we cannot read it):
 * try the same connection once on our own to learn why, in words the user can act on. */
static void
job_diagnose (MtcSendJob *job)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();

  job->phase = MTC_PHASE_DIAGNOSE;
  g_socket_client_set_timeout (client, MTC_DIAGNOSE_TIMEOUT_S);
  g_socket_client_connect_to_host_async (client, job->account->smtp_server,
                                         SESSION (job->session)->port, send_cancellable,
                                         diagnose_cb, job);
}

static gboolean
job_poll (gpointer user_data)
{
  MtcSendJob *job = user_data;
  SMTPSession *smtp = job->session;
  Session *s = SESSION (smtp);

  if (job->phase == MTC_PHASE_SMTP)
    {
      if (smtp->state == SMTP_MAIL_SENT_OK)
        {
          smtp_quit (smtp);
          job->phase = MTC_PHASE_QUIT;
          job->quit_deadline = g_get_monotonic_time () + MTC_QUIT_WAIT_US;
          return G_SOURCE_CONTINUE;
        }
      if (smtp->state == SMTP_ERROR || smtp->error_val != SM_OK
          || s->state == SESSION_ERROR || s->state == SESSION_EOF
          || s->state == SESSION_TIMEOUT || s->state == SESSION_DISCONNECTED)
        {
          g_autofree char *why = NULL;

          job->poll_id = 0;
          if (job->sent_noted)
            {
              /* The server took the message; only the goodbye failed. */
              job_finish (job);
              return G_SOURCE_REMOVE;
            }
          if (job->error == NULL && smtp->error_msg == NULL && s->state != SESSION_TIMEOUT
              && smtp->state == SMTP_READY)
            {
              job_diagnose (job);   /* never greeted: refused, unreachable, or closed */
              return G_SOURCE_REMOVE;
            }
          /* The end of DATA written and no verdict (closed, timed out): the server may
           * have queued the message. */
          job->reply_lost = smtp->state == SMTP_EOM && job->eom_reply == NULL;
          if (job->error)
            why = g_strdup (job->error);
          else if (smtp->error_msg)
            why = g_strdup_printf (_("the server %s answered: %s"), job->account->smtp_server,
                                   smtp->error_msg);
          else if (s->state == SESSION_TIMEOUT)
            why = g_strdup_printf (_("the server %s did not answer in time"),
                                   job->account->smtp_server);
          else
            why = g_strdup_printf (_("the server %s:%u closed the connection"),
                                   job->account->smtp_server, s->port);
          job_fail (job, why);
          return G_SOURCE_REMOVE;
        }
      return G_SOURCE_CONTINUE;
    }
  if (job->phase == MTC_PHASE_QUIT)
    {
      if (session_is_running (s) && g_get_monotonic_time () < job->quit_deadline
          && s->state != SESSION_DISCONNECTED && s->state != SESSION_EOF)
        return G_SOURCE_CONTINUE;
      job->poll_id = 0;
      job_finish (job);
      return G_SOURCE_REMOVE;
    }
  job->poll_id = 0;
  return G_SOURCE_REMOVE;
}

static void
job_start_smtp (MtcSendJob *job)
{
  PrefsAccount *ac = job->account;
  Session *s;
  SMTPSession *smtp;
  FILE *fp;
  gushort port;

  job->phase = MTC_PHASE_SMTP;
  job->ehlo = g_string_new (NULL);
  s = smtp_session_new (ac);
  smtp = SMTP_SESSION (s);
  job->session = smtp;
  s->data = job;
  job->orig_recv_msg = s->recv_msg;
  s->recv_msg = job_recv_msg;
  session_set_recv_message_notify (s, null_recv_notify, NULL);
  session_set_recv_data_progressive_notify (s, null_progress_notify, NULL);
  session_set_recv_data_notify (s, null_data_notify, NULL);
  session_set_send_data_progressive_notify (s, null_progress_notify, NULL);
  session_set_send_data_notify (s, null_data_notify, NULL);
  session_set_timeout (s, (guint) MAX (prefs_common_get_prefs ()->io_timeout_secs, 10) * 1000);

  if (ac->set_domain && ac->domain && *ac->domain)
    smtp->hostname = g_strdup (ac->domain);
  if (ac->use_smtp_auth)
    {
      char *pass;
      smtp->user = g_strdup (ac->smtp_userid && *ac->smtp_userid ? ac->smtp_userid : ac->userid);
      pass = passwd_store_get_account (ac->account_id, PWS_ACCOUNT_SEND);
      if (pass == NULL || *pass == '\0')
        {
          g_free (pass);
          pass = passwd_store_get_account (ac->account_id, PWS_ACCOUNT_RECV);
        }
      if (pass == NULL)
        {
          job_fail (job, _("SMTP authentication needs a saved password (account preferences, "
                           "Send: SMTP authentication)"));
          return;
        }
      smtp->pass = pass;
      smtp->forced_auth_type = ac->smtp_auth_type;
    }
  /* Until the EHLO reply tells more: bare paths (HELO-only servers keep these). */
  smtp->from = g_strdup_printf ("<%s>", job->sender);
  for (guint i = 0; i < job->rcpts->len; i++)
    job->rcpt_args = g_slist_append (job->rcpt_args,
                                     g_strdup_printf ("<%s>", (char *) g_ptr_array_index (job->rcpts, i)));
  smtp->to_list = job->rcpt_args;
  smtp->cur_to = job->rcpt_args;

  fp = fmemopen (job->data + job->body_offset, job->data_len - job->body_offset, "rb");
  if (fp == NULL)
    {
      job_fail (job, g_strerror (errno));
      return;
    }
  smtp->send_data = (guchar *) get_outgoing_rfc2822_str (fp);
  fclose (fp);
  if (job->tracked && job->content_track_key != NULL && smtp->send_data != NULL)
    {
      /* Harrison's request (docs/harrison.md): first in the header, which relays read. */
      gchar *with = g_strdup_printf ("Content-Track: %s\r\n%s", job->content_track_key,
                                     (char *) smtp->send_data);

      g_free (smtp->send_data);
      smtp->send_data = (guchar *) with;
    }
  smtp->send_data_len = (guint) strlen ((char *) smtp->send_data);

#ifdef USE_GNUTLS
  s->ssl_type = ac->ssl_smtp;
  s->ssl_cert_auto_accept = ac->ssl_certs_auto_accept;
  if (ac->set_gnutls_priority && ac->gnutls_priority && *ac->gnutls_priority)
    s->gnutls_priority = g_strdup (ac->gnutls_priority);
  s->use_tls_sni = ac->use_tls_sni;
  port = ac->set_smtpport ? ac->smtpport : (ac->ssl_smtp == SSL_TUNNEL ? SSMTP_PORT : SMTP_PORT);
#else
  port = ac->set_smtpport ? ac->smtpport : SMTP_PORT;
#endif

  log_message (LOG_PROTOCOL,
               job->tracked ? _("msgtrk: sending <%s> via %s:%u (tracked)\n")
                            : _("msgtrk: sending <%s> via %s:%u (untracked)\n"),
               job->message_id ? job->message_id : "", ac->smtp_server, port);
  if (session_connect (s, ac->smtp_server, port) < 0)
    {
      g_autofree char *why = g_strdup_printf (_("could not connect to %s:%u"), ac->smtp_server,
                                              port);
      job_fail (job, why);
      return;
    }
  job->poll_id = g_timeout_add (MTC_SEND_POLL_MS, job_poll, job);
}

/* ---- Prepare ---- */

/* RequestContentTrack answered: the key goes into the message's header; without one the
 * message goes out as it is (tracked all the same) and the log says why. */
static void
content_track_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  MtcSendJob *job = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *key = NULL;

  if (!msgtrk_dbus_tracker1_call_request_content_track_finish (MSGTRK_DBUS_TRACKER1 (source),
                                                               &key, res, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;   /* unloading: the job is gone */
      g_dbus_error_strip_remote_error (error);
      log_warning (LOG_PROTOCOL,
                   _("msgtrk: <%s> goes out without Content-Track (no key: %s)\n"),
                   job->message_id ? job->message_id : "", error->message);
    }
  else
    job->content_track_key = g_steal_pointer (&key);
  job_start_smtp (job);
}

static void
prepare_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  MtcSendJob *job = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = NULL;
  g_autofree char *auth = NULL;
  guint timeout = 0;

  if (msgtrk_dbus_tracker1_call_prepare_finish (MSGTRK_DBUS_TRACKER1 (source), &envid, &auth,
                                                &timeout, res, &error))
    {
      if (g_cancellable_is_cancelled (send_cancellable))
        return;   /* unloading: the job is gone */
      job->envid = g_steal_pointer (&envid);
      job->envelope = msgtrk_envelope_new (job->envid);
      msgtrk_envelope_set_authenticator (job->envelope, auth);
      msgtrk_envelope_set_mtrk_timeout (job->envelope, timeout);
      msgtrk_envelope_set_notify (job->envelope, (MsgtrkDsnNotify) mtc_prefs_dsn_notify ());
      msgtrk_envelope_set_ret (job->envelope, (MsgtrkDsnRet) mtc_prefs_dsn_ret ());
      if (auth)
        memset (auth, 0, strlen (auth));
      mtc_forget_status (job->message_id);
      mtc_remember_envid (job->envid, job->message_id);
      if (job->content_track)
        {
          msgtrk_dbus_tracker1_call_request_content_track (MSGTRK_DBUS_TRACKER1 (source),
                                                           job->envid, send_cancellable,
                                                           content_track_cb, job);
          return;
        }
      job_start_smtp (job);
      return;
    }

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* unloading: the job is gone */
  {
    g_autofree char *text = NULL;
    AlertValue val;
    gboolean keyring;

    g_dbus_error_strip_remote_error (error);
    keyring = g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE);
    /* TRANSLATORS: the first %s is one of the two sentences below, the second the reason
     * msgtrkd gave. */
    text = g_strdup_printf (_("%s\n\n%s\n\nSend this message without tracking, or keep it in "
                              "the Queue folder to send it tracked later?"),
                            keyring ? _("The keyring is locked or not available, so the "
                                        "message cannot be tracked.")
                                    : _("The tracking helper (msgtrkd) could not be reached."),
                            error->message);
    val = alertpanel (_("Message tracking unavailable"), text,
                      NULL, _("_Keep in Queue"), NULL, _("Send _untracked"), NULL, NULL,
                      ALERTFOCUS_FIRST);
    if ((val & ~G_ALERTDISABLE) == G_ALERTALTERNATE)
      {
        job->tracked = FALSE;
        job_start_smtp (job);
        return;
      }
    log_message (LOG_PROTOCOL, _("msgtrk: <%s> kept in the queue (tracking unavailable)\n"),
                 job->message_id ? job->message_id : "");
    if (current == job)
      current = NULL;
    job_free (job);
    job_next ();
  }
}

static void
job_run (MtcSendJob *job)
{
  g_autoptr (GError) error = NULL;
  MsgtrkDBusTracker1 *proxy;

  current = job;
  job->path = folder_item_fetch_msg (job->queue, job->msgnum);
  if (job->path == NULL
      || !g_file_get_contents (job->path, &job->data, &job->data_len, &error)
      || !job_parse (job, &error))
    {
      alertpanel_error (_("Could not send the queued message: %s"),
                        error ? error->message : _("it is gone from the Queue folder"));
      current = NULL;
      job_free (job);
      job_next ();
      return;
    }
  if (job->sent)
    {
      /* Accepted by the server before Claws stopped: only the handover is left. */
      job->tracked = job->envid != NULL;
      if (job->envid)
        mtc_remember_envid (job->envid, job->message_id);
      job_finish (job);
      return;
    }
  job->tracked = TRUE;
  job->phase = MTC_PHASE_PREPARE;
  if (job->message_id == NULL)
    job->message_id = prefs_account_generate_msgid (job->account);
  proxy = mtc_get_proxy ();
  if (proxy == NULL)
    {
      /* No session bus or no proxy yet: the same choice as a failed Prepare. */
      {
        AlertValue val = alertpanel (_("Message tracking unavailable"),
                                     _("The tracking helper (msgtrkd) cannot be reached on the "
                                       "session bus.\n\nSend this message without tracking, or "
                                       "keep it in the Queue folder to send it tracked later?"),
                                     NULL, _("_Keep in Queue"), NULL, _("Send _untracked"),
                                     NULL, NULL,
                                     ALERTFOCUS_FIRST);
        if ((val & ~G_ALERTDISABLE) == G_ALERTALTERNATE)
          {
            job->tracked = FALSE;
            job_start_smtp (job);
            return;
          }
        current = NULL;
        job_free (job);
        job_next ();
        return;
      }
    }
  {
    const char *host = job->account->smtp_server ? job->account->smtp_server : "";
    g_ptr_array_add (job->rcpts, NULL);
    msgtrk_dbus_tracker1_call_prepare (proxy, job->sender,
                                       (const char * const *) job->rcpts->pdata,
                                       job->message_id, job->subject, host,
                                       send_cancellable, prepare_cb, job);
    g_ptr_array_remove_index (job->rcpts, job->rcpts->len - 1);
  }
}

static void
job_next (void)
{
  MtcSendJob *job;

  if (current != NULL)
    return;
  job = g_queue_pop_head (&pending);
  if (job)
    job_run (job);
}

static gboolean
job_already_known (FolderItem *queue, gint msgnum)
{
  if (current && current->queue == queue && current->msgnum == msgnum)
    return TRUE;
  for (GList *l = pending.head; l; l = l->next)
    {
      MtcSendJob *j = l->data;
      if (j->queue == queue && j->msgnum == msgnum)
        return TRUE;
    }
  return FALSE;
}

/* Send one queued (and marked) message, tracked; waits behind other sends. */
void
mtc_send_queued (FolderItem *queue, gint msgnum)
{
  MtcSendJob *job;

  if (send_cancellable == NULL)
    send_cancellable = g_cancellable_new ();
  if (job_already_known (queue, msgnum))
    return;
  job = g_new0 (MtcSendJob, 1);
  job->queue = queue;
  job->msgnum = msgnum;
  g_queue_push_tail (&pending, job);
  job_next ();
}

/* Every Queue folder: the default one and each account's (no duplicates). */
static GSList *
queue_folders (void)
{
  GSList *out = NULL;
  FolderItem *def = folder_get_default_queue ();

  if (def)
    out = g_slist_prepend (out, def);
  for (GList *l = account_get_list (); l; l = l->next)
    {
      FolderItem *q = account_get_special_folder (l->data, F_QUEUE);
      if (q && !g_slist_find (out, q))
        out = g_slist_prepend (out, q);
    }
  return g_slist_reverse (out);
}

/* The numbers of the tracked messages of a Queue folder (rescanned first). */
static GArray *
tracked_in (FolderItem *queue)
{
  GArray *nums = g_array_new (FALSE, FALSE, sizeof (gint));
  GSList *list;

  folder_item_scan (queue);
  list = folder_item_get_msg_list (queue);
  for (GSList *l = list; l; l = l->next)
    {
      MsgInfo *info = l->data;
      g_autofree char *path = folder_item_fetch_msg (queue, info->msgnum);
      if (path && mtc_queue_file_is_tracked (path))
        g_array_append_val (nums, info->msgnum);
      procmsg_msginfo_free (&info);
    }
  g_slist_free (list);
  return nums;
}

static gint
compare_nums_desc (gconstpointer a, gconstpointer b)
{
  gint x = *(const gint *) a, y = *(const gint *) b;

  return x < y ? 1 : (x > y ? -1 : 0);
}

/* Send every marked message of every Queue folder (after Claws sent its own). */
static gboolean
send_all_later (gpointer data)
{
  send_all_id = 0;
  mtc_send_all_tracked_queued ();
  return G_SOURCE_REMOVE;
}

void
mtc_send_all_tracked_queued (void)
{
  GSList *queues;

  if (mtc_folder_is_busy ())
    {
      /* Called from inside one of Claws's folder calls (its nested main loop): a little
       * later (an idle would run at once again, and again, for as long as the call lasts:
       * a core busy through a slow IMAP call). Once, however often asked. */
      if (send_all_id == 0)
        send_all_id = g_timeout_add (MTC_BUSY_RETRY_MS, send_all_later, NULL);
      return;
    }
  queues = queue_folders ();

  for (GSList *q = queues; q; q = q->next)
    {
      g_autoptr (GArray) nums = tracked_in (q->data);
      for (guint i = 0; i < nums->len; i++)
        mtc_send_queued (q->data, g_array_index (nums, gint, i));
    }
  g_slist_free (queues);
}

/* Plugin load (and msgtrkd's arrival): take over the tracked messages Claws left queued,
 * whatever state it died in. Each gets its tracked form and its lock again (a lock lives
 * only in Claws's memory until Claws saves the folder: a crash loses it); with
 * RESUME_SENT, those the server had accepted already are filed in Sent now and msgtrkd
 * hears Committed (they are never sent again). Returns how many. */
static gboolean
adopt_later (gpointer data)
{
  adopt_later_id = 0;
  mtc_send_adopt_queued (GPOINTER_TO_INT (data));
  return G_SOURCE_REMOVE;
}

guint
mtc_send_adopt_queued (gboolean resume_sent)
{
  GSList *queues;
  g_autoptr (GHashTable) queued_ids = NULL;
  guint n = 0;

  if (mtc_folder_is_busy ())
    {
      /* As mtc_send_all_tracked_queued(); a resume asked for wins over a plain take-over. */
      if (adopt_later_id != 0 && resume_sent)
        g_clear_handle_id (&adopt_later_id, g_source_remove);
      if (adopt_later_id == 0)
        adopt_later_id = g_timeout_add (MTC_BUSY_RETRY_MS, adopt_later,
                                        GINT_TO_POINTER (resume_sent));
      return 0;
    }
  queues = queue_folders ();
  queued_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (send_cancellable == NULL)
    send_cancellable = g_cancellable_new ();
  for (GSList *q = queues; q; q = q->next)
    {
      g_autoptr (GArray) nums = tracked_in (q->data);
      g_autoptr (GHashTable) newest = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                             NULL);

      /* A crash inside queue_rewrite can leave two copies: the newest one stays. */
      g_array_sort (nums, compare_nums_desc);
      for (guint i = 0; i < nums->len; i++)
        {
          gint num = g_array_index (nums, gint, i);
          MsgInfo *info = folder_item_get_msginfo (q->data, num);

          if (info && info->msgid && *info->msgid)
            g_hash_table_add (queued_ids, g_strdup (info->msgid));
          if (info && info->msgid && *info->msgid && !job_already_known (q->data, num)
              && !g_hash_table_add (newest, g_strdup (info->msgid)))
            {
              queue_unlock (q->data, num);
              folder_item_remove_msg (q->data, num);
              g_array_index (nums, gint, i) = -1;
            }
          if (info)
            procmsg_msginfo_free (&info);
        }
      for (guint i = 0; i < nums->len; i++)
        {
          gint num = g_array_index (nums, gint, i);
          g_autoptr (GError) error = NULL;

          if (num < 0 || job_already_known (q->data, num))
            continue;
          if (!mtc_queue_mark_tracked (q->data, num, &num, &error))
            {
              log_error (LOG_PROTOCOL, _("msgtrk: could not lock the tracked queued message "
                                         "%d: %s\n"), num, error->message);
              continue;
            }
          n++;
          if (resume_sent)
            {
              MsgInfo *info = folder_item_get_msginfo (q->data, num);
              if (info && journal_has (info->msgid))
                mtc_send_queued (q->data, num);
              if (info)
                procmsg_msginfo_free (&info);
            }
        }
    }
  g_slist_free (queues);
  if (resume_sent && current == NULL && g_queue_is_empty (&pending))
    journal_prune (queued_ids);
  return n;
}

/* Whether a Queue folder holds a message to send tracked, and none is being sent: the
 * sensitivity of Message ▸ Send queued tracked messages. Locked messages of a Queue
 * folder are (almost always) ours; Claws's counter makes this cheap. */
gboolean
mtc_send_have_tracked_queued (void)
{
  GSList *queues;
  gboolean any = FALSE;

  if (current != NULL)
    return FALSE;
  queues = queue_folders ();
  for (GSList *q = queues; q && !any; q = q->next)
    any = ((FolderItem *) q->data)->locked_msgs > 0;
  g_slist_free (queues);
  return any;
}

/* Plugin unload: pending sends stay in the queue (marked), the running one is dropped
 * (its message stays queued; msgtrkd keeps it as "sending" until the next attempt). */
void
mtc_send_shutdown (void)
{
  MtcSendJob *job;

  /* At unload: no send or take-over may start afterwards. */
  g_clear_handle_id (&send_all_id, g_source_remove);
  g_clear_handle_id (&adopt_later_id, g_source_remove);

  if (send_cancellable)
    {
      g_cancellable_cancel (send_cancellable);
      g_clear_object (&send_cancellable);
    }
  while ((job = g_queue_pop_head (&pending)) != NULL)
    job_free (job);
  if (current)
    {
      job_free (current);
      current = NULL;
    }
}
