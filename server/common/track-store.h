/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store.h: the reference server's tracking records, one file per ENVID.
 *
 * Written by msgtrk-relay (every change of a recipient's state), read by mtqpd (TRACK).
 * Layout: <state_dir>/tracking/<sha256-hex of ENVID>.trk, replaced atomically
 * (write temp file, fsync, rename, fsync dir). Contents:
 *
 *   MSGTRK-TRACK 1
 *   Envid: <ENVID, xtext-encoded>
 *   Authenticator: <B, base64, 28 chars>
 *   Expires: <unix seconds>
 *   <blank line>
 *   <message/tracking-status fields as written by msgtrk_report_to_fields()>
 *
 * The first B stored for an ENVID owns the record until it expires: track_store_put()
 * with another B fails with MSGTRK_ERROR_INVALID_SECRET and keeps the record (ENVID
 * takeover, docs/relay.md, "Who owns a tracking record").
 *
 * Only B is ever stored, never A. track_store_lookup() answers an unknown ENVID, an
 * expired record and a wrong secret with the same error (MSGTRK_ERROR_NOT_FOUND) and
 * compares in constant time.
 */
#pragma once

#include <msgtrk.h>

G_BEGIN_DECLS

#define TRACK_STORE_MAX_RECORD_SIZE (1024 * 1024)

#define TYPE_TRACK_STORE (track_store_get_type ())
G_DECLARE_FINAL_TYPE (TrackStore, track_store, TRACK, STORE, GObject)

TrackStore   *track_store_new     (const char   *state_dir,
                                   GError      **error);
gboolean      track_store_put     (TrackStore   *self,
                                   const char   *envid,
                                   const char   *authenticator,
                                   gint64        expires,
                                   MsgtrkReport *report,
                                   GError      **error);
/* For the relay: the record as stored, without a secret. */
MsgtrkReport *track_store_load    (TrackStore   *self,
                                   const char   *envid,
                                   char        **authenticator,
                                   gint64       *expires,
                                   GError      **error);
/* For mtqpd: the report if @secret_base64 matches and the record has not expired. */
MsgtrkReport *track_store_lookup  (TrackStore   *self,
                                   const char   *envid,
                                   const char   *secret_base64,
                                   gint64        now,
                                   GError      **error);
guint         track_store_expire  (TrackStore   *self,
                                   gint64        now);

G_END_DECLS
