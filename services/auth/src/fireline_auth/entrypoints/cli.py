"""`fireline-auth`: operator commands of the auth service.

    fireline-auth rotate-keys [--immediate]

Reads the same environment as the service (DATABASE_URL, FIRELINE_SIGNING_KEY_ENCRYPTION_KEY, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import ValidationError

from fireline_auth.adapters.postgres import PgUnitOfWork
from fireline_auth.config import Settings, settings_errors
from fireline_auth.migrations import migrations
from fireline_auth.service_layer.signing_keys import RotationResult, rotate_signing_keys
from fireline_runtime.migrations import apply, runtime_migrations
from fireline_runtime.outbox import OutboxWriter
from fireline_runtime.secret_box import SecretBox


async def rotate_keys(
    settings: Settings, *, immediate: bool = False, now: datetime | None = None
) -> RotationResult:
    """Create the next signing key (or return the one already waiting)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await apply(conn, [*runtime_migrations(), *migrations()])
        # The CLI's own connection, not a pool; rotating writes no event, so the outbox idles.
        uow = PgUnitOfWork(OutboxWriter(settings.topic_prefix), conn=conn)
        result = await rotate_signing_keys(
            uow,
            box=SecretBox(settings.encryption_key, accept_unversioned=True),
            algorithm=settings.token_signing_alg,
            now=now or datetime.now(UTC),
            publish_ahead=timedelta(seconds=settings.signing_key_publish_ahead_s),
            retention=settings.signing_key_retention,
            immediate=immediate,
        )
    finally:
        await conn.close()
    assert result is not None  # only the schedule's conditional rotation returns None
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fireline-auth", description="Fireline auth.")
    commands = parser.add_subparsers(dest="command", required=True)
    rotate = commands.add_parser(
        "rotate-keys",
        help="Publish a new signing key (of FIRELINE_TOKEN_SIGNING_ALG) now; it signs after "
        "FIRELINE_SIGNING_KEY_PUBLISH_AHEAD_S.",
    )
    rotate.add_argument(
        "--immediate",
        action="store_true",
        help="Suspected compromise: sign with the new key at once and withdraw every old key "
        "from the JWKS now. Tokens signed by old keys stop verifying as verifiers refetch the "
        "JWKS (clients exchange their API key again); new tokens may be refused for up to 30 s "
        "until verifiers fetch the new key.",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()  # database_url and the encryption key come from the environment
    except ValidationError as exc:
        print(f"fireline-auth: invalid settings:\n{settings_errors(exc)}", file=sys.stderr)
        return 2
    result = asyncio.run(rotate_keys(settings, immediate=args.immediate))
    print(
        json.dumps(
            {
                "kid": result.key.kid,
                "created": result.created,
                "activates_at": result.key.activates_at.isoformat(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
