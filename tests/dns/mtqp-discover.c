/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqp-discover.c: one MTQP track call with real DNS discovery, for tests/dns.
 *
 *   mtqp-discover DOMAIN ENVID [REPEAT]   (the base64 secret A is read from stdin)
 *
 * Runs msgtrk_mtqp_client_track_sync() on DOMAIN with no host overrides, so discovery
 * (SRV, then MX, then the domain's addresses) goes through the system's GResolver, and
 * prints one line per call:
 *   OK server=HOST:PORT reporting-mta=MTA action=ACTION
 *   ERROR code=N message
 * REPEAT (default 1, at most MTQP_DISCOVER_MAX_REPEAT) repeats the call, for SRV weights.
 *
 * Limits: one ENVID per call, short timeouts (a down target must fail fast).
 * Never: put the secret in argv, the output or an error message (it comes from stdin).
 */
#include <stdio.h>
#include <string.h>

#include <msgtrk.h>

/** MTQP_DISCOVER_MAX_REPEAT: most repeated calls in one run. */
#define MTQP_DISCOVER_MAX_REPEAT 100
/** MTQP_DISCOVER_SECRET_MAX: longest secret line read from stdin. */
#define MTQP_DISCOVER_SECRET_MAX 256

static void
print_answer (MsgtrkMtqpAnswer *answer)
{
  GPtrArray *reports;
  MsgtrkReport *report;
  GPtrArray *rcpts;
  const char *action = "none";

  if (!msgtrk_mtqp_answer_is_success (answer))
    {
      const GError *e = msgtrk_mtqp_answer_get_error (answer);

      printf ("ERROR code=%d %s\n", e != NULL ? e->code : -1,
              e != NULL ? e->message : "(no error)");
      return;
    }
  reports = msgtrk_mtqp_answer_get_reports (answer);
  if (reports == NULL || reports->len == 0)
    {
      printf ("ERROR code=-1 no report in the answer\n");
      return;
    }
  report = g_ptr_array_index (reports, 0);
  rcpts = msgtrk_report_get_recipients (report);
  if (rcpts != NULL && rcpts->len > 0)
    action = msgtrk_action_to_string (
      msgtrk_recipient_report_get_action (g_ptr_array_index (rcpts, 0)));
  printf ("OK server=%s:%u reporting-mta=%s action=%s\n",
          msgtrk_mtqp_answer_get_server_host (answer),
          (guint) msgtrk_mtqp_answer_get_server_port (answer),
          msgtrk_report_get_reporting_mta (report), action);
}

int
main (int    argc,
      char **argv)
{
  char secret[MTQP_DISCOVER_SECRET_MAX];
  guint64 repeat = 1;

  if (argc < 3 || argc > 4
      || (argc == 4 && !g_ascii_string_to_unsigned (argv[3], 10, 1, MTQP_DISCOVER_MAX_REPEAT,
                                                    &repeat, NULL)))
    {
      fprintf (stderr, "usage: mtqp-discover DOMAIN ENVID [REPEAT] < secret\n");
      return 2;
    }
  if (fgets (secret, sizeof secret, stdin) == NULL)
    {
      fprintf (stderr, "mtqp-discover: no secret on stdin\n");
      return 2;
    }
  secret[strcspn (secret, "\r\n")] = '\0';

  for (guint64 i = 0; i < repeat; i++)
    {
      g_autoptr (MsgtrkMtqpClient) client = msgtrk_mtqp_client_new ();
      g_autoptr (GPtrArray) answers = NULL;
      g_autoptr (GError) error = NULL;
      const char *envids[] = { argv[2], NULL };
      const char *secrets[] = { secret, NULL };

      msgtrk_mtqp_client_set_connect_timeout (client, 3);
      msgtrk_mtqp_client_set_read_timeout (client, 5);
      msgtrk_mtqp_client_set_deadline (client, 20);
      answers = msgtrk_mtqp_client_track_sync (client, argv[1], envids, secrets, NULL,
                                               &error);
      if (answers == NULL)
        printf ("ERROR code=%d %s\n", error->code, error->message);
      else if (answers->len != 1)
        printf ("ERROR code=-1 %u answers for one query\n", answers->len);
      else
        print_answer (g_ptr_array_index (answers, 0));
      fflush (stdout);
    }
  msgtrk_secure_wipe (secret, sizeof secret);
  return 0;
}
