"""The one mapping from the incidents domain's errors to problem details."""

from __future__ import annotations

from fireline_incidents.domain.errors import (
    IncidentNotFound,
    IncidentsError,
    InvalidCursor,
    InvalidIncident,
    InvalidNote,
    UnknownCreator,
)
from fireline_runtime.problems import ErrorMap

ERRORS = (
    ErrorMap(IncidentsError)
    .add(IncidentsError, 400, "bad_request", "Bad request")
    .add(IncidentNotFound, 404, "not_found", "Incident not found")
    .add(UnknownCreator, 422, "unknown_creator", "Unknown creator")
    .add(InvalidIncident, 422, "invalid_incident", "Incident is not valid")
    .add(InvalidCursor, 400, "invalid_cursor", "Invalid cursor")
    .add(InvalidNote, 422, "invalid_note", "Note is not valid")
)
