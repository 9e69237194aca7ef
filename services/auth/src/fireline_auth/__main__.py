"""`python -m fireline_auth`: run the auth service."""

from __future__ import annotations

from fireline_auth.bootstrap import create_app
from fireline_auth.config import Settings
from fireline_runtime.server import serve


def main() -> None:
    settings = Settings()  # database_url comes from the environment
    serve(create_app(settings), settings, "auth")


if __name__ == "__main__":
    main()
