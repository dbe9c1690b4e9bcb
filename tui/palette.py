"""The command palette (ctrl+p or ``:``): every action with its key, and every theme."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from themes import THEMES

from .actions import ACTIONS, SCOPES, key_display

__all__ = ["PaletteHost", "PortsideCommands"]


class PaletteHost(Protocol):
    """What the palette needs of the app it runs in."""

    read_only: bool

    @property
    def keymap(self) -> dict[str, str]: ...

    def run_palette_action(self, binding_id: str) -> Awaitable[None]: ...

    def set_theme(self, name: str) -> None: ...


class PortsideCommands(Provider):
    """Actions from :data:`tui.actions.ACTIONS` (shown with their current key) and ``Theme: …``."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app: PaletteHost = self.app  # type: ignore[assignment]
        out: list[tuple[str, str, Callable[[], Any]]] = []
        for action in ACTIONS:
            if not action.palette:
                continue
            keys = key_display(app.keymap.get(action.id, action.keys))
            where = "" if action.scope == "app" else f" · {SCOPES[action.scope]}"
            if action.destructive and app.read_only:
                where += " · disabled (read-only)"
            out.append((f"{action.title}  [{keys}]", f"{action.id}{where}",
                        partial(app.run_palette_action, action.id)))
        for name in THEMES:
            out.append((f"Theme: {name}", "switch the colours (remembered in the config file)",
                        partial(app.set_theme, name)))
        return out

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(Text(title), callback, text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(f"{title} {help_text}")
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)

