/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk.h: the one header to include for libmsgtrk-1.0. */
#pragma once

#define MSGTRK_INSIDE
#include "msgtrk-version.h"
#include "msgtrk-visibility.h"
#include "msgtrk-error.h"
#include "msgtrk-enum-types.h"
#include "msgtrk-secret.h"
#include "msgtrk-url.h"
#include "msgtrk-envelope.h"
#include "msgtrk-report.h"
#include "msgtrk-trace.h"
#include "msgtrk-status.h"
#include "msgtrk-status-code.h"
#include "msgtrk-mtqp-client.h"
#include "msgtrk-tracker.h"
#undef MSGTRK_INSIDE
