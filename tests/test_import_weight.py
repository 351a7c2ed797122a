"""A process that only stores or serves does not load the statistics libraries it never
uses: the observation package (pandas, scipy.stats) is imported where an upload is measured
or the observation page is shown (docs/scaling.md: the export's memory is mostly imports)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("scipy", "attunement.observation")


def _loaded(module: str) -> list[str]:
    code = (f"import json, sys, {module}; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["attunement.store", "attunement.web.app"])
def test_importing_the_store_or_the_web_app_loads_no_statistics_library(module):
    assert _loaded(module) == []
