/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-evo-accounts.c: the "Send with tracking" switch against a real source registry.
 *
 * What: a private session bus (GTestDBus) on which D-Bus activates the system's
 * evolution-source-registry with a temporary XDG_CONFIG_HOME holding two accounts (one
 * with an SMTP transport with host, port, STARTTLS, user and mechanism; one with
 * sendmail); the registry and this program load the built provider (EDS_EXTRA_PREFIXES,
 * camel_provider_load; in sanitizer builds this program only). Checks: only the SMTP account is listed; switching it to "SMTP with
 * tracking" rewrites BackendName in the key file the registry writes, every other setting
 * kept; a running CamelService for it is replaced by one of the new protocol; the
 * per-account default is written in the transport source and read back; switching back
 * to smtp; sendmail and an unknown id are refused.
 * Limits: skips without evolution-source-registry's D-Bus service.
 * Never: touch the user's own sources (everything under a temporary directory).
 */
#include <glib/gstdio.h>

#include "msgtrk-camel-transport.h"
#include "msgtrk-evo-accounts.h"
#include "test-util.h"

#define REGISTRY_SERVICE_DIR "/usr/share/dbus-1/services"
#define REGISTRY_SERVICE_FILE REGISTRY_SERVICE_DIR "/org.gnome.evolution.dataserver.Sources5.service"
/* How long the registry may take to write a key file after a write call. */
#define FILE_WAIT_US (10 * G_USEC_PER_SEC)

static char *tmp_dir;
static char *sources_dir;
static GTestDBus *bus;
static ESourceRegistry *registry;
static char *extra_prefix;

typedef struct
{
  CamelSession parent_instance;
} TestSession;
typedef struct
{
  CamelSessionClass parent_class;
} TestSessionClass;
GType test_session_get_type (void);
G_DEFINE_TYPE (TestSession, test_session, CAMEL_TYPE_SESSION)
static void
test_session_class_init (TestSessionClass *klass)
{
}
static void
test_session_init (TestSession *self)
{
}

static void
write_source (const char *uid, const char *text)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.source", sources_dir, uid);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static GKeyFile *
read_source (const char *uid)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.source", sources_dir, uid);
  GKeyFile *kf = g_key_file_new ();

  g_assert_true (g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL));
  return kf;
}

/* Waits until the registry has written GROUP/KEY=VALUE into UID's file. */
static GKeyFile *
wait_source (const char *uid, const char *group, const char *key, const char *value)
{
  gint64 end = g_get_monotonic_time () + FILE_WAIT_US;

  for (;;)
    {
      GKeyFile *kf = read_source (uid);
      g_autofree char *got = g_key_file_get_string (kf, group, key, NULL);

      if (g_strcmp0 (got, value) == 0)
        return kf;
      g_key_file_free (kf);
      if (g_get_monotonic_time () > end)
        g_error ("%s: [%s] %s is “%s”, not “%s”", uid, group, key, got, value);
      g_usleep (50000);
    }
}

static void
assert_kept (GKeyFile *kf)
{
  g_autofree char *host = g_key_file_get_string (kf, "Authentication", "Host", NULL);
  g_autofree char *user = g_key_file_get_string (kf, "Authentication", "User", NULL);
  g_autofree char *method = g_key_file_get_string (kf, "Authentication", "Method", NULL);
  g_autofree char *security = g_key_file_get_string (kf, "Security", "Method", NULL);

  g_assert_cmpstr (host, ==, "smtp.example.org");
  g_assert_cmpint (g_key_file_get_integer (kf, "Authentication", "Port", NULL), ==, 587);
  g_assert_cmpstr (user, ==, "alice");
  g_assert_cmpstr (method, ==, "PLAIN");
  g_assert_cmpstr (security, ==, "starttls-on-standard-port");
}

static void
test_list (void)
{
  g_autoptr (GPtrArray) accounts = msgtrk_evo_accounts_list (registry);
  MsgtrkEvoAccount *a;

  g_assert_cmpuint (accounts->len, ==, 1); /* the sendmail account is not offered */
  a = g_ptr_array_index (accounts, 0);
  g_assert_cmpstr (a->display_name, ==, "Alice");
  g_assert_cmpstr (a->identity_uid, ==, "ident");
  g_assert_cmpstr (a->transport_uid, ==, "transport");
  g_assert_false (a->tracked);
  g_assert_false (msgtrk_evo_accounts_get_track_default (registry, "transport"));
}

static void
test_switch (void)
{
  g_autofree char *data = g_build_filename (tmp_dir, "camel", NULL);
  g_autoptr (CamelSession) session
    = g_object_new (test_session_get_type (), "user-data-dir", data, "user-cache-dir", data,
                    NULL);
  g_autoptr (CamelService) before = NULL;
  g_autoptr (CamelService) after = NULL;
  g_autoptr (GPtrArray) accounts = NULL;
  g_autoptr (GError) error = NULL;
  GKeyFile *kf;

  before = camel_session_add_service (session, "transport", MSGTRK_EVO_SMTP_PROTOCOL,
                                      CAMEL_PROVIDER_TRANSPORT, &error);
  g_assert_no_error (error);
  g_assert_true (msgtrk_evo_accounts_set_tracked (registry, session, "transport", TRUE, NULL,
                                                  &error));
  g_assert_no_error (error);
  kf = wait_source ("transport", "Mail Transport", "BackendName", MSGTRK_CAMEL_PROTOCOL);
  assert_kept (kf);
  g_key_file_free (kf);
  after = camel_session_ref_service (session, "transport");
  g_assert_nonnull (after);
  g_assert_true (after != before);
  g_assert_cmpstr (camel_service_get_provider (after)->protocol, ==,
                   MSGTRK_CAMEL_PROTOCOL);
  accounts = msgtrk_evo_accounts_list (registry);
  g_assert_true (((MsgtrkEvoAccount *) g_ptr_array_index (accounts, 0))->tracked);
  /* again: nothing to do */
  g_assert_true (msgtrk_evo_accounts_set_tracked (registry, session, "transport", TRUE, NULL,
                                                  &error));
  g_assert_no_error (error);
}

static void
test_track_default (void)
{
  g_autoptr (GError) error = NULL;
  GKeyFile *kf;
  g_auto (GStrv) groups = NULL;
  gboolean found = FALSE;

  g_assert_false (msgtrk_evo_accounts_get_track_default (registry, "transport"));
  g_assert_true (msgtrk_evo_accounts_set_track_default (registry, "transport", TRUE, NULL,
                                                        &error));
  g_assert_no_error (error);
  g_assert_true (msgtrk_evo_accounts_get_track_default (registry, "transport"));
  /* in the transport's own file, in the provider's group */
  for (gint64 end = g_get_monotonic_time () + FILE_WAIT_US; !found;)
    {
      kf = read_source ("transport");
      groups = g_key_file_get_groups (kf, NULL);
      for (guint i = 0; groups[i]; i++)
        if (g_key_file_get_boolean (kf, groups[i], "TrackByDefault", NULL))
          found = TRUE;
      g_clear_pointer (&groups, g_strfreev);
      g_key_file_free (kf);
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      if (!found)
        g_usleep (50000);
    }
}

static void
test_switch_back (void)
{
  g_autoptr (GError) error = NULL;
  GKeyFile *kf;

  g_assert_true (msgtrk_evo_accounts_set_tracked (registry, NULL, "transport", FALSE, NULL,
                                                  &error));
  g_assert_no_error (error);
  kf = wait_source ("transport", "Mail Transport", "BackendName", MSGTRK_EVO_SMTP_PROTOCOL);
  assert_kept (kf);
  g_key_file_free (kf);
  /* untracked mail cannot be tracked: the default reads FALSE while on smtp */
  g_assert_false (msgtrk_evo_accounts_get_track_default (registry, "transport"));
}

static void
test_refused (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (msgtrk_evo_accounts_set_tracked (registry, NULL, "transport2", TRUE, NULL,
                                                   &error));
  g_assert_error (error, MSGTRK_EVO_ACCOUNTS_ERROR, MSGTRK_EVO_ACCOUNTS_ERROR_NOT_SMTP);
  g_clear_error (&error);
  g_assert_false (msgtrk_evo_accounts_set_tracked (registry, NULL, "no-such-source", TRUE,
                                                   NULL, &error));
  g_assert_error (error, MSGTRK_EVO_ACCOUNTS_ERROR, MSGTRK_EVO_ACCOUNTS_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (msgtrk_evo_accounts_set_track_default (registry, "transport2", TRUE, NULL,
                                                         &error));
  g_assert_error (error, MSGTRK_EVO_ACCOUNTS_ERROR, MSGTRK_EVO_ACCOUNTS_ERROR_NOT_SMTP);
  g_assert_null (msgtrk_evo_accounts_dup_transport_uid (registry, "no-such-identity"));
}

static void
setup_home (const char *build)
{
  g_autofree char *prefix = g_build_filename (tmp_dir, "prefix", NULL);
  g_autofree char *pdir = g_build_filename (prefix, "lib", "evolution-data-server",
                                            "camel-providers", NULL);
  const char *names[] = { "libcamelmsgtrk.so", "libcamelmsgtrk.urls" };
  g_autofree char *libdir = g_build_filename (build, "lib", NULL);

  sources_dir = g_build_filename (tmp_dir, "config", "evolution", "sources", NULL);
  g_assert_cmpint (g_mkdir_with_parents (sources_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (pdir, 0700), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *target = g_build_filename (build, "plugin", "evolution", names[i], NULL);
      g_autofree char *link = g_build_filename (pdir, names[i], NULL);
      g_assert_cmpint (symlink (target, link), ==, 0);
    }
  /* for the registry only (set just before the bus starts): this program loads the
   * provider itself, and Camel would find a second copy there */
  extra_prefix = g_steal_pointer (&prefix);
  g_setenv ("LD_LIBRARY_PATH", libdir, TRUE);
  g_setenv ("XDG_CONFIG_HOME", g_build_filename (tmp_dir, "config", NULL), TRUE);
  g_setenv ("XDG_DATA_HOME", g_build_filename (tmp_dir, "data", NULL), TRUE);
  g_setenv ("XDG_CACHE_HOME", g_build_filename (tmp_dir, "cache", NULL), TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_setenv ("GIO_USE_VFS", "local", TRUE);
  write_source ("acct", "[Data Source]\nDisplayName=Alice\nEnabled=true\nParent=\n\n"
                        "[Mail Account]\nBackendName=none\nIdentityUid=ident\n");
  write_source ("ident", "[Data Source]\nDisplayName=Alice\nEnabled=true\nParent=acct\n\n"
                         "[Mail Identity]\nAddress=alice@example.org\n\n"
                         "[Mail Submission]\nTransportUid=transport\n");
  write_source ("transport",
                "[Data Source]\nDisplayName=Alice\nEnabled=true\nParent=acct\n\n"
                "[Mail Transport]\nBackendName=smtp\n\n"
                "[Authentication]\nHost=smtp.example.org\nPort=587\nUser=alice\nMethod=PLAIN\n\n"
                "[Security]\nMethod=starttls-on-standard-port\n");
  write_source ("acct2", "[Data Source]\nDisplayName=Bob\nEnabled=true\nParent=\n\n"
                         "[Mail Account]\nBackendName=none\nIdentityUid=ident2\n");
  write_source ("ident2", "[Data Source]\nDisplayName=Bob\nEnabled=true\nParent=acct2\n\n"
                          "[Mail Identity]\nAddress=bob@example.org\n\n"
                          "[Mail Submission]\nTransportUid=transport2\n");
  write_source ("transport2", "[Data Source]\nDisplayName=Bob\nEnabled=true\nParent=acct2\n\n"
                              "[Mail Transport]\nBackendName=sendmail\n");
}

int
main (int argc, char **argv)
{
  const char *build = g_getenv ("MSGTRK_BUILD_ROOT");
  g_autofree char *provider = NULL;
  g_autoptr (GError) error = NULL;
  int rc;

  g_test_init (&argc, &argv, NULL);
  if (build == NULL || !g_file_test (REGISTRY_SERVICE_FILE, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("no evolution-source-registry D-Bus service or no MSGTRK_BUILD_ROOT");
      return 77;
    }
  tmp_dir = g_dir_make_tmp ("evo-accounts-XXXXXX", NULL);
  g_assert_nonnull (tmp_dir);
  setup_home (build);
  camel_init (tmp_dir, FALSE);
  camel_provider_init (); /* the system providers (smtp) first */
  provider = g_build_filename (build, "plugin", "evolution", "libcamelmsgtrk.so", NULL);
  if (!camel_provider_load (provider, &error))
    g_error ("%s", error->message);
  e_source_camel_register_types ();

#ifndef MSGTRK_TEST_SANITIZED
  /* An instrumented provider cannot load into the system's uninstrumented registry. */
  g_setenv ("EDS_EXTRA_PREFIXES", extra_prefix, TRUE);
#endif
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_add_service_dir (bus, REGISTRY_SERVICE_DIR);
  g_test_dbus_up (bus);
  registry = e_source_registry_new_sync (NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/evolution/accounts/list", test_list);
  g_test_add_func ("/evolution/accounts/switch", test_switch);
  g_test_add_func ("/evolution/accounts/track-default", test_track_default);
  g_test_add_func ("/evolution/accounts/switch-back", test_switch_back);
  g_test_add_func ("/evolution/accounts/refused", test_refused);
  rc = g_test_run ();

  /* The registry's answers to the last writes (source changes) may still be queued here:
   * each holds the registry, and so the bus connection, which g_test_dbus_down() waits
   * for (30 s, then a fatal "weak notify timeout"). */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&registry);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  mt_tmpdir_remove (tmp_dir);
  return rc;
}
