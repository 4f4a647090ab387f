/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-report-syntax.c: libFuzzer target for the report field syntax
 * (lib/msgtrk-report-syntax.c).
 *
 * - the input as blocks of fields: fed whole and one octet at a time give the same blocks
 *   or the same error code; the blocks written back (msgtrk_report_block_write(), folded,
 *   a blank line between blocks) parse to the same blocks;
 * - every parsed value through the typed, status-code and disposition parsers: what they
 *   take, their writers write back to the same parts.
 * Must never leak or crash.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk-report-syntax-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gboolean
blocks_equal (GPtrArray *a,
              GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    {
      GPtrArray *x = g_ptr_array_index (a, i);
      GPtrArray *y = g_ptr_array_index (b, i);

      if (x->len != y->len)
        return FALSE;
      for (guint j = 0; j < x->len; j++)
        {
          MsgtrkReportField *f = g_ptr_array_index (x, j);
          MsgtrkReportField *g = g_ptr_array_index (y, j);

          if (strcmp (f->name, g->name) != 0 || strcmp (f->value, g->value) != 0)
            return FALSE;
        }
    }
  return TRUE;
}

static void
check_value (const char *value)
{
  g_autofree char *type = NULL, *rest = NULL, *comment = NULL, *disposition = NULL;
  gsize code_len = 0;

  if (msgtrk_report_typed_parse (value, &type, &rest))
    {
      g_autofree char *written = msgtrk_report_typed_write (type, rest);
      g_autofree char *type2 = NULL, *rest2 = NULL;

      g_assert (msgtrk_report_typed_parse (written, &type2, &rest2));
      g_assert (strcmp (type, type2) == 0 && strcmp (rest, rest2) == 0);
    }
  if (msgtrk_report_status_code_parse (value, NULL, NULL, NULL, &code_len, &comment))
    {
      g_autofree char *code = g_strndup (value, code_len);
      g_autofree char *written = msgtrk_report_status_code_write (code, comment, NULL);
      g_autofree char *comment2 = NULL;

      g_assert (written != NULL);
      g_assert (msgtrk_report_status_code_parse (written, NULL, NULL, NULL, NULL, &comment2));
      /* The writer normalises the comment as a field value would be. */
      if (comment != NULL && *comment != '\0')
        {
          g_autofree char *clean = msgtrk_report_value_normalize (comment);

          g_assert (comment2 != NULL && strcmp (comment2, clean) == 0);
        }
    }
  if (msgtrk_report_disposition_parse (value, NULL, &disposition)
      && strpbrk (disposition, "/;") == NULL)
    {
      g_autofree char *written = msgtrk_report_disposition_write ("a", "b", disposition);
      g_autofree char *again = NULL;

      g_assert (msgtrk_report_disposition_parse (written, NULL, &again));
      g_assert (strcmp (again, disposition) == 0);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;
  g_autoptr (GPtrArray) whole = msgtrk_report_blocks_parse ((const char *) data, size, "fuzz",
                                                            &e1);
  g_autoptr (GPtrArray) bytewise = NULL;
  g_autoptr (GPtrArray) again = NULL;
  g_autoptr (GString) out = NULL;

  {
    g_auto (MsgtrkReportBlockParser) parser = { 0 };
    gboolean ok = TRUE;

    msgtrk_report_block_parser_init (&parser, "fuzz");
    for (gsize i = 0; i < size && ok; i++)
      ok = msgtrk_report_block_parser_feed (&parser, (const char *) data + i, 1, &e2);
    if (ok)
      bytewise = msgtrk_report_block_parser_finish (&parser, &e2);
  }
  g_assert ((whole == NULL) == (bytewise == NULL));
  if (whole == NULL)
    {
      g_assert (e1->domain == MSGTRK_ERROR && e1->code == e2->code);
      return 0;
    }
  g_assert (blocks_equal (whole, bytewise));

  out = g_string_new (NULL);
  for (guint b = 0; b < whole->len; b++)
    {
      GPtrArray *block = g_ptr_array_index (whole, b);

      if (b > 0)
        g_string_append (out, "\r\n");
      msgtrk_report_block_write (out, block, NULL, 0, NULL);
      for (guint i = 0; i < block->len; i++)
        check_value (((MsgtrkReportField *) g_ptr_array_index (block, i))->value);
    }
  again = msgtrk_report_blocks_parse (out->str, out->len, "fuzz", NULL);
  g_assert (again != NULL && blocks_equal (whole, again));
  return 0;
}
