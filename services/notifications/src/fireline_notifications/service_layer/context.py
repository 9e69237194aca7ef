"""What notifications' entrypoints hand to the use cases, built once by ``bootstrap.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_notifications.service_layer.urls import UrlPolicy
from fireline_runtime.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class NotificationsContext:
    """What the entrypoints hand to use cases; built once by the composition root."""

    uow: UnitOfWorkFactory[UnitOfWork]
    """Call it for a fresh unit of work per use case: one must never be entered twice at once."""
    urls: UrlPolicy
    wake_dispatcher: Callable[[], None]
    """Called (no arguments) when a delivery is due now: a test, a retry by hand."""
