/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-states.c: states, actions and sources in words (see msgtrk-states.h).
 *
 * The state table is the one copy msgtrkd, the CLI and the viewer share (the Claws plugin
 * keeps its own for now), indexed by MsgtrkMessageState; the tracking modes' ids are the
 * MSGTRK_TRACKING_ID_* literals, indexed by MsgtrkTrackingMode. The action → state map
 * follows lib/msgtrk-status.c's rules for one hop: "expanded" is final for that address
 * (RFC 3464: delivered to a list or alias).
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "msgtrk-states.h"

#define ANSI_DIM "\033[2m"

/* THE message/recipient state table, in MsgtrkMessageState order; its first entry is what
 * an unknown id shows. */
static const MsgtrkStateInfo states[] = {
  { MSGTRK_MESSAGE_STATE_UNKNOWN, "unknown", N_("Unknown"), "?", "#9a9996", ANSI_DIM },
  { MSGTRK_MESSAGE_STATE_IN_TRANSIT, "in-transit", N_("In transit"), "→", "#3584e4", "\033[34m" },
  { MSGTRK_MESSAGE_STATE_DELAYED, "delayed", N_("Delayed"), "…", "#e5a50a", "\033[33m" },
  { MSGTRK_MESSAGE_STATE_RELAYED, "relayed", N_("Relayed (no further tracking)"), "→", "#9a9996",
    ANSI_DIM },
  { MSGTRK_MESSAGE_STATE_OPAQUE, "opaque", N_("Not disclosed"), "?", "#9a9996", ANSI_DIM },
  { MSGTRK_MESSAGE_STATE_DELIVERED, "delivered", N_("Delivered"), "✓", "#2ec27e", "\033[32m" },
  { MSGTRK_MESSAGE_STATE_FAILED, "failed", N_("Failed"), "✗", "#e01b24", "\033[31m" },
  { MSGTRK_MESSAGE_STATE_READ, "read", N_("Read"), "✓", "#9141ac", "\033[35m" },
  { MSGTRK_MESSAGE_STATE_SENDING, "sending", N_("Sending"), "→", "#3584e4", "\033[34m" },
  { MSGTRK_MESSAGE_STATE_UNTRACKED, "untracked", N_("Not tracked"), "", "#9a9996", ANSI_DIM },
  { MSGTRK_MESSAGE_STATE_ABORTED, "aborted", N_("Not sent"), "✗", "#e01b24", "\033[31m" },
};
G_STATIC_ASSERT (G_N_ELEMENTS (states) == MSGTRK_MESSAGE_STATE_COUNT);
/* The recipient states are the first ones, in the same order (lib/msgtrk-status.h). */
G_STATIC_ASSERT ((int) MSGTRK_MESSAGE_STATE_READ == (int) MSGTRK_RECIPIENT_STATE_READ);

/* The tracking modes' ids, in MsgtrkTrackingMode order. */
static const char *const tracking_ids[] = {
  MSGTRK_TRACKING_ID_PENDING, MSGTRK_TRACKING_ID_MTQP,    MSGTRK_TRACKING_ID_DSN,
  MSGTRK_TRACKING_ID_NONE,    MSGTRK_TRACKING_ID_ABORTED, MSGTRK_TRACKING_ID_DELEGATED,
};
G_STATIC_ASSERT (G_N_ELEMENTS (tracking_ids) == MSGTRK_TRACKING_MODE_COUNT);

/**
 * msgtrk_message_state_to_string:
 * @state: a state
 *
 * Returns: (transfer none): the identifier of @state (docs/dbus-api.md); "unknown" for a
 *   value outside the enum
 */
const char *
msgtrk_message_state_to_string (MsgtrkMessageState state)
{
  if ((guint) state >= MSGTRK_MESSAGE_STATE_COUNT)
    return states[MSGTRK_MESSAGE_STATE_UNKNOWN].id;
  return states[state].id;
}

/**
 * msgtrk_message_state_from_string:
 * @id: (nullable): a state identifier, exactly as docs/dbus-api.md writes it
 * @out_state: (out) (optional): the state; %MSGTRK_MESSAGE_STATE_UNKNOWN if @id is not one
 *
 * Returns: whether @id is a known state identifier (a newer daemon may send others)
 */
gboolean
msgtrk_message_state_from_string (const char         *id,
                                  MsgtrkMessageState *out_state)
{
  for (gsize i = 0; id != NULL && i < G_N_ELEMENTS (states); i++)
    if (strcmp (states[i].id, id) == 0)
      {
        if (out_state != NULL)
          *out_state = states[i].state;
        return TRUE;
      }
  if (out_state != NULL)
    *out_state = MSGTRK_MESSAGE_STATE_UNKNOWN;
  return FALSE;
}

/**
 * msgtrk_message_state_from_recipient:
 * @state: a recipient state of libmsgtrk
 *
 * Returns: the message state of the same name
 */
MsgtrkMessageState
msgtrk_message_state_from_recipient (MsgtrkRecipientState state)
{
  if ((guint) state > (guint) MSGTRK_RECIPIENT_STATE_READ)
    return MSGTRK_MESSAGE_STATE_UNKNOWN;
  return (MsgtrkMessageState) state;
}

/**
 * msgtrk_tracking_mode_to_string:
 * @mode: a tracking mode
 *
 * Returns: (transfer none): the identifier of @mode ("mtqp", …); "pending" for a value
 *   outside the enum
 */
const char *
msgtrk_tracking_mode_to_string (MsgtrkTrackingMode mode)
{
  if ((guint) mode >= MSGTRK_TRACKING_MODE_COUNT)
    return tracking_ids[MSGTRK_TRACKING_MODE_PENDING];
  return tracking_ids[mode];
}

/**
 * msgtrk_tracking_mode_from_string:
 * @id: (nullable): a tracking identifier
 * @out_mode: (out) (optional): the mode; %MSGTRK_TRACKING_MODE_PENDING if @id is not one
 *
 * Returns: whether @id is a known tracking identifier
 */
gboolean
msgtrk_tracking_mode_from_string (const char         *id,
                                  MsgtrkTrackingMode *out_mode)
{
  for (gsize i = 0; id != NULL && i < G_N_ELEMENTS (tracking_ids); i++)
    if (strcmp (tracking_ids[i], id) == 0)
      {
        if (out_mode != NULL)
          *out_mode = (MsgtrkTrackingMode) i;
        return TRUE;
      }
  if (out_mode != NULL)
    *out_mode = MSGTRK_TRACKING_MODE_PENDING;
  return FALSE;
}

/**
 * msgtrk_tracking_mode_is_polled:
 * @mode: a tracking mode
 *
 * Returns: whether msgtrkd asks MTQP servers about a message tracked so (mtqp, delegated)
 */
gboolean
msgtrk_tracking_mode_is_polled (MsgtrkTrackingMode mode)
{
  return mode == MSGTRK_TRACKING_MODE_MTQP || mode == MSGTRK_TRACKING_MODE_DELEGATED;
}

/**
 * msgtrk_states_lookup:
 * @id: (nullable): a state identifier
 *
 * Returns: (transfer none): the entry of @id, or the "unknown" entry
 */
const MsgtrkStateInfo *
msgtrk_states_lookup (const char *id)
{
  MsgtrkMessageState state;

  msgtrk_message_state_from_string (id, &state);
  return &states[state];
}

/**
 * msgtrk_states_info:
 * @state: a state
 *
 * Returns: (transfer none): the entry of @state (the "unknown" one outside the enum)
 */
const MsgtrkStateInfo *
msgtrk_states_info (MsgtrkMessageState state)
{
  if ((guint) state >= MSGTRK_MESSAGE_STATE_COUNT)
    state = MSGTRK_MESSAGE_STATE_UNKNOWN;
  return &states[state];
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
  return msgtrk_message_state_from_string (id, NULL);
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
 * msgtrk_message_state_from_action:
 * @action: (nullable): an Action as reported (RFC 3464/3886), or an MDN disposition
 *   ("displayed"), any case
 *
 * Returns: the state @action stands for; %MSGTRK_MESSAGE_STATE_UNKNOWN for anything else
 */
MsgtrkMessageState
msgtrk_message_state_from_action (const char *action)
{
  static const struct
  {
    const char *action;
    MsgtrkMessageState state;
  } map[] = {
    { "delivered", MSGTRK_MESSAGE_STATE_DELIVERED },
    { "expanded", MSGTRK_MESSAGE_STATE_DELIVERED },
    { "transferred", MSGTRK_MESSAGE_STATE_IN_TRANSIT },
    { "relayed", MSGTRK_MESSAGE_STATE_RELAYED },
    { "delayed", MSGTRK_MESSAGE_STATE_DELAYED },
    { "failed", MSGTRK_MESSAGE_STATE_FAILED },
    { "displayed", MSGTRK_MESSAGE_STATE_READ },
    { "read", MSGTRK_MESSAGE_STATE_READ },
    { "opaque", MSGTRK_MESSAGE_STATE_OPAQUE },
  };

  for (gsize i = 0; action != NULL && i < G_N_ELEMENTS (map); i++)
    if (g_ascii_strcasecmp (map[i].action, action) == 0)
      return map[i].state;
  return MSGTRK_MESSAGE_STATE_UNKNOWN;
}

/**
 * msgtrk_states_from_action:
 * @action: (nullable): an Action as reported, or an MDN disposition, any case
 *
 * Returns: (transfer none): the identifier of msgtrk_message_state_from_action()
 */
const char *
msgtrk_states_from_action (const char *action)
{
  return msgtrk_message_state_to_string (msgtrk_message_state_from_action (action));
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
    /* TRANSLATORS: Received: lines a relay mailed back (Content-Track, docs/harrison.md). */
    { "harrison", N_("relay's trace record") },
  };

  for (gsize i = 0; source != NULL && i < G_N_ELEMENTS (labels); i++)
    if (strcmp (labels[i].source, source) == 0)
      return _(labels[i].label);
  return _("other");
}

/**
 * msgtrk_states_source_is_trace:
 * @source: (nullable): a hop's "source" (docs/dbus-api.md)
 *
 * Returns: whether hops of @source are Received: fields ("trace": a DSN's returned
 *   headers; "harrison": a relay's trace record): they never carry an action or a status,
 *   so lacking both does not make them broken links
 */
gboolean
msgtrk_states_source_is_trace (const char *source)
{
  return g_strcmp0 (source, "trace") == 0 || g_strcmp0 (source, "harrison") == 0;
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
  MsgtrkTrackingMode mode;

  if (!msgtrk_tracking_mode_from_string (tracking, &mode))
    return g_strdup (tracking != NULL ? tracking : "—");
  switch (mode)
    {
    case MSGTRK_TRACKING_MODE_PENDING:
      return g_strdup (_("Waiting for the mail program to finish sending"));
    case MSGTRK_TRACKING_MODE_MTQP:
      /* TRANSLATORS: %s is the mail server the message was submitted to. */
      return has_host ? g_strdup_printf (_("Asking tracking servers, starting at %s"), host)
                      : g_strdup (_("Asking tracking servers"));
    case MSGTRK_TRACKING_MODE_DSN:
      return has_host
               /* TRANSLATORS: %s is the mail server the message was submitted to. */
               ? g_strdup_printf (_("Delivery reports only (%s offers no tracking server)"), host)
               : g_strdup (_("Delivery reports only"));
    case MSGTRK_TRACKING_MODE_NONE:
      return has_host ? g_strdup_printf (_("None: %s offered no tracking"), host)
                      : g_strdup (_("None: the server offered no tracking"));
    case MSGTRK_TRACKING_MODE_ABORTED:
      return g_strdup (_("None: the message was not sent"));
    case MSGTRK_TRACKING_MODE_DELEGATED:
    default:
      /* TRANSLATORS: the message was shared by its sender as a tracking link; %s is the
       * tracking server named in the link. */
      return has_host ? g_strdup_printf (_("Tracked from a link, asking %s"), host)
                      : g_strdup (_("Tracked from a link"));
    }
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
  MsgtrkTrackingMode mode;

  if (msgtrk_tracking_mode_from_string (tracking, &mode))
    {
      if (mode == MSGTRK_TRACKING_MODE_PENDING)
        return _("not sent yet");
      if (mode == MSGTRK_TRACKING_MODE_ABORTED)
        return _("not sent");
    }
  return _("sent time unknown");
}
