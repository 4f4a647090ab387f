/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-answer.c: MsgtrkMtqpAnswer, the outcome of one TRACK query (RFC 3887).
 *
 * What: an immutable-to-callers record of one answer: which server, over what TLS, the
 * status indicator, response codes and text, the tracking entity and its parsed reports,
 * or the error. How: msgtrk-mtqp-client.c fills the instance struct
 * (msgtrk-mtqp-answer-private.h) and hands the object out; this file is the class and its
 * getters only.
 * Limits: none of its own; the client bounds the entity and the report count.
 * Never: holds a secret (the client masks echoes before storing the text).
 */
#include "config.h"

#include "msgtrk-private.h"
#include "msgtrk-mtqp-answer-private.h"

/**
 * MsgtrkMtqpAnswer:
 *
 * The outcome of one MTQP TRACK query (RFC 3887): the server's answer for each
 * recipient, or the reason there is none.
 *
 * Since: 1.0
 */
G_DEFINE_FINAL_TYPE (MsgtrkMtqpAnswer, msgtrk_mtqp_answer, G_TYPE_OBJECT)

static void
msgtrk_mtqp_answer_finalize (GObject *object)
{
  MsgtrkMtqpAnswer *self = MSGTRK_MTQP_ANSWER (object);

  g_free (self->envid);
  g_free (self->server_host);
  g_free (self->tls_description);
  g_free (self->server_address);
  g_clear_error (&self->error);
  g_clear_pointer (&self->reports, g_ptr_array_unref);
  g_clear_pointer (&self->entity, g_bytes_unref);
  g_free (self->status);
  g_strfreev (self->codes);
  g_free (self->text);
  G_OBJECT_CLASS (msgtrk_mtqp_answer_parent_class)->finalize (object);
}

static void
msgtrk_mtqp_answer_class_init (MsgtrkMtqpAnswerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = msgtrk_mtqp_answer_finalize;
}

static void
msgtrk_mtqp_answer_init (MsgtrkMtqpAnswer *self)
{
  self->reports = g_ptr_array_new_with_free_func (g_object_unref);
  self->codes = g_new0 (char *, 1);
}

/* An empty answer for @envid; the client fills it (msgtrk-mtqp-answer-private.h). */
MsgtrkMtqpAnswer *
msgtrk_mtqp_answer_new_for_envid (const char *envid)
{
  MsgtrkMtqpAnswer *self = g_object_new (MSGTRK_TYPE_MTQP_ANSWER, NULL);

  self->envid = g_strdup (envid);
  return self;
}

/**
 * msgtrk_mtqp_answer_get_envid:
 * @self: an answer
 *
 * Gets the ENVID the query asked about.
 *
 * Returns: the ENVID this answer is for, as given to the track call
 *
 * Since: 1.0
 */
const char *
msgtrk_mtqp_answer_get_envid (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return self->envid;
}

/**
 * msgtrk_mtqp_answer_get_server_host:
 * @self: an answer
 *
 * Gets the name of the server that answered.
 *
 * Returns: (nullable): the name of the server that answered (the SRV target, MX host or
 *   host given), or %NULL if the query never reached a server
 *
 * Since: 1.0
 */
const char *
msgtrk_mtqp_answer_get_server_host (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return self->server_host;
}

/**
 * msgtrk_mtqp_answer_get_discovered_port:
 * @self: an answer
 *
 * The port that discovery named for the server (an SRV record's port, else
 * %MSGTRK_MTQP_PORT), which is what an mtqp:// URL for this server carries. It differs
 * from [method@Msgtrk.MtqpAnswer.get_server_port] only when a host override sent the
 * connection elsewhere.
 *
 * Returns: the port, or 0 if no server answered
 *
 * Since: 1.0
 */
guint16
msgtrk_mtqp_answer_get_discovered_port (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), 0);
  return self->discovered_port;
}

/**
 * msgtrk_mtqp_answer_get_server_port:
 * @self: an answer
 *
 * Gets the TCP port of the server that answered.
 *
 * Returns: the TCP port of the server that answered, 0 if none
 *
 * Since: 1.0
 */
guint16
msgtrk_mtqp_answer_get_server_port (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), 0);
  return self->server_port;
}

/**
 * msgtrk_mtqp_answer_get_tls_description:
 * @self: an answer
 *
 * Describes the TLS session the answer came over.
 *
 * Returns: (nullable): the TLS version and cipher of the session, e.g.
 *   "TLSv1.3 TLS_AES_256_GCM_SHA384", or %NULL if the session was in clear text
 *
 * Since: 1.0
 */
const char *
msgtrk_mtqp_answer_get_tls_description (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return self->tls_description;
}

/**
 * msgtrk_mtqp_answer_is_success:
 * @self: an answer
 *
 * Checks whether the query brought tracking data.
 *
 * Returns: %TRUE if the server answered with tracking data that could be parsed
 *
 * Since: 1.0
 */
gboolean
msgtrk_mtqp_answer_is_success (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), FALSE);
  return self->error == NULL;
}

/**
 * msgtrk_mtqp_answer_get_error:
 * @self: an answer
 *
 * The error of this query: %MSGTRK_ERROR_SERVER_TEMP, %MSGTRK_ERROR_SERVER_ERR or
 * %MSGTRK_ERROR_SERVER_BAD for a negative answer (see the response codes), or a
 * connection, limit, timeout or parse error.
 *
 * Returns: (nullable) (transfer none): the error, or %NULL on success
 *
 * Since: 1.0
 */
const GError *
msgtrk_mtqp_answer_get_error (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return self->error;
}

/**
 * msgtrk_mtqp_answer_propagate_error:
 * @self: an answer
 * @error: return location for a copy of the answer's error
 *
 * Copies the reason the query failed, if it did, into @error.
 *
 * Returns: %TRUE on success, %FALSE with @error set if the query failed
 *
 * Since: 1.0
 */
gboolean
msgtrk_mtqp_answer_propagate_error (MsgtrkMtqpAnswer *self,
                                    GError          **error)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), FALSE);

  if (self->error == NULL)
    return TRUE;
  g_propagate_error (error, g_error_copy (self->error));
  return FALSE;
}

/**
 * msgtrk_mtqp_answer_get_reports:
 * @self: an answer
 *
 * Gets the delivery reports the server answered with.
 *
 * Only reports about the ENVID asked are here: a report whose Original-Envelope-Id
 * (xtext-decoded) is not the ENVID, or that has none, is dropped; an answer left with no
 * report fails with %MSGTRK_ERROR_PROTOCOL.
 *
 * Returns: (transfer none) (element-type MsgtrkReport): the tracking reports, one per
 *   reporting MTA; empty when the query failed
 *
 * Since: 1.0
 */
GPtrArray *
msgtrk_mtqp_answer_get_reports (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return self->reports;
}

/**
 * msgtrk_mtqp_answer_get_entity:
 * @self: an answer
 *
 * The MIME entity of a `+OK+` answer as received (dot-stuffing removed, lines ending in
 * CRLF), kept for diagnostics; set even when it could not be parsed. It may hold parts
 * about other messages that [method@Msgtrk.MtqpAnswer.get_reports] dropped: use the
 * reports, not the entity, as this message's tracking data.
 *
 * Returns: (nullable) (transfer none): the entity, or %NULL if there was none
 *
 * Since: 1.0
 */
GBytes *
msgtrk_mtqp_answer_get_entity (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return self->entity;
}

/**
 * msgtrk_mtqp_answer_get_status:
 * @self: an answer
 *
 * Gets the status indicator of the server's answer.
 *
 * Returns: (nullable): the status indicator the server sent ("+OK+", "-ERR", …), or %NULL
 *   if it sent none
 *
 * Since: 1.0
 */
const char *
msgtrk_mtqp_answer_get_status (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return self->status;
}

/**
 * msgtrk_mtqp_answer_get_response_codes:
 * @self: an answer
 *
 * Gets the response codes of the server's status line.
 *
 * Returns: (transfer none) (array zero-terminated=1): the response codes of the status
 *   line, lower-cased (`-TEMP/busy/retry` gives "busy", "retry"); empty if none
 *
 * Since: 1.0
 */
const char * const *
msgtrk_mtqp_answer_get_response_codes (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return (const char * const *) self->codes;
}

/**
 * msgtrk_mtqp_answer_has_response_code:
 * @self: an answer
 * @code: a response code, compared without regard to case
 *
 * Checks whether the server's status line carried a response code.
 *
 * Returns: %TRUE if the status line carried @code
 *
 * Since: 1.0
 */
gboolean
msgtrk_mtqp_answer_has_response_code (MsgtrkMtqpAnswer *self,
                                      const char       *code)
{
  guint i;

  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), FALSE);
  g_return_val_if_fail (code != NULL, FALSE);

  for (i = 0; self->codes[i] != NULL; i++)
    if (g_ascii_strcasecmp (self->codes[i], code) == 0)
      return TRUE;
  return FALSE;
}

/**
 * msgtrk_mtqp_answer_get_response_text:
 * @self: an answer
 *
 * The free text after the status indicator, meant for logs (never shown as is to
 * users). Control characters are escaped and any echo of the secret is masked.
 *
 * Returns: (nullable): the text, or %NULL if the server sent no status line
 *
 * Since: 1.0
 */
const char *
msgtrk_mtqp_answer_get_response_text (MsgtrkMtqpAnswer *self)
{
  g_return_val_if_fail (MSGTRK_IS_MTQP_ANSWER (self), NULL);
  return self->text;
}

