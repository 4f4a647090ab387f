/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-harrison.h: TRACK: mails of Harrison's trace reciprocation (docs/harrison.md).
 *
 * What: recognising a TRACK: mail handed to IngestReport, reading its key and trace record
 * (a Received: chain) with every limit checked, the store's index name of a key, and the
 * route hops (source "harrison") of the stored records.
 * How: pure functions; the model (msgtrkd-tracking.c) matches the key and stores.
 * Limits: the MSGTRKD_HARRISON_MAX_* below; past one the mail is refused whole.
 * Never: store or parse further a mail that broke a limit; log remote text unescaped.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <msgtrk.h>

G_BEGIN_DECLS

/** MSGTRKD_HARRISON_MAX_MESSAGE_SIZE: largest TRACK: mail read (a relay's is about 1 KiB). */
#define MSGTRKD_HARRISON_MAX_MESSAGE_SIZE (64 * 1024)
/** MSGTRKD_HARRISON_MAX_HOPS: most Received: fields in one trace record. */
#define MSGTRKD_HARRISON_MAX_HOPS 64
/** MSGTRKD_HARRISON_MAX_RECORDS: trace records kept per message; more are ignored, so
 * that whoever knows a key (its relays, its recipients) cannot push the message's DSNs
 * out of the store (MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE) with forged records. */
#define MSGTRKD_HARRISON_MAX_RECORDS 32
/** MSGTRKD_HARRISON_INDEX_PREFIX: the start of a Content-Track key's setting name (the rest
 * is the key's hash); its value is "ENVID KEY". */
#define MSGTRKD_HARRISON_INDEX_PREFIX "content-track "
/** MSGTRKD_HARRISON_SOURCE: the route evidence source and the store's report source. */
#define MSGTRKD_HARRISON_SOURCE "harrison"

typedef struct
{
  char *key;       /* (owned) the Content-Track key of the Subject */
  GBytes *record;  /* (owned) the Received: fields, CRLF line ends */
  char *origin;    /* (owned) (nullable) the by-host of the newest field: the relay */
  guint n_hops;
} MsgtrkdHarrisonMail;

void                 msgtrkd_harrison_mail_free    (MsgtrkdHarrisonMail *mail);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsgtrkdHarrisonMail, msgtrkd_harrison_mail_free)

gboolean             msgtrkd_harrison_is_track_mail (GBytes *raw);
MsgtrkdHarrisonMail *msgtrkd_harrison_parse        (GBytes  *raw,
                                                    GError **error);
char                *msgtrkd_harrison_index_name   (const char *key);
void                 msgtrkd_harrison_add_hops     (JsonArray  *hops,
                                                    const char *address,
                                                    GPtrArray  *parsed);

G_END_DECLS
