"""The session file: survives new client objects, is written atomically with mode 0600, is
shared by client objects that refresh in turn, and a corrupt or foreign file gives one
warning and a logged-out client instead of a crash."""

from __future__ import annotations

import json
import stat
import time
import warnings
from pathlib import Path

import pytest

from authclient import AsyncAuthClient, AuthClient, NotLoggedIn, Session, SessionFile, SessionFileWarning
from tests.client.helpers import USERNAME


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_session_survives_new_client_objects(server: str, password: str, tmp_path: Path) -> None:
    path = tmp_path / "config" / "authclient" / "session.json"  # folders are created
    path.parent.mkdir(parents=True)
    path.write_text("left over from a crash")
    path.chmod(0o644)
    with pytest.warns(SessionFileWarning), AuthClient(server, session_file=path) as first:
        created = first.login(USERNAME, password)  # replaces the broken file
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["session.json", "session.json.lock"]  # no temp files left
    assert json.loads(path.read_text())["username"] == USERNAME

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good file loads without a word
        second = AuthClient(server, session_file=path)
    assert second.session == created and second.is_valid()
    assert second.whoami()["username"] == USERNAME  # no login: the stored session is used
    refreshed = second.refresh()
    assert _mode(path) == 0o600 and SessionFile(path).load(second.server) == refreshed
    assert AuthClient(server, session_file=path).session == refreshed

    second.logout()
    assert not path.exists()
    assert AuthClient(server, session_file=path).session is None


async def test_two_client_objects_on_one_file_never_log_each_other_out(
    server: str, password: str, tmp_path: Path
) -> None:
    """The sync client's pair goes stale when the async one refreshes; its own refresh then
    takes the newer pair from the file instead of spending the dead refresh token."""
    path = tmp_path / "session.json"
    sync = AuthClient(server, session_file=path)
    sync.login(USERNAME, password)
    aio = AsyncAuthClient(server, session_file=path)
    rotated = await aio.refresh()
    assert sync.session is not None and sync.session.refresh_token != rotated.refresh_token
    again = sync.refresh()  # would be reuse (and revoke everything) without the re-read
    assert again.refresh_token != rotated.refresh_token
    assert (await aio.refresh()).refresh_token != again.refresh_token
    assert sync.whoami()["username"] == USERNAME and (await aio.whoami())["username"] == USERNAME
    await aio.aclose()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "is not a valid session"),
        (b"\xff\xfe\x00garbage", "cannot be read"),
        (b'{"hello": "world"}', "not an authclient session"),
        (b"[1, 2, 3]", "not an authclient session"),
        (b'{"format": "authclient.session", "version": 99}', "unsupported session version"),
        (b'{"format": "authclient.session", "version": 1, "server": "http://x"}', "missing"),
    ],
)
def test_corrupt_or_foreign_file_warns_once_and_starts_logged_out(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "session.json"
    path.write_bytes(content)
    with pytest.warns(SessionFileWarning, match="starting logged out") as record:
        auth = AuthClient("http://127.0.0.1:9", session_file=path)
    assert len(record) == 1 and why in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller's line, not at our internals
    assert auth.session is None and not auth.is_valid()
    with pytest.raises(NotLoggedIn):
        auth.get_access_token()


def test_a_file_for_another_server_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    SessionFile(path).save(Session(
        server="http://other.example:8000", username=USERNAME, access_token="a.b.c", refresh_token="r",
        token_type="Bearer", scope="", access_lifetime=60, access_expires_at=time.time() + 60,
        refresh_expires_at=None, session_expires_at=None, created_at=time.time(),
    ))
    with pytest.warns(SessionFileWarning, match="belongs to another server"):
        auth = AuthClient("http://127.0.0.1:9", session_file=path)
    assert auth.session is None  # its tokens are never sent to this server
    assert SessionFile(path).load(None) is not None  # nor is the other server's session destroyed
