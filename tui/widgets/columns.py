"""Fit a table's columns into the width there is: columns give way by priority, never the important ones.

A column is fixed (its cells never get wider, like ``CPU %``) or flexible (``NAME``: as wide as its
longest cell, down to a minimum before anything is clipped). When even the minimums do not fit, whole
columns go, least important first; what is left then shares the width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Column", "plan_columns", "CELL_PADDING"]

CELL_PADDING = 2
"""DataTable draws one blank cell on each side of a column."""


@dataclass(frozen=True)
class Column:
    name: str
    minimum: int
    """Flexible columns: clipped no narrower than this. Fixed columns: their width (or their header's)."""
    maximum: int = 0
    """Flexible columns only: never wider than this (0: fixed)."""
    drop: int = 0
    """0: always shown; otherwise dropped in this order (1 first) when the minimums do not fit."""
    enough: int = 0
    """Always-shown flexible columns: the width at which they read well. Other columns are dropped
    before one of these gets less (``STATUS``: ``● Exited (137) 5 wee…``); past it, they only grow
    once the optional columns have their natural width."""
    replaces: str = ""
    """Shown in place of this column's more detailed twin when that one is dropped (``MEM``)."""

    @property
    def fixed(self) -> bool:
        return not self.maximum


def plan_columns(columns: Sequence[Column], natural: Mapping[str, int], available: int) -> dict[str, int]:
    """Column name → cell width, in ``columns`` order, for a table ``available`` cells wide.

    ``natural`` is each column's longest cell (header included; a fixed column is never narrower). A
    column whose ``replaces`` twin is shown stays hidden. Columns are dropped, least important first,
    while a column that would outlive the next drop is clipped (below its ``enough`` for the always-shown
    ones, below its natural width for the others). Width left over stays free."""
    levels = [0, *sorted({c.drop for c in columns if c.drop})]
    plan: dict[str, int] = {}
    for index, level in enumerate(levels):
        shown = _shown(columns, level)
        widths = {c.name: max(c.minimum, natural.get(c.name, 0)) if c.fixed
                  else min(natural.get(c.name, c.minimum), c.minimum) for c in shown}
        extra = available - sum(widths.values()) - CELL_PADDING * len(widths)
        plan = widths
        if extra < 0:
            continue
        important = [c for c in shown if not c.fixed and not c.drop]
        optional = [c for c in shown if not c.fixed and c.drop]
        wants = {c.name: min(natural.get(c.name, 0), c.enough or c.maximum) for c in important}
        wants.update({c.name: min(natural.get(c.name, 0), c.maximum) for c in optional})
        extra = _grow(important, widths, wants, extra)
        extra = _grow(optional, widths, natural, extra)
        _grow(important, widths, natural, extra)
        if index + 1 == len(levels):
            return widths
        survivors = {c.name for c in _shown(columns, levels[index + 1])}
        if all(widths[name] >= want for name, want in wants.items() if name in survivors):
            return widths
    return plan  # even the fewest columns do not fit: the table clips the last


def _shown(columns: Sequence[Column], level: int) -> list[Column]:
    kept = [c for c in columns if not c.drop or c.drop > level]
    names = {c.name for c in kept}
    return [c for c in kept if not (c.replaces and c.replaces in names)]


def _grow(shown: list[Column], widths: dict[str, int], natural: Mapping[str, int], extra: int) -> int:
    """Share ``extra`` among ``shown``, each up to its natural width (capped at its maximum), fairly:
    short columns are shown whole first, the longest ones share what is left. Returns what is left."""
    wants = {c.name: max(0, min(natural.get(c.name, 0), c.maximum) - widths[c.name]) for c in shown}
    order = sorted(wants, key=lambda name: wants[name])
    for i, name in enumerate(order):
        give = min(wants[name], extra // (len(order) - i))
        widths[name] += give
        extra -= give
    return extra
