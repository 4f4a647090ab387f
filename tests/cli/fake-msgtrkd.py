#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""fake-msgtrkd.py: a stand-in for msgtrkd in the CLI and viewer tests.

Owns org.msgtrk.Tracker1 on the session bus (run it inside dbus-run-session), implements
the interface from data/dbus/org.msgtrk.Tracker1.xml with canned JSON for one message
whose recipients are delivered (MTQP hops), delayed (an MTQP hop, a DSN hop and a trace hop
from the DSN's Received: chain) and failed (the chain ends in a broken link), plus a message
made of odd trace hops (missing members, clock skew, an error, hostile text), and records
every call as a JSON line in --record FILE.

Test-only controls, on a second interface org.msgtrk.Test.Control at the same path:
  Emit(envid, state, summary)   emits StatusChanged as the daemon would
  Calls() -> s                  the recorded calls as a JSON array

Limits: it is not msgtrkd; nothing is stored, polled or matched for real. It must never be
installed or run outside tests.
"""

import argparse
import json
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = "org.msgtrk.Tracker1"
PATH = "/org/msgtrk/Tracker1"
ERR = "org.msgtrk.Tracker1.Error."

ENVID = "mtrk.Q1x7vB2k@example.org"
MSGID = "20261123090000.4711@example.org"
IMPORTED_ENVID = "mtrk.delegated9@example.com"

CONTROL_XML = """
<node>
  <interface name="org.msgtrk.Test.Control">
    <method name="Emit">
      <arg direction="in" name="envid" type="s"/>
      <arg direction="in" name="state" type="s"/>
      <arg direction="in" name="summary" type="s"/>
    </method>
    <method name="Calls">
      <arg direction="out" name="calls" type="s"/>
    </method>
  </interface>
</node>
"""


def hop(source, server, action, status, arrival, last_attempt, remote=None,
        diagnostic=None, comment=None, retry=None, error=None, reporting=None):
    return {
        "source": source,
        "server": server,
        "reporting_mta": reporting if reporting is not None else server,
        "action": action,
        "status": status,
        "comment": comment,
        "remote_mta": remote,
        "arrival": arrival,
        "last_attempt": last_attempt,
        "will_retry_until": retry,
        "diagnostic": diagnostic,
        "from_address": None,
        "delay_seconds": None,
        "error": error,
    }


def trace_hop(by, arrival, from_host=None, from_address=None, delay=None, error=None):
    """A hop of a DSN's Received: chain as msgtrkd writes it (no action, no status)."""
    h = hop("trace", by, None, None, arrival, None, error=error)
    h["reporting_mta"] = None
    h["from_address"] = from_address
    h["from_host"] = from_host
    h["delay_seconds"] = delay
    return h


def submit_hop(remote):
    return hop("mtqp", "smtp.example.org", "transferred", "2.0.0",
               "2026-11-23T09:00:00Z", "2026-11-23T09:00:02Z", remote=remote,
               diagnostic="smtp; 250 2.0.0 queued as 4NQ2Zr")


ROUTE = {
    "envid": ENVID,
    "message_id": MSGID,
    "subject": "Quarterly numbers",
    "sender": "me@example.org",
    "sent": "2026-11-23T09:00:00Z",
    "tracking": "mtqp",
    "submission_host": "smtp.example.org",
    "offered": "PIPELINING DSN MTRK",
    "state": "failed",
    "summary": "Delivered 1/3, 1 delayed, 1 failed",
    "final": False,
    "last_poll": "2026-11-23T09:05:00Z",
    "next_poll": "2026-11-23T09:20:00Z",
    "recipients": [
        {
            "address": "alice@example.net",
            "state": "delivered",
            "hops": [
                submit_hop("relay.example.net"),
                hop("mtqp", "relay.example.net", "transferred", "2.0.0",
                    "2026-11-23T09:00:03Z", "2026-11-23T09:00:09Z", remote="mx.example.net",
                    diagnostic="smtp; 250 ok"),
                hop("mtqp", "mx.example.net", "delivered", "2.0.0",
                    "2026-11-23T09:00:10Z", "2026-11-23T09:00:11Z",
                    comment="delivered to mailbox"),
            ],
        },
        {
            "address": "bob@example.com",
            "state": "delayed",
            "hops": [
                submit_hop("mx.example.com"),
                hop("dsn", "mx.example.com", "delayed", "4.4.1",
                    "2026-11-23T09:00:04Z", "2026-11-23T09:04:00Z",
                    diagnostic="smtp; 421 4.4.1 mailbox server not answering",
                    retry="2026-11-26T09:00:00Z"),
                trace_hop("mx.example.com", "2026-11-23T09:00:04Z",
                          from_host="smtp.example.org", from_address="192.0.2.25", delay=4),
            ],
        },
        {
            "address": "carol@example.info",
            "state": "failed",
            "hops": [
                submit_hop("gw.example.info"),
                hop("mtqp", "gw.example.info", None, None, None, None,
                    error="gw.example.info:1038: connection refused (no MTQP server)"),
            ],
        },
    ],
    "events": [
        {"at": "2026-11-23T09:00:00Z", "source": "local",
         "text": "Sent to smtp.example.org (2.0.0 queued as 4NQ2Zr)"},
        {"at": "2026-11-23T09:00:10Z", "source": "mtqp",
         "text": "relay.example.net: alice@example.net \u2014 Handed to mx.example.net (2.0.0)"},
        {"at": "2026-11-23T09:00:11Z", "source": "mtqp",
         "text": "mx.example.net: alice@example.net \u2014 Delivered to the recipient\u2019s mailbox (2.0.0)"},
        {"at": "2026-11-23T09:04:00Z", "source": "dsn",
         "text": "DSN from mx.example.com: bob@example.com \u2014 Delayed: the server keeps trying (4.4.1)"},
        {"at": "2026-11-23T09:05:00Z", "source": "mtqp",
         "text": "gw.example.info: connection refused, the chain is broken"},
    ],
}

OTHER = {
    "envid": "mtrk.older00@example.org",
    "message_id": "older@example.org",
    "subject": "Lunch?",
    "sent": "2026-11-20T12:30:00Z",
    "tracking": "none",
    "state": "untracked",
    "summary": "Sent \u2014 no tracking offered by smtp.example.org",
    "final": True,
    "recipients": ["dave@example.net"],
}


HOSTILE_ID = "hostile@example.org"
# Text that came from remote servers may hold terminal escapes; clients must not pass them on.
HOSTILE = dict(OTHER, envid="mtrk.hostile1@example.org", message_id=HOSTILE_ID,
               subject="Hi\u001b]0;owned\u0007\u001b[31mRED", sender="me@example.org",
               submission_host="smtp.example.org", offered="DSN", last_poll=None,
               next_poll=None, state="failed", summary="Failed\u001b[2J",
               recipients=[{"address": "x\u001b[1m@example.net", "state": "failed",
                            "hops": [hop("dsn", "mx.evil.example", "failed", "5.0.0",
                                         "2026-11-23T09:00:00Z", None,
                                         diagnostic="smtp; 550 \u001b[8mhidden\u202eevil")]}],
               events=[])

TRACE_ID = "trace@example.org"
# Trace hops as msgtrkd may give them: members missing, clock skew, an address literal for
# a host, an error, escapes in remote text, a delay of the wrong type; and a DSN hop that
# says nothing (a broken link).
TRACE = dict(OTHER, envid="mtrk.trace001@example.org", message_id=TRACE_ID,
             subject="Trace hops", sender="me@example.org", tracking="dsn",
             submission_host="smtp.example.org", offered="DSN", last_poll=None, next_poll=None,
             state="delivered", summary="Delivered 1/1", final=True,
             recipients=[{"address": "erin@example.net", "state": "delivered", "hops": [
                 trace_hop(None, None),
                 trace_hop("a.example", "2026-11-23T09:00:00Z", from_host="client.example"),
                 trace_hop("b.example", "2026-11-23T08:59:57Z", from_address="192.0.2.7",
                           delay=-3),
                 trace_hop("c.example", "not a date", from_host="[192.0.2.8]",
                           from_address="192.0.2.8", delay=0),
                 trace_hop("d\u001b[2J.example", "2026-11-23T09:00:01Z",
                           from_host="e\u001b]0;x\u0007vil", from_address="192.0.2.9\u202e",
                           delay=4),
                 dict(trace_hop("f.example", "2026-11-23T09:00:02Z", delay="5"),
                      from_host=7),
                 trace_hop("g.example", None, error="Received: field cut short"),
                 hop("dsn", "mx.example.net", None, None, None, None),
             ]}],
             events=[])


LINKED_ID = "linked@example.com"
# A message tracked from a link (delegated): no subject, no sender, no sent time the
# daemon could learn from a report, yet delivered (issue 8 item 18).
LINKED = dict(OTHER, envid=IMPORTED_ENVID, message_id=None, subject=None, sender=None,
              sent=None, tracking="delegated", submission_host="mtqp.example.com",
              offered=None, last_poll="2026-11-23T09:05:00Z", next_poll=None,
              state="delivered", summary="Delivered 1/1", final=True,
              recipients=[{"address": "fred@example.net", "state": "delivered", "hops": [
                  hop("mtqp", "mtqp.example.com", "delivered", "2.0.0", None,
                      "2026-11-23T09:00:09Z")]}],
              events=[])

PROBLEMS_ID = "problems@example.org"
# Tracking that failed before any hop answered (issue 8 item 7): problem events (source
# "error" and "warning"), more than the CLI shows, one with hostile text, and a warning of
# the route.
PROBLEMS = dict(OTHER, envid="mtrk.problems1@example.org", message_id=PROBLEMS_ID,
                subject="Problems", sender="me@example.org", tracking="mtqp",
                submission_host="smtp.example.org", offered="DSN MTRK", last_poll=None,
                next_poll=None, state="in-transit", summary="In transit", final=False,
                recipients=[{"address": "gina@example.net", "state": "unknown", "hops": []}],
                warnings=["Warning: smtp.example.org: offered STARTTLS before, not now"],
                events=[{"at": "2026-11-23T09:00:00Z", "source": "local",
                         "text": "Sent to smtp.example.org (250 ok)"}]
                + [{"at": "2026-11-23T09:0%d:00Z" % i, "source": "error",
                    "text": "Tracking failed: attempt %d refused" % i} for i in range(1, 7)]
                + [{"at": "2026-11-23T09:07:00Z", "source": "warning",
                    "text": "Warning: TLS \u001b[31mdowngrade"},
                   {"at": "2026-11-23T09:08:00Z", "source": "error",
                    "text": "Tracking failed: Cannot connect to smtp.example.org port 1038: "
                            "Connection refused"}])

MERGED_ID = "merged@example.org"
# One route per recipient (docs/route-merge.md): msgtrkd merged the MTQP and DSN evidence
# about mx.example.net, which disagree (delayed at 09:05, delivered at 10:00), and the
# Received: field about the submission server into its MTQP hop.
_MERGED_MTQP = hop("mtqp", "mx.example.net", "delayed", "4.4.1", "2026-11-23T09:00:10Z",
                   "2026-11-23T09:05:00Z")
_MERGED_DSN = hop("dsn", "mx.example.net", "delivered", "2.0.0", "2026-11-23T09:00:10Z",
                  "2026-11-23T10:00:00Z")
MERGED = dict(OTHER, envid="mtrk.merged01@example.org", message_id=MERGED_ID,
              subject="Merged", sender="me@example.org", tracking="mtqp",
              submission_host="smtp.example.org", offered="DSN MTRK", last_poll=None,
              next_poll=None, state="delivered", summary="Delivered 1/1", final=True,
              recipients=[{"address": "hank@example.net", "state": "delivered", "hops": [
                  dict(submit_hop("mx.example.net"), sources=["trace", "mtqp"],
                       conflict=False),
                  dict(_MERGED_DSN, sources=["mtqp", "dsn"], conflict=True,
                       evidence=[_MERGED_MTQP, _MERGED_DSN]),
              ]}],
              events=[])


class Fake:
    def __init__(self, xml_path, record_path):
        with open(xml_path, encoding="utf-8") as f:
            self.node = Gio.DBusNodeInfo.new_for_xml(f.read())
        self.control = Gio.DBusNodeInfo.new_for_xml(CONTROL_XML)
        self.record_path = record_path
        self.calls = []
        self.forgotten = set()
        self.conn = None
        self.loop = GLib.MainLoop()

    def record(self, method, args):
        entry = {"method": method, "args": args}
        self.calls.append(entry)
        if self.record_path:
            with open(self.record_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def resolve(self, ident):
        bare = ident.strip()
        if bare.startswith("<") and bare.endswith(">"):
            bare = bare[1:-1]
        if bare in (ENVID, MSGID) and ENVID not in self.forgotten:
            return ENVID
        if bare in (OTHER["envid"], OTHER["message_id"]):
            return OTHER["envid"]
        if bare in (HOSTILE["envid"], HOSTILE_ID):
            return HOSTILE["envid"]
        if bare in (TRACE["envid"], TRACE_ID):
            return TRACE["envid"]
        if bare in (IMPORTED_ENVID, LINKED_ID):
            return IMPORTED_ENVID
        if bare in (PROBLEMS["envid"], PROBLEMS_ID):
            return PROBLEMS["envid"]
        if bare in (MERGED["envid"], MERGED_ID):
            return MERGED["envid"]
        return None

    def emit(self, envid, state, summary, message_id=""):
        self.conn.emit_signal(None, PATH, BUS_NAME, "StatusChanged",
                              GLib.Variant("(ssss)", (envid, state, summary, message_id)))

    def not_found(self, inv, ident):
        inv.return_dbus_error(ERR + "NotFound", "No tracked message with id \u201c%s\u201d" % ident)

    def on_call(self, conn, sender, path, iface, method, params, inv):
        if method == "IngestReport":
            # get_data_as_bytes: unpack() would make a list of ten million ints
            raw = params.get_child_value(0).get_data_as_bytes().get_data()
            args = [raw]
        else:
            args = params.unpack()
        if method == "IngestReport":
            self.record(method, [raw.decode("utf-8", "replace")])
        elif method == "ImportUrl":
            # never record a secret-bearing URL verbatim: only whether it looked right
            self.record(method, ["<url of %d bytes>" % len(args[0])])
        else:
            self.record(method, list(args))

        if iface == "org.msgtrk.Test.Control":
            if method == "Emit":
                self.emit(*args)
                inv.return_value(None)
            elif method == "Calls":
                inv.return_value(GLib.Variant("(s)", (json.dumps(self.calls),)))
            return

        if method == "List":
            items = []
            if ENVID not in self.forgotten:
                items.append({k: ROUTE[k] for k in ("envid", "message_id", "subject", "sent",
                                                    "tracking", "state", "summary", "final")})
                items[-1]["recipients"] = [r["address"] for r in ROUTE["recipients"]]
            items.append(OTHER)
            inv.return_value(GLib.Variant("(s)", (json.dumps(items),)))
        elif method == "GetRoute":
            envid = self.resolve(args[0])
            if envid is None:
                return self.not_found(inv, args[0])
            if envid == ENVID:
                route = ROUTE
            elif envid == HOSTILE["envid"]:
                route = HOSTILE
            elif envid == TRACE["envid"]:
                route = TRACE
            elif envid == IMPORTED_ENVID:
                route = LINKED
            elif envid == PROBLEMS["envid"]:
                route = PROBLEMS
            elif envid == MERGED["envid"]:
                route = MERGED
            else:
                route = dict(OTHER, sender="me@example.org", submission_host="smtp.example.org",
                             offered="PIPELINING", last_poll=None, next_poll=None,
                             recipients=[{"address": "dave@example.net", "state": "unknown",
                                          "hops": []}], events=[])
            inv.return_value(GLib.Variant("(s)", (json.dumps(route),)))
        elif method == "GetStatus":
            out = []
            for ident in args[0]:
                envid = self.resolve(ident)
                if envid == ENVID:
                    out.append((ident, ENVID, ROUTE["state"], ROUTE["summary"]))
                elif envid:
                    out.append((ident, envid, OTHER["state"], OTHER["summary"]))
                else:
                    out.append((ident, "", "", ""))
            inv.return_value(GLib.Variant("(a(ssss))", (out,)))
        elif method == "ListStatus":
            # The messages that have a Message-ID, in its order, paged as msgtrkd does
            # (MSGTRKD_STATUS_PAGE_MAX: 0 or more means 10000).
            after, count = args
            count = 10000 if count == 0 or count > 10000 else count
            rows = []
            if ENVID not in self.forgotten:
                rows.append((MSGID, ENVID, ROUTE["state"], ROUTE["summary"]))
            rows.append((OTHER["message_id"], OTHER["envid"], OTHER["state"], OTHER["summary"]))
            rows = sorted(r for r in rows if r[0] > after)
            page, rest = rows[:count], rows[count:]
            inv.return_value(GLib.Variant("(a(ssss)s)", (page, page[-1][0] if rest else "")))
        elif method == "Track":
            envid = self.resolve(args[0])
            if envid is None:
                return self.not_found(inv, args[0])
            inv.return_value(None)
            if envid == ENVID:  # the others are final: nothing changes
                GLib.timeout_add(200, lambda: self.emit(envid, "delivered",
                                                        "Delivered 3/3") and False)
        elif method == "ExportUrl":
            envid = self.resolve(args[0])
            if envid is None:
                return self.not_found(inv, args[0])
            inv.return_value(GLib.Variant("(s)", (
                "mtqp://smtp.example.org/%s?secret=Zm9vYmFyYmF6cXV4MTIzNDU2" % envid,)))
        elif method == "ImportUrl":
            if not args[0].startswith("mtqp://"):
                inv.return_dbus_error(ERR + "InvalidArgument",
                                      "This is not an mtqp:// tracking link")
                return
            inv.return_value(GLib.Variant("(s)", (IMPORTED_ENVID,)))
        elif method == "IngestReport":
            raw = args[0]
            matched = ENVID if ENVID.encode() in raw else ""
            inv.return_value(GLib.Variant("(s)", (matched,)))
        elif method == "Forget":
            if args[0] == "store-broken":
                inv.return_dbus_error(ERR + "Store",
                                      "The tracking database failed: disk full")
                return
            envid = self.resolve(args[0])
            if envid is None:
                return self.not_found(inv, args[0])
            self.forgotten.add(envid)
            inv.return_value(None)
        elif method == "ShowMessage":
            if self.resolve(args[0]) is None:
                return self.not_found(inv, args[0])
            inv.return_value(None)
        elif method == "Prepare":
            inv.return_value(GLib.Variant("(ssu)", (ENVID, "B" * 28, 86400)))
        else:
            inv.return_value(None)

    def on_bus(self, conn, name):
        self.conn = conn
        conn.register_object(PATH, self.node.interfaces[0], self.on_call, None, None)
        conn.register_object(PATH, self.control.interfaces[0], self.on_call, None, None)

    def on_name(self, conn, name):
        print("ready", flush=True)

    def on_lost(self, conn, name):
        print("fake-msgtrkd: could not own %s" % name, file=sys.stderr)
        self.loop.quit()

    def run(self):
        Gio.bus_own_name(Gio.BusType.SESSION, BUS_NAME, Gio.BusNameOwnerFlags.NONE,
                         self.on_bus, self.on_name, self.on_lost)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 15, lambda: self.loop.quit() or False)
        self.loop.run()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xml", required=True, help="org.msgtrk.Tracker1.xml")
    ap.add_argument("--record", help="append each call as a JSON line here")
    opts = ap.parse_args()
    Fake(opts.xml, opts.record).run()


if __name__ == "__main__":
    main()
