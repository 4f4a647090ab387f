/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store-pg.c: the PostgreSQL backend of the tracking store (track-store-backend.h;
 * design, schema and operations: docs/store-postgresql.md).
 *
 * What: tracking records in msgtrk_record, one per (decoded ENVID, node), and each
 * ENVID's owner (its first B) in msgtrk_owner, shared by every relay node, push receiver
 * and mtqpd of a site.
 * How:
 *   - schema: migrations numbered from 1, applied at the first connection under a
 *     transaction-level advisory lock (several processes may start at once); the applied
 *     number is kept in msgtrk_schema_version. A database with a newer schema is refused.
 *   - put: one statement (SQL_PUT): claim the owner row (new, same B, or expired), then
 *     INSERT … ON CONFLICT (envid, node) DO UPDATE … WHERE (existing expired) OR (same B
 *     and a higher version): the first-owner rule across nodes and the version order per
 *     node are one atomic statement. When nothing was written, the owner row tells a
 *     refused takeover (another B, compared here in constant time) from a stale or
 *     duplicate update.
 *   - put_many: one statement per batch (SQL_PUT_MANY: SQL_PUT over unnest() of binary
 *     arrays), after settling in C what one statement cannot do (another B for an ENVID,
 *     several writes of one (ENVID, node)); see pg_put_many.
 *   - fetch: SELECT by ENVID (and node) only; B is compared in C by track-store.c.
 *   - statements are prepared once per connection, parameters binary with their types,
 *     planned once (plan_cache_mode=force_generic_plan: a custom plan per execution
 *     re-planned SQL_FETCH_MANY with each batch's array, half of PostgreSQL's CPU per
 *     TRACK; every statement here is an index lookup by key either way).
 *   - expire: msgtrk_expire(now, batch) in the database deletes one batch through the
 *     expires_at index; called again while batches come back full (the equivalent of
 *     dropping day partitions: see the doc).
 *   - connections: a pool of pool_size connections (one per concurrent caller). A broken
 *     connection is reconnected once at once (a restarted server), then with exponential
 *     backoff (PG_BACKOFF_MIN_MS doubling up to PG_BACKOFF_MAX_MS); while it waits, calls
 *     fail at once with MSGTRK_ERROR_CONNECT (mtqpd answers -TEMP).
 *   - timeouts: statement_timeout (PG_STATEMENT_TIMEOUT_MS) needs a server that runs;
 *     one that stops answering on an open connection (a stalled host, a paused VM,
 *     SIGSTOP, dropped packets) is caught on the client: every statement (lookups,
 *     puts, expiry, the migration, the prepares) is sent on a non-blocking connection
 *     and its answer waited for with poll() until PG_CLIENT_TIMEOUT_MS, in one place
 *     (conn_result). Past it the connection is closed (never PQcancel: it would wait for
 *     the frozen server too), reconnections back off as after a failed attempt, and the
 *     call fails with MSGTRK_ERROR_CONNECT, as for a lost connection: a TRACK gets -TEMP,
 *     every lookup of its batch the same answer. TCP keepalives and tcp_user_timeout
 *     find a vanished peer of an idle connection. pg_free ends within one
 *     PG_CLIENT_TIMEOUT_MS (stop_deadline). libpq's notices go to g_debug, not stderr.
 *   - the password is read from password_file (owner-only file) and given to libpq as a
 *     parameter, never put in the conninfo string, in argv or in a log line.
 *   - lookups (TRACK): concurrent ones are coalesced, up to PG_LOOKUP_BATCH per
 *     SQL_FETCH_MANY, when their share of the connections (half the pool, at least one:
 *     pg_lookup_limit) is busy (pg_fetch_all); the rest of the pool is kept for writes.
 *     Asynchronous lookups (pg_fetch_all_async, mtqpd; a session's pipelined TRACKs
 *     queued together, so that they share a statement) are queued with the others and
 *     run by lookup threads (lookup_runner, one per connection of that share, started at
 *     the first), which call each one's function once its batch is answered.
 * Limits: PG_POOL_WAIT_SECONDS to get a pooled connection (or to be taken into a batch);
 * PG_LOOKUP_BATCH lookups per SQL_FETCH_MANY; TRACK_STORE_MAX_BATCH writes per
 * SQL_PUT_MANY, collapsed per (ENVID, node) only when expiring later than
 * PG_PUT_MANY_EXPIRY_SLACK seconds from now; PG_STATEMENT_TIMEOUT_MS per statement on
 * the server, PG_CLIENT_TIMEOUT_MS on the client; PG_CONNECT_TIMEOUT_SECONDS per
 * connection attempt; PG_KEEPALIVES_* and PG_TCP_USER_TIMEOUT_MS on TCP connections;
 * PG_EXPIRE_BATCH rows per expiry statement; the password file at most
 * PG_MAX_PASSWORD_FILE octets.
 * Never: select or compare on B in SQL for a lookup; log B, A, fields or the password;
 * crash on a lost connection; answer NOT_FOUND when the database was not asked; wait
 * for the server without a deadline (no blocking libpq call after the connect, no
 * PQcancel).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "msgtrk-private.h"
#include "track-store-backend.h"

#define PG_SCHEMA_VERSION 2
#define PG_POOL_WAIT_SECONDS 10
/* The server's own limit per statement (statement_timeout, set at connect): a running
 * server answers SQLSTATE 57014 by then and the connection stays usable. */
#define PG_STATEMENT_TIMEOUT_MS 5000
/* The client's limit per statement (conn_result): it fires only when the server cannot
 * answer at all (a stalled host, a paused VM, SIGSTOP, packets silently dropped), which
 * statement_timeout cannot see. The slack above PG_STATEMENT_TIMEOUT_MS lets a running
 * server's own timeout arrive first (one round trip and scheduling delay). */
#define PG_CLIENT_TIMEOUT_SLACK_MS 1000
#define PG_CLIENT_TIMEOUT_MS (PG_STATEMENT_TIMEOUT_MS + PG_CLIENT_TIMEOUT_SLACK_MS)
/* libpq's limit per connection attempt (per host address), startup and authentication
 * included; it must end before PG_CLIENT_TIMEOUT_MS (pg_free's bound, statement_deadline). */
#define PG_CONNECT_TIMEOUT_SECONDS 5
/* TCP keepalives on an idle pooled connection (ignored on a unix socket): a peer gone
 * without a FIN is found after idle + interval * count seconds, so that the next
 * statement reconnects instead of waiting PG_CLIENT_TIMEOUT_MS for it. */
#define PG_KEEPALIVES_IDLE_SECONDS 10
#define PG_KEEPALIVES_INTERVAL_SECONDS 5
#define PG_KEEPALIVES_COUNT 3
/* Data sent and unacknowledged this long closes the connection in the kernel
 * (tcp_user_timeout; with keepalives on, it also ends the probing): the keepalives' own
 * time (idle + interval * count), and above PG_CLIENT_TIMEOUT_MS, so that a statement's
 * deadline, not the kernel, ends a stalled statement. */
#define PG_TCP_USER_TIMEOUT_MS 25000
G_STATIC_ASSERT (PG_CONNECT_TIMEOUT_SECONDS * 1000 < PG_CLIENT_TIMEOUT_MS);
G_STATIC_ASSERT (PG_TCP_USER_TIMEOUT_MS
                 == (PG_KEEPALIVES_IDLE_SECONDS
                     + PG_KEEPALIVES_INTERVAL_SECONDS * PG_KEEPALIVES_COUNT) * 1000);
G_STATIC_ASSERT (PG_TCP_USER_TIMEOUT_MS > PG_CLIENT_TIMEOUT_MS);
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 30000
#define PG_EXPIRE_BATCH 10000
#define PG_MAX_PASSWORD_FILE 1024
/* put_many collapses several writes of one (ENVID, node) into their highest version only
 * while each expires later than this many seconds from now (the database, whose clock
 * decides expiry, may be this far ahead); the others are written one by one. */
#define PG_PUT_MANY_EXPIRY_SLACK 60
/* Most lookups answered by one SQL_FETCH_MANY (the ENVIDs of one batch: at most 100
 * octets each, so a parameter of at most ~53 KiB). */
#define PG_LOOKUP_BATCH TRACK_STORE_LOOKUP_BATCH
/* Lookups run on at most 1 / PG_LOOKUP_SHARE of the pool's connections at once
 * (pg_lookup_limit). */
#define PG_LOOKUP_SHARE 2
/* Any constant ("mtrk" in ASCII): the advisory lock taken while migrating. */
#define PG_MIGRATION_LOCK_ID "1836348011"

/* Migration N is migrations[N - 1]; never edit one that has shipped, add the next. */
static const char *const migrations[] = {
  /* 1: records, the expiry index, the expiry function. */
  "CREATE TABLE msgtrk_record ("
  "  envid bytea PRIMARY KEY CHECK (octet_length (envid) BETWEEN 1 AND 100),"
  "  authenticator text NOT NULL,"
  "  expires_at bigint NOT NULL,"
  "  version bigint NOT NULL,"
  "  fields bytea NOT NULL,"
  "  stored_at timestamptz NOT NULL DEFAULT now ());"
  "CREATE INDEX msgtrk_record_expires_at ON msgtrk_record (expires_at);"
  /* One batch per call (a short statement, under statement_timeout); callers repeat
   * while it returns @batch. */
  "CREATE FUNCTION msgtrk_expire (now_unix bigint, batch integer) RETURNS bigint"
  "  LANGUAGE plpgsql AS $$"
  "  DECLARE d bigint;"
  "  BEGIN"
  "    DELETE FROM msgtrk_record WHERE envid IN"
  "      (SELECT envid FROM msgtrk_record WHERE expires_at <= now_unix LIMIT batch);"
  "    GET DIAGNOSTICS d = ROW_COUNT;"
  "    RETURN d;"
  "  END $$;",
  /* 2: one record per (ENVID, node); the owner of each ENVID (its first B, until every
   * record of that B expired) in a table of its own, whose row lock serialises every
   * node's writes of one ENVID. A record's expiry never exceeds its owner's. */
  "CREATE TABLE msgtrk_owner ("
  "  envid bytea PRIMARY KEY CHECK (octet_length (envid) BETWEEN 1 AND 100),"
  "  authenticator text NOT NULL,"
  "  expires_at bigint NOT NULL);"
  "CREATE INDEX msgtrk_owner_expires_at ON msgtrk_owner (expires_at);"
  "INSERT INTO msgtrk_owner (envid, authenticator, expires_at)"
  "  SELECT envid, authenticator, expires_at FROM msgtrk_record;"
  "ALTER TABLE msgtrk_record ADD COLUMN node text NOT NULL DEFAULT ''"
  "  CHECK (octet_length (node) <= 64);"
  "ALTER TABLE msgtrk_record DROP CONSTRAINT msgtrk_record_pkey;"
  "ALTER TABLE msgtrk_record ADD PRIMARY KEY (envid, node);"
  "CREATE OR REPLACE FUNCTION msgtrk_expire (now_unix bigint, batch integer) RETURNS bigint"
  "  LANGUAGE plpgsql AS $$"
  "  DECLARE d bigint; o bigint;"
  "  BEGIN"
  "    DELETE FROM msgtrk_record WHERE (envid, node) IN"
  "      (SELECT envid, node FROM msgtrk_record WHERE expires_at <= now_unix LIMIT batch);"
  "    GET DIAGNOSTICS d = ROW_COUNT;"
  "    DELETE FROM msgtrk_owner WHERE envid IN"
  "      (SELECT envid FROM msgtrk_owner WHERE expires_at <= now_unix LIMIT batch);"
  "    GET DIAGNOSTICS o = ROW_COUNT;"
  "    RETURN greatest (d, o);"
  "  END $$;",
};

/* The put, one statement: claim the ENVID for B in msgtrk_owner (new, same B, or the
 * owner's expired: its row lock orders the nodes' writes), and only then upsert this
 * node's record unless it holds a newer or equal version of the same B (a live record
 * of another B cannot exist beside a live owner). $1 envid, $2 B, $3 expires,
 * $4 version, $5 fields, $6 node. */
#define SQL_PUT                                                                          \
  "WITH owner AS ("                                                                      \
  "  INSERT INTO msgtrk_owner AS o (envid, authenticator, expires_at) VALUES ($1, $2, $3) " \
  "  ON CONFLICT (envid) DO UPDATE SET authenticator = EXCLUDED.authenticator, "          \
  "    expires_at = CASE WHEN o.authenticator = EXCLUDED.authenticator "                  \
  "      THEN greatest (o.expires_at, EXCLUDED.expires_at) ELSE EXCLUDED.expires_at END " \
  "  WHERE o.expires_at <= extract (epoch FROM now ())::bigint "                         \
  "     OR o.authenticator = EXCLUDED.authenticator "                                    \
  "  RETURNING 1) "                                                                      \
  "INSERT INTO msgtrk_record AS r (envid, node, authenticator, expires_at, version, fields) " \
  "SELECT $1, $6, $2, $3, $4, $5 FROM owner "                                             \
  "ON CONFLICT (envid, node) DO UPDATE SET authenticator = EXCLUDED.authenticator, "      \
  "  expires_at = EXCLUDED.expires_at, version = EXCLUDED.version, "                      \
  "  fields = EXCLUDED.fields, stored_at = now () "                                       \
  "WHERE r.expires_at <= extract (epoch FROM now ())::bigint "                            \
  "   OR (r.authenticator = EXCLUDED.authenticator AND r.version < EXCLUDED.version) "    \
  "RETURNING 1"
/* SQL_PUT for a whole put_many batch, one statement: $1..$6 the writes as arrays (envid,
 * B, expires, version, fields, node; one per (envid, node), all of one ENVID with one B),
 * $7..$9 one owner claim per ENVID (envid, B, the latest expiry of its writes). The same
 * conditions as SQL_PUT; rows taken in key order (the same lock order in every batch).
 * Returns the (envid, node) of every record written. */
#define SQL_PUT_MANY                                                                     \
  "WITH owner AS ("                                                                      \
  "  INSERT INTO msgtrk_owner AS o (envid, authenticator, expires_at) "                  \
  "  SELECT * FROM unnest ($7::bytea[], $8::text[], $9::int8[]) "                        \
  "    AS c (envid, authenticator, expires_at) ORDER BY envid "                          \
  "  ON CONFLICT (envid) DO UPDATE SET authenticator = EXCLUDED.authenticator, "          \
  "    expires_at = CASE WHEN o.authenticator = EXCLUDED.authenticator "                  \
  "      THEN greatest (o.expires_at, EXCLUDED.expires_at) ELSE EXCLUDED.expires_at END " \
  "  WHERE o.expires_at <= extract (epoch FROM now ())::bigint "                         \
  "     OR o.authenticator = EXCLUDED.authenticator "                                    \
  "  RETURNING o.envid) "                                                                \
  "INSERT INTO msgtrk_record AS r (envid, node, authenticator, expires_at, version, fields) " \
  "SELECT w.envid, w.node, w.authenticator, w.expires_at, w.version, w.fields "           \
  "FROM unnest ($1::bytea[], $2::text[], $3::int8[], $4::int8[], $5::bytea[], $6::text[]) " \
  "  AS w (envid, authenticator, expires_at, version, fields, node) "                     \
  "  JOIN owner USING (envid) ORDER BY w.envid, w.node "                                  \
  "ON CONFLICT (envid, node) DO UPDATE SET authenticator = EXCLUDED.authenticator, "      \
  "  expires_at = EXCLUDED.expires_at, version = EXCLUDED.version, "                      \
  "  fields = EXCLUDED.fields, stored_at = now () "                                       \
  "WHERE r.expires_at <= extract (epoch FROM now ())::bigint "                            \
  "   OR (r.authenticator = EXCLUDED.authenticator AND r.version < EXCLUDED.version) "    \
  "RETURNING r.envid, r.node"
/* Who owns the ENVID (after a put that wrote nothing). */
#define SQL_OWNER                                                                        \
  "SELECT authenticator, (expires_at <= extract (epoch FROM now ())::bigint) "          \
  "FROM msgtrk_owner WHERE envid = $1"
#define SQL_FETCH_NODE                                                                   \
  "SELECT authenticator, expires_at, fields, version FROM msgtrk_record "               \
  "WHERE envid = $1 AND node = $2"
/* Every node's record, in node order; as many as one answer may hold. */
#define SQL_FETCH_ALL                                                                    \
  "SELECT authenticator, expires_at, fields FROM msgtrk_record WHERE envid = $1 "       \
  "ORDER BY node LIMIT " G_STRINGIFY (MSGTRK_REPORT_MAX_PARTS)
/* Every node's record of each ENVID of a batch of lookups (pg_fetch_all's coalescing):
 * one statement for the TRACKs waiting; the rows are given out per ENVID in C, at most
 * MSGTRK_REPORT_MAX_PARTS each, in node order as SQL_FETCH_ALL. */
#define SQL_FETCH_MANY                                                                   \
  "SELECT envid, authenticator, expires_at, fields FROM msgtrk_record "                 \
  "WHERE envid = ANY ($1) ORDER BY envid, node"
#define SQL_EXPIRE "SELECT msgtrk_expire ($1, $2)"

/* Parameter types (pg_type OIDs), given at PQprepare: every parameter is sent binary. */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25
#define OID_BYTEA_ARRAY 1001
#define OID_TEXT_ARRAY 1009
#define OID_INT8_ARRAY 1016

/* The statements, prepared once per connection (slot_connect). */
typedef enum
{
  STMT_PUT,
  STMT_PUT_MANY,
  STMT_OWNER,
  STMT_FETCH_NODE,
  STMT_FETCH_ALL,
  STMT_FETCH_MANY,
  STMT_EXPIRE,
  N_STMTS
} PgStmt;

static const struct
{
  const char *name;
  const char *sql;
  int n_params;
  Oid types[9];
} statements[N_STMTS] = {
  [STMT_PUT] = { "msgtrk_put", SQL_PUT, 6,
                 { OID_BYTEA, OID_TEXT, OID_INT8, OID_INT8, OID_BYTEA, OID_TEXT } },
  [STMT_PUT_MANY] = { "msgtrk_put_many", SQL_PUT_MANY, 9,
                      { OID_BYTEA_ARRAY, OID_TEXT_ARRAY, OID_INT8_ARRAY, OID_INT8_ARRAY,
                        OID_BYTEA_ARRAY, OID_TEXT_ARRAY, OID_BYTEA_ARRAY, OID_TEXT_ARRAY,
                        OID_INT8_ARRAY } },
  [STMT_OWNER] = { "msgtrk_owner", SQL_OWNER, 1, { OID_BYTEA } },
  [STMT_FETCH_NODE] = { "msgtrk_fetch_node", SQL_FETCH_NODE, 2, { OID_BYTEA, OID_TEXT } },
  [STMT_FETCH_ALL] = { "msgtrk_fetch_all", SQL_FETCH_ALL, 1, { OID_BYTEA } },
  [STMT_FETCH_MANY] = { "msgtrk_fetch_many", SQL_FETCH_MANY, 1, { OID_BYTEA_ARRAY } },
  [STMT_EXPIRE] = { "msgtrk_expire", SQL_EXPIRE, 2, { OID_INT8, OID_INT4 } },
};

typedef struct
{
  PGconn *conn;          /* (owned) (nullable) */
  gboolean schema_ok;    /* migrations checked and statements prepared on this connection */
} PgSlot;

typedef struct
{
  char *conninfo;        /* (owned) without a password */
  char *password;        /* (owned) (nullable) wiped on free */
  guint pool_size;
  PgSlot *slots;         /* (owned) pool_size */

  GMutex lock;           /* protects everything below */
  GCond cond;
  GQueue idle;           /* PgSlot* not in use */
  gint64 retry_at;       /* monotonic µs before which no new connection is tried */
  guint backoff_ms;      /* 0 when the last attempt succeeded */
  GQueue lookups;        /* PgLookup* waiting for a connection, oldest first */
  guint lookup_limit;    /* most connections running lookups at once (pg_lookup_limit) */
  guint lookups_running; /* connections running a lookup statement now */
  guint64 n_lookups;     /* lookups answered by SQL_FETCH_MANY */
  guint64 n_batches;     /* SQL_FETCH_MANY statements run */
  /* Asynchronous lookups (pg_fetch_all_async): lookup_limit runner threads, started at
   * the first one, each taking the queued lookups as a batch when its share of the pool
   * allows. */
  GPtrArray *runners;    /* (owned) (nullable) GThread* */
  GCond runner_cond;     /* a runner may have work */
  gboolean stopping;     /* pg_free: runners end once the queue is empty */
  gint64 stop_deadline;  /* monotonic µs, once stopping: no statement runs past it and
                          * no connection is started that could (statement_deadline) */
} PgStore;

/* One caller's lookup (pg_fetch_all), on its stack: queued until a caller with a free
 * connection takes it into a batch, then done. An asynchronous one (pg_fetch_all_async)
 * is allocated, owns its ENVID and has @done instead of a waiting caller. */
typedef struct
{
  const char *envid;
  TrackStoreRowsDone done_func; /* (nullable) asynchronous: called once, then freed */
  gpointer done_data;
  GCond cond;            /* signalled when done, or when a connection may be free */
  gboolean taken;        /* in a batch being run (no longer in PgStore.lookups) */
  gboolean done;         /* rows or error set */
  GPtrArray *rows;       /* (owned) (nullable) TrackStoreRow* */
  GError *error;         /* (owned) (nullable) */
} PgLookup;

static void
pg_free (gpointer impl)
{
  PgStore *self = impl;

  if (self->runners != NULL)
    {
      g_mutex_lock (&self->lock);
      self->stopping = TRUE;
      /* The runners answer what is queued, but within one client timeout: with a
       * frozen server each batch would otherwise wait its own (statement_deadline). */
      self->stop_deadline = g_get_monotonic_time ()
                            + (gint64) PG_CLIENT_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
      g_cond_broadcast (&self->runner_cond);
      g_mutex_unlock (&self->lock);
      for (guint i = 0; i < self->runners->len; i++)
        g_thread_join (self->runners->pdata[i]);
      g_ptr_array_unref (self->runners);
    }
  g_cond_clear (&self->runner_cond);
  /* Non-blocking connections (slot_connect): PQfinish does not wait for a frozen
   * server to take the Terminate message. */
  for (guint i = 0; i < self->pool_size; i++)
    if (self->slots[i].conn != NULL)
      PQfinish (self->slots[i].conn);
  g_free (self->slots);
  g_queue_clear (&self->idle);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  if (self->password != NULL)
    msgtrk_secure_wipe (self->password, strlen (self->password));
  g_free (self->password);
  g_free (self->conninfo);
  g_free (self);
}

/* The password file: a regular file owned by us, no group or other access. */
static char *
read_password_file (const char *path,
                    GError    **error)
{
  struct stat st;
  char buf[PG_MAX_PASSWORD_FILE + 1];
  gsize got = 0;
  int fd;

  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "Cannot open the PostgreSQL password file %s: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & 077) != 0)
    {
      close (fd);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                   "The PostgreSQL password file %s must be a regular file owned by this "
                   "user, with no group or other access (chmod 600)", path);
      return NULL;
    }
  for (;;)
    {
      ssize_t n = read (fd, buf + got, sizeof buf - got);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (gsize) n;
      if (got == sizeof buf)
        break;
    }
  close (fd);
  if (got > PG_MAX_PASSWORD_FILE)
    {
      msgtrk_secure_wipe (buf, sizeof buf);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The PostgreSQL password file %s has more than %d octets", path,
                   PG_MAX_PASSWORD_FILE);
      return NULL;
    }
  while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
    got--;
  if (got == 0 || memchr (buf, '\0', got) != NULL || memchr (buf, '\n', got) != NULL)
    {
      msgtrk_secure_wipe (buf, sizeof buf);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "The PostgreSQL password file %s must hold one line", path);
      return NULL;
    }
  {
    char *password = g_strndup (buf, got);

    msgtrk_secure_wipe (buf, sizeof buf);
    return password;
  }
}

/* How many of @pool_size connections may run lookups at once: half, at least one. The
 * other half is kept for writes (a put never waits behind a stream of TRACKs), and
 * lookups that find their share busy queue and are answered together: on two CPUs
 * shared with PostgreSQL, fewer and larger statements cost less CPU per TRACK than one
 * statement per connection (bench/README.md, "Fewer lookup statements"). */
static guint
pg_lookup_limit (guint pool_size)
{
  return MAX (pool_size / PG_LOOKUP_SHARE, 1);
}

/* Open the backend: check conninfo (no password in it), read the password file. No
 * connection yet: the first call connects. */
gpointer
track_store_pg_open (const char *conninfo,
                     const char *password_file,
                     guint       pool_size,
                     GError    **error)
{
  PgStore *self;
  PQconninfoOption *opts;
  char *errmsg = NULL;

  opts = PQconninfoParse (conninfo, &errmsg);
  if (opts == NULL)
    {
      /* libpq's message quotes no value of the string. */
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Configuration [store] conninfo is not valid: %s",
                   errmsg != NULL ? g_strchomp (errmsg) : "out of memory");
      PQfreemem (errmsg);
      return NULL;
    }
  for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
    if (strcmp (o->keyword, "password") == 0 && o->val != NULL)
      {
        PQconninfoFree (opts);
        g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                             "Configuration [store] conninfo must not hold a password: "
                             "put it in password_file");
        return NULL;
      }
  PQconninfoFree (opts);

  self = g_new0 (PgStore, 1);
  self->conninfo = g_strdup (conninfo);
  if (password_file != NULL)
    {
      self->password = read_password_file (password_file, error);
      if (self->password == NULL)
        {
          g_free (self->conninfo);
          g_free (self);
          return NULL;
        }
    }
  self->pool_size = pool_size;
  self->slots = g_new0 (PgSlot, pool_size);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_cond_init (&self->runner_cond);
  g_queue_init (&self->idle);
  g_queue_init (&self->lookups);
  for (guint i = 0; i < pool_size; i++)
    g_queue_push_tail (&self->idle, &self->slots[i]);
  self->lookup_limit = pg_lookup_limit (pool_size);
  return self;
}

static gboolean
connection_error (GError    **error,
                  const char *what,
                  PGconn     *conn)
{
  g_autofree char *msg = g_strdup (conn != NULL ? PQerrorMessage (conn) : "out of memory");

  g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT, "PostgreSQL %s: %s", what,
               g_strchomp (msg));
  return FALSE;
}

/* libpq's notices (e.g. "relation … already exists, skipping" at each new connection's
 * migration check) go to the debug log, not to stderr as libpq's default would. No
 * statement here raises a notice quoting a row. */
static void
notice_to_debug (void       *data,
                 const char *message)
{
  g_autofree char *line = g_strdup (message);

  g_debug ("PostgreSQL: %s", g_strchomp (line));
}

/* When a statement started now must have its answer (monotonic µs): PG_CLIENT_TIMEOUT_MS
 * from now, and never after pg_free's stop_deadline. */
static gint64
statement_deadline (PgStore *self)
{
  gint64 deadline = g_get_monotonic_time ()
                    + (gint64) PG_CLIENT_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  g_mutex_lock (&self->lock);
  if (self->stopping)
    deadline = MIN (deadline, self->stop_deadline);
  g_mutex_unlock (&self->lock);
  return deadline;
}

/* Wait until @conn's socket has one of @events or @deadline (monotonic µs) passed;
 * the events in @revents. Returns poll()'s count: 0 when the deadline passed. */
static int
conn_poll (PGconn *conn,
           short   events,
           gint64  deadline,
           short  *revents)
{
  struct pollfd pfd = { .fd = PQsocket (conn), .events = events };

  *revents = 0;
  if (pfd.fd < 0)
    {
      errno = EBADF;
      return -1;
    }
  for (;;)
    {
      gint64 left = deadline - g_get_monotonic_time ();
      int n;

      if (left <= 0)
        return 0;
      /* Rounded up: poll() waking a little early would only loop here. */
      n = poll (&pfd, 1, (int) MIN ((left + 999) / 1000, G_MAXINT));
      if (n < 0 && errno == EINTR)
        continue;
      *revents = pfd.revents;
      return n;
    }
}

/* The answer of the command just sent on @conn (non-blocking: slot_connect), waited for
 * until @deadline: send what the socket did not take yet, then read until the last
 * result, as PQexec would (which waits without a limit). Every statement of this file
 * ends here. Returns the last result (an error result for an SQL error or a lost
 * connection); NULL with MSGTRK_ERROR_CONNECT when the server did not answer in time:
 * then the connection is in an unknown state and must be closed (PQcancel is no way
 * out: it opens a new connection and waits for the frozen server to answer it). */
static PGresult *
conn_result (PGconn  *conn,
             gint64   deadline,
             GError **error)
{
  gint64 start = g_get_monotonic_time ();
  PGresult *last = NULL;
  short revents;
  int n = 0;

  /* Flushed when PQflush returns 0; -1 (a failed write) shows in the results. */
  while (PQflush (conn) == 1)
    {
      n = conn_poll (conn, POLLIN | POLLOUT, deadline, &revents);
      if (n <= 0)
        goto no_answer;
      /* The server may wait for its own output to be read before it reads more. */
      if ((revents & POLLIN) != 0 && !PQconsumeInput (conn))
        break;
    }
  for (;;)
    {
      while (!PQisBusy (conn))
        {
          PGresult *res = PQgetResult (conn);

          if (res == NULL)
            {
              if (last == NULL)
                connection_error (error, "no result", conn);
              return last;
            }
          if (last != NULL)
            PQclear (last);
          last = res;
          if (PQstatus (conn) == CONNECTION_BAD)
            return last;
        }
      n = conn_poll (conn, POLLIN, deadline, &revents);
      if (n <= 0)
        goto no_answer;
      /* A failure marks the connection bad: PQisBusy is then false and PQgetResult
       * gives the error result. */
      PQconsumeInput (conn);
    }

no_answer:
  if (last != NULL)
    PQclear (last);
  if (n < 0)
    {
      int saved = errno;

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT,
                   "PostgreSQL connection: poll failed: %s", g_strerror (saved));
    }
  else
    g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT,
                 "PostgreSQL did not answer within %" G_GINT64_FORMAT " ms",
                 (g_get_monotonic_time () - start) / G_TIME_SPAN_MILLISECOND);
  return NULL;
}

/* One simple query (several statements in one string allowed) on @conn, bounded as
 * every statement (conn_result): its last result, or NULL with @error when it could not
 * be sent or had no answer in time (the connection is then to be closed). */
static PGresult *
conn_exec (PgStore    *self,
           PGconn     *conn,
           const char *sql,
           GError    **error)
{
  if (!PQsendQuery (conn, sql))
    {
      connection_error (error, "statement not sent", conn);
      return NULL;
    }
  return conn_result (conn, statement_deadline (self), error);
}

/* After a connection attempt, or a statement whose server did not answer in time
 * (@reachable FALSE: it backs off the reconnections as a failed attempt does). */
static void
backoff_update (PgStore *self,
                gboolean reachable)
{
  g_mutex_lock (&self->lock);
  if (reachable)
    {
      if (self->backoff_ms > 0)
        g_message ("PostgreSQL reachable again");
      self->backoff_ms = 0;
    }
  else
    {
      self->backoff_ms = self->backoff_ms == 0 ? PG_BACKOFF_MIN_MS
                                               : MIN (self->backoff_ms * 2, PG_BACKOFF_MAX_MS);
      self->retry_at = g_get_monotonic_time () + (gint64) self->backoff_ms * 1000;
    }
  g_mutex_unlock (&self->lock);
}

/* Run the migrations the database has not seen, under the advisory lock. Each
 * statement bounded (conn_exec); with none answered in time, no ROLLBACK is tried (it
 * would wait as long): the caller closes the connection, which ends the transaction. */
static gboolean
migrate (PgStore *self,
         PGconn  *conn,
         GError **error)
{
  PGresult *res;
  int current = 0;
  gboolean ok = FALSE;

  res = conn_exec (self, conn,
                   "BEGIN; SELECT pg_advisory_xact_lock (" PG_MIGRATION_LOCK_ID ");"
                   "CREATE TABLE IF NOT EXISTS msgtrk_schema_version (version integer "
                   "NOT NULL);", error);
  if (res == NULL)
    return FALSE;
  if (PQresultStatus (res) != PGRES_COMMAND_OK)
    goto fail;
  PQclear (res);
  res = conn_exec (self, conn, "SELECT coalesce (max (version), 0) FROM msgtrk_schema_version",
                   error);
  if (res == NULL)
    return FALSE;
  if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1)
    goto fail;
  current = atoi (PQgetvalue (res, 0, 0));
  PQclear (res);
  res = NULL;
  if (current > PG_SCHEMA_VERSION)
    {
      PQclear (conn_exec (self, conn, "ROLLBACK", NULL));
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_UNSUPPORTED,
                   "The PostgreSQL tracking schema is version %d, newer than this "
                   "program's %d", current, PG_SCHEMA_VERSION);
      return FALSE;
    }
  for (int v = current + 1; v <= PG_SCHEMA_VERSION; v++)
    {
      g_autofree char *record = g_strdup_printf ("INSERT INTO msgtrk_schema_version VALUES (%d)",
                                                 v);

      res = conn_exec (self, conn, migrations[v - 1], error);
      if (res == NULL)
        return FALSE;
      if (PQresultStatus (res) != PGRES_COMMAND_OK)
        goto fail;
      PQclear (res);
      res = conn_exec (self, conn, record, error);
      if (res == NULL)
        return FALSE;
      if (PQresultStatus (res) != PGRES_COMMAND_OK)
        goto fail;
      PQclear (res);
      g_message ("PostgreSQL tracking schema migrated to version %d", v);
    }
  res = conn_exec (self, conn, "COMMIT", error);
  if (res == NULL)
    return FALSE;
  ok = PQresultStatus (res) == PGRES_COMMAND_OK;
  if (ok)
    {
      PQclear (res);
      return TRUE;
    }
fail:
  {
    g_autofree char *msg = g_strdup (PQerrorMessage (conn));

    g_set_error (error, MSGTRK_ERROR,
                 PQstatus (conn) == CONNECTION_OK ? MSGTRK_ERROR_FAILED : MSGTRK_ERROR_CONNECT,
                 "PostgreSQL schema migration: %s", g_strchomp (msg));
  }
  if (res != NULL)
    PQclear (res);
  if (PQstatus (conn) == CONNECTION_OK)
    PQclear (conn_exec (self, conn, "ROLLBACK", NULL));
  return FALSE;
}

/* Prepare every statement on a new connection, each bounded (conn_result). */
static gboolean
prepare_statements (PgStore *self,
                    PGconn  *conn,
                    GError **error)
{
  for (int i = 0; i < N_STMTS; i++)
    {
      PGresult *res;
      gboolean ok;

      if (!PQsendPrepare (conn, statements[i].name, statements[i].sql,
                          statements[i].n_params, statements[i].types))
        return connection_error (error, "prepare", conn);
      res = conn_result (conn, statement_deadline (self), error);
      if (res == NULL)
        return FALSE;
      ok = PQresultStatus (res) == PGRES_COMMAND_OK;
      PQclear (res);
      if (!ok)
        return connection_error (error, "prepare", conn);
    }
  return TRUE;
}

/* Make @slot's connection usable: connect (respecting the backoff), migrate, prepare.
 * Bounded: the connection by PG_CONNECT_TIMEOUT_SECONDS (libpq's connect_timeout, per
 * host address), each statement after it by PG_CLIENT_TIMEOUT_MS. A connection that
 * failed any step is closed at once. */
static gboolean
slot_connect (PgStore *self,
              PgSlot  *slot,
              GError **error)
{
  /* expand_dbname=1: "dbname" holds the whole conninfo; the later keys override it (the
   * bounds here are not the conninfo's to loosen). The password comes last and only
   * from the file. */
  const char *keys[] = { "dbname", "connect_timeout", "keepalives", "keepalives_idle",
                         "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                         "options", "application_name", "password", NULL };
  const char *values[] = { self->conninfo, G_STRINGIFY (PG_CONNECT_TIMEOUT_SECONDS), "1",
                           G_STRINGIFY (PG_KEEPALIVES_IDLE_SECONDS),
                           G_STRINGIFY (PG_KEEPALIVES_INTERVAL_SECONDS),
                           G_STRINGIFY (PG_KEEPALIVES_COUNT),
                           G_STRINGIFY (PG_TCP_USER_TIMEOUT_MS),
                           "-c statement_timeout=" G_STRINGIFY (PG_STATEMENT_TIMEOUT_MS)
                           " -c plan_cache_mode=force_generic_plan",
                           g_get_prgname (), self->password, NULL };
  gint64 now = g_get_monotonic_time ();
  gboolean ok;

  if (slot->conn != NULL && PQstatus (slot->conn) == CONNECTION_OK && slot->schema_ok)
    return TRUE;

  g_mutex_lock (&self->lock);
  /* Closing (pg_free): no attempt that could outlast stop_deadline. */
  if (self->stopping
      && now + PG_CONNECT_TIMEOUT_SECONDS * G_USEC_PER_SEC > self->stop_deadline)
    {
      g_mutex_unlock (&self->lock);
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT,
                           "The PostgreSQL store is closing");
      return FALSE;
    }
  if (self->backoff_ms > 0 && now < self->retry_at)
    {
      g_mutex_unlock (&self->lock);
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT,
                   "PostgreSQL is unreachable; next attempt in %" G_GINT64_FORMAT " ms",
                   (self->retry_at - now) / 1000);
      return FALSE;
    }
  g_mutex_unlock (&self->lock);

  g_clear_pointer (&slot->conn, PQfinish);
  slot->schema_ok = FALSE;
  slot->conn = PQconnectdbParams (keys, values, 1);
  ok = slot->conn != NULL && PQstatus (slot->conn) == CONNECTION_OK;
  if (!ok)
    connection_error (error, "connection failed", slot->conn);
  else
    {
      PQsetNoticeProcessor (slot->conn, notice_to_debug, NULL);
      /* Non-blocking: a send (or PQfinish's Terminate) never waits for a frozen server
       * to drain the socket; conn_result flushes within the statement's deadline. */
      if (PQsetnonblocking (slot->conn, 1) != 0)
        ok = connection_error (error, "non-blocking mode", slot->conn);
      ok = ok && migrate (self, slot->conn, error) && prepare_statements (self, slot->conn,
                                                                          error);
      slot->schema_ok = ok;
    }
  if (!ok)
    g_clear_pointer (&slot->conn, PQfinish);
  backoff_update (self, ok);
  return ok;
}

static PgSlot *
slot_acquire (PgStore *self,
              GError **error)
{
  gint64 deadline = g_get_monotonic_time () + PG_POOL_WAIT_SECONDS * G_USEC_PER_SEC;
  PgSlot *slot;

  g_mutex_lock (&self->lock);
  while ((slot = g_queue_pop_head (&self->idle)) == NULL)
    if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
      {
        g_mutex_unlock (&self->lock);
        g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TIMEOUT,
                     "No PostgreSQL connection free within %d s (pool_size %u)",
                     PG_POOL_WAIT_SECONDS, self->pool_size);
        return NULL;
      }
  g_mutex_unlock (&self->lock);
  return slot;
}

/* A connection was made idle (under the lock): wake the oldest queued lookup (it runs
 * the queued ones as a batch, pg_fetch_all; a runner for an asynchronous one) and one
 * caller of slot_acquire. */
static void
wake_lookup_head (PgStore *self)
{
  PgLookup *head = g_queue_peek_head (&self->lookups);

  if (head == NULL)
    return;
  if (head->done_func != NULL)
    g_cond_signal (&self->runner_cond);
  else
    g_cond_signal (&head->cond);
}

static void
wake_for_slot (PgStore *self)
{
  wake_lookup_head (self);
  g_cond_signal (&self->cond);
}

static void
slot_release (PgStore *self,
              PgSlot  *slot)
{
  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->idle, slot);
  wake_for_slot (self);
  g_mutex_unlock (&self->lock);
}

/* Run one statement with binary parameters and binary results, within
 * PG_CLIENT_TIMEOUT_MS (conn_result). A broken connection is reconnected and the
 * statement run once more (every statement here is idempotent). A server that did not
 * answer in time is not asked again: the connection is closed (the next use reconnects,
 * after the backoff) and the call fails with MSGTRK_ERROR_CONNECT, as for a lost
 * connection (mtqpd answers -TEMP, writers take their retry paths). */
static PGresult *
slot_exec (PgStore           *self,
           PgSlot            *slot,
           PgStmt             stmt,
           const char *const *values,
           const int         *lengths,
           GError           **error)
{
  int formats[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
  int n_params = statements[stmt].n_params;

  g_assert (n_params <= (int) G_N_ELEMENTS (formats));
  for (int attempt = 0; attempt < 2; attempt++)
    {
      g_autoptr (GError) local = NULL;
      PGresult *res;
      ExecStatusType st;

      if (!slot_connect (self, slot, &local))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return NULL;
        }
      if (!PQsendQueryPrepared (slot->conn, statements[stmt].name, n_params, values,
                                lengths, formats, 1))
        {
          /* Not sent: a connection found broken (reconnected as below), or out of
           * memory. */
          slot->schema_ok = FALSE;
          if (attempt == 0 && PQstatus (slot->conn) != CONNECTION_OK)
            {
              g_message ("PostgreSQL connection lost; reconnecting");
              continue;
            }
          connection_error (error, "statement not sent", slot->conn);
          return NULL;
        }
      res = conn_result (slot->conn, statement_deadline (self), &local);
      if (res == NULL)
        {
          g_message ("%s; closing the connection", local->message);
          g_clear_pointer (&slot->conn, PQfinish);
          slot->schema_ok = FALSE;
          backoff_update (self, FALSE);
          g_propagate_error (error, g_steal_pointer (&local));
          return NULL;
        }
      st = PQresultStatus (res);
      if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
      if (PQstatus (slot->conn) != CONNECTION_OK)
        {
          PQclear (res);
          slot->schema_ok = FALSE;
          if (attempt == 0)
            {
              g_message ("PostgreSQL connection lost; reconnecting");
              continue;
            }
          connection_error (error, "connection lost", slot->conn);
          return NULL;
        }
      {
        const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY);
        /* The primary message only: a DETAIL line can quote the row ("Failing row
         * contains …"), that is B and the fields. */
        g_autofree char *msg = g_strdup_printf ("%s (SQLSTATE %s)",
                                                primary != NULL ? primary : "error",
                                                state != NULL ? state : "?");
        /* 57P01 admin shutdown, 57014 statement timeout, 08xxx connection: temporary. */
        gboolean temp = state != NULL && (g_str_has_prefix (state, "57")
                                          || g_str_has_prefix (state, "08")
                                          || g_str_has_prefix (state, "40")
                                          || g_str_has_prefix (state, "53"));

        g_set_error (error, MSGTRK_ERROR, temp ? MSGTRK_ERROR_CONNECT : MSGTRK_ERROR_FAILED,
                     "PostgreSQL: %s", g_strchomp (msg));
        PQclear (res);
        return NULL;
      }
    }
  g_assert_not_reached ();
}

static gint64
get_int8 (PGresult *res,
          int       row,
          int       col)
{
  guint64 v = 0;

  if (PQgetlength (res, row, col) == 8)
    {
      memcpy (&v, PQgetvalue (res, row, col), 8);
      v = GUINT64_FROM_BE (v);
    }
  return (gint64) v;
}

/* One row of SQL_FETCH_NODE / SQL_FETCH_ALL, checked: its first three columns
 * (authenticator, expires_at, fields). */
static TrackStoreRow *
row_read (PGresult *res,
          int       row,
          GError  **error)
{
  if (PQnfields (res) < 3 || PQgetlength (res, row, 1) != 8)
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "PostgreSQL returned a malformed tracking row");
      return NULL;
    }
  return track_store_row_new (g_strndup (PQgetvalue (res, row, 0),
                                         (gsize) PQgetlength (res, row, 0)),
                              get_int8 (res, row, 1),
                              g_strndup (PQgetvalue (res, row, 2),
                                         (gsize) PQgetlength (res, row, 2)));
}

/* The owner of @envid: its B, and whether it expired by the database's clock. */
static gboolean
fetch_owner (PgStore    *self,
             PgSlot     *slot,
             const char *envid,
             char      **authenticator,
             gboolean   *expired,
             GError    **error)
{
  const char *values[1] = { envid };
  int lengths[1] = { (int) strlen (envid) };
  PGresult *res;

  res = slot_exec (self, slot, STMT_OWNER, values, lengths, error);
  if (res == NULL)
    return FALSE;
  if (PQntuples (res) == 0)
    {
      PQclear (res);
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                           "No tracking record for this ENVID");
      return FALSE;
    }
  if (PQnfields (res) != 2 || PQgetlength (res, 0, 1) != 1)
    {
      PQclear (res);
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                           "PostgreSQL returned a malformed owner row");
      return FALSE;
    }
  *authenticator = g_strndup (PQgetvalue (res, 0, 0), (gsize) PQgetlength (res, 0, 0));
  *expired = PQgetvalue (res, 0, 1)[0] != 0;
  PQclear (res);
  return TRUE;
}

static gboolean
pg_put_node (gpointer    impl,
             const char *node,
             const char *envid,
             const char *authenticator,
             gint64      expires,
             gint64      version,
             const char *fields,
             GError    **error)
{
  PgStore *self = impl;
  guint64 expires_be = GUINT64_TO_BE ((guint64) expires);
  guint64 version_be = GUINT64_TO_BE ((guint64) version);
  const char *values[6] = { envid, authenticator, (const char *) &expires_be,
                            (const char *) &version_be, fields, node };
  int lengths[6] = { (int) strlen (envid), (int) strlen (authenticator), 8, 8,
                     (int) strlen (fields), (int) strlen (node) };
  gboolean ok = FALSE;
  PgSlot *slot;

  slot = slot_acquire (self, error);
  if (slot == NULL)
    return FALSE;
  /* Twice at most: an owner row deleted by expiry between the upsert and the check. */
  for (int attempt = 0; attempt < 2 && !ok; attempt++)
    {
      g_autofree char *owner_auth = NULL;
      g_autoptr (GError) local = NULL;
      gboolean expired = FALSE;
      PGresult *res;
      int written;

      res = slot_exec (self, slot, STMT_PUT, values, lengths, error);
      if (res == NULL)
        break;
      written = PQntuples (res);
      PQclear (res);
      if (written == 1)
        {
          ok = TRUE;
          break;
        }
      /* Not written: another owner's live ENVID, or a stale/duplicate version. */
      if (!fetch_owner (self, slot, envid, &owner_auth, &expired, &local))
        {
          if (g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
            continue;
          g_propagate_error (error, g_steal_pointer (&local));
          break;
        }
      if (!expired && !track_store_authenticator_equal (owner_auth, authenticator))
        {
          g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET,
                               "This ENVID is tracked for another authenticator until its "
                               "record expires; the record is kept");
          break;
        }
      ok = TRUE; /* same owner, newer or equal version stored: dropped */
    }
  if (!ok && error != NULL && *error == NULL)
    g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                         "The tracking record could not be written (concurrent expiry)");
  slot_release (self, slot);
  return ok;
}

/* How pg_put_many takes each write of a batch. */
typedef enum
{
  PUT_IN_STATEMENT, /* one of SQL_PUT_MANY's rows (the kept write of its (ENVID, node)) */
  PUT_SUPERSEDED,   /* same ENVID, node and B as a higher (or equal, earlier) version in
                     * the statement: stored or dropped as that one is */
  PUT_DEFERRED,     /* pg_put_node after the statement, in batch order */
} PutWay;

/* Open a binary one-dimension array of @n elements of type @elem (array_recv). */
static GByteArray *
array_new (Oid   elem,
           guint n)
{
  GByteArray *a = g_byte_array_sized_new (20 + n * 16);
  guint32 head[5] = { GUINT32_TO_BE (1), 0, GUINT32_TO_BE (elem), GUINT32_TO_BE (n),
                      GUINT32_TO_BE (1) };

  g_byte_array_append (a, (const guint8 *) head, sizeof head);
  return a;
}

static void
array_add (GByteArray *a,
           const void *data,
           gsize       len)
{
  guint32 len_be = GUINT32_TO_BE ((guint32) len);

  g_byte_array_append (a, (const guint8 *) &len_be, 4);
  g_byte_array_append (a, data, (guint) len);
}

static void
array_add_int8 (GByteArray *a,
                gint64      v)
{
  guint64 be = GUINT64_TO_BE ((guint64) v);

  array_add (a, &be, 8);
}

/* One ENVID of a batch: its first B, and whether a write of another B came since. */
typedef struct
{
  const char *authenticator;
  gboolean other_b;
  gint64 owner_expires; /* the latest expiry of its writes in the statement */
} PutEnvid;

/* put_many: the whole batch in one statement (SQL_PUT_MANY), one round trip and one
 * transaction, with the result of writing each one by one:
 *   - an ENVID's writes go into the statement with the batch's first B for it, up to the
 *     first write of another B; that write and every later one of the ENVID are done by
 *     pg_put_node after the statement, in batch order (a takeover attempt classified as
 *     by a put of its own; an owner that expired meanwhile taken over as one by one);
 *   - several writes of one (ENVID, node) with that B (ON CONFLICT cannot touch a row
 *     twice in one statement): the highest version goes into the statement (the earlier
 *     one of equal versions), the others are stored or dropped with it, as one by one;
 *     except when one of them expires within PG_PUT_MANY_EXPIRY_SLACK seconds (an
 *     expired record is overwritten even by an older version, by the database's clock):
 *     then the later ones are deferred too;
 *   - a write the statement did not write (another owner, a stale or duplicate version)
 *     is classified by pg_put_node, which runs the idempotent SQL_PUT again; a write
 *     superseded by one that was not written, too;
 *   - if the statement fails as a whole (a lost connection, an error), every write is
 *     done by pg_put_node; except when the database does not answer (a connection that
 *     cannot be made, a statement past PG_CLIENT_TIMEOUT_MS: the store backs off): then
 *     every write fails with the statement's error at once (one by one, each would wait
 *     for its own attempt or deadline; the callers retry, a push node resends). */
static void
pg_put_many (gpointer         impl,
             TrackStoreWrite *writes,
             guint            n)
{
  PgStore *self = impl;
  g_autofree PutWay *way = g_new0 (PutWay, n);
  /* For each write not deferred: the first write of its (ENVID, node), which names the
   * group; for a group's first write j: top[j] the write in the statement, deferred[j]
   * whether one of the group was deferred (then every later one is), written[j]. */
  g_autofree guint *group = g_new0 (guint, n);
  g_autofree guint *top = g_new0 (guint, n);
  g_autofree gboolean *deferred = g_new0 (gboolean, n);
  g_autofree gboolean *written = g_new0 (gboolean, n);
  g_autoptr (GHashTable) envids = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                         g_free);
  g_autoptr (GHashTable) rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) owners = g_ptr_array_new (); /* const char* ENVIDs, batch order */
  gint64 soon = g_get_real_time () / G_USEC_PER_SEC + PG_PUT_MANY_EXPIRY_SLACK;
  g_autoptr (GError) unreachable = NULL;
  guint n_rows = 0;
  gboolean ok = FALSE;
  gboolean gone = FALSE;

  for (guint i = 0; i < n; i++)
    {
      TrackStoreWrite *w = &writes[i];
      PutEnvid *e = g_hash_table_lookup (envids, w->envid);
      char *key;
      gpointer k;
      guint j;

      if (e == NULL)
        {
          e = g_new0 (PutEnvid, 1);
          e->authenticator = w->authenticator;
          e->owner_expires = w->expires;
          g_hash_table_insert (envids, (gpointer) w->envid, e);
          g_ptr_array_add (owners, (gpointer) w->envid);
        }
      else if (!e->other_b && !track_store_authenticator_equal (e->authenticator,
                                                                w->authenticator))
        e->other_b = TRUE;
      if (e->other_b)
        {
          way[i] = PUT_DEFERRED;
          continue;
        }
      /* A node name holds no newline: the last one ends the ENVID. */
      key = g_strconcat (w->envid, "\n", w->node, NULL);
      if (!g_hash_table_lookup_extended (rows, key, NULL, &k))
        {
          way[i] = PUT_IN_STATEMENT;
          group[i] = top[i] = i;
          g_hash_table_insert (rows, key, GUINT_TO_POINTER (i));
          e->owner_expires = MAX (e->owner_expires, w->expires);
          n_rows++;
          continue;
        }
      g_free (key);
      j = GPOINTER_TO_UINT (k);
      if (deferred[j] || w->expires <= soon || writes[top[j]].expires <= soon)
        {
          deferred[j] = TRUE;
          way[i] = PUT_DEFERRED;
          continue;
        }
      group[i] = j;
      e->owner_expires = MAX (e->owner_expires, w->expires);
      if (w->version > writes[top[j]].version)
        {
          way[top[j]] = PUT_SUPERSEDED;
          way[i] = PUT_IN_STATEMENT;
          top[j] = i;
        }
      else
        way[i] = PUT_SUPERSEDED;
    }

  if (n_rows > 0)
    {
      g_autoptr (GByteArray) a_envid = array_new (OID_BYTEA, n_rows);
      g_autoptr (GByteArray) a_auth = array_new (OID_TEXT, n_rows);
      g_autoptr (GByteArray) a_expires = array_new (OID_INT8, n_rows);
      g_autoptr (GByteArray) a_version = array_new (OID_INT8, n_rows);
      g_autoptr (GByteArray) a_fields = array_new (OID_BYTEA, n_rows);
      g_autoptr (GByteArray) a_node = array_new (OID_TEXT, n_rows);
      g_autoptr (GByteArray) o_envid = array_new (OID_BYTEA, owners->len);
      g_autoptr (GByteArray) o_auth = array_new (OID_TEXT, owners->len);
      g_autoptr (GByteArray) o_expires = array_new (OID_INT8, owners->len);
      g_autoptr (GError) error = NULL;
      GByteArray *params[9] = { a_envid, a_auth, a_expires, a_version, a_fields, a_node,
                                o_envid, o_auth, o_expires };
      const char *values[9];
      int lengths[9];
      PGresult *res = NULL;
      PgSlot *slot;

      for (guint i = 0; i < n; i++)
        if (way[i] == PUT_IN_STATEMENT)
          {
            TrackStoreWrite *w = &writes[i];

            array_add (a_envid, w->envid, strlen (w->envid));
            array_add (a_auth, w->authenticator, strlen (w->authenticator));
            array_add_int8 (a_expires, w->expires);
            array_add_int8 (a_version, w->version);
            array_add (a_fields, w->fields, strlen (w->fields));
            array_add (a_node, w->node, strlen (w->node));
          }
      for (guint i = 0; i < owners->len; i++)
        {
          const char *envid = owners->pdata[i];
          PutEnvid *e = g_hash_table_lookup (envids, envid);

          array_add (o_envid, envid, strlen (envid));
          array_add (o_auth, e->authenticator, strlen (e->authenticator));
          array_add_int8 (o_expires, e->owner_expires);
        }
      for (guint p = 0; p < G_N_ELEMENTS (params); p++)
        {
          values[p] = (const char *) params[p]->data;
          lengths[p] = (int) params[p]->len;
        }
      slot = slot_acquire (self, &error);
      /* No slot (the pool stayed busy or none could connect), or the slot's connection
       * closed by the failure (no answer in time, lost): one by one, each write would wait
       * as long again, so the batch fails whole (the nodes resend). Not inferred from the
       * store-wide backoff, which another slot's timeout may have set while this one got
       * an answer (a deadlock, a serialization failure: those go one by one). */
      gone = slot == NULL;
      if (slot != NULL)
        {
          res = slot_exec (self, slot, STMT_PUT_MANY, values, lengths, &error);
          gone = res == NULL && slot->conn == NULL;
          slot_release (self, slot);
        }
      if (res != NULL && PQnfields (res) == 2)
        {
          ok = TRUE;
          for (int r = 0; r < PQntuples (res); r++)
            {
              g_autofree char *key = NULL;
              gpointer k;

              key = g_strdup_printf ("%.*s\n%.*s", PQgetlength (res, r, 0),
                                     PQgetvalue (res, r, 0), PQgetlength (res, r, 1),
                                     PQgetvalue (res, r, 1));
              if (g_hash_table_lookup_extended (rows, key, NULL, &k))
                written[GPOINTER_TO_UINT (k)] = TRUE;
            }
        }
      else if (error != NULL && gone
               && (slot == NULL || g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_CONNECT)))
        unreachable = g_steal_pointer (&error);
      else if (error != NULL)
        g_debug ("put_many: %s; writing one by one", error->message);
      g_clear_pointer (&res, PQclear);
    }

  for (guint i = 0; i < n; i++)
    {
      TrackStoreWrite *w = &writes[i];

      if (unreachable != NULL)
        {
          w->error = g_error_copy (unreachable);
          continue;
        }
      /* Written, or superseded by a write that was: done. */
      if (ok && way[i] != PUT_DEFERRED && written[group[i]])
        continue;
      pg_put_node (impl, w->node, w->envid, w->authenticator, w->expires, w->version,
                   w->fields, &w->error);
    }
}

static gboolean
pg_fetch_node (gpointer    impl,
               const char *node,
               const char *envid,
               char      **authenticator,
               gint64     *expires,
               gint64     *version,
               char      **fields,
               GError    **error)
{
  PgStore *self = impl;
  const char *values[2] = { envid, node };
  int lengths[2] = { (int) strlen (envid), (int) strlen (node) };
  PgSlot *slot = slot_acquire (self, error);
  TrackStoreRow *row = NULL;
  PGresult *res;

  if (slot == NULL)
    return FALSE;
  res = slot_exec (self, slot, STMT_FETCH_NODE, values, lengths, error);
  slot_release (self, slot);
  if (res == NULL)
    return FALSE;
  if (PQntuples (res) == 0)
    g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                         "No tracking record for this ENVID");
  else if (PQnfields (res) != 4 || PQgetlength (res, 0, 3) != 8)
    g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                         "PostgreSQL returned a malformed tracking row");
  else
    row = row_read (res, 0, error);
  if (row != NULL)
    *version = get_int8 (res, 0, 3);
  PQclear (res);
  if (row == NULL)
    return FALSE;
  *authenticator = g_steal_pointer (&row->authenticator);
  *expires = row->expires;
  *fields = g_steal_pointer (&row->fields);
  track_store_row_free (row);
  return TRUE;
}

/* SQL_FETCH_ALL on @slot: every node's record of @envid; NOT_FOUND when none. */
static GPtrArray *
fetch_all_on (PgStore    *self,
              PgSlot     *slot,
              const char *envid,
              GError    **error)
{
  const char *values[1] = { envid };
  int lengths[1] = { (int) strlen (envid) };
  g_autoptr (GPtrArray) rows = NULL;
  PGresult *res;

  res = slot_exec (self, slot, STMT_FETCH_ALL, values, lengths, error);
  if (res == NULL)
    return NULL;
  rows = g_ptr_array_new_with_free_func (track_store_row_free);
  for (int i = 0; i < PQntuples (res); i++)
    {
      TrackStoreRow *row = row_read (res, i, error);

      if (row == NULL)
        {
          PQclear (res);
          return NULL;
        }
      g_ptr_array_add (rows, row);
    }
  PQclear (res);
  if (rows->len == 0)
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                           "No tracking record for this ENVID");
      return NULL;
    }
  return g_steal_pointer (&rows);
}

/* The binary form of a one-dimension bytea[] of the batch's ENVIDs (array_recv). */
static GByteArray *
envid_array (PgLookup **batch,
             guint      n)
{
  GByteArray *a = g_byte_array_new ();
  guint32 head[5] = { GUINT32_TO_BE (1), 0, GUINT32_TO_BE (OID_BYTEA), GUINT32_TO_BE (n),
                      GUINT32_TO_BE (1) };

  g_byte_array_append (a, (const guint8 *) head, sizeof head);
  for (guint i = 0; i < n; i++)
    {
      guint32 len = (guint32) strlen (batch[i]->envid);
      guint32 len_be = GUINT32_TO_BE (len);

      g_byte_array_append (a, (const guint8 *) &len_be, 4);
      g_byte_array_append (a, (const guint8 *) batch[i]->envid, len);
    }
  return a;
}

/* Run one SQL_FETCH_MANY for @batch on @slot and give each lookup its rows (every
 * lookup of the same ENVID its own copy), NOT_FOUND or the statement's error. No lock
 * held. */
static void
run_lookup_batch (PgStore   *self,
                  PgSlot    *slot,
                  PgLookup **batch,
                  guint      n)
{
  g_autoptr (GByteArray) param = NULL;
  g_autoptr (GHashTable) by_envid = NULL;
  g_autoptr (GError) error = NULL;
  const char *values[1];
  int lengths[1];
  PGresult *res;

  if (n == 1)
    {
      /* Alone (a connection was free): SQL_FETCH_ALL, cheaper than an array of one. */
      batch[0]->rows = fetch_all_on (self, slot, batch[0]->envid, &batch[0]->error);
      return;
    }
  param = envid_array (batch, n);
  by_envid = g_hash_table_new (g_str_hash, g_str_equal);
  values[0] = (const char *) param->data;
  lengths[0] = (int) param->len;
  for (guint i = 0; i < n; i++)
    {
      /* Lookups of one ENVID are chained through their rows field until answered. */
      batch[i]->rows = g_ptr_array_new_with_free_func (track_store_row_free);
      if (!g_hash_table_contains (by_envid, batch[i]->envid))
        g_hash_table_insert (by_envid, (gpointer) batch[i]->envid, GUINT_TO_POINTER (i + 1));
    }
  res = slot_exec (self, slot, STMT_FETCH_MANY, values, lengths, &error);
  if (res != NULL && PQnfields (res) != 4)
    g_set_error_literal (&error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                         "PostgreSQL returned a malformed tracking row");
  for (int r = 0; res != NULL && error == NULL && r < PQntuples (res); r++)
    {
      g_autofree char *envid = g_strndup (PQgetvalue (res, r, 0),
                                          (gsize) PQgetlength (res, r, 0));
      guint first = GPOINTER_TO_UINT (g_hash_table_lookup (by_envid, envid));
      PgLookup *l;

      if (first == 0 || batch[first - 1]->rows->len >= MSGTRK_REPORT_MAX_PARTS)
        continue; /* an ENVID with a NUL octet cannot be asked; past the parts limit */
      l = batch[first - 1];
      {
        /* Columns 1..3 are SQL_FETCH_ALL's 0..2: checked and read by row_read. */
        TrackStoreRow *row = NULL;

        if (PQgetlength (res, r, 2) == 8)
          row = track_store_row_new (g_strndup (PQgetvalue (res, r, 1),
                                                (gsize) PQgetlength (res, r, 1)),
                                     get_int8 (res, r, 2),
                                     g_strndup (PQgetvalue (res, r, 3),
                                                (gsize) PQgetlength (res, r, 3)));
        if (row == NULL)
          {
            g_set_error_literal (&error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                                 "PostgreSQL returned a malformed tracking row");
            break;
          }
        g_ptr_array_add (l->rows, row);
      }
    }
  if (res != NULL)
    PQclear (res);
  /* Each lookup its answer; a copy for a second lookup of the same ENVID (the first's
   * rows are emptied only after every copy was made). */
  for (guint i = 0; i < n; i++)
    {
      PgLookup *l = batch[i];
      guint first = GPOINTER_TO_UINT (g_hash_table_lookup (by_envid, l->envid));
      GPtrArray *src = batch[first - 1]->rows;

      if (error != NULL)
        l->error = g_error_copy (error);
      else if (src->len == 0)
        g_set_error_literal (&l->error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                             "No tracking record for this ENVID");
      else if (first - 1 != i)
        for (guint j = 0; j < src->len; j++)
          {
            TrackStoreRow *row = src->pdata[j];

            g_ptr_array_add (l->rows, track_store_row_new (g_strdup (row->authenticator),
                                                           row->expires,
                                                           g_strdup (row->fields)));
          }
    }
  for (guint i = 0; i < n; i++)
    if (batch[i]->error != NULL)
      g_clear_pointer (&batch[i]->rows, g_ptr_array_unref);
}

/* A batch was run (under the lock): each waiting caller is told, the connection is idle
 * again. Returns how many asynchronous lookups the batch has, moved to its front, to
 * answer with batch_call_async() once the lock is released: a waiting caller's lookup
 * lives on its stack and is never touched again once it is told (the caller may have
 * returned as soon as the lock is released). */
static guint
batch_done (PgStore   *self,
            PgSlot    *slot,
            PgLookup **batch,
            guint      n)
{
  guint n_async = 0;

  for (guint i = 0; i < n; i++)
    if (batch[i]->done_func == NULL)
      {
        batch[i]->done = TRUE;
        g_cond_signal (&batch[i]->cond);
      }
    else
      batch[n_async++] = batch[i];
  self->lookups_running--;
  g_queue_push_tail (&self->idle, slot);
  wake_for_slot (self);
  return n_async;
}

/* The asynchronous lookups of a batch, as left by batch_done() (no lock held): their
 * answer, then freed. */
static void
batch_call_async (PgLookup **batch,
                  guint      n)
{
  for (guint i = 0; i < n; i++)
    {
      PgLookup *l = batch[i];

      l->done_func (g_steal_pointer (&l->rows), g_steal_pointer (&l->error), l->done_data);
      g_free ((char *) l->envid);
      g_cond_clear (&l->cond);
      g_free (l);
    }
}

/* Take the queued lookups, up to PG_LOOKUP_BATCH, after @first (nullable) into @batch
 * (under the lock, with @slot taken); returns how many. */
static guint
batch_take (PgStore   *self,
            PgLookup  *first,
            PgLookup **batch)
{
  guint n = 0;

  if (first != NULL)
    {
      g_queue_remove (&self->lookups, first);
      first->taken = TRUE;
      batch[n++] = first;
    }
  while (n < PG_LOOKUP_BATCH && !g_queue_is_empty (&self->lookups))
    {
      PgLookup *l = g_queue_pop_head (&self->lookups);

      l->taken = TRUE;
      batch[n++] = l;
    }
  self->lookups_running++;
  /* More queued than one batch, and another connection idle: its own leader. */
  if (!g_queue_is_empty (&self->lookups) && !g_queue_is_empty (&self->idle)
      && self->lookups_running < self->lookup_limit)
    wake_lookup_head (self);
  self->n_lookups += n;
  self->n_batches++;
  return n;
}

/* A runner of asynchronous lookups: whenever lookups are queued and a connection of the
 * lookups' share is free, one batch. */
static gpointer
lookup_runner (gpointer data)
{
  PgStore *self = data;
  PgLookup **batch = g_new (PgLookup *, PG_LOOKUP_BATCH);

  g_mutex_lock (&self->lock);
  while (!self->stopping || !g_queue_is_empty (&self->lookups))
    {
      PgSlot *slot = NULL;
      guint n;

      if (!g_queue_is_empty (&self->lookups) && self->lookups_running < self->lookup_limit)
        slot = g_queue_pop_head (&self->idle);
      if (slot == NULL)
        {
          g_cond_wait (&self->runner_cond, &self->lock);
          continue;
        }
      n = batch_take (self, NULL, batch);
      g_mutex_unlock (&self->lock);
      run_lookup_batch (self, slot, batch, n);
      g_mutex_lock (&self->lock);
      n = batch_done (self, slot, batch, n);
      g_mutex_unlock (&self->lock);
      batch_call_async (batch, n);
      g_mutex_lock (&self->lock);
    }
  g_mutex_unlock (&self->lock);
  g_free (batch);
  return NULL;
}

/* fetch_all of @n ENVIDs without blocking: the lookups are queued together (one lock,
 * one wake-up of a runner, so that they go into one batch) like waiting callers' and
 * answered by whoever runs the next batch (a runner thread, or a pg_fetch_all caller). */
static void
pg_fetch_all_async (gpointer            impl,
                    const char *const  *envids,
                    gpointer const     *data,
                    guint               n,
                    TrackStoreRowsDone  done)
{
  PgStore *self = impl;
  GQueue mine = G_QUEUE_INIT;

  for (guint i = 0; i < n; i++)
    {
      PgLookup *l = g_new0 (PgLookup, 1);

      l->envid = g_strdup (envids[i]);
      l->done_func = done;
      l->done_data = data[i];
      g_cond_init (&l->cond);
      g_queue_push_tail (&mine, l);
    }
  g_mutex_lock (&self->lock);
  if (self->runners == NULL)
    {
      self->runners = g_ptr_array_new ();
      for (guint i = 0; i < self->lookup_limit; i++)
        g_ptr_array_add (self->runners, g_thread_new ("pg-lookup", lookup_runner, self));
    }
  for (GList *l = mine.head; l != NULL; l = l->next)
    g_queue_push_tail (&self->lookups, l->data);
  if (self->lookups_running < self->lookup_limit && !g_queue_is_empty (&self->idle))
    g_cond_signal (&self->runner_cond);
  g_mutex_unlock (&self->lock);
  g_queue_clear (&mine);
}

/* Every node's record of @envid. Concurrent lookups are coalesced: a caller queues its
 * lookup; whoever gets a free connection takes every queued lookup (up to
 * PG_LOOKUP_BATCH, its own among them if still queued) and answers them with one
 * SQL_FETCH_MANY; the others wait for their answer. With a connection free and fewer
 * than self->lookup_limit running lookups, a lookup runs at once, alone: batches form
 * only when the lookups' share of the pool is busy. No lock is held across a round
 * trip. */
static GPtrArray *
pg_fetch_all (gpointer    impl,
              const char *envid,
              GError    **error)
{
  PgStore *self = impl;
  gint64 deadline = g_get_monotonic_time () + PG_POOL_WAIT_SECONDS * G_USEC_PER_SEC;
  PgLookup me = { .envid = envid };
  PgLookup *batch[PG_LOOKUP_BATCH];

  g_cond_init (&me.cond);
  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->lookups, &me);
  while (!me.done)
    {
      PgSlot *slot = NULL;
      guint n = 0;

      if (!me.taken && self->lookups_running < self->lookup_limit)
        slot = g_queue_pop_head (&self->idle);
      if (slot == NULL)
        {
          /* Its batch is running (and holds @me): no timeout of its own, the batch's
           * statement has one (PG_CLIENT_TIMEOUT_MS, slot_exec) and its failure is
           * this lookup's answer. */
          if (me.taken)
            g_cond_wait (&me.cond, &self->lock);
          else if (!g_cond_wait_until (&me.cond, &self->lock, deadline) && !me.taken
                   && !me.done)
            {
              g_queue_remove (&self->lookups, &me);
              /* A wake-up meant for us as the head goes to the next one. */
              if (!g_queue_is_empty (&self->idle))
                wake_for_slot (self);
              g_mutex_unlock (&self->lock);
              g_cond_clear (&me.cond);
              g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_TIMEOUT,
                           "No PostgreSQL connection free within %d s (pool_size %u)",
                           PG_POOL_WAIT_SECONDS, self->pool_size);
              return NULL;
            }
          continue;
        }
      /* Ours first (it may be past the first PG_LOOKUP_BATCH), then the oldest. */
      n = batch_take (self, &me, batch);
      g_mutex_unlock (&self->lock);

      run_lookup_batch (self, slot, batch, n);

      g_mutex_lock (&self->lock);
      n = batch_done (self, slot, batch, n);
      if (n > 0)
        {
          g_mutex_unlock (&self->lock);
          batch_call_async (batch, n);
          g_mutex_lock (&self->lock);
        }
    }
  g_mutex_unlock (&self->lock);
  g_cond_clear (&me.cond);
  if (me.error != NULL)
    {
      g_propagate_error (error, me.error);
      return NULL;
    }
  return me.rows;
}

/* Lookups answered and SQL_FETCH_MANY statements run (the coalescing's effect), and
 * the lookups queued now. */
static void
pg_lookup_stats (gpointer impl,
                 guint64 *lookups,
                 guint64 *batches,
                 guint   *waiting)
{
  PgStore *self = impl;

  g_mutex_lock (&self->lock);
  *lookups = self->n_lookups;
  *batches = self->n_batches;
  *waiting = g_queue_get_length (&self->lookups);
  g_mutex_unlock (&self->lock);
}

static guint
pg_expire (gpointer impl,
           gint64   now)
{
  PgStore *self = impl;
  g_autoptr (GError) error = NULL;
  guint64 now_be = GUINT64_TO_BE ((guint64) now);
  guint32 batch_be = GUINT32_TO_BE (PG_EXPIRE_BATCH);
  const char *values[2] = { (const char *) &now_be, (const char *) &batch_be };
  int lengths[2] = { 8, 4 };
  PgSlot *slot = slot_acquire (self, &error);
  guint64 removed = 0;

  /* Batch after batch, each its own short statement, until one is not full. */
  while (slot != NULL)
    {
      PGresult *res = slot_exec (self, slot, STMT_EXPIRE, values, lengths, &error);
      gint64 n;

      if (res == NULL)
        break;
      n = PQntuples (res) == 1 ? get_int8 (res, 0, 0) : 0;
      PQclear (res);
      removed += (guint64) MAX (n, 0);
      if (n < PG_EXPIRE_BATCH)
        break;
    }
  if (error != NULL)
    g_warning ("Tracking store: expiry: %s", error->message);
  if (slot != NULL)
    slot_release (self, slot);
  return (guint) MIN (removed, G_MAXUINT);
}

const TrackStoreBackend track_store_pg_backend = {
  .name = "postgresql",
  .put = NULL,   /* one record per (ENVID, node): the *_node entries */
  .fetch = NULL,
  .expire = pg_expire,
  .free = pg_free,
  .put_node = pg_put_node,
  .fetch_node = pg_fetch_node,
  .fetch_all = pg_fetch_all,
  .fetch_all_async = pg_fetch_all_async,
  .put_many = pg_put_many,
  .lookup_stats = pg_lookup_stats,
};
