#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-dsn.py: real DSNs from a real Postfix, read with libmsgtrk.

A private Postfix instance (`postfix -c CONFDIR`, its own queue, data and mail directories
under one temporary directory; the system's /etc/postfix is never written) listens on
127.0.0.1:<free port> as mx.test.example. Messages go in over SMTP with ENVID, RET=HDRS,
NOTIFY=SUCCESS,FAILURE,DELAY and ORCPT built by MsgtrkEnvelope:

  alice@test.example        virtual Maildir          -> "delivered" 2.0.0
  nobody@test.example       unknown virtual user     -> "failed"    5.1.1
  carol@slow.test.example   next hop: a dead port    -> "delayed"   4.4.1
  alice@test.example        ENVID and ORCPT needing xtext (checks Postfix decodes them)
  dave@legacy.test.example  next hop without DSN (a tiny SMTP server here) -> "relayed"

The DSNs land in sender@test.example's Maildir; they are parsed with
msgtrk_report_parse_entity(), their returned headers with msgtrk_trace_parse_headers(),
and the three tracked recipients go through MsgtrkStatus. The DSNs are kept as fixtures
for other tests: <build>/tests/postfix/dsn-{delivered,failed,delayed,relayed,xtext}.eml and
<source>/.ci/artifacts/postfix/.

Limits: needs root (Postfix's master runs as root) and the postfix package; otherwise it
exits 77 (skip). The whole run is bounded (START_TIMEOUT, DSN_TIMEOUT, STOP_TIMEOUT).
It must never touch the system Postfix instance or leave a Postfix process or its files
behind, also on failure or SIGTERM.
"""

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
START_TIMEOUT = 20.0
DSN_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SMTP_TIMEOUT = 15.0

MX = "mx.test.example"
SENDER = "sender@test.example"
DELIVERED = "alice@test.example"
FAILED = "nobody@test.example"
DELAYED = "carol@slow.test.example"
RELAYED = "dave@legacy.test.example"
# ENVID and ORCPT with characters that xtext must encode ('+', '=', space).
XTEXT_ENVID = "mtrk.xtext test+plus=eq@test.example"
XTEXT_ORCPT = "alice+work@test.example"

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C"}

parser = argparse.ArgumentParser()
parser.add_argument("--build-dir", required=True)
ARGS = parser.parse_args()
SOURCE_ROOT = os.environ.get(
    "MSGTRK_SOURCE_ROOT",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


if os.geteuid() != 0:
    skip("needs root: Postfix's master process runs as root (run the suite as root)")
if not (os.access(POSTFIX, os.X_OK) and os.access(POSTCONF, os.X_OK)):
    skip("Postfix is not installed (tools/deps.sh test installs it)")
try:
    pwd.getpwnam("postfix")
    NOBODY = pwd.getpwnam("nobody")
except KeyError as e:
    skip("a system user is missing: %s" % e)


def setup_gi(build_dir):
    """Import Msgtrk from the build tree; the loader reads LD_LIBRARY_PATH only at start-up,
    so the process re-executes itself once with it set (as tools/demonet.py does)."""
    libdir = os.path.join(os.path.abspath(build_dir), "lib")
    if os.environ.get("MSGTRK_POSTFIX_LIBDIR") != libdir:
        env = dict(os.environ, GI_TYPELIB_PATH=libdir, MSGTRK_POSTFIX_LIBDIR=libdir,
                   LD_LIBRARY_PATH=libdir + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    import gi
    gi.require_version("Msgtrk", "1.0")
    gi.require_version("GLib", "2.0")
    from gi.repository import GLib, Msgtrk
    return GLib, Msgtrk


GLib, Msgtrk = setup_gi(ARGS.build_dir)


class TestFailure(Exception):
    pass


def _terminate(signum, frame):
    # meson's timeout sends SIGTERM: turn it into an exception so that cleanup runs, and
    # let no second signal interrupt that cleanup.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise TestFailure("killed by signal %d" % signum)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LegacySmtpServer:
    """A next hop that offers no DSN: Postfix must report "relayed" after handing over."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(SMTP_TIMEOUT)
                self._session(conn.makefile("rwb"))
            except OSError:
                pass
            finally:
                conn.close()

    def _session(self, f):
        def say(text):
            f.write(text.encode("ascii") + b"\r\n")
            f.flush()
        say("220 legacy.test.example ESMTP")
        while True:
            line = f.readline(1024)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                say("250-legacy.test.example")
                say("250 8BITMIME")  # no DSN, no PIPELINING
            elif verb == b"DATA":
                say("354 go ahead")
                data = b""
                while True:
                    chunk = f.readline(65536)
                    if not chunk or chunk == b".\r\n":
                        break
                    data += chunk
                self.received.append(data)
                say("250 2.0.0 accepted")
            elif verb == b"QUIT":
                say("221 2.0.0 bye")
                return
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP", b"HELO"):
                say("250 2.0.0 ok")
            else:
                say("502 5.5.2 not here")

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class PrivatePostfix:
    """One Postfix instance whose every file lives under a temporary directory."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="msgtrk-postfix-")
        os.chmod(self.base, 0o755)  # the virtual agent (as nobody) walks through it
        self.conf = os.path.join(self.base, "conf")
        self.queue = os.path.join(self.base, "queue")
        self.data = os.path.join(self.base, "data")
        self.mail = os.path.join(self.base, "mail")
        self.log = os.path.join(self.base, "maillog")
        self.port = None
        self.master_pid = None
        # The "slow" next hop: a bound socket that never listens refuses every connection,
        # and no other process can take its port while we hold it.
        self.dead = socket.socket()
        self.dead.bind(("127.0.0.1", 0))
        self.dead_port = self.dead.getsockname()[1]
        self.legacy = LegacySmtpServer()

    def postfix(self, *args, timeout=STOP_TIMEOUT):
        return subprocess.run([POSTFIX, "-c", self.conf] + list(args), env=CLEAN_ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)

    def configure(self):
        for d in (self.conf, self.queue, self.data, self.mail):
            os.mkdir(d, 0o755)
        pf = pwd.getpwnam("postfix")
        os.chown(self.data, pf.pw_uid, pf.pw_gid)
        os.chown(self.mail, NOBODY.pw_uid, NOBODY.pw_gid)
        self.port = free_port()
        main = {
            "compatibility_level": "3.6",
            "meta_directory": "/etc/postfix",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "maillog_file": self.log,
            "maillog_file_prefixes": self.base,
            "syslog_name": "postfix-msgtrk-test",
            "myhostname": MX,
            "mydomain": "test.example",
            "myorigin": "test.example",
            "mydestination": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtpd_peername_lookup": "no",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            # Mailboxes: virtual Maildirs owned by nobody, no system users needed.
            "virtual_mailbox_domains": "test.example",
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "texthash:" + os.path.join(self.conf, "vmailbox"),
            "virtual_uid_maps": "static:%d" % NOBODY.pw_uid,
            "virtual_gid_maps": "static:%d" % NOBODY.pw_gid,
            # Accept unknown users at RCPT time, so that they bounce (a DSN), not 550.
            "smtpd_reject_unlisted_recipient": "no",
            "relay_domains": "slow.test.example, legacy.test.example",
            "transport_maps": "texthash:" + os.path.join(self.conf, "transport"),
            # Retry fast and warn after one second: the "delayed" DSN.
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "1s",
            "smtp_connect_timeout": "5s",
        }
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.conf, "vmailbox"), "w") as f:
            for user in ("sender", "alice", "postmaster"):
                f.write("%s@test.example %s/Maildir/\n" % (user, user))
        with open(os.path.join(self.conf, "transport"), "w") as f:
            f.write("slow.test.example smtp:[127.0.0.1]:%d\n" % self.dead_port)
            f.write("legacy.test.example smtp:[127.0.0.1]:%d\n" % self.legacy.port)
        # Only the services this test needs, none chrooted (the chroot would need copies
        # of system files under the queue directory).
        services = [
            "127.0.0.1:%d inet n - n - - smtpd" % self.port,
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 1 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("\n".join(services) + "\n")

    def start(self):
        r = self.postfix("start", timeout=START_TIMEOUT)
        if r.returncode != 0:
            raise TestFailure("postfix start failed (%d): %s" % (r.returncode, r.stdout.decode(
                errors="replace")))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TestFailure("Postfix does not listen on 127.0.0.1:%d" % self.port)
                time.sleep(0.1)
        self.master_pid = self.read_master_pid()

    def read_master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """Stop the instance and make sure its master is gone; never raises."""
        pid = self.master_pid or self.read_master_pid()
        if os.path.isdir(self.queue):
            try:
                self.postfix("stop")
            except subprocess.TimeoutExpired:
                pass
        if pid is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            try:
                self.postfix("abort")
            except subprocess.TimeoutExpired:
                pass
            time.sleep(1)
        if _alive(pid):
            print("# Postfix master %d did not stop: killing it" % pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def maillog(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return "(no maillog)"

    def cleanup(self):
        self.stop()
        self.dead.close()
        self.legacy.close()
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its new parent) counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class SmtpClient:
    """A minimal SMTP client that keeps the raw EHLO reply (for MsgtrkSmtpCapabilities)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SMTP_TIMEOUT)
        self.file = self.sock.makefile("rb")
        self.expect(220)

    def reply(self):
        lines = []
        while True:
            line = self.file.readline(1024)
            if not line:
                raise TestFailure("the SMTP server closed the connection")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def expect(self, code, command=None):
        got, text = self.reply()
        if got != code:
            raise TestFailure("%s: expected %d, got %r" % (command or "greeting", code, text))
        return text

    def command(self, line, code):
        self.sock.sendall(line.encode("ascii") + b"\r\n")
        return self.expect(code, line)

    def data(self, message):
        self.command("DATA", 354)
        body = message.replace(b"\r\n.", b"\r\n..")
        self.sock.sendall(body + b".\r\n")
        return self.expect(250, "end of DATA")

    def close(self):
        try:
            self.command("QUIT", 221)
        finally:
            self.file.close()
            self.sock.close()


def make_message(recipient, message_id, subject):
    date = GLib.DateTime.new_now_utc().format("%a, %d %b %Y %H:%M:%S +0000")
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "A message for msgtrk's Postfix DSN test.\r\n"
            % (SENDER, recipient, subject, date, message_id)).encode("ascii")


def send_all(port):
    """Sends one message per case; returns {case: (envid, message_id, recipient)}."""
    sent = {}
    smtp = SmtpClient(port)
    ehlo = smtp.command("EHLO client.test.example", 250)
    caps = Msgtrk.SmtpCapabilities.parse_data(ehlo)
    if not caps.has("DSN"):
        raise TestFailure("Postfix does not offer DSN: %r" % ehlo)
    notify = (Msgtrk.DsnNotify.SUCCESS | Msgtrk.DsnNotify.FAILURE | Msgtrk.DsnNotify.DELAY)
    for case, rcpt in (("delivered", DELIVERED), ("failed", FAILED), ("delayed", DELAYED),
                       ("relayed", RELAYED)):
        envid = Msgtrk.envid_generate("test.example")
        env = Msgtrk.Envelope.new(envid)
        env.set_ret(Msgtrk.DsnRet.HDRS)
        env.set_notify(notify)
        mail_arg = env.build_mail_from_arg(caps, SENDER)
        rcpt_arg = env.build_rcpt_to_arg(caps, rcpt)
        for want in ("ENVID=" + envid, "RET=HDRS"):
            if want not in mail_arg:
                raise TestFailure("MAIL FROM argument lacks %s: %s" % (want, mail_arg))
        for want in ("NOTIFY=SUCCESS,FAILURE,DELAY", "ORCPT=rfc822;" + rcpt):
            if want not in rcpt_arg:
                raise TestFailure("RCPT TO argument lacks %s: %s" % (want, rcpt_arg))
        smtp.command("MAIL FROM:" + mail_arg, 250)
        smtp.command("RCPT TO:" + rcpt_arg, 250)
        message_id = "<%s.%s>" % (case, envid)
        smtp.data(make_message(rcpt, message_id, "msgtrk postfix test: " + case))
        sent[case] = (envid, message_id, rcpt)
    # The xtext case: the envelope is written by hand, with xtext made by libmsgtrk.
    smtp.command("MAIL FROM:<%s> RET=HDRS ENVID=%s"
                 % (SENDER, Msgtrk.xtext_encode(XTEXT_ENVID)), 250)
    smtp.command("RCPT TO:<%s> NOTIFY=SUCCESS ORCPT=rfc822;%s"
                 % (DELIVERED, Msgtrk.xtext_encode(XTEXT_ORCPT)), 250)
    message_id = "<xtext.%d@test.example>" % os.getpid()
    smtp.data(make_message(DELIVERED, message_id, "msgtrk postfix test: xtext"))
    sent["xtext"] = (XTEXT_ENVID, message_id, DELIVERED)
    smtp.close()
    return sent


def maildir_files(maildir):
    files = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            files += [os.path.join(d, n) for n in sorted(os.listdir(d))]
    return files


def wait_for_dsns(pf, count):
    maildir = os.path.join(pf.mail, "sender", "Maildir")
    deadline = time.monotonic() + DSN_TIMEOUT
    while True:
        files = maildir_files(maildir)
        if len(files) >= count:
            return files
        if time.monotonic() > deadline:
            raise TestFailure("only %d of %d DSNs arrived in %.0f s" % (len(files), count,
                                                                       DSN_TIMEOUT))
        time.sleep(0.2)


class Checker:
    def __init__(self):
        self.failures = 0
        self.count = 0

    def check(self, what, ok, detail=""):
        self.count += 1
        if ok:
            print("ok %d - %s" % (self.count, what))
        else:
            self.failures += 1
            print("not ok %d - %s%s" % (self.count, what, (": " + detail) if detail else ""))
        return ok

    def equal(self, what, got, want):
        return self.check(what, got == want, "got %r, want %r" % (got, want))


def check_gi_ownership():
    """PyGObject (3.42) takes a (transfer full) GPtrArray of objects element by element and
    then frees the array, whose free function unrefs the elements a second time: the
    reports are gone before Python sees them. Refuse to run into that use-after-free."""
    owns = Msgtrk.Report.parse_entity.get_caller_owns()
    if int(owns) != 1:  # GI_TRANSFER_CONTAINER
        raise TestFailure(
            "msgtrk_report_parse_entity() is annotated (transfer full) on a GPtrArray that "
            "frees its reports itself; from Python the reports are freed twice. It needs "
            "\"Returns: (transfer container) (element-type MsgtrkReport)\" (as "
            "msgtrk_trace_parse_headers() has) in lib/msgtrk-report.c")


def parse_dsn(raw):
    reports = Msgtrk.Report.parse_entity(GLib.Bytes.new(raw))
    dsns = [r for r in reports if r.get_kind() == Msgtrk.ReportKind.DELIVERY_STATUS]
    if len(dsns) != 1:
        raise TestFailure("expected one delivery-status report, got %d" % len(dsns))
    return dsns[0]


EXPECT = {
    # case: (Action, Status check, recipient)
    "delivered": (Msgtrk.Action.DELIVERED, lambda s: s == "2.0.0", DELIVERED),
    "failed": (Msgtrk.Action.FAILED, lambda s: s == "5.1.1", FAILED),
    "delayed": (Msgtrk.Action.DELAYED, lambda s: s is not None and s.startswith("4."), DELAYED),
    "xtext": (Msgtrk.Action.DELIVERED, lambda s: s == "2.0.0", DELIVERED),
    "relayed": (Msgtrk.Action.RELAYED, lambda s: s is not None and s.startswith("2."), RELAYED),
}


def check_dsns(c, sent, files):
    by_case = {}
    envids = {v[0]: k for k, v in sent.items()}
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        report = parse_dsn(raw)
        case = envids.get(report.get_envid())
        if not c.check("DSN %s matched to a sent message by Original-Envelope-Id"
                       % os.path.basename(path), case is not None,
                       "Original-Envelope-Id %r" % report.get_envid()):
            continue
        if not c.check("one DSN for %s" % case, case not in by_case):
            continue
        by_case[case] = (raw, report)

    for case, (raw, report) in sorted(by_case.items()):
        envid, message_id, rcpt = sent[case]
        action, status_ok, final = EXPECT[case]
        c.equal("%s: Original-Envelope-Id (written xtext-decoded)" % case,
                report.get_envid(), envid)
        c.equal("%s: Reporting-MTA" % case,
                (report.get_reporting_mta_type(), report.get_reporting_mta()), ("dns", MX))
        c.check("%s: X-Postfix-Queue-ID" % case,
                bool(report.get_field("X-Postfix-Queue-ID")))
        c.check("%s: Arrival-Date" % case, report.get_arrival_date() is not None)
        c.check("%s: LF line ends in the Maildir file" % case, b"\r\n" not in raw)
        rcpts = report.get_recipients()
        if not c.equal("%s: one recipient block" % case, len(rcpts), 1):
            continue
        rr = rcpts[0]
        c.equal("%s: Action" % case, rr.get_action(), action)
        c.check("%s: Status" % case, status_ok(rr.get_status()), "got %r" % rr.get_status())
        c.equal("%s: Final-Recipient" % case,
                (rr.get_final_recipient_type(), rr.get_final_recipient()), ("rfc822", final))
        c.equal("%s: Original-Recipient (ORCPT, xtext-decoded)" % case,
                rr.get_original_recipient(), XTEXT_ORCPT if case == "xtext" else rcpt)
        c.check("%s: Diagnostic-Code" % case, bool(rr.get_diagnostic_code()))
        if case == "delayed":
            c.check("delayed: Will-Retry-Until", rr.get_will_retry_until() is not None)
        if case == "relayed":
            c.equal("relayed: Remote-MTA (the next hop without DSN)", rr.get_remote_mta(),
                    "127.0.0.1")
        headers = report.get_returned_headers()
        if not c.check("%s: returned headers (RET=HDRS)" % case, headers is not None):
            continue
        c.check("%s: no body returned" % case, "A message for msgtrk" not in headers)
        c.equal("%s: Message-ID of the returned headers" % case,
                report.get_original_message_id(), message_id)
        hops = Msgtrk.trace_parse_headers(headers.encode("utf-8"))
        if c.check("%s: Received: chain gives at least one hop" % case, len(hops) >= 1):
            last = hops[-1]
            c.equal("%s: last hop by" % case, last.get_by_host(), MX)
            c.equal("%s: last hop from (HELO)" % case, last.get_from_helo(),
                    "client.test.example")
            c.check("%s: last hop has a date and an id" % case,
                    last.get_date() is not None and bool(last.get_id()))
    return by_case


def check_status(c, sent, by_case, dead_port):
    rcpts = [sent[k][2] for k in ("delivered", "failed", "delayed")]
    status = Msgtrk.Status.new(rcpts)
    for case in ("delivered", "failed", "delayed"):
        if case in by_case:
            status.add_report(by_case[case][1], None)
    want = {DELIVERED: "delivered", FAILED: "failed", DELAYED: "delayed"}
    got = {r: Msgtrk.recipient_state_to_string(status.get_recipient_state(r)) for r in rcpts}
    c.equal("MsgtrkStatus: per-recipient states", got, want)
    c.equal("MsgtrkStatus: overall", status.get_overall(), Msgtrk.RecipientState.FAILED)
    c.equal("MsgtrkStatus: summary", status.format_summary(),
            "Failed 1/3, 1 delayed, 1 delivered")
    c.check("MsgtrkStatus: not final while one is delayed", not status.is_final())
    rr = status.get_recipient_report(DELAYED)
    # Postfix folds long Diagnostic-Code lines; unfolding keeps the white space.
    diagnostic = " ".join((rr.get_diagnostic_code() or "").split()) if rr else "no entry"
    c.check("MsgtrkStatus: the delayed entry says where it is stuck",
            "connect to 127.0.0.1[127.0.0.1]:%d: Connection refused" % dead_port in diagnostic,
            diagnostic)


def classify_raw(sent, files):
    """{case: raw DSN} by the Original-Envelope-Id line, without libmsgtrk: the fixtures
    are saved even when the checks below fail."""
    envids = {v[0]: k for k, v in sent.items()}
    found = {}
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        for line in raw.split(b"\n"):
            if line.lower().startswith(b"original-envelope-id:"):
                case = envids.get(line.split(b":", 1)[1].strip().decode("ascii", "replace"))
                if case is not None:
                    found[case] = raw
                break
    return found


def save_artifacts(raw_by_case):
    dirs = [os.path.join(os.path.abspath(ARGS.build_dir), "tests", "postfix"),
            os.path.join(SOURCE_ROOT, ".ci", "artifacts", "postfix")]
    for d in dirs:
        try:
            os.makedirs(d, exist_ok=True)
            for case, raw in raw_by_case.items():
                with open(os.path.join(d, "dsn-%s.eml" % case), "wb") as f:
                    f.write(raw)
        except OSError as e:
            print("# could not save the DSNs in %s: %s" % (d, e))
    print("# DSNs saved in: " + ", ".join(dirs))


def main():
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    started = time.monotonic()
    pf = PrivatePostfix()
    c = Checker()
    try:
        pf.configure()
        pf.start()
        print("# private Postfix on 127.0.0.1:%d (dead next hop :%d) in %s"
              % (pf.port, pf.dead_port, pf.base))
        sent = send_all(pf.port)
        files = wait_for_dsns(pf, len(sent))
        c.check("delivered message in alice's Maildir",
                len(maildir_files(os.path.join(pf.mail, "alice", "Maildir"))) == 2)
        c.equal("the next hop without DSN got the relayed message", len(pf.legacy.received), 1)
        save_artifacts(classify_raw(sent, files))
        check_gi_ownership()
        by_case = check_dsns(c, sent, files)
        c.equal("a DSN for every case", sorted(by_case), sorted(sent))
        check_status(c, sent, by_case, pf.dead_port)
    except (TestFailure, OSError, subprocess.SubprocessError, GLib.Error) as e:
        c.check("run", False, str(e))
    finally:
        if c.failures:
            print("# Postfix log (end):")
            for line in pf.maillog().splitlines():
                print("#   " + line)
        pf.cleanup()
    print("1..%d" % c.count)
    print("# %d checks, %d failed, %.1f s" % (c.count, c.failures, time.monotonic() - started))
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
