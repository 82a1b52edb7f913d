"""The hot statements (a refresh, a login's session, user and counters, the session
checks of protected routes) on the database driver itself.

Each statement is written once, in SQLAlchemy Core over the tables of app.db.models,
and compiled here once per dialect with SQLAlchemy's public compiler API; its binds and
result columns are converted by the column types' own processors, so a row written here
reads back through the engine exactly as one written there. What this module adds over
the engine is the execution: one asyncpg call, or one hop to a SQLite thread, per
operation instead of SQLAlchemy's async adapter (a pre-ping, BEGIN and ROLLBACK round
trips, and several event-loop waits per statement).

Every operation is bounded: it answers within `timeout` seconds (connecting included)
or raises ServiceUnavailable, and a PostgreSQL connection that timed out is terminated,
not returned to the pool, so no later request waits behind it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled

from app.db.engine import asyncpg_connect_args, run_with_engine, sqlstate_unavailable
from app.errors import ServiceUnavailable
from app.settings import Settings

T = TypeVar("T")
Row = tuple[Any, ...]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    """One statement of a transaction, with its bind values by name."""

    statement: ClauseElement
    params: Params


class Runner(Protocol):
    writes_with_cte: bool
    """The database runs data-modifying WITH (PostgreSQL): several writes that depend on
    one another can be one statement, so one round trip."""

    async def fetch(self, statement: ClauseElement, params: Params) -> list[Row]:
        """One statement on its own (its own transaction where it writes)."""
        ...

    async def transaction(self, steps: Sequence[Step], *, claim: bool = False) -> list[list[Row]]:
        """The steps in order, in one transaction. With `claim`, a first step that returns
        no row rolls back the transaction and nothing else runs (a lost compare-and-set):
        the answer is then `[[]]`."""
        ...

    async def close(self) -> None: ...


class _Prepared:
    """A statement compiled for one dialect: SQL text, bind order and converters."""

    __slots__ = ("sql", "names", "binders", "readers", "constants")

    def __init__(self, compiled: Compiled, statement: ClauseElement, dialect: Dialect) -> None:
        self.sql = compiled.string
        binds = getattr(compiled, "binds", {})
        self.names: list[str] = list(getattr(compiled, "positiontup", None) or [])
        self.binders = [binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.names]
        # literals written into the statement (`count + 1`) are binds with a value of their own
        self.constants = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        columns = list(getattr(statement, "exported_columns", ()))
        self.readers = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]

    def args(self, params: Params) -> list[Any]:
        values = []
        constants = self.constants
        for name, binder in zip(self.names, self.binders):
            value = constants[name] if name in constants else params[name]
            values.append(value if binder is None else binder(value))
        return values

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Row]:
        readers = self.readers
        return [tuple(v if r is None else r(v) for r, v in zip(readers, row)) for row in raw]


class _Compiler:
    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._cache: dict[int, tuple[ClauseElement, _Prepared]] = {}

    def __call__(self, statement: ClauseElement) -> _Prepared:
        """Statements are module constants; the cache holds the statement itself, so its
        id cannot be reused by another object while the entry lives."""
        hit = self._cache.get(id(statement))
        if hit is None:
            compiled = statement.compile(dialect=self._dialect)
            hit = self._cache[id(statement)] = (statement, _Prepared(compiled, statement, self._dialect))
        return hit[1]


class PostgresRunner:
    """An asyncpg pool of its own (at most `pool_size` connections, opened on demand)."""

    writes_with_cte = True

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        kwargs.update(asyncpg_connect_args(settings))
        self._connect = (tuple(args), dict(kwargs))
        self._size = settings.db_pool_size
        self._timeout = settings.db_command_timeout_seconds
        self._compile = _Compiler(engine.dialect)
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def fetch(self, statement: ClauseElement, params: Params) -> list[Row]:
        prepared = self._compile(statement)
        raw = await self._run(lambda conn: conn.fetch(prepared.sql, *prepared.args(params)))
        return prepared.rows(raw)

    async def transaction(self, steps: Sequence[Step], *, claim: bool = False) -> list[list[Row]]:
        prepared = [(self._compile(step.statement), step.params) for step in steps]

        async def work(conn: Any) -> list[list[Row]]:
            results: list[list[Row]] = []
            async with conn.transaction():
                for i, (statement, params) in enumerate(prepared):
                    results.append(statement.rows(await conn.fetch(statement.sql, *statement.args(params))))
                    if claim and i == 0 and not results[0]:
                        raise _Lost()
            return results

        try:
            result: list[list[Row]] = await self._run(work)
            return result
        except _Lost:
            return [[]]

    async def _run(self, work: Callable[[Any], Any]) -> Any:
        conn = None
        try:
            async with asyncio.timeout(self._timeout):
                pool = await self._open()
                conn = await pool.acquire()
                result = await work(conn)
        except _Lost:
            await self._release(conn)
            raise
        except TimeoutError:
            if conn is not None:
                conn.terminate()  # a statement may still be under way on it: never reuse it
                await self._release(conn)
            raise ServiceUnavailable() from None
        except Exception as exc:
            await self._release(conn)
            if _pg_unavailable(exc):
                raise ServiceUnavailable() from None
            raise
        await self._release(conn)
        return result

    async def _release(self, conn: Any) -> None:
        if conn is not None and self._pool is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await self._pool.release(conn)
            except Exception:  # noqa: BLE001 - a connection that cannot be reset is dropped
                conn.terminate()

    async def _open(self) -> Any:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    import asyncpg  # type: ignore[import-untyped]

                    args, kwargs = self._connect
                    self._pool = await asyncpg.create_pool(
                        *args, min_size=0, max_size=self._size, reset=_no_reset, **kwargs
                    )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                async with asyncio.timeout(self._timeout):
                    await pool.close()
            except TimeoutError:
                pool.terminate()


class _Lost(Exception):
    """A claim's compare-and-set found nothing: roll back."""


async def _no_reset(_: Any) -> None:
    """The pool's default reset is a round trip per release (RESET ALL, UNLISTEN …) for
    session state these statements never set; an open transaction is still rolled back."""


def _pg_unavailable(exc: Exception) -> bool:
    """The API's rule (app.api.errors) in asyncpg's terms: the database cannot serve now."""
    import asyncpg

    if isinstance(exc, (OSError, asyncpg.InterfaceError)):
        return True
    return isinstance(exc, asyncpg.PostgresError) and sqlstate_unavailable(exc.sqlstate)


class SqliteRunner:
    """A write runs at once on the event loop's own write connection when SQLite's write
    lock is free: it takes microseconds (WAL, synchronous=NORMAL: a commit appends to the
    log without fsync), less than the hop to a thread would. When the lock is held (by
    another process, or by this process's writer thread), the write goes to one thread
    with its own connection instead: it queues in memory there, and waiting for the lock
    never holds up the event loop. The loop's connection never checkpoints (an fsync);
    the writer thread checkpoints after every CHECKPOINT_EVERY writes made on the loop.
    Reads run on the event loop's read connection: in WAL mode a reader never waits for a
    lock."""

    writes_with_cte = False

    def __init__(self, path: str, settings: Settings) -> None:
        self._path = path
        self._busy_ms = settings.sqlite_busy_timeout_ms
        self._compile = _Compiler(_sqlite_dialect())
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._local = threading.local()
        self._loop_writer: sqlite3.Connection | None = None
        self._loop_writes = 0

    async def fetch(self, statement: ClauseElement, params: Params) -> list[Row]:
        prepared = self._compile(statement)
        writes = not statement.is_select  # type: ignore[attr-defined]

        def work(con: sqlite3.Connection) -> list[Row]:
            return prepared.rows(con.execute(prepared.sql, prepared.args(params)).fetchall())

        if not writes:
            try:
                rows: list[Row] = self._with_connection(work)
                return rows
            except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
                if isinstance(exc, sqlite3.IntegrityError):
                    raise
                raise ServiceUnavailable() from None
        written: list[Row] = await self._write(work)
        return written

    async def transaction(self, steps: Sequence[Step], *, claim: bool = False) -> list[list[Row]]:
        prepared = [(self._compile(step.statement), step.params) for step in steps]

        def work(con: sqlite3.Connection) -> list[list[Row]]:
            results: list[list[Row]] = []
            for i, (statement, params) in enumerate(prepared):
                results.append(statement.rows(con.execute(statement.sql, statement.args(params)).fetchall()))
                if claim and i == 0 and not results[0]:
                    raise _Lost()
            return results

        try:
            result: list[list[Row]] = await self._write(work)
            return result
        except _Lost:
            return [[]]

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in one write transaction: on the loop if the lock is free, else queued for
        the writer thread."""
        con: sqlite3.Connection | None
        try:
            con = self._loop_connection()
            con.execute("BEGIN IMMEDIATE")  # busy_timeout 0: SQLITE_BUSY at once if held
        except sqlite3.Error as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                self._drop_loop_connection()
            con = None  # the writer thread waits for the lock, or reports what is wrong
        if con is None:
            written: T = await self._in_thread(self._writer, lambda c: self._in_transaction(c, work))
            return written
        try:
            result = work(con)
            con.execute("COMMIT")
        except BaseException as exc:
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                self._drop_loop_connection()
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                raise ServiceUnavailable() from None
            raise
        self._loop_writes += 1
        if self._loop_writes % CHECKPOINT_EVERY == 0:
            self._checkpoint()
        return result

    def _loop_connection(self) -> sqlite3.Connection:
        if self._loop_writer is None:
            con = sqlite3.connect(self._path, timeout=0, isolation_level=None)
            for pragma in ("busy_timeout=0", "journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL",
                           "wal_autocheckpoint=0"):
                con.execute(f"PRAGMA {pragma}")
            self._loop_writer = con
        return self._loop_writer

    def _drop_loop_connection(self) -> None:
        con, self._loop_writer = self._loop_writer, None
        if con is not None:
            con.close()

    def _checkpoint(self) -> None:
        """PASSIVE: copies what no reader still needs, waits for nobody."""
        def run(con: sqlite3.Connection) -> None:
            con.execute("PRAGMA wal_checkpoint(PASSIVE)")

        try:
            self._writer.submit(self._with_connection, run)
        except RuntimeError:
            pass  # the executor is shut down: the app is closing

    @staticmethod
    def _in_transaction(con: sqlite3.Connection, work: Callable[[sqlite3.Connection], Any]) -> Any:
        con.execute("BEGIN IMMEDIATE")
        try:
            result = work(con)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return result

    async def _in_thread(self, thread: ThreadPoolExecutor, work: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            job = asyncio.get_running_loop().run_in_executor(thread, self._with_connection, work)
        except RuntimeError:  # the executor is shut down: the app is closing
            raise ServiceUnavailable() from None
        try:
            return await job
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise ServiceUnavailable() from None

    def _with_connection(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self._path, timeout=self._busy_ms / 1000, isolation_level=None)
            for pragma in (f"busy_timeout={self._busy_ms}", "journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
                con.execute(f"PRAGMA {pragma}")
            self._local.con = con
        try:
            return work(con)
        except sqlite3.Error as exc:
            if not isinstance(exc, sqlite3.IntegrityError):
                self._local.con = None  # opened afresh next time, as after a restore
                con.close()
            raise

    def _close_connection(self) -> None:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        self._local.con = None
        if con is not None:
            con.close()

    async def close(self) -> None:
        self._close_connection()  # the event loop's, for reads
        self._drop_loop_connection()
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._close_connection)
        except RuntimeError:
            return  # closed already
        self._writer.shutdown(wait=True)


CHECKPOINT_EVERY = 1000  # SQLite's own wal_autocheckpoint default is 1000 pages


def _sqlite_dialect() -> Dialect:
    from sqlalchemy.dialects.sqlite import pysqlite

    return pysqlite.dialect()


def make_runner(settings: Settings, engine: AsyncEngine) -> Runner:
    if settings.is_sqlite:
        return SqliteRunner(sqlite_path(engine), settings)
    return PostgresRunner(engine, settings)


def sqlite_path(engine: AsyncEngine) -> str:
    """The file of a SQLite URL. An in-memory database exists only inside one connection,
    so a server (many connections, many processes) cannot use one."""
    url = engine.url
    path = url.database or ""
    if not path or path == ":memory:" or url.query.get("mode") == "memory":
        raise ValueError("DATABASE_URL: an in-memory SQLite database cannot be shared; name a file")
    return path


def run_with_database(settings: Settings, action: Callable[[AsyncEngine, Runner], Awaitable[T]]) -> T:
    """For the CLI: an engine and a runner for one command, both closed afterwards."""

    async def go(engine: AsyncEngine) -> T:
        runner = make_runner(settings, engine)
        try:
            return await action(engine, runner)
        finally:
            await runner.close()

    return run_with_engine(settings, go)
