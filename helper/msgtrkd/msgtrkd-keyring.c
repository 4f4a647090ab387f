/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-keyring.c: where the tracking secrets A live (Secret Service or an opted-in file).
 *
 * SECRET_SERVICE: libsecret with the schema "org.msgtrk.TrackingSecret" (one string
 * attribute "envid"), items in the default collection. libsecret keeps the password in its
 * secure (non-swappable, wiped) memory; the copy handed to the caller is wiped by
 * msgtrk_secure_free_string. Any failure to reach or unlock the Secret Service is
 * MSGTRKD_ERROR_KEYRING_UNAVAILABLE; a lookup that finds nothing is
 * MSGTRKD_ERROR_SECRET_MISSING, unless the default collection is locked or absent (then a
 * search cannot see its items: KEYRING_UNAVAILABLE). Deleting a secret that is not there
 * succeeds (same exception).
 *
 * FILE: a GKeyFile <file_dir>/secrets, one group per ENVID (the group name is the ENVID
 * URI-escaped, keys "envid", "label", "secret"). The directory must be 0700 and the file
 * 0600, both owned by the user, else the backend refuses to use them; every change is
 * written to a temporary file and renamed over the old one (g_file_set_contents_full,
 * CONSISTENT, mode 0600). File operations are serialised by a mutex and run in a worker
 * thread for the async forms.
 *
 * MASTER (docs/secret-derivation.md): one per-user master secret, 32 octets from the
 * CSPRNG, made once (by the first Prepare) and kept in the same place as the per-message
 * secrets: a Secret Service item of the schema "org.msgtrk.MasterSecret" (attribute
 * "version" = "1"), or the group MASTER_FILE_GROUP of the file (a name no URI-escaped ENVID
 * can have: it contains spaces). The A of a message prepared since is derived from it
 * (msgtrk_secret_derive), so storing a message costs nothing in the keyring. Once read, the
 * master is cached for the daemon's life in one page of its own, locked in RAM (mlock),
 * left out of core dumps (MADV_DONTDUMP) and wiped when the keyring is finalized. Reading
 * and making the master is serialised by a mutex, so two first Prepares cannot make two
 * masters. A master that is missing when a message needs it is never made again silently
 * (only Prepare may make one): the caller gets MSGTRKD_ERROR_SECRET_MISSING.
 *
 * Errors a person meets (a locked keyring, no default collection, gnome-keyring's "Object
 * does not exist at path …/collection/login") become KEYRING_UNAVAILABLE with a message that
 * says what to do; libsecret's own text goes to the debug log only.
 *
 * Limits: MSGTRKD_KEYRING_MAX_* in the header. GKeyFile keeps its own copies of the secrets
 * in ordinary memory while a file operation runs; the buffers this file owns are wiped.
 *
 * Never: log a secret, put one in an error message, write one anywhere but the Secret
 * Service or the opted-in file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <libsecret/secret.h>

#include "msgtrk.h"
#include "msgtrk-content-track-private.h"
#include "msgtrk-private.h"
#include "msgtrkd-error.h"
#include "msgtrkd-keyring.h"

/* Limits are in the header: MSGTRKD_KEYRING_MAX_ENVID_LENGTH (RFC 3461 allows 100
 * characters; room is left for decoding leftovers), MSGTRKD_KEYRING_MAX_SECRET_LENGTH (base64
 * of MSGTRK_SECRET_MAX_SIZE octets is 88), MSGTRKD_KEYRING_FILE_MAX_SIZE (tens of thousands
 * of secrets). */
#define KEYRING_QUOTE_MAX 80
#define KEYRING_FILE_NAME "secrets"

static const SecretSchema tracking_schema = {
  "org.msgtrk.TrackingSecret",
  SECRET_SCHEMA_NONE,
  {
    { "envid", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { NULL, 0 },
  },
};

/* The master secret's item (docs/secret-derivation.md). */
static const SecretSchema master_schema = {
  "org.msgtrk.MasterSecret",
  SECRET_SCHEMA_NONE,
  {
    { "version", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { NULL, 0 },
  },
};
#define MASTER_VERSION "1"
/* FILE backend: escaped ENVIDs never contain a space, so no message can take this group. */
#define MASTER_FILE_GROUP "msgtrk master secret v1"

/* What a person should do when the Secret Service cannot give or keep a secret. */
#define KEYRING_LOCKED_TEXT                                                                  \
  N_ ("Your keyring is locked or has no default collection; unlock it (log in to your "      \
      "desktop session, or open “Passwords and Keys” and unlock or create the “Login” "      \
      "keyring), then try again")

struct _MsgtrkdKeyring
{
  GObject parent_instance;

  MsgtrkdKeyringBackend backend;
  char *file_dir;
  GMutex file_lock;
  GMutex master_lock;  /* guards @master and the reading/making of the master */
  guint8 *master;      /* (nullable) MSGTRK_SECRET_MASTER_SIZE octets in a locked page */
};

/* One page of its own for the master: locked in RAM, not in core dumps. */
static guint8 *
locked_page_new (void)
{
  gsize size = (gsize) sysconf (_SC_PAGESIZE);
  void *page = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (page == MAP_FAILED)
    g_error ("Could not map a page for the master tracking secret: %s", g_strerror (errno));
  if (mlock (page, size) != 0)
    g_debug ("The master tracking secret's page could not be locked in RAM: %s",
             g_strerror (errno));
#ifdef MADV_DONTDUMP
  (void) madvise (page, size, MADV_DONTDUMP);
#endif
  return page;
}

static void
locked_page_free (guint8 *page)
{
  gsize size = (gsize) sysconf (_SC_PAGESIZE);

  if (page == NULL)
    return;
  msgtrk_secure_wipe (page, size);
  munlock (page, size);
  munmap (page, size);
}

G_DEFINE_FINAL_TYPE (MsgtrkdKeyring, msgtrkd_keyring, G_TYPE_OBJECT)

static void
msgtrkd_keyring_finalize (GObject *object)
{
  MsgtrkdKeyring *self = MSGTRKD_KEYRING (object);

  g_free (self->file_dir);
  g_clear_pointer (&self->master, locked_page_free);
  g_mutex_clear (&self->master_lock);
  g_mutex_clear (&self->file_lock);
  G_OBJECT_CLASS (msgtrkd_keyring_parent_class)->finalize (object);
}

static void
msgtrkd_keyring_class_init (MsgtrkdKeyringClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrkd_keyring_finalize;
}

static void
msgtrkd_keyring_init (MsgtrkdKeyring *self)
{
  g_mutex_init (&self->file_lock);
  g_mutex_init (&self->master_lock);
}

/**
 * msgtrkd_keyring_new:
 * @backend: where secrets live
 * @file_dir: (nullable): directory of the FILE backend (made with mode 0700 if missing);
 *   ignored for %MSGTRKD_KEYRING_SECRET_SERVICE
 *
 * Returns: (transfer full): a keyring; nothing is contacted or checked until first use
 */
MsgtrkdKeyring *
msgtrkd_keyring_new (MsgtrkdKeyringBackend backend,
                     const char           *file_dir)
{
  MsgtrkdKeyring *self;

  g_return_val_if_fail (backend == MSGTRKD_KEYRING_SECRET_SERVICE
                            || (backend == MSGTRKD_KEYRING_FILE && file_dir != NULL),
                        NULL);

  self = g_object_new (MSGTRKD_TYPE_KEYRING, NULL);
  self->backend = backend;
  if (backend == MSGTRKD_KEYRING_FILE)
    self->file_dir = g_strdup (file_dir);
  return self;
}

/**
 * msgtrkd_keyring_get_backend:
 * @self: a keyring
 *
 * Returns: the backend chosen at creation
 */
MsgtrkdKeyringBackend
msgtrkd_keyring_get_backend (MsgtrkdKeyring *self)
{
  g_return_val_if_fail (MSGTRKD_IS_KEYRING (self), MSGTRKD_KEYRING_SECRET_SERVICE);
  return self->backend;
}

/* ---- common checks ---------------------------------------------------------------------- */

static gboolean
check_envid (const char *envid,
             GError    **error)
{
  if (envid == NULL || *envid == '\0' || strlen (envid) > MSGTRKD_KEYRING_MAX_ENVID_LENGTH
      || !g_utf8_validate (envid, -1, NULL))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (envid, KEYRING_QUOTE_MAX);

      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a usable ENVID for the keyring", quoted);
      return FALSE;
    }
  return TRUE;
}

/* The secret is never quoted: only its shape is checked. */
static gboolean
check_secret (const char *secret,
              GError    **error)
{
  if (secret == NULL || *secret == '\0' || strlen (secret) > MSGTRKD_KEYRING_MAX_SECRET_LENGTH
      || strpbrk (secret, "\r\n") != NULL || !g_utf8_validate (secret, -1, NULL))
    {
      g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                           "The tracking secret to store is empty or malformed");
      return FALSE;
    }
  return TRUE;
}

static char *
default_label (const char *envid,
               const char *label)
{
  if (label != NULL && *label != '\0')
    return g_strdup (label);
  return g_strdup_printf ("Tracking secret for %s", envid);
}

static void
set_missing (GError    **error,
             const char *envid)
{
  g_autofree char *quoted = msgtrk_str_escape_for_error (envid, KEYRING_QUOTE_MAX);

  g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING,
               "The keyring has no tracking secret for “%s”; it may have been deleted",
               quoted);
}

/* ---- Secret Service --------------------------------------------------------------------- */

static GHashTable *
ss_attributes (const char *envid)
{
  /* libsecret keeps a reference to the table past the call when it first has to connect
   * to the Secret Service, so the table owns its value. */
  GHashTable *attributes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (attributes, (gpointer) "envid", g_strdup (envid));
  return attributes;
}

/* Turn a libsecret / D-Bus failure into KEYRING_UNAVAILABLE (cancellation passes as is). */
static GError *
ss_map_error (GError *error)
{
  GError *mapped;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || error->domain == MSGTRKD_ERROR)
    return error;
  g_dbus_error_strip_remote_error (error);
  /* gnome-keyring that was never unlocked (or has no login keyring) answers a store into the
   * default collection with "Object does not exist at path …/collection/login". */
  if (g_error_matches (error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED)
      || g_error_matches (error, SECRET_ERROR, SECRET_ERROR_NO_SUCH_OBJECT)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT)
      || (error->domain == G_DBUS_ERROR && strstr (error->message, "/collection/") != NULL))
    {
      g_debug ("Secret Service: %s", error->message);
      mapped = g_error_new_literal (MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                                    _(KEYRING_LOCKED_TEXT));
    }
  else
    mapped = g_error_new (MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                          "No keyring (Secret Service) is available: %s", error->message);
  g_error_free (error);
  return mapped;
}

static void
ss_propagate (GError **dest,
              GError  *src)
{
  g_propagate_error (dest, ss_map_error (src));
}

/* Copy a password out of libsecret's secure memory into a string the caller frees with
 * msgtrk_secure_free_string; secret_password_free wipes libsecret's copy. */
static char *
ss_take_password (char *password)
{
  char *copy = g_strdup (password);

  secret_password_free (password);
  return copy;
}

static void
ss_store_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (!secret_password_store_finish (result, &error))
    g_task_return_error (task, ss_map_error (error));
  else
    g_task_return_boolean (task, TRUE);
}

/* Nothing found can mean a locked (or absent) default collection, whose items a search
 * cannot see: that is an unavailable keyring, not a missing secret. */
static gboolean
ss_check_collection (SecretCollection *collection,
                     GError          **error)
{
  if (collection == NULL || secret_collection_get_locked (collection))
    {
      g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                           _(KEYRING_LOCKED_TEXT));
      return FALSE;
    }
  return TRUE;
}

static gboolean
ss_default_usable_sync (GCancellable *cancellable,
                        GError      **error)
{
  g_autoptr (SecretService) service = NULL;
  g_autoptr (SecretCollection) collection = NULL;
  GError *local_error = NULL;

  service = secret_service_get_sync (SECRET_SERVICE_NONE, cancellable, &local_error);
  if (service != NULL)
    collection = secret_collection_for_alias_sync (service, SECRET_COLLECTION_DEFAULT,
                                                   SECRET_COLLECTION_NONE, cancellable,
                                                   &local_error);
  if (local_error != NULL)
    {
      ss_propagate (error, local_error);
      return FALSE;
    }
  return ss_check_collection (collection, error);
}

/* After a lookup or clear found nothing: answer from the state of the default collection. */
static void
ss_check_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (SecretCollection) collection = NULL;
  GError *error = NULL;

  collection = secret_collection_for_alias_finish (result, &error);
  if (error != NULL)
    g_task_return_error (task, ss_map_error (error));
  else if (!ss_check_collection (collection, &error))
    g_task_return_error (task, error);
  else if (g_task_get_source_tag (task) == msgtrkd_keyring_delete_async)
    g_task_return_boolean (task, TRUE);
  else
    {
      set_missing (&error, g_task_get_task_data (task));
      g_task_return_error (task, error);
    }
}

static void
ss_check_got_service (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (SecretService) service = NULL;
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;

  service = secret_service_get_finish (result, &error);
  if (service == NULL)
    {
      g_task_return_error (task, ss_map_error (error));
      return;
    }
  /* The task is stolen last: arguments are evaluated in no fixed order. */
  secret_collection_for_alias (service, SECRET_COLLECTION_DEFAULT, SECRET_COLLECTION_NONE,
                               cancellable, ss_check_done, task);
  task = NULL;
}

static void
ss_check_default_async (GTask *task)
{
  secret_service_get (SECRET_SERVICE_NONE, g_task_get_cancellable (task), ss_check_got_service,
                      task);
}

static void
ss_lookup_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;
  char *password = secret_password_lookup_finish (result, &error);

  if (error != NULL)
    g_task_return_error (task, ss_map_error (error));
  else if (password == NULL)
    ss_check_default_async (g_steal_pointer (&task));
  else
    g_task_return_pointer (task, ss_take_password (password),
                           (GDestroyNotify) msgtrk_secure_free_string);
}

static void
ss_clear_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (secret_password_clear_finish (result, &error))
    g_task_return_boolean (task, TRUE);
  else if (error != NULL)
    g_task_return_error (task, ss_map_error (error));
  else
    /* Nothing deleted: fine if there was nothing, not if the keyring is locked. */
    ss_check_default_async (g_steal_pointer (&task));
}

/* ---- FILE backend ----------------------------------------------------------------------- */

/* Refuse a path that others could read or that is not ours. @st from lstat/fstat. */
static gboolean
file_check_private (const char        *path,
                    const struct stat *st,
                    gboolean           want_dir,
                    GError           **error)
{
  if (want_dir ? !S_ISDIR (st->st_mode) : !S_ISREG (st->st_mode))
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                   "Refusing to use “%s” for tracking secrets: it is not a %s", path,
                   want_dir ? "directory" : "regular file");
      return FALSE;
    }
  if (st->st_uid != getuid ())
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                   "Refusing to use “%s” for tracking secrets: it belongs to user %u, not to "
                   "you (%u)",
                   path, (guint) st->st_uid, (guint) getuid ());
      return FALSE;
    }
  if ((st->st_mode & 077) != 0)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                   "Refusing to use “%s” for tracking secrets: others can access it (mode "
                   "%04o); run “chmod %s %s” first",
                   path, (guint) (st->st_mode & 07777), want_dir ? "700" : "600", path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
file_check_dir (MsgtrkdKeyring *self,
                GError        **error)
{
  struct stat st;

  if (g_lstat (self->file_dir, &st) != 0)
    {
      int saved_errno = errno;

      if (saved_errno != ENOENT || g_mkdir_with_parents (self->file_dir, 0700) != 0
          || g_lstat (self->file_dir, &st) != 0)
        {
          if (saved_errno == ENOENT)
            saved_errno = errno;
          g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                       "Could not create the directory “%s” for tracking secrets: %s",
                       self->file_dir, g_strerror (saved_errno));
          return FALSE;
        }
    }
  return file_check_private (self->file_dir, &st, TRUE, error);
}

/* Load the secrets file into @keyfile (empty if the file does not exist yet). */
static gboolean
file_load (MsgtrkdKeyring *self,
           GKeyFile       *keyfile,
           GError        **error)
{
  g_autofree char *path = g_build_filename (self->file_dir, KEYRING_FILE_NAME, NULL);
  g_autoptr (GError) local_error = NULL;
  struct stat st;
  char *data = NULL;
  gsize len = 0;
  ssize_t got;
  int fd;
  gboolean ok;

  if (!file_check_dir (self, error))
    return FALSE;

  fd = g_open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0);
  if (fd < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        return TRUE;
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                   "Could not open the tracking secrets file “%s”: %s", path,
                   g_strerror (saved_errno));
      return FALSE;
    }
  if (fstat (fd, &st) != 0 || !file_check_private (path, &st, FALSE, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                     "Could not examine the tracking secrets file “%s”", path);
      close (fd);
      return FALSE;
    }
  if (st.st_size > MSGTRKD_KEYRING_FILE_MAX_SIZE)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                   "The tracking secrets file “%s” is too large (%lld bytes, at most %d)",
                   path, (long long) st.st_size, MSGTRKD_KEYRING_FILE_MAX_SIZE);
      close (fd);
      return FALSE;
    }

  data = g_malloc ((gsize) st.st_size + 1);
  while (len < (gsize) st.st_size)
    {
      got = read (fd, data + len, (gsize) st.st_size - len);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      len += (gsize) got;
    }
  close (fd);
  data[len] = '\0';

  ok = g_key_file_load_from_data (keyfile, data, len, G_KEY_FILE_NONE, &local_error);
  msgtrk_secure_wipe (data, (gsize) st.st_size + 1);
  g_free (data);
  if (!ok)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                   "The tracking secrets file “%s” is damaged: %s", path,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
file_save (MsgtrkdKeyring *self,
           GKeyFile       *keyfile,
           GError        **error)
{
  g_autofree char *path = g_build_filename (self->file_dir, KEYRING_FILE_NAME, NULL);
  g_autoptr (GError) local_error = NULL;
  gsize len = 0;
  char *data = g_key_file_to_data (keyfile, &len, NULL);
  gboolean ok;

  ok = g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0600, &local_error);
  msgtrk_secure_wipe (data, len);
  g_free (data);
  if (!ok)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                   "Could not write the tracking secrets file “%s”: %s", path,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

static char *
file_group (const char *envid)
{
  return g_uri_escape_string (envid, NULL, FALSE);
}

static gboolean
file_store (MsgtrkdKeyring *self,
            const char     *envid,
            const char     *secret,
            const char     *label,
            GError        **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *group = file_group (envid);
  gboolean ok;

  g_mutex_lock (&self->file_lock);
  ok = file_load (self, keyfile, error);
  if (ok)
    {
      g_key_file_remove_group (keyfile, group, NULL);
      g_key_file_set_string (keyfile, group, "envid", envid);
      g_key_file_set_string (keyfile, group, "label", label);
      g_key_file_set_string (keyfile, group, "secret", secret);
      ok = file_save (self, keyfile, error);
    }
  g_mutex_unlock (&self->file_lock);
  return ok;
}

static char *
file_lookup (MsgtrkdKeyring *self,
             const char     *envid,
             GError        **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *group = file_group (envid);
  char *secret = NULL;
  gboolean ok;

  g_mutex_lock (&self->file_lock);
  ok = file_load (self, keyfile, error);
  g_mutex_unlock (&self->file_lock);
  if (!ok)
    return NULL;
  secret = g_key_file_get_string (keyfile, group, "secret", NULL);
  if (secret == NULL || *secret == '\0')
    {
      msgtrk_secure_free_string (secret);
      set_missing (error, envid);
      return NULL;
    }
  return secret;
}

static gboolean
file_delete (MsgtrkdKeyring *self,
             const char     *envid,
             GError        **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *group = file_group (envid);
  gboolean ok;

  g_mutex_lock (&self->file_lock);
  ok = file_load (self, keyfile, error);
  if (ok && g_key_file_has_group (keyfile, group))
    {
      g_key_file_remove_group (keyfile, group, NULL);
      ok = file_save (self, keyfile, error);
    }
  g_mutex_unlock (&self->file_lock);
  return ok;
}

/* Complete @task with @ok, or with @error. */
static void
task_return_ok (GTask   *task,
                gboolean ok,
                GError  *error)
{
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* Complete @task with @secret (base64, wiped when the task lets go of it), or with @error
 * when it is NULL. */
static void
task_return_secret (GTask  *task,
                    char   *secret,
                    GError *error)
{
  if (secret != NULL)
    g_task_return_pointer (task, secret, (GDestroyNotify) msgtrk_secure_free_string);
  else
    g_task_return_error (task, error);
}

/* What a worker thread needs; the secret is wiped when the task lets go of it. */
typedef struct
{
  char *envid;
  char *secret;
  char *label;
} FileJob;

static void
file_job_free (FileJob *job)
{
  g_free (job->envid);
  msgtrk_secure_free_string (job->secret);
  g_free (job->label);
  g_free (job);
}

static void
file_store_thread (GTask        *task,
                   gpointer      source,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  FileJob *job = task_data;
  GError *error = NULL;
  gboolean ok = file_store (source, job->envid, job->secret, job->label, &error);

  task_return_ok (task, ok, error);
}

static void
file_lookup_thread (GTask        *task,
                    gpointer      source,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  FileJob *job = task_data;
  GError *error = NULL;
  char *secret = file_lookup (source, job->envid, &error);

  task_return_secret (task, secret, error);
}

static void
file_delete_thread (GTask        *task,
                    gpointer      source,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  FileJob *job = task_data;
  GError *error = NULL;
  gboolean ok = file_delete (source, job->envid, &error);

  task_return_ok (task, ok, error);
}

/* Gives @task the FileJob its worker thread needs. */
static void
file_job_set (GTask      *task,
              const char *envid,
              const char *secret,
              const char *label)
{
  FileJob *job = g_new0 (FileJob, 1);

  job->envid = g_strdup (envid);
  job->secret = g_strdup (secret);
  job->label = g_strdup (label);
  g_task_set_task_data (task, job, (GDestroyNotify) file_job_free);
}

/* ---- the master secret ------------------------------------------------------------------ */

static void
set_master_missing (GError **error)
{
  g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_SECRET_MISSING,
                       _("The keyring has no master tracking secret (it may have been "
                         "deleted), so the tracking secrets of messages sent with it cannot "
                         "be made again; those messages can no longer be tracked"));
}

/* Decode the base64 master into the locked page (made on first use). */
static gboolean
master_take (MsgtrkdKeyring *self,
             const char     *text,
             GError        **error)
{
  g_autoptr (MsgtrkSecret) secret = msgtrk_secret_new_from_base64 (text, NULL);

  if (self->master == NULL)
    self->master = locked_page_new ();
  if (secret == NULL
      || msgtrk_secret_copy_octets (secret, self->master, MSGTRK_SECRET_MASTER_SIZE)
             != MSGTRK_SECRET_MASTER_SIZE)
    {
      g_clear_pointer (&self->master, locked_page_free);
      g_set_error_literal (error, MSGTRKD_ERROR, MSGTRKD_ERROR_KEYRING_UNAVAILABLE,
                           "The master tracking secret in the keyring is damaged (it is not "
                           "32 octets of base64)");
      return FALSE;
    }
  return TRUE;
}

/* A new master as base64 (free with msgtrk_secure_free_string). */
static char *
master_generate (GError **error)
{
  g_autoptr (MsgtrkSecret) secret = msgtrk_secret_generate (error);

  G_STATIC_ASSERT (MSGTRK_SECRET_SIZE == MSGTRK_SECRET_MASTER_SIZE);
  return secret != NULL ? msgtrk_secret_to_base64 (secret) : NULL;
}

/* Secret Service: read the master; make and store it if there is none and @create. */
static char *
master_fetch_ss (gboolean      create,
                 GCancellable *cancellable,
                 GError      **error)
{
  g_autoptr (GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);
  GError *local_error = NULL;
  char *password;
  char *text;

  g_hash_table_insert (attributes, (gpointer) "version", (gpointer) MASTER_VERSION);
  password = secret_password_lookupv_sync (&master_schema, attributes, cancellable,
                                           &local_error);
  if (local_error != NULL)
    {
      ss_propagate (error, local_error);
      return NULL;
    }
  if (password != NULL)
    return ss_take_password (password);
  /* Nothing found: a locked collection hides its items; that is not a missing master. */
  if (!ss_default_usable_sync (cancellable, error))
    return NULL;
  if (!create)
    {
      set_master_missing (error);
      return NULL;
    }
  text = master_generate (error);
  if (text == NULL)
    return NULL;
  if (!secret_password_storev_sync (&master_schema, attributes, SECRET_COLLECTION_DEFAULT,
                                    "msgtrk master tracking secret (tracked messages need it: "
                                    "do not delete)",
                                    text, cancellable, &local_error))
    {
      msgtrk_secure_free_string (text);
      ss_propagate (error, local_error);
      return NULL;
    }
  g_debug ("Made the master tracking secret (Secret Service)");
  return text;
}

/* FILE backend: the same, in MASTER_FILE_GROUP. */
static char *
master_fetch_file (MsgtrkdKeyring *self,
                   gboolean        create,
                   GError        **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  char *text = NULL;

  g_mutex_lock (&self->file_lock);
  if (!file_load (self, keyfile, error))
    goto out;
  text = g_key_file_get_string (keyfile, MASTER_FILE_GROUP, "secret", NULL);
  if (text != NULL && *text != '\0')
    goto out;
  msgtrk_secure_free_string (g_steal_pointer (&text));
  if (!create)
    {
      set_master_missing (error);
      goto out;
    }
  text = master_generate (error);
  if (text == NULL)
    goto out;
  g_key_file_set_string (keyfile, MASTER_FILE_GROUP, "label",
                         "msgtrk master tracking secret (tracked messages need it)");
  g_key_file_set_string (keyfile, MASTER_FILE_GROUP, "secret", text);
  if (!file_save (self, keyfile, error))
    msgtrk_secure_free_string (g_steal_pointer (&text));
  else
    g_debug ("Made the master tracking secret (file)");
out:
  g_mutex_unlock (&self->file_lock);
  return text;
}

/* Derive A of @envid as base64; reads (or, with @create, makes) the master on first use.
 * Blocking when the master is not cached yet: never on the main loop then. */
static char *
derive_purpose_sync (MsgtrkdKeyring *self,
                     const char     *envid,
                     gboolean        create,
                     gboolean        content_track,
                     GCancellable   *cancellable,
                     GError        **error)
{
  g_autoptr (MsgtrkSecret) a = NULL;
  char *key = NULL;
  GError *local_error = NULL;

  g_mutex_lock (&self->master_lock);
  if (self->master == NULL)
    {
      char *text = self->backend == MSGTRKD_KEYRING_FILE
                       ? master_fetch_file (self, create, error)
                       : master_fetch_ss (create, cancellable, error);
      gboolean ok = text != NULL && master_take (self, text, error);

      msgtrk_secure_free_string (text);
      if (!ok)
        {
          g_mutex_unlock (&self->master_lock);
          return NULL;
        }
    }
  /* The Content-Track key of Harrison's reciprocation: its own label (docs/harrison.md). */
  if (content_track)
    key = msgtrk_content_track_derive_key (self->master, MSGTRK_SECRET_MASTER_SIZE, envid,
                                           &local_error);
  else
    a = msgtrk_secret_derive (self->master, MSGTRK_SECRET_MASTER_SIZE, envid, &local_error);
  g_mutex_unlock (&self->master_lock);
  if (a == NULL && key == NULL)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (envid, KEYRING_QUOTE_MAX);

      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_INVALID_ARGUMENT,
                   "No tracking secret can be derived for “%s”: %s", quoted,
                   local_error->message);
      g_error_free (local_error);
      return NULL;
    }
  if (key != NULL)
    return key;
  return msgtrk_secret_to_base64 (a);
}

static char *
derive_sync (MsgtrkdKeyring *self,
             const char     *envid,
             gboolean        create,
             GCancellable   *cancellable,
             GError        **error)
{
  return derive_purpose_sync (self, envid, create, FALSE, cancellable, error);
}

static gboolean
master_cached (MsgtrkdKeyring *self)
{
  gboolean cached;

  g_mutex_lock (&self->master_lock);
  cached = self->master != NULL;
  g_mutex_unlock (&self->master_lock);
  return cached;
}

typedef struct
{
  char *envid;
  gboolean create;
  gboolean content_track; /* the Content-Track key, not A */
} DeriveJob;

static void
derive_job_free (DeriveJob *job)
{
  g_free (job->envid);
  g_free (job);
}

static void
derive_thread (GTask        *task,
               gpointer      source,
               gpointer      task_data,
               GCancellable *cancellable)
{
  DeriveJob *job = task_data;
  GError *error = NULL;
  char *secret = derive_purpose_sync (source, job->envid, job->create, job->content_track,
                                      cancellable, &error);

  task_return_secret (task, secret, error);
}

/* The task of the per-message async call @source_tag; NULL once @envid (or @secret, for
 * a call that stores one) was found wrong and the error reported to @callback. */
static GTask *
checked_task (MsgtrkdKeyring     *self,
              gpointer            source_tag,
              const char         *envid,
              gboolean            stores,
              const char         *secret,
              GCancellable       *cancellable,
              GAsyncReadyCallback callback,
              gpointer            user_data)
{
  GError *error = NULL;
  GTask *task;

  if (!check_envid (envid, &error) || (stores && !check_secret (secret, &error)))
    {
      g_task_report_error (self, callback, user_data, source_tag, error);
      return NULL;
    }
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  return task;
}

/* Runs @task (from checked_task()) in a worker thread; it must finish whatever happens. */
static void
run_in_thread (GTask          *task,
               GTaskThreadFunc func)
{
  g_task_set_return_on_cancel (task, FALSE);
  g_task_run_in_thread (task, func);
  g_object_unref (task);
}

/* The start of store, lookup and delete: for the file backend @file_thread runs in a
 * worker thread with a FileJob of @envid, @secret and @label. Returns: (transfer full)
 * (nullable): the task of a Secret Service call still to start (its task data a copy of
 * @envid), or NULL when the call is already answered or under way. */
static GTask *
begin_call (MsgtrkdKeyring *self,
            GTask          *task,
            const char     *envid,
            const char     *secret,
            const char     *label,
            GTaskThreadFunc file_thread)
{
  if (task == NULL)
    return NULL;
  if (self->backend == MSGTRKD_KEYRING_FILE)
    {
      file_job_set (task, envid, secret, label);
      run_in_thread (task, file_thread);
      return NULL;
    }
  g_task_set_task_data (task, g_strdup (envid), g_free);
  return task;
}

/* A libsecret call on the items of one set of attributes: secret_password_lookupv() and
 * secret_password_clearv() take the same arguments. */
typedef void (*SsAttributesCall) (const SecretSchema *schema,
                                  GHashTable         *attributes,
                                  GCancellable       *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer            user_data);

/* Lookup and delete (@source_tag): @file_thread in a worker thread for the file backend,
 * else @ss_call on the message's item, answered by @ss_done. */
static void
envid_call_async (MsgtrkdKeyring     *self,
                  gpointer            source_tag,
                  const char         *envid,
                  GTaskThreadFunc     file_thread,
                  SsAttributesCall    ss_call,
                  GAsyncReadyCallback ss_done,
                  GCancellable       *cancellable,
                  GAsyncReadyCallback callback,
                  gpointer            user_data)
{
  g_autoptr (GHashTable) attributes = NULL;
  GTask *task = begin_call (self,
                            checked_task (self, source_tag, envid, FALSE, NULL, cancellable,
                                          callback, user_data),
                            envid, NULL, NULL, file_thread);

  if (task == NULL)
    return;
  attributes = ss_attributes (envid);
  ss_call (&tracking_schema, attributes, cancellable, ss_done, task);
}

/* ---- public API ------------------------------------------------------------------------- */

/**
 * msgtrkd_keyring_store_async:
 * @self: a keyring
 * @envid: the message the secret belongs to
 * @secret_base64: the base64 mtrk-secret (never logged or quoted)
 * @label: (nullable): the item's label, e.g. "Tracking secret for “<subject>”"
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Stores (or replaces) the secret of @envid. The caller may wipe @secret_base64 as soon as
 * this returns.
 */
void
msgtrkd_keyring_store_async (MsgtrkdKeyring     *self,
                             const char         *envid,
                             const char         *secret_base64,
                             const char         *label,
                             GCancellable       *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer            user_data)
{
  g_autofree char *full_label = NULL;
  g_autoptr (GHashTable) attributes = NULL;
  GTask *task;

  g_return_if_fail (MSGTRKD_IS_KEYRING (self));

  full_label = check_envid (envid, NULL) ? default_label (envid, label) : NULL;
  task = begin_call (self,
                     checked_task (self, msgtrkd_keyring_store_async, envid, TRUE, secret_base64,
                                   cancellable, callback, user_data),
                     envid, secret_base64, full_label, file_store_thread);
  if (task == NULL)
    return;
  attributes = ss_attributes (envid);
  secret_password_storev (&tracking_schema, attributes, SECRET_COLLECTION_DEFAULT, full_label,
                          secret_base64, cancellable, ss_store_done, task);
}

/**
 * msgtrkd_keyring_store_finish:
 * @self: a keyring
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the secret is stored
 */
gboolean
msgtrkd_keyring_store_finish (MsgtrkdKeyring *self,
                              GAsyncResult   *result,
                              GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * msgtrkd_keyring_lookup_async:
 * @self: a keyring
 * @envid: the message whose secret is wanted
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Looks up the secret of @envid.
 */
void
msgtrkd_keyring_lookup_async (MsgtrkdKeyring     *self,
                              const char         *envid,
                              GCancellable       *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer            user_data)
{
  g_return_if_fail (MSGTRKD_IS_KEYRING (self));

  envid_call_async (self, msgtrkd_keyring_lookup_async, envid, file_lookup_thread,
                    secret_password_lookupv, ss_lookup_done, cancellable, callback, user_data);
}

/**
 * msgtrkd_keyring_lookup_finish:
 * @self: a keyring
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the base64 secret, free with msgtrk_secure_free_string(); %NULL
 *   with %MSGTRKD_ERROR_SECRET_MISSING if there is none, or
 *   %MSGTRKD_ERROR_KEYRING_UNAVAILABLE
 */
char *
msgtrkd_keyring_lookup_finish (MsgtrkdKeyring *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * msgtrkd_keyring_delete_async:
 * @self: a keyring
 * @envid: the message whose secret goes
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Deletes the secret of @envid; deleting a secret that is not there succeeds.
 */
void
msgtrkd_keyring_delete_async (MsgtrkdKeyring     *self,
                              const char         *envid,
                              GCancellable       *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer            user_data)
{
  g_return_if_fail (MSGTRKD_IS_KEYRING (self));

  envid_call_async (self, msgtrkd_keyring_delete_async, envid, file_delete_thread,
                    secret_password_clearv, ss_clear_done, cancellable, callback, user_data);
}

/**
 * msgtrkd_keyring_delete_finish:
 * @self: a keyring
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the secret is gone (or was never there)
 */
gboolean
msgtrkd_keyring_delete_finish (MsgtrkdKeyring *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * msgtrkd_keyring_store_sync:
 * @self: a keyring
 * @envid: the message the secret belongs to
 * @secret_base64: the base64 mtrk-secret
 * @label: (nullable): the item's label
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Blocking form of msgtrkd_keyring_store_async(); never call it on the daemon's main loop.
 *
 * Returns: %TRUE if the secret is stored
 */
gboolean
msgtrkd_keyring_store_sync (MsgtrkdKeyring *self,
                            const char     *envid,
                            const char     *secret_base64,
                            const char     *label,
                            GCancellable   *cancellable,
                            GError        **error)
{
  g_autofree char *full_label = NULL;
  g_autoptr (GHashTable) attributes = NULL;
  GError *local_error = NULL;

  g_return_val_if_fail (MSGTRKD_IS_KEYRING (self), FALSE);

  if (!check_envid (envid, error) || !check_secret (secret_base64, error))
    return FALSE;
  full_label = default_label (envid, label);
  if (self->backend == MSGTRKD_KEYRING_FILE)
    return file_store (self, envid, secret_base64, full_label, error);

  attributes = ss_attributes (envid);
  if (!secret_password_storev_sync (&tracking_schema, attributes, SECRET_COLLECTION_DEFAULT,
                                    full_label, secret_base64, cancellable, &local_error))
    {
      ss_propagate (error, local_error);
      return FALSE;
    }
  return TRUE;
}

/**
 * msgtrkd_keyring_lookup_sync:
 * @self: a keyring
 * @envid: the message whose secret is wanted
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Blocking form of msgtrkd_keyring_lookup_async().
 *
 * Returns: (transfer full): the base64 secret, free with msgtrk_secure_free_string()
 */
char *
msgtrkd_keyring_lookup_sync (MsgtrkdKeyring *self,
                             const char     *envid,
                             GCancellable   *cancellable,
                             GError        **error)
{
  g_autoptr (GHashTable) attributes = NULL;
  GError *local_error = NULL;
  char *password;

  g_return_val_if_fail (MSGTRKD_IS_KEYRING (self), NULL);

  if (!check_envid (envid, error))
    return NULL;
  if (self->backend == MSGTRKD_KEYRING_FILE)
    return file_lookup (self, envid, error);

  attributes = ss_attributes (envid);
  password = secret_password_lookupv_sync (&tracking_schema, attributes, cancellable,
                                           &local_error);
  if (local_error != NULL)
    {
      ss_propagate (error, local_error);
      return NULL;
    }
  if (password == NULL)
    {
      if (ss_default_usable_sync (cancellable, error))
        set_missing (error, envid);
      return NULL;
    }
  return ss_take_password (password);
}

/**
 * msgtrkd_keyring_delete_sync:
 * @self: a keyring
 * @envid: the message whose secret goes
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Blocking form of msgtrkd_keyring_delete_async().
 *
 * Returns: %TRUE if the secret is gone (or was never there)
 */
gboolean
msgtrkd_keyring_delete_sync (MsgtrkdKeyring *self,
                             const char     *envid,
                             GCancellable   *cancellable,
                             GError        **error)
{
  g_autoptr (GHashTable) attributes = NULL;
  GError *local_error = NULL;

  g_return_val_if_fail (MSGTRKD_IS_KEYRING (self), FALSE);

  if (!check_envid (envid, error))
    return FALSE;
  if (self->backend == MSGTRKD_KEYRING_FILE)
    return file_delete (self, envid, error);

  attributes = ss_attributes (envid);
  if (secret_password_clearv_sync (&tracking_schema, attributes, cancellable, &local_error))
    return TRUE;
  if (local_error != NULL)
    {
      ss_propagate (error, local_error);
      return FALSE;
    }
  /* Nothing deleted: fine if there was nothing, not if the keyring is locked. */
  return ss_default_usable_sync (cancellable, error);
}

/**
 * msgtrkd_keyring_derive_async:
 * @self: a keyring
 * @envid: the message (an ENVID msgtrkd generated)
 * @create_master: make the master secret if the keyring has none (only Prepare does)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Derives the A of @envid from the master secret (docs/secret-derivation.md). The first
 * call reads the master from the keyring in a worker thread; later calls use the cached
 * master and do not touch the keyring or a thread.
 */
static void
derive_purpose_async (MsgtrkdKeyring     *self,
                      const char         *envid,
                      gboolean            create_master,
                      gboolean            content_track,
                      GCancellable       *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer            user_data);

void
msgtrkd_keyring_derive_async (MsgtrkdKeyring     *self,
                              const char         *envid,
                              gboolean            create_master,
                              GCancellable       *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer            user_data)
{
  derive_purpose_async (self, envid, create_master, FALSE, cancellable, callback, user_data);
}

/**
 * msgtrkd_keyring_content_track_async:
 * @self: a keyring
 * @envid: the message (an ENVID msgtrkd generated)
 * @create_master: make the master secret if the keyring has none
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done; finish with msgtrkd_keyring_derive_finish()
 * @user_data: data for @callback
 *
 * Derives the Content-Track key of @envid (Harrison's trace reciprocation,
 * docs/harrison.md) from the master secret, under its own label: the key says nothing of
 * A or of the ENVID. Reads the master as msgtrkd_keyring_derive_async() does.
 */
void
msgtrkd_keyring_content_track_async (MsgtrkdKeyring     *self,
                                     const char         *envid,
                                     gboolean            create_master,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data)
{
  derive_purpose_async (self, envid, create_master, TRUE, cancellable, callback, user_data);
}

static void
derive_purpose_async (MsgtrkdKeyring     *self,
                      const char         *envid,
                      gboolean            create_master,
                      gboolean            content_track,
                      GCancellable       *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer            user_data)
{
  GTask *task;
  DeriveJob *job;

  g_return_if_fail (MSGTRKD_IS_KEYRING (self));

  task = checked_task (self, msgtrkd_keyring_derive_async, envid, FALSE, NULL, cancellable,
                       callback, user_data);
  if (task == NULL)
    return;
  if (master_cached (self))
    {
      GError *error = NULL;
      char *secret = derive_purpose_sync (self, envid, FALSE, content_track, cancellable,
                                          &error);

      task_return_secret (task, secret, error);
      g_object_unref (task);
      return;
    }
  job = g_new0 (DeriveJob, 1);
  job->envid = g_strdup (envid);
  job->create = create_master;
  job->content_track = content_track;
  g_task_set_task_data (task, job, (GDestroyNotify) derive_job_free);
  run_in_thread (task, derive_thread);
}

/**
 * msgtrkd_keyring_derive_finish:
 * @self: a keyring
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the base64 A, free with msgtrk_secure_free_string(); %NULL with
 *   %MSGTRKD_ERROR_SECRET_MISSING if there is no master (and none was to be made), or
 *   %MSGTRKD_ERROR_KEYRING_UNAVAILABLE
 */
char *
msgtrkd_keyring_derive_finish (MsgtrkdKeyring *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * msgtrkd_keyring_derive_sync:
 * @self: a keyring
 * @envid: the message
 * @create_master: make the master secret if the keyring has none
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Blocking form of msgtrkd_keyring_derive_async().
 *
 * Returns: (transfer full): the base64 A, free with msgtrk_secure_free_string()
 */
char *
msgtrkd_keyring_derive_sync (MsgtrkdKeyring *self,
                             const char     *envid,
                             gboolean        create_master,
                             GCancellable   *cancellable,
                             GError        **error)
{
  g_return_val_if_fail (MSGTRKD_IS_KEYRING (self), NULL);

  if (!check_envid (envid, error))
    return NULL;
  return derive_sync (self, envid, create_master, cancellable, error);
}

/**
 * msgtrkd_keyring_secret_async:
 * @self: a keyring
 * @envid: the message
 * @derived: %TRUE if the message's A is derived from the master secret (messages prepared
 *   since the master scheme), %FALSE if it is an item of its own (messages prepared before,
 *   and imported, delegated secrets)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * The A of a message, whichever way it is kept; finish with msgtrkd_keyring_lookup_finish().
 * The master is never made here.
 */
void
msgtrkd_keyring_secret_async (MsgtrkdKeyring     *self,
                              const char         *envid,
                              gboolean            derived,
                              GCancellable       *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer            user_data)
{
  if (derived)
    msgtrkd_keyring_derive_async (self, envid, FALSE, cancellable, callback, user_data);
  else
    msgtrkd_keyring_lookup_async (self, envid, cancellable, callback, user_data);
}

/**
 * msgtrkd_keyring_forget_master:
 * @self: a keyring
 *
 * Wipes the cached master (tests; a later derivation reads the keyring again).
 */
void
msgtrkd_keyring_forget_master (MsgtrkdKeyring *self)
{
  g_return_if_fail (MSGTRKD_IS_KEYRING (self));

  g_mutex_lock (&self->master_lock);
  g_clear_pointer (&self->master, locked_page_free);
  g_mutex_unlock (&self->master_lock);
}
