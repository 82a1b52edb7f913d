"""`python -m app serve` facing clients directly: an oversized request head, slow clients
(slowloris, a body sent a byte at a time) and a connection flood each get a clear answer or
a close within their bound, while another client is served meanwhile. The other client
connects from 127.0.0.2 (Linux routes all of 127.0.0.0/8 to loopback), so the per-address
bound that stops the attacker at 127.0.0.1 does not count it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from tests.support import live_server

BYSTANDER_BOUND = 2.0  # seconds: the other client's worst answer time during an attack


def address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname or "127.0.0.1", parts.port or 80


def read_answer(sock: socket.socket, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


class Bystander:
    """Another client, from another address: GET /healthz every 0.2 s; its answer times."""

    def __init__(self, base: str) -> None:
        self.target = address(base)
        self.times: list[float] = []
        self.failures: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            with socket.create_connection(self.target, timeout=30, source_address=("127.0.0.2", 0)) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                answer = read_answer(sock, 30)
            self.times.append(time.monotonic() - started)
            if not answer.startswith(b"HTTP/1.1 200"):
                self.failures.append(answer[:60])
            self.stop.wait(0.2)

    @property
    def worst(self) -> float:
        return max(self.times)


@contextmanager
def bystander(base: str) -> Iterator[Bystander]:
    watcher = Bystander(base)
    watcher.thread.start()
    try:
        yield watcher
    finally:
        watcher.stop.set()
        watcher.thread.join(60)
    assert len(watcher.times) >= 3, "the other client was not served during the attack"
    assert watcher.failures == []
    print(f"other client: {len(watcher.times)} answers, worst {watcher.worst:.3f} s")
    assert watcher.worst < BYSTANDER_BOUND


@pytest.fixture
def base(database_url: str) -> Iterator[str]:
    with live_server(
        database_url,
        HTTP_HEADER_TIMEOUT_SECONDS="2",
        HTTP_REQUEST_TIMEOUT_SECONDS="4",
        HTTP_MAX_CONNECTIONS="200",
        HTTP_MAX_CONNECTIONS_PER_IP="20",
    ) as url:
        yield url


@pytest.mark.parametrize("head", ["one 100 MB header", "100,000 headers"])
def test_an_oversized_request_head_gets_431_at_once_and_stalls_nobody(base: str, head: str) -> None:
    with bystander(base):
        time.sleep(0.5)
        started = time.monotonic()
        with socket.create_connection(address(base)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            try:
                if head == "one 100 MB header":
                    sock.sendall(b"X-Big: ")
                    for _ in range(100):
                        sock.sendall(b"a" * (1 << 20))
                else:
                    sock.sendall(b"".join(b"X-%d: v\r\n" % i for i in range(100_000)))
                sock.sendall(b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server stopped reading once it had answered
            answer = read_answer(sock)
        took = time.monotonic() - started
        time.sleep(0.5)
    print(f"{head}: {answer[:44]!r} after {took:.2f} s")
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"error": "invalid_request"' in answer
    assert took < 5


def test_a_head_within_the_bound_is_served(base: str) -> None:
    with socket.create_connection(address(base)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 20_000 + b"\r\nConnection: close\r\n\r\n")
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")


def test_slowloris_connections_time_out_and_are_capped_per_address(base: str) -> None:
    slow: list[socket.socket] = []
    with bystander(base):
        for _ in range(300):  # from 127.0.0.1; the bound per address is 20
            sock = socket.create_connection(address(base))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            slow.append(sock)
        started = time.monotonic()
        answers: dict[bytes, int] = {}
        for sock in slow:
            try:
                sock.send(b"X")  # a byte at a time, as slowloris does
            except OSError:
                pass
        for sock in slow:
            status = read_answer(sock, 10)[:12]
            answers[status] = answers.get(status, 0) + 1
            sock.close()
        took = time.monotonic() - started
    print(f"slow connections: {answers}, all closed after {took:.2f} s")
    assert answers.get(b"HTTP/1.1 408", 0) == 20  # admitted, then timed out (2 s)
    assert answers.get(b"HTTP/1.1 503", 0) == 280  # over the bound per address: refused at once
    assert took < 2 + 5


def test_a_body_sent_a_byte_at_a_time_is_cut_off(base: str) -> None:
    with socket.create_connection(address(base)) as sock:
        sock.sendall(b"POST /user/oauth/token HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 15:
            try:
                sock.send(b"a")
                sock.settimeout(0.3)
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
    took = time.monotonic() - started
    print(f"a slow body: closed after {took:.2f} s")
    assert closed and 3 < took < 8  # HTTP_REQUEST_TIMEOUT_SECONDS=4


def test_over_the_connection_bound_a_client_gets_503_at_once(base: str) -> None:
    held: list[socket.socket] = []
    try:
        for i in range(200):  # from 200 addresses, under the bound per address
            held.append(socket.create_connection(address(base), source_address=(f"127.0.1.{i + 1}", 0)))
        time.sleep(0.3)
        started = time.monotonic()
        with socket.create_connection(address(base), source_address=("127.0.0.3", 0)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = read_answer(sock)
        took = time.monotonic() - started
    finally:
        for sock in held:
            sock.close()
    print(f"connection 201: {answer[:30]!r} after {took:.3f} s")
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"retry-after: 1" in answer.lower()
    assert took < 1


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(base: str) -> None:
    started = time.monotonic()
    with socket.create_connection(address(base)) as sock:
        answer = read_answer(sock, 10)
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 1.5 < took < 5  # HTTP_HEADER_TIMEOUT_SECONDS=2
