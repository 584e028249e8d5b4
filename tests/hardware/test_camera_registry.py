"""Choosing a camera backend by name, and the shared frame pacer."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from presensi.hardware.backends import CAMERAS
from presensi.hardware.camera_folder import FolderCamera
from presensi.hardware.camera_sim import SimulatedCamera
from presensi.hardware.cameras import FramePacer, open_camera
from presensi.hardware.errors import BackendNotFound, CameraError


def test_unknown_backend_lists_the_valid_names() -> None:
    with pytest.raises(BackendNotFound) as info:
        CAMERAS.make("webcam")
    message = str(info.value)
    for name in ("sim", "folder", "opencv", "picamera2"):
        assert name in message
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize("backend", CAMERAS.names)
def test_every_backend_class_exists_and_carries_its_name(backend: str) -> None:
    module, cls = CAMERAS.target(backend)
    assert getattr(importlib.import_module(module), cls).name == backend


def test_a_camera_is_built_without_opening() -> None:
    camera = CAMERAS.make("sim", script=[None], size=(64, 48))
    assert isinstance(camera, SimulatedCamera)
    with pytest.raises(CameraError):
        camera.read()


def test_open_camera_opens(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    camera = open_camera("folder", path=tmp_path)
    assert isinstance(camera, FolderCamera)
    assert camera.read() is not None
    with camera:  # opening again inside a with block is harmless
        assert camera.read() is None
    with pytest.raises(CameraError, match="missing"):
        open_camera("folder", path=tmp_path / "missing")


def test_pacer() -> None:
    with pytest.raises(ValueError, match="fps"):
        FramePacer(-1)
    free = FramePacer(None)
    start = time.monotonic()
    for _ in range(100):
        free.wait()
    assert time.monotonic() - start < 0.05
    paced = FramePacer(100)
    paced.wait()
    start = time.monotonic()
    for _ in range(5):
        paced.wait()
    assert 0.04 <= time.monotonic() - start < 0.5
    time.sleep(0.05)  # a slow consumer gets no burst of catch-up frames afterwards
    start = time.monotonic()
    paced.wait()
    paced.wait()
    assert time.monotonic() - start >= 0.008
