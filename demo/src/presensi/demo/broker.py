"""An MQTT broker inside the process, for the zero-setup demo only.

Production and the test suite use Mosquitto (docs/operations.md); this runs amqtt (MQTT 3.1.1,
pure Python, about a fifth of Mosquitto's throughput here) so that `presensi demo` needs nothing
installed. It runs in a background thread with its own asyncio loop:

    with EmbeddedBroker() as broker:      # port 0: a free port is picked
        run_demo(broker.url)              # "mqtt://127.0.0.1:PORT"

What it does (tests/hub/test_embedded_broker.py): QoS 0/1 publish and subscribe, retained
messages, last will on a dropped connection, persistent sessions (clean_session=False) that get
the QoS 1 messages published while they were away. What it does not do: keep anything across a
restart (all state is in memory), authenticate or authorise (every client is let in), shared
subscriptions ($share/...), MQTT 5, TLS (amqtt could; not needed for a local demo).

amqtt 0.12 quirks:
- handled here: its AnonymousAuthPlugin marks every session it admits as anonymous, and amqtt
  keeps no messages for a disconnected anonymous session (and drops the session within a second),
  so with the stock "allow anonymous" plugin persistent sessions silently lose everything sent
  while a client is away. `OpenAuthPlugin` admits every client without that mark.
- not handled: messages queued for an offline persistent session are delivered with the RETAIN
  flag set, so clients must not give that flag a meaning on ack/cmd topics (Presensi's don't);
  and amqtt registers its PUBACK waiter only after sending a PUBLISH, so a fast client's PUBACK
  can arrive first ("Received PUBACK for unknown pending message Id", then a 5 s timeout of that
  delivery task; the client did get the message). Its log is kept at ERROR for that reason.
- with port 0 each start() picks a new free port; pass a port to keep one across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin  # type: ignore[import-untyped]

QUIET_LOGGERS = ("amqtt", "transitions")


class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Admit every client, with or without a username, as a full (non-anonymous) session."""

    async def authenticate(self, *, session: Any) -> bool:
        return True


class _Snapshots(dict):  # type: ignore[type-arg]
    """amqtt's subscriptions (topic filter -> sessions), iterated over a copy: amqtt 0.12.1
    walks them across awaits (sending a connecting client the retained messages, removing a
    leaving client's subscriptions), so another client subscribing meanwhile broke that
    connection with "dictionary changed size during iteration"."""

    def __iter__(self) -> Iterator[Any]:
        return iter(list(super().__iter__()))

    def items(self) -> Any:
        return list(super().items())


class _Broker(Broker):  # type: ignore[misc]
    """amqtt's broker, closing each client connection however its handler ends (amqtt leaves
    some open when the broker shuts down with clients connected: ResourceWarnings later), its
    subscriptions iterated over a copy (_Snapshots)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions = _Snapshots(self._subscriptions)  # type: ignore[has-type]

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            writer.close()


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not start or stop."""


class EmbeddedBroker:
    """An amqtt broker on `host`:`port` (port 0: a free one) in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout: float = 10.0,
        log_level: int = logging.ERROR,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.start_timeout = start_timeout
        self.log_level = log_level
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            if self._requested_port:
                return self._requested_port
            raise EmbeddedBrokerError("the embedded broker has no port before start()")
        return self._port

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def config(self, port: int) -> dict[str, Any]:
        """The amqtt 0.12 broker config: one TCP listener, no $SYS or packet-logging plugins."""
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{port}"}},
            "plugins": {f"{__name__}.{OpenAuthPlugin.__name__}": {}},
        }

    def start(self) -> EmbeddedBroker:
        """Start the broker; returns once its listener accepts connections."""
        if self._thread is not None:
            raise EmbeddedBrokerError("the embedded broker is already started")
        _quiet(self.log_level)
        attempts = 1 if self._requested_port else 3  # a picked free port can be taken meanwhile
        for attempt in range(1, attempts + 1):
            port = self._requested_port or _free_port(self.host)
            self._ready.clear()
            self._error = None
            thread = threading.Thread(
                target=self._run, args=(port,), name=f"amqtt-broker-{port}", daemon=True
            )
            self._thread = thread
            thread.start()
            if not self._ready.wait(self.start_timeout):
                self.stop()
                raise EmbeddedBrokerError(
                    f"amqtt did not start on {self.host}:{port} in {self.start_timeout} s"
                )
            error = self._startup_error()
            if error is None:
                self._port = port
                return self
            thread.join()
            self._thread = None
            if attempt == attempts:
                raise EmbeddedBrokerError(
                    f"amqtt could not listen on {self.host}:{port}: {error}"
                ) from error
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down (closing every client connection) and join its thread."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise EmbeddedBrokerError(f"amqtt did not shut down within {timeout} s")
        self._thread = None
        self._loop = None
        self._stopping = None
        self._port = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"<EmbeddedBroker {where}>"

    def _startup_error(self) -> BaseException | None:
        return self._error  # set by the broker thread before it sets _ready

    # -- the broker thread ---------------------------------------------------------------

    def _run(self, port: int) -> None:
        asyncio.run(self._serve(port))

    async def _serve(self, port: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            broker = _Broker(self.config(port))
            await broker.start()
        except Exception as exc:  # noqa: BLE001 (handed to start(), which raises it)
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await broker.shutdown()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _quiet(level: int) -> None:
    """amqtt logs every connection at INFO and some harmless races at WARNING (e.g. "Received
    PUBACK for unknown pending message Id" when a client acknowledges before amqtt has set up its
    waiter); keep the demo's output to its own lines unless the application configured these
    loggers itself."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
