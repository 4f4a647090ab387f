#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-i18n.py: the translations in po/ are complete and valid, and msgtrk speaks them.

For every language in po/LINGUAS:
  - msgfmt --check passes and --statistics reports only translated messages (no fuzzy,
    no untranslated);
  - msgcmp: every msgid of po/msgtrk.pot is in the .po (the .po is not behind the .pot);
  - every msgid with a mnemonic ("_Track…") keeps one in its translation;
  - the quotation marks are the language's own („…“ in German, 「…」 in Japanese);
  - the msgtrk CLI, pointed at the build's .mo files (MSGTRK_LOCALEDIR) with LANGUAGE=<lang>
    and LC_ALL=C.UTF-8, prints its help and an error message in that language.

Output: TAP. Never needs a session bus (--help and an unknown command exit before D-Bus).
"""
import argparse
import gettext
import os
import re
import subprocess
import sys

results = []


def check(ok, name, diag=None):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name))
    if not ok and diag:
        for line in str(diag).splitlines():
            print("# " + line)


def po_unquote(s):
    """The value of a PO string literal (without its quotes)."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def po_entries(path):
    """(msgid, [msgstr…]) of each entry of a PO file, header and obsolete ones left out."""
    entries, cur, field = [], None, None
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines() + [""]:
            if not line.strip():
                if cur is not None and cur.get("msgid"):
                    entries.append((cur["msgid"], [cur[k] for k in sorted(cur) if k.startswith("msgstr")]))
                cur, field = None, None
                continue
            if line.startswith("#"):
                continue
            if cur is None:
                cur = {}
            m = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) "(.*)"$', line)
            if m:
                field = m.group(1)
                cur[field] = po_unquote(m.group(2))
            elif line.startswith('"') and field is not None:
                cur[field] += po_unquote(line[1:-1])
    return entries


MNEMONIC = re.compile(r"(?:^|[^\w$])_\w|[A-Za-z]_[a-z]")
# Forbidden quotation marks in translations: English closing ” in German, any English
# double quote in Japanese.
WRONG_QUOTES = {"de": "\u201d", "ja": "\u201c\u201d"}


def check_po(args, lang):
    po = os.path.join(args.po_dir, lang + ".po")
    pot = os.path.join(args.po_dir, "msgtrk.pot")
    r = subprocess.run([args.msgfmt, "--check", "--statistics", "-o", os.devnull, po],
                       capture_output=True, text=True, env=dict(os.environ, LC_ALL="C", LANGUAGE=""))
    check(r.returncode == 0, "%s.po: msgfmt --check" % lang, r.stderr)
    stats = r.stderr.strip()
    check(re.fullmatch(r"\d+ translated messages?\.", stats) is not None,
          "%s.po: all messages translated (no fuzzy, no untranslated)" % lang, stats)

    r = subprocess.run([args.msgcmp, po, pot], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C", LANGUAGE=""))
    check(r.returncode == 0, "%s.po: every msgid of msgtrk.pot is translated" % lang, r.stderr)

    entries = po_entries(po)
    lost = [msgid for msgid, strs in entries
            if MNEMONIC.search(msgid) and not all(re.search(r"_\w", s) for s in strs)]
    check(not lost, "%s.po: mnemonics kept" % lang, "\n".join(lost))
    wrong = [s for _, strs in entries for s in strs
             if any(q in s for q in WRONG_QUOTES.get(lang, ""))]
    check(not wrong, "%s.po: the language's own quotation marks" % lang, "\n".join(wrong))


def run_cli(args, argv, lang):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("LC_") or k in ("LANG", "LANGUAGE"))}
    env.update(LC_ALL="C.UTF-8", MSGTRK_LOCALEDIR=args.locale_dir, NO_COLOR="1")
    if lang:
        env["LANGUAGE"] = lang
    return subprocess.run([args.cli] + argv, capture_output=True, env=env, timeout=30)


def check_cli(args, lang):
    tr = gettext.translation("msgtrk", localedir=args.locale_dir, languages=[lang])
    usage_heading = tr.gettext("Commands:")
    list_help = tr.gettext("List tracked messages, newest first.")
    check(usage_heading != "Commands:" and list_help != "List tracked messages, newest first.",
          "%s: the built msgtrk.mo translates the CLI's help" % lang)

    r = run_cli(args, ["--help"], lang)
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0 and usage_heading in out and list_help in out,
          "%s: msgtrk --help is translated" % lang, out + r.stderr.decode("utf-8", "replace"))

    unknown = tr.gettext("msgtrk: unknown command “%s”\n") % "no-such-command"
    r = run_cli(args, ["no-such-command"], lang)
    err = r.stderr.decode("utf-8", "replace")
    check(r.returncode == 1 and unknown in err,
          "%s: msgtrk's error message is translated" % lang, err)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--po-dir", required=True)
    parser.add_argument("--locale-dir", required=True)
    parser.add_argument("--msgfmt", required=True)
    parser.add_argument("--msgcmp", required=True)
    parser.add_argument("--cli")
    args = parser.parse_args()

    with open(os.path.join(args.po_dir, "LINGUAS"), encoding="utf-8") as f:
        langs = [w for line in f if not line.startswith("#") for w in line.split()]
    check(sorted(langs) == ["de", "ja"], "LINGUAS lists de and ja", " ".join(langs))

    for lang in langs:
        check_po(args, lang)
    if args.cli:
        r = run_cli(args, ["--help"], None)
        out = r.stdout.decode("utf-8", "replace")
        check(r.returncode == 0 and "Commands:" in out, "C locale: msgtrk --help is in English", out)
        for lang in langs:
            check_cli(args, lang)
    else:
        print("# msgtrk CLI not built: runtime checks skipped")

    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
