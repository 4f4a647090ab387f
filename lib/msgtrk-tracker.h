/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-tracker.h: placeholder, being written. */
#pragma once
