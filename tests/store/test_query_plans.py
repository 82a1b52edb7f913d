"""No statement on the request paths reads a whole table. A refresh once cost ~1 ms per
2,000 live sessions on SQLite because `session_id IN (SELECT id FROM login_session …)`
made SQLite list every live session first; a timing test would not catch that on a small
test database, so this reads SQLite's query plans instead: every statement the paths
run (the engine's, captured as they execute, and the runner's hot statements, compiled
as the runner compiles them) must reach its rows through an index, with no table scan
and no materialised list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.clock import FrozenClock
from app.settings import Settings
from sqlalchemy.dialects.sqlite import pysqlite

from app.store import attempts, audit, sessions, users
from tests.support import app_client, bearer, login_pair, refresh_grant

pytestmark = [pytest.mark.usefixtures("user"), pytest.mark.sqlite_only]

# The search for the password costs in use (SqlUserStore.hash_outside) scans the user
# table by design: once per process and cost (app.oauth.password_check), not per request.
CENSUS = "SELECT user_account.password_hash FROM user_account WHERE"
# Reading one user's sessions sorts them (bounded by the per-user session cap).
ALLOWED = ("USE TEMP B-TREE FOR ORDER BY", "SCAN CONSTANT ROW")  # the row of an INSERT … SELECT of binds


def problems(plan: list[str]) -> list[str]:
    """A scan, a materialised list, or a search by `revoked_at IS NULL` alone: that index
    entry is every live session (SQLite picks it, without statistics, for an `IN` list of
    eight ids or more beside that condition)."""
    return [
        step for step in plan
        if (step.startswith("SCAN") or "LIST SUBQUERY" in step or "TEMP B-TREE" in step
            or "(revoked_at=?)" in step) and step not in ALLOWED
    ]


@pytest.fixture
def statements() -> Iterator[dict[str, Any]]:
    seen: dict[str, Any] = {}

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT", "WITH")):
            seen.setdefault(statement, parameters[0] if many else parameters)

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", capture)


async def test_the_request_paths_use_indexes_only(settings: Settings, statements: dict[str, Any]) -> None:
    async with app_client(settings, FrozenClock()) as client:
        engine = client.app.state.services.engine  # type: ignore[attr-defined]
        pair = await login_pair(client)
        r = await refresh_grant(client, pair["refresh_token"])
        assert r.status_code == 200, r.text
        reused = await refresh_grant(client, pair["refresh_token"])  # the SQLAlchemy path, and revocation
        assert reused.status_code == 400
        pair = await login_pair(client)
        for path in ("/protected", "/user/me", "/user/sessions"):
            assert (await client.get(path, headers=bearer(pair["access_token"]))).status_code == 200
        assert (await client.post("/user/_logout", headers=bearer(pair["access_token"]))).status_code == 200
        assert statements, "nothing captured"
        hot = [
            sessions.STATE, sessions.CLAIM, sessions.INSERT_TOKEN, sessions.INSERT_SUCCESSOR, sessions.ROTATE_TOUCH,
            sessions.INSERT_SESSION,
            sessions.REVOKE, sessions.OWNER, sessions.REVOKED_SINCE, users.BY_NAME, audit.APPEND,
            attempts.LOOK, attempts.HIT, attempts.CLAIM, attempts.KNOW, attempts.RESET, attempts.REFUND, attempts.WITHDRAW,
            *(sessions.live_statement(size) for size in sessions.LIST_SIZES),
            *(sessions.confirm_statement(size) for size in sessions.LIST_SIZES),
        ]
        dialect = pysqlite.dialect()
        for statement in hot:
            compiled = statement.compile(dialect=dialect)
            statements[compiled.string] = tuple("x" for _ in compiled.positiontup or ())
        found: dict[str, list[str]] = {}
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            for statement, params in statements.items():
                if " ".join(statement.split()).startswith(CENSUS):
                    continue
                cursor = await raw.execute("EXPLAIN QUERY PLAN " + statement, params)
                plan = [row[3] for row in await cursor.fetchall()]
                if bad := problems(plan):
                    found[" ".join(statement.split())[:160]] = bad
    assert found == {}
    assert any(" ".join(s.split()).startswith(CENSUS) for s in statements)  # the one skipped ran
    assert problems(["SCAN login_session"]) and problems(["LIST SUBQUERY 1"])  # the check itself bites
    assert problems(["SEARCH login_session USING INDEX ix_login_session_revoked_at (revoked_at=?)"])
