"""A private, throwaway PostgreSQL cluster from Debian's server binaries, for one bench run.

The embedded PostgreSQL (the ``pgserver`` wheel) has no ``pg_stat_statements``; Debian's
``postgresql`` package has it. The bench initialises a cluster in a temporary folder, starts it on
a free loopback port with ``pg_stat_statements`` preloaded (``track = all``, so statements run
inside functions count too), and stops and deletes it when the run ends. It never starts, stops
or connects to the machine's own cluster: other runs on the machine may be using it.

PostgreSQL refuses to run as root, so when the bench is root the server runs as the ``postgres``
user (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fireline_devtools.net import free_port

DEBIAN_ROOT = Path("/usr/lib/postgresql")
STATEMENTS_EXTENSION = "pg_stat_statements"


def debian_bin() -> Path | None:
    """The newest Debian server's ``bin`` folder that also ships pg_stat_statements, if any."""
    if not DEBIAN_ROOT.is_dir():
        return None
    versions = sorted(
        (p for p in DEBIAN_ROOT.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    )
    for version in reversed(versions):
        library = version / "lib" / f"{STATEMENTS_EXTENSION}.so"
        if (version / "bin" / "postgres").exists() and library.exists():
            return version / "bin"
    return None


@dataclass(frozen=True)
class Cluster:
    admin_url: str
    data_dir: Path

    @property
    def postmaster_pid(self) -> int:
        return postmaster_pid(self.data_dir)


def postmaster_pid(data_dir: Path) -> int:
    """The first line of ``postmaster.pid``: written by the server while it runs."""
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


@contextlib.contextmanager
def private_cluster(bin_dir: Path) -> Iterator[Cluster]:
    base = Path(tempfile.mkdtemp(prefix="fireline-bench-pg-"))
    data, port = base / "data", free_port()
    as_user = _server_user()
    if as_user is not None:
        os.chown(base, as_user.pw_uid, as_user.pw_gid)
    run = _runner(as_user)
    started = False
    try:
        run(
            str(bin_dir / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            "postgres",
            "--auth",
            "trust",  # loopback only, for a cluster that lives as long as one run
            "--encoding",
            "UTF8",
            "--no-sync",  # a throwaway cluster: nothing to keep across a crash of the machine
        )
        settings = {
            "port": str(port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{base}'",
            "max_connections": "200",
            "shared_preload_libraries": f"'{STATEMENTS_EXTENSION}'",
            "pg_stat_statements.track": "all",
            "pg_stat_statements.max": "10000",
        }
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        run(
            str(bin_dir / "pg_ctl"),
            "--pgdata",
            str(data),
            "--log",
            str(base / "server.log"),
            "--wait",
            "--timeout",
            "120",
            "start",
        )
        started = True
        yield Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", data)
    finally:
        if started:
            with contextlib.suppress(subprocess.CalledProcessError):
                run(str(bin_dir / "pg_ctl"), "--pgdata", str(data), "-m", "fast", "--wait", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _server_user() -> pwd.struct_passwd | None:
    """``postgres`` when this process is root (the server refuses root), else None: run as is."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam("postgres")


def _runner(as_user: pwd.struct_passwd | None) -> Callable[..., None]:
    prefix = ["runuser", "-u", as_user.pw_name, "--"] if as_user is not None else []

    def run(*argv: str) -> None:
        subprocess.run(  # noqa: S603 - Debian's own PostgreSQL programs
            [*prefix, *argv], check=True, capture_output=True, timeout=180
        )

    return run
