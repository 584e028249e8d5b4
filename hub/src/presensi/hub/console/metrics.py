"""`/metrics` for Prometheus: read from the store at each scrape (the console holds no counters
of its own, so every console process answers the same), plus the console's live pages.

Served to loopback clients only (Prometheus on the hub server, or a reverse proxy that sets
X-Forwarded-For, which uvicorn honours for 127.0.0.1): the figures say how big the fleet is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from presensi.hub.console.core import Console

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
        now = time.time_ns() // 1_000_000
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


def exposition(console: Console) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(console))
    return generate_latest(registry)
