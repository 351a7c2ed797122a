"""Concealed, auditable randomisation: stratified permuted blocks and Pocock–Simon minimisation.

Every random number is derived from a **secret seed** and the participant's **enrolment order**
with a keyed pseudo-random function (HMAC-SHA256), so

* nobody without the secret can know the next allocation (allocation concealment, CONSORT
  items 9–10), not even from the whole list of previous allocations;
* an auditor holding the secret and the enrolment order reproduces every allocation
  (:func:`verify_allocations`), and each :class:`Allocation` record carries its inputs, the
  random draws and the algorithm version, plus ``actor`` and ``timestamp`` for the platform's
  audit log.

Methods (Rosenberger & Lachin 2002; Pocock & Simon 1975):

* ``blocks``: within every stratum (the combination of the ``strata`` columns, which should
  include centre), blocks whose length is drawn at random from ``block_sizes`` (each a multiple
  of ``sum(ratio)``), each a uniformly random permutation of ``ratio``-multiples of the arms.
* ``minimisation``: marginal counts over ``factors``; for every candidate arm the counts at the
  participant's levels are incremented, divided by the arm's ratio and summarised by the range
  (or ``sd``/``variance``); G(t) = Σ wᵢ dᵢ(t). The arm with the smallest G gets probability p
  and the others (1 − p)/(K − 1); tied minimising arms share p in proportion to the ratio; if
  every arm ties, allocation follows the ratio.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ALGORITHM_VERSION",
    "Allocation",
    "DesignError",
    "RandomisationDesign",
    "Randomiser",
    "allocate_participants",
    "balance_report",
    "new_secret",
    "verify_allocations",
]

ALGORITHM_VERSION = "attunement.trials.randomisation/1 (HMAC-SHA256 PRF)"


class DesignError(ValueError):
    """A randomisation design (or participant file) that cannot be used, with the reason."""


# ---------------------------------------------------------------------------------------------
# design


@dataclass(frozen=True)
class RandomisationDesign:
    """Arms, ratio and the method's settings; validated on construction.

    Examples
    --------
    Permuted blocks of four within each site, 1:1:

    >>> design = RandomisationDesign.from_dict({"method": "blocks", "arms": ["control", "tx"],
    ...                                         "ratio": [1, 1], "block_sizes": [4],
    ...                                         "strata": ["site"]})
    >>> design.arms, design.to_dict()["block_sizes"]
    (('control', 'tx'), [4])
    >>> try:
    ...     RandomisationDesign.from_dict({"method": "coin", "arms": ["a", "b"]})
    ... except DesignError as error:
    ...     print(error)
    design: 'method': must be 'blocks' or 'minimisation', got 'coin'
    """

    method: str
    arms: tuple[str, ...]
    ratio: tuple[int, ...]
    block_sizes: tuple[int, ...] = ()
    block_weights: tuple[float, ...] = ()
    strata: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    p: float = 0.8
    imbalance: str = "range"
    source: str = field(default="design", compare=False)

    _KEYS = frozenset({"method", "arms", "ratio", "block_sizes", "block_weights", "strata",
                       "factors", "weights", "p", "imbalance"})

    def __post_init__(self) -> None:
        where = self.source

        def fail(key: str, why: str) -> None:
            raise DesignError(f"{where}: '{key}': {why}")

        if self.method not in {"blocks", "minimisation"}:
            fail("method", f"must be 'blocks' or 'minimisation', got {self.method!r}")
        if len(self.arms) < 2:
            fail("arms", "at least two arms are needed")
        if len(set(self.arms)) != len(self.arms) or any(not str(a).strip() for a in self.arms):
            fail("arms", f"arm names must be distinct and non-empty, got {list(self.arms)}")
        if len(self.ratio) != len(self.arms):
            fail("ratio", f"has {len(self.ratio)} entries but there are {len(self.arms)} arms "
                          f"({', '.join(self.arms)})")
        for r in self.ratio:
            if not isinstance(r, int | np.integer) or isinstance(r, bool) or r < 1:
                fail("ratio", f"entries must be positive whole numbers, got {r!r}")
        if self.method == "blocks":
            if not self.block_sizes:
                fail("block_sizes", "blocks need at least one block size")
            unit = sum(self.ratio)
            for b in self.block_sizes:
                if not isinstance(b, int | np.integer) or isinstance(b, bool) or b <= 0:
                    fail("block_sizes", f"sizes must be positive whole numbers, got {b!r}")
                if b % unit:
                    fail("block_sizes", f"size {b} is not a multiple of the ratio's sum {unit} "
                                        f"(ratio {list(self.ratio)})")
            if self.block_weights and (len(self.block_weights) != len(self.block_sizes)
                                       or any(w < 0 for w in self.block_weights)
                                       or sum(self.block_weights) <= 0):
                fail("block_weights", "needs one non-negative weight per block size, not all 0")
            if self.factors:
                fail("factors", "is for minimisation; blocks use 'strata'")
        else:
            if not self.factors:
                fail("factors", "minimisation needs at least one factor (for example centre)")
            if self.weights and len(self.weights) != len(self.factors):
                fail("weights", f"has {len(self.weights)} entries for {len(self.factors)} factors")
            if any(w < 0 for w in self.weights):
                fail("weights", "weights must be non-negative")
            if not 0 < self.p <= 1:
                fail("p", f"must be in (0, 1], got {self.p}")
            if self.p < 1 / len(self.arms):
                fail("p", f"{self.p} is below 1/K = {1 / len(self.arms):.3g}: the minimising arm "
                          "would be less likely than the others")
            if self.imbalance not in {"range", "sd", "variance"}:
                fail("imbalance", f"must be 'range', 'sd' or 'variance', got {self.imbalance!r}")
            if self.strata:
                fail("strata", "is for blocks; minimisation uses 'factors'")
        for key, cols in (("strata", self.strata), ("factors", self.factors)):
            if len(set(cols)) != len(cols):
                fail(key, f"columns repeat: {list(cols)}")

    @property
    def columns(self) -> tuple[str, ...]:
        """The participant columns the design uses."""
        return self.strata if self.method == "blocks" else self.factors

    @property
    def factor_weights(self) -> tuple[float, ...]:
        return self.weights or tuple(1.0 for _ in self.factors)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "design") -> RandomisationDesign:
        """Build from the design-file mapping, with errors naming the key at fault.

        Parameters
        ----------
        d : dict
            ``method``, ``arms``, ``ratio`` and the method's keys (``block_sizes``,
            ``strata``; or ``factors``, ``weights``, ``p``, ``imbalance``).
        source : str, default "design"
            Named in every error message (the design file, usually).

        Returns
        -------
        RandomisationDesign
            Validated as on construction.
        """
        if not isinstance(d, dict):
            raise DesignError(f"{source}: expected a mapping of design keys, got {type(d).__name__}")
        unknown = set(d) - cls._KEYS
        if unknown:
            raise DesignError(f"{source}: unknown key(s) {sorted(unknown)}; allowed: "
                              f"{sorted(cls._KEYS)}")
        for key in ("method", "arms"):
            if key not in d:
                raise DesignError(f"{source}: '{key}' is required")

        def seq(key: str, default: tuple = ()) -> tuple:
            v = d.get(key, default)
            if isinstance(v, str | int | float):
                v = [v]
            if not isinstance(v, list | tuple):
                raise DesignError(f"{source}: '{key}' must be a list")
            return tuple(v)

        arms = tuple(str(a) for a in seq("arms"))
        ratio = seq("ratio", tuple(1 for _ in arms))
        try:
            p = float(d.get("p", 0.8))
            weights = tuple(float(w) for w in seq("weights"))
            block_weights = tuple(float(w) for w in seq("block_weights"))
        except (TypeError, ValueError) as e:
            raise DesignError(f"{source}: 'p', 'weights' and 'block_weights' must be numbers ({e})"
                              ) from e
        return cls(
            method=str(d["method"]), arms=arms, ratio=ratio, block_sizes=seq("block_sizes"),
            block_weights=block_weights, strata=tuple(str(s) for s in seq("strata")),
            factors=tuple(str(s) for s in seq("factors")), weights=weights, p=p,
            imbalance=str(d.get("imbalance", "range")), source=source,
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> RandomisationDesign:
        """Read a design file (YAML).

        Parameters
        ----------
        path : str or pathlib.Path
            The file.

        Returns
        -------
        RandomisationDesign
            The design, checked as :meth:`from_dict` checks it.
        """
        import yaml

        path = Path(path)
        try:
            d = yaml.safe_load(path.read_text())
        except FileNotFoundError as e:
            raise DesignError(f"{path}: file not found") from e
        except yaml.YAMLError as e:
            raise DesignError(f"{path}: not valid YAML ({e})") from e
        return cls.from_dict(d, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The design as a design file would give it (only the method's keys).

        Returns
        -------
        dict
            A mapping :meth:`from_dict` accepts.
        """
        out = {"method": self.method, "arms": list(self.arms), "ratio": list(self.ratio)}
        if self.method == "blocks":
            out |= {"block_sizes": list(self.block_sizes), "strata": list(self.strata)}
            if self.block_weights:
                out["block_weights"] = list(self.block_weights)
        else:
            out |= {"factors": list(self.factors), "weights": list(self.factor_weights),
                    "p": self.p, "imbalance": self.imbalance}
        return out


# ---------------------------------------------------------------------------------------------
# keyed pseudo-random function


def new_secret() -> str:
    """A fresh 256-bit secret seed (hex), to be held by an independent statistician.

    Returns
    -------
    str
        64 hexadecimal characters from the operating system's secure random source.

    Examples
    --------
    >>> secret = new_secret()
    >>> len(secret), secret != new_secret()
    (64, True)
    """
    return secrets.token_hex(32)


class _PRF:
    def __init__(self, secret: str | int | bytes) -> None:
        if isinstance(secret, bool) or secret is None or secret == "":
            raise DesignError("a secret seed is required")
        raw = secret if isinstance(secret, bytes) else str(secret).encode()
        self._key = hashlib.sha256(b"attunement-randomisation-key|" + raw).digest()

    def uniform(self, *label: object) -> float:
        """A uniform number in [0, 1) determined by the key and the label (53 bits)."""
        msg = json.dumps([str(x) for x in label], separators=(",", ":")).encode()
        digest = hmac.new(self._key, msg, hashlib.sha256).digest()
        return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)

    def fingerprint(self) -> str:
        """A public fingerprint of the key, to check an auditor has the right secret."""
        return hmac.new(self._key, b"fingerprint", hashlib.sha256).hexdigest()[:16]


def _choose(u: float, probs: list[float]) -> int:
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1


# ---------------------------------------------------------------------------------------------
# allocation


@dataclass(frozen=True)
class Allocation:
    """One allocation, with everything needed to audit and reproduce it.

    Examples
    --------
    >>> design = RandomisationDesign.from_dict({"method": "blocks", "arms": ["A", "B"],
    ...                                         "ratio": [1, 1], "block_sizes": [2]})
    >>> record = Randomiser(design, "statistician-held secret").allocate("family-1")
    >>> row = record.to_dict()
    >>> row["sequence"], row["arm"] in {"A", "B"}, row["details"]["block_size"]
    (1, True, 2)
    """

    sequence: int
    participant: str
    arm: str
    method: str
    inputs: dict[str, str]
    stratum: str
    details: dict[str, Any]
    algorithm: str = ALGORITHM_VERSION
    actor: str | None = None
    timestamp: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field, for storage or an audit export.

        Returns
        -------
        dict
            The allocation's fields by name.
        """
        return asdict(self)


class Randomiser:
    """Sequential allocation for one design and one secret seed.

    The secret is held privately; there is deliberately no method to preview the next
    allocation. ``clock`` (returning an aware UTC datetime) and ``actor`` are hooks for the
    platform's audit log.

    Examples
    --------
    The same secret reproduces the same sequence; ``resume`` checks a stored history
    against it:

    >>> design = RandomisationDesign.from_dict({"method": "blocks", "arms": ["control", "tx"],
    ...                                         "ratio": [1, 1], "block_sizes": [4]})
    >>> first = Randomiser(design, "demo-secret")
    >>> arms = [first.allocate(f"p{i}").arm for i in range(4)]
    >>> sorted(arms)                     # a block of four holds two of each
    ['control', 'control', 'tx', 'tx']
    >>> again = Randomiser(design, "demo-secret")
    >>> [again.allocate(f"p{i}").arm for i in range(4)] == arms
    True
    >>> len(Randomiser.resume(design, "demo-secret", first.history).history)
    4
    """

    def __init__(
        self,
        design: RandomisationDesign,
        secret: str | int | bytes,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.design = design
        self._prf = _PRF(secret)
        self._clock = clock
        self.history: list[Allocation] = []
        self._blocks: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, dict[str, list[int]]] = {f: {} for f in design.factors}
        self._seen: set[str] = set()

    @classmethod
    def resume(cls, design: RandomisationDesign, secret: str | int | bytes,
               history: list[Allocation],
               clock: Callable[[], datetime] | None = None) -> Randomiser:
        """Rebuild the state from the stored allocations (for example after a restart),
        checking that every stored allocation is what the secret reproduces.

        Parameters
        ----------
        design : RandomisationDesign
            The trial's design.
        secret : str, int or bytes
            The secret seed.
        history : list of Allocation
            The stored allocations.
        clock : callable, optional
            Returns the current UTC time (for the timestamps).

        Returns
        -------
        Randomiser
            Ready to allocate the next participant.
        """
        r = cls(design, secret, clock=clock)
        for rec in sorted(history, key=lambda a: a.sequence):
            again = r.allocate(rec.participant, rec.inputs, actor=rec.actor)
            if again.arm != rec.arm or again.details != rec.details:
                raise DesignError(f"stored allocation {rec.sequence} ({rec.participant!r}) does "
                                  "not match the sequence reproduced from the secret: wrong "
                                  "secret or design, or the record was altered")
        r.history = list(sorted(history, key=lambda a: a.sequence))
        return r

    @property
    def key_fingerprint(self) -> str:
        """Public fingerprint of the secret (safe to log)."""
        return self._prf.fingerprint()

    def allocate(self, participant: str, values: dict[str, Any] | None = None,
                 actor: str | None = None) -> Allocation:
        """Allocate the next enrolled participant.

        Parameters
        ----------
        participant : str
            The participant's study identifier (allocated once).
        values : dict, optional
            Their level of each stratum or minimisation factor.
        actor : str, optional
            Who asked for the allocation (for the audit log).

        Returns
        -------
        Allocation
            The arm and the record needed to audit it.
        """
        participant = str(participant)
        if participant in self._seen:
            raise DesignError(f"participant {participant!r} has already been allocated")
        values = values or {}
        missing = [c for c in self.design.columns if c not in values]
        if missing:
            raise DesignError(f"participant {participant!r}: no value for {missing}")
        inputs = {}
        for c in self.design.columns:
            v = values[c]
            if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
                raise DesignError(f"participant {participant!r}: '{c}' is empty; strata and "
                                  "factors must be recorded before randomisation")
            inputs[c] = str(v)
        seq = len(self.history) + 1
        if self.design.method == "blocks":
            arm, stratum, details = self._block(inputs)
        else:
            arm, stratum, details = self._minimise(seq, inputs)
        when = self._clock() if self._clock else datetime.now(UTC)
        rec = Allocation(seq, participant, arm, self.design.method, inputs, stratum, details,
                         actor=actor, timestamp=when.isoformat())
        self.history.append(rec)
        self._seen.add(participant)
        return rec

    def _block(self, inputs: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
        d = self.design
        stratum = "|".join(f"{c}={inputs[c]}" for c in d.strata) or "(all)"
        # the unambiguous key (values may contain '|' or '=') drives the state and the PRF
        key = json.dumps([[c, inputs[c]] for c in d.strata])
        st = self._blocks.setdefault(key, {"block": 0, "seq": [], "pos": 0, "n": 0})
        if st["pos"] >= len(st["seq"]):
            st["block"] += 1
            b = st["block"]
            w = list(d.block_weights) or [1.0] * len(d.block_sizes)
            tot = sum(w)
            size = d.block_sizes[_choose(self._prf.uniform("block-size", key, b),
                                         [x / tot for x in w])]
            mult = size // sum(d.ratio)
            block = [a for a, r in zip(d.arms, d.ratio, strict=True) for _ in range(r * mult)]
            for i in range(len(block) - 1, 0, -1):  # Fisher–Yates with keyed draws
                j = int(self._prf.uniform("permute", key, b, i) * (i + 1))
                block[i], block[j] = block[j], block[i]
            st["seq"], st["pos"] = block, 0
        arm = st["seq"][st["pos"]]
        st["pos"] += 1
        st["n"] += 1
        details = {"block_number": st["block"], "block_size": len(st["seq"]),
                   "position_in_block": st["pos"], "stratum_sequence": st["n"]}
        return arm, stratum, details

    def _minimise(self, seq: int, inputs: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
        d = self.design
        K = len(d.arms)
        ratio = np.array(d.ratio, float)
        before = {f: list(self._counts[f].get(inputs[f], [0] * K)) for f in d.factors}
        scores = []
        for t in range(K):
            g = 0.0
            for f, w in zip(d.factors, d.factor_weights, strict=True):
                c = np.array(before[f], float)
                c[t] += 1
                c = c / ratio
                if d.imbalance == "range":
                    imb = c.max() - c.min()
                elif d.imbalance == "sd":
                    imb = float(np.std(c, ddof=1))
                else:
                    imb = float(np.var(c, ddof=1))
                g += w * imb
            scores.append(float(round(g, 12)))
        best = min(scores)
        tied = [t for t in range(K) if scores[t] == best]
        if len(tied) == K:
            probs = list(ratio / ratio.sum())
        else:
            rt = ratio[tied].sum()
            others = K - len(tied)
            probs = [d.p * ratio[t] / rt if t in tied else (1 - d.p) / others for t in range(K)]
        u = self._prf.uniform("minimisation", seq)
        t = _choose(u, probs)
        for f in d.factors:
            self._counts[f].setdefault(inputs[f], [0] * K)[t] += 1
        details = {
            "counts_before": {f: dict(zip(d.arms, before[f], strict=True)) for f in d.factors},
            "imbalance_scores": dict(zip(d.arms, scores, strict=True)),
            "preferred": [d.arms[i] for i in tied],
            "probabilities": dict(zip(d.arms, [float(p) for p in probs], strict=True)),
            "draw": u, "p": d.p, "weights": list(d.factor_weights), "ratio": list(d.ratio),
            "imbalance": d.imbalance,
        }
        stratum = "|".join(f"{c}={inputs[c]}" for c in d.factors)
        return d.arms[t], stratum, details


def _participant_rows(design: RandomisationDesign, participants: pd.DataFrame,
                      id_column: str | None, source: str) -> Iterable[tuple[str, dict]]:
    missing = [c for c in design.columns if c not in participants.columns]
    if missing:
        raise DesignError(f"{source}: the design names column(s) {missing} that the participant "
                          f"file does not have (columns: {list(participants.columns)})")
    if id_column is not None and id_column not in participants.columns:
        raise DesignError(f"{source}: no participant id column {id_column!r}")
    if "arm" in participants.columns:
        raise DesignError(f"{source}: already has an 'arm' column; refusing to overwrite it")
    for i, (_, row) in enumerate(participants.iterrows()):
        for c in design.columns:
            v = row[c]
            if pd.isna(v) or str(v).strip() == "":
                raise DesignError(f"{source}: row {i + 2} (line in the CSV), column '{c}' is "
                                  "empty; every participant needs a value")
        pid = str(row[id_column]) if id_column else str(i + 1)
        yield pid, {c: row[c] for c in design.columns}


def allocate_participants(
    design: RandomisationDesign,
    participants: pd.DataFrame,
    secret: str | int | bytes,
    id_column: str | None = None,
    actor: str | None = None,
    clock: Callable[[], datetime] | None = None,
    source: str = "participants",
) -> tuple[pd.DataFrame, list[Allocation]]:
    """Allocate participants in row (enrolment) order; returns the table with ``arm`` added
    and the allocation records.

    Parameters
    ----------
    design
        Arms, ratio and method (blocks, stratified blocks or minimisation).
    participants
        One row per participant in enrolment order, with the stratum or factor columns.
    secret
        The secret seed (see :func:`new_secret`); the sequence is reproducible from it.
    id_column, actor, clock, source
        Participant id column, audit-log hooks and the name errors give the table.

    Returns
    -------
    tuple[pandas.DataFrame, list[Allocation]]
        The participants with ``arm``, and one :class:`Allocation` record each.

    Examples
    --------
    With ``design = RandomisationDesign(method="blocks", arms=("control", "intervention"),
    ratio=(1, 1), block_sizes=(4,))`` and eight participants ``p1`` … ``p8``,
    ``allocate_participants(design, people, "example-secret", id_column="id")`` gives
    intervention, control, control, intervention | intervention, control, intervention,
    control: each block of 4 holds 2 of each arm. R's ``blockrand::blockrand(n = 8,
    num.levels = 2, block.sizes = 2)`` makes the same kind of sequence (permuted blocks of 4)
    from R's own generator, so the arms differ while the balance is the same.
    """
    r = Randomiser(design, secret, clock=clock)
    rows = list(_participant_rows(design, participants, id_column, source))
    for pid, values in rows:
        r.allocate(pid, values, actor=actor)
    out = participants.copy()
    out["arm"] = [a.arm for a in r.history]
    return out, r.history


def verify_allocations(design: RandomisationDesign, secret: str | int | bytes,
                       allocations: list[Allocation]) -> list[int]:
    """Replay the sequence from the secret and enrolment order; return the sequence numbers
    whose recorded arm differs (empty when the record is intact).

    Parameters
    ----------
    design, secret
        As given to :func:`allocate_participants`.
    allocations
        The stored allocation records.

    Returns
    -------
    list[int]
        Sequence numbers whose arm or details the secret does not reproduce.

    Examples
    --------
    For the allocations of :func:`allocate_participants`' example,
    ``verify_allocations(design, "example-secret", records)`` is ``[]``; with one record's
    arm changed it names that record's sequence number.
    """
    r = Randomiser(design, secret)
    bad = []
    for rec in sorted(allocations, key=lambda a: a.sequence):
        again = r.allocate(rec.participant, rec.inputs)
        if again.arm != rec.arm or again.details != rec.details:
            bad.append(rec.sequence)
    return bad


def balance_report(design: RandomisationDesign, allocated: pd.DataFrame) -> pd.DataFrame:
    """Counts per arm overall and per level of each stratum column / minimisation factor
    (and per joint stratum for blocks), with the largest difference from the target ratio.

    Parameters
    ----------
    design
        The randomisation design.
    allocated
        The participants with their ``arm`` (from :func:`allocate_participants`).

    Returns
    -------
    pandas.DataFrame
        ``group``, ``level``, ``n``, one count column per arm and ``max_imbalance``.

    Examples
    --------
    For :func:`allocate_participants`' example: one row ``overall / all``, n 8, control 4,
    intervention 4, max_imbalance 0.0 (as ``table(blockrand(...)$treatment)`` in R).
    """
    rows = []
    ratio = np.array(design.ratio, float) / sum(design.ratio)

    def add(group: str, level: str, sub: pd.DataFrame) -> None:
        counts = [int((sub["arm"] == a).sum()) for a in design.arms]
        n = sum(counts)
        expected = ratio * n
        rows.append({"group": group, "level": level, "n": n,
                     **dict(zip(design.arms, counts, strict=True)),
                     "max_imbalance": float(np.max(np.abs(np.array(counts) - expected)))})

    add("overall", "all", allocated)
    for c in design.columns:
        for lv, sub in allocated.groupby(c, sort=True):
            add(c, str(lv), sub)
    if design.method == "blocks" and len(design.strata) > 1:
        for lv, sub in allocated.groupby(list(design.strata), sort=True):
            add("stratum", "|".join(map(str, lv)), sub)
    return pd.DataFrame(rows)


def _all_blocks(arms: Iterable[str], ratio: Iterable[int], size: int) -> set[tuple[str, ...]]:
    """Every distinct block of a given size (for tests and documentation)."""
    arms, ratio = list(arms), list(ratio)
    mult = size // sum(ratio)
    base = [a for a, r in zip(arms, ratio, strict=True) for _ in range(r * mult)]
    return set(itertools.permutations(base))
