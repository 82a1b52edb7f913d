"""The connection guard's time bounds (app.http_guard) on a virtual clock: one timer per
connection serves every exchange of a kept-alive connection, each exchange keeps its
own head and request deadlines, and a closed connection leaves no timer behind. The
live test (tests/live/test_http_limits.py) runs the same bounds against real sockets."""

from __future__ import annotations

import asyncio
from typing import Any

from app.http_guard import Connections, Guard, Limits
from tests.virtual_time import on_virtual_time

LIMITS = Limits(max_header_bytes=1000, header_timeout=2, request_timeout=4, max_connections=10, max_connections_per_ip=10)
HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class Socket(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5000) if name == "peername" else default

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


class App(asyncio.Protocol):
    """The wrapped HTTP protocol: it answers when told to."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        pass

    def answer(self) -> None:
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")


def connect() -> tuple[Guard, Socket, App]:
    app, socket = App(), Socket()
    guard = Guard(app, LIMITS, Connections())
    guard.connection_made(socket)
    return guard, socket, app


@on_virtual_time
async def test_a_later_exchange_on_a_kept_connection_gets_its_own_head_deadline() -> None:
    guard, socket, app = connect()
    guard.data_received(HEAD)
    app.answer()
    await asyncio.sleep(5)  # idle between exchanges: no bound of the guard's
    assert not socket.closed
    guard.data_received(b"GET / HTTP/1.1\r\n")  # a head that never ends, from t=5
    await asyncio.sleep(1.9)
    assert b"408" not in socket.written
    await asyncio.sleep(0.2)  # t=7.1: past 5 + header_timeout
    assert b"HTTP/1.1 408" in socket.written


@on_virtual_time
async def test_a_request_unanswered_past_its_bound_is_closed_whatever_came_before() -> None:
    guard, socket, app = connect()
    for _ in range(3):  # answered exchanges leave the timer armed for the next
        guard.data_received(HEAD)
        app.answer()
        await asyncio.sleep(1.5)
    guard.data_received(HEAD)  # from t=4.5, the head in time, the answer never
    await asyncio.sleep(3.9)
    assert not socket.closed
    await asyncio.sleep(0.2)  # t=8.6: past 4.5 + request_timeout
    assert socket.closed and b"408" not in socket.written


@on_virtual_time
async def test_a_closed_connection_leaves_no_timer() -> None:
    guard, socket, _ = connect()
    guard.data_received(b"GET / HTTP/1.1\r\n")
    guard.connection_lost(None)
    await asyncio.sleep(10)
    assert socket.written == b"" and not socket.closed  # no 408, no close: no timer acted
