"""The refresh rule (app.oauth.refresh_rule) and the refresh grant built on it, against
in-memory fakes of the store's role-sized Protocols and a frozen clock: each clause of
the rule has a test that fails when the clause is dropped."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from app.clock import FrozenClock
from app.errors import InvalidGrant, InvalidScope
from app.oauth.issuer import IssuedTokens, Lifetimes, TokenIssuer
from app.oauth.refresh_rule import STRICT, Outcome, ReusePolicy, decide, is_active
from app.security.jwk import SigningKey, VerificationKey, hmac_signing_key
from app.store.sessions import LiveSession, NewSession, Rotation, TokenState

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=FrozenClock().now().tzinfo)
GRACE = ReusePolicy(grace=timedelta(seconds=10))


def state(**changes: object) -> TokenState:
    usable = TokenState(
        session_id="s1", user_id=1, username="alice", user_active=True, scope="read write", client_id="web",
        bound_to=None, issued_at=NOW - timedelta(minutes=1), expires_at=NOW + timedelta(hours=1), used_at=None,
        session_expires_at=NOW + timedelta(days=1), session_revoked_at=None, successor_pair=None,
        successor_used_at=None, successor_expires_at=None,
    )
    return replace(usable, **changes)  # type: ignore[arg-type]


def replayable(**changes: object) -> TokenState:
    """Rotated two seconds ago, and answered, into a successor nobody has used."""
    base: dict[str, object] = {"used_at": NOW - timedelta(seconds=2), "successor_pair": "sealed",
                               "successor_expires_at": NOW + timedelta(hours=1),
                               "confirmed_at": NOW - timedelta(seconds=2)}
    return state(**{**base, **changes})


def outcome(s: TokenState | None, *, client_id: str | None = None, scope: list[str] | None = None,
            policy: ReusePolicy = STRICT) -> Outcome:
    return decide(s, now=NOW, client_id=client_id, scope=scope, policy=policy)


@pytest.mark.parametrize(("token", "expected"), [
    (None, Outcome.UNKNOWN),
    (state(), Outcome.ROTATE),
    (state(expires_at=NOW), Outcome.EXPIRED_IDLE),
    (state(session_expires_at=NOW), Outcome.EXPIRED_ABSOLUTE),
    (state(session_revoked_at=NOW - timedelta(seconds=1)), Outcome.ENDED),
    (state(user_active=False), Outcome.ENDED),
    (state(used_at=NOW - timedelta(seconds=2), confirmed_at=NOW - timedelta(seconds=2)), Outcome.REVOKE),
])
def test_each_clause_of_the_rule(token: TokenState | None, expected: Outcome) -> None:
    assert outcome(token) is expected


def test_a_token_bound_to_a_registered_client_rotates_only_for_it() -> None:
    bound = state(bound_to="orders")
    assert outcome(bound, client_id="orders") is Outcome.ROTATE
    assert outcome(bound, client_id="other") is Outcome.WRONG_CLIENT
    assert outcome(bound, client_id=None) is Outcome.WRONG_CLIENT
    assert outcome(state(bound_to=None), client_id="anyone") is Outcome.ROTATE  # an unregistered session


def test_scope_may_only_narrow() -> None:
    assert outcome(state(), scope=["read"]) is Outcome.ROTATE
    assert outcome(state(), scope=["read", "admin"]) is Outcome.SCOPE


def test_reuse_under_each_policy() -> None:
    assert outcome(replayable(), policy=STRICT) is Outcome.REVOKE
    assert outcome(replayable(), policy=ReusePolicy(enforce=False)) is Outcome.REPORT
    assert outcome(replayable(), policy=GRACE) is Outcome.REPLAY


@pytest.mark.parametrize("token", [
    replayable(used_at=NOW - timedelta(seconds=11)),  # outside the window
    replayable(successor_used_at=NOW - timedelta(seconds=1)),  # two generations old
    replayable(successor_expires_at=NOW),
    replayable(successor_pair=None),
    replayable(session_revoked_at=NOW - timedelta(seconds=1)),
    replayable(session_expires_at=NOW),
    replayable(user_active=False),
])
def test_the_grace_window_replays_only_the_immediate_predecessor_of_a_live_token(token: TokenState) -> None:
    assert outcome(token, policy=GRACE) is Outcome.REVOKE
    assert outcome(token, policy=replace(GRACE, enforce=False)) is Outcome.REPORT
    if token.used_at == NOW - timedelta(seconds=2):  # unanswered: the same conditions hold
        assert outcome(replace(token, confirmed_at=None)) is Outcome.REVOKE


@pytest.mark.parametrize("policy", [STRICT, ReusePolicy(enforce=False), GRACE])
def test_a_retry_of_an_unanswered_rotation_gets_its_pair_in_every_policy(policy: ReusePolicy) -> None:
    """A rotation that committed although its answer was a 503 is never confirmed: its
    token, presented again after UNANSWERED_AFTER, is that rotation's retry."""
    unanswered = replayable(confirmed_at=None)
    assert outcome(unanswered, policy=policy) is Outcome.REPLAY
    assert outcome(replayable(confirmed_at=None, used_at=NOW), policy=STRICT) is Outcome.REVOKE  # a race
    assert outcome(replayable(confirmed_at=None, successor_used_at=NOW), policy=STRICT) is Outcome.REVOKE
    assert outcome(replayable(confirmed_at=None, bound_to="orders"), policy=policy) is Outcome.WRONG_CLIENT
    assert outcome(unanswered, scope=["admin"], policy=policy) is Outcome.SCOPE


def test_the_grace_window_keeps_the_client_binding_and_the_scope_check() -> None:
    assert outcome(replayable(bound_to="orders"), client_id="other", policy=GRACE) is Outcome.WRONG_CLIENT
    assert outcome(replayable(bound_to="orders"), client_id=None, policy=GRACE) is Outcome.WRONG_CLIENT
    assert outcome(replayable(), scope=["admin"], policy=GRACE) is Outcome.SCOPE


def test_introspection_calls_active_what_would_rotate() -> None:
    assert is_active(state(), NOW) and is_active(state(bound_to="orders"), NOW)
    assert not is_active(None, NOW)
    for inactive in (state(expires_at=NOW), state(user_active=False), state(used_at=NOW),
                     state(session_revoked_at=NOW), state(session_expires_at=NOW)):
        assert not is_active(inactive, NOW)


class FakeStore:
    """RefreshTokenStore, SessionStore and LiveCheck in memory."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.tokens: dict[str, dict[str, object]] = {}
        self.sessions: dict[str, dict[str, object]] = {}
        self.lose_next_claim = False

    async def create(self, s: NewSession) -> list[str]:  # no cap: keep_live is not asked for here
        self.sessions[s.session_id] = {"user_id": s.user_id, "scope": s.scope, "client_id": s.client_id,
                                       "expires_at": s.expires_at, "revoked_at": None, "bound_to": s.client_id}
        self.tokens[s.refresh_hash] = {"session_id": s.session_id, "issued_at": s.now,
                                       "expires_at": s.refresh_expires_at, "used_at": None, "successor": None,
                                       "pair": None}
        return []

    async def state(self, token_hash: str) -> TokenState | None:
        t = self.tokens.get(token_hash)
        if t is None:
            return None
        s = self.sessions[str(t["session_id"])]
        nxt = self.tokens.get(str(t["successor"])) if t["successor"] else None
        return TokenState(
            session_id=str(t["session_id"]), user_id=int(s["user_id"]), username="alice",  # type: ignore[call-overload]
            user_active=True, scope=str(s["scope"]), client_id=s["client_id"],  # type: ignore[arg-type]
            bound_to=s["bound_to"], issued_at=t["issued_at"], expires_at=t["expires_at"],  # type: ignore[arg-type]
            used_at=t["used_at"], session_expires_at=s["expires_at"],  # type: ignore[arg-type]
            session_revoked_at=s["revoked_at"], successor_pair=t["pair"],  # type: ignore[arg-type]
            successor_used_at=nxt["used_at"] if nxt else None,  # type: ignore[arg-type]
            successor_expires_at=nxt["expires_at"] if nxt else None,  # type: ignore[arg-type]
            confirmed_at=t.get("confirmed_at"),  # type: ignore[arg-type]
        )

    async def rotate(self, r: Rotation) -> bool:
        t = self.tokens[r.token_hash]
        if self.lose_next_claim:  # another refresh claimed it between the read and the write
            self.lose_next_claim = False
            t.update(used_at=r.now, successor=None, pair=None)
            return False
        if t["used_at"] is not None:
            return False
        t.update(used_at=r.now, successor=r.successor_hash, pair=r.sealed_pair)
        self.tokens[r.successor_hash] = {"session_id": r.session_id, "issued_at": r.now,
                                         "expires_at": r.refresh_expires_at, "used_at": None, "successor": None,
                                         "pair": None}
        return True

    async def confirm(self, token_hashes: object, now: datetime) -> None:
        for h in token_hashes:  # type: ignore[attr-defined]
            self.tokens[h]["confirmed_at"] = now

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool:
        s = self.sessions[session_id]
        if s["revoked_at"] is not None:
            return False
        s["revoked_at"] = now
        return True

    async def owner(self, session_id: str) -> tuple[bool, str | None]:
        s = self.sessions.get(session_id)
        return (False, None) if s is None else (True, s["bound_to"])  # type: ignore[return-value]

    async def live(self, session_id: str, now: datetime) -> LiveSession | None:
        s = self.sessions.get(session_id)
        if s is None or s["revoked_at"] is not None:
            return None
        return LiveSession(session_id, int(s["user_id"]), "alice", str(s["scope"]))  # type: ignore[call-overload]

    def cached(self, session_id: str, now: datetime) -> LiveSession | None:
        return None

    def evict(self, session_id: str) -> None:
        pass


class FakeKeys:
    def __init__(self) -> None:
        self.key = hmac_signing_key("k" * 48, "HS256")

    async def signing_key(self) -> SigningKey:
        return self.key

    async def verification_key(self, kid: str) -> VerificationKey | None:
        return self.key.public if kid == self.key.kid else None

    async def published(self) -> list[dict[str, str]]:
        return []


def issuer(store: FakeStore, clock: FrozenClock, policy: ReusePolicy = STRICT) -> TokenIssuer:
    life = Lifetimes(access=timedelta(minutes=20), refresh=timedelta(hours=1), session_max=timedelta(days=1),
                     leeway=timedelta(seconds=5))
    return TokenIssuer(tokens=store, sessions=store, live=store, keys=FakeKeys(), clock=clock, lifetimes=life,
                       issuer="http://issuer", audience="aud", reuse=policy)


async def login(store: FakeStore, clock: FrozenClock, policy: ReusePolicy = STRICT,
                client_id: str | None = None) -> tuple[TokenIssuer, IssuedTokens]:
    tokens = issuer(store, clock, policy)
    return tokens, await tokens.start_session(user_id=1, username="alice", scope="read write", client_id=client_id)


async def test_a_rotation_kills_the_presented_token_and_reuse_revokes_the_session() -> None:
    clock = FrozenClock()
    store = FakeStore(clock)
    tokens, first = await login(store, clock)
    second = await tokens.rotate(first.refresh_token)
    assert second.refresh_token != first.refresh_token and second.session_id == first.session_id
    with pytest.raises(InvalidGrant, match="revoked"):
        await tokens.rotate(first.refresh_token)
    assert await store.live(first.session_id, clock.now()) is None
    with pytest.raises(InvalidGrant):
        await tokens.rotate(second.refresh_token)  # the newest token died with the session


async def test_report_mode_refuses_reuse_and_keeps_the_session() -> None:
    clock = FrozenClock()
    store = FakeStore(clock)
    tokens, first = await login(store, clock, ReusePolicy(enforce=False))
    second = await tokens.rotate(first.refresh_token)
    with pytest.raises(InvalidGrant) as refused:
        await tokens.rotate(first.refresh_token)
    assert "revoked" not in (refused.value.description or "")
    assert (await tokens.rotate(second.refresh_token)).session_id == first.session_id


async def test_a_grace_replay_gets_the_same_pair_for_its_own_client_only() -> None:
    clock = FrozenClock()
    store = FakeStore(clock)
    tokens, first = await login(store, clock, GRACE)
    store.sessions[first.session_id]["bound_to"] = "orders"  # a registered client's session
    second = await tokens.rotate(first.refresh_token, client_id="orders")
    clock.advance(seconds=3)
    assert await tokens.rotate(first.refresh_token, client_id="orders") == second
    with pytest.raises(InvalidGrant):
        await tokens.rotate(first.refresh_token, client_id="intruder")
    with pytest.raises(InvalidScope):
        await tokens.rotate(first.refresh_token, client_id="orders", scope=["admin"])
    assert await store.live(first.session_id, clock.now()) is not None  # neither refusal was theft


async def test_a_lost_compare_and_set_is_decided_again_as_reuse() -> None:
    clock = FrozenClock()
    store = FakeStore(clock)
    tokens, first = await login(store, clock)
    store.lose_next_claim = True
    with pytest.raises(InvalidGrant):
        await tokens.rotate(first.refresh_token)
    assert await store.live(first.session_id, clock.now()) is None


async def test_an_expired_refresh_token_is_refused_without_revoking() -> None:
    clock = FrozenClock()
    store = FakeStore(clock)
    tokens, first = await login(store, clock)
    clock.advance(hours=1)
    with pytest.raises(InvalidGrant, match="expired"):
        await tokens.rotate(first.refresh_token)
    assert await store.live(first.session_id, clock.now()) is not None


async def test_a_rotation_answered_503_that_committed_is_retried_as_itself() -> None:
    """The commit lands but its reply is lost: the client was told 503 and retries after
    Retry-After; it gets the pair that rotation minted, and the session lives on. A reuse
    of a rotation that was answered stays theft."""
    from app.errors import ServiceUnavailable

    clock = FrozenClock()
    store = FakeStore(clock)
    tokens, first = await login(store, clock)
    committed = store.rotate

    async def commit_then_lose_the_reply(r: Rotation) -> bool:
        await committed(r)
        raise ServiceUnavailable()

    store.rotate = commit_then_lose_the_reply  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        await tokens.rotate(first.refresh_token)
    store.rotate = committed  # type: ignore[method-assign]
    clock.advance(seconds=5)  # Retry-After
    retried = await tokens.rotate(first.refresh_token)
    again = await tokens.rotate(first.refresh_token)  # the retry's own answer lost too
    assert retried == again and retried.session_id == first.session_id
    third = await tokens.rotate(retried.refresh_token)  # and it rotates on
    await tokens.drain()
    clock.advance(seconds=5)
    with pytest.raises(InvalidGrant, match="revoked"):
        await tokens.rotate(retried.refresh_token)  # answered: theft
    assert await store.live(third.session_id, clock.now()) is None
