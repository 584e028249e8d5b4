"""What a test does when this machine cannot run it: skip with the reason on a developer's
machine, fail in CI (CI=true, as CI services set it), where a skipped test would pass unseen."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

TRUE = {"1", "true", "yes"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in TRUE


def cannot_run(reason: str) -> NoReturn:
    """Skip the test (a developer's machine) or fail it (CI must run it), saying why."""
    if in_ci():
        pytest.fail(f"{reason}; CI=true, and CI must run this test (run the suite as root)")
    pytest.skip(reason)
