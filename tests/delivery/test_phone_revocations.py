"""A re-enrolled phone refused at a connected station within seconds, with no admin command:
the running hub (with the phone key) keeps the merged revocation list published, over a real
Mosquitto, to a running station."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

from presensi.hub import phones
from presensi.hub.people import Person, sync_people
from presensi.hub.revocation_publisher import RevocationPublisher
from presensi.hub.service import Hub
from presensi.hub.store import SqlStore
from presensi.protocol import phone
from presensi.protocol.fleet import revocations_document
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Reason
from tests.delivery.fleet import Fleet, FleetStation
from tests.delivery.test_registry import wait_for

PHONE_KEY = SigningKey.from_seed(b"\x22" * 32)
BUDI = Person("TS-0101", "Budi Santoso", "Pramudi Koridor I", "pagi")


def enroll(fleet: Fleet) -> tuple[phone.DeviceKey, phone.DeviceCertificate]:
    store = fleet.store()
    assert isinstance(store, SqlStore)
    try:
        now_ms = time.time_ns() // 1_000_000
        code = phones.issue_code(store.database, BUDI.number, by="admin", now_ms=now_ms)
        device = phone.DeviceKey.generate()
        done = phones.enroll(store.database, PHONE_KEY, code, device.public_point, now_ms=now_ms)
        return device, done.cert
    finally:
        store.close()


def scan(station: FleetStation, device: phone.DeviceKey, cert: phone.DeviceCertificate) -> Reason:
    assert station.station is not None
    text = device.code_at(cert, time.time_ns() // 10**9).to_text()
    station._clock_ns += 2 * 10**9  # past the debouncer
    (record,) = station.station.loop.handle([text], station._clock_ns)
    return record.reason


@contextlib.contextmanager
def running_hub(fleet: Fleet, publisher: RevocationPublisher) -> Iterator[Hub]:
    """A hub as `presensi hub run --phone-key` runs it: its loop publishes the list."""
    hub = Hub(fleet.store_url, fleet.broker_url, revocations=publisher)
    thread = threading.Thread(target=hub.run, daemon=True)
    thread.start()
    try:
        assert hub.ingest.connected.wait(10), "hub did not connect"
        yield hub
    finally:
        hub.stop()
        thread.join(15)


def revoked_at(station: FleetStation) -> Revocations:
    assert station.station is not None
    return station.station.decider.revoked


def test_a_replaced_phone_is_refused_at_a_connected_station_within_seconds(fleet: Fleet) -> None:
    store = fleet.store()
    assert isinstance(store, SqlStore)
    sync_people(store.database, [BUDI], 1)
    store.close()
    (station,) = fleet.add_stations(1)
    # the stations trust the phone key (as `provision keys add-phone` lists it in org-keys.json)
    keys = {"version": 2, **KeyRing.of([fleet.org.public, PHONE_KEY.public]).to_json()}
    (station.folder.folder / "org-keys.json").write_text(json.dumps(keys))
    publisher = RevocationPublisher(PHONE_KEY, KeyRing.of([fleet.org.public]), 1)
    with running_hub(fleet, publisher) as hub:
        station.start()
        first_hub_part(fleet, hub, station, publisher)
    # a hub restarted later learns the org's list back from its own retained merged list
    again = RevocationPublisher(PHONE_KEY, KeyRing.of([fleet.org.public]), 1)
    with running_hub(fleet, again):
        assert wait_for(lambda: again.org == Revocations(4, frozenset({1, 2})))
        new_serial = max(revoked_at(station).serials) + 1  # the phone enrolled second
        third_device, third_cert = enroll(fleet)
        assert wait_for(lambda: new_serial in revoked_at(station))
        assert revoked_at(station).version == (4 << 24) + 2
        assert revoked_at(station).serials == {1, 2, new_serial - 1, new_serial}
        assert scan(station, third_device, third_cert) is Reason.OK


def first_hub_part(
    fleet: Fleet, hub: Hub, station: FleetStation, publisher: RevocationPublisher
) -> None:
    old_device, old_cert = enroll(fleet)
    assert scan(station, old_device, old_cert) is Reason.OK

    # the hub publishes nothing before it knows the org's list (it would un-revoke cards);
    # a list signed by a key the org does not have is not the org's
    hub.publish_fleet(
        revocations=revocations_document(Revocations(9, frozenset()), SigningKey.generate())
    )
    time.sleep(3)
    assert publisher.org is None and revoked_at(station).version == 1
    # the admin publishes the org's list as always: the hub answers with the merged one
    hub.publish_fleet(revocations=revocations_document(Revocations(3, frozenset({1})), fleet.org))
    assert wait_for(lambda: revoked_at(station).version == 3 << phones.PHONE_VERSION_BITS)

    # re-enrollment: no admin command, the old phone is refused within seconds
    new_device, new_cert = enroll(fleet)
    started = time.monotonic()
    assert wait_for(lambda: old_cert.serial in revoked_at(station), timeout=15)
    assert time.monotonic() - started < 12  # hub every 2 s, station reload every 5 s
    assert revoked_at(station) == Revocations((3 << 24) + 1, frozenset({1, old_cert.serial}))
    assert scan(station, old_device, old_cert) is Reason.REVOKED
    assert scan(station, new_device, new_cert) is Reason.OK

    # the trap: the admin revokes a card and publishes the bare org list (version 4, lower than
    # the merged one, so the stations would ignore it); the hub puts the merged list back
    hub.publish_fleet(
        revocations=revocations_document(Revocations(4, frozenset({1, 2})), fleet.org)
    )
    assert wait_for(lambda: revoked_at(station).version == (4 << 24) + 1)
    assert revoked_at(station).serials == {1, 2, old_cert.serial}
