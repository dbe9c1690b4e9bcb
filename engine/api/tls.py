"""tcp with TLS for the API server: each connection relayed to the plain HTTP code over a socket pair.

asyncio's own TLS transport cannot half-close: the docker CLI ends stdin (``run -i``, ``exec -i``) by
shutting down the sending half of its tcp connection, and asyncio would then close the whole
connection, output and all. :class:`TLSRelay` keeps each half on its own.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


async def serve_tls(sock: socket.socket, ctx: ssl.SSLContext, serve: Serve, close_in_child: set[int]) -> None:
    """Accept on ``sock`` until cancelled; each connection's plain side is served by ``serve``.
    ``close_in_child`` is the server's set of descriptors a forked monitor must close."""
    loop = asyncio.get_running_loop()
    relays: set[asyncio.Task[None]] = set()
    try:
        while True:
            conn, _addr = await loop.sock_accept(sock)
            task = asyncio.create_task(TLSRelay(conn, ctx, serve, close_in_child).run())
            relays.add(task)
            task.add_done_callback(relays.discard)
    finally:
        for task in list(relays):
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        close_in_child.discard(sock.fileno())
        sock.close()


class TLSRelay:
    """One TLS connection: the handshake and records (``ssl.SSLObject`` over memory BIOs) on the tcp
    socket, the plain bytes on a socket pair whose other end the HTTP code serves. Each direction ends
    on its own: the client's FIN (or close_notify) is a half-close of the pair, so the answer still
    goes out; a client that is gone (a failed send) closes the pair, which ends its streams."""

    def __init__(self, raw: socket.socket, ctx: ssl.SSLContext, serve: Serve, close_in_child: set[int]) -> None:
        self.raw, self.serve, self.close_in_child = raw, serve, close_in_child
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.inner, self.outer = socket.socketpair()
        self.send_lock = asyncio.Lock()
        for s in (raw, self.inner, self.outer):
            s.setblocking(False)
            self.close_in_child.add(s.fileno())

    async def _flush(self) -> None:
        async with self.send_lock:  # one writer at a time: records must not interleave
            data = self.outgoing.read()
            if data:
                await asyncio.get_running_loop().sock_sendall(self.raw, data)

    async def run(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            if not await self._handshake():
                return
            reader, writer = await asyncio.open_unix_connection(sock=self.inner, limit=1 << 20)
            c2p, p2c = asyncio.create_task(self._client_to_pair()), asyncio.create_task(self._pair_to_client())
            tasks = [asyncio.create_task(self.serve(reader, writer)), c2p, p2c]
            await asyncio.wait({c2p, p2c}, return_when=asyncio.FIRST_COMPLETED)
            if c2p.done() and c2p.exception() is None and not p2c.done():
                await asyncio.wait({p2c})  # a half-close: the answer still goes out, to its end
        except (OSError, ssl.SSLError):
            pass
        finally:  # the client is gone, or the answer is out: everything of this connection ends
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for s in (self.raw, self.inner, self.outer):
                self.close_in_child.discard(s.fileno())
                s.close()

    async def _handshake(self) -> bool:
        loop = asyncio.get_running_loop()
        while True:
            try:
                self.tls.do_handshake()
                await self._flush()
                return True
            except ssl.SSLWantReadError:
                await self._flush()
                data = await loop.sock_recv(self.raw, 65536)
                if not data:
                    return False
                if data[:1] != b"\x16" and not self.incoming.pending and data[:1].isalpha():  # plain HTTP
                    await loop.sock_sendall(self.raw, b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP "
                                                      b"request to an HTTPS server.\n")  # dockerd's words
                    return False
                self.incoming.write(data)
            except (ssl.SSLError, OSError):  # no TLS, or a certificate we do not trust: the client is turned away
                try:
                    await self._flush()  # the alert says why
                except OSError:
                    pass
                return False

    async def _client_to_pair(self) -> None:
        """The client's bytes, decrypted, to the pair; at its EOF (or close_notify) the pair's sending
        half is shut, and this returns. A failed read (a reset) raises: the client is gone."""
        loop = asyncio.get_running_loop()
        data = b"-"  # first what came with the handshake's last flight, if anything
        while True:
            while True:
                try:
                    plain = self.tls.read(65536)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    plain = b""
                if not plain:
                    self.outer.shutdown(socket.SHUT_WR)
                    return
                await loop.sock_sendall(self.outer, plain)
            await self._flush()  # what reading produced (TLS 1.3 tickets, key updates)
            if not data:
                self.outer.shutdown(socket.SHUT_WR)
                return
            data = await loop.sock_recv(self.raw, 65536)
            if data:
                self.incoming.write(data)
            else:
                self.incoming.write_eof()

    async def _pair_to_client(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.outer, 65536)
            if not data:  # the server closed its end: say so and end
                try:
                    self.tls.unwrap()
                except ssl.SSLError:
                    pass
                try:
                    await self._flush()
                    self.raw.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            self.tls.write(data)
            await self._flush()  # OSError here: the client is gone; run() closes the pair
