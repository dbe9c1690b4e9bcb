"""Awaitables that work with or without a running event loop.

The dashboard drives the engine from asyncio. The CLI drives most commands' coroutines directly
(``coro.send(None)``), because importing asyncio costs ~25 ms, a fifth of a short command. Engine
code that has to wait uses these helpers instead of asyncio's, so both drivers work: on a loop they
yield to it; without one they block, which is what a one-shot command wants anyway.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


def running_loop() -> Any:
    """The running asyncio loop, or None (without importing asyncio)."""
    aio = sys.modules.get("asyncio")
    if aio is None:
        return None
    return aio._get_running_loop()


async def sleep(seconds: float) -> None:
    if running_loop() is None:
        time.sleep(seconds)
        return
    import asyncio
    await asyncio.sleep(seconds)


async def readable(fd: int, timeout: float | None = None) -> bool:
    """Wait until ``fd`` is readable (a pipe with data or EOF, an exited pidfd); False on timeout."""
    loop = running_loop()
    if loop is None:
        import select  # loaded by the waits that use it: a command over a socket has none
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    import asyncio
    done: asyncio.Future[bool] = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(True)
    loop.add_reader(fd, wake)
    try:
        return await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


async def to_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work off the loop; without a loop, just run it."""
    if running_loop() is None:
        return func(*args, **kwargs)
    import asyncio
    return await asyncio.to_thread(func, *args, **kwargs)


def run_sync(coro: Any) -> Any:
    """Run an engine coroutine to its end from synchronous code.

    Without a loop the engine's waits block, so one ``send`` finishes it. Inside a running loop (the
    dashboard), it runs in a helper thread, which has no loop, and this thread waits for it.
    """
    def drive() -> Any:
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        coro.close()
        raise RuntimeError("an engine coroutine waited on an event loop")
    if running_loop() is None:
        return drive()
    import threading
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = drive()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
    t = threading.Thread(target=work, name="portside-sync")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
