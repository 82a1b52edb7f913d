"""The discovery document states the session policy (extension metadata, RFC 8414 §2):
rotation, the reuse grace window and the reuse-detection mode, as configured; and the
docs name each field beside the token response's `session_expires_in`."""

from __future__ import annotations

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import ROOT, app_client

POLICY_FIELDS = ("refresh_token_rotation", "refresh_token_reuse_grace_seconds", "refresh_token_reuse_detection")


async def test_the_default_policy_is_strict_rotation(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert {name: meta[name] for name in POLICY_FIELDS} == {
        "refresh_token_rotation": True,
        "refresh_token_reuse_grace_seconds": 0,
        "refresh_token_reuse_detection": "enforce",
    }


@pytest.mark.parametrize(("grace", "shown"), [(10, 10), (2.5, 2.5)])
async def test_the_policy_follows_the_settings(
    settings: Settings, clock: FrozenClock, grace: float, shown: float
) -> None:
    async with app_client(
        settings, clock, refresh_reuse_grace_seconds=grace, refresh_reuse_detection="report"
    ) as client:
        meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["refresh_token_reuse_grace_seconds"] == shown
    assert meta["refresh_token_reuse_detection"] == "report"
    assert meta["refresh_token_rotation"] is True


async def test_the_openapi_document_describes_the_policy_fields(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["ServerMetadata"]
    assert all(schema["properties"][name].get("description") for name in POLICY_FIELDS)


@pytest.mark.parametrize("doc", ["README.md", "docs/CONTRACT.md"])
def test_the_docs_name_the_policy_fields_beside_session_expires_in(doc: str) -> None:
    text = (ROOT / doc).read_text()
    for paragraph in text.split("\n\n"):
        if "refresh_token_reuse_detection" in paragraph:
            assert all(f"`{name}`" in paragraph for name in (*POLICY_FIELDS, "session_expires_in")), paragraph
            return
    pytest.fail(f"{doc} does not describe the discovery document's session policy")
