"""`python -m fireline_identity`: run the identity service."""

from __future__ import annotations

from fireline_identity.bootstrap import create_app
from fireline_identity.config import Settings
from fireline_runtime.server import serve


def main() -> None:
    settings = Settings()  # database_url comes from the environment
    serve(create_app(settings), settings, "identity")


if __name__ == "__main__":
    main()
