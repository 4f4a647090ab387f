/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-envelope.c: MsgtrkEnvelope, the SMTP side of tracking (RFC 3461 DSN, RFC 3885
 * MTRK, RFC 5321).
 *
 * What it is for:
 * - Client side: the arguments of MAIL FROM and RCPT TO, built from what the server offered
 *   (#MsgtrkSmtpCapabilities, msgtrk-smtp-capabilities.c) with the writers of the SMTP
 *   syntax layer (msgtrk-smtp-syntax.c: paths, ENVID, RET, MTRK, NOTIFY, ORCPT).
 * - Server side: msgtrk_envelope_new_from_mail_params(), the envelope a server received,
 *   from MAIL parameters parsed by the syntax layer.
 *
 * Decisions (also in docs/envelope-parameters.md):
 * - ENVID and RET go on MAIL only if the server offered DSN; NOTIFY and ORCPT on RCPT too.
 * - MTRK goes on MAIL only if the server offered MTRK *and* DSN and an authenticator is set:
 *   RFC 3885 says ENVID accompanies MTRK, and ENVID belongs to DSN. A server that offers
 *   MTRK without DSN gets neither (the status then says "no tracking offered").
 * - Addresses: libmsgtrk's one mailbox grammar (msgtrk_smtp_path_write()): a local part,
 *   '@' and a domain (or "postmaster" for RCPT), at most MSGTRK_SMTP_ADDRESS_MAX_LENGTH
 *   octets, never '<' or '>'. Non-ASCII (UTF-8) addresses need the server's SMTPUTF8; then
 *   a non-ASCII sender adds the SMTPUTF8 parameter to MAIL (the caller adds it when only
 *   recipients are non-ASCII), and a non-ASCII recipient gets no ORCPT (RFC 3461 wants
 *   printable US-ASCII in rfc822 ORCPT; the RFC 6533 utf-8 form is not implemented).
 *   Without SMTPUTF8 they are refused with MSGTRK_ERROR_UNSUPPORTED.
 * - Built command lines are checked against MSGTRK_SMTP_MAIL_LINE_MAX and
 *   MSGTRK_SMTP_RCPT_LINE_MAX; with the address, ENVID and ORCPT limits in force those
 *   checks cannot fail today (worst cases 437 and 802 octets), they guard future parameters.
 * - ENVIDs received from elsewhere (server side) may contain any printable US-ASCII after
 *   xtext decoding (RFC 3461 section 4.4); such envelopes keep the decoded ENVID and are
 *   re-encoded as xtext when passed on. msgtrk_envid_is_valid() is only the stricter form
 *   that needs no escaping, the one msgtrk_envelope_new() takes.
 *
 * Limits: every one is a named constant in msgtrk-envelope.h.
 *
 * Never: truncate a command line, emit CR/LF or NUL into a command, log or quote B (the
 * authenticator is not secret, but error messages never need it), or abort on remote input.
 */
#include "config.h"

#include <string.h>

#include "msgtrk-private.h"
#include "msgtrk-smtp-syntax-private.h"
#include "msgtrk-smtp-short-private.h"

/**
 * MsgtrkEnvelope:
 *
 * The DSN/MTRK envelope of one message: ENVID, authenticator B, MTRK timeout, RET and
 * NOTIFY. On the client it builds the MAIL FROM and RCPT TO arguments from what the
 * server offered; on a server it is made from the received MAIL parameters.
 *
 * Since: 1.0
 */
struct _MsgtrkEnvelope
{
  GObject parent_instance;

  char *envid;         /* (owned) decoded form */
  char *authenticator; /* (owned) (nullable) B, base64 */
  guint mtrk_timeout;  /* seconds, 0 = none */
  MsgtrkDsnRet ret;
  MsgtrkDsnNotify notify;
};

enum
{
  PROP_0,
  PROP_ENVID,
  PROP_AUTHENTICATOR,
  PROP_MTRK_TIMEOUT,
  PROP_RET,
  PROP_NOTIFY,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE (MsgtrkEnvelope, msgtrk_envelope, G_TYPE_OBJECT)

static void
msgtrk_envelope_finalize (GObject *object)
{
  MsgtrkEnvelope *self = MSGTRK_ENVELOPE (object);

  g_free (self->envid);
  g_free (self->authenticator);
  G_OBJECT_CLASS (msgtrk_envelope_parent_class)->finalize (object);
}

static void
msgtrk_envelope_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  MsgtrkEnvelope *self = MSGTRK_ENVELOPE (object);

  switch (prop_id)
    {
    case PROP_ENVID:
      g_value_set_string (value, self->envid);
      break;
    case PROP_AUTHENTICATOR:
      g_value_set_string (value, self->authenticator);
      break;
    case PROP_MTRK_TIMEOUT:
      g_value_set_uint (value, self->mtrk_timeout);
      break;
    case PROP_RET:
      g_value_set_enum (value, self->ret);
      break;
    case PROP_NOTIFY:
      g_value_set_flags (value, self->notify);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
msgtrk_envelope_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  MsgtrkEnvelope *self = MSGTRK_ENVELOPE (object);

  switch (prop_id)
    {
    case PROP_ENVID:
      g_free (self->envid);
      self->envid = g_value_dup_string (value);
      break;
    case PROP_AUTHENTICATOR:
      msgtrk_envelope_set_authenticator (self, g_value_get_string (value));
      break;
    case PROP_MTRK_TIMEOUT:
      msgtrk_envelope_set_mtrk_timeout (self, g_value_get_uint (value));
      break;
    case PROP_RET:
      msgtrk_envelope_set_ret (self, g_value_get_enum (value));
      break;
    case PROP_NOTIFY:
      msgtrk_envelope_set_notify (self, g_value_get_flags (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
msgtrk_envelope_class_init (MsgtrkEnvelopeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = msgtrk_envelope_finalize;
  object_class->get_property = msgtrk_envelope_get_property;
  object_class->set_property = msgtrk_envelope_set_property;

  /**
   * MsgtrkEnvelope:envid:
   *
   * The ENVID, decoded (not xtext); %NULL only for a message a server received without
   * one (msgtrk_envelope_new_received()).
   *
   * Since: 1.0
   */
  props[PROP_ENVID] =
    g_param_spec_string ("envid", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * MsgtrkEnvelope:authenticator:
   *
   * The authenticator B (base64, %MSGTRK_AUTHENTICATOR_LENGTH characters) for the MTRK
   * parameter, or %NULL for none.
   *
   * Since: 1.0
   */
  props[PROP_AUTHENTICATOR] =
    g_param_spec_string ("authenticator", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * MsgtrkEnvelope:mtrk-timeout:
   *
   * Seconds for which the servers should keep tracking data (MTRK=B:timeout); 0 omits it.
   *
   * Since: 1.0
   */
  props[PROP_MTRK_TIMEOUT] =
    g_param_spec_uint ("mtrk-timeout", NULL, NULL, 0, MSGTRK_MTRK_TIMEOUT_MAX, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * MsgtrkEnvelope:ret:
   *
   * The DSN RET parameter.
   *
   * Since: 1.0
   */
  props[PROP_RET] =
    g_param_spec_enum ("ret", NULL, NULL, MSGTRK_TYPE_DSN_RET, MSGTRK_DSN_RET_UNSET,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * MsgtrkEnvelope:notify:
   *
   * The DSN NOTIFY parameter given to every recipient.
   *
   * Since: 1.0
   */
  props[PROP_NOTIFY] =
    g_param_spec_flags ("notify", NULL, NULL, MSGTRK_TYPE_DSN_NOTIFY, MSGTRK_DSN_NOTIFY_UNSET,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
msgtrk_envelope_init (MsgtrkEnvelope *self)
{
}

/**
 * msgtrk_envelope_new:
 * @envid: the ENVID, valid for msgtrk_envid_is_valid() (e.g. from
 *   msgtrk_envid_generate())
 *
 * Makes the client-side envelope of one message: no authenticator, no MTRK timeout, no
 * RET, no NOTIFY. A tracking client normally sets RET=HDRS and
 * NOTIFY=SUCCESS,FAILURE,DELAY (RFC 3885: DSN gives the primary status).
 *
 * Returns: (transfer full): the envelope
 *
 * Since: 1.0
 */
MsgtrkEnvelope *
msgtrk_envelope_new (const char *envid)
{
  g_return_val_if_fail (envid != NULL, NULL);
  g_return_val_if_fail (msgtrk_envid_is_valid (envid, NULL), NULL);

  return g_object_new (MSGTRK_TYPE_ENVELOPE, "envid", envid, NULL);
}

/**
 * msgtrk_envelope_new_received:
 * @envid: (nullable): the ENVID as a server received it, decoded (not xtext), or %NULL
 *   for a message that came without one
 * @error: return location for a #GError
 *
 * Makes the envelope of a message a server received and passes on (a relay): unlike
 * msgtrk_envelope_new(), @envid may be any ENVID RFC 3461 section 4.4 allows, i.e. any
 * non-empty printable US-ASCII whose xtext form has at most %MSGTRK_ENVID_MAX_LENGTH
 * characters (the same check as msgtrk_envid_param_parse()). Without an ENVID the MAIL
 * FROM builder adds neither ENVID nor MTRK.
 *
 * Fails with %MSGTRK_ERROR_PARSE (empty, or not printable US-ASCII) or
 * %MSGTRK_ERROR_LIMIT (too long as xtext).
 *
 * Returns: (transfer full): the envelope, or %NULL with @error set
 *
 * Since: 1.0
 */
MsgtrkEnvelope *
msgtrk_envelope_new_received (const char *envid,
                              GError    **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (envid != NULL && !msgtrk_smtp_envid_received_check (envid, error))
    return NULL;
  return g_object_new (MSGTRK_TYPE_ENVELOPE, "envid", envid, NULL);
}

/**
 * msgtrk_envelope_get_envid:
 * @self: a #MsgtrkEnvelope
 *
 * Reads the envelope's ENVID.
 *
 * Returns: (nullable): the ENVID, decoded; %NULL only for an envelope received without
 *   one (msgtrk_envelope_new_received())
 *
 * Since: 1.0
 */
const char *
msgtrk_envelope_get_envid (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);

  return self->envid;
}

/* The enum members are set through a guint pointer. */
G_STATIC_ASSERT (sizeof (MsgtrkDsnRet) == sizeof (guint));
G_STATIC_ASSERT (sizeof (MsgtrkDsnNotify) == sizeof (guint));

/* Sets a number-valued member (a count, an enum, flags) and notifies its property if it
 * changed: the body of every such setter. */
static void
envelope_set_uint (MsgtrkEnvelope *self,
                   guint          *member,
                   guint           value,
                   guint           prop)
{
  if (*member == value)
    return;
  *member = value;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

/**
 * msgtrk_envelope_set_authenticator:
 * @self: a #MsgtrkEnvelope
 * @authenticator: (nullable): B, base64 (%MSGTRK_AUTHENTICATOR_LENGTH characters), or
 *   %NULL to send no MTRK parameter
 *
 * Sets the authenticator sent as MTRK=B where the server offers MTRK and DSN.
 *
 * Since: 1.0
 */
void
msgtrk_envelope_set_authenticator (MsgtrkEnvelope *self,
                                   const char     *authenticator)
{
  g_return_if_fail (MSGTRK_IS_ENVELOPE (self));
  g_return_if_fail (authenticator == NULL || msgtrk_smtp_authenticator_form_ok (authenticator));

  if (g_strcmp0 (self->authenticator, authenticator) == 0)
    return;
  g_free (self->authenticator);
  self->authenticator = g_strdup (authenticator);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_AUTHENTICATOR]);
}

/**
 * msgtrk_envelope_get_authenticator:
 * @self: a #MsgtrkEnvelope
 *
 * Reads the authenticator B the envelope sends with MTRK.
 *
 * Returns: (nullable): the authenticator B, or %NULL
 *
 * Since: 1.0
 */
const char *
msgtrk_envelope_get_authenticator (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);

  return self->authenticator;
}

/**
 * msgtrk_envelope_set_mtrk_timeout:
 * @self: a #MsgtrkEnvelope
 * @seconds: 1 to %MSGTRK_MTRK_TIMEOUT_MAX, or 0 to send no timeout
 *
 * Sets how long the servers should keep tracking data (MTRK=B:seconds).
 *
 * Since: 1.0
 */
void
msgtrk_envelope_set_mtrk_timeout (MsgtrkEnvelope *self,
                                  guint           seconds)
{
  g_return_if_fail (MSGTRK_IS_ENVELOPE (self));
  g_return_if_fail (seconds <= MSGTRK_MTRK_TIMEOUT_MAX);

  envelope_set_uint (self, &self->mtrk_timeout, seconds, PROP_MTRK_TIMEOUT);
}

/**
 * msgtrk_envelope_get_mtrk_timeout:
 * @self: a #MsgtrkEnvelope
 *
 * Reads how long, in seconds, servers are asked to keep tracking data.
 *
 * Returns: the MTRK timeout in seconds, 0 for none
 *
 * Since: 1.0
 */
guint
msgtrk_envelope_get_mtrk_timeout (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), 0);

  return self->mtrk_timeout;
}

/**
 * msgtrk_envelope_set_ret:
 * @self: a #MsgtrkEnvelope
 * @ret: the RET parameter
 *
 * Sets what a DSN should return of the message.
 *
 * Since: 1.0
 */
void
msgtrk_envelope_set_ret (MsgtrkEnvelope *self,
                         MsgtrkDsnRet    ret)
{
  g_return_if_fail (MSGTRK_IS_ENVELOPE (self));
  g_return_if_fail (ret == MSGTRK_DSN_RET_UNSET || ret == MSGTRK_DSN_RET_HDRS
                    || ret == MSGTRK_DSN_RET_FULL);

  envelope_set_uint (self, (guint *) &self->ret, ret, PROP_RET);
}

/**
 * msgtrk_envelope_get_ret:
 * @self: a #MsgtrkEnvelope
 *
 * Reads the DSN RET parameter.
 *
 * Returns: the RET parameter
 *
 * Since: 1.0
 */
MsgtrkDsnRet
msgtrk_envelope_get_ret (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), MSGTRK_DSN_RET_UNSET);

  return self->ret;
}

/**
 * msgtrk_envelope_set_notify:
 * @self: a #MsgtrkEnvelope
 * @notify: the NOTIFY flags; %MSGTRK_DSN_NOTIFY_NEVER only alone
 *
 * Sets the NOTIFY parameter given to every recipient.
 *
 * Since: 1.0
 */
void
msgtrk_envelope_set_notify (MsgtrkEnvelope *self,
                            MsgtrkDsnNotify notify)
{
  g_return_if_fail (MSGTRK_IS_ENVELOPE (self));
  g_return_if_fail (msgtrk_smtp_notify_is_consistent (notify));

  envelope_set_uint (self, (guint *) &self->notify, notify, PROP_NOTIFY);
}

/**
 * msgtrk_envelope_get_notify:
 * @self: a #MsgtrkEnvelope
 *
 * Reads the DSN NOTIFY parameter.
 *
 * Returns: the NOTIFY flags
 *
 * Since: 1.0
 */
MsgtrkDsnNotify
msgtrk_envelope_get_notify (MsgtrkEnvelope *self)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), MSGTRK_DSN_NOTIFY_UNSET);

  return self->notify;
}

/* Appends "<" @address ">" (msgtrk_smtp_path_write(): the one mailbox grammar), the error
 * naming the @what address. */
static gboolean
write_path (GString    *arg,
            const char *address,
            const char *what,
            guint       flags,
            gboolean    smtputf8,
            gboolean   *non_ascii,
            GError    **error)
{
  if (smtputf8)
    flags |= MSGTRK_SMTP_PATH_UTF8;
  if (!msgtrk_smtp_path_write (arg, address, flags, MSGTRK_SMTP_ADDRESS_MAX_LENGTH, non_ascii,
                               error))
    {
      g_autofree char *quoted = quote (address);

      g_prefix_error (error, _("The %s address “%s”: "), what, quoted);
      return FALSE;
    }
  return TRUE;
}

static gboolean
caps_has (MsgtrkSmtpCapabilities *caps,
          const char             *keyword)
{
  return caps != NULL && msgtrk_smtp_capabilities_has (caps, keyword);
}

/**
 * msgtrk_envelope_build_mail_from_arg:
 * @self: a #MsgtrkEnvelope
 * @caps: (nullable): what the server offered in its EHLO reply, %NULL if nothing (HELO)
 * @sender: the sender's address without angle brackets, "" for the null reverse-path
 * @error: return location for a #GError
 *
 * Builds the argument of MAIL FROM:
 * `<sender>[ RET=HDRS|FULL][ ENVID=<xtext>][ MTRK=<B>[:timeout]][ SMTPUTF8]`.
 * RET (if set) and ENVID are added only if @caps offers DSN; MTRK only if @caps offers
 * both MTRK and DSN (RFC 3885: ENVID accompanies MTRK) and an authenticator is set. An
 * envelope without ENVID (msgtrk_envelope_new_received()) adds neither ENVID nor MTRK;
 * SMTPUTF8 only for a non-ASCII sender, which needs @caps to offer SMTPUTF8.
 *
 * Fails with %MSGTRK_ERROR_PARSE for a hostile or malformed sender (control characters,
 * angle brackets, unquoted spaces), %MSGTRK_ERROR_UNSUPPORTED for a non-ASCII sender
 * without SMTPUTF8, and %MSGTRK_ERROR_LIMIT for a sender longer than
 * %MSGTRK_SMTP_ADDRESS_MAX_LENGTH or a command line ("MAIL FROM:" + argument + CRLF)
 * longer than %MSGTRK_SMTP_MAIL_LINE_MAX. Nothing is ever truncated.
 *
 * Returns: (transfer full): the argument, or %NULL with @error set
 *
 * Since: 1.0
 */
char *
msgtrk_envelope_build_mail_from_arg (MsgtrkEnvelope         *self,
                                     MsgtrkSmtpCapabilities *caps,
                                     const char             *sender,
                                     GError                **error)
{
  g_autoptr (GString) arg = NULL;
  gboolean has_dsn, non_ascii;

  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);
  g_return_val_if_fail (caps == NULL || MSGTRK_IS_SMTP_CAPABILITIES (caps), NULL);
  g_return_val_if_fail (sender != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  arg = g_string_new (NULL);
  if (!write_path (arg, sender, _("sender"), MSGTRK_SMTP_PATH_NULL, caps_has (caps, "SMTPUTF8"),
                   &non_ascii, error))
    return NULL;

  has_dsn = caps_has (caps, "DSN");
  if (has_dsn && self->ret != MSGTRK_DSN_RET_UNSET)
    msgtrk_smtp_param_write (arg, "RET", msgtrk_smtp_ret_param_word (self->ret), NULL);

  if (has_dsn && self->envid != NULL && !msgtrk_smtp_envid_param_write (arg, self->envid, error))
    return NULL;

  if (has_dsn && caps_has (caps, "MTRK") && self->envid != NULL && self->authenticator != NULL
      && !msgtrk_smtp_mtrk_param_write (arg, self->authenticator, self->mtrk_timeout, error))
    return NULL;

  if (non_ascii)
    msgtrk_smtp_param_write (arg, "SMTPUTF8", NULL, NULL);

  if (strlen ("MAIL FROM:") + arg->len + strlen ("\r\n") > MSGTRK_SMTP_MAIL_LINE_MAX)
    {
      fail (error, MSGTRK_ERROR_LIMIT,
            _("The MAIL FROM command would be longer than %d octets."),
            MSGTRK_SMTP_MAIL_LINE_MAX);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&arg), FALSE);
}

/*
 * The one RCPT TO builder behind msgtrk_envelope_build_rcpt_to_arg() and
 * msgtrk_envelope_build_rcpt_to_arg_full(): @orcpt_type NULL means the default ORCPT
 * ("rfc822;" + @recipient, none for a non-ASCII recipient); otherwise @orcpt_type and
 * @orcpt_address (decoded) are checked and the address is xtext-encoded.
 *
 *   orcpt-parameter = "ORCPT=" addr-type ";" xtext      (RFC 3461 section 4.2)
 */
static char *
build_rcpt_to_arg (MsgtrkEnvelope         *self,
                   MsgtrkSmtpCapabilities *caps,
                   const char             *recipient,
                   MsgtrkDsnNotify         notify,
                   const char             *orcpt_type,
                   const char             *orcpt_address,
                   GError                **error)
{
  g_autoptr (GString) arg = g_string_new (NULL);
  gboolean has_dsn, non_ascii;

  if (!write_path (arg, recipient, _("recipient"), MSGTRK_SMTP_PATH_POSTMASTER,
                   caps_has (caps, "SMTPUTF8"), &non_ascii, error))
    return NULL;

  has_dsn = caps_has (caps, "DSN");
  if (has_dsn && notify != MSGTRK_DSN_NOTIFY_UNSET)
    {
      g_autofree char *notify_text = msgtrk_notify_param_format (notify);

      msgtrk_smtp_param_write (arg, "NOTIFY", notify_text, NULL);
    }

  /* The default ORCPT is "rfc822;" + the recipient, none for a non-ASCII recipient. The
   * given one is checked even without DSN, so that a bad value never passes silently. */
  if (orcpt_type != NULL)
    {
      g_autoptr (GString) orcpt = g_string_new (NULL);

      if (!msgtrk_smtp_orcpt_param_write (orcpt, orcpt_type, orcpt_address, error))
        return NULL;
      if (has_dsn)
        g_string_append_len (arg, orcpt->str, orcpt->len);
    }
  else if (has_dsn && !non_ascii
           && !msgtrk_smtp_orcpt_param_write (arg, "rfc822", recipient, error))
    return NULL;

  if (strlen ("RCPT TO:") + arg->len + strlen ("\r\n") > MSGTRK_SMTP_RCPT_LINE_MAX)
    {
      fail (error, MSGTRK_ERROR_LIMIT,
            _("The RCPT TO command would be longer than %d octets."),
            MSGTRK_SMTP_RCPT_LINE_MAX);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&arg), FALSE);
}

/**
 * msgtrk_envelope_build_rcpt_to_arg:
 * @self: a #MsgtrkEnvelope
 * @caps: (nullable): what the server offered in its EHLO reply, %NULL if nothing
 * @recipient: the recipient's address without angle brackets
 * @error: return location for a #GError
 *
 * Builds the argument of RCPT TO: `<recipient>[ NOTIFY=…][ ORCPT=rfc822;<xtext>]`.
 * NOTIFY (if set) and ORCPT are added only if @caps offers DSN. A non-ASCII recipient
 * (allowed only if @caps offers SMTPUTF8) gets no ORCPT: RFC 3461 wants printable
 * US-ASCII in an rfc822 ORCPT.
 *
 * Fails like msgtrk_envelope_build_mail_from_arg() (the empty address is refused here),
 * and with %MSGTRK_ERROR_LIMIT if the ORCPT value would be longer than
 * %MSGTRK_ORCPT_MAX_LENGTH or the line ("RCPT TO:" + argument + CRLF) longer than
 * %MSGTRK_SMTP_RCPT_LINE_MAX.
 *
 * See msgtrk_envelope_build_rcpt_to_arg_full() for a per-recipient NOTIFY and a given
 * ORCPT (what a relay forwards).
 *
 * Returns: (transfer full): the argument, or %NULL with @error set
 *
 * Since: 1.0
 */
char *
msgtrk_envelope_build_rcpt_to_arg (MsgtrkEnvelope         *self,
                                   MsgtrkSmtpCapabilities *caps,
                                   const char             *recipient,
                                   GError                **error)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);
  g_return_val_if_fail (caps == NULL || MSGTRK_IS_SMTP_CAPABILITIES (caps), NULL);
  g_return_val_if_fail (recipient != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return build_rcpt_to_arg (self, caps, recipient, self->notify, NULL, NULL, error);
}

/**
 * msgtrk_envelope_build_rcpt_to_arg_full:
 * @self: a #MsgtrkEnvelope
 * @caps: (nullable): what the server offered in its EHLO reply, %NULL if nothing
 * @recipient: the recipient's address without angle brackets
 * @notify: this recipient's NOTIFY; %MSGTRK_DSN_NOTIFY_UNSET for no NOTIFY parameter
 *   (the envelope's own NOTIFY is not used)
 * @orcpt_type: (nullable): the ORCPT address type as received (e.g. "rfc822"), or %NULL
 *   for the default ORCPT of msgtrk_envelope_build_rcpt_to_arg()
 * @orcpt_address: (nullable): the decoded original recipient address; given exactly when
 *   @orcpt_type is
 * @error: return location for a #GError
 *
 * Like msgtrk_envelope_build_rcpt_to_arg(), for one recipient whose NOTIFY and ORCPT are
 * known, e.g. a relay passing on what it received: RFC 3461 section 4.2 wants a received
 * ORCPT passed to the next hop unchanged, and section 5.2.1 says the same of NOTIFY. The
 * ORCPT goes out as `@orcpt_type;xtext(@orcpt_address)` (the type as given, the address
 * re-encoded as canonical xtext: the value is unchanged even where the sender escaped
 * more than needed). NOTIFY and ORCPT are added only if @caps offers DSN.
 *
 * Fails like msgtrk_envelope_build_rcpt_to_arg(), and with %MSGTRK_ERROR_PARSE if
 * @orcpt_type is not an atom or @orcpt_address is empty or not printable US-ASCII.
 *
 * Returns: (transfer full): the argument, or %NULL with @error set
 *
 * Since: 1.0
 */
char *
msgtrk_envelope_build_rcpt_to_arg_full (MsgtrkEnvelope         *self,
                                        MsgtrkSmtpCapabilities *caps,
                                        const char             *recipient,
                                        MsgtrkDsnNotify         notify,
                                        const char             *orcpt_type,
                                        const char             *orcpt_address,
                                        GError                **error)
{
  g_return_val_if_fail (MSGTRK_IS_ENVELOPE (self), NULL);
  g_return_val_if_fail (caps == NULL || MSGTRK_IS_SMTP_CAPABILITIES (caps), NULL);
  g_return_val_if_fail (recipient != NULL, NULL);
  g_return_val_if_fail (msgtrk_smtp_notify_is_consistent (notify), NULL);
  g_return_val_if_fail ((orcpt_type == NULL) == (orcpt_address == NULL), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return build_rcpt_to_arg (self, caps, recipient, notify, orcpt_type, orcpt_address, error);
}

/**
 * msgtrk_envelope_new_from_mail_params:
 * @params: (element-type utf8 utf8): MAIL parameters as msgtrk_smtp_params_parse()
 *   returns them (upper-case keys)
 * @error: return location for a #GError
 *
 * Makes the envelope a server received: ENVID (required; see msgtrk_envid_param_parse():
 * at most %MSGTRK_ENVID_MAX_LENGTH characters of xtext, decoded to printable US-ASCII and
 * kept even where msgtrk_envid_is_valid() would want no escaping), RET (see
 * msgtrk_ret_param_parse()) and MTRK (see msgtrk_mtrk_param_parse(); RFC 3885 wants
 * ENVID with it). Other parameters are ignored: the server decides which it supports.
 *
 * Fails with %MSGTRK_ERROR_PARSE (no ENVID, bad xtext, bad RET),
 * %MSGTRK_ERROR_LIMIT or %MSGTRK_ERROR_INVALID_SECRET (bad MTRK authenticator).
 *
 * Returns: (transfer full): the envelope, or %NULL with @error set
 *
 * Since: 1.0
 */
MsgtrkEnvelope *
msgtrk_envelope_new_from_mail_params (GHashTable *params,
                                      GError    **error)
{
  g_autoptr (MsgtrkEnvelope) self = NULL;
  g_autofree char *envid = NULL;
  g_autofree char *authenticator = NULL;
  const char *envid_xtext = NULL, *ret = NULL, *mtrk = NULL;
  gboolean has_envid, has_ret, has_mtrk;
  guint timeout = 0;

  g_return_val_if_fail (params != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  has_envid = g_hash_table_lookup_extended (params, "ENVID", NULL, (gpointer *) &envid_xtext);
  has_ret = g_hash_table_lookup_extended (params, "RET", NULL, (gpointer *) &ret);
  has_mtrk = g_hash_table_lookup_extended (params, "MTRK", NULL, (gpointer *) &mtrk);

  if (!has_envid)
    {
      if (has_mtrk)
        fail (error, MSGTRK_ERROR_PARSE,
              _("MAIL has an MTRK parameter but no ENVID (RFC 3885 needs both)."));
      else
        fail (error, MSGTRK_ERROR_PARSE, _("MAIL has no ENVID parameter."));
      return NULL;
    }
  if (!msgtrk_envid_param_parse (envid_xtext, &envid, error))
    return NULL;
  self = msgtrk_envelope_new_received (envid, error);
  if (self == NULL)
    return NULL;
  if (has_ret && !msgtrk_ret_param_parse (ret, &self->ret, error))
    return NULL;

  if (has_mtrk)
    {
      if (mtrk == NULL)
        {
          fail (error, MSGTRK_ERROR_PARSE, _("The MTRK parameter has no value."));
          return NULL;
        }
      if (!msgtrk_mtrk_param_parse (mtrk, &authenticator, &timeout, error))
        return NULL;
      self->authenticator = g_steal_pointer (&authenticator);
      self->mtrk_timeout = timeout;
    }

  return g_steal_pointer (&self);
}
