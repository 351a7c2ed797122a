"""Message templates: YAML files of Jinja text, one per language, validated when loaded.

Caregiver messages (``invitation``, ``reminder``) exist per language and fall back to English;
staff messages (``alert``, ``escalation``, ``emergency``) are read from the English file. A
service can put its own files in a directory (``templates_dir``); a file there replaces the
shipped file of the same language.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined, Template, TemplateError

SHIPPED = Path(__file__).parent / "templates"
CAREGIVER_KINDS = ("invitation", "reminder")
STAFF_KINDS = ("alert", "escalation", "emergency")
_env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateFileError(ValueError):
    """A template file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Rendered:
    """A rendered message: its subject line and its body (e-mail text or SMS)."""
    subject: str
    body: str


def _compile(path: Path, where: str, text: Any) -> Template:
    if not isinstance(text, str) or not text.strip():
        raise TemplateFileError(f"{path}: {where}: must be non-empty text")
    try:
        return _env.from_string(text)
    except TemplateError as exc:
        raise TemplateFileError(f"{path}: {where}: {exc}") from None


def load_file(path: Path) -> dict[str, dict[str, Template]]:
    """Read and check one language's templates: ``{kind: {subject, email, sms}}``.

    The file's ``language`` must be its name (``es.yaml`` says ``language: es``); English must
    hold every kind, other languages the caregiver kinds.

    Parameters
    ----------
    path : Path
        The YAML file.

    Returns
    -------
    dict
        Kind -> part (``subject``, ``email``, ``sms``) -> compiled template.

    Raises
    ------
    TemplateFileError
        The file cannot be read, a kind or part is missing, or a template does not compile.

    Examples
    --------
    >>> spanish = load_file(SHIPPED / "es.yaml")
    >>> sorted(spanish), sorted(spanish["reminder"])
    (['invitation', 'reminder'], ['email', 'sms', 'subject'])
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateFileError(f"{path}: cannot read templates ({exc})") from None
    if not isinstance(data, dict) or data.get("language") != path.stem:
        raise TemplateFileError(f"{path}: language: must be {path.stem!r} (the file's name)")
    required = (*CAREGIVER_KINDS, *STAFF_KINDS) if path.stem == "en" else CAREGIVER_KINDS
    out: dict[str, dict[str, Template]] = {}
    for kind, parts in data.items():
        if kind == "language":
            continue
        if kind not in (*CAREGIVER_KINDS, *STAFF_KINDS):
            raise TemplateFileError(f"{path}: {kind}: not a message kind")
        if not isinstance(parts, dict):
            raise TemplateFileError(f"{path}: {kind}: must map subject/email/sms to text")
        needed = ("subject", "email", "sms") if kind in CAREGIVER_KINDS else ("subject", "email")
        for part in needed:
            if part not in parts:
                raise TemplateFileError(f"{path}: {kind}.{part}: missing")
        out[kind] = {part: _compile(path, f"{kind}.{part}", parts[part]) for part in parts}
    for kind in required:
        if kind not in out:
            raise TemplateFileError(f"{path}: {kind}: missing")
    return out


@lru_cache(maxsize=8)
def load_all(directory: str | None = None) -> dict[str, dict[str, dict[str, Template]]]:
    """Every language's templates: the shipped ones, then those in ``directory``."""
    files = {p.stem: p for p in SHIPPED.glob("*.yaml")}
    if directory:
        files.update({p.stem: p for p in Path(directory).glob("*.yaml")})
    return {lang: load_file(path) for lang, path in sorted(files.items())}


def render(kind: str, channel: str, language: str, context: dict[str, Any], *,
           directory: str | None = None) -> tuple[Rendered, str]:
    """Render a message; returns it and the language actually used (English as fallback).

    Parameters
    ----------
    kind : str
        ``invitation``, ``reminder`` (caregiver) or ``alert``, ``escalation``, ``emergency`` (staff).
    channel : {"email", "sms"}
        Which body to render.
    language : str
        The caregiver's language tag.
    context : dict
        The template variables: ``service``, ``link``, ``expires``, ``crisis_contacts``.
    directory : str, optional
        A service's own template folder.

    Returns
    -------
    tuple of (Rendered, str)
        The message and its language.

    Examples
    --------
    No German templates are shipped, so the reminder comes in English:

    >>> msg, lang = render("reminder", "sms", "de", {"service": "Anytown", "link": "https://a.example/c/x1"})
    >>> lang, msg.body
    ('en', 'Anytown reminder: a short questionnaire is waiting for you: https://a.example/c/x1')
    """
    templates = load_all(directory)
    lang = language if kind in templates.get(language, {}) else "en"
    parts = templates[lang][kind]
    body = parts["sms" if channel == "sms" else "email"].render(**context)
    return Rendered(parts["subject"].render(**context).strip(), body), lang
