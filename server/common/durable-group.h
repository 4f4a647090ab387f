/* SPDX-License-Identifier: GPL-3.0-or-later */
/* durable-group.h: group commit, the servers' one way to share an fsync among concurrent
 * writers (design: docs/durability.md).
 *
 * DurableGroup: writers that each made a change (a rename into a directory, a record
 * appended to a journal) share one sync (fsync of the directory, fdatasync of the
 * journal). A writer takes a ticket after its change is complete (durable_group_enter)
 * and waits (durable_group_wait): one waiter at a time runs the sync, which covers every
 * ticket taken before it started; the others wait for it and run the next one only if it
 * did not cover them. A call returns TRUE only once a sync that started after its change
 * returned 0.
 *
 * DurableJournal: an append-only file of framed records, written ahead of a change that
 * is then made without fsync (a file renamed into place, never synced): one fdatasync of
 * the journal (grouped through a DurableGroup) makes the record durable. The file is
 * written full of zeros and synced when it is created, so appending in place changes no
 * metadata and fdatasync writes the data blocks only (about 0.2 ms on this project's
 * machines, against 4 ms for a new file's fsync). Each process owns its own journal
 * (a unique name, flock'ed while open). When it is full, or closed, everything is synced
 * with syncfs(2) and the journal starts a new generation (full) or is removed (closed).
 * durable_journal_replay() hands the records of journals whose owner died to a callback
 * (at start-up), then removes them. durable_journal_file_replace() is the common change
 * (a file renamed into place); durable_journal_apply() runs any other change of the
 * caller's after its record, before a checkpoint can sync and overwrite that record.
 *
 * durable_journal_apply_start() is durable_journal_apply() with a ticket, started without
 * waiting: the step (append, change) and then the sync run in a pool thread while the
 * caller goes on; it joins the step (durable_journal_job_written()) when it needs the
 * change made, and the sync (durable_journal_job_finish()) when it needs it durable;
 * durable_journal_job_step_done() says whether that first join would have to wait.
 *
 * Limits: DURABLE_JOURNAL_CAPACITY octets per journal file; a record is at most
 * DURABLE_JOURNAL_MAX_RECORD octets (G_IO_ERROR_MESSAGE_TOO_LARGE past it).
 * Never: report a ticket durable after a failed sync: a failed sync (fsyncgate: the
 * kernel may have dropped the dirty pages) is reported to every waiter it covered and to
 * every later one; the group stays failed and its owner must reopen what it syncs.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** DURABLE_JOURNAL_CAPACITY: size of a journal file, written once when it is created. */
#define DURABLE_JOURNAL_CAPACITY (4 * 1024 * 1024)
/** DURABLE_JOURNAL_MAX_RECORD: largest record a journal takes (a quarter of it). */
#define DURABLE_JOURNAL_MAX_RECORD (DURABLE_JOURNAL_CAPACITY / 4)

typedef gboolean (*DurableGroupSyncFunc) (gpointer  data,
                                          GError  **error);

typedef struct _DurableGroup DurableGroup;

DurableGroup *durable_group_new    (DurableGroupSyncFunc func,
                                    gpointer             data);
void          durable_group_free   (DurableGroup        *group);
guint64       durable_group_enter  (DurableGroup        *group);
guint64       durable_group_last   (DurableGroup        *group);
gboolean      durable_group_wait   (DurableGroup        *group,
                                    guint64              ticket,
                                    GError             **error);
gboolean      durable_group_commit (DurableGroup        *group,
                                    GError             **error);
guint64       durable_group_syncs  (DurableGroup        *group);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DurableGroup, durable_group_free)

typedef struct _DurableJournal DurableJournal;

/* Called for each record of a dead owner's journal, in the order written; FALSE keeps
 * the journal for the next start. @this_boot: the journal was written since the machine
 * last started (durable_journal_replay()). */
typedef gboolean (*DurableJournalReplayFunc) (const char *record,
                                              gsize       len,
                                              gboolean    this_boot,
                                              gpointer    data,
                                              GError    **error);
/* Called after a journal's last record, before the file system is synced and the journal
 * removed: what the records' callbacks set aside is written there (unsynced: the sync
 * that follows covers it); FALSE keeps the journal for the next start. */
typedef gboolean (*DurableJournalReplayDoneFunc) (gpointer  data,
                                                  GError  **error);

DurableJournal *durable_journal_open   (const char               *dir,
                                        const char               *prefix,
                                        GError                  **error);
void            durable_journal_close  (DurableJournal           *journal);
gboolean        durable_journal_append (DurableJournal           *journal,
                                        const char               *record,
                                        gsize                     len,
                                        guint64                  *ticket,
                                        GError                  **error);
gboolean        durable_journal_wait   (DurableJournal           *journal,
                                        guint64                   ticket,
                                        GError                  **error);
guint64         durable_journal_last   (DurableJournal           *journal);
guint           durable_journal_replay (const char               *dir,
                                        const char               *prefix,
                                        DurableJournalReplayFunc  func,
                                        DurableJournalReplayDoneFunc done,
                                        gpointer                  data,
                                        GError                  **error);
gboolean        durable_journal_file_replace (DurableJournal     *journal,
                                              const char         *tmp_path,
                                              const char         *path,
                                              const char         *data,
                                              gsize               len,
                                              guint64            *ticket,
                                              GError            **error);

/* Makes the change a journal record describes (durable_journal_apply): runs after the
 * record is written and before any checkpoint may sync and overwrite it. */
typedef gboolean (*DurableJournalApplyFunc) (gpointer  data,
                                             GError  **error);

gboolean        durable_journal_apply  (DurableJournal           *journal,
                                        const char               *record,
                                        gsize                     len,
                                        DurableJournalApplyFunc   apply,
                                        gpointer                  data,
                                        guint64                  *ticket,
                                        GError                  **error);
typedef struct _DurableJournalJob DurableJournalJob;

DurableJournalJob *durable_journal_apply_start (DurableJournal          *journal,
                                                const char              *record,
                                                gsize                    len,
                                                DurableJournalApplyFunc  apply,
                                                gpointer                 data,
                                                GDestroyNotify           data_free);
gboolean        durable_journal_job_written (DurableJournalJob       *job,
                                             GError                 **error);
gboolean        durable_journal_job_step_done (DurableJournalJob     *job);
gboolean        durable_journal_job_finish  (DurableJournalJob       *job,
                                             GError                 **error);
void            durable_journal_job_free    (DurableJournalJob       *job);
gboolean        durable_journal_place  (const char               *tmp_path,
                                        const char               *path,
                                        const char               *data,
                                        gsize                     len,
                                        GError                  **error);
const char     *durable_journal_get_path (DurableJournal         *journal);
GThread        *durable_journal_probe_hold_checkpoint (DurableJournal *journal,
                                                       guint           ms);
guint64         durable_journal_probe_syncs (DurableJournal          *journal);
gboolean        durable_journal_probe_forget_boot (DurableJournal    *journal);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DurableJournal, durable_journal_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DurableJournalJob, durable_journal_job_free)

G_END_DECLS
