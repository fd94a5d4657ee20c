"""Alert delivery: route an alert to the configured channels and deliver it, with retries.

An alert is a plain dict with at least ``dedup_key``, ``rule``, ``entity``, ``severity``,
``title`` and ``payload`` (optionally ``facts``, ``link``, ``detected_at``). What a channel
receives is a *message*: the alert plus ``event`` (``trigger``, ``escalate`` or
``resolve``), its status and first/last sighting (see :mod:`.lifecycle`).

Channels (``[notifiers.channels.<name>]`` in the settings, ``kind`` =):

- ``outbox``: one JSON line per message in a local file; the default, needs no credentials;
- ``webhook``: the message as JSON, POSTed to a URL;
- ``slack``: a Slack-compatible incoming webhook (Block Kit ``blocks`` plus ``text`` fallback);
- ``email``: SMTP with optional STARTTLS and login;
- ``pagerduty``: PagerDuty Events API v2 (``trigger``; ``resolve`` with the same dedup key).

The formats live in :mod:`.channels`. Routing (which rule, from which severity, to which
channels) is configuration: ``[[notifiers.routes]]``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from orchestration.lib.settings import ChannelSettings, NotifierSettings, Settings

try:  # POSIX only: the advisory lock keeps concurrent writers (run worker, sensor daemon) apart.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
REQUIRED_FIELDS = ("dedup_key", "rule", "entity", "severity")
#: Environment variables below this length are not treated as secrets (avoids redacting "1" or "true").
MIN_SECRET_LENGTH = 6
REDACTED = "***"
#: What a message announces: a new condition, a higher severity than announced so far, its end.
TRIGGER, ESCALATE, RESOLVE = "trigger", "escalate", "resolve"
EVENTS = (TRIGGER, ESCALATE, RESOLVE)


@dataclass(frozen=True)
class DeliveryResult:
    """What happened when one alert went to one channel."""

    channel: str
    kind: str
    ok: bool
    detail: str
    attempts: int = 1
    #: The failure makes every message to this channel fail for now (network, 5xx, auth, missing secret).
    channel_down: bool = False


class DeliveryError(Exception):
    """A channel could not take a message.

    ``retryable``: another attempt may succeed (connection error, timeout, 429, 5xx).
    ``channel_down``: every other message to the channel would fail too (so the run stops
    trying it and keeps them for the next run); False for a rejection of this one message.
    ``retry_after``: seconds the receiver asked to wait (HTTP ``Retry-After``).
    """

    def __init__(
        self, message: str, *, retryable: bool, channel_down: bool | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.channel_down = retryable if channel_down is None else channel_down
        self.retry_after = retry_after


class Notifier(Protocol):
    kind: str

    def send(self, message: Mapping[str, Any]) -> str:
        """Deliver one message; return a short human-readable detail (never a secret).

        Raise :class:`DeliveryError` when the channel did not take it.
        """
        ...


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def jsonable(value: Any) -> Any:
    """Plain JSON types for an alert payload: dates as ISO strings, NaN as null, NumPy scalars unwrapped."""
    kind = type(value)  # the plain types first: most values are, and the Mapping check is slow
    if kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # NumPy / pandas scalars
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date):  # np.datetime64.item()
        return value.isoformat()
    return str(value)


class Outbox:
    """Append one JSON line per message to a local file.

    Each line is written with a single ``write`` on a file opened with ``O_APPEND`` while
    holding an exclusive advisory lock, so concurrent writers never interleave half lines.
    A line is on disk (``fsync``) before ``send`` returns, or, inside :meth:`batch`, when
    :meth:`sync` returns: the delivery loop syncs before it records a batch of outcomes as
    delivered, one ``fsync`` for up to ``RECORD_EVERY`` lines instead of one per line (a
    stock-out night appends ~1,600 lines; their fsyncs took 0.6 s).
    """

    kind = "outbox"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._batch_fd: int | None = None
        self._unsynced = 0

    def _error(self, exc: OSError) -> DeliveryError:
        return DeliveryError(
            f"cannot append to {self.path}: {type(exc).__name__}: {exc}", retryable=False, channel_down=True
        )

    def send(self, message: Mapping[str, Any]) -> str:
        try:
            record = {**jsonable(message), "delivered_at": utc_now().isoformat()}
            line = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
            batched = self._batch_fd is not None
            if batched:
                fd = self._batch_fd
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                view = memoryview(line)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if batched:
                    self._unsynced += 1
                else:
                    os.fsync(fd)
            finally:
                if not batched:
                    os.close(fd)  # closing releases the lock
                elif fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:  # disk full, permissions, a directory in the way: the next run may do better
            raise self._error(exc) from exc
        return f"appended to {self.path}"

    def sync(self) -> int:
        """Inside :meth:`batch`: put the lines written since the last sync on disk; how many there were."""
        if self._batch_fd is None or not self._unsynced:
            return 0
        synced, self._unsynced = self._unsynced, 0  # on failure too: the caller reports them failed
        try:
            os.fsync(self._batch_fd)
        except OSError as exc:
            raise self._error(exc) from exc
        return synced

    @contextmanager
    def batch(self) -> Iterator[Outbox]:
        """Keep the file open, and lines unsynced until :meth:`sync`, for the ``with`` block; the lines
        still unsynced when it ends are synced then. A file that cannot be opened leaves ``send`` as
        it is (each send reports the error)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._batch_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            self._batch_fd = None
        try:
            yield self
        finally:
            try:
                self.sync()
            finally:
                if self._batch_fd is not None:
                    os.close(self._batch_fd)
                self._batch_fd, self._unsynced = None, 0


def build_notifier(name: str, channel: ChannelSettings, settings: Settings) -> Notifier:
    """The notifier for one configured channel.

    A channel missing what its kind needs (a URL, an SMTP host, recipients, the name of the
    routing-key variable) is a configuration error raised before anything is sent; a secret
    variable that is named but not set is a delivery failure of that channel only.
    """
    from orchestration.defs.alerts import channels  # the formats; imported late to keep this module small

    timeout = settings.notifiers.timeout_seconds
    if channel.kind == "outbox":
        return Outbox(channel.path or settings.outbox)
    if channel.kind in ("webhook", "slack"):
        if not (channel.url or channel.url_env):
            raise ValueError(f"notifier channel {name!r} ({channel.kind}) needs url or url_env")
        cls = channels.SlackWebhook if channel.kind == "slack" else channels.JsonWebhook
        return cls(name, url=channel.url, url_env=channel.url_env, timeout=timeout, ca_file=channel.ca_file)
    if channel.kind == "email":
        missing = [f for f in ("smtp_host", "mail_from") if not getattr(channel, f)]
        if not channel.mail_to:
            missing.append("mail_to")
        if missing:
            raise ValueError(f"notifier channel {name!r} (email) needs {', '.join(missing)}")
        if bool(channel.smtp_user_env) != bool(channel.smtp_password_env):
            raise ValueError(
                f"notifier channel {name!r} (email): set both smtp_user_env and smtp_password_env, or neither"
            )
        return channels.SmtpEmail(name, channel, timeout=timeout)
    if channel.kind == "pagerduty":
        if not channel.routing_key_env:
            raise ValueError(
                f"notifier channel {name!r} (pagerduty) needs routing_key_env: the name of the environment variable "
                "holding the Events API v2 integration key"
            )
        return channels.PagerDutyEvents(
            name,
            routing_key_env=channel.routing_key_env,
            url=channel.url or channels.PAGERDUTY_EVENTS_URL,
            timeout=timeout,
            ca_file=channel.ca_file,
            client_url=settings.webserver_base_url,
        )
    raise ValueError(f"notifier channel {name!r} has unknown kind {channel.kind!r}")  # pragma: no cover - pydantic


def route_channels(alert: Mapping[str, Any], settings: Settings) -> list[str]:
    """Channel names for an alert: every route whose rule pattern matches and whose minimum severity is met.

    A route's ``rule`` is a glob (``*`` = any rule, ``service_*`` = the service rules). Channels
    named by several routes are delivered once, in the order first named.
    """
    severity = str(alert["severity"])
    if severity not in SEVERITY_RANK:
        raise ValueError(
            f"alert {alert.get('dedup_key')!r} has severity {severity!r}; expected one of {list(SEVERITY_RANK)}"
        )
    names: list[str] = []
    for route in settings.notifiers.routes:
        if not fnmatch.fnmatchcase(str(alert["rule"]), route.rule):
            continue
        if SEVERITY_RANK[severity] < SEVERITY_RANK[route.min_severity]:
            continue
        for name in route.channels:
            if name not in names:
                names.append(name)
    return names


def validate_routing(settings: Settings) -> dict[str, Notifier]:
    """Every configured channel built, after checking that routes name only configured channels.

    Raises ``ValueError`` naming the problem: the alert assets call this before they change
    anything, so that a misconfiguration is never half-applied.
    """
    configured = settings.notifiers.channels
    unknown = sorted({n for route in settings.notifiers.routes for n in route.channels if n not in configured})
    if unknown:
        raise ValueError(
            f"notifier routes name channels {unknown} that are not configured under notifiers.channels "
            f"(configured: {sorted(configured)})"
        )
    return {name: build_notifier(name, channel, settings) for name, channel in configured.items()}


def secret_values(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of every environment variable the settings name as holding a secret.

    Used to scrub alert text and delivery errors: an error message can quote a URL with a
    token or a failed login, and alerts end up in chat rooms and pager apps.
    """
    environ = os.environ if environ is None else environ
    names: set[str] = set()
    for source in settings.sources.values():
        if source.token_env:
            names.add(source.token_env)
    for channel in settings.notifiers.channels.values():
        for name in (channel.smtp_user_env, channel.smtp_password_env, channel.routing_key_env, channel.url_env):
            if name:
                names.add(name)
    values = {environ[n] for n in names if len(environ.get(n) or "") >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` with every occurrence of a secret replaced by ``***`` (recursively through dicts and lists)."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value


def backoff_delay(attempt: int, policy: NotifierSettings, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): doubling from ``backoff_seconds``, capped.

    A receiver's ``Retry-After`` is honoured, within the same cap.
    """
    delay = policy.backoff_seconds * (2 ** (attempt - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, policy.max_backoff_seconds)


def send_with_retries(
    name: str,
    notifier: Notifier,
    message: Mapping[str, Any],
    policy: NotifierSettings,
    secrets: list[str],
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """One message to one channel: up to ``policy.attempts`` attempts with exponential backoff.

    Only failures that may pass (connection, timeout, 429, 5xx) are retried; a rejection
    (400, a refused recipient) is final for this run. Errors come back as a failed result,
    never as an exception, so one channel cannot stop the others.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            detail = notifier.send(message)
            return DeliveryResult(name, notifier.kind, True, redact(detail, secrets), attempts=attempt)
        except DeliveryError as exc:
            error: DeliveryError = exc
        except Exception as exc:  # a bug in a formatter must not lose the alert: record it and go on
            error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False, channel_down=False)
        if not error.retryable or attempt >= policy.attempts:
            return DeliveryResult(
                name,
                notifier.kind,
                False,
                redact(str(error), secrets),
                attempts=attempt,
                channel_down=error.channel_down,
            )
        sleep(backoff_delay(attempt, policy, error.retry_after))


def as_message(alert: Mapping[str, Any], event: str = TRIGGER) -> dict[str, Any]:
    """An alert that did not come through the alert store (an on-call page) as a message."""
    return {"event": event, "status": "resolved" if event == RESOLVE else "open", **alert}


def notify(
    alert: Mapping[str, Any], settings: Settings, sleep: Callable[[float], None] = time.sleep
) -> list[DeliveryResult]:
    """Deliver ``alert`` now to every channel its routes select; one result per channel.

    Used for on-call pages, which are sent straight from a sensor (the sensor does not write
    the warehouse). Configuration errors (a route naming an unknown channel, a channel missing
    its URL) raise before anything is delivered. Each channel is tried with retries; a failure
    is a failed result, so one broken channel does not silence the others. Secrets are scrubbed
    first.
    """
    missing = [f for f in REQUIRED_FIELDS if not alert.get(f)]
    if missing:
        raise ValueError(f"alert is missing {missing}: {dict(alert)!r}")
    names = route_channels(alert, settings)
    configured = settings.notifiers.channels
    unknown = [n for n in names if n not in configured]
    if unknown:
        raise ValueError(
            f"notifier routes name channels {unknown} that are not configured under notifiers.channels "
            f"(configured: {sorted(configured)})"
        )
    notifiers = [(name, build_notifier(name, configured[name], settings)) for name in names]
    secrets = secret_values(settings)
    clean = redact(jsonable(as_message(alert, str(alert.get("event") or TRIGGER))), secrets)
    return [
        send_with_retries(name, notifier, {**clean, "channel": name}, settings.notifiers, secrets, sleep)
        for name, notifier in notifiers
    ]
