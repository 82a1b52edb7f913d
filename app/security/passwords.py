"""The one module that imports the hashing library.

argon2id with the OWASP/ASVS minimum (m=19 MiB, t=2, p=1) hashes new passwords; bcrypt
hashes (from imports or older deployments) still verify and are marked for upgrade, as
is an argon2 hash made with weaker parameters. Hashing is CPU-bound and memory-hungry,
so the async wrappers run it in a bounded pool of worker threads
(PASSWORD_HASH_CONCURRENCY): a login storm neither stalls the event loop nor grows
memory without bound. The queue in front of them is bounded too (PASSWORD_HASH_QUEUE):
a hash that would wait behind more than that many is refused at once (HashingBusy, a
503 with Retry-After), so a flood of guesses cannot make every other login wait.

A verification costs what its hash's scheme and parameters say, whatever the password:
that *cost* is named by the hash's leading setting string (`$2b$12$`,
`$argon2id$v=19$m=19456,t=2,p=1$`), and `check` can pay it again against a dummy hash
made with the same setting (app.oauth.password_check decides which).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from passlib.context import CryptContext

from app.errors import ServiceUnavailable

T = TypeVar("T")

ARGON2_MEMORY_KIB = 19456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
DUMMY_PASSWORD = "dummy password for timing equalisation"


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

    @property
    def default_cost(self) -> str: ...

    def cost_of(self, hashed: str) -> str | None: ...

    async def check(self, password: str, hashed: str | None, *, dummies: Collection[str]) -> tuple[bool, str | None]: ...


class CryptPasswordHasher:
    """passlib-style API; every call runs off the event loop, in at most `concurrency`
    threads of its own (each argon2id hash holds 19 MiB while it runs). With `queue`,
    at most that many more wait for a thread; beyond, HashingBusy at once."""

    def __init__(self, context: CryptContext | None = None, concurrency: int = 4, queue: int | None = None) -> None:
        self._context = context or make_context()
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="password-hash")
        self._dummies: dict[str, str] = {}  # cost -> a hash of DUMMY_PASSWORD made at that cost
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

        return await self._run(self._verify_and_update, password, hashed)

    @property
    def default_cost(self) -> str:
        """The cost of the hashes `hash` makes."""
        return f"$argon2id$v=19$m={ARGON2_MEMORY_KIB},t={ARGON2_TIME_COST},p={ARGON2_PARALLELISM}$"

    def cost_of(self, hashed: str) -> str | None:
        """The setting `hashed` starts with (scheme and parameters: what verifying it
        costs); None for a hash this server cannot read, which verifies at no cost."""
        try:
            handler = self._context.identify(hashed, resolve=True, required=True)
            handler.from_string(hashed)
        except (ValueError, TypeError):
            return None
        if handler.name == "bcrypt":  # $2b$12$ then salt and digest, with no `$` between
            return hashed[: hashed.rindex("$") + 1]
        return hashed[: hashed.rindex("$", 0, hashed.rindex("$")) + 1]  # argon2: …$salt$digest

    async def check(self, password: str, hashed: str | None, *, dummies: Collection[str]) -> tuple[bool, str | None]:
        """`verify_and_update` against `hashed` (None: no hash, never matches); when the
        answer is no, also a verification against a dummy hash at each of `dummies`. One
        job: it is queued or refused whole, so a refused job was no guess, and one that
        ran cost the same whichever of its verifications was the real one."""

        def run() -> tuple[bool, str | None]:
            ok, new = (False, None) if hashed is None else self._verify_and_update(password, hashed)
            if not ok:
                for cost in dummies:
                    self._context.verify(password, self._dummy(cost))
            return ok, new

        return await self._run(run)

    def _verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        try:
            ok, new = self._context.verify_and_update(password, hashed)
        except (ValueError, TypeError):  # an unreadable stored hash never matches
            return False, None
        return bool(ok), (str(new) if new else None)

    def _dummy(self, cost: str) -> str:
        """In a hashing thread: building one costs a hash, once per cost and process."""
        dummy = self._dummies.get(cost)
        if dummy is None:
            dummy = self._dummies[cost] = str(self._handler_for(cost).hash(DUMMY_PASSWORD))
        return dummy

    def _handler_for(self, cost: str) -> Any:
        """The context's scheme of `cost` (a `cost_of` answer), set to its parameters."""
        fields = cost.strip("$").split("$")  # ["2b", "12"] or ["argon2id", "v=19", "m=19456,t=2,p=1"]
        if fields[0].startswith("argon2"):
            params = dict(kv.split("=", 1) for kv in fields[-1].split(","))
            return self._context.handler("argon2").using(
                type=fields[0].removeprefix("argon2"), memory_cost=int(params["m"]), rounds=int(params["t"]),
                parallelism=int(params["p"]),
            )
        return self._context.handler("bcrypt").using(rounds=int(fields[1]))
