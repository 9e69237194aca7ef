"""An off-the-shelf API gateway in front of a Fireline service: Debian's Apache httpd with
mod_auth_openidc as an OAuth 2.0 resource server (``AuthType oauth20``).

The module only fetches a JWKS over https, so :class:`JwksTlsFront` serves auth's live JWKS over
TLS with a certificate from a CA made for the test (:func:`make_certificates`), forwarding every
fetch, so a rotation in auth shows through it. :class:`ApacheGateway` writes a self-contained
``httpd.conf`` (no ``/etc/apache2``, no ``apache2ctl``), runs ``apache2 -DFOREGROUND`` on loopback
and stops it. What the module does and does not check was established by a prototype; the
points that matter here:

* it checks the signature against the JWKS and refuses an expired token, but checks neither
  ``iss`` nor ``aud`` on its own: the ``Require claim`` lines below do that;
* it accepts RS256 and ES256, and refuses every EdDSA/Ed25519 token (cjose cannot import them);
* it knows nothing of revocation: the service behind it must still check.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fireline_devtools.net import free_port

APACHE = Path("/usr/sbin/apache2")
MODULES_DIR = Path("/usr/lib/apache2/modules")
# The minimum that works; mod_unixd, mod_log_config and mod_so are built into Debian's binary,
# and mod_ssl is not needed (the module fetches the JWKS with libcurl).
MODULES = (
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),  # "Require valid-user"
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("auth_openidc_module", "mod_auth_openidc.so"),
)
PACKAGES = "apache2 libapache2-mod-auth-openidc"


def missing_apache() -> str | None:
    """Why the gateway cannot run here, or None when Apache and the module are installed."""
    missing = [str(p) for p in (APACHE, *(MODULES_DIR / f for _, f in MODULES)) if not p.exists()]
    if missing:
        return f"Debian's {PACKAGES} are not installed (missing {', '.join(missing)})"
    return None


def apt_installable() -> bool:
    """Whether ``apt-get install`` could provide the gateway on this machine (Debian, as root)."""
    return shutil.which("apt-get") is not None and os.geteuid() == 0


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> Certificates:
    """A throwaway CA and a server certificate for 127.0.0.1 it signed, as PEM files."""
    now = dt.datetime.now(dt.UTC)
    valid = (now - dt.timedelta(minutes=5), now + dt.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fireline test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    # Apache's children run as www-data when it starts as root and read the CA per fetch.
    paths.ca.chmod(0o644)
    return paths


class JwksTlsFront:
    """``https://127.0.0.1:<port>/jwks.json``: auth's JWKS, fetched from auth on every request."""

    def __init__(self, upstream: str, certificates: Certificates) -> None:
        self.upstream = upstream
        self.fetches = 0
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                front.fetches += 1
                answer = httpx.get(front.upstream, timeout=5)
                body = answer.content
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates.cert, certificates.key)
        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


_CONF = """\
ServerRoot "{root}"
ServerName 127.0.0.1
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}/run"
ErrorLog "{root}/error.log"
LogLevel warn
LogFormat "%h %u \\"%r\\" %>s %b" gateway
CustomLog "{root}/access.log" gateway
# Only used when started as root: the children must not keep root.
User www-data
Group www-data
{modules}
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MinSpareThreads 1
MaxSpareThreads 16
MaxRequestWorkers 16

OIDCCryptoPassphrase "{passphrase}"
OIDCCacheType shm
OIDCCABundlePath "{ca}"
OIDCOAuthVerifyJwksUri "{jwks_uri}"
OIDCJWKSRefreshInterval {jwks_refresh_s}
OIDCOAuthRemoteUserClaim sub
OIDCOAuthAcceptTokenAs header

Listen 127.0.0.1:{port}
ProxyPreserveHost On
ProxyPass        "/" "{backend}/"
ProxyPassReverse "/" "{backend}/"

<Location "/">
    AuthType oauth20
    # oauth20 mode checks the signature and exp, not who issued the token or for whom.
    <RequireAll>
        Require valid-user
        Require claim iss:{issuer}
        Require claim aud:{audience}
    </RequireAll>
</Location>
"""


class ApacheGateway:
    """Apache + mod_auth_openidc on a free loopback port, proxying to ``backend``."""

    def __init__(
        self,
        *,
        backend: str,
        jwks_uri: str,
        ca: Path,
        issuer: str,
        audience: str,
        root: Path,
        jwks_refresh_s: int = 3600,
    ) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (root / "run").mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        modules = "\n".join(f'LoadModule {name} "{MODULES_DIR / f}"' for name, f in MODULES)
        self.conf = root / "httpd.conf"
        self.conf.write_text(
            _CONF.format(
                root=root,
                modules=modules,
                passphrase=secrets.token_urlsafe(24),
                ca=ca,
                jwks_uri=jwks_uri,
                jwks_refresh_s=jwks_refresh_s,
                port=self.port,
                backend=backend.rstrip("/"),
                issuer=issuer,
                audience=audience,
            )
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> Self:
        with (self.root / "stdout.log").open("wb") as out:
            self._proc = subprocess.Popen(
                [str(APACHE), "-d", str(self.root), "-f", str(self.conf), "-DFOREGROUND"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 15.0) -> None:
        """Ready once it answers at all (a 401 without a token); it fetches the JWKS lazily."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                output = (self.root / "stdout.log").read_text(errors="replace")
                raise RuntimeError(f"apache2 exited with {self._proc.returncode}: {output}")
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.02)
        raise TimeoutError(f"apache2 did not answer within {timeout} s:\n{self.error_log()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what it started
            proc.wait(5)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def temporary_root() -> Path:
    """A fresh directory for one gateway's configuration, certificates and logs."""
    return Path(tempfile.mkdtemp(prefix="fireline-gateway-"))
