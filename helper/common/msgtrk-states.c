/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-states.c: states, actions and sources in words (see msgtrk-states.h).
 *
 * The state table is the one copy the CLI and the viewer share (the Claws plugin keeps
 * its own for now). The action → state map follows lib/msgtrk-status.c's rules for one
 * hop: "expanded" is final for that address (RFC 3464: delivered to a list or alias).
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "msgtrk-states.h"

#define ANSI_DIM "\033[2m"

/* THE message/recipient state table; the first entry is what an unknown id shows. */
static const MsgtrkStateInfo states[] = {
  { "unknown", N_("Unknown"), "?", "#9a9996", ANSI_DIM },
  { "in-transit", N_("In transit"), "→", "#3584e4", "\033[34m" },
  { "delayed", N_("Delayed"), "…", "#e5a50a", "\033[33m" },
  { "relayed", N_("Relayed (no further tracking)"), "→", "#9a9996", ANSI_DIM },
  { "opaque", N_("Not disclosed"), "?", "#9a9996", ANSI_DIM },
  { "delivered", N_("Delivered"), "✓", "#2ec27e", "\033[32m" },
  { "failed", N_("Failed"), "✗", "#e01b24", "\033[31m" },
  { "read", N_("Read"), "✓", "#9141ac", "\033[35m" },
  { "sending", N_("Sending"), "→", "#3584e4", "\033[34m" },
  { "untracked", N_("Not tracked"), "", "#9a9996", ANSI_DIM },
  { "aborted", N_("Not sent"), "✗", "#e01b24", "\033[31m" },
};

/**
 * msgtrk_states_lookup:
 * @id: (nullable): a state identifier
 *
 * Returns: (transfer none): the entry of @id, or the "unknown" entry
 */
const MsgtrkStateInfo *
msgtrk_states_lookup (const char *id)
{
  for (gsize i = 0; id != NULL && i < G_N_ELEMENTS (states); i++)
    if (strcmp (states[i].id, id) == 0)
      return &states[i];
  return &states[0];
}

/**
 * msgtrk_states_is_known:
 * @id: (nullable): a state identifier
 *
 * Returns: whether @id is in the table (a newer daemon may send others)
 */
gboolean
msgtrk_states_is_known (const char *id)
{
  return id != NULL && strcmp (msgtrk_states_lookup (id)->id, id) == 0;
}

/**
 * msgtrk_states_label:
 * @id: (nullable): a state identifier
 *
 * Returns: (transfer none): the translated label of @id ("Unknown" for an unknown id)
 */
const char *
msgtrk_states_label (const char *id)
{
  return _(msgtrk_states_lookup (id)->label);
}

/**
 * msgtrk_states_from_action:
 * @action: (nullable): an Action as reported (RFC 3464/3886), or an MDN disposition
 *   ("displayed"), any case
 *
 * Returns: (transfer none): the state identifier @action stands for; "unknown" for
 *   anything else
 */
const char *
msgtrk_states_from_action (const char *action)
{
  static const struct
  {
    const char *action;
    const char *state;
  } map[] = {
    { "delivered", "delivered" }, { "expanded", "delivered" }, { "transferred", "in-transit" },
    { "relayed", "relayed" },     { "delayed", "delayed" },    { "failed", "failed" },
    { "displayed", "read" },      { "read", "read" },          { "opaque", "opaque" },
  };

  for (gsize i = 0; action != NULL && i < G_N_ELEMENTS (map); i++)
    if (g_ascii_strcasecmp (map[i].action, action) == 0)
      return map[i].state;
  return "unknown";
}

/**
 * msgtrk_states_describe_action:
 * @action: (nullable): an Action as reported, any case
 * @remote_mta: (nullable): the hop's Remote-MTA (where it passed the message), if known;
 *   the caller cleans it for its output first
 *
 * What a hop did, in a sentence for the sender: "Handed to relay.example.net",
 * "Delivered to the recipient’s mailbox", "Delayed: the server keeps trying". An action
 * this table does not know is quoted ("Reported “bounced”").
 *
 * Returns: (transfer full): the translated sentence
 */
char *
msgtrk_states_describe_action (const char *action,
                               const char *remote_mta)
{
  gboolean has_remote = remote_mta != NULL && *remote_mta != '\0';

  if (action == NULL || *action == '\0')
    return g_strdup (_("No action reported"));
  if (g_ascii_strcasecmp (action, "transferred") == 0)
    /* TRANSLATORS: a hop of the route: the server passed the message to the next server,
     * which can be asked further; %s is that server's name. */
    return has_remote ? g_strdup_printf (_("Handed to %s"), remote_mta)
                      : g_strdup (_("Passed on to the next server"));
  if (g_ascii_strcasecmp (action, "relayed") == 0)
    return has_remote
             /* TRANSLATORS: %s is the next server's name. */
             ? g_strdup_printf (_("Handed to %s, which gives no tracking information"), remote_mta)
             : g_strdup (_("Passed to a server that gives no tracking information"));
  if (g_ascii_strcasecmp (action, "delivered") == 0)
    return g_strdup (_("Delivered to the recipient’s mailbox"));
  if (g_ascii_strcasecmp (action, "expanded") == 0)
    return g_strdup (_("Delivered to a mailing list or alias"));
  if (g_ascii_strcasecmp (action, "delayed") == 0)
    return g_strdup (_("Delayed: the server keeps trying"));
  if (g_ascii_strcasecmp (action, "failed") == 0)
    return g_strdup (_("Could not be delivered"));
  if (g_ascii_strcasecmp (action, "opaque") == 0)
    return g_strdup (_("This server does not say more"));
  if (g_ascii_strcasecmp (action, "displayed") == 0 || g_ascii_strcasecmp (action, "read") == 0)
    return g_strdup (_("Read by the recipient"));
  /* TRANSLATORS: a hop reported an action msgtrk does not know; %s is that word. */
  return g_strdup_printf (_("Reported “%s”"), action);
}

/**
 * msgtrk_states_source_label:
 * @source: (nullable): where a hop or an event came from: "mtqp", "dsn", "trace", "mdn",
 *   "local", "error", "warning"
 *
 * Returns: (transfer none): the translated words for @source ("tracking server",
 *   "delivery report", …); "other" for an unknown source
 */
const char *
msgtrk_states_source_label (const char *source)
{
  static const struct
  {
    const char *source;
    const char *label;
  } labels[] = {
    /* TRANSLATORS: where a piece of tracking evidence came from (lower case, shown in
     * brackets after a hop or in the event list). */
    { "mtqp", N_("tracking server") },
    { "dsn", N_("delivery report") },
    { "trace", N_("mail headers") },
    { "mdn", N_("read receipt") },
    { "local", N_("this computer") },
    { "error", N_("problem") },
    { "warning", N_("warning") },
  };

  for (gsize i = 0; source != NULL && i < G_N_ELEMENTS (labels); i++)
    if (strcmp (labels[i].source, source) == 0)
      return _(labels[i].label);
  return _("other");
}

/**
 * msgtrk_states_describe_tracking:
 * @tracking: (nullable): the "tracking" of a route (docs/dbus-api.md): pending, mtqp, dsn,
 *   none, aborted, delegated
 * @host: (nullable): the submission server (where tracking starts); the caller cleans it
 *
 * How a message is tracked, in words ("Asking tracking servers, starting at
 * smtp.example.org"), without the protocol names.
 *
 * Returns: (transfer full): the translated sentence
 */
char *
msgtrk_states_describe_tracking (const char *tracking,
                                 const char *host)
{
  gboolean has_host = host != NULL && *host != '\0';

  if (g_strcmp0 (tracking, "pending") == 0)
    return g_strdup (_("Waiting for the mail program to finish sending"));
  if (g_strcmp0 (tracking, "mtqp") == 0)
    /* TRANSLATORS: %s is the mail server the message was submitted to. */
    return has_host ? g_strdup_printf (_("Asking tracking servers, starting at %s"), host)
                    : g_strdup (_("Asking tracking servers"));
  if (g_strcmp0 (tracking, "dsn") == 0)
    return has_host
             /* TRANSLATORS: %s is the mail server the message was submitted to. */
             ? g_strdup_printf (_("Delivery reports only (%s offers no tracking server)"), host)
             : g_strdup (_("Delivery reports only"));
  if (g_strcmp0 (tracking, "none") == 0)
    return has_host ? g_strdup_printf (_("None: %s offered no tracking"), host)
                    : g_strdup (_("None: the server offered no tracking"));
  if (g_strcmp0 (tracking, "aborted") == 0)
    return g_strdup (_("None: the message was not sent"));
  if (g_strcmp0 (tracking, "delegated") == 0)
    /* TRANSLATORS: the message was shared by its sender as a tracking link; %s is the
     * tracking server named in the link. */
    return has_host ? g_strdup_printf (_("Tracked from a link, asking %s"), host)
                    : g_strdup (_("Tracked from a link"));
  return g_strdup (tracking != NULL ? tracking : "—");
}

/**
 * msgtrk_states_describe_sent_unknown:
 * @tracking: (nullable): the "tracking" of a route whose "sent" is null
 *
 * What to say when a route has no sent time: "not sent yet" only while the mail program
 * is sending, "not sent" for an aborted send, "sent time unknown" otherwise (a message
 * tracked from a link was sent by someone else, at a time only its reports tell).
 *
 * Returns: (transfer none): the translated words
 */
const char *
msgtrk_states_describe_sent_unknown (const char *tracking)
{
  if (g_strcmp0 (tracking, "pending") == 0)
    return _("not sent yet");
  if (g_strcmp0 (tracking, "aborted") == 0)
    return _("not sent");
  return _("sent time unknown");
}
