/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-secret.c: placeholder, being written. */
#include "config.h"
