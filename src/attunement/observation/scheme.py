"""Coding schemes: which codes exist, which are infant cues and caregiver responses.

A scheme is a YAML file::

    scheme: free-play-sensitivity        # id
    version: "1.0"
    description: Infant cues and caregiver responses in 10-min free play
    infant: [Infant, infant]              # actor names that mean the infant (default: infant)
    caregivers: [Mother, Father]          # optional; when given, other actors are errors
    actors_from: subject                  # optional: subject | code | tier | participant | column
    codes:
      cry:      {actor: infant, role: cue, kind: state, category: distress}
      babble:   {actor: infant, role: cue, kind: point, category: vocal}
      soothe:   {actor: caregiver, name: Mother, role: response, kind: state, category: soothing}
      look_away: {actor: infant, role: other, kind: state}
    exclusive:                             # mutually exclusive groups (states only)
      infant_state: [cry, fuss, calm]

``role`` is ``cue``, ``response`` or ``other``; ``kind`` is ``state`` (onset and offset) or
``point``; ``category`` groups codes into cue or response types (defaults to the code).

``actors_from`` says where the actor of an event is read (:mod:`attunement.observation.actors`):
the importer's ``subject``, ELAN ``tier`` or ``participant``, Datavyu ``column`` (the ``infant``
names then say which value is the infant), or ``code``: each code's ``actor`` decides, a
caregiver code's ``name`` naming the caregiver (default ``caregiver``); with ``code`` every cue
and response code must say ``infant`` or ``caregiver``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from attunement import content
from attunement.observation.actors import ACTORS_FROM
from attunement.observation.errors import ObservationError

_CODE = content.schema("coding_scheme")["$defs"]["code"]["properties"]
ROLES = tuple(_CODE["role"]["enum"])  # cue, response, other
KINDS = ("state", "point")
ACTORS = tuple(_CODE["actor"]["enum"])  # infant, caregiver, any


@dataclass(frozen=True)
class CodeDef:
    """One code of a scheme.

    Parameters
    ----------
    code : str
        The code as it stands in the data.
    actor : {"infant", "caregiver", "any"}
        Who shows it.
    role : {"cue", "response", "other"}
        What it is for in the measures.
    kind : {"state", "point", "any"}
        A state has a duration; a point does not.
    category : str
        The cue or response type it counts under ("" for the code itself).
    description : str
        What the coder looks for.
    name : str
        A caregiver code's caregiver, used with ``actors_from: code``.

    Examples
    --------
    >>> CodeDef("cry", actor="infant", role="cue").role
    'cue'
    """

    code: str
    actor: str = "any"
    role: str = "other"
    kind: str = "state"
    category: str = ""
    description: str = ""
    name: str = ""  # a caregiver code's caregiver, used with actors_from: code


@dataclass(frozen=True)
class CodingScheme:
    """A validated coding scheme (see the module docstring for the YAML layout).

    Parameters
    ----------
    name : str
        The scheme's name.
    codes : dict
        Code -> :class:`CodeDef`.
    version, description : str
        As the file gives them.
    infant : tuple of str
        The actor names that mean the infant.
    caregivers : tuple of str, optional
        The caregiver actor names, when the scheme lists them.
    exclusive : dict
        Group name -> mutually exclusive codes (one time-unit kappa per group).
    actors_from : str, optional
        Where the actor is recorded (:func:`~attunement.observation.actors.assign_actors`).

    Examples
    --------
    >>> s = CodingScheme.from_codes(["cry"], ["soothe"])
    >>> s.cue_codes(), s.response_codes(), s.is_infant("Infant")
    (['cry'], ['soothe'], True)
    """

    name: str
    codes: dict[str, CodeDef]
    version: str = ""
    description: str = ""
    infant: tuple[str, ...] = ("infant",)
    caregivers: tuple[str, ...] | None = None
    exclusive: dict[str, tuple[str, ...]] = field(default_factory=dict)
    actors_from: str | None = None

    def cue_codes(self) -> list[str]:
        """The codes the scheme marks as infant cues, in the scheme's order.

        Returns
        -------
        list of str
            The codes of the infant's cues (``cry``, ``fuss`` …).
        """
        return self._role_codes("cue")

    def response_codes(self) -> list[str]:
        """The codes the scheme marks as caregiver responses, in its order.

        Returns
        -------
        list of str
            The response codes.
        """
        return self._role_codes("response")

    def _role_codes(self, role: str) -> list[str]:
        return [c for c, d in self.codes.items() if d.role == role]

    def category(self, code: str) -> str:
        """The category a code is counted under (the code itself when it has none).

        Parameters
        ----------
        code : str
            A code of the scheme.

        Returns
        -------
        str
            Its category; "" for a code the scheme does not define.
        """
        d = self.codes.get(code)
        return (d.category or d.code) if d else ""

    def is_infant(self, actor: str) -> bool:
        """Whether this actor name is the infant under this scheme.

        Parameters
        ----------
        actor : str
            An actor name from the data.

        Returns
        -------
        bool
            True when it is one of the scheme's infant names or "infant".
        """
        return actor in self.infant or actor.lower() == "infant"

    def code_actors(self) -> dict[str, tuple[str, str]]:
        """Who performs each code, for ``actors_from: code``.

        Returns
        -------
        dict
            Code -> (``infant``/``caregiver``/``any``, caregiver name).
        """
        return {c: (d.actor, d.name) for c, d in self.codes.items()}

    @classmethod
    def from_codes(
        cls, cues: list[str], responses: list[str], *, name: str = "ad hoc"
    ) -> CodingScheme:
        """A minimal scheme from ``--cues``/``--responses`` lists (kinds inferred from data).

        Parameters
        ----------
        cues, responses : list of str
            The infant's cue codes and the caregiver's response codes.
        name : str, default "ad hoc"
            The scheme's name.

        Returns
        -------
        CodingScheme
            Every cue an infant code, every response a caregiver code, each its own category.
        """
        codes: dict[str, CodeDef] = {}
        for c in cues:
            codes[c] = CodeDef(c, actor="infant", role="cue", kind="any", category=c)
        for c in responses:
            codes[c] = CodeDef(c, actor="caregiver", role="response", kind="any", category=c)
        return cls(name=name, codes=codes)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping as the key ``__line__``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_scheme(path: str | Path) -> CodingScheme:
    r"""Read and validate a coding scheme; errors name the file, line and key.

    Parameters
    ----------
    path : str or Path
        The YAML file.

    Returns
    -------
    CodingScheme
        The scheme.

    Raises
    ------
    ObservationError
        The file cannot be read or is not a valid scheme (file, line and key named).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
    ...     _ = f.write("name: demo\ncodes:\n  cry: {actor: infant, role: cue}\n"
    ...                 "  soothe: {actor: caregiver, role: response}\n")
    >>> load_scheme(f.name).cue_codes()
    ['cry']
    >>> os.unlink(f.name)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ObservationError(f"cannot read coding scheme: {exc}", source=str(path)) from None
    return parse_scheme(text, source=str(path))


def parse_scheme(text: str, *, source: str = "<scheme>") -> CodingScheme:
    """Validate a coding scheme given as YAML text.

    The document is checked against ``coding_scheme.schema.json`` (wording shared with every
    content file, ``docs/content.md``), then for what a schema cannot say (a cue is an infant
    behaviour, exclusive groups name state codes ...). Every problem is reported at once.

    Parameters
    ----------
    text : str
        The scheme as YAML.
    source : str
        The file name used in messages.

    Returns
    -------
    CodingScheme
        The validated scheme.

    Raises
    ------
    ObservationError
        ``line`` is the line of the first problem; ``problems`` lists each as
        ``"{source}, line N: {path}: {reason}"``.

    Examples
    --------
    >>> parse_scheme("scheme: s\\ncodes:\\n  cry: {actor: infant, role: cue}\\n").cue_codes()
    ['cry']
    """
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ObservationError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", source=source,
            line=mark.line + 1 if mark else None,
        ) from None
    if not isinstance(data, dict):
        raise ObservationError("a coding scheme must be a YAML mapping", source=source)
    problems: list[str] = []
    top = data.get("__line__", 1)

    def err(msg: str, line: int | None) -> None:
        problems.append(f"{source}, line {line}: {msg}" if line else f"{source}: {msg}")

    for found in content.problems(_without_lines(data), "coding_scheme", file=source,
                                  terms={"actors_from": ACTORS_FROM}):
        err(f"{found.path}: {found.reason}" if found.path else found.reason,
            _line_of(data, found.parts, top))
    name = str(data.get("scheme") or data.get("name") or "")
    if not name:
        err("missing 'scheme' (the scheme's id)", top)
    infant = data.get("infant", ["infant"])
    infant = [infant] if isinstance(infant, str) else infant
    caregivers = data.get("caregivers")
    actors_from = data.get("actors_from") if data.get("actors_from") in ACTORS_FROM else None
    raw_codes = data.get("codes") if isinstance(data.get("codes"), dict) else {}
    codes: dict[str, CodeDef] = {}
    for code, spec in raw_codes.items():
        if code == "__line__" or not isinstance(spec, dict | None):
            continue
        spec = spec or {}
        line = spec.get("__line__", raw_codes.get("__line__"))
        actor = str(spec.get("actor", "any"))
        role = str(spec.get("role", "other"))
        kind = str(spec.get("kind", spec.get("type", "state"))).lower().replace(" event", "")
        if kind not in KINDS:
            err(f"code {code!r}: kind must be state or point, not {kind!r}", line)
        if role == "cue" and actor == "caregiver":
            err(f"code {code!r}: a cue is an infant behaviour", line)
        if role == "response" and actor == "infant":
            err(f"code {code!r}: a response is a caregiver behaviour", line)
        cname = spec.get("name", "")
        if cname and actor != "caregiver":
            err(f"code {code!r}: 'name' (the caregiver's name) needs actor: caregiver", line)
            cname = ""
        if actors_from == "code" and role in {"cue", "response"} and actor == "any":
            err(f"code {code!r}: with actors_from: code, a {role} code must say actor: "
                f"{'infant' if role == 'cue' else 'caregiver'}", line)
        codes[str(code)] = CodeDef(
            code=str(code), actor=actor, role=role, kind=kind,
            category=str(spec.get("category") or code), description=str(spec.get("description", "")),
            name=str(cname or ""),
        )
    exclusive: dict[str, tuple[str, ...]] = {}
    raw_ex = data.get("exclusive") or {}
    if isinstance(raw_ex, list):
        raw_ex = {f"group{i + 1}": g for i, g in enumerate(raw_ex)}
    if not isinstance(raw_ex, dict):
        raw_ex = {}
    seen: dict[str, str] = {}
    for gname, members in raw_ex.items():
        if gname == "__line__":
            continue
        line = raw_ex.get("__line__", top)
        if not isinstance(members, list) or len(members) < 2:
            err(f"exclusive group {gname!r} needs a list of at least two codes", line)
            continue
        for m in members:
            if not isinstance(m, str | int | float) or isinstance(m, bool):
                err(f"exclusive group {gname!r}: {m!r} is not a code name", line)
                continue
            m = str(m)
            if m not in codes:
                err(f"exclusive group {gname!r}: code {m!r} is not in 'codes'", line)
            elif codes[m].kind != "state":
                err(f"exclusive group {gname!r}: {m!r} is a point event; only states exclude", line)
            if m in seen:
                err(f"code {m!r} is in two exclusive groups ({seen[m]!r}, {gname!r})", line)
            seen[str(m)] = str(gname)
        exclusive[str(gname)] = tuple(
            str(m) for m in members if isinstance(m, str | int | float) and not isinstance(m, bool))
    if problems:
        raise ObservationError(
            problems[0].split(": ", 1)[-1] if len(problems) == 1 else
            f"{len(problems)} problems in the coding scheme",
            source=source, line=_first_line(problems[0]), problems=problems,
        )
    return CodingScheme(
        name=name, codes=codes, version=str(data.get("version", "")),
        description=str(data.get("description", "")), infant=tuple(infant),
        caregivers=tuple(caregivers) if caregivers else None, exclusive=exclusive,
        actors_from=actors_from,
    )


def _without_lines(node: Any) -> Any:
    """The document without the loader's ``__line__`` keys (what the schema checks)."""
    if isinstance(node, dict):
        return {k: _without_lines(v) for k, v in node.items() if k != "__line__"}
    if isinstance(node, list):
        return [_without_lines(v) for v in node]
    return node


def _line_of(data: Any, parts: tuple[Any, ...], top: int) -> int:
    """The line of the innermost mapping on a schema error's path."""
    line, node = top, data
    for part in parts:
        inside = part in node if isinstance(node, dict) else (
            isinstance(node, list) and isinstance(part, int) and part < len(node))
        if not inside:
            break
        node = node[part]
        if isinstance(node, dict):
            line = node.get("__line__", line)
    return line


def _first_line(problem: str) -> int | None:
    import re

    m = re.search(r", line (\d+):", problem)
    return int(m.group(1)) if m else None
