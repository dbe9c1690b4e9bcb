"""Which engine the dashboard talks to, and the banner that says the connection is lost."""

from __future__ import annotations

from textual.widgets import Static

from ._paint import set_content

__all__ = ["ConnectionBanner", "engine_label"]


def engine_label(kind: str, address: str) -> str:
    """For the header: the embedded engine and its data root, ``portside daemon at unix://…``, or the
    address of another Docker engine."""
    if kind == "daemon":
        return f"portside daemon at {address}"
    return address or kind


class ConnectionBanner(Static):
    """One line under the header while the engine does not answer; hidden otherwise."""

    DEFAULT_CSS = """
    ConnectionBanner {
        display: none;
        height: 1;
        padding: 0 1;
        background: $error;
        color: $text;
        text-style: bold;
        &.-lost {
            display: block;
        }
    }
    """

    def show_lost(self, engine: str | None, *, ever_connected: bool = True) -> None:
        """Say that ``engine`` (its :func:`engine_label`) is unreachable, or hide the banner (None)."""
        self.set_class(engine is not None, "-lost")
        if engine is not None:
            set_content(self, f"Lost the connection to {engine}; reconnecting…" if ever_connected
                        else f"Cannot connect to {engine}; retrying…")

    @property
    def lost(self) -> bool:
        return self.has_class("-lost")
