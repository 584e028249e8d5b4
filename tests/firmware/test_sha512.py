"""The firmware's SHA-512 constants, derived again, and its digests against hashlib (the code
runs under CPython too; under MicroPython it is covered by the badge and batch vectors)."""

from __future__ import annotations

import hashlib
import importlib.util
import os

from tests.firmware.wasm import FIRMWARE


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("halte_sha512", FIRMWARE / "halte/sha512.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _primes(n: int) -> list[int]:
    found: list[int] = []
    k = 2
    while len(found) < n:
        if all(k % p for p in found):
            found.append(k)
        k += 1
    return found


def _root(n: int, r: int) -> int:
    x = 1 << ((n.bit_length() + r - 1) // r)
    while True:
        y = ((r - 1) * x + n // x ** (r - 1)) // r
        if y >= x:
            return x
        x = y


def test_constants_are_the_fractional_parts_of_prime_roots() -> None:
    m = _module()
    mask = 2**64 - 1
    assert list(m._K) == [_root(p << 192, 3) & mask for p in _primes(80)]
    assert list(m._H0) == [_root(p << 128, 2) & mask for p in _primes(8)]


def test_digests_match_hashlib_at_every_padding_length() -> None:
    m = _module()
    for n in [*range(0, 260), 1000, 4096]:
        data = os.urandom(n)
        assert m.sha512(data) == hashlib.sha512(data).digest(), n
