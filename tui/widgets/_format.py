"""Cell text shared by the panes: docker's short ids, "… ago" and human sizes."""

from __future__ import annotations

import time

from ..units import human_size

__all__ = ["short_id", "ago", "human_size", "human_duration"]


def short_id(ident: str) -> str:
    """``sha256:4ed5…`` or a 64-hex id → the first 12 hex digits."""
    return ident.split(":", 1)[-1][:12]


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration (same wording as ``portside ps``)."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def ago(timestamp: float, now: float | None = None) -> str:
    if not timestamp:
        return "N/A"
    return human_duration((time.time() if now is None else now) - timestamp) + " ago"
