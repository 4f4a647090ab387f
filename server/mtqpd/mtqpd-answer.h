/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mtqpd-answer.h: TRACK answers built once per record version and reused.
 *
 * What: the bytes of a found TRACK's answer ("+OK+ Tracking information follows", the
 * dot-stuffed multipart entity, ".") depend only on the records served, so they are built
 * (GMime, the slow part) once for each distinct set of records' fields texts and kept in
 * a bounded cache shared by every session. A new version of a record has other fields,
 * so it is another key: nothing is ever stale.
 * How: key = the fields texts as fetched (track_store_lookup_fields()), in order; the
 * cache is reached only after the secret opened the records, and equal keys give equal
 * answers, so nothing leaks from one client to another. Least recently used out first.
 * Limits: MTQPD_ANSWER_CACHE_ENTRIES answers and MTQPD_ANSWER_CACHE_BYTES octets of
 * keys and answers.
 * Never: cache a chained answer (it depends on other servers) or a refusal.
 */
#pragma once

#include <msgtrk.h>

G_BEGIN_DECLS

/** MTQPD_ANSWER_CACHE_ENTRIES: most answers kept. */
#define MTQPD_ANSWER_CACHE_ENTRIES 8192
/** MTQPD_ANSWER_CACHE_BYTES: most octets of keys and answers kept. */
#define MTQPD_ANSWER_CACHE_BYTES (32 * 1024 * 1024)

typedef struct _MtqpdAnswerCache MtqpdAnswerCache;

typedef struct
{
  GBytes *wire;         /* (owned) the whole answer as sent */
  gboolean needs_chain; /* a part has a transferred recipient with a next hop */
} MtqpdAnswer;

MtqpdAnswerCache *mtqpd_answer_cache_new  (void);
void              mtqpd_answer_cache_free (MtqpdAnswerCache *self);
/* The answer for the records whose fields texts are @fields (char *, in order): from the
 * cache, or built and kept. FALSE with @error when a record cannot be parsed or the
 * answer cannot be built, or has a line longer than @max_line (MSGTRK_ERROR_LIMIT): a
 * fault, answered -TEMP. */
gboolean          mtqpd_answer_get        (MtqpdAnswerCache *self,
                                           GPtrArray        *fields,
                                           guint             max_line,
                                           MtqpdAnswer      *answer,
                                           GError          **error);
void              mtqpd_answer_clear      (MtqpdAnswer      *answer);
/* The wire form of an answer made of @reports (MsgtrkReport): status line, dot-stuffed
 * entity, "."; NULL with @error when it cannot be built or has a line over @max_line. */
GBytes           *mtqpd_answer_build      (GPtrArray        *reports,
                                           guint             max_line,
                                           GError          **error);
/* Counters, for tests and the bench: answers built, answers served from the cache. */
void              mtqpd_answer_cache_stats (MtqpdAnswerCache *self,
                                            guint64          *built,
                                            guint64          *hits);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtqpdAnswerCache, mtqpd_answer_cache_free)

G_END_DECLS
