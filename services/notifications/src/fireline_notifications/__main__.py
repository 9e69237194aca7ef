"""`python -m fireline_notifications`: run the notifications service."""

from __future__ import annotations

from fireline_notifications.bootstrap import create_app
from fireline_notifications.config import Settings
from fireline_runtime.server import serve


def main() -> None:
    settings = Settings()  # database_url and the encryption key come from the environment
    serve(create_app(settings), settings, "notifications")


if __name__ == "__main__":
    main()
