"""Login failure counters in SQL, so every worker and replica sees the same counts.

Storage only: app.oauth.ratelimit decides. Per client IP, a count per fixed window
(login_attempt); per account, and per account and known client, a consecutive-failure
count (login_backoff). A failure is counted by compare-and-set on the count the limiter
read, so concurrent attempts on one account are counted one by one, never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, null, select, union_all, update
from sqlalchemy.dialects.postgresql import insert

from app.db.runner import Runner, Step
from app.store.tables import attempts, backoff


@dataclass(frozen=True)
class Backoff:
    """One login_backoff row (all zero and None when there is none)."""

    failures: int = 0
    failed_at: datetime | None = None
    succeeded_at: datetime | None = None


@dataclass(frozen=True)
class Buckets:
    """Where one attempt counts: the account, the account from this IP (None without an
    IP) and the IP."""

    account: str
    client: str | None
    ip: str | None


@dataclass(frozen=True)
class Snapshot:
    account: Backoff
    client: Backoff
    ip_previous: int  # failures from the IP in the window before `window`
    ip_current: int


@dataclass(frozen=True)
class Claim:
    """One failure counted in advance: `subject` (a backoff bucket) went from `seen` to
    `failures`, and the IP's count in `window` grew by one."""

    subject: str
    subject_is_account: bool
    seen: Backoff
    failures: int
    window: datetime


# The account's and the client's backoff rows, and the IP's two latest windows, in one
# read. The branches line up column by column: bucket, a count, a time, a time.
LOOK = union_all(
    select(backoff.c.bucket, backoff.c.failures, backoff.c.failed_at, backoff.c.succeeded_at)
    .where(backoff.c.bucket.in_([bindparam("account"), bindparam("client")])),
    select(attempts.c.bucket, attempts.c.count, attempts.c.window_start, null())
    .where(attempts.c.bucket == bindparam("ip"), attempts.c.window_start >= bindparam("previous")),
)

# PostgreSQL's and SQLite's upserts have the same form: these compile on both.
HIT = (
    insert(attempts)
    .values(bucket=bindparam("bucket"), window_start=bindparam("window_start"), count=1)
    .on_conflict_do_update(index_elements=["bucket", "window_start"], set_={"count": attempts.c.count + 1})
    .returning(attempts.c.count)
)
REFUND = (
    update(attempts)
    .where(attempts.c.bucket == bindparam("bucket"), attempts.c.window_start == bindparam("window_start"),
           attempts.c.count > 0)
    .values(count=attempts.c.count - 1)
)
_claim = insert(backoff).values(bucket=bindparam("bucket"), failures=bindparam("failures"), failed_at=bindparam("now"))
CLAIM = (
    _claim.on_conflict_do_update(
        index_elements=["bucket"],
        set_={"failures": _claim.excluded.failures, "failed_at": _claim.excluded.failed_at},
        where=backoff.c.failures == bindparam("seen"),
    )
    .returning(backoff.c.failures)
)
_know = insert(backoff).values(bucket=bindparam("bucket"), failures=0, succeeded_at=bindparam("now"))
KNOW = _know.on_conflict_do_update(
    index_elements=["bucket"], set_={"failures": 0, "succeeded_at": _know.excluded.succeeded_at}
)
RESET = update(backoff).where(backoff.c.bucket == bindparam("bucket")).values(failures=0)
WITHDRAW = (
    update(backoff)
    .where(backoff.c.bucket == bindparam("bucket"), backoff.c.failures == bindparam("claimed"))
    .values(failures=bindparam("restored"), failed_at=bindparam("restored_at"))
)


class SqlAttemptStore:
    def __init__(self, runner: Runner) -> None:
        self._db = runner

    async def look(self, buckets: Buckets, window: datetime, previous: datetime) -> Snapshot:
        rows = await self._db.fetch(
            LOOK, {"account": buckets.account, "client": buckets.client or "", "ip": buckets.ip or "",
                   "previous": previous},
        )
        found = {bucket: Backoff(count, first, second) for bucket, count, first, second in rows}
        counts = {first: count for bucket, count, first, _ in rows if bucket == buckets.ip}
        return Snapshot(
            account=found.get(buckets.account, Backoff()),
            client=found.get(buckets.client or "", Backoff()),
            ip_previous=counts.get(previous, 0),
            ip_current=counts.get(window, 0),
        )

    async def claim(self, buckets: Buckets, claim: Claim, now: datetime) -> int | None:
        """None, with nothing counted, if the subject's count is no longer `claim.seen`'s;
        else the IP's count in the window after this one (0 without an IP)."""
        steps = [Step(CLAIM, {"bucket": claim.subject, "failures": claim.failures, "now": now,
                              "seen": claim.seen.failures})]
        if buckets.ip:
            steps.append(Step(HIT, {"bucket": buckets.ip, "window_start": claim.window}))
        results = await self._db.transaction(steps, claim=True)
        if not results[0]:
            return None
        return int(results[1][0][0]) if buckets.ip else 0

    async def succeeded(self, buckets: Buckets, claim: Claim, now: datetime) -> None:
        """The claimed failure was a success: the subject's count starts again, this IP
        becomes (or stays) a known client of the account, the IP's failure is handed back."""
        steps = []
        if claim.subject_is_account:
            steps.append(Step(RESET, {"bucket": claim.subject}))
        if buckets.client and buckets.ip:
            steps.append(Step(KNOW, {"bucket": buckets.client, "now": now}))
            steps.append(Step(REFUND, {"bucket": buckets.ip, "window_start": claim.window}))
        await self._db.transaction(steps)

    async def withdraw(self, buckets: Buckets, claim: Claim) -> None:
        """The claimed attempt never reached the hash: as if it had not been made (unless
        another attempt has been counted on the subject since)."""
        steps = [Step(WITHDRAW, {"bucket": claim.subject, "claimed": claim.failures,
                                 "restored": claim.seen.failures, "restored_at": claim.seen.failed_at})]
        if buckets.ip:
            steps.append(Step(REFUND, {"bucket": buckets.ip, "window_start": claim.window}))
        await self._db.transaction(steps)
