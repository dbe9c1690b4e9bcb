"""A small HTTP/1.1 server for the Docker Engine API, on unix sockets or tcp with TLS (stdlib asyncio streams only).

Keep-alive, ``Content-Length`` bodies in, fixed-length or chunked bodies out, and connection hijack
(``Upgrade: tcp`` → ``101 UPGRADED``) for attach and exec. Routing and the handlers are in
:mod:`engine.api.routes`; this module only speaks HTTP.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import IO, TYPE_CHECKING, Any

from .. import __version__
from ..errors import EngineError, InvalidArgument

if TYPE_CHECKING:  # the embedded client builds requests in-process: no asyncio, sockets, TLS or URL parsing
    import asyncio
    import socket
    import ssl

API_VERSION = "1.50"
MIN_API_VERSION = "1.24"
VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")
REASONS = {101: "UPGRADED", 200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
           400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict",
           500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}
# dockerd says ``Server: Docker/<version> (linux)``; clients that know Portside (its own CLI) learn what
# they talk to from this header alone, without asking /version
SERVER = f"Portside/{__version__} (linux)"
# the headers every answer carries, after its status line
COMMON_HEAD = f"Api-Version: {API_VERSION}\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: {SERVER}\r\n"
IN_MEMORY = 8 << 20   # larger bodies (image archives) are spooled to a temporary file

# descriptors a forked child (a container's monitor) must not keep open: the listening socket, the
# connections, the attach pipes. Otherwise a client would wait for an EOF that a monitor holds back.
CLOSE_IN_CHILD: set[int] = set()


def _close_in_child() -> None:
    for fd in list(CLOSE_IN_CHILD):
        try:
            os.close(fd)
        except OSError:
            pass
    CLOSE_IN_CHILD.clear()


os.register_at_fork(after_in_child=_close_in_child)


NO_OBJECT: Any = object()  # a Request or Response that carries no Python object


class Request:
    """One API request. Off a socket: the target is parsed and the body is bytes (or a spooled file).
    In-process (:meth:`local`): the path and query come ready, and a JSON body may come as the object
    itself (``obj``), so :meth:`json` returns it without an encoding round trip."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes,
                 spooled: IO[bytes] | None = None) -> None:
        self.method = method
        self.headers = headers
        self.body = body  # b"" when the body was spooled (see :meth:`file`)
        self.spooled = spooled
        self.upload: IO[bytes] | None = None  # an in-process caller's own file, read as it is
        self.obj: Any = NO_OBJECT
        path, self.query = split_target(target)
        m = VERSION_PREFIX.match(path)
        self.version = m.group(1) if m else None
        self.path = m.group(2) if m else path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @classmethod
    def local(cls, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], *,
              body: bytes = b"", obj: Any = NO_OBJECT, upload: IO[bytes] | None = None) -> Request:
        """A request made in this process: no target to parse, no JSON to decode."""
        req = cls.__new__(cls)
        req.method, req.headers, req.body, req.spooled = method, headers, body, None
        req.upload, req.obj = upload, obj
        req.version, req.path, req.query = None, path, query
        req.reader = req.writer = None
        return req

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter as dockerd reads it: absent → default; "", "0", "false", "no" → False."""
        if name not in self.query:
            return default
        return self.arg(name).lower() not in ("", "0", "false", "no")

    def integer(self, name: str) -> int | None:
        text = self.arg(name)
        if text == "":
            return None
        try:
            return int(text)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {text!r} is not an integer") from None

    def filters(self, accepted: tuple[str, ...] = ()) -> dict[str, list[str]]:
        """The ``filters`` parameter: ``{"key": ["v", …]}`` or the older ``{"key": {"v": true}}``; a key
        not in ``accepted`` (when given: dockerd's list for the route) is dockerd's ``invalid filter``."""
        text = self.arg("filters")
        if not text:
            return {}
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"invalid filter: {exc.msg} at character {exc.pos} of the filters parameter") from None
        if not isinstance(raw, dict):
            raise InvalidArgument("invalid filter: the filters parameter must be a JSON object")
        for key in raw:
            if accepted and key not in accepted:
                raise InvalidArgument(f"invalid filter '{key}'")
        return {k: list(v) if isinstance(v, (list, dict)) else [str(v)] for k, v in raw.items()}

    def file(self) -> IO[bytes]:
        """The body as a file (an archive to import or load)."""
        if self.upload is not None:
            return self.upload
        if self.spooled is not None:
            self.spooled.seek(0)
            return self.spooled
        import io
        return io.BytesIO(self.body)

    def json(self) -> Any:
        """The JSON body (None when empty); malformed JSON is a 400 that says where."""
        if self.obj is not NO_OBJECT:
            return self.obj
        if self.spooled is not None:
            raise InvalidArgument(f"request body too large for JSON (more than {IN_MEMORY >> 20} MiB)")
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"invalid JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except UnicodeDecodeError:
            raise InvalidArgument("invalid JSON body: not UTF-8") from None


def split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """A request target's path (percent-decoded) and query (``parse_qs`` with blank values kept).
    The usual target (``/v1.50/containers/json?all=1``: nothing escaped) is split by hand; anything
    else goes through :mod:`urllib.parse`, as the answer must be the same."""
    if target.startswith("/") and not target.startswith("//") and not any(c in target for c in "%+#"):
        path, _, qs = target.partition("?")
        query: dict[str, list[str]] = {}
        for field in qs.split("&") if qs else ():
            if field:
                name, _, value = field.partition("=")
                query.setdefault(name, []).append(value)
        return path, query
    from urllib.parse import parse_qs, unquote, urlsplit
    url = urlsplit(target)
    return unquote(url.path), parse_qs(url.query, keep_blank_values=True)


Hijack = Callable[["asyncio.StreamReader", "asyncio.StreamWriter"], Awaitable[None]]


class Direct:
    """The in-process fast path of a hijacked session (attach, exec start): instead of relaying bytes,
    the caller hands its own file descriptors to the process. Over a socket this is never used."""

    pid: int = 0  # the process's pid once started (0 when unknown)

    async def attach(self, stdin: int, stdout: int, stderr: int) -> None:
        """Give these descriptors (-1: none) to the process; an exec starts here."""
        raise NotImplementedError

    async def wait(self) -> int:
        """The process's exit code, once it has ended (and its output is all written)."""
        raise NotImplementedError


class Response:
    """``body`` (bytes) or ``data`` (the Python object the body encodes, kept for an in-process caller),
    or ``stream`` (an async iterator sent chunked: bytes as they are, any other item as one JSON line),
    or ``hijack`` (a coroutine given the reader and writer after ``101 UPGRADED``, with ``direct`` its
    in-process fast path)."""

    def __init__(self, status: int = 200, body: bytes = b"", *, content_type: str = "application/json",
                 headers: dict[str, str] | None = None, stream: AsyncIterator[Any] | None = None,
                 hijack: Hijack | None = None, data: Any = NO_OBJECT, direct: Direct | None = None) -> None:
        self.status = status
        self._body = body
        self.data = data
        self.content_type = content_type
        self.headers = headers or {}
        self.stream = stream
        self.hijack = hijack
        self.direct = direct

    @property
    def body(self) -> bytes:
        if not self._body and self.data is not NO_OBJECT:
            self._body = json.dumps(self.data).encode() + b"\n"
        return self._body

    @body.setter
    def body(self, value: bytes) -> None:
        self._body, self.data = value, NO_OBJECT


def json_response(obj: Any, status: int = 200) -> Response:
    """A JSON answer; encoded only when it goes out on a socket."""
    return Response(status, data=obj)


def encode_item(item: Any) -> bytes:
    """One item of a response stream as it goes on the wire: bytes as they are, an object as a JSON line."""
    return bytes(item) if isinstance(item, (bytes, bytearray)) else json.dumps(item).encode() + b"\n"


def error_response(status: int, message: str) -> Response:
    return json_response({"message": message}, status)


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


Handler = Callable[[Request], Awaitable[Response]]


class Server:
    """Serves ``handle`` (request → response) on a unix socket."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self._server: asyncio.AbstractServer | None = None

    async def serve(self, sock: socket.socket, tls: ssl.SSLContext | None = None) -> None:
        """Serve a listening socket (unix or tcp; ``tls`` wraps every connection) until cancelled."""
        import asyncio
        import socket
        CLOSE_IN_CHILD.add(sock.fileno())
        if tls is not None:
            from .tls import serve_tls
            await serve_tls(sock, tls, self._connection, CLOSE_IN_CHILD)
            return
        loop = asyncio.get_running_loop()
        if sock.family == socket.AF_UNIX:
            server = await loop.create_unix_server(lambda: _Fast(self), sock=sock)
        else:
            server = await loop.create_server(lambda: _Fast(self), sock=sock)
        self._server = server
        async with server:
            await server.serve_forever()

    async def serve_unix(self, sock: socket.socket) -> None:
        await self.serve(sock)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          first: Pending | None = None) -> None:
        """A connection served on asyncio's streams: a TLS relay's plain side, or a connection the fast
        path (:class:`_Fast`) handed over, with the answer it began (``first``) still to finish and send."""
        import asyncio
        sock = writer.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
        CLOSE_IN_CHILD.add(fd)
        try:
            if first is not None:
                answer, method, keep, proto = first
                resp = answer if isinstance(answer, Response) else await answer
                if method == "HEAD":
                    resp.body = b""
                if not await self._send(writer, resp, keep, proto, reader):
                    return
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            CLOSE_IN_CHILD.discard(fd)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One request and its response; False when the connection is done."""
        line = await reader.readline()
        if not line:
            return False
        try:
            method, target, proto = line.decode("latin-1").split()
        except ValueError:
            await self._send(writer, error_response(400, "malformed HTTP request line"), False, "HTTP/1.1")
            return False
        headers: dict[str, str] = {}
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        try:
            n = -1 if headers.get("transfer-encoding", "").lower() == "chunked" else \
                int(headers.get("content-length") or 0)
        except ValueError:
            await self._send(writer, error_response(400, "invalid Content-Length header"), False, proto)
            return False
        body, spooled = await read_body(reader, n) if n else (b"", None)
        keep = proto == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        req = Request(method, target, headers, body, spooled)
        req.reader, req.writer = reader, writer
        try:
            resp = await self._answer(req, target)  # not cancelled if the client goes: an engine change completes
        finally:
            if spooled is not None:
                spooled.close()
        if method == "HEAD":  # no body, even for an error: the next request on the connection follows at once
            resp.body = b""
        return await self._send(writer, resp, keep, proto, reader)

    async def _answer(self, req: Request, target: str) -> Response:
        """The handler's response, or the error response for what it raised."""
        try:
            return await self.handle(req)
        except EngineError as exc:
            return error_response(exc.status, str(exc)) if exc.status != 304 else Response(304)
        except Exception as exc:  # noqa: BLE001 - a bug in a handler is a 500, never a dead daemon
            import traceback
            where = traceback.extract_tb(exc.__traceback__)[-1]
            sys.stderr.write(f"portside daemon: {req.method} {target}: 500: {type(exc).__name__}: {exc} "
                             f"(at {where.filename}:{where.lineno})\n")  # the log keeps where it failed
            sys.stderr.flush()
            return error_response(500, f"{type(exc).__name__}: {exc}")

    async def _pump(self, stream: AsyncIterator[Any], reader: asyncio.StreamReader | None,
                    writer: asyncio.StreamWriter) -> str:
        """Send a stream as chunks until it ends: "done"; "gone" when the client hung up first (the
        stream is then cancelled at once, even while it waits for something to send: ``logs -f``,
        ``events``); "close" when the client sent bytes meanwhile (the connection cannot be reused)."""
        import asyncio
        gone = asyncio.ensure_future(reader.read(1)) if reader is not None else None
        done = "done"
        try:
            while True:
                nxt = asyncio.ensure_future(_next(stream))
                await asyncio.wait({nxt} if gone is None else {nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
                if gone is not None and gone.done() and not nxt.done():
                    if gone.exception() is None and gone.result():  # data, not a hang-up: stop watching
                        gone, done = None, "close"
                    else:
                        nxt.cancel()
                        await asyncio.gather(nxt, return_exceptions=True)
                        return "gone"
                    await asyncio.wait({nxt})
                try:
                    chunk = encode_item(nxt.result())
                except StopAsyncIteration:
                    return done
                except ConnectionError:
                    raise
                except Exception as exc:  # noqa: BLE001 - after the head: the stream ends with an error line
                    text = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
                    err = json.dumps({"message": text}).encode() + b"\n"
                    writer.write(b"%x\r\n%s\r\n" % (len(err), err))
                    return done
                if chunk:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
        finally:
            if gone is not None and not gone.done():
                gone.cancel()
                await asyncio.gather(gone, return_exceptions=True)
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _send(self, writer: asyncio.StreamWriter, resp: Response, keep: bool, proto: str,
                    reader: asyncio.StreamReader | None = None) -> bool:
        head = status_head(resp)
        if resp.hijack is not None:
            head += f"Content-Type: {resp.content_type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            writer.write(head.encode())
            await writer.drain()
            assert reader is not None
            import asyncio
            try:
                await resp.hijack(reader, writer)
            except (ConnectionError, asyncio.CancelledError):
                raise
            except Exception as exc:  # noqa: BLE001 - the session ends; the daemon goes on
                sys.stderr.write(f"portside daemon: a hijacked session ended: {type(exc).__name__}: {exc}\n")
            return False
        if resp.stream is not None:
            head += f"Content-Type: {resp.content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
            writer.write(head.encode())
            await writer.drain()
            outcome = await self._pump(resp.stream, reader, writer)
            if outcome == "gone":
                return False  # the client went away mid-stream: the stream is closed, nothing is left running
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return keep and outcome == "done"
        writer.write(plain(resp, head))
        await writer.drain()
        return keep


def status_head(resp: Response) -> str:
    """The status line, the common headers and the response's own (no framing, no blank line)."""
    head = f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}\r\n{COMMON_HEAD}"
    if resp.headers:
        head += "".join(f"{k}: {v}\r\n" for k, v in resp.headers.items())
    return head


def plain(resp: Response, head: str) -> bytes:
    """A response that is neither a stream nor a hijack, as it goes on the wire."""
    if resp.status in (204, 304):
        return (head + "\r\n").encode()
    body = resp.body
    return (head + f"Content-Type: {resp.content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


LINE_LIMIT = 1 << 20  # the streams' limit: a longer line (or head, on the fast path) ends the connection
FAST_BODY = 1 << 20   # larger request bodies are read by the streams' path (spooled past IN_MEMORY)

# a handler's answer begun on the fast path: the response, or the rest of its coroutine to await; then
# the request's method, keep-alive and protocol
Pending = tuple["Response | Awaitable[Response]", str, bool, str]


def parse_head(buf: bytearray) -> tuple[int, list[str], dict[str, str]] | None:
    """The request at the start of ``buf``: where its head ends, its request line's fields and its
    headers (as :meth:`Server._one` reads them); None while the head is incomplete."""
    nl = buf.find(b"\n")
    if nl < 0:
        return None
    pos = nl + 1
    headers: dict[str, str] = {}
    while True:
        j = buf.find(b"\n", pos)
        if j < 0:
            return None
        if j == pos or (j == pos + 1 and buf[pos] == 13):
            break
        k, _, v = buf[pos:j + 1].decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
        pos = j + 1
    return j + 1, buf[:nl + 1].decode("latin-1").split(), headers


class _Resume:
    """The rest of a coroutine that was started by hand (``send(None)``) and stopped at an await:
    awaited in a task, it goes on from there (what it yielded is handed to the task first)."""

    def __init__(self, coro: Coroutine[Any, Any, Response], yielded: Any) -> None:
        self.coro, self.yielded = coro, yielded

    def __await__(self) -> Generator[Any, Any, Response]:
        coro, value = self.coro, self.yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - thrown into the task (a cancel): the coroutine's own
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]


async def _resumed(rest: _Resume) -> Response:
    return await rest


def start(coro: Coroutine[Any, Any, Response]) -> Response | Awaitable[Response]:
    """Run a handler's coroutine now, on the loop's current turn: its response when it finished
    without waiting, else what to await for the rest (run in a task from there on)."""
    if sys.version_info >= (3, 12):  # an eager task: the part before its first wait runs inside a task too
        import asyncio
        task = asyncio.Task(coro, eager_start=True)
        return task.result() if task.done() else task
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    return _resumed(_Resume(coro, yielded))


if TYPE_CHECKING:
    _FastBase = asyncio.Protocol
else:
    _FastBase = object


class _Fast(_FastBase):
    """A connection (unix socket or tcp), read as an asyncio protocol: each request is answered in the
    callback that brought its last byte, when its handler finishes without waiting (``ps``, ``inspect``,
    ``_ping``: most of what docker's CLI asks) and the answer is a plain body — no task, no stream
    reader, no extra turn of the event loop. Anything else (a handler that waits, a stream, a hijack, a
    chunked or large body, a malformed request, a client not reading its answers) hands the connection
    over to asyncio's streams and :meth:`Server._connection`, from that request on, for good: the
    answers are those of the one HTTP code, only sooner."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: Any = None
        self.fd = -1
        self.paused = False  # the transport's write buffer is full: the streams' path waits (drain)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1
        CLOSE_IN_CHILD.add(self.fd)

    def connection_lost(self, exc: Exception | None) -> None:
        CLOSE_IN_CHILD.discard(self.fd)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._serve()

    def eof_received(self) -> bool:
        if not self.buf:
            return False  # the client is done: the transport closes
        return self._hand_over(None, eof=True)  # a request cut short: the streams' path says what it says

    def _serve(self) -> None:
        buf = self.buf
        while buf:
            if self.paused:
                self._hand_over(None)
                return
            parsed = parse_head(buf)
            if parsed is None:
                if len(buf) > LINE_LIMIT:
                    self._hand_over(None)
                return
            end, fields, headers = parsed
            if len(fields) != 3 or end > LINE_LIMIT or "transfer-encoding" in headers:
                self._hand_over(None)
                return
            try:
                n = int(headers.get("content-length") or 0)
            except ValueError:
                n = -1
            if n < 0 or n > FAST_BODY:
                self._hand_over(None)
                return
            if len(buf) < end + n:
                return  # the rest of the body is on its way
            method, target, proto = fields
            body = bytes(buf[end:end + n]) if n else b""
            del buf[:end + n]
            keep = proto == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            answer = start(self.server._answer(Request(method, target, headers, body), target))
            if not isinstance(answer, Response) or answer.stream is not None or answer.hijack is not None:
                self._hand_over((answer, method, keep, proto))
                return
            if method == "HEAD":
                answer.body = b""
            self.transport.write(plain(answer, status_head(answer)))
            if not keep:
                self.transport.close()
                return

    def _hand_over(self, first: Pending | None, eof: bool = False) -> bool:
        """From here on the connection is served on asyncio's streams, what is buffered first."""
        import asyncio
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        proto = asyncio.StreamReaderProtocol(reader, lambda r, w: self.server._connection(r, w, first))
        transport = self.transport
        transport.set_protocol(proto)
        proto.connection_made(transport)  # the streams' task starts on the loop's next turn
        if self.paused:
            proto.pause_writing()
        if self.buf:
            proto.data_received(bytes(self.buf))
            self.buf.clear()
        return bool(proto.eof_received()) if eof else True


async def _next(stream: AsyncIterator[Any]) -> Any:
    return await stream.__anext__()


async def read_body(reader: asyncio.StreamReader, length: int) -> tuple[bytes, IO[bytes] | None]:
    """The request body (``length`` -1: chunked): bytes when small, else a spooled temporary file."""
    async def pieces() -> AsyncIterator[bytes]:
        if length >= 0:
            left = length
            while left:
                data = await reader.readexactly(min(left, 1 << 20))
                left -= len(data)
                yield data
            return
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                return
            yield await reader.readexactly(size)
            await reader.readline()

    buf = bytearray()
    spooled: IO[bytes] | None = None
    try:
        async for data in pieces():
            if spooled is None and len(buf) + len(data) > IN_MEMORY:
                import tempfile
                spooled = tempfile.TemporaryFile()
                spooled.write(buf)
                buf = bytearray()
            if spooled is not None:
                spooled.write(data)
            else:
                buf += data
    except BaseException:  # the client hung up mid-body: its spool goes at once, not at the next GC
        if spooled is not None:
            spooled.close()
        raise
    return bytes(buf), spooled
