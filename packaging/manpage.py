#!/usr/bin/env python3
"""shardnode(1) from the CLI's own help: `shardnode --help` and `<command> --help` for
every command (and every `ctl` and `testnet` subcommand), so the man page never drifts
from the binary it ships with.

Usage: manpage.py SHARDNODE_BINARY OUT.1

The date is SOURCE_DATE_EPOCH's (reproducible builds), else today's.
"""
import datetime
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True


def run(binary, args):
    """The binary's stdout (leak checks off: an ASan build's exit code stays the program's)."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", COLUMNS="80")
    r = subprocess.run([binary] + args, capture_output=True, text=True, timeout=60, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{binary} {' '.join(args)} exited {r.returncode}: {r.stderr[-500:]}")
    return r.stdout


def run_help(binary, args):
    # CLI11 prints the binary's path in "Usage:"; the man page names the command.
    return re.sub(r"Usage: \S*shardnode", "Usage: shardnode", run(binary, args + ["--help"])).rstrip()


def subcommands(help_text):
    """Names listed under "Subcommands:" in a CLI11 help text."""
    out, inside = [], False
    for line in help_text.splitlines():
        if line.startswith("Subcommands:"):
            inside = True
            continue
        if inside:
            m = re.match(r"^  (\S+)\s", line + " ")
            if m:
                out.append(m.group(1))
            elif line and not line.startswith(" "):
                inside = False
    return out


def roff_text(s):
    """Plain text for a no-fill block: backslashes escaped, no line read as a request."""
    lines = []
    for line in s.replace("\\", "\\e").splitlines():
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    binary, out = sys.argv[1], sys.argv[2]
    version = run(binary, ["version"]).splitlines()
    ver = version[0].split()[-1] if version else "?"
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch else datetime.datetime.now(
        datetime.timezone.utc)
    top = run_help(binary, [])
    summary = top.splitlines()[0].split(": ", 1)[-1] if top else ""
    parts = [
        f'.TH SHARDNODE 1 "{when:%Y-%m-%d}" "shardnode {ver}" "User Commands"',
        ".SH NAME",
        "shardnode \\- " + summary.replace("-", "\\-"),
        ".SH SYNOPSIS",
        ".B shardnode",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        "A node for anonymous sharding p2p networks: every connection runs between Tor v3 onion services, "
        "with tor linked into the node. Validators gossip shard data (libp2p gossipsub with peer scoring) "
        "without any peer learning their IP address.",
        ".PP",
        "The text below is the program's own help, command by command.",
        ".SH OPTIONS AND COMMANDS",
        ".nf",
        roff_text(top),
        ".fi",
    ]
    for cmd in subcommands(top):
        text = run_help(binary, [cmd])
        parts += [f".SS {cmd}", ".nf", roff_text(text), ".fi"]
        for sub in subcommands(text):
            parts += [f".SS {cmd} {sub}", ".nf", roff_text(run_help(binary, [cmd, sub])), ".fi"]
    parts += [
        ".SH FILES",
        ".TP",
        ".I /etc/shardnode/shardnode.toml",
        "The configuration the packaged service runs with (every key: /usr/share/doc/shardnode/CONFIG.md).",
        ".TP",
        ".I /var/lib/shardnode",
        "The service's data directory: identity.key and validator.key (mode 0600), tor's state, the peer "
        "store and the collation store. Back up the keys; never share them.",
        ".SH SEE ALSO",
        "/usr/share/doc/shardnode/OPERATIONS.md, /usr/share/doc/shardnode/CONFIG.md, tor(1)",
    ]
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
