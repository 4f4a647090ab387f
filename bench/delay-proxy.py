#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""delay-proxy.py: a TCP proxy that holds every chunk for D ms before passing it on.

  delay-proxy.py --target HOST:PORT --delay-ms D [--listen-port P] [--port-file FILE]

What it is for: latency on loopback where `tc netem` does not exist (the kernels of these
machines have no sch_netem). Each accepted connection gets its own connection to the
target; in each direction every chunk read is stamped and written D ms later, in order, so
a request/answer round trip costs 2*D more. Unlike netem it does not delay the TCP
handshake itself (the proxy's connect to the target is immediate), nor does it model
bandwidth or loss.

Limits: DELAY_MAX_MS; chunks of CHUNK octets. Never: look into or log the data (TRACK
lines hold secrets).
"""

import argparse
import asyncio
import os
import signal
import sys

CHUNK = 65536
DELAY_MAX_MS = 10000


async def pump(reader, writer, delay):
    """Copy reader to writer, each chunk delay seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read_side():
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((loop.time() + delay, b""))

    async def write_side():
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    await asyncio.gather(read_side(), write_side())


async def handle(client_reader, client_writer, target, delay):
    try:
        up_reader, up_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pump(client_reader, up_writer, delay),
                         pump(up_reader, client_writer, delay))
    for w in (client_writer, up_writer):
        w.close()


async def main_async(args):
    host, _, port = args.target.rpartition(":")
    target = (host, int(port))
    delay = args.delay_ms / 1000.0
    server = await asyncio.start_server(lambda r, w: handle(r, w, target, delay),
                                        "127.0.0.1", args.listen_port)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    else:
        print(port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=int, required=True)
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    if not 0 <= args.delay_ms <= DELAY_MAX_MS:
        parser.error("--delay-ms must be 0 to %d" % DELAY_MAX_MS)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
