# SPDX-License-Identifier: GPL-3.0-or-later
"""scripted_front.py: msgtrk-submit-front against a scripted upstream, for the tests that
need no Postfix (test-postfix-front-review.py, -stop-race.py, -auth-wipe.py).

What: PostfixLike, an upstream that reads lines as Postfix's smtp_get() does (it strips
*every* CR before the LF: src/global/smtp_stream.c) and records them; Client, a line
client; start_front(), the front on a free loopback port with the test PKI's TLS keys.
Limits: PostfixLike's sessions are threads of the test; start_front waits 10 s at most.
Never: bind anything but loopback.
"""

import os
import shutil
import pwd
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time


class PostfixLike:
    """Greets, answers EHLO with AUTH and PIPELINING (and XFORWARD with IDENT if
    @xforward: the front then names a tracked message's pending registration by its
    ident), XCLIENT with @xclient_reply, takes any command; in DATA a line that is "."
    once every CR before its LF is stripped ends the message (as Postfix)."""

    def __init__(self, dot_delay=0.0, xclient_reply="220 postfix-like ESMTP", rcpt_delay=0.0,
                 unique_qids=False, xforward=False):
        self.xclient_reply = xclient_reply
        self.xforward = xforward
        self.unique_qids = unique_qids
        self.lock = threading.Lock()
        self.rcpt_delay = rcpt_delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.dots = 0
        self.dot_delay = dot_delay
        threading.Thread(target=self.serve, daemon=True).start()

    def ehlo_reply(self):
        """The EHLO reply, its last CRLF left out (a subclass may change it)."""
        return ("250-postfix-like\r\n250-AUTH PLAIN LOGIN XOAUTH2\r\n250-PIPELINING\r\n"
                + ("250-XFORWARD NAME ADDR PROTO HELO IDENT\r\n" if self.xforward else "")
                + "250 DSN")

    def serve(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        f = c.makefile("rwb")

        def say(text):
            try:
                f.write(text.encode() + b"\r\n")
                f.flush()
            except OSError:
                pass
        say("220 postfix-like ESMTP")
        in_data = False
        while True:
            try:
                line = f.readline()
            except OSError:
                break
            if not line:
                break
            self.lines.append(line)
            if in_data:
                if line.rstrip(b"\r\n").rstrip(b"\r") == b"." and line.endswith(b"\n"):
                    in_data = False
                    with self.lock:
                        self.dots += 1
                        n = self.dots
                    time.sleep(self.dot_delay)
                    # unique_qids: each message its own queue id (a registration each).
                    say("250 2.0.0 Ok: queued as %s"
                        % ("%010X" % (0x4B7C000000 + n) if self.unique_qids else "4B7C2D1E3F"))
                continue
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"EHLO":
                say(self.ehlo_reply())
            elif verb == b"XCLIENT":
                say(self.xclient_reply)
            elif verb == b"AUTH" and len(line.split()) == 2:
                # No initial response: one challenge, then the response ("*": aborted).
                say("334 ")
                try:
                    response = f.readline()
                except OSError:
                    break
                self.lines.append(response)
                say("501 5.7.0 Authentication aborted" if response == b"*\r\n"
                    else "235 2.7.0 Authentication successful")
            elif verb == b"AUTH":
                say("235 2.7.0 Authentication successful")
            elif verb == b"DATA":
                in_data = True
                say("354 End data with <CR><LF>.<CR><LF>")
            elif verb == b"QUIT":
                say("221 2.0.0 Bye")
                break
            else:
                if verb == b"RCPT":
                    time.sleep(self.rcpt_delay)
                say("250 2.0.0 Ok")
        c.close()


class Client:
    def __init__(self, port, source=None, host="127.0.0.1"):
        """Connected to @host:@port, from the local address @source when given."""
        self.sock = socket.create_connection((host, port), timeout=10,
                                             source_address=(source, 0) if source else None)
        self.file = self.sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return 0, b"".join(lines)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def cmd(self, raw):
        self.sock.sendall(raw)
        return self.reply()

    def starttls(self, ca, command=b"STARTTLS\r\n"):
        """@command (STARTTLS), then TLS on the same socket, the front's certificate checked
        against @ca (the test PKI's) for the name "localhost"; the code of the reply."""
        code, _ = self.cmd(command)
        ctx = ssl.create_default_context(cafile=ca)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        return code


def io_threads_extra():
    """ "io_threads=N\n" when the test was given --io-threads N (the same checks with the
    sessions on N loops: meson's *-io2 tests), else ""."""
    if "--io-threads" not in sys.argv:
        return ""
    return "io_threads=%d\n" % int(sys.argv[sys.argv.index("--io-threads") + 1])


def start_front(exe, base, name, up, source_root, extra="", output=None, args=(),
                listen="127.0.0.1:0"):
    """The front on a free loopback port (@listen) in front of @up, with TLS (test PKI)
    and the [front] lines @extra (and io_threads from --io-threads); its process and
    port. @output, @args: as for start_front_conf."""
    pki = os.path.join(base, "pki")
    if not os.path.exists(pki):
        subprocess.run(["sh", os.path.join(source_root, "tests", "make-test-ca.sh"), pki],
                       check=True)
    state = os.path.join(base, name)
    os.makedirs(os.path.join(state, "postfix-registrations"))
    user = ""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for d in (state, os.path.join(state, "postfix-registrations")):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
        user = "user=nobody\n"
    return start_front_conf(exe, base, name,
                            "[front]\nlisten=%s\nhostname=front.test.example\n"
                            "upstream=127.0.0.1:%d\nstate_dir=%s\n%s"
                            "tls_certificate=%s/server.pem\ntls_key=%s/server.key\n%s"
                            % (listen, up.port, state, user, pki, pki,
                               io_threads_extra() + extra),
                            output, args)


def start_front_conf(exe, base, name, text, output=None, args=(), wrapper=()):
    """The front with the configuration @text (written to @base/@name.conf, its log to
    @base/@name.log, or to the descriptor @output) and the options @args, run through the
    command @wrapper if any (e.g. prlimit); its process and port, once it listens."""
    conf = os.path.join(base, name + ".conf")
    with open(conf, "w") as f:
        f.write(text)
    port_file = os.path.join(base, name + ".port")
    log = os.path.join(base, name + ".log")
    proc = subprocess.Popen(list(wrapper) + [exe, "--config", conf, "--port-file", port_file]
                            + list(args),
                            stdout=open(log, "w") if output is None else output,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not (os.path.exists(port_file) and open(port_file).read().endswith("\n")):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the front did not start: "
                               + (open(log).read() if output is None else "(no log)"))
        time.sleep(0.05)
    return proc, int(open(port_file).read())


def check_bounds(t, start, key, cases):
    """A setting's bounds: for each (value, loads) of @cases, whether
    @start(name, "KEY=VALUE\n") starts a front (it raises RuntimeError when the front
    does not start, as start_front does), checked with the Checker @t; the fronts that
    started, for the caller to stop."""
    procs = []
    for value, loads in cases:
        try:
            proc, _ = start("bound-%s-%d" % (key, value), "%s=%d\n" % (key, value))
            procs.append(proc)
            got = True
        except RuntimeError:
            got = False
        t.equal("%s=%d %s" % (key, value, "loads" if loads else "is refused"), got, loads)
    return procs


def wait_traced(pid, tracer, timeout=10):
    """Until every thread of @pid is traced by @tracer (the Popen of strace -f -p @pid: each
    /proc/@pid/task/*/status says TracerPid: its pid): from then on strace sees (and delays)
    its system calls. A fixed sleep was a guess, short on a loaded machine. RuntimeError
    when strace exits first or after @timeout s."""
    deadline = time.monotonic() + timeout

    def traced():
        try:
            tasks = os.listdir("/proc/%d/task" % pid)
            for task in tasks:
                with open("/proc/%d/task/%s/status" % (pid, task)) as f:
                    if "\nTracerPid:\t%d\n" % tracer.pid not in f.read():
                        return False
        except FileNotFoundError:  # a thread that ended meanwhile: look again
            return False
        return bool(tasks)
    while not traced():
        if tracer.poll() is not None:
            raise RuntimeError("strace exited (%d) before it traced %d" % (tracer.returncode, pid))
        if time.monotonic() > deadline:
            raise RuntimeError("strace did not attach to %d in %d s" % (pid, timeout))
        time.sleep(0.05)


def stop_front(proc, timeout=10):
    """@proc stopped if it still runs: SIGTERM, then SIGKILL if it has not exited after
    @timeout s; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(10)


def test_teardown(procs, base, failed):
    """The end of a scripted-upstream test: each front in @procs stopped (stop_front),
    @base removed unless a check @failed (its logs are the evidence)."""
    for p in procs:
        stop_front(p)
    if not failed:
        shutil.rmtree(base, ignore_errors=True)


def test_setup(prefix):
    """The front's executable (from --build-dir), the source root and a fresh directory
    (@prefix) for a test; None after printing the TAP skip when the front is not built."""
    build = sys.argv[sys.argv.index("--build-dir") + 1]
    exe = os.path.join(build, "server", "postfix", "msgtrk-submit-front")
    if not os.access(exe, os.X_OK):
        print("1..0 # SKIP msgtrk-submit-front is not built")
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    source_root = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(here)))
    base = tempfile.mkdtemp(prefix=prefix)
    os.chmod(base, 0o755)
    return exe, source_root, base
