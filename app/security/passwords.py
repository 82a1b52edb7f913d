"""The one module that imports the hashing library.

argon2id with the OWASP/ASVS minimum (m=19 MiB, t=2, p=1) hashes new passwords; bcrypt
hashes (from imports or older deployments) still verify and are marked for upgrade, as
is an argon2 hash made with weaker parameters. Hashing is CPU-bound and memory-hungry,
so the async wrappers run it in a bounded pool of worker threads
(PASSWORD_HASH_CONCURRENCY): a login storm neither stalls the event loop nor grows
memory without bound. The queue in front of them is bounded too (PASSWORD_HASH_QUEUE):
a hash that would wait behind more than that many is refused at once (HashingBusy, a
503 with Retry-After), so a flood of guesses cannot make every other login wait.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from passlib.context import CryptContext

from app.errors import ServiceUnavailable

T = TypeVar("T")

ARGON2_MEMORY_KIB = 19456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1


def make_context() -> CryptContext:
    return CryptContext(
        schemes=["argon2", "bcrypt"],
        deprecated=["bcrypt"],
        argon2__type="ID",
        argon2__memory_cost=ARGON2_MEMORY_KIB,
        argon2__rounds=ARGON2_TIME_COST,
        argon2__parallelism=ARGON2_PARALLELISM,
    )


class HashingBusy(ServiceUnavailable):
    default_description = "Too many password checks are waiting; retry shortly."


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]: ...

    async def verify_dummy(self, password: str) -> None: ...


class CryptPasswordHasher:
    """passlib-style API; every call runs off the event loop, in at most `concurrency`
    threads of its own (each argon2id hash holds 19 MiB while it runs). With `queue`,
    at most that many more wait for a thread; beyond, HashingBusy at once."""

    def __init__(self, context: CryptContext | None = None, concurrency: int = 4, queue: int | None = None) -> None:
        self._context = context or make_context()
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="password-hash")
        self._dummy: str | None = None
        self._capacity = None if queue is None else concurrency + queue
        self._pending = 0  # submitted and not finished: running or waiting for a thread
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return self._pending

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._capacity is not None and self._pending >= self._capacity:
                raise HashingBusy()
            self._pending += 1
        # Counted down when the job itself ends, not its awaiter: a caller that gave up
        # (a client that disconnected) leaves a running hash that still holds its thread.
        try:
            job = self._threads.submit(fn, *args)
        except BaseException:  # shut down: the app is closing
            self._finished(None)
            raise
        job.add_done_callback(self._finished)
        return await asyncio.wrap_future(job)

    def _finished(self, _: object) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        self._threads.shutdown(wait=False)

    def hash_sync(self, password: str) -> str:
        return str(self._context.hash(password))

    def needs_update(self, hashed: str) -> bool:
        return bool(self._context.needs_update(hashed))

    async def hash(self, password: str) -> str:
        return await self._run(self.hash_sync, password)

    async def verify(self, password: str, hashed: str) -> bool:
        ok, _ = await self.verify_and_update(password, hashed)
        return ok

    async def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """(matches, new hash if the stored one should be upgraded, else None)."""

        def run() -> tuple[bool, str | None]:
            try:
                ok, new = self._context.verify_and_update(password, hashed)
            except (ValueError, TypeError):  # an unreadable stored hash never matches
                return False, None
            return bool(ok), (str(new) if new else None)

        return await self._run(run)

    async def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification costs, so unknown users cannot be told apart."""
        if self._dummy is None:
            self._dummy = await self.hash("dummy password for timing equalisation")
        await self.verify_and_update(password, self._dummy)
