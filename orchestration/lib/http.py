"""The HTTP client every real connector uses: one session, timeouts, retries, a rate limit, pagination.

- One :class:`requests.Session` per source with a user agent and the source's auth header.
- Connect and read timeouts on every request.
- Retries by urllib3's :class:`~urllib3.util.Retry` (mounted on the session): exponential backoff
  with jitter on 429, 500, 502, 503, 504 and on connection errors, read timeouts and dropped
  connections, honouring ``Retry-After`` (capped). A body cut off after the headers (the server
  dropped the connection mid-response) is retried with the same Retry object, so every attempt
  counts against one budget.
- A client-side rate limit (requests per second) so that a nightly run stays inside an API's quota
  instead of living on 429s.
- Pagination helpers for the three styles real APIs use: a ``Link: <...>; rel="next"`` header
  (Shopify's cursor pagination), a page number, and a next-token field in the body.

Every failure is an :class:`HttpSourceError` whose message names the source and the URL (without
its query secrets: auth is sent in headers, never in URLs) and says what to check. Secrets come
from the environment by name and are never logged or written into errors.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ProtocolError
from urllib3.util import Retry

log = logging.getLogger(__name__)

USER_AGENT = "tradewinds-ingest/0.1 (+https://github.com/tradewinds/tradewinds)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpSourceError(RuntimeError):
    """A request to a source failed for good; the message names the source, the URL and the fix."""

    def __init__(self, source: str, url: str, reason: str, status: int | None = None):
        self.source, self.url, self.reason, self.status = source, url, reason, status
        super().__init__(f"source {source}: GET {url} failed: {reason}")


class MissingSecretError(RuntimeError):
    """The environment variable that should hold a source's token is not set."""


@dataclass(frozen=True)
class HttpOptions:
    """Timeouts, retries and rate limit of one source (settings: ``sources.<family>.options.http``)."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 5
    backoff_factor: float = 0.5  # sleeps 0.5, 1, 2, 4 ... seconds between attempts (plus jitter)
    backoff_max: float = 60.0
    backoff_jitter: float = 0.5
    retry_after_max: int = 300  # never wait longer than this on a Retry-After header
    rate_limit_per_second: float | None = None
    user_agent: str = USER_AGENT

    def retry(self) -> Retry:
        return Retry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=0,
            allowed_methods=frozenset({"GET", "HEAD"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff_jitter,
            respect_retry_after_header=True,
            retry_after_max=self.retry_after_max,
            raise_on_status=False,
            raise_on_redirect=True,
        )


@dataclass(frozen=True)
class Auth:
    """A token read from the environment variable ``env`` and sent as a bearer token or in ``header``."""

    env: str
    header: str | None = None  # e.g. 'X-Shopify-Access-Token' or 'X-API-Key'; None = Authorization: Bearer

    def headers(self, source: str) -> dict[str, str]:
        token = os.environ.get(self.env)
        if not token:
            raise MissingSecretError(
                f"source {source}: the environment variable {self.env} (named by token_env) is not set or empty; "
                f"export the API token in it before the run"
            )
        return {self.header: token} if self.header else {"Authorization": f"Bearer {token}"}


class RateLimiter:
    """At most ``per_second`` requests per second (evenly spaced), safe across threads."""

    def __init__(self, per_second: float | None):
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class HttpClient:
    """GET requests to one source with timeouts, retries, rate limit and auth (see the module docstring)."""

    source: str
    options: HttpOptions = field(default_factory=HttpOptions)
    auth: Auth | None = None
    requests_made: int = 0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.options.user_agent
        self.session.headers["Accept"] = "application/json, text/csv;q=0.9, */*;q=0.5"
        if self.auth is not None:
            self.session.headers.update(self.auth.headers(self.source))
        adapter = HTTPAdapter(max_retries=self.options.retry())
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._limiter = RateLimiter(self.options.rate_limit_per_second)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, params: dict[str, Any] | None = None) -> requests.Response:
        """The response (body read) of a successful GET; HttpSourceError otherwise."""
        retry = self.options.retry()
        shown = _shown(url, params)
        while True:
            self._limiter.wait()
            self.requests_made += 1
            try:
                resp = self.session.get(
                    url, params=params, timeout=(self.options.connect_timeout, self.options.read_timeout)
                )
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                # The headers arrived but the body was cut off: retry on the same budget as urllib3's retries.
                try:
                    retry = retry.increment(method="GET", url=shown, error=ProtocolError(str(exc)))
                except MaxRetryError:
                    raise HttpSourceError(
                        self.source, shown, f"the connection dropped while reading the body, {self._tries()}: {exc}"
                    ) from exc
                log.warning("source %s: body of %s cut off, retrying (%s)", self.source, shown, exc)
                retry.sleep()
                continue
            except requests.exceptions.Timeout as exc:
                raise HttpSourceError(
                    self.source,
                    shown,
                    f"timed out ({self.options.connect_timeout:g}s connect / {self.options.read_timeout:g}s read), "
                    f"{self._tries()}; raise options.http.read_timeout if the API is slow",
                ) from exc
            except requests.exceptions.RetryError as exc:
                raise HttpSourceError(self.source, shown, f"{self._tries()}: {_reason(exc)}") from exc
            except requests.exceptions.ConnectionError as exc:
                raise HttpSourceError(
                    self.source, shown, f"connection failed, {self._tries()}: {_reason(exc)}; check the URL"
                ) from exc
            except requests.exceptions.RequestException as exc:
                raise HttpSourceError(self.source, shown, f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code >= 400:
                raise HttpSourceError(self.source, shown, _status_reason(resp, self._tries()), status=resp.status_code)
            return resp

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, requests.Response]:
        resp = self.get(url, params)
        return decode_json(self.source, resp), resp

    def _tries(self) -> str:
        return f"given up after {self.options.retries} retries"


def decode_json(source: str, resp: requests.Response) -> Any:
    """The JSON body of a response; a truncated or invalid body is an error naming source and URL."""
    try:
        return json.loads(resp.content)
    except ValueError as exc:
        raise HttpSourceError(
            source,
            _shown(resp.url, None),
            f"the body is not valid JSON ({len(resp.content)} bytes, truncated or not JSON: {exc}); "
            f"nothing from this fetch was kept, rerun the partition",
        ) from exc


def _shown(url: str, params: dict[str, Any] | None) -> str:
    if not params:
        return url
    return requests.Request("GET", url, params=params).prepare().url or url


def _reason(exc: Exception) -> str:
    inner = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", None)
    return f"{type(reason).__name__}: {reason}" if reason is not None else str(inner)


def _status_reason(resp: requests.Response, tries: str) -> str:
    status = resp.status_code
    snippet = resp.text[:200].replace("\n", " ") if resp.content else ""
    if status in (401, 403):
        hint = "the API refused the credentials: check the token in the environment variable named by token_env"
    elif status == 404:
        hint = "no such resource: check the source URL in the settings"
    elif status in RETRY_STATUSES:
        hint = f"the server kept failing, {tries}; try again later"
    else:
        hint = "the request was refused"
    return f"HTTP {status} ({hint})" + (f"; body: {snippet}" if snippet else "")


# ------------------------------------------------------------------------------------- pagination


@dataclass
class Page:
    number: int
    url: str
    response: requests.Response
    decoded: Any = None


PageHandler = Callable[[Page], Any]


def link_next(resp: requests.Response) -> str | None:
    """The URL of ``rel="next"`` in a Link header (RFC 8288), or None."""
    return resp.links.get("next", {}).get("url")


def paginate_link(
    client: HttpClient, url: str, params: dict[str, Any] | None, handle: PageHandler, max_pages: int = 100_000
) -> Iterator[Page]:
    """Follow ``Link: <...>; rel="next"`` headers (cursor pagination; the next URL carries its own params).

    ``handle(page)`` is called on every page before the next is requested (store the raw body, decode
    it); its result is ``page.decoded``. A next link that points back to a visited URL is an error.
    """
    seen: set[str] = set()
    number, next_url, next_params = 1, url, params
    while next_url:
        resp = client.get(next_url, next_params)
        page = Page(number, resp.url, resp)
        page.decoded = handle(page)
        yield page
        seen.add(resp.url)
        nxt = link_next(resp)
        if nxt is not None and nxt in seen:
            raise HttpSourceError(client.source, resp.url, f"pagination loops: the next link points back to {nxt}")
        if number >= max_pages:
            raise HttpSourceError(client.source, resp.url, f"more than {max_pages} pages: stopping")
        next_url, next_params, number = nxt, None, number + 1


def paginate_page_number(
    client: HttpClient,
    url: str,
    params: dict[str, Any] | None,
    handle: PageHandler,
    *,
    items: Callable[[Any], list],
    page_param: str = "page",
    first_page: int = 1,
    max_pages: int = 100_000,
) -> Iterator[Page]:
    """Request ``page=1, 2, ...`` until a page has no items."""
    number = first_page
    while True:
        resp = client.get(url, {**(params or {}), page_param: number})
        page = Page(number - first_page + 1, resp.url, resp)
        page.decoded = handle(page)
        yield page
        if not items(page.decoded):
            return
        if page.number >= max_pages:
            raise HttpSourceError(client.source, resp.url, f"more than {max_pages} pages: stopping")
        number += 1


def paginate_next_token(
    client: HttpClient,
    url: str,
    params: dict[str, Any] | None,
    handle: PageHandler,
    *,
    token_field: str = "next_token",
    token_param: str = "next_token",
    max_pages: int = 100_000,
) -> Iterator[Page]:
    """Pass the body's ``token_field`` back as ``token_param`` until it is empty; a repeated token is an error."""
    seen: set[str] = set()
    number, token = 1, None
    while True:
        query = {**(params or {}), **({token_param: token} if token else {})}
        resp = client.get(url, query)
        page = Page(number, resp.url, resp)
        page.decoded = handle(page)
        yield page
        token = page.decoded.get(token_field) if isinstance(page.decoded, dict) else None
        if not token:
            return
        if token in seen:
            raise HttpSourceError(client.source, resp.url, f"pagination loops: next token {token!r} was seen before")
        if number >= max_pages:
            raise HttpSourceError(client.source, resp.url, f"more than {max_pages} pages: stopping")
        seen.add(token)
        number += 1
