"""The seam between the client and an engine: the Docker Engine API, carried by a transport.

A :class:`Transport` answers ``request(method, path, params=…, body=…)`` with a :class:`Reply`, and
``hijack(…)`` (attach, exec start) with a :class:`Duplex`, a two-way byte stream. :class:`LocalTransport`
is the embedded default: it opens the engine in this process and calls :mod:`engine.api`'s handlers
directly, with no socket and no JSON encoding where the Python object can be handed over as it is.
The socket transports (``engine.client.http``) speak the same contract over HTTP.

Lower-layer failures are translated here, once: an answer with status >= 400 becomes
:func:`engine.errors.from_status`'s error; an unreachable engine, :class:`engine.errors.ConnectionLost`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the blocks)

from ..errors import EngineError, from_status

if TYPE_CHECKING:
    import asyncio

    from ..api.routes import API
    from ..api.server import Response

if TYPE_CHECKING:
    from typing import IO, Any, Protocol

    Params = dict[str, Any]
    Body = Any  # a JSON-able object, bytes, a binary file, or an async iterator of bytes


def query_values(params: Params | None) -> dict[str, list[str]]:
    """The query as the API reads it: bool → "1"/"0", dict and list → JSON, a tuple → the key repeated
    once per item (docker's ``t=a&t=b``), None dropped, anything else as ``str``."""
    query: dict[str, list[str]] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, tuple):
            query[key] = [_text(v) for v in value]
        else:
            query[key] = [_text(value)]
    return query


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def split_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[Any]:
    """Decoded JSON lines from a byte stream (docker's JSON-lines progress, events, stats)."""
    async def lines() -> AsyncIterator[Any]:
        buf = b""
        async for chunk in chunks:
            buf += chunk
            *whole, buf = buf.split(b"\n")
            for line in whole:
                if line.strip():
                    yield json.loads(line)
        if buf.strip():
            yield json.loads(buf)
    return lines()


class Reply:
    """One answer. ``status``, ``headers`` (lower-case keys); the body once, as one of :meth:`json`,
    :meth:`read`, :meth:`chunks` or :meth:`lines`."""

    status: int = 200
    headers: dict[str, str]

    async def json(self) -> Any:
        """The body decoded from JSON (None when empty)."""
        data = await self.read()
        return json.loads(data) if data.strip() else None

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.chunks()])

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it comes."""
        raise NotImplementedError

    def lines(self) -> AsyncIterator[Any]:
        """The body as decoded JSON lines (a stream of progress messages, events or stats)."""
        return split_lines(self.chunks())

    async def close(self) -> None:
        """Give up what is left of the body (a stream the caller stops reading)."""
        return None

    async def drain(self) -> None:
        """Read and drop the body of an answer whose status says it all (the connection is free again)."""
        await self.read()


if TYPE_CHECKING:
    class Direct(Protocol):
        """The local fast path of a :class:`Duplex`: the caller's file descriptors go to the process itself."""

        pid: int

        async def attach(self, stdin: int, stdout: int, stderr: int) -> None: ...

        async def wait(self) -> int: ...


class Duplex:
    """A hijacked connection (attach, exec start): the process's output in, its input out.

    ``fds`` is the in-process fast path (None over a socket): hand it descriptors instead of relaying.
    """

    fds: Direct | None = None

    async def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes of output; b"" at the end."""
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def close_write(self) -> None:
        """No more input (the process sees EOF on its stdin)."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class StreamDuplex(Duplex):
    """A :class:`Duplex` over asyncio streams (a hijacked socket, or one end of a local socket pair)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, fds: Direct | None = None,
                 task: asyncio.Task[None] | None = None) -> None:
        self.reader, self.writer, self.fds = reader, writer, fds
        self._task = task  # the in-process session on the other end, ended by close()

    async def read(self, n: int = 65536) -> bytes:
        try:
            return await self.reader.read(n)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close_write(self) -> None:
        if self.writer.can_write_eof():
            self.writer.write_eof()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
        if self._task is not None and not self._task.done():
            self._task.cancel()
            import asyncio
            await asyncio.gather(self._task, return_exceptions=True)


class Transport:
    """Where the engine is, and how to reach it.

    Attributes:
        kind: "embedded" (in this process), "daemon" (a Portside daemon) or "remote" (another Docker engine).
        address: where, in words for users: "embedded engine (/var/lib/portside)", "unix:///run/…".
    """

    kind: str = "embedded"
    address: str = ""

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def request(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                      headers: dict[str, str] | None = None) -> Reply:
        """One API call; ``path`` without the version prefix. Raises the engine's error for status >= 400."""
        raise EngineError(f"{type(self).__name__} cannot answer {method} {path}")

    async def hijack(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                     headers: dict[str, str] | None = None) -> Duplex:
        """Attach or exec start: the connection becomes a two-way stream (``Upgrade: tcp``)."""
        raise EngineError(f"{type(self).__name__} cannot attach to {path}")


BaseTransport = Transport  # its earlier name


class LocalReply(Reply):
    """An in-process answer: the handler's Python objects, not their encoding."""

    def __init__(self, resp: Response) -> None:
        self.resp = resp
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.headers.items()}
        self.headers.setdefault("content-type", resp.content_type)

    async def json(self) -> Any:
        from ..api.server import NO_OBJECT
        if self.resp.data is not NO_OBJECT:
            return self.resp.data
        if self.resp.stream is not None:
            return [item async for item in self.lines()]
        body = self.resp.body
        return json.loads(body) if body.strip() else None

    async def chunks(self) -> AsyncIterator[bytes]:
        from ..api.server import encode_item
        if self.resp.stream is None:
            if self.resp.body:
                yield self.resp.body
            return
        async for item in self.resp.stream:
            yield encode_item(item)

    async def lines(self) -> AsyncIterator[Any]:
        stream = self.resp.stream
        if stream is None:
            async for item in split_lines(self.chunks()):
                yield item
            return
        buf = b""
        async for item in stream:
            if not isinstance(item, (bytes, bytearray)):
                yield item
                continue
            buf += item
            *whole, buf = buf.split(b"\n")
            for line in whole:
                if line.strip():
                    yield json.loads(line)
        if buf.strip():
            yield json.loads(buf)

    async def close(self) -> None:
        aclose = getattr(self.resp.stream, "aclose", None)
        if aclose is not None:
            await aclose()

    async def drain(self) -> None:
        if self.resp.stream is not None:  # run it to its end, as a socket's reader would: its work is the answer
            async for _item in self.resp.stream:
                pass


class LocalDuplex(Duplex):
    """An in-process hijacked session. With :attr:`fds` the caller's descriptors go to the process and
    nothing is relayed; otherwise the first read or write starts the session on a socket pair."""

    def __init__(self, resp: Response) -> None:
        self.resp = resp
        self.fds = resp.direct
        self._pair: StreamDuplex | None = None

    async def _connected(self) -> StreamDuplex:
        if self._pair is None:
            import asyncio
            import socket
            here, there = socket.socketpair()
            reader, writer = await asyncio.open_unix_connection(sock=here)
            s_reader, s_writer = await asyncio.open_unix_connection(sock=there)
            hijack = self.resp.hijack
            assert hijack is not None

            async def session() -> None:
                try:
                    await hijack(s_reader, s_writer)
                finally:
                    s_writer.close()
            self._pair = StreamDuplex(reader, writer, fds=None, task=asyncio.create_task(session()))
        return self._pair

    async def read(self, n: int = 65536) -> bytes:
        return await (await self._connected()).read(n)

    async def write(self, data: bytes) -> None:
        await (await self._connected()).write(data)

    async def close_write(self) -> None:
        await (await self._connected()).close_write()

    async def close(self) -> None:
        if self._pair is not None:
            await self._pair.close()


class LocalTransport(Transport):
    """The embedded engine: the API's handlers called in this process (no daemon, no socket).

    Args:
        root: the data root (default: ``PORTSIDE_ROOT`` or the user's default).
        engine: an engine already open (its owner closes it); otherwise one is opened, with crash
            recovery, and closed with the transport.
    """

    kind = "embedded"

    def __init__(self, root: str | None = None, engine: Any = None) -> None:
        self.root = root
        self.engine = engine
        self._owned = engine is None
        self.api: API | None = None
        from ..config import default_root
        self.address = f"embedded engine ({root or default_root()})"

    async def open(self) -> None:
        if self.engine is None:
            from ..engine import Engine
            try:
                self.engine = Engine(self.root)
                self.engine.system.recover()
            except OSError as exc:
                raise EngineError(f"cannot open the data root {self.root or ''}: {exc.strerror}") from exc
        if self.api is None:
            from ..api.routes import API
            self.api = API(self.engine)
        root = getattr(getattr(self.engine, "paths", None), "root", None)
        if root:
            self.address = f"embedded engine ({root})"

    async def close(self) -> None:
        self.api = None
        if self._owned and self.engine is not None:
            self.engine.close()
            self.engine = None

    async def _answer(self, method: str, path: str, params: Params | None, body: Body,
                      headers: dict[str, str] | None) -> Response:
        from ..api.server import NO_OBJECT, Request
        if self.api is None:
            await self.open()
        assert self.api is not None
        found = self.api.find(method, path)
        if found is None:
            raise from_status(404, "page not found")
        handler, values = found
        obj, raw, upload = NO_OBJECT, b"", None
        if isinstance(body, (bytes, bytearray)):
            raw = bytes(body)
        elif hasattr(body, "read"):
            upload = body
        elif hasattr(body, "__aiter__"):
            raw = b"".join([chunk async for chunk in body])
        elif body is not None:
            obj = body
        req = Request.local(method, path, query_values(params),
                            {k.lower(): v for k, v in (headers or {}).items()}, body=raw, obj=obj, upload=upload)
        try:
            resp = await handler(self.api, req, **values)
        except EngineError:
            raise  # the handler's own error: the same one the API would encode
        except OSError as exc:
            what = handler.__name__.replace("_", " ")
            raise EngineError(f"{what}: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")) from exc
        if resp.status >= 400:
            message = resp.data.get("message", "") if isinstance(resp.data, dict) else resp.body.decode(errors="replace")
            raise from_status(resp.status, message)
        return resp

    async def request(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                      headers: dict[str, str] | None = None) -> Reply:
        return LocalReply(await self._answer(method, path, params, body, headers))

    async def hijack(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                     headers: dict[str, str] | None = None) -> Duplex:
        resp = await self._answer(method, path, params, body, headers)
        if resp.hijack is None:
            raise EngineError(f"{method} {path} did not upgrade the connection (status {resp.status})")
        return LocalDuplex(resp)


__all__ = ["Transport", "BaseTransport", "Reply", "Duplex", "StreamDuplex", "LocalTransport",
           "LocalReply", "LocalDuplex", "query_values", "split_lines"]
