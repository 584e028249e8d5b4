"""The decoder on frames nobody tuned for, and the time a driver waits (issue 14).

Everything here runs on a seed split of `presensi.hardware.field_frames`: the bench measures
the **evaluation** split; `--split tuning` is for developing the decoder (the ablation table
and the print-settings comparison are run on it too, so choices are never made on the frames
that are then reported).

- `field_decode_figures`: per-frame decode rate per condition and overall, for the station's
  decoder, bare zxing-cpp and zbar on the same frames; median decode time next to bare
  zxing-cpp's (the two calls alternating which goes first); empty frames' time and false reads;
  zxing-cpp's real photo samples (../shared/testdata/zxing-qr) when that folder is there.
- `presentation_figures`: time-to-read of whole presentations (`field_presentations`). Time is
  modelled as: a frame reaches the station one frame interval after it is captured (sensor
  readout and delivery); the station decodes the newest frame it has when it is free; the time
  a decode takes is the real decode time on this machine. Time-to-read = when the decode that
  read the badge ends, from the moment the code was first whole in the frame (t = 0).
  With the station's configured camera (`station_camera`: a fixed frame rate, an exposure cap,
  gain noise; `field_presentations.StationCamera`) the same presentations again, under keys
  ending `_station_camera`; the issue's camera model stays the headline figure.
- `camera_sweep`: presentations under several camera settings (tuning split: to choose them).
- `ablation`: what each decoder step buys (frames rescued, time spent) on the tuning split.
- `print_settings_figures`: error-correction levels and module sizes of the printed card.

Run `python -m presensi.device.bench_field --help`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame
    from presensi.hardware.field_frames import FieldFrame, PrintSettings
    from presensi.hardware.field_presentations import FieldPresentation, StationCamera

Decode = Callable[["Frame"], list[str]]
READ_LIMIT_S = 1.0
SLOWDOWN = 5.0  # a Raspberry Pi's decode against this x86's, assumed (not measured here)
SAMPLES_ENV = "PRESENSI_ZXING_SAMPLES"


def _bare() -> Decode:
    import zxingcpp

    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

    def bare(frame: Frame) -> list[str]:
        return [b.text for b in zxingcpp.read_barcodes(frame, formats=formats)]

    return bare


def _zbar() -> Decode | None:
    from presensi.hardware.errors import DecoderError

    try:
        from presensi.hardware.decoder_zbar import ZbarDecoder

        return ZbarDecoder().decode
    except DecoderError:
        return None


def _ms(seconds: Sequence[float], q: float = 0.5) -> float:
    return round(float(np.quantile(seconds, q)) * 1000, 3)


def field_decode_figures(split: str, per_condition: int, empty: int) -> dict[str, Any]:
    from presensi.hardware.decoder_zxing import ZxingDecoder
    from presensi.hardware.field_frames import field_frames, render_field_empty, split_seeds

    ours, bare, zbar = ZxingDecoder(), _bare(), _zbar()
    ours_t: list[float] = []
    bare_t: list[float] = []
    ok: dict[str, Counter[str]] = {"ours": Counter(), "bare": Counter(), "zbar": Counter()}
    total: Counter[str] = Counter()
    for i, ff in enumerate(field_frames(split_seeds(split, per_condition))):
        ours.forget()  # frames of different presentations: nothing carries over
        calls = [(ours.decode, ours_t, ok["ours"]), (bare, bare_t, ok["bare"])]
        for fn, times, hits in calls if i % 2 == 0 else calls[::-1]:
            start = time.perf_counter()
            found = fn(ff.frame)
            times.append(time.perf_counter() - start)
            hits[ff.condition.value] += ff.text in found
        if zbar is not None:
            ok["zbar"][ff.condition.value] += ff.text in zbar(ff.frame)
        total[ff.condition.value] += 1
    frames = sum(total.values())
    out: dict[str, Any] = {
        "decode_split": split,
        "decode_frames_eval": frames,
        "decode_rate_eval_split": round(sum(ok["ours"].values()) / frames, 4),
        "decode_rate_eval_split_bare_zxing": round(sum(ok["bare"].values()) / frames, 4),
        "decode_rate_eval_split_zbar": (
            round(sum(ok["zbar"].values()) / frames, 4) if zbar is not None else None
        ),
        "decode_ms_median_eval": _ms(ours_t),
        "decode_ms_median_eval_bare_zxing": _ms(bare_t),
        "decode_time_ratio_eval": round(statistics.median(ours_t) / statistics.median(bare_t), 3),
        "decode_ms_p95_eval": _ms(ours_t, 0.95),
        "decode_ms_max_eval": round(max(ours_t) * 1000, 3),
    }
    for who in ("ours", "bare", "zbar"):
        if who == "zbar" and zbar is None:
            continue
        key = "decode_rate_eval_by_condition" + ("" if who == "ours" else f"_{who}")
        out[key] = {c: round(ok[who][c] / n, 3) for c, n in total.items()}
    out.update(
        _empty_figures(ours, bare, [render_field_empty(s) for s in split_seeds(split, empty)])
    )
    return out


def _empty_figures(ours: Any, bare: Decode, frames: list[Frame]) -> dict[str, Any]:
    times: dict[tuple[int, int], list[float]] = {}
    bare_times: list[float] = []
    false_reads = 0
    for frame in frames:
        ours.forget()
        start = time.perf_counter()
        false_reads += len(ours.decode(frame))
        times.setdefault(frame.shape, []).append(time.perf_counter() - start)
        start = time.perf_counter()
        false_reads += len(bare(frame))
        bare_times.append(time.perf_counter() - start)
    every = [t for ts in times.values() for t in ts]
    return {
        "empty_frame_ms_median_eval": _ms(every),
        "empty_frame_ms_median_eval_bare_zxing": _ms(bare_times),
        "empty_frame_ms_median_eval_by_size": {
            f"{w}x{h}": _ms(ts) for (h, w), ts in sorted(times.items())
        },
        "empty_frame_ms_p95_eval": _ms(every, 0.95),
        "empty_frame_false_reads_eval": false_reads,
        "empty_frames_eval": len(frames),
    }


def photo_sample_figures(folder: Path | None = None) -> dict[str, Any]:
    """zxing-cpp's real photo samples, exact text: the station's decoder, bare zxing-cpp, zbar."""
    from PIL import Image

    from presensi.hardware.decoder_zxing import ZxingDecoder

    folder = folder or _samples_folder()
    if folder is None:
        return {
            "photo_samples": None,
            "photo_samples_note": (
                "skipped: zxing-cpp's photo samples (../shared/testdata/zxing-qr, or the "
                f"folder in {SAMPLES_ENV}) are not here"
            ),
        }
    ours, bare, zbar = ZxingDecoder(), _bare(), _zbar()
    read: Counter[str] = Counter()
    photos = 0
    for txt in sorted(folder.glob("*/*.txt")):
        image = next((p for p in txt.parent.glob(txt.stem + ".*") if p.suffix != ".txt"), None)
        if image is None:
            continue
        with Image.open(image) as img:
            frame = np.asarray(img.convert("L"))
        expected = txt.read_text(encoding="utf-8", errors="replace")
        photos += 1
        ours.forget()
        read["ours"] += expected in ours.decode(frame)
        read["bare"] += expected in bare(frame)
        if zbar is not None:
            read["zbar"] += expected in zbar(frame)
    return {
        "photo_samples": photos,
        "photo_samples_read": read["ours"],
        "photo_samples_read_bare_zxing": read["bare"],
        "photo_samples_read_zbar": read["zbar"] if zbar is not None else None,
    }


def _samples_folder() -> Path | None:
    given = os.environ.get(SAMPLES_ENV)
    if given:
        return Path(given) if Path(given).is_dir() else None
    candidates = [
        Path(__file__).resolve().parents[4].parent / "shared" / "testdata" / "zxing-qr",
        Path.cwd().parent / "shared" / "testdata" / "zxing-qr",
    ]
    return next((c for c in candidates if c.is_dir()), None)


# -- presentations ---------------------------------------------------------------------------


def time_to_read(
    p: FieldPresentation, decode: Decode, limit_s: float = READ_LIMIT_S, slowdown: float = 1.0
) -> float | None:
    """Seconds from t = 0 until a decode reads the badge, None if not within `limit_s`.

    `slowdown` multiplies each measured decode time: a slower machine (a Raspberry Pi),
    modelled without owning one."""
    delay = 1 / p.fps  # capture -> delivered to the station
    n = p.frame_count()
    t, last = 0.0, -1
    while True:
        newest = math.floor((t - delay - p.phase_s) * p.fps + 1e-9)
        k = max(newest, last + 1)  # the newest frame there, or wait for the next one
        if k >= n:
            return None
        arrives = p.frame_time(k) + delay
        if arrives > limit_s:
            return None
        frame = p.frame_at(k)
        start = time.perf_counter()
        texts = decode(frame)
        t = max(t, arrives) + (time.perf_counter() - start) * slowdown
        if p.text in texts:
            return t if t <= limit_s else None
        last = k


def station_camera() -> StationCamera:
    """The camera settings a station configures by default (`camera_picamera2`)."""
    from presensi.hardware.camera_picamera2 import (
        DEFAULT_FPS,
        DEFAULT_MAX_EXPOSURE_MS,
        DEFAULT_MAX_GAIN,
    )
    from presensi.hardware.field_presentations import StationCamera

    return StationCamera(DEFAULT_FPS, DEFAULT_MAX_EXPOSURE_MS, DEFAULT_MAX_GAIN)


def presentation_figures(
    split: str, per_condition: int, camera: StationCamera | None = None
) -> dict[str, Any]:
    """Time-to-read under the issue's camera model; with `camera`, also under that camera
    (the station's configured settings) for the station's decoder, keys ending `_station_camera`."""
    from presensi.hardware.decoder_zxing import DEFAULT_BUDGET_MS, ZxingDecoder
    from presensi.hardware.field_frames import FIELD_CONDITIONS, split_seeds
    from presensi.hardware.field_presentations import field_presentation

    # the same seeds as the frames; presentations draw from a random stream of their own
    seeds = split_seeds(split, per_condition)
    ours = ZxingDecoder()
    # a machine 5x slower: each decode counts 5x, and the retry budget holds 1/5 the work
    slow = ZxingDecoder(budget_ms=DEFAULT_BUDGET_MS / SLOWDOWN)
    bare = _bare()
    results: dict[str, list[float | None]] = {"ours": [], "bare": [], "slow": []}
    if camera is not None:
        results["station"] = []
    by_condition: dict[str, list[float | None]] = {}
    station_by_condition: dict[str, list[float | None]] = {}
    fps: list[float] = []
    for condition in FIELD_CONDITIONS:
        for seed in seeds:
            p = field_presentation(seed, condition)
            fps.append(p.fps)
            ours.forget()
            mine = time_to_read(p, ours.decode)
            results["ours"].append(mine)
            by_condition.setdefault(condition.value, []).append(mine)
            results["bare"].append(time_to_read(p, bare))
            slow.forget()
            results["slow"].append(time_to_read(p, slow.decode, slowdown=SLOWDOWN))
            if camera is not None:
                ours.forget()
                seen = time_to_read(field_presentation(seed, condition, camera=camera), ours.decode)
                results["station"].append(seen)
                station_by_condition.setdefault(condition.value, []).append(seen)
    out: dict[str, Any] = {
        "presentations": len(results["ours"]),
        "presentation_fps_range": [round(min(fps), 1), round(max(fps), 1)],
    }
    suffixes = {
        "ours": "",
        "bare": "_bare_zxing",
        "slow": f"_decode_{SLOWDOWN:g}x_slower",
        "station": "_station_camera",
    }
    for who, times in results.items():
        suffix = suffixes[who]
        out.update({k + suffix: v for k, v in _read_stats(times).items()})
    out["presentation_read_rate_1s_by_condition"] = _rate_by_condition(by_condition)
    if camera is not None:
        out["station_camera"] = camera.describe()
        out["presentation_read_rate_1s_by_condition_station_camera"] = _rate_by_condition(
            station_by_condition
        )
    return out


def _rate_by_condition(times: dict[str, list[float | None]]) -> dict[str, float]:
    return {c: round(sum(t is not None for t in ts) / len(ts), 3) for c, ts in times.items()}


def camera_sweep(
    split: str,
    per_condition: int,
    fps: Sequence[float | None] = (15.0, 30.0),
    max_exposure_ms: Sequence[float | None] = (2.0, 4.0, 8.0, 16.0),
    max_gain: float = 16.0,
    offset: int = 0,
    slowdown: float = 1.0,
    read_noise_amplified: bool = True,
) -> list[dict[str, Any]]:
    """Time-to-read of the same presentations under the issue's camera model ("auto") and under
    each fixed frame rate x exposure cap, for the station's decoder: to choose the settings on
    the tuning split. Each row has the overall figures and each condition's. `slowdown` models a
    slower machine as the bench does (each decode counts that many times; the retry budget
    shrinks by as much)."""
    from presensi.hardware.decoder_zxing import DEFAULT_BUDGET_MS, ZxingDecoder
    from presensi.hardware.field_frames import FIELD_CONDITIONS, split_seeds
    from presensi.hardware.field_presentations import StationCamera, field_presentation

    cameras: list[StationCamera | None] = [None]
    cameras += [
        StationCamera(f, e, max_gain, read_noise_amplified) for f in fps for e in max_exposure_ms
    ]
    decoder = ZxingDecoder(budget_ms=DEFAULT_BUDGET_MS / slowdown)
    rows = []
    for camera in cameras:
        by: dict[str, list[float | None]] = {}
        for condition in FIELD_CONDITIONS:
            for seed in split_seeds(split, per_condition, offset):
                decoder.forget()
                p = field_presentation(seed, condition, camera=camera)
                seen = time_to_read(p, decoder.decode, slowdown=slowdown)
                by.setdefault(condition.value, []).append(seen)
        every = [t for ts in by.values() for t in ts]
        rows.append(
            {
                "camera": "auto (the issue's model)" if camera is None else camera.describe(),
                **_read_stats(every),
                "by_condition": {c: _read_stats(ts) for c, ts in by.items()},
            }
        )
    return rows


def _read_stats(times: list[float | None]) -> dict[str, Any]:
    done = sorted(t if t is not None else math.inf for t in times)

    def rank(q: float) -> float:  # nearest rank: a real presentation's time, or inf
        return done[min(len(done) - 1, max(0, math.ceil(q * len(done)) - 1))]

    p50, p95 = rank(0.5), rank(0.95)
    return {
        "presentation_read_rate_300ms": round(sum(t <= 0.3 for t in done) / len(done), 4),
        "presentation_read_rate_1s": round(sum(t <= READ_LIMIT_S for t in done) / len(done), 4),
        "time_to_read_ms_p50": round(p50 * 1000, 1) if math.isfinite(p50) else None,
        "time_to_read_ms_p95": round(p95 * 1000, 1) if math.isfinite(p95) else None,
    }


# -- what each step buys ---------------------------------------------------------------------


def ablation(
    split: str, per_condition: int, empty: int, budget_ms: float | None = None
) -> list[dict[str, Any]]:
    """What each step buys: alone on top of the plain call; and for a default step, what the
    default pipeline loses without it, for another step what the default gains with it.

    With the station's budget (None: `DEFAULT_BUDGET_MS`) the counts depend a little on how
    busy the machine is (a step that no longer fits is skipped); a large `budget_ms` measures
    what the steps can read."""
    from presensi.hardware.decoder_zxing import (
        DEFAULT_BUDGET_MS,
        DEFAULT_STEPS,
        STEPS,
        ZxingDecoder,
    )
    from presensi.hardware.field_frames import field_frames, render_field_empty, split_seeds

    budget_ms = DEFAULT_BUDGET_MS if budget_ms is None else budget_ms

    frames = list(field_frames(split_seeds(split, per_condition)))
    empties = [render_field_empty(s) for s in split_seeds(split, empty)]
    plain = _score(ZxingDecoder(retries=False), frames, empties)
    default = _score(ZxingDecoder(budget_ms=budget_ms), frames, empties)
    every = [s for s in STEPS if s != "track"]  # track needs consecutive frames: presentations
    rows = [
        {"step": "(plain call)", **plain},
        {"step": "(default steps)", **default},
        {
            "step": "(every step)",
            **_score(ZxingDecoder(steps=every, budget_ms=budget_ms), frames, empties),
        },
    ]
    for step in every:
        alone = _score(ZxingDecoder(steps=[step], budget_ms=budget_ms), frames, empties)
        row = {
            "step": step,
            "default": step in DEFAULT_STEPS,
            "rescued_alone": alone["read"] - plain["read"],
            "miss_ms_mean_alone": alone["miss_ms_mean"],
            "empty_ms_median_alone": alone["empty_ms_median"],
        }
        if step in DEFAULT_STEPS:
            less = _score(
                ZxingDecoder(steps=[s for s in DEFAULT_STEPS if s != step], budget_ms=budget_ms),
                frames,
                empties,
            )
            row["default_loses_without"] = default["read"] - less["read"]
        else:
            more = _score(
                ZxingDecoder(steps=[*DEFAULT_STEPS, step], budget_ms=budget_ms), frames, empties
            )
            row["default_gains_with"] = more["read"] - default["read"]
            row["empty_ms_median_with"] = more["empty_ms_median"]
        rows.append(row)
    return rows


def _score(decoder: Any, frames: Iterable[FieldFrame], empties: list[Frame]) -> dict[str, Any]:
    read, miss_t, empty_t = 0, [], []
    for ff in frames:
        decoder.forget()
        start = time.perf_counter()
        ok = ff.text in decoder.decode(ff.frame)
        spent = time.perf_counter() - start
        read += ok
        if not ok:
            miss_t.append(spent)
    for frame in empties:
        decoder.forget()
        start = time.perf_counter()
        decoder.decode(frame)
        empty_t.append(time.perf_counter() - start)
    return {
        "read": read,
        "miss_ms_mean": round(statistics.fmean(miss_t) * 1000, 2) if miss_t else 0.0,
        "empty_ms_median": _ms(empty_t),
    }


def track_ablation(split: str, per_condition: int) -> dict[str, Any]:
    """Presentations read by the default steps, and by them plus `track` (earlier frames)."""
    from presensi.hardware.decoder_zxing import DEFAULT_STEPS, ZxingDecoder
    from presensi.hardware.field_frames import FIELD_CONDITIONS, split_seeds
    from presensi.hardware.field_presentations import field_presentation

    out = {}
    for label, steps in (
        ("default", DEFAULT_STEPS),
        ("default_and_track", (*DEFAULT_STEPS, "track")),
    ):
        decoder = ZxingDecoder(steps=steps)
        times = []
        for condition in FIELD_CONDITIONS:
            for seed in split_seeds(split, per_condition):
                decoder.forget()
                times.append(time_to_read(field_presentation(seed, condition), decoder.decode))
        out[label] = _read_stats(times)
    return out


# -- print settings --------------------------------------------------------------------------


def print_settings_figures(
    split: str, per_condition: int, presentations: int
) -> list[dict[str, Any]]:
    """Error-correction level and module size of the printed card: frames and presentations."""
    from presensi.hardware.decoder_zxing import ZxingDecoder
    from presensi.hardware.field_frames import (
        FIELD_CONDITIONS,
        FieldCondition,
        PrintSettings,
        field_frames,
        split_seeds,
    )
    from presensi.hardware.field_presentations import field_presentation

    cards = [PrintSettings(e, box) for box in (50.0, 40.0) for e in ("m", "q", "h")]
    decoder = ZxingDecoder()
    rows = []
    conditions = [
        c for c in FIELD_CONDITIONS if c not in (FieldCondition.PHONE, FieldCondition.PHONE_DARK)
    ]
    for card in cards:
        by: Counter[str] = Counter()
        n: Counter[str] = Counter()
        for ff in field_frames(split_seeds(split, per_condition), conditions, card):
            decoder.forget()
            by[ff.condition.value] += ff.text in decoder.decode(ff.frame)
            n[ff.condition.value] += 1
        times = []
        for condition in conditions:
            for seed in split_seeds(split, presentations):
                decoder.forget()
                times.append(
                    time_to_read(field_presentation(seed, condition, card), decoder.decode)
                )
        rows.append(
            {
                "error": card.error.upper(),
                "box_mm": card.box_mm,
                "module_mm": _module_size(card),
                "decode_rate": round(sum(by.values()) / sum(n.values()), 4),
                "by_condition": {c: round(by[c] / n[c], 2) for c in n},
                **_read_stats(times),
            }
        )
    return rows


def _module_size(card: PrintSettings) -> float:
    sizes = {"m": 45, "q": 49, "h": 57}  # modules of a badge token at each level
    return round(card.module_mm(sizes[card.error]), 3)


def _floats(text: str) -> list[float | None]:
    return [None if v.strip().lower() == "none" else float(v) for v in text.split(",")]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m presensi.device.bench_field", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--split", choices=("tuning", "evaluation"), default="tuning")
    parser.add_argument(
        "--what",
        choices=("frames", "presentations", "ablation", "track", "print", "camera"),
        default="frames",
    )
    parser.add_argument("-n", type=int, default=20, help="seeds per condition")
    parser.add_argument(
        "--budget-ms", type=float, default=None, help="the decoder's retry budget (ablation)"
    )
    parser.add_argument(
        "--fps", default="15,30", help="camera: frame rates to compare, comma-separated"
    )
    parser.add_argument(
        "--max-exposure-ms",
        default="2,4,8,16",
        help="camera: exposure caps to compare (ms), comma-separated; 'none' for no cap",
    )
    parser.add_argument("--max-gain", type=float, default=16.0, help="camera: gain limit")
    parser.add_argument(
        "--offset", type=int, default=0, help="camera: start at this seed of the split"
    )
    parser.add_argument(
        "--slowdown", type=float, default=1.0, help="camera: model a machine this much slower"
    )
    parser.add_argument(
        "--read-noise-fixed",
        action="store_true",
        help="camera: keep the read noise as at the issue's gain (the optimistic bound)",
    )
    args = parser.parse_args(argv)
    if args.what == "frames":
        result: Any = field_decode_figures(args.split, args.n, args.n * 5)
    elif args.what == "presentations":
        result = presentation_figures(args.split, args.n, station_camera())
    elif args.what == "ablation":
        result = ablation(args.split, args.n, args.n * 5, args.budget_ms)
    elif args.what == "camera":
        result = camera_sweep(
            args.split,
            args.n,
            _floats(args.fps),
            _floats(args.max_exposure_ms),
            args.max_gain,
            args.offset,
            args.slowdown,
            not args.read_noise_fixed,
        )
    elif args.what == "track":
        result = track_ablation(args.split, args.n)
    else:
        result = print_settings_figures(args.split, args.n, max(2, args.n // 2))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
