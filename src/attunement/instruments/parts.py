"""The parts of a questionnaire definition: items, scales, bands, cut-offs and safety rules.

:class:`~attunement.instruments.definition.Instrument` holds them; ``definition.py`` reads
and checks them from the YAML format (``FORMAT.md``). They are imported from
``attunement.instruments.definition`` as well.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attunement import content

OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
OP_TEXT = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "="}


@dataclass(frozen=True)
class Item:
    """One item: its 1-based number, our short label and the score of each option position.

    Parameters
    ----------
    number : int
        The item's number (1-based, in the published order).
    label : str
        Our short label (not the copyrighted item text).
    scores : tuple of float
        The score of each option position.
    option_labels : tuple of str
        Short option labels.
    scored, optional : bool
        Whether the item counts towards a scale; whether it may be left out (never a safety
        item).
    note : str
        A note for reviewers.

    Examples
    --------
    >>> from attunement.instruments import load_instrument
    >>> item = load_instrument("epds").item(10)
    >>> item.label, item.scores, item.n_options
    ('Thoughts of harming myself', (3.0, 2.0, 1.0, 0.0), 4)
    """

    number: int
    label: str
    scores: tuple[float, ...]
    option_labels: tuple[str, ...] = ()
    scored: bool = True
    optional: bool = False
    note: str = ""

    @property
    def n_options(self) -> int:
        return len(self.scores)

    @property
    def integer_scores(self) -> bool:
        return all(float(s).is_integer() for s in self.scores)


@dataclass(frozen=True)
class MissingRule:
    """How a scale treats missing items: ``"complete"`` (no score if any is missing) or ``"prorate"``.

    Parameters
    ----------
    rule, max_missing, research_only, source
        The rule; the most items missing when prorating, whether a prorated score is for
        research only, and the rule's published source.

    Examples
    --------
    >>> from attunement.instruments import load_instrument
    >>> load_instrument("epds").scale("total").missing.rule
    'complete'
    """
    rule: str = "complete"  # "complete": no score if any item is missing; "prorate"
    max_missing: int = 0
    research_only: bool = True
    source: str = ""


@dataclass(frozen=True)
class Scale(content.Entry):
    """A scale: the items it sums (or averages), its range and its missing-item rule.

    Parameters
    ----------
    items : tuple of int
        The item numbers it reads (its ``id`` is the output name).
    method : {"sum", "mean", "any"}
        How the item scores combine.
    range : tuple of float
        The lowest and highest possible score.
    missing : MissingRule
        What happens when items are missing.
    higher_is, note : str
        What a higher score means; a note for reviewers.

    Examples
    --------
    >>> from attunement.instruments import load_instrument
    >>> s = load_instrument("epds").scale("total")
    >>> s.method, s.range, len(s.items)
    ('sum', (0.0, 30.0), 10)
    """
    items: tuple[int, ...]
    method: str  # sum | mean | any
    range: tuple[float, float]
    missing: MissingRule = MissingRule()
    higher_is: str = ""
    note: str = ""


@dataclass(frozen=True)
class BandLevel:
    """One level of a band: its ``label`` and inclusive score range ``min``–``max``.

    Examples
    --------
    >>> from attunement.instruments import load_instrument
    >>> load_instrument("gad7").bands[0].levels[0]
    BandLevel(label='minimal', min=0.0, max=4.0)
    """
    label: str
    min: float
    max: float


@dataclass(frozen=True)
class ScaleOutput:
    """What a band and a cut-off share: the output they add and the scale they read.

    Parameters
    ----------
    id : str
        The output name; the scored column is ``<instrument>_<id>``.
    scale : str
        The id of the scale whose score it reads.
    """

    id: str
    scale: str


@dataclass(frozen=True)
class Band(ScaleOutput):
    """Severity levels covering a scale's whole range, with their published source.

    Parameters
    ----------
    levels : tuple of BandLevel
        Levels in order, covering the range without overlap.
    source : str
        The published source.
    label, evidence : str
        A label and the evidence grade.

    Examples
    --------
    >>> from attunement.instruments import load_instrument
    >>> [lv.label for lv in load_instrument("gad7").bands[0].levels]
    ['minimal', 'mild', 'moderate', 'severe']
    """
    levels: tuple[BandLevel, ...]
    source: str
    label: str = ""
    evidence: str = ""


@dataclass(frozen=True)
class Cutoff(ScaleOutput):
    """A cut-off on a scale (``op`` and ``value``), with its source and evidence grade.

    Parameters
    ----------
    op : {">=", ">", "<=", "<", "=="}
        The comparison.
    value : float
        The threshold.
    label, source, evidence, note : str
        What a positive result means, its published source, evidence grade and a note.
    configurable : bool
        Whether a service may change the value.
    alternatives : tuple of dict
        Other published values with their sources.

    Examples
    --------
    >>> from attunement.instruments import load_instrument
    >>> c = load_instrument("epds").cutoffs[0]
    >>> c.id, c.rule_text()
    ('possible_depression', '≥ 10')
    """
    op: str
    value: float
    label: str
    source: str
    evidence: str
    configurable: bool
    note: str = ""
    alternatives: tuple[dict[str, Any], ...] = ()

    def rule_text(self, value: float | None = None) -> str:
        """The cut-off as a clinician reads it (``≥ 10``).

        Parameters
        ----------
        value : float, optional
            A service's value instead of the definition's.

        Returns
        -------
        str
            The comparison sign and the threshold.
        """
        v = self.value if value is None else value
        return f"{OP_TEXT[self.op]} {_fmt(v)}"


@dataclass(frozen=True)
class SafetyRule:
    """A safety (or clinician-review) item rule. Never prorated, never switched off.

    Parameters
    ----------
    id, items
        The output name and the items (numbers) it reads.
    op, value
        The comparison and threshold on each item's score.
    kind : {"safety", "review"}
        A safety flag or a prompt for clinician review.
    label, action, source, evidence, note : str
        What it means, what to do, its published source, evidence grade and a note.

    Examples
    --------
    >>> from attunement.instruments import load_instrument
    >>> r = load_instrument("epds").safety[0]
    >>> r.items, r.op, r.value, r.action
    ((10,), '>', 0.0, 'same-day assessment')
    """

    id: str
    items: tuple[int, ...]
    op: str
    value: float
    kind: str  # safety | review
    label: str
    action: str
    source: str
    evidence: str
    note: str = ""


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"
