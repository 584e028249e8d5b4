"""The merged revocation list the running hub keeps on the broker (SQLite and PostgreSQL):
which lists it trusts, what it learns from them, when it publishes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from presensi.hub import phones
from presensi.hub.people import sync_people
from presensi.hub.revocation_publisher import RevocationPublisher, org_part
from presensi.hub.store import SqlStore
from presensi.protocol import phone, topics
from presensi.protocol.cli import main
from presensi.protocol.fleet import keys_document, open_document, revocations_document
from presensi.protocol.keys import KeyRing, Revocations, SigningKey, save_signing_key
from tests.hub.test_phones import BUDI, KEY, NOW_MS

ORG = SigningKey.from_seed(b"\x33" * 32)
REVOKED = topics.FLEET_REVOCATIONS


def published(document: bytes | None) -> Revocations:
    assert document is not None
    return Revocations.from_json(open_document(document, KeyRing.of([KEY.public]), "revocations"))


def replace_phone(store: SqlStore, times: int = 1) -> None:
    db = store.database
    for i in range(times):
        code = phones.issue_code(db, BUDI.number, by="admin", now_ms=NOW_MS + i)
        point = phone.DeviceKey.generate().public_point
        phones.enroll(db, KEY, code, point, now_ms=NOW_MS + i)


def test_nothing_before_the_org_list_then_the_merged_list_once(store: SqlStore) -> None:
    sync_people(store.database, [BUDI], 1)
    replace_phone(store, 2)  # one revoked phone
    hub = RevocationPublisher(KEY, KeyRing.of([ORG.public]))
    assert hub.due(store.database) is None  # without the org's cards it would un-revoke them
    hub.heard(REVOKED, revocations_document(Revocations(9, frozenset({5})), SigningKey.generate()))
    assert hub.due(store.database) is None and hub.org is None  # not signed by the org
    hub.heard(REVOKED, b"{not json")
    assert hub.due(store.database) is None
    hub.heard(REVOKED, revocations_document(Revocations(3, frozenset({5})), ORG))
    merged = published(hub.due(store.database))
    assert merged == Revocations((3 << 24) + 1, frozenset({5, phones.PHONE_SERIAL_BASE}))
    assert hub.due(store.database) is None  # the broker has it
    hub.heard(REVOKED, revocations_document(merged, KEY))  # its own list, echoed back
    assert hub.due(store.database) is None and hub.org == Revocations(3, frozenset({5}))
    replace_phone(store)
    assert published(hub.due(store.database)).version == (3 << 24) + 2
    hub.forget_broker()  # the broker restarted: the list goes again once it is back
    assert published(hub.due(store.database)).version == (3 << 24) + 2


def test_an_older_org_list_on_the_broker_is_replaced_by_the_merged_one(store: SqlStore) -> None:
    hub = RevocationPublisher(KEY, KeyRing.of([ORG.public]))
    hub.heard(REVOKED, revocations_document(Revocations(4, frozenset({1, 2})), ORG))
    assert published(hub.due(store.database)).version == 4 << 24
    hub.heard(REVOKED, revocations_document(Revocations(3, frozenset({1})), ORG))
    assert published(hub.due(store.database)) == Revocations(4 << 24, frozenset({1, 2}))


def test_a_rotated_org_key_is_trusted_through_the_signed_key_list(store: SqlStore) -> None:
    new = SigningKey.from_seed(b"\x44" * 32)
    hub = RevocationPublisher(KEY, KeyRing.of([ORG.public]), 2)
    hub.heard(REVOKED, revocations_document(Revocations(5, frozenset({7})), new))
    assert hub.due(store.database) is None
    old_list = keys_document(KeyRing.of([ORG.public, new.public]), 2, ORG)  # not newer
    hub.heard(topics.FLEET_KEYS, old_list)
    hub.heard(REVOKED, revocations_document(Revocations(5, frozenset({7})), new))
    assert hub.due(store.database) is None
    hub.heard(topics.FLEET_KEYS, keys_document(KeyRing.of([new.public]), 3, ORG))
    hub.heard(REVOKED, revocations_document(Revocations(5, frozenset({7})), new))
    assert published(hub.due(store.database)) == Revocations(5 << 24, frozenset({7}))


def test_the_org_part_of_a_merged_list() -> None:
    bare = Revocations(3, frozenset({1, 2**31}))
    assert org_part(bare, merged=False) == bare
    merged = Revocations((3 << 24) + 1, frozenset({1, 2**31}))
    assert org_part(merged, merged=True) == Revocations(3, frozenset({1}))
    # a merged list signed by another (an earlier) phone key still says so by its version
    assert org_part(merged, merged=False) == Revocations(3, frozenset({1}))


def test_hub_run_wants_the_org_keys_with_the_phone_key(tmp_path: Path) -> None:
    key = tmp_path / "phone.key"
    save_signing_key(key, KEY)
    result = CliRunner().invoke(
        main, ["hub", "run", "--store", f"sqlite:///{tmp_path}/hub.db", "--phone-key", str(key)]
    )
    assert result.exit_code == 2 and "--org-keys" in result.output


class NoPhones:
    """The store's answers when no phone is revoked (the publisher's only query)."""

    def execute(self, sql: str, params: object = ()) -> list[tuple[int, ...]]:
        return [(0,)] if "COUNT" in sql else []


SIGNED_ORG = revocations_document(Revocations(3, frozenset({1, 2})), ORG)


def flipped(bits: set[int]) -> bytes:
    """The org's signed list with these bits flipped."""
    raw = bytearray(SIGNED_ORG)
    for i in bits:
        raw[i // 8] ^= 1 << (i % 8)
    return bytes(raw)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.sets(st.integers(0, len(SIGNED_ORG) * 8 - 1), min_size=1, max_size=4).map(flipped),
    ),
    st.sampled_from([topics.FLEET_REVOCATIONS, topics.FLEET_KEYS]),
)
def test_hostile_fleet_documents_change_nothing(payload: bytes, topic: str) -> None:
    """Whatever arrives on the fleet topics: nothing raised, no list adopted but the org's
    (the atheris target tests/fuzz/fuzz_phone_hub.py goes further)."""
    hub = RevocationPublisher(KEY, KeyRing.of([ORG.public]))
    hub.heard(topic, payload)
    document = hub.due(NoPhones())  # type: ignore[arg-type]
    if payload == SIGNED_ORG and topic == REVOKED:
        assert published(document) == Revocations(3 << 24, frozenset({1, 2}))
    else:
        assert document is None and hub.org is None
