from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from presensi.device.clock import Clock, StationClock, SystemTime
from presensi.device.config import StationSection
from presensi.device.decide import Decider
from presensi.device.journal import Journal
from presensi.device.scanloop import Debouncer, ScanLoop
from presensi.hardware.indicator import Signal
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.protocol import badge
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Outcome, Reason

ORG = SigningKey.from_seed(b"\x05" * 32)
S = 1_000_000_000


def token(employee: str) -> str:
    return badge.issue(ORG, employee, 1, 0, 2**32 - 1).to_text()


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[ScanLoop]:
    journal = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1)
    station = StationSection(id="st-1", location="pool-a", duplicate_window_s=60)
    decider = Decider(station, KeyRing.of([ORG.public]), Revocations(), config_version=1)
    yield ScanLoop(
        journal, decider, RecordingIndicator(), StationClock(SystemTime(Clock("synced")))
    )
    journal.close()


def signals(loop: ScanLoop) -> list[Signal]:
    indicator = loop.indicator
    assert isinstance(indicator, RecordingIndicator)
    return indicator.signals


def test_debouncer_counts_a_held_badge_once() -> None:
    d = Debouncer(gap_s=1.0)
    assert d.fresh(["A"], 0) == ["A"]
    assert d.fresh(["A", "A"], S // 2) == []
    assert d.fresh(["A"], S) == []  # still in sight: every frame renews it
    assert d.fresh(["B", "A"], 3 * S) == ["B", "A"]  # A was away for 2 s


def test_held_badge_is_one_scan_then_a_duplicate(loop: ScanLoop) -> None:
    t = token("E1")
    now = time.monotonic_ns()
    for i in range(30):  # two seconds of frames at 15 fps
        loop.handle([t], now + i * S // 15)
    loop.handle([t], now + 5 * S)  # taken away and shown again
    records = list(loop.journal.records())
    assert [r.outcome for r in records] == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert signals(loop) == [Signal.ACCEPTED_IN, Signal.DUPLICATE]


def test_record_is_committed_before_the_signal(loop: ScanLoop) -> None:
    seen_in_journal: list[int] = []
    indicator = loop.indicator
    assert isinstance(indicator, RecordingIndicator)
    original = indicator.show

    def show(signal: Signal) -> None:
        # read through a second connection: what a crash right now would leave on disk
        probe = Journal(loop.journal.path, "st-1", min_free_bytes=1)
        seen_in_journal.append(probe.count())
        probe.close()
        original(signal)

    indicator.show = show  # type: ignore[method-assign]
    loop.handle([token("E1")], time.monotonic_ns())
    loop.handle([token("E2")], time.monotonic_ns())
    assert seen_in_journal == [1, 2]


def test_journal_failure_shows_fault_never_success(loop: ScanLoop) -> None:
    loop.journal.min_free_bytes = 1 << 62
    assert loop.handle([token("E1")], time.monotonic_ns()) == []
    assert signals(loop) == [Signal.FAULT]
    assert loop.journal.count() == 0 and loop.stats.faults == 1


def test_several_codes_in_one_frame_each_count(loop: ScanLoop) -> None:
    stored = loop.handle([token("E1"), "hello", token("E2")], time.monotonic_ns())
    assert [(r.employee, r.reason) for r in stored] == [
        ("E1", Reason.OK),
        (None, Reason.NOT_A_BADGE),
        ("E2", Reason.OK),
    ]
    assert signals(loop) == [Signal.ACCEPTED_IN, Signal.REJECTED, Signal.ACCEPTED_IN]


class ListCamera:
    name = "list"

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = list(frames)

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read(self) -> np.ndarray | None:
        return self.frames.pop(0) if self.frames else None


class FlakyDecoder:
    """Decodes a frame's first row as text; raises on frames whose first pixel is 1."""

    name = "flaky"

    def decode(self, frame: np.ndarray) -> list[str]:
        if frame[0, 0] == 1:
            raise RuntimeError("decoder bug")
        return [bytes(frame[0, 1:]).rstrip(b"\0").decode()] if frame[0, 0] == 2 else []


def frame_with(text: str, kind: int) -> np.ndarray:
    f = np.zeros((4, 256), np.uint8)
    f[0, 0] = kind
    f[0, 1 : 1 + len(text)] = np.frombuffer(text.encode(), np.uint8)
    return f


def test_a_decoder_crash_skips_the_frame_and_the_loop_goes_on(loop: ScanLoop) -> None:
    frames = [frame_with("", 0), frame_with("", 1), frame_with(token("E1"), 2)]
    loop.scan_frames(ListCamera(frames), FlakyDecoder(), threading.Event())
    assert loop.stats.frames == 3 and loop.journal.count() == 1
    assert signals(loop) == [Signal.ACCEPTED_IN]


def test_latency_is_measured_from_frame_arrival(loop: ScanLoop) -> None:
    arrived = time.monotonic_ns()
    loop.handle([token("E1")], arrived)
    assert len(loop.stats.latencies_ns) == 1
    assert 0 < loop.stats.latencies_ns[0] < 5 * S


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(st.text(max_size=2048), st.binary(max_size=512).map(lambda b: b.decode("latin-1")))
)
def test_any_scanned_text_is_a_rejected_record_with_the_reject_signal(
    loop: ScanLoop, text: str
) -> None:
    before = loop.journal.last_seq
    stored = loop.handle([text], time.monotonic_ns() + before * 10 * S)  # never debounced
    assert len(stored) == 1 and stored[0].seq == before + 1
    assert stored[0].outcome is Outcome.REJECTED
    assert stored[0].reason in {
        Reason.NOT_A_BADGE,
        Reason.MALFORMED,
        Reason.UNKNOWN_KEY,
        Reason.BAD_SIGNATURE,
    }
    assert signals(loop)[-1] is Signal.REJECTED


HOSTILE = [
    "https://transjakarta.co.id/?utm=%00%ff",
    "BEGIN:VCARD\nVERSION:3.0\nFN:Budi Santoso\nTEL:+62811000000\nEND:VCARD",
    "X" * 2000,
    "Selamat pagi, Bapak/Ibu 👋 — 早上好",
    "PRS1:" + "A" * 150,
    "PRS1:",
]


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_hostile_qr_codes_through_camera_and_decoder_are_rejected(
    loop: ScanLoop, backend: str
) -> None:
    import io

    import segno
    from PIL import Image

    from presensi.hardware.backends import DECODERS

    frames = []
    for payload in [*HOSTILE, bytes(range(256))]:
        buf = io.BytesIO()
        segno.make_qr(payload, error="l").save(buf, kind="png", scale=2, border=4)
        code = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
        frame = np.full((480, 640), 200, np.uint8)
        frame[: code.shape[0], : code.shape[1]] = code[:480, :640]
        frames.append(frame)
    loop.scan_frames(ListCamera(frames), DECODERS.make(backend), threading.Event())
    records = list(loop.journal.records())
    assert len(records) == len(frames)
    assert all(r.outcome is Outcome.REJECTED for r in records)
    assert {r.reason for r in records} <= {Reason.NOT_A_BADGE, Reason.MALFORMED}
    assert signals(loop) == [Signal.REJECTED] * len(frames)


BAD_FRAMES = st.one_of(
    arrays(
        st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]),
        array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40),
    ),
    st.sampled_from(
        [
            np.zeros((0, 0), np.uint8),
            np.zeros((4320, 7680), np.uint8),  # 8K
            np.zeros((480, 640, 3), np.uint16),
            np.zeros((480, 640, 9), np.uint8),
            np.full((30, 30), "x"),
        ]
    ),
)


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bad=st.lists(BAD_FRAMES, min_size=1, max_size=4))
def test_frames_of_any_size_depth_or_type_never_stop_the_loop(
    tmp_path: Path, backend: str, bad: list[np.ndarray]
) -> None:
    import io

    import segno
    from PIL import Image

    from presensi.hardware.backends import DECODERS

    buf = io.BytesIO()
    text = token("E9")
    segno.make_qr(text, error="m").save(buf, kind="png", scale=3, border=4)
    good = np.full((480, 640), 200, np.uint8)
    code = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    good[: code.shape[0], : code.shape[1]] = code
    journal = Journal(tmp_path / f"bad-{backend}-{len(bad)}-{id(bad)}.db", "st-1", min_free_bytes=1)
    try:
        decider = Decider(
            StationSection(id="st-1", location="pool-a"),
            KeyRing.of([ORG.public]),
            Revocations(),
            config_version=1,
        )
        loop = ScanLoop(
            journal, decider, RecordingIndicator(), StationClock(SystemTime(Clock("synced")))
        )
        loop.scan_frames(ListCamera([*bad, good]), DECODERS.make(backend), threading.Event())
        assert loop.stats.frames == len(bad) + 1
        assert [r.employee for r in journal.records()] == ["E9"]  # the good frame still reads
    finally:
        journal.close()
