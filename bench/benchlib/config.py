"""Run sizes for the two modes, and the fixed shape of the load (cores, connections).

Quick mode exists to try the harness in a few minutes; the default mode's numbers are the
ones to quote. Both keep the same structure (repeats, interleaving), only shorter.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVER_CORE = "0"  # every server, floor process and hash-time process
LOAD_CORE = "1"  # wrk

PROTECTED_CONNECTIONS = 32  # enough to keep one core busy without long queues
REFRESH_CONNECTIONS = 16  # within the server's pools (DB_POOL_SIZE 10 + DB_MAX_OVERFLOW 10)
FLOOR_CONCURRENCY = 16  # asyncpg floor: the concurrency wrk gives the server
FLOOR_POOL = 15  # and about the connections the server's pool can open
REFRESH_POOL_SESSIONS = 160  # chains per refresh configuration: each wrk run loses <= 16 (in flight at its end)


@dataclass(frozen=True)
class Mode:
    name: str
    reps: int
    duration: int  # measured seconds per run
    warmup: int  # seconds of load before each measured run (not recorded)
    rss_small: int  # requests after which the first RSS sample counts
    rss_large: int  # ... and the last
    rss_cap_seconds: int  # the RSS check stops here even if it has not reached rss_large


QUICK = Mode("quick", reps=2, duration=3, warmup=1, rss_small=2_000, rss_large=20_000, rss_cap_seconds=120)
FULL = Mode("full", reps=3, duration=8, warmup=2, rss_small=20_000, rss_large=200_000, rss_cap_seconds=600)
