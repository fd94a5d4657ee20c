"""Alert delivery: route an alert to the configured channels and deliver it.

An alert is a plain dict with at least ``dedup_key``, ``rule``, ``entity``, ``severity``,
``title`` and ``payload`` (and optionally ``link`` and ``detected_at``). Only the local
outbox channel is implemented so far; it needs no credentials and is the default.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from orchestration.lib.settings import ChannelSettings, Settings

try:  # POSIX only: the advisory lock keeps concurrent writers (run worker, sensor daemon) apart.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
REQUIRED_FIELDS = ("dedup_key", "rule", "entity", "severity")
#: Environment variables below this length are not treated as secrets (avoids redacting "1" or "true").
MIN_SECRET_LENGTH = 6
REDACTED = "***"

#: Where the channels that are not delivered yet will come from.
PENDING_CHANNEL_ISSUE = "issue 7 (alerts: Slack-compatible webhook, generic webhook, e-mail, PagerDuty Events API v2)"


@dataclass(frozen=True)
class DeliveryResult:
    """What happened when one alert went to one channel."""

    channel: str
    kind: str
    ok: bool
    detail: str


class Notifier(Protocol):
    kind: str

    def send(self, alert: Mapping[str, Any]) -> str:
        """Deliver one alert; return a short human-readable detail (never a secret)."""
        ...


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def jsonable(value: Any) -> Any:
    """Plain JSON types for an alert payload: dates as ISO strings, NaN as null, NumPy scalars unwrapped."""
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
    """Append one JSON line per alert to a local file.

    Each line is written with a single ``write`` on a file opened with ``O_APPEND`` while
    holding an exclusive advisory lock, so concurrent writers never interleave half lines.
    """

    kind = "outbox"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, alert: Mapping[str, Any]) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {**jsonable(alert), "delivered_at": utc_now().isoformat()}
        line = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(line)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        return f"appended to {self.path}"


def build_notifier(name: str, channel: ChannelSettings, settings: Settings) -> Notifier:
    """The notifier for one configured channel; kinds not built yet fail loudly, before anything is sent."""
    if channel.kind == "outbox":
        return Outbox(channel.path or settings.outbox)
    raise NotImplementedError(
        f"notifier channel {name!r} has kind {channel.kind!r}, which is not implemented yet: "
        f"{PENDING_CHANNEL_ISSUE} adds it. Until then route alerts to an 'outbox' channel in "
        "[notifiers.channels] / [[notifiers.routes]]."
    )


def route_channels(alert: Mapping[str, Any], settings: Settings) -> list[str]:
    """Channel names for an alert: every route whose rule pattern matches and whose minimum severity is met.

    A route's ``rule`` is a glob (``*`` = any rule, ``freight_*`` = the freight rules). Channels
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


def secret_values(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of every environment variable the settings name as holding a secret.

    Used to scrub alert text: an error message can quote a URL with a token or a failed
    login, and alerts end up in chat rooms and pager apps.
    """
    environ = os.environ if environ is None else environ
    names: set[str] = set()
    for source in settings.sources.values():
        if source.token_env:
            names.add(source.token_env)
    for channel in settings.notifiers.channels.values():
        for name in (channel.smtp_user_env, channel.smtp_password_env, channel.routing_key_env):
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


def notify(alert: Mapping[str, Any], settings: Settings) -> list[DeliveryResult]:
    """Deliver ``alert`` to every channel its routes select; one result per channel.

    Configuration errors (a route naming an unknown channel, a channel kind not implemented)
    raise before anything is delivered, so a misconfiguration is never half-applied. Errors
    while delivering (disk full, permissions) are caught per channel and reported as a failed
    result, so one broken channel does not silence the others. Secrets are scrubbed first.
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
    clean = redact(jsonable(alert), secret_values(settings))
    results: list[DeliveryResult] = []
    for name, notifier in notifiers:
        try:
            detail = notifier.send({**clean, "channel": name})
            results.append(DeliveryResult(channel=name, kind=notifier.kind, ok=True, detail=detail))
        except OSError as exc:
            results.append(
                DeliveryResult(channel=name, kind=notifier.kind, ok=False, detail=f"{type(exc).__name__}: {exc}")
            )
    return results
