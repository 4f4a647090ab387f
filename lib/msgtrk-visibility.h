/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-visibility.h: the export macro of libmsgtrk-1.0 (GLib's gvisibility.h pattern).
 *
 * What: MSGTRK_AVAILABLE_IN_ALL marks a declaration in an installed header as public ABI.
 * How: libmsgtrk is compiled with -fvisibility=hidden (gnu_symbol_visibility: 'hidden');
 * only declarations carrying this macro get default visibility and so appear in the
 * dynamic symbol table of libmsgtrk-1.0.so. Everything else (the *-private.h helpers,
 * static functions, the internal syntax layers) stays inside the library and is reached
 * by server/, helper/ and the tests through the static libmsgtrk-internal.a instead.
 * Limits: GCC and Clang on ELF only (the project's platforms).
 * Never: use the macro in a *-private.h header; tests/test-exports.sh checks that the
 * exported symbols are exactly those declared with it in the installed headers.
 */
#pragma once

#if !defined(MSGTRK_INSIDE) && !defined(MSGTRK_COMPILATION)
#error "Only <msgtrk.h> can be included directly."
#endif

/**
 * MSGTRK_AVAILABLE_IN_ALL:
 *
 * Marks a function as part of the public libmsgtrk-1.0 API (exported from the shared
 * library). Not for applications.
 */
#if defined(__GNUC__) || defined(__clang__)
#define MSGTRK_AVAILABLE_IN_ALL __attribute__ ((visibility ("default"))) extern
#else
#define MSGTRK_AVAILABLE_IN_ALL extern
#endif
