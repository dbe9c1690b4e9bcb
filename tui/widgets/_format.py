"""Cell text shared by the panes: docker's short ids, "… ago" and human sizes (``human_size`` as ``docker images``
prints them, ``bytes_size`` as ``docker stats`` does)."""

from __future__ import annotations

import time

from ..units import bytes_size, human_duration, human_size

__all__ = ["short_id", "ago", "bytes_size", "human_size", "human_duration"]


def short_id(ident: str) -> str:
    """``sha256:4ed5…`` or a 64-hex id → the first 12 hex digits."""
    return ident.split(":", 1)[-1][:12]


def ago(timestamp: float, now: float | None = None) -> str:
    if not timestamp:
        return "N/A"
    return human_duration((time.time() if now is None else now) - timestamp) + " ago"
