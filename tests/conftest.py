from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brokers import Mosquitto, mosquitto_available

MosquittoFactory = Callable[..., Mosquitto]


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Make and start real mosquitto brokers: `mosquitto_factory(**Mosquitto options)`;
    `start=False` returns one not yet started. Every broker made is killed at teardown."""
    if not mosquitto_available():
        pytest.fail("no mosquitto binary: run scripts/bootstrap (apt-get install mosquitto)")
    made: list[Mosquitto] = []
    counter = itertools.count(1)

    def make(*, start: bool = True, **options: Any) -> Mosquitto:
        options.setdefault("workdir", tmp_path / f"mosquitto-{next(counter)}")
        broker = Mosquitto(**options)
        made.append(broker)
        return broker.start() if start else broker

    try:
        yield make
    finally:
        for broker in made:
            broker.close()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A started mosquitto: anonymous, persistence on, no limit on queued messages (fine
    without an ACL; with one, see the max_queued_messages note in tests/brokers.py)."""
    return mosquitto_factory(persistence=True, max_queued_messages=0, allow_anonymous=True)
