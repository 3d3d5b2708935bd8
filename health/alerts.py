"""Alerts to a person, for a failed run or stale opt-outs: the message, the channels, and sending each alert once.

Plain Python; ``orchestration/defs/alerts.py`` decides when to alert. The channels are configured only from the
environment (never sync.yaml or run config, which Dagster shows), and their secrets (the SMTP password, the
webhook URL, which carries its own token) are scrubbed from every error this module logs or raises. An alert
with no channel configured is logged as a warning: alerting never fails the run it reports on.
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import sqlite3
import ssl
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests

from ingest.clients.redact import redact

SMTP_HOST = "ALERT_SMTP_HOST"
SMTP_PORT = "ALERT_SMTP_PORT"
SMTP_USERNAME = "ALERT_SMTP_USERNAME"
SMTP_PASSWORD = "ALERT_SMTP_PASSWORD"
SMTP_STARTTLS = "ALERT_SMTP_STARTTLS"
SMTP_CA_BUNDLE = "ALERT_SMTP_CA_BUNDLE"
REQUESTS_CA_BUNDLE = "REQUESTS_CA_BUNDLE"
EMAIL_FROM = "ALERT_EMAIL_FROM"
EMAIL_TO = "ALERT_EMAIL_TO"
WEBHOOK_URL = "ALERT_WEBHOOK_URL"
WEBSERVER_URL = "DAGSTER_WEBSERVER_URL"

DEFAULT_SMTP_PORT = 587
SMTP_TIMEOUT_S = 30.0
WEBHOOK_TIMEOUT_S = (10.0, 30.0)  # connect, read
SUBJECT_PREFIX = "[sfacton]"


class AlertConfigError(ValueError):
    """An ALERT_* variable is missing or invalid; the message names it (never its value) and the fix."""


class AlertDeliveryError(RuntimeError):
    """No configured channel took the alert; the message holds each channel's (scrubbed) error."""


@dataclass(frozen=True)
class Alert:
    subject: str  # one line: the email subject, the chat summary
    body: str  # what failed and what to do


@dataclass(frozen=True)
class StepFailure:
    step_key: str
    error: str  # the first line of the error


# --- messages -----------------------------------------------------------------------------------------


def ui_url(path: str, env: Mapping[str, str]) -> str | None:
    """A page of the Dagster UI when its address is known (DAGSTER_WEBSERVER_URL)."""
    base = env.get(WEBSERVER_URL, "").strip().rstrip("/")
    return f"{base}{path}" if base else None


def first_line(text: str) -> str:
    """The first non-empty line, redacted: an exception's text may quote a request with its token."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return redact(line)


def duration(span: timedelta) -> str:
    """A span as an operator reads it: 2d 3h, 8h, 45min."""
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}min" if minutes else ""]
    return " ".join(p for p in parts if p) or "0min"


def _todo(first: Sequence[str], url: str | None, url_label: str) -> str:
    steps = [*([f"{url_label}: {url}"] if url else []), *first]
    return "What to do:\n" + "\n".join(f"- {s}" for s in steps)


def failed_run_alert(
    job_name: str,
    run_id: str,
    failures: Sequence[StepFailure],
    run_error: str | None,
    run_url: str | None,
    finished: bool,
) -> Alert:
    """What failed in a run (its failed steps, else the run's own error) and what to do."""
    if failures:
        what = "Failed steps:\n" + "\n".join(f"- {f.step_key}: {f.error}" for f in failures)
        if not finished:
            # Sent by the first failing step: steps still running may fail too, and only the run page has them.
            what += "\n(The run was still going when this was sent: its page shows any later failure.)"
    else:
        what = f"Error: {first_line(run_error or '') or 'none recorded (the run page may say more)'}"
    todo = _todo(
        [
            "Run `make doctor`: it checks the configuration, the credentials and both systems, and says what "
            "to fix.",
            "Once fixed, run the job again (`make sync`, or re-execute the run in the Dagster UI).",
        ],
        run_url,
        "Open the run",
    )
    return Alert(
        subject=f"{SUBJECT_PREFIX} {job_name} failed (run {run_id[:8]})",
        body=f"The Dagster run {run_id} of job {job_name} failed.\n\n{what}\n\n{todo}",
    )


def stale_optouts_alert(
    last_success: datetime | None,
    watching_since: datetime,
    allowed_gap: timedelta,
    schedule: str,
    now: datetime,
    asset_url: str | None,
) -> Alert:
    """No opt-out sync succeeded within the allowed gap: since when, the gap, and what to do."""
    if last_success is None:
        subject = f"{SUBJECT_PREFIX} opt-outs have never been synced"
        since = (
            "No opt-out sync (asset optout_sync) has succeeded on this Dagster instance since it was first "
            f"watched, at {watching_since:%Y-%m-%d %H:%M} UTC, {duration(now - watching_since)} ago"
        )
    else:
        subject = f"{SUBJECT_PREFIX} opt-outs not synced since {last_success:%Y-%m-%d %H:%M} UTC"
        since = (
            "The last successful opt-out sync (asset optout_sync) was at "
            f"{last_success:%Y-%m-%d %H:%M} UTC, {duration(now - last_success)} ago"
        )
    why = (
        f"{since}; the allowed gap is {duration(allowed_gap)}, until the second tick of the opt-out schedule "
        f"{schedule!r} (sync.yaml optouts.schedule) after it. Until it runs, an opt-out made in one system is not "
        "honoured in the other."
    )
    todo = _todo(
        [
            "Run `make doctor`: it checks the configuration, the credentials, both systems and freshness.",
            "Check that the schedules run (the dagster-daemon is up: `make dev`, optout_job_schedule on) and why "
            "the last optout_job / sync_job runs failed; then run the sync (`make sync`).",
        ],
        asset_url,
        "Open the asset",
    )
    return Alert(subject=subject, body=f"{why}\n\n{todo}")


# --- channels -----------------------------------------------------------------------------------------


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...

    def secrets(self) -> list[str]: ...


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise AlertConfigError(f"{name} must be true or false")


@dataclass(frozen=True)
class SmtpChannel:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    cafile: str | None = None
    name: str = "email"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpChannel | None:
        """The SMTP channel, None when no ALERT_SMTP_*/ALERT_EMAIL_* variable is set."""
        names = (SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, EMAIL_FROM, EMAIL_TO)
        if not any(env.get(n) for n in names):
            return None
        missing = [n for n in (SMTP_HOST, EMAIL_FROM, EMAIL_TO) if not env.get(n, "").strip()]
        if missing:
            raise AlertConfigError(f"email alerts need {', '.join(missing)} set too")
        try:
            port = int(env.get(SMTP_PORT) or DEFAULT_SMTP_PORT)
        except ValueError:
            raise AlertConfigError(f"{SMTP_PORT} must be a port number, e.g. 587") from None
        username, password = env.get(SMTP_USERNAME) or None, env.get(SMTP_PASSWORD) or None
        if (username is None) != (password is None):
            raise AlertConfigError(f"set both {SMTP_USERNAME} and {SMTP_PASSWORD}, or neither")
        starttls = _flag(env, SMTP_STARTTLS, default=True)
        if password and not starttls:
            raise AlertConfigError(
                f"{SMTP_STARTTLS}=false would send {SMTP_PASSWORD} in clear; fix: keep STARTTLS on"
            )
        recipients = tuple(r.strip() for r in env[EMAIL_TO].split(",") if r.strip())
        return cls(
            host=env[SMTP_HOST].strip(),
            port=port,
            sender=env[EMAIL_FROM].strip(),
            recipients=recipients,
            username=username,
            password=password,
            starttls=starttls,
            cafile=env.get(SMTP_CA_BUNDLE) or env.get(REQUESTS_CA_BUNDLE) or None,
        )

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = alert.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        msg.set_content(alert.body)
        return msg

    def send(self, alert: Alert) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S) as smtp:
            if self.starttls:
                # smtplib checks the certificate against self.host; a server without STARTTLS fails the send.
                smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(self.message(alert))

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebhookChannel:
    """Slack and Microsoft Teams incoming webhooks both take ``{"text": ...}``; Teams shows ``summary`` in
    notifications, Slack ignores it."""

    url: str = field(repr=False)
    name: str = "webhook"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookChannel | None:
        url = env.get(WEBHOOK_URL, "").strip()
        if not url:
            return None
        parts = urlsplit(url)
        # The URL is the credential: over plain http anyone on the path could post to the channel.
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))
        ):
            raise AlertConfigError(f"{WEBHOOK_URL} must be an https:// URL")
        return cls(url=url, name=f"webhook ({parts.hostname})")

    def send(self, alert: Alert) -> None:
        response = requests.post(
            self.url,
            json={"text": f"{alert.subject}\n\n{alert.body}", "summary": alert.subject},
            timeout=WEBHOOK_TIMEOUT_S,
            # a redirect would re-send the alert (or drop its body) somewhere the URL never named
            allow_redirects=False,
        )
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"the webhook answered HTTP {response.status_code}: {response.text[:200]}")

    def secrets(self) -> list[str]:
        parts = urlsplit(self.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return [self.url, *([path] if path.strip("/") else [])]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """The text without the given secrets nor any other recognisable one."""
    for secret in sorted(secrets, key=len, reverse=True):  # the whole URL before its path
        text = text.replace(secret, "***")
    return redact(text)


def configured_channels(env: Mapping[str, str]) -> tuple[list[Channel], list[str]]:
    """The channels the environment configures, and the problems of those it configures wrongly."""
    channels: list[Channel] = []
    problems: list[str] = []
    for factory in (SmtpChannel.from_env, WebhookChannel.from_env):
        try:
            channel = factory(env)
        except AlertConfigError as exc:
            problems.append(str(exc))
            continue
        if channel is not None:
            channels.append(channel)
    return channels, problems


# --- delivery -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    sent: list[str]  # channel names
    failed: list[str]  # "<channel>: <scrubbed error>"

    @property
    def all_failed(self) -> bool:
        return bool(self.failed) and not self.sent


def deliver(alert: Alert, logger: logging.Logger, env: Mapping[str, str]) -> Delivery:
    """Send to every configured channel; a failing channel is logged (scrubbed) and does not stop the others."""
    channels, problems = configured_channels(env)
    for problem in problems:
        logger.warning(f"alert channel misconfigured: {problem}")
    if not channels:
        logger.warning(
            f"no alert channel is configured (set {SMTP_HOST}, {EMAIL_FROM} and {EMAIL_TO}, and/or "
            f"{WEBHOOK_URL}); this alert was not sent: {alert.subject}\n{alert.body}"
        )
        return Delivery(sent=[], failed=[])
    sent, failed = [], []
    for channel in channels:
        try:
            channel.send(alert)
        except Exception as exc:
            error = scrub(f"{channel.name}: {type(exc).__name__}: {exc}", channel.secrets())
            logger.warning(f"alert not sent by {error}")
            failed.append(error)
        else:
            sent.append(channel.name)
    if sent:
        logger.info(f"alert sent by {', '.join(sent)}: {alert.subject}")
    return Delivery(sent=sent, failed=failed)


class SentAlerts:
    """The alerts already sent, by key, in a SQLite file of the Dagster instance's directory.

    Every process of the instance shares it (the daemon's sensors, each step process of ``make sync``): a key is
    claimed by one atomic insert, under SQLite's write lock, before the alert is sent, so two processes racing
    on the same run send one alert between them.
    """

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "alerts.sqlite"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS sent_alerts (key TEXT PRIMARY KEY, sent_at TEXT NOT NULL)")
        return conn

    def claim(self, key: str) -> bool:
        """True for the one caller that claims ``key`` first."""
        with closing(self._connect()) as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO sent_alerts VALUES (?, ?)", (key, datetime.now(UTC).isoformat())
            )
            return inserted.rowcount == 1

    def release(self, key: str) -> None:
        with closing(self._connect()) as conn:
            conn.execute("DELETE FROM sent_alerts WHERE key = ?", (key,))


def send_once(
    store: SentAlerts, key: str, alert: Alert, logger: logging.Logger, env: Mapping[str, str]
) -> Delivery | None:
    """Deliver ``alert`` unless an alert with ``key`` was already sent (None then).

    When every channel failed the claim is released, so that the next occasion (another failing step, the
    daemon's sensor, the next sensor tick) tries again.
    """
    if not store.claim(key):
        return None
    try:
        delivery = deliver(alert, logger, env)
    except BaseException:  # interrupted mid-send: a claim left held would silence this alert for good
        store.release(key)
        raise
    if delivery.all_failed:
        store.release(key)
    return delivery
