#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""mtqp-test-server.py: a scriptable, deliberately misbehaving MTQP server for tests.

What it is for: exercising msgtrk's MTQP client (lib/msgtrk-mtqp-client.c) against good
and hostile peers. It listens on 127.0.0.1 port 0, prints "PORT <n>" on stdout, and runs
until stdin is closed (so it dies with the test that spawned it).

How it behaves is chosen by options (the greeting, STARTTLS) and by the ENVID of each
TRACK command (the answer); see answer() below. Canned entities come from --data.
Like a real server, it answers about the ENVID asked: the ENVID of a canned entity
(e.g. mtrk.TESTDELIVERED0000000000000@example.com) gets that entity byte for byte; any
other ENVID gets the entity its name picks with each Original-Envelope-Id set to the ENVID
as TRACK carried it (xtext), or decoded for names starting with "decoded" (as Postfix
writes DSNs). Names ending in "-other" get the entity as is, that is about another
message (a buggy or hostile server); "mixed" gets chain3.eml with only its first part
about the ENVID asked; "noenvid" gets a DSN without Original-Envelope-Id.

Limits: test use only; no real tracking store, secrets are not checked. Never run it
outside a test: it accepts anything and floods on request.
"""
import argparse
import asyncio
import re
import os
import ssl
import sys

# xtext (RFC 3461 section 4): xchar is "!".."~" except "+" and "="; "+" HEX HEX (upper case).
XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})+")

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="directory of canned entities")
parser.add_argument("--cert", help="certificate (PEM): offer STARTTLS")
parser.add_argument("--key", help="private key (PEM)")
parser.add_argument("--starttls-sessions", type=int, default=-1,
                    help="offer STARTTLS only in the first N sessions (-1: always)")
parser.add_argument("--greeting", default="normal",
                    help="normal, single, garbage, notmtqp, temp, err, endless, "
                         "endlessoptions, trickle, silent, close, starttls-twice, inject, "
                         "refuse-tls, tls-silent (never answers the ClientHello), "
                         "tls-close (reads the ClientHello and closes), lf")
parser.add_argument("--log", help="append one line per event to this file")
args = parser.parse_args()

sessions = 0
# Canned entities whose own ENVID is answered with them byte for byte.
CANNED = ("delivered.eml", "dotted.eml", "chain3.eml")
SLOW = 0.3  # seconds between bytes when trickling


def log(text):
    if args.log:
        with open(args.log, "a", encoding="utf-8") as f:
            f.write(text + "\n")


def load_entity(name):
    with open(os.path.join(args.data, name), "rb") as f:
        raw = f.read()
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def multiline(status, lines):
    out = [status]
    for line in lines:
        out.append(b"." + line if line.startswith(b".") else line)
    out.append(b".")
    return b"".join(l + b"\r\n" for l in out)


def xtext_decode(text):
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def canned_envid(name):
    """The Original-Envelope-Id of canned entity @name (decoded)."""
    for line in load_entity(name):
        if line.startswith(b"Original-Envelope-Id:"):
            return xtext_decode(line.split(b":", 1)[1].strip().decode())
    return None


def about(lines, envid, parts=None):
    """@lines with the Original-Envelope-Id of the first @parts parts (all: None) set to
    @envid."""
    out = []
    seen = 0
    for line in lines:
        if line.startswith(b"Original-Envelope-Id:"):
            seen += 1
            if parts is None or seen <= parts:
                line = b"Original-Envelope-Id: " + envid.encode()
        out.append(line)
    return out


def entity_answer(name, extra_preamble=None, envid=None, parts=None):
    lines = load_entity(name)
    if envid is not None:
        lines = about(lines, envid, parts)
    if extra_preamble is not None:
        # after the header block and its blank line: MIME preamble, ignored by parsers
        blank = lines.index(b"")
        lines = lines[: blank + 1] + [extra_preamble] + lines[blank + 1:]
    return multiline(b"+OK+ Tracking information follows", lines)


async def trickle(writer, data):
    for i in range(len(data)):
        writer.write(data[i:i + 1])
        await writer.drain()
        await asyncio.sleep(SLOW)


async def flood(writer, chunk):
    while True:
        writer.write(chunk)
        await writer.drain()


class Session:
    def __init__(self, reader, writer, number):
        self.reader = reader
        self.writer = writer
        self.number = number
        self.tls = False

    def offers_starttls(self):
        if args.cert is None or self.tls:
            return args.greeting == "starttls-twice" and self.tls
        return args.starttls_sessions < 0 or self.number < args.starttls_sessions

    async def greet(self):
        mode = args.greeting
        w = self.writer
        # logged before the greeting goes out, so a client that saw it finds the line
        log(f"GREET session={self.number} tls={int(self.tls)} "
            f"starttls={int(self.offers_starttls())}")
        if mode == "garbage":
            w.write(b"\x00\xffgarbage \x1b[31m\r\n")
        elif mode == "notmtqp":
            w.write(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n")
        elif mode == "temp":
            w.write(b"-TEMP/MTQP/admin Service down for admin, call back later\r\n")
        elif mode == "err":
            w.write(b"-ERR/MTQP/unavailable Service down\r\n")
        elif mode == "endless":
            w.write(b"+OK+/MTQP ")
            await flood(w, b"x" * 65536)
        elif mode == "endlessoptions":
            w.write(b"+OK+/MTQP options follow\r\n")
            await flood(w, b"vnd.test.option with parameters\r\n" * 1000)
        elif mode == "trickle":
            await trickle(w, b"+OK/MTQP slow server\r\n")
        elif mode == "silent":
            await asyncio.sleep(3600)
        elif mode == "close":
            w.close()
            return False
        elif mode == "single" and not self.offers_starttls():
            w.write(b"+OK/MTQP msgtrk test server ready\r\n")
        elif mode == "lf":
            w.write(b"+OK+/MTQP bare LF line ends\n.\n")
        else:
            opts = [b"+OK+/MTQP msgtrk test server ready"]
            if self.offers_starttls():
                opts.append(b"STARTTLS")
            opts += [b"vnd.msgtrk.test with parameters", b"  continued on a second line"]
            w.write(b"".join(o + b"\r\n" for o in opts) + b".\r\n")
        await w.drain()
        return True

    async def starttls(self):
        if args.greeting == "refuse-tls":
            self.writer.write(b"-TEMP/unavailable No TLS today\r\n")
            await self.writer.drain()
            return
        if args.greeting == "inject":
            self.writer.write(b"+OK Begin TLS\r\n+OK+/MTQP injected before TLS\r\n.\r\n")
            await self.writer.drain()
        else:
            self.writer.write(b"+OK Begin TLS negotiation\r\n")
            await self.writer.drain()
        if args.greeting == "tls-silent":
            await asyncio.sleep(3600)
        if args.greeting == "tls-close":
            await self.reader.read(16384)
            self.writer.close()
            raise ConnectionError("closed mid-handshake on purpose")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        try:
            await self.writer.start_tls(ctx)
        except (ssl.SSLError, ConnectionError, OSError) as e:
            log(f"TLSFAIL {e.__class__.__name__}")
            self.writer.transport.abort()
            raise ConnectionError("handshake failed")
        self.tls = True
        log(f"TLS session={self.number} {self.writer.get_extra_info('ssl_object').version()}")
        await self.greet()

    async def answer(self, envid, line, pending):
        w = self.writer
        # Like mtqpd: TRACK carries the xtext form (RFC 3461), anything else is refused.
        if ("+" in envid or "=" in envid) and not XTEXT.fullmatch(envid):
            w.write(b"-BAD/syntax The ENVID is not valid xtext\r\n")
            return
        name = envid.split("@")[0]
        # The ENVID each part's Original-Envelope-Id carries: the one asked (see the top).
        own = None if name.endswith("-other") else envid
        if name.startswith("decoded"):
            own = xtext_decode(envid)
        if name.startswith("pipe-"):
            await self.pipelined(envid, pending)
            return
        for canned in CANNED:
            if xtext_decode(envid) == canned_envid(canned):
                w.write(entity_answer(canned))
                await w.drain()
                return
        if name.startswith("delivered") or name.startswith("decoded"):
            w.write(entity_answer("delivered.eml", envid=own))
        elif name.startswith("dotted"):
            w.write(entity_answer("dotted.eml", envid=own))
        elif name.startswith("chain"):
            w.write(entity_answer("chain3.eml", envid=own))
        elif name == "mixed":
            w.write(entity_answer("chain3.eml", envid=own, parts=1))
        elif name == "noenvid":
            w.write(entity_answer("dsn-noenvid.eml"))
        elif name == "line998":
            w.write(entity_answer("delivered.eml", b"x" * 998, envid=own))
        elif name == "line999":
            w.write(entity_answer("delivered.eml", b"x" * 999, envid=own))
        elif name == "temp":
            w.write(b"-TEMP/busy/Retry-Later Server busy, try later\r\n")
        elif name == "err":
            w.write(b"-ERR/unknown No such message, or wrong secret\r\n")
        elif name == "bad":
            w.write(b"-BAD/syntax Say again?\r\n")
        elif name == "echo":
            w.write(b"-ERR you said: " + line + b"\r\n")
        elif name == "plainok":
            w.write(b"+OK fine, but no data\r\n")
        elif name == "unparsable":
            w.write(multiline(b"+OK+ here you are", [b"this is not MIME", b"at all"]))
        elif name == "garbagestatus":
            w.write(b"+OKAY whatever\r\n")
        elif name == "endlessline":
            w.write(b"+OK+ Tracking information follows\r\nContent-Type: ")
            await flood(w, b"a" * 65536)
        elif name == "endlessreply":
            w.write(b"+OK+ Tracking information follows\r\n")
            await flood(w, b"Content-Type: text/plain; an endless reply\r\n" * 1000)
        elif name == "trickle":
            await trickle(w, entity_answer("delivered.eml", envid=own))
        elif name == "closemid":
            w.write(b"+OK+ Tracking information follows\r\nContent-Type: multipart/related;\r\n")
            await w.drain()
            w.close()
            raise ConnectionError("closed on purpose")
        elif name == "silent":
            await asyncio.sleep(3600)
        else:
            w.write(b"-ERR/unknown No such message, or wrong secret\r\n")
        await w.drain()

    async def pipelined(self, envid, pending):
        """pipe-<i>-of-<n>: answer only when all n pipe commands are in (or 3 s passed)."""
        want = int(envid.split("@")[0].split("-")[3])
        got = [envid]
        loop = asyncio.get_running_loop()
        end = loop.time() + 3.0
        while len(got) < want:
            try:
                line = await asyncio.wait_for(self.reader.readline(), end - loop.time())
            except asyncio.TimeoutError:
                break
            if not line:
                break
            words = line.strip().split()
            if len(words) == 3 and words[0].upper() == b"TRACK" and words[1].startswith(b"pipe-"):
                got.append(words[1].decode())
            else:
                pending.append(line)
        log(f"PIPELINE got={len(got)} want={want}")
        for one in got:
            if len(got) == want:
                self.writer.write(entity_answer("delivered.eml", envid=one))
            else:
                self.writer.write(b"-ERR/not-pipelined Commands came one at a time\r\n")
        await self.writer.drain()

    async def run(self):
        if not await self.greet():
            return
        pending = []
        while True:
            if pending:
                line = pending.pop(0)
            else:
                line = await self.reader.readline()
            if not line:
                return
            words = line.strip().split()
            if not words:
                self.writer.write(b"-BAD empty command\r\n")
                continue
            verb = words[0].upper()
            if verb == b"TRACK" and len(words) == 3:
                log(f"TRACK session={self.number} tls={int(self.tls)} {words[1].decode()}")
                await self.answer(words[1].decode(), line.rstrip(b"\r\n"), pending)
            elif verb == b"STARTTLS" and len(words) == 1:
                log(f"STARTTLS session={self.number}")
                if self.tls:
                    self.writer.write(b"-BAD/tlsinprogress Already in TLS\r\n")
                elif not self.offers_starttls():
                    self.writer.write(b"-ERR/unsupported No STARTTLS here\r\n")
                else:
                    await self.starttls()
            elif verb == b"COMMENT":
                self.writer.write(b"+OK\r\n")
            elif verb == b"QUIT":
                log(f"QUIT session={self.number}")
                self.writer.write(b"+OK Bye\r\n")
                await self.writer.drain()
                self.writer.close()
                return
            else:
                self.writer.write(b"-BAD Unknown command\r\n")
            await self.writer.drain()


async def handle(reader, writer):
    global sessions
    number = sessions
    sessions += 1
    try:
        await Session(reader, writer, number).run()
    except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.transport.abort()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 16)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    # Exit when stdin closes: the spawning test is gone or done.
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    os._exit(0)
