"""The Docker Engine API over a socket: a small HTTP/1.1 client on asyncio streams, or blocking ones.

:class:`UnixTransport` reaches a unix socket (``portside daemon``, a dockerd), :class:`TcpTransport`
a TCP address, with TLS when given an :class:`ssl.SSLContext`. Both speak as the docker CLI does:

- ``GET /_ping`` once, at :meth:`~HttpTransport.open`; the API version used is the lower of ours
  (:data:`API_VERSION`) and the server's ``Api-Version`` header, and every path is sent as
  ``/v1.NN/path``.
- Connections are kept alive and reused; request and response bodies are ``Content-Length`` or
  chunked; a reply is read as JSON, bytes, raw chunks or JSON lines.
- ``attach`` and ``exec start`` hijack the connection (``Upgrade: tcp`` → ``101 UPGRADED``); the raw
  socket is then a :class:`SocketDuplex`.
- Called with no event loop running (the CLI's one-shot commands), the same exchange runs on a
  blocking socket (:mod:`engine.client.sockets`): neither asyncio nor :mod:`ssl` is imported for a
  unix socket. A ``Server: Portside/…`` header on the ping says it is a Portside daemon without asking
  ``/version``.

Failures are translated here, once: a non-2xx answer (except 304) raises
:func:`engine.errors.from_status` with the server's ``{"message": …}``; a socket that is missing,
refuses, resets or breaks raises :class:`engine.errors.ConnectionLost` with one line naming the
address. Nothing here is imported on the embedded path (see :mod:`engine.client.contexts`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the blocks)

from .. import __version__
from ..aio import running_loop, to_thread
from ..errors import ConnectionLost, EngineError, from_status
from .sockets import BlockingReader, BlockingWriter, open_tcp, open_unix, streams
from .transport import Duplex, Transport, query_values
from .transport import Reply as BaseReply

if TYPE_CHECKING:
    import asyncio
    import ssl
    from typing import Any

    from .transport import Params

    Reader = asyncio.StreamReader | BlockingReader
    Writer = asyncio.StreamWriter | BlockingWriter

API_VERSION = "1.50"
FALLBACK_API_VERSION = "1.24"  # what docker assumes when a server's ping names no version
USER_AGENT = f"Portside-Client/{__version__} (linux)"
CHUNK = 1 << 16
MAX_HEAD = 1 << 16  # a response's status line and headers, together
CONNECT_TIMEOUT = 30.0  # seconds for a tcp connection and its TLS handshake (docker's dialer waits 30 s)


def version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
PATH_SAFE = "/:@!$&'()*+,;=-._~"


def quote(text: str, safe: str = "", *, plus: bool = False) -> str:
    """``urllib.parse.quote`` (``plus``: ``quote_plus``, a space as "+"), without importing urllib (~2 ms
    with the ipaddress module it brings)."""
    keep = _UNRESERVED | frozenset(safe.encode())
    return "".join(chr(b) if b in keep else "+" if plus and b == 32 else f"%{b:02X}" for b in text.encode())


def encode_params(params: Params | None) -> str:
    """The query string: the contract's values (:func:`~engine.client.transport.query_values`), a key
    repeated once per item of a tuple (as ``urlencode(…, doseq=True)``)."""
    if not params:
        return ""
    return "&".join(f"{quote(key, plus=True)}={quote(value, plus=True)}"
                    for key, values in query_values(params).items() for value in values)


def _reason(exc: BaseException) -> str:
    """A lower layer's failure in a few words: "connection refused", "no such file or directory" …"""
    if isinstance(exc, EOFError):  # asyncio's IncompleteReadError, or the blocking streams' IncompleteRead
        return "the connection was closed before the answer was complete"
    ssl = sys.modules.get("ssl")  # not loaded: no TLS was spoken, so this is no TLS error
    if ssl is not None and isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {exc.verify_message or exc.reason}"
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since 3.11
        return "timed out"
    if isinstance(exc, OSError) and (exc.errno or exc.strerror):
        text = os.strerror(exc.errno) if exc.errno and exc.errno != 2 else str(exc.strerror)
        return text[0].lower() + text[1:]
    return str(exc) or type(exc).__name__


def _message(status: int, body: bytes) -> str:
    """docker's ``{"message": …}``, else the text body, else the status."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return text or f"HTTP status {status}"


class _Connection:
    """One socket to the server: its reader and writer (asyncio's, or blocking ones without a loop)."""

    def __init__(self, reader: Reader, writer: Writer) -> None:
        self.reader = reader
        self.writer = writer
        self.blocking = isinstance(reader, BlockingReader)
        self.used = False  # it has carried a request already (a reused connection may be stale)

    def close(self) -> None:
        try:
            self.writer.close()
        except (OSError, RuntimeError):
            pass


class Reply(BaseReply):
    """A response: ``status``, ``headers`` (lower-case keys) and its body, read once, one way.

    Reading the whole body returns the connection to its transport for reuse; a reply dropped early
    (a stream the caller stopped reading) closes it.
    """

    def __init__(self, transport: HttpTransport, conn: _Connection | None, status: int,
                 headers: dict[str, str], length: int | None, chunked: bool) -> None:
        self.status = status
        self.headers = headers
        self._transport = transport
        self._conn = conn
        self._left = length      # bytes still to read of a Content-Length body; None: until EOF
        self._chunked = chunked
        self._done = conn is None

    async def _piece(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        if self._done or self._conn is None:
            return b""
        reader = self._conn.reader
        try:
            if self._chunked:
                line = await reader.readline()
                if not line:
                    raise EOFError("the connection closed mid-body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self._finish(reuse=True)
                    return b""
                data = await reader.readexactly(size)
                await reader.readexactly(2)
                return data
            if self._left is None:
                data = await reader.read(CHUNK)
                if not data:
                    self._finish(reuse=False)
                return data
            if self._left == 0:
                self._finish(reuse=True)
                return b""
            data = await reader.read(min(self._left, CHUNK))
            if not data:
                raise EOFError("the connection closed mid-body")
            self._left -= len(data)
            if self._left == 0:
                self._finish(reuse=True)
            return data
        except (OSError, EOFError, ValueError) as exc:  # ssl.SSLError is an OSError
            self._finish(reuse=False)
            raise self._transport.lost(exc, midway=True) from exc

    def _finish(self, reuse: bool) -> None:
        if self._done:
            return
        self._done = True
        conn, self._conn = self._conn, None
        if conn is not None:
            if reuse and self.headers.get("connection", "").lower() != "close":
                self._transport._release(conn)
            else:
                conn.close()

    def discard(self) -> None:
        """Stop reading: the connection is closed (the server may still be sending)."""
        self._finish(reuse=False)

    async def close(self) -> None:
        """Give up what is left of the body (a stream the caller stops reading)."""
        self.discard()

    async def read(self) -> bytes:
        """The whole body."""
        buf = bytearray()
        while True:
            data = await self._piece()
            if not data:
                return bytes(buf)
            buf += data

    async def json(self) -> Any:
        """The body decoded as JSON (None when empty)."""
        data = await self.read()
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise EngineError(f"the Docker engine at {self._transport.address} answered with malformed "
                              f"JSON: {exc}") from None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (raw bytes: a log stream, an archive)."""
        try:
            while True:
                data = await self._piece()
                if not data:
                    return
                yield data
        finally:
            if not self._done:
                self.discard()

    async def lines(self) -> AsyncIterator[Any]:
        """The body as JSON lines (progress, events, stats), each decoded; blank lines skipped."""
        buf = b""
        async for data in self.chunks():
            buf += data
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                line, buf = buf[:nl].strip(), buf[nl + 1:]
                if line:
                    yield self._decode(line)
        if buf.strip():
            yield self._decode(buf.strip())

    def _decode(self, line: bytes) -> Any:
        try:
            return json.loads(line)
        except ValueError:
            raise EngineError(f"the Docker engine at {self._transport.address} sent a malformed JSON line: "
                              f"{line[:80]!r}") from None


class SocketDuplex(Duplex):
    """A hijacked connection: the raw two-way stream of ``attach`` and ``exec start``."""

    fds = None  # no local fast path over a socket

    def __init__(self, transport: HttpTransport, conn: _Connection) -> None:
        self._transport = transport
        self._conn = conn
        self._closed = False

    async def read(self, n: int = CHUNK) -> bytes:
        """Up to ``n`` bytes; b"" at EOF."""
        if self._closed:
            return b""
        try:
            return await self._conn.reader.read(n)
        except OSError as exc:
            raise self._transport.lost(exc, midway=True) from exc

    async def write(self, data: bytes) -> None:
        try:
            self._conn.writer.write(data)
            await self._conn.writer.drain()
        except (OSError, RuntimeError) as exc:
            raise self._transport.lost(exc, midway=True) from exc

    async def close_write(self) -> None:
        """Half-close: the server sees EOF on stdin; output still comes. As docker does, over TLS too
        (it shuts down the socket under the TLS session)."""
        writer = self._conn.writer
        try:
            if writer.can_write_eof():
                await writer.drain()
                writer.write_eof()
                return
            sock = writer.get_extra_info("socket")
            if sock is not None:
                import socket
                await writer.drain()
                sock.shutdown(socket.SHUT_WR)
        except (OSError, RuntimeError):
            pass

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._conn.close()
        try:
            await self._conn.writer.wait_closed()
        except OSError:
            pass


if TYPE_CHECKING:
    Body = Any  # a JSON-able object, bytes, a binary file object, or an async iterator of bytes


class HttpTransport(Transport):
    """The Docker Engine API over one kind of socket; subclasses say how to connect."""

    kind = "remote"

    def __init__(self, address: str, host_header: str) -> None:
        self.address = address
        self.host_header = host_header
        self.api_version = API_VERSION
        self.server: dict[str, str] = {}   # the ping's headers (Api-Version, Ostype, Server …)
        self._idle: list[_Connection] = []
        self._opened = False

    async def _connect(self) -> tuple[Reader, Writer]:
        """A new connection: asyncio streams on a running loop, else blocking ones."""
        raise NotImplementedError

    def lost(self, exc: BaseException, *, midway: bool = False) -> ConnectionLost:
        """The one-line error for a socket that failed us (``midway``: after the answer had begun)."""
        words = "lost the connection to" if midway else "cannot connect to"
        return ConnectionLost(f"{words} the Docker engine at {self.address}: {_reason(exc)}", address=self.address)

    # -- lifecycle -----------------------------------------------------------------------------------
    async def open(self) -> None:
        """Negotiate the API version as the docker CLI does, and learn what the server is."""
        if self._opened:
            return
        reply = await self._exchange("GET", "/_ping", None, {}, versioned=False)
        await reply.read()
        if reply.status >= 400 and reply.status != 304:
            raise from_status(reply.status, f"the Docker engine at {self.address} answered the ping with "
                                            f"HTTP {reply.status}")
        self.server = reply.headers
        theirs = reply.headers.get("api-version") or FALLBACK_API_VERSION
        self.api_version = min(API_VERSION, theirs, key=version_key)
        self._opened = True
        if "portside" in reply.headers.get("server", "").lower():
            self.kind = "daemon"
        else:
            version = await (await self.request("GET", "/version")).json()
            name = ((version or {}).get("Platform") or {}).get("Name", "") if isinstance(version, dict) else ""
            self.kind = "daemon" if "portside" in str(name).lower() else "remote"

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self._opened = False

    def _release(self, conn: _Connection) -> None:
        conn.used = True
        self._idle.append(conn)

    # -- requests ------------------------------------------------------------------------------------
    def _target(self, path: str, params: Params | None, versioned: bool) -> str:
        target = quote(path, PATH_SAFE)
        if versioned:
            target = f"/v{self.api_version}{target}"
        query = encode_params(params)
        return f"{target}?{query}" if query else target

    async def request(self, method: str, path: str, *, params: Params | None = None,
                      body: Body = None, headers: dict[str, str] | None = None) -> Reply:
        """One request; the reply's body is still to be read. Non-2xx (except 304) raises."""
        if not self._opened and path != "/_ping":
            await self.open()
        reply = await self._exchange(method, path, body, dict(headers or {}), params=params)
        if reply.status >= 300 and reply.status != 304:
            data = await reply.read()
            raise from_status(reply.status, _message(reply.status, data))
        return reply

    async def hijack(self, method: str, path: str, *, params: Params | None = None,
                     body: Body = None, headers: dict[str, str] | None = None) -> SocketDuplex:
        """``attach`` / ``exec start``: the request upgrades the connection to a raw two-way stream."""
        if not self._opened:
            await self.open()
        head = {"Connection": "Upgrade", "Upgrade": "tcp", **(headers or {})}
        reply = await self._exchange(method, path, body, head, params=params, hijack=True)
        if reply.status >= 300:
            data = await reply.read()
            raise from_status(reply.status, _message(reply.status, data))
        conn = reply._conn
        reply._conn, reply._done = None, True
        assert conn is not None
        return SocketDuplex(self, conn)

    async def _exchange(self, method: str, path: str, body: Body, headers: dict[str, str], *,
                        params: Params | None = None, versioned: bool = True,
                        hijack: bool = False) -> Reply:
        head, payload, stream = self._encode(body, headers)
        target = self._target(path, params, versioned)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in head.items()]
        request_head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        replayable = stream is None
        blocking = running_loop() is None
        while True:
            conn = self._idle.pop() if self._idle and not hijack else None
            if conn is not None and conn.blocking != blocking:  # kept from a run with(out) a loop: not this one's
                conn.close()
                continue
            reused = conn is not None
            try:
                if conn is None:
                    reader, writer = await self._connect()
                    conn = _Connection(reader, writer)
                if stream is None:
                    conn.writer.write(request_head + payload)
                    await conn.writer.drain()
                else:
                    conn.writer.write(request_head)
                    await self._send_chunked(conn.writer, stream)
                return await self._response(conn, method, hijack)
            except (OSError, EOFError, ValueError) as exc:  # ssl's errors are OSErrors
                if conn is not None:
                    conn.close()
                malformed = isinstance(exc, ValueError) and not isinstance(exc, OSError)  # not a TLS verify error
                if reused and replayable and not malformed:
                    continue  # a kept-alive connection the server had closed meanwhile: once more, fresh
                if malformed:
                    raise EngineError(f"the Docker engine at {self.address} sent a malformed HTTP answer: "
                                      f"{exc}") from None
                raise self.lost(exc) from exc
            except BaseException:  # cancelled mid-exchange (a dashboard worker on exit): the socket goes too
                if conn is not None:
                    conn.close()
                raise

    def _encode(self, body: Body, headers: dict[str, str]) -> tuple[dict[str, str], bytes,
                                                                    AsyncIterator[bytes] | None]:
        """Headers, a fixed body, or a stream to send chunked."""
        head = {k: v for k, v in headers.items()}
        lower = {k.lower() for k in head}
        if body is None:
            if "content-length" not in lower:
                head["Content-Length"] = "0"
            return head, b"", None
        if isinstance(body, (bytes, bytearray, memoryview)):
            data = bytes(body)
            if "content-type" not in lower:
                head["Content-Type"] = "application/octet-stream"
            head["Content-Length"] = str(len(data))
            return head, data, None
        if hasattr(body, "read"):
            if "content-type" not in lower:
                head["Content-Type"] = "application/x-tar"
            head["Transfer-Encoding"] = "chunked"
            return head, b"", _file_chunks(body)
        if hasattr(body, "__aiter__"):
            if "content-type" not in lower:
                head["Content-Type"] = "application/octet-stream"
            head["Transfer-Encoding"] = "chunked"
            return head, b"", body.__aiter__()
        data = json.dumps(body).encode()
        if "content-type" not in lower:
            head["Content-Type"] = "application/json"
        head["Content-Length"] = str(len(data))
        return head, data, None

    async def _send_chunked(self, writer: Writer, stream: AsyncIterator[bytes]) -> None:
        async for data in stream:
            if data:
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _response(self, conn: _Connection, method: str, hijack: bool) -> Reply:
        reader = conn.reader
        while True:
            line = await reader.readline()
            if not line:
                raise EOFError("the connection closed before the answer")
            proto, _, rest = line.decode("latin-1").strip().partition(" ")
            if not proto.startswith("HTTP/"):
                raise ValueError(f"not an HTTP status line: {line[:60]!r}")
            status = int(rest.split(" ", 1)[0])
            headers: dict[str, str] = {}
            size = len(line)
            while True:
                h = await reader.readline()
                size += len(h)
                if size > MAX_HEAD:
                    raise ValueError("the response's headers are too large")
                if h in (b"\r\n", b"\n"):
                    break
                if not h:
                    raise EOFError("the connection closed mid-headers")
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and friends: the real answer follows
            break
        if status == 101 or (hijack and status < 300):
            return Reply(self, conn, status, headers, None, False)  # the caller takes the connection over
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length: int | None = None
        if method == "HEAD" or status in (204, 304):
            length = 0
        elif not chunked:
            cl = headers.get("content-length")
            length = int(cl) if cl is not None else None
        reply = Reply(self, conn, status, headers, length, chunked)
        if length == 0 and not chunked:
            reply._finish(reuse=True)
        return reply


async def _file_chunks(f: Any) -> AsyncIterator[bytes]:
    """A binary file's bytes, read in a thread when a loop runs (reads may block)."""
    while True:
        data = await to_thread(f.read, CHUNK)
        if not data:
            return
        yield bytes(data)


class UnixTransport(HttpTransport):
    """A unix socket: ``portside daemon`` or a dockerd."""

    def __init__(self, path: str) -> None:
        super().__init__(f"unix://{path}", "api.moby.localhost")
        self.path = path

    async def _connect(self) -> tuple[Reader, Writer]:
        if not os.path.exists(self.path):
            raise FileNotFoundError(2, "no such socket")
        if running_loop() is None:
            return streams(open_unix(self.path))
        import asyncio
        return await asyncio.open_unix_connection(self.path, limit=1 << 20)


class TcpTransport(HttpTransport):
    """A TCP address, with TLS when ``tls`` is given (``DOCKER_TLS_VERIFY``, ``--tlsverify`` …)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        super().__init__(f"tcp://{netloc}", netloc)
        self.host, self.port, self.tls = host, port, tls

    async def _connect(self) -> tuple[Reader, Writer]:
        if running_loop() is None:
            return streams(open_tcp(self.host, self.port, self.tls, CONNECT_TIMEOUT))
        import asyncio
        return await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.tls, limit=1 << 20,
                                    server_hostname=self.host if self.tls is not None else None), CONNECT_TIMEOUT)
