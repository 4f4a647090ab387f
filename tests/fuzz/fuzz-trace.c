/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-trace.c: libFuzzer target for Received: trace parsing (lib/msgtrk-trace.c).
 *
 * Feeds the input to msgtrk_trace_parse_headers() with its explicit length (NUL octets
 * and all), then NUL-terminated, and each line of it to msgtrk_hop_parse_received(), and
 * reads every getter of every hop. Must never crash, leak or read past the input; errors
 * are expected and ignored. Seeds: tests/fuzz/corpus/trace/.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gsize sink;

/* Touch every part of @hop so that a bad pointer shows. */
static void
consume_hop (MsgtrkHop *hop)
{
  const char *parts[] = {
    msgtrk_hop_get_from_helo (hop), msgtrk_hop_get_from_host (hop),
    msgtrk_hop_get_from_address (hop), msgtrk_hop_get_by_host (hop),
    msgtrk_hop_get_via (hop), msgtrk_hop_get_with (hop),
    msgtrk_hop_get_id (hop), msgtrk_hop_get_for (hop),
    msgtrk_hop_get_raw (hop),
  };
  GDateTime *date = msgtrk_hop_get_date (hop);

  for (gsize i = 0; i < G_N_ELEMENTS (parts); i++)
    if (parts[i] != NULL)
      {
        g_assert (g_utf8_validate (parts[i], -1, NULL));
        sink += strlen (parts[i]);
      }
  g_assert (msgtrk_hop_get_raw (hop) != NULL);
  if (date != NULL)
    sink += (gsize) g_date_time_to_unix (date);
  sink += (gsize) msgtrk_hop_get_delay (hop) + (gsize) msgtrk_hop_has_delay (hop);
}

static void
parse_block (const char *text,
             gssize      len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hops = msgtrk_trace_parse_headers (text, len, &error);

  g_assert ((hops == NULL) == (error != NULL));
  if (hops != NULL)
    {
      g_assert (hops->len <= MSGTRK_TRACE_MAX_HOPS);
      for (guint i = 0; i < hops->len; i++)
        consume_hop (g_ptr_array_index (hops, i));
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *copy = NULL;
  g_auto (GStrv) lines = NULL;

  if (size > 2 * MSGTRK_TRACE_MAX_HEADER_SIZE)
    return 0;

  /* Exactly @size octets, no terminator: reading past the end is a sanitizer report. */
  parse_block ((const char *) data, (gssize) size);

  copy = g_strndup ((const char *) data, size);
  parse_block (copy, -1);

  lines = g_strsplit (copy, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsgtrkHop) hop = msgtrk_hop_parse_received (lines[i], &error);

      g_assert ((hop == NULL) == (error != NULL));
      if (hop != NULL)
        consume_hop (hop);
    }
  return 0;
}
