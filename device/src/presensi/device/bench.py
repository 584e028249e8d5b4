"""`presensi station bench`: the station's figures, each next to a baseline from the same run.

- decode: rate and median time on generated 640x480 frames of every camera condition, next to
  a bare zxing-cpp call on the same frames (alternating which goes first); empty-frame time and
  false reads on frames without a code;
- scan-to-signal: frame arrival -> decode, verify, durable commit -> LEDs set (gpiozero mock pins);
- journal: append cost (fsync included) with 1,000 and with 1,000,000 records stored, and the
  bytes each record takes on disk;
- memory: peak RSS of a real `presensi station run` scanning simulated frames;
- kill -9: a scanning station killed at random moments; signalled scans lost (must be 0);
- field: the decoder on held-out field frames of the **evaluation** seed split (per condition,
  against bare zxing-cpp and zbar), time-to-read of whole presentations, and zxing-cpp's real
  photo samples when ../shared/testdata/zxing-qr is there (`bench_field`).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from presensi.device.clock import Clock, StationClock, SystemTime
from presensi.device.config import StationSection
from presensi.device.decide import Decider
from presensi.device.journal import Journal
from presensi.device.scanloop import ScanLoop
from presensi.device.testbed import create, fill_journal, make_tokens
from presensi.protocol.keys import KeyRing, Revocations, SigningKey

SEED = 2026


def _ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 3)


def decode_figures(n_per_condition: int) -> dict[str, Any]:
    import zxingcpp

    from presensi.hardware.camera_sim import badge_frames, render_empty_frame
    from presensi.hardware.decoder_zxing import ZxingDecoder

    texts = make_tokens(SigningKey.from_seed(b"\x07" * 32), 40)
    decoder = ZxingDecoder()
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

    def bare(frame: Any) -> list[str]:
        return [b.text for b in zxingcpp.read_barcodes(frame, formats=formats)]

    ours_t: list[float] = []
    bare_t: list[float] = []
    ours_ok: Counter[str] = Counter()
    bare_ok: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for i, (condition, text, frame) in enumerate(badge_frames(texts, SEED, n_per_condition)):
        order = [(decoder.decode, ours_t, ours_ok), (bare, bare_t, bare_ok)]
        for fn, times, ok in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            found = fn(frame)
            times.append(time.perf_counter() - start)
            ok[condition.value] += text in found
        total[condition.value] += 1
    empty_t: list[float] = []
    false_reads = 0
    rng = np.random.default_rng(SEED)
    for _ in range(n_per_condition * 5):
        frame = render_empty_frame(rng)
        start = time.perf_counter()
        false_reads += len(decoder.decode(frame))
        empty_t.append(time.perf_counter() - start)
    frames = sum(total.values())
    return {
        "decode_rate": round(sum(ours_ok.values()) / frames, 4),
        "baseline_decode_rate": round(sum(bare_ok.values()) / frames, 4),
        "decode_ms_median": _ms(ours_t),
        "baseline_decode_ms_median": _ms(bare_t),
        "decode_time_ratio": round(statistics.median(ours_t) / statistics.median(bare_t), 3),
        "empty_frame_ms_median": _ms(empty_t),
        "empty_frame_false_reads": false_reads,
        "decode_frames": frames,
        "decode_rate_by_condition": {c: round(ours_ok[c] / n, 3) for c, n in total.items()},
    }


class _ListCamera:
    name = "bench"

    def __init__(self, frames: list[Any]) -> None:
        self.frames = frames

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read(self) -> Any:
        return self.frames.pop() if self.frames else None


def latency_figures(scans: int, folder: Path) -> dict[str, Any]:
    from gpiozero.pins.mock import MockFactory

    from presensi.hardware.camera_sim import CONDITIONS, render_badge_frame
    from presensi.hardware.decoder_zxing import ZxingDecoder
    from presensi.hardware.indicator_gpio import GpioIndicator

    org = SigningKey.from_seed(b"\x08" * 32)
    rng = np.random.default_rng(SEED)
    frames = [
        render_badge_frame(text, rng, CONDITIONS[i % len(CONDITIONS)])
        for i, text in enumerate(make_tokens(org, scans))
    ]
    journal = Journal(folder / "latency.db", "st-bench", min_free_bytes=1)
    station = StationSection(id="st-bench", location="bench")
    decider = Decider(station, KeyRing.of([org.public]), Revocations(), config_version=1)
    indicator = GpioIndicator(17, 27, 22, pin_factory=MockFactory())
    loop = ScanLoop(journal, decider, indicator, StationClock(SystemTime(Clock("synced"))))
    try:
        loop.scan_frames(_ListCamera(frames), ZxingDecoder(), threading.Event())
    finally:
        indicator.close()
        journal.close()
    lat = sorted(ns / 1e6 for ns in loop.stats.latencies_ns)
    return {
        "scan_to_signal_ms_p50": round(lat[len(lat) // 2], 3),
        "scan_to_signal_ms_p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
        "scan_to_signal_samples": len(lat),
    }


def _fill(path: Path, count: int) -> Journal:
    """A journal holding `count` realistic, correctly chained records (bulk-loaded)."""
    fill_journal(path, "st-bench", count, start_ms=1_790_000_000_000)
    return Journal(path, "st-bench", min_free_bytes=1)


def _append_ms(journal: Journal, n: int) -> float:
    draft = next(journal.records(journal.last_seq, journal.last_seq))
    times = []
    for _ in range(n):
        start = time.perf_counter()
        journal.append(draft)
        times.append(time.perf_counter() - start)
    return _ms(times)


def journal_figures(big: int, folder: Path) -> dict[str, Any]:
    small_j = _fill(folder / "j1k.db", 1000)
    big_j = _fill(folder / "jbig.db", big)
    small_ms, big_ms = [], []
    for _ in range(3):  # alternate, so a noisy neighbour hurts both alike
        small_ms.append(_append_ms(small_j, 100))
        big_ms.append(_append_ms(big_j, 100))
    small_j.close()
    big_j.close()
    size = sum(p.stat().st_size for p in folder.glob("jbig.db*"))
    per_record = size / big
    return {
        "journal_append_ms_at_1k": statistics.median(small_ms),
        f"journal_append_ms_at_{_label(big)}": statistics.median(big_ms),
        "journal_append_ratio": round(statistics.median(big_ms) / statistics.median(small_ms), 3),
        "journal_bytes_per_record": round(per_record),
        "journal_records_per_16gb": int(16e9 * 0.9 / per_record),  # 10% kept free
    }


def _label(n: int) -> str:
    return "1m" if n == 1_000_000 else f"{n // 1000}k"


def station_rss_mb(seconds: float, folder: Path) -> float:
    """Peak RSS (VmHWM) of a real station process scanning simulated frames at 15 fps."""
    bed = create(folder / "rss", employees=50, fps=15.0, indicator="console")
    proc = subprocess.Popen(
        [sys.executable, "-m", "presensi.device", "run", "--config", str(bed.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak_kb = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and proc.poll() is None:
            peak_kb = max(peak_kb, _vm_hwm_kb(proc.pid))
            time.sleep(0.25)
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-500:] if proc.stderr else ""
            raise RuntimeError(f"the station exited with {proc.returncode} while measured: {err}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return round(peak_kb / 1024, 1)


def _vm_hwm_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0
    )


def kill_figures(runs: int, folder: Path) -> dict[str, Any]:
    from presensi.device.killtest import run_kills

    report = run_kills(folder / "kill", runs, seed=SEED)
    return {
        "kill9_runs": report.runs,
        "kill9_signalled": report.signalled,
        "kill9_lost_signalled_scans": report.lost,
        "kill9_failures": len(report.failures),
    }


def field_figures(quick: bool) -> dict[str, Any]:
    from presensi.device.bench_field import (
        field_decode_figures,
        photo_sample_figures,
        presentation_figures,
        station_camera,
    )

    split = "evaluation"  # never the tuning split: these are the figures we report
    results = field_decode_figures(split, 2 if quick else 40, 10 if quick else 200)
    results.update(presentation_figures(split, 1 if quick else 20, station_camera()))
    results.update(photo_sample_figures())
    return results


STEPS = ("decode", "latency", "journal", "memory", "kill", "field")


def run_bench(*, as_json: bool, quick: bool, only: Collection[str] = STEPS) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "quick": quick,
    }
    with tempfile.TemporaryDirectory(prefix="presensi-bench-") as tmp:
        folder = Path(tmp)
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("decode", lambda: decode_figures(10 if quick else 50)),
            ("latency", lambda: latency_figures(60 if quick else 400, folder)),
            ("journal", lambda: journal_figures(20_000 if quick else 1_000_000, folder)),
            ("memory", lambda: {"rss_mb": station_rss_mb(3 if quick else 10, folder)}),
            ("kill", lambda: kill_figures(3 if quick else 20, folder)),
            ("field", lambda: field_figures(quick)),
        ]
        for name, step in steps:
            if name not in only:
                continue
            if not as_json:
                print(f"… {name}", file=sys.stderr, flush=True)
            results.update(step())
    if as_json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:32s} {value}")
    return results
