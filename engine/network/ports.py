"""Published ports: docker's ``-p`` grammar, and the host-port reservations a container's monitor holds.

``-p [ip:][host[-end]:]container[-end][/tcp|/udp]`` becomes ``ExposedPorts`` and ``PortBindings`` (as
docker's CLI sends them). At start the monitor binds every host port (a bound, non-listening socket:
nothing else on the host can take the port while the container runs, and it goes when the monitor
goes); the traffic itself is DNAT'd by nftables (:mod:`engine.network.nat`).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from ..errors import EngineError, InvalidArgument

if TYPE_CHECKING:
    import socket


def _range(text: str, spec: str, *, host: bool = False) -> tuple[int, int]:
    """``N`` or ``N-M``; a host port may be 0: any free port, as docker picks one."""
    lo, dash, hi = text.partition("-")
    try:
        a = int(lo)
        b = int(hi) if dash else a
    except ValueError:
        raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: invalid port format: '
                              f"'{text}'") from None
    if host and a == 0 and not dash:
        return 0, 0
    if not (0 < a <= 65535 and 0 < b <= 65535) or b < a:
        raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: invalid range format for '
                              f"--expose: {text}, error: port out of range" if a <= 65535 and b <= 65535 else
                              f'invalid argument "{spec}" for "-p, --publish" flag: invalid port format: '
                              f"'{text}'")
    return a, b


def parse_publish(specs: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """``-p`` values → (ExposedPorts, PortBindings), with docker's one-line errors for malformed ones."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        rest, slash, proto = spec.rpartition("/") if "/" in spec else (spec, "", "tcp")
        proto = proto.lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: invalid proto: {proto}')
        if proto == "sctp":
            raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: sctp is not supported '
                                  f"by this engine")
        host_ip = ""
        if rest.startswith("["):
            raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: IPv6 host addresses are '
                                  f"not supported by this engine")
        parts = rest.split(":")
        if len(parts) == 1:
            host, cont = "", parts[0]
        elif len(parts) == 2:
            host, cont = parts
        elif len(parts) == 3:
            host_ip, host, cont = parts
            import ipaddress  # only for a published host address (~1 ms to import)
            try:
                if host_ip:
                    ipaddress.IPv4Address(host_ip)
            except ValueError:
                raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: invalid IP address: '
                                      f"{host_ip}") from None
        else:
            raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: invalid port format: '
                                  f"'{spec}'")
        if not cont:
            raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: no port specified: '
                                  f"{spec}<empty>")
        c_lo, c_hi = _range(cont, spec)
        h_lo, h_hi = _range(host, spec, host=True) if host else (0, 0)
        if host and h_lo == 0:
            host = ""  # host port 0: an ephemeral port, like no host port at all
        if host and (h_hi - h_lo) != (c_hi - c_lo) and c_lo != c_hi:
            raise InvalidArgument(f'invalid argument "{spec}" for "-p, --publish" flag: invalid ranges specified '
                                  f"for container and host Ports: {cont} and {host}")
        for i, cport in enumerate(range(c_lo, c_hi + 1)):
            key = f"{cport}/{proto}"
            exposed[key] = {}
            if not host:
                hp = ""
            elif c_lo == c_hi and h_lo != h_hi:
                hp = f"{h_lo}-{h_hi}"  # any free port of the range
            else:
                hp = str(h_lo + i)
            bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": hp})
    return exposed, bindings


def plan(bindings: dict[str, list[dict[str, str]]]) -> list[dict[str, Any]]:
    """PortBindings → the list the monitor reserves: proto, host_ip, host port range, container port."""
    out = []
    for key, items in sorted(bindings.items()):
        port, _, proto = key.partition("/")
        for b in items or [{"HostIp": "", "HostPort": ""}]:
            hp = b.get("HostPort") or ""
            lo, _, hi = hp.partition("-")
            out.append({"proto": proto or "tcp", "host_ip": b.get("HostIp") or "", "port": int(port),
                        "host_lo": int(lo) if lo else 0, "host_hi": int(hi or lo) if lo else 0})
    return out


def reserve(p: dict[str, Any]) -> tuple[socket.socket, int]:
    import socket  # here: listing ports (every `ps`) needs no sockets
    """Bind the host port of ``p`` (any free one of its range, or an ephemeral one); docker's error when taken."""
    kind = socket.SOCK_STREAM if p["proto"] == "tcp" else socket.SOCK_DGRAM
    ip = p["host_ip"] or "0.0.0.0"
    candidates = list(range(p["host_lo"], p["host_hi"] + 1)) if p["host_lo"] else [0]
    last = None
    for port in candidates:
        s = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
        try:
            s.bind((ip, port))
            return s, s.getsockname()[1]
        except OSError as exc:
            s.close()
            last = exc
            if exc.errno == errno.EADDRNOTAVAIL:
                raise EngineError(f"driver failed programming external connectivity: Error starting userland "
                                  f"proxy: listen {p['proto']}4 {ip}:{port}: bind: cannot assign requested "
                                  f"address") from None
            if exc.errno == errno.EACCES:
                raise EngineError(f"driver failed programming external connectivity: listen {p['proto']} "
                                  f"{ip}:{port}: bind: permission denied") from None
    shown = f"{p['host_lo']}-{p['host_hi']}" if p["host_hi"] != p["host_lo"] else str(p["host_lo"])
    raise EngineError(f"driver failed programming external connectivity on endpoint: Bind for {ip}:{shown} "
                      f"failed: port is already allocated" if last is not None and last.errno == errno.EADDRINUSE
                      else f"driver failed programming external connectivity: bind {ip}:{shown}: {last}")


def docker_ports(published: list[dict[str, Any]], exposed: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``Ports`` list of a container summary (``GET /containers/json``)."""
    out: list[dict[str, Any]] = []
    seen = set()
    for p in published:
        out.append({"IP": p["host_ip"] or "0.0.0.0", "PrivatePort": p["port"], "PublicPort": p["host_port"],
                    "Type": p["proto"]})
        seen.add(f"{p['port']}/{p['proto']}")
    for key in exposed or {}:
        if key not in seen:
            port, _, proto = key.partition("/")
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    return out


def network_settings_ports(published: list[dict[str, Any]], exposed: dict[str, Any] | None) -> dict[str, Any]:
    """``NetworkSettings.Ports``: ``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "4000"}]}``."""
    out: dict[str, Any] = {k: None for k in exposed or {}}
    for p in published:
        out.setdefault(f"{p['port']}/{p['proto']}", None)
        key = f"{p['port']}/{p['proto']}"
        out[key] = (out[key] or []) + [{"HostIp": p["host_ip"] or "0.0.0.0", "HostPort": str(p["host_port"])}]
    return out


def format_ports(ports: list[dict[str, Any]]) -> str:
    """docker's PORTS column: ``0.0.0.0:4000->80/tcp, 53/udp``."""
    items = []
    for p in sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""), p.get("PublicPort", 0))):
        if p.get("PublicPort"):
            items.append(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}")
        else:
            items.append(f"{p['PrivatePort']}/{p['Type']}")
    return ", ".join(items)
