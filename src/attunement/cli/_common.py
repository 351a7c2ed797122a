"""What every command of the ``attunement`` CLI shares: one way to fail, to read and write a
table, to open the store and to print ``--json``.

Errors are one line on stderr, ``error: WHAT`` (naming the file, row, column or option that is
wrong), and exit with a code: 2 for a bad input or a refused request, 1 for a platform command
whose store said no (the codes the commands have always used).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from attunement.store import Store

#: the two panels of ``attunement --help``
LIBRARY_PANEL = "Library commands (files in, results out; no database)"
PLATFORM_PANEL = "Platform (the database, its server and its trials)"

# parentheses, not brackets: the help is rich markup, where [default: ...] would vanish
DB_HELP = (
    "Database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (default: a SQLite "
    "file in your data directory)."
)
KEY_HELP = "Identifier key file, mode 0600 (default: identifier.key in your data directory)."

DbOption = typer.Option(None, "--db", envvar="ATTUNEMENT_DB", help=DB_HELP)
KeyOption = typer.Option(None, "--key-file", envvar="ATTUNEMENT_KEY_FILE", help=KEY_HELP)

#: table file suffixes and the separator of the text ones (None: Parquet)
TABLE_SUFFIXES: dict[str, str | None] = {
    ".csv": ",", ".txt": ",", ".tsv": "\t", ".parquet": None, ".pq": None,
}


def fail(problem: str | BaseException, code: int = 2) -> NoReturn:
    """Print ``error: PROBLEM`` on stderr and exit with ``code``.

    Parameters
    ----------
    problem
        What is wrong (naming the file, row, column or option), or the exception whose text
        says it (the library and store errors name their file, row and field).
    code
        The exit code: 2 for bad input (the default), 1 for a platform command refused by the
        store or a check that found a problem.

    Returns
    -------
    NoReturn
        It raises :class:`typer.Exit`.

    Examples
    --------
    >>> fail("examples/x.csv: no such file")  # doctest: +SKIP
    """
    # styled only on a terminal: click drops the colour when stderr is a file or a pipe
    label = typer.style("error:", fg="red", bold=True)
    typer.echo(f"{label} {problem}", err=True)
    raise typer.Exit(code)


def note(message: str) -> None:
    """Print a one-line ``note: MESSAGE`` on stderr (stdout may carry a table or JSON)."""
    typer.echo(f"{typer.style('note:', fg='yellow', bold=True)} {message}", err=True)


def read_table(path: Path, *, engine: str = "pandas", text_prefix: str | None = None) -> Any:
    """Read a CSV (``.csv``/``.txt``), TSV or Parquet table, or fail naming the file and why.

    Parameters
    ----------
    path
        The table file; its suffix says its format.
    engine
        ``"pandas"`` (a DataFrame) or ``"polars"``.
    text_prefix
        With polars: when the file does not parse with inferred types, columns whose names
        start with this prefix are read as text, so that a scorer can name each bad row
        instead of the whole file failing.

    Returns
    -------
    pandas.DataFrame or polars.DataFrame
        The table.

    Examples
    --------
    >>> frame = read_table(Path("examples/trial.csv"))  # doctest: +SKIP
    """
    if not path.exists():
        fail(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        fail(f"{path}: expected a table file (.csv, .tsv, .parquet)")
    sep = TABLE_SUFFIXES[suffix]
    try:
        if engine == "polars":
            return _read_polars(path, sep, text_prefix)
        import pandas as pd

        return pd.read_parquet(path) if sep is None else pd.read_csv(path, sep=sep)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # pandas' and polars' parser errors name the line or column where they know it
        fail(f"{path}: cannot read the table ({_first_line(exc)})")
    except Exception as exc:  # pyarrow's and polars' own errors
        fail(f"{path}: cannot read the table ({type(exc).__name__}: {_first_line(exc)})")


def _first_line(exc: BaseException) -> str:
    """The first line of an error (polars adds paragraphs of advice after it)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _read_polars(path: Path, sep: str | None, text_prefix: str | None) -> Any:
    import polars as pl

    if sep is None:
        return pl.read_parquet(path)
    try:
        return pl.read_csv(path, separator=sep, infer_schema_length=10000)
    except pl.exceptions.ComputeError:
        if text_prefix is None:
            raise
        header = pl.read_csv(path, separator=sep, n_rows=0).columns
        overrides = {c: pl.Utf8 for c in header if c.startswith(text_prefix)}
        return pl.read_csv(path, separator=sep, infer_schema_length=10000,
                           schema_overrides=overrides)


def write_table(frame: Any, path: Path | None) -> None:
    """Write a pandas or polars table to ``path`` by its suffix, or as CSV to stdout.

    ``.parquet``/``.pq`` give Parquet, ``.tsv`` tab-separated text, ``.json`` a list of
    records, anything else CSV. The file is written beside its place and moved there only
    when complete, so a failed write leaves no half a table.

    Parameters
    ----------
    frame
        A pandas or polars DataFrame.
    path
        The file to write, or None for CSV on stdout.

    Returns
    -------
    None

    Examples
    --------
    >>> write_table(frame, Path("scored.parquet"))  # doctest: +SKIP
    """
    polars = hasattr(frame, "write_csv")
    if path is None:
        if polars:
            sys.stdout.write(frame.write_csv())
        else:
            frame.to_csv(sys.stdout, index=False)
        sys.stdout.flush()
        return
    suffix = path.suffix.lower()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if suffix in (".parquet", ".pq"):
            frame.write_parquet(tmp) if polars else frame.to_parquet(tmp, index=False)
        elif suffix == ".json":
            if polars:
                frame.write_json(tmp)
            else:
                frame.to_json(tmp, orient="records", indent=1)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            if polars:
                frame.write_csv(tmp, separator=sep)
            else:
                frame.to_csv(tmp, sep=sep, index=False)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"{path}: cannot write ({exc.strerror or _first_line(exc)})")
    except Exception as exc:  # a column the format cannot hold (pyarrow, polars)
        tmp.unlink(missing_ok=True)
        fail(f"{path}: cannot write ({type(exc).__name__}: {_first_line(exc)})")


@contextmanager
def open_store(db: str | None, key_path: Path | None, *, code: int = 1,
               errors: tuple[type[BaseException], ...] = ()) -> Iterator[Store]:
    """The store for a command: the one place the CLI opens it (``--db``/``$ATTUNEMENT_DB``,
    ``--key-file``/``$ATTUNEMENT_KEY_FILE``, else the data-directory defaults).

    Parameters
    ----------
    db
        Database URL, or None for the default SQLite file.
    key_path
        Identifier key file, or None for the default.
    code
        Exit code when the store (or one of ``errors``) refuses what the command does inside
        the ``with`` block; a store that cannot be opened always exits 1.
    errors
        More exception types reported as one line inside the block (a command's own input
        errors).

    Returns
    -------
    Iterator[Store]
        The open store, closed when the block ends.

    Examples
    --------
    >>> with open_store(None, None) as store:  # doctest: +SKIP
    ...     store.accounts.list_sites(store.system_actor())
    """
    from attunement.store import Store, StoreError

    try:
        store = Store.open(db, key_path=key_path)
    except StoreError as exc:
        fail(exc, code=1)
    except Exception as exc:  # a bad URL or an unreachable server: say which, briefly
        fail(f"cannot open the database: {type(exc).__name__}: {exc}", code=1)
    try:
        yield store
    except (StoreError, *errors) as exc:
        fail(exc, code=code)
    finally:
        store.close()


def with_store(command: Callable[..., None]) -> Callable[..., None]:
    """A platform command run on the open store: ``command(store, ...)`` becomes a command
    with its own options and then ``--db`` and ``--key-file``, the store opened once for it
    with :func:`open_store` (a store error exits 1).

    Examples
    --------
    >>> @with_store
    ... def sites_list(store) -> None:
    ...     pass
    >>> list(inspect.signature(sites_list).parameters)
    ['db', 'key_file']
    """
    names = command.__globals__
    own = [p.replace(annotation=eval(p.annotation, names) if isinstance(p.annotation, str)
                     else p.annotation)
           for p in list(inspect.signature(command).parameters.values())[1:]]
    options = [inspect.Parameter("db", inspect.Parameter.KEYWORD_ONLY, default=DbOption,
                                 annotation=str | None),
               inspect.Parameter("key_file", inspect.Parameter.KEYWORD_ONLY, default=KeyOption,
                                 annotation=Path | None)]

    @functools.wraps(command)
    def run(*args: Any, db: str | None = None, key_file: Path | None = None,
            **kwargs: Any) -> None:
        with open_store(db, key_file) as store:
            command(store, *args, **kwargs)

    del run.__wrapped__  # typer reads the signature below, not the wrapped function's
    run.__signature__ = inspect.Signature([*own, *options])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in [*own, *options]}
    return run


def _plain(value: Any) -> Any:
    """NumPy scalars as numbers, anything else JSON does not know (dates, paths) as text."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)


def print_json(data: Any, *, indent: int | None = 2, sort_keys: bool = False) -> None:
    """Print ``data`` as JSON on stdout (what every ``--json`` prints).

    Parameters
    ----------
    data
        Plain data; NumPy scalars become numbers, dates and paths text.
    indent
        Indentation, or None for one line.
    sort_keys
        Sort the keys of objects.

    Returns
    -------
    None

    Examples
    --------
    >>> print_json({"power": 0.81}, indent=None)
    {"power": 0.81}
    """
    typer.echo(json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False,
                          default=_plain))


def show_result(result: Any, as_json: bool) -> None:
    """Print a library result: with ``--json`` its ``to_dict()`` as JSON, else as it renders
    itself on the console (its ``__rich__``).

    Parameters
    ----------
    result
        An object with ``to_dict()`` that rich can print (a profile, a match).
    as_json
        The command's ``--json``.

    Returns
    -------
    None

    Examples
    --------
    >>> show_result(profile(family), as_json=True)  # doctest: +SKIP
    """
    if as_json:
        print_json(result.to_dict())
        return
    from rich.console import Console

    Console().print(result)
