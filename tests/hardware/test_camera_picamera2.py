"""The picamera2 camera, against a fake picamera2 (and libcamera) module: there is no Pi here."""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar

import numpy as np
import pytest

from presensi.hardware.camera_picamera2 import Picamera2Camera, cap_exposure_profiles
from presensi.hardware.errors import CameraError


class FakePicamera2:
    """Records what it is asked; capture_array returns a YUV420 buffer like picamera2's."""

    cameras: ClassVar[list[dict[str, Any]]] = [
        {"Model": "imx708", "Id": "/base/soc/i2c0mux/imx708@1a"}
    ]
    made: ClassVar[list[FakePicamera2]] = []
    controls_supported: ClassVar[dict[str, Any]] = {
        "AfMode": (0, 2, 0),
        "ExposureTime": (1, 10**6, 0),
        "FrameDurationLimits": (33333, 120000000, None),
    }
    # a Pi 5 (pisp) tuning file's layout: version 2, the AGC's profiles per channel
    tunings: ClassVar[dict[str, dict[str, Any]]] = {
        "imx708.json": {
            "version": 2.0,
            "algorithms": [
                {"rpi.black_level": {"black_level": 4096}},
                {
                    "rpi.agc": {
                        "channels": [
                            {
                                "exposure_modes": {
                                    "normal": {
                                        "shutter": [100, 15000, 30000, 60000, 120000],
                                        "gain": [1.0, 1.0, 2.0, 4.0, 6.0],
                                    },
                                    "short": {"shutter": [100, 5000], "gain": [1.0, 2.0]},
                                }
                            },
                            {"exposure_modes": {"normal": {"shutter": [100], "gain": [1.0]}}},
                        ]
                    }
                },
            ],
        }
    }
    stride_pad = 0
    fail_capture = False
    refuse_tuning = False

    def __init__(self, camera_num: int = 0, tuning: dict[str, Any] | None = None) -> None:
        if tuning is not None and self.refuse_tuning:
            raise RuntimeError("ERROR: failed to parse tuning file")
        self.camera_num = camera_num
        self.tuning = tuning
        self.calls: list[tuple[str, Any]] = []
        self.config: dict[str, Any] | None = None
        self.camera_controls = dict(self.controls_supported)
        FakePicamera2.made.append(self)

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return FakePicamera2.cameras

    @staticmethod
    def load_tuning_file(tuning_file: str, dir: str | None = None) -> dict[str, Any]:
        if tuning_file not in FakePicamera2.tunings:
            raise RuntimeError("Tuning file not found")
        return FakePicamera2.tunings[tuning_file]

    @staticmethod
    def find_tuning_algo(tuning: dict[str, Any], name: str) -> dict[str, Any]:
        if tuning.get("version", 1) == 1:
            found: dict[str, Any] = tuning[name]
            return found
        algo: dict[str, Any] = next(a for a in tuning["algorithms"] if name in a)[name]
        return algo

    def create_video_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_video_configuration", kwargs))
        main: dict[str, Any] = {"format": "XBGR8888", "size": (1280, 720)}
        main.update(kwargs.get("main", {}))
        lores = {"format": "YUV420", **kwargs["lores"]} if "lores" in kwargs else None
        config: dict[str, Any] = {"use_case": "video", "main": main, "lores": lores}
        return config

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append(("configure", config))
        self.config = config

    def start(self) -> None:
        self.calls.append(("start", None))

    def set_controls(self, controls: dict[str, Any]) -> None:
        self.calls.append(("set_controls", controls))

    def capture_array(self, name: str = "main") -> np.ndarray:
        self.calls.append(("capture_array", name))
        if self.fail_capture:
            raise RuntimeError("Camera frontend has timed out!")
        assert self.config is not None
        width, height = self.config[name]["size"]
        stride = width + self.stride_pad
        yuv = np.full((height * 3 // 2, stride), 128, np.uint8)  # U and V planes: neutral
        yuv[:height, :width] = luma(width, height)
        yuv[:height, width:] = 7  # padding
        return yuv

    def stop(self) -> None:
        self.calls.append(("stop", None))

    def close(self) -> None:
        self.calls.append(("close", None))


def luma(width: int, height: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    out: np.ndarray = ((xs + 3 * ys) % 251).astype(np.uint8)
    return out


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakePicamera2]:
    picamera2 = types.ModuleType("picamera2")
    picamera2.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    libcamera = types.ModuleType("libcamera")
    libcamera.controls = types.SimpleNamespace(  # type: ignore[attr-defined]
        AfModeEnum=types.SimpleNamespace(Manual=0, Auto=1, Continuous="AfModeEnum.Continuous")
    )
    monkeypatch.setitem(sys.modules, "picamera2", picamera2)
    monkeypatch.setitem(sys.modules, "libcamera", libcamera)
    monkeypatch.setattr(FakePicamera2, "made", [])
    return FakePicamera2


def calls(cam: FakePicamera2, name: str) -> list[Any]:
    return [arg for call, arg in cam.calls if call == name]


def test_reads_the_y_plane_of_a_lores_yuv420_stream(fake: type[FakePicamera2]) -> None:
    with Picamera2Camera() as camera:
        assert camera.name == "picamera2"
        frame = camera.read()
    (cam,) = fake.made
    (config_args,) = calls(cam, "create_video_configuration")
    assert config_args["lores"] == {"size": (640, 480), "format": "YUV420"}
    assert config_args["main"]["size"][0] >= 640
    assert calls(cam, "capture_array") == ["lores"]
    assert frame.shape == (480, 640)
    assert frame.dtype == np.uint8
    assert np.array_equal(frame, luma(640, 480))
    names = [c for c, _ in cam.calls]
    assert names.index("configure") < names.index("start") < names.index("capture_array")
    assert names[-2:] == ["stop", "close"]


def test_stride_padding_is_cut_off(
    fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "stride_pad", 64)
    with Picamera2Camera(size=(320, 240), main_size=(1280, 960)) as camera:
        frame = camera.read()
    assert np.array_equal(frame, luma(320, 240))
    assert frame.flags.c_contiguous
    (config_args,) = calls(fake.made[0], "create_video_configuration")
    assert config_args["main"] == {"size": (1280, 960)}


def test_continuous_autofocus_when_the_camera_has_it(fake: type[FakePicamera2]) -> None:
    with Picamera2Camera():
        pass
    assert calls(fake.made[0], "set_controls") == [{"AfMode": "AfModeEnum.Continuous"}]


def test_no_autofocus_when_unsupported_or_off(
    fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Picamera2Camera(autofocus=False):
        pass
    monkeypatch.setattr(fake, "controls_supported", {"ExposureTime": (1, 10**6, 0)})  # Module 2
    with Picamera2Camera():
        pass
    assert [calls(cam, "set_controls") for cam in fake.made] == [[], []]


def test_camera_number_is_passed(
    fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "cameras", [{"Model": "imx219"}, {"Model": "imx708"}])
    with Picamera2Camera(camera_num=1):
        pass
    assert fake.made[0].camera_num == 1


def test_no_camera_found(fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "cameras", [])
    with pytest.raises(CameraError, match="no Raspberry Pi camera 0"):
        Picamera2Camera().open()
    assert fake.made == []


def test_capture_failure_raises_camera_error(
    fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    camera = Picamera2Camera()
    camera.open()
    monkeypatch.setattr(fake, "fail_capture", True)
    with pytest.raises(CameraError, match="timed out"):
        camera.read()
    camera.close()
    camera.close()  # twice is fine
    assert calls(fake.made[0], "close") == [None]


def test_open_is_idempotent(fake: type[FakePicamera2]) -> None:
    camera = Picamera2Camera()
    camera.open()
    camera.open()
    camera.close()
    assert len(fake.made) == 1


def test_without_picamera2_open_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(CameraError, match="Raspberry Pi"):
        Picamera2Camera().open()


def test_read_needs_open() -> None:
    with pytest.raises(CameraError):
        Picamera2Camera().read()


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="even"):
        Picamera2Camera(size=(641, 480))
    with pytest.raises(ValueError, match="main_size"):
        Picamera2Camera(size=(640, 480), main_size=(320, 240))


# -- frame rate and exposure cap (issue 14: chosen on the presentation simulator) ----------


def profiles(tuning: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert tuning is not None
    agc = FakePicamera2.find_tuning_algo(tuning, "rpi.agc")
    return [mode for ch in agc["channels"] for mode in ch["exposure_modes"].values()]


def test_frame_rate_and_exposure_cap_are_set(fake: type[FakePicamera2]) -> None:
    stock = FakePicamera2.tunings["imx708.json"]
    before = repr(stock)
    with Picamera2Camera() as camera:  # the measured defaults: 30 fps, at most 8 ms
        camera.read()
    (cam,) = fake.made
    (config_args,) = calls(cam, "create_video_configuration")
    assert config_args["controls"] == {"FrameDurationLimits": (33333, 33333)}
    assert [m for m in profiles(cam.tuning)] == [
        {"shutter": [100, 8000], "gain": [1.0, 16.0]}
    ] * 3  # every profile of every channel: AE below the cap, then gain
    assert repr(stock) == before  # the library's tuning is copied, not edited
    assert camera.not_applied == []


def test_settings_are_configurable(fake: type[FakePicamera2]) -> None:
    with Picamera2Camera(fps=15, max_exposure_ms=4, max_gain=8):
        pass
    (cam,) = fake.made
    (config_args,) = calls(cam, "create_video_configuration")
    assert config_args["controls"] == {"FrameDurationLimits": (66667, 66667)}
    assert profiles(cam.tuning)[0] == {"shutter": [100, 4000], "gain": [1.0, 8.0]}


def test_off_leaves_the_library_defaults(fake: type[FakePicamera2]) -> None:
    with Picamera2Camera(fps=None, max_exposure_ms=None):
        pass
    (cam,) = fake.made
    (config_args,) = calls(cam, "create_video_configuration")
    assert "controls" not in config_args
    assert cam.tuning is None


def test_a_camera_without_frame_duration_limits_still_runs(
    fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fake, "controls_supported", {"ExposureTime": (1, 10**6, 0)})
    with Picamera2Camera() as camera:
        frame = camera.read()
    assert frame.shape == (480, 640)
    (config_args,) = calls(fake.made[0], "create_video_configuration")
    assert "controls" not in config_args
    assert camera.not_applied == ["fps 30: the camera has no FrameDurationLimits"]
    assert "FrameDurationLimits" in caplog.text


def test_a_sensor_without_a_tuning_file_runs_uncapped(
    fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "cameras", [{"Model": "ov5647"}])
    with Picamera2Camera() as camera:
        frame = camera.read()
    assert frame.shape == (480, 640)
    assert fake.made[0].tuning is None
    (note,) = camera.not_applied
    assert note.startswith("max_exposure_ms 8: no rpi.agc tuning for sensor ov5647")


def test_a_tuning_without_exposure_profiles_runs_uncapped(
    fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "tunings", {"imx708.json": {"rpi.agc": {"speed": 0.2}}})
    with Picamera2Camera() as camera:
        pass
    assert fake.made[0].tuning is None
    assert camera.not_applied == ["max_exposure_ms 8: the imx708 tuning has no exposure profiles"]


def test_cap_exposure_profiles_of_an_old_tuning_file() -> None:
    agc: dict[str, Any] = {
        "exposure_modes": {
            "normal": {"shutter": [100, 10000, 30000], "gain": [1.0, 2.0, 4.0]},
            "long": {"shutter": [1000, 66666], "gain": [1.0, 8.0]},
        }
    }
    assert cap_exposure_profiles(agc, 2.0, 12.0) == 2
    assert agc["exposure_modes"]["long"] == {"shutter": [100, 2000], "gain": [1.0, 12.0]}
    assert cap_exposure_profiles({"channels": "?"}, 4.0, 16.0) == 0
    assert cap_exposure_profiles(None, 4.0, 16.0) == 0


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="fps"):
        Picamera2Camera(fps=0)
    with pytest.raises(ValueError, match="max_exposure_ms"):
        Picamera2Camera(max_exposure_ms=0)
    with pytest.raises(ValueError, match="max_gain"):
        Picamera2Camera(max_gain=0.5)


def test_a_camera_refusing_the_capped_tuning_opens_without_it(
    fake: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "refuse_tuning", True)
    with Picamera2Camera() as camera:
        frame = camera.read()
    assert frame.shape == (480, 640)
    (cam,) = fake.made
    assert cam.tuning is None
    (config_args,) = calls(cam, "create_video_configuration")
    assert config_args["controls"] == {"FrameDurationLimits": (33333, 33333)}  # fps still held
    (note,) = camera.not_applied
    assert note.startswith("max_exposure_ms 8: the camera refused the capped tuning")
