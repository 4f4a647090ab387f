# SPDX-License-Identifier: GPL-3.0-or-later
"""relay_harness.py: start real msgtrk-relay processes for tests.

Each Relay gets its own directory (configuration, state_dir, Maildir root, log) under a
temporary directory, listens on 127.0.0.1 port 0 (--port-file tells the port) and is
stopped with SIGTERM (exit status 0 expected) or killed with SIGKILL (crash tests).
Every wait is bounded (wait_for); nothing uses a fixed port.

Also: an SMTP client on plain sockets (send_message) that returns every reply, readers
for tracking records (<state_dir>/tracking/<sha256 hex of ENVID>.trk) and Maildirs, a
scripted next hop (ScriptedHop), the fsync counting of a relay run under strace
(count_syncs) and the scenario runner of the test scripts (check, run_scenarios).
"""

import base64
import glob
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import demonet  # noqa: E402  (its helpers only: nothing here loads the typelib)

SECRET_RAW = bytes(range(32))
# B = base64 (SHA-1 (raw octets of A)), computed independently of libmsgtrk.
AUTH = base64.b64encode(hashlib.sha1(SECRET_RAW).digest()).decode("ascii")
START_TIMEOUT = 20
STOP_TIMEOUT = 30
# server/relay/relay-queue.h: the head of a queue file that holds no message any more
QUEUE_FREE_TAG = b"X-Msgtrk-Queue-Free: "


class HarnessError(Exception):
    pass


def wait_for(what, predicate, timeout=30.0, interval=0.1):
    """Poll predicate() until it returns a true value; HarnessError after timeout seconds."""
    return demonet.wait_for(what, predicate, timeout, interval, HarnessError)


class Relay:
    def __init__(self, exe, base_dir, name, hostname, routes, relay=None, queue=None,
                 tls=None):
        self.exe = exe
        self.name = name
        self.hostname = hostname
        self.dir = os.path.join(base_dir, name)
        self.state_dir = os.path.join(self.dir, "state")
        self.maildir_root = os.path.join(self.dir, "maildir")
        self.conf_path = os.path.join(self.dir, "msgtrk-relay.conf")
        self.log_path = os.path.join(self.dir, "relay.log")
        self.port_file = os.path.join(self.dir, "port")
        self.proc = None
        self.port = None
        os.makedirs(self.dir, exist_ok=True)
        relay_keys = {"hostname": hostname, "state_dir": self.state_dir,
                      "listen": "127.0.0.1:1", "max_message_size": "20000",
                      "reverse_dns": "false", "idle_timeout": "30"}
        if os.geteuid() == 0:
            # The relay refuses to keep root: run it as nobody in directories nobody owns.
            relay_keys["user"] = "nobody"
            pw = pwd.getpwnam("nobody")
            os.chmod(base_dir, 0o755)
            for d in (self.dir, self.state_dir, self.maildir_root):
                os.makedirs(d, exist_ok=True)
                os.chown(d, pw.pw_uid, pw.pw_gid)
        relay_keys.update(relay or {})
        queue_keys = {"maildir_root": self.maildir_root, "retry_first": "1",
                      "retry_factor": "1.5", "retry_max_interval": "2",
                      "max_queue_lifetime": "600", "connect_timeout": "5",
                      "command_timeout": "20", "workers": "2"}
        queue_keys.update(queue or {})
        self.relay_keys, self.queue_keys, self.tls_keys = relay_keys, queue_keys, tls
        self.set_routes(routes)

    def set_routes(self, routes):
        """(Re)write the configuration with these [routes]."""
        lines = ["[relay]"] + ["%s=%s" % kv for kv in self.relay_keys.items()]
        lines += ["", "[queue]"] + ["%s=%s" % kv for kv in self.queue_keys.items()]
        if self.tls_keys:
            lines += ["", "[tls]"] + ["%s=%s" % kv for kv in self.tls_keys.items()]
        lines += ["", "[routes]"] + ["%s=%s" % kv for kv in routes.items()]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, port=0):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [self.exe, "--config", self.conf_path, "--listen", "127.0.0.1:%d" % port,
             "--port-file", self.port_file, "--verbose"],
            stdout=log, stderr=log)
        log.close()
        self.port = demonet.wait_port_file(self.name, self.proc, self.port_file, self.log,
                                           START_TIMEOUT, error=HarnessError)
        return self.port

    def stop(self):
        """SIGTERM; the relay must exit 0."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise HarnessError("%s did not stop on SIGTERM" % self.name)
        self.proc = None
        if status != 0:
            raise HarnessError("%s exited with status %d:\n%s" % (self.name, status, self.log()))

    def kill9(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def log(self):
        return demonet.read_log(self.log_path)

    def wait_log(self, text, count=1, timeout=30):
        """The log once it holds @text at least @count times (demonet.wait_log: the relay
        writes its lines in a log thread, after the event; a line logged at delivery also
        waits for the queue); HarnessError, with the log, when it does not within @timeout
        s."""
        log = demonet.wait_log(self.log_path, text, count, timeout)
        if log.count(text) < count:
            raise HarnessError("%s: %d log line(s) with %r after %.0f s, %d wanted\nlog:\n%s"
                               % (self.name, log.count(text), text, timeout, count, log))
        return log

    def route(self):
        return "smtp:127.0.0.1:%d" % self.port

    # Tracking records
    def track_path(self, envid):
        digest = hashlib.sha256(envid.encode("utf-8")).hexdigest()
        return os.path.join(self.state_dir, "tracking", digest + ".trk")

    def track_record(self, envid):
        try:
            with open(self.track_path(envid), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def wait_action(self, envid, action, timeout=30):
        pattern = re.compile(r"^Action:\s*%s\s*$" % re.escape(action), re.M | re.I)

        def check():
            text = self.track_record(envid)
            return text if text and pattern.search(text) else None
        try:
            return wait_for("%s: Action %s for %s" % (self.name, action, envid), check, timeout)
        except HarnessError as e:
            raise HarnessError("%s\nrecord now:\n%s\nlog:\n%s"
                               % (e, self.track_record(envid), self.log()))

    # Maildir
    def mailbox_files(self, address):
        return sorted(glob.glob(os.path.join(self.maildir_root, address, "new", "*")))

    def wait_mail(self, address, count=1, timeout=30):
        try:
            files = wait_for("%s: %d message(s) for %s" % (self.name, count, address),
                             lambda: (lambda f: f if len(f) >= count else None)(
                                 self.mailbox_files(address)), timeout)
        except HarnessError as e:
            raise HarnessError("%s\nlog:\n%s" % (e, self.log()))
        out = []
        for path in files:
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def queue_files(self):
        """Files in queue/ but those holding no message: the empty ones the relay creates
        ahead of need (its stock of durable names, relay_queue_take_name()) and the files
        of done messages marked free for reuse (RELAY_QUEUE_FREE_TAG,
        relay_queue_recycle_files())."""
        out = []
        for path in glob.glob(os.path.join(self.state_dir, "queue", "*")):
            try:
                with open(path, "rb") as f:
                    start = f.read(len(QUEUE_FREE_TAG))
            except FileNotFoundError:
                continue
            if start and start != QUEUE_FREE_TAG:
                out.append(path)
        return sorted(out)


free_port = demonet.free_port  # a port that was free a moment ago (a next hop that is down)


class SmtpError(Exception):
    pass


class SmtpClient:
    """A tiny SMTP client: every reply is returned as (code, text)."""

    def __init__(self, port, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply()

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise SmtpError("connection closed; got %r" % lines)
                self.buf += chunk
            line, _, self.buf = self.buf.partition(b"\r\n")
            lines.append(line.decode("ascii", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, line, expect=None):
        self.sock.sendall(line.encode("ascii") + b"\r\n")
        code, text = self.reply()
        if expect is not None and code != expect:
            raise SmtpError("%s -> %s" % (line, text))
        return code, text

    def data(self, body):
        """Send the message text (LF or CRLF lines) dot-stuffed; return the final reply."""
        self.cmd("DATA", 354)
        lines = body.replace(b"\r\n", b"\n").split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        out = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
        self.sock.sendall(out + b".\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, SmtpError):
            pass
        self.sock.close()


def send_message(port, sender, rcpts, body, mail_params="", rcpt_params="", helo="client.test"):
    """One whole transaction; returns the final reply (code, text) to DATA."""
    c = SmtpClient(port)
    try:
        c.cmd("EHLO %s" % helo, 250)
        c.cmd("MAIL FROM:<%s>%s" % (sender, (" " + mail_params) if mail_params else ""), 250)
        for r in rcpts:
            c.cmd("RCPT TO:<%s>%s" % (r, (" " + rcpt_params) if rcpt_params else ""), 250)
        return c.data(body)
    finally:
        c.close()


def mtqp_track(port, envid, secret_raw, timeout=10):
    """One TRACK to the mtqpd on 127.0.0.1:port with the secret A (raw octets); returns the
    first answer line and the whole answer (up to its "." for a +OK+ answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        f = conn.makefile("rb")
        f.readline()
        conn.sendall(("TRACK %s %s\r\n" % (envid, base64.b64encode(secret_raw).decode()))
                     .encode())
        lines = read_answer(f)
        conn.sendall(b"QUIT\r\n")
        return lines[0], "\n".join(lines)


def read_answer(f):
    """One MTQP answer from the binary file @f: its lines (a +OK+ answer up to its ".")."""
    first = f.readline().decode().rstrip("\r\n")
    lines = [first]
    if first.startswith("+OK+"):
        for raw in f:
            line = raw.decode().rstrip("\r\n")
            lines.append(line)
            if line == ".":
                break
    return lines


def send_and_kill(relay, envid, rcpt, subject, helo, rcpt_params=""):
    """One tracked message from alice@sender.example; SIGKILL the relay right after its 250
    to DATA (the message must already be on disk). HarnessError unless DATA got 250."""
    c = SmtpClient(relay.port)
    c.cmd("EHLO %s" % helo, 250)
    c.cmd("MAIL FROM:<alice@sender.example> ENVID=%s MTRK=%s" % (envid, AUTH), 250)
    c.cmd("RCPT TO:<%s>%s" % (rcpt, (" " + rcpt_params) if rcpt_params else ""), 250)
    c.cmd("DATA", 354)
    c.sock.sendall(make_body(subject) + b".\r\n")
    code, text = c.reply()
    relay.kill9()
    c.sock.close()
    if code != 250:
        raise HarnessError("DATA answered %s" % text)


def make_body(subject, extra=b""):
    return (b"From: sender@sender.example\r\nTo: someone\r\nSubject: " + subject.encode()
            + b"\r\nMessage-ID: <" + subject.replace(" ", ".").encode() + b"@test>\r\n\r\n"
            + b"Hello.\r\n" + extra)


def field(record, name):
    """All values of a field in a tracking record or delivery-status text (unfolded)."""
    text = re.sub(r"\r?\n[ \t]+", " ", record)
    return [m.group(1).strip() for m in re.finditer(r"^%s:\s*(.*)$" % re.escape(name),
                                                   text, re.M | re.I)]


class Failure(Exception):
    pass


def check(cond, message, *relays):
    """Raise Failure(message) with the logs of relays unless cond holds."""
    if not cond:
        raise Failure(message + "".join("\n--- %s log:\n%s" % (r.name, r.log())
                                        for r in relays))


def report_failure(error, *relays):
    """Say error and the logs of relays (None ones skipped) on stderr; returns 1."""
    print("FAIL: %s" % error, file=sys.stderr)
    for r in relays:
        if r is not None:
            print("--- %s log:\n%s" % (r.name, r.log()), file=sys.stderr)
    return 1


def clean_up(tmp, *relays):
    """Kill what is left of relays (None ones skipped) and remove the directory tmp."""
    for r in relays:
        if r is not None:
            r.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


def run_scenarios(prefix, scenarios, argv):
    """The main() of a scenario script: argv is [script, relay exe, scenario name, extra...];
    scenarios[name](exe, tmp, *extra) runs in a fresh temporary directory. Every Relay
    started meanwhile is cleaned up, and its log printed when the scenario fails."""
    exe, name = argv[1:3]
    tmp = tempfile.mkdtemp(prefix=prefix)
    relays = []
    orig_init = Relay.__init__

    def tracking_init(self, *args, **kwargs):
        orig_init(self, *args, **kwargs)
        relays.append(self)
    Relay.__init__ = tracking_init
    try:
        scenarios[name](exe, tmp, *argv[3:])
        print("ok: %s" % name)
        return 0
    except (Failure, HarnessError, AssertionError) as e:
        return report_failure("%s: %s" % (name, e), *relays)
    finally:
        Relay.__init__ = orig_init
        clean_up(tmp, *relays)


class HopConn:
    def __init__(self, number):
        self.number = number
        self.commands = []      # command lines, in order
        self.chunks = []        # list of lists: commands that arrived in one read
        self.messages = []      # message texts received
        self.closed = False


class ScriptedHop:
    """A next hop: greets and answers EHLO as name, offering keywords (the last one may be
    "" for an empty last line, as Postfix's smtp-sink writes it); replies to a whole read
    of pipelined commands at once. Hooks (all optional):
    rset(conn, n)   -> None (250), "421" (421 then close), "close" (close at once)
    mail(conn, n)   -> None (250), "hang" (never answer, keep the connection)
    refuse          set of recipient addresses answered 550 5.1.1
    close_after_dot set of connection numbers closed right after their first message
    close_on_data   set of connection numbers closed (no reply) when DATA arrives
    n counts the transactions started on the connection (0 for the first)."""

    def __init__(self, rset=None, mail=None, refuse=(), close_after_dot=(), close_on_data=(),
                 name="hop.test", keywords=("PIPELINING", "DSN", "8BITMIME")):
        self.rset_hook = rset
        self.mail_hook = mail
        self.refuse = set(refuse)
        self.close_after_dot = set(close_after_dot)
        self.close_on_data = set(close_on_data)
        self.name = name
        self.keywords = keywords
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                conn = HopConn(len(self.conns))
                self.conns.append(conn)
            threading.Thread(target=self.serve, args=(s, conn), daemon=True).start()

    def serve(self, s, conn):
        try:
            self.session(s, conn)
        except OSError:
            pass
        finally:
            conn.closed = True
            s.close()

    def session(self, s, conn):
        s.sendall(b"220 %s ESMTP\r\n" % self.name.encode())
        buf = b""
        in_data = False
        data = []
        n = -1
        hang = False
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return
            buf += chunk
            out = []
            cmds = []
            while b"\r\n" in buf:
                raw, _, buf = buf.partition(b"\r\n")
                line = raw.decode("ascii", "replace")
                if in_data:
                    if line == ".":
                        in_data = False
                        conn.messages.append("\n".join(data))
                        data = []
                        out.append("250 2.0.0 queued as %d.%d" % (conn.number, n))
                        if conn.number in self.close_after_dot:
                            s.sendall("".join(l + "\r\n" for l in out).encode())
                            return
                    else:
                        data.append(line[1:] if line.startswith(".") else line)
                    continue
                cmds.append(line)
                conn.commands.append(line)
                if hang:
                    continue
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    ehlo = [self.name] + list(self.keywords)
                    out.append("\r\n".join("250%s%s" % ("-" if i < len(ehlo) - 1 else " ", l)
                                            for i, l in enumerate(ehlo)))
                elif verb == "RSET":
                    action = self.rset_hook(conn, n + 1) if self.rset_hook else None
                    if action == "close":
                        return
                    if action == "421":
                        out.append("421 4.4.2 %s closing" % self.name)
                        s.sendall("".join(l + "\r\n" for l in out).encode())
                        return
                    out.append("250 2.0.0 reset")
                elif verb == "MAIL":
                    n += 1
                    if self.mail_hook and self.mail_hook(conn, n) == "hang":
                        hang = True
                        continue
                    out.append("250 2.1.0 ok")
                elif verb == "RCPT":
                    m = re.match(r"RCPT TO:<([^>]*)>", line, re.I)
                    if m and m.group(1) in self.refuse:
                        out.append("550 5.1.1 <%s>: no such user" % m.group(1))
                    else:
                        out.append("250 2.1.5 ok")
                elif verb == "DATA":
                    if conn.number in self.close_on_data:
                        if out:
                            s.sendall("".join(l + "\r\n" for l in out).encode())
                        return
                    in_data = True
                    out.append("354 go ahead")
                elif verb == "QUIT":
                    s.sendall("".join(l + "\r\n" for l in out + ["221 2.0.0 bye"]).encode())
                    return
                else:
                    out.append("250 2.0.0 ok")
            if cmds:
                conn.chunks.append(cmds)
            if out:
                s.sendall("".join(l + "\r\n" for l in out).encode())

    def received(self):
        """Every message text received, over all connections."""
        return [m for c in list(self.conns) for m in c.messages]

    @property
    def lines(self):
        """Every command line received, over all connections in their order."""
        return [l for c in list(self.conns) for l in c.commands]

    def close(self):
        self.sock.close()


class SyncTrace:
    """Count the sync calls of a running process: `strace -f -c -e trace=fsync,fdatasync,
    syncfs -p PID` writing its summary to out. failed is strace's error text when it could
    not attach (the caller skips), else None; calls() stops the trace and sums the calls."""

    def __init__(self, pid, out):
        self.out = out
        self.proc = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync,syncfs",
                                      "-o", out, "-p", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        self.failed = None
        if self.proc.poll() is not None:
            self.failed = self.proc.stderr.read().decode(errors="replace")

    def calls(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        calls = 0
        with open(self.out) as f:
            for line in f:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?"
                             r"(fsync|fdatasync|syncfs)\s*$", line)
                if m:
                    calls += int(m.group(1))
        return calls


def send_tracked(port, count, envid_prefix):
    """count tracked messages (ENVID=<envid_prefix><i>@sender.example, MTRK) to
    bob@example.org in one session; HarnessError unless each is accepted."""
    c = SmtpClient(port)
    c.cmd("EHLO fsyncs.test", 250)
    for i in range(count):
        c.cmd("MAIL FROM:<alice@sender.example> ENVID=%s%d@sender.example MTRK=%s"
              % (envid_prefix, i, AUTH), 250)
        c.cmd("RCPT TO:<bob@example.org>", 250)
        code, text = c.data(make_body("fsync %d" % i))
        if code != 250:
            raise HarnessError("DATA answered %s" % text)
    c.close()
