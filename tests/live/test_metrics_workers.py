"""Under `serve --workers 2` every scrape of /metrics sees the whole server, not the
worker that happened to answer (prometheus multi-process mode)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import PASSWORD, live_server, metric_value

pytestmark = pytest.mark.usefixtures("user")


def logins(text: str) -> float:
    return metric_value(text, "authserver_token_events_total", event="login_succeeded")


def test_metrics_are_aggregated_over_workers(database_url: str) -> None:
    with live_server(database_url, workers=2, RATE_LIMIT_ENABLED="false") as base:
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(8):
                form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
                assert http.post("/user/oauth/token", data=form).status_code == 200
            # new connections, so the scrapes spread over both workers
            scrapes = [httpx.get(f"{base}/metrics", timeout=30).text for _ in range(6)]
    assert [logins(text) for text in scrapes] == [8.0] * 6
