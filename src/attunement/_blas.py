"""A bounded number of BLAS threads for the small dense algebra of model fits.

A mixed-model fit or a meta-analysis multiplies and factorises many small matrices. OpenBLAS
starts one thread per core for each call by default; on small matrices the threads cost more
than they save, and when several fits (or several processes) run at once they fight over the
cores: on a shared 2-core machine one ``fit_lmm`` on 600 rows took 95–116 ms with OpenBLAS's
default threads and 18 ms with one thread (``benchmarks/bench_trials.py`` prints both).
The domain libraries therefore run their fits with ``ATTUNEMENT_BLAS_THREADS`` BLAS threads
(default 1) and get parallelism from running several fits at once instead (``run_power``'s
``workers``, a Dask cluster).

The limit is process-wide while any bounded call runs (threadpoolctl changes the BLAS
libraries' own setting); a counter restores the caller's setting only when the last of
several nested or overlapping calls leaves. OpenBLAS does not reliably honour a change made
from a thread other than the one that made the previous change, so a threaded server that
fits models may be left at the bounded setting; for it, set the limit once for the process
(``OPENBLAS_NUM_THREADS=1``).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["blas_thread_limit", "bounded_blas", "limited_blas"]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_depth = 0
_limiter: Any = None
_controller: Any = None


def blas_thread_limit() -> int | None:
    """How many BLAS threads a model fit may use, read from ``ATTUNEMENT_BLAS_THREADS``.

    Returns
    -------
    int or None
        The setting (default 1); None when it is 0, meaning no limit.

    Raises
    ------
    ValueError
        The setting is not a whole number, or is negative.

    Examples
    --------
    >>> import os
    >>> os.environ.get("ATTUNEMENT_BLAS_THREADS") is None and blas_thread_limit() == 1
    True
    """
    raw = os.environ.get("ATTUNEMENT_BLAS_THREADS", "1").strip()
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"ATTUNEMENT_BLAS_THREADS must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"ATTUNEMENT_BLAS_THREADS must be 0 (no limit) or more, not {value}")
    return value or None


def _get_controller() -> Any:
    global _controller
    if _controller is None:
        import numpy  # noqa: F401  (load the BLAS libraries before listing them)
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextmanager
def limited_blas(limit: int | None = None) -> Iterator[None]:
    """Run the block with at most ``limit`` BLAS threads (default :func:`blas_thread_limit`).

    Nested or overlapping blocks share the outermost limit; the previous setting comes back
    when the last one leaves.

    Parameters
    ----------
    limit : int, optional
        The most BLAS threads while the block runs; None reads :func:`blas_thread_limit`.

    Yields
    ------
    None
        Control, while the limit holds.

    Examples
    --------
    >>> import numpy as np
    >>> with limited_blas(1):
    ...     np.linalg.solve([[2.0, 0.0], [0.0, 4.0]], [2.0, 8.0]).tolist()
    [1.0, 2.0]
    """
    global _depth, _limiter
    limit = blas_thread_limit() if limit is None else limit
    if limit is None:
        yield
        return
    with _lock:
        if _depth == 0:
            # talk to the libraries' controllers directly: threadpoolctl's limit() object costs
            # ~20 µs per call, which shows on a 0.4 ms meta-analysis
            _limiter = []
            for lib in _get_controller().lib_controllers:
                if lib.user_api == "blas":
                    before = lib.get_num_threads()
                    if before is not None and before > limit:
                        lib.set_num_threads(limit)
                        _limiter.append((lib, before))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _limiter is not None:
                for lib, before in _limiter:
                    lib.set_num_threads(before)
                _limiter = None


def bounded_blas(func: F) -> F:
    """Decorate a fitting function so that each call runs inside :func:`limited_blas`.

    Parameters
    ----------
    func : callable
        The function to bound, typically one that fits a model.

    Returns
    -------
    callable
        ``func`` wrapped: same name, docstring and result.

    Examples
    --------
    >>> import numpy as np
    >>> @bounded_blas
    ... def pooled_variance(x):
    ...     return float(np.var(x, ddof=1))
    >>> pooled_variance([1.0, 2.0, 3.0])
    1.0
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with limited_blas():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
