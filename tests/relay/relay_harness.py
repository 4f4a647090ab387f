# SPDX-License-Identifier: GPL-3.0-or-later
"""relay_harness.py: start real msgtrk-relay processes for tests.

Each Relay gets its own directory (configuration, state_dir, Maildir root, log) under a
temporary directory, listens on 127.0.0.1 port 0 (--port-file tells the port) and is
stopped with SIGTERM (exit status 0 expected) or killed with SIGKILL (crash tests).
Every wait is bounded (wait_for); nothing uses a fixed port.

Also: an SMTP client on plain sockets (send_message) that returns every reply, readers
for tracking records (<state_dir>/tracking/<sha256 hex of ENVID>.trk) and Maildirs.
"""

import base64
import glob
import hashlib
import os
import pwd
import re
import signal
import socket
import subprocess
import time

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
    """Poll predicate() until it returns a true value; raise after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise HarnessError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


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

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("%s exited at start-up:\n%s" % (self.name, self.log()))
            try:
                with open(self.port_file) as f:
                    text = f.read()
            except FileNotFoundError:
                return None
            return text if text.endswith("\n") else None

        self.port = int(wait_for("%s to start" % self.name, ready, START_TIMEOUT, 0.05))
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
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

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


def free_port():
    """A port that was free a moment ago (for a next hop that is down)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


def make_body(subject, extra=b""):
    return (b"From: sender@sender.example\r\nTo: someone\r\nSubject: " + subject.encode()
            + b"\r\nMessage-ID: <" + subject.replace(" ", ".").encode() + b"@test>\r\n\r\n"
            + b"Hello.\r\n" + extra)


def field(record, name):
    """All values of a field in a tracking record or delivery-status text (unfolded)."""
    text = re.sub(r"\r?\n[ \t]+", " ", record)
    return [m.group(1).strip() for m in re.finditer(r"^%s:\s*(.*)$" % re.escape(name),
                                                   text, re.M | re.I)]
