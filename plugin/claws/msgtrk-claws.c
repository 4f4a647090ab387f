/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-claws.c: the Claws Mail plugin's entry points and its UI glue.
 *
 * - Compose: a "Track this message" toggle in the Options menu and a "✉ Track delivery"
 *   check button under the text (the same action); a tracked send or send-later is turned
 *   into a marked, locked queued message that msgtrk-claws-send.c sends on Claws's own
 *   SMTP session. At load the tracked queued messages are taken over (crash safety).
 * - Sent folders: the tracking status in the Tags column, one tag per state with a symbol
 *   (a fixed set; outdated ones are removed at load). What msgtrkd tracks is fetched once
 *   per session (ListStatus, paged) and the folder shown is matched against it locally, in
 *   slices of MTC_MATCH_SLICE_MS; an older msgtrkd without ListStatus is asked in batched
 *   GetStatus calls (newest messages first, two in flight, only the Message-IDs not asked
 *   yet). Then StatusChanged signals keep the tags current. A changed status redraws its
 *   own row; never one D-Bus call per row.
 * - Track / Copy tracking link (CLIPBOARD only, a status-bar note) / Track a link… /
 *   Tracked links… / Send queued tracked messages: Message menu, message-list popup,
 *   toolbar; each offered only when it can work.
 * - Incoming DSNs and MDNs are handed to msgtrkd (IngestReport); so are TRACK: mails
 *   (Harrison's trace records, docs/harrison.md), which leave the inbox for the Trash once
 *   msgtrkd matched them. Compose also offers "Ask relays to report the route
 *   (Content-Track)", per message, off by default, with the draft's privacy warning.
 *
 * Limits: the status lives in Claws's tags (MTC_TAG_PREFIX, one per MsgtrkMessageState
 * and one for "not-tracked"); only folders of the Sent kind are looked up. What msgtrkd
 * said of each Message-ID is remembered for the session (a few dozen bytes per tracked
 * message).
 * Must never: block the UI (all D-Bus calls are asynchronous), see the secret A, lose a
 * message or send a tracked one untracked silently, free a MsgInfo it does not own (the
 * message list's selected one is borrowed: selected_message() takes a reference), or put
 * a link on the PRIMARY selection.
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
#include "statusbar.h"
#include "gtkcmctree.h"

#include <msgtrk.h>
#include "msgtrkd-error.h"
#include "msgtrk-states.h"
#include "msgtrk-claws.h"

#define PLUGIN_NAME "msgtrk"
#define MTC_BUS_NAME "org.msgtrk.Tracker1"
#define MTC_OBJECT_PATH "/org/msgtrk/Tracker1"
#define MTC_TOOLBAR_ITEM "Track"
/* How often the shown folder is checked for a change (ms): a pointer comparison. Claws
 * has no hook for "a folder is shown"; the first look waits until the list is filled. */
#define MTC_FOLDER_WATCH_MS 100
/* While Claws fills the list of a newly shown folder, the check is repeated this often
 * (ms), so that the look starts as soon as the list is filled, not up to
 * MTC_FOLDER_WATCH_MS later. */
#define MTC_FOLDER_RETRY_MS 10
/* Most Message-IDs asked in one GetStatus call: msgtrkd's own limit (MSGTRKD_MAX_STATUS_IDS
 * in helper/msgtrkd/msgtrkd-service.h, not on the plugin's include path). A bigger folder
 * is asked in several calls, each sent when the previous one was answered. */
#define MTC_STATUS_BATCH_MAX 10000
/* How many GetStatus calls of one look are in flight at once: two keep msgtrkd busy while
 * the plugin applies an answer (one at a time left gaps: 1.3 s for 100,000 ids). */
#define MTC_STATUS_IN_FLIGHT 2
/* How long tag changes are gathered before the message list is redrawn once (ms):
 * summary_reflect_tags_changes() walks every row of the list. */
#define MTC_REFLECT_DELAY_MS 100
/* How long folder updates and StatusChanged signals of unknown messages are gathered
 * before the shown folder is asked again (ms). */
#define MTC_RESCAN_DELAY_MS 500
/* Most entries asked in one ListStatus page: msgtrkd's own page size
 * (MSGTRKD_STATUS_PAGE_MAX); a bigger set is fetched in several pages, one after the other. */
#define MTC_LIST_PAGE_MAX 10000
/* How long one slice of matching the shown folder against what msgtrkd tracks may keep
 * the main loop (ms): the UI stays responsive between slices. */
#define MTC_MATCH_SLICE_MS 20
/* The log domain of the one line per finished look (bench/bench-claws-sent.py reads it). */
#define MTC_LOOK_LOG_DOMAIN "msgtrk-claws-look"
/* How long a note stays in the status bar (s). */
#define MTC_NOTICE_SECONDS 8

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
static guint folder_retry_id;
static FolderItem *watched_item;
/* Message-ID → the ENVID msgtrkd gave, or NULL when msgtrkd did not know it: every
 * Message-ID asked in this session. Only the others are asked when a folder is shown. */
static GHashTable *mid_state;
/* Message-ID → the newest status text heard (signal or answer), shown or not yet: a row
 * filed after msgtrkd spoke (Claws runs the main loop inside its folder calls, so the
 * signal can come first) starts with it, never with an older "Sending…". */
static GHashTable *latest_text;
/* While the send path is inside one of Claws's folder calls (which run the main loop, and
 * so our D-Bus callbacks), no status is put on a row: the Message-IDs wait here (their
 * text in latest_text) and are tagged once the call is over. */
static guint folder_busy;
static GHashTable *deferred_mids;
static guint deferred_id;
/* ENVIDs of StatusChanged signals that no known message had: each causes one new look. */
static GHashTable *stray_envids;
static guint reflect_id;             /* pending summary_reflect_tags_changes() */
static FolderItem *reflect_item;     /* the folder it is for (compared, never used) */
static guint rescan_id;              /* pending new look at the shown folder */
static guint adopt_id;               /* pending take-over of tracked queued messages */
static guint notice_id;              /* pending end of a status-bar note */

/* The shown folder's Message-IDs still to ask, in batches, at most
 * MTC_STATUS_IN_FLIGHT calls at a time. Owned by its calls in flight; status_job points at
 * the current one (NULL: none). */
typedef struct
{
  GCancellable *cancellable;
  GPtrArray *ids;   /* (element-type utf8) newest first */
  guint next;       /* the first not asked yet */
  guint in_flight;  /* calls not answered yet */
  gboolean failed;  /* a call failed: ask no more (the next look asks again) */
  char *folder_id;  /* (owned) the folder looked at */
  gint max_num;     /* its highest message number at the look */
} StatusJob;
static StatusJob *status_job;

/* What msgtrkd tracks, fetched with ListStatus once per session (and again after a
 * StatusChanged of an unknown message that names no Message-ID): mid_state and latest_text
 * then hold every tracked Message-ID, and a folder is matched against them locally, in slices (MatchJob), with no
 * D-Bus call per message. list_status: whether msgtrkd has ListStatus (an older one: the
 * GetStatus batches above). */
typedef enum { MTC_LIST_UNKNOWN, MTC_LIST_YES, MTC_LIST_NO } MtcListSupport;
static MtcListSupport list_status = MTC_LIST_UNKNOWN;
static gboolean tracked_known;   /* one whole fetch was answered */
typedef struct
{
  GCancellable *cancellable;
  GHashTable *seen;   /* (element-type utf8) Message-IDs answered or signalled meanwhile */
} FetchJob;
static FetchJob *fetch_job;
static gboolean fetch_again;     /* a fetch is wanted once the current one is over */
/* The shown folder matched against mid_state, a slice per idle call. */
typedef struct
{
  FolderItem *item;    /* (unowned) the folder; the job stops when it is not shown */
  gboolean by_id;      /* list: the tracked Message-IDs (fewer than the folder's messages),
                        * looked up in the folder; else the folder's messages */
  GSList *list;        /* (owned) its messages (references), or Message-IDs (by_id) */
  GSList *next;        /* the first not looked at */
  guint n_msgs, n_tracked;
  guint n_slices, n_waits;  /* slices that worked, and that waited for Claws */
  gint64 started;      /* g_get_monotonic_time () */
  gint64 busy;         /* µs spent in slices */
  GHashTable *tag_ids; /* status text → its tag id (-1: none yet) */
} MatchJob;
static MatchJob *match_job;
static MatchJob *slice_job;   /* the job a running match slice holds */
static guint match_id;
static guint menu_ids[8];
static guint n_menu_ids;
/* The menus whose items' sensitivity is set when they open. */
static const char *const watched_menus[] = { "/Menu/Message", "/Menus/SummaryViewPopup" };
static GtkWidget *menu_widgets[G_N_ELEMENTS (watched_menus)];
static gulong menu_show_ids[G_N_ELEMENTS (watched_menus)];

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

/* A new send attempt: what was heard of an earlier one (Not sent) is over. */
void
mtc_forget_status (const char *message_id)
{
  if (message_id && latest_text)
    g_hash_table_remove (latest_text, message_id);
}

/* The newest status text heard for this Message-ID, or NULL. */
const char *
mtc_latest_status (const char *message_id)
{
  return message_id && latest_text ? g_hash_table_lookup (latest_text, message_id) : NULL;
}

/* The status tags: one per state of helper/common/msgtrk-states.c (MsgtrkMessageState: the
 * ids, their parsing and the shared labels), never per summary ("Failed 1/3, 1 delayed, 1
 * delivered" made a new tag for every mix), so the set stays bounded
 * (MSGTRK_MESSAGE_STATE_COUNT + 1) and Modify tags… keeps a short list. What a tag shows
 * beyond the shared table is presentation only: a symbol Claws's tag column draws well,
 * which tells Failed, Delayed and Delivered apart at a glance without touching the user's
 * colour labels, and a wording for the few states whose shared label reads wrong on a Sent
 * row (NULL: the shared label). */
static const struct
{
  const char *symbol, *label;
} tag_style[MSGTRK_MESSAGE_STATE_COUNT] = {
  /* TRANSLATORS: tracking status of a sent message (Tags column of the Sent folder). */
  [MSGTRK_MESSAGE_STATE_SENDING] = { "\xe2\x8b\xaf", N_("Sending…") },            /* ⋯ */
  [MSGTRK_MESSAGE_STATE_UNTRACKED] = { "\xe2\x80\x93", N_("Sent — no tracking offered") },
  [MSGTRK_MESSAGE_STATE_ABORTED] = { "\xe2\x9c\x96", NULL },                        /* ✖ */
  [MSGTRK_MESSAGE_STATE_UNKNOWN] = { "\xe2\x80\x93", N_("Sent") },                  /* – */
  [MSGTRK_MESSAGE_STATE_IN_TRANSIT] = { "\xe2\x9e\x9c", NULL },                     /* ➜ */
  [MSGTRK_MESSAGE_STATE_DELAYED] = { "\xe2\x97\xb7", NULL }, /* ◷ (DejaVu has it, not ⌛) */
  [MSGTRK_MESSAGE_STATE_RELAYED] = { "\xe2\x9e\x9c", N_("Relayed") },
  [MSGTRK_MESSAGE_STATE_OPAQUE] = { "\xe2\x9e\x9c", N_("In transit") },
  [MSGTRK_MESSAGE_STATE_DELIVERED] = { "\xe2\x9c\x94", NULL },                      /* ✔ */
  [MSGTRK_MESSAGE_STATE_FAILED] = { "\xe2\x9c\x96", NULL },                         /* ✖ */
  [MSGTRK_MESSAGE_STATE_READ] = { "\xe2\x9c\x94\xe2\x9c\x94", NULL },               /* ✔✔ */
};

/* The text of a state's tag (after MTC_TAG_PREFIX): its symbol and its translated label.
 * An unknown state (a newer msgtrkd) reads as "unknown": never a new tag per string.
 * MTC_STATE_NOT_TRACKED is the plugin's own (the user chose "Send untracked"). */
const char *
mtc_state_label (const char *state)
{
  static char *texts[MSGTRK_MESSAGE_STATE_COUNT]; /* built once per language */
  static char *not_tracked;
  MsgtrkMessageState s = MSGTRK_MESSAGE_STATE_UNKNOWN;

  if (g_strcmp0 (state, MTC_STATE_NOT_TRACKED) == 0)
    {
      if (not_tracked == NULL)
        not_tracked = g_strdup_printf ("%s %s", tag_style[MSGTRK_MESSAGE_STATE_UNKNOWN].symbol,
                                       _("Sent untracked"));
      return not_tracked;
    }
  if (state == NULL || !msgtrk_message_state_from_string (state, &s))
    s = MSGTRK_MESSAGE_STATE_UNKNOWN;
  if (texts[s] == NULL)
    {
      /* The state identifiers stay English; only what is shown is translated. */
      const char *label = tag_style[s].label != NULL
                            ? _(tag_style[s].label)
                            : msgtrk_states_label (msgtrk_message_state_to_string (s));

      texts[s] = g_strdup_printf ("%s %s", tag_style[s].symbol, label);
    }
  return texts[s];
}

/* Whether @text (after MTC_TAG_PREFIX) is one of today's tag texts. */
static gboolean
is_state_tag_text (const char *text)
{
  if (g_str_equal (text, mtc_state_label (MTC_STATE_NOT_TRACKED)))
    return TRUE;
  for (int s = 0; s < MSGTRK_MESSAGE_STATE_COUNT; s++)
    if (g_str_equal (text, mtc_state_label (msgtrk_message_state_to_string (s))))
      return TRUE;
  return FALSE;
}

/* Plugin load: forget the status tags that are not in today's set (older versions made
 * one per summary; another language made others). Messages that carried them have no
 * status tag now and are asked again when their folder is shown. Returns how many. */
static guint
tags_cleanup (void)
{
  GSList *ids = tags_get_list ();
  guint removed = 0;

  for (GSList *l = ids; l; l = l->next)
    {
      gint id = GPOINTER_TO_INT (l->data);
      const char *name = tags_get_tag (id);

      if (name == NULL || !g_str_has_prefix (name, MTC_TAG_PREFIX))
        continue;
      if (!is_state_tag_text (name + strlen (MTC_TAG_PREFIX)))
        {
          tags_remove_tag (id);
          removed++;
        }
    }
  g_slist_free (ids);
  if (removed > 0)
    tags_write_tags ();
  return removed;
}

static void
show_error (const char *what, const GError *error)
{
  alertpanel_error ("%s:\n%s", what, error->message);
}

static gboolean
status_notice_done (gpointer data)
{
  notice_id = 0;
  statusbar_pop_all ();
  return G_SOURCE_REMOVE;
}

/* A passing note in the main window's status bar (no dialog to close). */
static void
status_notice (const char *text)
{
  if (notice_id)
    {
      g_source_remove (notice_id);
      statusbar_pop_all ();
    }
  statusbar_print_all ("%s", text);
  notice_id = g_timeout_add_seconds (MTC_NOTICE_SECONDS, status_notice_done, NULL);
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

/* Show a message's tags in its row of the message list, if the list shows it now: one
 * row, found through Claws's own Message-ID → row table, instead of
 * summary_reflect_tags_changes(), which walks every row (0.1–0.4 s for 100,000) and was
 * the plugin's main cost in a big Sent folder. FALSE if that row cannot be found (the list
 * is being filled, or shows another object for it): the caller redraws the whole list. */
static gboolean
row_show_tags (MsgInfo *info)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  SummaryView *summary = mainwin ? mainwin->summaryview : NULL;
  GtkCMCTreeNode *node;
  gchar *text;

  if (summary == NULL || summary->folder_item != info->folder)
    return TRUE;   /* not shown: its row is made from the tags when the folder opens */
  if (summary->msgid_table == NULL || info->msgid == NULL || summary_is_locked (summary))
    return FALSE;
  if (!summary->col_state[summary->col_pos[S_COL_TAGS]].visible)
    return TRUE;
  node = g_hash_table_lookup (summary->msgid_table, info->msgid);
  if (node == NULL
      || gtk_cmctree_node_get_row_data (GTK_CMCTREE (summary->ctree), node) != info)
    return FALSE;
  text = procmsg_msginfo_get_tags_str (info);
  gtk_cmctree_node_set_text (GTK_CMCTREE (summary->ctree), node,
                             summary->col_pos[S_COL_TAGS], text ? text : "-");
  g_free (text);
  return TRUE;
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
  gboolean new_tag = FALSE;

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
      new_tag = TRUE;   /* Claws's tag menus must learn it: one full redraw */
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
  if (new_tag || (changed && !row_show_tags (info)))
    reflect_later (info->folder);
}

/* The status shown for a state: its tag text (the summary's counts are in Track…). */
static char *
status_text (const char *state, const char *summary)
{
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
  gboolean found = FALSE;

  g_hash_table_replace (latest_text, g_strdup (message_id), g_strdup (text));
  if (folder_busy > 0)
    {
      g_hash_table_add (deferred_mids, g_strdup (message_id));
      g_debug ("status of <%s>: %s deferred", message_id, text);
      return;
    }
  for (GSList *l = folders; l; l = l->next)
    {
      MsgInfo *info = folder_item_get_msginfo_by_msgid (l->data, message_id);
      if (info)
        {
          mtc_tag_message (info, text);
          procmsg_msginfo_free (&info);
          found = TRUE;
        }
    }
  g_debug ("status of <%s>: %s%s", message_id, text, found ? "" : " (no row)");
}

static gboolean
deferred_cb (gpointer data)
{
  GHashTableIter iter;
  gpointer mid;
  GSList *folders;

  deferred_id = 0;
  if (folder_busy > 0)
    return G_SOURCE_REMOVE;   /* the next leave schedules it again */
  folders = sent_folders ();
  g_hash_table_iter_init (&iter, deferred_mids);
  while (g_hash_table_iter_next (&iter, &mid, NULL))
    {
      const char *text = g_hash_table_lookup (latest_text, mid);
      if (text)
        {
          g_autofree char *copy = g_strdup (text);
          apply_status (folders, mid, copy);
        }
      g_hash_table_iter_remove (&iter);
    }
  g_slist_free (folders);
  return G_SOURCE_REMOVE;
}

/* The send path enters / leaves one of Claws's folder calls (see folder_busy). */
void
mtc_folder_busy_enter (void)
{
  folder_busy++;
}

gboolean
mtc_folder_is_busy (void)
{
  return folder_busy > 0;
}

void
mtc_folder_busy_leave (void)
{
  g_return_if_fail (folder_busy > 0);
  if (--folder_busy == 0 && deferred_mids && g_hash_table_size (deferred_mids) > 0
      && deferred_id == 0)
    deferred_id = g_idle_add (deferred_cb, NULL);
}

/* ---- status: GetStatus (batched) and StatusChanged ---- */

static void
status_job_free (StatusJob *job)
{
  if (status_job == job)
    status_job = NULL;
  g_clear_object (&job->cancellable);
  g_ptr_array_unref (job->ids);
  g_free (job->folder_id);
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
static void refresh_folder (FolderItem *item);

static void
status_job_send_next (StatusJob *job)
{
  while (job->in_flight < MTC_STATUS_IN_FLIGHT && job->next < job->ids->len)
    {
      guint n = MIN (job->ids->len - job->next, MTC_STATUS_BATCH_MAX);
      g_autofree const char **batch = g_new (const char *, n + 1);

      memcpy (batch, job->ids->pdata + job->next, n * sizeof (char *));
      batch[n] = NULL;
      job->next += n;
      job->in_flight++;
      msgtrk_dbus_tracker1_call_get_status (proxy, batch, job->cancellable, get_status_cb,
                                            job);
    }
}

/* One GetStatus answer: every row is remembered, the tracked ones tagged (the list is
 * redrawn once afterwards, see reflect_later). */
static void
apply_answer (GVariant *statuses)
{
  GVariantIter iter;
  const char *id, *envid, *state, *summary;
  GSList *folders = sent_folders ();
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  GtkCMCList *clist = mainwin && mainwin->summaryview && mainwin->summaryview->ctree
                        ? GTK_CMCLIST (mainwin->summaryview->ctree) : NULL;

  if (clist)
    gtk_cmclist_freeze (clist);   /* one redraw for the whole answer */
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
  if (clist)
    gtk_cmclist_thaw (clist);
}

/* USER_DATA: the StatusJob this call belongs to, or NULL (mtc_refresh_message_ids). */
static void
get_status_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  StatusJob *job = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) statuses = NULL;

  if (job)
    job->in_flight--;
  if (!msgtrk_dbus_tracker1_call_get_status_finish (MSGTRK_DBUS_TRACKER1 (source), &statuses,
                                                    res, &error))
    {
      /* The Message-IDs not answered stay unasked: the next look at the folder asks them. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("GetStatus failed: %s", error->message);
      if (job)
        job->failed = TRUE;
    }
  else if (job == NULL || job == status_job)
    {
      apply_answer (statuses);   /* (else: another folder, or a newer look at this one) */
      if (job && !job->failed && proxy)
        status_job_send_next (job);
    }
  if (job && job->in_flight == 0
      && (job != status_job || job->failed || job->next >= job->ids->len))
    {
      /* A whole look answered: the next session need not ask its untagged messages. */
      if (job == status_job && !job->failed && mtc_prefs_show_tags ())
        mtc_prefs_set_asked_upto (job->folder_id, job->max_num);
      status_job_free (job);
    }
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

/* ---- status: ListStatus (what msgtrkd tracks) and the local match ---- */

static void
match_job_free (MatchJob *job)
{
  if (job->by_id)
    g_slist_free_full (job->list, g_free);
  else
    procmsg_msg_list_free (job->list);
  g_clear_pointer (&job->tag_ids, g_hash_table_unref);
  g_free (job);
}

static void
match_job_stop (void)
{
  if (match_id)
    g_source_remove (match_id);
  match_id = 0;
  if (match_job == NULL)
    return;
  /* A slice running it (inside a tag's commit, an IMAP folder runs a nested main loop in
   * which a folder switch or an answer stops or replaces the job): the slice frees it when
   * its call returns, not now under its feet. */
  if (match_job != slice_job)
    match_job_free (match_job);
  match_job = NULL;
}

/* One message of a match: TRUE if its tag was set (or changed). */
static gboolean
match_one (MatchJob *job, MsgInfo *info, GtkCMCList *clist, gboolean *frozen)
{
  const char *envid = NULL;
  const char *text;
  gpointer id;

  if (info->msgid == NULL
      || !g_hash_table_lookup_extended (mid_state, info->msgid, NULL, (gpointer *) &envid)
      || envid == NULL)
    return FALSE;
  text = g_hash_table_lookup (latest_text, info->msgid);
  if (text == NULL)
    return FALSE;   /* a new send attempt of it: its own status follows */
  job->n_tracked++;
  if (!g_hash_table_contains (envid_to_mid, envid))
    mtc_remember_envid (envid, info->msgid);
  /* The usual case of a second look: the row already carries this tag alone. */
  if (!g_hash_table_lookup_extended (job->tag_ids, text, NULL, &id))
    {
      g_autofree char *tag = g_strconcat (MTC_TAG_PREFIX, text, NULL);

      id = GINT_TO_POINTER (tags_get_id_for_str (tag));
      g_hash_table_insert (job->tag_ids, g_strdup (text), id);
    }
  if (GPOINTER_TO_INT (id) > 0 && info->tags && info->tags->next == NULL
      && info->tags->data == id)
    return FALSE;
  if (!*frozen && clist)
    {
      gtk_cmclist_freeze (clist);   /* one redraw for the slice */
      *frozen = TRUE;
    }
  mtc_tag_message (info, text);
  return TRUE;
}

/* One slice of a match: tag the shown folder's tracked messages for at most
 * MTC_MATCH_SLICE_MS, then give the main loop back. */
static gboolean
match_slice_cb (gpointer data)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  SummaryView *summary = mainwin ? mainwin->summaryview : NULL;
  GtkCMCList *clist = summary && summary->ctree ? GTK_CMCLIST (summary->ctree) : NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 until = start + MTC_MATCH_SLICE_MS * 1000;
  MatchJob *job = match_job;
  gboolean frozen = FALSE;

  if (job == NULL)
    {
      match_id = 0;
      return G_SOURCE_REMOVE;
    }
  if (summary == NULL || summary->folder_item != job->item)
    {
      match_id = 0;
      match_job_stop ();   /* another folder shown: its own look follows */
      return G_SOURCE_REMOVE;
    }
  if (folder_busy > 0 || summary_is_locked (summary))
    {
      /* Claws is inside a folder call or filling the list: try again a little later. */
      job->n_waits++;
      match_id = g_timeout_add (MTC_FOLDER_RETRY_MS, match_slice_cb, NULL);
      return G_SOURCE_REMOVE;
    }
  job->n_slices++;
  slice_job = job;
  while (job->next != NULL)
    {
      MsgInfo *info;
      gboolean tagged;

      /* The clock is read every 1,024 messages and every 32 tagged ones. */
      if ((job->n_msgs & 1023) == 1023 && g_get_monotonic_time () >= until)
        break;
      info = job->by_id ? folder_item_get_msginfo_by_msgid (job->item, job->next->data)
                        : job->next->data;
      job->next = job->next->next;
      job->n_msgs++;
      if (info == NULL)
        continue;   /* (by Message-ID) not in this folder */
      tagged = match_one (job, info, clist, &frozen);
      if (job->by_id)
        procmsg_msginfo_free (&info);
      if (match_job != job)
        break;   /* stopped or replaced during the tag's commit (match_job_stop) */
      if (tagged && (job->n_tracked & 31) == 0 && g_get_monotonic_time () >= until)
        break;
    }
  slice_job = NULL;
  if (frozen)
    gtk_cmclist_thaw (clist);
  if (match_job != job)
    {
      /* match_id, if set, is the new job's: left alone. */
      match_job_free (job);
      return G_SOURCE_REMOVE;
    }
  job->busy += g_get_monotonic_time () - start;
  if (job->next != NULL)
    {
      /* The next slice when the main loop is idle (this may have been a retry timer). */
      match_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, match_slice_cb, NULL, NULL);
      return G_SOURCE_REMOVE;
    }
  {
    g_autofree char *id = folder_item_get_identifier (job->item);

    g_log (MTC_LOOK_LOG_DOMAIN, G_LOG_LEVEL_DEBUG,
           "look at %s done: %u tracked of %u %s, %.3f s (%u slices, %.3f s in "
           "them, %u waits)", id, job->n_tracked, job->n_msgs,
           job->by_id ? "tracked Message-IDs looked up" : "messages walked",
           (g_get_monotonic_time () - job->started) / 1e6, job->n_slices, job->busy / 1e6,
           job->n_waits);
  }
  match_id = 0;
  match_job_stop ();
  return G_SOURCE_REMOVE;
}

/* Match the folder's messages against what msgtrkd tracks (mid_state), in slices. */
static void
match_start (FolderItem *item)
{
  match_job_stop ();
  match_job = g_new0 (MatchJob, 1);
  match_job->item = item;
  match_job->started = g_get_monotonic_time ();
  match_job->tag_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (g_hash_table_size (mid_state) < (guint) MAX (item->total_msgs, 0))
    {
      /* Fewer tracked messages than the folder holds: each is looked up in the folder
       * (Claws's Message-ID table) instead of walking every message. */
      GHashTableIter iter;
      gpointer mid, envid;

      match_job->by_id = TRUE;
      g_hash_table_iter_init (&iter, mid_state);
      while (g_hash_table_iter_next (&iter, &mid, &envid))
        if (envid != NULL)
          match_job->list = g_slist_prepend (match_job->list, g_strdup (mid));
    }
  else
    match_job->list = folder_item_get_msg_list (item);
  match_job->next = match_job->list;
  match_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, match_slice_cb, NULL, NULL);
}

static void
fetch_job_free (FetchJob *job)
{
  if (fetch_job == job)
    fetch_job = NULL;
  g_clear_object (&job->cancellable);
  g_clear_pointer (&job->seen, g_hash_table_unref);
  g_free (job);
}

static void
fetch_job_stop (void)
{
  if (fetch_job)
    g_cancellable_cancel (fetch_job->cancellable);
  fetch_job = NULL;
}

static void list_status_cb (GObject *source, GAsyncResult *res, gpointer user_data);

/* Fetch what msgtrkd tracks, a page at a time; the look at the shown folder follows. */
static void
fetch_start (void)
{
  FetchJob *job;

  fetch_job_stop ();
  fetch_again = FALSE;
  job = g_new0 (FetchJob, 1);
  job->cancellable = g_cancellable_new ();
  job->seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fetch_job = job;
  msgtrk_dbus_tracker1_call_list_status (proxy, "", MTC_LIST_PAGE_MAX, job->cancellable,
                                         list_status_cb, job);
}

/* Create the status tags the fetched statuses need and Claws does not have yet, now, in
 * one go: a tag created while a big folder is matched costs a pass over all its rows
 * (summary_reflect_tags_changes(), so that Claws's tag menus learn it), 0.1–0.4 s of frozen
 * UI for 100,000 rows. Only texts of tracked messages: the set stays the fixed one. */
static void
ensure_status_tags (void)
{
  g_autoptr (GHashTable) texts = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer mid, envid;
  gboolean added = FALSE;
  MainWindow *mainwin = mainwindow_get_mainwindow ();

  if (!mtc_prefs_show_tags ())
    return;
  g_hash_table_iter_init (&iter, mid_state);
  while (g_hash_table_iter_next (&iter, &mid, &envid))
    {
      const char *text = envid ? g_hash_table_lookup (latest_text, mid) : NULL;

      if (text && g_hash_table_add (texts, (gpointer) text))
        {
          g_autofree char *tag = g_strconcat (MTC_TAG_PREFIX, text, NULL);

          if (tags_get_id_for_str (tag) == -1)
            {
              tags_add_tag (tag);
              added = TRUE;
            }
        }
    }
  if (!added)
    return;
  tags_write_tags ();
  if (mainwin && mainwin->summaryview && mainwin->summaryview->folder_item)
    reflect_later (mainwin->summaryview->folder_item);
}

/* Whether VALUE's key was neither answered nor signalled during the fetch DATA. */
static gboolean
not_seen (gpointer key, gpointer value, gpointer data)
{
  return !g_hash_table_contains (data, key);
}

/* One ListStatus page: applied at once (an answer comes before any later signal, so the
 * newest text wins); after the last page, a Message-ID no page had is no longer tracked. */
static void
list_status_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  FetchJob *job = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) statuses = NULL;
  g_autofree char *next = NULL;
  GVariantIter iter;
  const char *id, *envid, *state, *summary;

  if (!msgtrk_dbus_tracker1_call_list_status_finish (MSGTRK_DBUS_TRACKER1 (source), &statuses,
                                                     &next, res, &error))
    {
      if (job == fetch_job && g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
        {
          /* An older msgtrkd: ask the folder's Message-IDs with GetStatus instead. */
          g_debug ("ListStatus unknown to msgtrkd: asking with GetStatus");
          list_status = MTC_LIST_NO;
          fetch_job_free (job);
          refresh_folder (watched_item);
          return;
        }
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("ListStatus failed: %s", error->message);
      fetch_job_free (job);   /* the next look fetches again */
      return;
    }
  if (job != fetch_job)
    {
      fetch_job_free (job);   /* replaced by a newer fetch */
      return;
    }
  list_status = MTC_LIST_YES;
  g_variant_iter_init (&iter, statuses);
  while (g_variant_iter_next (&iter, "(&s&s&s&s)", &id, &envid, &state, &summary))
    {
      if (*id == '\0' || *envid == '\0')
        continue;
      g_hash_table_add (job->seen, g_strdup (id));
      g_hash_table_replace (mid_state, g_strdup (id), g_strdup (envid));
      g_hash_table_replace (latest_text, g_strdup (id), status_text (state, summary));
    }
  if (next != NULL && *next != '\0')
    {
      msgtrk_dbus_tracker1_call_list_status (proxy, next, MTC_LIST_PAGE_MAX, job->cancellable,
                                             list_status_cb, job);
      return;
    }
  g_hash_table_foreach_remove (mid_state, not_seen, job->seen);
  g_debug ("ListStatus: %u tracked messages", g_hash_table_size (mid_state));
  tracked_known = TRUE;
  fetch_job_free (job);
  ensure_status_tags ();
  if (fetch_again)
    fetch_start ();
  else if (watched_item != NULL)
    {
      MainWindow *mainwin = mainwindow_get_mainwindow ();

      if (mainwin && mainwin->summaryview && mainwin->summaryview->folder_item == watched_item
          && watched_item->stype == F_OUTBOX && mtc_prefs_show_tags ())
        match_start (watched_item);
    }
}

/* Ask msgtrkd about the folder's messages it was not asked about yet, newest first, in
 * batches of MTC_STATUS_BATCH_MAX; a look at another folder (or a new look) replaces it. */
static void
refresh_folder (FolderItem *item)
{
  GSList *list;
  g_autoptr (GArray) entries = NULL;
  g_autoptr (GHashTable) seen = NULL;
  g_autofree char *folder_id = NULL;
  StatusJob *job;
  gint upto, max_num = 0;

  status_job_stop ();
  match_job_stop ();
  if (proxy == NULL || item == NULL || item->stype != F_OUTBOX)
    return;
  if (!mtc_prefs_show_tags ())
    {
      /* No tag is set meanwhile: everything is asked again once they are shown. */
      g_hash_table_remove_all (mid_state);
      mtc_prefs_forget_asked ();
      tracked_known = FALSE;
      return;
    }
  if (list_status != MTC_LIST_NO)
    {
      /* What msgtrkd tracks is fetched once (the look waits for it), then matched here. */
      if (fetch_job == NULL && (!tracked_known || fetch_again))
        fetch_start ();
      else if (fetch_job == NULL)
        match_start (item);
      return;
    }
  entries = g_array_new (FALSE, FALSE, sizeof (AskEntry));
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  list = folder_item_get_msg_list (item);
  folder_id = folder_item_get_identifier (item);
  upto = mtc_prefs_asked_upto (folder_id);
  for (GSList *l = list; l; l = l->next)
    max_num = MAX (max_num, (gint) ((MsgInfo *) l->data)->msgnum);
  if (upto > max_num)
    upto = -1;   /* renumbered or rebuilt since: ask everything */
  for (GSList *l = list; l; l = l->next)
    {
      MsgInfo *info = l->data;
      /* Asked in an earlier session, unknown to msgtrkd then, and still without a status
       * tag: an untracked message, not asked again (a folder of 100,000 messages would
       * otherwise cost ten GetStatus calls at every start). */
      gboolean known_untracked = upto >= 0 && (gint) info->msgnum <= upto
                                 && !has_status_tag (info)
                                 && !g_hash_table_contains (mid_state, info->msgid);

      /* No Message-ID: it cannot be tracked. */
      if (info->msgid && *info->msgid && !known_untracked && needs_asking (info)
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
    {
      mtc_prefs_set_asked_upto (folder_id, max_num);
      return;
    }
  job = g_new0 (StatusJob, 1);
  job->folder_id = g_steal_pointer (&folder_id);
  job->max_num = max_num;
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
  if (folder_busy > 0)
    return G_SOURCE_CONTINUE;   /* not while Claws is inside a folder call of ours */
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

static gboolean folder_watch_cb (gpointer data);

static gboolean
folder_retry_cb (gpointer data)
{
  folder_retry_id = 0;
  folder_watch_cb (NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
folder_watch_cb (gpointer data)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  FolderItem *item = mainwin && mainwin->summaryview ? mainwin->summaryview->folder_item : NULL;

  if (item == watched_item)
    return G_SOURCE_CONTINUE;
  if (folder_busy == 0
      && !(mainwin && mainwin->summaryview && summary_is_locked (mainwin->summaryview)))
    {
      watched_item = item;
      refresh_folder (item);
    }
  else if (folder_retry_id == 0)
    folder_retry_id = g_timeout_add (MTC_FOLDER_RETRY_MS, folder_retry_cb, NULL);
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
                   const char *summary, const char *message_id, gpointer data)
{
  const char *mid = g_hash_table_lookup (envid_to_mid, envid);

  /* The signal names the Message-ID (msgtrkd 0.2): a message this session has not seen
   * (sent by another client, tracked from a link) is placed from it, with no new look. */
  if (mid == NULL && message_id != NULL && *message_id != '\0')
    {
      g_hash_table_replace (envid_to_mid, g_strdup (envid), g_strdup (message_id));
      mid = g_hash_table_lookup (envid_to_mid, envid);
    }

  g_debug ("StatusChanged %s %s: <%s>", state, mtc_state_label (state),
           mid ? mid : "(unknown)");

  if (mid)
    {
      g_autofree char *text = status_text (state, summary);
      GSList *folders = sent_folders ();

      if (mtc_prefs_show_tags ())
        g_hash_table_replace (mid_state, g_strdup (mid), g_strdup (envid));
      if (fetch_job)
        g_hash_table_add (fetch_job->seen, g_strdup (mid));

      apply_status (folders, mid, text);
      g_slist_free (folders);
      if (!mtc_prefs_show_tags ())
        g_hash_table_remove (mid_state, mid);   /* no tag was set: ask again later */
    }
  else if (!g_hash_table_contains (stray_envids, envid))
    {
      /* A message without a Message-ID (or an older msgtrkd, whose signal does not name
       * it): the shown folder is asked again, once for a burst. */
      g_hash_table_add (stray_envids, g_strdup (envid));
      if (list_status == MTC_LIST_YES)
        fetch_again = TRUE;   /* fetched again (one page per 10,000 tracked) */
      else
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
        {
          log_warning (LOG_PROTOCOL, _("msgtrk: no session bus for the tracking helper: %s\n"),
                       error->message);
          mtc_send_adopt_queued (TRUE);   /* no msgtrkd to tell: file them anyway */
        }
      return;
    }
  proxy = p;
  /* msgtrkd can take a while to answer (keyring, SQLite); never block on it anyway. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (proxy), 60 * 1000);
  status_handler = g_signal_connect (proxy, "status-changed", G_CALLBACK (status_changed_cb), NULL);
  watched_item = NULL;   /* ask for the shown folder now */
  /* What msgtrkd tracks is fetched now, while Claws starts: a folder shown later is
   * matched locally. */
  if (mtc_prefs_show_tags ())
    fetch_start ();
  /* Handovers a crash interrupted end now, and msgtrkd hears of them. */
  mtc_send_adopt_queued (TRUE);
}

/* Plugin load: the tracked messages Claws left in a Queue folder are ours again (locked,
 * out of reach of Claws's own sender), before anything can send them. */
static gboolean
adopt_idle (gpointer data)
{
  guint n;

  adopt_id = 0;
  n = mtc_send_adopt_queued (proxy != NULL);
  if (n > 0)
    log_message (LOG_PROTOCOL,
                 g_dngettext (GETTEXT_PACKAGE,
                              "msgtrk: %u tracked message waits in the Queue folder "
                              "(Message ▸ Send queued tracked messages)\n",
                              "msgtrk: %u tracked messages wait in the Queue folder "
                              "(Message ▸ Send queued tracked messages)\n", n), n);
  return G_SOURCE_REMOVE;
}

/* ---- compose ---- */

static GtkToggleAction *
compose_track_action (Compose *compose)
{
  return compose && compose->window
           ? g_object_get_data (G_OBJECT (compose->window), "msgtrk-track-action")
           : NULL;
}

static GtkToggleAction *
compose_content_track_action (Compose *compose)
{
  return compose && compose->window
           ? g_object_get_data (G_OBJECT (compose->window), "msgtrk-content-track-action")
           : NULL;
}

/* The draft's own warning (draft-harrison-email-tracking, 3.1): the header travels with
 * the message, so every recipient sees that the route is being reported. */
#define MTC_CONTENT_TRACK_WARNING                                                          \
  N_("Relays that support it will mail you the route of this message (its Received: "     \
     "lines, never its text).\n\nPrivacy: this adds a \"Content-Track\" header that every " \
     "recipient can see, so they will know the route is being reported to you. Leave it "  \
     "off unless you need it.")

/* Ticking "Ask relays to report the route" warns once per compose window and turns
 * tracking on (the key comes from the tracked send). */
static void
content_track_toggled (GtkToggleAction *ct, gpointer data)
{
  Compose *compose = data;
  GtkToggleAction *track = compose_track_action (compose);

  if (!gtk_toggle_action_get_active (ct))
    return;
  if (track != NULL && !gtk_toggle_action_get_active (track))
    gtk_toggle_action_set_active (track, TRUE);
  if (g_object_get_data (G_OBJECT (ct), "msgtrk-warned") == NULL)
    {
      g_object_set_data (G_OBJECT (ct), "msgtrk-warned", GINT_TO_POINTER (1));
      alertpanel_notice ("%s", _(MTC_CONTENT_TRACK_WARNING));
    }
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
  {
    /* Harrison's Content-Track (docs/harrison.md): per message, off by default; above
     * "Track this message", which stays the menu's last item (the e2e tests rely on it). */
    GtkToggleAction *ct = gtk_toggle_action_new ("MsgtrkContentTrack",
                                                 _("Ask relays to report the _route "
                                                   "(Content-Track)"),
                                                 _(MTC_CONTENT_TRACK_WARNING), NULL);

    gtk_toggle_action_set_active (ct, FALSE);
    gtk_action_group_add_action (group, GTK_ACTION (ct));
    gtk_ui_manager_add_ui (compose->ui_manager, merge_id, "/Menu/Options",
                           "MsgtrkContentTrack", "MsgtrkContentTrack",
                           GTK_UI_MANAGER_MENUITEM, FALSE);
    g_signal_connect (ct, "toggled", G_CALLBACK (content_track_toggled), compose);
    g_object_set_data_full (G_OBJECT (compose->window), "msgtrk-content-track-action", ct,
                            g_object_unref);
  }
  gtk_ui_manager_add_ui (compose->ui_manager, merge_id, "/Menu/Options", "MsgtrkTrack",
                         "MsgtrkTrack", GTK_UI_MANAGER_MENUITEM, FALSE);
  g_object_set_data_full (G_OBJECT (compose->window), "msgtrk-track-action", action,
                          g_object_unref);
  /* What compose_remove_ui() takes away at unload. */
  g_object_set_data_full (G_OBJECT (compose->window), "msgtrk-action-group", group,
                          g_object_unref);
  g_object_set_data (G_OBJECT (compose->window), "msgtrk-merge-id", GUINT_TO_POINTER (merge_id));

  /* Visible at a glance, not only in the Options menu: a check button under the text,
   * bound to the same action (ticking either changes both). */
  if (compose->vbox)
    {
      GtkWidget *bar = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
      GtkWidget *check = gtk_check_button_new_with_label (_("✉ Track delivery"));

      gtk_activatable_set_related_action (GTK_ACTIVATABLE (check), GTK_ACTION (action));
      gtk_button_set_label (GTK_BUTTON (check), _("✉ Track delivery"));
      gtk_widget_set_tooltip_text (check, _("Ask the servers for delivery tracking (MTRK, "
                                            "DSN); the Sent folder shows the status"));
      gtk_widget_set_can_focus (check, FALSE);   /* Tab keeps its way through the fields */
      gtk_box_pack_end (GTK_BOX (bar), check, FALSE, FALSE, 6);
      gtk_box_pack_end (GTK_BOX (compose->vbox), bar, FALSE, FALSE, 0);
      gtk_widget_show_all (bar);
      g_object_set_data (G_OBJECT (compose->window), "msgtrk-bar", bar);
    }
  return FALSE;
}

/* At unload: the plugin's items, actions and check button leave an open compose window.
 * Left there, "Track this message" still showed ticked with no hook to send it tracked
 * (the message went untracked without a word), and its handlers were the plugin's. */
static void
compose_remove_ui (Compose *compose)
{
  GObject *window = compose && compose->window ? G_OBJECT (compose->window) : NULL;
  GtkActionGroup *group;
  GtkToggleAction *ct;
  GtkWidget *bar;

  if (window == NULL || (group = g_object_get_data (window, "msgtrk-action-group")) == NULL)
    return;
  ct = g_object_get_data (window, "msgtrk-content-track-action");
  if (ct != NULL)
    g_signal_handlers_disconnect_by_func (ct, content_track_toggled, compose);
  bar = g_object_get_data (window, "msgtrk-bar");
  if (bar != NULL)
    gtk_widget_destroy (bar);
  if (compose->ui_manager != NULL)
    {
      gtk_ui_manager_remove_ui (compose->ui_manager,
                                GPOINTER_TO_UINT (g_object_get_data (window, "msgtrk-merge-id")));
      gtk_ui_manager_remove_action_group (compose->ui_manager, group);
    }
  g_object_set_data (window, "msgtrk-bar", NULL);
  g_object_set_data (window, "msgtrk-merge-id", NULL);
  g_object_set_data (window, "msgtrk-content-track-action", NULL);
  g_object_set_data (window, "msgtrk-track-action", NULL);
  g_object_set_data (window, "msgtrk-action-group", NULL);
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
  gboolean content_track;  /* Harrison: add Content-Track when sending */
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
  if (!mtc_queue_mark_tracked_full (queue, msgnum, &msgnum, req->content_track, &error))
    {
      /* The compose window still holds the message: the copy just queued goes (left, in
       * its untracked form, it was locked in memory only: a second Send queued a second
       * copy, and after a crash Claws's own sender took the first one, untracked). */
      if (folder_item_remove_msg (queue, msgnum) == 0)
        show_error (_("Could not mark the message for a tracked send; nothing was queued "
                      "or sent, and it is still in the compose window"), error);
      else
        show_error (_("Could not mark the queued message as tracked, nor take it back out "
                      "of the Queue folder: delete it there before sending again (Claws "
                      "Mail's own Send queued messages would send it untracked)"), error);
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
          if (!mtc_queue_mark_tracked_full (l->data, info->msgnum, NULL, req->content_track,
                                            &error))
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
  req->content_track = compose_content_track_action (compose) != NULL
                       && gtk_toggle_action_get_active (compose_content_track_action (compose));
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

/* The selected message, (transfer full): free it with procmsg_msginfo_free().
 * summary_get_selected_msg() returns the list's own pointer without a reference; freeing
 * that (as this plugin did) dropped the message list's reference, and the next rebuild of
 * the list freed the MsgInfo twice: the "corrupted double-linked list" abort of issue 8
 * item 2, right after a tracked send filed its copy in the shown Sent folder. */
static MsgInfo *
selected_message (void)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  MsgInfo *info;

  if (mainwin == NULL || mainwin->summaryview == NULL)
    return NULL;
  info = summary_get_selected_msg (mainwin->summaryview);
  return info ? procmsg_msginfo_new_ref (info) : NULL;
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
  /* The URL holds the secret: to the clipboard only (never PRIMARY, which any
   * middle-click pastes), never to a log. */
  gtk_clipboard_set_text (gtk_clipboard_get (GDK_SELECTION_CLIPBOARD), url, -1);
  memset (url, 0, strlen (url));
  status_notice (_("Tracking link copied: whoever has it can follow this message."));
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
  status_notice (_("The link is tracked; Message ▸ Tracked links… lists it from now on."));
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
links_action_cb (GtkAction *action, gpointer data)
{
  mtc_links_show ();
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
  { "Message/MsgtrkLinks", NULL, N_("Tracked lin_ks…"), NULL,
    N_("The messages you follow through a tracking link someone gave you"),
    G_CALLBACK (links_action_cb) },
  { "Message/MsgtrkImport", NULL, N_("Track a lin_k…"), NULL, NULL,
    G_CALLBACK (import_action_cb) },
  { "Message/MsgtrkSendTracked", NULL, N_("Send queued _tracked messages"), NULL, NULL,
    G_CALLBACK (send_tracked_action_cb) },
};

/* Whether the selected message is known to be untracked (msgtrkd said so, or did not
 * list it, and no status tag of ours is on it). Unknown messages count as trackable:
 * msgtrkd is asked then. */
static gboolean
selected_is_untracked (void)
{
  MsgInfo *info = selected_message ();
  gboolean untracked = TRUE;

  if (info != NULL)
    {
      gpointer envid = NULL;
      gboolean asked = info->msgid && *info->msgid
                       && g_hash_table_lookup_extended (mid_state, info->msgid, NULL, &envid);

      /* After a whole ListStatus fetch, a Message-ID it did not list is not tracked. */
      if (!asked && info->msgid && tracked_known && list_status == MTC_LIST_YES)
        asked = TRUE;
      untracked = info->msgid == NULL || *info->msgid == '\0'
                  || (asked && envid == NULL && !has_status_tag (info));
      procmsg_msginfo_free (&info);
    }
  return untracked;
}

/* Menus about to show: offer only what can work now. */
static void
menu_shown_cb (GtkWidget *menu, gpointer data)
{
  MainWindow *mainwin = mainwindow_get_mainwindow ();
  gboolean untracked;
  GtkAction *a;

  if (mainwin == NULL)
    return;
  untracked = selected_is_untracked ();
  if ((a = gtk_action_group_get_action (mainwin->action_group, "Message/MsgtrkTrack")))
    gtk_action_set_sensitive (a, !untracked);
  if ((a = gtk_action_group_get_action (mainwin->action_group, "Message/MsgtrkCopyLink")))
    gtk_action_set_sensitive (a, !untracked);
  if ((a = gtk_action_group_get_action (mainwin->action_group, "Message/MsgtrkSendTracked")))
    gtk_action_set_sensitive (a, mtc_send_have_tracked_queued ());
  g_debug ("menu: Track %s, Send queued tracked %s", untracked ? "off" : "on",
           mtc_send_have_tracked_queued () ? "on" : "off");
}

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
    { "/Menu/Message", "MsgtrkLinks", "Message/MsgtrkLinks" },
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
  for (gsize i = 0; i < G_N_ELEMENTS (watched_menus); i++)
    {
      GtkWidget *w = gtk_ui_manager_get_widget (mainwin->ui_manager, watched_menus[i]);
      if (GTK_IS_MENU_ITEM (w))
        w = gtk_menu_item_get_submenu (GTK_MENU_ITEM (w));
      if (GTK_IS_MENU (w))
        {
          menu_show_ids[i] = g_signal_connect (w, "show", G_CALLBACK (menu_shown_cb), NULL);
          menu_widgets[i] = w;
        }
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
  for (gsize i = 0; i < G_N_ELEMENTS (watched_menus); i++)
    {
      if (menu_widgets[i] && menu_show_ids[i])
        g_signal_handler_disconnect (menu_widgets[i], menu_show_ids[i]);
      menu_widgets[i] = NULL;
      menu_show_ids[i] = 0;
    }
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

/* ---- incoming TRACK: mails (Harrison, docs/harrison.md) ---- */

/* A TRACK: mail is read whole (at most MTC_TRACK_MAIL_MAX octets) in a worker thread and
 * handed to msgtrkd as it is; msgtrkd matches it by its key. One that matched one of our
 * messages is moved to the Trash: the route shows it, the inbox need not. One that matched
 * nothing (forged, another client's, a relay's mistake) stays where it is. */

static void
track_ingest_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  MsgInfo *info = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *envid = NULL;
  g_autoptr (GVariant) ret = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), res, &error);

  if (ret == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        log_warning (LOG_PROTOCOL, _("msgtrk: a trace record was not taken: %s\n"),
                     error->message);
      procmsg_msginfo_free (&info);
      return;
    }
  g_variant_get (ret, "(s)", &envid);
  if (envid != NULL && *envid != '\0' && info->folder != NULL && !mtc_folder_is_busy ())
    {
      FolderItem *trash = info->folder->folder != NULL ? info->folder->folder->trash : NULL;

      if (trash == NULL)
        trash = folder_get_default_trash ();
      log_message (LOG_PROTOCOL, _("msgtrk: trace record merged into %s\n"), envid);
      if (trash != NULL && trash != info->folder)
        {
          mtc_folder_busy_enter ();
          folder_item_move_msg (trash, info);
          mtc_folder_busy_leave ();
        }
    }
  procmsg_msginfo_free (&info);
}

static void
read_track_thread (GTask *task, gpointer source, gpointer task_data,
                   GCancellable *task_cancellable)
{
  GError *error = NULL;
  char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (task_data, &data, &len, &error))
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_bytes_new_take (data, len), (GDestroyNotify) g_bytes_unref);
}

static void
track_read (GObject *source, GAsyncResult *res, gpointer data)
{
  MsgInfo *info = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) raw = g_task_propagate_pointer (G_TASK (res), &error);
  GVariant *bytes;

  reports_in_flight--;
  if (raw == NULL || proxy == NULL || g_cancellable_is_cancelled (cancellable))
    {
      procmsg_msginfo_free (&info);
      return;
    }
  bytes = g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, raw, TRUE);
  g_dbus_proxy_call (G_DBUS_PROXY (proxy), "IngestReport", g_variant_new_tuple (&bytes, 1),
                     G_DBUS_CALL_FLAGS_NONE, -1, cancellable, track_ingest_cb, info);
}

/* Whether new mail is a TRACK: mail to read (its Subject, as Claws decoded it). */
static gboolean
is_track_mail (MsgInfo *msginfo)
{
  return msginfo->subject != NULL && g_ascii_strncasecmp (msginfo->subject, "TRACK:", 6) == 0
         && msginfo->size <= MTC_TRACK_MAIL_MAX;
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
  if (is_track_mail (msginfo))
    {
      /* The MsgInfo is kept (a reference) to move the mail once msgtrkd matched it. */
      task = g_task_new (NULL, cancellable, track_read, procmsg_msginfo_new_ref (msginfo));
      g_task_set_source_tag (task, postfilter_hook);
      g_task_set_task_data (task, file, g_free);
      reports_in_flight++;
      g_task_run_in_thread (task, read_track_thread);
      return FALSE;
    }
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
  latest_text = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  deferred_mids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  cancellable = g_cancellable_new ();
  mtc_prefs_init ();
  {
    guint removed = tags_cleanup ();
    if (removed > 0)
      mtc_prefs_forget_asked ();   /* their messages are untagged now: ask them again */
    if (removed > 0)
      log_message (LOG_PROTOCOL,
                   g_dngettext (GETTEXT_PACKAGE, "msgtrk: removed %u outdated status tag\n",
                                "msgtrk: removed %u outdated status tags\n", removed),
                   removed);
  }

  hook_compose_created = hooks_register_hook (COMPOSE_CREATED_HOOKLIST, compose_created_hook, NULL);
  hook_check_before_send = hooks_register_hook (COMPOSE_CHECK_BEFORE_SEND_HOOKLIST,
                                                check_before_send_hook, NULL);
  hook_postfilter = hooks_register_hook (MAIL_POSTFILTERING_HOOKLIST, postfilter_hook, NULL);
  hook_item_update = hooks_register_hook (FOLDER_ITEM_UPDATE_HOOKLIST, item_update_hook, NULL);
  menus_add ();
  folder_watch_id = g_timeout_add (MTC_FOLDER_WATCH_MS, folder_watch_cb, NULL);
  /* Now for what is already loaded; once more from the main loop (Claws may still be
   * reading its folder list when plugins load). */
  mtc_send_adopt_queued (FALSE);
  adopt_id = g_idle_add_full (G_PRIORITY_HIGH, adopt_idle, NULL, NULL);

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
  if (folder_retry_id)
    g_source_remove (folder_retry_id);
  folder_retry_id = 0;
  if (rescan_id)
    g_source_remove (rescan_id);
  rescan_id = 0;
  if (reflect_id)
    g_source_remove (reflect_id);
  reflect_id = 0;
  if (adopt_id)
    g_source_remove (adopt_id);
  adopt_id = 0;
  if (deferred_id)
    g_source_remove (deferred_id);
  deferred_id = 0;
  if (notice_id)
    {
      g_source_remove (notice_id);
      statusbar_pop_all ();
    }
  notice_id = 0;
  status_job_stop ();
  fetch_job_stop ();
  match_job_stop ();
  g_cancellable_cancel (cancellable);
  reports_intake_shutdown ();
  mtc_send_shutdown ();
  mtc_links_close ();
  hooks_unregister_hook (COMPOSE_CREATED_HOOKLIST, hook_compose_created);
  for (GList *l = (GList *) compose_get_compose_list (); l != NULL; l = l->next)
    compose_remove_ui (l->data);
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
  g_clear_pointer (&latest_text, g_hash_table_unref);
  g_clear_pointer (&deferred_mids, g_hash_table_unref);
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
