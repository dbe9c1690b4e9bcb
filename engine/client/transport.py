"""The seam between the client and an engine.

A transport answers ``call(name, **kwargs)`` (one result) and ``stream(name, **kwargs)`` (an async
iterator). :class:`LocalTransport` calls an in-process :class:`engine.engine.Engine`; an HTTP transport
to a Docker Engine API endpoint plugs in at the same place. Lower-layer failures are translated here,
once, into :mod:`engine.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..config import default_root
from ..errors import EngineError


class BaseTransport:
    kind: str = "embedded"
    """Which engine this is: ``embedded`` (in this process), ``daemon`` (a portside daemon), ``remote``."""
    address: str = "embedded engine"
    """Where it is, for people: ``embedded engine (/var/lib/portside)``, ``unix:///run/portside/portside.sock``."""

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        raise EngineError(f"{type(self).__name__} cannot {name}")

    def stream(self, name: str, /, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise EngineError(f"{type(self).__name__} cannot stream {name}")


class LocalTransport(BaseTransport):
    """Runs the engine in this process (the embedded default)."""

    kind = "embedded"

    def __init__(self, root: str | None = None, engine: Any = None) -> None:
        self.root = root
        self.engine = engine
        self._owned = engine is None
        self.address = f"embedded engine ({root or default_root()})"

    async def open(self) -> None:
        if self.engine is None:
            from ..engine import Engine
            try:
                self.engine = Engine(self.root)
                self.engine.reconcile()
            except OSError as exc:
                raise EngineError(f"cannot open the data root {self.root or ''}: {exc.strerror}") from exc

    async def close(self) -> None:
        if self._owned and self.engine is not None:
            self.engine.close()
            self.engine = None

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        try:
            return await getattr(self.engine, name)(*args, **kwargs)
        except EngineError:
            raise
        except OSError as exc:
            raise EngineError(f"{name.replace('_', ' ')}: {exc.strerror or exc}"
                              + (f": {exc.filename}" if exc.filename else "")) from exc

    async def stream(self, name: str, /, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        try:
            async for item in getattr(self.engine, name)(*args, **kwargs):
                yield item
        except EngineError:
            raise
        except OSError as exc:
            raise EngineError(f"{name.replace('_', ' ')}: {exc.strerror or exc}") from exc
