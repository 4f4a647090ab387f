/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-geoip.h: where an IP address is, from a MaxMind DB (.mmdb) the user has.
 *
 * What: viewer_geoip_open() opens a GeoLite2 / DB-IP City or Country database (a path, or
 *   the first of VIEWER_GEOIP_DEFAULT_PATHS); viewer_geoip_lookup() answers one address;
 *   viewer_geoip_locate_async() opens and answers a list in a worker thread (GTask), for
 *   the map view. viewer_geoip_address_is_local() says whether an address is in a private,
 *   loopback, link-local, shared (CGNAT), documentation, benchmark, multicast or reserved
 *   range: those are VIEWER_GEOIP_LOCAL ("local network") and never looked up.
 * How: libmaxminddb (optional at build time: without it every open fails with
 *   VIEWER_GEOIP_ERROR_UNSUPPORTED). IPv4-mapped IPv6 addresses are looked up as IPv4.
 * Limits: VIEWER_GEOIP_MAX_ADDRESSES per locate call; VIEWER_GEOIP_MAX_NAME bytes of a
 *   place name; a file over VIEWER_GEOIP_MAX_DB_BYTES is refused.
 * Never: guesses a place for a local address; sends anything anywhere (lookups are local).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** VIEWER_GEOIP_MAX_ADDRESSES: addresses one viewer_geoip_locate_async() call answers. */
#define VIEWER_GEOIP_MAX_ADDRESSES 256
/** VIEWER_GEOIP_MAX_NAME: bytes of a city or country name kept (longer: cut at a character). */
#define VIEWER_GEOIP_MAX_NAME 128
/** VIEWER_GEOIP_MAX_DB_BYTES: largest database file opened (GeoLite2-City is about 70 MB). */
#define VIEWER_GEOIP_MAX_DB_BYTES (G_GINT64_CONSTANT (1) << 30)
/** VIEWER_GEOIP_DEFAULT_PATHS: tried in order when no path is set (NULL-terminated). */
#define VIEWER_GEOIP_DEFAULT_PATHS                                                             \
  { "/var/lib/GeoIP/GeoLite2-City.mmdb", "/usr/share/GeoIP/GeoLite2-City.mmdb",                \
    "/var/lib/GeoIP/dbip-city-lite.mmdb", "/usr/share/GeoIP/dbip-city-lite.mmdb",              \
    "/var/lib/GeoIP/GeoLite2-Country.mmdb", "/usr/share/GeoIP/GeoLite2-Country.mmdb",          \
    "/var/lib/GeoIP/dbip-country-lite.mmdb", "/usr/share/GeoIP/dbip-country-lite.mmdb", NULL }

#define VIEWER_GEOIP_ERROR (viewer_geoip_error_quark ())

typedef enum
{
  VIEWER_GEOIP_ERROR_NOT_FOUND,   /* no database at the path (or at any default path) */
  VIEWER_GEOIP_ERROR_INVALID,     /* not a MaxMind DB, or corrupt, or too large */
  VIEWER_GEOIP_ERROR_UNSUPPORTED, /* built without libmaxminddb */
  VIEWER_GEOIP_ERROR_ADDRESS,     /* not an IP address */
} ViewerGeoipError;

typedef enum
{
  VIEWER_GEOIP_UNKNOWN, /* a public address the database does not place */
  VIEWER_GEOIP_LOCAL,   /* private, loopback, link-local, documentation…: "local network" */
  VIEWER_GEOIP_FOUND,   /* placed: see has_coordinates, country_code, city */
} ViewerGeoipKind;

typedef struct
{
  char *address;            /* (owned): as asked */
  ViewerGeoipKind kind;
  gboolean has_coordinates; /* latitude/longitude valid (City DBs; Country DBs: FALSE) */
  double latitude, longitude;
  char *country_code;       /* (owned) (nullable): ISO 3166-1 alpha-2 */
  char *country;            /* (owned) (nullable): English name */
  char *city;               /* (owned) (nullable): English name */
} ViewerGeoipLocation;

typedef struct _ViewerGeoip ViewerGeoip;

GQuark               viewer_geoip_error_quark       (void);
gboolean             viewer_geoip_address_is_local  (const char *address);
char                *viewer_geoip_address_normalize (const char *text);
ViewerGeoip         *viewer_geoip_open              (const char *path,
                                                     GError    **error);
const char          *viewer_geoip_get_path          (ViewerGeoip *geoip);
void                 viewer_geoip_close             (ViewerGeoip *geoip);
ViewerGeoipLocation *viewer_geoip_lookup            (ViewerGeoip *geoip,
                                                     const char  *address,
                                                     GError     **error);
void                 viewer_geoip_location_free     (ViewerGeoipLocation *location);
void                 viewer_geoip_locate_async      (const char         *path,
                                                     const char *const  *addresses,
                                                     GCancellable       *cancellable,
                                                     GAsyncReadyCallback callback,
                                                     gpointer            user_data);
GPtrArray           *viewer_geoip_locate_finish     (GAsyncResult *result,
                                                     GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ViewerGeoip, viewer_geoip_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ViewerGeoipLocation, viewer_geoip_location_free)

G_END_DECLS
