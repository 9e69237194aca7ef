"""The incidents API as the web UI's backend calls it: the person's bearer token attached."""

from __future__ import annotations

import httpx

from fireline_identity.domain.errors import UpstreamUnavailable
from fireline_identity.service_layer.ports import ApiAnswer, ApiCall, EventStream

# What the browser needs to see of the API's answer; hop-by-hop and caching headers are ours.
_PASSED_HEADERS = ("content-type", "location", "retry-after", "www-authenticate")


class IncidentsApi:
    """Forwards a request under ``/v1/incidents`` to the incidents service."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    async def call(self, request: ApiCall, token: str) -> ApiAnswer:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        url = f"{self._base_url}/v1/incidents{request.path}"
        if request.query:
            url += f"?{request.query}"
        try:
            response = await self._client.request(
                request.method, url, content=request.body, headers=headers
            )
        except httpx.HTTPError:
            raise UpstreamUnavailable("the incidents API did not answer") from None
        passed = {k: v for k in _PASSED_HEADERS if (v := response.headers.get(k)) is not None}
        return ApiAnswer(response.status_code, response.content, passed)

    async def open_events(self, token: str, last_event_id: str | None) -> EventStream:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        request = self._client.build_request(
            "GET", f"{self._base_url}/v1/incident-events", headers=headers
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError:
            raise UpstreamUnavailable("the incidents API did not answer") from None
        return EventStream(
            response.status_code,
            response.headers.get("content-type"),
            response.aiter_raw(),
            response.aclose,
        )
