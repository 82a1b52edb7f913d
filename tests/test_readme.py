"""What the README promises in prose, checked: its links to its own sections resolve, the
rate-limit error code it explains is the one a 429 carries, and the sections on TLS, the
password grant and the walkthrough's logout bound say what operators rely on."""

from __future__ import annotations

import re

import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import ROOT, app_client, password_grant

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_to_a_section_resolves() -> None:
    outside_code = re.sub(r"```.*?```", "", README, flags=re.S)
    anchors = {slug(h) for h in re.findall(r"^#+ (.*)$", outside_code, re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", outside_code))
    assert links and links <= anchors, links - anchors


@pytest.mark.usefixtures("user")
async def test_the_rate_limit_code_the_readme_explains_is_the_one_a_429_carries(
    settings: Settings, clock: FrozenClock
) -> None:
    async with app_client(settings, clock, login_failures_before_backoff=1) as client:
        await password_grant(client, password="wrong-password-1")
        r = await password_grant(client, password="wrong-password-2")
    assert r.status_code == 429 and "retry-after" in r.headers
    code = r.json()["error"]
    explained = next(p for p in README.split("\n\n") if p.startswith("A rate-limited request gets `429`"))
    assert f"`{code}`" in explained and "RFC" in explained
    contract = (ROOT / "docs" / "CONTRACT.md").read_text()
    assert f'"error": "{code}"' in contract


def test_tls_and_proxies_name_the_settings_that_matter() -> None:
    text = section("TLS and reverse proxies")
    for needed in ("TRUSTED_PROXIES", "X-Forwarded-For", "JWT_ISSUER=https://", "X-Forwarded-Proto",
                   "--no-proxy-headers", "location = /metrics"):
        assert needed in text, needed


def test_the_password_grant_section_states_rfc_9700_and_the_standard_flow() -> None:
    text = section("The password grant: when it is acceptable")
    for needed in ("RFC 9700", "§2.4", "MUST NOT", "first-party", "migrating", "PKCE", "rate limits",
                   "rotation", "reuse detection"):
        assert needed in text, needed


def test_the_walkthroughs_logout_step_states_the_cross_worker_bound() -> None:
    block = re.search(r"<!-- walkthrough:start -->(.*?)<!-- walkthrough:end -->", README, re.S)
    assert block
    step = block.group(1).split("# 5.", 1)[1].split("curl", 1)[0]
    assert "refused now" in step and "SESSION_CHECK_INTERVAL_SECONDS" in step
    after = README.split("<!-- walkthrough:end -->", 1)[1].split("\n## ", 1)[0]
    assert "--workers 4" in after and "SESSION_CHECK_INTERVAL_SECONDS" in after
