/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-harrison.c: libFuzzer target for TRACK: mails (helper/msgtrkd/msgtrkd-harrison.c,
 * docs/harrison.md).
 *
 * Feeds the input, as a whole mail of exactly its length, to msgtrkd_harrison_is_track_mail()
 * and msgtrkd_harrison_parse(); a record that parses is checked against its limits and
 * turned into route hops (msgtrkd_harrison_add_hops) as msgtrkd does. Must never crash, leak
 * or read past the input; refusals are expected. Seeds: tests/fuzz/corpus/harrison/.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk-content-track-private.h"
#include "msgtrkd-harrison.h"
#include "msgtrkd-route.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr (GBytes) raw = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkdHarrisonMail) mail = NULL;
  g_autoptr (GPtrArray) parsed = NULL;
  g_autoptr (JsonArray) hops = NULL;
  MsgtrkdParsedReport *p;

  if (size > 2 * MSGTRKD_HARRISON_MAX_MESSAGE_SIZE)
    return 0;
  /* A copy of exactly @size octets: reading past it is a sanitizer report. */
  raw = g_bytes_new (data, size);
  (void) msgtrkd_harrison_is_track_mail (raw);
  mail = msgtrkd_harrison_parse (raw, &error);
  g_assert ((mail == NULL) == (error != NULL));
  if (mail == NULL)
    return 0;
  g_assert (mail->n_hops >= 1 && mail->n_hops <= MSGTRKD_HARRISON_MAX_HOPS);
  g_assert (g_bytes_get_size (mail->record) <= 2 * MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE);
  g_assert (strlen (mail->key) > 0);
  parsed = g_ptr_array_new_with_free_func ((GDestroyNotify) msgtrkd_parsed_report_free);
  p = g_new0 (MsgtrkdParsedReport, 1);
  p->source = g_strdup (MSGTRKD_HARRISON_SOURCE);
  p->origin = g_strdup (mail->origin);
  p->reports = g_ptr_array_new ();
  p->trace = g_bytes_ref (mail->record);
  g_ptr_array_add (parsed, p);
  hops = json_array_new ();
  msgtrkd_harrison_add_hops (hops, "bob@example.net", parsed);
  g_assert (json_array_get_length (hops) <= mail->n_hops);
  return 0;
}
