/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-register-private.h: test hooks of postfix-register.c (not for other code). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* POSTFIX_REGISTRATION_READ_RETRIES: reads of a registration's name again when another
 * inode took the name during the read (a replay's or a rewrite's rename); past it the
 * read fails with MSGTRK_ERROR_TIMEOUT (the caller retries later). */
#define POSTFIX_REGISTRATION_READ_RETRIES 3

/* Where a PostfixRegisterTestHook is called: in read_file() between open(2) and read(2)
 * (@path: the name read), in slot_fill() before open(2) of a slot that is not fresh
 * (@path: the slot's name). */
typedef enum
{
  POSTFIX_REGISTER_HOOK_READ,
  POSTFIX_REGISTER_HOOK_FILL,
} PostfixRegisterHookPoint;

typedef void (*PostfixRegisterTestHook) (PostfixRegisterHookPoint point,
                                         const char              *path,
                                         gpointer                 data);

/* postfix_register_set_test_hook: @hook (NULL: none) called at the points above, so a
 * test can change the directory in the windows a concurrent process could. */
void postfix_register_set_test_hook (PostfixRegisterTestHook hook,
                                     gpointer                data);

G_END_DECLS
