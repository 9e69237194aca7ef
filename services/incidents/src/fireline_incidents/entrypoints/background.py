"""incidents' background loops, all started here: the live updates' reader of the incidents
topic."""

from __future__ import annotations

from fireline_incidents.adapters.incidents_tail import tail_incidents
from fireline_incidents.config import Settings
from fireline_incidents.service_layer.context import IncidentsContext
from fireline_runtime.service import ServiceRuntime


def start(runtime: ServiceRuntime, context: IncidentsContext, settings: Settings) -> None:
    """Spawn every loop (an ``on_start`` hook)."""
    # Each replica reads every change itself for the browsers connected to it (no group).
    reader = tail_incidents(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic_prefix=settings.topic_prefix,
        feed=context.feed,
        security=settings.kafka_security,
    )
    runtime.spawn(reader, "incidents-live-updates")
