/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-mtqp-syntax.c: libFuzzer target for the MTQP syntax layer (lib/msgtrk-mtqp-syntax.c).
 *
 * The input is taken as a greeting on the wire and fed to the greeting parser twice, whole
 * and one octet at a time: both must agree (result, error code, octets used, options). Its
 * first line is also parsed as a status line; when that succeeds and its text is writable,
 * the writer's line must parse back to the same status, codes and text. Nothing may crash,
 * leak or read out of bounds.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk-mtqp-syntax-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct
{
  MsgtrkMtqpParseResult result;
  int code;
  gsize used;
  char *options;
} Outcome;

static void
run_greeting (const char *data,
              gsize       size,
              gsize       piece,
              Outcome    *out)
{
  MsgtrkMtqpGreeting g;
  g_autoptr (GError) error = NULL;
  gsize pos = 0;

  msgtrk_mtqp_greeting_init (&g);
  out->result = MSGTRK_MTQP_PARSE_MORE;
  out->code = -1;
  out->options = NULL;
  while (pos < size && out->result == MSGTRK_MTQP_PARSE_MORE)
    {
      gsize n = MIN (piece, size - pos);
      gsize used = 0;

      out->result = msgtrk_mtqp_greeting_feed (&g, data + pos, n, &used, &error);
      g_assert_cmpuint (used, <=, n);
      pos += used;
    }
  out->used = pos;
  if (out->result == MSGTRK_MTQP_PARSE_ERROR)
    {
      g_assert_true (error != NULL && error->domain == MSGTRK_ERROR);
      out->code = error->code;
    }
  else
    {
      g_ptr_array_add (g.options.names, NULL);
      out->options = g_strjoinv (",", (char **) g.options.names->pdata);
      g_ptr_array_remove_index (g.options.names, g.options.names->len - 1);
    }
  msgtrk_mtqp_greeting_clear (&g);
}

static gboolean
writable (const char *text,
          gsize       len)
{
  gsize i;

  if (len > 0 && (text[0] == ' ' || text[0] == '\t'))
    return FALSE;
  for (i = 0; i < len; i++)
    if (!((text[i] >= 0x21 && text[i] <= 0x7e) || text[i] == ' ' || text[i] == '\t'))
      return FALSE;
  return TRUE;
}

static void
status_roundtrip (const char *data,
                  gsize       size)
{
  const char *nl = memchr (data, '\n', size);
  gsize len = nl != NULL ? (gsize) (nl - data) : size;
  MsgtrkMtqpStatusLine st, again;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;

  if (len > 0 && data[len - 1] == '\r')
    len--;
  if (!msgtrk_mtqp_status_parse (data, len, &st, &error))
    {
      g_assert_true (error != NULL && error->domain == MSGTRK_ERROR);
      return;
    }
  text = g_strndup (st.text, st.text_len);
  if (writable (st.text, st.text_len) && strlen (text) == st.text_len)
    {
      g_assert_true (msgtrk_mtqp_status_write (out, st.kind, (const char * const *) st.codes,
                                               text, &error));
      g_assert_no_error (error);
      g_assert_true (msgtrk_mtqp_status_parse (out->str, out->len - 2, &again, &error));
      g_assert_cmpint (again.kind, ==, st.kind);
      g_assert_cmpuint (g_strv_length (again.codes), ==, g_strv_length (st.codes));
      g_assert_cmpuint (again.text_len, ==, st.text_len);
      g_assert_true (memcmp (again.text, text, st.text_len) == 0);
      msgtrk_mtqp_status_line_clear (&again);
    }
  msgtrk_mtqp_status_line_clear (&st);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  Outcome whole, bytes;

  run_greeting ((const char *) data, size, size > 0 ? size : 1, &whole);
  run_greeting ((const char *) data, size, 1, &bytes);
  g_assert_cmpint (whole.result, ==, bytes.result);
  g_assert_cmpint (whole.code, ==, bytes.code);
  if (whole.result != MSGTRK_MTQP_PARSE_ERROR)
    {
      g_assert_cmpuint (whole.used, ==, bytes.used);
      g_assert_cmpstr (whole.options, ==, bytes.options);
    }
  g_free (whole.options);
  g_free (bytes.options);
  status_roundtrip ((const char *) data, size);
  return 0;
}
