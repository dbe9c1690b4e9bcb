"""docker's ``--filter name=value`` flags, as the API takes them."""

from __future__ import annotations

from engine.errors import InvalidArgument


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument("bad format of filter (expected name=value)")
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters
