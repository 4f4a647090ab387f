/* SPDX-License-Identifier: GPL-3.0-or-later */
/* track-store-cases.h: the contract of track-store.h as one table of GTest cases, run once
 * per backend (files in test-track-store.c, PostgreSQL in tests/pg/test-store-backends.c).
 *
 * What: round trip, one answer for unknown / expired / wrong secret, replacement, first
 * owner kept, takeover after expiry, older versions dropped, limits at and past them,
 * expiry, any octet in an ENVID, put_many. Where the backend is files, the cases also check
 * the record file itself (only B in it, no temporary file left, the owner's bytes kept).
 * How: store_cases_add() registers /store/BACKEND/CASE; each case gets a fresh temporary
 * directory and the store the caller's open function makes in it (NULL: skipped).
 * store_case_add() registers a backend's own case on the same fixture.
 */
#pragma once

#include "track-store.h"

G_BEGIN_DECLS

/* A = 32 octets 0x00..0x1f; B = base64 (SHA-1 (A)), computed with `openssl dgst -sha1`. */
#define SECRET_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define WRONG_A "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define AUTH_B "rlvY7+pTIsTZmG0GaAp4E5L5pkI="
/* Another sender's B for the same ENVID (a valid form, not the B of SECRET_A). */
#define HIJACK_B "BBBBBBBBBBBBBBBBBBBBBBBBBBA="
#define ENVID "mtrk.abcdefghijklmnopqrstuvwxyz@example.com"
#define NOW ((gint64) 1700000000)

typedef struct
{
  char *dir;          /* the store's state directory (a new temporary directory) */
  TrackStore *store;  /* NULL: the backend is not available, the case is skipped */
  gint64 now;         /* real time: owner checks use the clock */
  gboolean files;     /* the files backend: check the record files too */
} StoreFixture;

/* Make f->store in f->dir (or leave it NULL to skip). */
typedef void (*StoreOpenFunc) (StoreFixture *f);

void          store_cases_add     (const char   *backend,
                                   StoreOpenFunc open);
void          store_case_add      (const char   *path,
                                   const char   *backend,
                                   StoreOpenFunc open,
                                   void        (*fn) (StoreFixture *f,
                                                      gconstpointer data));
MsgtrkReport *store_make_report   (const char   *envid,
                                   const char   *action);
char         *store_record_file   (const char   *dir,
                                   const char   *envid);
guint         store_count_files   (const char   *dir);

G_END_DECLS
