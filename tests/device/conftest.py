from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from presensi.device.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.db", "st-1", min_free_bytes=1)
    yield j
    j.close()
