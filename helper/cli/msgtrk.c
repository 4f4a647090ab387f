/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk.c: `msgtrk`, the command-line client of msgtrkd.
 *
 * Talks to org.msgtrk.Tracker1 on the session bus through the gdbus-codegen proxy
 * (helper/common) and prints what msgtrkd knows: `list`, `show` (a text delivery map, or
 * the route JSON with --json), `track`, `export-url`, `import-url`, `ingest`, `forget`,
 * `watch`. The JSON formats it reads are in docs/dbus-api.md; it ignores members it does
 * not know.
 *
 * Exit status: 0 success, 1 any failure (usage, bus, daemon error), 2 unknown id.
 *
 * Environment: MSGTRK_LOCALEDIR, when set and not empty, replaces the installed locale
 * directory (LOCALEDIR) for msgtrk's translations; the tests point it at the build tree.
 *
 * Limits: a tracking URL read from stdin is at most MSGTRK_CLI_MAX_URL_LEN bytes, a report
 * given to `ingest` at most MSGTRK_REPORT_MAX_MESSAGE_SIZE bytes (of a larger message
 * than MSGTRK_REPORT_MAX_SIZE only the report parts are sent), `track --timeout` at most
 * MSGTRK_CLI_MAX_TRACK_TIMEOUT seconds.
 *
 * Never: prints control characters that came from the daemon or from remote servers to the
 * terminal (they are replaced); keeps a tracking URL (it holds the secret A) in memory
 * longer than needed (wiped after use) or anywhere but stdout (export-url) or the bus.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "msgtrk.h"
#include "msgtrk-private.h"
#include "msgtrk-dbus-generated.h"
#include "msgtrk-json.h"
#include "msgtrk-states.h"
#include "msgtrkd-error.h"

/* Exit status of the command. */
enum
{
  CLI_EXIT_OK = 0,
  CLI_EXIT_FAILURE = 1,
  CLI_EXIT_UNKNOWN_ID = 2,
};

/** MSGTRK_CLI_MAX_URL_LEN: longest tracking URL accepted on stdin by import-url (bytes). */
#define MSGTRK_CLI_MAX_URL_LEN 4096
/** MSGTRK_CLI_MAX_TRACK_TIMEOUT: longest --timeout of track (seconds, one day). */
#define MSGTRK_CLI_MAX_TRACK_TIMEOUT 86400
/** MSGTRK_CLI_DEFAULT_TRACK_TIMEOUT: --timeout of track when not given (seconds). */
#define MSGTRK_CLI_DEFAULT_TRACK_TIMEOUT 60
/* Longest id quoted back in an error message (characters before "…"). */
#define CLI_MAX_QUOTED_ID 200
/* Columns of `list` cut with "…" beyond these widths (characters). */
#define CLI_LIST_MAX_SUBJECT 40
#define CLI_LIST_MAX_SUMMARY 48
/* Problem events shown by `show` (the newest; the number of older ones is said). */
#define CLI_MAX_PROBLEMS 5

#define TRACKER_BUS_NAME "org.msgtrk.Tracker1"
#define TRACKER_OBJECT_PATH "/org/msgtrk/Tracker1"

#define ANSI_RESET "\033[0m"
#define ANSI_BOLD "\033[1m"
#define ANSI_DIM "\033[2m"
#define ANSI_RED "\033[31m"
#define ANSI_YELLOW "\033[33m"

/* Options; each command's GOptionEntry table points at the ones it takes. */
static gboolean opt_json;
static gboolean opt_gui;
static gint opt_timeout = MSGTRK_CLI_DEFAULT_TRACK_TIMEOUT;
static gboolean use_color;

/* --- text helpers ---------------------------------------------------------------------- */

/* Appends @text to @out cleaned (msgtrk_json_clean_text), so that text from the daemon or
 * from remote servers cannot drive the terminal. NULL → "". */
static void
append_clean (GString    *out,
              const char *text)
{
  g_autofree char *cleaned = msgtrk_json_clean_text (text);

  if (cleaned != NULL)
    g_string_append (out, cleaned);
}

/* A cleaned copy of @text (msgtrk_json_clean_text); NULL → "". */
static char *
clean (const char *text)
{
  return text != NULL ? msgtrk_json_clean_text (text) : g_strdup ("");
}

/* Appends @text cut to @max characters (with "…") and padded with spaces to @width. */
static void
append_cell (GString    *out,
             const char *text,
             glong       max,
             glong       width)
{
  g_autofree char *cleaned = clean (text);
  glong len = g_utf8_strlen (cleaned, -1);

  if (len > max)
    {
      const char *end = g_utf8_offset_to_pointer (cleaned, max - 1);

      g_string_append_len (out, cleaned, end - cleaned);
      g_string_append (out, "…");
      len = max;
    }
  else
    g_string_append (out, cleaned);
  for (; len < width; len++)
    g_string_append_c (out, ' ');
}

/* Length in characters of @text once cleaned and cut to @max. */
static glong
cell_len (const char *text,
          glong       max)
{
  g_autofree char *cleaned = clean (text);

  return MIN (g_utf8_strlen (cleaned, -1), max);
}

static const char *
color (const char *code)
{
  return use_color ? code : "";
}

/* Appends a state label, coloured. @upper: in capitals (recipient headings). */
static void
append_state (GString    *out,
              const char *state,
              gboolean    upper)
{
  const MsgtrkStateInfo *info = msgtrk_states_lookup (state);
  const char *label = msgtrk_states_label (state);

  g_string_append (out, color (info->ansi));
  if (state == NULL || msgtrk_states_is_known (state))
    {
      if (upper)
        {
          g_autofree char *up = g_utf8_strup (label, -1);
          g_string_append (out, up);
        }
      else
        g_string_append (out, label);
    }
  else
    append_clean (out, state); /* a state newer than this client: shown as is */
  g_string_append (out, color (ANSI_RESET));
}

/* An ISO 8601 time from the daemon in local time, or the text itself when it does not
 * parse; NULL for NULL. */
static char *
format_time (const char *iso)
{
  return msgtrk_json_local_time (iso, "%Y-%m-%d %H:%M:%S %Z", clean);
}

/* --- JSON helpers ---------------------------------------------------------------------- */

/* Parses @text from the daemon; @what names it for the error message. */
static JsonNode *
parse_json (const char  *text,
            JsonNodeType expected,
            const char  *what,
            GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local = NULL;
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, -1, &local))
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_FAILED,
                   _("msgtrkd sent %s that is not valid JSON (%s); is msgtrkd the same version as msgtrk?"),
                   what, local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || JSON_NODE_TYPE (root) != expected)
    {
      g_set_error (error, MSGTRKD_ERROR, MSGTRKD_ERROR_FAILED,
                   _("msgtrkd sent %s of an unexpected shape; is msgtrkd the same version as msgtrk?"),
                   what);
      return NULL;
    }
  return json_node_copy (root);
}

/* Prints @root pretty-printed on stdout. */
static void
print_json (JsonNode *root,
            gboolean  pretty)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (gen, pretty);
  json_generator_set_indent (gen, 2);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  g_print ("%s\n", text);
}

/* --- errors and the bus ---------------------------------------------------------------- */

/* Prints @error as "msgtrk: …" and returns the exit status it stands for. @id: the id the
 * user gave (for "no tracked message with id …"), or NULL. */
static int
report_error (GError     *error,
              const char *id)
{
  g_autofree char *message = NULL;

  if (id != NULL && g_error_matches (error, MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND))
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (id, CLI_MAX_QUOTED_ID);

      g_printerr (_("msgtrk: no tracked message with id %s\n"), quoted);
      return CLI_EXIT_UNKNOWN_ID;
    }
  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);
  message = clean (error->message);
  if (error->domain == G_DBUS_ERROR &&
      (error->code == G_DBUS_ERROR_SERVICE_UNKNOWN || error->code == G_DBUS_ERROR_NAME_HAS_NO_OWNER ||
       (error->code >= G_DBUS_ERROR_SPAWN_EXEC_FAILED && error->code <= G_DBUS_ERROR_SPAWN_FAILED) ||
       error->code == G_DBUS_ERROR_SPAWN_SERVICE_INVALID ||
       error->code == G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND))
    g_printerr (_("msgtrk: msgtrkd is not running and D-Bus could not start it (%s). "
                  "Check that msgtrk is installed, or start msgtrkd by hand.\n"),
                message);
  else
    g_printerr ("msgtrk: %s\n", message);
  return CLI_EXIT_FAILURE;
}

/* The proxy for msgtrkd on the session bus. Method calls start msgtrkd by D-Bus activation
 * when it is installed and not running. */
static MsgtrkDBusTracker1 *
connect_tracker (GError **error)
{
  g_autoptr(GError) local = NULL;
  MsgtrkDBusTracker1 *proxy;

  proxy = msgtrk_dbus_tracker1_proxy_new_for_bus_sync (G_BUS_TYPE_SESSION,
                                                       G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                                       TRACKER_BUS_NAME, TRACKER_OBJECT_PATH,
                                                       NULL, &local);
  if (proxy == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                   _("cannot connect to the session bus, so msgtrkd cannot be reached: %s"),
                   local->message);
      return NULL;
    }
  return proxy;
}

/* Whether org.msgtrk.Tracker1 has an owner now. Also a round trip to the bus: match rules
 * sent before it are in force when it returns. */
static gboolean
tracker_has_owner (MsgtrkDBusTracker1 *proxy)
{
  GDBusConnection *conn = g_dbus_proxy_get_connection (G_DBUS_PROXY (proxy));
  g_autoptr(GVariant) reply = NULL;

  reply = g_dbus_connection_call_sync (conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner",
                                       g_variant_new ("(s)", TRACKER_BUS_NAME),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       NULL);
  if (reply != NULL)
    {
      gboolean has;

      g_variant_get (reply, "(b)", &has);
      return has;
    }
  return FALSE;
}

/* --- reading input --------------------------------------------------------------------- */

/* Reads all of @fd, failing when it holds more than @max bytes. The buffer is wiped
 * before being freed on failure (it may hold a secret). */
static GBytes *
read_fd_limited (int         fd,
                 gsize       max,
                 const char *name,
                 GError    **error)
{
  gsize cap = MIN (max + 1, (gsize) 65536);
  gsize len = 0;
  guint8 *buf = g_malloc (cap);

  for (;;)
    {
      gssize n;

      if (len == cap)
        {
          gsize new_cap = MIN (cap * 2, max + 1);
          guint8 *grown;

          if (new_cap == cap)
            {
              msgtrk_secure_wipe (buf, len);
              g_free (buf);
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                           _("%s is larger than %lu bytes"), name, (unsigned long) max);
              return NULL;
            }
          grown = g_malloc (new_cap);
          memcpy (grown, buf, len);
          msgtrk_secure_wipe (buf, len);
          g_free (buf);
          buf = grown;
          cap = new_cap;
        }
      n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;

          msgtrk_secure_wipe (buf, len);
          g_free (buf);
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _("cannot read %s: %s"),
                       name, g_strerror (saved));
          return NULL;
        }
      if (n == 0)
        break;
      len += (gsize) n;
    }
  if (len > max)
    {
      msgtrk_secure_wipe (buf, len);
      g_free (buf);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, _("%s is larger than %lu bytes"),
                   name, (unsigned long) max);
      return NULL;
    }
  return g_bytes_new_take (buf, len);
}

/* --- commands -------------------------------------------------------------------------- */

typedef struct
{
  MsgtrkDBusTracker1 *proxy;
  char **args; /* positional arguments after the command name */
} Cli;

/* The SUBJECT cell of `list`: the subject; for a message tracked from a link, which
 * carries none, words that say so. */
static const char *
list_subject (JsonObject *msg)
{
  const char *subject = msgtrk_json_get_string (msg, "subject");
  MsgtrkTrackingMode mode;

  if ((subject == NULL || *subject == '\0')
      && msgtrk_tracking_mode_from_string (msgtrk_json_get_string (msg, "tracking"), &mode)
      && mode == MSGTRK_TRACKING_MODE_DELEGATED)
    return _("(tracked from a link)");
  return subject;
}

static int
cmd_list (Cli *cli)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  JsonArray *array;
  glong w_state, w_summary, w_sent, w_subject;
  guint i, n;

  if (!msgtrk_dbus_tracker1_call_list_sync (cli->proxy, &json, NULL, &error))
    return report_error (error, NULL);
  root = parse_json (json, JSON_NODE_ARRAY, _("a message list"), &error);
  if (root == NULL)
    return report_error (error, NULL);
  if (opt_json)
    {
      print_json (root, TRUE);
      return CLI_EXIT_OK;
    }
  array = json_node_get_array (root);
  n = json_array_get_length (array);
  if (n == 0)
    {
      g_print ("%s\n", _("No tracked messages."));
      return CLI_EXIT_OK;
    }

  /* Column widths: header or widest cell. */
  w_state = g_utf8_strlen (_("STATE"), -1);
  w_summary = g_utf8_strlen (_("SUMMARY"), -1);
  w_sent = MAX (g_utf8_strlen (_("SENT"), -1), 16);
  w_subject = g_utf8_strlen (_("SUBJECT"), -1);
  for (i = 0; i < n; i++)
    {
      JsonObject *msg = msgtrk_json_array_get_object (array, i);

      w_state = MAX (w_state, g_utf8_strlen (msgtrk_states_label (msgtrk_json_get_string (msg, "state")), -1));
      w_summary = MAX (w_summary, cell_len (msgtrk_json_get_string (msg, "summary"), CLI_LIST_MAX_SUMMARY));
      w_subject = MAX (w_subject, cell_len (list_subject (msg), CLI_LIST_MAX_SUBJECT));
    }

  g_string_append (out, color (ANSI_BOLD));
  append_cell (out, _("STATE"), w_state, w_state + 2);
  append_cell (out, _("SUMMARY"), w_summary, w_summary + 2);
  append_cell (out, _("SENT"), w_sent, w_sent + 2);
  append_cell (out, _("SUBJECT"), w_subject, w_subject + 2);
  g_string_append (out, _("ENVID"));
  g_string_append (out, color (ANSI_RESET));
  g_string_append_c (out, '\n');
  for (i = 0; i < n; i++)
    {
      JsonObject *msg = msgtrk_json_array_get_object (array, i);
      const char *state = msgtrk_json_get_string (msg, "state");
      g_autofree char *sent = NULL;
      g_autoptr(GDateTime) utc = NULL;
      glong pad;

      if (msg == NULL)
        continue;
      append_state (out, state, FALSE);
      for (pad = g_utf8_strlen (msgtrk_states_label (state), -1); pad < w_state + 2; pad++)
        g_string_append_c (out, ' ');
      append_cell (out, msgtrk_json_get_string (msg, "summary"), CLI_LIST_MAX_SUMMARY, w_summary + 2);
      if (msgtrk_json_get_string (msg, "sent") != NULL &&
          (utc = g_date_time_new_from_iso8601 (msgtrk_json_get_string (msg, "sent"), NULL)) != NULL)
        {
          g_autoptr(GDateTime) local = g_date_time_to_local (utc);
          sent = g_date_time_format (local, "%Y-%m-%d %H:%M");
        }
      append_cell (out, sent ? sent : "—", w_sent, w_sent + 2);
      append_cell (out, list_subject (msg), CLI_LIST_MAX_SUBJECT, w_subject + 2);
      append_clean (out, msgtrk_json_get_string (msg, "envid"));
      g_string_append_c (out, '\n');
    }
  fputs (out->str, stdout);
  return CLI_EXIT_OK;
}

/* One "label: value" line of show's header, @label padded to @width characters. */
static void
append_field (GString    *out,
              const char *label,
              glong       width,
              const char *value)
{
  glong len = g_utf8_strlen (label, -1);

  g_string_append (out, color (ANSI_BOLD));
  g_string_append (out, label);
  g_string_append (out, color (ANSI_RESET));
  for (; len < width + 1; len++)
    g_string_append_c (out, ' ');
  if (value != NULL)
    append_clean (out, value);
  else
    g_string_append (out, "—");
  g_string_append_c (out, '\n');
}

/* One indented "label: value" detail line under a hop, when @value is known. */
static void
append_detail (GString    *out,
               const char *label,
               const char *value)
{
  if (value == NULL || *value == '\0')
    return;
  g_string_append (out, "       ");
  g_string_append (out, color (ANSI_DIM));
  g_string_append (out, label);
  g_string_append (out, color (ANSI_RESET));
  g_string_append_c (out, ' ');
  append_clean (out, value);
  g_string_append_c (out, '\n');
}

/* Whether @hop is a broken link: it has an error, or it is a report (MTQP, DSN, or of a
 * source this client does not know) that says neither action nor status. A trace hop
 * (a Received: field) never has an action or a status; it is broken only with an error. */
static gboolean
hop_is_broken (JsonObject *hop)
{
  if (msgtrk_json_get_string (hop, "error") != NULL)
    return TRUE;
  if (msgtrk_states_source_is_trace (msgtrk_json_get_string (hop, "source")))
    return FALSE;
  return msgtrk_json_get_string (hop, "action") == NULL && msgtrk_json_get_string (hop, "status") == NULL;
}

/* The "from HOST [ADDRESS]" part of a trace hop, cleaned; NULL when neither is known. A
 * host that is only the address literal ("[192.0.2.1]") is not repeated. */
static char *
trace_from (JsonObject *hop)
{
  g_autofree char *host = clean (msgtrk_json_get_string (hop, "from_host"));
  g_autofree char *address = clean (msgtrk_json_get_string (hop, "from_address"));
  gboolean has_host = *host != '\0';
  gboolean has_address = *address != '\0';

  if (has_host && has_address)
    {
      g_autofree char *literal = g_strdup_printf ("[%s]", address);

      has_host = strcmp (host, address) != 0 && strcmp (host, literal) != 0;
    }
  if (has_host && has_address)
    /* TRANSLATORS: where a mail server received the message from: a host name and its IP
     * address, from a Received: header field. */
    return g_strdup_printf (_("from %s [%s]"), host, address);
  if (has_address)
    /* TRANSLATORS: where a mail server received the message from: an IP address. */
    return g_strdup_printf (_("from [%s]"), address);
  if (has_host)
    /* TRANSLATORS: where a mail server received the message from: a host name. */
    return g_strdup_printf (_("from %s"), host);
  return NULL;
}

/* Appends "  [where the evidence came from]", dimmed, when @hop names its source; a
 * merged hop (docs/route-merge.md) names each of its "sources": "[tracking server +
 * delivery report]". */
static void
append_source (GString    *out,
               JsonObject *hop)
{
  g_autofree char *text = NULL;

  if (msgtrk_json_get_string (hop, "source") == NULL && msgtrk_json_get_array (hop, "sources") == NULL)
    return;
  text = msgtrk_json_hop_sources_text (hop);
  g_string_append (out, color (ANSI_DIM));
  g_string_append (out, "  [");
  g_string_append (out, text);
  g_string_append_c (out, ']');
  g_string_append (out, color (ANSI_RESET));
}

/* Under a merged hop whose sources disagree ("conflict"), one detail line per piece of
 * evidence that says an action, in time order (helper/common/msgtrk-json.c): "reported:
 * delivery report, TIME: Delivered to …", the remote server's name cleaned for the terminal. */
static void
append_conflict (GString    *out,
                 JsonObject *hop)
{
  g_autoptr (GPtrArray) lines = msgtrk_json_hop_conflict_lines (hop, format_time, clean);

  for (guint i = 0; i < lines->len; i++)
    append_detail (out, _("reported:"), g_ptr_array_index (lines, i));
}

/* Appends one trace hop: "  N. received by HOST  time  from HOST [ADDRESS]  (+N s)  [trace]".
 * Each part but the first is left out when unknown. */
static void
append_trace_hop (GString    *out,
                  JsonObject *hop)
{
  g_autofree char *by = clean (msgtrk_json_get_string (hop, "server"));
  g_autofree char *when = format_time (msgtrk_json_get_string (hop, "arrival"));
  g_autofree char *from = trace_from (hop);
  gint64 delay;

  if (*by != '\0')
    {
      /* TRANSLATORS: a hop of the Received: chain: the server that received the message. */
      g_autofree char *text = g_strdup_printf (_("received by %s"), by);
      g_string_append (out, text);
    }
  else
    g_string_append (out, _("received by an unknown server"));
  if (when != NULL)
    {
      g_string_append (out, "  ");
      g_string_append (out, when);
    }
  if (from != NULL)
    {
      g_string_append (out, "  ");
      g_string_append (out, from);
    }
  if (msgtrk_json_get_int (hop, "delay_seconds", &delay))
    {
      /* TRANSLATORS: the time a hop took since the hop before it, in seconds with its sign
       * ("+2 s"; negative when the servers' clocks disagree), "s" being the unit symbol. */
      g_autofree char *text = g_strdup_printf (_("(%+lld s)"), (long long) delay);

      g_string_append (out, "  ");
      g_string_append (out, color (ANSI_DIM));
      g_string_append (out, text);
      g_string_append (out, color (ANSI_RESET));
    }
  append_source (out, hop);
  g_string_append_c (out, '\n');
}

/* A status code with its class and meaning in words (lib/msgtrk-status-code.c):
 * "5.1.1 (permanent failure): The recipient’s mailbox does not exist"; a value that is not
 * a code is shown as is (cleaned). */
static char *
status_in_words (const char *status)
{
  g_autofree char *code = clean (status);
  const char *meaning = msgtrk_status_code_describe (status);
  const char *code_class = msgtrk_status_code_describe_class (status);
  guint c, subject, detail;

  if (meaning == NULL || !msgtrk_status_code_parse (status, &c, &subject, &detail))
    return g_steal_pointer (&code);
  if (subject == 0)
    /* TRANSLATORS: a status code and its class: "2.0.0 (success)". */
    return g_strdup_printf (_("%u.%u.%u (%s)"), c, subject, detail, code_class);
  /* TRANSLATORS: a status code, its class and its meaning: "5.1.1 (permanent failure): The
   * recipient’s mailbox does not exist". */
  return g_strdup_printf (_("%u.%u.%u (%s): %s"), c, subject, detail, code_class, meaning);
}

/* Whether @status is 2.0.0 ("success", nothing more): the hop's words say it already. */
static gboolean
status_is_plain_success (const char *status)
{
  guint c, subject, detail;

  return msgtrk_status_code_parse (status, &c, &subject, &detail) && c == 2 && subject == 0 &&
         detail == 0;
}

/* Whether the words for @action already name the hop's Remote-MTA ("Handed to …"). */
static gboolean
action_names_remote (const char *action)
{
  return action != NULL &&
         (g_ascii_strcasecmp (action, "transferred") == 0 || g_ascii_strcasecmp (action, "relayed") == 0);
}

/* Appends one hop ("  N. SERVER  time  what it did, in words  [source]" and details: the
 * status code in words, the server's text, retry-until; trace hops as "  N. received by
 * HOST …", broken links as "  N. ✗ broken: …"). */
static void
append_hop (GString    *out,
            guint       index,
            JsonObject *hop)
{
  const char *mta = msgtrk_json_get_string (hop, "reporting_mta");
  const char *action = msgtrk_json_get_string (hop, "action");
  const char *status = msgtrk_json_get_string (hop, "status");
  const char *err = msgtrk_json_get_string (hop, "error");
  const char *arrival = msgtrk_json_get_string (hop, "arrival");
  const char *last = msgtrk_json_get_string (hop, "last_attempt");
  g_autofree char *when = format_time (arrival ? arrival : last);
  g_autofree char *remote = clean (msgtrk_json_get_string (hop, "remote_mta"));
  g_autofree char *words = NULL;
  gint64 delay;

  if (mta == NULL)
    mta = msgtrk_json_get_string (hop, "server");
  g_string_append_printf (out, "  %2u. ", index);
  if (hop_is_broken (hop))
    {
      g_string_append (out, color (ANSI_RED));
      g_string_append (out, _("✗ broken: "));
      if (mta != NULL)
        {
          append_clean (out, mta);
          g_string_append (out, ": ");
        }
      append_clean (out, err ? err : _("no report from this hop"));
      g_string_append (out, color (ANSI_RESET));
      g_string_append_c (out, '\n');
      return;
    }
  if (msgtrk_states_source_is_trace (msgtrk_json_get_string (hop, "source")))
    {
      append_trace_hop (out, hop);
      return;
    }
  append_clean (out, mta ? mta : _("(unknown server)"));
  if (when != NULL)
    {
      g_string_append (out, "  ");
      g_string_append (out, when);
    }
  g_string_append (out, "  ");
  g_string_append (out, color (msgtrk_states_info (msgtrk_message_state_from_action (action))->ansi));
  words = msgtrk_states_describe_action (action, remote);
  append_clean (out, words);
  g_string_append (out, color (ANSI_RESET));
  append_source (out, hop);
  g_string_append_c (out, '\n');

  if (arrival != NULL && last != NULL && g_strcmp0 (arrival, last) != 0)
    {
      g_autofree char *t = format_time (last);
      append_detail (out, _("last attempt:"), t);
    }
  if (status != NULL && !status_is_plain_success (status))
    {
      g_autofree char *text = status_in_words (status);
      append_detail (out, _("status:"), text);
    }
  append_detail (out, _("server said:"), msgtrk_json_get_string (hop, "diagnostic"));
  append_detail (out, _("comment:"), msgtrk_json_get_string (hop, "comment"));
  if (*remote != '\0' && !action_names_remote (action))
    append_detail (out, _("next server:"), remote);
  if (msgtrk_json_get_string (hop, "will_retry_until") != NULL)
    {
      g_autofree char *t = format_time (msgtrk_json_get_string (hop, "will_retry_until"));
      append_detail (out, _("retrying until:"), t);
    }
  append_detail (out, _("from:"), msgtrk_json_get_string (hop, "from_address"));
  if (msgtrk_json_get_int (hop, "delay_seconds", &delay))
    {
      /* TRANSLATORS: a delay in seconds, "s" being the unit symbol. */
      g_autofree char *text = g_strdup_printf (_("%lld s"), (long long) delay);
      append_detail (out, _("delay:"), text);
    }
  append_conflict (out, hop);
}

/* Whether an event says something went wrong while tracking (msgtrkd records those with
 * source "error" or "warning", docs/dbus-api.md). */
static gboolean
event_is_problem (JsonObject *event)
{
  const char *source = msgtrk_json_get_string (event, "source");

  return g_strcmp0 (source, "error") == 0 || g_strcmp0 (source, "warning") == 0;
}

/* Appends the "Problems while tracking" section: the route's warnings (a STARTTLS
 * downgrade), then the newest CLI_MAX_PROBLEMS problem events with their times, oldest
 * first. Nothing when there is none. */
static void
append_problems (GString    *out,
                 JsonObject *route)
{
  JsonArray *warnings = msgtrk_json_get_array (route, "warnings");
  JsonArray *events = msgtrk_json_get_array (route, "events");
  guint n_warnings = warnings != NULL ? json_array_get_length (warnings) : 0;
  guint n_events = events != NULL ? json_array_get_length (events) : 0;
  g_autoptr (GPtrArray) problems = g_ptr_array_new (); /* JsonObject*, oldest first */
  guint first = 0;

  for (guint i = 0; i < n_events; i++)
    {
      JsonObject *ev = msgtrk_json_array_get_object (events, i);

      if (ev != NULL && event_is_problem (ev))
        g_ptr_array_add (problems, ev);
    }
  if (n_warnings == 0 && problems->len == 0)
    return;
  g_string_append_c (out, '\n');
  g_string_append (out, color (ANSI_BOLD));
  g_string_append (out, _("Problems while tracking:"));
  g_string_append (out, color (ANSI_RESET));
  g_string_append_c (out, '\n');
  for (guint i = 0; i < n_warnings; i++)
    {
      JsonNode *node = json_array_get_element (warnings, i);

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        continue;
      g_string_append (out, "  ");
      g_string_append (out, color (ANSI_YELLOW));
      g_string_append (out, "⚠ ");
      append_clean (out, json_node_get_string (node));
      g_string_append (out, color (ANSI_RESET));
      g_string_append_c (out, '\n');
    }
  if (problems->len > CLI_MAX_PROBLEMS)
    {
      first = problems->len - CLI_MAX_PROBLEMS;
      g_string_append (out, "  ");
      g_string_append_printf (out,
                              g_dngettext (GETTEXT_PACKAGE, "(%u earlier problem not shown)",
                                           "(%u earlier problems not shown)", first),
                              first);
      g_string_append_c (out, '\n');
    }
  for (guint i = first; i < problems->len; i++)
    {
      JsonObject *ev = g_ptr_array_index (problems, i);
      g_autofree char *when = format_time (msgtrk_json_get_string (ev, "at"));
      gboolean is_error = g_strcmp0 (msgtrk_json_get_string (ev, "source"), "error") == 0;

      g_string_append (out, "  ");
      g_string_append (out, color (is_error ? ANSI_RED : ANSI_YELLOW));
      g_string_append (out, is_error ? "✗ " : "⚠ ");
      if (when != NULL)
        {
          g_string_append (out, when);
          g_string_append (out, "  ");
        }
      append_clean (out, msgtrk_json_get_string (ev, "text"));
      g_string_append (out, color (ANSI_RESET));
      g_string_append_c (out, '\n');
    }
}

/* The text delivery map of a route (docs/dbus-api.md, GetRoute). */
static void
append_route (GString    *out,
              JsonObject *route)
{
  const char *labels[] = { _("Subject:"), _("Sent:"), _("Status:"), _("From:"), _("Message-ID:"),
                           _("Envelope ID:"), _("Tracking:"), _("Last poll:"), _("Next poll:") };
  const char *tracking_id = msgtrk_json_get_string (route, "tracking");
  const char *subject = msgtrk_json_get_string (route, "subject");
  MsgtrkTrackingMode mode;
  gboolean delegated = msgtrk_tracking_mode_from_string (tracking_id, &mode)
                       && mode == MSGTRK_TRACKING_MODE_DELEGATED;
  glong width = 0;
  gsize i;
  g_autofree char *sent = format_time (msgtrk_json_get_string (route, "sent"));
  g_autofree char *last_poll = format_time (msgtrk_json_get_string (route, "last_poll"));
  g_autofree char *next_poll = format_time (msgtrk_json_get_string (route, "next_poll"));
  g_autofree char *host = clean (msgtrk_json_get_string (route, "submission_host"));
  g_autofree char *tracking = msgtrk_states_describe_tracking (tracking_id, host);
  JsonArray *recipients = msgtrk_json_get_array (route, "recipients");

  for (i = 0; i < G_N_ELEMENTS (labels); i++)
    width = MAX (width, g_utf8_strlen (labels[i], -1));

  if (subject == NULL || *subject == '\0')
    /* A link shared by the sender carries no subject: say where the message came from. */
    append_field (out, labels[0], width,
                  delegated ? _("(unknown: tracked from a link)") : _("(no subject)"));
  else
    append_field (out, labels[0], width, subject);
  append_field (out, labels[1], width, sent ? sent : msgtrk_states_describe_sent_unknown (tracking_id));
  {
    /* The summary in the state's colour; the state is not repeated ("Delivered 1/1"). */
    const char *summary = msgtrk_json_get_string (route, "summary");

    g_string_append (out, color (ANSI_BOLD));
    g_string_append (out, labels[2]);
    g_string_append (out, color (ANSI_RESET));
    for (glong len = g_utf8_strlen (labels[2], -1); len < width + 1; len++)
      g_string_append_c (out, ' ');
    if (summary != NULL)
      {
        g_string_append (out, color (msgtrk_states_lookup (msgtrk_json_get_string (route, "state"))->ansi));
        append_clean (out, summary);
        g_string_append (out, color (ANSI_RESET));
      }
    else
      append_state (out, msgtrk_json_get_string (route, "state"), FALSE);
    g_string_append_c (out, '\n');
  }
  append_field (out, labels[3], width, msgtrk_json_get_string (route, "sender"));
  append_field (out, labels[4], width, msgtrk_json_get_string (route, "message_id"));
  append_field (out, labels[5], width, msgtrk_json_get_string (route, "envid"));
  append_field (out, labels[6], width, tracking);
  if (last_poll != NULL)
    append_field (out, labels[7], width, last_poll);
  if (next_poll != NULL)
    append_field (out, labels[8], width, next_poll);
  append_problems (out, route);

  for (i = 0; recipients != NULL && i < json_array_get_length (recipients); i++)
    {
      JsonObject *rcpt = msgtrk_json_array_get_object (recipients, i);
      JsonArray *hops = msgtrk_json_get_array (rcpt, "hops");
      guint h, n_hops = hops ? json_array_get_length (hops) : 0;

      if (rcpt == NULL)
        continue;
      g_string_append_c (out, '\n');
      g_string_append (out, color (ANSI_BOLD));
      append_clean (out, msgtrk_json_get_string (rcpt, "address"));
      g_string_append (out, color (ANSI_RESET));
      g_string_append (out, " — ");
      append_state (out, msgtrk_json_get_string (rcpt, "state"), TRUE);
      g_string_append_c (out, '\n');
      if (n_hops == 0)
        g_string_append_printf (out, "      %s\n", _("(no hop reported yet)"));
      for (h = 0; h < n_hops; h++)
        {
          JsonObject *hop = msgtrk_json_array_get_object (hops, h);

          if (hop != NULL)
            append_hop (out, h + 1, hop);
        }
    }
}

static int
cmd_show (Cli *cli)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GString) out = NULL;
  const char *id = cli->args[0];

  if (opt_gui)
    {
      if (!msgtrk_dbus_tracker1_call_show_message_sync (cli->proxy, id, NULL, &error))
        return report_error (error, id);
      return CLI_EXIT_OK;
    }
  if (!msgtrk_dbus_tracker1_call_get_route_sync (cli->proxy, id, &json, NULL, &error))
    return report_error (error, id);
  root = parse_json (json, JSON_NODE_OBJECT, _("a route"), &error);
  if (root == NULL)
    return report_error (error, NULL);
  if (opt_json)
    {
      print_json (root, TRUE);
      return CLI_EXIT_OK;
    }
  out = g_string_new (NULL);
  append_route (out, json_node_get_object (root));
  fputs (out->str, stdout);
  return CLI_EXIT_OK;
}

/* Waiting for one StatusChanged in track. */
typedef struct
{
  GMainLoop *loop;
  const char *envid;
  char *state;
  char *summary;
  gboolean changed;
  gboolean interrupted;
  gboolean timed_out;
} TrackWait;

static void
on_track_status_changed (MsgtrkDBusTracker1 *proxy,
                         const char         *envid,
                         const char         *state,
                         const char         *summary,
                         const char         *message_id,
                         gpointer            user_data)
{
  TrackWait *wait = user_data;

  if (wait->changed || g_strcmp0 (envid, wait->envid) != 0)
    return;
  wait->changed = TRUE;
  wait->state = g_strdup (state);
  wait->summary = g_strdup (summary);
  g_main_loop_quit (wait->loop);
}

static gboolean
on_track_timeout (gpointer user_data)
{
  TrackWait *wait = user_data;

  wait->timed_out = TRUE;
  g_main_loop_quit (wait->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_interrupt (gpointer user_data)
{
  TrackWait *wait = user_data;

  wait->interrupted = TRUE;
  g_main_loop_quit (wait->loop);
  return G_SOURCE_CONTINUE;
}

/* Prints one status as a JSON object on one line: "at" (unless NULL), "envid", "state",
 * "summary", then "changed" (unless NULL). */
static void
print_status_json (const char     *at,
                   const char     *envid,
                   const char     *state,
                   const char     *summary,
                   const gboolean *changed)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) node = NULL;

  json_builder_begin_object (b);
  if (at != NULL)
    {
      json_builder_set_member_name (b, "at");
      json_builder_add_string_value (b, at);
    }
  json_builder_set_member_name (b, "envid");
  json_builder_add_string_value (b, envid);
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, state);
  json_builder_set_member_name (b, "summary");
  json_builder_add_string_value (b, summary);
  if (changed != NULL)
    {
      json_builder_set_member_name (b, "changed");
      json_builder_add_boolean_value (b, *changed);
    }
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  print_json (node, FALSE);
}

/* Prints one status (track's result) as text or JSON. */
static void
print_status (const char *envid,
              const char *state,
              const char *summary,
              gboolean    changed)
{
  if (opt_json)
    print_status_json (NULL, envid, state, summary, &changed);
  else
    {
      g_autoptr(GString) out = g_string_new (NULL);

      /* The summary says the state already ("Delivered 3/3"): it is not repeated. */
      if (summary != NULL && *summary != '\0')
        {
          g_string_append (out, color (msgtrk_states_lookup (state)->ansi));
          append_clean (out, summary);
          g_string_append (out, color (ANSI_RESET));
        }
      else
        append_state (out, state, FALSE);
      g_string_append_c (out, '\n');
      fputs (out->str, stdout);
    }
}

/* Looks up the envid, state and summary of @id; returns the exit status on failure. */
static int
get_status (Cli         *cli,
            const char  *id,
            char       **envid,
            char       **state,
            char       **summary)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) statuses = NULL;
  const char *ids[] = { id, NULL };

  if (!msgtrk_dbus_tracker1_call_get_status_sync (cli->proxy, ids, &statuses, NULL, &error))
    return report_error (error, id);
  if (g_variant_n_children (statuses) != 1)
    {
      g_printerr ("%s\n", _("msgtrk: msgtrkd answered GetStatus with the wrong number of entries"));
      return CLI_EXIT_FAILURE;
    }
  g_variant_get_child (statuses, 0, "(ssss)", NULL, envid, state, summary);
  if (**envid == '\0')
    {
      g_autoptr(GError) nf = g_error_new_literal (MSGTRKD_ERROR, MSGTRKD_ERROR_NOT_FOUND, "");

      g_clear_pointer (envid, g_free);
      g_clear_pointer (state, g_free);
      g_clear_pointer (summary, g_free);
      return report_error (nf, id);
    }
  return CLI_EXIT_OK;
}

static int
cmd_track (Cli *cli)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *envid = NULL;
  g_autofree char *state = NULL;
  g_autofree char *summary = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  TrackWait wait = { 0 };
  const char *id = cli->args[0];
  gulong handler;
  guint timeout_id, int_id, term_id;
  int status;

  status = get_status (cli, id, &envid, &state, &summary);
  if (status != CLI_EXIT_OK)
    return status;

  loop = g_main_loop_new (NULL, FALSE);
  wait.loop = loop;
  wait.envid = envid;
  /* Subscribed before Track is sent: the change cannot slip past. */
  handler = g_signal_connect (cli->proxy, "status-changed", G_CALLBACK (on_track_status_changed), &wait);
  tracker_has_owner (cli->proxy);
  if (!msgtrk_dbus_tracker1_call_track_sync (cli->proxy, envid, NULL, &error))
    {
      g_signal_handler_disconnect (cli->proxy, handler);
      return report_error (error, id);
    }
  timeout_id = g_timeout_add_seconds ((guint) opt_timeout, on_track_timeout, &wait);
  int_id = g_unix_signal_add (SIGINT, on_interrupt, &wait);
  term_id = g_unix_signal_add (SIGTERM, on_interrupt, &wait);
  g_main_loop_run (loop);
  g_signal_handler_disconnect (cli->proxy, handler);
  g_source_remove (int_id);
  g_source_remove (term_id);
  if (!wait.timed_out)
    g_source_remove (timeout_id);

  if (wait.changed)
    {
      print_status (envid, wait.state, wait.summary, TRUE);
      g_free (wait.state);
      g_free (wait.summary);
      return CLI_EXIT_OK;
    }
  if (wait.interrupted)
    return CLI_EXIT_FAILURE;
  g_printerr (_("msgtrk: no status change within %d seconds; the status is still:\n"), opt_timeout);
  g_clear_pointer (&envid, g_free);
  g_clear_pointer (&state, g_free);
  g_clear_pointer (&summary, g_free);
  status = get_status (cli, id, &envid, &state, &summary);
  if (status != CLI_EXIT_OK)
    return status;
  print_status (envid, state, summary, FALSE);
  return CLI_EXIT_OK;
}

static int
cmd_export_url (Cli *cli)
{
  g_autoptr(GError) error = NULL;
  char *url = NULL;

  if (!msgtrk_dbus_tracker1_call_export_url_sync (cli->proxy, cli->args[0], &url, NULL, &error))
    return report_error (error, cli->args[0]);
  g_printerr ("%s\n", _("msgtrk: warning: this link lets whoever has it track this message "
                        "(see where it went and when). Share it only with people you trust."));
  g_print ("%s\n", url);
  fflush (stdout);
  msgtrk_secure_free_string (url);
  return CLI_EXIT_OK;
}

/* Prints the envid a command returned, as text or JSON ({"envid": …}, null for ""). */
static void
print_envid (const char *envid,
             const char *none_text)
{
  if (opt_json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonNode) node = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "envid");
      if (*envid != '\0')
        json_builder_add_string_value (b, envid);
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
      node = json_builder_get_root (b);
      print_json (node, FALSE);
    }
  else if (*envid != '\0')
    {
      g_autofree char *text = clean (envid);
      g_print ("%s\n", text);
    }
  else
    g_print ("%s\n", none_text);
}

static int
cmd_import_url (Cli *cli)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *envid = NULL;
  char *url;
  gsize len;
  gboolean ok;

  if (strcmp (cli->args[0], "-") == 0)
    {
      GBytes *bytes = read_fd_limited (STDIN_FILENO, MSGTRK_CLI_MAX_URL_LEN + 2, _("standard input"), &error);
      gsize size;
      const char *data;

      if (bytes == NULL)
        return report_error (error, NULL);
      data = g_bytes_get_data (bytes, &size);
      url = g_malloc (size + 1);
      memcpy (url, data, size);
      url[size] = '\0';
      msgtrk_secure_wipe ((gpointer) data, size);
      g_bytes_unref (bytes);
      if (strlen (url) != size)
        {
          msgtrk_secure_free_string (url);
          g_printerr ("%s\n", _("msgtrk: the tracking link on standard input contains a NUL byte"));
          return CLI_EXIT_FAILURE;
        }
      /* One line; the trailing newline (CRLF or LF) and blanks are not part of it. */
      len = size;
      while (len > 0 && g_ascii_isspace (url[len - 1]))
        url[--len] = '\0';
    }
  else
    {
      url = g_strdup (cli->args[0]);
      len = strlen (url);
    }
  if (len == 0)
    {
      msgtrk_secure_free_string (url);
      g_printerr ("%s\n", _("msgtrk: no tracking link given (expected an mtqp:// URL)"));
      return CLI_EXIT_FAILURE;
    }
  if (len > MSGTRK_CLI_MAX_URL_LEN)
    {
      msgtrk_secure_free_string (url);
      g_printerr (_("msgtrk: the tracking link is longer than %d bytes; it is not an mtqp:// URL made by msgtrk\n"),
                  MSGTRK_CLI_MAX_URL_LEN);
      return CLI_EXIT_FAILURE;
    }
  ok = msgtrk_dbus_tracker1_call_import_url_sync (cli->proxy, url, &envid, NULL, &error);
  msgtrk_secure_free_string (url);
  if (!ok)
    return report_error (error, NULL);
  print_envid (envid, "");
  return CLI_EXIT_OK;
}

static int
cmd_ingest (Cli *cli)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *envid = NULL;
  const char *path = cli->args[0];

  if (strcmp (path, "-") == 0)
    bytes = read_fd_limited (STDIN_FILENO, MSGTRK_REPORT_MAX_MESSAGE_SIZE, _("standard input"), &error);
  else
    {
      int fd = open (path, O_RDONLY | O_CLOEXEC);

      if (fd < 0)
        {
          int saved = errno;
          g_autofree char *name = g_filename_display_name (path);

          g_printerr (_("msgtrk: cannot open %s: %s\n"), name, g_strerror (saved));
          return CLI_EXIT_FAILURE;
        }
      {
        g_autofree char *name = g_filename_display_name (path);
        bytes = read_fd_limited (fd, MSGTRK_REPORT_MAX_MESSAGE_SIZE, name, &error);
      }
      close (fd);
    }
  if (bytes == NULL)
    return report_error (error, NULL);
  /* A bounce may return a whole big message: only its report parts go over the bus
   * (docs/dsn-ingestion.md); a message within the report limit goes as it is. */
  if (g_bytes_get_size (bytes) > MSGTRK_REPORT_MAX_SIZE)
    {
      GBytes *entity = msgtrk_report_extract_bytes (bytes, NULL, &error);

      if (entity == NULL)
        return report_error (error, NULL);
      g_bytes_unref (bytes);
      bytes = entity;
    }

  /* Called by hand: the generated wrapper takes "ay" as a NUL-terminated string, which
   * would cut a report at its first NUL byte. */
  reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (cli->proxy), "IngestReport",
                                  g_variant_new ("(@ay)",
                                                 g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, bytes, TRUE)),
                                  G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (reply == NULL)
    return report_error (error, NULL);
  if (!g_variant_is_of_type (reply, G_VARIANT_TYPE ("(s)")))
    {
      g_printerr ("%s\n", _("msgtrk: msgtrkd answered IngestReport with an unexpected type"));
      return CLI_EXIT_FAILURE;
    }
  g_variant_get (reply, "(s)", &envid);
  print_envid (envid, _("not a report for a tracked message"));
  return CLI_EXIT_OK;
}

static int
cmd_forget (Cli *cli)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *quoted = NULL;

  if (!msgtrk_dbus_tracker1_call_forget_sync (cli->proxy, cli->args[0], NULL, &error))
    return report_error (error, cli->args[0]);
  quoted = clean (cli->args[0]);
  g_print (_("Stopped tracking %s\n"), quoted);
  return CLI_EXIT_OK;
}

static void
on_watch_status_changed (MsgtrkDBusTracker1 *proxy,
                         const char         *envid,
                         const char         *state,
                         const char         *summary,
                         const char         *message_id,
                         gpointer            user_data)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

  if (opt_json)
    {
      g_autofree char *at = g_date_time_format_iso8601 (now);

      print_status_json (at, envid, state, summary, NULL);
    }
  else
    {
      g_autoptr(GDateTime) local = g_date_time_to_local (now);
      g_autofree char *when = g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
      g_autoptr(GString) out = g_string_new (when);

      g_string_append (out, "  ");
      append_clean (out, envid);
      g_string_append (out, "  ");
      append_state (out, state, FALSE);
      g_string_append (out, "  ");
      append_clean (out, summary);
      g_string_append_c (out, '\n');
      fputs (out->str, stdout);
    }
  fflush (stdout);
}

static int
cmd_watch (Cli *cli)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  TrackWait wait = { 0 };
  gulong handler;
  guint int_id, term_id;

  wait.loop = loop;
  handler = g_signal_connect (cli->proxy, "status-changed", G_CALLBACK (on_watch_status_changed), NULL);
  if (!tracker_has_owner (cli->proxy))
    g_printerr ("%s\n", _("msgtrk: msgtrkd is not running now; waiting for it to start."));
  g_printerr ("%s\n", _("msgtrk: watching for status changes; press Ctrl+C to stop."));
  int_id = g_unix_signal_add (SIGINT, on_interrupt, &wait);
  term_id = g_unix_signal_add (SIGTERM, on_interrupt, &wait);
  g_main_loop_run (loop);
  g_source_remove (int_id);
  g_source_remove (term_id);
  g_signal_handler_disconnect (cli->proxy, handler);
  return CLI_EXIT_OK;
}

/* --- dispatch -------------------------------------------------------------------------- */

static const GOptionEntry json_entries[] = {
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, N_("Print JSON for scripts"), NULL },
  { NULL }
};

static const GOptionEntry show_entries[] = {
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, N_("Print the route as JSON (as GetRoute returns it)"), NULL },
  { "gui", 0, 0, G_OPTION_ARG_NONE, &opt_gui, N_("Open the delivery map in the viewer"), NULL },
  { NULL }
};

static const GOptionEntry track_entries[] = {
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, N_("Print JSON for scripts"), NULL },
  { "timeout", 't', 0, G_OPTION_ARG_INT, &opt_timeout,
    N_("Wait at most SECONDS for a status change (default 60)"), N_("SECONDS") },
  { NULL }
};

static const GOptionEntry no_entries[] = {
  { NULL }
};

typedef struct
{
  const char *name;
  const char *args;    /* parameter string after the name, N_() */
  guint n_args;        /* exact number of positional arguments */
  const char *summary; /* N_() */
  const GOptionEntry *entries;
  int (*run) (Cli *cli);
} Command;

static const Command commands[] = {
  { "list", "", 0, N_("List tracked messages, newest first."), json_entries, cmd_list },
  { "show", N_("ENVID|MESSAGE-ID"), 1, N_("Show the delivery map of a message: each recipient's hops."),
    show_entries, cmd_show },
  { "track", N_("ENVID|MESSAGE-ID"), 1,
    N_("Ask msgtrkd to poll now and wait for the next status change of the message."), track_entries,
    cmd_track },
  { "export-url", N_("ENVID|MESSAGE-ID"), 1,
    N_("Print the mtqp:// link that lets someone else track this message."), no_entries, cmd_export_url },
  { "import-url", N_("URL|-"), 1,
    N_("Track a message someone shared with you. \"-\" reads the link from standard input, which "
       "keeps it out of the process list."),
    json_entries, cmd_import_url },
  { "ingest", N_("FILE|-"), 1,
    N_("Hand a received delivery report (DSN) or read receipt (MDN) to msgtrkd; \"-\" reads standard input."),
    json_entries, cmd_ingest },
  { "forget", N_("ENVID|MESSAGE-ID"), 1, N_("Stop tracking a message and delete its secret."), no_entries,
    cmd_forget },
  { "watch", "", 0, N_("Print status changes as they happen, until interrupted."), json_entries, cmd_watch },
};

static void
print_usage (FILE *to)
{
  gsize i;

  fprintf (to, "%s\n\n%s\n", _("Usage: msgtrk COMMAND [OPTION…] [ARGUMENT]"), _("Commands:"));
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *head = g_strdup_printf ("%s %s", commands[i].name,
                                               *commands[i].args ? _(commands[i].args) : "");
      fprintf (to, "  %-30s %s\n", head, _(commands[i].summary));
    }
  fprintf (to, "\n%s\n  %-30s %s\n  %-30s %s\n", _("Options:"), "-h, --help", _("Show this help"),
           "--version", _("Print the version and exit"));
  fprintf (to, "\n%s\n", _("Run “msgtrk COMMAND --help” for the options of a command."));
}

/* Overwrites the characters of each string of @strv (they may hold a tracking URL). */
static void
wipe_strv (char **strv)
{
  for (; strv != NULL && *strv != NULL; strv++)
    msgtrk_secure_wipe (*strv, strlen (*strv));
}

int
main (int   argc,
      char *argv[])
{
  const Command *cmd = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MsgtrkDBusTracker1) proxy = NULL;
  g_autofree char *param = NULL;
  char **args;
  Cli cli = { 0 };
  const char *no_color;
  const char *localedir;
  gsize i;
  int status;

  setlocale (LC_ALL, "");
  /* MSGTRK_LOCALEDIR: the build tree's translations, for the tests (not a user setting). */
  localedir = g_getenv ("MSGTRK_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL && *localedir != '\0' ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("msgtrk");

  if (argc < 2)
    {
      print_usage (stderr);
      return CLI_EXIT_FAILURE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)
    {
      print_usage (stdout);
      return CLI_EXIT_OK;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      g_print ("msgtrk %s\n", PACKAGE_VERSION);
      return CLI_EXIT_OK;
    }
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      cmd = &commands[i];
  if (cmd == NULL)
    {
      g_autofree char *quoted = msgtrk_str_escape_for_error (argv[1], CLI_MAX_QUOTED_ID);

      g_printerr (_("msgtrk: unknown command “%s”\n"), quoted);
      print_usage (stderr);
      return CLI_EXIT_FAILURE;
    }

  /* argv for the command: "msgtrk COMMAND" then the rest. */
  args = g_new0 (char *, argc);
  args[0] = g_strdup_printf ("msgtrk %s", cmd->name);
  for (i = 2; i < (gsize) argc; i++)
    args[i - 1] = g_strdup (argv[i]);
  if (strcmp (cmd->name, "import-url") == 0)
    {
      /* The link holds the secret: keep only our copy (which is wiped after use). */
      for (i = 2; i < (gsize) argc; i++)
        if (strcmp (argv[i], "-") != 0)
          msgtrk_secure_wipe (argv[i], strlen (argv[i]));
    }

  param = g_strdup_printf ("%s", *cmd->args ? _(cmd->args) : "");
  context = g_option_context_new (param);
  g_option_context_set_summary (context, _(cmd->summary));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, cmd->entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse_strv (context, &args, &error))
    {
      wipe_strv (args);
      g_strfreev (args);
      g_printerr ("msgtrk %s: %s\n", cmd->name, error->message);
      return CLI_EXIT_FAILURE;
    }
  if (g_strv_length (args) != cmd->n_args + 1)
    {
      wipe_strv (args);
      g_strfreev (args);
      g_printerr (_("msgtrk %s: expected %s\n"), cmd->name,
                  cmd->n_args > 0 ? _(cmd->args) : _("no argument"));
      return CLI_EXIT_FAILURE;
    }
  if (opt_timeout < 1 || opt_timeout > MSGTRK_CLI_MAX_TRACK_TIMEOUT)
    {
      g_strfreev (args);
      g_printerr (_("msgtrk %s: --timeout must be between 1 and %d seconds\n"), cmd->name,
                  MSGTRK_CLI_MAX_TRACK_TIMEOUT);
      return CLI_EXIT_FAILURE;
    }

  no_color = g_getenv ("NO_COLOR");
  use_color = isatty (STDOUT_FILENO) && (no_color == NULL || *no_color == '\0') &&
              g_strcmp0 (g_getenv ("TERM"), "dumb") != 0;

  /* Remote errors come back as MSGTRKD_ERROR codes once the domain is registered. */
  (void) msgtrkd_error_quark ();
  proxy = connect_tracker (&error);
  if (proxy == NULL)
    {
      wipe_strv (args);
      g_strfreev (args);
      return report_error (error, NULL);
    }
  cli.proxy = proxy;
  cli.args = args + 1;
  status = cmd->run (&cli);
  wipe_strv (args);
  g_strfreev (args);
  return status;
}
