"""Outreach configuration: from the service's settings file and the environment, never code.

``$ATTUNEMENT_OUTREACH_FILE`` names a YAML or JSON file (see README, "Outreach"); environment
variables override it: ``ATTUNEMENT_SMTP=host:port``, ``ATTUNEMENT_SMTP_TLS`` (none, starttls,
ssl), ``ATTUNEMENT_SMTP_USER``/``ATTUNEMENT_SMTP_PASSWORD``, ``ATTUNEMENT_MAIL_FROM``,
``ATTUNEMENT_SMS_URL``/``ATTUNEMENT_SMS_TOKEN``/``ATTUNEMENT_SMS_SENDER``,
``ATTUNEMENT_PUBLIC_URL``, ``ATTUNEMENT_SERVICE_NAME``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attunement.outreach.planning import WorkingHours


class OutreachConfigError(ValueError):
    """A setting is missing or wrong; the message names the file or variable and the field."""


@dataclass
class OutreachConfig:
    """Everything outreach needs to know about a service.

    Built from the settings file and the environment (:meth:`from_env`) or from a mapping
    (:meth:`from_mapping`); the fields are the settings of the README's "Outreach" section:
    the SMTP server and SMS provider, reminder days, escalation time and working hours, duty
    lists, link lifetime, retry limits, crisis contacts and a template folder.

    Examples
    --------
    >>> cfg = OutreachConfig.from_mapping({"service_name": "Anytown", "reminder_days": [2, 5]})
    >>> cfg.configured, cfg.reminder_days, cfg.escalation_hours() is None
    (False, [2, 5], True)
    >>> OutreachConfig.from_mapping({"reminder_days": [7, 3]}, source="outreach.yaml")
    Traceback (most recent call last):
    ...
    attunement.outreach.config.OutreachConfigError: outreach.yaml: reminder_days: must be increasing
    """

    service_name: str = "attunement"
    public_url: str = "http://127.0.0.1:8000"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_tls: str = "none"
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = "attunement@localhost"
    sms_url: str | None = None
    sms_token: str | None = None
    sms_sender: str = "attunement"
    reminder_days: list[int] = field(default_factory=lambda: [3, 7])
    escalate_after_minutes: int = 120
    # {"start": "09:00", "end": "17:00", "days": [0..4], "timezone": "Europe/London"}; None:
    # escalation times count every hour of the day
    working_hours: dict[str, Any] | None = None
    duty_lists: dict[str, list[str]] = field(default_factory=dict)
    link_hours: int = 72
    max_attempts: int = 8
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 6 * 3600.0
    poll_seconds: float = 30.0
    plan_seconds: float = 300.0
    crisis_contacts: list[dict[str, str]] | None = None
    templates_dir: str | None = None

    @property
    def configured(self) -> bool:
        """True when at least one channel (SMTP or SMS) is set up."""
        return bool(self.smtp_host or self.sms_url)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "settings") -> OutreachConfig:
        """Validate a mapping of settings; errors name ``source`` and the field.

        Parameters
        ----------
        data : mapping
            Setting name -> value (the names of the fields).
        source : str, default "settings"
            The file or variable the settings came from, for messages.

        Returns
        -------
        OutreachConfig
            The checked settings.

        Raises
        ------
        OutreachConfigError
            An unknown setting or a bad value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise OutreachConfigError(f"{source}: unknown setting {unknown[0]!r}")
        cfg = cls(**dict(data))
        cfg._validate(source)
        return cfg

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OutreachConfig:
        """The settings file ``$ATTUNEMENT_OUTREACH_FILE`` (if any), then the environment.

        Parameters
        ----------
        env : mapping, optional
            The environment variables (default: ``os.environ``).

        Returns
        -------
        OutreachConfig
            The settings, the environment's variables overriding the file's.
        """
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        path = env.get("ATTUNEMENT_OUTREACH_FILE")
        if path:
            data = _load_file(Path(path))
        source = path or "environment"
        smtp = env.get("ATTUNEMENT_SMTP")
        if smtp:
            host, sep, port = smtp.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise OutreachConfigError(
                    f"ATTUNEMENT_SMTP: expected host:port, got {smtp!r}")
            data["smtp_host"], data["smtp_port"] = host, int(port)
            source = "ATTUNEMENT_SMTP"
        for var, name in (("ATTUNEMENT_SMTP_TLS", "smtp_tls"), ("ATTUNEMENT_SMTP_USER", "smtp_user"),
                          ("ATTUNEMENT_SMTP_PASSWORD", "smtp_password"),
                          ("ATTUNEMENT_MAIL_FROM", "mail_from"), ("ATTUNEMENT_SMS_URL", "sms_url"),
                          ("ATTUNEMENT_SMS_TOKEN", "sms_token"),
                          ("ATTUNEMENT_SMS_SENDER", "sms_sender"),
                          ("ATTUNEMENT_PUBLIC_URL", "public_url"),
                          ("ATTUNEMENT_SERVICE_NAME", "service_name")):
            if env.get(var):
                data[name] = env[var]
        if data.get("crisis_contacts") is None and env.get("ATTUNEMENT_CRISIS_CONTACTS"):
            from attunement.web.settings import load_crisis_contacts

            data["crisis_contacts"] = load_crisis_contacts(env["ATTUNEMENT_CRISIS_CONTACTS"])
        return cls.from_mapping(data, source)

    def contacts(self) -> list[dict[str, str]]:
        """The service's crisis contacts (the web service's defaults when not set).

        Returns
        -------
        list of dict
            Each contact's ``name``, ``phone``, ``note`` (and translations when given).
        """
        if self.crisis_contacts is not None:
            return self.crisis_contacts
        from attunement.web.settings import DEFAULT_CRISIS_CONTACTS

        return [dict(c) for c in DEFAULT_CRISIS_CONTACTS]

    def escalation_hours(self, source: str = "settings") -> WorkingHours | None:
        """``working_hours`` checked and parsed (None: escalation counts wall-clock time).

        Parameters
        ----------
        source : str, default "settings"
            Where the settings came from, for messages.

        Returns
        -------
        WorkingHours or None
            The hours the escalation clock runs.

        Raises
        ------
        OutreachConfigError
            Unknown keys, times that are not ``HH:MM``, bad weekdays or an unknown time zone.
        """
        wh = self.working_hours
        if wh is None:
            return None
        where = f"{source}: working_hours"
        if not isinstance(wh, dict) or set(wh) - {"start", "end", "days", "timezone"}:
            raise OutreachConfigError(f"{where}: expected start, end, days and timezone")
        try:
            start = time.fromisoformat(str(wh.get("start", "09:00")))
            end = time.fromisoformat(str(wh.get("end", "17:00")))
        except ValueError:
            raise OutreachConfigError(f"{where}.start/end: must be times such as 09:00") from None
        if end <= start:
            raise OutreachConfigError(f"{where}.end: must be after start")
        days = wh.get("days", [0, 1, 2, 3, 4])
        if not isinstance(days, list) or not days or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days):
            raise OutreachConfigError(f"{where}.days: must list weekdays 0 (Monday) to 6")
        try:
            zone = ZoneInfo(str(wh.get("timezone", "UTC")))
        except (ZoneInfoNotFoundError, ValueError):
            raise OutreachConfigError(
                f"{where}.timezone: unknown time zone {wh.get('timezone')!r}") from None
        return WorkingHours(start, end, frozenset(days), zone)

    def _validate(self, source: str) -> None:
        def bad(name: str, why: str) -> OutreachConfigError:
            return OutreachConfigError(f"{source}: {name}: {why}")

        if self.smtp_tls not in ("none", "starttls", "ssl"):
            raise bad("smtp_tls", "must be none, starttls or ssl")
        for name in ("smtp_port", "escalate_after_minutes", "link_hours", "max_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "must be a whole number of at least 1")
        if self.smtp_port > 65535:
            raise bad("smtp_port", "must be at most 65535")
        if not isinstance(self.reminder_days, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 1
                for d in self.reminder_days):
            raise bad("reminder_days", "must be a list of whole numbers of days (at least 1)")
        if sorted(set(self.reminder_days)) != self.reminder_days:
            raise bad("reminder_days", "must be increasing")
        if not isinstance(self.duty_lists, dict):
            raise bad("duty_lists", "must map site names to lists of e-mail addresses")
        for site, addresses in self.duty_lists.items():
            if not isinstance(addresses, list) or not all(
                    isinstance(a, str) and "@" in a for a in addresses):
                raise bad(f"duty_lists.{site}", "must be a list of e-mail addresses")
        for name in ("retry_base_seconds", "retry_max_seconds", "poll_seconds", "plan_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise bad(name, "must be a positive number of seconds")
        if self.working_hours is not None:
            self.escalation_hours(source)
        if self.sms_url and not str(self.sms_url).startswith(("http://", "https://")):
            raise bad("sms_url", "must be an http(s) URL")


def _load_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OutreachConfigError(f"{path}: cannot read the outreach settings ({exc})") from None
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise OutreachConfigError(f"{path}: expected a mapping of outreach settings")
    return data.get("outreach", data) if isinstance(data.get("outreach"), dict) else data
