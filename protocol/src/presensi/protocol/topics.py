"""MQTT topics (MQTT 3.1.1 suffices: QoS 1, retained messages, last will, persistent sessions).

presensi/v1/stations/{id}/scans      station -> hub   QoS 1, a signed batch of records
presensi/v1/stations/{id}/ack        hub -> station   QoS 1, {"upto": N}
presensi/v1/stations/{id}/status     station -> hub   retained; birth, last will "offline"
presensi/v1/stations/{id}/telemetry  station -> hub   periodic
presensi/v1/stations/{id}/config     hub -> station   retained, versioned config
presensi/v1/stations/{id}/cmd        hub -> station   commands
presensi/v1/stations/{id}/event      hub -> station   retained, the event it serves now or next
presensi/v1/fleet/keys               hub -> stations  retained, signed org key list
presensi/v1/fleet/revocations        hub -> stations  retained, signed revocation list
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from presensi.protocol.errors import ProtocolError

ROOT = "presensi/v1"
STATIONS = f"{ROOT}/stations"
FLEET_KEYS = f"{ROOT}/fleet/keys"
FLEET_REVOCATIONS = f"{ROOT}/fleet/revocations"
STATION_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

Kind = Literal["scans", "ack", "status", "telemetry", "config", "cmd", "event"]
KINDS: tuple[Kind, ...] = ("scans", "ack", "status", "telemetry", "config", "cmd", "event")


def station_topic(station: str, kind: Kind) -> str:
    if not STATION_ID.fullmatch(station):
        raise ProtocolError(f"not a valid station id: {station!r}")
    return f"{STATIONS}/{station}/{kind}"


def subscription(kind: Kind, share_group: str | None = None) -> str:
    """The hub's subscription to one kind of message from every station; with a share group,
    several hub workers split the messages between them ($share/GROUP/...)."""
    topic = f"{STATIONS}/+/{kind}"
    return f"$share/{share_group}/{topic}" if share_group else topic


@dataclass(frozen=True)
class StationTopic:
    station: str
    kind: Kind


def parse(topic: str) -> StationTopic:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != STATIONS or parts[4] not in KINDS:
        raise ProtocolError(f"not a station topic: {topic!r}")
    if not STATION_ID.fullmatch(parts[3]):
        raise ProtocolError(f"not a valid station id in topic: {topic!r}")
    return StationTopic(parts[3], parts[4])
