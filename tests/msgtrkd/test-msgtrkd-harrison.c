/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-msgtrkd-harrison.c: TRACK: mails (helper/msgtrkd/msgtrkd-harrison.c,
 * docs/harrison.md).
 *
 * What: a relay's TRACK: mail read into its key, record and origin; every limit
 * (MSGTRKD_HARRISON_MAX_MESSAGE_SIZE, _MAX_RECORD_SIZE, _MAX_HOPS, the field length) at
 * and one past it; hostile mails (another key form, two Subjects, a body in base64, lines
 * that are not Received:, a field naming no server, NUL octets) refused whole; the hops
 * of several records merged once each, oldest first, per recipient.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-content-track-private.h"
#include "msgtrkd-harrison.h"
#include "msgtrkd-route.h"

#define KEY "ct1.abcdefghijklmnopqrstuvwxyz"

/* One Received: field of exactly @len octets with its CRLF (len >= 100), by @by. */
static char *
field_of_length (const char *by,
                 gsize       len)
{
  g_autofree char *head = g_strdup_printf (
    "Received: from c.example (c.example [192.0.2.1])\r\n\tby %s with ESMTP id Q1;\r\n"
    "\tSat, 05 Dec 2026 00:00:00 +0000",
    by);
  g_autofree char *fill = NULL;

  g_assert_cmpuint (strlen (head) + 6, <=, len);
  fill = g_strnfill (len - strlen (head) - 2 - 2 - 3, 'x'); /* "\r\n\t(" ")" "\r\n" */
  return g_strdup_printf ("%s\r\n\t(%s)\r\n", head, fill);
}

static GBytes *
mail_with (const char *subject,
           const char *extra_header,
           const char *body)
{
  g_autofree char *text = g_strdup_printf (
    "From: Mail Delivery System <MAILER-DAEMON@relay1.example>\r\n"
    "To: <me@example.org>\r\n"
    "Subject: %s\r\n"
    "%s"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "%s",
    subject, extra_header != NULL ? extra_header : "", body);

  return g_bytes_new (text, strlen (text));
}

static const char good_body[] =
  "Received: from client.example (client.example [192.0.2.10])\r\n"
  "\tby relay1.example with ESMTP id AAA\r\n"
  "\tfor <bob@example.net>; Sat, 05 Dec 2026 00:00:05 +0000\r\n"
  "Received: from me.example (me.example [192.0.2.9])\r\n"
  "\tby client.example with ESMTPS id BBB; Sat, 05 Dec 2026 00:00:01 +0000\r\n";

static void
test_parse_good (void)
{
  g_autoptr (GBytes) raw = mail_with ("TRACK: " KEY, NULL, good_body);
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdHarrisonMail) mail = NULL;

  g_assert_true (msgtrkd_harrison_is_track_mail (raw));
  mail = msgtrkd_harrison_parse (raw, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mail->key, ==, KEY);
  g_assert_cmpuint (mail->n_hops, ==, 2);
  g_assert_cmpstr (mail->origin, ==, "relay1.example");
}

static void
test_not_track (void)
{
  g_autoptr (GBytes) dsn = mail_with ("Delivery Status Notification (Success)", NULL, "x\r\n");
  g_autoptr (GBytes) folded = mail_with ("\r\n TRACK: " KEY, NULL, good_body);

  g_assert_false (msgtrkd_harrison_is_track_mail (dsn));
  /* A folded Subject is unfolded first. */
  g_assert_true (msgtrkd_harrison_is_track_mail (folded));
}

static void
assert_refused (GBytes *raw,
                gint    code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdHarrisonMail) mail = msgtrkd_harrison_parse (raw, &error);

  if (mail != NULL)
    g_test_message ("parsed: %u hops: %s", mail->n_hops,
                    (const char *) g_bytes_get_data (mail->record, NULL));
  g_assert_null (mail);
  g_assert_error (error, MSGTRK_ERROR, code);
}

static void
assert_parses (GBytes *raw)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdHarrisonMail) mail = msgtrkd_harrison_parse (raw, &error);

  g_assert_no_error (error);
  g_assert_nonnull (mail);
}

static void
test_hostile (void)
{
  const char *bodies[] = {
    "Received: by relay1.example; Sat, 05 Dec 2026 00:00:05 +0000\r\nX-Other: 1\r\n",
    "\tcontinued\r\nReceived: by relay1.example; Sat, 05 Dec 2026 00:00:05 +0000\r\n",
    "Received: from a.example; Sat, 05 Dec 2026 00:00:05 +0000\r\n", /* no by */
    "Received: by r.example; Sat, 05 Dec 2026 00:00:05 +0000\r\n\r\nbody text\r\n",
    "Received:\r\n",
    "",
    "Hello, this is the message body\r\n",
  };
  g_autoptr (GBytes) base64 = mail_with ("TRACK: " KEY, "Content-Transfer-Encoding: base64\r\n",
                                         good_body);
  g_autoptr (GBytes) two = mail_with ("TRACK: " KEY, "Subject: TRACK: " KEY "\r\n", good_body);
  g_autoptr (GBytes) other_key = mail_with ("TRACK: 0123456789abcdef", NULL, good_body);
  g_autoptr (GBytes) upper = mail_with ("TRACK: CT1.ABCDEFGHIJKLMNOPQRSTUVWXYZ", NULL, good_body);
  g_autoptr (GBytes) html = mail_with ("TRACK: " KEY, "Content-Type: text/html\r\n", good_body);
  g_autofree char *with_nul = g_strdup_printf ("Subject: TRACK: " KEY "\r\n\r\n%s", good_body);
  g_autoptr (GBytes) nul = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr (GBytes) raw = mail_with ("TRACK: " KEY, NULL, bodies[i]);

      g_test_message ("body %u", i);
      assert_refused (raw, MSGTRK_ERROR_PARSE);
    }
  assert_refused (base64, MSGTRK_ERROR_PARSE);
  assert_refused (two, MSGTRK_ERROR_PARSE);
  assert_refused (other_key, MSGTRK_ERROR_PARSE);
  assert_refused (upper, MSGTRK_ERROR_PARSE);
  assert_refused (html, MSGTRK_ERROR_PARSE);
  with_nul[strlen (with_nul) - 20] = '\0';
  nul = g_bytes_new (with_nul, strlen (with_nul) + 20);
  assert_refused (nul, MSGTRK_ERROR_PARSE);
}

/* A body of @n fields of @each octets. */
static char *
record_of (guint n,
           gsize each)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *by = g_strdup_printf ("r%u.example", i);
      g_autofree char *f = field_of_length (by, each);

      g_string_append (out, f);
    }
  return g_string_free (out, FALSE);
}

static void
test_limits (void)
{
  /* hops: at the limit and one past */
  {
    g_autofree char *at = record_of (MSGTRKD_HARRISON_MAX_HOPS, 200);
    g_autofree char *past = record_of (MSGTRKD_HARRISON_MAX_HOPS + 1, 200);
    g_autoptr (GBytes) a = mail_with ("TRACK: " KEY, NULL, at);
    g_autoptr (GBytes) p = mail_with ("TRACK: " KEY, NULL, past);

    assert_parses (a);
    assert_refused (p, MSGTRK_ERROR_PARSE);
  }
  /* one field: at the limit (its octets without the CRLF) and one past */
  {
    g_autofree char *at = field_of_length ("r.example", MSGTRK_TRACE_MAX_FIELD_LENGTH + 2);
    g_autofree char *past = field_of_length ("r.example", MSGTRK_TRACE_MAX_FIELD_LENGTH + 3);
    g_autoptr (GBytes) a = mail_with ("TRACK: " KEY, NULL, at);
    g_autoptr (GBytes) p = mail_with ("TRACK: " KEY, NULL, past);

    assert_parses (a);
    assert_refused (p, MSGTRK_ERROR_PARSE);
  }
  /* the record: at the limit and one past (a trailing blank line counts) */
  {
    g_autofree char *at = record_of (8, MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE / 8);
    g_autofree char *past = g_strconcat (at, "\n", NULL);
    g_autoptr (GBytes) a = mail_with ("TRACK: " KEY, NULL, at);
    g_autoptr (GBytes) p = mail_with ("TRACK: " KEY, NULL, past);

    g_assert_cmpuint (strlen (at), ==, MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE);
    assert_parses (a);
    assert_refused (p, MSGTRK_ERROR_PARSE);
  }
  /* the whole mail: at the limit and one past (padded by a header field) */
  {
    g_autoptr (GBytes) base = mail_with ("TRACK: " KEY, "X-Pad: \r\n", good_body);
    gsize pad = MSGTRKD_HARRISON_MAX_MESSAGE_SIZE - g_bytes_get_size (base);
    g_autofree char *fill = g_strnfill (pad, 'p');
    g_autofree char *fill2 = g_strnfill (pad + 1, 'p');
    g_autofree char *h1 = g_strdup_printf ("X-Pad: %s\r\n", fill);
    g_autofree char *h2 = g_strdup_printf ("X-Pad: %s\r\n", fill2);
    g_autoptr (GBytes) a = mail_with ("TRACK: " KEY, h1, good_body);
    g_autoptr (GBytes) p = mail_with ("TRACK: " KEY, h2, good_body);

    g_assert_cmpuint (g_bytes_get_size (a), ==, MSGTRKD_HARRISON_MAX_MESSAGE_SIZE);
    assert_parses (a);
    assert_refused (p, MSGTRK_ERROR_LIMIT);
    /* Still recognised as a TRACK: mail (refused as one, never read as a DSN). */
    g_assert_true (msgtrkd_harrison_is_track_mail (p));
  }
}

static MsgtrkdParsedReport *
stored (const char *origin,
        const char *record)
{
  MsgtrkdParsedReport *p = g_new0 (MsgtrkdParsedReport, 1);

  p->source = g_strdup (MSGTRKD_HARRISON_SOURCE);
  p->origin = g_strdup (origin);
  p->reports = g_ptr_array_new ();
  p->trace = g_bytes_new (record, strlen (record));
  return p;
}

static void
test_hops (void)
{
  static const char r1[] =
    "Received: from me.example (me.example [192.0.2.9])\r\n"
    "\tby relay1.example with ESMTP id A1; Sat, 05 Dec 2026 00:00:01 +0000\r\n";
  static const char r2[] =
    "Received: from relay1.example (relay1.example [192.0.2.1])\r\n"
    "\tby relay2.example with ESMTP id B2\r\n"
    "\tfor <bob@example.net>; Sat, 05 Dec 2026 00:00:04 +0000\r\n"
    "Received: from me.example (me.example [192.0.2.9])\r\n"
    "\tby relay1.example with ESMTP id A1; Sat, 05 Dec 2026 00:00:01 +0000\r\n";
  g_autoptr (GPtrArray) parsed =
    g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);
  g_autoptr (JsonArray) bob = json_array_new ();
  g_autoptr (JsonArray) carol = json_array_new ();
  JsonObject *h;

  g_ptr_array_add (parsed, stored ("relay2.example", r2));
  g_ptr_array_add (parsed, stored ("relay1.example", r1));
  msgtrkd_harrison_add_hops (bob, "bob@example.net", parsed);
  g_assert_cmpuint (json_array_get_length (bob), ==, 2);
  h = json_array_get_object_element (bob, 0);
  g_assert_cmpstr (json_object_get_string_member (h, "source"), ==, "harrison");
  g_assert_cmpstr (json_object_get_string_member (h, "server"), ==, "relay1.example");
  g_assert_cmpstr (json_object_get_string_member (h, "from_address"), ==, "192.0.2.9");
  g_assert_cmpstr (json_object_get_string_member (h, "arrival"), ==, "2026-12-05T00:00:01Z");
  h = json_array_get_object_element (bob, 1);
  g_assert_cmpstr (json_object_get_string_member (h, "server"), ==, "relay2.example");
  g_assert_cmpstr (json_object_get_string_member (h, "reporting_mta"), ==, "relay2.example");
  g_assert_cmpint (json_object_get_int_member (h, "delay_seconds"), ==, 3);
  /* The second hop names bob only. */
  msgtrkd_harrison_add_hops (carol, "carol@example.net", parsed);
  g_assert_cmpuint (json_array_get_length (carol), ==, 1);
}

/* The store index is a hash of the key, never the key. */
static void
test_index (void)
{
  g_autofree char *name = msgtrkd_harrison_index_name (KEY);

  g_assert_true (g_str_has_prefix (name, "content-track "));
  g_assert_null (strstr (name, "abcdefghij"));
  g_assert_cmpuint (strlen (name), ==, strlen ("content-track ") + 64);
}

/* A C0 control, DEL, or a bidi override in a Received: field's host names
 * ("by", "from") of a TRACK: mail is taken as it is and becomes the hop's "server" and
 * "from_host" in GetRoute, which the viewer draws as labels (the CLI filters such
 * characters, helper/cli/msgtrk.c; the viewer and the JSON do not). Anyone who saw the
 * key (every relay and recipient) can spoof a name ("moc.elpmaxe" shown reversed) or
 * put terminal escapes into the route (session 20 review). Such a name is dropped by
 * the trace parser: a mail whose "by" is one is refused (it names no server). */
static gboolean
has_control (const char *s)
{
  for (const char *p = s; p != NULL && *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_iscntrl (c) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))
        return TRUE;
    }
  return FALSE;
}

static void
test_control_characters (void)
{
  static const char *const bodies[] = {
    "Received: from me.example (me.example [192.0.2.9])\r\n"
    "\tby relay1\033[2J\033]0;pwned\007.example with ESMTP id A1; Sat, 05 Dec 2026 00:00:01 +0000\r\n",
    "Received: from me.example (me.example [192.0.2.9])\r\n"
    "\tby \342\200\256elpmaxe.knab with ESMTP id A1; Sat, 05 Dec 2026 00:00:01 +0000\r\n",
    "Received: from evil\001\177.example (evil.example [192.0.2.9])\r\n"
    "\tby relay1.example with ESMTP id A1; Sat, 05 Dec 2026 00:00:01 +0000\r\n",
  };
  guint accepted = 0;

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr (GBytes) raw = mail_with ("TRACK: " KEY, NULL, bodies[i]);
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkdHarrisonMail) mail = msgtrkd_harrison_parse (raw, &error);
      g_autoptr (GPtrArray) parsed = NULL;
      g_autoptr (JsonArray) hops = NULL;
      JsonObject *h;

      g_test_message ("body %u", i);
      if (mail == NULL)
        {
          g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
          continue;
        }
      if (has_control (mail->origin))
        {
          g_autofree char *shown = g_strescape (mail->origin, NULL);

          g_test_message ("body %u accepted, origin \"%s\"", i, shown);
          accepted++;
        }
      parsed = g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);
      g_ptr_array_add (parsed, stored (mail->origin, g_bytes_get_data (mail->record, NULL)));
      hops = json_array_new ();
      msgtrkd_harrison_add_hops (hops, "bob@example.net", parsed);
      g_assert_cmpuint (json_array_get_length (hops), ==, 1);
      h = json_array_get_object_element (hops, 0);
      if (has_control (json_object_get_string_member (h, "server"))
          || has_control (json_object_get_string_member (h, "from_host")))
        {
          g_autofree char *server = g_strescape (json_object_get_string_member (h, "server"), NULL);
          g_autofree char *from = g_strescape (json_object_get_string_member (h, "from_host"), NULL);

          g_test_message ("body %u: hop server \"%s\" from_host \"%s\"", i, server, from);
          accepted++;
        }
    }
  g_assert_cmpuint (accepted, ==, 0);
}

/* MSGTRKD_ROUTE_MAX_TRACE_HOPS, the cap on the hops msgtrkd_harrison_add_hops() gives one
 * recipient, at and one past it. */
static void
test_hops_limit (void)
{
  for (guint n = MSGTRKD_ROUTE_MAX_TRACE_HOPS; n <= MSGTRKD_ROUTE_MAX_TRACE_HOPS + 1; n++)
    {
      g_autoptr (GPtrArray) parsed =
        g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);
      g_autoptr (JsonArray) hops = json_array_new ();
      g_autofree char *first = record_of (MSGTRKD_ROUTE_MAX_TRACE_HOPS, 200);
      g_autofree char *second = record_of (n - MSGTRKD_ROUTE_MAX_TRACE_HOPS, 201);

      g_ptr_array_add (parsed, stored ("r0.example", first));
      if (*second != '\0')
        g_ptr_array_add (parsed, stored ("r0.example", second));
      msgtrkd_harrison_add_hops (hops, "bob@example.net", parsed);
      g_assert_cmpuint (json_array_get_length (hops), ==, MSGTRKD_ROUTE_MAX_TRACE_HOPS);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/harrison/parse/good", test_parse_good);
  g_test_add_func ("/harrison/parse/not-track", test_not_track);
  g_test_add_func ("/harrison/parse/hostile", test_hostile);
  g_test_add_func ("/harrison/parse/limits", test_limits);
  g_test_add_func ("/harrison/hops", test_hops);
  g_test_add_func ("/harrison/index", test_index);
  g_test_add_func ("/harrison/parse/control-characters", test_control_characters);
  g_test_add_func ("/harrison/hops/limit", test_hops_limit);
  return g_test_run ();
}
