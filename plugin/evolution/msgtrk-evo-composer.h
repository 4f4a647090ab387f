/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-composer.h: the msgtrk extension of Evolution's composer window.
 *
 * What: "Track this message" sets or removes the header MSGTRK_CAMEL_TRACK_HEADER on the
 * message being composed; the "SMTP with tracking" transport reads it, prepares the
 * message with msgtrkd, and removes it before DATA (docs/evolution.md, "The header rule").
 * Limits: no per-account default yet (the toggle starts off for a new message); a reopened
 * draft gets its toggle back from the draft, a message reopened from the Outbox does not.
 * Never: talk to msgtrkd from the composer (the transport does, where the send happens).
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

void msgtrk_evo_composer_type_register (GTypeModule *type_module);

G_END_DECLS
