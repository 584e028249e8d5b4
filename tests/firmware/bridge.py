"""The one part of the conformance test that is not firmware: the TCP socket.

The MicroPython wasm port has no sockets. The firmware's MQTT client (halte.mqtt) makes and
parses every MQTT byte; the fake `socket` module (tests/firmware/fakes/socket.py) hands the
byte stream to the runner's `hostbridge` JS module, which sends framed requests over a socket
pair to this bridge; the bridge holds a real TCP connection to the broker and forwards bytes
both ways. Requests: C host:port (connect), S data (send), R max+timeout (recv: data, empty
when none within the timeout, status 2 when the broker closed), X (close). Replies: status
byte, 4-byte length, body.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise EOFError
        buf += part
    return buf


class SocketBridge:
    """`flap_every_s`: the link breaks that often (the TCP connection is cut, and connecting is
    refused for `down_s`), as a Wi-Fi that comes and goes."""

    def __init__(self, flap_every_s: float | None = None, down_s: float = 0.3) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.tcp: socket.socket | None = None
        self.connects = 0
        self.flaps = 0
        self.refused = 0
        self.flap_every_s = flap_every_s
        self.down_s = down_s
        self._down_until = 0.0
        self._stop = threading.Event()
        if flap_every_s is not None:
            threading.Thread(target=self._flap, daemon=True).start()
        self.bytes_up = 0
        self.bytes_down = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _flap(self) -> None:
        assert self.flap_every_s is not None
        while not self._stop.wait(self.flap_every_s):
            tcp = self.tcp
            if tcp is not None:
                self._down_until = time.monotonic() + self.down_s
                self.flaps += 1
                with contextlib.suppress(OSError):
                    tcp.shutdown(socket.SHUT_RDWR)

    def fd_for_child(self) -> int:
        return self.theirs.fileno()

    def _reply(self, status: int, body: bytes = b"") -> None:
        self.ours.sendall(struct.pack(">BI", status, len(body)) + body)

    def _serve(self) -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                op, size = struct.unpack(">cI", _read(self.ours, 5))
                self._handle(op, _read(self.ours, size))

    def _handle(self, op: bytes, body: bytes) -> None:
        if op == b"C":
            if time.monotonic() < self._down_until:
                self.refused += 1
                self._reply(1, b"network down")
                return
            host, _, port = body.decode().rpartition(":")
            try:
                self.tcp = socket.create_connection((host, int(port)), timeout=5)
                self.connects += 1
                self._reply(0)
            except OSError as exc:
                self._reply(1, str(exc).encode())
        elif op == b"S":
            try:
                assert self.tcp is not None
                self.tcp.sendall(body)
                self.bytes_up += len(body)
                self._reply(0, struct.pack(">I", len(body)))
            except (OSError, AssertionError) as exc:
                self._reply(1, str(exc).encode())
        elif op == b"R":
            self._recv(*struct.unpack(">II", body))
        elif op == b"X":
            if self.tcp is not None:
                self.tcp.close()
                self.tcp = None
            self._reply(0)

    def _recv(self, size: int, timeout_ms: int) -> None:
        if self.tcp is None:
            self._reply(1, b"not connected")
            return
        ready, _, _ = select.select([self.tcp], [], [], timeout_ms / 1000)
        if not ready:
            self._reply(0)
            return
        try:
            data = self.tcp.recv(size)
        except OSError as exc:
            self._reply(1, str(exc).encode())
            return
        self.bytes_down += len(data)
        self._reply(0, data) if data else self._reply(2, b"closed")

    def close(self) -> None:
        self._stop.set()
        for s in (self.ours, self.theirs, self.tcp):
            if s is not None:
                s.close()
