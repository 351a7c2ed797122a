"""Coverage-guided fuzzing of the observation parsers with atheris (not collected by pytest).

Run (atheris 3.0 installs from PyPI on CPython 3.11)::

    pip install atheris
    python tests/observation/fuzz_parsers.py -atheris_runs=200000
    mkdir -p /tmp/obs-corpus && cp tests/observation/data/* /tmp/obs-corpus/
    python tests/observation/fuzz_parsers.py -max_total_time=300 /tmp/obs-corpus

The optional directory argument is a libFuzzer corpus directory (libFuzzer writes new inputs
into it, so copy the sample files to a scratch directory rather than pointing it at ``data/``). The first byte of each input picks the parser (255: the bytes of a
Datavyu ``.opf`` zip); the rest is the file's text. Any exception other than ObservationError is a bug and stops the fuzzer with the
crashing input saved as ``crash-*``.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from attunement.observation import ObservationError, parse_scheme
    from attunement.observation.importers import (
        read_boris_project,
        read_boris_table,
        read_datavyu_csv,
        read_eaf,
        read_observer_csv,
        read_opf,
        read_plain_csv,
        read_sdis,
    )

TMP = Path(tempfile.mkdtemp(prefix="attunement-fuzz-"))


def _eaf(path: str, text: str):
    p = TMP / "fuzz.eaf"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    return read_eaf(p)


def _opf(path: str, data: bytes):
    p = TMP / "fuzz.opf"
    p.write_bytes(data)
    return read_opf(p)


PARSERS = [
    ("plain.csv", read_plain_csv),
    ("boris.tsv", read_boris_table),
    ("project.boris", read_boris_project),
    ("data.sds", read_sdis),
    ("datavyu.csv", read_datavyu_csv),
    ("scheme.yaml", lambda path, text: parse_scheme(text, source=path)),
    ("observer.csv", read_observer_csv),
    ("file.eaf", _eaf),
]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    if data[0] == 255:  # raw bytes as a Datavyu .opf archive
        with contextlib.suppress(ObservationError):
            _opf("file.opf", data[1:])
        return
    name, parser = PARSERS[data[0] % len(PARSERS)]
    try:
        text = data[1:].decode("utf-8")
    except UnicodeDecodeError:
        return
    with contextlib.suppress(ObservationError):
        parser(name, text=text) if name != "file.eaf" else parser(name, text)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
