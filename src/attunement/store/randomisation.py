"""What the store asks of a randomisation, and how it reads a stored design.

The store keeps a study's design, its secret seed (encrypted) and its allocations
(:mod:`attunement.store.trials`); the randomisation itself is given to its writes as a
:class:`Randomisation`. The use case's :class:`attunement.usecases.trials.LibraryRandomisation`
is the one built on :mod:`attunement.trials.randomisation`, so the store imports no trials
library.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Randomisation", "design_columns"]


class Randomisation(Protocol):
    """What the store asks of the randomisation library; the use case's
    :class:`attunement.usecases.trials.LibraryRandomisation` answers with
    :mod:`attunement.trials.randomisation`.

    A design is its stored mapping (``method``, ``arms``, ``ratio``, ``strata`` or
    ``factors`` …); an allocation is a mapping of ``sequence``, ``participant``, ``arm``,
    ``method``, ``inputs``, ``stratum``, ``details`` and ``algorithm``.

    Examples
    --------
    >>> from attunement.usecases.trials import LibraryRandomisation
    >>> isinstance(LibraryRandomisation().new_secret(), str)
    True
    """

    def design(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The design checked and completed, in its stored form.

        Parameters
        ----------
        spec
            The design's keys as the admin gave them.

        Returns
        -------
        dict
            The stored form of the design.
        """
        ...

    def new_secret(self) -> str:
        """A fresh secret seed.

        Returns
        -------
        str
            The seed.
        """
        ...

    def fingerprint(self, design: dict[str, Any], secret: str) -> str:
        """The public fingerprint of a seed (safe to log).

        Parameters
        ----------
        design, secret
            The stored design and its seed.

        Returns
        -------
        str
            The fingerprint.
        """
        ...

    def allocate(self, design: dict[str, Any], secret: str, history: list[dict[str, Any]],
                 participant: str, inputs: dict[str, str], actor: str) -> dict[str, Any]:
        """The next allocation, after replaying ``history`` from the seed.

        Parameters
        ----------
        design, secret
            The stored design and its seed.
        history
            The study's allocations in enrolment order.
        participant, inputs, actor
            Who is allocated, their level of each stratum or factor, who randomises.

        Returns
        -------
        dict
            The new allocation.
        """
        ...

    def verify(self, design: dict[str, Any], secret: str,
               history: list[dict[str, Any]]) -> list[int]:
        """Replay ``history`` from the seed.

        Parameters
        ----------
        design, secret, history
            As for :meth:`allocate`.

        Returns
        -------
        list of int
            The sequence numbers whose recorded arm differs.
        """
        ...


def design_columns(design: dict[str, Any]) -> list[str]:
    """The columns (strata or minimisation factors) a stored design allocates by.

    Parameters
    ----------
    design
        The stored design: a block design stores ``strata``, a minimisation ``factors``.

    Returns
    -------
    list of str
        The columns, in the design's order.

    Examples
    --------
    >>> design_columns({"method": "blocks", "arms": ["a", "b"], "strata": ["site", "smi"]})
    ['site', 'smi']
    """
    return [str(c) for c in design.get("strata") or design.get("factors") or []]
