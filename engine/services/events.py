"""The event stream (``docker events``): rows of the store's events table.

Events of this process wake a waiting subscriber at once; those of other processes (another CLI, a
container's monitor) arrive within 0.25 s, because the database is the source.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from .. import aio
from ..state import State


# actions with a detail after a colon (``health_status: healthy``): their bare name matches them all
PREFIX_ACTIONS = ("health_status", "exec_create", "exec_start")


def action_matches(action: str, values: list[str]) -> bool:
    """dockerd's ``event`` filter: exact, or by prefix when a value is one of :data:`PREFIX_ACTIONS`."""
    if any(v in PREFIX_ACTIONS for v in values):
        return any(action.startswith(v) for v in values)
    return action in values


class Events:
    """Records events and streams them to subscribers."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._subscribers: list[Any] = []  # asyncio.Event of each waiting subscriber

    def emit(self, type_: str, action: str, actor_id: str, **attrs: str) -> None:
        """Record one event shaped as the Docker API sends it, and wake this process's subscribers."""
        self.state.emit(type_, action, actor_id, attrs)
        self.wake()

    def wake(self) -> None:
        """Wake the subscribers: an event was written to the database by other code of this process."""
        for wake in list(self._subscribers):
            wake.set()

    def stream(self, since: float | None = None, until: float | None = None,
               filters: dict[str, list[str]] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Past events since ``since``, then new ones as they happen (until ``until``, if given). "New"
        counts from this call, not from the first read of the stream: an event recorded while the
        response head is on its way (a client's ``create`` right after it subscribed) is not lost."""
        return self._stream(self.state.last_event_seq(), since, until, filters)

    async def _stream(self, last: int, since: float | None, until: float | None,
                      filters: dict[str, list[str]] | None) -> AsyncIterator[dict[str, Any]]:
        def keep(ev: dict[str, Any]) -> bool:
            for key, values in (filters or {}).items():
                if key == "type" and ev.get("Type") not in values:
                    return False
                if key == "event" and not action_matches(str(ev.get("Action")), values):
                    return False
                if key == "container" and ev.get("Actor", {}).get("ID") not in values and \
                        ev.get("Actor", {}).get("Attributes", {}).get("name") not in values:
                    return False
            return True
        if since is not None:
            for ev in self.state.events_since(since, until):
                if keep(ev):
                    yield ev
        wake = None
        if aio.running_loop() is not None:
            import asyncio
            wake = asyncio.Event()
            self._subscribers.append(wake)
        try:
            while True:
                for seq, ev in self.state.events_after(last):
                    last = seq
                    if until is not None and ev.get("time", 0) > until:
                        return
                    if keep(ev):
                        yield ev
                if until is not None and time.time() >= until:
                    return
                pause = 0.25 if until is None else max(0.0, min(0.25, until - time.time()))
                if wake is None:
                    await aio.sleep(pause)
                else:
                    import asyncio
                    try:
                        await asyncio.wait_for(wake.wait(), pause)
                    except asyncio.TimeoutError:
                        pass
                    wake.clear()
        finally:
            if wake is not None:
                self._subscribers.remove(wake)
