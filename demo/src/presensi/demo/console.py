"""The demo's console: `presensi hub web` in a thread of the demo process, on the demo's hub
store, with a demo login printed at start."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator

from presensi.demo.mosquitto import free_port

DEMO_USER = "demo"
DEMO_PASSWORD = "presensi-demo"  # noqa: S105 (printed for the demo's reader, on loopback only)


def _port(preferred: int) -> int:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


@contextlib.contextmanager
def demo_console(store_url: str, preferred_port: int = 8080) -> Iterator[str]:
    """Serve the console on 127.0.0.1 (`preferred_port`, or a free one); yield its URL."""
    import uvicorn

    from presensi.hub.console import accounts
    from presensi.hub.console.app import make_app
    from presensi.hub.console.core import ConsoleConfig
    from presensi.hub.console.data import ConsoleData
    from presensi.hub.store import SqlStore, open_store

    store = open_store(store_url, existing=True)
    assert isinstance(store, SqlStore)
    try:
        data = ConsoleData(store.database)
        if data.user(DEMO_USER) is None:
            password_hash = accounts.hash_password(DEMO_PASSWORD)
            data.add_user(
                DEMO_USER, "admin", password_hash, units=(), now_ms=time.time_ns() // 10**6
            )
    finally:
        store.close()
    port = _port(preferred_port)
    app = make_app(ConsoleConfig(store_url, secrets.token_urlsafe(32)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)
