/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store.c: the tracking store's public object (contract: track-store.h).
 *
 * What: one TrackStore type for every program, forwarding to a backend
 * (track-store-backend.h): files (track-store-files.c) or PostgreSQL (track-store-pg.c).
 * How: arguments are checked here once (ENVID length, B syntax, expiry, version), the
 * report is written out as message/tracking-status fields here, and TRACK's constant-time
 * compare of A against the stored B is done here, whatever the backend: a backend
 * fetches by ENVID and never selects on B.
 * Configuration, [store] of mtqpd.conf(5) / msgtrk-relay.conf(5):
 *   backend=files|postgresql   (default files)
 *   conninfo=<libpq connection string, without a password>
 *   password_file=<file holding the password; readable by the service user only>
 *   pool_size=<connections per process, 1..TRACK_STORE_MAX_POOL_SIZE>
 *   node=<this MTA node's name, default the host name (PostgreSQL: one record per node)>
 * Limits: ENVID 1..TRACK_STORE_MAX_ENVID_LENGTH octets; records up to
 * TRACK_STORE_MAX_RECORD_SIZE octets.
 * Never: log B, A or a password; tell apart an unknown ENVID, an expired record and a
 * wrong secret; answer NOT_FOUND when the backend could not be asked.
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "msgtrk-private.h"
#include "server-config.h"
#include "track-store-backend.h"

#define TRACK_STORE_GROUP "store"
/* A syntactically valid B that matches no secret: compared against when the ENVID is
 * unknown, so that both paths do the same constant-time work. */
#define TRACK_STORE_DUMMY_AUTHENTICATOR "AAAAAAAAAAAAAAAAAAAAAAAAAAA="

struct _TrackStore
{
  GObject parent_instance;

  const TrackStoreBackend *backend;
  gpointer impl; /* (owned) the backend's state */
  char *node;    /* (owned) this MTA node's name */
  guint pool_size; /* PostgreSQL: [store] pool_size; 0: files */
};

G_DEFINE_FINAL_TYPE (TrackStore, track_store, G_TYPE_OBJECT)

static void
track_store_finalize (GObject *object)
{
  TrackStore *self = TRACK_STORE (object);

  if (self->impl != NULL)
    self->backend->free (self->impl);
  g_free (self->node);
  G_OBJECT_CLASS (track_store_parent_class)->finalize (object);
}

static void
track_store_class_init (TrackStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = track_store_finalize;
}

static void
track_store_init (TrackStore *self)
{
}

gboolean
track_store_node_is_valid (const char *node)
{
  gsize len = strlen (node);

  if (len == 0 || len > TRACK_STORE_MAX_NODE_LENGTH)
    return FALSE;
  for (const char *p = node; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr (".-_:", *p) == NULL)
      return FALSE;
  return TRUE;
}

/* The default node name: the host name, if it is a valid node name. */
static char *
default_node (void)
{
  const char *host = g_get_host_name ();

  if (track_store_node_is_valid (host))
    return g_strdup (host);
  return g_strdup ("localhost");
}

static TrackStore *
track_store_wrap (const TrackStoreBackend *backend,
                  gpointer                 impl,
                  const char              *node)
{
  TrackStore *self = g_object_new (TYPE_TRACK_STORE, NULL);

  self->backend = backend;
  self->impl = impl;
  self->node = node != NULL ? g_strdup (node) : default_node ();
  return self;
}

TrackStoreRow *
track_store_row_new (char  *authenticator,
                     gint64 expires,
                     char  *fields)
{
  TrackStoreRow *row = g_new0 (TrackStoreRow, 1);

  row->authenticator = authenticator;
  row->expires = expires;
  row->fields = fields;
  return row;
}

void
track_store_row_free (gpointer data)
{
  TrackStoreRow *row = data;

  g_free (row->authenticator);
  g_free (row->fields);
  g_free (row);
}

gboolean
track_store_authenticator_equal (const char *a,
                                 const char *b)
{
  gsize len = strlen (a);

  if (len != strlen (b))
    return FALSE;
  return CRYPTO_memcmp (a, b, len) == 0;
}

/**
 * track_store_new:
 * @state_dir: the server's state directory (shared by msgtrk-relay and mtqpd)
 * @error: return location for a #GError
 *
 * Opens the files backend in @state_dir/tracking, creating that directory (mode 0750)
 * if it does not exist.
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with @error set
 */
TrackStore *
track_store_new (const char *state_dir,
                 GError    **error)
{
  gpointer impl;

  g_return_val_if_fail (state_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  impl = track_store_files_open (state_dir, error);
  if (impl == NULL)
    return NULL;
  return track_store_wrap (&track_store_files_backend, impl, NULL);
}

typedef struct
{
  char *backend;
  char *conninfo;
  char *password_file;
  char *node;
  guint64 pool_size;
} StoreConfig;

static void
store_config_clear (StoreConfig *c)
{
  g_free (c->backend);
  g_free (c->conninfo);
  g_free (c->password_file);
  g_free (c->node);
}

static gboolean
store_config_read (GKeyFile    *kf,
                   StoreConfig *c,
                   GError     **error)
{
  static const char *const known[] = { "backend", "conninfo", "password_file", "pool_size",
                                       "node", NULL };

  const ServerConfigString strings[] = {
    { "backend", "files", &c->backend },
    { "conninfo", NULL, &c->conninfo },
    { "password_file", NULL, &c->password_file },
    { "node", NULL, &c->node },
    { NULL, NULL, NULL },
  };

  if (!server_config_check_group (kf, NULL, TRACK_STORE_GROUP, known, error)
      || !server_config_read_strings (kf, TRACK_STORE_GROUP, strings, error))
    return FALSE;
  if (!server_config_get_uint (kf, TRACK_STORE_GROUP, "pool_size",
                               TRACK_STORE_DEFAULT_POOL_SIZE, 1, TRACK_STORE_MAX_POOL_SIZE,
                               &c->pool_size, error))
    return FALSE;
  if (c->node != NULL && !track_store_node_is_valid (c->node))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (c->node, 80);

      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Configuration [" TRACK_STORE_GROUP "] node: \"%s\" is not 1 to %d "
                   "letters, digits, '.', '-', '_' or ':'", quoted, TRACK_STORE_MAX_NODE_LENGTH);
      return FALSE;
    }

  if (strcmp (c->backend, "files") == 0)
    {
      if (c->conninfo != NULL || c->password_file != NULL)
        {
          g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                               "Configuration [" TRACK_STORE_GROUP "]: conninfo and "
                               "password_file are for backend=postgresql");
          return FALSE;
        }
      return TRUE;
    }
  if (strcmp (c->backend, "postgresql") == 0)
    {
#ifdef HAVE_LIBPQ
      if (c->conninfo == NULL)
        {
          g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                               "Configuration [" TRACK_STORE_GROUP "]: backend=postgresql "
                               "needs conninfo");
          return FALSE;
        }
      return TRUE;
#else
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_UNSUPPORTED,
                           "Configuration [" TRACK_STORE_GROUP "]: this build has no "
                           "PostgreSQL backend (libpq was not found)");
      return FALSE;
#endif
    }
  {
    g_autofree char *quoted = msgtrk_str_escape_for_error (c->backend, 40);

    g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                 "Configuration [" TRACK_STORE_GROUP "] backend: \"%s\" is not files or "
                 "postgresql", quoted);
  }
  return FALSE;
}

/**
 * track_store_check_config:
 * @kf: (nullable): the program's configuration
 * @error: return location for a #GError
 *
 * Checks the [store] group (keys, backend name, required keys) without opening anything.
 *
 * Returns: %TRUE if the group is valid (or absent)
 */
gboolean
track_store_check_config (GKeyFile *kf,
                          GError  **error)
{
  StoreConfig c = { 0 };
  gboolean ok = store_config_read (kf, &c, error);

  store_config_clear (&c);
  return ok;
}

/**
 * track_store_new_from_config:
 * @kf: (nullable): the program's configuration; %NULL or no [store] means files
 * @state_dir: the state directory (files backend)
 * @error: return location for a #GError
 *
 * Opens the backend named by [store] backend=. The PostgreSQL backend reads its password
 * file now (call after the privilege drop: the file belongs to the service user) and
 * connects lazily: a database that is down at start-up is answered as -TEMP, not a
 * failure to start.
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with @error set
 */
TrackStore *
track_store_new_from_config (GKeyFile   *kf,
                             const char *state_dir,
                             GError    **error)
{
  StoreConfig c = { 0 };
  TrackStore *self = NULL;

  g_return_val_if_fail (state_dir != NULL, NULL);

  if (!store_config_read (kf, &c, error))
    goto out;
  if (strcmp (c.backend, "files") == 0)
    {
      self = track_store_new (state_dir, error);
      if (self != NULL && c.node != NULL)
        {
          g_free (self->node);
          self->node = g_strdup (c.node);
        }
    }
#ifdef HAVE_LIBPQ
  else
    {
      gpointer impl = track_store_pg_open (c.conninfo, c.password_file, (guint) c.pool_size,
                                           error);

      if (impl != NULL)
        {
          self = track_store_wrap (&track_store_pg_backend, impl, c.node);
          self->pool_size = (guint) c.pool_size;
        }
    }
#endif
out:
  store_config_clear (&c);
  return self;
}

const char *
track_store_get_node (TrackStore *self)
{
  g_return_val_if_fail (TRACK_IS_STORE (self), NULL);
  return self->node;
}

const char *
track_store_get_backend_name (TrackStore *self)
{
  g_return_val_if_fail (TRACK_IS_STORE (self), NULL);
  return self->backend->name;
}

/* Check an ENVID given by a caller (the decoded form: the key of the record). */
static gboolean
envid_check (const char *envid,
             GError    **error)
{
  gsize len = strlen (envid);

  if (len == 0 || len > TRACK_STORE_MAX_ENVID_LENGTH)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "An ENVID must have 1 to %d octets, this one has %" G_GSIZE_FORMAT,
                   TRACK_STORE_MAX_ENVID_LENGTH, len);
      return FALSE;
    }
  return TRUE;
}

gint64
track_store_next_version (void)
{
  static GMutex lock;
  static gint64 last;
  gint64 v;

  g_mutex_lock (&lock);
  v = MAX (g_get_real_time (), last + 1);
  last = v;
  g_mutex_unlock (&lock);
  return v;
}

/**
 * track_store_next_version_after:
 * @stored: the version of the record as stored (0: none)
 *
 * A version for the next write of a record stored with @stored: above @stored even when
 * the real-time clock stepped back since @stored was written (a writer restarted after the
 * clock was set back would otherwise have its writes dropped as stale), and above every
 * version track_store_next_version() gave before. While the clock is behind @stored, each
 * call gives another version (@stored plus a count kept by this process), so two writes
 * above the same stored version never share one: a relay whose pushed update could not
 * be stored locally gives its next update a version above the pushed one, not the same
 * (which the receiver would drop as a duplicate); so does the first call after the clock
 * passed @stored, while the clock is not yet above those versions. @stored does not move
 * the versions of other records: one far ahead (a clock once wrong) stays that record's
 * alone; one at %G_MAXINT64 (a broken or forged record) gets %G_MAXINT64, which is
 * dropped as a duplicate.
 *
 * Returns: the version
 */
gint64
track_store_next_version_after (gint64 stored)
{
  static GMutex lock;
  static gint64 behind; /* versions given above a stored one the clock was behind */
  gint64 v = track_store_next_version ();
  gint64 step;

  g_mutex_lock (&lock);
  /* The clock's version, unless it is not above every version this process gave above
   * @stored while the clock was behind it (at most @stored + behind). */
  if (v > stored && v - stored > behind)
    {
      g_mutex_unlock (&lock);
      return v;
    }
  step = behind < G_MAXINT64 ? ++behind : behind;
  g_mutex_unlock (&lock);
  return stored < G_MAXINT64 - step ? stored + step : G_MAXINT64;
}

/**
 * track_store_put_versioned:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @authenticator: B, base64 (28 characters)
 * @expires: unix time after which the record is no longer served
 * @version: the record's version (> 0); higher is newer
 * @report: the message/tracking-status report to serve
 * @error: return location for a #GError
 *
 * Writes (or replaces) the record of @envid atomically and durably. A record of
 * @envid stored with another authenticator is replaced only once it has expired; until
 * then the call fails with %MSGTRK_ERROR_INVALID_SECRET and the record is kept. A record
 * of the same authenticator with a version at or above @version is kept and the call
 * succeeds (a duplicate or a late update). A record that cannot be read or parsed is
 * kept too (its error). %MSGTRK_ERROR_CONNECT: the backend could not be reached.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
track_store_put_versioned (TrackStore   *self,
                           const char   *envid,
                           const char   *authenticator,
                           gint64        expires,
                           gint64        version,
                           MsgtrkReport *report,
                           GError      **error)
{
  return track_store_put_for_node (self, NULL, envid, authenticator, expires, version,
                                   report, error);
}

/* Check the arguments of a put; the fields: @fields as given (at most
 * TRACK_STORE_MAX_RECORD_SIZE octets), or @report written out. */
static char *
put_prepare (const char   *envid,
             const char   *authenticator,
             gint64        expires,
             gint64        version,
             MsgtrkReport *report,
             const char   *given,
             GError      **error)
{
  char *fields;

  if (!envid_check (envid, error))
    return NULL;
  if (!msgtrk_authenticator_is_valid (authenticator, error))
    return NULL;
  if (expires < 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Expiry time %" G_GINT64_FORMAT " is negative", expires);
      return NULL;
    }
  if (version <= 0)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE,
                   "Record version %" G_GINT64_FORMAT " is not positive", version);
      return NULL;
    }

  fields = given != NULL ? g_strdup (given) : msgtrk_report_to_fields (report);
  if (fields == NULL)
    {
      g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_FAILED,
                           "The tracking report could not be written out");
      return NULL;
    }
  if (strlen (fields) > TRACK_STORE_MAX_RECORD_SIZE)
    {
      g_set_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT,
                   "The tracking record would have %" G_GSIZE_FORMAT
                   " octets, more than the limit of %d",
                   strlen (fields), TRACK_STORE_MAX_RECORD_SIZE);
      g_free (fields);
      return NULL;
    }
  return fields;
}

/**
 * track_store_put_for_node:
 * @self: a #TrackStore
 * @node: (nullable): the MTA node whose record this is; %NULL: this store's node
 * @envid: the ENVID (decoded, not xtext)
 * @authenticator: B, base64 (28 characters)
 * @expires: unix time after which the record is no longer served
 * @version: the record's version (> 0); higher is newer
 * @report: the message/tracking-status report to serve
 * @error: return location for a #GError
 *
 * track_store_put_versioned() for @node's record of @envid. The first-owner rule holds
 * across every node's records; the order of versions is per node.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
track_store_put_for_node (TrackStore   *self,
                          const char   *node,
                          const char   *envid,
                          const char   *authenticator,
                          gint64        expires,
                          gint64        version,
                          MsgtrkReport *report,
                          GError      **error)
{
  g_autofree char *fields = NULL;

  g_return_val_if_fail (TRACK_IS_STORE (self), FALSE);
  g_return_val_if_fail (node == NULL || track_store_node_is_valid (node), FALSE);
  g_return_val_if_fail (envid != NULL, FALSE);
  g_return_val_if_fail (authenticator != NULL, FALSE);
  g_return_val_if_fail (MSGTRK_IS_REPORT (report), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  fields = put_prepare (envid, authenticator, expires, version, report, NULL, error);
  if (fields == NULL)
    return FALSE;
  if (self->backend->put_node != NULL)
    return self->backend->put_node (self->impl, node != NULL ? node : self->node, envid,
                                    authenticator, expires, version, fields, error);
  return self->backend->put (self->impl, envid, authenticator, expires, version, fields,
                             error);
}

/**
 * track_store_put_many:
 * @self: a #TrackStore
 * @puts: (array length=n): the records; each one's error is set when it is not stored
 * @n: how many (at most %TRACK_STORE_MAX_BATCH)
 *
 * track_store_put_for_node() for each of @puts, in one go where the backend can (the
 * PostgreSQL backend: one pipeline and one transaction for all): the same rules and the
 * same result for each as one by one. A put with its fields text given stores that text
 * as it is (the caller checked that it parses) instead of writing its report out.
 */
void
track_store_put_many (TrackStore    *self,
                      TrackStorePut *puts,
                      guint          n)
{
  g_autofree TrackStoreWrite *writes = NULL;
  g_autofree guint *index = NULL;
  g_autoptr (GPtrArray) fields = NULL;
  guint m = 0;

  g_return_if_fail (TRACK_IS_STORE (self));
  g_return_if_fail (n <= TRACK_STORE_MAX_BATCH);

  writes = g_new0 (TrackStoreWrite, n);
  index = g_new0 (guint, n);
  fields = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    {
      char *f;

      g_return_if_fail (puts[i].node == NULL || track_store_node_is_valid (puts[i].node));
      g_return_if_fail (puts[i].fields != NULL || MSGTRK_IS_REPORT (puts[i].report));
      f = put_prepare (puts[i].envid, puts[i].authenticator, puts[i].expires,
                       puts[i].version, puts[i].report, puts[i].fields, &puts[i].error);
      if (f == NULL)
        continue;
      g_ptr_array_add (fields, f);
      writes[m].node = puts[i].node != NULL ? puts[i].node : self->node;
      writes[m].envid = puts[i].envid;
      writes[m].authenticator = puts[i].authenticator;
      writes[m].expires = puts[i].expires;
      writes[m].version = puts[i].version;
      writes[m].fields = f;
      index[m++] = i;
    }
  if (m > 0 && self->backend->put_many != NULL)
    self->backend->put_many (self->impl, writes, m);
  else
    for (guint j = 0; j < m; j++)
      {
        TrackStoreWrite *w = &writes[j];

        if (self->backend->put_node != NULL)
          self->backend->put_node (self->impl, w->node, w->envid, w->authenticator,
                                   w->expires, w->version, w->fields, &w->error);
        else
          self->backend->put (self->impl, w->envid, w->authenticator, w->expires,
                              w->version, w->fields, &w->error);
      }
  for (guint j = 0; j < m; j++)
    puts[index[j]].error = writes[j].error;
}

/**
 * track_store_put:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @authenticator: B, base64 (28 characters)
 * @expires: unix time after which the record is no longer served
 * @report: the message/tracking-status report to serve
 * @error: return location for a #GError
 *
 * track_store_put_versioned() with track_store_next_version().
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
track_store_put (TrackStore   *self,
                 const char   *envid,
                 const char   *authenticator,
                 gint64        expires,
                 MsgtrkReport *report,
                 GError      **error)
{
  return track_store_put_versioned (self, envid, authenticator, expires,
                                    track_store_next_version (), report, error);
}

static MsgtrkReport *
parse_fields (const char *fields,
              GError    **error)
{
  return msgtrk_report_parse_fields (MSGTRK_REPORT_KIND_TRACKING_STATUS, fields, -1, error);
}

/**
 * track_store_load:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @authenticator: (out) (optional) (transfer full): B as stored
 * @expires: (out) (optional): the expiry time as stored
 * @version: (out) (optional): the version as stored (0 for records written before
 *   versions): the next write's is track_store_next_version_after() of it
 * @error: return location for a #GError
 *
 * Reads the record of @envid as stored, expired or not, for the relay that updates it.
 * A missing record is %MSGTRK_ERROR_NOT_FOUND; a malformed one %MSGTRK_ERROR_PARSE or
 * %MSGTRK_ERROR_LIMIT.
 *
 * Returns: (transfer full) (nullable): the report, or %NULL with @error set
 */
MsgtrkReport *
track_store_load (TrackStore *self,
                  const char *envid,
                  char      **authenticator,
                  gint64     *expires,
                  gint64     *version,
                  GError    **error)
{
  g_autofree char *auth = NULL;
  g_autofree char *fields = NULL;
  gint64 exp = 0;
  gint64 ver = 0;
  MsgtrkReport *report;

  g_return_val_if_fail (TRACK_IS_STORE (self), NULL);
  g_return_val_if_fail (envid != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!envid_check (envid, error))
    return NULL;
  if (self->backend->fetch_node != NULL
        ? !self->backend->fetch_node (self->impl, self->node, envid, &auth, &exp, &ver,
                                      &fields, error)
        : !self->backend->fetch (self->impl, envid, &auth, &exp, &ver, &fields, error))
    return NULL;
  report = parse_fields (fields, error);
  if (report != NULL)
    {
      if (authenticator != NULL)
        *authenticator = g_steal_pointer (&auth);
      if (expires != NULL)
        *expires = exp;
      if (version != NULL)
        *version = ver;
    }
  return report;
}

/* Every node's record of @envid (TrackStoreRow); NOT_FOUND when there is none. */
static GPtrArray *
fetch_rows (TrackStore *self,
            const char *envid,
            GError    **error)
{
  GPtrArray *rows;
  char *auth = NULL;
  char *fields = NULL;
  gint64 expires = 0;
  gint64 version = 0;

  if (self->backend->fetch_all != NULL)
    return self->backend->fetch_all (self->impl, envid, error);
  if (!self->backend->fetch (self->impl, envid, &auth, &expires, &version, &fields, error))
    return NULL;
  rows = g_ptr_array_new_with_free_func (track_store_row_free);
  g_ptr_array_add (rows, track_store_row_new (auth, expires, fields));
  return rows;
}

/**
 * track_store_lookup_fields:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @secret_base64: the mtrk-secret A as received (base64)
 * @now: the current unix time
 * @error: return location for a #GError
 *
 * The TRACK query without parsing: the fields text of every node's record of @envid
 * that @secret_base64 opens (its B compared in constant time) and that has not expired
 * at @now, in the backend's stable order. None (unknown ENVID, all expired, wrong or
 * malformed secret): %MSGTRK_ERROR_NOT_FOUND, the same message each time. A backend that
 * cannot be reached: another error (answered -TEMP).
 *
 * Returns: (transfer full) (element-type utf8) (nullable): the fields texts, or %NULL
 */
GPtrArray *
track_store_lookup_fields (TrackStore *self,
                           const char *envid,
                           const char *secret_base64,
                           gint64      now,
                           GError    **error)
{
  GError *local = NULL;
  GPtrArray *rows = NULL;

  g_return_val_if_fail (TRACK_IS_STORE (self), NULL);
  g_return_val_if_fail (envid != NULL, NULL);
  g_return_val_if_fail (secret_base64 != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (envid_check (envid, NULL))
    rows = fetch_rows (self, envid, &local);
  return track_store_lookup_fields_finish (self, rows, local, secret_base64, now, error);
}

/**
 * track_store_lookup_rows_async:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @done: called once, from a thread of the store, with the rows or the error
 * @data: for @done
 *
 * Starts the lookup of track_store_lookup_fields() without blocking (a backend that
 * coalesces lookups: PostgreSQL); @done gets every node's record of @envid (expired or
 * not, B not compared yet: track_store_lookup_fields_finish() does that).
 *
 * Returns: %TRUE if started; %FALSE (@done is never called) when the backend has no
 *   such lookup or @envid cannot name a record: call track_store_lookup_fields()
 */
gboolean
track_store_lookup_rows_async (TrackStore        *self,
                               const char        *envid,
                               TrackStoreRowsDone done,
                               gpointer           data)
{
  g_return_val_if_fail (TRACK_IS_STORE (self), FALSE);
  g_return_val_if_fail (envid != NULL && done != NULL, FALSE);

  if (self->backend->fetch_all_async == NULL || !envid_check (envid, NULL))
    return FALSE;
  self->backend->fetch_all_async (self->impl, &envid, &data, 1, done);
  return TRUE;
}

/**
 * track_store_can_lookup_async:
 * @self: a #TrackStore
 *
 * Returns: whether the backend looks up without blocking (track_store_lookup_rows_async()
 *   and track_store_lookup_rows_async_many() start lookups; PostgreSQL)
 */
gboolean
track_store_can_lookup_async (TrackStore *self)
{
  g_return_val_if_fail (TRACK_IS_STORE (self), FALSE);

  return self->backend->fetch_all_async != NULL;
}

/**
 * track_store_lookup_rows_async_many:
 * @self: a #TrackStore that can look up without blocking
 * @envids: (array length=n): the ENVIDs (decoded, not xtext)
 * @data: (array length=n): for @done, one per ENVID
 * @n: how many (at most TRACK_STORE_LOOKUP_BATCH)
 * @done: called once per ENVID with its @data
 *
 * track_store_lookup_rows_async() of @n ENVIDs at once, queued together so that they
 * are answered by one statement (a client's pipelined TRACKs, mtqpd). An ENVID that
 * cannot name a record is answered at once, in the caller's thread, with
 * %MSGTRK_ERROR_NOT_FOUND; the others from a thread of the store. Call only when
 * track_store_can_lookup_async().
 */
void
track_store_lookup_rows_async_many (TrackStore        *self,
                                    const char *const *envids,
                                    gpointer const    *data,
                                    guint              n,
                                    TrackStoreRowsDone done)
{
  const char *ok_envids[TRACK_STORE_LOOKUP_BATCH];
  gpointer ok_data[TRACK_STORE_LOOKUP_BATCH];
  guint n_ok = 0;

  g_return_if_fail (TRACK_IS_STORE (self));
  g_return_if_fail (self->backend->fetch_all_async != NULL);
  g_return_if_fail (n <= TRACK_STORE_LOOKUP_BATCH && done != NULL);

  for (guint i = 0; i < n; i++)
    {
      if (envid_check (envids[i], NULL))
        {
          ok_envids[n_ok] = envids[i];
          ok_data[n_ok++] = data[i];
        }
      else
        done (NULL, g_error_new_literal (MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                                         "No tracking record for this ENVID"), data[i]);
    }
  if (n_ok > 0)
    self->backend->fetch_all_async (self->impl, ok_envids, ok_data, n_ok, done);
}

/**
 * track_store_lookup_fields_finish:
 * @self: a #TrackStore
 * @rows: (transfer full) (nullable): the rows given to a #TrackStoreRowsDone (or %NULL)
 * @fetch_error: (transfer full) (nullable): the error given with them
 * @secret_base64: the mtrk-secret A as received (base64)
 * @now: the current unix time
 * @error: return location for a #GError
 *
 * The rest of track_store_lookup_fields() once the rows are fetched: the fields of every
 * row @secret_base64 opens (B compared in constant time) that has not expired.
 *
 * Returns: (transfer full) (element-type utf8) (nullable): the fields texts, or %NULL
 */
GPtrArray *
track_store_lookup_fields_finish (TrackStore *self,
                                  GPtrArray  *rows_in,
                                  GError     *fetch_error,
                                  const char *secret_base64,
                                  gint64      now,
                                  GError    **error)
{
  g_autoptr (GError) local = fetch_error;
  g_autoptr (GPtrArray) rows = rows_in;
  g_autoptr (GPtrArray) out = NULL;

  g_return_val_if_fail (TRACK_IS_STORE (self), NULL);
  g_return_val_if_fail (secret_base64 != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (rows == NULL && local != NULL && !g_error_matches (local, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }

  out = g_ptr_array_new_with_free_func (g_free);
  if (rows == NULL || rows->len == 0)
    /* Same work whether the record exists or not: one constant-time comparison. */
    (void) msgtrk_verify_secret (secret_base64, TRACK_STORE_DUMMY_AUTHENTICATOR);
  else
    for (guint i = 0; i < rows->len; i++)
      {
        TrackStoreRow *row = rows->pdata[i];

        /* Every row is compared (no early exit): the work depends on the row count only. */
        if (msgtrk_verify_secret (secret_base64, row->authenticator) && row->expires > now)
          g_ptr_array_add (out, g_steal_pointer (&row->fields));
      }
  if (out->len > 0)
    return g_steal_pointer (&out);
  g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_NOT_FOUND,
                       "No tracking information for this ENVID and secret");
  return NULL;
}

/**
 * track_store_lookup_all:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @secret_base64: the mtrk-secret A as received (base64)
 * @now: the current unix time
 * @error: return location for a #GError
 *
 * track_store_lookup_fields(), parsed: every node's report, at least one. A record that
 * cannot be parsed is an error (a server fault, answered -TEMP).
 *
 * Returns: (transfer full) (element-type MsgtrkReport) (nullable): the reports, or %NULL
 */
GPtrArray *
track_store_lookup_all (TrackStore *self,
                        const char *envid,
                        const char *secret_base64,
                        gint64      now,
                        GError    **error)
{
  g_autoptr (GPtrArray) fields = track_store_lookup_fields (self, envid, secret_base64, now,
                                                            error);
  g_autoptr (GPtrArray) reports = NULL;

  if (fields == NULL)
    return NULL;
  reports = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < fields->len; i++)
    {
      MsgtrkReport *report = parse_fields (fields->pdata[i], error);

      if (report == NULL)
        return NULL;
      g_ptr_array_add (reports, report);
    }
  return g_steal_pointer (&reports);
}

/**
 * track_store_lookup:
 * @self: a #TrackStore
 * @envid: the ENVID (decoded, not xtext)
 * @secret_base64: the mtrk-secret A as received (base64)
 * @now: the current unix time
 * @error: return location for a #GError
 *
 * The TRACK query: the report of @envid if @secret_base64 matches the stored B (compared
 * in constant time) and the record has not expired at @now. An unknown ENVID, an
 * expired record and a wrong or malformed secret all give the same
 * %MSGTRK_ERROR_NOT_FOUND error with the same message. A record that cannot be read or
 * parsed, or a backend that cannot be reached, is another error (a server fault, logged
 * by the caller, answered -TEMP). Where several nodes hold a record of @envid, the first
 * of track_store_lookup_all().
 *
 * Returns: (transfer full) (nullable): the report, or %NULL with @error set
 */
MsgtrkReport *
track_store_lookup (TrackStore *self,
                    const char *envid,
                    const char *secret_base64,
                    gint64      now,
                    GError    **error)
{
  g_autoptr (GPtrArray) reports = track_store_lookup_all (self, envid, secret_base64, now,
                                                          error);

  if (reports == NULL)
    return NULL;
  return g_object_ref (reports->pdata[0]);
}

/**
 * track_store_get_pool_size:
 * @self: a #TrackStore
 *
 * Returns: the backend's pooled connections ([store] pool_size) when it coalesces
 *   concurrent lookups (PostgreSQL), 0 otherwise (files)
 */
guint
track_store_get_pool_size (TrackStore *self)
{
  g_return_val_if_fail (TRACK_IS_STORE (self), 0);
  return self->pool_size;
}

/**
 * track_store_lookup_stats:
 * @self: a #TrackStore
 * @lookups: (out): lookups answered so far
 * @batches: (out): the reads of the storage that answered them (PostgreSQL: statements,
 *   one per batch of coalesced TRACKs; files: record files read, the others came from
 *   the read cache)
 * @waiting: (out): lookups queued for a connection now (PostgreSQL)
 *
 * How much the backend saved on lookups: coalescing (PostgreSQL) or its read cache
 * (files).
 */
void
track_store_lookup_stats (TrackStore *self,
                          guint64    *lookups,
                          guint64    *batches,
                          guint      *waiting)
{
  g_return_if_fail (TRACK_IS_STORE (self));
  *lookups = *batches = 0;
  *waiting = 0;
  if (self->backend->lookup_stats != NULL)
    self->backend->lookup_stats (self->impl, lookups, batches, waiting);
}

/**
 * track_store_expire:
 * @self: a #TrackStore
 * @now: the current unix time
 *
 * Deletes the records that expired at or before @now (files: also temporary files left
 * by an interrupted write; malformed records are logged and kept).
 *
 * Returns: the number of records (files) removed
 */
guint
track_store_expire (TrackStore *self,
                    gint64      now)
{
  g_return_val_if_fail (TRACK_IS_STORE (self), 0);
  return self->backend->expire (self->impl, now);
}
