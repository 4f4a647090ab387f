/* SPDX-License-Identifier: GPL-3.0-or-later */
/* msgtrkd-keyring.c: placeholder, being written. */
#include "config.h"
