"""The committed configuration reference and AsyncAPI documents match the code."""

from __future__ import annotations

import json

from tools import gen_docs


def test_configuration_and_asyncapi_docs_are_current() -> None:
    stale = [
        str(path.relative_to(gen_docs.ROOT))
        for path, text in gen_docs.expected().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"regenerate with `python -m tools.gen_docs`: {stale}"


def test_asyncapi_documents_describe_the_topics_each_service_uses() -> None:
    docs = {s: json.loads(t) for s, t in gen_docs.asyncapi_documents().items()}
    channels = {s: " ".join(c["address"] for c in d["channels"].values()) for s, d in docs.items()}
    assert "identity.keys.v1" in channels["identity"]
    assert "identity.keys.v1" in channels["auth"]
    assert "alerts.v1" in channels["pagerduty-ingest"]
    assert "alerts.v1" in channels["incidents"]
    assert all(d["asyncapi"].startswith("3.") for d in docs.values())
