"""A small MQTT 3.1.1 client for the halte: what the protocol needs and nothing more.

CONNECT with a persistent session (clean_session 0, client id = station id), username and
password, a retained QoS 1 last will; PUBLISH QoS 0/1 (the broker's PUBACK is noted but never
taken as delivery: only the hub's ack frees a record); SUBSCRIBE QoS 1; incoming PUBLISH QoS
0/1 (PUBACK sent); PINGREQ on the keepalive. Non-blocking: `poll()` reads what the socket has,
returns complete messages, never waits. Any socket error raises MqttError; the caller drops the
connection and reconnects with backoff.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from halte.net import Transport

MAX_PACKET = 64 * 1024  # larger incoming packets (a huge fleet list) end the connection


class MqttError(OSError):
    pass


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    data = s.encode() if isinstance(s, str) else s
    return len(data).to_bytes(2, "big") + data


def packet(kind: int, body: bytes) -> bytes:
    return bytes((kind,)) + _varint(len(body)) + body


class Client:
    def __init__(self, transport: Transport, client_id: str, keepalive_s: int = 30) -> None:
        self.transport = transport
        self.client_id = client_id
        self.keepalive_s = keepalive_s
        self._buf = b""
        self._pid = 0
        self.connected = False
        self.pubacks = 0
        self._last_out_ms = 0
        self.last_in_ms = 0  # when bytes last arrived (a silent link is a dead link)

    def _next_pid(self) -> int:
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _send(self, data: bytes, now_ms: int) -> None:
        self.transport.send(data)
        self._last_out_ms = now_ms

    def connect(
        self,
        username: str,
        password: str,
        will: tuple[str, bytes],
        now_ms: int,
    ) -> None:
        """Send CONNECT; `poll()` later sees the CONNACK (connected becomes True)."""
        flags = 0x04 | 0x08 | 0x20  # will, will QoS 1, will retain; clean session 0
        payload = _str(self.client_id) + _str(will[0]) + _str(will[1])
        if username:
            flags |= 0x80
            payload += _str(username)
            if password:
                flags |= 0x40
                payload += _str(password)
        head = _str("MQTT") + bytes((4, flags)) + self.keepalive_s.to_bytes(2, "big")
        self._send(packet(0x10, head + payload), now_ms)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, now_ms: int) -> None:
        kind = 0x30 | (qos << 1) | (1 if retain else 0)
        body = _str(topic)
        if qos:
            body += self._next_pid().to_bytes(2, "big")
        self._send(packet(kind, body + payload), now_ms)

    def subscribe(self, topics: list[str], now_ms: int) -> None:
        body = self._next_pid().to_bytes(2, "big")
        for topic in topics:
            body += _str(topic) + b"\x01"
        self._send(packet(0x82, body), now_ms)

    def disconnect(self) -> None:
        try:
            self.transport.send(b"\xe0\x00")
        except OSError:
            pass
        self.transport.close()
        self.connected = False

    def keepalive(self, now_ms: int) -> None:
        """PINGREQ after half the keepalive without sending; MqttError when nothing at all
        came in for 1.5 keepalives (the broker answers every PINGREQ: the link is dead)."""
        if not self.connected:
            return
        if now_ms - self.last_in_ms >= self.keepalive_s * 1500:
            raise MqttError("keepalive_timeout")
        if now_ms - self._last_out_ms >= self.keepalive_s * 500:
            self._send(b"\xc0\x00", now_ms)

    def poll(self, now_ms: int) -> list[tuple[str, bytes]]:
        """Messages that arrived (topic, payload); raises MqttError on a broken stream."""
        data = self.transport.recv(4096)
        if data:
            self._buf += data
            self.last_in_ms = now_ms
        out: list[tuple[str, bytes]] = []
        while True:
            parsed = self._take()
            if parsed is None:
                return out
            kind, body = parsed
            message = self._handle(kind, body, now_ms)
            if message is not None:
                out.append(message)

    def _take(self) -> tuple[int, bytes] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        size = 0
        mult = 1
        i = 1
        while True:
            if i >= len(buf):
                return None
            byte = buf[i]
            size += (byte & 0x7F) * mult
            i += 1
            if not byte & 0x80:
                break
            mult *= 128
            if i > 4:
                raise MqttError("mqtt_bad_length")
        if size > MAX_PACKET:
            raise MqttError("mqtt_packet_too_large")
        if len(buf) < i + size:
            return None
        self._buf = buf[i + size :]
        return buf[0], buf[i : i + size]

    def _handle(self, kind: int, body: bytes, now_ms: int) -> tuple[str, bytes] | None:
        code = kind & 0xF0
        if code == 0x20:  # CONNACK
            if len(body) != 2 or body[1] != 0:
                raise MqttError("mqtt_refused_%d" % (body[1] if len(body) == 2 else 255))
            self.connected = True
        elif code == 0x30:  # PUBLISH
            qos = (kind >> 1) & 3
            n = int.from_bytes(body[:2], "big")
            topic = body[2 : 2 + n].decode()
            rest = body[2 + n :]
            if qos:
                pid = rest[:2]
                rest = rest[2:]
                self._send(b"\x40\x02" + pid, now_ms)  # PUBACK
            return topic, bytes(rest)
        elif code == 0x40:  # PUBACK
            self.pubacks += 1
        return None
