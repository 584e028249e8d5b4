"""`/metrics` for Prometheus: read from the store at each scrape (the console holds no counters
of its own, so every console process answers the same), plus the console's live pages.

Commit lag is the age of the oldest scan still waiting on a station (what the stations report
of their unacked backlog): it grows when the hub does not commit, whatever the reason (hub
down, broker away, a station cut off). The ingest runs in processes of its own and writes no
timings to the store, so a receive-to-commit time inside the hub is not measured here; the
delivery delay (scan to hub, last 60 s) is.

Served to loopback clients only (Prometheus on the hub server, or a reverse proxy that sets
X-Forwarded-For, which uvicorn honours for 127.0.0.1): the figures say how big the fleet is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from presensi.hub.attendance import signals
from presensi.hub.model import ALERT_KINDS

if TYPE_CHECKING:
    from presensi.hub.console.core import Console
    from presensi.hub.console.pages import StationView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector(Collector):
    def __init__(self, console: Console) -> None:
        self.console = console

    def collect(self) -> Iterator[Metric]:
        from presensi.hub.console.pages import fleet_now

        console = self.console
        views = fleet_now(console)
        rows = [v.row for v in views]
        states = GaugeMetricFamily(
            "presensi_stations", "Stations by state, as the console shows them", labels=["state"]
        )
        for state in ("online", "offline", "stale", "never"):
            states.add_metric([state], sum(v.state == state for v in views))
        yield states
        yield GaugeMetricFamily(
            "presensi_backlog_records",
            "Records the stations hold that the hub has not acked (their last report)",
            value=sum(r.backlog or 0 for r in rows),
        )
        yield GaugeMetricFamily(
            "presensi_alerts_open", "Open alerts", value=console.store.count_open_alerts()
        )
        by_kind = GaugeMetricFamily(
            "presensi_alerts_open_by_kind", "Open alerts by kind", labels=["kind"]
        )
        kinds = (*ALERT_KINDS, *signals.KINDS)  # every kind a series, 0 when none is open
        counts = dict.fromkeys(kinds, 0) | console.data.open_alerts_by_kind()
        for kind, count in sorted(counts.items()):
            by_kind.add_metric([kind], count)
        yield by_kind
        yield CounterMetricFamily(
            "presensi_scans_committed",
            "Scan records the hub has committed, all stations, since the store began",
            value=console.data.scans_committed(),
        )
        now = time.time_ns() // 1_000_000
        yield GaugeMetricFamily(
            "presensi_commit_lag_seconds",
            "Age of the oldest scan a station holds that the hub has not committed yet (each "
            "station's last report, on the hub's clock); 0 when every station is drained",
            value=commit_lag_s(views, now),
        )
        count, mean_ms, max_ms = console.data.arrivals_since(now - 60_000)
        yield GaugeMetricFamily(
            "presensi_scans_received_last_minute",
            "Scans the hub committed in the last 60 s",
            value=count,
        )
        yield GaugeMetricFamily(
            "presensi_delivery_delay_seconds_mean",
            "Scan to hub, mean over the last 60 s (station clock to hub clock)",
            value=mean_ms / 1000,
        )
        yield GaugeMetricFamily(
            "presensi_delivery_delay_seconds_max",
            "Scan to hub, the longest over the last 60 s (a backlog being delivered shows here)",
            value=max_ms / 1000,
        )
        yield GaugeMetricFamily(
            "presensi_attendance_marks_waiting",
            "Employee-days whose scans arrived and whose attendance is not derived yet: near 0 "
            "when the hub (or `presensi hub attendance follow`, with --no-derive) keeps up",
            value=console.data.attendance_marks_waiting(),
        )
        workers = GaugeMetricFamily(
            "presensi_hub_worker_connected",
            "Each hub worker's broker connection",
            labels=["worker"],
        )
        for w in console.store.hub_workers():
            workers.add_metric([w.client_id], 1.0 if w.connected else 0.0)
        yield workers
        yield GaugeMetricFamily(
            "presensi_console_live_pages",
            "Live pages open on this console process",
            value=console.feed.subscribers,
        )
        yield GaugeMetricFamily(
            "presensi_console_store_up",
            "1 while the console's live feed can read the store",
            value=1.0 if console.feed.healthy else 0.0,
        )


def commit_lag_s(views: Sequence[StationView], now_ms: int) -> float:
    """The oldest uncommitted scan's age: what each station reported as its oldest unacked
    record (its own clock, moved onto the hub's by the offset the hub measured), for stations
    that still hold a backlog."""
    oldest: int | None = None
    for view in views:
        at = view.oldest_unsent_ms
        if at is None or not view.row.backlog:
            continue
        at += view.row.clock_offset_ms or 0
        oldest = at if oldest is None else min(oldest, at)
    return 0.0 if oldest is None else max(0.0, (now_ms - oldest) / 1000)


def exposition(console: Console) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(console))
    return generate_latest(registry)
