/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-evo-scan.c: which rows of a folder are tracked messages.
 *
 * What: see msgtrk-evo-scan.h.
 * How: one hash lookup per info; rows without a Message-ID (hash 0) are skipped.
 * Limits: see msgtrk-evo-scan.h.
 * Never: keep an info past the call.
 */
#include "config.h"

#include "msgtrk-evo-scan.h"

void
msgtrk_evo_scan_folder (CamelFolder        *folder,
                        GHashTable         *by_hash,
                        MsgtrkEvoScanFound  found,
                        gpointer            user_data)
{
  GPtrArray *uids = camel_folder_get_uids (folder);

  for (guint i = 0; uids && i < uids->len; i++)
    {
      const char *uid = g_ptr_array_index (uids, i);
      g_autoptr (CamelMessageInfo) info = camel_folder_get_message_info (folder, uid);
      guint64 hash = info ? camel_message_info_get_message_id (info) : 0;
      gpointer value = hash ? g_hash_table_lookup (by_hash, &hash) : NULL;

      if (value)
        found (uid, hash, value, user_data);
    }
  if (uids)
    camel_folder_free_uids (folder, uids);
}

guint64
msgtrk_evo_scan_hash_message_id (const char *message_id)
{
  g_autofree char *bracketed = g_strdup_printf ("<%s>", message_id);

  return camel_folder_search_util_hash_message_id (bracketed, TRUE);
}
