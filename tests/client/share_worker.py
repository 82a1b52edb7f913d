"""A separate process sharing one session file (run by test_multiprocess.py, not collected).

    python -m tests.client.share_worker SERVER SESSION_FILE ROUNDS START_AT

Waits until START_AT (epoch seconds) so both workers race, then ROUNDS times: forces a
rotation and makes a request. Prints one JSON line with what happened. Imports only
authclient and httpx, as a user's program would.
"""

from __future__ import annotations

import json
import sys
import time

import httpx

from authclient import AuthClient, AuthError, SessionEvent


def main(server: str, session_file: str, rounds: int, start_at: float) -> int:
    auth = AuthClient(server, session_file=session_file)
    events: list[str] = []
    auth.on_session_change(lambda event, _session: events.append(event.value))
    statuses: list[int] = []
    rotations, error = 0, None
    time.sleep(max(0.0, start_at - time.time()))  # a rendezvous with the other process, not a wait for a token
    try:
        with httpx.Client(auth=auth, base_url=server) as api:
            for _ in range(rounds):
                auth.refresh()
                rotations += 1
                statuses.append(api.get("/user/me").status_code)
    except AuthError as exc:
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({
        "rotations": rotations, "statuses": statuses, "error": error,
        "expired": SessionEvent.EXPIRED.value in events, "valid": auth.is_valid(),
    }))
    return 0 if error is None else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
