"""The user store's statements on the real database (SQLite or PostgreSQL)."""

from __future__ import annotations

from app.db.engine import make_engine
from app.db.runner import make_runner
from app.settings import Settings
from app.store.users import SqlUserStore
from tests.support import create_user


async def test_hash_outside_finds_a_hash_of_no_listed_prefix(settings: Settings) -> None:
    """The search behind the password costs in use (app.oauth.password_check): `%` and
    `_` in a prefix match themselves, not any text."""
    await create_user(settings, "alice", hashed="$argon2id$v=19$m=19456,t=2,p=1$salt$digest")
    await create_user(settings, "bob", hashed="$2b$12$" + "a" * 53)
    await create_user(settings, "carol", hashed="50%_off")
    engine = make_engine(settings)
    runner = make_runner(settings, engine)
    try:
        users = SqlUserStore(engine, runner)
        argon2, bcrypt = "$argon2id$v=19$m=19456,t=2,p=1$", "$2b$12$"
        assert await users.hash_outside([argon2, bcrypt]) == "50%_off"
        assert await users.hash_outside([argon2, "50%"]) == "$2b$12$" + "a" * 53
        assert await users.hash_outside([argon2, bcrypt, "5_%"]) == "50%_off"
        assert await users.hash_outside([argon2, bcrypt, "50%_"]) is None
        assert await users.hash_outside([]) is not None
    finally:
        await runner.close()
        await engine.dispose()
