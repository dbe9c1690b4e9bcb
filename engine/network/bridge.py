"""Linux bridges for Portside's networks: created on first use, found again by name, removed with the network.

Each bridge carries the alias ``portside:<data root>`` so what one data root made can be found and
removed (:func:`teardown_root`) without touching anything else on the host.
"""

from __future__ import annotations

import ipaddress
import os

from ..errors import EngineError
from . import nat
from .netlink import Netlink, if_index


def alias_for(root: str) -> str:
    return f"portside:{root}"


def exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def _sysctl(path: str, value: str) -> None:
    try:
        with open(path) as f:
            if f.read().strip() == value:
                return
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        pass


def ensure(name: str, subnet: str, gateway: str, internal: bool, root: str) -> None:
    """The bridge ``name`` with ``gateway`` on it, up, known to the nftables table."""
    if exists(name):
        return
    net = ipaddress.ip_network(subnet)
    # port elements into the subnet from before its bridge exists lead to no container: debris of a data
    # root that went without tidying up (the table is the host's), which would hand its ports to ours.
    # Listed now, deleted once the bridge is ours: elements added after it exists are other starts'.
    stale = nat.elements_into(str(net))
    try:
        with Netlink() as nl:
            try:
                nl.add_bridge(name, alias_for(root))
            except FileExistsError:
                return  # another process made it just now
            nl.add_address(if_index(name), gateway, net.prefixlen)
    except OSError as exc:
        raise EngineError(f"failed to create the bridge {name}: {exc.strerror}") from None
    _sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    # the host's own connections to 127.0.0.1:<published port> are DNAT'd out through the bridge
    _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    try:
        nat.add_network(name, str(net), internal)
    except EngineError:
        remove(name, str(net))
        raise
    nat.forget(stale)


def remove(name: str, subnet: str) -> None:
    if exists(name):
        try:
            with Netlink() as nl:
                nl.delete_link(name)
        except OSError:
            pass
    nat.remove_network(name, subnet)


def gc_orphans() -> list[str]:
    """Remove the bridges of data roots that no longer exist (a test's, a deleted root's): cheap to call often."""
    removed: list[str] = []
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return removed
    for name in names:
        if not (name.startswith("ps") or name.startswith("br-") or name.startswith("portside")):
            continue
        try:
            with open(f"/sys/class/net/{name}/ifalias") as f:
                alias = f.read().strip()
        except OSError:
            continue
        if alias.startswith("portside:/") and not os.path.exists(os.path.join(alias[len("portside:"):], "state.db")):
            removed += teardown_root(alias[len("portside:"):], only=name)
    return removed


def teardown_root(root: str, only: str | None = None) -> list[str]:
    """Remove every bridge (and its nftables elements) that the data root ``root`` made; returns their names."""
    removed = []
    alias = alias_for(root)
    for name in [only] if only else os.listdir("/sys/class/net"):
        try:
            with open(f"/sys/class/net/{name}/ifalias") as f:
                if f.read().strip() != alias:
                    continue
        except OSError:
            continue
        subnet = ""
        try:
            import subprocess
            out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", name], capture_output=True,
                                 text=True).stdout.split()
            if "inet" in out:
                subnet = str(ipaddress.ip_network(out[out.index("inet") + 1], strict=False))
        except (OSError, ValueError):
            pass
        remove(name, subnet)
        removed.append(name)
    return removed
