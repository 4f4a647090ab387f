/* SPDX-License-Identifier: GPL-3.0-or-later */
/* viewer-geoip.c: IP address → place, from a MaxMind DB (see viewer-geoip.h, docs/map.md).
 *
 * What: opens a .mmdb with libmaxminddb (MMDB_MODE_MMAP) and reads location/latitude,
 *   location/longitude, country/iso_code, country/names/en and city/names/en of a record.
 * How: addresses are parsed by GInetAddress (never by the resolver: a host name is not an
 *   address); special-purpose ranges (RFC 6890 and friends) are answered "local" from the
 *   table below before the database is asked. The async call runs open + lookups in a GTask
 *   thread; a MMDB_s is only read after open, which libmaxminddb allows from any thread.
 * Limits: see the header (addresses per call, name length, database size).
 * Never: resolves names (no DNS), guesses a place for a local address, aborts on a corrupt
 *   database (libmaxminddb checks the metadata and every pointer it follows).
 */
#include "config.h"

#include "viewer-geoip.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#ifdef HAVE_MAXMINDDB
#include <maxminddb.h>
#endif

G_DEFINE_QUARK (viewer-geoip-error-quark, viewer_geoip_error)

struct _ViewerGeoip
{
  char *path;
#ifdef HAVE_MAXMINDDB
  MMDB_s mmdb;
#endif
};

/* Special-purpose ranges, as 16-byte IPv6 prefixes (IPv4 ones as ::ffff:a.b.c.d/96+n). */
static const struct
{
  guint8 prefix[16];
  guint bits;
} local_ranges[] = {
#define V4(a, b, c, d, n) { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d }, 96 + (n) }
  V4 (0, 0, 0, 0, 8),        /* "this network" */
  V4 (10, 0, 0, 0, 8),       /* private (RFC 1918) */
  V4 (100, 64, 0, 0, 10),    /* shared address space (RFC 6598, carrier-grade NAT) */
  V4 (127, 0, 0, 0, 8),      /* loopback */
  V4 (169, 254, 0, 0, 16),   /* link-local */
  V4 (172, 16, 0, 0, 12),    /* private */
  V4 (192, 0, 0, 0, 24),     /* IETF protocol assignments */
  V4 (192, 0, 2, 0, 24),     /* documentation TEST-NET-1 */
  V4 (192, 168, 0, 0, 16),   /* private */
  V4 (198, 18, 0, 0, 15),    /* benchmarking */
  V4 (198, 51, 100, 0, 24),  /* documentation TEST-NET-2 */
  V4 (203, 0, 113, 0, 24),   /* documentation TEST-NET-3 */
  V4 (224, 0, 0, 0, 4),      /* multicast */
  V4 (240, 0, 0, 0, 4),      /* reserved, and broadcast */
#undef V4
  { { 0 }, 127 },                                     /* :: and ::1 */
  { { 0xfe, 0x80 }, 10 },                             /* link-local */
  { { 0xfc, 0x00 }, 7 },                              /* unique local */
  { { 0xfe, 0xc0 }, 10 },                             /* site-local (deprecated) */
  { { 0x20, 0x01, 0x0d, 0xb8 }, 32 },                 /* documentation */
  { { 0x3f, 0xff }, 20 },                             /* documentation (RFC 9637) */
  { { 0x01, 0x00, 0, 0, 0, 0, 0, 0 }, 64 },           /* discard-only */
  { { 0xff, 0x00 }, 8 },                              /* multicast */
};

static gboolean
prefix_matches (const guint8 *bytes,
                const guint8 *prefix,
                guint         bits)
{
  guint full = bits / 8, rest = bits % 8;

  if (memcmp (bytes, prefix, full) != 0)
    return FALSE;
  if (rest == 0)
    return TRUE;
  return ((bytes[full] ^ prefix[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Parses @text as an address literal: bare, "[…]", "[IPv6:…]" or "IPv6:…". */
static GInetAddress *
parse_literal (const char *text)
{
  g_autofree char *copy = NULL;
  char *p;
  gsize len;

  if (text == NULL)
    return NULL;
  copy = g_strstrip (g_strdup (text));
  p = copy;
  len = strlen (p);
  if (len >= 2 && p[0] == '[' && p[len - 1] == ']')
    {
      p[len - 1] = '\0';
      p++;
    }
  if (g_ascii_strncasecmp (p, "IPv6:", 5) == 0)
    p += 5;
  if (*p == '\0' || strchr (p, '%') != NULL) /* no zone ids: they name a local link */
    return NULL;
  return g_inet_address_new_from_string (p);
}

/* Fills @bytes with @address as IPv6 (IPv4 as ::ffff:a.b.c.d). */
static void
to_v6_bytes (GInetAddress *address,
             guint8        bytes[16])
{
  const guint8 *raw = g_inet_address_to_bytes (address);

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    {
      memset (bytes, 0, 10);
      bytes[10] = bytes[11] = 0xff;
      memcpy (bytes + 12, raw, 4);
    }
  else
    memcpy (bytes, raw, 16);
}

static gboolean
is_v4_mapped (const guint8 bytes[16])
{
  static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

  return memcmp (bytes, mapped, 12) == 0;
}

/**
 * viewer_geoip_address_normalize:
 * @text: (nullable): an address literal as mail headers write it ("192.0.2.1",
 *   "[192.0.2.1]", "[IPv6:2001:db8::1]", "::ffff:192.0.2.1")
 *
 * Returns: (transfer full) (nullable): the address in canonical form, an IPv4-mapped IPv6
 *   address as IPv4; NULL when @text is not an address literal (host names included)
 */
char *
viewer_geoip_address_normalize (const char *text)
{
  g_autoptr(GInetAddress) address = parse_literal (text);
  guint8 bytes[16];

  if (address == NULL)
    return NULL;
  to_v6_bytes (address, bytes);
  if (is_v4_mapped (bytes))
    return g_strdup_printf ("%u.%u.%u.%u", bytes[12], bytes[13], bytes[14], bytes[15]);
  return g_inet_address_to_string (address);
}

/**
 * viewer_geoip_address_is_local:
 * @address: an address literal (see viewer_geoip_address_normalize())
 *
 * Returns: whether @address is in a special-purpose range that has no place on a map
 *   (private, loopback, link-local, shared, documentation, benchmarking, multicast,
 *   reserved); FALSE for anything that is not an address
 */
gboolean
viewer_geoip_address_is_local (const char *address)
{
  g_autoptr(GInetAddress) parsed = parse_literal (address);
  guint8 bytes[16];
  gsize i;

  if (parsed == NULL)
    return FALSE;
  to_v6_bytes (parsed, bytes);
  for (i = 0; i < G_N_ELEMENTS (local_ranges); i++)
    if (prefix_matches (bytes, local_ranges[i].prefix, local_ranges[i].bits))
      return TRUE;
  return FALSE;
}

/**
 * viewer_geoip_open:
 * @path: (nullable): a .mmdb file, or NULL for the first of VIEWER_GEOIP_DEFAULT_PATHS
 * @error: return location for a #VIEWER_GEOIP_ERROR
 *
 * Blocking (maps the file): call from a worker thread in the viewer.
 *
 * Returns: (transfer full) (nullable): the open database
 */
ViewerGeoip *
viewer_geoip_open (const char *path,
                   GError    **error)
{
#ifdef HAVE_MAXMINDDB
  static const char *const defaults[] = VIEWER_GEOIP_DEFAULT_PATHS;
  g_autoptr(ViewerGeoip) geoip = NULL;
  GStatBuf st;
  int status;
  gsize i;

  if (path == NULL || *path == '\0')
    {
      for (i = 0; defaults[i] != NULL; i++)
        if (g_file_test (defaults[i], G_FILE_TEST_IS_REGULAR))
          break;
      if (defaults[i] == NULL)
        {
          g_set_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_NOT_FOUND,
                       "No GeoIP database found (looked in /var/lib/GeoIP and /usr/share/GeoIP)");
          return NULL;
        }
      path = defaults[i];
    }
  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_NOT_FOUND,
                   "No GeoIP database at %s", path);
      return NULL;
    }
  if ((gint64) st.st_size > VIEWER_GEOIP_MAX_DB_BYTES)
    {
      g_set_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_INVALID,
                   "GeoIP database %s is larger than %" G_GINT64_FORMAT " bytes", path,
                   VIEWER_GEOIP_MAX_DB_BYTES);
      return NULL;
    }
  geoip = g_new0 (ViewerGeoip, 1);
  status = MMDB_open (path, MMDB_MODE_MMAP, &geoip->mmdb);
  if (status != MMDB_SUCCESS)
    {
      g_set_error (error, VIEWER_GEOIP_ERROR,
                   status == MMDB_FILE_OPEN_ERROR ? VIEWER_GEOIP_ERROR_NOT_FOUND
                                                  : VIEWER_GEOIP_ERROR_INVALID,
                   "Cannot read GeoIP database %s: %s", path, MMDB_strerror (status));
      return NULL; /* geoip->path is still NULL: nothing to close */
    }
  geoip->path = g_strdup (path);
  return g_steal_pointer (&geoip);
#else
  g_set_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_UNSUPPORTED,
               "This viewer was built without GeoIP support (libmaxminddb)");
  return NULL;
#endif
}

/**
 * viewer_geoip_get_path:
 *
 * Returns: (transfer none): the file @geoip was opened from
 */
const char *
viewer_geoip_get_path (ViewerGeoip *geoip)
{
  return geoip->path;
}

/** viewer_geoip_close: unmaps and frees @geoip (NULL is fine). */
void
viewer_geoip_close (ViewerGeoip *geoip)
{
  if (geoip == NULL)
    return;
#ifdef HAVE_MAXMINDDB
  if (geoip->path != NULL)
    MMDB_close (&geoip->mmdb);
#endif
  g_free (geoip->path);
  g_free (geoip);
}

/** viewer_geoip_location_free: frees @location (NULL is fine). */
void
viewer_geoip_location_free (ViewerGeoipLocation *location)
{
  if (location == NULL)
    return;
  g_free (location->address);
  g_free (location->country_code);
  g_free (location->country);
  g_free (location->city);
  g_free (location);
}

#ifdef HAVE_MAXMINDDB
/* A UTF-8 string member at @path, valid and at most VIEWER_GEOIP_MAX_NAME bytes, or NULL. */
static char *
entry_string (MMDB_entry_s      *entry,
              const char *const *path)
{
  MMDB_entry_data_s data;
  const char *end;
  gsize len;

  if (MMDB_aget_value (entry, &data, path) != MMDB_SUCCESS || !data.has_data
      || data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size == 0)
    return NULL;
  len = MIN (data.data_size, VIEWER_GEOIP_MAX_NAME);
  if (!g_utf8_validate (data.utf8_string, len, &end))
    len = end - data.utf8_string;
  return len > 0 ? g_strndup (data.utf8_string, len) : NULL;
}

static gboolean
entry_double (MMDB_entry_s      *entry,
              const char *const *path,
              double            *out)
{
  MMDB_entry_data_s data;

  if (MMDB_aget_value (entry, &data, path) != MMDB_SUCCESS || !data.has_data)
    return FALSE;
  if (data.type == MMDB_DATA_TYPE_DOUBLE)
    *out = data.double_value;
  else if (data.type == MMDB_DATA_TYPE_FLOAT)
    *out = data.float_value;
  else
    return FALSE;
  return isfinite (*out);
}
#endif

/**
 * viewer_geoip_lookup:
 * @geoip: (nullable): an open database; NULL answers only local addresses (others UNKNOWN)
 * @address: an address literal
 * @error: return location for VIEWER_GEOIP_ERROR_ADDRESS or _INVALID (a corrupt record)
 *
 * Returns: (transfer full) (nullable): where @address is; kind LOCAL for special-purpose
 *   ranges (whatever the database says), UNKNOWN when the database has no record
 */
ViewerGeoipLocation *
viewer_geoip_lookup (ViewerGeoip *geoip,
                     const char  *address,
                     GError     **error)
{
  g_autoptr(ViewerGeoipLocation) location = NULL;
  g_autofree char *normal = viewer_geoip_address_normalize (address);

  if (normal == NULL)
    {
      g_set_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_ADDRESS,
                   "Not an IP address: %s", address != NULL ? address : "(null)");
      return NULL;
    }
  location = g_new0 (ViewerGeoipLocation, 1);
  location->address = g_strdup (address);
  location->kind = VIEWER_GEOIP_UNKNOWN;
  if (viewer_geoip_address_is_local (normal))
    {
      location->kind = VIEWER_GEOIP_LOCAL;
      return g_steal_pointer (&location);
    }
  if (geoip == NULL)
    return g_steal_pointer (&location);
#ifdef HAVE_MAXMINDDB
  {
    static const char *const lat_path[] = { "location", "latitude", NULL };
    static const char *const lon_path[] = { "location", "longitude", NULL };
    static const char *const code_path[] = { "country", "iso_code", NULL };
    static const char *const country_path[] = { "country", "names", "en", NULL };
    static const char *const city_path[] = { "city", "names", "en", NULL };
    int gai_error = 0, mmdb_error = MMDB_SUCCESS;
    MMDB_lookup_result_s result;
    g_autofree char *code = NULL;

    result = MMDB_lookup_string (&geoip->mmdb, normal, &gai_error, &mmdb_error);
    if (gai_error != 0 || mmdb_error != MMDB_SUCCESS)
      {
        /* An IPv6 address in an IPv4-only database is simply not there. */
        if (mmdb_error == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
          return g_steal_pointer (&location);
        g_set_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_INVALID,
                     "GeoIP lookup of %s failed: %s", normal,
                     gai_error != 0 ? gai_strerror (gai_error) : MMDB_strerror (mmdb_error));
        return NULL;
      }
    if (!result.found_entry)
      return g_steal_pointer (&location);
    code = entry_string (&result.entry, (const char *const *) code_path);
    if (code != NULL && strlen (code) == 2 && g_ascii_isalpha (code[0]) && g_ascii_isalpha (code[1]))
      location->country_code = g_ascii_strup (code, -1);
    location->country = entry_string (&result.entry, (const char *const *) country_path);
    location->city = entry_string (&result.entry, (const char *const *) city_path);
    location->has_coordinates
        = entry_double (&result.entry, (const char *const *) lat_path, &location->latitude)
          && entry_double (&result.entry, (const char *const *) lon_path, &location->longitude)
          && location->latitude >= -90 && location->latitude <= 90
          && location->longitude >= -180 && location->longitude <= 180;
    if (location->has_coordinates || location->country_code != NULL)
      location->kind = VIEWER_GEOIP_FOUND;
  }
#endif
  return g_steal_pointer (&location);
}

typedef struct
{
  char *path;
  GStrv addresses;
} LocateData;

static void
locate_data_free (LocateData *data)
{
  g_free (data->path);
  g_strfreev (data->addresses);
  g_free (data);
}

static void
locate_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  LocateData *data = task_data;
  g_autoptr(GPtrArray) results
      = g_ptr_array_new_with_free_func ((GDestroyNotify) viewer_geoip_location_free);
  g_autoptr(ViewerGeoip) geoip = NULL;
  g_autoptr(GError) open_error = NULL;
  guint i;

  geoip = viewer_geoip_open (data->path, &open_error);
  for (i = 0; data->addresses[i] != NULL && i < VIEWER_GEOIP_MAX_ADDRESSES; i++)
    {
      g_autoptr(GError) error = NULL;
      ViewerGeoipLocation *location;

      if (g_task_return_error_if_cancelled (task))
        return;
      location = viewer_geoip_lookup (geoip, data->addresses[i], &error);
      if (location == NULL)
        {
          location = g_new0 (ViewerGeoipLocation, 1);
          location->address = g_strdup (data->addresses[i]);
          location->kind = VIEWER_GEOIP_UNKNOWN;
        }
      g_ptr_array_add (results, location);
    }
  /* Local addresses are answered without a database; say why the others are unknown. */
  if (geoip == NULL)
    g_debug ("%s", open_error->message);
  g_task_return_pointer (task, g_steal_pointer (&results), (GDestroyNotify) g_ptr_array_unref);
}

/**
 * viewer_geoip_locate_async:
 * @path: (nullable): a .mmdb file, or NULL for the default paths
 * @addresses: address literals (at most VIEWER_GEOIP_MAX_ADDRESSES are answered)
 *
 * Opens the database and looks every address up in a worker thread. A missing or corrupt
 * database is not an error: the result then places only local addresses.
 */
void
viewer_geoip_locate_async (const char         *path,
                           const char *const  *addresses,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  LocateData *data = g_new0 (LocateData, 1);

  g_task_set_source_tag (task, viewer_geoip_locate_async);
  data->path = g_strdup (path);
  data->addresses = g_strdupv ((char **) addresses);
  g_task_set_task_data (task, data, (GDestroyNotify) locate_data_free);
  g_task_run_in_thread (task, locate_thread);
}

/**
 * viewer_geoip_locate_finish:
 *
 * Returns: (transfer full) (element-type ViewerGeoipLocation): one location per address
 *   answered, in order
 */
GPtrArray *
viewer_geoip_locate_finish (GAsyncResult *result,
                            GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
