/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-store.c: placeholder, being written. */
#include "config.h"
