"""Container networking: IPAM, bridges and veths (netlink), nftables NAT and published ports, embedded DNS.

The package stays light to import (the CLI parses ``-p`` with :mod:`.ports`, monitors use :mod:`.setup`);
the engine's half, :class:`NetworksMixin`, lives in :mod:`.service` and loads when first asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NetworksMixin", "host_teardown", "default_bridge_name", "PREDEFINED", "DNS_ADDRESS"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import service
        return getattr(service, name)
    raise AttributeError(f"module 'engine.network' has no attribute {name!r}")
