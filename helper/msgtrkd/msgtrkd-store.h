/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-store.h: the helper's memory, an SQLite database in WAL mode.
 *
 * Path: $XDG_DATA_HOME/msgtrk/msgtrk.db (the daemon passes it). Schema versioned with
 * PRAGMA user_version and a list of migrations applied in one transaction each.
 * Tables: messages, recipients, reports (raw, one row per distinct answer: the newest
 * word of a reporter about a set of recipients replaces the older ones), snapshots (routes
 * computed, as JSON, with a timestamp), events (the timeline), settings (key/value).
 * Growth: at most MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE reports (of them at most
 * MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE matched only by the Message-ID, which go
 * first), MSGTRKD_STORE_MAX_EVENTS_PER_MESSAGE events and
 * MSGTRKD_STORE_MAX_SNAPSHOTS_PER_MESSAGE snapshots per message: past a cap the oldest go.
 *
 * Durability: every write is one transaction, committed with synchronous=FULL, so a
 * kill -9 at any moment loses nothing committed. A failing write (disk full, read-only,
 * corrupt file) is an error (MSGTRKD_ERROR_STORE) with SQLite's message, never an abort;
 * the previous state stays intact.
 *
 * Never: store the secret A (it lives in the keyring), block for long (all statements are
 * local and small; the daemon calls these from its main thread).
 */
#pragma once

#include <gio/gio.h>

#include "msgtrk-states.h"

G_BEGIN_DECLS

/* Values of MsgtrkdMessage.tracking: the ids of MsgtrkTrackingMode (msgtrk-states.h), as
 * literals for the SQL built at compile time. */
#define MSGTRKD_TRACKING_PENDING MSGTRK_TRACKING_ID_PENDING
#define MSGTRKD_TRACKING_MTQP MSGTRK_TRACKING_ID_MTQP
#define MSGTRKD_TRACKING_DSN MSGTRK_TRACKING_ID_DSN
#define MSGTRKD_TRACKING_NONE MSGTRK_TRACKING_ID_NONE
#define MSGTRKD_TRACKING_ABORTED MSGTRK_TRACKING_ID_ABORTED
#define MSGTRKD_TRACKING_DELEGATED MSGTRK_TRACKING_ID_DELEGATED

/* Limits (longer values are refused with MSGTRKD_ERROR_INVALID_ARGUMENT). */
#define MSGTRKD_STORE_MAX_TEXT_SIZE (64 * 1024)  /* bytes of one text value (subject, event…) */
#define MSGTRKD_STORE_MAX_DOCUMENT_SIZE (16 * 1024 * 1024) /* raw report, snapshot, setting */
#define MSGTRKD_STORE_MAX_RECIPIENTS 1000        /* recipients of one message */
/* Rows kept per message; past a cap the oldest rows of that message are deleted. Reports
 * with a replace key keep one row per key besides (msgtrkd_store_put_report()). Reports
 * matched only by the Message-ID go first (MsgtrkdReportMatch). */
#define MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE 256
/* Of those, rows matched only by the Message-ID (MSGTRKD_REPORT_MATCH_MESSAGE_ID); past it
 * the oldest of them are deleted. Every recipient knows the Message-ID and may mail the
 * sender as many forged reports as it likes: this keeps them to a quarter of the rows, and
 * they never push out a report bound to the message by its ENVID. 64 is still one MDN
 * or ENVID-less DSN each for the recipients of a message to a large group. */
#define MSGTRKD_STORE_MAX_MESSAGE_ID_REPORTS_PER_MESSAGE 64
#define MSGTRKD_STORE_MAX_EVENTS_PER_MESSAGE 1000
#define MSGTRKD_STORE_MAX_SNAPSHOTS_PER_MESSAGE 64

typedef struct
{
  char *envid;            /* (owned) primary key */
  char *message_id;       /* (owned) (nullable) without angle brackets */
  char *subject;          /* (owned) (nullable) */
  char *sender;           /* (owned) (nullable) */
  char **recipients;      /* (owned) (array zero-terminated=1) normalised addresses */
  char *submission_host;  /* (owned) (nullable) where MTQP tracking starts */
  char *mtqp_port;        /* (owned) (nullable) port override as text, for delegated URLs */
  char *mtqp_server;      /* (owned) (nullable) the MTQP server found for the message (first
                           * that answered): "host" or "host:port", what ExportUrl names */
  char *tracking;         /* (owned) a MsgtrkTrackingMode id (MSGTRKD_TRACKING_*) */
  char *offered;          /* (owned) (nullable) EHLO keywords, space-separated */
  char *server_reply;     /* (owned) (nullable) the reply to the end of DATA */
  guint mtrk_timeout;     /* seconds asked for in MTRK */
  gint64 prepared_at;     /* unix seconds */
  gint64 committed_at;    /* unix seconds, 0 = not committed */
  gint64 expires_at;      /* unix seconds after which servers forget it; 0 = unknown */
  char *state;            /* (owned) a MsgtrkMessageState id */
  char *summary;          /* (owned) one line for status columns */
  gboolean final;         /* no more polling */
  gint64 next_poll_at;    /* unix seconds, 0 = not scheduled */
  gint64 last_poll_at;    /* unix seconds, 0 = never */
  guint poll_count;       /* polls so far (drives the backoff) */
  gboolean secret_derived; /* A derived from the master secret, else a keyring item of its
                            * own (docs/secret-derivation.md) */
} MsgtrkdMessage;

MsgtrkdMessage *msgtrkd_message_new  (void);
MsgtrkdMessage *msgtrkd_message_copy (const MsgtrkdMessage *message);
void            msgtrkd_message_free (MsgtrkdMessage *message);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsgtrkdMessage, msgtrkd_message_free)

typedef struct
{
  gint64 id;           /* row id */
  char *envid;         /* (owned) */
  char *source;        /* (owned) "mtqp", "dsn" or "mdn" */
  char *origin;        /* (owned) (nullable) the server asked, or the report's sender */
  gint64 received_at;  /* unix seconds */
  char *sha256;        /* (owned) SHA-256 (hex) of @raw: with @id, names the row's content */
  gint64 matched;      /* how it was tied to its message: a MsgtrkdReportMatch */
  GBytes *raw;         /* (owned) the entity as received */
} MsgtrkdStoredReport;

/* How a report was tied to its message (docs/dsn-ingestion.md, "Matching"), weakest
 * first: the value is a rank, stored in the reports' `matched` column. A report never
 * replaces or shadows a report of a higher rank (msgtrkd_store_put_report()). */
typedef enum
{
  /* By the Message-ID of the reported message, which every recipient has read: anyone
   * the message went to can forge such a report (MDNs are always matched so). */
  MSGTRKD_REPORT_MATCH_MESSAGE_ID = 0,
  /* By something only the route knows: the ENVID (Original-Envelope-Id) or an MTQP
   * answer (asked for by ENVID and A). Content-Track records count as this too: their key
   * is no secret to the recipients, but they carry no replace key and have a cap of their
   * own (MSGTRKD_HARRISON_MAX_RECORDS), so this only keeps forged reports by Message-ID
   * from pushing them out. Rows stored before schema version 4 count as this, except
   * MDNs. */
  MSGTRKD_REPORT_MATCH_ENVID = 1,
} MsgtrkdReportMatch;

void msgtrkd_stored_report_free (MsgtrkdStoredReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsgtrkdStoredReport, msgtrkd_stored_report_free)

typedef struct
{
  gint64 at;        /* unix seconds */
  char *source;     /* (owned) "local", "mtqp", "dsn", "mdn" */
  char *text;       /* (owned) one line for the timeline */
} MsgtrkdEvent;

void msgtrkd_event_free (MsgtrkdEvent *event);

/* One message's status as msgtrkd_store_list_statuses() gives it (all four set). */
typedef struct
{
  char *message_id;  /* (owned) without angle brackets */
  char *envid;       /* (owned) */
  char *state;       /* (owned) a MsgtrkMessageState id */
  char *summary;     /* (owned) */
} MsgtrkdStatusRow;

void msgtrkd_status_row_free (MsgtrkdStatusRow *row);

#define MSGTRKD_TYPE_STORE (msgtrkd_store_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkdStore, msgtrkd_store, MSGTRKD, STORE, GObject)

MsgtrkdStore   *msgtrkd_store_open             (const char   *path,
                                                GError      **error);
gboolean        msgtrkd_store_add_message      (MsgtrkdStore *self,
                                                const MsgtrkdMessage *message,
                                                GError      **error);
gboolean        msgtrkd_store_update_message   (MsgtrkdStore *self,
                                                const MsgtrkdMessage *message,
                                                GError      **error);
/* By ENVID or Message-ID (with or without <>). NULL + MSGTRKD_ERROR_NOT_FOUND if unknown. */
MsgtrkdMessage *msgtrkd_store_get_message      (MsgtrkdStore *self,
                                                const char   *id,
                                                GError      **error);
/* (element-type MsgtrkdMessage) newest first */
GPtrArray      *msgtrkd_store_list_messages    (MsgtrkdStore *self,
                                                GError      **error);
/* (element-type MsgtrkdStatusRow) one page of the statuses of every message with a
 * Message-ID, one row per Message-ID, in Message-ID order after @after; *next: the @after
 * of the next page, "" after the last. */
GPtrArray      *msgtrkd_store_list_statuses    (MsgtrkdStore *self,
                                                const char   *after,
                                                guint         limit,
                                                char        **next,
                                                GError      **error);
/* Messages not final, tracking mtqp or delegated, next_poll_at in (0, now]. */
GPtrArray      *msgtrkd_store_list_due         (MsgtrkdStore *self,
                                                gint64        now,
                                                GError      **error);
/* The earliest next_poll_at over messages that will be polled; FALSE if none. */
gboolean        msgtrkd_store_get_next_due     (MsgtrkdStore *self,
                                                gint64       *when,
                                                GError      **error);
gboolean        msgtrkd_store_forget           (MsgtrkdStore *self,
                                                const char   *envid,
                                                GError      **error);

/* Reports: an identical raw entity from the same source and origin is stored once
 * (returns TRUE and sets *is_new FALSE). */
gboolean        msgtrkd_store_add_report       (MsgtrkdStore *self,
                                                const char   *envid,
                                                const char   *source,
                                                const char   *origin,
                                                gint64        received_at,
                                                GBytes       *raw,
                                                gboolean     *is_new,
                                                GError      **error);
/* The newest word per @key (reporter and recipients): replaces older rows of that key
 * matched no more strongly (@matched), is dropped if a stored one of the key matched at
 * least as strongly is newer (@reported_at). */
gboolean        msgtrkd_store_put_report       (MsgtrkdStore *self,
                                                const char   *envid,
                                                const char   *source,
                                                const char   *origin,
                                                MsgtrkdReportMatch matched,
                                                const char   *key,
                                                gint64        reported_at,
                                                gint64        received_at,
                                                GBytes       *raw,
                                                gboolean     *is_new,
                                                GError      **error);
/* (element-type MsgtrkdStoredReport) oldest first */
GPtrArray      *msgtrkd_store_list_reports     (MsgtrkdStore *self,
                                                const char   *envid,
                                                GError      **error);
/* The same without the entities (raw NULL), read one by its id. A row never changes, but
 * once deleted its id may name a new row (SQLite reuses the largest rowid): id and sha256
 * together name one content. */
GPtrArray      *msgtrkd_store_list_report_heads (MsgtrkdStore *self,
                                                 const char   *envid,
                                                 GError      **error);
GBytes         *msgtrkd_store_get_report_raw   (MsgtrkdStore *self,
                                                gint64        id,
                                                GError      **error);

gboolean        msgtrkd_store_add_snapshot     (MsgtrkdStore *self,
                                                const char   *envid,
                                                gint64        at,
                                                const char   *route_json,
                                                GError      **error);
/* The newest snapshot, or NULL (no error) if there is none. */
char           *msgtrkd_store_get_latest_snapshot (MsgtrkdStore *self,
                                                   const char   *envid,
                                                   GError      **error);
guint           msgtrkd_store_count_snapshots  (MsgtrkdStore *self,
                                                const char   *envid,
                                                GError      **error);

gboolean        msgtrkd_store_add_event        (MsgtrkdStore *self,
                                                const char   *envid,
                                                gint64        at,
                                                const char   *source,
                                                const char   *text,
                                                GError      **error);
/* (element-type MsgtrkdEvent) oldest first */
GPtrArray      *msgtrkd_store_list_events      (MsgtrkdStore *self,
                                                const char   *envid,
                                                GError      **error);

/* Small settings (e.g. the MTQP client's STARTTLS memory, one host per line). */
char           *msgtrkd_store_get_setting      (MsgtrkdStore *self,
                                                const char   *key,
                                                GError      **error);
gboolean        msgtrkd_store_set_setting      (MsgtrkdStore *self,
                                                const char   *key,
                                                const char   *value,
                                                GError      **error);
/* Deletes the settings named KEY_PREFIX… whose value is VALUE_PREFIX…. */
gboolean        msgtrkd_store_delete_settings  (MsgtrkdStore *self,
                                                const char   *key_prefix,
                                                const char   *value_prefix,
                                                GError      **error);

/* Caps the database size (PRAGMA max_page_count) for this connection; 0 = no cap. Writes
 * beyond fail as on a full disk (tests use it for that path). */
gboolean        msgtrkd_store_set_size_limit   (MsgtrkdStore *self,
                                                guint64       max_bytes,
                                                GError      **error);

/* Batches: the write functions called between begin_batch and end_batch share one
 * transaction (one commit, one fsync), each a savepoint of it (a failed write undoes only
 * itself). Nothing of the batch is durable before end_batch returns TRUE; a crash before
 * loses the whole batch, never part of one write. Batches nest (the outermost commits).
 * Call both from the same main-loop callback: the write lock is held in between. */
gboolean        msgtrkd_store_begin_batch      (MsgtrkdStore *self,
                                                GError      **error);
gboolean        msgtrkd_store_end_batch        (MsgtrkdStore *self,
                                                GError      **error);
gboolean        msgtrkd_store_in_batch         (MsgtrkdStore *self);

/* Work that announces a write (StatusChanged): run once the writes so far are committed
 * (at once outside a batch, at the batch's commit inside one); never if they are rolled
 * back. */
typedef void (*MsgtrkdStoreCommitFunc) (gpointer data);
void            msgtrkd_store_after_commit     (MsgtrkdStore          *self,
                                                MsgtrkdStoreCommitFunc func,
                                                gpointer               data,
                                                GDestroyNotify         destroy);

G_END_DECLS
