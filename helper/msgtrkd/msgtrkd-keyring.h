/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-keyring.h: where the tracking secrets A live.
 *
 * Backend SECRET_SERVICE (default): libsecret, schema "org.msgtrk.TrackingSecret" with
 * one attribute "envid"; the stored password is the base64 mtrk-secret; label
 * "Tracking secret for “<subject>”". Collection: the default one (SECRET_COLLECTION_DEFAULT).
 * Backend FILE (only when the user opted in, GSettings allow-file-secrets): a key file in
 * $XDG_DATA_HOME/msgtrk/secrets, mode 0600 in a 0700 directory, replaced atomically.
 *
 * A is looked up only to query or to export, and the caller wipes it after use
 * (msgtrk_secure_free_string). With no Secret Service reachable (or a locked collection
 * that cannot be unlocked) calls fail with MSGTRKD_ERROR_KEYRING_UNAVAILABLE and a message
 * that says so; a lookup of an envid that has no secret fails with
 * MSGTRKD_ERROR_SECRET_MISSING.
 *
 * Messages prepared since the master scheme (docs/secret-derivation.md) have no item of
 * their own: their A is derived from one per-user master secret, an item of the schema
 * "org.msgtrk.MasterSecret" (or a group of the file), made by the first Prepare and cached
 * for the daemon's life in locked, wiped memory (msgtrkd_keyring_derive_*). Messages
 * prepared before, and imported (delegated) ones, keep their item (msgtrkd_keyring_lookup_*);
 * msgtrkd_keyring_secret_async() picks by the scheme the store recorded.
 *
 * Never: log A or the master, write them anywhere but the Secret Service or the opted-in
 * file.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Limits (longer input is refused with MSGTRKD_ERROR_INVALID_ARGUMENT, a larger secrets file
 * with MSGTRKD_ERROR_KEYRING_UNAVAILABLE). */
#define MSGTRKD_KEYRING_MAX_ENVID_LENGTH 1000         /* bytes of an ENVID */
#define MSGTRKD_KEYRING_MAX_SECRET_LENGTH 256         /* characters of a base64 secret */
#define MSGTRKD_KEYRING_FILE_MAX_SIZE (8 * 1024 * 1024) /* bytes of the FILE backend's file */

typedef enum {
  MSGTRKD_KEYRING_SECRET_SERVICE,
  MSGTRKD_KEYRING_FILE,
} MsgtrkdKeyringBackend;

#define MSGTRKD_TYPE_KEYRING (msgtrkd_keyring_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkdKeyring, msgtrkd_keyring, MSGTRKD, KEYRING, GObject)

/* @file_dir: directory of the FILE backend (ignored for SECRET_SERVICE). */
MsgtrkdKeyring *msgtrkd_keyring_new           (MsgtrkdKeyringBackend backend,
                                               const char           *file_dir);
MsgtrkdKeyringBackend msgtrkd_keyring_get_backend (MsgtrkdKeyring *self);

void     msgtrkd_keyring_store_async   (MsgtrkdKeyring     *self,
                                        const char         *envid,
                                        const char         *secret_base64,
                                        const char         *label,
                                        GCancellable       *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
gboolean msgtrkd_keyring_store_finish  (MsgtrkdKeyring *self,
                                        GAsyncResult   *result,
                                        GError        **error);
void     msgtrkd_keyring_lookup_async  (MsgtrkdKeyring     *self,
                                        const char         *envid,
                                        GCancellable       *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
/* (transfer full): free with msgtrk_secure_free_string */
char    *msgtrkd_keyring_lookup_finish (MsgtrkdKeyring *self,
                                        GAsyncResult   *result,
                                        GError        **error);
void     msgtrkd_keyring_delete_async  (MsgtrkdKeyring     *self,
                                        const char         *envid,
                                        GCancellable       *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
gboolean msgtrkd_keyring_delete_finish (MsgtrkdKeyring *self,
                                        GAsyncResult   *result,
                                        GError        **error);

void     msgtrkd_keyring_derive_async  (MsgtrkdKeyring     *self,
                                        const char         *envid,
                                        gboolean            create_master,
                                        GCancellable       *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
/* The Content-Track key (docs/harrison.md); finish with msgtrkd_keyring_derive_finish(). */
void     msgtrkd_keyring_content_track_async (MsgtrkdKeyring     *self,
                                              const char         *envid,
                                              gboolean            create_master,
                                              GCancellable       *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer            user_data);
/* (transfer full): free with msgtrk_secure_free_string */
char    *msgtrkd_keyring_derive_finish (MsgtrkdKeyring *self,
                                        GAsyncResult   *result,
                                        GError        **error);
/* Derived or stored A by scheme; finish with msgtrkd_keyring_lookup_finish(). */
void     msgtrkd_keyring_secret_async  (MsgtrkdKeyring     *self,
                                        const char         *envid,
                                        gboolean            derived,
                                        GCancellable       *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);

/* Blocking forms, for tests and tools (never on the daemon's main loop). */
gboolean msgtrkd_keyring_store_sync    (MsgtrkdKeyring *self,
                                        const char     *envid,
                                        const char     *secret_base64,
                                        const char     *label,
                                        GCancellable   *cancellable,
                                        GError        **error);
char    *msgtrkd_keyring_lookup_sync   (MsgtrkdKeyring *self,
                                        const char     *envid,
                                        GCancellable   *cancellable,
                                        GError        **error);
gboolean msgtrkd_keyring_delete_sync   (MsgtrkdKeyring *self,
                                        const char     *envid,
                                        GCancellable   *cancellable,
                                        GError        **error);
char    *msgtrkd_keyring_derive_sync   (MsgtrkdKeyring *self,
                                        const char     *envid,
                                        gboolean        create_master,
                                        GCancellable   *cancellable,
                                        GError        **error);
/* Drops the cached master (tests). */
void     msgtrkd_keyring_forget_master (MsgtrkdKeyring *self);

G_END_DECLS
