"""Delivery channels: e-mail over SMTP and SMS through an HTTP provider.

A channel's ``send`` returns on success and raises :class:`DeliveryError` otherwise;
``retryable`` says whether trying again later may help (a server down or answering 5xx: yes;
an address refused or a 4xx answer: no).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import httpx

from attunement.outreach.config import OutreachConfig


def opaque(key: str) -> str:
    """A message's reference for the outside world: its idempotency key names a questionnaire
    and a time point (clinical), so only a hash of it leaves the platform."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class DeliveryError(Exception):
    """A message could not be delivered."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    def send(self, to: str, subject: str, body: str, *, key: str) -> None: ...


class SmtpChannel:
    """E-mail through the service's SMTP server (plain, STARTTLS or implicit TLS)."""

    def __init__(self, config: OutreachConfig, *, timeout: float = 30.0) -> None:
        if not config.smtp_host:
            raise DeliveryError("no SMTP server is configured (ATTUNEMENT_SMTP)", retryable=False)
        self.config = config
        self.timeout = timeout

    def send(self, to: str, subject: str, body: str, *, key: str) -> None:
        """Send one e-mail; ``key`` becomes its Message-ID (so a receiver can spot repeats)."""
        c = self.config
        msg = EmailMessage()
        msg["From"] = c.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(idstring=opaque(key), domain="attunement")
        # 8-bit UTF-8, not base64: the message on the wire is the text (reviewable, testable)
        msg.set_content(body, charset="utf-8", cte="8bit")
        try:
            if c.smtp_tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    c.smtp_host or "", c.smtp_port, timeout=self.timeout,
                    context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(c.smtp_host or "", c.smtp_port, timeout=self.timeout)
            with smtp:
                if c.smtp_tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if c.smtp_user:
                    smtp.login(c.smtp_user, c.smtp_password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused the recipient: {exc}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP error {exc.smtp_code}: {exc.smtp_error!r}",
                                retryable=400 <= exc.smtp_code < 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP server unreachable: {exc}", retryable=True) from None


class JsonSmsChannel:
    """SMS through a provider speaking a plain JSON API.

    ``POST {sms_url}`` with ``{"to", "from", "body", "reference"}`` and, when a token is set,
    ``Authorization: Bearer {token}``; any 2xx answer is accepted. ``reference`` is the
    message's idempotency key (hashed, see :func:`opaque`), so a provider that honours it never sends a repeat.
    """

    def __init__(self, config: OutreachConfig, *, timeout: float = 30.0) -> None:
        if not config.sms_url:
            raise DeliveryError("no SMS provider is configured (ATTUNEMENT_SMS_URL)",
                                retryable=False)
        self.config = config
        self.timeout = timeout

    def send(self, to: str, subject: str, body: str, *, key: str) -> None:
        """Send one text message (``subject`` is not used by SMS)."""
        c = self.config
        headers = {"Authorization": f"Bearer {c.sms_token}"} if c.sms_token else {}
        try:
            response = httpx.post(c.sms_url or "", json={
                "to": to, "from": c.sms_sender, "body": body, "reference": opaque(key),
            }, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS provider unreachable: {exc}", retryable=True) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryError(f"SMS provider answered {response.status_code}", retryable=True)
        if response.status_code >= 300:
            raise DeliveryError(
                f"SMS provider refused the message ({response.status_code}): "
                f"{response.text[:200]}", retryable=False)
