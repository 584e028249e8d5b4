"""The suite's own guards (tests/conftest.py) fail what they are meant to fail: a test during
which a worker thread logged an exception, and a test that starts Mosquitto unmarked."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8")
INI = """
[pytest]
markers =
    slow: -
    mosquitto: -
    postgres: -
    thread_errors(reason): -
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    return pytester


def test_an_exception_logged_by_a_worker_thread_fails_the_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import logging, threading
        import pytest

        def crash():
            try:
                raise ValueError("boom")
            except ValueError:
                logging.getLogger("worker").exception("worker crashed")

        def run_worker():
            t = threading.Thread(target=crash)
            t.start()
            t.join()

        def test_unmarked():
            run_worker()

        @pytest.mark.thread_errors("on purpose")
        def test_marked():
            run_worker()

        def test_handled_error_without_traceback():
            t = threading.Thread(target=lambda: logging.getLogger("w").error("bad input"))
            t.start()
            t.join()
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*a worker thread logged an error:", "*worker: worker crashed"])


def test_a_test_that_starts_mosquitto_must_say_so(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest
        from presensi.demo.mosquitto import Mosquitto

        def test_unmarked(tmp_path):
            with Mosquitto(tmp_path / "b"):
                pass

        @pytest.mark.mosquitto
        def test_marked(tmp_path):
            with Mosquitto(tmp_path / "b"):
                pass
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*this test starts Mosquitto: mark it*"])


def test_a_test_this_machine_cannot_run_skips_here_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.ci import cannot_run

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        cannot_run("needs root")
    for value in ("true", "1", "TRUE"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="needs root; CI=true"):
            cannot_run("needs root")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        cannot_run("needs root")
