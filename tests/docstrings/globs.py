"""Names a module's examples may use without defining them (a store's examples need a store)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def globs_for(module: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The extra globals for ``module``'s examples: none, except for the store's modules and
    the observation importers, whose examples write files in ``folder`` (a fresh temporary
    directory, named in ``attunement.observation.importers``'s module docstring)."""
    if module.startswith("attunement.observation.importers"):
        yield {"folder": tmp_path}
        return
    yield {}
