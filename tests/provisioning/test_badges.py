"""The badge registry (org/badges.db), the revocation list it writes, and `presensi badge ...`
through the real command line: issue, reissue, revoke and verify with their outputs and exit
codes."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from presensi.protocol import badge as badge_token
from presensi.protocol.cli import main
from presensi.protocol.errors import ProtocolError
from presensi.protocol.fleet import open_document
from presensi.protocol.keys import Revocations
from presensi.protocol.reasons import Reason
from presensi.provisioning import badges
from presensi.provisioning.badges import BadgeError, IssuedBadge, Registry
from presensi.provisioning.employees import Employee, employees_csv, import_employees
from presensi.provisioning.org import Org

DAY = 86_400
STAFF = [
    Employee("EMP-00001", "Siti Nurhaliza", "Pramudi (driver)", "Pagi"),
    Employee("EMP-00002", "Muhammad Rizky Pratama", "Teknik", "Siang"),
    Employee("EMP-00003", "Ni Luh Putu Ayu Kartika Dewi", "Kantor", "Pagi"),
    Employee("EMP-00004", "Rénata Sitompul", "Pramudi (driver)", "Malam"),
]


@pytest.fixture
def org(tmp_path: Path) -> Org:
    org = Org.init(tmp_path / "org", "Perum Angkutan Kota Semarang")
    import_employees(org, employees_csv(STAFF).encode())
    return org


def now_s() -> int:
    return int(time.time())


def check(
    org: Org, token: str, revoked: Revocations | None = None, at: int | None = None
) -> Reason:
    listed = org.revocations() if revoked is None else revoked
    at = now_s() if at is None else at
    return badge_token.verify(token, org.key_ring(), listed, at).reason


def rows(org: Org) -> list[badges.BadgeRecord]:
    with Registry.of(org) as registry:
        return registry.all()


def signed_list(org: Org) -> dict[str, object]:
    """The signed revocation list, opened with the org's key ring as a station would."""
    return open_document(org.revocations_signed_path.read_bytes(), org.key_ring(), "revocations")


# -- the registry ---------------------------------------------------------------------------


def test_issue_signs_records_and_verifies(org: Org) -> None:
    issued = badges.issue(org, STAFF)
    assert [b.serial for b in issued] == [1, 2, 3, 4]
    assert [b.employee for b in issued] == [e.number for e in STAFF]
    assert issued[3].name == "Rénata Sitompul"
    for b in issued:
        assert check(org, b.token) is Reason.OK
        token = badge_token.parse(b.token)
        assert (token.serial, token.employee, token.key_id.hex()) == (
            b.serial,
            b.employee,
            b.key_id,
        )
    recorded = rows(org)
    assert [(r.serial, r.employee, r.revoked_ms, r.issue_reason) for r in recorded] == [
        (b.serial, b.employee, None, "new") for b in issued
    ]
    assert recorded[0].key_id == org.signing_key().key_id.hex()
    assert (recorded[0].valid_from, recorded[0].valid_until) == (
        issued[0].valid_from,
        issued[0].valid_until,
    )


def test_validity_runs_from_the_local_start_of_day_for_the_days_given(org: Org) -> None:
    # 2026-11-28 10:30 WIB = 03:30 UTC
    at = 1_795_836_600
    (b,) = badges.issue(org, STAFF[:1], valid_days=30, now_ms=at * 1000)
    assert b.valid_from == 1_795_798_800  # 2026-11-28 00:00 WIB
    assert b.valid_until == b.valid_from + 30 * DAY
    assert check(org, b.token, at=at) is Reason.OK
    assert check(org, b.token, at=b.valid_until) is Reason.EXPIRED
    with pytest.raises(BadgeError):
        badges.issue(org, STAFF[1:2], valid_days=0)


def test_serials_increase_and_are_never_reused(org: Org) -> None:
    first = badges.issue(org, STAFF[:2])

    # a run that fails before its commit hands out nothing and leaves no row behind
    def fail(_: list[IssuedBadge]) -> None:
        raise OSError("printer folder not writable")

    with pytest.raises(OSError, match="printer"):
        badges.issue(org, STAFF[2:], before_commit=fail)
    assert [r.serial for r in rows(org)] == [1, 2]
    # a row removed by hand (say, from a damaged backup) does not free its serial
    with sqlite3.connect(org.badges_db) as db:
        db.execute("DELETE FROM badges WHERE serial = 2")
    db.close()
    second = badges.issue(org, STAFF[2:])
    reissued = badges.reissue(org, STAFF[0], "lost").badge
    serials = [b.serial for b in [*first, *second, reissued]]
    assert serials == [1, 2, 3, 4, 5]
    assert len({r.serial for r in rows(org)}) == len(rows(org))


def test_concurrent_issuers_get_distinct_serials(org: Org) -> None:
    groups = [
        [Employee(f"T{g}-{i}", f"Pegawai {g} {i}", "Teknik", "Pagi") for i in range(15)]
        for g in range(4)
    ]
    results: list[list[IssuedBadge]] = []
    errors: list[BaseException] = []

    def run(group: list[Employee]) -> None:
        try:
            results.append(badges.issue(Org.open(org.path), group))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    serials = sorted(b.serial for batch in results for b in batch)
    assert serials == list(range(1, 61))
    for batch in results:  # each run got one contiguous block
        assert [b.serial for b in batch] == list(range(batch[0].serial, batch[0].serial + 15))


def test_a_second_issue_is_refused_unless_told_what_to_do_with_holders(org: Org) -> None:
    badges.issue(org, STAFF[:2])
    with pytest.raises(BadgeError, match="2 employee\\(s\\) already hold a valid badge"):
        badges.issue(org, STAFF)
    assert len(rows(org)) == 2  # nothing changed
    skipped = badges.issue(org, STAFF, existing="skip")
    assert [b.employee for b in skipped] == ["EMP-00003", "EMP-00004"]
    assert badges.issue(org, STAFF, existing="skip") == []
    renewed = badges.issue(org, STAFF[:1], existing="renew")
    assert renewed[0].serial == 5
    # the renewed employee now holds two valid badges; nothing was revoked
    assert org.revocations().serials == frozenset()


def test_an_employee_listed_twice_is_refused(org: Org) -> None:
    with pytest.raises(BadgeError, match="listed twice: EMP-00001"):
        badges.issue(org, [STAFF[0], STAFF[1], STAFF[0]])
    assert rows(org) == []


def test_reissue_revokes_the_old_badge_and_points_to_the_new(org: Org) -> None:
    old = badges.issue(org, STAFF)
    result = badges.reissue(org, STAFF[1], "lost")
    new = result.badge
    assert new.serial == 5 and new.employee == "EMP-00002"
    assert result.replaced == [2]
    assert result.list is not None
    assert result.list.revocations == Revocations(2, frozenset({2}))
    record = {r.serial: r for r in rows(org)}
    assert record[2].revoke_reason == badges.REISSUED == "reissued"
    assert record[2].replaced_by == 5
    assert record[5].issue_reason == "lost" and not record[5].revoked
    assert check(org, old[1].token) is Reason.REVOKED
    assert check(org, new.token) is Reason.OK
    assert check(org, old[0].token) is Reason.OK
    # a second reissue replaces the replacement
    again = badges.reissue(org, STAFF[1], "damaged")
    assert again.replaced == [5]
    assert again.list is not None and again.list.revocations.version == 3
    assert again.list.revocations.serials == frozenset({2, 5})


def test_revoke_by_serial_and_by_employee_bumps_the_list_version(org: Org) -> None:
    issued = badges.issue(org, STAFF)
    renewed = badges.issue(org, STAFF[3:], existing="renew")[0]
    versions = []
    r1 = badges.revoke(org, 1, "lost")
    assert (r1.serials, r1.employee) == ([1], "EMP-00001")
    versions.append(r1.list.revocations.version)
    r2 = badges.revoke(org, "EMP-00004", "left")
    assert r2.serials == [4, renewed.serial]  # every unrevoked badge of theirs
    versions.append(r2.list.revocations.version)
    versions.append(badges.rewrite_revocations(org).revocations.version)
    assert versions == [2, 3, 4]  # init made version 1, empty
    assert org.revocations() == Revocations(4, frozenset({1, 4, renewed.serial}))
    assert check(org, issued[0].token) is Reason.REVOKED
    assert check(org, issued[3].token) is Reason.REVOKED
    assert check(org, issued[1].token) is Reason.OK
    record = {r.serial: r for r in rows(org)}
    assert record[1].revoke_reason == "lost" and record[4].revoke_reason == "left"


def test_revocation_refusals_change_nothing(org: Org) -> None:
    badges.issue(org, STAFF[:1])
    badges.revoke(org, 1)
    before = org.revocations_path.read_bytes()
    with pytest.raises(BadgeError, match="already revoked"):
        badges.revoke(org, 1)
    with pytest.raises(BadgeError, match="no badge with serial 99"):
        badges.revoke(org, 99)
    with pytest.raises(BadgeError, match="no badge was issued to employee 'EMP-09999'"):
        badges.revoke(org, "EMP-09999")
    with pytest.raises(BadgeError, match="already revoked"):
        badges.revoke(org, "EMP-00001")
    assert org.revocations_path.read_bytes() == before


def test_the_signed_list_verifies_with_the_org_key_ring_and_matches_the_plain_one(
    org: Org,
) -> None:
    badges.issue(org, STAFF)
    badges.revoke(org, 2)
    badges.revoke(org, 3)
    doc = signed_list(org)
    plain = json.loads(org.revocations_path.read_text())
    assert doc == {"kind": "revocations", **plain}
    assert plain == {"version": 3, "serials": [2, 3]}
    # the signature covers the content: an edited list is refused
    edited = org.revocations_signed_path.read_bytes().replace(b"[2,3]", b"[3]")
    with pytest.raises(ProtocolError, match="does not verify"):
        open_document(edited, org.key_ring(), "revocations")
    # after a key rotation the list is signed by the new key, which stations are given too
    org.add_key()
    listed = badges.rewrite_revocations(org)
    outer = json.loads(listed.signed_path.read_text())
    assert outer["key_id"] == org.signing_key().key_id.hex()
    assert signed_list(org)["version"] == 4


def test_the_list_version_stays_above_a_newer_file(org: Org) -> None:
    badges.issue(org, STAFF)
    org.publish_revocations(Revocations(10, frozenset()))  # e.g. restored from elsewhere
    assert badges.revoke(org, 1).list.revocations.version == 11
    assert badges.revoke(org, 2).list.revocations.version == 12


def test_long_expired_revoked_serials_leave_the_list_after_the_grace_period(org: Org) -> None:
    now = now_s()
    grace = badges.REVOCATION_GRACE_DAYS * DAY
    # expired a year ago (beyond the grace period), and expired a week ago (within it)
    (old,) = badges.issue(org, STAFF[:1], valid_from=now - 400 * DAY, valid_days=35)
    (recent,) = badges.issue(org, STAFF[1:2], valid_from=now - 30 * DAY, valid_days=23)
    (current,) = badges.issue(org, STAFF[2:3])
    assert old.valid_until < now - grace < recent.valid_until < now
    for b in (old, recent, current):
        badges.revoke(org, b.serial)
    assert org.revocations().serials == frozenset({recent.serial, current.serial})
    # the dropped badge is still rejected by its expiry, and the registry keeps its row
    assert check(org, old.token) is Reason.EXPIRED
    assert rows(org)[0].revoked


def test_registry_schema_has_the_documented_columns(org: Org) -> None:
    badges.issue(org, STAFF[:1])
    with sqlite3.connect(org.badges_db) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(badges)")]
    db.close()
    assert columns[:9] == [
        "serial",
        "employee",
        "key_id",
        "valid_from",
        "valid_until",
        "issued_ms",
        "revoked_ms",
        "revoke_reason",
        "replaced_by",
    ]


# -- the command line -----------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["badge", *args], env=env, input=stdin, catch_exceptions=False)


def issued_token(org: Org, serial: int, out: Path) -> str:
    """The token of a badge as printed: decode the PDF the command wrote (see test_badge_pdf
    for the full check of every card)."""
    import pypdfium2
    import zxingcpp

    document = pypdfium2.PdfDocument(out)
    try:
        for page in document:
            image = page.render(scale=150 / 72, grayscale=True).to_pil()
            for found in zxingcpp.read_barcodes(image):
                if badge_token.parse(found.text).serial == serial:
                    return str(found.text)
    finally:
        document.close()
    raise AssertionError(f"serial {serial} not in {out}")


def test_issue_command_writes_the_pdf_and_refuses_a_second_run(org: Org, tmp_path: Path) -> None:
    out = tmp_path / "badges.pdf"
    result = cli("issue", "--org", str(org.path), "--out", str(out), "--valid-days", "30")
    assert result.exit_code == 0, result.output
    assert "issued 4 badge(s), serials 1-4" in result.output
    assert "1 A4 sheet(s)" in result.output
    assert out.read_bytes().startswith(b"%PDF-")
    assert check(org, issued_token(org, 3, out)) is Reason.OK

    again = cli("issue", "--org", str(org.path), "--out", str(tmp_path / "again.pdf"))
    assert again.exit_code == 2
    assert "already hold a valid badge" in again.output
    assert not (tmp_path / "again.pdf").exists()
    assert list(tmp_path.glob(".*.tmp")) == []


def test_issue_command_takes_an_employees_file_and_the_org_from_the_environment(
    org: Org, tmp_path: Path
) -> None:
    staff = tmp_path / "new-hires.csv"
    staff.write_text(employees_csv([Employee("EMP-00900", "Agus Salim", "Teknik", "Pagi")]))
    out = tmp_path / "new.pdf"
    result = cli(
        "issue", "--employees", str(staff), "--out", str(out), env={"PRESENSI_ORG": str(org.path)}
    )
    assert result.exit_code == 0, result.output
    assert [r.employee for r in rows(org)] == ["EMP-00900"]


def test_a_failed_pdf_records_no_badge(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = cli("issue", "--org", str(org.path), "--out", str(tmp_path / "no" / "b.pdf"))
    assert missing.exit_code == 2
    assert "no such folder for --out" in missing.output
    assert rows(org) == []

    from presensi.provisioning import badge_pdf

    def disk_full(out: Path, *args: object, **kwargs: object) -> None:
        Path(out).write_bytes(b"%PDF-1.4 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(badge_pdf, "render_pdf", disk_full)
    out = tmp_path / "badges.pdf"
    result = cli("issue", "--org", str(org.path), "--out", str(out))
    assert result.exit_code == 2
    assert "error: [Errno 28] No space left on device" in result.output
    assert rows(org) == []
    assert list(tmp_path.iterdir()) == [org.path]  # neither the PDF nor its temporary file
    assert badges.issue(org, STAFF[:1])[0].serial == 1


def test_reissue_and_revoke_commands_print_the_list_version_and_next_step(
    org: Org, tmp_path: Path
) -> None:
    assert cli("issue", "--org", str(org.path), "--out", str(tmp_path / "a.pdf")).exit_code == 0
    out = tmp_path / "replacement.pdf"
    result = cli(
        "reissue", "--org", str(org.path), "EMP-00002", "--reason", "lost", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "issued badge 5 to EMP-00002 (Muhammad Rizky Pratama)" in result.output
    assert "revoked 2 (reissued); revocation list version 2" in result.output
    signed = org.revocations_signed_path
    assert f"next: presensi hub publish-fleet --revocations {signed} --broker" in result.output
    assert "--username hub --password-file" in result.output
    assert check(org, issued_token(org, 5, out)) is Reason.OK

    result = cli("revoke", "--org", str(org.path), "--serial", "1", "--reason", "left")
    assert result.exit_code == 0, result.output
    assert "revoked 1 (EMP-00001): left" in result.output
    assert f"revocation list version 3 (2 serials): {signed}" in result.output
    assert f"next: presensi hub publish-fleet --revocations {signed}" in result.output
    result = cli("revoke", "--org", str(org.path), "--employee", "EMP-00004")
    assert result.exit_code == 0, result.output
    assert "revocation list version 4 (3 serials)" in result.output
    assert signed_list(org)["serials"] == [1, 2, 4]

    assert cli("revoke", "--org", str(org.path), "--serial", "1").exit_code == 2
    assert cli("revoke", "--org", str(org.path)).exit_code == 2
    both = cli("revoke", "--org", str(org.path), "--serial", "3", "--employee", "EMP-00003")
    assert both.exit_code == 2
    unknown = cli("reissue", "--org", str(org.path), "EMP-77777", "--out", str(out))
    assert unknown.exit_code == 2 and "EMP-77777" in unknown.output


@pytest.fixture
def tokens(org: Org) -> dict[str, str]:
    """A valid, a revoked, a tampered and an expired token."""
    now = now_s()
    good, revoked = badges.issue(org, STAFF[:2])
    badges.revoke(org, revoked.serial, "lost")
    start = badges.start_of_day(now - 10 * DAY)
    (expired,) = badges.issue(org, STAFF[2:3], valid_from=start, valid_days=5)
    raw = bytearray(badge_token.parse(good.token).to_bytes())
    raw[20] ^= 0x01  # inside the employee number: still well-formed, no longer signed
    tampered = badge_token.PREFIX + __import__("base64").b32encode(bytes(raw)).decode().rstrip("=")
    return {
        "ok": good.token,
        "revoked": revoked.token,
        "tampered": tampered,
        "expired": expired.token,
    }


def fields(output: str) -> dict[str, str]:
    out = {}
    for line in output.splitlines():
        name, _, value = line.partition("  ")
        out[name.strip()] = value.strip()
    return out


@pytest.mark.parametrize(
    ("case", "exit_code", "verdict"),
    [
        ("ok", 0, "accepted (ok)"),
        ("revoked", 1, "rejected (revoked)"),
        ("tampered", 1, "rejected (bad_signature)"),
        ("expired", 1, "rejected (expired)"),
    ],
)
def test_verify_prints_fields_and_verdict(
    org: Org, tokens: dict[str, str], case: str, exit_code: int, verdict: str
) -> None:
    result = cli("verify", tokens[case], "--org", str(org.path))
    assert result.exit_code == exit_code, result.output
    shown = fields(result.output)
    assert shown["verdict"] == verdict
    token = badge_token.parse(tokens[case])
    assert shown["employee"] == token.employee
    assert shown["serial"] == str(token.serial)
    assert shown["key id"].startswith(org.signing_key().key_id.hex())
    # validity in Asia/Jakarta
    assert shown["valid from"].endswith("00:00 WIB")
    assert shown["valid until"].endswith("00:00 WIB (exclusive)")
    if case == "tampered":
        assert "may be forged" in shown["warning"]
    if case == "revoked":
        assert "(lost)" in shown["registry"]


def test_verify_with_a_key_file_and_a_signed_revocation_list(
    org: Org, tokens: dict[str, str]
) -> None:
    keys = ["--keys", str(org.org_keys_path)]
    signed = ["--revocations", str(org.revocations_signed_path)]
    assert cli("verify", tokens["ok"], *keys, *signed).exit_code == 0
    revoked = cli("verify", tokens["revoked"], *keys, *signed)
    assert (revoked.exit_code, fields(revoked.output)["verdict"]) == (1, "rejected (revoked)")
    # without a list the revocation is not known: the output says so
    unchecked = cli("verify", tokens["revoked"], *keys)
    assert unchecked.exit_code == 0
    assert "not checked" in fields(unchecked.output)["revocations"]
    plain = cli("verify", tokens["revoked"], *keys, "--revocations", str(org.revocations_path))
    assert plain.exit_code == 1


def test_verify_reads_stdin_and_checks_at_a_given_time(org: Org, tokens: dict[str, str]) -> None:
    token = badge_token.parse(tokens["ok"])
    assert cli("verify", "-", "--org", str(org.path), stdin=tokens["ok"] + "\n").exit_code == 0
    later = cli("verify", tokens["ok"], "--org", str(org.path), "--at", str(token.valid_until))
    assert fields(later.output)["verdict"] == "rejected (expired)"
    earlier = cli("verify", tokens["ok"], "--org", str(org.path), "--at", "2000-01-01")
    assert fields(earlier.output)["verdict"] == "rejected (not_yet_valid)"


@pytest.mark.parametrize(
    ("text", "reason"),
    [("https://example.com/", "not_a_badge"), ("PRS1:AAAA", "malformed")],
)
def test_verify_of_something_that_is_not_a_badge(org: Org, text: str, reason: str) -> None:
    result = cli("verify", text, "--org", str(org.path))
    assert result.exit_code == 1
    shown = fields(result.output)
    assert shown["verdict"] == f"rejected ({reason})"
    assert shown["decoded"].startswith("no:")


def test_verify_usage_errors_exit_2(org: Org, tokens: dict[str, str], tmp_path: Path) -> None:
    both = cli("verify", tokens["ok"], "--org", str(org.path), "--keys", str(org.org_keys_path))
    assert both.exit_code == 2
    assert cli("verify", tokens["ok"], "--org", str(org.path), "--at", "soon").exit_code == 2
    assert cli("verify", tokens["ok"], "--org", str(tmp_path / "nowhere")).exit_code == 2
    assert cli("verify", tokens["ok"], "--keys", str(tmp_path / "nowhere.json")).exit_code == 2
    # a signed list by a key not in the ring is refused, not ignored
    other = Org.init(tmp_path / "other", "Another org")
    badges.issue(other, STAFF[:1])
    badges.revoke(other, 1)
    forged = cli(
        "verify",
        tokens["ok"],
        "--org",
        str(org.path),
        "--revocations",
        str(other.revocations_signed_path),
    )
    assert forged.exit_code == 2
    assert "unknown key" in forged.output
