"""SHA-512 (FIPS 180-4) in plain Python, for Ed25519 on boards whose hashlib has only SHA-256.

Written for MicroPython: no imports, integers masked to 64 bits after every operation. The
round constants are the first 64 bits of the fractional parts of the cube roots of the first 80
primes (the initial values: square roots of the first 8); tests/firmware/test_sha512.py derives
them again and checks every value here.
"""

_M = 0xFFFFFFFFFFFFFFFF

_H0 = (
    0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
    0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
)
_K = (
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
    0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
    0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
    0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
    0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
    0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
    0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
    0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
    0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
    0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
    0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
)


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (64 - n))) & _M


def _compress(state: list[int], block: bytes) -> None:
    m = _M
    w = [int.from_bytes(block[i : i + 8], "big") for i in range(0, 128, 8)]
    for t in range(16, 80):
        x = w[t - 15]
        s0 = _rotr(x, 1) ^ _rotr(x, 8) ^ (x >> 7)
        x = w[t - 2]
        s1 = _rotr(x, 19) ^ _rotr(x, 61) ^ (x >> 6)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & m)
    a, b, c, d, e, f, g, h = state
    k = _K
    for t in range(80):
        s1 = _rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)
        ch = (e & f) ^ (~e & m & g)
        t1 = (h + s1 + ch + k[t] + w[t]) & m
        s0 = _rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)
        maj = (a & b) ^ (a & c) ^ (b & c)
        h, g, f, e = g, f, e, (d + t1) & m
        d, c, b, a = c, b, a, (t1 + s0 + maj) & m
    for i, v in enumerate((a, b, c, d, e, f, g, h)):
        state[i] = (state[i] + v) & m


class Sha512:
    """hashlib-style: update() any number of times, then digest() (64 bytes)."""

    def __init__(self, data: bytes = b"") -> None:
        self._state = list(_H0)
        self._pending = b""
        self._length = 0
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        self._length += len(data)
        buf = self._pending + bytes(data)
        whole = len(buf) - len(buf) % 128
        for i in range(0, whole, 128):
            _compress(self._state, buf[i : i + 128])
        self._pending = buf[whole:]

    def digest(self) -> bytes:
        state = list(self._state)
        tail = self._pending + b"\x80"
        tail += bytes((112 - len(tail)) % 128) + (self._length * 8).to_bytes(16, "big")
        for i in range(0, len(tail), 128):
            _compress(state, tail[i : i + 128])
        return b"".join(v.to_bytes(8, "big") for v in state)


def sha512(data: bytes) -> bytes:
    return Sha512(data).digest()
