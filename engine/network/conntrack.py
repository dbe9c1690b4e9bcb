"""Forgetting the connection-tracking entries of backends that left a service (ctnetlink, no ``conntrack``).

The balancer DNATs a flow's first packet; the kernel's conntrack entry then carries every later packet
of that flow to the same backend. For UDP a "flow" is any run of datagrams between the same two
address:port pairs with gaps under the UDP timeout (30 s, 120 s once it has seen replies): a client that
keeps sending from one socket (DNS, syslog, game and metrics clients) would keep sending to a replica
that is gone, long after the balancer dropped it. :func:`forget` deletes the UDP entries whose reply comes
from one of the given addresses, so the flow's next datagram is balanced again, to a live replica.

One dump of the conntrack table per address (``IPCTNL_MSG_CT_GET``, ``NLM_F_DUMP``, filtered by the kernel
where it can) and one delete per entry found, each naming the entry by its original tuple as the kernel
sent it.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_DELETE = 1, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY = 1, 2
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC = 1
CTA_PROTO_NUM = 1
CTA_FILTER, CTA_FILTER_REPLY_FLAGS = 25, 2
CTA_FILTER_F_IP_SRC, CTA_FILTER_F_PROTO_NUM = 1 << 0, 1 << 3
NLA_TYPE_MASK, NLA_F_NESTED = 0x3FFF, 0x8000


def _attrs(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(type, payload, the whole attribute) of the netlink attributes at the top of ``data``."""
    off = 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            return
        yield kind & NLA_TYPE_MASK, data[off + 4:off + length], data[off:off + length]
        off += (length + 3) & ~3


def _tuple(payload: bytes) -> tuple[str, int]:
    """(source address, l4 protocol number) of a CTA_TUPLE_* payload."""
    src, proto = "", 0
    for kind, value, _ in _attrs(payload):
        if kind == CTA_TUPLE_IP:
            for k, v, _ in _attrs(value):
                if k == CTA_IP_V4_SRC and len(v) == 4:
                    src = socket.inet_ntoa(v)
        elif kind == CTA_TUPLE_PROTO:
            for k, v, _ in _attrs(value):
                if k == CTA_PROTO_NUM and v:
                    proto = v[0]
    return src, proto


class _Socket:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.seq = 0
        self.error = 0  # the errno of the last request the kernel refused (0: none)

    def send(self, msg: int, flags: int, attrs: bytes = b"") -> int:
        self.seq += 1
        self.error = 0
        body = struct.pack("=BBH", socket.AF_INET, 0, 0) + attrs  # nfgenmsg: family, version 0, res_id
        header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_CTNETLINK << 8) | msg,
                             flags | NLM_F_REQUEST, self.seq, 0)
        self.sock.send(header + body)
        return self.seq

    def replies(self, seq: int) -> Iterator[bytes]:
        """The payloads (after nfgenmsg) answering ``seq``, until its DONE or error (an error of the
        request itself, such as an entry that is gone already, ends it quietly)."""
        while True:
            data = self.sock.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                length, mtype, _flags, mseq, _pid = struct.unpack_from("=IHHII", data, off)
                if length < 16:
                    return
                if mseq == seq:
                    if mtype == NLMSG_ERROR and off + 20 <= len(data):
                        self.error = -struct.unpack_from("=i", data, off + 16)[0]
                    if mtype in (NLMSG_DONE, NLMSG_ERROR):
                        return
                    yield data[off + 20:off + length]
                off += (length + 3) & ~3

    def close(self) -> None:
        self.sock.close()


def _attr(kind: int, value: bytes, nested: bool = False) -> bytes:
    data = struct.pack("=HH", 4 + len(value), kind | (NLA_F_NESTED if nested else 0)) + value
    return data + b"\0" * (-len(data) % 4)


def _reply_filter(address: str, proto: int) -> bytes:
    """A dump's kernel-side filter (``CTA_FILTER``, Linux 5.8+): only the entries whose replies come
    from ``address`` over ``proto``. An older kernel ignores it and dumps everything (the caller checks
    each entry anyway)."""
    tuple_ = _attr(CTA_TUPLE_REPLY, _attr(CTA_TUPLE_IP, _attr(CTA_IP_V4_SRC, socket.inet_aton(address)), True)
                   + _attr(CTA_TUPLE_PROTO, _attr(CTA_PROTO_NUM, bytes([proto])), True), True)
    flags = _attr(CTA_FILTER_REPLY_FLAGS, struct.pack("=I", CTA_FILTER_F_IP_SRC | CTA_FILTER_F_PROTO_NUM))
    return tuple_ + _attr(CTA_FILTER, flags, True)


def forget(addresses: Iterable[str], proto: int = socket.IPPROTO_UDP) -> int:
    """Delete the conntrack entries (UDP by default) whose replies come from ``addresses``; how many.

    One dump per address, filtered by the kernel: a table full of other flows (a busy service's TCP
    connections in TIME_WAIT, 120 s each) costs the kernel's walk, not a parse of each entry here."""
    gone = set(addresses)
    if not gone:
        return 0
    s = _Socket()
    try:
        doomed: list[bytes] = []
        for address in sorted(gone):
            payloads = list(s.replies(s.send(IPCTNL_MSG_CT_GET, NLM_F_DUMP, _reply_filter(address, proto))))
            if s.error:  # a kernel that refuses the filter: the whole table, checked here
                payloads = list(s.replies(s.send(IPCTNL_MSG_CT_GET, NLM_F_DUMP)))
            for payload in payloads:
                attrs = {k: (v, whole) for k, v, whole in _attrs(payload)}
                if CTA_TUPLE_REPLY not in attrs or CTA_TUPLE_ORIG not in attrs:
                    continue
                src, l4 = _tuple(attrs[CTA_TUPLE_REPLY][0])
                if src == address and l4 == proto:
                    doomed.append(attrs[CTA_TUPLE_ORIG][1])  # the entry named by its original tuple, as sent
        for orig in doomed:
            for _ in s.replies(s.send(IPCTNL_MSG_CT_DELETE, NLM_F_ACK, orig)):
                pass
        return len(doomed)
    finally:
        s.close()
