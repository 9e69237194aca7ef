"""The Key Management web UI, served under /ui/ (filled in by the UI work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
