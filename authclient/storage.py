"""The session file: a session that survives restarts and is shared by processes.

- Written atomically (a temporary file in the same folder, then `os.replace`), so a reader
  sees the old session or the new one, never half of one; created with mode 0600 from the
  first byte, since it holds bearer tokens.
- A corrupt or foreign file (not ours, or for another server) gives one warning and reads
  as "logged out": a broken file must not stop a program that can simply log in again.
- `lock()` takes an exclusive OS lock on a sidecar `<file>.lock`. Refreshing under it, after
  re-reading the file, is what stops two processes from both spending the same refresh
  token (the server would take that as theft and revoke the session). The lock lives on a
  separate file because the session file itself is replaced by rename at every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from authclient.session import Session

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


class SessionFileWarning(UserWarning):
    """The session file could not be used; the client starts logged out."""


class SessionFile:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"SessionFile({str(self.path)!r})"

    def load(self, server: str | None, *, warn: bool = True) -> Session | None:
        """The stored session, or None when there is none or it cannot be used. `server`
        None accepts any server (the CLI learns the server from the file)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self._unusable(f"cannot be read ({type(exc).__name__})", warn)
            return None
        try:
            session = Session.from_dict(json.loads(text))
        except ValueError as exc:
            self._unusable(f"is not a valid session ({exc})", warn)
            return None
        if server is not None and session.server != server:
            self._unusable(f"belongs to another server ({session.server})", warn)
            return None
        return session

    def save(self, session: Session) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps(session.to_dict(), indent=2).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            # mkstemp creates the file 0600, so the tokens are never readable by others.
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Blocks until no other process (or client object) holds the lock."""
        fd = self._open_lock()
        try:
            _acquire(fd, blocking=True)
            try:
                yield
            finally:
                _release(fd)
        finally:
            os.close(fd)

    @contextlib.asynccontextmanager
    async def alock(self) -> AsyncIterator[None]:
        """The same lock without blocking the event loop: polls a non-blocking attempt,
        which a cancelled task can abandon safely (a thread stuck in flock could not)."""
        fd = self._open_lock()
        try:
            delay = 0.005
            while not _acquire(fd, blocking=False):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                _release(fd)
        finally:
            os.close(fd)

    def _open_lock(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    def _unusable(self, why: str, warn: bool) -> None:
        if warn:
            warnings.warn(
                f"session file {self.path} {why}; starting logged out (log in again to replace it)",
                SessionFileWarning,
                stacklevel=5,  # the line that built the client
            )


def _acquire(fd: int, *, blocking: bool) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            return True
        except BlockingIOError:
            return False
    mode = msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK  # pragma: no cover - Windows
    while True:  # pragma: no cover - Windows: LK_LOCK gives up after 10 s, so loop
        try:
            msvcrt.locking(fd, mode, 1)
            return True
        except OSError:
            if not blocking:
                return False


def _release(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
