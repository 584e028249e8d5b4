"""Reconnect pauses shared by the station's uplink and the hub's ingest: exponential backoff
with full jitter.

Try n after the last good connection (n = 0, 1, 2 ...) waits a random pause, uniform in
[0, min(max_s, 2 * min_s * 2**n)]. The first retry after a drop is therefore already spread
over [0, 2 * min_s] (never the same instant for every station a broker restart disconnected
at once), the bound doubles after each failed try, and once at `max_s` every try is uniform in
[0, max_s]: whoever waits, is back within `max_s` of the broker's return. See
docs/operations.md, "Reconnects", for what this means for a fleet of 1,000 stations.
"""

from __future__ import annotations

import random


class Backoff:
    """The pauses between connection attempts (seconds). `rng` is for tests (seeded)."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if min_s <= 0 or max_s <= 0:
            raise ValueError("reconnect pauses must be positive")
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self._bound = self.first_bound

    @property
    def first_bound(self) -> float:
        """The upper bound of the first retry's pause after a good connection."""
        return min(self.max_s, 2 * self.min_s)

    @property
    def bound(self) -> float:
        """The upper bound of the next pause."""
        return self._bound

    def next(self) -> float:
        """The pause before the next try; the bound doubles for the one after (to max_s)."""
        pause = self._rng.uniform(0.0, self._bound)
        self._bound = min(self._bound * 2, self.max_s)
        return pause

    def reset(self) -> None:
        """A connection worked: the next drop starts from the first bound again."""
        self._bound = self.first_bound
