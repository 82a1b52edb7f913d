"""A TCP proxy between a server process and PostgreSQL that a test can cut and restore.

It runs its own event loop in a thread, so the test's loop and the server process are
unaffected. `cut()` drops every open connection and refuses new ones (a dead database);
`blackhole()` keeps connections open but forwards nothing (a silent network); `restore()`
forwards again.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

Mode = Literal["up", "cut", "blackhole"]


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "up"
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        for w in list(self._writers):
            w.close()

    def _set(self, mode: Mode) -> None:
        def apply() -> None:
            self.mode = mode
            if mode == "cut":
                for w in list(self._writers):
                    w.transport.abort()
                self._writers.clear()

        done = threading.Event()
        self._loop.call_soon_threadsafe(lambda: (apply(), done.set()))
        done.wait(5)

    def cut(self) -> None:
        self._set("cut")

    def blackhole(self) -> None:
        self._set("blackhole")

    def restore(self) -> None:
        self._set("up")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                while self.mode == "blackhole":
                    await asyncio.sleep(0.05)
                if self.mode == "cut":
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
