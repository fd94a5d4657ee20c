"""The HTTP client against a real local server on 127.0.0.1 that misbehaves on purpose.

:class:`FakeAPI` is also used by the connector tests: a threaded ``http.server`` whose ``app``
returns what to do for each request (answer, sleep first, drop the connection, cut the body).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from orchestration.lib.http import (
    Auth,
    HttpClient,
    HttpOptions,
    HttpSourceError,
    MissingSecretError,
    RateLimiter,
    paginate_link,
    paginate_next_token,
    paginate_page_number,
)

#: Fast retries for tests: the same Retry logic, millisecond backoffs.
FAST = HttpOptions(connect_timeout=2, read_timeout=2, retries=3, backoff_factor=0.01, backoff_jitter=0.01)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    sleep: float = 0.0  # before answering
    drop: bool = False  # close the connection without a response
    cut_at: int | None = None  # send the headers (full Content-Length) and only this many body bytes

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    url: str


class FakeAPI:
    """A local HTTP server; ``app(request, n)`` (n = 1-based request count) returns a :class:`Reply`."""

    def __init__(self, app: Callable[[Request, int], Reply]):
        self.app = app
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                req = Request(
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    dict(self.headers),
                    f"{api.url}{self.path}",
                )
                with api._lock:
                    api.requests.append(req)
                    n = len(api.requests)
                reply = api.app(req, n)
                if reply.sleep:
                    time.sleep(reply.sleep)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = reply.payload()
                try:
                    self.send_response(reply.status)
                    ctype = "application/json" if not isinstance(reply.body, bytes | str) else "text/plain"
                    headers = {"Content-Type": ctype, **reply.headers}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if reply.cut_at is not None:
                        self.wfile.write(data[: reply.cut_at])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def sequence(*replies: Reply, then: Reply | None = None) -> Callable[[Request, int], Reply]:
    """Answer the n-th request with the n-th reply (and ``then`` afterwards)."""

    def app(req: Request, n: int) -> Reply:
        return replies[n - 1] if n <= len(replies) else (then or replies[-1])

    return app


OK = Reply(body={"ok": True})


def test_429_with_retry_after_is_honoured_then_succeeds():
    with FakeAPI(sequence(Reply(429, "slow down", {"Retry-After": "1"}), then=OK)) as api:
        t0 = time.monotonic()
        doc, _ = HttpClient("freight.freight_rates", FAST).get_json(api.url + "/rates")
        assert doc == {"ok": True}
        assert time.monotonic() - t0 >= 0.95  # waited the Retry-After second, not the 10 ms backoff
        assert len(api.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_with_backoff(status: int):
    with FakeAPI(sequence(Reply(status), Reply(status), then=OK)) as api:
        doc, _ = HttpClient("s", FAST).get_json(api.url + "/x")
        assert doc == {"ok": True} and len(api.requests) == 3


def test_persistent_503_is_an_error_naming_source_and_url():
    with FakeAPI(sequence(Reply(503, "maintenance"))) as api:
        with pytest.raises(HttpSourceError) as err:
            HttpClient("platform.orders", FAST).get(api.url + "/orders.json", {"limit": 5})
        msg = str(err.value)
        assert "platform.orders" in msg and f"{api.url}/orders.json?limit=5" in msg and "503" in msg
        assert len(api.requests) == FAST.retries + 1


def test_4xx_is_not_retried_and_says_what_to_check():
    with FakeAPI(sequence(Reply(401, "bad token"))) as api:
        with pytest.raises(HttpSourceError, match="credentials"):
            HttpClient("s", FAST).get(api.url + "/x")
        assert len(api.requests) == 1


def test_slow_response_times_out_and_is_retried():
    opts = HttpOptions(connect_timeout=1, read_timeout=0.3, retries=2, backoff_factor=0.01, backoff_jitter=0)
    with FakeAPI(sequence(Reply(body={"late": 1}, sleep=1.0), then=OK)) as api:
        doc, _ = HttpClient("s", opts).get_json(api.url + "/x")
        assert doc == {"ok": True} and len(api.requests) == 2
    with FakeAPI(sequence(Reply(body={"late": 1}, sleep=0.6))) as api:
        with pytest.raises(HttpSourceError, match=r"timed out|Read timed out"):
            HttpClient("s", opts).get(api.url + "/slow")
        assert len(api.requests) == 3


def test_dropped_connection_is_retried():
    with FakeAPI(sequence(Reply(drop=True), then=OK)) as api:
        doc, _ = HttpClient("s", FAST).get_json(api.url + "/x")
        assert doc == {"ok": True} and len(api.requests) == 2


def test_body_cut_mid_response_is_retried():
    body = {"orders": list(range(200))}
    with FakeAPI(sequence(Reply(body=body, cut_at=50), then=Reply(body=body))) as api:
        doc, _ = HttpClient("s", FAST).get_json(api.url + "/x")
        assert doc == body and len(api.requests) == 2


def test_truncated_json_with_a_complete_body_is_an_error_not_a_retry():
    with FakeAPI(sequence(Reply(body=b'{"orders": [{"id": 1}, {"id"'))) as api:
        with pytest.raises(HttpSourceError, match="not valid JSON") as err:
            HttpClient("platform.orders", FAST).get_json(api.url + "/orders.json")
        assert api.url + "/orders.json" in str(err.value)
        assert len(api.requests) == 1


def test_auth_user_agent_and_secret_never_in_errors(monkeypatch: pytest.MonkeyPatch, caplog):
    monkeypatch.setenv("TW_TEST_TOKEN", "s3cr3t-token")
    caplog.set_level(logging.DEBUG)
    with FakeAPI(sequence(Reply(500), Reply(500), Reply(500), Reply(500))) as api:
        client = HttpClient("s", FAST, Auth("TW_TEST_TOKEN"))
        with pytest.raises(HttpSourceError) as err:
            client.get(api.url + "/x")
        assert api.requests[0].headers["Authorization"] == "Bearer s3cr3t-token"
        assert api.requests[0].headers["User-Agent"].startswith("tradewinds")
        assert "s3cr3t" not in str(err.value) and "s3cr3t" not in caplog.text
    with FakeAPI(sequence(OK)) as api:
        HttpClient("s", FAST, Auth("TW_TEST_TOKEN", "X-Shopify-Access-Token")).get(api.url + "/x")
        assert api.requests[0].headers["X-Shopify-Access-Token"] == "s3cr3t-token"
        assert "Authorization" not in api.requests[0].headers
    monkeypatch.delenv("TW_TEST_TOKEN")
    with pytest.raises(MissingSecretError, match="TW_TEST_TOKEN"):
        HttpClient("s", FAST, Auth("TW_TEST_TOKEN"))


def test_rate_limit_spaces_requests():
    limiter = RateLimiter(20)
    t0 = time.monotonic()
    for _ in range(6):
        limiter.wait()
    assert time.monotonic() - t0 >= 0.24
    with FakeAPI(sequence(OK)) as api:
        client = HttpClient("s", HttpOptions(rate_limit_per_second=10))
        t0 = time.monotonic()
        for _ in range(4):
            client.get(api.url + "/x")
        assert time.monotonic() - t0 >= 0.29


def _pages(req: Request, n: int) -> Reply:
    page = int(req.query.get("page_info", "1"))
    headers = {"Link": f'<{req.url.split("?")[0]}?page_info={page + 1}&limit=2>; rel="next"'} if page < 3 else {}
    return Reply(body={"items": [page * 10, page * 10 + 1]}, headers=headers)


def test_link_pagination_follows_next_and_detects_loops():
    with FakeAPI(_pages) as api:
        pages = list(paginate_link(HttpClient("s", FAST), api.url + "/i", {"limit": 2}, lambda p: p.response.json()))
        assert [p.decoded["items"][0] for p in pages] == [10, 20, 30]
        assert "limit" not in api.requests[1].query or api.requests[1].query["page_info"] == "2"

    def loop(req: Request, n: int) -> Reply:
        return Reply(body={"items": [1]}, headers={"Link": f'<{req.url.split("?")[0]}?page_info=1>; rel="next"'})

    with FakeAPI(loop) as api, pytest.raises(HttpSourceError, match="loops"):
        list(paginate_link(HttpClient("s", FAST), api.url + "/i", {"page_info": "1"}, lambda p: None))


def test_page_number_and_next_token_pagination():
    def numbered(req: Request, n: int) -> Reply:
        page = int(req.query["page"])
        return Reply(body={"data": [page] if page <= 2 else []})

    with FakeAPI(numbered) as api:
        pages = list(
            paginate_page_number(
                HttpClient("s", FAST), api.url, None, lambda p: p.response.json(), items=lambda d: d["data"]
            )
        )
        assert [p.decoded["data"] for p in pages] == [[1], [2], []]

    def tokens(req: Request, n: int) -> Reply:
        token = req.query.get("next_token")
        nxt = {None: "a", "a": "b", "b": None}[token]
        return Reply(body={"prices": [token or "first"], "next_token": nxt})

    with FakeAPI(tokens) as api:
        pages = list(paginate_next_token(HttpClient("s", FAST), api.url, None, lambda p: p.response.json()))
        assert [p.decoded["prices"][0] for p in pages] == ["first", "a", "b"]
