"""The delivery channels beyond the outbox, and what each one's message looks like.

Every format is built by a pure function (``webhook_body``, ``slack_payload``,
``email_message``, ``pagerduty_event``) so that it can be read and tested without a
network; the notifier classes only send. Nothing here logs or returns a secret: URLs are
shown by host only (a Slack webhook URL carries its token) and the PagerDuty routing key
stays in the request body.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from orchestration.defs.alerts.notifiers import ESCALATE, RESOLVE, DeliveryError, jsonable
from orchestration.lib.settings import ChannelSettings

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
USER_AGENT = "tradewinds-alerts/0.1"
#: HTTP statuses that mean the channel itself is unusable (bad URL, revoked token, archived channel).
CHANNEL_DOWN_STATUSES = frozenset({401, 403, 404, 410})
#: Slack Block Kit limits (header text, section text, a field, fields per section).
SLACK_HEADER_CHARS, SLACK_TEXT_CHARS, SLACK_FIELD_CHARS, SLACK_MAX_FIELDS = 150, 3000, 2000, 10
PAGERDUTY_SUMMARY_CHARS, PAGERDUTY_DEDUP_CHARS = 1024, 255

RULE_LABELS: dict[str, str] = {
    "freight_spike": "Freight spike",
    "transit_delay": "Transit delay",
    "policy_change": "Policy change",
    "stockout_risk": "Stock-out risk",
    "stockout_demand_surge": "Demand surge (stock-out risk)",
    "service_first_response": "Service: first response over SLA",
    "service_csat_drop": "Service: CSAT drop",
    "service_return_rate": "Service: return rate",
    "supplier_concentration": "Supplier concentration",
    "failed_run": "Failed run",
    "failed_gate": "Failed gate",
}


# ---------------------------------------------------------------- shared text


def _truncate(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rule_label(rule: str) -> str:
    return RULE_LABELS.get(rule, rule.replace("_", " ").capitalize())


def event_label(message: Mapping[str, Any]) -> str:
    """``CRITICAL`` / ``ESCALATED warning -> critical`` / ``RESOLVED``: what the message announces."""
    event = message.get("event")
    severity = str(message.get("severity", "")).upper()
    if event == RESOLVE:
        return "RESOLVED"
    if event == ESCALATE:
        before = message.get("previous_severity")
        return f"ESCALATED {str(before).upper()} -> {severity}" if before else f"ESCALATED to {severity}"
    return severity


def headline(message: Mapping[str, Any]) -> str:
    """One line for subjects, notifications and fallbacks: ``[CRITICAL] Freight spike: <title>``."""
    lines = str(message.get("title") or message.get("entity") or "").splitlines()
    return f"[{event_label(message)}] {rule_label(str(message.get('rule', '')))}: {lines[0] if lines else ''}"


def facts(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The figures a person reads first, as (label, text) pairs; the rule's own ``facts`` when it set them."""
    given = message.get("facts")
    if isinstance(given, Mapping) and given:
        return [(str(k), "" if v is None else str(v)) for k, v in given.items()]
    payload = message.get("payload") or {}
    return [
        (str(k), str(v)) for k, v in payload.items() if isinstance(v, str | int | float) and not isinstance(v, bool)
    ][:SLACK_MAX_FIELDS]


def lifecycle_lines(message: Mapping[str, Any]) -> list[str]:
    lines = [f"Rule: {message.get('rule')}", f"Entity: {message.get('entity')}"]
    severity = str(message.get("severity"))
    if message.get("previous_severity"):
        severity += f" (was {message['previous_severity']})"
    lines.append(f"Severity: {severity}")
    lines.append(f"Status: {message.get('status', 'open')}")
    for key, label in (
        ("first_seen_at", "First seen"),
        ("last_seen_at", "Last seen"),
        ("resolved_at", "Resolved"),
        ("link", "Link"),
        ("dedup_key", "Dedup key"),
    ):
        if message.get(key):
            lines.append(f"{label}: {message[key]}")
    return lines


# ---------------------------------------------------------------- HTTP


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or "(no host)"


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _reason(exc: BaseException) -> str:
    """A short cause for a requests error, without the URL it quotes (it may carry a token)."""
    match = _ERRNO.search(str(exc))
    if match:
        return match.group(1).strip()
    inner: BaseException | None = exc
    while inner is not None and inner.__cause__ is not None:
        inner = inner.__cause__
    return type(inner or exc).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as dt

    return max(0.0, (when - dt.datetime.now(when.tzinfo or dt.UTC)).total_seconds())


def post_json(url: str, body: Mapping[str, Any], timeout: float, ca_file: Path | None, what: str) -> requests.Response:
    """POST ``body`` as JSON; a 2xx response or a :class:`DeliveryError` that says whether to retry.

    Retried: connection errors, timeouts, 429 and 5xx (``Retry-After`` honoured). Not retried:
    other 4xx (the receiver rejected this message); 401/403/404/410 also mark the channel down.
    """
    host = _host(url)
    try:
        response = requests.post(
            url,
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT},
            timeout=(min(timeout, 5.0), timeout),
            verify=str(ca_file) if ca_file else True,
            allow_redirects=False,
        )
    except requests.exceptions.SSLError as exc:
        raise DeliveryError(f"{what} {host}: TLS error ({_reason(exc)})", retryable=False, channel_down=True) from exc
    except requests.Timeout as exc:
        raise DeliveryError(f"{what} {host}: timed out after {timeout:g}s", retryable=True) from exc
    except requests.ConnectionError as exc:
        raise DeliveryError(f"{what} {host}: connection failed ({_reason(exc)})", retryable=True) from exc
    except requests.RequestException as exc:
        raise DeliveryError(f"{what} {host}: {type(exc).__name__}", retryable=False, channel_down=True) from exc
    if 200 <= response.status_code < 300:
        return response
    text = " ".join(response.text.split())[:200]
    detail = f"{what} {host}: HTTP {response.status_code}" + (f" {text}" if text else "")
    if response.status_code == 429 or response.status_code >= 500:
        raise DeliveryError(detail, retryable=True, retry_after=_retry_after(response.headers.get("Retry-After")))
    raise DeliveryError(detail, retryable=False, channel_down=response.status_code in CHANNEL_DOWN_STATUSES)


def _env_secret(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise DeliveryError(
            f"{what}: environment variable {variable} is not set (it holds the secret; set it where the pipeline runs)",
            retryable=False,
            channel_down=True,
        )
    return value


class _HttpChannel:
    kind = "webhook"

    def __init__(
        self, name: str, url: str | None, url_env: str | None, timeout: float, ca_file: Path | None = None
    ) -> None:
        self.name, self._url, self._url_env, self.timeout, self.ca_file = name, url, url_env, timeout, ca_file

    def url(self) -> str:
        return _env_secret(self._url_env, f"channel {self.name}") if self._url_env else str(self._url)


# ---------------------------------------------------------------- generic JSON webhook


def webhook_body(message: Mapping[str, Any]) -> dict[str, Any]:
    """The generic webhook body: the message itself (as the outbox writes it), plus a one-line ``text``."""
    return {**jsonable(message), "text": headline(message)}


class JsonWebhook(_HttpChannel):
    kind = "webhook"

    def send(self, message: Mapping[str, Any]) -> str:
        url = self.url()
        response = post_json(url, webhook_body(message), self.timeout, self.ca_file, "webhook")
        return f"webhook {_host(url)}: HTTP {response.status_code}"


# ---------------------------------------------------------------- Slack-compatible incoming webhook


def _mrkdwn(text: Any) -> str:
    """Slack escapes: only &, < and > are control characters in mrkdwn text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}


def slack_payload(message: Mapping[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message: Block Kit ``blocks`` and a ``text`` fallback for notifications.

    header (what happened), the title, up to ten fact fields, a context line with the rule,
    entity, first/last seen and dedup key, and a link to the run in the Dagster UI.
    """
    resolved = message.get("event") == RESOLVE
    emoji = ":white_check_mark:" if resolved else SEVERITY_EMOJI.get(str(message.get("severity")), "")
    header = f"{event_label(message)} · {rule_label(str(message.get('rule', '')))}"
    title = str(message.get("title") or message.get("entity"))
    if resolved:
        title = f"~{_mrkdwn(title)}~\nNo longer met as of {message.get('resolved_at') or 'this run'}."
    else:
        title = _mrkdwn(title)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _truncate(header, SLACK_HEADER_CHARS), "emoji": True},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _truncate(f"{emoji} {title}".strip(), SLACK_TEXT_CHARS)},
        },
    ]
    fields = [
        {"type": "mrkdwn", "text": _truncate(f"*{_mrkdwn(label)}*\n{_mrkdwn(value)}", SLACK_FIELD_CHARS)}
        for label, value in facts(message)[:SLACK_MAX_FIELDS]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    seen = [f"first seen {message['first_seen_at']}"] if message.get("first_seen_at") else []
    if message.get("last_seen_at"):
        seen.append(f"last seen {message['last_seen_at']}")
    context = " · ".join(
        [
            f"`{_mrkdwn(message.get('rule'))}`",
            _mrkdwn(message.get("entity")),
            *seen,
            f"key `{_mrkdwn(message.get('dedup_key'))}`",
        ]
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(context, SLACK_TEXT_CHARS)}]})
    if message.get("link"):
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{message['link']}|Open the run in Dagster>"}}
        )
    return {"text": _truncate(headline(message), SLACK_TEXT_CHARS), "blocks": blocks}


class SlackWebhook(_HttpChannel):
    kind = "slack"

    def send(self, message: Mapping[str, Any]) -> str:
        url = self.url()
        response = post_json(url, slack_payload(message), self.timeout, self.ca_file, "Slack webhook")
        return f"Slack webhook {_host(url)}: HTTP {response.status_code} {response.text[:20]}".strip()


# ---------------------------------------------------------------- e-mail over SMTP


def _message_id(key: str, suffix: str = "") -> str:
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:24]
    return f"<alert-{digest}{'-' + suffix if suffix else ''}@tradewinds.alerts>"


def email_message(message: Mapping[str, Any], mail_from: str, mail_to: list[str]) -> EmailMessage:
    """A plain-text e-mail; the escalation and resolution of an alert reply to its first message (one thread)."""
    mail = EmailMessage()
    subject = " ".join(f"[Tradewinds] {headline(message)}".split())
    mail["Subject"] = _truncate(subject, 200)
    mail["From"] = mail_from
    mail["To"] = ", ".join(mail_to)
    mail["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    thread = str(message.get("alert_id") or message.get("dedup_key"))
    event = str(message.get("event") or "trigger")
    if event == "trigger":
        mail["Message-ID"] = _message_id(thread)
    else:
        stamp = re.sub(r"\D", "", str(message.get("resolved_at") or message.get("last_seen_at") or ""))[:14]
        mail["Message-ID"] = _message_id(thread, f"{event}{stamp}")
        mail["In-Reply-To"] = _message_id(thread)
        mail["References"] = _message_id(thread)
    mail["X-Tradewinds-Dedup-Key"] = str(message.get("dedup_key"))
    mail["X-Tradewinds-Event"] = event
    mail["X-Tradewinds-Severity"] = str(message.get("severity"))
    body = [headline(message), "", str(message.get("title") or ""), ""]
    body += [f"{label}: {value}" for label, value in facts(message)]
    body += [
        "",
        *lifecycle_lines(message),
        "",
        "Payload:",
        json.dumps(jsonable(message.get("payload") or {}), indent=2),
    ]
    mail.set_content("\n".join(body) + "\n")
    return mail


class SmtpEmail:
    kind = "email"

    def __init__(self, name: str, channel: ChannelSettings, timeout: float) -> None:
        self.name, self.channel, self.timeout = name, channel, timeout

    def send(self, message: Mapping[str, Any]) -> str:
        c = self.channel
        where = f"SMTP {c.smtp_host}:{c.smtp_port}"
        user = _env_secret(c.smtp_user_env, f"channel {self.name}") if c.smtp_user_env else None
        password = _env_secret(c.smtp_password_env, f"channel {self.name}") if c.smtp_password_env else None
        mail = email_message(message, str(c.mail_from), list(c.mail_to))
        try:
            with smtplib.SMTP(str(c.smtp_host), c.smtp_port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if c.smtp_starttls:
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(f"{where} does not offer STARTTLS", retryable=False, channel_down=True)
                    context = ssl.create_default_context(cafile=str(c.ca_file) if c.ca_file else None)
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if user is not None:
                    smtp.login(user, password or "")
                refused = smtp.send_message(mail)
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{where}: login refused ({exc.smtp_code})", retryable=False, channel_down=True
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {exc}", retryable=False, channel_down=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"{where}: every recipient refused ({', '.join(sorted(exc.recipients))})",
                retryable=False,
                channel_down=False,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            )
            raise DeliveryError(
                f"{where}: {exc.smtp_code} {' '.join(text.split())[:200]}", retryable=400 <= exc.smtp_code < 500
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"{where}: the server's certificate did not verify ({exc.verify_message}); set ca_file",
                retryable=False,
                channel_down=True,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, timeouts
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}", retryable=True) from exc
        sent = len(c.mail_to) - len(refused)
        note = f"; refused {', '.join(sorted(refused))}" if refused else ""
        return f"e-mailed {sent} recipient(s) via {where}{' (STARTTLS)' if c.smtp_starttls else ''}{note}"


# ---------------------------------------------------------------- PagerDuty Events API v2


def pagerduty_dedup_key(dedup_key: str) -> str:
    """The alert's dedup key, shortened with a hash past PagerDuty's 255 characters."""
    if len(dedup_key) <= PAGERDUTY_DEDUP_CHARS:
        return dedup_key
    digest = hashlib.sha1(dedup_key.encode("utf-8")).hexdigest()
    return dedup_key[: PAGERDUTY_DEDUP_CHARS - 41] + "~" + digest


def pagerduty_event(message: Mapping[str, Any], routing_key: str, client_url: str | None = None) -> dict[str, Any]:
    """An Events API v2 event: ``trigger`` for a new or escalated alert, ``resolve`` for its end.

    The dedup key is the alert's, so PagerDuty folds an escalation into the open incident and
    the resolve closes it; a condition that comes back after a resolve opens a new incident.
    """
    dedup_key = pagerduty_dedup_key(str(message["dedup_key"]))
    if message.get("event") == RESOLVE:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    details: dict[str, Any] = dict(facts(message))
    details.update(
        {
            "rule": message.get("rule"),
            "entity": message.get("entity"),
            "event": message.get("event") or "trigger",
            "first_seen_at": message.get("first_seen_at"),
            "payload": jsonable(message.get("payload") or {}),
        }
    )
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": _truncate(" ".join(headline(message).split()), PAGERDUTY_SUMMARY_CHARS),
            "source": "tradewinds",
            "severity": str(message.get("severity")),
            "component": str(message.get("entity")),
            "group": str(message.get("rule")),
            "class": str(message.get("rule")),
            "custom_details": details,
        },
        "client": "Tradewinds",
    }
    if message.get("detected_at") or message.get("last_seen_at"):
        event["payload"]["timestamp"] = str(message.get("detected_at") or message.get("last_seen_at"))
    if client_url:
        event["client_url"] = client_url
    if message.get("link"):
        event["links"] = [{"href": str(message["link"]), "text": "The run in the Dagster UI"}]
    return event


class PagerDutyEvents:
    kind = "pagerduty"

    def __init__(
        self,
        name: str,
        routing_key_env: str,
        url: str = PAGERDUTY_EVENTS_URL,
        timeout: float = 10.0,
        ca_file: Path | None = None,
        client_url: str | None = None,
    ) -> None:
        self.name, self.routing_key_env, self.url = name, routing_key_env, url
        self.timeout, self.ca_file, self.client_url = timeout, ca_file, client_url

    def send(self, message: Mapping[str, Any]) -> str:
        routing_key = _env_secret(self.routing_key_env, f"channel {self.name}")
        event = pagerduty_event(message, routing_key, self.client_url)
        response = post_json(self.url, event, self.timeout, self.ca_file, "PagerDuty")
        try:
            status = response.json().get("status", "")
        except ValueError:
            status = ""
        return f"PagerDuty {event['event_action']} {event['dedup_key']}: HTTP {response.status_code} {status}".strip()
