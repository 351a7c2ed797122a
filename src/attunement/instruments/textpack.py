"""Item text packs: the wording a caregiver reads, per instrument and per language.

A pack is YAML or JSON::

    language: en                 # BCP 47 tag; optional (default en)
    direction: ltr               # rtl for Arabic, Urdu, Persian, Hebrew ...; optional
    sample: false                # true: the project's own words, NOT validated wording
    source: "..."                # where the wording (and its validation) comes from
    instruments:
      epds:
        licence: "RCPsych licence ref ..."   # optional, recorded
        source: "..."                         # optional; validation study of this language
        instructions: "..."                   # optional; shown above the items
        options: {forward: [...], reverse: [...]}   # optional; answer wording per scoring key
        items:                                # every item, by 1-based number
          1: "..."
          2: {text: "...", options: ["...", "..."]}   # answer wording for this item only

Answer wording is listed in the order of the definition's scores for that item (the printed
order), so it can never be paired with the wrong score. Only instruments named in the pack
are checked; each must list exactly its items.

Packs shipped with the package (``textpacks/``): validated wording whose licence allows
reproduction (PHQ-9, GAD-7, Whooley questions), and SAMPLE packs in the project's own words
for licensed questionnaires and for languages whose official translation is not bundled, so
the caregiver's path can be judged. ``docs/item-text-packs.md`` says how a service loads its
licensed pack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from attunement import content
from attunement.instruments.definition import Instrument, load_instrument
from attunement.instruments.errors import DefinitionError, UnknownInstrument

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ps", "ur", "yi", "ckb", "dv", "sd", "ug"})


@dataclass(frozen=True)
class InstrumentText:
    """One instrument's wording in one language.

    Parameters
    ----------
    instrument, language : str
        The instrument id and the language tag.
    items : dict
        Item number -> wording.
    options : dict
        Item number -> option wordings.
    instructions, source : str, optional
        The instructions shown before the items; where the wording comes from.
    sample : bool
        A sample (unvalidated) wording, for tests and demonstrations only.

    Examples
    --------
    >>> t = text_for("phq9", "en")
    >>> t.language, t.items[1]
    ('en', 'Little interest or pleasure in doing things')
    """

    instrument: str
    language: str
    items: dict[int, str]
    options: dict[int, tuple[str, ...]] = field(default_factory=dict)
    instructions: str | None = None
    source: str | None = None
    sample: bool = False


@dataclass(frozen=True)
class TextPack:
    """A loaded pack: its language, script direction and instruments.

    Parameters
    ----------
    language, direction : str
        The language tag and ``ltr``/``rtl``.
    sample : bool
        A sample pack.
    source : str, optional
        Where the wording comes from.
    instruments : dict
        Instrument id -> :class:`InstrumentText`.
    file : str
        The file it was read from.

    Examples
    --------
    >>> pack = next(p for p in bundled_text_packs() if p.language == "ar")
    >>> pack.direction, pack.sample, list(pack.instruments)
    ('rtl', True, ['phq9'])
    """

    language: str
    direction: str
    sample: bool
    source: str | None
    instruments: dict[str, InstrumentText]
    file: str = ""


def language_direction(language: str) -> str:
    """``rtl`` for right-to-left scripts, else ``ltr`` (by the primary language subtag).

    Parameters
    ----------
    language : str
        A language tag such as ``en-GB``.

    Returns
    -------
    str
        ``rtl`` or ``ltr``.

    Examples
    --------
    >>> language_direction("ar"), language_direction("en-GB")
    ('rtl', 'ltr')
    """
    return "rtl" if language.split("-")[0].lower() in RTL_LANGUAGES else "ltr"


def _text(value: Any, file: str, fld: str, item: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError("must be a non-empty string", file=file, item=item, field=fld)
    return value.strip()


def _options(value: Any, n: int, file: str, fld: str, item: int | None = None
             ) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise DefinitionError("answer wording must be a list of strings", file=file,
                              item=item, field=fld)
    if len(value) != n:
        raise DefinitionError(f"{len(value)} answers given but the item has {n} options",
                              file=file, item=item, field=fld)
    return tuple(_text(v, file, fld, item) for v in value)


def _item_keys(inst: Instrument, file: str, fld: str) -> dict[int, str | None]:
    """Which scoring key each item uses, read from the bundled definition (None: own scores)."""
    entry = resources.files("attunement.instruments").joinpath("definitions", f"{inst.id}.yaml")
    if not entry.is_file():
        raise DefinitionError(f"{inst.short_name} is not a bundled definition: give the "
                              "answer wording per item", file=file, field=fld)
    raw = inst.raw
    return {it["number"]: None if it.get("option_labels") else it.get("key")
            for it in raw.get("items", [])}


def _instrument(inst_id: Any, entry: Any, file: str, language: str, sample: bool
                ) -> InstrumentText:
    fld = f"instruments.{inst_id}"
    try:
        inst = load_instrument(str(inst_id))
    except UnknownInstrument as exc:
        raise DefinitionError(f"unknown instrument {inst_id!r}", file=file, field=fld) from exc
    items = entry.get("items") if isinstance(entry, dict) else None
    if not isinstance(items, dict):
        raise DefinitionError("needs an 'items' mapping {number: text}", file=file,
                              field=f"{fld}.items")
    numbers = {it.number for it in inst.items}
    texts: dict[int, str] = {}
    options: dict[int, tuple[str, ...]] = {}
    for key, value in items.items():
        try:
            n = int(key)
        except (TypeError, ValueError) as exc:
            raise DefinitionError(f"item key {key!r} is not an item number", file=file,
                                  field=f"{fld}.items") from exc
        if n not in numbers:
            raise DefinitionError(f"{inst.short_name} has no item {n}", file=file, item=n,
                                  field=f"{fld}.items")
        if isinstance(value, dict):
            texts[n] = _text(value.get("text"), file, f"{fld}.items.{n}.text", n)
            if "options" in value:
                options[n] = _options(value["options"], len(inst.item(n).scores), file,
                                      f"{fld}.items.{n}.options", n)
        else:
            texts[n] = _text(value, file, f"{fld}.items", n)
    absent = [it.number for it in inst.items if it.number not in texts and not it.optional]
    if absent:
        raise DefinitionError(
            f"{inst.short_name} has {inst.n_items} items; the pack lacks "
            f"{', '.join(map(str, absent))}",
            file=file, item=absent[0], field=f"{fld}.items",
        )
    by_key = entry.get("options")
    if by_key is not None:
        if not isinstance(by_key, dict):
            raise DefinitionError("'options' maps a scoring key to its answer wording",
                                  file=file, field=f"{fld}.options")
        keys = _item_keys(inst, file, f"{fld}.options")
        used = {k for k in keys.values() if k}
        for key_name, words in by_key.items():
            if key_name not in used:
                raise DefinitionError(
                    f"{inst.short_name} has no scoring key {key_name!r} "
                    f"(keys: {', '.join(sorted(used)) or 'none'})",
                    file=file, field=f"{fld}.options")
            for n, k in keys.items():
                if k == key_name and n not in options:
                    options[n] = _options(words, len(inst.item(n).scores), file,
                                          f"{fld}.options.{key_name}", n)
    instructions = entry.get("instructions")
    return InstrumentText(
        instrument=inst.id, language=language, items=texts, options=options,
        instructions=_text(instructions, file, f"{fld}.instructions") if instructions else None,
        source=str(entry.get("source") or entry.get("licence") or "").strip() or None,
        sample=sample,
    )


def load_text_pack(path: str | Path) -> TextPack:
    """Load and validate a text pack (every error names the file, instrument, item and field).

    Parameters
    ----------
    path : str or Path
        A YAML or JSON pack in the layout of the module docstring.

    Returns
    -------
    TextPack
        The pack, each instrument's wording checked against its definition.

    Examples
    --------
    >>> folder = resources.files("attunement.instruments") / "textpacks"
    >>> load_text_pack(Path(str(folder / "en-sample.yaml"))).language
    'en'
    """
    path = Path(path)
    file = str(path)
    raw = content.load_yaml(path, error=DefinitionError)
    if isinstance(raw, dict) and "instruments" not in raw and raw \
            and all(isinstance(v, dict) for v in raw.values()):
        first = next(iter(raw))
        raise DefinitionError(
            "this is the older item-only layout {instrument: {item: text}}, no longer read: "
            f"put the wording under 'instruments: {{{first}: {{items: ...}}}}' with its "
            "'language' (docs/item-text-packs.md)", file=file, field="instruments")
    data = content.validate(raw, "textpack", file=file, error=DefinitionError)
    language = str(data.get("language") or "en")
    direction = str(data.get("direction") or language_direction(language))
    sample = data.get("sample", False)
    instruments: dict[str, InstrumentText] = {}
    for inst_id, entry in data["instruments"].items():
        text = _instrument(inst_id, entry, file, language, sample)
        instruments[text.instrument] = text
    return TextPack(language=language, direction=direction, sample=sample,
                    source=str(data.get("source") or "").strip() or None,
                    instruments=instruments, file=file)


def load_item_text_pack(path: str | Path) -> dict[str, dict[int, str]]:
    """Load and validate an item text pack: ``{instrument_id: {item_number: text}}``.

    Parameters
    ----------
    path : str or Path
        A pack file (:func:`load_text_pack`).

    Returns
    -------
    dict
        Instrument id -> item number -> wording.

    Raises
    ------
    DefinitionError
        The pack is invalid (file, instrument, item and field named).

    Examples
    --------
    >>> folder = resources.files("attunement.instruments") / "textpacks"
    >>> load_item_text_pack(Path(str(folder / "en-validated.yaml")))["phq9"][1]
    'Little interest or pleasure in doing things'
    """
    return {k: v.items for k, v in load_text_pack(path).instruments.items()}


@cache
def bundled_text_packs() -> tuple[TextPack, ...]:
    """The packs shipped with the package (validated public wording first, then samples).

    Returns
    -------
    tuple of TextPack
        The packs.

    Examples
    --------
    >>> [(p.language, p.sample) for p in bundled_text_packs()][:2]
    [('en', False), ('ar', True)]
    """
    folder = resources.files("attunement.instruments") / "textpacks"
    packs = [load_text_pack(Path(str(f))) for f in sorted(folder.iterdir(), key=lambda f: f.name)
             if f.name.endswith((".yaml", ".yml"))]
    return tuple(sorted(packs, key=lambda p: p.sample))


def bundled_languages() -> dict[str, str]:
    """``{language tag: direction}`` of every bundled pack.

    Returns
    -------
    dict
        Language tag -> ``ltr``/``rtl``.

    Examples
    --------
    >>> bundled_languages()
    {'en': 'ltr', 'ar': 'rtl', 'es': 'ltr'}
    """
    return {p.language: p.direction for p in bundled_text_packs()}


def text_for(instrument_id: str, language: str) -> InstrumentText | None:
    """The bundled wording of one instrument in one language (validated before sample).

    Parameters
    ----------
    instrument_id, language : str
        The instrument and the language tag.

    Returns
    -------
    InstrumentText or None
        None when no bundled pack has it.

    Examples
    --------
    >>> text_for("phq9", "en").sample, text_for("phq9", "xx") is None
    (False, True)
    """
    for pack in bundled_text_packs():
        if pack.language == language and instrument_id in pack.instruments:
            return pack.instruments[instrument_id]
    return None
