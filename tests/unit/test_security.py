"""Password hashing, access JWTs and refresh token format."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import jwt as pyjwt
import pytest
from passlib.context import CryptContext

from app.clock import FrozenClock
from app.errors import InvalidToken
from app.security.jwt import decode_access_token, encode_access_token
from app.security.passwords import CryptPasswordHasher
from app.security.tokens import hash_token, is_refresh_token, new_refresh_token, new_session_id

KEY = "k" * 48


def mint(clock: FrozenClock, lifetime: timedelta = timedelta(minutes=20), **kw: str) -> str:
    return encode_access_token(
        sub="1", sid="s" * 32, jti="j", scope="a b", issued_at=clock.now(), lifetime=lifetime,
        key=kw.get("key", KEY), algorithm="HS256",
    )


def decode(token: str, clock: FrozenClock, **kw: object) -> object:
    return decode_access_token(token, key=KEY, algorithms=["HS256"], clock=clock, leeway=5, **kw)  # type: ignore[arg-type]


async def test_new_hashes_are_argon2id_at_asvs_minimum() -> None:
    hasher = CryptPasswordHasher()
    hashed = await hasher.hash("pw")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await hasher.verify("pw", hashed)
    assert not await hasher.verify("wrong", hashed)
    assert not hasher.needs_update(hashed)


async def test_weaker_hashes_verify_and_are_upgraded() -> None:
    hasher = CryptPasswordHasher()
    weak_argon = CryptContext(schemes=["argon2"], argon2__memory_cost=1024, argon2__rounds=1).hash("pw")
    bcrypt_hash = CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash("pw")
    for old in (weak_argon, bcrypt_hash):
        ok, new = await hasher.verify_and_update("pw", old)
        assert ok and new is not None and new.startswith("$argon2id$v=19$m=19456")


async def test_unreadable_stored_hash_never_matches() -> None:
    assert await CryptPasswordHasher().verify_and_update("pw", "not-a-hash") == (False, None)


async def test_a_hashs_cost_is_its_setting(hasher: CryptPasswordHasher) -> None:
    assert hasher.cost_of(await hasher.hash("pw")) == hasher.default_cost
    assert hasher.cost_of(CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash("pw")) == "$2b$04$"
    weak_argon = CryptContext(schemes=["argon2"], argon2__memory_cost=1024, argon2__rounds=1).hash("pw")
    assert hasher.cost_of(weak_argon) == "$argon2id$v=19$m=1024,t=1,p=4$"
    assert hasher.cost_of("not-a-hash") is None and hasher.cost_of("$2b$12$short") is None


async def test_a_failed_check_also_verifies_a_dummy_at_each_cost(
    hasher: CryptPasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    bcrypt_hash = CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash("pw")
    weak = "$argon2id$v=19$m=1024,t=1,p=4$"
    verified: list[str | None] = []
    original = CryptContext.verify

    def spy(self: CryptContext, secret: str, hashed: str) -> bool:
        verified.append(hasher.cost_of(hashed))
        return bool(original(self, secret, hashed))

    monkeypatch.setattr(CryptContext, "verify", spy)
    ok, upgraded = await hasher.check("pw", bcrypt_hash, dummies=[weak])
    assert ok and upgraded is not None and verified == []  # a match stops at its own hash
    assert await hasher.check("wrong", bcrypt_hash, dummies=[weak, hasher.default_cost]) == (False, None)
    assert await hasher.check("wrong", None, dummies=[weak]) == (False, None)
    assert verified == [weak, hasher.default_cost, weak]


@pytest.fixture
def hasher() -> Iterator[CryptPasswordHasher]:
    hasher = CryptPasswordHasher()
    yield hasher
    hasher.close()


def test_exp_minus_iat_is_the_lifetime() -> None:
    clock = FrozenClock()
    claims = pyjwt.decode(mint(clock, timedelta(minutes=0.05)), KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims["exp"] - claims["iat"] == 3


def test_expiry_is_checked_against_the_injected_clock() -> None:
    clock = FrozenClock()
    token = mint(clock)
    clock.advance(minutes=20, seconds=4)
    decode(token, clock)
    clock.advance(seconds=1)
    with pytest.raises(InvalidToken):
        decode(token, clock)
    decode(token, clock, verify_exp=False)  # logout may still read a genuine expired token


def test_token_from_the_future_is_refused() -> None:
    clock = FrozenClock()
    token = mint(clock)
    clock.advance(seconds=-60)
    with pytest.raises(InvalidToken):
        decode(token, clock)


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: pyjwt.encode({"sub": "1", "sid": "s", "iat": 1, "exp": 2**40, "jti": "j"}, "other" * 10, algorithm="HS256", headers={"typ": "at+jwt"}),
        lambda t: pyjwt.encode({"sub": "1", "sid": "s", "iat": 1, "exp": 2**40, "jti": "j"}, KEY, algorithm="HS256"),
        lambda t: pyjwt.encode({"sub": "1", "iat": 1, "exp": 2**40, "jti": "j"}, KEY, algorithm="HS256", headers={"typ": "at+jwt"}),
        lambda t: pyjwt.encode({"sub": "1", "sid": "s", "iat": 1, "exp": 2**40, "jti": "j"}, KEY, algorithm="HS512", headers={"typ": "at+jwt"}),
        lambda t: pyjwt.encode({"sub": 5, "sid": "s", "iat": 1, "exp": 2**40, "jti": "j"}, KEY, algorithm="HS256", headers={"typ": "at+jwt"}),
        lambda t: "x" * 5000,
        lambda t: new_refresh_token(),
    ],
    ids=["tampered", "other-key", "untyped", "no-sid", "unpinned-alg", "int-sub", "oversized", "refresh-token"],
)
def test_forged_or_wrong_type_tokens_are_refused(forge: object) -> None:
    clock = FrozenClock()
    with pytest.raises(InvalidToken):
        decode(forge(mint(clock)), clock)  # type: ignore[operator]


def test_refresh_tokens_are_typed_and_random() -> None:
    tokens = {new_refresh_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(is_refresh_token(t) for t in tokens)
    assert not is_refresh_token(mint(FrozenClock()))
    assert len(hash_token("x")) == 64
    assert len(new_session_id()) == 32


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_hmac_tokens_are_standard_jws(algorithm: str) -> None:
    """HS* tokens are standard JWS: any JWT library reads the header, claims and
    signature, and refuses them under another key or algorithm."""
    clock = FrozenClock()
    key = "k" * 64
    token = encode_access_token(
        sub="7", sid="s" * 32, jti="j", scope="read", issued_at=clock.now(), lifetime=timedelta(minutes=5),
        key=key, algorithm=algorithm, kid="hs-1", client_id="c", issuer="https://issuer", audience="api",
    )
    assert pyjwt.get_unverified_header(token) == {"alg": algorithm, "typ": "at+jwt", "kid": "hs-1"}
    claims = pyjwt.decode(token, key, algorithms=[algorithm], audience="api", options={"verify_exp": False, "verify_iat": False})
    assert claims == {
        "sub": "7", "sid": "s" * 32, "jti": "j", "scope": "read", "iat": int(clock.now().timestamp()),
        "exp": int(clock.now().timestamp()) + 300, "client_id": "c", "iss": "https://issuer", "aud": "api",
    }
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token, "x" * 64, algorithms=[algorithm], audience="api", options={"verify_exp": False})
    other = "HS512" if algorithm != "HS512" else "HS256"
    with pytest.raises(pyjwt.InvalidAlgorithmError):
        pyjwt.decode(token, key, algorithms=[other], audience="api", options={"verify_exp": False})


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_hashing_runs_in_at_most_concurrency_worker_threads(concurrency: int) -> None:
    """Off the event loop's thread (a login storm must not stall it), and no more hashes
    at once than PASSWORD_HASH_CONCURRENCY (each argon2id hash holds 19 MiB)."""
    import asyncio
    import threading
    import time

    loop_thread = threading.get_ident()
    running, most, threads = 0, 0, set()
    lock = threading.Lock()

    class SlowContext:
        def hash(self, password: str) -> str:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
                threads.add(threading.get_ident())
            time.sleep(0.05)
            with lock:
                running -= 1
            return "hashed:" + password

    hasher = CryptPasswordHasher(SlowContext(), concurrency=concurrency)  # type: ignore[arg-type]
    try:
        hashes = await asyncio.gather(*(hasher.hash(f"pw{i}") for i in range(6)))
    finally:
        hasher.close()
    assert hashes == [f"hashed:pw{i}" for i in range(6)]
    assert most == concurrency and loop_thread not in threads


async def test_a_full_hashing_queue_refuses_at_once() -> None:
    """PASSWORD_HASH_QUEUE: with the thread busy and the queue full, one more hash is
    refused without waiting (HashingBusy, a 503), and the room comes back as jobs end."""
    import asyncio
    import threading

    from app.security.passwords import HashingBusy

    release = threading.Event()

    class BlockingContext:
        def hash(self, password: str) -> str:
            release.wait(10)
            return "hashed:" + password

    hasher = CryptPasswordHasher(BlockingContext(), concurrency=1, queue=2)  # type: ignore[arg-type]
    try:
        jobs = [asyncio.create_task(hasher.hash(f"pw{i}")) for i in range(3)]  # one runs, two wait
        while hasher.pending < 3:
            await asyncio.sleep(0)
        with pytest.raises(HashingBusy):
            await asyncio.wait_for(hasher.hash("one too many"), timeout=1)
        assert not any(job.done() for job in jobs)
        release.set()
        assert await asyncio.gather(*jobs) == ["hashed:pw0", "hashed:pw1", "hashed:pw2"]
        assert hasher.pending == 0
        assert await hasher.hash("again") == "hashed:again"
    finally:
        release.set()
        hasher.close()
