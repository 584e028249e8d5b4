"""The console's parts alone: the catalogs, time names, passwords, the throttle, the live feed,
and the user commands."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.device.testbed import sample_chain
from presensi.hub.console import accounts, i18n
from presensi.hub.console.data import ConsoleData
from presensi.hub.console.live import Feed
from presensi.hub.console.timefmt import Clock
from presensi.hub.store import SqlStore, StationInfo, open_store
from presensi.protocol.cli import main
from presensi.protocol.wire import batch_of


def test_both_catalogs_have_every_key_and_the_same_fields() -> None:
    assert set(i18n.ID) == set(i18n.EN)
    for key, text in i18n.ID.items():
        fields = {part.split("}")[0] for part in text.split("{")[1:]}
        assert fields == {part.split("}")[0] for part in i18n.EN[key].split("{")[1:]}, key
    assert i18n.translator("xx")("nav.overview") == "Ringkasan"  # unknown: Bahasa Indonesia


@pytest.mark.parametrize(
    ("zone", "name"),
    [
        ("Asia/Jakarta", "WIB"),
        ("Asia/Pontianak", "WIB"),
        ("Asia/Makassar", "WITA"),
        ("Asia/Jayapura", "WIT"),
    ],
)
def test_indonesian_zones_are_named_as_people_say_them(zone: str, name: str) -> None:
    clock = Clock.named(zone)
    assert clock.abbreviation == name
    now = time.time_ns() // 10**6
    assert clock.time(now).endswith(f" {name}")
    start = clock.start_of_today_ms(now)
    assert 0 <= now - start < 86_400_000
    assert clock.local(start).hour == 0 and clock.local(start).minute == 0
    with pytest.raises(ValueError, match="unknown time zone"):
        Clock.named("Mars/Olympus")


def test_passwords_hash_with_argon2id_and_verify_in_constant_work() -> None:
    hashed = accounts.hash_password("kata-sandi-panjang")
    assert hashed.startswith("$argon2id$")
    assert accounts.verify_password(hashed, "kata-sandi-panjang")
    assert not accounts.verify_password(hashed, "kata-sandi-salah")
    assert not accounts.verify_password(None, "kata-sandi-panjang")  # no such user
    assert not accounts.verify_password("not a hash", "x")
    assert not accounts.verify_password(hashed, "x" * 5000)
    with pytest.raises(accounts.AccountError, match="at least"):
        accounts.hash_password("pendek")
    with pytest.raises(accounts.AccountError, match="user name"):
        accounts.check_name("Budi Santoso")


def test_the_throttle_locks_for_longer_each_time_and_a_success_clears_it() -> None:
    now = [0.0]
    throttle = accounts.Throttle(limit=3, base_s=10, max_s=40, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 0
    throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 10
    throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 20
    for _ in range(5):
        throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 40  # capped
    now[0] = 41
    assert throttle.wait_s("user:a") == 0
    throttle.succeeded("user:a")
    throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 0  # counting from zero again


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    s = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    assert isinstance(s, SqlStore)
    s.migrate()
    s.register_station(StationInfo("st-a", bytes(32), "pool-a"))
    return s


def test_the_feed_sends_each_committed_scan_once_to_every_page(store: SqlStore) -> None:
    from presensi.hub.console import live

    records = sample_chain("st-a", 6)
    clock = [2_000_000]
    feed = Feed(ConsoleData(store.database), lookback_ms=5000, now_ms=lambda: clock[0])

    async def run() -> tuple[list[int], list[int]]:
        await feed.start()
        await feed.stop()  # polled by hand below
        got: tuple[list[int], list[int]] = ([], [])
        async with feed.subscribe() as first, feed.subscribe() as second:
            store.ingest([batch_of("st-a", records[0].journal, list(records[:3]))], 2_000_100)
            clock[0] = 2_000_200
            await feed.poll()
            # a second worker commits later a scan that arrived earlier (inside the look-back):
            # the feed finds it when it looks behind its tail, and sends it once
            store.ingest([batch_of("st-a", records[0].journal, list(records[3:]))], 2_000_050)
            for _ in range(live.SWEEP_EVERY):
                await feed.poll()
            for queue, seqs in ((first, got[0]), (second, got[1])):
                while not queue.empty():
                    batch = queue.get_nowait()
                    assert batch is not None
                    seqs.extend(scan.seq for scan in batch.scans)
        assert feed.subscribers == 0
        return got

    first, second = asyncio.run(run())
    assert first == second == [1, 2, 3, 4, 5, 6]


def test_a_burst_bigger_than_a_page_is_sent_whole_and_in_order(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from presensi.hub.console import live

    monkeypatch.setattr(live, "PAGE", 7)  # 30 scans: five pages in one poll
    records = sample_chain("st-a", 30)
    clock = [2_000_000]
    feed = Feed(ConsoleData(store.database), now_ms=lambda: clock[0])

    async def run() -> list[int]:
        await feed.start()
        await feed.stop()
        async with feed.subscribe() as queue:
            store.ingest([batch_of("st-a", records[0].journal, list(records))], 2_000_100)
            clock[0] = 2_000_500
            await feed.poll()
            batch = queue.get_nowait()
            assert batch is not None and queue.empty()
            return [s.seq for s in batch.scans]

    assert asyncio.run(run()) == list(range(1, 31))


def test_user_commands(tmp_path: Path, store: SqlStore) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    secret = tmp_path / "pw"
    secret.write_text("sandi-admin-panjang\n")
    runner = CliRunner()
    base = ["hub", "user"]
    added = runner.invoke(
        main,
        [*base, "add", "--store", url, "sri", "--role", "admin", "--password-file", str(secret)],
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(
        main,
        [*base, "add", "--store", url, "sri", "--role", "viewer", "--password-file", str(secret)],
    )
    assert again.exit_code == 2 and "exists already" in again.output
    short = runner.invoke(
        main, [*base, "add", "--store", url, "budi", "--role", "viewer"], input="pendek\n"
    )
    assert short.exit_code == 2 and "at least" in short.output
    bad = runner.invoke(
        main, [*base, "add", "--store", url, "Budi!", "--role", "viewer"], input="x" * 12 + "\n"
    )
    assert bad.exit_code == 2 and "user name" in bad.output
    viewer = runner.invoke(
        main,
        [*base, "add", "--store", url, "kabag", "--role", "viewer", "--unit", "Pramudi Koridor I"],
        input="y" * 12 + "\n",
    )
    assert viewer.exit_code == 0, viewer.output
    listed = runner.invoke(main, [*base, "list", "--store", url])
    assert listed.exit_code == 0
    assert [line.split()[:2] for line in listed.output.splitlines()] == [
        ["kabag", "viewer"],
        ["sri", "admin"],
    ]
    changed = runner.invoke(main, [*base, "password", "--store", url, "sri"], input="z" * 12 + "\n")
    assert changed.exit_code == 0 and "sessions have ended" in changed.output
    user = ConsoleData(store.database).user("sri")
    assert (
        user is not None
        and user.session_epoch == 1
        and accounts.verify_password(user.password_hash, "z" * 12)
    )
    missing = runner.invoke(main, [*base, "list", "--store", f"sqlite:///{tmp_path / 'none.db'}"])
    assert missing.exit_code == 2 and not (tmp_path / "none.db").exists()


def test_hub_web_refuses_a_bad_listen_address_and_a_missing_store(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["hub", "web", "--secret-file", str(tmp_path / "secret")]
    bad = runner.invoke(main, [*args, "--listen", "8080"])
    assert bad.exit_code == 2 and "HOST:PORT" in bad.output
    missing = runner.invoke(main, [*args, "--store", f"sqlite:///{tmp_path / 'none.db'}"])
    assert missing.exit_code == 2 and "no hub store" in missing.output
    assert not (tmp_path / "none.db").exists()


def test_a_scan_stamped_in_the_future_does_not_blind_the_feed(store: SqlStore) -> None:
    """A worker whose clock runs ahead commits scans 'from the future': the feed shows them and
    still shows what the other workers commit meanwhile."""
    records = sample_chain("st-a", 3)
    clock = [1_000_000]
    feed = Feed(ConsoleData(store.database), lookback_ms=5000, now_ms=lambda: clock[0])

    async def run() -> list[int]:
        await feed.start()
        await feed.stop()
        seqs = []
        async with feed.subscribe() as queue:
            store.ingest([batch_of("st-a", records[0].journal, [records[0]])], 1_000_000 + 600_000)
            await feed.poll()
            clock[0] += 1000
            store.ingest([batch_of("st-a", records[0].journal, list(records[1:]))], clock[0])
            await feed.poll()
            while not queue.empty():
                batch = queue.get_nowait()
                assert batch is not None
                seqs.extend(scan.seq for scan in batch.scans)
        return seqs

    assert asyncio.run(run()) == [1, 2, 3]


def test_the_shared_cache_computes_once_per_ttl_across_threads() -> None:
    import threading

    from presensi.hub.console.cache import Shared

    now = [0.0]
    shared = Shared(1.0, clock=lambda: now[0])
    calls: list[int] = []
    gate = threading.Event()

    def slow() -> int:
        gate.wait(5)
        calls.append(1)
        return len(calls)

    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(shared.get("k", slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert got == [1] * 8 and len(calls) == 1  # one computed it, the others waited for it
    now[0] = 0.9
    assert shared.get("k", slow) == 1  # still fresh
    now[0] = 1.1
    assert shared.get("k", slow) == 2  # stale: read again
    assert shared.get("other", lambda: 7) == 7  # keys apart

    def failing() -> int:
        raise RuntimeError("store down")

    now[0] = 5.0
    with pytest.raises(RuntimeError):
        shared.get("k", failing)
    assert shared.get("k", slow) == 3  # a failure is not kept
    off = Shared(0)
    assert [off.get("k", slow) for _ in range(2)] == [4, 5]  # ttl 0: nothing kept


def test_month_names_follow_the_language() -> None:
    clock = Clock.named("Asia/Jakarta")
    some_day = 1_765_000_000_000  # 6 Dec 2025 (not today)
    assert clock.date(some_day) == "6 Des 2025"
    assert clock.speaking("en").date(some_day) == "6 Dec 2025"
    assert " Dec " in clock.speaking("en").time(some_day)
    assert clock.speaking("xx").date(some_day) == "6 Des 2025"


def test_codes_have_readable_names_and_unknown_ones_stay_as_they_are() -> None:
    from presensi.hub.attendance import signals
    from presensi.hub.model import ALERT_KINDS

    for lang in i18n.LANGUAGES:
        name = i18n.named(lang)
        for kind in (*ALERT_KINDS, *signals.KINDS):  # the cheating signals too
            assert name("alert", kind) != kind, (lang, kind)
        assert name("alert", "something_new") == "something_new"
        assert name("action", "login") in ("masuk", "logged in")
    assert i18n.named("en")("reason", "bad_signature") == "forged signature"
    assert i18n.named("id")("action", "attendance.approved") == "menyetujui koreksi"
