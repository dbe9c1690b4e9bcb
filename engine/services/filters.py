"""The matchers behind the Engine API's ``filters`` parameter, shared by every listing and prune."""

from __future__ import annotations

import re

from ..errors import InvalidArgument


def all_labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    """docker's ``label=key`` / ``label=key=value`` filters, all of them."""
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True


def labels_pass(labels: dict[str, str], filters: dict[str, list[str]]) -> bool:
    """docker's ``label`` (all must match) and ``label!`` (none may match) filters over ``labels``."""
    if filters.get("label") and not all_labels_match(labels, filters["label"]):
        return False
    return not any(all_labels_match(labels, [f]) for f in filters.get("label!", []))


def pattern_in(pattern: str, text: str) -> bool:
    """docker's ``name`` filters: the value is a regular expression searched in the name (a value
    that is not a valid expression is looked for as it is)."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return pattern in text


def truth(filters: dict[str, list[str]], key: str) -> bool | None:
    """A boolean filter (``dangling=true``): its last value, None when absent; anything but
    true/false/1/0 is dockerd's ``invalid filter 'key=value'``."""
    result = None
    for value in filters.get(key, []):
        if value.lower() not in ("1", "true", "0", "false"):
            raise InvalidArgument(f"invalid filter '{key}={value}'")
        result = value.lower() in ("1", "true")
    return result
