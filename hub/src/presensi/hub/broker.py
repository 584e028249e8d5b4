"""How the hub reaches the broker: the address, the login, TLS. Shared by the ingest worker and
the admin commands that publish retained documents (publish-fleet, publish-settings).

`mqtts://host[:port]` (port 8883 by default) connects over TLS, checking the broker's
certificate against `ca_file` (or the system's CAs); with `cert_file` and `key_file` the hub
logs in with a client certificate (the broker takes its CN as the user), else with the
username and password. `mqtt://host[:port]` (1883) is for a closed network or a test.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from presensi.hub.errors import HubError

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path | None = None  # the CA of the broker's certificate (None: the system's)
    cert_file: Path | None = None  # the hub's client certificate, with its key
    key_file: Path | None = None


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise HubError(
                f"broker address {url!r} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"
            )
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls)


def make_client(
    url: str,
    *,
    client_id: str = "",
    clean_session: bool = True,
    username: str = "",
    password: str = "",
    tls: TlsFiles | None = None,
) -> tuple[mqtt.Client, BrokerAddress]:
    """A paho 2.x client (MQTT 3.1.1) set up for the broker at `url`, not connected yet."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    address = BrokerAddress.parse(url)
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )
    if username:
        client.username_pw_set(username, password)
    if address.tls:
        files = tls or TlsFiles()
        if (files.cert_file is None) != (files.key_file is None):
            raise HubError("a client certificate needs both --cert-file and --key-file")
        try:
            client.tls_set(
                ca_certs=str(files.ca_file) if files.ca_file else None,
                certfile=str(files.cert_file) if files.cert_file else None,
                keyfile=str(files.key_file) if files.key_file else None,
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise HubError(f"cannot set up TLS for {url}: {exc}") from exc
    elif tls is not None and any((tls.ca_file, tls.cert_file, tls.key_file)):
        raise HubError(f"TLS files given, but {url} is not mqtts://: use mqtts://HOST:8883")
    return client, address


def publish_retained(
    url: str,
    messages: list[tuple[str, bytes]],
    *,
    username: str = "",
    password: str = "",
    tls: TlsFiles | None = None,
    timeout: float = 10.0,
) -> None:
    """Publish retained QoS 1 messages once (admin commands) and wait for the broker to take
    them. Raises HubError if the broker cannot be reached, or refuses, in `timeout` seconds."""
    client, address = make_client(url, username=username, password=password, tls=tls)
    refused: list[str] = []
    answered = threading.Event()

    def on_connect(
        c: object, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            refused.append(str(reason))
        answered.set()

    def on_disconnect(
        c: object, userdata: object, flags: object, reason: object, p: object
    ) -> None:
        answered.set()  # closed before (or instead of) an answer: a TLS port, or a refusal

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(address.host, address.port, keepalive=30)
    except (OSError, ssl.SSLError) as exc:
        raise HubError(f"cannot reach the broker at {url}: {exc}") from exc
    client.loop_start()
    try:
        # Wait for the broker's answer to the login first: publishing before it races a
        # refusal, which paho reports as "not currently connected".
        if not answered.wait(timeout):
            raise HubError(
                f"the broker at {url} did not answer the login in {timeout:.0f} s;"
                " a TLS port needs mqtts://"
            )
        if refused:
            raise HubError(f"the broker at {url} refused the login: {refused[0]}")
        if not client.is_connected():
            raise HubError(
                f"the broker at {url} closed the connection before answering the login;"
                " a TLS port needs mqtts://"
            )
        _publish_all(client, url, messages, refused, timeout)
    except (RuntimeError, ValueError) as exc:  # paho: the connection went away under it
        if refused:
            raise HubError(f"the broker at {url} refused the login: {refused[0]}") from exc
        raise HubError(
            f"the broker at {url} closed the connection ({exc}); a TLS port needs mqtts://"
        ) from exc
    finally:
        client.disconnect()
        client.loop_stop()


def _publish_all(
    client: mqtt.Client,
    url: str,
    messages: list[tuple[str, bytes]],
    refused: list[str],
    timeout: float,
) -> None:
    infos = [client.publish(topic, payload, qos=1, retain=True) for topic, payload in messages]
    deadline = time.monotonic() + timeout
    for info in infos:
        while not info.is_published() and time.monotonic() < deadline and not refused:
            time.sleep(0.02)
        if refused:
            raise HubError(f"the broker at {url} refused the login: {refused[0]}")
        if not info.is_published():
            raise HubError(f"the broker at {url} did not take the message in {timeout:.0f} s")
