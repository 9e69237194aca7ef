"""The ``fireline`` console script: ``fireline org create --name N --admin-email E ...``.

Reads ``DATABASE_URL`` (and ``FIRELINE_TOPIC_PREFIX``, so its events land on the topics the
running service relays to), applies identity's migrations if needed, and prints JSON with the ids.
The admin password can come from ``--admin-password``, or, to keep it out of the process list and
shell history, from standard input (prompted for on a terminal).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Sequence

from fireline_identity.adapters.passwords import Argon2Hasher
from fireline_identity.adapters.postgres import PgUnitOfWork
from fireline_identity.config import Settings
from fireline_identity.domain.errors import IdentityError, InvalidInput
from fireline_identity.migrations import migrations
from fireline_identity.service_layer import orgs
from fireline_runtime.db import create_pool
from fireline_runtime.migrations import apply, runtime_migrations
from fireline_runtime.outbox import OutboxWriter


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fireline", description="Fireline administration.")
    commands = parser.add_subparsers(dest="noun", required=True)
    org = commands.add_parser("org", help="Manage orgs.")
    org_commands = org.add_subparsers(dest="verb", required=True)
    create = org_commands.add_parser("create", help="Create an org and its first admin.")
    create.add_argument("--name", required=True, help="Name of the org (unique).")
    create.add_argument("--admin-email", required=True, help="Email of the org's first admin.")
    create.add_argument(
        "--admin-password",
        help="Password of that admin (12+ characters). Omit to read it from standard input.",
    )
    create.add_argument("--admin-name", default=orgs.DEFAULT_ADMIN_NAME, help="Display name.")
    return parser


async def create_org(args: argparse.Namespace, password: str) -> dict[str, str]:
    settings = Settings()
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await apply(conn, [*runtime_migrations(), *migrations()])
        created = await orgs.create_org(
            uow=PgUnitOfWork(OutboxWriter(settings.topic_prefix), pool=pool),
            hasher=Argon2Hasher(),
            name=args.name,
            admin_email=args.admin_email,
            admin_password=password,
            admin_name=args.admin_name,
        )
    finally:
        await pool.close()
    return {
        "org_id": str(created.org_id),
        "org_name": created.org_name,
        "admin_user_id": str(created.admin.id),
        "admin_email": created.admin.email,
    }


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Admin password: ")
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    password = args.admin_password if args.admin_password is not None else _read_password()
    try:
        result = asyncio.run(create_org(args, password))
    except InvalidInput as exc:
        print(f"fireline: invalid {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    except IdentityError as exc:
        print(f"fireline: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
