"""Set a title or a label only when it changes: Textual repaints the whole widget on every assignment,
and the panes reassign theirs on every tick."""

from __future__ import annotations

from typing import Any

from textual.widget import Widget
from textual.widgets import Static

__all__ = ["set_titles", "set_content"]


def set_titles(widget: Widget, title: str | None = None, subtitle: str | None = None) -> None:
    if title is not None and widget.border_title != title:
        widget.border_title = title
    if subtitle is not None and widget.border_subtitle != subtitle:
        widget.border_subtitle = subtitle


def set_content(widget: Static, content: Any) -> None:
    if str(widget.content) != str(content):
        widget.update(content)
