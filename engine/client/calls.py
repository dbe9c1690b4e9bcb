"""The calls every collection of the client makes: one API route each, through the transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

    from .transport import Body, Params

from ..errors import NotFound, NotImplementedByEngine
from .transport import Reply, Transport

KIND_WORDS = {"embedded": "an embedded engine", "daemon": "a Portside daemon without this route",
              "remote": "another Docker engine"}


class Caller:
    """What :class:`engine.client.Docker`'s collections use: the transport and the route calls."""

    transport: Transport

    async def _request(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                       headers: dict[str, str] | None = None) -> Reply:
        return await self.transport.request(method, path, params=params, body=body, headers=headers)

    async def _send(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                    headers: dict[str, str] | None = None) -> Reply:
        """A call whose status is the answer: the body is dropped."""
        reply = await self.transport.request(method, path, params=params, body=body, headers=headers)
        await reply.drain()
        return reply

    async def _json(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                    headers: dict[str, str] | None = None) -> Any:
        reply = await self.transport.request(method, path, params=params, body=body, headers=headers)
        return await reply.json()

    async def _lines(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                     headers: dict[str, str] | None = None) -> AsyncIterator[Any]:
        """A streamed answer's JSON lines, closed when the caller stops reading."""
        reply = await self.transport.request(method, path, params=params, body=body, headers=headers)
        try:
            async for item in reply.lines():
                yield item
        finally:
            await reply.close()

    async def _portside(self, what: str, method: str, path: str, *, params: Params | None = None,
                        body: Body = None) -> Any:
        """A Portside-only route (``/portside/…``): another Docker engine does not know it (404)."""
        try:
            return await self._json(method, path, params=params, body=body)
        except NotFound as exc:
            if str(exc) != "page not found":
                raise
            t = self.transport
            raise NotImplementedByEngine(f"{what} needs a Portside engine; {t.address} is "
                                         f"{KIND_WORDS.get(t.kind, t.kind)}") from None
