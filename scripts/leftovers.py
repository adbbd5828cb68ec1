#!/usr/bin/env python3
"""What a test run left behind: server processes, listening sockets and temporary entries.

    scripts/leftovers.py snapshot FILE   # before the run: what is there already
    scripts/leftovers.py check FILE [--quiet]   # after it: fails naming everything new

`check` compares the machine with the snapshot and fails (exit 1) on
- a process started since the snapshot that is a server or a server's tool
  (`postgres`, `pg_autoctl`, `pg_ctl`, `redis-server`, `runuser`, …), matched on the
  kernel's name for it (`/proc/PID/comm`), which PostgreSQL and pg_autoctl do not
  rewrite as they do their titles;
- a TCP socket listening now that was not listening then, with the process that holds it
  and whether it listens on loopback only;
- an entry of the temporary directory ($TMPDIR, else /tmp) made since the snapshot.

A process is told apart from an earlier one with the same pid by its start time; a zombie
(ended, not yet reaped) is not counted as running. This script and the processes it was
started from are never counted. Linux only (`/proc`).
"""

import json
import os
import sys

SERVERS = {
    "postgres",
    "postmaster",
    "pg_autoctl",
    "pg_ctl",
    "initdb",
    "pg_basebackup",
    "pgbench",
    "psql",
    "redis-server",
    "redis-cli",
    "runuser",
}


def temp_dir():
    return os.environ.get("TMPDIR") or "/tmp"


def pids():
    """Every process id in /proc."""
    return [entry for entry in os.listdir("/proc") if entry.isdigit()]


def processes():
    """pid -> (start time, comm, command line) for every process we can read."""
    found = {}
    for entry in pids():
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        # The fields after the parenthesised name: state is [0], start time is [19]. A
        # zombie (Z) or dead (X) process runs nothing: it only waits to be reaped.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            continue
        found[int(entry)] = (fields[19], comm, cmdline, int(fields[1]))
    return found


def ancestors():
    """This script's pid and every pid it was started from."""
    chain, pid = set(), os.getpid()
    while pid > 1:
        chain.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    return chain


def listeners():
    """(address, port) -> socket inode of every TCP socket in LISTEN."""
    found = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] != "0A":
                continue
            address, port = parts[1].split(":")
            found[(readable(address), int(port, 16))] = parts[9]
    return found


def readable(hex_address):
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    # IPv6: four little-endian 32-bit words.
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    joined = b"".join(words)
    if joined == bytes(16):
        return "::"
    if joined[:12] == bytes(10) + b"\xff\xff":
        return "::ffff:" + ".".join(str(b) for b in joined[12:])
    return ":".join(joined[i : i + 2].hex() for i in range(0, 16, 2))


def socket_owners():
    """socket inode -> pid holding it."""
    owners = {}
    for entry in pids():
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owners.setdefault(target[8:-1], int(entry))
    return owners


def temp_entries():
    try:
        return sorted(os.listdir(temp_dir()))
    except OSError:
        return []


def snapshot(path):
    state = {
        "processes": {str(p): v[0] for p, v in processes().items()},
        "listeners": [f"{a} {p}" for a, p in listeners()],
        "temp": temp_entries(),
    }
    with open(path, "w") as f:
        json.dump(state, f)
    print(
        f"snapshot: {len(state['processes'])} processes, {len(state['listeners'])} listening "
        f"sockets, {len(state['temp'])} entries in {temp_dir()}"
    )


def check(path, quiet=False):
    with open(path) as f:
        before = json.load(f)
    mine = ancestors()
    now = processes()
    problems = []
    new = {
        pid: v
        for pid, v in now.items()
        if pid not in mine and before["processes"].get(str(pid)) != v[0]
    }
    for pid, (_, comm, cmdline, ppid) in sorted(new.items()):
        if comm in SERVERS:
            problems.append(f"process {pid} ({comm}, parent {ppid}) still runs: {cmdline}")
    owners = socket_owners()
    old = set(before["listeners"])
    for (address, port), inode in sorted(listeners().items()):
        if f"{address} {port}" in old:
            continue
        pid = owners.get(inode)
        who = f"process {pid} ({now[pid][1]})" if pid in now else "an unknown process"
        scope = "loopback" if address.startswith("127.") or address == "::1" else "NOT loopback"
        problems.append(f"{address}:{port} ({scope}) is listening, held by {who}")
    for entry in sorted(set(temp_entries()) - set(before["temp"])):
        problems.append(f"{os.path.join(temp_dir(), entry)} was left behind")
    if problems:
        print("the test run left these behind:")
        for p in problems:
            print(f"  {p}")
        sys.exit(1)
    if not quiet:
        print("the test run left no server process, listening socket or temporary entry behind")


def main():
    args = sys.argv[1:]
    if args[:1] == ["snapshot"] and len(args) == 2:
        snapshot(args[1])
    elif args[:1] == ["check"] and len(args) in (2, 3) and args[2:] in ([], ["--quiet"]):
        check(args[1], quiet=args[2:] == ["--quiet"])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
