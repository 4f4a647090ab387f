#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-push-e2e.py: the push channel with real processes (docs/push-protocol.md).

  test-push-e2e.py SCENARIO RECEIVER RELAY MTQPD

Scenarios:
  two-nodes  two msgtrk-relay nodes (keys 1 and 2; a: mode=push, b: mode=both) push to one
             msgtrk-push-receiver; one mtqpd on the receiver's store answers every
             message, including one relayed from node a to node b; the nodes' spools
             empty (every record acknowledged); node a keeps no local record, node b
             does; no log shows a key, A or B.
  kill9      the receiver is killed with SIGKILL while node a pushes 10 messages, five of
             them while it is down; node a is then killed with SIGKILL and restarted too;
             the receiver, restarted on the same port, gets every record (resent from node
             a's durable spool): none is lost.
  kill9-stream a node made here streams records asking for ACK lists (a window in
             flight, resent until a verified ACK or ACK_LIST names them); the receiver is
             killed with SIGKILL mid-stream and restarted: every record is stored.
  hostile    frames made here with Python's hmac: a valid one is stored and acknowledged
             (the ACK's HMAC checked); the same frame again (replayed), one signed with the
             wrong key, one with an unknown key id, a forged one (a byte changed after
             signing), an oversized, two truncated, a stale and a malformed frame are dropped
             and counted, never stored; a record in two parts is reassembled; the TCP stream
             form is acknowledged the same way; PUSH_MAX_PENDING incomplete records are
             held and one more evicts the oldest; an expired record is removed by the
             receiver's expiry; records from a node that asks for ACK lists
             (PUSH_FLAG_ACK_LIST) and arrive in one batch are acknowledged in ACK_LIST
             frames, HMAC checked: PUSH_MAX_ACK_IDS + 1 records in one full frame and one
             of one id; an unknown flag is malformed; a key file
             readable by others stops the receiver.
  pg         the receiver on PostgreSQL: stopped mid-run, records stay spooled (no ACK) and
             arrive once it is back; mtqpd answers -TEMP meanwhile.
  node-config a relay node whose key file its group can read, or with a bad [push] mode,
             refuses to start and says why.
  record-limits records whose fields or numbers are past a limit: a sequence of
             2**64-1 must not lock the key out; an expiry past now + MSGTRK_MTRK_TIMEOUT_MAX
             and a negative one are bad_record (not store_failed, resent forever, one
             warning each), acknowledged (refused for good: resending changes nothing)
             and logged with the ENVID and the reason at most once a second; a record
             the receiver stores must be one mtqpd can serve.
  pg-cross-node on PostgreSQL, another node's row (same B, a field mtqpd cannot
             fold) must not make node 1's record unservable.
Exit 0 pass, 1 fail.
"""

import base64
import hashlib
import hmac
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "relay"))
from relay_harness import (AUTH, SECRET_RAW, HarnessError, Relay, make_body,  # noqa: E402
                           mtqp_track, send_message, wait_for)

MAX_DATAGRAM = 1200
HEADER = 36
MAC = 32
MAX_PAYLOAD = MAX_DATAGRAM - HEADER - MAC
PUSH_MAX_PENDING = 1024


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def as_nobody(path):
    if os.geteuid() == 0:
        pw = pwd.getpwnam("nobody")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_key(path, raw, mode=0o600):
    with open(path, "w") as f:
        f.write(b64(raw) + "\n")
    os.chmod(path, mode)
    as_nobody(path)


class Receiver:
    def __init__(self, exe, base, keys, udp_port, extra=()):
        self.exe = exe
        self.dir = os.path.join(base, "receiver")
        self.state_dir = os.path.join(self.dir, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        as_nobody(self.dir)
        as_nobody(self.state_dir)
        self.stats = os.path.join(self.dir, "stats")
        self.log_path = os.path.join(self.dir, "receiver.log")
        self.udp_port = udp_port
        self.conf = os.path.join(self.dir, "receiver.conf")
        lines = ["[push_receiver]", "listen=127.0.0.1:1", "udp_listen=127.0.0.1:%d" % udp_port,
                 "state_dir=%s" % self.state_dir, "stats_file=%s" % self.stats]
        if os.geteuid() == 0:
            lines.append("user=nobody")
        lines += ["", "[push_keys]"] + ["%d=%s" % kv for kv in keys.items()]
        lines += [""] + list(extra)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.port = None

    def start(self, expect_fail=False):
        port_file = os.path.join(self.dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.exe, "--config", self.conf, "--listen", "127.0.0.1:0",
                                      "--port-file", port_file, "--verbose"],
                                     stdout=log, stderr=log)
        log.close()
        if expect_fail:
            return self.proc.wait(20)

        def ready():
            if self.proc.poll() is not None:
                raise Failure("the receiver exited at start-up:\n" + self.log())
            # Started once it logged "Receiving" (the UDP thread runs then).
            return "Receiving on UDP" in self.log() and os.path.exists(port_file) \
                and open(port_file).read().endswith("\n")
        wait_for("the receiver to start", ready, 20, 0.05)
        self.port = int(open(port_file).read())
        return 0

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(30)
        self.proc = None
        check(status == 0, "the receiver exited with %d:\n%s" % (status, self.log()))

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def counters(self):
        try:
            with open(self.stats) as f:
                return dict((k, int(v)) for k, v in
                            (line.strip().split("=") for line in f if "=" in line))
        except FileNotFoundError:
            return {}


class Mtqpd:
    def __init__(self, exe, base, state_dir, extra=()):
        d = os.path.join(base, "mtqpd")
        os.makedirs(d)
        conf = ["[mtqpd]", "hostname=mtqp.test", "state_dir=%s" % state_dir,
                "listen=127.0.0.1:1"]
        if os.geteuid() == 0:
            conf.append("user=nobody")
        conf += [""] + list(extra)
        with open(os.path.join(d, "mtqpd.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")
        port_file = os.path.join(d, "port")
        self.log_path = os.path.join(d, "mtqpd.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([exe, "--config", os.path.join(d, "mtqpd.conf"),
                                      "--listen", "127.0.0.1:0", "--port-file", port_file],
                                     stdout=log, stderr=log)
        log.close()
        wait_for("mtqpd to start", lambda: os.path.exists(port_file)
                 and open(port_file).read().endswith("\n"), 20, 0.05)
        self.port = int(open(port_file).read())

    def track(self, envid, secret_raw=SECRET_RAW):
        return mtqp_track(self.port, envid, secret_raw)[1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)


def make_relay(relay_exe, base, name, routes, udp_port, key_id, key_path, mode="push"):
    r = Relay(relay_exe, base, name, "%s.test" % name, routes)
    with open(r.conf_path, "a") as f:
        f.write("\n[push]\nserver=127.0.0.1:%d\nkey_id=%d\nkey_file=%s\nmode=%s\n"
                % (udp_port, key_id, key_path, mode))
    return r


def spool(relay):
    """The record ids in a node's spool: the spool log's segments (<n>.log: entries of a
    4-octet length, an 8-octet record id and the record) and older <id>.rec files."""
    d = os.path.join(relay.state_dir, "push-spool")
    ids = []
    for name in os.listdir(d) if os.path.isdir(d) else []:
        if name.endswith(".rec"):
            ids.append(name[:-4])
        elif name.endswith(".log"):
            try:
                data = open(os.path.join(d, name), "rb").read()
            except FileNotFoundError:
                continue
            pos = 0
            while len(data) - pos >= 12:
                length = int.from_bytes(data[pos:pos + 4], "big")
                if len(data) - pos - 12 < length:
                    break
                ids.append(data[pos + 4:pos + 12].hex())
                pos += 12 + length
    return ids


def mtrk(envid):
    return "ENVID=%s MTRK=%s:3600 RET=HDRS" % (envid, AUTH)


def logs_clean(texts, keys):
    for text in texts:
        for what, value in [("A", b64(SECRET_RAW)), ("B", AUTH)] + \
                [("a key", b64(k)) for k in keys]:
            check(value not in text, "a log shows %s:\n%s" % (what, text))


# Frames made here, independently of push-proto.c.
def record_bytes(envid, fields, expires=None, version=None):
    expires = expires or int(time.time()) + 3600
    version = version or int(time.time() * 1e6)
    e = envid.encode()
    return (bytes([len(e)]) + e + AUTH.encode() + struct.pack(">QQ", expires, version)
            + fields.encode())


def fields_for(envid, n_rcpts=1):
    text = "Original-Envelope-Id: %s\r\nReporting-MTA: dns; py.test\r\n" % envid
    for i in range(n_rcpts):
        text += ("\r\nFinal-Recipient: rfc822; user%d@example.net\r\nAction: delivered\r\n"
                 "Status: 2.0.0\r\n" % i)
    return text


SEQ = [int(time.time() * 1e6)]
# Record ids in one ACK_LIST frame (PUSH_MAX_ACK_IDS: 8 octets each in a payload).
PUSH_MAX_ACK_IDS = (1200 - 36 - 32) // 8
# Records sent at once by the hostile scenario's node that takes ACK lists: one more than
# an ACK_LIST frame holds, so they take two.
ACK_LIST_RECORDS = PUSH_MAX_ACK_IDS + 1


def frame(key, key_id, record_id, payload, part=0, parts=1, ftype=1, ts=None, seq=None,
          flags=0):
    if seq is None:
        SEQ[0] += 1
        seq = SEQ[0]
    ts = int(time.time() * 1000) if ts is None else ts
    head = b"MTP1" + struct.pack(">BBHQQQBBH", ftype, flags, key_id, ts, seq, record_id, part,
                                 parts, len(payload))
    body = head + payload
    return body + hmac.new(key, body, hashlib.sha256).digest()


def scenario_two_nodes(exe, tmp, keys, key_paths):
    receiver_exe, relay_exe, mtqpd_exe = exe
    udp = free_udp_port()
    rec = Receiver(receiver_exe, tmp, {1: key_paths[1], 2: key_paths[2]}, udp)
    relays = []
    m = None
    try:
        rec.start()
        b = make_relay(relay_exe, tmp, "b", {"example.org": "local:"}, udp, 2, key_paths[2],
                       mode="both")
        relays.append(b)
        b.start()
        a = make_relay(relay_exe, tmp, "a", {"example.org": "local:",
                                             "far.example": b.route()}, udp, 1, key_paths[1])
        relays.append(a)
        a.start()
        with open(b.conf_path) as f:
            conf_b = f.read()
        # b delivers far.example too (the message relayed a -> b).
        b.stop()
        with open(b.conf_path, "w") as f:
            f.write(conf_b.replace("[routes]\n", "[routes]\nfar.example=local:\n"))
        b.start()
        a.stop()
        a.set_routes({"example.org": "local:", "far.example": b.route()})
        with open(a.conf_path, "a") as f:
            f.write("\n[push]\nserver=127.0.0.1:%d\nkey_id=1\nkey_file=%s\nmode=push\n"
                    % (udp, key_paths[1]))
        a.start()
        for node, envid, rcpt in ((a, "mtrk.n1@sender.example", "bob@example.org"),
                                  (b, "mtrk.n2@sender.example", "carol@example.org"),
                                  (a, "mtrk.n3@sender.example", "dave@far.example")):
            code, text = send_message(node.port, "alice@sender.example", [rcpt],
                                      make_body(envid), mtrk(envid), "NOTIFY=NEVER")
            check(code == 250, "DATA: %s" % text)
        m = Mtqpd(mtqpd_exe, tmp, rec.state_dir)
        for envid in ("mtrk.n1@sender.example", "mtrk.n2@sender.example"):
            wait_for("%s delivered, as pushed" % envid,
                     lambda e=envid: "Action: delivered" in m.track(e), 30, 0.2)
        wait_for("the record of the message relayed a -> b",
                 lambda: m.track("mtrk.n3@sender.example").startswith("+OK+"), 30, 0.2)
        wait_for("both spools empty (every record acknowledged)",
                 lambda: not spool(a) and not spool(b), 30, 0.2)
        check(not os.path.isdir(os.path.join(a.state_dir, "tracking"))
              or not os.listdir(os.path.join(a.state_dir, "tracking")),
              "mode=push wrote local tracking records")
        check(b.track_record("mtrk.n2@sender.example") is not None,
              "mode=both did not write the local record at node b")
        wait_for("the receiver's counters to show the stored records",
                 lambda: rec.counters().get("stored", 0) >= 3, 10, 0.2)
        c = rec.counters()
        check(c.get("bad_hmac", 0) == 0 and c.get("replayed", 0) == 0, "counters: %r" % c)
        m.stop()
        m = None
        for r in relays:
            r.stop()
        rec.stop()
        logs_clean([r.log() for r in relays] + [rec.log()], keys.values())
    finally:
        if m is not None:
            m.proc.kill()
        for r in relays:
            r.cleanup()
        rec.cleanup()


def scenario_kill9(exe, tmp, keys, key_paths):
    receiver_exe, relay_exe, mtqpd_exe = exe
    udp = free_udp_port()
    rec = Receiver(receiver_exe, tmp, {1: key_paths[1]}, udp)
    a = None
    try:
        rec.start()
        a = make_relay(relay_exe, tmp, "a", {"example.org": "local:"}, udp, 1, key_paths[1])
        a.start()
        envids = ["mtrk.k%d@sender.example" % i for i in range(10)]
        for i, envid in enumerate(envids):
            if i == 5:
                rec.kill9()
            code, text = send_message(a.port, "alice@sender.example", ["bob%d@example.org" % i],
                                      make_body(envid), mtrk(envid), "NOTIFY=NEVER")
            check(code == 250, "DATA: %s" % text)
        a.wait_mail("bob9@example.org")
        wait_for("records spooled while the receiver is down", lambda: len(spool(a)) >= 5, 20)
        # The node crashes too: its spool is on disk, the restarted node sends it.
        a.kill9()
        a.start()
        rec.start()
        m = Mtqpd(mtqpd_exe, tmp, rec.state_dir)
        try:
            for envid in envids:
                wait_for("%s stored after the restart" % envid,
                         lambda e=envid: "Action: delivered" in m.track(e), 90, 0.3)
        finally:
            m.stop()
        wait_for("node a's spool empty", lambda: not spool(a), 90, 0.3)
        a.stop()
        rec.stop()
    except (Failure, HarnessError):
        if a is not None:
            print("--- node a log:\n" + a.log(), file=sys.stderr)
        raise
    finally:
        if a is not None:
            a.cleanup()
        rec.cleanup()


# The kill9-stream scenario's node: records, in flight at once, resend after (seconds).
STREAM_RECORDS = 600
STREAM_WINDOW = 64
STREAM_RESEND_S = 1.0


def scenario_kill9_stream(exe, tmp, keys, key_paths):
    """A node made here streams STREAM_RECORDS records asking for ACK lists, at most
    STREAM_WINDOW unacknowledged at once, and forgets a record only on a verified ACK or
    ACK_LIST naming it; the receiver is killed with SIGKILL once a third are acknowledged,
    with records in flight, and restarted on the same port. Every record ends up stored and
    acknowledged: none is lost."""
    receiver_exe = exe[0]
    udp = free_udp_port()
    rec = Receiver(receiver_exe, tmp, {1: key_paths[1]}, udp)
    key = keys[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.05)
    dest = ("127.0.0.1", udp)
    envid = {rid: "mtrk.s%d@sender.example" % rid for rid in range(5001, 5001 + STREAM_RECORDS)}
    pending = set(envid)
    sent_at = {}
    killed_at = None
    list_frames = 0
    try:
        rec.start()
        deadline = time.time() + 120
        while pending:
            check(time.time() < deadline, "%d records never acknowledged" % len(pending))
            now = time.time()
            in_flight = sum(1 for rid in pending if now - sent_at.get(rid, 0) < STREAM_RESEND_S)
            for rid in sorted(pending):
                if in_flight >= STREAM_WINDOW:
                    break
                if now - sent_at.get(rid, 0) >= STREAM_RESEND_S:
                    e = envid[rid]
                    sock.sendto(frame(key, 1, rid, record_bytes(e, fields_for(e)), flags=1),
                                dest)
                    sent_at[rid] = now
                    in_flight += 1
            try:
                while True:
                    data, _ = sock.recvfrom(2000)
                    if len(data) < HEADER + MAC or not hmac.compare_digest(
                            hmac.new(key, data[:-MAC], hashlib.sha256).digest(), data[-MAC:]):
                        raise Failure("an ACK whose HMAC does not verify")
                    n = struct.unpack(">H", data[34:36])[0]
                    if data[4] == 3:
                        list_frames += 1
                        pending -= {struct.unpack(">Q", data[HEADER + 8 * i:HEADER + 8 * i + 8])[0]
                                    for i in range(n // 8)}
                    elif data[4] == 2:
                        pending.discard(struct.unpack(">Q", data[24:32])[0])
            except socket.timeout:
                pass
            if killed_at is None and len(pending) <= STREAM_RECORDS * 2 // 3:
                rec.kill9()
                killed_at = STREAM_RECORDS - len(pending)
                time.sleep(0.3)
                rec.start()
        check(killed_at is not None and killed_at < STREAM_RECORDS,
              "the receiver was not killed mid-stream")
        check(list_frames > 0, "no ACK_LIST frame")
        missing = [e for e in envid.values() if not os.path.exists(os.path.join(
            rec.state_dir, "tracking", hashlib.sha256(e.encode()).hexdigest() + ".trk"))]
        check(not missing, "%d acknowledged records not in the store, e.g. %s"
              % (len(missing), missing[:3]))
        print("# killed after %d of %d acknowledged; %d ACK_LIST frames"
              % (killed_at, STREAM_RECORDS, list_frames))
        rec.stop()
    finally:
        sock.close()
        rec.cleanup()


def all_threads_stopped(pid):
    """Every thread of @pid stopped (state T): kill() returns before a SIGSTOP has taken."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state not in ("T", "t"):
            return False
    return True


def scenario_hostile(exe, tmp, keys, key_paths):
    receiver_exe, relay_exe, mtqpd_exe = exe
    udp = free_udp_port()
    rec = Receiver(receiver_exe, tmp, {1: key_paths[1]}, udp)
    with open(rec.conf) as f:
        conf = f.read()
    with open(rec.conf, "w") as f:  # expiry every second
        f.write(conf.replace("[push_receiver]\n", "[push_receiver]\nexpire_interval=1\n"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    key = keys[1]
    try:
        rec.start()
        dest = ("127.0.0.1", udp)

        def ack_for(record_id):
            data, _ = sock.recvfrom(2000)
            check(len(data) == HEADER + MAC, "ACK length %d" % len(data))
            check(hmac.compare_digest(hmac.new(key, data[:-MAC], hashlib.sha256).digest(),
                                      data[-MAC:]), "the ACK's HMAC does not verify")
            check(data[4] == 2 and struct.unpack(">Q", data[24:32])[0] == record_id,
                  "not an ACK of record %d: %r" % (record_id, data[:36]))

        good = frame(key, 1, 1001, record_bytes("mtrk.py@sender.example",
                                                fields_for("mtrk.py@sender.example")))
        sock.sendto(good, dest)
        ack_for(1001)
        sock.sendto(good, dest)                                       # replayed
        wrong = frame(os.urandom(32), 1, 1002, record_bytes("mtrk.wrong@sender.example",
                                                            fields_for("mtrk.wrong@sender.example")))
        sock.sendto(wrong, dest)                                      # bad_hmac
        sock.sendto(frame(key, 9, 1003, b"x"), dest)                  # unknown_key
        forged = bytearray(frame(key, 1, 1004, record_bytes("mtrk.forgeX@sender.example",
                                                            fields_for("mtrk.forgeX@sender.example"))))
        i = bytes(forged).index(b"forgeX")
        forged[i + 5] = ord("d")                                      # -> mtrk.forged
        sock.sendto(bytes(forged), dest)                              # bad_hmac
        sock.sendto(b"\0" * 1300, dest)                               # oversized
        sock.sendto(good[:40], dest)                                  # truncated
        sock.sendto(frame(key, 1, 1005, b"abc")[:-1], dest)           # truncated (length)
        sock.sendto(frame(key, 1, 1006, record_bytes("mtrk.stale@sender.example",
                                                     fields_for("mtrk.stale@sender.example")),
                          ts=int(time.time() * 1000) - 3600 * 1000), dest)  # stale
        sock.sendto(b"XTP1" + good[4:], dest)                         # malformed
        # A record in two parts, its parts out of order.
        big = record_bytes("mtrk.big@sender.example", fields_for("mtrk.big@sender.example", 16))
        check(MAX_PAYLOAD < len(big) <= 2 * MAX_PAYLOAD, "big record: %d octets" % len(big))
        p1 = frame(key, 1, 1007, big[MAX_PAYLOAD:], part=1, parts=2)
        p0 = frame(key, 1, 1007, big[:MAX_PAYLOAD], part=0, parts=2)
        check(len(p0) == MAX_DATAGRAM, "part 0 has %d octets" % len(p0))
        sock.sendto(p1, dest)
        sock.sendto(p0, dest)
        ack_for(1007)
        # The stream form.
        with socket.create_connection(("127.0.0.1", rec.port), timeout=10) as conn:
            f = frame(key, 1, 1008, record_bytes("mtrk.tcp@sender.example",
                                                 fields_for("mtrk.tcp@sender.example")))
            conn.sendall(struct.pack(">H", len(f)) + f)
            head = conn.recv(2)
            n = struct.unpack(">H", head)[0]
            data = b""
            while len(data) < n:
                data += conn.recv(n - len(data))
            check(hmac.compare_digest(hmac.new(key, data[:-MAC], hashlib.sha256).digest(),
                                      data[-MAC:]) and data[4] == 2, "TCP ACK: %r" % data)

        # PUSH_MAX_PENDING (1,024) incomplete records are held; one more evicts the oldest:
        # completing the evicted one gives no ACK, completing the next one does.
        big2 = record_bytes("mtrk.big2@sender.example",
                            fields_for("mtrk.big2@sender.example", 16))
        for rid in range(2000, 2000 + PUSH_MAX_PENDING + 1):
            sock.sendto(frame(key, 1, rid, big2[:MAX_PAYLOAD], part=0, parts=2), dest)
            if rid % 16 == 0:
                time.sleep(0.002)  # paced: a burst may overflow a socket buffer
        sock.sendto(frame(key, 1, 2001, big2[MAX_PAYLOAD:], part=1, parts=2), dest)
        ack_for(2001)
        sock.sendto(frame(key, 1, 2000, big2[MAX_PAYLOAD:], part=1, parts=2), dest)
        sock.settimeout(1)
        try:
            data, _ = sock.recvfrom(2000)
            raise Failure("an answer to the evicted record 2000: %r" % data[:36])
        except socket.timeout:
            pass
        sock.settimeout(5)

        # A record already expired: stored, acknowledged, then removed by the expiry.
        old = record_bytes("mtrk.old@sender.example", fields_for("mtrk.old@sender.example"),
                           expires=int(time.time()) - 10)
        sock.sendto(frame(key, 1, 1009, old), dest)
        ack_for(1009)
        old_file = os.path.join(rec.state_dir, "tracking", hashlib.sha256(
            b"mtrk.old@sender.example").hexdigest() + ".trk")
        wait_for("the expired record to be removed by the receiver's expiry",
                 lambda: not os.path.exists(old_file), 10, 0.1)

        # Frames that ask for ACK lists (PUSH_FLAG_ACK_LIST): their records are acknowledged
        # in ACK_LIST frames (type 3: no record id of its own, the ids in the payload),
        # several records per frame; a flag the receiver does not know is malformed.
        # The receiver is stopped (SIGSTOP) while they are sent, so it takes them in one
        # batch: a full ACK_LIST frame (PUSH_MAX_ACK_IDS) and one with the last id.
        list_ids = set(range(3001, 3001 + ACK_LIST_RECORDS))
        rec.proc.send_signal(signal.SIGSTOP)
        wait_for("the receiver stopped", lambda: all_threads_stopped(rec.proc.pid), 10, 0.01)
        try:
            for rid in sorted(list_ids):
                envid = "mtrk.list%d@sender.example" % rid
                sock.sendto(frame(key, 1, rid, record_bytes(envid, fields_for(envid)),
                                  flags=1), dest)
        finally:
            rec.proc.send_signal(signal.SIGCONT)
        acked, list_sizes = [], []
        while len(acked) < len(list_ids):
            data, _ = sock.recvfrom(2000)
            check(hmac.compare_digest(hmac.new(key, data[:-MAC], hashlib.sha256).digest(),
                                      data[-MAC:]), "the ACK list's HMAC does not verify")
            n = struct.unpack(">H", data[34:36])[0]
            check(data[4] == 3 and data[5] == 0 and data[24:34] == b"\0" * 10
                  and n % 8 == 0 and len(data) == HEADER + n + MAC,
                  "not an ACK_LIST frame: %r" % data[:36])
            acked += [struct.unpack(">Q", data[HEADER + 8 * i:HEADER + 8 * i + 8])[0]
                      for i in range(n // 8)]
            list_sizes.append(n // 8)
        check(sorted(acked) == sorted(list_ids), "ACK lists named %r" % sorted(acked))
        check(sorted(list_sizes) == [1, PUSH_MAX_ACK_IDS],
              "ACK_LIST frames of %r ids for %d records taken in one batch"
              % (list_sizes, len(list_ids)))
        sock.sendto(frame(key, 1, 3100, record_bytes("mtrk.flag2@sender.example",
                                                     fields_for("mtrk.flag2@sender.example")),
                          flags=2), dest)                             # malformed

        expected = {"stored": 5 + ACK_LIST_RECORDS, "replayed": 1, "bad_hmac": 2,
                    "unknown_key": 1, "oversized": 1, "truncated": 2, "stale": 1,
                    "malformed": 2, "bad_record": 0, "acks": 5 + ACK_LIST_RECORDS}
        try:
            wait_for("the counters", lambda: all(rec.counters().get(k) == v
                                                 for k, v in expected.items()), 10, 0.2)
        except HarnessError:
            raise Failure("counters %r, expected %r" % (rec.counters(), expected))
        m = Mtqpd(mtqpd_exe, tmp, rec.state_dir)
        try:
            for envid in ("mtrk.py", "mtrk.big", "mtrk.tcp"):
                t = m.track(envid + "@sender.example")
                check(t.startswith("+OK+"), "%s not stored: %s" % (envid, t))
            for envid in ("mtrk.forged", "mtrk.forgeX", "mtrk.wrong", "mtrk.stale"):
                t = m.track(envid + "@sender.example")
                check(t.startswith("-ERR"), "%s was stored: %s" % (envid, t))
        finally:
            m.stop()
        check(rec.proc.poll() is None, "the receiver died:\n" + rec.log())
        rec.stop()
        logs_clean([rec.log()], keys.values())

        # A key file readable by others: the receiver refuses to start.
        os.chmod(key_paths[1], 0o644)
        status = rec.start(expect_fail=True)
        check(status != 0 and "chmod 600" in rec.log(),
              "started with an open key file (status %d):\n%s" % (status, rec.log()))
    finally:
        sock.close()
        rec.cleanup()


def scenario_node_config(exe, tmp, keys, key_paths):
    """A node whose key file others can read, or a bad [push] key, does not start."""
    receiver_exe, relay_exe, mtqpd_exe = exe
    udp = free_udp_port()
    os.chmod(key_paths[1], 0o640)
    a = make_relay(relay_exe, tmp, "a", {"example.org": "local:"}, udp, 1, key_paths[1])

    def refused(what):
        """The node does not start: it exits before its port file is written, or (the port
        file is written when the socket is bound, as root, before the key is read) exits
        with a failure just after."""
        try:
            a.start()
        except HarnessError:
            return
        try:
            status = a.proc.wait(20)
        except subprocess.TimeoutExpired:
            raise Failure("the node started with " + what)
        a.proc = None
        check(status != 0, "the node exited 0 with " + what)

    try:
        refused("a key file its group can read")
        check("chmod 600" in a.log(), "no reason given:\n" + a.log())
        os.chmod(key_paths[1], 0o600)
        with open(a.conf_path, "a") as f:
            f.write("mode=sometimes\n")
        refused("[push] mode=sometimes")
        check("[push] mode" in a.log(), "no reason given:\n" + a.log())
    finally:
        a.cleanup()


def scenario_pg(exe, tmp, keys, key_paths):
    """The receiver writes into PostgreSQL; mtqpd answers from it. With PostgreSQL
    stopped, records are not acknowledged (store_failed) and stay in the node's spool;
    once it is back they arrive: none is lost."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pg"))
    import pgharness
    if not pgharness.available():
        print("SKIP: PostgreSQL 15 is not installed")
        raise SystemExit(77)
    receiver_exe, relay_exe, mtqpd_exe = exe
    pg = pgharness.PgServer()
    store = ["[store]", "backend=postgresql", "conninfo=%s" % pg.conninfo]
    udp = free_udp_port()
    rec = Receiver(receiver_exe, tmp, {1: key_paths[1]}, udp, store)
    a = None
    m = None
    try:
        pg.start()
        rec.start()
        a = make_relay(relay_exe, tmp, "a", {"example.org": "local:"}, udp, 1, key_paths[1])
        a.start()
        m = Mtqpd(mtqpd_exe, tmp, tmp, store)
        envid = "mtrk.pg1@sender.example"
        code, text = send_message(a.port, "alice@sender.example", ["bob@example.org"],
                                  make_body(envid), mtrk(envid), "NOTIFY=NEVER")
        check(code == 250, "DATA: %s" % text)
        wait_for("the record in PostgreSQL", lambda: "Action: delivered" in m.track(envid),
                 30, 0.2)
        pg.stop()
        envid2 = "mtrk.pg2@sender.example"
        code, text = send_message(a.port, "alice@sender.example", ["carol@example.org"],
                                  make_body(envid2), mtrk(envid2), "NOTIFY=NEVER")
        check(code == 250, "DATA: %s" % text)
        wait_for("the receiver to fail to store (no ACK)",
                 lambda: rec.counters().get("store_failed", 0) >= 1, 30, 0.2)
        check(spool(a), "the node dropped a record that was not stored")
        check(m.track(envid).startswith("-TEMP"), "mtqpd with PostgreSQL down: not -TEMP")
        pg.start()
        wait_for("the record resent once PostgreSQL is back",
                 lambda: "Action: delivered" in m.track(envid2), 90, 0.5)
        wait_for("node a's spool empty", lambda: not spool(a), 90, 0.3)
        m.stop()
        m = None
        a.stop()
        rec.stop()
    finally:
        if m is not None:
            m.proc.kill()
        if a is not None:
            a.cleanup()
        rec.cleanup()
        pg.cleanup()


def send_record(sock, dest, key, key_id, rid, rb, **kw):
    """Send record bytes @rb in as many parts as needed; the answer's type, or None."""
    parts = [rb[i:i + MAX_PAYLOAD] for i in range(0, len(rb), MAX_PAYLOAD)]
    for i, p in enumerate(parts):
        sock.sendto(frame(key, key_id, rid, p, part=i, parts=len(parts), **kw), dest)
    try:
        data, _ = sock.recvfrom(2000)
        return data[4]
    except socket.timeout:
        return None


def raw_record(envid, auth, expires, version, fields):
    e = envid.encode()
    return (bytes([len(e)]) + e + auth.encode()
            + struct.pack(">QQ", expires % 2**64, version % 2**64) + fields.encode())


def scenario_record_limits(exe, tmp, keys, key_paths):
    """Numbers and fields past a limit in records with a valid HMAC (session 20 review: a
    sequence of 2**64-1 locked the key out, expiries past the longest MTRK timeout were
    stored, negative ones resent for ever, a record no answer can carry was stored)."""
    receiver_exe, relay_exe, mtqpd_exe = exe
    udp = free_udp_port()
    rec = Receiver(receiver_exe, tmp, {1: key_paths[1], 2: key_paths[2]}, udp)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    dest = ("127.0.0.1", udp)
    failures = []
    m = None
    MTRK_TIMEOUT_MAX = 999999999  # lib/msgtrk-envelope.h MSGTRK_MTRK_TIMEOUT_MAX
    try:
        rec.start()
        m = Mtqpd(mtqpd_exe, tmp, rec.state_dir)
        now = int(time.time() * 1e6)
        exp = int(time.time()) + 3600

        # 1. One frame with sequence 2**64-1 (a node's bug, a clock a year ahead once):
        # the key's window moves to the top and every later frame is "replayed".
        env = "mtrk.seq1@sender.example"
        send_record(sock, dest, keys[2], 2, 10, raw_record(env, AUTH, exp, now, fields_for(env)),
                    seq=2**64 - 1)
        env = "mtrk.seq2@sender.example"
        if send_record(sock, dest, keys[2], 2, 11,
                       raw_record(env, AUTH, exp, now, fields_for(env))) != 2:
            failures.append("after one frame of sequence 2**64-1, key 2's next frame is "
                            "dropped (replayed): the key is locked out until a restart")

        # 2. Expiry past now + MSGTRK_MTRK_TIMEOUT_MAX (no MTRK timeout gives it): an ENVID
        # claimed for ever (first-owner rule).
        # Refused for good, it is acknowledged: unacknowledged, the node resent it until
        # its expiry (here 31 years), holding a place in its spool.
        env = "mtrk.forever@sender.example"
        ans = send_record(sock, dest, keys[1], 1, 20,
                          raw_record(env, AUTH, int(time.time()) + MTRK_TIMEOUT_MAX + 86400,
                                     now, fields_for(env)))
        if mtqp_track(m.port, env, SECRET_RAW)[0].startswith("+OK+"):
            failures.append("a record expiring after now + MSGTRK_MTRK_TIMEOUT_MAX was stored")
        if ans != 2:
            failures.append("a record refused for good (bad_record) is not acknowledged: "
                            "answer %r" % ans)
        if "record for mtrk.forever@sender.example refused for good (acknowledged): its " \
                "expiry" not in rec.log():
            failures.append("the receiver's log does not say which record it refused and "
                            "why:\n" + rec.log()[-2000:])

        # 3. A negative expiry, 20 times: a permanent fault answered as a temporary one
        # (store_failed: no ACK, the node resends for ever) and one warning per datagram.
        # The stats file is written within a second: the record of 2 counted first.
        try:
            wait_for("the record of 2 counted",
                     lambda: rec.counters().get("bad_record", 0) >= 1, 10)
        except HarnessError:
            pass
        before = rec.counters()
        for i in range(20):
            env = "mtrk.neg%d@sender.example" % i
            send_record(sock, dest, keys[1], 1, 30 + i,
                        raw_record(env, AUTH, -5, now, fields_for(env)))
        # The stats file is written after the datagrams: wait for the 20 to be counted.
        try:
            wait_for("20 records counted", lambda: sum(
                rec.counters().get(k, 0) - before.get(k, 0)
                for k in ("bad_record", "store_failed", "stored")) >= 20, 10)
        except HarnessError:
            pass
        c = rec.counters()
        if c.get("store_failed", 0) != before.get("store_failed", 0) or \
                c.get("bad_record", 0) - before.get("bad_record", 0) != 20:
            failures.append("negative expiries: counters %r (expected 20 more bad_record, "
                            "no store_failed)" % c)
        lines = rec.log().count("refused for good")
        if lines > 3:
            failures.append("%d log lines for 20 bad records (at most one a second)" % lines)

        # 4. A field of 2,000 octets without a space (under MSGTRK_REPORT_MAX_FIELD_LENGTH):
        # stored and acknowledged, but mtqpd can never serve it (a line over 998 octets):
        # TRACK says -TEMP for ever. Stored means servable, or else bad_record.
        env = "mtrk.long@sender.example"
        ans = send_record(sock, dest, keys[1], 1, 60,
                          raw_record(env, AUTH, exp, now,
                                     fields_for(env).replace("user0", "u" * 2000)))
        first = mtqp_track(m.port, env, SECRET_RAW)[0]
        if ans != 2:
            failures.append("the record of 4 is not acknowledged: answer %r" % ans)
        if not first.startswith("+OK+") and \
                "record for mtrk.long@sender.example refused for good" not in rec.log():
            failures.append("a record stored is not servable: TRACK %s" % first.strip())
        check(not failures, "\n  " + "\n  ".join(failures))
    finally:
        if m is not None:
            m.stop()
        sock.close()
        rec.cleanup()


def scenario_pg_cross_node(exe, tmp, keys, key_paths):
    """On PostgreSQL each node has its own row, and TRACK builds one answer from
    every node's row: node 2, holding B (it relayed the message, or read a push datagram:
    B travels in clear), pushes a row of node 1's ENVID with a field mtqpd cannot fold
    (2,000 octets, no space) and an expiry of 2**63-1; node 1's record is then answered
    -TEMP for ever (session 20 review): the row is refused at the receiver, and mtqpd
    leaves out a row it cannot carry rather than fail the answer."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pg"))
    import pgharness
    if not pgharness.available():
        print("SKIP: PostgreSQL 15 is not installed")
        raise SystemExit(77)
    receiver_exe, relay_exe, mtqpd_exe = exe
    pg = pgharness.PgServer()
    store = ["[store]", "backend=postgresql", "conninfo=%s" % pg.conninfo]
    udp = free_udp_port()
    rec = Receiver(receiver_exe, tmp, {1: key_paths[1], 2: key_paths[2]}, udp, store)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    dest = ("127.0.0.1", udp)
    m = None
    try:
        pg.start()
        rec.start()
        m = Mtqpd(mtqpd_exe, tmp, tmp, store)
        env = "mtrk.pgcross@sender.example"
        now = int(time.time() * 1e6)
        check(send_record(sock, dest, keys[1], 1, 1,
                          raw_record(env, AUTH, int(time.time()) + 3600, now,
                                     fields_for(env))) == 2, "node 1 not acknowledged")
        check(mtqp_track(m.port, env, SECRET_RAW)[0].startswith("+OK+"), "node 1 not served")
        send_record(sock, dest, keys[2], 2, 2,
                    raw_record(env, AUTH, 2**63 - 1, now,
                               fields_for(env).replace("user0", "u" * 2000)))
        first = mtqp_track(m.port, env, SECRET_RAW)[0]
        check(first.startswith("+OK+"),
              "node 2's row makes node 1's record unservable: TRACK %s" % first.strip())
    finally:
        if m is not None:
            m.stop()
        sock.close()
        rec.cleanup()
        pg.cleanup()


def main():
    name = sys.argv[1]
    exe = sys.argv[2:5]
    tmp = tempfile.mkdtemp(prefix="push-e2e-")
    os.chmod(tmp, 0o755)
    keys = {1: os.urandom(32), 2: os.urandom(32)}
    kdir = os.path.join(tmp, "keys")
    os.makedirs(kdir)
    os.chmod(kdir, 0o755)
    key_paths = {}
    for kid, raw in keys.items():
        key_paths[kid] = os.path.join(kdir, "node%d.key" % kid)
        write_key(key_paths[kid], raw)
    try:
        {"two-nodes": scenario_two_nodes, "kill9": scenario_kill9,
         "kill9-stream": scenario_kill9_stream,
         "hostile": scenario_hostile, "node-config": scenario_node_config,
         "pg": scenario_pg,
         "record-limits": scenario_record_limits,
         "pg-cross-node": scenario_pg_cross_node}[name](exe, tmp, keys, key_paths)
        print("ok: %s" % name)
        return 0
    except (Failure, HarnessError) as e:
        print("FAIL: %s: %s" % (name, e), file=sys.stderr)
        for root, _, files in os.walk(tmp):
            for f in files:
                if f.endswith(".log"):
                    print("--- %s:\n%s" % (os.path.join(root, f),
                                          open(os.path.join(root, f), errors="replace")
                                          .read()[-3000:]), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
