"""The phone badge's console pages without a browser: who may make an enrollment code, the phone
page's files and headers, and the enrollment call refusing bad input with a reason and a
sentence, changing nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.testclient import TestClient

from presensi.hub import phones
from presensi.hub.console.app import make_app
from presensi.hub.console.core import ConsoleConfig
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore
from presensi.protocol import phone
from presensi.protocol.keys import KeyRing, Revocations, SigningKey, save_signing_key
from presensi.protocol.reasons import Reason
from tests.hub.console.conftest import SECRET, csrf_of, log_in

BUDI = Person("TS-0101", "Budi Santoso", "Pramudi Koridor I", "pagi")
STATIC = Path(__file__).parents[3] / "hub/src/presensi/hub/console/static/phone"
VENDORED = Path(__file__).parents[3] / "hub/phone-web/node_modules/qrcode-generator/dist"


@pytest.fixture
def phone_key(tmp_path: Path) -> tuple[SigningKey, Path]:
    key = SigningKey.generate()
    path = tmp_path / "phone.pem"
    save_signing_key(path, key)
    return key, path


@pytest.fixture
def client_for(
    console_store: tuple[str, SqlStore], phone_key: tuple[SigningKey, Path]
) -> Iterator[Callable[[str | None], TestClient]]:
    url, store = console_store
    sync_people(store.database, [BUDI], 1)
    opened: list[TestClient] = []

    def make(user: str | None) -> TestClient:
        config = ConsoleConfig(url, SECRET, cache_s=0, phone_key=phone_key[1])
        client = TestClient(make_app(config))
        client.__enter__()
        opened.append(client)
        if user is not None:
            assert log_in(client, user).status_code == 303  # type: ignore[attr-defined]
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def make_code(client: TestClient) -> str:
    page = client.get(f"/pegawai/{BUDI.number}")
    assert "data-phone-code" in page.text
    done = client.post(f"/pegawai/{BUDI.number}/ponsel", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200, done.text
    start = done.text.index("data-enrol-code>") + len("data-enrol-code>")
    return done.text[start : done.text.index("<", start)].strip()


def public_key(device: phone.DeviceKey) -> str:
    raw = device.private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.b64encode(raw).decode()


def test_an_admin_makes_a_code_and_a_phone_enrols_with_it(
    client_for: Callable[[str | None], TestClient],
    phone_key: tuple[SigningKey, Path],
    console_store: tuple[str, SqlStore],
) -> None:
    code = make_code(client_for("admin"))
    device = phone.DeviceKey.generate()
    answer = client_for(None).post(
        "/ponsel/daftar", json={"code": code, "public_key": public_key(device)}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["employee"] == BUDI.number and body["serial"] == phones.PHONE_SERIAL_BASE
    raw_cert = base64.b64decode(body["certificate"])
    cert = phones.phones_of(console_store[1].database, BUDI.number)[0]
    assert cert.certificate == raw_cert
    # the phone's code, as the page would build it from this certificate, verifies
    step = body["now_ms"] // 1000 // phone.STEP_S
    # the certificate's bytes, read by the station's parser (placeholder step and signature)
    real = phone.parse(phone.PREFIX + base64.b32encode(raw_cert + bytes(68)).decode().rstrip("="))
    text = device.sign_step(real.cert, step).to_text()
    verdict = phone.verify(text, KeyRing.of([phone_key[0].public]), Revocations(), step * 15)
    assert verdict.reason is Reason.OK
    serial = phones.PHONE_SERIAL_BASE
    assert client_for(None).get(f"/ponsel/status?seri={serial}").json() == {"state": "aktif"}
    # the employee's page lists the phone
    assert (
        f'data-phone="{phones.PHONE_SERIAL_BASE}"'
        in client_for("viewer").get(f"/pegawai/{BUDI.number}").text
    )


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_an_admin_makes_codes(
    client_for: Callable[[str | None], TestClient], role: str
) -> None:
    client = client_for(role)
    page = client.get(f"/pegawai/{BUDI.number}")
    assert "data-phone-code" not in page.text
    refused = client.post(f"/pegawai/{BUDI.number}/ponsel", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 403


def test_a_code_needs_the_csrf_token(client_for: Callable[[str | None], TestClient]) -> None:
    refused = client_for("admin").post(f"/pegawai/{BUDI.number}/ponsel", data={"csrf": "x"})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"not json", 400, "bad_request"),
        (b"[]", 400, "bad_request"),
        (b'{"code": 1, "public_key": "x"}', 400, "bad_request"),
        (b"{" * 3000, 400, "bad_request"),
        (json.dumps({"code": "x" * 5000, "public_key": "a"}).encode(), 400, "bad_request"),
        (json.dumps({"code": "ABCD", "public_key": "a"}).encode(), 400, "bad_key"),
        (None, 400, "unknown_code"),
        (b"KEY", 400, "bad_key"),
    ],
)
def test_bad_enrollments_are_refused_and_change_nothing(
    client_for: Callable[[str | None], TestClient],
    console_store: tuple[str, SqlStore],
    body: bytes | None,
    status: int,
    reason: str,
) -> None:
    code = make_code(client_for("admin"))
    db = console_store[1].database
    before = db.execute("SELECT * FROM phone_codes"), db.execute("SELECT * FROM phones")
    if body is None:
        key = public_key(phone.DeviceKey.generate())
        body = json.dumps({"code": "ABCD-EFGH-JKMN", "public_key": key}).encode()
    elif body == b"KEY":
        body = json.dumps({"code": code, "public_key": base64.b64encode(bytes(65)).decode()})
        body = body.encode()
    answer = client_for(None).post(
        "/ponsel/daftar", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == status
    assert answer.json()["error"] == reason and answer.json()["message"]
    as_form = client_for(None).post(
        "/ponsel/daftar", content=body, headers={"content-type": "text/plain"}
    )
    assert as_form.status_code == 400 and as_form.json()["error"] == "bad_request"
    assert (db.execute("SELECT * FROM phone_codes"), db.execute("SELECT * FROM phones")) == before


def test_the_phone_page_its_files_and_headers(
    client_for: Callable[[str | None], TestClient],
) -> None:
    client = client_for(None)
    page = client.get("/ponsel/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "onclick" not in page.text
    assert 'src="/static/phone/phone.js"' in page.text and "Kartu di ponsel" in page.text
    client.get("/bahasa?ke=en&kembali=/ponsel/")
    english = client.get("/ponsel/")
    assert "Badge on the phone" in english.text and 'lang="en"' in english.text
    worker = client.get("/ponsel/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    manifest = client.get("/ponsel/manifest.webmanifest")
    assert manifest.json()["start_url"] == "/ponsel/"
    for name in ("phone.js", "qrcode.mjs", "phone.css", "icon-192.png", "icon-512.png"):
        assert client.get(f"/static/phone/{name}").status_code == 200
    assert client.get("/ponsel/waktu").json()["now_ms"] > 0
    assert client.get("/ponsel/status?seri=2147483648").status_code == 404
    for bad in ("", "-1", "1e3", "9" * 11):
        assert client.get(f"/ponsel/status?seri={bad}").json()["error"] == "bad_request"
    assert client.get("/ponsel", follow_redirects=False).headers["location"] == "/ponsel/"


def test_without_an_issuing_key_nothing_enrols(console_store: tuple[str, SqlStore]) -> None:
    url, store = console_store
    sync_people(store.database, [BUDI], 1)
    with TestClient(make_app(ConsoleConfig(url, SECRET, cache_s=0))) as client:
        assert "--phone-key" in client.get("/ponsel/").text or client.get("/ponsel/").is_success
        answer = client.post("/ponsel/daftar", json={"code": "ABCD-EFGH-JKMN", "public_key": "a"})
        assert answer.status_code == 503 and answer.json()["error"] == "no_key"
        assert log_in(client, "admin").status_code == 303  # type: ignore[attr-defined]
        page = client.get(f"/pegawai/{BUDI.number}")
        assert "data-phone-code" not in page.text and "--phone-key" in page.text


def test_the_vendored_qr_generator_is_the_pinned_package() -> None:
    lock = json.loads((STATIC.parents[5] / "phone-web/package-lock.json").read_text())
    assert lock["packages"]["node_modules/qrcode-generator"]["version"] == "2.0.4"
    if not VENDORED.exists():
        pytest.skip("hub/phone-web/node_modules not installed (scripts/bootstrap does it)")
    assert (STATIC / "qrcode.mjs").read_bytes() == (VENDORED / "qrcode.mjs").read_bytes()
