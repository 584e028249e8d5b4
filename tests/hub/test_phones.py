"""Phone enrollment at the hub (SQLite and PostgreSQL): one-time codes, certificates the
stations verify, one active phone per employee, and refused input that changes nothing."""

from __future__ import annotations

import base64
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from presensi.hub import phones
from presensi.hub.errors import HubError
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore, open_store
from presensi.protocol import phone
from presensi.protocol.cli import main
from presensi.protocol.keys import KeyRing, Revocations, SigningKey, load_signing_key
from presensi.protocol.reasons import Reason
from tests.hub.conftest import OpenStore

BUDI = Person("TS-0101", "Budi Santoso", "Pramudi Koridor I", "pagi")
NOW_MS = 1_796_000_000_000
KEY = SigningKey.from_seed(bytes(range(32)))


def raw_public(device: phone.DeviceKey) -> str:
    """What the page sends: WebCrypto's 'raw' export, uncompressed, in Base64."""
    raw = device.private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.b64encode(raw).decode()


def snapshot(store: SqlStore) -> tuple[object, ...]:
    db = store.database
    return (
        db.execute("SELECT * FROM phone_codes ORDER BY code_hash"),
        db.execute("SELECT * FROM phones ORDER BY serial"),
    )


@pytest.fixture
def db_with_budi(store: SqlStore) -> SqlStore:
    sync_people(store.database, [BUDI], 1)
    return store


def test_enrollment_certifies_a_phone_the_station_accepts(db_with_budi: SqlStore) -> None:
    db = db_with_budi.database
    code = phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS)
    assert len(code) == 14 and code.count("-") == 2
    assert code.replace("-", "") not in str(snapshot(db_with_budi))  # only its hash is kept
    device = phone.DeviceKey.generate()
    point = phones.device_point(raw_public(device))
    done = phones.enroll(db, KEY, code.lower().replace("-", " "), point, now_ms=NOW_MS)
    assert done.revoked == ()
    assert done.cert.employee == BUDI.number and done.cert.serial == phones.PHONE_SERIAL_BASE
    now_s = NOW_MS // 1000
    text = device.code_at(done.cert, now_s).to_text()
    verdict = phone.verify(text, KeyRing.of([KEY.public]), Revocations(), now_s)
    assert verdict.reason is Reason.OK
    (held,) = phones.phones_of(db, BUDI.number)
    assert held.certificate == done.cert.to_bytes() and held.state(now_s) == "aktif"


def test_reenrollment_revokes_the_previous_phone(db_with_budi: SqlStore) -> None:
    db = db_with_budi.database
    first = phones.enroll(
        db,
        KEY,
        phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS),
        phones.device_point(raw_public(phone.DeviceKey.generate())),
        now_ms=NOW_MS,
    )
    second = phones.enroll(
        db,
        KEY,
        phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS + 1),
        phones.device_point(raw_public(phone.DeviceKey.generate())),
        now_ms=NOW_MS + 2,
    )
    assert second.revoked == (first.cert.serial,)
    assert second.cert.serial == first.cert.serial + 1
    states = [p.state(NOW_MS // 1000) for p in phones.phones_of(db, BUDI.number)]
    assert states == ["aktif", "diganti"]
    assert phones.revoked_serials(db) == [first.cert.serial]


def test_a_code_works_once_and_not_after_it_expires(db_with_budi: SqlStore) -> None:
    db = db_with_budi.database
    point = phones.device_point(raw_public(phone.DeviceKey.generate()))
    code = phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS)
    phones.enroll(db, KEY, code, point, now_ms=NOW_MS)
    before = snapshot(db_with_budi)
    with pytest.raises(phones.EnrollmentError) as used:
        phones.enroll(db, KEY, code, point, now_ms=NOW_MS)
    assert used.value.code == "used_code"
    late = phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS)
    before = snapshot(db_with_budi)
    with pytest.raises(phones.EnrollmentError) as expired:
        phones.enroll(db, KEY, late, point, now_ms=NOW_MS + phones.CODE_TTL_MS)
    assert expired.value.code == "expired_code"
    assert snapshot(db_with_budi) == before


def test_a_new_code_cancels_the_unused_one(db_with_budi: SqlStore) -> None:
    db = db_with_budi.database
    point = phones.device_point(raw_public(phone.DeviceKey.generate()))
    old = phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS)
    phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS + 1)
    with pytest.raises(phones.EnrollmentError, match="already used"):
        phones.enroll(db, KEY, old, point, now_ms=NOW_MS + 2)


@pytest.mark.parametrize(
    ("code", "key", "reason"),
    [
        ("", None, "bad_code"),
        ("ABCD-EFGH", None, "bad_code"),
        ("<script>", None, "bad_code"),
        ("ABCD-EFGH-JKMN", None, "unknown_code"),
        (None, "not base64!", "bad_key"),
        (None, base64.b64encode(b"\x04" + bytes(64)).decode(), "bad_key"),
        (None, base64.b64encode(bytes(33)).decode(), "bad_key"),
    ],
)
def test_bad_enrollment_input_is_refused_and_changes_nothing(
    db_with_budi: SqlStore, code: str | None, key: str | None, reason: str
) -> None:
    db = db_with_budi.database
    real = phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS)
    before = snapshot(db_with_budi)
    with pytest.raises(phones.EnrollmentError) as refused:
        point = phones.device_point(key or raw_public(phone.DeviceKey.generate()))
        phones.enroll(db, KEY, real if code is None else code, point, now_ms=NOW_MS)
    assert refused.value.code == reason
    assert str(refused.value)  # a sentence for the page
    assert snapshot(db_with_budi) == before


def test_no_code_for_an_unknown_employee(store: SqlStore) -> None:
    with pytest.raises(phones.EnrollmentError) as refused:
        phones.issue_code(store.database, "TS-9999", by="admin", now_ms=NOW_MS)
    assert refused.value.code == "unknown_employee"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_code_parser_refuses_or_normalises(text: str) -> None:
    try:
        code = phones.normalise_code(text)
    except phones.EnrollmentError as exc:
        assert exc.code == "bad_code"
    else:
        assert len(code) == phones.CODE_LENGTH
        assert set(code) <= set(phones.CODE_ALPHABET)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_device_key_parser_refuses_with_bad_key(text: str) -> None:
    with pytest.raises(phones.EnrollmentError) as refused:
        phones.device_point(text)
    assert refused.value.code == "bad_key"


def test_merged_revocations_are_newer_than_both_sources() -> None:
    org = Revocations(3, frozenset({17}))
    merged = phones.merged_revocations(org, [2**31])
    assert merged.serials == {17, 2**31}
    assert merged.version > phones.merged_revocations(org, []).version
    assert phones.merged_revocations(Revocations(4, frozenset()), [2**31]).version > merged.version


def test_cli_issuing_key_code_and_list(tmp_path: Path) -> None:
    """The admin's commands end to end: an org's phone issuing key, a code from the hub's
    store, a phone enrolled with it, listed."""
    runner = CliRunner()
    org_dir, pem = tmp_path / "org", tmp_path / "phone.pem"
    done = runner.invoke(main, ["provision", "init", "--name", "Trans Uji", "--org", str(org_dir)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        main, ["provision", "keys", "add-phone", "--out", str(pem), "--org", str(org_dir)]
    )
    assert done.exit_code == 0, done.output
    listed = runner.invoke(main, ["provision", "keys", "list", "--org", str(org_dir)])
    assert "phone issuing key" in listed.output
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    store.migrate()
    sync_people(store.database, [BUDI], 1)
    code = runner.invoke(main, ["hub", "phone", "enroll-code", BUDI.number, "--store", url])
    assert code.exit_code == 0, code.output
    key = load_signing_key(pem)
    point = phones.device_point(raw_public(phone.DeviceKey.generate()))
    cert = phones.enroll(store.database, key, code.output.strip(), point, now_ms=NOW_MS).cert
    store.close()
    shown = runner.invoke(main, ["hub", "phone", "list", BUDI.number, "--store", url])
    assert shown.output.startswith(f"{cert.serial}\taktif\t")
    unknown = runner.invoke(main, ["hub", "phone", "enroll-code", "TS-9999", "--store", url])
    assert unknown.exit_code != 0 and "no active employee" in unknown.output
    # lost: revoked by the admin, once; a second time says there is nothing to revoke
    lost = ["hub", "phone", "revoke", str(cert.serial), "--reason", "hilang", "--store", url]
    done = runner.invoke(main, lost)
    assert done.exit_code == 0 and f"revoked 1 phone(s): {cert.serial}" in done.output
    again = runner.invoke(main, lost)
    assert again.exit_code != 0 and "no active phone" in again.output
    shown = runner.invoke(main, ["hub", "phone", "list", BUDI.number, "--store", url])
    assert shown.output.startswith(f"{cert.serial}\tdicabut\t")  # revoked, not replaced


def test_hub_workers_enrolling_together_never_share_a_serial(
    db_with_budi: SqlStore, open_stores: OpenStore
) -> None:
    """Two console processes (two connections) enrolling at once: distinct serials."""
    people = [Person(f"TS-{n:04d}", f"Pegawai {n}", "Unit", "pagi") for n in range(8)]
    sync_people(db_with_budi.database, [BUDI, *people], 2)
    codes = [
        phones.issue_code(db_with_budi.database, p.number, by="admin", now_ms=NOW_MS)
        for p in people
    ]
    workers = [open_stores() for _ in range(2)]

    def enrol_half(w: int) -> list[int]:  # each worker its own connection, as a process has
        db = workers[w].database
        return [
            phones.enroll(
                db,
                KEY,
                codes[i],
                phones.device_point(raw_public(phone.DeviceKey.generate())),
                now_ms=NOW_MS,
            ).cert.serial
            for i in range(w, len(codes), 2)
        ]

    with ThreadPoolExecutor(2) as pool:
        serials = [s for half in pool.map(enrol_half, range(2)) for s in half]
    assert sorted(serials) == list(range(phones.PHONE_SERIAL_BASE, phones.PHONE_SERIAL_BASE + 8))


def test_a_replaced_phone_still_accepted_somewhere_is_not_a_punch(db_with_budi: SqlStore) -> None:
    """A station that has not heard of the new phone yet accepts the old one: that scan,
    made after the replacement, does not count; one made before it still does."""
    from presensi.hub.attendance import days
    from presensi.hub.store import StationInfo
    from presensi.protocol.wire import batch_of
    from tests.hub.attendance.factory import at, chain

    store, db = db_with_budi, db_with_budi.database
    enrolled = []
    for when in ("2026-12-07 04:00", "2026-12-07 09:00"):  # a new phone at 09:00
        code = phones.issue_code(db, BUDI.number, by="admin", now_ms=at(when))
        point = phones.device_point(raw_public(phone.DeviceKey.generate()))
        enrolled.append(phones.enroll(db, KEY, code, point, now_ms=at(when)).cert.serial)
    old = enrolled[0]
    station = "st-term-mangkang-01"
    store.register_station(StationInfo(station, bytes(32), "term-mangkang"))
    records = chain(
        station,
        [(BUDI.number, "2026-12-07 04:58", "in"), (BUDI.number, "2026-12-07 13:02", "out")],
        serial=old,  # the old phone, both times: the out is after it was replaced
    )
    store.ingest([batch_of(station, records[0].journal, records)], 1)
    while store.derive_attendance():
        pass
    day = days.stored_days(db, dt.date(2026, 12, 7), dt.date(2026, 12, 7))[0]
    assert (day.first_in_ms, day.last_out_ms, day.codes) == (
        at("2026-12-07 04:58"),
        None,
        ("PSW4",),
    )


def test_enrollment_refuses_an_employee_who_left_after_the_code(db_with_budi: SqlStore) -> None:
    db = db_with_budi.database
    code = phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS)
    sync_people(db, [], 2)  # Budi leaves
    before = snapshot(db_with_budi)
    point = phones.device_point(raw_public(phone.DeviceKey.generate()))
    with pytest.raises(phones.EnrollmentError) as refused:
        phones.enroll(db, KEY, code, point, now_ms=NOW_MS + 1000)
    assert refused.value.code == "inactive_employee" and snapshot(db_with_budi) == before


def test_a_lost_phone_or_a_leavers_phone_is_revoked(db_with_budi: SqlStore) -> None:
    db = db_with_budi.database
    serials = []
    for k in range(2):
        code = phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS + k)
        point = phones.device_point(raw_public(phone.DeviceKey.generate()))
        serials.append(phones.enroll(db, KEY, code, point, now_ms=NOW_MS + k).cert.serial)
    with pytest.raises(HubError):
        phones.revoke(db, reason="hilang", now_ms=NOW_MS + 5)  # neither a serial nor a person
    with pytest.raises(HubError):
        phones.revoke(db, reason=" ", now_ms=NOW_MS + 5, serial=serials[1])  # no reason
    assert phones.revoked_serials(db) == [serials[0]]  # replaced; refusals changed nothing
    sync_people(db, [], NOW_MS + 10)  # Budi leaves: his phone stops working
    assert phones.revoked_serials(db) == serials
    [left] = [p for p in phones.phones_of(db, BUDI.number) if p.serial == serials[1]]
    assert (left.revoked_ms, left.revoke_reason) == (NOW_MS + 10, "left")
    assert phones.revoke(db, reason="hilang", now_ms=NOW_MS + 20, employee=BUDI.number) == []


def test_scans_accepted_after_a_revocation_are_listed_for_the_alerts_page(
    db_with_budi: SqlStore,
) -> None:
    """The alerts page lists scans a station accepted with a card revoked, or a phone replaced,
    before they were made (it had not heard yet); not those made before, not other units'."""
    from presensi.device.testbed import sample_record
    from presensi.hub.console.data import ConsoleData
    from presensi.hub.store import StationInfo
    from presensi.protocol.record import GENESIS
    from presensi.protocol.wire import batch_of
    from tests.hub.attendance.factory import at

    store, db = db_with_budi, db_with_budi.database
    serials = []
    for when in ("2026-12-07 01:00", "2026-12-07 02:00"):  # the second phone replaces the first
        code = phones.issue_code(db, BUDI.number, by="admin", now_ms=at(when))
        point = phones.device_point(raw_public(phone.DeviceKey.generate()))
        serials.append(phones.enroll(db, KEY, code, point, now_ms=at(when)).cert.serial)
    db.execute(
        "INSERT INTO badges (serial, employee, valid_from_s, valid_until_s, issued_ms, "
        "updated_ms, revoked_ms) VALUES (7, ?, 0, 4000000000, 0, 0, ?)",
        (BUDI.number, at("2026-12-07 06:00")),
    )
    station = "st-halte-tugu-muda-01"
    store.register_station(StationInfo(station, bytes(32), "halte-tugu-muda"))
    records, prev = [], GENESIS
    for seq, (when, serial) in enumerate(
        [("2026-12-07 05:00", 7), ("2026-12-07 06:30", 7), ("2026-12-07 06:40", serials[0])], 1
    ):
        record = sample_record(
            station, seq, prev, employee=BUDI.number, serial=serial, wall_ms=at(when),
            clock_synced=True, clock_last_sync_ms=at(when), location="halte-tugu-muda",
        )  # fmt: skip
        records.append(record)
        prev = record.digest()
    store.ingest([batch_of(station, records[0].journal, records)], 1)
    listed = ConsoleData(db).accepted_after_revocation()
    assert sorted(s.wall_ms for s in listed) == [at("2026-12-07 06:30"), at("2026-12-07 06:40")]
    assert ConsoleData(db).accepted_after_revocation(units=["Teknik"]) == []  # not his unit
