/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-service.h: the org.msgtrk.Tracker1 object of msgtrkd.
 *
 * Owns the store, the keyring, the MTQP client, the scheduler and the tracking model
 * (msgtrkd-tracking.h), exports the MsgtrkDBusTracker1 skeleton at /org/msgtrk/Tracker1
 * and answers its methods: D-Bus glue only, the model does the work. Every method returns
 * on the main loop without waiting on the network or the keyring: those are async (GTask /
 * the keyring's _async calls); the store is local and quick.
 *
 * Never: log A, put it in an error or a D-Bus reply other than ExportUrl's URL.
 */
#pragma once

#include <gio/gio.h>

#include "msgtrkd-keyring.h"
#include "msgtrkd-tracking.h"

G_BEGIN_DECLS

/** MSGTRKD_OBJECT_PATH: where the service object lives on the session bus. */
#define MSGTRKD_OBJECT_PATH "/org/msgtrk/Tracker1"
/** MSGTRKD_MAX_STATUS_IDS: most ids in one GetStatus call. The limits of the other
 * methods' arguments are the model's (msgtrkd-tracking.h). */
#define MSGTRKD_MAX_STATUS_IDS 10000
/** MSGTRKD_STATUS_PAGE_MAX: most entries in one ListStatus answer (a bigger or zero
 * max_count gets this many): about 1.5 MB of D-Bus message. */
#define MSGTRKD_STATUS_PAGE_MAX 10000
/* IngestReport: a whole message of at most MSGTRK_REPORT_MAX_MESSAGE_SIZE octets, whose
 * report parts (MSGTRK_REPORT_MAX_SIZE, <msgtrk.h>) are kept: no limit of msgtrkd's own. */

/* Command-line configuration of the daemon */
typedef struct
{
  char *store_dir;                /* (owned) */
  MsgtrkdKeyringBackend backend;
  char **mtqp_overrides;          /* (owned) (nullable) NAME=ADDR:PORT */
  char *ca_file;                  /* (owned) (nullable) */
  GArray *poll_schedule;          /* (owned) guint seconds */
  guint first_poll;               /* seconds from Committed to the first poll */
} MsgtrkdOptions;

void msgtrkd_options_clear (MsgtrkdOptions *options);

#define MSGTRKD_TYPE_SERVICE (msgtrkd_service_get_type ())
G_DECLARE_FINAL_TYPE (MsgtrkdService, msgtrkd_service, MSGTRKD, SERVICE, GObject)

MsgtrkdService *msgtrkd_service_new      (GApplication         *app,
                                          const MsgtrkdOptions *options,
                                          GError              **error);
gboolean        msgtrkd_service_export   (MsgtrkdService   *self,
                                          GDBusConnection  *connection,
                                          GError          **error);
void            msgtrkd_service_unexport (MsgtrkdService *self);
void            msgtrkd_service_start    (MsgtrkdService *self);
void            msgtrkd_service_shutdown (MsgtrkdService *self);
void            msgtrkd_service_show     (MsgtrkdService *self,
                                          const char     *envid);

G_END_DECLS
