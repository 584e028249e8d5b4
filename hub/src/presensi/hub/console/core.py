"""What every console page shares: its settings, the store, the clock, the live feed, the
login throttle, rendering in the reader's language, CSRF tokens, and `page`, which gives a
handler its logged-in user (or sends the reader to log in)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from presensi.hub.console import accounts, i18n
from presensi.hub.console.cache import Shared
from presensi.hub.console.data import ConsoleData, User
from presensi.hub.console.live import Feed
from presensi.hub.console.timefmt import Clock, megabytes
from presensi.hub.errors import StoreError
from presensi.hub.store import Store
from presensi.protocol.keys import load_signing_key

HERE = Path(__file__).parent
SESSION_S = 12 * 3600


@dataclass(frozen=True)
class ConsoleConfig:
    store_url: str
    secret: str  # signs the session cookies: keep it, or every session ends at restart
    zone: str = "Asia/Jakarta"
    secure_cookies: bool = False  # behind TLS (a reverse proxy): cookies only over https
    stale_after_s: int = 600  # an online station silent this long shows as "no report"
    feed_interval_s: float = 0.1
    cache_s: float = 1.0  # the fleet's views and today's counts are read at most this often
    # the phone issuing key (an org badge key the hub holds: docs/phone-badge.md); without it
    # the console issues no enrollment codes and the phone page enrols no phone
    phone_key: Path | None = None
    phone_valid_days: int = 365


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Console:
    """The pages and what they share: the store, the clock, the live feed, the throttle."""

    def __init__(self, config: ConsoleConfig, data: ConsoleData, store: Store) -> None:
        self.config = config
        self.data = data
        self.store = store
        self.clock = Clock.named(config.zone)
        self.feed = Feed(data, interval_s=config.feed_interval_s)
        self.throttle = accounts.Throttle()
        self.shared = Shared(config.cache_s)
        # an event's board: one computation per poll of the live feed, however many screens
        self.boards = Shared(min(config.cache_s, 0.2))
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.phone_key = None if config.phone_key is None else load_signing_key(config.phone_key)

    # -- plumbing ----------------------------------------------------------------------------

    def language(self, request: Request) -> str:
        lang = request.cookies.get("lang", i18n.DEFAULT)
        return lang if lang in i18n.LANGUAGES else i18n.DEFAULT

    def csrf(self, request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    def csrf_ok(self, request: Request, form_token: object) -> bool:
        token = request.session.get("csrf")
        return (
            isinstance(token, str)
            and isinstance(form_token, str)
            and secrets.compare_digest(token.encode(), form_token.encode())
        )

    async def user(self, request: Request) -> User | None:
        name = request.session.get("user")
        if not isinstance(name, str):
            return None
        user = await run_in_threadpool(self.data.user, name)
        if user is None or user.disabled or user.session_epoch != request.session.get("epoch"):
            request.session.clear()
            return None
        return user

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        user: User | None = None,
    ) -> Response:
        lang = self.language(request)
        base = {
            "t": i18n.translator(lang),
            "lang": lang,
            "other_lang": "en" if lang == "id" else "id",
            "user": user,
            "csrf": self.csrf(request),
            "clock": self.clock.speaking(lang),
            "name": i18n.named(lang),
            "megabytes": megabytes,
            "zone": self.clock.abbreviation,
            "path": request.url.path,
            "may": lambda capability: user is not None and accounts.may(user.role, capability),
        }
        return self.templates.TemplateResponse(
            request, template, {**base, **context}, status_code=status
        )

    def render_fragment(self, request: Request, template: str, context: dict[str, Any]) -> str:
        """A template's text (a part of a page sent over a stream), in the page's language."""
        base = {"t": i18n.translator(self.language(request)), "clock": self.clock}
        return self.templates.get_template(template).render({**base, **context})

    def error(
        self,
        request: Request,
        status: int,
        key: str,
        *,
        user: User | None = None,
        **fields: object,
    ) -> Response:
        message = i18n.translator(self.language(request))(key, **fields)
        return self.render(request, "error.html", {"message": message}, status=status, user=user)


Handler = Callable[[Console, Request, User], Awaitable[Response]]


def page(capability: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A route that needs a logged-in user who may `capability`; the store's failures become
    the 'database unreachable' page, not a crash."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.state.console
            try:
                user = await console.user(request)
                if user is None:
                    target = request.url.path
                    if request.url.query:
                        target += "?" + request.url.query
                    return RedirectResponse(f"/masuk?next={_quote(target)}", status_code=303)
                if not accounts.may(user.role, capability):
                    return console.error(request, 403, "error.forbidden", user=user)
                return await handler(console, request, user)
            except StoreError:
                return console.error(request, 503, "error.store")

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


def _quote(path: str) -> str:
    return quote(path, safe="/")


def safe_next(target: object) -> str:
    """Only a path on this site: never //elsewhere or a scheme (an open redirect)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    return target
