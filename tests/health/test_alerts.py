"""Alerts, against real boundaries: an SMTP server with STARTTLS and AUTH (aiosmtpd, a trustme certificate) and an
HTTP webhook receiver, both on 127.0.0.1; Dagster runs executed in process on an instance of the test's own."""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

import orchestration.defs.alerts as alert_defs
from health.alerts import (
    AlertConfigError,
    SentAlerts,
    SmtpChannel,
    WebhookChannel,
    duration,
    failed_run_alert,
    send_once,
)

USERNAME = "alerts@example.com"
PASSWORD = "smtp-Pa55word-never-shown"
WEBHOOK_TOKEN = "T000/B000/webhook-token-never-shown"
LEAKY_ERROR = "Act-On refused the call: password=hunter2-in-an-error"


# --- an SMTP server: STARTTLS required, AUTH only over TLS ----------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.sessions: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.sessions.append(
            {"tls": session.ssl is not None, "authenticated": session.authenticated, "to": envelope.rcpt_tos}
        )
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USERNAME.encode(),
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd answers the failure itself (535)
    return AuthResult(success=ok, handled=False)


class _AnyPortController(Controller):
    """Controller on 127.0.0.1, port 0: it learns the port the OS chose before connecting to itself."""

    def __init__(self, handler: Any, **smtp: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, **smtp)

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def smtp(ca: trustme.CA) -> Iterator[tuple[_AnyPortController, _Inbox]]:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    inbox = _Inbox()
    controller = _AnyPortController(
        inbox,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    controller.start()
    yield controller, inbox
    controller.stop()


# --- a webhook receiver ---------------------------------------------------------------------------------------


class _Receiver(ThreadingHTTPServer):
    posts: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/fail/"):
            # echoes the path, as some servers do: the token must not reach a log from there either
            self._answer(500, f"no such hook {self.path}".encode())
            return
        self.server.posts.append(
            {"path": self.path, "content_type": self.headers["Content-Type"], "json": json.loads(body)}
        )
        self._answer(200, b"ok")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[_Receiver]:
    server = _Receiver(("127.0.0.1", 0), _Handler)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# --- environment, instance ------------------------------------------------------------------------------------


def _env(smtp_port: int, webhook_port: int, ca_file: str, hook_path: str = "/hooks/") -> dict[str, str]:
    return {
        "ALERT_SMTP_HOST": "127.0.0.1",
        "ALERT_SMTP_PORT": str(smtp_port),
        "ALERT_SMTP_USERNAME": USERNAME,
        "ALERT_SMTP_PASSWORD": PASSWORD,
        "ALERT_SMTP_CA_BUNDLE": ca_file,
        "ALERT_EMAIL_FROM": "sfacton@example.com",
        "ALERT_EMAIL_TO": "ops@example.com, oncall@example.com",
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{webhook_port}{hook_path}{WEBHOOK_TOKEN}",
        "DAGSTER_WEBSERVER_URL": "http://dagster.internal:3000/",
    }


@pytest.fixture
def channels(
    smtp: tuple[_AnyPortController, _Inbox], webhook: _Receiver, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[_Inbox, _Receiver]:
    controller, inbox = smtp
    for name, value in _env(controller.port, webhook.server_address[1], ca_file).items():
        monkeypatch.setenv(name, value)
    return inbox, webhook


@pytest.fixture
def instance(tmp_path: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral(tempdir=str(tmp_path))


def _fail_twice_job(hooks: set[dg.HookDefinition]) -> dg.JobDefinition:
    @dg.op
    def push_optouts() -> None:
        raise RuntimeError(LEAKY_ERROR)

    @dg.op
    def push_scores() -> None:
        raise ValueError("scores push failed")

    @dg.job(name="tiny_sync_job", hooks=hooks)
    def tiny_sync_job() -> None:
        push_optouts()
        push_scores()

    return tiny_sync_job


def _failure_context(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> Any:
    return dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()


def _assert_no_secret(*texts: str | bytes) -> None:
    for text in texts:
        text = text.decode() if isinstance(text, bytes) else text
        for secret in (PASSWORD, WEBHOOK_TOKEN, "hunter2"):
            assert secret not in text


# --- failed runs ----------------------------------------------------------------------------------------------


def test_a_failed_run_is_alerted_once_by_email_and_webhook(
    channels: tuple[_Inbox, _Receiver], instance: dg.DagsterInstance
) -> None:
    inbox, receiver = channels
    result = _fail_twice_job({alert_defs.alert_on_failure}).execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert not result.success
    failed_steps = {e.step_key for e in result.all_events if e.is_step_failure}
    assert failed_steps == {"push_optouts", "push_scores"}

    # two failing steps, two hook calls: one alert per channel
    assert len(inbox.messages) == 1 and len(receiver.posts) == 1
    assert inbox.sessions == [
        {"tls": True, "authenticated": True, "to": ["ops@example.com", "oncall@example.com"]}
    ]
    email, post = inbox.messages[0], receiver.posts[0]
    body = email.get_content()
    run_id = result.run_id
    assert "tiny_sync_job" in email["Subject"] and run_id[:8] in email["Subject"]
    for text in (body, post["json"]["text"]):
        assert f"run {run_id} of job tiny_sync_job failed" in text
        assert "- push_optouts: RuntimeError: Act-On refused the call: password=***" in text
        assert "make doctor" in text
        assert f"http://dagster.internal:3000/runs/{run_id}" in text
    assert post["json"]["summary"] == email["Subject"]
    assert post["content_type"] == "application/json"
    _assert_no_secret(inbox.raw[0], json.dumps(post["json"]))

    # the daemon's sensor, seeing the same run end, finds it alerted
    alert_defs.alert_on_run_failure(_failure_context(instance, result))
    assert len(inbox.messages) == 1 and len(receiver.posts) == 1


def test_the_failure_sensor_alerts_a_run_once(
    channels: tuple[_Inbox, _Receiver], instance: dg.DagsterInstance
) -> None:
    inbox, receiver = channels
    result = _fail_twice_job(set()).execute_in_process(instance=instance, raise_on_error=False)
    context = _failure_context(instance, result)

    alert_defs.alert_on_run_failure(context)
    alert_defs.alert_on_run_failure(context)

    assert len(inbox.messages) == 1 and len(receiver.posts) == 1
    body = inbox.messages[0].get_content()
    # the run is over: every failed step is named, without the "still going" note of an alert sent by a hook
    assert "- push_optouts: RuntimeError" in body and "- push_scores: ValueError: scores push failed" in body
    assert "still going" not in body
    _assert_no_secret(inbox.raw[0])


def test_no_channel_configured_is_a_warning_never_a_failure(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _env(0, 0, ""):
        monkeypatch.delenv(name, raising=False)
    result = _fail_twice_job({alert_defs.alert_on_failure}).execute_in_process(
        instance=instance, raise_on_error=False
    )
    events = [e.dagster_event.event_type for e in instance.all_logs(result.run_id) if e.dagster_event]
    assert events.count(dg.DagsterEventType.HOOK_COMPLETED) == 2
    assert dg.DagsterEventType.HOOK_ERRORED not in events
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "no alert channel is configured" in e.user_message
    ]
    assert len(warnings) == 1  # the run is claimed once: the second step does not repeat it


# --- delivery: TLS verified, secrets scrubbed, a failed delivery retried --------------------------------------


def _an_alert() -> Any:
    return failed_run_alert("sync_job", "0123456789abcdef", [], "Run timed out", None, finished=True)


def test_smtp_verifies_the_certificate_and_honours_requests_ca_bundle(
    smtp: tuple[_AnyPortController, _Inbox], ca_file: str, tmp_path: Path
) -> None:
    controller, inbox = smtp
    env = {k: v for k, v in _env(controller.port, 0, ca_file).items() if k != "ALERT_WEBHOOK_URL"}
    del env["ALERT_SMTP_CA_BUNDLE"]
    store, logger = SentAlerts(tmp_path), logging.getLogger("test_alerts")

    untrusted = send_once(
        store,
        "k",
        _an_alert(),
        logger,
        {**env, "REQUESTS_CA_BUNDLE": ssl.get_default_verify_paths().cafile or ""},
    )
    assert (
        untrusted is not None and untrusted.all_failed and "CERTIFICATE_VERIFY_FAILED" in untrusted.failed[0]
    )
    assert inbox.messages == []

    # the claim was released: the next occasion sends it, trusting the CA through REQUESTS_CA_BUNDLE
    trusted = send_once(store, "k", _an_alert(), logger, {**env, "REQUESTS_CA_BUNDLE": ca_file})
    assert trusted is not None and trusted.sent == ["email"]
    assert len(inbox.messages) == 1


def test_a_failed_delivery_logs_no_secret(
    smtp: tuple[_AnyPortController, _Inbox],
    webhook: _Receiver,
    ca_file: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    controller, _ = smtp
    env = _env(controller.port, webhook.server_address[1], ca_file, hook_path="/fail/")
    wrong_password = {**env, "ALERT_SMTP_PASSWORD": PASSWORD + "-wrong"}
    with caplog.at_level(logging.WARNING):
        delivery = send_once(
            SentAlerts(tmp_path), "k", _an_alert(), logging.getLogger("test_alerts"), wrong_password
        )
    assert delivery is not None and delivery.all_failed
    assert "SMTPAuthenticationError" in delivery.failed[0] and "HTTP 500" in delivery.failed[1]
    _assert_no_secret(caplog.text, *delivery.failed)
    assert PASSWORD + "-wrong" not in caplog.text


def test_misconfigured_channels_are_refused_without_echoing_secrets() -> None:
    with pytest.raises(AlertConfigError, match="https://") as http:
        WebhookChannel.from_env({"ALERT_WEBHOOK_URL": f"http://hooks.example.com/{WEBHOOK_TOKEN}"})
    with pytest.raises(AlertConfigError, match="in clear") as clear:
        SmtpChannel.from_env({**_env(25, 0, ""), "ALERT_SMTP_STARTTLS": "false"})
    with pytest.raises(AlertConfigError, match="ALERT_EMAIL_TO"):
        SmtpChannel.from_env({"ALERT_SMTP_HOST": "smtp.example.com", "ALERT_EMAIL_FROM": "a@example.com"})
    _assert_no_secret(str(http.value), str(clear.value))


# --- stale opt-outs -------------------------------------------------------------------------------------------


@pytest.fixture
def half_hourly_optouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "sync.yaml"
    config.write_text('optouts:\n  schedule: "*/30 * * * *"\n')
    monkeypatch.setenv("SYNC_CONFIG", str(config))


def _clock(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    monkeypatch.setattr(alert_defs, "_now", lambda: at)


def test_optouts_go_stale_at_the_second_scheduled_tick_after_the_last_sync() -> None:
    friday = datetime(2026, 3, 6, 9, 5, tzinfo=UTC)  # just after Friday's 09:00 run
    # a weekday schedule: Monday's tick is the first, Tuesday's the second; the weekend does not count
    assert alert_defs.stale_from("0 9 * * 1-5", friday) == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert alert_defs.stale_from("0 */4 * * *", friday) == datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    assert alert_defs.stale_from("0 9,13 * * *", friday) == datetime(2026, 3, 7, 9, 0, tzinfo=UTC)
    assert alert_defs.stale_from("*/30 * * * *", friday) == datetime(2026, 3, 6, 10, 0, tzinfo=UTC)


def test_a_weekday_schedule_is_not_stale_over_the_weekend(
    channels: tuple[_Inbox, _Receiver],
    instance: dg.DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, _ = channels
    config = tmp_path / "sync.yaml"
    config.write_text('optouts:\n  schedule: "0 9 * * 1-5"\n')
    monkeypatch.setenv("SYNC_CONFIG", str(config))
    monkeypatch.setattr(alert_defs, "last_optout_sync", lambda _: datetime(2026, 3, 6, 9, 5, tzinfo=UTC))
    for weekend_or_monday in (
        datetime(2026, 3, 8, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 9, 12, 0, tzinfo=UTC),
    ):
        _clock(monkeypatch, weekend_or_monday)
        alert_defs.alert_on_stale_optouts(dg.build_sensor_context(instance=instance))
    assert inbox.messages == []

    _clock(monkeypatch, datetime(2026, 3, 10, 9, 0, tzinfo=UTC))  # Tuesday's tick: two runs missed
    alert_defs.alert_on_stale_optouts(dg.build_sensor_context(instance=instance))
    assert len(inbox.messages) == 1


def _sync_optouts(instance: dg.DagsterInstance) -> datetime:
    """An opt-out sync as the sensor sees it: optout_sync materialised; returns when."""
    instance.report_runless_asset_event(dg.AssetMaterialization("optout_sync"))
    synced_at = alert_defs.last_optout_sync(instance)
    assert synced_at is not None
    return synced_at


@pytest.mark.usefixtures("half_hourly_optouts")
def test_stale_optouts_alert_once_per_episode(
    channels: tuple[_Inbox, _Receiver], instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, receiver = channels
    synced_at = _sync_optouts(instance)

    # before the second half-hourly tick after it, wherever in the half hour it fell: fresh
    _clock(monkeypatch, synced_at + timedelta(minutes=29))
    assert "fresh" in str(
        alert_defs.alert_on_stale_optouts(dg.build_sensor_context(instance=instance)).skip_message
    )

    # past it: one alert, and none on the next evaluations of the same episode
    _clock(monkeypatch, synced_at + timedelta(hours=3))
    for _ in range(2):
        alert_defs.alert_on_stale_optouts(dg.build_sensor_context(instance=instance))
    assert len(inbox.messages) == 1 and len(receiver.posts) == 1
    body = inbox.messages[0].get_content()
    assert f"was at {synced_at:%Y-%m-%d %H:%M} UTC, 3h ago" in body
    allowed = alert_defs.stale_from("*/30 * * * *", synced_at) - synced_at
    assert f"the allowed gap is {duration(allowed)}" in body and "'*/30 * * * *'" in body
    assert "make doctor" in body and "http://dagster.internal:3000/assets/optout_sync" in body
    _assert_no_secret(inbox.raw[0], json.dumps(receiver.posts[0]["json"]))

    # a sync, then staleness again: a new episode, a new alert
    resynced_at = _sync_optouts(instance)
    _clock(monkeypatch, resynced_at + timedelta(hours=3))
    alert_defs.alert_on_stale_optouts(dg.build_sensor_context(instance=instance))
    assert len(inbox.messages) == 2


@pytest.mark.usefixtures("half_hourly_optouts")
def test_a_never_synced_instance_is_stale_counted_from_the_first_evaluation(
    channels: tuple[_Inbox, _Receiver], instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, _ = channels
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    _clock(monkeypatch, start)
    context = dg.build_sensor_context(instance=instance)
    alert_defs.alert_on_stale_optouts(context)
    assert inbox.messages == []

    _clock(monkeypatch, start + timedelta(hours=2))
    alert_defs.alert_on_stale_optouts(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    assert len(inbox.messages) == 1
    assert "never been synced" in inbox.messages[0]["Subject"]
