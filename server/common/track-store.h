/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store.h: the reference server's tracking records, behind one of two backends.
 *
 * Written by msgtrk-relay (every change of a recipient's state), read by mtqpd (TRACK).
 * Backends (track-store-backend.h; docs/store-postgresql.md "Backends"):
 *   - files (default, embedded): <state_dir>/tracking/<sha256-hex of ENVID>.trk, replaced
 *     atomically (track-store-files.c has the record syntax);
 *   - postgresql (built when libpq is found): one table keyed by the decoded ENVID
 *     (track-store-pg.c, docs/store-postgresql.md), shared by many relays and mtqpds.
 * The backend is chosen by the [store] group of mtqpd.conf / msgtrk-relay.conf
 * (track_store_new_from_config()).
 *
 * The first B stored for an ENVID owns the record until it expires: track_store_put()
 * with another B fails with MSGTRK_ERROR_INVALID_SECRET and keeps the record (ENVID
 * takeover, docs/relay.md, "Who owns a tracking record"). Every record carries a version
 * (track_store_put() takes a clock-based one); an older version never overwrites a newer
 * one (it is dropped, and put still succeeds: records are idempotent).
 *
 * Nodes: a store shared by several MTA nodes (PostgreSQL) keeps one record per (ENVID,
 * node) — each relay node its own ([store] node=, default the host name; a pushed record
 * the pushing node's) — and TRACK answers with every node's record; the first-owner rule
 * holds across the nodes, "older never overwrites newer" per node. The files backend is
 * one node (the node is ignored).
 *
 * Only B is ever stored, never A. track_store_lookup() answers an unknown ENVID, an
 * expired record and a wrong secret with the same error (MSGTRK_ERROR_NOT_FOUND) and
 * compares in constant time. A backend that cannot be reached answers
 * MSGTRK_ERROR_CONNECT (mtqpd: -TEMP), never NOT_FOUND.
 */
#pragma once

#include <msgtrk.h>

G_BEGIN_DECLS

#define TRACK_STORE_MAX_RECORD_SIZE (1024 * 1024)
/* Longest ENVID (decoded) that names a record: RFC 3461 allows 100 xtext characters. */
#define TRACK_STORE_MAX_ENVID_LENGTH 100
/* [store] pool_size of the PostgreSQL backend: connections per process. */
#define TRACK_STORE_DEFAULT_POOL_SIZE 4
#define TRACK_STORE_MAX_POOL_SIZE 64
/* [store] node: the name of this MTA node's records (letters, digits, ".-_:"). */
#define TRACK_STORE_MAX_NODE_LENGTH 64

#define TYPE_TRACK_STORE (track_store_get_type ())
G_DECLARE_FINAL_TYPE (TrackStore, track_store, TRACK, STORE, GObject)

/* The files backend in @state_dir (what every program used before [store]). */
TrackStore   *track_store_new     (const char   *state_dir,
                                   GError      **error);
/* The backend named by [store] backend= of @kf (nullable: files); @state_dir for files. */
TrackStore   *track_store_new_from_config (GKeyFile  *kf,
                                           const char *state_dir,
                                           GError   **error);
/* Check the [store] group of @kf without opening anything (configure hooks). */
gboolean      track_store_check_config    (GKeyFile  *kf,
                                           GError   **error);
const char   *track_store_get_backend_name (TrackStore *self);
gboolean      track_store_put     (TrackStore   *self,
                                   const char   *envid,
                                   const char   *authenticator,
                                   gint64        expires,
                                   MsgtrkReport *report,
                                   GError      **error);
/* As track_store_put() with the caller's @version (> 0; pushed records carry theirs). */
gboolean      track_store_put_versioned (TrackStore   *self,
                                         const char   *envid,
                                         const char   *authenticator,
                                         gint64        expires,
                                         gint64        version,
                                         MsgtrkReport *report,
                                         GError      **error);
/* As track_store_put_versioned() for @node's record (nullable: this store's node);
 * the push receiver stores each node's records under that node's name. */
gboolean      track_store_put_for_node  (TrackStore   *self,
                                         const char   *node,
                                         const char   *envid,
                                         const char   *authenticator,
                                         gint64        expires,
                                         gint64        version,
                                         MsgtrkReport *report,
                                         GError      **error);
/* One record of track_store_put_many(). */
typedef struct
{
  const char *node;            /* (nullable) NULL: this store's node */
  const char *envid;
  const char *authenticator;
  gint64 expires;
  gint64 version;              /* > 0 */
  MsgtrkReport *report;        /* (nullable) when fields is set */
  const char *fields;          /* (nullable) @report as a fields text that the caller
                                * checked parses (msgtrk_report_parse_fields()): stored as
                                * it is, not written out again (the push receiver) */
  GError *error;               /* (out) (nullable) NULL: stored (or dropped as stale or a
                                * duplicate); as track_store_put_for_node() otherwise */
} TrackStorePut;

/** TRACK_STORE_FILES_CACHE_ENTRIES: most records kept by the files backend's read cache
 * (least recently used out first). */
#define TRACK_STORE_FILES_CACHE_ENTRIES 8192
/** TRACK_STORE_LOOKUP_BATCH: most concurrent lookups answered by one statement
 * (PostgreSQL: waiting TRACKs coalesced into one `envid = ANY ($1)`). */
#define TRACK_STORE_LOOKUP_BATCH 512
/** TRACK_STORE_MAX_BATCH: most records of one track_store_put_many() call. */
#define TRACK_STORE_MAX_BATCH 512

/* Several track_store_put_for_node() in one go (PostgreSQL: one round trip and one
 * transaction for the batch); each put's result in its error. */
void          track_store_put_many      (TrackStore    *self,
                                         TrackStorePut *puts,
                                         guint          n);
/* This store's node name ([store] node=, default the host name). */
const char   *track_store_get_node      (TrackStore   *self);
/* Is @node a valid node name? */
gboolean      track_store_node_is_valid (const char   *node);
/* A version for a new write: microseconds of the real-time clock, strictly increasing in
 * this process. */
gint64        track_store_next_version (void);
/* As track_store_next_version(), and above @stored (but at G_MAXINT64): for a record
 * loaded with its version (the clock may have stepped back since it was written). */
gint64        track_store_next_version_after (gint64 stored);
/* For the relay: the record as stored, without a secret. */
MsgtrkReport *track_store_load    (TrackStore   *self,
                                   const char   *envid,
                                   char        **authenticator,
                                   gint64       *expires,
                                   gint64       *version,
                                   GError      **error);
/* For mtqpd: the report if @secret_base64 matches and the record has not expired. */
MsgtrkReport *track_store_lookup  (TrackStore   *self,
                                   const char   *envid,
                                   const char   *secret_base64,
                                   gint64        now,
                                   GError      **error);
/* For mtqpd: every node's report (MsgtrkReport) that @secret_base64 opens and that has
 * not expired, at least one; else as track_store_lookup(). */
GPtrArray    *track_store_lookup_all    (TrackStore   *self,
                                         const char   *envid,
                                         const char   *secret_base64,
                                         gint64        now,
                                         GError      **error);
/* As track_store_lookup_all(), the records' fields texts (char *) unparsed, in a stable
 * order: a key for a cache of built answers (mtqpd). */
GPtrArray    *track_store_lookup_fields (TrackStore   *self,
                                         const char   *envid,
                                         const char   *secret_base64,
                                         gint64        now,
                                         GError      **error);
/* For mtqpd's event loop: the lookup of track_store_lookup_fields() without blocking.
 * @done is called once, from a thread of the store, with every node's record of the
 * ENVID (TrackStoreRow *, transfer full; NULL with the fetch's error, transfer full);
 * then track_store_lookup_fields_finish() compares the secret. FALSE (and @done never
 * called): not started (a backend that does not look up asynchronously, or an ENVID no
 * record can have): use track_store_lookup_fields(). */
typedef void (*TrackStoreRowsDone) (GPtrArray *rows,
                                    GError    *error,
                                    gpointer   data);
gboolean      track_store_lookup_rows_async (TrackStore         *self,
                                             const char         *envid,
                                             TrackStoreRowsDone  done,
                                             gpointer            data);
/* Does the backend look up without blocking (PostgreSQL)? */
gboolean      track_store_can_lookup_async (TrackStore *self);
/* @n (<= TRACK_STORE_LOOKUP_BATCH) lookups of track_store_lookup_rows_async() queued
 * together so that they share one statement (a client's pipelined TRACKs); @done once
 * per ENVID with its @data[i] (at once, NOT_FOUND, for an ENVID no record can have). Only
 * when track_store_can_lookup_async(). */
void          track_store_lookup_rows_async_many (TrackStore         *self,
                                                  const char *const  *envids,
                                                  gpointer const     *data,
                                                  guint               n,
                                                  TrackStoreRowsDone  done);
GPtrArray    *track_store_lookup_fields_finish (TrackStore   *self,
                                                GPtrArray    *rows,
                                                GError       *fetch_error,
                                                const char   *secret_base64,
                                                gint64        now,
                                                GError      **error);
guint         track_store_get_pool_size (TrackStore *self);
void          track_store_lookup_stats (TrackStore *self,
                                        guint64    *lookups,
                                        guint64    *batches,
                                        guint      *waiting);
guint         track_store_expire  (TrackStore   *self,
                                   gint64        now);

G_END_DECLS
