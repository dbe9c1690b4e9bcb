"""The tour's panel under the panes: this step's idea, what to do, and how far along the tour is."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..tour import STEPS, Tour
from ._paint import set_content, set_titles

__all__ = ["TourPanel"]


class TourPanel(Static):
    DEFAULT_CSS = """
    TourPanel {
        display: none;
        height: auto;
        max-height: 10;
        padding: 0 1;
        border: round $accent;
        border-title-color: $text-accent;
        border-subtitle-color: $text-muted;
        background: $surface;
        &.-active {
            display: block;
        }
    }
    """

    def show_tour(self, tour: Tour | None) -> None:
        """Show ``tour``'s step (or hide the panel); repaints only what changed, so it can run every tick."""
        self.set_class(tour is not None, "-active")
        if tour is None:
            return
        step = tour.step
        total = len(STEPS)
        if step is None:
            set_titles(self, f"Tour · done ({total}/{total})", "T closes the tour")
            set_content(self, Text.assemble(
                ("You built an image, ran it, watched it, cleaned up, and ran it as a self-healing service. ",
                 "bold"),
                "Every action you took is a portside command (see the line below the panes); "
                "? lists every key, ctrl+p every action. ", tour.finished_text()))
            return
        set_titles(self, f"Tour · step {tour.index + 1}/{total}: {step.title}", "] skips a step · T ends the tour")
        set_content(self, Text.assemble(tour.text(step.explain), "\n", ("→ ", "bold"),
                                        (tour.text(step.todo), "bold")))
