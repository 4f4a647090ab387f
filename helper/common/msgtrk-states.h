/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-states.h: message states and tracking modes as enums with their identifiers, and
 * what the helper's clients (CLI, viewer) say about states, actions and sources, in words:
 * one table for msgtrkd, the CLI and the viewer.
 *
 * What: MsgtrkMessageState, the message and recipient states of docs/dbus-api.md
 * ("delivered", "in-transit", … "sending", "untracked", "aborted"), and MsgtrkTrackingMode
 * (how a message is tracked: "pending", "mtqp", "dsn", "none", "aborted", "delegated"),
 * each with its string id (the D-Bus and JSON API: never change one); the states'
 * translated label, symbol and colours; the state a hop's action stands for; a hop's
 * action said in the user's language ("Handed to relay.example.net", not "transferred");
 * where evidence came from ("delivery report", not "dsn").
 * How: static tables indexed by the enums; labels are N_() and translated when asked for (domain "msgtrk").
 * Limits: an identifier or action this table does not know is "unknown" (a newer daemon);
 * a tracking id it does not know is refused by msgtrk_tracking_mode_from_string().
 * Never: returns remote text as part of a label without the caller seeing it (the only
 * remote text is the host name passed in by the caller, for it to clean).
 */
#pragma once

#include <glib.h>
#include <msgtrk.h>

G_BEGIN_DECLS

/**
 * MsgtrkMessageState:
 *
 * The state of a message or of one recipient (docs/dbus-api.md, "States"). The first eight
 * are #MsgtrkRecipientState's, same order and ids; the last three are a message's alone:
 * @MSGTRK_MESSAGE_STATE_SENDING (prepared, the mail program is still sending),
 * @MSGTRK_MESSAGE_STATE_UNTRACKED (sent, the server offered no tracking),
 * @MSGTRK_MESSAGE_STATE_ABORTED (never sent).
 */
typedef enum
{
  MSGTRK_MESSAGE_STATE_UNKNOWN,
  MSGTRK_MESSAGE_STATE_IN_TRANSIT,
  MSGTRK_MESSAGE_STATE_DELAYED,
  MSGTRK_MESSAGE_STATE_RELAYED,
  MSGTRK_MESSAGE_STATE_OPAQUE,
  MSGTRK_MESSAGE_STATE_DELIVERED,
  MSGTRK_MESSAGE_STATE_FAILED,
  MSGTRK_MESSAGE_STATE_READ,
  MSGTRK_MESSAGE_STATE_SENDING,
  MSGTRK_MESSAGE_STATE_UNTRACKED,
  MSGTRK_MESSAGE_STATE_ABORTED,
} MsgtrkMessageState;

/** MSGTRK_MESSAGE_STATE_COUNT: how many message states there are. */
#define MSGTRK_MESSAGE_STATE_COUNT (MSGTRK_MESSAGE_STATE_ABORTED + 1)

const char         *msgtrk_message_state_to_string   (MsgtrkMessageState state);
gboolean            msgtrk_message_state_from_string (const char         *id,
                                                      MsgtrkMessageState *out_state);
MsgtrkMessageState  msgtrk_message_state_from_recipient (MsgtrkRecipientState state);
MsgtrkMessageState  msgtrk_message_state_from_action (const char *action);

/* The tracking modes' ids as literals, for text built at compile time (the store's SQL);
 * everything else uses MsgtrkTrackingMode and msgtrk_tracking_mode_to_string(). */
#define MSGTRK_TRACKING_ID_PENDING "pending"
#define MSGTRK_TRACKING_ID_MTQP "mtqp"
#define MSGTRK_TRACKING_ID_DSN "dsn"
#define MSGTRK_TRACKING_ID_NONE "none"
#define MSGTRK_TRACKING_ID_ABORTED "aborted"
#define MSGTRK_TRACKING_ID_DELEGATED "delegated"

/**
 * MsgtrkTrackingMode:
 * @MSGTRK_TRACKING_MODE_PENDING: prepared, not yet committed
 * @MSGTRK_TRACKING_MODE_MTQP: the server offered MTRK: poll MTQP (and take DSNs)
 * @MSGTRK_TRACKING_MODE_DSN: the server offered DSN only
 * @MSGTRK_TRACKING_MODE_NONE: neither was offered
 * @MSGTRK_TRACKING_MODE_ABORTED: the send failed or was cancelled
 * @MSGTRK_TRACKING_MODE_DELEGATED: imported from an mtqp:// link
 *
 * How a message is tracked ("tracking" in docs/dbus-api.md, MsgtrkdMessage.tracking).
 */
typedef enum
{
  MSGTRK_TRACKING_MODE_PENDING,
  MSGTRK_TRACKING_MODE_MTQP,
  MSGTRK_TRACKING_MODE_DSN,
  MSGTRK_TRACKING_MODE_NONE,
  MSGTRK_TRACKING_MODE_ABORTED,
  MSGTRK_TRACKING_MODE_DELEGATED,
} MsgtrkTrackingMode;

/** MSGTRK_TRACKING_MODE_COUNT: how many tracking modes there are. */
#define MSGTRK_TRACKING_MODE_COUNT (MSGTRK_TRACKING_MODE_DELEGATED + 1)

const char *msgtrk_tracking_mode_to_string   (MsgtrkTrackingMode mode);
gboolean    msgtrk_tracking_mode_from_string (const char         *id,
                                              MsgtrkTrackingMode *out_mode);
gboolean    msgtrk_tracking_mode_is_polled   (MsgtrkTrackingMode mode);

typedef struct
{
  MsgtrkMessageState state;
  const char *id;     /* stable identifier (JSON, D-Bus) */
  const char *label;  /* N_(): "Delivered"; use msgtrk_states_label() for the translation */
  const char *symbol; /* one character that says the state without colour, or "" */
  const char *color;  /* "#rrggbb", a mid-tone readable on light and dark backgrounds */
  const char *ansi;   /* terminal SGR sequence of the state's colour */
} MsgtrkStateInfo;

const MsgtrkStateInfo *msgtrk_states_lookup          (const char *id);
const MsgtrkStateInfo *msgtrk_states_info            (MsgtrkMessageState state);
gboolean               msgtrk_states_is_known        (const char *id);
const char            *msgtrk_states_label           (const char *id);
const char            *msgtrk_states_from_action     (const char *action);
char                  *msgtrk_states_describe_action (const char *action,
                                                      const char *remote_mta);
const char            *msgtrk_states_source_label    (const char *source);
gboolean               msgtrk_states_source_is_trace (const char *source);
char                  *msgtrk_states_describe_tracking (const char *tracking,
                                                        const char *host);
const char            *msgtrk_states_describe_sent_unknown (const char *tracking);

G_END_DECLS
