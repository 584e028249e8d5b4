"""Delivery fixtures: a fleet of stations and a hub on the test's Mosquitto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from presensi.demo.mosquitto import Mosquitto
from tests.delivery.fleet import Fleet


@pytest.fixture
def fleet(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Fleet]:
    f = Fleet(tmp_path, mosquitto.url)
    yield f
    f.close()
