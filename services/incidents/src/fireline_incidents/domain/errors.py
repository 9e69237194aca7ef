"""Domain errors of the incidents service; one exception handler maps them to problem details."""

from __future__ import annotations


class IncidentsError(Exception):
    """Base of every error a client can act on."""


class IncidentNotFound(IncidentsError):
    """No incident with that id in the caller's org (another org's incident is also not found)."""


class UnknownCreator(IncidentsError):
    """The creator named by a manual incident is not an active user of the org."""


class InvalidIncident(IncidentsError):
    """The incident's fields break a rule (for example a blank title)."""


class InvalidCursor(IncidentsError):
    """A pagination cursor that this service did not issue, or that was altered."""


class InvalidNote(IncidentsError):
    """A timeline note that is blank or too long."""
