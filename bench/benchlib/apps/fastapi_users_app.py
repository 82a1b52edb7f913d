"""fastapi-users as its documentation sets it up: SQLAlchemy user table (SQLite through
aiosqlite), JWTStrategy with a BearerTransport, `current_user(active=True)` on the route.
Like ours, each request reads the user row after checking the JWT."""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

SECRET = os.environ["BENCH_JWT_SECRET"]
DB_PATH = os.path.join(os.environ.get("BENCH_WORKDIR", "."), "fastapi_users.db")
engine = create_async_engine(f"sqlite+aiosqlite:///{DB_PATH}")
sessions = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


async def get_session() -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


async def get_user_db(session: AsyncSession = Depends(get_session)) -> AsyncIterator[SQLAlchemyUserDatabase]:
    yield SQLAlchemyUserDatabase(session, User)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(user_db: SQLAlchemyUserDatabase = Depends(get_user_db)) -> AsyncIterator[UserManager]:
    yield UserManager(user_db)


def get_jwt_strategy() -> JWTStrategy:
    return JWTStrategy(secret=SECRET, lifetime_seconds=36000)


backend = AuthenticationBackend(name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"),
                                get_strategy=get_jwt_strategy)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
current_active_user = fastapi_users.current_user(active=True)


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
app.include_router(fastapi_users.get_auth_router(backend), prefix="/auth/jwt")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/bench-token")
async def bench_token() -> dict[str, str]:
    """One user (created on first call, hashed as fastapi-users does) and a token for it."""
    async with sessions() as session:
        db = SQLAlchemyUserDatabase(session, User)
        user = await db.get_by_email("bench@example.com")
        if user is None:
            user = await db.create({"email": "bench@example.com", "is_active": True,
                                    "hashed_password": "unused-by-the-benchmark"})
    return {"access_token": await get_jwt_strategy().write_token(user)}


@app.get("/protected")
async def protected(user: User = Depends(current_active_user)) -> dict[str, object]:
    return {"message": f"Hello, {user.email}", "user_id": 1, "session_id": str(user.id)}
