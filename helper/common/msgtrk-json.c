/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-json.c: defensive accessors for msgtrkd's JSON (see msgtrk-json.h). */
#include "config.h"

#include "msgtrk-json.h"

/**
 * msgtrk_json_get_string:
 * @obj: (nullable): an object
 * @name: a member name
 *
 * Returns: (transfer none) (nullable): the string member @name of @obj, or %NULL when
 *   @obj is %NULL or the member is absent, null or not a string
 */
const char *
msgtrk_json_get_string (JsonObject *obj,
                        const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/**
 * msgtrk_json_get_array:
 * @obj: (nullable): an object
 * @name: a member name
 *
 * Returns: (transfer none) (nullable): the array member @name of @obj, or %NULL
 */
JsonArray *
msgtrk_json_get_array (JsonObject *obj,
                       const char *name)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

/**
 * msgtrk_json_get_int:
 * @obj: (nullable): an object
 * @name: a member name
 * @value: (out): where to store the integer
 *
 * Returns: whether @obj has an integer member @name (a string "5" is not one)
 */
gboolean
msgtrk_json_get_int (JsonObject *obj,
                     const char *name,
                     gint64     *value)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

/**
 * msgtrk_json_array_get_object:
 * @array: (nullable): an array
 * @index: an index
 *
 * Returns: (transfer none) (nullable): element @index of @array if it is an object, else
 *   %NULL (also past the end)
 */
JsonObject *
msgtrk_json_array_get_object (JsonArray *array,
                              guint      index)
{
  JsonNode *node;

  if (array == NULL || index >= json_array_get_length (array))
    return NULL;
  node = json_array_get_element (array, index);
  return JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}
