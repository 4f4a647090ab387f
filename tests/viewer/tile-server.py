#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""tile-server.py: a local HTTP tile server for tests/viewer/test-viewer-tiles.c.

What: listens on 127.0.0.1 on a free port, prints "PORT <n>" on stdout, and serves:
  /ok/Z/X/Y.png         a generated PNG (Cache-Control: max-age=3600, an ETag)
  /nostore/Z/X/Y.png    a PNG with Cache-Control: no-store
  /revalidate/Z/X/Y.png a PNG with max-age=0 and an ETag; If-None-Match → 304
  /expires/Z/X/Y.png    a PNG with an Expires date in the past and no Cache-Control
  /flaky/Z/X/Y.png      like /revalidate the first time, 500 after that
  /slow/Z/X/Y.png       a PNG after SLOW_SECONDS
  /busy/Z/X/Y.png       a PNG after BUSY_SECONDS (for the connection count)
  /404/…, /500/…        those statuses
  /garbage/…            200 with bytes that are no image
  /size/N/Z/X/Y.png     200 with a PNG signature padded to exactly N bytes
  /redirect/…           302 to /ok/…
  /stats                JSON: requests per path, the most parallel connections seen,
                        the User-Agents and If-None-Match values received
How: ThreadingHTTPServer, HTTP/1.1 keep-alive; PNGs built with zlib (one colour per tile).
Never: listens on anything but 127.0.0.1; runs longer than its --lifetime.
"""
import argparse
import http.server
import json
import os
import struct
import sys
import threading
import time
import zlib

SLOW_SECONDS = 5.0
BUSY_SECONDS = 0.4

lock = threading.Lock()
stats = {"hits": {}, "open": 0, "max_open": 0, "user_agents": [], "if_none_match": []}


def png(z, x, y, size=256):
    """A solid-colour PNG, the colour derived from the tile coordinates."""
    colour = bytes([(x * 40 + 60) % 256, (y * 70 + 90) % 256, (z * 30 + 120) % 256])
    raw = b"".join(b"\x00" + colour * size for _ in range(size))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with lock:
            stats["open"] += 1
            stats["max_open"] = max(stats["max_open"], stats["open"])

    def finish(self):
        super().finish()
        with lock:
            stats["open"] -= 1

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        with lock:
            if parts[0] != "stats":
                stats["hits"][self.path] = stats["hits"].get(self.path, 0) + 1
                stats["user_agents"].append(self.headers.get("User-Agent", ""))
                if self.headers.get("If-None-Match"):
                    stats["if_none_match"].append(self.headers["If-None-Match"])
            hits = stats["hits"].get(self.path, 0)
        kind = parts[0]
        if kind == "stats":
            with lock:
                body = json.dumps(stats).encode()
            return self.send(200, body, [("Content-Type", "application/json")])
        try:
            if kind == "size":
                n = int(parts[1])
                z, x, y = (int(p.split(".")[0]) for p in parts[2:5])
            else:
                n = 0
                z, x, y = (int(p.split(".")[0]) for p in parts[1:4])
        except (ValueError, IndexError):
            return self.send(400)
        tile = png(z, x, y)
        etag = '"t-%d-%d-%d"' % (z, x, y)
        if kind == "ok":
            self.send(200, tile, [("Cache-Control", "max-age=3600"), ("ETag", etag)])
        elif kind == "nostore":
            self.send(200, tile, [("Cache-Control", "no-store")])
        elif kind in ("revalidate", "flaky"):
            if kind == "flaky" and hits > 1:
                return self.send(500, b"down")
            if self.headers.get("If-None-Match") == etag:
                return self.send(304, b"", [("Cache-Control", "max-age=0"), ("ETag", etag)])
            self.send(200, tile, [("Cache-Control", "max-age=0"), ("ETag", etag)])
        elif kind == "expires":
            self.send(200, tile, [("Expires", "Thu, 01 Jan 2015 00:00:00 GMT")])
        elif kind == "slow":
            time.sleep(SLOW_SECONDS)
            self.send(200, tile)
        elif kind == "busy":
            time.sleep(BUSY_SECONDS)
            self.send(200, tile)
        elif kind == "404":
            self.send(404, b"not found")
        elif kind == "500":
            self.send(500, b"oops")
        elif kind == "garbage":
            self.send(200, b"GARBAGE " + os.urandom(3000))
        elif kind == "size":
            self.send(200, (b"\x89PNG\r\n\x1a\n" + bytes(n))[:n])
        elif kind == "redirect":
            self.send(302, b"", [("Location", "/ok/%d/%d/%d.png" % (z, x, y))])
        else:
            self.send(404)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
