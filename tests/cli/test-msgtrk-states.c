/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-msgtrk-states.c: the words the CLI and the viewer share (helper/common/msgtrk-states.c).
 *
 * Every state id of docs/dbus-api.md has a label, colour and terminal colour; an unknown id
 * reads as "unknown"; actions map to states (expanded is delivered) and to sentences that
 * name the next server only where the action passes the message on; tracking modes and
 * evidence sources never show the protocol's names; "not sent yet" only while sending.
 * A merged hop's sources in words, the pieces that disagree and the one line each says
 * (helper/common/msgtrk-json.c), with the caller's time format and cleaning or none.
 * The DSN keys of org.msgtrk both plugins read and write (helper/common/msgtrk-settings.c),
 * against the build's compiled schema in a memory backend.
 */
#include "config.h"

#include <glib.h>
#include <string.h>

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gsettingsbackend.h>

#include "msgtrk-json.h"
#include "msgtrk-settings.h"
#include "msgtrk-states.h"

static void
test_states_table (void)
{
  static const char *const ids[] = { "unknown", "in-transit", "delayed", "relayed", "opaque", "delivered",
                                     "failed", "read", "sending", "untracked", "aborted" };

  for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      const MsgtrkStateInfo *info = msgtrk_states_lookup (ids[i]);

      g_assert_true (msgtrk_states_is_known (ids[i]));
      g_assert_cmpstr (info->id, ==, ids[i]);
      g_assert_true (info->color[0] == '#' && strlen (info->color) == 7);
      g_assert_true (g_str_has_prefix (info->ansi, "\033["));
      g_assert_nonnull (msgtrk_states_label (ids[i]));
    }
  g_assert_false (msgtrk_states_is_known ("bounced"));
  g_assert_false (msgtrk_states_is_known (NULL));
  g_assert_cmpstr (msgtrk_states_lookup ("bounced")->id, ==, "unknown");
  g_assert_cmpstr (msgtrk_states_label (NULL), ==, "Unknown");
  g_assert_cmpstr (msgtrk_states_label ("aborted"), ==, "Not sent");
  g_assert_cmpstr (msgtrk_states_label ("opaque"), ==, "Not disclosed");
}

/* The enums and their ids: every id round-trips, the ids are those of docs/dbus-api.md in
 * enum order, the recipient states keep libmsgtrk's ids, unknown ids are refused. */
static void
test_states_enums (void)
{
  static const char *const state_ids[] = { "unknown", "in-transit", "delayed", "relayed",
                                           "opaque", "delivered", "failed", "read",
                                           "sending", "untracked", "aborted" };
  static const char *const tracking_ids[] = { "pending", "mtqp", "dsn", "none", "aborted",
                                              "delegated" };
  MsgtrkMessageState state = MSGTRK_MESSAGE_STATE_DELIVERED;
  MsgtrkTrackingMode mode = MSGTRK_TRACKING_MODE_MTQP;

  g_assert_cmpint (G_N_ELEMENTS (state_ids), ==, MSGTRK_MESSAGE_STATE_COUNT);
  for (guint i = 0; i < MSGTRK_MESSAGE_STATE_COUNT; i++)
    {
      g_assert_cmpstr (msgtrk_message_state_to_string (i), ==, state_ids[i]);
      g_assert_true (msgtrk_message_state_from_string (state_ids[i], &state));
      g_assert_cmpint (state, ==, i);
      g_assert_cmpint (msgtrk_states_info (i)->state, ==, i);
      g_assert_cmpstr (msgtrk_states_info (i)->id, ==, state_ids[i]);
    }
  for (MsgtrkRecipientState r = MSGTRK_RECIPIENT_STATE_UNKNOWN; r <= MSGTRK_RECIPIENT_STATE_READ;
       r++)
    g_assert_cmpstr (msgtrk_message_state_to_string (msgtrk_message_state_from_recipient (r)), ==,
                     msgtrk_recipient_state_to_string (r));
  g_assert_false (msgtrk_message_state_from_string ("bounced", &state));
  g_assert_cmpint (state, ==, MSGTRK_MESSAGE_STATE_UNKNOWN);
  g_assert_false (msgtrk_message_state_from_string ("Delivered", NULL));
  g_assert_false (msgtrk_message_state_from_string (NULL, NULL));
  g_assert_cmpstr (msgtrk_message_state_to_string (MSGTRK_MESSAGE_STATE_COUNT), ==, "unknown");
  g_assert_cmpstr (msgtrk_states_info (MSGTRK_MESSAGE_STATE_COUNT)->id, ==, "unknown");

  g_assert_cmpint (G_N_ELEMENTS (tracking_ids), ==, MSGTRK_TRACKING_MODE_COUNT);
  for (guint i = 0; i < MSGTRK_TRACKING_MODE_COUNT; i++)
    {
      g_assert_cmpstr (msgtrk_tracking_mode_to_string (i), ==, tracking_ids[i]);
      g_assert_true (msgtrk_tracking_mode_from_string (tracking_ids[i], &mode));
      g_assert_cmpint (mode, ==, i);
      g_assert_cmpint (msgtrk_tracking_mode_is_polled (i), ==,
                       i == MSGTRK_TRACKING_MODE_MTQP || i == MSGTRK_TRACKING_MODE_DELEGATED);
    }
  g_assert_cmpstr (MSGTRK_TRACKING_ID_DELEGATED, ==,
                   msgtrk_tracking_mode_to_string (MSGTRK_TRACKING_MODE_DELEGATED));
  g_assert_false (msgtrk_tracking_mode_from_string ("future", &mode));
  g_assert_cmpint (mode, ==, MSGTRK_TRACKING_MODE_PENDING);
  g_assert_false (msgtrk_tracking_mode_from_string (NULL, NULL));
  g_assert_cmpint (msgtrk_message_state_from_action ("Expanded"), ==,
                   MSGTRK_MESSAGE_STATE_DELIVERED);
  g_assert_cmpint (msgtrk_message_state_from_action ("bounced"), ==, MSGTRK_MESSAGE_STATE_UNKNOWN);
}

static void
test_states_actions (void)
{
  static const struct
  {
    const char *action, *remote, *state, *words;
  } cases[] = {
    { "transferred", "relay.example.net", "in-transit", "Handed to relay.example.net" },
    { "Transferred", NULL, "in-transit", "Passed on to the next server" },
    { "relayed", "mx.legacy.example", "relayed", "Handed to mx.legacy.example, which gives no tracking information" },
    { "relayed", "", "relayed", "Passed to a server that gives no tracking information" },
    { "delivered", "ignored.example", "delivered", "Delivered to the recipient’s mailbox" },
    { "expanded", NULL, "delivered", "Delivered to a mailing list or alias" },
    { "delayed", NULL, "delayed", "Delayed: the server keeps trying" },
    { "FAILED", NULL, "failed", "Could not be delivered" },
    { "opaque", NULL, "opaque", "This server does not say more" },
    { "displayed", NULL, "read", "Read by the recipient" },
    { "bounced", NULL, "unknown", "Reported “bounced”" },
    { NULL, NULL, "unknown", "No action reported" },
    { "", NULL, "unknown", "No action reported" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *words = msgtrk_states_describe_action (cases[i].action, cases[i].remote);

      g_assert_cmpstr (msgtrk_states_from_action (cases[i].action), ==, cases[i].state);
      g_assert_cmpstr (words, ==, cases[i].words);
    }
}

static void
test_states_words (void)
{
  static const struct
  {
    const char *tracking, *host, *words;
  } cases[] = {
    { "pending", "smtp.example.org", "Waiting for the mail program to finish sending" },
    { "mtqp", "smtp.example.org", "Asking tracking servers, starting at smtp.example.org" },
    { "mtqp", NULL, "Asking tracking servers" },
    { "dsn", "smtp.example.org", "Delivery reports only (smtp.example.org offers no tracking server)" },
    { "none", "smtp.example.org", "None: smtp.example.org offered no tracking" },
    { "aborted", "smtp.example.org", "None: the message was not sent" },
    { "delegated", "mtqp.example.com", "Tracked from a link, asking mtqp.example.com" },
    { "delegated", NULL, "Tracked from a link" },
    { "future", NULL, "future" },
    { NULL, NULL, "—" },
  };
  static const char *const sources[][2] = {
    { "mtqp", "tracking server" }, { "dsn", "delivery report" }, { "trace", "mail headers" },
    { "mdn", "read receipt" },     { "local", "this computer" },  { "error", "problem" },
    { "warning", "warning" },      { "smoke-signal", "other" },   { NULL, "other" },
    { "harrison", "relay's trace record" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *words = msgtrk_states_describe_tracking (cases[i].tracking, cases[i].host);

      g_assert_cmpstr (words, ==, cases[i].words);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (sources); i++)
    g_assert_cmpstr (msgtrk_states_source_label (sources[i][0]), ==, sources[i][1]);
  /* Received: fields, whoever returned them: never a broken link for lacking a status. */
  g_assert_true (msgtrk_states_source_is_trace ("trace"));
  g_assert_true (msgtrk_states_source_is_trace ("harrison"));
  g_assert_false (msgtrk_states_source_is_trace ("dsn"));
  g_assert_false (msgtrk_states_source_is_trace (NULL));
  g_assert_cmpstr (msgtrk_states_describe_sent_unknown ("pending"), ==, "not sent yet");
  g_assert_cmpstr (msgtrk_states_describe_sent_unknown ("aborted"), ==, "not sent");
  g_assert_cmpstr (msgtrk_states_describe_sent_unknown ("delegated"), ==, "sent time unknown");
  g_assert_cmpstr (msgtrk_states_describe_sent_unknown (NULL), ==, "sent time unknown");
}

static JsonObject *
parse_object (const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
test_merged_hop (void)
{
  static const struct
  {
    const char *json, *sources;
    guint n_conflict;
  } cases[] = {
    { "{\"source\": \"dsn\"}", "delivery report", 0 },
    { "{}", "other", 0 },
    { "{\"source\": \"dsn\", \"sources\": [\"mtqp\", 7, \"dsn\", \"x-new\"]}",
      "tracking server + delivery report + other", 0 },
    { "{\"source\": \"dsn\", \"sources\": []}", "delivery report", 0 },
    /* a conflict: the pieces that say an action, in their order */
    { "{\"sources\": [\"mtqp\", \"trace\", \"dsn\"], \"conflict\": true, \"evidence\": ["
      " {\"source\": \"mtqp\", \"action\": \"delayed\"}, {\"source\": \"trace\", \"action\": null},"
      " 5, {\"source\": \"dsn\", \"action\": \"delivered\"}]}",
      "tracking server + mail headers + delivery report", 2 },
    /* no conflict (false, or of the wrong type): nothing to list */
    { "{\"sources\": [\"mtqp\"], \"conflict\": false, \"evidence\": [{\"action\": \"delayed\"}]}",
      "tracking server", 0 },
    { "{\"sources\": [\"mtqp\"], \"conflict\": \"yes\", \"evidence\": [{\"action\": \"delayed\"}]}",
      "tracking server", 0 },
  };

  g_test_summary ("A merged hop (docs/route-merge.md): its sources in words, the pieces "
                  "that disagree");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (JsonObject) hop = parse_object (cases[i].json);
      g_autofree char *text = msgtrk_json_hop_sources_text (hop);
      g_autoptr (GPtrArray) pieces = msgtrk_json_hop_conflict (hop);

      g_assert_cmpstr (text, ==, cases[i].sources);
      g_assert_cmpuint (pieces->len, ==, cases[i].n_conflict);
      if (pieces->len == 2)
        {
          g_assert_cmpstr (msgtrk_json_get_string (g_ptr_array_index (pieces, 0), "action"), ==, "delayed");
          g_assert_cmpstr (msgtrk_json_get_string (g_ptr_array_index (pieces, 1), "action"), ==, "delivered");
        }
    }
  {
    g_autofree char *text = msgtrk_json_hop_sources_text (NULL);
    g_autoptr (GPtrArray) pieces = msgtrk_json_hop_conflict (NULL);

    g_assert_cmpstr (text, ==, "other");
    g_assert_cmpuint (pieces->len, ==, 0);
  }
}

/* Stand-ins for the caller's functions: a marked time, a terminal's cleaning. */
static char *
test_time (const char *iso)
{
  return iso != NULL ? g_strdup_printf ("<%s>", iso) : NULL;
}

static char *
test_clean (const char *text)
{
  g_autofree char *out = g_strdup (text != NULL ? text : "");

  g_strdelimit (out, "\x1b\n", '?');
  return g_steal_pointer (&out);
}

static void
test_merged_hop_lines (void)
{
  static const char json[] =
    "{\"sources\": [\"mtqp\", \"dsn\"], \"conflict\": true, \"evidence\": ["
    " {\"source\": \"mtqp\", \"action\": \"transferred\", \"remote_mta\": \"mx\\u001b[31m.example\","
    "  \"arrival\": \"2026-01-02T03:04:05Z\"},"
    " {\"source\": \"trace\"},"
    " {\"source\": \"dsn\", \"action\": \"delivered\", \"arrival\": \"A\", \"last_attempt\": \"B\"},"
    " {\"source\": \"x-new\", \"action\": \"delayed\"}]}";
  g_autoptr (JsonObject) hop = parse_object (json);

  g_test_summary ("What each disagreeing piece of a merged hop says, one line each: the "
                  "caller's time format (last attempt before arrival) and cleaning, or plain");
  {
    g_autoptr (GPtrArray) lines = msgtrk_json_hop_conflict_lines (hop, test_time, test_clean);

    g_assert_cmpuint (lines->len, ==, 3);
    g_assert_cmpstr (g_ptr_array_index (lines, 0), ==,
                     "tracking server, <2026-01-02T03:04:05Z>: Handed to mx?[31m.example");
    g_assert_cmpstr (g_ptr_array_index (lines, 1), ==,
                     "delivery report, <B>: Delivered to the recipient’s mailbox");
    g_assert_cmpstr (g_ptr_array_index (lines, 2), ==, "other: Delayed: the server keeps trying");
  }
  {
    g_autoptr (GPtrArray) lines = msgtrk_json_hop_conflict_lines (hop, NULL, NULL);

    g_assert_cmpuint (lines->len, ==, 3);
    g_assert_cmpstr (g_ptr_array_index (lines, 0), ==,
                     "tracking server, 2026-01-02T03:04:05Z: Handed to mx\033[31m.example");
    g_assert_cmpstr (g_ptr_array_index (lines, 1), ==,
                     "delivery report, B: Delivered to the recipient’s mailbox");
  }
  {
    g_autoptr (JsonObject) agreeing = parse_object ("{\"conflict\": false, \"evidence\": "
                                                    "[{\"action\": \"delayed\"}]}");
    g_autoptr (GPtrArray) none = msgtrk_json_hop_conflict_lines (agreeing, test_time, test_clean);
    g_autoptr (GPtrArray) null_hop = msgtrk_json_hop_conflict_lines (NULL, NULL, NULL);

    g_assert_cmpuint (none->len, ==, 0);
    g_assert_cmpuint (null_hop->len, ==, 0);
  }
}

static void
test_settings_dsn (void)
{
  const char *root = g_getenv ("MSGTRK_BUILD_ROOT");
  g_autofree char *dir = NULL;
  g_autoptr (GSettingsSchemaSource) source = NULL;
  g_autoptr (GSettingsSchema) schema = NULL;
  g_autoptr (GSettingsBackend) backend = NULL;
  g_autoptr (GSettings) settings = NULL;
  g_autoptr (GError) error = NULL;
  const char *const never_and_more[] = { "success", "never", NULL };
  const char *const unknown_only[] = { "sometimes", NULL };
  g_auto (GStrv) words = NULL;

  if (root == NULL)
    {
      g_test_skip ("MSGTRK_BUILD_ROOT is not set (run through meson test)");
      return;
    }
  dir = g_build_filename (root, "data", "gsettings", NULL);
  source = g_settings_schema_source_new_from_directory (dir, NULL, FALSE, &error);
  g_assert_no_error (error);
  schema = g_settings_schema_source_lookup (source, "org.msgtrk", FALSE);
  g_assert_nonnull (schema);
  backend = g_memory_settings_backend_new ();
  settings = g_settings_new_full (schema, backend, NULL);

  /* Round trips, in the schema's words. */
  msgtrk_settings_set_dsn_notify (settings, MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_DELAY);
  words = g_settings_get_strv (settings, "dsn-notify");
  g_assert_cmpuint (g_strv_length (words), ==, 2);
  g_assert_cmpstr (words[0], ==, "success");
  g_assert_cmpstr (words[1], ==, "delay");
  g_assert_cmpint (msgtrk_settings_get_dsn_notify (settings), ==,
                   MSGTRK_DSN_NOTIFY_SUCCESS | MSGTRK_DSN_NOTIFY_DELAY);
  msgtrk_settings_set_dsn_notify (settings, MSGTRK_DSN_NOTIFY_UNSET);
  g_clear_pointer (&words, g_strfreev);
  words = g_settings_get_strv (settings, "dsn-notify");
  g_assert_cmpuint (g_strv_length (words), ==, 1);
  g_assert_cmpstr (words[0], ==, "never");
  g_assert_cmpint (msgtrk_settings_get_dsn_notify (settings), ==, MSGTRK_DSN_NOTIFY_NEVER);
  /* "never" wins over any other word; words this code does not know mean none. */
  g_settings_set_strv (settings, "dsn-notify", never_and_more);
  g_assert_cmpint (msgtrk_settings_get_dsn_notify (settings), ==, MSGTRK_DSN_NOTIFY_NEVER);
  g_settings_set_strv (settings, "dsn-notify", unknown_only);
  g_assert_cmpint (msgtrk_settings_get_dsn_notify (settings), ==, MSGTRK_DSN_NOTIFY_NEVER);

  msgtrk_settings_set_dsn_ret (settings, MSGTRK_DSN_RET_FULL);
  g_assert_cmpint (msgtrk_settings_get_dsn_ret (settings), ==, MSGTRK_DSN_RET_FULL);
  msgtrk_settings_set_dsn_ret (settings, MSGTRK_DSN_RET_HDRS);
  g_assert_cmpint (msgtrk_settings_get_dsn_ret (settings), ==, MSGTRK_DSN_RET_HDRS);
  g_settings_set_string (settings, "dsn-ret", "full");
  g_assert_cmpint (msgtrk_settings_get_dsn_ret (settings), ==, MSGTRK_DSN_RET_FULL);
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("States, actions, tracking modes and evidence sources in words (CLI, viewer)");
  g_test_add_func ("/states/table", test_states_table);
  g_test_add_func ("/states/enums", test_states_enums);
  g_test_add_func ("/states/actions", test_states_actions);
  g_test_add_func ("/states/words", test_states_words);
  g_test_add_func ("/states/merged-hop", test_merged_hop);
  g_test_add_func ("/states/merged-hop-lines", test_merged_hop_lines);
  g_test_add_func ("/settings/dsn", test_settings_dsn);
  return g_test_run ();
}
