/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store-backend.h: the backend interface behind TrackStore (private to the store).
 *
 * What: a TrackStore (track-store.h) is one public object that forwards to a backend
 * through this vtable: the files backend (track-store-files.c, default, embedded) or the
 * PostgreSQL backend (track-store-pg.c, only when built with libpq). A vtable struct, not
 * a GObject interface: a backend is chosen once at start-up from [store] backend=, has no
 * signals or properties, and callers keep the one TrackStore type (docs/store-postgresql.md,
 * "Backends").
 *
 * How: track-store.c checks the arguments (ENVID length, B syntax, expiry), writes the
 * report out as fields and does the constant-time compare of B for TRACK; a backend only
 * stores and fetches (envid, B, expiry, version, fields) and enforces, atomically, the
 * two write rules:
 *   - first owner: a record is replaced by another B only once it has expired;
 *   - order: a record of the same B is replaced only by a higher version; an equal or
 *     lower version is a duplicate or a late update and is dropped (put still succeeds).
 *
 * Nodes: a backend shared by several MTA nodes (PostgreSQL) keeps one record per (ENVID,
 * node) and sets the *_node entries and fetch_all (put and fetch may then be NULL); the
 * first-owner rule then holds across
 * the nodes (one owner B per ENVID), the order rule per node. A backend without them
 * (files: one store is one node) keeps one record per ENVID and ignores the node.
 *
 * Limits: the fields text is at most TRACK_STORE_MAX_RECORD_SIZE octets.
 * Never: compare B in a backend other than in constant time, or in a query's WHERE to
 * find a record (fetch by ENVID, compare in C); log B or the fields.
 */
#pragma once

#include "track-store.h"

G_BEGIN_DECLS

/* One write of put_many. */
typedef struct
{
  const char *node;
  const char *envid;
  const char *authenticator;
  gint64 expires;
  gint64 version;
  const char *fields;
  GError *error;              /* (out) NULL: stored, or dropped as stale or a duplicate */
} TrackStoreWrite;

typedef struct
{
  const char *name;
  /* Store unless refused by the first-owner rule (MSGTRK_ERROR_INVALID_SECRET); a stale
   * or duplicate version is dropped and still returns TRUE. */
  gboolean (*put)    (gpointer    impl,
                      const char *envid,
                      const char *authenticator,
                      gint64      expires,
                      gint64      version,
                      const char *fields,
                      GError    **error);
  /* The record as stored, expired or not, with its version; MSGTRK_ERROR_NOT_FOUND when
   * there is none; MSGTRK_ERROR_CONNECT when the backend cannot be reached (answered
   * -TEMP). */
  gboolean (*fetch)  (gpointer    impl,
                      const char *envid,
                      char      **authenticator,
                      gint64     *expires,
                      gint64     *version,
                      char      **fields,
                      GError    **error);
  guint    (*expire) (gpointer    impl,
                      gint64      now);
  void     (*free)   (gpointer    impl);

  /* Optional (NULL: put/fetch, one record per ENVID). As put/fetch, for @node's record. */
  gboolean (*put_node)   (gpointer    impl,
                          const char *node,
                          const char *envid,
                          const char *authenticator,
                          gint64      expires,
                          gint64      version,
                          const char *fields,
                          GError    **error);
  gboolean (*fetch_node) (gpointer    impl,
                          const char *node,
                          const char *envid,
                          char      **authenticator,
                          gint64     *expires,
                          gint64     *version,
                          char      **fields,
                          GError    **error);
  /* Optional (NULL: fetch). Every node's record of @envid (TrackStoreRow, expired or not,
   * in a stable order); MSGTRK_ERROR_NOT_FOUND when there is none. */
  GPtrArray *(*fetch_all) (gpointer    impl,
                           const char *envid,
                           GError    **error);
  /* Optional (NULL: none). fetch_all of @n ENVIDs without blocking, queued together (so
   * that they can share one statement): @done called once per ENVID, from another
   * thread, with @data[i] and what fetch_all would return (rows or the error, transfer
   * full). */
  void       (*fetch_all_async) (gpointer            impl,
                                 const char *const  *envids,
                                 gpointer const     *data,
                                 guint               n,
                                 TrackStoreRowsDone  done);
  /* Optional (NULL: put_node one by one). @n writes in one go (PostgreSQL: one pipeline,
   * one transaction), each with the rules and the result of put_node. */
  void       (*put_many)  (gpointer         impl,
                           TrackStoreWrite *writes,
                           guint            n);
  /* Optional (NULL: none). Lookups answered and the statements that answered them
   * (PostgreSQL: concurrent lookups coalesced into one statement), lookups queued now. */
  void       (*lookup_stats) (gpointer impl,
                              guint64 *lookups,
                              guint64 *batches,
                              guint   *waiting);
} TrackStoreBackend;

/* One node's record as fetched (fetch_all). */
typedef struct
{
  char *authenticator;
  gint64 expires;
  char *fields;
} TrackStoreRow;

TrackStoreRow *track_store_row_new  (char  *authenticator,
                                     gint64 expires,
                                     char  *fields);
void           track_store_row_free (gpointer row);

/* Constant-time equality of two authenticators (B, base64): lengths are public. */
gboolean track_store_authenticator_equal (const char *a,
                                          const char *b);

extern const TrackStoreBackend track_store_files_backend;
gpointer track_store_files_open (const char *state_dir,
                                 GError    **error);

#ifdef HAVE_LIBPQ
extern const TrackStoreBackend track_store_pg_backend;
gpointer track_store_pg_open (const char *conninfo,
                              const char *password_file,
                              guint       pool_size,
                              GError    **error);
#endif

G_END_DECLS
