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
    and a time point (clinical), so only a hash of it leaves the platform.

    Parameters
    ----------
    key : str
        The message's idempotency key.

    Returns
    -------
    str
        The first 32 hex digits of the key's SHA-256.

    Examples
    --------
    >>> ref = opaque("q:12:epds:6w:0")
    >>> len(ref), "epds" in ref, ref == opaque("q:12:epds:6w:0")
    (32, False, True)
    """
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class DeliveryError(Exception):
    """A message could not be delivered."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    """What the worker needs of a delivery channel: a ``send`` that returns or raises
    :class:`DeliveryError`.

    Examples
    --------
    A channel that only prints (nothing leaves the machine), as a test or a trial run may use:

    >>> class Printed:
    ...     def send(self, to: str, subject: str, body: str, *, key: str) -> None:
    ...         print(f"to {to}: {subject} [{opaque(key)[:8]}]")
    >>> channel: Channel = Printed()
    >>> channel.send("parent@example.org", "Anytown: a short questionnaire for you",
    ...              "Hello", key="q:1:epds:6w:0")
    to parent@example.org: Anytown: a short questionnaire for you [1bf904d5]
    """

    def send(self, to: str, subject: str, body: str, *, key: str) -> None:
        """Deliver one message, or raise :class:`DeliveryError`.

        Parameters
        ----------
        to : str
            The address or mobile number.
        subject, body : str
            The rendered message.
        key : str
            The message's idempotency key (pass it on only through :func:`opaque`).
        """


class _Configured:
    """A channel made from the service's settings; it refuses to exist without its own setting
    (``_setting``, a field of :class:`OutreachConfig`), so a worker never holds a channel that
    cannot send."""

    _setting: str
    _missing: str

    def __init__(self, config: OutreachConfig, *, timeout: float = 30.0) -> None:
        if not getattr(config, self._setting):
            raise DeliveryError(self._missing, retryable=False)
        self.config = config
        self.timeout = timeout


class SmtpChannel(_Configured):
    """E-mail through the service's SMTP server (plain, STARTTLS or implicit TLS).

    Parameters
    ----------
    config : OutreachConfig
        The service's settings; ``smtp_host`` must be set.
    timeout : float, default 30.0
        Seconds to wait for the server.

    Raises
    ------
    DeliveryError
        No SMTP server is configured (not retryable).

    Examples
    --------
    Construction only (sending needs a server):

    >>> channel = SmtpChannel(OutreachConfig(smtp_host="mail.example.org", smtp_tls="starttls"))
    >>> channel.config.smtp_port, channel.timeout
    (25, 30.0)
    >>> SmtpChannel(OutreachConfig())
    Traceback (most recent call last):
    ...
    attunement.outreach.channels.DeliveryError: no SMTP server is configured (ATTUNEMENT_SMTP)
    """

    _setting = "smtp_host"
    _missing = "no SMTP server is configured (ATTUNEMENT_SMTP)"

    def send(self, to: str, subject: str, body: str, *, key: str) -> None:
        """Send one e-mail; ``key`` becomes its Message-ID (so a receiver can spot repeats).

        Parameters
        ----------
        to, subject, body : str
            The recipient's e-mail address, the subject line and the plain-text message.
        key : str
            The idempotency key, hashed into the Message-ID.

        Raises
        ------
        DeliveryError
            Refused (not retryable) or the server is away or answers 4xx (retryable).
        """
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


class JsonSmsChannel(_Configured):
    """SMS through a provider speaking a plain JSON API.

    ``POST {sms_url}`` with ``{"to", "from", "body", "reference"}`` and, when a token is set,
    ``Authorization: Bearer {token}``; any 2xx answer is accepted. ``reference`` is the
    message's idempotency key (hashed, see :func:`opaque`), so a provider that honours it never
    sends a repeat.

    Parameters
    ----------
    config : OutreachConfig
        The settings; ``sms_url`` must be set (``sms_token`` and ``sms_sender`` are optional).
    timeout : float, default 30.0
        Seconds to wait for the provider.

    Examples
    --------
    Construction only; ``send`` would post to the provider:

    >>> sms = JsonSmsChannel(OutreachConfig(sms_url="https://sms.example.org/send"))
    >>> sms.config.sms_sender
    'attunement'
    """

    _setting = "sms_url"
    _missing = "no SMS provider is configured (ATTUNEMENT_SMS_URL)"

    def send(self, to: str, subject: str, body: str, *, key: str) -> None:
        """Send one text message (``subject`` is not used by SMS).

        Parameters
        ----------
        to : str
            The mobile number.
        subject : str
            Ignored: a text has no subject.
        body : str
            The text.
        key : str
            The idempotency key; the provider sees only its hash as ``reference``.

        Raises
        ------
        DeliveryError
            The provider is unreachable or answers 429/5xx (retryable), or refuses (not).
        """
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
