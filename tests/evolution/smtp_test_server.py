# SPDX-License-Identifier: GPL-3.0-or-later
"""smtp_test_server.py: a scriptable SMTP server for the Camel provider tests.

What: one listening socket on 127.0.0.1 (port 0), one thread per connection, speaking just
enough RFC 5321 for a submission client: EHLO/HELO with the keywords the test chooses,
STARTTLS (RFC 3207) or implicit TLS with a certificate made at test time
(tests/make-test-ca.sh), AUTH PLAIN (RFC 4616) against one user and password, MAIL, RCPT,
DATA, RSET, NOOP, QUIT. Behaviour knobs: drop the connection after a given command, refuse
a command with a given reply (once or always), send extra bytes after the 220 to STARTTLS
(injection), send an over-long reply line, a greeting of chosen lines, require AUTH before
MAIL.
Records: every command line as received (AUTH payloads replaced by what they decoded to),
whether it came over TLS, and each message's DATA (dot-unstuffed, CRLF kept).
Limits: LINE_MAX octets per command line, DATA_MAX octets per message, TIMEOUT seconds of
silence before a connection is closed; stop() joins every thread it started.
Never: log a password (the AUTH record says only whether it matched).
"""

import base64
import socket
import ssl
import threading

LINE_MAX = 4096
DATA_MAX = 1 << 20
TIMEOUT = 20.0


class Transaction:
    def __init__(self):
        self.mail = None
        self.rcpts = []
        self.data = None


class SmtpTestServer:
    def __init__(self, keywords=("PIPELINING", "8BITMIME"), hostname="test.example",
                 cert=None, implicit_tls=False, user=None, password=None,
                 require_auth=False, drop_after=None, refuse=None, refuse_times=None,
                 inject_after_starttls=b"", long_reply_to=None, greeting=None,
                 auth_extra_rounds=0, data_end_reply=None):
        self.keywords = list(keywords)
        self.hostname = hostname
        self.cert = cert  # (certfile, keyfile) or None
        self.implicit_tls = implicit_tls
        self.user, self.password = user, password
        self.require_auth = require_auth
        self.drop_after = drop_after  # "MAIL", "RCPT", "DATA"…: close without a reply
        self.refuse = dict(refuse or {})  # verb -> reply line
        self.refuse_left = dict(refuse_times or {})  # verb -> how many times (default: always)
        self.inject = inject_after_starttls
        self.long_reply_to = long_reply_to
        self.greeting = greeting  # texts of the 220 lines, or None for one ordinary line
        self.auth_extra_rounds = auth_extra_rounds  # "334" questions asked after AUTH PLAIN
        self.data_end_reply = data_end_reply  # raw bytes (CRLF added) for the final dot
        self.commands = []  # (tls: bool, line: str)
        self.auth_results = []  # (user, matched: bool)
        self.transactions = []
        self.lock = threading.Lock()
        self.threads = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.cert)
        return ctx

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve_safely, args=(conn,), daemon=True)
            with self.lock:
                self.threads.append(t)
            t.start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.acceptor.join(TIMEOUT)
        for t in list(self.threads):
            t.join(TIMEOUT)

    # --- recorded facts ---
    def verbs(self):
        with self.lock:
            return [line.split(" ", 1)[0].split(":", 1)[0].upper() for _, line in self.commands]

    def lines(self, verb):
        with self.lock:
            return [line for _, line in self.commands if line.upper().startswith(verb)]

    def messages(self):
        with self.lock:
            return [t for t in self.transactions if t.data is not None]

    # --- one connection ---
    def _serve_safely(self, conn):
        conn.settimeout(TIMEOUT)
        state = {"conn": conn, "buf": b""}
        try:
            self._serve(state)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            for sock in {id(conn): conn, id(state["conn"]): state["conn"]}.values():
                try:
                    sock.close()
                except OSError:
                    pass

    def _serve(self, state):
        """state["conn"] is the current socket (TLS once wrapped), state["buf"] unread."""
        tls = False
        if self.implicit_tls:
            state["conn"] = self._context().wrap_socket(state["conn"], server_side=True)
            tls = True

        def send(text):
            state["conn"].sendall(text.encode() + b"\r\n")

        def readline():
            while b"\n" not in state["buf"]:
                chunk = state["conn"].recv(65536)
                if not chunk:
                    return None
                state["buf"] += chunk
                if len(state["buf"]) > LINE_MAX and b"\n" not in state["buf"]:
                    return None
            line, _, state["buf"] = state["buf"].partition(b"\n")
            return line.rstrip(b"\r").decode("utf-8", "replace")

        lines = self.greeting or ["%s ESMTP test server" % self.hostname]
        for text in lines[:-1]:
            send("220-" + text)
        send("220 " + lines[-1])
        greeted = False
        authed = False
        txn = None
        while True:
            line = readline()
            if line is None:
                return
            verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
            shown = line
            if verb == "AUTH":
                parts = line.split(" ")
                shown = " ".join(parts[:2]) + (" <initial response>" if len(parts) > 2 else "")
            with self.lock:
                self.commands.append((tls, shown))
            if verb == self.drop_after:
                return
            if verb == self.long_reply_to:
                send("250-" + "x" * 5000)
                send("250 ok")
                continue
            if verb in self.refuse and self.refuse_left.get(verb, 1) > 0:
                if verb in self.refuse_left:
                    self.refuse_left[verb] -= 1
                send(self.refuse[verb])
                continue
            if verb == "EHLO":
                greeted = True
                txn = None
                keywords = [k for k in self.keywords if not (tls and k == "STARTTLS")]
                if self.user and (tls or "STARTTLS" not in self.keywords):
                    keywords.append("AUTH PLAIN")
                out = ["%s greets %s" % (self.hostname, line[5:])] + keywords
                for k in out[:-1]:
                    send("250-" + k)
                send("250 " + out[-1])
            elif verb == "HELO":
                greeted = True
                send("250 %s" % self.hostname)
            elif verb == "STARTTLS":
                if tls or not self.cert:
                    send("503 5.5.1 TLS not available")
                    continue
                state["conn"].sendall(b"220 2.0.0 Ready to start TLS\r\n" + self.inject)
                state["conn"] = self._context().wrap_socket(state["conn"], server_side=True)
                state["buf"] = b""
                tls, greeted, authed, txn = True, False, False, None
            elif verb == "AUTH":
                parts = line.split(" ")
                if not self.user or len(parts) < 2 or parts[1].upper() != "PLAIN":
                    send("504 5.5.4 Unrecognized authentication type")
                    continue
                if len(parts) > 2:
                    payload = parts[2]
                else:
                    send("334 ")
                    payload = readline()
                    if payload is None:
                        return
                for _ in range(self.auth_extra_rounds):
                    send("334 ")
                    if readline() is None:
                        return
                try:
                    _, user, password = base64.b64decode(payload).decode().split("\0")
                except (ValueError, UnicodeDecodeError):
                    send("501 5.5.2 Cannot decode")
                    continue
                ok = user == self.user and password == self.password
                with self.lock:
                    self.auth_results.append((user, ok))
                if ok:
                    authed = True
                    send("235 2.7.0 Authentication successful")
                else:
                    send("535 5.7.8 Authentication credentials invalid")
            elif verb == "MAIL":
                if not greeted:
                    send("503 5.5.1 EHLO first")
                elif self.require_auth and not authed:
                    send("530 5.7.0 Authentication required")
                else:
                    txn = Transaction()
                    txn.mail = line
                    send("250 2.1.0 Sender ok")
            elif verb == "RCPT":
                if txn is None:
                    send("503 5.5.1 MAIL first")
                else:
                    txn.rcpts.append(line)
                    send("250 2.1.5 Recipient ok")
            elif verb == "DATA":
                if txn is None or not txn.rcpts:
                    send("503 5.5.1 RCPT first")
                    continue
                send("354 End data with <CR><LF>.<CR><LF>")
                body = []
                size = 0
                while True:
                    dl = readline()
                    if dl is None:
                        return
                    if dl == ".":
                        break
                    if dl.startswith("."):
                        dl = dl[1:]
                    size += len(dl) + 2
                    if size > DATA_MAX:
                        return
                    body.append(dl)
                txn.data = "\r\n".join(body) + "\r\n"
                with self.lock:
                    self.transactions.append(txn)
                txn = None
                if self.drop_after == "DATA-END":
                    return  # queued, but the reply is lost (RFC 1047)
                if self.data_end_reply is not None:
                    state["conn"].sendall(self.data_end_reply + b"\r\n")
                    continue
                send("250 2.0.0 Ok: queued as T%d" % len(self.transactions))
            elif verb == "RSET":
                txn = None
                send("250 2.0.0 Ok")
            elif verb == "NOOP":
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                return
            else:
                send("502 5.5.2 Command not recognized")
