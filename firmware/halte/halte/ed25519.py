"""Ed25519 (RFC 8032) in plain Python: verify badge and fleet signatures, sign batches.

For MicroPython on a microcontroller: big integers (mpz) and three-argument pow(), no other
imports than our own SHA-512. Points are kept in extended coordinates (X, Y, Z, T); a
verification computes [S]B - [k]A in one pass over the bits (Straus' trick: one doubling per
bit, one addition from a four-entry table) and compares its encoding with R, so R is never
decompressed. The check is the cofactorless equation, as OpenSSL (the hub's and the Pi
station's `cryptography`) checks it.

Not constant-time: verifying is public data. Signing uses the station's key, on a board nobody
can time remotely to the microsecond; the seed never leaves the board's flash.
"""

from halte.sha512 import Sha512

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, P - 2, P) % P
_D2 = 2 * _D % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)

_CHUNK = 128  # one SHA-512 block per step of `SigningKey.signing`

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    Point = tuple[int, int, int, int]  # extended coordinates X, Y, Z, T: x = X/Z, y = Y/Z


class BadKey(ValueError):
    """Bytes that are not an Ed25519 point."""


def _add(p: Point, q: Point) -> Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * _D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p: Point) -> Point:
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    s = x1 + y1
    e = h - s * s % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _neg(p: Point) -> Point:
    x, y, z, t = p
    return ((P - x) % P, y, z, (P - t) % P)


def _affine(x: int, y: int) -> Point:
    return (x, y, 1, x * y % P)


def decode_point(data: bytes) -> Point:
    """RFC 8032 5.1.3; raises BadKey."""
    if len(data) != 32:
        raise BadKey("not 32 bytes")
    n = int.from_bytes(data, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= P:
        raise BadKey("y out of range")
    u = (y * y - 1) % P
    v = (_D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * _SQRT_M1 % P
    if (x * x - x2) % P:
        raise BadKey("not on the curve")
    if x == 0 and sign:
        raise BadKey("negative zero")
    if x & 1 != sign:
        x = P - x
    return _affine(x, y)


def encode_point(p: Point) -> bytes:
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


B = decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))
_ZERO: Point = (0, 1, 1, 0)
_BITS = 255  # every scalar here is below 2**255 (MicroPython ints have no bit_length())


def _mul(k: int, p: Point) -> Point:
    q = _ZERO
    for i in range(_BITS - 1, -1, -1):
        q = _double(q)
        if (k >> i) & 1:
            q = _add(q, p)
    return q


def _mul2(s: int, p: Point, k: int, q: Point) -> Point:
    """[s]P + [k]Q with one doubling per bit."""
    table = (_ZERO, p, q, _add(p, q))
    r = _ZERO
    for i in range(_BITS - 1, -1, -1):
        r = _double(r)
        pick = ((s >> i) & 1) | ((k >> i) & 1) << 1
        if pick:
            r = _add(r, table[pick])
    return r


def _hash_int(*parts: bytes) -> int:
    h = Sha512()
    for part in parts:
        h.update(part)
    return int.from_bytes(h.digest(), "little") % L


class PublicKey:
    """A decoded public key: decode once (a modular square root), verify many times."""

    def __init__(self, raw: bytes) -> None:
        self.raw = bytes(raw)
        self._neg = _neg(decode_point(self.raw))

    def verify(self, signature: bytes, message: bytes) -> bool:
        if len(signature) != 64:
            return False
        r_bytes = signature[:32]
        s = int.from_bytes(signature[32:], "little")
        if s >= L:
            return False
        k = _hash_int(r_bytes, self.raw, message)
        return encode_point(_mul2(s, B, k, self._neg)) == r_bytes


class SigningKey:
    """A private key from its 32-byte seed (what `presensi provision halte` installs)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise BadKey("a seed is 32 bytes")
        h = Sha512(seed).digest()
        a = int.from_bytes(h[:32], "little")
        a &= (1 << 254) - 8
        a |= 1 << 254
        self._a = a
        self._prefix = h[32:]
        self.public = encode_point(_mul(a, B))

    def sign(self, message: bytes) -> bytes:
        signature = b""
        for signature in self.signing(message):  # noqa: B007 - the last value is the result
            pass
        return signature

    def signing(self, message: bytes) -> Iterator[bytes]:
        """Sign in small steps: yields b"" after each SHA-512 block or 16 bits of the scalar
        multiplication, then the signature. The main loop runs one step at a time, so a scan
        never waits for a whole batch signature (docs/benchmarks.md)."""
        h = Sha512(self._prefix)
        for i in range(0, len(message), _CHUNK):
            h.update(message[i : i + _CHUNK])
            yield b""
        r = int.from_bytes(h.digest(), "little") % L
        q = _ZERO
        for i in range(_BITS - 1, -1, -1):
            q = _double(q)
            if (r >> i) & 1:
                q = _add(q, B)
            if i % 16 == 0:
                yield b""
        r_bytes = encode_point(q)
        h = Sha512(r_bytes + self.public)
        for i in range(0, len(message), _CHUNK):
            h.update(message[i : i + _CHUNK])
            yield b""
        k = int.from_bytes(h.digest(), "little") % L
        s = (r + k * self._a) % L
        yield r_bytes + s.to_bytes(32, "little")
