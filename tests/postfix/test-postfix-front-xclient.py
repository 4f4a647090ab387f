#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-xclient.py: through msgtrk-submit-front, Postfix sees each client as
it would see it itself: address, port, verified name and reverse name, with their statuses.

  test-postfix-front-xclient.py --build-dir BUILD

What: the test re-runs itself in a mount and network namespace of its own (unshare -m -n:
only a loopback interface; its own /etc/resolv.conf, /etc/hosts and the hosts line of
/etc/nsswitch.conf bind-mounted, "files dns") with a dnsmasq on 127.0.0.1:53 that serves:
  127.0.0.2  PTR good.xclient.test, and its A record: a forward-confirmed name;
  127.0.0.3  PTR forged.xclient.test, no A record (NXDOMAIN): the name does not confirm;
  127.0.0.4  no PTR (NXDOMAIN): no name at all, a permanent failure;
  127.0.0.5  its PTR query fails (SERVFAIL: dnsmasq forwards it to a port nobody
             listens on): a temporary failure;
  127.0.0.6  PTR tempfwd.xclient.test, whose A query fails (SERVFAIL): the reverse name
             known, the verified one temporarily unavailable.
A private Postfix (postfix_instance.py) with smtpd_peername_lookup=yes and restrictions
that show the client's name and statuses in RCPT replies: reject_unknown_client_hostname
(name-probe), reject_unknown_reverse_client_hostname (reverse-probe), check_client_access
by name (access-probe), check_reverse_client_hostname_access (revaccess-probe);
unknown_client_reject_code=550 so that a permanent failure (550) differs from a temporary
one (450). For each address a client bound to it talks to Postfix directly (Postfix's own
lookup: the reference), then through the front on 127.0.0.1 and through the front on [::]
(the client arrives as ::ffff:127.0.0.x): the same RCPT replies, the same
"client=NAME[ADDR]:PORT" in Postfix's log (the port the client's own), the same "Received:
from HELO (NAME [ADDR])", and the same view in a policy service (check_policy_service:
client_address, client_name, reverse_client_name, and server_address/server_port the
address and port the client reached: the front's, through the front). A front with
peername_lookup=false: both names unknown, permanently.
Limits: dnsmasq's answers within the resolver's "timeout:1 attempts:1". Skips (77) unless
root with Postfix, unshare, ip and dnsmasq. Never: change the host's files (the bind mounts
live in the test's own mount namespace) or leave a process behind.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import Daemons, LineClient, site_state_dir, stop_site, wait_for  # noqa: E402

NS_FLAG = "MSGTRK_TEST_XCLIENT_NS"
DNSMASQ = "/usr/sbin/dnsmasq"
HELO = "client.helo.test"

# address -> (label, what Postfix itself finds: name, reverse name, and the replies to the
# probes name-probe, reverse-probe, access-probe, revaccess-probe)
CASES = {
    "127.0.0.2": ("confirmed", "good.xclient.test", "good.xclient.test", (250, 250, 554, 554)),
    "127.0.0.3": ("forged", "unknown", "forged.xclient.test", (550, 250, 250, 554)),
    "127.0.0.4": ("no PTR", "unknown", "unknown", (550, 550, 250, 250)),
    "127.0.0.5": ("PTR SERVFAIL", "unknown", "unknown", (450, 450, 250, 250)),
    "127.0.0.6": ("A SERVFAIL", "unknown", "tempfwd.xclient.test", (450, 250, 250, 554)),
}
PROBES = ("name-probe", "reverse-probe", "access-probe", "revaccess-probe")

DNS_RECORDS = [
    "--host-record=good.xclient.test,127.0.0.2",
    "--ptr-record=3.0.0.127.in-addr.arpa,forged.xclient.test",
    "--ptr-record=6.0.0.127.in-addr.arpa,tempfwd.xclient.test",
    "--local=/xclient.test/",
    "--local=/127.in-addr.arpa/",
    "--server=/5.0.0.127.in-addr.arpa/127.0.0.1#9",
    "--server=/tempfwd.xclient.test/127.0.0.1#9",
]


def ns_skip_reason():
    for tool in ("unshare", "ip", "mount"):
        if shutil.which(tool) is None:
            return "%s is not installed" % tool
    if not os.access(DNSMASQ, os.X_OK):
        return "%s is missing (tools/deps.sh test installs dnsmasq-base)" % DNSMASQ
    r = subprocess.run(["unshare", "-m", "-n", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        return "no mount and network namespaces here: %s" % r.stderr.strip()
    return None


def namespace_files(base):
    """Inside the namespace: loopback up; resolv.conf naming the test's dnsmasq; hosts with
    localhost only; nsswitch.conf with "hosts: files dns" (the rest as the host's)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    etc = os.path.join(base, "etc")
    os.mkdir(etc, 0o755)
    with open("/etc/nsswitch.conf") as f:
        ns = [x for x in f.read().splitlines() if not x.startswith("hosts:")]
    files = {
        "resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "nsswitch.conf": "\n".join(ns + ["hosts: files dns"]) + "\n",
    }
    for name, text in files.items():
        path = os.path.join(etc, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        subprocess.run(["mount", "--bind", path, "/etc/" + name], check=True)


def start_dnsmasq(base):
    log = os.path.join(base, "dnsmasq.log")
    proc = subprocess.Popen([DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
                             "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1",
                             "--bind-interfaces", "--port=53", "--log-facility=-", "--log-queries"]
                            + DNS_RECORDS, stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def answers():
        if proc.poll() is not None:
            raise pi.PostfixError("dnsmasq exited: " + open(log).read())
        try:
            return socket.gethostbyaddr("127.0.0.2")[0] == "good.xclient.test"
        except OSError:
            return False
    wait_for("dnsmasq", answers, 10)
    return proc


class PolicyServer:
    """A Postfix policy service (SMTPD_POLICY_README) that answers DUNNO and records each
    request's attributes by client_port: what Postfix knows of the client and of the
    server address the client reached."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests = {}
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        f = c.makefile("rwb")
        attrs = {}
        try:
            for line in f:
                line = line.decode(errors="replace").rstrip("\n")
                if line:
                    k, _, v = line.partition("=")
                    attrs[k] = v
                    continue
                self.requests[attrs.get("client_port")] = attrs
                attrs = {}
                f.write(b"action=DUNNO\n\n")
                f.flush()
        except OSError:
            pass
        c.close()

    def seen(self, client_port):
        """(client_address, client_name, reverse_client_name, server_address, server_port)
        of the session from @client_port."""
        a = self.requests.get(str(client_port), {})
        return tuple(a.get(k) for k in ("client_address", "client_name",
                                         "reverse_client_name", "server_address",
                                         "server_port"))


def session(source, port, subject):
    """One message from @source through @port; the probes' replies, the queue id and the
    client's port."""
    c = LineClient(port, source)
    try:
        greeting = c.reply()
        if greeting[0] != 220:
            raise pi.PostfixError("greeting from %s: %r" % (source, greeting))
        c.cmd("EHLO " + HELO)
        code, text = c.cmd("MAIL FROM:<sender@test.example>")
        if code != 250:
            raise pi.PostfixError("MAIL from %s: %s" % (source, text))
        probes = tuple(c.cmd("RCPT TO:<%s@test.example>" % p)[0] for p in PROBES)
        code, text = c.cmd("RCPT TO:<alice@test.example>")
        if code != 250:
            raise pi.PostfixError("RCPT from %s: %s" % (source, text))
        c.cmd("DATA")
        c.sock.sendall(("Subject: %s\r\nFrom: <sender@test.example>\r\n\r\nbody\r\n.\r\n"
                        % subject).encode())
        code, text = c.reply()
        m = re.search(r"queued as ([0-9A-Za-z]+)", text)
        if code != 250 or not m:
            raise pi.PostfixError("DATA from %s: %s" % (source, text))
        c.cmd("QUIT")
        return probes, m.group(1), c.port
    finally:
        c.close()


def client_line(pf, qid):
    """NAME[ADDR]:PORT of Postfix's "QID: client=" line."""
    def find():
        m = re.search(r" %s: client=([^,\s]+)" % qid, open(pf.log, errors="replace").read())
        return m and m.group(1)
    return wait_for("the client line of " + qid, find, 20)


def received(pf, subject):
    """The first Received: field of the message with @subject in alice's Maildir, up to
    "by" (its "from HELO (NAME [ADDR])" part)."""
    maildir = os.path.join(pf.mail, "alice", "Maildir")

    def find():
        for path in pi.maildir_files(maildir):
            text = open(path, errors="replace").read()
            if "Subject: %s\n" % subject in text:
                m = re.search(r"^Received: (from [^\n]*(?:\n\s[^\n]*)*)", text, re.M)
                return m and re.sub(r"\s+", " ", m.group(1)).split(" by ")[0]
        return None
    return wait_for("the message " + subject, find, 30)


def configure(pf, policy):
    pf.configure()
    open(pf.log, "w").close()
    with open(os.path.join(pf.conf, "main.cf"), "a") as f:
        f.write("smtpd_peername_lookup = yes\n"
                "smtpd_client_port_logging = yes\n"
                "smtpd_authorized_xclient_hosts = 127.0.0.1\n"
                "unknown_client_reject_code = 550\n"
                "smtpd_restriction_classes = probe_name, probe_reverse, probe_access, "
                "probe_revaccess\n"
                "probe_name = reject_unknown_client_hostname, permit\n"
                "probe_reverse = reject_unknown_reverse_client_hostname, permit\n"
                "probe_access = check_client_access "
                "inline:{{good.xclient.test=554 5.7.1 client name matched}}, permit\n"
                "probe_revaccess = check_reverse_client_hostname_access "
                "inline:{{forged.xclient.test=554 5.7.1 reverse name matched}, "
                "{tempfwd.xclient.test=554 5.7.1 reverse name matched}, "
                "{good.xclient.test=554 5.7.1 reverse name matched}}, permit\n"
                "smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:%d, "
                "check_recipient_access "
                "inline:{name-probe@test.example=probe_name, "
                "reverse-probe@test.example=probe_reverse, "
                "access-probe@test.example=probe_access, "
                "revaccess-probe@test.example=probe_revaccess}, permit_mynetworks, reject\n"
                % policy.port)


def main():
    a = pi.test_args(ns_skip_reason)
    if not pi.in_namespace(NS_FLAG):
        # Its own mount and network namespaces (resolv.conf and the rest: namespace_files).
        pi.reexec_in_namespace(NS_FLAG, ["-m", "-n", "--propagation", "private"])
    pi.raise_on_terminate()
    front_exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-submit-front")
    t = pi.Checker()
    started = time.monotonic()
    pf = pi.PrivatePostfix()
    daemons = Daemons(pf.base)
    dns = None
    try:
        namespace_files(pf.base)
        dns = start_dnsmasq(pf.base)
        policy = PolicyServer()
        configure(pf, policy)
        pf.start()
        state, _ = site_state_dir(pf)
        fronts = {}
        for label, listen in (("front", "127.0.0.1:0"), ("front6", "[::]:0")):
            fronts[label] = daemons.start(
                front_exe, label,
                "[front]\nlisten=%s\nhostname=submit.test.example\nupstream=127.0.0.1:%d\n"
                "state_dir=%s\nuser=nobody\n" % (listen, pf.port, state),
                os.path.join(pf.base, label + ".port"))

        for addr, (label, name, reverse, want) in CASES.items():
            subject = "direct-" + addr
            got, qid, port = session(addr, pf.port, subject)
            direct_client = client_line(pf, qid)
            direct_received = received(pf, subject)
            # The reference first: Postfix's own lookup in this namespace.
            t.equal("direct %s (%s): Postfix's client line" % (addr, label), direct_client,
                    "%s[%s]:%d" % (name, addr, port))
            t.equal("direct %s (%s): the probes" % (addr, label), got, want)
            t.equal("direct %s (%s): Received" % (addr, label), direct_received,
                    "from %s (%s [%s])" % (HELO, name, addr))
            t.equal("direct %s (%s): the policy service's view" % (addr, label),
                    policy.seen(port), (addr, name, reverse, "127.0.0.1", str(pf.port)))
            for front, fport in fronts.items():
                subject = "%s-%s" % (front, addr)
                got, qid, port = session(addr, fport, subject)
                t.equal("%s %s (%s): Postfix's client line: the client's name, address and "
                        "port" % (front, addr, label), client_line(pf, qid),
                        "%s[%s]:%d" % (name, addr, port))
                t.equal("%s %s (%s): the probes as direct (name and reverse name with "
                        "their statuses)" % (front, addr, label), got, want)
                t.equal("%s %s (%s): Received as direct" % (front, addr, label),
                        received(pf, subject), direct_received)
                t.equal("%s %s (%s): the policy service's view: the client's address and "
                        "names, the server address and port the client reached"
                        % (front, addr, label), policy.seen(port),
                        (addr, name, reverse, "127.0.0.1", str(fport)))
        # peername_cache_ttl (60 s by default): a second session from an address the front
        # has looked up costs no query, with the same names; a temporary failure is not
        # kept (queried again). dnsmasq logs each query it gets.
        dns_log = os.path.join(pf.base, "dnsmasq.log")

        def ptr_queries(addr):
            arpa = ".".join(reversed(addr.split("."))) + ".in-addr.arpa"
            return open(dns_log).read().count("query[PTR] %s " % arpa)
        good, temp = ptr_queries("127.0.0.2"), ptr_queries("127.0.0.5")
        got, qid, port = session("127.0.0.2", fronts["front"], "cached-127.0.0.2")
        t.equal("peername_cache_ttl: a second session's names as the first's",
                (client_line(pf, qid), got),
                ("good.xclient.test[127.0.0.2]:%d" % port, CASES["127.0.0.2"][3]))
        for _ in range(2):
            session("127.0.0.5", fronts["front"], "uncached-127.0.0.5")
        wait_for("the temporary failure's PTR queries again",
                 lambda: ptr_queries("127.0.0.5") >= temp + 2, 10)
        t.equal("peername_cache_ttl: no query for the address looked up before",
                ptr_queries("127.0.0.2"), good)
        # peername_lookup=false (for an upstream with smtpd_peername_lookup=no): no
        # lookup, both names unknown with a permanent status, as Postfix then has.
        nport = daemons.start(
            front_exe, "front-nolookup",
            "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
            "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\npeername_lookup=false\n"
            % (pf.port, state), os.path.join(pf.base, "front-nolookup.port"))
        got, qid, port = session("127.0.0.2", nport, "nolookup-127.0.0.2")
        t.equal("peername_lookup=false: Postfix's client line", client_line(pf, qid),
                "unknown[127.0.0.2]:%d" % port)
        t.equal("peername_lookup=false: the probes (both names unknown, permanently)", got,
                (550, 550, 250, 250))
        t.equal("peername_lookup=false: the policy service's view", policy.seen(port),
                ("127.0.0.2", "unknown", "unknown", "127.0.0.1", str(nport)))
        for d in daemons:
            t.equal("%s exits 0 on SIGTERM" % os.path.basename(d.log), d.stop(), 0)
        log6 = open(os.path.join(pf.base, "front6.log")).read()
        t.check("front6 logs its IPv4-mapped clients as IPv4",
                "[127.0.0.2] connect" in log6 and "::ffff:" not in log6, log6[-600:])
    except (pi.PostfixError, OSError, subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, [], daemons)
        if dns is not None:
            dns.send_signal(signal.SIGTERM)
            try:
                dns.wait(10)
            except subprocess.TimeoutExpired:
                dns.kill()
                dns.wait()
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
