"""`Probe`: a small synchronous paho-mqtt 2.x client (MQTT 3.1.1) for checking what a broker
does: connect and get the CONNACK reason code, subscribe and get the SUBACK codes, publish QoS 1
and wait for the PUBACK, and collect every message received. (The brokers themselves are
presensi.demo.mosquitto's, shared with the hub bench.)"""

from __future__ import annotations

import queue
import socket
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

# -- a synchronous paho client ---------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Probe:
    """A paho-mqtt 2.x client (MQTT 3.1.1) driven by its network thread.

    Every message received lands in `messages`. A refused CONNACK is never retried. A connection
    lost later is re-established by paho's network thread only with `reconnect=True`; by default
    the probe stays disconnected until connect() is called again.
    """

    def __init__(
        self,
        port: int,
        client_id: str,
        *,
        host: str = "127.0.0.1",
        username: str | None = None,
        password: str | None = None,
        clean_session: bool = True,
        will: tuple[str, bytes, int, bool] | None = None,
        keepalive: int = 30,
        reconnect: bool = False,
    ) -> None:
        self.host, self.port, self.keepalive = host, port, keepalive
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=clean_session,
            reconnect_on_failure=reconnect,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos=qos, retain=retain)
        self.messages: queue.Queue[Received] = queue.Queue()
        self.connack: ReasonCode | None = None
        self.session_present: bool | None = None
        self._connected = threading.Event()
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._cond = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._loop_running = False
        self._dropped = False

    # paho callbacks (network thread)
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self.connack = reason_code
        self.session_present = flags.session_present
        if reason_code.is_failure:
            client.disconnect()  # so that paho's network loop does not retry a refusal
        self._connected.set()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        with self._cond:
            self._subacks[mid] = list(reason_codes)
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put(Received(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))

    # API
    def connect(self, timeout: float = 5.0) -> ReasonCode:
        """Connect and return the CONNACK reason code (success or refusal)."""
        self._stop_loop()
        self._dropped = False
        self._connected.clear()
        self.client.connect(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        self._loop_running = True
        if not self._connected.wait(timeout):
            self._stop_loop()
            raise TimeoutError(f"no CONNACK from {self.host}:{self.port} within {timeout} s")
        assert self.connack is not None
        if self.connack.is_failure:
            self._stop_loop()  # ends at once: _on_connect already called disconnect()
        return self.connack

    def connect_ok(self, timeout: float = 5.0) -> Probe:
        rc = self.connect(timeout)
        if rc.is_failure:
            raise AssertionError(f"connection refused: {rc}")
        return self

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 5.0) -> list[ReasonCode]:
        """Subscribe and return the SUBACK reason codes (0x80 = refused under MQTT 3.1.1)."""
        result, mid = self.client.subscribe(topic, qos)
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            raise RuntimeError(f"subscribe failed: {mqtt.error_string(result)}")
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._subacks, timeout):
                raise TimeoutError(f"no SUBACK for {topic!r} within {timeout} s")
            return self._subacks.pop(mid)

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, timeout: float = 5.0
    ) -> None:
        """Publish and, for QoS > 0, wait for the broker's acknowledgement."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise TimeoutError(f"no PUBACK for {topic!r} within {timeout} s")

    def expect(self, timeout: float = 5.0) -> Received:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    def expect_none(self, within: float) -> None:
        try:
            msg = self.messages.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {msg.topic!r}: {msg.payload!r}")

    def drop(self) -> None:
        """Cut the TCP connection without DISCONNECT (as a crash or a lost network would)."""
        self._dropped = True
        sock = self.client.socket()
        if sock is not None:
            assert isinstance(sock, socket.socket)
            sock.shutdown(socket.SHUT_RDWR)  # wakes the network thread, which then ends
        self._stop_loop()

    def close(self) -> None:
        """Disconnect cleanly (no last will), stop the network thread, close the sockets."""
        if self.client.is_connected() and not self._dropped:
            self.client.disconnect()
        self._stop_loop()
        # paho leaves its socket and wake-up socket pair to garbage collection, which warns
        # (ResourceWarning) when a reference cycle is collected: close them now
        self.client._reset_sockets()

    def _stop_loop(self) -> None:
        if self._loop_running:
            self._loop_running = False
            self.client.loop_stop()

    def __enter__(self) -> Probe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
