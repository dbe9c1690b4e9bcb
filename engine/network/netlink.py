"""A minimal rtnetlink client: just what a container's network set-up needs, without spawning ``ip``.

Creating a veth pair whose peer lands in a network namespace (given as an fd), bringing links up,
adding an address and a default route: four or five netlink messages, well under a millisecond.
Everything raises :class:`OSError` with the kernel's errno.
"""

from __future__ import annotations

import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE = 16, 17, 20, 21, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD, IFLA_IFALIAS = 1, 3, 4, 10, 18, 28, 20
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
IFF_UP = 1
NLA_F_NESTED = 0x8000


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * ((4 - length % 4) % 4)


def _nested(kind: int, *attrs: bytes) -> bytes:
    return _attr(kind | NLA_F_NESTED, b"".join(attrs))


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, flags, change)


def _str(value: str) -> bytes:
    return value.encode() + b"\0"


class Netlink:
    """One NETLINK_ROUTE socket, bound in the network namespace current when it was made."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, payload: bytes) -> None:
        """Send one request and wait for its ack; raises OSError on a netlink error."""
        self.seq += 1
        header = struct.pack("=IHHII", 16 + len(payload), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, 0)
        self.sock.send(header + payload)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, mtype, _flags, seq, _pid = struct.unpack_from("=IHHII", data, off)
                if mtype == NLMSG_ERROR and seq == self.seq:
                    err = struct.unpack_from("=i", data, off + 16)[0]
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return
                off += (length + 3) & ~3

    # -- the operations ------------------------------------------------------------------------
    def add_veth(self, host_name: str, peer_name: str, peer_netns_fd: int, master: int = 0,
                 mtu: int = 0) -> None:
        """A veth pair: ``host_name`` here, up, enslaved to ``master``; ``peer_name`` in the netns, down
        (the kernel refuses to bring the peer up in the same message: set it up from inside)."""
        peer = _ifinfo() + _attr(IFLA_IFNAME, _str(peer_name)) + \
            _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd)) + \
            (_attr(IFLA_MTU, struct.pack("=I", mtu)) if mtu else b"")
        linkinfo = _nested(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, _str("veth")),
                           _nested(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer)))
        attrs = _attr(IFLA_IFNAME, _str(host_name)) + linkinfo
        if master:
            attrs += _attr(IFLA_MASTER, struct.pack("=I", master))
        if mtu:
            attrs += _attr(IFLA_MTU, struct.pack("=I", mtu))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _ifinfo(flags=IFF_UP, change=IFF_UP) + attrs)

    def add_bridge(self, name: str, alias: str = "") -> None:
        attrs = _attr(IFLA_IFNAME, _str(name)) + _nested(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, _str("bridge")))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _ifinfo(flags=IFF_UP, change=IFF_UP) + attrs)
        if alias:  # the kernel takes an alias only on an existing link
            self.request(RTM_NEWLINK, 0, _ifinfo(if_index(name)) + _attr(IFLA_IFALIAS, _str(alias)))

    def delete_link(self, name: str) -> None:
        self.request(RTM_DELLINK, 0, _ifinfo() + _attr(IFLA_IFNAME, _str(name)))

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, 0, _ifinfo(index, IFF_UP, IFF_UP))

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        addr = socket.inet_aton(address)
        net = int.from_bytes(addr, "big")
        bcast = (net | ((1 << (32 - prefixlen)) - 1)).to_bytes(4, "big") if prefixlen < 31 else addr
        payload = struct.pack("=BBBBI", socket.AF_INET, prefixlen, 0, 0, index) + \
            _attr(IFA_LOCAL, addr) + _attr(IFA_ADDRESS, addr) + _attr(IFA_BROADCAST, bcast)
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, payload)

    def delete_address(self, index: int, address: str, prefixlen: int) -> None:
        addr = socket.inet_aton(address)
        payload = struct.pack("=BBBBI", socket.AF_INET, prefixlen, 0, 0, index) + \
            _attr(IFA_LOCAL, addr) + _attr(IFA_ADDRESS, addr)
        self.request(RTM_DELADDR, 0, payload)

    def add_default_route(self, gateway: str, index: int) -> None:
        # rtmsg: family, dst_len, src_len, tos, table(main=254), protocol(boot=3), scope(universe=0), type(unicast=1)
        payload = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0) + \
            _attr(RTA_GATEWAY, socket.inet_aton(gateway)) + _attr(RTA_OIF, struct.pack("=I", index))
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, payload)


def in_netns(nsfd: int, fn, *args):  # type: ignore[no-untyped-def]
    """Run ``fn(*args)`` with this thread in the network namespace ``nsfd``, then come back."""
    from engine.runtime import linux
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns(nsfd, linux.CLONE_NEWNET)
        try:
            return fn(*args)
        finally:
            linux.setns(own, linux.CLONE_NEWNET)
    finally:
        os.close(own)


def new_netns() -> int:
    """A new, empty network namespace, held by the returned fd (this thread stays where it was)."""
    from engine.runtime import linux
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.unshare(linux.CLONE_NEWNET)
        try:
            return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            linux.setns(own, linux.CLONE_NEWNET)
    finally:
        os.close(own)


def if_index(name: str) -> int:
    """The link's index in this thread's network namespace (sysfs would show the mounter's)."""
    return socket.if_nametoindex(name)
