"""The header names the engine the dashboard talks to; a lost connection shows a banner, and the dashboard
reconnects by itself.

Drawn against a scripted transport (fake_engine) that stops answering as the HTTP transport does for a dead
socket (engine.errors.ConnectionLost from every call) and later answers again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_engine import FakeTransport, feed_stats, host_point
from textual.pilot import Pilot
from textual.widgets._header import HeaderTitle

from engine.client import Docker
from engine.client.transport import Reply
from engine.errors import ConnectionLost
from engine_helpers import toasts, until
from tui.app import PortsideApp
from tui.widgets.connection_banner import ConnectionBanner, engine_label

SOCKET = "unix:///run/portside/portside.sock"


class FlakyTransport(FakeTransport):
    """A portside daemon's socket that can go away (``down``) and come back."""

    kind = "daemon"
    address = SOCKET

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0
        """Calls refused while down."""

    def _answer(self) -> None:
        if self.down:
            self.refused += 1
            raise ConnectionLost(f"cannot connect to the Docker engine at {self.address}: connection refused",
                                 address=self.address)

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        self._answer()
        return await super().request(method, path, **kwargs)


def header_text(app: PortsideApp) -> str:
    return str(app.screen.query_one(HeaderTitle).render())


def banner(app: PortsideApp) -> ConnectionBanner:
    return app.screen.query_one(ConnectionBanner)


def test_labels() -> None:
    """The header's words for each kind of engine (the transport's kind and address)."""
    assert engine_label("embedded", "embedded engine (/var/lib/portside)") == "embedded engine (/var/lib/portside)"
    assert engine_label("daemon", SOCKET) == f"portside daemon at {SOCKET}"
    assert engine_label("remote", "tcp://10.0.0.7:2376") == "tcp://10.0.0.7:2376"


def test_the_embedded_engine_names_its_data_root(tmp_path: Path) -> None:
    transport = Docker(root=str(tmp_path / "data")).transport
    assert (transport.kind, transport.address) == ("embedded", f"embedded engine ({tmp_path / 'data'})")
    assert PortsideApp(root=str(tmp_path / "data")).engine_label == f"embedded engine ({tmp_path / 'data'})"


async def test_header_names_the_daemon_and_a_lost_connection_shows_a_banner() -> None:
    transport = FlakyTransport()
    app = PortsideApp(docker=Docker(transport=transport), refresh_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.data_loaded)
        assert f"portside daemon at {SOCKET}" in header_text(app)
        assert not banner(app).display and banner(app).region.height == 0

        transport.down = True
        app.action_refresh()  # any call: here the lists, as the fallback timer makes them every 2 s
        await until(pilot, lambda: banner(app).lost)
        await pilot.pause()
        assert banner(app).display and banner(app).region.height == 1
        assert str(banner(app).render()) == f"Lost the connection to portside daemon at {SOCKET}; reconnecting…"
        assert not any("connection refused" in t for t in toasts(app))  # the banner says it, once
        retried = transport.refused
        await until(pilot, lambda: transport.refused > retried, timeout=10)  # the app keeps trying by itself
        assert banner(app).lost

        mark = len(transport.calls)
        transport.down = False
        await until(pilot, lambda: not banner(app).lost, timeout=10)  # the next retry answers
        await pilot.pause()
        assert not banner(app).display and banner(app).region.height == 0
        assert f"Connected again to portside daemon at {SOCKET}" in toasts(app)
        await until(pilot, lambda: "GET /events" in transport.calls[mark:])  # it follows the events again


async def test_a_user_action_on_a_lost_connection_says_why_too() -> None:
    """What the user asked for fails with a notification as well as the banner."""
    transport = FlakyTransport()
    app = PortsideApp(docker=Docker(transport=transport), refresh_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.data_loaded)
        transport.down = True
        app.inspect_object("image", "nginx:alpine", "Image nginx:alpine")
        await until(pilot, lambda: banner(app).lost)
        await until(pilot, lambda: any("connection refused" in t for t in toasts(app)))


async def test_an_engine_never_reached_says_so() -> None:
    """At start, a socket that does not answer: "Cannot connect", and the lists come once it answers."""
    transport = FlakyTransport()
    transport.down = True

    async def refuse_open() -> None:
        transport._answer()

    transport.open = refuse_open  # type: ignore[method-assign]
    app = PortsideApp(docker=Docker(transport=transport), refresh_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: banner(app).lost)
        assert str(banner(app).render()) == f"Cannot connect to portside daemon at {SOCKET}; retrying…"
        transport.down = False
        await until(pilot, lambda: app.data_loaded and not banner(app).lost, timeout=10)
        assert f"Connected to portside daemon at {SOCKET}" in toasts(app)


def test_lost_connection_snapshot(snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """The banner as drawn: one line under the header, the panes below it."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)  # the config file is the test's own (conftest): default theme
    transport = FlakyTransport()

    async def lose(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, PortsideApp)
        await until(pilot, lambda: app.data_loaded and app.samples_taken > 0)
        feed_stats(app)  # drawn the same every run
        transport.down = True
        app.refresh_data()
        await until(pilot, lambda: banner(app).lost)
        app.clear_notifications()
        await pilot.pause()

    app = PortsideApp(docker=Docker(transport=transport), refresh_interval=3600, host_probe=host_point)
    assert snap_compare(app, terminal_size=(100, 24), run_before=lose)
