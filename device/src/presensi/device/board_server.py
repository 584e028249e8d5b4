"""The local board's HTTP server (stdlib, a thread per request, off by default: [board] listen).

Read-only: GET / (the page) and GET /board.json; anything else is 404, other methods 501
(http.server's answer to a method it has no handler for). A failure while answering is logged
and answered with 500; nothing here touches the scan loop, which never waits for it.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import zoneinfo
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from presensi.device.board import LocalBoard
from presensi.device.board_page import as_json, render_html

log = logging.getLogger(__name__)

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
}


class BoardServer:
    def __init__(
        self,
        board: LocalBoard,
        host: str,
        port: int,
        *,
        station: str,
        zone: zoneinfo.ZoneInfo,
        refresh_s: int = 3,
    ) -> None:
        self.board = board
        self.station = station
        self.zone = zone
        self.refresh_s = refresh_s
        server_class = _Server6 if ":" in host else _Server
        self._httpd = server_class((host, port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="board", kwargs={"poll_interval": 0.5}
        )
        self._thread.daemon = True

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()
        log.info("local board at http://%s:%d/", *self.address)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
        self.board.close()

    def page(self, path: str) -> tuple[HTTPStatus, str, bytes]:
        route = path.split("?", 1)[0]
        if route == "/":
            view = self.board.view()
            body = render_html(view, self.station, self.zone, self.refresh_s)
            return HTTPStatus.OK, "text/html; charset=utf-8", body.encode()
        if route == "/board.json":
            data = as_json(self.board.view(), self.station)
            return HTTPStatus.OK, "application/json", json.dumps(data, ensure_ascii=False).encode()
        return HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"tidak ada\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def _handler_for(server: BoardServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that stalls is dropped, not waited for
        server_version = "presensi-board"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            try:
                status, kind, body = server.page(self.path)
            except Exception:
                log.exception("the local board failed to answer %s", self.path)
                status, kind, body = (
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    b"galat\n",
                )
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in _HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("board %s: " + format, self.address_string(), *args)

    return Handler
