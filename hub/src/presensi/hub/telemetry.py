"""Each station's telemetry over time, for the console's station page: one sample per station
per five minutes (the last report of the bucket, with the highest backlog seen in it), kept for
a week. At one report a minute from 1,000 stations that is 288,000 rows a day, not 1.4 million."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from presensi.protocol.wire import Telemetry

if TYPE_CHECKING:
    from presensi.hub.store import Database

BUCKET_MS = 5 * 60_000
RETENTION_MS = 7 * 86_400_000


@dataclass(frozen=True)
class Sample:
    bucket_ms: int
    received_ms: int
    backlog: int  # as of the bucket's last report
    backlog_max: int  # the highest of the bucket
    oldest_unacked_ms: int | None
    disk_free_mb: int | None
    clock_synced: bool
    clock_offset_ms: int | None
    decode_fps: float


def record(db: Database, station: str, received_ms: int, t: Telemetry) -> None:
    """Fold one telemetry report into its station's five-minute sample."""
    bucket = received_ms - received_ms % BUCKET_MS
    with db.transaction():
        db.execute(
            "INSERT INTO telemetry_samples (station, bucket_ms, received_ms, backlog, "
            "backlog_max, oldest_unacked_ms, disk_free_mb, clock_synced, clock_offset_ms, "
            "decode_fps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (station, bucket_ms) DO UPDATE SET "
            "received_ms = excluded.received_ms, backlog = excluded.backlog, "
            "backlog_max = CASE WHEN excluded.backlog > telemetry_samples.backlog_max "
            "THEN excluded.backlog ELSE telemetry_samples.backlog_max END, "
            "oldest_unacked_ms = excluded.oldest_unacked_ms, "
            "disk_free_mb = excluded.disk_free_mb, clock_synced = excluded.clock_synced, "
            "clock_offset_ms = excluded.clock_offset_ms, decode_fps = excluded.decode_fps",
            (
                station,
                bucket,
                received_ms,
                t.backlog,
                t.backlog,
                t.oldest_unacked_ms,
                t.disk_free_mb,
                t.clock_synced,
                # the hub's view of the station's clock, as the fleet page shows it
                received_ms - t.ts_ms,
                t.decode_fps,
            ),
        )


def samples(db: Database, station: str, since_ms: int) -> list[Sample]:
    rows = db.execute(
        "SELECT bucket_ms, received_ms, backlog, backlog_max, oldest_unacked_ms, disk_free_mb, "
        "clock_synced, clock_offset_ms, decode_fps FROM telemetry_samples "
        "WHERE station = ? AND bucket_ms >= ? ORDER BY bucket_ms",
        (station, since_ms - since_ms % BUCKET_MS),
    )
    return [
        Sample(
            int(r[0]),
            int(r[1]),
            int(r[2]),
            int(r[3]),
            None if r[4] is None else int(r[4]),
            None if r[5] is None else int(r[5]),
            bool(r[6]),
            None if r[7] is None else int(r[7]),
            float(r[8]),
        )
        for r in rows
    ]


def purge(db: Database, before_ms: int) -> int:
    """Delete the samples of buckets before `before_ms`; how many went."""
    with db.transaction():
        old = db.execute("SELECT COUNT(*) FROM telemetry_samples WHERE bucket_ms < ?", (before_ms,))
        db.execute("DELETE FROM telemetry_samples WHERE bucket_ms < ?", (before_ms,))
    return int(old[0][0])
