"""`python -m fireline_auth`: run the auth service."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from fireline_auth.bootstrap import create_app
from fireline_auth.config import Settings, settings_errors
from fireline_runtime.server import serve


def main() -> None:
    try:
        settings = Settings()  # database_url and the encryption key come from the environment
    except ValidationError as exc:
        sys.exit(f"fireline auth: invalid settings:\n{settings_errors(exc)}")
    serve(create_app(settings), settings, "auth")


if __name__ == "__main__":
    main()
