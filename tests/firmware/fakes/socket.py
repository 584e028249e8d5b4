# A fake `socket` module whose TCP stream goes through the runner's `hostbridge` JS module to a
# bridge process that holds the real TCP connection (tests/firmware/bridge.py). Only the bytes
# of the stream cross: the MQTT packets are made and parsed by the firmware's own client.
from binascii import hexlify, unhexlify

try:
    import hostbridge
except ImportError:  # run without a bridge: connecting fails like a dead network
    hostbridge = None

EAGAIN = 11


def _call(reply):
    status, _, text = reply.partition(":")
    return int(status), text


def getaddrinfo(host, port, *args):
    return [(2, 1, 0, "", (host, port))]


class socket:
    def __init__(self, *args):
        self._open = False
        self._timeout_ms = 0

    def settimeout(self, t):
        self._timeout_ms = 0 if t is None else int(t * 1000)

    def setblocking(self, flag):
        self._timeout_ms = 5000 if flag else 0

    def connect(self, addr):
        if hostbridge is None:
            raise OSError(113, "EHOSTUNREACH")
        status, text = _call(hostbridge.connect(addr[0], addr[1]))
        if status != 0:
            raise OSError(111, text)
        self._open = True

    def send(self, data):
        status, text = _call(hostbridge.send(hexlify(bytes(data)).decode()))
        if status != 0:
            raise OSError(104, text)
        return int(text)

    def recv(self, n):
        status, text = _call(hostbridge.recv(n, self._timeout_ms))
        if status == 2:
            return b""
        if status != 0:
            raise OSError(104, text)
        if not text:
            raise OSError(EAGAIN, "EAGAIN")
        return unhexlify(text)

    def close(self):
        if self._open:
            hostbridge.close()
            self._open = False
