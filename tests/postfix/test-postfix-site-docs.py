#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-site-docs.py: what docs/postfix-site.md, the example configurations and
the systemd units tell a Postfix admin to do works when done to the letter.

  test-postfix-site-docs.py --build-dir BUILD

What (from the session 20 review of the admin docs):
  1. the main.cf blocks of docs/postfix-site.md ("Postfix: main.cf", "SASL"), written to
     a main.cf as shown, through the installed Postfix's postconf: every parameter's
     value is the one meant (Postfix has no trailing comments: "yes   # text" is the
     value "yes # text", and a bad boolean is fatal to every Postfix command);
  2. every Postfix parameter the page and the units tell the admin to set (`name =
     value`, master.cf `-o name=value`) is known to the installed Postfix (Debian 12's
     3.7: a parameter of a later version is an "unused parameter" warning);
  3. a unit started as root (no User=) has no StateDirectory=: systemd then makes the
     directory root:root 0755 and chowns the whole tree to root at every start, so the
     program, once it has dropped to its "user", cannot write /var/lib/msgtrk (the front
     refuses to start: "Cannot create .../postfix-registrations: Permission denied");
  4. the example configuration of a unit started as root sets `user=` (mtqpd, the front
     and the relay refuse to run as root without it): copied as the README says, it
     starts;
  5. every key of the follower's and mtqpd's key tables has a line in its example and an
     entry in its man page, and every key line of the examples is in the table;
  6. mtqpd's and the follower's examples, adapted to temporary paths only, start;
  7. the key-file blocks (```ini) of every page in docs/ hold no comment after a value.
Skips (77) without Postfix's postconf; check 6 needs the programs built.
Never: write outside its temporary directory; leave a process behind.
"""
import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
SOURCE_ROOT = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
POSTCONF = "/usr/sbin/postconf"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C"}
START_WAIT = 10.0
FRONT_SOURCE = ("server", "postfix", "postfix-front.c")
NOT_POSTFIX = {"introspection_mode"}  # Dovecot's (the OAuth2 paragraph)


def read(*parts):
    with open(os.path.join(SOURCE_ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def doc_block(text, heading):
    """The first ``` block after @heading."""
    section = text.split(heading, 1)[1]
    return re.search(r"```\n(.*?)```", section, re.S).group(1)


def postconf(conf_dir, *args):
    r = subprocess.run([POSTCONF, "-c", conf_dir] + list(args), capture_output=True,
                       text=True, env=ENV, timeout=30)
    return r.stdout, r.stderr


def main_cf_checks(t, doc, base):
    conf = os.path.join(base, "postfix")
    os.makedirs(conf)
    blocks = [doc_block(doc, "## Postfix: main.cf"), doc_block(doc, "## SASL")]
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write("\n".join(blocks))
    open(os.path.join(conf, "master.cf"), "w").close()
    names = [m.group(1) for b in blocks
             for m in re.finditer(r"^([a-z_0-9]+)\s*=", b, re.M)]
    t.check("postfix-site.md's main.cf blocks name parameters (%d)" % len(names),
            len(names) >= 6)
    for name in names:
        out, err = postconf(conf, "-h", name)
        value = out.strip()
        t.check("main.cf as in postfix-site.md: %s = %r, no comment in the value"
                % (name, value), "#" not in value and not err,
                "Postfix takes no trailing comment: the value is %r %s" % (value, err))


def known_parameter_checks(t, doc, units, base):
    """Every Postfix parameter the admin is told to set is one the installed Postfix
    knows."""
    empty = os.path.join(base, "empty")
    os.makedirs(empty)
    for name in ("main.cf", "master.cf"):
        open(os.path.join(empty, name), "w").close()
    told = set()
    for text in [doc] + units:
        told.update(re.findall(r"`([a-z][a-z_0-9]+) = [^`]*`", text))
        told.update(re.findall(r"^[a-z][a-z_0-9]+ = ", text, re.M))
        told.update(re.findall(r"^#.*\b([a-z]+_[a-z_0-9]+) = ", text, re.M))
        told.update(re.findall(r"-o ([a-z][a-z_0-9]+)=", text))
    # Not Postfix's: the front's own settings (named like Postfix's) and Dovecot's.
    told = {x.strip(" =") for x in told} - set(key_table(FRONT_SOURCE)) - NOT_POSTFIX
    version, _ = postconf(empty, "-h", "-d", "mail_version")
    for name in sorted(told):
        _, err = postconf(empty, "-d", name)
        t.check("Postfix %s knows %s (told to set it)" % (version.strip(), name),
                "unknown parameter" not in err, err.strip())


def unit_checks(t, base):
    units = {}
    for name in sorted(os.listdir(os.path.join(SOURCE_ROOT, "data", "systemd"))):
        if name.endswith(".service"):
            units[name] = read("data", "systemd", name)
    for name, text in units.items():
        if "--config /etc/msgtrk/" not in text:
            continue  # not a server's system unit (msgtrkd's user unit)
        as_root = not re.search(r"^User=", text, re.M)
        state = re.search(r"^StateDirectory=(.*)$", text, re.M)
        t.check("%s: no StateDirectory= in a unit started as root (systemd would chown "
                "/var/lib/%s to root:root at every start)"
                % (name, state.group(1) if state else "..."),
                not (as_root and state),
                "User= unset and %s: the program, after its drop to 'user', cannot write "
                "it" % (state.group(0) if state else ""))
        m = re.search(r"^ExecStart=\S+ --config /etc/msgtrk/(\S+)$", text, re.M)
        if m is None:
            continue
        example = m.group(1).replace("-%i", "-submissions")
        path = os.path.join(SOURCE_ROOT, "data", "config", example)
        if as_root and os.path.exists(path):
            t.check("%s starts as root: its example %s sets user=" % (name, example),
                    re.search(r"^user=\S", read("data", "config", example), re.M) is not None,
                    "copied as shipped, the program refuses to run as root")
    return list(units.values())


def key_table(source, start="known[] = {"):
    code = read(*source)
    table = code.split(start, 1)[1].split("NULL", 1)[0]
    return re.findall(r'"([a-z_0-9]+)"', table)


def key_checks(t):
    for source, example, man in (
            (("server", "postfix", "postfix-follower.c"), "msgtrk-postfix-follower.conf",
             "msgtrk-postfix-follower.8"),
            (("server", "mtqpd", "mtqpd.c"), "mtqpd.conf", "mtqpd.conf.5")):
        keys = key_table(source)
        text = read("data", "config", example)
        page = read("data", "man", man)
        t.check("%s: key table found (%d keys)" % (source[-1], len(keys)), len(keys) > 10)
        t.check("%s: every key has a line in %s" % (source[-1], example),
                not [k for k in keys if not re.search(r"^#?%s=" % k, text, re.M)],
                [k for k in keys if not re.search(r"^#?%s=" % k, text, re.M)])
        t.check("%s: every key has an entry in %s" % (source[-1], man),
                not [k for k in keys if not re.search(r"^\.B[RI]? .*\b%s\b" % k, page, re.M)],
                [k for k in keys if not re.search(r"^\.B[RI]? .*\b%s\b" % k, page, re.M)])
        group = text.split("[", 2)[1].split("]", 1)[0]
        first = re.split(r"\n#?\[", text.split("[%s]" % group, 1)[1], 1)[0]
        lines = re.findall(r"^#?([a-z_0-9]+)=", first, re.M)
        t.check("%s: every key line of [%s] is in the table" % (example, group),
                not [k for k in lines if k not in keys], [k for k in lines if k not in keys])


def adapt(text, settings):
    out = []
    for line in text.splitlines():
        m = re.match(r"^#?([a-z_]+)=", line)
        if m and m.group(1) in settings:
            line = "%s=%s" % (m.group(1), settings.pop(m.group(1)))
        out.append(line)
    return "\n".join(out + ["%s=%s" % kv for kv in settings.items()]) + "\n"


def ini_block_checks(t):
    """The configuration blocks (```ini) of every page in docs/ hold no comment after a
    value: a GLib key file takes it into the value ("pool_size=4   # text")."""
    docs = os.path.join(SOURCE_ROOT, "docs")
    for name in sorted(os.listdir(docs)):
        if not name.endswith(".md"):
            continue
        for block in re.findall(r"```ini\n(.*?)```", read("docs", name), re.S):
            for line in block.splitlines():
                if re.match(r"^[A-Za-z_0-9]+\s*=", line):
                    t.check("docs/%s: %s has no comment after its value"
                            % (name, line.split("=", 1)[0].strip()),
                            not re.search(r"\s#", line), line)


def start_checks(t, build, base):
    user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    state = os.path.join(base, "state")
    os.makedirs(os.path.join(state, "tracking"))
    maillog = os.path.join(base, "maillog")
    open(maillog, "w").close()
    if os.geteuid() == 0:
        for d in (state, os.path.join(state, "tracking")):
            shutil.chown(d, user)
    cases = [
        ("mtqpd", os.path.join(build, "server", "mtqpd", "mtqpd"), "mtqpd.conf",
         {"listen": "127.0.0.1:0", "state_dir": state, "user": user}, "Listening"),
        ("msgtrk-postfix-follower",
         os.path.join(build, "server", "postfix", "msgtrk-postfix-follower"),
         "msgtrk-postfix-follower.conf",
         {"maillog": maillog, "state_dir": state, "user": user}, "Following"),
    ]
    for name, exe, example, settings, ready in cases:
        if not os.access(exe, os.X_OK):
            t.check("%s built (# SKIP)" % name, True)
            continue
        conf = os.path.join(base, example)
        with open(conf, "w") as f:
            f.write(adapt(read("data", "config", example), dict(settings)))
        log = os.path.join(base, name + ".log")
        with open(log, "w") as out:
            proc = subprocess.Popen([exe, "--config", conf], stdout=out,
                                    stderr=subprocess.STDOUT, env=ENV)
        deadline = time.monotonic() + START_WAIT
        text = ""
        while time.monotonic() < deadline and proc.poll() is None:
            text = open(log, errors="replace").read()
            if ready in text:
                break
            time.sleep(0.1)
        alive = proc.poll() is None
        if alive:
            proc.terminate()
            proc.wait(timeout=10)
        text = open(log, errors="replace").read()
        t.check("%s starts with its example (paths and user adapted)" % name,
                alive and ready in text, text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    args = ap.parse_args()
    if not os.access(POSTCONF, os.X_OK):
        print("1..0 # SKIP Postfix's postconf is not installed")
        return 77
    t = pi.Checker()
    base = tempfile.mkdtemp(prefix="msgtrk-site-docs-")
    os.chmod(base, 0o755)
    try:
        doc = read("docs", "postfix-site.md")
        main_cf_checks(t, doc, base)
        units = unit_checks(t, base)
        known_parameter_checks(t, doc, units, base)
        key_checks(t)
        ini_block_checks(t)
        start_checks(t, os.path.abspath(args.build_dir), base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
