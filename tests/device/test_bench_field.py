"""A smoke run of the station bench's field part (`presensi station bench --quick --only field`).

Speed targets belong to the bench itself; this checks the keys and that rates are rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.device.cli import station
from presensi.hardware.field_frames import FieldCondition

RATES = (
    "decode_rate_eval_split",
    "decode_rate_eval_split_bare_zxing",
    "presentation_read_rate_1s",
    "presentation_read_rate_300ms",
    "presentation_read_rate_1s_bare_zxing",
    "presentation_read_rate_1s_decode_5x_slower",
    "presentation_read_rate_1s_station_camera",
    "presentation_read_rate_300ms_station_camera",
)


@pytest.mark.slow
def test_quick_field_bench_reports_its_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PRESENSI_ZXING_SAMPLES", str(tmp_path / "absent"))
    result = CliRunner().invoke(station, ["bench", "--quick", "--json", "--only", "field"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["decode_split"] == "evaluation"
    for key in RATES:
        assert 0.0 <= figures[key] <= 1.0, key
    by_condition = figures["decode_rate_eval_by_condition"]
    assert set(by_condition) == {c.value for c in FieldCondition}
    assert all(0.0 <= r <= 1.0 for r in by_condition.values())
    assert all(0.0 <= r <= 1.0 for r in figures["presentation_read_rate_1s_by_condition"].values())
    for key in ("time_to_read_ms_p95", "time_to_read_ms_p95_station_camera"):
        p95 = figures[key]
        assert p95 is None or 0 < p95 <= 1000
    assert figures["station_camera"] == {
        "fps": 30.0,
        "max_exposure_ms": 8.0,
        "max_gain": 16.0,
        "read_noise_amplified": True,
    }
    on_station = figures["presentation_read_rate_1s_by_condition_station_camera"]
    assert set(on_station) == {c.value for c in FieldCondition}
    assert figures["empty_frame_false_reads_eval"] == 0
    assert figures["decode_time_ratio_eval"] > 0
    assert figures["photo_samples"] is None and "skipped" in figures["photo_samples_note"]


def test_unknown_bench_parts_are_refused() -> None:
    result = CliRunner().invoke(station, ["bench", "--only", "field,warp"])
    assert result.exit_code != 0 and "warp" in result.output


def test_time_to_read_counts_the_frame_interval_and_the_decode() -> None:
    from presensi.device.bench_field import time_to_read
    from presensi.hardware.field_presentations import field_presentation

    p = field_presentation(4, FieldCondition.TYPICAL)
    calls: list[int] = []

    def reads_third_frame(frame: object) -> list[str]:
        calls.append(1)
        return [p.text] if len(calls) == 3 else []

    t = time_to_read(p, reads_third_frame)
    # frame k reaches the station one interval after its capture at phase + k / fps
    assert t is not None and t == pytest.approx(p.phase_s + 3 / p.fps, abs=0.02)
    assert time_to_read(p, lambda frame: []) is None


def test_photo_samples_are_read_by_exact_text(tmp_path: Path) -> None:
    import io

    import segno
    from PIL import Image

    from presensi.device.bench_field import photo_sample_figures

    folder = tmp_path / "zxing-qr" / "qrcode-1"
    folder.mkdir(parents=True)
    for name, text in (("a", "PRS1:PHOTO-A"), ("b", "PRS1:PHOTO-B")):
        buf = io.BytesIO()
        segno.make_qr(text, error="m").save(buf, kind="png", scale=5, border=4)
        Image.open(io.BytesIO(buf.getvalue())).convert("RGB").save(folder / f"{name}.jpg")
        (folder / f"{name}.txt").write_text(text if name == "a" else "something else")
    figures = photo_sample_figures(tmp_path / "zxing-qr")
    assert figures["photo_samples"] == 2
    assert figures["photo_samples_read"] == figures["photo_samples_read_bare_zxing"] == 1


def test_the_camera_sweep_compares_settings_on_the_same_presentations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from presensi.device.bench_field import main

    main(["--what", "camera", "-n", "1", "--fps", "30", "--max-exposure-ms", "none,8"])
    rows = json.loads(capsys.readouterr().out)
    assert [r["camera"] for r in rows][1:] == [
        {"fps": 30.0, "max_exposure_ms": m, "max_gain": 16.0, "read_noise_amplified": True}
        for m in (None, 8.0)
    ]
    assert rows[0]["camera"].startswith("auto")
    for row in rows:
        assert 0.0 <= row["presentation_read_rate_300ms"] <= row["presentation_read_rate_1s"] <= 1
        assert set(row["by_condition"]) == {c.value for c in FieldCondition}
