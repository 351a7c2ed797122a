"""Clinical content as validated data: one error, one schema check, one YAML reader.

Every content file (questionnaire definitions, the intervention catalogue, vulnerability factors,
care tiers, treatment routes, prompts, reliable-change rules, coding schemes, item text packs, the
vocabulary, family files) is checked the same way: its JSON Schema (Draft 2020-12, shipped in
``attunement/schemas/``), then the few cross-checks a schema cannot express. Every problem is a
:class:`ContentError` whose message reads ``"{file}: {path}: {reason}"``, ``path`` being a dotted
path into the document such as ``items[3].scores``. ``docs/content.md`` lists the kinds.

>>> validate({"version": 1, "measures": []}, "reliable_change", file="rules.yaml")
Traceback (most recent call last):
...
attunement.content.ContentError: rules.yaml: measures: needs at least 1 entry
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when libyaml is present

#: kind -> schema file in ``attunement/schemas/``
SCHEMAS = {
    "instrument": "instrument.schema.json",
    "catalogue": "catalogue.schema.json",
    "factors": "factors.schema.json",
    "tiers": "tiers.schema.json",
    "treatment_routes": "treatment_routes.schema.json",
    "prompts": "prompts.schema.json",
    "vocabulary": "vocabulary.schema.json",
    "crisis_contacts": "crisis_contacts.schema.json",
    "reliable_change": "reliable_change.schema.json",
    "coding_scheme": "coding_scheme.schema.json",
    "textpack": "textpack.schema.json",
    "language_cutoffs": "language_cutoffs.schema.json",
    "family": "family.schema.json",
}


class ContentError(ValueError):
    """A content file is invalid: ``file``, ``path`` (dotted, e.g. ``items[3].scores``), ``reason``.

    Parameters
    ----------
    file : str
        The file (or a name for an in-memory document).
    path : str
        Where in the document, as ``factors[2].level``; empty for the whole document.
    reason : str
        Why, in words a reviewer can act on.

    Examples
    --------
    >>> str(ContentError("factors.yaml", "factors[0].level", "'x' is not one of: caregiver"))
    "factors.yaml: factors[0].level: 'x' is not one of: caregiver"
    """

    parts: tuple[Any, ...] = ()  # the path as parts, when it came from a schema check

    def __init__(self, file: str | None, path: str | None, reason: str) -> None:
        self.file = file
        self.path = path or ""
        self.reason = reason
        super().__init__(": ".join(p for p in (file, path, reason) if p))

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    @classmethod
    def at(cls, file: str | None, path: str | None, reason: str) -> ContentError:
        """Build this class's error from the three parts every content error has.

        A subclass with its own constructor arguments overrides this, so that the schema
        check can raise any kind's error class the same way.

        Parameters
        ----------
        file : str or None
            The file at fault.
        path : str or None
            Where in it (``items[3].scores``).
        reason : str
            What is wrong.

        Returns
        -------
        ContentError
            An instance of ``cls``.
        """
        return cls(file, path, reason)


class DefinitionError(ContentError):
    """A definition file is invalid (a questionnaire definition, text pack, factors, tiers ...).

    The one ``DefinitionError``: ``attunement.instruments`` and ``attunement.risk`` re-export it.

    The message reads ``"{file}: {path}: {reason}"`` like every :class:`ContentError`;
    ``item`` (the item number) and ``field`` (the place within the item, or the path) are kept
    for callers that ask which item was at fault.

    Examples
    --------
    >>> str(DefinitionError("unknown key 'x'", file="epds.yaml", item=5, field="key",
    ...                     path="items[4].key"))
    "epds.yaml: items[4].key: unknown key 'x'"
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        item: int | str | None = None,
        field: str | None = None,
        path: str | None = None,
    ) -> None:
        self.item = item
        self.field = field
        if path is None:
            path = field or ""
            if item is not None and f".{item}" not in path:
                path = f"{path} (item {item})" if path else f"item {item}"
        super().__init__(file, path, reason)

    @classmethod
    def at(cls, file: str | None, path: str | None, reason: str) -> DefinitionError:
        """A definition error from a schema problem: the path also serves as the ``field``.

        Parameters
        ----------
        file : str or None
            The definition file.
        path : str or None
            The dotted place of the problem, e.g. ``items[4].key``.
        reason : str
            The problem in words.

        Returns
        -------
        DefinitionError
            With ``item`` unset and ``field`` equal to ``path``.
        """
        return cls(reason, file=file, path=path or "", field=path or None)


def dotted(parts: Iterable[Any]) -> str:
    """A dotted path from path parts: ``["items", 3, "scores"]`` -> ``items[3].scores``.

    Parameters
    ----------
    parts : iterable
        Keys (str) and list indices (int).

    Returns
    -------
    str
        The path.

    Examples
    --------
    >>> dotted(["caregivers", 1, "role"])
    'caregivers[1].role'
    """
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_T = TypeVar("_T")


def by_id(entries: Iterable[_T], wanted: Any, missing: str | None = None, *, key: str = "id") -> _T:
    """The first entry whose ``key`` attribute equals ``wanted`` (a content list looked up by id).

    Parameters
    ----------
    entries : iterable
        Loaded content entries (frozen dataclasses with an ``id``, or another ``key``).
    wanted : Any
        The id (or other key value) to find.
    missing : str, optional
        The ``KeyError`` message when no entry has it; by default the wanted value itself.
    key : str, optional
        The attribute compared, ``"id"`` unless told.

    Returns
    -------
    object
        The entry.

    Raises
    ------
    KeyError
        No entry has that value.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> by_id([NS(id="a", n=1), NS(id="b", n=2)], "b").n
    2
    >>> by_id([NS(id="a")], "z", "no entry 'z'")
    Traceback (most recent call last):
    ...
    KeyError: "no entry 'z'"
    """
    for entry in entries:
        if getattr(entry, key) == wanted:
            return entry
    raise KeyError(wanted if missing is None else missing)


def plain(value: Any, *, omit: Iterable[str] = ()) -> Any:
    """A loaded entry or result as plain data for JSON: the one ``to_dict`` of the domain libraries.

    A dataclass becomes a dict of its fields in their declared order (less the names in
    ``omit``), a tuple or list a list, a mapping a dict, recursively; anything else is kept.

    Parameters
    ----------
    value : Any
        A dataclass instance (or a tuple, list or mapping of them).
    omit : iterable of str, optional
        Fields of ``value`` itself left out (not of the entries inside it).

    Returns
    -------
    Any
        The plain value.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Rule:
    ...     id: str
    ...     roles: tuple[str, ...] = ()
    ...     note: str = ""
    >>> plain(Rule("r1", ("birth_mother",)), omit=("note",))
    {'id': 'r1', 'roles': ['birth_mother']}
    >>> plain({"rules": (Rule("r2"),)})
    {'rules': [{'id': 'r2', 'roles': [], 'note': ''}]}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        skip = set(omit)
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in skip}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


class Plain:
    """Gives a dataclass ``to_dict()``: :func:`plain` of itself (its fields in order, as JSON).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Contact(Plain):
    ...     name: str
    ...     phone: str
    >>> Contact("Emergency services", "999").to_dict()
    {'name': 'Emergency services', 'phone': '999'}
    """

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This entry as plain JSON-ready data (see :func:`plain`).

        Returns
        -------
        dict
            The fields in their declared order, nested entries converted too.
        """
        return plain(self)


@dataclasses.dataclass(frozen=True)
class Entry:
    """An entry of a content list: the ``id`` data refers to and the ``label`` people see.

    The records read from the content files (flag kinds, vocabulary terms, factors, tiers,
    pathways, treatment routes, questionnaire scales) begin with these two fields; each
    record's own docstring describes what it adds.

    Parameters
    ----------
    id : str
        The stable id stored with the data and named by other files.
    label : str
        The name shown to staff and in reports.
    """

    id: str
    label: str


def load_yaml(path: str | Path, *, error: type[ContentError] = ContentError) -> Any:
    """Read a YAML (or JSON) file; a missing file or a syntax error names the file and line.

    Parameters
    ----------
    path : str or Path
        The file to read.
    error : type, optional
        The :class:`ContentError` subclass to raise (a kind's own error class).

    Returns
    -------
    Any
        The parsed document.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
    ...     _ = f.write("a: [1, 2\\n")
    >>> load_yaml(f.name)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    attunement.content.ContentError: ...yaml: line 2: not valid YAML (did not find expected ',' or ']', column 1)
    >>> os.unlink(f.name)
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error.at(str(p), "", "cannot read: file not found") from None
    except OSError as exc:
        raise error.at(str(p), "", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise error.at(str(p), "", f"not UTF-8 text ({exc.reason})") from None
    return parse_yaml(text, str(p), error=error)


def parse_yaml(text: str, file: str, *, error: type[ContentError] = ContentError) -> Any:
    """Parse YAML text; a syntax error names the file and line (see :func:`load_yaml`).

    Parameters
    ----------
    text : str
        The YAML (or JSON) text.
    file : str
        The file name used in messages.
    error : type, optional
        The :class:`ContentError` subclass to raise.

    Returns
    -------
    Any
        The parsed document.

    Raises
    ------
    ContentError
        Not valid YAML (file, line and column named).

    Examples
    --------
    >>> parse_yaml("a: 1", "x.yaml")
    {'a': 1}
    >>> parse_yaml("a: [1", "x.yaml")
    Traceback (most recent call last):
    ...
    attunement.content.ContentError: x.yaml: line 2: not valid YAML (did not find expected ',' or ']', column 1)
    """
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error.at(file, where, f"not valid YAML ({problem}, column "
                    f"{mark.column + 1})" if mark else f"not valid YAML ({problem})") from None


def _substitute(node: Any, terms: Mapping[str, Sequence[str]], strict: bool = True) -> Any:
    """Replace ``{"x-vocabulary": name}`` by ``{"enum": terms[name]}`` throughout a schema.

    Not ``strict``: a list not given is left as it is (for schemas that are only referred to).
    """
    if isinstance(node, dict):
        rest = {k: _substitute(v, terms, strict) for k, v in node.items()}
        name = node.get("x-vocabulary")
        if name is not None and (strict or name in terms):
            if name not in terms:
                raise KeyError(f"this schema needs the vocabulary list {name!r} (pass terms=)")
            rest["enum"] = list(terms[name])
        return rest
    if isinstance(node, list):
        return [_substitute(v, terms, strict) for v in node]
    return node


@cache
def _raw_schema(kind: str) -> dict[str, Any]:
    if kind not in SCHEMAS:
        raise KeyError(f"no schema for content kind {kind!r} (known: {', '.join(SCHEMAS)})")
    text = resources.files("attunement").joinpath("schemas", SCHEMAS[kind]).read_text("utf-8")
    return json.loads(text)


def schema(kind: str, terms: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The JSON Schema of a content kind (a copy), with vocabulary lists filled in.

    Parameters
    ----------
    kind : str
        One of :data:`SCHEMAS`.
    terms : mapping, optional
        Vocabulary lists (``caregiver_roles`` ...) for the schema's ``x-vocabulary`` places.

    Returns
    -------
    dict
        The schema.

    Examples
    --------
    >>> schema("reliable_change")["$schema"]
    'https://json-schema.org/draft/2020-12/schema'
    """
    raw = _raw_schema(kind)
    return _substitute(raw, terms or {}, strict=terms is not None)


@cache
def _validator(kind: str, terms: tuple[tuple[str, tuple[str, ...]], ...]) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    # every schema is known by its $id, so one kind's schema may $ref another's
    given = dict(terms)
    filled = {k: _substitute(_raw_schema(k), given, strict=k == kind) for k in SCHEMAS}
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in filled.values() if "$id" in s)
    cls = jsonschema.Draft202012Validator
    return cls(filled[kind], registry=registry, format_checker=cls.FORMAT_CHECKER)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def describe(error: Any, noun: str = "this file") -> tuple[list[Any], str]:
    """One jsonschema error as (path parts, reason): the one translator of schema errors.

    A schema may word a rule itself: ``"x-messages": {keyword: reason}`` replaces the reason of
    that keyword (``{instance!r}`` stands for the value at fault, ``{allowed}`` for an enum's
    values) and ``"x-fields": {keyword: name}`` adds a name to the path (for a rule about
    several fields, such as ``key/scores``).

    Parameters
    ----------
    error : jsonschema.ValidationError
        The error.
    noun : str, default ``"this file"``
        What the document is, for "is not a field of …".

    Returns
    -------
    tuple
        ``(path parts, reason)``.

    Examples
    --------
    >>> import jsonschema
    >>> err = next(jsonschema.Draft202012Validator({"required": ["id"]}).iter_errors({}))
    >>> describe(err)
    (['id'], 'is required but missing')
    """
    parts = list(error.absolute_path)
    v = error.validator
    here = error.schema if isinstance(error.schema, Mapping) else {}
    own = (here.get("x-messages") or {}).get(v)
    if own:
        extra = (here.get("x-fields") or {}).get(v)
        if v == "enum":
            own = own.replace("{allowed}", ", ".join(str(x) for x in error.validator_value))
        return ([*parts, extra] if extra else parts), own.replace("{instance!r}", repr(error.instance))
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [*parts, missing], "is required but missing"
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return [*parts, extra[0] if extra else "?"], f"is not a field of {noun}"
    if v == "enum":
        allowed = ", ".join(str(x) for x in error.validator_value)
        return parts, f"{error.instance!r} is not one of: {allowed}"
    if v == "const":
        return parts, f"must be {error.validator_value!r}, got {error.instance!r}"
    if v == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return parts, f"expected {want}, got {error.instance!r}"
    if v == "format":
        return parts, f"{error.instance!r} is not a date in the form YYYY-MM-DD"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return parts, f"{error.instance!r} is out of range ({v} {error.validator_value})"
    if v == "pattern":
        return parts, f"{error.instance!r} has characters that are not allowed"
    if v == "minItems":
        n = error.validator_value
        return parts, f"needs at least {n} entr{_plural(n, 'y', 'ies')}"
    if v == "minLength" and error.validator_value == 1:
        return parts, "must not be empty"
    if v == "minProperties" and error.validator_value == 1:
        return parts, "must not be empty"
    if v == "propertyNames":
        return parts, f"{error.instance!r} is not a valid key (lower-case letters, digits, _)"
    if v == "uniqueItems":
        return parts, "lists an entry twice"
    return parts, error.message


def _order(error: Any) -> list[tuple[int, Any]]:
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]


def problems(document: Any, kind: str, *, file: str,
             terms: Mapping[str, Sequence[str]] | None = None,
             error: type[ContentError] = ContentError) -> list[ContentError]:
    """Every schema problem of a document, in document order (see :func:`validate`).

    Parameters
    ----------
    document, kind, file, terms, error
        As for :func:`validate` (``error`` is the class of each problem built).

    Returns
    -------
    list of ContentError
        One per distinct problem; empty when the document is valid.

    Examples
    --------
    >>> [str(p) for p in problems({"version": 1, "measures": []}, "reliable_change",
    ...                           file="rules.yaml")]
    ['rules.yaml: measures: needs at least 1 entry']
    """
    key = tuple(sorted((k, tuple(v)) for k, v in (terms or {}).items()))
    validator = _validator(kind, key)
    noun = validator.schema.get("x-noun", "this file")
    found = sorted(validator.iter_errors(document), key=_order)
    out: dict[tuple[str, str], ContentError] = {}
    for err in found:
        parts, reason = describe(err, noun)
        where = dotted(parts)
        if (where, reason) not in out:
            exc = error.at(file, where, reason)
            exc.parts = tuple(parts)
            out[(where, reason)] = exc
    return list(out.values())


def validate(document: Any, kind: str, *, file: str,
             terms: Mapping[str, Sequence[str]] | None = None,
             error: type[ContentError] = ContentError) -> Any:
    """Check a document against its kind's schema; raise the first problem as a ContentError.

    Parameters
    ----------
    document : Any
        The parsed document (from :func:`load_yaml`).
    kind : str
        The content kind, one of :data:`SCHEMAS`.
    file : str
        The file name used in messages.
    terms : mapping, optional
        Vocabulary lists for the schema's ``x-vocabulary`` places.
    error : type, optional
        The ContentError subclass to raise.

    Returns
    -------
    Any
        The document, unchanged.

    Raises
    ------
    ContentError
        The first problem in document order; its reason ends with ``(and N more problem(s))``
        when there are more. ``parts`` holds the path as a tuple.

    Examples
    --------
    >>> validate({"version": 1, "measures": [{"instrument": "epds"}]}, "reliable_change",
    ...          file="r.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    attunement.content.ContentError: r.yaml: measures[0].score: is required but missing (and 3 more problem(s))
    """
    found = problems(document, kind, file=file, terms=terms, error=error)
    if found:
        first = found[0]
        if len(found) > 1:
            parts = first.parts
            first = error.at(file, first.path, f"{first.reason} (and {len(found) - 1} more problem(s))")
            first.parts = parts
        raise first
    return document


__all__ = ["SCHEMAS", "ContentError", "DefinitionError", "Entry", "Plain", "by_id", "describe", "dotted",
           "load_yaml", "parse_yaml", "plain", "problems", "schema", "validate"]
