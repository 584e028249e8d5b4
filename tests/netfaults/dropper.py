"""A "broker" that takes each TCP connection and closes it at once, noting when: the times
between connections are a client's reconnect pauses."""

from __future__ import annotations

import itertools
import socket
import threading
import time


class Dropper:
    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.accepted: list[float] = []  # time.monotonic() of each connection
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def __enter__(self) -> Dropper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(time.monotonic())
            conn.close()

    def wait(self, connections: int, timeout: float) -> list[float]:
        """The pauses between the first `connections` connections."""
        deadline = time.monotonic() + timeout
        while len(self.accepted) < connections:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.accepted)} connections in {timeout} s")
            time.sleep(0.02)
        times = self.accepted[:connections]
        return [b - a for a, b in itertools.pairwise(times)]
