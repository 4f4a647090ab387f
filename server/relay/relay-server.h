/* SPDX-License-Identifier: GPL-3.0-or-later */
/* relay-server.h: what msgtrk-relay's sessions and delivery workers share (RelayServer).
 *
 * Set up by relay-main.c before the listener and the queue start; read-only afterwards
 * except through its own locks.
 *
 * Never (the whole relay): log an authenticator together with its ENVID in one line, or
 * anything derived from a tracking secret (the relay never sees A); reply 250 to DATA
 * before the message and its envelope are on disk (fsync'ed file and directory).
 */
#pragma once

#include <gio/gio.h>

#include "relay-config.h"
#include "relay-queue.h"
#include "push-sender.h"
#include "track-store.h"

G_BEGIN_DECLS

typedef struct _RelayServer RelayServer;

/** RELAY_TRACK_LOCKS: locks over the read-merge-write of tracking records, one chosen by
 * the ENVID's hash: updates of one ENVID are serialised, those of different ENVIDs
 * (mostly) run side by side, so the store can group their writes. */
#define RELAY_TRACK_LOCKS 64

struct _RelayServer
{
  RelayConfig *config;
  RelayQueue *queue;
  TrackStore *track_store;  /* (nullable) NULL with [push] mode=push */
  PushSender *push;         /* (nullable) set with [push] (docs/push-protocol.md) */
  struct _RelayHarrison *harrison; /* (nullable) [harrison] enabled (relay-harrison.c) */
  GMutex track_locks[RELAY_TRACK_LOCKS]; /* read-merge-write of records, by ENVID hash */
  gpointer tls_server;    /* MsgtrkTlsContext, nullable */
  gpointer tls_client;    /* MsgtrkTlsContext, nullable */
  GCancellable *shutdown;  /* cancelled at shutdown: outgoing connections */
};

G_END_DECLS
