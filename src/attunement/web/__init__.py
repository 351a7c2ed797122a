"""The web service: server-rendered pages for people and a JSON API for programs.

``create_app(store, settings=...)`` builds the FastAPI application around an open
:class:`attunement.store.Store`; ``attunement serve`` and ``attunement demo`` run it.
"""

from __future__ import annotations

from attunement.web.app import create_app
from attunement.web.settings import Settings

__all__ = ["Settings", "create_app"]
