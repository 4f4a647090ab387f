/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-tls.c: placeholder, being written. */
#include "config.h"
