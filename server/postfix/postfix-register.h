/* SPDX-License-Identifier: GPL-3.0-or-later */
/* postfix-register.h: registrations, one file per Postfix queue id, that tell the follower
 * which queue ids are tracked and for whom (B, ENVID, recipients).
 *
 * Written by the submission front when Postfix answers "250 ... queued as QID" to a message
 * that came with MTRK, and by the follower itself when a tracked message is re-queued under
 * a new id (content filter, alias expansion: a "derived" registration naming its parent).
 * Read by the follower for each delivery line of a queue id. Layout:
 * <dir>/<QID>.reg, written through durable_file_replace() (the follower) or, by the
 * front, through its write-ahead journal <dir>/.journal-XXXXXX (durable-group.h: one
 * grouped fdatasync, the file itself renamed in place unsynced, restored from the journal
 * by postfix_registration_recover() at the next start after a crash; docs/postfix-site.md,
 * "Registrations and durability"); contents (LF lines):
 *
 *   MSGTRK-POSTFIX-REG 1
 *   Queue-Id: QID                    ; absent in a pending registration
 *   [Ident: msgtrk-<32 hex>]         ; by ident: pending, or bound from it (the
 *                                    ; transaction's id: postfix_registration_make_current)
 *   [Message-Id: <xtext>]            ; pending registrations by Message-ID only (no <>)
 *   *( Skip-Queue-Id: QID )          ; pending only: other messages with that Message-ID
 *   [Orphaned: <unix seconds>]       ; pending by Message-ID only: its front is gone
 *                                    ; (postfix_registration_recover)
 *   Envid: <xtext>
 *   Authenticator: <B, base64>
 *   Arrival: <unix seconds>
 *   Expires: <unix seconds>          ; arrival + the MTRK timeout
 *   [Parent: QID]                    ; derived registrations only
 *   1*( Rcpt: <xtext address> <xtext registered address> <xtext ORCPT or "-"> )
 *
 * "address" is what Postfix logs for this queue id (to= or orig_to=); "registered address"
 * is the RCPT TO of the original submission (the same in the front's files).
 *
 * A pending registration is the front's registration of a tracked message before
 * Postfix named its queue id: journaled before the message's data goes to Postfix (its
 * fdatasync runs while Postfix writes its queue file). By ident, <dir>/<ident>.pending:
 * the front sent "XFORWARD IDENT=<ident>" before the message's MAIL, and the follower
 * binds it to the queue id of smtpd's "QID: client=..., orig_queue_id=<ident>" line. By
 * Message-ID (the upstream does not offer XFORWARD), <dir>/<SHA-256 hex of the
 * Message-ID>.pending: after Postfix's 250 the front writes QID.reg itself
 * (postfix_registration_write_journaled()) and then removes the pending file; the
 * follower holds the cleanup lines "QID: message-id=<...>" while it exists and binds it
 * to the first one (postfix_registration_claim_pending(): QID.reg written durably, the
 * pending file removed) only when it is still there registration_wait seconds later
 * (the front died between the "." and its registration). By ident, the front writes
 * nothing after the 250: the follower's binding is the queue id's registration, and a
 * replay of the front's journal in the same boot restores no pending registration by
 * ident (postfix_registration_recover()). The front's <ident>.pending is a
 * hard link of one of its slot files, <dir>/.slot-<its journal's suffix>-<n>
 * (postfix_registration_start_pending(), a job the front joins before the message's
 * data goes upstream; at most POSTFIX_REGISTRATION_PENDING_SLOTS):
 * a slot is written in place and linked once its link count is 1 again (the follower
 * removed the pending name it had), so no inode is allocated per message; none free: a
 * file of its own. A slot whose own name went is made again under its number; a slot is
 * opened O_NONBLOCK and written only when it is a regular file of ours with one link
 * (else the message gets a file of its own). A reader may have opened a pending name
 * just before it went and its slot was rewritten: every read of a registration checks
 * afterwards that the name still holds the inode it read (gone: none pending; another
 * inode: read again, POSTFIX_REGISTRATION_READ_RETRIES times at most, then
 * MSGTRK_ERROR_TIMEOUT). After a power loss a slot linked under a pending name may hold
 * the previous message's data until the replay rewrites it; the ident check of
 * postfix_registration_claim_pending() rejects it. A stopping front removes its slots' names; the replay removes the
 * slots of a dead front whose journal is gone (the pending names stay or are restored). By
 * Message-ID a replay restores QID.reg from the journal and then does not restore the
 * pending one (and removes its file if still there); by ident it restores the pending one
 * only from a journal not of this boot. Skip-Queue-Id names the
 * queue ids of untracked messages with the same Message-ID that the front passed to
 * Postfix just before (their cleanup lines may be read after the pending file appears):
 * never bound to it (at most POSTFIX_REGISTRATION_MAX_SKIP).
 *
 * A pending registration by Message-ID whose front died before it named the queue id
 * (killed -9 between the pending write and its registration, or a pending file it had
 * dropped, which the replay restores) is an orphan: the journal's replay, the first
 * start of a front or the follower after that front is gone, writes it again with
 * "Orphaned: <now>" and leaves the mark <dir>/.orphans. None of that front's data can
 * reach Postfix any more (its upstream links died with it), so every cleanup line of it
 * is in the log already; the follower, once it has read the log to its end at least
 * POSTFIX_REGISTRATION_ORPHAN_SETTLE seconds after that, binds the orphan to the first
 * cleanup line with its Message-ID it holds (postfix_registration_claim_pending), or
 * removes it (none: no data of it reached Postfix, or it was bound or dropped before
 * the crash). Until then the orphan holds up its Message-ID in the fronts, as any
 * pending registration does (docs/postfix-orphans.md).
 *
 * A registration bound from transaction <ident> whose queue id a later message got
 * (Postfix discarded the first after the binding, or reused a short queue id) waits as
 * <dir>/<QID>.<ident>.superseded: set aside by the follower at the later message's
 * smtpd "client=" line (postfix_registration_make_current()), or at its header line,
 * cleanup's "message-id=", logged more than POSTFIX_REGISTRATION_REUSE_AFTER after the
 * registration's arrival (postfix_registration_start(): a message without a client
 * line), current again if it reads the first message's client line again; removed once
 * expired.
 *
 * Limits: POSTFIX_REGISTRATION_MAX_SIZE octets per file, POSTFIX_REGISTRATION_MAX_RCPTS
 * recipients (a message has at most 1000 recipient blocks, MSGTRK_REPORT_MAX_RECIPIENTS).
 * Never: store A, a message body or anything but the envelope; follow a symlink.
 */
#pragma once

#include <msgtrk.h>

#include "durable-group.h"

G_BEGIN_DECLS

#define POSTFIX_REGISTRATION_MAX_SIZE (256 * 1024)
#define POSTFIX_REGISTRATION_MAX_RCPTS 1000
/** POSTFIX_REGISTRATION_HEAD_MAX: the most octets the lines of a registration other than its
 * "Rcpt:" lines take (a Message-ID of 998 octets and an ENVID of 100, each xtext-encoded
 * three times over, POSTFIX_REGISTRATION_MAX_SKIP skipped queue ids, every other line at
 * its longest: under 7 KiB; tested). */
#define POSTFIX_REGISTRATION_HEAD_MAX 8192
/** POSTFIX_REGISTRATION_RCPT_BUDGET: octets of "Rcpt:" lines (postfix_registration_rcpt_size)
 * a registration may have so that it stays within POSTFIX_REGISTRATION_MAX_SIZE whatever
 * its other lines: the front refuses the recipient that would pass it (452 4.5.3). */
#define POSTFIX_REGISTRATION_RCPT_BUDGET                                                           \
  (POSTFIX_REGISTRATION_MAX_SIZE - POSTFIX_REGISTRATION_HEAD_MAX)
/** POSTFIX_REGISTRATION_JOURNAL_PREFIX: names of the front's write-ahead journals. */
#define POSTFIX_REGISTRATION_JOURNAL_PREFIX ".journal-"
/** POSTFIX_REGISTRATION_MAX_SKIP: Skip-Queue-Id lines of a pending registration at most. */
#define POSTFIX_REGISTRATION_MAX_SKIP 64
/** POSTFIX_REGISTRATION_PENDING_MAX_AGE: seconds a pending registration is kept (its
 * cleanup line is read within seconds, or after a crash once the follower catches up). */
#define POSTFIX_REGISTRATION_PENDING_MAX_AGE 86400
/** POSTFIX_REGISTRATION_ORPHAN_SETTLE: seconds after a pending registration was orphaned
 * (Orphaned:) before the follower settles it from the log it has read (its dead front's
 * last data, still in a socket buffer when it died, has reached Postfix's log by then). */
#define POSTFIX_REGISTRATION_ORPHAN_SETTLE 2
/** POSTFIX_REGISTRATION_ORPHANS_MARK: the file that tells the follower orphans are due. */
#define POSTFIX_REGISTRATION_ORPHANS_MARK ".orphans"
/** POSTFIX_REGISTRATION_REUSE_AFTER: seconds after its arrival (the front took the
 * message's DATA) past which a header line of its queue id is another message's
 * (postfix_registration_start): more than a message's data may take to bring its header
 * (the front's request_deadline, at most an hour), and than a syslog time stamp read an
 * hour late across a daylight-saving change. A short queue id that comes back sooner is
 * not told. */
#define POSTFIX_REGISTRATION_REUSE_AFTER (3 * 3600)
/** POSTFIX_REGISTRATION_IDENT_PREFIX / _HEX: a transaction ident (XFORWARD IDENT) is the
 * prefix and this many lowercase hex digits (128 random bits): far under Postfix's 255,
 * none of the characters its smtpd neuters. */
#define POSTFIX_REGISTRATION_IDENT_PREFIX "msgtrk-"
#define POSTFIX_REGISTRATION_IDENT_HEX 32
/** POSTFIX_REGISTRATION_IDENT_WINDOW: seconds after its XFORWARD IDENT within which the
 * front writes the pending registration of that ident, or never (later: it registers by
 * queue id after Postfix's 250); the follower holds a client line with an ident at least
 * twice this long (Postfix logs it at the first accepted RCPT, before the pending file). */
#define POSTFIX_REGISTRATION_IDENT_WINDOW 10
/** POSTFIX_REGISTRATION_PENDING_SLOTS: slot files a front keeps for its pending
 * registrations by ident at most (PostfixPendingSlots: enough for the messages the
 * follower has not bound yet at a site's rate; past it, a new file per message). */
#define POSTFIX_REGISTRATION_PENDING_SLOTS 1024
/** POSTFIX_REGISTRATION_SLOT_OPEN: slot files a front keeps open, the lowest numbers
 * (those in use while the follower keeps up): writing one then needs no open(2), fstat(2)
 * and close(2); past them a slot is opened for each use. Counted in the front's
 * open-files check (front_check_open_files). */
#define POSTFIX_REGISTRATION_SLOT_OPEN 32
/** POSTFIX_REGISTRATION_SLOT_PROBES: idle slots looked at (lstat) for one whose pending
 * name is gone before a new one is made (the first is nearly always free while the
 * follower keeps up; one more passes over a pending registration kept for long). */
#define POSTFIX_REGISTRATION_SLOT_PROBES 2
/** POSTFIX_REGISTRATION_SLOT_PREFIX: names of the slot files, <prefix><journal's
 * suffix>-<n> (the suffix of the owner's .journal-XXXXXX). */
#define POSTFIX_REGISTRATION_SLOT_PREFIX ".slot-"

/* What names a pending registration: the transaction ident the front gave Postfix
 * (XFORWARD IDENT, logged as orig_queue_id=), or, when the upstream does not take
 * XFORWARD, the message's Message-ID (weaker: Postfix does not make it unique). */
typedef enum
{
  POSTFIX_PENDING_BY_MESSAGE_ID,
  POSTFIX_PENDING_BY_IDENT,
} PostfixPendingKey;

/* What postfix_registration_make_current() changed (flags). */
typedef enum
{
  POSTFIX_CURRENT_KEPT = 0,          /* nothing: none, or this transaction's */
  POSTFIX_CURRENT_SET_ASIDE = 1 << 0, /* an earlier message's set aside (or removed) */
  POSTFIX_CURRENT_RESTORED = 1 << 1,  /* this transaction's, set aside before, current again */
} PostfixCurrentChange;

typedef struct
{
  char *address;      /* (owned) as Postfix logs it for this queue id (set by
                       * postfix_registration_add_rcpt only: @logged follows it) */
  char *registered;   /* (owned) RCPT TO of the submission */
  char *orcpt;        /* (owned) (nullable) decoded "type;address" */
  char *logged;       /* (owned) @address in the form Postfix logs it (quotes a local part
                       * does not need and a source route dropped), made once when added:
                       * postfix_registration_find compares it for every line */
} PostfixRegRcpt;

typedef struct
{
  char *queue_id;       /* (owned) */
  char *envid;          /* (owned) decoded */
  char *authenticator;  /* (owned) B */
  gint64 arrival;
  gint64 expires;
  char *parent;         /* (owned) (nullable) */
  char *message_id;     /* (owned) (nullable) pending registrations: without <> */
  char *ident;          /* (owned) (nullable) by ident: XFORWARD IDENT (pending, or bound
                         * from it) */
  GPtrArray *rcpts;     /* (owned) of PostfixRegRcpt */
  GPtrArray *skip;      /* (owned) of char*: pending only, queue ids never bound to it */
  gint64 orphaned;      /* pending by Message-ID only: unix seconds its front was found
                         * gone (postfix_registration_recover), 0 while it lives */
} PostfixRegistration;

PostfixRegistration *postfix_registration_new      (const char                *queue_id,
                                                    const char                *envid,
                                                    const char                *authenticator,
                                                    gint64                     arrival,
                                                    gint64                     expires);
void                 postfix_registration_free     (PostfixRegistration       *reg);
gboolean             postfix_registration_add_rcpt (PostfixRegistration       *reg,
                                                    const char                *address,
                                                    const char                *registered,
                                                    const char                *orcpt,
                                                    GError                   **error);
char                *postfix_registration_format   (const PostfixRegistration *reg);
gsize                postfix_registration_rcpt_size (const char               *address,
                                                     const char               *registered,
                                                     const char               *orcpt);
PostfixRegistration *postfix_registration_parse    (const char                *text,
                                                    gsize                      len,
                                                    GError                   **error);
gboolean             postfix_registration_write    (const char                *dir,
                                                    const PostfixRegistration *reg,
                                                    GError                   **error);
gboolean             postfix_registration_write_journaled (const char          *dir,
                                                    DurableJournal            *journal,
                                                    const PostfixRegistration *reg,
                                                    GError                   **error);
gboolean             postfix_registration_write_pending (const char            *dir,
                                                    DurableJournal            *journal,
                                                    const PostfixRegistration *reg,
                                                    guint64                   *ticket,
                                                    GError                   **error);
gboolean             postfix_registration_pending_exists (const char           *dir,
                                                    PostfixPendingKey          kind,
                                                    const char                *key);
void                 postfix_registration_drop_pending (const char             *dir,
                                                    PostfixPendingKey          kind,
                                                    const char                *key);
gboolean             postfix_registration_drop_pending_of (const char          *dir,
                                                    PostfixPendingKey          kind,
                                                    const char                *key,
                                                    const PostfixRegistration *reg);
gboolean             postfix_registration_make_current (const char             *dir,
                                                    const char                *queue_id,
                                                    const char                *ident,
                                                    PostfixCurrentChange      *done,
                                                    GError                   **error);
gboolean             postfix_registration_start    (const char                *dir,
                                                    const char                *queue_id,
                                                    gint64                     logged,
                                                    PostfixCurrentChange      *done,
                                                    GError                   **error);
gboolean             postfix_registration_claim_pending (const char            *dir,
                                                    PostfixPendingKey          kind,
                                                    const char                *key,
                                                    const char                *queue_id,
                                                    GError                   **error);
char                *postfix_registration_ident_new (void);
gboolean             postfix_registration_ident_is_valid (const char           *text);
guint                postfix_registration_recover  (const char                *dir,
                                                    GError                   **error);
gboolean             postfix_registration_orphans_marked (const char           *dir);
GPtrArray           *postfix_registration_list_orphans (const char             *dir);
PostfixRegistration *postfix_registration_read     (const char                *dir,
                                                    const char                *queue_id,
                                                    GError                   **error);
gboolean             postfix_registration_exists   (const char                *dir,
                                                    const char                *queue_id);
guint                postfix_registration_expire   (const char                *dir,
                                                    gint64                     now);
const PostfixRegRcpt *postfix_registration_find    (const PostfixRegistration *reg,
                                                    const char                *address);

/* A front's reusable inodes for pending registrations by ident (postfix-register.h). */
typedef struct _PostfixPendingSlots PostfixPendingSlots;

PostfixPendingSlots *postfix_pending_slots_new     (const char                *dir,
                                                    DurableJournal            *journal);
void                 postfix_pending_slots_free    (PostfixPendingSlots       *slots);
guint                postfix_pending_slots_made    (PostfixPendingSlots       *slots);
guint                postfix_pending_slots_opened  (PostfixPendingSlots       *slots);
DurableJournalJob   *postfix_registration_start_pending (PostfixPendingSlots       *slots,
                                                         const char                *dir,
                                                         DurableJournal            *journal,
                                                         const PostfixRegistration *reg,
                                                         GError                   **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PostfixRegistration, postfix_registration_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PostfixPendingSlots, postfix_pending_slots_free)

G_END_DECLS
