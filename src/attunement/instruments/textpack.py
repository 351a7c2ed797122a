"""Item text packs: validated wording that a licensed service loads; nothing is bundled.

A pack is YAML or JSON::

    instruments:
      epds:
        licence: "RCPsych licence ref ..."   # optional, recorded
        items: {1: "...", 2: "...", ...}      # every item, by 1-based number

Only instruments named in the pack are checked; each must list exactly its items.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from attunement.instruments.definition import load_instrument
from attunement.instruments.errors import DefinitionError, UnknownInstrument


def load_item_text_pack(path: str | Path) -> dict[str, dict[int, str]]:
    """Load and validate an item text pack: ``{instrument_id: {item_number: text}}``."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"cannot read: {exc.strerror}", file=file) from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise DefinitionError("not valid YAML/JSON", file=file) from exc
    if not isinstance(data, dict) or not isinstance(data.get("instruments"), dict):
        raise DefinitionError("a text pack needs an 'instruments' mapping", file=file,
                              field="instruments")
    out: dict[str, dict[int, str]] = {}
    for inst_id, entry in data["instruments"].items():
        fld = f"instruments.{inst_id}"
        try:
            inst = load_instrument(str(inst_id))
        except UnknownInstrument as exc:
            raise DefinitionError(f"unknown instrument {inst_id!r}", file=file, field=fld) from exc
        items = entry.get("items") if isinstance(entry, dict) else None
        if not isinstance(items, dict):
            raise DefinitionError("needs an 'items' mapping {number: text}", file=file,
                                  field=f"{fld}.items")
        texts: dict[int, str] = {}
        for key, value in items.items():
            try:
                n = int(key)
            except (TypeError, ValueError) as exc:
                raise DefinitionError(f"item key {key!r} is not an item number", file=file,
                                      field=f"{fld}.items") from exc
            if n not in {it.number for it in inst.items}:
                raise DefinitionError(f"{inst.short_name} has no item {n}", file=file, item=n,
                                      field=f"{fld}.items")
            if not isinstance(value, str) or not value.strip():
                raise DefinitionError("item text must be a non-empty string", file=file, item=n,
                                      field=f"{fld}.items")
            texts[n] = value.strip()
        absent = [it.number for it in inst.items if it.number not in texts and not it.optional]
        if absent:
            raise DefinitionError(
                f"{inst.short_name} has {inst.n_items} items; the pack lacks "
                f"{', '.join(map(str, absent))}",
                file=file, item=absent[0], field=f"{fld}.items",
            )
        out[inst.id] = texts
    return out
