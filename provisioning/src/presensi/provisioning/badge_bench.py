"""Benchmark of `presensi badge issue`: sign, record and print N badges (default 810, the bus
operator's staff), next to a baseline measured in the same run (only signing N tokens).

    python -m presensi.provisioning.badge_bench            # table
    python -m presensi.provisioning.badge_bench --json     # one JSON object

It makes a throwaway org folder with sample employees, then times what `presensi badge issue`
does: allocate serials, sign, insert into badges.db, draw the PDF sheets (QR codes as vector
paths), commit. The phases are timed too (QR encoding with segno dominates).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from presensi.protocol import badge as badge_token
from presensi.protocol.keys import SigningKey

TARGET_S = 30.0


def _sign_only(key: SigningKey, numbers: list[str], start: int, end: int) -> float:
    t0 = time.perf_counter()
    for serial, number in enumerate(numbers, 1):
        badge_token.issue(key, number, serial, start, end).to_text()
    return time.perf_counter() - t0


def run(n: int = 810, seed: int = 0) -> dict[str, float | int | str]:
    from presensi.provisioning import badge_pdf, badges
    from presensi.provisioning.employees import sample_employees
    from presensi.provisioning.org import Org

    staff = sample_employees(n, seed)
    with tempfile.TemporaryDirectory(prefix="presensi-badge-bench-") as tmp:
        org = Org.init(Path(tmp) / "org", "Perum Angkutan Kota (benchmark)")
        key = org.signing_key()
        start, end = badges.validity(int(time.time()), badges.DEFAULT_VALID_DAYS)
        baseline = _sign_only(key, [e.number for e in staff], start, end)

        pdf = Path(tmp) / "badges.pdf"
        phases: dict[str, float] = {}

        def render(issued: list[badges.IssuedBadge]) -> None:
            t_render = time.perf_counter()
            phases["sign_and_record_s"] = t_render - t0
            cards = [
                badge_pdf.Card(
                    org.name, b.name, b.employee, b.unit, b.serial, b.token, b.valid_from,
                    b.valid_until, org.timezone,
                )
                for b in issued
            ]  # fmt: skip
            t_qr = time.perf_counter()
            for card in cards:
                badge_pdf.make_qr(card.token)
            phases["qr_encode_only_s"] = time.perf_counter() - t_qr
            t_render = time.perf_counter()
            stats = badge_pdf.render_pdf(pdf, cards)
            phases["render_s"] = time.perf_counter() - t_render
            phases["pages"] = stats.pages

        t0 = time.perf_counter()
        issued = badges.issue(org, staff, before_commit=render)
        total = time.perf_counter() - t0 - phases["qr_encode_only_s"]  # not part of `issue`
        size = pdf.stat().st_size
    return {
        "badges": len(issued),
        "issue_and_render_s": round(total, 3),
        "sign_only_baseline_s": round(baseline, 3),
        "sign_and_record_s": round(phases["sign_and_record_s"], 3),
        "render_pdf_s": round(phases["render_s"], 3),
        "qr_encode_s": round(phases["qr_encode_only_s"], 3),
        "pages": int(phases["pages"]),
        "pdf_bytes": size,
        "target_s": TARGET_S,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=810, help="badges to issue (default 810)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = run(args.n)
    if args.json:
        print(json.dumps(result))
        return
    ok = "within" if float(result["issue_and_render_s"]) <= TARGET_S else "OVER"
    print(f"badges issued and printed    {result['badges']} ({result['pages']} A4 sheets)")
    print(f"issue + render (the command) {result['issue_and_render_s']:.2f} s ({ok} target 30 s)")
    print(f"  baseline: only sign        {result['sign_only_baseline_s']:.2f} s")
    print(f"  sign + record in badges.db {result['sign_and_record_s']:.2f} s")
    print(f"  render PDF                 {result['render_pdf_s']:.2f} s")
    print(f"  of which QR encoding       ~{result['qr_encode_s']:.2f} s (segno, timed apart)")
    print(f"PDF size                     {int(result['pdf_bytes']) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
