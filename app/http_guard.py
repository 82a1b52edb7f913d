"""Connection limits for `python -m app serve` when it faces clients directly.

uvicorn bounds neither the size of a request head nor the time a client may take to send
it, and it accepts connections until the process runs out of file descriptors. Without
these bounds one client can stall every other one: a 100 MB header line keeps the event
loop parsing for tens of seconds, and a few thousand requests sent a byte at a time
(slowloris) use up the descriptors. `GuardedHTTP` wraps the HTTP protocol uvicorn would use
and enforces, per connection and per process:

- **head size**: a request head (request line and header fields, up to the blank line)
  longer than `HTTP_MAX_HEADER_BYTES` is answered `431` and the connection closed; the
  bytes beyond the bound are never parsed;
- **head time**: a request head must arrive within `HTTP_HEADER_TIMEOUT_SECONDS` of its
  first byte (the first request's, of the connection's opening), else `408` and close;
- **request time**: from a request's first byte, the server's answer must start within
  `HTTP_REQUEST_TIMEOUT_SECONDS` (a body sent a byte at a time is the same attack as a
  head sent so), else the connection is closed. The routes' own bound on a stalled
  database is shorter;
- **connections**: at most `HTTP_MAX_CONNECTIONS` open connections, and at most
  `HTTP_MAX_CONNECTIONS_PER_IP` from one peer address (not counted for `TRUSTED_PROXIES`,
  which speak for many clients); a connection over either bound gets `503` with
  `Retry-After` and is closed at once.

An exchange starts when the connection opens, or with the first byte received while no
request is pending, and ends when the server writes its answer (between exchanges,
uvicorn's keep-alive timeout closes an idle connection). Only the asyncio `Protocol` and `Transport` interfaces
are used: the wrapped protocol sees a transport that notes when an answer is written.
Behind a reverse proxy the proxy enforces the same bounds (`deploy/nginx.conf`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import resource
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

HEAD_END = b"\r\n\r\n"
LINGER_SECONDS = 2.0
SPARE_DESCRIPTORS = 100  # database connections, log and key files, the listening socket


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int
    header_timeout: float
    request_timeout: float
    max_connections: int
    max_connections_per_ip: int
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def counts_peer(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:  # a Unix socket's peer, say
            return False
        return not any(address in network for network in self.exempt)


class Connections:
    """Open connections of one process, in all and per peer address."""

    def __init__(self) -> None:
        self.total = 0
        self.by_peer: Counter[str] = Counter()

    def admit(self, peer: str | None, limits: Limits) -> bool:
        if self.total >= limits.max_connections:
            return False
        if peer is not None and self.by_peer[peer] >= limits.max_connections_per_ip:
            return False
        self.total += 1
        if peer is not None:
            self.by_peer[peer] += 1
        return True

    def release(self, peer: str | None) -> None:
        self.total -= 1
        if peer is not None:
            self.by_peer[peer] -= 1
            if not self.by_peer[peer]:
                del self.by_peer[peer]


def _answer(status: str, description: str, extra: str = "") -> bytes:
    body = json.dumps({"error": "invalid_request" if status[0] == "4" else "temporarily_unavailable",
                       "error_description": description}).encode()
    head = (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"{extra}connection: close\r\n\r\n")
    return head.encode() + body


class _NotingTransport(asyncio.Transport):
    """The real transport, telling the guard when an answer is written."""

    def __init__(self, transport: asyncio.Transport, on_write: Callable[[], None]) -> None:
        super().__init__()
        self._transport = transport
        self._on_write = on_write

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._on_write()
        self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._on_write()
        self._transport.writelines(list_of_data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self._transport.close()

    def abort(self) -> None:
        self._transport.abort()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self._transport.write_eof()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class Guard(asyncio.Protocol):
    """One connection: passes bytes to `inner` while the connection keeps the limits."""

    def __init__(self, inner: asyncio.Protocol, limits: Limits, connections: Connections) -> None:
        self.inner = inner
        self.limits = limits
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.peer: str | None = None
        self.admitted = False
        self.pending = False  # a request's first byte has arrived and no answer is written
        self.head_done = False
        self.head_bytes = 0
        self.tail = b""  # the last bytes of the head so far, to find HEAD_END across reads
        self.started = 0.0  # loop time of the exchange's start
        self.timer: asyncio.TimerHandle | None = None  # at or before the exchange's next deadline
        self.refused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream: asyncio.Transport = transport  # type: ignore[assignment]  # a TCP server's connection
        self.transport = stream
        peername = stream.get_extra_info("peername")
        host = peername[0] if isinstance(peername, tuple) else None
        self.peer = host if host is not None and self.limits.counts_peer(host) else None
        if not self.connections.admit(self.peer, self.limits):
            stream.write(_answer("503 Service Unavailable", "too many connections", "retry-after: 1\r\n"))
            stream.close()
            return
        self.admitted = True
        self._start_exchange()
        self.inner.connection_made(_NotingTransport(stream, self._answered))

    def data_received(self, data: bytes) -> None:
        if not self.admitted or self.refused or self.transport is None or self.transport.is_closing():
            return  # a refused request's remaining bytes are read and dropped until the close
        if not self.pending:
            self._start_exchange()
        if not self.head_done:
            end = (self.tail + data).find(HEAD_END)
            if end >= 0:
                self.head_done = True
                self.head_bytes += end + len(HEAD_END) - len(self.tail)
            else:
                self.head_bytes += len(data)
                self.tail = (self.tail + data)[-(len(HEAD_END) - 1):]
            if self.head_bytes > self.limits.max_header_bytes:
                self._refuse("431 Request Header Fields Too Large",
                             f"the request head exceeds {self.limits.max_header_bytes} bytes")
                return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self.admitted:
            self.admitted = False
            self.connections.release(self.peer)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    # the exchange
    def _start_exchange(self) -> None:
        """One timer per connection, not one per request: an answer leaves it armed, and
        when it fires it looks at the exchange of that moment (`_check_time`). A new
        exchange re-arms it only when it would fire after the new head's deadline."""
        self.pending, self.head_done, self.head_bytes, self.tail = True, False, 0, b""
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        deadline = self.started + min(self.limits.header_timeout, self.limits.request_timeout)
        if self.timer is None or self.timer.when() > deadline:
            self._cancel_timer()
            self.timer = loop.call_at(deadline, self._check_time)

    def _answered(self) -> None:
        self.pending = False

    def _check_time(self) -> None:
        self.timer = None
        if not self.pending or self.transport is None:
            return  # answered: the next exchange arms the timer again
        loop = asyncio.get_running_loop()
        now = loop.time()
        request_deadline = self.started + self.limits.request_timeout
        if now >= request_deadline:
            self.transport.close()
            return
        deadline = request_deadline
        if not self.head_done:
            head_deadline = self.started + self.limits.header_timeout
            if now >= head_deadline:
                self._refuse("408 Request Timeout",
                             f"the request head took longer than {self.limits.header_timeout:g} s")
                return
            deadline = min(deadline, head_deadline)
        self.timer = loop.call_at(deadline, self._check_time)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _refuse(self, status: str, description: str) -> None:
        """Answer, then close gently: closing with unread bytes in the socket would make the
        kernel reset the connection, and the client could lose the answer. So the answer
        and a FIN go out first, and what the client still sends is dropped for a moment."""
        assert self.transport is not None
        self._cancel_timer()
        self.pending, self.refused = False, True
        self.transport.write(_answer(status, description))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)


def limits_from_settings() -> Limits:
    from app.settings import load_settings

    settings = load_settings()
    descriptors, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if descriptors != resource.RLIM_INFINITY and descriptors < settings.http_max_connections + SPARE_DESCRIPTORS:
        logging.getLogger("app.startup").warning(
            "HTTP_MAX_CONNECTIONS=%d does not fit the process's open-file limit of %d (ulimit -n); "
            "raise the limit or lower HTTP_MAX_CONNECTIONS below %d",
            settings.http_max_connections, descriptors, descriptors - SPARE_DESCRIPTORS,
        )
    return Limits(
        max_header_bytes=settings.http_max_header_bytes,
        header_timeout=settings.http_header_timeout_seconds,
        request_timeout=settings.http_request_timeout_seconds,
        max_connections=settings.http_max_connections,
        max_connections_per_ip=settings.http_max_connections_per_ip,
        exempt=settings.proxy_networks,
    )


class GuardedHTTP(Guard):
    """The protocol `serve` gives uvicorn (`http=GuardedHTTP`): uvicorn's
    own HTTP protocol, built with the arguments uvicorn passes, behind a `Guard` with the
    limits of this process's settings. Every worker process reads its own."""

    process_limits: Limits | None = None
    open_connections = Connections()

    def __init__(self, **uvicorn_arguments: Any) -> None:
        if GuardedHTTP.process_limits is None:
            GuardedHTTP.process_limits = limits_from_settings()
        super().__init__(
            AutoHTTPProtocol(**uvicorn_arguments), GuardedHTTP.process_limits, GuardedHTTP.open_connections
        )
