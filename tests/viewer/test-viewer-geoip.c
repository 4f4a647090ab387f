/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-viewer-geoip.c: the viewer's GeoIP lookups against databases written by the test's
 * own MaxMind DB writer (tests/viewer/mmdb-writer.py, run by meson before this test).
 *
 * Usage: test-viewer-geoip [GTest options] CITY.mmdb COUNTRY.mmdb
 * Covers IPv4, IPv6, IPv4-mapped IPv6, header literal forms, local ranges (never looked up,
 * even when the database has them), a public address the database lacks, hostile records,
 * a Country-only database, a missing, a corrupt and a truncated database, and the async
 * call. Without libmaxminddb only the local-range tests run.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "viewer-geoip.h"

static const char *city_db;
static const char *country_db;

static void
test_local_ranges (void)
{
  static const struct { const char *address; gboolean local; } cases[] = {
    { "10.1.2.3", TRUE }, { "172.16.0.1", TRUE }, { "172.31.255.255", TRUE },
    { "172.32.0.1", FALSE }, { "192.168.1.1", TRUE }, { "127.0.0.1", TRUE },
    { "169.254.10.1", TRUE }, { "100.64.0.1", TRUE }, { "100.128.0.1", FALSE },
    { "192.0.2.7", TRUE }, { "198.51.100.7", TRUE }, { "203.0.113.7", TRUE },
    { "198.18.0.1", TRUE }, { "224.0.0.1", TRUE }, { "255.255.255.255", TRUE },
    { "0.0.0.0", TRUE }, { "8.8.8.8", FALSE }, { "81.2.69.1", FALSE },
    { "::1", TRUE }, { "::", TRUE }, { "fe80::1", TRUE }, { "fd00::1", TRUE },
    { "2001:db8::25", TRUE }, { "3fff::1", TRUE }, { "ff02::1", TRUE },
    { "2001:218::1", FALSE }, { "::ffff:10.0.0.1", TRUE }, { "::ffff:81.2.69.1", FALSE },
    { "[192.168.0.1]", TRUE }, { "[IPv6:fe80::1]", TRUE }, { "IPv6:2001:db8::1", TRUE },
    { "mail.example.org", FALSE }, { "", FALSE }, { "[]", FALSE }, { "fe80::1%eth0", FALSE },
  };
  gsize i;

  g_test_summary ("Special-purpose ranges are local; names and garbage are not addresses");
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s", cases[i].address);
      g_assert_cmpint (viewer_geoip_address_is_local (cases[i].address), ==, cases[i].local);
    }
}

static void
test_normalize (void)
{
  static const struct { const char *in, *out; } cases[] = {
    { "81.2.69.1", "81.2.69.1" },        { "[81.2.69.1]", "81.2.69.1" },
    { " [81.2.69.1] ", "81.2.69.1" },    { "::ffff:81.2.69.1", "81.2.69.1" },
    { "[IPv6:2001:0218::0001]", "2001:218::1" }, { "ipv6:2001:218::1", "2001:218::1" },
    { "example.org", NULL },             { "[example.org]", NULL },
    { "81.2.69", NULL },                 { NULL, NULL },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = viewer_geoip_address_normalize (cases[i].in);
      g_assert_cmpstr (out, ==, cases[i].out);
    }
}

static void
test_local_without_db (void)
{
  g_autoptr(ViewerGeoipLocation) loc = viewer_geoip_lookup (NULL, "192.168.3.4", NULL);
  g_autoptr(ViewerGeoipLocation) pub = viewer_geoip_lookup (NULL, "81.2.69.1", NULL);
  g_autoptr(GError) error = NULL;
  ViewerGeoipLocation *bad;

  g_assert_nonnull (loc);
  g_assert_cmpint (loc->kind, ==, VIEWER_GEOIP_LOCAL);
  g_assert_nonnull (pub);
  g_assert_cmpint (pub->kind, ==, VIEWER_GEOIP_UNKNOWN);
  bad = viewer_geoip_lookup (NULL, "not-an-address", &error);
  g_assert_null (bad);
  g_assert_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_ADDRESS);
}

#ifdef HAVE_MAXMINDDB
static ViewerGeoip *
open_city (void)
{
  g_autoptr(GError) error = NULL;
  ViewerGeoip *geoip = viewer_geoip_open (city_db, &error);

  g_assert_no_error (error);
  g_assert_nonnull (geoip);
  g_assert_cmpstr (viewer_geoip_get_path (geoip), ==, city_db);
  return geoip;
}

static void
test_city_v4 (void)
{
  g_autoptr(ViewerGeoip) geoip = open_city ();
  g_autoptr(GError) error = NULL;
  g_autoptr(ViewerGeoipLocation) london = viewer_geoip_lookup (geoip, "[81.2.69.160]", &error);
  g_autoptr(ViewerGeoipLocation) linkoping = viewer_geoip_lookup (geoip, "89.160.20.120", NULL);
  g_autoptr(ViewerGeoipLocation) outside = viewer_geoip_lookup (geoip, "89.160.20.128", NULL);
  g_autoptr(ViewerGeoipLocation) nocity = viewer_geoip_lookup (geoip, "216.160.83.60", NULL);

  g_assert_no_error (error);
  g_assert_cmpint (london->kind, ==, VIEWER_GEOIP_FOUND);
  g_assert_true (london->has_coordinates);
  g_assert_cmpfloat_with_epsilon (london->latitude, 51.5142, 1e-9);
  g_assert_cmpfloat_with_epsilon (london->longitude, -0.0931, 1e-9);
  g_assert_cmpstr (london->country_code, ==, "GB");
  g_assert_cmpstr (london->country, ==, "United Kingdom");
  g_assert_cmpstr (london->city, ==, "London");
  g_assert_cmpstr (london->address, ==, "[81.2.69.160]");
  g_assert_cmpstr (linkoping->city, ==, "Linköping");
  g_assert_cmpint (outside->kind, ==, VIEWER_GEOIP_UNKNOWN); /* just past the /28 */
  g_assert_false (outside->has_coordinates);
  g_assert_cmpint (nocity->kind, ==, VIEWER_GEOIP_FOUND);
  g_assert_null (nocity->city);
  g_assert_cmpstr (nocity->country_code, ==, "US");
}

static void
test_city_v6 (void)
{
  g_autoptr(ViewerGeoip) geoip = open_city ();
  g_autoptr(ViewerGeoipLocation) tokyo = viewer_geoip_lookup (geoip, "[IPv6:2001:218:1::25]", NULL);
  g_autoptr(ViewerGeoipLocation) mapped = viewer_geoip_lookup (geoip, "::ffff:81.2.69.1", NULL);
  g_autoptr(ViewerGeoipLocation) other = viewer_geoip_lookup (geoip, "2a00:1450::1", NULL);

  g_assert_cmpint (tokyo->kind, ==, VIEWER_GEOIP_FOUND);
  g_assert_cmpstr (tokyo->city, ==, "Tokyo");
  g_assert_cmpfloat_with_epsilon (tokyo->longitude, 139.7514, 1e-9);
  g_assert_cmpint (mapped->kind, ==, VIEWER_GEOIP_FOUND);
  g_assert_cmpstr (mapped->city, ==, "London");
  g_assert_cmpint (other->kind, ==, VIEWER_GEOIP_UNKNOWN);
}

static void
test_local_never_looked_up (void)
{
  g_autoptr(ViewerGeoip) geoip = open_city ();
  g_autoptr(ViewerGeoipLocation) loc = viewer_geoip_lookup (geoip, "10.20.30.40", NULL);
  g_autoptr(ViewerGeoipLocation) mapped = viewer_geoip_lookup (geoip, "::ffff:10.0.0.1", NULL);

  g_test_summary ("The test database places 10/8 in Antarctica; the viewer never asks it");
  g_assert_cmpint (loc->kind, ==, VIEWER_GEOIP_LOCAL);
  g_assert_false (loc->has_coordinates);
  g_assert_null (loc->city);
  g_assert_cmpint (mapped->kind, ==, VIEWER_GEOIP_LOCAL);
}

static void
test_hostile_records (void)
{
  g_autoptr(ViewerGeoip) geoip = open_city ();
  g_autoptr(ViewerGeoipLocation) wrong = viewer_geoip_lookup (geoip, "1.0.0.1", NULL);
  g_autoptr(ViewerGeoipLocation) range = viewer_geoip_lookup (geoip, "1.0.1.1", NULL);

  g_test_summary ("Wrong types, a bad country code and out-of-range coordinates are dropped");
  g_assert_nonnull (wrong);
  g_assert_cmpint (wrong->kind, ==, VIEWER_GEOIP_UNKNOWN);
  g_assert_false (wrong->has_coordinates);
  g_assert_null (wrong->country_code);
  g_assert_null (wrong->country);
  g_assert_nonnull (range);
  g_assert_cmpint (range->kind, ==, VIEWER_GEOIP_UNKNOWN);
  g_assert_false (range->has_coordinates);
}

static void
test_name_limit (void)
{
  g_autoptr(ViewerGeoip) geoip = open_city ();
  g_autoptr(ViewerGeoipLocation) at = viewer_geoip_lookup (geoip, "1.0.2.1", NULL);
  g_autoptr(ViewerGeoipLocation) past = viewer_geoip_lookup (geoip, "1.0.3.1", NULL);

  g_test_summary ("Place names are kept up to VIEWER_GEOIP_MAX_NAME bytes, cut at a character");
  g_assert_cmpuint (strlen (at->city), ==, VIEWER_GEOIP_MAX_NAME);
  g_assert_cmpuint (strlen (past->city), ==, VIEWER_GEOIP_MAX_NAME - 1);
  g_assert_true (g_utf8_validate (past->city, -1, NULL));
}

static void
test_db_size_limit (void)
{
  g_autofree char *dir = g_dir_make_tmp ("msgtrk-geoip-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "huge.mmdb", NULL);
  guint i;

  g_test_summary ("A database file over VIEWER_GEOIP_MAX_DB_BYTES is refused before it is mapped");
  for (i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(ViewerGeoip) geoip = NULL;
      FILE *f = fopen (path, "w");

      /* Sparse: nothing is written but the size. */
      g_assert_nonnull (f);
      g_assert_cmpint (ftruncate (fileno (f), VIEWER_GEOIP_MAX_DB_BYTES + i), ==, 0);
      fclose (f);
      geoip = viewer_geoip_open (path, &error);
      g_assert_null (geoip);
      g_assert_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_INVALID);
      /* At the limit the file is read (and found to be no database); past it, it is not. */
      g_assert_true ((strstr (error->message, "larger than") != NULL) == (i == 1));
    }
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_country_db (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ViewerGeoip) geoip = viewer_geoip_open (country_db, &error);
  g_autoptr(ViewerGeoipLocation) gb = NULL, jp = NULL;

  g_assert_no_error (error);
  gb = viewer_geoip_lookup (geoip, "81.2.69.1", NULL);
  jp = viewer_geoip_lookup (geoip, "2001:218::1", NULL);
  g_assert_cmpint (gb->kind, ==, VIEWER_GEOIP_FOUND);
  g_assert_false (gb->has_coordinates);
  g_assert_cmpstr (gb->country_code, ==, "GB");
  g_assert_cmpstr (jp->country_code, ==, "JP"); /* stored in lower case */
}

static void
test_missing_db (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ViewerGeoip) geoip = viewer_geoip_open ("/nonexistent/GeoLite2-City.mmdb", &error);

  g_assert_null (geoip);
  g_assert_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_NOT_FOUND);
}

static void
test_corrupt_db (void)
{
  g_autofree char *dir = g_dir_make_tmp ("msgtrk-geoip-XXXXXX", NULL);
  g_autofree char *garbage = g_build_filename (dir, "garbage.mmdb", NULL);
  g_autofree char *truncated = g_build_filename (dir, "truncated.mmdb", NULL);
  g_autofree char *contents = NULL;
  gsize len;
  guint i;

  g_assert_nonnull (dir);
  g_assert_true (g_file_set_contents (garbage, "this is not a MaxMind DB\n", -1, NULL));
  g_assert_true (g_file_get_contents (city_db, &contents, &len, NULL));
  /* Cut inside the tree, inside the data and inside the metadata. */
  for (i = 0; i < 3; i++)
    {
      gsize cut = i == 0 ? 20 : i == 1 ? len / 2 : len - 10;
      g_autoptr(GError) error = NULL;
      g_autoptr(ViewerGeoip) geoip = NULL;

      g_assert_true (g_file_set_contents (truncated, contents, cut, NULL));
      geoip = viewer_geoip_open (truncated, &error);
      if (geoip != NULL)
        {
          /* Metadata intact but the tree or data cut: lookups must fail cleanly. */
          g_autoptr(ViewerGeoipLocation) loc = viewer_geoip_lookup (geoip, "81.2.69.1", NULL);
          (void) loc;
        }
      else
        g_assert_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_INVALID);
    }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(ViewerGeoip) geoip = viewer_geoip_open (garbage, &error);
    g_assert_null (geoip);
    g_assert_error (error, VIEWER_GEOIP_ERROR, VIEWER_GEOIP_ERROR_INVALID);
  }
  g_unlink (garbage);
  g_unlink (truncated);
  g_rmdir (dir);
}
#endif

static void
locate_done (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  GPtrArray **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = viewer_geoip_locate_finish (result, &error);
  g_assert_no_error (error);
}

static void
test_locate_async (gconstpointer data)
{
  const char *path = data;
  const char *addresses[] = { "81.2.69.1", "192.168.1.1", "2001:218::1", "garbage", NULL };
  GPtrArray *results = NULL;
  ViewerGeoipLocation *loc;

  viewer_geoip_locate_async (path, addresses, NULL, locate_done, &results);
  while (results == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (results->len, ==, 4);
  loc = g_ptr_array_index (results, 1);
  g_assert_cmpint (loc->kind, ==, VIEWER_GEOIP_LOCAL);
  loc = g_ptr_array_index (results, 3);
  g_assert_cmpint (loc->kind, ==, VIEWER_GEOIP_UNKNOWN);
  g_assert_cmpstr (loc->address, ==, "garbage");
  loc = g_ptr_array_index (results, 0);
#ifdef HAVE_MAXMINDDB
  if (g_strcmp0 (path, city_db) == 0)
    {
      g_assert_cmpint (loc->kind, ==, VIEWER_GEOIP_FOUND);
      g_assert_cmpstr (((ViewerGeoipLocation *) g_ptr_array_index (results, 2))->city, ==, "Tokyo");
    }
  else
#endif
    g_assert_cmpint (loc->kind, ==, VIEWER_GEOIP_UNKNOWN);
  g_ptr_array_unref (results);
}

static void
test_locate_limit (void)
{
  g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *results = NULL;
  guint i;

  g_test_summary ("At most VIEWER_GEOIP_MAX_ADDRESSES addresses are answered per call");
  for (i = 0; i < VIEWER_GEOIP_MAX_ADDRESSES + 1; i++)
    g_ptr_array_add (addresses, g_strdup_printf ("10.0.%u.%u", i / 256, i % 256));
  g_ptr_array_add (addresses, NULL);
  viewer_geoip_locate_async ("/nonexistent.mmdb", (const char *const *) addresses->pdata, NULL,
                             locate_done, &results);
  while (results == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (results->len, ==, VIEWER_GEOIP_MAX_ADDRESSES);
  g_ptr_array_unref (results);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  if (argc != 3)
    {
      g_printerr ("usage: %s [GTest options] CITY.mmdb COUNTRY.mmdb\n", argv[0]);
      return 2;
    }
  city_db = argv[1];
  country_db = argv[2];
  g_test_add_func ("/viewer/geoip/local-ranges", test_local_ranges);
  g_test_add_func ("/viewer/geoip/normalize", test_normalize);
  g_test_add_func ("/viewer/geoip/local-without-db", test_local_without_db);
#ifdef HAVE_MAXMINDDB
  g_test_add_func ("/viewer/geoip/city/ipv4", test_city_v4);
  g_test_add_func ("/viewer/geoip/city/ipv6", test_city_v6);
  g_test_add_func ("/viewer/geoip/city/local-never-looked-up", test_local_never_looked_up);
  g_test_add_func ("/viewer/geoip/city/hostile-records", test_hostile_records);
  g_test_add_func ("/viewer/geoip/city/name-limit", test_name_limit);
  g_test_add_func ("/viewer/geoip/db-size-limit", test_db_size_limit);
  g_test_add_func ("/viewer/geoip/country", test_country_db);
  g_test_add_func ("/viewer/geoip/missing-db", test_missing_db);
  g_test_add_func ("/viewer/geoip/corrupt-db", test_corrupt_db);
#endif
  g_test_add_data_func ("/viewer/geoip/locate-async/city", city_db, test_locate_async);
  g_test_add_data_func ("/viewer/geoip/locate-async/no-db", "/nonexistent.mmdb", test_locate_async);
  g_test_add_func ("/viewer/geoip/locate-async/limit", test_locate_limit);
  return g_test_run ();
}
