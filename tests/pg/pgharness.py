# SPDX-License-Identifier: GPL-3.0-or-later
"""pgharness.py: a real PostgreSQL 15 cluster started by a test (TESTING-TIPS.md,
"PostgreSQL started by a test").

What: initdb + pg_ctl in a temporary directory, as user nobody when run as root (initdb
refuses root), unix socket only in that directory (listen_addresses=''), trust
authentication for the role msgtrk. How: PgServer().start(), .restart(), .stop(),
.conninfo (libpq string), .psql(sql). Limits: pg_ctl waits at most PG_CTL_TIMEOUT seconds.
Never: listen on TCP; touch the system's own cluster.
"""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile

PG_BIN = os.environ.get("MSGTRK_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_CTL_TIMEOUT = 60
SKIP = 77


def available():
    return os.access(os.path.join(PG_BIN, "initdb"), os.X_OK)


class PgServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="msgtrk-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "pg.log")
        self.running = False
        self.as_nobody = os.geteuid() == 0
        if self.as_nobody:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)

    @property
    def conninfo(self):
        return "host=%s user=msgtrk dbname=postgres" % self.dir

    def _run(self, argv):
        if self.as_nobody:
            cmd = " ".join("'%s'" % a.replace("'", "'\\''") for a in argv)
            argv = ["su", "-s", "/bin/sh", "nobody", "-c", cmd]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=PG_CTL_TIMEOUT + 30)

    def start(self):
        if not os.path.exists(self.data):
            self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust",
                       "-U", "msgtrk", "--no-sync"])
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
                   "-t", str(PG_CTL_TIMEOUT),
                   "-o", "-k %s -c listen_addresses='' -c fsync=off" % self.dir, "start"])
        self.running = True

    def stop(self, mode="fast"):
        if self.running:
            self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                       "-t", str(PG_CTL_TIMEOUT), "stop"])
            self.running = False

    def restart(self):
        self.stop()
        self.start()

    def psql(self, sql):
        out = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-q",
                              "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-U", "msgtrk",
                              "-d", "postgres", "-c", sql],
                             check=True, capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    def cleanup(self):
        try:
            self.stop("immediate")
        except Exception as e:  # noqa: BLE001 (cleanup must go on)
            print("pgharness: stop failed: %s" % e, file=sys.stderr)
        if os.environ.get("MSGTRK_KEEP_PG"):
            print("pgharness: kept %s" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
