/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrk-camel-settings.c: CamelNetworkSettings for the "SMTP with tracking" transport.
 *
 * What: the five network properties, overridden from the CamelNetworkSettings interface
 * (which stores their values itself), as Camel's own providers do it, and the account's
 * "track new messages" default (track-by-default; the transport itself ignores it).
 * How: set/get_property forward to camel_network_settings_{set,get,dup}_*().
 * Limits: none beyond the interface's.
 * Never: store a password.
 */
#include "config.h"

#include "msgtrk-camel-settings.h"

struct _MsgtrkCamelSettings
{
  CamelSettings parent_instance;
  gboolean track_by_default;
};

enum
{
  PROP_0,
  PROP_AUTH_MECHANISM,
  PROP_HOST,
  PROP_PORT,
  PROP_SECURITY_METHOD,
  PROP_USER,
  PROP_TRACK_BY_DEFAULT,
};

G_DEFINE_FINAL_TYPE_WITH_CODE (MsgtrkCamelSettings, msgtrk_camel_settings, CAMEL_TYPE_SETTINGS,
                               G_IMPLEMENT_INTERFACE (CAMEL_TYPE_NETWORK_SETTINGS, NULL))

static void
msgtrk_camel_settings_set_property (GObject      *object,
                                    guint         property_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  CamelNetworkSettings *ns = CAMEL_NETWORK_SETTINGS (object);

  switch (property_id)
    {
    case PROP_AUTH_MECHANISM:
      camel_network_settings_set_auth_mechanism (ns, g_value_get_string (value));
      break;
    case PROP_HOST:
      camel_network_settings_set_host (ns, g_value_get_string (value));
      break;
    case PROP_PORT:
      camel_network_settings_set_port (ns, (guint16) g_value_get_uint (value));
      break;
    case PROP_SECURITY_METHOD:
      camel_network_settings_set_security_method (ns, g_value_get_enum (value));
      break;
    case PROP_USER:
      camel_network_settings_set_user (ns, g_value_get_string (value));
      break;
    case PROP_TRACK_BY_DEFAULT:
      MSGTRK_CAMEL_SETTINGS (object)->track_by_default = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, property_id, pspec);
    }
}

static void
msgtrk_camel_settings_get_property (GObject    *object,
                                    guint       property_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  CamelNetworkSettings *ns = CAMEL_NETWORK_SETTINGS (object);

  switch (property_id)
    {
    case PROP_AUTH_MECHANISM:
      g_value_take_string (value, camel_network_settings_dup_auth_mechanism (ns));
      break;
    case PROP_HOST:
      g_value_take_string (value, camel_network_settings_dup_host (ns));
      break;
    case PROP_PORT:
      g_value_set_uint (value, camel_network_settings_get_port (ns));
      break;
    case PROP_SECURITY_METHOD:
      g_value_set_enum (value, camel_network_settings_get_security_method (ns));
      break;
    case PROP_USER:
      g_value_take_string (value, camel_network_settings_dup_user (ns));
      break;
    case PROP_TRACK_BY_DEFAULT:
      g_value_set_boolean (value, MSGTRK_CAMEL_SETTINGS (object)->track_by_default);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, property_id, pspec);
    }
}

static void
msgtrk_camel_settings_class_init (MsgtrkCamelSettingsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->set_property = msgtrk_camel_settings_set_property;
  object_class->get_property = msgtrk_camel_settings_get_property;

  g_object_class_override_property (object_class, PROP_AUTH_MECHANISM, "auth-mechanism");
  g_object_class_override_property (object_class, PROP_HOST, "host");
  g_object_class_override_property (object_class, PROP_PORT, "port");
  g_object_class_override_property (object_class, PROP_SECURITY_METHOD, "security-method");
  g_object_class_override_property (object_class, PROP_USER, "user");
  /* EDS keeps it in the transport source ("[Msgtrk-smtp Backend]" TrackByDefault); the
   * Evolution module reads it for the composer's toggle. */
  g_object_class_install_property (
    object_class, PROP_TRACK_BY_DEFAULT,
    g_param_spec_boolean ("track-by-default", "Track by default",
                          "Whether new messages of this account are tracked", FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
}

static void
msgtrk_camel_settings_init (MsgtrkCamelSettings *self)
{
}
