"""A one-row bar graph over a fixed time window, against a fixed scale: it tells the truth.

Textual's ``Sparkline`` scales itself to its data (0.6 % CPU drew as a nearly full bar) and spreads
whatever samples it has across its whole width (ten seconds looked like five minutes). Here each cell
is ``window / width`` seconds, the right edge is now, a sample lands in the cell of its time, and a
bar's height is its value against ``scale``, which the row's label states.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

__all__ = ["TimeGraph", "TimeAxis", "cells", "BARS"]

BARS = "▁▂▃▄▅▆▇█"


def cells(samples: Sequence[tuple[float, float]], now: float, window: float, width: int) -> list[float | None]:
    """``width`` cells over ``(now - window, now]``: the mean of the values sampled in each (its share
    of the time), None where no sample fell."""
    sums: list[float] = [0.0] * max(0, width)
    counts: list[int] = [0] * max(0, width)
    if width <= 0 or window <= 0:
        return [None] * max(0, width)
    start = now - window
    for when, value in samples:
        if when <= start or when > now + 1e-6:
            continue
        i = min(width - 1, int((when - start) / window * width))
        sums[i] += value
        counts[i] += 1
    return [total / count if count else None for total, count in zip(sums, counts)]


def bar(value: float, scale: float) -> str:
    """The block for ``value`` out of ``scale``: any non-zero value shows (▁), full scale is █."""
    if scale <= 0 or value <= 0:
        return BARS[0]
    level = math.ceil(min(1.0, value / scale) * len(BARS))
    return BARS[max(1, level) - 1]


class TimeGraph(Widget):
    """``graph.plot(samples, scale, now)``: ``samples`` are ``(time, value)`` pairs, oldest first."""

    DEFAULT_CSS = """
    TimeGraph {
        height: 1;
        width: 1fr;
        color: $primary;
        background: $boost;
        & > .time-graph--zero {
            color: $text-muted;
        }
    }
    """

    COMPONENT_CLASSES = {"time-graph--zero"}

    window: reactive[float] = reactive(300.0)

    def __init__(self, window: float = 300.0, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(TimeGraph.window, window)
        self._plot: tuple[tuple[tuple[float, float], ...], float, float] = ((), 1.0, 0.0)

    def plot(self, samples: Sequence[tuple[float, float]], scale: float, now: float) -> None:
        plot = (tuple(samples), scale, now)
        if plot != self._plot:
            self._plot = plot
            self.refresh()

    @property
    def samples(self) -> tuple[tuple[float, float], ...]:
        return self._plot[0]

    @property
    def scale(self) -> float:
        return self._plot[1]

    def column_values(self) -> list[float | None]:
        """What each cell shows (None: no sample in that cell's seconds)."""
        samples, _scale, now = self._plot
        return cells(samples, now, self.window, self.size.width)

    def render(self) -> Text:
        _samples, scale, _now = self._plot
        zero = self.get_component_rich_style("time-graph--zero")
        text = Text(no_wrap=True, overflow="crop")
        for value in self.column_values():
            if value is None:
                text.append(" ")
            elif value <= 0:
                text.append(BARS[0], zero)
            else:
                text.append(bar(value, scale))
        return text


class TimeAxis(Widget):
    """``5 min ago ········ now`` under the graphs, as wide as they are."""

    DEFAULT_CSS = """
    TimeAxis {
        height: 1;
        width: 1fr;
        color: $text-muted;
    }
    """

    def __init__(self, window: float = 300.0, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.window = window

    def render(self) -> Text:
        minutes = self.window / 60
        left = f"← {minutes:g} min ago" if minutes >= 1 else f"← {self.window:g} s ago"
        right = "now →"
        gap = self.size.width - len(left) - len(right)
        return Text(left + " " * gap + right if gap > 0 else right.rjust(self.size.width), no_wrap=True)
