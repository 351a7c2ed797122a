"""Running the web app under uvicorn (``attunement serve``)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from fastapi import FastAPI


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers: the store named by ``$ATTUNEMENT_DB``.

    The identifier key file is ``$ATTUNEMENT_KEY_FILE`` (or the default).

    Returns
    -------
    fastapi.FastAPI
        The application, with settings from the environment.
    """
    from attunement.store import Store
    from attunement.web import Settings, create_app

    store = Store.open(os.environ.get("ATTUNEMENT_DB"),
                       key_path=os.environ.get("ATTUNEMENT_KEY_FILE") or None)
    app = create_app(store, settings=Settings.from_env())
    settle()
    return app


def settle() -> None:
    """Before serving: load what every request needs, then freeze the heap for the garbage
    collector.

    A full cyclic collection walks every live object (the libraries, the definitions, the
    compiled statements: hundreds of thousands), which stalled a worker for up to 375 ms under
    load and made the tail latency. Objects alive at start-up live as long as the server, so
    ``gc.freeze`` takes them out of those walks; everything is still freed as usual when no
    longer referenced.
    """
    from attunement.instruments import list_instruments

    list_instruments()
    gc.collect()
    gc.freeze()


def run(
    url: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    key_file: str | Path | None = None,
    proxy_headers: bool = False,
    log_level: str = "info",
) -> None:
    """Open (and migrate) the store, then serve the web service. Several workers share one database.

    Parameters
    ----------
    url : str or None
        The database address; ``$ATTUNEMENT_DB`` or the default SQLite file when None.
    host : str
        The address to listen on.
    port : int
        The port to listen on.
    workers : int
        Server processes; with one, the outreach worker runs beside the server.
    key_file : str or pathlib.Path, optional
        The identifier key file.
    proxy_headers : bool
        Trust ``X-Forwarded-*`` headers from a proxy on this machine.
    log_level : str
        Uvicorn's log level.
    """
    import uvicorn

    from attunement.store import Store

    if url:
        os.environ["ATTUNEMENT_DB"] = url
    if key_file:
        os.environ["ATTUNEMENT_KEY_FILE"] = str(key_file)
    # every worker must sign sessions with the same secret: resolve it once, here
    from attunement.web.settings import Settings

    os.environ.setdefault("ATTUNEMENT_SECRET_KEY", Settings.from_env().resolved_secret())
    store = Store.open(url, key_path=key_file)  # runs the migrations once, before any worker
    options = {"host": host, "port": port, "proxy_headers": proxy_headers,
               "forwarded_allow_ips": "127.0.0.1" if proxy_headers else None,
               "log_level": log_level, "access_log": False}
    options = {k: val for k, val in options.items() if val is not None}
    if workers == 1:
        from attunement.outreach.worker import start_embedded
        from attunement.web import create_app

        app = create_app(store, settings=Settings.from_env())
        embedded = start_embedded(store)  # SQLite: the outreach worker runs beside the server
        settle()
        try:
            uvicorn.run(app, **options)  # type: ignore[arg-type]
        finally:
            if embedded:
                embedded[1].set()
                embedded[0].join(10)
        return
    store.close()
    uvicorn.run("attunement.web.server:app_from_env", factory=True, workers=workers,
                **options)  # type: ignore[arg-type]
