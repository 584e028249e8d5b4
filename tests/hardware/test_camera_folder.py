"""The folder-replay camera."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from presensi.hardware.camera import IDLE
from presensi.hardware.camera_folder import FolderCamera
from presensi.hardware.camera_sim import Condition, render_badge_frame, sample_badge_text
from presensi.hardware.errors import CameraError


def gray(level: int, size: tuple[int, int] = (40, 30)) -> np.ndarray:
    return np.full((size[1], size[0]), level, np.uint8)


def save_rgb(path: Path, level: int) -> None:
    Image.fromarray(np.dstack([gray(level)] * 3)).save(path)


def read_all(camera: FolderCamera, limit: int = 100) -> list[np.ndarray]:
    frames = []
    for _ in range(limit):
        frame = camera.read()
        if frame is None:
            break
        frames.append(frame)
    return frames


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    save_rgb(tmp_path / "b.png", 20)
    save_rgb(tmp_path / "a.jpg", 200)
    Image.fromarray(gray(90)).save(tmp_path / "c.bmp")
    Image.fromarray(gray(140)).save(tmp_path / "d.WEBP", lossless=True)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "e.png").mkdir()  # a folder named like an image is ignored
    return tmp_path


def test_replays_images_in_name_order_as_grayscale(folder: Path) -> None:
    with FolderCamera(folder) as camera:
        assert camera.name == "folder"
        frames = read_all(camera)
        assert camera.read() is None
    assert [round(float(f.mean())) for f in frames] == [200, 20, 90, 140]  # a.jpg is lossy
    for f in frames:
        assert f.shape == (30, 40)
        assert f.dtype == np.uint8


def test_loop_starts_over(folder: Path) -> None:
    with FolderCamera(folder, loop=True) as camera:
        levels = [round(float(f.mean())) for f in read_all(camera, limit=10)]
    assert levels == [200, 20, 90, 140] * 2 + [200, 20]


def test_unreadable_file_is_skipped_with_a_warning(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (folder / "b2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "b3.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING), FolderCamera(folder) as camera:
        frames = read_all(camera)
    assert len(frames) == 4
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "b2.png" in warned and "b3.jpg" in warned


def test_a_folder_of_only_unreadable_files_fails_instead_of_spinning(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"nope")
    with FolderCamera(tmp_path, loop=True) as camera, pytest.raises(CameraError, match="no image"):
        camera.read()
    with FolderCamera(tmp_path) as camera:
        assert camera.read() is None


def test_missing_or_empty_folder_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CameraError, match="nowhere"):
        FolderCamera(missing).open()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(CameraError, match="empty"):
        FolderCamera(tmp_path / "empty").open()


def test_read_needs_open(folder: Path) -> None:
    with pytest.raises(CameraError):
        FolderCamera(folder).read()


def test_reopening_starts_from_the_first_image(folder: Path) -> None:
    camera = FolderCamera(folder)
    camera.open()
    camera.read()
    camera.open()  # already open: nothing happens
    assert round(float(camera.read().mean())) == 20  # type: ignore[union-attr]
    camera.close()
    camera.open()
    assert round(float(camera.read().mean())) == 200  # type: ignore[union-attr]


def test_transparency_and_16_bit_images(tmp_path: Path) -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(np.full((10, 10), 32768, np.uint16)).save(tmp_path / "b.png")
    with FolderCamera(tmp_path) as camera:
        a, b = read_all(camera)
    assert (a == 255).all()  # shown on white
    assert (b == 128).all()


def test_replayed_badge_still_decodes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    text = sample_badge_text(rng)
    Image.fromarray(render_badge_frame(text, rng, Condition.CLEAN)).save(tmp_path / "f.jpg")
    with FolderCamera(tmp_path) as camera:
        frame = camera.read()
    assert frame is not None
    found = zxingcpp.read_barcodes(
        frame, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    assert [b.text for b in found] == [text]


def test_fps_paces_reads(folder: Path) -> None:
    with FolderCamera(folder, loop=True, fps=50) as camera:
        camera.read()
        start = time.monotonic()
        for _ in range(8):
            camera.read()
        elapsed = time.monotonic() - start
    assert 8 / 50 * 0.85 <= elapsed <= 8 / 50 + 1.0


# -- watch: a folder another program feeds -------------------------------------------------


def watching(folder: Path) -> FolderCamera:
    return FolderCamera(folder, watch=True, poll_s=0.01, idle_s=0.05)


def test_watch_reads_what_is_there_then_new_images_as_they_come(folder: Path) -> None:
    with watching(folder) as camera:
        first = [camera.read() for _ in range(4)]
        assert [round(float(f.mean())) for f in first] == [200, 20, 90, 140]  # type: ignore[union-attr]
        assert camera.read() is IDLE  # nothing new: not the end of the stream
        save_rgb(folder / "f.png", 60)
        frame = camera.read()
        assert frame is not IDLE and frame is not None
        assert round(float(frame.mean())) == 60
        assert camera.read() is IDLE


def test_watch_reads_an_image_again_when_it_is_written_again(tmp_path: Path) -> None:
    path = tmp_path / "latest.png"
    save_rgb(path, 30)
    with watching(tmp_path) as camera:
        assert round(float(camera.read().mean())) == 30  # type: ignore[union-attr]
        assert camera.read() is IDLE
        Image.fromarray(gray(170, size=(50, 30))).save(path)  # another size: surely changed
        assert round(float(camera.read().mean())) == 170  # type: ignore[union-attr]
        path.unlink()
        assert camera.read() is IDLE
        save_rgb(path, 30)  # removed, then back under the same name: a new image
        assert round(float(camera.read().mean())) == 30  # type: ignore[union-attr]


def test_an_empty_watched_folder_is_no_fault(tmp_path: Path) -> None:
    camera = FolderCamera(tmp_path, watch=True, poll_s=0.01, idle_s=0.2)
    with camera:
        started = time.monotonic()
        assert camera.read() is IDLE
        waited = time.monotonic() - started
    assert 0.15 <= waited < 2  # it waits a little for a frame, then lets the station beat


def test_watch_skips_hidden_files_and_rereads_a_half_written_image_once_complete(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole = tmp_path / "staging.png"
    save_rgb(whole, 120)
    data = whole.read_bytes()
    whole.unlink()
    (tmp_path / ".tmp-001.png").write_bytes(data)  # a writer's temporary name: not yet
    half = tmp_path / "001.png"
    half.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING), watching(tmp_path) as camera:
        assert camera.read() is IDLE
        assert "001.png" in caplog.text  # the half file was tried, skipped with a warning
        half.write_bytes(data)
        assert round(float(camera.read().mean())) == 120  # type: ignore[union-attr]
        assert camera.read() is IDLE  # and the hidden file never


def test_a_reopened_watch_does_not_show_the_same_images_again(folder: Path) -> None:
    camera = watching(folder)
    with camera:
        while camera.read() is not IDLE:
            pass
    save_rgb(folder / "z.png", 10)
    with camera:
        assert round(float(camera.read().mean())) == 10  # type: ignore[union-attr]
        assert camera.read() is IDLE


def test_a_watched_folder_that_goes_away_is_a_camera_fault(tmp_path: Path) -> None:
    watched = tmp_path / "frames"
    with pytest.raises(CameraError, match="does not exist"):
        FolderCamera(watched, watch=True).open()
    watched.mkdir()
    with watching(watched) as camera:
        assert camera.read() is IDLE
        watched.rmdir()
        with pytest.raises(CameraError, match="cannot be read"):
            camera.read()


def test_a_folder_camera_cannot_both_loop_and_watch(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="either loops"):
        FolderCamera(tmp_path, loop=True, watch=True)
