"""Hypothesis against every network input: each message kind (scans, ack, status, telemetry,
settings, fleet documents), scan records and journal export files, with the kind's own fields
holding hostile values, unknown fields with hostile contents, deep nesting, and bytes that are
not UTF-8. Decoders keep their properties (tests/protocol/wire_oracle.py), the hub's ingest
handles every such message without raising, and a station applies or drops it without raising
and still stores readable records afterwards. Bounded here; tests/fuzz/fuzz_wire.py runs the
same properties under atheris for as long as one likes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from presensi.device import config as station_config
from presensi.device.station import Parts, Station
from presensi.device.testbed import create, sample_draft
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.hub.ingest import Ingest, _Message
from presensi.hub.store import SqlStore, StationInfo, open_store
from presensi.protocol import topics
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import raw_public
from presensi.protocol.record import decode_record
from tests.protocol import wire_oracle
from tests.protocol.wire_oracle import SHAPES, STATION, STATION_KEY

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**53 + 1, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["\x00", "\ud7ff", "é" * 200, "online", "0" * 32, "f" * 64, "", " "]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def hostile(draw: st.DrawFn, kind: str) -> bytes:
    """A message shaped like `kind`, with hostile values, unknown fields, nesting, bad bytes."""
    doc: dict[str, Any] = dict(SHAPES.get(kind, {}))
    for name in draw(st.lists(st.sampled_from(sorted(doc) or ["x"]), max_size=3, unique=True)):
        doc[name] = draw(values)
    for _ in range(draw(st.integers(0, 2))):
        doc[draw(st.text(min_size=1, max_size=12))] = draw(values)
    text = json.dumps(doc, allow_nan=False).encode()
    trick = draw(st.integers(0, 4))
    if trick == 1:  # an unknown field holding bytes that are not UTF-8
        junk = bytes(draw(st.lists(st.integers(0x80, 0xFF), min_size=1, max_size=6)))
        text = text[:-1] + b',"zz":"' + junk + b'"}'
    elif trick == 2:  # nested past any parser's depth, where a field's value would be
        depth = draw(st.sampled_from([200, 3000, 20000]))
        text = text[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"
    elif trick == 3:  # a byte changed
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + bytes([draw(st.integers(0, 255))]) + text[at + 1 :]
    elif trick == 4:  # cut short
        text = text[: draw(st.integers(0, len(text)))]
    return text


# -- the decoders ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SHAPES))
@EXAMPLES
@given(data=st.data())
def test_decoders_give_their_schema_or_a_protocol_error(kind: str, data: st.DataObject) -> None:
    wire_oracle.check_decoders(kind, data.draw(hostile(kind)))


@EXAMPLES
@given(payload=hostile("record").map(lambda line: b'{"station":"st-pool-mangkang-01"}\n' + line))
def test_export_files_give_an_export_or_a_protocol_error(payload: bytes) -> None:
    wire_oracle.check_decoders("export", payload)


# -- what applies them ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hub.db'}")
    assert isinstance(opened, SqlStore)
    opened.migrate()
    opened.register_station(StationInfo(STATION, raw_public(STATION_KEY.public), "pool-mangkang"))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def ingest(store: SqlStore) -> Ingest:
    return Ingest(store, "mqtt://127.0.0.1:1")  # never connected: messages are handed in


@pytest.mark.parametrize("kind", ["scans", "status", "telemetry"])
@EXAMPLES
@given(data=st.data())
def test_the_hubs_ingest_takes_any_message_without_raising(
    ingest: Ingest, kind: str, data: st.DataObject
) -> None:
    shape = {"scans": "batch", "status": "status", "telemetry": "telemetry"}[kind]
    payload = data.draw(hostile(shape))
    station = data.draw(st.sampled_from([STATION, "st-other-01", "UPPER", "x" * 70]))
    message = _Message(f"{topics.STATIONS}/{station}/{kind}", payload, 1, len(payload))
    ingest._one(message)  # rejects, applies or returns a batch; never raises


@pytest.mark.parametrize(
    "payload",
    [
        b'{"ts_ms":1,"last_seq":1,"acked_upto":1,"backlog":0,"note":"\xff\xfe"}',
        b'{"ts_ms":1,"last_seq":1,"acked_upto":1,"backlog":0,"note":'
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        b"[" * 20000 + b"]" * 20000,
    ],
    ids=["unknown field not UTF-8", "nested unknown field", "nested"],
)
@pytest.mark.parametrize("kind", ["status", "telemetry", "scans"])
def test_the_messages_that_once_stalled_ingest_are_one_reject_each(
    ingest: Ingest, store: SqlStore, kind: str, payload: bytes
) -> None:
    before = ingest.stats.rejected
    message = _Message(f"{topics.STATIONS}/{STATION}/{kind}", payload, 1, len(payload))
    assert ingest._one(message) is None
    assert ingest.stats.rejected == before + 1


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    bed = create(tmp_path_factory.mktemp("st") / "st", broker="mqtt://127.0.0.1:1")
    made = Station(station_config.load(bed.config_path), Parts(RecordingIndicator()))
    yield made
    made.close()


@pytest.mark.parametrize("kind", ["ack", "config", "keys", "revocations"])
@EXAMPLES
@given(data=st.data())
def test_a_station_drops_or_applies_any_message_and_still_stores_readable_records(
    station: Station, kind: str, data: st.DataObject
) -> None:
    uplink = station.uplink
    assert uplink is not None
    shape = {"ack": "ack", "config": "settings", "keys": "fleet", "revocations": "fleet"}[kind]
    topic = {
        "ack": topics.station_topic(station.config.station.id, "ack"),
        "config": topics.station_topic(station.config.station.id, "config"),
        "keys": topics.FLEET_KEYS,
        "revocations": topics.FLEET_REVOCATIONS,
    }[kind]
    payload = data.draw(hostile(shape))
    with contextlib.suppress(ProtocolError):  # only a protocol error may escape
        uplink._receive(topic, payload)  # what paho's callback runs
    record = station.journal.append(sample_draft())
    assert decode_record(record.canonical()) == record


def test_the_fuzz_target_shares_these_properties() -> None:
    target = Path(__file__).parent / "fuzz" / "fuzz_wire.py"
    assert "wire_oracle.check_decoders" in target.read_text()
