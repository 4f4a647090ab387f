/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-relay-harrison.c: the relay's Content-Track limits (server/relay/relay-harrison.c,
 * docs/harrison.md), built from the relay's sources.
 *
 * What: the per-sender rate at and past max_per_sender, a new window; the table of
 * RELAY_HARRISON_MAX_SENDERS reverse paths at and past its size, and freed by expired
 * windows; [harrison] values at and past their limits (own_networks entries, max_per_sender,
 * window); the header collection at and past RELAY_HARRISON_MAX_HEADER_SIZE.
 */
#include "config.h"

#include <string.h>

#include "relay-harrison.h"

static RelayHarrison *
harrison_from (const char *text)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  RelayHarrison *h;

  g_assert_true (g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, &error));
  g_assert_true (relay_harrison_check_config (kf, &error));
  g_assert_no_error (error);
  h = relay_harrison_new (kf, &error);
  g_assert_no_error (error);
  return h;
}

static gboolean
config_ok (const char *text)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  gboolean ok;

  g_assert_true (g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, &error));
  ok = relay_harrison_check_config (kf, &error);
  g_assert_true (ok == (error == NULL));
  if (!ok)
    g_assert_nonnull (strstr (error->message, "harrison"));
  return ok;
}

static void
test_off (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;

  g_assert_null (relay_harrison_new (kf, &error));
  g_assert_no_error (error);
  g_assert_true (g_key_file_load_from_data (kf, "[harrison]\nenabled=false\n", -1,
                                            G_KEY_FILE_NONE, &error));
  g_assert_null (relay_harrison_new (kf, &error));
  g_assert_no_error (error);
  g_assert_null (relay_harrison_headers_new (NULL));
}

static void
test_rate_per_sender (void)
{
  RelayHarrison *h = harrison_from ("[harrison]\nenabled=true\nmax_per_sender=2\nwindow=60\n");

  g_assert_true (relay_harrison_rate_allows (h, "me@example.org", 1000));
  g_assert_true (relay_harrison_rate_allows (h, "ME@example.org", 1001)); /* at the limit */
  g_assert_false (relay_harrison_rate_allows (h, "me@example.org", 1002)); /* past it */
  g_assert_true (relay_harrison_rate_allows (h, "you@example.org", 1002));
  g_assert_false (relay_harrison_rate_allows (h, "me@example.org", 1059));
  g_assert_true (relay_harrison_rate_allows (h, "me@example.org", 1060)); /* a new window */
  relay_harrison_free (h);
}

static void
test_rate_table (void)
{
  RelayHarrison *h = harrison_from ("[harrison]\nenabled=true\nmax_per_sender=5\nwindow=60\n");

  for (guint i = 0; i < RELAY_HARRISON_MAX_SENDERS; i++)
    {
      g_autofree char *sender = g_strdup_printf ("s%u@example.org", i);

      g_assert_true (relay_harrison_rate_allows (h, sender, 1000));
    }
  /* Full: a new reverse path gets nothing; one already counted still does. */
  g_assert_false (relay_harrison_rate_allows (h, "new@example.org", 1010));
  g_assert_true (relay_harrison_rate_allows (h, "s7@example.org", 1010));
  /* Once the windows ended, the table makes room. */
  g_assert_true (relay_harrison_rate_allows (h, "new@example.org", 1060));
  relay_harrison_free (h);
}

static void
test_config_limits (void)
{
  GString *at = g_string_new ("[harrison]\nenabled=true\nown_networks=");
  g_autofree char *past = NULL;

  for (guint i = 0; i < RELAY_HARRISON_MAX_NETWORKS; i++)
    g_string_append_printf (at, "%s10.%u.%u.0/24", i ? ";" : "", i / 256, i % 256);
  past = g_strdup_printf ("%s;192.0.2.0/24\n", at->str);
  g_string_append (at, "\n");
  g_assert_true (config_ok (at->str));
  g_assert_false (config_ok (past));
  g_string_free (at, TRUE);

  g_assert_true (config_ok ("[harrison]\nmax_per_sender=10000\n"));
  g_assert_false (config_ok ("[harrison]\nmax_per_sender=10001\n"));
  g_assert_false (config_ok ("[harrison]\nmax_per_sender=0\n"));
  g_assert_true (config_ok ("[harrison]\nwindow=604800\n"));
  g_assert_false (config_ok ("[harrison]\nwindow=604801\n"));
  g_assert_false (config_ok ("[harrison]\nown_networks=10.0.0.0/33\n"));
  g_assert_false (config_ok ("[harrison]\nenabled=perhaps\n"));
  g_assert_true (config_ok ("[harrison]\nown_networks=::1/128;fd00::/8\n"));
}

static void
test_headers (void)
{
  RelayHarrison *h = harrison_from ("[harrison]\nenabled=true\n");
  GString *at = relay_harrison_headers_new (h);
  GString *past = relay_harrison_headers_new (h);
  g_autofree char *line = g_strnfill (RELAY_HARRISON_MAX_HEADER_SIZE - 2, 'x');

  relay_harrison_header_line (at, line, strlen (line)); /* with its CRLF: exactly the limit */
  g_assert_cmpuint (at->len, ==, RELAY_HARRISON_MAX_HEADER_SIZE);
  relay_harrison_header_line (past, line, strlen (line));
  relay_harrison_header_line (past, "y", 1);           /* past it: given up */
  g_assert_cmpuint (past->len, <, 2);
  relay_harrison_header_line (past, "z", 1);           /* stays given up */
  g_assert_cmpuint (past->len, <, 2);
  g_string_free (at, TRUE);
  g_string_free (past, TRUE);
  relay_harrison_free (h);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/relay-harrison/off", test_off);
  g_test_add_func ("/relay-harrison/rate/per-sender", test_rate_per_sender);
  g_test_add_func ("/relay-harrison/rate/table", test_rate_table);
  g_test_add_func ("/relay-harrison/config/limits", test_config_limits);
  g_test_add_func ("/relay-harrison/headers", test_headers);
  return g_test_run ();
}
