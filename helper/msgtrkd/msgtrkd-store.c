/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-store.c: the helper's memory, one SQLite database in WAL mode.
 *
 * What: messages (with their recipients in a child table), every report received (raw,
 * deduplicated by SHA-256), the route snapshots behind the timeline, timeline events and
 * small settings. docs/store.md describes the schema and the guarantees.
 *
 * How: one connection, opened with busy_timeout, foreign_keys=ON, journal_mode=WAL and
 * synchronous=FULL. Every write function is one BEGIN IMMEDIATE … COMMIT transaction,
 * or, between msgtrkd_store_begin_batch() and msgtrkd_store_end_batch(), a SAVEPOINT of
 * the batch's one transaction (one fsync for a whole poll batch; a failed write is rolled
 * back to its savepoint and the batch goes on). Work that announces a write
 * (msgtrkd_store_after_commit(): StatusChanged) waits for the batch's commit and is
 * dropped with the writes SQLite rolls back;
 * every statement is prepared once (SQLITE_PREPARE_PERSISTENT) from a fixed text and takes
 * its values as bound parameters (get_bound()), and is run by one runner each for a write
 * (run_stmt()), one row (first_row()) and a listing (read_rows(), each row read into a
 * record by a RowFormat table). The schema version is PRAGMA user_version; migrations[]
 * is applied in order, each in its own transaction.
 *
 * Limits: MSGTRKD_STORE_MAX_TEXT_SIZE for each text value, MSGTRKD_STORE_MAX_DOCUMENT_SIZE
 * for raw reports, snapshots and setting values, MSGTRKD_STORE_MAX_RECIPIENTS per message.
 *
 * Never: build SQL from values, abort on a database failure (every failure is a GError
 * MSGTRKD_ERROR_STORE with SQLite's message), touch a database written by a newer schema,
 * store the secret A.
 */
#include "config.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <glib/gstdio.h>

#include "msgtrk-private.h"
#include "msgtrkd-error.h"
#include "msgtrkd-store.h"

/* How long a statement waits for another connection's lock before failing. */
#define STORE_BUSY_TIMEOUT_MS 5000
/* Longest quote of a caller's value in an error message. */
#define STORE_QUOTE_MAX 80

/* ---- schema and migrations ---------------------------------------------------------- */

/* migrations[i] takes the schema from version i to version i + 1; each sets user_version
 * itself (PRAGMA takes no bound parameters, so the number is part of the fixed text). Only
 * ever append to this list. */
static const char *const migrations[] = {
  /* 0 → 1: the first schema. */
  "CREATE TABLE messages ("
  "  envid TEXT PRIMARY KEY NOT NULL,"
  "  message_id TEXT,"
  "  subject TEXT,"
  "  sender TEXT,"
  "  submission_host TEXT,"
  "  mtqp_port TEXT,"
  "  tracking TEXT NOT NULL,"
  "  offered TEXT,"
  "  server_reply TEXT,"
  "  mtrk_timeout INTEGER NOT NULL DEFAULT 0,"
  "  prepared_at INTEGER NOT NULL DEFAULT 0,"
  "  committed_at INTEGER NOT NULL DEFAULT 0,"
  "  expires_at INTEGER NOT NULL DEFAULT 0,"
  "  state TEXT NOT NULL,"
  "  summary TEXT NOT NULL,"
  "  final INTEGER NOT NULL DEFAULT 0,"
  "  next_poll_at INTEGER NOT NULL DEFAULT 0,"
  "  last_poll_at INTEGER NOT NULL DEFAULT 0,"
  "  poll_count INTEGER NOT NULL DEFAULT 0"
  ");"
  "CREATE INDEX messages_by_message_id ON messages (message_id);"
  "CREATE INDEX messages_by_next_poll ON messages (next_poll_at);"
  "CREATE TABLE recipients ("
  "  envid TEXT NOT NULL REFERENCES messages (envid) ON DELETE CASCADE,"
  "  position INTEGER NOT NULL,"
  "  address TEXT NOT NULL,"
  "  PRIMARY KEY (envid, position)"
  ");"
  "CREATE TABLE reports ("
  "  id INTEGER PRIMARY KEY,"
  "  envid TEXT NOT NULL REFERENCES messages (envid) ON DELETE CASCADE,"
  "  source TEXT NOT NULL,"
  "  origin TEXT,"
  "  received_at INTEGER NOT NULL,"
  "  sha256 TEXT NOT NULL,"
  "  raw BLOB NOT NULL"
  ");"
  "CREATE UNIQUE INDEX reports_once ON reports (envid, source, ifnull (origin, ''), sha256);"
  "CREATE TABLE snapshots ("
  "  id INTEGER PRIMARY KEY,"
  "  envid TEXT NOT NULL REFERENCES messages (envid) ON DELETE CASCADE,"
  "  at INTEGER NOT NULL,"
  "  route_json TEXT NOT NULL"
  ");"
  "CREATE INDEX snapshots_by_envid ON snapshots (envid, at);"
  "CREATE TABLE events ("
  "  id INTEGER PRIMARY KEY,"
  "  envid TEXT NOT NULL REFERENCES messages (envid) ON DELETE CASCADE,"
  "  at INTEGER NOT NULL,"
  "  source TEXT NOT NULL,"
  "  text TEXT NOT NULL"
  ");"
  "CREATE INDEX events_by_envid ON events (envid, at);"
  "CREATE TABLE settings ("
  "  key TEXT PRIMARY KEY NOT NULL,"
  "  value TEXT NOT NULL"
  ");"
  "PRAGMA user_version = 1;",
  /* 1 → 2: how the message's A is kept (docs/secret-derivation.md): 1 = derived from the
   * master secret, 0 = an item of its own in the keyring (every message before this); and
   * the MTQP server found for the message (what ExportUrl names), NULL until one answered. */
  "ALTER TABLE messages ADD COLUMN secret_derived INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE messages ADD COLUMN mtqp_server TEXT;"
  "PRAGMA user_version = 2;",
  /* 2 → 3: reports that replace each other (one row per reporter and recipients, the
   * newest: replace_key, reported_at). Rows stored before keep a NULL key. */
  "ALTER TABLE reports ADD COLUMN replace_key TEXT;"
  "ALTER TABLE reports ADD COLUMN reported_at INTEGER NOT NULL DEFAULT 0;"
  "CREATE INDEX reports_by_key ON reports (envid, replace_key);"
  "CREATE INDEX reports_by_envid ON reports (envid, received_at, id);"
  "PRAGMA user_version = 3;",
  /* 3 → 4: how each report was tied to its message (MsgtrkdReportMatch: 1 = by its ENVID,
   * as an MTQP answer or a Content-Track record, 0 = by the Message-ID only), so that forged
   * reports by Message-ID neither replace nor push out the others. Rows stored before
   * cannot tell: they count as bound by the ENVID, so that no forgery arriving after the
   * upgrade pushes out a genuine row stored before it; except MDNs, which carry no ENVID
   * and so were matched by their Message-ID. */
  "ALTER TABLE reports ADD COLUMN matched INTEGER NOT NULL DEFAULT 1;"
  "UPDATE reports SET matched = 0 WHERE source = 'mdn';"
  "PRAGMA user_version = 4;",
};

#define STORE_SCHEMA_VERSION ((int) G_N_ELEMENTS (migrations))

/* ---- statements ----------------------------------------------------------------------- */

#define MESSAGE_COLUMNS                                                                    \
  "envid, message_id, subject, sender, submission_host, mtqp_port, tracking, offered, "   \
  "server_reply, mtrk_timeout, prepared_at, committed_at, expires_at, state, summary, "    \
  "final, next_poll_at, last_poll_at, poll_count, secret_derived, mtqp_server"

/* Messages that will be polled: the condition of list_due and get_next_due. */
#define POLLED_CONDITION                                                                   \
  "final = 0 AND tracking IN ('" MSGTRKD_TRACKING_MTQP "', '" MSGTRKD_TRACKING_DELEGATED  \
  "') AND next_poll_at > 0"

typedef enum {
  STMT_BEGIN,
  STMT_BEGIN_READ,
  STMT_COMMIT,
  STMT_ROLLBACK,
  STMT_SAVEPOINT,
  STMT_RELEASE,
  STMT_ROLLBACK_TO,
  STMT_MESSAGE_EXISTS,
  STMT_MESSAGE_INSERT,
  STMT_MESSAGE_UPDATE,
  STMT_MESSAGE_BY_ENVID,
  STMT_MESSAGE_BY_MESSAGE_ID,
  STMT_MESSAGE_LIST,
  STMT_MESSAGE_STATUS_PAGE,
  STMT_MESSAGE_DUE,
  STMT_MESSAGE_NEXT_DUE,
  STMT_MESSAGE_DELETE,
  STMT_RECIPIENT_INSERT,
  STMT_RECIPIENT_DELETE,
  STMT_RECIPIENT_LIST,
  STMT_REPORT_INSERT,
  STMT_REPORT_LIST,
  STMT_REPORT_HEADS,
  STMT_REPORT_RAW,
  STMT_REPORT_SAME,
  STMT_REPORT_KEY_NEWEST,
  STMT_REPORT_KEY_DELETE,
  STMT_REPORT_TRIM,
  STMT_REPORT_TRIM_MESSAGE_ID,
  STMT_SNAPSHOT_INSERT,
  STMT_SNAPSHOT_LATEST,
  STMT_SNAPSHOT_COUNT,
  STMT_SNAPSHOT_TRIM,
  STMT_EVENT_INSERT,
  STMT_EVENT_LIST,
  STMT_EVENT_TRIM,
  STMT_SETTING_GET,
  STMT_SETTING_SET,
  STMT_SETTING_DELETE,
  STMT_SETTING_DELETE_MATCHING,
  N_STMTS
} StoreStmt;

static const char *const stmt_sql[N_STMTS] = {
  [STMT_BEGIN] = "BEGIN IMMEDIATE",
  [STMT_BEGIN_READ] = "BEGIN DEFERRED",
  [STMT_COMMIT] = "COMMIT",
  [STMT_ROLLBACK] = "ROLLBACK",
  [STMT_SAVEPOINT] = "SAVEPOINT msgtrkd_write",
  [STMT_RELEASE] = "RELEASE msgtrkd_write",
  [STMT_ROLLBACK_TO] = "ROLLBACK TO msgtrkd_write",
  [STMT_MESSAGE_EXISTS] = "SELECT 1 FROM messages WHERE envid = ?1",
  [STMT_MESSAGE_INSERT] = "INSERT INTO messages (" MESSAGE_COLUMNS ") VALUES "
                          "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                          "?15, ?16, ?17, ?18, ?19, ?20, ?21)",
  [STMT_MESSAGE_UPDATE] = "UPDATE messages SET message_id = ?2, subject = ?3, sender = ?4, "
                          "submission_host = ?5, mtqp_port = ?6, tracking = ?7, "
                          "offered = ?8, server_reply = ?9, mtrk_timeout = ?10, "
                          "prepared_at = ?11, committed_at = ?12, expires_at = ?13, "
                          "state = ?14, summary = ?15, final = ?16, next_poll_at = ?17, "
                          "last_poll_at = ?18, poll_count = ?19, secret_derived = ?20, "
                          "mtqp_server = ?21 WHERE envid = ?1",
  [STMT_MESSAGE_BY_ENVID] = "SELECT " MESSAGE_COLUMNS " FROM messages WHERE envid = ?1",
  [STMT_MESSAGE_BY_MESSAGE_ID] = "SELECT " MESSAGE_COLUMNS " FROM messages "
                                 "WHERE message_id = ?1 "
                                 "ORDER BY prepared_at DESC, rowid DESC LIMIT 1",
  [STMT_MESSAGE_LIST] = "SELECT " MESSAGE_COLUMNS " FROM messages "
                        "ORDER BY prepared_at DESC, rowid DESC",
  /* One row per Message-ID (the newest record, as STMT_MESSAGE_BY_MESSAGE_ID picks it),
   * in Message-ID order after ?1, at most ?2: walks the messages_by_message_id index. */
  [STMT_MESSAGE_STATUS_PAGE] = "SELECT m.message_id, m.envid, m.state, m.summary "
                               "FROM messages m WHERE m.message_id > ?1 "
                               "AND m.rowid = (SELECT rowid FROM messages "
                               "WHERE message_id = m.message_id "
                               "ORDER BY prepared_at DESC, rowid DESC LIMIT 1) "
                               "ORDER BY m.message_id LIMIT ?2",
  [STMT_MESSAGE_DUE] = "SELECT " MESSAGE_COLUMNS " FROM messages "
                       "WHERE " POLLED_CONDITION " AND next_poll_at <= ?1 "
                       "ORDER BY next_poll_at, rowid",
  [STMT_MESSAGE_NEXT_DUE] = "SELECT min (next_poll_at) FROM messages WHERE " POLLED_CONDITION,
  [STMT_MESSAGE_DELETE] = "DELETE FROM messages WHERE envid = ?1",
  [STMT_RECIPIENT_INSERT] = "INSERT INTO recipients (envid, position, address) "
                            "VALUES (?1, ?2, ?3)",
  [STMT_RECIPIENT_DELETE] = "DELETE FROM recipients WHERE envid = ?1",
  [STMT_RECIPIENT_LIST] = "SELECT address FROM recipients WHERE envid = ?1 ORDER BY position",
  [STMT_REPORT_INSERT] = "INSERT INTO reports (envid, source, origin, received_at, sha256, raw, "
                         "replace_key, reported_at, matched) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
  [STMT_REPORT_LIST] = "SELECT id, envid, source, origin, received_at, sha256, matched, raw "
                       "FROM reports WHERE envid = ?1 ORDER BY received_at, id",
  [STMT_REPORT_HEADS] = "SELECT id, envid, source, origin, received_at, sha256, matched "
                        "FROM reports WHERE envid = ?1 ORDER BY received_at, id",
  [STMT_REPORT_RAW] = "SELECT raw FROM reports WHERE id = ?1",
  [STMT_REPORT_SAME] = "SELECT 1 FROM reports WHERE envid = ?1 AND source = ?2 "
                       "AND ifnull (origin, '') = ifnull (?3, '') AND sha256 = ?4",
  /* The rows of a key that may shadow a new report: those matched at least as strongly
   * (?3, a MsgtrkdReportMatch). */
  [STMT_REPORT_KEY_NEWEST] = "SELECT max (reported_at) FROM reports "
                             "WHERE envid = ?1 AND replace_key = ?2 AND matched >= ?3",
  /* The rows of a key a new report replaces: those matched no more strongly (?3) and not
   * newer (?4). */
  [STMT_REPORT_KEY_DELETE] = "DELETE FROM reports WHERE envid = ?1 AND replace_key = ?2 "
                             "AND matched <= ?3 AND reported_at <= ?4",
  /* Past the cap, the weakest matched go first (MSGTRKD_REPORT_MATCH_MESSAGE_ID), then the
   * oldest. */
  [STMT_REPORT_TRIM] = "DELETE FROM reports WHERE id IN (SELECT id FROM reports "
                       "WHERE envid = ?1 ORDER BY matched DESC, received_at DESC, id DESC "
                       "LIMIT -1 OFFSET ?2)",
  [STMT_REPORT_TRIM_MESSAGE_ID] = "DELETE FROM reports WHERE id IN (SELECT id FROM reports "
                                  "WHERE envid = ?1 AND matched = 0 " /* MESSAGE_ID */
                                  "ORDER BY received_at DESC, id DESC LIMIT -1 OFFSET ?2)",
  [STMT_SNAPSHOT_INSERT] = "INSERT INTO snapshots (envid, at, route_json) VALUES (?1, ?2, ?3)",
  [STMT_SNAPSHOT_LATEST] = "SELECT route_json FROM snapshots WHERE envid = ?1 "
                           "ORDER BY at DESC, id DESC LIMIT 1",
  [STMT_SNAPSHOT_COUNT] = "SELECT count (*) FROM snapshots WHERE envid = ?1",
  [STMT_SNAPSHOT_TRIM] = "DELETE FROM snapshots WHERE id IN (SELECT id FROM snapshots "
                         "WHERE envid = ?1 ORDER BY at DESC, id DESC LIMIT -1 OFFSET ?2)",
  [STMT_EVENT_INSERT] = "INSERT INTO events (envid, at, source, text) VALUES (?1, ?2, ?3, ?4)",
  [STMT_EVENT_LIST] = "SELECT at, source, text FROM events WHERE envid = ?1 ORDER BY at, id",
  [STMT_EVENT_TRIM] = "DELETE FROM events WHERE id IN (SELECT id FROM events "
                      "WHERE envid = ?1 ORDER BY at DESC, id DESC LIMIT -1 OFFSET ?2)",
  [STMT_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
  [STMT_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  [STMT_SETTING_DELETE] = "DELETE FROM settings WHERE key = ?1",
  /* prefixes compared as bytes: no LIKE, whose % and _ a value may hold */
  [STMT_SETTING_DELETE_MATCHING] = "DELETE FROM settings WHERE "
                                   "substr(key, 1, length(?1)) = ?1 "
                                   "AND substr(value, 1, length(?2)) = ?2",
};

/* The SQL above and migration 3 → 4 write MsgtrkdReportMatch values as these numbers. */
G_STATIC_ASSERT (MSGTRKD_REPORT_MATCH_MESSAGE_ID == 0);
G_STATIC_ASSERT (MSGTRKD_REPORT_MATCH_ENVID == 1);

struct _MsgtrkdStore
{
  GObject parent_instance;

  char *path;
  sqlite3 *db;
  sqlite3_stmt *stmts[N_STMTS];
  guint batch_depth;    /* msgtrkd_store_begin_batch() calls not yet ended */
  gboolean batch_lost;  /* SQLite rolled the batch's transaction back (after an I/O error) */
  GQueue after_commit;  /* (owned) AfterCommit* to run when the open batch commits */
};

/* Work waiting for the open batch's commit (msgtrkd_store_after_commit()). */
typedef struct
{
  MsgtrkdStoreCommitFunc func;
  gpointer data;
  GDestroyNotify destroy;
} AfterCommit;

G_DEFINE_FINAL_TYPE (MsgtrkdStore, msgtrkd_store, G_TYPE_OBJECT)

static void
after_commit_free (AfterCommit *work)
{
  if (work->destroy != NULL)
    work->destroy (work->data);
  g_free (work);
}

/* The writes the queued work announces are gone (rolled back): drop it, uncalled. */
static void
after_commit_drop (MsgtrkdStore *self)
{
  g_queue_clear_full (&self->after_commit, (GDestroyNotify) after_commit_free);
}

/* The writes the queued work announces are committed: call it, in the order queued (the
 * work may write again: the batch is closed by then). */
static void
after_commit_run (MsgtrkdStore *self)
{
  AfterCommit *work;

  while ((work = g_queue_pop_head (&self->after_commit)) != NULL)
    {
      work->func (work->data);
      after_commit_free (work);
    }
}

/* SQLite rolled the open batch's transaction back: its writes so far are lost, and so is
 * the work that would have announced them. */
static void
batch_lost_now (MsgtrkdStore *self)
{
  self->batch_lost = TRUE;
  after_commit_drop (self);
}

/* ---- records ---------------------------------------------------------------------------- */

/**
 * msgtrkd_message_new:
 *
 * A message record with every member zero or %NULL. The store reads a %NULL @tracking as
 * %MSGTRKD_TRACKING_PENDING, a %NULL @state as "unknown", a %NULL @summary and a %NULL
 * @recipients as empty; records it returns have all four set.
 *
 * Returns: (transfer full): a new record, free with msgtrkd_message_free()
 */
MsgtrkdMessage *
msgtrkd_message_new (void)
{
  return g_new0 (MsgtrkdMessage, 1);
}

/**
 * msgtrkd_message_copy:
 * @message: a record
 *
 * Returns: (transfer full): a deep copy of @message
 */
MsgtrkdMessage *
msgtrkd_message_copy (const MsgtrkdMessage *message)
{
  MsgtrkdMessage *copy;

  g_return_val_if_fail (message != NULL, NULL);

  copy = g_new0 (MsgtrkdMessage, 1);
  *copy = *message;
  copy->envid = g_strdup (message->envid);
  copy->message_id = g_strdup (message->message_id);
  copy->subject = g_strdup (message->subject);
  copy->sender = g_strdup (message->sender);
  copy->recipients = g_strdupv (message->recipients);
  copy->submission_host = g_strdup (message->submission_host);
  copy->mtqp_port = g_strdup (message->mtqp_port);
  copy->mtqp_server = g_strdup (message->mtqp_server);
  copy->tracking = g_strdup (message->tracking);
  copy->offered = g_strdup (message->offered);
  copy->server_reply = g_strdup (message->server_reply);
  copy->state = g_strdup (message->state);
  copy->summary = g_strdup (message->summary);
  return copy;
}

/**
 * msgtrkd_message_free:
 * @message: (nullable): a record
 *
 * Frees @message and every member it owns.
 */
void
msgtrkd_message_free (MsgtrkdMessage *message)
{
  if (message == NULL)
    return;
  g_free (message->envid);
  g_free (message->message_id);
  g_free (message->subject);
  g_free (message->sender);
  g_strfreev (message->recipients);
  g_free (message->submission_host);
  g_free (message->mtqp_port);
  g_free (message->mtqp_server);
  g_free (message->tracking);
  g_free (message->offered);
  g_free (message->server_reply);
  g_free (message->state);
  g_free (message->summary);
  g_free (message);
}

/**
 * msgtrkd_stored_report_free:
 * @report: (nullable): a report record
 *
 * Frees @report and every member it owns.
 */
void
msgtrkd_stored_report_free (MsgtrkdStoredReport *report)
{
  if (report == NULL)
    return;
  g_free (report->envid);
  g_free (report->source);
  g_free (report->origin);
  g_free (report->sha256);
  g_clear_pointer (&report->raw, g_bytes_unref);
  g_free (report);
}

/**
 * msgtrkd_event_free:
 * @event: (nullable): an event record
 *
 * Frees @event and every member it owns.
 */
void
msgtrkd_event_free (MsgtrkdEvent *event)
{
  if (event == NULL)
    return;
  g_free (event->source);
  g_free (event->text);
  g_free (event);
}

/* ---- errors and statement helpers ------------------------------------------------------ */

/* Report the connection's last SQLite failure as MSGTRKD_ERROR_STORE: what was being done,
 * then SQLite's own words. Must be called before any other call on the connection. */
static void
set_sqlite_error (MsgtrkdStore *self,
                  GError      **error,
                  const char   *doing)
{
  g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
               "The message store “%s” failed while %s: %s (SQLite error %d)", self->path,
               doing, sqlite3_errmsg (self->db), sqlite3_extended_errcode (self->db));
}

/* The prepared statement @which, reset and with no bindings; NULL with @error set if it
 * could not be prepared. */
static sqlite3_stmt *
get_stmt (MsgtrkdStore *self,
          StoreStmt     which,
          const char   *doing,
          GError      **error)
{
  if (self->stmts[which] == NULL)
    {
      if (sqlite3_prepare_v3 (self->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                              &self->stmts[which], NULL)
          != SQLITE_OK)
        {
          set_sqlite_error (self, error, doing);
          self->stmts[which] = NULL;
          return NULL;
        }
    }
  return self->stmts[which];
}

/* Make a used statement ready for its next use (keeps no values or locks). */
static void
stmt_done (sqlite3_stmt *stmt)
{
  if (stmt == NULL)
    return;
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

/* Bind a nullable text; the value must outlive the step (SQLITE_STATIC). */
static int
bind_text (sqlite3_stmt *stmt,
           int           index,
           const char   *text)
{
  if (text == NULL)
    return sqlite3_bind_null (stmt, index);
  return sqlite3_bind_text (stmt, index, text, -1, SQLITE_STATIC);
}

/* Run a statement that returns no rows (all binds done); FALSE at once for a NULL
 * @stmt (get_bound() failed, @error set). */
static gboolean
run_stmt (MsgtrkdStore *self,
          sqlite3_stmt *stmt,
          const char   *doing,
          GError      **error)
{
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);

  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    {
      set_sqlite_error (self, error, doing);
      stmt_done (stmt);
      return FALSE;
    }
  stmt_done (stmt);
  return TRUE;
}

static gboolean
run_simple (MsgtrkdStore *self,
            StoreStmt     which,
            const char   *doing,
            GError      **error)
{
  sqlite3_stmt *stmt = get_stmt (self, which, doing, error);

  if (stmt == NULL)
    return FALSE;
  return run_stmt (self, stmt, doing, error);
}

/* In a batch, the batch's transaction is open (SQLite may have rolled it back after an
 * I/O error or a full disk: then a new one is begun and the loss remembered). */
static gboolean
ensure_batch_transaction (MsgtrkdStore *self,
                          const char   *doing,
                          GError      **error)
{
  if (!sqlite3_get_autocommit (self->db))
    return TRUE;
  batch_lost_now (self);
  return run_simple (self, STMT_BEGIN, doing, error);
}

/* One write: its own transaction, or a savepoint of the open batch. */
static gboolean
begin_write (MsgtrkdStore *self,
             const char   *doing,
             GError      **error)
{
  if (self->batch_depth > 0)
    return ensure_batch_transaction (self, doing, error)
           && run_simple (self, STMT_SAVEPOINT, doing, error);
  return run_simple (self, STMT_BEGIN, doing, error);
}

/* A read: its own snapshot, or inside the open batch (which sees its own writes). */
static gboolean
begin_read (MsgtrkdStore *self,
            const char   *doing,
            GError      **error)
{
  if (self->batch_depth > 0)
    return ensure_batch_transaction (self, doing, error);
  return run_simple (self, STMT_BEGIN_READ, doing, error);
}

/* Undo the open write, if SQLite has not already done so (it may after a failure): its
 * transaction, or in a batch its savepoint only (the batch's earlier writes stay). */
static void
rollback (MsgtrkdStore *self)
{
  g_autoptr (GError) ignored = NULL;

  if (sqlite3_get_autocommit (self->db))
    {
      if (self->batch_depth > 0)
        batch_lost_now (self);
      return;
    }
  if (self->batch_depth > 0)
    {
      if (!run_simple (self, STMT_ROLLBACK_TO, "rolling back one write of a batch", &ignored)
          || !run_simple (self, STMT_RELEASE, "rolling back one write of a batch", &ignored))
        g_warning ("%s", ignored->message);
      return;
    }
  if (!run_simple (self, STMT_ROLLBACK, "rolling back", &ignored))
    g_warning ("%s", ignored->message);
}

static gboolean
commit (MsgtrkdStore *self,
        const char   *doing,
        GError      **error)
{
  if (!run_simple (self, self->batch_depth > 0 ? STMT_RELEASE : STMT_COMMIT, doing, error))
    {
      rollback (self);
      return FALSE;
    }
  return TRUE;
}

/* End the open write: commit it if @ok, else roll it back (FALSE). */
static gboolean
end_write (MsgtrkdStore *self,
           gboolean      ok,
           const char   *doing,
           GError      **error)
{
  if (ok)
    return commit (self, doing, error);
  rollback (self);
  return FALSE;
}

/* Text of column @col, or NULL for SQL NULL. */
static char *
column_text (sqlite3_stmt *stmt,
             int           col)
{
  const unsigned char *text = sqlite3_column_text (stmt, col);

  if (text == NULL)
    return NULL;
  return g_strndup ((const char *) text, (gsize) sqlite3_column_bytes (stmt, col));
}

/* Bind the parameters of @stmt from @args, one letter of @types a parameter, in order:
 * 't' a nullable text (const char *), 'i' an integer (gint64: cast any other integer
 * type), 'b' a blob (GBytes *). Values must outlive the step (SQLITE_STATIC). */
static void
bind_values (sqlite3_stmt *stmt,
             const char   *types,
             va_list       args)
{
  for (int i = 0; types[i] != '\0'; i++)
    switch (types[i])
      {
      case 't':
        bind_text (stmt, i + 1, va_arg (args, const char *));
        break;
      case 'i':
        sqlite3_bind_int64 (stmt, i + 1, va_arg (args, gint64));
        break;
      case 'b':
        {
          gsize size;
          gconstpointer data = g_bytes_get_data (va_arg (args, GBytes *), &size);

          sqlite3_bind_blob64 (stmt, i + 1, data != NULL ? data : "", size, SQLITE_STATIC);
        }
        break;
      default:
        g_assert_not_reached ();
      }
}

/* The prepared statement @which with its parameters bound from the arguments after @types
 * (bind_values()): what run_stmt(), first_row() and read_rows() take. NULL with @error set
 * if it could not be prepared. */
static sqlite3_stmt *
get_bound (MsgtrkdStore *self,
           StoreStmt     which,
           const char   *doing,
           GError      **error,
           const char   *types,
           ...)
{
  sqlite3_stmt *stmt = get_stmt (self, which, doing, error);
  va_list args;

  if (stmt == NULL)
    return NULL;
  /* A caller's bug, found by any test of the call: one letter per parameter. */
  g_assert ((int) strlen (types) == sqlite3_bind_parameter_count (stmt));
  va_start (args, types);
  bind_values (stmt, types, args);
  va_end (args);
  return stmt;
}

/* Step @stmt (bound; NULL: get_bound() failed, @error set) to its first row: *@row is
 * then @stmt on that row (read it, then stmt_done() it), or NULL if there is none. FALSE
 * with @error set on failure. */
static gboolean
first_row (MsgtrkdStore  *self,
           sqlite3_stmt  *stmt,
           const char    *doing,
           sqlite3_stmt **row,
           GError       **error)
{
  int rc;

  *row = NULL;
  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      *row = stmt;
      return TRUE;
    }
  if (rc != SQLITE_DONE)
    set_sqlite_error (self, error, doing);
  stmt_done (stmt);
  return rc == SQLITE_DONE;
}

/* How column i of a row lands in a record: the member at @offset, of @type: 't' a text
 * (char *; a SQL NULL as a copy of @if_null, or NULL when that is NULL), 'i' a gint64,
 * 'u' a guint (clamped), 'b' a gboolean, 'B' a blob (GBytes *). */
typedef struct
{
  gsize offset;
  char type;
  const char *if_null;
} RowColumn;

/* What read_rows() makes of a row: a record of @size bytes, zeroed, its members read by
 * @columns (one per column, in order); with no columns, the text of column 0 ("" for
 * NULL). */
typedef struct
{
  gsize size;
  const RowColumn *columns;
  guint n_columns;
} RowFormat;

#define ROW_FORMAT(record, columns) { sizeof (record), columns, G_N_ELEMENTS (columns) }

/* The current row of @stmt, read by @format (the element read_rows() adds). */
static gpointer
read_row (sqlite3_stmt    *stmt,
          const RowFormat *format)
{
  guchar *record;

  if (format->columns == NULL)
    {
      char *text = column_text (stmt, 0);

      return text != NULL ? text : g_strdup ("");
    }
  record = g_malloc0 (format->size);
  for (guint i = 0; i < format->n_columns; i++)
    {
      const RowColumn *column = &format->columns[i];
      gpointer member = record + column->offset;
      char *text;

      switch (column->type)
        {
        case 't':
          text = column_text (stmt, (int) i);
          if (text == NULL && column->if_null != NULL)
            text = g_strdup (column->if_null);
          *(char **) member = text;
          break;
        case 'i':
          *(gint64 *) member = sqlite3_column_int64 (stmt, (int) i);
          break;
        case 'u':
          *(guint *) member = (guint) CLAMP (sqlite3_column_int64 (stmt, (int) i), 0, G_MAXUINT);
          break;
        case 'b':
          *(gboolean *) member = sqlite3_column_int (stmt, (int) i) != 0;
          break;
        case 'B':
          *(GBytes **) member = g_bytes_new (sqlite3_column_blob (stmt, (int) i),
                                             (gsize) sqlite3_column_bytes (stmt, (int) i));
          break;
        default:
          g_assert_not_reached ();
        }
    }
  return record;
}

/* Every row of @stmt (bound; NULL: get_bound() failed, @error set), read by @format onto
 * the end of @list; FALSE with @error set on failure (@list then holds the rows read so
 * far). */
static gboolean
read_rows (MsgtrkdStore    *self,
           sqlite3_stmt    *stmt,
           const char      *doing,
           const RowFormat *format,
           GPtrArray       *list,
           GError         **error)
{
  int rc;

  if (stmt == NULL)
    return FALSE;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (list, read_row (stmt, format));
  if (rc != SQLITE_DONE)
    set_sqlite_error (self, error, doing);
  stmt_done (stmt);
  return rc == SQLITE_DONE;
}

/* What is being done to the record @name: "@what “@name”", @name quoted for an error. */
static char *
doing_on (const char *what,
          const char *name)
{
  g_autofree char *quoted = msgtrk_str_escape_for_error (name, STORE_QUOTE_MAX);

  return g_strdup_printf ("%s “%s”", what, quoted);
}

/* ---- argument checks -------------------------------------------------------------------- */

static gboolean
check_text (const char *what,
            const char *text,
            gboolean    required,
            gsize       max,
            GError    **error)
{
  if (text == NULL || (required && *text == '\0'))
    {
      if (!required)
        return TRUE;
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   "The %s is missing; the message store needs one", what);
      return FALSE;
    }
  if (strlen (text) > max)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   "The %s is too long for the message store (%zu bytes, at most %zu)", what,
                   strlen (text), max);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_message (const MsgtrkdMessage *m,
               GError              **error)
{
  static const char *const trackings[] = {
    MSGTRKD_TRACKING_PENDING, MSGTRKD_TRACKING_MTQP,    MSGTRKD_TRACKING_DSN,
    MSGTRKD_TRACKING_NONE,    MSGTRKD_TRACKING_ABORTED, MSGTRKD_TRACKING_DELEGATED,
    NULL,
  };
  const struct
  {
    const char *what;
    const char *value;
    gboolean required;
  } texts[] = {
    { "ENVID", m->envid, TRUE },
    { "Message-ID", m->message_id, FALSE },
    { "subject", m->subject, FALSE },
    { "sender", m->sender, FALSE },
    { "submission host", m->submission_host, FALSE },
    { "MTQP port", m->mtqp_port, FALSE },
    { "MTQP server", m->mtqp_server, FALSE },
    { "offered extensions", m->offered, FALSE },
    { "server reply", m->server_reply, FALSE },
    { "state", m->state, FALSE },
    { "summary", m->summary, FALSE },
  };
  gsize i, n_recipients;

  for (i = 0; i < G_N_ELEMENTS (texts); i++)
    if (!check_text (texts[i].what, texts[i].value, texts[i].required,
                     MSGTRKD_STORE_MAX_TEXT_SIZE, error))
      return FALSE;

  if (m->tracking != NULL && !g_strv_contains ((const char *const *) trackings, m->tracking))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (m->tracking, STORE_QUOTE_MAX);

      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   "Unknown tracking mode “%s”", quoted);
      return FALSE;
    }

  n_recipients = m->recipients != NULL ? g_strv_length (m->recipients) : 0;
  if (n_recipients > MSGTRKD_STORE_MAX_RECIPIENTS)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   "Too many recipients for the message store (%zu, at most %d)",
                   n_recipients, MSGTRKD_STORE_MAX_RECIPIENTS);
      return FALSE;
    }
  for (i = 0; i < n_recipients; i++)
    if (!check_text ("recipient address", m->recipients[i], TRUE, MSGTRKD_STORE_MAX_TEXT_SIZE,
                     error))
      return FALSE;
  return TRUE;
}

/* A Message-ID without its angle brackets (a copy). */
static char *
strip_angles (const char *id)
{
  gsize len;

  if (id == NULL)
    return NULL;
  len = strlen (id);
  if (len >= 2 && id[0] == '<' && id[len - 1] == '>')
    return g_strndup (id + 1, len - 2);
  return g_strdup (id);
}

static void
set_not_found (GError    **error,
               const char *id)
{
  g_autofree char *quoted = msgtrk_str_escape_for_error (id, STORE_QUOTE_MAX);

  g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND,
               "No tracked message has the ENVID or Message-ID “%s”", quoted);
}

/* Whether a message @envid exists; FALSE with @error set (NOT_FOUND or STORE) if not. */
static gboolean
require_message (MsgtrkdStore *self,
                 const char   *envid,
                 GError      **error)
{
  const char *doing = "looking up a message";
  sqlite3_stmt *row;

  if (!first_row (self, get_bound (self, STMT_MESSAGE_EXISTS, doing, error, "t", envid), doing,
                  &row, error))
    return FALSE;
  if (row == NULL)
    {
      set_not_found (error, envid);
      return FALSE;
    }
  stmt_done (row);
  return TRUE;
}

/* ---- open, migrate ---------------------------------------------------------------------- */

static void
msgtrkd_store_finalize (GObject *object)
{
  MsgtrkdStore *self = MSGTRKD_STORE (object);
  guint i;

  if (self->batch_depth > 0)  /* a caller's bug: closing rolls the open batch back */
    g_critical ("The message store “%s” is closed with a batch of writes open", self->path);
  after_commit_drop (self);
  for (i = 0; i < N_STMTS; i++)
    g_clear_pointer (&self->stmts[i], sqlite3_finalize);
  if (self->db != NULL)
    {
      if (sqlite3_close (self->db) != SQLITE_OK)
        g_warning ("Could not close the message store “%s”: %s", self->path,
                   sqlite3_errmsg (self->db));
      self->db = NULL;
    }
  g_free (self->path);

  G_OBJECT_CLASS (msgtrkd_store_parent_class)->finalize (object);
}

static void
msgtrkd_store_class_init (MsgtrkdStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = msgtrkd_store_finalize;
}

static void
msgtrkd_store_init (MsgtrkdStore *self)
{
  g_queue_init (&self->after_commit);
}

/* Run a fixed SQL text (pragmas, migrations): never used with values from outside. */
static gboolean
exec_fixed (MsgtrkdStore *self,
            const char   *sql,
            const char   *doing,
            GError      **error)
{
  if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    {
      set_sqlite_error (self, error, doing);
      return FALSE;
    }
  return TRUE;
}

/* Run a fixed pragma query and return its single text result. */
static char *
query_fixed_text (MsgtrkdStore *self,
                  const char   *sql,
                  const char   *doing,
                  GError      **error)
{
  sqlite3_stmt *stmt = NULL;
  char *result = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      set_sqlite_error (self, error, doing);
      return NULL;
    }
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    result = column_text (stmt, 0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    set_sqlite_error (self, error, doing);
  else if (result == NULL)
    result = g_strdup ("");
  sqlite3_finalize (stmt);
  return result;
}

static gboolean
read_user_version (MsgtrkdStore *self,
                   int          *version,
                   GError      **error)
{
  g_autofree char *text = query_fixed_text (self, "PRAGMA user_version",
                                            "reading the schema version", error);
  gint64 value;

  if (text == NULL)
    return FALSE;
  value = g_ascii_strtoll (text, NULL, 10);
  if (value < 0 || value > G_MAXINT)
    value = G_MAXINT;
  *version = (int) value;
  return TRUE;
}

static gboolean
migrate (MsgtrkdStore *self,
         int           from,
         GError      **error)
{
  int v;

  for (v = from; v < STORE_SCHEMA_VERSION; v++)
    {
      g_autofree char *doing = g_strdup_printf ("upgrading the schema from version %d to %d",
                                                v, v + 1);
      int now;

      if (!begin_write (self, doing, error))
        return FALSE;
      /* Re-read inside the write lock: another process may have migrated meanwhile. */
      if (!read_user_version (self, &now, error))
        {
          rollback (self);
          return FALSE;
        }
      if (now != v)
        {
          rollback (self);
          if (now > v)
            {
              v = now - 1;
              continue;
            }
          g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
                       "The message store “%s” changed schema version during the upgrade",
                       self->path);
          return FALSE;
        }
      if (!exec_fixed (self, migrations[v], doing, error))
        {
          rollback (self);
          return FALSE;
        }
      if (!commit (self, doing, error))
        return FALSE;
    }
  return TRUE;
}

/**
 * msgtrkd_store_open:
 * @path: the database file; its missing parent directories are made with mode 0700
 * @error: return location for a #GError
 *
 * Opens (creating if needed, mode 0600) and upgrades the store. A database whose schema is
 * newer than this code knows is refused with %MSGTRKD_ERROR_STORE and left untouched.
 *
 * Returns: (transfer full): the store, or %NULL with @error set
 */
MsgtrkdStore *
msgtrkd_store_open (const char *path,
                    GError    **error)
{
  g_autoptr (MsgtrkdStore) self = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *journal = NULL;
  gboolean existed;
  int version = 0;
  int rc;

  g_return_val_if_fail (path != NULL && *path != '\0', NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (MSGTRKD_TYPE_STORE, NULL);
  self->path = g_strdup (path);

  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
                   "Could not create the directory “%s” for the message store: %s", dir,
                   g_strerror (saved_errno));
      return NULL;
    }

  existed = g_file_test (path, G_FILE_TEST_EXISTS);
  rc = sqlite3_open_v2 (path, &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
                        NULL);
  if (rc != SQLITE_OK)
    {
      if (self->db == NULL)
        g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
                     "Could not open the message store “%s”: %s", path, sqlite3_errstr (rc));
      else
        set_sqlite_error (self, error, "opening");
      return NULL;
    }
  if (!existed && g_chmod (path, 0600) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
                   "Could not make the message store “%s” private: %s", path,
                   g_strerror (saved_errno));
      return NULL;
    }
  sqlite3_extended_result_codes (self->db, 1);
  sqlite3_busy_timeout (self->db, STORE_BUSY_TIMEOUT_MS);

  /* The version first, read-only: a newer file must stay exactly as it is (switching it to
   * WAL would already write to it). */
  if (!read_user_version (self, &version, error))
    return NULL;
  if (version > STORE_SCHEMA_VERSION)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
                   "The message store “%s” was written by a newer version of msgtrk (schema "
                   "version %d, this one knows up to %d); it was left untouched. Update "
                   "msgtrk or move the file away.",
                   path, version, STORE_SCHEMA_VERSION);
      return NULL;
    }

  if (!exec_fixed (self, "PRAGMA foreign_keys = ON", "turning on foreign keys", error))
    return NULL;
  journal = query_fixed_text (self, "PRAGMA journal_mode = WAL",
                              "switching to write-ahead logging", error);
  if (journal == NULL)
    return NULL;
  if (g_ascii_strcasecmp (journal, "wal") != 0)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
                   "The message store “%s” cannot use write-ahead logging (journal mode "
                   "stays “%s”); is it on a network or read-only file system?",
                   path, journal);
      return NULL;
    }
  if (!exec_fixed (self, "PRAGMA synchronous = FULL", "setting synchronous writes", error))
    return NULL;

  if (!migrate (self, version, error))
    return NULL;

  return g_steal_pointer (&self);
}

/**
 * msgtrkd_store_set_size_limit:
 * @self: a store
 * @max_bytes: the most bytes the database file may grow to (rounded down to whole pages);
 *   0 for SQLite's default
 * @error: return location for a #GError
 *
 * Caps the database size for this connection (PRAGMA max_page_count): writes beyond it
 * fail like on a full disk. Used by tests to exercise that path; a quota otherwise.
 *
 * Returns: %TRUE on success
 */
gboolean
msgtrkd_store_set_size_limit (MsgtrkdStore *self,
                              guint64       max_bytes,
                              GError      **error)
{
  g_autofree char *page_size = NULL;
  g_autofree char *sql = NULL;
  g_autofree char *result = NULL;
  guint64 pages;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);

  page_size = query_fixed_text (self, "PRAGMA page_size", "reading the page size", error);
  if (page_size == NULL)
    return FALSE;
  pages = max_bytes / MAX (g_ascii_strtoull (page_size, NULL, 10), 512);
  if (max_bytes == 0 || pages > G_MAXUINT32)
    pages = G_MAXUINT32 - 1;
  /* A PRAGMA cannot take a bound parameter; the value is a number formatted here. */
  sql = g_strdup_printf ("PRAGMA max_page_count = %" G_GUINT64_FORMAT, MAX (pages, 1));
  result = query_fixed_text (self, sql, "limiting the database size", error);
  return result != NULL;
}

/* ---- batches ------------------------------------------------------------------------- */

/**
 * msgtrkd_store_begin_batch:
 * @self: a store
 * @error: return location for a #GError
 *
 * Starts a batch (or nests in the open one): the write functions called until the
 * matching msgtrkd_store_end_batch() share one BEGIN IMMEDIATE transaction, each in its
 * own savepoint. The write lock is held until the outermost end: begin and end in the
 * same main-loop callback.
 *
 * Returns: %TRUE, or %FALSE with MSGTRKD_ERROR_STORE (no batch was started)
 */
gboolean
msgtrkd_store_begin_batch (MsgtrkdStore *self,
                           GError      **error)
{
  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);

  if (self->batch_depth == 0)
    {
      if (!run_simple (self, STMT_BEGIN, "starting a batch of writes", error))
        return FALSE;
      self->batch_lost = FALSE;
    }
  self->batch_depth++;
  return TRUE;
}

/**
 * msgtrkd_store_end_batch:
 * @self: a store with a batch open
 * @error: return location for a #GError
 *
 * Ends the innermost batch; the outermost commits every write of the batch at once, then
 * runs the msgtrkd_store_after_commit() work of the writes it committed.
 *
 * Returns: %TRUE if the batch is committed (or still open, nested), %FALSE with
 *   MSGTRKD_ERROR_STORE if the commit failed (everything of the batch is rolled back, and
 *   its work dropped) or SQLite rolled part of the batch back earlier after an error (the
 *   writes after that point are committed and their work run; the earlier ones are lost)
 */
gboolean
msgtrkd_store_end_batch (MsgtrkdStore *self,
                         GError      **error)
{
  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (self->batch_depth > 0, FALSE);

  if (--self->batch_depth > 0)
    return TRUE;
  if (sqlite3_get_autocommit (self->db))
    batch_lost_now (self);  /* begun with BEGIN: only SQLite's own rollback ends it early */
  else if (!commit (self, "committing a batch of writes", error))
    {
      after_commit_drop (self);
      return FALSE;
    }
  after_commit_run (self);
  if (self->batch_lost)
    {
      self->batch_lost = FALSE;
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_STORE,
                   "Some writes of a batch to the message store “%s” were lost: SQLite "
                   "rolled the batch back after an error",
                   self->path);
      return FALSE;
    }
  return TRUE;
}

/**
 * msgtrkd_store_after_commit:
 * @self: a store
 * @func: the work, called once with @data
 * @data: for @func
 * @destroy: (nullable): frees @data after @func, or instead of it
 *
 * Runs @func once the writes made so far are committed: at once outside a batch (each
 * write function has committed when it returns), else when the outermost
 * msgtrkd_store_end_batch() commits. If the batch's writes are rolled back, @func is
 * never called (only @destroy). For announcing a write (StatusChanged) only after it is
 * durable. The work waiting is bounded by the writes of one batch (its caller's limit).
 */
void
msgtrkd_store_after_commit (MsgtrkdStore          *self,
                            MsgtrkdStoreCommitFunc func,
                            gpointer               data,
                            GDestroyNotify         destroy)
{
  AfterCommit *work;

  g_return_if_fail (MSGTRKD_IS_STORE (self));
  g_return_if_fail (func != NULL);

  work = g_new0 (AfterCommit, 1);
  work->func = func;
  work->data = data;
  work->destroy = destroy;
  if (self->batch_depth > 0 && sqlite3_get_autocommit (self->db))
    {
      /* SQLite rolled the batch back (a write just failed): what this announces is lost. */
      batch_lost_now (self);
      after_commit_free (work);
      return;
    }
  if (self->batch_depth > 0)
    {
      g_queue_push_tail (&self->after_commit, work);
      return;
    }
  func (data);
  after_commit_free (work);
}

/* Whether a batch is open (tests, assertions). */
gboolean
msgtrkd_store_in_batch (MsgtrkdStore *self)
{
  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);

  return self->batch_depth > 0;
}

/* ---- messages --------------------------------------------------------------------------- */

/* Bind the 21 message columns in MESSAGE_COLUMNS order; @message_id is the stripped one. */
static void
bind_message (sqlite3_stmt         *stmt,
              const MsgtrkdMessage *m,
              const char           *message_id)
{
  bind_text (stmt, 1, m->envid);
  bind_text (stmt, 2, message_id);
  bind_text (stmt, 3, m->subject);
  bind_text (stmt, 4, m->sender);
  bind_text (stmt, 5, m->submission_host);
  bind_text (stmt, 6, m->mtqp_port);
  bind_text (stmt, 7, m->tracking != NULL ? m->tracking : MSGTRKD_TRACKING_PENDING);
  bind_text (stmt, 8, m->offered);
  bind_text (stmt, 9, m->server_reply);
  sqlite3_bind_int64 (stmt, 10, m->mtrk_timeout);
  sqlite3_bind_int64 (stmt, 11, m->prepared_at);
  sqlite3_bind_int64 (stmt, 12, m->committed_at);
  sqlite3_bind_int64 (stmt, 13, m->expires_at);
  bind_text (stmt, 14, m->state != NULL ? m->state : "unknown");
  bind_text (stmt, 15, m->summary != NULL ? m->summary : "");
  sqlite3_bind_int (stmt, 16, m->final ? 1 : 0);
  sqlite3_bind_int64 (stmt, 17, m->next_poll_at);
  sqlite3_bind_int64 (stmt, 18, m->last_poll_at);
  sqlite3_bind_int64 (stmt, 19, m->poll_count);
  sqlite3_bind_int (stmt, 20, m->secret_derived ? 1 : 0);
  bind_text (stmt, 21, m->mtqp_server);
}

/* Replace the recipients of @envid (inside the caller's transaction). */
static gboolean
write_recipients (MsgtrkdStore *self,
                  const char   *envid,
                  char * const *recipients,
                  const char   *doing,
                  GError      **error)
{
  if (!run_stmt (self, get_bound (self, STMT_RECIPIENT_DELETE, doing, error, "t", envid), doing,
                 error))
    return FALSE;
  for (gsize i = 0; recipients != NULL && recipients[i] != NULL; i++)
    if (!run_stmt (self,
                   get_bound (self, STMT_RECIPIENT_INSERT, doing, error, "tit", envid,
                              (gint64) i, recipients[i]),
                   doing, error))
      return FALSE;
  return TRUE;
}

static gboolean
write_message (MsgtrkdStore         *self,
               const MsgtrkdMessage *message,
               gboolean              is_new,
               GError              **error)
{
  g_autofree char *doing = NULL;
  g_autofree char *message_id = NULL;
  sqlite3_stmt *stmt;
  int rc;

  if (!check_message (message, error))
    return FALSE;

  doing = doing_on (is_new ? "adding the message" : "updating the message", message->envid);
  message_id = strip_angles (message->message_id);

  if (!begin_write (self, doing, error))
    return FALSE;

  stmt = get_stmt (self, is_new ? STMT_MESSAGE_INSERT : STMT_MESSAGE_UPDATE, doing, error);
  if (stmt == NULL)
    return end_write (self, FALSE, doing, error);
  bind_message (stmt, message, message_id);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_DONE)
    {
      if (is_new && rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        {
          g_autofree char *quoted = msgtrk_str_escape_for_error (message->envid,
                                                                 STORE_QUOTE_MAX);

          g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                       "A message with the ENVID “%s” is already tracked", quoted);
        }
      else
        set_sqlite_error (self, error, doing);
      stmt_done (stmt);
      return end_write (self, FALSE, doing, error);
    }
  stmt_done (stmt);
  if (!is_new && sqlite3_changes (self->db) == 0)
    {
      set_not_found (error, message->envid);
      return end_write (self, FALSE, doing, error);
    }
  return end_write (self,
                    write_recipients (self, message->envid, message->recipients, doing, error),
                    doing, error);
}

/**
 * msgtrkd_store_add_message:
 * @self: a store
 * @message: the record; @message->envid must not be tracked yet
 * @error: return location for a #GError
 *
 * Adds a message and its recipients in one transaction. The Message-ID is stored without
 * angle brackets. A duplicate ENVID fails with %MSGTRKD_ERROR_INVALID_ARGUMENT.
 *
 * Returns: %TRUE once committed
 */
gboolean
msgtrkd_store_add_message (MsgtrkdStore         *self,
                           const MsgtrkdMessage *message,
                           GError              **error)
{
  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);

  return write_message (self, message, TRUE, error);
}

/**
 * msgtrkd_store_update_message:
 * @self: a store
 * @message: the record, found by @message->envid; every column and the recipients are
 *   replaced
 * @error: return location for a #GError
 *
 * Returns: %TRUE once committed; %FALSE with %MSGTRKD_ERROR_NOT_FOUND for an unknown ENVID
 */
gboolean
msgtrkd_store_update_message (MsgtrkdStore         *self,
                              const MsgtrkdMessage *message,
                              GError              **error)
{
  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);

  return write_message (self, message, FALSE, error);
}

#define MESSAGE_TEXT(member, if_null) { G_STRUCT_OFFSET (MsgtrkdMessage, member), 't', if_null }
#define MESSAGE_VALUE(member, type) { G_STRUCT_OFFSET (MsgtrkdMessage, member), type, NULL }

/* A MESSAGE_COLUMNS row, in its order; the store's defaults for NULLs. */
static const RowColumn message_columns[] = {
  MESSAGE_TEXT (envid, ""),
  MESSAGE_TEXT (message_id, NULL),
  MESSAGE_TEXT (subject, NULL),
  MESSAGE_TEXT (sender, NULL),
  MESSAGE_TEXT (submission_host, NULL),
  MESSAGE_TEXT (mtqp_port, NULL),
  MESSAGE_TEXT (tracking, MSGTRKD_TRACKING_PENDING),
  MESSAGE_TEXT (offered, NULL),
  MESSAGE_TEXT (server_reply, NULL),
  MESSAGE_VALUE (mtrk_timeout, 'u'),
  MESSAGE_VALUE (prepared_at, 'i'),
  MESSAGE_VALUE (committed_at, 'i'),
  MESSAGE_VALUE (expires_at, 'i'),
  MESSAGE_TEXT (state, "unknown"),
  MESSAGE_TEXT (summary, ""),
  MESSAGE_VALUE (final, 'b'),
  MESSAGE_VALUE (next_poll_at, 'i'),
  MESSAGE_VALUE (last_poll_at, 'i'),
  MESSAGE_VALUE (poll_count, 'u'),
  MESSAGE_VALUE (secret_derived, 'b'),
  MESSAGE_TEXT (mtqp_server, NULL),
};
static const RowFormat message_format = ROW_FORMAT (MsgtrkdMessage, message_columns);
/* STMT_RECIPIENT_LIST: the address texts themselves. */
static const RowFormat recipient_format = { 0, NULL, 0 };

static GPtrArray *
message_list_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_message_free);
}

/* End a read transaction; reads never fail at commit in a way that loses anything. */
static void
end_read (MsgtrkdStore *self)
{
  g_autoptr (GError) ignored = NULL;

  if (self->batch_depth > 0)
    return;  /* the batch's transaction goes on */
  if (!sqlite3_get_autocommit (self->db) && !run_simple (self, STMT_COMMIT, "ending a read",
                                                         &ignored))
    {
      g_warning ("%s", ignored->message);
      rollback (self);
    }
}

/* Ends the read that listed @messages (@ok: the listing succeeded), after reading their
 * recipients. Returns: (transfer full) (nullable): @messages, or NULL with @error set (and
 * @messages freed). */
static GPtrArray *
end_read_messages (MsgtrkdStore *self,
                   GPtrArray    *messages,
                   gboolean      ok,
                   GError      **error)
{
  const char *doing = "reading recipients";

  for (guint i = 0; ok && i < messages->len; i++)
    {
      MsgtrkdMessage *m = messages->pdata[i];
      GPtrArray *recipients = g_ptr_array_new_with_free_func (g_free);

      ok = read_rows (self, get_bound (self, STMT_RECIPIENT_LIST, doing, error, "t", m->envid),
                      doing, &recipient_format, recipients, error);
      g_ptr_array_add (recipients, NULL);
      m->recipients = (char **) g_ptr_array_free (recipients, FALSE);
    }
  end_read (self);
  if (!ok)
    g_clear_pointer (&messages, g_ptr_array_unref);
  return messages;
}

/**
 * msgtrkd_store_get_message:
 * @self: a store
 * @id: an ENVID, or a Message-ID with or without angle brackets
 * @error: return location for a #GError
 *
 * An ENVID match wins over a Message-ID match; of several messages with one Message-ID the
 * newest is returned.
 *
 * Returns: (transfer full): the message, or %NULL with %MSGTRKD_ERROR_NOT_FOUND (or
 *   %MSGTRKD_ERROR_STORE)
 */
MsgtrkdMessage *
msgtrkd_store_get_message (MsgtrkdStore *self,
                           const char   *id,
                           GError      **error)
{
  g_autofree char *stripped = NULL;
  g_autoptr (GPtrArray) found = NULL;
  const char *doing = "looking up a message";
  gboolean ok;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  if (*id == '\0' || strlen (id) > MSGTRKD_STORE_MAX_TEXT_SIZE)
    {
      set_not_found (error, id);
      return NULL;
    }
  stripped = strip_angles (id);

  if (!begin_read (self, doing, error))
    return NULL;
  found = message_list_new ();
  ok = read_rows (self, get_bound (self, STMT_MESSAGE_BY_ENVID, doing, error, "t", id), doing,
                  &message_format, found, error)
       && (found->len > 0
           || read_rows (self,
                         get_bound (self, STMT_MESSAGE_BY_MESSAGE_ID, doing, error, "t", stripped),
                         doing, &message_format, found, error));
  found = end_read_messages (self, g_steal_pointer (&found), ok, error);
  if (found == NULL)
    return NULL;
  if (found->len == 0)
    {
      set_not_found (error, id);
      return NULL;
    }
  return g_ptr_array_steal_index (found, 0);
}

/**
 * msgtrkd_store_list_messages:
 * @self: a store
 * @error: return location for a #GError
 *
 * Returns: (transfer container) (element-type MsgtrkdMessage): every message, newest
 *   (by prepared_at) first; %NULL with @error set on failure
 */
GPtrArray *
msgtrkd_store_list_messages (MsgtrkdStore *self,
                             GError      **error)
{
  const char *doing = "listing messages";
  GPtrArray *list;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), NULL);

  if (!begin_read (self, doing, error))
    return NULL;
  list = message_list_new ();
  return end_read_messages (self, list,
                            read_rows (self, get_bound (self, STMT_MESSAGE_LIST, doing, error, ""),
                                       doing, &message_format, list, error),
                            error);
}

void
msgtrkd_status_row_free (MsgtrkdStatusRow *row)
{
  if (row == NULL)
    return;
  g_free (row->message_id);
  g_free (row->envid);
  g_free (row->state);
  g_free (row->summary);
  g_free (row);
}

/* STMT_MESSAGE_STATUS_PAGE's row: all four set. */
static const RowColumn status_columns[] = {
  { G_STRUCT_OFFSET (MsgtrkdStatusRow, message_id), 't', "" },
  { G_STRUCT_OFFSET (MsgtrkdStatusRow, envid), 't', "" },
  { G_STRUCT_OFFSET (MsgtrkdStatusRow, state), 't', "unknown" },
  { G_STRUCT_OFFSET (MsgtrkdStatusRow, summary), 't', "" },
};
static const RowFormat status_format = ROW_FORMAT (MsgtrkdStatusRow, status_columns);

/**
 * msgtrkd_store_list_statuses:
 * @self: a store
 * @after: the Message-ID (without angle brackets) the page starts after; "" for the first
 * @limit: most rows (at least 1)
 * @next: (out) (transfer full): the @after of the next page, "" when this one is the last
 * @error: return location for a #GError
 *
 * The status of every message that has a Message-ID, one row per Message-ID (the newest
 * record of that Message-ID, the one msgtrkd_store_get_message() returns), in byte order of
 * the Message-ID: one indexed range read, whatever the number of messages stored.
 *
 * Returns: (transfer container) (element-type MsgtrkdStatusRow): at most @limit rows (maybe
 *   none); %NULL with @error set on failure
 */
GPtrArray *
msgtrkd_store_list_statuses (MsgtrkdStore *self,
                             const char   *after,
                             guint         limit,
                             char        **next,
                             GError      **error)
{
  g_autoptr (GPtrArray) rows =
      g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_status_row_free);
  const char *doing = "listing statuses";
  gboolean ok;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), NULL);
  g_return_val_if_fail (after != NULL, NULL);
  g_return_val_if_fail (limit > 0, NULL);
  g_return_val_if_fail (next != NULL, NULL);

  *next = NULL;
  if (!begin_read (self, doing, error))
    return NULL;
  /* One row more than asked tells whether another page follows. */
  ok = read_rows (self,
                  get_bound (self, STMT_MESSAGE_STATUS_PAGE, doing, error, "ti", after,
                             (gint64) limit + 1),
                  doing, &status_format, rows, error);
  end_read (self);
  if (!ok)
    return NULL;
  if (rows->len > limit)
    {
      g_ptr_array_set_size (rows, limit);
      *next = g_strdup (((MsgtrkdStatusRow *) rows->pdata[limit - 1])->message_id);
    }
  else
    *next = g_strdup ("");
  return g_steal_pointer (&rows);
}

/**
 * msgtrkd_store_list_due:
 * @self: a store
 * @now: unix seconds
 * @error: return location for a #GError
 *
 * Messages to poll now: not final, tracking "mtqp" or "delegated", and
 * 0 < next_poll_at <= @now; earliest first.
 *
 * Returns: (transfer container) (element-type MsgtrkdMessage): the list (maybe empty);
 *   %NULL with @error set on failure
 */
GPtrArray *
msgtrkd_store_list_due (MsgtrkdStore *self,
                        gint64        now,
                        GError      **error)
{
  const char *doing = "listing messages due for polling";
  GPtrArray *due;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), NULL);

  if (!begin_read (self, doing, error))
    return NULL;
  due = message_list_new ();
  return end_read_messages (self, due,
                            read_rows (self, get_bound (self, STMT_MESSAGE_DUE, doing, error, "i",
                                                        now),
                                       doing, &message_format, due, error),
                            error);
}

/**
 * msgtrkd_store_get_next_due:
 * @self: a store
 * @when: (out): the earliest next_poll_at over messages that will be polled (the
 *   list_due() condition without the time bound); 0 if there is none
 * @error: return location for a #GError
 *
 * Returns: %TRUE if some message will be polled; %FALSE if none (no error) or on failure
 *   (@error set)
 */
gboolean
msgtrkd_store_get_next_due (MsgtrkdStore *self,
                            gint64       *when,
                            GError      **error)
{
  const char *doing = "finding the next poll time";
  sqlite3_stmt *row;
  gboolean found = FALSE;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (when != NULL, FALSE);

  *when = 0;
  if (!first_row (self, get_bound (self, STMT_MESSAGE_NEXT_DUE, doing, error, ""), doing, &row,
                  error)
      || row == NULL)
    return FALSE;
  if (sqlite3_column_type (row, 0) != SQLITE_NULL)
    {
      *when = sqlite3_column_int64 (row, 0);
      found = TRUE;
    }
  stmt_done (row);
  return found;
}

/**
 * msgtrkd_store_forget:
 * @self: a store
 * @envid: the message's ENVID
 * @error: return location for a #GError
 *
 * Deletes the message with its recipients, reports, snapshots and events.
 *
 * Returns: %TRUE once committed; %FALSE with %MSGTRKD_ERROR_NOT_FOUND for an unknown ENVID
 */
gboolean
msgtrkd_store_forget (MsgtrkdStore *self,
                      const char   *envid,
                      GError      **error)
{
  g_autofree char *doing = NULL;
  gboolean ok;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (envid != NULL, FALSE);

  doing = doing_on ("forgetting the message", envid);
  if (!begin_write (self, doing, error))
    return FALSE;
  ok = run_stmt (self, get_bound (self, STMT_MESSAGE_DELETE, doing, error, "t", envid), doing,
                 error);
  if (ok && sqlite3_changes (self->db) == 0)
    {
      set_not_found (error, envid);
      ok = FALSE;
    }
  return end_write (self, ok, doing, error);
}

/* ---- reports ---------------------------------------------------------------------------- */

/* Deletes the rows of @envid past @keep, in the order of statement @which (a *_TRIM). */
static gboolean
trim_rows (MsgtrkdStore *self,
           StoreStmt     which,
           const char   *envid,
           guint         keep,
           const char   *doing,
           GError      **error)
{
  return run_stmt (self, get_bound (self, which, doing, error, "ti", envid, (gint64) keep),
                   doing, error);
}

/* Whether a row of @envid has the same source, origin and digest (inside a transaction). */
static gboolean
report_exists (MsgtrkdStore *self,
               const char   *envid,
               const char   *source,
               const char   *origin,
               const char   *digest,
               gboolean     *exists,
               const char   *doing,
               GError      **error)
{
  sqlite3_stmt *row;

  if (!first_row (self,
                  get_bound (self, STMT_REPORT_SAME, doing, error, "tttt", envid, source, origin,
                             digest),
                  doing, &row, error))
    return FALSE;
  *exists = row != NULL;
  stmt_done (row);
  return TRUE;
}

/* The newest reported_at of the rows of @envid with @key matched at least as strongly as
 * @matched, or FALSE in *found. */
static gboolean
key_newest (MsgtrkdStore      *self,
            const char        *envid,
            const char        *key,
            MsgtrkdReportMatch matched,
            gboolean          *found,
            gint64            *newest,
            const char        *doing,
            GError           **error)
{
  sqlite3_stmt *row;

  if (!first_row (self,
                  get_bound (self, STMT_REPORT_KEY_NEWEST, doing, error, "tti", envid, key,
                             (gint64) matched),
                  doing, &row, error))
    return FALSE;
  /* max () always returns a row: NULL when no row has the key */
  *found = row != NULL && sqlite3_column_type (row, 0) != SQLITE_NULL;
  *newest = *found ? sqlite3_column_int64 (row, 0) : 0;
  stmt_done (row);
  return TRUE;
}

/**
 * msgtrkd_store_add_report:
 * @self: a store
 * @envid: the message the report is about (must be tracked)
 * @source: "mtqp", "dsn" or "mdn"
 * @origin: (nullable): the server asked, or the report's sender
 * @received_at: unix seconds
 * @raw: the entity as received (at most %MSGTRKD_STORE_MAX_DOCUMENT_SIZE bytes)
 * @is_new: (out) (optional): %FALSE if an identical report (same raw bytes, source and
 *   origin) was already stored for @envid
 * @error: return location for a #GError
 *
 * msgtrkd_store_put_report() without a replace key, for a report bound to its message
 * (%MSGTRKD_REPORT_MATCH_ENVID): the report is kept beside the others (up to
 * %MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE).
 *
 * Returns: %TRUE once committed (or found already there)
 */
gboolean
msgtrkd_store_add_report (MsgtrkdStore *self,
                          const char   *envid,
                          const char   *source,
                          const char   *origin,
                          gint64        received_at,
                          GBytes       *raw,
                          gboolean     *is_new,
                          GError      **error)
{
  return msgtrkd_store_put_report (self, envid, source, origin, MSGTRKD_REPORT_MATCH_ENVID,
                                   NULL, 0, received_at, raw, is_new, error);
}

/**
 * msgtrkd_store_put_report:
 * @self: a store
 * @envid: the message the report is about (must be tracked)
 * @source: "mtqp", "dsn" or "mdn"
 * @origin: (nullable): the server asked, or the report's sender
 * @matched: how the report was tied to @envid
 * @key: (nullable): what the report is a word about (its reporter and recipients): a
 *   report replaces the stored reports of @envid with the same key that are not newer
 *   and not matched more strongly
 * @reported_at: unix seconds the report speaks for (its newest date), compared between
 *   reports of one key; the caller bounds it (a report's own date may be forged)
 * @received_at: unix seconds
 * @raw: the entity as received (at most %MSGTRKD_STORE_MAX_DOCUMENT_SIZE bytes)
 * @is_new: (out) (optional): %TRUE if @raw was stored; %FALSE if an identical report
 *   (same bytes, source and origin) is already there, or a newer one of the same @key
 *   matched at least as strongly
 * @error: return location for a #GError
 *
 * One transaction: a report already there is not stored again; a report of a @key
 * replaces the older rows of that key (so a delayed hop polled every few minutes keeps one
 * row, its newest answer); a report older than a stored one of its key is dropped. Rows
 * matched more strongly than @matched neither are replaced nor drop the report: a report
 * matched only by the Message-ID, which any recipient can forge, never deletes or hides
 * one bound by the ENVID. Then the oldest rows of @envid matched by Message-ID past
 * %MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE are deleted, and the rows past
 * %MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE, those matched by Message-ID first.
 *
 * Returns: %TRUE once committed (or found already there)
 */
gboolean
msgtrkd_store_put_report (MsgtrkdStore      *self,
                          const char        *envid,
                          const char        *source,
                          const char        *origin,
                          MsgtrkdReportMatch matched,
                          const char        *key,
                          gint64             reported_at,
                          gint64             received_at,
                          GBytes            *raw,
                          gboolean          *is_new,
                          GError           **error)
{
  g_autofree char *doing = NULL;
  g_autofree char *digest = NULL;
  gconstpointer data;
  gsize size;
  gboolean exists = FALSE;
  gboolean found = FALSE;
  gint64 newest = 0;
  gboolean inserted;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (envid != NULL, FALSE);
  g_return_val_if_fail (raw != NULL, FALSE);
  g_return_val_if_fail (matched == MSGTRKD_REPORT_MATCH_MESSAGE_ID
                        || matched == MSGTRKD_REPORT_MATCH_ENVID, FALSE);

  if (is_new != NULL)
    *is_new = FALSE;
  data = g_bytes_get_data (raw, &size);
  if (!check_text ("report source", source, TRUE, MSGTRKD_STORE_MAX_TEXT_SIZE, error)
      || !check_text ("report origin", origin, FALSE, MSGTRKD_STORE_MAX_TEXT_SIZE, error)
      || !check_text ("report key", key, FALSE, MSGTRKD_STORE_MAX_TEXT_SIZE, error))
    return FALSE;
  if (size > MSGTRKD_STORE_MAX_DOCUMENT_SIZE)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   "The report is too large for the message store (%zu bytes, at most %d)",
                   size, MSGTRKD_STORE_MAX_DOCUMENT_SIZE);
      return FALSE;
    }
  digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data != NULL ? data : "", size);

  doing = doing_on ("saving a report about", envid);
  if (!begin_write (self, doing, error))
    return FALSE;
  if (!require_message (self, envid, error)
      || !report_exists (self, envid, source, origin, digest, &exists, doing, error)
      || (!exists && key != NULL
          && !key_newest (self, envid, key, matched, &found, &newest, doing, error)))
    return end_write (self, FALSE, doing, error);
  if (exists || (found && newest > reported_at))
    return end_write (self, TRUE, doing, error); /* there already, or an older word */
  if ((key != NULL
       && !run_stmt (self,
                     get_bound (self, STMT_REPORT_KEY_DELETE, doing, error, "ttii", envid, key,
                                (gint64) matched, reported_at),
                     doing, error))
      || !run_stmt (self,
                    get_bound (self, STMT_REPORT_INSERT, doing, error, "tttitbtii", envid,
                               source, origin, received_at, digest, raw, key, reported_at,
                               (gint64) matched),
                    doing, error))
    return end_write (self, FALSE, doing, error);
  inserted = sqlite3_changes (self->db) > 0;
  if (!end_write (self,
                  trim_rows (self, STMT_REPORT_TRIM_MESSAGE_ID, envid,
                             MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE, doing, error)
                  && trim_rows (self, STMT_REPORT_TRIM, envid,
                                MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE, doing, error),
                  doing, error))
    return FALSE;
  if (is_new != NULL)
    *is_new = inserted;
  return TRUE;
}

/* The rows of per-message statement @which (its only parameter: the ENVID), each read by
 * @format into a list that frees them with @free_func, in one read transaction; %NULL with
 * MSGTRKD_ERROR_NOT_FOUND for an unknown ENVID. */
static GPtrArray *
list_message_rows (MsgtrkdStore    *self,
                   const char      *envid,
                   StoreStmt        which,
                   const char      *doing,
                   const RowFormat *format,
                   GDestroyNotify   free_func,
                   GError         **error)
{
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (free_func);
  gboolean ok;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), NULL);
  g_return_val_if_fail (envid != NULL, NULL);

  if (!begin_read (self, doing, error))
    return NULL;
  ok = require_message (self, envid, error)
       && read_rows (self, get_bound (self, which, doing, error, "t", envid), doing, format, list,
                     error);
  end_read (self);
  return ok ? g_steal_pointer (&list) : NULL;
}

/* STMT_REPORT_LIST's row; STMT_REPORT_HEADS gives the same columns but the entity. */
static const RowColumn report_columns[] = {
  { G_STRUCT_OFFSET (MsgtrkdStoredReport, id), 'i', NULL },
  { G_STRUCT_OFFSET (MsgtrkdStoredReport, envid), 't', NULL },
  { G_STRUCT_OFFSET (MsgtrkdStoredReport, source), 't', NULL },
  { G_STRUCT_OFFSET (MsgtrkdStoredReport, origin), 't', NULL },
  { G_STRUCT_OFFSET (MsgtrkdStoredReport, received_at), 'i', NULL },
  { G_STRUCT_OFFSET (MsgtrkdStoredReport, sha256), 't', NULL },
  { G_STRUCT_OFFSET (MsgtrkdStoredReport, matched), 'i', NULL },
  { G_STRUCT_OFFSET (MsgtrkdStoredReport, raw), 'B', NULL },
};
static const RowFormat report_format = ROW_FORMAT (MsgtrkdStoredReport, report_columns);
static const RowFormat report_head_format = { sizeof (MsgtrkdStoredReport), report_columns,
                                              G_N_ELEMENTS (report_columns) - 1 };

static const RowColumn event_columns[] = {
  { G_STRUCT_OFFSET (MsgtrkdEvent, at), 'i', NULL },
  { G_STRUCT_OFFSET (MsgtrkdEvent, source), 't', NULL },
  { G_STRUCT_OFFSET (MsgtrkdEvent, text), 't', NULL },
};
static const RowFormat event_format = ROW_FORMAT (MsgtrkdEvent, event_columns);

/**
 * msgtrkd_store_list_reports:
 * @self: a store
 * @envid: a tracked message's ENVID
 * @error: return location for a #GError
 *
 * Returns: (transfer container) (element-type MsgtrkdStoredReport): its reports, oldest
 *   first; %NULL with %MSGTRKD_ERROR_NOT_FOUND for an unknown ENVID
 */
GPtrArray *
msgtrkd_store_list_reports (MsgtrkdStore *self,
                            const char   *envid,
                            GError      **error)
{
  return list_message_rows (self, envid, STMT_REPORT_LIST, "listing reports", &report_format,
                            (GDestroyNotify) msgtrkd_stored_report_free, error);
}

/**
 * msgtrkd_store_list_report_heads:
 * @self: a store
 * @envid: a tracked message's ENVID
 * @error: return location for a #GError
 *
 * As msgtrkd_store_list_reports(), without reading the entities (each @raw is %NULL):
 * rows never change (a newer report is a new row), so a caller that parsed a row once
 * need not read it again (msgtrkd_store_get_report_raw()). The row is named by its id
 * *and* @sha256: once a row is deleted (a newer word of its key, a trim) SQLite may give
 * its id to the next row inserted.
 *
 * Returns: (transfer container) (element-type MsgtrkdStoredReport): its reports, oldest
 *   first; %NULL with %MSGTRKD_ERROR_NOT_FOUND for an unknown ENVID
 */
GPtrArray *
msgtrkd_store_list_report_heads (MsgtrkdStore *self,
                                 const char   *envid,
                                 GError      **error)
{
  return list_message_rows (self, envid, STMT_REPORT_HEADS, "listing reports",
                            &report_head_format, (GDestroyNotify) msgtrkd_stored_report_free,
                            error);
}

/**
 * msgtrkd_store_get_report_raw:
 * @self: a store
 * @id: a report row's id
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the entity of report @id; %NULL with
 *   %MSGTRKD_ERROR_NOT_FOUND if there is no such row (any more)
 */
GBytes *
msgtrkd_store_get_report_raw (MsgtrkdStore *self,
                              gint64        id,
                              GError      **error)
{
  const char *doing = "reading a report";
  GBytes *raw = NULL;
  sqlite3_stmt *row;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), NULL);

  if (!begin_read (self, doing, error))
    return NULL;
  if (first_row (self, get_bound (self, STMT_REPORT_RAW, doing, error, "i", id), doing, &row,
                 error))
    {
      if (row != NULL)
        raw = g_bytes_new (sqlite3_column_blob (row, 0), (gsize) sqlite3_column_bytes (row, 0));
      else
        g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND,
                     "No stored report %" G_GINT64_FORMAT, id);
      stmt_done (row);
    }
  end_read (self);
  return raw;
}

/* ---- snapshots -------------------------------------------------------------------------- */

/* A per-message table that keeps the newest rows of each message: how a row is added
 * (@insert; its parameters the ENVID, a time, then texts, as in @types) and the oldest
 * past @keep deleted (@trim). */
typedef struct
{
  const char *doing; /* "saving … of", the ENVID follows */
  StoreStmt insert;
  const char *types;
  StoreStmt trim;
  guint keep;
} ChildTable;

static const ChildTable snapshots_table = {
  "saving a route snapshot of", STMT_SNAPSHOT_INSERT, "tit", STMT_SNAPSHOT_TRIM,
  MSGTRKD_STORE_MAX_SNAPSHOTS_PER_MESSAGE,
};
static const ChildTable events_table = {
  "saving an event of", STMT_EVENT_INSERT, "titt", STMT_EVENT_TRIM,
  MSGTRKD_STORE_MAX_EVENTS_PER_MESSAGE,
};

/* One write: a row of @envid (a tracked message) added to @table (@text2 only where its
 * insert takes two texts), then its oldest rows past the table's limit deleted. */
static gboolean
add_child_row (MsgtrkdStore     *self,
               const ChildTable *table,
               const char       *envid,
               gint64            at,
               const char       *text,
               const char       *text2,
               GError          **error)
{
  g_autofree char *doing = doing_on (table->doing, envid);

  if (!begin_write (self, doing, error))
    return FALSE;
  return end_write (self,
                    require_message (self, envid, error)
                        && run_stmt (self,
                                     get_bound (self, table->insert, doing, error, table->types,
                                                envid, at, text, text2),
                                     doing, error)
                        && trim_rows (self, table->trim, envid, table->keep, doing, error),
                    doing, error);
}

/**
 * msgtrkd_store_add_snapshot:
 * @self: a store
 * @envid: a tracked message's ENVID
 * @at: unix seconds
 * @route_json: the route (GetRoute's JSON), at most %MSGTRKD_STORE_MAX_DOCUMENT_SIZE bytes
 * @error: return location for a #GError
 *
 * Returns: %TRUE once committed
 */
gboolean
msgtrkd_store_add_snapshot (MsgtrkdStore *self,
                            const char   *envid,
                            gint64        at,
                            const char   *route_json,
                            GError      **error)
{
  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (envid != NULL, FALSE);
  g_return_val_if_fail (route_json != NULL, FALSE);

  if (!check_text ("route snapshot", route_json, FALSE, MSGTRKD_STORE_MAX_DOCUMENT_SIZE, error))
    return FALSE;
  return add_child_row (self, &snapshots_table, envid, at, route_json, NULL, error);
}

/**
 * msgtrkd_store_get_latest_snapshot:
 * @self: a store
 * @envid: a tracked message's ENVID
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the newest snapshot's JSON (by @at, then by order
 *   of insertion); %NULL without error if there is none; %NULL with
 *   %MSGTRKD_ERROR_NOT_FOUND for an unknown ENVID
 */
char *
msgtrkd_store_get_latest_snapshot (MsgtrkdStore *self,
                                   const char   *envid,
                                   GError      **error)
{
  const char *doing = "reading the latest route snapshot";
  sqlite3_stmt *row = NULL;
  char *json = NULL;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), NULL);
  g_return_val_if_fail (envid != NULL, NULL);

  if (!begin_read (self, doing, error))
    return NULL;
  if (require_message (self, envid, error)
      && first_row (self, get_bound (self, STMT_SNAPSHOT_LATEST, doing, error, "t", envid), doing,
                    &row, error)
      && row != NULL)
    {
      json = column_text (row, 0);
      stmt_done (row);
    }
  end_read (self);
  return json;
}

/**
 * msgtrkd_store_count_snapshots:
 * @self: a store
 * @envid: a tracked message's ENVID
 * @error: return location for a #GError
 *
 * Returns: how many snapshots @envid has; 0 with @error set on failure or for an unknown
 *   ENVID (%MSGTRKD_ERROR_NOT_FOUND)
 */
guint
msgtrkd_store_count_snapshots (MsgtrkdStore *self,
                               const char   *envid,
                               GError      **error)
{
  const char *doing = "counting route snapshots";
  sqlite3_stmt *row = NULL;
  guint count = 0;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), 0);
  g_return_val_if_fail (envid != NULL, 0);

  if (!begin_read (self, doing, error))
    return 0;
  /* count () always returns a row */
  if (require_message (self, envid, error)
      && first_row (self, get_bound (self, STMT_SNAPSHOT_COUNT, doing, error, "t", envid), doing,
                    &row, error)
      && row != NULL)
    {
      count = (guint) CLAMP (sqlite3_column_int64 (row, 0), 0, G_MAXUINT);
      stmt_done (row);
    }
  end_read (self);
  return count;
}

/* ---- events ----------------------------------------------------------------------------- */

/**
 * msgtrkd_store_add_event:
 * @self: a store
 * @envid: a tracked message's ENVID
 * @at: unix seconds
 * @source: "local", "mtqp", "dsn" or "mdn"
 * @text: one line for the timeline (at most %MSGTRKD_STORE_MAX_TEXT_SIZE bytes)
 * @error: return location for a #GError
 *
 * Returns: %TRUE once committed
 */
gboolean
msgtrkd_store_add_event (MsgtrkdStore *self,
                         const char   *envid,
                         gint64        at,
                         const char   *source,
                         const char   *text,
                         GError      **error)
{
  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (envid != NULL, FALSE);

  if (!check_text ("event source", source, TRUE, MSGTRKD_STORE_MAX_TEXT_SIZE, error)
      || !check_text ("event text", text, TRUE, MSGTRKD_STORE_MAX_TEXT_SIZE, error))
    return FALSE;
  return add_child_row (self, &events_table, envid, at, source, text, error);
}

/**
 * msgtrkd_store_list_events:
 * @self: a store
 * @envid: a tracked message's ENVID
 * @error: return location for a #GError
 *
 * Returns: (transfer container) (element-type MsgtrkdEvent): its events, oldest first
 *   (ties in order of insertion); %NULL with %MSGTRKD_ERROR_NOT_FOUND for an unknown ENVID
 */
GPtrArray *
msgtrkd_store_list_events (MsgtrkdStore *self,
                           const char   *envid,
                           GError      **error)
{
  return list_message_rows (self, envid, STMT_EVENT_LIST, "listing events", &event_format,
                            (GDestroyNotify) msgtrkd_event_free, error);
}

/* ---- settings --------------------------------------------------------------------------- */

/**
 * msgtrkd_store_get_setting:
 * @self: a store
 * @key: the setting's name
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the value; %NULL without error if it is not set
 */
char *
msgtrkd_store_get_setting (MsgtrkdStore *self,
                           const char   *key,
                           GError      **error)
{
  const char *doing = "reading a setting";
  sqlite3_stmt *row;
  char *value;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), NULL);
  g_return_val_if_fail (key != NULL, NULL);

  if (!first_row (self, get_bound (self, STMT_SETTING_GET, doing, error, "t", key), doing, &row,
                  error)
      || row == NULL)
    return NULL;
  value = column_text (row, 0);
  stmt_done (row);
  return value;
}

/**
 * msgtrkd_store_set_setting:
 * @self: a store
 * @key: the setting's name (at most %MSGTRKD_STORE_MAX_TEXT_SIZE bytes)
 * @value: (nullable): the new value (at most %MSGTRKD_STORE_MAX_DOCUMENT_SIZE bytes), or
 *   %NULL to remove the setting
 * @error: return location for a #GError
 *
 * Returns: %TRUE once committed
 */
gboolean
msgtrkd_store_set_setting (MsgtrkdStore *self,
                           const char   *key,
                           const char   *value,
                           GError      **error)
{
  g_autofree char *doing = NULL;

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  if (!check_text ("setting name", key, TRUE, MSGTRKD_STORE_MAX_TEXT_SIZE, error)
      || !check_text ("setting value", value, FALSE, MSGTRKD_STORE_MAX_DOCUMENT_SIZE, error))
    return FALSE;
  doing = doing_on ("saving the setting", key);
  if (!begin_write (self, doing, error))
    return FALSE;
  return end_write (self,
                    run_stmt (self,
                              value != NULL ? get_bound (self, STMT_SETTING_SET, doing, error,
                                                         "tt", key, value)
                                            : get_bound (self, STMT_SETTING_DELETE, doing, error,
                                                         "t", key),
                              doing, error),
                    doing, error);
}

/**
 * msgtrkd_store_delete_settings:
 * @self: a store
 * @key_prefix: what the names of the settings deleted start with
 * @value_prefix: what their values start with
 * @error: return location for a #GError
 *
 * Deletes every setting whose name starts with @key_prefix and whose value starts with
 * @value_prefix (e.g. a message's Content-Track index, found by its ENVID: its name is a
 * hash of the key, which Forget no longer has).
 *
 * Returns: %TRUE once committed (also when none matched)
 */
gboolean
msgtrkd_store_delete_settings (MsgtrkdStore *self,
                               const char   *key_prefix,
                               const char   *value_prefix,
                               GError      **error)
{
  const char *doing = "deleting settings";

  g_return_val_if_fail (MSGTRKD_IS_STORE (self), FALSE);
  g_return_val_if_fail (key_prefix != NULL && value_prefix != NULL, FALSE);

  if (!begin_write (self, doing, error))
    return FALSE;
  return end_write (self,
                    run_stmt (self,
                              get_bound (self, STMT_SETTING_DELETE_MATCHING, doing, error, "tt",
                                         key_prefix, value_prefix),
                              doing, error),
                    doing, error);
}
