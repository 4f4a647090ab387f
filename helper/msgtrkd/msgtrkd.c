/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd.c: the local tracking helper, a D-Bus session service (no GTK).
 *
 * NAME
 *   msgtrkd - tracks sent mail for the user's mail clients (org.msgtrk.Tracker1)
 * PURPOSE
 *   A GApplication (G_APPLICATION_IS_SERVICE, id org.msgtrk.Tracker1), started by D-Bus
 *   activation or systemd --user. It exports MsgtrkDBusTracker1 at /org/msgtrk/Tracker1 in
 *   dbus_register, polls MTQP in the background, merges DSNs and MDNs, and notifies.
 *   It stays while a poll is scheduled or running, and leaves after --idle-exit seconds
 *   without calls or polls; polling resumes from the store at the next start.
 * OPTIONS
 *   See data/man/msgtrkd.1: --store-dir, --keyring, --mtqp-override, --ca-file,
 *   --poll-schedule, --first-poll, --idle-exit, --verbose.
 * SECURITY
 *   The tracking secrets live in the keyring; the file backend is used only when the
 *   user allowed it (GSettings allow-file-secrets) or asked for it on the command line.
 *   Never: log A, take it from argv, write it to a temporary file.
 */
#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <string.h>

#include "msgtrk-private.h"
#include "msgtrkd-error.h"
#include "msgtrkd-scheduler.h"
#include "msgtrkd-service.h"

#define MSGTRKD_APP_ID "org.msgtrk.Tracker1"
/** MSGTRKD_DEFAULT_SCHEDULE: seconds between polls, the last step repeats. */
#define MSGTRKD_DEFAULT_SCHEDULE "60,300,900,3600,14400"
/** MSGTRKD_DEFAULT_FIRST_POLL: seconds from Committed to the first poll. */
#define MSGTRKD_DEFAULT_FIRST_POLL 10
/** MSGTRKD_DEFAULT_IDLE_EXIT: seconds without calls or polls before the service leaves. */
#define MSGTRKD_DEFAULT_IDLE_EXIT 60
/** MSGTRKD_MAX_IDLE_EXIT: longest --idle-exit (one day). */
#define MSGTRKD_MAX_IDLE_EXIT 86400

#define MSGTRKD_TYPE_APPLICATION (msgtrkd_application_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkdApplication, msgtrkd_application, MSGTRKD, APPLICATION,
                      GApplication)

struct _MsgtrkdApplication
{
  GApplication parent_instance;

  MsgtrkdOptions options;
  MsgtrkdService *service;  /* (owned) (nullable) */
};

G_DEFINE_FINAL_TYPE (MsgtrkdApplication, msgtrkd_application, G_TYPE_APPLICATION)

static gboolean
msgtrkd_application_dbus_register (GApplication    *app,
                                   GDBusConnection *connection,
                                   const char      *object_path,
                                   GError         **error)
{
  MsgtrkdApplication *self = MSGTRKD_APPLICATION (app);

  if (!G_APPLICATION_CLASS (msgtrkd_application_parent_class)->dbus_register (app, connection,
                                                                              object_path,
                                                                              error))
    return FALSE;
  if (self->service == NULL)
    {
      self->service = msgtrkd_service_new (app, &self->options, error);
      if (self->service == NULL)
        return FALSE;
    }
  return msgtrkd_service_export (self->service, connection, error);
}

static void
msgtrkd_application_dbus_unregister (GApplication    *app,
                                     GDBusConnection *connection,
                                     const char      *object_path)
{
  MsgtrkdApplication *self = MSGTRKD_APPLICATION (app);

  if (self->service != NULL)
    msgtrkd_service_unexport (self->service);
  G_APPLICATION_CLASS (msgtrkd_application_parent_class)->dbus_unregister (app, connection,
                                                                           object_path);
}

static void
show_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       data)
{
  MsgtrkdApplication *self = data;

  if (self->service != NULL)
    msgtrkd_service_show (self->service, g_variant_get_string (parameter, NULL));
}

static gboolean
quit_on_signal (gpointer data)
{
  g_message ("Leaving on a signal");
  g_application_quit (G_APPLICATION (data));
  return G_SOURCE_CONTINUE;
}

static void
msgtrkd_application_startup (GApplication *app)
{
  MsgtrkdApplication *self = MSGTRKD_APPLICATION (app);
  g_autoptr (GSimpleAction) show = g_simple_action_new ("show", G_VARIANT_TYPE_STRING);

  G_APPLICATION_CLASS (msgtrkd_application_parent_class)->startup (app);
  g_signal_connect (show, "activate", G_CALLBACK (show_activated), self);
  g_action_map_add_action (G_ACTION_MAP (app), G_ACTION (show));
  if (self->service != NULL)
    msgtrkd_service_start (self->service);
}

static void
msgtrkd_application_shutdown (GApplication *app)
{
  MsgtrkdApplication *self = MSGTRKD_APPLICATION (app);

  if (self->service != NULL)
    msgtrkd_service_shutdown (self->service);
  G_APPLICATION_CLASS (msgtrkd_application_parent_class)->shutdown (app);
}

static void
msgtrkd_application_finalize (GObject *object)
{
  MsgtrkdApplication *self = MSGTRKD_APPLICATION (object);

  g_clear_object (&self->service);
  msgtrkd_options_clear (&self->options);
  G_OBJECT_CLASS (msgtrkd_application_parent_class)->finalize (object);
}

static void
msgtrkd_application_class_init (MsgtrkdApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = msgtrkd_application_finalize;
  app_class->dbus_register = msgtrkd_application_dbus_register;
  app_class->dbus_unregister = msgtrkd_application_dbus_unregister;
  app_class->startup = msgtrkd_application_startup;
  app_class->shutdown = msgtrkd_application_shutdown;
}

static void
msgtrkd_application_init (MsgtrkdApplication *self)
{
}

/* Command line → options; FALSE with @error on a bad value. */
static gboolean
parse_options (int             *argc,
               char          ***argv,
               MsgtrkdOptions  *options,
               guint           *idle_exit,
               GError         **error)
{
  g_autofree char *store_dir = NULL;
  g_autofree char *keyring = NULL;
  g_autofree char *ca_file = NULL;
  g_autofree char *schedule = NULL;
  g_auto (GStrv) overrides = NULL;
  gint first_poll = MSGTRKD_DEFAULT_FIRST_POLL;
  gint idle = MSGTRKD_DEFAULT_IDLE_EXIT;
  gboolean verbose = FALSE;
  const GOptionEntry entries[] = {
    { "store-dir", 0, 0, G_OPTION_ARG_FILENAME, &store_dir,
      N_("Directory of the tracking store (default $XDG_DATA_HOME/msgtrk)"), N_("DIR") },
    { "keyring", 0, 0, G_OPTION_ARG_STRING, &keyring,
      N_("Where tracking secrets live: secret-service or file"), N_("BACKEND") },
    { "mtqp-override", 0, 0, G_OPTION_ARG_STRING_ARRAY, &overrides,
      N_("Reach MTQP server NAME at ADDRESS:PORT (repeatable)"), N_("NAME=ADDRESS:PORT") },
    { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
      N_("Trust the CA certificates in FILE for MTQP over TLS"), N_("FILE") },
    { "poll-schedule", 0, 0, G_OPTION_ARG_STRING, &schedule,
      /* The default written out: xgettext cannot see through MSGTRKD_DEFAULT_SCHEDULE. */
      N_("Seconds between polls, the last one repeats (default 60,300,900,3600,14400)"),
      N_("S1,S2,…") },
    { "first-poll", 0, 0, G_OPTION_ARG_INT, &first_poll,
      N_("Seconds from sending to the first poll (default 10)"), N_("SECONDS") },
    { "idle-exit", 0, 0, G_OPTION_ARG_INT, &idle,
      N_("Leave after SECONDS with nothing to do (default 60)"), N_("SECONDS") },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Log debug messages"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_autoptr (GSettings) settings = NULL;

  g_option_context_set_summary (context,
                                _("The msgtrk tracking helper (D-Bus service org.msgtrk.Tracker1)"));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (*argc > 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   _("Unexpected argument “%s”"), (*argv)[1]);
      return FALSE;
    }
  if (verbose)
    g_log_set_debug_enabled (TRUE);

  if (!msgtrkd_scheduler_parse_schedule (schedule != NULL ? schedule : MSGTRKD_DEFAULT_SCHEDULE,
                                         &options->poll_schedule, error))
    return FALSE;
  if (first_poll < 0 || first_poll > MSGTRKD_SCHEDULER_MAX_INTERVAL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--first-poll takes 0 to %d seconds"), MSGTRKD_SCHEDULER_MAX_INTERVAL);
      return FALSE;
    }
  options->first_poll = (guint) first_poll;
  if (idle < 1 || idle > MSGTRKD_MAX_IDLE_EXIT)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--idle-exit takes 1 to %d seconds"), MSGTRKD_MAX_IDLE_EXIT);
      return FALSE;
    }
  *idle_exit = (guint) idle;

  settings = g_settings_new ("org.msgtrk");
  if (keyring == NULL)
    options->backend = g_settings_get_boolean (settings, "allow-file-secrets")
                         ? MSGTRKD_KEYRING_FILE : MSGTRKD_KEYRING_SECRET_SERVICE;
  else if (g_str_equal (keyring, "secret-service"))
    options->backend = MSGTRKD_KEYRING_SECRET_SERVICE;
  else if (g_str_equal (keyring, "file"))
    options->backend = MSGTRKD_KEYRING_FILE;  /* asked for explicitly */
  else
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (keyring, 40);

      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--keyring takes secret-service or file, not “%s”"), quoted);
      return FALSE;
    }

  options->store_dir = store_dir != NULL
                         ? g_steal_pointer (&store_dir)
                         : g_build_filename (g_get_user_data_dir (), "msgtrk", NULL);
  options->mtqp_overrides = g_steal_pointer (&overrides);
  options->ca_file = g_steal_pointer (&ca_file);
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr (MsgtrkdApplication) app = NULL;
  g_autoptr (GError) error = NULL;
  MsgtrkdOptions options = { 0 };
  guint idle_exit = MSGTRKD_DEFAULT_IDLE_EXIT;
  char *run_argv[] = { argv[0], NULL };
  guint sigterm_id, sigint_id;
  int status;

  setlocale (LC_ALL, "");
  msgtrk_ensure_i18n ();
  if (!parse_options (&argc, &argv, &options, &idle_exit, &error))
    {
      g_printerr ("msgtrkd: %s\n", error->message);
      msgtrkd_options_clear (&options);
      return 2;
    }

  /* Make the D-Bus error names known before the first call. */
  (void) MSGTRKD_ERROR;

  app = g_object_new (MSGTRKD_TYPE_APPLICATION, "application-id", MSGTRKD_APP_ID, "flags",
                      G_APPLICATION_IS_SERVICE, NULL);
  app->options = options;
  g_application_set_inactivity_timeout (G_APPLICATION (app), idle_exit * 1000);
  sigterm_id = g_unix_signal_add (SIGTERM, quit_on_signal, app);
  sigint_id = g_unix_signal_add (SIGINT, quit_on_signal, app);
  status = g_application_run (G_APPLICATION (app), 1, run_argv);
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);
  return status;
}
