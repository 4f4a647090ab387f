#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""transcript.py: run a line-protocol transcript against a server (MTQP, SMTP, ...).

A transcript is a text file, one step per line:

  # comment                   ignored (so are blank lines; "#!" lines are for harnesses)
  C: text                     send text + CRLF
  C-raw: <bytes expression>   send exact bytes: a Python bytes literal, or literals
                              joined with + and repeated with * (b'x' * 999 + b'\\r\\n')
  C-batch:                    the following C: / C-raw: lines, up to C-end, are sent in
  C-end                       ONE write (pipelining)
  S: text                     expect exactly this line (CRLF-terminated on the wire)
  S~ regex                    expect a line that the regex fullmatches
  S* regex                    skip lines until one fullmatches (at most 1000 lines)
  STARTTLS                    TLS handshake on the current connection (CA file and server
                              name from run_script's arguments); nothing may be buffered
  EOF                         expect the server to close the connection (no more data);
                              the client then closes it too
  SLEEP ms                    wait
  OPEN name                   open another connection and make it current
  USE name                    make an open connection current (the first is "main")
  CLOSE                       close the current connection

${NAME} in a step is replaced by variables[NAME]. Every read has a timeout (never hangs).
A mismatch raises TranscriptError with the script position, what was expected, what came,
and the recent conversation; as a program it exits 1 with that message.

Usage as a module:  run_script(path, host, port, ca_file=None, server_name=None,
                               variables=None, timeout=10.0)
As a program:       transcript.py [--ca FILE] [--server-name NAME] [--var K=V]... \\
                                  HOST PORT SCRIPT
"""

import argparse
import ast
import re
import socket
import ssl
import sys
import time

MAX_SKIP = 1000
MAX_LINE = 1024 * 1024


class TranscriptError(Exception):
    pass


def _eval_bytes(text):
    """Evaluate a bytes expression: literals combined with + and * (ints) only."""
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (bytes, int)):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            return left * right
        raise ValueError("only bytes literals, + and * are allowed")
    value = ev(ast.parse(text.strip(), mode="eval"))
    if not isinstance(value, bytes):
        raise ValueError("the expression is not bytes")
    return value


class _Conn:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data)

    def read_line(self):
        """A line without its CRLF; None at EOF. Raises on timeout or bare LF."""
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise TranscriptError("server line longer than %d octets" % MAX_LINE)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TranscriptError("timed out waiting for a line from the server")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TranscriptError("timed out waiting for a line from the server")
            except (ConnectionResetError, ssl.SSLError) as e:
                if self.buf:
                    raise TranscriptError("connection failed mid-line: %s" % e)
                return None
            if not chunk:
                if self.buf:
                    raise TranscriptError("connection closed mid-line: %r" % self.buf)
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        if not line.endswith(b"\r"):
            raise TranscriptError("server line not terminated by CRLF: %r" % line)
        return line[:-1]

    def expect_eof(self):
        line = self.read_line()
        if line is not None:
            raise TranscriptError("expected the server to close, got %r" % line)

    def starttls(self, ca_file, server_name):
        if self.buf:
            raise TranscriptError("data buffered before STARTTLS: %r" % self.buf)
        ctx = ssl.create_default_context(cafile=ca_file)
        if ca_file is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(self.timeout)
        try:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_name)
        except (ssl.SSLError, OSError) as e:
            raise TranscriptError("TLS handshake failed: %s" % e)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _decode(line):
    return line.decode("utf-8", errors="backslashreplace")


def run_script(path, host, port, ca_file=None, server_name=None, variables=None,
               timeout=10.0, log=None):
    """Run the transcript in @path against host:port. Raises TranscriptError."""
    variables = dict(variables or {})
    with open(path, encoding="utf-8") as f:
        steps = f.read().split("\n")
    if server_name is None:
        server_name = host

    history = []
    conns = {}
    current = ["main"]

    def say(direction, text):
        history.append("%s %s" % (direction, text))
        if log is not None:
            log.write("%s %s\n" % (direction, text))

    def conn():
        c = conns.get(current[0])
        if c is None:
            c = _Conn(host, port, timeout)
            conns[current[0]] = c
        return c

    def subst(text):
        def repl(m):
            if m.group(1) not in variables:
                raise TranscriptError("unknown variable ${%s}" % m.group(1))
            return str(variables[m.group(1)])
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", repl, text)

    def fail(lineno, message):
        recent = "\n".join("    " + h for h in history[-15:])
        raise TranscriptError("%s:%d: %s\n  recent conversation:\n%s"
                              % (path, lineno, message, recent))

    def read(lineno):
        try:
            line = conn().read_line()
        except TranscriptError as e:
            fail(lineno, str(e))
        if line is None:
            fail(lineno, "the server closed the connection")
        say("S:", _decode(line))
        return _decode(line)

    def data_of(step, lineno):
        if step.startswith("C: "):
            return subst(step[3:]).encode("utf-8") + b"\r\n"
        if step == "C:":
            return b"\r\n"
        if step.startswith("C-raw:"):
            try:
                return _eval_bytes(subst(step[6:]))
            except (ValueError, SyntaxError) as e:
                fail(lineno, "bad C-raw expression: %s" % e)
        fail(lineno, "expected C: or C-raw: inside C-batch, got %r" % step)
        return b""

    try:
        i = 0
        while i < len(steps):
            lineno = i + 1
            step = steps[i].rstrip("\r")
            i += 1
            if step.strip() == "" or step.startswith("#"):
                continue
            if step.startswith("C-batch:"):
                batch = b""
                while True:
                    if i >= len(steps):
                        fail(lineno, "C-batch without C-end")
                    inner = steps[i].rstrip("\r")
                    i += 1
                    if inner == "C-end":
                        break
                    if inner.strip() == "" or inner.startswith("#"):
                        continue
                    batch += data_of(inner, i)
                say("C:", "[batch] %r" % batch)
                conn().send(batch)
            elif step.startswith("C:") or step.startswith("C-raw:"):
                data = data_of(step, lineno)
                say("C:", repr(data) if step.startswith("C-raw:") else _decode(data[:-2]))
                try:
                    conn().send(data)
                except OSError as e:
                    fail(lineno, "send failed: %s" % e)
            elif step.startswith("S: ") or step == "S:":
                want = subst(step[3:])
                got = read(lineno)
                if got != want:
                    fail(lineno, "mismatch\n  - expected: %r\n  + received: %r" % (want, got))
            elif step.startswith("S~ "):
                pattern = subst(step[3:])
                got = read(lineno)
                if not re.fullmatch(pattern, got):
                    fail(lineno, "mismatch\n  - expected (regex): %s\n  + received: %r"
                         % (pattern, got))
            elif step.startswith("S* "):
                pattern = subst(step[3:])
                for _ in range(MAX_SKIP):
                    if re.fullmatch(pattern, read(lineno)):
                        break
                else:
                    fail(lineno, "no line matched %s within %d lines" % (pattern, MAX_SKIP))
            elif step == "STARTTLS":
                say("--", "TLS handshake")
                try:
                    conn().starttls(ca_file, server_name)
                except TranscriptError as e:
                    fail(lineno, str(e))
            elif step == "EOF":
                try:
                    conn().expect_eof()
                except TranscriptError as e:
                    fail(lineno, str(e))
                say("--", "closed by server")
                # Close our side too, so that a lingering server sees EOF at once.
                conns.pop(current[0]).close()
            elif step.startswith("SLEEP "):
                time.sleep(int(step[6:]) / 1000.0)
            elif step.startswith("OPEN "):
                current[0] = step[5:].strip()
                if current[0] in conns:
                    fail(lineno, "connection %s is already open" % current[0])
                say("--", "open %s" % current[0])
                try:
                    conn()
                except OSError as e:
                    fail(lineno, "connect failed: %s" % e)
            elif step.startswith("USE "):
                current[0] = step[4:].strip()
                if current[0] not in conns:
                    fail(lineno, "no open connection %s" % current[0])
                say("--", "use %s" % current[0])
            elif step == "CLOSE":
                conn().close()
                del conns[current[0]]
            else:
                fail(lineno, "unknown step %r" % step)
    finally:
        for c in conns.values():
            c.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run a protocol transcript")
    parser.add_argument("--ca", help="CA file for STARTTLS")
    parser.add_argument("--server-name", help="name to verify in STARTTLS (default: HOST)")
    parser.add_argument("--var", action="append", default=[], help="K=V for ${K}")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("script")
    args = parser.parse_args(argv)
    variables = dict(v.split("=", 1) for v in args.var)
    try:
        run_script(args.script, args.host, args.port, ca_file=args.ca,
                   server_name=args.server_name, variables=variables, timeout=args.timeout)
    except TranscriptError as e:
        print("transcript failed: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("transcript failed: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
