/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-status.h: from all reports about one message to each recipient's state and a
 * one-line summary ("Delivered 2/3, 1 delayed").
 *
 * Inputs are MTQP tracking-status reports from any number of hops, DSNs and MDNs, in any
 * order. The precedence rules are written down in docs/status.md; this file and that
 * document must agree.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

#include <glib-object.h>

#include "msgtrk-visibility.h"

#include "msgtrk-report.h"

G_BEGIN_DECLS

/**
 * MsgtrkRecipientState:
 * @MSGTRK_RECIPIENT_STATE_UNKNOWN: nothing heard yet
 * @MSGTRK_RECIPIENT_STATE_IN_TRANSIT: accepted and moving (transferred)
 * @MSGTRK_RECIPIENT_STATE_DELAYED: a server is retrying
 * @MSGTRK_RECIPIENT_STATE_RELAYED: handed to a system that gives no tracking information
 * @MSGTRK_RECIPIENT_STATE_OPAQUE: a server will not say more
 * @MSGTRK_RECIPIENT_STATE_DELIVERED: delivered to the recipient's mailbox, or to a list or
 *   alias that takes it on (Action expanded, RFC 3464 section 2.3.3)
 * @MSGTRK_RECIPIENT_STATE_FAILED: delivery failed permanently
 * @MSGTRK_RECIPIENT_STATE_READ: the recipient's client reported it displayed (MDN)
 *
 * What is known about one recipient.
 *
 * Since: 1.0
 */
typedef enum {
  MSGTRK_RECIPIENT_STATE_UNKNOWN,
  MSGTRK_RECIPIENT_STATE_IN_TRANSIT,
  MSGTRK_RECIPIENT_STATE_DELAYED,
  MSGTRK_RECIPIENT_STATE_RELAYED,
  MSGTRK_RECIPIENT_STATE_OPAQUE,
  MSGTRK_RECIPIENT_STATE_DELIVERED,
  MSGTRK_RECIPIENT_STATE_FAILED,
  MSGTRK_RECIPIENT_STATE_READ,
} MsgtrkRecipientState;

MSGTRK_AVAILABLE_IN_ALL
const char *msgtrk_recipient_state_to_string  (MsgtrkRecipientState state);
MSGTRK_AVAILABLE_IN_ALL
gboolean    msgtrk_recipient_state_from_string (const char           *text,
                                                MsgtrkRecipientState *out_state);
MSGTRK_AVAILABLE_IN_ALL
gboolean    msgtrk_recipient_state_is_final   (MsgtrkRecipientState state);

/**
 * MSGTRK_STATUS_MAX_EVIDENCE:
 *
 * How many distinct pieces of evidence (one per reporter and recipient address) a
 * #MsgtrkStatus keeps. A report that would add one more is ignored for the recipients
 * past the limit; a newer word from a reporter already kept still replaces its older one.
 *
 * Since: 1.0
 */
#define MSGTRK_STATUS_MAX_EVIDENCE 4096

#define MSGTRK_TYPE_STATUS (msgtrk_status_get_type ())
MSGTRK_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (MsgtrkStatus, msgtrk_status, MSGTRK, STATUS, GObject)

MSGTRK_AVAILABLE_IN_ALL
MsgtrkStatus         *msgtrk_status_new                   (const char * const *recipients);
MSGTRK_AVAILABLE_IN_ALL
void                  msgtrk_status_add_report            (MsgtrkStatus *self,
                                                           MsgtrkReport *report,
                                                           GDateTime    *received);
MSGTRK_AVAILABLE_IN_ALL
char                **msgtrk_status_list_recipients       (MsgtrkStatus *self);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkRecipientState  msgtrk_status_get_recipient_state   (MsgtrkStatus *self,
                                                           const char   *recipient);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkRecipientReport *msgtrk_status_get_recipient_report (MsgtrkStatus *self,
                                                           const char   *recipient);
MSGTRK_AVAILABLE_IN_ALL
guint                 msgtrk_status_count                 (MsgtrkStatus        *self,
                                                           MsgtrkRecipientState state);
MSGTRK_AVAILABLE_IN_ALL
MsgtrkRecipientState  msgtrk_status_get_overall           (MsgtrkStatus *self);
MSGTRK_AVAILABLE_IN_ALL
gboolean              msgtrk_status_is_final              (MsgtrkStatus *self);
MSGTRK_AVAILABLE_IN_ALL
char                 *msgtrk_status_format_summary        (MsgtrkStatus *self);

MSGTRK_AVAILABLE_IN_ALL
char                 *msgtrk_address_normalize            (const char   *address);

G_END_DECLS
