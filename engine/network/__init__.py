"""Container networking: IPAM, bridges and veths (netlink), nftables NAT and published ports, embedded DNS.

The package stays light to import (the CLI parses ``-p`` with :mod:`.ports`, monitors use :mod:`.setup`).
The engine's half (networks, endpoints, the plan a container's monitor carries out) is the networks
service, :mod:`engine.services.networks`; nothing here imports it.
"""

from __future__ import annotations

__all__ = ["host_teardown"]


def host_teardown(root: str) -> list[str]:
    """Remove the bridges and nftables elements the data root ``root`` made (tests, uninstall)."""
    import os

    from . import bridge
    return bridge.teardown_root(os.path.abspath(root))
