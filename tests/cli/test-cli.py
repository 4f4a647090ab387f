#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-cli.py: the msgtrk command-line client against the fake msgtrkd on a private bus.

Covers every subcommand, --json output (parsed back), exit codes (0 / 1 / 2), an unknown id,
hop lines of each source (MTQP, DSN, Received: trace hops, which are never broken links),
no msgtrkd on the bus, no bus at all, import-url from stdin and its length limit, ingest
from a file and stdin (with NUL bytes, at and past the size limit), watch receiving a
signal, and that terminal escapes in daemon text never reach stdout. Output: TAP.
"""

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testbus import FakeDaemon, PrivateBus, Tap, wait_for  # noqa: E402

ENVID = "mtrk.Q1x7vB2k@example.org"
MSGID = "20261123090000.4711@example.org"
MAX_URL_LEN = 4096                  # MSGTRK_CLI_MAX_URL_LEN
MAX_REPORT_SIZE = 64 * 1024 * 1024  # MSGTRK_REPORT_MAX_MESSAGE_SIZE (<msgtrk.h>)
MAX_TRACK_TIMEOUT = 86400           # MSGTRK_CLI_MAX_TRACK_TIMEOUT


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--xml", required=True)
    opts = ap.parse_args()
    t = Tap()
    tmp = tempfile.mkdtemp(prefix="msgtrk-cli-test-")
    bus = PrivateBus()
    fake = FakeDaemon(bus, opts.xml, os.path.join(tmp, "calls.jsonl"))
    env = bus.env({"TZ": "UTC", "LC_ALL": "C.UTF-8", "LANGUAGE": "", "NO_COLOR": ""})

    def run(*args, stdin=None, input_bytes=None, env_=None):
        return subprocess.run([opts.cli] + list(args), env=env_ or env, input=input_bytes,
                              stdin=stdin, capture_output=True, timeout=60)

    def out(r):
        return r.stdout.decode("utf-8", "replace")

    def err(r):
        return r.stderr.decode("utf-8", "replace")

    def diag(r):
        return "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, out(r), err(r))

    try:
        # --- usage -------------------------------------------------------------------
        r = run()
        t.ok(r.returncode == 1 and "Usage" in err(r), "no command: usage, exit 1", diag(r))
        r = run("--help")
        t.ok(r.returncode == 0 and "show" in out(r) and "import-url" in out(r), "--help", diag(r))
        r = run("frobnicate")
        t.ok(r.returncode == 1 and "unknown command" in err(r), "unknown command", diag(r))
        r = run("show")
        t.ok(r.returncode == 1 and "expected" in err(r), "show without id", diag(r))
        r = run("list", "extra")
        t.ok(r.returncode == 1, "list with an argument", diag(r))
        r = run("show", "--bogus", ENVID)
        t.ok(r.returncode == 1, "unknown option", diag(r))

        # --- list ----------------------------------------------------------------------
        r = run("list")
        lines = out(r).splitlines()
        t.ok(r.returncode == 0 and len(lines) == 3 and lines[0].startswith("STATE")
             and "SUMMARY" in lines[0] and "ENVID" in lines[0], "list: header and rows", diag(r))
        t.ok("Quarterly numbers" in out(r) and ENVID in out(r) and "2026-11-23 09:00" in out(r)
             and "Failed" in lines[1] and "Not tracked" in lines[2], "list: row contents", diag(r))
        r = run("list", "--json")
        try:
            data = json.loads(out(r))
            good = isinstance(data, list) and len(data) == 2 and data[0]["envid"] == ENVID
        except ValueError:
            good = False
        t.ok(r.returncode == 0 and good, "list --json parses", diag(r))

        # --- show ----------------------------------------------------------------------
        r = run("show", ENVID)
        text = out(r)
        t.ok(r.returncode == 0, "show: exit 0", diag(r))
        for needle in ["Subject:     Quarterly numbers", "Sent:        2026-11-23 09:00:00 UTC",
                       "Status:      Delivered 1/3, 1 delayed, 1 failed\n",
                       "alice@example.net — DELIVERED", "bob@example.com — DELAYED",
                       "carol@example.info — FAILED",
                       "   1. smtp.example.org  2026-11-23 09:00:00 UTC  "
                       "Handed to relay.example.net  [tracking server]\n",
                       "   3. mx.example.net  2026-11-23 09:00:10 UTC  "
                       "Delivered to the recipient’s mailbox  [tracking server]\n",
                       "server said: smtp; 250 2.0.0 queued",
                       "retrying until: 2026-11-26 09:00:00 UTC", "comment: delivered to mailbox",
                       "status: 4.4.1 (temporary failure, still trying): "
                       "The next mail server does not answer\n",

                       "Tracking:    Asking tracking servers, starting at smtp.example.org\n",
                       "last attempt: 2026-11-23 09:00:02 UTC",
                       "   2. ✗ broken: gw.example.info: gw.example.info:1038: connection refused",
                       "   2. mx.example.com  2026-11-23 09:00:04 UTC  "
                       "Delayed: the server keeps trying  [delivery report]\n",
                       "   3. received by mx.example.com  2026-11-23 09:00:04 UTC  "
                       "from smtp.example.org [192.0.2.25]  (+4 s)  [mail headers]\n"]:
            t.ok(needle in text, "show: has %r" % needle, text)
        # A trace hop has no action or status by nature: it is not a broken link.
        t.ok(text.count("broken") == 1 and "no report from this hop" not in text,
             "show: only the real broken link is broken (not the trace hop)", text)
        bob = text[text.find("bob@"):text.find("carol@")]
        t.ok("received by mx.example.com" in bob and "broken" not in bob
             and "(no action)" not in bob, "show: the trace hop is under its recipient", bob)
        t.ok("\x1b" not in text, "show: no colour when stdout is not a tty")
        # the user's words, not the protocol's (issue 8 item 17)
        for jargon in ("mtqp", "[dsn]", "transferred", "(failed)", "(delivered)", "remote MTA",
                       "status: 2.0.0"):
            t.ok(jargon not in text.replace(ENVID, ""), "show: no jargon %r" % jargon, text)
        order = [text.find(a) for a in ("alice@", "bob@", "carol@")]
        t.ok(order == sorted(order) and order[0] > 0, "show: recipients in order")

        r = run("show", "<%s>" % MSGID)
        t.ok(r.returncode == 0 and "Quarterly numbers" in out(r), "show by <Message-ID>", diag(r))
        r = run("show", MSGID)
        t.ok(r.returncode == 0 and "Quarterly numbers" in out(r), "show by bare Message-ID", diag(r))

        r = run("show", "--json", ENVID)
        try:
            route = json.loads(out(r))
            good = (route["envid"] == ENVID and len(route["recipients"]) == 3
                    and route["recipients"][2]["hops"][1]["error"].startswith("gw.example.info")
                    and route["recipients"][0]["hops"][0]["will_retry_until"] is None)
        except (ValueError, KeyError, IndexError):
            good = False
        t.ok(r.returncode == 0 and good, "show --json: GetRoute's JSON", diag(r))
        t.ok(out(r).startswith("{\n  \""), "show --json is pretty-printed", diag(r))

        r = run("show", "nope@nowhere.example")
        t.ok(r.returncode == 2 and
             err(r) == "msgtrk: no tracked message with id nope@nowhere.example\n",
             "show unknown id: exit 2 and message", diag(r))
        r = run("show", "bad\x1b[2Jid")
        t.ok(r.returncode == 2 and "\x1b" not in err(r) and "\\x1B" in err(r),
             "unknown id with an escape is quoted", diag(r))

        r = run("show", "--gui", ENVID)
        t.ok(r.returncode == 0 and out(r) == "", "show --gui: exit 0, quiet", diag(r))
        t.ok({"method": "ShowMessage", "args": [ENVID]} in fake.calls(), "show --gui calls ShowMessage")
        r = run("show", "--gui", "nope@x")
        t.ok(r.returncode == 2, "show --gui unknown id: exit 2", diag(r))

        r = run("show", "hostile@example.org")
        t.ok(r.returncode == 0 and "\x1b" not in out(r) and "\u202e" not in out(r)
             and "\x07" not in out(r) and "?[31mRED" in out(r),
             "show: escapes from remote text are replaced", repr(out(r)))
        r = run("list")
        t.ok("\x1b" not in out(r), "list: no escapes", repr(out(r)))

        # trace hops with members missing, of the wrong type, hostile, or with an error
        r = run("show", "trace@example.org")
        text = out(r)
        hops = [line for line in text.splitlines() if line.startswith("   ")]
        t.ok(r.returncode == 0 and hops == [
            "   1. received by an unknown server  [mail headers]",
            "   2. received by a.example  2026-11-23 09:00:00 UTC  from client.example  [mail headers]",
            "   3. received by b.example  2026-11-23 08:59:57 UTC  from [192.0.2.7]  (-3 s)  [mail headers]",
            "   4. received by c.example  not a date  from [192.0.2.8]  (+0 s)  [mail headers]",
            "   5. received by d?[2J.example  2026-11-23 09:00:01 UTC  "
            "from e?]0;x?vil [192.0.2.9?]  (+4 s)  [mail headers]",
            "   6. received by f.example  2026-11-23 09:00:02 UTC  [mail headers]",
            "   7. ✗ broken: g.example: Received: field cut short",
            "   8. ✗ broken: mx.example.net: no report from this hop",
        ], "show: trace hops with missing, odd and hostile members", text)
        t.ok("\x1b" not in text and "\u202e" not in text and "\x07" not in text,
             "show: no escapes from trace hops", repr(text))

        # a link someone shared: no subject, no sent time, delivered (issue 8 item 18)
        r = run("show", "linked@example.com")
        text = out(r)
        t.ok(r.returncode == 0 and "Subject:     (unknown: tracked from a link)\n" in text
             and "Sent:        sent time unknown\n" in text and "not sent yet" not in text
             and "(no subject)" not in text
             and "Tracking:    Tracked from a link, asking mtqp.example.com\n" in text,
             "show: a link says where it came from and that its sent time is unknown", text)

        # why tracking failed (issue 8 item 7): warnings, then the newest problems
        r = run("show", "problems@example.org")
        text = out(r)
        problems = text[text.find("Problems while tracking:"):text.find("gina@")]
        t.ok(r.returncode == 0 and problems.startswith("Problems while tracking:\n")
             and "  ⚠ Warning: smtp.example.org: offered STARTTLS before, not now\n" in problems
             and "  (3 earlier problems not shown)\n" in problems
             and "attempt 3 refused" not in problems and "attempt 4 refused" in problems
             and "  ⚠ 2026-11-23 09:07:00 UTC  Warning: TLS ?[31mdowngrade\n" in problems
             and problems.rstrip("\n").endswith(
                 "  ✗ 2026-11-23 09:08:00 UTC  Tracking failed: Cannot connect to "
                 "smtp.example.org port 1038: Connection refused")
             and "Sent to smtp.example.org" not in problems,
             "show: problems while tracking, newest last, cut, cleaned", text)
        r = run("show", ENVID)
        t.ok("Problems" not in out(r), "show: no problems section without problems", out(r))

        # one route per recipient (docs/route-merge.md): a merged hop names its sources, and
        # when they disagree, what each said, in time order
        r = run("show", "merged@example.org")
        text = out(r)
        lines = text[text.find("hank@"):].splitlines()[1:]
        t.ok(r.returncode == 0 and lines == [
            "   1. smtp.example.org  2026-11-23 09:00:00 UTC  Handed to mx.example.net  "
            "[mail headers + tracking server]",
            "       last attempt: 2026-11-23 09:00:02 UTC",
            "       server said: smtp; 250 2.0.0 queued as 4NQ2Zr",
            "   2. mx.example.net  2026-11-23 09:00:10 UTC  Delivered to the recipient’s mailbox  "
            "[tracking server + delivery report]",
            "       last attempt: 2026-11-23 10:00:00 UTC",
            "       reported: tracking server, 2026-11-23 09:05:00 UTC: Delayed: the server "
            "keeps trying",
            "       reported: delivery report, 2026-11-23 10:00:00 UTC: Delivered to the "
            "recipient’s mailbox",
        ], "show: merged hops with their sources and their conflict", text)

        # colour is off with NO_COLOR even on a tty: use script(1) when there is one
        if os.path.exists("/usr/bin/script"):
            cmd = "%s show %s" % (opts.cli, ENVID)
            r1 = subprocess.run(["script", "-qec", cmd, "/dev/null"], env=env, capture_output=True,
                                timeout=60)
            r2 = subprocess.run(["script", "-qec", cmd, "/dev/null"],
                                env=dict(env, NO_COLOR="1"), capture_output=True, timeout=60)
            t.ok(b"\x1b[32m" in r1.stdout and b"\x1b[31m" in r1.stdout,
                 "show: colour on a tty", r1.stdout[:400])
            t.ok(b"\x1b[" not in r2.stdout, "show: no colour with NO_COLOR", r2.stdout[:400])

        # --- track -------------------------------------------------------------------
        r = run("track", ENVID)
        t.ok(r.returncode == 0 and out(r) == "Delivered 3/3\n",
             "track: waits for StatusChanged", diag(r))
        t.ok({"method": "Track", "args": [ENVID]} in fake.calls(), "track calls Track")
        r = run("track", "--json", "--timeout", str(MAX_TRACK_TIMEOUT), "<%s>" % MSGID)
        try:
            st = json.loads(out(r))
            good = st == {"envid": ENVID, "state": "delivered", "summary": "Delivered 3/3",
                          "changed": True}
        except ValueError:
            good = False
        t.ok(r.returncode == 0 and good, "track --json by Message-ID, timeout at the limit", diag(r))
        r = run("track", "--timeout", str(MAX_TRACK_TIMEOUT + 1), ENVID)
        t.ok(r.returncode == 1 and "--timeout" in err(r), "track: timeout one past the limit", diag(r))
        r = run("track", "--timeout", "0", ENVID)
        t.ok(r.returncode == 1, "track: timeout 0 refused", diag(r))
        r = run("track", "--timeout", "1", "older@example.org")
        t.ok(r.returncode == 0 and "no status change within 1 seconds" in err(r)
             and out(r).startswith("Sent — no tracking offered"), "track: timeout prints status",
             diag(r))
        r = run("track", "nope@x")
        t.ok(r.returncode == 2 and "no tracked message with id nope@x" in err(r),
             "track unknown id: exit 2", diag(r))

        # --- export-url --------------------------------------------------------------
        r = run("export-url", ENVID)
        t.ok(r.returncode == 0 and out(r).startswith("mtqp://") and out(r).count("\n") == 1,
             "export-url: URL alone on stdout", diag(r))
        t.ok("mtqp://" not in err(r) and "track this message" in err(r),
             "export-url: warning on stderr only", diag(r))
        r = run("export-url", "nope@x")
        t.ok(r.returncode == 2, "export-url unknown id: exit 2", diag(r))

        # --- import-url ---------------------------------------------------------------
        url = "mtqp://mx.example.com/mtrk.delegated9@example.com?secret=c2VjcmV0c2VjcmV0"
        r = run("import-url", url)
        t.ok(r.returncode == 0 and out(r) == "mtrk.delegated9@example.com\n", "import-url URL",
             diag(r))
        r = run("import-url", "-", input_bytes=(url + "\r\n").encode())
        t.ok(r.returncode == 0 and out(r) == "mtrk.delegated9@example.com\n",
             "import-url - reads stdin (CRLF stripped)", diag(r))
        calls = [c for c in fake.calls() if c["method"] == "ImportUrl"]
        t.ok(calls and calls[-1]["args"] == ["<url of %d bytes>" % len(url)],
             "import-url from stdin: the daemon got exactly the URL")
        r = run("import-url", "--json", "-", input_bytes=url.encode())
        t.ok(r.returncode == 0 and json.loads(out(r)) == {"envid": "mtrk.delegated9@example.com"},
             "import-url --json", diag(r))
        at_limit = "mtqp://x/" + "a" * (MAX_URL_LEN - len("mtqp://x/"))
        r = run("import-url", "-", input_bytes=(at_limit + "\n").encode())
        t.ok(r.returncode == 0, "import-url: URL at the length limit", diag(r))
        n_before = len([c for c in fake.calls() if c["method"] == "ImportUrl"])
        r = run("import-url", "-", input_bytes=(at_limit + "a").encode())
        n_after = len([c for c in fake.calls() if c["method"] == "ImportUrl"])
        t.ok(r.returncode == 1 and "longer than 4096" in err(r) and n_before == n_after,
             "import-url: one past the limit refused before the bus", diag(r))
        r = run("import-url", "-", input_bytes=b"x" * 100000)
        t.ok(r.returncode == 1 and n_after == len([c for c in fake.calls()
                                                   if c["method"] == "ImportUrl"]),
             "import-url: huge stdin refused", diag(r))
        r = run("import-url", "-", input_bytes=b"\n")
        t.ok(r.returncode == 1 and "no tracking link" in err(r), "import-url: empty stdin", diag(r))
        r = run("import-url", "-", input_bytes=b"mtqp://a\x00b")
        t.ok(r.returncode == 1 and "NUL" in err(r), "import-url: NUL byte refused", diag(r))
        r = run("import-url", "https://example.com/")
        t.ok(r.returncode == 1 and err(r) == "msgtrk: This is not an mtqp:// tracking link\n",
             "import-url: daemon error without the remote prefix", diag(r))

        # --- ingest ----------------------------------------------------------------------
        dsn = os.path.join(tmp, "dsn.eml")
        with open(dsn, "wb") as f:
            f.write(b"From: MAILER-DAEMON@mx.example.com\r\nSubject: Delivery delayed\r\n"
                    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n"
                    b"\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
                    b"Original-Envelope-Id: " + ENVID.encode() + b"\r\n\r\n--b--\r\n")
        r = run("ingest", dsn)
        t.ok(r.returncode == 0 and out(r) == ENVID + "\n", "ingest FILE: matched envid", diag(r))
        with open(dsn, "rb") as f:
            r = run("ingest", "-", stdin=f)
        t.ok(r.returncode == 0 and out(r) == ENVID + "\n", "ingest -: from stdin", diag(r))
        r = run("ingest", "-", input_bytes=b"Subject: hello\r\n\r\nnothing here\x00after NUL\r\n")
        t.ok(r.returncode == 0 and out(r) == "not a report for a tracked message\n",
             "ingest: not a report", diag(r))
        last = [c for c in fake.calls() if c["method"] == "IngestReport"][-1]
        t.ok("after NUL" in last["args"][0], "ingest: bytes after a NUL reach the daemon")
        r = run("ingest", "--json", "-", input_bytes=b"x")
        t.ok(r.returncode == 0 and json.loads(out(r)) == {"envid": None}, "ingest --json", diag(r))
        r = run("ingest", os.path.join(tmp, "missing.eml"))
        t.ok(r.returncode == 1 and "cannot open" in err(r), "ingest: missing file", diag(r))
        big = os.path.join(tmp, "big.eml")
        head = b"Subject: big\n\n"
        with open(big, "wb") as f:
            f.write(head + b"X" * (MAX_REPORT_SIZE - len(head)))
        r = run("ingest", big)
        # Read whole (not refused for its size); over 1 MiB only its report parts would be
        # sent, and this one has none.
        t.ok(r.returncode == 1 and "not a tracking report" in err(r),
             "ingest: message at the size limit is read", diag(r))
        with open(big, "ab") as f:
            f.write(b"X")
        r = run("ingest", big)
        t.ok(r.returncode == 1 and "larger than" in err(r), "ingest: one byte past the limit",
             diag(r))
        os.unlink(big)

        # --- watch -------------------------------------------------------------------
        for as_json in (True, False):
            args = [opts.cli, "watch"] + (["--json"] if as_json else [])
            p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            ready = p.stderr.readline().decode()
            t.ok("watching" in ready, "watch: ready line on stderr", ready)
            fake.emit(ENVID, "delayed", "Delivered 1/3, 2 delayed")
            rl, _, _ = select.select([p.stdout], [], [], 10)
            line = p.stdout.readline().decode() if rl else ""
            p.send_signal(signal.SIGINT)
            code = p.wait(timeout=10)
            if as_json:
                try:
                    ev = json.loads(line)
                    good = (ev["envid"] == ENVID and ev["state"] == "delayed"
                            and ev["summary"] == "Delivered 1/3, 2 delayed" and "at" in ev)
                except (ValueError, KeyError):
                    good = False
                t.ok(good, "watch --json: one JSON line per signal", line)
            else:
                t.ok(line.rstrip("\n").endswith("%s  Delayed  Delivered 1/3, 2 delayed" % ENVID),
                     "watch: one text line per signal", line)
            t.ok(code == 0, "watch: exits 0 on SIGINT", code)

        # --- forget ------------------------------------------------------------------
        r = run("forget", "store-broken")
        t.ok(r.returncode == 1 and err(r) == "msgtrk: The tracking database failed: disk full\n",
             "forget: daemon error, exit 1", diag(r))
        r = run("forget", ENVID)
        t.ok(r.returncode == 0 and ENVID in out(r), "forget", diag(r))
        r = run("show", ENVID)
        t.ok(r.returncode == 2, "show after forget: exit 2", diag(r))
        r = run("forget", ENVID)
        t.ok(r.returncode == 2, "forget twice: exit 2", diag(r))

        # --- no daemon, no bus ---------------------------------------------------------
        empty = PrivateBus()
        try:
            r = run("list", env_=empty.env({"LC_ALL": "C.UTF-8"}))
            t.ok(r.returncode == 1 and err(r).startswith("msgtrk: msgtrkd is not running"),
                 "no msgtrkd on the bus: clear error", diag(r))
            r = run("show", ENVID, env_=empty.env({"LC_ALL": "C.UTF-8"}))
            t.ok(r.returncode == 1 and "msgtrkd is not running" in err(r),
                 "no msgtrkd: show exits 1 (not 2)", diag(r))
        finally:
            empty.close()
        noenv = dict(env, DBUS_SESSION_BUS_ADDRESS="unix:path=" + os.path.join(tmp, "no-bus"))
        r = run("list", env_=noenv)
        t.ok(r.returncode == 1 and "cannot connect to the session bus" in err(r),
             "no session bus: clear error", diag(r))
    finally:
        fake.close()
        bus.close()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
