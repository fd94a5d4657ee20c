"""Notifiers against real local receivers: an HTTP server for webhook, Slack and PagerDuty
payloads that fails on demand, and aiosmtpd SMTP servers (plain; STARTTLS with login).

The receivers here are also used by ``tests/test_alerts.py`` (the asset tests).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from orchestration.defs.alerts.channels import (
    PAGERDUTY_SUMMARY_CHARS,
    SLACK_HEADER_CHARS,
    email_message,
    pagerduty_event,
    slack_payload,
)
from orchestration.defs.alerts.notifiers import (
    DeliveryError,
    backoff_delay,
    notify,
    send_with_retries,
    validate_routing,
)
from orchestration.lib.settings import ChannelSettings, NotifierSettings, Route, Settings

FAST = {"attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "timeout_seconds": 2.0}


# ---------------------------------------------------------------- an HTTP receiver that fails on demand


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class HttpReceiver:
    """Records JSON POSTs per path; ``fail(path, n, status)`` makes the next n requests to a path fail.

    ``down(path)`` fails every request until ``up(path)``; status 0 drops the connection
    without a response; ``hang(path, seconds)`` answers only after a delay (a timeout).
    """

    url: str
    requests: list[Received] = field(default_factory=list)
    plans: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    downs: dict[str, int] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, path: str, times: int = 1, status: int = 503, headers: dict[str, str] | None = None) -> None:
        self.plans.setdefault(path, []).extend([(status, headers or {})] * times)

    def down(self, path: str, status: int = 503) -> None:
        self.downs[path] = status

    def up(self, path: str) -> None:
        self.downs.pop(path, None)

    def hang(self, path: str, seconds: float) -> None:
        self.delays[path] = seconds

    def at(self, path: str) -> list[Any]:
        return [r.body for r in self.requests if r.path == path]


class _Handler(BaseHTTPRequestHandler):
    receiver: HttpReceiver

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        receiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path
        with receiver.lock:
            receiver.attempts[path] = receiver.attempts.get(path, 0) + 1
            planned = receiver.plans.get(path) or []
            failure = planned.pop(0) if planned else None
            if failure is None and path in receiver.downs:
                failure = (receiver.downs[path], {})
            delay = receiver.delays.get(path, 0.0)
        if delay:
            time.sleep(delay)
        if failure is not None:
            status, headers = failure
            if status == 0:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = json.dumps({"status": "error", "message": f"planned failure {status}"}).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with receiver.lock:
            receiver.requests.append(Received(path, dict(self.headers), json.loads(raw.decode("utf-8"))))
        if path.startswith("/pagerduty"):
            status, body = 202, json.dumps({"status": "success", "message": "Event processed"}).encode()
        elif path.startswith("/slack"):
            status, body = 200, b"ok"
        else:
            status, body = 204, b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


@contextlib.contextmanager
def running_http_receiver() -> Iterator[HttpReceiver]:
    """An :class:`HttpReceiver` on a free port of 127.0.0.1, for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    receiver = HttpReceiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.receiver = receiver  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with running_http_receiver() as receiver:
        yield receiver


# ---------------------------------------------------------------- SMTP receivers (aiosmtpd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpReceiver:
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    starttls: list[bool] = field(default_factory=list)
    reject_next: int = 0


class _SmtpHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        if self.receiver.reject_next:
            self.receiver.reject_next -= 1
            return "451 4.3.0 try again later"
        self.receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.receiver.starttls.append(session.ssl is not None)
        self.receiver.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key, made with ``cryptography``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def start_smtp(tls: tuple[Path, Path] | None = None, credentials: tuple[str, str] | None = None):
    pytest.importorskip("aiosmtpd", reason="aiosmtpd (a dev dependency) is needed for the SMTP receiver")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    receiver = SmtpReceiver(port=free_port())
    kwargs: dict[str, Any] = {}
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        kwargs.update(tls_context=context, require_starttls=True)
    if credentials is not None:

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            ok = (
                isinstance(auth_data, LoginPassword)
                and (
                    auth_data.login.decode(),
                    auth_data.password.decode(),
                )
                == credentials
            )
            if ok:
                receiver.logins.append(auth_data.login.decode())
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls is not None)
    controller = Controller(_SmtpHandler(receiver), hostname="127.0.0.1", port=receiver.port, **kwargs)
    controller.start()
    return controller, receiver


@pytest.fixture
def smtp_plain() -> Iterator[SmtpReceiver]:
    controller, receiver = start_smtp()
    try:
        yield receiver
    finally:
        controller.stop()


@pytest.fixture
def smtp_tls_auth(tmp_path: Path) -> Iterator[tuple[SmtpReceiver, Path]]:
    pytest.importorskip("cryptography", reason="the STARTTLS test makes its certificate with cryptography")
    cert, key = self_signed_cert(tmp_path)
    controller, receiver = start_smtp(tls=(cert, key), credentials=("alerts", "s3cret-smtp-pass"))
    try:
        yield receiver, cert
    finally:
        controller.stop()


# ---------------------------------------------------------------- helpers


def settings_with(tmp_path: Path, channels: dict[str, ChannelSettings], routes: list[Route] | None = None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        webserver_base_url="http://dagster.test:3000",
        notifiers=NotifierSettings(channels=channels, routes=routes or [Route(channels=list(channels))], **FAST),
    )


ALERT = {
    "dedup_key": "freight_spike:CNSHA-DEHAM:ocean_fcl_40ft",
    "alert_id": "freight_spike:CNSHA-DEHAM:ocean_fcl_40ft#1",
    "rule": "freight_spike",
    "entity": "CNSHA-DEHAM/ocean_fcl_40ft",
    "severity": "critical",
    "title": "Freight spike CN->DE ocean_fcl_40ft (CNSHA-DEHAM), week of 2025-06-23: up 120.0% week over week",
    "facts": {"Rate": "$4,400 per_container", "Week over week": "+120.0%", "Note": "a < b & c > d"},
    "payload": {"wow_change_pct": 120.0, "rate_week": "2025-06-23"},
    "link": "http://dagster.test:3000/runs/abc",
    "first_seen_at": "2025-06-24T02:00:00+00:00",
    "last_seen_at": "2025-06-24T02:00:00+00:00",
}


# ---------------------------------------------------------------- formats


def test_slack_payload_is_block_kit_with_a_fallback_and_escapes() -> None:
    message = {**ALERT, "event": "trigger", "title": "x" * 400}
    body = slack_payload(message)
    assert body["text"].startswith("[CRITICAL] Freight spike: ")
    types = [b["type"] for b in body["blocks"]]
    assert types == ["header", "section", "section", "context", "section"]
    header = body["blocks"][0]["text"]
    assert header["type"] == "plain_text" and len(header["text"]) <= SLACK_HEADER_CHARS
    fields = body["blocks"][2]["fields"]
    assert {"type": "mrkdwn", "text": "*Note*\na &lt; b &amp; c &gt; d"} in fields
    assert body["blocks"][-1]["text"]["text"] == "<http://dagster.test:3000/runs/abc|Open the run in Dagster>"
    resolved = slack_payload({**ALERT, "event": "resolve", "resolved_at": "2025-06-30T02:00:00+00:00"})
    assert resolved["text"].startswith("[RESOLVED]")
    assert "No longer met as of 2025-06-30" in resolved["blocks"][1]["text"]["text"]


def test_pagerduty_trigger_and_resolve_share_the_dedup_key() -> None:
    trigger = pagerduty_event({**ALERT, "event": "trigger", "title": "t" * 2000}, "rk-123456", "http://dagster.test")
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "rk-123456"
    assert trigger["dedup_key"] == ALERT["dedup_key"]
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "tradewinds"
    assert len(trigger["payload"]["summary"]) <= PAGERDUTY_SUMMARY_CHARS
    assert trigger["payload"]["custom_details"]["Rate"] == "$4,400 per_container"
    assert trigger["links"] == [{"href": ALERT["link"], "text": "The run in the Dagster UI"}]
    escalate = pagerduty_event({**ALERT, "event": "escalate", "previous_severity": "warning"}, "rk-123456")
    assert escalate["event_action"] == "trigger"  # PagerDuty folds it into the open incident
    assert "ESCALATED WARNING -> CRITICAL" in escalate["payload"]["summary"]
    resolve = pagerduty_event({**ALERT, "event": "resolve"}, "rk-123456")
    assert resolve == {"routing_key": "rk-123456", "event_action": "resolve", "dedup_key": ALERT["dedup_key"]}
    long_key = pagerduty_event({**ALERT, "dedup_key": "k" * 400, "event": "resolve"}, "rk")["dedup_key"]
    assert len(long_key) == 255


def test_email_thread_escalation_and_resolution_reply_to_the_trigger() -> None:
    first = email_message({**ALERT, "event": "trigger"}, "alerts@tw.test", ["ops@tw.test"])
    later = email_message(
        {**ALERT, "event": "resolve", "resolved_at": "2025-06-30T02:00:00+00:00"}, "alerts@tw.test", ["ops@tw.test"]
    )
    assert first["Subject"].startswith("[Tradewinds] [CRITICAL] Freight spike:")
    assert later["Subject"].startswith("[Tradewinds] [RESOLVED] Freight spike:")
    assert later["In-Reply-To"] == first["Message-ID"] == later["References"]
    assert later["Message-ID"] != first["Message-ID"]
    assert "Rate: $4,400 per_container" in first.get_content()
    assert first["X-Tradewinds-Dedup-Key"] == ALERT["dedup_key"]


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    policy = NotifierSettings(backoff_seconds=1.0, max_backoff_seconds=5.0)
    assert [backoff_delay(n, policy) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert backoff_delay(1, policy, retry_after=3.0) == 3.0
    assert backoff_delay(1, policy, retry_after=60.0) == 5.0


def test_configuration_errors_are_raised_before_sending(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs url or url_env"):
        validate_routing(settings_with(tmp_path, {"s": ChannelSettings(kind="slack")}))
    with pytest.raises(ValueError, match="mail_to"):
        validate_routing(settings_with(tmp_path, {"m": ChannelSettings(kind="email", smtp_host="h", mail_from="a@b")}))
    with pytest.raises(ValueError, match="routing_key_env"):
        validate_routing(settings_with(tmp_path, {"pd": ChannelSettings(kind="pagerduty")}))
    with pytest.raises(ValueError, match="not configured"):
        validate_routing(
            settings_with(tmp_path, {"outbox": ChannelSettings(kind="outbox")}, [Route(channels=["outbox", "nope"])])
        )


# ---------------------------------------------------------------- against the HTTP receiver


def test_webhook_slack_and_pagerduty_reach_the_receiver(
    tmp_path: Path, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TW_TEST_SLACK_URL", f"{http_receiver.url}/slack/T000/B000/secret-token-xyz")
    monkeypatch.setenv("TW_TEST_PD_KEY", "pd-routing-key-123")
    settings = settings_with(
        tmp_path,
        {
            "hook": ChannelSettings(kind="webhook", url=f"{http_receiver.url}/hook"),
            "slack": ChannelSettings(kind="slack", url_env="TW_TEST_SLACK_URL"),
            "pd": ChannelSettings(
                kind="pagerduty", url=f"{http_receiver.url}/pagerduty", routing_key_env="TW_TEST_PD_KEY"
            ),
        },
    )
    results = notify(ALERT, settings)
    assert [(r.channel, r.ok, r.attempts) for r in results] == [("hook", True, 1), ("slack", True, 1), ("pd", True, 1)]
    assert "secret-token-xyz" not in " ".join(r.detail for r in results)
    [hook] = http_receiver.at("/hook")
    assert hook["dedup_key"] == ALERT["dedup_key"] and hook["event"] == "trigger" and hook["channel"] == "hook"
    assert hook["payload"] == ALERT["payload"] and hook["text"].startswith("[CRITICAL]")
    [slack] = http_receiver.at("/slack/T000/B000/secret-token-xyz")
    assert slack["blocks"][0]["type"] == "header" and "text" in slack
    [pd_event] = http_receiver.at("/pagerduty")
    assert pd_event["routing_key"] == "pd-routing-key-123" and pd_event["event_action"] == "trigger"
    assert http_receiver.requests[0].headers["Content-Type"].startswith("application/json")


def test_retries_with_backoff_then_success(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    http_receiver.fail("/hook", times=1, status=503)
    http_receiver.fail("/hook", times=1, status=429, headers={"Retry-After": "0"})
    sleeps: list[float] = []
    settings = settings_with(tmp_path, {"hook": ChannelSettings(kind="webhook", url=f"{http_receiver.url}/hook")})
    [result] = notify(ALERT, settings, sleep=sleeps.append)
    assert result.ok and result.attempts == 3
    assert sleeps == [0.01, 0.02]  # doubling backoff between the attempts
    assert len(http_receiver.at("/hook")) == 1 and http_receiver.attempts["/hook"] == 3


def test_a_rejected_message_is_not_retried_but_a_down_channel_is(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    settings = settings_with(tmp_path, {"hook": ChannelSettings(kind="webhook", url=f"{http_receiver.url}/hook")})
    http_receiver.fail("/hook", times=1, status=400)
    [rejected] = notify(ALERT, settings, sleep=lambda s: None)
    assert (rejected.ok, rejected.attempts, rejected.channel_down) == (False, 1, False)
    assert "HTTP 400" in rejected.detail
    http_receiver.down("/hook", status=0)  # connection dropped without a response
    [dropped] = notify(ALERT, settings, sleep=lambda s: None)
    assert (dropped.ok, dropped.attempts, dropped.channel_down) == (False, 3, True)
    http_receiver.down("/hook", status=404)  # wrong URL: the channel is down, no point in retrying now
    [missing] = notify(ALERT, settings, sleep=lambda s: None)
    assert (missing.ok, missing.attempts, missing.channel_down) == (False, 1, True)


def test_a_hanging_receiver_times_out(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    http_receiver.hang("/hook", 1.0)
    settings = settings_with(tmp_path, {"hook": ChannelSettings(kind="webhook", url=f"{http_receiver.url}/hook")})
    settings.notifiers.timeout_seconds = 0.3
    settings.notifiers.attempts = 1
    [result] = notify(ALERT, settings)
    assert not result.ok and "timed out after 0.3s" in result.detail and result.channel_down


def test_one_failing_channel_does_not_block_the_others(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    http_receiver.down("/slack/x")
    settings = settings_with(
        tmp_path,
        {
            "slack": ChannelSettings(kind="slack", url=f"{http_receiver.url}/slack/x"),
            "hook": ChannelSettings(kind="webhook", url=f"{http_receiver.url}/hook"),
            "outbox": ChannelSettings(kind="outbox"),
        },
    )
    results = notify(ALERT, settings, sleep=lambda s: None)
    assert [(r.channel, r.ok) for r in results] == [("slack", False), ("hook", True), ("outbox", True)]
    assert http_receiver.attempts["/slack/x"] == FAST["attempts"]
    assert len(http_receiver.at("/hook")) == 1 and settings.outbox.exists()


def test_missing_secret_fails_that_channel_only_and_names_the_variable(
    tmp_path: Path, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TW_TEST_UNSET_KEY", raising=False)
    settings = settings_with(
        tmp_path,
        {
            "pd": ChannelSettings(
                kind="pagerduty", url=f"{http_receiver.url}/pagerduty", routing_key_env="TW_TEST_UNSET_KEY"
            ),
            "hook": ChannelSettings(kind="webhook", url=f"{http_receiver.url}/hook"),
        },
    )
    pd_result, hook_result = notify(ALERT, settings, sleep=lambda s: None)
    assert not pd_result.ok and "TW_TEST_UNSET_KEY is not set" in pd_result.detail and pd_result.attempts == 1
    assert hook_result.ok


def test_send_with_retries_turns_formatter_bugs_into_failed_results(tmp_path: Path) -> None:
    class Broken:
        kind = "webhook"

        def send(self, message: Any) -> str:
            raise KeyError("payload")

    class Flaky:
        kind = "webhook"
        calls = 0

        def send(self, message: Any) -> str:
            Flaky.calls += 1
            if Flaky.calls < 2:
                raise DeliveryError("503", retryable=True)
            return "ok"

    policy = NotifierSettings(**FAST)
    broken = send_with_retries("b", Broken(), ALERT, policy, [], sleep=lambda s: None)
    assert not broken.ok and "KeyError" in broken.detail and broken.attempts == 1
    flaky = send_with_retries("f", Flaky(), ALERT, policy, [], sleep=lambda s: None)
    assert flaky.ok and flaky.attempts == 2


# ---------------------------------------------------------------- against aiosmtpd


def test_email_over_plain_smtp(tmp_path: Path, smtp_plain: SmtpReceiver) -> None:
    settings = settings_with(
        tmp_path,
        {
            "mail": ChannelSettings(
                kind="email",
                smtp_host="127.0.0.1",
                smtp_port=smtp_plain.port,
                mail_from="alerts@tw.test",
                mail_to=["ops@tw.test", "buyers@tw.test"],
            )
        },
    )
    [result] = notify(ALERT, settings)
    assert result.ok and "e-mailed 2 recipient(s)" in result.detail
    [(sender, recipients)] = smtp_plain.envelopes
    assert sender == "alerts@tw.test" and recipients == ["ops@tw.test", "buyers@tw.test"]
    [mail] = smtp_plain.messages
    assert mail["Subject"].startswith("[Tradewinds] [CRITICAL] Freight spike:")
    assert "Week over week: +120.0%" in mail.get_content()
    assert smtp_plain.starttls == [False]


def test_email_temporary_rejection_is_retried(tmp_path: Path, smtp_plain: SmtpReceiver) -> None:
    smtp_plain.reject_next = 1  # 451 once
    settings = settings_with(
        tmp_path,
        {
            "mail": ChannelSettings(
                kind="email",
                smtp_host="127.0.0.1",
                smtp_port=smtp_plain.port,
                mail_from="a@tw.test",
                mail_to=["o@tw.test"],
            )
        },
    )
    [result] = notify(ALERT, settings, sleep=lambda s: None)
    assert result.ok and result.attempts == 2 and len(smtp_plain.messages) == 1


def test_email_with_starttls_and_login(
    tmp_path: Path, smtp_tls_auth: tuple[SmtpReceiver, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, cert = smtp_tls_auth
    monkeypatch.setenv("TW_TEST_SMTP_USER", "alerts")
    monkeypatch.setenv("TW_TEST_SMTP_PASS", "s3cret-smtp-pass")
    channel = ChannelSettings(
        kind="email",
        smtp_host="127.0.0.1",
        smtp_port=receiver.port,
        smtp_starttls=True,
        smtp_user_env="TW_TEST_SMTP_USER",
        smtp_password_env="TW_TEST_SMTP_PASS",
        ca_file=cert,
        mail_from="alerts@tw.test",
        mail_to=["ops@tw.test"],
    )
    [result] = notify(ALERT, settings_with(tmp_path, {"mail": channel}))
    assert result.ok and "(STARTTLS)" in result.detail
    assert receiver.starttls == [True] and receiver.logins == ["alerts"]

    monkeypatch.setenv("TW_TEST_SMTP_PASS", "wrong-password")
    [refused] = notify(ALERT, settings_with(tmp_path, {"mail": channel}), sleep=lambda s: None)
    assert not refused.ok and "login refused" in refused.detail and refused.attempts == 1
    assert "wrong-password" not in refused.detail

    untrusted = channel.model_copy(update={"ca_file": None})  # the self-signed certificate is not in the system store
    [unverified] = notify(ALERT, settings_with(tmp_path, {"mail": untrusted}), sleep=lambda s: None)
    assert not unverified.ok and "did not verify" in unverified.detail
    assert len(receiver.messages) == 1


def test_email_to_a_server_that_is_not_there_is_retried_and_fails(tmp_path: Path) -> None:
    channel = ChannelSettings(
        kind="email", smtp_host="127.0.0.1", smtp_port=free_port(), mail_from="a@tw.test", mail_to=["o@tw.test"]
    )
    [result] = notify(ALERT, settings_with(tmp_path, {"mail": channel}), sleep=lambda s: None)
    assert not result.ok and result.attempts == FAST["attempts"] and result.channel_down
    assert "ConnectionRefusedError" in result.detail
