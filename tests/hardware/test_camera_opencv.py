"""The OpenCV camera, with a real video file and (for device failures) a fake cv2."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zxingcpp

from presensi.hardware.camera_opencv import OpenCVCamera
from presensi.hardware.camera_sim import Condition, render_badge_frame, sample_badge_text
from presensi.hardware.errors import CameraError

cv2 = pytest.importorskip("cv2")


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_video_file_gives_grayscale_frames_then_none(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    colours = [(0, 0, 200), (0, 200, 0), (200, 0, 0), (120, 120, 120)]  # BGR
    write_video(video, [np.full((48, 64, 3), c, np.uint8) for c in colours])
    with OpenCVCamera(str(video)) as camera:
        assert camera.name == "opencv"
        assert not camera.live
        frames = []
        while (frame := camera.read()) is not None:
            frames.append(frame)
        assert camera.read() is None
    assert len(frames) == 4
    for frame in frames:
        assert frame.shape == (48, 64)
        assert frame.dtype == np.uint8
    expected = [0.299 * r + 0.587 * g + 0.114 * b for b, g, r in colours]
    assert [float(f.mean()) for f in frames] == pytest.approx(expected, abs=4)


def test_badge_in_a_video_decodes(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    text = sample_badge_text(rng)
    video = tmp_path / "badge.avi"
    write_video(video, [render_badge_frame(text, rng, Condition.CLEAN) for _ in range(2)])
    with OpenCVCamera(str(video)) as camera:
        frame = camera.read()
    assert frame is not None and frame.shape == (480, 640)
    found = zxingcpp.read_barcodes(
        frame, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    assert [b.text for b in found] == [text]


def test_missing_device_names_it_and_suggests_v4l2_ctl() -> None:
    with pytest.raises(CameraError, match=r"/dev/video97.*v4l2-ctl --list-devices"):
        OpenCVCamera("/dev/video97").open()


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match=r"nothing\.avi"):
        OpenCVCamera(str(tmp_path / "nothing.avi")).open()


def test_sources_are_classified() -> None:
    assert OpenCVCamera("0").source == 0
    assert OpenCVCamera(2).live
    assert OpenCVCamera("/dev/video0").live
    assert OpenCVCamera("rtsp://10.0.0.5/stream").live
    assert not OpenCVCamera("clip.mp4").live


def test_read_needs_open() -> None:
    with pytest.raises(CameraError):
        OpenCVCamera("clip.avi").read()


class FakeCapture:
    def __init__(self, frames: list[Any]) -> None:
        self.frames = frames
        self.props: dict[int, float] = {}
        self.released = False

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def read(self) -> tuple[bool, Any]:
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def release(self) -> None:
        self.released = True


def fake_cv2(capture: FakeCapture, opened: list[tuple[Any, ...]]) -> types.ModuleType:
    fake = types.ModuleType("cv2")

    def video_capture(*args: Any) -> FakeCapture:
        opened.append(args)
        return capture

    fake.VideoCapture = video_capture  # type: ignore[attr-defined]
    for name in (
        "CAP_V4L2",
        "CAP_PROP_FRAME_WIDTH",
        "CAP_PROP_FRAME_HEIGHT",
        "CAP_PROP_FPS",
        "CAP_PROP_BUFFERSIZE",
        "COLOR_BGR2GRAY",
        "COLOR_BGRA2GRAY",
    ):
        setattr(fake, name, getattr(cv2, name))
    fake.cvtColor = cv2.cvtColor  # type: ignore[attr-defined]
    fake.error = cv2.error  # type: ignore[attr-defined]
    return fake


def test_live_device_that_stops_delivering_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    capture = FakeCapture([np.zeros((480, 640, 3), np.uint8), np.zeros((480, 640, 4), np.uint8)])
    opened: list[tuple[Any, ...]] = []
    monkeypatch.setitem(sys.modules, "cv2", fake_cv2(capture, opened))
    camera = OpenCVCamera(0, width=320, height=240, fps=15)
    with camera:
        assert camera.read().shape == (480, 640)  # type: ignore[union-attr]
        assert camera.read().shape == (480, 640)  # type: ignore[union-attr]
        with pytest.raises(CameraError, match="stopped delivering"):
            camera.read()
    assert capture.released
    props = {cv2.CAP_PROP_FRAME_WIDTH: 320, cv2.CAP_PROP_FRAME_HEIGHT: 240, cv2.CAP_PROP_FPS: 15}
    assert props.items() <= capture.props.items()
    if sys.platform.startswith("linux"):
        assert opened == [(0, cv2.CAP_V4L2)]


def test_without_opencv_open_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(CameraError, match="presensi\\[opencv\\]"):
        OpenCVCamera(0).open()
