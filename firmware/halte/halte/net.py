"""The network under the MQTT client: a TCP connection made non-blocking (tests run it over a
bridge to a real broker; see tests/firmware/bridge.py). `recv` returns b"" when nothing is
waiting and raises OSError when the peer closed or the link broke."""

import socket


class Transport:
    def __init__(self, host: str, port: int) -> None:
        addr = socket.getaddrinfo(host, port)[0][-1]
        self._sock = socket.socket()
        try:
            self._sock.settimeout(5)
            self._sock.connect(addr)
            self._sock.setblocking(False)
        except OSError:
            self._sock.close()
            raise

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self._sock.send(view)
            except OSError as exc:
                if exc.args and exc.args[0] == 11:  # EAGAIN: the send buffer is full
                    continue
                raise
            view = view[sent:]

    def recv(self, size: int) -> bytes:
        try:
            data = self._sock.recv(size)
        except OSError as exc:
            if exc.args and exc.args[0] == 11:  # EAGAIN: nothing waiting
                return b""
            raise
        if not data:
            raise OSError("connection closed by the broker")
        return data

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass
