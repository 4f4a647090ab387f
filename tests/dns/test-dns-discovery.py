#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-dns-discovery.py: MTQP discovery (RFC 3887 section 2) through real DNS.

  test-dns-discovery.py MTQPD SEED_RECORD MTQP_DISCOVER

What it is for: the MTQP client's discovery with the system's GResolver and a real DNS
server, no host overrides. The test makes its own network namespace (msgtrk-t-<pid>) with
only a loopback interface, an /etc/netns/<name>/resolv.conf naming 127.0.0.1, a dnsmasq
there serving SRV, MX and A records under .test, and several mtqpd processes on
127.0.0.x, each with its own tracking store (seed-record) and its own Reporting-MTA so
that the answer tells which server was reached. mtqp-discover runs inside the namespace
and does one track call per case.

Cases: SRV priority (lower first, whatever the order dnsmasq lists them), SRV weight (a
weight-0 target loses to a heavy one: 2 of 3 calls at least, chance of failure ~1e-9),
SRV fall-through (first target down), MX without SRV (preference order, first MX down,
the domain's own A record not used), A only (port 1038), SRV target "." (no service,
even though an A record exists), and a name with no records at all.

Limits: needs root and `ip netns` (else exit 77, meson's "skip"); dnsmasq from
dnsmasq-base (tools/deps.sh test). Ports inside the namespace are fixed: it is ours alone.
Never: leave the namespace, /etc/netns/<name> or a process behind (finally + signals);
put the secret in argv (mtqp-discover reads it from stdin).
"""

import base64
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
DNSMASQ = "/usr/sbin/dnsmasq"
ENVID = "mtrk.dnstest@test.example"
SECRET_RAW = bytes(range(7, 39))
START_TIMEOUT = 20.0

# mtqpd instances: name -> (listen address, port)
SERVERS = {
    "prio-low": ("127.0.0.1", 2001),     # _mtqp._tcp.prio.test priority 10
    "prio-high": ("127.0.0.1", 2002),    # _mtqp._tcp.prio.test priority 20 (listed first)
    "fall-up": ("127.0.0.1", 2003),      # _mtqp._tcp.fall.test priority 20 (10 is down)
    "weight-zero": ("127.0.0.1", 2004),  # _mtqp._tcp.weight.test priority 10 weight 0
    "weight-heavy": ("127.0.0.1", 2005),  # _mtqp._tcp.weight.test priority 10 weight 65535
    "mx-up": ("127.0.0.2", 1038),        # MX 20 of mx.test (MX 10 is down)
    "arec": ("127.0.0.3", 1038),         # A of arec.test, mx.test and none.test
}
DOWN_PORT = 2009                         # nothing listens there

DNS_RECORDS = [
    # SRV: _service._proto.domain,target,port,priority,weight
    "--srv-host=_mtqp._tcp.prio.test,high.prio.test,2002,20,5",
    "--srv-host=_mtqp._tcp.prio.test,low.prio.test,2001,10,5",
    "--srv-host=_mtqp._tcp.fall.test,down.fall.test,%d,10,5" % DOWN_PORT,
    "--srv-host=_mtqp._tcp.fall.test,up.fall.test,2003,20,5",
    "--srv-host=_mtqp._tcp.weight.test,zero.weight.test,2004,10,0",
    "--srv-host=_mtqp._tcp.weight.test,heavy.weight.test,2005,10,65535",
    "--srv-host=_mtqp._tcp.none.test",   # no target: "." = no service (RFC 2782)
    "--mx-host=mx.test,mxdown.mx.test,10",
    "--mx-host=mx.test,mxup.mx.test,20",
] + ["--host-record=%s,127.0.0.1" % h for h in
     ("high.prio.test", "low.prio.test", "down.fall.test", "up.fall.test",
      "zero.weight.test", "heavy.weight.test")] + [
    "--host-record=mxdown.mx.test,127.0.0.4",
    "--host-record=mxup.mx.test,127.0.0.2",
    "--host-record=mx.test,127.0.0.3",
    "--host-record=arec.test,127.0.0.3",
    "--host-record=none.test,127.0.0.3",
]


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def b64(data):
    return base64.b64encode(data).decode("ascii")


def on_signal(signum, frame):
    raise SystemExit("killed by signal %d" % signum)


class Namespace:
    """A network namespace of our own, with its resolv.conf; removed by cleanup()."""

    def __init__(self):
        self.name = "msgtrk-t-%d" % os.getpid()
        self.etc = os.path.join("/etc/netns", self.name)
        self.created = False
        self.procs = []

    def create(self):
        if os.geteuid() != 0:
            raise Skip("needs root (network namespaces, a DNS server on port 53)")
        if shutil.which("ip") is None:
            raise Skip("the ip command (iproute2) is not installed")
        if not os.access(DNSMASQ, os.X_OK):
            raise Skip("%s is missing (tools/deps.sh test installs dnsmasq-base)" % DNSMASQ)
        r = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip("ip netns add failed (no namespace support here?): %s"
                       % r.stderr.strip())
        self.created = True
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        os.makedirs(self.etc, exist_ok=True)
        with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")

    def popen(self, argv, log_path):
        with open(log_path, "a") as log:
            # `ip netns exec` execs the program itself: the PID is the program's.
            proc = subprocess.Popen(["ip", "netns", "exec", self.name] + argv,
                                    stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def run(self, argv, stdin_text):
        return subprocess.run(["ip", "netns", "exec", self.name] + argv, input=stdin_text,
                              capture_output=True, text=True, timeout=120)

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.created:
            # Anything still inside was started by us: end it by PID before removing.
            r = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                               text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        shutil.rmtree(self.etc, ignore_errors=True)


def wait_port_file(proc, path, what, log_path):
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise Failure("%s exited at start-up:\n%s" % (what, open(log_path).read()))
        try:
            with open(path) as f:
                text = f.read()
            if text.endswith("\n"):
                return int(text)
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise Failure("%s did not start in %.0f s" % (what, START_TIMEOUT))
        time.sleep(0.05)


def start_dnsmasq(ns, tmp):
    log_path = os.path.join(tmp, "dnsmasq.log")
    argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces", "--port=53",
            "--pid-file=" + os.path.join(tmp, "dnsmasq.pid"), "--local=/test/",
            "--log-facility=-", "--log-queries"] + DNS_RECORDS
    proc = ns.popen(argv, log_path)
    # Ready when it answers: ask for an A record through the namespace's resolver.
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise Failure("dnsmasq exited at start-up:\n%s" % open(log_path).read())
        r = subprocess.run(["ip", "netns", "exec", ns.name, "getent", "hosts", "arec.test"],
                           capture_output=True, text=True)
        if r.returncode == 0 and "127.0.0.3" in r.stdout:
            return proc, log_path
        if time.monotonic() > deadline:
            raise Failure("dnsmasq did not answer in %.0f s:\n%s"
                          % (START_TIMEOUT, open(log_path).read()))
        time.sleep(0.1)


def start_mtqpd(ns, mtqpd, seed, tmp, name, address, port):
    d = os.path.join(tmp, name)
    state = os.path.join(d, "state")
    os.makedirs(state)
    far = str(int(time.time()) + 86400)
    subprocess.run([seed, state, ENVID, b64(hashlib.sha1(SECRET_RAW).digest()), far,
                    "--reporting-mta", name + ".mtqpd.test",
                    "--rcpt", "user@example.net,delivered,2.0.0"], check=True)
    conf = ["[mtqpd]", "hostname=%s.mtqpd.test" % name, "state_dir=%s" % state,
            "listen=127.0.0.1:1"]
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for root, dirs, files in os.walk(d):
            for p in [root] + [os.path.join(root, x) for x in files]:
                os.chown(p, nobody.pw_uid, nobody.pw_gid)
        conf.append("user=nobody")
    conf_path = os.path.join(d, "mtqpd.conf")
    with open(conf_path, "w") as f:
        f.write("\n".join(conf) + "\n")
    port_file = os.path.join(d, "port")
    log_path = os.path.join(d, "mtqpd.log")
    proc = ns.popen([mtqpd, "--config", conf_path, "--listen", "%s:%d" % (address, port),
                     "--port-file", port_file], log_path)
    got = wait_port_file(proc, port_file, "mtqpd " + name, log_path)
    if got != port:
        raise Failure("mtqpd %s listens on %d, not %d" % (name, got, port))


def discover(ns, tool, domain, repeat=1):
    r = ns.run([tool, domain, ENVID, str(repeat)], b64(SECRET_RAW) + "\n")
    if r.returncode != 0:
        raise Failure("mtqp-discover %s failed (%d): %s" % (domain, r.returncode, r.stderr))
    if b64(SECRET_RAW) in r.stdout or b64(SECRET_RAW) in r.stderr:
        raise Failure("the secret appears in mtqp-discover's output")
    lines = r.stdout.splitlines()
    print("# %s -> %s" % (domain, " | ".join(lines)))
    return lines


def expect_ok(line, server, mta):
    want = "OK server=%s reporting-mta=%s.mtqpd.test action=delivered" % (server, mta)
    if line != want:
        raise Failure("expected %r, got %r" % (want, line))


def main():
    mtqpd, seed, tool = sys.argv[1:4]
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    ns = Namespace()
    tmp = tempfile.mkdtemp(prefix="msgtrk-dns-")
    os.chmod(tmp, 0o755)
    failures = 0
    try:
        ns.create()
        _, dns_log = start_dnsmasq(ns, tmp)
        for name, (address, port) in SERVERS.items():
            start_mtqpd(ns, mtqpd, seed, tmp, name, address, port)

        cases = [
            ("srv-priority", lambda: expect_ok(discover(ns, tool, "prio.test")[0],
                                               "low.prio.test:2001", "prio-low")),
            ("srv-fall-through", lambda: expect_ok(discover(ns, tool, "fall.test")[0],
                                                   "up.fall.test:2003", "fall-up")),
            ("srv-weight", lambda: check_weight(discover(ns, tool, "weight.test", 3))),
            ("mx-without-srv", lambda: expect_ok(discover(ns, tool, "mx.test")[0],
                                                 "mxup.mx.test:1038", "mx-up")),
            ("a-record-only", lambda: expect_ok(discover(ns, tool, "arec.test")[0],
                                                "arec.test:1038", "arec")),
            ("srv-dot-no-service", lambda: expect_error(discover(ns, tool, "none.test")[0],
                                                        "code=14 ", "no MTQP service")),
            ("no-records", lambda: expect_error(discover(ns, tool, "nothing.test")[0],
                                                "ERROR code=", "")),
        ]
        for i, (name, check) in enumerate(cases, 1):
            try:
                check()
                print("ok %d - %s" % (i, name))
            except Failure as e:
                failures += 1
                print("not ok %d - %s: %s" % (i, name, e))
        print("1..%d" % len(cases))
        if failures:
            print("dnsmasq log:\n" + open(dns_log).read(), file=sys.stderr)
        return 1 if failures else 0
    except Skip as e:
        print("SKIP dns: %s" % e)
        return SKIP
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    finally:
        ns.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def check_weight(lines):
    heavy = sum(1 for line in lines
                if line.startswith("OK server=heavy.weight.test:2005 "))
    if len(lines) != 3 or heavy < 2:
        raise Failure("the weight-65535 target should win (2 of 3 at least): %r" % lines)


def expect_error(line, code, text):
    if not line.startswith("ERROR ") or code not in line or text not in line:
        raise Failure("expected an error (%r, %r), got %r" % (code, text, line))


if __name__ == "__main__":
    sys.exit(main())
