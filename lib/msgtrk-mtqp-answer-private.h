/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* msgtrk-mtqp-answer-private.h: what the MTQP client sees of MsgtrkMtqpAnswer.
 *
 * What: the instance struct (the client fills an answer as it reads a TRACK reply) and the
 * constructor. How: msgtrk-mtqp-answer.c holds the class and its public getters.
 * Limits: none of its own (the client bounds what it stores).
 * Never: used outside lib/ (the public API is the getters in msgtrk-mtqp-client.h).
 *
 * Internal to msgtrk: not installed, not part of the documented API.
 */
#pragma once

#include "msgtrk-mtqp-client.h"

G_BEGIN_DECLS

struct _MsgtrkMtqpAnswer
{
  GObject    parent_instance;
  char      *envid;            /* (owned) */
  char      *server_host;      /* (owned) (nullable) */
  guint16    server_port;
  guint16    discovered_port;  /* the port discovery named (a host override may differ) */
  char      *tls_description;  /* (owned) (nullable) */
  char      *server_address;   /* (owned) (nullable) numeric address connected to */
  GError    *error;            /* (owned) (nullable) */
  GPtrArray *reports;          /* (owned) (element-type MsgtrkReport): empty on error */
  GBytes    *entity;           /* (owned) (nullable) */
  char      *status;           /* (owned) (nullable) */
  GStrv      codes;            /* (owned) never NULL */
  char      *text;             /* (owned) (nullable) */
};

MsgtrkMtqpAnswer *msgtrk_mtqp_answer_new_for_envid (const char *envid);

G_END_DECLS
