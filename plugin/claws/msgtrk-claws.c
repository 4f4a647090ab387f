/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-claws.c: the Claws Mail plugin's entry points and its UI glue.
 *
 * - Compose: a "Track this message" toggle in the Options menu; a tracked send or
 *   send-later is turned into a marked, locked queued message that
 *   msgtrk-claws-send.c sends on Claws's own SMTP session.
 * - Sent folders: the tracking status in the Tags column. The folder shown is asked in
 *   batched GetStatus calls (newest messages first, one batch after the other), only for
 *   the Message-IDs this session has not asked yet; then StatusChanged signals keep the
 *   tags current. Never one D-Bus call per row, and the message list is redrawn once per
 *   answer or burst of signals, never once per row.
 * - Track / Copy tracking link / Track a link…: Message menu, message-list popup, toolbar.
 * - Incoming DSNs and MDNs are handed to msgtrkd (IngestReport).
 *
 * Limits: the status lives in Claws's tags (one tag per distinct status text, prefixed
 * with an envelope sign); only folders of the Sent kind are looked up. What msgtrkd said
 * of each Message-ID is remembered for the session (a few dozen bytes per message).
 * Must never: block the UI (all D-Bus calls are asynchronous), see the secret A, lose a
 * message or send a tracked one untracked silently.
 */
#include <libintl.h>
#include <string.h>

#include "defs.h"
#include "version.h"
#include "claws.h"
#include "plugin.h"
#include "utils.h"
#include "hooks.h"
#include "log.h"
#include "tags.h"
#include "folder.h"
#include "procmsg.h"
#include "compose.h"
#include "account.h"
#include "prefs_account.h"
#include "mainwindow.h"
#include "summaryview.h"
#include "alertpanel.h"
#include "inputdialog.h"
#include "menu.h"
#include "toolbar.h"
#include "prefs_toolbar.h"

#include <msgtrk.h>
#include "msgtrkd-error.h"
#include "msgtrk-claws.h"

#define PLUGIN_NAME "msgtrk"
#define MTC_BUS_NAME "org.msgtrk.Tracker1"
#define MTC_OBJECT_PATH "/org/msgtrk/Tracker1"
#define MTC_TOOLBAR_ITEM "Track"
/* How often the shown folder is checked for a change (ms): a pointer comparison. */
#define MTC_FOLDER_WATCH_MS 500
/* Most Message-IDs asked in one GetStatus call: msgtrkd's own limit (MSGTRKD_MAX_STATUS_IDS
 * in helper/msgtrkd/msgtrkd-service.h, not on the plugin's include path). A bigger folder
 * is asked in several calls, each sent when the previous one was answered. */
#define MTC_STATUS_BATCH_MAX 10000
/* How long tag changes are gathered before the message list is redrawn once (ms):
 * summary_reflect_tags_changes() walks every row of the list. */
#define MTC_REFLECT_DELAY_MS 100
/* How long folder updates and StatusChanged signals of unknown messages are gathered
 * before the shown folder is asked again (ms). */
#define MTC_RESCAN_DELAY_MS 500

static MsgtrkDBusTracker1 *proxy;
static GCancellable *cancellable;
static GHashTable *envid_to_mid;   /* envid → Message-ID (no brackets) */
static gulong status_handler;
static gulong sendqueue_handler;
static GtkAction *sendqueue_action;
static gulong hook_compose_created;
static gulong hook_check_before_send;
static gulong hook_postfilter;
static gulong hook_item_update;
static guint folder_watch_id;
static FolderItem *watched_item;
/* Message-ID → the ENVID msgtrkd gave, or NULL when msgtrkd did not know it: every
 * Message-ID asked in this session. Only the others are asked when a folder is shown. */
static GHashTable *mid_state;
/* ENVIDs of StatusChanged signals that no known message had: each causes one new look. */
static GHashTable *stray_envids;
static guint reflect_id;             /* pending summary_reflect_tags_changes() */
static FolderItem *reflect_item;     /* the folder it is for (compared, never used) */
static guint rescan_id;              /* pending new look at the shown folder */

/* The shown folder's Message-IDs still to ask, in batches, one call at a time. Owned by
 * its call in flight; status_job points at the current one (NULL: none). */
typedef struct
{
  GCancellable *cancellable;
  GPtrArray *ids;   /* (element-type utf8) newest first */
  guint next;       /* the first not asked yet */
} StatusJob;
static StatusJob *status_job;
static guint menu_ids[8];
static guint n_menu_ids;

/* ---- small helpers ---- */

MsgtrkDBusTracker1 *
mtc_get_proxy (void)
{
  return proxy;
}

void
mtc_remember_envid (const char *envid, const char *message_id)
{
  if (envid && *envid && message_id && *message_id)
    g_hash_table_replace (envid_to_mid, g_strdup (envid), g_strdup (message_id));
}

const char *
mtc_state_label (const char *state)
{
  static const struct { const char *state, *label; } labels[] = {
    /* TRANSLATORS: tracking status of a sent message (Tags column of the Sent folder). */
    { "sending", N_("Sending…") },
    { "untracked", N_("Sent — no tracking offered") },
    /* the user chose "Send untracked" (msgtrkd was unavailable): the plugin's own state */
    { "not-tracked", N_("Sent untracked") },
    { "aborted", N_("Not sent") },
    { "unknown", N_("Sent") },
    { "in-transit", N_("In transit") },
    { "delayed", N_("Delayed") },
    { "relayed", N_("Relayed") },
    { "opaque", N_("In transit") },
    { "delivered", N_("Delivered") },
    { "failed", N_("Failed") },
    { "read", N_("Read") },
  };
  /* The state identifiers stay English; only what is shown is translated. */
  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    if (g_strcmp0 (state, labels[i].state) == 0)
      return _(labels[i].label);
  return state;
}

static void
show_error (const char *what, const GError *error)
{
  alertpanel_error ("%s:\n%s", what, error->message);
}

/* The message list shows the tags again, once, a moment after the last change; only if
 * it still shows the folder that changed, and not while Claws is filling it. */
static gboolean
reflect_cb (gpointer data)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  SummaryView *summary = mainwin ? mainwin->summaryview : NULL;

  if (summary && summary->folder_item == reflect_item && summary_is_locked (summary))
    return G_SOURCE_CONTINUE;
  reflect_id = 0;
  if (summary && summary->folder_item == reflect_item)
    summary_reflect_tags_changes (summary);
  reflect_item = NULL;
  return G_SOURCE_REMOVE;
}

static void
reflect_later (FolderItem *item)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();

  /* A folder not shown needs nothing: its rows are made from the tags when it is opened. */
  if (mainwin == NULL || mainwin->summaryview == NULL
      || mainwin->summaryview->folder_item != item)
    return;
  reflect_item = item;
  if (reflect_id == 0)
    reflect_id = g_timeout_add (MTC_REFLECT_DELAY_MS, reflect_cb, NULL);
}

/* Whether the message carries a tag of this plugin. */
static gboolean
has_status_tag (MsgInfo *info)
{
  for (GSList *l = info->tags; l; l = l->next)
    {
      const char *name = tags_get_tag (GPOINTER_TO_INT (l->data));
      if (name && g_str_has_prefix (name, MTC_TAG_PREFIX))
        return TRUE;
    }
  return FALSE;
}

/* Replace this plugin's tag on a message by MTC_TAG_PREFIX + text. The old tag is found by
 * its prefix alone, never by its text: tags made in another language (or by an older
 * version) are replaced as well. The list is redrawn later, once for many changes. */
void
mtc_tag_message (MsgInfo *info, const char *text)
{
  g_autofree char *tag = g_strconcat (MTC_TAG_PREFIX, text, NULL);
  GSList *old = g_slist_copy (info->tags);
  gint id;
  gboolean changed = FALSE;

  if (!mtc_prefs_show_tags ())
    {
      g_slist_free (old);
      return;
    }
  id = tags_get_id_for_str (tag);
  if (id == -1)
    {
      id = tags_add_tag (tag);
      tags_write_tags ();
    }
  for (GSList *l = old; l; l = l->next)
    {
      gint t = GPOINTER_TO_INT (l->data);
      const char *name = tags_get_tag (t);
      if (t != id && name && g_str_has_prefix (name, MTC_TAG_PREFIX))
        {
          procmsg_msginfo_update_tags (info, FALSE, t);
          changed = TRUE;
        }
    }
  g_slist_free (old);
  if (!g_slist_find (info->tags, GINT_TO_POINTER (id)))
    {
      procmsg_msginfo_update_tags (info, TRUE, id);
      changed = TRUE;
    }
  if (changed)
    reflect_later (info->folder);
}

static char *
status_text (const char *state, const char *summary)
{
  if (summary && *summary)
    return g_strdup (summary);
  return g_strdup (mtc_state_label (state));
}

/* Every Sent-kind folder: the default one and each account's. */
static GSList *
sent_folders (void)
{
  GSList *out = NULL;
  FolderItem *def = folder_get_default_outbox ();

  if (def)
    out = g_slist_prepend (out, def);
  for (GList *l = account_get_list (); l; l = l->next)
    {
      FolderItem *f = account_get_special_folder (l->data, F_OUTBOX);
      if (f && !g_slist_find (out, f))
        out = g_slist_prepend (out, f);
    }
  return out;
}

/* Tag the message with this Message-ID in each of FOLDERS. */
static void
apply_status (GSList *folders, const char *message_id, const char *text)
{
  for (GSList *l = folders; l; l = l->next)
    {
      MsgInfo *info = folder_item_get_msginfo_by_msgid (l->data, message_id);
      if (info)
        {
          mtc_tag_message (info, text);
          procmsg_msginfo_free (&info);
        }
    }
}

/* ---- status: GetStatus (batched) and StatusChanged ---- */

static void
status_job_free (StatusJob *job)
{
  if (status_job == job)
    status_job = NULL;
  g_clear_object (&job->cancellable);
  g_ptr_array_unref (job->ids);
  g_free (job);
}

/* The current job's answers are not wanted any more (its call frees it). */
static void
status_job_stop (void)
{
  if (status_job)
    g_cancellable_cancel (status_job->cancellable);
  status_job = NULL;
}

static void get_status_cb (GObject *source, GAsyncResult *res, gpointer user_data);

static void
status_job_send_next (StatusJob *job)
{
  guint n = MIN (job->ids->len - job->next, MTC_STATUS_BATCH_MAX);
  g_autofree const char **batch = g_new (const char *, n + 1);

  memcpy (batch, job->ids->pdata + job->next, n * sizeof (char *));
  batch[n] = NULL;
  job->next += n;
  msgtrk_dbus_tracker1_call_get_status (proxy, batch, job->cancellable, get_status_cb, job);
}

/* One GetStatus answer: every row is remembered, the tracked ones tagged (the list is
 * redrawn once afterwards, see reflect_later). */
static void
apply_answer (GVariant *statuses)
{
  GVariantIter iter;
  const char *id, *envid, *state, *summary;
  GSList *folders = sent_folders ();

  g_variant_iter_init (&iter, statuses);
  while (g_variant_iter_next (&iter, "(&s&s&s&s)", &id, &envid, &state, &summary))
    {
      g_autofree char *text = NULL;

      if (*id == '\0')
        continue;
      g_hash_table_replace (mid_state, g_strdup (id), *envid ? g_strdup (envid) : NULL);
      if (*envid == '\0')
        continue;
      mtc_remember_envid (envid, id);
      text = status_text (state, summary);
      apply_status (folders, id, text);
    }
  g_slist_free (folders);
}

/* USER_DATA: the StatusJob this call belongs to, or NULL (mtc_refresh_message_ids). */
static void
get_status_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  StatusJob *job = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) statuses = NULL;

  if (!msgtrk_dbus_tracker1_call_get_status_finish (MSGTRK_DBUS_TRACKER1 (source), &statuses,
                                                    res, &error))
    {
      /* The Message-IDs not answered stay unasked: the next look at the folder asks them. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("GetStatus failed: %s", error->message);
      if (job)
        status_job_free (job);
      return;
    }
  if (job && job != status_job)
    {
      status_job_free (job);   /* another folder, or a newer look at this one */
      return;
    }
  apply_answer (statuses);
  if (job == NULL)
    return;
  if (job->next < job->ids->len && proxy)
    status_job_send_next (job);
  else
    status_job_free (job);
}

void
mtc_refresh_message_ids (const char * const *message_ids)
{
  if (proxy == NULL || message_ids == NULL || message_ids[0] == NULL)
    return;
  msgtrk_dbus_tracker1_call_get_status (proxy, message_ids, cancellable, get_status_cb, NULL);
}

/* Whether msgtrkd must be asked about this message: not asked yet in this session, or
 * tracked but without a status tag here (copied into this folder, tag removed, tags
 * shown again). */
static gboolean
needs_asking (MsgInfo *info)
{
  const char *envid = NULL;

  if (!g_hash_table_lookup_extended (mid_state, info->msgid, NULL, (gpointer *) &envid))
    return TRUE;
  return envid != NULL && !has_status_tag (info);
}

typedef struct
{
  time_t date;
  guint num;
  char *msgid;
} AskEntry;

static gint
newest_first (gconstpointer a, gconstpointer b)
{
  const AskEntry *x = a, *y = b;

  if (x->date != y->date)
    return x->date < y->date ? 1 : -1;
  return x->num < y->num ? 1 : (x->num > y->num ? -1 : 0);
}

/* Ask msgtrkd about the folder's messages it was not asked about yet, newest first, in
 * batches of MTC_STATUS_BATCH_MAX; a look at another folder (or a new look) replaces it. */
static void
refresh_folder (FolderItem *item)
{
  GSList *list;
  g_autoptr (GArray) entries = NULL;
  g_autoptr (GHashTable) seen = NULL;
  StatusJob *job;

  status_job_stop ();
  if (proxy == NULL || item == NULL || item->stype != F_OUTBOX)
    return;
  if (!mtc_prefs_show_tags ())
    {
      /* No tag is set meanwhile: everything is asked again once they are shown. */
      g_hash_table_remove_all (mid_state);
      return;
    }
  entries = g_array_new (FALSE, FALSE, sizeof (AskEntry));
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  list = folder_item_get_msg_list (item);
  for (GSList *l = list; l; l = l->next)
    {
      MsgInfo *info = l->data;
      /* No Message-ID: it cannot be tracked. */
      if (info->msgid && *info->msgid && needs_asking (info)
          && g_hash_table_add (seen, info->msgid))
        {
          AskEntry e = { info->date_t, info->msgnum, g_strdup (info->msgid) };
          g_array_append_val (entries, e);
        }
    }
  g_array_sort (entries, newest_first);
  for (GSList *l = list; l; l = l->next)
    {
      MsgInfo *info = l->data;
      procmsg_msginfo_free (&info);
    }
  g_slist_free (list);
  if (entries->len == 0)
    return;
  job = g_new0 (StatusJob, 1);
  job->cancellable = g_cancellable_new ();
  job->ids = g_ptr_array_new_full (entries->len, g_free);
  for (guint i = 0; i < entries->len; i++)
    g_ptr_array_add (job->ids, g_array_index (entries, AskEntry, i).msgid);
  status_job = job;
  status_job_send_next (job);
}

static gboolean
rescan_cb (gpointer data)
{
  rescan_id = 0;
  refresh_folder (watched_item);
  return G_SOURCE_REMOVE;
}

static void
rescan_later (void)
{
  if (rescan_id == 0)
    rescan_id = g_timeout_add (MTC_RESCAN_DELAY_MS, rescan_cb, NULL);
}

static gboolean
folder_watch_cb (gpointer data)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  FolderItem *item = mainwin && mainwin->summaryview ? mainwin->summaryview->folder_item : NULL;

  if (item != watched_item)
    {
      watched_item = item;
      refresh_folder (item);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
item_update_hook (gpointer source, gpointer data)
{
  FolderItemUpdateData *update = source;

  /* Messages came or went: the new ones are asked (several updates, one look). */
  if (update && update->item && update->item == watched_item
      && (update->update_flags & F_ITEM_UPDATE_CONTENT))
    rescan_later ();
  return FALSE;
}

/* Whether VALUE (of mid_state) says msgtrkd did not know the message. */
static gboolean
is_untracked (gpointer key, gpointer value, gpointer data)
{
  return value == NULL;
}

static void
status_changed_cb (MsgtrkDBusTracker1 *p, const char *envid, const char *state,
                   const char *summary, gpointer data)
{
  const char *mid = g_hash_table_lookup (envid_to_mid, envid);

  if (mid)
    {
      g_autofree char *text = status_text (state, summary);
      GSList *folders = sent_folders ();

      apply_status (folders, mid, text);
      g_slist_free (folders);
      if (!mtc_prefs_show_tags ())
        g_hash_table_remove (mid_state, mid);   /* no tag was set: ask again later */
    }
  else if (!g_hash_table_contains (stray_envids, envid))
    {
      /* Not placed yet: a message the shown folder's look has not reached, or one msgtrkd
       * did not know when it was asked. Those are asked again, once for a burst. */
      g_hash_table_add (stray_envids, g_strdup (envid));
      g_hash_table_foreach_remove (mid_state, is_untracked, NULL);
      rescan_later ();
    }
}

static void
proxy_ready_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  MsgtrkDBusTracker1 *p = msgtrk_dbus_tracker1_proxy_new_for_bus_finish (res, &error);

  if (p == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        log_warning (LOG_PROTOCOL, _("msgtrk: no session bus for the tracking helper: %s\n"),
                     error->message);
      return;
    }
  proxy = p;
  /* msgtrkd can take a while to answer (keyring, SQLite); never block on it anyway. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (proxy), 60 * 1000);
  status_handler = g_signal_connect (proxy, "status-changed", G_CALLBACK (status_changed_cb), NULL);
  watched_item = NULL;   /* ask for the shown folder now */
}

/* ---- compose ---- */

static GtkToggleAction *
compose_track_action (Compose *compose)
{
  return compose && compose->window
           ? g_object_get_data (G_OBJECT (compose->window), "msgtrk-track-action")
           : NULL;
}

static gboolean
compose_created_hook (gpointer source, gpointer data)
{
  Compose *compose = source;
  GtkActionGroup *group;
  GtkToggleAction *action;
  guint merge_id;

  if (compose == NULL || compose->ui_manager == NULL)
    return FALSE;
  group = gtk_action_group_new ("MsgtrkCompose");
  action = gtk_toggle_action_new ("MsgtrkTrack", _("_Track this message"),
                                  _("Ask the servers for delivery tracking (MTRK, DSN)"), NULL);
  gtk_toggle_action_set_active (action, mtc_prefs_track_default (compose->account));
  gtk_action_group_add_action (group, GTK_ACTION (action));
  gtk_ui_manager_insert_action_group (compose->ui_manager, group, 0);
  merge_id = gtk_ui_manager_new_merge_id (compose->ui_manager);
  gtk_ui_manager_add_ui (compose->ui_manager, merge_id, "/Menu/Options", "MsgtrkTrack",
                         "MsgtrkTrack", GTK_UI_MANAGER_MENUITEM, FALSE);
  g_object_set_data_full (G_OBJECT (compose->window), "msgtrk-track-action", action,
                          g_object_unref);
  g_object_unref (group);
  return FALSE;
}

static gboolean
compose_is_open (Compose *compose)
{
  return g_list_find ((GList *) compose_get_compose_list (), compose) != NULL;
}

typedef struct {
  Compose *compose;
  char *message_id;
  gboolean send_now;
} QueueRequest;

/* Send: Claws's own send was stopped by the hook; queue it ourselves, mark, send. */
static gboolean
queue_and_send_idle (gpointer data)
{
  QueueRequest *req = data;
  Compose *compose = req->compose;
  gint msgnum = 0;
  FolderItem *queue = NULL;
  gchar *msgpath = NULL;
  ComposeQueueResult val;
  g_autoptr (GError) error = NULL;

  if (!compose_is_open (compose))
    goto out;
  val = compose_queue (compose, &msgnum, &queue, &msgpath, TRUE);
  if (val != COMPOSE_QUEUE_SUCCESS || queue == NULL || msgnum <= 0)
    {
      alertpanel_error (_("Could not queue the message for a tracked send (error %d). "
                          "It is still in the compose window."), (int) val);
      g_free (msgpath);
      goto out;
    }
  if (msgpath)
    {
      /* compose_queue only keeps a temporary file when it could not add it to a folder. */
      g_free (msgpath);
    }
  if (!mtc_queue_mark_tracked (queue, msgnum, &error))
    {
      show_error (_("Could not mark the queued message as tracked; it stays in the Queue "
                    "folder, untouched"), error);
      goto out;
    }
  /* The message is safe in the Queue folder now. */
  compose->modified = FALSE;
  compose_close (compose);
  mtc_send_queued (queue, msgnum);
out:
  g_free (req->message_id);
  g_free (req);
  return G_SOURCE_REMOVE;
}

/* Send later: Claws queued it; find it by Message-ID and mark it. */
static gboolean
mark_send_later_idle (gpointer data)
{
  QueueRequest *req = data;
  GSList *queues = NULL;

  queues = g_slist_prepend (queues, folder_get_default_queue ());
  for (GList *l = account_get_list (); l; l = l->next)
    {
      FolderItem *q = account_get_special_folder (l->data, F_QUEUE);
      if (q && !g_slist_find (queues, q))
        queues = g_slist_prepend (queues, q);
    }
  for (GSList *l = queues; l; l = l->next)
    {
      MsgInfo *info;
      if (l->data == NULL)
        continue;
      folder_item_scan (l->data);
      info = folder_item_get_msginfo_by_msgid (l->data, req->message_id);
      if (info)
        {
          g_autoptr (GError) error = NULL;
          if (!mtc_queue_mark_tracked (l->data, info->msgnum, &error))
            show_error (_("Could not mark the queued message as tracked"), error);
          procmsg_msginfo_free (&info);
        }
    }
  g_slist_free (queues);
  g_free (req->message_id);
  g_free (req);
  return G_SOURCE_REMOVE;
}

static gboolean
check_before_send_hook (gpointer source, gpointer data)
{
  Compose *compose = source;
  GtkToggleAction *action = compose_track_action (compose);
  QueueRequest *req;

  if (action == NULL || !gtk_toggle_action_get_active (action))
    return FALSE;
  if (compose->account == NULL || compose->account->protocol == A_NNTP
      || compose->newsgroup_list != NULL || compose->redirect_filename != NULL)
    return FALSE;   /* news and redirects go out as Claws sends them */
  if (compose->msgid == NULL)
    compose->msgid = prefs_account_generate_msgid (compose->account);
  req = g_new0 (QueueRequest, 1);
  req->compose = compose;
  req->message_id = g_strdup (compose->msgid);
  req->send_now = compose->sending;
  if (compose->sending)
    {
      /* Stop Claws's own send; ours starts once this handler has returned. */
      g_idle_add_full (G_PRIORITY_HIGH, queue_and_send_idle, req, NULL);
      return TRUE;
    }
  /* "Send later": let Claws queue it, then mark it before anything can send it. */
  g_idle_add_full (G_PRIORITY_HIGH, mark_send_later_idle, req, NULL);
  return FALSE;
}

/* After Claws sent its own queue (Message ▸ Send queued messages), send ours. */
static void
send_queue_activated (GtkAction *action, gpointer data)
{
  mtc_send_all_tracked_queued ();
}

/* ---- Track, Copy tracking link, Track a link… ---- */

static MsgInfo *
selected_message (void)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();

  if (mainwin == NULL || mainwin->summaryview == NULL)
    return NULL;
  return summary_get_selected_msg (mainwin->summaryview);
}

static gboolean
require_proxy (void)
{
  if (proxy)
    return TRUE;
  alertpanel_error (_("The tracking helper (msgtrkd) cannot be reached: there is no D-Bus "
                      "session bus, or it is not running."));
  return FALSE;
}

static void
show_message_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!msgtrk_dbus_tracker1_call_show_message_finish (MSGTRK_DBUS_TRACKER1 (source), res, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_dbus_error_strip_remote_error (error);
      if (g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND))
        alertpanel_notice (_("This message cannot be tracked: it was not sent with tracking "
                             "(or its record was forgotten)."));
      else
        show_error (_("Could not open the tracking viewer"), error);
    }
}

static void
track_selected (void)
{
  MsgInfo *info = selected_message ();

  if (info == NULL)
    {
      alertpanel_notice (_("Select a sent message to track."));
      return;
    }
  if (info->msgid == NULL || *info->msgid == '\0')
    alertpanel_notice (_("This message cannot be tracked: it has no Message-ID."));
  else if (require_proxy ())
    msgtrk_dbus_tracker1_call_show_message (proxy, info->msgid, cancellable, show_message_cb, NULL);
  procmsg_msginfo_free (&info);
}

static void
export_url_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL;

  if (!msgtrk_dbus_tracker1_call_export_url_finish (MSGTRK_DBUS_TRACKER1 (source), &url, res, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_dbus_error_strip_remote_error (error);
      show_error (_("Could not make a tracking link"), error);
      return;
    }
  /* The URL holds the secret: to the clipboard only, never to a log. */
  gtk_clipboard_set_text (gtk_clipboard_get (GDK_SELECTION_CLIPBOARD), url, -1);
  gtk_clipboard_set_text (gtk_clipboard_get (GDK_SELECTION_PRIMARY), url, -1);
  memset (url, 0, strlen (url));
  alertpanel_notice (_("The tracking link is on the clipboard. Whoever has it can follow "
                       "this message's delivery."));
}

static void
copy_link_selected (void)
{
  MsgInfo *info = selected_message ();

  if (info == NULL || info->msgid == NULL)
    alertpanel_notice (_("Select a tracked sent message first."));
  else if (require_proxy ())
    msgtrk_dbus_tracker1_call_export_url (proxy, info->msgid, cancellable, export_url_cb, NULL);
  if (info)
    procmsg_msginfo_free (&info);
}

static void
import_url_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = NULL;

  if (!msgtrk_dbus_tracker1_call_import_url_finish (MSGTRK_DBUS_TRACKER1 (source), &envid, res, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_dbus_error_strip_remote_error (error);
      show_error (_("Could not track this link"), error);
      return;
    }
  msgtrk_dbus_tracker1_call_show_message (proxy, envid, cancellable, show_message_cb, NULL);
}

static void
import_link (void)
{
  g_autofree char *url = NULL;

  if (!require_proxy ())
    return;
  url = input_dialog (_("Track a link"), _("Paste the mtqp:// tracking link someone gave you:"),
                      "");
  if (url == NULL || *g_strstrip (url) == '\0')
    return;
  msgtrk_dbus_tracker1_call_import_url (proxy, url, cancellable, import_url_cb, NULL);
  memset (url, 0, strlen (url));
}

static void
track_action_cb (GtkAction *action, gpointer data)
{
  track_selected ();
}

static void
copy_link_action_cb (GtkAction *action, gpointer data)
{
  copy_link_selected ();
}

static void
import_action_cb (GtkAction *action, gpointer data)
{
  import_link ();
}

static void
send_tracked_action_cb (GtkAction *action, gpointer data)
{
  mtc_send_all_tracked_queued ();
}

static GtkActionEntry main_actions[] = {
  /* TRANSLATORS: menu items in Claws Mail's Message menu; their mnemonics share that menu
   * with Claws's own items. */
  { "Message/MsgtrkTrack", NULL, N_("_Track…"), NULL, N_("Show the delivery map of this message"),
    G_CALLBACK (track_action_cb) },
  { "Message/MsgtrkCopyLink", NULL, N_("Copy tracking _link"), NULL, NULL,
    G_CALLBACK (copy_link_action_cb) },
  { "Message/MsgtrkImport", NULL, N_("Track a lin_k…"), NULL, NULL,
    G_CALLBACK (import_action_cb) },
  { "Message/MsgtrkSendTracked", NULL, N_("Send queued _tracked messages"), NULL, NULL,
    G_CALLBACK (send_tracked_action_cb) },
};

static void
toolbar_track_cb (gpointer parent, const gchar *item_name, gpointer data)
{
  track_selected ();
}

static void
menus_add (void)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  GtkActionEntry entries[G_N_ELEMENTS (main_actions)];
  static const struct { const char *path, *name, *action; } items[] = {
    { "/Menu/Message", "MsgtrkTrack", "Message/MsgtrkTrack" },
    { "/Menu/Message", "MsgtrkCopyLink", "Message/MsgtrkCopyLink" },
    { "/Menu/Message", "MsgtrkImport", "Message/MsgtrkImport" },
    { "/Menu/Message", "MsgtrkSendTracked", "Message/MsgtrkSendTracked" },
    { "/Menus/SummaryViewPopup", "MsgtrkTrack", "Message/MsgtrkTrack" },
    { "/Menus/SummaryViewPopup", "MsgtrkCopyLink", "Message/MsgtrkCopyLink" },
  };

  if (mainwin == NULL)
    return;
  /* Claws's action group translates in Claws's domain: hand it our translated texts. */
  memcpy (entries, main_actions, sizeof entries);
  for (gsize i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      entries[i].label = _(main_actions[i].label);
      if (main_actions[i].tooltip)
        entries[i].tooltip = _(main_actions[i].tooltip);
    }
  gtk_action_group_add_actions (mainwin->action_group, entries, G_N_ELEMENTS (entries),
                                mainwin);
  for (gsize i = 0; i < G_N_ELEMENTS (items) && n_menu_ids < G_N_ELEMENTS (menu_ids); i++)
    {
      guint id;
      MENUITEM_ADDUI_ID_MANAGER (mainwin->ui_manager, items[i].path, items[i].name,
                                 items[i].action, GTK_UI_MANAGER_MENUITEM, id);
      menu_ids[n_menu_ids++] = id;
    }
  sendqueue_action = gtk_action_group_get_action (mainwin->action_group, "Message/SendQueue");
  if (sendqueue_action)
    sendqueue_handler = g_signal_connect_after (sendqueue_action, "activate",
                                                G_CALLBACK (send_queue_activated), NULL);
  prefs_toolbar_register_plugin_item (TOOLBAR_MAIN, PLUGIN_NAME, MTC_TOOLBAR_ITEM,
                                      toolbar_track_cb, NULL);
}

static void
menus_remove (void)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();

  prefs_toolbar_unregister_plugin_item (TOOLBAR_MAIN, PLUGIN_NAME, MTC_TOOLBAR_ITEM);
  if (mainwin == NULL)
    return;
  if (sendqueue_action && sendqueue_handler)
    g_signal_handler_disconnect (sendqueue_action, sendqueue_handler);
  sendqueue_handler = 0;
  for (guint i = 0; i < n_menu_ids; i++)
    gtk_ui_manager_remove_ui (mainwin->ui_manager, menu_ids[i]);
  n_menu_ids = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (main_actions); i++)
    {
      GtkAction *a = gtk_action_group_get_action (mainwin->action_group, main_actions[i].name);
      if (a)
        gtk_action_group_remove_action (mainwin->action_group, a);
    }
}

/* ---- incoming DSNs and MDNs ---- */

/* New mail may be a DSN or an MDN. Each message's file is handed to a worker thread
 * (a GTask), where msgtrk_report_extract_file() decides with GMime's Content-Type parser
 * whether it is a report (reading only the header of other mail) and keeps only the report
 * parts of a bounce of any size up to MSGTRK_REPORT_MAX_MESSAGE_SIZE; the small result,
 * at most MSGTRK_REPORT_MAX_SIZE octets, goes to msgtrkd from the main thread. Nothing
 * here reads a message on the UI thread. */

/* Extractions running in worker threads (plugin_done waits for them: their code is here). */
static guint reports_in_flight;

/* How long plugin_done waits for running extractions (ms); each checks the cancellable. */
#define MTC_REPORT_SHUTDOWN_WAIT_MS 5000

static void
ingest_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = NULL;

  g_autoptr (GVariant) ret = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), res, &error);

  if (ret == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        log_warning (LOG_PROTOCOL, _("msgtrk: a delivery report was not taken: %s\n"),
                     error->message);
      return;
    }
  g_variant_get (ret, "(s)", &envid);
  if (envid && *envid)
    log_message (LOG_PROTOCOL, _("msgtrk: delivery report merged into %s\n"), envid);
}

/* Worker thread: the report parts of the message in the file (task data), or an error. */
static void
extract_report_thread (GTask *task, gpointer source, gpointer task_data,
                       GCancellable *task_cancellable)
{
  GError *error = NULL;
  GBytes *entity = msgtrk_report_extract_file (task_data, task_cancellable, &error);

  if (entity == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, entity, (GDestroyNotify) g_bytes_unref);
}

/* Main thread: hand the extracted report to msgtrkd. */
static void
report_extracted (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) entity = g_task_propagate_pointer (G_TASK (res), &error);
  GVariant *bytes;

  reports_in_flight--;
  if (entity == NULL)
    {
      /* Most mail is no report (MSGTRK_ERROR_PARSE): nothing to say. A report too big
       * even without its returned message is worth a line in the log. */
      if (g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT))
        log_warning (LOG_PROTOCOL, _("msgtrk: a delivery report was not read: %s\n"),
                     error->message);
      return;
    }
  if (proxy == NULL || g_cancellable_is_cancelled (cancellable))
    return;
  /* The exact octets go as they are (the generated wrapper would add a NUL). */
  bytes = g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, entity, TRUE);
  g_dbus_proxy_call (G_DBUS_PROXY (proxy), "IngestReport", g_variant_new_tuple (&bytes, 1),
                     G_DBUS_CALL_FLAGS_NONE, -1, cancellable, ingest_cb, NULL);
}

/* MAIL_POSTFILTERING_HOOKLIST: Claws (folder.c, when new mail lands in its folder) passes
 * the MsgInfo itself, not a MailFilteringData as MAIL_FILTERING_HOOKLIST does. Only the
 * file name is taken here (Claws's API belongs to the main thread). */
static gboolean
postfilter_hook (gpointer source, gpointer data)
{
  MsgInfo *msginfo = source;
  g_autoptr (GTask) task = NULL;
  char *file;

  if (proxy == NULL || msginfo == NULL)
    return FALSE;
  if (msginfo->size > MSGTRK_REPORT_MAX_MESSAGE_SIZE)
    return FALSE;
  file = procmsg_get_message_file (msginfo);
  if (file == NULL)
    return FALSE;
  task = g_task_new (NULL, cancellable, report_extracted, NULL);
  g_task_set_source_tag (task, postfilter_hook);
  g_task_set_task_data (task, file, g_free);
  reports_in_flight++;
  g_task_run_in_thread (task, extract_report_thread);
  return FALSE;   /* the report stays where Claws puts it */
}

/* Called by plugin_done after cancelling: wait (bounded) until every worker thread running
 * this module's code has finished and its callback has run. */
static void
reports_intake_shutdown (void)
{
  gint64 deadline = g_get_monotonic_time () + MTC_REPORT_SHUTDOWN_WAIT_MS * G_TIME_SPAN_MILLISECOND;

  while (reports_in_flight > 0 && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (10 * G_TIME_SPAN_MILLISECOND);
}

/* ---- plugin entry points ---- */

/* The plugin's translations: msgtrk's domain, in UTF-8 (GTK's encoding). Claws may ask for
 * the description or the features before plugin_init, so each of them binds it too. */
static void
bind_domain (void)
{
  static gboolean bound;

  if (bound)
    return;
  bound = TRUE;
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
}

gint plugin_init (gchar **error);
gboolean plugin_done (void);
const gchar *plugin_name (void);
const gchar *plugin_desc (void);
const gchar *plugin_type (void);
const gchar *plugin_licence (void);
const gchar *plugin_version (void);
struct PluginFeature *plugin_provides (void);

gint
plugin_init (gchar **error)
{
  bind_domain ();
  if (!check_plugin_version (MAKE_NUMERIC_VERSION (4, 1, 0, 0), VERSION_NUMERIC, PLUGIN_NAME, error))
    return -1;
  (void) msgtrkd_error_quark ();   /* registers the D-Bus error names */
  envid_to_mid = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  mid_state = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  stray_envids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  cancellable = g_cancellable_new ();
  mtc_prefs_init ();

  hook_compose_created = hooks_register_hook (COMPOSE_CREATED_HOOKLIST, compose_created_hook, NULL);
  hook_check_before_send = hooks_register_hook (COMPOSE_CHECK_BEFORE_SEND_HOOKLIST,
                                                check_before_send_hook, NULL);
  hook_postfilter = hooks_register_hook (MAIL_POSTFILTERING_HOOKLIST, postfilter_hook, NULL);
  hook_item_update = hooks_register_hook (FOLDER_ITEM_UPDATE_HOOKLIST, item_update_hook, NULL);
  menus_add ();
  folder_watch_id = g_timeout_add (MTC_FOLDER_WATCH_MS, folder_watch_cb, NULL);

  msgtrk_dbus_tracker1_proxy_new_for_bus (G_BUS_TYPE_SESSION, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                          MTC_BUS_NAME, MTC_OBJECT_PATH, cancellable,
                                          proxy_ready_cb, NULL);
  log_message (LOG_PROTOCOL, _("msgtrk: message tracking plugin loaded\n"));
  return 0;
}

gboolean
plugin_done (void)
{
  if (folder_watch_id)
    g_source_remove (folder_watch_id);
  folder_watch_id = 0;
  if (rescan_id)
    g_source_remove (rescan_id);
  rescan_id = 0;
  if (reflect_id)
    g_source_remove (reflect_id);
  reflect_id = 0;
  status_job_stop ();
  g_cancellable_cancel (cancellable);
  reports_intake_shutdown ();
  mtc_send_shutdown ();
  hooks_unregister_hook (COMPOSE_CREATED_HOOKLIST, hook_compose_created);
  hooks_unregister_hook (COMPOSE_CHECK_BEFORE_SEND_HOOKLIST, hook_check_before_send);
  hooks_unregister_hook (MAIL_POSTFILTERING_HOOKLIST, hook_postfilter);
  hooks_unregister_hook (FOLDER_ITEM_UPDATE_HOOKLIST, hook_item_update);
  menus_remove ();
  mtc_prefs_done ();
  if (proxy && status_handler)
    g_signal_handler_disconnect (proxy, status_handler);
  status_handler = 0;
  g_clear_object (&proxy);
  g_clear_object (&cancellable);
  g_clear_pointer (&envid_to_mid, g_hash_table_unref);
  g_clear_pointer (&mid_state, g_hash_table_unref);
  g_clear_pointer (&stray_envids, g_hash_table_unref);
  return TRUE;
}

const gchar *
plugin_name (void)
{
  return PLUGIN_NAME;
}

const gchar *
plugin_desc (void)
{
  bind_domain ();
  return _("Message tracking (msgtrk): asks the servers for delivery tracking (RFC 3885 MTRK, "
           "RFC 3461 DSN) when you send, shows each sent message's status in the Tags column "
           "of the Sent folder, and opens its delivery map (Message ▸ Track…).\n\n"
           "Needs the msgtrkd helper on the session bus.");
}

const gchar *
plugin_type (void)
{
  return "GTK3";
}

const gchar *
plugin_licence (void)
{
  return "GPL3+";
}

const gchar *
plugin_version (void)
{
  return MSGTRK_VERSION;
}

struct PluginFeature *
plugin_provides (void)
{
  static struct PluginFeature features[] = {
    { PLUGIN_UTILITY, NULL },
    { PLUGIN_NOTHING, NULL },
  };
  bind_domain ();
  features[0].subtype = _("Message tracking");   /* Claws shows it as it is */
  return features;
}
