"""The router every JSON resource module declares its routes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


class ApiRouter(APIRouter):
    """An ``/api`` router whose routes carry ``tags`` in ``/docs``.

    ``answers`` registers the usual route of this API: one that answers the store's record as
    ``model`` with only the fields the store set (``response_model_exclude_unset``), so a
    field the store leaves out stays out of the answer instead of reading ``null``.
    """

    def __init__(self, *tags: str) -> None:
        super().__init__(prefix="/api", tags=list(tags))

    def answers(self, method: str, path: str, model: Any, *, status_code: int | None = None,
                **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``method path`` answering ``model`` with the fields the store set.

        Parameters
        ----------
        method : str
            The HTTP method, e.g. ``"POST"``.
        path : str
            The path below ``/api``.
        model : Any
            The response model (a pydantic model or ``list[...]`` of one).
        status_code : int, optional
            The success status (FastAPI's default for the method when omitted).
        **kwargs
            Passed to :meth:`fastapi.APIRouter.api_route` (e.g. ``tags``).

        Returns
        -------
        Callable
            The decorator.
        """
        return self.api_route(path, methods=[method], response_model=model,
                              status_code=status_code, response_model_exclude_unset=True,
                              **kwargs)
