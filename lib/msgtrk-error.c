/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-error.c: the MSGTRK_ERROR quark. */
#include "config.h"

#include "msgtrk-error.h"

/**
 * msgtrk_error_quark:
 *
 * The quark of the %MSGTRK_ERROR domain.
 *
 * Returns: the error domain of libmsgtrk
 *
 * Since: 1.0
 */
G_DEFINE_QUARK (msgtrk-error-quark, msgtrk_error)
