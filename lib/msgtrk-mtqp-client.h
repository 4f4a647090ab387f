/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-client.h: placeholder, being written. */
#pragma once
