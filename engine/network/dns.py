"""The embedded DNS resolver of a container on a user-defined network (docker's 127.0.0.11).

The monitor makes two sockets (:func:`bind`): one bound to 127.0.0.11:53/udp *inside* the container's
network namespace, one unbound UDP socket in the *host's* namespace for forwarding (so the host's
resolvers, loopback ones included, are reachable as they are from the host), and serves them from its
own event loop (:class:`Resolver`): no process per container, and queries wait in the socket while the
monitor is busy, so the container never sees them lost. Names come from the networks' hosts files
(``<root>/networks/<id>.hosts``, ``address name alias…``) and service files (``<id>.services``, same
format, a name on several lines answers several A records: a dnsrr service, ``tasks.<service>``),
re-read when they change; A queries for them are answered, AAAA for them get an empty answer, anything
else goes to the host's nameservers from /etc/resolv.conf.
"""

from __future__ import annotations

import _socket as socket  # not socket.py: its enums cost the monitor 1.3 MB
import os
import struct
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing into the resolver
if TYPE_CHECKING:
    from typing import Any

UPSTREAM_TIMEOUT = 2.0


def bind(nsfd: int) -> tuple[int, int]:
    """The resolver's two sockets: (fd bound to 127.0.0.11:53/udp inside the namespace ``nsfd``, fd of an
    unbound UDP socket in the caller's namespace for forwarding). The caller owns both fds."""
    from .netlink import in_netns
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def bind_inside() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.11", 53))
        return s
    try:
        listen = in_netns(nsfd, bind_inside)
    except BaseException:
        upstream.close()
        raise
    return listen.detach(), upstream.detach()


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


class Resolver:
    """A container's resolver, served by its monitor's event loop (no process of its own): the two
    sockets of :func:`bind` (duplicated: the monitor keeps and closes the originals), the names of
    ``hosts`` files, and the queries sent upstream and not yet answered."""

    def __init__(self, listen_fd: int, upstream_fd: int, forward: bool, hosts: list[str]) -> None:
        self.listen = socket.socket(fileno=os.dup(listen_fd))
        self.upstream = socket.socket(fileno=os.dup(upstream_fd))
        self.listen.setblocking(False)
        self.upstream.setblocking(False)
        self.forward = forward
        self.names = Names(hosts)
        self.servers = upstream_servers() if forward else []
        self.pending: dict[int, tuple[bytes, tuple[str, int], float]] = {}  # upstream id → (id, client, time)
        self.next_id = int.from_bytes(os.urandom(2), "big")

    @property
    def fds(self) -> tuple[int, int]:
        return self.listen.fileno(), self.upstream.fileno()

    def handle(self, fd: int) -> None:
        """Answer what has arrived on ``fd`` (one of :attr:`fds`), without blocking."""
        now = time.monotonic()
        for k in [k for k, v in self.pending.items() if now - v[2] > UPSTREAM_TIMEOUT]:
            del self.pending[k]
        for _ in range(64):  # a burst is answered in one go; the rest waits for the next wake-up
            try:
                if fd == self.listen.fileno():
                    query, client = self.listen.recvfrom(4096)
                    self._query(query, client, now)
                else:
                    reply, _src = self.upstream.recvfrom(65536)
                    self._reply(reply)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue

    def _query(self, query: bytes, client: tuple[str, int], now: float) -> None:
        q = parse_question(query)
        if q is None:
            return
        name, qtype, end = q
        found = self.names.lookup(name)
        if found is not None:
            self.listen.sendto(answer(query, end, qtype, found), client)
        elif not self.servers:
            self.listen.sendto(servfail(query, end, 3 if not self.forward else 2), client)  # NXDOMAIN: internal
        else:
            self.next_id = (self.next_id + 1) & 0xFFFF
            self.pending[self.next_id] = (query[:2], client, now)
            try:
                self.upstream.sendto(struct.pack("!H", self.next_id) + query[2:], (self.servers[0], 53))
            except OSError:
                self.listen.sendto(servfail(query, end), client)

    def _reply(self, reply: bytes) -> None:
        if len(reply) < 2:
            return
        entry = self.pending.pop(struct.unpack_from("!H", reply)[0], None)
        if entry is not None:
            self.listen.sendto(entry[0] + reply[2:], entry[1])

    def close(self) -> None:
        self.listen.close()
        self.upstream.close()
