"""The rules every admin change goes through (app.oauth.validation), and the admin's user
and client actions (app.oauth.user_admin, app.oauth.client_admin) against in-memory
stores: an invalid change stores nothing, every change is audited with its actor, and
a change that takes something away ends the user's sessions."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from app.clock import FrozenClock
from app.errors import Conflict, InvalidClient, InvalidRequest
from app.oauth.accounts import NotFound
from app.oauth.audit import Auditor, RequestContext
from app.oauth.client_admin import ClientAdmin
from app.oauth.clients import ClientAuthenticator, ClientCredentials
from app.oauth.grants import parse_scope
from app.oauth.user_admin import UserAdmin, tombstone_name
from app.oauth.validation import (
    MAX_PASSWORD, MAX_USERNAME, known_scopes, valid_password, valid_scope, valid_username,
)
from app.store.audit import AuditRecord
from app.store.clients import ClientRecord
from app.store.users import DuplicateUser, UserRecord

KNOWN = known_scopes(["profile", "read", "write"])
ADMIN_CTX = RequestContext(actor="7")


# --- usernames ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["alice", "Alice", "o'brien-2", "Zoë", "Ελένη", "Иван", "山田太郎", "山田たろう",
                                  "Yamada 太郎", "김철수", "john smith", "x" * MAX_USERNAME])
def test_ordinary_names_are_accepted(name: str) -> None:
    assert valid_username(name) == name


def test_names_are_stored_nfc_and_keep_their_case() -> None:
    decomposed = "Zoe\u0308"  # e + combining diaeresis
    assert valid_username(decomposed) == "Zo\u00eb"
    assert valid_username("Alice") != valid_username("alice")


@pytest.mark.parametrize("name", [
    "",  # empty
    "x" * (MAX_USERNAME + 1),  # over the column
    " alice", "alice ", "alice\t", "\u00a0alice",  # surrounding whitespace
    "ali\nce", "ali\x00ce", "ali\x1bce", "ali\x7fce",  # control characters
    "ali\u200bce", "ali\u202ece", "alice\ufeff",  # invisible: zero-width space, RTL override, BOM
    "ali\u00a0ce", "ali\u2028ce",  # a space other than U+0020, a line separator
    "p\u0430ypal",  # Latin with a Cyrillic а
    "\u0430dmin",  # Cyrillic а + Latin dmin
    "r\u03bfot",  # Latin with a Greek ο
    "\ud800x",  # a lone surrogate: not text
])
def test_bad_names_are_refused_with_a_clear_message(name: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        valid_username(name)
    assert refused.value.description and refused.value.description.isascii()
    assert name.strip() not in refused.value.description or not name.strip()


def test_the_length_limit_counts_the_stored_form() -> None:
    assert valid_username("e\u0301" * MAX_USERNAME) == "\u00e9" * MAX_USERNAME  # NFC halves it


# --- passwords ---------------------------------------------------------------------------

@pytest.mark.parametrize("password", ["short", "", "x" * (MAX_PASSWORD + 1), "x" * 2000, "pass\x00word", "pass\ud800word"])
def test_bad_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidRequest):
        valid_password(password)


def test_passwords_of_8_to_1024_characters_are_kept_as_they_are() -> None:
    for password in ("8 chars!", " spaced  out ", "ünïcödé pässwörd", "x" * MAX_PASSWORD):
        assert valid_password(password) == password


# --- scopes ------------------------------------------------------------------------------

def test_scopes_must_be_known_scope_tokens() -> None:
    assert valid_scope("profile read read", KNOWN) == "profile read"
    assert valid_scope("admin", KNOWN) == "admin"  # the admin routes' own scope is always known
    assert valid_scope("", KNOWN) == ""
    for bad in ("profile  read", " profile", "profile\tread", 'pro"file', "r\u00e9ad", "profile\\"):
        with pytest.raises(InvalidRequest, match="3.3"):
            valid_scope(bad, KNOWN)
    with pytest.raises(InvalidRequest, match="Unknown scope: delete"):
        valid_scope("read delete", KNOWN)


def test_token_requests_share_the_scope_token_syntax() -> None:
    assert parse_scope("read write") == ["read", "write"]
    for bad in ('re"ad', "read  write", "r\u00e9ad"):
        with pytest.raises(Exception):
            parse_scope(bad)


# --- the admin's user actions, against fakes ---------------------------------------------

class MemoryAudit:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> None:
        self.records.append(record)

    async def tail(self, limit: int = 100, *, user_id: int | None = None, event: str | None = None) -> list[AuditRecord]:
        return [r for r in reversed(self.records) if event in (None, r.event)][:limit]


class MemoryUsers:
    """UserDirectory and UserSessions at once: users and, per user, live session ids."""

    def __init__(self) -> None:
        self.users: dict[int, UserRecord] = {}
        self.sessions: dict[int, set[str]] = {}

    async def get_by_username(self, username: str) -> UserRecord | None:
        return next((u for u in self.users.values() if u.username == username), None)

    async def get_by_id(self, user_id: int) -> UserRecord | None:
        return self.users.get(user_id)

    async def create(self, username: str, password_hash: str, scope: str, now: datetime) -> UserRecord:
        if await self.get_by_username(username):
            raise DuplicateUser(username)
        user = UserRecord(len(self.users) + 1, username, password_hash, scope, True, now)
        self.users[user.id] = user
        return user

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self.users[user_id] = replace(self.users[user_id], password_hash=password_hash)

    async def page(self, limit: int, after: int | None) -> list[UserRecord]:
        return [u for i, u in sorted(self.users.items()) if after is None or i > after][:limit]

    async def set_scope(self, user_id: int, scope: str) -> None:
        self.users[user_id] = replace(self.users[user_id], scope=scope)

    async def enable(self, user_id: int) -> None:
        self.users[user_id] = replace(self.users[user_id], is_active=True)

    def _end(self, user_id: int, keep: str | None = None) -> int:
        ended = {s for s in self.sessions.get(user_id, set()) if s != keep}
        self.sessions[user_id] = self.sessions.get(user_id, set()) - ended
        return len(ended)

    async def end_all(self, user_id: int, now: datetime, reason: str, *, keep: str | None = None) -> int:
        return self._end(user_id, keep)

    async def disable_user(self, user_id: int, now: datetime) -> int:
        self.users[user_id] = replace(self.users[user_id], is_active=False)
        return self._end(user_id)

    async def delete_user(self, user_id: int, tombstone: str, now: datetime) -> int:
        self.users[user_id] = UserRecord(user_id, tombstone, "!", "", False)
        return self._end(user_id)

    async def replace_password(
        self, user_id: int, password_hash: str, now: datetime, reason: str, *, keep: str | None = None
    ) -> int:
        await self.set_password_hash(user_id, password_hash)
        return self._end(user_id, keep)


class PlainHasher:
    async def hash(self, password: str) -> str:
        return "hashed:" + password

    async def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        return hashed == "hashed:" + password, None

    async def verify_dummy(self, password: str) -> None:
        return None


@pytest.fixture
def store() -> MemoryUsers:
    return MemoryUsers()


@pytest.fixture
def trail() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def admin(store: MemoryUsers, trail: MemoryAudit) -> UserAdmin:
    clock = FrozenClock()
    return UserAdmin(users=store, sessions=store, hasher=PlainHasher(), auditor=Auditor(trail, clock), clock=clock,
                     known_scopes=KNOWN)


@pytest.mark.parametrize("name, password, scope", [
    ("p\u0430ypal", "long enough", "profile"),
    ("bob", "short", "profile"),
    ("bob", "x" * 2000, "profile"),
    ("bob", "long enough", "profile superuser"),
])
async def test_an_invalid_user_is_never_stored(
    admin: UserAdmin, store: MemoryUsers, trail: MemoryAudit, name: str, password: str, scope: str,
) -> None:
    with pytest.raises(InvalidRequest):
        await admin.create(name, password, scope, ADMIN_CTX)
    assert store.users == {} and trail.records == []


async def test_create_is_audited_with_its_actor_and_refuses_a_duplicate(admin: UserAdmin, trail: MemoryAudit) -> None:
    user = await admin.create("Zoe\u0308", "long enough", "profile admin", ADMIN_CTX)
    assert (user.username, user.scope, user.password_hash) == ("Zo\u00eb", "profile admin", "hashed:long enough")
    with pytest.raises(Conflict):
        await admin.create("Zo\u00eb", "long enough", "profile", ADMIN_CTX)
    assert [(r.event, r.actor, r.username) for r in trail.records] == [("user_created", "7", "Zo\u00eb")]


async def test_set_password_ends_every_session_and_is_audited(admin: UserAdmin, store: MemoryUsers, trail: MemoryAudit) -> None:
    user = await admin.create("bob", "long enough", "profile", ADMIN_CTX)
    store.sessions[user.id] = {"s1", "s2"}
    with pytest.raises(InvalidRequest):
        await admin.set_password("bob", "x" * 2000, ADMIN_CTX)
    assert store.sessions[user.id] == {"s1", "s2"}  # a refused password changes nothing
    assert await admin.set_password("bob", "another one", ADMIN_CTX) == 2
    assert store.sessions[user.id] == set() and store.users[user.id].password_hash == "hashed:another one"
    assert (trail.records[-1].event, trail.records[-1].actor, trail.records[-1].detail) == (
        "password_set", "7", "ended 2 sessions")
    with pytest.raises(NotFound):
        await admin.set_password("nobody", "long enough", ADMIN_CTX)


async def test_taking_a_scope_away_ends_sessions_adding_one_does_not(admin: UserAdmin, store: MemoryUsers) -> None:
    user = await admin.create("bob", "long enough", "profile", ADMIN_CTX)
    store.sessions[user.id] = {"s1"}
    changed, ended = await admin.set_scope("bob", "profile read", ADMIN_CTX)
    assert (changed.scope, ended, store.sessions[user.id]) == ("profile read", 0, {"s1"})
    changed, ended = await admin.set_scope("bob", "read", ADMIN_CTX)
    assert (changed.scope, ended, store.sessions[user.id]) == ("read", 1, set())
    with pytest.raises(InvalidRequest):
        await admin.set_scope("bob", "root", ADMIN_CTX)
    assert store.users[user.id].scope == "read"


async def test_disable_enable_and_delete(admin: UserAdmin, store: MemoryUsers, trail: MemoryAudit) -> None:
    user = await admin.create("bob", "long enough", "profile", ADMIN_CTX)
    store.sessions[user.id] = {"s1"}
    assert await admin.disable("bob", ADMIN_CTX) == 1
    assert (await admin.enable("bob", ADMIN_CTX)).is_active
    store.sessions[user.id] = {"s2"}
    assert await admin.delete("bob", ADMIN_CTX) == 1
    assert store.users[user.id].username == tombstone_name(user.id)
    with pytest.raises(InvalidRequest):
        valid_username(tombstone_name(user.id))  # no account can be given a tombstone's name
    for name in ("bob", tombstone_name(user.id)):
        with pytest.raises(NotFound):
            await admin.enable(name, ADMIN_CTX)
        with pytest.raises(NotFound):
            await admin.set_password(name, "long enough", ADMIN_CTX)
    again = await admin.create("bob", "long enough", "profile", ADMIN_CTX)  # the name is free
    assert again.id != user.id
    assert [r.event for r in trail.records] == [
        "user_created", "user_disabled", "user_enabled", "user_deleted", "user_created"]


async def test_users_page_by_cursor(admin: UserAdmin) -> None:
    for name in ("a1", "a2", "a3"):
        await admin.create(name, "long enough", "", ADMIN_CTX)
    first = await admin.page(2)
    assert [u.username for u in first.users] == ["a1", "a2"] and first.next_cursor
    last = await admin.page(2, first.next_cursor)
    assert [u.username for u in last.users] == ["a3"] and last.next_cursor is None
    with pytest.raises(InvalidRequest):
        await admin.page(2, "not-a-cursor")


# --- the admin's client actions, against fakes -------------------------------------------

class MemoryRegistry:
    def __init__(self) -> None:
        self.clients: dict[str, ClientRecord] = {}
        self.sessions: dict[str, set[str]] = {}

    async def get(self, client_id: str) -> ClientRecord | None:
        return self.clients.get(client_id)

    async def all(self) -> list[ClientRecord]:
        return list(self.clients.values())

    async def create(self, record: ClientRecord) -> ClientRecord:
        self.clients[record.client_id] = record
        return record

    async def replace_secret(self, client_id: str, secret_hash: str) -> bool:
        record = self.clients.get(client_id)
        if record is None or not record.confidential:
            return False
        self.clients[client_id] = replace(record, secret_hash=secret_hash)
        return True

    async def delete(self, client_id: str, now: datetime) -> int | None:
        if self.clients.pop(client_id, None) is None:
            return None
        return len(self.sessions.pop(client_id, set()))

    async def disable(self, client_id: str, now: datetime) -> int | None:
        if client_id not in self.clients:
            return None
        self.clients[client_id] = replace(self.clients[client_id], disabled_at=now)
        return len(self.sessions.pop(client_id, set()))

    async def enable(self, client_id: str) -> bool:
        if client_id not in self.clients:
            return False
        self.clients[client_id] = replace(self.clients[client_id], disabled_at=None)
        return True


async def test_client_actions_validate_audit_and_end_sessions() -> None:
    registry, trail, clock = MemoryRegistry(), MemoryAudit(), FrozenClock()
    admin = ClientAdmin(store=registry, auditor=Auditor(trail, clock), clock=clock, known_scopes=KNOWN)
    for bad in ({"scope": "root"}, {"grant_types": ["client_credentials"]}, {"name": " padded"}):
        with pytest.raises(InvalidRequest):
            await admin.create(str(bad.get("name", "svc")), confidential=True,
                               grant_types=list(bad.get("grant_types", ["password"])),
                               scope=str(bad.get("scope", "read")), ctx=ADMIN_CTX)
    assert registry.clients == {}
    record, secret = await admin.create("svc", confidential=True, grant_types=["password"], scope="read", ctx=ADMIN_CTX)
    public, none = await admin.create("web", confidential=False, grant_types=["password"], scope="", ctx=ADMIN_CTX)
    assert secret and none is None
    with pytest.raises(Conflict):
        await admin.reset_secret(public.client_id, ADMIN_CTX)
    with pytest.raises(NotFound):
        await admin.reset_secret("c_unknown", ADMIN_CTX)
    fresh = await admin.reset_secret(record.client_id, ADMIN_CTX)
    assert fresh != secret

    registry.sessions[record.client_id] = {"s1"}
    authenticator = ClientAuthenticator(registry, allow_unregistered=True)
    working = (ClientCredentials(record.client_id, fresh), ClientCredentials(public.client_id))
    assert [(await authenticator.authenticate(c)).registered for c in working] == [True, True]
    assert await admin.disable(record.client_id, ADMIN_CTX) == 1
    assert await admin.disable(public.client_id, ADMIN_CTX) == 0
    for creds in working:
        with pytest.raises(InvalidClient):  # nor can anyone claim its id as an unregistered client
            await authenticator.authenticate(creds)
    await admin.enable(record.client_id, ADMIN_CTX)
    assert (await authenticator.authenticate(working[0])).registered
    assert await admin.delete(public.client_id, ADMIN_CTX) == 0
    with pytest.raises(NotFound):
        await admin.delete(public.client_id, ADMIN_CTX)
    assert [(r.event, r.actor) for r in trail.records] == [
        ("client_created", "7"), ("client_created", "7"), ("client_secret_reset", "7"), ("client_disabled", "7"),
        ("client_disabled", "7"), ("client_enabled", "7"), ("client_deleted", "7"),
    ]
