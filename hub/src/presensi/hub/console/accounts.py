"""Console accounts: password hashes (argon2id, argon2-cffi's defaults), what each role may do,
and login throttling."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_hasher = PasswordHasher()
# verifying against this when the user does not exist costs the same as a real check, so the
# answer's timing does not tell which user names exist
_DUMMY_HASH = _hasher.hash("presensi: no such user")

# what each role may do; a page names the capability it needs
CAPABILITIES: dict[str, frozenset[str]] = {
    "admin": frozenset({"view", "operate", "administer"}),
    "operator": frozenset({"view", "operate"}),
    "viewer": frozenset({"view"}),
}


class AccountError(Exception):
    """A user name or password that cannot be used; the message says why."""


def check_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise AccountError(
            f"user name {name!r}: 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password may have at most {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; always spends one argon2 verification."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def may(role: str, capability: str) -> bool:
    return capability in CAPABILITIES.get(role, frozenset())


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass
class Throttle:
    """Locks a user name, and separately a client address, after `limit` failed logins in a
    row: for `base_s`, doubling with every further failure up to `max_s`. A success clears the
    name's count. In memory: one console process (the unit runs one)."""

    limit: int = 5
    base_s: float = 30.0
    max_s: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, _Failures] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_s(self, *keys: str) -> float:
        """Seconds until a login for these keys may be tried again (0: now)."""
        now = self.clock()
        with self._lock:
            left = [self._keys[k].locked_until - now for k in keys if k in self._keys]
        return max([0.0, *left])

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._keys) > 100_000:  # bounded: forget the oldest half
                for key in list(self._keys)[: len(self._keys) // 2]:
                    del self._keys[key]
            for key in keys:
                entry = self._keys.setdefault(key, _Failures())
                entry.count += 1
                if entry.count >= self.limit:
                    extra = entry.count - self.limit
                    entry.locked_until = now + min(self.max_s, self.base_s * 2**extra)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)
