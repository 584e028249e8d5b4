"""The phone badge page in a real browser (Debian's chromium, headless, Playwright), served by
`presensi hub web --phone-key`: an admin makes an enrollment code on the employee's page, a
phone (390 px wide) enrols with it, and the QR the page draws goes through the station's real
decoder (zxing-cpp) and decider: accepted in its window, refused after it, still fresh with
the phone offline and the hub stopped, refused as revoked once the employee enrols another
phone. Screenshots go to the test's folder (and to PRESENSI_SCREENSHOTS=DIR: docs/phone/).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from presensi.demo.mosquitto import free_port
from presensi.device.clock import ClockState
from presensi.device.config import StationSection
from presensi.device.decide import Decider, Moment
from presensi.hardware.decoder_zbar import ZbarDecoder
from presensi.hardware.decoder_zxing import ZxingDecoder
from presensi.hub import phones
from presensi.hub.console import accounts
from presensi.hub.console.data import ConsoleData
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore, open_store
from presensi.protocol import phone
from presensi.protocol.cli import main
from presensi.protocol.fleet import open_document
from presensi.protocol.keys import KeyRing, Revocations, SigningKey, save_signing_key
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import ScanRecord

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PRESENSI = str(Path(sys.executable).with_name("presensi"))
PASSWORD = "sandi-uji-yang-panjang"
PHONE = {"width": 390, "height": 844}
BUDI = Person("TS-0101", "Budi Santoso", "Pramudi Koridor I", "pagi")
SITI = Person("TS-0102", "Siti Rahayu", "Pramudi Koridor I", "pagi")  # Budi's colleague
SYNCED = ClockState(True, None)
SKEW_MS = 90_000  # the second phone's clock runs 90 s ahead


def wait_for(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


class Hub:
    """A migrated store with an admin, Budi and Siti, a phone issuing key, and `presensi hub
    web`."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.store_url = f"sqlite:///{tmp / 'hub.db'}"
        store = open_store(self.store_url)
        assert isinstance(store, SqlStore)
        store.migrate()
        sync_people(store.database, [BUDI, SITI], 1)
        ConsoleData(store.database).add_user(
            "admin", "admin", accounts.hash_password(PASSWORD), units=(), now_ms=1
        )
        store.close()
        self.key = SigningKey.generate()
        self.key_path = tmp / "phone-issuing.pem"
        save_signing_key(self.key_path, self.key)
        self.process: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.tmp / "web.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(PRESENSI, "hub", "web", "--store", self.store_url),
                *("--listen", f"127.0.0.1:{self.port}"),
                *("--secret-file", str(self.tmp / "console.secret")),
                *("--phone-key", str(self.key_path)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        assert wait_for(self.listening), self.log()

    def listening(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def log(self) -> str:
        path = self.tmp / "web.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    h = Hub(tmp_path)
    h.start()
    yield h
    h.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def shoot(target: object, tmp: Path, name: str, *, full_page: bool = True) -> Path:
    path = tmp / f"{name}.png"
    if full_page:
        target.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    else:
        target.screenshot(path=str(path))  # type: ignore[attr-defined]
    folder = os.environ.get("PRESENSI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)
    return path


def log_in(page: object, hub: Hub) -> None:
    page.goto(f"{hub.url}/")  # type: ignore[attr-defined]
    page.fill('input[name="user"]', "admin")  # type: ignore[attr-defined]
    page.fill('input[name="password"]', PASSWORD)  # type: ignore[attr-defined]
    page.click('button[type="submit"]')  # type: ignore[attr-defined]
    page.wait_for_url(f"{hub.url}/")  # type: ignore[attr-defined]


def enrollment_code(
    browser: object, hub: Hub, tmp: Path, shot: str | None = None, person: Person = BUDI
) -> str:
    """Log in as admin, press the button on the employee's page (Budi's unless told), read the
    code it shows once."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    log_in(page, hub)
    page.goto(f"{hub.url}/pegawai/{person.number}")
    page.click("[data-phone-code]")
    code = str(page.text_content("[data-enrol-code]")).strip()
    link = str(page.get_attribute("[data-enrol-link]", "href"))
    assert link.endswith(f"/ponsel/#kode={code}")
    page.wait_for_selector("[data-enrol-qr]:not([hidden])")
    drawn = page.locator("[data-enrol-qr]").screenshot()
    gray = np.asarray(Image.open(io.BytesIO(drawn)).convert("L"))
    assert ZxingDecoder().decode(gray) == [link]  # the phone's camera opens the page with it
    if shot:
        shoot(page, tmp, shot)
    context.close()
    return code


def errors_of(page: object) -> list[str]:
    seen: list[str] = []
    page.on(  # type: ignore[attr-defined]
        "console", lambda m: seen.append(m.text) if m.type == "error" else None
    )
    page.on("pageerror", lambda e: seen.append(str(e)))  # type: ignore[attr-defined]
    return seen


def enrol(page: object, hub: Hub, code: str, tmp: Path, shot: str | None = None) -> None:
    page.goto(f"{hub.url}/ponsel/#kode={code}")  # type: ignore[attr-defined]
    page.wait_for_selector("#daftar:not([hidden])")  # type: ignore[attr-defined]
    assert page.input_value("#kode") == code  # type: ignore[attr-defined]
    if shot:
        shoot(page, tmp, shot)
    page.click("#tombol-daftar")  # type: ignore[attr-defined]
    page.wait_for_selector("#kartu:not([hidden]) canvas[data-step]", timeout=15_000)  # type: ignore[attr-defined]


def shown_code(page: object, tmp: Path, name: str) -> tuple[int, str, str]:
    """The step and text the page says it drew, and the text the station's decoder reads from
    a screenshot of the canvas."""
    canvas = page.locator("#qr")  # type: ignore[attr-defined]
    step = int(canvas.get_attribute("data-step"))
    drawn = str(canvas.get_attribute("data-text"))
    png = canvas.screenshot()
    (tmp / f"{name}.png").write_bytes(png)
    gray = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    texts = ZxingDecoder().decode(gray)
    assert len(texts) == 1, texts
    assert ZbarDecoder().decode(gray) == texts  # the stations' other decoder reads it too
    return step, drawn, texts[0]


def attribute(page: object, selector: str, name: str) -> str | None:
    """An attribute read by Playwright's own scripts (the page's CSP forbids eval, so no
    wait_for_function with a string)."""
    value = page.get_attribute(selector, name)  # type: ignore[attr-defined]
    return None if value is None else str(value)


def next_step(page: object, after: int) -> None:
    assert wait_for(lambda: int(attribute(page, "#qr", "data-step") or 0) > after, 20)


# What the phone page keeps (static/phone/phone.js): IndexedDB "presensi-ponsel", store "kartu",
# record "aktif" = {privateKey (a CryptoKey, not extractable), cert (bytes), employee, serial,
# validUntil, offsetMs}. Whoever holds the unlocked phone can read and rewrite all of it but the
# key, which they can only use. Called with changes, it writes them first.
BADGE_RECORD = """async (changes) => {
  const db = await new Promise((done, fail) => {
    const req = indexedDB.open("presensi-ponsel", 1);
    req.onsuccess = () => done(req.result);
    req.onerror = () => fail(req.error);
  });
  const run = (mode, act) => new Promise((done, fail) => {
    const req = act(db.transaction("kartu", mode).objectStore("kartu"));
    req.onsuccess = () => done(req.result);
    req.onerror = () => fail(req.error);
  });
  const badge = await run("readonly", (s) => s.get("aktif"));
  if (changes) {
    const { cert, ...rest } = changes;
    Object.assign(badge, rest, cert ? { cert: Uint8Array.from(cert) } : {});
    await run("readwrite", (s) => s.put(badge, "aktif"));
  }
  db.close();
  const exported = await crypto.subtle.exportKey("pkcs8", badge.privateKey).then(
    () => true,
    () => false,
  );
  return {
    cert: Array.from(badge.cert),
    employee: badge.employee,
    serial: badge.serial,
    validUntil: badge.validUntil,
    exported,
  };
}"""


@dataclass(frozen=True)
class StoredBadge:
    cert: bytes
    employee: str
    serial: int
    valid_until: int
    exported: bool  # whether the page could export its private key (never)

    def fields(self) -> dict[str, object]:
        """All but the key, as the page keeps them: what a copy onto another phone writes."""
        return {
            "cert": list(self.cert),
            "employee": self.employee,
            "serial": self.serial,
            "validUntil": self.valid_until,
        }


def stored_badge(page: object, changes: dict[str, object] | None = None) -> StoredBadge:
    """The badge record the page keeps, after writing `changes` into it (then reload the page
    to have it draw codes with them)."""
    got = page.evaluate(BADGE_RECORD, changes)  # type: ignore[attr-defined]
    return StoredBadge(
        bytes(got["cert"]), got["employee"], got["serial"], got["validUntil"], got["exported"]
    )


def redrawn(page: object) -> None:
    page.reload()  # type: ignore[attr-defined]
    page.wait_for_selector("#kartu:not([hidden]) canvas[data-step]", timeout=15_000)  # type: ignore[attr-defined]


NONE_REVOKED = Revocations()


def station(key: SigningKey, revoked: Revocations = NONE_REVOKED) -> Decider:
    section = StationSection(id="st-1", location="pool-a", mode="auto", duplicate_window_s=120)  # type: ignore[arg-type]
    return Decider(section, KeyRing.of([key.public]), revoked, config_version=1)


def scan(decider: Decider, text: str, at_ms: int) -> ScanRecord:
    return decider.decide(text, Moment(at_ms, at_ms * 1_000_000, "boot-1", SYNCED))


def step_ms(step: int) -> int:
    return step * phone.STEP_S * 1000 + 5000  # five seconds into the step


def in_step(text: str) -> int:
    """A time within the step the phone code carries."""
    return step_ms(phone.parse(text).step)


def test_enrol_rotate_offline_and_reenrol(browser: object, hub: Hub, tmp_path: Path) -> None:
    code = enrollment_code(browser, hub, tmp_path, shot="phone-code-admin")
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)  # type: ignore[attr-defined]
    page = context.new_page()
    errors = errors_of(page)
    enrol(page, hub, code, tmp_path, shot="phone-enrol")
    assert wait_for(lambda: attribute(page, "#ponsel", "data-clock-offset-ms") is not None)
    assert page.is_hidden("#jam")  # the clocks agree: no warning
    shoot(page, tmp_path, "phone-badge")

    # the drawn QR, read by the station's decoder, verified by the station's decider
    step, drawn, read = shown_code(page, tmp_path, "qr-1")
    assert read == drawn and phone.parse(read).cert.employee == BUDI.number
    assert read.startswith(phone.PREFIX) and phone.parse(read).step == step
    first = scan(station(hub.key), read, step_ms(step))
    assert (first.outcome, first.reason) == (Outcome.ACCEPTED, Reason.OK)
    late = scan(station(hub.key), read, step_ms(step + 2))  # 30-45 s later: a screenshot
    assert (late.outcome, late.reason) == (Outcome.REJECTED, Reason.PHONE_EXPIRED_STEP)
    elsewhere = scan(station(SigningKey.generate()), read, step_ms(step))  # another org's station
    assert (elsewhere.outcome, elsewhere.reason) == (Outcome.REJECTED, Reason.UNKNOWN_KEY)
    assert page.text_content("#hitung")

    # the code changes with the step
    next_step(page, step)
    step2, _, read2 = shown_code(page, tmp_path, "qr-2")
    assert step2 > step and read2 != read
    assert scan(station(hub.key), read2, step_ms(step2)).reason is Reason.OK

    # airplane mode, and the hub gone: the page keeps drawing fresh codes, and reloads
    assert wait_for(lambda: page.evaluate("navigator.serviceWorker.controller !== null"), 10)
    hub.stop()
    context.set_offline(True)
    next_step(page, step2)
    step3, _, read3 = shown_code(page, tmp_path, "qr-offline")
    assert scan(station(hub.key), read3, step_ms(step3)).reason is Reason.OK
    page.reload()
    page.wait_for_selector("#kartu:not([hidden]) canvas[data-step]", timeout=15_000)
    assert page.is_visible("#luring")
    step4, _, read4 = shown_code(page, tmp_path, "qr-offline-reloaded")
    assert phone.parse(read4).cert == phone.parse(read).cert
    assert scan(station(hub.key), read4, step_ms(step4)).reason is Reason.OK
    shoot(page, tmp_path, "phone-badge-offline")
    context.set_offline(False)
    hub.start()

    # a second phone, its clock 90 s ahead: enrolment revokes the first phone, the page warns
    code2 = enrollment_code(browser, hub, tmp_path)
    other = browser.new_context(viewport=PHONE, device_scale_factor=2)  # type: ignore[attr-defined]
    other.add_init_script(f"{{ const real = Date.now; Date.now = () => real() + {SKEW_MS}; }}")
    page2 = other.new_page()
    errors2 = errors_of(page2)
    enrol(page2, hub, code2, tmp_path)
    page2.wait_for_selector("#jam:not([hidden])")
    assert re.search(r"\b(89|90|91)\b", str(page2.text_content("#jam")))
    shoot(page2, tmp_path, "phone-clock-warning")
    step5, _, read5 = shown_code(page2, tmp_path, "qr-second-phone")
    now_ms = time.time_ns() // 1_000_000
    ahead = scan(station(hub.key), read5, now_ms)  # signed 90 s ahead of the station's clock
    assert ahead.reason is Reason.PHONE_FUTURE_STEP
    assert scan(station(hub.key), read5, step_ms(step5)).reason is Reason.OK

    # the hub's revocation list, as stations get it, refuses the first phone and not the second
    org_list = tmp_path / "revocations.json"
    org_list.write_text(json.dumps(Revocations(2, frozenset({7})).to_json()))
    out = tmp_path / "revocations.signed.json"
    result = CliRunner().invoke(
        main,
        [
            *("hub", "phone", "revocations", "--store", hub.store_url),
            *("--org-revocations", str(org_list), "--phone-key", str(hub.key_path)),
            *("--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = open_document(out.read_bytes(), KeyRing.of([hub.key.public]), "revocations")
    revoked = Revocations.from_json(doc)
    first_serial = phone.parse(read).cert.serial
    assert revoked.serials == {7, first_serial}
    assert revoked.version > 2 << phones.PHONE_VERSION_BITS
    old = scan(station(hub.key, revoked), read4, step_ms(step4))
    assert (old.outcome, old.reason) == (Outcome.REJECTED, Reason.REVOKED)
    assert scan(station(hub.key, revoked), read5, step_ms(step5)).reason is Reason.OK
    # the first phone, online again: the page says it was replaced and hides its code
    page.reload()
    page.wait_for_selector("#diganti:not([hidden])")
    assert page.is_hidden("#qr") and attribute(page, "#ponsel", "data-state") == "diganti"
    assert page.is_hidden("#hitung")
    shoot(page, tmp_path, "phone-replaced")
    assert attribute(page2, "#ponsel", "data-state") == "aktif"
    assert errors == [] and errors2 == []
    # the employee's page: the new phone active, the old one replaced
    admin = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page3 = admin.new_page()
    log_in(page3, hub)
    page3.goto(f"{hub.url}/pegawai/{BUDI.number}")
    states = [
        page3.get_attribute(f'[data-phone="{s}"]', "data-state")
        for s in (phone.parse(read5).cert.serial, first_serial)
    ]
    assert states == ["aktif", "diganti"]
    shoot(page3, tmp_path, "phone-employee-page")
    admin.close()
    context.close()
    other.close()


def test_forged_and_copied_certificates_are_refused(
    browser: object, hub: Hub, tmp_path: Path
) -> None:
    """Siti tries to check in for her absent colleague Budi from her own enrolled phone: first
    with the certificate her page keeps edited to his number (the org's signature kept), then
    with his phone's certificate copied onto hers (his device key cannot leave his browser, so
    her key signs). The page draws both without complaint; the station reads each drawn QR and
    refuses it, naming Budi: `bad_signature`, then `phone_bad_device_signature`."""
    budi_code = enrollment_code(browser, hub, tmp_path)
    siti_code = enrollment_code(browser, hub, tmp_path, person=SITI)
    his = browser.new_context(viewport=PHONE, device_scale_factor=2)  # type: ignore[attr-defined]
    his_page = his.new_page()
    his_errors = errors_of(his_page)
    enrol(his_page, hub, budi_code, tmp_path)
    hers = browser.new_context(viewport=PHONE, device_scale_factor=2)  # type: ignore[attr-defined]
    page = hers.new_page()
    errors = errors_of(page)
    enrol(page, hub, siti_code, tmp_path)

    # both phones as enrolled: each accepted under its own name
    # (each scanned in the step the code carries: the canvas may have moved on since)
    _, _, his_read = shown_code(his_page, tmp_path, "qr-budi")
    _, _, read = shown_code(page, tmp_path, "qr-siti")
    for text, who in ((his_read, BUDI), (read, SITI)):
        record = scan(station(hub.key), text, in_step(text))
        assert (record.outcome, record.reason, record.employee) == (
            Outcome.ACCEPTED,
            Reason.OK,
            who.number,
        )
    his_cert = phone.parse(his_read).cert
    own = stored_badge(page)
    assert (own.employee, own.cert) == (SITI.number, phone.parse(read).cert.to_bytes())
    assert own.exported is False  # her page can sign with its key, never read it out

    # a. her certificate with his number in it, her serial, the org's signature kept
    forged = bytearray(own.cert)
    at = forged.index(SITI.number.encode())
    forged[at : at + len(SITI.number)] = BUDI.number.encode()
    stored_badge(page, {"cert": list(forged), "employee": BUDI.number})
    redrawn(page)
    assert page.text_content("#pegawai") == BUDI.number  # the page draws what it holds
    _, _, read = shown_code(page, tmp_path, "qr-forged")
    code = phone.parse(read)
    assert code.cert.to_bytes() == bytes(forged)
    assert (code.cert.employee, code.cert.serial) == (BUDI.number, own.serial)
    refused = scan(station(hub.key), read, in_step(read))
    assert (refused.outcome, refused.reason, refused.employee) == (
        Outcome.REJECTED,
        Reason.BAD_SIGNATURE,
        BUDI.number,
    )
    shoot(page, tmp_path, "phone-forged-certificate")

    # b. his certificate, read off his phone and written into hers: her key signs for it
    copied = stored_badge(his_page)
    assert copied.cert == his_cert.to_bytes() and copied.exported is False
    stored_badge(page, copied.fields())
    redrawn(page)
    _, _, read = shown_code(page, tmp_path, "qr-copied")
    assert phone.parse(read).cert == his_cert
    refused = scan(station(hub.key), read, in_step(read))
    assert (refused.outcome, refused.reason, refused.employee, refused.serial) == (
        Outcome.REJECTED,
        Reason.PHONE_BAD_DEVICE_SIGNATURE,
        BUDI.number,
        his_cert.serial,
    )
    # the hub knows his serial as active, so her page shows the copy as a working badge
    assert wait_for(lambda: attribute(page, "#ponsel", "data-state") == "aktif")
    shoot(page, tmp_path, "phone-copied-certificate")
    # his own phone in the same step: still accepted
    _, _, his_read = shown_code(his_page, tmp_path, "qr-budi-again")
    assert scan(station(hub.key), his_read, in_step(his_read)).reason is Reason.OK

    # nothing broke: no script errors on either phone, the hub still serving
    assert errors == [] and his_errors == []
    assert hub.process is not None and hub.process.poll() is None and hub.listening()
    his.close()
    hers.close()


def test_bad_codes_are_refused_on_the_page(browser: object, hub: Hub, tmp_path: Path) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{hub.url}/ponsel/")
    page.wait_for_selector("#daftar:not([hidden])")
    page.fill("#kode", "ABCD-EFGH-JKMN")
    page.click("#tombol-daftar")
    page.wait_for_selector("#galat:not([hidden])")
    assert "tidak dikenal" in str(page.text_content("#galat"))
    shoot(page, tmp_path, "phone-enrol-refused")
    page.fill("#kode", "<b>")
    page.click("#tombol-daftar")
    assert wait_for(lambda: "12" in str(page.text_content("#galat")))
    assert page.is_hidden("#kartu")
    context.close()
