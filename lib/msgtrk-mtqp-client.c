/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-client.c: placeholder, being written. */
#include "config.h"
