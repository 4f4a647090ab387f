/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-trace.c: Received: trace fields → hops (lib/msgtrk-trace.c).
 *
 * Covers: one field in each shape real MTAs write (table), whole header blocks from
 * tests/fixtures/trace/ (Postfix, Exim, Sendmail, Office 365, Gmail, a mixed chain) with
 * per-hop expectations, and hostile input: unbalanced comments and quotes, missing or
 * absurd dates, NUL, 8-bit, every limit at and one past it, and headers cut at every
 * octet. Never: depends on the network or on the clock.
 */
#include "config.h"

#include <string.h>

#include "test-util.h"

/* What one hop should hold; NULL means "absent". @date is in UTC, "YYYY-MM-DDTHH:MM:SSZ". */
typedef struct
{
  const char *from_helo;
  const char *from_host;
  const char *from_address;
  const char *by;
  const char *via;
  const char *with;
  const char *id;
  const char *for_addr;
  const char *date;
  gint64 delay;
} HopExpect;

static char *
date_utc_string (GDateTime *date)
{
  g_autoptr (GDateTime) utc = NULL;

  if (date == NULL)
    return NULL;
  utc = g_date_time_to_utc (date);
  return g_date_time_format (utc, "%Y-%m-%dT%H:%M:%SZ");
}

static void
assert_hop (MsgtrkHop       *hop,
            const HopExpect *want,
            const char      *what)
{
  g_autofree char *date = date_utc_string (msgtrk_hop_get_date (hop));

  g_test_message ("checking %s", what);
  g_assert_cmpstr (msgtrk_hop_get_from_helo (hop), ==, want->from_helo);
  g_assert_cmpstr (msgtrk_hop_get_from_host (hop), ==, want->from_host);
  g_assert_cmpstr (msgtrk_hop_get_from_address (hop), ==, want->from_address);
  g_assert_cmpstr (msgtrk_hop_get_by_host (hop), ==, want->by);
  g_assert_cmpstr (msgtrk_hop_get_via (hop), ==, want->via);
  g_assert_cmpstr (msgtrk_hop_get_with (hop), ==, want->with);
  g_assert_cmpstr (msgtrk_hop_get_id (hop), ==, want->id);
  g_assert_cmpstr (msgtrk_hop_get_for (hop), ==, want->for_addr);
  g_assert_cmpstr (date, ==, want->date);
  g_assert_cmpint (msgtrk_hop_get_delay (hop), ==, want->delay);
  g_assert_nonnull (msgtrk_hop_get_raw (hop));
  g_assert_true (g_utf8_validate (msgtrk_hop_get_raw (hop), -1, NULL));
}

/* ---- One field at a time ---------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *value;
  HopExpect want;
} FieldCase;

static const FieldCase field_cases[] = {
  { "postfix",
    "from mail.example.org (mail.example.org [192.0.2.1]) by mx.example.net (Postfix) "
    "with ESMTPS id 4A1B2C3D4E for <a@example.net>; Mon,  2 Mar 2020 10:11:12 +0100 (CET)",
    { "mail.example.org", "mail.example.org", "192.0.2.1", "mx.example.net", NULL, "ESMTPS",
      "4A1B2C3D4E", "a@example.net", "2020-03-02T09:11:12Z", -1 } },
  { "postfix-ipv6-unknown",
    "from client.example (unknown [IPv6:2001:db8::1]) by mx.example.net (Postfix) with ESMTP "
    "id 48Xyz; Mon, 2 Mar 2020 10:11:12 +0000",
    { "client.example", NULL, "2001:db8::1", "mx.example.net", NULL, "ESMTP", "48Xyz", NULL,
      "2020-03-02T10:11:12Z", -1 } },
  { "postfix-local-pickup",
    "by out.example.org (Postfix, from userid 1000) id 48Xyz0; Mon, 2 Mar 2020 10:13:05 +0000",
    { NULL, NULL, NULL, "out.example.org", NULL, NULL, "48Xyz0", NULL, "2020-03-02T10:13:05Z",
      -1 } },
  { "localhost",
    "from localhost (localhost [127.0.0.1]) by inbox.example.com (Postfix) with LMTP id 7F3E "
    "for <bob@example.com>; Mon, 2 Mar 2020 10:15:00 +0000 (UTC)",
    { "localhost", "localhost", "127.0.0.1", "inbox.example.com", NULL, "LMTP", "7F3E",
      "bob@example.com", "2020-03-02T10:15:00Z", -1 } },
  { "exim-no-name",
    "from [192.0.2.7] (helo=mx.example) by mx.exim.example with esmtp (Exim 4.94.2) "
    "(envelope-from <c@host.example>) id 1jYzAb-0003Cd-Ef for d@exim.example; "
    "Mon, 02 Mar 2020 10:12:00 +0000",
    { "mx.example", NULL, "192.0.2.7", "mx.exim.example", NULL, "esmtp", "1jYzAb-0003Cd-Ef",
      "d@exim.example", "2020-03-02T10:12:00Z", -1 } },
  { "exim-helo-differs",
    "from host.example ([192.0.2.7] helo=x) by mx.exim.example with esmtps  (TLS1.3) "
    "tls TLS_AES_256_GCM_SHA384 (Exim 4.94.2) id 1jYzAb-0003Cd-Ef; Mon, 02 Mar 2020 "
    "10:12:00 +0000",
    { "x", "host.example", "192.0.2.7", "mx.exim.example", NULL, "esmtps", "1jYzAb-0003Cd-Ef",
      NULL, "2020-03-02T10:12:00Z", -1 } },
  { "exim-helo-same",
    "from host.example ([192.0.2.9]) by mx.exim.example with esmtp (Exim 4.94.2) "
    "id 1jYzAb-0003Cd-Ef; Mon, 02 Mar 2020 10:12:00 +0000",
    { "host.example", "host.example", "192.0.2.9", "mx.exim.example", NULL, "esmtp",
      "1jYzAb-0003Cd-Ef", NULL, "2020-03-02T10:12:00Z", -1 } },
  { "exim-port",
    "from [192.0.2.8] (port=41234 helo=laptop.local) by host.example with esmtpsa (Exim 4.92) "
    "id 1jYzAa-0001Ab-Cd; Mon, 02 Mar 2020 10:11:58 +0000",
    { "laptop.local", NULL, "192.0.2.8", "host.example", NULL, "esmtpsa", "1jYzAa-0001Ab-Cd",
      NULL, "2020-03-02T10:11:58Z", -1 } },
  { "exim-literal-port",
    "from host.example ([192.0.2.7]:1234 helo=x) by mx.exim.example with esmtp "
    "(Exim 4.94.2) id 1jYzAb; Mon, 02 Mar 2020 10:12:00 +0000",
    { "x", "host.example", "192.0.2.7", "mx.exim.example", NULL, "esmtp", "1jYzAb", NULL,
      "2020-03-02T10:12:00Z", -1 } },
  { "exim-local",
    "from carol by laptop.local with local (Exim 4.92) (envelope-from <carol@laptop.local>) "
    "id 1jYzAZ-0000Zz-Yy for dave@exim.example; Mon, 02 Mar 2020 11:11:50 +0100",
    { NULL, NULL, NULL, "laptop.local", NULL, "local", "1jYzAZ-0000Zz-Yy", "dave@exim.example",
      "2020-03-02T10:11:50Z", -1 } },
  { "sendmail-forged",
    "from client.example (client.example [192.0.2.3] (may be forged)) by relay.example "
    "(8.15.2/8.15.2) with ESMTP id 022A1b2c003456 for <e@relay.example>; "
    "Mon, 2 Mar 2020 05:11:12 -0500",
    { "client.example", "client.example", "192.0.2.3", "relay.example", NULL, "ESMTP",
      "022A1b2c003456", "e@relay.example", "2020-03-02T10:11:12Z", -1 } },
  { "sendmail-ident",
    "from client.example (frank@localhost [127.0.0.1]) by client.example (8.15.2/8.15.2/Submit) "
    "with ESMTP id 022AB1a0001234; Mon, 2 Mar 2020 10:11:11 GMT",
    { "client.example", "localhost", "127.0.0.1", "client.example", NULL, "ESMTP",
      "022AB1a0001234", NULL, "2020-03-02T10:11:11Z", -1 } },
  { "sendmail-submit",
    "(from frank@localhost) by client.example (8.15.2/8.15.2/Submit) id 022AB1a0001233; "
    "Mon, 2 Mar 2020 10:11:10 GMT",
    { NULL, NULL, NULL, "client.example", NULL, NULL, "022AB1a0001233", NULL,
      "2020-03-02T10:11:10Z", -1 } },
  { "exchange-frontend",
    "from AM6PR0102MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:20b:5::13) by "
    "AM6PR0102MB5678.eurprd01.prod.exchangelabs.com (2603:10a6:20b:5::14) with Microsoft SMTP "
    "Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.1234.5 via "
    "Frontend Transport; Mon, 2 Mar 2020 09:10:11 +0000",
    { "AM6PR0102MB1234.eurprd01.prod.exchangelabs.com", NULL, "2603:10a6:20b:5::13",
      "AM6PR0102MB5678.eurprd01.prod.exchangelabs.com", "Frontend Transport",
      "Microsoft SMTP Server", "15.20.1234.5", NULL, "2020-03-02T09:10:11Z", -1 } },
  { "exchange-2010-no-comment",
    "from EX1.corp.example (10.0.0.5) by EX2.corp.example (10.0.0.6) with Microsoft SMTP Server "
    "id 14.3.498.0; Mon, 2 Mar 2020 09:10:11 +0000",
    { "EX1.corp.example", NULL, "10.0.0.5", "EX2.corp.example", NULL, "Microsoft SMTP Server",
      "14.3.498.0", NULL, "2020-03-02T09:10:11Z", -1 } },
  { "gmail-sor",
    "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com "
    "with SMTPS id x12sor123456pfa.12.2020.03.02.01.02.03 for <a@example.com> (Google Transport "
    "Security); Mon, 02 Mar 2020 01:02:03 -0800 (PST)",
    { "mail-sor-f41.google.com", "mail-sor-f41.google.com", "209.85.220.41", "mx.google.com",
      NULL, "SMTPS", "x12sor123456pfa.12.2020.03.02.01.02.03", "a@example.com",
      "2020-03-02T09:02:03Z", -1 } },
  { "gmail-internal",
    "by 2002:a05:6000:1a8f:b0:22e:5503:9c30 with SMTP id y15csp123456wrt; "
    "Mon, 2 Mar 2020 01:02:05 -0800 (PST)",
    { NULL, NULL, NULL, "2002:a05:6000:1a8f:b0:22e:5503:9c30", NULL, "SMTP", "y15csp123456wrt",
      NULL, "2020-03-02T09:02:05Z", -1 } },
  { "qmail-invoked",
    "(qmail 1234 invoked by uid 89); 2 Mar 2020 10:11:12 -0000",
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "2020-03-02T10:11:12Z", -1 } },
  { "qmail-remote",
    "from unknown (HELO relay.example.org) (198.51.100.7) by mx.example.com with SMTP; "
    "2 Mar 2020 10:14:00 -0000",
    { "relay.example.org", NULL, "198.51.100.7", "mx.example.com", NULL, "SMTP", NULL, NULL,
      "2020-03-02T10:14:00Z", -1 } },
  { "qmail-remote-ident",
    "from host.example (HELO h) (user@192.0.2.44) by mx.example.com with SMTP; "
    "2 Mar 2020 10:14:00 -0000",
    { "h", "host.example", "192.0.2.44", "mx.example.com", NULL, "SMTP", NULL, NULL,
      "2020-03-02T10:14:00Z", -1 } },
  { "local-userid",
    "from userid 1000 by host.example with local; Mon, 2 Mar 2020 10:13:00 +0000",
    { NULL, NULL, NULL, "host.example", NULL, "local", NULL, NULL, "2020-03-02T10:13:00Z", -1 } },
  { "helo-literal",
    "from [192.0.2.50] (client.example [192.0.2.50]) by mx.example.net (Postfix) with ESMTP "
    "id 1; Mon, 2 Mar 2020 10:00:00 +0000",
    { "[192.0.2.50]", "client.example", "192.0.2.50", "mx.example.net", NULL, "ESMTP", "1",
      NULL, "2020-03-02T10:00:00Z", -1 } },
  { "helo-literal-alone",
    "from [IPv6:2001:db8::9] by mx.example.net; Mon, 2 Mar 2020 10:00:00 +0000",
    { "[IPv6:2001:db8::9]", NULL, "2001:db8::9", "mx.example.net", NULL, NULL, NULL, NULL,
      "2020-03-02T10:00:00Z", -1 } },
  { "keywords-any-case-any-order",
    "FOR <x@example.com> ID abc With esmtp BY b.example FROM a.example; "
    "Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, "esmtp", "abc", "x@example.com",
      "2020-03-02T10:00:00Z", -1 } },
  { "duplicate-clauses-first-wins",
    "from a.example from z.example by b.example by y.example id 1 id 2; "
    "Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, "1", NULL, "2020-03-02T10:00:00Z",
      -1 } },
  { "semicolon-in-comment-and-quote",
    "from a.example (x; y) by b.example id \"q;r\"; Mon, 2 Mar 2020 10:00:00 +0000 (a;b)",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, "\"q;r\"", NULL,
      "2020-03-02T10:00:00Z", -1 } },
  { "last-semicolon",
    "from a.example by b.example; junk; Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, "2020-03-02T10:00:00Z",
      -1 } },
  { "nested-comments",
    "from a.example (b.example [192.0.2.1] ((deep (deeper)) [192.0.2.99])) by c.example; "
    "Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", "b.example", "192.0.2.1", "c.example", NULL, NULL, NULL, NULL,
      "2020-03-02T10:00:00Z", -1 } },
  { "unknown-clauses",
    "from a.example by b.example via TCP with ESMTP tls x zzz yyy id 7 for u@b.example "
    "xfoo \"quoted string\"; Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", "TCP", "ESMTP tls x zzz yyy", "7", "u@b.example",
      "2020-03-02T10:00:00Z", -1 } },
  /* Hostile and broken fields. */
  { "unbalanced-open-paren",
    "from a.example (b.example [192.0.2.1] by c.example; Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", "b.example", "192.0.2.1", NULL, NULL, NULL, NULL, NULL, NULL, -1 } },
  { "stray-close-paren",
    "from a.example) by b.example)); Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, "2020-03-02T10:00:00Z",
      -1 } },
  { "unterminated-quote",
    "from a.example by b.example id \"abc; Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL,
      "\"abc; Mon, 2 Mar 2020 10:00:00 +0000", NULL, NULL, -1 } },
  { "missing-semicolon",
    "from a.example by b.example Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, NULL, -1 } },
  { "garbage-date",
    "from a.example by b.example; yesterday after lunch",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, NULL, -1 } },
  { "empty-date",
    "from a.example by b.example;",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, NULL, -1 } },
  { "absurd-date-future",
    "from a.example by b.example; Mon, 2 Mar 9999 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, NULL, -1 } },
  { "absurd-date-past",
    "from a.example by b.example; Thu, 1 Jan 1970 00:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, NULL, -1 } },
  { "impossible-time",
    "from a.example by b.example; Mon, 2 Mar 2020 25:61:99 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, NULL, -1 } },
  { "keywords-without-values",
    "from by with id for via; Mon, 2 Mar 2020 10:00:00 +0000",
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "2020-03-02T10:00:00Z", -1 } },
  { "empty-for",
    "by b.example for <>; Mon, 2 Mar 2020 10:00:00 +0000",
    { NULL, NULL, NULL, "b.example", NULL, NULL, NULL, NULL, "2020-03-02T10:00:00Z", -1 } },
  { "bogus-literal",
    "from a.example (b.example [not-an-ip]) by c.example; Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "c.example", NULL, NULL, NULL, NULL, "2020-03-02T10:00:00Z",
      -1 } },
  { "only-semicolons",
    ";;;",
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, -1 } },
  { "non-ascii-utf8",
    "from h\xc3\xa9llo.example (h\xc3\xa9llo.example [192.0.2.1]) by b\xc3\xbc.example; "
    "Mon, 2 Mar 2020 10:00:00 +0000",
    { "h\xc3\xa9llo.example", "h\xc3\xa9llo.example", "192.0.2.1", "b\xc3\xbc.example", NULL,
      NULL, NULL, NULL, "2020-03-02T10:00:00Z", -1 } },
  { "eight-bit-latin1",
    "from h\xe9llo.example by b.example id \xff\xfe; Mon, 2 Mar 2020 10:00:00 +0000",
    { "h\xef\xbf\xbdllo.example", NULL, NULL, "b.example", NULL, NULL,
      "\xef\xbf\xbd\xef\xbf\xbd", NULL, "2020-03-02T10:00:00Z", -1 } },
  { "eight-bit-date",
    "from a.example by b.example; Mon, 2 M\xe4r 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, "b.example", NULL, NULL, NULL, NULL, NULL, -1 } },
  /* A name with a control character or a direction override is none (it could show as
   * another, or drive a terminal): dropped, the rest of the hop kept. */
  { "control-chars",
    "from a\x01.example by b.example\x7f; Mon, 2 Mar 2020 10:00:00 +0000",
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "2020-03-02T10:00:00Z", -1 } },
  { "bidi-override",
    "from a.example by \xe2\x80\xae" "elpmaxe.knab with ESMTP; Mon, 2 Mar 2020 10:00:00 +0000",
    { "a.example", NULL, NULL, NULL, NULL, "ESMTP", NULL, NULL, "2020-03-02T10:00:00Z", -1 } },
  { "folded",
    "from a.example\r\n\t(b.example [192.0.2.1])\r\n by c.example\r\n with ESMTP;\r\n Mon, 2 "
    "Mar 2020\r\n 10:00:00 +0000\r\n",
    { "a.example", "b.example", "192.0.2.1", "c.example", NULL, "ESMTP", NULL, NULL,
      "2020-03-02T10:00:00Z", -1 } },
};

static void
test_field_table (void)
{
  g_test_summary ("Each shape of Received: field that real MTAs write, and broken ones, "
                  "gives the expected parts");

  for (gsize i = 0; i < G_N_ELEMENTS (field_cases); i++)
    {
      const FieldCase *c = &field_cases[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkHop) hop = msgtrk_hop_parse_received (c->value, &error);

      g_assert_no_error (error);
      g_assert_nonnull (hop);
      assert_hop (hop, &c->want, c->name);
      g_assert_false (msgtrk_hop_has_delay (hop));
    }
}

static void
test_field_raw (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkHop) hop = NULL;
  g_autoptr (GDateTime) date = NULL;

  g_test_summary ("The raw value is kept unfolded and trimmed; the date keeps its offset");

  hop = msgtrk_hop_parse_received ("  from a.example\r\n\tby b.example; Mon, 2 Mar 2020 "
                                   "01:02:03 -0800 (PST)\r\n",
                                   &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_hop_get_raw (hop), ==,
                   "from a.example\tby b.example; Mon, 2 Mar 2020 01:02:03 -0800 (PST)");
  g_assert_cmpint (g_date_time_get_utc_offset (msgtrk_hop_get_date (hop)) / G_TIME_SPAN_HOUR,
                   ==, -8);
  g_assert_cmpint (g_date_time_get_hour (msgtrk_hop_get_date (hop)), ==, 1);
}

static void
test_field_empty (void)
{
  static const char *const empties[] = { "", " ", "\t\r\n ", "\r\n" };

  g_test_summary ("An empty Received: value is a parse error");

  for (gsize i = 0; i < G_N_ELEMENTS (empties); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkHop) hop = msgtrk_hop_parse_received (empties[i], &error);

      g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
      g_assert_null (hop);
    }
}

/* A value of exactly @len octets with a date at its end. */
static char *
make_value_of_length (gsize len)
{
  static const char head[] = "from a.example by b.example id ";
  static const char tail[] = "; Mon, 2 Mar 2020 10:00:00 +0000";
  GString *s = g_string_new (head);

  g_assert_cmpuint (len, >, sizeof head + sizeof tail);
  while (s->len < len - (sizeof tail - 1))
    g_string_append_c (s, 'x');
  g_string_append (s, tail);
  g_assert_cmpuint (s->len, ==, len);
  return g_string_free (s, FALSE);
}

static void
test_field_length_limit (void)
{
  g_autofree char *at = make_value_of_length (MSGTRK_TRACE_MAX_FIELD_LENGTH);
  g_autofree char *past = make_value_of_length (MSGTRK_TRACE_MAX_FIELD_LENGTH + 1);
  g_autofree char *padded = g_strdup_printf ("   %s \r\n", at);
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkHop) hop = NULL;
  g_autoptr (MsgtrkHop) hop2 = NULL;
  g_autoptr (MsgtrkHop) none = NULL;

  g_test_summary ("A field of MSGTRK_TRACE_MAX_FIELD_LENGTH octets is read, one more is a "
                  "limit error; white space around it does not count");

  hop = msgtrk_hop_parse_received (at, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (msgtrk_hop_get_id (hop)), >, 8000);
  g_assert_nonnull (msgtrk_hop_get_date (hop));

  hop2 = msgtrk_hop_parse_received (padded, &error);
  g_assert_no_error (error);
  g_assert_nonnull (hop2);

  none = msgtrk_hop_parse_received (past, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (none);
  g_assert_nonnull (strstr (error->message, "8192"));
}

static void
test_field_deep_nesting (void)
{
  GString *s = g_string_new ("from a.example ");
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkHop) hop = NULL;
  g_autofree char *value = NULL;

  g_test_summary ("Thousands of nested or unbalanced parentheses neither recurse nor crash");

  for (int i = 0; i < 4000; i++)
    g_string_append_c (s, '(');
  g_string_append (s, "[192.0.2.1]");
  for (int i = 0; i < 2000; i++)
    g_string_append_c (s, ')');
  g_string_append (s, " by b.example; Mon, 2 Mar 2020 10:00:00 +0000");
  value = g_string_free (s, FALSE);

  hop = msgtrk_hop_parse_received (value, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (msgtrk_hop_get_from_helo (hop), ==, "a.example");
  g_assert_null (msgtrk_hop_get_by_host (hop));
  g_assert_null (msgtrk_hop_get_date (hop));
}

/* ---- Header blocks ---------------------------------------------------------------- */

typedef struct
{
  const char *fixture;
  guint n_hops;
  HopExpect hops[8]; /* oldest first */
} ChainCase;

static const ChainCase chain_cases[] = {
  { "trace/postfix-3hop.txt", 3,
    { { "[IPv6:2001:db8::1]", NULL, "2001:db8::1", "out.example.org", NULL, "ESMTPSA",
        "48Xyz03xYZz1wQ", "bob@example.net", "2020-03-02T09:11:12Z", -1 },
      { "out.example.org", "out.example.org", "192.0.2.25", "mx1.example.net", NULL, "ESMTPS",
        "48Xyz12AbCz9sT", "bob@example.net", "2020-03-02T09:11:14Z", 2 },
      { "mx1.example.net", "localhost", "127.0.0.1", "mail.example.net", NULL, "ESMTP",
        "4A1B2C3D4E", "bob@example.net", "2020-03-02T09:11:15Z", 1 } } },
  { "trace/exim.txt", 3,
    { { NULL, NULL, NULL, "laptop.local", NULL, "local", "1jYzAZ-0000Zz-Yy",
        "dave@exim.example", "2020-03-02T10:11:50Z", -1 },
      { "laptop.local", NULL, "192.0.2.8", "host.example", NULL, "esmtpsa", "1jYzAa-0001Ab-Cd",
        "dave@exim.example", "2020-03-02T10:11:58Z", 8 },
      { "x.example", "host.example", "192.0.2.7", "mx.exim.example", NULL, "esmtps",
        "1jYzAb-0003Cd-Ef", "dave@exim.example", "2020-03-02T10:12:00Z", 2 } } },
  { "trace/sendmail.txt", 3,
    { { NULL, NULL, NULL, "client.example", NULL, NULL, "022AB1a0001233", NULL,
        "2020-03-02T10:11:10Z", -1 },
      { "client.example", "localhost", "127.0.0.1", "client.example", NULL, "ESMTP",
        "022AB1a0001234", "erin@sendmail.example", "2020-03-02T10:11:11Z", 1 },
      { "client.example", "client.example", "192.0.2.3", "relay.sendmail.example", NULL,
        "ESMTPS", "022AB2c1003456", "erin@sendmail.example", "2020-03-02T10:11:12Z", 1 } } },
  { "trace/office365.txt", 4,
    { { "mail.example.org", NULL, "192.0.2.25", "AM5EUR02FT011.mail.protection.outlook.com",
        "Frontend Transport", "Microsoft SMTP Server", "15.20.2772.15", NULL,
        "2020-03-02T09:10:13Z", -1 },
      { "AM5EUR02FT011.eop-EUR02.prod.protection.outlook.com", NULL, "2603:10a6:20b:5::cafe",
        "AM6PR0102MB1234.outlook.office365.com", "Frontend Transport", "Microsoft SMTP Server",
        "15.20.2772.15", NULL, "2020-03-02T09:10:14Z", 1 },
      { "AM6PR0102MB1234.eurprd01.prod.exchangelabs.com", NULL, "2603:10a6:20b:5::13",
        "DB8PR02MB5678.eurprd02.prod.outlook.com", NULL, "Microsoft SMTP Server",
        "15.20.2772.15", NULL, "2020-03-02T09:10:15Z", 1 },
      { "DB8PR02MB5678.eurprd02.prod.outlook.com", NULL, "2603:10a6:10:a1::21",
        "AM6PR0102MB1234.eurprd01.prod.exchangelabs.com", NULL, "HTTPS", NULL, NULL,
        "2020-03-02T09:10:16Z", 1 } } },
  { "trace/gmail.txt", 3,
    { { NULL, NULL, NULL, "2002:a17:90a:d3d1:0:0:0:0", NULL, "HTTPREST", NULL, NULL,
        "2020-03-02T09:02:01Z", -1 },
      { "mail-sor-f41.google.com", "mail-sor-f41.google.com", "209.85.220.41", "mx.google.com",
        NULL, "SMTPS", "x12sor123456pfa.12.2020.03.02.01.02.03", "a@example.com",
        "2020-03-02T09:02:03Z", 2 },
      { NULL, NULL, NULL, "2002:a05:6000:1a8f:b0:22e:5503:9c30", NULL, "SMTP",
        "y15csp123456wrt", NULL, "2020-03-02T09:02:05Z", 2 } } },
  { "trace/mixed.txt", 6,
    { { NULL, NULL, NULL, "out.example.org", NULL, NULL, "48Xyz0AbCdz9sT", NULL,
        "2020-03-02T10:13:05Z", -1 },
      /* Clock skew: this server's clock is behind; the negative delay is kept. */
      { NULL, NULL, NULL, "relay.example.org", NULL, "local", NULL, NULL,
        "2020-03-02T10:13:00Z", -5 },
      { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "2020-03-02T10:13:30Z", 30 },
      { "relay.example.org", NULL, NULL, "mx.example.com", NULL, NULL, NULL, NULL, NULL, -1 },
      { "relay.example.org", NULL, "198.51.100.7", "mx.example.com", NULL, "SMTP", NULL, NULL,
        "2020-03-02T10:14:00Z", -1 },
      { "localhost", "localhost", "127.0.0.1", "inbox.example.com", NULL, "LMTP", "7F3E2D1C0B",
        "bob@example.com", "2020-03-02T10:15:00Z", 60 } } },
};

static void
test_chain (gconstpointer data)
{
  const ChainCase *c = data;
  g_autofree char *text = mt_fixture_load_string (c->fixture);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = msgtrk_trace_parse_headers (text, -1, &error);

  g_test_summary ("A real MTA's header block gives its hops oldest first, with delays");

  g_assert_no_error (error);
  g_assert_nonnull (hops);
  g_assert_cmpuint (hops->len, ==, c->n_hops);
  for (guint i = 0; i < hops->len; i++)
    {
      g_autofree char *what = g_strdup_printf ("%s hop %u", c->fixture, i);
      MsgtrkHop *hop = g_ptr_array_index (hops, i);

      assert_hop (hop, &c->hops[i], what);
      g_assert_cmpint (msgtrk_hop_has_delay (hop), ==, c->hops[i].delay != -1);
    }
}

/* The same chain with explicit length, with CRLF turned to LF and LF turned to CRLF. */
static void
test_chain_line_ends (gconstpointer data)
{
  const ChainCase *c = data;
  g_autoptr (GBytes) bytes = mt_fixture_load (c->fixture);
  gsize len = 0;
  const char *raw = g_bytes_get_data (bytes, &len);
  g_autofree char *text = g_strndup (raw, len);
  g_autofree char *lf = mt_strip_cr (text);
  g_auto (GStrv) lines = g_strsplit (lf, "\n", -1);
  g_autofree char *crlf = g_strjoinv ("\r\n", lines);
  const char *variants[] = { raw, lf, crlf };
  gsize lens[] = { len, strlen (lf), strlen (crlf) };

  g_test_summary ("CRLF and LF header blocks give the same hops; an explicit length is "
                  "honoured");

  for (gsize v = 0; v < G_N_ELEMENTS (variants); v++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) hops = msgtrk_trace_parse_headers (variants[v], (gssize) lens[v],
                                                               &error);

      g_assert_no_error (error);
      g_assert_cmpuint (hops->len, ==, c->n_hops);
      for (guint i = 0; i < hops->len; i++)
        assert_hop (g_ptr_array_index (hops, i), &c->hops[i], c->fixture);
    }
}

static void
test_chain_cut_everywhere (gconstpointer data)
{
  const ChainCase *c = data;
  g_autoptr (GBytes) bytes = mt_fixture_load (c->fixture);
  gsize len = 0;
  const char *raw = g_bytes_get_data (bytes, &len);

  g_test_summary ("A header block cut at every octet is read without a crash or an error");

  for (gsize cut = 0; cut <= len; cut++)
    {
      g_autoptr (GError) error = NULL;
      /* Exactly @cut octets, no terminator: ASan reports any read past the length. */
      g_autofree char *copy = g_memdup2 (raw, cut);
      g_autofree char *terminated = g_strndup (raw, cut);
      g_autoptr (GPtrArray) hops = NULL;
      g_autoptr (GPtrArray) hops2 = NULL;

      hops = msgtrk_trace_parse_headers (copy, (gssize) cut, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (hops->len, <=, c->n_hops);

      hops2 = msgtrk_trace_parse_headers (terminated, -1, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (hops2->len, ==, hops->len);
    }
}

static void
test_headers_empty (void)
{
  static const char *const inputs[] = { "", "\r\n", "\n", "\n\nReceived: by a; Mon, 2 Mar 2020 "
                                        "10:00:00 +0000\n",
                                        "Subject: no trace\n", "Received:\n", "Received: \t\n \n",
                                        "  continuation before any field\n", "no colon here\n" };
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = NULL;

  g_test_summary ("Empty input, a header without Received: fields, empty fields: no hops");

  for (gsize i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autoptr (GPtrArray) got = msgtrk_trace_parse_headers (inputs[i], -1, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (got->len, ==, 0);
    }
  hops = msgtrk_trace_parse_headers (NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hops->len, ==, 0);
}

static void
test_headers_names (void)
{
  static const char text[] =
    "X-Received: by x.example; Mon, 2 Mar 2020 10:00:00 +0000\n"
    "Received-SPF: pass (a: b) client-ip=192.0.2.1;\n"
    "ReceivedX: by y.example; Mon, 2 Mar 2020 10:00:00 +0000\n"
    "RECEIVED\t: by c.example; Mon, 2 Mar 2020 10:00:02 +0000\n"
    "received:by b.example; Mon, 2 Mar 2020 10:00:01 +0000\n"
    "Re\xe7" "eived: by z.example; Mon, 2 Mar 2020 10:00:00 +0000\n"
    "Received: by a.example;\n Mon, 2 Mar 2020 10:00:00 +0000\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = msgtrk_trace_parse_headers (text, -1, &error);

  g_test_summary ("Only fields named Received (any case, space before the colon) count");

  g_assert_no_error (error);
  g_assert_cmpuint (hops->len, ==, 3);
  g_assert_cmpstr (msgtrk_hop_get_by_host (g_ptr_array_index (hops, 0)), ==, "a.example");
  g_assert_cmpstr (msgtrk_hop_get_by_host (g_ptr_array_index (hops, 1)), ==, "b.example");
  g_assert_cmpstr (msgtrk_hop_get_by_host (g_ptr_array_index (hops, 2)), ==, "c.example");
  g_assert_cmpint (msgtrk_hop_get_delay (g_ptr_array_index (hops, 1)), ==, 1);
  g_assert_cmpint (msgtrk_hop_get_delay (g_ptr_array_index (hops, 2)), ==, 1);
}

static void
test_headers_skew_minus_one (void)
{
  static const char text[] = "Received: by b.example; Mon, 2 Mar 2020 10:00:00 +0000\n"
                             "Received: by a.example; Mon, 2 Mar 2020 10:00:01 +0000\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = msgtrk_trace_parse_headers (text, -1, &error);

  g_test_summary ("A clock skew of exactly -1 s is told from an unknown delay");

  g_assert_no_error (error);
  g_assert_cmpint (msgtrk_hop_get_delay (g_ptr_array_index (hops, 1)), ==, -1);
  g_assert_true (msgtrk_hop_has_delay (g_ptr_array_index (hops, 1)));
  g_assert_false (msgtrk_hop_has_delay (g_ptr_array_index (hops, 0)));
}

static void
test_headers_nul (void)
{
  static const char text[] = "Received: by a.example; Mon, 2 Mar 2020 10:00:00 +0000\n"
                             "Received: by b.exa\0mple; Mon, 2 Mar 2020 10:00:00 +0000\n"
                             "\n"
                             "body \0 with NUL\n";
  static const char after_blank[] = "Received: by a.example; Mon, 2 Mar 2020 10:00:00 +0000\n"
                                    "\nbody \0 with NUL\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = NULL;
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) body = NULL;

  g_test_summary ("A NUL octet in the header block is a parse error; with length -1 it ends "
                  "the text; in the body it is never read");

  hops = msgtrk_trace_parse_headers (text, sizeof text - 1, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE);
  g_assert_null (hops);
  g_clear_error (&error);

  first = msgtrk_trace_parse_headers (text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (first->len, ==, 2);
  g_assert_cmpstr (msgtrk_hop_get_by_host (g_ptr_array_index (first, 0)), ==, "b.exa");

  body = msgtrk_trace_parse_headers (after_blank, sizeof after_blank - 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (body->len, ==, 1);
}

static char *
make_chain (guint n)
{
  GString *s = g_string_new ("Return-Path: <a@example.org>\r\n");

  for (guint i = n; i > 0; i--)
    g_string_append_printf (s,
                            "Received: from h%u.example (h%u.example [192.0.2.%u])\r\n"
                            "\tby h%u.example (Postfix) with ESMTP id Q%u;\r\n"
                            "\tMon, 2 Mar 2020 10:%02u:%02u +0000\r\n",
                            i - 1, i - 1, i % 250, i, i, i / 60, i % 60);
  g_string_append (s, "Subject: long way\r\n\r\nbody\r\n");
  return g_string_free (s, FALSE);
}

static void
test_headers_hop_limit (void)
{
  g_autofree char *at = make_chain (MSGTRK_TRACE_MAX_HOPS);
  g_autofree char *past = make_chain (MSGTRK_TRACE_MAX_HOPS + 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = NULL;
  g_autoptr (GPtrArray) none = NULL;

  g_test_summary ("MSGTRK_TRACE_MAX_HOPS Received: fields are read, one more is a limit error");

  hops = msgtrk_trace_parse_headers (at, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hops->len, ==, MSGTRK_TRACE_MAX_HOPS);
  for (guint i = 0; i < hops->len; i++)
    {
      MsgtrkHop *hop = g_ptr_array_index (hops, i);
      g_autofree char *by = g_strdup_printf ("h%u.example", i + 1);

      g_assert_cmpstr (msgtrk_hop_get_by_host (hop), ==, by);
      g_assert_cmpint (msgtrk_hop_get_delay (hop), ==, i == 0 ? -1 : 1);
    }

  none = msgtrk_trace_parse_headers (past, -1, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (none);
}

static void
test_headers_field_limit (void)
{
  g_autofree char *at_value = make_value_of_length (MSGTRK_TRACE_MAX_FIELD_LENGTH);
  g_autofree char *past_value = make_value_of_length (MSGTRK_TRACE_MAX_FIELD_LENGTH + 1);
  /* Folded after "id": the line break is not counted, the white space after it is. */
  g_autofree char *at_folded = g_strdup (at_value);
  g_autofree char *at = NULL;
  g_autofree char *past = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = NULL;
  g_autoptr (GPtrArray) none = NULL;
  char *space = strstr (at_folded, " id ") + 3;

  g_test_summary ("A folded field of MSGTRK_TRACE_MAX_FIELD_LENGTH octets unfolded is read, one "
                  "more is a limit error");

  *space = '\t';
  at = g_strdup_printf ("Subject: x\r\nReceived: %.*s\r\n%s\r\n\r\n",
                        (int) (space - at_folded), at_folded, space);
  past = g_strdup_printf ("Received: %s\r\n\r\n", past_value);

  hops = msgtrk_trace_parse_headers (at, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hops->len, ==, 1);
  g_assert_cmpuint (strlen (msgtrk_hop_get_raw (g_ptr_array_index (hops, 0))), ==,
                    MSGTRK_TRACE_MAX_FIELD_LENGTH);

  none = msgtrk_trace_parse_headers (past, -1, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (none);
}

/* A header block of exactly @size octets (its last field padded), then a blank line. */
static char *
make_header_of_size (gsize size)
{
  static const char received[] = "Received: by a.example; Mon, 2 Mar 2020 10:00:00 +0000\n";
  GString *s = g_string_new (received);

  while (s->len + 1000 < size)
    {
      g_string_append (s, "X-Filler: ");
      while (s->len % 1000 != 999)
        g_string_append_c (s, 'f');
      g_string_append_c (s, '\n');
    }
  g_string_append (s, "X-Last: ");
  while (s->len < size - 1)
    g_string_append_c (s, 'l');
  g_string_append_c (s, '\n');
  g_assert_cmpuint (s->len, ==, size);
  g_string_append (s, "\nbody\n");
  return g_string_free (s, FALSE);
}

static void
test_headers_size_limit (void)
{
  g_autofree char *at = make_header_of_size (MSGTRK_TRACE_MAX_HEADER_SIZE);
  g_autofree char *past = make_header_of_size (MSGTRK_TRACE_MAX_HEADER_SIZE + 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = NULL;
  g_autoptr (GPtrArray) none = NULL;
  g_autoptr (GPtrArray) no_end = NULL;
  g_autofree char *endless = g_malloc (MSGTRK_TRACE_MAX_HEADER_SIZE * 2);

  g_test_summary ("A header block of MSGTRK_TRACE_MAX_HEADER_SIZE octets is read, one more is "
                  "a limit error, a long body after it does not count");

  hops = msgtrk_trace_parse_headers (at, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hops->len, ==, 1);

  none = msgtrk_trace_parse_headers (past, -1, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (none);
  g_clear_error (&error);

  /* One endless line: refused without reading it all. */
  memset (endless, 'a', MSGTRK_TRACE_MAX_HEADER_SIZE * 2);
  no_end = msgtrk_trace_parse_headers (endless, MSGTRK_TRACE_MAX_HEADER_SIZE * 2, &error);
  g_assert_error (error, MSGTRK_ERROR, MSGTRK_ERROR_LIMIT);
  g_assert_null (no_end);

  {
    g_autoptr (GError) error2 = NULL;
    g_autoptr (GPtrArray) with_body = NULL;
    GString *msg = g_string_new ("Received: by a.example; Mon, 2 Mar 2020 10:00:00 +0000\n\n");

    for (int i = 0; i < 20000; i++)
      g_string_append (msg, "a long body line that is not part of the header at all\n");
    with_body = msgtrk_trace_parse_headers (msg->str, (gssize) msg->len, &error2);
    g_assert_no_error (error2);
    g_assert_cmpuint (with_body->len, ==, 1);
    g_string_free (msg, TRUE);
  }
}

static void
test_headers_eight_bit (void)
{
  static const char text[] =
    "Subject: =?iso-8859-1?q?caf=E9?= \xe9\xe8\xff\n"
    "X-Junk: \x80\x81\x82\xc3\n"
    " \xfe\xff continuation of junk\n"
    "Received: from \xe9t\xe9.example (\xe9t\xe9.example [192.0.2.1])\n"
    "\tby mx.example (Postfix) with ESMTP id X\xff;\n"
    "\tMon, 2 Mar 2020 10:00:00 +0000\n"
    "\xff\xfe: bogus name\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = msgtrk_trace_parse_headers (text, -1, &error);
  MsgtrkHop *hop;

  g_test_summary ("8-bit junk in other fields and in a Received: field is tolerated; "
                  "every string comes back as valid UTF-8");

  g_assert_no_error (error);
  g_assert_cmpuint (hops->len, ==, 1);
  hop = g_ptr_array_index (hops, 0);
  g_assert_true (g_utf8_validate (msgtrk_hop_get_from_helo (hop), -1, NULL));
  g_assert_true (g_utf8_validate (msgtrk_hop_get_from_host (hop), -1, NULL));
  g_assert_true (g_utf8_validate (msgtrk_hop_get_id (hop), -1, NULL));
  g_assert_cmpstr (msgtrk_hop_get_from_address (hop), ==, "192.0.2.1");
  g_assert_cmpstr (msgtrk_hop_get_by_host (hop), ==, "mx.example");
  g_assert_nonnull (msgtrk_hop_get_date (hop));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/trace/field/table", test_field_table);
  g_test_add_func ("/trace/field/raw", test_field_raw);
  g_test_add_func ("/trace/field/empty", test_field_empty);
  g_test_add_func ("/trace/field/length-limit", test_field_length_limit);
  g_test_add_func ("/trace/field/deep-nesting", test_field_deep_nesting);

  for (gsize i = 0; i < G_N_ELEMENTS (chain_cases); i++)
    {
      const ChainCase *c = &chain_cases[i];
      g_autofree char *base = g_path_get_basename (c->fixture);
      g_autofree char *name = g_strndup (base, strcspn (base, "."));
      g_autofree char *p1 = g_strdup_printf ("/trace/headers/chain/%s", name);
      g_autofree char *p2 = g_strdup_printf ("/trace/headers/line-ends/%s", name);
      g_autofree char *p3 = g_strdup_printf ("/trace/headers/cut-everywhere/%s", name);

      g_test_add_data_func (p1, c, test_chain);
      g_test_add_data_func (p2, c, test_chain_line_ends);
      g_test_add_data_func (p3, c, test_chain_cut_everywhere);
    }

  g_test_add_func ("/trace/headers/empty", test_headers_empty);
  g_test_add_func ("/trace/headers/names", test_headers_names);
  g_test_add_func ("/trace/headers/skew-minus-one", test_headers_skew_minus_one);
  g_test_add_func ("/trace/headers/nul", test_headers_nul);
  g_test_add_func ("/trace/headers/hop-limit", test_headers_hop_limit);
  g_test_add_func ("/trace/headers/field-limit", test_headers_field_limit);
  g_test_add_func ("/trace/headers/size-limit", test_headers_size_limit);
  g_test_add_func ("/trace/headers/eight-bit", test_headers_eight_bit);

  return g_test_run ();
}
