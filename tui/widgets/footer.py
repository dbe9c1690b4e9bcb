"""The key footer of every screen: compact, and without the palette's entry where the keys need the room."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

__all__ = ["KeyFooter", "PALETTE_WIDTH"]

PALETTE_WIDTH = 100
"""Narrower than this, ``^p Command palette`` leaves the footer (``?`` still names it): at 80 columns the
keys' own labels come first (they were cut to ``esc Bac▏``, ``q Qu▏``)."""


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= PALETTE_WIDTH
        if self.show_command_palette != wide:
            self.show_command_palette = wide
