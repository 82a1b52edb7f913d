"""Run sizes for the two modes, and the fixed shape of the load (cores, connections).

Quick mode exists to try the harness in a few minutes; only the full mode's numbers are
meant to be quoted. Both keep the same structure (repeats, interleaving), only shorter.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVER_CORE = "0"  # every server, floor script and hash-time script
LOAD_CORE = "1"  # wrk (and py-spy while profiling)

PROTECTED_CONNECTIONS = 32  # enough to keep one core busy without long queues
REFRESH_CONNECTIONS = 16  # within the server's pools (DB_POOL_SIZE 10 + DB_MAX_OVERFLOW 10)
FLOOR_CONCURRENCY = 16  # asyncpg floor: same concurrency as wrk gives the server
FLOOR_POOL = 15  # and the same number of connections as the server's pool can open
LOGIN_THROUGHPUT_CONNECTIONS = 8
STORM_LOGIN_CONNECTIONS = 50  # "50 clients run password grants"
STORM_PROBE_CONNECTIONS = 4  # the /protected probe: light load, so p99 is latency, not queueing
STORM_PROBE_DELAY_MS = 10  # each probe connection waits this long between requests
REFRESH_POOL_SESSIONS = 256  # chains per refresh config; each wrk run may lose <= connections


@dataclass(frozen=True)
class Mode:
    name: str
    reps: int
    duration: int  # measured seconds per wrk run
    warmup: int  # seconds of load before each measured run (not recorded)
    rss_small: int  # requests after which the first RSS sample is taken
    rss_large: int  # ... and the second
    small_sessions: int  # issue 3: stored sessions in the small database (each backend)
    big_sessions: int  # ... and in the big one
    profile_seconds: int
    rss_cap_seconds: int  # the RSS check stops here even if it has not reached rss_large


QUICK = Mode("quick", reps=2, duration=3, warmup=1, rss_small=2_000, rss_large=20_000,
             small_sessions=1_000, big_sessions=100_000, profile_seconds=5, rss_cap_seconds=120)
FULL = Mode("full", reps=3, duration=8, warmup=2, rss_small=20_000, rss_large=200_000,
            small_sessions=1_000, big_sessions=1_000_000, profile_seconds=15, rss_cap_seconds=900)
