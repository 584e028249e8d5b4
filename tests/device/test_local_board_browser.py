"""The station's own board in Chromium (Debian's, as the console's browser tests use): the
page shows the count and the latest arrival, escapes a hostile name, runs no script, and
reloads itself, so a scan stored meanwhile appears without anyone touching the TV."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.device.test_local_board import MINUTE, SCRIPT, T0, Served, apel

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path, apel(T0))
    yield s
    s.close()


def test_the_local_board_in_chromium_updates_by_itself(served: Served) -> None:
    served.scan("EMP-00001", T0 + 25 * MINUTE)
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(served.url + "/")
            assert page.locator("#count").inner_text() == "Hadir 1 / 3"
            assert SCRIPT in page.locator("#latest").inner_text()  # shown as text
            served.scan("EMP-00002", T0 + 35 * MINUTE)  # late, while the page is up
            # the page's CSP allows no script at all (not even the test's own eval): poll
            playwright_sync.expect(page.locator("#count")).to_have_text(
                "Hadir 2 / 3", timeout=15_000
            )
            assert "terlambat" in page.locator("#latest").inner_text()
            assert page.locator("script").count() == 0 and dialogs == []
        finally:
            browser.close()
