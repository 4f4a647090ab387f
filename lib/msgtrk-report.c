/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-report.c: placeholder, being written. */
#include "config.h"
