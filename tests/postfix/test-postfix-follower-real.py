#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-real.py: the follower's mappings that need more than a plain
Postfix, each seen from a real Postfix 3.x and asserted as mtqpd's TRACK answer.

  test-postfix-follower-real.py --build-dir BUILD [--syslog] [--save-log FILE]

What: a private Postfix (postfix_instance.py, configure_site) with
  (a) a content filter as Postfix's FILTER_README sets one up: a second smtpd listener
      with content_filter=scan:[127.0.0.1]:PORT, the filter (ContentFilter: receives the
      message and re-submits it to a third smtpd listener with content_filter= empty, then
      answers with the re-injection's reply, as amavisd-new does): the tracked message's
      final outcomes come from the re-injected queue id's deliveries; the same through the
      real submission front (msgtrk-submit-front), whose XFORWARD IDENT Postfix passes on
      to the re-injection: bound once, to the submitted queue id;
  (b) maximal_queue_lifetime of a few seconds and a sink that answers 451: the recipient is
      delayed (Will-Retry-Until = arrival + the lifetime), then qmgr logs status=expired and
      it is failed, with the fields of Postfix's own bounce; the same after `postsuper -e`
      (qmgr: status=force-expired); soft_bounce=yes on one transport: a 550 logged as
      status=SOFTBOUNCE, delayed as in Postfix's delay notice;
  (c) lmtp(8) to LmtpServer over TCP and over a unix socket: delivered (and a 552 after
      DATA: failed), compared with Postfix's own success and failure DSNs;
  (d) mtrk_next_hops (the follower's setting for next hops that take MTRK) naming a sink
      on 127.0.0.2: transferred; a next hop not named in the same message: relayed.
Then the whole log read again from its start (position file removed): no record changes.
With --syslog Postfix logs through syslog(3) instead of maillog_file: its processes run in
a private mount namespace whose /dev/log is the test's datagram socket; SyslogReceiver
writes each record as a traditional syslog daemon does ("Mmm dd hh:mm:ss" as glibc sent
it, the host name, the rest), and a foreign program's line (logger) lands in between; the
follower follows that file.
How: the follower and mtqpd are the real binaries (as nobody); registrations are written as
the submission front writes them (tracking_harness.register); every wait polls.
Limits: tracking_harness.WAIT seconds per awaited state (FILTER_WAIT for the filtered
message's final outcomes); LIFETIME_SHORT.
Never: touch the system's /dev or Postfix; leave a process behind (stop_site).
Skips (77) unless root with Postfix installed (and unshare/mount for --syslog).
"""

import argparse
import email
import email.utils
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (AUTH, Daemons, LineClient, Sink, configure_site,  # noqa: E402
                              follower_conf, read_log, recipients, register, settle,
                              site_state_dir, stop_site, track, wait_for, wait_log, xtext)

# maximal_queue_lifetime: long enough that the delayed entry is seen before qmgr expires
# the message, short enough for a quick test.
LIFETIME_SHORT = 5
# Seconds the content filter's message may take to reach its final outcomes (two queue
# passes and the filter between them).
FILTER_WAIT = 80
MTRK_HOP = "127.0.0.2"  # a loopback address of its own: the next hop that takes MTRK
# Its reply to the data, as msgtrk-relay gives it (relay_queue_new_id(): 22 hex digits,
# which look like a Postfix queue id): a listed next hop on loopback is no content filter.
MTRK_HOP_REPLY = "250 2.0.0 Ok: queued as 00018C2F3A4B5C6D7E8F90"
HOST = "mx"             # the host name SyslogReceiver writes


def serve_threads(sock, handler, stopping):
    """Accept on @sock until stopping[0]; each connection in a thread of its own (Postfix
    caches connections: a serial server would block the next one)."""
    def run(c):
        try:
            c.settimeout(20)
            handler(c.makefile("rwb"))
        except OSError:
            pass
        finally:
            c.close()
    while not stopping[0]:
        try:
            c, _ = sock.accept()
        except OSError:
            continue
        threading.Thread(target=run, args=(c,), daemon=True).start()


def read_data(f):
    """The message after a 354, dot-unstuffed, up to the "." line; None on EOF."""
    lines = []
    while True:
        line = f.readline(65536)
        if not line:
            return None
        if line == b".\r\n":
            return b"".join(lines)
        lines.append(line[1:] if line.startswith(b"..") else line)


def angle(line):
    """The address between the first < and the next > of a command line."""
    m = re.search(rb"<([^>]*)>", line)
    return m.group(1).decode() if m else ""


class LmtpServer:
    """An LMTP server (RFC 2033) on 127.0.0.1 or, with @path, a unix socket: one reply
    per accepted recipient after the data; replies[address] or 250 "saved"."""

    def __init__(self, replies, path=None):
        self.replies = replies
        self.path = path
        if path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(path)
            os.chmod(path, 0o666)  # Postfix's lmtp(8) runs as postfix
        else:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.stopping = [False]
        self.thread = threading.Thread(target=serve_threads,
                                       args=(self.sock, self.session, self.stopping),
                                       daemon=True)
        self.thread.start()

    def session(self, f):
        def say(t):
            f.write(t.encode() + b"\r\n")
            f.flush()
        say("220 lmtp.test.example LMTP ready")
        rcpts = []
        while True:
            line = f.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"LHLO":
                say("250-lmtp.test.example\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME")
            elif verb == b"MAIL":
                rcpts = []
                say("250 2.1.0 ok")
            elif verb == b"RCPT":
                rcpts.append(angle(line))
                say("250 2.1.5 ok")
            elif verb == b"DATA":
                say("354 go ahead")
                if read_data(f) is None:
                    return
                for r in rcpts:
                    say(self.replies.get(r, "250 2.0.0 <%s> saved" % r))
                rcpts = []
            elif verb == b"QUIT":
                say("221 2.0.0 bye")
                return
            else:
                rcpts = [] if verb == b"RSET" else rcpts
                say("250 2.0.0 ok")

    def close(self):
        self.stopping[0] = True
        self.thread.join(3)
        self.sock.close()


class ContentFilter:
    """An SMTP content filter (Postfix's FILTER_README, "advanced"): takes the message
    from Postfix's scan transport, submits it again to Postfix's re-injection listener
    (smtplib), passing on the XFORWARD attributes Postfix sent (IDENT: the original queue
    id), and answers with that listener's reply inside its own, as amavisd-new does:
    "250 2.0.0 Ok, id=fN, from MTA([127.0.0.1]:PORT): 250 2.0.0 Ok: queued as NEWID"."""

    def __init__(self, reinject_port):
        self.reinject_port = reinject_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.count = 0
        self.stopping = [False]
        self.thread = threading.Thread(target=serve_threads,
                                       args=(self.sock, self.session, self.stopping),
                                       daemon=True)
        self.thread.start()

    def reinject(self, sender, rcpts, data, xforward):
        s = smtplib.SMTP("127.0.0.1", self.reinject_port, local_hostname="filter.test.example",
                         timeout=20)
        try:
            s.ehlo()
            for line in xforward if s.has_extn("xforward") else []:
                code, msg = s.docmd(line)
                if code != 250:
                    return "451 4.3.0 re-injection refused XFORWARD: %d" % code
            code, msg = s.mail(sender)
            if code != 250:
                return "451 4.3.0 re-injection refused the sender: %d" % code
            for r in rcpts:
                code, msg = s.rcpt(r)
                if code != 250:
                    return "451 4.3.0 re-injection refused %s: %d" % (r, code)
            code, msg = s.data(data)
            return "%d %s" % (code, msg.decode())
        finally:
            s.quit()

    def session(self, f):
        def say(t):
            f.write(t.encode() + b"\r\n")
            f.flush()
        say("220 filter.test.example ESMTP")
        sender, rcpts, xforward = None, [], []
        while True:
            line = f.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                say("250-filter.test.example\r\n"
                    "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n250 8BITMIME")
            elif verb == b"XFOR":
                xforward.append(line.decode().rstrip("\r\n"))
                say("250 2.0.0 Ok")
            elif verb == b"MAIL":
                sender, rcpts = angle(line), []
                say("250 2.1.0 ok")
            elif verb == b"RCPT":
                rcpts.append(angle(line))
                say("250 2.1.5 ok")
            elif verb == b"DATA":
                say("354 go ahead")
                data = read_data(f)
                if data is None:
                    return
                try:
                    reply = self.reinject(sender, rcpts, data, xforward)
                except (OSError, smtplib.SMTPException) as e:
                    reply = "451 4.3.0 re-injection failed: %s" % e
                self.count += 1
                if reply.startswith("250 "):
                    reply = "250 2.0.0 Ok, id=f%d, from MTA([127.0.0.1]:%d): %s" % (
                        self.count, self.reinject_port, reply)
                say(reply)
                xforward = []
            elif verb == b"QUIT":
                say("221 2.0.0 bye")
                return
            else:
                say("250 2.0.0 ok")

    def close(self):
        self.stopping[0] = True
        self.thread.join(3)
        self.sock.close()


class SyslogReceiver:
    """A syslog daemon's file output, from the datagrams on a unix socket (what Postfix's
    processes see as /dev/log): "<PRI>Mmm dd hh:mm:ss TAG[PID]: text" (glibc's syslog(3))
    written as "Mmm dd hh:mm:ss HOST TAG[PID]: text" (sysklogd, busybox, rsyslog's
    traditional file format)."""

    STAMP = re.compile(r"^<\d{1,3}>([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) (.*)$", re.S)

    def __init__(self, path, out):
        self.path = path
        self.out = open(out, "a")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # Postfix's daemons run as postfix
        self.sock.settimeout(0.5)
        self.stopping = False
        self.count = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                data = self.sock.recv(65536)
            except OSError:
                continue
            m = self.STAMP.match(data.decode("utf-8", "replace"))
            if m is None:
                continue
            text = m.group(2).rstrip("\n").replace("\n", "#012")
            self.out.write("%s %s %s\n" % (m.group(1), HOST, text))
            self.out.flush()
            self.count += 1

    def close(self):
        self.stopping = True
        self.thread.join(3)
        self.sock.close()
        self.out.close()


# The private /dev of the --syslog instance: the real /dev's entries as symbolic links
# into a recursive bind mount of it, plus /dev/log as the test's socket. Only the processes
# started under it (Postfix's master and its children) see it.
NAMESPACE_SCRIPT = r"""set -e
mkdir -p "$B/realdev"
mount --rbind /dev "$B/realdev"
mount -t tmpfs -o mode=755,size=64k msgtrk-test-dev /dev
for f in "$B"/realdev/* "$B"/realdev/.[!.]*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  ln -s "$f" /dev/
done
ln -sf "$B/dev-log" /dev/log
exec "$@"
"""


class SyslogPostfix(pi.PrivatePostfix):
    """A PrivatePostfix without maillog_file, logging through syslog(3) to SyslogReceiver:
    `postfix start` runs in a private mount namespace (NAMESPACE_SCRIPT)."""

    def postfix(self, *args, timeout=pi.STOP_TIMEOUT):
        if args and args[0] == "start":
            env = dict(pi.CLEAN_ENV, B=self.base)
            return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                   NAMESPACE_SCRIPT, "sh", pi.POSTFIX, "-c", self.conf]
                                  + list(args), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=timeout, check=False)
        return super().postfix(*args, timeout=timeout)


def syslog_skip_reason():
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            return "--syslog needs %s" % tool
    return None


def postconf(pf, *args):
    """postconf -c CONF ARGS: its output (stripped); raises on failure."""
    r = subprocess.run([pi.POSTCONF, "-c", pf.conf] + list(args), env=pi.CLEAN_ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=15)
    if r.returncode != 0:
        raise pi.PostfixError("postconf %s: %s" % (" ".join(args), r.stdout.decode()))
    return r.stdout.decode().strip()


def submit(port, envid, rcpts, subject, notify=None):
    """One message over SMTP with ENVID (and NOTIFY= on each RCPT); Postfix's queue id."""
    c = pi.SmtpClient(port)
    c.command("EHLO client.test.example", 250)
    c.command("MAIL FROM:<sender@test.example> ENVID=%s" % xtext(envid), 250)
    for r in rcpts:
        c.command("RCPT TO:<%s>%s" % (r, " NOTIFY=" + notify if notify else ""), 250)
    reply = c.data(("Message-Id: <%s>\r\nSubject: %s\r\n\r\nbody\r\n" % (envid, subject))
                   .encode())
    c.close()
    return reply.decode().strip().split("queued as ")[-1]


def postfix_dsns(pf):
    """Postfix's DSNs in sender@test.example's Maildir: [(Original-Envelope-Id, {final
    recipient: {field: value}})], fields lower case, as RFC 3464 writes them."""
    out = []
    for path in pi.maildir_files(os.path.join(pf.mail, "sender", "Maildir")):
        with open(path, "rb") as fh:
            msg = email.message_from_binary_file(fh)
        for part in msg.walk():
            if part.get_content_type() != "message/delivery-status":
                continue
            blocks = part.get_payload()
            envid = blocks[0].get("Original-Envelope-Id", "") if blocks else ""
            per = {}
            for b in blocks[1:]:
                final = b.get("Final-Recipient", "").split(";", 1)[-1].strip().lower()
                per[final] = {k.lower(): " ".join(v.split()) for k, v in b.items()}
            out.append((envid, per))
    return out


def find_dsn(pf, envid, rcpt, action):
    """Postfix's DSN fields for @rcpt of @envid with Action @action, or None."""
    for e, per in postfix_dsns(pf):
        f = per.get(rcpt)
        if e == envid and f is not None and f.get("action") == action:
            return f
    return None


def one(r, rcpt):
    """The only entry of @rcpt in recipients() output (None if not exactly one)."""
    v = r.get(rcpt, [])
    return v[0] if len(v) == 1 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--syslog", action="store_true")
    ap.add_argument("--save-log", help="copy the mail log there at the end (fixtures)")
    a = ap.parse_args()
    for why in (pi.skip_reason,) + ((syslog_skip_reason,) if a.syslog else ()):
        reason = why()
        if reason:
            print("1..0 # SKIP " + reason)
            return 77
    pi.raise_on_terminate()
    follower_exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-postfix-follower")
    front_exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-submit-front")
    mtqpd_exe = os.path.join(a.build_dir, "server", "mtqpd", "mtqpd")
    started = time.monotonic()
    t = pi.Checker()
    pf = SyslogPostfix() if a.syslog else pi.PrivatePostfix()
    sinks = []
    daemons = Daemons(pf.base)
    receiver = None
    try:
        sinks = configure_site(pf)
        hop = Sink("250 2.1.5 ok", host=MTRK_HOP, data_reply=MTRK_HOP_REPLY)
        lmtp = LmtpServer({"c@lmtp.test.example":
                           "552 5.2.2 <c@lmtp.test.example> mailbox full"})
        lmtp_unix = LmtpServer({}, path=os.path.join(pf.base, "lmtp.sock"))
        filter_in, reinject = pi.free_port(), pi.free_port()
        filt = ContentFilter(reinject)
        sinks += [hop, lmtp, lmtp_unix, filt]
        with open(os.path.join(pf.conf, "transport"), "a") as f:
            f.write("lmtp.test.example lmtp:inet:127.0.0.1:%d\n" % lmtp.port)
            f.write("lmtpu.test.example lmtp:unix:%s\n" % lmtp_unix.path)
            f.write("mtrk.test.example smtp:[%s]:%d\n" % (MTRK_HOP, hop.port))
            f.write("soft.test.example softsmtp:[127.0.0.1]:%d\n" % sinks[2].port)
        relay = postconf(pf, "-h", "relay_domains")
        postconf(pf, "-e", "relay_domains=%s, lmtp.test.example, lmtpu.test.example, "
                 "mtrk.test.example, soft.test.example" % relay,
                 "maximal_queue_lifetime=%ds" % LIFETIME_SHORT,
                 "bounce_queue_lifetime=%ds" % LIFETIME_SHORT,
                 "smtpd_authorized_xclient_hosts=127.0.0.0/8",
                 *(["maillog_file="] if a.syslog else []))
        with open(os.path.join(pf.conf, "master.cf"), "a") as f:
            f.write("lmtp unix - - n - - lmtp\n")
            # soft_bounce for one transport: its 550 is logged status=SOFTBOUNCE, 4.x.x.
            f.write("softsmtp unix - - n - - smtp\n  -o soft_bounce=yes\n")
            # FILTER_README, "advanced content filter": the filter's transport, the
            # listener whose mail goes through it, the re-injection listener.
            f.write("scan unix - - n - 10 smtp\n"
                    "  -o smtp_send_xforward_command=yes\n"
                    "  -o disable_mime_output_conversion=yes\n"
                    "  -o smtp_generic_maps=\n")
            f.write("127.0.0.1:%d inet n - n - - smtpd\n"
                    "  -o content_filter=scan:[127.0.0.1]:%d\n"
                    "  -o receive_override_options=no_address_mappings\n"
                    % (filter_in, filt.port))
            f.write("127.0.0.1:%d inet n - n - 10 smtpd\n"
                    "  -o content_filter=\n"
                    "  -o receive_override_options=no_unknown_recipient_checks,"
                    "no_header_body_checks,no_milters\n"
                    "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
                    "  -o mynetworks=127.0.0.0/8\n" % reinject)
        if a.syslog:
            receiver = SyslogReceiver(os.path.join(pf.base, "dev-log"), pf.log)
        pf.start()
        if a.syslog:
            subprocess.run(["logger", "-u", receiver.path, "-t", "CRON", "-i",
                            "(root) CMD (run-parts /etc/cron.hourly)"], timeout=10,
                           check=False)

        state, regs = site_state_dir(pf)
        daemons.start(follower_exe, "follower",
                      follower_conf(pf, state) + "mtrk_next_hops=%s\n" % MTRK_HOP)
        mport = daemons.start(mtqpd_exe, "mtqpd",
                              "[mtqpd]\nhostname=mx.test.example\nstate_dir=%s\nuser=nobody\n"
                              "listen=127.0.0.1:0\n" % state,
                              port_file=os.path.join(pf.base, "mtqpd.port"), verbose=False)

        # The submission front in front of the filtered listener (a site with amavisd-new):
        # it binds the message by XFORWARD IDENT, the filter's re-injection carries
        # Postfix's queue id as IDENT in turn.
        front_port = daemons.start(front_exe, "front",
                                   "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                                   "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                                   % (filter_in, state), os.path.join(pf.base, "front.port"))

        def tracked(envid, rcpts, port, subject, notify=None):
            arrival = int(time.time())
            qid = submit(port, envid, rcpts, subject, notify)
            register(regs, qid, envid, rcpts, arrival)
            return qid, arrival

        env_e, env_f = "expire.real@test.example", "filter.real@test.example"
        env_l, env_t = "lmtp.real@test.example", "transfer.real@test.example"
        env_x = "force-expire.real@test.example"
        qid_e, arrival_e = tracked(env_e, ["y@tmp.test.example"], pf.port, "expire")
        qid_x, _ = tracked(env_x, ["w@tmp.test.example"], pf.port, "force-expire")
        env_s = "softbounce.real@test.example"
        qid_s, arrival_s = tracked(env_s, ["s@soft.test.example"], pf.port, "softbounce")
        qid_f, _ = tracked(env_f, ["alice@test.example", "x@ok.test.example"], filter_in,
                           "filter")
        lmtp_rcpts = ["a@lmtp.test.example", "c@lmtp.test.example", "u@lmtpu.test.example"]
        env_ff = "front-filter.real@test.example"
        c = LineClient(front_port)
        c.reply()
        c.cmd("EHLO client.test.example")
        c.cmd("MAIL FROM:<sender@test.example> ENVID=%s MTRK=%s:86400" % (env_ff, AUTH))
        for rc in ("alice@test.example", "x@ok.test.example"):
            c.cmd("RCPT TO:<%s>" % rc)
        front_reply = c.data(b"Message-ID: <%s>\r\nSubject: front\r\n\r\nhi\r\n"
                             % env_ff.encode())
        c.cmd("QUIT")
        c.close()
        qid_l, _ = tracked(env_l, lmtp_rcpts, pf.port, "lmtp", notify="SUCCESS,FAILURE")
        qid_t, _ = tracked(env_t, ["t@mtrk.test.example", "x@ok.test.example"], pf.port,
                           "transfer")

        def rec(envid):
            return recipients(track(mport, envid))

        # (b) postsuper -e after the first deferral (the admin gives up on a message):
        # Postfix returns it at the next attempt, long before maximal_queue_lifetime.
        wait_for("the force-expired message's first deferral", lambda: re.search(
            r" %s: to=<w@tmp\.test\.example>, .*status=deferred" % qid_x,
            open(pf.log, errors="replace").read()))
        subprocess.run(["/usr/sbin/postsuper", "-c", pf.conf, "-e", qid_x], env=pi.CLEAN_ENV,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=15,
                       check=True)

        # (b) first half: the 451 recipient (and the soft-bounced one, below) is delayed
        # until the lifetime passes: both caught as soon as they are, in one poll.
        delayed, soft = {}, {}

        def both_delayed():
            for envid, rcpt, into in ((env_e, "y@tmp.test.example", delayed),
                                      (env_s, "s@soft.test.example", soft)):
                e = None if into else one(rec(envid), rcpt)
                if e and e.get("action") == "delayed":
                    into.update(e)
            return bool(delayed and soft)
        settle("the delayed entries", both_delayed)
        t.equal("(b) 451: delayed first", delayed.get("action"), "delayed")
        t.equal("(b) delayed: status from dsn=", delayed.get("status"), "4.3.0")
        t.equal("(b) delayed: Diagnostic-Code from the 451 reply",
                delayed.get("diagnostic-code"), "smtp; 451 4.3.0 try again later")
        wru = delayed.get("will-retry-until")
        until = email.utils.parsedate_to_datetime(wru).timestamp() if wru else 0
        t.check("(b) delayed: Will-Retry-Until = arrival + maximal_queue_lifetime",
                abs(until - (arrival_e + LIFETIME_SHORT)) <= 2,
                "%r vs arrival %d + %d" % (wru, arrival_e, LIFETIME_SHORT))
        # Postfix's own delay notice (delay_warning_time = 1s) for the same recipient.
        d = None
        if settle("Postfix's delay notice",
                  lambda: find_dsn(pf, env_e, "y@tmp.test.example", "delayed")):
            d = find_dsn(pf, env_e, "y@tmp.test.example", "delayed")
        if t.check("(b) Postfix's own delay notice arrived", d is not None):
            for field in ("status", "remote-mta", "diagnostic-code"):
                t.equal("(b) delayed: %s as in Postfix's delay notice" % field,
                        delayed.get(field), d.get(field))
            theirs = email.utils.parsedate_to_datetime(d.get("will-retry-until", "")) \
                .timestamp() if d.get("will-retry-until") else -100
            t.check("(b) delayed: Will-Retry-Until as in Postfix's delay notice (to 2 s)",
                    abs(until - theirs) <= 2, "%r vs %r" % (wru, d.get("will-retry-until")))

        # soft_bounce = yes: the 550 is logged status=SOFTBOUNCE with dsn=4.1.1 and the
        # message stays queued: delayed, as Postfix's own delay notice says.
        log = open(pf.log, errors="replace").read()
        t.check("(b) soft_bounce: Postfix logged status=SOFTBOUNCE",
                re.search(r" %s: to=<s@soft\.test\.example>, .*dsn=4\.1\.1, status=SOFTBOUNCE "
                          r"\(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 " % qid_s, log)
                is not None)
        t.equal("(b) SOFTBOUNCE: delayed", soft.get("action"), "delayed")
        wru = soft.get("will-retry-until")
        until_s = email.utils.parsedate_to_datetime(wru).timestamp() if wru else 0
        t.check("(b) SOFTBOUNCE: Will-Retry-Until = arrival + maximal_queue_lifetime",
                abs(until_s - (arrival_s + LIFETIME_SHORT)) <= 2, repr(wru))
        d = None
        if settle("Postfix's delay notice of the soft-bounced recipient",
                  lambda: find_dsn(pf, env_s, "s@soft.test.example", "delayed")):
            d = find_dsn(pf, env_s, "s@soft.test.example", "delayed")
        if t.check("(b) SOFTBOUNCE: Postfix's own delay notice arrived", d is not None):
            for field in ("status", "remote-mta", "diagnostic-code"):
                t.equal("(b) SOFTBOUNCE: %s as in Postfix's delay notice" % field,
                        soft.get(field), d.get(field))

        # (a) the content filter: final outcomes from the re-injected queue id.
        def filtered():
            r = rec(env_f)
            al, x = one(r, "alice@test.example"), one(r, "x@ok.test.example")
            return r if al and x and al.get("action") == "delivered" \
                and x.get("diagnostic-code", "").endswith("SINK1") else None
        # Two queue passes and a filter in between: on a loaded 2-CPU machine (ASan, tests
        # in parallel) once past WAIT (49 s against 13 alone); FILTER_WAIT is its bound.
        settle("the filtered message's final outcomes", filtered, FILTER_WAIT)
        log = open(pf.log, errors="replace").read()
        m = re.search(r" %s: to=<alice@test\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, "
                      r".*status=sent \(250 2\.0\.0 Ok, id=f\d+, from MTA\(\[127\.0\.0\.1\]:%d\): "
                      r"250 2\.0\.0 Ok: queued as ([0-9A-F]+)\)$" % (qid_f, filt.port, reinject),
                      log, re.M)
        t.check("(a) Postfix logged the filter's 'queued as NEWID' on the loopback relay",
                m is not None)
        newid = m.group(1) if m else "?"
        t.check("(a) the re-injected queue id's own deliveries are in the log",
                re.search(r" %s: to=<alice@test\.example>, relay=virtual, .*status=sent "
                          r"\(delivered to maildir\)$" % newid, log, re.M) is not None
                and re.search(r" %s: to=<x@ok\.test\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]"
                              r":%d, .*status=sent" % (newid, sinks[0].port), log, re.M)
                is not None, newid)
        t.check("(a) the re-injection's client line has orig_queue_id= (XFORWARD IDENT)",
                re.search(r" %s: client=\S+, orig_queue_id=%s, orig_client=" % (newid, qid_f),
                          log, re.M) is not None, newid)
        t.check("(a) a derived registration for the new queue id, its parent the tracked one",
                "Parent: %s" % qid_f in open(os.path.join(regs, newid + ".reg")).read()
                if os.path.exists(os.path.join(regs, newid + ".reg")) else False)
        r = rec(env_f)
        al, x = one(r, "alice@test.example"), one(r, "x@ok.test.example")
        t.check("(a) one entry per recipient (the interim 'relayed' to the filter replaced)",
                al is not None and x is not None, repr(r))
        al, x = al or {}, x or {}
        t.equal("(a) alice: delivered (virtual, re-injected id)", al.get("action"), "delivered")
        t.equal("(a) alice: status", al.get("status"), "2.0.0")
        t.equal("(a) alice: Diagnostic-Code", al.get("diagnostic-code"),
                "X-Postfix; delivered to maildir")
        t.equal("(a) alice: Original-Recipient", al.get("original-recipient"),
                "rfc822; alice@test.example")
        t.equal("(a) x: relayed by the re-injected id", x.get("action"), "relayed")
        t.equal("(a) x: status 2.1.9", x.get("status"), "2.1.9")
        t.equal("(a) x: Remote-MTA the sink, not the filter", x.get("remote-mta"),
                "dns; 127.0.0.1")
        t.equal("(a) x: the sink's 250 as Diagnostic-Code", x.get("diagnostic-code"),
                "smtp; 250 2.0.0 Ok: queued as SINK1")

        # (a) through the front: the same outcomes, bound by the front's own registration.
        t.equal("(a) the front: Postfix's 250 passed on", front_reply[0], 250)

        def front_filtered():
            r = rec(env_ff)
            al, x = one(r, "alice@test.example"), one(r, "x@ok.test.example")
            return r if al and x and al.get("action") == "delivered" \
                and x.get("diagnostic-code", "").endswith("SINK1") else None
        # (the same two queue passes and the filter: FILTER_WAIT, as above)
        r = settle("the front's filtered message's outcomes", front_filtered, FILTER_WAIT) \
            and front_filtered()
        t.check("(a) the front + content filter: alice delivered, x relayed by the sink, one "
                "entry each", bool(r) and one(r, "x@ok.test.example").get("status") == "2.1.9",
                repr(rec(env_ff)))
        ffq = front_reply[1].strip().split("queued as ")[-1]
        log = open(pf.log, errors="replace").read()
        # Postfix's smtp client passes on the XFORWARD IDENT the message came with (its log
        # ident: the front's, else its own queue id), so the re-injection's client line
        # carries the front's ident again: the follower must not bind it a second time.
        m = re.search(r" %s: client=\S+, orig_queue_id=(msgtrk-[0-9a-f]{32})$" % ffq, log, re.M)
        ident = m.group(1) if m else "?"
        m2 = re.search(r" ([0-9A-F]+): client=\S+, orig_queue_id=%s, orig_client=" % ident, log)
        t.check("(a) the front's ident on Postfix's client line, and again on the "
                "re-injection's (XFORWARD IDENT passed on by Postfix and the filter)",
                m is not None and m2 is not None and m2.group(1) != ffq, ffq)
        flog = wait_log(os.path.join(pf.base, "follower.log"),
                        "%s: the pending registration of orig_queue_id %s bound" % (ffq, ident))
        t.equal("(a) the follower bound the front's ident once, to the submitted queue id",
                re.findall(r"(\w+): the pending registration of orig_queue_id %s bound"
                           % ident, flog), [ffq])

        # (c) lmtp.
        def lmtp_done():
            r = rec(env_l)
            return r if all(one(r, x) for x in lmtp_rcpts) else None
        r = wait_for("the three LMTP outcomes", lmtp_done)
        la, lc, lu = (one(r, x) for x in lmtp_rcpts)
        t.equal("(c) lmtp 250 (TCP): delivered", la.get("action"), "delivered")
        t.equal("(c) lmtp 250: status", la.get("status"), "2.0.0")
        t.equal("(c) lmtp 250: Diagnostic-Code from the LMTP reply", la.get("diagnostic-code"),
                "smtp; 250 2.0.0 <a@lmtp.test.example> saved")
        t.equal("(c) lmtp 250: Remote-MTA", la.get("remote-mta"), "dns; 127.0.0.1")
        t.equal("(c) lmtp 552 after DATA: failed", lc.get("action"), "failed")
        t.equal("(c) lmtp 552: status", lc.get("status"), "5.2.2")
        t.equal("(c) lmtp 552: Diagnostic-Code", lc.get("diagnostic-code"),
                "smtp; 552 5.2.2 <c@lmtp.test.example> mailbox full")
        t.equal("(c) lmtp over a unix socket: delivered", lu.get("action"), "delivered")
        t.equal("(c) lmtp unix: Diagnostic-Code", lu.get("diagnostic-code"),
                "smtp; 250 2.0.0 <u@lmtpu.test.example> saved")
        # Postfix's own DSNs for the same recipients (NOTIFY=SUCCESS,FAILURE) agree on
        # Status, Remote-MTA and Diagnostic-Code. Their Action for a 250 is "relayed": this
        # LMTP server offers no DSN extension, so Postfix cannot know; the follower says
        # "delivered" (an LMTP 250 after the data is final delivery, RFC 2033).
        cases = (("250 TCP", "a@lmtp.test.example", la, "relayed"),
                 ("552", "c@lmtp.test.example", lc, "failed"),
                 ("250 unix", "u@lmtpu.test.example", lu, "relayed"))
        if not settle("Postfix's DSNs of the LMTP message",
                      lambda: all(find_dsn(pf, env_l, c[1], c[3]) for c in cases)):
            print("# Postfix's DSNs: %r" % postfix_dsns(pf))
        for what, rcpt, entry, action in cases:
            d = find_dsn(pf, env_l, rcpt, action)
            if not t.check("(c) lmtp %s: Postfix's own DSN arrived (%s)" % (what, action),
                           d is not None):
                continue
            for field in ("status", "remote-mta", "diagnostic-code"):
                t.equal("(c) lmtp %s: %s as in Postfix's DSN" % (what, field),
                        entry.get(field), d.get(field))

        # (d) transferred to the next hop that takes MTRK; relayed to another.
        def transferred():
            r = rec(env_t)
            return r if one(r, "t@mtrk.test.example") and one(r, "x@ok.test.example") else None
        r = wait_for("the transferred message's outcomes", transferred)
        tt, tx = one(r, "t@mtrk.test.example"), one(r, "x@ok.test.example")
        t.equal("(d) next hop in mtrk_next_hops: transferred", tt.get("action"), "transferred")
        t.equal("(d) transferred: status from dsn=", tt.get("status"), "2.0.0")
        t.equal("(d) transferred: Remote-MTA from relay=", tt.get("remote-mta"),
                "dns; " + MTRK_HOP)
        t.equal("(d) transferred: Diagnostic-Code", tt.get("diagnostic-code"),
                "smtp; " + MTRK_HOP_REPLY)
        t.check("(d) transferred: the next hop's queue id is not followed as a re-queue",
                not os.path.exists(os.path.join(regs, MTRK_HOP_REPLY.split()[-1] + ".reg")))
        t.equal("(d) the same message's other next hop: relayed", tx.get("action"), "relayed")

        # (b) second half: qmgr's status=expired (the retry comes within a second or two:
        # queue_run_delay and minimal_backoff_time are 1s).

        def failed():
            e = one(rec(env_e), "y@tmp.test.example")
            return e if e and e.get("action") == "failed" else None
        settle("the expired recipient failed", failed)
        y = failed() or {}
        log = open(pf.log, errors="replace").read()
        t.check("(b) qmgr logged status=expired",
                re.search(r" %s: from=<sender@test\.example>, status=expired, returned to "
                          r"sender$" % qid_e, log, re.M) is not None)
        t.equal("(b) expired: failed", y.get("action"), "failed")
        t.equal("(b) expired: the last 4xx status kept", y.get("status"), "4.3.0")
        t.equal("(b) expired: the last reason kept", y.get("diagnostic-code"),
                "smtp; 451 4.3.0 try again later")
        t.check("(b) expired: no Will-Retry-Until", "will-retry-until" not in y, repr(y))
        d = None
        if settle("Postfix's bounce of the expired message",
                  lambda: find_dsn(pf, env_e, "y@tmp.test.example", "failed")):
            d = find_dsn(pf, env_e, "y@tmp.test.example", "failed")
        if t.check("(b) Postfix's own bounce of the expired recipient arrived", d is not None):
            for field in ("status", "remote-mta", "diagnostic-code"):
                t.equal("(b) expired: %s as in Postfix's bounce" % field, y.get(field),
                        d.get(field))

        def force_failed():
            e = one(rec(env_x), "w@tmp.test.example")
            return e if e and e.get("action") == "failed" else None
        settle("the force-expired recipient failed", force_failed)
        w = force_failed() or {}
        log = open(pf.log, errors="replace").read()
        t.check("(b) postsuper -e: qmgr logged status=force-expired",
                re.search(r" %s: from=<sender@test\.example>, status=force-expired, returned "
                          r"to sender$" % qid_x, log, re.M) is not None)
        t.equal("(b) force-expired: failed", w.get("action"), "failed")
        d = None
        if settle("Postfix's bounce of the force-expired message",
                  lambda: find_dsn(pf, env_x, "w@tmp.test.example", "failed")):
            d = find_dsn(pf, env_x, "w@tmp.test.example", "failed")
        if t.check("(b) Postfix's own bounce of the force-expired recipient arrived",
                   d is not None):
            for field in ("status", "remote-mta", "diagnostic-code"):
                t.equal("(b) force-expired: %s as in Postfix's bounce" % field, w.get(field),
                        d.get(field))

        # The whole log again from its start: every record as it was.
        before = {e: rec(e) for e in (env_e, env_f, env_l, env_t, env_ff, env_x)}
        follower = daemons[0]
        t.equal("the follower stops on SIGTERM", follower.stop(), 0)
        os.unlink(os.path.join(state, "postfix-follower.pos"))
        follower.start()
        env_m = "marker.real@test.example"
        qid_m, _ = tracked(env_m, ["alice@test.example"], pf.port, "marker")
        wait_for("a message after the replay", lambda: one(rec(env_m), "alice@test.example"))
        after = {e: rec(e) for e in before}
        for e in before:
            t.equal("replay from the log's start: %s unchanged" % e.split(".")[0],
                    after[e], before[e])

        # What the replay logged (a second "bound" line, were there one) comes before the
        # marker's line in the follower's log: its log thread writes them in order.
        flog_path = os.path.join(pf.base, "follower.log")
        settle("the marker's line in the follower's log", lambda: re.search(
            r"%s: \S+ for alice@test\.example applied" % qid_m, read_log(flog_path)))
        flog = read_log(flog_path)
        reports = [d.log for d in daemons if re.search(
            r"Sanitizer|runtime error:", open(d.log, errors="replace").read())]
        t.check("no sanitizer report in a daemon's log (a sanitizer build)", not reports,
                repr(reports))
        t.check("no line of this real log is UNKNOWN to the follower",
                "does not understand" not in flog, flog[-400:])
        t.equal("after the replay: the front's ident still bound once, to its queue id",
                re.findall(r"(\w+): the pending registration of orig_queue_id %s bound"
                           % ident, flog), [ffq])
        if a.syslog:
            t.check("the log is a syslog file (host name after the stamp, no maillog_file)",
                    re.search(r"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d %s postfix-msgtrk-test/"
                              % HOST, log, re.M) is not None, log[:300])
            t.check("another program's line is in it",
                    re.search(r"^\S+ +\S+ \S+ %s CRON\[\d+\]: " % HOST,
                              open(pf.log).read(), re.M) is not None)
        if a.save_log:
            shutil.copy(pf.log, a.save_log)
    except (pi.PostfixError, OSError, subprocess.SubprocessError, AttributeError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, sinks, daemons)
        if receiver is not None:
            receiver.close()
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
