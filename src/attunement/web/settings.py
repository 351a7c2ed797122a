"""Configuration of the web service: secrets, cookies, crisis contacts, item text packs."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attunement.vocabulary import load_vocabulary

# the shipped crisis contacts are data in attunement.vocabulary (one list for every layer)
DEFAULT_CRISIS_CONTACTS: list[dict[str, Any]] = load_vocabulary().contacts()


def _secret_from_file(path: Path) -> str:
    """Read the session-signing secret, creating it (mode 0600) the first time."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


@dataclass
class Settings:
    """Settings of one web service instance.

    ``secret_key`` signs session cookies; every worker behind a load balancer must share it.
    When not given it comes from ``$ATTUNEMENT_SECRET_KEY`` or a 0600 file
    ``web-secret.key`` in the user data directory. ``crisis_contacts`` are shown to a caregiver
    who answers a safety item above zero; a service sets its own with
    ``$ATTUNEMENT_CRISIS_CONTACTS`` (a JSON or YAML file: a list of ``{name, phone, note}``).
    ``item_text_pack`` (``$ATTUNEMENT_ITEM_TEXT_PACK``) is the wording the service is licensed
    to use: a text pack file, or several separated by ``os.pathsep`` (one per language), in the
    one layout every pack uses (``docs/item-text-packs.md``); without one, forms show validated
    bundled wording where its licence allows, else the project's own short labels, marked. ``sample_text_packs`` (``$ATTUNEMENT_SAMPLE_TEXT_PACKS``, set by
    ``attunement demo``) adds the project's SAMPLE wording for licensed questionnaires and
    languages without a bundled validated translation, marked as a sample on every page
    (``docs/item-text-packs.md``); never for families. ``max_batch`` bounds how many concurrent assessment submissions one
    worker writes in one transaction (group commit, see :mod:`attunement.web.submissions`).

    Request bodies are limited before they are read (see :mod:`attunement.web.guard`):
    ``submission_body_limit`` bytes for an assessment submission, ``upload_body_limit`` for an
    observation upload, ``body_limit`` for anything else (``$ATTUNEMENT_BODY_LIMIT``,
    ``$ATTUNEMENT_SUBMISSION_BODY_LIMIT``, ``$ATTUNEMENT_UPLOAD_BODY_LIMIT``).
    ``trusted_proxies`` (``$ATTUNEMENT_TRUSTED_PROXIES``, comma-separated addresses or
    networks) are the reverse proxies whose ``X-Forwarded-For`` names the real client for the
    login throttle; from anyone else it is ignored. ``session_lifetime`` and ``session_idle``
    (seconds) end a browser session on the server; ``reset_hours`` is how long a password
    reset link lives.
    """

    secret_key: str | None = None
    service_name: str = "attunement"
    secure_cookies: bool = False
    session_lifetime: int = 12 * 3600
    session_idle: int = 30 * 60
    link_hours: int = 72
    max_batch: int = 64
    crisis_contacts: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(c) for c in DEFAULT_CRISIS_CONTACTS]
    )
    item_text_pack: str | Path | list[str | Path] | None = None
    # the project's SAMPLE wording (licensed questionnaires, unchecked translations): demo only
    sample_text_packs: bool = False
    public_url: str | None = None
    body_limit: int = 64 * 1024
    submission_body_limit: int = 16 * 1024
    upload_body_limit: int = 8 * 1024 * 1024
    trusted_proxies: list[str] = field(default_factory=list)
    reset_hours: int = 24

    def resolved_secret(self) -> str:
        """The secret that signs session cookies.

        Returns
        -------
        str
            ``secret_key`` when set, else ``$ATTUNEMENT_SECRET_KEY``, else a secret kept in a file
            in the user's data folder (made on first use).
        """
        if self.secret_key:
            return self.secret_key
        env = os.environ.get("ATTUNEMENT_SECRET_KEY")
        if env:
            return env
        from platformdirs import user_data_dir

        return _secret_from_file(Path(user_data_dir("attunement")) / "web-secret.key")

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``ATTUNEMENT_*`` environment variables (used by ``attunement serve``)."""
        settings = cls()
        if os.environ.get("ATTUNEMENT_SECURE_COOKIES", "").lower() in {"1", "true", "yes"}:
            settings.secure_cookies = True
        if os.environ.get("ATTUNEMENT_PUBLIC_URL"):
            settings.public_url = os.environ["ATTUNEMENT_PUBLIC_URL"].rstrip("/")
        if os.environ.get("ATTUNEMENT_ITEM_TEXT_PACK"):
            settings.item_text_pack = os.environ["ATTUNEMENT_ITEM_TEXT_PACK"]
        if os.environ.get("ATTUNEMENT_SAMPLE_TEXT_PACKS", "").lower() in {"1", "true", "yes"}:
            settings.sample_text_packs = True
        for name in ("body_limit", "submission_body_limit", "upload_body_limit"):
            value = os.environ.get(f"ATTUNEMENT_{name.upper()}")
            if value:
                setattr(settings, name, _positive_int(f"ATTUNEMENT_{name.upper()}", value))
        proxies = os.environ.get("ATTUNEMENT_TRUSTED_PROXIES", "")
        settings.trusted_proxies = [p.strip() for p in proxies.split(",") if p.strip()]
        for p in settings.trusted_proxies:
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError:
                raise ValueError(f"ATTUNEMENT_TRUSTED_PROXIES: {p!r} is not an address or "
                                 "network") from None
        contacts = os.environ.get("ATTUNEMENT_CRISIS_CONTACTS")
        if contacts:
            settings.crisis_contacts = load_crisis_contacts(contacts)
        return settings


def _positive_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"{name}: {value!r} is not a positive whole number of bytes")
    return number


def load_crisis_contacts(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a crisis-contacts file (``attunement.vocabulary`` checks it).

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML or JSON file: a list of contacts (``name``, ``phone``, optional ``note`` and
        ``translations``), or ``{source, contacts}``.

    Returns
    -------
    list of dict
        The contacts.

    Raises
    ------
    attunement.vocabulary.VocabularyError
        Naming the file, entry and field at fault.
    """
    return load_vocabulary().with_crisis_contacts(path).contacts()
