"""engine/api/server.py's HTTP over a real unix socket, with a stand-in handler: the fast path (answers
in the protocol's callback) and the hand-over to asyncio's streams give the same bytes, in order."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import AsyncIterator

import pytest

from engine.api.server import Request, Response, Server, json_response, parse_head


async def handle(req: Request) -> Response:
    if req.path == "/wait":  # a handler that waits: the rest runs in a task
        await asyncio.sleep(0.01)
        return json_response({"waited": True})
    if req.path == "/stream":
        async def items() -> AsyncIterator[object]:
            yield {"n": 1}
            await asyncio.sleep(0)
            yield {"n": 2}
        return Response(stream=items())
    if req.path == "/boom":
        raise ValueError("boom")
    if req.path == "/empty":
        return Response(204)
    if req.path == "/big":
        return Response(200, b"x" * (1 << 20), content_type="application/octet-stream")
    return json_response({"method": req.method, "path": req.path, "version": req.version, "query": req.query,
                          "body": req.body.decode(), "ua": req.headers.get("user-agent", "")})


async def exchange(chunks: list[bytes], *, half_close: bool = True) -> bytes:
    """Send these pieces (a pause between them), then read until the server closes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.sock")
        lsock = socket.socket(socket.AF_UNIX)
        lsock.bind(path)
        lsock.listen(8)
        task = asyncio.create_task(Server(handle).serve(lsock))
        await asyncio.sleep(0)
        try:
            reader, writer = await asyncio.open_unix_connection(path)
            for piece in chunks:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.02)
            if half_close:
                writer.write_eof()
            data = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return data
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def responses(data: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """The responses in ``data``: status line, headers, body (Content-Length or chunked, decoded)."""
    out = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, data = data.partition(b"\r\n")
                size = int(size_line, 16)
                body += data[:size]
                data = data[size + 2:]
                if size == 0:
                    break
        else:
            n = int(headers.get("content-length", "0")) if not lines[0].endswith(("HEAD",)) else 0
            body, data = data[:n], data[n:]
        out.append((lines[0], headers, body))
    return out


def run(chunks: list[bytes], **kw: bool) -> bytes:
    return asyncio.run(exchange(chunks, **kw))


def test_pipelined_fast_and_slow_in_order() -> None:
    req = (b"GET /v1.50/containers/json?all=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
           b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    got = responses(run([req]))
    assert [r[0] for r in got] == ["HTTP/1.1 200 OK"] * 4
    assert b'"query": {"all": ["1"]}' in got[0][2] and b'"version": "1.50"' in got[0][2]
    assert got[1][2] == b'{"waited": true}\n'
    assert got[2][1]["transfer-encoding"] == "chunked" and got[2][2] == b'{"n": 1}\n{"n": 2}\n'
    assert b'"body": "hello"' in got[3][2]


def test_request_in_pieces_and_head() -> None:
    got = responses(run([b"HEAD /_pi", b"ng HTTP/1.1\r\nHo", b"st: x\r\n", b"\r\n",
                         b"POST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nab", b"cd"]))
    assert got[0][0] == "HTTP/1.1 200 OK" and got[0][1]["content-length"] == "0" and got[0][2] == b""
    assert b'"body": "abcd"' in got[1][2]


def test_chunked_body_and_errors() -> None:
    got = responses(run([b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                         b"GET /boom HTTP/1.1\r\n\r\nGET /empty HTTP/1.1\r\n\r\n"]))
    assert b'"body": "abc"' in got[0][2]
    assert got[1][0] == "HTTP/1.1 500 Internal Server Error" and b"ValueError: boom" in got[1][2]
    assert got[2][0] == "HTTP/1.1 204 No Content" and "content-length" not in got[2][1]


def test_connection_close_and_http10() -> None:
    data = run([b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n"], half_close=False)
    assert [r[0] for r in responses(data)] == ["HTTP/1.1 200 OK"]
    data = run([b"GET /a HTTP/1.0\r\n\r\n"], half_close=False)
    assert len(responses(data)) == 1


@pytest.mark.parametrize("raw", [b"NONSENSE\r\n\r\n", b"GET /a HTTP/1.1\r\nContent-Length: x\r\n\r\n"])
def test_malformed_is_400_and_close(raw: bytes) -> None:
    got = responses(run([raw + b"GET /b HTTP/1.1\r\n\r\n"], half_close=False))
    assert len(got) == 1 and got[0][0] == "HTTP/1.1 400 Bad Request"


def test_request_cut_short_by_eof() -> None:
    # no blank line before the client's EOF: the streams' reading of it (the head ends at EOF) answers
    got = responses(run([b"GET /a HTTP/1.1\r\nHost: x\r\n"]))
    assert len(got) == 1 and got[0][0] == "HTTP/1.1 200 OK"


def test_client_not_reading_its_answers() -> None:
    # a full write buffer: the streams' path takes over (it waits for the client before reading more)
    reqs = b"GET /big HTTP/1.1\r\n\r\n" * 12 + b"GET /wait HTTP/1.1\r\n\r\n" + b"GET /a HTTP/1.1\r\n\r\n"
    got = responses(run([reqs]))
    assert [len(r[2]) for r in got[:12]] == [1 << 20] * 12
    assert got[12][2] == b'{"waited": true}\n' and b'"path": "/a"' in got[13][2] and len(got) == 14


def test_parse_head() -> None:
    assert parse_head(bytearray(b"GET / HTTP/1.1\r\nHost: x")) is None
    end, fields, headers = parse_head(bytearray(b"GET / HTTP/1.1\nA: 1\nB:2\n\nrest")) or (0, [], {})
    assert fields == ["GET", "/", "HTTP/1.1"] and headers == {"a": "1", "b": "2"} and end == 25
