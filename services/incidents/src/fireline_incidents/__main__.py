"""`python -m fireline_incidents`: run the incidents service."""

from __future__ import annotations

from fireline_incidents.bootstrap import create_app
from fireline_incidents.config import Settings
from fireline_runtime.server import serve


def main() -> None:
    settings = Settings()  # database_url comes from the environment
    serve(create_app(settings), settings, "incidents")


if __name__ == "__main__":
    main()
