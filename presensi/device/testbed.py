"""A throwaway station on disk: org key, badges, config and journal in one folder.

Used by the demo, the benchmarks and the tests, so each of them runs a real station
(the same config loading, journal and scan loop) without any hardware or provisioning.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from presensi.protocol import badge
from presensi.protocol.keys import KeyRing, Revocations, SigningKey, save_signing_key

DAY_S = 86_400


@dataclass(frozen=True)
class StationFolder:
    folder: Path
    config_path: Path
    org: SigningKey
    tokens: list[str]

    @property
    def journal_path(self) -> Path:
        return self.folder / "journal.db"


def make_tokens(
    org: SigningKey, count: int, *, prefix: str = "EMP", first_serial: int = 1
) -> list[str]:
    now = int(time.time())
    return [
        badge.issue(
            org, f"{prefix}-{i:05d}", first_serial + i, now - DAY_S, now + 365 * DAY_S
        ).to_text()
        for i in range(count)
    ]


def create(
    folder: Path,
    *,
    station: str = "st-test-01",
    employees: int = 50,
    camera: str = "sim",
    fps: float | None = None,
    indicator: str = "console",
    mode: str = "auto",
    window_s: int = 120,
    revoked: tuple[int, ...] = (),
    org_seed: bytes | None = None,
    broker: str = "",
    uplink: Mapping[str, float | int] | None = None,
) -> StationFolder:
    folder.mkdir(parents=True, exist_ok=True)
    org = SigningKey.from_seed(org_seed) if org_seed else SigningKey.generate()
    tokens = make_tokens(org, employees)
    (folder / "org-keys.json").write_text(json.dumps(KeyRing.of([org.public]).to_json()))
    (folder / "revocations.json").write_text(
        json.dumps(Revocations(1, frozenset(revoked)).to_json())
    )
    (folder / "badges.txt").write_text("\n".join(tokens) + "\n")
    key_path = folder / "station.key"
    if not key_path.exists():
        save_signing_key(key_path, SigningKey.generate())
    settings = {"reconnect_min_s": 0.2, "reconnect_max_s": 2, "resend_s": 5, "telemetry_s": 2}
    settings.update(uplink or {})
    fps_line = f"fps = {fps}\n" if fps else ""
    config = folder / "station.toml"
    config.write_text(
        f'[station]\nid = "{station}"\nlocation = "pool-test"\nmode = "{mode}"\n'
        f"duplicate_window_s = {window_s}\nconfig_version = 1\n"
        f'[camera]\nbackend = "{camera}"\nsource = "badges.txt"\n{fps_line}retry_s = 0.2\n'
        f'[indicator]\nbackend = "{indicator}"\n'
        f"[journal]\nmin_free_mb = 1\n"
        f'[clock]\nsource = "synced"\n'
        f'[uplink]\nbroker = "{broker}"\n' + "".join(f"{k} = {v}\n" for k, v in settings.items())
    )
    return StationFolder(folder, config, org, tokens)
