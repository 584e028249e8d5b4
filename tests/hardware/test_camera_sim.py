"""The simulated camera: the frame renderer and the scripted Camera."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import zxingcpp

from presensi.hardware.camera_sim import (
    CONDITIONS,
    Condition,
    Presentation,
    SimulatedCamera,
    badge_frames,
    demo_camera,
    interleaved,
    render_badge_frame,
    render_empty_frame,
    sample_badge_text,
)
from presensi.hardware.errors import CameraError
from presensi.protocol.badge import PREFIX, parse

SMALL = (320, 240)


def decode(frame: np.ndarray) -> list[str]:
    return [
        b.text
        for b in zxingcpp.read_barcodes(
            frame, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
    ]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rng = np.random.default_rng(1234)
    return [sample_badge_text(rng) for _ in range(4)]


def test_sample_badge_text_is_a_well_formed_token() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        text = sample_badge_text(rng)
        assert text.startswith(PREFIX)
        assert 130 <= len(text) <= 160
        assert parse(text).employee.startswith("EMP-")
    assert parse(sample_badge_text(rng, employee="A-1")).employee == "A-1"


@pytest.mark.parametrize("condition", CONDITIONS)
def test_each_condition_renders_a_grayscale_frame(condition: Condition, texts: list[str]) -> None:
    frame = render_badge_frame(texts[0], np.random.default_rng(7), condition)
    assert frame.shape == (480, 640)
    assert frame.dtype == np.uint8
    assert frame.flags.c_contiguous
    assert frame.std() > 10  # a scene, not a flat image


def test_frames_take_the_requested_size(texts: list[str]) -> None:
    rng = np.random.default_rng(0)
    assert render_badge_frame(texts[0], rng, Condition.CLEAN, SMALL).shape == (240, 320)
    assert render_empty_frame(rng, SMALL).shape == (240, 320)


def test_rendering_is_deterministic_for_a_seed(texts: list[str]) -> None:
    for condition in (Condition.CLEAN, Condition.GLARE, Condition.PHONE_DARK, Condition.NOISE):
        a = render_badge_frame(texts[1], np.random.default_rng(42), condition)
        b = render_badge_frame(texts[1], np.random.default_rng(42), condition)
        c = render_badge_frame(texts[1], np.random.default_rng(43), condition)
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)
    assert np.array_equal(
        render_empty_frame(np.random.default_rng(3)), render_empty_frame(np.random.default_rng(3))
    )


def test_clean_frames_decode_to_the_exact_text(texts: list[str]) -> None:
    rng = np.random.default_rng(2024)
    for i in range(20):
        text = texts[i % len(texts)]
        assert decode(render_badge_frame(text, rng, Condition.CLEAN)) == [text]


def test_every_condition_is_hard_but_not_impossible(texts: list[str]) -> None:
    """A plain decoder reads most frames of every condition, and never a wrong text."""
    frames = list(badge_frames(texts, seed=5, n_per_condition=10))
    assert len(frames) == 10 * len(CONDITIONS)
    decoded = dict.fromkeys(CONDITIONS, 0)
    for condition, text, frame in frames:
        found = decode(frame)
        assert set(found) <= {text}
        decoded[condition] += bool(found)
    assert all(n >= 4 for n in decoded.values()), decoded
    assert sum(decoded.values()) >= 0.75 * len(frames)


def test_empty_frames_never_decode() -> None:
    rng = np.random.default_rng(99)
    for _ in range(200):
        assert decode(render_empty_frame(rng)) == []


def test_badge_frames_is_deterministic_per_condition(texts: list[str]) -> None:
    one = list(badge_frames(texts, seed=1, n_per_condition=2, conditions=[Condition.SMALL]))
    both = list(
        badge_frames(
            texts, seed=1, n_per_condition=2, conditions=[Condition.CLEAN, Condition.SMALL]
        )
    )
    assert [(c, t) for c, t, _ in one] == [(Condition.SMALL, texts[0]), (Condition.SMALL, texts[1])]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(one, both[2:], strict=True))


# ------------------------------------------------------------------------------ the camera


def play(camera: SimulatedCamera, limit: int = 1000) -> list[tuple[str | None, np.ndarray]]:
    out = []
    for _ in range(limit):
        frame = camera.read()
        if frame is None:
            break
        out.append((camera.last_text, frame))
    return out


def test_script_plays_every_frame_then_ends(texts: list[str]) -> None:
    script = interleaved(texts[:3], hold=4, gap=2)
    with SimulatedCamera(script, seed=1, size=SMALL) as camera:
        assert camera.name == "sim"
        frames = play(camera)
        assert camera.read() is None  # and stays ended
    assert len(frames) == 2 + 3 * (4 + 2)
    expected: list[str | None] = [None] * 2
    for text in texts[:3]:
        expected += [text] * 4 + [None] * 2
    assert [t for t, _ in frames] == expected
    assert all(f.shape == (240, 320) and f.dtype == np.uint8 for _, f in frames)
    assert camera.frames_read == 20


def test_script_items_can_be_texts_and_none(texts: list[str]) -> None:
    camera = SimulatedCamera([None, texts[0], None], hold_frames=3, gap_frames=2, size=SMALL)
    with camera:
        assert [t for t, _ in play(camera)] == [
            None,
            None,
            texts[0],
            texts[0],
            texts[0],
            None,
            None,
        ]


def test_presentation_condition_is_kept_and_hand_moves(texts: list[str]) -> None:
    script = [Presentation(texts[0], 6, Condition.PERSPECTIVE)]
    with SimulatedCamera(script, seed=3) as camera:
        frames = []
        while (frame := camera.read()) is not None:
            assert camera.last_condition is Condition.PERSPECTIVE
            frames.append(frame)
    assert len(frames) == 6
    assert sum(decode(f) == [texts[0]] for f in frames) >= 4
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in itertools.pairwise(frames)]
    assert all(0.5 < d < 40 for d in diffs)  # similar frames, but not the same


def test_camera_is_deterministic_for_a_seed(texts: list[str]) -> None:
    def run(seed: int) -> list[np.ndarray]:
        with SimulatedCamera(interleaved(texts[:2], hold=2, gap=1), seed=seed, size=SMALL) as c:
            return [f for _, f in play(c)]

    a, b, c = run(8), run(8), run(9)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_endless_mode_keeps_asking_for_the_next_presentation(texts: list[str]) -> None:
    asked: list[int] = []

    def next_item() -> str | None:
        asked.append(len(asked))
        return texts[0] if len(asked) % 2 else None

    with SimulatedCamera(next_item, hold_frames=2, gap_frames=3, size=SMALL) as camera:
        seen = [t for t, _ in play(camera, limit=50)]
    assert len(seen) == 50  # never ended
    assert seen[:7] == [texts[0], texts[0], None, None, None, texts[0], texts[0]]
    assert len(asked) == 20


def test_demo_camera_is_endless(texts: list[str]) -> None:
    with demo_camera(texts, fps=None, size=SMALL) as camera:
        seen = [t for t, _ in play(camera, limit=120)]
    assert len(seen) == 120
    assert {t for t in seen if t is not None} <= set(texts)
    assert None in seen and any(seen)


def test_read_needs_open(texts: list[str]) -> None:
    camera = SimulatedCamera([texts[0]])
    with pytest.raises(CameraError):
        camera.read()


def test_fail_after_raises_until_reopened(texts: list[str]) -> None:
    camera = SimulatedCamera([Presentation(texts[0], 10)], size=SMALL, fail_after=3)
    camera.open()
    for _ in range(3):
        assert camera.read() is not None
    with pytest.raises(CameraError):
        camera.read()
    with pytest.raises(CameraError):  # still gone
        camera.read()
    camera.close()
    camera.open()
    assert len(play(camera)) == 7  # the rest of the script; it fails only once
    assert isinstance(CameraError("x"), OSError)


def test_fail_times_makes_opens_fail() -> None:
    camera = SimulatedCamera([None], size=SMALL, fail_times=2)
    for _ in range(2):
        with pytest.raises(CameraError):
            camera.open()
    camera.open()
    assert camera.read() is not None
    assert camera.open_attempts == 3


def test_fail_times_after_a_failure_delays_the_comeback() -> None:
    camera = SimulatedCamera([Presentation(None, 5)], size=SMALL, fail_after=2, fail_times=2)
    camera.open()  # the first open works
    play(camera, limit=2)
    with pytest.raises(CameraError):
        camera.read()
    camera.close()
    for _ in range(2):
        with pytest.raises(CameraError):
            camera.open()
    camera.open()
    assert len(play(camera)) == 3


def test_fps_paces_reads() -> None:
    camera = SimulatedCamera([Presentation(None, 12)], fps=40, size=SMALL)
    with camera:
        camera.read()
        start = time.monotonic()
        for _ in range(10):
            camera.read()
        elapsed = time.monotonic() - start
    assert 10 / 40 * 0.85 <= elapsed <= 10 / 40 + 1.5


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="fps"):
        SimulatedCamera([], fps=0)
    with pytest.raises(ValueError, match="conditions"):
        SimulatedCamera([], conditions=[])
    with pytest.raises(ValueError, match="frames"):
        Presentation("x", -1)
