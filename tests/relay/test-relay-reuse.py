#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-relay-reuse.py: msgtrk-relay keeps sessions to a next hop open between messages
and pipelines MAIL/RCPT/DATA (RFC 2920), against a scripted, sometimes hostile, next hop.

What: one scenario per run (argv[2]):
  reuse-three         3 messages, one connection, RSET between them, each MAIL/RCPT/DATA
                      in one write; the idle session is closed with QUIT after
                      connection_cache_time
  reuse-max           connection_reuse_max=2: 3 messages take 2 connections
  reuse-off           connection_cache_time=0: a connection per message, each ended by QUIT
  reuse-closed        the hop closes the connection after the first message: the second
                      goes on a new connection, never deferred
  reuse-421           the hop answers RSET with 421 and closes: the same
  reuse-rcpt-refused  a pipelined RCPT of three is refused (550): that recipient fails
                      (with a DSN), the other two are relayed in one DATA
  reuse-drop-data     the hop refuses one RCPT of two (550) and closes the connection at
                      DATA: the refused recipient fails (its 550 stays final), the other is
                      deferred (4.4.1) and delivered once on a new connection
  reuse-timeout       on the reused session the hop accepts RSET and then never answers
                      MAIL: after command_timeout the message is deferred (4.4.1), then
                      delivered once on a new connection
How: a real relay (one worker, so the order of deliveries is the order of messages) routes
hop.example to relay_harness.ScriptedHop, a thread-per-connection SMTP server on 127.0.0.1 that reads
what has arrived, answers every complete command in it, and writes the answers together
(as Postfix's smtpd does: replies flushed when the input is drained). It records each
connection's commands and which arrived in one read. Outcomes come from the relay's log
("to=<...> action=...").
Limits: every wait is bounded (harness wait_for).
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relay_harness import (Failure, HarnessError, Relay, ScriptedHop, SmtpClient,  # noqa: E402
                           check, make_body, run_scenarios, wait_for)


def start(exe, tmp, hop, queue=None):
    keys = {"workers": "1", "connection_cache_time": "30", "command_timeout": "20"}
    keys.update(queue or {})
    r = Relay(exe, tmp, "a", "a.test",
              {"hop.example": "smtp:127.0.0.1:%d" % hop.port, "sender.example": "local:"},
              queue=keys)
    r.start()
    return r


def send(relay, messages):
    """Send (subject, [rcpts]) messages in one client session, back to back."""
    c = SmtpClient(relay.port)
    try:
        c.cmd("EHLO client.test", 250)
        for subject, rcpts in messages:
            c.cmd("MAIL FROM:<alice@sender.example>", 250)
            for r in rcpts:
                c.cmd("RCPT TO:<%s> NOTIFY=FAILURE" % r, 250)
            code, text = c.data(make_body(subject))
            check(code == 250, "DATA: %s" % text, relay)
    finally:
        c.close()


def outcomes(relay, address):
    return re.findall(r"to=<%s> action=(\S+) status=(\S+)" % re.escape(address), relay.log())


def wait_outcome(relay, address, action, timeout=30):
    try:
        return wait_for("%s: %s for %s" % (relay.name, action, address),
                        lambda: any(a == action for a, _ in outcomes(relay, address)), timeout)
    except HarnessError as e:
        raise Failure("%s\nlog:\n%s" % (e, relay.log()))


def transactions(conn):
    """Commands of a connection grouped per transaction (from MAIL to DATA)."""
    out, cur = [], None
    for line in conn.commands:
        verb = line.split(" ", 1)[0].upper()
        if verb == "MAIL":
            cur = [line]
        elif cur is not None:
            cur.append(line)
            if verb == "DATA":
                out.append(cur)
                cur = None
    return out


def check_pipelined(hop, relay):
    """Every MAIL arrived in one read together with its RCPTs and DATA."""
    for conn in hop.conns:
        for chunk in conn.chunks:
            verbs = [c.split(" ", 1)[0].upper() for c in chunk]
            if "MAIL" in verbs:
                i = verbs.index("MAIL")
                check("DATA" in verbs[i:] and all(v == "RCPT" for v in verbs[i + 1:-1]),
                      "MAIL/RCPT/DATA not in one write on connection %d: %r"
                      % (conn.number, chunk), relay)


def scenario_reuse_three(exe, tmp):
    hop = ScriptedHop()
    relay = start(exe, tmp, hop, {"connection_cache_time": "3"})
    send(relay, [("one", ["bob1@hop.example"]), ("two", ["bob2@hop.example"]),
                 ("three", ["bob3@hop.example"])])
    for i in (1, 2, 3):
        wait_outcome(relay, "bob%d@hop.example" % i, "relayed")
    check(len(hop.conns) == 1, "connections: %d (expected 1)" % len(hop.conns), relay)
    verbs = [c.split(" ", 1)[0].upper() for c in hop.conns[0].commands]
    check(verbs[:10] == ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA",
                         "RSET", "MAIL"], "commands: %r" % verbs, relay)
    check(len(hop.received()) == 3, "messages at the hop: %d" % len(hop.received()), relay)
    check_pipelined(hop, relay)
    # The idle session is closed (QUIT) after connection_cache_time.
    wait_for("QUIT after the idle time", lambda: hop.conns[0].closed, 15)
    check(hop.conns[0].commands[-1].upper() == "QUIT",
          "last command: %r" % hop.conns[0].commands[-1], relay)
    relay.stop()
    hop.close()


def scenario_reuse_max(exe, tmp):
    hop = ScriptedHop()
    relay = start(exe, tmp, hop, {"connection_reuse_max": "2"})
    send(relay, [("one", ["bob1@hop.example"]), ("two", ["bob2@hop.example"]),
                 ("three", ["bob3@hop.example"])])
    for i in (1, 2, 3):
        wait_outcome(relay, "bob%d@hop.example" % i, "relayed")
    check(len(hop.conns) == 2, "connections: %d (expected 2)" % len(hop.conns), relay)
    check([len(transactions(c)) for c in hop.conns] == [2, 1],
          "transactions per connection: %r" % [len(transactions(c)) for c in hop.conns], relay)
    wait_for("the first session closed with QUIT", lambda: hop.conns[0].closed, 10)
    check(hop.conns[0].commands[-1].upper() == "QUIT", "%r" % hop.conns[0].commands, relay)
    relay.stop()
    hop.close()


def scenario_reuse_off(exe, tmp):
    hop = ScriptedHop()
    relay = start(exe, tmp, hop, {"connection_cache_time": "0"})
    send(relay, [("one", ["bob1@hop.example"]), ("two", ["bob2@hop.example"])])
    for i in (1, 2):
        wait_outcome(relay, "bob%d@hop.example" % i, "relayed")
    check(len(hop.conns) == 2, "connections: %d (expected 2)" % len(hop.conns), relay)
    wait_for("both sessions closed", lambda: all(c.closed for c in hop.conns), 10)
    for c in hop.conns:
        verbs = [v.split(" ", 1)[0].upper() for v in c.commands]
        check(verbs == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"], "commands: %r" % verbs, relay)
    relay.stop()
    hop.close()


def two_messages_on_new_connection(exe, tmp, hop):
    relay = start(exe, tmp, hop)
    send(relay, [("one", ["bob1@hop.example"])])
    wait_outcome(relay, "bob1@hop.example", "relayed")
    send(relay, [("two", ["bob2@hop.example"])])
    wait_outcome(relay, "bob2@hop.example", "relayed")
    check(outcomes(relay, "bob2@hop.example") == [("relayed", "2.1.9")],
          "outcomes of the second: %r" % outcomes(relay, "bob2@hop.example"), relay)
    check(len(hop.conns) == 2, "connections: %d (expected 2)" % len(hop.conns), relay)
    check(len(hop.received()) == 2, "messages at the hop: %d" % len(hop.received()), relay)
    return relay


def scenario_reuse_closed(exe, tmp):
    hop = ScriptedHop(close_after_dot={0})
    relay = two_messages_on_new_connection(exe, tmp, hop)
    relay.stop()
    hop.close()


def scenario_reuse_421(exe, tmp):
    hop = ScriptedHop(rset=lambda conn, n: "421" if conn.number == 0 else None)
    relay = two_messages_on_new_connection(exe, tmp, hop)
    check("RSET" in [c.upper() for c in hop.conns[0].commands], "no RSET on the first", relay)
    relay.stop()
    hop.close()


def scenario_reuse_rcpt_refused(exe, tmp):
    hop = ScriptedHop(refuse={"bob2@hop.example"})
    relay = start(exe, tmp, hop)
    send(relay, [("three rcpts", ["bob1@hop.example", "bob2@hop.example", "bob3@hop.example"])])
    wait_outcome(relay, "bob2@hop.example", "failed")
    wait_outcome(relay, "bob1@hop.example", "relayed")
    wait_outcome(relay, "bob3@hop.example", "relayed")
    check(outcomes(relay, "bob2@hop.example") == [("failed", "5.1.1")],
          "%r" % outcomes(relay, "bob2@hop.example"), relay)
    check(len(hop.received()) == 1, "messages at the hop: %d" % len(hop.received()), relay)
    check_pipelined(hop, relay)
    # The failure DSN reaches the sender (local).
    dsn = relay.wait_mail("alice@sender.example")[0]
    check(b"bob2@hop.example" in dsn and b"5.1.1" in dsn, "DSN:\n%r" % dsn[:2000], relay)
    check(b"bob1@hop.example" not in dsn.split(b"message/delivery-status")[-1].split(
        b"text/rfc822-headers")[0], "DSN names a delivered recipient", relay)
    # The session is still good for the next message.
    send(relay, [("next", ["bob4@hop.example"])])
    wait_outcome(relay, "bob4@hop.example", "relayed")
    check(len(hop.conns) == 1, "connections: %d (expected 1)" % len(hop.conns), relay)
    relay.stop()
    hop.close()


def scenario_reuse_drop_data(exe, tmp):
    hop = ScriptedHop(refuse={"bob2@hop.example"}, close_on_data={0})
    relay = start(exe, tmp, hop)
    send(relay, [("drop", ["bob1@hop.example", "bob2@hop.example"])])
    wait_outcome(relay, "bob1@hop.example", "relayed")
    check(outcomes(relay, "bob1@hop.example") == [("delayed", "4.4.1"), ("relayed", "2.1.9")],
          "bob1: %r" % outcomes(relay, "bob1@hop.example"), relay)
    check(outcomes(relay, "bob2@hop.example") == [("failed", "5.1.1")],
          "bob2: %r" % outcomes(relay, "bob2@hop.example"), relay)
    check(len(hop.received()) == 1, "messages at the hop: %d" % len(hop.received()), relay)
    check(len(hop.conns) == 2, "connections: %d (expected 2)" % len(hop.conns), relay)
    last = [c for c in hop.conns[1].commands if c.upper().startswith("RCPT")]
    check(len(last) == 1 and "bob1@" in last[0], "retry RCPTs: %r" % last, relay)
    relay.stop()
    hop.close()


def scenario_reuse_timeout(exe, tmp):
    hop = ScriptedHop(mail=lambda conn, n: "hang" if conn.number == 0 and n == 1 else None)
    relay = start(exe, tmp, hop, {"command_timeout": "2"})
    send(relay, [("one", ["bob1@hop.example"])])
    wait_outcome(relay, "bob1@hop.example", "relayed")
    t0 = time.monotonic()
    send(relay, [("two", ["bob2@hop.example"])])
    wait_outcome(relay, "bob2@hop.example", "delayed")
    check(time.monotonic() - t0 >= 1.5, "deferred before the command timeout", relay)
    wait_outcome(relay, "bob2@hop.example", "relayed")
    got = outcomes(relay, "bob2@hop.example")
    check(got == [("delayed", "4.4.1"), ("relayed", "2.1.9")], "outcomes: %r" % got, relay)
    check(len(hop.received()) == 2, "messages at the hop: %d" % len(hop.received()), relay)
    check(len(hop.conns) == 2, "connections: %d (expected 2)" % len(hop.conns), relay)
    relay.stop()
    hop.close()


SCENARIOS = {
    "reuse-three": scenario_reuse_three,
    "reuse-max": scenario_reuse_max,
    "reuse-off": scenario_reuse_off,
    "reuse-closed": scenario_reuse_closed,
    "reuse-421": scenario_reuse_421,
    "reuse-rcpt-refused": scenario_reuse_rcpt_refused,
    "reuse-drop-data": scenario_reuse_drop_data,
    "reuse-timeout": scenario_reuse_timeout,
}


def main():
    return run_scenarios("relay-reuse-", SCENARIOS, sys.argv)


if __name__ == "__main__":
    sys.exit(main())
