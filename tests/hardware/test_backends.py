"""One way to choose any hardware backend: by explicit name, through a registry per kind."""

from __future__ import annotations

import importlib
import logging

import pytest

from presensi.hardware.backends import CAMERAS, DECODERS, INDICATORS, SCANNERS, Registry
from presensi.hardware.errors import BackendNotFound, IndicatorError
from presensi.hardware.indicator import Signal
from presensi.hardware.indicator_none import SilentIndicator

REGISTRIES: list[Registry[object]] = [CAMERAS, DECODERS, INDICATORS, SCANNERS]  # type: ignore[list-item]
ALL = [(registry, name) for registry in REGISTRIES for name in registry.names]


@pytest.mark.parametrize(("registry", "name"), ALL, ids=[f"{r.kind}-{n}" for r, n in ALL])
def test_every_backend_exists_and_carries_its_name(registry: Registry[object], name: str) -> None:
    module, attr = registry.target(name)
    assert getattr(importlib.import_module(module), attr).name == name


@pytest.mark.parametrize("registry", REGISTRIES, ids=[r.kind for r in REGISTRIES])
def test_an_unknown_name_is_refused_with_the_valid_ones(registry: Registry[object]) -> None:
    with pytest.raises(BackendNotFound) as caught:
        registry.make("webcam-2000")
    message = str(caught.value)
    assert registry.kind in message
    assert all(name in message for name in registry.names)
    assert isinstance(caught.value, LookupError)


def test_the_none_indicator_is_a_real_backend_that_shows_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        indicator = INDICATORS.make("none")
    assert isinstance(indicator, SilentIndicator)
    assert "no light" in caplog.text
    indicator.show(Signal.ACCEPTED_IN)
    assert indicator.shown == 1
    indicator.close()
    with pytest.raises(IndicatorError):
        indicator.show(Signal.ACCEPTED_IN)
