"""The embedded DNS resolver of a container on a user-defined network (docker's 127.0.0.11).

The monitor makes two sockets: one bound to 127.0.0.11:53/udp *inside* the container's network
namespace, one unbound UDP socket in the *host's* namespace for forwarding (so the host's resolvers,
loopback ones included, are reachable as they are from the host). It then starts this module as a
small program with both (:func:`start`); queries wait in the socket until it runs, so the container
never waits for it. Names come from the networks' hosts files (``<root>/networks/<id>.hosts``,
``address name alias…``) and service files (``<id>.services``, same format, a name on several lines
answers several A records: a dnsrr service, ``tasks.<service>``), re-read when they change; A queries for them are answered, AAAA for them
get an empty answer, anything else goes to the host's nameservers from /etc/resolv.conf. The program
dies with its monitor (parent-death signal) or is killed by it.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing into the resolver
if TYPE_CHECKING:
    from typing import Any

UPSTREAM_TIMEOUT = 2.0


def start(nsfd: int, cfg: dict[str, Any]) -> int:
    """Bind the resolver's sockets and start it; returns its pid (a child of the caller)."""
    from .netlink import in_netns
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def bind_inside() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.11", 53))
        return s
    listen = in_netns(nsfd, bind_inside)
    lfd, ufd = listen.detach(), upstream.detach()
    project = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    argv = [sys.executable, "-I", "-S", "-c",
            f"import sys; sys.path.insert(0, {project!r}); from engine.network.dns import main; main(sys.argv)",
            str(lfd), str(ufd), "1" if cfg.get("forward") else "0"] + list(cfg.get("hosts") or [])
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            from engine.runtime import linux
            linux.set_pdeathsig(9)
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            low, high = sorted((lfd, ufd))
            os.closerange(3, low)
            os.closerange(low + 1, high)
            os.closerange(high + 1, 65536)
            os.set_inheritable(lfd, True)
            os.set_inheritable(ufd, True)
            os.execv(sys.executable, argv)
        finally:
            os._exit(127)
    os.close(lfd)
    os.close(ufd)
    return pid


def upstream_servers() -> list[str]:
    out = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
                    out.append(parts[1])
    except OSError:
        pass
    return out


class Names:
    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.stamp: tuple[tuple[int, int, int], ...] = ()
        self.table: dict[str, list[str]] = {}

    def lookup(self, name: str) -> list[str] | None:
        stamp = tuple(self._mtime(p) for p in self.paths)
        if stamp != self.stamp:
            self.stamp = stamp
            table: dict[str, list[str]] = {}
            for p in self.paths:
                try:
                    with open(p) as f:
                        for line in f:
                            parts = line.split()
                            for n in parts[1:]:
                                table.setdefault(n.lower(), []).append(parts[0])
                except OSError:
                    pass
            self.table = table
        return self.table.get(name.lower().rstrip("."))

    @staticmethod
    def _mtime(path: str) -> tuple[int, int, int]:
        """What tells a rewritten file apart: its mtime alone does not (two replacements within one clock
        tick of the file system keep it), its inode and size with it do."""
        try:
            st = os.stat(path)
        except OSError:
            return (0, 0, 0)
        return (st.st_mtime_ns, st.st_ino, st.st_size)


def parse_question(msg: bytes) -> tuple[str, int, int] | None:
    """(name, qtype, end offset) of the first question."""
    if len(msg) < 12:
        return None
    off = 12
    labels = []
    while off < len(msg):
        n = msg[off]
        off += 1
        if n == 0:
            break
        if n & 0xC0:
            return None
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    if off + 4 > len(msg):
        return None
    qtype = struct.unpack_from("!H", msg, off)[0]
    return ".".join(labels), qtype, off + 4


def answer(query: bytes, end: int, qtype: int, addresses: list[str]) -> bytes:
    qid, flags = struct.unpack_from("!HH", query, 0)
    rd = flags & 0x0100
    records = [a for a in addresses] if qtype == 1 else []
    header = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080, 1, len(records), 0, 0)
    body = query[12:end]
    for a in records:
        body += struct.pack("!HHHIH", 0xC00C, 1, 1, 600, 4) + socket.inet_aton(a)
    return header + body


def servfail(query: bytes, end: int, rcode: int = 2) -> bytes:
    qid, flags = struct.unpack_from("!HH", query, 0)
    return struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x0100) | 0x0080 | rcode, 1, 0, 0, 0) + query[12:end]


def main(argv: list[str]) -> None:
    listen = socket.socket(fileno=int(argv[1]))
    upstream = socket.socket(fileno=int(argv[2]))
    forward = argv[3] == "1"
    names = Names(argv[4:])
    servers = upstream_servers() if forward else []
    pending: dict[int, tuple[bytes, tuple[str, int], float]] = {}  # upstream id → (original id bytes, client, time)
    next_id = int.from_bytes(os.urandom(2), "big")
    while True:
        ready, _, _ = select.select([listen, upstream], [], [], 1.0)
        now = time.monotonic()
        for k in [k for k, v in pending.items() if now - v[2] > UPSTREAM_TIMEOUT]:
            del pending[k]
        if listen in ready:
            try:
                query, client = listen.recvfrom(4096)
            except OSError:
                continue
            q = parse_question(query)
            if q is None:
                continue
            name, qtype, end = q
            found = names.lookup(name)
            if found is not None:
                listen.sendto(answer(query, end, qtype, found), client)
            elif not servers:
                listen.sendto(servfail(query, end, 3 if not forward else 2), client)  # NXDOMAIN on internal
            else:
                next_id = (next_id + 1) & 0xFFFF
                pending[next_id] = (query[:2], client, now)
                try:
                    upstream.sendto(struct.pack("!H", next_id) + query[2:], (servers[0], 53))
                except OSError:
                    listen.sendto(servfail(query, end), client)
        if upstream in ready:
            try:
                reply, _src = upstream.recvfrom(65536)
            except OSError:
                continue
            if len(reply) < 2:
                continue
            entry = pending.pop(struct.unpack_from("!H", reply)[0], None)
            if entry is not None:
                listen.sendto(entry[0] + reply[2:], entry[1])
