/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-report.c: libFuzzer target for lib/msgtrk-report.c and msgtrk-report-mime.c.
 *
 * Feeds the input to msgtrk_report_parse_entity(), to msgtrk_report_parse_fields() for
 * each of the three kinds, and to msgtrk_report_extract_bytes() (whose result, if any, is
 * at most MSGTRK_REPORT_MAX_SIZE octets and goes through the same checks). Whatever parses must also write (msgtrk_report_to_fields()) and
 * parse back as the same kind, to the same text: the writer and the parser agree on every
 * input the parser accepts. Never leaks, never crashes; aborts only on a broken property.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gprintf.h>

#include "msgtrk.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* A broken property: abort(), as g_assert() does, so that libFuzzer keeps the input
 * (g_error() stops with SIGTRAP, which libFuzzer does not catch). */
static void G_GNUC_NORETURN G_GNUC_PRINTF (1, 2)
broken (const char *format,
        ...)
{
  va_list args;

  va_start (args, format);
  g_vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
  abort ();
}

/* Write @report, parse it back, and check the writer reaches a fixed point. */
static void
check_roundtrip (MsgtrkReport *report)
{
  g_autofree char *text = msgtrk_report_to_fields (report);
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkReport) again = NULL;
  g_autofree char *text_again = NULL;

  again = msgtrk_report_parse_fields (msgtrk_report_get_kind (report), text, -1, &error);
  if (again == NULL)
    broken ("a parsed report does not parse back after writing: %s\n--\n%s--", error->message,
            text);
  text_again = msgtrk_report_to_fields (again);
  if (strcmp (text, text_again) != 0)
    broken ("writer is not stable:\n--\n%s--\n%s--", text, text_again);
  if (msgtrk_report_get_recipients (report)->len != msgtrk_report_get_recipients (again)->len)
    broken ("recipient count changed in a round trip");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr (GBytes) bytes = g_bytes_new (data, size);
  g_autoptr (GPtrArray) reports = NULL;

  reports = msgtrk_report_parse_entity (bytes, NULL);
  if (reports != NULL)
    for (guint i = 0; i < reports->len; i++)
      check_roundtrip (g_ptr_array_index (reports, i));

  {
    g_autoptr (GBytes) entity = msgtrk_report_extract_bytes (bytes, NULL, NULL);
    g_autoptr (GPtrArray) extracted = NULL;

    if (entity != NULL && g_bytes_get_size (entity) > MSGTRK_REPORT_MAX_SIZE)
      broken ("an extracted report is larger than MSGTRK_REPORT_MAX_SIZE");
    if (entity != NULL)
      extracted = msgtrk_report_parse_entity (entity, NULL);
    for (guint i = 0; extracted != NULL && i < extracted->len; i++)
      check_roundtrip (g_ptr_array_index (extracted, i));
  }

  for (MsgtrkReportKind kind = MSGTRK_REPORT_KIND_TRACKING_STATUS;
       kind <= MSGTRK_REPORT_KIND_DISPOSITION_NOTIFICATION; kind++)
    {
      g_autoptr (MsgtrkReport) report =
        msgtrk_report_parse_fields (kind, (const char *) data, (gssize) size, NULL);

      if (report != NULL)
        check_roundtrip (report);
    }
  return 0;
}
