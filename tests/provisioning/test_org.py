"""The organisation folder: init (files, modes, refusal, --force), key rotation as a station sees
it (badges of both keys verify until the old key is retired; every new key list verifies with
the ring a station had before it), revocation publishing, and the `provision init|keys` CLI."""

from __future__ import annotations

import json
import stat
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from presensi.protocol import badge
from presensi.protocol.cli import main
from presensi.protocol.errors import ProtocolError
from presensi.protocol.fleet import open_document
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Reason
from presensi.provisioning.errors import ProvisioningError
from presensi.provisioning.org import Org

DAY = 86_400


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def station_ring(org: Org) -> KeyRing:
    """What a station loads: org-keys.json."""
    return KeyRing.from_json(json.loads(org.org_keys_path.read_text()))


def signed_keys(org: Org, trusted: KeyRing) -> dict[str, object]:
    """The signed key list as a station applies it: only if a key it trusts signed it."""
    return open_document(org.org_keys_signed_path.read_bytes(), trusted, "keys")


def a_badge(key: SigningKey, employee: str, serial: int) -> str:
    now = int(time.time())
    return badge.issue(key, employee, serial, now - DAY, now + DAY).to_text()


def verdict(text: str, ring: KeyRing) -> Reason:
    return badge.verify(text, ring, Revocations(), int(time.time())).reason


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def org(tmp_path: Path) -> Org:
    return Org.init(tmp_path / "org", "Trans Semarang")


def test_init_writes_the_folder_contract_with_private_modes(tmp_path: Path) -> None:
    folder = tmp_path / "org"
    org = Org.init(folder, "PT BLU UPTD Trans Semarang", "Asia/Makassar")
    key = org.signing_key()
    kid = key.key_id.hex()

    assert mode(folder) == 0o700
    assert mode(folder / "keys") == 0o700
    assert mode(folder / "keys" / f"badge-{kid}.key") == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [
        "keys",
        "keys.json",
        "org-keys.json",
        "org-keys.signed.json",
        "org.toml",
        "revocations.json",  # an empty signed list from the start (version 1)
        "revocations.signed.json",
    ]
    meta = tomllib.loads((folder / "org.toml").read_text())
    assert (meta["name"], meta["timezone"]) == ("PT BLU UPTD Trans Semarang", "Asia/Makassar")
    listed = json.loads((folder / "keys.json").read_text())
    assert listed["version"] == 1
    assert [(k["key_id"], k["status"]) for k in listed["keys"]] == [(kid, "active")]
    assert isinstance(listed["keys"][0]["created_ms"], int)
    trusted = json.loads((folder / "org-keys.json").read_text())
    assert trusted["version"] == 1
    assert station_ring(org).keys.keys() == {key.key_id}
    assert signed_keys(org, station_ring(org))["version"] == 1

    again = Org.open(folder)
    assert (again.name, again.timezone) == ("PT BLU UPTD Trans Semarang", "Asia/Makassar")
    assert again.signing_key().key_id == key.key_id


def test_init_refuses_an_existing_org_and_force_sets_the_old_keys_aside(org: Org) -> None:
    before = files_of(org.path)
    with pytest.raises(ProvisioningError, match=r"already holds an organisation.*--force"):
        Org.init(org.path, "Someone Else")
    assert files_of(org.path) == before  # nothing touched

    old = org.signing_key()
    new_org = Org.init(org.path, "PT Baru", force=True)
    new = new_org.signing_key()
    assert new.key_id != old.key_id
    assert station_ring(new_org).keys.keys() == {new.key_id}
    aside = [p for p in org.path.iterdir() if p.name.startswith("replaced-")]
    assert len(aside) == 1
    kept = aside[0] / "keys" / f"badge-{old.key_id.hex()}.key"
    assert kept.read_bytes() == before[f"keys/badge-{old.key_id.hex()}.key"]
    assert (aside[0] / "org.toml").read_bytes() == before["org.toml"]
    assert Org.open(org.path).name == "PT Baru"


@pytest.mark.parametrize(
    ("name", "timezone", "message"),
    [
        ("PT X", "Asia/Jakrta", "unknown time zone 'Asia/Jakrta'"),
        ("PT X", "asia/jakarta", "write it as 'Asia/Jakarta'"),
        ("  ", "Asia/Jakarta", "needs a name"),
    ],
)
def test_init_refuses_bad_input_and_writes_nothing(
    tmp_path: Path, name: str, timezone: str, message: str
) -> None:
    with pytest.raises(ProvisioningError, match=message):
        Org.init(tmp_path / "org", name, timezone)
    assert not (tmp_path / "org").exists()


def test_open_explains_a_missing_or_incomplete_org(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError, match="no organisation folder"):
        Org.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProvisioningError, match=r"not an organisation folder \(no org.toml\)"):
        Org.open(tmp_path / "empty")
    org = Org.init(tmp_path / "org", "PT X")
    org.keys_json.unlink()
    with pytest.raises(ProvisioningError, match=r"incomplete: no keys.json"):
        Org.open(org.path)
    org = Org.init(tmp_path / "org2", "PT X")
    org.key_path(org.signing_key().key_id.hex()).unlink()
    with pytest.raises(ProvisioningError, match=r"private key of active badge key .* is missing"):
        Org.open(org.path).signing_key()


def test_rotation_as_a_station_sees_it(org: Org) -> None:
    old = org.signing_key()
    ring_v1 = station_ring(org)  # what every station has before the rotation
    old_badge = a_badge(old, "EMP-00001", 1)

    new = org.add_key()
    assert new.key_id != old.key_id
    assert org.signing_key().key_id == new.key_id  # the new key signs from now on
    assert org.key_list_version() == 2
    new_badge = a_badge(org.signing_key(), "EMP-00002", 2)
    # a station that only trusts the old key accepts the new list (signed by the old key) ...
    doc = signed_keys(org, ring_v1)
    assert (doc["version"], json.loads(org.org_keys_signed_path.read_text())["key_id"]) == (
        2,
        old.key_id.hex(),
    )
    assert KeyRing.from_json(doc).keys.keys() == {old.key_id, new.key_id}
    # ... and with it, badges of both keys verify
    ring_v2 = station_ring(org)
    assert verdict(old_badge, ring_v2) is Reason.OK
    assert verdict(new_badge, ring_v2) is Reason.OK
    assert verdict(new_badge, ring_v1) is Reason.UNKNOWN_KEY  # the reason to publish the list

    retired = org.retire_key(old.key_id.hex())
    assert retired.status == "retired"
    assert org.key_list_version() == 3
    ring_v3 = station_ring(org)
    assert ring_v3.keys.keys() == {new.key_id}
    assert verdict(old_badge, ring_v3) is Reason.UNKNOWN_KEY
    assert verdict(new_badge, ring_v3) is Reason.OK
    # the retirement list is signed by the remaining key, which the station trusts since v2
    assert signed_keys(org, ring_v2)["version"] == 3
    with pytest.raises(ProtocolError, match="unknown key"):
        signed_keys(org, KeyRing.of([old.public]))
    # keys.json keeps the retired key, marked
    statuses = {e.key_id: e.status for e in org.key_entries()}
    assert statuses == {old.key_id.hex(): "retired", new.key_id.hex(): "active"}
    assert org.key_ring().keys.keys() == {new.key_id}


def test_retiring_the_signing_key_falls_back_to_the_older_active_key(org: Org) -> None:
    first = org.signing_key()
    second = org.add_key()
    ring = station_ring(org)
    org.retire_key(second.key_id)  # bytes work as well as hex
    assert org.signing_key().key_id == first.key_id
    assert json.loads(org.org_keys_signed_path.read_text())["key_id"] == first.key_id.hex()
    assert signed_keys(org, ring)["version"] == 3


def test_retire_refuses_the_last_key_an_unknown_key_and_a_retired_one(org: Org) -> None:
    only = org.signing_key().key_id.hex()
    before = files_of(org.path)
    with pytest.raises(ProvisioningError, match=r"last active key.*keys add"):
        org.retire_key(only)
    with pytest.raises(ProvisioningError, match=f"no badge key 'deadbeef'.*{only} \\(active\\)"):
        org.retire_key("deadbeef")
    assert files_of(org.path) == before
    org.add_key()
    org.retire_key(only.upper())
    with pytest.raises(ProvisioningError, match="already retired"):
        org.retire_key(only)


def test_a_phone_issuing_key_is_trusted_but_never_signs_cards(org: Org, tmp_path: Path) -> None:
    card_signer = org.signing_key().key_id
    old_ring = org.key_ring()
    out = tmp_path / "hub" / "phone.pem"
    out.parent.mkdir()
    key = org.add_phone_key(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not org.key_path(key.key_id.hex()).exists()  # the private half is on the hub only
    assert org.signing_key().key_id == card_signer
    # stations take the new list (signed by the card key they trust) and accept the phone key
    doc = open_document(org.signed_keys_document(), old_ring, "keys")
    assert key.key_id in KeyRing.from_json(doc).keys
    (entry,) = [e for e in org.key_entries() if e.key_id == key.key_id.hex()]
    assert entry.purpose == "phones"
    with pytest.raises(ProvisioningError, match="exists"):
        org.add_phone_key(out)
    # retiring the card key still needs another card key: the phone key cannot sign badges
    with pytest.raises(ProvisioningError, match="last active key"):
        org.retire_key(card_signer)
    org.retire_key(key.key_id)  # a lost hub key: its phones stop verifying (unknown_key)
    assert key.key_id not in org.key_ring().keys


def test_published_revocations_are_signed_and_must_grow(org: Org) -> None:
    assert org.revocations() == Revocations(1, frozenset())  # made by init, empty
    first = open_document(org.revocations_signed_path.read_bytes(), org.key_ring(), "revocations")
    assert (first["version"], first["serials"]) == (1, [])
    org.publish_revocations(Revocations(2, frozenset({7, 9})))
    assert org.revocations() == Revocations(2, frozenset({7, 9}))
    doc = open_document(org.revocations_signed_path.read_bytes(), org.key_ring(), "revocations")
    assert (doc["version"], doc["serials"]) == (2, [7, 9])
    with pytest.raises(ProvisioningError, match="not above the current 2"):
        org.publish_revocations(Revocations(2, frozenset({7})))


# -- the command line ------------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["provision", *args], env=env, catch_exceptions=False)


def test_cli_init_and_keys(tmp_path: Path) -> None:
    folder = tmp_path / "org"
    made = run("init", "--org", str(folder), "--name", "Trans Semarang")
    assert made.exit_code == 0, made.output
    first = Org.open(folder).signing_key().key_id.hex()
    assert first in made.output

    again = run("init", "--org", str(folder), "--name", "PT Lain")
    assert again.exit_code == 2
    assert "already holds an organisation" in again.output
    assert Org.open(folder).name == "Trans Semarang"

    env = {"PRESENSI_ORG": str(folder)}  # --org defaults to $PRESENSI_ORG
    added = run("keys", "add", env=env)
    assert added.exit_code == 0, added.output
    second = Org.open(folder).signing_key().key_id.hex()
    assert f"new badge key {second}" in added.output
    assert f"signed by {first}" in added.output

    listed = run("keys", "list", env=env)
    assert listed.exit_code == 0, listed.output
    assert "key list version 2" in listed.output
    assert f"{second}  active" in listed.output
    assert "<- signs badges" in listed.output.splitlines()[-1]

    assert run("keys", "retire", first, env=env).exit_code == 0
    last = run("keys", "retire", second, env=env)
    assert last.exit_code == 2
    assert "last active key" in last.output
    assert "retired" in run("keys", "list", env=env).output

    bad = run("init", "--org", str(tmp_path / "o2"), "--name", "X", "--timezone", "Mars/Base")
    assert bad.exit_code == 2
    assert "unknown time zone" in bad.output
    missing = run("keys", "list", "--org", str(tmp_path / "nothing"))
    assert missing.exit_code == 2
    assert "presensi provision init" in missing.output


def test_cli_force_replaces_the_org(tmp_path: Path) -> None:
    folder = tmp_path / "org"
    assert run("init", "--org", str(folder), "--name", "PT A").exit_code == 0
    old = Org.open(folder).signing_key().key_id
    forced = run("init", "--org", str(folder), "--name", "PT B", "--force", "--with-ca")
    assert forced.exit_code == 0, forced.output
    org = Org.open(folder)
    assert (org.name, org.has_ca) == ("PT B", True)
    assert org.signing_key().key_id != old
    assert mode(folder / "ca" / "ca.key") == 0o600
