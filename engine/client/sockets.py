"""Blocking sockets behind the stream interface the HTTP transport speaks (asyncio's, in part).

The CLI runs a one-shot request/reply command (``container ls``, ``inspect`` …) without an event
loop: importing and starting asyncio would cost more than the whole exchange with the daemon. Then
:mod:`engine.client.http` reads and writes through :class:`BlockingReader` and :class:`BlockingWriter`,
which offer the few methods of ``asyncio.StreamReader`` / ``StreamWriter`` it uses, as coroutines that
finish without yielding. The HTTP itself (request heads, status lines, chunked bodies) stays in one
place, :mod:`engine.client.http`, for both kinds of stream.
"""

from __future__ import annotations

import _socket  # the C sockets under :mod:`socket`: a unix socket needs no more, and socket.py costs ~3 ms
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    import socket
    import ssl

    Socket = socket.socket | _socket.socket

LIMIT = 1 << 20  # the longest line readline() accepts, as the asyncio streams are opened with
RECV = 1 << 16


class BlockingReader:
    """``readline``, ``readexactly`` and ``read`` of ``asyncio.StreamReader`` over a blocking socket."""

    def __init__(self, sock: Socket, limit: int = LIMIT) -> None:
        self.sock = sock
        self.limit = limit
        self._buf = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        """One more piece from the socket into the buffer; False at EOF."""
        if self._eof:
            return False
        data = self.sock.recv(RECV)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    async def readline(self) -> bytes:
        """Up to and with the next b"\\n"; what is left at EOF (b"" when nothing)."""
        start = 0
        while True:
            nl = self._buf.find(b"\n", start)
            if nl >= 0:
                line = bytes(self._buf[:nl + 1])
                del self._buf[:nl + 1]
                return line
            if len(self._buf) > self.limit:
                raise ValueError("Separator is not found, and chunk exceed the limit")
            start = len(self._buf)
            if not self._fill():
                line = bytes(self._buf)
                self._buf.clear()
                return line

    async def readexactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                partial = bytes(self._buf)
                self._buf.clear()
                raise IncompleteRead(partial, n)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (what is buffered, else one receive); b"" at EOF. ``-1``: until EOF."""
        if n < 0:
            while self._fill():
                pass
            n = len(self._buf)
        if not self._buf:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data


class IncompleteRead(EOFError):
    """The socket ended before ``expected`` bytes came (asyncio's IncompleteReadError, which is an EOFError too)."""

    def __init__(self, partial: bytes, expected: int | None) -> None:
        super().__init__(f"{len(partial)} bytes read on a total of {expected} expected bytes")
        self.partial, self.expected = partial, expected


class BlockingWriter:
    """The parts of ``asyncio.StreamWriter`` the HTTP transport uses: each write is sent at once."""

    def __init__(self, sock: Socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    async def drain(self) -> None:
        return None

    def can_write_eof(self) -> bool:
        return not hasattr(self.sock, "unwrap")  # a TLS socket cannot half-close under its session

    def write_eof(self) -> None:
        self.sock.shutdown(_socket.SHUT_WR)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else default

    def close(self) -> None:
        self.sock.close()

    async def wait_closed(self) -> None:
        return None


def streams(sock: Socket) -> tuple[BlockingReader, BlockingWriter]:
    return BlockingReader(sock), BlockingWriter(sock)


def open_unix(path: str, timeout: float | None = None) -> _socket.socket:
    """A blocking socket connected to ``path`` (``timeout`` for the connect alone)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


def open_tcp(host: str, port: int, tls: ssl.SSLContext | None, timeout: float) -> socket.socket:
    """A connected tcp socket (``timeout`` for the connect and the TLS handshake), then blocking."""
    import socket
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


__all__ = ["BlockingReader", "BlockingWriter", "IncompleteRead", "open_tcp", "open_unix", "streams"]
