"""The phone badge's pages: the admin's enrollment code (on an employee's page) and the phone
page itself (/ponsel/, an installable offline web app: static/phone/), with the two calls it
makes to the hub: enrol (code + public key -> certificate) and the hub's time.

The phone page needs no login: the one-time code is what authorises an enrollment. Failed
enrollments count against the client's address in the login throttle.
"""

from __future__ import annotations

import base64
import contextlib
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from presensi.hub.console import i18n
from presensi.hub.console.core import HERE, Console, now_ms, page
from presensi.hub.console.data import User
from presensi.hub.console.pages import EMPLOYEE_NUMBER
from presensi.hub.errors import StoreError
from presensi.hub.phones import CODE_TTL_MS, EnrollmentError, device_point

STATIC = HERE / "static" / "phone"
MAX_ENROLL_BODY = 4096
NO_STORE = {"cache-control": "no-store"}


@page("administer")
async def issue_code(console: Console, request: Request, user: User) -> Response:
    number = request.path_params["number"]
    form = await request.form()
    if not console.csrf_ok(request, form.get("csrf")):
        return console.error(request, 403, "error.csrf", user=user)
    if not EMPLOYEE_NUMBER.fullmatch(number):
        return console.error(
            request, 400, "error.bad_value", user=user, name="pegawai", value=number[:40]
        )
    who = await run_in_threadpool(console.data.person, number)
    if who is None or (user.units and who.unit not in user.units):
        return console.error(request, 404, "error.not_found", user=user)
    if console.phone_key is None:
        return console.error(request, 409, "phone.no_key", user=user)
    at = now_ms()
    try:
        code = await run_in_threadpool(
            lambda: console.data.issue_phone_code(number, by=user.name, now_ms=at)
        )
    except EnrollmentError:
        return console.error(request, 409, "phone.inactive_employee", user=user)
    await run_in_threadpool(
        lambda: console.data.audit(user.name, "phone.code", now_ms=at, subject=number)
    )
    link = f"{request.base_url}ponsel/#kode={code}"
    context = {"who": who, "code": code, "link": link, "expires_ms": at + CODE_TTL_MS}
    return console.render(request, "phone_code.html", context, user=user)


async def phone_page(request: Request) -> Response:
    console: Console = request.app.state.console
    return console.render(request, "phone.html", {"enrolling": console.phone_key is not None})


async def phone_root(request: Request) -> Response:
    return RedirectResponse("/ponsel/", status_code=308)


async def service_worker(request: Request) -> Response:
    """Served from /ponsel/ so that its scope is the phone page."""
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers=NO_STORE)


async def manifest(request: Request) -> Response:
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json")


async def hub_time(request: Request) -> Response:
    """The hub's clock, for the page's warning when the phone's clock is off."""
    return JSONResponse({"now_ms": now_ms()}, headers=NO_STORE)


async def phone_state(request: Request) -> Response:
    """{"state": "aktif" | "diganti" | "dicabut" | "kedaluwarsa"} of the phone with ?seri=N:
    the page, when online, tells a replaced or revoked phone that stations refuse it."""
    console: Console = request.app.state.console
    text = request.query_params.get("seri", "")
    if not text.isdigit() or len(text) > 10:
        return _refused(request, 400, "bad_request")
    try:
        held = await run_in_threadpool(console.data.phone, int(text))
    except StoreError:
        return _refused(request, 503, "store")
    if held is None:
        return JSONResponse({"state": "tidak_dikenal"}, status_code=404, headers=NO_STORE)
    return JSONResponse({"state": held.state(now_ms() // 1000)}, headers=NO_STORE)


def _refused(request: Request, status: int, code: str) -> Response:
    console: Console = request.app.state.console
    t = i18n.translator(console.language(request))
    return JSONResponse(
        {"error": code, "message": t(f"phone.error.{code}")}, status_code=status, headers=NO_STORE
    )


async def enroll(request: Request) -> Response:
    """{"code": "ABCD-EFGH-JKMN", "public_key": Base64 of WebCrypto's raw P-256 export} ->
    {"certificate": Base64, "employee", "serial", "valid_until_s", "now_ms"}."""
    console: Console = request.app.state.console
    address = request.client.host if request.client else ""
    key = f"phone:{address}"
    if console.throttle.wait_s(key) > 0:
        return _refused(request, 429, "throttled")
    if console.phone_key is None:
        return _refused(request, 503, "no_key")
    body = await request.body()
    try:
        # JSON only: a cross-site form cannot send this content type without the browser asking
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise ValueError("not JSON")
        if len(body) > MAX_ENROLL_BODY:
            raise ValueError("too long")
        sent = json.loads(body)
        code, public_key = sent["code"], sent["public_key"]
        if not isinstance(code, str) or not isinstance(public_key, str):
            raise TypeError("strings expected")
    except (ValueError, KeyError, TypeError, RecursionError):
        return _refused(request, 400, "bad_request")
    at = now_ms()
    signer = console.phone_key
    try:
        point = device_point(public_key)
        done = await run_in_threadpool(
            lambda: console.data.enroll_phone(
                signer, code, point, now_ms=at, valid_days=console.config.phone_valid_days
            )
        )
    except EnrollmentError as exc:
        if exc.code != "bad_key":
            console.throttle.failed(key)
        return _refused(request, 400, exc.code)
    except StoreError:
        return _refused(request, 503, "store")
    cert = done.cert
    detail = f"serial {cert.serial}" + "".join(f", revoked {s}" for s in done.revoked)
    with contextlib.suppress(StoreError):
        await run_in_threadpool(
            lambda: console.data.audit(
                cert.employee,
                "phone.enrolled",
                now_ms=at,
                subject=cert.employee,
                detail=detail,
                address=address,
            )
        )
    return JSONResponse(
        {
            "certificate": base64.b64encode(cert.to_bytes()).decode(),
            "employee": cert.employee,
            "serial": cert.serial,
            "valid_until_s": cert.valid_until,
            "now_ms": now_ms(),
        },
        headers=NO_STORE,
    )
