"""What incidents' entrypoints hand to the use cases, built once by ``bootstrap.py``."""

from __future__ import annotations

from dataclasses import dataclass

from fireline_incidents.domain.live import LiveFeed
from fireline_incidents.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class IncidentsContext:
    """What the entrypoints hand to use cases; built once by the composition root."""

    uow: UnitOfWorkFactory[UnitOfWork]
    """Call it for a fresh unit of work per use case: one must never be entered twice at once."""
    feed: LiveFeed
    """This replica's changes for the browsers connected to it (``entrypoints/live_api.py``)."""
