/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-smtp-syntax.c: libFuzzer target for the SMTP syntax layer's path and mailbox parser
 * and its writers (lib/msgtrk-smtp-syntax.c).
 *
 * - the input as a path, in every mode: fed whole and fed one octet at a time give the same
 *   result, error code and octets used; a mailbox without '<' or '>' comes back unchanged
 *   through msgtrk_smtp_path_write() and the parser;
 * - the input as a bare mailbox: if msgtrk_smtp_mailbox_check() takes it, the writer's path
 *   parses back to it;
 * - what follows a parsed path as ESMTP parameters: written back parameter by parameter
 *   (msgtrk_smtp_param_write()), they parse to the same table; SIZE and BODY values
 *   round-trip through their writers;
 * - the input as a list of paths (msgtrk_smtp_path_list_split()): the mailboxes written
 *   back and joined by ',' split to the same list.
 * Must never leak or crash.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "msgtrk-smtp-syntax-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define BOX_MAX 254

static char *
parse_bytewise (const char         *text,
                gsize               len,
                MsgtrkSmtpPathFlags flags,
                gsize              *consumed,
                GError            **error)
{
  g_auto (MsgtrkSmtpPathParser) parser = { 0 };

  msgtrk_smtp_path_parser_init (&parser, flags, BOX_MAX);
  for (gsize i = 0; i < len; i++)
    {
      gsize used = 0;

      switch (msgtrk_smtp_path_parser_feed (&parser, text + i, 1, &used, error))
        {
        case MSGTRK_SMTP_PARSE_DONE:
          *consumed = i + 1;
          return msgtrk_smtp_path_parser_steal (&parser, NULL);
        case MSGTRK_SMTP_PARSE_ERROR:
          return NULL;
        case MSGTRK_SMTP_PARSE_MORE:
        default:
          g_assert (used == 1);
          break;
        }
    }
  g_set_error_literal (error, MSGTRK_ERROR, MSGTRK_ERROR_PARSE, "no closing '>'");
  return NULL;
}

static void
check_params (const char *text)
{
  g_autoptr (GHashTable) params = msgtrk_smtp_params_parse (text, NULL);
  g_autoptr (GHashTable) again = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;

  if (params == NULL)
    return;
  {
    guint64 size = 0;
    gboolean eight = FALSE;

    if (msgtrk_smtp_size_param_parse (g_hash_table_lookup (params, "SIZE"), &size, NULL))
      {
        g_autoptr (GString) s = g_string_new (NULL);
        guint64 back = 0;

        msgtrk_smtp_size_param_write (s, size);
        g_assert (msgtrk_smtp_size_param_parse (s->str + strlen (" SIZE="), &back, NULL));
        g_assert (back == size);
      }
    if (msgtrk_smtp_body_param_parse (g_hash_table_lookup (params, "BODY"), &eight, NULL))
      {
        gboolean back = !eight;

        g_assert (msgtrk_smtp_body_param_parse (msgtrk_smtp_body_param_word (eight), &back,
                                                NULL));
        g_assert (back == eight);
      }
  }
  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_assert (msgtrk_smtp_param_write (out, key, value, NULL));
  again = msgtrk_smtp_params_parse (out->str, NULL);
  g_assert (again != NULL && g_hash_table_size (again) == g_hash_table_size (params));
  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      gpointer other = NULL;

      g_assert (g_hash_table_lookup_extended (again, key, NULL, &other));
      g_assert (g_strcmp0 (value, other) == 0);
    }
}

static void
check_path (const char         *text,
            gsize               len,
            MsgtrkSmtpPathFlags flags)
{
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;
  gsize used1 = 0, used2 = 0;
  g_autofree char *whole = msgtrk_smtp_path_parse (text, len, flags, BOX_MAX, &used1, &e1);
  g_autofree char *bytewise = parse_bytewise (text, len, flags, &used2, &e2);

  g_assert ((whole == NULL) == (bytewise == NULL));
  if (whole == NULL)
    {
      g_assert (e1 != NULL && e2 != NULL && e1->domain == MSGTRK_ERROR);
      g_assert (e1->code == e2->code);
      return;
    }
  g_assert (strcmp (whole, bytewise) == 0 && used1 == used2);
  g_assert (strlen (whole) <= BOX_MAX);
  if (!(flags & MSGTRK_SMTP_PATH_FRAMING) && strpbrk (whole, "<>") == NULL)
    {
      g_autoptr (GString) out = g_string_new (NULL);
      g_autofree char *back = NULL;

      g_assert (msgtrk_smtp_path_write (out, whole, flags, BOX_MAX, NULL, NULL));
      back = msgtrk_smtp_path_parse (out->str, out->len, flags, BOX_MAX, NULL, NULL);
      g_assert (back != NULL && strcmp (back, whole) == 0);
    }
  if (flags == MSGTRK_SMTP_PATH_NULL)
    check_params (text + used1);
}

static void
check_mailbox (const char *text)
{
  const MsgtrkSmtpPathFlags flags = MSGTRK_SMTP_PATH_NULL | MSGTRK_SMTP_PATH_POSTMASTER
                                    | MSGTRK_SMTP_PATH_UTF8;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *back = NULL;

  if (!msgtrk_smtp_path_write (out, text, flags, BOX_MAX, NULL, NULL))
    {
      g_assert (out->len == 0);
      return;
    }
  back = msgtrk_smtp_path_parse (out->str, out->len, flags, BOX_MAX, NULL, NULL);
  g_assert (back != NULL && strcmp (back, text) == 0);
}

static void
check_path_list (const char *text)
{
  const MsgtrkSmtpPathFlags flags = MSGTRK_SMTP_PATH_POSTMASTER | MSGTRK_SMTP_PATH_UTF8;
  g_auto (GStrv) boxes = NULL;
  g_auto (GStrv) again = NULL;
  g_autoptr (GString) out = g_string_new (NULL);

  if (!msgtrk_smtp_path_list_split (text, &boxes, NULL))
    {
      g_assert (boxes == NULL);
      return;
    }
  g_assert (g_strv_length (boxes) <= MSGTRK_SMTP_PATH_LIST_MAX);
  for (guint i = 0; boxes[i] != NULL; i++)
    {
      g_assert (strlen (boxes[i]) <= MSGTRK_SMTP_ADDRESS_MAX_LENGTH);
      if (strpbrk (boxes[i], "<>") != NULL)
        return; /* inside quotes: the writer refuses what naive readers would cut */
      if (i > 0)
        g_string_append_c (out, ',');
      g_assert (msgtrk_smtp_path_write (out, boxes[i], flags, MSGTRK_SMTP_ADDRESS_MAX_LENGTH,
                                        NULL, NULL));
    }
  g_assert (msgtrk_smtp_path_list_split (out->str, &again, NULL));
  g_assert (g_strv_equal ((const char * const *) boxes, (const char * const *) again));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  const gsize len = strlen (text);

  check_path (text, len, MSGTRK_SMTP_PATH_NONE);
  check_path (text, len, MSGTRK_SMTP_PATH_NULL);
  check_path (text, len, MSGTRK_SMTP_PATH_POSTMASTER | MSGTRK_SMTP_PATH_UTF8);
  check_path (text, len, MSGTRK_SMTP_PATH_NULL | MSGTRK_SMTP_PATH_FRAMING);
  check_mailbox (text);
  check_path_list (text);
  return 0;
}
