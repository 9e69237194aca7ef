"""`python -m fireline_pagerduty_ingest`: run the pagerduty-ingest service."""

from __future__ import annotations

from fireline_pagerduty_ingest.bootstrap import create_app
from fireline_pagerduty_ingest.config import Settings
from fireline_runtime.server import serve


def main() -> None:
    settings = Settings()  # database_url comes from the environment
    serve(create_app(settings), settings, "pagerduty-ingest")


if __name__ == "__main__":
    main()
