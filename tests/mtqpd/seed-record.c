/* SPDX-License-Identifier: GPL-3.0-or-later */
/* seed-record.c: write one tracking record with track-store, for mtqpd's tests.
 *
 *   seed-record STATE_DIR ENVID AUTHENTICATOR EXPIRES [options]
 *     --reporting-mta HOST        (default mx.test.example)
 *     --arrival-date RFC5322DATE  (default: none)
 *     --field NAME=VALUE          per-message extension field (repeatable)
 *     --rcpt ADDR,ACTION,STATUS[,REMOTE-MTA]   a recipient block (repeatable)
 *     --rcpt-field NAME=VALUE     extension field of the last --rcpt (repeatable)
 *
 * The record goes through track_store_put(), so the record format has one writer. The
 * authenticator B is given (the harness computes it with an independent SHA-1); the
 * secret A never appears here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgtrk-private.h"
#include "track-store.h"

static gboolean
split_pair (const char *arg,
            char      **name,
            char      **value)
{
  const char *eq = strchr (arg, '=');

  if (eq == NULL || eq == arg)
    return FALSE;
  *name = g_strndup (arg, (gsize) (eq - arg));
  *value = g_strdup (eq + 1);
  return TRUE;
}

static int
usage (void)
{
  fprintf (stderr, "usage: seed-record STATE_DIR ENVID AUTHENTICATOR EXPIRES "
                   "[--reporting-mta H] [--arrival-date D] [--field N=V] "
                   "[--rcpt ADDR,ACTION,STATUS[,REMOTE]] [--rcpt-field N=V]\n");
  return 2;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TrackStore) store = NULL;
  g_autoptr (MsgtrkReport) report = NULL;
  MsgtrkRecipientReport *last = NULL;
  const char *reporting_mta = "mx.test.example";
  guint64 expires;
  int i;

  if (argc < 5 || !g_ascii_string_to_unsigned (argv[4], 10, 0, G_MAXINT64, &expires, NULL))
    return usage ();

  report = msgtrk_report_new (MSGTRK_REPORT_KIND_TRACKING_STATUS);
  msgtrk_report_set_envid (report, argv[2]);
  for (i = 5; i < argc; i++)
    {
      const char *opt = argv[i];
      const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
      g_autofree char *name = NULL;
      g_autofree char *value = NULL;

      if (arg == NULL)
        return usage ();
      i++;
      if (strcmp (opt, "--reporting-mta") == 0)
        reporting_mta = arg;
      else if (strcmp (opt, "--arrival-date") == 0)
        {
          g_autoptr (GDateTime) date = msgtrk_date_parse (arg);

          if (date == NULL)
            return usage ();
          msgtrk_report_set_arrival_date (report, date);
        }
      else if (strcmp (opt, "--field") == 0 && split_pair (arg, &name, &value))
        msgtrk_report_set_field (report, name, value);
      else if (strcmp (opt, "--rcpt-field") == 0 && last != NULL
               && split_pair (arg, &name, &value))
        msgtrk_recipient_report_set_field (last, name, value);
      else if (strcmp (opt, "--rcpt") == 0)
        {
          g_auto (GStrv) parts = g_strsplit (arg, ",", 4);
          g_autoptr (MsgtrkRecipientReport) r = NULL;

          if (g_strv_length (parts) < 3)
            return usage ();
          r = msgtrk_recipient_report_new (parts[0]);
          msgtrk_recipient_report_set_action (r, msgtrk_action_from_string (parts[1]));
          if (!msgtrk_recipient_report_set_status (r, parts[2], NULL, &error))
            goto fail;
          if (parts[3] != NULL)
            msgtrk_recipient_report_set_remote_mta (r, parts[3]);
          msgtrk_report_add_recipient (report, r);
          last = r;
        }
      else
        return usage ();
    }
  msgtrk_report_set_reporting_mta (report, reporting_mta);

  /* MSGTRK_SEED_STORE_CONF: a configuration file whose [store] group names the backend
   * (tests/pg); otherwise the files backend in STATE_DIR. */
  if (g_getenv ("MSGTRK_SEED_STORE_CONF") != NULL)
    {
      g_autoptr (GKeyFile) kf = g_key_file_new ();

      if (!g_key_file_load_from_file (kf, g_getenv ("MSGTRK_SEED_STORE_CONF"), G_KEY_FILE_NONE,
                                      &error))
        goto fail;
      store = track_store_new_from_config (kf, argv[1], &error);
    }
  else
    store = track_store_new (argv[1], &error);
  if (store == NULL)
    goto fail;
  if (!track_store_put (store, argv[2], argv[3], (gint64) expires, report, &error))
    goto fail;
  return 0;

fail:
  fprintf (stderr, "seed-record: %s\n", error->message);
  /* 3: refused by the first-owner rule (tests count the winners of a race). */
  return g_error_matches (error, MSGTRK_ERROR, MSGTRK_ERROR_INVALID_SECRET) ? 3 : 1;
}
